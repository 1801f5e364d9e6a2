#ifndef PT_HTTP_UPSTREAM_H
#define PT_HTTP_UPSTREAM_H

/*
 * The upstream machinery: groups of servers ("upstream NAME { server ...; }"
 * or the implicit group of a proxy_pass address), the round-robin balancer,
 * the per-worker pool of idle keep-alive connections, and the per-request
 * state that connects, sends the request, reads and checks the response
 * head and relays the body with backpressure. A protocol module (proxy)
 * supplies how the request is built and the response head is parsed.
 */

typedef struct pt_http_upstream_s          pt_http_upstream_t;
typedef struct pt_http_upstream_srv_conf_s  pt_http_upstream_srv_conf_t;
typedef struct pt_http_upstream_pipe_s      pt_http_upstream_pipe_t;

#define PT_HTTP_UPSTREAM_FT_ERROR           0x00000002
#define PT_HTTP_UPSTREAM_FT_TIMEOUT         0x00000004
#define PT_HTTP_UPSTREAM_FT_INVALID_HEADER  0x00000008
#define PT_HTTP_UPSTREAM_FT_HTTP_500        0x00000010
#define PT_HTTP_UPSTREAM_FT_HTTP_502        0x00000020
#define PT_HTTP_UPSTREAM_FT_HTTP_503        0x00000040
#define PT_HTTP_UPSTREAM_FT_HTTP_504        0x00000080
#define PT_HTTP_UPSTREAM_FT_HTTP_403        0x00000100
#define PT_HTTP_UPSTREAM_FT_HTTP_404        0x00000200
#define PT_HTTP_UPSTREAM_FT_HTTP_429        0x00000400
#define PT_HTTP_UPSTREAM_FT_NON_IDEMPOTENT  0x00001000
#define PT_HTTP_UPSTREAM_FT_OFF             0x80000000

/* response header fields proxy_ignore_headers may name */
#define PT_HTTP_UPSTREAM_IGN_XA_REDIRECT    0x00000002
#define PT_HTTP_UPSTREAM_IGN_XA_EXPIRES     0x00000004
#define PT_HTTP_UPSTREAM_IGN_EXPIRES        0x00000008
#define PT_HTTP_UPSTREAM_IGN_CACHE_CONTROL  0x00000010
#define PT_HTTP_UPSTREAM_IGN_SET_COOKIE     0x00000020
#define PT_HTTP_UPSTREAM_IGN_XA_LIMIT_RATE  0x00000040
#define PT_HTTP_UPSTREAM_IGN_XA_BUFFERING   0x00000080
#define PT_HTTP_UPSTREAM_IGN_XA_CHARSET     0x00000100
#define PT_HTTP_UPSTREAM_IGN_VARY           0x00000200

#include "pt_http_upstream_round_robin.h"

/* one server of a group, as configured */
typedef struct {
    pt_str_t                  name;
    pt_addr_t                *addrs;
    pt_uint_t                 naddrs;
    pt_uint_t                 weight;
    pt_uint_t                 max_fails;
    pt_uint_t                 max_conns;
    pt_msec_t                 fail_timeout;
    pt_msec_t                 slow_start;
    pt_str_t                  host;         /* to re-resolve */
    in_port_t                 port;
    unsigned                  down:1;
    unsigned                  backup:1;
    unsigned                  resolve:1;
} pt_http_upstream_server_t;

struct pt_http_upstream_srv_conf_s {
    pt_str_t                      host;         /* group name or address */
    in_port_t                     port;
    in_port_t                     default_port; /* implicit: the scheme's */
    pt_array_t                   *servers;      /* pt_http_upstream_server_t */
    pt_http_upstream_rr_peers_t  *peers;
    pt_http_upstream_balancer_t  *balancer;     /* round robin if NULL */
    void                         *balancer_conf;
    pt_shm_zone_t                *shm_zone;     /* "zone": shared peers */
    size_t                        shm_zone_need;    /* of it, for us */
    void                        **ssl_sessions; /* per peer, per worker */
    pt_uint_t                     nsessions;
    pt_resolver_t                *resolver;     /* for "resolve" servers */
    pt_msec_t                     resolver_timeout;

