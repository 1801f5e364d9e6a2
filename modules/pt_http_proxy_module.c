/*
 * The proxy module: proxy_pass to an address or an upstream group over
 * HTTP/1.x. It builds the upstream request (proxy_set_header, the client's
 * end-to-end headers, the body), and parses the upstream's response head
 * with the same strict parser used for clients; the upstream machinery
 * does the rest.
 */
#include "pt_http.h"


typedef struct {
    pt_str_t                   key;
    pt_http_complex_value_t    value;
} pt_http_proxy_header_t;

/* the buffer directives, and where each was set, for the merge's checks */
enum {
    PT_HTTP_PROXY_BUFFER_SIZE = 0,
    PT_HTTP_PROXY_BUFFERS,
    PT_HTTP_PROXY_BUSY_BUFFERS_SIZE,
    PT_HTTP_PROXY_TEMP_FILE_WRITE_SIZE,
    PT_HTTP_PROXY_MAX_TEMP_FILE_SIZE,
    PT_HTTP_PROXY_NBUFFER_DIRECTIVES
};

typedef struct {
    u_char                    *file;
    pt_uint_t                  line;        /* 0: not set */
} pt_http_proxy_where_t;

/*
 * One proxy_redirect, proxy_cookie_domain or proxy_cookie_path rule: the
 * handler looks at len bytes of a field value from prefix and, when they
 * match, puts the replacement in their place.
 */
typedef struct pt_http_proxy_rewrite_s  pt_http_proxy_rewrite_t;

typedef pt_int_t (*pt_http_proxy_rewrite_pt)(pt_http_request_t *r,
    pt_str_t *value, size_t prefix, size_t len, pt_http_proxy_rewrite_t *pr);

typedef struct {
    pt_uint_t                  capture;     /* its number */
    pt_uint_t                  index;       /* the variable's */
} pt_http_proxy_named_capture_t;

struct pt_http_proxy_rewrite_s {
    pt_http_proxy_rewrite_pt   handler;
    pt_http_complex_value_t    pattern;     /* the text forms */
    pt_regex_t                *regex;       /* the "~" forms */
    pt_http_proxy_named_capture_t  *named;  /* (?<name>...) captures */
    pt_uint_t                  nnamed;
    pt_http_complex_value_t    replacement;
};

/* a request's proxy_pass with variables, as it came out */
typedef struct {
    pt_str_t                   host;        /* $proxy_host */
    pt_str_t                   port;        /* $proxy_port */
    pt_str_t                   uri;         /* sent as it is, if any */
} pt_http_proxy_ctx_t;

typedef struct {
    pt_http_upstream_conf_t    upstream;

    pt_http_complex_value_t   *url_cv;      /* proxy_pass with variables */
    pt_str_t                   url;         /* as written */
    pt_str_t                   host;        /* $proxy_host: Host sent */
    pt_str_t                   port;        /* $proxy_port */
    pt_str_t                   uri;         /* URI part, if any */
    pt_str_t                   location;    /* the location's prefix */
    unsigned                   has_uri:1;

    /* as configured: the upstream's values are derived when merging */
    size_t                     busy_buffers_size_conf;
    size_t                     temp_file_write_size_conf;
    off_t                      max_temp_file_size_conf;
    pt_http_proxy_where_t      where[PT_HTTP_PROXY_NBUFFER_DIRECTIVES];

    pt_array_t                *set_headers;     /* pt_keyval_t as written */
    pt_array_t                *headers;         /* pt_http_proxy_header_t */

    pt_flag_t                  redirect;        /* 0: proxy_redirect off */
    pt_array_t                *redirects;       /* pt_http_proxy_rewrite_t */
    pt_array_t                *cookie_domains;  /* NULL: off */
    pt_array_t                *cookie_paths;

    pt_str_t                   method;
    pt_uint_t                  http_version;
    pt_flag_t                  pass_request_headers;
    pt_flag_t                  pass_request_body;

    /* TLS to the servers, for proxy_pass https:// */
    unsigned                   https:1;
    pt_ssl_t                   ssl;
    pt_uint_t                  ssl_protocols;
    pt_conf_arg_t              ssl_ciphers;
    pt_flag_t                  ssl_verify;
    pt_int_t                   ssl_verify_depth;
    pt_conf_arg_t              ssl_trusted_certificate;
    pt_conf_arg_t              ssl_certificate;
    pt_conf_arg_t              ssl_certificate_key;
} pt_http_proxy_loc_conf_t;


