/*
 * The range filter: byte ranges (RFC 9110 section 14) of 200 responses
 * whose length is known and whose content handler declared
 * "Accept-Ranges: bytes" (the static module does).
 *
 * One satisfiable range makes a 206 with Content-Range, cut out of the
 * body as it streams by; several make a multipart/byteranges body, the
 * parts in the order asked, cut out of a body that must come in one
 * buffer (a file buffer, from the static module). None satisfiable makes
 * a bodiless 416 with "Content-Range: bytes *\/LENGTH". An invalid Range
 * header, more ranges than max_ranges, ranges adding up to more than the
 * whole, or an If-Range that does not match give the whole 200 instead.
 */
#include "pt_http.h"


typedef struct {
    off_t        start;
    off_t        end;               /* exclusive */
    pt_str_t     header;            /* of its part, when multipart */
} pt_http_range_t;

typedef struct {
    off_t        offset;            /* of the next body byte to come */
    off_t        length;            /* of the whole representation */
    pt_array_t   ranges;            /* of pt_http_range_t */
    pt_str_t     trailer;           /* the closing boundary, multipart */
    unsigned     done:1;            /* the last byte of the last range sent */
} pt_http_range_ctx_t;

typedef struct {
    pt_int_t     max_ranges;
} pt_http_range_loc_conf_t;


static pt_int_t pt_http_range_parse(pt_http_request_t *r,
    pt_http_range_ctx_t *ctx, pt_str_t *value, pt_uint_t max);
static pt_uint_t pt_http_range_if_range(pt_http_request_t *r);
static pt_int_t pt_http_range_not_satisfiable(pt_http_request_t *r,
    off_t length);
static pt_int_t pt_http_range_singlepart_header(pt_http_request_t *r,
    pt_http_range_ctx_t *ctx);
static pt_int_t pt_http_range_multipart_header(pt_http_request_t *r,
    pt_http_range_ctx_t *ctx);
static pt_table_elt_t *pt_http_range_content_range(pt_http_request_t *r);
static pt_int_t pt_http_range_singlepart_body(pt_http_request_t *r,
    pt_http_range_ctx_t *ctx, pt_chain_t *in);
static pt_int_t pt_http_range_multipart_body(pt_http_request_t *r,
    pt_http_range_ctx_t *ctx, pt_chain_t *in);
static void pt_http_range_consume(pt_buf_t *b);
static void *pt_http_range_create_loc_conf(pt_conf_t *cf);
static char *pt_http_range_merge_loc_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_range_filter_init(pt_conf_t *cf);


