/*
 * The bottom of the header filter chain for HTTP/1.x: serialises the status
 * line and headers into one buffer and hands it to the body filters, so
 * the head usually leaves in the same writev() as the start of the body.
 */
#include "pt_http.h"


static pt_int_t pt_http_header_filter_init(pt_conf_t *cf);


static pt_http_module_t  pt_http_header_filter_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_header_filter_init,             /* postconfiguration */
    NULL, NULL, NULL, NULL, NULL, NULL
};


pt_module_t  pt_http_header_filter_module = {
    .ctx = &pt_http_header_filter_module_ctx,
    .type = PT_HTTP_MODULE,
};


static const char  pt_http_server_string[] = "Server: portico" PT_CRLF;
static const char  pt_http_server_full_string[] = "Server: " PORTICO_VER PT_CRLF;


typedef struct {
    pt_uint_t    code;
    const char  *text;
} pt_http_status_text_t;

static const pt_http_status_text_t  pt_http_status_texts[] = {
    { 100, "100 Continue" },
    { 101, "101 Switching Protocols" },
    { 200, "200 OK" },
    { 201, "201 Created" },
    { 202, "202 Accepted" },
    { 203, "203 Non-Authoritative Information" },
    { 204, "204 No Content" },
    { 206, "206 Partial Content" },
    { 300, "300 Multiple Choices" },
    { 301, "301 Moved Permanently" },
    { 302, "302 Moved Temporarily" },
    { 303, "303 See Other" },
    { 304, "304 Not Modified" },
    { 307, "307 Temporary Redirect" },
    { 308, "308 Permanent Redirect" },
    { 400, "400 Bad Request" },
    { 401, "401 Unauthorized" },
    { 402, "402 Payment Required" },
    { 403, "403 Forbidden" },
    { 404, "404 Not Found" },
    { 405, "405 Not Allowed" },
    { 406, "406 Not Acceptable" },
    { 408, "408 Request Time-out" },
    { 409, "409 Conflict" },
    { 410, "410 Gone" },
    { 411, "411 Length Required" },
    { 412, "412 Precondition Failed" },
    { 413, "413 Request Entity Too Large" },
    { 414, "414 Request-URI Too Large" },
    { 415, "415 Unsupported Media Type" },
    { 416, "416 Requested Range Not Satisfiable" },
    { 417, "417 Expectation Failed" },
    { 421, "421 Misdirected Request" },
    { 429, "429 Too Many Requests" },
    { 431, "431 Request Header Fields Too Large" },
    { 500, "500 Internal Server Error" },
    { 501, "501 Not Implemented" },
    { 502, "502 Bad Gateway" },
    { 503, "503 Service Temporarily Unavailable" },
    { 504, "504 Gateway Time-out" },
    { 505, "505 HTTP Version Not Supported" },
    { 507, "507 Insufficient Storage" },
    { 0, NULL }
};


/* "404 Not Found" for a known code, NULL otherwise. */
const char *
pt_http_status_text(pt_uint_t code)
{
    const pt_http_status_text_t  *st;

    for (st = pt_http_status_texts; st->code; st++) {
        if (st->code == code) {
            return st->text;
        }
    }

    return NULL;
}


pt_int_t
pt_http_send_header(pt_http_request_t *r)
{
    if (r->header_sent) {
        pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                     "header already sent");
        return PT_ERROR;
    }

    if (r->err_status) {
        r->headers_out.status = r->err_status;
        r->headers_out.status_line.len = 0;
    }

    return pt_http_top_header_filter(r);
}