    pt_uint_t                     keepalive;    /* idle connections kept */
    pt_msec_t                     keepalive_timeout;
    pt_uint_t                     keepalive_requests;
    pt_msec_t                     keepalive_time;
    pt_queue_t                    cache;        /* idle connections, per worker */
    pt_uint_t                     cached;

    u_char                       *file_name;
    pt_uint_t                     line;
    unsigned                      implicit:1;   /* from a proxy_pass address */
    unsigned                      is_unix:1;
};

typedef struct {
    pt_array_t                    upstreams;  /* of pt_http_upstream_srv_conf_t * */
} pt_http_upstream_main_conf_t;

/* where temporary files go: a directory and up to three levels below it */
typedef struct {
    pt_str_t                      name;         /* absolute, NUL-terminated */
    size_t                        level[3];     /* digits per level, 0: none */
} pt_http_upstream_temp_path_t;

/* what a location configures for its upstream requests */
typedef struct {
    pt_http_upstream_srv_conf_t  *upstream;

    pt_msec_t                     connect_timeout;
    pt_msec_t                     send_timeout;
    pt_msec_t                     read_timeout;

    size_t                        buffer_size;
    pt_uint_t                     next_upstream;
    pt_uint_t                     next_upstream_tries;
    pt_msec_t                     next_upstream_timeout;

    pt_ssl_t                     *ssl;          /* TLS to the servers */
    pt_str_t                      ssl_name;     /* SNI and verified name */
    pt_flag_t                     ssl_server_name;
    pt_flag_t                     ssl_session_reuse;

    pt_array_t                   *hide_headers;  /* pt_str_t, lowercase */
    pt_hash_t                     hide_hash;    /* of hide_headers */
    pt_array_t                   *pass_headers;

    pt_flag_t                     intercept_errors;
    pt_uint_t                     ignore_headers; /* PT_HTTP_UPSTREAM_IGN_* */

    /* how the response is relayed: buffered (memory, then a file) or not */
    pt_flag_t                     buffering;
    pt_bufs_t                     bufs;
    size_t                        busy_buffers_size;
    size_t                        temp_file_write_size;
    off_t                         max_temp_file_size;   /* 0: no file */
    pt_http_upstream_temp_path_t *temp_path;

    /* the request body: read whole first, or sent as it arrives */
    pt_flag_t                     request_buffering;
} pt_http_upstream_conf_t;

/* the response head, as the upstream sent it */
typedef struct {
    pt_list_t                     headers;
    pt_uint_t                     status_n;
    pt_str_t                      status_line;
    off_t                         content_length_n;
    pt_table_elt_t               *content_length;
    pt_table_elt_t               *transfer_encoding;
    pt_table_elt_t               *connection;
    pt_table_elt_t               *upgrade;
    unsigned                      chunked:1;
    unsigned                      connection_close:1;
    unsigned                      connection_upgrade:1;
    unsigned                      connection_other:1;  /* names headers */
} pt_http_upstream_headers_in_t;

/* the state of one upstream request, for $upstream_* */
typedef struct {
    pt_uint_t                     status;
    pt_msec_t                     connect_time;
    pt_msec_t                     header_time;
    pt_msec_t                     response_time;
    off_t                         bytes_received;
    pt_str_t                     *peer;
} pt_http_upstream_state_t;

typedef pt_int_t (*pt_http_upstream_handler_pt)(pt_http_request_t *r);
typedef pt_int_t (*pt_http_upstream_header_pt)(pt_http_request_t *r,
    pt_table_elt_t *h);

struct pt_http_upstream_s {
    pt_http_upstream_conf_t        *conf;
    pt_http_upstream_srv_conf_t    *upstream;

    pt_connection_t                *peer;       /* the upstream connection */
    pt_http_upstream_rr_peer_t     *rr_peer;
    void                           *balancer_data;  /* per request */
    pt_uint_t                       hash;           /* hash balancers' key */
    pt_uint_t                       tries;
    pt_msec_t                       start_time;
    pt_msec_t                       first_start;    /* of the first try */
    uint64_t                        tried[2];   /* peers tried, as bits */

