/*
 * The upstream machinery: "upstream" blocks and implicit groups, the
 * smooth weighted round-robin balancer, the per-worker cache of idle
 * keep-alive connections, and the life of one upstream request: connect,
 * send, read the head (parsed by the protocol module), relay the body to
 * the client with backpressure, and release the connection.
 */
#include "pt_http.h"


typedef struct {
    pt_array_t                    upstreams;  /* of pt_http_upstream_srv_conf_t * */
} pt_http_upstream_main_conf_t;

typedef struct {
    pt_queue_t                    queue;
    pt_connection_t              *connection;
    pt_http_request_t            *request;      /* using it now, or NULL */
    pt_http_upstream_srv_conf_t  *upstream;
    pt_uint_t                     requests;
    pt_msec_t                     start;
    struct sockaddr              *sockaddr;
    socklen_t                     socklen;
} pt_http_upstream_cached_t;


static char *pt_http_upstream_block(pt_conf_t *cf, pt_command_t *cmd,
    void *dummy);
static char *pt_http_upstream_server(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_upstream_keepalive(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static void *pt_http_upstream_create_main_conf(pt_conf_t *cf);
static char *pt_http_upstream_init_main_conf(pt_conf_t *cf, void *conf);
static pt_int_t pt_http_upstream_add_variables(pt_conf_t *cf);

static void pt_http_upstream_connect(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_handler(pt_event_t *ev);
static void pt_http_upstream_send_request(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_process_header(pt_http_request_t *r,
    pt_http_upstream_t *u);
static pt_int_t pt_http_upstream_send_response(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_process_body(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_downstream_handler(pt_http_request_t *r);
static void pt_http_upstream_check_broken_connection(pt_http_request_t *r);
static pt_uint_t pt_http_upstream_idempotent(pt_http_request_t *r);
static void pt_http_upstream_next(pt_http_request_t *r,
    pt_http_upstream_t *u, pt_uint_t ft_type);
static void pt_http_upstream_finalize_request(pt_http_request_t *r,
    pt_http_upstream_t *u, pt_int_t rc);
static void pt_http_upstream_cleanup(void *data);
static void pt_http_upstream_close_peer(pt_http_upstream_t *u);
static void pt_http_upstream_tunnel(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_ssl_init(pt_http_request_t *r,
    pt_http_upstream_t *u, pt_connection_t *c);


static pt_command_t  pt_http_upstream_commands[] = {

    { pt_string("upstream"),
      PT_HTTP_MAIN_CONF | PT_CONF_BLOCK | PT_CONF_TAKE1,
      pt_http_upstream_block,
      0,
      0,
      NULL },

    { pt_string("server"),
      PT_HTTP_UPS_CONF | PT_CONF_1MORE,
      pt_http_upstream_server,
      PT_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { pt_string("keepalive"),
      PT_HTTP_UPS_CONF | PT_CONF_TAKE1,
      pt_http_upstream_keepalive,
      PT_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { pt_string("keepalive_timeout"),
      PT_HTTP_UPS_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_upstream_srv_conf_t, keepalive_timeout),
      NULL },

    { pt_string("keepalive_requests"),
      PT_HTTP_UPS_CONF | PT_CONF_TAKE1,
      pt_conf_set_num_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_upstream_srv_conf_t, keepalive_requests),
      NULL },

    { pt_string("keepalive_time"),
      PT_HTTP_UPS_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_upstream_srv_conf_t, keepalive_time),
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_upstream_module_ctx = {
    pt_http_upstream_add_variables,         /* preconfiguration */
    NULL,                                   /* postconfiguration */
    pt_http_upstream_create_main_conf,
    pt_http_upstream_init_main_conf,
    NULL, NULL, NULL, NULL
};


pt_module_t  pt_http_upstream_module = {
    .ctx = &pt_http_upstream_module_ctx,
    .commands = pt_http_upstream_commands,
    .type = PT_HTTP_MODULE,
};


/* configuration */

static void *
pt_http_upstream_create_main_conf(pt_conf_t *cf)
{
    pt_http_upstream_main_conf_t  *umcf;

    umcf = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_main_conf_t));
    if (umcf == NULL) {
        return NULL;
    }

    if (pt_array_init(&umcf->upstreams, cf->pool, 4,
                      sizeof(pt_http_upstream_srv_conf_t *)) != PT_OK)
    {
        return NULL;
    }

    return umcf;
}


/*
 * Finds or creates the group for u: a named "upstream" block, or the
 * implicit group of a proxy_pass address (resolved when the http block
 * ends, so an upstream block may come after the proxy_pass naming it).
 */
pt_http_upstream_srv_conf_t *
pt_http_upstream_add(pt_conf_t *cf, pt_url_t *u, pt_uint_t implicit)
{
    pt_uint_t                       i;
    pt_http_upstream_srv_conf_t    *uscf, **uscfp;
    pt_http_upstream_main_conf_t   *umcf;

    umcf = pt_http_conf_get_module_main_conf(cf, pt_http_upstream_module);

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (!pt_str_caseeq(&uscfp[i]->host, &u->host)) {
            continue;
        }

        if (!implicit && !uscfp[i]->implicit) {
            pt_conf_error(cf, "duplicate upstream \"%.*s\"",
                          PT_STR_ARG(u->host));
            return NULL;
        }

        if (!implicit) {
            /* a block named after an implicit group defined before it */
            if (uscfp[i]->port) {
                pt_conf_error(cf, "upstream \"%.*s\" may not have port %u "
                              "in %s:%lu", PT_STR_ARG(u->host),
                              (unsigned) uscfp[i]->port,
                              (char *) uscfp[i]->file_name,
                              (unsigned long) uscfp[i]->line);
                return NULL;
            }

            uscfp[i]->implicit = 0;
            uscfp[i]->file_name = cf->conf_file->name.data;
            uscfp[i]->line = cf->conf_file->line;
            return uscfp[i];
        }

        if (uscfp[i]->implicit
            && uscfp[i]->port != (u->no_port ? 0 : u->port))
        {
            continue;
        }

        if (!uscfp[i]->implicit && !u->no_port) {
            continue;       /* "name:port" is a host, not the group */
        }

        return uscfp[i];
    }

    uscf = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_srv_conf_t));
    if (uscf == NULL) {
        return NULL;
    }

    uscf->host = u->host;
    uscf->port = (implicit && !u->no_port) ? u->port : 0;
    uscf->implicit = implicit;
    uscf->is_unix = (u->family == AF_UNIX);
    uscf->file_name = cf->conf_file ? cf->conf_file->name.data
                                    : (u_char *) "command line";
    uscf->line = cf->conf_file ? cf->conf_file->line : 0;
    uscf->keepalive_timeout = PT_CONF_UNSET_MSEC;
    uscf->keepalive_requests = PT_CONF_UNSET_UINT;
    uscf->keepalive_time = PT_CONF_UNSET_MSEC;

    if (implicit && u->naddrs) {
        /* an address given outright (unix: or a resolved literal) */
        pt_http_upstream_server_t  *us;

        uscf->servers = pt_array_create(cf->pool, 1,
                                        sizeof(pt_http_upstream_server_t));
        if (uscf->servers == NULL) {
            return NULL;
        }

        us = pt_array_push(uscf->servers);
        if (us == NULL) {
            return NULL;
        }

        pt_memzero(us, sizeof(pt_http_upstream_server_t));
        us->name = u->url;
        us->addrs = u->addrs;
        us->naddrs = u->naddrs;
        us->weight = 1;
        us->max_fails = 1;
        us->fail_timeout = 10;
    }

    uscfp = pt_array_push(&umcf->upstreams);
    if (uscfp == NULL) {
        return NULL;
    }

    *uscfp = uscf;

    return uscf;
}


static char *
pt_http_upstream_block(pt_conf_t *cf, pt_command_t *cmd, void *dummy)
{
    char                          *rv;
    pt_url_t                       u;
    pt_str_t                      *value;
    pt_conf_t                      pcf;
    pt_http_conf_ctx_t            *ctx, *http_ctx;
    pt_http_upstream_srv_conf_t   *uscf;

    value = cf->args->elts;

    pt_memzero(&u, sizeof(pt_url_t));
    u.host = value[1];
    u.url = value[1];
    u.no_resolve = 1;
    u.no_port = 1;

    uscf = pt_http_upstream_add(cf, &u, 0);
    if (uscf == NULL) {
        return PT_CONF_ERROR;
    }

    if (uscf->servers == NULL) {
        uscf->servers = pt_array_create(cf->pool, 4,
                                        sizeof(pt_http_upstream_server_t));
        if (uscf->servers == NULL) {
            return PT_CONF_ERROR;
        }
    }

    ctx = pt_pcalloc(cf->pool, sizeof(pt_http_conf_ctx_t));
    if (ctx == NULL) {
        return PT_CONF_ERROR;
    }

    http_ctx = cf->ctx;
    ctx->main_conf = http_ctx->main_conf;
    ctx->loc_conf = http_ctx->loc_conf;

    ctx->srv_conf = pt_pcalloc(cf->pool, sizeof(void *) * pt_http_max_module);
    if (ctx->srv_conf == NULL) {
        return PT_CONF_ERROR;
    }

    ctx->srv_conf[pt_http_upstream_module.ctx_index] = uscf;

    pcf = *cf;
    cf->ctx = ctx;
    cf->cmd_type = PT_HTTP_UPS_CONF;

    rv = pt_conf_parse(cf, NULL);

    *cf = pcf;

    if (rv != PT_CONF_OK) {
        return rv;
    }

    if (uscf->servers->nelts == 0) {
        pt_conf_error(cf, "no servers are inside upstream");
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


/* server ADDRESS [weight=N] [max_fails=N] [fail_timeout=T] [down] [backup] */
static char *
pt_http_upstream_server(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_upstream_srv_conf_t  *uscf = conf;

    time_t                      fail_timeout;
    pt_int_t                    weight, max_fails, n;
    pt_str_t                   *value, s;
    pt_url_t                    u;
    pt_uint_t                   i;
    pt_http_upstream_server_t  *us;

    value = cf->args->elts;

    weight = 1;
    max_fails = 1;
    fail_timeout = 10;

    us = pt_array_push(uscf->servers);
    if (us == NULL) {
        return PT_CONF_ERROR;
    }

    pt_memzero(us, sizeof(pt_http_upstream_server_t));

    for (i = 2; i < cf->args->nelts; i++) {

        if (pt_strncmp(value[i].data, "weight=", 7) == 0) {
            weight = pt_atoi(value[i].data + 7, value[i].len - 7);
            if (weight == PT_ERROR || weight == 0 || weight > 1000) {
                goto invalid;
            }
            continue;
        }

        if (pt_strncmp(value[i].data, "max_fails=", 10) == 0) {
            max_fails = pt_atoi(value[i].data + 10, value[i].len - 10);
            if (max_fails == PT_ERROR) {
                goto invalid;
            }
            continue;
        }

        if (pt_strncmp(value[i].data, "fail_timeout=", 13) == 0) {
            s.data = value[i].data + 13;
            s.len = value[i].len - 13;

            n = pt_parse_time(&s, 1);
            if (n == PT_ERROR) {
                goto invalid;
            }

            fail_timeout = (time_t) n;
            continue;
        }

        if (pt_str_eq_lit(&value[i], "down")) {
            us->down = 1;
            continue;
        }

        goto invalid;
    }

    pt_memzero(&u, sizeof(pt_url_t));

    u.url = value[1];
    u.default_port = 80;

    if (pt_parse_url(cf->pool, &u) != PT_OK) {
        if (u.err) {
            pt_conf_error(cf, "%s in upstream \"%.*s\"", u.err,
                          PT_STR_ARG(u.url));
        }

        return PT_CONF_ERROR;
    }

    us->name = u.url;
    us->addrs = u.addrs;
    us->naddrs = u.naddrs;
    us->weight = weight;
    us->max_fails = max_fails;
    us->fail_timeout = fail_timeout;

    return PT_CONF_OK;

invalid:

    pt_conf_error(cf, "invalid parameter \"%.*s\"", PT_STR_ARG(value[i]));

    return PT_CONF_ERROR;
}


static char *
pt_http_upstream_keepalive(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_upstream_srv_conf_t  *uscf = conf;

    pt_int_t   n;
    pt_str_t  *value;

    if (uscf->keepalive) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = pt_atoi(value[1].data, value[1].len);

    if (n == PT_ERROR || n == 0) {
        pt_conf_error(cf, "invalid value \"%.*s\" in \"keepalive\" directive",
                      PT_STR_ARG(value[1]));
        return PT_CONF_ERROR;
    }

    uscf->keepalive = (pt_uint_t) n;

    return PT_CONF_OK;
}


static void
pt_http_upstream_free_sessions(void *data)
{
    pt_uint_t                     i;
    pt_http_upstream_rr_peers_t  *peers = data;

    for (i = 0; i < peers->number; i++) {
        if (peers->peer[i].ssl_session) {
            SSL_SESSION_free(peers->peer[i].ssl_session);
            peers->peer[i].ssl_session = NULL;
        }
    }
}


/* Resolves implicit groups and builds every group's round-robin peers. */
static char *
pt_http_upstream_init_main_conf(pt_conf_t *cf, void *conf)
{
    pt_http_upstream_main_conf_t  *umcf = conf;

    pt_url_t                       u;
    pt_uint_t                      i, j, k, n, w;
    pt_http_upstream_server_t     *us;
    pt_http_upstream_srv_conf_t  **uscfp;
    pt_http_upstream_rr_peer_t    *peer;
    pt_http_upstream_rr_peers_t   *peers;
    pt_pool_cleanup_t             *cln;

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->servers == NULL) {
            /* proxy_pass http://NAME with no upstream NAME: a host name */
            pt_memzero(&u, sizeof(pt_url_t));

            u.host = uscfp[i]->host;
            u.port = uscfp[i]->port ? uscfp[i]->port : 80;

            if (pt_inet_resolve_host(cf->pool, &u) != PT_OK) {
                pt_log_error(PT_LOG_EMERG, cf->log, 0,
                             "host not found in upstream \"%.*s\" in %s:%lu",
                             PT_STR_ARG(uscfp[i]->host),
                             (char *) uscfp[i]->file_name,
                             (unsigned long) uscfp[i]->line);
                return PT_CONF_ERROR;
            }

            uscfp[i]->servers = pt_array_create(cf->pool, 1,
                                    sizeof(pt_http_upstream_server_t));
            if (uscfp[i]->servers == NULL) {
                return PT_CONF_ERROR;
            }

            us = pt_array_push(uscfp[i]->servers);
            if (us == NULL) {
                return PT_CONF_ERROR;
            }

            pt_memzero(us, sizeof(pt_http_upstream_server_t));
            us->name = uscfp[i]->host;
            us->addrs = u.addrs;
            us->naddrs = u.naddrs;
            us->weight = 1;
            us->max_fails = 1;
            us->fail_timeout = 10;
        }

        pt_conf_init_msec_value(uscfp[i]->keepalive_timeout, 60000);
        pt_conf_init_uint_value(uscfp[i]->keepalive_requests, 1000);
        pt_conf_init_msec_value(uscfp[i]->keepalive_time, 3600000);

        pt_queue_init(&uscfp[i]->cache);

        us = uscfp[i]->servers->elts;
        n = 0;

        for (j = 0; j < uscfp[i]->servers->nelts; j++) {
            n += us[j].naddrs;
        }

        if (n > 128) {
            pt_log_error(PT_LOG_EMERG, cf->log, 0,
                         "upstream \"%.*s\" has more than 128 addresses",
                         PT_STR_ARG(uscfp[i]->host));
            return PT_CONF_ERROR;
        }

        peers = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_rr_peers_t));
        peer = pt_pcalloc(cf->pool, n * sizeof(pt_http_upstream_rr_peer_t));
        if (peers == NULL || peer == NULL) {
            return PT_CONF_ERROR;
        }

        n = 0;
        w = 0;

        for (j = 0; j < uscfp[i]->servers->nelts; j++) {
            for (k = 0; k < us[j].naddrs; k++) {
                peer[n].sockaddr = us[j].addrs[k].sockaddr;
                peer[n].socklen = us[j].addrs[k].socklen;
                peer[n].name = us[j].addrs[k].name;
                peer[n].weight = us[j].weight;
                peer[n].effective_weight = us[j].weight;
                peer[n].current_weight = 0;
                peer[n].max_fails = us[j].max_fails;
                peer[n].fail_timeout = us[j].fail_timeout;
                peer[n].down = us[j].down;
                w += us[j].weight;
                n++;
            }
        }

        peers->number = n;
        peers->total_weight = w;
        peers->peer = peer;
        peers->name = &uscfp[i]->host;

        /* TLS sessions kept per server are freed with the configuration */
        cln = pt_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return PT_CONF_ERROR;
        }

        cln->handler = pt_http_upstream_free_sessions;
        cln->data = peers;

        uscfp[i]->peers = peers;
    }

    return PT_CONF_OK;
}


