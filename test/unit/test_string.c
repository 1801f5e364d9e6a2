/*
 * Unit tests for core/pt_string.c: comparisons, copies, pool duplicates and
 * the strict number, size and time parsers.
 */
#include "pt_core.h"

#include <setjmp.h>
#include <cmocka.h>


#define S(lit)  (&(pt_str_t) pt_string(lit))


static int
setup_pool(void **state)
{
    *state = pt_create_pool(1024, NULL);

    return *state == NULL ? -1 : 0;
}


static int
teardown_pool(void **state)
{
    pt_destroy_pool(*state);

    return 0;
}


static void
test_strlow_and_case_compare(void **state)
{
    u_char  buf[16];

    pt_strlow(buf, (u_char *) "HeLLo-W\xc9", 8);
    assert_memory_equal(buf, "hello-w\xc9", 8);

    assert_int_equal(pt_strcasecmp((u_char *) "Host", (u_char *) "hOST"), 0);
    assert_true(pt_strcasecmp((u_char *) "abc", (u_char *) "abd") < 0);
    assert_true(pt_strcasecmp((u_char *) "abd", (u_char *) "ABC") > 0);
    assert_true(pt_strcasecmp((u_char *) "ab", (u_char *) "abc") < 0);
    assert_true(pt_strcasecmp((u_char *) "abc", (u_char *) "ab") > 0);
    assert_int_equal(pt_strcasecmp((u_char *) "", (u_char *) ""), 0);

    /* ASCII only: Latin-1 letters are not folded */
    assert_true(pt_strcasecmp((u_char *) "\xc9", (u_char *) "\xe9") != 0);
    /* '@' and '`' are 0x20 apart but not letters */
    assert_true(pt_strcasecmp((u_char *) "@", (u_char *) "`") != 0);
    assert_true(pt_strcasecmp((u_char *) "[", (u_char *) "{") != 0);

    assert_int_equal(pt_strncasecmp((u_char *) "Content-Type",
                                    (u_char *) "content-LENGTH", 8), 0);
    assert_true(pt_strncasecmp((u_char *) "Content-Type",
                               (u_char *) "content-LENGTH", 9) != 0);
    assert_int_equal(pt_strncasecmp((u_char *) "a", (u_char *) "b", 0), 0);
    /* stops at a common NUL */
    assert_int_equal(pt_strncasecmp((u_char *) "ab\0x", (u_char *) "AB\0y",
                                    4), 0);

    assert_true(pt_str_caseeq_lit(S("KEEP-alive"), "keep-alive"));
    assert_false(pt_str_caseeq_lit(S("keep-alive!"), "keep-alive"));
}


static void
test_str_eq(void **state)
{
    pt_str_t  a = pt_string("abc");
    pt_str_t  b = pt_string("abc");
    pt_str_t  c = pt_string("abd");
    pt_str_t  d = pt_string("ab");
    pt_str_t  e = pt_null_string;
    pt_str_t  f = pt_null_string;
    pt_str_t  g = pt_string("ABC");
    pt_str_t  n1 = { 3, (u_char *) "a\0b" };
    pt_str_t  n2 = { 3, (u_char *) "A\0c" };

    assert_int_equal(pt_str_eq(&a, &b), 1);
    assert_int_equal(pt_str_eq(&a, &c), 0);
    assert_int_equal(pt_str_eq(&a, &d), 0);
    assert_int_equal(pt_str_eq(&e, &f), 1);
    assert_int_equal(pt_str_eq(&a, &g), 0);

    assert_int_equal(pt_str_caseeq(&a, &g), 1);
    assert_int_equal(pt_str_caseeq(&a, &c), 0);
    assert_int_equal(pt_str_caseeq(&a, &d), 0);
    assert_int_equal(pt_str_caseeq(&e, &f), 1);
    /* NUL bytes inside do not end the comparison */
    assert_int_equal(pt_str_caseeq(&n1, &n2), 0);

    assert_true(pt_str_eq_lit(&a, "abc"));
    assert_false(pt_str_eq_lit(&a, "ab"));
}