static pt_command_t  pt_http_range_filter_commands[] = {

    { pt_string("max_ranges"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_num_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_range_loc_conf_t, max_ranges),
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_range_filter_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_range_filter_init,              /* postconfiguration */
    NULL,                                   /* create main configuration */
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    pt_http_range_create_loc_conf,
    pt_http_range_merge_loc_conf
};


pt_module_t  pt_http_range_filter_module = {
    .ctx = &pt_http_range_filter_module_ctx,
    .commands = pt_http_range_filter_commands,
    .type = PT_HTTP_MODULE,
};


static pt_http_output_header_filter_pt  pt_http_next_header_filter;
static pt_http_output_body_filter_pt    pt_http_next_body_filter;

/* multipart boundaries: unpredictable enough, and never twice the same */
static uint64_t  pt_http_range_boundary;


static pt_int_t
pt_http_range_header_filter(pt_http_request_t *r)
{
    pt_int_t                   rc;
    pt_str_t                  *value;
    pt_http_range_ctx_t       *ctx;
    pt_http_range_loc_conf_t  *rlcf;

    if (r->http_version < PT_HTTP_VERSION_10
        || r->headers_out.status != PT_HTTP_OK
        || r != r->main
        || r->headers_out.content_length_n < 0
        || r->headers_out.accept_ranges == NULL
        || r->headers_out.accept_ranges->hash == 0)
    {
        return pt_http_next_header_filter(r);
    }

    rlcf = pt_http_get_module_loc_conf(r, pt_http_range_filter_module);

    if (rlcf->max_ranges == 0) {
        /* ranges are off here: do not advertise them */
        r->headers_out.accept_ranges->hash = 0;
        r->headers_out.accept_ranges = NULL;
        return pt_http_next_header_filter(r);
    }

    if (r->headers_in.range == NULL || r->headers_in.range->next) {
        /* none, or several Range fields: no valid request for ranges */
        return pt_http_next_header_filter(r);
    }

    value = &r->headers_in.range->value;

    if (value->len < 7
        || pt_strncasecmp(value->data, (u_char *) "bytes=", 6) != 0)
    {
        /* a unit we do not know is ignored (RFC 9110 14.2) */
        return pt_http_next_header_filter(r);
    }

    if (r->headers_in.if_range && !pt_http_range_if_range(r)) {
        return pt_http_next_header_filter(r);
    }

    ctx = pt_pcalloc(r->pool, sizeof(pt_http_range_ctx_t));
    if (ctx == NULL) {
        return PT_ERROR;
    }

    if (pt_array_init(&ctx->ranges, r->pool, 1, sizeof(pt_http_range_t))
        != PT_OK)
    {
        return PT_ERROR;
    }

    ctx->length = r->headers_out.content_length_n;

    rc = pt_http_range_parse(r, ctx, value, rlcf->max_ranges);

    if (rc == PT_DECLINED) {
        return pt_http_next_header_filter(r);
    }

    if (rc == PT_HTTP_RANGE_NOT_SATISFIABLE) {
        return pt_http_range_not_satisfiable(r, ctx->length);
    }

    if (rc != PT_OK) {
        return PT_ERROR;
    }

    pt_http_set_ctx(r, ctx, pt_http_range_filter_module);

    r->headers_out.status = PT_HTTP_PARTIAL_CONTENT;
    r->headers_out.status_line.len = 0;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (ctx->ranges.nelts == 1) {
        return pt_http_range_singlepart_header(r, ctx);
    }

    return pt_http_range_multipart_header(r, ctx);
}


/*
 * If-Range (RFC 9110 13.1.5): an entity tag must equal the response's
 * strong ETag; a date must equal its Last-Modified exactly.
 */
static pt_uint_t
pt_http_range_if_range(pt_http_request_t *r)
{
    time_t           t;
    pt_str_t        *value;
    pt_table_elt_t  *etag;

    value = &r->headers_in.if_range->value;

    if (value->len >= 2 && value->data[value->len - 1] == '"') {
        etag = r->headers_out.etag;

        if (etag == NULL || etag->hash == 0 || value->data[0] != '"') {
            /* a weak tag (W/"...") never matches */
            return 0;
        }

        return pt_str_eq(value, &etag->value);
    }

    if (r->headers_out.last_modified_time == -1) {
        return 0;
    }

    t = pt_parse_http_time(value->data, value->len);

    return t != PT_ERROR && t == r->headers_out.last_modified_time;
}


/* Skips optional whitespace. */
static u_char *
pt_http_range_ows(u_char *p, u_char *last)
{
    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/* Reads digits into *n; NULL when there are none or they overflow. */
static u_char *
pt_http_range_number(u_char *p, u_char *last, off_t *n)
{
    off_t   v;
    u_char  *start;

    v = 0;
    start = p;

    while (p < last && *p >= '0' && *p <= '9') {
        if (v > (PT_MAX_OFF_T_VALUE - (*p - '0')) / 10) {
            return NULL;
        }

        v = v * 10 + (*p++ - '0');
    }

    if (p == start) {
        return NULL;
    }

    *n = v;

    return p;
}


/*
 * Parses "bytes=" range-set into ctx->ranges (satisfiable ones only).
 * Returns PT_OK, PT_DECLINED when the whole response should be sent (an
 * invalid header, too many ranges, ranges larger than the whole),
 * PT_HTTP_RANGE_NOT_SATISFIABLE, or PT_ERROR.
 */
static pt_int_t
pt_http_range_parse(pt_http_request_t *r, pt_http_range_ctx_t *ctx,
    pt_str_t *value, pt_uint_t max)
{
    off_t             start, end, length, size;
    u_char           *p, *last;
    pt_uint_t         specs;
    pt_http_range_t  *range;

    p = value->data + 6;
    last = value->data + value->len;
    length = ctx->length;
    size = 0;
    specs = 0;

    for ( ;; ) {
        /* empty list elements are allowed (RFC 9110 5.6.1) */
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        if (p == last) {
            break;
        }

        specs++;

        if (*p == '-') {
            /* the last N bytes */
            p = pt_http_range_number(p + 1, last, &end);
            if (p == NULL) {
                return PT_DECLINED;
            }

            start = (end < length) ? length - end : 0;
            end = (end > 0) ? length : 0;

        } else {
            p = pt_http_range_number(p, last, &start);
            if (p == NULL) {
                return PT_DECLINED;
            }

            p = pt_http_range_ows(p, last);

            if (p == last || *p++ != '-') {
                return PT_DECLINED;
            }

            p = pt_http_range_ows(p, last);

            if (p < last && *p >= '0' && *p <= '9') {
                p = pt_http_range_number(p, last, &end);
                if (p == NULL) {
                    return PT_DECLINED;
                }

                if (end < start) {
                    /* an invalid range-spec invalidates the header */
                    return PT_DECLINED;
                }

                end = (end < length) ? end + 1 : length;

            } else {
                end = length;
            }
        }

        p = pt_http_range_ows(p, last);

        if (p < last && *p != ',') {
            return PT_DECLINED;
        }

        if (start >= end) {
            /* unsatisfiable: left out */
            continue;
        }

        if (ctx->ranges.nelts >= max) {
            return PT_DECLINED;
        }

        range = pt_array_push(&ctx->ranges);
        if (range == NULL) {
            return PT_ERROR;
        }

        range->start = start;
        range->end = end;
        range->header.len = 0;

        size += end - start;
    }

    if (specs == 0) {
        return PT_DECLINED;
    }

    if (ctx->ranges.nelts == 0) {
        /* nginx: an empty representation is simply sent */
        return length ? PT_HTTP_RANGE_NOT_SATISFIABLE : PT_DECLINED;
    }

    if (size > length) {
        /* overlapping ranges asking for more than the whole */
        return PT_DECLINED;
    }

    return PT_OK;
}


static pt_table_elt_t *
pt_http_range_content_range(pt_http_request_t *r)
{
    pt_table_elt_t  *h;

    h = r->headers_out.content_range;

    if (h == NULL || h->hash == 0) {
        h = pt_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NULL;
        }

        r->headers_out.content_range = h;
    }

    h->hash = 1;
    h->next = NULL;
    pt_str_set(&h->key, "Content-Range");

    return h;
}


/* The response becomes a bodiless 416 that names the length. */
static pt_int_t
pt_http_range_not_satisfiable(pt_http_request_t *r, off_t length)
{
    int              n;
    u_char          *p;
    pt_table_elt_t  *h;

    h = pt_http_range_content_range(r);
    p = pt_pnalloc(r->pool, sizeof("bytes */") + PT_INT_T_LEN);
    if (h == NULL || p == NULL) {
        return PT_ERROR;
    }

    n = snprintf((char *) p, sizeof("bytes */") + PT_INT_T_LEN,
                 "bytes */%lld", (long long) length);

    h->value.data = p;
    h->value.len = n;

    r->headers_out.status = PT_HTTP_RANGE_NOT_SATISFIABLE;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_type.len = 0;
    r->headers_out.content_type_len = 0;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length_n = 0;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    r->header_only = 1;

    return pt_http_next_header_filter(r);
}


static pt_int_t
pt_http_range_singlepart_header(pt_http_request_t *r,
    pt_http_range_ctx_t *ctx)
{
    int               n;
    u_char           *p;
    size_t            len;
    pt_table_elt_t   *h;
    pt_http_range_t  *range;

    range = ctx->ranges.elts;

    len = sizeof("bytes --/") + 3 * PT_INT_T_LEN;

    h = pt_http_range_content_range(r);
    p = pt_pnalloc(r->pool, len);
    if (h == NULL || p == NULL) {
        return PT_ERROR;
    }

    n = snprintf((char *) p, len, "bytes %lld-%lld/%lld",
                 (long long) range->start, (long long) range->end - 1,
                 (long long) ctx->length);

    h->value.data = p;
    h->value.len = n;

    r->headers_out.content_length_n = range->end - range->start;

    return pt_http_next_header_filter(r);
}


static pt_int_t
pt_http_range_multipart_header(pt_http_request_t *r,
    pt_http_range_ctx_t *ctx)
{
    int               n;
    u_char           *p;
    off_t             total;
    size_t            len;
    pt_str_t          type;
    pt_uint_t         i;
    pt_http_range_t  *range;
    char              boundary[sizeof("0123456789abcdef")];

    pt_http_range_boundary += (uint64_t) pt_current_msec * 2654435761u
                              + (uint64_t) getpid() + 1;

    snprintf(boundary, sizeof(boundary), "%016llx",
             (unsigned long long) pt_http_range_boundary);

    /* each part says the type of the whole: with its charset, if any */

    type = r->headers_out.content_type;

    if (type.len && r->headers_out.charset.len
        && r->headers_out.content_type_len == type.len)
    {
        len = type.len + sizeof("; charset=") - 1
              + r->headers_out.charset.len;

        p = pt_pnalloc(r->pool, len);
        if (p == NULL) {
            return PT_ERROR;
        }

        type.data = p;
        p = pt_cpymem(p, r->headers_out.content_type.data,
                      r->headers_out.content_type.len);
        p = pt_cpymem(p, "; charset=", sizeof("; charset=") - 1);
        pt_memcpy(p, r->headers_out.charset.data, r->headers_out.charset.len);
        type.len = len;
    }

    range = ctx->ranges.elts;
    total = 0;

    for (i = 0; i < ctx->ranges.nelts; i++) {
        len = sizeof(PT_CRLF "--" PT_CRLF "Content-Type: " PT_CRLF
                     "Content-Range: bytes -/" PT_CRLF PT_CRLF) - 1
              + sizeof(boundary) - 1 + type.len + 3 * PT_INT_T_LEN;

        p = pt_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            return PT_ERROR;
        }

        if (type.len) {
            n = snprintf((char *) p, len + 1,
                         PT_CRLF "--%s" PT_CRLF
                         "Content-Type: %.*s" PT_CRLF
                         "Content-Range: bytes %lld-%lld/%lld" PT_CRLF PT_CRLF,
                         boundary, PT_STR_ARG(type),
                         (long long) range[i].start,
                         (long long) range[i].end - 1,
                         (long long) ctx->length);
        } else {
            n = snprintf((char *) p, len + 1,
                         PT_CRLF "--%s" PT_CRLF
                         "Content-Range: bytes %lld-%lld/%lld" PT_CRLF PT_CRLF,
                         boundary, (long long) range[i].start,
                         (long long) range[i].end - 1,
                         (long long) ctx->length);
        }

        range[i].header.data = p;
        range[i].header.len = n;

        total += n + (range[i].end - range[i].start);
    }

    len = sizeof(PT_CRLF "--" "--" PT_CRLF) - 1 + sizeof(boundary) - 1;

    ctx->trailer.data = pt_pnalloc(r->pool, len + 1);
    if (ctx->trailer.data == NULL) {
        return PT_ERROR;
    }

    ctx->trailer.len = snprintf((char *) ctx->trailer.data, len + 1,
                                PT_CRLF "--%s--" PT_CRLF, boundary);

    total += ctx->trailer.len;

    len = sizeof("multipart/byteranges; boundary=") - 1 + sizeof(boundary) - 1;

    p = pt_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return PT_ERROR;
    }

    r->headers_out.content_type.data = p;
    r->headers_out.content_type.len = snprintf((char *) p, len + 1,
                                      "multipart/byteranges; boundary=%s",
                                      boundary);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.charset.len = 0;

    r->headers_out.content_length_n = total;

    return pt_http_next_header_filter(r);
}


