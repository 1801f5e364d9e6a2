/*
 * The gzip filter: compresses responses on their way out with zlib,
 * buffer by buffer, flushing when the producer flushes, so streams (server
 * sent events) keep flowing and memory stays at the compressor's window
 * plus a few output buffers, whatever the body's size.
 */
#include "pt_http.h"
#include <zlib.h>


#define PT_HTTP_GZIP_PROXIED_OFF              0x0002
#define PT_HTTP_GZIP_PROXIED_EXPIRED          0x0004
#define PT_HTTP_GZIP_PROXIED_NO_CACHE         0x0008
#define PT_HTTP_GZIP_PROXIED_NO_STORE         0x0010
#define PT_HTTP_GZIP_PROXIED_PRIVATE          0x0020
#define PT_HTTP_GZIP_PROXIED_NO_LM            0x0040
#define PT_HTTP_GZIP_PROXIED_NO_ETAG          0x0080
#define PT_HTTP_GZIP_PROXIED_AUTH             0x0100
#define PT_HTTP_GZIP_PROXIED_ANY              0x0200

#define PT_HTTP_GZIP_FILE_CHUNK               65536


typedef struct {
    pt_flag_t        enable;
    pt_array_t      *types;         /* of pt_str_t; "*" matches all */
    pt_uint_t        types_any;
    ssize_t          min_length;
    pt_int_t         level;
    pt_bufs_t        bufs;
    pt_flag_t        vary;
    pt_uint_t        proxied;
    pt_uint_t        http_version;
    pt_array_t      *disable;       /* of pt_regex_t * */
} pt_http_gzip_conf_t;

typedef struct {
    z_stream          zstream;
    pt_chain_t       *in;           /* file buffers not yet read */
    pt_chain_t       *free;         /* output buffers to reuse */
    pt_chain_t       *busy;
    pt_buf_t         *out_buf;
    u_char           *file_buf;     /* for reading file buffers */
    pt_uint_t         allocated;
    unsigned          started:1;
    unsigned          done:1;
} pt_http_gzip_ctx_t;