/* the round-robin balancer */

/*
 * Smooth weighted round robin: every usable peer gains its weight, the
 * richest is chosen and pays the total. Peers that failed max_fails times
 * within fail_timeout rest for fail_timeout. Returns NULL when none is
 * usable.
 */
static pt_http_upstream_rr_peer_t *
pt_http_upstream_get_round_robin_peer(pt_http_upstream_t *u)
{
    time_t                        now;
    pt_int_t                      total;
    pt_uint_t                     i;
    pt_http_upstream_rr_peer_t   *peer, *best;
    pt_http_upstream_rr_peers_t  *peers;

    peers = u->upstream->peers;
    now = pt_monotonic_time();

    best = NULL;
    total = 0;

    for (i = 0; i < peers->number; i++) {
        peer = &peers->peer[i];

        if (u->tried[i / 64] & ((uint64_t) 1 << (i % 64))) {
            continue;
        }

        if (peer->down) {
            continue;
        }

        /* a group of one is never unavailable (nginx's "single") */
        if (peers->number > 1
            && peer->max_fails && peer->fails >= peer->max_fails
            && now - peer->checked <= peer->fail_timeout)
        {
            continue;
        }

        peer->current_weight += peer->effective_weight;
        total += peer->effective_weight;

        if (peer->effective_weight < peer->weight) {
            peer->effective_weight++;
        }

        if (best == NULL || peer->current_weight > best->current_weight) {
            best = peer;
        }
    }

    if (best == NULL) {
        /*
         * This request gets a 502; the next one tries them all again
         * rather than wait out fail_timeout with no server at all.
         */
        for (i = 0; i < peers->number; i++) {
            peers->peer[i].fails = 0;
        }

        return NULL;
    }

    best->current_weight -= total;

    i = best - peers->peer;
    u->tried[i / 64] |= (uint64_t) 1 << (i % 64);

    return best;
}


