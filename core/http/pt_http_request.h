#ifndef PT_HTTP_REQUEST_H
#define PT_HTTP_REQUEST_H

/*
 * The request object knows nothing of its framing: HTTP/1.1 reads it from
 * a connection buffer today, HTTP/2 will fill the same fields from frames.
 */

#define PT_HTTP_VERSION_9         9
#define PT_HTTP_VERSION_10        1000
#define PT_HTTP_VERSION_11        1001
#define PT_HTTP_VERSION_20        2000

#define PT_HTTP_UNKNOWN           0x00000001
#define PT_HTTP_GET               0x00000002
#define PT_HTTP_HEAD              0x00000004
#define PT_HTTP_POST              0x00000008
#define PT_HTTP_PUT               0x00000010
#define PT_HTTP_DELETE            0x00000020
#define PT_HTTP_MKCOL             0x00000040
#define PT_HTTP_COPY              0x00000080
#define PT_HTTP_MOVE              0x00000100
#define PT_HTTP_OPTIONS           0x00000200
#define PT_HTTP_PROPFIND          0x00000400
#define PT_HTTP_PROPPATCH         0x00000800
#define PT_HTTP_LOCK              0x00001000
#define PT_HTTP_UNLOCK            0x00002000
#define PT_HTTP_PATCH             0x00004000
#define PT_HTTP_TRACE             0x00008000
#define PT_HTTP_CONNECT           0x00010000

#define PT_HTTP_CONNECTION_CLOSE       1
#define PT_HTTP_CONNECTION_KEEP_ALIVE  2

#define PT_HTTP_PARSE_HEADER_DONE         1
#define PT_HTTP_PARSE_INVALID_METHOD      10
#define PT_HTTP_PARSE_INVALID_REQUEST     11
#define PT_HTTP_PARSE_INVALID_VERSION     12
#define PT_HTTP_PARSE_INVALID_09_METHOD   13
#define PT_HTTP_PARSE_INVALID_HEADER      14

#define PT_HTTP_CONTINUE                  100
#define PT_HTTP_SWITCHING_PROTOCOLS       101
#define PT_HTTP_OK                        200
#define PT_HTTP_CREATED                   201
#define PT_HTTP_ACCEPTED                  202
#define PT_HTTP_NO_CONTENT                204
#define PT_HTTP_PARTIAL_CONTENT           206
#define PT_HTTP_SPECIAL_RESPONSE          300
#define PT_HTTP_MOVED_PERMANENTLY         301
#define PT_HTTP_MOVED_TEMPORARILY         302
#define PT_HTTP_SEE_OTHER                 303
#define PT_HTTP_NOT_MODIFIED              304
#define PT_HTTP_TEMPORARY_REDIRECT        307
#define PT_HTTP_PERMANENT_REDIRECT        308
#define PT_HTTP_BAD_REQUEST               400
#define PT_HTTP_UNAUTHORIZED              401
#define PT_HTTP_FORBIDDEN                 403
#define PT_HTTP_NOT_FOUND                 404
#define PT_HTTP_NOT_ALLOWED               405
#define PT_HTTP_REQUEST_TIME_OUT          408
#define PT_HTTP_CONFLICT                  409
#define PT_HTTP_LENGTH_REQUIRED           411
#define PT_HTTP_PRECONDITION_FAILED       412
#define PT_HTTP_REQUEST_ENTITY_TOO_LARGE  413
#define PT_HTTP_REQUEST_URI_TOO_LARGE     414
#define PT_HTTP_UNSUPPORTED_MEDIA_TYPE    415
#define PT_HTTP_RANGE_NOT_SATISFIABLE     416
#define PT_HTTP_MISDIRECTED_REQUEST       421
#define PT_HTTP_TOO_MANY_REQUESTS         429
#define PT_HTTP_REQUEST_HEADER_TOO_LARGE  431
/* internal: close the connection without a response */
#define PT_HTTP_CLOSE                     444
/*
 * internal, as in nginx: what error_page can name for a failed client
 * certificate check and for plain HTTP on a TLS port; the client is told 400
 */
