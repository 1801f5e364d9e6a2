/*
 * The gzip filter: compresses responses on their way out with zlib,
 * buffer by buffer, flushing when the producer flushes, so streams (server
 * sent events) keep flowing and memory stays at the compressor's window
 * plus a few output buffers, whatever the body's size.
 *
 * It steps aside for responses that already have a Content-Encoding (the
 * brotli filter, which runs before it, may have set one), for statuses
 * other than 200, 403 and 404, for HEAD, and for a Range request that the
 * range filter will answer with a part of the body. Whether the client
 * may get gzip at all (Accept-Encoding, gzip_http_version, gzip_proxied,
 * gzip_disable) and gzip_vary are pt_http_accept_encoding.c's.
 */
#include "pt_http.h"
#include <zlib.h>





typedef struct {
    pt_flag_t        enable;
    pt_http_types_t  types;
    ssize_t          min_length;
    pt_int_t         level;
    pt_bufs_t        bufs;
} pt_http_gzip_conf_t;

typedef struct {
    z_stream          zstream;
    pt_http_codec_t   codec;
    pt_pool_t        *pool;
    u_char           *mem;          /* zlib's memory, one block */
    u_char           *mem_next;     /* what zlib has not taken yet */
    size_t            mem_left;
    unsigned          started:1;
} pt_http_gzip_ctx_t;


/*
 * What deflateInit2() takes, as zlib 1.2 allocates it: its state (about
 * 6 KiB, 8 KiB allowed), the window and the chain of earlier positions
 * (two bytes each per window byte), the hash heads (two bytes each of
 * 1 << (memlevel + 7)) and the pending output (four bytes each of
 * 1 << (memlevel + 6) symbols), and what aligning each piece adds.
 */
#define PT_HTTP_GZIP_ALIGN  16

#define pt_http_gzip_memory(wbits, memlevel)                                  \
    (8192 + ((size_t) 1 << ((wbits) + 2)) + ((size_t) 1 << ((memlevel) + 9))  \
     + 8 * PT_HTTP_GZIP_ALIGN)


static void *pt_http_gzip_create_conf(pt_conf_t *cf);
static char *pt_http_gzip_merge_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_gzip_add_variables(pt_conf_t *cf);
static pt_int_t pt_http_gzip_init(pt_conf_t *cf);
static pt_int_t pt_http_gzip_start(pt_http_request_t *r,
    pt_http_gzip_ctx_t *ctx, pt_http_gzip_conf_t *conf);
static pt_int_t pt_http_gzip_deflate(pt_http_request_t *r,
    pt_http_codec_t *codec, u_char **pos, u_char *last, pt_uint_t op);


static pt_conf_num_bounds_t  pt_http_gzip_comp_level_bounds = {
    pt_conf_check_num_bounds, 1, 9
};


