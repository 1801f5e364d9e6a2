/*
 * Sticky sessions: "sticky cookie NAME [expires=TIME|max] [domain=DOMAIN]
 * [path=PATH] [httponly] [secure] [samesite=strict|lax|none]" in an
 * upstream block.
 *
 * A response that a server of the group produced carries a cookie naming
 * that server; later requests with the cookie go to the same server as
 * long as it is usable (not down, not failing, not resting after
 * max_fails, below max_conns). When it is not, or the cookie names no
 * server of the group, the group's own balancing method chooses, and the
 * response brings a cookie for the server that answered (the last one
 * tried, after proxy_next_upstream retries).
 *
 * The cookie's value is the MD5 of the server's address text
 * ("10.0.0.1:8080"), in hex: it is the same in every worker and across
 * reloads, and does not show the address.
 *
 * The group's balancer is wrapped when the http block ends, whatever
 * method it uses and wherever "sticky" stands in the block: the wrapper
 * looks for the named peer first and calls the method's own get
 * otherwise. It also does the fall-back to backup servers itself (a
 * cookie naming a backup is honoured while no primary is usable), so
 * that it always knows the peer of every attempt.
 */
#include "pt_http.h"

#include <openssl/evp.h>


#define PT_HTTP_STICKY_DIGEST_LEN   16          /* MD5 */
#define PT_HTTP_STICKY_VALUE_LEN    (2 * PT_HTTP_STICKY_DIGEST_LEN)
#define PT_HTTP_STICKY_COOKIES      4           /* same-named cookies read */

#define PT_HTTP_STICKY_SESSION      -1          /* no expires */
#define PT_HTTP_STICKY_MAX          -2          /* expires=max */


typedef struct {
    /* the wrapper's ops: first, so that us->balancer leads back here */
    pt_http_upstream_balancer_t     balancer;

    pt_http_upstream_balancer_t    *original;   /* NULL: round robin */
    pt_http_upstream_srv_conf_t    *upstream;

    pt_str_t                        name;       /* of the cookie */
    time_t                          expires;    /* seconds, or _SESSION,
                                                   _MAX */
    pt_str_t                        attrs;      /* "; domain=...; path=/..."
                                                   after expires */

    /* the peers' digests in this process, by peer index */
    u_char                        (*digests)[PT_HTTP_STICKY_DIGEST_LEN];
    pt_uint_t                       ndigests;
    pt_uint_t                       generation; /* of the peers hashed */

    u_char                         *file_name;
    pt_uint_t                       line;
} pt_http_upstream_sticky_conf_t;

typedef struct {
    pt_array_t                      groups;     /* of ..._sticky_conf_t * */
} pt_http_upstream_sticky_main_conf_t;

/* per request */
typedef struct {
    pt_http_upstream_sticky_conf_t *conf;
    pt_http_upstream_t             *upstream;
    void                           *original_data;  /* the method's
                                                       balancer_data */

    u_char                          cookies[PT_HTTP_STICKY_COOKIES]
                                           [PT_HTTP_STICKY_DIGEST_LEN];
    pt_uint_t                       ncookies;   /* valid ones the client
                                                   sent */

    u_char                          served[PT_HTTP_STICKY_DIGEST_LEN];
    unsigned                        chosen:1;   /* served holds the peer of
                                                   the last attempt */
} pt_http_upstream_sticky_ctx_t;


static pt_int_t pt_http_upstream_sticky_init_peer(pt_http_request_t *r,
    pt_http_upstream_t *u);
static pt_http_upstream_rr_peer_t *pt_http_upstream_sticky_get_peer(
    pt_http_upstream_t *u, pt_http_upstream_rr_peers_t *peers);
static void *pt_http_upstream_sticky_create_main_conf(pt_conf_t *cf);
static pt_int_t pt_http_upstream_sticky_init(pt_conf_t *cf);
static char *pt_http_upstream_sticky(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);


