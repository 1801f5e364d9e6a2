#ifndef PT_CONNECTION_H
#define PT_CONNECTION_H

typedef ssize_t (*pt_recv_pt)(pt_connection_t *c, u_char *buf, size_t size);
typedef ssize_t (*pt_send_pt)(pt_connection_t *c, u_char *buf, size_t size);
/* Sends as much of in as it can (at most limit bytes, 0 = no limit); returns
 * the first link not fully sent, NULL when all was sent, or PT_CHAIN_ERROR. */
typedef pt_chain_t *(*pt_send_chain_pt)(pt_connection_t *c, pt_chain_t *in,
    off_t limit);

#define PT_CHAIN_ERROR  (pt_chain_t *) PT_ERROR

struct pt_listening_s {
    pt_fd_t              fd;

    struct sockaddr     *sockaddr;
    socklen_t            socklen;
    pt_str_t             addr_text;     /* "127.0.0.1:8080", "[::1]:80" */

    int                  type;
    int                  backlog;
    int                  rcvbuf;
    int                  sndbuf;

    pt_connection_handler_pt  handler;  /* first handler of a new connection */
    void                *servers;       /* protocol-specific (http ports) */

    pt_log_t             log;
    pt_log_t            *logp;
    size_t               pool_size;     /* of each accepted connection */

    pt_listening_t      *previous;      /* same socket in the old cycle */
    pt_connection_t     *connection;
    pt_uint_t            worker;        /* reuseport slot */

    unsigned             open:1;
    unsigned             remain:1;      /* kept across a reload */
    unsigned             inherited:1;   /* from a binary upgrade */
    unsigned             listen:1;
    unsigned             reuseport:1;
    unsigned             ipv6only:1;
};

typedef enum {
    PT_ERROR_ALERT = 0,
    PT_ERROR_ERR,
    PT_ERROR_INFO,
    PT_ERROR_IGNORE_ECONNRESET,
    PT_ERROR_IGNORE_EINVAL
} pt_connection_log_error_e;

struct pt_connection_s {
    void                *data;          /* protocol state (http connection) */
    pt_event_t          *read;
    pt_event_t          *write;

    pt_fd_t              fd;

    pt_recv_pt           recv;
    pt_send_pt           send;
    pt_send_chain_pt     send_chain;

    pt_listening_t      *listening;
    off_t                sent;

    pt_log_t            *log;
    pt_pool_t           *pool;

    int                  type;
    struct sockaddr     *sockaddr;
    socklen_t            socklen;
    pt_str_t             addr_text;     /* peer address without port */

    struct sockaddr     *local_sockaddr;
    socklen_t            local_socklen;

    pt_buf_t            *buffer;

    pt_queue_t           queue;         /* in reusable_connections_queue */
    pt_uint_t            number;        /* $connection */
    pt_msec_t            start_time;
    pt_uint_t            requests;

    void                *ssl;

    unsigned             log_error:3;   /* pt_connection_log_error_e */
    unsigned             timedout:1;
    unsigned             error:1;
    unsigned             destroyed:1;
    unsigned             idle:1;
    unsigned             reusable:1;
    unsigned             close:1;
    unsigned             shared:1;
    unsigned             sendfile:1;
    unsigned             tcp_nodelay:2;
    unsigned             tcp_nopush:2;
};

#define PT_TCP_NODELAY_UNSET    0
#define PT_TCP_NODELAY_SET      1
#define PT_TCP_NODELAY_DISABLED 2

#define PT_TCP_NOPUSH_UNSET     0
#define PT_TCP_NOPUSH_SET       1
#define PT_TCP_NOPUSH_DISABLED  2

pt_listening_t *pt_create_listening(pt_conf_t *cf, struct sockaddr *sockaddr,
    socklen_t socklen);
pt_int_t pt_clone_listening(pt_cycle_t *cycle);
/*
 * Opens and binds every listening socket of the cycle that it does not take
 * over from old_cycle or from inherited sockets; logs and returns PT_ERROR
 * on the first failure.
 */
pt_int_t pt_open_listening_sockets(pt_cycle_t *cycle);
void pt_configure_listening_sockets(pt_cycle_t *cycle);
void pt_close_listening_sockets(pt_cycle_t *cycle);
pt_int_t pt_set_inherited_sockets(pt_cycle_t *cycle, const char *inherited);
void pt_close_unused_inherited(pt_cycle_t *cycle);

pt_connection_t *pt_get_connection(pt_fd_t s, pt_log_t *log);
void pt_free_connection(pt_connection_t *c);
void pt_close_connection(pt_connection_t *c);
void pt_close_idle_connections(pt_cycle_t *cycle);
void pt_reusable_connection(pt_connection_t *c, pt_uint_t reusable);
pt_int_t pt_connection_local_sockaddr(pt_connection_t *c, pt_str_t *s,
    pt_uint_t port);
/* Logs a socket error at the level the connection's log_error asks for. */
pt_int_t pt_connection_error(pt_connection_t *c, pt_err_t err,
    const char *text);
pt_int_t pt_tcp_nodelay(pt_connection_t *c);

#endif /* PT_CONNECTION_H */
