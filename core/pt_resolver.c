/*
 * The DNS resolver: c-ares does the DNS (queries, retries, TCP after a
 * truncated answer, parsing); this file ties it to the event loop and
 * gives callers one outcome per name.
 *
 * Each resolver has, in each process that uses it, one c-ares channel (a
 * "worker" below), created at its first query so that nothing is shared
 * across fork(). c-ares tells which sockets it has and what it waits for
 * on them (the socket create and state callbacks); each such socket is a
 * connection of the event loop, registered level-triggered, whose handlers
 * call ares_process_fd(). One timer follows ares_timeout().
 *
 * A name takes one c-ares query per address family. Their callbacks only
 * record what came back; the caller's handler runs from a posted event, so
 * it may start or end queries without re-entering c-ares. A ctx the caller
 * lets go while its queries are under way stays until they end: c-ares
 * cannot cancel one query, so when no ctx still waits, all the channel's
 * queries are cancelled at once.
 */
#define CARES_NO_DEPRECATED     /* the classic API, kept by newer c-ares */
#include "pt_core.h"
#include <ares.h>


#define PT_RESOLVER_MAX_ADDRS       64      /* kept per family and answer */
#define PT_RESOLVER_MAX_QUERIES     1024    /* in flight, per process */
#define PT_RESOLVER_TRY_TIMEOUT     2000    /* ms before c-ares asks again */
#define PT_RESOLVER_TRIES           3
#define PT_RESOLVER_NEGATIVE_VALID  10      /* s, for failures */
#define PT_RESOLVER_LITERAL_VALID   86400   /* s, for address literals */

#define PT_RESOLVER_INET   0
#define PT_RESOLVER_INET6  1

#define PT_DNS_CLASS_IN    1
#define PT_DNS_TYPE_A      1
#define PT_DNS_TYPE_AAAA   28


struct pt_resolver_s {
    pt_addr_t               *servers;   /* with their ports */
    pt_uint_t                nservers;
    time_t                   valid;     /* valid=, 0: the answers' TTL */
    pt_uint_t                max_queries;
    pt_log_t                *log;
    pt_resolver_worker_t    *worker;    /* this process's, once used */

    unsigned                 ipv4:1;
    unsigned                 ipv6:1;
};


struct pt_resolver_worker_s {
    pt_resolver_t           *resolver;
    pt_pool_t               *pool;
    pt_log_t                *log;
    ares_channel             channel;

    pt_event_t               timer;     /* ares_timeout() */
    pt_event_t               sweep;     /* posted: cancel unwanted queries */

    pt_queue_t               ctxs;      /* started, not yet freed */
    pt_queue_t               conns;     /* c-ares's sockets */
    pt_uint_t                nqueries;  /* ctxs with c-ares queries */

    pt_queue_t               queue;     /* in pt_resolver_workers */
};


static pt_resolver_worker_t *pt_resolver_get_worker(pt_resolver_t *r);
static pt_int_t pt_resolver_set_servers(pt_resolver_worker_t *w);
static void pt_resolver_destroy_worker(pt_resolver_worker_t *w);
static int pt_resolver_socket_created(ares_socket_t fd, int type,
    void *data);
static void pt_resolver_socket_state(void *data, ares_socket_t fd,
    int readable, int writable);
static pt_connection_t *pt_resolver_find_conn(pt_resolver_worker_t *w,
    ares_socket_t fd);
static void pt_resolver_free_conn(pt_connection_t *c);
static void pt_resolver_read_handler(pt_event_t *ev);
static void pt_resolver_write_handler(pt_event_t *ev);
static void pt_resolver_timer_handler(pt_event_t *ev);
static void pt_resolver_set_timer(pt_resolver_worker_t *w);
static void pt_resolver_sweep_handler(pt_event_t *ev);
static void pt_resolver_cancel_all(pt_resolver_worker_t *w);
static pt_int_t pt_resolver_literal(pt_resolver_ctx_t *ctx);
static void pt_resolver_a_callback(void *arg, int status, int timeouts,
    unsigned char *abuf, int alen);
static void pt_resolver_aaaa_callback(void *arg, int status, int timeouts,
    unsigned char *abuf, int alen);
static void pt_resolver_answer(pt_resolver_ctx_t *ctx, pt_uint_t family,
    int status, unsigned char *abuf, int alen);
static pt_int_t pt_resolver_add_addrs(pt_resolver_ctx_t *ctx,
    pt_uint_t family, void *addrttls, int n);