static pt_command_t  pt_http_upstream_sticky_commands[] = {

    { pt_string("sticky"),
      PT_HTTP_UPS_CONF | PT_CONF_2MORE,
      pt_http_upstream_sticky,
      0,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_upstream_sticky_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_upstream_sticky_init,           /* postconfiguration */
    pt_http_upstream_sticky_create_main_conf,
    NULL,                                   /* init main configuration */
    NULL, NULL, NULL, NULL
};


pt_module_t  pt_http_upstream_sticky_module = {
    .ctx = &pt_http_upstream_sticky_module_ctx,
    .commands = pt_http_upstream_sticky_commands,
    .type = PT_HTTP_MODULE,
};


static pt_http_output_header_filter_pt  pt_http_next_header_filter;


/* MD5 of the peer's address text; an empty digest for a spare slot */
static pt_int_t
pt_http_upstream_sticky_digest(pt_http_upstream_rr_peer_t *peer, u_char *md)
{
    unsigned int  len;

    if (peer->unused) {
        pt_memzero(md, PT_HTTP_STICKY_DIGEST_LEN);
        return PT_OK;
    }

    len = 0;

    if (EVP_Digest(peer->name.data, peer->name.len, md, &len, EVP_md5(),
                   NULL) != 1
        || len != PT_HTTP_STICKY_DIGEST_LEN)
    {
        return PT_ERROR;
    }

    return PT_OK;
}


/*
 * Brings this process's digests up to date with the peers' addresses,
 * with the group locked. On a failure the old ones stay; the cookie then
 * names nothing usable at worst.
 */
static void
pt_http_upstream_sticky_refresh(pt_http_upstream_sticky_conf_t *scf,
    pt_http_upstream_rr_peers_t *peers)
{
    pt_uint_t  i;

    if (scf->generation == peers->generation) {
        return;
    }

    for (i = 0; i < scf->ndigests && i < peers->number; i++) {
        if (pt_http_upstream_sticky_digest(&peers->peer[i], scf->digests[i])
            != PT_OK)
        {
            pt_log_error(PT_LOG_ERR, pt_cycle->log, 0,
                         "MD5 of upstream server %.*s failed",
                         PT_STR_ARG(peers->peer[i].name));
            return;
        }
    }

    scf->generation = peers->generation;
}


/*
 * Reads the request's cookies of our name into ctx: up to
 * PT_HTTP_STICKY_COOKIES values that have the form of a digest (anything
 * else names no server and is passed over).
 */
static void
pt_http_upstream_sticky_read_cookies(pt_http_request_t *r,
    pt_http_upstream_sticky_ctx_t *ctx)
{
    u_char          *p, *last, *start, *end;
    pt_int_t         hi, lo;
    pt_str_t        *name;
    pt_uint_t        i;
    pt_table_elt_t  *h;

    name = &ctx->conf->name;

    for (h = r->headers_in.cookie; h; h = h->next) {
        p = h->value.data;
        last = p + h->value.len;

        while (p < last && ctx->ncookies < PT_HTTP_STICKY_COOKIES) {
            while (p < last && (*p == ' ' || *p == '\t' || *p == ';')) {
                p++;
            }

            start = p;

            while (p < last && *p != '=' && *p != ';') {
                p++;
            }

            end = p;

            while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
                end--;
            }

            if (p == last || *p != '=') {
                continue;                   /* a name alone: not ours */
            }

            p++;

            /* names are case-sensitive (RFC 6265 5.4) */
            if ((size_t) (end - start) != name->len
                || pt_memcmp(start, name->data, name->len) != 0)
            {
                while (p < last && *p != ';') {
                    p++;
                }

                continue;
            }

            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            start = p;

            while (p < last && *p != ';') {
                p++;
            }

            end = p;

            while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
                end--;
            }

            if (end - start >= 2 && start[0] == '"' && end[-1] == '"') {
                start++;
                end--;
            }

            if (end - start != PT_HTTP_STICKY_VALUE_LEN) {
                continue;
            }

            for (i = 0; i < PT_HTTP_STICKY_DIGEST_LEN; i++) {
                hi = pt_hextoi(start + 2 * i, 1);
                lo = pt_hextoi(start + 2 * i + 1, 1);

                if (hi == PT_ERROR || lo == PT_ERROR) {
                    break;
                }

                ctx->cookies[ctx->ncookies][i] = (u_char) (hi << 4 | lo);
            }

            if (i == PT_HTTP_STICKY_DIGEST_LEN) {
                ctx->ncookies++;
            }
        }
    }
}


