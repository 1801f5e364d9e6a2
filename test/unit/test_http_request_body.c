/*
 * Unit tests for core/http/pt_http_request_body.c: reading a request body
 * (pt_http_read_client_request_body) and dropping it
 * (pt_http_discard_request_body) over a socketpair, with a request and a
 * connection built the way pt_http_create_request() builds them and a core
 * location configuration of the test's own.
 *
 * Covered: Content-Length bodies that came with the head, that arrive
 * later, and that spill from client_body_buffer_size into an unlinked temp
 * file (byte-exact); chunked bodies decoded, spilled, and too large (413);
 * limits checked before a byte is read; a client closing early (400); an
 * invalid chunked body (400); Expect: 100-continue and unknown
 * expectations (417); and bytes after the body (a pipelined request) left
 * for the next request, never read as body or lost.
 *
 * Left out: errors that arrive asynchronously (a timeout, a close after
 * the first read returned PT_AGAIN) end in pt_http_finalize_request(),
 * which needs a whole cycle; the integration tests cover those.
 */
#include "pt_http.h"

#include <dirent.h>
#include <setjmp.h>
#include <cmocka.h>


#define LOC_CONFS  64


typedef struct {
    pt_pool_t                *pool;
    int                       sv[2];    /* ours, the client's */
    pt_connection_t           c;
    pt_event_t                rev, wev;
    pt_log_t                  log;
    pt_open_file_t            log_file;
    pt_http_log_ctx_t         log_ctx;
    pt_http_request_t        *r;
    pt_http_core_loc_conf_t   clcf;
    void                     *loc_conf[LOC_CONFS];
    char                      dir[64];
    pt_uint_t                 posted;   /* post_handler calls */
} test_ctx_t;


static test_ctx_t  *current;


#define RB(ctx)  ((pt_http_request_body_t *) (ctx)->r->request_body)


static void
post_handler(pt_http_request_t *r)
{
    assert_ptr_equal(r, current->r);
    assert_true(r->request_body == NULL
                || ((pt_http_request_body_t *) r->request_body)->done);
    current->posted++;
}


static int
setup(void **state)
{
    int          flags;
    char         path[96];
    test_ctx_t  *ctx;

    ctx = calloc(1, sizeof(test_ctx_t));
    if (ctx == NULL) {
        return -1;
    }

    pt_event_timer_init();

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, ctx->sv) == -1) {
        return -1;
    }

    flags = fcntl(ctx->sv[0], F_GETFL);
    (void) fcntl(ctx->sv[0], F_SETFL, flags | O_NONBLOCK);

    strcpy(ctx->dir, "/tmp/pt_body_XXXXXX");
    if (mkdtemp(ctx->dir) == NULL) {
        return -1;
    }

    /* the error log: a file the tests read back */
    snprintf(path, sizeof(path), "%s.log", ctx->dir);
    ctx->log_file.fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (ctx->log_file.fd == -1) {
        return -1;
    }

    (void) unlink(path);

    ctx->log.file = &ctx->log_file;
    ctx->log.log_level = PT_LOG_INFO;
    ctx->log.data = &ctx->log_ctx;

    ctx->pool = pt_create_pool(PT_POOL_DEFAULT_SIZE, &ctx->log);
    if (ctx->pool == NULL) {
        return -1;
    }

    ctx->c.fd = ctx->sv[0];
    ctx->c.read = &ctx->rev;
    ctx->c.write = &ctx->wev;
    ctx->c.recv = pt_unix_recv;
    ctx->c.send = pt_unix_send;
    ctx->c.log = &ctx->log;
    ctx->c.pool = ctx->pool;
    ctx->rev.data = &ctx->c;
    ctx->wev.data = &ctx->c;
    ctx->wev.write = 1;
    ctx->wev.ready = 1;

    /* the core location configuration the request runs in */
    ctx->clcf.client_max_body_size = 1024 * 1024;
    ctx->clcf.client_body_buffer_size = 1024;
    ctx->clcf.client_body_timeout = 60000;
    ctx->clcf.client_body_temp_path.data = (u_char *) ctx->dir;
    ctx->clcf.client_body_temp_path.len = strlen(ctx->dir);

    if (pt_http_core_module.ctx_index >= LOC_CONFS) {
        return -1;
    }

    ctx->loc_conf[pt_http_core_module.ctx_index] = &ctx->clcf;

    current = ctx;
    *state = ctx;

    return 0;
}


