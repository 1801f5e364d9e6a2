/*
 * Length-counted strings: comparison, copying, pool duplication and the
 * strict number, size and time parsers the configuration relies on.
 */
#include "pt_core.h"


/* Units of pt_parse_time(), in the order they must appear. */
typedef enum {
    pt_time_unit_none = 0,
    pt_time_unit_year,
    pt_time_unit_month,
    pt_time_unit_week,
    pt_time_unit_day,
    pt_time_unit_hour,
    pt_time_unit_min,
    pt_time_unit_sec,
    pt_time_unit_msec
} pt_time_unit_e;


static int64_t pt_parse_scaled(const pt_str_t *line, int64_t max);


void
pt_strlow(u_char *dst, const u_char *src, size_t n)
{
    u_char  c;

    while (n--) {
        c = *src++;
        *dst++ = pt_tolower(c);
    }
}


pt_int_t
pt_strcasecmp(const u_char *s1, const u_char *s2)
{
    pt_uint_t  c1, c2;

    for (;;) {
        c1 = *s1++;
        c2 = *s2++;

        c1 = pt_tolower(c1);
        c2 = pt_tolower(c2);

        if (c1 != c2) {
            return (pt_int_t) c1 - (pt_int_t) c2;
        }

        if (c1 == 0) {
            return 0;
        }
    }
}


pt_int_t
pt_strncasecmp(const u_char *s1, const u_char *s2, size_t n)
{
    pt_uint_t  c1, c2;

    while (n--) {
        c1 = *s1++;
        c2 = *s2++;

        c1 = pt_tolower(c1);
        c2 = pt_tolower(c2);

        if (c1 != c2) {
            return (pt_int_t) c1 - (pt_int_t) c2;
        }

        if (c1 == 0) {
            return 0;
        }
    }

    return 0;
}


pt_int_t
pt_str_eq(const pt_str_t *a, const pt_str_t *b)
{
    if (a->len != b->len) {
        return 0;
    }

    if (a->len == 0) {
        return 1;
    }

    return memcmp(a->data, b->data, a->len) == 0;
}


pt_int_t
pt_str_caseeq(const pt_str_t *a, const pt_str_t *b)
{
    size_t  i;
    u_char  c1, c2;

    if (a->len != b->len) {
        return 0;
    }

    /* not pt_strncasecmp(): these strings may contain NUL bytes */
    for (i = 0; i < a->len; i++) {
        c1 = a->data[i];
        c2 = b->data[i];

        if (pt_tolower(c1) != pt_tolower(c2)) {
            return 0;
        }
    }

    return 1;
}


/* Returns the first c in [p, last), or NULL. */
u_char *
pt_strlchr(u_char *p, u_char *last, u_char c)
{
    while (p < last) {
        if (*p == c) {
            return p;
        }

        p++;
    }

    return NULL;
}


/*
 * Returns the first occurrence of s2 (len2 bytes) entirely within the
 * first len1 bytes of s1, or NULL; an empty s2 matches at s1. NUL bytes
 * are ordinary bytes here.
 */
u_char *
pt_strnstr(u_char *s1, size_t len1, const char *s2, size_t len2)
{
    u_char  *p, *last;

    if (len2 == 0) {
        return s1;
    }

    if (len1 < len2) {
        return NULL;
    }

    last = s1 + (len1 - len2);

    for (p = s1; p <= last; p++) {
        if (*p == (u_char) s2[0] && memcmp(p + 1, s2 + 1, len2 - 1) == 0) {
            return p;
        }
    }

    return NULL;
}


/*
 * Copies src up to its NUL but at most n - 1 bytes, NUL-terminates dst and
 * returns a pointer to that NUL. With n == 0 nothing is written.
 */
u_char *
pt_cpystrn(u_char *dst, const u_char *src, size_t n)
{
    if (n == 0) {
        return dst;
    }

    while (--n) {
        *dst = *src;

        if (*dst == '\0') {
            return dst;
        }

        dst++;
        src++;
    }

    *dst = '\0';

    return dst;
}


/* Returns a NUL-terminated pool copy of s, or NULL. */
char *
pt_str_to_cstr(pt_pool_t *pool, const pt_str_t *s)
{
    u_char  *p;

    p = pt_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    if (s->len) {
        pt_memcpy(p, s->data, s->len);
    }

    p[s->len] = '\0';

    return (char *) p;
}


/*
 * Returns a pool copy of src's bytes, or NULL. A NUL is appended after the
 * copy for the convenience of system calls; it is not part of the string.
 */
