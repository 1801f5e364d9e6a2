/*
 * The channel between the master and each child: a socketpair carrying
 * one-byte commands. A child that sees its channel close knows the master
 * is gone and shuts down gracefully.
 */
#include "pt_process.h"


static void pt_channel_handler(pt_event_t *ev);


pt_int_t
pt_write_channel(pt_fd_t fd, u_char command, pt_log_t *log)
{
    ssize_t  n;

    for ( ;; ) {
        n = write(fd, &command, 1);

        if (n == 1) {
            return PT_OK;
        }

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1 && errno == EAGAIN) {
            return PT_AGAIN;
        }

        pt_log_error(PT_LOG_ALERT, log, errno, "write() to channel failed");
        return PT_ERROR;
    }
}


/* Registers the child's end of its channel in the event loop. */
pt_int_t
pt_add_channel_event(pt_cycle_t *cycle, pt_fd_t fd)
{
    pt_connection_t  *c;

    c = pt_get_connection(fd, cycle->log);
    if (c == NULL) {
        return PT_ERROR;
    }

    c->read->handler = pt_channel_handler;
    c->write->handler = pt_channel_handler;
    c->read->log = cycle->log;
    c->write->log = cycle->log;
    c->log = cycle->log;
    c->shared = 1;      /* not a client: not counted as busy */

    if (pt_event_add_conn(c) != PT_OK) {
        pt_free_connection(c);
        return PT_ERROR;
    }

    return PT_OK;
}


static void
pt_channel_handler(pt_event_t *ev)
{
    ssize_t           n;
    pt_uint_t         i;
    pt_connection_t  *c;
    u_char            buf[16];

    if (ev->write) {
        return;
    }

    c = ev->data;

    for ( ;; ) {
        n = read(c->fd, buf, sizeof(buf));

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1 && errno == EAGAIN) {
            return;
        }

        if (n <= 0) {
            /* the master is gone: finish what we have and leave */
            if (n == -1) {
                pt_log_error(PT_LOG_ALERT, c->log, errno,
                             "read() from channel failed");
            }

            pt_sig_quit = 1;
            pt_close_connection(c);
            return;
        }

        for (i = 0; i < (pt_uint_t) n; i++) {
            switch (buf[i]) {
            case PT_CMD_QUIT:
                pt_sig_quit = 1;
                break;
            case PT_CMD_TERMINATE:
                pt_sig_terminate = 1;
                break;
            case PT_CMD_REOPEN:
                pt_sig_reopen = 1;
                break;
            default:
                pt_log_error(PT_LOG_ALERT, c->log, 0,
                             "unknown channel command %d", buf[i]);
            }
        }
    }
}
