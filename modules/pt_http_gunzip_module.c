/*
 * The gunzip filter: decompresses responses sent with "Content-Encoding:
 * gzip" (a backend that always compresses, or "gzip_static always") for
 * clients that may not get gzip, as pt_http_gzip_ok() judges
 * (Accept-Encoding, gzip_http_version, gzip_proxied, gzip_disable).
 *
 * It runs before the brotli and gzip filters, so a client that takes
 * "br" but not gzip gets the body recompressed with brotli. A 206 (a part
 * of the compressed bytes) is left alone; several gzip members one after
 * the other decode as one body; a body that is not valid gzip, or ends
 * before its gzip stream does, cuts the response off.
 *
 * A small compressed body can expand a thousandfold: the output of a
 * round is bounded (gunzip_buffers), and what is left of the input waits
 * until the client has taken it, so memory stays at zlib's window plus
 * those buffers.
 */
#include "pt_http.h"
#include <zlib.h>



typedef struct {
    pt_flag_t        enable;
    pt_bufs_t        bufs;
} pt_http_gunzip_conf_t;

typedef struct {
    z_stream          zstream;
    pt_http_codec_t   codec;
    unsigned          started:1;
    unsigned          input:1;      /* some compressed bytes came */
    unsigned          stream_end:1; /* at the end of a gzip member */
    unsigned          pending:1;    /* zlib may have more output */
} pt_http_gunzip_ctx_t;


static void *pt_http_gunzip_create_conf(pt_conf_t *cf);
static char *pt_http_gunzip_merge_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_gunzip_init(pt_conf_t *cf);
static pt_int_t pt_http_gunzip_inflate(pt_http_request_t *r,
    pt_http_codec_t *codec, u_char **pos, u_char *last, pt_uint_t op);


static pt_command_t  pt_http_gunzip_commands[] = {

    { pt_string("gunzip"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gunzip_conf_t, enable),
      NULL },

    { pt_string("gunzip_buffers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE2,
      pt_conf_set_bufs_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gunzip_conf_t, bufs),
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_gunzip_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_gunzip_init,                    /* postconfiguration */
    NULL, NULL, NULL, NULL,
    pt_http_gunzip_create_conf,
    pt_http_gunzip_merge_conf
};


pt_module_t  pt_http_gunzip_module = {
    .ctx = &pt_http_gunzip_module_ctx,
    .commands = pt_http_gunzip_commands,
    .type = PT_HTTP_MODULE,
};


static pt_http_output_header_filter_pt  pt_http_next_header_filter;
static pt_http_output_body_filter_pt    pt_http_next_body_filter;


/* zlib allocates from the request pool, all of it at the start */
static void *
pt_http_gunzip_alloc(void *opaque, u_int items, u_int size)
{
    return pt_palloc(opaque, (size_t) items * size);
}


static void
pt_http_gunzip_free(void *opaque, void *address)
{
    (void) pt_pfree(opaque, address);
}


static void
pt_http_gunzip_cleanup(void *data)
{
    pt_http_gunzip_ctx_t  *ctx = data;

    if (ctx->started && !ctx->codec.done) {
        (void) inflateEnd(&ctx->zstream);
        ctx->codec.done = 1;
    }
}


static pt_int_t
pt_http_gunzip_header_filter(pt_http_request_t *r)
{
    int                     rc;
    pt_table_elt_t         *h;
    pt_pool_cleanup_t      *cln;
    pt_http_gunzip_ctx_t   *ctx;
    pt_http_gunzip_conf_t  *conf;

    conf = pt_http_get_module_loc_conf(r, pt_http_gunzip_module);

    if (!conf->enable) {
        return pt_http_next_header_filter(r);
    }

    h = pt_http_content_encoding(r);

    if (h == NULL
        || !(pt_str_caseeq_lit(&h->value, "gzip")
             || pt_str_caseeq_lit(&h->value, "x-gzip"))
        || r->headers_out.status == PT_HTTP_PARTIAL_CONTENT
        || r->headers_out.status == PT_HTTP_NO_CONTENT
        || r->headers_out.status == PT_HTTP_NOT_MODIFIED
        || r->headers_out.status < PT_HTTP_OK)
    {
        return pt_http_next_header_filter(r);
    }

    if (pt_http_gzip_vary(r) != PT_OK) {
        return PT_ERROR;
    }

    if (pt_http_gzip_ok(r) == PT_OK) {
        return pt_http_next_header_filter(r);
    }

    /* the client gets the decoded body, HEAD the head it would have */

    h->hash = 0;
    r->headers_out.content_encoding = NULL;

    if (pt_http_content_recoded(r) != PT_OK) {
        return PT_ERROR;
    }

    if (r->header_only || r->method == PT_HTTP_HEAD) {
        return pt_http_next_header_filter(r);
    }

    ctx = pt_pcalloc(r->pool, sizeof(pt_http_gunzip_ctx_t));
    cln = pt_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || cln == NULL) {
        return PT_ERROR;
    }

    cln->handler = pt_http_gunzip_cleanup;
    cln->data = ctx;

    ctx->codec.run = pt_http_gunzip_inflate;
    ctx->codec.next = pt_http_next_body_filter;
    ctx->codec.data = ctx;
    ctx->codec.tag = (pt_buf_tag_t) &pt_http_gunzip_module;
    ctx->codec.bufs = conf->bufs;

    ctx->zstream.zalloc = pt_http_gunzip_alloc;
    ctx->zstream.zfree = pt_http_gunzip_free;
    ctx->zstream.opaque = r->pool;

    rc = inflateInit2(&ctx->zstream, MAX_WBITS + 16);

    if (rc != Z_OK) {
        pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                     "inflateInit2() failed: %d", rc);
        return PT_ERROR;
    }

    ctx->started = 1;

    pt_http_set_ctx(r, ctx, pt_http_gunzip_module);

    return pt_http_next_header_filter(r);
}


