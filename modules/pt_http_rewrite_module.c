/*
 * The rewrite module: "return" for now. It runs in the server rewrite phase
 * for directives at server level and in the rewrite phase for those in a
 * location; locations do not inherit the server's (as in nginx).
 */
#include "pt_http.h"


typedef struct {
    pt_int_t                  status;   /* PT_CONF_UNSET: no return here */
    pt_http_complex_value_t   text;     /* body, or the URL of a redirect */
    unsigned                  has_text:1;
} pt_http_rewrite_loc_conf_t;


static void *pt_http_rewrite_create_loc_conf(pt_conf_t *cf);
static char *pt_http_rewrite_merge_loc_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_rewrite_init(pt_conf_t *cf);
static char *pt_http_rewrite_return(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);


static pt_command_t  pt_http_rewrite_commands[] = {

    { pt_string("return"),
      PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE12,
      pt_http_rewrite_return,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_rewrite_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_rewrite_init,                   /* postconfiguration */
    NULL,                                   /* create main configuration */
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    pt_http_rewrite_create_loc_conf,
    pt_http_rewrite_merge_loc_conf
};


pt_module_t  pt_http_rewrite_module = {
    .ctx = &pt_http_rewrite_module_ctx,
    .commands = pt_http_rewrite_commands,
    .type = PT_HTTP_MODULE,
};


static pt_int_t
pt_http_rewrite_handler(pt_http_request_t *r)
{
    pt_str_t                     text;
    pt_table_elt_t              *location;
    pt_http_rewrite_loc_conf_t  *rlcf;

    rlcf = pt_http_get_module_loc_conf(r, pt_http_rewrite_module);

    if (rlcf->status == PT_CONF_UNSET) {
        return PT_DECLINED;
    }

    if (rlcf->status == PT_HTTP_CLOSE) {
        return PT_HTTP_CLOSE;
    }

    if (rlcf->status == PT_HTTP_MOVED_PERMANENTLY
        || rlcf->status == PT_HTTP_MOVED_TEMPORARILY
        || rlcf->status == PT_HTTP_SEE_OTHER
        || rlcf->status == PT_HTTP_TEMPORARY_REDIRECT
        || rlcf->status == PT_HTTP_PERMANENT_REDIRECT)
    {
        location = pt_list_push(&r->headers_out.headers);
        if (location == NULL) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (pt_http_complex_value(r, &rlcf->text, &text) != PT_OK) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        location->hash = 1;
        pt_str_set(&location->key, "Location");
        location->value = text;
        location->next = NULL;
        r->headers_out.location = location;

        return rlcf->status;
    }

    if (!rlcf->has_text) {
        if (rlcf->status >= PT_HTTP_SPECIAL_RESPONSE
            || rlcf->status == PT_HTTP_NO_CONTENT)
        {
            return rlcf->status;
        }

        return pt_http_send_response(r, rlcf->status, NULL, NULL) == PT_OK
               ? PT_OK : PT_ERROR;
    }

    if (pt_http_complex_value(r, &rlcf->text, &text) != PT_OK) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    return pt_http_send_response(r, rlcf->status, NULL, &text) == PT_OK
           ? PT_OK : PT_ERROR;
}


static void *
pt_http_rewrite_create_loc_conf(pt_conf_t *cf)
{
    pt_http_rewrite_loc_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_rewrite_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->status = PT_CONF_UNSET;

    return conf;
}


static char *
pt_http_rewrite_merge_loc_conf(pt_conf_t *cf, void *parent, void *child)
{
    /* nothing is inherited: each level runs only its own "return" */
    return PT_CONF_OK;
}


static pt_int_t
pt_http_rewrite_init(pt_conf_t *cf)
{
    pt_http_handler_pt        *h;
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    h = pt_array_push(&cmcf->phases[PT_HTTP_SERVER_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return PT_ERROR;
    }

    *h = pt_http_rewrite_handler;

    h = pt_array_push(&cmcf->phases[PT_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return PT_ERROR;
    }

    *h = pt_http_rewrite_handler;

    return PT_OK;
}


static char *
pt_http_rewrite_return(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_rewrite_loc_conf_t  *rlcf = conf;

    pt_int_t                          n;
    pt_str_t                         *value, *text;
    pt_http_compile_complex_value_t   ccv;

    if (rlcf->status != PT_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    text = NULL;

    n = pt_atoi(value[1].data, value[1].len);

    if (n == PT_ERROR) {
        if (cf->args->nelts == 2
            && ((value[1].len > 7
                 && pt_strncmp(value[1].data, "http://", 7) == 0)
                || (value[1].len > 8
                    && pt_strncmp(value[1].data, "https://", 8) == 0)))
        {
            /* "return URL": a temporary redirect */
            rlcf->status = PT_HTTP_MOVED_TEMPORARILY;
            text = &value[1];

        } else {
            pt_conf_error(cf, "invalid return code \"%.*s\"",
                          PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }

    } else {
        if (n < 200 || n > 999) {
            pt_conf_error(cf, "invalid return code \"%.*s\"",
                          PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }

        rlcf->status = n;

        if (cf->args->nelts == 3) {
            text = &value[2];
        }
    }

    if (text) {
        pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = text;
        ccv.complex_value = &rlcf->text;

        if (pt_http_compile_complex_value(&ccv) != PT_OK) {
            return PT_CONF_ERROR;
        }

        rlcf->has_text = 1;
    }

    if ((rlcf->status == PT_HTTP_MOVED_PERMANENTLY
         || rlcf->status == PT_HTTP_MOVED_TEMPORARILY
         || rlcf->status == PT_HTTP_SEE_OTHER
         || rlcf->status == PT_HTTP_TEMPORARY_REDIRECT
         || rlcf->status == PT_HTTP_PERMANENT_REDIRECT)
        && !rlcf->has_text)
    {
        pt_conf_error(cf, "a redirect needs a URL: return %ld URL",
                      (long) rlcf->status);
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}
