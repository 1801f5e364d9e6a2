/*
 * The upstream machinery: "upstream" blocks and implicit groups, the
 * smooth weighted round-robin balancer, the per-worker cache of idle
 * keep-alive connections, and the life of one upstream request: connect,
 * send, read the head (parsed by the protocol module), relay the body to
 * the client with backpressure, and release the connection.
 */
#include "pt_http.h"


typedef struct {
    pt_queue_t                    queue;
    pt_connection_t              *connection;
    pt_http_request_t            *request;      /* using it now, or NULL */
    pt_http_upstream_srv_conf_t  *upstream;
    pt_uint_t                     requests;
    pt_msec_t                     start;
    pt_sockaddr_t                 sockaddr;     /* the peer's, at connect */
    socklen_t                     socklen;
    pt_str_t                      name;
    u_char                        name_data[PT_SOCKADDR_STRLEN];
} pt_http_upstream_cached_t;


static char *pt_http_upstream_block(pt_conf_t *cf, pt_command_t *cmd,
    void *dummy);
static char *pt_http_upstream_server(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_upstream_keepalive(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static void *pt_http_upstream_create_main_conf(pt_conf_t *cf);
static char *pt_http_upstream_init_main_conf(pt_conf_t *cf, void *conf);
static pt_int_t pt_http_upstream_init_resolve(pt_conf_t *cf,
    pt_http_upstream_srv_conf_t *us);
static pt_uint_t pt_http_upstream_is_literal(pt_str_t *host);
static pt_int_t pt_http_upstream_add_variables(pt_conf_t *cf);
static pt_int_t pt_http_upstream_init_process(pt_cycle_t *cycle);
static void pt_http_upstream_exit_process(pt_cycle_t *cycle);

static void pt_http_upstream_connect(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_start(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_resolve(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_resolve_handler(pt_resolver_ctx_t *ctx);
static void pt_http_upstream_handler(pt_event_t *ev);
static void pt_http_upstream_send_request(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_request_sent(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_stream_body(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_read_body_handler(pt_http_request_t *r);
static void pt_http_upstream_process_header(pt_http_request_t *r,
    pt_http_upstream_t *u);
static pt_int_t pt_http_upstream_send_response(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_process_body(pt_http_request_t *r,
    pt_http_upstream_t *u);
static void pt_http_upstream_process_pipe(pt_http_request_t *r,
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
static pt_int_t pt_http_upstream_keep_head(pt_http_request_t *r,
    pt_http_upstream_t *u);
static pt_uint_t pt_http_upstream_intercept_errors(pt_http_request_t *r,
    pt_http_upstream_t *u);
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

    { pt_string("zone"),
      PT_HTTP_UPS_CONF | PT_CONF_TAKE12,
      pt_http_upstream_zone,
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
    .init_process = pt_http_upstream_init_process,
    .exit_process = pt_http_upstream_exit_process,
};


/* Worker 0 follows the names of "server ... resolve". */
static pt_int_t
pt_http_upstream_init_process(pt_cycle_t *cycle)
{
    pt_http_upstream_main_conf_t  *umcf;

    umcf = pt_http_cycle_get_module_main_conf(cycle, pt_http_upstream_module);

    if (umcf == NULL) {
        return PT_OK;
    }

    return pt_http_upstream_resolve_init_process(cycle, umcf);
}


static void
pt_http_upstream_exit_process(pt_cycle_t *cycle)
{
    (void) cycle;

    pt_http_upstream_resolve_exit_process();
}


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
            && (uscfp[i]->port != (u->no_port ? 0 : u->port)
                || uscfp[i]->default_port != u->default_port))
        {
            continue;       /* http://x and https://x are different */
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
    uscf->default_port = implicit ? u->default_port : 0;
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
        us->fail_timeout = 10000;
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


static pt_uint_t
pt_http_upstream_is_literal(pt_str_t *host)
{
    u_char           text[PT_INET6_ADDRSTRLEN + 1];
    struct in6_addr  addr;

    if (host->len > PT_INET6_ADDRSTRLEN) {
        return 0;
    }

    pt_memcpy(text, host->data, host->len);
    text[host->len] = '\0';

    return inet_pton(AF_INET, (char *) text, &addr) == 1
           || inet_pton(AF_INET6, (char *) text, &addr) == 1;
}


static pt_int_t
pt_http_upstream_server_time(pt_str_t *v, size_t skip, pt_msec_t *t)
{
    pt_int_t  n;
    pt_str_t  s;

    s.data = v->data + skip;
    s.len = v->len - skip;

    n = pt_parse_time(&s, 1);
    if (n == PT_ERROR) {
        return PT_ERROR;
    }

    *t = (pt_msec_t) n * 1000;

    return PT_OK;
}


/*
 * server ADDRESS [weight=N] [max_fails=N] [fail_timeout=T] [max_conns=N]
 *     [slow_start=T] [backup] [down] [resolve]
 */
static char *
pt_http_upstream_server(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_upstream_srv_conf_t  *uscf = conf;

    pt_int_t                    weight, max_fails, max_conns;
    pt_str_t                   *value;
    pt_url_t                    u;
    pt_uint_t                   i;
    pt_msec_t                   fail_timeout, slow_start;
    pt_http_upstream_server_t  *us;

    value = cf->args->elts;

    weight = 1;
    max_fails = 1;
    max_conns = 0;
    fail_timeout = 10000;
    slow_start = 0;

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

        if (pt_strncmp(value[i].data, "max_conns=", 10) == 0) {
            max_conns = pt_atoi(value[i].data + 10, value[i].len - 10);
            if (max_conns == PT_ERROR) {
                goto invalid;
            }
            continue;
        }

        if (pt_strncmp(value[i].data, "fail_timeout=", 13) == 0) {
            if (pt_http_upstream_server_time(&value[i], 13, &fail_timeout)
                != PT_OK)
            {
                goto invalid;
            }
            continue;
        }

        if (pt_strncmp(value[i].data, "slow_start=", 11) == 0) {
            if (pt_http_upstream_server_time(&value[i], 11, &slow_start)
                != PT_OK)
            {
                goto invalid;
            }
            continue;
        }

        if (pt_str_eq_lit(&value[i], "down")) {
            us->down = 1;
            continue;
        }

        if (pt_str_eq_lit(&value[i], "backup")) {
            us->backup = 1;
            continue;
        }

        if (pt_str_eq_lit(&value[i], "resolve")) {
            us->resolve = 1;
            continue;
        }

        goto invalid;
    }

    if (us->backup && us->down) {
        pt_conf_error(cf, "a server may not be both \"backup\" and \"down\"");
        return PT_CONF_ERROR;
    }

    pt_memzero(&u, sizeof(pt_url_t));

    u.url = value[1];
    u.default_port = 80;
    u.no_resolve = us->resolve;

    if (pt_parse_url(cf->pool, &u) != PT_OK) {
        if (u.err) {
            pt_conf_error(cf, "%s in upstream \"%.*s\"", u.err,
                          PT_STR_ARG(u.url));
        }

        return PT_CONF_ERROR;
    }

    if (us->resolve) {
        if (u.family == AF_UNIX) {
            pt_conf_error(cf, "\"resolve\" is not possible with a unix "
                          "socket \"%.*s\"", PT_STR_ARG(u.url));
            return PT_CONF_ERROR;
        }

        if (uscf->shm_zone == NULL) {
            pt_conf_error(cf, "\"resolve\" in upstream \"%.*s\" needs a "
                          "\"zone\" before this \"server\"",
                          PT_STR_ARG(uscf->host));
            return PT_CONF_ERROR;
        }

        us->host = u.host;
        us->port = u.port;

        /*
         * A name is left to the resolver, which looks it up as soon as
         * the workers run: no blocking lookup at start. An address given
         * outright is taken as it is.
         */
        if (pt_http_upstream_is_literal(&u.host)
            && pt_inet_resolve_host(cf->pool, &u) != PT_OK)
        {
            return PT_CONF_ERROR;
        }
    }

    us->name = u.url;
    us->addrs = u.addrs;
    us->naddrs = u.naddrs;
    us->weight = weight;
    us->max_fails = max_fails;
    us->max_conns = max_conns;
    us->fail_timeout = fail_timeout;
    us->slow_start = slow_start;

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


/*
 * proxy_temp_path PATH [L1 [L2 [L3]]]: the directory is made absolute and
 * created when the server starts (pt_add_path); the levels name the
 * subdirectories a file goes to, each of that many digits of a number
 * (as nginx names its temporary files), made when first needed.
 */
char *
pt_http_upstream_temp_path_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char  *p = conf;

    size_t                         total;
    pt_int_t                       level;
    pt_str_t                      *value;
    pt_uint_t                      i;
    pt_http_upstream_temp_path_t  *path, **pp;

    pp = (pt_http_upstream_temp_path_t **) (p + cmd->offset);

    if (*pp != PT_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        pt_conf_error(cf, "empty path in \"%.*s\" directive",
                      PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    path = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_temp_path_t));
    if (path == NULL) {
        return PT_CONF_ERROR;
    }

    total = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        level = pt_atoi(value[i].data, value[i].len);

        if (level == PT_ERROR || level == 0) {
            pt_conf_error(cf, "invalid level \"%.*s\" in \"%.*s\" directive",
                          PT_STR_ARG(value[i]), PT_STR_ARG(cmd->name));
            return PT_CONF_ERROR;
        }

        path->level[i - 2] = (size_t) level;
        total += (size_t) level;
    }

    if (total > 10) {
        pt_conf_error(cf, "the levels of \"%.*s\" name more than 10 digits",
                      PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    path->name = value[1];

    if (pt_add_path(cf, &path->name) != PT_OK) {
        return PT_CONF_ERROR;
    }

    *pp = path;

    return PT_CONF_OK;
}


/*
 * An unset temp path is the parent's, or default_path (under the prefix)
 * when no level sets one; that one is shared with the parent, so that it
 * is made once.
 */
pt_int_t
pt_http_upstream_merge_temp_path(pt_conf_t *cf,
    pt_http_upstream_temp_path_t **path, pt_http_upstream_temp_path_t **prev,
    const char *default_path)
{
    pt_http_upstream_temp_path_t  *tp;

    if (*path != PT_CONF_UNSET_PTR) {
        return PT_OK;
    }

    if (*prev != PT_CONF_UNSET_PTR) {
        *path = *prev;
        return PT_OK;
    }

    tp = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_temp_path_t));
    if (tp == NULL) {
        return PT_ERROR;
    }

    tp->name.len = strlen(default_path);
    tp->name.data = pt_pnalloc(cf->pool, tp->name.len + 1);
    if (tp->name.data == NULL) {
        return PT_ERROR;
    }

    pt_memcpy(tp->name.data, default_path, tp->name.len + 1);

    if (pt_add_path(cf, &tp->name) != PT_OK) {
        return PT_ERROR;
    }

    *path = tp;
    *prev = tp;

    return PT_OK;
}


/* Resolves implicit groups and builds every group's round-robin peers. */
static char *
pt_http_upstream_init_main_conf(pt_conf_t *cf, void *conf)
{
    pt_http_upstream_main_conf_t  *umcf = conf;

    pt_url_t                       u;
    pt_uint_t                      i;
    pt_http_upstream_server_t     *us;
    pt_http_upstream_srv_conf_t  **uscfp;

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->servers == NULL) {
            /* proxy_pass http://NAME with no upstream NAME: a host name */
            pt_memzero(&u, sizeof(pt_url_t));

            u.host = uscfp[i]->host;
            u.port = uscfp[i]->port ? uscfp[i]->port
                     : uscfp[i]->default_port ? uscfp[i]->default_port : 80;

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
            us->fail_timeout = 10000;
        }

        pt_conf_init_msec_value(uscfp[i]->keepalive_timeout, 60000);
        pt_conf_init_uint_value(uscfp[i]->keepalive_requests, 1000);
        pt_conf_init_msec_value(uscfp[i]->keepalive_time, 3600000);

        pt_queue_init(&uscfp[i]->cache);

        if (pt_http_upstream_init_peers(cf, uscfp[i]) != PT_OK) {
            return PT_CONF_ERROR;
        }

        if (pt_http_upstream_init_resolve(cf, uscfp[i]) != PT_OK) {
            return PT_CONF_ERROR;
        }
    }

    return PT_CONF_OK;
}


/*
 * A group with "server NAME resolve" needs the http block's resolver,
 * known once the whole block is read.
 */
static pt_int_t
pt_http_upstream_init_resolve(pt_conf_t *cf, pt_http_upstream_srv_conf_t *us)
{
    pt_uint_t                   i;
    pt_http_core_loc_conf_t    *clcf;
    pt_http_upstream_server_t  *server;

    server = us->servers->elts;

    for (i = 0; i < us->servers->nelts; i++) {
        if (!server[i].resolve || server[i].host.len == 0
            || pt_http_upstream_is_literal(&server[i].host))
        {
            continue;
        }

        if (us->resolver == NULL) {
            clcf = pt_http_conf_get_module_loc_conf(cf, pt_http_core_module);
            us->resolver = pt_http_core_get_resolver(clcf,
                                                     &us->resolver_timeout);
        }

        if (us->resolver == NULL) {
            pt_log_error(PT_LOG_EMERG, cf->log, 0,
                         "no resolver defined to resolve \"%.*s\" in "
                         "upstream \"%.*s\" in %s:%lu",
                         PT_STR_ARG(server[i].host), PT_STR_ARG(us->host),
                         (char *) us->file_name, (unsigned long) us->line);
            return PT_ERROR;
        }
    }

    return PT_OK;
}


/*
 * For a proxy_pass with variables, per request: the group whose name (an
 * "upstream" block, with no port in u) or address (the implicit group of
 * another proxy_pass, with the same port) u names, or NULL.
 */
pt_http_upstream_srv_conf_t *
pt_http_upstream_find(pt_http_request_t *r, pt_url_t *u)
{
    pt_uint_t                       i;
    in_port_t                       port;
    pt_http_upstream_srv_conf_t   **uscfp;
    pt_http_upstream_main_conf_t   *umcf;

    umcf = pt_http_get_module_main_conf(r, pt_http_upstream_module);

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->peers == NULL) {
            continue;
        }

        if (u->family == AF_UNIX || uscfp[i]->is_unix) {
            if (u->family == AF_UNIX && uscfp[i]->is_unix
                && pt_str_eq(&uscfp[i]->host, &u->host))
            {
                return uscfp[i];
            }

            continue;
        }

        if (!pt_str_caseeq(&uscfp[i]->host, &u->host)) {
            continue;
        }

        if (!uscfp[i]->implicit) {
            if (u->no_port) {
                return uscfp[i];
            }

            continue;
        }

        /* an implicit group without a port has its scheme's */
        port = uscfp[i]->port ? uscfp[i]->port
               : uscfp[i]->default_port ? uscfp[i]->default_port : 80;

        if (port == u->port) {
            return uscfp[i];
        }
    }

    return NULL;
}


/*
 * A group of the naddrs addresses addrs (with their ports), in r's pool,
 * for a proxy_pass with variables that names an address no group has, or
 * a name just resolved. It keeps no idle connections; its servers are
 * chosen by round robin, and a group of one keeps no failure score.
 */
pt_http_upstream_srv_conf_t *
pt_http_upstream_create_single(pt_http_request_t *r, pt_str_t *host,
    pt_addr_t *addrs, pt_uint_t naddrs)
{
    size_t                         len;
    pt_uint_t                      i;
    pt_pool_cleanup_t             *cln;
    pt_http_upstream_rr_peer_t    *peer;
    pt_http_upstream_rr_peers_t   *peers;
    pt_http_upstream_srv_conf_t   *uscf;

    naddrs = pt_min(naddrs, PT_HTTP_UPSTREAM_MAX_PEERS);

    uscf = pt_pcalloc(r->pool, sizeof(pt_http_upstream_srv_conf_t));
    peers = pt_pcalloc(r->pool, sizeof(pt_http_upstream_rr_peers_t));
    peer = pt_pcalloc(r->pool, naddrs * sizeof(pt_http_upstream_rr_peer_t));
    cln = pt_pool_cleanup_add(r->pool, 0);

    if (uscf == NULL || peers == NULL || peer == NULL || cln == NULL) {
        return NULL;
    }

    uscf->ssl_sessions = pt_pcalloc(r->pool, naddrs * sizeof(void *));
    if (uscf->ssl_sessions == NULL) {
        return NULL;
    }

    for (i = 0; i < naddrs; i++) {
        pt_memcpy(&peer[i].sockaddr, addrs[i].sockaddr, addrs[i].socklen);
        peer[i].socklen = addrs[i].socklen;

        len = pt_sock_ntop(&peer[i].sockaddr.sockaddr, peer[i].socklen,
                           peer[i].name_data, PT_SOCKADDR_STRLEN, 1);
        peer[i].name.len = len;
        peer[i].name.data = peer[i].name_data;
        peer[i].server = &uscf->host;
        peer[i].weight = 1;
        peer[i].effective_weight = 1;
        peer[i].max_fails = 1;
        peer[i].fail_timeout = 10000;
    }

    peers->number = naddrs;
    peers->single = (naddrs == 1);
    peers->peer = peer;
    peers->name = &uscf->host;

    uscf->nsessions = naddrs;

    /* the TLS sessions kept for the peers go with the request */
    cln->handler = pt_http_upstream_free_sessions;
    cln->data = uscf;

    uscf->host = *host;
    uscf->peers = peers;
    uscf->implicit = 1;
    uscf->is_unix = (addrs[0].sockaddr->sa_family == AF_UNIX);
    uscf->keepalive_timeout = 60000;
    uscf->keepalive_requests = 1000;
    uscf->keepalive_time = 3600000;
    pt_queue_init(&uscf->cache);

    return uscf;
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
    pt_destroy_pool(c->pool);     /* item with it */
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

        if (pt_cmp_sockaddr(&item->sockaddr.sockaddr, item->socklen,
                            &u->rr_peer->sockaddr.sockaddr,
                            u->rr_peer->socklen, 1)
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
        || (u->body_streaming && !u->body_done)
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
    u->first_start = pt_current_msec;

    if (u->create_request(r) != PT_OK) {
        pt_http_finalize_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->main->count++;

    r->read_event_handler = u->body_streaming
                            ? pt_http_upstream_read_body_handler
                            : pt_http_upstream_check_broken_connection;

    if (u->upstream == NULL) {
        /* a host name made by proxy_pass with variables: look it up */
        pt_http_upstream_resolve(r, u);
        return;
    }

    pt_http_upstream_start(r, u);
}


/* The group is known: the first attempt. */
static void
pt_http_upstream_start(pt_http_request_t *r, pt_http_upstream_t *u)
{
    if (u->upstream->balancer && u->upstream->balancer->init_peer
        && u->upstream->balancer->init_peer(r, u) != PT_OK)
    {
        pt_http_upstream_finalize_request(r, u,
                                          PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    u->tries = u->conf->next_upstream_tries
               ? pt_min(u->conf->next_upstream_tries,
                        u->upstream->peers->number)
               : u->upstream->peers->number;

    pt_http_upstream_connect(r, u);
}


static void
pt_http_upstream_resolve(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_msec_t                 timeout;
    pt_resolver_t            *resolver;
    pt_resolver_ctx_t        *ctx;
    pt_http_core_loc_conf_t  *clcf;

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);
    resolver = pt_http_core_get_resolver(clcf, &timeout);

    if (resolver == NULL) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "no resolver defined to resolve \"%.*s\"",
                     PT_STR_ARG(u->resolve_host));
        pt_http_upstream_finalize_request(r, u, PT_HTTP_BAD_GATEWAY);
        return;
    }

    r->connection->log->action = "resolving the upstream name";

    ctx = pt_resolve_start(resolver, &u->resolve_host);

    if (ctx == NULL) {
        pt_http_upstream_finalize_request(r, u,
                                          PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->handler = pt_http_upstream_resolve_handler;
    ctx->data = r;
    ctx->timeout = timeout;
    ctx->log = r->connection->log;

    if (pt_resolve_name(ctx) != PT_OK) {
        pt_resolve_name_done(ctx);
        pt_http_upstream_finalize_request(r, u, PT_HTTP_BAD_GATEWAY);
        return;
    }

    u->resolve_ctx = ctx;
}


static void
pt_http_upstream_resolve_handler(pt_resolver_ctx_t *ctx)
{
    pt_uint_t             i;
    pt_http_request_t    *r;
    pt_http_upstream_t   *u;

    r = ctx->data;
    u = r->upstream;
    u->resolve_ctx = NULL;

    if (ctx->state != PT_OK) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "\"%.*s\" could not be resolved (%s)",
                     PT_STR_ARG(u->resolve_host),
                     ctx->err ? ctx->err : "error");
        pt_resolve_name_done(ctx);
        pt_http_upstream_finalize_request(r, u, PT_HTTP_BAD_GATEWAY);
        return;
    }

    for (i = 0; i < ctx->naddrs; i++) {
        pt_inet_set_port(ctx->addrs[i].sockaddr, u->resolve_port);
    }

    /* the group copies the addresses: the ctx may go */
    u->upstream = pt_http_upstream_create_single(r, &u->resolve_host,
                                                 ctx->addrs, ctx->naddrs);
    pt_resolve_name_done(ctx);

    if (u->upstream == NULL) {
        pt_http_upstream_finalize_request(r, u,
                                          PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    u->start_time = pt_current_msec;

    pt_http_upstream_start(r, u);
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

    if (pt_http_upstream_get_peer(u) != PT_OK) {
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
    u->headers_in.connection_other = 0;
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

    s = socket(u->rr_peer->sockaddr.sockaddr.sa_family,
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

    /*
     * The keep-alive record lives as long as the connection, in its pool:
     * a small pool, kept out of the heap that requests come and go in.
     */
    pool = pt_create_pool(512, r->connection->log);
    item = NULL;

    if (pool) {
        item = pt_pcalloc(pool, sizeof(pt_http_upstream_cached_t));
    }

    if (item == NULL) {
        if (pool) {
            pt_destroy_pool(pool);
        }

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
    item->name.len = u->rr_peer->name.len;
    item->name.data = item->name_data;
    pt_memcpy(item->name_data, u->rr_peer->name.data, item->name.len);

    c->pool = pool;
    c->data = item;
    c->type = SOCK_STREAM;
    c->recv = pt_unix_recv;
    c->send = pt_unix_send;
    c->send_chain = pt_linux_send_chain;
    c->sockaddr = &item->sockaddr.sockaddr;
    c->socklen = item->socklen;
    c->addr_text = item->name;
    c->log_error = PT_ERROR_ERR;

    c->read->handler = pt_http_upstream_handler;
    c->write->handler = pt_http_upstream_handler;

    u->peer = c;

    if (item->sockaddr.sockaddr.sa_family != AF_UNIX) {
        int  on = 1;

        (void) setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(int));
        c->tcp_nodelay = PT_TCP_NODELAY_SET;
    }

    rc = connect(s, c->sockaddr, c->socklen);

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
        if (!u->header_sent
            && (!u->request_sent || u->request_out
                || (u->body_sending && !u->body_done)))
        {
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

    pt_http_upstream_send_request(r, u);
}


/*
 * The newest session the server gave is the one the next connection to it
 * resumes: under TLS 1.3 it comes with a ticket after the handshake, while
 * the response is read.
 */
static void
pt_http_upstream_ssl_save_session(pt_connection_t *c, SSL_SESSION *session)
{
    pt_uint_t                   i;
    pt_http_request_t          *r;
    pt_http_upstream_t         *u;
    pt_http_upstream_cached_t  *item;

    item = c->data;
    r = item->request;

    if (r == NULL) {
        return;
    }

    u = r->upstream;

    if (u == NULL || u->rr_peer == NULL) {
        return;
    }

    i = u->rr_peer - u->upstream->peers->peer;

    if (!SSL_SESSION_up_ref(session)) {
        return;
    }

    if (u->upstream->ssl_sessions[i]) {
        SSL_SESSION_free(u->upstream->ssl_sessions[i]);
    }

    u->upstream->ssl_sessions[i] = session;
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
                ? u->upstream->ssl_sessions[u->rr_peer
                                            - u->upstream->peers->peer]
                : NULL) != PT_OK)
        {
            pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_ERROR);
            return;
        }

        ((pt_ssl_connection_t *) c->ssl)->handler =
                                           pt_http_upstream_ssl_handshaked;

        if (u->conf->ssl_session_reuse && u->rr_peer) {
            ((pt_ssl_connection_t *) c->ssl)->save_session =
                                           pt_http_upstream_ssl_save_session;
        }
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

    if (!u->request_sent) {
        /* a new attempt: the body starts over (nothing of it went yet) */
        u->body_sending = 0;
        u->body_last = 0;
        u->body_done = 0;
        u->body_bufs[1].shadow = NULL;
    }

    if (u->body_sending) {
        pt_http_upstream_stream_body(r, u);
        return;
    }

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

    if (u->body_streaming) {
        /* the head went: the body follows as the client sends it */
        u->body_sending = 1;
        pt_http_upstream_stream_body(r, u);
        return;
    }

    pt_http_upstream_request_sent(r, u);
}


/* All of the request went: wait for the answer. */
static void
pt_http_upstream_request_sent(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_connection_t  *c;

    c = u->peer;

    r->connection->log->action = "reading response header from upstream";

    if (!c->read->timer_set) {
        pt_event_add_timer(c->read, u->conf->read_timeout);
    }

    if (c->read->ready) {
        pt_http_upstream_process_header(r, u);
    }
}


/*
 * proxy_request_buffering off: after the head, the body goes as the
 * client sends it, what rb->buf holds at a time (as a chunk when the
 * client's body is chunked: "SIZE CRLF data CRLF", and "0 CRLF CRLF" at
 * the end). The client is read only when the buffer is empty, so each
 * side holds the other back. Returns PT_OK when all of it went, PT_AGAIN
 * while one side is waited for, PT_ERROR when sending failed, or the HTTP
 * status the client's side ended with.
 */
static pt_int_t
pt_http_upstream_send_request_body(pt_http_request_t *r,
    pt_http_upstream_t *u)
{
    int                      n;
    off_t                    sent;
    pt_int_t                 rc;
    pt_buf_t                *b;
    pt_chain_t              *rest, **ll;
    pt_connection_t         *pc, *c;
    pt_http_request_body_t  *rb;

    c = r->connection;
    pc = u->peer;
    rb = r->request_body;

    for ( ;; ) {

        if (u->request_out) {
            if (!pc->write->ready) {
                return PT_AGAIN;
            }

            sent = pc->sent;

            rest = pc->send_chain(pc, u->request_out, 0);

            if (rest == PT_CHAIN_ERROR) {
                return PT_ERROR;
            }

            if (pc->sent != sent) {
                /* gone: it cannot be sent to another server */
                u->body_started = 1;
            }

            u->request_out = rest;

            /* the client's buffer gives up what of it went */
            b = &u->body_bufs[1];

            if (b->shadow) {
                b->shadow->pos = b->pos;

                if (b->pos == b->last) {
                    b->shadow = NULL;
                }
            }

            if (pc->write->timer_set) {
                pt_event_del_timer(pc->write);
            }

            if (rest) {
                pt_event_add_timer(pc->write, u->conf->send_timeout);
                return PT_AGAIN;
            }
        }

        if (u->body_last) {
            u->body_done = 1;
            return PT_OK;
        }

        if (rb->buf->pos == rb->buf->last && !rb->done) {
            rc = pt_http_read_unbuffered_request_body(r);

            if (rc != PT_OK && rc != PT_AGAIN) {
                return rc;
            }
        }

        ll = &u->request_out;

        if (rb->buf->pos < rb->buf->last) {
            /* the next piece; the client waits while it is on its way */
            if (c->read->timer_set) {
                pt_event_del_timer(c->read);
            }

            if (u->body_chunked) {
                b = &u->body_bufs[0];
                pt_memzero(b, sizeof(pt_buf_t));

                n = snprintf((char *) u->chunk_head, sizeof(u->chunk_head),
                             "%llx\r\n",
                             (unsigned long long) (rb->buf->last
                                                   - rb->buf->pos));
                b->memory = 1;
                b->pos = u->chunk_head;
                b->last = u->chunk_head + n;

                u->body_links[0].buf = b;
                *ll = &u->body_links[0];
                ll = &u->body_links[0].next;
            }

            b = &u->body_bufs[1];
            pt_memzero(b, sizeof(pt_buf_t));
            b->memory = 1;
            b->pos = rb->buf->pos;
            b->last = rb->buf->last;
            b->shadow = rb->buf;

            u->body_links[1].buf = b;
            *ll = &u->body_links[1];
            ll = &u->body_links[1].next;

            if (u->body_chunked) {
                b = &u->body_bufs[2];
                pt_memzero(b, sizeof(pt_buf_t));
                b->memory = 1;
                b->pos = (u_char *) "\r\n";
                b->last = b->pos + 2;

                u->body_links[2].buf = b;
                *ll = &u->body_links[2];
                ll = &u->body_links[2].next;
            }

            *ll = NULL;
            continue;
        }

        if (!rb->done) {
            return PT_AGAIN;        /* the client is waited for */
        }

        /* all of it is in */

        u->body_last = 1;

        if (u->body_chunked) {
            b = &u->body_bufs[0];
            pt_memzero(b, sizeof(pt_buf_t));
            b->memory = 1;
            b->pos = (u_char *) "0\r\n\r\n";
            b->last = b->pos + 5;

            u->body_links[0].buf = b;
            u->body_links[0].next = NULL;
            u->request_out = &u->body_links[0];
        }
    }
}


/*
 * Sends what it can of the streamed body and deals with the outcome: on
 * to the answer when all went, the next server or the end when it failed.
 */
static void
pt_http_upstream_stream_body(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_int_t  rc;

    r->connection->log->action = "sending request body to upstream";

    rc = pt_http_upstream_send_request_body(r, u);

    if (rc == PT_AGAIN) {
        return;
    }

    if (rc == PT_OK) {
        pt_http_upstream_request_sent(r, u);
        return;
    }

    if (rc == PT_ERROR) {
        pt_http_upstream_next(r, u, PT_HTTP_UPSTREAM_FT_ERROR);
        return;
    }

    /* the client's side failed: invalid, too big, gone */
    pt_http_upstream_finalize_request(r, u, rc);
}


/*
 * The client's side while its body is streamed: more of it, its
 * client_body_timeout, or its end.
 */
static void
pt_http_upstream_read_body_handler(pt_http_request_t *r)
{
    pt_int_t                 rc;
    pt_connection_t         *c;
    pt_http_upstream_t      *u;
    pt_http_request_body_t  *rb;

    c = r->connection;
    u = r->upstream;
    rb = r->request_body;

    if (c->read->timedout) {
        c->timedout = 1;
        pt_log_error(PT_LOG_INFO, c->log, ETIMEDOUT,
                     "client timed out while sending the request body");
        pt_http_upstream_finalize_request(r, u, PT_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (u->header_sent || rb->done) {
        pt_http_upstream_check_broken_connection(r);
        return;
    }

    if (u->body_sending && u->peer && u->peer->write->ready) {
        pt_http_upstream_stream_body(r, u);
        return;
    }

    /* not connected yet, or the server is slow: the buffer fills first */
    if (rb->buf->pos == rb->buf->last) {
        rc = pt_http_read_unbuffered_request_body(r);

        if (rc != PT_OK && rc != PT_AGAIN) {
            pt_http_upstream_finalize_request(r, u, rc);
        }
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

    if (u->conf->intercept_errors && pt_http_upstream_intercept_errors(r, u)) {
        return;
    }

    if (pt_http_upstream_keep_head(r, u) != PT_OK) {
        u->keepalive = 0;
        pt_http_upstream_finalize_request(r, u, PT_HTTP_INTERNAL_SERVER_ERROR);
        return;
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


/*
 * The response head stays where it was read for the rest of the request:
 * its header fields point into it rather than being copied out. The body
 * is read after it, into the rest of the buffer, or into a new buffer of
 * proxy_buffer_size (the body bytes read so far moved there) when the head
 * left less than half of it.
 */
static pt_int_t
pt_http_upstream_keep_head(pt_http_request_t *r, pt_http_upstream_t *u)
{
    size_t   n;
    u_char  *p;

    if ((size_t) (u->buffer.end - u->buffer.pos) >= u->conf->buffer_size / 2) {
        u->buffer.start = u->buffer.pos;
        return PT_OK;
    }

    p = pt_palloc(r->pool, u->conf->buffer_size);
    if (p == NULL) {
        return PT_ERROR;
    }

    n = u->buffer.last - u->buffer.pos;

    if (n) {
        pt_memcpy(p, u->buffer.pos, n);
    }

    u->buffer.start = p;
    u->buffer.pos = p;
    u->buffer.last = p + n;
    u->buffer.end = p + u->conf->buffer_size;

    return PT_OK;
}


/*
 * proxy_intercept_errors: a status of 300 or more that the location has an
 * error_page for is answered with that page (as if the status were
 * Portico's own) instead of the server's response. The body is not
 * wanted: the connection is kept for another request only when the whole
 * body, often none, came with the head. Returns 1 when it took over.
 */
static pt_uint_t
pt_http_upstream_intercept_errors(pt_http_request_t *r, pt_http_upstream_t *u)
{
    off_t                     n;
    pt_int_t                  rc;
    pt_buf_t                  b;
    pt_uint_t                 i, status;
    pt_list_part_t           *part;
    pt_table_elt_t           *h, *ho;
    pt_http_chunked_t         chunked;
    pt_http_err_page_t       *err;
    pt_http_core_loc_conf_t  *clcf;

    status = u->headers_in.status_n;

    if (status < PT_HTTP_SPECIAL_RESPONSE || u->upgrading) {
        return 0;
    }

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    if (clcf->error_pages == NULL) {
        return 0;
    }

    err = clcf->error_pages->elts;

    for (i = 0; i < clcf->error_pages->nelts; i++) {
        if (err[i].status == (pt_int_t) status) {
            break;
        }
    }

    if (i == clcf->error_pages->nelts) {
        return 0;
    }

    if (status == PT_HTTP_UNAUTHORIZED) {
        /* the page that replaces a 401 keeps the server's challenge */
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

            if (h[i].hash == 0 || h[i].key.len != 16
                || pt_strncmp(h[i].lowcase_key, "www-authenticate", 16) != 0)
            {
                continue;
            }

            ho = pt_list_push(&r->headers_out.headers);
            if (ho == NULL) {
                u->keepalive = 0;
                pt_http_upstream_finalize_request(r, u,
                                              PT_HTTP_INTERNAL_SERVER_ERROR);
                return 1;
            }

            *ho = h[i];
            ho->next = NULL;
        }
    }

    if (u->keepalive) {
        n = u->buffer.last - u->buffer.pos;

        if (u->head || status == PT_HTTP_NOT_MODIFIED) {
            u->keepalive = (n == 0);

        } else if (u->headers_in.chunked) {
            b = u->buffer;      /* a copy: parsing moves its pos */
            pt_memzero(&chunked, sizeof(pt_http_chunked_t));

            for ( ;; ) {
                rc = pt_http_parse_chunked(r, &b, &chunked);

                if (rc != PT_OK) {
                    break;
                }

                n = pt_min(chunked.size, (off_t) (b.last - b.pos));

                if (n == 0) {
                    break;
                }

                chunked.size -= n;
                b.pos += n;
            }

            u->keepalive = (rc == PT_DONE && b.pos == b.last);

        } else {
            u->keepalive = (u->headers_in.content_length_n == n);
        }
    }

    if (u->keepalive && u->peer) {
        ((pt_http_upstream_cached_t *) u->peer->data)->request = NULL;
        pt_http_upstream_cache_put(u);     /* or closes it */
    }

    pt_http_upstream_finalize_request(r, u, status);

    return 1;
}


static pt_uint_t
pt_http_upstream_hop_by_hop(pt_table_elt_t *h, pt_http_upstream_t *u)
{
    pt_uint_t  kind;

    kind = pt_http_hop_header(h->lowcase_key, h->key.len);

    if (kind & PT_HTTP_HOP_UPGRADE) {
        return !u->upgrading;       /* Upgrade goes through on a 101 */
    }

    if (kind & ~(pt_uint_t) (PT_HTTP_HOP_HOST | PT_HTTP_HOP_EXPECT)) {
        return 1;
    }

    /* and whatever the upstream's Connection header names */
    if (!u->headers_in.connection_other) {
        return 0;
    }

    return pt_http_token_in(u->headers_in.connection, h->lowcase_key,
                            h->key.len);
}


pt_int_t
pt_http_upstream_hide_header(pt_http_upstream_conf_t *conf, pt_uint_t hash,
    pt_str_t *lowcase_name)
{
    return pt_hash_find(&conf->hide_hash, hash, lowcase_name->data,
                        lowcase_name->len) != NULL;
}


/*
 * Builds the table of the names in conf->hide_headers (an empty name
 * matches nothing: proxy_pass_header took it back), looked up once per
 * response header by the hash the parser computed.
 */
pt_int_t
pt_http_upstream_hide_headers_hash(pt_conf_t *cf,
    pt_http_upstream_conf_t *conf)
{
    pt_str_t       *h;
    pt_uint_t       i;
    pt_array_t      keys;
    pt_hash_key_t  *hk;

    if (conf->hide_headers == NULL) {
        return PT_OK;
    }

    if (pt_array_init(&keys, cf->temp_pool, conf->hide_headers->nelts + 1,
                      sizeof(pt_hash_key_t)) != PT_OK)
    {
        return PT_ERROR;
    }

    h = conf->hide_headers->elts;

    for (i = 0; i < conf->hide_headers->nelts; i++) {
        if (h[i].len == 0) {
            continue;
        }

        hk = pt_array_push(&keys);
        if (hk == NULL) {
            return PT_ERROR;
        }

        hk->key = h[i];
        hk->key_hash = pt_hash_key_lc(h[i].data, h[i].len);
        hk->value = (void *) 1;
    }

    return pt_hash_init(&conf->hide_hash, cf->pool, keys.elts, keys.nelts);
}


/*
 * Whether the body is read ahead of the client (proxy_buffering), which
 * the response can turn on or off with "X-Accel-Buffering: yes|no" unless
 * the location ignores that field.
 */
static pt_uint_t
pt_http_upstream_want_buffering(pt_http_upstream_t *u)
{
    pt_str_t         lc;
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_table_elt_t  *h;

    if (u->conf->ignore_headers & PT_HTTP_UPSTREAM_IGN_XA_BUFFERING) {
        return u->conf->buffering;
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

        lc.data = h[i].lowcase_key;
        lc.len = h[i].key.len;

        if (h[i].hash == 0 || !pt_str_eq_lit(&lc, "x-accel-buffering")) {
            continue;
        }

        if (pt_str_caseeq_lit(&h[i].value, "yes")) {
            return 1;
        }

        if (pt_str_caseeq_lit(&h[i].value, "no")) {
            return 0;
        }
    }

    return u->conf->buffering;
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

    if (u->body_streaming && !u->body_done) {
        /*
         * Answered before the whole body went: the rest of it is not
         * sent, the server's connection cannot be used again, and the
         * client's neither when some of the body is still to come.
         */
        u->keepalive = 0;
        r->read_event_handler = pt_http_upstream_check_broken_connection;

        if (!((pt_http_request_body_t *) r->request_body)->done) {
            r->keepalive = 0;
            r->lingering_close = 1;

            if (r->connection->read->timer_set) {
                pt_event_del_timer(r->connection->read);
            }
        }
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

        if (h[i].hash == 0 || pt_http_upstream_hop_by_hop(&h[i], u)) {
            continue;
        }

        lc.data = h[i].lowcase_key;
        lc.len = h[i].key.len;

        if (pt_http_upstream_hide_header(u->conf, h[i].hash, &lc)) {
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

        /* proxy_redirect, proxy_cookie_*: a new value, the original kept */
        if (u->rewrite_header && u->rewrite_header(r, ho) != PT_OK) {
            return PT_ERROR;
        }

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

    u->buffering = !u->upgrading && pt_http_upstream_want_buffering(u);

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

    if (u->buffering) {
        pt_http_upstream_process_pipe(r, u);
        return;
    }

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


/*
 * Buffering on (nginx's event pipe, simplified). The response body is read
 * as fast as the upstream sends it into memory buffers: proxy_buffer_size
 * (which held the head) and up to proxy_buffers more. The client gets them
 * as it can take them, no more than proxy_busy_buffers_size at a time
 * while the upstream is still sending; when every buffer is full, the
 * oldest ones not yet passed on go to a temporary file (in pieces of
 * proxy_temp_file_write_size, up to proxy_max_temp_file_size in all), and
 * when that is not allowed or full, reading stops until the client takes
 * some. Once the whole body is read, all of it is passed on and the
 * upstream connection is released (kept alive or closed) while the client
 * is still receiving.
 *
 * Each memory buffer holds decoded body bytes: what is read is appended
 * and decoded in place (the chunked coding's framing is squeezed out), so
 * a buffer passed on is a plain run of the body. A buffer passed on is
 * reused only once the client has everything (r->out is empty): a filter
 * may still hold a link to a buffer it has used up until then.
 */
struct pt_http_upstream_pipe_s {
    pt_chain_t                   *free;         /* empty memory buffers */
    pt_chain_t                   *in;           /* memory, not passed on */
    pt_chain_t                   *out;          /* file ranges, before "in" */
    pt_chain_t                   *busy;         /* passed on */
    pt_chain_t                   *spare;        /* file buffers to reuse */
    pt_buf_t                     *reading;      /* being filled */
    pt_file_t                    *temp_file;
    pt_buf_t                     *last;         /* the last_buf marker */
    pt_uint_t                     allocated;    /* of proxy_buffers */
    off_t                         busy_size;    /* not yet sent of "busy" */
    unsigned                      no_file:1;    /* the file failed */
};


/*
 * Decodes the body bytes [p, b->last) of b in place, so that they are
 * body data afterwards (b->last moves back over the chunked framing).
 * Returns PT_OK, PT_DONE when the body is complete, PT_ERROR.
 */
static pt_int_t
pt_http_upstream_decode(pt_http_request_t *r, pt_http_upstream_t *u,
    pt_buf_t *b, u_char *p)
{
    off_t     n;
    u_char   *w;
    pt_int_t  rc;
    pt_buf_t  src;

    if (u->length == -1) {
        return PT_OK;       /* until the upstream closes */
    }

    if (u->length >= 0) {
        n = b->last - p;

        if (n < u->length) {
            u->length -= n;
            return PT_OK;
        }

        if (n > u->length) {
            /* more than the upstream announced: never reuse it */
            u->keepalive = 0;
            b->last = p + u->length;
        }

        u->length = 0;

        return PT_DONE;
    }

    /* chunked */

    src = *b;
    src.pos = p;
    w = p;

    while (src.pos < src.last) {

        rc = pt_http_parse_chunked(r, &src, &u->chunked);

        if (rc == PT_OK) {
            n = pt_min(u->chunked.size, (off_t) (src.last - src.pos));

            if (w != src.pos) {
                pt_memmove(w, src.pos, (size_t) n);
            }

            w += n;
            src.pos += n;
            u->chunked.size -= n;
            continue;
        }

        if (rc == PT_DONE) {
            if (src.pos < src.last) {
                u->keepalive = 0;
            }

            u->length = 0;
            break;
        }

        if (rc == PT_AGAIN) {
            break;
        }

        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "upstream sent invalid chunked response");
        return PT_ERROR;
    }

    b->last = w;

    return u->length == 0 ? PT_DONE : PT_OK;
}


static pt_int_t
pt_http_upstream_pipe_init(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_http_upstream_pipe_t  *p;

    p = pt_pcalloc(r->pool, sizeof(pt_http_upstream_pipe_t));
    if (p == NULL) {
        return PT_ERROR;
    }

    p->last = pt_calloc_buf(r->pool);
    if (p->last == NULL) {
        return PT_ERROR;
    }

    p->last->last_buf = 1;

    u->pipe = p;

    /* the body bytes that came with the head start the first buffer */
    p->reading = &u->buffer;

    if (u->length == 0) {
        if (u->buffer.pos < u->buffer.last) {
            u->keepalive = 0;
        }

        u->buffer.last = u->buffer.pos;
        return PT_OK;
    }

    if (pt_http_upstream_decode(r, u, &u->buffer, u->buffer.pos)
        == PT_ERROR)
    {
        return PT_ERROR;
    }

    return PT_OK;
}


/*
 * Everything passed on is on the wire (or taken by a filter) once r->out
 * is empty: then the memory buffers are free again. Counts what the
 * client still has to take otherwise.
 */
static void
pt_http_upstream_pipe_recycle(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_buf_t                 *b;
    pt_chain_t               *cl;
    pt_http_upstream_pipe_t  *p;

    p = u->pipe;
    p->busy_size = 0;

    if (r->out) {
        for (cl = p->busy; cl; cl = cl->next) {
            p->busy_size += pt_buf_size(cl->buf);
        }

        return;
    }

    while (p->busy) {
        cl = p->busy;
        p->busy = cl->next;
        b = cl->buf;

        if (b->in_file) {
            cl->next = p->spare;
            p->spare = cl;
            continue;
        }

        b->pos = b->start;
        b->last = b->start;
        b->flush = 0;

        cl->next = p->free;
        p->free = cl;
    }
}


/*
 * Passes the oldest data on: the file ranges, then the memory buffers,
 * then the one being filled; no more than proxy_busy_buffers_size may be
 * under way unless "all": everything goes, and with PT_HTTP_UPSTREAM_LAST
 * the end of the body too. Returns PT_OK, PT_DECLINED when nothing went,
 * PT_ERROR.
 */
#define PT_HTTP_UPSTREAM_SOME  0
#define PT_HTTP_UPSTREAM_ALL   1
#define PT_HTTP_UPSTREAM_LAST  2
#define PT_HTTP_UPSTREAM_FLUSH 4    /* with SOME: the upstream is idle */

static pt_int_t
pt_http_upstream_pipe_pass(pt_http_request_t *r, pt_http_upstream_t *u,
    pt_uint_t all)
{
    pt_int_t                  rc;
    pt_buf_t                 *b;
    pt_chain_t               *cl, *ln, *out, **ll;
    pt_http_upstream_pipe_t  *p;

    p = u->pipe;
    out = NULL;
    ll = &out;
    b = NULL;

    for ( ;; ) {

        if ((all & ~(pt_uint_t) PT_HTTP_UPSTREAM_FLUSH) == PT_HTTP_UPSTREAM_SOME
            && p->busy_size >= (off_t) u->conf->busy_buffers_size)
        {
            break;
        }

        if (p->out) {
            cl = p->out;
            p->out = cl->next;

        } else if (p->in) {
            cl = p->in;
            p->in = cl->next;

        } else if (p->reading && p->reading->pos < p->reading->last) {
            cl = pt_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return PT_ERROR;
            }

            cl->buf = p->reading;
            p->reading = NULL;

        } else {
            break;
        }

        b = cl->buf;
        p->busy_size += pt_buf_size(b);

        cl->next = p->busy;
        p->busy = cl;

        ln = pt_alloc_chain_link(r->pool);
        if (ln == NULL) {
            return PT_ERROR;
        }

        ln->buf = b;
        ln->next = NULL;
        *ll = ln;
        ll = &ln->next;
    }

    if (all == PT_HTTP_UPSTREAM_LAST) {
        ln = pt_alloc_chain_link(r->pool);
        if (ln == NULL) {
            return PT_ERROR;
        }

        ln->buf = p->last;
        ln->next = NULL;
        *ll = ln;

        u->body_ended = 1;

    } else if (out == NULL) {
        return PT_DECLINED;
    }

    /*
     * A flush goes with the data only when the upstream has nothing more
     * for now and the body's length is not known: what it sent is then
     * all there is for a while (an event of a stream, say) and must not
     * wait in gzip or postpone_output. A body of a known length is a
     * document, not a stream: a flush whenever the server pauses would
     * make gzip end a block each time for nothing, so it goes through as
     * the buffers fill, as nginx passes it.
     */
    if ((all & PT_HTTP_UPSTREAM_FLUSH)
        && u->headers_in.content_length == NULL)
    {
        b->flush = 1;
    }

    rc = pt_http_output_filter(r, out);

    /* the filters keep copies of the links they hold on to */
    while (out) {
        ln = out;
        out = out->next;
        pt_free_chain(r->pool, ln);
    }

    return rc == PT_ERROR ? PT_ERROR : PT_OK;
}


/* A temporary file under the temp path, in its level directories. */
static pt_file_t *
pt_http_upstream_create_temp_file(pt_http_request_t *r,
    pt_http_upstream_temp_path_t *path)
{
    u_char             *p, digits[11];
    size_t              len;
    pt_str_t            dir;
    pt_uint_t           i, n;
    static pt_uint_t    number;

    if (path->level[0] == 0) {
        return pt_create_temp_file(r->pool, &path->name, r->connection->log);
    }

    /* a number like nginx's file names; its last digits name the levels */
    if (number == 0) {
        number = (pt_uint_t) getpid() * 7919;
    }

    number++;

    (void) snprintf((char *) digits, sizeof(digits), "%010lu",
                    (unsigned long) (number % 10000000000UL));

    len = path->name.len + 3 + 10 + 1;

    dir.data = pt_pnalloc(r->pool, len);
    if (dir.data == NULL) {
        return NULL;
    }

    p = pt_cpymem(dir.data, path->name.data, path->name.len);
    n = 10;

    for (i = 0; i < 3 && path->level[i]; i++) {
        *p++ = '/';
        n -= path->level[i];
        p = pt_cpymem(p, digits + n, path->level[i]);
        *p = '\0';

        /* made by the first file that needs it */
        if (mkdir((char *) dir.data, 0700) == -1 && errno != EEXIST) {
            pt_log_error(PT_LOG_CRIT, r->connection->log, errno,
                         "mkdir() \"%s\" failed", (char *) dir.data);
            return NULL;
        }
    }

    dir.len = p - dir.data;

    return pt_create_temp_file(r->pool, &dir, r->connection->log);
}


/*
 * Moves the oldest memory buffers not yet passed on to the temporary file,
 * up to proxy_temp_file_write_size at a time and proxy_max_temp_file_size
 * in all. Returns PT_OK when buffers were freed, PT_DECLINED when none
 * could be, PT_ERROR. A file that cannot be made or written (logged at
 * crit) is not tried again for the response, which then waits for the
 * client as with proxy_max_temp_file_size 0: slower, but whole.
 */
static pt_int_t
pt_http_upstream_pipe_spill(pt_http_request_t *r, pt_http_upstream_t *u)
{
    int                       i, niov;
    off_t                     size, offset, bsize, written;
    ssize_t                   n;
    pt_buf_t                 *b;
    pt_chain_t               *cl, *last, *stop;
    struct iovec              iov[64];
    pt_http_upstream_pipe_t  *p;

    p = u->pipe;

    if (u->conf->max_temp_file_size == 0 || p->no_file || p->in == NULL) {
        return PT_DECLINED;
    }

    offset = p->temp_file ? p->temp_file->offset : 0;
    size = 0;
    niov = 0;
    last = NULL;

    for (cl = p->in; cl && niov < 64; cl = cl->next) {
        bsize = cl->buf->last - cl->buf->pos;

        if (size && size + bsize > (off_t) u->conf->temp_file_write_size) {
            break;
        }

        if (offset + size + bsize > u->conf->max_temp_file_size) {
            break;
        }

        iov[niov].iov_base = cl->buf->pos;
        iov[niov].iov_len = (size_t) bsize;
        niov++;

        size += bsize;
        last = cl;
    }

    if (last == NULL) {
        return PT_DECLINED;     /* the file is as big as it may get */
    }

    if (p->temp_file == NULL) {
        p->temp_file = pt_http_upstream_create_temp_file(r,
                                                         u->conf->temp_path);
        if (p->temp_file == NULL) {
            p->no_file = 1;
            return PT_DECLINED;
        }

        pt_log_error(PT_LOG_WARN, r->connection->log, 0,
                     "an upstream response is buffered to a temporary "
                     "file in \"%s\"", (char *) p->temp_file->name.data);
    }

    /* a write cut short (the disk filling up) is retried for its errno */
    for (i = 0, written = 0; written < size; /* void */) {
        n = pwritev(p->temp_file->fd, &iov[i], niov - i, offset + written);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            /* nothing is lost: the buffers wait for the client instead */
            pt_log_error(PT_LOG_CRIT, r->connection->log,
                         n == -1 ? errno : ENOSPC,
                         "pwritev() of an upstream response to a temporary "
                         "file in \"%.*s\" failed",
                         PT_STR_ARG(p->temp_file->name));
            p->no_file = 1;
            return PT_DECLINED;
        }

        written += n;

        while (n > 0) {
            if ((size_t) n < iov[i].iov_len) {
                iov[i].iov_base = (u_char *) iov[i].iov_base + n;
                iov[i].iov_len -= (size_t) n;
                break;
            }

            n -= (ssize_t) iov[i].iov_len;
            i++;
        }
    }

    p->temp_file->offset += size;

    /* the range joins the file's part, the buffers are free */

    if (p->spare) {
        cl = p->spare;
        p->spare = cl->next;
        b = cl->buf;

    } else {
        cl = pt_alloc_chain_link(r->pool);
        b = pt_calloc_buf(r->pool);
        if (cl == NULL || b == NULL) {
            return PT_ERROR;
        }

        cl->buf = b;
    }

    pt_memzero(b, sizeof(pt_buf_t));
    b->in_file = 1;
    b->temp_file = 1;
    b->file = p->temp_file;
    b->file_pos = offset;
    b->file_last = offset + size;
    cl->next = NULL;

    if (p->out) {
        pt_chain_t  *ol;

        for (ol = p->out; ol->next; ol = ol->next) { /* void */ }
        ol->next = cl;

    } else {
        p->out = cl;
    }

    stop = last->next;

    while (p->in != stop) {
        cl = p->in;
        p->in = cl->next;

        cl->buf->pos = cl->buf->start;
        cl->buf->last = cl->buf->start;

        cl->next = p->free;
        p->free = cl;
    }

    return PT_OK;
}


/*
 * A buffer to read into: the one being filled while it has room, a free
 * one, a new one while proxy_buffers allows, or one freed by moving data
 * to the temporary file. NULL with *rc = PT_DECLINED when there is none
 * (reading waits for the client), or with *rc = PT_ERROR.
 */
static pt_buf_t *
pt_http_upstream_pipe_get_buf(pt_http_request_t *r, pt_http_upstream_t *u,
    pt_int_t *rc)
{
    pt_chain_t               *cl, **ll;
    pt_http_upstream_pipe_t  *p;

    p = u->pipe;

    if (p->reading && p->reading->last < p->reading->end) {
        return p->reading;
    }

    if (p->reading) {
        /* full: in line for the client */
        cl = pt_alloc_chain_link(r->pool);
        if (cl == NULL) {
            *rc = PT_ERROR;
            return NULL;
        }

        cl->buf = p->reading;
        cl->next = NULL;

        for (ll = &p->in; *ll; ll = &(*ll)->next) { /* void */ }
        *ll = cl;

        p->reading = NULL;
    }

    if (p->free == NULL && p->allocated < (pt_uint_t) u->conf->bufs.num) {
        cl = pt_alloc_chain_link(r->pool);
        if (cl == NULL) {
            *rc = PT_ERROR;
            return NULL;
        }

        cl->buf = pt_create_temp_buf(r->pool, u->conf->bufs.size);
        if (cl->buf == NULL) {
            *rc = PT_ERROR;
            return NULL;
        }

        cl->next = NULL;
        p->free = cl;
        p->allocated++;
    }

    if (p->free == NULL) {
        if (p->busy == NULL && r->connection->write->ready) {
            /* the client can take some now: no disk for that */
            *rc = PT_DECLINED;
            return NULL;
        }

        *rc = pt_http_upstream_pipe_spill(r, u);

        if (*rc != PT_OK) {
            return NULL;
        }
    }

    cl = p->free;
    p->free = cl->next;

    p->reading = cl->buf;

    /* the link is not needed while the buffer is being filled */
    pt_free_chain(r->pool, cl);

    return p->reading;
}


/*
 * Reads what the upstream has into the pipe. Returns PT_OK when it read
 * something, PT_AGAIN when the upstream has nothing now, PT_DECLINED when
 * there is no room (the client holds it up), PT_DONE when the body is
 * complete, PT_ERROR (logged) when it failed.
 */
static pt_int_t
pt_http_upstream_pipe_read(pt_http_request_t *r, pt_http_upstream_t *u)
{
    ssize_t           n;
    u_char           *start;
    pt_int_t          rc;
    pt_buf_t         *b;
    pt_connection_t  *pc;

    pc = u->peer;

    rc = PT_OK;

    b = pt_http_upstream_pipe_get_buf(r, u, &rc);
    if (b == NULL) {
        return rc;
    }

    start = b->last;

    n = pc->recv(pc, b->last, b->end - b->last);

    if (n == PT_AGAIN) {
        return PT_AGAIN;
    }

    if (n == 0 || n == PT_ERROR) {
        u->keepalive = 0;

        if (n == 0 && u->length == -1) {
            /* a close-delimited body ends here */
            u->length = 0;
            return PT_DONE;
        }

        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "upstream prematurely closed connection while "
                     "reading upstream %.*s", PT_STR_ARG(u->rr_peer->name));
        return PT_ERROR;
    }

    u->state->bytes_received += n;
    b->last += n;

    if (pc->read->timer_set) {
        pt_event_del_timer(pc->read);
    }

    return pt_http_upstream_decode(r, u, b, start);
}


/*
 * The upstream failed in the middle of the body: what was read of it
 * still goes to the client, then the connection ends without the end of
 * the body, so that the client sees that the response is incomplete.
 */
static void
pt_http_upstream_pipe_abort(pt_http_request_t *r, pt_http_upstream_t *u)
{
    u->keepalive = 0;
    r->keepalive = 0;

    if (pt_http_upstream_pipe_pass(r, u, PT_HTTP_UPSTREAM_ALL) == PT_ERROR) {
        pt_http_upstream_finalize_request(r, u, PT_ERROR);
        return;
    }

    /* (the server's connection is closed: the body did not end) */
    pt_http_upstream_finalize_request(r, u, PT_OK);
}


static void
pt_http_upstream_process_pipe(pt_http_request_t *r, pt_http_upstream_t *u)
{
    off_t                     sent;
    pt_int_t                  rc;
    pt_uint_t                 progress, idle;
    pt_connection_t          *pc, *c;
    pt_http_core_loc_conf_t  *clcf;

    c = r->connection;
    pc = u->peer;

    if (pc->read->timedout) {
        pc->read->timedout = 0;
        pt_log_error(PT_LOG_ERR, c->log, ETIMEDOUT,
                     "upstream timed out while reading upstream %.*s",
                     PT_STR_ARG(u->rr_peer->name));
        pt_http_upstream_pipe_abort(r, u);
        return;
    }

    if (u->pipe == NULL && pt_http_upstream_pipe_init(r, u) != PT_OK) {
        u->keepalive = 0;
        pt_http_upstream_finalize_request(r, u, PT_ERROR);
        return;
    }

    sent = c->sent;
    idle = 0;

    for ( ;; ) {
        progress = 0;

        /* (a head held back by postpone_output goes with the first data) */
        if (r->out && u->pipe->busy
            && pt_http_output_filter(r, NULL) == PT_ERROR)
        {
            pt_http_upstream_finalize_request(r, u, PT_ERROR);
            return;
        }

        pt_http_upstream_pipe_recycle(r, u);

        /* what the upstream has, while there is room: passed on together */
        while (!idle && u->length != 0) {
            rc = pt_http_upstream_pipe_read(r, u);

            if (rc == PT_ERROR) {
                pt_http_upstream_pipe_abort(r, u);
                return;
            }

            if (rc == PT_AGAIN) {
                idle = 1;
                break;
            }

            if (rc == PT_DECLINED) {
                break;
            }

            progress = 1;
        }

        if (u->length == 0) {
            /* all read: the rest goes, and the upstream is let go */
            rc = pt_http_upstream_pipe_pass(r, u, PT_HTTP_UPSTREAM_LAST);
            pt_http_upstream_finalize_request(r, u,
                                              rc == PT_OK ? PT_OK : PT_ERROR);
            return;
        }

        rc = pt_http_upstream_pipe_pass(r, u, idle ? PT_HTTP_UPSTREAM_FLUSH
                                                   : PT_HTTP_UPSTREAM_SOME);

        if (rc == PT_ERROR) {
            pt_http_upstream_finalize_request(r, u, PT_ERROR);
            return;
        }

        if (rc == PT_OK) {
            progress = 1;
        }

        if (!progress) {
            break;
        }
    }

    /* waiting: for the upstream, or for the client to make room */

    if (idle) {
        if (!pc->read->timer_set) {
            pt_event_add_timer(pc->read, u->conf->read_timeout);
        }

    } else if (pc->read->timer_set) {
        pt_event_del_timer(pc->read);
    }

    r->write_event_handler = pt_http_upstream_downstream_handler;

    if (r->out && u->pipe->busy) {
        if (c->sent != sent || !c->write->timer_set) {
            clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);
            pt_event_add_timer(c->write, clcf->send_timeout);
        }

    } else if (c->write->timer_set) {
        pt_event_del_timer(c->write);
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
                 && u->state->bytes_received == 0 && !u->body_started
                 && (pt_http_upstream_idempotent(r)
                     || (u->conf->next_upstream
                         & PT_HTTP_UPSTREAM_FT_NON_IDEMPOTENT));

    if (u->state) {
        u->state->status = status;
        u->state->response_time = pt_current_msec - u->start_time;
    }

    if (retry_same) {
        i = u->rr_peer - u->upstream->peers->peer;
        pt_http_upstream_free_peer(u, PT_HTTP_UPSTREAM_PEER_NEUTRAL);
        u->tried[i / 64] &= ~((uint64_t) 1 << (i % 64));

    } else {
        /*
         * Every reason to try the next server is a failure of this one
         * (http_5xx and http_429 only when listed, or we would not be
         * here), except http_403 and http_404, as in nginx.
         */
        pt_http_upstream_free_peer(u,
            (ft_type == PT_HTTP_UPSTREAM_FT_HTTP_403
             || ft_type == PT_HTTP_UPSTREAM_FT_HTTP_404)
            ? PT_HTTP_UPSTREAM_PEER_NEUTRAL : PT_HTTP_UPSTREAM_PEER_FAILED);
        u->tries--;
    }

    pt_http_upstream_close_peer(u);

    if (u->tries == 0 || r->connection->error
        || u->body_started      /* the streamed body cannot go again */
        || !(retry_same || (u->conf->next_upstream & ft_type))
        || (u->conf->next_upstream_timeout && !retry_same
            && pt_current_msec - u->first_start
               >= u->conf->next_upstream_timeout)
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
    pt_connection_t  *c;

    c = u->peer;

    if (c == NULL) {
        return;
    }

    if (c->ssl) {
        (void) pt_ssl_shutdown(c);
    }

    pt_close_connection(c);
    pt_destroy_pool(c->pool);     /* the keep-alive record with it */

    u->peer = NULL;
}


static void
pt_http_upstream_finalize_request(pt_http_request_t *r,
    pt_http_upstream_t *u, pt_int_t rc)
{
    if (u->resolve_ctx) {
        pt_resolve_name_done(u->resolve_ctx);
        u->resolve_ctx = NULL;
    }

    if (u->state && u->state->response_time == 0) {
        u->state->response_time = pt_current_msec - u->start_time;
    }

    if (u->rr_peer) {
        pt_http_upstream_free_peer(u, PT_HTTP_UPSTREAM_PEER_OK);
    }

    /* the upstream's part is over: no more watching the client for it */
    r->read_event_handler = pt_http_block_reading;

    if (u->body_streaming
        && !((pt_http_request_body_t *) r->request_body)->done)
    {
        /* the rest of a streamed body is unread: no next request after it */
        r->keepalive = 0;
        r->lingering_close = 1;

        if (r->connection->read->timer_set) {
            pt_event_del_timer(r->connection->read);
        }
    }

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

    if (u && u->resolve_ctx) {
        pt_resolve_name_done(u->resolve_ctx);
        u->resolve_ctx = NULL;
    }

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
