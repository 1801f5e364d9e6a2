/*
 * Unit tests for core/http/pt_http_chunked.c: the strict incremental
 * chunked decoder. Valid bodies (sizes in any case, leading zeros,
 * extensions, trailers, data holding CR and LF) decode to the same bytes
 * however the input is split; everything outside RFC 9112's grammar or
 * over the limits (size digits, extension and trailer lengths) is an
 * error at the offending byte.
 *
 * The decoder is driven the way pt_http_request_body.c drives it: on PT_OK
 * the caller takes up to ctx->size bytes at b->pos, moves b->pos, lowers
 * ctx->size and calls again. Every input is copied into heap blocks of
 * exactly the size the decoder may see, so a read past b->last shows up
 * under ASan or valgrind.
 */
#include "pt_http.h"

#include <setjmp.h>
#include <cmocka.h>


#define MAX_CHUNKS  256


typedef struct {
    pt_int_t    rc;             /* PT_DONE, PT_ERROR, or PT_AGAIN at EOF */
    size_t      stop;           /* offset of b->pos when it stopped */
    u_char     *data;           /* the decoded body */
    size_t      len;
    off_t       sizes[MAX_CHUNKS];  /* ctx->size at each chunk's start */
    pt_uint_t   chunks;
} decoded_t;


static pt_http_request_t  test_request;


static void
decoded_free(decoded_t *d)
{
    free(d->data);
    d->data = NULL;
}


/*
 * Decodes in[0..len) made visible step bytes more at a time (0: at once),
 * each time from a fresh heap copy of exactly the visible bytes, or in two
 * parts split at "split" when step is (size_t) -1.
 */
static void
decode_split(const void *in, size_t len, size_t step, size_t split,
    decoded_t *d)
{
    size_t              seen, pos, n;
    u_char             *copy, *before;
    pt_int_t            rc;
    pt_buf_t            b;
    pt_uint_t           in_chunk;
    pt_http_chunked_t   ctx;

    pt_memzero(d, sizeof(decoded_t));
    d->data = malloc(len + 1);
    assert_non_null(d->data);

    pt_memzero(&ctx, sizeof(pt_http_chunked_t));

    pos = 0;
    seen = 0;
    in_chunk = 0;
    rc = PT_AGAIN;

    for ( ;; ) {
        if (step == (size_t) -1) {
            seen = (seen < split) ? split : len;

        } else {
            seen = step ? pt_min(seen + step, len) : len;
        }

        copy = malloc(seen - pos + 1);
        assert_non_null(copy);
        memcpy(copy, (u_char *) in + pos, seen - pos);

        pt_memzero(&b, sizeof(pt_buf_t));
        b.start = copy;
        b.pos = copy;
        b.last = copy + (seen - pos);
        b.end = b.last;

        for ( ;; ) {
            before = b.pos;
            rc = pt_http_parse_chunked(&test_request, &b, &ctx);

            assert_true(b.pos >= before);
            assert_true(b.pos <= b.last);

            if (rc != PT_OK) {
                break;
            }

            /* a chunk's data: only when its size line is complete */
            assert_true(ctx.size > 0);

            if (!in_chunk) {
                assert_true(d->chunks < MAX_CHUNKS);
                d->sizes[d->chunks++] = ctx.size;
                in_chunk = 1;
            }

            n = (size_t) pt_min(ctx.size, (off_t) (b.last - b.pos));
            memcpy(d->data + d->len, b.pos, n);
            d->len += n;
            b.pos += n;
            ctx.size -= n;

            if (ctx.size) {
                assert_true(b.pos == b.last);
                break;      /* the rest of the chunk is to come */
            }

            in_chunk = 0;
        }

        pos += b.pos - copy;
        free(copy);

        if (rc == PT_AGAIN) {
            /* everything visible was taken */
            assert_int_equal(pos, seen);
        }

        if (rc == PT_DONE || rc == PT_ERROR || seen == len) {
            break;
        }
    }

    if (rc == PT_DONE) {
        /* ready for the next body */
        assert_int_equal(ctx.state, 0);
        assert_int_equal(ctx.size, 0);
    }

    d->rc = (rc == PT_OK) ? PT_AGAIN : rc;
    d->stop = pos;
}


