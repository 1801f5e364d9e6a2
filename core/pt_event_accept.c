/*
 * Accepting connections. A listening socket is level-triggered and drained
 * in batches. When accept4() fails for want of something (descriptors:
 * EMFILE, ENFILE; kernel memory: ENOBUFS, ENOMEM) the accept events are
 * withdrawn for accept_backoff instead of spinning on a socket that stays
 * readable; when worker_connections run out they are withdrawn until some
 * are free.
 *
 * Either shortage is logged once, when it starts, and summed up in one
 * line when it has ended: a worker that runs short under load retries
 * twice a second, and a line per retry would flood the log.
 */
#include "pt_core.h"


#define PT_ACCEPT_BATCH  64

/* a shortage has ended when none is met for this long (ms) */
#define PT_ACCEPT_QUIET  5000


/* one shortage, from the first refusal to the last */
typedef struct {
    pt_msec_t    start;
    pt_msec_t    last;
    pt_uint_t    count;         /* times accepting was refused */
    unsigned     on:1;
} pt_accept_shortage_t;


static pt_uint_t pt_accept_shortage_begins(pt_accept_shortage_t *sh);
static void pt_accept_shortage_check(pt_accept_shortage_t *sh,
    pt_log_t *log, const char *what);
static void pt_event_accept_backoff(pt_event_t *ev, pt_err_t err,
    pt_event_conf_t *ecf);
static void pt_event_accept_resume(pt_event_t *ev);
static void pt_close_accepted_connection(pt_connection_t *c);


static pt_event_t            pt_accept_resume_event;
static pt_log_t              pt_accept_resume_log;
static pt_accept_shortage_t  pt_accept_fd_shortage;
static pt_accept_shortage_t  pt_accept_conn_shortage;


void
pt_event_accept(pt_event_t *ev)
{
    int               fd;
    pt_err_t          err;
    pt_uint_t         n;
    pt_log_t         *log;
    socklen_t         socklen;
    pt_listening_t   *ls;
    pt_connection_t  *c, *lc;
    pt_event_conf_t  *ecf;
    pt_sockaddr_t     sa;

    lc = ev->data;
    ls = lc->listening;
    ev->ready = 0;

    ecf = pt_event_get_conf(pt_cycle->conf_ctx, pt_event_core_module);

    /*
     * multi_accept off takes one connection per readiness report (the
     * socket is level-triggered, so the rest are reported again);
     * multi_accept on drains the queue, up to a bound for fairness.
     */
    for (n = 0; n < (ecf->multi_accept ? PT_ACCEPT_BATCH : 1); n++) {
        if (pt_cycle->free_connection_n == 0) {
            /* worker_connections reached: leave the rest in the backlog */
            if (pt_accept_shortage_begins(&pt_accept_conn_shortage)) {
                pt_log_error(PT_LOG_ALERT, ev->log, 0,
                             "%lu worker_connections are not enough",
                             (unsigned long) pt_cycle->connection_n);
            }

            pt_close_idle_connections((pt_cycle_t *) pt_cycle);

            if (pt_cycle->free_connection_n == 0) {
                (void) pt_disable_accept_events((pt_cycle_t *) pt_cycle);
                return;
            }
        }

        socklen = sizeof(pt_sockaddr_t);

        fd = accept4(lc->fd, &sa.sockaddr, &socklen,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            err = errno;

            if (err == EAGAIN || err == EWOULDBLOCK) {
                return;
            }

            if (err == ECONNABORTED || err == EINTR || err == EPROTO) {
                continue;
            }

            /*
             * Anything else leaves the connection in the queue and the
             * socket readable: retrying at once would spin.
             */
            pt_event_accept_backoff(ev, err, ecf);
            return;
        }

        pt_accept_shortage_check(&pt_accept_fd_shortage, ev->log,
                                 "accept4() failures");
        pt_accept_shortage_check(&pt_accept_conn_shortage, ev->log,
                                 "waits for a free connection");

        c = pt_get_connection(fd, ev->log);
        if (c == NULL) {
            (void) close(fd);
            return;
        }

        c->type = SOCK_STREAM;

        c->pool = pt_create_pool(ls->pool_size, ev->log);
        if (c->pool == NULL) {
            pt_close_accepted_connection(c);
            return;
        }

        if (socklen > (socklen_t) sizeof(pt_sockaddr_t)) {
            socklen = sizeof(pt_sockaddr_t);
        }

        c->sockaddr = pt_palloc(c->pool, socklen);
        if (c->sockaddr == NULL) {
            pt_close_accepted_connection(c);
            return;
        }

        pt_memcpy(c->sockaddr, &sa, socklen);
        c->socklen = socklen;

        log = pt_palloc(c->pool, sizeof(pt_log_t));
        if (log == NULL) {
            pt_close_accepted_connection(c);
            return;
        }

        *log = ls->log;

        c->recv = pt_unix_recv;
        c->send = pt_unix_send;
        c->send_chain = pt_linux_send_chain;

        c->log = log;
        c->pool->log = log;
        c->listening = ls;
        c->local_sockaddr = ls->sockaddr;
        c->local_socklen = ls->socklen;
        c->start_time = pt_current_msec;

        c->read->log = log;
        c->write->log = log;
        c->write->ready = 1;   /* a fresh socket can be written to */

        /* the text of the address, in exactly the memory it needs */
        {
            u_char  text[PT_SOCKADDR_STRLEN];

            c->addr_text.len = pt_sock_ntop(c->sockaddr, c->socklen, text,
                                            PT_SOCKADDR_STRLEN, 0);

            c->addr_text.data = pt_pnalloc(c->pool, c->addr_text.len);
            if (c->addr_text.data == NULL) {
                pt_close_accepted_connection(c);
                return;
            }

            pt_memcpy(c->addr_text.data, text, c->addr_text.len);
        }

        if (pt_event_add_conn(c) != PT_OK) {
            pt_close_accepted_connection(c);
            return;
        }

        log->data = NULL;
        log->handler = NULL;

        ls->handler(c);
    }
}


