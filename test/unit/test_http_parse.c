/*
 * Unit tests for core/http/pt_http_parse.c: request lines in their four
 * forms, header lines, URI normalisation, Host validation, upstream status
 * lines and Content-Length, on RFC 9110/9112 examples and edge cases.
 *
 * Every input is copied into a heap block of exactly its size, so that a
 * read past the end shows up under valgrind or ASan.
 */
#include "pt_http.h"

#include <setjmp.h>
#include <cmocka.h>


typedef struct {
    pt_pool_t          *pool;
    pt_http_request_t  *r;
    pt_buf_t            b;
    u_char             *data;
    size_t              len;
} test_ctx_t;


static int
setup(void **state)
{
    test_ctx_t  *ctx;

    ctx = calloc(1, sizeof(test_ctx_t));
    if (ctx == NULL) {
        return -1;
    }

    *state = ctx;

    return 0;
}


static void
release(test_ctx_t *ctx)
{
    if (ctx->pool) {
        pt_destroy_pool(ctx->pool);
        ctx->pool = NULL;
    }

    free(ctx->data);
    ctx->data = NULL;
    ctx->r = NULL;
}


static int
teardown(void **state)
{
    test_ctx_t  *ctx = *state;

    release(ctx);
    free(ctx);

    return 0;
}


/* A fresh request, as pt_http_create_request() leaves it. */
static pt_http_request_t *
new_request(test_ctx_t *ctx)
{
    pt_http_request_t  *r;

    release(ctx);

    ctx->pool = pt_create_pool(PT_POOL_DEFAULT_SIZE, NULL);
    assert_non_null(ctx->pool);

    r = pt_pcalloc(ctx->pool, sizeof(pt_http_request_t));
    assert_non_null(r);

    r->pool = ctx->pool;
    r->signature = PT_HTTP_REQUEST_SIGNATURE;
    r->method = PT_HTTP_UNKNOWN;
    r->http_version = PT_HTTP_VERSION_10;
    r->headers_in.content_length_n = -1;

    ctx->r = r;

    return r;
}


/* Puts len bytes into an exact-size heap block behind ctx->b. */
static void
load(test_ctx_t *ctx, const char *text, size_t len)
{
    free(ctx->data);

    ctx->data = malloc(len ? len : 1);
    assert_non_null(ctx->data);
    memcpy(ctx->data, text, len);
    ctx->len = len;

    pt_memzero(&ctx->b, sizeof(pt_buf_t));
    ctx->b.start = ctx->data;
    ctx->b.pos = ctx->data;
    ctx->b.last = ctx->data + len;
    ctx->b.end = ctx->data + len;
    ctx->b.temporary = 1;
}


static pt_int_t
request_line_n(test_ctx_t *ctx, const char *text, size_t len)
{
    new_request(ctx);
    load(ctx, text, len);

    return pt_http_parse_request_line(ctx->r, &ctx->b);
}


static pt_int_t
request_line(test_ctx_t *ctx, const char *text)
{
    return request_line_n(ctx, text, strlen(text));
}


static pt_int_t
header_line_n(test_ctx_t *ctx, const char *text, size_t len,
    pt_uint_t allow_underscores)
{
    if (ctx->r == NULL) {
        new_request(ctx);
    }

    load(ctx, text, len);

    return pt_http_parse_header_line(ctx->r, &ctx->b, allow_underscores);
}


static pt_int_t
header_line(test_ctx_t *ctx, const char *text)
{
    return header_line_n(ctx, text, strlen(text), 0);
}


static void
assert_range(u_char *start, u_char *end, const char *text)
{
    assert_non_null(start);
    assert_true(end >= start);

    if ((size_t) (end - start) != strlen(text)
        || memcmp(start, text, end - start) != 0)
    {
        fprintf(stderr, "want \"%s\", got \"%.*s\"\n", text,
                (int) (end - start), start);
    }

    assert_int_equal(end - start, strlen(text));
    assert_memory_equal(start, text, end - start);
}


static void
assert_str(pt_str_t *s, const char *text)
{
    if (s->len != strlen(text)
        || (s->len && memcmp(s->data, text, s->len) != 0))
    {
        fprintf(stderr, "want \"%s\", got \"%.*s\"\n", text,
                PT_STR_ARG(*s));
    }

    assert_int_equal(s->len, strlen(text));

    if (s->len) {
        assert_memory_equal(s->data, text, s->len);
    }
}


/* request line: the origin form */

