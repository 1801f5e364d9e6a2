/* Listening sockets and the per-worker table of connections. */
#include "pt_core.h"


pt_listening_t *
pt_create_listening(pt_conf_t *cf, struct sockaddr *sockaddr,
    socklen_t socklen)
{
    size_t           len;
    pt_listening_t  *ls;
    struct sockaddr *sa;
    u_char           text[PT_SOCKADDR_STRLEN];

    ls = pt_array_push(&cf->cycle->listening);
    if (ls == NULL) {
        return NULL;
    }

    pt_memzero(ls, sizeof(pt_listening_t));

    sa = pt_palloc(cf->pool, socklen);
    if (sa == NULL) {
        return NULL;
    }

    pt_memcpy(sa, sockaddr, socklen);

    ls->sockaddr = sa;
    ls->socklen = socklen;

    len = pt_sock_ntop(sa, socklen, text, PT_SOCKADDR_STRLEN, 1);
    ls->addr_text.len = len;
    ls->addr_text.data = pt_pnalloc(cf->pool, len + 1);
    if (ls->addr_text.data == NULL) {
        return NULL;
    }

    pt_memcpy(ls->addr_text.data, text, len);
    ls->addr_text.data[len] = '\0';

    ls->fd = PT_INVALID_FILE;
    ls->type = SOCK_STREAM;
    ls->backlog = 511;
    ls->rcvbuf = -1;
    ls->sndbuf = -1;

    return ls;
}


/*
 * With reuseport, each worker slot gets its own socket for the address:
 * the kernel spreads connections between them, and a slot's queue waits
 * for that slot's next worker when one exits.
 */
pt_int_t
pt_clone_listening(pt_cycle_t *cycle)
{
    pt_int_t         n;
    pt_uint_t        i, nls;
    pt_listening_t  *ls, ols;
    pt_core_conf_t  *ccf;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    if (!ccf->master) {
        return PT_OK;
    }

    nls = cycle->listening.nelts;

    for (i = 0; i < nls; i++) {
        ls = cycle->listening.elts;

        if (!ls[i].reuseport) {
            continue;
        }

        ols = ls[i];

        for (n = 1; n < ccf->worker_processes; n++) {
            ls = pt_array_push(&cycle->listening);
            if (ls == NULL) {
                return PT_ERROR;
            }

            *ls = ols;
            ls->worker = n;
        }
    }

    return PT_OK;
}


/*
 * A new binary started by "USR2" finds its listening sockets in the
 * environment as "fd.slot;fd.slot;..."; they become the listening array
 * of the initial cycle, for pt_open_listening_sockets to take over.
 */
