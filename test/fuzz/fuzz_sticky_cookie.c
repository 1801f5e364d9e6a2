/*
 * libFuzzer target for the sticky module's reading of the client's Cookie
 * fields (pt_http_upstream_sticky_read_cookies, reached by including the
 * module's source). The input is the values of one or more Cookie fields,
 * one per line.
 *
 * For a few cookie names, the digests it takes must be those of a plain
 * reference reading: the same-named cookies' values in order (blanks
 * around them and one pair of quotes dropped), the first four that are
 * 32 hex digits, each a slice of the input. The result must be the same
 * with the fields joined into one by ";", and with the case of the other
 * cookies' names changed. Each field is an exact-size copy, so that a read
 * past its end is caught.
 */
#include "../../modules/pt_http_upstream_sticky_module.c"

#include <ctype.h>


#define FUZZ_STICKY_MAX_SIZE    8192
#define FUZZ_STICKY_MAX_FIELDS  32


typedef struct {
    u_char     digests[PT_HTTP_STICKY_COOKIES][PT_HTTP_STICKY_DIGEST_LEN];
    pt_uint_t  n;
} fuzz_result_t;


static const char  *fuzz_names[] = {
    "route", "SRV", "s", "sticky-id"
};


static int
fuzz_is_blank(u_char c)
{
    return c == ' ' || c == '\t';
}


/* the name of the cookie of a ";"-separated piece; 0 if it has no "=" */
static int
fuzz_piece_name(const u_char *p, size_t len, size_t *start, size_t *end,
    size_t *eq)
{
    size_t  i, s, e;

    for (s = 0; s < len && fuzz_is_blank(p[s]); s++) { /* void */ }

    for (i = s; i < len && p[i] != '='; i++) { /* void */ }

    if (i == len) {
        return 0;
    }

    for (e = i; e > s && fuzz_is_blank(p[e - 1]); e--) { /* void */ }

    *start = s;
    *end = e;
    *eq = i;

    return 1;
}


/* The reference: the same-named cookies of one field, appended to res. */
static void
fuzz_reference_field(const u_char *v, size_t len, const u_char *base,
    size_t base_len, const char *name, fuzz_result_t *res)
{
    size_t        i, k, piece, plen, ns, ne, eq, vs, ve;
    const u_char  *p;

    for (piece = 0; piece <= len && res->n < PT_HTTP_STICKY_COOKIES;
         piece = i + 1)
    {
        for (i = piece; i < len && v[i] != ';'; i++) { /* void */ }

        p = v + piece;
        plen = i - piece;

        if (!fuzz_piece_name(p, plen, &ns, &ne, &eq)) {
            continue;
        }

        if (ne - ns != strlen(name) || memcmp(p + ns, name, ne - ns) != 0) {
            continue;
        }

        for (vs = eq + 1; vs < plen && fuzz_is_blank(p[vs]); vs++) {
            /* void */
        }

        for (ve = plen; ve > vs && fuzz_is_blank(p[ve - 1]); ve--) {
            /* void */
        }

        if (ve - vs >= 2 && p[vs] == '"' && p[ve - 1] == '"') {
            vs++;
            ve--;
        }

        if (ve - vs != PT_HTTP_STICKY_VALUE_LEN) {
            continue;
        }

        for (k = vs; k < ve && isxdigit(p[k]); k++) { /* void */ }

        if (k != ve) {
            continue;
        }

        /* a slice of the fuzzer's own input */
        if (base && (p + vs < base || p + ve > base + base_len)) {
            abort();
        }

        for (k = 0; k < PT_HTTP_STICKY_DIGEST_LEN; k++) {
            res->digests[res->n][k] = (u_char)
                (pt_hextoi(p + vs + 2 * k, 2) & 0xff);
        }

        res->n++;
    }
}


/*
 * The module's reading of the fields of data (split at "\n"), each an
 * exact-size copy of its own.
 */