static void *pt_http_gzip_create_conf(pt_conf_t *cf);
static char *pt_http_gzip_merge_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_gzip_init(pt_conf_t *cf);
static char *pt_http_gzip_types(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_gzip_disable(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);


static pt_conf_num_bounds_t  pt_http_gzip_comp_level_bounds = {
    pt_conf_check_num_bounds, 1, 9
};

static pt_conf_enum_t  pt_http_gzip_http_version[] = {
    { pt_string("1.0"), PT_HTTP_VERSION_10 },
    { pt_string("1.1"), PT_HTTP_VERSION_11 },
    { pt_null_string, 0 }
};

static pt_conf_bitmask_t  pt_http_gzip_proxied_mask[] = {
    { pt_string("off"), PT_HTTP_GZIP_PROXIED_OFF },
    { pt_string("expired"), PT_HTTP_GZIP_PROXIED_EXPIRED },
    { pt_string("no-cache"), PT_HTTP_GZIP_PROXIED_NO_CACHE },
    { pt_string("no-store"), PT_HTTP_GZIP_PROXIED_NO_STORE },
    { pt_string("private"), PT_HTTP_GZIP_PROXIED_PRIVATE },
    { pt_string("no_last_modified"), PT_HTTP_GZIP_PROXIED_NO_LM },
    { pt_string("no_etag"), PT_HTTP_GZIP_PROXIED_NO_ETAG },
    { pt_string("auth"), PT_HTTP_GZIP_PROXIED_AUTH },
    { pt_string("any"), PT_HTTP_GZIP_PROXIED_ANY },
    { pt_null_string, 0 }
};


static pt_command_t  pt_http_gzip_commands[] = {

    { pt_string("gzip"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_conf_t, enable),
      NULL },

    { pt_string("gzip_types"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_http_gzip_types,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("gzip_min_length"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_size_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_conf_t, min_length),
      NULL },

    { pt_string("gzip_comp_level"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_num_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_conf_t, level),
      &pt_http_gzip_comp_level_bounds },

    { pt_string("gzip_buffers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE2,
      pt_conf_set_bufs_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_conf_t, bufs),
      NULL },

    { pt_string("gzip_vary"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_conf_t, vary),
      NULL },

    { pt_string("gzip_proxied"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_conf_set_bitmask_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_conf_t, proxied),
      &pt_http_gzip_proxied_mask },

    { pt_string("gzip_http_version"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_enum_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_conf_t, http_version),
      &pt_http_gzip_http_version },

    { pt_string("gzip_disable"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_http_gzip_disable,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_gzip_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_gzip_init,                      /* postconfiguration */
    NULL, NULL, NULL, NULL,
    pt_http_gzip_create_conf,
    pt_http_gzip_merge_conf
};


pt_module_t  pt_http_gzip_module = {
    .ctx = &pt_http_gzip_module_ctx,
    .commands = pt_http_gzip_commands,
    .type = PT_HTTP_MODULE,
};


static pt_http_output_header_filter_pt  pt_http_next_header_filter;
static pt_http_output_body_filter_pt    pt_http_next_body_filter;


/* zlib allocates from the request pool: a finished request frees it all */
static void *
pt_http_gzip_alloc(void *opaque, u_int items, u_int size)
{
    return pt_palloc(opaque, (size_t) items * size);
}


static void
pt_http_gzip_free(void *opaque, void *address)
{
}


static void
pt_http_gzip_cleanup(void *data)
{
    pt_http_gzip_ctx_t  *ctx = data;

    if (ctx->started && !ctx->done) {
        (void) deflateEnd(&ctx->zstream);
    }
}


static pt_uint_t
pt_http_gzip_type_ok(pt_http_request_t *r, pt_http_gzip_conf_t *conf)
{
    size_t      len;
    pt_uint_t   i;
    pt_str_t   *t;

    if (conf->types_any) {
        return 1;
    }

    len = r->headers_out.content_type_len;

    if (len == 0 || len > r->headers_out.content_type.len) {
        len = r->headers_out.content_type.len;
    }

    /* up to ";" parameters */
    for (i = 0; i < len; i++) {
        if (r->headers_out.content_type.data[i] == ';') {
            len = i;
            break;
        }
    }

    while (len && r->headers_out.content_type.data[len - 1] == ' ') {
        len--;
    }

    t = conf->types->elts;

    for (i = 0; i < conf->types->nelts; i++) {
        if (t[i].len == len
            && pt_strncasecmp(t[i].data, r->headers_out.content_type.data,
                              len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* gzip_proxied: may a response to a request that came through a proxy be compressed? */
static pt_uint_t
pt_http_gzip_proxied_ok(pt_http_request_t *r, pt_http_gzip_conf_t *conf)
{
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_table_elt_t  *h, *cc, *expires;

    if (conf->proxied & PT_HTTP_GZIP_PROXIED_ANY) {
        return 1;
    }

    if (conf->proxied & PT_HTTP_GZIP_PROXIED_OFF) {
        return 0;
    }

    if ((conf->proxied & PT_HTTP_GZIP_PROXIED_AUTH)
        && r->headers_in.authorization)
    {
        return 1;
    }

    cc = NULL;
    expires = r->headers_out.expires;

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

        if (h[i].hash == 0) {
            continue;
        }

        if (h[i].key.len == 13
            && pt_strncasecmp(h[i].key.data, (u_char *) "cache-control", 13)
               == 0)
        {
            cc = &h[i];
        } else if (expires == NULL && h[i].key.len == 7
                   && pt_strncasecmp(h[i].key.data, (u_char *) "expires", 7)
                      == 0)
        {
            expires = &h[i];
        }
    }

    if ((conf->proxied & PT_HTTP_GZIP_PROXIED_EXPIRED) && expires) {
        return 1;
    }

    if (cc) {
        if (((conf->proxied & PT_HTTP_GZIP_PROXIED_NO_CACHE)
             && pt_strnstr(cc->value.data, cc->value.len, "no-cache", 8))
            || ((conf->proxied & PT_HTTP_GZIP_PROXIED_NO_STORE)
                && pt_strnstr(cc->value.data, cc->value.len, "no-store", 8))
            || ((conf->proxied & PT_HTTP_GZIP_PROXIED_PRIVATE)
                && pt_strnstr(cc->value.data, cc->value.len, "private", 7)))
        {
            return 1;
        }
    }

    if ((conf->proxied & PT_HTTP_GZIP_PROXIED_NO_LM)
        && r->headers_out.last_modified == NULL
        && r->headers_out.last_modified_time == -1)
    {
        return 1;
    }

    if ((conf->proxied & PT_HTTP_GZIP_PROXIED_NO_ETAG)
        && r->headers_out.etag == NULL)
    {
        return 1;
    }

    return 0;
}


static pt_table_elt_t *
pt_http_gzip_find_header(pt_list_t *headers, const char *name, size_t len)
{
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_table_elt_t  *h;

    part = &headers->part;
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

        if (h[i].hash && h[i].key.len == len
            && pt_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }

    return NULL;
}


/* Adds "Vary: Accept-Encoding" unless a Vary header already names it. */
static pt_int_t
pt_http_gzip_add_vary(pt_http_request_t *r)
{
    pt_table_elt_t  *h;

    h = pt_http_gzip_find_header(&r->headers_out.headers, "vary", 4);

    if (h && (pt_strnstr(h->value.data, h->value.len, "ccept-", 6)
              || pt_strnstr(h->value.data, h->value.len, "*", 1)))
    {
        return PT_OK;
    }

    h = pt_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return PT_ERROR;
    }

    h->hash = 1;
    h->next = NULL;
    pt_str_set(&h->key, "Vary");
    pt_str_set(&h->value, "Accept-Encoding");

    return PT_OK;
}


static pt_int_t
pt_http_gzip_header_filter(pt_http_request_t *r)
{
    int                   n;
    pt_int_t              w, best;
    pt_uint_t             i;
    pt_regex_t          **re;
    pt_table_elt_t       *h, *etag;
    pt_pool_cleanup_t    *cln;
    pt_http_gzip_ctx_t   *ctx;
    pt_http_gzip_conf_t  *conf;
    int                   captures[3];

    conf = pt_http_get_module_loc_conf(r, pt_http_gzip_module);

    if (!conf->enable
        || (r->headers_out.status != PT_HTTP_OK
            && r->headers_out.status != PT_HTTP_FORBIDDEN
            && r->headers_out.status != PT_HTTP_NOT_FOUND)
        || r->headers_out.content_encoding
        || pt_http_gzip_find_header(&r->headers_out.headers,
                                    "content-encoding", 16)
        || (r->headers_out.content_length_n != -1
            && r->headers_out.content_length_n < conf->min_length)
        || !pt_http_gzip_type_ok(r, conf))
    {
        return pt_http_next_header_filter(r);
    }

    /* the response could be compressed: caches must know it varies */
    if (conf->vary && pt_http_gzip_add_vary(r) != PT_OK) {
        return PT_ERROR;
    }

    if (r->header_only || r->method == PT_HTTP_HEAD
        || r->http_version < conf->http_version
        || r->headers_in.accept_encoding == NULL)
    {
        return pt_http_next_header_filter(r);
    }

    best = -1;

    for (h = r->headers_in.accept_encoding; h; h = h->next) {
        w = pt_http_accept_encoding_weight(&h->value, "gzip");
        best = pt_max(best, w);
    }

    if (best <= 0) {
        return pt_http_next_header_filter(r);
    }

    if (pt_http_gzip_find_header(&r->headers_in.headers, "via", 3)
        && !pt_http_gzip_proxied_ok(r, conf))
    {
        return pt_http_next_header_filter(r);
    }

    if (conf->disable && r->headers_in.user_agent) {
        re = conf->disable->elts;

        for (i = 0; i < conf->disable->nelts; i++) {
            n = pt_regex_exec(re[i], &r->headers_in.user_agent->value,
                              captures, 3);
            if (n > 0) {
                return pt_http_next_header_filter(r);
            }
        }
    }

    ctx = pt_pcalloc(r->pool, sizeof(pt_http_gzip_ctx_t));
    cln = pt_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || cln == NULL) {
        return PT_ERROR;
    }

    cln->handler = pt_http_gzip_cleanup;
    cln->data = ctx;

    pt_http_set_ctx(r, ctx, pt_http_gzip_module);

    h = pt_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return PT_ERROR;
    }

    h->hash = 1;
    h->next = NULL;
    pt_str_set(&h->key, "Content-Encoding");
    pt_str_set(&h->value, "gzip");
    r->headers_out.content_encoding = h;

    /* the length is unknown now: chunked (1.1) or until close (1.0) */
    r->headers_out.content_length_n = -1;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    h = pt_http_gzip_find_header(&r->headers_out.headers, "content-length",
                                 14);
    if (h) {
        h->hash = 0;
    }

    /* a strong validator no longer describes these bytes */
    etag = r->headers_out.etag;
    if (etag == NULL) {
        etag = pt_http_gzip_find_header(&r->headers_out.headers, "etag", 4);
    }

    if (etag && etag->hash && etag->value.len >= 2
        && etag->value.data[0] == '"')
    {
        u_char  *p;

        p = pt_pnalloc(r->pool, etag->value.len + 2);
        if (p == NULL) {
            return PT_ERROR;
        }

        p[0] = 'W';
        p[1] = '/';
        pt_memcpy(p + 2, etag->value.data, etag->value.len);
        etag->value.data = p;
        etag->value.len += 2;
    }

    return pt_http_next_header_filter(r);
}


static pt_int_t
pt_http_gzip_start(pt_http_request_t *r, pt_http_gzip_ctx_t *ctx,
    pt_http_gzip_conf_t *conf)
{
    int    rc, wbits, memlevel;
    off_t  len;

    wbits = 15;
    memlevel = 8;

    /* a small known body needs a smaller window (and less memory) */
    len = r->headers_out.content_length_n;

    if (len > 0) {
        while (len < ((off_t) 1 << (wbits - 1)) && wbits > 9) {
            wbits--;
            memlevel--;
        }

        if (memlevel < 1) {
            memlevel = 1;
        }
    }

    ctx->zstream.zalloc = pt_http_gzip_alloc;
    ctx->zstream.zfree = pt_http_gzip_free;
    ctx->zstream.opaque = r->pool;

    rc = deflateInit2(&ctx->zstream, (int) conf->level, Z_DEFLATED,
                      wbits + 16, memlevel, Z_DEFAULT_STRATEGY);

    if (rc != Z_OK) {
        pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                     "deflateInit2() failed: %d", rc);
        return PT_ERROR;
    }

    ctx->started = 1;

    return PT_OK;
}


static pt_buf_t *
pt_http_gzip_get_buf(pt_http_request_t *r, pt_http_gzip_ctx_t *ctx,
    pt_http_gzip_conf_t *conf)
{
    pt_buf_t    *b;
    pt_chain_t  *cl;

    if (ctx->free) {
        cl = ctx->free;
        ctx->free = cl->next;
        b = cl->buf;
        b->pos = b->start;
        b->last = b->start;
        b->flush = 0;
        b->last_buf = 0;
        return b;
    }

    b = pt_create_temp_buf(r->pool, conf->bufs.size);
    if (b == NULL) {
        return NULL;
    }

    b->tag = (pt_buf_tag_t) &pt_http_gzip_module;
    ctx->allocated++;

    return b;
}


/*
 * Compresses [data, data + len) with the given flush mode, appending full
 * output buffers to *ll. A finished stream marks ctx->done.
 */
static pt_int_t
pt_http_gzip_deflate(pt_http_request_t *r, pt_http_gzip_ctx_t *ctx,
    pt_http_gzip_conf_t *conf, u_char *data, size_t len, int flush,
    pt_chain_t ***ll)
{
    int          rc;
    pt_chain_t  *cl;

    ctx->zstream.next_in = data;
    ctx->zstream.avail_in = (uInt) len;

    for ( ;; ) {

        if (ctx->out_buf == NULL) {
            ctx->out_buf = pt_http_gzip_get_buf(r, ctx, conf);
            if (ctx->out_buf == NULL) {
                return PT_ERROR;
            }
        }

        ctx->zstream.next_out = ctx->out_buf->last;
        ctx->zstream.avail_out = (uInt) (ctx->out_buf->end
                                         - ctx->out_buf->last);

        rc = deflate(&ctx->zstream, flush);

        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                         "deflate() failed: %d", rc);
            return PT_ERROR;
        }

        ctx->out_buf->last = ctx->zstream.next_out;

        if (ctx->zstream.avail_out == 0
            || (flush != Z_NO_FLUSH && ctx->zstream.avail_in == 0
                && (rc == Z_STREAM_END || ctx->zstream.avail_out != 0)))
        {
            /* a full buffer, or the end of a flush: pass it on */
            if (ctx->out_buf->last > ctx->out_buf->pos
                || rc == Z_STREAM_END)
            {
                cl = pt_alloc_chain_link(r->pool);
                if (cl == NULL) {
                    return PT_ERROR;
                }

                cl->buf = ctx->out_buf;
                cl->next = NULL;
                **ll = cl;
                *ll = &cl->next;

                if (flush == Z_SYNC_FLUSH && ctx->zstream.avail_in == 0
                    && ctx->zstream.avail_out != 0)
                {
                    ctx->out_buf->flush = 1;
                }

                ctx->out_buf = NULL;
            }
        }

        if (rc == Z_STREAM_END) {
            (void) deflateEnd(&ctx->zstream);
            ctx->done = 1;
            return PT_OK;
        }

        if (ctx->zstream.avail_in == 0
            && (flush == Z_NO_FLUSH || ctx->zstream.avail_out != 0))
        {
            return PT_OK;
        }
    }
}


static pt_int_t
pt_http_gzip_body_filter(pt_http_request_t *r, pt_chain_t *in)
{
    int                   flush;
    size_t                len;
    ssize_t               n;
    pt_int_t              rc;
    pt_buf_t             *b;
    pt_chain_t           *out, **ll, *cl, *held, **hl;
    pt_http_gzip_ctx_t   *ctx;
    pt_http_gzip_conf_t  *conf;

    ctx = pt_http_get_module_ctx(r, pt_http_gzip_module);

    if (ctx == NULL || ctx->done) {
        return pt_http_next_body_filter(r, in);
    }

    conf = pt_http_get_module_loc_conf(r, pt_http_gzip_module);

    if (!ctx->started && pt_http_gzip_start(r, ctx, conf) != PT_OK) {
        return PT_ERROR;
    }

    /* file buffers held from before come first */
    if (ctx->in) {
        for (cl = ctx->in; cl->next; cl = cl->next) { /* void */ }
        cl->next = in;
        in = ctx->in;
        ctx->in = NULL;
    }

    out = NULL;
    ll = &out;
    held = NULL;
    hl = &held;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (held) {
            /* keep the order: everything after a held buffer waits too */
            *hl = pt_alloc_chain_link(r->pool);
            if (*hl == NULL) {
                return PT_ERROR;
            }
            (*hl)->buf = b;
            (*hl)->next = NULL;
            hl = &(*hl)->next;
            continue;
        }

        if (pt_buf_in_memory(b)) {
            len = b->last - b->pos;
            flush = b->last_buf ? Z_FINISH : b->flush ? Z_SYNC_FLUSH
                                                      : Z_NO_FLUSH;

            if (len || flush != Z_NO_FLUSH) {
                if (pt_http_gzip_deflate(r, ctx, conf, b->pos, len, flush,
                                         &ll) != PT_OK)
                {
                    return PT_ERROR;
                }
            }

            b->pos = b->last;
            continue;
        }

        if (b->in_file && b->file_pos < b->file_last) {
            /* a piece of the file now; the rest if the client keeps up */
            if (ctx->file_buf == NULL) {
                ctx->file_buf = pt_palloc(r->pool, PT_HTTP_GZIP_FILE_CHUNK);
                if (ctx->file_buf == NULL) {
                    return PT_ERROR;
                }
            }

            len = (size_t) pt_min((off_t) PT_HTTP_GZIP_FILE_CHUNK,
                                  b->file_last - b->file_pos);

            n = pread(b->file->fd, ctx->file_buf, len, b->file_pos);

            if (n <= 0) {
                pt_log_error(PT_LOG_CRIT, r->connection->log,
                             n ? errno : 0, "pread() \"%.*s\" failed",
                             PT_STR_ARG(b->file->name));
                return PT_ERROR;
            }

            b->file_pos += n;

            flush = (b->file_pos == b->file_last && b->last_buf) ? Z_FINISH
                    : Z_NO_FLUSH;

            if (pt_http_gzip_deflate(r, ctx, conf, ctx->file_buf, (size_t) n,
                                     flush, &ll) != PT_OK)
            {
                return PT_ERROR;
            }

            if (b->file_pos < b->file_last) {
                *hl = pt_alloc_chain_link(r->pool);
                if (*hl == NULL) {
                    return PT_ERROR;
                }
                (*hl)->buf = b;
                (*hl)->next = NULL;
                hl = &(*hl)->next;
            }

            continue;
        }

        /* a bare marker */
        if (b->last_buf || b->flush) {
            flush = b->last_buf ? Z_FINISH : Z_SYNC_FLUSH;

            if (pt_http_gzip_deflate(r, ctx, conf, NULL, 0, flush, &ll)
                != PT_OK)
            {
                return PT_ERROR;
            }
        }
    }

    if (ctx->done && out) {
        /* the end of the compressed stream is the end of the response */
        for (cl = out; cl->next; cl = cl->next) { /* void */ }
        cl->buf->last_buf = 1;
    }

    ctx->in = held;

    if (out == NULL && held == NULL) {
        return pt_http_next_body_filter(r, NULL);
    }

    rc = pt_http_next_body_filter(r, out);

    if (rc == PT_ERROR) {
        return PT_ERROR;
    }

    pt_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                           (pt_buf_tag_t) &pt_http_gzip_module);

    if (held && rc == PT_OK) {
        /* the client keeps up: go on with the file */
        return pt_http_gzip_body_filter(r, NULL);
    }

    return held ? PT_AGAIN : rc;
}