pt_int_t
pt_set_inherited_sockets(pt_cycle_t *cycle, const char *inherited)
{
    int              reuseport;
    long             fd, slot;
    char            *end;
    socklen_t        olen;
    const char      *p;
    pt_listening_t  *ls;
    pt_sockaddr_t    sa;
    u_char           text[PT_SOCKADDR_STRLEN];

    if (pt_array_init(&cycle->listening, cycle->pool, 10,
                      sizeof(pt_listening_t)) != PT_OK)
    {
        return PT_ERROR;
    }

    for (p = inherited; *p; /* void */) {
        errno = 0;
        fd = strtol(p, &end, 10);

        if (errno || end == p || *end != '.' || fd < 0 || fd > INT_MAX) {
            goto invalid;
        }

        p = end + 1;
        slot = strtol(p, &end, 10);

        if (errno || end == p || *end != ';' || slot < 0
            || slot >= PT_MAX_PROCESSES)
        {
            goto invalid;
        }

        p = end + 1;

        ls = pt_array_push(&cycle->listening);
        if (ls == NULL) {
            return PT_ERROR;
        }

        pt_memzero(ls, sizeof(pt_listening_t));

        ls->fd = (pt_fd_t) fd;
        ls->worker = (pt_uint_t) slot;
        ls->inherited = 1;
        ls->type = SOCK_STREAM;

        ls->socklen = sizeof(pt_sockaddr_t);
        if (getsockname(ls->fd, &sa.sockaddr, &ls->socklen) == -1) {
            pt_log_error(PT_LOG_CRIT, cycle->log, errno,
                         "getsockname() of the inherited socket #%d failed",
                         ls->fd);
            ls->fd = PT_INVALID_FILE;
            continue;
        }

        ls->sockaddr = pt_palloc(cycle->pool, ls->socklen);
        if (ls->sockaddr == NULL) {
            return PT_ERROR;
        }

        pt_memcpy(ls->sockaddr, &sa, ls->socklen);

        reuseport = 0;
        olen = sizeof(int);
        (void) getsockopt(ls->fd, SOL_SOCKET, SO_REUSEPORT, &reuseport, &olen);
        ls->reuseport = reuseport ? 1 : 0;

        ls->addr_text.len = pt_sock_ntop(ls->sockaddr, ls->socklen, text,
                                         sizeof(text), 1);
        ls->addr_text.data = pt_pnalloc(cycle->pool, ls->addr_text.len);
        if (ls->addr_text.data == NULL) {
            return PT_ERROR;
        }

        pt_memcpy(ls->addr_text.data, text, ls->addr_text.len);
    }

    pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                 "using inherited sockets from \"%s\"", inherited);

    return PT_OK;

invalid:

    pt_log_error(PT_LOG_EMERG, cycle->log, 0,
                 "invalid socket list \"%s\" in environment variable "
                 PORTICO_VAR ", ignoring the rest", inherited);

    return PT_OK;
}


/* Closes the inherited sockets the new configuration did not take over. */
void
pt_close_unused_inherited(pt_cycle_t *cycle)
{
    pt_uint_t        i;
    pt_listening_t  *ls;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd != PT_INVALID_FILE && !ls[i].remain) {
            (void) close(ls[i].fd);
            ls[i].fd = PT_INVALID_FILE;
        }
    }
}


/* Takes over the socket of the same address and slot from the old cycle. */
static void
pt_listening_take_over(pt_cycle_t *cycle, pt_listening_t *ls)
{
    pt_uint_t        i;
    pt_listening_t  *ols;

    if (cycle->old_cycle == NULL || cycle->old_cycle->listening.nelts == 0) {
        return;
    }

    ols = cycle->old_cycle->listening.elts;

    for (i = 0; i < cycle->old_cycle->listening.nelts; i++) {
        if (ols[i].fd == PT_INVALID_FILE || ols[i].remain
            || ols[i].worker != ls->worker
            || ols[i].reuseport != ls->reuseport)
        {
            continue;
        }

        if (pt_cmp_sockaddr(ols[i].sockaddr, ols[i].socklen, ls->sockaddr,
                            ls->socklen, 1) != PT_OK)
        {
            continue;
        }

        ls->fd = ols[i].fd;
        ls->previous = &ols[i];
        ls->inherited = ols[i].inherited;
        ols[i].remain = 1;
        return;
    }
}


/*
 * SO_REUSEPORT would let us bind beside another server already listening
 * on the address (and silently share its traffic). A plain bind first
 * finds out whether anyone is there.
 */
static pt_int_t
pt_listening_probe(pt_cycle_t *cycle, pt_listening_t *ls)
{
    int      reuse;
    pt_fd_t  s;

    s = socket(ls->sockaddr->sa_family, ls->type | SOCK_CLOEXEC, 0);
    if (s == -1) {
        pt_log_error(PT_LOG_EMERG, cycle->log, errno, "socket() %.*s failed",
                     PT_STR_ARG(ls->addr_text));
        return PT_ERROR;
    }

    reuse = 1;
    (void) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(int));

    if (ls->sockaddr->sa_family == AF_INET6) {
        reuse = ls->ipv6only;
        (void) setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &reuse, sizeof(int));
    }

    if (bind(s, ls->sockaddr, ls->socklen) == -1) {
        pt_log_error(PT_LOG_EMERG, cycle->log, errno, "bind() to %.*s failed",
                     PT_STR_ARG(ls->addr_text));
        (void) close(s);
        return PT_ERROR;
    }

    (void) close(s);

    return PT_OK;
}


