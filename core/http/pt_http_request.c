/*
 * The HTTP/1.x connection: reading and checking the request head,
 * finishing requests, keep-alive and pipelining, lingering close.
 */
#include "pt_http.h"


pt_connection_handler_pt  pt_http_ssl_init_connection;
static pt_http_request_t *pt_http_create_request(pt_connection_t *c);
static void pt_http_process_request_line(pt_event_t *rev);
static void pt_http_process_request_headers(pt_event_t *rev);
static ssize_t pt_http_read_request_header(pt_http_request_t *r);
static pt_uint_t pt_http_count_headers(pt_list_t *list);
static pt_int_t pt_http_alloc_large_header_buffer(pt_http_request_t *r,
    pt_uint_t request_line);
static pt_int_t pt_http_process_request_uri(pt_http_request_t *r);
static pt_int_t pt_http_process_request_header(pt_http_request_t *r);
static void pt_http_process_request(pt_http_request_t *r);

static pt_int_t pt_http_process_header_line(pt_http_request_t *r,
    pt_table_elt_t *h, pt_uint_t offset);
static pt_int_t pt_http_process_unique_header_line(pt_http_request_t *r,
    pt_table_elt_t *h, pt_uint_t offset);
static pt_int_t pt_http_process_host(pt_http_request_t *r,
    pt_table_elt_t *h, pt_uint_t offset);
static pt_int_t pt_http_process_connection(pt_http_request_t *r,
    pt_table_elt_t *h, pt_uint_t offset);
static pt_int_t pt_http_process_content_length(pt_http_request_t *r,
    pt_table_elt_t *h, pt_uint_t offset);

static void pt_http_request_handler_write(pt_event_t *ev);
static void pt_http_writer(pt_http_request_t *r);
static void pt_http_finalize_connection(pt_http_request_t *r);
static void pt_http_terminate_request(pt_http_request_t *r, pt_int_t rc);
static void pt_http_set_keepalive(pt_http_request_t *r);
static void pt_http_set_lingering_close(pt_connection_t *c);
static void pt_http_lingering_close_handler(pt_event_t *ev);
static void pt_http_close_request(pt_http_request_t *r, pt_int_t rc);
static void pt_http_log_request(pt_http_request_t *r);
static u_char *pt_http_log_error(pt_log_t *log, u_char *buf, size_t len);
static void pt_http_free_header_buffer(pt_connection_t *c);
static pt_buf_t *pt_http_alloc_header_buffer(pt_connection_t *c, size_t size);
static void pt_http_destroy_header_buffer(pt_buf_t *b);



static pt_http_header_t  pt_http_headers_in[] = {
    { pt_string("Host"), offsetof(pt_http_headers_in_t, host),
      pt_http_process_host },

    { pt_string("Connection"), offsetof(pt_http_headers_in_t, connection),
      pt_http_process_connection },

    { pt_string("If-Modified-Since"),
      offsetof(pt_http_headers_in_t, if_modified_since),
      pt_http_process_unique_header_line },

    { pt_string("If-Unmodified-Since"),
      offsetof(pt_http_headers_in_t, if_unmodified_since),
      pt_http_process_unique_header_line },

    { pt_string("If-Match"), offsetof(pt_http_headers_in_t, if_match),
      pt_http_process_unique_header_line },

    { pt_string("If-None-Match"), offsetof(pt_http_headers_in_t, if_none_match),
      pt_http_process_unique_header_line },

    { pt_string("User-Agent"), offsetof(pt_http_headers_in_t, user_agent),
      pt_http_process_header_line },

    { pt_string("Referer"), offsetof(pt_http_headers_in_t, referer),
      pt_http_process_header_line },

    { pt_string("Content-Length"),
      offsetof(pt_http_headers_in_t, content_length),
      pt_http_process_content_length },

    { pt_string("Content-Range"),
      offsetof(pt_http_headers_in_t, content_range),
      pt_http_process_unique_header_line },

    { pt_string("Content-Type"), offsetof(pt_http_headers_in_t, content_type),
      pt_http_process_header_line },

    { pt_string("Range"), offsetof(pt_http_headers_in_t, range),
      pt_http_process_header_line },

    { pt_string("If-Range"), offsetof(pt_http_headers_in_t, if_range),
      pt_http_process_unique_header_line },

    { pt_string("Transfer-Encoding"),
      offsetof(pt_http_headers_in_t, transfer_encoding),
      pt_http_process_unique_header_line },

    { pt_string("TE"), offsetof(pt_http_headers_in_t, te),
      pt_http_process_header_line },

    { pt_string("Expect"), offsetof(pt_http_headers_in_t, expect),
      pt_http_process_unique_header_line },

    { pt_string("Upgrade"), offsetof(pt_http_headers_in_t, upgrade),
      pt_http_process_header_line },

    { pt_string("Accept-Encoding"),
      offsetof(pt_http_headers_in_t, accept_encoding),
      pt_http_process_header_line },

    { pt_string("Authorization"),
      offsetof(pt_http_headers_in_t, authorization),
      pt_http_process_unique_header_line },

    { pt_string("Keep-Alive"), offsetof(pt_http_headers_in_t, keep_alive),
      pt_http_process_header_line },

    { pt_string("Cookie"), offsetof(pt_http_headers_in_t, cookie),
      pt_http_process_header_line },

    { pt_string("X-Forwarded-For"),
      offsetof(pt_http_headers_in_t, x_forwarded_for),
      pt_http_process_header_line },

    { pt_string("X-Real-IP"), offsetof(pt_http_headers_in_t, x_real_ip),
      pt_http_process_header_line },

    { pt_null_string, 0, NULL }
};


