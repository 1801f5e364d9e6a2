/*
 * libFuzzer target for the chunked decoder (pt_http_parse_chunked).
 *
 * The input is: one byte N (its low 3 bits), N bytes that choose the sizes
 * of the pieces the rest arrives in (none: a byte at a time), then the
 * stream: chunked bodies back to back, as on a kept-alive connection.
 *
 * The stream is decoded at once and again in those pieces, each piece in
 * a heap block of exactly its size, taking the data the way a caller does
 * (up to ctx->size at b->pos, then call again). Both decodes must agree
 * with each other and with a plain reference decoder of the same grammar
 * and limits: the same data, the same chunk sizes, the same end of each
 * body and the same offending byte. Invariants checked on every call:
 * b->pos never goes back or past b->last; PT_AGAIN takes everything;
 * PT_OK means a chunk of a sane size whose size line ended just before
 * b->pos; PT_DONE leaves the context ready for the next body right after
 * a CRLF; after PT_ERROR the decoder is not called again.
 */
#include "pt_http.h"


#define FUZZ_MAX_BODIES     8
#define FUZZ_MAX_DIGITS     15
#define FUZZ_MAX_EXTENSION  1024
#define FUZZ_MAX_TRAILERS   8192


typedef struct {
    pt_int_t    rc;             /* PT_DONE, PT_ERROR or PT_AGAIN (EOF) */
    size_t      stop;           /* where the last body or the error ended */
    size_t      ends[FUZZ_MAX_BODIES];  /* the end of each body */
    pt_uint_t   bodies;
    u_char     *data;
    size_t      len;
    uint64_t    chunks;         /* count and a hash of the chunk sizes */
    uint64_t    sizes_hash;
    uint64_t    sizes_sum;
} fuzz_result_t;


static pt_http_request_t  fuzz_request;


static void
fuzz_chunk(fuzz_result_t *res, off_t size)
{
    res->chunks++;
    res->sizes_hash = (res->sizes_hash ^ (uint64_t) size) * 0x100000001b3ULL;
    res->sizes_sum += (uint64_t) size;
}


static int
fuzz_hex(u_char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
        return (ch | 0x20) - 'a' + 10;
    }

    return -1;
}


