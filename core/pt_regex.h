#ifndef PT_REGEX_H
#define PT_REGEX_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* A compiled PCRE2 pattern (JIT-compiled when the platform allows it). */
typedef struct {
    pcre2_code      *code;
    pt_uint_t        captures;      /* number of capture groups */
    pt_uint_t        named_captures;
    u_char          *names;         /* name table, name_size bytes per entry */
    pt_uint_t        name_size;
} pt_regex_t;

typedef struct {
    pt_str_t         pattern;
    pt_pool_t       *pool;
    pt_uint_t        caseless;
    pt_regex_t      *regex;         /* out */
    u_char           err[128];      /* out, on failure */
} pt_regex_compile_t;

/* Compiles rc->pattern; the code is freed with rc->pool. */
pt_int_t pt_regex_compile(pt_regex_compile_t *rc);
/*
 * Matches s; captures receives up to size/2 (start, end) offset pairs.
 * Returns the number of pairs set (>0), PT_DECLINED for no match, or
 * PT_ERROR (e.g. match limit).
 */
pt_int_t pt_regex_exec(pt_regex_t *re, const pt_str_t *s, int *captures,
    pt_uint_t size);

#endif /* PT_REGEX_H */