static void
pt_http_upstream_free_round_robin_peer(pt_http_upstream_t *u,
    pt_uint_t failed)
{
    pt_http_upstream_rr_peer_t  *peer;

    peer = u->rr_peer;

    if (peer == NULL) {
        return;
    }

    if (u->upstream->peers->number == 1) {
        failed = 0;         /* a group of one keeps no score */
    }

    if (failed) {
        peer->fails++;
        peer->checked = pt_monotonic_time();

        if (peer->max_fails) {
            peer->effective_weight -= peer->weight / peer->max_fails;
        }

        if (peer->effective_weight < 0) {
            peer->effective_weight = 0;
        }

        if (peer->max_fails && peer->fails >= peer->max_fails) {
            pt_log_error(PT_LOG_WARN, pt_cycle->log, 0,
                         "upstream server temporarily disabled: %.*s",
                         PT_STR_ARG(peer->name));
        }

    } else if (peer->fails
               && pt_monotonic_time() - peer->checked > peer->fail_timeout)
    {
        peer->fails = 0;
    }

    u->rr_peer = NULL;
}


/* the keep-alive cache of idle upstream connections */

static void
pt_http_upstream_cached_close(pt_http_upstream_cached_t *item)
{
    pt_connection_t  *c;

    c = item->connection;

    pt_queue_remove(&item->queue);
    item->upstream->cached--;

    if (c->ssl) {
        (void) pt_ssl_shutdown(c);
    }

    pt_close_connection(c);
    pt_destroy_pool(c->pool);
    free(item);
}


/* An idle cached connection said something (EOF, data): it cannot be reused. */
static void
pt_http_upstream_cached_handler(pt_event_t *ev)
{
    char                        buf[1];
    pt_connection_t            *c;
    pt_http_upstream_cached_t  *item;

    c = ev->data;
    item = c->data;

    if (ev->write) {
        return;
    }

    if (!ev->timedout && c->close == 0) {
        ssize_t  n;

        n = recv(c->fd, buf, 1, MSG_PEEK);

        if (n == -1 && errno == EAGAIN) {
            ev->ready = 0;
            return;
        }
    }

    pt_http_upstream_cached_close(item);
}


static pt_http_upstream_cached_t *
pt_http_upstream_cache_get(pt_http_upstream_t *u)
{
    pt_queue_t                 *q;
    pt_http_upstream_cached_t  *item;

    for (q = pt_queue_head(&u->upstream->cache);
         q != pt_queue_sentinel(&u->upstream->cache);
         q = pt_queue_next(q))
    {
        item = pt_queue_data(q, pt_http_upstream_cached_t, queue);

        if (pt_cmp_sockaddr(item->sockaddr, item->socklen,
                            u->rr_peer->sockaddr, u->rr_peer->socklen, 1)
            == PT_OK)
        {
            pt_queue_remove(q);
            u->upstream->cached--;
            pt_reusable_connection(item->connection, 0);
            return item;
        }
    }

    return NULL;
}


/* Keeps the upstream connection for the next request when it can be. */
static void
pt_http_upstream_cache_put(pt_http_upstream_t *u)
{
    pt_connection_t            *c;
    pt_http_upstream_srv_conf_t  *uscf;
    pt_http_upstream_cached_t  *item;

    c = u->peer;
    uscf = u->upstream;

    item = c->data;     /* set when the connection was made or reused */

    item->requests++;

    if (!u->keepalive || uscf->keepalive == 0 || pt_exiting
        || u->request_out       /* the backend did not get it all */
        || item->requests >= uscf->keepalive_requests
        || pt_current_msec - item->start >= uscf->keepalive_time
        || c->read->error || c->read->eof || c->read->timedout)
    {
        pt_http_upstream_close_peer(u);
        return;
    }

    if (uscf->cached >= uscf->keepalive) {
        /* make room: the least recently used goes */
        pt_queue_t  *q;

        q = pt_queue_last(&uscf->cache);
        pt_http_upstream_cached_close(pt_queue_data(q,
                                          pt_http_upstream_cached_t, queue));
    }

    if (c->read->timer_set) {
        pt_event_del_timer(c->read);
    }

    if (c->write->timer_set) {
        pt_event_del_timer(c->write);
    }

    c->read->handler = pt_http_upstream_cached_handler;
    c->write->handler = pt_http_upstream_cached_handler;
    c->log = pt_cycle->log;
    c->read->log = pt_cycle->log;
    c->write->log = pt_cycle->log;
    c->pool->log = pt_cycle->log;

    pt_event_add_timer(c->read, uscf->keepalive_timeout);

    pt_queue_insert_head(&uscf->cache, &item->queue);
    uscf->cached++;

    /* closed at once by a graceful shutdown, or when connections run out */
    pt_reusable_connection(c, 1);

    u->peer = NULL;

    if (c->read->ready) {
        pt_http_upstream_cached_handler(c->read);
    }
}


/* the request */

pt_int_t
pt_http_upstream_create(pt_http_request_t *r)
{
    pt_http_upstream_t  *u;
    pt_pool_cleanup_t   *cln;

    u = pt_pcalloc(r->pool, sizeof(pt_http_upstream_t));
    if (u == NULL) {
        return PT_ERROR;
    }

    cln = pt_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return PT_ERROR;
    }

    cln->handler = pt_http_upstream_cleanup;
    cln->data = r;

    u->length = -1;
    u->headers_in.content_length_n = -1;

    u->states = pt_array_create(r->pool, 1, sizeof(pt_http_upstream_state_t));
    if (u->states == NULL) {
        return PT_ERROR;
    }

    r->upstream = u;

    return PT_OK;
}


