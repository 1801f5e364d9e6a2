/*
 * libFuzzer target for URI normalisation (pt_http_normalize_uri) and Host
 * validation (pt_http_validate_host). The input is a request target's path
 * and query; the result, with merge_slashes off and on, is compared with a
 * plain reference: percent-decoding, then RFC 3986 dot-segment removal over
 * a stack of segments. When the input is a valid origin-form target, the
 * request line's fast path (pt_http_parse_uri) must agree with it too.
 *
 * The same bytes are also checked as a Host value.
 */
#include "pt_http.h"


#define FUZZ_URI_MAX_SIZE  8192


static int
fuzz_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/*
 * The reference: returns PT_OK with the normalised path in out (*out_len),
 * PT_DECLINED, or PT_ERROR when the path does not start with "/".
 */
static pt_int_t
fuzz_reference(const u_char *p, size_t len, pt_uint_t merge_slashes,
    u_char *out, size_t *out_len)
{
    int        hi, lo;
    size_t     i, n, nseg, seg_start, *segs, *seg_len;
    u_char    *dec;
    pt_int_t   rc;
    pt_uint_t  s, last;

    if (len == 0 || p[0] != '/') {
        if (len == 1 && p[0] == '*') {
            out[0] = '*';
            *out_len = 1;
            return PT_OK;
        }

        return PT_ERROR;
    }

    dec = malloc(len);
    segs = malloc((len + 1) * sizeof(size_t));
    seg_len = malloc((len + 1) * sizeof(size_t));

    if (dec == NULL || segs == NULL || seg_len == NULL) {
        abort();
    }

    rc = PT_DECLINED;

    for (i = 0, n = 0; i < len; i++) {
        if (p[i] != '%') {
            dec[n++] = p[i];
            continue;
        }

        if (len - i < 3) {
            goto done;
        }

        hi = fuzz_hex(p[i + 1]);
        lo = fuzz_hex(p[i + 2]);

        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            goto done;
        }

        dec[n++] = (u_char) (hi * 16 + lo);
        i += 2;
    }

    /* dec[0] is "/": the segments follow each "/" */
    nseg = 0;
    seg_start = 1;

    for (i = 1; i <= n; i++) {
        if (i < n && dec[i] != '/') {
            continue;
        }

        /* the segment [seg_start, i) */
        last = (i == n);

        if (i == seg_start && merge_slashes && !last) {
            /* an empty segment of "//" */

        } else if (i - seg_start == 1 && dec[seg_start] == '.') {
            if (last) {
                segs[nseg] = i;
                seg_len[nseg++] = 0;
            }

        } else if (i - seg_start == 2 && dec[seg_start] == '.'
                   && dec[seg_start + 1] == '.')
        {
            if (nseg == 0) {
                goto done;
            }

            nseg--;

            if (last) {
                segs[nseg] = i;
                seg_len[nseg++] = 0;
            }

        } else {
            segs[nseg] = seg_start;
            seg_len[nseg++] = i - seg_start;
        }

        seg_start = i + 1;
    }

    *out_len = 0;

    for (s = 0; s < nseg; s++) {
        out[(*out_len)++] = '/';
        memcpy(out + *out_len, dec + segs[s], seg_len[s]);
        *out_len += seg_len[s];
    }

    if (*out_len == 0) {
        out[(*out_len)++] = '/';
    }

    rc = PT_OK;

done:

    free(dec);
    free(segs);
    free(seg_len);

    return rc;
}


static void
fuzz_check_exten(pt_str_t *uri, pt_str_t *exten)
{
    u_char  *p, *dot;

    dot = NULL;

    for (p = uri->data + uri->len - 1; p > uri->data; p--) {
        if (*p == '.') {
            dot = p;
            break;
        }

        if (*p == '/') {
            break;
        }
    }

    if (dot == NULL) {
        if (exten->len != 0) {
            abort();
        }

        return;
    }

    if (exten->data != dot + 1
        || exten->len != (size_t) (uri->data + uri->len - dot - 1))
    {
        abort();
    }
}


static void
fuzz_normalize(u_char *copy, size_t size, u_char *out)
{
    u_char              *q;
    size_t               path_len, out_len;
    pt_int_t             rc, want;
    pt_pool_t           *pool;
    pt_uint_t            merge;
    pt_http_request_t   *r;

    q = pt_strlchr(copy, copy + size, '?');
    path_len = q ? (size_t) (q - copy) : size;

    for (merge = 0; merge <= 1; merge++) {
        pool = pt_create_pool(1024, NULL);
        if (pool == NULL) {
            abort();
        }

        r = pt_pcalloc(pool, sizeof(pt_http_request_t));
        if (r == NULL) {
            abort();
        }

        r->pool = pool;
        r->uri_start = copy;
        r->uri_end = copy + size;
        r->args_start = q ? q + 1 : NULL;
        r->complex_uri = 1;

        rc = pt_http_normalize_uri(r, merge);
        want = fuzz_reference(copy, path_len, merge, out, &out_len);

        if (rc != want) {
            abort();
        }

        if (rc == PT_OK) {
            if (r->uri.len != out_len
                || memcmp(r->uri.data, out, out_len) != 0)
            {
                abort();
            }

            if (r->uri.len > path_len) {
                abort();
            }

            fuzz_check_exten(&r->uri, &r->exten);
        }

        pt_destroy_pool(pool);
    }
}