static void pt_resolver_finish(pt_resolver_ctx_t *ctx);
static void pt_resolver_ctx_handler(pt_event_t *ev);
static void pt_resolver_free_ctx(pt_resolver_ctx_t *ctx);


static pt_queue_t  pt_resolver_workers;
static pt_uint_t   pt_resolver_library;    /* ares_library_init() done */


/* configuration */

pt_resolver_t *
pt_resolver_create(pt_conf_t *cf, pt_str_t *args, pt_uint_t nargs)
{
    pt_int_t        n;
    pt_str_t        s;
    pt_uint_t       i, j;
    pt_url_t        u;
    pt_addr_t      *addr;
    pt_array_t      servers;
    const char     *name;
    pt_resolver_t  *r;

    name = cf->name ? cf->name : "resolver";

    r = pt_pcalloc(cf->pool, sizeof(pt_resolver_t));
    if (r == NULL) {
        return NULL;
    }

    if (pt_array_init(&servers, cf->pool, 2, sizeof(pt_addr_t)) != PT_OK) {
        return NULL;
    }

    r->ipv4 = 1;
    r->ipv6 = 1;
    r->max_queries = PT_RESOLVER_MAX_QUERIES;
    r->log = &cf->cycle->new_log;

    for (i = 0; i < nargs; i++) {

        if (args[i].len >= 6 && pt_strncmp(args[i].data, "valid=", 6) == 0) {
            s.data = args[i].data + 6;
            s.len = args[i].len - 6;

            n = pt_parse_time(&s, 1);
            if (n == PT_ERROR) {
                pt_conf_error(cf, "invalid time \"%.*s\" in \"%.*s\" of the "
                              "\"%s\" directive", PT_STR_ARG(s),
                              PT_STR_ARG(args[i]), name);
                return NULL;
            }

            r->valid = (time_t) n;
            continue;
        }

        if (args[i].len >= 5
            && (pt_strncmp(args[i].data, "ipv4=", 5) == 0
                || pt_strncmp(args[i].data, "ipv6=", 5) == 0))
        {
            s.data = args[i].data + 5;
            s.len = args[i].len - 5;

            if (pt_str_eq_lit(&s, "on")) {
                n = 1;

            } else if (pt_str_eq_lit(&s, "off")) {
                n = 0;

            } else {
                pt_conf_error(cf, "invalid value \"%.*s\" in \"%.*s\" of the "
                              "\"%s\" directive, it must be \"on\" or \"off\"",
                              PT_STR_ARG(s), PT_STR_ARG(args[i]), name);
                return NULL;
            }

            if (args[i].data[3] == '4') {
                r->ipv4 = n;

            } else {
                r->ipv6 = n;
            }

            continue;
        }

        if (pt_strlchr(args[i].data, args[i].data + args[i].len, '=')) {
            pt_conf_error(cf, "invalid parameter \"%.*s\" of the \"%s\" "
                          "directive", PT_STR_ARG(args[i]), name);
            return NULL;
        }

        if (args[i].len >= 5
            && pt_strncasecmp(args[i].data, (u_char *) "unix:", 5) == 0)
        {
            pt_conf_error(cf, "a DNS server cannot be a unix domain socket "
                          "(\"%.*s\" of the \"%s\" directive)",
                          PT_STR_ARG(args[i]), name);
            return NULL;
        }

        pt_memzero(&u, sizeof(pt_url_t));

        u.url = args[i];
        u.default_port = 53;

        if (pt_parse_url(cf->pool, &u) != PT_OK) {
            if (u.err) {
                pt_conf_error(cf, "%s in \"%.*s\" of the \"%s\" directive",
                              u.err, PT_STR_ARG(u.url), name);
            }

            return NULL;
        }

        for (j = 0; j < u.naddrs; j++) {
            addr = pt_array_push(&servers);
            if (addr == NULL) {
                return NULL;
            }

            *addr = u.addrs[j];
        }
    }

    if (servers.nelts == 0) {
        pt_conf_error(cf, "no DNS server address in the \"%s\" directive",
                      name);
        return NULL;
    }

    if (!r->ipv4 && !r->ipv6) {
        pt_conf_error(cf, "\"ipv4\" and \"ipv6\" cannot both be \"off\" in "
                      "the \"%s\" directive", name);
        return NULL;
    }

    r->servers = servers.elts;
    r->nservers = servers.nelts;

    return r;
}


