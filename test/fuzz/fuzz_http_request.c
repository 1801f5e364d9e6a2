/*
 * libFuzzer target for a client's request head, parsed the way
 * pt_http_request.c does it: the request line, then the URI (parse and
 * normalise, with merge_slashes on and off) and an absolute-form authority,
 * then header lines up to the empty line, with Host and Content-Length
 * values checked as their handlers check them.
 *
 * Every buffer is an exact-size heap copy, so a read past b->last is caught.
 * The head is parsed twice: at once, and a byte at a time with a fresh copy
 * of the bytes seen so far on each call, as from the slowest client; both
 * must see the same lines with the same results. Each header line is also
 * read by the reference parser, which must agree on everything.
 */
#include "pt_http.h"


#define FUZZ_MAX_EVENTS      (PT_HTTP_MAX_HEADERS + 2)
#define FUZZ_SLOW_MAX_SIZE   2048


/* What one line yielded: offsets are from the start of the input. */
typedef struct {
    pt_int_t   rc;
    size_t     pos;
    size_t     a_start, a_end;      /* request: target; header: name */
    size_t     b_start, b_end;      /* request: host; header: value */
    pt_uint_t  n1, n2;              /* request: method, version; */
                                    /* header: hash, lowcase_index */
} fuzz_event_t;


typedef struct {
    fuzz_event_t  ev[FUZZ_MAX_EVENTS];
    pt_uint_t     n;
    pt_int_t      last;             /* the result that stopped the parse */
} fuzz_log_t;


static pt_http_request_t *
fuzz_request(pt_pool_t *pool)
{
    pt_http_request_t  *r;

    r = pt_pcalloc(pool, sizeof(pt_http_request_t));
    if (r == NULL) {
        abort();
    }

    r->pool = pool;
    r->signature = PT_HTTP_REQUEST_SIGNATURE;
    r->method = PT_HTTP_UNKNOWN;
    r->http_version = PT_HTTP_VERSION_10;
    r->headers_in.content_length_n = -1;

    return r;
}


/* Errors compare by the status the server would answer with. */
static pt_int_t
fuzz_class(pt_int_t rc)
{
    switch (rc) {
    case PT_OK:
    case PT_AGAIN:
    case PT_HTTP_PARSE_HEADER_DONE:
        return rc;
    case PT_HTTP_PARSE_INVALID_VERSION:
        return PT_HTTP_VERSION_NOT_SUPPORTED;
    default:
        return PT_HTTP_BAD_REQUEST;
    }
}


static size_t
fuzz_off(u_char *p, u_char *base)
{
    return p ? (size_t) (p - base) + 1 : 0;
}


static void
fuzz_check_uri(pt_http_request_t *r, pt_uint_t merge_slashes)
{
    u_char  *p, *end;

    if (r->uri.len == 0 || r->uri.data == NULL) {
        abort();
    }

    if (r->uri.data[0] != '/') {
        if (!(r->uri.len == 1 && r->uri.data[0] == '*')) {
            abort();
        }

        return;
    }

    end = r->uri.data + r->uri.len;

    for (p = r->uri.data; p < end; p++) {
        if (*p == '\0') {
            abort();
        }

        if (*p != '/') {
            continue;
        }

        /* no dot segments are left */
        if (end - p >= 2 && p[1] == '.'
            && (end - p == 2 || p[2] == '/'))
        {
            abort();
        }

        if (end - p >= 3 && p[1] == '.' && p[2] == '.'
            && (end - p == 3 || p[3] == '/'))
        {
            abort();
        }

        if (merge_slashes && end - p >= 2 && p[1] == '/') {
            abort();
        }
    }

    if (r->exten.len) {
        if (r->exten.data <= r->uri.data || r->exten.data[-1] != '.'
            || r->exten.data + r->exten.len != end
            || pt_strlchr(r->exten.data, end, '/'))
        {
            abort();
        }
    }
}


/* What pt_http_process_request_uri() does, with both merge_slashes. */
static void
fuzz_uri(pt_http_request_t *r)
{
    pt_int_t   rc;
    pt_uint_t  merge;

    rc = pt_http_parse_uri(r);

    if (rc == PT_ERROR) {
        abort();
    }

    if (rc != PT_OK) {
        return;
    }

    if (!r->complex_uri && !r->empty_path_in_uri) {
        if (r->method != PT_HTTP_CONNECT) {
            fuzz_check_uri(r, 0);
        }

        return;
    }

    for (merge = 0; merge <= 1; merge++) {
        rc = pt_http_normalize_uri(r, merge);

        if (rc == PT_OK) {
            fuzz_check_uri(r, merge);

        } else if (rc != PT_DECLINED) {
            abort();
        }
    }
}