/* The same path through the request line, when it can be one. */
static void
fuzz_request_line(const uint8_t *data, size_t size, u_char *out)
{
    size_t               i, len, path_len, out_len;
    u_char              *line;
    pt_buf_t             b;
    pt_int_t             rc, want;
    pt_pool_t           *pool;
    pt_uint_t            merge;
    pt_http_request_t   *r;

    if (size == 0 || data[0] != '/') {
        return;
    }

    for (i = 0; i < size; i++) {
        if (data[i] <= 0x20 || data[i] == 0x7f || data[i] == '#') {
            return;
        }
    }

    len = sizeof("GET ") - 1 + size + sizeof(" HTTP/1.1\r\n") - 1;
    line = malloc(len);
    if (line == NULL) {
        abort();
    }

    memcpy(line, "GET ", 4);
    memcpy(line + 4, data, size);
    memcpy(line + 4 + size, " HTTP/1.1\r\n", 11);

    for (merge = 0; merge <= 1; merge++) {
        pool = pt_create_pool(1024, NULL);
        if (pool == NULL) {
            abort();
        }

        r = pt_pcalloc(pool, sizeof(pt_http_request_t));
        if (r == NULL) {
            abort();
        }

        r->pool = pool;

        pt_memzero(&b, sizeof(pt_buf_t));
        b.start = line;
        b.pos = line;
        b.last = line + len;
        b.end = line + len;

        if (pt_http_parse_request_line(r, &b) != PT_OK || b.pos != b.last) {
            abort();
        }

        rc = pt_http_parse_uri(r);

        if (rc == PT_OK && r->complex_uri) {
            rc = pt_http_normalize_uri(r, merge);
        }

        path_len = r->args_start ? (size_t) (r->args_start - 1 - r->uri_start)
                                 : size;
        want = fuzz_reference(r->uri_start, path_len, merge, out, &out_len);

        if (rc != want) {
            abort();
        }

        if (rc == PT_OK) {
            if (r->uri.len != out_len
                || memcmp(r->uri.data, out, out_len) != 0)
            {
                abort();
            }

            fuzz_check_exten(&r->uri, &r->exten);

            if (r->unparsed_uri.len != size
                || memcmp(r->unparsed_uri.data, data, size) != 0)
            {
                abort();
            }
        }

        pt_destroy_pool(pool);
    }

    free(line);
}


static void
fuzz_host(u_char *copy, size_t size)
{
    size_t      i;
    pt_str_t    host;
    pt_int_t    rc;
    pt_pool_t  *pool;
    pt_uint_t   alloc;

    for (alloc = 0; alloc <= 1; alloc++) {
        pool = pt_create_pool(1024, NULL);
        if (pool == NULL) {
            abort();
        }

        host.data = copy;
        host.len = size;

        rc = pt_http_validate_host(&host, pool, alloc);

        if (rc == PT_OK) {
            if (host.len == 0 || host.len > size
                || host.data[host.len - 1] == '.')
            {
                abort();
            }

            for (i = 0; i < host.len; i++) {
                if ((host.data[i] >= 'A' && host.data[i] <= 'Z')
                    || host.data[i] <= 0x20 || host.data[i] == 0x7f
                    || host.data[i] == '/' || host.data[i] == '\\'
                    || host.data[i] == '@' || host.data[i] == '%'
                    || (i && host.data[i] == '.' && host.data[i - 1] == '.')
                    || pt_tolower(copy[i]) != host.data[i])
                {
                    abort();
                }
            }

            if (host.data[0] == '[') {
                if (host.data[host.len - 1] != ']') {
                    abort();
                }

            } else if (pt_strlchr(host.data, host.data + host.len, ':')) {
                abort();
            }

            /* what follows the host: nothing, ".", or ":" and digits */
            i = host.len;

            if (i < size && copy[i] == '.' && host.data[0] != '[') {
                i++;
            }

            if (i < size) {
                if (copy[i] != ':') {
                    abort();
                }

                for (i++; i < size; i++) {
                    if (copy[i] < '0' || copy[i] > '9') {
                        abort();
                    }
                }
            }

        } else if (rc != PT_DECLINED) {
            abort();
        }

        pt_destroy_pool(pool);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *copy, *out;

    if (size > FUZZ_URI_MAX_SIZE) {
        return -1;
    }

    copy = malloc(size ? size : 1);
    out = malloc(size + 2);

    if (copy == NULL || out == NULL) {
        abort();
    }

    if (size) {
        memcpy(copy, data, size);
    }

    fuzz_normalize(copy, size, out);
    fuzz_request_line(data, size, out);
    fuzz_host(copy, size);

    free(copy);
    free(out);

    return 0;
}
