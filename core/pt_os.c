/* Socket I/O on Linux: recv, send, and writev/sendfile for buffer chains. */
#include "pt_core.h"
#include <sys/sendfile.h>
#include <sys/resource.h>


pt_int_t   pt_ncpu;
pt_int_t   pt_pagesize;
pt_uint_t  pt_max_sockets;


pt_int_t
pt_os_init(pt_log_t *log)
{
    struct rlimit  rlmt;

    pt_pagesize = getpagesize();
    pt_ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (pt_ncpu < 1) {
        pt_ncpu = 1;
    }

    if (getrlimit(RLIMIT_NOFILE, &rlmt) == -1) {
        pt_log_error(PT_LOG_ALERT, log, errno, "getrlimit(RLIMIT_NOFILE) failed");
        return PT_ERROR;
    }

    pt_max_sockets = (pt_uint_t) rlmt.rlim_cur;

    return PT_OK;
}


pt_int_t
pt_nonblocking(pt_fd_t s)
{
    int  flags;

    flags = fcntl(s, F_GETFL);
    if (flags == -1) {
        return -1;
    }

    return fcntl(s, F_SETFL, flags | O_NONBLOCK);
}


pt_int_t
pt_tcp_nopush(pt_fd_t s)
{
    int  cork = 1;

    return setsockopt(s, IPPROTO_TCP, TCP_CORK, &cork, sizeof(int));
}


pt_int_t
pt_tcp_push(pt_fd_t s)
{
    int  cork = 0;

    return setsockopt(s, IPPROTO_TCP, TCP_CORK, &cork, sizeof(int));
}


ssize_t
pt_unix_recv(pt_connection_t *c, u_char *buf, size_t size)
{
    ssize_t      n;
    pt_err_t     err;
    pt_event_t  *rev;

    rev = c->read;

    for ( ;; ) {
        n = recv(c->fd, buf, size, 0);

        if (n == 0) {
            rev->ready = 0;
            rev->eof = 1;
            return 0;
        }

        if (n > 0) {
            if ((size_t) n < size && !rev->pending_eof) {
                /* edge-triggered: a short read means the socket is drained */
                rev->ready = 0;
            }

            return n;
        }

        err = errno;

        if (err == EAGAIN || err == EINTR) {
            if (err == EAGAIN) {
                rev->ready = 0;
                return PT_AGAIN;
            }
            continue;
        }

        rev->ready = 0;
        rev->error = 1;
        pt_connection_error(c, err, "recv() failed");

        return PT_ERROR;
    }
}


ssize_t
pt_unix_send(pt_connection_t *c, u_char *buf, size_t size)
{
    ssize_t      n;
    pt_err_t     err;
    pt_event_t  *wev;

    wev = c->write;

    for ( ;; ) {
        n = send(c->fd, buf, size, MSG_NOSIGNAL);

        if (n > 0) {
            if ((size_t) n < size) {
                wev->ready = 0;
            }

            c->sent += n;
            return n;
        }

        err = errno;

        if (n == 0) {
            pt_log_error(PT_LOG_ALERT, c->log, 0, "send() returned zero");
            wev->ready = 0;
            return n;
        }

        if (err == EAGAIN) {
            wev->ready = 0;
            return PT_AGAIN;
        }

        if (err == EINTR) {
            continue;
        }

        wev->error = 1;
        (void) pt_connection_error(c, err, "send() failed");
        return PT_ERROR;
    }
}


/*
 * Without sendfile(): pread()s up to 32 KiB of the file buffer b, at most
 * *size bytes, and send()s them; *size becomes what was read. What the
 * socket did not take is read again next time, so nothing stays buffered
 * between calls. Returns the bytes sent, 0 when the file ended early, -1
 * with errno set.
 */
static ssize_t
pt_send_file_piece(pt_connection_t *c, pt_buf_t *b, off_t *size)
{
    ssize_t  n;

    static u_char  buf[32768];

    n = pread(b->file->fd, buf, (size_t) pt_min(*size, (off_t) sizeof(buf)),
              b->file_pos);

    if (n <= 0) {
        if (n == -1) {
            pt_log_error(PT_LOG_CRIT, c->log, errno, "pread() \"%.*s\" failed",
                         PT_STR_ARG(b->file->name));
            errno = EIO;
        }

        return n;
    }

    *size = n;

    return send(c->fd, buf, (size_t) n, MSG_NOSIGNAL);
}