static void
fuzz_host(pt_pool_t *pool, u_char *data, size_t len)
{
    size_t     i;
    u_char    *copy;
    pt_str_t   host;
    pt_int_t   rc;

    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        abort();
    }

    if (len) {
        memcpy(copy, data, len);
    }

    host.data = copy;
    host.len = len;

    rc = pt_http_validate_host(&host, pool, len & 1);

    if (rc == PT_OK) {
        if (host.len == 0 || host.len > len
            || host.data[host.len - 1] == '.')
        {
            abort();
        }

        for (i = 0; i < host.len; i++) {
            if ((host.data[i] >= 'A' && host.data[i] <= 'Z')
                || host.data[i] <= 0x20 || host.data[i] == '/'
                || (i && host.data[i] == '.' && host.data[i - 1] == '.'))
            {
                abort();
            }

            if (pt_tolower(copy[i]) != host.data[i]) {
                abort();
            }
        }

        if (host.data[0] != '[' && pt_strlchr(host.data,
                                              host.data + host.len, ':'))
        {
            abort();
        }

    } else if (rc != PT_DECLINED) {
        abort();
    }

    free(copy);
}


/* pt_http_parse_content_length() against a plain reference. */
static void
fuzz_content_length(u_char *p, size_t len)
{
    off_t     n, ref;
    size_t    i;
    pt_int_t  rc, want;

    want = (len > 0) ? PT_OK : PT_ERROR;
    ref = 0;

    for (i = 0; i < len && want == PT_OK; i++) {
        if (p[i] < '0' || p[i] > '9') {
            want = PT_ERROR;

        } else if (ref > (INT64_MAX - (p[i] - '0')) / 10) {
            want = PT_ERROR;

        } else {
            ref = ref * 10 + (p[i] - '0');
        }
    }

    n = -1;
    rc = pt_http_parse_content_length(p, len, &n);

    if (rc != want || (rc == PT_OK && n != ref)) {
        abort();
    }
}


/* The header handlers' part: Host and Content-Length values. */
static void
fuzz_header(pt_http_request_t *r)
{
    size_t     len;
    pt_uint_t  i;

    len = r->header_name_end - r->header_name_start;

    if (r->header_hash != pt_hash_key_lc(r->header_name_start, len)
        || r->lowcase_index != len)
    {
        abort();
    }

    for (i = 0; i < len && i < PT_HTTP_LC_HEADER_LEN; i++) {
        if (r->lowcase_header[i] != pt_tolower(r->header_name_start[i])) {
            abort();
        }
    }

    if (r->header_end < r->header_start
        || (r->header_end > r->header_start
            && (r->header_start[0] == ' ' || r->header_start[0] == '\t'
                || r->header_end[-1] == ' ' || r->header_end[-1] == '\t')))
    {
        abort();
    }

    if (len == 4 && pt_strncasecmp(r->header_name_start, (u_char *) "host", 4)
                    == 0)
    {
        fuzz_host(r->pool, r->header_start,
                  r->header_end - r->header_start);
    }

    if (len == 14
        && pt_strncasecmp(r->header_name_start, (u_char *) "content-length",
                          14) == 0)
    {
        fuzz_content_length(r->header_start,
                            r->header_end - r->header_start);
    }
}


/*
 * The header line parser's fast path must say exactly what the plain
 * reading of the rules (pt_http_parse_header_line_ref) says of every line:
 * both run on copies of r and b, and every result they leave is compared.
 */
static void
fuzz_compare_header_line(pt_http_request_t *r, pt_buf_t *b,
    pt_uint_t allow_underscores)
{
    size_t             n;
    pt_int_t           rc1, rc2;
    pt_buf_t           b1, b2;
    pt_http_request_t  r1, r2;

    r1 = *r;
    r2 = *r;
    b1 = *b;
    b2 = *b;

    rc1 = pt_http_parse_header_line(&r1, &b1, allow_underscores);
    rc2 = pt_http_parse_header_line_ref(&r2, &b2, allow_underscores);

    if (rc1 != rc2) {
        abort();
    }

    if (rc1 != PT_OK) {
        if (rc1 == PT_HTTP_PARSE_HEADER_DONE && b1.pos != b2.pos) {
            abort();
        }

        return;
    }

    n = pt_min(r1.lowcase_index, PT_HTTP_LC_HEADER_LEN);

    if (b1.pos != b2.pos
        || r1.header_name_start != r2.header_name_start
        || r1.header_name_end != r2.header_name_end
        || r1.header_start != r2.header_start
        || r1.header_end != r2.header_end
        || r1.header_hash != r2.header_hash
        || r1.lowcase_index != r2.lowcase_index
        || r1.invalid_header != r2.invalid_header
        || memcmp(r1.lowcase_header, r2.lowcase_header, n) != 0)
    {
        abort();
    }
}


/*
 * One step of the server's loop on what is in b: parses a line, records it
 * in log, and says whether to go on (1), wait for more (0) or stop (-1).
 */