static int
teardown(void **state)
{
    test_ctx_t  *ctx = *state;

    if (ctx->rev.timer_set) {
        pt_event_del_timer(&ctx->rev);
    }

    /* the pool closes the temp file */
    pt_destroy_pool(ctx->pool);

    close(ctx->sv[0]);
    close(ctx->sv[1]);
    close(ctx->log_file.fd);
    (void) rmdir(ctx->dir);
    free(ctx);

    current = NULL;

    return 0;
}


/*
 * A request after its head: what came with the head after it is in
 * header_in; content_length is the Content-Length (-1: none), chunked says
 * Transfer-Encoding: chunked.
 */
static pt_http_request_t *
new_request(test_ctx_t *ctx, off_t content_length, pt_uint_t chunked,
    const char *after_head, size_t len)
{
    pt_buf_t           *b;
    pt_http_request_t  *r;

    r = pt_pcalloc(ctx->pool, sizeof(pt_http_request_t));
    assert_non_null(r);

    r->pool = ctx->pool;
    r->connection = &ctx->c;
    r->main = r;
    r->count = 1;
    r->loc_conf = ctx->loc_conf;
    r->read_event_handler = pt_http_block_reading;
    r->method = PT_HTTP_POST;
    r->http_version = PT_HTTP_VERSION_11;
    r->keepalive = 1;

    r->headers_in.content_length_n = content_length;
    r->headers_in.chunked = chunked;
    r->headers_out.content_length_n = -1;

    /* the head itself, then what came after it */
    b = pt_create_temp_buf(ctx->pool, 1024);
    assert_non_null(b);
    assert_true(len <= 1000);

    b->last = pt_cpymem(b->last, "POST / HTTP/1.1\r\n\r\n", 19);
    b->pos = b->last;
    b->last = pt_cpymem(b->last, after_head, len);
    r->header_in = b;

    ctx->log_ctx.request = r;
    ctx->log_ctx.current_request = r;
    ctx->r = r;

    return r;
}


#define new_request_str(ctx, cl, chunked, s)                                 \
    new_request(ctx, cl, chunked, s, sizeof(s) - 1)


static void
client_send(test_ctx_t *ctx, const void *data, size_t len)
{
    ssize_t  n;

    while (len) {
        n = send(ctx->sv[1], data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data = (const u_char *) data + n;
        len -= n;
    }

    /* a read event */
    ctx->rev.ready = 1;
}


#define client_str(ctx, s)  client_send(ctx, s, sizeof(s) - 1)


/* What is left unread on our end of the socket. */
static size_t
unread(test_ctx_t *ctx, u_char *buf, size_t size)
{
    ssize_t  n;
    size_t   len;

    len = 0;

    while (len < size) {
        n = recv(ctx->sv[0], buf + len, size - len, 0);
        if (n <= 0) {
            break;
        }

        len += n;
    }

    return len;
}


/* What we sent to the client. */
static size_t
client_received(test_ctx_t *ctx, u_char *buf, size_t size)
{
    ssize_t  n;

    n = recv(ctx->sv[1], buf, size, MSG_DONTWAIT);

    return n > 0 ? (size_t) n : 0;
}


static int
log_has(test_ctx_t *ctx, const char *text)
{
    char     buf[8192];
    ssize_t  n;

    n = pread(ctx->log_file.fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) {
        return 0;
    }

    buf[n] = '\0';

    return strstr(buf, text) != NULL;
}


static size_t
dir_entries(const char *dir)
{
    DIR            *d;
    size_t          n;
    struct dirent  *de;

    d = opendir(dir);
    assert_non_null(d);

    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            n++;
        }
    }

    closedir(d);

    return n;
}