static void
decode(const void *in, size_t len, size_t step, decoded_t *d)
{
    decode_split(in, len, step, 0, d);
}


static void
assert_same(decoded_t *a, decoded_t *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->stop, b->stop);
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->data, b->data, a->len);
    assert_int_equal(a->chunks, b->chunks);
    assert_memory_equal(a->sizes, b->sizes, a->chunks * sizeof(off_t));
}


/*
 * Decodes in at once, a byte at a time, in pieces of 2, 3, 5 and 7, and
 * split in two at every offset: all must agree. Returns the at-once result
 * in d.
 */
static void
decode_all_ways(const void *in, size_t len, decoded_t *d)
{
    size_t            i;
    decoded_t         other;
    static size_t     steps[] = { 1, 2, 3, 5, 7, 64 };

    decode(in, len, 0, d);

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        decode(in, len, steps[i], &other);
        assert_same(d, &other);
        decoded_free(&other);
    }

    for (i = 0; i <= len; i++) {
        decode_split(in, len, (size_t) -1, i, &other);
        assert_same(d, &other);
        decoded_free(&other);
    }
}


/* A valid body: it decodes to data, ends exactly at its end. */
static void
check_valid_tail(const char *in, size_t len, const char *data, size_t dlen,
    size_t tail)
{
    decoded_t  d;

    decode_all_ways(in, len, &d);

    assert_int_equal(d.rc, PT_DONE);
    assert_int_equal(d.stop, len - tail);
    assert_int_equal(d.len, dlen);
    assert_memory_equal(d.data, data, dlen);

    decoded_free(&d);
}


#define check_valid(in, data)                                                \
    check_valid_tail(in, sizeof(in) - 1, data, sizeof(data) - 1, 0)


/* An invalid body: PT_ERROR with b->pos at the offending byte. */
static void
check_invalid_len(const char *in, size_t len, size_t at)
{
    decoded_t  d;

    decode_all_ways(in, len, &d);

    assert_int_equal(d.rc, PT_ERROR);
    assert_int_equal(d.stop, at);

    decoded_free(&d);
}


#define check_invalid(in, at)  check_invalid_len(in, sizeof(in) - 1, at)


/* A string built at run time (for the long inputs). */
typedef struct {
    u_char  *p;
    size_t   len;
    size_t   size;
} text_t;


static void
text_add(text_t *t, const void *s, size_t n)
{
    if (t->len + n > t->size) {
        t->size = (t->len + n) * 2 + 64;
        t->p = realloc(t->p, t->size);
        assert_non_null(t->p);
    }

    memcpy(t->p + t->len, s, n);
    t->len += n;
}


static void
text_str(text_t *t, const char *s)
{
    text_add(t, s, strlen(s));
}


static void
text_rep(text_t *t, u_char ch, size_t n)
{
    while (n--) {
        text_add(t, &ch, 1);
    }
}


/* ------------------------------------------------------------------------ */
/* step by step: return codes, ctx->size and b->pos */