    pt_chain_t                     *request_bufs;
    pt_chain_t                     *request_out;    /* still to send */

    pt_buf_t                        buffer;         /* head, then body */
    pt_http_upstream_headers_in_t   headers_in;
    pt_http_status_t                status;

    pt_http_chunked_t               chunked;
    off_t                           length;         /* body left, -1 unknown */
    pt_chain_t                     *free_bufs;      /* body links to reuse */
    pt_chain_t                     *busy_bufs;      /* passed to the client */
    pt_buf_t                       *client_buf;     /* tunnel: client side */

    pt_http_upstream_pipe_t        *pipe;           /* buffering on */

    /* proxy_request_buffering off: the piece of the body on its way */
    pt_buf_t                        body_bufs[3];   /* size, data, CRLF */
    pt_chain_t                      body_links[3];
    u_char                          chunk_head[PT_INT_T_LEN + 2];

    pt_array_t                     *states;         /* of ..._state_t */
    pt_http_upstream_state_t       *state;

    pt_http_upstream_handler_pt     create_request;
    pt_http_upstream_handler_pt     process_header; /* the proxy's */
    pt_http_upstream_header_pt      rewrite_header; /* may change a field
                                                       the client gets */

    pt_str_t                        uri;            /* sent upstream */

    pt_str_t                        resolve_host;   /* a name to look up
                                                       first: no group */
    in_port_t                       resolve_port;
    pt_resolver_ctx_t              *resolve_ctx;    /* that lookup */

    unsigned                        request_sent:1;
    unsigned                        header_sent:1;  /* to the client */
    unsigned                        keepalive:1;    /* peer reusable */
    unsigned                        close_sent:1;   /* "Connection: close"
                                                       went upstream */
    unsigned                        head:1;         /* a HEAD went: no
                                                       body comes back */
    unsigned                        upgrade:1;
    unsigned                        upgrading:1;    /* 101 tunnel */
    unsigned                        eof:1;
    unsigned                        done:1;
    unsigned                        cached:1;       /* reused connection */
    unsigned                        body_ended:1;   /* last_buf passed */
    unsigned                        buffering:1;    /* read ahead (pipe) */

    /* the request body is sent as it arrives (request_buffering off) */
    unsigned                        body_streaming:1;
    unsigned                        body_chunked:1;     /* chunked upstream */
    unsigned                        body_started:1;     /* a byte went: no
                                                           retry can send
                                                           it again */
    unsigned                        body_sending:1;     /* the head went */
    unsigned                        body_last:1;        /* all of it queued */
    unsigned                        body_done:1;        /* all of it went */
};

pt_http_upstream_srv_conf_t *pt_http_upstream_add(pt_conf_t *cf, pt_url_t *u,
    pt_uint_t implicit);
pt_int_t pt_http_upstream_create(pt_http_request_t *r);
void pt_http_upstream_init(pt_http_request_t *r);
pt_int_t pt_http_upstream_hide_header(pt_http_upstream_conf_t *conf,
    pt_uint_t hash, pt_str_t *lowcase_name);
pt_int_t pt_http_upstream_hide_headers_hash(pt_conf_t *cf,
    pt_http_upstream_conf_t *conf);
pt_http_upstream_srv_conf_t *pt_http_upstream_find(pt_http_request_t *r,
    pt_url_t *u);
pt_http_upstream_srv_conf_t *pt_http_upstream_create_single(
    pt_http_request_t *r, pt_str_t *host, pt_addr_t *addrs,
    pt_uint_t naddrs);

pt_int_t pt_http_upstream_resolve_init_process(pt_cycle_t *cycle,
    pt_http_upstream_main_conf_t *umcf);
void pt_http_upstream_resolve_exit_process(void);
char *pt_http_upstream_temp_path_slot(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
pt_int_t pt_http_upstream_merge_temp_path(pt_conf_t *cf,
    pt_http_upstream_temp_path_t **path, pt_http_upstream_temp_path_t **prev,
    const char *default_path);

extern pt_module_t  pt_http_upstream_module;

#endif /* PT_HTTP_UPSTREAM_H */
