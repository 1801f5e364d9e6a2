/*
 * The not-modified filter: evaluates the preconditions of a request
 * against a 200 response's validators (ETag, Last-Modified), in the order
 * of RFC 9110 section 13.2.2:
 *
 *   1. If-Match (strong comparison), else 2. If-Unmodified-Since:
 *      when false, 412;
 *   3. If-None-Match (weak comparison), else 4. If-Modified-Since (GET and
 *      HEAD only, as "if_modified_since" says): when false, 304 for GET
 *      and HEAD, 412 for other methods;
 *   5. If-Range is the range filter's.
 *
 * It turns the response into the 304 or 412 itself and passes the head
 * on without a body, so every content handler gets conditional requests
 * right by honouring r->header_only.
 */
#include "pt_http.h"


#define PT_HTTP_IMS_OFF     0
#define PT_HTTP_IMS_EXACT   1
#define PT_HTTP_IMS_BEFORE  2


typedef struct {
    pt_uint_t    if_modified_since;     /* PT_HTTP_IMS_* */
} pt_http_not_modified_loc_conf_t;


static pt_uint_t pt_http_not_modified_etag_match(pt_http_request_t *r,
    pt_str_t *value, pt_uint_t weak);
static pt_int_t pt_http_not_modified_reply(pt_http_request_t *r,
    pt_uint_t status);
static void *pt_http_not_modified_create_loc_conf(pt_conf_t *cf);
static char *pt_http_not_modified_merge_loc_conf(pt_conf_t *cf,
    void *parent, void *child);
static pt_int_t pt_http_not_modified_filter_init(pt_conf_t *cf);


static pt_conf_enum_t  pt_http_not_modified_ims[] = {
    { pt_string("off"), PT_HTTP_IMS_OFF },
    { pt_string("exact"), PT_HTTP_IMS_EXACT },
    { pt_string("before"), PT_HTTP_IMS_BEFORE },
    { pt_null_string, 0 }
};


static pt_command_t  pt_http_not_modified_filter_commands[] = {

    { pt_string("if_modified_since"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_enum_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_not_modified_loc_conf_t, if_modified_since),
      &pt_http_not_modified_ims },

    pt_null_command
};


static pt_http_module_t  pt_http_not_modified_filter_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_not_modified_filter_init,       /* postconfiguration */
    NULL,                                   /* create main configuration */
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    pt_http_not_modified_create_loc_conf,
    pt_http_not_modified_merge_loc_conf
};


pt_module_t  pt_http_not_modified_filter_module = {
    .ctx = &pt_http_not_modified_filter_module_ctx,
    .commands = pt_http_not_modified_filter_commands,
    .type = PT_HTTP_MODULE,
};


static pt_http_output_header_filter_pt  pt_http_next_header_filter;


static pt_int_t
pt_http_not_modified_header_filter(pt_http_request_t *r)
{
    time_t                            t, lm;
    pt_uint_t                         safe;
    pt_table_elt_t                   *h;
    pt_http_not_modified_loc_conf_t  *nlcf;

    if (r->headers_out.status != PT_HTTP_OK || r != r->main
        || r->disable_not_modified)
    {
        return pt_http_next_header_filter(r);
    }

    lm = r->headers_out.last_modified_time;
    safe = (r->method & (PT_HTTP_GET | PT_HTTP_HEAD)) ? 1 : 0;

    /* 1 and 2: may the request go ahead at all? */

    h = r->headers_in.if_match;

    if (h) {
        if (!pt_http_not_modified_etag_match(r, &h->value, 0)) {
            return pt_http_not_modified_reply(r,
                                              PT_HTTP_PRECONDITION_FAILED);
        }

    } else if (r->headers_in.if_unmodified_since && lm != -1) {
        h = r->headers_in.if_unmodified_since;

        /* an invalid date is ignored (RFC 9110 13.1.4) */
        t = pt_parse_http_time(h->value.data, h->value.len);

        if (t != PT_ERROR && lm > t) {
            return pt_http_not_modified_reply(r,
                                              PT_HTTP_PRECONDITION_FAILED);
        }
    }

    /* 3 and 4: does the client have it already? */

    h = r->headers_in.if_none_match;

    if (h) {
        if (pt_http_not_modified_etag_match(r, &h->value, 1)) {
            return pt_http_not_modified_reply(r, safe
                                              ? PT_HTTP_NOT_MODIFIED
                                              : PT_HTTP_PRECONDITION_FAILED);
        }

        return pt_http_next_header_filter(r);
    }

    h = r->headers_in.if_modified_since;

    if (h == NULL || !safe || lm == -1) {
        return pt_http_next_header_filter(r);
    }

    nlcf = pt_http_get_module_loc_conf(r, pt_http_not_modified_filter_module);

    if (nlcf->if_modified_since == PT_HTTP_IMS_OFF) {
        return pt_http_next_header_filter(r);
    }

    t = pt_parse_http_time(h->value.data, h->value.len);

    if (t == PT_ERROR) {
        return pt_http_next_header_filter(r);
    }

    if (t == lm
        || (nlcf->if_modified_since == PT_HTTP_IMS_BEFORE && lm <= t))
    {
        return pt_http_not_modified_reply(r, PT_HTTP_NOT_MODIFIED);
    }

    return pt_http_next_header_filter(r);
}