u_char *
pt_pstrdup(pt_pool_t *pool, const pt_str_t *src)
{
    return (u_char *) pt_str_to_cstr(pool, src);
}


pt_int_t
pt_str_dup(pt_pool_t *pool, pt_str_t *dst, const pt_str_t *src)
{
    u_char  *p;

    p = pt_pstrdup(pool, src);
    if (p == NULL) {
        return PT_ERROR;
    }

    dst->len = src->len;
    dst->data = p;

    return PT_OK;
}


/*
 * printf into pool memory: the result is NUL-terminated, *len (when len is
 * not NULL) gets its length without the NUL. Returns NULL on failure.
 */
u_char *
pt_psprintf(pt_pool_t *pool, size_t *len, const char *fmt, ...)
{
    int       n;
    u_char   *p;
    va_list   args, copy;

    va_start(args, fmt);
    va_copy(copy, args);

    p = NULL;

    n = vsnprintf(NULL, 0, fmt, args);
    if (n < 0) {
        goto failed;
    }

    p = pt_pnalloc(pool, (size_t) n + 1);
    if (p == NULL) {
        goto failed;
    }

    if (vsnprintf((char *) p, (size_t) n + 1, fmt, copy) != n) {
        p = NULL;
        goto failed;
    }

    if (len) {
        *len = (size_t) n;
    }

failed:

    va_end(copy);
    va_end(args);

    return p;
}


