#ifndef PT_HTTP_CORE_MODULE_H
#define PT_HTTP_CORE_MODULE_H

typedef enum {
    PT_HTTP_POST_READ_PHASE = 0,
    PT_HTTP_SERVER_REWRITE_PHASE,
    PT_HTTP_FIND_CONFIG_PHASE,
    PT_HTTP_REWRITE_PHASE,
    PT_HTTP_POST_REWRITE_PHASE,
    PT_HTTP_PREACCESS_PHASE,
    PT_HTTP_ACCESS_PHASE,
    PT_HTTP_POST_ACCESS_PHASE,
    PT_HTTP_PRECONTENT_PHASE,
    PT_HTTP_CONTENT_PHASE,
    PT_HTTP_LOG_PHASE
} pt_http_phases;

typedef struct pt_http_phase_handler_s  pt_http_phase_handler_t;

typedef pt_int_t (*pt_http_phase_handler_pt)(pt_http_request_t *r,
    pt_http_phase_handler_t *ph);

struct pt_http_phase_handler_s {
    pt_http_phase_handler_pt  checker;
    pt_http_handler_pt        handler;
    pt_uint_t                 next;     /* index of the next phase's first */
};

typedef struct {
    pt_http_phase_handler_t  *handlers;
    pt_uint_t                 server_rewrite_index;
    pt_uint_t                 location_rewrite_index;
} pt_http_phase_engine_t;

typedef struct {
    pt_array_t                handlers;     /* of pt_http_handler_pt */
} pt_http_phase_t;

typedef struct {
    pt_array_t                servers;      /* of pt_http_core_srv_conf_t * */

    pt_http_phase_engine_t    phase_engine;

    pt_hash_t                 headers_in_hash;

    pt_array_t                variables;      /* indexed: those in use */
    pt_array_t                variables_used; /* of pt_conf_file_t: where
                                                 each was first named */
    pt_array_t                all_variables;  /* declared by the modules */
    pt_uint_t                 ncaptures;

    pt_array_t               *ports;        /* of pt_http_conf_port_t */

    pt_uint_t                 server_names_hash_max_size;
    pt_uint_t                 server_names_hash_bucket_size;

    pt_http_phase_t           phases[PT_HTTP_LOG_PHASE + 1];
} pt_http_core_main_conf_t;

typedef struct {
    pt_regex_t               *regex;
    void                     *server;   /* pt_http_core_srv_conf_t */
    pt_str_t                  name;
} pt_http_server_name_t;

typedef struct {
    pt_array_t                server_names;   /* of pt_http_server_name_t */

    pt_http_conf_ctx_t       *ctx;            /* the server's own */

    u_char                   *file_name;      /* where it was declared */
    pt_uint_t                 line;

    pt_str_t                  server_name;    /* the first one: $server_name */

    size_t                    connection_pool_size;
    size_t                    request_pool_size;
    size_t                    client_header_buffer_size;

    pt_bufs_t                 large_client_header_buffers;

    pt_msec_t                 client_header_timeout;

    pt_flag_t                 ignore_invalid_headers;
    pt_flag_t                 merge_slashes;
    pt_flag_t                 underscores_in_headers;

    unsigned                  listen:1;
} pt_http_core_srv_conf_t;

/* listen options */
typedef struct {
    pt_sockaddr_t             sockaddr;
    socklen_t                 socklen;
    pt_str_t                  addr_text;

    unsigned                  set:1;
    unsigned                  default_server:1;
    unsigned                  bind:1;
    unsigned                  wildcard:1;
    unsigned                  ssl:1;
    unsigned                  ipv6only:1;
    unsigned                  reuseport:1;

    int                       backlog;
    int                       rcvbuf;
    int                       sndbuf;
} pt_http_listen_opt_t;

/* What a connection to one address resolves servers with. */
typedef struct {
    pt_http_core_srv_conf_t  *default_server;
    pt_http_core_srv_conf_t  *no_host_server;   /* server_name "" */
    pt_hash_combined_t        names;
    pt_uint_t                 nregex;
    pt_http_server_name_t    *regex;
    unsigned                  ssl:1;
} pt_http_virtual_names_t;

typedef struct {
    pt_http_core_srv_conf_t  *default_server;
    pt_http_virtual_names_t  *virtual_names;
    unsigned                  ssl:1;
} pt_http_addr_conf_t;

typedef struct {
    pt_sockaddr_t             sockaddr;
    socklen_t                 socklen;
    pt_http_addr_conf_t       conf;
} pt_http_in_addr_t;

/* A listening socket's table of addresses (several when it is a wildcard). */
typedef struct {
    pt_http_in_addr_t        *addrs;
    pt_uint_t                 naddrs;
} pt_http_port_t;

/* Config-time collections */
typedef struct {
    int                       family;
    in_port_t                 port;
    pt_array_t                addrs;     /* of pt_http_conf_addr_t */
} pt_http_conf_port_t;

