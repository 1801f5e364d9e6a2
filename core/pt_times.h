#ifndef PT_TIMES_H
#define PT_TIMES_H

/*
 * The cached clock, refreshed once per event-loop iteration (and after
 * signals). pt_current_msec is monotonic: every timer, timeout and
 * interval is measured on it, so that setting the system clock (by hand,
 * NTP stepping it) neither fires them early nor holds them back.
 * pt_time() is wall seconds, for what the outside world reads as a date:
 * Date, Expires, Last-Modified checks, log lines, $msec; the strings are
 * ready for logs and the Date header.
 */
typedef struct {
    time_t       sec;
    pt_uint_t    msec;
    pt_int_t     gmtoff;    /* minutes east of UTC */
} pt_time_t;

extern volatile pt_msec_t   pt_current_msec;   /* CLOCK_MONOTONIC, ms */
extern volatile pt_time_t  *pt_cached_time;
extern volatile pt_str_t    pt_cached_err_log_time;   /* 2026/11/22 21:30:17 */
extern volatile pt_str_t    pt_cached_http_time;      /* Sun, 22 Nov 2026 ... GMT */
extern volatile pt_str_t    pt_cached_http_log_time;  /* 22/Nov/2026:21:30:17 +0000 */
extern volatile pt_str_t    pt_cached_http_log_iso8601;

#define pt_time()           pt_cached_time->sec
/* seconds on the monotonic clock, for intervals counted in seconds */
#define pt_monotonic_time() ((time_t) (pt_current_msec / 1000))
#define pt_timeofday()      ((pt_time_t *) pt_cached_time)

void pt_time_init(void);
void pt_time_update(void);
/* Formats t as an RFC 9110 IMF-fixdate; buf needs 29 bytes; returns end. */
u_char *pt_http_time(u_char *buf, time_t t);
/* Parses an HTTP date (IMF-fixdate, RFC 850, asctime); PT_ERROR if invalid. */
time_t pt_parse_http_time(const u_char *value, size_t len);
void pt_gmtime(time_t t, struct tm *tp);

#endif /* PT_TIMES_H */