pt_int_t
pt_atoi(const u_char *line, size_t n)
{
    pt_int_t  value, cutoff, cutlim;

    if (n == 0) {
        return PT_ERROR;
    }

    cutoff = PT_MAX_INT_T_VALUE / 10;
    cutlim = PT_MAX_INT_T_VALUE % 10;

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return PT_ERROR;
        }

        if (value >= cutoff && (value > cutoff || *line - '0' > cutlim)) {
            return PT_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


off_t
pt_atoof(const u_char *line, size_t n)
{
    off_t  value, cutoff, cutlim;

    if (n == 0) {
        return PT_ERROR;
    }

    cutoff = PT_MAX_OFF_T_VALUE / 10;
    cutlim = PT_MAX_OFF_T_VALUE % 10;

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return PT_ERROR;
        }

        if (value >= cutoff && (value > cutoff || *line - '0' > cutlim)) {
            return PT_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


pt_int_t
pt_hextoi(const u_char *line, size_t n)
{
    u_char    c, d;
    pt_int_t  value, cutoff;

    if (n == 0) {
        return PT_ERROR;
    }

    cutoff = PT_MAX_INT_T_VALUE / 16;

    for (value = 0; n--; line++) {
        c = *line;

        if (c >= '0' && c <= '9') {
            d = c - '0';

        } else {
            c = pt_tolower(c);

            if (c >= 'a' && c <= 'f') {
                d = c - 'a' + 10;

            } else {
                return PT_ERROR;
            }
        }

        if (value > cutoff) {
            return PT_ERROR;
        }

        /* cannot overflow: (MAX / 16) * 16 + 15 == MAX */
        value = value * 16 + d;
    }

    return value;
}


/*
 * The common part of pt_parse_size() and pt_parse_offset(): digits with an
 * optional k/m/g suffix, the result not above max.
 */
static int64_t
pt_parse_scaled(const pt_str_t *line, int64_t max)
{
    size_t   len;
    int64_t  value, scale;

    len = line->len;

    if (len == 0) {
        return PT_ERROR;
    }

    switch (line->data[len - 1]) {
    case 'k':
    case 'K':
        scale = 1024;
        len--;
        break;

    case 'm':
    case 'M':
        scale = 1024 * 1024;
        len--;
        break;

    case 'g':
    case 'G':
        scale = 1024 * 1024 * 1024;
        len--;
        break;

    default:
        scale = 1;
    }

    value = pt_atoof(line->data, len);
    if (value == PT_ERROR) {
        return PT_ERROR;
    }

    if (value > max / scale) {
        return PT_ERROR;
    }

    return value * scale;
}


ssize_t
pt_parse_size(const pt_str_t *line)
{
    return (ssize_t) pt_parse_scaled(line, SSIZE_MAX);
}


off_t
pt_parse_offset(const pt_str_t *line)
{
    return (off_t) pt_parse_scaled(line, PT_MAX_OFF_T_VALUE);
}


/*
 * A sequence of parts, each digits followed by a unit (y, M, w, d, h, m,
 * s, ms), optionally separated by spaces; the units must strictly descend.
 * A number without a unit means seconds and may only come last. With is_sec
 * the result is in seconds and "ms" is refused, else in milliseconds.
 */
pt_int_t
pt_parse_time(const pt_str_t *line, pt_uint_t is_sec)
{
    u_char          *p, *last;
    pt_int_t         value, total, scale, cutoff, cutlim;
    pt_uint_t        digits;
    pt_time_unit_e   step, unit;

    p = line->data;
    last = p + line->len;

    if (line->len == 0) {
        return PT_ERROR;
    }

    cutoff = PT_MAX_INT_T_VALUE / 10;
    cutlim = PT_MAX_INT_T_VALUE % 10;

    total = 0;
    step = pt_time_unit_none;

    while (p < last) {

        value = 0;
        digits = 0;

        while (p < last && *p >= '0' && *p <= '9') {
            if (value >= cutoff && (value > cutoff || *p - '0' > cutlim)) {
                return PT_ERROR;
            }

            value = value * 10 + (*p - '0');
            digits++;
            p++;
        }

        if (digits == 0) {
            return PT_ERROR;
        }

        if (p == last) {
            unit = pt_time_unit_sec;

        } else {
            switch (*p) {
            case 'y':
                unit = pt_time_unit_year;
                break;
            case 'M':
                unit = pt_time_unit_month;
                break;
            case 'w':
                unit = pt_time_unit_week;
                break;
            case 'd':
                unit = pt_time_unit_day;
                break;
            case 'h':
                unit = pt_time_unit_hour;
                break;
            case 'm':
                if (p + 1 < last && p[1] == 's') {
                    unit = pt_time_unit_msec;
                    p++;

                } else {
                    unit = pt_time_unit_min;
                }
                break;
            case 's':
                unit = pt_time_unit_sec;
                break;
            default:
                return PT_ERROR;
            }

            p++;
        }

        if (unit <= step) {
            return PT_ERROR;
        }

        step = unit;

        switch (unit) {
        case pt_time_unit_year:
            scale = 365 * 24 * 60 * 60;
            break;
        case pt_time_unit_month:
            scale = 30 * 24 * 60 * 60;
            break;
        case pt_time_unit_week:
            scale = 7 * 24 * 60 * 60;
            break;
        case pt_time_unit_day:
            scale = 24 * 60 * 60;
            break;
        case pt_time_unit_hour:
            scale = 60 * 60;
            break;
        case pt_time_unit_min:
            scale = 60;
            break;
        case pt_time_unit_sec:
            scale = 1;
            break;
        default: /* pt_time_unit_msec */
            scale = 0;
        }

        if (is_sec) {
            if (scale == 0) {
                return PT_ERROR;
            }

        } else {
            scale = (scale == 0) ? 1 : scale * 1000;
        }

        if (value > PT_MAX_INT_T_VALUE / scale) {
            return PT_ERROR;
        }

        value *= scale;

        if (total > PT_MAX_INT_T_VALUE - value) {
            return PT_ERROR;
        }

        total += value;

        if (p < last && *p == ' ') {
            while (p < last && *p == ' ') {
                p++;
            }

            /* spaces separate parts; they may not end the value */
            if (p == last) {
                return PT_ERROR;
            }
        }
    }

    return total;
}


/* Writes 2 * len lowercase hex digits of src to dst; returns the end. */
u_char *
pt_hex_dump(u_char *dst, const u_char *src, size_t len)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }

    return dst;
}


u_char *
pt_sprint_uint(u_char *dst, uint64_t n)
{
    u_char   tmp[PT_INT_T_LEN], *p;
    size_t   len;

    p = tmp + PT_INT_T_LEN;

    do {
        *--p = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    len = tmp + PT_INT_T_LEN - p;

    return pt_cpymem(dst, p, len);
}


u_char *
pt_sprint_off(u_char *dst, off_t n)
{
    if (n < 0) {
        *dst++ = '-';
        return pt_sprint_uint(dst, (uint64_t) 0 - (uint64_t) n);
    }

    return pt_sprint_uint(dst, (uint64_t) n);
}


u_char *
pt_sprint_hex(u_char *dst, uint64_t n)
{
    static const u_char  hex[] = "0123456789abcdef";
    u_char               tmp[16], *p;

    p = tmp + 16;

    do {
        *--p = hex[n & 0xf];
        n >>= 4;
    } while (n);

    return pt_cpymem(dst, p, tmp + 16 - p);
}