pt_int_t
pt_http_init_headers_in_hash(pt_conf_t *cf, pt_http_core_main_conf_t *cmcf)
{
    pt_uint_t          n;
    pt_array_t         headers_in;
    pt_hash_key_t     *hk;
    pt_http_header_t  *header;

    if (pt_array_init(&headers_in, cf->temp_pool, 32, sizeof(pt_hash_key_t))
        != PT_OK)
    {
        return PT_ERROR;
    }

    for (header = pt_http_headers_in; header->name.len; header++) {
        hk = pt_array_push(&headers_in);
        if (hk == NULL) {
            return PT_ERROR;
        }

        hk->key = header->name;
        hk->key_hash = pt_hash_key_lc(header->name.data, header->name.len);
        hk->value = header;
    }

    n = headers_in.nelts;

    return pt_hash_init(&cmcf->headers_in_hash, cf->pool, headers_in.elts, n);
}


void
pt_http_init_connection(pt_connection_t *c)
{
    pt_uint_t              i;
    pt_event_t            *rev;
    pt_http_port_t        *port;
    pt_http_in_addr_t     *addr;
    pt_http_log_ctx_t     *ctx;
    pt_http_connection_t  *hc;

    hc = pt_pcalloc(c->pool, sizeof(pt_http_connection_t));
    if (hc == NULL) {
        pt_http_close_connection(c);
        return;
    }

    c->data = hc;

    port = c->listening->servers;

    if (port->naddrs > 1) {
        /* a wildcard socket: the local address picks the servers */
        if (pt_connection_local_sockaddr(c, NULL, 0) != PT_OK) {
            pt_http_close_connection(c);
            return;
        }

        addr = port->addrs;

        for (i = 0; i < port->naddrs - 1; i++) {
            if (pt_cmp_sockaddr(&addr[i].sockaddr.sockaddr, addr[i].socklen,
                                c->local_sockaddr, c->local_socklen, 0)
                == PT_OK)
            {
                break;
            }
        }

        hc->addr_conf = &addr[i].conf;

    } else {
        hc->addr_conf = &port->addrs[0].conf;
    }

    hc->conf_ctx = ((pt_http_addr_conf_t *) hc->addr_conf)
                   ->default_server->ctx;

    ctx = pt_palloc(c->pool, sizeof(pt_http_log_ctx_t));
    if (ctx == NULL) {
        pt_http_close_connection(c);
        return;
    }

    ctx->connection = c;
    ctx->request = NULL;
    ctx->current_request = NULL;

    c->log->connection = c->number;
    c->log->handler = pt_http_log_error;
    c->log->data = ctx;
    c->log->action = "waiting for request";

    c->log_error = PT_ERROR_INFO;

    rev = c->read;
    rev->handler = pt_http_wait_request_handler;
    c->write->handler = pt_http_empty_handler;

    if (((pt_http_addr_conf_t *) hc->addr_conf)->ssl) {
        hc->ssl = 1;

        if (pt_http_ssl_init_connection) {
            /* the TLS handshake first; it hands over to the wait handler */
            pt_http_ssl_init_connection(c);
            return;
        }
    }

    pt_event_add_timer(rev, ((pt_http_core_srv_conf_t *)
                             hc->conf_ctx->srv_conf
                                 [pt_http_core_module.ctx_index])
                            ->client_header_timeout);

    pt_reusable_connection(c, 1);

    if (rev->ready) {
        rev->handler(rev);
    }
}


/*
 * Waits for the first bytes of a request (a new connection or one kept
 * alive); the header buffer exists only while there is something in it.
 */