static void
test_search(void **state)
{
    u_char  s[] = "GET /index.html HTTP/1.1";
    u_char  z[] = { 'a', '\0', 'b', 'c', 'd' };

    assert_ptr_equal(pt_strlchr(s, s + sizeof(s) - 1, '/'), s + 4);
    assert_ptr_equal(pt_strlchr(s, s + 4, '/'), NULL);
    assert_ptr_equal(pt_strlchr(s, s, 'G'), NULL);

    assert_ptr_equal(pt_strnstr(s, sizeof(s) - 1, "HTTP", 4), s + 16);
    /* the match must lie wholly inside the first len1 bytes */
    assert_ptr_equal(pt_strnstr(s, 19, "HTTP", 4), NULL);
    assert_ptr_equal(pt_strnstr(s, 20, "HTTP", 4), s + 16);
    assert_ptr_equal(pt_strnstr(s, 3, "GET", 3), s);
    assert_ptr_equal(pt_strnstr(s, 2, "GET", 3), NULL);
    assert_ptr_equal(pt_strnstr(s, sizeof(s) - 1, "HTTX", 4), NULL);
    assert_ptr_equal(pt_strnstr(s, sizeof(s) - 1, "1.1", 3), s + 21);
    assert_ptr_equal(pt_strnstr(s, 0, "G", 1), NULL);
    /* NUL bytes in the haystack are ordinary bytes */
    assert_ptr_equal(pt_strnstr(z, 5, "cd", 2), z + 3);
}


static void
test_cpystrn(void **state)
{
    u_char  buf[8], *p;

    memset(buf, 'x', sizeof(buf));
    p = pt_cpystrn(buf, (u_char *) "hello world", 6);
    assert_ptr_equal(p, buf + 5);
    assert_string_equal((char *) buf, "hello");
    assert_int_equal(buf[6], 'x');

    memset(buf, 'x', sizeof(buf));
    p = pt_cpystrn(buf, (u_char *) "hi", sizeof(buf));
    assert_ptr_equal(p, buf + 2);
    assert_string_equal((char *) buf, "hi");
    assert_int_equal(buf[3], 'x');

    memset(buf, 'x', sizeof(buf));
    p = pt_cpystrn(buf, (u_char *) "abc", 1);
    assert_ptr_equal(p, buf);
    assert_int_equal(buf[0], '\0');

    memset(buf, 'x', sizeof(buf));
    p = pt_cpystrn(buf, (u_char *) "abc", 0);
    assert_ptr_equal(p, buf);
    assert_int_equal(buf[0], 'x');
}


static void
test_pool_copies(void **state)
{
    char      *c;
    u_char    *p;
    size_t     len;
    pt_str_t   dst, empty = pt_null_string;
    pt_pool_t *pool = *state;
    pt_str_t   src = { 5, (u_char *) "abcdefgh" };

    c = pt_str_to_cstr(pool, &src);
    assert_non_null(c);
    assert_string_equal(c, "abcde");

    c = pt_str_to_cstr(pool, &empty);
    assert_non_null(c);
    assert_string_equal(c, "");

    p = pt_pstrdup(pool, &src);
    assert_non_null(p);
    assert_ptr_not_equal(p, src.data);
    assert_memory_equal(p, "abcde", 5);

    assert_int_equal(pt_str_dup(pool, &dst, &src), PT_OK);
    assert_int_equal(dst.len, 5);
    assert_ptr_not_equal(dst.data, src.data);
    assert_memory_equal(dst.data, "abcde", 5);

    len = 12345;
    p = pt_psprintf(pool, &len, "%s=%d;%.*s", "max", 42, PT_STR_ARG(src));
    assert_non_null(p);
    assert_int_equal(len, sizeof("max=42;abcde") - 1);
    assert_string_equal((char *) p, "max=42;abcde");

    p = pt_psprintf(pool, NULL, "%s", "");
    assert_non_null(p);
    assert_string_equal((char *) p, "");

    /* longer than a pool block: served as a large allocation */
    p = pt_psprintf(pool, &len, "%5000d|", 7);
    assert_non_null(p);
    assert_int_equal(len, 5001);
    assert_int_equal(p[4999], '7');
    assert_int_equal(p[5000], '|');
    assert_int_equal(p[5001], '\0');
}