pt_int_t
pt_open_listening_sockets(pt_cycle_t *cycle)
{
    int              reuse;
    pt_fd_t          s;
    pt_uint_t        i;
    pt_log_t        *log;
    pt_listening_t  *ls;

    log = cycle->log;
    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {

        pt_listening_take_over(cycle, &ls[i]);

        if (ls[i].fd != PT_INVALID_FILE) {
            continue;
        }

        if (ls[i].reuseport && ls[i].worker == 0
            && pt_listening_probe(cycle, &ls[i]) != PT_OK)
        {
            return PT_ERROR;
        }

        s = socket(ls[i].sockaddr->sa_family, ls[i].type | SOCK_CLOEXEC, 0);
        if (s == -1) {
            pt_log_error(PT_LOG_EMERG, log, errno, "socket() %.*s failed",
                         PT_STR_ARG(ls[i].addr_text));
            return PT_ERROR;
        }

        reuse = 1;

        if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(int))
            == -1)
        {
            pt_log_error(PT_LOG_EMERG, log, errno,
                         "setsockopt(SO_REUSEADDR) %.*s failed",
                         PT_STR_ARG(ls[i].addr_text));
            goto failed;
        }

        if (ls[i].reuseport
            && setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &reuse, sizeof(int))
               == -1)
        {
            pt_log_error(PT_LOG_EMERG, log, errno,
                         "setsockopt(SO_REUSEPORT) %.*s failed",
                         PT_STR_ARG(ls[i].addr_text));
            goto failed;
        }

        if (ls[i].sockaddr->sa_family == AF_INET6) {
            int  ipv6only = ls[i].ipv6only;

            if (setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &ipv6only,
                           sizeof(int)) == -1)
            {
                pt_log_error(PT_LOG_EMERG, log, errno,
                             "setsockopt(IPV6_V6ONLY) %.*s failed",
                             PT_STR_ARG(ls[i].addr_text));
                goto failed;
            }
        }

        if (pt_nonblocking(s) == -1) {
            pt_log_error(PT_LOG_EMERG, log, errno,
                         "fcntl(O_NONBLOCK) %.*s failed",
                         PT_STR_ARG(ls[i].addr_text));
            goto failed;
        }

        if (ls[i].sockaddr->sa_family == AF_UNIX) {
            /* a stale socket file from a previous run would block bind() */
            (void) unlink(((struct sockaddr_un *) ls[i].sockaddr)->sun_path);
        }

        if (bind(s, ls[i].sockaddr, ls[i].socklen) == -1) {
            pt_log_error(PT_LOG_EMERG, log, errno, "bind() to %.*s failed",
                         PT_STR_ARG(ls[i].addr_text));
            goto failed;
        }

        if (listen(s, ls[i].backlog) == -1) {
            pt_log_error(PT_LOG_EMERG, log, errno, "listen() to %.*s failed",
                         PT_STR_ARG(ls[i].addr_text));
            goto failed;
        }

        ls[i].fd = s;
        ls[i].listen = 1;
        continue;

    failed:

        (void) close(s);
        return PT_ERROR;
    }

    return PT_OK;
}


