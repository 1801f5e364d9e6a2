/*
 * Accept-Encoding (RFC 9110 12.5.3) and what the modules that change a
 * response's content coding share: gzip, brotli, gzip_static and gunzip.
 *
 * The weight a client gives a coding comes from its own entries, else
 * from "*", across all the request's Accept-Encoding fields.
 *
 * As in nginx, the directives that decide whether a client may be sent
 * gzip at all (gzip_http_version, gzip_proxied, gzip_disable) and whether
 * caches are told the response varies (gzip_vary) belong to none of those
 * modules: this one holds them, so gzip_static and gunzip honour them
 * even in a build without the gzip filter.
 */
#include "pt_http.h"


#define PT_HTTP_GZIP_PROXIED_OFF              0x0002
#define PT_HTTP_GZIP_PROXIED_EXPIRED          0x0004
#define PT_HTTP_GZIP_PROXIED_NO_CACHE         0x0008
#define PT_HTTP_GZIP_PROXIED_NO_STORE         0x0010
#define PT_HTTP_GZIP_PROXIED_PRIVATE          0x0020
#define PT_HTTP_GZIP_PROXIED_NO_LM            0x0040
#define PT_HTTP_GZIP_PROXIED_NO_ETAG          0x0080
#define PT_HTTP_GZIP_PROXIED_AUTH             0x0100
#define PT_HTTP_GZIP_PROXIED_ANY              0x0200


typedef struct {
    pt_flag_t        vary;
    pt_uint_t        proxied;
    pt_uint_t        http_version;
    pt_array_t      *disable;       /* of pt_regex_t * */
} pt_http_accept_encoding_conf_t;


static void *pt_http_accept_encoding_create_conf(pt_conf_t *cf);
static char *pt_http_accept_encoding_merge_conf(pt_conf_t *cf, void *parent,
    void *child);
static char *pt_http_gzip_disable(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);


static pt_conf_enum_t  pt_http_gzip_http_version[] = {
    { pt_string("1.0"), PT_HTTP_VERSION_10 },
    { pt_string("1.1"), PT_HTTP_VERSION_11 },
    { pt_null_string, 0 }
};

static pt_conf_bitmask_t  pt_http_gzip_proxied_mask[] = {
    { pt_string("off"), PT_HTTP_GZIP_PROXIED_OFF },
    { pt_string("expired"), PT_HTTP_GZIP_PROXIED_EXPIRED },
    { pt_string("no-cache"), PT_HTTP_GZIP_PROXIED_NO_CACHE },
    { pt_string("no-store"), PT_HTTP_GZIP_PROXIED_NO_STORE },
    { pt_string("private"), PT_HTTP_GZIP_PROXIED_PRIVATE },
    { pt_string("no_last_modified"), PT_HTTP_GZIP_PROXIED_NO_LM },
    { pt_string("no_etag"), PT_HTTP_GZIP_PROXIED_NO_ETAG },
    { pt_string("auth"), PT_HTTP_GZIP_PROXIED_AUTH },
    { pt_string("any"), PT_HTTP_GZIP_PROXIED_ANY },
    { pt_null_string, 0 }
};


