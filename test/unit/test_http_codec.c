/*
 * Unit tests for the ratio that core/http/pt_http_codec.c gives
 * $gzip_ratio and $brotli_ratio: two decimals, rounded on the third as
 * nginx rounds (its thousandths truncated, then up from 5), a carry into
 * the whole part, no cap, no overflow near the largest off_t, and no
 * value before the stream has ended or without a ctx.
 */
#include "pt_http.h"

#include <setjmp.h>
#include <cmocka.h>

#include "../../core/http/pt_http_codec.c"


/* a module's request ctx, its codec not first */
typedef struct {
    int               other;
    pt_http_codec_t   codec;
} test_ctx_t;


static pt_module_t            test_module = { .ctx_index = 1 };
static pt_http_codec_ratio_t  test_ratio = {
    &test_module, offsetof(test_ctx_t, codec)
};


/* The ratio for in and out of a finished stream, as a C string, or NULL. */
static const char *
ratio(pt_pool_t *pool, test_ctx_t *ctx, off_t in, off_t out, unsigned done)
{
    char                      *s;
    void                      *ctxs[2];
    pt_http_request_t          r;
    pt_http_variable_value_t   v;

    pt_memzero(&r, sizeof(pt_http_request_t));
    pt_memzero(&v, sizeof(pt_http_variable_value_t));

    ctxs[0] = NULL;
    ctxs[1] = ctx;
    r.ctx = ctxs;
    r.pool = pool;

    if (ctx) {
        ctx->codec.bytes_in = in;
        ctx->codec.bytes_out = out;
        ctx->codec.done = done;
    }

    assert_int_equal(pt_http_codec_ratio_variable(&r, &v,
                                                  (uintptr_t) &test_ratio),
                     PT_OK);

    if (v.not_found) {
        assert_int_equal(v.valid, 0);
        return NULL;
    }

    assert_int_equal(v.valid, 1);
    assert_true(v.len > 0 && v.len <= PT_INT_T_LEN + 3);

    s = pt_pnalloc(pool, v.len + 1);
    assert_non_null(s);
    memcpy(s, v.data, v.len);
    s[v.len] = '\0';

    return s;
}


static void
test_ratio_values(void **state)
{
    pt_pool_t   *pool;
    test_ctx_t   ctx;

    pool = pt_create_pool(4096, NULL);
    assert_non_null(pool);
    pt_memzero(&ctx, sizeof(test_ctx_t));

    assert_string_equal(ratio(pool, &ctx, 100000, 30, 1), "3333.33");
    assert_string_equal(ratio(pool, &ctx, 100000, 642, 1), "155.76");
    assert_string_equal(ratio(pool, &ctx, 1 << 20, 1025, 1), "1023.00");
    assert_string_equal(ratio(pool, &ctx, 1000, 1000, 1), "1.00");
    assert_string_equal(ratio(pool, &ctx, 0, 20, 1), "0.00");
    assert_string_equal(ratio(pool, &ctx, 19, 20, 1), "0.95");
    assert_string_equal(ratio(pool, &ctx, 1, 3, 1), "0.33");
    assert_string_equal(ratio(pool, &ctx, 2, 3, 1), "0.67");

    /* rounding on the truncated third decimal */
    assert_string_equal(ratio(pool, &ctx, 2125, 1000, 1), "2.13");
    assert_string_equal(ratio(pool, &ctx, 21249, 10000, 1), "2.12");
    assert_string_equal(ratio(pool, &ctx, 21244, 10000, 1), "2.12");
    assert_string_equal(ratio(pool, &ctx, 2124, 1000, 1), "2.12");

    /* a carry into the whole part */
    assert_string_equal(ratio(pool, &ctx, 1995, 1000, 1), "2.00");
    assert_string_equal(ratio(pool, &ctx, 9999, 1000, 1), "10.00");

    pt_destroy_pool(pool);
}


static void
test_ratio_extremes(void **state)
{
    off_t        max;
    pt_pool_t   *pool;
    test_ctx_t   ctx;

    pool = pt_create_pool(4096, NULL);
    assert_non_null(pool);
    pt_memzero(&ctx, sizeof(test_ctx_t));

    max = (off_t) INT64_MAX;

    /* no cap: the whole part takes every digit */
    assert_string_equal(ratio(pool, &ctx, max, 1, 1),
                        "9223372036854775807.00");
    assert_string_equal(ratio(pool, &ctx, max, 3, 1),
                        "3074457345618258602.33");

    /* the rest times 1000 would overflow: still the right hundredths */
    assert_string_equal(ratio(pool, &ctx, max, max / 2 + 2, 1), "2.00");
    assert_string_equal(ratio(pool, &ctx, max / 4 * 3, max / 2, 1),
                        "1.50");
    assert_string_equal(ratio(pool, &ctx, max - 1, max, 1), "1.00");
    assert_string_equal(ratio(pool, &ctx, max / 3, max, 1), "0.33");

    pt_destroy_pool(pool);
}


static void
test_ratio_not_found(void **state)
{
    pt_pool_t   *pool;
    test_ctx_t   ctx;

    pool = pt_create_pool(4096, NULL);
    assert_non_null(pool);
    pt_memzero(&ctx, sizeof(test_ctx_t));

    /* no ctx: the filter did not take the response */
    assert_null(ratio(pool, NULL, 0, 0, 0));

    /* the stream has not ended */
    assert_null(ratio(pool, &ctx, 5000, 100, 0));

    /* nothing out (a stream cannot end so, but it is no division) */
    assert_null(ratio(pool, &ctx, 5000, 0, 1));
    assert_null(ratio(pool, &ctx, 0, 0, 1));
    assert_null(ratio(pool, &ctx, 5, -1, 1));

    pt_destroy_pool(pool);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_ratio_values),
        cmocka_unit_test(test_ratio_extremes),
        cmocka_unit_test(test_ratio_not_found),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