static void *
pt_http_gzip_create_conf(pt_conf_t *cf)
{
    pt_http_gzip_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_gzip_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = PT_CONF_UNSET;
    conf->types = PT_CONF_UNSET_PTR;
    conf->min_length = PT_CONF_UNSET;
    conf->level = PT_CONF_UNSET;
    conf->vary = PT_CONF_UNSET;
    conf->http_version = PT_CONF_UNSET_UINT;
    conf->disable = PT_CONF_UNSET_PTR;

    return conf;
}


static char *
pt_http_gzip_merge_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_gzip_conf_t  *prev = parent;
    pt_http_gzip_conf_t  *conf = child;

    pt_str_t  *t;

    pt_conf_merge_value(conf->enable, prev->enable, 0);
    pt_conf_merge_value(conf->min_length, prev->min_length, 20);
    pt_conf_merge_value(conf->level, prev->level, 1);
    pt_conf_merge_bufs_value(conf->bufs, prev->bufs, 32, 4096);
    pt_conf_merge_value(conf->vary, prev->vary, 0);
    pt_conf_merge_uint_value(conf->http_version, prev->http_version,
                             PT_HTTP_VERSION_11);
    pt_conf_merge_bitmask_value(conf->proxied, prev->proxied,
                                (PT_CONF_BITMASK_SET
                                 | PT_HTTP_GZIP_PROXIED_OFF));
    pt_conf_merge_ptr_value(conf->disable, prev->disable, NULL);

    if (conf->types == PT_CONF_UNSET_PTR) {
        conf->types = prev->types;
        conf->types_any = prev->types_any;
    }

    if (conf->types == PT_CONF_UNSET_PTR || conf->types == NULL) {
        conf->types = pt_array_create(cf->pool, 1, sizeof(pt_str_t));
        if (conf->types == NULL) {
            return PT_CONF_ERROR;
        }

        t = pt_array_push(conf->types);
        if (t == NULL) {
            return PT_CONF_ERROR;
        }

        pt_str_set(t, "text/html");
    }

    return PT_CONF_OK;
}


