/*
 * gzip_static: serves FILE.gz, made ahead of time, for a request that the
 * static module would answer with FILE, so the gzip filter has nothing
 * to do. "on" sends it to clients that may get gzip (Accept-Encoding,
 * gzip_http_version, gzip_proxied, gzip_disable); "always" to every
 * client, for a tree that keeps only the .gz files (with "gunzip on" for
 * the clients that cannot take gzip).
 *
 * The .gz is found and opened by the static module's rules (root, alias,
 * disable_symlinks) and sent with its own length, Last-Modified and ETag,
 * and FILE's Content-Type. Whenever a .gz exists, the answer depends on
 * Accept-Encoding: gzip_vary then adds "Vary: Accept-Encoding", to FILE
 * too when that is what is sent.
 *
 * A content handler: it is registered after the static module's, so it
 * runs before it, and declines whatever it does not serve.
 */
#include "pt_http.h"


#define PT_HTTP_GZIP_STATIC_OFF     0
#define PT_HTTP_GZIP_STATIC_ON      1
#define PT_HTTP_GZIP_STATIC_ALWAYS  2


typedef struct {
    pt_uint_t    enable;
} pt_http_gzip_static_conf_t;


static void *pt_http_gzip_static_create_conf(pt_conf_t *cf);
static char *pt_http_gzip_static_merge_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_gzip_static_init(pt_conf_t *cf);


static pt_conf_enum_t  pt_http_gzip_static_modes[] = {
    { pt_string("off"), PT_HTTP_GZIP_STATIC_OFF },
    { pt_string("on"), PT_HTTP_GZIP_STATIC_ON },
    { pt_string("always"), PT_HTTP_GZIP_STATIC_ALWAYS },
    { pt_null_string, 0 }
};


static pt_command_t  pt_http_gzip_static_commands[] = {

    { pt_string("gzip_static"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_enum_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_static_conf_t, enable),
      &pt_http_gzip_static_modes },

    pt_null_command
};


static pt_http_module_t  pt_http_gzip_static_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_gzip_static_init,               /* postconfiguration */
    NULL, NULL, NULL, NULL,
    pt_http_gzip_static_create_conf,
    pt_http_gzip_static_merge_conf
};


pt_module_t  pt_http_gzip_static_module = {
    .ctx = &pt_http_gzip_static_module_ctx,
    .commands = pt_http_gzip_static_commands,
    .type = PT_HTTP_MODULE,
};


#if (PT_HAVE_HTTP_STATIC_MODULE)

static pt_int_t
pt_http_gzip_static_handler(pt_http_request_t *r)
{
    pt_int_t                     rc, ok;
    pt_buf_t                    *b;
    pt_file_t                   *file;
    pt_chain_t                   out;
    pt_table_elt_t              *h;
    pt_http_gzip_static_conf_t  *conf;

    if (!(r->method & (PT_HTTP_GET | PT_HTTP_HEAD))) {
        return PT_DECLINED;
    }

    if (r->uri.len == 0 || r->uri.data[0] != '/'
        || r->uri.data[r->uri.len - 1] == '/')
    {
        return PT_DECLINED;
    }

    conf = pt_http_get_module_loc_conf(r, pt_http_gzip_static_module);

    if (conf->enable == PT_HTTP_GZIP_STATIC_OFF) {
        return PT_DECLINED;
    }

    ok = (conf->enable == PT_HTTP_GZIP_STATIC_ALWAYS) ? PT_OK
                                                      : pt_http_gzip_ok(r);

    file = NULL;

    rc = pt_http_static_open_variant(r, ".gz", &file);

    if (rc == PT_ERROR) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == PT_DECLINED) {
        return PT_DECLINED;
    }

    /* a .gz is there: what is sent depends on Accept-Encoding */
    if (pt_http_gzip_vary(r) != PT_OK) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ok != PT_OK) {
        return PT_DECLINED;
    }

    if (pt_http_static_variant_headers(r, file) != PT_OK) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = pt_list_push(&r->headers_out.headers);
    b = pt_calloc_buf(r->pool);
    if (h == NULL || b == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    h->next = NULL;
    h->lowcase_key = NULL;
    pt_str_set(&h->key, "Content-Encoding");
    pt_str_set(&h->value, "gzip");
    r->headers_out.content_encoding = h;

    rc = pt_http_send_header(r);

    if (rc == PT_ERROR || rc > PT_OK || r->header_only) {
        return rc;
    }

    b->file = file;
    b->file_pos = 0;
    b->file_last = file->info.st_size;
    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return pt_http_output_filter(r, &out);
}

#endif


static void *
pt_http_gzip_static_create_conf(pt_conf_t *cf)
{
    pt_http_gzip_static_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_gzip_static_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = PT_CONF_UNSET_UINT;

    return conf;
}


static char *
pt_http_gzip_static_merge_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_gzip_static_conf_t  *prev = parent;
    pt_http_gzip_static_conf_t  *conf = child;

    pt_conf_merge_uint_value(conf->enable, prev->enable,
                             PT_HTTP_GZIP_STATIC_OFF);

    return PT_CONF_OK;
}


static pt_int_t
pt_http_gzip_static_init(pt_conf_t *cf)
{
#if (PT_HAVE_HTTP_STATIC_MODULE)
    pt_http_handler_pt        *h;
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    h = pt_array_push(&cmcf->phases[PT_HTTP_CONTENT_PHASE].handlers);
    if (h == NULL) {
        return PT_ERROR;
    }

    *h = pt_http_gzip_static_handler;
#endif

    /* without the static module there is no file to put a .gz next to */
    return PT_OK;
}
