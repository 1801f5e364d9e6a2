/*
 * Unit tests for core/pt_hash.c: exact tables, every wildcard form,
 * longest-match precedence, case-insensitivity, malformed wildcards,
 * duplicates and misses.
 */
#include "pt_core.h"

#include <setjmp.h>
#include <cmocka.h>


typedef struct {
    pt_pool_t           *pool;
    pt_hash_keys_t       keys;
    pt_hash_combined_t   hash;
} test_ctx_t;


static int
setup(void **state)
{
    test_ctx_t  *ctx;

    ctx = calloc(1, sizeof(test_ctx_t));
    if (ctx == NULL) {
        return -1;
    }

    ctx->pool = pt_create_pool(PT_POOL_DEFAULT_SIZE, NULL);
    if (ctx->pool == NULL) {
        free(ctx);
        return -1;
    }

    if (pt_hash_keys_init(&ctx->keys, ctx->pool) != PT_OK) {
        pt_destroy_pool(ctx->pool);
        free(ctx);
        return -1;
    }

    *state = ctx;

    return 0;
}


static int
teardown(void **state)
{
    test_ctx_t  *ctx = *state;

    pt_destroy_pool(ctx->pool);
    free(ctx);

    return 0;
}


static pt_int_t
add(test_ctx_t *ctx, const char *key, const char *value, pt_uint_t flags)
{
    pt_str_t  k;

    k.len = strlen(key);
    k.data = (u_char *) key;

    return pt_hash_add_key(&ctx->keys, &k, (void *) value, flags);
}


/* Looks name up the way callers do: lowercase it and hash it in one go. */
static const char *
lookup(test_ctx_t *ctx, const char *name)
{
    u_char     buf[256];
    size_t     len;
    pt_uint_t  key;

    len = strlen(name);
    assert_true(len < sizeof(buf));

    key = pt_hash_strlow(buf, (const u_char *) name, len);

    return pt_hash_find_combined(&ctx->hash, key, buf, len);
}


static void
test_hash_functions(void **state)
{
    u_char     buf[16];
    pt_uint_t  k;

    k = pt_hash_key((u_char *) "abc", 3);
    assert_int_not_equal(k, 0);
    assert_int_not_equal(pt_hash_key((u_char *) "abd", 3), k);
    assert_int_not_equal(pt_hash_key((u_char *) "abc\0", 4), k);
    assert_int_equal(pt_hash_key_lc((u_char *) "AbC", 3), k);
    assert_int_not_equal(pt_hash_key((u_char *) "AbC", 3), k);
    assert_int_equal(pt_hash_key((u_char *) "", 0), 0);

    assert_int_equal(pt_hash_strlow(buf, (u_char *) "AbC", 3), k);
    assert_memory_equal(buf, "abc", 3);

    /* in place */
    memcpy(buf, "X-Y", 3);
    assert_int_equal(pt_hash_strlow(buf, buf, 3),
                     pt_hash_key((u_char *) "x-y", 3));
    assert_memory_equal(buf, "x-y", 3);

    /* across the eight-octet words, with and without a partial one */
    assert_int_equal(pt_hash_key_lc((u_char *) "Content-Type", 12),
                     pt_hash_key((u_char *) "content-type", 12));
    assert_int_equal(pt_hash_key_lc((u_char *) "X-FORWARDED", 8),
                     pt_hash_key((u_char *) "x-forwar", 8));
    assert_int_not_equal(pt_hash_key((u_char *) "content-type", 12),
                         pt_hash_key((u_char *) "content-typf", 12));
    assert_int_equal(pt_hash_strlow(buf, (u_char *) "ACCEPT-ENCODING", 15),
                     pt_hash_key((u_char *) "accept-encoding", 15));
}