static pt_int_t
pt_http_range_body_filter(pt_http_request_t *r, pt_chain_t *in)
{
    pt_chain_t           *cl;
    pt_http_range_ctx_t  *ctx;

    ctx = pt_http_get_module_ctx(r, pt_http_range_filter_module);

    if (ctx == NULL || in == NULL) {
        return pt_http_next_body_filter(r, in);
    }

    if (ctx->done) {
        /* all of the ranges went: the rest is not wanted */
        for (cl = in; cl; cl = cl->next) {
            pt_http_range_consume(cl->buf);
        }

        return pt_http_next_body_filter(r, NULL);
    }

    if (ctx->ranges.nelts == 1) {
        return pt_http_range_singlepart_body(r, ctx, in);
    }

    return pt_http_range_multipart_body(r, ctx, in);
}


/* Passes on what of the body as it streams by lies within the range. */
static pt_int_t
pt_http_range_singlepart_body(pt_http_request_t *r, pt_http_range_ctx_t *ctx,
    pt_chain_t *in)
{
    off_t             start, last, size;
    pt_buf_t         *b;
    pt_chain_t       *out, **ll, *cl, *tl;
    pt_http_range_t  *range;

    range = ctx->ranges.elts;

    out = NULL;
    ll = &out;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        size = pt_buf_special(b) ? 0 : pt_buf_size(b);
        start = ctx->offset;
        last = start + size;
        ctx->offset = last;

        if (size == 0 || range->end <= start || range->start >= last) {
            if (!b->flush && !b->last_buf) {
                pt_http_range_consume(b);
                continue;
            }

            /*
             * keep a flush, and the end of a body that ended before the
             * range did (the response ends short, rather than never)
             */
            tl = pt_alloc_chain_link(r->pool);
            if (tl == NULL) {
                return PT_ERROR;
            }

            if (b->last_buf) {
                pt_http_range_consume(b);
                b->last_buf = (r == r->main) ? 1 : 0;
                ctx->done = 1;

            } else {
                pt_http_range_consume(b);
            }

            tl->buf = b;
            *ll = tl;
            ll = &tl->next;

            if (ctx->done) {
                for (cl = cl->next; cl; cl = cl->next) {
                    pt_http_range_consume(cl->buf);
                }

                break;
            }

            continue;
        }

        if (range->start > start) {
            if (pt_buf_in_memory(b)) {
                b->pos += range->start - start;
            }

            if (b->in_file) {
                b->file_pos += range->start - start;
            }
        }

        tl = pt_alloc_chain_link(r->pool);
        if (tl == NULL) {
            return PT_ERROR;
        }

        tl->buf = b;
        *ll = tl;
        ll = &tl->next;

        if (range->end <= last) {
            if (pt_buf_in_memory(b)) {
                b->last -= last - range->end;
            }

            if (b->in_file) {
                b->file_last -= last - range->end;
            }

            b->last_buf = (r == r->main) ? 1 : 0;
            b->last_in_chain = 1;
            ctx->done = 1;

            for (cl = cl->next; cl; cl = cl->next) {
                pt_http_range_consume(cl->buf);
            }

            break;
        }

        b->last_buf = 0;
    }

    *ll = NULL;

    return pt_http_next_body_filter(r, out);
}