/*
 * Decompresses [*pos, last), moving *pos over what zlib took; then does
 * what op asks (pass on what is decoded; at the end, check the gzip
 * stream ended). Returns PT_OK when the input is used up and op done,
 * PT_AGAIN when this round's output is full, PT_ERROR.
 */
static pt_int_t
pt_http_gunzip_inflate(pt_http_request_t *r, pt_http_codec_t *codec,
    u_char **pos, u_char *last, pt_uint_t op)
{
    int                    rc;
    pt_int_t               got;
    pt_buf_t              *b;
    pt_http_gunzip_ctx_t  *ctx;

    ctx = codec->data;

    pt_assert((size_t) (last - *pos) <= (size_t) 0x7fffffff);

    ctx->zstream.next_in = *pos;
    ctx->zstream.avail_in = (uInt) (last - *pos);

    if (last != *pos) {
        ctx->input = 1;
    }

    /* zlib may hold decoded bytes back when it ran out of room */
    while (ctx->zstream.avail_in || ctx->pending) {

        if (ctx->stream_end) {
            /* another gzip member follows */
            if (inflateReset(&ctx->zstream) != Z_OK) {
                return PT_ERROR;
            }

            ctx->stream_end = 0;
        }

        got = pt_http_codec_out(r, codec);

        if (got != PT_OK) {
            *pos = ctx->zstream.next_in;
            return got;
        }

        b = codec->out->buf;

        ctx->zstream.next_out = b->last;
        ctx->zstream.avail_out = (uInt) (b->end - b->last);

        rc = inflate(&ctx->zstream, Z_NO_FLUSH);

        b->last = ctx->zstream.next_out;
        *pos = ctx->zstream.next_in;

        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                         "inflate() failed: %d%s%s", rc,
                         ctx->zstream.msg ? ": " : "",
                         ctx->zstream.msg ? ctx->zstream.msg : "");
            return PT_ERROR;
        }

        ctx->pending = (ctx->zstream.avail_out == 0 && rc == Z_OK);

        if (ctx->zstream.avail_out == 0) {
            pt_http_codec_pass(codec, 0, 0);
        }

        if (rc == Z_STREAM_END) {
            ctx->stream_end = 1;
        }
    }

    if (op == PT_HTTP_CODEC_PROCESS) {
        return PT_OK;
    }

    if (op == PT_HTTP_CODEC_FINISH && ctx->input && !ctx->stream_end) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "gunzip: the body ends before its gzip stream does");
        return PT_ERROR;
    }

    got = pt_http_codec_out(r, codec);

    if (got != PT_OK) {
        return got;
    }

    if (op == PT_HTTP_CODEC_FINISH) {
        pt_http_codec_pass(codec, 0, 1);
        (void) inflateEnd(&ctx->zstream);
        codec->done = 1;

    } else {
        pt_http_codec_pass(codec, 1, 0);
    }

    return PT_OK;
}


static pt_int_t
pt_http_gunzip_body_filter(pt_http_request_t *r, pt_chain_t *in)
{
    pt_http_gunzip_ctx_t  *ctx;

    ctx = pt_http_get_module_ctx(r, pt_http_gunzip_module);

    if (ctx == NULL) {
        return pt_http_next_body_filter(r, in);
    }

    return pt_http_codec_body_filter(r, &ctx->codec, in);
}


static void *
pt_http_gunzip_create_conf(pt_conf_t *cf)
{
    pt_http_gunzip_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_gunzip_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = PT_CONF_UNSET;

    return conf;
}


static char *
pt_http_gunzip_merge_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_gunzip_conf_t  *prev = parent;
    pt_http_gunzip_conf_t  *conf = child;

    pt_conf_merge_value(conf->enable, prev->enable, 0);
    pt_conf_merge_bufs_value(conf->bufs, prev->bufs, 32, 4096);

    return PT_CONF_OK;
}


static pt_int_t
pt_http_gunzip_init(pt_conf_t *cf)
{
    pt_http_next_header_filter = pt_http_top_header_filter;
    pt_http_top_header_filter = pt_http_gunzip_header_filter;

    pt_http_next_body_filter = pt_http_top_body_filter;
    pt_http_top_body_filter = pt_http_gunzip_body_filter;

    return PT_OK;
}
