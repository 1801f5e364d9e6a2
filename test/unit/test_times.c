/*
 * Unit tests for core/pt_times.c: IMF-fixdate formatting of known epochs,
 * strict parsing of the three HTTP date formats, the cached strings
 * (shape, time zone offset, stability of old slots), and clock jumps:
 * when the wall clock is set back or forward, the cached wall time and
 * its strings follow it while pt_current_msec and the timers of
 * core/pt_event_timer.c go on undisturbed.
 */
#include "pt_core.h"

#include <ctype.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/syscall.h>


#define D(lit)  (const u_char *) lit, sizeof(lit) - 1


/*
 * The clocks pt_time_update() reads: the system's, or while fake_clock is
 * set, two that the tests move by hand.  This definition takes the place
 * of the C library's for the code linked into this program.
 */
static int              fake_clock;
static struct timespec  fake_monotonic;
static struct timespec  fake_realtime;


int
clock_gettime(clockid_t id, struct timespec *ts)
{
    if (!fake_clock) {
        return (int) syscall(SYS_clock_gettime, id, ts);
    }

    switch (id) {
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_BOOTTIME:
        *ts = fake_monotonic;
        return 0;

    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
        *ts = fake_realtime;
        return 0;

    default:
        errno = EINVAL;
        return -1;
    }
}


static void
fake_clocks_set(time_t mono_sec, long mono_msec, time_t real_sec,
    long real_msec)
{
    fake_clock = 1;
    fake_monotonic.tv_sec = mono_sec;
    fake_monotonic.tv_nsec = mono_msec * 1000000;
    fake_realtime.tv_sec = real_sec;
    fake_realtime.tv_nsec = real_msec * 1000000;
}


/* Time passes: both clocks go forward by ms; the wall clock also jumps. */
static void
fake_clocks_advance(pt_msec_t ms, time_t wall_jump)
{
    fake_monotonic.tv_nsec += (long) (ms % 1000) * 1000000;
    fake_monotonic.tv_sec += (time_t) (ms / 1000)
                             + fake_monotonic.tv_nsec / 1000000000;
    fake_monotonic.tv_nsec %= 1000000000;

    fake_realtime.tv_nsec += (long) (ms % 1000) * 1000000;
    fake_realtime.tv_sec += (time_t) (ms / 1000) + wall_jump
                            + fake_realtime.tv_nsec / 1000000000;
    fake_realtime.tv_nsec %= 1000000000;

    pt_time_update();
}


static int
fake_clocks_off(void **state)
{
    fake_clock = 0;
    pt_time_init();

    return 0;
}


static void
check_http_time(time_t t, const char *expected)
{
    u_char  buf[40], *p;

    memset(buf, 'x', sizeof(buf));
    p = pt_http_time(buf, t);

    assert_int_equal(p - buf, 29);
    assert_memory_equal(buf, expected, 29);
    assert_int_equal(buf[29], 'x');
}