/*
 * Sends the chain with as few syscalls as it can: runs of memory buffers
 * go out in one writev(), file buffers by sendfile() (by pread() and send()
 * when c->sendfile is off). Returns the first
 * link with data left, NULL when everything went, or PT_CHAIN_ERROR.
 */
pt_chain_t *
pt_linux_send_chain(pt_connection_t *c, pt_chain_t *in, off_t limit)
{
    int            niov;
    off_t          send, attempt, size, offset;
    ssize_t        n;
    pt_err_t       err;
    pt_buf_t      *b;
    pt_chain_t    *cl;
    pt_event_t    *wev;
    struct iovec   iovs[PT_IOVS_PREALLOCATE];

    wev = c->write;

    if (!wev->ready) {
        return in;
    }

    if (limit == 0 || limit > (off_t) (INT32_MAX - pt_pagesize)) {
        limit = INT32_MAX - pt_pagesize;
    }

    send = 0;

    for ( ;; ) {

        /* drop special and empty buffers from the head */
        while (in && (pt_buf_special(in->buf) || pt_buf_size(in->buf) == 0)) {
            in = in->next;
        }

        if (in == NULL) {
            return NULL;
        }

        if (send >= limit) {
            /* the socket may still be writable: come back for the rest */
            if (wev->ready) {
                pt_post_event(wev, &pt_posted_events);
            }

            return in;
        }

        b = in->buf;

        if (b->in_file && !pt_buf_in_memory(b)) {
            attempt = pt_min(b->file_last - b->file_pos, limit - send);

            if (c->sendfile) {
                offset = b->file_pos;
                n = sendfile(c->fd, b->file->fd, &offset, (size_t) attempt);

            } else {
                /* "sendfile off": a piece at a time through a small buffer */
                n = pt_send_file_piece(c, b, &attempt);
            }

            if (n == 0 && attempt > 0) {
                pt_log_error(PT_LOG_ALERT, c->log, 0,
                             "file \"%.*s\" was truncated while being sent",
                             PT_STR_ARG(b->file->name));
                return PT_CHAIN_ERROR;
            }

        } else {
            niov = 0;
            attempt = 0;

            for (cl = in;
                 cl && niov < PT_IOVS_PREALLOCATE && send + attempt < limit;
                 cl = cl->next)
            {
                if (pt_buf_special(cl->buf)) {
                    continue;
                }

                if (!pt_buf_in_memory(cl->buf)) {
                    break;
                }

                size = cl->buf->last - cl->buf->pos;
                if (size == 0) {
                    continue;
                }

                size = pt_min(size, limit - send - attempt);

                if (niov > 0
                    && (u_char *) iovs[niov - 1].iov_base
                       + iovs[niov - 1].iov_len == cl->buf->pos)
                {
                    iovs[niov - 1].iov_len += size;   /* adjacent memory */
                } else {
                    iovs[niov].iov_base = cl->buf->pos;
                    iovs[niov].iov_len = size;
                    niov++;
                }

                attempt += size;
            }

            n = writev(c->fd, iovs, niov);
        }

        if (n == -1) {
            err = errno;

            if (err == EINTR) {
                continue;
            }

            if (err == EAGAIN) {
                wev->ready = 0;
                return in;
            }

            wev->error = 1;
            (void) pt_connection_error(c, err, "writev()/sendfile() failed");
            return PT_CHAIN_ERROR;
        }

        c->sent += n;
        send += n;

        /* advance the buffers over what went out */
        size = n;

        for ( /* void */ ; in && size > 0; in = in->next) {
            b = in->buf;

            if (pt_buf_special(b)) {
                continue;
            }

            if (size < pt_buf_size(b)) {
                if (pt_buf_in_memory(b)) {
                    b->pos += size;
                } else {
                    b->file_pos += size;
                }
                break;
            }

            size -= pt_buf_size(b);

            if (pt_buf_in_memory(b)) {
                b->pos = b->last;
            }

            if (b->in_file) {
                b->file_pos = b->file_last;
            }
        }

        if (n < attempt) {
            /* the socket buffer is full: wait for the next EPOLLOUT */
            wev->ready = 0;
            return in;
        }
    }
}