/*
 * accept4() failed for want of descriptors or memory: log it if this
 * starts a shortage, and stop accepting for accept_backoff.
 */
static void
pt_event_accept_backoff(pt_event_t *ev, pt_err_t err, pt_event_conf_t *ecf)
{
    if (pt_accept_shortage_begins(&pt_accept_fd_shortage)) {
        pt_log_error(PT_LOG_CRIT, ev->log, err,
                     "accept4() failed, not accepting for %lums at a "
                     "time until it succeeds",
                     (unsigned long) ecf->accept_backoff);
    }

    (void) pt_disable_accept_events((pt_cycle_t *) pt_cycle);

    pt_accept_resume_log = *ev->log;
    pt_accept_resume_event.handler = pt_event_accept_resume;
    pt_accept_resume_event.log = &pt_accept_resume_log;
    pt_accept_resume_event.cancelable = 1;
    pt_event_add_timer(&pt_accept_resume_event, ecf->accept_backoff);
}


/*
 * Counts one refusal; returns 1 when it starts a new shortage (the caller
 * logs it), 0 while one is under way.
 */
static pt_uint_t
pt_accept_shortage_begins(pt_accept_shortage_t *sh)
{
    sh->last = pt_current_msec;
    sh->count++;

    if (sh->on) {
        return 0;
    }

    sh->on = 1;
    sh->start = pt_current_msec;
    sh->count = 1;

    return 1;
}


/*
 * A connection was accepted: a shortage with no refusal for
 * PT_ACCEPT_QUIET is over, and one line says how long it lasted.
 */
static void
pt_accept_shortage_check(pt_accept_shortage_t *sh, pt_log_t *log,
    const char *what)
{
    if (!sh->on || pt_current_msec - sh->last < PT_ACCEPT_QUIET) {
        return;
    }

    sh->on = 0;

    pt_log_error(PT_LOG_NOTICE, log, 0,
                 "accepting normally again after %lu %s in %lu.%03lus",
                 (unsigned long) sh->count, what,
                 (unsigned long) ((sh->last - sh->start) / 1000),
                 (unsigned long) ((sh->last - sh->start) % 1000));
}


static void
pt_event_accept_resume(pt_event_t *ev)
{
    (void) pt_enable_accept_events((pt_cycle_t *) pt_cycle);
}


pt_int_t
pt_enable_accept_events(pt_cycle_t *cycle)
{
    pt_uint_t         i;
    pt_listening_t   *ls;
    pt_connection_t  *c;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        c = ls[i].connection;

        if (c == NULL || c->read->active) {
            continue;
        }

        if (pt_event_add_listen(c->read, c->fd) != PT_OK) {
            return PT_ERROR;
        }
    }

    pt_accept_disabled = 0;

    return PT_OK;
}


pt_int_t
pt_disable_accept_events(pt_cycle_t *cycle)
{
    pt_uint_t         i;
    pt_listening_t   *ls;
    pt_connection_t  *c;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        c = ls[i].connection;

        if (c == NULL || !c->read->active) {
            continue;
        }

        if (pt_event_del_listen(c->read, c->fd) != PT_OK) {
            return PT_ERROR;
        }
    }

    pt_accept_disabled = 1;

    return PT_OK;
}


static void
pt_close_accepted_connection(pt_connection_t *c)
{
    pt_fd_t  fd;

    pt_free_connection(c);

    fd = c->fd;
    c->fd = -1;

    if (close(fd) == -1) {
        pt_log_error(PT_LOG_ALERT, c->log, errno, "close() socket failed");
    }

    if (c->pool) {
        pt_destroy_pool(c->pool);
    }
}


/*
 * Called after each loop iteration: accepting stopped for lack of free
 * connections resumes once some are free again.
 */
void
pt_event_accept_check(pt_cycle_t *cycle)
{
    if (pt_accept_disabled && !pt_accept_resume_event.timer_set
        && cycle->free_connection_n > cycle->connection_n / 16)
    {
        (void) pt_enable_accept_events(cycle);
    }
}