/* The body (if any) is read: build the request and connect. */
void
pt_http_upstream_init(pt_http_request_t *r)
{
    pt_http_upstream_t  *u;

    u = r->upstream;

    u->upstream = u->conf->upstream;
    u->start_time = pt_current_msec;

    if (u->create_request(r) != PT_OK) {
        pt_http_finalize_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    u->tries = u->conf->next_upstream_tries
               ? pt_min(u->conf->next_upstream_tries,
                        u->upstream->peers->number)
               : u->upstream->peers->number;

    r->main->count++;

    r->read_event_handler = pt_http_upstream_check_broken_connection;

    pt_http_upstream_connect(r, u);
}


/*
 * The client's side said something while we deal with the upstream: a
 * client that left takes the upstream connection with it (nginx's
 * proxy_ignore_client_abort off) instead of holding it for
 * proxy_read_timeout. Pipelined bytes wait for their turn.
 */
static void
pt_http_upstream_check_broken_connection(pt_http_request_t *r)
{
    char                 buf[1];
    ssize_t              n;
    pt_err_t             err;
    pt_connection_t     *c;
    pt_http_upstream_t  *u;

    c = r->connection;
    u = r->upstream;

    if (u == NULL || u->upgrading || c->error) {
        return;
    }

    if (!c->read->pending_eof) {
        n = recv(c->fd, buf, 1, MSG_PEEK);
        err = errno;

        if (n > 0 || (n == -1 && (err == EAGAIN || err == EINTR))) {
            return;
        }

        if (n == 0) {
            err = 0;
        }

    } else {
        err = 0;
    }

    c->error = 1;

    pt_log_error(PT_LOG_INFO, c->log, err,
                 "client prematurely closed connection, "
                 "so upstream connection is closed too");

    pt_http_upstream_finalize_request(r, u, PT_HTTP_CLIENT_CLOSED_REQUEST);
}


static pt_int_t
pt_http_upstream_new_state(pt_http_request_t *r, pt_http_upstream_t *u)
{
    u->state = pt_array_push(u->states);
    if (u->state == NULL) {
        return PT_ERROR;
    }

    pt_memzero(u->state, sizeof(pt_http_upstream_state_t));

    u->state->connect_time = (pt_msec_t) -1;
    u->state->header_time = (pt_msec_t) -1;
    u->start_time = pt_current_msec;

    return PT_OK;
}


/*
 * Sending moves the buffers' positions: every attempt sends copies, so
 * that a retry (another server, or a new connection after a kept-alive one
 * turned out closed) sends the whole request again.
 */
static pt_int_t
pt_http_upstream_request_copy(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_buf_t     *b;
    pt_chain_t   *cl, *ln, **ll;

    ll = &u->request_out;

    for (cl = u->request_bufs; cl; cl = cl->next) {
        ln = pt_alloc_chain_link(r->pool);
        b = pt_calloc_buf(r->pool);
        if (ln == NULL || b == NULL) {
            return PT_ERROR;
        }

        *b = *cl->buf;
        ln->buf = b;
        ln->next = NULL;

        *ll = ln;
        ll = &ln->next;
    }

    *ll = NULL;

    return PT_OK;
}


static void
pt_http_upstream_connect(pt_http_request_t *r, pt_http_upstream_t *u)
{
    int                         rc;
    pt_fd_t                     s;
    pt_pool_t                  *pool;
    pt_connection_t            *c;
    pt_http_upstream_cached_t  *item;

    if (pt_http_upstream_new_state(r, u) != PT_OK) {
        pt_http_upstream_finalize_request(r, u, PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    u->rr_peer = pt_http_upstream_get_round_robin_peer(u);

    if (u->rr_peer == NULL) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "no live upstreams while connecting to upstream \"%.*s\"",
                     PT_STR_ARG(u->upstream->host));
        pt_http_upstream_finalize_request(r, u, PT_HTTP_BAD_GATEWAY);
        return;
    }

    u->state->peer = &u->rr_peer->name;

    r->connection->log->action = "connecting to upstream";

    u->cached = 0;
    u->request_sent = 0;
    u->keepalive = 0;
    u->eof = 0;
    u->done = 0;
    u->headers_in.status_n = 0;
    u->headers_in.content_length_n = -1;
    u->headers_in.chunked = 0;
    u->headers_in.connection_close = 0;
    u->headers_in.connection_upgrade = 0;
    u->length = -1;
    pt_memzero(&u->chunked, sizeof(pt_http_chunked_t));

    if (pt_http_upstream_request_copy(r, u) != PT_OK) {
        pt_http_upstream_finalize_request(r, u, PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    item = (u->upstream->keepalive) ? pt_http_upstream_cache_get(u) : NULL;

    if (item) {
        c = item->connection;

        if (c->read->timer_set) {
            pt_event_del_timer(c->read);
        }

        u->peer = c;
        u->cached = 1;

        item->request = r;
        c->data = item;
        c->log = r->connection->log;
        c->read->log = c->log;
        c->write->log = c->log;
        c->pool->log = c->log;
        c->read->handler = pt_http_upstream_handler;
        c->write->handler = pt_http_upstream_handler;

        u->state->connect_time = 0;

        pt_http_upstream_send_request(r, u);
        return;
    }

    s = socket(u->rr_peer->sockaddr->sa_family,
               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (s == -1) {
        pt_log_error(PT_LOG_ALERT, r->connection->log, errno,
                     "socket() failed");
        pt_http_upstream_finalize_request(r, u, PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    c = pt_get_connection(s, r->connection->log);
    if (c == NULL) {
        (void) close(s);
        pt_http_upstream_finalize_request(r, u, PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    pool = pt_create_pool(256, r->connection->log);
    item = pt_calloc(sizeof(pt_http_upstream_cached_t), r->connection->log);

    if (pool == NULL || item == NULL) {
        if (pool) {
            pt_destroy_pool(pool);
        }
        free(item);
        pt_close_connection(c);
        pt_http_upstream_finalize_request(r, u, PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    item->connection = c;
    item->request = r;
    item->upstream = u->upstream;
    item->start = pt_current_msec;
    item->sockaddr = u->rr_peer->sockaddr;
    item->socklen = u->rr_peer->socklen;

    c->pool = pool;
    c->data = item;
    c->type = SOCK_STREAM;
    c->recv = pt_unix_recv;
    c->send = pt_unix_send;
    c->send_chain = pt_linux_send_chain;
    c->sockaddr = u->rr_peer->sockaddr;
    c->socklen = u->rr_peer->socklen;
    c->addr_text = u->rr_peer->name;
    c->log_error = PT_ERROR_ERR;

    c->read->handler = pt_http_upstream_handler;
    c->write->handler = pt_http_upstream_handler;

    u->peer = c;

    if (u->rr_peer->sockaddr->sa_family != AF_UNIX) {
        int  on = 1;

        (void) setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(int));
        c->tcp_nodelay = PT_TCP_NODELAY_SET;
    }

    rc = connect(s, u->rr_peer->sockaddr, u->rr_peer->socklen);

    if (rc == -1 && errno != EINPROGRESS) {
        pt_log_error(PT_LOG_ERR, r->connection->log, errno,
                     "connect() to %.*s failed", PT_STR_ARG(u->rr_peer->name));
        pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_ERROR);
        return;
    }

    if (pt_event_add_conn(c) != PT_OK) {
        pt_http_upstream_finalize_request(r, u, PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == 0) {
        c->write->ready = 1;
        u->state->connect_time = pt_current_msec - u->start_time;
        pt_http_upstream_send_request(r, u);
        return;
    }

    pt_event_add_timer(c->write, u->conf->connect_timeout);
}


static void
pt_http_upstream_handler(pt_event_t *ev)
{
    pt_connection_t            *pc;
    pt_http_request_t          *r;
    pt_http_upstream_t         *u;
    pt_http_upstream_cached_t  *item;

    pc = ev->data;
    item = pc->data;
    r = item->request;

    if (r == NULL) {
        return;
    }

    u = r->upstream;

    if (u->upgrading) {
        pt_http_upstream_tunnel(r, u);
        return;
    }

    if (ev->write) {
        /* once the answer is the client's, the rest of the request stays */
        if (!u->header_sent && (!u->request_sent || u->request_out)) {
            pt_http_upstream_send_request(r, u);
        }
        return;
    }

    if (!u->header_sent) {
        pt_http_upstream_process_header(r, u);
    } else {
        pt_http_upstream_process_body(r, u);
    }
}


/* The TLS handshake with the server is over, one way or the other. */
static void
pt_http_upstream_ssl_handshaked(pt_connection_t *c)
{
    SSL_SESSION                *session;
    pt_http_request_t          *r;
    pt_http_upstream_t         *u;
    pt_ssl_connection_t        *sc;
    pt_http_upstream_cached_t  *item;

    item = c->data;
    r = item->request;

    if (r == NULL) {
        return;
    }

    u = r->upstream;
    sc = c->ssl;

    if (c->timedout) {
        c->timedout = 0;
        pt_log_error(PT_LOG_ERR, r->connection->log, ETIMEDOUT,
                     "upstream timed out in SSL handshake with %.*s",
                     PT_STR_ARG(u->rr_peer->name));
        pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_TIMEOUT);
        return;
    }

    if (!sc->handshaked) {
        pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_ERROR);
        return;
    }

    c->read->handler = pt_http_upstream_handler;
    c->write->handler = pt_http_upstream_handler;

    if (u->conf->ssl_session_reuse && u->rr_peer) {
        session = SSL_get1_session(sc->connection);

        if (session) {
            if (u->rr_peer->ssl_session) {
                SSL_SESSION_free(u->rr_peer->ssl_session);
            }

            u->rr_peer->ssl_session = session;
        }
    }

    pt_http_upstream_send_request(r, u);
}


static void
pt_http_upstream_ssl_init(pt_http_request_t *r, pt_http_upstream_t *u,
    pt_connection_t *c)
{
    pt_int_t   rc;
    pt_str_t  *name;

    r->connection->log->action = "SSL handshaking to upstream";

    if (c->ssl == NULL) {
        name = u->conf->ssl_name.len ? &u->conf->ssl_name
                                     : &u->upstream->host;

        if (pt_ssl_create_client_connection(u->conf->ssl, c, name,
                u->conf->ssl_server_name,
                u->conf->ssl_session_reuse && u->rr_peer
                ? u->rr_peer->ssl_session : NULL) != PT_OK)
        {
            pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_ERROR);
            return;
        }

        ((pt_ssl_connection_t *) c->ssl)->handler =
                                           pt_http_upstream_ssl_handshaked;
    }

    rc = pt_ssl_handshake(c);

    if (rc == PT_AGAIN) {
        if (!c->write->timer_set) {
            pt_event_add_timer(c->write, u->conf->connect_timeout);
        }
        return;
    }

    pt_http_upstream_ssl_handshaked(c);
}


static pt_int_t
pt_http_upstream_test_connect(pt_connection_t *c)
{
    int        err;
    socklen_t  len;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }

    if (err) {
        c->log->action = "connecting to upstream";
        (void) pt_connection_error(c, err, "connect() failed");
        return PT_ERROR;
    }

    return PT_OK;
}


static void
pt_http_upstream_send_request(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_chain_t       *rest;
    pt_connection_t  *c;

    c = u->peer;

    ((pt_http_upstream_cached_t *) c->data)->request = r;

    if (c->write->timedout) {
        c->write->timedout = 0;
        pt_log_error(PT_LOG_ERR, r->connection->log, ETIMEDOUT,
                     u->request_sent ? "upstream timed out while sending "
                                       "request to %.*s"
                                     : "upstream timed out while connecting "
                                       "to %.*s",
                     PT_STR_ARG(u->rr_peer->name));
        pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_TIMEOUT);
        return;
    }

    if (!u->request_sent && !u->cached) {
        if (pt_http_upstream_test_connect(c) != PT_OK) {
            pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_ERROR);
            return;
        }

        if (u->state->connect_time == (pt_msec_t) -1) {
            u->state->connect_time = pt_current_msec - u->start_time;
        }
    }

    if (u->conf->ssl
        && (c->ssl == NULL || !((pt_ssl_connection_t *) c->ssl)->handshaked))
    {
        pt_http_upstream_ssl_init(r, u, c);
        return;
    }

    if (!c->write->ready) {
        return;
    }

    r->connection->log->action = "sending request to upstream";

    rest = c->send_chain(c, u->request_out, 0);

    u->request_sent = 1;

    if (rest == PT_CHAIN_ERROR) {
        pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_ERROR);
        return;
    }

    u->request_out = rest;

    if (c->write->timer_set) {
        pt_event_del_timer(c->write);
    }

    if (rest) {
        pt_event_add_timer(c->write, u->conf->send_timeout);
        return;
    }

    /* all sent: wait for the answer */
    r->connection->log->action = "reading response header from upstream";

    if (!c->read->timer_set) {
        pt_event_add_timer(c->read, u->conf->read_timeout);
    }

    if (c->read->ready) {
        pt_http_upstream_process_header(r, u);
    }
}


static void
pt_http_upstream_process_header(pt_http_request_t *r, pt_http_upstream_t *u)
{
    ssize_t           n;
    pt_int_t          rc;
    pt_connection_t  *c;

    c = u->peer;

    if (c->read->timedout) {
        pt_log_error(PT_LOG_ERR, r->connection->log, ETIMEDOUT,
                     "upstream timed out while reading response header "
                     "from %.*s", PT_STR_ARG(u->rr_peer->name));
        pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_TIMEOUT);
        return;
    }

    if (!u->request_sent && !u->cached
        && pt_http_upstream_test_connect(c) != PT_OK)
    {
        pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_ERROR);
        return;
    }

    if (u->buffer.start == NULL) {
        u->buffer.start = pt_palloc(r->pool, u->conf->buffer_size);
        if (u->buffer.start == NULL) {
            pt_http_upstream_finalize_request(r, u,
                                              PT_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        u->buffer.pos = u->buffer.start;
        u->buffer.last = u->buffer.start;
        u->buffer.end = u->buffer.start + u->conf->buffer_size;
        u->buffer.temporary = 1;
    }

    for ( ;; ) {

        n = c->recv(c, u->buffer.last, u->buffer.end - u->buffer.last);

        if (n == PT_AGAIN) {
            if (!c->read->timer_set) {
                pt_event_add_timer(c->read, u->conf->read_timeout);
            }
            return;
        }

        if (n == 0) {
            pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                         "upstream prematurely closed connection while "
                         "reading response header from %.*s",
                         PT_STR_ARG(u->rr_peer->name));
        }

        if (n == PT_ERROR || n == 0) {
            pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_ERROR);
            return;
        }

        u->state->bytes_received += n;
        u->buffer.last += n;

        rc = u->process_header(r);

        if (rc == PT_AGAIN) {
            if (u->buffer.last == u->buffer.end) {
                pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                             "upstream sent too big header while reading "
                             "response header from %.*s",
                             PT_STR_ARG(u->rr_peer->name));
                pt_http_upstream_next(r, u,
                                      PT_HTTP_UPSTREAM_FT_INVALID_HEADER);
                return;
            }

            continue;
        }

        break;
    }

    if (rc == PT_ERROR) {
        pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_INVALID_HEADER);
        return;
    }

    /* the head is complete */

    u->state->header_time = pt_current_msec - u->start_time;
    u->state->status = u->headers_in.status_n;

    if (c->read->timer_set) {
        pt_event_del_timer(c->read);
    }

    if (c->write->timer_set) {
        /* answered before the whole request went: see the handler */
        pt_event_del_timer(c->write);
    }

    /* proxy_next_upstream on a status, while nothing went to the client */
    if (u->tries > 1) {
        pt_uint_t  ft;

        switch (u->headers_in.status_n) {
        case 500: ft = PT_HTTP_UPSTREAM_FT_HTTP_500; break;
        case 502: ft = PT_HTTP_UPSTREAM_FT_HTTP_502; break;
        case 503: ft = PT_HTTP_UPSTREAM_FT_HTTP_503; break;
        case 504: ft = PT_HTTP_UPSTREAM_FT_HTTP_504; break;
        case 403: ft = PT_HTTP_UPSTREAM_FT_HTTP_403; break;
        case 404: ft = PT_HTTP_UPSTREAM_FT_HTTP_404; break;
        case 429: ft = PT_HTTP_UPSTREAM_FT_HTTP_429; break;
        default: ft = 0;
        }

        /*
         * A non-idempotent request the backend answered is not sent again
         * unless allowed: its own answer goes to the client.
         */
        if (ft && (u->conf->next_upstream & ft)
            && (pt_http_upstream_idempotent(r)
                || (u->conf->next_upstream
                    & PT_HTTP_UPSTREAM_FT_NON_IDEMPOTENT)))
        {
            pt_http_upstream_next(r, u, ft);
            return;
        }
    }

    rc = pt_http_upstream_send_response(r, u);

    if (rc != PT_OK) {
        pt_http_upstream_finalize_request(r, u, rc);
        return;
    }

    if (u->upgrading) {
        pt_http_upstream_tunnel(r, u);
        return;
    }

    pt_http_upstream_process_body(r, u);
}


