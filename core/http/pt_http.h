#ifndef PT_HTTP_H
#define PT_HTTP_H

#include "pt_core.h"
#include "pt_ssl.h"

typedef struct pt_http_request_s      pt_http_request_t;
typedef struct pt_http_log_ctx_s      pt_http_log_ctx_t;
typedef struct pt_http_cleanup_s      pt_http_cleanup_t;
typedef struct pt_table_elt_s         pt_table_elt_t;

typedef pt_int_t (*pt_http_header_handler_pt)(pt_http_request_t *r,
    pt_table_elt_t *h, pt_uint_t offset);
typedef u_char *(*pt_http_log_handler_pt)(pt_http_request_t *r,
    pt_http_request_t *sr, u_char *buf, size_t len);

#define PT_HTTP_LC_HEADER_LEN  32

#include "pt_http_config.h"
#include "pt_http_request.h"
#include "pt_http_variables.h"
#include "pt_http_core_module.h"
#include "pt_http_upstream.h"

struct pt_http_log_ctx_s {
    pt_connection_t     *connection;
    pt_http_request_t   *request;
    pt_http_request_t   *current_request;
};

#define pt_http_get_module_ctx(r, module)  (r)->ctx[module.ctx_index]
#define pt_http_set_ctx(r, c, module)      (r)->ctx[module.ctx_index] = c;

/* the parser: pt_http_parse.c */
pt_int_t pt_http_parse_request_line(pt_http_request_t *r, pt_buf_t *b);
pt_int_t pt_http_parse_header_line(pt_http_request_t *r, pt_buf_t *b,
    pt_uint_t allow_underscores);
pt_int_t pt_http_parse_header_line_ref(pt_http_request_t *r, pt_buf_t *b,
    pt_uint_t allow_underscores);
pt_int_t pt_http_parse_uri(pt_http_request_t *r);
pt_int_t pt_http_normalize_uri(pt_http_request_t *r, pt_uint_t merge_slashes);
pt_int_t pt_http_validate_host(pt_str_t *host, pt_pool_t *pool,
    pt_uint_t alloc);
pt_int_t pt_http_parse_status_line(pt_http_request_t *r, pt_buf_t *b,
    pt_http_status_t *status);
pt_int_t pt_http_parse_content_length(const u_char *p, size_t len,
    off_t *out);

/* header names a proxy does not pass through as they are */
#define PT_HTTP_HOP_CONNECTION          0x0001
#define PT_HTTP_HOP_KEEP_ALIVE          0x0002
#define PT_HTTP_HOP_PROXY_CONNECTION    0x0004
#define PT_HTTP_HOP_TE                  0x0008
#define PT_HTTP_HOP_TRAILER             0x0010
#define PT_HTTP_HOP_TRANSFER_ENCODING   0x0020
#define PT_HTTP_HOP_UPGRADE             0x0040
#define PT_HTTP_HOP_CONTENT_LENGTH      0x0080
#define PT_HTTP_HOP_HOST                0x0100
#define PT_HTTP_HOP_EXPECT              0x0200

pt_uint_t pt_http_hop_header(const u_char *lowcase, size_t len);

/* the tokens of a Connection header's value */
#define PT_HTTP_CONN_CLOSE              0x01
#define PT_HTTP_CONN_KEEP_ALIVE         0x02
#define PT_HTTP_CONN_UPGRADE            0x04
#define PT_HTTP_CONN_OTHER              0x08    /* any other token */

pt_uint_t pt_http_connection_tokens(const u_char *p, size_t len);
size_t pt_http_list_next(const u_char **p, const u_char *last,
    const u_char **start);
pt_uint_t pt_http_token_in(pt_table_elt_t *list, const u_char *name,
    size_t len);

/* MIME type lists: pt_http.c */
typedef struct {
    pt_array_t      *types;     /* of pt_str_t; PT_CONF_UNSET_PTR: unset */
    pt_uint_t        any;       /* "*" */
} pt_http_types_t;

char *pt_http_types_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_http_merge_types(pt_conf_t *cf, pt_http_types_t *conf,
    pt_http_types_t *prev);
pt_uint_t pt_http_test_content_type(pt_http_request_t *r,
    pt_http_types_t *types);

/* Accept-Encoding and content codings: pt_http_accept_encoding.c */
/* the weight 0..1000 of coding in one field value, or -1 if not named */
pt_int_t pt_http_accept_encoding_weight(const pt_str_t *value,
    const char *coding);
