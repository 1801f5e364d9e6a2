/*
 * Request bodies: read whole (in memory up to client_body_buffer_size,
 * then into an unlinked temp file under client_body_temp_path), read a
 * buffer at a time for a consumer that passes it on as it comes
 * (r->request_body_no_buffering: proxy_request_buffering off), or read and
 * dropped so the connection can carry the next request. The limits are
 * checked before a byte of the body is read.
 */
#include "pt_http.h"


static void pt_http_read_client_request_body_handler(pt_http_request_t *r);
static pt_int_t pt_http_do_read_client_request_body(pt_http_request_t *r);
static pt_int_t pt_http_request_body_save(pt_http_request_t *r, u_char *p,
    size_t len);
static pt_int_t pt_http_request_body_flush(pt_http_request_t *r);
static pt_int_t pt_http_body_check_expect(pt_http_request_t *r);


static void
pt_http_temp_file_cleanup(void *data)
{
    pt_file_t  *file = data;

    if (file->fd != PT_INVALID_FILE) {
        (void) close(file->fd);
        file->fd = PT_INVALID_FILE;
    }
}


/*
 * An anonymous file in dir: it has no name, so nothing is left behind
 * whatever happens to the process. The pool closes it.
 */
pt_file_t *
pt_create_temp_file(pt_pool_t *pool, pt_str_t *dir, pt_log_t *log)
{
    pt_fd_t             fd;
    char               *path;
    pt_file_t          *file;
    pt_pool_cleanup_t  *cln;

    file = pt_pcalloc(pool, sizeof(pt_file_t));
    cln = pt_pool_cleanup_add(pool, 0);
    if (file == NULL || cln == NULL) {
        return NULL;
    }

    fd = open((char *) dir->data, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd == -1 && (errno == EOPNOTSUPP || errno == EISDIR)) {
        /* no O_TMPFILE here: a named file, unlinked at once */
        path = (char *) pt_psprintf(pool, NULL, "%s/portico-XXXXXX",
                                    (char *) dir->data);
        if (path == NULL) {
            return NULL;
        }

        fd = mkostemp(path, O_CLOEXEC);

        if (fd != -1) {
            (void) unlink(path);
        }
    }

    if (fd == -1) {
        pt_log_error(PT_LOG_CRIT, log, errno,
                     "could not create a temporary file in \"%s\"",
                     (char *) dir->data);
        return NULL;
    }

    file->fd = fd;
    file->name = *dir;
    file->log = log;

    cln->handler = pt_http_temp_file_cleanup;
    cln->data = file;

    return file;
}


/* "HTTP/1.1 100 Continue" when the client waits for it before the body. */
pt_int_t
pt_http_send_continue(pt_http_request_t *r)
{
    ssize_t  n;
    static const char  resp[] = "HTTP/1.1 100 Continue\r\n\r\n";

    n = r->connection->send(r->connection, (u_char *) resp,
                            sizeof(resp) - 1);

    if (n == (ssize_t) sizeof(resp) - 1) {
        return PT_OK;
    }

    /* a fresh socket buffer has room for 25 bytes; anything else is fatal */
    r->connection->error = 1;

    return PT_ERROR;
}


static pt_int_t
pt_http_body_check_expect(pt_http_request_t *r)
{
    pt_str_t  *expect;

    if (r->expect_tested || r->headers_in.expect == NULL) {
        return PT_OK;
    }

    r->expect_tested = 1;

    expect = &r->headers_in.expect->value;

    if (!pt_str_caseeq_lit(expect, "100-continue")) {
        pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                     "client sent unknown expectation \"%.*s\"",
                     PT_STR_ARG(*expect));
        return 417;
    }

    if (r->http_version < PT_HTTP_VERSION_11) {
        return PT_OK;       /* an HTTP/1.0 client does not wait for it */
    }

    if (r->header_in->pos < r->header_in->last) {
        return PT_OK;       /* it did not wait: the body is coming */
    }

    return pt_http_send_continue(r);
}


/*
 * Reads the whole body and then calls post_handler. Returns PT_OK or
 * PT_AGAIN while it works (the request is held with r->count), or an HTTP
 * status for the caller to finalize with (413, 400, 417, 500).
 *
 * With r->request_body_no_buffering, reads what the client has sent so
 * far into rb->buf and calls post_handler at once; the caller takes the
 * body from rb->buf and gets more with
 * pt_http_read_unbuffered_request_body().
 */