/* queries */

pt_resolver_ctx_t *
pt_resolve_start(pt_resolver_t *r, pt_str_t *name)
{
    pt_pool_t          *pool;
    pt_resolver_ctx_t  *ctx;

    pool = pt_create_pool(1024, r->log);
    if (pool == NULL) {
        return NULL;
    }

    ctx = pt_pcalloc(pool, sizeof(pt_resolver_ctx_t));
    if (ctx == NULL) {
        goto failed;
    }

    ctx->name.data = pt_pnalloc(pool, name->len + 1);
    if (ctx->name.data == NULL) {
        goto failed;
    }

    pt_memcpy(ctx->name.data, name->data, name->len);
    ctx->name.data[name->len] = '\0';
    ctx->name.len = name->len;

    ctx->state = PT_ERROR;
    ctx->timeout = PT_RESOLVER_TIMEOUT;
    ctx->log = r->log;
    ctx->resolver = r;
    ctx->pool = pool;
    ctx->ttl = -1;

    return ctx;

failed:

    pt_destroy_pool(pool);
    return NULL;
}


pt_int_t
pt_resolve_name(pt_resolver_ctx_t *ctx)
{
    pt_resolver_t         *r;
    pt_resolver_worker_t  *w;

    pt_assert(!ctx->started && ctx->handler != NULL);

    r = ctx->resolver;

    w = pt_resolver_get_worker(r);
    if (w == NULL) {
        return PT_ERROR;
    }

    ctx->pool->log = ctx->log;

    ctx->event.data = ctx;
    ctx->event.handler = pt_resolver_ctx_handler;
    ctx->event.log = ctx->log;
    ctx->event.cancelable = 1;

    if (ctx->name.len == 0
        || pt_strlen(ctx->name.data) != ctx->name.len)
    {
        ctx->state = PT_DECLINED;
        ctx->err = "invalid host name";
        ctx->valid = r->valid ? r->valid : PT_RESOLVER_NEGATIVE_VALID;
        goto answered;
    }

    if (pt_resolver_literal(ctx) == PT_OK) {
        goto answered;
    }

    if (w->nqueries >= r->max_queries) {
        pt_log_error(PT_LOG_ERR, ctx->log, 0,
                     "%lu DNS queries are in flight, not resolving \"%s\"",
                     (unsigned long) w->nqueries, ctx->name.data);
        return PT_ERROR;
    }

    ctx->started = 1;
    ctx->worker = w;
    pt_queue_insert_tail(&w->ctxs, &ctx->queue);

    pt_event_add_timer(&ctx->event, ctx->timeout);

    /* both first: c-ares may end a query before ares_query() returns */
    ctx->pending = r->ipv4 + r->ipv6;
    w->nqueries++;

    if (r->ipv4) {
        ares_query(w->channel, (char *) ctx->name.data, PT_DNS_CLASS_IN,
                   PT_DNS_TYPE_A, pt_resolver_a_callback, ctx);
    }

    if (r->ipv6) {
        ares_query(w->channel, (char *) ctx->name.data, PT_DNS_CLASS_IN,
                   PT_DNS_TYPE_AAAA, pt_resolver_aaaa_callback, ctx);
    }

    pt_resolver_set_timer(w);

    return PT_OK;

answered:

    /* no query needed: the outcome is posted all the same */
    ctx->started = 1;
    ctx->finished = 1;
    ctx->worker = w;
    pt_queue_insert_tail(&w->ctxs, &ctx->queue);
    pt_post_event(&ctx->event, &pt_posted_events);

    return PT_OK;
}


void
pt_resolve_name_done(pt_resolver_ctx_t *ctx)
{
    pt_resolver_worker_t  *w;

    if (ctx->event.timer_set) {
        pt_event_del_timer(&ctx->event);
    }

    if (ctx->event.posted) {
        pt_delete_posted_event(&ctx->event);
    }

    w = ctx->worker;

    if (w && ctx->pending) {
        /* freed when c-ares ends its queries; maybe nobody else waits */
        ctx->released = 1;
        ctx->handler = NULL;
        pt_post_event(&w->sweep, &pt_posted_events);
        return;
    }

    pt_resolver_free_ctx(ctx);
}


static void
pt_resolver_free_ctx(pt_resolver_ctx_t *ctx)
{
    if (ctx->worker) {
        pt_queue_remove(&ctx->queue);
        ctx->worker = NULL;
    }

    pt_destroy_pool(ctx->pool);
}