/* The body as read: in memory or in the temp file. */
static void
assert_body(test_ctx_t *ctx, const void *data, size_t len, pt_uint_t in_file)
{
    u_char                  *got;
    ssize_t                  n;
    pt_buf_t                *b;
    struct stat              st;
    pt_http_request_body_t  *rb;

    rb = ctx->r->request_body;

    assert_non_null(rb);
    assert_true(rb->done);
    assert_non_null(rb->bufs);
    assert_null(rb->bufs->next);
    assert_int_equal(rb->received, len);

    b = rb->bufs->buf;
    assert_true(b->last_buf);

    if (!in_file) {
        assert_null(rb->temp_file);
        assert_false(b->in_file);
        assert_int_equal(b->last - b->pos, len);
        assert_memory_equal(b->pos, data, len);
        return;
    }

    assert_non_null(rb->temp_file);
    assert_true(b->in_file);
    assert_ptr_equal(b->file, rb->temp_file);
    assert_int_equal(b->file_pos, 0);
    assert_int_equal(b->file_last, len);

    got = malloc(len + 1);
    assert_non_null(got);

    n = pread(rb->temp_file->fd, got, len + 1, 0);
    assert_int_equal(n, len);
    assert_memory_equal(got, data, len);
    free(got);

    /* the file has no name: nothing is left behind */
    assert_int_equal(fstat(rb->temp_file->fd, &st), 0);
    assert_int_equal(st.st_nlink, 0);
    assert_int_equal(dir_entries(ctx->dir), 0);

    assert_true(log_has(ctx, "buffered to a temporary file"));
}


/* The reading is over: the request is no longer held for it. */
static void
assert_finished(test_ctx_t *ctx)
{
    assert_int_equal(ctx->posted, 1);
    assert_int_equal(ctx->r->count, 1);
    assert_false(ctx->r->reading_body);
    assert_false(ctx->rev.timer_set);
    assert_true(ctx->r->read_event_handler == pt_http_block_reading);
}


static void
pattern(u_char *p, size_t len, unsigned seed)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        seed = seed * 1103515245 + 12345;
        p[i] = (u_char) (seed >> 16);
    }
}


/* ------------------------------------------------------------------------ */
/* Content-Length */

static void
test_no_body(void **state)
{
    test_ctx_t  *ctx = *state;

    new_request(ctx, -1, 0, "", 0);

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_int_equal(ctx->posted, 1);
    assert_true(RB(ctx)->done);
    assert_null(RB(ctx)->bufs);

    /* a second call just calls the handler */
    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_int_equal(ctx->posted, 2);
}


static void
test_length_with_head(void **state)
{
    u_char       buf[64];
    test_ctx_t  *ctx = *state;

    /* the body and a pipelined request came with the head */
    new_request(ctx, 5, 0, "helloGET / HTTP/1.1\r\n", 21);
    client_str(ctx, "more");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);

    assert_finished(ctx);
    assert_body(ctx, "hello", 5, 0);

    /* the next request is where it was, the socket untouched */
    assert_memory_equal(ctx->r->header_in->pos, "GET / HTTP/1.1\r\n", 16);
    assert_int_equal(ctx->r->header_in->last - ctx->r->header_in->pos, 16);
    assert_int_equal(unread(ctx, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "more", 4);
}


static void
test_length_rest_from_socket(void **state)
{
    u_char       buf[64];
    test_ctx_t  *ctx = *state;

    new_request(ctx, 11, 0, "hel", 3);
    client_str(ctx, "lo worldGET /next HTTP/1.1\r\n");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);

    assert_finished(ctx);
    assert_body(ctx, "hello world", 11, 0);
    assert_int_equal(ctx->r->header_in->pos, ctx->r->header_in->last);

    /* never a byte more than the body */
    assert_int_equal(unread(ctx, buf, sizeof(buf)), 20);
    assert_memory_equal(buf, "GET /next HTTP/1.1\r\n", 20);
}