/* Once per request: the cookies, then the method's own init_peer. */
static pt_int_t
pt_http_upstream_sticky_init_peer(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_http_upstream_sticky_ctx_t   *ctx;
    pt_http_upstream_sticky_conf_t  *scf;

    scf = (pt_http_upstream_sticky_conf_t *) u->upstream->balancer;

    ctx = pt_pcalloc(r->pool, sizeof(pt_http_upstream_sticky_ctx_t));
    if (ctx == NULL) {
        return PT_ERROR;
    }

    ctx->conf = scf;
    ctx->upstream = u;

    pt_http_upstream_sticky_read_cookies(r, ctx);

    if (scf->original && scf->original->init_peer
        && scf->original->init_peer(r, u) != PT_OK)
    {
        return PT_ERROR;
    }

    ctx->original_data = u->balancer_data;
    u->balancer_data = ctx;

    pt_http_set_ctx(r, ctx, pt_http_upstream_sticky_module);

    return PT_OK;
}


/*
 * A usable peer (of the kind asked: primary or backup) whose digest one
 * of the request's cookies holds, the first cookie first; NULL if none.
 */
static pt_http_upstream_rr_peer_t *
pt_http_upstream_sticky_find(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers, pt_http_upstream_sticky_ctx_t *ctx,
    pt_uint_t backup)
{
    pt_uint_t                        i, k;
    pt_http_upstream_rr_peer_t      *peer;
    pt_http_upstream_sticky_conf_t  *scf;

    scf = ctx->conf;

    for (k = 0; k < ctx->ncookies; k++) {
        for (i = 0; i < scf->ndigests && i < peers->number; i++) {
            peer = &peers->peer[i];

            if (peer->backup != backup || peer->unused
                || pt_memcmp(scf->digests[i], ctx->cookies[k],
                             PT_HTTP_STICKY_DIGEST_LEN) != 0)
            {
                continue;
            }

            if (pt_http_upstream_rr_usable(u, peers, peer)) {
                return peer;
            }
        }
    }

    return NULL;
}


/*
 * With the group locked: the peer the cookie names when it is usable,
 * else the method's choice, else a backup (the named one first). The
 * choice is recorded for the header filter; the last one recorded is the
 * peer that answered.
 */
static pt_http_upstream_rr_peer_t *
pt_http_upstream_sticky_get_peer(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers)
{
    void                            *data;
    pt_uint_t                        i;
    pt_http_upstream_rr_peer_t      *peer;
    pt_http_upstream_sticky_ctx_t   *ctx;
    pt_http_upstream_sticky_conf_t  *scf;

    ctx = u->balancer_data;
    scf = ctx->conf;

    pt_http_upstream_sticky_refresh(scf, peers);

    peer = pt_http_upstream_sticky_find(u, peers, ctx, 0);

    if (peer == NULL) {
        if (scf->original && scf->original->get) {
            /* the method sees its own per-request data */
            data = u->balancer_data;
            u->balancer_data = ctx->original_data;

            peer = scf->original->get(u, peers);

            ctx->original_data = u->balancer_data;
            u->balancer_data = data;

        } else {
            peer = pt_http_upstream_rr_pick(u, peers, 0);
        }
    }

    if (peer == NULL && peers->has_backup) {
        peer = pt_http_upstream_sticky_find(u, peers, ctx, 1);

        if (peer == NULL) {
            peer = pt_http_upstream_rr_pick(u, peers, 1);
        }
    }

    if (peer == NULL) {
        ctx->chosen = 0;        /* this attempt ends in our own 502 */
        return NULL;
    }

    i = peer - peers->peer;

    if (i < scf->ndigests) {
        pt_memcpy(ctx->served, scf->digests[i], PT_HTTP_STICKY_DIGEST_LEN);
        ctx->chosen = 1;

    } else {
        ctx->chosen = 0;
    }

    return peer;
}