static void
test_atoi(void **state)
{
    assert_int_equal(pt_atoi((u_char *) "0", 1), 0);
    assert_int_equal(pt_atoi((u_char *) "00042", 5), 42);
    assert_int_equal(pt_atoi((u_char *) "12345xyz", 5), 12345);
    assert_int_equal(pt_atoi((u_char *) "", 0), PT_ERROR);
    assert_int_equal(pt_atoi((u_char *) "-1", 2), PT_ERROR);
    assert_int_equal(pt_atoi((u_char *) "+1", 2), PT_ERROR);
    assert_int_equal(pt_atoi((u_char *) " 1", 2), PT_ERROR);
    assert_int_equal(pt_atoi((u_char *) "1 ", 2), PT_ERROR);
    assert_int_equal(pt_atoi((u_char *) "1a", 2), PT_ERROR);
    assert_int_equal(pt_atoi((u_char *) "9223372036854775807", 19),
                     INT64_MAX);
    assert_int_equal(pt_atoi((u_char *) "9223372036854775808", 19), PT_ERROR);
    assert_int_equal(pt_atoi((u_char *) "99999999999999999999", 20),
                     PT_ERROR);

    assert_int_equal(pt_atoof((u_char *) "1048576", 7), 1048576);
    assert_int_equal(pt_atoof((u_char *) "", 0), PT_ERROR);
    assert_int_equal(pt_atoof((u_char *) "12.5", 4), PT_ERROR);
    assert_true(pt_atoof((u_char *) "9223372036854775807", 19) == INT64_MAX);
    assert_int_equal(pt_atoof((u_char *) "9223372036854775808", 19),
                     PT_ERROR);

    assert_int_equal(pt_hextoi((u_char *) "ff", 2), 255);
    assert_int_equal(pt_hextoi((u_char *) "FF", 2), 255);
    assert_int_equal(pt_hextoi((u_char *) "0", 1), 0);
    assert_int_equal(pt_hextoi((u_char *) "1aB2", 4), 0x1ab2);
    assert_int_equal(pt_hextoi((u_char *) "", 0), PT_ERROR);
    assert_int_equal(pt_hextoi((u_char *) "0x1", 3), PT_ERROR);
    assert_int_equal(pt_hextoi((u_char *) "g", 1), PT_ERROR);
    assert_int_equal(pt_hextoi((u_char *) "-1", 2), PT_ERROR);
    assert_int_equal(pt_hextoi((u_char *) "7fffffffffffffff", 16), INT64_MAX);
    assert_int_equal(pt_hextoi((u_char *) "8000000000000000", 16), PT_ERROR);
    assert_int_equal(pt_hextoi((u_char *) "10000000000000000", 17),
                     PT_ERROR);
}


static void
test_parse_size(void **state)
{
    assert_int_equal(pt_parse_size(S("0")), 0);
    assert_int_equal(pt_parse_size(S("0k")), 0);
    assert_int_equal(pt_parse_size(S("512")), 512);
    assert_int_equal(pt_parse_size(S("10k")), 10 * 1024);
    assert_int_equal(pt_parse_size(S("10K")), 10 * 1024);
    assert_int_equal(pt_parse_size(S("1m")), 1024 * 1024);
    assert_int_equal(pt_parse_size(S("3M")), 3 * 1024 * 1024);
    assert_int_equal(pt_parse_size(S("2g")), 2LL * 1024 * 1024 * 1024);
    assert_int_equal(pt_parse_size(S("2G")), 2LL * 1024 * 1024 * 1024);
    assert_int_equal(pt_parse_size(S("9223372036854775807")), INT64_MAX);
    assert_int_equal(pt_parse_size(S("8589934591g")),
                     8589934591LL * 1024 * 1024 * 1024);

    assert_int_equal(pt_parse_size(S("")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("k")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("-1")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("+1")), PT_ERROR);
    assert_int_equal(pt_parse_size(S(" 1")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("1 ")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("1 k")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("1kk")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("1kb")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("1t")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("1.5k")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("9223372036854775808")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("99999999999999999999k")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("9007199254740992k")), PT_ERROR);
    assert_int_equal(pt_parse_size(S("8589934592g")), PT_ERROR);

    assert_true(pt_parse_offset(S("0")) == 0);
    assert_true(pt_parse_offset(S("100m")) == 100LL * 1024 * 1024);
    assert_true(pt_parse_offset(S("5G")) == 5LL * 1024 * 1024 * 1024);
    assert_true(pt_parse_offset(S("9223372036854775807")) == INT64_MAX);
    assert_true(pt_parse_offset(S("9223372036854775808")) == PT_ERROR);
    assert_true(pt_parse_offset(S("99999999999999999999k")) == PT_ERROR);
    assert_true(pt_parse_offset(S("")) == PT_ERROR);
    assert_true(pt_parse_offset(S("1x")) == PT_ERROR);
    assert_true(pt_parse_offset(S("-5")) == PT_ERROR);
}