static pt_command_t  pt_http_gzip_commands[] = {

    { pt_string("gzip"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF
      | PT_HTTP_LIF_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_conf_t, enable),
      NULL },

    { pt_string("gzip_types"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_http_types_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_gzip_conf_t, types),
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

    pt_null_command
};


static pt_http_module_t  pt_http_gzip_module_ctx = {
    pt_http_gzip_add_variables,         /* preconfiguration */
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


/*
 * zlib takes all its memory in deflateInit2(): it is carved from one block
 * allocated beforehand for the window and hash sizes asked for, so a
 * response costs one allocation instead of five. A zlib that asks for
 * more than that (another build of it) gets the rest from the request
 * pool. The block goes back early, at the end of the stream; the pool
 * frees it otherwise.
 */
static void *
pt_http_gzip_alloc(void *opaque, u_int items, u_int size)
{
    void                *p;
    size_t               n;
    pt_http_gzip_ctx_t  *ctx = opaque;

    n = pt_align((size_t) items * size, (size_t) PT_HTTP_GZIP_ALIGN);

    if (n <= ctx->mem_left) {
        p = ctx->mem_next;
        ctx->mem_next += n;
        ctx->mem_left -= n;
        return p;
    }

    return pt_palloc(ctx->pool, (size_t) items * size);
}


static void
pt_http_gzip_free(void *opaque, void *address)
{
    pt_http_gzip_ctx_t  *ctx = opaque;

    /* a piece of the block goes with the block */
    if ((u_char *) address >= ctx->mem && (u_char *) address < ctx->mem_next)
    {
        return;
    }

    (void) pt_pfree(ctx->pool, address);
}


/* Ends the stream and gives its memory back early. */
static void
pt_http_gzip_end(pt_http_gzip_ctx_t *ctx)
{
    (void) deflateEnd(&ctx->zstream);
    ctx->codec.done = 1;

    if (ctx->mem) {
        (void) pt_pfree(ctx->pool, ctx->mem);
        ctx->mem = NULL;
        ctx->mem_next = NULL;
        ctx->mem_left = 0;
    }
}


static void
pt_http_gzip_cleanup(void *data)
{
    pt_http_gzip_ctx_t  *ctx = data;

    /* the pool frees the memory: only zlib's own state is ended here */
    if (ctx->started && !ctx->codec.done) {
        (void) deflateEnd(&ctx->zstream);
        ctx->codec.done = 1;
    }
}



static pt_int_t
pt_http_gzip_header_filter(pt_http_request_t *r)
{
    pt_table_elt_t       *h;
    pt_pool_cleanup_t    *cln;
    pt_http_gzip_ctx_t   *ctx;
    pt_http_gzip_conf_t  *conf;

    conf = pt_http_get_module_loc_conf(r, pt_http_gzip_module);

    if (!conf->enable
        || (r->headers_out.status != PT_HTTP_OK
            && r->headers_out.status != PT_HTTP_FORBIDDEN
            && r->headers_out.status != PT_HTTP_NOT_FOUND)
        || pt_http_content_encoding(r)
        || (r->headers_out.content_length_n != -1
            && r->headers_out.content_length_n < conf->min_length)
        || !pt_http_test_content_type(r, &conf->types)
        || r->header_only || r->method == PT_HTTP_HEAD)
    {
        return pt_http_next_header_filter(r);
    }

    /* the response could be compressed: caches must know it varies */
    if (pt_http_gzip_vary(r) != PT_OK) {
        return PT_ERROR;
    }

    if (pt_http_gzip_ok(r) != PT_OK) {
        return pt_http_next_header_filter(r);
    }

    /* a part of the body is asked for: the range filter sends it as is */
    if (r->headers_in.range && r->headers_out.status == PT_HTTP_OK
        && r->headers_out.accept_ranges && r->headers_out.accept_ranges->hash
        && r->headers_out.content_length_n >= 0)
    {
        return pt_http_next_header_filter(r);
    }

    ctx = pt_pcalloc(r->pool, sizeof(pt_http_gzip_ctx_t));
    cln = pt_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || cln == NULL) {
        return PT_ERROR;
    }

    cln->handler = pt_http_gzip_cleanup;
    cln->data = ctx;

    ctx->codec.run = pt_http_gzip_deflate;
    ctx->codec.next = pt_http_next_body_filter;
    ctx->codec.data = ctx;
    ctx->codec.tag = (pt_buf_tag_t) &pt_http_gzip_module;
    ctx->codec.bufs = conf->bufs;

    h = pt_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return PT_ERROR;
    }

    h->hash = 1;
    h->next = NULL;
    h->lowcase_key = NULL;
    pt_str_set(&h->key, "Content-Encoding");
    pt_str_set(&h->value, "gzip");
    r->headers_out.content_encoding = h;

    /* the window fits a small body; the length goes now */
    if (pt_http_gzip_start(r, ctx, conf) != PT_OK
        || pt_http_content_recoded(r) != PT_OK)
    {
        return PT_ERROR;
    }

    pt_http_set_ctx(r, ctx, pt_http_gzip_module);

    return pt_http_next_header_filter(r);
}


