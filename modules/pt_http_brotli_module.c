/*
 * The brotli filter: compresses responses for clients that accept "br",
 * with the directives of the well-known ngx_brotli module (brotli,
 * brotli_types, brotli_comp_level, brotli_min_length, brotli_window).
 *
 * It runs before the gzip filter, so a client that accepts both gets
 * brotli and the gzip filter, seeing a Content-Encoding, steps aside. It
 * skips what the gzip filter skips: responses already encoded, statuses
 * other than 200, 403 and 404, HEAD, and a Range request the range filter
 * will answer with a part. As ngx_brotli, it looks at the client's
 * Accept-Encoding only (not gzip_proxied, gzip_disable or
 * gzip_http_version) and says Vary when gzip_vary is on.
 *
 * The body streams through the encoder as it comes: PROCESS for data,
 * FLUSH when the producer flushes (server-sent events keep flowing),
 * FINISH at the end. Memory is the encoder's (its window and tables) and
 * a round's output buffers; a file is read a piece at a time, and only
 * while the client takes what it is given.
 *
 * The encoder allocates through the request: every block it takes is
 * linked in the context and owned by a cleanup of the request pool, so
 * what it frees goes back at once (it frees and allocates again for each
 * metablock, which a pool could only keep) and a finished or aborted
 * request frees all that is left.
 */
#include "pt_http.h"
#include <brotli/encode.h>


#define PT_HTTP_BROTLI_BUF_SIZE               8192
#define PT_HTTP_BROTLI_BUFS                   16


typedef struct {
    pt_flag_t        enable;
    pt_http_types_t  types;
    ssize_t          min_length;
    pt_int_t         level;
    size_t           window;
} pt_http_brotli_conf_t;

/* the header of a block the encoder allocated */
typedef struct pt_http_brotli_mem_s  pt_http_brotli_mem_t;

struct pt_http_brotli_mem_s {
    pt_http_brotli_mem_t  *prev;
    pt_http_brotli_mem_t  *next;
    size_t                 size;
};

/* the encoder's memory follows the header, as aligned as malloc's */
#define PT_HTTP_BROTLI_MEM_HEADER                                            \
    ((sizeof(pt_http_brotli_mem_t) + 15) & ~(size_t) 15)

typedef struct {
    BrotliEncoderState   *encoder;
    pt_http_request_t    *request;
    pt_http_brotli_mem_t  mem;          /* sentinel of the encoder's blocks */
    size_t                mem_size;     /* bytes the encoder holds */
    pt_http_codec_t       codec;
} pt_http_brotli_ctx_t;


static void *pt_http_brotli_create_conf(pt_conf_t *cf);
static pt_int_t pt_http_brotli_compress(pt_http_request_t *r,
    pt_http_codec_t *codec, u_char **pos, u_char *last, pt_uint_t op);
static char *pt_http_brotli_merge_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_brotli_add_variables(pt_conf_t *cf);
static pt_int_t pt_http_brotli_init(pt_conf_t *cf);
static char *pt_http_brotli_check_window(pt_conf_t *cf, void *post,
    void *data);


static pt_conf_num_bounds_t  pt_http_brotli_comp_level_bounds = {
    pt_conf_check_num_bounds, BROTLI_MIN_QUALITY, BROTLI_MAX_QUALITY
};

static pt_conf_post_t  pt_http_brotli_window_post = {
    pt_http_brotli_check_window
};


static pt_command_t  pt_http_brotli_commands[] = {

    { pt_string("brotli"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF
      | PT_HTTP_LIF_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_brotli_conf_t, enable),
      NULL },

    { pt_string("brotli_types"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_http_types_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_brotli_conf_t, types),
      NULL },

    { pt_string("brotli_min_length"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_size_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_brotli_conf_t, min_length),
      NULL },

    { pt_string("brotli_comp_level"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_num_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_brotli_conf_t, level),
      &pt_http_brotli_comp_level_bounds },

    { pt_string("brotli_window"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_size_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_brotli_conf_t, window),
      &pt_http_brotli_window_post },

    pt_null_command
};