/* An IPv4 or IPv6 literal needs no query. */
static pt_int_t
pt_resolver_literal(pt_resolver_ctx_t *ctx)
{
    pt_int_t              rc;
    struct in_addr        in;
    struct in6_addr       in6;
    struct ares_addrttl   a;
    struct ares_addr6ttl  a6;

    if (inet_pton(AF_INET, (char *) ctx->name.data, &in) == 1) {
        a.ipaddr = in;
        a.ttl = PT_RESOLVER_LITERAL_VALID;
        rc = pt_resolver_add_addrs(ctx, PT_RESOLVER_INET, &a, 1);

    } else if (inet_pton(AF_INET6, (char *) ctx->name.data, &in6) == 1) {
        pt_memcpy(&a6.ip6addr, &in6, sizeof(struct in6_addr));
        a6.ttl = PT_RESOLVER_LITERAL_VALID;
        rc = pt_resolver_add_addrs(ctx, PT_RESOLVER_INET6, &a6, 1);

    } else {
        return PT_DECLINED;
    }

    if (rc != PT_OK) {
        ctx->error = ARES_ENOMEM;
    }

    pt_resolver_finish(ctx);

    if (ctx->state == PT_OK) {
        /* valid= is for answers that may change; a literal does not */
        ctx->valid = PT_RESOLVER_LITERAL_VALID;
    }

    return PT_OK;
}


static void
pt_resolver_a_callback(void *arg, int status, int timeouts,
    unsigned char *abuf, int alen)
{
    pt_resolver_answer(arg, PT_RESOLVER_INET, status, abuf, alen);
}


static void
pt_resolver_aaaa_callback(void *arg, int status, int timeouts,
    unsigned char *abuf, int alen)
{
    pt_resolver_answer(arg, PT_RESOLVER_INET6, status, abuf, alen);
}


/*
 * One c-ares query ended (inside c-ares): keep what it brought; when it
 * was the last of the name's, set the outcome and post the ctx's event.
 */
static void
pt_resolver_answer(pt_resolver_ctx_t *ctx, pt_uint_t family, int status,
    unsigned char *abuf, int alen)
{
    int                    n;
    struct ares_addrttl    a[PT_RESOLVER_MAX_ADDRS];
    struct ares_addr6ttl   a6[PT_RESOLVER_MAX_ADDRS];
    pt_resolver_worker_t  *w;

    pt_assert(ctx->pending > 0);

    ctx->pending--;

    if (!ctx->released && !ctx->finished && status == ARES_SUCCESS) {
        n = PT_RESOLVER_MAX_ADDRS;

        if (family == PT_RESOLVER_INET) {
            status = ares_parse_a_reply(abuf, alen, NULL, a, &n);

        } else {
            status = ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n);
        }

        if (status == ARES_SUCCESS && n == 0) {
            status = ARES_ENODATA;
        }

        if (status == ARES_SUCCESS
            && pt_resolver_add_addrs(ctx, family,
                                     family == PT_RESOLVER_INET
                                     ? (void *) a : (void *) a6, n)
               != PT_OK)
        {
            status = ARES_ENOMEM;
        }
    }

    switch (status) {

    case ARES_SUCCESS:
        break;

    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_EBADNAME:
        if (ctx->nodata == 0 || status == ARES_ENOTFOUND) {
            ctx->nodata = status;
        }
        break;

    default:
        if (ctx->error == 0) {
            ctx->error = status;
        }
    }

    if (ctx->pending) {
        return;
    }

    w = ctx->worker;

    if (w) {
        w->nqueries--;
    }

    if (ctx->released) {
        pt_resolver_free_ctx(ctx);
        return;
    }

    if (ctx->finished || status == ARES_EDESTRUCTION) {
        /* timed out before, or the process is exiting */
        return;
    }

    pt_resolver_finish(ctx);

    if (ctx->event.timer_set) {
        pt_event_del_timer(&ctx->event);
    }

    ctx->finished = 1;
    pt_post_event(&ctx->event, &pt_posted_events);
}


