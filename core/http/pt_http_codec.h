#ifndef PT_HTTP_CODEC_H
#define PT_HTTP_CODEC_H

/*
 * The body-filter half of a streaming codec (gzip, brotli, gunzip): it
 * keeps the input not yet coded, reads file buffers a piece at a time,
 * hands each piece to the codec's run function with what its buffer asks
 * (go on, flush, finish), and passes the output on in rounds of at most
 * bufs.num buffers, recycling them once the next filters are done with
 * them. A slow client leaves the rest of the input waiting here.
 */

#define PT_HTTP_CODEC_PROCESS   0
#define PT_HTTP_CODEC_FLUSH     1
#define PT_HTTP_CODEC_FINISH    2

#define PT_HTTP_CODEC_FILE_CHUNK  65536     /* read from file buffers */

typedef struct pt_http_codec_s  pt_http_codec_t;

/*
 * Codes [*pos, last) as op asks, moving *pos over what it took, writing
 * into pt_http_codec_out() buffers and handing them on with
 * pt_http_codec_pass(). Returns PT_OK when the input is used up and op
 * complete, PT_AGAIN when this round's output is full (it is called again
 * with the same op once that is passed on), PT_ERROR.
 */
typedef pt_int_t (*pt_http_codec_run_pt)(pt_http_request_t *r,
    pt_http_codec_t *codec, u_char **pos, u_char *last, pt_uint_t op);

struct pt_http_codec_s {
    pt_http_codec_run_pt      run;
    pt_http_output_body_filter_pt  next;    /* the module's next filter */
    void                     *data;         /* the module's ctx */
    pt_buf_tag_t              tag;          /* of the output buffers */
    pt_bufs_t                 bufs;         /* output per round */

    pt_chain_t               *in;           /* input not coded yet */
    pt_chain_t               *free;         /* output buffers to reuse */
    pt_chain_t               *busy;         /* output buffers passed on */
    pt_chain_t               *out;          /* the buffer being filled */
    pt_chain_t              **last_out;     /* where this round's go */
    pt_uint_t                 nout;         /* buffers output this round */

    u_char                   *file_buf;     /* a piece of a file buffer */
    u_char                   *file_pos;
    u_char                   *file_last;

    off_t                     bytes_in;     /* taken by run */
    off_t                     bytes_out;    /* in the buffers passed on */

    unsigned                  done:1;       /* the stream has ended */
};

/* The module's body filter, once it has a codec for r. */
pt_int_t pt_http_codec_body_filter(pt_http_request_t *r,
    pt_http_codec_t *codec, pt_chain_t *in);

/*
 * Makes sure codec->out is a buffer to write into: PT_OK, PT_AGAIN when
 * this round has all the buffers it may, PT_ERROR.
 */
pt_int_t pt_http_codec_out(pt_http_request_t *r, pt_http_codec_t *codec);

/* Hands the buffer being filled to this round's output. */
void pt_http_codec_pass(pt_http_codec_t *codec, pt_uint_t flush,
    pt_uint_t last);

/*
 * Declares the variable name (as "gzip_ratio") whose value is the bytes
 * module's codec took over the bytes it put out, with two decimals
 * ("3.41"); codec_offset is where the codec is in the module's request
 * ctx. Not found while the stream has not ended, or with no ctx.
 */
pt_int_t pt_http_codec_add_ratio(pt_conf_t *cf, const char *name,
    pt_module_t *module, size_t codec_offset);

#endif /* PT_HTTP_CODEC_H */