static void
fuzz_module(const u_char *data, size_t size, const char *name,
    fuzz_result_t *res)
{
    size_t                           i, start, n;
    u_char                          *copies[FUZZ_STICKY_MAX_FIELDS];
    pt_table_elt_t                   h[FUZZ_STICKY_MAX_FIELDS];
    pt_http_request_t                r;
    pt_http_upstream_sticky_ctx_t    ctx;
    pt_http_upstream_sticky_conf_t   scf;

    pt_memzero(&r, sizeof(pt_http_request_t));
    pt_memzero(&ctx, sizeof(pt_http_upstream_sticky_ctx_t));
    pt_memzero(&scf, sizeof(pt_http_upstream_sticky_conf_t));
    pt_memzero(h, sizeof(h));

    scf.name.data = (u_char *) name;
    scf.name.len = strlen(name);
    ctx.conf = &scf;

    n = 0;

    for (start = 0, i = 0; i <= size; i++) {
        if (i < size && data[i] != '\n') {
            continue;
        }

        copies[n] = malloc(i - start ? i - start : 1);
        if (copies[n] == NULL) {
            abort();
        }

        memcpy(copies[n], data + start, i - start);
        h[n].value.data = copies[n];
        h[n].value.len = i - start;
        pt_str_set(&h[n].key, "Cookie");

        if (n > 0) {
            h[n - 1].next = &h[n];
        }

        n++;
        start = i + 1;
    }

    r.headers_in.cookie = &h[0];

    pt_http_upstream_sticky_read_cookies(&r, &ctx);

    for (i = 0; i < n; i++) {
        free(copies[i]);
    }

    if (ctx.ncookies > PT_HTTP_STICKY_COOKIES) {
        abort();
    }

    res->n = ctx.ncookies;
    memcpy(res->digests, ctx.cookies, sizeof(ctx.cookies));
}


static void
fuzz_same(fuzz_result_t *a, fuzz_result_t *b)
{
    if (a->n != b->n
        || memcmp(a->digests, b->digests,
                  a->n * PT_HTTP_STICKY_DIGEST_LEN) != 0)
    {
        abort();
    }
}


/*
 * buf: data with the case of the names of the cookies that are not ours
 * (without regard to case) swapped.
 */
static void
fuzz_swap_other_names(const u_char *data, size_t size, u_char *buf,
    const char *name)
{
    size_t  i, k, piece, ns, ne, eq;

    memcpy(buf, data, size);

    for (piece = 0; piece <= size; piece = i + 1) {
        for (i = piece; i < size && data[i] != ';' && data[i] != '\n'; i++) {
            /* void */
        }

        if (!fuzz_piece_name(data + piece, i - piece, &ns, &ne, &eq)) {
            continue;
        }

        if (ne - ns == strlen(name)
            && pt_strncasecmp((u_char *) data + piece + ns, (u_char *) name,
                              ne - ns) == 0)
        {
            continue;
        }

        for (k = piece + ns; k < piece + ne; k++) {
            if (isupper(buf[k])) {
                buf[k] = pt_tolower(buf[k]);

            } else if (islower(buf[k])) {
                buf[k] = pt_toupper(buf[k]);
            }
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          i, fields, start;
    u_char         *buf;
    pt_uint_t       k;
    fuzz_result_t   mod, ref, other;

    if (size > FUZZ_STICKY_MAX_SIZE) {
        return -1;
    }

    for (fields = 1, i = 0; i < size; i++) {
        if (data[i] == '\n') {
            fields++;
        }
    }

    if (fields > FUZZ_STICKY_MAX_FIELDS) {
        return -1;
    }

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        abort();
    }

    for (k = 0; k < pt_nelems(fuzz_names); k++) {
        fuzz_module(data, size, fuzz_names[k], &mod);

        /* the reference, field by field, on the input itself */
        pt_memzero(&ref, sizeof(fuzz_result_t));

        for (start = 0, i = 0; i <= size; i++) {
            if (i == size || data[i] == '\n') {
                fuzz_reference_field(data + start, i - start, data, size,
                                     fuzz_names[k], &ref);
                start = i + 1;
            }
        }

        fuzz_same(&mod, &ref);

        /* the fields joined into one */
        for (i = 0; i < size; i++) {
            buf[i] = (data[i] == '\n') ? ';' : data[i];
        }

        fuzz_module(buf, size, fuzz_names[k], &other);
        fuzz_same(&mod, &other);

        /* other cookies' names in another case */
        fuzz_swap_other_names(data, size, buf, fuzz_names[k]);
        fuzz_module(buf, size, fuzz_names[k], &other);
        fuzz_same(&mod, &other);
    }

    free(buf);

    return 0;
}