static pt_int_t
pt_http_gzip_start(pt_http_request_t *r, pt_http_gzip_ctx_t *ctx,
    pt_http_gzip_conf_t *conf)
{
    int     rc, wbits, memlevel;
    off_t   len;
    size_t  size;

    wbits = MAX_WBITS;
    memlevel = MAX_MEM_LEVEL - 1;

    /*
     * A small known body needs a smaller window (and less memory): as
     * nginx does, the window is halved as long as a window half the size,
     * less the 262 bytes zlib keeps for look-ahead, still holds the body.
     */
    len = r->headers_out.content_length_n;

    if (len > 0) {
        while (wbits > 9 && len < ((off_t) 1 << (wbits - 1)) - 262) {
            wbits--;
            memlevel--;
        }

        if (memlevel < 1) {
            memlevel = 1;
        }
    }

    size = pt_http_gzip_memory(wbits, memlevel);

    ctx->mem = pt_palloc(r->pool, size);
    if (ctx->mem == NULL) {
        return PT_ERROR;
    }

    ctx->mem_next = ctx->mem;
    ctx->mem_left = size;
    ctx->pool = r->pool;

    ctx->zstream.zalloc = pt_http_gzip_alloc;
    ctx->zstream.zfree = pt_http_gzip_free;
    ctx->zstream.opaque = ctx;

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


/*
 * Compresses [*pos, last) as op asks, moving *pos over what zlib took.
 * Returns PT_OK when the input is used up and op is complete, PT_AGAIN
 * when this round's output is full (call again with the same op once it
 * is passed on), PT_ERROR.
 */
static pt_int_t
pt_http_gzip_deflate(pt_http_request_t *r, pt_http_codec_t *codec,
    u_char **pos, u_char *last, pt_uint_t op)
{
    int                  rc, flush;
    pt_int_t             got;
    pt_buf_t            *b;
    pt_http_gzip_ctx_t  *ctx;

    ctx = codec->data;

    flush = (op == PT_HTTP_CODEC_FINISH) ? Z_FINISH
            : (op == PT_HTTP_CODEC_FLUSH) ? Z_SYNC_FLUSH : Z_NO_FLUSH;

    /* pieces are at most a buffer or a file chunk: they fit a uInt */
    pt_assert((size_t) (last - *pos) <= (size_t) 0x7fffffff);

    ctx->zstream.next_in = *pos;
    ctx->zstream.avail_in = (uInt) (last - *pos);

    for ( ;; ) {

        got = pt_http_codec_out(r, codec);

        if (got != PT_OK) {
            *pos = ctx->zstream.next_in;
            return got;
        }

        b = codec->out->buf;

        ctx->zstream.next_out = b->last;
        ctx->zstream.avail_out = (uInt) (b->end - b->last);

        rc = deflate(&ctx->zstream, flush);

        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                         "deflate() failed: %d", rc);
            return PT_ERROR;
        }

        b->last = ctx->zstream.next_out;
        *pos = ctx->zstream.next_in;

        if (rc == Z_STREAM_END) {
            pt_http_codec_pass(codec, 0, 1);
            pt_http_gzip_end(ctx);
            return PT_OK;
        }

        if (ctx->zstream.avail_out == 0) {
            /* full: zlib may hold more */
            pt_http_codec_pass(codec, 0, 0);
            continue;
        }

        /* room left over: the input is used up and a flush complete */

        if (flush == Z_SYNC_FLUSH) {
            pt_http_codec_pass(codec, 1, 0);
        }

        return PT_OK;
    }
}


static pt_int_t
pt_http_gzip_body_filter(pt_http_request_t *r, pt_chain_t *in)
{
    pt_http_gzip_ctx_t  *ctx;

    ctx = pt_http_get_module_ctx(r, pt_http_gzip_module);

    if (ctx == NULL) {
        return pt_http_next_body_filter(r, in);
    }

    return pt_http_codec_body_filter(r, &ctx->codec, in);
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
    conf->types.types = PT_CONF_UNSET_PTR;
    conf->min_length = PT_CONF_UNSET;
    conf->level = PT_CONF_UNSET;

    return conf;
}


static char *
pt_http_gzip_merge_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_gzip_conf_t  *prev = parent;
    pt_http_gzip_conf_t  *conf = child;

    pt_conf_merge_value(conf->enable, prev->enable, 0);
    pt_conf_merge_value(conf->min_length, prev->min_length, 20);
    pt_conf_merge_value(conf->level, prev->level, 1);
    pt_conf_merge_bufs_value(conf->bufs, prev->bufs, 32, 4096);

    if (pt_http_merge_types(cf, &conf->types, &prev->types) != PT_CONF_OK) {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}



/* $gzip_ratio */
static pt_int_t
pt_http_gzip_add_variables(pt_conf_t *cf)
{
    return pt_http_codec_add_ratio(cf, "gzip_ratio", &pt_http_gzip_module,
                                   offsetof(pt_http_gzip_ctx_t, codec));
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