static void
test_length_later(void **state)
{
    test_ctx_t  *ctx = *state;

    new_request(ctx, 10, 0, "", 0);

    /* nothing yet: held, with the body timeout running */
    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_int_equal(ctx->posted, 0);
    assert_int_equal(ctx->r->count, 2);
    assert_true(ctx->r->reading_body);
    assert_true(ctx->rev.timer_set);
    assert_true(ctx->r->read_event_handler != pt_http_block_reading);

    client_str(ctx, "0123");
    ctx->r->read_event_handler(ctx->r);
    assert_int_equal(ctx->posted, 0);
    assert_true(ctx->rev.timer_set);

    client_str(ctx, "456789");
    ctx->r->read_event_handler(ctx->r);

    assert_finished(ctx);
    assert_body(ctx, "0123456789", 10, 0);
}


static void
test_length_to_temp_file(void **state)
{
    u_char      *body;
    size_t       len, off, n;
    test_ctx_t  *ctx = *state;

    len = 10000;
    body = malloc(len);
    assert_non_null(body);
    pattern(body, len, 1);

    /* 100 bytes with the head, the rest in pieces of 777 */
    new_request(ctx, (off_t) len, 0, (char *) body, 100);

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);

    for (off = 100; off < len; off += n) {
        assert_int_equal(ctx->posted, 0);
        n = pt_min(777, len - off);
        client_send(ctx, body + off, n);
        ctx->r->read_event_handler(ctx->r);
    }

    assert_finished(ctx);
    assert_body(ctx, body, len, 1);

    free(body);
}


static void
test_length_exactly_buffer_size(void **state)
{
    u_char       body[1024];
    test_ctx_t  *ctx = *state;

    pattern(body, sizeof(body), 2);

    /* a body that fits the buffer exactly stays in memory */
    new_request(ctx, sizeof(body), 0, "", 0);
    client_send(ctx, body, sizeof(body));

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);

    assert_finished(ctx);
    assert_body(ctx, body, sizeof(body), 0);
    assert_int_equal(dir_entries(ctx->dir), 0);
}


static void
test_buffer_size_0(void **state)
{
    u_char       body[3000];
    test_ctx_t  *ctx = *state;

    /* no memory buffer at all: the body goes to the file (and no hang) */
    ctx->clcf.client_body_buffer_size = 0;
    pattern(body, sizeof(body), 4);

    new_request(ctx, sizeof(body), 0, (char *) body, 10);
    client_send(ctx, body + 10, sizeof(body) - 10);

    alarm(10);
    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    alarm(0);

    assert_finished(ctx);
    assert_body(ctx, body, sizeof(body), 1);

    ctx->posted = 0;
    new_request_str(ctx, -1, 1, "5\r\nhello\r\n0\r\n\r\n");

    alarm(10);
    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    alarm(0);

    assert_finished(ctx);
    assert_body(ctx, "hello", 5, 1);
}


static void
test_length_too_large(void **state)
{
    u_char       buf[64];
    test_ctx_t  *ctx = *state;

    ctx->clcf.client_max_body_size = 10;

    new_request(ctx, 11, 0, "", 0);
    client_str(ctx, "01234567890");

    /* refused before a byte of the body is read */
    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_HTTP_REQUEST_ENTITY_TOO_LARGE);
    assert_int_equal(ctx->posted, 0);
    assert_true(ctx->r->lingering_close);
    assert_int_equal(ctx->r->count, 1);
    assert_int_equal(unread(ctx, buf, sizeof(buf)), 11);
    assert_true(log_has(ctx, "client intended to send too large body: "
                             "11 bytes"));
}


static void
test_length_limit_exact_and_off(void **state)
{
    test_ctx_t  *ctx = *state;

    /* exactly the limit is fine */
    ctx->clcf.client_max_body_size = 5;
    new_request(ctx, 5, 0, "hello", 5);

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_body(ctx, "hello", 5, 0);

    /* 0 turns the check off */
    ctx->clcf.client_max_body_size = 0;
    ctx->posted = 0;
    new_request(ctx, 11, 0, "hello world", 11);

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_finished(ctx);
    assert_body(ctx, "hello world", 11, 0);
}