static void *pt_http_proxy_create_loc_conf(pt_conf_t *cf);
static char *pt_http_proxy_merge_loc_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_proxy_add_variables(pt_conf_t *cf);
static char *pt_http_proxy_pass(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static pt_int_t pt_http_proxy_set_ssl(pt_conf_t *cf,
    pt_http_proxy_loc_conf_t *conf);
static char *pt_http_proxy_hide_header(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_proxy_buffer_slot(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_proxy_merge_buffers(pt_conf_t *cf,
    pt_http_proxy_loc_conf_t *prev, pt_http_proxy_loc_conf_t *conf);
static char *pt_http_proxy_redirect(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_proxy_cookie_domain(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_proxy_cookie_path(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static pt_int_t pt_http_proxy_handler(pt_http_request_t *r);
static pt_int_t pt_http_proxy_eval(pt_http_request_t *r,
    pt_http_proxy_loc_conf_t *plcf);
static pt_int_t pt_http_proxy_redirect_default(pt_conf_t *cf,
    pt_http_proxy_loc_conf_t *plcf, pt_http_proxy_rewrite_t *pr);
static pt_int_t pt_http_proxy_rewrite_header(pt_http_request_t *r,
    pt_table_elt_t *h);
static pt_int_t pt_http_proxy_create_request(pt_http_request_t *r);
static pt_int_t pt_http_proxy_process_header(pt_http_request_t *r);


static pt_conf_bitmask_t  pt_http_proxy_ssl_protocols[] = {
    { pt_string("TLSv1"), PT_SSL_TLSv1 },
    { pt_string("TLSv1.1"), PT_SSL_TLSv1_1 },
    { pt_string("TLSv1.2"), PT_SSL_TLSv1_2 },
    { pt_string("TLSv1.3"), PT_SSL_TLSv1_3 },
    { pt_null_string, 0 }
};

static char *pt_http_proxy_ssl_name(pt_conf_t *cf, void *post, void *data);

static pt_conf_post_t  pt_http_proxy_ssl_name_post = {
    pt_http_proxy_ssl_name
};

/* how pt_http_proxy_buffer_slot sets a buffer directive */
typedef struct {
    char                    *(*set)(pt_conf_t *cf, pt_command_t *cmd,
                                    void *conf);
    pt_uint_t                  index;       /* in "where" */
} pt_http_proxy_buffer_setter_t;

static pt_http_proxy_buffer_setter_t  pt_http_proxy_set_buffer_size = {
    pt_conf_set_size_slot, PT_HTTP_PROXY_BUFFER_SIZE
};

static pt_http_proxy_buffer_setter_t  pt_http_proxy_set_buffers = {
    pt_conf_set_bufs_slot, PT_HTTP_PROXY_BUFFERS
};

static pt_http_proxy_buffer_setter_t  pt_http_proxy_set_busy_buffers_size = {
    pt_conf_set_size_slot, PT_HTTP_PROXY_BUSY_BUFFERS_SIZE
};

static pt_http_proxy_buffer_setter_t  pt_http_proxy_set_temp_file_write_size = {
    pt_conf_set_size_slot, PT_HTTP_PROXY_TEMP_FILE_WRITE_SIZE
};

static pt_http_proxy_buffer_setter_t  pt_http_proxy_set_max_temp_file_size = {
    pt_conf_set_off_slot, PT_HTTP_PROXY_MAX_TEMP_FILE_SIZE
};

static pt_conf_enum_t  pt_http_proxy_http_version[] = {
    { pt_string("1.0"), PT_HTTP_VERSION_10 },
    { pt_string("1.1"), PT_HTTP_VERSION_11 },
    { pt_null_string, 0 }
};

static pt_conf_bitmask_t  pt_http_proxy_next_upstream_masks[] = {
    { pt_string("error"), PT_HTTP_UPSTREAM_FT_ERROR },
    { pt_string("timeout"), PT_HTTP_UPSTREAM_FT_TIMEOUT },
    { pt_string("invalid_header"), PT_HTTP_UPSTREAM_FT_INVALID_HEADER },
    { pt_string("non_idempotent"), PT_HTTP_UPSTREAM_FT_NON_IDEMPOTENT },
    { pt_string("http_500"), PT_HTTP_UPSTREAM_FT_HTTP_500 },
    { pt_string("http_502"), PT_HTTP_UPSTREAM_FT_HTTP_502 },
    { pt_string("http_503"), PT_HTTP_UPSTREAM_FT_HTTP_503 },
    { pt_string("http_504"), PT_HTTP_UPSTREAM_FT_HTTP_504 },
    { pt_string("http_403"), PT_HTTP_UPSTREAM_FT_HTTP_403 },
    { pt_string("http_404"), PT_HTTP_UPSTREAM_FT_HTTP_404 },
    { pt_string("http_429"), PT_HTTP_UPSTREAM_FT_HTTP_429 },
    { pt_string("off"), PT_HTTP_UPSTREAM_FT_OFF },
    { pt_null_string, 0 }
};


static pt_conf_bitmask_t  pt_http_proxy_ignore_headers_masks[] = {
    { pt_string("X-Accel-Redirect"), PT_HTTP_UPSTREAM_IGN_XA_REDIRECT },
    { pt_string("X-Accel-Expires"), PT_HTTP_UPSTREAM_IGN_XA_EXPIRES },
    { pt_string("X-Accel-Limit-Rate"), PT_HTTP_UPSTREAM_IGN_XA_LIMIT_RATE },
    { pt_string("X-Accel-Buffering"), PT_HTTP_UPSTREAM_IGN_XA_BUFFERING },
    { pt_string("X-Accel-Charset"), PT_HTTP_UPSTREAM_IGN_XA_CHARSET },
    { pt_string("Expires"), PT_HTTP_UPSTREAM_IGN_EXPIRES },
    { pt_string("Cache-Control"), PT_HTTP_UPSTREAM_IGN_CACHE_CONTROL },
    { pt_string("Set-Cookie"), PT_HTTP_UPSTREAM_IGN_SET_COOKIE },
    { pt_string("Vary"), PT_HTTP_UPSTREAM_IGN_VARY },
    { pt_null_string, 0 }
};


static pt_command_t  pt_http_proxy_commands[] = {

    { pt_string("proxy_pass"),
      PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_http_proxy_pass,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("proxy_set_header"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE2,
      pt_conf_set_keyval_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, set_headers),
      NULL },

    { pt_string("proxy_http_version"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_enum_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, http_version),
      &pt_http_proxy_http_version },

    { pt_string("proxy_method"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_str_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, method),
      NULL },

    { pt_string("proxy_pass_request_headers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, pass_request_headers),
      NULL },

    { pt_string("proxy_pass_request_body"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, pass_request_body),
      NULL },

    { pt_string("proxy_connect_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.connect_timeout),
      NULL },

    { pt_string("proxy_send_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.send_timeout),
      NULL },

    { pt_string("proxy_read_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.read_timeout),
      NULL },

    { pt_string("proxy_buffer_size"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_http_proxy_buffer_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.buffer_size),
      &pt_http_proxy_set_buffer_size },

    { pt_string("proxy_buffering"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.buffering),
      NULL },

    { pt_string("proxy_buffers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE2,
      pt_http_proxy_buffer_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.bufs),
      &pt_http_proxy_set_buffers },

    { pt_string("proxy_busy_buffers_size"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_http_proxy_buffer_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, busy_buffers_size_conf),
      &pt_http_proxy_set_busy_buffers_size },

    { pt_string("proxy_temp_path"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF
      | PT_CONF_TAKE1234,
      pt_http_upstream_temp_path_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.temp_path),
      NULL },

    { pt_string("proxy_max_temp_file_size"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_http_proxy_buffer_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, max_temp_file_size_conf),
      &pt_http_proxy_set_max_temp_file_size },

    { pt_string("proxy_temp_file_write_size"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_http_proxy_buffer_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, temp_file_write_size_conf),
      &pt_http_proxy_set_temp_file_write_size },

    { pt_string("proxy_request_buffering"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.request_buffering),
      NULL },

    { pt_string("proxy_hide_header"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_http_proxy_hide_header,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.hide_headers),
      NULL },

    { pt_string("proxy_pass_header"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_http_proxy_hide_header,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.pass_headers),
      NULL },

    { pt_string("proxy_next_upstream"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_conf_set_bitmask_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.next_upstream),
      &pt_http_proxy_next_upstream_masks },

    { pt_string("proxy_ssl_protocols"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_conf_set_bitmask_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, ssl_protocols),
      &pt_http_proxy_ssl_protocols },

    { pt_string("proxy_ssl_ciphers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_arg_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, ssl_ciphers),
      NULL },

    { pt_string("proxy_ssl_verify"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, ssl_verify),
      NULL },

    { pt_string("proxy_ssl_verify_depth"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_num_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, ssl_verify_depth),
      NULL },

    { pt_string("proxy_ssl_trusted_certificate"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_arg_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, ssl_trusted_certificate),
      NULL },

    { pt_string("proxy_ssl_certificate"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_arg_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, ssl_certificate),
      NULL },

    { pt_string("proxy_ssl_certificate_key"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_arg_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, ssl_certificate_key),
      NULL },

    { pt_string("proxy_ssl_server_name"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.ssl_server_name),
      NULL },

    { pt_string("proxy_ssl_name"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_str_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.ssl_name),
      &pt_http_proxy_ssl_name_post },

    { pt_string("proxy_ssl_session_reuse"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.ssl_session_reuse),
      NULL },

    { pt_string("proxy_next_upstream_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.next_upstream_timeout),
      NULL },

    { pt_string("proxy_redirect"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE12,
      pt_http_proxy_redirect,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("proxy_cookie_domain"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE12,
      pt_http_proxy_cookie_domain,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("proxy_cookie_path"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE12,
      pt_http_proxy_cookie_path,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("proxy_ignore_headers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_conf_set_bitmask_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.ignore_headers),
      &pt_http_proxy_ignore_headers_masks },

    { pt_string("proxy_intercept_errors"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.intercept_errors),
      NULL },

    { pt_string("proxy_next_upstream_tries"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_num_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_proxy_loc_conf_t, upstream.next_upstream_tries),
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_proxy_module_ctx = {
    pt_http_proxy_add_variables,            /* preconfiguration */
    NULL,                                   /* postconfiguration */
    NULL, NULL, NULL, NULL,
    pt_http_proxy_create_loc_conf,
    pt_http_proxy_merge_loc_conf
};


pt_module_t  pt_http_proxy_module = {
    .ctx = &pt_http_proxy_module_ctx,
    .commands = pt_http_proxy_commands,
    .type = PT_HTTP_MODULE,
};


/* What the upstream never learns of the backend (nginx's defaults too). */
static const char  *pt_http_proxy_hide_defaults[] = {
    "date", "server", "x-pad", "x-powered-by", "x-accel-expires",
    "x-accel-redirect", "x-accel-limit-rate", "x-accel-buffering",
    "x-accel-charset", NULL
};

/* Sent unless proxy_set_header is used at some level. */
static const char  *pt_http_proxy_default_headers[][2] = {
    { "Host", "$proxy_host" },
    { "X-Real-IP", "$remote_addr" },
    { "X-Forwarded-For", "$proxy_add_x_forwarded_for" },
    { "X-Forwarded-Proto", "$scheme" },
    { "X-Forwarded-Host", "$host" },
    { NULL, NULL }
};


static pt_int_t
pt_http_proxy_handler(pt_http_request_t *r)
{
    pt_int_t                   rc;
    pt_http_upstream_t        *u;
    pt_http_proxy_loc_conf_t  *plcf;

    if (pt_http_upstream_create(r) != PT_OK) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    plcf = pt_http_get_module_loc_conf(r, pt_http_proxy_module);

    u = r->upstream;
    u->conf = &plcf->upstream;
    u->create_request = pt_http_proxy_create_request;
    u->process_header = pt_http_proxy_process_header;

    if (plcf->redirects || plcf->cookie_domains || plcf->cookie_paths) {
        u->rewrite_header = pt_http_proxy_rewrite_header;
    }

    if (plcf->url_cv) {
        rc = pt_http_proxy_eval(r, plcf);

        if (rc != PT_OK) {
            return rc;
        }
    }

    if (!plcf->pass_request_body) {
        if (pt_http_discard_request_body(r) != PT_OK) {
            r->keepalive = 0;
        }

        pt_http_upstream_init(r);
        return PT_DONE;
    }

    /*
     * proxy_request_buffering off: the request goes as soon as the head is
     * read, its body as it comes; a chunked body goes chunked, which an
     * HTTP/1.0 server would not understand, so that one is read whole.
     */
    if (!plcf->upstream.request_buffering
        && !(r->headers_in.chunked
             && plcf->http_version == PT_HTTP_VERSION_10))
    {
        r->request_body_no_buffering = 1;
    }

    rc = pt_http_read_client_request_body(r, pt_http_upstream_init);

    if (rc >= PT_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return PT_DONE;
}


/* A host name or address fit to be sent in Host: no spaces, no controls. */
static pt_uint_t
pt_http_proxy_valid_host(pt_url_t *u)
{
    u_char  ch;
    size_t  i;

    if (u->host.len == 0 || u->host.len > 255) {
        return 0;
    }

    for (i = 0; i < u->host.len; i++) {
        ch = u->host.data[i];

        if (u->family == AF_INET6) {
            /* the brackets held an IPv6 address, checked when used */
            if ((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a'
                                             && (ch | 0x20) <= 'f')
                || ch == ':' || ch == '.')
            {
                continue;
            }

            return 0;
        }

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'
            || ch == '_')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


/*
 * proxy_pass with variables: the URL is made for this request. Its host
 * names an "upstream" block (without a port), the group another proxy_pass
 * made for that address and port, or is an IP address or a unix: path to
 * connect to as it is; any other host name would need a resolver at run
 * time, which Portico does not have yet. Returns PT_OK or a status.
 */
static pt_int_t
pt_http_proxy_eval(pt_http_request_t *r, pt_http_proxy_loc_conf_t *plcf)
{
    u_char                       *p;
    size_t                        add, len;
    char                          text[PT_INET6_ADDRSTRLEN + 1];
    pt_str_t                      url, name;
    pt_url_t                      u;
    pt_addr_t                     addr;
    in_port_t                     port;
    pt_uint_t                     https;
    pt_sockaddr_t                *sa;
    pt_http_proxy_ctx_t          *ctx;
    pt_http_upstream_t           *up;
    pt_http_core_loc_conf_t      *clcf;
    pt_http_upstream_conf_t      *uc;
    pt_http_upstream_srv_conf_t  *uscf;
    u_char                        ntop[PT_SOCKADDR_STRLEN];

    if (pt_http_complex_value(r, plcf->url_cv, &url) != PT_OK) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (url.len > 7
        && pt_strncasecmp(url.data, (u_char *) "http://", 7) == 0)
    {
        add = 7;
        port = 80;
        https = 0;

    } else if (url.len > 8
               && pt_strncasecmp(url.data, (u_char *) "https://", 8) == 0)
    {
        add = 8;
        port = 443;
        https = 1;

    } else {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "invalid URL prefix in \"%.*s\" made by \"proxy_pass\"",
                     PT_STR_ARG(url));
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (https && plcf->upstream.ssl == NULL) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "\"proxy_pass\" made https URL \"%.*s\" where its "
                     "scheme was written as http", PT_STR_ARG(url));
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    pt_memzero(&u, sizeof(pt_url_t));

    u.url.data = url.data + add;
    u.url.len = url.len - add;
    u.default_port = port;
    u.uri_part = 1;
    u.no_resolve = 1;

    if (pt_parse_url(r->pool, &u) != PT_OK) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "%s in URL \"%.*s\" made by \"proxy_pass\"",
                     u.err ? u.err : "no memory", PT_STR_ARG(url));
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = pt_pcalloc(r->pool, sizeof(pt_http_proxy_ctx_t));
    uc = pt_palloc(r->pool, sizeof(pt_http_upstream_conf_t));
    if (ctx == NULL || uc == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* $proxy_host and $proxy_port are known even when this fails */
    pt_http_set_ctx(r, ctx, pt_http_proxy_module);

    if (u.family == AF_UNIX) {
        pt_str_set(&ctx->host, "localhost");
        pt_str_set(&name, "localhost");

        uscf = pt_http_upstream_find(r, &u);

        if (uscf == NULL) {
            uscf = pt_http_upstream_create_single(r, &u.host, &u.addrs[0],
                                                  1);
        }

    } else {
        if (!pt_http_proxy_valid_host(&u)) {
            pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                         "invalid host in URL \"%.*s\" made by "
                         "\"proxy_pass\"", PT_STR_ARG(url));
            return PT_HTTP_BAD_GATEWAY;
        }

        name = u.host;

        /* Host as the URL has it: "name", "name:port", "[v6]:port" */
        len = u.host.len + (u.family == AF_INET6 ? 2 : 0)
              + (u.no_port || u.port == port ? 0 : 1 + u.port_text.len);

        p = pt_pnalloc(r->pool, len);
        if (p == NULL) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->host.data = p;
        ctx->host.len = len;

        if (u.family == AF_INET6) {
            *p++ = '[';
        }

        p = pt_cpymem(p, u.host.data, u.host.len);

        if (u.family == AF_INET6) {
            *p++ = ']';
        }

        if (!u.no_port && u.port != port) {
            *p++ = ':';
            p = pt_cpymem(p, u.port_text.data, u.port_text.len);
        }

        if (u.no_port) {
            if (https) {
                pt_str_set(&ctx->port, "443");
            } else {
                pt_str_set(&ctx->port, "80");
            }

        } else {
            ctx->port = u.port_text;
        }

        uscf = pt_http_upstream_find(r, &u);

        if (uscf == NULL) {
            /* an address literal is connected to as it is */
            sa = pt_pcalloc(r->pool, sizeof(pt_sockaddr_t));
            if (sa == NULL) {
                return PT_HTTP_INTERNAL_SERVER_ERROR;
            }

            pt_memcpy(text, u.host.data, pt_min(u.host.len, sizeof(text) - 1));
            text[pt_min(u.host.len, sizeof(text) - 1)] = '\0';

            if (u.host.len < sizeof(text)
                && inet_pton(AF_INET, text, &sa->sockaddr_in.sin_addr) == 1)
            {
                sa->sockaddr_in.sin_family = AF_INET;
                sa->sockaddr_in.sin_port = htons(u.port);
                addr.socklen = sizeof(struct sockaddr_in);

            } else if (u.family == AF_INET6 && u.host.len < sizeof(text)
                       && inet_pton(AF_INET6, text,
                                    &sa->sockaddr_in6.sin6_addr) == 1)
            {
                sa->sockaddr_in6.sin6_family = AF_INET6;
                sa->sockaddr_in6.sin6_port = htons(u.port);
                addr.socklen = sizeof(struct sockaddr_in6);

            } else if (u.family == AF_INET6) {
                pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                             "invalid IPv6 address in URL \"%.*s\" made by "
                             "\"proxy_pass\"", PT_STR_ARG(url));
                return PT_HTTP_BAD_GATEWAY;

            } else {
                clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

                if (pt_http_core_get_resolver(clcf, NULL) == NULL) {
                    pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                                 "no resolver defined to resolve \"%.*s\": "
                                 "a \"proxy_pass\" with variables reaches "
                                 "other host names through the "
                                 "\"resolver\" only", PT_STR_ARG(u.host));
                    return PT_HTTP_BAD_GATEWAY;
                }

                /* looked up when the request goes (pt_http_upstream.c) */
                up = r->upstream;
                up->resolve_host = u.host;
                up->resolve_port = u.port;
                goto resolve;
            }

            addr.sockaddr = &sa->sockaddr;
            addr.name.len = pt_sock_ntop(addr.sockaddr, addr.socklen, ntop,
                                         sizeof(ntop), 1);
            addr.name.data = pt_pnalloc(r->pool, addr.name.len);
            if (addr.name.data == NULL) {
                return PT_HTTP_INTERNAL_SERVER_ERROR;
            }

            pt_memcpy(addr.name.data, ntop, addr.name.len);

            uscf = pt_http_upstream_create_single(r, &u.host, &addr, 1);
        }
    }

    if (uscf == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

resolve:

    if (u.uri.len) {
        /*
         * Sent as it is (nginx's rule), but for the bytes that would break
         * the request line: spaces, controls and 0x7f up, which no valid
         * URI has, are percent-encoded. "?args" alone gets a "/".
         */
        len = (u.uri.data[0] == '?');

        for (p = u.uri.data; p < u.uri.data + u.uri.len; p++) {
            len += (*p <= 0x20 || *p >= 0x7f) ? 3 : 1;
        }

        ctx->uri.data = pt_pnalloc(r->pool, len);
        if (ctx->uri.data == NULL) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->uri.len = len;
        p = ctx->uri.data;

        if (u.uri.data[0] == '?') {
            *p++ = '/';
        }

        for (add = 0; add < u.uri.len; add++) {
            if (u.uri.data[add] <= 0x20 || u.uri.data[add] >= 0x7f) {
                *p++ = '%';
                *p++ = "0123456789ABCDEF"[u.uri.data[add] >> 4];
                *p++ = "0123456789ABCDEF"[u.uri.data[add] & 0xf];

            } else {
                *p++ = u.uri.data[add];
            }
        }
    }

    /* this request's own copy of the location's upstream settings */
    *uc = plcf->upstream;
    uc->upstream = uscf;
    uc->ssl = https ? plcf->upstream.ssl : NULL;

    if (uc->ssl_name.len == 0) {
        uc->ssl_name = name;
    }

    up = r->upstream;
    up->conf = uc;

    return PT_OK;
}


/* Percent-encodes what may not stand in a path sent upstream. */
static size_t
pt_http_proxy_escape_uri(u_char *dst, const u_char *src, size_t size)
{
    size_t         n;
    u_char         c;
    static u_char  hex[] = "0123456789ABCDEF";

    n = 0;

    while (size--) {
        c = *src++;

        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%'
            || c == '?' || c == '<' || c == '>' || c == '\\' || c == '^'
            || c == '`' || c == '{' || c == '|' || c == '}')
        {
            if (dst) {
                *dst++ = '%';
                *dst++ = hex[c >> 4];
                *dst++ = hex[c & 0xf];
            }

            n += 3;
            continue;
        }

        if (dst) {
            *dst++ = c;
        }

        n++;
    }

    return n;
}


/* The URI for the upstream: nginx's rules for proxy_pass with and without a URI. */
static pt_int_t
pt_http_proxy_build_uri(pt_http_request_t *r, pt_http_proxy_loc_conf_t *plcf,
    pt_str_t *uri)
{
    u_char               *p;
    size_t                len, loc_len, rest;
    pt_http_proxy_ctx_t  *ctx;

    ctx = pt_http_get_module_ctx(r, pt_http_proxy_module);

    if (ctx && ctx->uri.len) {
        /* the URI of a proxy_pass with variables goes as it came out */
        *uri = ctx->uri;
        return PT_OK;
    }

    if (!plcf->has_uri) {
        if (!r->internal) {
            *uri = r->unparsed_uri;     /* exactly what the client sent */
            return PT_OK;
        }

        loc_len = 0;

    } else {
        loc_len = plcf->location.len;

        if (r->uri.len < loc_len) {
            loc_len = r->uri.len;
        }
    }

    rest = pt_http_proxy_escape_uri(NULL, r->uri.data + loc_len,
                                    r->uri.len - loc_len);

    len = plcf->uri.len + rest + (r->args.len ? 1 + r->args.len : 0);

    p = pt_pnalloc(r->pool, len);
    if (p == NULL) {
        return PT_ERROR;
    }

    uri->data = p;

    if (plcf->uri.len) {
        p = pt_cpymem(p, plcf->uri.data, plcf->uri.len);
    }

    p += pt_http_proxy_escape_uri(p, r->uri.data + loc_len,
                                  r->uri.len - loc_len);

    if (r->args.len) {
        *p++ = '?';
        p = pt_cpymem(p, r->args.data, r->args.len);
    }

    uri->len = p - uri->data;

    return PT_OK;
}


/* A client header that never goes upstream as it is. */
static pt_uint_t
pt_http_proxy_skip_client_header(pt_http_request_t *r, pt_table_elt_t *h,
    pt_http_proxy_loc_conf_t *plcf)
{
    pt_uint_t                i;
    pt_str_t                 lc;
    pt_http_proxy_header_t  *ph;

    lc.data = h->lowcase_key;
    lc.len = h->key.len;

    /* hop-by-hop, framing, Host and Expect: the proxy sends its own */
    if (pt_http_hop_header(lc.data, lc.len)) {
        return 1;
    }

    /*
     * Headers the client's Connection names are hop-by-hop too; removing
     * them before ours are added means a client cannot strip, say,
     * X-Forwarded-For by naming it there.
     */
    if (pt_http_token_in(r->headers_in.connection, lc.data, lc.len)) {
        return 1;
    }

    ph = plcf->headers->elts;

    for (i = 0; i < plcf->headers->nelts; i++) {
        if (pt_str_caseeq(&ph[i].key, &lc)) {
            return 1;       /* proxy_set_header decides this one */
        }
    }

    return 0;
}


static pt_int_t
pt_http_proxy_create_request(pt_http_request_t *r)
{
    u_char                    *p;
    size_t                     len;
    off_t                      body_len;
    pt_str_t                   method, uri, *values;
    pt_buf_t                  *b;
    uint64_t                   skip[(PT_HTTP_MAX_HEADERS + 63) / 64];
    pt_uint_t                  i, k, n, upgrade;
    pt_chain_t                *cl, *body;
    pt_list_part_t            *part;
    pt_table_elt_t            *h, conn;
    pt_http_upstream_t        *u;
    pt_http_proxy_header_t    *ph;
    pt_http_request_body_t    *rb;
    pt_http_proxy_loc_conf_t  *plcf;

    u = r->upstream;
    plcf = pt_http_get_module_loc_conf(r, pt_http_proxy_module);

    method = plcf->method.len ? plcf->method : r->method_name;

    u->head = (method.len == 4
               && pt_strncasecmp(method.data, (u_char *) "HEAD", 4) == 0);

    if (pt_http_proxy_build_uri(r, plcf, &uri) != PT_OK) {
        return PT_ERROR;
    }

    u->uri = uri;

    /* evaluate proxy_set_header first: the lengths are needed */

    ph = plcf->headers->elts;
    n = plcf->headers->nelts;

    values = pt_pcalloc(r->pool, (n + 1) * sizeof(pt_str_t));
    if (values == NULL) {
        return PT_ERROR;
    }

    len = method.len + 1 + uri.len + sizeof(" HTTP/1.1\r\n") - 1;

    upgrade = 0;

    for (i = 0; i < n; i++) {
        if (pt_http_complex_value(r, &ph[i].value, &values[i]) != PT_OK) {
            return PT_ERROR;
        }

        if (values[i].len == 0) {
            continue;       /* an empty value removes the header */
        }

        if (pt_str_caseeq_lit(&ph[i].key, "upgrade")) {
            upgrade = 1;
        }

        len += ph[i].key.len + 2 + values[i].len + 2;
    }

    if (plcf->http_version == PT_HTTP_VERSION_10) {
        upgrade = 0;
    }

    u->upgrade = upgrade;

    /*
     * The Connection header: keep-alive needs nothing on HTTP/1.1, so it
     * is sent only to close or to upgrade, and only unless configured.
     */
    for (i = 0; i < n; i++) {
        if (pt_str_caseeq_lit(&ph[i].key, "connection")) {
            break;
        }
    }

    if (i == n) {
        len += sizeof("Connection: close\r\n") - 1;
    }

    /* which client headers stay behind, decided once for both passes */
    pt_memzero(skip, sizeof(skip));
    k = 0;

    if (plcf->pass_request_headers) {
        part = &r->headers_in.headers.part;
        h = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }
                part = part->next;
                h = part->elts;
                i = 0;
            }

            /* the parser keeps no more than PT_HTTP_MAX_HEADERS */
            pt_assert(k < PT_HTTP_MAX_HEADERS);

            if (h[i].hash == 0
                || pt_http_proxy_skip_client_header(r, &h[i], plcf))
            {
                skip[k / 64] |= (uint64_t) 1 << (k % 64);
                k++;
                continue;
            }

            k++;
            len += h[i].key.len + 2 + h[i].value.len + 2;
        }
    }

    rb = r->request_body;
    body = NULL;
    body_len = 0;

    u->body_streaming = 0;
    u->body_chunked = 0;

    if (plcf->pass_request_body && rb && rb->unbuffered) {
        if (rb->taken) {
            /* an error_page redirect after the body went on its way */
            pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                         "the request body was passed on as it came and "
                         "cannot be sent again");
            return PT_ERROR;
        }

        /* the body follows the head as it comes (see the upstream) */
        rb->taken = 1;
        u->body_streaming = 1;
        u->body_chunked = r->headers_in.chunked;
        body_len = r->headers_in.chunked ? 0 : r->headers_in.content_length_n;

    } else if (plcf->pass_request_body && rb && rb->bufs) {
        body = rb->bufs;
        body_len = rb->received;
    }

    if (body_len || (r->method & (PT_HTTP_POST | PT_HTTP_PUT | PT_HTTP_PATCH))
        || r->headers_in.content_length_n >= 0 || r->headers_in.chunked)
    {
        len += sizeof("Content-Length: \r\n") - 1 + PT_INT_T_LEN;
    }

    len += 2;

    b = pt_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return PT_ERROR;
    }

    p = b->last;

    p = pt_cpymem(p, method.data, method.len);
    *p++ = ' ';
    p = pt_cpymem(p, uri.data, uri.len);

    if (plcf->http_version == PT_HTTP_VERSION_10) {
        p = pt_cpymem(p, " HTTP/1.0\r\n", sizeof(" HTTP/1.0\r\n") - 1);
    } else {
        p = pt_cpymem(p, " HTTP/1.1\r\n", sizeof(" HTTP/1.1\r\n") - 1);
    }

    for (i = 0; i < n; i++) {
        if (values[i].len == 0) {
            continue;
        }

        if (!upgrade && pt_str_caseeq_lit(&ph[i].key, "upgrade")) {
            continue;
        }

        p = pt_cpymem(p, ph[i].key.data, ph[i].key.len);
        *p++ = ':'; *p++ = ' ';
        p = pt_cpymem(p, values[i].data, values[i].len);
        *p++ = '\r'; *p++ = '\n';
    }

    for (i = 0; i < n; i++) {
        if (pt_str_caseeq_lit(&ph[i].key, "connection")) {
            break;
        }
    }

    u->close_sent = 0;

    if (i == n) {
        /* (a group of a name looked up per request keeps no connections) */
        if (plcf->http_version == PT_HTTP_VERSION_10
            || u->conf->upstream == NULL
            || u->conf->upstream->keepalive == 0)
        {
            p = pt_cpymem(p, "Connection: close\r\n",
                          sizeof("Connection: close\r\n") - 1);
            u->close_sent = 1;
        }

    } else if (values[i].len) {
        /* e.g. $connection_upgrade for a request that is no upgrade */
        h = &conn;
        conn.value = values[i];
        conn.next = NULL;

        u->close_sent = pt_http_token_in(h, (u_char *) "close", 5);
    }

    k = 0;

    if (plcf->pass_request_headers) {
        part = &r->headers_in.headers.part;
        h = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }
                part = part->next;
                h = part->elts;
                i = 0;
            }

            if ((skip[k / 64] >> (k % 64)) & 1) {
                k++;
                continue;
            }

            k++;
            p = pt_cpymem(p, h[i].key.data, h[i].key.len);
            *p++ = ':'; *p++ = ' ';
            p = pt_cpymem(p, h[i].value.data, h[i].value.len);
            *p++ = '\r'; *p++ = '\n';
        }
    }

    if (u->body_chunked) {
        /* (no longer than the Content-Length the size was reserved for) */
        p = pt_cpymem(p, "Transfer-Encoding: chunked\r\n",
                      sizeof("Transfer-Encoding: chunked\r\n") - 1);

    } else if (body_len
               || (r->method & (PT_HTTP_POST | PT_HTTP_PUT | PT_HTTP_PATCH))
               || r->headers_in.content_length_n >= 0
               || r->headers_in.chunked)
    {
        p += snprintf((char *) p, sizeof("Content-Length: \r\n") + PT_INT_T_LEN,
                      "Content-Length: %lld\r\n", (long long) body_len);
    }

    *p++ = '\r'; *p++ = '\n';

    b->last = p;

    pt_assert(b->last <= b->end);

    cl = pt_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return PT_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;
    u->request_bufs = cl;

    /* the body: memory or file buffers, sent as they are on every try */
    for ( /* void */ ; body; body = body->next) {
        pt_buf_t  *bb;

        bb = pt_calloc_buf(r->pool);
        cl->next = pt_alloc_chain_link(r->pool);
        if (bb == NULL || cl->next == NULL) {
            return PT_ERROR;
        }

        *bb = *body->buf;
        bb->last_buf = 0;

        cl = cl->next;
        cl->buf = bb;
        cl->next = NULL;
    }

    return PT_OK;
}


/*
 * The upstream's response head, strictly: a garbage status line, a
 * malformed header, Content-Length and Transfer-Encoding together,
 * differing Content-Lengths, a transfer coding other than chunked, or an
 * unasked-for 101 make it invalid (502). Interim 1xx heads are skipped.
 */
static pt_int_t
pt_http_proxy_process_header(pt_http_request_t *r)
{
    off_t                len;
    pt_int_t             rc;
    pt_str_t             lc;
    pt_uint_t            k;
    pt_table_elt_t      *h;
    pt_http_upstream_t  *u;

    u = r->upstream;

    for ( ;; ) {

        if (u->headers_in.status_n == 0) {
            rc = pt_http_parse_status_line(r, &u->buffer, &u->status);

            if (rc == PT_AGAIN) {
                return PT_AGAIN;
            }

            if (rc != PT_OK) {
                pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                             "upstream sent no valid HTTP/1.x status line");
                return PT_ERROR;
            }

            u->headers_in.status_n = u->status.code;

            if (pt_list_init(&u->headers_in.headers, r->pool, 16,
                             sizeof(pt_table_elt_t)) != PT_OK)
            {
                return PT_ERROR;
            }

            u->headers_in.content_length_n = -1;
            u->headers_in.content_length = NULL;
            u->headers_in.transfer_encoding = NULL;
            u->headers_in.connection = NULL;
            u->headers_in.upgrade = NULL;
            u->headers_in.chunked = 0;
            u->headers_in.connection_close = 0;
            u->headers_in.connection_upgrade = 0;
            u->headers_in.connection_other = 0;
        }

        rc = pt_http_parse_header_line(r, &u->buffer, 1);

        if (rc == PT_AGAIN) {
            return PT_AGAIN;
        }

        if (rc == PT_OK) {
            h = pt_list_push(&u->headers_in.headers);
            if (h == NULL) {
                return PT_ERROR;
            }

            h->hash = r->header_hash;
            h->next = NULL;
            h->key.len = r->header_name_end - r->header_name_start;
            h->value.len = r->header_end - r->header_start;

            /*
             * Name and value stay in the buffer: the upstream keeps the
             * head there for the whole request (pt_http_upstream_keep_head)
             */
            h->key.data = r->header_name_start;
            h->value.data = r->header_start;

            h->lowcase_key = pt_pnalloc(r->pool, h->key.len);
            if (h->lowcase_key == NULL) {
                return PT_ERROR;
            }

            if (h->key.len <= PT_HTTP_LC_HEADER_LEN) {
                /* the parser lowercased it on the way */
                pt_memcpy(h->lowcase_key, r->lowcase_header, h->key.len);
            } else {
                pt_strlow(h->lowcase_key, h->key.data, h->key.len);
            }

            lc.data = h->lowcase_key;
            lc.len = h->key.len;

            if (pt_str_eq_lit(&lc, "content-length")) {
                if (pt_http_parse_content_length(h->value.data, h->value.len,
                                                 &len) != PT_OK
                    || (u->headers_in.content_length
                        && len != u->headers_in.content_length_n))
                {
                    pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                                 "upstream sent invalid or differing "
                                 "\"Content-Length\": \"%.*s\"",
                                 PT_STR_ARG(h->value));
                    return PT_ERROR;
                }

                u->headers_in.content_length = h;
                u->headers_in.content_length_n = len;

            } else if (pt_str_eq_lit(&lc, "transfer-encoding")) {
                if (u->headers_in.transfer_encoding
                    || !pt_str_caseeq_lit(&h->value, "chunked"))
                {
                    pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                                 "upstream sent unsupported "
                                 "\"Transfer-Encoding\": \"%.*s\"",
                                 PT_STR_ARG(h->value));
                    return PT_ERROR;
                }

                u->headers_in.transfer_encoding = h;
                u->headers_in.chunked = 1;

            } else if (pt_str_eq_lit(&lc, "connection")) {
                pt_table_elt_t  **ph;

                for (ph = &u->headers_in.connection; *ph; ph = &(*ph)->next) {
                    /* void */
                }

                *ph = h;

                k = pt_http_connection_tokens(h->value.data, h->value.len);

                if (k & PT_HTTP_CONN_CLOSE) {
                    u->headers_in.connection_close = 1;
                }

                if (k & PT_HTTP_CONN_UPGRADE) {
                    u->headers_in.connection_upgrade = 1;
                }

                if (k & PT_HTTP_CONN_OTHER) {
                    u->headers_in.connection_other = 1;
                }

            } else if (pt_str_eq_lit(&lc, "upgrade")) {
                u->headers_in.upgrade = h;
            }

            continue;
        }

        if (rc != PT_HTTP_PARSE_HEADER_DONE) {
            pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                         "upstream sent invalid header");
            return PT_ERROR;
        }

        /* the head is complete */

        if (u->headers_in.status_n == PT_HTTP_SWITCHING_PROTOCOLS) {
            if (!u->upgrade || u->headers_in.upgrade == NULL) {
                pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                             "upstream sent \"101 Switching Protocols\" to a "
                             "request that did not ask for an upgrade");
                return PT_ERROR;
            }

            u->upgrading = 1;
            u->keepalive = 0;
            r->keepalive = 0;
            return PT_OK;
        }

        if (u->headers_in.status_n < 200) {
            /* interim: skip it and read the next head */
            u->headers_in.status_n = 0;
            continue;
        }

        if (u->headers_in.chunked && u->headers_in.content_length) {
            pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                         "upstream sent both \"Content-Length\" and "
                         "\"Transfer-Encoding\"");
            return PT_ERROR;
        }

        /* a connection we asked to close is not used again either */
        u->keepalive = !u->headers_in.connection_close && !u->close_sent
                       && u->status.http_version >= PT_HTTP_VERSION_11
                       && (u->headers_in.chunked
                           || u->headers_in.content_length
                           || u->head
                           || u->headers_in.status_n == PT_HTTP_NO_CONTENT
                           || u->headers_in.status_n == PT_HTTP_NOT_MODIFIED);

        return PT_OK;
    }
}


/* proxy_redirect and proxy_cookie_*: rewriting response header fields */

/*
 * value with its len bytes from prefix replaced by replacement, in new
 * pool memory: the field the upstream sent stays as it was, for
 * $upstream_http_*.
 */
static pt_int_t
pt_http_proxy_rewrite(pt_http_request_t *r, pt_str_t *value, size_t prefix,
    size_t len, pt_str_t *replacement)
{
    u_char  *p, *data;
    size_t   new_len;

    new_len = value->len - len + replacement->len;

    data = pt_pnalloc(r->pool, new_len ? new_len : 1);
    if (data == NULL) {
        return PT_ERROR;
    }

    p = pt_cpymem(data, value->data, prefix);
    p = pt_cpymem(p, replacement->data, replacement->len);
    pt_memcpy(p, value->data + prefix + len, value->len - prefix - len);

    value->data = data;
    value->len = new_len;

    return PT_OK;
}


/* The text form: the value starts with the pattern (compared exactly). */
static pt_int_t
pt_http_proxy_rewrite_prefix(pt_http_request_t *r, pt_str_t *value,
    size_t prefix, size_t len, pt_http_proxy_rewrite_t *pr)
{
    pt_str_t  pattern, replacement;

    if (pt_http_complex_value(r, &pr->pattern, &pattern) != PT_OK) {
        return PT_ERROR;
    }

    if (pattern.len > len
        || pt_memcmp(value->data + prefix, pattern.data, pattern.len) != 0)
    {
        return PT_DECLINED;
    }

    if (pt_http_complex_value(r, &pr->replacement, &replacement) != PT_OK) {
        return PT_ERROR;
    }

    return pt_http_proxy_rewrite(r, value, prefix, pattern.len, &replacement);
}


/*
 * proxy_cookie_domain's text form: the whole domain, without regard to
 * case or to a leading dot, which stays.
 */
static pt_int_t
pt_http_proxy_rewrite_domain(pt_http_request_t *r, pt_str_t *value,
    size_t prefix, size_t len, pt_http_proxy_rewrite_t *pr)
{
    pt_str_t  pattern, replacement;

    if (pt_http_complex_value(r, &pr->pattern, &pattern) != PT_OK) {
        return PT_ERROR;
    }

    if (len && value->data[prefix] == '.') {
        prefix++;
        len--;
    }

    if (pattern.len && pattern.data[0] == '.') {
        pattern.data++;
        pattern.len--;
    }

    if (pattern.len != len
        || pt_strncasecmp(value->data + prefix, pattern.data, len) != 0)
    {
        return PT_DECLINED;
    }

    if (pt_http_complex_value(r, &pr->replacement, &replacement) != PT_OK) {
        return PT_ERROR;
    }

    if (replacement.len && replacement.data[0] == '.') {
        replacement.data++;
        replacement.len--;
    }

    return pt_http_proxy_rewrite(r, value, prefix, len, &replacement);
}


/*
 * The "~" forms: the regular expression is matched against the whole
 * value, which the replacement then takes the place of. $1..$9 and the
 * named captures of the match are set for the replacement.
 */
static pt_int_t
pt_http_proxy_rewrite_regex(pt_http_request_t *r, pt_str_t *value,
    size_t prefix, size_t len, pt_http_proxy_rewrite_t *pr)
{
    int                       *captures;
    pt_int_t                   rc;
    pt_str_t                   s, replacement;
    pt_uint_t                  i, n, c;
    pt_http_variable_value_t  *vv;
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_get_module_main_conf(r, pt_http_core_module);

    /* room for every group of the pattern and every $N of the server */
    n = (pt_max(pr->regex->captures, cmcf->ncaptures) + 1) * 2;

    captures = pt_palloc(r->pool, n * sizeof(int));
    if (captures == NULL) {
        return PT_ERROR;
    }

    s.data = value->data + prefix;
    s.len = len;

    rc = pt_regex_exec(pr->regex, &s, captures, n);

    if (rc == PT_DECLINED) {
        return PT_DECLINED;
    }

    if (rc == PT_ERROR) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "regex match against \"%.*s\" failed", PT_STR_ARG(s));
        return PT_DECLINED;
    }

    r->captures = captures;
    r->ncaptures = (pt_uint_t) rc;
    r->captures_data = s.data;

    for (i = 0; i < pr->nnamed; i++) {
        c = pr->named[i].capture;
        vv = (pt_http_variable_value_t *) r->variables + pr->named[i].index;

        vv->valid = 1;
        vv->no_cacheable = 0;
        vv->not_found = 0;
        vv->escape = 0;

        if (c < (pt_uint_t) rc && captures[2 * c] >= 0) {
            vv->data = s.data + captures[2 * c];
            vv->len = captures[2 * c + 1] - captures[2 * c];

        } else {
            vv->data = (u_char *) "";
            vv->len = 0;
        }
    }

    if (pt_http_complex_value(r, &pr->replacement, &replacement) != PT_OK) {
        return PT_ERROR;
    }

    return pt_http_proxy_rewrite(r, value, prefix, len, &replacement);
}


