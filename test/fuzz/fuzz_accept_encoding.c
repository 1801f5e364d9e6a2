/*
 * libFuzzer target for Accept-Encoding (pt_http_accept_encoding_weight and
 * pt_http_accept_encoding). The input is a field value. For the codings
 * the server sends and a few others, the weight must be in -1..1000 and
 * must not change when the value is uppercased (names and "q" are
 * case-insensitive), when empty elements and whitespace are put around
 * it, or when it is given as one of several fields of a request.
 */
#include "pt_http.h"


#define FUZZ_AE_MAX_SIZE  4096


static const char  *fuzz_codings[] = {
    "gzip", "br", "identity", "deflate", "*", "x-gzip", "q", ""
};


static pt_int_t
fuzz_weight(const u_char *p, size_t len, const char *coding)
{
    u_char    *copy;
    pt_int_t   w;
    pt_str_t   v;

    /* an exact copy: a read past the end is caught */
    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, p, len);
    v.len = len;
    v.data = copy;

    w = pt_http_accept_encoding_weight(&v, coding);

    free(copy);

    if (w < -1 || w > 1000) {
        abort();
    }

    return w;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t              i, n;
    u_char             *buf;
    pt_int_t            w, w2;
    pt_str_t            v[2];
    pt_table_elt_t      h[2];
    pt_http_request_t   r;

    if (size > FUZZ_AE_MAX_SIZE) {
        return 0;
    }

    buf = malloc(size + 8);
    if (buf == NULL) {
        abort();
    }

    for (i = 0; i < sizeof(fuzz_codings) / sizeof(fuzz_codings[0]); i++) {
        w = fuzz_weight(data, size, fuzz_codings[i]);

        /* uppercased */
        for (n = 0; n < size; n++) {
            buf[n] = pt_toupper(data[n]);
        }

        w2 = fuzz_weight(buf, size, fuzz_codings[i]);

        if (w != w2) {
            abort();
        }

        /* empty elements and whitespace around it */
        buf[0] = ',';
        buf[1] = ' ';
        memcpy(buf + 2, data, size);
        buf[size + 2] = '\t';
        buf[size + 3] = ',';
        buf[size + 4] = ' ';

        w2 = fuzz_weight(buf, size + 5, fuzz_codings[i]);

        if (w != w2) {
            abort();
        }

        /* a field of a request, with an empty one before it */
        pt_memzero(&r, sizeof(pt_http_request_t));
        pt_memzero(h, sizeof(h));

        v[0].len = 0;
        v[0].data = buf;
        v[1].len = size;
        v[1].data = (u_char *) data;
        h[0].value = v[0];
        h[1].value = v[1];
        h[0].next = &h[1];
        r.headers_in.accept_encoding = &h[0];

        if (pt_http_accept_encoding(&r, fuzz_codings[i]) != w) {
            abort();
        }
    }

    free(buf);

    return 0;
}