static pt_http_module_t  pt_http_brotli_module_ctx = {
    pt_http_brotli_add_variables,       /* preconfiguration */
    pt_http_brotli_init,                    /* postconfiguration */
    NULL, NULL, NULL, NULL,
    pt_http_brotli_create_conf,
    pt_http_brotli_merge_conf
};


pt_module_t  pt_http_brotli_module = {
    .ctx = &pt_http_brotli_module_ctx,
    .commands = pt_http_brotli_commands,
    .type = PT_HTTP_MODULE,
};


static pt_http_output_header_filter_pt  pt_http_next_header_filter;
static pt_http_output_body_filter_pt    pt_http_next_body_filter;


static void *
pt_http_brotli_alloc(void *opaque, size_t size)
{
    pt_http_brotli_ctx_t  *ctx = opaque;

    pt_http_brotli_mem_t  *m;

    m = pt_alloc(PT_HTTP_BROTLI_MEM_HEADER + size,
                 ctx->request->connection->log);
    if (m == NULL) {
        return NULL;
    }

    m->size = size;
    m->prev = &ctx->mem;
    m->next = ctx->mem.next;
    ctx->mem.next->prev = m;
    ctx->mem.next = m;

    ctx->mem_size += size;

    return (u_char *) m + PT_HTTP_BROTLI_MEM_HEADER;
}


static void
pt_http_brotli_free(void *opaque, void *address)
{
    pt_http_brotli_ctx_t  *ctx = opaque;

    pt_http_brotli_mem_t  *m;

    if (address == NULL) {
        return;
    }

    m = (pt_http_brotli_mem_t *) ((u_char *) address
                                  - PT_HTTP_BROTLI_MEM_HEADER);

    m->prev->next = m->next;
    m->next->prev = m->prev;

    ctx->mem_size -= m->size;

    free(m);
}


/* The request pool goes: the encoder, and what it still holds, with it. */
static void
pt_http_brotli_cleanup(void *data)
{
    pt_http_brotli_ctx_t  *ctx = data;

    pt_http_brotli_mem_t  *m, *next;

    if (ctx->encoder) {
        BrotliEncoderDestroyInstance(ctx->encoder);
        ctx->encoder = NULL;
    }

    for (m = ctx->mem.next; m != &ctx->mem; m = next) {
        next = m->next;
        free(m);
    }

    ctx->mem.next = &ctx->mem;
    ctx->mem.prev = &ctx->mem;
    ctx->mem_size = 0;
}



static pt_int_t
pt_http_brotli_start(pt_http_request_t *r, pt_http_brotli_ctx_t *ctx,
    pt_http_brotli_conf_t *conf)
{
    int    lgwin;
    off_t  len;

    for (lgwin = BROTLI_MIN_WINDOW_BITS;
         lgwin < BROTLI_MAX_WINDOW_BITS && ((size_t) 1 << lgwin) < conf->window;
         lgwin++)
    {
        /* void */
    }

    /* a small known body needs no bigger window than itself */
    len = r->headers_out.content_length_n;

    while (len > 0 && lgwin > BROTLI_MIN_WINDOW_BITS
           && ((off_t) 1 << (lgwin - 1)) >= len)
    {
        lgwin--;
    }

    ctx->encoder = BrotliEncoderCreateInstance(pt_http_brotli_alloc,
                                               pt_http_brotli_free, ctx);
    if (ctx->encoder == NULL) {
        pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                     "BrotliEncoderCreateInstance() failed");
        return PT_ERROR;
    }

    if (!BrotliEncoderSetParameter(ctx->encoder, BROTLI_PARAM_QUALITY,
                                   (uint32_t) conf->level)
        || !BrotliEncoderSetParameter(ctx->encoder, BROTLI_PARAM_LGWIN,
                                      (uint32_t) lgwin)
        || (len > 0
            && !BrotliEncoderSetParameter(ctx->encoder,
                                          BROTLI_PARAM_SIZE_HINT,
                                          (uint32_t) pt_min(len,
                                                     (off_t) 0x40000000))))
    {
        pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                     "BrotliEncoderSetParameter() failed");
        return PT_ERROR;
    }

    return PT_OK;
}


