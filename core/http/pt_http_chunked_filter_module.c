/*
 * Chunked transfer coding for HTTP/1.1 responses of unknown length. The
 * header filter decides; the body filter wraps each run of data in a chunk
 * header and PT_CRLF, and ends with the last chunk.
 */
#include "pt_http.h"


static pt_int_t pt_http_chunked_filter_init(pt_conf_t *cf);


static pt_http_module_t  pt_http_chunked_filter_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_chunked_filter_init,            /* postconfiguration */
    NULL, NULL, NULL, NULL, NULL, NULL
};


pt_module_t  pt_http_chunked_filter_module = {
    .ctx = &pt_http_chunked_filter_module_ctx,
    .type = PT_HTTP_MODULE,
};


static pt_http_output_header_filter_pt  pt_http_next_header_filter;
static pt_http_output_body_filter_pt    pt_http_next_body_filter;


static pt_int_t
pt_http_chunked_header_filter(pt_http_request_t *r)
{
    if (r->headers_out.status == PT_HTTP_NOT_MODIFIED
        || r->headers_out.status == PT_HTTP_NO_CONTENT
        || r->headers_out.status < PT_HTTP_OK
        || r->header_only
        || r->method == PT_HTTP_HEAD)
    {
        return pt_http_next_header_filter(r);
    }

    if (r->headers_out.content_length_n == -1) {
        if (r->http_version >= PT_HTTP_VERSION_11) {
            r->chunked = 1;
        } else {
            /* HTTP/1.0: the end of the body is the end of the connection */
            r->keepalive = 0;
        }
    }

    return pt_http_next_header_filter(r);
}


static pt_int_t
pt_http_chunked_body_filter(pt_http_request_t *r, pt_chain_t *in)
{
    off_t        size;
    pt_buf_t    *b;
    pt_chain_t  *out, *cl, *tl, **ll;

    if (in == NULL || !r->chunked || r->header_only) {
        return pt_http_next_body_filter(r, in);
    }

    out = NULL;
    ll = &out;

    size = 0;
    cl = in;

    for ( ;; ) {
        size += pt_buf_size(cl->buf);

        if (cl->buf->flush || cl->buf->sync || pt_buf_in_memory(cl->buf)
            || cl->buf->in_file)
        {
            tl = pt_alloc_chain_link(r->pool);
            if (tl == NULL) {
                return PT_ERROR;
            }

            tl->buf = cl->buf;
            *ll = tl;
            ll = &tl->next;
        }

        if (cl->next == NULL) {
            break;
        }

        cl = cl->next;
    }

    if (size) {
        /* a chunk header in front of this run */
        b = pt_calloc_buf(r->pool);
        tl = pt_alloc_chain_link(r->pool);
        if (b == NULL || tl == NULL) {
            return PT_ERROR;
        }

        b->start = pt_pnalloc(r->pool, sizeof("0000000000000000\r\n"));
        if (b->start == NULL) {
            return PT_ERROR;
        }

        b->last = pt_sprint_hex(b->start, (uint64_t) size);
        *b->last++ = PT_CR; *b->last++ = PT_LF;

        b->temporary = 1;
        b->pos = b->start;

        tl->buf = b;
        tl->next = out;
        out = tl;
    }

    if (cl->buf->last_buf) {
        tl = pt_alloc_chain_link(r->pool);
        b = pt_calloc_buf(r->pool);
        if (tl == NULL || b == NULL) {
            return PT_ERROR;
        }

        b->last_buf = 1;
        b->memory = 1;

        if (size) {
            b->pos = (u_char *) "\r\n0\r\n\r\n";
            b->last = b->pos + 7;
        } else {
            b->pos = (u_char *) "0\r\n\r\n";
            b->last = b->pos + 5;
        }

        cl->buf->last_buf = 0;
        *ll = tl;
        tl->buf = b;
        tl->next = NULL;

    } else if (size > 0) {
        tl = pt_alloc_chain_link(r->pool);
        b = pt_calloc_buf(r->pool);
        if (tl == NULL || b == NULL) {
            return PT_ERROR;
        }

        b->memory = 1;
        b->pos = (u_char *) "\r\n";
        b->last = b->pos + 2;

        *ll = tl;
        tl->buf = b;
        tl->next = NULL;

    } else {
        *ll = NULL;
    }

    return pt_http_next_body_filter(r, out);
}


static pt_int_t
pt_http_chunked_filter_init(pt_conf_t *cf)
{
    pt_http_next_header_filter = pt_http_top_header_filter;
    pt_http_top_header_filter = pt_http_chunked_header_filter;

    pt_http_next_body_filter = pt_http_top_body_filter;
    pt_http_top_body_filter = pt_http_chunked_body_filter;

    return PT_OK;
}