/* The first rule of rewrites that matches; PT_DECLINED when none does. */
static pt_int_t
pt_http_proxy_rewrite_value(pt_http_request_t *r, pt_str_t *value,
    size_t prefix, size_t len, pt_array_t *rewrites)
{
    pt_int_t                  rc;
    pt_uint_t                 i;
    pt_http_proxy_rewrite_t  *pr;

    pr = rewrites->elts;

    for (i = 0; i < rewrites->nelts; i++) {
        rc = pr[i].handler(r, value, prefix, len, &pr[i]);

        if (rc != PT_DECLINED) {
            return rc;
        }
    }

    return PT_DECLINED;
}


/*
 * The Domain and Path attributes of a Set-Cookie field (named without
 * regard to case; the cookie's own name=value comes first and is never
 * touched), each rewritten by the first rule that matches it.
 */
static pt_int_t
pt_http_proxy_rewrite_cookie(pt_http_request_t *r, pt_table_elt_t *h,
    pt_http_proxy_loc_conf_t *plcf)
{
    u_char      *v;
    size_t       i, name, name_end, start, end, len;
    pt_int_t     rc;
    pt_str_t     attr;
    pt_array_t  *rewrites;

    v = h->value.data;
    len = h->value.len;

    for (i = 0; i < len && v[i] != ';'; i++) { /* void */ }

    while (i < len) {
        i++;    /* ";" */

        while (i < len && (v[i] == ' ' || v[i] == '\t')) {
            i++;
        }

        name = i;

        while (i < len && v[i] != ';' && v[i] != '=') {
            i++;
        }

        name_end = i;

        while (name_end > name
               && (v[name_end - 1] == ' ' || v[name_end - 1] == '\t'))
        {
            name_end--;
        }

        if (i == len || v[i] == ';') {
            continue;       /* an attribute without a value */
        }

        i++;    /* "=" */

        while (i < len && (v[i] == ' ' || v[i] == '\t')) {
            i++;
        }

        start = i;

        while (i < len && v[i] != ';') {
            i++;
        }

        end = i;

        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) {
            end--;
        }

        attr.data = v + name;
        attr.len = name_end - name;

        if (pt_str_caseeq_lit(&attr, "domain")) {
            rewrites = plcf->cookie_domains;

        } else if (pt_str_caseeq_lit(&attr, "path")) {
            rewrites = plcf->cookie_paths;

        } else {
            rewrites = NULL;
        }

        if (rewrites == NULL) {
            continue;
        }

        rc = pt_http_proxy_rewrite_value(r, &h->value, start, end - start,
                                         rewrites);

        if (rc == PT_ERROR) {
            return PT_ERROR;
        }

        if (rc == PT_OK) {
            /* go on after the new value */
            i = i + h->value.len - len;
            v = h->value.data;
            len = h->value.len;
        }
    }

    return PT_OK;
}