static int
fuzz_step(pt_http_request_t *r, pt_buf_t *b, u_char *base, fuzz_log_t *log,
    pt_uint_t *in_headers, pt_uint_t allow_underscores)
{
    pt_int_t       rc;
    fuzz_event_t  *ev;

    if (!*in_headers) {
        rc = pt_http_parse_request_line(r, b);

    } else {
        fuzz_compare_header_line(r, b, allow_underscores);
        rc = pt_http_parse_header_line(r, b, allow_underscores);
    }

    if (b->pos < b->start || b->pos > b->last) {
        abort();
    }

    if (rc == PT_AGAIN) {
        log->last = PT_AGAIN;
        return 0;
    }

    ev = &log->ev[log->n++];
    pt_memzero(ev, sizeof(fuzz_event_t));
    ev->rc = fuzz_class(rc);
    log->last = ev->rc;

    if (rc != PT_OK) {
        return -1;
    }

    ev->pos = b->pos - base;

    if (!*in_headers) {
        ev->a_start = fuzz_off(r->uri_start, base);
        ev->a_end = fuzz_off(r->uri_end, base);
        ev->b_start = fuzz_off(r->host_start, base);
        ev->b_end = r->host_start ? fuzz_off(r->host_end, base) : 0;
        ev->n1 = r->method;
        ev->n2 = r->http_version;

        if (r->request_line.len == 0 || r->method_name.len == 0
            || r->uri_end < r->uri_start)
        {
            abort();
        }

        *in_headers = 1;
        return 1;
    }

    ev->a_start = fuzz_off(r->header_name_start, base);
    ev->a_end = fuzz_off(r->header_name_end, base);
    ev->b_start = fuzz_off(r->header_start, base);
    ev->b_end = fuzz_off(r->header_end, base);
    ev->n1 = r->header_hash;
    ev->n2 = r->invalid_header;

    return (log->n < FUZZ_MAX_EVENTS) ? 1 : -1;
}


static void
fuzz_at_once(const uint8_t *data, size_t size, fuzz_log_t *log,
    pt_uint_t allow_underscores)
{
    int                 go;
    u_char             *copy;
    pt_buf_t            b;
    pt_uint_t           in_headers;
    pt_pool_t          *pool;
    pt_http_request_t  *r;

    pool = pt_create_pool(4096, NULL);
    if (pool == NULL) {
        abort();
    }

    r = fuzz_request(pool);

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        abort();
    }

    if (size) {
        memcpy(copy, data, size);
    }

    pt_memzero(&b, sizeof(pt_buf_t));
    b.start = copy;
    b.pos = copy;
    b.last = copy + size;
    b.end = copy + size;

    in_headers = 0;

    for ( ;; ) {
        go = fuzz_step(r, &b, copy, log, &in_headers, allow_underscores);

        if (go != 1) {
            break;
        }

        if (log->n == 1) {
            fuzz_uri(r);

            if (r->host_start) {
                fuzz_host(pool, r->host_start, r->host_end - r->host_start);
            }

        } else {
            fuzz_header(r);
        }
    }

    free(copy);
    pt_destroy_pool(pool);
}


static void
fuzz_slowly(const uint8_t *data, size_t size, fuzz_log_t *log,
    pt_uint_t allow_underscores)
{
    int                 go;
    size_t              seen, pos;
    u_char             *copy;
    pt_buf_t            b;
    pt_uint_t           in_headers;
    pt_pool_t          *pool;
    pt_http_request_t  *r;

    pool = pt_create_pool(4096, NULL);
    if (pool == NULL) {
        abort();
    }

    r = fuzz_request(pool);
    in_headers = 0;
    pos = 0;

    for (seen = 1; seen <= size; seen++) {
        /* a new copy each time: a stale pointer is a use after free */
        copy = malloc(seen);
        if (copy == NULL) {
            abort();
        }

        memcpy(copy, data, seen);

        pt_memzero(&b, sizeof(pt_buf_t));
        b.start = copy;
        b.pos = copy + pos;
        b.last = copy + seen;
        b.end = copy + seen;

        do {
            go = fuzz_step(r, &b, copy, log, &in_headers, allow_underscores);
        } while (go == 1);

        pos = b.pos - copy;
        free(copy);

        if (go == -1) {
            break;
        }
    }

    pt_destroy_pool(pool);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_uint_t    i, allow_underscores;
    fuzz_log_t  *once, *slow;

    static fuzz_log_t  logs[2];

    once = &logs[0];
    slow = &logs[1];
    once->n = 0;
    slow->n = 0;
    once->last = PT_AGAIN;
    slow->last = PT_AGAIN;

    allow_underscores = size & 1;

    fuzz_at_once(data, size, once, allow_underscores);

    if (size > FUZZ_SLOW_MAX_SIZE) {
        return 0;
    }

    fuzz_slowly(data, size, slow, allow_underscores);

    if (once->n != slow->n || once->last != slow->last) {
        abort();
    }

    for (i = 0; i < once->n; i++) {
        if (memcmp(&once->ev[i], &slow->ev[i], sizeof(fuzz_event_t)) != 0) {
            abort();
        }
    }

    return 0;
}
