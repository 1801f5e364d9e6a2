/*
 * The cached clock and HTTP dates.
 *
 * pt_time_update() writes each new second into the next of a ring of
 * slots and only then publishes pointers to it, so code holding a pointer
 * from before (a log line being built, a signal handler's caller) keeps
 * reading a complete string. A process is single-threaded; no locks.
 */
#include "pt_core.h"


#define PT_TIME_SLOTS   64

/* "9999-12-31T23:59:59Z", the last second with a four-digit year */
#define PT_TIME_MAX     253402300799LL


static u_char *pt_time_put2(u_char *p, pt_uint_t n);
static u_char *pt_time_put4(u_char *p, pt_uint_t n);
static pt_int_t pt_time_get2(const u_char *p);
static pt_int_t pt_time_get4(const u_char *p);
static pt_int_t pt_time_month(const u_char *p);
static const u_char *pt_time_parse_clock(const u_char *p, struct tm *tm);


volatile pt_msec_t   pt_current_msec;
volatile pt_str_t    pt_cached_err_log_time;
volatile pt_str_t    pt_cached_http_time;
volatile pt_str_t    pt_cached_http_log_time;
volatile pt_str_t    pt_cached_http_log_iso8601;

static pt_uint_t     pt_time_slot;
static pt_time_t     pt_cached_times[PT_TIME_SLOTS];

volatile pt_time_t  *pt_cached_time = &pt_cached_times[0];

static u_char  pt_cached_err_log_times[PT_TIME_SLOTS]
                   [sizeof("1970/01/01 00:00:00")];
static u_char  pt_cached_http_times[PT_TIME_SLOTS]
                   [sizeof("Thu, 01 Jan 1970 00:00:00 GMT")];
static u_char  pt_cached_http_log_times[PT_TIME_SLOTS]
                   [sizeof("01/Jan/1970:00:00:00 +0000")];
static u_char  pt_cached_http_log_iso8601s[PT_TIME_SLOTS]
                   [sizeof("1970-01-01T00:00:00+00:00")];

static const char  *pt_week_days[] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};

static const char  *pt_week_days_long[] = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
    "Saturday"
};

static const char  *pt_months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};


void
pt_time_init(void)
{
    pt_cached_err_log_time.len = sizeof("1970/01/01 00:00:00") - 1;
    pt_cached_http_time.len = sizeof("Thu, 01 Jan 1970 00:00:00 GMT") - 1;
    pt_cached_http_log_time.len = sizeof("01/Jan/1970:00:00:00 +0000") - 1;
    pt_cached_http_log_iso8601.len = sizeof("1970-01-01T00:00:00+00:00") - 1;

    pt_time_slot = 0;
    pt_cached_times[0].sec = -1;
    pt_cached_time = &pt_cached_times[0];

    pt_time_update();
}


/*
 * Reads both clocks. Within the same wall-clock second only the
 * milliseconds change, in place; a new second gets a new slot.
 */
void
pt_time_update(void)
{
    u_char          *p;
    time_t           sec;
    pt_int_t         off;
    pt_uint_t        msec, aoff;
    pt_time_t       *tp;
    struct tm        tm;
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    pt_current_msec = (pt_msec_t) ts.tv_sec * 1000
                      + (pt_msec_t) ts.tv_nsec / 1000000;

    (void) clock_gettime(CLOCK_REALTIME, &ts);
    sec = ts.tv_sec;
    msec = (pt_uint_t) (ts.tv_nsec / 1000000);

    tp = &pt_cached_times[pt_time_slot];

    if (tp->sec == sec && pt_cached_http_time.data != NULL) {
        tp->msec = msec;
        return;
    }

    pt_time_slot = (pt_time_slot + 1) % PT_TIME_SLOTS;

    tp = &pt_cached_times[pt_time_slot];

    tp->sec = sec;
    tp->msec = msec;

    (void) pt_http_time(pt_cached_http_times[pt_time_slot], sec);

    if (localtime_r(&sec, &tm) == NULL) {
        pt_gmtime(sec, &tm);
        tm.tm_gmtoff = 0;
    }

    /* every field below is written with a fixed width, whatever its value */

    off = (pt_int_t) (tm.tm_gmtoff / 60);
    aoff = (pt_uint_t) (off < 0 ? -off : off);

    tp->gmtoff = off;

    p = pt_cached_err_log_times[pt_time_slot];
    p = pt_time_put4(p, tm.tm_year + 1900);
    *p++ = '/';
    p = pt_time_put2(p, tm.tm_mon + 1);
    *p++ = '/';
    p = pt_time_put2(p, tm.tm_mday);
    *p++ = ' ';
    p = pt_time_put2(p, tm.tm_hour);
    *p++ = ':';
    p = pt_time_put2(p, tm.tm_min);
    *p++ = ':';
    p = pt_time_put2(p, tm.tm_sec);
    *p = '\0';

    p = pt_cached_http_log_times[pt_time_slot];
    p = pt_time_put2(p, tm.tm_mday);
    *p++ = '/';
    p = pt_cpymem(p, pt_months[tm.tm_mon], 3);
    *p++ = '/';
    p = pt_time_put4(p, tm.tm_year + 1900);
    *p++ = ':';
    p = pt_time_put2(p, tm.tm_hour);
    *p++ = ':';
    p = pt_time_put2(p, tm.tm_min);
    *p++ = ':';
    p = pt_time_put2(p, tm.tm_sec);
    *p++ = ' ';
    *p++ = off < 0 ? '-' : '+';
    p = pt_time_put2(p, aoff / 60);
    p = pt_time_put2(p, aoff % 60);
    *p = '\0';

    p = pt_cached_http_log_iso8601s[pt_time_slot];
    p = pt_time_put4(p, tm.tm_year + 1900);
    *p++ = '-';
    p = pt_time_put2(p, tm.tm_mon + 1);
    *p++ = '-';
    p = pt_time_put2(p, tm.tm_mday);
    *p++ = 'T';
    p = pt_time_put2(p, tm.tm_hour);
    *p++ = ':';
    p = pt_time_put2(p, tm.tm_min);
    *p++ = ':';
    p = pt_time_put2(p, tm.tm_sec);
    *p++ = off < 0 ? '-' : '+';
    p = pt_time_put2(p, aoff / 60);
    *p++ = ':';
    p = pt_time_put2(p, aoff % 60);
    *p = '\0';

    /* the strings must be complete before anyone can see the new slot */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);

    pt_cached_time = tp;
    pt_cached_http_time.data = pt_cached_http_times[pt_time_slot];
    pt_cached_err_log_time.data = pt_cached_err_log_times[pt_time_slot];
    pt_cached_http_log_time.data = pt_cached_http_log_times[pt_time_slot];
    pt_cached_http_log_iso8601.data =
        pt_cached_http_log_iso8601s[pt_time_slot];
}


