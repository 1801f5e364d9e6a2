/*
 * gzip_static and brotli_static: serve FILE.gz or FILE.br, made ahead of
 * time, for a request that the static module would answer with FILE, so
 * the gzip and brotli filters have nothing to do.
 *
 * gzip_static "on" sends the .gz to clients that may get gzip
 * (Accept-Encoding, gzip_http_version, gzip_proxied, gzip_disable);
 * brotli_static "on" sends the .br to clients whose Accept-Encoding takes
 * "br" (nothing else applies, as for the brotli filter). "always" sends
 * it to every client: for a tree that keeps only the .gz files (with
 * "gunzip on" for the clients that cannot take gzip), or one that is
 * sure of its clients.
 *
 * With both on, the .br is tried first: a client that takes both gets
 * br, as with ngx_brotli, whose static module runs before gzip_static.
 * A .br the client cannot take leaves the .gz its turn, then FILE.
 *
 * The file is found and opened by the static module's rules (root,
 * alias, disable_symlinks) and sent with its own length, Last-Modified
 * and ETag, and FILE's Content-Type. Whenever the answer depends on
 * Accept-Encoding (a .gz exists, or a .br under "brotli_static on"),
 * gzip_vary adds "Vary: Accept-Encoding", to FILE too when that is what
 * is sent.
 *
 * A content handler: it is registered after the static module's, so it
 * runs before it, and declines whatever it does not serve.
 */
#include "pt_http.h"


#define PT_HTTP_GZIP_STATIC_OFF     0
#define PT_HTTP_GZIP_STATIC_ON      1
#define PT_HTTP_GZIP_STATIC_ALWAYS  2


typedef struct {
    pt_uint_t    gzip;          /* gzip_static */
    pt_uint_t    brotli;        /* brotli_static */
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
      offsetof(pt_http_gzip_static_conf_t, gzip),
      &pt_http_gzip_static_modes },

    { pt_string("brotli_static"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_enum_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_static_conf_t, brotli),
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

/*
 * FILE with suffix, in mode: PT_OK with *file when it is to be sent,
 * PT_DECLINED when it is not (off, no such file, a client that may not
 * have it: ok is PT_OK when it may), PT_ERROR. vary: the answer depends
 * on Accept-Encoding once the file exists.
 */
static pt_int_t
pt_http_gzip_static_variant(pt_http_request_t *r, pt_uint_t mode,
    const char *suffix, pt_int_t ok, pt_uint_t vary, pt_file_t **file)
{
    pt_int_t  rc;

    if (mode == PT_HTTP_GZIP_STATIC_OFF) {
        return PT_DECLINED;
    }

    rc = pt_http_static_open_variant(r, suffix, file);

    if (rc != PT_OK) {
        return rc;
    }

    if (vary && pt_http_gzip_vary(r) != PT_OK) {
        return PT_ERROR;
    }

    if (mode == PT_HTTP_GZIP_STATIC_ALWAYS || ok == PT_OK) {
        return PT_OK;
    }

    return PT_DECLINED;
}


static pt_int_t
pt_http_gzip_static_handler(pt_http_request_t *r)
{
    pt_int_t                     rc, ok;
    pt_buf_t                    *b;
    pt_str_t                     coding;
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

    file = NULL;

    /* as the brotli filter judges: Accept-Encoding alone */
    ok = (conf->brotli == PT_HTTP_GZIP_STATIC_ON && r == r->main
          && pt_http_accept_encoding(r, "br") > 0) ? PT_OK : PT_DECLINED;

    pt_str_set(&coding, "br");
    rc = pt_http_gzip_static_variant(r, conf->brotli, ".br", ok,
                                     conf->brotli == PT_HTTP_GZIP_STATIC_ON,
                                     &file);

    if (rc == PT_DECLINED) {
        ok = (conf->gzip == PT_HTTP_GZIP_STATIC_ON) ? pt_http_gzip_ok(r)
                                                    : PT_OK;
        pt_str_set(&coding, "gzip");
        rc = pt_http_gzip_static_variant(r, conf->gzip, ".gz", ok, 1, &file);
    }

    if (rc == PT_ERROR) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == PT_DECLINED) {
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
    h->value = coding;
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

    conf->gzip = PT_CONF_UNSET_UINT;
    conf->brotli = PT_CONF_UNSET_UINT;

    return conf;
}


static char *
pt_http_gzip_static_merge_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_gzip_static_conf_t  *prev = parent;
    pt_http_gzip_static_conf_t  *conf = child;

    pt_conf_merge_uint_value(conf->gzip, prev->gzip,
                             PT_HTTP_GZIP_STATIC_OFF);
    pt_conf_merge_uint_value(conf->brotli, prev->brotli,
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