static void
test_parse_time_ms(void **state)
{
    assert_int_equal(pt_parse_time(S("0"), 0), 0);
    assert_int_equal(pt_parse_time(S("0s"), 0), 0);
    assert_int_equal(pt_parse_time(S("0ms"), 0), 0);
    assert_int_equal(pt_parse_time(S("30"), 0), 30000);
    assert_int_equal(pt_parse_time(S("30s"), 0), 30000);
    assert_int_equal(pt_parse_time(S("500ms"), 0), 500);
    assert_int_equal(pt_parse_time(S("1m"), 0), 60000);
    assert_int_equal(pt_parse_time(S("1h"), 0), 3600000);
    assert_int_equal(pt_parse_time(S("2d"), 0), 2 * 86400000LL);
    assert_int_equal(pt_parse_time(S("1w"), 0), 7 * 86400000LL);
    assert_int_equal(pt_parse_time(S("1M"), 0), 30 * 86400000LL);
    assert_int_equal(pt_parse_time(S("1y"), 0), 365 * 86400000LL);
    assert_int_equal(pt_parse_time(S("1h30m"), 0), 5400000);
    assert_int_equal(pt_parse_time(S("1h 30m"), 0), 5400000);
    assert_int_equal(pt_parse_time(S("1h  30m"), 0), 5400000);
    assert_int_equal(pt_parse_time(S("1s500ms"), 0), 1500);
    assert_int_equal(pt_parse_time(S("1s 500ms"), 0), 1500);
    assert_int_equal(pt_parse_time(S("1y1M1w1d1h1m1s1ms"), 0),
                     (365 + 30 + 7 + 1) * 86400000LL + 3661001);
    /* a trailing bare number is seconds, and so must come after minutes */
    assert_int_equal(pt_parse_time(S("1m 30"), 0), 90000);
    /* the largest representable value, and one past it */
    assert_int_equal(pt_parse_time(S("9223372036854775807ms"), 0),
                     INT64_MAX);
    assert_int_equal(pt_parse_time(S("9223372036854775808ms"), 0),
                     PT_ERROR);
    assert_int_equal(pt_parse_time(S("9223372036854775"), 0),
                     9223372036854775000LL);
    assert_int_equal(pt_parse_time(S("9223372036854776"), 0), PT_ERROR);
    assert_int_equal(pt_parse_time(S("9223372036854775s 807ms"), 0),
                     INT64_MAX);
    assert_int_equal(pt_parse_time(S("9223372036854775s 808ms"), 0),
                     PT_ERROR);
    assert_int_equal(pt_parse_time(S("9223372036854775807"), 0), PT_ERROR);
    assert_int_equal(pt_parse_time(S("9223372036854775808"), 0), PT_ERROR);
    assert_int_equal(pt_parse_time(S("99999999999999999999s"), 0),
                     PT_ERROR);
    assert_int_equal(pt_parse_time(S("292000000y"), 0),
                     292000000LL * 365 * 86400000);
    assert_int_equal(pt_parse_time(S("300000000y"), 0), PT_ERROR);
}


static void
test_parse_time_sec(void **state)
{
    assert_int_equal(pt_parse_time(S("0"), 1), 0);
    assert_int_equal(pt_parse_time(S("30"), 1), 30);
    assert_int_equal(pt_parse_time(S("30s"), 1), 30);
    assert_int_equal(pt_parse_time(S("1h30m"), 1), 5400);
    assert_int_equal(pt_parse_time(S("1h 30m"), 1), 5400);
    assert_int_equal(pt_parse_time(S("1d 1h 1m 1s"), 1), 90061);
    assert_int_equal(pt_parse_time(S("1y"), 1), 365 * 86400);
    assert_int_equal(pt_parse_time(S("2M"), 1), 60 * 86400);
    assert_int_equal(pt_parse_time(S("9223372036854775807"), 1), INT64_MAX);
    assert_int_equal(pt_parse_time(S("9223372036854775807s"), 1), INT64_MAX);
    assert_int_equal(pt_parse_time(S("9223372036854775808"), 1), PT_ERROR);
    assert_int_equal(pt_parse_time(S("9223372036854775807s 1"), 1),
                     PT_ERROR);
    assert_int_equal(pt_parse_time(S("153722867280912931m"), 1), PT_ERROR);
    assert_int_equal(pt_parse_time(S("153722867280912930m"), 1),
                     9223372036854775800LL);

    /* milliseconds are not allowed when seconds are asked for */
    assert_int_equal(pt_parse_time(S("500ms"), 1), PT_ERROR);
    assert_int_equal(pt_parse_time(S("1s500ms"), 1), PT_ERROR);
}