static void
test_http_time(void **state)
{
    check_http_time(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    check_http_time(784111777, "Sun, 06 Nov 1994 08:49:37 GMT");
    check_http_time(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
    check_http_time(2147483647, "Tue, 19 Jan 2038 03:14:07 GMT");
    check_http_time(4102444800LL, "Fri, 01 Jan 2100 00:00:00 GMT");
    check_http_time(1700000000, "Tue, 14 Nov 2023 22:13:20 GMT");
    check_http_time(253402300799LL, "Fri, 31 Dec 9999 23:59:59 GMT");

    /* out of range: clamped, never longer than 29 bytes */
    check_http_time(-1, "Thu, 01 Jan 1970 00:00:00 GMT");
    check_http_time(253402300800LL, "Fri, 31 Dec 9999 23:59:59 GMT");
    check_http_time(INT64_MAX, "Fri, 31 Dec 9999 23:59:59 GMT");
}


static void
test_gmtime(void **state)
{
    struct tm  tm;

    pt_gmtime(784111777, &tm);
    assert_int_equal(tm.tm_year, 94);
    assert_int_equal(tm.tm_mon, 10);
    assert_int_equal(tm.tm_mday, 6);
    assert_int_equal(tm.tm_hour, 8);
    assert_int_equal(tm.tm_min, 49);
    assert_int_equal(tm.tm_sec, 37);
    assert_int_equal(tm.tm_wday, 0);

    /* beyond struct tm's range: a defined answer, not garbage */
    pt_gmtime(INT64_MAX, &tm);
    assert_int_equal(tm.tm_year, 70);
    assert_int_equal(tm.tm_mday, 1);
}


static void
test_parse_formats(void **state)
{
    /* the three forms of RFC 9110's example */
    assert_int_equal(pt_parse_http_time(D("Sun, 06 Nov 1994 08:49:37 GMT")),
                     784111777);
    assert_int_equal(pt_parse_http_time(D("Sunday, 06-Nov-94 08:49:37 GMT")),
                     784111777);
    assert_int_equal(pt_parse_http_time(D("Sun Nov  6 08:49:37 1994")),
                     784111777);

    assert_int_equal(pt_parse_http_time(D("Thu, 01 Jan 1970 00:00:00 GMT")),
                     0);
    assert_int_equal(pt_parse_http_time(D("Tue, 29 Feb 2000 00:00:00 GMT")),
                     951782400);
    assert_int_equal(pt_parse_http_time(D("Tue, 19 Jan 2038 03:14:07 GMT")),
                     2147483647);
    assert_int_equal(pt_parse_http_time(D("Fri, 31 Dec 9999 23:59:59 GMT")),
                     253402300799LL);
    assert_int_equal(pt_parse_http_time(D("Tue Feb 29 00:00:00 2000")),
                     951782400);
    assert_int_equal(pt_parse_http_time(D("Tue Nov 14 22:13:20 2023")),
                     1700000000);

    /* two-digit years: 70-99 are 19xx, 00-69 are 20xx */
    assert_int_equal(pt_parse_http_time(D("Thursday, 01-Jan-70 00:00:00 GMT")),
                     0);
    assert_int_equal(pt_parse_http_time(D("Tuesday, 19-Jan-38 03:14:07 GMT")),
                     2147483647);
    assert_int_equal(pt_parse_http_time(D("Tuesday, 29-Feb-00 00:00:00 GMT")),
                     951782400);
    assert_int_equal(pt_parse_http_time(D("Wednesday, 31-Dec-69 23:59:59 GMT")),
                     3155759999LL);
    assert_int_equal(pt_parse_http_time(D("Saturday, 01-Jan-00 00:00:00 GMT")),
                     946684800);
    assert_int_equal(pt_parse_http_time(D("Monday, 01-Jan-01 00:00:00 GMT")),
                     978307200);
    assert_int_equal(pt_parse_http_time(D("Friday, 01-Jan-99 00:00:00 GMT")),
                     915148800);

    /* a leap second counts as the next second */
    assert_int_equal(pt_parse_http_time(D("Sun, 06 Nov 1994 08:49:60 GMT")),
                     784111800);

    /* the weekday is not checked against the date */
    assert_int_equal(pt_parse_http_time(D("Mon, 06 Nov 1994 08:49:37 GMT")),
                     784111777);
}


static void
test_parse_round_trip(void **state)
{
    u_char     buf[32];
    time_t     t;
    pt_uint_t  i;

    for (i = 0, t = 0; i < 2000; i++, t += 86400 * 37 + 3671) {
        (void) pt_http_time(buf, t);
        assert_int_equal(pt_parse_http_time(buf, 29), t);
    }
}


static void
test_parse_garbage(void **state)
{
    size_t  i;

    static const char  *bad[] = {
        "",
        "S",
        "Sun,",
        "garbage",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        " Sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "Sun, 06 Nov 1994 08:49:37",
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Xyz 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun,  6 Nov 1994 08:49:37 GMT",
        "Sun, 06  Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37  GMT",
        "Sun, 06 Nov 1994 08-49-37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 32 Jan 1994 08:49:37 GMT",
        "Mon, 29 Feb 1900 00:00:00 GMT",
        "Thu, 29 Feb 2001 00:00:00 GMT",
        "Wed, 31 Dec 1969 23:59:59 GMT",
        "Sun, 0x Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 19a4 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:3x GMT",
        "Sun, 06 Nov +994 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 UTC",
        "Sunday, 06-Nov-94 08:49:37 GMT ",
        "Sunday 06-Nov-94 08:49:37 GMT",
        "Sundae, 06-Nov-94 08:49:37 GMT",
        "Sunday, 31-Nov-94 08:49:37 GMT",
        "Sunday, 6-Nov-94 08:49:37 GMT",
        "Sun Nov 06 08:49:37 1994",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 1994 ",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov  0 08:49:37 1994",
        "Sun Nov 31 08:49:37 1994",
        "Sun Nov  6 08:49:37 GMT 1994",
        "Sun Nov  6 25:49:37 1994",
        "Sun Nov  6 08:49:37 1969",
        "Sun  Nov  6 08:49:37 1994",
    };

    for (i = 0; i < pt_nelems(bad); i++) {
        if (pt_parse_http_time((const u_char *) bad[i], strlen(bad[i]))
            != PT_ERROR)
        {
            fail_msg("accepted \"%s\"", bad[i]);
        }
    }

    /* a NUL inside, and a length that cuts the value short */
    assert_int_equal(pt_parse_http_time(D("Sun, 06 Nov 1994 08:49:37 G\0T")),
                     PT_ERROR);
    assert_int_equal(pt_parse_http_time((u_char *)
                                        "Sun, 06 Nov 1994 08:49:37 GMT", 28),
                     PT_ERROR);
}


static void
check_digits(const u_char *p, const char *shape)
{
    /* shape: 'd' is any digit, '+' is a sign, anything else is literal */
    for ( /* void */ ; *shape; shape++, p++) {
        if (*shape == 'd') {
            assert_true(isdigit(*p));

        } else if (*shape == '+') {
            assert_true(*p == '+' || *p == '-');

        } else if (*shape == 'a') {
            assert_true(isalpha(*p));

        } else {
            assert_int_equal(*p, *shape);
        }
    }
}


static void
check_cached_shapes(void)
{
    u_char      buf[64];
    time_t      now;
    struct tm   tm;
    pt_time_t  *tp;

    /* not pt_timeofday()->x: that macro lacks its outer parentheses */
    tp = pt_timeofday();
    now = pt_time();

    assert_int_equal(pt_cached_err_log_time.len, 19);
    check_digits(pt_cached_err_log_time.data, "dddd/dd/dd dd:dd:dd");

    assert_int_equal(pt_cached_http_time.len, 29);
    check_digits(pt_cached_http_time.data, "aaa, dd aaa dddd dd:dd:dd GMT");

    assert_int_equal(pt_cached_http_log_time.len, 26);
    check_digits(pt_cached_http_log_time.data, "dd/aaa/dddd:dd:dd:dd +dddd");

    assert_int_equal(pt_cached_http_log_iso8601.len, 25);
    check_digits(pt_cached_http_log_iso8601.data, "dddd-dd-ddTdd:dd:dd+dd:dd");

    /* the strings describe the cached second */
    (void) pt_http_time(buf, now);
    assert_memory_equal(pt_cached_http_time.data, buf, 29);
    assert_int_equal(pt_parse_http_time(pt_cached_http_time.data, 29), now);

    assert_non_null(localtime_r(&now, &tm));

    assert_int_equal(strftime((char *) buf, sizeof(buf), "%Y/%m/%d %H:%M:%S",
                              &tm), 19);
    assert_memory_equal(pt_cached_err_log_time.data, buf, 19);

    assert_int_equal(strftime((char *) buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S %z",
                              &tm), 26);
    assert_memory_equal(pt_cached_http_log_time.data, buf, 26);

    assert_int_equal(strftime((char *) buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S",
                              &tm), 19);
    assert_memory_equal(pt_cached_http_log_iso8601.data, buf, 19);

    assert_int_equal(tp->sec, now);
    assert_int_equal(tp->gmtoff, tm.tm_gmtoff / 60);
    assert_true(tp->msec < 1000);
}


static void
test_cached_utc(void **state)
{
    setenv("TZ", "UTC", 1);
    tzset();

    pt_time_init();

    check_cached_shapes();

    assert_int_equal(pt_cached_time->gmtoff, 0);
    assert_memory_equal(pt_cached_http_log_time.data + 20, " +0000", 6);
    assert_memory_equal(pt_cached_http_log_iso8601.data + 19, "+00:00", 6);
}


static void
test_cached_offsets(void **state)
{
    /* POSIX TZ: the sign is inverted, "-5:30" means east of UTC */
    setenv("TZ", "<+0530>-5:30", 1);
    tzset();
    pt_time_init();

    check_cached_shapes();
    assert_int_equal(pt_cached_time->gmtoff, 330);
    assert_memory_equal(pt_cached_http_log_time.data + 20, " +0530", 6);
    assert_memory_equal(pt_cached_http_log_iso8601.data + 19, "+05:30", 6);

    setenv("TZ", "<-0330>3:30", 1);
    tzset();
    pt_time_init();

    check_cached_shapes();
    assert_int_equal(pt_cached_time->gmtoff, -210);
    assert_memory_equal(pt_cached_http_log_time.data + 20, " -0330", 6);
    assert_memory_equal(pt_cached_http_log_iso8601.data + 19, "-03:30", 6);

    setenv("TZ", "UTC", 1);
    tzset();
    pt_time_init();
}


static void
test_cached_slots(void **state)
{
    u_char              old[32];
    time_t              sec;
    pt_msec_t           ms;
    volatile u_char    *data;
    volatile pt_time_t *tp;

    pt_time_init();

    tp = pt_cached_time;
    data = pt_cached_http_time.data;
    sec = pt_time();
    ms = pt_current_msec;
    memcpy(old, (u_char *) data, 29);

    assert_true(ms > 0);

    /* the same second keeps the same slot */
    pt_time_update();

    if (pt_time() == sec) {
        assert_ptr_equal(pt_cached_time, tp);
        assert_ptr_equal(pt_cached_http_time.data, data);
    }

    /* wait for the next second: a new slot, the old one intact */
    while (pt_time() == sec) {
        usleep(10000);
        pt_time_update();
        assert_true(pt_current_msec >= ms);
        ms = pt_current_msec;
    }

    assert_int_equal(pt_time(), sec + 1);
    assert_ptr_not_equal(pt_cached_time, tp);
    assert_ptr_not_equal(pt_cached_http_time.data, data);
    assert_memory_equal((u_char *) data, old, 29);
    assert_int_equal(tp->sec, sec);

    check_cached_shapes();
}


static void
test_clock_jump_cached_time(void **state)
{
    setenv("TZ", "UTC", 1);
    tzset();

    /* "Tue, 14 Nov 2023 22:13:20 GMT", 5000.250s after boot */
    fake_clocks_set(5000, 250, 1700000000, 500);
    pt_time_init();

    assert_int_equal(pt_current_msec, 5000250);
    assert_int_equal(pt_monotonic_time(), 5000);
    assert_int_equal(pt_time(), 1700000000);
    assert_memory_equal(pt_cached_http_time.data,
                        "Tue, 14 Nov 2023 22:13:20 GMT", 29);

    /* a second later the wall clock is set back an hour */
    fake_clocks_advance(1000, -3600);

    assert_int_equal(pt_current_msec, 5001250);
    assert_int_equal(pt_time(), 1700000000 + 1 - 3600);
    assert_memory_equal(pt_cached_http_time.data,
                        "Tue, 14 Nov 2023 21:13:21 GMT", 29);
    assert_memory_equal(pt_cached_err_log_time.data,
                        "2023/11/14 21:13:21", 19);

    /* and then forward a day */
    fake_clocks_advance(1000, 86400);

    assert_int_equal(pt_current_msec, 5002250);
    assert_int_equal(pt_monotonic_time(), 5002);
    assert_int_equal(pt_time(), 1700000000 + 2 - 3600 + 86400);
    assert_memory_equal(pt_cached_http_time.data,
                        "Wed, 15 Nov 2023 21:13:22 GMT", 29);
    assert_memory_equal(pt_cached_http_log_iso8601.data,
                        "2023-11-15T21:13:22+00:00", 25);
}


static pt_uint_t  timer_fired;


static void
timer_handler(pt_event_t *ev)
{
    assert_true(ev->timedout);
    timer_fired++;
}


static void
test_clock_jump_timers(void **state)
{
    pt_event_t  ev;

    fake_clocks_set(7000, 0, 1700000000, 0);
    pt_time_init();
    assert_int_equal(pt_event_timer_init(), PT_OK);

    pt_memzero(&ev, sizeof(pt_event_t));
    ev.handler = timer_handler;
    timer_fired = 0;

    /* a one-second timeout, e.g. proxy_read_timeout 1s */
    pt_event_add_timer(&ev, 1000);
    assert_int_equal(pt_event_find_timer(), 1000);

    /* the wall clock jumps a day forward: the timeout is not over */
    fake_clocks_advance(10, 86400);
    pt_event_expire_timers();
    assert_int_equal(timer_fired, 0);
    assert_int_equal(pt_event_find_timer(), 990);

    /* and two days back: it is not put off either */
    fake_clocks_advance(500, -2 * 86400);
    pt_event_expire_timers();
    assert_int_equal(timer_fired, 0);
    assert_int_equal(pt_event_find_timer(), 490);

    /* it fires when a second has gone by on the monotonic clock */
    fake_clocks_advance(489, 0);
    pt_event_expire_timers();
    assert_int_equal(timer_fired, 0);

    fake_clocks_advance(1, 0);
    pt_event_expire_timers();
    assert_int_equal(timer_fired, 1);
    assert_false(ev.timer_set);
    assert_int_equal(pt_event_find_timer(), PT_TIMER_INFINITE);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_http_time),
        cmocka_unit_test(test_gmtime),
        cmocka_unit_test(test_parse_formats),
        cmocka_unit_test(test_parse_round_trip),
        cmocka_unit_test(test_parse_garbage),
        cmocka_unit_test(test_cached_utc),
        cmocka_unit_test(test_cached_offsets),
        cmocka_unit_test(test_cached_slots),
        cmocka_unit_test_teardown(test_clock_jump_cached_time,
                                  fake_clocks_off),
        cmocka_unit_test_teardown(test_clock_jump_timers, fake_clocks_off),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