/* the same over all of r's Accept-Encoding fields */
pt_int_t pt_http_accept_encoding(pt_http_request_t *r, const char *coding);
/* PT_OK when r's client may get gzip (gzip_http_version, _proxied, ...) */
pt_int_t pt_http_gzip_ok(pt_http_request_t *r);
/* adds "Vary: Accept-Encoding" once, when gzip_vary is on */
pt_int_t pt_http_gzip_vary(pt_http_request_t *r);
/* the response's Content-Encoding field, or NULL */
pt_table_elt_t *pt_http_content_encoding(pt_http_request_t *r);
/* the body is recoded: no length, no ranges, a weak ETag */
pt_int_t pt_http_content_recoded(pt_http_request_t *r);

/* FILE.gz or FILE.br next to a static file, for gzip_static and
 * brotli_static: pt_http_static_module.c */
pt_int_t pt_http_static_open_variant(pt_http_request_t *r,
    const char *suffix, pt_file_t **file);
pt_int_t pt_http_static_variant_headers(pt_http_request_t *r,
    pt_file_t *file);

/* the chunked decoder: pt_http_chunked.c */
pt_int_t pt_http_parse_chunked(pt_http_request_t *r, pt_buf_t *b,
    pt_http_chunked_t *ctx);

/* request bodies: pt_http_request_body.c */
typedef void (*pt_http_client_body_handler_pt)(pt_http_request_t *r);

typedef struct {
    pt_file_t                      *temp_file;
    pt_chain_t                     *bufs;       /* the whole body, in order */
    pt_buf_t                       *buf;        /* being filled */
    pt_buf_t                       *raw;        /* chunked input */
    off_t                           rest;       /* to read (Content-Length) */
    off_t                           received;   /* body bytes so far */
    pt_http_chunked_t               chunked;
    pt_http_client_body_handler_pt  post_handler;
    unsigned                        done:1;
    unsigned                        unbuffered:1;   /* taken as it comes */
    unsigned                        taken:1;        /* ... by a consumer */
} pt_http_request_body_t;

pt_int_t pt_http_read_client_request_body(pt_http_request_t *r,
    pt_http_client_body_handler_pt post_handler);
pt_int_t pt_http_read_unbuffered_request_body(pt_http_request_t *r);
pt_int_t pt_http_discard_request_body(pt_http_request_t *r);
pt_int_t pt_http_send_continue(pt_http_request_t *r);
pt_file_t *pt_create_temp_file(pt_pool_t *pool, pt_str_t *dir,
    pt_log_t *log);

/* the request: pt_http_request.c */
void pt_http_init_connection(pt_connection_t *c);
void pt_http_wait_request_handler(pt_event_t *rev);
extern pt_connection_handler_pt  pt_http_ssl_init_connection;
void pt_http_request_handler(pt_event_t *ev);
void pt_http_finalize_request(pt_http_request_t *r, pt_int_t rc);
void pt_http_free_request(pt_http_request_t *r, pt_int_t rc);
void pt_http_close_connection(pt_connection_t *c);
void pt_http_empty_handler(pt_event_t *wev);
void pt_http_request_empty_handler(pt_http_request_t *r);
void pt_http_block_reading(pt_http_request_t *r);
u_char *pt_http_log_error_info(pt_http_request_t *r, u_char *buf,
    size_t len);
pt_http_cleanup_t *pt_http_cleanup_add(pt_http_request_t *r, size_t size);

/* responses: pt_http_special_response.c */
pt_int_t pt_http_special_response_handler(pt_http_request_t *r, pt_int_t error);
pt_int_t pt_http_send_response(pt_http_request_t *r, pt_uint_t status,
    pt_str_t *ct, pt_str_t *body);

/* the filter chains */
typedef pt_int_t (*pt_http_output_header_filter_pt)(pt_http_request_t *r);
typedef pt_int_t (*pt_http_output_body_filter_pt)(pt_http_request_t *r,
    pt_chain_t *chain);

extern pt_http_output_header_filter_pt  pt_http_top_header_filter;
extern pt_http_output_body_filter_pt    pt_http_top_body_filter;

#include "pt_http_codec.h"

pt_int_t pt_http_send_header(pt_http_request_t *r);
const char *pt_http_status_text(pt_uint_t code);
pt_int_t pt_http_output_filter(pt_http_request_t *r, pt_chain_t *in);
pt_int_t pt_http_write_filter(pt_http_request_t *r, pt_chain_t *in);

extern pt_uint_t    pt_http_max_module;
extern pt_module_t  pt_http_module;
extern pt_module_t  pt_http_core_module;
extern pt_str_t     pt_http_html_default_types[];


#endif /* PT_HTTP_H */