static void
test_single_chunk_steps(void **state)
{
    u_char             *in;
    pt_buf_t            b;
    pt_http_chunked_t   ctx;
    static const char   s[] = "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n";

    in = malloc(sizeof(s) - 1);
    assert_non_null(in);
    memcpy(in, s, sizeof(s) - 1);

    pt_memzero(&ctx, sizeof(pt_http_chunked_t));
    pt_memzero(&b, sizeof(pt_buf_t));
    b.start = in;
    b.pos = in;
    b.last = in + sizeof(s) - 1;
    b.end = b.last;

    /* the size line: data starts right after it */
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx), PT_OK);
    assert_ptr_equal(b.pos, in + 3);
    assert_int_equal(ctx.size, 5);

    /* called again before taking anything: the same answer, no move */
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx), PT_OK);
    assert_ptr_equal(b.pos, in + 3);
    assert_int_equal(ctx.size, 5);

    /* two bytes taken: still in the chunk */
    b.pos += 2;
    ctx.size -= 2;
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx), PT_OK);
    assert_ptr_equal(b.pos, in + 5);
    assert_int_equal(ctx.size, 3);

    /* the rest: then the CRLF, the last chunk and the empty trailer */
    b.pos += 3;
    ctx.size = 0;
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx), PT_DONE);

    /* b->pos stops right after the body: the next request is untouched */
    assert_ptr_equal(b.pos, in + 15);
    assert_memory_equal(b.pos, "GET / ", 6);
    assert_int_equal(ctx.size, 0);
    assert_int_equal(ctx.state, 0);

    free(in);
}


static void
test_steps_partial_input(void **state)
{
    u_char              buf[64];
    pt_buf_t            b;
    pt_http_chunked_t   ctx;

    pt_memzero(&ctx, sizeof(pt_http_chunked_t));
    pt_memzero(&b, sizeof(pt_buf_t));
    b.start = buf;
    b.end = buf + sizeof(buf);

    /* nothing: nothing to do */
    b.pos = buf;
    b.last = buf;
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx),
                     PT_AGAIN);
    assert_ptr_equal(b.pos, buf);

    /* a partial size line is taken in whole */
    memcpy(buf, "1a", 2);
    b.last = buf + 2;
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx),
                     PT_AGAIN);
    assert_ptr_equal(b.pos, buf + 2);

    memcpy(buf + 2, ";x=1\r", 5);
    b.last = buf + 7;
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx),
                     PT_AGAIN);
    assert_ptr_equal(b.pos, buf + 7);

    /* the LF: 26 bytes of data to come, none here yet */
    buf[7] = '\n';
    b.last = buf + 8;
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx), PT_OK);
    assert_ptr_equal(b.pos, buf + 8);
    assert_int_equal(ctx.size, 26);

    /* a new buffer, as from the next read */
    memcpy(buf, "abcdefghijklmnopqrstuvwxyz\r", 27);
    b.pos = buf;
    b.last = buf + 27;
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx), PT_OK);
    assert_ptr_equal(b.pos, buf);
    assert_int_equal(ctx.size, 26);
    b.pos += 26;
    ctx.size = 0;

    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx),
                     PT_AGAIN);
    assert_ptr_equal(b.pos, buf + 27);

    memcpy(buf, "\n0\r\n", 4);
    b.pos = buf;
    b.last = buf + 4;
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx),
                     PT_AGAIN);
    assert_ptr_equal(b.pos, buf + 4);
    assert_int_equal(ctx.size, 0);

    memcpy(buf, "\r\nX", 3);
    b.pos = buf;
    b.last = buf + 3;
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx), PT_DONE);
    assert_ptr_equal(b.pos, buf + 2);

    /* the context is ready for another body */
    memcpy(buf, "0\r\n\r\n", 5);
    b.pos = buf;
    b.last = buf + 5;
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx), PT_DONE);
    assert_ptr_equal(b.pos, buf + 5);
}


static void
test_steps_error_position(void **state)
{
    u_char              buf[32];
    pt_buf_t            b;
    pt_http_chunked_t   ctx;

    pt_memzero(&ctx, sizeof(pt_http_chunked_t));
    pt_memzero(&b, sizeof(pt_buf_t));

    memcpy(buf, "5\r\nhello\r\nG", 11);
    b.start = buf;
    b.pos = buf;
    b.last = buf + 11;
    b.end = buf + sizeof(buf);

    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx), PT_OK);
    b.pos += 5;
    ctx.size = 0;

    /* "G" is no chunk size: b->pos stays on it */
    assert_int_equal(pt_http_parse_chunked(&test_request, &b, &ctx),
                     PT_ERROR);
    assert_ptr_equal(b.pos, buf + 10);
}