/* Appends n answers of one family to what the ctx found. */
static pt_int_t
pt_resolver_add_addrs(pt_resolver_ctx_t *ctx, pt_uint_t family,
    void *addrttls, int n)
{
    int                    i, ttl;
    size_t                 len;
    pt_addr_t             *addrs, *addr;
    pt_uint_t              total;
    struct sockaddr_in    *sin;
    struct sockaddr_in6   *sin6;
    struct ares_addrttl   *a;
    struct ares_addr6ttl  *a6;
    u_char                 text[PT_SOCKADDR_STRLEN];

    total = ctx->nfound[family] + n;

    addrs = pt_palloc(ctx->pool, total * sizeof(pt_addr_t));
    if (addrs == NULL) {
        return PT_ERROR;
    }

    if (ctx->nfound[family]) {
        pt_memcpy(addrs, ctx->found[family],
                  ctx->nfound[family] * sizeof(pt_addr_t));
    }

    a = addrttls;
    a6 = addrttls;

    for (i = 0; i < n; i++) {
        addr = &addrs[ctx->nfound[family] + i];

        if (family == PT_RESOLVER_INET) {
            sin = pt_pcalloc(ctx->pool, sizeof(struct sockaddr_in));
            if (sin == NULL) {
                return PT_ERROR;
            }

            sin->sin_family = AF_INET;
            sin->sin_addr = a[i].ipaddr;
            addr->sockaddr = (struct sockaddr *) sin;
            addr->socklen = sizeof(struct sockaddr_in);
            ttl = a[i].ttl;

        } else {
            sin6 = pt_pcalloc(ctx->pool, sizeof(struct sockaddr_in6));
            if (sin6 == NULL) {
                return PT_ERROR;
            }

            sin6->sin6_family = AF_INET6;
            pt_memcpy(&sin6->sin6_addr, &a6[i].ip6addr,
                      sizeof(struct in6_addr));
            addr->sockaddr = (struct sockaddr *) sin6;
            addr->socklen = sizeof(struct sockaddr_in6);
            ttl = a6[i].ttl;
        }

        len = pt_sock_ntop(addr->sockaddr, addr->socklen, text,
                           sizeof(text), 0);

        addr->name.data = pt_pnalloc(ctx->pool, len);
        if (addr->name.data == NULL) {
            return PT_ERROR;
        }

        pt_memcpy(addr->name.data, text, len);
        addr->name.len = len;

        if (ttl < 0) {
            ttl = 0;
        }

        if (ctx->ttl == -1 || ttl < ctx->ttl) {
            ctx->ttl = ttl;
        }
    }

    ctx->found[family] = addrs;
    ctx->nfound[family] = total;

    return PT_OK;
}


/* The outcome from what the name's queries brought. */
static void
pt_resolver_finish(pt_resolver_ctx_t *ctx)
{
    pt_uint_t       n;
    pt_resolver_t  *r;

    r = ctx->resolver;
    n = ctx->nfound[PT_RESOLVER_INET] + ctx->nfound[PT_RESOLVER_INET6];

    if (n) {
        ctx->addrs = pt_palloc(ctx->pool, n * sizeof(pt_addr_t));
        if (ctx->addrs == NULL) {
            ctx->error = ARES_ENOMEM;
            n = 0;
        }
    }

    if (n) {
        if (ctx->nfound[PT_RESOLVER_INET]) {
            pt_memcpy(ctx->addrs, ctx->found[PT_RESOLVER_INET],
                      ctx->nfound[PT_RESOLVER_INET] * sizeof(pt_addr_t));
        }

        if (ctx->nfound[PT_RESOLVER_INET6]) {
            pt_memcpy(&ctx->addrs[ctx->nfound[PT_RESOLVER_INET]],
                      ctx->found[PT_RESOLVER_INET6],
                      ctx->nfound[PT_RESOLVER_INET6] * sizeof(pt_addr_t));
        }

        ctx->naddrs = n;
        ctx->state = PT_OK;
        ctx->err = NULL;
        ctx->valid = r->valid ? r->valid : (time_t) pt_max(ctx->ttl, 0);
        return;
    }

    ctx->valid = r->valid ? r->valid : PT_RESOLVER_NEGATIVE_VALID;

    if (ctx->error) {
        ctx->state = PT_ERROR;
        ctx->err = ares_strerror(ctx->error);
        return;
    }

    ctx->state = PT_DECLINED;
    ctx->err = ares_strerror(ctx->nodata ? ctx->nodata : ARES_ENODATA);
}


