/*
 * Responses Portico makes itself: error pages, redirects and the short
 * bodies of "return". Error pages are small HTML documents; a framing
 * error also ends the connection, since what follows cannot be trusted.
 */
#include "pt_http.h"


static const char  pt_http_error_tail[] =
    "<hr><center>portico</center>" PT_CRLF
    "</body>" PT_CRLF
    "</html>" PT_CRLF;

static const char  pt_http_error_full_tail[] =
    "<hr><center>" PORTICO_VER "</center>" PT_CRLF
    "</body>" PT_CRLF
    "</html>" PT_CRLF;


static pt_uint_t
pt_http_closes_connection(pt_int_t error)
{
    switch (error) {
    case PT_HTTP_BAD_REQUEST:
    case PT_HTTP_REQUEST_TIME_OUT:
    case PT_HTTP_REQUEST_ENTITY_TOO_LARGE:
    case PT_HTTP_REQUEST_URI_TOO_LARGE:
    case PT_HTTP_REQUEST_HEADER_TOO_LARGE:
    case PT_HTTP_NOT_IMPLEMENTED:
    case PT_HTTP_VERSION_NOT_SUPPORTED:
    case PT_HTTP_INTERNAL_SERVER_ERROR:
    case PT_HTTPS_CERT_ERROR:
    case PT_HTTPS_NO_CERT:
    case PT_HTTP_TO_HTTPS:
        return 1;
    default:
        return 0;
    }
}


/*
 * What the page of a TLS code says under its "400 Bad Request": the codes
 * exist for error_page only, a client is told 400 (as nginx does).
 */
static const char *
pt_http_tls_error_text(pt_int_t error)
{
    switch (error) {
    case PT_HTTPS_CERT_ERROR:
        return "The SSL certificate error";
    case PT_HTTPS_NO_CERT:
        return "No required SSL certificate was sent";
    case PT_HTTP_TO_HTTPS:
        return "The plain HTTP request was sent to HTTPS port";
    default:
        return NULL;
    }
}


/* Serves an error_page: an internal redirect, a named location or a redirect. */
static pt_int_t
pt_http_send_error_page(pt_http_request_t *r, pt_http_err_page_t *err)
{
    u_char          *q;
    pt_str_t         uri, args;
    pt_int_t         overwrite;
    pt_table_elt_t  *location;

    overwrite = err->overwrite;

    if (overwrite >= 0) {
        r->err_status = overwrite;
    }

    if (pt_http_complex_value(r, &err->uri, &uri) != PT_OK) {
        return PT_ERROR;
    }

    if (uri.len && uri.data[0] == '@') {
        return pt_http_named_location(r, &uri);
    }

    if (uri.len && uri.data[0] == '/') {
        pt_str_null(&args);

        q = pt_strlchr(uri.data, uri.data + uri.len, '?');
        if (q) {
            args.data = q + 1;
            args.len = uri.data + uri.len - args.data;
            uri.len = q - uri.data;
        }

        if (r->method != PT_HTTP_HEAD) {
            r->method = PT_HTTP_GET;
            pt_str_set(&r->method_name, "GET");
        }

        return pt_http_internal_redirect(r, &uri, &args);
    }

    /* a full URL: the client is sent there */
    location = pt_list_push(&r->headers_out.headers);
    if (location == NULL) {
        return PT_ERROR;
    }

    location->hash = 1;
    pt_str_set(&location->key, "Location");
    location->value = uri;
    location->next = NULL;
    r->headers_out.location = location;

    if (overwrite != PT_HTTP_MOVED_PERMANENTLY
        && overwrite != PT_HTTP_MOVED_TEMPORARILY
        && overwrite != PT_HTTP_SEE_OTHER
        && overwrite != PT_HTTP_TEMPORARY_REDIRECT
        && overwrite != PT_HTTP_PERMANENT_REDIRECT)
    {
        r->err_status = PT_HTTP_MOVED_TEMPORARILY;
    }

    r->error_page = 1;

    return pt_http_special_response_handler(r, r->err_status);
}


/*
 * Sends the error_page for status error, or the built-in response: an HTML
 * page for 3xx, 4xx and 5xx, an empty body otherwise. Returns what
 * pt_http_finalize_request should be called with next.
 */