typedef struct {
    pt_http_listen_opt_t      opt;
    pt_http_core_srv_conf_t  *default_server;
    pt_array_t                servers;   /* of pt_http_core_srv_conf_t * */
    pt_http_virtual_names_t  *virtual_names;
} pt_http_conf_addr_t;

typedef struct {
    pt_int_t                  status;
    pt_int_t                  overwrite;    /* =CODE, 0: "=", -1: keep */
    pt_http_complex_value_t   uri;          /* URI, @name or URL */
} pt_http_err_page_t;

typedef struct pt_http_core_loc_conf_s  pt_http_core_loc_conf_t;

struct pt_http_core_loc_conf_s {
    pt_str_t                  name;         /* location prefix or pattern */
    pt_regex_t               *regex;

    unsigned                  noname:1;     /* "if" blocks, limit_except */
    unsigned                  named:1;      /* @name */
    unsigned                  exact_match:1;
    unsigned                  noregex:1;    /* ^~ */

    /* locations nested in this one, split by kind in declaration order */
    pt_array_t               *exact_locations;
    pt_array_t               *prefix_locations;
    pt_array_t               *regex_locations;
    pt_array_t               *named_locations;

    void                    **loc_conf;     /* this location's own */

    pt_http_handler_pt        handler;      /* content handler, if any */

    pt_str_t                  default_type;

    off_t                     client_max_body_size;
    pt_str_t                  client_body_temp_path;
    size_t                    client_body_buffer_size;
    size_t                    postpone_output;

    pt_msec_t                 client_body_timeout;
    pt_msec_t                 send_timeout;
    pt_msec_t                 keepalive_timeout;
    pt_msec_t                 keepalive_time;
    pt_msec_t                 lingering_time;
    pt_msec_t                 lingering_timeout;

    pt_uint_t                 keepalive_requests;
    pt_uint_t                 lingering_close;
    pt_uint_t                 server_tokens;

    pt_flag_t                 internal;
    pt_flag_t                 tcp_nodelay;
    pt_flag_t                 tcp_nopush;
    pt_flag_t                 sendfile;

    pt_array_t               *error_pages;  /* of pt_http_err_page_t */
    pt_flag_t                 recursive_error_pages;

    pt_resolver_t            *resolver;     /* pt_http_core_get_resolver() */
    pt_msec_t                 resolver_timeout;

    pt_log_t                 *error_log;
};

#define PT_HTTP_LINGERING_OFF     0
#define PT_HTTP_LINGERING_ON      1
#define PT_HTTP_LINGERING_ALWAYS  2

#define PT_HTTP_SERVER_TOKENS_OFF    0
#define PT_HTTP_SERVER_TOKENS_ON     1

void pt_http_core_run_phases(pt_http_request_t *r);
void pt_http_handler(pt_http_request_t *r);
pt_int_t pt_http_core_generic_phase(pt_http_request_t *r,
    pt_http_phase_handler_t *ph);
pt_int_t pt_http_core_rewrite_phase(pt_http_request_t *r,
    pt_http_phase_handler_t *ph);
pt_int_t pt_http_core_find_config_phase(pt_http_request_t *r,
    pt_http_phase_handler_t *ph);
pt_int_t pt_http_core_post_rewrite_phase(pt_http_request_t *r,
    pt_http_phase_handler_t *ph);
pt_int_t pt_http_core_access_phase(pt_http_request_t *r,
    pt_http_phase_handler_t *ph);
pt_int_t pt_http_core_post_access_phase(pt_http_request_t *r,
    pt_http_phase_handler_t *ph);
pt_int_t pt_http_core_content_phase(pt_http_request_t *r,
    pt_http_phase_handler_t *ph);

/*
 * The resolver of a location configuration (NULL: none) and, in *timeout
 * when not NULL, its resolver_timeout. It reads the http-level one too,
 * which is never merged (an upstream block's configuration is that one):
 * read it once the whole http block is parsed.
 */
pt_resolver_t *pt_http_core_get_resolver(pt_http_core_loc_conf_t *clcf,
    pt_msec_t *timeout);

void pt_http_update_location_config(pt_http_request_t *r);
pt_int_t pt_http_find_virtual_server(pt_connection_t *c,
    pt_http_virtual_names_t *virtual_names, pt_str_t *host,
    pt_http_request_t *r, pt_http_core_srv_conf_t **cscfp);
pt_int_t pt_http_set_virtual_server(pt_http_request_t *r, pt_str_t *host);
pt_int_t pt_http_internal_redirect(pt_http_request_t *r, pt_str_t *uri,
    pt_str_t *args);
pt_int_t pt_http_named_location(pt_http_request_t *r, pt_str_t *name);

pt_int_t pt_http_add_listen(pt_conf_t *cf, pt_http_core_srv_conf_t *cscf,
    pt_http_listen_opt_t *lsopt);
pt_int_t pt_http_optimize_servers(pt_conf_t *cf,
    pt_http_core_main_conf_t *cmcf, pt_array_t *ports);

#endif /* PT_HTTP_CORE_MODULE_H */