/* The ctx's event: posted with the outcome, or its timeout expired. */
static void
pt_resolver_ctx_handler(pt_event_t *ev)
{
    pt_resolver_ctx_t     *ctx;
    pt_resolver_worker_t  *w;

    ctx = ev->data;

    if (ev->timedout) {
        ev->timedout = 0;

        if (ctx->finished) {
            return;
        }

        ctx->finished = 1;
        ctx->state = PT_ERROR;
        ctx->err = "timed out";
        ctx->naddrs = 0;
        ctx->valid = ctx->resolver->valid ? ctx->resolver->valid
                                          : PT_RESOLVER_NEGATIVE_VALID;

        /* its queries go on in c-ares; maybe nobody else waits for them */
        w = ctx->worker;

        if (w && ctx->pending) {
            pt_post_event(&w->sweep, &pt_posted_events);
        }
    }

    ctx->handler(ctx);
}


/* the channel of a process */

static pt_resolver_worker_t *
pt_resolver_get_worker(pt_resolver_t *r)
{
    int                    rc, optmask;
    pt_pool_t             *pool;
    struct ares_options    opts;
    pt_resolver_worker_t  *w;
    char                   lookups[] = "b";

    if (r->worker) {
        return r->worker;
    }

    if (!pt_resolver_library) {
        rc = ares_library_init(ARES_LIB_INIT_ALL);
        if (rc != ARES_SUCCESS) {
            pt_log_error(PT_LOG_ALERT, r->log, 0,
                         "ares_library_init() failed: %s", ares_strerror(rc));
            return NULL;
        }

        pt_queue_init(&pt_resolver_workers);
        pt_resolver_library = 1;
    }

    pool = pt_create_pool(1024, r->log);
    if (pool == NULL) {
        return NULL;
    }

    w = pt_pcalloc(pool, sizeof(pt_resolver_worker_t));
    if (w == NULL) {
        pt_destroy_pool(pool);
        return NULL;
    }

    w->resolver = r;
    w->pool = pool;
    w->log = r->log;
    pt_queue_init(&w->ctxs);
    pt_queue_init(&w->conns);

    /*
     * Every source c-ares would otherwise read (resolv.conf, the hosts
     * file, LOCALDOMAIN, search domains, its default local server) is set
     * here: the servers are the directive's and nothing else.
     */
    pt_memzero(&opts, sizeof(struct ares_options));

    opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
#ifdef ARES_FLAG_NO_DFLT_SVR
    opts.flags |= ARES_FLAG_NO_DFLT_SVR;
#endif
    opts.timeout = PT_RESOLVER_TRY_TIMEOUT;
    opts.tries = PT_RESOLVER_TRIES;
    opts.ndots = 1;
    opts.servers = NULL;
    opts.nservers = 0;
    opts.domains = NULL;
    opts.ndomains = 0;
    opts.lookups = lookups;
    opts.sortlist = NULL;
    opts.nsort = 0;
    opts.sock_state_cb = pt_resolver_socket_state;
    opts.sock_state_cb_data = w;

    optmask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES
              | ARES_OPT_NDOTS | ARES_OPT_SERVERS | ARES_OPT_DOMAINS
              | ARES_OPT_LOOKUPS | ARES_OPT_SORTLIST | ARES_OPT_ROTATE
              | ARES_OPT_SOCK_STATE_CB;

#ifdef ARES_OPT_QUERY_CACHE
    /* the caller keeps answers for as long as valid says */
    opts.qcache_max_ttl = 0;
    optmask |= ARES_OPT_QUERY_CACHE;
#endif

    rc = ares_init_options(&w->channel, &opts, optmask);
    if (rc != ARES_SUCCESS) {
        pt_log_error(PT_LOG_ALERT, r->log, 0,
                     "ares_init_options() failed: %s", ares_strerror(rc));
        pt_destroy_pool(pool);
        return NULL;
    }

    ares_set_socket_callback(w->channel, pt_resolver_socket_created, w);

    if (pt_resolver_set_servers(w) != PT_OK) {
        ares_destroy(w->channel);
        pt_destroy_pool(pool);
        return NULL;
    }

    w->timer.data = w;
    w->timer.handler = pt_resolver_timer_handler;
    w->timer.log = w->log;
    w->timer.cancelable = 1;

    w->sweep.data = w;
    w->sweep.handler = pt_resolver_sweep_handler;
    w->sweep.log = w->log;

    pt_queue_insert_tail(&pt_resolver_workers, &w->queue);
    r->worker = w;

    return w;
}