/* gzip_types TYPE ...: text/html is always among them (nginx's rule). */
static char *
pt_http_gzip_types(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_gzip_conf_t  *gcf = conf;

    pt_str_t   *value, *t;
    pt_uint_t   i;

    if (gcf->types != PT_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    gcf->types = pt_array_create(cf->pool, cf->args->nelts,
                                 sizeof(pt_str_t));
    if (gcf->types == NULL) {
        return PT_CONF_ERROR;
    }

    t = pt_array_push(gcf->types);
    if (t == NULL) {
        return PT_CONF_ERROR;
    }

    pt_str_set(t, "text/html");

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (pt_str_eq_lit(&value[i], "*")) {
            gcf->types_any = 1;
            continue;
        }

        if (pt_strlchr(value[i].data, value[i].data + value[i].len, '/')
            == NULL)
        {
            pt_conf_error(cf, "invalid MIME type \"%.*s\"",
                          PT_STR_ARG(value[i]));
            return PT_CONF_ERROR;
        }

        t = pt_array_push(gcf->types);
        if (t == NULL) {
            return PT_CONF_ERROR;
        }

        *t = value[i];
    }

    return PT_CONF_OK;
}


static char *
pt_http_gzip_disable(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_gzip_conf_t  *gcf = conf;

    pt_str_t             *value;
    pt_uint_t             i;
    pt_regex_t          **re;
    pt_regex_compile_t    rc;

    if (gcf->disable == PT_CONF_UNSET_PTR || gcf->disable == NULL) {
        gcf->disable = pt_array_create(cf->pool, 2, sizeof(pt_regex_t *));
        if (gcf->disable == NULL) {
            return PT_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        pt_memzero(&rc, sizeof(pt_regex_compile_t));
        rc.pattern = value[i];
        rc.pool = cf->pool;
        rc.caseless = 1;

        if (pt_regex_compile(&rc) != PT_OK) {
            pt_conf_error(cf, "%s", rc.err);
            return PT_CONF_ERROR;
        }

        re = pt_array_push(gcf->disable);
        if (re == NULL) {
            return PT_CONF_ERROR;
        }

        *re = rc.regex;
    }

    return PT_CONF_OK;
}


static pt_int_t
pt_http_gzip_init(pt_conf_t *cf)
{
    pt_http_next_header_filter = pt_http_top_header_filter;
    pt_http_top_header_filter = pt_http_gzip_header_filter;

    pt_http_next_body_filter = pt_http_top_body_filter;
    pt_http_top_body_filter = pt_http_gzip_body_filter;

    return PT_OK;
}