static pt_int_t
pt_http_header_filter(pt_http_request_t *r)
{
    u_char                    *p;
    size_t                     len;
    int                        n;
    pt_buf_t                  *b;
    pt_uint_t                  i;
    pt_chain_t                 out;
    const char                *status_text;
    pt_list_part_t            *part;
    pt_table_elt_t            *header;
    pt_http_core_loc_conf_t   *clcf;
    char                       status_buf[sizeof("999 ")];

    if (r->header_sent) {
        return PT_OK;
    }

    r->header_sent = 1;

    if (r->http_version < PT_HTTP_VERSION_10) {
        return PT_OK;
    }

    if (r->method == PT_HTTP_HEAD) {
        r->header_only = 1;
    }

    if (pt_exiting) {
        /* the worker is stopping: say so, rather than just closing */
        r->keepalive = 0;
    }

    if (r->headers_out.last_modified_time != -1
        && r->headers_out.status != PT_HTTP_OK
        && r->headers_out.status != PT_HTTP_PARTIAL_CONTENT
        && r->headers_out.status != PT_HTTP_NOT_MODIFIED)
    {
        r->headers_out.last_modified_time = -1;
        r->headers_out.last_modified = NULL;
    }

    if (r->headers_out.status == PT_HTTP_NO_CONTENT
        || r->headers_out.status == PT_HTTP_NOT_MODIFIED)
    {
        r->header_only = 1;
    }

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    /* the status line */

    if (r->headers_out.status_line.len) {
        status_text = NULL;
        len = sizeof("HTTP/1.x ") - 1 + r->headers_out.status_line.len + 2;

    } else {
        status_text = pt_http_status_text(r->headers_out.status);

        if (status_text == NULL) {
            n = snprintf(status_buf, sizeof(status_buf), "%03u ",
                         (unsigned) (r->headers_out.status % 1000));
            status_buf[pt_min((size_t) pt_max(n, 0), sizeof(status_buf) - 1)]
                = '\0';
            status_text = status_buf;
        }

        len = sizeof("HTTP/1.x ") - 1 + strlen(status_text) + 2;
    }

    if (r->headers_out.server == NULL) {
        len += clcf->server_tokens == PT_HTTP_SERVER_TOKENS_ON
               ? sizeof(pt_http_server_full_string) - 1
               : sizeof(pt_http_server_string) - 1;
    }

    if (r->headers_out.date == NULL) {
        len += sizeof("Date: ") - 1 + pt_cached_http_time.len + 2;
    }

    if (r->headers_out.content_type.len) {
        len += sizeof("Content-Type: ") - 1
               + r->headers_out.content_type.len + 2;

        if (r->headers_out.content_type_len == r->headers_out.content_type.len
            && r->headers_out.charset.len)
        {
            len += sizeof("; charset=") - 1 + r->headers_out.charset.len;
        }
    }

    if (r->headers_out.content_length == NULL
        && r->headers_out.content_length_n >= 0)
    {
        len += sizeof("Content-Length: ") - 1 + PT_INT_T_LEN + 2;
    }

    if (r->headers_out.last_modified == NULL
        && r->headers_out.last_modified_time != -1)
    {
        len += sizeof("Last-Modified: Mon, 28 Sep 1970 06:00:00 GMT" PT_CRLF) - 1;
    }

    if (r->chunked) {
        len += sizeof("Transfer-Encoding: chunked" PT_CRLF) - 1;
    }

    if (r->headers_out.status == PT_HTTP_SWITCHING_PROTOCOLS) {
        len += sizeof("Connection: upgrade" PT_CRLF) - 1;

    } else if (r->keepalive) {
        len += sizeof("Connection: keep-alive" PT_CRLF) - 1;

    } else {
        len += sizeof("Connection: close" PT_CRLF) - 1;
    }

    part = &r->headers_out.headers.part;
    header = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            header = part->elts;
            i = 0;
        }

        if (header[i].hash == 0) {
            continue;
        }

        len += header[i].key.len + sizeof(": ") - 1 + header[i].value.len
               + sizeof(PT_CRLF) - 1;
    }

    len += 2;   /* the empty line */

    b = pt_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return PT_ERROR;
    }

    p = b->last;

    p = pt_cpymem(p, "HTTP/1.1 ", sizeof("HTTP/1.x ") - 1);

    if (r->headers_out.status_line.len) {
        p = pt_cpymem(p, r->headers_out.status_line.data,
                      r->headers_out.status_line.len);
    } else {
        p = pt_cpymem(p, status_text, strlen(status_text));
    }

    *p++ = PT_CR; *p++ = PT_LF;

    if (r->headers_out.server == NULL) {
        if (clcf->server_tokens == PT_HTTP_SERVER_TOKENS_ON) {
            p = pt_cpymem(p, pt_http_server_full_string,
                          sizeof(pt_http_server_full_string) - 1);
        } else {
            p = pt_cpymem(p, pt_http_server_string,
                          sizeof(pt_http_server_string) - 1);
        }
    }

    if (r->headers_out.date == NULL) {
        p = pt_cpymem(p, "Date: ", sizeof("Date: ") - 1);
        p = pt_cpymem(p, (u_char *) pt_cached_http_time.data,
                      pt_cached_http_time.len);
        *p++ = PT_CR; *p++ = PT_LF;
    }

    if (r->headers_out.content_type.len) {
        p = pt_cpymem(p, "Content-Type: ", sizeof("Content-Type: ") - 1);
        p = pt_cpymem(p, r->headers_out.content_type.data,
                      r->headers_out.content_type.len);

        if (r->headers_out.content_type_len == r->headers_out.content_type.len
            && r->headers_out.charset.len)
        {
            p = pt_cpymem(p, "; charset=", sizeof("; charset=") - 1);
            p = pt_cpymem(p, r->headers_out.charset.data,
                          r->headers_out.charset.len);
        }

        *p++ = PT_CR; *p++ = PT_LF;
    }

    if (r->headers_out.content_length == NULL
        && r->headers_out.content_length_n >= 0)
    {
        p = pt_cpymem(p, "Content-Length: ", sizeof("Content-Length: ") - 1);
        p = pt_sprint_off(p, r->headers_out.content_length_n);
        *p++ = PT_CR; *p++ = PT_LF;
    }

    if (r->headers_out.last_modified == NULL
        && r->headers_out.last_modified_time != -1)
    {
        p = pt_cpymem(p, "Last-Modified: ", sizeof("Last-Modified: ") - 1);
        p = pt_http_time(p, r->headers_out.last_modified_time);
        *p++ = PT_CR; *p++ = PT_LF;
    }

    if (r->chunked) {
        p = pt_cpymem(p, "Transfer-Encoding: chunked" PT_CRLF,
                      sizeof("Transfer-Encoding: chunked" PT_CRLF) - 1);
    }

    if (r->headers_out.status == PT_HTTP_SWITCHING_PROTOCOLS) {
        p = pt_cpymem(p, "Connection: upgrade" PT_CRLF,
                      sizeof("Connection: upgrade" PT_CRLF) - 1);

    } else if (r->keepalive) {
        p = pt_cpymem(p, "Connection: keep-alive" PT_CRLF,
                      sizeof("Connection: keep-alive" PT_CRLF) - 1);

    } else {
        p = pt_cpymem(p, "Connection: close" PT_CRLF,
                      sizeof("Connection: close" PT_CRLF) - 1);
    }

    part = &r->headers_out.headers.part;
    header = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            header = part->elts;
            i = 0;
        }

        if (header[i].hash == 0) {
            continue;
        }

        p = pt_cpymem(p, header[i].key.data, header[i].key.len);
        *p++ = ':'; *p++ = ' ';
        p = pt_cpymem(p, header[i].value.data, header[i].value.len);
        *p++ = PT_CR; *p++ = PT_LF;
    }

    *p++ = PT_CR; *p++ = PT_LF;

    b->last = p;

    r->header_size = b->last - b->pos;

    pt_assert(b->last <= b->end);

    out.buf = b;
    out.next = NULL;

    if (r->header_only) {
        b->last_buf = 1;
    }

    return pt_http_write_filter(r, &out);
}


static pt_int_t
pt_http_header_filter_init(pt_conf_t *cf)
{
    pt_http_top_header_filter = pt_http_header_filter;

    return PT_OK;
}