/* ------------------------------------------------------------------------ */
/* valid bodies */

static void
test_valid_simple(void **state)
{
    check_valid("5\r\nhello\r\n0\r\n\r\n", "hello");
    check_valid("1\r\na\r\n0\r\n\r\n", "a");
    check_valid("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
}


static void
test_valid_empty_body(void **state)
{
    decoded_t  d;

    check_valid("0\r\n\r\n", "");
    check_valid("00000\r\n\r\n", "");

    decode("0\r\n\r\n", 5, 0, &d);
    assert_int_equal(d.chunks, 0);
    decoded_free(&d);
}


static void
test_valid_many_chunks(void **state)
{
    char      line[32];
    u_char    ch;
    size_t    i, n;
    text_t    in, data;
    decoded_t d;

    pt_memzero(&in, sizeof(text_t));
    pt_memzero(&data, sizeof(text_t));

    for (n = 1; n <= 40; n++) {
        snprintf(line, sizeof(line), "%zx\r\n", n);
        text_str(&in, line);

        for (i = 0; i < n; i++) {
            ch = (u_char) ('a' + (n + i) % 26);
            text_add(&in, &ch, 1);
            text_add(&data, &ch, 1);
        }

        text_str(&in, "\r\n");
    }

    text_str(&in, "0\r\n\r\n");

    check_valid_tail((char *) in.p, in.len, (char *) data.p, data.len, 0);

    decode(in.p, in.len, 0, &d);
    assert_int_equal(d.chunks, 40);

    for (n = 1; n <= 40; n++) {
        assert_int_equal(d.sizes[n - 1], n);
    }

    decoded_free(&d);
    free(in.p);
    free(data.p);
}


static void
test_valid_hex_case(void **state)
{
    decoded_t  d;

    check_valid("a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    check_valid("A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    check_valid("b\r\n0123456789a\r\n0\r\n\r\n", "0123456789a");
    check_valid("B\r\n0123456789a\r\n0\r\n\r\n", "0123456789a");

    /* every hex digit, either case */
    decode("fEdCbA9\r\n", 9, 0, &d);
    assert_int_equal(d.rc, PT_AGAIN);
    assert_int_equal(d.chunks, 1);
    assert_int_equal(d.sizes[0], 0xfedcba9);
    decoded_free(&d);

    decode("FeDcBa8765\r\n", 12, 0, &d);
    assert_int_equal(d.chunks, 1);
    assert_int_equal(d.sizes[0], 0xfedcba8765LL);
    decoded_free(&d);
}


static void
test_valid_leading_zeros(void **state)
{
    decoded_t  d;

    check_valid("0005\r\nhello\r\n000\r\n\r\n", "hello");
    check_valid("00000000000000000000000005\r\nhello\r\n0\r\n\r\n", "hello");

    /* leading zeros do not count towards the 15 digits */
    decode("00000fffffffffffffff\r\n", 22, 0, &d);
    assert_int_equal(d.rc, PT_AGAIN);
    assert_int_equal(d.chunks, 1);
    assert_int_equal(d.sizes[0], 0xfffffffffffffffLL);
    decoded_free(&d);

    decode("0100000000000000\r\n", 18, 0, &d);
    assert_int_equal(d.chunks, 1);
    assert_int_equal(d.sizes[0], 0x100000000000000LL);
    decoded_free(&d);
}


static void
test_valid_extensions(void **state)
{
    check_valid("5;a\r\nhello\r\n0\r\n\r\n", "hello");
    check_valid("5;a=b\r\nhello\r\n0\r\n\r\n", "hello");
    check_valid("5;a=\"q\\\"x\"\r\nhello\r\n0\r\n\r\n", "hello");
    check_valid("5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello");
    check_valid("5;a=\"x;y=z\\\\\"\r\nhello\r\n0\r\n\r\n", "hello");
    check_valid("5;a=b;c;d=\"e\"\r\nhello\r\n0\r\n\r\n", "hello");
    check_valid("5;name=\"quoted \\\t\x80\xff\"\r\nhello\r\n0\r\n\r\n",
                "hello");
    check_valid("5;!#$%&'*+-.^_`|~09AZaz=tok\r\nhello\r\n0\r\n\r\n",
                "hello");

    /* BWS before ";" and around the parts of an extension */
    check_valid("5 ;a\r\nhello\r\n0\r\n\r\n", "hello");
    check_valid("5\t;a\r\nhello\r\n0\r\n\r\n", "hello");
    check_valid("5 \t ;a\r\nhello\r\n0\r\n\r\n", "hello");
    check_valid("5; a = b\r\nhello\r\n0\r\n\r\n", "hello");

    /* on the last chunk too */
    check_valid("5\r\nhello\r\n0;last=1\r\n\r\n", "hello");
    check_valid("0 ;a=\"b\"\r\n\r\n", "");
}


static void
test_valid_trailers(void **state)
{
    check_valid("5\r\nhello\r\n0\r\nX-Sum: 1234\r\n\r\n", "hello");
    check_valid("5\r\nhello\r\n0\r\nA: b\r\nC: d e f\r\nEmpty:\r\n\r\n",
                "hello");
    check_valid("0\r\nX: \t\x80\xff value\t\r\n\r\n", "");
    check_valid("0\r\n!#$%&'*+-.^_`|~09AZaz:v\r\n\r\n", "");
}


static void
test_valid_data_with_crlf(void **state)
{
    check_valid("4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n");
    check_valid("3\r\n\n\r\r\r\n2\r\n0\n\r\n0\r\n\r\n", "\n\r\r0\n");
    check_valid("5\r\n0\r\n\r\n\r\n0\r\n\r\n", "0\r\n\r\n");
    check_valid_tail("3\r\n\0\0\0\r\n0\r\n\r\n", 13, "\0\0\0", 3, 0);
}


static void
test_valid_pipelined_after(void **state)
{
    static const char  in[] = "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";

    check_valid_tail(in, sizeof(in) - 1, "hello", 5,
                     sizeof("GET / HTTP/1.1\r\n\r\n") - 1);
}


static void
test_valid_split_everywhere(void **state)
{
    static const char  in[] =
        "00a;x=\"y\\\"z\" ; w\r\n0123\r\n\r\n78\r\n"
        "27\r\n\r\n\r\n\r\n\r\n0\r\n\r\n0123456789abcdefghijklmnop\r\n"
        "3 ;e\r\nxyz\r\n"
        "0;end\r\nTrailer-One: 1\r\nT2:\r\n\r\n";
    static const char  data[] =
        "0123\r\n\r\n78"
        "\r\n\r\n\r\n\r\n0\r\n\r\n0123456789abcdefghijklmnop"
        "xyz";

    /* check_valid splits at every offset and feeds every step size */
    check_valid(in, data);
}


/* ------------------------------------------------------------------------ */
/* invalid bodies */

static void
test_invalid_bare_lf(void **state)
{
    check_invalid("5\nhello\r\n0\r\n\r\n", 1);
    check_invalid("5;a\nhello\r\n0\r\n\r\n", 3);
    check_invalid("5;a=\"b\"\nhello\r\n0\r\n\r\n", 7);
    check_invalid("5 \nhello\r\n0\r\n\r\n", 2);
    check_invalid("5\r\nhello\n0\r\n\r\n", 8);
    check_invalid("5\r\nhello\r\n0\n\r\n", 11);
    check_invalid("5\r\nhello\r\n0\r\n\n", 13);
    check_invalid("0\r\nA: b\nC: d\r\n\r\n", 7);
    check_invalid("0\r\nA: b\r\n\n", 9);
    check_invalid("\n", 0);
}


static void
test_invalid_bare_cr(void **state)
{
    check_invalid("5\rhello\r\n0\r\n\r\n", 2);
    check_invalid("5\r\nhello\rx0\r\n\r\n", 9);
    check_invalid("0\r\n\rx", 4);
    check_invalid("0\r\nA: b\rC: d\r\n\r\n", 8);
}


static void
test_invalid_after_data(void **state)
{
    /* no CRLF after the data */
    check_invalid("5\r\nhello0\r\n\r\n", 8);
    check_invalid("5\r\nhello \r\n0\r\n\r\n", 8);

    /* more data than declared */
    check_invalid("3\r\nhello\r\n0\r\n\r\n", 6);
    check_invalid("1\r\nab\r\n0\r\n\r\n", 4);

    /* less data than declared runs into the next size line as data */
    check_invalid("6\r\nhello\r\n0\r\n\r\n", 9);
}


static void
test_invalid_size(void **state)
{
    check_invalid("+5\r\nhello\r\n0\r\n\r\n", 0);
    check_invalid("-5\r\nhello\r\n0\r\n\r\n", 0);
    check_invalid("0x5\r\nhello\r\n0\r\n\r\n", 1);
    check_invalid("0X5\r\nhello\r\n0\r\n\r\n", 1);
    check_invalid("x5\r\n", 0);
    check_invalid(" 5\r\nhello\r\n0\r\n\r\n", 0);
    check_invalid("\t5\r\n", 0);
    check_invalid("g\r\n", 0);
    check_invalid("5g\r\n", 1);
    check_invalid("\r\n", 0);
    check_invalid(";a\r\n", 0);
    check_invalid("5,6\r\n", 1);
    check_invalid("5.0\r\n", 1);
    check_invalid("GET / HTTP/1.1\r\n", 0);
    check_invalid("\xef\xbc\x95\r\n", 0);      /* a fullwidth "5" */
}


static void
test_invalid_size_too_long(void **state)
{
    /* 15 significant digits fit, 16 do not */
    check_invalid("1000000000000000\r\n", 15);
    check_invalid("ffffffffffffffff\r\n", 15);
    check_invalid("0001000000000000000\r\n", 18);
    check_invalid("10000000000000000000000000000000005\r\n", 15);

    /* would wrap around a 64-bit size */
    check_invalid("10000000000000005\r\n", 15);
    check_invalid("fffffffffffffffffffffffffffffffff\r\n", 15);
}


static void
test_invalid_space_after_size(void **state)
{
    /* white space after the size only leads to ";" */
    check_invalid("5 \r\nhello\r\n0\r\n\r\n", 2);
    check_invalid("5\t\r\nhello\r\n0\r\n\r\n", 2);
    check_invalid("5 6\r\n", 2);
    check_invalid("5 a\r\n", 2);
    check_invalid("0 \r\n\r\n", 2);
}


static void
test_invalid_extension(void **state)
{
    check_invalid("5;a\x01\r\nhello\r\n0\r\n\r\n", 3);
    check_invalid("5;\x7f\r\nhello\r\n0\r\n\r\n", 2);
    check_invalid("5;a=\0\r\nhello\r\n0\r\n\r\n", 4);
    check_invalid("5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n", 6);
    check_invalid("5;a=\"\x7f\"\r\nhello\r\n0\r\n\r\n", 5);
    check_invalid("5;a=\"b\\\x01\"\r\nhello\r\n0\r\n\r\n", 7);
    check_invalid("5;a=\"b\r\nhello\"\r\n0\r\n\r\n", 6);
    check_invalid("5;a=\"b\\\r\nhello\"\r\n0\r\n\r\n", 7);
    check_invalid("5;a(b)\r\n", 3);
    check_invalid("5;a,b\r\n", 3);
    check_invalid("5;a@b\r\n", 3);
    check_invalid("5;a\x80\r\n", 3);

    /* an unterminated quoted string swallows the size line's end */
    check_invalid("5;a=\"b\r\n", 6);
}


static void
test_extension_limit(void **state)
{
    int        i;
    text_t     in;
    decoded_t  d;

    /* ";" and 1000 bytes are fine */
    pt_memzero(&in, sizeof(text_t));
    text_str(&in, "5;");
    text_rep(&in, 'a', 1000);
    text_str(&in, "\r\nhello\r\n0\r\n\r\n");

    decode(in.p, in.len, 0, &d);
    assert_int_equal(d.rc, PT_DONE);
    decoded_free(&d);

    /* 1100 are not */
    in.len = 0;
    text_str(&in, "5;");
    text_rep(&in, 'a', 1100);
    text_str(&in, "\r\nhello\r\n0\r\n\r\n");

    decode(in.p, in.len, 0, &d);
    assert_int_equal(d.rc, PT_ERROR);
    assert_true(d.stop < 2 + 1100);
    decoded_free(&d);

    decode(in.p, in.len, 1, &d);
    assert_int_equal(d.rc, PT_ERROR);
    decoded_free(&d);

    /* the same in a quoted string */
    in.len = 0;
    text_str(&in, "5;a=\"");
    text_rep(&in, 'q', 1100);
    text_str(&in, "\"\r\nhello\r\n0\r\n\r\n");

    decode(in.p, in.len, 0, &d);
    assert_int_equal(d.rc, PT_ERROR);
    decoded_free(&d);

    /* and in quoted pairs, each of which is two bytes */
    in.len = 0;
    text_str(&in, "5;a=\"");

    for (i = 0; i < 600; i++) {
        text_str(&in, "\\q");
    }

    text_str(&in, "\"\r\nhello\r\n0\r\n\r\n");

    decode(in.p, in.len, 0, &d);
    assert_int_equal(d.rc, PT_ERROR);
    decoded_free(&d);

    /* white space before ";" is bounded too */
    in.len = 0;
    text_str(&in, "5");
    text_rep(&in, ' ', 1100);
    text_str(&in, ";a\r\nhello\r\n0\r\n\r\n");

    decode(in.p, in.len, 0, &d);
    assert_int_equal(d.rc, PT_ERROR);
    decoded_free(&d);

    free(in.p);
}


static void
test_extension_limit_per_chunk(void **state)
{
    text_t     in;
    decoded_t  d;

    /*
     * The limit is per size line: a long extension on one chunk leaves
     * the next chunk its own allowance, with or without white space
     * before its ";".
     */
    pt_memzero(&in, sizeof(text_t));
    text_str(&in, "1;");
    text_rep(&in, 'a', 1000);
    text_str(&in, "\r\nx\r\n1");
    text_rep(&in, ' ', 100);
    text_str(&in, ";b\r\ny\r\n2\t;");
    text_rep(&in, 'c', 1000);
    text_str(&in, "\r\nzz\r\n0 ;");
    text_rep(&in, 'd', 1000);
    text_str(&in, "\r\n\r\n");

    decode(in.p, in.len, 0, &d);
    assert_int_equal(d.rc, PT_DONE);
    assert_int_equal(d.stop, in.len);
    assert_int_equal(d.len, 4);
    assert_memory_equal(d.data, "xyzz", 4);
    decoded_free(&d);

    decode(in.p, in.len, 1, &d);
    assert_int_equal(d.rc, PT_DONE);
    decoded_free(&d);

    free(in.p);
}


static void
test_invalid_trailers(void **state)
{
    /* obs-fold */
    check_invalid("0\r\nA: b\r\n c\r\n\r\n", 9);
    check_invalid("0\r\nA: b\r\n\tc\r\n\r\n", 9);
    check_invalid("0\r\n A: b\r\n\r\n", 3);

    /* white space before the colon, no name, no colon */
    check_invalid("0\r\nA : b\r\n\r\n", 4);
    check_invalid("0\r\nA\t: b\r\n\r\n", 4);
    check_invalid("0\r\n: b\r\n\r\n", 3);
    check_invalid("0\r\nAbc\r\n\r\n", 6);

    /* characters outside a field */
    check_invalid("0\r\nA@b: c\r\n\r\n", 4);
    check_invalid("0\r\nA: b\x01\r\n\r\n", 7);
    check_invalid("0\r\nA: b\x7f\r\n\r\n", 7);
    check_invalid("0\r\nA: \0\r\n\r\n", 6);
    check_invalid("0\r\n\x80: b\r\n\r\n", 3);
}


static void
test_trailers_limit(void **state)
{
    int        i;
    text_t     in;
    decoded_t  d;

    /* 8000 bytes of trailers are fine */
    pt_memzero(&in, sizeof(text_t));
    text_str(&in, "0\r\nX-Big: ");
    text_rep(&in, 'v', 7985);
    text_str(&in, "\r\n\r\n");

    decode(in.p, in.len, 0, &d);
    assert_int_equal(d.rc, PT_DONE);
    assert_int_equal(d.stop, in.len);
    decoded_free(&d);

    /* 9000 in one line are not */
    in.len = 0;
    text_str(&in, "0\r\nX-Big: ");
    text_rep(&in, 'v', 9000);
    text_str(&in, "\r\n\r\n");

    decode(in.p, in.len, 0, &d);
    assert_int_equal(d.rc, PT_ERROR);
    assert_true(d.stop < in.len - 4);
    decoded_free(&d);

    /* nor in many short ones */
    in.len = 0;
    text_str(&in, "0\r\n");

    for (i = 0; i < 1000; i++) {
        text_str(&in, "Abcdef: 1\r\n");
    }

    text_str(&in, "\r\n");

    decode(in.p, in.len, 0, &d);
    assert_int_equal(d.rc, PT_ERROR);
    decoded_free(&d);

    decode(in.p, in.len, 7, &d);
    assert_int_equal(d.rc, PT_ERROR);
    decoded_free(&d);

    free(in.p);
}


static void
test_incomplete(void **state)
{
    decoded_t  d;

    /* a valid beginning: PT_AGAIN with all of it taken */
    decode("5\r\nhel", 6, 0, &d);
    assert_int_equal(d.rc, PT_AGAIN);
    assert_int_equal(d.stop, 6);
    assert_int_equal(d.len, 3);
    decoded_free(&d);

    decode("5\r\nhello\r\n0\r\nA: b\r\n", 19, 1, &d);
    assert_int_equal(d.rc, PT_AGAIN);
    assert_int_equal(d.stop, 19);
    assert_int_equal(d.len, 5);
    decoded_free(&d);

    decode("", 0, 0, &d);
    assert_int_equal(d.rc, PT_AGAIN);
    assert_int_equal(d.stop, 0);
    decoded_free(&d);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_single_chunk_steps),
        cmocka_unit_test(test_steps_partial_input),
        cmocka_unit_test(test_steps_error_position),
        cmocka_unit_test(test_valid_simple),
        cmocka_unit_test(test_valid_empty_body),
        cmocka_unit_test(test_valid_many_chunks),
        cmocka_unit_test(test_valid_hex_case),
        cmocka_unit_test(test_valid_leading_zeros),
        cmocka_unit_test(test_valid_extensions),
        cmocka_unit_test(test_valid_trailers),
        cmocka_unit_test(test_valid_data_with_crlf),
        cmocka_unit_test(test_valid_pipelined_after),
        cmocka_unit_test(test_valid_split_everywhere),
        cmocka_unit_test(test_invalid_bare_lf),
        cmocka_unit_test(test_invalid_bare_cr),
        cmocka_unit_test(test_invalid_after_data),
        cmocka_unit_test(test_invalid_size),
        cmocka_unit_test(test_invalid_size_too_long),
        cmocka_unit_test(test_invalid_space_after_size),
        cmocka_unit_test(test_invalid_extension),
        cmocka_unit_test(test_extension_limit),
        cmocka_unit_test(test_extension_limit_per_chunk),
        cmocka_unit_test(test_invalid_trailers),
        cmocka_unit_test(test_trailers_limit),
        cmocka_unit_test(test_incomplete),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