/*
 * Times outside 1970 .. 9999 are clamped to those bounds, so the result
 * always has the fixed length of 29 bytes. No NUL is written.
 */
u_char *
pt_http_time(u_char *buf, time_t t)
{
    u_char     *p;
    struct tm   tm;

    if (t < 0) {
        t = 0;

    } else if (t > PT_TIME_MAX) {
        t = PT_TIME_MAX;
    }

    pt_gmtime(t, &tm);

    p = pt_cpymem(buf, pt_week_days[tm.tm_wday], 3);
    *p++ = ',';
    *p++ = ' ';
    p = pt_time_put2(p, tm.tm_mday);
    *p++ = ' ';
    p = pt_cpymem(p, pt_months[tm.tm_mon], 3);
    *p++ = ' ';
    p = pt_time_put4(p, tm.tm_year + 1900);
    *p++ = ' ';
    p = pt_time_put2(p, tm.tm_hour);
    *p++ = ':';
    p = pt_time_put2(p, tm.tm_min);
    *p++ = ':';
    p = pt_time_put2(p, tm.tm_sec);

    return pt_cpymem(p, " GMT", 4);
}


/*
 * Accepts exactly one of (RFC 9110, 5.6.7):
 *   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
 *   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT" (years 70-99 are 19xx)
 *   asctime      "Sun Nov  6 08:49:37 1994"
 * Names are case-sensitive; the weekday must be a weekday name but is not
 * checked against the date. Dates before 1970 are refused, so that a valid
 * result is never PT_ERROR. A leap second (:60) is accepted and counts as
 * the next second.
 */