static pt_int_t
pt_http_brotli_header_filter(pt_http_request_t *r)
{
    pt_table_elt_t         *h;
    pt_pool_cleanup_t      *cln;
    pt_http_brotli_ctx_t   *ctx;
    pt_http_brotli_conf_t  *conf;

    conf = pt_http_get_module_loc_conf(r, pt_http_brotli_module);

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

    if (pt_http_gzip_vary(r) != PT_OK) {
        return PT_ERROR;
    }

    if (r != r->main || pt_http_accept_encoding(r, "br") <= 0) {
        return pt_http_next_header_filter(r);
    }

    /* a part of the body is asked for: the range filter sends it as is */
    if (r->headers_in.range && r->headers_out.status == PT_HTTP_OK
        && r->headers_out.accept_ranges && r->headers_out.accept_ranges->hash
        && r->headers_out.content_length_n >= 0)
    {
        return pt_http_next_header_filter(r);
    }

    ctx = pt_pcalloc(r->pool, sizeof(pt_http_brotli_ctx_t));
    cln = pt_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || cln == NULL) {
        return PT_ERROR;
    }

    ctx->request = r;
    ctx->mem.next = &ctx->mem;
    ctx->mem.prev = &ctx->mem;

    ctx->codec.run = pt_http_brotli_compress;
    ctx->codec.next = pt_http_next_body_filter;
    ctx->codec.data = ctx;
    ctx->codec.tag = (pt_buf_tag_t) &pt_http_brotli_module;
    ctx->codec.bufs.num = PT_HTTP_BROTLI_BUFS;
    ctx->codec.bufs.size = PT_HTTP_BROTLI_BUF_SIZE;

    cln->handler = pt_http_brotli_cleanup;
    cln->data = ctx;

    if (pt_http_brotli_start(r, ctx, conf) != PT_OK) {
        return PT_ERROR;
    }

    h = pt_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return PT_ERROR;
    }

    h->hash = 1;
    h->next = NULL;
    h->lowcase_key = NULL;
    pt_str_set(&h->key, "Content-Encoding");
    pt_str_set(&h->value, "br");
    r->headers_out.content_encoding = h;

    if (pt_http_content_recoded(r) != PT_OK) {
        return PT_ERROR;
    }

    pt_http_set_ctx(r, ctx, pt_http_brotli_module);

    return pt_http_next_header_filter(r);
}


/*
 * Compresses [*pos, last) as op asks, moving *pos over what the encoder
 * took. Returns PT_OK when the input is used up and op is complete,
 * PT_AGAIN when this round's output is full (call again with the same op
 * once it is passed on), PT_ERROR.
 */
