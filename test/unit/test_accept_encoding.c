/*
 * Unit tests for core/http/pt_http_accept_encoding.c: qvalues, the weight
 * a list gives a coding (its own entries, else "*"; malformed weights and
 * parameters refuse; names are tokens compared without case; "x-gzip" is
 * gzip), the same over several Accept-Encoding fields, Vary values, and
 * what pt_http_content_recoded() does to a response head.
 *
 * Every value is copied into a heap block of exactly its length, so a
 * read past its end shows up under ASan.
 */
#include "pt_http.h"

#include <setjmp.h>
#include <cmocka.h>

#include "../../core/http/pt_http_accept_encoding.c"


static pt_int_t
weight(const char *value, const char *coding)
{
    size_t     len;
    pt_int_t   w;
    pt_str_t   v;

    len = strlen(value);
    v.len = len;
    v.data = malloc(len ? len : 1);
    assert_non_null(v.data);
    memcpy(v.data, value, len);

    w = pt_http_accept_encoding_weight(&v, coding);

    free(v.data);

    return w;
}


static pt_int_t
qvalue(const char *s)
{
    return pt_http_parse_qvalue((const u_char *) s,
                                (const u_char *) s + strlen(s));
}


static void
test_qvalues(void **state)
{
    assert_int_equal(qvalue("1"), 1000);
    assert_int_equal(qvalue("1."), 1000);
    assert_int_equal(qvalue("1.0"), 1000);
    assert_int_equal(qvalue("1.000"), 1000);
    assert_int_equal(qvalue("0"), 0);
    assert_int_equal(qvalue("0."), 0);
    assert_int_equal(qvalue("0.5"), 500);
    assert_int_equal(qvalue("0.05"), 50);
    assert_int_equal(qvalue("0.001"), 1);
    assert_int_equal(qvalue("0.999"), 999);

    assert_int_equal(qvalue(""), -1);
    assert_int_equal(qvalue("1.001"), -1);
    assert_int_equal(qvalue("1.0000"), -1);
    assert_int_equal(qvalue("0.0001"), -1);
    assert_int_equal(qvalue("2"), -1);
    assert_int_equal(qvalue(".5"), -1);
    assert_int_equal(qvalue("0,5"), -1);
    assert_int_equal(qvalue("0.5a"), -1);
    assert_int_equal(qvalue("-0"), -1);
    assert_int_equal(qvalue("01"), -1);
}


static void
test_weights(void **state)
{
    /* own entries */
    assert_int_equal(weight("gzip", "gzip"), 1000);
    assert_int_equal(weight("GZIP", "gzip"), 1000);
    assert_int_equal(weight("x-gzip", "gzip"), 1000);
    assert_int_equal(weight("x-gzip", "br"), -1);
    assert_int_equal(weight("deflate, gzip;q=0.5", "gzip"), 500);
    assert_int_equal(weight("gzip;Q=0.5", "gzip"), 500);
    assert_int_equal(weight("gzip ; q=0.5 , br", "gzip"), 500);
    assert_int_equal(weight("gzip\t;\tq=0.25", "gzip"), 250);
    assert_int_equal(weight("gzip;q=0.001", "gzip"), 1);
    assert_int_equal(weight("gzip;q=0", "gzip"), 0);
    assert_int_equal(weight("br;q=0.1", "br"), 100);

    /* "*" stands in for what is not named */
    assert_int_equal(weight("*", "br"), 1000);
    assert_int_equal(weight("*;q=0", "gzip"), 0);
    assert_int_equal(weight("*;q=0, gzip", "gzip"), 1000);
    assert_int_equal(weight("gzip;q=0, *", "gzip"), 0);
    assert_int_equal(weight("gzip;q=0, *", "br"), 1000);
    assert_int_equal(weight("identity;q=0", "gzip"), -1);
    assert_int_equal(weight("identity;q=0, *;q=0.3", "gzip"), 300);

    /* nothing */
    assert_int_equal(weight("", "gzip"), -1);
    assert_int_equal(weight("   ", "gzip"), -1);
    assert_int_equal(weight(",,,", "gzip"), -1);
    assert_int_equal(weight("deflate", "gzip"), -1);
    assert_int_equal(weight("gzipx, xgzip, gzip-1, gz", "gzip"), -1);
    assert_int_equal(weight(",,gzip,,", "gzip"), 1000);

    /* malformed weights and parameters refuse the coding */
    assert_int_equal(weight("gzip;q=abc", "gzip"), 0);
    assert_int_equal(weight("gzip;q=", "gzip"), 0);
    assert_int_equal(weight("gzip;q", "gzip"), 0);
    assert_int_equal(weight("gzip;", "gzip"), 0);
    assert_int_equal(weight("gzip;q=1.5", "gzip"), 0);
    assert_int_equal(weight("gzip;q=0.0001", "gzip"), 0);
    assert_int_equal(weight("gzip;q = 0.5", "gzip"), 0);
    assert_int_equal(weight("gzip;q=\"0.5\"", "gzip"), 0);
    assert_int_equal(weight("gzip junk", "gzip"), 0);
    assert_int_equal(weight("gzip;q=0.5 junk, br", "gzip"), 0);
    assert_int_equal(weight("gzip;q=0.5 junk, br", "br"), 1000);
    assert_int_equal(weight("gzip;q=\"unterminated, br", "br"), -1);

    /* other parameters are allowed, quoted commas and all */
    assert_int_equal(weight("gzip;level=9", "gzip"), 1000);
    assert_int_equal(weight("gzip;foo=\"a,br\";q=0.5", "gzip"), 500);
    assert_int_equal(weight("gzip;foo=\"a,br\"", "br"), -1);
    assert_int_equal(weight("gzip;foo=\"a\\\"b\", br", "br"), 1000);

    /* the same coding twice: a refusal wins */
    assert_int_equal(weight("gzip;q=0, gzip", "gzip"), 0);
    assert_int_equal(weight("gzip, gzip;q=0.5", "gzip"), 500);

    /* a name is a token: this is not "gzip" */
    assert_int_equal(weight("\"gzip\"", "gzip"), -1);
    assert_int_equal(weight("gz\x01ip, gzip", "gzip"), 1000);
}