#define PT_HTTPS_CERT_ERROR               495
#define PT_HTTPS_NO_CERT                  496
#define PT_HTTP_TO_HTTPS                  497
#define PT_HTTP_CLIENT_CLOSED_REQUEST     499
#define PT_HTTP_INTERNAL_SERVER_ERROR     500
#define PT_HTTP_NOT_IMPLEMENTED           501
#define PT_HTTP_BAD_GATEWAY               502
#define PT_HTTP_SERVICE_UNAVAILABLE       503
#define PT_HTTP_GATEWAY_TIME_OUT          504
#define PT_HTTP_VERSION_NOT_SUPPORTED     505

#define PT_HTTP_MAX_HEADERS               100   /* per request, hard limit */

struct pt_table_elt_s {
    pt_uint_t        hash;          /* 0: deleted */
    pt_str_t         key;
    pt_str_t         value;
    u_char          *lowcase_key;
    pt_table_elt_t  *next;          /* further headers of the same name */
};

typedef struct {
    pt_str_t                   name;
    pt_uint_t                  offset;      /* of the shortcut pointer */
    pt_http_header_handler_pt  handler;
} pt_http_header_t;

typedef struct {
    pt_list_t        headers;       /* of pt_table_elt_t, in arrival order */

    pt_table_elt_t  *host;
    pt_table_elt_t  *connection;
    pt_table_elt_t  *if_modified_since;
    pt_table_elt_t  *if_unmodified_since;
    pt_table_elt_t  *if_match;
    pt_table_elt_t  *if_none_match;
    pt_table_elt_t  *user_agent;
    pt_table_elt_t  *referer;
    pt_table_elt_t  *content_length;
    pt_table_elt_t  *content_range;
    pt_table_elt_t  *content_type;
    pt_table_elt_t  *range;
    pt_table_elt_t  *if_range;
    pt_table_elt_t  *transfer_encoding;
    pt_table_elt_t  *te;
    pt_table_elt_t  *expect;
    pt_table_elt_t  *upgrade;
    pt_table_elt_t  *accept_encoding;
    pt_table_elt_t  *authorization;
    pt_table_elt_t  *keep_alive;
    pt_table_elt_t  *cookie;
    pt_table_elt_t  *x_forwarded_for;
    pt_table_elt_t  *x_real_ip;

    pt_str_t         server;        /* Host without port, lowercase */
    off_t            content_length_n;
    time_t           keep_alive_n;

    unsigned         connection_type:2;
    unsigned         chunked:1;
    unsigned         msie:1;
} pt_http_headers_in_t;

typedef struct {
    pt_list_t        headers;
    pt_list_t        trailers;

    pt_uint_t        status;
    pt_str_t         status_line;

    pt_table_elt_t  *server;
    pt_table_elt_t  *date;
    pt_table_elt_t  *content_length;
    pt_table_elt_t  *content_encoding;
    pt_table_elt_t  *location;
    pt_table_elt_t  *refresh;
    pt_table_elt_t  *last_modified;
    pt_table_elt_t  *content_range;
    pt_table_elt_t  *accept_ranges;
    pt_table_elt_t  *www_authenticate;
    pt_table_elt_t  *expires;
    pt_table_elt_t  *etag;

    pt_str_t         content_type;
    pt_str_t         charset;
    size_t           content_type_len;

    off_t            content_length_n;  /* -1: unknown */
    time_t           date_time;
    time_t           last_modified_time;
} pt_http_headers_out_t;

typedef struct {
    pt_uint_t        http_version;
    pt_uint_t        code;
    pt_uint_t        count;
    u_char          *start;
    u_char          *end;
} pt_http_status_t;

typedef struct {
    pt_uint_t        state;
    off_t            size;      /* data left in the current chunk */
    pt_uint_t        digits;
    pt_uint_t        ext;       /* bytes of extension seen */
    pt_uint_t        trailers;  /* bytes of trailers seen */
} pt_http_chunked_t;

typedef void (*pt_http_event_handler_pt)(pt_http_request_t *r);
typedef pt_int_t (*pt_http_handler_pt)(pt_http_request_t *r);
typedef void (*pt_http_cleanup_pt)(void *data);

struct pt_http_cleanup_s {
    pt_http_cleanup_pt   handler;
    void                *data;
    pt_http_cleanup_t   *next;
};

/*
 * Per-connection HTTP/1 state: which servers its listen address leads to,
 * and the large header buffers it may borrow across pipelined requests.
 */
