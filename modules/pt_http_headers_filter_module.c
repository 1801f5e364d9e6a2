/*
 * The headers filter: "add_header NAME VALUE [always]" and "expires".
 *
 * Headers are added to responses with a status that says the content is
 * what was asked for or where it went (200, 201, 204, 206, 301, 302, 303,
 * 304, 307, 308), and with "always" to every response. A level that has
 * add_header directives of its own does not inherit its parent's.
 *
 * "expires [modified] TIME | epoch | max | off" sets Expires and
 * Cache-Control (max-age, or no-cache for a time in the past), for the
 * same statuses.
 */
#include "pt_http.h"


#define PT_HTTP_EXPIRES_OFF       0
#define PT_HTTP_EXPIRES_EPOCH     1
#define PT_HTTP_EXPIRES_MAX       2
#define PT_HTTP_EXPIRES_ACCESS    3
#define PT_HTTP_EXPIRES_MODIFIED  4


typedef struct {
    pt_str_t                  name;
    pt_http_complex_value_t   value;
    unsigned                  always:1;
} pt_http_header_val_t;

typedef struct {
    pt_array_t               *headers;      /* of pt_http_header_val_t */
    pt_uint_t                 expires;      /* PT_HTTP_EXPIRES_* */
    time_t                    expires_time; /* seconds, may be negative */
} pt_http_headers_loc_conf_t;


static pt_int_t pt_http_headers_set_expires(pt_http_request_t *r,
    pt_http_headers_loc_conf_t *conf);
static pt_table_elt_t *pt_http_headers_push(pt_http_request_t *r,
    const char *name, size_t len);
static pt_int_t pt_http_headers_add(pt_http_request_t *r,
    pt_http_header_val_t *hv);
