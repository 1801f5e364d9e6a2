/*
 * The bottom of the body filter chain: gathers what the filters pass down
 * and sends it with as few syscalls as possible, holding small writes back
 * (postpone_output) until there is a packet's worth or the response ends.
 */
#include "pt_http.h"


static pt_int_t pt_http_write_filter_init(pt_conf_t *cf);


static pt_http_module_t  pt_http_write_filter_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_write_filter_init,              /* postconfiguration */
    NULL, NULL, NULL, NULL, NULL, NULL
};


pt_module_t  pt_http_write_filter_module = {
    .ctx = &pt_http_write_filter_module_ctx,
    .type = PT_HTTP_MODULE,
};


pt_int_t
pt_http_output_filter(pt_http_request_t *r, pt_chain_t *in)
{
    pt_int_t  rc;

    rc = pt_http_top_body_filter(r, in);

    if (rc == PT_ERROR) {
        r->connection->error = 1;
    }

    return rc;
}


pt_int_t
pt_http_write_filter(pt_http_request_t *r, pt_chain_t *in)
{
    off_t                      size;
    pt_uint_t                  last, flush;
    pt_chain_t                *cl, *ln, **ll, *chain;
    pt_connection_t           *c;
    pt_http_core_loc_conf_t   *clcf;

    c = r->connection;

    if (c->error) {
        return PT_ERROR;
    }

    size = 0;
    flush = 0;
    last = 0;
    ll = &r->out;

    /* what is still waiting from before */

    for (cl = r->out; cl; cl = cl->next) {
        ll = &cl->next;

        size += pt_buf_size(cl->buf);

        if (cl->buf->flush) {
            flush = 1;
        }

        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    /* append the new links */

    for (ln = in; ln; ln = ln->next) {
        cl = pt_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return PT_ERROR;
        }

        cl->buf = ln->buf;
        *ll = cl;
        ll = &cl->next;

        if (pt_buf_size(cl->buf) < 0) {
            pt_log_error(PT_LOG_ALERT, c->log, 0, "negative size buf in "
                         "writer");
            return PT_ERROR;
        }

        size += pt_buf_size(cl->buf);

        if (cl->buf->flush) {
            flush = 1;
        }

        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    *ll = NULL;

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    if (!last && !flush && in && size < (off_t) clcf->postpone_output) {
        return PT_OK;
    }

    if (size == 0 && !(last || flush)) {
        return PT_OK;
    }

    if (size == 0) {
        /* only markers: drop them */
        r->out = NULL;
        return PT_OK;
    }

    if (clcf->tcp_nopush && c->tcp_nopush == PT_TCP_NOPUSH_UNSET) {
        /*
         * With a file in the response, TCP_CORK lets the head and the
         * first file bytes leave in full packets; it comes off at the end.
         */
        for (cl = r->out; cl; cl = cl->next) {
            if (cl->buf->in_file) {
                if (pt_tcp_nopush(c->fd) == -1) {
                    (void) pt_connection_error(c, errno,
                                               "setsockopt(TCP_CORK) failed");
                } else {
                    c->tcp_nopush = PT_TCP_NOPUSH_SET;
                }

                break;
            }
        }
    }

    chain = c->send_chain(c, r->out, 0);

    if (chain == PT_CHAIN_ERROR) {
        c->error = 1;
        return PT_ERROR;
    }

    if (chain == NULL && last && c->tcp_nopush == PT_TCP_NOPUSH_SET) {
        if (pt_tcp_push(c->fd) == -1) {
            (void) pt_connection_error(c, errno,
                                       "setsockopt(!TCP_CORK) failed");
        }

        c->tcp_nopush = PT_TCP_NOPUSH_UNSET;
    }

    /* return the links of what went out to the pool */
    for (cl = r->out; cl && cl != chain; /* void */) {
        ln = cl;
        cl = cl->next;
        pt_free_chain(r->pool, ln);
    }

    r->out = chain;

    if (chain) {
        return PT_AGAIN;
    }

    return PT_OK;
}


static pt_int_t
pt_http_write_filter_init(pt_conf_t *cf)
{
    pt_http_top_body_filter = pt_http_write_filter;

    return PT_OK;
}