static pt_uint_t
pt_http_upstream_hop_by_hop(pt_table_elt_t *h, pt_http_upstream_t *u)
{
    static const char  *hop[] = {
        "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", NULL
    };

    pt_uint_t       i;
    u_char         *p, *last, *start;
    pt_table_elt_t *conn;

    for (i = 0; hop[i]; i++) {
        if (h->key.len == strlen(hop[i])
            && pt_strncmp(h->lowcase_key, hop[i], h->key.len) == 0)
        {
            if (i == 6 && u->upgrading) {
                return 0;   /* Upgrade goes through on a 101 */
            }

            return 1;
        }
    }

    /* and whatever the upstream's Connection header names */
    for (conn = u->headers_in.connection; conn; conn = conn->next) {
        p = conn->value.data;
        last = p + conn->value.len;

        while (p < last) {
            while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
                p++;
            }

            start = p;

            while (p < last && *p != ',' && *p != ' ' && *p != '\t') {
                p++;
            }

            if ((size_t) (p - start) == h->key.len
                && pt_strncasecmp(start, h->lowcase_key, h->key.len) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


pt_int_t
pt_http_upstream_hide_header(pt_http_upstream_conf_t *conf,
    pt_str_t *lowcase_name)
{
    pt_uint_t   i;
    pt_str_t   *h;

    if (conf->hide_headers == NULL) {
        return 0;
    }

    h = conf->hide_headers->elts;

    for (i = 0; i < conf->hide_headers->nelts; i++) {
        if (pt_str_eq(&h[i], lowcase_name)) {
            return 1;
        }
    }

    return 0;
}


/*
 * Gives the client the upstream's head: its status and end-to-end headers,
 * none of the hop-by-hop ones, none of those hidden.
 */
static pt_int_t
pt_http_upstream_send_response(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_int_t         rc;
    pt_str_t         lc;
    pt_uint_t        i, status;
    pt_list_part_t  *part;
    pt_table_elt_t  *h, *ho;

    status = u->headers_in.status_n;

    r->headers_out.status = status;

    part = &u->headers_in.headers.part;
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

        if (h[i].hash == 0 || pt_http_upstream_hop_by_hop(&h[i], u)) {
            continue;
        }

        lc.data = h[i].lowcase_key;
        lc.len = h[i].key.len;

        if (pt_http_upstream_hide_header(u->conf, &lc)) {
            continue;
        }

        if (pt_str_eq_lit(&lc, "content-type")) {
            r->headers_out.content_type = h[i].value;
            r->headers_out.content_type_len = h[i].value.len;
            continue;
        }

        ho = pt_list_push(&r->headers_out.headers);
        if (ho == NULL) {
            return PT_ERROR;
        }

        /* the protocol module stored the head in pool memory */
        *ho = h[i];
        ho->next = NULL;

        if (pt_str_eq_lit(&lc, "location")) {
            r->headers_out.location = ho;
        } else if (pt_str_eq_lit(&lc, "server")) {
            r->headers_out.server = ho;     /* proxy_pass_header: not ours */
        } else if (pt_str_eq_lit(&lc, "date")) {
            r->headers_out.date = ho;
        } else if (pt_str_eq_lit(&lc, "last-modified")) {
            r->headers_out.last_modified = ho;
        } else if (pt_str_eq_lit(&lc, "etag")) {
            r->headers_out.etag = ho;
        } else if (pt_str_eq_lit(&lc, "content-encoding")) {
            r->headers_out.content_encoding = ho;
        }
    }

    /*
     * A code we have no text for keeps the backend's reason phrase (other
     * filters may change a known status, and with it the text).
     */
    if (pt_http_status_text(status) == NULL
        && u->status.end - u->status.start > 4)
    {
        r->headers_out.status_line.len = u->status.end - u->status.start;
        r->headers_out.status_line.data = pt_pnalloc(r->pool,
                                              r->headers_out.status_line.len);
        if (r->headers_out.status_line.data == NULL) {
            return PT_ERROR;
        }

        pt_memcpy(r->headers_out.status_line.data, u->status.start,
                  r->headers_out.status_line.len);
    }

    /*
     * The length a HEAD or a 304 announces is the one of the body a GET
     * would get: it goes to the client although no body follows.
     */
    if (!u->headers_in.chunked && u->headers_in.content_length_n >= 0
        && status != PT_HTTP_NO_CONTENT && !u->upgrading)
    {
        /* (a GET sent upstream as a HEAD by proxy_method gets no body) */
        r->headers_out.content_length_n =
            (u->head && r->method != PT_HTTP_HEAD)
            ? 0 : u->headers_in.content_length_n;
    }

    /*
     * How the body ends: the method that went upstream says whether one
     * comes (proxy_method may differ from the client's); what the client
     * gets of it is the header filter's business (r->header_only).
     */

    if (u->head || status == PT_HTTP_NO_CONTENT
        || status == PT_HTTP_NOT_MODIFIED || u->upgrading)
    {
        u->length = 0;

    } else if (u->headers_in.chunked) {
        u->length = -2;     /* chunked */

    } else if (u->headers_in.content_length_n >= 0) {
        u->length = u->headers_in.content_length_n;

    } else {
        u->length = -1;     /* until the upstream closes */
        u->keepalive = 0;
    }

    u->header_sent = 1;

    r->connection->log->action = "sending to client";

    /*
     * The backend evaluated the request's preconditions itself: its answer
     * must not become a 412 or a 304 on the way.
     */
    r->disable_not_modified = 1;

    rc = pt_http_send_header(r);

    if (rc == PT_ERROR) {
        return PT_ERROR;
    }

    if (r->header_only && !u->upgrading) {
        if (u->length != 0) {
            /*
             * a filter made the answer bodiless (a 304, 412 or 416 to a
             * conditional or range request): the body stays unread
             */
            u->keepalive = 0;
        }

        u->length = 0;
    }

    return PT_OK;
}


static pt_buf_t *
pt_http_upstream_get_buf(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_chain_t  *cl;

    cl = u->free_bufs;

    if (cl) {
        u->free_bufs = cl->next;
    } else {
        cl = pt_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NULL;
        }

        cl->buf = pt_calloc_buf(r->pool);
        if (cl->buf == NULL) {
            return NULL;
        }
    }

    pt_memzero(cl->buf, sizeof(pt_buf_t));

    cl->next = u->busy_bufs;
    u->busy_bufs = cl;

    return cl->buf;
}


/*
 * Turns what is in the buffer into body slices for the client (no copy).
 * Returns PT_OK, PT_DONE at the end of the body, PT_ERROR on bad framing.
 */
static pt_int_t
pt_http_upstream_body_filter(pt_http_request_t *r, pt_http_upstream_t *u,
    pt_chain_t **out)
{
    off_t         n;
    pt_int_t      rc;
    pt_buf_t     *b, *src;
    pt_chain_t   *cl, **ll;

    src = &u->buffer;
    ll = out;
    *out = NULL;

    for ( ;; ) {

        if (u->length == 0) {
            if (src->pos < src->last) {
                /* more than the upstream announced: never reuse it */
                u->keepalive = 0;
                src->pos = src->last;
            }

            return PT_DONE;
        }

        if (src->pos == src->last) {
            return PT_OK;
        }

        if (u->length == -2) {
            rc = pt_http_parse_chunked(r, src, &u->chunked);

            if (rc == PT_DONE) {
                u->length = 0;
                continue;
            }

            if (rc == PT_AGAIN) {
                return PT_OK;
            }

            if (rc == PT_ERROR) {
                pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                             "upstream sent invalid chunked response");
                return PT_ERROR;
            }

            n = pt_min(u->chunked.size, (off_t) (src->last - src->pos));
            u->chunked.size -= n;

        } else if (u->length > 0) {
            n = pt_min(u->length, (off_t) (src->last - src->pos));
            u->length -= n;

        } else {
            n = src->last - src->pos;
        }

        if (n == 0) {
            continue;
        }

        b = pt_http_upstream_get_buf(r, u);
        cl = pt_alloc_chain_link(r->pool);
        if (b == NULL || cl == NULL) {
            return PT_ERROR;
        }

        b->memory = 1;
        b->pos = src->pos;
        b->last = src->pos + n;
        src->pos += n;

        cl->buf = b;
        cl->next = NULL;
        *ll = cl;
        ll = &cl->next;
    }
}