static pt_int_t
pt_resolver_set_servers(pt_resolver_worker_t *w)
{
    int                          rc;
    pt_uint_t                    i;
    pt_addr_t                   *addr;
    pt_resolver_t               *r;
    struct sockaddr_in          *sin;
    struct sockaddr_in6         *sin6;
    struct ares_addr_port_node  *nodes;

    r = w->resolver;

    nodes = pt_pcalloc(w->pool,
                       r->nservers * sizeof(struct ares_addr_port_node));
    if (nodes == NULL) {
        return PT_ERROR;
    }

    for (i = 0; i < r->nservers; i++) {
        addr = &r->servers[i];

        if (addr->sockaddr->sa_family == AF_INET6) {
            sin6 = (struct sockaddr_in6 *) addr->sockaddr;
            nodes[i].family = AF_INET6;
            pt_memcpy(&nodes[i].addr.addr6, &sin6->sin6_addr,
                      sizeof(struct in6_addr));

        } else {
            sin = (struct sockaddr_in *) addr->sockaddr;
            nodes[i].family = AF_INET;
            nodes[i].addr.addr4 = sin->sin_addr;
        }

        nodes[i].udp_port = pt_inet_get_port(addr->sockaddr);
        nodes[i].tcp_port = nodes[i].udp_port;
        nodes[i].next = (i + 1 < r->nservers) ? &nodes[i + 1] : NULL;
    }

    rc = ares_set_servers_ports(w->channel, nodes);
    if (rc != ARES_SUCCESS) {
        pt_log_error(PT_LOG_ALERT, w->log, 0,
                     "ares_set_servers_ports() failed: %s",
                     ares_strerror(rc));
        return PT_ERROR;
    }

    return PT_OK;
}


void
pt_resolver_exit_process(void)
{
    pt_queue_t            *q;
    pt_resolver_worker_t  *w;

    if (!pt_resolver_library) {
        return;
    }

    while (!pt_queue_empty(&pt_resolver_workers)) {
        q = pt_queue_head(&pt_resolver_workers);
        w = pt_queue_data(q, pt_resolver_worker_t, queue);

        pt_resolver_destroy_worker(w);
    }

    ares_library_cleanup();
    pt_resolver_library = 0;
}


/*
 * Ends the channel: queries end with ARES_EDESTRUCTION (ctxs let go are
 * freed, the others are unlinked and left to their callers, whose handlers
 * are not called), sockets are closed.
 */
static void
pt_resolver_destroy_worker(pt_resolver_worker_t *w)
{
    pt_queue_t         *q;
    pt_connection_t    *c;
    pt_resolver_ctx_t  *ctx;

    ares_destroy(w->channel);
    w->channel = NULL;

    while (!pt_queue_empty(&w->conns)) {
        q = pt_queue_head(&w->conns);
        c = pt_queue_data(q, pt_connection_t, queue);
        pt_resolver_free_conn(c);
    }

    while (!pt_queue_empty(&w->ctxs)) {
        q = pt_queue_head(&w->ctxs);
        ctx = pt_queue_data(q, pt_resolver_ctx_t, queue);

        pt_queue_remove(&ctx->queue);
        ctx->worker = NULL;
        ctx->pending = 0;

        if (ctx->event.timer_set) {
            pt_event_del_timer(&ctx->event);
        }

        if (ctx->event.posted) {
            pt_delete_posted_event(&ctx->event);
        }
    }

    if (w->timer.timer_set) {
        pt_event_del_timer(&w->timer);
    }

    if (w->sweep.posted) {
        pt_delete_posted_event(&w->sweep);
    }

    pt_queue_remove(&w->queue);
    w->resolver->worker = NULL;

    pt_destroy_pool(w->pool);
}


/*
 * A socket c-ares just opened becomes a connection of the event loop; with
 * none free, c-ares is told to give up on it. Its c->queue, unused by a
 * connection that is never reusable, links it into the worker's list.
 */
static int
pt_resolver_socket_created(ares_socket_t fd, int type, void *data)
{
    pt_resolver_worker_t *w = data;

    pt_connection_t  *c;

    c = pt_resolver_find_conn(w, fd);
    if (c) {
        /* c-ares closed the fd before without a word: forget it */
        pt_resolver_free_conn(c);
    }

    c = pt_get_connection(fd, w->log);
    if (c == NULL) {
        return -1;
    }

    c->data = w;
    c->type = type;
    c->read->handler = pt_resolver_read_handler;
    c->write->handler = pt_resolver_write_handler;

    pt_queue_insert_tail(&w->conns, &c->queue);

    return 0;
}


