/*
 * The epoll poller. Connections are registered once, edge-triggered, for
 * both directions; the low bit of the registered pointer carries the
 * event's instance flag, so an event for an fd that was closed and reused
 * within one batch is recognised as stale and dropped.
 */
#include "pt_core.h"
#include <sys/epoll.h>


#define PT_EPOLL_EVENTS  512


static int                  ep = -1;
static struct epoll_event  *event_list;


pt_int_t
pt_epoll_init(pt_cycle_t *cycle)
{
    if (ep == -1) {
        ep = epoll_create1(EPOLL_CLOEXEC);

        if (ep == -1) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "epoll_create1() failed");
            return PT_ERROR;
        }
    }

    if (event_list == NULL) {
        event_list = pt_alloc(sizeof(struct epoll_event) * PT_EPOLL_EVENTS,
                              cycle->log);
        if (event_list == NULL) {
            return PT_ERROR;
        }
    }

    return PT_OK;
}


void
pt_epoll_done(pt_cycle_t *cycle)
{
    if (ep != -1 && close(ep) == -1) {
        pt_log_error(PT_LOG_ALERT, cycle->log, errno, "epoll close() failed");
    }

    ep = -1;

    free(event_list);
    event_list = NULL;
}


pt_int_t
pt_event_add_conn(pt_connection_t *c)
{
    struct epoll_event  ee;

    ee.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
    ee.data.ptr = (void *) ((uintptr_t) c | c->read->instance);

    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ee) == -1) {
        pt_log_error(PT_LOG_ALERT, c->log, errno,
                     "epoll_ctl(EPOLL_CTL_ADD, %d) failed", c->fd);
        return PT_ERROR;
    }

    c->read->active = 1;
    c->write->active = 1;

    return PT_OK;
}


/*
 * A socket that a library owns and reads by itself (c-ares) is registered
 * level-triggered, for what the library waits for: the library may stop
 * reading before EAGAIN, which an edge would never report again. events
 * is PT_READ_EVENT and/or PT_WRITE_EVENT; 0 unregisters the socket.
 */
pt_int_t
pt_event_set_conn_level(pt_connection_t *c, pt_uint_t events)
{
    int                 op;
    struct epoll_event  ee;

    if (events == 0) {
        if (!c->read->active && !c->write->active) {
            return PT_OK;
        }

        op = EPOLL_CTL_DEL;

    } else {
        op = (c->read->active || c->write->active) ? EPOLL_CTL_MOD
                                                   : EPOLL_CTL_ADD;
    }

    ee.events = ((events & PT_READ_EVENT) ? EPOLLIN : 0)
                | ((events & PT_WRITE_EVENT) ? EPOLLOUT : 0);
    ee.data.ptr = (void *) ((uintptr_t) c | c->read->instance);

    if (epoll_ctl(ep, op, c->fd, &ee) == -1) {
        pt_log_error(PT_LOG_ALERT, c->log, errno,
                     "epoll_ctl(%d, %d) failed", op, c->fd);
        return PT_ERROR;
    }

    c->read->active = (events & PT_READ_EVENT) ? 1 : 0;
    c->write->active = (events & PT_WRITE_EVENT) ? 1 : 0;

    return PT_OK;
}


pt_int_t
pt_event_add_listen(pt_event_t *ev, pt_fd_t fd)
{
    pt_connection_t     *c;
    struct epoll_event   ee;

    if (ev->active) {
        return PT_OK;
    }

    c = ev->data;

    ee.events = EPOLLIN;
    ee.data.ptr = (void *) ((uintptr_t) c | ev->instance);

    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee) == -1) {
        pt_log_error(PT_LOG_ALERT, ev->log, errno,
                     "epoll_ctl(EPOLL_CTL_ADD, %d) failed", fd);
        return PT_ERROR;
    }

    ev->active = 1;

    return PT_OK;
}


pt_int_t
pt_event_del_listen(pt_event_t *ev, pt_fd_t fd)
{
    struct epoll_event  ee;

    if (!ev->active) {
        return PT_OK;
    }

    ee.events = 0;
    ee.data.ptr = NULL;

    if (epoll_ctl(ep, EPOLL_CTL_DEL, fd, &ee) == -1) {
        pt_log_error(PT_LOG_ALERT, ev->log, errno,
                     "epoll_ctl(EPOLL_CTL_DEL, %d) failed", fd);
        return PT_ERROR;
    }

    ev->active = 0;

    return PT_OK;
}


pt_int_t
pt_epoll_process_events(pt_cycle_t *cycle, pt_msec_t timer, pt_uint_t flags)
{
    int               events, i, timeout;
    uint32_t          revents;
    pt_err_t          err;
    pt_uint_t         instance;
    pt_event_t       *rev, *wev;
    pt_connection_t  *c;

    timeout = (timer == PT_TIMER_INFINITE) ? -1
              : (int) pt_min(timer, (pt_msec_t) INT_MAX);

    /*
     * Signals are blocked outside this call and let in only while we
     * wait, so a signal can never slip in between the check of its flag
     * and the wait.
     */
    events = epoll_pwait(ep, event_list, PT_EPOLL_EVENTS, timeout,
                         pt_event_sigmask);

    err = (events == -1) ? errno : 0;

    pt_time_update();

    if (err) {
        if (err == EINTR) {
            return PT_OK;
        }

        pt_log_error(PT_LOG_ALERT, cycle->log, err, "epoll_wait() failed");
        return PT_ERROR;
    }

    for (i = 0; i < events; i++) {
        c = event_list[i].data.ptr;

        instance = (uintptr_t) c & 1;
        c = (pt_connection_t *) ((uintptr_t) c & (uintptr_t) ~1);

        rev = c->read;

        if (c->fd == -1 || rev->instance != instance) {
            continue;       /* stale: closed (and maybe reused) meanwhile */
        }

        revents = event_list[i].events;

        if (revents & (EPOLLERR | EPOLLHUP)) {
            /* let the handlers find the error in recv()/send() */
            revents |= EPOLLIN | EPOLLOUT;
        }

        if ((revents & EPOLLIN) && rev->active) {
            if (revents & EPOLLRDHUP) {
                rev->pending_eof = 1;
            }

            rev->ready = 1;
            rev->available = -1;

            if (rev->accept) {
                pt_post_event(rev, &pt_posted_accept_events);
            } else {
                rev->handler(rev);
            }
        }

        wev = c->write;

        if ((revents & EPOLLOUT) && wev->active) {

            if (c->fd == -1 || c->read->instance != instance) {
                continue;   /* the read handler closed it */
            }

            wev->ready = 1;
            wev->handler(wev);
        }
    }

    return PT_OK;
}