/*
 * Does the list of entity tags in value (or "*") match the response's
 * ETag? weak: the weak comparison of RFC 9110 8.8.3.2 (W/"x" matches "x"),
 * else the strong one (both strong and equal). A malformed list matches
 * nothing.
 */
static pt_uint_t
pt_http_not_modified_etag_match(pt_http_request_t *r, pt_str_t *value,
    pt_uint_t weak)
{
    u_char          *p, *last, *start;
    size_t           len;
    pt_str_t         etag;
    pt_uint_t        etag_weak, tag_weak;
    pt_table_elt_t  *h;

    p = value->data;
    last = p + value->len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p < last && *p == '*') {
        /* any current representation: a 200 has one */
        for (p++; p < last && (*p == ' ' || *p == '\t'); p++) { /* void */ }

        return p == last;
    }

    h = r->headers_out.etag;

    if (h == NULL || h->hash == 0) {
        return 0;
    }

    etag = h->value;
    etag_weak = 0;

    if (etag.len > 2 && etag.data[0] == 'W' && etag.data[1] == '/') {
        etag_weak = 1;
        etag.data += 2;
        etag.len -= 2;
    }

    if (etag_weak && !weak) {
        return 0;
    }

    for ( ;; ) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        if (p == last) {
            return 0;
        }

        tag_weak = 0;

        if (last - p > 2 && p[0] == 'W' && p[1] == '/') {
            tag_weak = 1;
            p += 2;
        }

        if (*p != '"') {
            return 0;
        }

        start = p++;

        while (p < last && *p != '"') {
            p++;
        }

        if (p == last) {
            return 0;
        }

        p++;
        len = p - start;

        if ((weak || !tag_weak) && len == etag.len
            && pt_memcmp(start, etag.data, len) == 0)
        {
            return 1;
        }

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p < last && *p != ',') {
            return 0;
        }
    }
}


/* The response becomes a bodiless 304 or 412. */
static pt_int_t
pt_http_not_modified_reply(pt_http_request_t *r, pt_uint_t status)
{
    r->headers_out.status = status;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_type.len = 0;
    r->headers_out.content_type_len = 0;
    r->headers_out.charset.len = 0;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (r->headers_out.accept_ranges) {
        r->headers_out.accept_ranges->hash = 0;
        r->headers_out.accept_ranges = NULL;
    }

    if (status == PT_HTTP_NOT_MODIFIED) {
        /* 304 keeps ETag and Last-Modified: they update the cache */
        r->headers_out.content_length_n = -1;

    } else {
        r->headers_out.content_length_n = 0;
        r->headers_out.last_modified_time = -1;

        if (r->headers_out.last_modified) {
            r->headers_out.last_modified->hash = 0;
            r->headers_out.last_modified = NULL;
        }
    }

    r->header_only = 1;

    return pt_http_next_header_filter(r);
}


static void *
pt_http_not_modified_create_loc_conf(pt_conf_t *cf)
{
    pt_http_not_modified_loc_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_not_modified_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->if_modified_since = PT_CONF_UNSET_UINT;

    return conf;
}


static char *
pt_http_not_modified_merge_loc_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_not_modified_loc_conf_t  *prev = parent;
    pt_http_not_modified_loc_conf_t  *conf = child;

    pt_conf_merge_uint_value(conf->if_modified_since,
                             prev->if_modified_since, PT_HTTP_IMS_EXACT);

    return PT_CONF_OK;
}


static pt_int_t
pt_http_not_modified_filter_init(pt_conf_t *cf)
{
    pt_http_next_header_filter = pt_http_top_header_filter;
    pt_http_top_header_filter = pt_http_not_modified_header_filter;

    return PT_OK;
}
