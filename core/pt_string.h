#ifndef PT_STRING_H
#define PT_STRING_H

/* A length-counted string; data is never assumed to be NUL-terminated. */
typedef struct {
    size_t      len;
    u_char     *data;
} pt_str_t;

typedef struct {
    pt_str_t    key;
    pt_str_t    value;
} pt_keyval_t;

#define pt_string(str)      { sizeof(str) - 1, (u_char *) str }
#define pt_null_string      { 0, NULL }
#define pt_str_set(str, text)                                                \
    do {                                                                     \
        (str)->len = sizeof(text) - 1;                                       \
        (str)->data = (u_char *) text;                                       \
    } while (0)
#define pt_str_null(str)                                                     \
    do {                                                                     \
        (str)->len = 0;                                                      \
        (str)->data = NULL;                                                  \
    } while (0)

/* For printf-style formats: printf("%.*s", PT_STR_ARG(name)). */
#define PT_STR_ARG(s)       (int) (s).len, (const char *) (s).data

#define pt_tolower(c)                                                        \
    ((u_char) (((c) >= 'A' && (c) <= 'Z') ? ((c) | 0x20) : (c)))
#define pt_toupper(c)                                                        \
    ((u_char) (((c) >= 'a' && (c) <= 'z') ? ((c) & ~0x20) : (c)))

#define pt_strncmp(s1, s2, n)  strncmp((const char *) s1, (const char *) s2, n)
#define pt_strcmp(s1, s2)      strcmp((const char *) s1, (const char *) s2)
#define pt_strlen(s)           strlen((const char *) s)
#define pt_strchr(s1, c)       strchr((const char *) s1, (int) c)

#define pt_memzero(buf, n)     (void) memset(buf, 0, n)
#define pt_memset(buf, c, n)   (void) memset(buf, c, n)
#define pt_memcpy(dst, src, n) (void) memcpy(dst, src, n)
#define pt_cpymem(dst, src, n) (((u_char *) memcpy(dst, src, n)) + (n))
#define pt_memmove(dst, src, n) (void) memmove(dst, src, n)
#define pt_memcmp(s1, s2, n)   memcmp((const char *) s1, (const char *) s2, n)

/* True when the pt_str_t equals the C literal, compared exactly. */
#define pt_str_eq_lit(s, lit)                                                \
    ((s)->len == sizeof(lit) - 1 && memcmp((s)->data, lit, sizeof(lit) - 1) == 0)
#define pt_str_caseeq_lit(s, lit)                                            \
    ((s)->len == sizeof(lit) - 1                                             \
     && pt_strncasecmp((s)->data, (u_char *) lit, sizeof(lit) - 1) == 0)

void pt_strlow(u_char *dst, const u_char *src, size_t n);
pt_int_t pt_strcasecmp(const u_char *s1, const u_char *s2);
pt_int_t pt_strncasecmp(const u_char *s1, const u_char *s2, size_t n);
pt_int_t pt_str_eq(const pt_str_t *a, const pt_str_t *b);
pt_int_t pt_str_caseeq(const pt_str_t *a, const pt_str_t *b);
u_char *pt_strlchr(u_char *p, u_char *last, u_char c);
u_char *pt_strnstr(u_char *s1, size_t len1, const char *s2, size_t len2);
u_char *pt_cpystrn(u_char *dst, const u_char *src, size_t n);
char *pt_str_to_cstr(pt_pool_t *pool, const pt_str_t *s);
u_char *pt_pstrdup(pt_pool_t *pool, const pt_str_t *src);
pt_int_t pt_str_dup(pt_pool_t *pool, pt_str_t *dst, const pt_str_t *src);
u_char *pt_psprintf(pt_pool_t *pool, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Number parsing: return PT_ERROR on any non-digit, empty input or overflow. */
pt_int_t pt_atoi(const u_char *line, size_t n);
off_t pt_atoof(const u_char *line, size_t n);
pt_int_t pt_hextoi(const u_char *line, size_t n);

/* "10k", "1m", "2g" (and plain bytes) → bytes; PT_ERROR when invalid. */
ssize_t pt_parse_size(const pt_str_t *line);
off_t pt_parse_offset(const pt_str_t *line);
/*
 * "500ms", "30s", "1h 30m", "2d"; a bare number means seconds. Returns
 * milliseconds (is_sec 0) or seconds (is_sec 1); PT_ERROR when invalid.
 */
pt_int_t pt_parse_time(const pt_str_t *line, pt_uint_t is_sec);

u_char *pt_hex_dump(u_char *dst, const u_char *src, size_t len);

/*
 * Number formatting without printf, for hot paths: decimal and lowercase
 * hex digits of n written at dst (no NUL); each returns the end. dst needs
 * PT_INT_T_LEN (20) and 16 bytes at most; pt_sprint_off writes a leading
 * "-" for a negative n.
 */
u_char *pt_sprint_uint(u_char *dst, uint64_t n);
u_char *pt_sprint_off(u_char *dst, off_t n);
u_char *pt_sprint_hex(u_char *dst, uint64_t n);

#endif /* PT_STRING_H */