pt_int_t
pt_http_read_client_request_body(pt_http_request_t *r,
    pt_http_client_body_handler_pt post_handler)
{
    size_t                     size;
    pt_int_t                   rc;
    pt_http_request_body_t    *rb;
    pt_http_core_loc_conf_t   *clcf;

    if (r->request_body || r->body_handled) {
        post_handler(r);
        return PT_OK;
    }

    r->body_handled = 1;

    rb = pt_pcalloc(r->pool, sizeof(pt_http_request_body_t));
    if (rb == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->request_body = rb;
    rb->post_handler = post_handler;

    if (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked) {
        rb->done = 1;
        post_handler(r);
        return PT_OK;
    }

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    if (clcf->client_max_body_size
        && r->headers_in.content_length_n > clcf->client_max_body_size)
    {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "client intended to send too large body: %lld bytes",
                     (long long) r->headers_in.content_length_n);
        r->lingering_close = 1;
        return PT_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    rc = pt_http_body_check_expect(r);
    if (rc != PT_OK) {
        return rc == PT_ERROR ? PT_HTTP_INTERNAL_SERVER_ERROR : rc;
    }

    size = clcf->client_body_buffer_size;

    if (!r->headers_in.chunked
        && (off_t) size > r->headers_in.content_length_n)
    {
        size = (size_t) r->headers_in.content_length_n;
    }

    if (size == 0) {
        /* client_body_buffer_size 0: a buffer that never fills would hang */
        size = 1;
    }

    rb->buf = pt_create_temp_buf(r->pool, size);
    if (rb->buf == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    rb->rest = r->headers_in.chunked ? -1 : r->headers_in.content_length_n;

    if (r->headers_in.chunked) {
        rb->raw = pt_create_temp_buf(r->pool, 16384);
        if (rb->raw == NULL) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (r->request_body_no_buffering) {
        rb->unbuffered = 1;

        rc = pt_http_read_unbuffered_request_body(r);

        if (rc != PT_OK && rc != PT_AGAIN) {
            return rc;
        }

        post_handler(r);
        return PT_OK;
    }

    r->count++;
    r->reading_body = 1;
    r->read_event_handler = pt_http_read_client_request_body_handler;
    r->write_event_handler = pt_http_request_empty_handler;

    rc = pt_http_do_read_client_request_body(r);

    if (rc >= PT_HTTP_SPECIAL_RESPONSE) {
        r->count--;
        r->reading_body = 0;
        r->read_event_handler = pt_http_block_reading;
        return rc;
    }

    return PT_OK;
}


static void
pt_http_read_client_request_body_handler(pt_http_request_t *r)
{
    pt_int_t  rc;

    if (r->connection->read->timedout) {
        r->connection->timedout = 1;
        pt_log_error(PT_LOG_INFO, r->connection->log, ETIMEDOUT,
                     "client timed out while sending the request body");
        r->count--;
        pt_http_finalize_request(r, PT_HTTP_REQUEST_TIME_OUT);
        return;
    }

    rc = pt_http_do_read_client_request_body(r);

    if (rc >= PT_HTTP_SPECIAL_RESPONSE || rc == PT_ERROR) {
        r->count--;
        r->reading_body = 0;
        r->read_event_handler = pt_http_block_reading;
        pt_http_finalize_request(r, rc);
    }
}


/*
 * Moves body bytes from src (Content-Length or chunked) into the body.
 * Returns PT_OK when the body is complete, PT_AGAIN for more, or a status.
 */
static pt_int_t
pt_http_request_body_take(pt_http_request_t *r, pt_buf_t *src)
{
    off_t                     n, room;
    pt_int_t                  rc;
    pt_http_request_body_t   *rb;
    pt_http_core_loc_conf_t  *clcf;

    rb = r->request_body;

    /* taken as it comes: no more than the buffer holds */
    room = rb->unbuffered ? (off_t) (rb->buf->end - rb->buf->last)
                          : PT_MAX_OFF_T_VALUE;

    if (!r->headers_in.chunked) {
        n = pt_min(rb->rest, (off_t) (src->last - src->pos));
        n = pt_min(n, room);

        if (n > 0) {
            if (pt_http_request_body_save(r, src->pos, (size_t) n) != PT_OK) {
                return PT_HTTP_INTERNAL_SERVER_ERROR;
            }

            src->pos += n;
            rb->rest -= n;
            rb->received += n;
        }

        return rb->rest == 0 ? PT_OK : PT_AGAIN;
    }

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    for ( ;; ) {
        rc = pt_http_parse_chunked(r, src, &rb->chunked);

        if (rc == PT_OK) {
            if (clcf->client_max_body_size
                && rb->received + rb->chunked.size
                   > clcf->client_max_body_size)
            {
                pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                             "client intended to send too large chunked "
                             "body: more than %lld bytes",
                             (long long) clcf->client_max_body_size);
                r->lingering_close = 1;
                return PT_HTTP_REQUEST_ENTITY_TOO_LARGE;
            }

            n = pt_min(rb->chunked.size, (off_t) (src->last - src->pos));
            n = pt_min(n, room);
            room -= n;

            if (pt_http_request_body_save(r, src->pos, (size_t) n) != PT_OK) {
                return PT_HTTP_INTERNAL_SERVER_ERROR;
            }

            src->pos += n;
            rb->chunked.size -= n;
            rb->received += n;

            if (rb->chunked.size) {
                return PT_AGAIN;    /* the rest of the chunk is to come */
            }

            continue;
        }

        if (rc == PT_DONE) {
            return PT_OK;
        }

        if (rc == PT_AGAIN) {
            return PT_AGAIN;
        }

        pt_log_error(PT_LOG_INFO, r->connection->log, 0,
                     "client sent invalid chunked body");
        r->keepalive = 0;
        return PT_HTTP_BAD_REQUEST;
    }
}


static pt_int_t
pt_http_do_read_client_request_body(pt_http_request_t *r)
{
    ssize_t                   n;
    pt_int_t                  rc;
    pt_buf_t                 *dst;
    pt_connection_t          *c;
    pt_http_request_body_t   *rb;
    pt_http_core_loc_conf_t  *clcf;

    c = r->connection;
    rb = r->request_body;
    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    /* what came with the head comes first */
    rc = pt_http_request_body_take(r, r->header_in);

    for ( ;; ) {

        if (rc == PT_OK) {
            break;
        }

        if (rc != PT_AGAIN) {
            return rc;
        }

        if (r->headers_in.chunked) {
            dst = rb->raw;

            if (dst->pos == dst->last) {
                dst->pos = dst->start;
                dst->last = dst->start;
            }

            if (dst->last == dst->end) {
                /* the decoder stopped inside the raw buffer: compact */
                pt_memmove(dst->start, dst->pos, dst->last - dst->pos);
                dst->last = dst->start + (dst->last - dst->pos);
                dst->pos = dst->start;
            }

            n = c->recv(c, dst->last, dst->end - dst->last);

        } else {
            /* straight into the body buffer, no more than the body */
            dst = rb->buf;

            if (dst->last == dst->end
                && pt_http_request_body_flush(r) != PT_OK)
            {
                return PT_HTTP_INTERNAL_SERVER_ERROR;
            }

            n = c->recv(c, dst->last,
                        (size_t) pt_min((off_t) (dst->end - dst->last),
                                        rb->rest));
        }

        if (n == PT_AGAIN) {
            pt_event_add_timer(c->read, clcf->client_body_timeout);
            return PT_AGAIN;
        }

        if (n == 0) {
            pt_log_error(PT_LOG_INFO, c->log, 0,
                         "client prematurely closed connection while "
                         "sending the request body");
            c->error = 1;
            return PT_HTTP_BAD_REQUEST;
        }

        if (n == PT_ERROR) {
            c->error = 1;
            return PT_HTTP_BAD_REQUEST;
        }

        r->request_length += n;

        if (r->headers_in.chunked) {
            dst->last += n;
            rc = pt_http_request_body_take(r, dst);

        } else {
            dst->last += n;
            rb->rest -= n;
            rb->received += n;
            rc = rb->rest == 0 ? PT_OK : PT_AGAIN;
        }
    }

    /* the whole body is here */

    if (c->read->timer_set) {
        pt_event_del_timer(c->read);
    }

    if (r->headers_in.chunked && rb->raw->pos < rb->raw->last) {
        /*
         * the next request came with the end of the body: it is unread
         * input now, for keep-alive to carry over as a pipelined request
         */
        r->header_in = rb->raw;
    }

    if (rb->temp_file) {
        if (pt_http_request_body_flush(r) != PT_OK) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rb->bufs = pt_alloc_chain_link(r->pool);
    if (rb->bufs == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    rb->bufs->next = NULL;

    if (rb->temp_file) {
        dst = pt_calloc_buf(r->pool);
        if (dst == NULL) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        dst->in_file = 1;
        dst->file = rb->temp_file;
        dst->file_pos = 0;
        dst->file_last = rb->temp_file->offset;
        dst->last_buf = 1;
        rb->bufs->buf = dst;

    } else {
        rb->buf->last_buf = 1;
        rb->bufs->buf = rb->buf;
    }

    if (r->headers_in.chunked) {
        r->headers_in.content_length_n = rb->received;
    }

    rb->done = 1;
    r->reading_body = 0;
    r->read_event_handler = pt_http_block_reading;

    r->count--;

    rb->post_handler(r);

    return PT_OK;
}


/*
 * The body taken as it comes: moves what the client has sent into rb->buf
 * behind what the caller has not taken yet (from rb->buf->pos; an empty
 * buffer starts over), as far as it has room. Returns PT_OK once the whole
 * body is in (rb->done), PT_AGAIN when more is to come (client_body_timeout
 * runs while the client is waited for), or an HTTP status to end with: 413
 * (a chunked body grew too big), 400 (invalid, or the client closed).
 */
pt_int_t
pt_http_read_unbuffered_request_body(pt_http_request_t *r)
{
    ssize_t                   n;
    pt_int_t                  rc;
    pt_buf_t                 *dst;
    pt_connection_t          *c;
    pt_http_request_body_t   *rb;
    pt_http_core_loc_conf_t  *clcf;

    c = r->connection;
    rb = r->request_body;

    if (rb->done) {
        return PT_OK;
    }

    if (rb->buf->pos == rb->buf->last) {
        rb->buf->pos = rb->buf->start;
        rb->buf->last = rb->buf->start;
    }

    /* what came with the head, then what the chunked decoder holds */
    rc = pt_http_request_body_take(r, r->header_in);

    if (rc == PT_AGAIN && r->headers_in.chunked
        && rb->raw->pos < rb->raw->last)
    {
        rc = pt_http_request_body_take(r, rb->raw);
    }

    for ( ;; ) {

        if (rc == PT_OK) {
            break;
        }

        if (rc != PT_AGAIN) {
            return rc;
        }

        if (rb->buf->last == rb->buf->end) {
            /* full: the caller takes some first; it is not the client's
               time that runs meanwhile */
            if (c->read->timer_set) {
                pt_event_del_timer(c->read);
            }

            return PT_AGAIN;
        }

        if (r->headers_in.chunked) {
            dst = rb->raw;

            if (dst->pos == dst->last) {
                dst->pos = dst->start;
                dst->last = dst->start;
            }

            if (dst->last == dst->end) {
                pt_memmove(dst->start, dst->pos, dst->last - dst->pos);
                dst->last = dst->start + (dst->last - dst->pos);
                dst->pos = dst->start;
            }

            n = c->recv(c, dst->last, dst->end - dst->last);

        } else {
            dst = rb->buf;

            n = c->recv(c, dst->last,
                        (size_t) pt_min((off_t) (dst->end - dst->last),
                                        rb->rest));
        }

        if (n == PT_AGAIN) {
            clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);
            pt_event_add_timer(c->read, clcf->client_body_timeout);
            return PT_AGAIN;
        }

        if (n == 0) {
            pt_log_error(PT_LOG_INFO, c->log, 0,
                         "client prematurely closed connection while "
                         "sending the request body");
        }

        if (n == 0 || n == PT_ERROR) {
            c->error = 1;
            return PT_HTTP_BAD_REQUEST;
        }

        r->request_length += n;
        dst->last += n;

        if (r->headers_in.chunked) {
            rc = pt_http_request_body_take(r, dst);

        } else {
            rb->rest -= n;
            rb->received += n;
            rc = rb->rest == 0 ? PT_OK : PT_AGAIN;
        }
    }

    /* the whole body is in */

    if (c->read->timer_set) {
        pt_event_del_timer(c->read);
    }

    if (r->headers_in.chunked && rb->raw->pos < rb->raw->last) {
        /* a pipelined request came with the end of the body */
        r->header_in = rb->raw;
    }

    rb->done = 1;

    return PT_OK;
}


/* Appends decoded body bytes to the memory buffer, spilling to the file. */
static pt_int_t
pt_http_request_body_save(pt_http_request_t *r, u_char *p, size_t len)
{
    size_t                   n;
    pt_http_request_body_t  *rb;

    rb = r->request_body;

    while (len) {
        if (rb->buf->last == rb->buf->end
            && pt_http_request_body_flush(r) != PT_OK)
        {
            return PT_ERROR;
        }

        n = pt_min(len, (size_t) (rb->buf->end - rb->buf->last));
        rb->buf->last = pt_cpymem(rb->buf->last, p, n);
        p += n;
        len -= n;
    }

    return PT_OK;
}


/*
 * Writes the memory buffer to the temp file (created on first use). A
 * failure (a full disk: ENOSPC, EDQUOT; EIO) is logged with the directory
 * and returns PT_ERROR: the request ends in a 500.
 */
static pt_int_t
pt_http_request_body_flush(pt_http_request_t *r)
{
    u_char                   *p;
    size_t                    len;
    ssize_t                   n;
    pt_err_t                  err;
    pt_http_request_body_t   *rb;
    pt_http_core_loc_conf_t  *clcf;

    rb = r->request_body;

    p = rb->buf->pos;
    len = rb->buf->last - rb->buf->pos;

    if (rb->temp_file == NULL) {
        clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

        rb->temp_file = pt_create_temp_file(r->pool,
                                            &clcf->client_body_temp_path,
                                            r->connection->log);
        if (rb->temp_file == NULL) {
            return PT_ERROR;
        }

        pt_log_error(PT_LOG_WARN, r->connection->log, 0,
                     "a client request body is buffered to a temporary "
                     "file");
    }

    /* a write cut short (the disk filling up) is retried for its errno */
    while (len) {
        n = pwrite(rb->temp_file->fd, p, len, rb->temp_file->offset);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            err = (n == -1) ? errno : ENOSPC;
            goto failed;
        }

        p += n;
        len -= (size_t) n;
        rb->temp_file->offset += n;
    }

    rb->buf->pos = rb->buf->start;
    rb->buf->last = rb->buf->start;

    return PT_OK;

failed:

    pt_log_error(PT_LOG_CRIT, r->connection->log, err,
                 "pwrite() of the request body to a temporary file in "
                 "\"%.*s\" failed", PT_STR_ARG(rb->temp_file->name));

    return PT_ERROR;
}


/*
 * Reads and drops whatever body is there now, so the connection can go on
 * to the next request. Returns PT_OK when the whole body is gone; when it
 * is not all there yet, the connection is not kept alive (lingering close
 * deals with the rest), and PT_AGAIN is returned; an invalid chunked body
 * returns PT_HTTP_BAD_REQUEST, and the connection is not kept alive either.
 */
pt_int_t
pt_http_discard_request_body(pt_http_request_t *r)
{
    off_t              n;
    ssize_t            size;
    pt_int_t           rc;
    pt_buf_t           b, *next;
    pt_connection_t   *c;
    pt_http_chunked_t  chunked;
    u_char             buffer[4096];

    if (r->body_handled || r != r->main) {
        return PT_OK;
    }

    r->body_handled = 1;
    r->discard_body = 1;

    if (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked) {
        return PT_OK;
    }

    c = r->connection;

    if (!r->headers_in.chunked) {
        off_t  rest;

        rest = r->headers_in.content_length_n;

        n = pt_min(rest, (off_t) (r->header_in->last - r->header_in->pos));
        r->header_in->pos += n;
        rest -= n;

        while (rest > 0) {
            size = c->recv(c, buffer, (size_t) pt_min(rest,
                                                      (off_t) sizeof(buffer)));
            if (size <= 0) {
                goto unfinished;
            }

            rest -= size;
        }

        return PT_OK;
    }

    pt_memzero(&chunked, sizeof(pt_http_chunked_t));

    for (b = *r->header_in; /* void */ ; /* void */) {
        rc = pt_http_parse_chunked(r, &b, &chunked);

        if (rc == PT_OK) {
            n = pt_min(chunked.size, (off_t) (b.last - b.pos));
            b.pos += n;
            chunked.size -= n;

            if (b.pos < b.last || chunked.size == 0) {
                continue;
            }
        }

        if (rc == PT_DONE) {
            if (b.start == r->header_in->start) {
                r->header_in->pos = b.pos;
                return PT_OK;
            }

            if (b.pos < b.last) {
                /*
                 * the next request came with the end of the body into our
                 * stack buffer: it is the unread input now
                 */
                next = pt_create_temp_buf(r->pool, b.last - b.pos);
                if (next == NULL) {
                    goto unfinished;
                }

                next->last = pt_cpymem(next->pos, b.pos, b.last - b.pos);
                r->header_in = next;
            }

            return PT_OK;
        }

        if (rc == PT_ERROR) {
            pt_log_error(PT_LOG_INFO, c->log, 0,
                         "client sent invalid chunked body");
            r->keepalive = 0;
            r->lingering_close = 1;
            return PT_HTTP_BAD_REQUEST;
        }

        /* PT_AGAIN, or a chunk continues beyond what we have */

        if (b.start == r->header_in->start) {
            r->header_in->pos = r->header_in->last;
        }

        size = c->recv(c, buffer, sizeof(buffer));
        if (size <= 0) {
            goto unfinished;
        }

        b.start = buffer;
        b.pos = buffer;
        b.last = buffer + size;
        b.end = buffer + sizeof(buffer);
    }

unfinished:

    r->keepalive = 0;
    r->lingering_close = 1;

    return PT_AGAIN;
}