static pt_int_t
pt_http_upstream_pass(pt_http_request_t *r, pt_http_upstream_t *u,
    pt_chain_t *out, pt_uint_t last)
{
    pt_buf_t    *b;
    pt_chain_t  *cl, **ll;

    if (last) {
        b = pt_http_upstream_get_buf(r, u);
        cl = pt_alloc_chain_link(r->pool);
        if (b == NULL || cl == NULL) {
            return PT_ERROR;
        }

        b->last_buf = 1;
        cl->buf = b;
        cl->next = NULL;

        for (ll = &out; *ll; ll = &(*ll)->next) { /* void */ }
        *ll = cl;

        u->body_ended = 1;

    } else {
        /* stream what we have now: no holding back for postpone_output */
        for (cl = out; cl->next; cl = cl->next) { /* void */ }
        cl->buf->flush = 1;
    }

    return pt_http_output_filter(r, out);
}


/*
 * Relays the body. The one buffer is refilled only when everything taken
 * from it has gone to the client, so a slow client slows the reading and
 * memory stays at one buffer per request.
 */
static void
pt_http_upstream_process_body(pt_http_request_t *r, pt_http_upstream_t *u)
{
    ssize_t                   n;
    pt_int_t                  rc;
    pt_chain_t               *out, *cl;
    pt_connection_t          *pc, *c;
    pt_http_core_loc_conf_t  *clcf;

    pc = u->peer;
    c = r->connection;

    if (pc && pc->read->timedout) {
        pt_log_error(PT_LOG_ERR, c->log, ETIMEDOUT,
                     "upstream timed out while reading upstream %.*s",
                     PT_STR_ARG(u->rr_peer->name));
        pt_http_upstream_finalize_request(r, u, PT_ERROR);
        return;
    }

    for ( ;; ) {

        /*
         * Only body data of ours waiting for the client needs a push; a
         * head held back by postpone_output goes out with the first data.
         */
        if (r->out && u->busy_bufs) {
            rc = pt_http_output_filter(r, NULL);

            if (rc == PT_ERROR) {
                pt_http_upstream_finalize_request(r, u, PT_ERROR);
                return;
            }

            if (r->out) {
                r->write_event_handler = pt_http_upstream_downstream_handler;

                if (!c->write->timer_set) {
                    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);
                    pt_event_add_timer(c->write, clcf->send_timeout);
                }

                if (pc && pc->read->timer_set) {
                    /* the client holds us up, not the upstream */
                    pt_event_del_timer(pc->read);
                }

                return;
            }

            if (c->write->timer_set) {
                pt_event_del_timer(c->write);
            }
        }

        /* everything passed has gone: the links and the buffer are free */
        if (u->busy_bufs) {
            for (cl = u->busy_bufs; cl->next; cl = cl->next) { /* void */ }
            cl->next = u->free_bufs;
            u->free_bufs = u->busy_bufs;
            u->busy_bufs = NULL;
        }

        if (u->body_ended) {
            pt_http_upstream_finalize_request(r, u, PT_OK);
            return;
        }

        if (u->buffer.pos == u->buffer.last) {
            u->buffer.pos = u->buffer.start;
            u->buffer.last = u->buffer.start;
        }

        rc = pt_http_upstream_body_filter(r, u, &out);

        if (rc == PT_ERROR) {
            u->keepalive = 0;
            pt_http_upstream_finalize_request(r, u, PT_ERROR);
            return;
        }

        if (out || rc == PT_DONE) {
            if (pt_http_upstream_pass(r, u, out, rc == PT_DONE) == PT_ERROR) {
                pt_http_upstream_finalize_request(r, u, PT_ERROR);
                return;
            }

            continue;
        }

        /* the buffer is drained: read more */

        if (u->buffer.last == u->buffer.end) {
            u->buffer.pos = u->buffer.start;
            u->buffer.last = u->buffer.start;
        }

        n = pc->recv(pc, u->buffer.last, u->buffer.end - u->buffer.last);

        if (n == PT_AGAIN) {
            if (!pc->read->timer_set) {
                pt_event_add_timer(pc->read, u->conf->read_timeout);
            }

            r->write_event_handler = pt_http_upstream_downstream_handler;
            return;
        }

        if (n == 0 || n == PT_ERROR) {
            u->keepalive = 0;

            if (n == 0 && u->length == -1) {
                /* a close-delimited body ends here */
                u->length = 0;
                continue;
            }

            pt_log_error(PT_LOG_ERR, c->log, 0,
                         "upstream prematurely closed connection while "
                         "reading upstream %.*s",
                         PT_STR_ARG(u->rr_peer->name));

            /* a truncated body must not look complete to the client */
            pt_http_upstream_finalize_request(r, u, PT_ERROR);
            return;
        }

        u->state->bytes_received += n;
        u->buffer.last += n;

        if (pc->read->timer_set) {
            pt_event_del_timer(pc->read);
        }

        pt_event_add_timer(pc->read, u->conf->read_timeout);
    }
}


