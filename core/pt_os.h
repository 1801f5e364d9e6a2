#ifndef PT_OS_H
#define PT_OS_H

/* Linux I/O primitives for plain sockets; TLS installs its own. */

#define PT_IOVS_PREALLOCATE  64

ssize_t pt_unix_recv(pt_connection_t *c, u_char *buf, size_t size);
ssize_t pt_unix_send(pt_connection_t *c, u_char *buf, size_t size);
pt_chain_t *pt_linux_send_chain(pt_connection_t *c, pt_chain_t *in,
    off_t limit);

pt_int_t pt_nonblocking(pt_fd_t s);
pt_int_t pt_tcp_nopush(pt_fd_t s);
pt_int_t pt_tcp_push(pt_fd_t s);

extern pt_int_t   pt_ncpu;
extern pt_int_t   pt_pagesize;
extern pt_uint_t  pt_max_sockets;

pt_int_t pt_os_init(pt_log_t *log);

#endif /* PT_OS_H */