/*
 * The upstream's hook for each header field the client is to get:
 * proxy_redirect for Location and the URL of Refresh, proxy_cookie_* for
 * Set-Cookie.
 */
static pt_int_t
pt_http_proxy_rewrite_header(pt_http_request_t *r, pt_table_elt_t *h)
{
    size_t                     i;
    pt_int_t                   rc;
    pt_str_t                   lc;
    pt_http_proxy_loc_conf_t  *plcf;

    plcf = pt_http_get_module_loc_conf(r, pt_http_proxy_module);

    lc.data = h->lowcase_key;
    lc.len = h->key.len;

    rc = PT_DECLINED;

    if (plcf->redirects && pt_str_eq_lit(&lc, "location")) {
        rc = pt_http_proxy_rewrite_value(r, &h->value, 0, h->value.len,
                                         plcf->redirects);

    } else if (plcf->redirects && pt_str_eq_lit(&lc, "refresh")) {
        /* "5; url=http://..." */
        for (i = 0; i + 4 <= h->value.len; i++) {
            if (pt_strncasecmp(h->value.data + i, (u_char *) "url=", 4) == 0)
            {
                rc = pt_http_proxy_rewrite_value(r, &h->value, i + 4,
                                                 h->value.len - i - 4,
                                                 plcf->redirects);
                break;
            }
        }

    } else if ((plcf->cookie_domains || plcf->cookie_paths)
               && pt_str_eq_lit(&lc, "set-cookie"))
    {
        rc = pt_http_proxy_rewrite_cookie(r, h, plcf);
    }

    return (rc == PT_ERROR) ? PT_ERROR : PT_OK;
}