void
pt_configure_listening_sockets(pt_cycle_t *cycle)
{
    int              value;
    pt_uint_t        i;
    pt_listening_t  *ls;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        ls[i].log = *ls[i].logp;

        if (ls[i].rcvbuf != -1) {
            value = ls[i].rcvbuf;
            if (setsockopt(ls[i].fd, SOL_SOCKET, SO_RCVBUF, &value,
                           sizeof(int)) == -1)
            {
                pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                             "setsockopt(SO_RCVBUF, %d) %.*s failed, ignored",
                             value, PT_STR_ARG(ls[i].addr_text));
            }
        }

        if (ls[i].sndbuf != -1) {
            value = ls[i].sndbuf;
            if (setsockopt(ls[i].fd, SOL_SOCKET, SO_SNDBUF, &value,
                           sizeof(int)) == -1)
            {
                pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                             "setsockopt(SO_SNDBUF, %d) %.*s failed, ignored",
                             value, PT_STR_ARG(ls[i].addr_text));
            }
        }

        if (ls[i].previous && ls[i].backlog != ls[i].previous->backlog) {
            /* a changed backlog applies to a kept socket on reload */
            if (listen(ls[i].fd, ls[i].backlog) == -1) {
                pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                             "listen() to %.*s, backlog %d failed, ignored",
                             PT_STR_ARG(ls[i].addr_text), ls[i].backlog);
            }
        }
    }
}


void
pt_close_listening_sockets(pt_cycle_t *cycle)
{
    pt_uint_t         i;
    pt_listening_t   *ls;
    pt_connection_t  *c;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        c = ls[i].connection;

        if (c) {
            if (c->read->active) {
                (void) pt_event_del_listen(c->read, c->fd);
            }

            pt_free_connection(c);
            c->fd = -1;
            ls[i].connection = NULL;
        }

        /*
         * Only the master (or a single process) owns the sockets; a worker
         * just stops using them, so queued clients wait for a successor.
         */
    }
}


pt_connection_t *
pt_get_connection(pt_fd_t s, pt_log_t *log)
{
    pt_uint_t         instance;
    pt_event_t       *rev, *wev;
    pt_connection_t  *c;
    pt_cycle_t       *cycle;
    static pt_uint_t  number;

    cycle = (pt_cycle_t *) pt_cycle;

    c = cycle->free_connections;

    if (c == NULL) {
        pt_close_idle_connections(cycle);
        c = cycle->free_connections;
    }

    if (c == NULL) {
        pt_log_error(PT_LOG_ALERT, log, 0,
                     "%lu worker_connections are not enough",
                     (unsigned long) cycle->connection_n);
        return NULL;
    }

    cycle->free_connections = c->data;
    cycle->free_connection_n--;

    rev = c->read;
    wev = c->write;

    pt_memzero(c, sizeof(pt_connection_t));

    c->read = rev;
    c->write = wev;
    c->fd = s;
    c->log = log;
    c->number = ++number;

    instance = rev->instance;

    pt_memzero(rev, sizeof(pt_event_t));
    pt_memzero(wev, sizeof(pt_event_t));

    rev->instance = !instance;
    wev->instance = !instance;

    rev->data = c;
    wev->data = c;
    wev->write = 1;
    rev->log = log;
    wev->log = log;

    return c;
}


void
pt_free_connection(pt_connection_t *c)
{
    pt_cycle_t  *cycle;

    cycle = (pt_cycle_t *) pt_cycle;

    c->data = cycle->free_connections;
    cycle->free_connections = c;
    cycle->free_connection_n++;
}


/*
 * Closes a client or upstream connection: timers and posted events go, the
 * fd is closed (which removes it from epoll). The pool is the caller's.
 */