static int
fuzz_tchar(u_char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')
           || (ch >= 'A' && ch <= 'Z')
           || (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}


static int
fuzz_vchar(u_char ch)
{
    /* field-vchar, obs-text, SP and HTAB */
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}


/*
 * The reference: one body from in[*pos..len), whole, by the grammar of
 * RFC 9112 7.1 with the decoder's limits: a size of at most 15 hex digits
 * after any leading zeros; up to 1024 bytes of white space before ";";
 * up to 1024 bytes of extension after ";" (its CR included; quoted
 * strings and pairs allowed); up to 8192 bytes of trailer lines (each
 * without its LF); CRLF line ends only.
 */
#define need(n)  if (i + (n) > len) { *pos = len; return PT_AGAIN; }
#define fail()   { *pos = i; return PT_ERROR; }

static pt_int_t
fuzz_reference(const u_char *in, size_t len, size_t *pos, fuzz_result_t *res)
{
    int       d, q;
    size_t    i, n, count;
    uint64_t  size;
    pt_uint_t digits;

    i = *pos;

    for ( ;; ) {

        /* the size */
        need(1);

        if (fuzz_hex(in[i]) < 0) {
            fail();
        }

        size = 0;
        digits = 0;

        while (i < len && (d = fuzz_hex(in[i])) >= 0) {
            if (size == 0 && d == 0) {
                i++;
                continue;
            }

            if (size && ++digits >= FUZZ_MAX_DIGITS) {
                fail();
            }

            size = size * 16 + d;
            i++;
        }

        need(1);

        /* white space, only before ";" */
        if (in[i] == ' ' || in[i] == '\t') {
            count = 0;

            while (i < len && (in[i] == ' ' || in[i] == '\t')) {
                if (++count > FUZZ_MAX_EXTENSION) {
                    fail();
                }

                i++;
            }

            need(1);

            if (in[i] != ';') {
                fail();
            }
        }

        /* extensions */
        if (in[i] == ';') {
            i++;
            count = 0;
            q = 0;

            for ( ;; ) {
                need(1);

                if (++count > FUZZ_MAX_EXTENSION) {
                    fail();
                }

                if (q == 0) {
                    if (in[i] == '\r') {
                        break;
                    }

                    if (in[i] == '"') {
                        q = 1;

                    } else if (!fuzz_tchar(in[i]) && in[i] != '='
                               && in[i] != ';' && in[i] != ' '
                               && in[i] != '\t')
                    {
                        fail();
                    }

                } else if (q == 1) {
                    if (in[i] == '"') {
                        q = 0;

                    } else if (in[i] == '\\') {
                        q = 2;

                    } else if (!fuzz_vchar(in[i])) {
                        fail();
                    }

                } else {
                    if (!fuzz_vchar(in[i])) {
                        fail();
                    }

                    q = 1;
                }

                i++;
            }
        }

        if (in[i] != '\r') {
            fail();
        }

        i++;
        need(1);

        if (in[i] != '\n') {
            fail();
        }

        i++;

        if (size == 0) {
            break;
        }

        /* the data and its CRLF */
        fuzz_chunk(res, (off_t) size);

        n = (size_t) pt_min(size, (uint64_t) (len - i));
        memcpy(res->data + res->len, in + i, n);
        res->len += n;
        i += n;

        if (n < size) {
            *pos = len;
            return PT_AGAIN;
        }

        need(1);

        if (in[i] != '\r') {
            fail();
        }

        i++;
        need(1);

        if (in[i] != '\n') {
            fail();
        }

        i++;
    }

    /* trailers */
    count = 0;

    for ( ;; ) {
        need(1);

        if (in[i] == '\r') {
            i++;
            need(1);

            if (in[i] != '\n') {
                fail();
            }

            *pos = i + 1;
            return PT_DONE;
        }

        if (!fuzz_tchar(in[i])) {
            fail();
        }

        /* the name up to and with the colon */
        for ( ;; ) {
            need(1);

            if (++count > FUZZ_MAX_TRAILERS) {
                fail();
            }

            if (in[i] == ':') {
                i++;
                break;
            }

            if (!fuzz_tchar(in[i])) {
                fail();
            }

            i++;
        }

        /* the value up to and with the CR */
        for ( ;; ) {
            need(1);

            if (++count > FUZZ_MAX_TRAILERS) {
                fail();
            }

            if (in[i] == '\r') {
                i++;
                break;
            }

            if (!fuzz_vchar(in[i])) {
                fail();
            }

            i++;
        }

        need(1);

        if (in[i] != '\n') {
            fail();
        }

        i++;
    }
}

#undef need
#undef fail


static void
fuzz_reference_all(const u_char *in, size_t len, fuzz_result_t *res)
{
    size_t    pos;
    pt_int_t  rc;

    pos = 0;

    do {
        rc = fuzz_reference(in, len, &pos, res);

        if (rc == PT_DONE) {
            res->ends[res->bodies++] = pos;
        }

    } while (rc == PT_DONE && pos < len && res->bodies < FUZZ_MAX_BODIES);

    res->rc = rc;
    res->stop = pos;
}


/* The size of piece k: from the split bytes, or 1 when there are none. */
static size_t
fuzz_piece(const uint8_t *splits, size_t nsplits, size_t k)
{
    uint8_t  s;

    if (nsplits == 0) {
        return 1;
    }

    s = splits[k % nsplits];

    if (s < 0xc0) {
        return (s % 64) + 1;
    }

    return (size_t) (s - 0xbf) * 256;
}


/* Decodes in[0..len) in pieces (whole when splits is NULL). */
static void
fuzz_decode(const u_char *in, size_t len, const uint8_t *splits,
    size_t nsplits, fuzz_result_t *res)
{
    off_t               n;
    size_t              seen, pos, k, piece;
    u_char             *copy, *before;
    pt_int_t            rc;
    pt_buf_t            b;
    pt_uint_t           in_chunk;
    pt_http_chunked_t   ctx;

    pt_memzero(&ctx, sizeof(pt_http_chunked_t));

    seen = 0;
    pos = 0;
    in_chunk = 0;
    rc = PT_AGAIN;

    for (k = 0; seen < len; k++) {
        /* the decoder took all it was given before */
        if (pos != seen) {
            abort();
        }

        piece = splits ? fuzz_piece(splits, nsplits, k) : len;
        seen = pt_min(seen + piece, len);

        copy = malloc(seen - pos);
        if (copy == NULL) {
            abort();
        }

        memcpy(copy, in + pos, seen - pos);

        pt_memzero(&b, sizeof(pt_buf_t));
        b.start = copy;
        b.pos = copy;
        b.last = copy + (seen - pos);
        b.end = b.last;

        while (b.pos < b.last) {
            before = b.pos;

            rc = pt_http_parse_chunked(&fuzz_request, &b, &ctx);

            if (b.pos < before || b.pos > b.last) {
                abort();
            }

            if (rc == PT_AGAIN) {
                if (b.pos != b.last) {
                    abort();
                }

                break;
            }

            if (rc == PT_ERROR) {
                break;
            }

            if (rc == PT_DONE) {
                /* right after the CRLF of the empty line */
                if (ctx.state != 0 || ctx.size != 0
                    || pos + (b.pos - copy) < 5
                    || in[pos + (b.pos - copy) - 1] != '\n'
                    || in[pos + (b.pos - copy) - 2] != '\r'
                    || in_chunk)
                {
                    abort();
                }

                res->ends[res->bodies++] = pos + (b.pos - copy);

                if (res->bodies == FUZZ_MAX_BODIES) {
                    break;
                }

                continue;
            }

            if (rc != PT_OK || ctx.size <= 0
                || ctx.size >= ((off_t) 1 << 60))
            {
                abort();
            }

            if (!in_chunk) {
                /* data starts right after its size line */
                if (pos + (b.pos - copy) < 3
                    || in[pos + (b.pos - copy) - 1] != '\n'
                    || in[pos + (b.pos - copy) - 2] != '\r')
                {
                    abort();
                }

                fuzz_chunk(res, ctx.size);
                in_chunk = 1;
            }

            n = pt_min(ctx.size, (off_t) (b.last - b.pos));
            memcpy(res->data + res->len, b.pos, (size_t) n);
            res->len += (size_t) n;
            b.pos += n;
            ctx.size -= n;

            if (ctx.size == 0) {
                in_chunk = 0;
            }
        }

        pos += b.pos - copy;
        free(copy);

        if (rc == PT_ERROR
            || (rc == PT_DONE && res->bodies == FUZZ_MAX_BODIES))
        {
            break;
        }
    }

    if (rc == PT_OK) {
        rc = PT_AGAIN;
    }

    /* input that ended right after a body ends in PT_DONE */
    res->rc = rc;
    res->stop = (rc == PT_DONE || rc == PT_ERROR) ? pos : len;
}


static void
fuzz_compare(fuzz_result_t *a, fuzz_result_t *b)
{
    if (a->rc != b->rc || a->stop != b->stop || a->bodies != b->bodies
        || a->len != b->len || memcmp(a->data, b->data, a->len) != 0
        || a->chunks != b->chunks || a->sizes_hash != b->sizes_hash
        || a->sizes_sum != b->sizes_sum
        || memcmp(a->ends, b->ends, a->bodies * sizeof(size_t)) != 0)
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          nsplits, len;
    const uint8_t  *splits;
    const u_char   *in;
    fuzz_result_t   res[3];
    pt_uint_t       i;

    if (size < 1) {
        return 0;
    }

    nsplits = data[0] & 7;

    if (size < 1 + nsplits) {
        return 0;
    }

    splits = data + 1;
    in = data + 1 + nsplits;
    len = size - 1 - nsplits;

    pt_memzero(res, sizeof(res));

    for (i = 0; i < 3; i++) {
        res[i].data = malloc(len + 1);
        if (res[i].data == NULL) {
            abort();
        }
    }

    fuzz_decode(in, len, NULL, 0, &res[0]);
    fuzz_decode(in, len, splits, nsplits, &res[1]);
    fuzz_reference_all(in, len, &res[2]);

    /* a finished body holds exactly its chunks */
    if (res[0].rc == PT_DONE && res[0].sizes_sum != res[0].len) {
        abort();
    }

    fuzz_compare(&res[0], &res[1]);
    fuzz_compare(&res[0], &res[2]);

    for (i = 0; i < 3; i++) {
        free(res[i].data);
    }

    return 0;
}
