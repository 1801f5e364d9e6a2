#ifndef PT_RESOLVER_H
#define PT_RESOLVER_H

/*
 * A non-blocking DNS resolver for the worker's event loop, on c-ares.
 *
 * A resolver is made at configuration time from the "resolver" directive's
 * arguments; its servers are those and nothing else (no resolv.conf, no
 * hosts file, no search domains). In each process that uses it, the first
 * query creates its c-ares channel, whose sockets become connections of
 * the event loop; pt_resolver_exit_process() destroys the channels.
 *
 * A query, step by step:
 *
 *     ctx = pt_resolve_start(r, &name);         NULL: out of memory
 *     ctx->handler = my_handler;
 *     ctx->data = my_thing;
 *     ctx->timeout = resolver_timeout;
 *     if (pt_resolve_name(ctx) != PT_OK) {      nothing started
 *         pt_resolve_name_done(ctx);
 *     }
 *
 *     my_handler(ctx): reads ctx->state, ctx->addrs, ctx->valid, then calls
 *     pt_resolve_name_done(ctx) (now or later).
 *
 * The handler is called exactly once, always from the event loop (a posted
 * event or a timer), never from inside pt_resolve_name() or c-ares. Calling
 * pt_resolve_name_done() before it cancels the query: the handler is then
 * never called.
 */

typedef struct pt_resolver_s         pt_resolver_t;
typedef struct pt_resolver_ctx_s     pt_resolver_ctx_t;
typedef struct pt_resolver_worker_s  pt_resolver_worker_t;

typedef void (*pt_resolver_handler_pt)(pt_resolver_ctx_t *ctx);

#define PT_RESOLVER_TIMEOUT  30000      /* resolver_timeout by default, ms */

struct pt_resolver_ctx_s {
    pt_str_t                 name;      /* as asked, NUL-terminated copy */

    /*
     * The outcome: PT_OK with naddrs >= 1; PT_DECLINED when the name does
     * not exist or has no address (NXDOMAIN, no data, an invalid name);
     * PT_ERROR otherwise (timeout, server failure, refused, a malformed
     * answer, no server reachable). err says why in words when it is not
     * PT_OK.
     */
    pt_int_t                 state;
    const char              *err;

    /*
     * The addresses, IPv4 ones first, in the order of the answers; each a
     * sockaddr with port 0 for the caller to set, and name the address
     * without a port ("192.0.2.1", "2001:db8::1"). Owned by the ctx: they
     * go with pt_resolve_name_done().
     */
    pt_addr_t               *addrs;
    pt_uint_t                naddrs;

    /*
     * Seconds the outcome may be kept before asking again: valid= of the
     * resolver when set, else the smallest TTL of the answers' records;
     * for PT_DECLINED and PT_ERROR, valid= or 10 seconds.
     */
    time_t                   valid;

    pt_resolver_handler_pt   handler;
    void                    *data;      /* the caller's */
    pt_msec_t                timeout;   /* for the whole query, ms */
    pt_log_t                *log;       /* the resolver's, may be changed */

    /* the resolver's own below */

    pt_resolver_t           *resolver;
    pt_resolver_worker_t    *worker;    /* set while linked to the worker */
    pt_pool_t               *pool;      /* the ctx and its results */
    pt_event_t               event;     /* the timeout; the answer posted */
    pt_queue_t               queue;     /* in the worker's list */

    pt_uint_t                pending;   /* c-ares queries not yet ended */
    pt_addr_t               *found[2];  /* IPv4, IPv6 answers */
    pt_uint_t                nfound[2];
    int                      ttl;       /* smallest seen, -1: none */
    int                      error;     /* c-ares status of a failure */
    int                      nodata;    /* c-ares status of a "no" */

    unsigned                 started:1;
    unsigned                 finished:1;    /* the outcome is set */
    unsigned                 released:1;    /* done called, queries left */
};

/*
 * Makes a resolver from a "resolver" directive's arguments (ADDRESS ...
 * [valid=TIME] [ipv4=on|off] [ipv6=on|off]); addresses are IP addresses or
 * names looked up now, with an optional port (53 by default), IPv6 ones in
 * brackets. On a bad argument it logs "[emerg] ... in FILE:LINE" and
 * returns NULL. The resolver lives in cf->pool.
 */
pt_resolver_t *pt_resolver_create(pt_conf_t *cf, pt_str_t *args,
    pt_uint_t nargs);

/*
 * A ctx for name, in a pool of its own; the caller sets handler, data and
 * timeout (PT_RESOLVER_TIMEOUT unless set). NULL when out of memory.
 */
pt_resolver_ctx_t *pt_resolve_start(pt_resolver_t *r, pt_str_t *name);

/*
 * Starts resolving, in a worker process: the first query of a resolver in
 * a process creates its c-ares channel there, so never call it before
 * fork(). PT_OK: the handler will be called once, later, from the event
 * loop. PT_ERROR: nothing was started (no memory, c-ares could not start,
 * too many queries in flight), which was logged; the handler will not be
 * called and the caller still frees the ctx with pt_resolve_name_done().
 * An address literal resolves to itself, valid for a day, with no query.
 */
pt_int_t pt_resolve_name(pt_resolver_ctx_t *ctx);

/*
 * Frees the ctx, its addresses and its timer; may be called from the
 * handler, or before it to cancel the query (c-ares queries still under
 * way are dropped when they end, or cancelled when nobody else waits).
 */
void pt_resolve_name_done(pt_resolver_ctx_t *ctx);

/* Destroys this process's c-ares channels (at process exit). */
void pt_resolver_exit_process(void);

#endif /* PT_RESOLVER_H */