static void *pt_http_headers_create_loc_conf(pt_conf_t *cf);
static char *pt_http_headers_merge_loc_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_headers_filter_init(pt_conf_t *cf);
static char *pt_http_headers_add_header(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_headers_expires(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);


static pt_command_t  pt_http_headers_filter_commands[] = {

    { pt_string("add_header"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF
      | PT_HTTP_LIF_CONF | PT_CONF_TAKE23,
      pt_http_headers_add_header,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("expires"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF
      | PT_HTTP_LIF_CONF | PT_CONF_TAKE12,
      pt_http_headers_expires,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_headers_filter_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_headers_filter_init,            /* postconfiguration */
    NULL,                                   /* create main configuration */
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    pt_http_headers_create_loc_conf,
    pt_http_headers_merge_loc_conf
};


pt_module_t  pt_http_headers_filter_module = {
    .ctx = &pt_http_headers_filter_module_ctx,
    .commands = pt_http_headers_filter_commands,
    .type = PT_HTTP_MODULE,
};


static pt_http_output_header_filter_pt  pt_http_next_header_filter;


static pt_int_t
pt_http_headers_filter(pt_http_request_t *r)
{
    pt_uint_t                    i, safe;
    pt_http_header_val_t        *hv;
    pt_http_headers_loc_conf_t  *conf;

    if (r != r->main) {
        return pt_http_next_header_filter(r);
    }

    conf = pt_http_get_module_loc_conf(r, pt_http_headers_filter_module);

    if (conf->expires == PT_HTTP_EXPIRES_OFF && conf->headers == NULL) {
        return pt_http_next_header_filter(r);
    }

    switch (r->headers_out.status) {
    case PT_HTTP_OK:
    case PT_HTTP_CREATED:
    case PT_HTTP_NO_CONTENT:
    case PT_HTTP_PARTIAL_CONTENT:
    case PT_HTTP_MOVED_PERMANENTLY:
    case PT_HTTP_MOVED_TEMPORARILY:
    case PT_HTTP_SEE_OTHER:
    case PT_HTTP_NOT_MODIFIED:
    case PT_HTTP_TEMPORARY_REDIRECT:
    case PT_HTTP_PERMANENT_REDIRECT:
        safe = 1;
        break;
    default:
        safe = 0;
    }

    if (safe && conf->expires != PT_HTTP_EXPIRES_OFF) {
        if (pt_http_headers_set_expires(r, conf) != PT_OK) {
            return PT_ERROR;
        }
    }

    if (conf->headers) {
        hv = conf->headers->elts;

        for (i = 0; i < conf->headers->nelts; i++) {
            if (!safe && !hv[i].always) {
                continue;
            }

            if (pt_http_headers_add(r, &hv[i]) != PT_OK) {
                return PT_ERROR;
            }
        }
    }

    return pt_http_next_header_filter(r);
}


static pt_table_elt_t *
pt_http_headers_push(pt_http_request_t *r, const char *name, size_t len)
{
    pt_table_elt_t  *h;

    h = pt_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->next = NULL;
    h->key.data = (u_char *) name;
    h->key.len = len;
    h->lowcase_key = NULL;
    pt_str_null(&h->value);

    return h;
}


/* Expires and Cache-Control, replacing any the response already has. */
static pt_int_t
pt_http_headers_set_expires(pt_http_request_t *r,
    pt_http_headers_loc_conf_t *conf)
{
    int              n;
    time_t           now, expires, max_age;
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_table_elt_t  *e, *cc, *h;

    e = r->headers_out.expires;

    if (e == NULL || e->hash == 0) {
        e = pt_http_headers_push(r, "Expires", sizeof("Expires") - 1);
        if (e == NULL) {
            return PT_ERROR;
        }

        r->headers_out.expires = e;
    }

    /* the first Cache-Control stays (rewritten), any others go */

    cc = NULL;
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != sizeof("Cache-Control") - 1
            || pt_strncasecmp(h[i].key.data, (u_char *) "Cache-Control",
                              sizeof("Cache-Control") - 1) != 0)
        {
            continue;
        }

        if (cc == NULL) {
            cc = &h[i];
        } else {
            h[i].hash = 0;
        }
    }

    if (cc == NULL) {
        cc = pt_http_headers_push(r, "Cache-Control",
                                  sizeof("Cache-Control") - 1);
        if (cc == NULL) {
            return PT_ERROR;
        }
    }

    switch (conf->expires) {

    case PT_HTTP_EXPIRES_EPOCH:
        pt_str_set(&e->value, "Thu, 01 Jan 1970 00:00:01 GMT");
        pt_str_set(&cc->value, "no-cache");
        return PT_OK;

    case PT_HTTP_EXPIRES_MAX:
        pt_str_set(&e->value, "Thu, 31 Dec 2037 23:55:55 GMT");
        /* ten years */
        pt_str_set(&cc->value, "max-age=315360000");
        return PT_OK;
    }

    e->value.data = pt_pnalloc(r->pool,
                               sizeof("Mon, 28 Sep 1970 06:00:00 GMT"));
    if (e->value.data == NULL) {
        return PT_ERROR;
    }

    now = pt_time();

    if (conf->expires == PT_HTTP_EXPIRES_MODIFIED
        && r->headers_out.last_modified_time != -1)
    {
        expires = r->headers_out.last_modified_time + conf->expires_time;
    } else {
        expires = now + conf->expires_time;
    }

    e->value.len = pt_http_time(e->value.data, expires) - e->value.data;

    max_age = expires - now;

    if (conf->expires_time < 0 || max_age < 0) {
        pt_str_set(&cc->value, "no-cache");
        return PT_OK;
    }

    cc->value.data = pt_pnalloc(r->pool, sizeof("max-age=") + PT_INT_T_LEN);
    if (cc->value.data == NULL) {
        return PT_ERROR;
    }

    n = snprintf((char *) cc->value.data, sizeof("max-age=") + PT_INT_T_LEN,
                 "max-age=%lld", (long long) max_age);
    cc->value.len = n;

    return PT_OK;
}


static pt_int_t
pt_http_headers_add(pt_http_request_t *r, pt_http_header_val_t *hv)
{
    u_char          *p, *last;
    pt_str_t         value;
    pt_table_elt_t  *h;

    if (pt_http_complex_value(r, &hv->value, &value) != PT_OK) {
        return PT_ERROR;
    }

    if (value.len == 0) {
        /* nginx: an empty value adds nothing */
        return PT_OK;
    }

    /* a variable must not be able to split the head */
    last = value.data + value.len;

    for (p = value.data; p < last; p++) {
        if (*p == '\r' || *p == '\n' || *p == '\0') {
            pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                         "the value of \"add_header %.*s\" holds a control "
                         "character, not added", PT_STR_ARG(hv->name));
            return PT_OK;
        }
    }

    h = pt_http_headers_push(r, (char *) hv->name.data, hv->name.len);
    if (h == NULL) {
        return PT_ERROR;
    }

    h->value = value;

    /* these two replace what the response had */

    if (pt_str_caseeq_lit(&hv->name, "ETag")) {
        if (r->headers_out.etag) {
            r->headers_out.etag->hash = 0;
        }

        r->headers_out.etag = h;

    } else if (pt_str_caseeq_lit(&hv->name, "Last-Modified")) {
        if (r->headers_out.last_modified) {
            r->headers_out.last_modified->hash = 0;
        }

        r->headers_out.last_modified_time = -1;
        r->headers_out.last_modified = h;
    }

    return PT_OK;
}


static void *
pt_http_headers_create_loc_conf(pt_conf_t *cf)
{
    pt_http_headers_loc_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_headers_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /* headers: NULL, none at this level */

    conf->expires = PT_CONF_UNSET_UINT;
    conf->expires_time = PT_CONF_UNSET;

    return conf;
}


static char *
pt_http_headers_merge_loc_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_headers_loc_conf_t  *prev = parent;
    pt_http_headers_loc_conf_t  *conf = child;

    if (conf->expires == PT_CONF_UNSET_UINT) {
        conf->expires = prev->expires;
        conf->expires_time = prev->expires_time;

        if (conf->expires == PT_CONF_UNSET_UINT) {
            conf->expires = PT_HTTP_EXPIRES_OFF;
            conf->expires_time = 0;
        }
    }

    if (conf->headers == NULL) {
        conf->headers = prev->headers;
    }

    return PT_CONF_OK;
}