/* configuration */

static void *
pt_http_proxy_create_loc_conf(pt_conf_t *cf)
{
    pt_http_proxy_loc_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_proxy_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->upstream.connect_timeout = PT_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = PT_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = PT_CONF_UNSET_MSEC;
    conf->upstream.buffer_size = PT_CONF_UNSET_SIZE;
    conf->upstream.next_upstream_tries = PT_CONF_UNSET_UINT;
    conf->upstream.next_upstream_timeout = PT_CONF_UNSET_MSEC;
    conf->upstream.ssl_server_name = PT_CONF_UNSET;
    conf->upstream.ssl_session_reuse = PT_CONF_UNSET;
    conf->ssl_verify = PT_CONF_UNSET;
    conf->ssl_verify_depth = PT_CONF_UNSET;
    conf->upstream.hide_headers = PT_CONF_UNSET_PTR;
    conf->upstream.pass_headers = PT_CONF_UNSET_PTR;
    conf->upstream.buffering = PT_CONF_UNSET;
    conf->upstream.request_buffering = PT_CONF_UNSET;
    conf->upstream.temp_path = PT_CONF_UNSET_PTR;
    conf->busy_buffers_size_conf = PT_CONF_UNSET_SIZE;
    conf->temp_file_write_size_conf = PT_CONF_UNSET_SIZE;
    conf->max_temp_file_size_conf = PT_CONF_UNSET;

    conf->upstream.intercept_errors = PT_CONF_UNSET;

    conf->redirect = PT_CONF_UNSET;
    conf->cookie_domains = PT_CONF_UNSET_PTR;
    conf->cookie_paths = PT_CONF_UNSET_PTR;

    conf->set_headers = PT_CONF_UNSET_PTR;
    conf->http_version = PT_CONF_UNSET_UINT;
    conf->pass_request_headers = PT_CONF_UNSET;
    conf->pass_request_body = PT_CONF_UNSET;

    return conf;
}


static pt_int_t
pt_http_proxy_compile_headers(pt_conf_t *cf, pt_http_proxy_loc_conf_t *conf)
{
    pt_uint_t                         i;
    pt_keyval_t                      *kv;
    pt_http_proxy_header_t           *ph;
    pt_http_compile_complex_value_t   ccv;
    static pt_keyval_t                defaults[8];
    static pt_array_t                 default_array;

    if (conf->set_headers == PT_CONF_UNSET_PTR || conf->set_headers == NULL) {
        if (default_array.nelts == 0) {
            for (i = 0; pt_http_proxy_default_headers[i][0]; i++) {
                defaults[i].key.data = (u_char *)
                                       pt_http_proxy_default_headers[i][0];
                defaults[i].key.len = strlen(
                                      pt_http_proxy_default_headers[i][0]);
                defaults[i].value.data = (u_char *)
                                         pt_http_proxy_default_headers[i][1];
                defaults[i].value.len = strlen(
                                        pt_http_proxy_default_headers[i][1]);
            }

            default_array.elts = defaults;
            default_array.nelts = i;
            default_array.size = sizeof(pt_keyval_t);
        }

        conf->set_headers = &default_array;
    }

    conf->headers = pt_array_create(cf->pool, conf->set_headers->nelts + 1,
                                    sizeof(pt_http_proxy_header_t));
    if (conf->headers == NULL) {
        return PT_ERROR;
    }

    kv = conf->set_headers->elts;

    for (i = 0; i < conf->set_headers->nelts; i++) {

        ph = pt_array_push(conf->headers);
        if (ph == NULL) {
            return PT_ERROR;
        }

        ph->key = kv[i].key;

        pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &kv[i].value;
        ccv.complex_value = &ph->value;

        if (pt_http_compile_complex_value(&ccv) != PT_OK) {
            return PT_ERROR;
        }
    }

    /* a Host of our own is always sent */
    for (i = 0; i < conf->set_headers->nelts; i++) {
        if (pt_str_caseeq_lit(&kv[i].key, "host")) {
            return PT_OK;
        }
    }

    ph = pt_array_push(conf->headers);
    if (ph == NULL) {
        return PT_ERROR;
    }

    pt_str_set(&ph->key, "Host");

    pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = pt_palloc(cf->pool, sizeof(pt_str_t));
    if (ccv.value == NULL) {
        return PT_ERROR;
    }

    pt_str_set(ccv.value, "$proxy_host");
    ccv.complex_value = &ph->value;

    return pt_http_compile_complex_value(&ccv);
}