static pt_int_t
pt_http_brotli_compress(pt_http_request_t *r, pt_http_codec_t *codec,
    u_char **pos, u_char *last, pt_uint_t op)
{
    size_t                   avail_in, avail_out;
    uint8_t                 *next_out;
    pt_int_t                 got;
    pt_buf_t                *b;
    const uint8_t           *next_in;
    pt_http_brotli_ctx_t    *ctx;
    BrotliEncoderOperation   bop;

    ctx = codec->data;

    bop = (op == PT_HTTP_CODEC_FINISH) ? BROTLI_OPERATION_FINISH
          : (op == PT_HTTP_CODEC_FLUSH) ? BROTLI_OPERATION_FLUSH
                                        : BROTLI_OPERATION_PROCESS;

    next_in = *pos;
    avail_in = last - *pos;

    for ( ;; ) {

        got = pt_http_codec_out(r, codec);

        if (got != PT_OK) {
            *pos = (u_char *) next_in;
            return got;
        }

        b = codec->out->buf;

        next_out = b->last;
        avail_out = b->end - b->last;

        if (!BrotliEncoderCompressStream(ctx->encoder, bop, &avail_in,
                                         &next_in, &avail_out, &next_out,
                                         NULL))
        {
            pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                         "BrotliEncoderCompressStream() failed");
            return PT_ERROR;
        }

        b->last = next_out;
        *pos = (u_char *) next_in;

        if (bop == BROTLI_OPERATION_FINISH
            && BrotliEncoderIsFinished(ctx->encoder))
        {
            pt_http_codec_pass(codec, 0, 1);

            /* what the encoder held is free before the request ends */
            BrotliEncoderDestroyInstance(ctx->encoder);
            ctx->encoder = NULL;
            codec->done = 1;

            return PT_OK;
        }

        if (avail_out == 0) {
            pt_http_codec_pass(codec, 0, 0);
            continue;
        }

        if (avail_in || BrotliEncoderHasMoreOutput(ctx->encoder)
            || bop == BROTLI_OPERATION_FINISH)
        {
            continue;
        }

        if (bop == BROTLI_OPERATION_FLUSH) {
            pt_http_codec_pass(codec, 1, 0);
        }

        return PT_OK;
    }
}


static pt_int_t
pt_http_brotli_body_filter(pt_http_request_t *r, pt_chain_t *in)
{
    pt_http_brotli_ctx_t  *ctx;

    ctx = pt_http_get_module_ctx(r, pt_http_brotli_module);

    if (ctx == NULL) {
        return pt_http_next_body_filter(r, in);
    }

    return pt_http_codec_body_filter(r, &ctx->codec, in);
}


static void *
pt_http_brotli_create_conf(pt_conf_t *cf)
{
    pt_http_brotli_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_brotli_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = PT_CONF_UNSET;
    conf->types.types = PT_CONF_UNSET_PTR;
    conf->min_length = PT_CONF_UNSET;
    conf->level = PT_CONF_UNSET;
    conf->window = PT_CONF_UNSET_SIZE;

    return conf;
}


static char *
pt_http_brotli_merge_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_brotli_conf_t  *prev = parent;
    pt_http_brotli_conf_t  *conf = child;

    pt_conf_merge_value(conf->enable, prev->enable, 0);
    pt_conf_merge_value(conf->min_length, prev->min_length, 20);
    pt_conf_merge_value(conf->level, prev->level, 6);
    pt_conf_merge_size_value(conf->window, prev->window, 512 * 1024);

    if (pt_http_merge_types(cf, &conf->types, &prev->types) != PT_CONF_OK) {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}



/* brotli_window SIZE: a power of two from 1k to 16m, as ngx_brotli says. */
static char *
pt_http_brotli_check_window(pt_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    if (*sp < ((size_t) 1 << BROTLI_MIN_WINDOW_BITS)
        || *sp > ((size_t) 1 << BROTLI_MAX_WINDOW_BITS)
        || (*sp & (*sp - 1)) != 0)
    {
        return "must be a power of 2 from 1k to 16m";
    }

    return PT_CONF_OK;
}


/* $brotli_ratio */
static pt_int_t
pt_http_brotli_add_variables(pt_conf_t *cf)
{
    return pt_http_codec_add_ratio(cf, "brotli_ratio", &pt_http_brotli_module,
                                   offsetof(pt_http_brotli_ctx_t, codec));
}


static pt_int_t
pt_http_brotli_init(pt_conf_t *cf)
{
    pt_http_next_header_filter = pt_http_top_header_filter;
    pt_http_top_header_filter = pt_http_brotli_header_filter;

    pt_http_next_body_filter = pt_http_top_body_filter;
    pt_http_top_body_filter = pt_http_brotli_body_filter;

    return PT_OK;
}