time_t
pt_parse_http_time(const u_char *value, size_t len)
{
    size_t          wlen;
    time_t          t;
    pt_int_t        day, month, year, mdays;
    pt_uint_t       i;
    struct tm       tm;
    const u_char   *p, *last;

    static const pt_int_t  days[] = {
        31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    p = value;
    last = value + len;

    pt_memzero(&tm, sizeof(struct tm));

    if (len < 4) {
        return PT_ERROR;
    }

    if (p[3] == ',' || p[3] == ' ') {
        /* IMF-fixdate or asctime: a three-letter day name */

        for (i = 0; i < 7; i++) {
            if (memcmp(p, pt_week_days[i], 3) == 0) {
                break;
            }
        }

        if (i == 7) {
            return PT_ERROR;
        }

        if (p[3] == ',') {
            /* "Sun, 06 Nov 1994 08:49:37 GMT" */

            if (len != sizeof("Sun, 06 Nov 1994 08:49:37 GMT") - 1
                || p[4] != ' ' || p[7] != ' ' || p[11] != ' '
                || p[16] != ' ' || memcmp(p + 25, " GMT", 4) != 0)
            {
                return PT_ERROR;
            }

            day = pt_time_get2(p + 5);
            month = pt_time_month(p + 8);
            year = pt_time_get4(p + 12);

            if (pt_time_parse_clock(p + 17, &tm) == NULL) {
                return PT_ERROR;
            }

        } else {
            /* "Sun Nov  6 08:49:37 1994" */

            if (len != sizeof("Sun Nov  6 08:49:37 1994") - 1
                || p[7] != ' ' || p[10] != ' ' || p[19] != ' ')
            {
                return PT_ERROR;
            }

            month = pt_time_month(p + 4);

            if (p[8] == ' ') {
                day = (p[9] >= '1' && p[9] <= '9') ? p[9] - '0' : PT_ERROR;

            } else {
                day = pt_time_get2(p + 8);

                if (day < 10) {
                    day = PT_ERROR;
                }
            }

            if (pt_time_parse_clock(p + 11, &tm) == NULL) {
                return PT_ERROR;
            }

            year = pt_time_get4(p + 20);
        }

    } else {
        /* "Sunday, 06-Nov-94 08:49:37 GMT" */

        wlen = 0;

        for (i = 0; i < 7; i++) {
            wlen = strlen(pt_week_days_long[i]);

            if (len > wlen && memcmp(p, pt_week_days_long[i], wlen) == 0
                && p[wlen] == ',')
            {
                break;
            }
        }

        if (i == 7) {
            return PT_ERROR;
        }

        p += wlen + 1;

        if (last - p != sizeof(" 06-Nov-94 08:49:37 GMT") - 1
            || p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' '
            || memcmp(p + 19, " GMT", 4) != 0)
        {
            return PT_ERROR;
        }

        day = pt_time_get2(p + 1);
        month = pt_time_month(p + 4);
        year = pt_time_get2(p + 8);

        if (year != PT_ERROR) {
            year += (year < 70) ? 2000 : 1900;
        }

        if (pt_time_parse_clock(p + 11, &tm) == NULL) {
            return PT_ERROR;
        }
    }

    if (day == PT_ERROR || month == PT_ERROR || year == PT_ERROR
        || year < 1970 || day < 1)
    {
        return PT_ERROR;
    }

    mdays = days[month];

    if (month == 1 && (year % 4 != 0 || (year % 100 == 0 && year % 400 != 0)))
    {
        mdays = 28;
    }

    if (day > mdays) {
        return PT_ERROR;
    }

    tm.tm_mday = (int) day;
    tm.tm_mon = (int) month;
    tm.tm_year = (int) (year - 1900);

    t = timegm(&tm);

    if (t < 0) {
        return PT_ERROR;
    }

    return t;
}


void
pt_gmtime(time_t t, struct tm *tp)
{
    if (gmtime_r(&t, tp) == NULL) {
        /* out of struct tm's range: say the epoch rather than garbage */
        pt_memzero(tp, sizeof(struct tm));
        tp->tm_mday = 1;
        tp->tm_year = 70;
        tp->tm_wday = 4;
    }
}


static u_char *
pt_time_put2(u_char *p, pt_uint_t n)
{
    *p++ = (u_char) ('0' + n / 10 % 10);
    *p++ = (u_char) ('0' + n % 10);

    return p;
}


static u_char *
pt_time_put4(u_char *p, pt_uint_t n)
{
    *p++ = (u_char) ('0' + n / 1000 % 10);
    *p++ = (u_char) ('0' + n / 100 % 10);
    *p++ = (u_char) ('0' + n / 10 % 10);
    *p++ = (u_char) ('0' + n % 10);

    return p;
}


static pt_int_t
pt_time_get2(const u_char *p)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') {
        return PT_ERROR;
    }

    return (p[0] - '0') * 10 + (p[1] - '0');
}


static pt_int_t
pt_time_get4(const u_char *p)
{
    pt_int_t  hi, lo;

    hi = pt_time_get2(p);
    lo = pt_time_get2(p + 2);

    if (hi == PT_ERROR || lo == PT_ERROR) {
        return PT_ERROR;
    }

    return hi * 100 + lo;
}


/* Returns 0 .. 11 for "Jan" .. "Dec", else PT_ERROR. */
static pt_int_t
pt_time_month(const u_char *p)
{
    pt_int_t  i;

    for (i = 0; i < 12; i++) {
        if (memcmp(p, pt_months[i], 3) == 0) {
            return i;
        }
    }

    return PT_ERROR;
}


/* Parses "hh:mm:ss" into tm; returns the end, or NULL if invalid. */
static const u_char *
pt_time_parse_clock(const u_char *p, struct tm *tm)
{
    pt_int_t  hour, min, sec;

    if (p[2] != ':' || p[5] != ':') {
        return NULL;
    }

    hour = pt_time_get2(p);
    min = pt_time_get2(p + 3);
    sec = pt_time_get2(p + 6);

    if (hour == PT_ERROR || min == PT_ERROR || sec == PT_ERROR
        || hour > 23 || min > 59 || sec > 60)
    {
        return NULL;
    }

    tm->tm_hour = (int) hour;
    tm->tm_min = (int) min;
    tm->tm_sec = (int) sec;

    return p + 8;
}