pt_int_t
pt_http_special_response_handler(pt_http_request_t *r, pt_int_t error)
{
    int                        n;
    size_t                     len;
    u_char                    *p;
    pt_int_t                   rc;
    pt_buf_t                  *b;
    pt_chain_t                 out;
    const char                *text, *tail, *detail;
    pt_http_core_loc_conf_t   *clcf;

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    /*
     * One error page per request, unless recursive_error_pages lets the
     * page's own errors have theirs; the count of URI changes ends a loop.
     */
    if ((!r->error_page || clcf->recursive_error_pages)
        && clcf->error_pages && r->uri_changes != 0)
    {
        pt_uint_t            i;
        pt_http_err_page_t  *err;

        err = clcf->error_pages->elts;

        for (i = 0; i < clcf->error_pages->nelts; i++) {
            if (err[i].status == error) {
                r->error_page = 1;
                r->err_status = error;

                if (pt_http_closes_connection(error)) {
                    r->keepalive = 0;
                    r->lingering_close = 1;
                }

                (void) pt_http_discard_request_body(r);

                return pt_http_send_error_page(r, &err[i]);
            }
        }
    }

    r->err_status = error;

    if (pt_http_closes_connection(error)) {
        r->keepalive = 0;
        r->lingering_close = 1;
    }

    (void) pt_http_discard_request_body(r);

    detail = pt_http_tls_error_text(error);

    if (detail) {
        error = PT_HTTP_BAD_REQUEST;
        r->err_status = error;
    }

    r->headers_out.status = error;

    /* the request's own headers stay out of an error page */
    r->headers_out.content_length_n = -1;
    r->headers_out.content_length = NULL;
    r->headers_out.last_modified_time = -1;
    r->headers_out.last_modified = NULL;
    r->headers_out.content_type.len = 0;
    r->headers_out.charset.len = 0;

    if (error < PT_HTTP_SPECIAL_RESPONSE || error == PT_HTTP_NOT_MODIFIED) {
        /* 201, 204, 304: no page, just the head */
        if (error != PT_HTTP_NO_CONTENT && error != PT_HTTP_NOT_MODIFIED) {
            r->headers_out.content_length_n = 0;
        }

        r->header_only = 1;
        rc = pt_http_send_header(r);
        return rc == PT_ERROR ? PT_ERROR : PT_OK;
    }

    text = pt_http_status_text(error);

    tail = clcf->server_tokens == PT_HTTP_SERVER_TOKENS_ON
           ? pt_http_error_full_tail : pt_http_error_tail;

    if (detail) {
        /* the title tells the reason, the heading the status */
        len = 2 * strlen(detail) + sizeof("400 ") - 1 + strlen(text)
              + sizeof("<html>\r\n<head><title></title></head>\r\n"
                       "<body>\r\n<center><h1></h1></center>\r\n"
                       "<center></center>\r\n") - 1
              + strlen(tail);
    } else {
        len = 2 * (text ? strlen(text) : 3)
              + sizeof("<html>\r\n<head><title></title></head>\r\n"
                       "<body>\r\n<center><h1></h1></center>\r\n") - 1
              + strlen(tail);
    }

    b = pt_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        return PT_ERROR;
    }

    p = b->last;

    if (detail) {
        n = snprintf((char *) p, len + 1,
                     "<html>\r\n<head><title>400 %s</title></head>\r\n"
                     "<body>\r\n<center><h1>%s</h1></center>\r\n"
                     "<center>%s</center>\r\n%s",
                     detail, text, detail, tail);

    } else if (text == NULL) {
        n = snprintf((char *) p, len + 1,
                     "<html>\r\n<head><title>%03d</title></head>\r\n"
                     "<body>\r\n<center><h1>%03d</h1></center>\r\n%s",
                     (int) (error % 1000), (int) (error % 1000), tail);
    } else {
        n = snprintf((char *) p, len + 1,
                     "<html>\r\n<head><title>%s</title></head>\r\n"
                     "<body>\r\n<center><h1>%s</h1></center>\r\n%s",
                     text, text, tail);
    }

    b->last = p + pt_min((size_t) pt_max(n, 0), len);
    b->last_buf = 1;

    pt_str_set(&r->headers_out.content_type, "text/html");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = pt_http_send_header(r);

    if (rc == PT_ERROR || r->header_only) {
        return rc == PT_ERROR ? PT_ERROR : PT_OK;
    }

    out.buf = b;
    out.next = NULL;

    rc = pt_http_output_filter(r, &out);

    return rc == PT_ERROR ? PT_ERROR : PT_OK;
}


/*
 * Sends a complete response with a body from memory (ct may be NULL for
 * the location's default_type).
 */
pt_int_t
pt_http_send_response(pt_http_request_t *r, pt_uint_t status, pt_str_t *ct,
    pt_str_t *body)
{
    pt_int_t                   rc;
    pt_buf_t                  *b;
    pt_chain_t                 out;
    pt_http_core_loc_conf_t   *clcf;

    if (pt_http_discard_request_body(r) == PT_HTTP_BAD_REQUEST) {
        /*
         * a broken chunked body: the request is answered as such and the
         * connection closed; no error_page, whose internal redirect the
         * caller could not follow from here
         */
        r->error_page = 1;
        return pt_http_special_response_handler(r, PT_HTTP_BAD_REQUEST);
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = body ? (off_t) body->len : 0;

    if (ct) {
        r->headers_out.content_type = *ct;
    } else {
        clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);
        r->headers_out.content_type = clcf->default_type;
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;

    if (status == PT_HTTP_NO_CONTENT || status == PT_HTTP_NOT_MODIFIED) {
        r->headers_out.content_length_n = -1;
        r->headers_out.content_type.len = 0;
        r->header_only = 1;
    }

    rc = pt_http_send_header(r);

    if (rc == PT_ERROR || r->header_only) {
        return rc == PT_ERROR ? PT_ERROR : PT_OK;
    }

    b = pt_calloc_buf(r->pool);
    if (b == NULL) {
        return PT_ERROR;
    }

    if (body && body->len) {
        b->pos = body->data;
        b->last = body->data + body->len;
        b->memory = 1;
    }

    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    rc = pt_http_output_filter(r, &out);

    return rc == PT_ERROR ? PT_ERROR : PT_OK;
}