static void
test_parse_time_invalid(void **state)
{
    pt_uint_t  is_sec;

    for (is_sec = 0; is_sec <= 1; is_sec++) {
        assert_int_equal(pt_parse_time(S(""), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S(" "), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("s"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("ms"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("-1s"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("+1s"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1.5s"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1x"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1H"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1S"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1sec"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1 s"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S(" 1s"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1s "), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1h\t30m"), is_sec), PT_ERROR);
        /* units must descend and not repeat */
        assert_int_equal(pt_parse_time(S("30m 1h"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("30m1h"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1h1h"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1s1m"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1d1M"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1s 30"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("30 1h"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1hm"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1h m"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("1mss"), is_sec), PT_ERROR);
        assert_int_equal(pt_parse_time(S("99999999999999999999k"), is_sec),
                         PT_ERROR);
    }

    assert_int_equal(pt_parse_time(S("1ms 1ms"), 0), PT_ERROR);
    assert_int_equal(pt_parse_time(S("1ms 1s"), 0), PT_ERROR);
    assert_int_equal(pt_parse_time(S("1ms1"), 0), PT_ERROR);
}


static void
test_hex_dump(void **state)
{
    u_char  buf[16], *p;

    memset(buf, 'x', sizeof(buf));
    p = pt_hex_dump(buf, (u_char *) "\x00\x0f\xab\xff\x10", 5);
    assert_ptr_equal(p, buf + 10);
    assert_memory_equal(buf, "000fabff10", 10);
    assert_int_equal(buf[10], 'x');

    p = pt_hex_dump(buf, (u_char *) "", 0);
    assert_ptr_equal(p, buf);
}


static void
test_sprint_numbers(void **state)
{
    u_char  buf[32], *p;

    p = pt_sprint_uint(buf, 0);
    assert_int_equal(p - buf, 1);
    assert_memory_equal(buf, "0", 1);

    p = pt_sprint_uint(buf, 100);
    assert_int_equal(p - buf, 3);
    assert_memory_equal(buf, "100", 3);

    p = pt_sprint_uint(buf, UINT64_MAX);
    assert_int_equal(p - buf, 20);
    assert_memory_equal(buf, "18446744073709551615", 20);

    p = pt_sprint_off(buf, -1);
    assert_int_equal(p - buf, 2);
    assert_memory_equal(buf, "-1", 2);

    p = pt_sprint_off(buf, INT64_MIN);
    assert_int_equal(p - buf, 20);
    assert_memory_equal(buf, "-9223372036854775808", 20);

    p = pt_sprint_off(buf, 1048576);
    assert_int_equal(p - buf, 7);
    assert_memory_equal(buf, "1048576", 7);

    p = pt_sprint_hex(buf, 0);
    assert_int_equal(p - buf, 1);
    assert_memory_equal(buf, "0", 1);

    p = pt_sprint_hex(buf, 0x1f40);
    assert_int_equal(p - buf, 4);
    assert_memory_equal(buf, "1f40", 4);

    p = pt_sprint_hex(buf, UINT64_MAX);
    assert_int_equal(p - buf, 16);
    assert_memory_equal(buf, "ffffffffffffffff", 16);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_strlow_and_case_compare),
        cmocka_unit_test(test_str_eq),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_cpystrn),
        cmocka_unit_test_setup_teardown(test_pool_copies, setup_pool,
                                        teardown_pool),
        cmocka_unit_test(test_atoi),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_time_ms),
        cmocka_unit_test(test_parse_time_sec),
        cmocka_unit_test(test_parse_time_invalid),
        cmocka_unit_test(test_hex_dump),
        cmocka_unit_test(test_sprint_numbers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