typedef struct {
    void                *addr_conf;     /* pt_http_addr_conf_t */
    pt_http_conf_ctx_t  *conf_ctx;      /* of the default server */

    pt_buf_t           **busy;
    pt_int_t             nbusy;
    pt_chain_t          *free;

    pt_msec_t            lingering_timeout;

    unsigned             ssl:1;
    unsigned             plain_http:1;  /* plain HTTP on a TLS port */
    unsigned             pipeline:1;    /* more requests already buffered */
} pt_http_connection_t;

struct pt_http_request_s {
    uint32_t                   signature;   /* "HTTP" */

    pt_connection_t           *connection;

    void                     **ctx;
    void                     **main_conf;
    void                     **srv_conf;
    void                     **loc_conf;

    pt_http_event_handler_pt   read_event_handler;
    pt_http_event_handler_pt   write_event_handler;

    pt_http_handler_pt         content_handler;
    pt_uint_t                  access_code;

    pt_pool_t                 *pool;
    pt_buf_t                  *header_in;

    pt_http_headers_in_t       headers_in;
    pt_http_headers_out_t      headers_out;

    pt_http_connection_t      *http_connection;

    void                      *request_body;    /* pt_http_request_body_t */
    void                      *upstream;        /* pt_http_upstream_t */

    void                      *variables;   /* pt_http_variable_value_t[] */

    pt_uint_t                  ncaptures;   /* regex captures, in pairs */
    int                       *captures;
    u_char                    *captures_data;

    size_t                     header_size;     /* of the response head */

    time_t                     start_sec;
    pt_msec_t                  start_msec;

    pt_uint_t                  method;
    pt_uint_t                  http_version;

    pt_str_t                   request_line;
    pt_str_t                   uri;             /* normalised path */
    pt_str_t                   args;
    pt_str_t                   exten;
    pt_str_t                   unparsed_uri;    /* $request_uri */
    pt_str_t                   method_name;
    pt_str_t                   http_protocol;
    pt_str_t                   schema;          /* absolute-form only */

    pt_chain_t                *out;             /* the write filter's backlog */
    pt_http_request_t         *main;

    pt_http_cleanup_t         *cleanup;

    pt_int_t                   phase_handler;
    pt_uint_t                  uri_changes;     /* internal redirects left */
    pt_uint_t                  err_status;
    off_t                      request_length;

    /* parser state */
    pt_uint_t                  state;
    pt_uint_t                  header_hash;
    pt_uint_t                  lowcase_index;
    u_char                     lowcase_header[PT_HTTP_LC_HEADER_LEN];

    u_char                    *header_name_start;
    u_char                    *header_name_end;
    u_char                    *header_start;
    u_char                    *header_end;

    u_char                    *uri_start;
    u_char                    *uri_end;
    u_char                    *args_start;
    u_char                    *request_start;
    u_char                    *request_end;
    u_char                    *method_end;
    u_char                    *schema_start;
    u_char                    *schema_end;
    u_char                    *host_start;
    u_char                    *host_end;

    unsigned                   http_minor:16;
    unsigned                   http_major:16;

    unsigned                   count:16;        /* references */
    unsigned                   keepalive:1;
    unsigned                   lingering_close:1;
    unsigned                   header_only:1;
    unsigned                   internal:1;
    unsigned                   error_page:1;
    unsigned                   header_sent:1;
    unsigned                   response_sent:1;
    unsigned                   done:1;
    unsigned                   logged:1;
    unsigned                   terminated:1;
    unsigned                   buffered:4;
    unsigned                   plain_http:1;
    unsigned                   complex_uri:1;   /* needs normalising */
    unsigned                   quoted_uri:1;
    unsigned                   empty_path_in_uri:1;
    unsigned                   invalid_header:1;
    unsigned                   expect_tested:1;
    unsigned                   chunked:1;       /* response framing */
    unsigned                   reading_body:1;
    unsigned                   request_body_no_buffering:1; /* streamed */
    unsigned                   discard_body:1;  /* body read and dropped */
    unsigned                   body_handled:1;  /* read or discarded */
    unsigned                   filter_finalize:1;
    unsigned                   disable_not_modified:1;  /* the origin judged */
};

#define PT_HTTP_REQUEST_SIGNATURE  0x50545448   /* "HTTP" */

#endif /* PT_HTTP_REQUEST_H */