static void
test_length_client_closes(void **state)
{
    test_ctx_t  *ctx = *state;

    new_request(ctx, 100, 0, "abc", 3);
    client_str(ctx, "defghij");
    shutdown(ctx->sv[1], SHUT_WR);

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_HTTP_BAD_REQUEST);
    assert_int_equal(ctx->posted, 0);
    assert_true(ctx->c.error);
    assert_int_equal(ctx->r->count, 1);
    assert_false(ctx->r->reading_body);
    assert_true(ctx->r->read_event_handler == pt_http_block_reading);
    assert_true(log_has(ctx, "client prematurely closed connection while "
                             "sending the request body"));
}


/* ------------------------------------------------------------------------ */
/* chunked */

static void
test_chunked_with_head(void **state)
{
    static const char  in[] = "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    test_ctx_t  *ctx = *state;

    new_request(ctx, -1, 1, in, sizeof(in) - 1);

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);

    assert_finished(ctx);
    assert_body(ctx, "hello", 5, 0);

    /* the length is known now */
    assert_int_equal(ctx->r->headers_in.content_length_n, 5);
    assert_memory_equal(ctx->r->header_in->pos, "GET / HTTP/1.1\r\n", 16);
    assert_int_equal(ctx->r->header_in->last - ctx->r->header_in->pos, 16);
}


static void
test_chunked_decoded(void **state)
{
    test_ctx_t  *ctx = *state;

    new_request(ctx, -1, 1, "5\r\nhel", 6);

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_int_equal(ctx->posted, 0);
    assert_true(ctx->rev.timer_set);

    client_str(ctx, "lo\r\n6;ext=\"v\"\r\n world\r");
    ctx->r->read_event_handler(ctx->r);
    assert_int_equal(ctx->posted, 0);

    client_str(ctx, "\n0\r\nTrailer: x\r\n\r\n");
    ctx->r->read_event_handler(ctx->r);

    assert_finished(ctx);
    assert_body(ctx, "hello world", 11, 0);
    assert_int_equal(ctx->r->headers_in.content_length_n, 11);
}


static void
test_chunked_to_temp_file(void **state)
{
    char         line[32];
    u_char      *body;
    size_t       len, off, n;
    test_ctx_t  *ctx = *state;

    len = 9000;
    body = malloc(len);
    assert_non_null(body);
    pattern(body, len, 3);

    new_request(ctx, -1, 1, "", 0);

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);

    /* chunks of 3000: the buffer of 1024 spills into the file */
    for (off = 0; off < len; off += n) {
        n = pt_min(3000, len - off);
        snprintf(line, sizeof(line), "%zx\r\n", n);
        client_send(ctx, line, strlen(line));
        client_send(ctx, body + off, n);
        client_str(ctx, "\r\n");
        ctx->r->read_event_handler(ctx->r);
    }

    assert_int_equal(ctx->posted, 0);

    client_str(ctx, "0\r\n\r\n");
    ctx->r->read_event_handler(ctx->r);

    assert_finished(ctx);
    assert_body(ctx, body, len, 1);
    assert_int_equal(ctx->r->headers_in.content_length_n, len);

    free(body);
}


static void
test_chunked_too_large(void **state)
{
    test_ctx_t  *ctx = *state;

    ctx->clcf.client_max_body_size = 10;

    /* refused on the size line, before the chunk's data is read */
    new_request(ctx, -1, 1, "", 0);
    client_str(ctx, "b\r\nhello world\r\n0\r\n\r\n");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_HTTP_REQUEST_ENTITY_TOO_LARGE);
    assert_int_equal(ctx->posted, 0);
    assert_true(ctx->r->lingering_close);
    assert_int_equal(ctx->r->count, 1);
    assert_false(ctx->r->reading_body);
    assert_int_equal(RB(ctx)->received, 0);
    assert_true(log_has(ctx, "client intended to send too large chunked "
                             "body"));
}


