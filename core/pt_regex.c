/* PCRE2 with JIT: patterns compiled at configuration time, matched per request. */
#include "pt_core.h"


static pcre2_match_data  *pt_regex_match_data;
static pt_uint_t          pt_regex_match_data_size;


static void
pt_regex_cleanup(void *data)
{
    pcre2_code_free(data);
}


pt_int_t
pt_regex_compile(pt_regex_compile_t *rc)
{
    int                 errcode;
    uint32_t            n, options;
    PCRE2_SIZE          erroff;
    pcre2_code         *code;
    pt_regex_t         *re;
    pt_pool_cleanup_t  *cln;

    options = rc->caseless ? PCRE2_CASELESS : 0;

    code = pcre2_compile(rc->pattern.data, rc->pattern.len, options, &errcode,
                         &erroff, NULL);

    if (code == NULL) {
        u_char  msg[96];

        pcre2_get_error_message(errcode, msg, sizeof(msg));

        if (erroff < rc->pattern.len) {
            snprintf((char *) rc->err, sizeof(rc->err), "%s at \"%.*s\"",
                     (char *) msg, (int) (rc->pattern.len - erroff),
                     (char *) rc->pattern.data + erroff);
        } else {
            snprintf((char *) rc->err, sizeof(rc->err), "%s in \"%.*s\"",
                     (char *) msg, PT_STR_ARG(rc->pattern));
        }

        return PT_ERROR;
    }

    cln = pt_pool_cleanup_add(rc->pool, 0);
    if (cln == NULL) {
        pcre2_code_free(code);
        return PT_ERROR;
    }

    cln->handler = pt_regex_cleanup;
    cln->data = code;

    /* JIT is an optimisation: a platform without it still matches */
    (void) pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);

    re = pt_pcalloc(rc->pool, sizeof(pt_regex_t));
    if (re == NULL) {
        return PT_ERROR;
    }

    re->code = code;

    (void) pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &n);
    re->captures = n;

    (void) pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &n);
    re->named_captures = n;

    if (n) {
        (void) pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &n);
        re->name_size = n;
        (void) pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &re->names);
    }

    rc->regex = re;

    return PT_OK;
}


pt_int_t
pt_regex_exec(pt_regex_t *re, const pt_str_t *s, int *captures,
    pt_uint_t size)
{
    int          rc;
    pt_uint_t    i, n;
    PCRE2_SIZE  *ov;

    n = size / 2;

    if (pt_regex_match_data == NULL || pt_regex_match_data_size < n + 1) {
        if (pt_regex_match_data) {
            pcre2_match_data_free(pt_regex_match_data);
        }

        pt_regex_match_data_size = pt_max(n + 1, 10);
        pt_regex_match_data =
            pcre2_match_data_create(pt_regex_match_data_size, NULL);

        if (pt_regex_match_data == NULL) {
            pt_regex_match_data_size = 0;
            return PT_ERROR;
        }
    }

    rc = pcre2_match(re->code, s->data, s->len, 0, 0, pt_regex_match_data,
                     NULL);

    if (rc == PCRE2_ERROR_NOMATCH) {
        return PT_DECLINED;
    }

    if (rc < 0) {
        return PT_ERROR;
    }

    if (rc == 0 || (pt_uint_t) rc > n) {
        rc = (int) n;
    }

    ov = pcre2_get_ovector_pointer(pt_regex_match_data);

    for (i = 0; i < (pt_uint_t) rc; i++) {
        captures[i * 2] = (int) ov[i * 2];
        captures[i * 2 + 1] = (int) ov[i * 2 + 1];
    }

    return rc == 0 ? 1 : rc;
}