static void
test_exact_table(void **state)
{
    char            names[500][16];
    u_char          lc[16];
    size_t          len;
    pt_uint_t       i, key;
    pt_hash_t       hash;
    pt_pool_t      *pool;
    pt_hash_key_t   keys[500];

    pool = pt_create_pool(1024, NULL);
    assert_non_null(pool);

    for (i = 0; i < 500; i++) {
        snprintf(names[i], sizeof(names[i]), "Header-%u", (unsigned) i);
        keys[i].key.len = strlen(names[i]);
        keys[i].key.data = (u_char *) names[i];
        keys[i].key_hash = pt_hash_key_lc(keys[i].key.data, keys[i].key.len);
        keys[i].value = names[i];
    }

    assert_int_equal(pt_hash_init(&hash, pool, keys, 500), PT_OK);
    assert_true(hash.size >= 500);

    /* stored lowercase; the caller's copy is untouched */
    assert_memory_equal(names[7], "Header-7", 8);

    for (i = 0; i < 500; i++) {
        len = strlen(names[i]);
        key = pt_hash_strlow(lc, (u_char *) names[i], len);
        assert_ptr_equal(pt_hash_find(&hash, key, lc, len), names[i]);

        /* an uppercase name is a miss: lookups take lowercase names */
        assert_null(pt_hash_find(&hash, key, (u_char *) names[i], len));
    }

    key = pt_hash_key((u_char *) "header-500", 10);
    assert_null(pt_hash_find(&hash, key, (u_char *) "header-500", 10));

    /* same hash bucket, different length */
    key = pt_hash_key((u_char *) "header-1", 8);
    assert_null(pt_hash_find(&hash, key, (u_char *) "header-1", 7));

    /* an empty table misses everything */
    assert_int_equal(pt_hash_init(&hash, pool, keys, 0), PT_OK);
    assert_null(pt_hash_find(&hash, key, (u_char *) "header-1", 8));

    pt_destroy_pool(pool);
}


static void
test_exact_combined(void **state)
{
    test_ctx_t  *ctx = *state;

    assert_int_equal(add(ctx, "example.com", "exact", 0), PT_OK);
    assert_int_equal(add(ctx, "WWW.Example.COM", "www", 0), PT_OK);
    assert_int_equal(add(ctx, "localhost", "lh", PT_HASH_WILDCARD_KEY),
                     PT_OK);
    assert_int_equal(pt_hash_combined_init(&ctx->hash, &ctx->keys,
                                           ctx->pool), PT_OK);

    assert_string_equal(lookup(ctx, "example.com"), "exact");
    assert_string_equal(lookup(ctx, "EXAMPLE.com"), "exact");
    assert_string_equal(lookup(ctx, "www.example.com"), "www");
    assert_string_equal(lookup(ctx, "localhost"), "lh");

    assert_null(lookup(ctx, "example.co"));
    assert_null(lookup(ctx, "example.comm"));
    assert_null(lookup(ctx, "a.example.com"));
    assert_null(lookup(ctx, ""));
}