void
pt_close_connection(pt_connection_t *c)
{
    pt_fd_t  fd;

    if (c->fd == -1) {
        pt_log_error(PT_LOG_ALERT, c->log, 0, "connection already closed");
        return;
    }

    if (c->read->timer_set) {
        pt_event_del_timer(c->read);
    }

    if (c->write->timer_set) {
        pt_event_del_timer(c->write);
    }

    if (c->read->posted) {
        pt_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        pt_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    pt_reusable_connection(c, 0);

    pt_free_connection(c);

    fd = c->fd;
    c->fd = -1;

    if (close(fd) == -1) {
        pt_log_error(PT_LOG_ALERT, c->log, errno, "close() socket %d failed",
                     fd);
    }
}


/*
 * A reusable connection is an idle keep-alive one that may be closed when
 * connections run short or the worker shuts down.
 */
void
pt_reusable_connection(pt_connection_t *c, pt_uint_t reusable)
{
    pt_cycle_t  *cycle;

    cycle = (pt_cycle_t *) pt_cycle;

    if (c->reusable) {
        pt_queue_remove(&c->queue);
        cycle->reusable_connections_n--;
    }

    c->reusable = reusable;

    if (reusable) {
        pt_queue_insert_head(&cycle->reusable_connections_queue, &c->queue);
        cycle->reusable_connections_n++;
    }
}


/*
 * Closes idle keep-alive connections, oldest first: all of them when the
 * worker is shutting down, otherwise a few to make room.
 */
void
pt_close_idle_connections(pt_cycle_t *cycle)
{
    pt_uint_t         i, n;
    pt_queue_t       *q;
    pt_connection_t  *c;

    n = pt_max(pt_min(32, cycle->reusable_connections_n / 8), 1);

    for (i = 0; i < n || pt_exiting; i++) {
        if (pt_queue_empty(&cycle->reusable_connections_queue)) {
            break;
        }

        q = pt_queue_last(&cycle->reusable_connections_queue);
        c = pt_queue_data(q, pt_connection_t, queue);

        c->close = 1;
        c->read->handler(c->read);
    }
}


pt_int_t
pt_connection_local_sockaddr(pt_connection_t *c, pt_str_t *s, pt_uint_t port)
{
    socklen_t       len;
    pt_sockaddr_t   sa;

    if (c->local_sockaddr == NULL || pt_inet_wildcard(c->local_sockaddr)) {
        len = sizeof(pt_sockaddr_t);

        if (getsockname(c->fd, &sa.sockaddr, &len) == -1) {
            pt_connection_error(c, errno, "getsockname() failed");
            return PT_ERROR;
        }

        c->local_sockaddr = pt_palloc(c->pool, len);
        if (c->local_sockaddr == NULL) {
            return PT_ERROR;
        }

        pt_memcpy(c->local_sockaddr, &sa, len);
        c->local_socklen = len;
    }

    if (s == NULL) {
        return PT_OK;
    }

    s->len = pt_sock_ntop(c->local_sockaddr, c->local_socklen, s->data,
                          s->len, port);

    return PT_OK;
}


pt_int_t
pt_connection_error(pt_connection_t *c, pt_err_t err, const char *text)
{
    pt_uint_t  level;

    if (err == ECONNRESET
        && c->log_error == PT_ERROR_IGNORE_ECONNRESET)
    {
        return 0;
    }

    if (err == 0 || err == ECONNRESET || err == EPIPE || err == ENOTCONN
        || err == ETIMEDOUT || err == ECONNREFUSED || err == ENETDOWN
        || err == ENETUNREACH || err == EHOSTDOWN || err == EHOSTUNREACH)
    {
        switch (c->log_error) {
        case PT_ERROR_IGNORE_EINVAL:
        case PT_ERROR_IGNORE_ECONNRESET:
        case PT_ERROR_INFO:
            level = PT_LOG_INFO;
            break;
        default:
            level = PT_LOG_ERR;
        }

    } else {
        level = PT_LOG_ALERT;
    }

    pt_log_error(level, c->log, err, "%s", text);

    return PT_ERROR;
}


pt_int_t
pt_tcp_nodelay(pt_connection_t *c)
{
    int  on;

    if (c->tcp_nodelay != PT_TCP_NODELAY_UNSET) {
        return PT_OK;
    }

    on = 1;

    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(int)) == -1) {
        pt_connection_error(c, errno, "setsockopt(TCP_NODELAY) failed");
        return PT_ERROR;
    }

    c->tcp_nodelay = PT_TCP_NODELAY_SET;

    return PT_OK;
}
