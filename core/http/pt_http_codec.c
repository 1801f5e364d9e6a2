/*
 * The body-filter loop that gzip, brotli and gunzip share: input kept
 * until coded, file buffers read in pieces, output in bounded rounds with
 * recycled buffers.
 */
#include "pt_http.h"


pt_int_t
pt_http_codec_out(pt_http_request_t *r, pt_http_codec_t *codec)
{
    pt_buf_t    *b;
    pt_chain_t  *cl;

    if (codec->out) {
        return PT_OK;
    }

    if (codec->nout >= (pt_uint_t) codec->bufs.num) {
        return PT_AGAIN;
    }

    if (codec->free) {
        cl = codec->free;
        codec->free = cl->next;

    } else {
        cl = pt_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return PT_ERROR;
        }

        cl->buf = pt_create_temp_buf(r->pool, codec->bufs.size);
        if (cl->buf == NULL) {
            return PT_ERROR;
        }

        cl->buf->tag = codec->tag;
    }

    b = cl->buf;
    b->pos = b->start;
    b->last = b->start;
    cl->next = NULL;
    codec->out = cl;

    return PT_OK;
}


void
pt_http_codec_pass(pt_http_codec_t *codec, pt_uint_t flush, pt_uint_t last)
{
    pt_chain_t  *cl;

    cl = codec->out;
    codec->out = NULL;

    cl->buf->flush = flush;
    cl->buf->last_buf = last;
    cl->next = NULL;

    codec->bytes_out += cl->buf->last - cl->buf->pos;

    *codec->last_out = cl;
    codec->last_out = &cl->next;
    codec->nout++;
}


/* codec->run, counting what it takes */
static pt_int_t
pt_http_codec_run(pt_http_request_t *r, pt_http_codec_t *codec,
    u_char **pos, u_char *last, pt_uint_t op)
{
    u_char    *start;
    pt_int_t   rc;

    start = *pos;

    rc = codec->run(r, codec, pos, last, op);

    if (start != NULL) {
        codec->bytes_in += *pos - start;
    }

    return rc;
}


/*
 * Codes the input held in codec->in until it is used up or this round's
 * output is full. Memory buffers are taken whole, file buffers a piece at
 * a time. Returns PT_OK, PT_AGAIN (output full), PT_ERROR.
 */
static pt_int_t
pt_http_codec_round(pt_http_request_t *r, pt_http_codec_t *codec)
{
    size_t       len;
    ssize_t      n;
    u_char      *none;
    pt_int_t     rc;
    pt_buf_t    *b;
    pt_uint_t    op;
    pt_chain_t  *cl;

    while (codec->in && !codec->done) {
        cl = codec->in;
        b = cl->buf;

        op = b->last_buf ? PT_HTTP_CODEC_FINISH
             : b->flush ? PT_HTTP_CODEC_FLUSH : PT_HTTP_CODEC_PROCESS;

        if (pt_buf_in_memory(b)) {
            rc = pt_http_codec_run(r, codec, &b->pos, b->last, op);

        } else if (b->in_file && (b->file_pos < b->file_last
                                  || codec->file_pos < codec->file_last))
        {
            if (codec->file_pos == codec->file_last) {
                if (codec->file_buf == NULL) {
                    codec->file_buf = pt_palloc(r->pool,
                                                PT_HTTP_CODEC_FILE_CHUNK);
                    if (codec->file_buf == NULL) {
                        return PT_ERROR;
                    }
                }

                len = (size_t) pt_min((off_t) PT_HTTP_CODEC_FILE_CHUNK,
                                      b->file_last - b->file_pos);

                n = pread(b->file->fd, codec->file_buf, len, b->file_pos);

                if (n <= 0) {
                    pt_log_error(PT_LOG_CRIT, r->connection->log,
                                 n ? errno : 0, "pread() \"%.*s\" failed",
                                 PT_STR_ARG(b->file->name));
                    return PT_ERROR;
                }

                b->file_pos += n;
                codec->file_pos = codec->file_buf;
                codec->file_last = codec->file_buf + n;
            }

            if (b->file_pos < b->file_last) {
                op = PT_HTTP_CODEC_PROCESS;     /* not the last piece */
            }

            rc = pt_http_codec_run(r, codec, &codec->file_pos,
                                   codec->file_last, op);

            if (rc == PT_OK && b->file_pos < b->file_last) {
                continue;                       /* the next piece */
            }

        } else if (op != PT_HTTP_CODEC_PROCESS) {
            /* a marker */
            none = NULL;
            rc = pt_http_codec_run(r, codec, &none, NULL, op);

        } else {
            rc = PT_OK;
        }

        if (rc != PT_OK) {
            return rc;
        }

        codec->in = cl->next;
        pt_free_chain(r->pool, cl);
    }

    return PT_OK;
}