/* the cookie for the peer that answered, unless the client has it */
static pt_int_t
pt_http_upstream_sticky_header_filter(pt_http_request_t *r)
{
    u_char                          *p;
    size_t                           len;
    time_t                           now;
    pt_uint_t                        k;
    pt_table_elt_t                  *h;
    pt_http_upstream_t              *u;
    pt_http_upstream_sticky_ctx_t   *ctx;
    pt_http_upstream_sticky_conf_t  *scf;

    if (r != r->main) {
        return pt_http_next_header_filter(r);
    }

    ctx = pt_http_get_module_ctx(r, pt_http_upstream_sticky_module);
    u = r->upstream;

    /* only an answer of a server (not our 502 after failed tries) */
    if (ctx == NULL || u == NULL || ctx->upstream != u || !u->header_sent
        || !ctx->chosen)
    {
        return pt_http_next_header_filter(r);
    }

    for (k = 0; k < ctx->ncookies; k++) {
        if (pt_memcmp(ctx->cookies[k], ctx->served,
                      PT_HTTP_STICKY_DIGEST_LEN) == 0)
        {
            return pt_http_next_header_filter(r);
        }
    }

    scf = ctx->conf;

    len = scf->name.len + 1 + PT_HTTP_STICKY_VALUE_LEN + scf->attrs.len;

    if (scf->expires == PT_HTTP_STICKY_MAX) {
        len += sizeof("; expires=Thu, 31 Dec 2037 23:55:55 GMT") - 1
               + sizeof("; max-age=315360000") - 1;

    } else if (scf->expires != PT_HTTP_STICKY_SESSION) {
        len += sizeof("; expires=Mon, 28 Sep 1970 06:00:00 GMT") - 1
               + sizeof("; max-age=") - 1 + PT_INT_T_LEN;
    }

    h = pt_list_push(&r->headers_out.headers);
    p = pt_pnalloc(r->pool, len + 1);       /* snprintf's NUL */

    if (h == NULL || p == NULL) {
        return PT_ERROR;
    }

    h->hash = 1;
    h->next = NULL;
    pt_str_set(&h->key, "Set-Cookie");
    h->lowcase_key = NULL;
    h->value.data = p;

    p = pt_cpymem(p, scf->name.data, scf->name.len);
    *p++ = '=';
    p = pt_hex_dump(p, ctx->served, PT_HTTP_STICKY_DIGEST_LEN);

    if (scf->expires == PT_HTTP_STICKY_MAX) {
        p = pt_cpymem(p, "; expires=Thu, 31 Dec 2037 23:55:55 GMT"
                         "; max-age=315360000",
                      sizeof("; expires=Thu, 31 Dec 2037 23:55:55 GMT"
                             "; max-age=315360000") - 1);

    } else if (scf->expires != PT_HTTP_STICKY_SESSION) {
        now = pt_time();

        p = pt_cpymem(p, "; expires=", sizeof("; expires=") - 1);
        p = pt_http_time(p, now + scf->expires);
        p += snprintf((char *) p, sizeof("; max-age=") + PT_INT_T_LEN,
                      "; max-age=%lld", (long long) scf->expires);
    }

    p = pt_cpymem(p, scf->attrs.data, scf->attrs.len);

    h->value.len = p - h->value.data;

    pt_assert(h->value.len <= len);

    return pt_http_next_header_filter(r);
}