static void
test_chunked_too_large_sum(void **state)
{
    test_ctx_t  *ctx = *state;

    ctx->clcf.client_max_body_size = 10;

    /* 6 is fine, 6 more are not; 10 in all would be */
    new_request_str(ctx, -1, 1, "6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_HTTP_REQUEST_ENTITY_TOO_LARGE);
    assert_int_equal(RB(ctx)->received, 6);

    ctx->posted = 0;
    new_request_str(ctx, -1, 1, "6\r\nhello \r\n4\r\nworl\r\n0\r\n\r\n");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_finished(ctx);
    assert_body(ctx, "hello worl", 10, 0);
}


static void
test_chunked_invalid(void **state)
{
    test_ctx_t  *ctx = *state;

    new_request_str(ctx, -1, 1, "5\r\nhello\n0\r\n\r\n");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_HTTP_BAD_REQUEST);
    assert_int_equal(ctx->posted, 0);
    assert_false(ctx->r->keepalive);
    assert_int_equal(ctx->r->count, 1);
    assert_true(log_has(ctx, "client sent invalid chunked body"));

    /* also when it comes from the socket */
    ctx->posted = 0;
    new_request(ctx, -1, 1, "", 0);
    client_str(ctx, "1\r\nx\r\n0x5\r\n");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_HTTP_BAD_REQUEST);
    assert_int_equal(ctx->posted, 0);
    assert_false(ctx->r->keepalive);
}


static void
test_chunked_client_closes(void **state)
{
    test_ctx_t  *ctx = *state;

    new_request(ctx, -1, 1, "5\r\nhe", 5);
    client_str(ctx, "llo\r\n");
    shutdown(ctx->sv[1], SHUT_WR);

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_HTTP_BAD_REQUEST);
    assert_int_equal(ctx->posted, 0);
    assert_true(ctx->c.error);
    assert_int_equal(ctx->r->count, 1);
}


static void
test_chunked_pipelined_from_socket(void **state)
{
    static const char  next[] = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    test_ctx_t  *ctx = *state;

    new_request(ctx, -1, 1, "", 0);

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);

    /* the end of the body and the next request in one read */
    client_str(ctx, "3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n"
                    "Host: a\r\n\r\n");
    ctx->r->read_event_handler(ctx->r);

    assert_finished(ctx);
    assert_body(ctx, "abc", 3, 0);

    /* the next request is the request's unread input, not lost */
    assert_int_equal(ctx->r->header_in->last - ctx->r->header_in->pos,
                     sizeof(next) - 1);
    assert_memory_equal(ctx->r->header_in->pos, next, sizeof(next) - 1);
}


/* ------------------------------------------------------------------------ */
/* Expect */

static pt_table_elt_t *
expect_header(test_ctx_t *ctx, const char *value)
{
    pt_table_elt_t  *h;

    h = pt_pcalloc(ctx->pool, sizeof(pt_table_elt_t));
    assert_non_null(h);

    h->hash = 1;
    h->key.data = (u_char *) "Expect";
    h->key.len = 6;
    h->value.data = (u_char *) value;
    h->value.len = strlen(value);

    return h;
}


static void
test_expect_continue(void **state)
{
    u_char       buf[64];
    test_ctx_t  *ctx = *state;

    new_request(ctx, 5, 0, "", 0);
    ctx->r->headers_in.expect = expect_header(ctx, "100-Continue");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_int_equal(ctx->posted, 0);

    /* the client is told to go on, once */
    assert_int_equal(client_received(ctx, buf, sizeof(buf)), 25);
    assert_memory_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25);

    client_str(ctx, "hello");
    ctx->r->read_event_handler(ctx->r);

    assert_finished(ctx);
    assert_body(ctx, "hello", 5, 0);
    assert_int_equal(client_received(ctx, buf, sizeof(buf)), 0);
}