static pt_int_t
pt_http_headers_filter_init(pt_conf_t *cf)
{
    pt_http_next_header_filter = pt_http_top_header_filter;
    pt_http_top_header_filter = pt_http_headers_filter;

    return PT_OK;
}


/* add_header NAME VALUE [always] */
static char *
pt_http_headers_add_header(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_headers_loc_conf_t  *hlcf = conf;

    u_char                           *p, *last;
    pt_str_t                         *value;
    pt_http_header_val_t             *hv;
    pt_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (value[1].len == 0) {
        pt_conf_error(cf, "empty header name in \"add_header\"");
        return PT_CONF_ERROR;
    }

    last = value[1].data + value[1].len;

    for (p = value[1].data; p < last; p++) {
        /* a token (RFC 9110 5.6.2) */
        if (*p <= ' ' || *p >= 0x7f || pt_strchr("\"(),/:;<=>?@[\\]{}", *p))
        {
            pt_conf_error(cf, "invalid header name \"%.*s\"",
                          PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }
    }

    last = value[2].data + value[2].len;

    for (p = value[2].data; p < last; p++) {
        if (*p == '\r' || *p == '\n' || *p == '\0') {
            pt_conf_error(cf, "invalid character in the value of "
                          "\"add_header %.*s\"", PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }
    }

    if (cf->args->nelts == 4 && !pt_str_eq_lit(&value[3], "always")) {
        pt_conf_error(cf, "invalid parameter \"%.*s\"", PT_STR_ARG(value[3]));
        return PT_CONF_ERROR;
    }

    if (hlcf->headers == NULL) {
        hlcf->headers = pt_array_create(cf->pool, 2,
                                        sizeof(pt_http_header_val_t));
        if (hlcf->headers == NULL) {
            return PT_CONF_ERROR;
        }
    }

    hv = pt_array_push(hlcf->headers);
    if (hv == NULL) {
        return PT_CONF_ERROR;
    }

    hv->name = value[1];
    hv->always = (cf->args->nelts == 4);

    pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = &hv->value;

    if (pt_http_compile_complex_value(&ccv) != PT_OK) {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


/* expires [modified] TIME | epoch | max | off */
static char *
pt_http_headers_expires(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_headers_loc_conf_t  *hlcf = conf;

    pt_int_t    n;
    pt_str_t   *value, t;
    pt_uint_t   minus;

    if (hlcf->expires != PT_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (pt_str_eq_lit(&value[1], "off")) {
            hlcf->expires = PT_HTTP_EXPIRES_OFF;
            hlcf->expires_time = 0;
            return PT_CONF_OK;
        }

        if (pt_str_eq_lit(&value[1], "epoch")) {
            hlcf->expires = PT_HTTP_EXPIRES_EPOCH;
            hlcf->expires_time = 0;
            return PT_CONF_OK;
        }

        if (pt_str_eq_lit(&value[1], "max")) {
            hlcf->expires = PT_HTTP_EXPIRES_MAX;
            hlcf->expires_time = 0;
            return PT_CONF_OK;
        }

        hlcf->expires = PT_HTTP_EXPIRES_ACCESS;
        t = value[1];

    } else {
        if (!pt_str_eq_lit(&value[1], "modified")) {
            pt_conf_error(cf, "invalid value \"%.*s\" in \"expires\", "
                          "expected \"modified\"", PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }

        hlcf->expires = PT_HTTP_EXPIRES_MODIFIED;
        t = value[2];
    }

    minus = 0;

    if (t.len > 1 && t.data[0] == '-') {
        minus = 1;
        t.data++;
        t.len--;

    } else if (t.len > 1 && t.data[0] == '+') {
        t.data++;
        t.len--;
    }

    n = pt_parse_time(&t, 1);

    if (n == PT_ERROR) {
        pt_conf_error(cf, "invalid value \"%.*s\" in \"expires\"",
                      PT_STR_ARG(value[cf->args->nelts - 1]));
        return PT_CONF_ERROR;
    }

    hlcf->expires_time = minus ? -(time_t) n : (time_t) n;

    return PT_CONF_OK;
}