static void
pt_http_upstream_downstream_handler(pt_http_request_t *r)
{
    pt_http_upstream_t  *u;

    u = r->upstream;

    if (r->connection->write->timedout) {
        r->connection->timedout = 1;
        pt_log_error(PT_LOG_INFO, r->connection->log, ETIMEDOUT,
                     "client timed out");
        pt_http_upstream_finalize_request(r, u, PT_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (u->upgrading) {
        pt_http_upstream_tunnel(r, u);
        return;
    }

    pt_http_upstream_process_body(r, u);
}


static pt_uint_t
pt_http_upstream_idempotent(pt_http_request_t *r)
{
    return (r->method & (PT_HTTP_GET | PT_HTTP_HEAD | PT_HTTP_PUT
                         | PT_HTTP_DELETE | PT_HTTP_OPTIONS | PT_HTTP_TRACE))
           != 0;
}


/* This attempt failed: try the next server when allowed, else answer. */
static void
pt_http_upstream_next(pt_http_request_t *r, pt_http_upstream_t *u,
    pt_uint_t ft_type)
{
    pt_uint_t  status, i, retry_same;

    switch (ft_type) {
    case PT_HTTP_UPSTREAM_FT_TIMEOUT:
        status = PT_HTTP_GATEWAY_TIME_OUT;
        break;
    case PT_HTTP_UPSTREAM_FT_HTTP_500:
        status = PT_HTTP_INTERNAL_SERVER_ERROR;
        break;
    case PT_HTTP_UPSTREAM_FT_HTTP_503:
        status = PT_HTTP_SERVICE_UNAVAILABLE;
        break;
    case PT_HTTP_UPSTREAM_FT_HTTP_504:
        status = PT_HTTP_GATEWAY_TIME_OUT;
        break;
    case PT_HTTP_UPSTREAM_FT_HTTP_403:
        status = PT_HTTP_FORBIDDEN;
        break;
    case PT_HTTP_UPSTREAM_FT_HTTP_404:
        status = PT_HTTP_NOT_FOUND;
        break;
    case PT_HTTP_UPSTREAM_FT_HTTP_429:
        status = PT_HTTP_TOO_MANY_REQUESTS;
        break;
    default:
        status = PT_HTTP_BAD_GATEWAY;
    }

    /*
     * A kept-alive connection the upstream closed while idle fails at once,
     * before any answer: that says nothing about the server, so the same
     * server is tried again on a fresh connection.
     */
    retry_same = u->cached && ft_type == PT_HTTP_UPSTREAM_FT_ERROR
                 && u->state->bytes_received == 0
                 && (pt_http_upstream_idempotent(r)
                     || (u->conf->next_upstream
                         & PT_HTTP_UPSTREAM_FT_NON_IDEMPOTENT));

    if (u->state) {
        u->state->status = status;
        u->state->response_time = pt_current_msec - u->start_time;
    }

    if (retry_same) {
        i = u->rr_peer - u->upstream->peers->peer;
        u->tried[i / 64] &= ~((uint64_t) 1 << (i % 64));
        u->rr_peer = NULL;

    } else {
        /*
         * Every reason to try the next server is a failure of this one
         * (http_5xx and http_429 only when listed, or we would not be
         * here), except http_403 and http_404, as in nginx.
         */
        pt_http_upstream_free_round_robin_peer(u,
            ft_type != PT_HTTP_UPSTREAM_FT_HTTP_403
            && ft_type != PT_HTTP_UPSTREAM_FT_HTTP_404);
        u->tries--;
    }

    pt_http_upstream_close_peer(u);

    if (u->tries == 0 || r->connection->error
        || !(retry_same || (u->conf->next_upstream & ft_type))
        || (u->request_sent && !retry_same && !pt_http_upstream_idempotent(r)
            && !(u->conf->next_upstream & PT_HTTP_UPSTREAM_FT_NON_IDEMPOTENT)))
    {
        pt_http_upstream_finalize_request(r, u, status);
        return;
    }

    u->buffer.pos = u->buffer.start;
    u->buffer.last = u->buffer.start;

    pt_http_upstream_connect(r, u);
}


static void
pt_http_upstream_close_peer(pt_http_upstream_t *u)
{
    pt_connection_t            *c;
    pt_http_upstream_cached_t  *item;

    c = u->peer;

    if (c == NULL) {
        return;
    }

    item = c->data;

    if (c->ssl) {
        (void) pt_ssl_shutdown(c);
    }

    pt_close_connection(c);
    pt_destroy_pool(c->pool);
    free(item);

    u->peer = NULL;
}


static void
pt_http_upstream_finalize_request(pt_http_request_t *r,
    pt_http_upstream_t *u, pt_int_t rc)
{
    if (u->state && u->state->response_time == 0) {
        u->state->response_time = pt_current_msec - u->start_time;
    }

    if (u->rr_peer) {
        pt_http_upstream_free_round_robin_peer(u, 0);
    }

    /* the upstream's part is over: no more watching the client for it */
    r->read_event_handler = pt_http_block_reading;

    if (u->peer) {
        ((pt_http_upstream_cached_t *) u->peer->data)->request = NULL;

        if (rc == PT_OK && u->body_ended && u->keepalive && !u->upgrading) {
            pt_http_upstream_cache_put(u);
        } else {
            pt_http_upstream_close_peer(u);
        }
    }

    r->connection->log->action = "sending to client";

    if (u->header_sent && rc != PT_OK) {
        /* the client has a head already: it must see the connection end */
        r->connection->error = 1;
        pt_http_finalize_request(r, PT_ERROR);
        return;
    }

    if (rc == PT_OK) {
        r->write_event_handler = pt_http_request_empty_handler;
    }

    pt_http_finalize_request(r, rc);
}


/* The request pool goes: an upstream connection still open goes with it. */
static void
pt_http_upstream_cleanup(void *data)
{
    pt_http_request_t   *r = data;
    pt_http_upstream_t  *u;

    u = r->upstream;

    if (u == NULL || u->peer == NULL) {
        return;
    }

    ((pt_http_upstream_cached_t *) u->peer->data)->request = NULL;

    pt_http_upstream_close_peer(u);
}


/*
 * After a 101: bytes flow both ways unchanged until either side closes or
 * the connection is idle for proxy_read_timeout.
 */
static pt_int_t
pt_http_upstream_tunnel_move(pt_connection_t *src, pt_connection_t *dst,
    pt_buf_t *b, off_t *received)
{
    ssize_t  n;

    for ( ;; ) {
        if (b->pos < b->last) {
            if (!dst->write->ready) {
                return PT_AGAIN;
            }

            n = dst->send(dst, b->pos, b->last - b->pos);

            if (n == PT_ERROR) {
                return PT_ERROR;
            }

            if (n == PT_AGAIN || n == 0) {
                return PT_AGAIN;
            }

            b->pos += n;
            continue;
        }

        b->pos = b->start;
        b->last = b->start;

        if (!src->read->ready) {
            return PT_AGAIN;
        }

        n = src->recv(src, b->last, b->end - b->last);

        if (n == PT_AGAIN) {
            return PT_AGAIN;
        }

        if (n == 0 || n == PT_ERROR) {
            return PT_DONE;
        }

        if (received) {
            *received += n;
        }

        b->last += n;
    }
}


static void
pt_http_upstream_tunnel(pt_http_request_t *r, pt_http_upstream_t *u)
{
    size_t            size;
    pt_int_t          rc1, rc2;
    pt_connection_t  *c, *pc;

    c = r->connection;
    pc = u->peer;

    if (c->read->timedout || pc->read->timedout || c->write->timedout) {
        pt_log_error(PT_LOG_INFO, c->log, ETIMEDOUT,
                     "the upgraded connection was idle too long");
        pt_http_upstream_finalize_request(r, u, PT_ERROR);
        return;
    }

    if (u->client_buf == NULL) {
        /*
         * Bytes the client sent after its head already belong upstream,
         * before anything read later: all of them go in the first buffer.
         */
        size = r->header_in->last - r->header_in->pos;

        u->client_buf = pt_create_temp_buf(r->pool,
                                           pt_max(size,
                                                  u->conf->buffer_size));
        if (u->client_buf == NULL) {
            pt_http_upstream_finalize_request(r, u, PT_ERROR);
            return;
        }

        u->client_buf->last = pt_cpymem(u->client_buf->last,
                                        r->header_in->pos, size);
        r->header_in->pos += size;

        c->read->handler = pt_http_request_handler;
        r->read_event_handler = pt_http_upstream_downstream_handler;
        r->write_event_handler = pt_http_upstream_downstream_handler;
    }

    if (r->out) {
        if (pt_http_output_filter(r, NULL) == PT_ERROR) {
            pt_http_upstream_finalize_request(r, u, PT_ERROR);
            return;
        }

        if (r->out) {
            return;
        }
    }

    rc1 = pt_http_upstream_tunnel_move(c, pc, u->client_buf, NULL);
    rc2 = pt_http_upstream_tunnel_move(pc, c, &u->buffer,
                                       &u->state->bytes_received);

    if (rc1 == PT_ERROR || rc2 == PT_ERROR || rc1 == PT_DONE
        || rc2 == PT_DONE)
    {
        /* one side is gone: the tunnel is over */
        u->keepalive = 0;
        r->keepalive = 0;
        pt_http_upstream_finalize_request(r, u, PT_DONE);
        return;
    }

    pt_event_add_timer(c->read, u->conf->read_timeout);
    pt_event_add_timer(pc->read, u->conf->read_timeout);
}


/* variables */

typedef enum {
    PT_UPSTREAM_VAR_ADDR = 0,
    PT_UPSTREAM_VAR_STATUS,
    PT_UPSTREAM_VAR_CONNECT_TIME,
    PT_UPSTREAM_VAR_HEADER_TIME,
    PT_UPSTREAM_VAR_RESPONSE_TIME,
    PT_UPSTREAM_VAR_BYTES_RECEIVED
} pt_http_upstream_var_e;


static pt_int_t
pt_http_upstream_state_variable(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    int                        n;
    u_char                    *p, *start;
    size_t                     len;
    pt_uint_t                  i;
    pt_msec_t                  ms;
    pt_http_upstream_t        *u;
    pt_http_upstream_state_t  *state;

    u = r->upstream;

    if (u == NULL || u->states == NULL || u->states->nelts == 0) {
        v->not_found = 1;
        return PT_OK;
    }

    state = u->states->elts;

    len = 0;
    for (i = 0; i < u->states->nelts; i++) {
        len += (state[i].peer ? state[i].peer->len : 0) + PT_INT_T_LEN + 8;
    }

    start = pt_pnalloc(r->pool, len);
    if (start == NULL) {
        return PT_ERROR;
    }

    p = start;

    for (i = 0; i < u->states->nelts; i++) {

        if (i) {
            *p++ = ',';
            *p++ = ' ';
        }

        switch (data) {

        case PT_UPSTREAM_VAR_ADDR:
            if (state[i].peer) {
                p = pt_cpymem(p, state[i].peer->data, state[i].peer->len);
            } else {
                *p++ = '-';
            }
            continue;

        case PT_UPSTREAM_VAR_STATUS:
            if (state[i].status) {
                n = snprintf((char *) p, 8, "%u", (unsigned) state[i].status);
                p += n;
            } else {
                *p++ = '-';
            }
            continue;

        case PT_UPSTREAM_VAR_BYTES_RECEIVED:
            n = snprintf((char *) p, PT_INT_T_LEN + 1, "%lld",
                         (long long) state[i].bytes_received);
            p += n;
            continue;

        case PT_UPSTREAM_VAR_CONNECT_TIME:
            ms = state[i].connect_time;
            break;

        case PT_UPSTREAM_VAR_HEADER_TIME:
            ms = state[i].header_time;
            break;

        default:
            ms = state[i].response_time;
            break;
        }

        if (ms == (pt_msec_t) -1) {
            *p++ = '-';
            continue;
        }

        n = snprintf((char *) p, PT_INT_T_LEN + 5, "%llu.%03llu",
                     (unsigned long long) (ms / 1000),
                     (unsigned long long) (ms % 1000));
        p += n;
    }

    v->len = p - start;
    v->data = start;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


static pt_int_t
pt_http_upstream_header_variable(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    u_char              ch;
    size_t              n, prefix;
    pt_str_t           *var;
    pt_uint_t           i;
    pt_list_part_t     *part;
    pt_table_elt_t     *h;
    pt_http_upstream_t *u;

    u = r->upstream;
    var = (pt_str_t *) data;
    prefix = sizeof("upstream_http_") - 1;

    if (u == NULL || u->headers_in.headers.part.elts == NULL) {
        v->not_found = 1;
        return PT_OK;
    }

    part = &u->headers_in.headers.part;
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

        if (h[i].hash == 0 || h[i].key.len != var->len - prefix) {
            continue;
        }

        for (n = 0; n < h[i].key.len; n++) {
            ch = h[i].lowcase_key[n];
            ch = (ch == '-') ? '_' : ch;

            if (var->data[prefix + n] != ch) {
                break;
            }
        }

        if (n == h[i].key.len) {
            v->len = h[i].value.len;
            v->data = h[i].value.data;
            v->valid = 1;
            v->no_cacheable = 0;
            v->not_found = 0;
            return PT_OK;
        }
    }

    v->not_found = 1;

    return PT_OK;
}


static pt_http_variable_t  pt_http_upstream_vars[] = {

    { pt_string("upstream_addr"), NULL, pt_http_upstream_state_variable,
      PT_UPSTREAM_VAR_ADDR, PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("upstream_status"), NULL, pt_http_upstream_state_variable,
      PT_UPSTREAM_VAR_STATUS, PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("upstream_connect_time"), NULL,
      pt_http_upstream_state_variable, PT_UPSTREAM_VAR_CONNECT_TIME,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("upstream_header_time"), NULL,
      pt_http_upstream_state_variable, PT_UPSTREAM_VAR_HEADER_TIME,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("upstream_response_time"), NULL,
      pt_http_upstream_state_variable, PT_UPSTREAM_VAR_RESPONSE_TIME,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("upstream_bytes_received"), NULL,
      pt_http_upstream_state_variable, PT_UPSTREAM_VAR_BYTES_RECEIVED,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("upstream_http_"), NULL, pt_http_upstream_header_variable,
      0, PT_HTTP_VAR_PREFIX | PT_HTTP_VAR_NOCACHEABLE, 0 },

    pt_http_null_variable
};


static pt_int_t
pt_http_upstream_add_variables(pt_conf_t *cf)
{
    return pt_http_add_variables(cf, pt_http_upstream_vars);
}