static void
test_origin_form(void **state)
{
    test_ctx_t         *ctx = *state;
    pt_http_request_t  *r;

    assert_int_equal(request_line(ctx, "GET / HTTP/1.1\r\n"), PT_OK);
    r = ctx->r;
    assert_int_equal(r->method, PT_HTTP_GET);
    assert_str(&r->method_name, "GET");
    assert_int_equal(r->http_version, PT_HTTP_VERSION_11);
    assert_int_equal(r->http_major, 1);
    assert_int_equal(r->http_minor, 1);
    assert_str(&r->http_protocol, "HTTP/1.1");
    assert_range(r->uri_start, r->uri_end, "/");
    assert_null(r->args_start);
    assert_null(r->schema_start);
    assert_null(r->host_start);
    assert_str(&r->request_line, "GET / HTTP/1.1");
    assert_str(&r->unparsed_uri, "/");
    assert_ptr_equal(ctx->b.pos, ctx->b.last);
    assert_int_equal(r->complex_uri, 0);
    assert_int_equal(r->quoted_uri, 0);

    /* RFC 9112 3.2.1 */
    assert_int_equal(request_line(ctx,
        "GET /where?q=now HTTP/1.1\r\nHost: www.example.org\r\n"), PT_OK);
    r = ctx->r;
    assert_range(r->uri_start, r->uri_end, "/where?q=now");
    assert_str(&r->args, "q=now");
    assert_str(&r->unparsed_uri, "/where?q=now");
    assert_str(&r->request_line, "GET /where?q=now HTTP/1.1");
    /* the position is the start of the next line */
    assert_memory_equal(ctx->b.pos, "Host:", 5);

    assert_int_equal(request_line(ctx, "POST /a/b.cgi?x HTTP/1.0\r\n"),
                     PT_OK);
    assert_int_equal(ctx->r->method, PT_HTTP_POST);
    assert_int_equal(ctx->r->http_version, PT_HTTP_VERSION_10);

    /* an empty query */
    assert_int_equal(request_line(ctx, "GET /a? HTTP/1.1\r\n"), PT_OK);
    assert_non_null(ctx->r->args_start);
    assert_str(&ctx->r->args, "");

    /* "%" and "\" make the URI complex, as do "//" and "/." */
    assert_int_equal(request_line(ctx, "GET /a%20b HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(ctx->r->quoted_uri, 1);
    assert_int_equal(ctx->r->complex_uri, 1);
    assert_int_equal(request_line(ctx, "GET /a//b HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(ctx->r->quoted_uri, 0);
    assert_int_equal(ctx->r->complex_uri, 1);
    assert_int_equal(request_line(ctx, "GET /a/.b HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(ctx->r->complex_uri, 1);
    /* but not in the query */
    assert_int_equal(request_line(ctx, "GET /a?b//./%41 HTTP/1.1\r\n"),
                     PT_OK);
    assert_int_equal(ctx->r->complex_uri, 0);

    /* obs-text is accepted in the target */
    assert_int_equal(request_line(ctx, "GET /caf\xc3\xa9 HTTP/1.1\r\n"),
                     PT_OK);
    assert_range(ctx->r->uri_start, ctx->r->uri_end, "/caf\xc3\xa9");
}


static void
test_absolute_form(void **state)
{
    test_ctx_t         *ctx = *state;
    pt_http_request_t  *r;

    /* RFC 9112 3.2.2 */
    assert_int_equal(request_line(ctx,
        "GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\n"),
        PT_OK);
    r = ctx->r;
    assert_range(r->schema_start, r->schema_end, "http");
    assert_range(r->host_start, r->host_end, "www.example.org");
    assert_range(r->uri_start, r->uri_end, "/pub/WWW/TheProject.html");
    assert_str(&r->unparsed_uri, "/pub/WWW/TheProject.html");
    assert_int_equal(r->empty_path_in_uri, 0);

    assert_int_equal(request_line(ctx,
        "GET https://example.com:8443/a?b=c HTTP/1.1\r\n"), PT_OK);
    r = ctx->r;
    assert_range(r->schema_start, r->schema_end, "https");
    assert_range(r->host_start, r->host_end, "example.com:8443");
    assert_range(r->uri_start, r->uri_end, "/a?b=c");
    assert_str(&r->args, "b=c");

    /* the scheme is case-insensitive */
    assert_int_equal(request_line(ctx, "GET HTTP://EXAMPLE.COM/ HTTP/1.1\r\n"),
                     PT_OK);
    assert_range(ctx->r->host_start, ctx->r->host_end, "EXAMPLE.COM");

    /* no path: "/" */
    assert_int_equal(request_line(ctx, "GET http://example.com HTTP/1.1\r\n"),
                     PT_OK);
    r = ctx->r;
    assert_range(r->host_start, r->host_end, "example.com");
    assert_int_equal(r->empty_path_in_uri, 1);
    assert_str(&r->unparsed_uri, "/");
    assert_int_equal(pt_http_parse_uri(r), PT_OK);
    assert_int_equal(pt_http_normalize_uri(r, 1), PT_OK);
    assert_str(&r->uri, "/");

    assert_int_equal(request_line(ctx,
        "GET http://example.com:80 HTTP/1.1\r\n"), PT_OK);
    assert_range(ctx->r->host_start, ctx->r->host_end, "example.com:80");
    assert_int_equal(ctx->r->empty_path_in_uri, 1);

    /* no path but a query: the target was "/?query" */
    assert_int_equal(request_line(ctx,
        "GET http://example.com?a=b HTTP/1.1\r\n"), PT_OK);
    r = ctx->r;
    assert_range(r->host_start, r->host_end, "example.com");
    assert_str(&r->args, "a=b");
    assert_int_equal(pt_http_parse_uri(r), PT_OK);
    assert_str(&r->unparsed_uri, "/?a=b");
    assert_int_equal(pt_http_normalize_uri(r, 1), PT_OK);
    assert_str(&r->uri, "/");

    /* an IPv6 literal */
    assert_int_equal(request_line(ctx,
        "GET http://[::1]:8080/x HTTP/1.1\r\n"), PT_OK);
    assert_range(ctx->r->host_start, ctx->r->host_end, "[::1]:8080");

    /* other schemes, userinfo, no authority, no "//" */
    assert_int_equal(request_line(ctx, "GET ftp://example.com/ HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET httpx://example.com/ HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx,
        "GET http://user:pw@example.com/ HTTP/1.1\r\n"),
        PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET http:/// HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET http:// HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET http://?x HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET http:example.com/ HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET http HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET 1http://a/ HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET example.com HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET ?a HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
}


static void
test_asterisk_form(void **state)
{
    test_ctx_t  *ctx = *state;

    /* RFC 9112 3.2.4 */
    assert_int_equal(request_line(ctx, "OPTIONS * HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(ctx->r->method, PT_HTTP_OPTIONS);
    assert_range(ctx->r->uri_start, ctx->r->uri_end, "*");
    assert_str(&ctx->r->unparsed_uri, "*");
    assert_int_equal(pt_http_parse_uri(ctx->r), PT_OK);
    assert_str(&ctx->r->uri, "*");

    /* for OPTIONS only */
    assert_int_equal(request_line(ctx, "GET * HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "FOO * HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "OPTIONS ** HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "OPTIONS *a HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);

    /* OPTIONS with a path is an ordinary request */
    assert_int_equal(request_line(ctx, "OPTIONS /x HTTP/1.1\r\n"), PT_OK);
    assert_range(ctx->r->uri_start, ctx->r->uri_end, "/x");
}


static void
test_authority_form(void **state)
{
    test_ctx_t  *ctx = *state;

    /* RFC 9112 3.2.3 */
    assert_int_equal(request_line(ctx,
        "CONNECT www.example.com:80 HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(ctx->r->method, PT_HTTP_CONNECT);
    assert_range(ctx->r->uri_start, ctx->r->uri_end, "www.example.com:80");
    assert_str(&ctx->r->request_line, "CONNECT www.example.com:80 HTTP/1.1");
    assert_str(&ctx->r->unparsed_uri, "www.example.com:80");
    assert_int_equal(ctx->r->http_version, PT_HTTP_VERSION_11);
    assert_ptr_equal(ctx->b.pos, ctx->b.last);

    /* the server then answers 405; the URI must not crash on the way */
    assert_int_equal(pt_http_parse_uri(ctx->r), PT_OK);
    assert_str(&ctx->r->unparsed_uri, "www.example.com:80");

    /* an authority that ends like a dot segment is not normalised */
    assert_int_equal(request_line(ctx, "CONNECT a/b/. HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(pt_http_parse_uri(ctx->r), PT_OK);
    assert_int_equal(ctx->r->complex_uri, 0);
    assert_str(&ctx->r->uri, "a/b/.");
    assert_int_equal(request_line(ctx, "CONNECT x/.. HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(pt_http_parse_uri(ctx->r), PT_OK);
    assert_int_equal(ctx->r->complex_uri, 0);

    /* a path after CONNECT is still an origin form */
    assert_int_equal(request_line(ctx, "CONNECT /x HTTP/1.1\r\n"), PT_OK);
    assert_range(ctx->r->uri_start, ctx->r->uri_end, "/x");
}


static void
test_methods(void **state)
{
    static const struct {
        const char  *name;
        pt_uint_t    method;
    } known[] = {
        { "GET", PT_HTTP_GET },
        { "HEAD", PT_HTTP_HEAD },
        { "POST", PT_HTTP_POST },
        { "PUT", PT_HTTP_PUT },
        { "DELETE", PT_HTTP_DELETE },
        { "OPTIONS", PT_HTTP_OPTIONS },
        { "PATCH", PT_HTTP_PATCH },
        { "TRACE", PT_HTTP_TRACE },
        { "MKCOL", PT_HTTP_MKCOL },
        { "COPY", PT_HTTP_COPY },
        { "MOVE", PT_HTTP_MOVE },
        { "PROPFIND", PT_HTTP_PROPFIND },
        { "PROPPATCH", PT_HTTP_PROPPATCH },
        { "LOCK", PT_HTTP_LOCK },
        { "UNLOCK", PT_HTTP_UNLOCK },
        /* valid tokens, unknown methods; methods are case-sensitive */
        { "get", PT_HTTP_UNKNOWN },
        { "Get", PT_HTTP_UNKNOWN },
        { "GETS", PT_HTTP_UNKNOWN },
        { "GE", PT_HTTP_UNKNOWN },
        { "PURGE", PT_HTTP_UNKNOWN },
        { "M-SEARCH", PT_HTTP_UNKNOWN },
        { "X!#$%&'*+-.^_`|~0", PT_HTTP_UNKNOWN },
        { "A", PT_HTTP_UNKNOWN },
    };
    static const char  *bad[] = {
        "G@T / HTTP/1.1\r\n",
        "GET\t/ HTTP/1.1\r\n",
        " GET / HTTP/1.1\r\n",
        "/ HTTP/1.1\r\n",
        "G(ET / HTTP/1.1\r\n",
        "GE\"T / HTTP/1.1\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n",
        "\xc3\xa9 / HTTP/1.1\r\n",
        "GET:/ HTTP/1.1\r\n",
    };

    test_ctx_t  *ctx = *state;
    char         line[128];
    pt_uint_t    i;

    for (i = 0; i < pt_nelems(known); i++) {
        snprintf(line, sizeof(line), "%s /x HTTP/1.1\r\n", known[i].name);
        assert_int_equal(request_line(ctx, line), PT_OK);
        assert_int_equal(ctx->r->method, known[i].method);
        assert_str(&ctx->r->method_name, known[i].name);
        assert_range(ctx->r->request_start, ctx->r->method_end,
                     known[i].name);
    }

    for (i = 0; i < pt_nelems(bad); i++) {
        assert_int_equal(request_line(ctx, bad[i]),
                         PT_HTTP_PARSE_INVALID_METHOD);
    }

    /* garbage is refused before the line is complete */
    assert_int_equal(request_line(ctx, "\x16\x03\x01"),
                     PT_HTTP_PARSE_INVALID_METHOD);
    assert_int_equal(request_line(ctx, "GE<"), PT_HTTP_PARSE_INVALID_METHOD);
    assert_int_equal(request_line(ctx, "GET"), PT_AGAIN);
    assert_int_equal(request_line(ctx, "GET /\x01"), PT_AGAIN);
}


static void
test_versions(void **state)
{
    test_ctx_t  *ctx = *state;

    assert_int_equal(request_line(ctx, "GET / HTTP/1.0\r\n"), PT_OK);
    assert_int_equal(ctx->r->http_version, PT_HTTP_VERSION_10);

    assert_int_equal(request_line(ctx, "GET / HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(ctx->r->http_version, PT_HTTP_VERSION_11);

    /* a higher minor version is treated as 1.1 (RFC 9110 2.5) */
    assert_int_equal(request_line(ctx, "GET / HTTP/1.9\r\n"), PT_OK);
    assert_int_equal(ctx->r->http_version, PT_HTTP_VERSION_11);
    assert_int_equal(ctx->r->http_major, 1);
    assert_int_equal(ctx->r->http_minor, 9);
    assert_str(&ctx->r->http_protocol, "HTTP/1.9");

    /* well-formed versions we do not speak: 505 */
    assert_int_equal(request_line(ctx, "GET / HTTP/2.0\r\n"),
                     PT_HTTP_PARSE_INVALID_VERSION);
    assert_int_equal(request_line(ctx, "GET / HTTP/0.9\r\n"),
                     PT_HTTP_PARSE_INVALID_VERSION);
    assert_int_equal(request_line(ctx, "GET / HTTP/9.9\r\n"),
                     PT_HTTP_PARSE_INVALID_VERSION);

    /* malformed versions: 400 */
    assert_int_equal(request_line(ctx, "GET / HTTP/1.10\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / HTTP/11.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / http/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / HTTP/1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / HTTP/1.\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / HTTP/2\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / HTTP/1,1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / HTTP/a.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / HTTP/1.1 \r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / XTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / \r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / HTTP/1.1 x\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);

    /* no version at all: HTTP/0.9, which we do not speak */
    assert_int_equal(request_line(ctx, "GET /\r\n"),
                     PT_HTTP_PARSE_INVALID_09_METHOD);
}


static void
test_leading_empty_lines(void **state)
{
    test_ctx_t  *ctx = *state;
    char         line[128];
    pt_uint_t    n;

    /* RFC 9112 2.2: at least one empty line before the request is ignored */
    assert_int_equal(request_line(ctx, "\r\nGET / HTTP/1.1\r\n"), PT_OK);
    assert_str(&ctx->r->request_line, "GET / HTTP/1.1");

    /* up to eight */
    for (n = 1; n <= 10; n++) {
        snprintf(line, sizeof(line), "%.*sGET / HTTP/1.1\r\n",
                 (int) (2 * n),
                 "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n");
        assert_int_equal(request_line(ctx, line),
                         n <= 8 ? PT_OK : PT_HTTP_PARSE_INVALID_REQUEST);
    }

    /* only empty lines so far */
    assert_int_equal(request_line(ctx, "\r\n\r\n"), PT_AGAIN);
    assert_int_equal(request_line(ctx, "\r\n\r"), PT_AGAIN);

    /* an empty line with a bare LF is not skipped */
    assert_int_equal(request_line(ctx, "\nGET / HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_METHOD);
    assert_int_equal(request_line(ctx, "\r\n\nGET / HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_METHOD);
}


static void
test_line_endings(void **state)
{
    test_ctx_t  *ctx = *state;

    /* bare LF and bare CR are errors, not line ends (RFC 9112 2.2) */
    assert_int_equal(request_line(ctx, "GET / HTTP/1.1\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / HTTP/1.1\rX"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET / HTTP/1.1\r\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET /a\rb HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET\r / HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line(ctx, "GET /\n HTTP/1.1\r\n"),
                     PT_HTTP_PARSE_INVALID_REQUEST);

    /* a CR at the very end may yet be followed by its LF */
    assert_int_equal(request_line(ctx, "GET / HTTP/1.1\r"), PT_AGAIN);
    assert_int_equal(request_line(ctx, "GET / HTTP/1.1"), PT_AGAIN);
    assert_int_equal(request_line(ctx, ""), PT_AGAIN);
}


static void
test_spaces_and_controls(void **state)
{
    static const char  *bad[] = {
        "GET  / HTTP/1.1\r\n",
        "GET /  HTTP/1.1\r\n",
        "GET / HTTP/1.1  \r\n",
        "GET /a b HTTP/1.1\r\n",
        "GET /\t HTTP/1.1\r\n",
        "GET /a\x01 HTTP/1.1\r\n",
        "GET /a\x1f HTTP/1.1\r\n",
        "GET /a\x7f HTTP/1.1\r\n",
        "GET /a#frag HTTP/1.1\r\n",
        "GET /a?b#frag HTTP/1.1\r\n",
        "GET # HTTP/1.1\r\n",
        "GET http://a/#x HTTP/1.1\r\n",
        "GET \r\n",
        "GET  HTTP/1.1\r\n",
    };

    test_ctx_t  *ctx = *state;
    pt_uint_t    i;
    pt_int_t     rc;

    for (i = 0; i < pt_nelems(bad); i++) {
        rc = request_line(ctx, bad[i]);

        if (rc != PT_HTTP_PARSE_INVALID_REQUEST) {
            fprintf(stderr, "case %u: rc %d\n", (unsigned) i, (int) rc);
        }

        assert_int_equal(rc, PT_HTTP_PARSE_INVALID_REQUEST);
    }

    assert_int_equal(request_line_n(ctx, "GET /a\0 HTTP/1.1\r\n", 18),
                     PT_HTTP_PARSE_INVALID_REQUEST);
    assert_int_equal(request_line_n(ctx, "GET /\0a HTTP/1.1\r\n", 18),
                     PT_HTTP_PARSE_INVALID_REQUEST);

    /* "GET\r\n": the method runs into the end of the line */
    assert_int_equal(request_line(ctx, "GET\r\n"),
                     PT_HTTP_PARSE_INVALID_METHOD);
}


/*
 * Feeds text a byte at a time, as a slow client would, into the same buffer
 * (the server appends to it): PT_AGAIN until the last byte, and then the same
 * result and fields as when it arrives at once.
 */
typedef struct {
    pt_int_t   rc;
    size_t     pos;
    size_t     request_start;
    size_t     uri_start;
    size_t     uri_end;
    size_t     host_start;          /* 0: none */
    size_t     args;                /* 0: none */
    pt_uint_t  method;
    pt_uint_t  http_version;
    size_t     request_line_len;
    pt_uint_t  complex_uri;
    pt_uint_t  empty_path_in_uri;
} line_result_t;


static void
line_result(test_ctx_t *ctx, pt_int_t rc, line_result_t *lr)
{
    pt_http_request_t  *r = ctx->r;

    pt_memzero(lr, sizeof(line_result_t));
    lr->rc = rc;

    if (rc != PT_OK) {
        return;
    }

    lr->pos = ctx->b.pos - ctx->data;
    lr->request_start = r->request_start - ctx->data;
    lr->uri_start = r->uri_start - ctx->data;
    lr->uri_end = r->uri_end - ctx->data;
    lr->host_start = r->host_start ? (size_t) (r->host_start - ctx->data) : 0;
    lr->args = r->args_start ? (size_t) (r->args_start - ctx->data) : 0;
    lr->method = r->method;
    lr->http_version = r->http_version;
    lr->request_line_len = r->request_line.len;
    lr->complex_uri = r->complex_uri;
    lr->empty_path_in_uri = r->empty_path_in_uri;
}


/*
 * Feeds text a byte at a time, as a slow client would, into the same buffer
 * (the server appends to it): PT_AGAIN until the last byte, and then the same
 * result and fields as when it arrives at once.
 */
static void
check_incremental(test_ctx_t *ctx, const char *text)
{
    size_t         len;
    pt_int_t       rc;
    line_result_t  once, slow;

    len = strlen(text);

    rc = request_line(ctx, text);
    line_result(ctx, rc, &once);

    new_request(ctx);
    load(ctx, text, len);
    ctx->b.last = ctx->b.pos;

    for ( ;; ) {
        ctx->b.last++;
        rc = pt_http_parse_request_line(ctx->r, &ctx->b);

        if (rc != PT_AGAIN || ctx->b.last == ctx->data + len) {
            break;
        }
    }

    if (rc != once.rc) {
        fprintf(stderr, "\"%s\": at once %d, a byte at a time %d after %d\n",
                text, (int) once.rc, (int) rc,
                (int) (ctx->b.last - ctx->data));
    }

    line_result(ctx, rc, &slow);

    assert_int_equal(rc, once.rc);
    assert_memory_equal(&slow, &once, sizeof(line_result_t));

    if (rc == PT_OK) {
        assert_ptr_equal(ctx->b.last, ctx->data + len);
    }
}


static void
test_incremental(void **state)
{
    static const char  *lines[] = {
        "GET / HTTP/1.1\r\n",
        "GET /a/b?c=d HTTP/1.0\r\n",
        "POST http://example.com:8080/x/../y?z HTTP/1.1\r\n",
        "GET http://example.com HTTP/1.1\r\n",
        "OPTIONS * HTTP/1.1\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\n",
        "\r\nGET / HTTP/1.1\r\n",
        "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n",
        "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n",
        "GET / HTTP/2.0\r\n",
        "GET / HTTP/1.1\n",
        "GET / HTTP/1.1\r\r\n",
        "GET /\r\n",
        "G@T / HTTP/1.1\r\n",
        "GET /#x HTTP/1.1\r\n",
        "GET  / HTTP/1.1\r\n",
        "\x16\x03\x01",
    };

    test_ctx_t  *ctx = *state;
    pt_uint_t    i;

    for (i = 0; i < pt_nelems(lines); i++) {
        check_incremental(ctx, lines[i]);
    }
}


/* header lines */

static void
test_header_basic(void **state)
{
    test_ctx_t         *ctx = *state;
    pt_http_request_t  *r;

    assert_int_equal(header_line(ctx, "Host: www.example.org\r\n"), PT_OK);
    r = ctx->r;
    assert_range(r->header_name_start, r->header_name_end, "Host");
    assert_range(r->header_start, r->header_end, "www.example.org");
    assert_int_equal(r->header_hash, pt_hash_key_lc((u_char *) "Host", 4));
    assert_int_equal(r->lowcase_index, 4);
    assert_memory_equal(r->lowcase_header, "host", 4);
    assert_int_equal(r->invalid_header, 0);
    assert_ptr_equal(ctx->b.pos, ctx->b.last);

    /* the end of the head */
    assert_int_equal(header_line(ctx, "\r\n"), PT_HTTP_PARSE_HEADER_DONE);
    assert_ptr_equal(ctx->b.pos, ctx->b.last);
    assert_int_equal(header_line(ctx, "\r\nbody"), PT_HTTP_PARSE_HEADER_DONE);
    assert_memory_equal(ctx->b.pos, "body", 4);

    /* tchar names, mixed case */
    assert_int_equal(header_line(ctx,
        "X-Custom!#$%&'*+.^`|~09: v\r\n"), PT_OK);
    assert_range(ctx->r->header_name_start, ctx->r->header_name_end,
                 "X-Custom!#$%&'*+.^`|~09");
    assert_int_equal(ctx->r->header_hash,
                     pt_hash_key_lc((u_char *) "X-Custom!#$%&'*+.^`|~09", 23));
    assert_memory_equal(ctx->r->lowcase_header, "x-custom!#$%&'*+.^`|~09", 23);

    assert_int_equal(header_line(ctx, "CONTENT-LENGTH: 5\r\n"), PT_OK);
    assert_int_equal(ctx->r->header_hash,
                     pt_hash_key((u_char *) "content-length", 14));
    assert_memory_equal(ctx->r->lowcase_header, "content-length", 14);

    /* a value may hold ":" and anything visible, obs-text too */
    assert_int_equal(header_line(ctx,
        "Referer: http://a/b?c=d:e \"f\"\r\n"), PT_OK);
    assert_range(ctx->r->header_start, ctx->r->header_end,
                 "http://a/b?c=d:e \"f\"");
    assert_int_equal(header_line(ctx, "X: caf\xc3\xa9\x80\xff\r\n"), PT_OK);
    assert_range(ctx->r->header_start, ctx->r->header_end,
                 "caf\xc3\xa9\x80\xff");
}


static void
test_header_ows(void **state)
{
    test_ctx_t  *ctx = *state;

    assert_int_equal(header_line(ctx, "X:   a b  \t \r\n"), PT_OK);
    assert_range(ctx->r->header_start, ctx->r->header_end, "a b");

    assert_int_equal(header_line(ctx, "X:\ta\t\r\n"), PT_OK);
    assert_range(ctx->r->header_start, ctx->r->header_end, "a");

    assert_int_equal(header_line(ctx, "X:a\r\n"), PT_OK);
    assert_range(ctx->r->header_start, ctx->r->header_end, "a");

    /* white space inside the value stays */
    assert_int_equal(header_line(ctx, "X: a \t b\r\n"), PT_OK);
    assert_range(ctx->r->header_start, ctx->r->header_end, "a \t b");

    /* empty values */
    assert_int_equal(header_line(ctx, "X:\r\n"), PT_OK);
    assert_range(ctx->r->header_name_start, ctx->r->header_name_end, "X");
    assert_range(ctx->r->header_start, ctx->r->header_end, "");

    assert_int_equal(header_line(ctx, "X: \t \r\n"), PT_OK);
    assert_range(ctx->r->header_start, ctx->r->header_end, "");
}


static void
test_header_invalid(void **state)
{
    static const char  *bad[] = {
        " X: a\r\n",                /* obs-fold */
        "\tX: a\r\n",
        " \r\n",
        "X : a\r\n",                /* space before the colon */
        "X\t: a\r\n",
        ": a\r\n",                  /* empty name */
        ":\r\n",
        "X a\r\n",                  /* no colon */
        "X\r\n",
        "X(y): a\r\n",              /* not tchars */
        "X\"y: a\r\n",
        "X/y: a\r\n",
        "X@y: a\r\n",
        "\xc3\xa9: a\r\n",
        "X: a\x01 b\r\n",           /* controls in the value */
        "X: a\x7f\r\n",
        "X: a\x1b[0m\r\n",
        "X: a\n",                   /* bare LF */
        "X: a\rb\r\n",              /* bare CR */
        "X: a\r\r\n",
        "\n",
        "X: a\rb",
    };

    test_ctx_t  *ctx = *state;
    pt_uint_t    i;
    pt_int_t     rc;

    for (i = 0; i < pt_nelems(bad); i++) {
        rc = header_line(ctx, bad[i]);

        if (rc != PT_HTTP_PARSE_INVALID_HEADER) {
            fprintf(stderr, "case %u: rc %d\n", (unsigned) i, (int) rc);
        }

        assert_int_equal(rc, PT_HTTP_PARSE_INVALID_HEADER);
    }

    /* NUL in the name and in the value */
    assert_int_equal(header_line_n(ctx, "X\0: a\r\n", 7, 0),
                     PT_HTTP_PARSE_INVALID_HEADER);
    assert_int_equal(header_line_n(ctx, "X: a\0b\r\n", 8, 0),
                     PT_HTTP_PARSE_INVALID_HEADER);

    /* incomplete lines */
    assert_int_equal(header_line(ctx, "X: a"), PT_AGAIN);
    assert_int_equal(header_line(ctx, "X: a\r"), PT_AGAIN);
    assert_int_equal(header_line(ctx, ""), PT_AGAIN);
    assert_int_equal(header_line(ctx, "\r"), PT_AGAIN);
    /* an obs-fold is refused at once */
    assert_int_equal(header_line(ctx, " "), PT_HTTP_PARSE_INVALID_HEADER);
}


static void
test_header_underscores(void **state)
{
    test_ctx_t  *ctx = *state;

    assert_int_equal(header_line_n(ctx, "X_Real_IP: 1\r\n", 14, 0), PT_OK);
    assert_int_equal(ctx->r->invalid_header, 1);
    assert_range(ctx->r->header_name_start, ctx->r->header_name_end,
                 "X_Real_IP");

    assert_int_equal(header_line_n(ctx, "X_Real_IP: 1\r\n", 14, 1), PT_OK);
    assert_int_equal(ctx->r->invalid_header, 0);
    assert_int_equal(ctx->r->header_hash,
                     pt_hash_key_lc((u_char *) "X_Real_IP", 9));

    /* the flag is reset by the next line */
    assert_int_equal(header_line_n(ctx, "X_A: 1\r\n", 8, 0), PT_OK);
    assert_int_equal(ctx->r->invalid_header, 1);
    assert_int_equal(header_line_n(ctx, "X-A: 1\r\n", 8, 0), PT_OK);
    assert_int_equal(ctx->r->invalid_header, 0);
}


static void
test_header_long_name(void **state)
{
    test_ctx_t  *ctx = *state;
    char         line[256], name[128];
    pt_uint_t    len;

    for (len = PT_HTTP_LC_HEADER_LEN - 1; len <= PT_HTTP_LC_HEADER_LEN + 40;
         len++)
    {
        memset(name, 'A', len);
        name[len] = '\0';
        name[len - 1] = 'Z';
        snprintf(line, sizeof(line), "%s: v\r\n", name);

        assert_int_equal(header_line(ctx, line), PT_OK);
        assert_int_equal(ctx->r->lowcase_index, len);
        assert_int_equal(ctx->r->header_hash,
                         pt_hash_key_lc((u_char *) name, len));
        assert_int_equal(ctx->r->lowcase_header[0], 'a');
        assert_int_equal(ctx->r->header_name_end - ctx->r->header_name_start,
                         len);
    }
}


static void
test_header_sequence(void **state)
{
    static const char  head[] =
        "GET /x HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "User-Agent: curl/8.0\r\n"
        "Accept: */*\r\n"
        "\r\n";

    test_ctx_t  *ctx = *state;
    pt_uint_t    n;
    pt_int_t     rc;

    assert_int_equal(request_line(ctx, head), PT_OK);

    for (n = 0; ; n++) {
        rc = pt_http_parse_header_line(ctx->r, &ctx->b, 0);

        if (rc != PT_OK) {
            break;
        }
    }

    assert_int_equal(rc, PT_HTTP_PARSE_HEADER_DONE);
    assert_int_equal(n, 3);
    assert_ptr_equal(ctx->b.pos, ctx->b.last);

    /* a byte at a time */
    assert_int_equal(request_line(ctx, head), PT_OK);
    ctx->b.last = ctx->b.pos;

    for (n = 0; ; ) {
        ctx->b.last++;
        rc = pt_http_parse_header_line(ctx->r, &ctx->b, 0);

        if (rc == PT_OK) {
            n++;
            continue;
        }

        if (rc != PT_AGAIN) {
            break;
        }

        assert_true(ctx->b.last < ctx->data + ctx->len);
    }

    assert_int_equal(rc, PT_HTTP_PARSE_HEADER_DONE);
    assert_int_equal(n, 3);
    assert_ptr_equal(ctx->b.pos, ctx->data + ctx->len);
}


/* URI normalisation */

typedef struct {
    const char  *target;
    pt_uint_t    merge_slashes;
    pt_int_t     rc;
    const char  *uri;
    const char  *exten;
    const char  *args;
} uri_case_t;


static const uri_case_t  uri_cases[] = {
    /* plain */
    { "/", 1, PT_OK, "/", "", NULL },
    { "/a/b/c", 1, PT_OK, "/a/b/c", "", NULL },
    { "/index.html", 1, PT_OK, "/index.html", "html", NULL },
    { "/a.b/c", 1, PT_OK, "/a.b/c", "", NULL },
    { "/a/b.tar.gz", 1, PT_OK, "/a/b.tar.gz", "gz", NULL },
    { "/a/b.", 1, PT_OK, "/a/b.", "", NULL },
    { "/.hidden", 1, PT_OK, "/.hidden", "hidden", NULL },

    /* dot segments (RFC 3986 5.2.4) */
    { "/a/./b", 1, PT_OK, "/a/b", "", NULL },
    { "/a/../b", 1, PT_OK, "/b", "", NULL },
    { "/a/b/../../c", 1, PT_OK, "/c", "", NULL },
    { "/a/b/c/./../../g", 1, PT_OK, "/a/g", "", NULL },
    { "/./", 1, PT_OK, "/", "", NULL },
    { "/.", 1, PT_OK, "/", "", NULL },
    { "/a/.", 1, PT_OK, "/a/", "", NULL },
    { "/a/..", 1, PT_OK, "/", "", NULL },
    { "/a/b/..", 1, PT_OK, "/a/", "", NULL },
    { "/a/b/.", 1, PT_OK, "/a/b/", "", NULL },
    { "/a/./", 1, PT_OK, "/a/", "", NULL },
    { "/a/b/../", 1, PT_OK, "/a/", "", NULL },
    { "/a/.b", 1, PT_OK, "/a/.b", "b", NULL },
    { "/a/..b", 1, PT_OK, "/a/..b", "b", NULL },
    { "/a/b..", 1, PT_OK, "/a/b..", "", NULL },
    { "/a/...", 1, PT_OK, "/a/...", "", NULL },
    { "/..a/b", 1, PT_OK, "/..a/b", "", NULL },
    { "/a/../b.txt", 1, PT_OK, "/b.txt", "txt", NULL },

    /* escaping above the root */
    { "/..", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/../", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/../a", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a/../..", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a/../../b", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/./../a", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a/b/../../../etc/passwd", 1, PT_DECLINED, NULL, NULL, NULL },

    /* percent-decoding before the dot segments */
    { "/%2e%2e/x", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/%2E%2E", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/.%2e/", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a/%2e%2e/b", 1, PT_OK, "/b", "", NULL },
    { "/a/%2e", 1, PT_OK, "/a/", "", NULL },
    { "/a%2Fb", 1, PT_OK, "/a/b", "", NULL },
    { "/a%2f..%2f..%2fetc", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a%2F%2Fb", 1, PT_OK, "/a/b", "", NULL },
    { "/a%2F%2Fb", 0, PT_OK, "/a//b", "", NULL },
    { "/%41%62c", 1, PT_OK, "/Abc", "", NULL },
    { "/a%20b.t%78t", 1, PT_OK, "/a b.txt", "txt", NULL },
    { "/caf%C3%A9", 1, PT_OK, "/caf\xc3\xa9", "", NULL },
    { "/a%3Fb", 1, PT_OK, "/a?b", "", NULL },
    { "/a%23b", 1, PT_OK, "/a#b", "", NULL },
    { "/a%25", 1, PT_OK, "/a%", "", NULL },
    { "/a%2e", 1, PT_OK, "/a.", "", NULL },

    /* NUL and bad escapes */
    { "/%00", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a%00.html", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/%", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a%", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a%4", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a%4?x", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a%zz", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a%4g", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a%g4", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a%%41", 1, PT_DECLINED, NULL, NULL, NULL },

    /* merge_slashes */
    { "//a///b", 1, PT_OK, "/a/b", "", NULL },
    { "//a///b", 0, PT_OK, "//a///b", "", NULL },
    { "/a//", 1, PT_OK, "/a/", "", NULL },
    { "/a//", 0, PT_OK, "/a//", "", NULL },
    { "//", 1, PT_OK, "/", "", NULL },
    { "//", 0, PT_OK, "//", "", NULL },
    { "/a//../b", 1, PT_OK, "/b", "", NULL },
    { "/a//../b", 0, PT_OK, "/a/b", "", NULL },
    { "//..", 0, PT_OK, "/", "", NULL },
    { "//..", 1, PT_DECLINED, NULL, NULL, NULL },
    { "/a//b.c", 0, PT_OK, "/a//b.c", "c", NULL },

    /* a backslash is an ordinary byte */
    { "/a\\b", 1, PT_OK, "/a\\b", "", NULL },
    { "/a\\..\\b", 1, PT_OK, "/a\\..\\b", "\\b", NULL },

    /* the query is split off and left alone */
    { "/a?x=1&y", 1, PT_OK, "/a", "", "x=1&y" },
    { "/a?", 1, PT_OK, "/a", "", "" },
    { "/?x", 1, PT_OK, "/", "", "x" },
    { "/a?b?c", 1, PT_OK, "/a", "", "b?c" },
    { "/a.php?x=/../..", 1, PT_OK, "/a.php", "php", "x=/../.." },
    { "/%41?%42", 1, PT_OK, "/A", "", "%42" },
    { "/a/../b?c", 1, PT_OK, "/b", "", "c" },
    { "/x.html?y.txt", 1, PT_OK, "/x.html", "html", "y.txt" },
    { "/a/.?x", 1, PT_OK, "/a/", "", "x" },

    /* absolute form */
    { "http://h", 1, PT_OK, "/", "", NULL },
    { "http://h?x", 1, PT_OK, "/", "", "x" },
    { "http://h/a/../b.js", 1, PT_OK, "/b.js", "js", NULL },
    { "http://h/..", 1, PT_DECLINED, NULL, NULL, NULL },
    { "http://h//a", 1, PT_OK, "/a", "", NULL },
};


/* Runs the request line and then what pt_http_process_request_uri() does. */
static pt_int_t
parse_target(test_ctx_t *ctx, const char *target, pt_uint_t merge_slashes)
{
    char      line[512];
    pt_int_t  rc;

    snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\n", target);

    rc = request_line(ctx, line);
    assert_int_equal(rc, PT_OK);

    rc = pt_http_parse_uri(ctx->r);

    if (rc == PT_OK && (ctx->r->complex_uri || ctx->r->empty_path_in_uri)) {
        rc = pt_http_normalize_uri(ctx->r, merge_slashes);
    }

    return rc;
}


static void
test_uri_table(void **state)
{
    test_ctx_t        *ctx = *state;
    pt_int_t           rc;
    pt_uint_t          i;
    const uri_case_t  *t;

    for (i = 0; i < pt_nelems(uri_cases); i++) {
        t = &uri_cases[i];

        rc = parse_target(ctx, t->target, t->merge_slashes);

        if (rc != t->rc
            || (rc == PT_OK
                && (ctx->r->uri.len != strlen(t->uri)
                    || memcmp(ctx->r->uri.data, t->uri, ctx->r->uri.len))))
        {
            fprintf(stderr, "\"%s\" (merge %d): want %d \"%s\", got %d "
                    "\"%.*s\"\n", t->target, (int) t->merge_slashes,
                    (int) t->rc, t->uri ? t->uri : "", (int) rc,
                    rc == PT_OK ? (int) ctx->r->uri.len : 0,
                    rc == PT_OK ? (char *) ctx->r->uri.data : "");
        }

        assert_int_equal(rc, t->rc);

        if (rc != PT_OK) {
            continue;
        }

        if (ctx->r->exten.len != strlen(t->exten)
            || (ctx->r->exten.len
                && memcmp(ctx->r->exten.data, t->exten, ctx->r->exten.len)))
        {
            fprintf(stderr, "\"%s\": exten\n", t->target);
        }

        assert_str(&ctx->r->uri, t->uri);
        assert_str(&ctx->r->exten, t->exten);

        if (t->args) {
            assert_non_null(ctx->r->args_start);
            assert_str(&ctx->r->args, t->args);

        } else {
            assert_null(ctx->r->args_start);
            assert_int_equal(ctx->r->args.len, 0);
        }
    }

    assert_true(pt_nelems(uri_cases) >= 40);
}


static void
test_uri_normalize_direct(void **state)
{
    test_ctx_t  *ctx = *state;

    /* normalising a simple URI gives the same as the fast path */
    assert_int_equal(request_line(ctx, "GET /a/b.c HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(pt_http_normalize_uri(ctx->r, 1), PT_OK);
    assert_str(&ctx->r->uri, "/a/b.c");
    assert_str(&ctx->r->exten, "c");

    /* the raw request line is untouched: $request_uri */
    assert_int_equal(request_line(ctx, "GET /a/../%62?q HTTP/1.1\r\n"),
                     PT_OK);
    assert_int_equal(pt_http_normalize_uri(ctx->r, 1), PT_OK);
    assert_str(&ctx->r->uri, "/b");
    assert_str(&ctx->r->unparsed_uri, "/a/../%62?q");
    assert_str(&ctx->r->request_line, "GET /a/../%62?q HTTP/1.1");

    /* the asterisk form */
    assert_int_equal(request_line(ctx, "OPTIONS * HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(pt_http_normalize_uri(ctx->r, 1), PT_OK);
    assert_str(&ctx->r->uri, "*");

    /* the authority form has no path */
    assert_int_equal(request_line(ctx, "CONNECT a:1 HTTP/1.1\r\n"), PT_OK);
    assert_int_equal(pt_http_normalize_uri(ctx->r, 1), PT_ERROR);
}


/* Host */

typedef struct {
    const char  *host;
    pt_int_t     rc;
    const char  *result;
} host_case_t;


static const host_case_t  host_cases[] = {
    { "example.com", PT_OK, "example.com" },
    { "www.example.org", PT_OK, "www.example.org" },
    { "localhost", PT_OK, "localhost" },
    { "a", PT_OK, "a" },
    { "127.0.0.1", PT_OK, "127.0.0.1" },
    { "xn--caf-dma.example", PT_OK, "xn--caf-dma.example" },
    { "under_score.example", PT_OK, "under_score.example" },

    /* uppercase is lowered */
    { "Example.COM", PT_OK, "example.com" },
    { "WWW.EXAMPLE.ORG:8080", PT_OK, "www.example.org" },

    /* ports */
    { "example.com:8080", PT_OK, "example.com" },
    { "example.com:80", PT_OK, "example.com" },
    { "example.com:", PT_OK, "example.com" },
    { "example.com:0", PT_OK, "example.com" },
    { "127.0.0.1:443", PT_OK, "127.0.0.1" },
    { "example.com:80a", PT_DECLINED, NULL },
    { "example.com:-1", PT_DECLINED, NULL },
    { "example.com:80:90", PT_DECLINED, NULL },
    { "example.com: 80", PT_DECLINED, NULL },

    /* IPv6 literals */
    { "[::1]", PT_OK, "[::1]" },
    { "[::1]:8080", PT_OK, "[::1]" },
    { "[2001:DB8::1]:443", PT_OK, "[2001:db8::1]" },
    { "[::ffff:127.0.0.1]", PT_OK, "[::ffff:127.0.0.1]" },
    { "[::1]:", PT_OK, "[::1]" },
    { "[::1", PT_DECLINED, NULL },
    { "[::1]x", PT_DECLINED, NULL },
    { "[::1]80", PT_DECLINED, NULL },
    { "[::1].", PT_DECLINED, NULL },
    { "[::1]]", PT_DECLINED, NULL },
    { "[::1]:8a", PT_DECLINED, NULL },

    /* the trailing dot */
    { "example.com.", PT_OK, "example.com" },
    { "example.com.:8080", PT_OK, "example.com" },
    { "EXAMPLE.COM.", PT_OK, "example.com" },
    { ".", PT_DECLINED, NULL },
    { ".:80", PT_DECLINED, NULL },

    /* ".." */
    { "a..b", PT_DECLINED, NULL },
    { "..", PT_DECLINED, NULL },
    { "example.com..", PT_DECLINED, NULL },
    { "..example.com", PT_DECLINED, NULL },

    /* invalid characters */
    { "exa mple.com", PT_DECLINED, NULL },
    { "example.com/", PT_DECLINED, NULL },
    { "example.com\\x", PT_DECLINED, NULL },
    { "user@example.com", PT_DECLINED, NULL },
    { "exa%41mple.com", PT_DECLINED, NULL },
    { "example.com\t", PT_DECLINED, NULL },
    { "example\x7f.com", PT_DECLINED, NULL },
    { "example\x01.com", PT_DECLINED, NULL },

    /* empty */
    { "", PT_DECLINED, NULL },
    { ":80", PT_DECLINED, NULL },
    { ":", PT_DECLINED, NULL },
};


static pt_uint_t
has_upper(const char *s)
{
    for ( /* void */ ; *s; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            return 1;
        }
    }

    return 0;
}


static void
test_host_table(void **state)
{
    test_ctx_t         *ctx = *state;
    u_char              copy[256];
    pt_str_t            host;
    pt_int_t            rc;
    pt_uint_t           i, alloc;
    const host_case_t  *t;

    new_request(ctx);

    for (i = 0; i < pt_nelems(host_cases); i++) {
        t = &host_cases[i];

        for (alloc = 0; alloc <= 1; alloc++) {
            host.len = strlen(t->host);
            memcpy(copy, t->host, host.len);
            host.data = copy;

            rc = pt_http_validate_host(&host, ctx->pool, alloc);

            if (rc != t->rc) {
                fprintf(stderr, "\"%s\": want %d, got %d\n", t->host,
                        (int) t->rc, (int) rc);
            }

            assert_int_equal(rc, t->rc);

            if (rc == PT_OK) {
                assert_str(&host, t->result);

                /* the caller's bytes are never changed */
                assert_memory_equal(copy, t->host, strlen(t->host));

                /* a copy is made when asked, or when lowering */
                if (alloc || has_upper(t->host)) {
                    assert_true(host.data < copy
                                || host.data >= copy + sizeof(copy));

                } else {
                    assert_ptr_equal(host.data, copy);
                }
            }
        }
    }

    /* NUL */
    host.len = 5;
    host.data = (u_char *) "a\0b.c";
    assert_int_equal(pt_http_validate_host(&host, ctx->pool, 0),
                     PT_DECLINED);
}


/* upstream status lines */

typedef struct {
    const char  *line;
    pt_int_t     rc;
    pt_uint_t    code;
    pt_uint_t    version;
    const char  *status;        /* from the code to the end of the reason */
} status_case_t;


static const status_case_t  status_cases[] = {
    { "HTTP/1.1 200 OK\r\n", PT_OK, 200, 1001, "200 OK" },
    { "HTTP/1.0 404 Not Found\r\n", PT_OK, 404, 1000, "404 Not Found" },
    { "HTTP/1.1 100 Continue\r\n", PT_OK, 100, 1001, "100 Continue" },
    { "HTTP/1.1 599 Whatever\r\n", PT_OK, 599, 1001, "599 Whatever" },
    { "HTTP/1.1 302 Found\r\nLocation: /\r\n", PT_OK, 302, 1001,
      "302 Found" },
    { "HTTP/1.1 200 Caf\xc3\xa9 \x80\xff\r\n", PT_OK, 200, 1001,
      "200 Caf\xc3\xa9 \x80\xff" },
    { "HTTP/1.1 200 a\tb  c \r\n", PT_OK, 200, 1001, "200 a\tb  c " },
    { "HTTP/1.1 200 \r\n", PT_OK, 200, 1001, "200 " },
    { "HTTP/1.1 204\r\n", PT_OK, 204, 1001, "204" },
    { "HTTP/1.9 200 OK\r\n", PT_OK, 200, 1009, "200 OK" },

    { "HTTP/1.1 99 X\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 600 X\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 000 X\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 1000 X\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 20 OK\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 2x0 OK\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 200OK\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1  200 OK\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1\t200 OK\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 200 O\x01K\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 200 OK\x7f\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 200 OK\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 200 O\rK\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/2.0 200 OK\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/2 200 OK\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.10 200 OK\r\n", PT_ERROR, 0, 0, NULL },
    { "http/1.1 200 OK\r\n", PT_ERROR, 0, 0, NULL },
    { "ICY 200 OK\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 200\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1\r\n", PT_ERROR, 0, 0, NULL },
    { "\r\n", PT_ERROR, 0, 0, NULL },
    { "<html>\r\n", PT_ERROR, 0, 0, NULL },
    { "HTTP/1.1 -200 OK\r\n", PT_ERROR, 0, 0, NULL },

    /* incomplete */
    { "HTTP/1.1 200 OK", PT_AGAIN, 0, 0, NULL },
    { "HTTP/1.1 200 OK\r", PT_AGAIN, 0, 0, NULL },
    { "HTT", PT_AGAIN, 0, 0, NULL },
    { "", PT_AGAIN, 0, 0, NULL },
    /* garbage is refused as soon as five bytes are in */
    { "HTTPS", PT_ERROR, 0, 0, NULL },
    { "<!DOC", PT_ERROR, 0, 0, NULL },
};


static void
test_status_table(void **state)
{
    test_ctx_t           *ctx = *state;
    size_t                len;
    pt_int_t              rc;
    pt_uint_t             i;
    pt_http_status_t      status;
    const status_case_t  *t;

    new_request(ctx);

    for (i = 0; i < pt_nelems(status_cases); i++) {
        t = &status_cases[i];

        len = strlen(t->line);
        load(ctx, t->line, len);
        pt_memzero(&status, sizeof(pt_http_status_t));

        rc = pt_http_parse_status_line(ctx->r, &ctx->b, &status);

        if (rc != t->rc) {
            fprintf(stderr, "\"%s\": want %d, got %d\n", t->line,
                    (int) t->rc, (int) rc);
        }

        assert_int_equal(rc, t->rc);

        if (rc != PT_OK) {
            assert_ptr_equal(ctx->b.pos, ctx->data);
            continue;
        }

        assert_int_equal(status.code, t->code);
        assert_int_equal(status.http_version, t->version);
        assert_range(status.start, status.end, t->status);
        assert_memory_equal(ctx->b.pos - 2, "\r\n", 2);
    }

    /* NUL in the reason */
    load(ctx, "HTTP/1.1 200 O\0K\r\n", 18);
    assert_int_equal(pt_http_parse_status_line(ctx->r, &ctx->b, &status),
                     PT_ERROR);
}


static void
test_status_and_headers(void **state)
{
    static const char  head[] =
        "HTTP/1.1 301 Moved Permanently\r\n"
        "Location: http://example.com/\r\n"
        "Content-Length: 0\r\n"
        "X_Under: 1\r\n"
        "\r\n";

    test_ctx_t        *ctx = *state;
    pt_int_t           rc;
    pt_uint_t          n;
    pt_http_status_t   status;

    new_request(ctx);
    load(ctx, head, sizeof(head) - 1);
    pt_memzero(&status, sizeof(pt_http_status_t));

    /* a byte at a time, as from a slow upstream */
    ctx->b.last = ctx->b.pos;

    do {
        ctx->b.last++;
        rc = pt_http_parse_status_line(ctx->r, &ctx->b, &status);
    } while (rc == PT_AGAIN);

    assert_int_equal(rc, PT_OK);
    assert_int_equal(status.code, 301);
    assert_ptr_equal(ctx->b.pos, ctx->b.last);

    for (n = 0; ; ) {
        rc = pt_http_parse_header_line(ctx->r, &ctx->b, 1);

        if (rc == PT_OK) {
            n++;
            assert_int_equal(ctx->r->invalid_header, 0);
            continue;
        }

        if (rc != PT_AGAIN) {
            break;
        }

        assert_true(ctx->b.last < ctx->data + ctx->len);
        ctx->b.last++;
    }

    assert_int_equal(rc, PT_HTTP_PARSE_HEADER_DONE);
    assert_int_equal(n, 3);
}


/* Content-Length */

static void
test_content_length(void **state)
{
    static const struct {
        const char  *value;
        pt_int_t     rc;
        off_t        n;
    } cases[] = {
        { "0", PT_OK, 0 },
        { "5", PT_OK, 5 },
        { "1234567890", PT_OK, 1234567890 },
        { "00012", PT_OK, 12 },
        { "0000000000000000000000000000000000000001", PT_OK, 1 },
        { "9223372036854775807", PT_OK, INT64_MAX },
        { "09223372036854775807", PT_OK, INT64_MAX },
        { "9223372036854775808", PT_ERROR, 0 },
        { "9223372036854775810", PT_ERROR, 0 },
        { "18446744073709551616", PT_ERROR, 0 },
        { "99999999999999999999999", PT_ERROR, 0 },
        { "", PT_ERROR, 0 },
        { "+1", PT_ERROR, 0 },
        { "-1", PT_ERROR, 0 },
        { "-0", PT_ERROR, 0 },
        { " 1", PT_ERROR, 0 },
        { "1 ", PT_ERROR, 0 },
        { "1 2", PT_ERROR, 0 },
        { "1,1", PT_ERROR, 0 },
        { "1, 1", PT_ERROR, 0 },
        { "0x10", PT_ERROR, 0 },
        { "1e3", PT_ERROR, 0 },
        { "1.0", PT_ERROR, 0 },
        { "\t1", PT_ERROR, 0 },
        { "one", PT_ERROR, 0 },
    };

    off_t      n;
    size_t     len;
    u_char    *p;
    pt_int_t   rc;
    pt_uint_t  i;

    for (i = 0; i < pt_nelems(cases); i++) {
        len = strlen(cases[i].value);
        p = malloc(len ? len : 1);
        assert_non_null(p);
        memcpy(p, cases[i].value, len);

        n = -42;
        rc = pt_http_parse_content_length(p, len, &n);
        free(p);

        if (rc != cases[i].rc) {
            fprintf(stderr, "\"%s\": want %d, got %d\n", cases[i].value,
                    (int) cases[i].rc, (int) rc);
        }

        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(n, rc == PT_OK ? cases[i].n : -42);
    }

    /* the length is respected: no NUL is needed */
    assert_int_equal(pt_http_parse_content_length((u_char *) "123x", 3, &n),
                     PT_OK);
    assert_int_equal(n, 123);
    assert_int_equal(pt_http_parse_content_length((u_char *) "1\0", 2, &n),
                     PT_ERROR);
}


/* Connection header values: each known token in any case, and the rest. */
static void
test_connection_tokens(void **state)
{
    static const struct {
        const char  *value;
        pt_uint_t    flags;
    } cases[] = {
        { "", 0 },
        { " , ,", 0 },
        { "close", PT_HTTP_CONN_CLOSE },
        { "Keep-Alive", PT_HTTP_CONN_KEEP_ALIVE },
        { "keep-alive, Upgrade",
          PT_HTTP_CONN_KEEP_ALIVE | PT_HTTP_CONN_UPGRADE },
        { "UPGRADE,x-secret", PT_HTTP_CONN_UPGRADE | PT_HTTP_CONN_OTHER },
        { "closed", PT_HTTP_CONN_OTHER },
        { "keep-alivex", PT_HTTP_CONN_OTHER },
        { "\tclose\t,\tTE", PT_HTTP_CONN_CLOSE | PT_HTTP_CONN_OTHER },
        { "keep alive", PT_HTTP_CONN_OTHER },
    };

    pt_uint_t  i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(pt_http_connection_tokens(
                             (const u_char *) cases[i].value,
                             strlen(cases[i].value)),
                         cases[i].flags);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_origin_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absolute_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asterisk_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authority_form, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leading_empty_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_line_endings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spaces_and_controls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_incremental, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_ows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_invalid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_header_underscores, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_header_long_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_header_sequence, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_uri_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uri_normalize_direct, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_host_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_headers, setup,
                                        teardown),
        cmocka_unit_test(test_connection_tokens),
        cmocka_unit_test_setup_teardown(test_content_length, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