static void *
pt_http_upstream_sticky_create_main_conf(pt_conf_t *cf)
{
    pt_http_upstream_sticky_main_conf_t  *smcf;

    smcf = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_sticky_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    if (pt_array_init(&smcf->groups, cf->pool, 2,
                      sizeof(pt_http_upstream_sticky_conf_t *)) != PT_OK)
    {
        return NULL;
    }

    return smcf;
}


/*
 * The http block is complete and every group has its peers: wrap the
 * balancer of each sticky group, and put the header filter in the chain.
 */
static pt_int_t
pt_http_upstream_sticky_init(pt_conf_t *cf)
{
    pt_uint_t                              i, j;
    pt_http_upstream_rr_peers_t           *peers;
    pt_http_upstream_srv_conf_t           *us;
    pt_http_upstream_sticky_conf_t       **scfp, *scf;
    pt_http_upstream_sticky_main_conf_t   *smcf;

    smcf = pt_http_conf_get_module_main_conf(cf,
                                             pt_http_upstream_sticky_module);
    scfp = smcf->groups.elts;

    for (i = 0; i < smcf->groups.nelts; i++) {
        scf = scfp[i];
        us = scf->upstream;
        peers = us->peers;

        if (peers == NULL) {
            return PT_ERROR;
        }

        scf->ndigests = peers->number;
        scf->digests = pt_pcalloc(cf->pool,
                                  peers->number * PT_HTTP_STICKY_DIGEST_LEN);
        if (scf->digests == NULL) {
            return PT_ERROR;
        }

        for (j = 0; j < peers->number; j++) {
            if (pt_http_upstream_sticky_digest(&peers->peer[j],
                                               scf->digests[j])
                != PT_OK)
            {
                pt_log_error(PT_LOG_EMERG, cf->log, 0,
                             "MD5 is not available for \"sticky\" in %s:%lu",
                             (char *) scf->file_name,
                             (unsigned long) scf->line);
                return PT_ERROR;
            }
        }

        scf->generation = peers->generation;

        scf->original = us->balancer;

        scf->balancer.name = scf->original
                             ? scf->original->name
                             : pt_http_upstream_round_robin.name;
        scf->balancer.init_upstream = NULL;     /* the method's has run */
        scf->balancer.init_peer = pt_http_upstream_sticky_init_peer;
        scf->balancer.get = pt_http_upstream_sticky_get_peer;

        us->balancer = &scf->balancer;
    }

    pt_http_next_header_filter = pt_http_top_header_filter;
    pt_http_top_header_filter = pt_http_upstream_sticky_header_filter;

    return PT_OK;
}


/* a cookie name is a token (RFC 6265 4.1.1) */
static pt_uint_t
pt_http_upstream_sticky_token(pt_str_t *s)
{
    u_char  *p, *last;

    if (s->len == 0) {
        return 0;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (*p <= ' ' || *p >= 0x7f
            || pt_strchr("\"(),/:;<=>?@[\\]{}", *p))
        {
            return 0;
        }
    }

    return 1;
}