static pt_command_t  pt_http_accept_encoding_commands[] = {

    { pt_string("gzip_vary"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_accept_encoding_conf_t, vary),
      NULL },

    { pt_string("gzip_proxied"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_conf_set_bitmask_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_accept_encoding_conf_t, proxied),
      &pt_http_gzip_proxied_mask },

    { pt_string("gzip_http_version"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_enum_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_accept_encoding_conf_t, http_version),
      &pt_http_gzip_http_version },

    { pt_string("gzip_disable"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_http_gzip_disable,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_accept_encoding_module_ctx = {
    NULL,                                   /* preconfiguration */
    NULL,                                   /* postconfiguration */
    NULL, NULL, NULL, NULL,
    pt_http_accept_encoding_create_conf,
    pt_http_accept_encoding_merge_conf
};


pt_module_t  pt_http_accept_encoding_module = {
    .ctx = &pt_http_accept_encoding_module_ctx,
    .commands = pt_http_accept_encoding_commands,
    .type = PT_HTTP_MODULE,
};


/* RFC 9110 tchar */
static pt_uint_t
pt_http_tchar(u_char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~':
        return 1;
    }

    return 0;
}


/*
 * A qvalue, "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")], in thousandths;
 * -1 when [p, last) is not one.
 */
static pt_int_t
pt_http_parse_qvalue(const u_char *p, const u_char *last)
{
    pt_int_t   q, scale;

    if (p == last || last - p > 5) {
        return -1;
    }

    if (*p == '1') {
        q = 1000;

    } else if (*p == '0') {
        q = 0;

    } else {
        return -1;
    }

    if (++p == last) {
        return q;
    }

    if (*p++ != '.') {
        return -1;
    }

    for (scale = 100; p < last; p++, scale /= 10) {
        if (*p < '0' || *p > '9' || (q == 1000 && *p != '0')) {
            return -1;
        }

        q += (*p - '0') * scale;
    }

    return q;
}


#define pt_http_ows(p, last)                                                 \
    while ((p) < (last) && (*(p) == ' ' || *(p) == '\t')) {                  \
        (p)++;                                                               \
    }


/*
 * Adds what one field value says about coding to *own (the lowest weight
 * among the coding's own entries, -1 while none) and *star (the same for
 * "*"). An entry whose name is not a token is skipped. An entry for the
 * coding with a malformed weight or parameters counts as q=0: not sending
 * a coding is the safe reading of a list we do not understand.
 */
static void
pt_http_accept_encoding_scan(const pt_str_t *value, const char *coding,
    pt_int_t *own, pt_int_t *star)
{
    size_t         len, clen, plen;
    pt_int_t       q, *w;
    pt_uint_t      bad, isq;
    const u_char  *p, *last, *name, *name_end, *pname, *v;

    clen = strlen(coding);

    p = value->data;
    last = p + value->len;

    while (p < last) {

        /* empty elements and the whitespace around them are allowed */
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        if (p == last) {
            break;
        }

        name = p;

        while (p < last && pt_http_tchar(*p)) {
            p++;
        }

        name_end = p;
        q = 1000;
        bad = (name == name_end);

        pt_http_ows(p, last);

        while (!bad && p < last && *p == ';') {
            p++;
            pt_http_ows(p, last);

            pname = p;

            while (p < last && pt_http_tchar(*p)) {
                p++;
            }

            plen = p - pname;

            if (plen == 0 || p == last || *p != '=') {
                bad = 1;
                break;
            }

            isq = (plen == 1 && (*pname == 'q' || *pname == 'Q'));
            v = ++p;

            if (p < last && *p == '"') {
                /* a quoted-string: other parameters may have one, q not */
                for (p++; p < last && *p != '"'; p++) {
                    if (*p == '\\' && p + 1 < last) {
                        p++;
                    }
                }

                if (p == last || isq) {
                    bad = 1;
                    break;
                }

                p++;

            } else {
                while (p < last && pt_http_tchar(*p)) {
                    p++;
                }

                if (isq) {
                    q = pt_http_parse_qvalue(v, p);

                    if (q < 0) {
                        bad = 1;
                        break;
                    }
                }
            }

            pt_http_ows(p, last);
        }

        if (!bad && p < last && *p != ',') {
            bad = 1;
        }

        if (bad) {
            /* skip the rest of the element, quoted commas and all */
            while (p < last && *p != ',') {
                if (*p == '"') {
                    for (p++; p < last && *p != '"'; p++) {
                        if (*p == '\\' && p + 1 < last) {
                            p++;
                        }
                    }

                    if (p == last) {
                        break;
                    }
                }

                p++;
            }

            q = 0;
        }

        len = name_end - name;

        if (len == 0) {
            continue;
        }

        if ((len == clen && pt_strncasecmp(name, (u_char *) coding, len) == 0)
            || (clen == 4 && len == 6
                && pt_strncasecmp((u_char *) coding, (u_char *) "gzip", 4)
                   == 0
                && pt_strncasecmp(name, (u_char *) "x-gzip", 6) == 0))
        {
            /* "x-gzip" is gzip (RFC 9110 8.4.1.3) */
            w = own;

        } else if (len == 1 && *name == '*') {
            w = star;

        } else {
            continue;
        }

        *w = (*w < 0) ? q : pt_min(*w, q);
    }
}


/*
 * The weight (0..1000) the list in value gives coding (a NUL-terminated
 * name), from its own entries or from "*"; -1 when it names neither.
 */
pt_int_t
pt_http_accept_encoding_weight(const pt_str_t *value, const char *coding)
{
    pt_int_t  own, star;

    own = -1;
    star = -1;

    pt_http_accept_encoding_scan(value, coding, &own, &star);

    return (own >= 0) ? own : star;
}


/*
 * The weight r's Accept-Encoding fields, taken as one list, give coding;
 * -1 when there is none or it names neither the coding nor "*".
 */
pt_int_t
pt_http_accept_encoding(pt_http_request_t *r, const char *coding)
{
    pt_int_t         own, star;
    pt_table_elt_t  *h;

    own = -1;
    star = -1;

    for (h = r->headers_in.accept_encoding; h; h = h->next) {
        pt_http_accept_encoding_scan(&h->value, coding, &own, &star);
    }

    return (own >= 0) ? own : star;
}


static pt_table_elt_t *
pt_http_find_header(pt_list_t *headers, const char *name, size_t len,
    pt_table_elt_t *after)
{
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_table_elt_t  *h;

    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (after) {
            if (&h[i] == after) {
                after = NULL;
            }

            continue;
        }

        if (h[i].hash && h[i].key.len == len
            && pt_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }

    return NULL;
}


/* gzip_proxied: may a response to a request that came through a proxy be compressed? */
static pt_uint_t
pt_http_gzip_proxied_ok(pt_http_request_t *r,
    pt_http_accept_encoding_conf_t *conf)
{
    pt_table_elt_t  *cc, *expires;

    if (conf->proxied & PT_HTTP_GZIP_PROXIED_ANY) {
        return 1;
    }

    if (conf->proxied & PT_HTTP_GZIP_PROXIED_OFF) {
        return 0;
    }

    if ((conf->proxied & PT_HTTP_GZIP_PROXIED_AUTH)
        && r->headers_in.authorization)
    {
        return 1;
    }

    expires = r->headers_out.expires;

    if (expires == NULL) {
        expires = pt_http_find_header(&r->headers_out.headers, "expires", 7,
                                      NULL);
    }

    if ((conf->proxied & PT_HTTP_GZIP_PROXIED_EXPIRED) && expires) {
        return 1;
    }

    cc = NULL;

    while ((cc = pt_http_find_header(&r->headers_out.headers,
                                     "cache-control", 13, cc)))
    {
        if (((conf->proxied & PT_HTTP_GZIP_PROXIED_NO_CACHE)
             && pt_strnstr(cc->value.data, cc->value.len, "no-cache", 8))
            || ((conf->proxied & PT_HTTP_GZIP_PROXIED_NO_STORE)
                && pt_strnstr(cc->value.data, cc->value.len, "no-store", 8))
            || ((conf->proxied & PT_HTTP_GZIP_PROXIED_PRIVATE)
                && pt_strnstr(cc->value.data, cc->value.len, "private", 7)))
        {
            return 1;
        }
    }

    if ((conf->proxied & PT_HTTP_GZIP_PROXIED_NO_LM)
        && r->headers_out.last_modified == NULL
        && r->headers_out.last_modified_time == -1)
    {
        return 1;
    }

    if ((conf->proxied & PT_HTTP_GZIP_PROXIED_NO_ETAG)
        && r->headers_out.etag == NULL)
    {
        return 1;
    }

    return 0;
}


/*
 * May r's client be sent gzip? Its Accept-Encoding must accept gzip, and
 * gzip_http_version, gzip_proxied and gzip_disable must allow it.
 * Returns PT_OK or PT_DECLINED.
 */
pt_int_t
pt_http_gzip_ok(pt_http_request_t *r)
{
    int                               captures[3];
    pt_uint_t                         i;
    pt_regex_t                      **re;
    pt_http_accept_encoding_conf_t   *conf;

    conf = pt_http_get_module_loc_conf(r, pt_http_accept_encoding_module);

    if (r != r->main || r->http_version < conf->http_version
        || pt_http_accept_encoding(r, "gzip") <= 0)
    {
        return PT_DECLINED;
    }

    if (pt_http_find_header(&r->headers_in.headers, "via", 3, NULL)
        && !pt_http_gzip_proxied_ok(r, conf))
    {
        return PT_DECLINED;
    }

    if (conf->disable && r->headers_in.user_agent) {
        re = conf->disable->elts;

        for (i = 0; i < conf->disable->nelts; i++) {
            if (pt_regex_exec(re[i], &r->headers_in.user_agent->value,
                              captures, 3)
                > 0)
            {
                return PT_DECLINED;
            }
        }
    }

    return PT_OK;
}


/* Does a Vary value name Accept-Encoding (or "*")? */
static pt_uint_t
pt_http_vary_has_accept_encoding(const pt_str_t *value)
{
    u_char  *p, *last, *name;

    p = value->data;
    last = p + value->len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        name = p;

        while (p < last && *p != ',' && *p != ' ' && *p != '\t') {
            p++;
        }

        if ((p - name == 1 && *name == '*')
            || (p - name == 15
                && pt_strncasecmp(name, (u_char *) "accept-encoding", 15)
                   == 0))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * With gzip_vary on, tells caches that r's response depends on
 * Accept-Encoding: adds "Vary: Accept-Encoding" unless a Vary field
 * already names it (or is "*"). Returns PT_OK or PT_ERROR.
 */
pt_int_t
pt_http_gzip_vary(pt_http_request_t *r)
{
    pt_table_elt_t                  *h;
    pt_http_accept_encoding_conf_t  *conf;

    conf = pt_http_get_module_loc_conf(r, pt_http_accept_encoding_module);

    if (!conf->vary) {
        return PT_OK;
    }

    h = NULL;

    while ((h = pt_http_find_header(&r->headers_out.headers, "vary", 4, h))) {
        if (pt_http_vary_has_accept_encoding(&h->value)) {
            return PT_OK;
        }
    }

    h = pt_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return PT_ERROR;
    }

    h->hash = 1;
    h->next = NULL;
    h->lowcase_key = NULL;
    pt_str_set(&h->key, "Vary");
    pt_str_set(&h->value, "Accept-Encoding");

    return PT_OK;
}


/*
 * The response's Content-Encoding field (a proxied one, or one that
 * add_header or a content handler set), or NULL when there is none or it
 * is empty.
 */
pt_table_elt_t *
pt_http_content_encoding(pt_http_request_t *r)
{
    pt_table_elt_t  *h;

    h = r->headers_out.content_encoding;

    if (h && h->hash && h->value.len) {
        return h;
    }

    h = NULL;

    while ((h = pt_http_find_header(&r->headers_out.headers,
                                    "content-encoding", 16, h)))
    {
        if (h->value.len) {
            return h;
        }
    }

    return NULL;
}


/*
 * r's body is about to be recoded on its way out: its length is unknown
 * (chunked on HTTP/1.1, until the close on 1.0), ranges of the old bytes
 * mean nothing, and a strong ETag no longer describes the bytes, so it is
 * weakened ("W/" in front; one we cannot read is dropped). Returns PT_OK
 * or PT_ERROR.
 */
pt_int_t
pt_http_content_recoded(pt_http_request_t *r)
{
    u_char          *p;
    pt_table_elt_t  *h, *etag;

    r->headers_out.content_length_n = -1;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    while ((h = pt_http_find_header(&r->headers_out.headers, "content-length",
                                    14, NULL)))
    {
        h->hash = 0;
    }

    if (r->headers_out.accept_ranges) {
        r->headers_out.accept_ranges->hash = 0;
        r->headers_out.accept_ranges = NULL;
    }

    while ((h = pt_http_find_header(&r->headers_out.headers, "accept-ranges",
                                    13, NULL)))
    {
        h->hash = 0;
    }

    etag = r->headers_out.etag;

    if (etag == NULL || etag->hash == 0) {
        etag = pt_http_find_header(&r->headers_out.headers, "etag", 4, NULL);
    }

    if (etag == NULL) {
        return PT_OK;
    }

    if (etag->value.len > 2 && etag->value.data[0] == 'W'
        && etag->value.data[1] == '/')
    {
        return PT_OK;
    }

    if (etag->value.len < 2 || etag->value.data[0] != '"') {
        etag->hash = 0;
        r->headers_out.etag = NULL;
        return PT_OK;
    }

    p = pt_pnalloc(r->pool, etag->value.len + 2);
    if (p == NULL) {
        return PT_ERROR;
    }

    p[0] = 'W';
    p[1] = '/';
    pt_memcpy(p + 2, etag->value.data, etag->value.len);

    etag->value.data = p;
    etag->value.len += 2;

    return PT_OK;
}


static void *
pt_http_accept_encoding_create_conf(pt_conf_t *cf)
{
    pt_http_accept_encoding_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_accept_encoding_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->vary = PT_CONF_UNSET;
    conf->http_version = PT_CONF_UNSET_UINT;
    conf->disable = PT_CONF_UNSET_PTR;

    return conf;
}


static char *
pt_http_accept_encoding_merge_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_accept_encoding_conf_t  *prev = parent;
    pt_http_accept_encoding_conf_t  *conf = child;

    pt_conf_merge_value(conf->vary, prev->vary, 0);
    pt_conf_merge_uint_value(conf->http_version, prev->http_version,
                             PT_HTTP_VERSION_11);
    pt_conf_merge_bitmask_value(conf->proxied, prev->proxied,
                                (PT_CONF_BITMASK_SET
                                 | PT_HTTP_GZIP_PROXIED_OFF));
    pt_conf_merge_ptr_value(conf->disable, prev->disable, NULL);

    return PT_CONF_OK;
}


/* gzip_disable REGEX ...: "msie6" stands for MSIE 4 to 6, as in nginx. */
static char *
pt_http_gzip_disable(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_accept_encoding_conf_t  *aecf = conf;

    pt_str_t             *value;
    pt_uint_t             i;
    pt_regex_t          **re;
    pt_regex_compile_t    rc;

    if (aecf->disable == PT_CONF_UNSET_PTR || aecf->disable == NULL) {
        aecf->disable = pt_array_create(cf->pool, 2, sizeof(pt_regex_t *));
        if (aecf->disable == NULL) {
            return PT_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        pt_memzero(&rc, sizeof(pt_regex_compile_t));
        rc.pool = cf->pool;
        rc.caseless = 1;

        if (pt_str_eq_lit(&value[i], "msie6")) {
            pt_str_set(&rc.pattern, "MSIE [4-6]\\.");

        } else {
            rc.pattern = value[i];
        }

        if (pt_regex_compile(&rc) != PT_OK) {
            pt_conf_error(cf, "%s", rc.err);
            return PT_CONF_ERROR;
        }

        re = pt_array_push(aecf->disable);
        if (re == NULL) {
            return PT_CONF_ERROR;
        }

        *re = rc.regex;
    }

    return PT_CONF_OK;
}