void
pt_http_wait_request_handler(pt_event_t *rev)
{
    size_t                    size;
    ssize_t                   n;
    pt_buf_t                 *b;
    pt_connection_t          *c;
    pt_http_connection_t     *hc;
    pt_http_core_srv_conf_t  *cscf;

    c = rev->data;

    if (rev->timedout) {
        if (c->idle) {
            /* an idle keep-alive connection simply ends */
            pt_http_close_connection(c);
            return;
        }

        pt_log_error(PT_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        pt_http_close_connection(c);
        return;
    }

    if (c->close) {
        pt_http_close_connection(c);
        return;
    }

    hc = c->data;
    cscf = hc->conf_ctx->srv_conf[pt_http_core_module.ctx_index];

    size = cscf->client_header_buffer_size;

    b = c->buffer;

    if (b == NULL) {
        b = pt_http_alloc_header_buffer(c, size);
        if (b == NULL) {
            pt_http_close_connection(c);
            return;
        }

        c->buffer = b;
    }

    if (b->pos == b->last) {
        n = c->recv(c, b->last, b->end - b->last);

        if (n == PT_AGAIN) {
            if (!rev->timer_set) {
                pt_event_add_timer(rev, cscf->client_header_timeout);
            }

            /* nothing to hold on to while we wait */
            pt_http_free_header_buffer(c);
            return;
        }

        if (n == PT_ERROR || n == 0) {
            if (n == 0 && !c->idle) {
                pt_log_error(PT_LOG_INFO, c->log, 0,
                             "client closed connection");
            }

            pt_http_close_connection(c);
            return;
        }

        b->last += n;
    }

    c->idle = 0;
    pt_reusable_connection(c, 0);

    c->log->action = "reading client request line";

    /*
     * From here the whole head must arrive within client_header_timeout:
     * the keep-alive timer goes, and pt_http_read_request_header() arms
     * the header's when the head is not all here (a head that came whole,
     * the common case, never needs it).
     */
    if (rev->timer_set) {
        pt_event_del_timer(rev);
    }

    c->data = pt_http_create_request(c);
    if (c->data == NULL) {
        c->data = hc;
        pt_http_close_connection(c);
        return;
    }

    rev->handler = pt_http_process_request_line;
    pt_http_process_request_line(rev);
}


static void
pt_http_free_header_buffer(pt_connection_t *c)
{
    if (c->buffer && c->buffer->pos == c->buffer->last) {
        pt_http_destroy_header_buffer(c->buffer);
        c->buffer = NULL;
    }
}


/*
 * A connection's header buffer is one block with its pt_buf_t in front,
 * from the block cache: it comes and goes with every keep-alive request.
 */
static pt_buf_t *
pt_http_alloc_header_buffer(pt_connection_t *c, size_t size)
{
    pt_buf_t  *b;

    b = pt_block_alloc(sizeof(pt_buf_t) + size, c->log);
    if (b == NULL) {
        return NULL;
    }

    pt_memzero(b, sizeof(pt_buf_t));

    b->start = (u_char *) b + sizeof(pt_buf_t);
    b->pos = b->start;
    b->last = b->start;
    b->end = b->start + size;
    b->temporary = 1;

    return b;
}


static void
pt_http_destroy_header_buffer(pt_buf_t *b)
{
    if (b) {
        pt_block_free(b, sizeof(pt_buf_t) + (size_t) (b->end - b->start));
    }
}


static pt_http_request_t *
pt_http_create_request(pt_connection_t *c)
{
    pt_pool_t                 *pool;
    pt_http_request_t         *r;
    pt_http_log_ctx_t         *ctx;
    pt_http_connection_t      *hc;
    pt_http_core_srv_conf_t   *cscf;
    pt_http_core_main_conf_t  *cmcf;

    c->requests++;

    hc = c->data;

    /* a location's error_log applied to the last request only */
    c->log->file = c->listening->log.file;
    c->log->log_level = c->listening->log.log_level;
    c->log->next = c->listening->log.next;

    cscf = hc->conf_ctx->srv_conf[pt_http_core_module.ctx_index];

    pool = pt_create_pool(cscf->request_pool_size, c->log);
    if (pool == NULL) {
        return NULL;
    }

    r = pt_pcalloc(pool, sizeof(pt_http_request_t));
    if (r == NULL) {
        pt_destroy_pool(pool);
        return NULL;
    }

    r->pool = pool;
    r->signature = PT_HTTP_REQUEST_SIGNATURE;
    r->http_connection = hc;
    r->connection = c;

    r->main_conf = hc->conf_ctx->main_conf;
    r->srv_conf = hc->conf_ctx->srv_conf;
    r->loc_conf = hc->conf_ctx->loc_conf;

    r->read_event_handler = pt_http_block_reading;
    r->header_in = c->buffer;

    if (pt_list_init(&r->headers_out.headers, r->pool, 16,
                     sizeof(pt_table_elt_t)) != PT_OK)
    {
        pt_destroy_pool(r->pool);
        return NULL;
    }

    r->ctx = pt_pcalloc(r->pool, sizeof(void *) * pt_http_max_module);
    if (r->ctx == NULL) {
        pt_destroy_pool(r->pool);
        return NULL;
    }

    cmcf = pt_http_get_module_main_conf(r, pt_http_core_module);

    r->variables = pt_pcalloc(r->pool, cmcf->variables.nelts
                                       * sizeof(pt_http_variable_value_t));
    if (r->variables == NULL) {
        pt_destroy_pool(r->pool);
        return NULL;
    }

    r->main = r;
    r->count = 1;
    r->uri_changes = 11;

    r->start_sec = pt_time();
    r->start_msec = pt_current_msec;

    r->method = PT_HTTP_UNKNOWN;
    r->http_version = PT_HTTP_VERSION_10;

    r->headers_in.content_length_n = -1;
    r->headers_in.keep_alive_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    ctx = c->log->data;
    ctx->request = r;
    ctx->current_request = r;

    return r;
}


static void
pt_http_process_request_line(pt_event_t *rev)
{
    ssize_t             n;
    pt_int_t            rc, rv;
    pt_connection_t    *c;
    pt_http_request_t  *r;

    c = rev->data;
    r = c->data;

    if (rev->timedout) {
        pt_log_error(PT_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        c->timedout = 1;
        pt_http_close_request(r, PT_HTTP_REQUEST_TIME_OUT);
        return;
    }

    /* parse what is buffered before reading more */
    rc = (r->header_in->pos < r->header_in->last) ? PT_DECLINED : PT_AGAIN;

    for ( ;; ) {

        if (rc == PT_AGAIN) {
            n = pt_http_read_request_header(r);

            if (n == PT_AGAIN || n == PT_ERROR) {
                return;
            }
        }

        rc = pt_http_parse_request_line(r, r->header_in);

        if (rc == PT_OK) {

            r->request_length = r->header_in->pos - r->request_start;

            if (pt_http_process_request_uri(r) != PT_OK) {
                return;
            }

            if (r->method == PT_HTTP_CONNECT) {
                pt_log_error(PT_LOG_INFO, c->log, 0,
                             "client sent CONNECT method");
                pt_http_finalize_request(r, PT_HTTP_NOT_ALLOWED);
                return;
            }

            if (r->host_start) {
                /* absolute-form: its authority wins over Host (RFC 9112 3.2.2) */
                r->headers_in.server.data = r->host_start;
                r->headers_in.server.len = r->host_end - r->host_start;

                rv = pt_http_validate_host(&r->headers_in.server, r->pool, 0);

                if (rv == PT_DECLINED) {
                    pt_log_error(PT_LOG_INFO, c->log, 0,
                                 "client sent invalid host in request line");
                    pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
                    return;
                }

                if (rv == PT_ERROR) {
                    pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                if (pt_http_set_virtual_server(r, &r->headers_in.server)
                    == PT_ERROR)
                {
                    pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }
            }

            if (pt_list_init(&r->headers_in.headers, r->pool, 16,
                             sizeof(pt_table_elt_t)) != PT_OK)
            {
                pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            c->log->action = "reading client request headers";

            rev->handler = pt_http_process_request_headers;
            pt_http_process_request_headers(rev);

            return;
        }

        if (rc != PT_AGAIN) {
            /* a parse error */
            pt_log_error(PT_LOG_INFO, c->log, 0,
                         "client sent invalid request line");

            r->request_line.len = 0;

            pt_http_finalize_request(r,
                rc == PT_HTTP_PARSE_INVALID_VERSION
                ? PT_HTTP_VERSION_NOT_SUPPORTED : PT_HTTP_BAD_REQUEST);
            return;
        }

        /* PT_AGAIN: the line is incomplete */

        if (r->header_in->last == r->header_in->end) {

            rv = pt_http_alloc_large_header_buffer(r, 1);

            if (rv == PT_ERROR) {
                pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            if (rv == PT_DECLINED) {
                pt_log_error(PT_LOG_INFO, c->log, 0,
                             "client sent too long URI");
                pt_http_finalize_request(r, PT_HTTP_REQUEST_URI_TOO_LARGE);
                return;
            }
        }
    }
}


static void
pt_http_process_request_headers(pt_event_t *rev)
{
    size_t                     len;
    ssize_t                    n;
    pt_int_t                   rc, rv;
    pt_table_elt_t            *h;
    pt_connection_t           *c;
    pt_http_header_t          *hh;
    pt_http_request_t         *r;
    pt_http_core_srv_conf_t   *cscf;
    pt_http_core_main_conf_t  *cmcf;

    c = rev->data;
    r = c->data;

    if (rev->timedout) {
        pt_log_error(PT_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        c->timedout = 1;
        pt_http_close_request(r, PT_HTTP_REQUEST_TIME_OUT);
        return;
    }

    cmcf = pt_http_get_module_main_conf(r, pt_http_core_module);
    cscf = pt_http_get_module_srv_conf(r, pt_http_core_module);

    rc = (r->header_in->pos < r->header_in->last) ? PT_DECLINED : PT_AGAIN;

    for ( ;; ) {

        if (rc == PT_AGAIN) {

            if (r->header_in->last == r->header_in->end) {
                rv = pt_http_alloc_large_header_buffer(r, 0);

                if (rv == PT_ERROR) {
                    pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                if (rv == PT_DECLINED) {
                    pt_log_error(PT_LOG_INFO, c->log, 0,
                                 "client sent too large request header");
                    pt_http_finalize_request(r,
                                             PT_HTTP_REQUEST_HEADER_TOO_LARGE);
                    return;
                }
            }

            n = pt_http_read_request_header(r);

            if (n == PT_AGAIN || n == PT_ERROR) {
                return;
            }
        }

        rc = pt_http_parse_header_line(r, r->header_in,
                                       cscf->underscores_in_headers);

        if (rc == PT_OK) {

            r->request_length += r->header_in->pos - r->header_name_start;

            if (r->invalid_header && cscf->ignore_invalid_headers) {
                pt_log_error(PT_LOG_INFO, c->log, 0,
                             "client sent invalid header line: \"%.*s\"",
                             (int) (r->header_end - r->header_name_start),
                             r->header_name_start);
                continue;
            }

            if (pt_http_count_headers(&r->headers_in.headers)
                >= PT_HTTP_MAX_HEADERS)
            {
                pt_log_error(PT_LOG_INFO, c->log, 0,
                             "client sent more than %d header lines",
                             PT_HTTP_MAX_HEADERS);
                pt_http_finalize_request(r, PT_HTTP_REQUEST_HEADER_TOO_LARGE);
                return;
            }

            h = pt_list_push(&r->headers_in.headers);
            if (h == NULL) {
                pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            h->hash = r->header_hash;
            h->key.data = r->header_name_start;
            h->key.len = r->header_name_end - r->header_name_start;
            h->value.data = r->header_start;
            h->value.len = r->header_end - r->header_start;
            h->next = NULL;

            len = h->key.len;

            h->lowcase_key = pt_pnalloc(r->pool, len);
            if (h->lowcase_key == NULL) {
                pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            if (len <= PT_HTTP_LC_HEADER_LEN) {
                pt_memcpy(h->lowcase_key, r->lowcase_header, len);
            } else {
                pt_strlow(h->lowcase_key, h->key.data, len);
            }

            hh = pt_hash_find(&cmcf->headers_in_hash, h->hash,
                              h->lowcase_key, h->key.len);

            if (hh && hh->handler(r, h, hh->offset) != PT_OK) {
                return;     /* the handler finalized the request */
            }

            continue;
        }

        if (rc == PT_HTTP_PARSE_HEADER_DONE) {

            r->request_length += r->header_in->pos - r->request_start
                                 - r->request_length;

            c->log->action = "processing client request";

            if (pt_http_process_request_header(r) != PT_OK) {
                return;
            }

            pt_http_process_request(r);

            return;
        }

        if (rc == PT_AGAIN) {
            continue;
        }

        /* PT_HTTP_PARSE_INVALID_HEADER */

        pt_log_error(PT_LOG_INFO, c->log, 0, "client sent invalid header line");
        pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
        return;
    }
}


/* The headers in the list: every part but the last is full. */
static pt_uint_t
pt_http_count_headers(pt_list_t *list)
{
    pt_uint_t        n;
    pt_list_part_t  *part;

    n = 0;

    for (part = &list->part; part; part = part->next) {
        n += part->nelts;
    }

    return n;
}


/*
 * Reads more of the head into the header buffer. Returns the bytes read,
 * PT_AGAIN (timer armed), or PT_ERROR (the request is already closed).
 */
static ssize_t
pt_http_read_request_header(pt_http_request_t *r)
{
    ssize_t                   n;
    pt_event_t               *rev;
    pt_connection_t          *c;
    pt_http_core_srv_conf_t  *cscf;

    c = r->connection;
    rev = c->read;

    if (rev->ready) {
        n = c->recv(c, r->header_in->last,
                    r->header_in->end - r->header_in->last);
    } else {
        n = PT_AGAIN;
    }

    if (n == PT_AGAIN) {
        if (!rev->timer_set) {
            cscf = pt_http_get_module_srv_conf(r, pt_http_core_module);
            pt_event_add_timer(rev, cscf->client_header_timeout);
        }

        return PT_AGAIN;
    }

    if (n == 0) {
        pt_log_error(PT_LOG_INFO, c->log, 0,
                     "client prematurely closed connection");
    }

    if (n == 0 || n == PT_ERROR) {
        c->error = 1;
        c->log->action = "reading client request headers";
        pt_http_close_request(r, PT_HTTP_BAD_REQUEST);
        return PT_ERROR;
    }

    r->header_in->last += n;

    return n;
}


/*
 * The head outgrew its buffer: moves the incomplete line into a larger one.
 * Earlier lines stay where they are (their slices remain valid). Returns
 * PT_DECLINED when the line or the head is over the limits.
 */
static pt_int_t
pt_http_alloc_large_header_buffer(pt_http_request_t *r,
    pt_uint_t request_line)
{
    u_char                   *old, *new;
    size_t                    len;
    pt_buf_t                 *b;
    pt_http_connection_t     *hc;
    pt_http_core_srv_conf_t  *cscf;

    cscf = pt_http_get_module_srv_conf(r, pt_http_core_module);
    hc = r->http_connection;

    old = r->header_in->pos;
    len = r->header_in->last - old;

    if (len >= cscf->large_client_header_buffers.size) {
        return PT_DECLINED;
    }

    if (hc->nbusy >= cscf->large_client_header_buffers.num) {
        return PT_DECLINED;
    }

    b = pt_create_temp_buf(r->pool, cscf->large_client_header_buffers.size);
    if (b == NULL) {
        return PT_ERROR;
    }

    hc->nbusy++;

    new = b->start;
    pt_memcpy(new, old, len);

    b->pos = new;
    b->last = new + len;

    if (request_line) {
        r->request_start = new;
    }

    r->header_in = b;

    return PT_OK;
}


static pt_int_t
pt_http_process_request_uri(pt_http_request_t *r)
{
    pt_int_t                  rc;
    pt_http_core_srv_conf_t  *cscf;

    rc = pt_http_parse_uri(r);

    if (rc == PT_ERROR) {
        pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
        return PT_ERROR;
    }

    if (rc == PT_OK && (r->complex_uri || r->empty_path_in_uri)) {
        cscf = pt_http_get_module_srv_conf(r, pt_http_core_module);

        rc = pt_http_normalize_uri(r, cscf->merge_slashes);

        if (rc == PT_ERROR) {
            pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
            return PT_ERROR;
        }
    }

    if (rc != PT_OK) {
        pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                     "client sent invalid request: \"%.*s\"",
                     PT_STR_ARG(r->request_line));
        pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
        return PT_ERROR;
    }

    return PT_OK;
}


static pt_int_t
pt_http_process_header_line(pt_http_request_t *r, pt_table_elt_t *h,
    pt_uint_t offset)
{
    pt_table_elt_t  **ph;

    ph = (pt_table_elt_t **) ((char *) &r->headers_in + offset);

    while (*ph) {
        ph = &(*ph)->next;
    }

    *ph = h;

    return PT_OK;
}


static pt_int_t
pt_http_process_unique_header_line(pt_http_request_t *r, pt_table_elt_t *h,
    pt_uint_t offset)
{
    pt_table_elt_t  **ph;

    ph = (pt_table_elt_t **) ((char *) &r->headers_in + offset);

    if (*ph == NULL) {
        *ph = h;
        return PT_OK;
    }

    pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                 "client sent duplicate header line: \"%.*s: %.*s\", "
                 "previous value: \"%.*s: %.*s\"",
                 PT_STR_ARG(h->key), PT_STR_ARG(h->value),
                 PT_STR_ARG((*ph)->key), PT_STR_ARG((*ph)->value));

    pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);

    return PT_ERROR;
}


static pt_int_t
pt_http_process_host(pt_http_request_t *r, pt_table_elt_t *h,
    pt_uint_t offset)
{
    pt_int_t  rc;
    pt_str_t  host;

    if (r->headers_in.host) {
        pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                     "client sent duplicate host header: \"%.*s\"",
                     PT_STR_ARG(h->value));
        pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
        return PT_ERROR;
    }

    r->headers_in.host = h;

    host = h->value;

    rc = pt_http_validate_host(&host, r->pool, 0);

    if (rc == PT_DECLINED) {
        pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                     "client sent invalid host header");
        pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
        return PT_ERROR;
    }

    if (rc == PT_ERROR) {
        pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
        return PT_ERROR;
    }

    if (r->headers_in.server.len) {
        return PT_OK;       /* the request line's authority came first */
    }

    if (pt_http_set_virtual_server(r, &host) == PT_ERROR) {
        pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
        return PT_ERROR;
    }

    r->headers_in.server = host;

    return PT_OK;
}


/* True when the comma-separated list in value holds token (any case). */
static pt_uint_t
pt_http_list_has_token(pt_str_t *value, const char *token, size_t len)
{
    u_char  *p, *last, *start, *end;

    p = value->data;
    last = p + value->len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p;

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if ((size_t) (end - start) == len
            && pt_strncasecmp(start, (u_char *) token, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static pt_int_t
pt_http_process_connection(pt_http_request_t *r, pt_table_elt_t *h,
    pt_uint_t offset)
{
    if (pt_http_process_header_line(r, h, offset) != PT_OK) {
        return PT_ERROR;
    }

    if (pt_http_list_has_token(&h->value, "close", 5)) {
        r->headers_in.connection_type = PT_HTTP_CONNECTION_CLOSE;

    } else if (pt_http_list_has_token(&h->value, "keep-alive", 10)
               && r->headers_in.connection_type == 0)
    {
        r->headers_in.connection_type = PT_HTTP_CONNECTION_KEEP_ALIVE;
    }

    return PT_OK;
}


static pt_int_t
pt_http_process_content_length(pt_http_request_t *r, pt_table_elt_t *h,
    pt_uint_t offset)
{
    off_t  n;

    if (pt_http_parse_content_length(h->value.data, h->value.len, &n)
        != PT_OK)
    {
        pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                     "client sent invalid \"Content-Length\" header: "
                     "\"%.*s\"", PT_STR_ARG(h->value));
        pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
        return PT_ERROR;
    }

    if (r->headers_in.content_length) {
        if (n != r->headers_in.content_length_n) {
            pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                         "client sent differing \"Content-Length\" headers");
            pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
            return PT_ERROR;
        }

        return PT_OK;       /* an identical repeat is harmless */
    }

    r->headers_in.content_length = h;
    r->headers_in.content_length_n = n;

    return PT_OK;
}


/* The whole head is in: the checks that need all of it. */
static pt_int_t
pt_http_process_request_header(pt_http_request_t *r)
{
    pt_str_t  *te, host;

    if (r->headers_in.host == NULL && r->http_version > PT_HTTP_VERSION_10
        && r->host_start == NULL)
    {
        pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                     "client sent HTTP/1.1 request without \"Host\" header");
        pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
        return PT_ERROR;
    }

    if (r->headers_in.host == NULL && r->host_start == NULL) {
        /* no host named at all: the server with server_name "" */
        pt_str_null(&host);

        if (pt_http_set_virtual_server(r, &host) == PT_ERROR) {
            pt_http_close_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
            return PT_ERROR;
        }
    }

    if (r->headers_in.transfer_encoding) {
        te = &r->headers_in.transfer_encoding->value;

        if (r->http_version < PT_HTTP_VERSION_11) {
            pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                         "client sent HTTP/1.0 request with "
                         "\"Transfer-Encoding\" header");
            pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
            return PT_ERROR;
        }

        if (!pt_str_caseeq_lit(te, "chunked")) {
            pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                         "client sent unsupported transfer-coding: \"%.*s\"",
                         PT_STR_ARG(*te));
            pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
            return PT_ERROR;
        }

        if (r->headers_in.content_length) {
            pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                         "client sent \"Content-Length\" and "
                         "\"Transfer-Encoding\" headers");
            pt_http_finalize_request(r, PT_HTTP_BAD_REQUEST);
            return PT_ERROR;
        }

        r->headers_in.chunked = 1;
    }

    if (r->headers_in.connection_type == PT_HTTP_CONNECTION_KEEP_ALIVE
        || (r->http_version > PT_HTTP_VERSION_10
            && r->headers_in.connection_type != PT_HTTP_CONNECTION_CLOSE))
    {
        r->keepalive = 1;
    }


    return PT_OK;
}


static void
pt_http_process_request(pt_http_request_t *r)
{
    pt_connection_t  *c;

    c = r->connection;

    if (c->read->timer_set) {
        pt_event_del_timer(c->read);
    }

    c->read->handler = pt_http_request_handler;
    c->write->handler = pt_http_request_handler_write;
    r->read_event_handler = pt_http_block_reading;

    if (r->http_connection->plain_http) {
        /*
         * A whole, valid request, answered in plain text: 497 lets the
         * server's error_page send the client to https (nginx's way).
         */
        pt_log_error(PT_LOG_INFO, c->log, 0,
                     "client sent plain HTTP request to HTTPS port");
        pt_http_finalize_request(r, PT_HTTP_TO_HTTPS);
        return;
    }

    pt_http_handler(r);
}


void
pt_http_request_handler(pt_event_t *ev)
{
    pt_connection_t    *c;
    pt_http_request_t  *r;

    c = ev->data;
    r = c->data;

    if (c->close) {
        /* worker_shutdown_timeout: the request ends here */
        pt_http_terminate_request(r, 0);
        return;
    }

    r->read_event_handler(r);
}


static void
pt_http_request_handler_write(pt_event_t *ev)
{
    pt_connection_t    *c;
    pt_http_request_t  *r;

    c = ev->data;
    r = c->data;

    r->write_event_handler(r);
}


void
pt_http_block_reading(pt_http_request_t *r)
{
    /* edge-triggered: nothing to do until someone wants the data */
}



void
pt_http_empty_handler(pt_event_t *wev)
{
}


void
pt_http_request_empty_handler(pt_http_request_t *r)
{
}


/*
 * Finishes the request's part in the current step. rc is PT_OK or PT_AGAIN
 * (the response is under way), PT_DONE (nothing more to do), PT_DECLINED,
 * PT_ERROR, or an HTTP status to answer with.
 */
void
pt_http_finalize_request(pt_http_request_t *r, pt_int_t rc)
{
    pt_connection_t          *c;
    pt_http_core_loc_conf_t  *clcf;

    if (rc == PT_DONE) {
        /* r may be gone already: an internal redirect finished it */
        return;
    }

    c = r->connection;

    if (rc == PT_DECLINED) {
        r->content_handler = NULL;
        r->write_event_handler = pt_http_core_run_phases;
        pt_http_core_run_phases(r);
        return;
    }

    if (rc == PT_ERROR || rc == PT_HTTP_REQUEST_TIME_OUT
        || rc == PT_HTTP_CLIENT_CLOSED_REQUEST || c->error)
    {
        pt_http_terminate_request(r, rc);
        return;
    }

    if (rc == PT_HTTP_CLOSE) {
        r->headers_out.status = PT_HTTP_CLOSE;
        pt_http_terminate_request(r, rc);
        return;
    }

    if (rc >= PT_HTTP_SPECIAL_RESPONSE || rc == PT_HTTP_CREATED
        || rc == PT_HTTP_NO_CONTENT)
    {
        if (r->header_sent) {
            /* too late for an error page: cut the response off */
            c->error = 1;
            pt_http_terminate_request(r, rc);
            return;
        }

        rc = pt_http_special_response_handler(r, rc);
        pt_http_finalize_request(r, rc);
        return;
    }

    /* PT_OK or PT_AGAIN: is everything on the wire? */

    if (r->out) {
        r->write_event_handler = pt_http_writer;

        clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

        if (!c->write->ready) {
            pt_event_add_timer(c->write, clcf->send_timeout);
        }

        return;
    }

    r->done = 1;

    pt_http_finalize_connection(r);
}


static void
pt_http_writer(pt_http_request_t *r)
{
    pt_int_t                  rc;
    pt_event_t               *wev;
    pt_connection_t          *c;
    pt_http_core_loc_conf_t  *clcf;

    c = r->connection;
    wev = c->write;

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    if (wev->timedout) {
        pt_log_error(PT_LOG_INFO, c->log, ETIMEDOUT,
                     "client timed out while sending response");
        c->timedout = 1;
        pt_http_finalize_request(r, PT_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (!wev->ready) {
        if (!wev->timer_set) {
            pt_event_add_timer(wev, clcf->send_timeout);
        }
        return;
    }

    rc = pt_http_output_filter(r, NULL);

    if (rc == PT_ERROR) {
        pt_http_finalize_request(r, rc);
        return;
    }

    if (r->out) {
        if (!wev->ready) {
            /* the timer restarts only when the client made progress */
            pt_event_add_timer(wev, clcf->send_timeout);
        }

        return;
    }

    if (wev->timer_set) {
        pt_event_del_timer(wev);
    }

    r->write_event_handler = pt_http_request_empty_handler;

    pt_http_finalize_request(r, PT_OK);
}


static void
pt_http_finalize_connection(pt_http_request_t *r)
{
    pt_connection_t          *c;
    pt_http_connection_t     *hc;
    pt_http_core_loc_conf_t  *clcf;

    c = r->connection;
    hc = r->http_connection;
    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    if (!r->body_handled) {
        /* a body nobody read must go before the next request is parsed */
        (void) pt_http_discard_request_body(r);
    }

    if (!pt_exiting && r->keepalive
        && clcf->keepalive_timeout > 0)
    {
        pt_http_set_keepalive(r);
        return;
    }

    if (clcf->lingering_close == PT_HTTP_LINGERING_ALWAYS
        || (clcf->lingering_close == PT_HTTP_LINGERING_ON
            && (r->lingering_close
                || r->header_in->pos < r->header_in->last
                || c->read->ready)))
    {
        /* the location's lingering limits outlive the request */
        c->start_time = pt_current_msec + clcf->lingering_time;
        hc->lingering_timeout = clcf->lingering_timeout;

        /* r lives in the pool that pt_http_free_request destroys */
        pt_http_free_request(r, 0);
        c->data = hc;
        pt_http_set_lingering_close(c);
        return;
    }

    pt_http_close_request(r, 0);
}


static void
pt_http_terminate_request(pt_http_request_t *r, pt_int_t rc)
{
    pt_http_cleanup_t  *cln;

    for (cln = r->cleanup; cln; cln = cln->next) {
        if (cln->handler) {
            cln->handler(cln->data);
            cln->handler = NULL;
        }
    }

    r->cleanup = NULL;

    if (rc > 0 && (r->headers_out.status == 0 || r->connection->sent == 0)) {
        r->headers_out.status = rc;
    }

    pt_http_close_request(r, rc);
}


/*
 * The response is out and the connection stays: free the request, keep
 * any pipelined bytes, and wait for the next request with as little memory
 * as possible.
 */
static void
pt_http_set_keepalive(pt_http_request_t *r)
{
    size_t                    size;
    pt_buf_t                 *b, *cb;
    pt_event_t               *rev;
    pt_connection_t          *c;
    pt_http_connection_t     *hc;
    pt_http_core_loc_conf_t  *clcf;

    c = r->connection;
    rev = c->read;
    hc = r->http_connection;

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    /*
     * Log now: the pipelined bytes moved below may overwrite the head the
     * log's variables ($request, $http_...) point into.
     */
    pt_http_log_request(r);

    b = r->header_in;
    size = b->last - b->pos;

    if (size && b != c->buffer) {
        /* pipelined bytes in a large buffer of the request's pool */
        cb = c->buffer;

        if (cb == NULL || (size_t) (cb->end - cb->start) < size) {
            pt_http_destroy_header_buffer(cb);
            c->buffer = NULL;

            cb = pt_http_alloc_header_buffer(c, size);
            if (cb == NULL) {
                pt_http_close_request(r, 0);
                return;
            }

            c->buffer = cb;
        }

        pt_memcpy(cb->start, b->pos, size);
        cb->pos = cb->start;
        cb->last = cb->start + size;

    } else if (size && b->pos != b->start) {
        pt_memmove(b->start, b->pos, size);
        b->pos = b->start;
        b->last = b->start + size;

    } else if (size == 0 && c->buffer) {
        c->buffer->pos = c->buffer->start;
        c->buffer->last = c->buffer->start;
    }

    hc->nbusy = 0;

    r->keepalive = 0;

    pt_http_free_request(r, 0);

    c->sent = 0;        /* $bytes_sent counts the next response only */
    c->data = hc;

    rev->handler = pt_http_wait_request_handler;
    c->write->handler = pt_http_empty_handler;

    if (c->write->timer_set) {
        pt_event_del_timer(c->write);
    }

    if (size) {
        /* the next request is already here */
        hc->pipeline = 1;
        c->log->action = "reading client pipelined request line";
        pt_post_event(rev, &pt_posted_events);
        return;
    }

    hc->pipeline = 0;

    pt_http_free_header_buffer(c);

    c->log->action = "keepalive";

    if (clcf->tcp_nodelay && pt_tcp_nodelay(c) != PT_OK) {
        pt_http_close_connection(c);
        return;
    }

    c->idle = 1;
    pt_reusable_connection(c, 1);

    pt_event_add_timer(rev, clcf->keepalive_timeout);

    if (rev->ready) {
        pt_post_event(rev, &pt_posted_events);
    }
}


/*
 * Closing a socket with unread input makes the kernel send a reset, which
 * can destroy a response the client has not read yet. So: stop writing,
 * read and discard what still arrives for a while, then close.
 */
static void
pt_http_set_lingering_close(pt_connection_t *c)
{
    pt_event_t               *rev;
    pt_http_connection_t     *hc;

    hc = c->data;

    rev = c->read;
    rev->handler = pt_http_lingering_close_handler;

    /* c->data is no longer a request for the request's write handler */
    c->write->handler = pt_http_empty_handler;

    if (c->ssl) {
        /* close_notify first; what still arrives is drained raw */
        (void) pt_ssl_shutdown(c);
        c->recv = pt_unix_recv;
        c->send = pt_unix_send;
        c->send_chain = pt_linux_send_chain;
    }

    if (shutdown(c->fd, SHUT_WR) == -1) {
        pt_connection_error(c, errno, "shutdown() failed");
        pt_http_close_connection(c);
        return;
    }

    c->log->action = "lingering close";

    pt_event_add_timer(rev, hc->lingering_timeout);

    if (rev->ready) {
        pt_http_lingering_close_handler(rev);
    }
}


static void
pt_http_lingering_close_handler(pt_event_t *rev)
{
    ssize_t                   n;
    pt_msec_t                 timer;
    pt_connection_t          *c;
    pt_http_connection_t     *hc;
    u_char                    buffer[4096];

    c = rev->data;

    if (rev->timedout || c->close) {
        pt_http_close_connection(c);
        return;
    }

    timer = (pt_msec_t) ((pt_msec_int_t) (c->start_time - pt_current_msec));

    if ((pt_msec_int_t) timer <= 0) {
        pt_http_close_connection(c);
        return;
    }

    do {
        n = c->recv(c, buffer, sizeof(buffer));

        if (n == PT_ERROR || n == 0) {
            pt_http_close_connection(c);
            return;
        }

    } while (rev->ready);

    hc = c->data;

    pt_event_add_timer(rev, pt_min(timer, hc->lingering_timeout));
}


static void
pt_http_close_request(pt_http_request_t *r, pt_int_t rc)
{
    pt_connection_t  *c;

    c = r->connection;

    pt_http_free_request(r, rc);
    c->data = NULL;
    pt_http_close_connection(c);
}


void
pt_http_free_request(pt_http_request_t *r, pt_int_t rc)
{
    pt_log_t           *log;
    pt_pool_t          *pool;
    pt_http_log_ctx_t  *ctx;
    pt_http_cleanup_t  *cln;

    log = r->connection->log;

    if (r->pool == NULL) {
        pt_log_error(PT_LOG_ALERT, log, 0, "http request already closed");
        return;
    }

    for (cln = r->cleanup; cln; cln = cln->next) {
        if (cln->handler) {
            cln->handler(cln->data);
        }
    }

    if (rc > 0 && (r->headers_out.status == 0 || r->connection->sent == 0)) {
        r->headers_out.status = rc;
    }

    if (!r->logged) {
        pt_http_log_request(r);
    }

    ctx = log->data;
    ctx->request = NULL;
    ctx->current_request = NULL;

    r->connection->log->action = "closing request";

    r->signature = 0;

    pool = r->pool;
    r->pool = NULL;

    pt_destroy_pool(pool);
}


static void
pt_http_log_request(pt_http_request_t *r)
{
    pt_uint_t                  i, n;
    pt_http_handler_pt        *log_handler;
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_get_module_main_conf(r, pt_http_core_module);

    log_handler = cmcf->phases[PT_HTTP_LOG_PHASE].handlers.elts;
    n = cmcf->phases[PT_HTTP_LOG_PHASE].handlers.nelts;

    for (i = 0; i < n; i++) {
        log_handler[i](r);
    }

    r->logged = 1;
}


void
pt_http_close_connection(pt_connection_t *c)
{
    pt_pool_t  *pool;

    c->destroyed = 1;

    if (c->ssl) {
        (void) pt_ssl_shutdown(c);
    }

    pt_http_destroy_header_buffer(c->buffer);
    c->buffer = NULL;

    pool = c->pool;

    pt_close_connection(c);

    pt_destroy_pool(pool);
}


pt_http_cleanup_t *
pt_http_cleanup_add(pt_http_request_t *r, size_t size)
{
    pt_http_cleanup_t  *cln;

    cln = pt_palloc(r->pool, sizeof(pt_http_cleanup_t));
    if (cln == NULL) {
        return NULL;
    }

    if (size) {
        cln->data = pt_palloc(r->pool, size);
        if (cln->data == NULL) {
            return NULL;
        }

    } else {
        cln->data = NULL;
    }

    cln->handler = NULL;
    cln->next = r->cleanup;

    r->cleanup = cln;

    return cln;
}


static u_char *
pt_http_log_error(pt_log_t *log, u_char *buf, size_t len)
{
    int                 n;
    u_char             *p;
    pt_http_request_t  *r;
    pt_http_log_ctx_t  *ctx;

    p = buf;

    if (log->action) {
        n = snprintf((char *) p, len, " while %s", log->action);
        n = pt_min((size_t) pt_max(n, 0), len);
        p += n;
        len -= n;
    }

    ctx = log->data;

    n = snprintf((char *) p, len, ", client: %.*s",
                 PT_STR_ARG(ctx->connection->addr_text));
    n = pt_min((size_t) pt_max(n, 0), len);
    p += n;
    len -= n;

    r = ctx->request;

    if (r) {
        return pt_http_log_error_info(r, p, len);
    }

    return p;
}


u_char *
pt_http_log_error_info(pt_http_request_t *r, u_char *buf, size_t len)
{
    int                       n;
    u_char                   *p;
    pt_http_core_srv_conf_t  *cscf;

    p = buf;

    cscf = pt_http_get_module_srv_conf(r, pt_http_core_module);

    n = snprintf((char *) p, len, ", server: %.*s",
                 PT_STR_ARG(cscf->server_name));
    n = pt_min((size_t) pt_max(n, 0), len);
    p += n;
    len -= n;

    if (r->request_line.len) {
        n = snprintf((char *) p, len, ", request: \"%.*s\"",
                     PT_STR_ARG(r->request_line));
        n = pt_min((size_t) pt_max(n, 0), len);
        p += n;
        len -= n;
    }

    if (r->upstream && ((pt_http_upstream_t *) r->upstream)->state
        && ((pt_http_upstream_t *) r->upstream)->state->peer)
    {
        pt_http_upstream_t  *u = r->upstream;

        n = snprintf((char *) p, len, ", upstream: \"%.*s%.*s\"",
                     PT_STR_ARG(*u->state->peer), PT_STR_ARG(u->uri));
        n = pt_min((size_t) pt_max(n, 0), len);
        p += n;
        len -= n;
    }

    if (r->headers_in.host) {
        n = snprintf((char *) p, len, ", host: \"%.*s\"",
                     PT_STR_ARG(r->headers_in.host->value));
        n = pt_min((size_t) pt_max(n, 0), len);
        p += n;
    }

    return p;
}
