/*
 * libFuzzer target for the proxy module's rewriting of response header
 * fields (pt_http_proxy_rewrite_header, reached by including the module's
 * source): proxy_redirect for Location and Refresh, proxy_cookie_domain
 * and proxy_cookie_path for Set-Cookie.
 *
 * A fixed configuration is read once, as "portico -t" would: one server
 * with text rules (one of them with a variable), one with regular
 * expressions (numbered and named captures, caseless forms, a group that
 * may be unset, replacements that repeat captures). Each input is the
 * value of a field the upstream sent, given as each of the three fields to
 * each server, in a new request each time, from an exact-size copy.
 *
 * Every result must be bounded (what the rules can add), must leave the
 * upstream's own copy untouched, and must be the same when done again.
 * For Set-Cookie, the cookie's name=value and every attribute other than
 * Domain and Path must come out as they went in. For the text rules the
 * result must be that of a plain reference.
 */
#include "../../modules/pt_http_proxy_module.c"

#include "fuzz_cycle.h"


#define FUZZ_REWRITE_MAX_SIZE   4096

/* a replacement repeats a capture at most this often... */
#define FUZZ_REWRITE_MAX_REFS   4
/* ...and adds at most this many bytes of its own */
#define FUZZ_REWRITE_MAX_TEXT   64

#define FUZZ_X_OLD              "old.test"


static const char  fuzz_conf_text[] =
    "events { }\n"
    "http {\n"
    "    access_log off;\n"
    "\n"
    "    server {\n"
    "        listen 127.0.0.1:18001;\n"
    "        proxy_redirect http://backend:8080/app/ /;\n"
    "        proxy_redirect http://backend:8080/ /backend/;\n"
    "        proxy_redirect http://$http_x_old/ /old/;\n"
    "        proxy_redirect / /rel/;\n"
    "        proxy_cookie_domain backend.internal example.com;\n"
    "        proxy_cookie_domain .old.test .new.test;\n"
    "        proxy_cookie_domain $http_x_old from-var.test;\n"
    "        proxy_cookie_path /app/ /;\n"
    "        proxy_cookie_path /two/ /one/two/;\n"
    "        proxy_cookie_path / /prefix/;\n"
    "    }\n"
    "\n"
    "    server {\n"
    "        listen 127.0.0.1:18002;\n"
    "        proxy_redirect ~^(http://[^:/]+):\\d+(/.+)$ $1$2;\n"
    "        proxy_redirect ~*/user/([^/]+)/(.+)$ http://$1.example.com/$2;\n"
    "        proxy_redirect \"~^http://(?<svc>[a-z]+)\\.internal/(?<rest>.*)$\"\n"
    "                       /$svc/$rest;\n"
    "        proxy_redirect ~^(.)(.)(.)(.)(.)(.)(.)(.)(.)x $9$9$9$1;\n"
    "        proxy_cookie_domain \"~^(?<sub>[a-z]+)\\.backend\\.internal$\"\n"
    "                            $sub.example.com;\n"
    "        proxy_cookie_domain ~^(.*)\\.(.*)$ $2.$1;\n"
    "        proxy_cookie_path ~^/(api|app)(/.*)?$ /$1-new$2;\n"
    "        proxy_cookie_path ~*^/UPPER(.*) /lower$1$1$1;\n"
    "        proxy_cookie_path ~^/x(y)?(z)?$ /w$1$2$3;\n"
    "    }\n"
    "}\n";


/* the text server's rules, as the reference applies them */
static const char  *fuzz_text_redirects[][2] = {
    { "http://backend:8080/app/", "/" },
    { "http://backend:8080/", "/backend/" },
    { "http://" FUZZ_X_OLD "/", "/old/" },
    { "/", "/rel/" },
};

static const char  *fuzz_text_domains[][2] = {
    { "backend.internal", "example.com" },
    { ".old.test", ".new.test" },
    { FUZZ_X_OLD, "from-var.test" },
};

static const char  *fuzz_text_paths[][2] = {
    { "/app/", "/" },
    { "/two/", "/one/two/" },
    { "/", "/prefix/" },
};