/* What c-ares waits for on a socket; nothing means it is about to close. */
static void
pt_resolver_socket_state(void *data, ares_socket_t fd, int readable,
    int writable)
{
    pt_resolver_worker_t *w = data;

    pt_uint_t         events;
    pt_connection_t  *c;

    c = pt_resolver_find_conn(w, fd);
    if (c == NULL) {
        pt_log_error(PT_LOG_ALERT, w->log, 0,
                     "DNS socket %d is not known", (int) fd);
        return;
    }

    events = (readable ? PT_READ_EVENT : 0) | (writable ? PT_WRITE_EVENT : 0);

    if (events == 0) {
        (void) pt_event_set_conn_level(c, 0);
        pt_resolver_free_conn(c);
        return;
    }

    /* on failure the query times out */
    (void) pt_event_set_conn_level(c, events);
}


static pt_connection_t *
pt_resolver_find_conn(pt_resolver_worker_t *w, ares_socket_t fd)
{
    pt_queue_t       *q;
    pt_connection_t  *c;

    for (q = pt_queue_head(&w->conns);
         q != pt_queue_sentinel(&w->conns);
         q = pt_queue_next(q))
    {
        c = pt_queue_data(q, pt_connection_t, queue);

        if (c->fd == fd) {
            return c;
        }
    }

    return NULL;
}


/* The connection goes; the fd is c-ares's to close. */
static void
pt_resolver_free_conn(pt_connection_t *c)
{
    pt_queue_remove(&c->queue);

    c->read->closed = 1;
    c->write->closed = 1;
    c->read->active = 0;
    c->write->active = 0;

    pt_free_connection(c);
    c->fd = -1;
}


static void
pt_resolver_read_handler(pt_event_t *ev)
{
    pt_connection_t       *c;
    pt_resolver_worker_t  *w;

    c = ev->data;
    w = c->data;

    if (c->close) {
        /* worker_shutdown_timeout: nothing may stay open */
        pt_resolver_cancel_all(w);
        return;
    }

    ares_process_fd(w->channel, c->fd, ARES_SOCKET_BAD);

    pt_resolver_set_timer(w);
}


static void
pt_resolver_write_handler(pt_event_t *ev)
{
    pt_connection_t       *c;
    pt_resolver_worker_t  *w;

    c = ev->data;
    w = c->data;

    ares_process_fd(w->channel, ARES_SOCKET_BAD, c->fd);

    pt_resolver_set_timer(w);
}


static void
pt_resolver_timer_handler(pt_event_t *ev)
{
    pt_resolver_worker_t  *w;

    w = ev->data;

    ev->timedout = 0;

    ares_process_fd(w->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);

    pt_resolver_set_timer(w);
}


static void
pt_resolver_set_timer(pt_resolver_worker_t *w)
{
    pt_msec_t        ms;
    struct timeval   tv, *tvp;

    tvp = ares_timeout(w->channel, NULL, &tv);

    if (tvp == NULL) {
        if (w->timer.timer_set) {
            pt_event_del_timer(&w->timer);
        }

        return;
    }

    ms = (pt_msec_t) tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000;

    pt_event_add_timer(&w->timer, ms);
}


/*
 * Posted when a ctx stops waiting with queries under way: if no ctx waits
 * any more, every query of the channel is cancelled, and c-ares closes its
 * sockets. (c-ares cannot cancel a single query.)
 */
static void
pt_resolver_sweep_handler(pt_event_t *ev)
{
    pt_queue_t            *q;
    pt_resolver_ctx_t     *ctx;
    pt_resolver_worker_t  *w;

    w = ev->data;

    if (w->nqueries == 0) {
        return;
    }

    for (q = pt_queue_head(&w->ctxs);
         q != pt_queue_sentinel(&w->ctxs);
         q = pt_queue_next(q))
    {
        ctx = pt_queue_data(q, pt_resolver_ctx_t, queue);

        if (ctx->pending && !ctx->finished && !ctx->released) {
            return;
        }
    }

    pt_resolver_cancel_all(w);
}


/* Ends every query now; ctxs still waiting get PT_ERROR. */
static void
pt_resolver_cancel_all(pt_resolver_worker_t *w)
{
    ares_cancel(w->channel);

    pt_resolver_set_timer(w);
}