static void
test_wildcard_head(void **state)
{
    test_ctx_t  *ctx = *state;

    assert_int_equal(add(ctx, "*.example.com", "head",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(pt_hash_combined_init(&ctx->hash, &ctx->keys,
                                           ctx->pool), PT_OK);

    assert_string_equal(lookup(ctx, "www.example.com"), "head");
    assert_string_equal(lookup(ctx, "a.b.c.example.com"), "head");
    assert_string_equal(lookup(ctx, "WWW.EXAMPLE.COM"), "head");

    /* at least one more label is needed */
    assert_null(lookup(ctx, "example.com"));
    assert_null(lookup(ctx, ".example.com"));
    assert_null(lookup(ctx, "wwwexample.com"));
    assert_null(lookup(ctx, "www.example.org"));
    assert_null(lookup(ctx, "www.example.com.evil"));
}


static void
test_wildcard_dot(void **state)
{
    test_ctx_t  *ctx = *state;

    assert_int_equal(add(ctx, ".Example.org", "dot", PT_HASH_WILDCARD_KEY),
                     PT_OK);
    assert_int_equal(pt_hash_combined_init(&ctx->hash, &ctx->keys,
                                           ctx->pool), PT_OK);

    assert_string_equal(lookup(ctx, "example.org"), "dot");
    assert_string_equal(lookup(ctx, "www.example.org"), "dot");
    assert_string_equal(lookup(ctx, "a.b.example.org"), "dot");

    assert_null(lookup(ctx, "xexample.org"));
    assert_null(lookup(ctx, "example.org.uk"));
    assert_null(lookup(ctx, "org"));
}


static void
test_wildcard_tail(void **state)
{
    test_ctx_t  *ctx = *state;

    assert_int_equal(add(ctx, "www.example.*", "tail",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(pt_hash_combined_init(&ctx->hash, &ctx->keys,
                                           ctx->pool), PT_OK);

    assert_string_equal(lookup(ctx, "www.example.com"), "tail");
    assert_string_equal(lookup(ctx, "www.example.co.uk"), "tail");
    assert_string_equal(lookup(ctx, "WWW.example.NET"), "tail");

    assert_null(lookup(ctx, "www.example"));
    assert_null(lookup(ctx, "www.example."));
    assert_null(lookup(ctx, "www.examplex.com"));
    assert_null(lookup(ctx, "a.www.example.com"));
    assert_null(lookup(ctx, "www.com"));
}


static void
test_precedence(void **state)
{
    test_ctx_t  *ctx = *state;

    assert_int_equal(add(ctx, "www.example.com", "exact", 0), PT_OK);
    assert_int_equal(add(ctx, "*.example.com", "head-short",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(add(ctx, "*.b.example.com", "head-long",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(add(ctx, ".c.example.com", "dot-long",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(add(ctx, "*.com", "head-com",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(add(ctx, "www.*", "tail-short",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(add(ctx, "www.example.*", "tail-long",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(add(ctx, "mail.example.*", "tail-mail",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(pt_hash_combined_init(&ctx->hash, &ctx->keys,
                                           ctx->pool), PT_OK);

    /* exact beats every wildcard */
    assert_string_equal(lookup(ctx, "www.example.com"), "exact");

    /* the longest leading wildcard wins, whichever form */
    assert_string_equal(lookup(ctx, "a.b.example.com"), "head-long");
    assert_string_equal(lookup(ctx, "x.a.b.example.com"), "head-long");
    assert_string_equal(lookup(ctx, "b.example.com"), "head-short");
    assert_string_equal(lookup(ctx, "c.example.com"), "dot-long");
    assert_string_equal(lookup(ctx, "x.c.example.com"), "dot-long");
    assert_string_equal(lookup(ctx, "a.example.com"), "head-short");
    assert_string_equal(lookup(ctx, "example.com"), "head-com");
    assert_string_equal(lookup(ctx, "foo.com"), "head-com");

    /* leading wildcards beat trailing ones */
    assert_string_equal(lookup(ctx, "mail.example.com"), "head-short");

    /* trailing wildcards, longest first */
    assert_string_equal(lookup(ctx, "www.example.org"), "tail-long");
    assert_string_equal(lookup(ctx, "www.example.co.uk"), "tail-long");
    assert_string_equal(lookup(ctx, "www.other.org"), "tail-short");
    assert_string_equal(lookup(ctx, "mail.example.org"), "tail-mail");

    assert_null(lookup(ctx, "mail.other.org"));
    assert_null(lookup(ctx, "com"));
}


static void
test_head_and_dot_same_name(void **state)
{
    test_ctx_t  *ctx = *state;

    /* different tables, so not duplicates; only ".x" matches x itself */
    assert_int_equal(add(ctx, "*.example.net", "head",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(add(ctx, ".example.net", "dot",
                         PT_HASH_WILDCARD_KEY), PT_OK);
    assert_int_equal(pt_hash_combined_init(&ctx->hash, &ctx->keys,
                                           ctx->pool), PT_OK);

    assert_string_equal(lookup(ctx, "example.net"), "dot");
    assert_string_equal(lookup(ctx, "www.example.net"), "head");
}


static void
test_invalid_wildcards(void **state)
{
    size_t        i;
    test_ctx_t   *ctx = *state;

    static const char  *bad[] = {
        "*", "**", "*.*", "a.*.b", "*example.com", "example*", "www.ex*.com",
        "*.", ".*", "*.example.*", ".example.*", "*..example.com",
        "*.example..com", "www..example.*", ".", "..example.com",
        "*.example.com.", "www.example.*.*", "*.*.example.com", "ex*mple.com",
        ".*.example.com", "www.*.example.*",
    };

    for (i = 0; i < pt_nelems(bad); i++) {
        assert_int_equal(add(ctx, bad[i], "bad", PT_HASH_WILDCARD_KEY),
                         PT_DECLINED);
    }

    /* a "*" without PT_HASH_WILDCARD_KEY is never accepted */
    assert_int_equal(add(ctx, "*.example.com", "bad", 0), PT_DECLINED);
    assert_int_equal(add(ctx, "www.example.*", "bad", 0), PT_DECLINED);
    assert_int_equal(add(ctx, "a*b", "bad", 0), PT_DECLINED);

    /* nothing was stored */
    assert_int_equal(ctx->keys.keys.nelts, 0);
    assert_int_equal(ctx->keys.wc_head.nelts, 0);
    assert_int_equal(ctx->keys.wc_tail.nelts, 0);
    assert_int_equal(ctx->keys.wc_dot.nelts, 0);

    /* without the flag a leading dot is just a character */
    assert_int_equal(add(ctx, ".example.com", "literal", 0), PT_OK);
    assert_int_equal(ctx->keys.keys.nelts, 1);
    assert_int_equal(pt_hash_combined_init(&ctx->hash, &ctx->keys,
                                           ctx->pool), PT_OK);
    assert_string_equal(lookup(ctx, ".example.com"), "literal");
    assert_null(lookup(ctx, "example.com"));
    assert_null(lookup(ctx, "www.example.com"));
}


static void
test_duplicates(void **state)
{
    test_ctx_t  *ctx = *state;

    assert_int_equal(add(ctx, "example.com", "1", 0), PT_OK);
    assert_int_equal(add(ctx, "example.com", "2", 0), PT_BUSY);
    assert_int_equal(add(ctx, "EXAMPLE.com", "3", PT_HASH_WILDCARD_KEY),
                     PT_BUSY);

    assert_int_equal(add(ctx, "*.example.com", "4", PT_HASH_WILDCARD_KEY),
                     PT_OK);
    assert_int_equal(add(ctx, "*.Example.COM", "5", PT_HASH_WILDCARD_KEY),
                     PT_BUSY);

    assert_int_equal(add(ctx, ".example.org", "6", PT_HASH_WILDCARD_KEY),
                     PT_OK);
    assert_int_equal(add(ctx, ".EXAMPLE.org", "7", PT_HASH_WILDCARD_KEY),
                     PT_BUSY);

    assert_int_equal(add(ctx, "www.example.*", "8", PT_HASH_WILDCARD_KEY),
                     PT_OK);
    assert_int_equal(add(ctx, "WWW.example.*", "9", PT_HASH_WILDCARD_KEY),
                     PT_BUSY);

    /* the same text in a different table is not a duplicate */
    assert_int_equal(add(ctx, "www.example", "10", 0), PT_OK);

    assert_int_equal(pt_hash_combined_init(&ctx->hash, &ctx->keys,
                                           ctx->pool), PT_OK);

    /* the first value added is the one kept */
    assert_string_equal(lookup(ctx, "example.com"), "1");
    assert_string_equal(lookup(ctx, "a.example.com"), "4");
    assert_string_equal(lookup(ctx, "example.org"), "6");
    assert_string_equal(lookup(ctx, "www.example.net"), "8");
    assert_string_equal(lookup(ctx, "www.example"), "10");
}


static void
test_many_names(void **state)
{
    char         name[64], *names;
    pt_uint_t    i;
    test_ctx_t  *ctx = *state;

    names = pt_palloc(ctx->pool, 3000 * 32);
    assert_non_null(names);

    for (i = 0; i < 1000; i++) {
        snprintf(names + i * 32, 32, "host%u.example.com", (unsigned) i);
        assert_int_equal(add(ctx, names + i * 32, names + i * 32, 0), PT_OK);

        snprintf(names + (1000 + i) * 32, 32, "*.zone%u.example.com",
                 (unsigned) i);
        assert_int_equal(add(ctx, names + (1000 + i) * 32,
                             names + (1000 + i) * 32,
                             PT_HASH_WILDCARD_KEY), PT_OK);

        snprintf(names + (2000 + i) * 32, 32, "site%u.*", (unsigned) i);
        assert_int_equal(add(ctx, names + (2000 + i) * 32,
                             names + (2000 + i) * 32,
                             PT_HASH_WILDCARD_KEY), PT_OK);
    }

    assert_int_equal(pt_hash_combined_init(&ctx->hash, &ctx->keys,
                                           ctx->pool), PT_OK);

    for (i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "HOST%u.example.com", (unsigned) i);
        assert_ptr_equal(lookup(ctx, name), names + i * 32);

        snprintf(name, sizeof(name), "www.zone%u.example.com", (unsigned) i);
        assert_ptr_equal(lookup(ctx, name), names + (1000 + i) * 32);

        snprintf(name, sizeof(name), "site%u.example.net", (unsigned) i);
        assert_ptr_equal(lookup(ctx, name), names + (2000 + i) * 32);

        snprintf(name, sizeof(name), "host%u.example.org", (unsigned) i);
        assert_null(lookup(ctx, name));
    }
}


static void
test_empty_combined(void **state)
{
    test_ctx_t  *ctx = *state;

    assert_int_equal(pt_hash_combined_init(&ctx->hash, &ctx->keys,
                                           ctx->pool), PT_OK);

    assert_null(lookup(ctx, "example.com"));
    assert_null(lookup(ctx, "a.b.c"));
    assert_null(lookup(ctx, ""));
}


#define T(f)  cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_hash_functions),
        cmocka_unit_test(test_exact_table),
        T(test_exact_combined),
        T(test_wildcard_head),
        T(test_wildcard_dot),
        T(test_wildcard_tail),
        T(test_precedence),
        T(test_head_and_dot_same_name),
        T(test_invalid_wildcards),
        T(test_duplicates),
        T(test_many_names),
        T(test_empty_combined),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