pt_int_t
pt_http_codec_body_filter(pt_http_request_t *r, pt_http_codec_t *codec,
    pt_chain_t *in)
{
    pt_int_t     rc;
    pt_chain_t  *out;

    if (codec->done) {
        return codec->next(r, in);
    }

    if (in && pt_chain_add_copy(r->pool, &codec->in, in) != PT_OK) {
        return PT_ERROR;
    }

    /*
     * Rounds of coding and passing on, as long as the client takes what
     * it gets: a slow one leaves the rest of the input here (only file
     * buffers, or memory a round's output could not hold).
     */
    for ( ;; ) {
        out = NULL;
        codec->last_out = &out;
        codec->nout = 0;

        if (pt_http_codec_round(r, codec) == PT_ERROR) {
            return PT_ERROR;
        }

        rc = codec->next(r, out);

        if (rc == PT_ERROR) {
            return PT_ERROR;
        }

        pt_chain_update_chains(r->pool, &codec->free, &codec->busy, &out,
                               codec->tag);

        if (codec->in == NULL || codec->done || rc != PT_OK) {
            return rc;
        }
    }
}


/* the module that owns a ratio variable, and where its codec is */
typedef struct {
    pt_module_t     *module;
    size_t           codec_offset;
} pt_http_codec_ratio_t;


static pt_int_t
pt_http_codec_ratio_variable(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    pt_http_codec_ratio_t  *ratio = (pt_http_codec_ratio_t *) data;

    u_char           *p, *ctx;
    uint64_t          in, out, whole, rest, frac;
    pt_http_codec_t  *codec;

    ctx = r->ctx[ratio->module->ctx_index];
    codec = ctx ? (pt_http_codec_t *) (ctx + ratio->codec_offset) : NULL;

    if (codec == NULL || !codec->done || codec->bytes_in < 0
        || codec->bytes_out <= 0)
    {
        v->not_found = 1;
        return PT_OK;
    }

    in = (uint64_t) codec->bytes_in;
    out = (uint64_t) codec->bytes_out;

    whole = in / out;
    rest = in % out;

    /*
     * Thousandths, truncated, then rounded to hundredths on the third
     * digit, as nginx does (2.125 gives 2.13, 2.1249 gives 2.12). rest
     * times 1000 overflows only past 18 PB of output: both are halved
     * until it fits, which moves the fraction by far less than that.
     */
    while (rest > UINT64_MAX / 1000) {
        rest >>= 1;
        out >>= 1;
    }

    frac = pt_min(rest * 1000 / out, (uint64_t) 999);
    frac = frac / 10 + (frac % 10 > 4);

    if (frac == 100) {
        whole++;
        frac = 0;
    }

    p = pt_pnalloc(r->pool, PT_INT_T_LEN + sizeof(".00") - 1);
    if (p == NULL) {
        return PT_ERROR;
    }

    v->data = p;

    p = pt_sprint_uint(p, whole);
    *p++ = '.';
    *p++ = (u_char) ('0' + frac / 10);
    *p++ = (u_char) ('0' + frac % 10);

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


pt_int_t
pt_http_codec_add_ratio(pt_conf_t *cf, const char *name, pt_module_t *module,
    size_t codec_offset)
{
    pt_str_t                n;
    pt_http_variable_t     *var;
    pt_http_codec_ratio_t  *ratio;

    ratio = pt_palloc(cf->pool, sizeof(pt_http_codec_ratio_t));
    if (ratio == NULL) {
        return PT_ERROR;
    }

    ratio->module = module;
    ratio->codec_offset = codec_offset;

    n.data = (u_char *) name;
    n.len = strlen(name);

    var = pt_http_add_variable(cf, &n, PT_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return PT_ERROR;
    }

    var->get_handler = pt_http_codec_ratio_variable;
    var->data = (uintptr_t) ratio;

    return PT_OK;
}