static const char  *fuzz_fields[] = { "Location", "Refresh", "Set-Cookie" };


static pt_cycle_t         *fuzz_cycle;
static pt_http_conf_ctx_t *fuzz_servers[2];


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pt_uint_t                   i;
    pt_http_core_srv_conf_t   **cscfp;
    pt_http_core_main_conf_t   *cmcf;

    fuzz_cycle = fuzz_cycle_from_conf("rewrite", fuzz_conf_text,
                                      sizeof(fuzz_conf_text) - 1);

    cmcf = pt_http_cycle_get_module_main_conf(fuzz_cycle, pt_http_core_module);
    if (cmcf == NULL || cmcf->servers.nelts != 2) {
        abort();
    }

    cscfp = cmcf->servers.elts;

    for (i = 0; i < 2; i++) {
        fuzz_servers[i] = cscfp[i]->ctx;
    }

    return 0;
}


static pt_http_request_t *
fuzz_request(pt_pool_t *pool, pt_connection_t *c, pt_http_conf_ctx_t *ctx)
{
    pt_table_elt_t            *h;
    pt_http_request_t         *r;
    pt_http_core_main_conf_t  *cmcf;

    r = pt_pcalloc(pool, sizeof(pt_http_request_t));
    if (r == NULL) {
        abort();
    }

    r->pool = pool;
    r->connection = c;
    r->main = r;
    r->main_conf = ctx->main_conf;
    r->srv_conf = ctx->srv_conf;
    r->loc_conf = ctx->loc_conf;

    cmcf = pt_http_get_module_main_conf(r, pt_http_core_module);

    r->variables = pt_pcalloc(pool, cmcf->variables.nelts
                                    * sizeof(pt_http_variable_value_t));
    if (r->variables == NULL
        || pt_list_init(&r->headers_in.headers, pool, 2,
                        sizeof(pt_table_elt_t)) != PT_OK)
    {
        abort();
    }

    h = pt_list_push(&r->headers_in.headers);
    if (h == NULL) {
        abort();
    }

    pt_memzero(h, sizeof(pt_table_elt_t));
    h->hash = 1;
    pt_str_set(&h->key, "X-Old");
    h->lowcase_key = (u_char *) "x-old";
    pt_str_set(&h->value, FUZZ_X_OLD);

    return r;
}


/*
 * The field rewritten by the module, from an exact-size copy of data, in
 * malloc'd memory (*out).
 */
static size_t
fuzz_rewrite(pt_uint_t server, const char *field, const uint8_t *data,
    size_t size, u_char **out)
{
    u_char            *copy, lc[16];
    size_t             len;
    pt_pool_t         *pool;
    pt_table_elt_t     h;
    pt_connection_t    c;
    pt_http_request_t *r;

    pool = pt_create_pool(4096, fuzz_log);
    if (pool == NULL) {
        abort();
    }

    pt_memzero(&c, sizeof(pt_connection_t));
    c.log = fuzz_log;
    c.pool = pool;

    r = fuzz_request(pool, &c, fuzz_servers[server]);

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);

    pt_memzero(&h, sizeof(pt_table_elt_t));
    h.hash = 1;
    h.key.data = (u_char *) field;
    h.key.len = strlen(field);
    pt_strlow(lc, h.key.data, h.key.len);
    h.lowcase_key = lc;
    h.value.data = copy;
    h.value.len = size;

    if (pt_http_proxy_rewrite_header(r, &h) != PT_OK) {
        abort();
    }

    /* the upstream's own field stays as it came, for $upstream_http_* */
    if (memcmp(copy, data, size) != 0) {
        abort();
    }

    len = h.value.len;

    *out = malloc(len ? len : 1);
    if (*out == NULL) {
        abort();
    }

    memcpy(*out, h.value.data, len);

    free(copy);
    pt_destroy_pool(pool);

    return len;
}


/* buf, a growing output of the reference */
typedef struct {
    u_char  *data;
    size_t   len;
} fuzz_buf_t;