/* a domain: letters, digits, '.', '-' and '_' */
static pt_uint_t
pt_http_upstream_sticky_domain(pt_str_t *s)
{
    u_char  *p, *last;

    if (s->len == 0) {
        return 0;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9')
              || *p == '.' || *p == '-' || *p == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* a path: starts with '/', visible ASCII but ';' (RFC 6265 4.1.1) */
static pt_uint_t
pt_http_upstream_sticky_path(pt_str_t *s)
{
    u_char  *p, *last;

    if (s->len == 0 || s->data[0] != '/') {
        return 0;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == ';') {
            return 0;
        }
    }

    return 1;
}


/* each parameter once: bit marks it in seen */
static pt_int_t
pt_http_upstream_sticky_once(pt_conf_t *cf, pt_uint_t *seen, pt_uint_t bit,
    pt_str_t *param)
{
    if (*seen & bit) {
        pt_conf_error(cf, "duplicate parameter \"%.*s\"", PT_STR_ARG(*param));
        return PT_ERROR;
    }

    *seen |= bit;

    return PT_OK;
}


/*
 * sticky cookie NAME [expires=TIME|max] [domain=DOMAIN] [path=PATH]
 *        [httponly] [secure] [samesite=strict|lax|none]
 */
static char *
pt_http_upstream_sticky(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    u_char                                *p;
    size_t                                 len;
    pt_int_t                               n;
    pt_str_t                              *value, v, domain, path, samesite;
    pt_uint_t                              i, httponly, secure, seen;
    pt_http_upstream_srv_conf_t           *us;
    pt_http_upstream_sticky_conf_t        *scf, **scfp;
    pt_http_upstream_sticky_main_conf_t   *smcf;

    us = pt_http_conf_get_module_srv_conf(cf, pt_http_upstream_module);
    smcf = pt_http_conf_get_module_main_conf(cf,
                                             pt_http_upstream_sticky_module);
    value = cf->args->elts;

    scfp = smcf->groups.elts;

    for (i = 0; i < smcf->groups.nelts; i++) {
        if (scfp[i]->upstream == us) {
            return "is duplicate";
        }
    }

    if (!pt_str_eq_lit(&value[1], "cookie")) {
        pt_conf_error(cf, "invalid sticky method \"%.*s\", only \"cookie\" "
                      "is supported", PT_STR_ARG(value[1]));
        return PT_CONF_ERROR;
    }

    if (!pt_http_upstream_sticky_token(&value[2])) {
        pt_conf_error(cf, "invalid cookie name \"%.*s\"",
                      PT_STR_ARG(value[2]));
        return PT_CONF_ERROR;
    }

    scf = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_sticky_conf_t));
    if (scf == NULL) {
        return PT_CONF_ERROR;
    }

    scf->upstream = us;
    scf->name = value[2];
    scf->expires = PT_HTTP_STICKY_SESSION;
    scf->file_name = cf->conf_file->name.data;
    scf->line = cf->conf_file->line;

    pt_str_set(&path, "/");
    pt_str_null(&domain);
    pt_str_null(&samesite);
    httponly = 0;
    secure = 0;
    seen = 0;

    for (i = 3; i < cf->args->nelts; i++) {

        if (value[i].len >= sizeof("expires=") - 1
            && pt_strncmp(value[i].data, "expires=", 8) == 0)
        {
            if (pt_http_upstream_sticky_once(cf, &seen, 0x01, &value[i])
                != PT_OK)
            {
                return PT_CONF_ERROR;
            }

            v.data = value[i].data + 8;
            v.len = value[i].len - 8;

            if (pt_str_eq_lit(&v, "max")) {
                scf->expires = PT_HTTP_STICKY_MAX;
                continue;
            }

            n = pt_parse_time(&v, 1);

            if (n == PT_ERROR) {
                pt_conf_error(cf, "invalid value \"%.*s\"",
                              PT_STR_ARG(value[i]));
                return PT_CONF_ERROR;
            }

            scf->expires = (time_t) n;
            continue;
        }

        if (value[i].len >= sizeof("domain=") - 1
            && pt_strncmp(value[i].data, "domain=", 7) == 0)
        {
            if (pt_http_upstream_sticky_once(cf, &seen, 0x02, &value[i])
                != PT_OK)
            {
                return PT_CONF_ERROR;
            }

            domain.data = value[i].data + 7;
            domain.len = value[i].len - 7;

            if (!pt_http_upstream_sticky_domain(&domain)) {
                pt_conf_error(cf, "invalid value \"%.*s\"",
                              PT_STR_ARG(value[i]));
                return PT_CONF_ERROR;
            }

            continue;
        }

        if (value[i].len >= sizeof("path=") - 1
            && pt_strncmp(value[i].data, "path=", 5) == 0)
        {
            if (pt_http_upstream_sticky_once(cf, &seen, 0x04, &value[i])
                != PT_OK)
            {
                return PT_CONF_ERROR;
            }

            path.data = value[i].data + 5;
            path.len = value[i].len - 5;

            if (!pt_http_upstream_sticky_path(&path)) {
                pt_conf_error(cf, "invalid value \"%.*s\"",
                              PT_STR_ARG(value[i]));
                return PT_CONF_ERROR;
            }

            continue;
        }

        if (pt_str_eq_lit(&value[i], "httponly")) {
            if (pt_http_upstream_sticky_once(cf, &seen, 0x08, &value[i])
                != PT_OK)
            {
                return PT_CONF_ERROR;
            }

            httponly = 1;
            continue;
        }

        if (pt_str_eq_lit(&value[i], "secure")) {
            if (pt_http_upstream_sticky_once(cf, &seen, 0x10, &value[i])
                != PT_OK)
            {
                return PT_CONF_ERROR;
            }

            secure = 1;
            continue;
        }

        if (value[i].len >= sizeof("samesite=") - 1
            && pt_strncmp(value[i].data, "samesite=", 9) == 0)
        {
            if (pt_http_upstream_sticky_once(cf, &seen, 0x20, &value[i])
                != PT_OK)
            {
                return PT_CONF_ERROR;
            }

            v.data = value[i].data + 9;
            v.len = value[i].len - 9;

            if (pt_str_eq_lit(&v, "strict")) {
                pt_str_set(&samesite, "Strict");

            } else if (pt_str_eq_lit(&v, "lax")) {
                pt_str_set(&samesite, "Lax");

            } else if (pt_str_eq_lit(&v, "none")) {
                pt_str_set(&samesite, "None");

            } else {
                pt_conf_error(cf, "invalid value \"%.*s\"",
                              PT_STR_ARG(value[i]));
                return PT_CONF_ERROR;
            }

            continue;
        }

        pt_conf_error(cf, "invalid parameter \"%.*s\"", PT_STR_ARG(value[i]));
        return PT_CONF_ERROR;
    }

    if (samesite.len == 4 && !secure) {
        pt_conf_log_error(PT_LOG_WARN, cf, 0, "browsers drop a cookie with "
                          "\"samesite=none\" and without \"secure\"");
    }

    /* everything after expires and max-age is the same every time */

    len = (domain.len ? sizeof("; domain=") - 1 + domain.len : 0)
          + sizeof("; path=") - 1 + path.len
          + (httponly ? sizeof("; HttpOnly") - 1 : 0)
          + (secure ? sizeof("; Secure") - 1 : 0)
          + (samesite.len ? sizeof("; SameSite=") - 1 + samesite.len : 0);

    p = pt_pnalloc(cf->pool, len);
    if (p == NULL) {
        return PT_CONF_ERROR;
    }

    scf->attrs.data = p;

    if (domain.len) {
        p = pt_cpymem(p, "; domain=", sizeof("; domain=") - 1);
        p = pt_cpymem(p, domain.data, domain.len);
    }

    p = pt_cpymem(p, "; path=", sizeof("; path=") - 1);
    p = pt_cpymem(p, path.data, path.len);

    if (httponly) {
        p = pt_cpymem(p, "; HttpOnly", sizeof("; HttpOnly") - 1);
    }

    if (secure) {
        p = pt_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    if (samesite.len) {
        p = pt_cpymem(p, "; SameSite=", sizeof("; SameSite=") - 1);
        p = pt_cpymem(p, samesite.data, samesite.len);
    }

    scf->attrs.len = p - scf->attrs.data;

    scfp = pt_array_push(&smcf->groups);
    if (scfp == NULL) {
        return PT_CONF_ERROR;
    }

    *scfp = scf;

    return PT_CONF_OK;
}