/*
 * Builds the multipart body out of the whole body, which must be in the
 * first buffer: the parts refer to it, nothing is copied.
 */
static pt_int_t
pt_http_range_multipart_body(pt_http_request_t *r, pt_http_range_ctx_t *ctx,
    pt_chain_t *in)
{
    pt_buf_t         *b, *buf, *whole;
    pt_uint_t         i;
    pt_chain_t       *out, **ll, *cl;
    pt_http_range_t  *range;

    whole = in->buf;

    if (pt_buf_special(whole) || pt_buf_size(whole) != ctx->length) {
        pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                     "multipart ranges of a body not in one buffer");
        return PT_ERROR;
    }

    out = NULL;
    ll = &out;
    range = ctx->ranges.elts;

    for (i = 0; i < ctx->ranges.nelts; i++) {

        /* the part's head */

        b = pt_calloc_buf(r->pool);
        cl = pt_alloc_chain_link(r->pool);
        if (b == NULL || cl == NULL) {
            return PT_ERROR;
        }

        b->memory = 1;
        b->pos = range[i].header.data;
        b->last = range[i].header.data + range[i].header.len;

        cl->buf = b;
        *ll = cl;
        ll = &cl->next;

        /* its bytes: a view of the whole */

        buf = pt_calloc_buf(r->pool);
        cl = pt_alloc_chain_link(r->pool);
        if (buf == NULL || cl == NULL) {
            return PT_ERROR;
        }

        buf->temporary = whole->temporary;
        buf->memory = whole->memory;
        buf->mmap = whole->mmap;
        buf->in_file = whole->in_file;
        buf->file = whole->file;

        if (pt_buf_in_memory(whole)) {
            buf->start = whole->pos;
            buf->end = whole->last;
            buf->pos = whole->pos + range[i].start;
            buf->last = whole->pos + range[i].end;
        }

        if (whole->in_file) {
            buf->file_pos = whole->file_pos + range[i].start;
            buf->file_last = whole->file_pos + range[i].end;
        }

        cl->buf = buf;
        *ll = cl;
        ll = &cl->next;
    }

    /* the closing boundary */

    b = pt_calloc_buf(r->pool);
    cl = pt_alloc_chain_link(r->pool);
    if (b == NULL || cl == NULL) {
        return PT_ERROR;
    }

    b->memory = 1;
    b->pos = ctx->trailer.data;
    b->last = ctx->trailer.data + ctx->trailer.len;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    cl->buf = b;
    cl->next = NULL;
    *ll = cl;

    for (cl = in; cl; cl = cl->next) {
        pt_http_range_consume(cl->buf);
    }

    ctx->done = 1;

    return pt_http_next_body_filter(r, out);
}


/* Marks a buffer as sent, so that whoever owns it may reuse it. */
static void
pt_http_range_consume(pt_buf_t *b)
{
    if (pt_buf_in_memory(b)) {
        b->pos = b->last;
    }

    if (b->in_file) {
        b->file_pos = b->file_last;
    }

    b->last_buf = 0;
}


static void *
pt_http_range_create_loc_conf(pt_conf_t *cf)
{
    pt_http_range_loc_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_range_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->max_ranges = PT_CONF_UNSET;

    return conf;
}


static char *
pt_http_range_merge_loc_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_range_loc_conf_t  *prev = parent;
    pt_http_range_loc_conf_t  *conf = child;

    pt_conf_merge_value(conf->max_ranges, prev->max_ranges, INT32_MAX);

    return PT_CONF_OK;
}


static pt_int_t
pt_http_range_filter_init(pt_conf_t *cf)
{
    pt_http_next_header_filter = pt_http_top_header_filter;
    pt_http_top_header_filter = pt_http_range_header_filter;

    pt_http_next_body_filter = pt_http_top_body_filter;
    pt_http_top_body_filter = pt_http_range_body_filter;

    return PT_OK;
}