static void
fuzz_append(fuzz_buf_t *b, const void *p, size_t n)
{
    memcpy(b->data + b->len, p, n);
    b->len += n;
}


/* the first text prefix rule that matches v, into b */
static void
fuzz_ref_prefix(fuzz_buf_t *b, const u_char *v, size_t len,
    const char *(*rules)[2], pt_uint_t n)
{
    size_t     plen;
    pt_uint_t  i;

    for (i = 0; i < n; i++) {
        plen = strlen(rules[i][0]);

        if (plen <= len && memcmp(v, rules[i][0], plen) == 0) {
            fuzz_append(b, rules[i][1], strlen(rules[i][1]));
            fuzz_append(b, v + plen, len - plen);
            return;
        }
    }

    fuzz_append(b, v, len);
}


/* proxy_cookie_domain's text form, into b */
static void
fuzz_ref_domain(fuzz_buf_t *b, const u_char *v, size_t len)
{
    size_t       plen;
    pt_uint_t    i;
    const char  *pat, *rep;

    for (i = 0; i < pt_nelems(fuzz_text_domains); i++) {
        pat = fuzz_text_domains[i][0];
        rep = fuzz_text_domains[i][1];

        pat += (*pat == '.');
        rep += (*rep == '.');
        plen = strlen(pat);

        if (len && v[0] == '.') {
            if (plen == len - 1
                && pt_strncasecmp((u_char *) v + 1, (u_char *) pat, plen) == 0)
            {
                fuzz_append(b, ".", 1);
                fuzz_append(b, rep, strlen(rep));
                return;
            }

        } else if (plen == len
                   && pt_strncasecmp((u_char *) v, (u_char *) pat, plen) == 0)
        {
            fuzz_append(b, rep, strlen(rep));
            return;
        }
    }

    fuzz_append(b, v, len);
}


static int
fuzz_blank(u_char c)
{
    return c == ' ' || c == '\t';
}


/*
 * One Set-Cookie attribute (the bytes between two ";"): where its name and
 * value are. Returns 0 if it has no "=".
 */
static int
fuzz_attr(const u_char *a, size_t len, size_t *ns, size_t *ne, size_t *vs,
    size_t *ve)
{
    size_t  i;

    for (i = 0; i < len && fuzz_blank(a[i]); i++) { /* void */ }

    *ns = i;

    for ( /* void */ ; i < len && a[i] != '='; i++) { /* void */ }

    if (i == len) {
        return 0;
    }

    for (*ne = i; *ne > *ns && fuzz_blank(a[*ne - 1]); (*ne)--) {
        /* void */
    }

    for (i++; i < len && fuzz_blank(a[i]); i++) { /* void */ }

    *vs = i;

    for (*ve = len; *ve > *vs && fuzz_blank(a[*ve - 1]); (*ve)--) {
        /* void */
    }

    return 1;
}


static int
fuzz_attr_is(const u_char *a, size_t ns, size_t ne, const char *name)
{
    return ne - ns == strlen(name)
           && pt_strncasecmp((u_char *) a + ns, (u_char *) name, ne - ns)
              == 0;
}


/* the text server's result for a field, in b */
static void
fuzz_reference(pt_uint_t field, const u_char *v, size_t len, fuzz_buf_t *b)
{
    size_t  i, s, ns, ne, vs, ve;

    b->len = 0;

    if (field == 0) {
        fuzz_ref_prefix(b, v, len, fuzz_text_redirects,
                        pt_nelems(fuzz_text_redirects));
        return;
    }

    if (field == 1) {
        for (i = 0; i + 4 <= len; i++) {
            if (pt_strncasecmp((u_char *) v + i, (u_char *) "url=", 4) == 0) {
                fuzz_append(b, v, i + 4);
                fuzz_ref_prefix(b, v + i + 4, len - i - 4,
                                fuzz_text_redirects,
                                pt_nelems(fuzz_text_redirects));
                return;
            }
        }

        fuzz_append(b, v, len);
        return;
    }

    /* Set-Cookie: name=value, then ";"-separated attributes */
    for (i = 0; i < len && v[i] != ';'; i++) { /* void */ }

    fuzz_append(b, v, i);

    while (i < len) {
        fuzz_append(b, ";", 1);
        s = ++i;

        for ( /* void */ ; i < len && v[i] != ';'; i++) { /* void */ }

        if (!fuzz_attr(v + s, i - s, &ns, &ne, &vs, &ve)) {
            fuzz_append(b, v + s, i - s);
            continue;
        }

        fuzz_append(b, v + s, vs);

        if (fuzz_attr_is(v + s, ns, ne, "domain")) {
            fuzz_ref_domain(b, v + s + vs, ve - vs);

        } else if (fuzz_attr_is(v + s, ns, ne, "path")) {
            fuzz_ref_prefix(b, v + s + vs, ve - vs, fuzz_text_paths,
                            pt_nelems(fuzz_text_paths));

        } else {
            fuzz_append(b, v + s + vs, ve - vs);
        }

        fuzz_append(b, v + s + ve, i - s - ve);
    }
}