static void
test_several_fields(void **state)
{
    pt_table_elt_t      h[3];
    pt_http_request_t   r;

    pt_memzero(&r, sizeof(pt_http_request_t));
    pt_memzero(h, sizeof(h));

    assert_int_equal(pt_http_accept_encoding(&r, "gzip"), -1);

    pt_str_set(&h[0].value, "deflate");
    pt_str_set(&h[1].value, "gzip;q=0.5");
    pt_str_set(&h[2].value, "*");
    h[0].next = &h[1];
    h[1].next = &h[2];
    r.headers_in.accept_encoding = &h[0];

    assert_int_equal(pt_http_accept_encoding(&r, "gzip"), 500);
    assert_int_equal(pt_http_accept_encoding(&r, "br"), 1000);

    /* a refusal in one field beats "*" in another */
    pt_str_set(&h[1].value, "gzip;q=0");
    assert_int_equal(pt_http_accept_encoding(&r, "gzip"), 0);

    pt_str_set(&h[2].value, "*;q=0");
    assert_int_equal(pt_http_accept_encoding(&r, "br"), 0);
}


static pt_uint_t
vary(const char *value)
{
    pt_str_t  v;

    v.len = strlen(value);
    v.data = (u_char *) value;

    return pt_http_vary_has_accept_encoding(&v);
}


static void
test_vary_values(void **state)
{
    assert_true(vary("Accept-Encoding"));
    assert_true(vary("accept-encoding"));
    assert_true(vary("Origin, Accept-Encoding"));
    assert_true(vary("Origin,accept-encoding ,Cookie"));
    assert_true(vary("*"));
    assert_false(vary(""));
    assert_false(vary("Origin"));
    assert_false(vary("Accept-Encodings"));
    assert_false(vary("X-Accept-Encoding"));
    assert_false(vary("Accept"));
}


static pt_table_elt_t *
push(pt_http_request_t *r, const char *key, const char *value)
{
    pt_table_elt_t  *h;

    h = pt_list_push(&r->headers_out.headers);
    assert_non_null(h);
    pt_memzero(h, sizeof(pt_table_elt_t));

    h->hash = 1;
    h->key.len = strlen(key);
    h->key.data = (u_char *) key;
    h->value.len = strlen(value);
    h->value.data = (u_char *) value;

    return h;
}


static void
test_content_recoded(void **state)
{
    pt_pool_t          *pool;
    pt_table_elt_t     *cl, *ar, *etag, *ce;
    pt_http_request_t   r;

    pool = pt_create_pool(4096, NULL);
    assert_non_null(pool);

    pt_memzero(&r, sizeof(pt_http_request_t));
    r.pool = pool;
    assert_int_equal(pt_list_init(&r.headers_out.headers, pool, 2,
                                  sizeof(pt_table_elt_t)), PT_OK);

    assert_null(pt_http_content_encoding(&r));

    cl = push(&r, "Content-Length", "100");
    ar = push(&r, "Accept-Ranges", "bytes");
    etag = push(&r, "ETag", "\"abc\"");
    ce = push(&r, "content-encoding", "");

    r.headers_out.content_length_n = 100;
    r.headers_out.accept_ranges = ar;
    r.headers_out.etag = etag;

    /* an empty Content-Encoding is none */
    assert_null(pt_http_content_encoding(&r));
    ce->value.len = 2;
    ce->value.data = (u_char *) "br";
    assert_ptr_equal(pt_http_content_encoding(&r), ce);
    ce->hash = 0;
    assert_null(pt_http_content_encoding(&r));

    assert_int_equal(pt_http_content_recoded(&r), PT_OK);

    assert_int_equal(r.headers_out.content_length_n, -1);
    assert_int_equal(cl->hash, 0);
    assert_int_equal(ar->hash, 0);
    assert_null(r.headers_out.accept_ranges);
    assert_int_equal(etag->hash, 1);
    assert_int_equal(etag->value.len, 7);
    assert_memory_equal(etag->value.data, "W/\"abc\"", 7);

    /* a weak one stays as it is */
    assert_int_equal(pt_http_content_recoded(&r), PT_OK);
    assert_int_equal(etag->value.len, 7);

    /* one that is not an entity-tag goes */
    etag->value.len = 3;
    etag->value.data = (u_char *) "abc";
    assert_int_equal(pt_http_content_recoded(&r), PT_OK);
    assert_int_equal(etag->hash, 0);
    assert_null(r.headers_out.etag);

    pt_destroy_pool(pool);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_qvalues),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_several_fields),
        cmocka_unit_test(test_vary_values),
        cmocka_unit_test(test_content_recoded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
