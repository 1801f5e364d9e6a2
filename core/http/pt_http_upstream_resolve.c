/*
 * Runtime re-resolution of upstream server names: "server NAME resolve"
 * in a group with a zone. One worker (slot 0) asks the http block's
 * resolver for every such name, as soon as it starts and again whenever
 * the answer expires, and writes the addresses into the spare peer slots
 * the name was given in the shared zone, so every worker follows the name
 * without a reload. A failed query keeps the addresses it had; an answer
 * that the name does not exist (or has no address) empties them.
 */
#include "pt_http.h"


#define PT_HTTP_UPSTREAM_RESOLVE_RETRY  5000    /* ms, after a failure
                                                   to even ask */

typedef struct {
    pt_http_upstream_srv_conf_t  *us;
    pt_uint_t                     server;       /* its "server" line */
    pt_event_t                    timer;
    pt_resolver_ctx_t            *ctx;          /* a query under way */
    pt_log_t                     *log;
} pt_http_upstream_resolve_t;


static pt_array_t  *pt_http_upstream_resolves;  /* this process's */


static void pt_http_upstream_resolve_handler(pt_event_t *ev);
static void pt_http_upstream_resolve_done(pt_resolver_ctx_t *ctx);


/* Is the address of peer among the answers (port set)? */
static pt_uint_t
pt_http_upstream_resolve_has(pt_addr_t *addrs, pt_uint_t naddrs,
    pt_http_upstream_rr_peer_t *peer)
{
    pt_uint_t  i;

    for (i = 0; i < naddrs; i++) {
        if (pt_cmp_sockaddr(addrs[i].sockaddr, addrs[i].socklen,
                            &peer->sockaddr.sockaddr, peer->socklen, 1)
            == PT_OK)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Makes the server's slots hold exactly addrs: addresses gone leave their
 * slots (a request using one finishes; the slot is not reused until it
 * has), new ones take free slots, starting afresh (and slowly, with
 * slow_start). With the group locked by the caller.
 */
static pt_uint_t
pt_http_upstream_resolve_update(pt_http_upstream_resolve_t *rs,
    pt_addr_t *addrs, pt_uint_t naddrs)
{
    size_t                        len;
    pt_uint_t                     i, j, changed, found;
    pt_http_upstream_server_t    *server;
    pt_http_upstream_rr_peer_t   *peer;
    pt_http_upstream_rr_peers_t  *peers;

    server = rs->us->servers->elts;
    server = &server[rs->server];
    peers = rs->us->peers;
    changed = 0;

    for (i = 0; i < peers->number; i++) {
        peer = &peers->peer[i];

        if (peer->server_index != rs->server || peer->unused) {
            continue;
        }

        if (!pt_http_upstream_resolve_has(addrs, naddrs, peer)) {
            pt_log_error(PT_LOG_NOTICE, rs->log, 0,
                         "upstream \"%.*s\": %.*s is no longer an address "
                         "of \"%.*s\"", PT_STR_ARG(rs->us->host),
                         PT_STR_ARG(peer->name), PT_STR_ARG(*peer->server));
            peer->unused = 1;
            changed = 1;
        }
    }

    for (j = 0; j < naddrs; j++) {
        found = 0;

        for (i = 0; i < peers->number; i++) {
            peer = &peers->peer[i];

            if (peer->server_index == rs->server && !peer->unused
                && pt_cmp_sockaddr(addrs[j].sockaddr, addrs[j].socklen,
                                   &peer->sockaddr.sockaddr, peer->socklen,
                                   1) == PT_OK)
            {
                found = 1;
                break;
            }
        }

        if (found) {
            continue;
        }

        peer = NULL;

        for (i = 0; i < peers->number; i++) {
            if (peers->peer[i].server_index == rs->server
                && peers->peer[i].unused && peers->peer[i].conns == 0)
            {
                peer = &peers->peer[i];
                break;
            }
        }

        if (peer == NULL) {
            pt_log_error(PT_LOG_WARN, rs->log, 0,
                         "upstream \"%.*s\": no room for another address "
                         "of \"%.*s\", at most %d are used",
                         PT_STR_ARG(rs->us->host), PT_STR_ARG(server->name),
                         PT_HTTP_UPSTREAM_RESOLVE_SLOTS);
            break;
        }

        pt_memcpy(&peer->sockaddr, addrs[j].sockaddr, addrs[j].socklen);
        peer->socklen = addrs[j].socklen;

        len = pt_sock_ntop(&peer->sockaddr.sockaddr, peer->socklen,
                           peer->name_data, PT_SOCKADDR_STRLEN, 1);
        peer->name.len = len;
        peer->name.data = peer->name_data;

        peer->fails = 0;
        peer->checked = 0;
        peer->current_weight = 0;
        peer->effective_weight = peer->weight;
        peer->start_time = pt_current_msec;
        peer->hc_fails = 0;
        peer->hc_passes = 0;
        peer->unhealthy = 0;
        peer->unused = 0;

        pt_log_error(PT_LOG_NOTICE, rs->log, 0,
                     "upstream \"%.*s\": %.*s is an address of \"%.*s\"",
                     PT_STR_ARG(rs->us->host), PT_STR_ARG(peer->name),
                     PT_STR_ARG(*peer->server));
        changed = 1;
    }

    return changed;
}


static void
pt_http_upstream_resolve_handler(pt_event_t *ev)
{
    pt_resolver_ctx_t           *ctx;
    pt_http_upstream_server_t   *server;
    pt_http_upstream_resolve_t  *rs;

    rs = ev->data;

    if (pt_exiting) {
        return;
    }

    server = rs->us->servers->elts;
    server = &server[rs->server];

    ctx = pt_resolve_start(rs->us->resolver, &server->host);

    if (ctx == NULL) {
        pt_event_add_timer(&rs->timer, PT_HTTP_UPSTREAM_RESOLVE_RETRY);
        return;
    }

    ctx->handler = pt_http_upstream_resolve_done;
    ctx->data = rs;
    ctx->timeout = rs->us->resolver_timeout;

    if (pt_resolve_name(ctx) != PT_OK) {
        pt_resolve_name_done(ctx);
        pt_event_add_timer(&rs->timer, PT_HTTP_UPSTREAM_RESOLVE_RETRY);
        return;
    }

    rs->ctx = ctx;
}


static void
pt_http_upstream_resolve_done(pt_resolver_ctx_t *ctx)
{
    time_t                        valid;
    pt_uint_t                     i;
    pt_http_upstream_server_t    *server;
    pt_http_upstream_resolve_t   *rs;
    pt_http_upstream_rr_peers_t  *peers;

    rs = ctx->data;
    rs->ctx = NULL;

    server = rs->us->servers->elts;
    server = &server[rs->server];
    peers = rs->us->peers;

    if (ctx->state == PT_OK || ctx->state == PT_DECLINED) {
        if (ctx->state == PT_DECLINED) {
            pt_log_error(PT_LOG_WARN, rs->log, 0,
                         "upstream \"%.*s\": \"%.*s\" has no address: %s",
                         PT_STR_ARG(rs->us->host), PT_STR_ARG(server->host),
                         ctx->err ? ctx->err : "no such name");
            ctx->naddrs = 0;
        }

        for (i = 0; i < ctx->naddrs; i++) {
            pt_inet_set_port(ctx->addrs[i].sockaddr, server->port);
        }

        pt_http_upstream_rr_lock(peers);

        if (pt_http_upstream_resolve_update(rs, ctx->addrs, ctx->naddrs)) {
            peers->generation++;
        }

        pt_http_upstream_rr_unlock(peers);

    } else {
        pt_log_error(PT_LOG_WARN, rs->log, 0,
                     "upstream \"%.*s\": could not resolve \"%.*s\" (%s), "
                     "its addresses stay as they were",
                     PT_STR_ARG(rs->us->host), PT_STR_ARG(server->host),
                     ctx->err ? ctx->err : "error");
    }

    valid = ctx->valid > 0 ? ctx->valid : 1;

    pt_resolve_name_done(ctx);

    if (!pt_exiting) {
        pt_event_add_timer(&rs->timer, (pt_msec_t) valid * 1000);
    }
}


/*
 * In the worker of slot 0: starts following every "server ... resolve" of
 * every group. Called from the upstream module's init_process.
 */
pt_int_t
pt_http_upstream_resolve_init_process(pt_cycle_t *cycle,
    pt_http_upstream_main_conf_t *umcf)
{
    pt_uint_t                      i, j;
    pt_http_upstream_server_t     *server;
    pt_http_upstream_resolve_t    *rs;
    pt_http_upstream_srv_conf_t  **uscfp;

    if (pt_worker != 0) {
        return PT_OK;
    }

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        server = uscfp[i]->servers->elts;

        for (j = 0; j < uscfp[i]->servers->nelts; j++) {
            if (!server[j].resolve || uscfp[i]->resolver == NULL) {
                continue;       /* not to follow, or an address outright */
            }

            if (pt_http_upstream_resolves == NULL) {
                pt_http_upstream_resolves = pt_array_create(cycle->pool, 4,
                                         sizeof(pt_http_upstream_resolve_t));
                if (pt_http_upstream_resolves == NULL) {
                    return PT_ERROR;
                }
            }

            rs = pt_array_push(pt_http_upstream_resolves);
            if (rs == NULL) {
                return PT_ERROR;
            }

            pt_memzero(rs, sizeof(pt_http_upstream_resolve_t));
            rs->us = uscfp[i];
            rs->server = j;
            rs->log = cycle->log;
            rs->timer.handler = pt_http_upstream_resolve_handler;
            rs->timer.data = rs;
            rs->timer.log = cycle->log;
            rs->timer.cancelable = 1;
        }
    }

    /* the array does not move any more: arm the timers, due at once */
    if (pt_http_upstream_resolves) {
        rs = pt_http_upstream_resolves->elts;

        for (i = 0; i < pt_http_upstream_resolves->nelts; i++) {
            rs[i].timer.data = &rs[i];
            pt_event_add_timer(&rs[i].timer, 1);
        }
    }

    return PT_OK;
}


void
pt_http_upstream_resolve_exit_process(void)
{
    pt_uint_t                    i;
    pt_http_upstream_resolve_t  *rs;

    if (pt_http_upstream_resolves == NULL) {
        return;
    }

    rs = pt_http_upstream_resolves->elts;

    for (i = 0; i < pt_http_upstream_resolves->nelts; i++) {
        if (rs[i].ctx) {
            pt_resolve_name_done(rs[i].ctx);
            rs[i].ctx = NULL;
        }

        if (rs[i].timer.timer_set) {
            pt_event_del_timer(&rs[i].timer);
        }
    }

    pt_http_upstream_resolves = NULL;
}