static void
test_expect_continue_not_sent(void **state)
{
    u_char       buf[64];
    test_ctx_t  *ctx = *state;

    /* the body came with the head: the client did not wait */
    new_request(ctx, 5, 0, "hello", 5);
    ctx->r->headers_in.expect = expect_header(ctx, "100-continue");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_finished(ctx);
    assert_int_equal(client_received(ctx, buf, sizeof(buf)), 0);

    /* an HTTP/1.0 client does not wait for it */
    ctx->posted = 0;
    new_request(ctx, 5, 0, "", 0);
    ctx->r->http_version = PT_HTTP_VERSION_10;
    ctx->r->headers_in.expect = expect_header(ctx, "100-continue");
    client_str(ctx, "hello");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_finished(ctx);
    assert_int_equal(client_received(ctx, buf, sizeof(buf)), 0);

    /* too large: the answer is 413, not 100 */
    ctx->posted = 0;
    ctx->clcf.client_max_body_size = 4;
    new_request(ctx, 5, 0, "", 0);
    ctx->r->headers_in.expect = expect_header(ctx, "100-continue");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_HTTP_REQUEST_ENTITY_TOO_LARGE);
    assert_int_equal(client_received(ctx, buf, sizeof(buf)), 0);
}


static void
test_expect_unknown(void **state)
{
    u_char       buf[64];
    test_ctx_t  *ctx = *state;

    new_request(ctx, 5, 0, "", 0);
    ctx->r->headers_in.expect = expect_header(ctx, "200-ok");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     417);
    assert_int_equal(ctx->posted, 0);
    assert_int_equal(ctx->r->count, 1);
    assert_int_equal(client_received(ctx, buf, sizeof(buf)), 0);
    assert_true(log_has(ctx, "client sent unknown expectation \"200-ok\""));

    /* without a body there is nothing to expect */
    ctx->posted = 0;
    new_request(ctx, -1, 0, "", 0);
    ctx->r->headers_in.expect = expect_header(ctx, "200-ok");

    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_int_equal(ctx->posted, 1);
}


/* ------------------------------------------------------------------------ */
/* discarding */