static char *
pt_http_proxy_merge_loc_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_proxy_loc_conf_t  *prev = parent;
    pt_http_proxy_loc_conf_t  *conf = child;

    pt_str_t                 *h, name;
    pt_uint_t                 i, j;
    pt_array_t               *hide;
    pt_http_proxy_rewrite_t  *pr;

    pt_conf_merge_msec_value(conf->upstream.connect_timeout,
                             prev->upstream.connect_timeout, 60000);
    pt_conf_merge_msec_value(conf->upstream.send_timeout,
                             prev->upstream.send_timeout, 60000);
    pt_conf_merge_msec_value(conf->upstream.read_timeout,
                             prev->upstream.read_timeout, 60000);
    if (pt_http_proxy_merge_buffers(cf, prev, conf) != PT_CONF_OK) {
        return PT_CONF_ERROR;
    }

    pt_conf_merge_bitmask_value(conf->upstream.next_upstream,
                                prev->upstream.next_upstream,
                                (PT_CONF_BITMASK_SET
                                 | PT_HTTP_UPSTREAM_FT_ERROR
                                 | PT_HTTP_UPSTREAM_FT_TIMEOUT));

    if (conf->upstream.next_upstream & PT_HTTP_UPSTREAM_FT_OFF) {
        conf->upstream.next_upstream = PT_CONF_BITMASK_SET
                                       | PT_HTTP_UPSTREAM_FT_OFF;
    }

    pt_conf_merge_uint_value(conf->upstream.next_upstream_tries,
                             prev->upstream.next_upstream_tries, 0);
    pt_conf_merge_msec_value(conf->upstream.next_upstream_timeout,
                             prev->upstream.next_upstream_timeout, 0);

    pt_conf_merge_ptr_value(conf->set_headers, prev->set_headers, NULL);
    pt_conf_merge_uint_value(conf->http_version, prev->http_version,
                             PT_HTTP_VERSION_11);
    pt_conf_merge_value(conf->pass_request_headers,
                        prev->pass_request_headers, 1);
    pt_conf_merge_value(conf->pass_request_body, prev->pass_request_body, 1);
    pt_conf_merge_str_value(conf->method, prev->method, "");

    pt_conf_merge_bitmask_value(conf->ssl_protocols, prev->ssl_protocols,
                                (PT_CONF_BITMASK_SET | PT_SSL_TLSv1_2
                                 | PT_SSL_TLSv1_3));
    pt_conf_merge_arg_value(conf->ssl_ciphers, prev->ssl_ciphers, "DEFAULT");
    pt_conf_merge_value(conf->ssl_verify, prev->ssl_verify, 0);
    pt_conf_merge_value(conf->ssl_verify_depth, prev->ssl_verify_depth, 1);
    pt_conf_merge_arg_value(conf->ssl_trusted_certificate,
                            prev->ssl_trusted_certificate, "");
    pt_conf_merge_arg_value(conf->ssl_certificate, prev->ssl_certificate, "");
    pt_conf_merge_arg_value(conf->ssl_certificate_key,
                            prev->ssl_certificate_key, "");
    pt_conf_merge_value(conf->upstream.ssl_server_name,
                        prev->upstream.ssl_server_name, 0);
    pt_conf_merge_value(conf->upstream.ssl_session_reuse,
                        prev->upstream.ssl_session_reuse, 1);

    pt_conf_merge_value(conf->upstream.intercept_errors,
                        prev->upstream.intercept_errors, 0);
    pt_conf_merge_bitmask_value(conf->upstream.ignore_headers,
                                prev->upstream.ignore_headers,
                                PT_CONF_BITMASK_SET);

    /* before a location's proxy_pass is inherited by those it holds */
    pt_conf_merge_value(conf->redirect, prev->redirect, 1);

    if (!conf->redirect) {
        conf->redirects = NULL;

    } else {
        if (conf->redirects == NULL) {
            conf->redirects = prev->redirects;
        }

        if (conf->redirects == NULL && conf->url.data) {
            /* "proxy_redirect default" */
            conf->redirects = pt_array_create(cf->pool, 1,
                                             sizeof(pt_http_proxy_rewrite_t));
            if (conf->redirects == NULL) {
                return PT_CONF_ERROR;
            }

            pr = pt_array_push(conf->redirects);
            if (pr == NULL
                || pt_http_proxy_redirect_default(cf, conf, pr) != PT_OK)
            {
                return PT_CONF_ERROR;
            }
        }
    }

    pt_conf_merge_ptr_value(conf->cookie_domains, prev->cookie_domains, NULL);
    pt_conf_merge_ptr_value(conf->cookie_paths, prev->cookie_paths, NULL);

    if (conf->upstream.upstream == NULL && conf->url_cv == NULL) {
        conf->upstream.upstream = prev->upstream.upstream;
        conf->upstream.ssl = prev->upstream.ssl;
        conf->url_cv = prev->url_cv;
        conf->url = prev->url;
        conf->host = prev->host;
        conf->port = prev->port;
        conf->uri = prev->uri;
        conf->has_uri = prev->has_uri;

    } else if (conf->https && pt_http_proxy_set_ssl(cf, conf) != PT_OK) {
        return PT_CONF_ERROR;
    }

    if (conf->upstream.ssl_name.data == NULL) {
        pt_conf_merge_str_value(conf->upstream.ssl_name,
                                prev->upstream.ssl_name, "");

        if (conf->upstream.ssl_name.len == 0 && conf->host.len) {
            /* the host of proxy_pass, without a port */
            conf->upstream.ssl_name = conf->host;

            if (conf->host.data[0] == '[') {
                u_char  *e;

                e = pt_strlchr(conf->host.data, conf->host.data
                               + conf->host.len, ']');
                if (e) {
                    conf->upstream.ssl_name.data = conf->host.data + 1;
                    conf->upstream.ssl_name.len = e - conf->host.data - 1;
                }

            } else {
                u_char  *colon;

                colon = pt_strlchr(conf->host.data,
                                   conf->host.data + conf->host.len, ':');
                if (colon) {
                    conf->upstream.ssl_name.len = colon - conf->host.data;
                }
            }
        }
    }

    /* hidden headers: the defaults and proxy_hide_header, less proxy_pass_header */
    pt_conf_merge_ptr_value(conf->upstream.hide_headers,
                            prev->upstream.hide_headers, NULL);
    pt_conf_merge_ptr_value(conf->upstream.pass_headers,
                            prev->upstream.pass_headers, NULL);

    hide = pt_array_create(cf->pool, 16, sizeof(pt_str_t));
    if (hide == NULL) {
        return PT_CONF_ERROR;
    }

    for (i = 0; pt_http_proxy_hide_defaults[i]; i++) {
        name.data = (u_char *) pt_http_proxy_hide_defaults[i];
        name.len = strlen(pt_http_proxy_hide_defaults[i]);

        h = pt_array_push(hide);
        if (h == NULL) {
            return PT_CONF_ERROR;
        }

        *h = name;
    }

    if (conf->upstream.hide_headers) {
        h = conf->upstream.hide_headers->elts;

        for (i = 0; i < conf->upstream.hide_headers->nelts; i++) {
            pt_str_t  *nh = pt_array_push(hide);

            if (nh == NULL) {
                return PT_CONF_ERROR;
            }

            *nh = h[i];
        }
    }

    if (conf->upstream.pass_headers) {
        h = conf->upstream.pass_headers->elts;

        for (i = 0; i < conf->upstream.pass_headers->nelts; i++) {
            pt_str_t  *hh = hide->elts;

            for (j = 0; j < hide->nelts; j++) {
                if (pt_str_eq(&hh[j], &h[i])) {
                    hh[j].len = 0;      /* never matches a real name */
                }
            }
        }
    }

    /* keep the merged list where the upstream looks */
    conf->upstream.hide_headers = hide;

    if (pt_http_upstream_hide_headers_hash(cf, &conf->upstream) != PT_OK) {
        return PT_CONF_ERROR;
    }

    if (pt_http_proxy_compile_headers(cf, conf) != PT_OK) {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


/* A buffer directive, by its generic setter; its place is kept for errors. */
static char *
pt_http_proxy_buffer_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_proxy_loc_conf_t  *plcf = conf;

    char                           *rv;
    pt_command_t                    generic;
    pt_http_proxy_where_t          *w;
    pt_http_proxy_buffer_setter_t  *setter;

    setter = cmd->post;

    generic = *cmd;
    generic.post = NULL;

    rv = setter->set(cf, &generic, conf);

    if (rv == PT_CONF_OK && cf->conf_file) {
        w = &plcf->where[setter->index];
        w->file = cf->conf_file->name.data;
        w->line = cf->conf_file->line;
    }

    return rv;
}


/*
 * "[emerg] MESSAGE in FILE:LINE" naming where the directive it is about
 * was set (or the other buffer directives, or where parsing is, when the
 * value is a default).
 */
static void
pt_http_proxy_buffer_error(pt_conf_t *cf, pt_http_proxy_loc_conf_t *conf,
    pt_uint_t index, const char *message)
{
    pt_http_proxy_where_t  *w;

    w = &conf->where[index];

    if (w->line == 0) {
        w = &conf->where[PT_HTTP_PROXY_BUFFERS];
    }

    if (w->line == 0) {
        w = &conf->where[PT_HTTP_PROXY_BUFFER_SIZE];
    }

    if (w->line == 0) {
        pt_conf_error(cf, "%s", message);
        return;
    }

    pt_log_error(PT_LOG_EMERG, cf->log, 0, "%s in %s:%lu", message,
                 (char *) w->file, (unsigned long) w->line);
}


/*
 * proxy_buffer_size, proxy_buffers, proxy_busy_buffers_size,
 * proxy_temp_file_write_size, proxy_max_temp_file_size and the temp path,
 * with nginx's defaults (two buffers' worth for the busy and write sizes)
 * and nginx's checks of how they fit together.
 */