/*
 * Set-Cookie from any server: as many ";" as went in (no rule's
 * replacement has one), name=value the same, and every attribute other
 * than Domain and Path the same.
 */
static void
fuzz_check_cookie(const u_char *in, size_t in_len, const u_char *out,
    size_t out_len)
{
    size_t  i, j, si, sj, ns, ne, vs, ve;
    int     first, has;

    first = 1;

    for (i = 0, j = 0; ; i++, j++) {
        si = i;
        sj = j;

        for ( /* void */ ; i < in_len && in[i] != ';'; i++) { /* void */ }
        for ( /* void */ ; j < out_len && out[j] != ';'; j++) { /* void */ }

        if ((i == in_len) != (j == out_len)) {
            abort();            /* a ";" more or less */
        }

        has = !first && fuzz_attr(in + si, i - si, &ns, &ne, &vs, &ve);

        if (has && (fuzz_attr_is(in + si, ns, ne, "domain")
                    || fuzz_attr_is(in + si, ns, ne, "path")))
        {
            /*
             * the same up to the value and after it (a capture may bring
             * blanks to the new value's ends, so this is not parsed again)
             */
            if (j - sj < vs + (i - si - ve)
                || memcmp(in + si, out + sj, vs) != 0
                || memcmp(in + si + ve, out + j - (i - si - ve), i - si - ve)
                   != 0)
            {
                abort();
            }

        } else if (i - si != j - sj || memcmp(in + si, out + sj, i - si) != 0) {
            abort();
        }

        first = 0;

        if (i == in_len) {
            break;
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *out, *again;
    size_t       i, len, len2, semis, bound;
    pt_uint_t    server, f;
    fuzz_buf_t   ref;

    if (size > FUZZ_REWRITE_MAX_SIZE) {
        return -1;
    }

    for (semis = 0, i = 0; i < size; i++) {
        semis += (data[i] == ';');
    }

    ref.data = malloc(size + (semis + 1) * FUZZ_REWRITE_MAX_TEXT);
    if (ref.data == NULL) {
        abort();
    }

    for (server = 0; server < 2; server++) {
        for (f = 0; f < pt_nelems(fuzz_fields); f++) {
            len = fuzz_rewrite(server, fuzz_fields[f], data, size, &out);
            len2 = fuzz_rewrite(server, fuzz_fields[f], data, size, &again);

            if (len != len2 || (len && memcmp(out, again, len) != 0)) {
                abort();
            }

            bound = (f == 2) ? (semis + 1) * FUZZ_REWRITE_MAX_TEXT
                             : FUZZ_REWRITE_MAX_TEXT;
            bound += FUZZ_REWRITE_MAX_REFS * size;

            if (len > bound) {
                abort();
            }

            if (f == 2) {
                fuzz_check_cookie(data, size, out, len);
            }

            if (server == 0) {
                fuzz_reference(f, data, size, &ref);

                if (ref.len != len || (len && memcmp(ref.data, out, len) != 0))
                {
                    abort();
                }
            }

            free(out);
            free(again);
        }
    }

    free(ref.data);

    return 0;
}