static void
test_discard_length(void **state)
{
    int          i;
    u_char       buf[64];
    test_ctx_t  *ctx = *state;

    /* all with the head */
    new_request(ctx, 5, 0, "helloGET", 8);

    assert_int_equal(pt_http_discard_request_body(ctx->r), PT_OK);
    assert_true(ctx->r->discard_body);
    assert_true(ctx->r->keepalive);
    assert_memory_equal(ctx->r->header_in->pos, "GET", 3);

    /* once only */
    assert_int_equal(pt_http_discard_request_body(ctx->r), PT_OK);
    assert_memory_equal(ctx->r->header_in->pos, "GET", 3);

    /* the rest from the socket, not a byte more */
    new_request(ctx, 6000, 0, "ab", 2);
    memset(buf, 'x', sizeof(buf));

    for (i = 0; i < 93; i++) {
        client_send(ctx, buf, 64);
    }

    client_send(ctx, buf, 6000 - 2 - 93 * 64);
    client_str(ctx, "NEXT");

    assert_int_equal(pt_http_discard_request_body(ctx->r), PT_OK);
    assert_true(ctx->r->keepalive);
    assert_int_equal(unread(ctx, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "NEXT", 4);
}


static void
test_discard_length_unfinished(void **state)
{
    test_ctx_t  *ctx = *state;

    new_request(ctx, 100, 0, "abc", 3);
    client_str(ctx, "def");

    /* the rest is for lingering close: no keep-alive */
    assert_int_equal(pt_http_discard_request_body(ctx->r), PT_AGAIN);
    assert_false(ctx->r->keepalive);
    assert_true(ctx->r->lingering_close);
}


static void
test_discard_chunked(void **state)
{
    static const char  in[] = "3;a=b\r\nabc\r\n0\r\nT: v\r\n\r\nGET";
    test_ctx_t  *ctx = *state;

    new_request(ctx, -1, 1, in, sizeof(in) - 1);

    assert_int_equal(pt_http_discard_request_body(ctx->r), PT_OK);
    assert_true(ctx->r->keepalive);
    assert_int_equal(ctx->r->header_in->last - ctx->r->header_in->pos, 3);
    assert_memory_equal(ctx->r->header_in->pos, "GET", 3);
}


static void
test_discard_chunked_from_socket(void **state)
{
    u_char       big[6000];
    test_ctx_t  *ctx = *state;

    /* the end of the body in a read of its own, nothing after it */
    new_request(ctx, -1, 1, "5\r\nhe", 5);
    client_str(ctx, "llo\r\n0\r\n\r\n");

    assert_int_equal(pt_http_discard_request_body(ctx->r), PT_OK);
    assert_true(ctx->r->keepalive);
    assert_int_equal(ctx->r->header_in->pos, ctx->r->header_in->last);

    /* over several reads, then the next request */
    new_request(ctx, -1, 1, "", 0);
    memset(big, 'z', sizeof(big));
    client_str(ctx, "1770\r\n");
    client_send(ctx, big, sizeof(big));
    client_str(ctx, "\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n");

    assert_int_equal(pt_http_discard_request_body(ctx->r), PT_OK);
    assert_true(ctx->r->keepalive);
    assert_int_equal(ctx->r->header_in->last - ctx->r->header_in->pos, 22);
    assert_memory_equal(ctx->r->header_in->pos, "GET /next HTTP/1.1\r\n\r\n",
                        22);
}


static void
test_discard_chunked_unfinished(void **state)
{
    test_ctx_t  *ctx = *state;

    new_request(ctx, -1, 1, "5\r\nhe", 5);

    assert_int_equal(pt_http_discard_request_body(ctx->r), PT_AGAIN);
    assert_false(ctx->r->keepalive);
    assert_true(ctx->r->lingering_close);
}


static void
test_discard_chunked_invalid(void **state)
{
    test_ctx_t  *ctx = *state;

    new_request_str(ctx, -1, 1, "5\r\nhello\n0\r\n\r\n");

    assert_int_equal(pt_http_discard_request_body(ctx->r),
                     PT_HTTP_BAD_REQUEST);
    assert_false(ctx->r->keepalive);
    assert_true(ctx->r->lingering_close);
    assert_true(log_has(ctx, "client sent invalid chunked body"));

    new_request(ctx, -1, 1, "", 0);
    client_str(ctx, "zz\r\n");

    assert_int_equal(pt_http_discard_request_body(ctx->r),
                     PT_HTTP_BAD_REQUEST);
    assert_false(ctx->r->keepalive);
}


static void
test_discard_then_read(void **state)
{
    test_ctx_t  *ctx = *state;

    /* a body already dropped is no body to read */
    new_request(ctx, 5, 0, "hello", 5);

    assert_int_equal(pt_http_discard_request_body(ctx->r), PT_OK);
    assert_int_equal(pt_http_read_client_request_body(ctx->r, post_handler),
                     PT_OK);
    assert_int_equal(ctx->posted, 1);
    assert_null(ctx->r->request_body);
}


#define T(f)  cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        T(test_no_body),
        T(test_length_with_head),
        T(test_length_rest_from_socket),
        T(test_length_later),
        T(test_length_to_temp_file),
        T(test_length_exactly_buffer_size),
        T(test_buffer_size_0),
        T(test_length_too_large),
        T(test_length_limit_exact_and_off),
        T(test_length_client_closes),
        T(test_chunked_with_head),
        T(test_chunked_decoded),
        T(test_chunked_to_temp_file),
        T(test_chunked_too_large),
        T(test_chunked_too_large_sum),
        T(test_chunked_invalid),
        T(test_chunked_client_closes),
        T(test_chunked_pipelined_from_socket),
        T(test_expect_continue),
        T(test_expect_continue_not_sent),
        T(test_expect_unknown),
        T(test_discard_length),
        T(test_discard_length_unfinished),
        T(test_discard_chunked),
        T(test_discard_chunked_from_socket),
        T(test_discard_chunked_unfinished),
        T(test_discard_chunked_invalid),
        T(test_discard_then_read),
    };

    pt_time_init();
    pt_use_stderr = 0;      /* the log file only */

    return cmocka_run_group_tests(tests, NULL, NULL);
}