static char *
pt_http_proxy_merge_buffers(pt_conf_t *cf, pt_http_proxy_loc_conf_t *prev,
    pt_http_proxy_loc_conf_t *conf)
{
    size_t      size;
    pt_uint_t   i;

    for (i = 0; i < PT_HTTP_PROXY_NBUFFER_DIRECTIVES; i++) {
        if (conf->where[i].line == 0) {
            conf->where[i] = prev->where[i];
        }
    }

    pt_conf_merge_size_value(conf->upstream.buffer_size,
                             prev->upstream.buffer_size, 16384);

    if (conf->upstream.buffer_size < 1024) {
        pt_http_proxy_buffer_error(cf, conf, PT_HTTP_PROXY_BUFFER_SIZE,
                                   "\"proxy_buffer_size\" must be at least 1k");
        return PT_CONF_ERROR;
    }

    pt_conf_merge_value(conf->upstream.buffering, prev->upstream.buffering,
                        1);
    pt_conf_merge_value(conf->upstream.request_buffering,
                        prev->upstream.request_buffering, 1);
    pt_conf_merge_bufs_value(conf->upstream.bufs, prev->upstream.bufs,
                             8, 8192);

    if (conf->upstream.bufs.num < 2) {
        pt_http_proxy_buffer_error(cf, conf, PT_HTTP_PROXY_BUFFERS,
                                   "there must be at least 2 "
                                   "\"proxy_buffers\"");
        return PT_CONF_ERROR;
    }

    size = pt_max(conf->upstream.buffer_size, conf->upstream.bufs.size);

    pt_conf_merge_size_value(conf->busy_buffers_size_conf,
                             prev->busy_buffers_size_conf,
                             PT_CONF_UNSET_SIZE);

    conf->upstream.busy_buffers_size =
        (conf->busy_buffers_size_conf == PT_CONF_UNSET_SIZE)
        ? 2 * size : conf->busy_buffers_size_conf;

    if (conf->upstream.busy_buffers_size < size) {
        pt_http_proxy_buffer_error(cf, conf, PT_HTTP_PROXY_BUSY_BUFFERS_SIZE,
            "\"proxy_busy_buffers_size\" must be equal to or greater than "
            "the maximum of the value of \"proxy_buffer_size\" and one of "
            "the \"proxy_buffers\"");
        return PT_CONF_ERROR;
    }

    if (conf->upstream.busy_buffers_size
        > (size_t) (conf->upstream.bufs.num - 1) * conf->upstream.bufs.size)
    {
        pt_http_proxy_buffer_error(cf, conf, PT_HTTP_PROXY_BUSY_BUFFERS_SIZE,
            "\"proxy_busy_buffers_size\" must be less than the size of all "
            "\"proxy_buffers\" minus one buffer");
        return PT_CONF_ERROR;
    }

    pt_conf_merge_size_value(conf->temp_file_write_size_conf,
                             prev->temp_file_write_size_conf,
                             PT_CONF_UNSET_SIZE);

    conf->upstream.temp_file_write_size =
        (conf->temp_file_write_size_conf == PT_CONF_UNSET_SIZE)
        ? 2 * size : conf->temp_file_write_size_conf;

    if (conf->upstream.temp_file_write_size < size) {
        pt_http_proxy_buffer_error(cf, conf,
            PT_HTTP_PROXY_TEMP_FILE_WRITE_SIZE,
            "\"proxy_temp_file_write_size\" must be equal to or greater "
            "than the maximum of the value of \"proxy_buffer_size\" and "
            "one of the \"proxy_buffers\"");
        return PT_CONF_ERROR;
    }

    pt_conf_merge_off_value(conf->max_temp_file_size_conf,
                            prev->max_temp_file_size_conf, PT_CONF_UNSET);

    conf->upstream.max_temp_file_size =
        (conf->max_temp_file_size_conf == PT_CONF_UNSET)
        ? 1024 * 1024 * 1024 : conf->max_temp_file_size_conf;

    if (conf->upstream.max_temp_file_size != 0
        && conf->upstream.max_temp_file_size < (off_t) size)
    {
        pt_http_proxy_buffer_error(cf, conf, PT_HTTP_PROXY_MAX_TEMP_FILE_SIZE,
            "\"proxy_max_temp_file_size\" must be equal to zero to disable "
            "temporary files usage or must be equal to or greater than the "
            "maximum of the value of \"proxy_buffer_size\" and one of the "
            "\"proxy_buffers\"");
        return PT_CONF_ERROR;
    }

    if (pt_http_upstream_merge_temp_path(cf, &conf->upstream.temp_path,
                                         &prev->upstream.temp_path,
                                         PT_HTTP_TEMP_PATH "/proxy")
        != PT_OK)
    {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


static char *
pt_http_proxy_hide_header(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char  *p = conf;

    pt_str_t     *value, *h;
    pt_array_t  **a;

    a = (pt_array_t **) (p + cmd->offset);

    if (*a == PT_CONF_UNSET_PTR || *a == NULL) {
        *a = pt_array_create(cf->pool, 4, sizeof(pt_str_t));
        if (*a == NULL) {
            return PT_CONF_ERROR;
        }
    }

    h = pt_array_push(*a);
    if (h == NULL) {
        return PT_CONF_ERROR;
    }

    value = cf->args->elts;

    h->len = value[1].len;
    h->data = pt_pnalloc(cf->pool, h->len);
    if (h->data == NULL) {
        return PT_CONF_ERROR;
    }

    pt_strlow(h->data, value[1].data, h->len);

    return PT_CONF_OK;
}


/* A client context for proxy_pass https://, from this location's settings. */
static pt_int_t
pt_http_proxy_set_ssl(pt_conf_t *cf, pt_http_proxy_loc_conf_t *conf)
{
    pt_conf_file_t        where, *saved;
    pt_ssl_client_conf_t  scc;

    if (conf->ssl_certificate.value.len
        && conf->ssl_certificate_key.value.len == 0)
    {
        saved = cf->conf_file;
        pt_conf_arg_at(cf, &conf->ssl_certificate, &where);
        pt_conf_error(cf, "no \"proxy_ssl_certificate_key\" is defined "
                      "for certificate \"%.*s\"",
                      PT_STR_ARG(conf->ssl_certificate.value));
        cf->conf_file = saved;
        return PT_ERROR;
    }

    scc.protocols = conf->ssl_protocols;
    scc.ciphers = conf->ssl_ciphers;
    scc.verify = conf->ssl_verify;
    scc.verify_depth = conf->ssl_verify_depth;
    scc.trusted_certificate = conf->ssl_trusted_certificate;
    scc.certificate = conf->ssl_certificate;
    scc.certificate_key = conf->ssl_certificate_key;

    if (pt_ssl_client_context(cf, &conf->ssl, &scc) != PT_OK) {
        return PT_ERROR;
    }

    conf->upstream.ssl = &conf->ssl;

    return PT_OK;
}


static char *
pt_http_proxy_ssl_name(pt_conf_t *cf, void *post, void *data)
{
    pt_str_t  *name = data;

    if (pt_strlchr(name->data, name->data + name->len, '$')) {
        pt_conf_error(cf, "variables in \"proxy_ssl_name\" are not "
                      "supported yet: \"%.*s\"", PT_STR_ARG(*name));
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


/* A named capture's variable has a value only once its pattern matched. */
static pt_int_t
pt_http_proxy_capture_variable(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    v->not_found = 1;

    return PT_OK;
}


/*
 * The "~" form of a rule: the pattern compiled, and a variable declared
 * for each of its named captures.
 */
static pt_int_t
pt_http_proxy_rewrite_regex_compile(pt_conf_t *cf,
    pt_http_proxy_rewrite_t *pr, pt_str_t *pattern, pt_uint_t caseless)
{
    u_char              *entry;
    pt_int_t             index;
    pt_str_t             name;
    pt_uint_t            i;
    pt_regex_compile_t   rc;
    pt_http_variable_t  *v;

    pt_memzero(&rc, sizeof(pt_regex_compile_t));
    rc.pattern = *pattern;
    rc.pool = cf->pool;
    rc.caseless = caseless;

    if (pt_regex_compile(&rc) != PT_OK) {
        pt_conf_error(cf, "%s", rc.err);
        return PT_ERROR;
    }

    pr->regex = rc.regex;
    pr->handler = pt_http_proxy_rewrite_regex;

    if (rc.regex->named_captures == 0) {
        return PT_OK;
    }

    pr->named = pt_palloc(cf->pool, rc.regex->named_captures
                                    * sizeof(pt_http_proxy_named_capture_t));
    if (pr->named == NULL) {
        return PT_ERROR;
    }

    for (i = 0; i < rc.regex->named_captures; i++) {
        /* PCRE2's table: the group's number in two bytes, then the name */
        entry = rc.regex->names + i * rc.regex->name_size;

        name.data = entry + 2;
        name.len = pt_strlen(name.data);

        v = pt_http_add_variable(cf, &name, PT_HTTP_VAR_CHANGEABLE);
        if (v == NULL) {
            return PT_ERROR;
        }

        if (v->get_handler == NULL) {
            v->get_handler = pt_http_proxy_capture_variable;
        }

        index = pt_http_get_variable_index(cf, &name);
        if (index == PT_ERROR) {
            return PT_ERROR;
        }

        pr->named[i].capture = (entry[0] << 8) | entry[1];
        pr->named[i].index = (pt_uint_t) index;
    }

    pr->nnamed = rc.regex->named_captures;

    return PT_OK;
}


/*
 * The FROM of a rule: "~regex" (case-sensitive unless caseless), "~*regex"
 * (without regard to case), or text with variables for handler.
 */
static pt_int_t
pt_http_proxy_rewrite_pattern(pt_conf_t *cf, pt_http_proxy_rewrite_t *pr,
    pt_str_t *value, pt_uint_t caseless, pt_http_proxy_rewrite_pt handler)
{
    pt_str_t                          pattern;
    pt_http_compile_complex_value_t   ccv;

    if (value->len && value->data[0] == '~') {
        pattern.data = value->data + 1;
        pattern.len = value->len - 1;

        if (pattern.len && pattern.data[0] == '*') {
            pattern.data++;
            pattern.len--;
            caseless = 1;
        }

        return pt_http_proxy_rewrite_regex_compile(cf, pr, &pattern,
                                                   caseless);
    }

    pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = &pr->pattern;

    if (pt_http_compile_complex_value(&ccv) != PT_OK) {
        return PT_ERROR;
    }

    pr->handler = handler;

    return PT_OK;
}


static pt_int_t
pt_http_proxy_rewrite_replacement(pt_conf_t *cf, pt_http_proxy_rewrite_t *pr,
    pt_str_t *value)
{
    pt_http_compile_complex_value_t  ccv;

    pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = &pr->replacement;

    return pt_http_compile_complex_value(&ccv);
}


/* "proxy_redirect default": the URL of proxy_pass becomes the location. */
static pt_int_t
pt_http_proxy_redirect_default(pt_conf_t *cf, pt_http_proxy_loc_conf_t *plcf,
    pt_http_proxy_rewrite_t *pr)
{
    u_char  *p;

    pt_memzero(pr, sizeof(pt_http_proxy_rewrite_t));
    pr->handler = pt_http_proxy_rewrite_prefix;

    if (plcf->has_uri) {
        pr->pattern.value = plcf->url;
        pr->replacement.value = plcf->location;
        return PT_OK;
    }

    /* "http://host:port" + "/" becomes "/" */
    p = pt_pnalloc(cf->pool, plcf->url.len + 1);
    if (p == NULL) {
        return PT_ERROR;
    }

    pr->pattern.value.data = p;
    pr->pattern.value.len = plcf->url.len + 1;

    p = pt_cpymem(p, plcf->url.data, plcf->url.len);
    *p = '/';

    pt_str_set(&pr->replacement.value, "/");

    return PT_OK;
}


/* proxy_redirect default | off | FROM TO */
static char *
pt_http_proxy_redirect(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_proxy_loc_conf_t  *plcf = conf;

    pt_str_t                 *value;
    pt_http_proxy_rewrite_t  *pr;

    value = cf->args->elts;

    if (plcf->redirect == 0) {
        /* nginx's rule: "off" wins over the whole level */
        pt_conf_log_error(PT_LOG_WARN, cf, 0, "\"proxy_redirect\" is "
                          "ignored after \"proxy_redirect off\" on the same "
                          "level");
        return PT_CONF_OK;
    }

    if (cf->args->nelts == 2) {
        if (pt_str_eq_lit(&value[1], "off")) {
            if (plcf->redirects) {
                pt_conf_log_error(PT_LOG_WARN, cf, 0, "\"proxy_redirect off\" "
                                  "cancels the \"proxy_redirect\" directives "
                                  "before it on the same level");
            }

            plcf->redirect = 0;
            plcf->redirects = NULL;
            return PT_CONF_OK;
        }

        if (!pt_str_eq_lit(&value[1], "default")) {
            pt_conf_error(cf, "invalid parameter \"%.*s\"",
                          PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }

        if (plcf->url_cv) {
            pt_conf_error(cf, "\"proxy_redirect default\" cannot be used "
                          "with a \"proxy_pass\" with variables");
            return PT_CONF_ERROR;
        }

        if (plcf->url.data == NULL) {
            pt_conf_error(cf, "\"proxy_redirect default\" must come after "
                          "\"proxy_pass\" in the same location");
            return PT_CONF_ERROR;
        }
    }

    plcf->redirect = 1;

    if (plcf->redirects == NULL) {
        plcf->redirects = pt_array_create(cf->pool, 2,
                                          sizeof(pt_http_proxy_rewrite_t));
        if (plcf->redirects == NULL) {
            return PT_CONF_ERROR;
        }
    }

    pr = pt_array_push(plcf->redirects);
    if (pr == NULL) {
        return PT_CONF_ERROR;
    }

    pt_memzero(pr, sizeof(pt_http_proxy_rewrite_t));

    if (cf->args->nelts == 2) {
        if (pt_http_proxy_redirect_default(cf, plcf, pr) != PT_OK) {
            return PT_CONF_ERROR;
        }

        return PT_CONF_OK;
    }

    if (pt_http_proxy_rewrite_pattern(cf, pr, &value[1], 0,
                                      pt_http_proxy_rewrite_prefix)
        != PT_OK
        || pt_http_proxy_rewrite_replacement(cf, pr, &value[2]) != PT_OK)
    {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


/* proxy_cookie_domain and proxy_cookie_path: off | FROM TO */
static char *
pt_http_proxy_cookie_rule(pt_conf_t *cf, pt_command_t *cmd,
    pt_array_t **rules, pt_uint_t caseless, pt_http_proxy_rewrite_pt handler)
{
    pt_str_t                 *value;
    pt_http_proxy_rewrite_t  *pr;

    value = cf->args->elts;

    if (*rules == NULL) {
        pt_conf_log_error(PT_LOG_WARN, cf, 0, "\"%.*s\" is ignored after "
                          "\"%.*s off\" on the same level",
                          PT_STR_ARG(cmd->name), PT_STR_ARG(cmd->name));
        return PT_CONF_OK;
    }

    if (cf->args->nelts == 2) {
        if (!pt_str_eq_lit(&value[1], "off")) {
            pt_conf_error(cf, "invalid parameter \"%.*s\"",
                          PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }

        if (*rules != PT_CONF_UNSET_PTR) {
            pt_conf_log_error(PT_LOG_WARN, cf, 0, "\"%.*s off\" cancels the "
                              "\"%.*s\" directives before it on the same "
                              "level", PT_STR_ARG(cmd->name),
                              PT_STR_ARG(cmd->name));
        }

        *rules = NULL;
        return PT_CONF_OK;
    }

    if (*rules == PT_CONF_UNSET_PTR) {
        *rules = pt_array_create(cf->pool, 2, sizeof(pt_http_proxy_rewrite_t));
        if (*rules == NULL) {
            return PT_CONF_ERROR;
        }
    }

    pr = pt_array_push(*rules);
    if (pr == NULL) {
        return PT_CONF_ERROR;
    }

    pt_memzero(pr, sizeof(pt_http_proxy_rewrite_t));

    if (pt_http_proxy_rewrite_pattern(cf, pr, &value[1], caseless, handler)
        != PT_OK
        || pt_http_proxy_rewrite_replacement(cf, pr, &value[2]) != PT_OK)
    {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


static char *
pt_http_proxy_cookie_domain(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_proxy_loc_conf_t  *plcf = conf;

    /* domains are compared without regard to case, "~" included */
    return pt_http_proxy_cookie_rule(cf, cmd, &plcf->cookie_domains, 1,
                                     pt_http_proxy_rewrite_domain);
}


static char *
pt_http_proxy_cookie_path(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_proxy_loc_conf_t  *plcf = conf;

    return pt_http_proxy_cookie_rule(cf, cmd, &plcf->cookie_paths, 0,
                                     pt_http_proxy_rewrite_prefix);
}


/* proxy_pass with variables: compiled now, made into a URL per request */
static char *
pt_http_proxy_pass_variables(pt_conf_t *cf, pt_http_proxy_loc_conf_t *plcf,
    pt_str_t *url)
{
    size_t                            n;
    pt_uint_t                         http, https;
    pt_http_core_loc_conf_t          *clcf;
    pt_http_compile_complex_value_t   ccv;

    /* what comes before the first variable must be, or begin, a scheme */
    n = pt_strlchr(url->data, url->data + url->len, '$') - url->data;

    http = (pt_strncasecmp(url->data, (u_char *) "http://", pt_min(n, 7))
            == 0);
    https = (pt_strncasecmp(url->data, (u_char *) "https://", pt_min(n, 8))
             == 0);

    if (!http && !https) {
        pt_conf_error(cf, "invalid URL prefix in \"%.*s\"", PT_STR_ARG(*url));
        return PT_CONF_ERROR;
    }

    /* a scheme still to come from a variable may be https */
    plcf->https = https;

    plcf->url_cv = pt_palloc(cf->pool, sizeof(pt_http_complex_value_t));
    if (plcf->url_cv == NULL) {
        return PT_CONF_ERROR;
    }

    pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = url;
    ccv.complex_value = plcf->url_cv;

    if (pt_http_compile_complex_value(&ccv) != PT_OK) {
        return PT_CONF_ERROR;
    }

    clcf = pt_http_conf_get_module_loc_conf(cf, pt_http_core_module);

    clcf->handler = pt_http_proxy_handler;

    return PT_CONF_OK;
}


/* proxy_pass http://HOST[:PORT][/URI] | http://unix:/PATH:[/URI] | http://UPSTREAM */
static char *
pt_http_proxy_pass(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_proxy_loc_conf_t  *plcf = conf;

    size_t                     add;
    pt_str_t                  *value, url;
    pt_url_t                   u;
    pt_http_core_loc_conf_t   *clcf;

    if (plcf->upstream.upstream || plcf->url_cv) {
        return "is duplicate";
    }

    value = cf->args->elts;
    url = value[1];

    if (pt_strlchr(url.data, url.data + url.len, '$')) {
        return pt_http_proxy_pass_variables(cf, plcf, &url);
    }

    if (url.len > 7 && pt_strncasecmp(url.data, (u_char *) "http://", 7) == 0)
    {
        add = 7;

    } else if (url.len > 8
               && pt_strncasecmp(url.data, (u_char *) "https://", 8) == 0)
    {
        add = 8;
        plcf->https = 1;

    } else {
        pt_conf_error(cf, "invalid URL prefix in \"%.*s\"", PT_STR_ARG(url));
        return PT_CONF_ERROR;
    }

    pt_memzero(&u, sizeof(pt_url_t));

    u.url.data = url.data + add;
    u.url.len = url.len - add;
    u.default_port = plcf->https ? 443 : 80;
    u.uri_part = 1;
    u.no_resolve = 1;

    if (pt_parse_url(cf->pool, &u) != PT_OK) {
        if (u.err) {
            pt_conf_error(cf, "%s in \"%.*s\"", u.err, PT_STR_ARG(url));
        }

        return PT_CONF_ERROR;
    }

    if (u.family == AF_UNIX) {
        /* the address is known outright */
        u.no_resolve = 0;
        u.uri.len = 0;
        u.uri.data = NULL;

        pt_memzero(&u, sizeof(pt_url_t));
        u.url.data = url.data + add;
        u.url.len = url.len - add;
        u.uri_part = 1;

        if (pt_parse_url(cf->pool, &u) != PT_OK) {
            pt_conf_error(cf, "%s in \"%.*s\"", u.err, PT_STR_ARG(url));
            return PT_CONF_ERROR;
        }

        pt_str_set(&plcf->host, "localhost");

    } else {
        struct in6_addr  a6;
        struct in_addr   a4;
        char            *host;

        /* an address literal needs no upstream block nor resolving later */
        host = pt_str_to_cstr(cf->pool, &u.host);
        if (host == NULL) {
            return PT_CONF_ERROR;
        }

        if (inet_pton(AF_INET, host, &a4) == 1
            || inet_pton(AF_INET6, host, &a6) == 1)
        {
            if (pt_inet_resolve_host(cf->pool, &u) != PT_OK) {
                pt_conf_error(cf, "%s in \"%.*s\"", u.err, PT_STR_ARG(url));
                return PT_CONF_ERROR;
            }
        }

        plcf->host.len = u.host.len + (u.no_port ? 0 : 1 + u.port_text.len)
                         + (u.family == AF_INET6 ? 2 : 0);
        plcf->host.data = pt_pnalloc(cf->pool, plcf->host.len);
        if (plcf->host.data == NULL) {
            return PT_CONF_ERROR;
        }

        /* Host as the URL wrote it: "name", "name:port", "[v6]:port" */
        plcf->host.data = (u_char *) pt_psprintf(cf->pool, &plcf->host.len,
                              "%s%.*s%s%s%.*s",
                              u.family == AF_INET6 ? "[" : "",
                              PT_STR_ARG(u.host),
                              u.family == AF_INET6 ? "]" : "",
                              u.no_port ? "" : ":",
                              (int) (u.no_port ? 0 : u.port_text.len),
                              u.no_port ? "" : (char *) u.port_text.data);
        if (plcf->host.data == NULL) {
            return PT_CONF_ERROR;
        }
    }

    if (u.no_port) {
        pt_str_set(&plcf->port, "80");
    } else {
        plcf->port = u.port_text;
    }

    if (u.no_port) {
        u.port = 80;
    }

    plcf->upstream.upstream = pt_http_upstream_add(cf, &u, 1);
    if (plcf->upstream.upstream == NULL) {
        return PT_CONF_ERROR;
    }

    plcf->url = url;

    clcf = pt_http_conf_get_module_loc_conf(cf, pt_http_core_module);

    clcf->handler = pt_http_proxy_handler;

    if (u.uri.len) {
        if (clcf->regex || clcf->named) {
            pt_conf_error(cf, "\"proxy_pass\" cannot have a URI part in a "
                          "location given by a regular expression or a "
                          "name");
            return PT_CONF_ERROR;
        }

        plcf->has_uri = 1;
        plcf->uri = u.uri;
        plcf->location = clcf->name;
    }

    return PT_CONF_OK;
}


/* variables */

static pt_int_t
pt_http_proxy_host_variable(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    pt_str_t                  *s;
    pt_http_proxy_ctx_t       *ctx;
    pt_http_proxy_loc_conf_t  *plcf;

    plcf = pt_http_get_module_loc_conf(r, pt_http_proxy_module);

    if (plcf->url_cv) {
        /* made per request: known once the request went to the proxy */
        ctx = pt_http_get_module_ctx(r, pt_http_proxy_module);

        if (ctx == NULL) {
            v->not_found = 1;
            return PT_OK;
        }

        s = data ? &ctx->port : &ctx->host;

    } else {
        s = data ? &plcf->port : &plcf->host;
    }

    if (s->data == NULL) {
        v->not_found = 1;
        return PT_OK;
    }

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


static pt_int_t
pt_http_proxy_add_x_forwarded_for_variable(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    u_char          *p;
    size_t           len;
    pt_table_elt_t  *h;

    len = 0;

    for (h = r->headers_in.x_forwarded_for; h; h = h->next) {
        len += h->value.len + 2;
    }

    if (len == 0) {
        v->len = r->connection->addr_text.len;
        v->data = r->connection->addr_text.data;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;
        return PT_OK;
    }

    len += r->connection->addr_text.len;

    p = pt_pnalloc(r->pool, len);
    if (p == NULL) {
        return PT_ERROR;
    }

    v->data = p;

    for (h = r->headers_in.x_forwarded_for; h; h = h->next) {
        p = pt_cpymem(p, h->value.data, h->value.len);
        *p++ = ','; *p++ = ' ';
    }

    p = pt_cpymem(p, r->connection->addr_text.data,
                  r->connection->addr_text.len);

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


static pt_http_variable_t  pt_http_proxy_vars[] = {

    { pt_string("proxy_host"), NULL, pt_http_proxy_host_variable, 0,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("proxy_port"), NULL, pt_http_proxy_host_variable, 1,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("proxy_add_x_forwarded_for"), NULL,
      pt_http_proxy_add_x_forwarded_for_variable, 0, 0, 0 },

    pt_http_null_variable
};


static pt_int_t
pt_http_proxy_add_variables(pt_conf_t *cf)
{
    return pt_http_add_variables(cf, pt_http_proxy_vars);
}
