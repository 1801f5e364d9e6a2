/*
 * TLS termination for HTTP: "listen ... ssl", certificates per server
 * (several, e.g. RSA and ECDSA, chosen by what the client supports), SNI
 * picking the server's certificate, ALPN, protocol and cipher policy,
 * client certificates, session resumption (tickets, a session cache
 * shared by the workers), a stapled OCSP response, and the $ssl_*
 * variables. Defaults pass a strict audit: TLS 1.2 and 1.3 only,
 * forward-secret ciphers only, the server's cipher order.
 */
#include "pt_http.h"


#define PT_DEFAULT_CIPHERS                                                   \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"             \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"             \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

#define PT_DEFAULT_ECDH_CURVE  "X25519:prime256v1:secp384r1"

#define PT_HTTP_SSL_VERIFY_OFF             0
#define PT_HTTP_SSL_VERIFY_ON              1
#define PT_HTTP_SSL_VERIFY_OPTIONAL        2
#define PT_HTTP_SSL_VERIFY_OPTIONAL_NO_CA  3


typedef struct {
    pt_ssl_t            ssl;

    pt_array_t         *certificates;       /* of pt_conf_arg_t */
    pt_array_t         *certificate_keys;   /* of pt_conf_arg_t */
    pt_conf_arg_t       password_file;
    pt_array_t         *conf_commands;      /* of pt_keyval_t */

    pt_uint_t           protocols;
    pt_str_t            ciphers;
    pt_flag_t           prefer_server_ciphers;
    pt_str_t            ecdh_curve;

    pt_uint_t           verify;             /* PT_HTTP_SSL_VERIFY_* */
    pt_int_t            verify_depth;
    pt_conf_arg_t       client_certificate;
    pt_conf_arg_t       crl;

    pt_int_t            builtin_session_cache;  /* PT_SSL_SCACHE_*, size */
    pt_shm_zone_t      *shm_zone;
    time_t              session_timeout;
    pt_flag_t           session_tickets;
    pt_array_t         *session_ticket_keys;    /* of pt_conf_arg_t */

    pt_flag_t           stapling;
    pt_conf_arg_t       stapling_file;

    pt_msec_t           handshake_timeout;

    pt_str_t            conf_file;          /* where the server is declared */
    pt_uint_t           line;
} pt_http_ssl_srv_conf_t;


static void *pt_http_ssl_create_srv_conf(pt_conf_t *cf);
static char *pt_http_ssl_merge_srv_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_ssl_init(pt_conf_t *cf);
static pt_int_t pt_http_ssl_add_variables(pt_conf_t *cf);
static void pt_http_ssl_start(pt_connection_t *c);
static char *pt_http_ssl_conf_command(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_ssl_add_file(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_ssl_session_cache(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);


static pt_conf_bitmask_t  pt_http_ssl_protocols[] = {
    { pt_string("TLSv1"), PT_SSL_TLSv1 },
    { pt_string("TLSv1.1"), PT_SSL_TLSv1_1 },
    { pt_string("TLSv1.2"), PT_SSL_TLSv1_2 },
    { pt_string("TLSv1.3"), PT_SSL_TLSv1_3 },
    { pt_null_string, 0 }
};


static pt_conf_enum_t  pt_http_ssl_verify[] = {
    { pt_string("off"), PT_HTTP_SSL_VERIFY_OFF },
    { pt_string("on"), PT_HTTP_SSL_VERIFY_ON },
    { pt_string("optional"), PT_HTTP_SSL_VERIFY_OPTIONAL },
    { pt_string("optional_no_ca"), PT_HTTP_SSL_VERIFY_OPTIONAL_NO_CA },
    { pt_null_string, 0 }
};


static pt_conf_num_bounds_t  pt_http_ssl_verify_depth_bounds = {
    pt_conf_check_num_bounds, 0, 100
};


static pt_command_t  pt_http_ssl_commands[] = {

    { pt_string("ssl_certificate"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_http_ssl_add_file,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, certificates),
      NULL },

    { pt_string("ssl_certificate_key"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_http_ssl_add_file,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, certificate_keys),
      NULL },

    { pt_string("ssl_password_file"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_arg_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, password_file),
      NULL },

    { pt_string("ssl_protocols"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_1MORE,
      pt_conf_set_bitmask_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, protocols),
      &pt_http_ssl_protocols },

    { pt_string("ssl_ciphers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_str_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, ciphers),
      NULL },

    { pt_string("ssl_prefer_server_ciphers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, prefer_server_ciphers),
      NULL },

    { pt_string("ssl_ecdh_curve"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_str_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, ecdh_curve),
      NULL },

    { pt_string("ssl_verify_client"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_enum_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, verify),
      &pt_http_ssl_verify },

    { pt_string("ssl_verify_depth"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_num_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, verify_depth),
      &pt_http_ssl_verify_depth_bounds },

    { pt_string("ssl_client_certificate"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_arg_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, client_certificate),
      NULL },

    { pt_string("ssl_crl"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_arg_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, crl),
      NULL },

    { pt_string("ssl_session_cache"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE12,
      pt_http_ssl_session_cache,
      PT_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { pt_string("ssl_session_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_sec_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, session_timeout),
      NULL },

    { pt_string("ssl_session_tickets"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, session_tickets),
      NULL },

    { pt_string("ssl_session_ticket_key"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_http_ssl_add_file,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, session_ticket_keys),
      NULL },

    { pt_string("ssl_stapling"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, stapling),
      NULL },

    { pt_string("ssl_stapling_file"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_arg_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, stapling_file),
      NULL },

    { pt_string("ssl_handshake_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, handshake_timeout),
      NULL },

    { pt_string("ssl_conf_command"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE2,
      pt_http_ssl_conf_command,
      PT_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_ssl_module_ctx = {
    pt_http_ssl_add_variables,              /* preconfiguration */
    pt_http_ssl_init,                       /* postconfiguration */
    NULL, NULL,
    pt_http_ssl_create_srv_conf,
    pt_http_ssl_merge_srv_conf,
    NULL, NULL
};


pt_module_t  pt_http_ssl_module = {
    .ctx = &pt_http_ssl_module_ctx,
    .commands = pt_http_ssl_commands,
    .type = PT_HTTP_MODULE,
};


/* the connection */

static void
pt_http_ssl_handshaked(pt_connection_t *c)
{
    pt_event_t               *rev;
    pt_http_connection_t     *hc;
    pt_http_core_srv_conf_t  *cscf;
    pt_ssl_connection_t      *sc;

    sc = c->ssl;
    hc = c->data;
    rev = c->read;

    if (c->timedout || !sc->handshaked) {
        if (c->timedout) {
            pt_log_error(PT_LOG_INFO, c->log, ETIMEDOUT,
                         "client timed out in SSL handshake");
        }

        pt_http_close_connection(c);
        return;
    }

    c->log->action = "waiting for request";

    cscf = hc->conf_ctx->srv_conf[pt_http_core_module.ctx_index];

    if (rev->timer_set) {
        pt_event_del_timer(rev);
    }

    pt_event_add_timer(rev, cscf->client_header_timeout);

    rev->handler = pt_http_wait_request_handler;
    c->write->handler = pt_http_empty_handler;

    /* idle until the request comes: a stopping worker may close it */
    pt_reusable_connection(c, 1);

    /* the request may already sit decrypted inside OpenSSL */
    pt_http_wait_request_handler(rev);
}


static void
pt_http_ssl_handshake(pt_event_t *rev)
{
    u_char                    buf[1];
    ssize_t                   n;
    pt_int_t                  rc;
    pt_connection_t          *c;
    pt_http_connection_t     *hc;
    pt_http_ssl_srv_conf_t   *sscf;

    c = rev->data;
    hc = c->data;

    if (rev->timedout) {
        pt_log_error(PT_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        pt_http_close_connection(c);
        return;
    }

    if (c->close) {
        pt_http_close_connection(c);
        return;
    }

    n = recv(c->fd, buf, 1, MSG_PEEK);

    if (n == -1 && errno == EAGAIN) {
        rev->ready = 0;
        return;
    }

    if (n <= 0) {
        pt_http_close_connection(c);
        return;
    }

    if (buf[0] != 0x16) {
        /* not a TLS handshake record: most likely plain HTTP */
        hc->plain_http = 1;
        c->log->action = "waiting for request";
        rev->handler = pt_http_wait_request_handler;
        pt_http_wait_request_handler(rev);
        return;
    }

    sscf = hc->conf_ctx->srv_conf[pt_http_ssl_module.ctx_index];

    pt_reusable_connection(c, 0);

    if (pt_ssl_create_connection(&sscf->ssl, c) != PT_OK) {
        pt_http_close_connection(c);
        return;
    }

    ((pt_ssl_connection_t *) c->ssl)->handler = pt_http_ssl_handshaked;

    c->log->action = "SSL handshaking";

    rc = pt_ssl_handshake(c);

    if (rc == PT_AGAIN) {
        return;
    }

    pt_http_ssl_handshaked(c);
}


static void
pt_http_ssl_start(pt_connection_t *c)
{
    pt_event_t              *rev;
    pt_http_connection_t    *hc;
    pt_http_ssl_srv_conf_t  *sscf;

    hc = c->data;
    rev = c->read;

    sscf = hc->conf_ctx->srv_conf[pt_http_ssl_module.ctx_index];

    c->log->action = "SSL handshaking";

    rev->handler = pt_http_ssl_handshake;

    if (rev->timer_set) {
        pt_event_del_timer(rev);
    }

    pt_event_add_timer(rev, sscf->handshake_timeout);

    /* nothing sent yet: a stopping worker may close it */
    pt_reusable_connection(c, 1);

    if (rev->ready) {
        pt_http_ssl_handshake(rev);
    }
}


/* SNI: the server named in the hello gives its certificate. */
static int
pt_http_ssl_servername(SSL *ssl, int *ad, void *arg)
{
    pt_str_t                  host;
    const char               *name;
    pt_connection_t          *c;
    pt_http_connection_t     *hc;
    pt_http_core_srv_conf_t  *cscf;
    pt_http_ssl_srv_conf_t   *sscf;

    name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL) {
        return SSL_TLSEXT_ERR_OK;
    }

    c = SSL_get_ex_data(ssl, pt_ssl_connection_index);
    if (c == NULL) {
        return SSL_TLSEXT_ERR_OK;
    }

    hc = c->data;

    host.len = strlen(name);
    host.data = (u_char *) name;

    if (pt_http_validate_host(&host, c->pool, 1) != PT_OK) {
        return SSL_TLSEXT_ERR_OK;
    }

    if (pt_http_find_virtual_server(c,
            ((pt_http_addr_conf_t *) hc->addr_conf)->virtual_names,
            &host, NULL, &cscf) != PT_OK)
    {
        return SSL_TLSEXT_ERR_OK;   /* the default server's certificate */
    }

    sscf = cscf->ctx->srv_conf[pt_http_ssl_module.ctx_index];

    if (sscf->ssl.ctx && sscf->ssl.ctx != SSL_get_SSL_CTX(ssl)) {
        /*
         * The certificates, CAs and stapled response follow the context;
         * the options and the client certificate policy are the SSL's own.
         * (Protocols, ciphers, session cache and ticket keys stay the
         * default server's, as in nginx.)
         */
        SSL_set_SSL_CTX(ssl, sscf->ssl.ctx);
        SSL_clear_options(ssl, SSL_get_options(ssl)
                               & ~SSL_CTX_get_options(sscf->ssl.ctx));
        SSL_set_options(ssl, SSL_CTX_get_options(sscf->ssl.ctx));
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(sscf->ssl.ctx),
                       SSL_CTX_get_verify_callback(sscf->ssl.ctx));
        SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(sscf->ssl.ctx));
    }

    /* the HTTP defaults of the connection follow the name */
    hc->conf_ctx = cscf->ctx;

    return SSL_TLSEXT_ERR_OK;
}


static int
pt_http_ssl_alpn_select(SSL *ssl, const unsigned char **out,
    unsigned char *outlen, const unsigned char *in, unsigned int inlen,
    void *arg)
{
    static const unsigned char  protos[] = "\x08http/1.1";

    if (SSL_select_next_proto((unsigned char **) out, outlen, protos,
                              sizeof(protos) - 1, in, inlen)
        != OPENSSL_NPN_NEGOTIATED)
    {
        return SSL_TLSEXT_ERR_NOACK;
    }

    return SSL_TLSEXT_ERR_OK;
}


/* configuration */

static void *
pt_http_ssl_create_srv_conf(pt_conf_t *cf)
{
    pt_http_ssl_srv_conf_t  *sscf;

    sscf = pt_pcalloc(cf->pool, sizeof(pt_http_ssl_srv_conf_t));
    if (sscf == NULL) {
        return NULL;
    }

    /*
     * set by pcalloc:
     *     sscf->protocols = 0;
     *     sscf->shm_zone = NULL;
     *     the pt_conf_arg_t and pt_str_t fields: empty
     */

    sscf->certificates = PT_CONF_UNSET_PTR;
    sscf->certificate_keys = PT_CONF_UNSET_PTR;
    sscf->conf_commands = PT_CONF_UNSET_PTR;
    sscf->prefer_server_ciphers = PT_CONF_UNSET;
    sscf->verify = PT_CONF_UNSET_UINT;
    sscf->verify_depth = PT_CONF_UNSET;
    sscf->builtin_session_cache = PT_CONF_UNSET;
    sscf->session_timeout = PT_CONF_UNSET;
    sscf->session_tickets = PT_CONF_UNSET;
    sscf->session_ticket_keys = PT_CONF_UNSET_PTR;
    sscf->stapling = PT_CONF_UNSET;
    sscf->handshake_timeout = PT_CONF_UNSET_MSEC;

    if (cf->conf_file) {
        sscf->conf_file = cf->conf_file->name;
        sscf->line = cf->conf_file->line;
    }

    return sscf;
}


static char *
pt_http_ssl_add_file(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_array_t          **a;
    pt_conf_arg_t        *f;

    a = (pt_array_t **) ((char *) conf + cmd->offset);

    if (*a == PT_CONF_UNSET_PTR) {
        *a = pt_array_create(cf->pool, 2, sizeof(pt_conf_arg_t));
        if (*a == NULL) {
            return PT_CONF_ERROR;
        }
    }

    f = pt_array_push(*a);
    if (f == NULL) {
        return PT_CONF_ERROR;
    }

    pt_memzero(f, sizeof(pt_conf_arg_t));
    pt_conf_arg_here(cf, f);

    return PT_CONF_OK;
}


/* ssl_session_cache off | none | [builtin[:size]] [shared:name:size] */
static char *
pt_http_ssl_session_cache(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_ssl_srv_conf_t  *sscf = conf;

    u_char     *p;
    ssize_t     size;
    pt_int_t    n;
    pt_str_t   *value, name, s;
    pt_uint_t   i;

    if (sscf->builtin_session_cache != PT_CONF_UNSET || sscf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (pt_str_eq_lit(&value[i], "off")
            || pt_str_eq_lit(&value[i], "none"))
        {
            if (cf->args->nelts != 2) {
                goto invalid;
            }

            sscf->builtin_session_cache = (value[i].data[1] == 'f')
                                          ? PT_SSL_SCACHE_OFF
                                          : PT_SSL_SCACHE_NONE;
            continue;
        }

        if (pt_str_eq_lit(&value[i], "builtin")) {
            sscf->builtin_session_cache = PT_SSL_SCACHE_DFLT_BUILTIN;
            continue;
        }

        if (value[i].len > sizeof("builtin:") - 1
            && pt_strncmp(value[i].data, "builtin:", sizeof("builtin:") - 1)
               == 0)
        {
            n = pt_atoi(value[i].data + sizeof("builtin:") - 1,
                        value[i].len - (sizeof("builtin:") - 1));

            if (n == PT_ERROR || n == 0) {
                goto invalid;
            }

            sscf->builtin_session_cache = n;
            continue;
        }

        if (value[i].len > sizeof("shared:") - 1
            && pt_strncmp(value[i].data, "shared:", sizeof("shared:") - 1)
               == 0)
        {
            name.data = value[i].data + sizeof("shared:") - 1;
            p = pt_strlchr(name.data, value[i].data + value[i].len, ':');

            if (p == NULL || p == name.data) {
                goto invalid;
            }

            name.len = p - name.data;
            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = pt_parse_size(&s);

            if (size == PT_ERROR) {
                goto invalid;
            }

            if ((size_t) size < PT_SHM_MIN_SIZE) {
                pt_conf_error(cf, "session cache \"%.*s\" is too small: "
                              "the least is %uk", PT_STR_ARG(value[i]),
                              (unsigned) (PT_SHM_MIN_SIZE / 1024));
                return PT_CONF_ERROR;
            }

            sscf->shm_zone = pt_shared_memory_add(cf, &name, (size_t) size,
                                                  &pt_http_ssl_module);
            if (sscf->shm_zone == NULL) {
                return PT_CONF_ERROR;
            }

            sscf->shm_zone->init = pt_ssl_session_cache_init;
            continue;
        }

        goto invalid;
    }

    if (sscf->shm_zone && sscf->builtin_session_cache == PT_CONF_UNSET) {
        sscf->builtin_session_cache = PT_SSL_SCACHE_NO_BUILTIN;
    }

    return PT_CONF_OK;

invalid:

    pt_conf_error(cf, "invalid session cache \"%.*s\"", PT_STR_ARG(value[i]));

    return PT_CONF_ERROR;
}


static pt_int_t
pt_http_ssl_read_passwords(pt_conf_t *cf, pt_str_t *file, pt_array_t **out)
{
    u_char      *p, *last, *start;
    pt_str_t     name, content, *pwd;
    pt_array_t  *a;

    name = *file;

    if (pt_conf_full_name(cf->cycle, &name, 1) != PT_OK) {
        return PT_ERROR;
    }

    if (pt_read_whole_file(cf->pool, (char *) name.data, 65536, &content)
        != PT_OK)
    {
        pt_conf_log_error(PT_LOG_EMERG, cf, errno, "cannot read \"%s\"",
                          (char *) name.data);
        return PT_ERROR;
    }

    a = pt_array_create(cf->pool, 4, sizeof(pt_str_t));
    if (a == NULL) {
        return PT_ERROR;
    }

    p = content.data;
    last = p + content.len;

    while (p < last) {
        start = p;

        while (p < last && *p != '\n' && *p != '\r') {
            p++;
        }

        if (p > start) {
            pwd = pt_array_push(a);
            if (pwd == NULL) {
                return PT_ERROR;
            }

            pwd->data = start;
            pwd->len = p - start;
        }

        while (p < last && (*p == '\n' || *p == '\r')) {
            p++;
        }
    }

    *out = a;

    return PT_OK;
}


/* The server's context: every file it names is read here, in the master. */
static pt_int_t
pt_http_ssl_make_context(pt_conf_t *cf, pt_http_ssl_srv_conf_t *conf)
{
    pt_str_t             sess_ctx = pt_string("HTTP"), *pwd;
    pt_int_t             rc;
    pt_uint_t            i;
    pt_array_t          *passwords;
    pt_keyval_t         *cmd;
    SSL_CONF_CTX        *cctx;
    pt_conf_file_t       where, server;
    pt_pool_cleanup_t   *cln;
    pt_conf_arg_t       *cert, *key, *tk;

    /* errors about no single directive point at the server */
    pt_memzero(&server, sizeof(pt_conf_file_t));
    server.name = conf->conf_file;
    server.line = conf->line;

    cert = conf->certificates->elts;

    if (conf->certificate_keys == NULL
        || conf->certificate_keys->nelts < conf->certificates->nelts)
    {
        pt_conf_arg_at(cf, &cert[conf->certificate_keys
                                 ? conf->certificate_keys->nelts : 0],
                       &where);
        pt_conf_error(cf, "no \"ssl_certificate_key\" is defined for "
                      "certificate \"%.*s\"",
                      PT_STR_ARG(cert[conf->certificate_keys
                                      ? conf->certificate_keys->nelts
                                      : 0].value));
        return PT_ERROR;
    }

    if (pt_ssl_init(cf->log) != PT_OK) {
        return PT_ERROR;
    }

    conf->ssl.log = cf->log;

    if (pt_ssl_create(&conf->ssl, conf->protocols, conf) != PT_OK) {
        return PT_ERROR;
    }

    cln = pt_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        SSL_CTX_free(conf->ssl.ctx);
        conf->ssl.ctx = NULL;
        return PT_ERROR;
    }

    cln->handler = pt_ssl_cleanup_ctx;
    cln->data = &conf->ssl;

    passwords = NULL;

    if (conf->password_file.value.len) {
        pt_conf_arg_at(cf, &conf->password_file, &where);

        if (pt_http_ssl_read_passwords(cf, &conf->password_file.value,
                                       &passwords) != PT_OK)
        {
            return PT_ERROR;
        }
    }

    key = conf->certificate_keys->elts;
    rc = PT_OK;

    for (i = 0; i < conf->certificates->nelts && rc == PT_OK; i++) {
        pt_conf_arg_at(cf, &cert[i], &where);

        rc = pt_ssl_certificate(cf, &conf->ssl, &cert[i].value);

        if (rc == PT_OK) {
            /* a mismatch is the key's fault: its line */
            pt_conf_arg_at(cf, &key[i], &where);

            rc = pt_ssl_certificate_key(cf, &conf->ssl, &cert[i].value,
                                        &key[i].value, passwords);
        }
    }

    if (passwords) {
        /* no copy of a password stays in memory */
        pwd = passwords->elts;

        for (i = 0; i < passwords->nelts; i++) {
            OPENSSL_cleanse(pwd[i].data, pwd[i].len);
        }
    }

    if (rc != PT_OK) {
        return PT_ERROR;
    }

    cf->conf_file = &server;

    if (pt_ssl_ciphers(cf, &conf->ssl, &conf->ciphers,
                       conf->prefer_server_ciphers) != PT_OK
        || pt_ssl_ecdh_curve(cf, &conf->ssl, &conf->ecdh_curve) != PT_OK)
    {
        return PT_ERROR;
    }

    if (conf->verify != PT_HTTP_SSL_VERIFY_OFF) {

        if (conf->client_certificate.value.len == 0
            && conf->verify != PT_HTTP_SSL_VERIFY_OPTIONAL_NO_CA)
        {
            pt_conf_error(cf, "no \"ssl_client_certificate\" is defined for "
                          "\"ssl_verify_client\"");
            return PT_ERROR;
        }

        if (conf->client_certificate.value.len) {
            pt_conf_arg_at(cf, &conf->client_certificate, &where);
        }

        if (pt_ssl_client_certificate(cf, &conf->ssl,
                                      &conf->client_certificate.value,
                                      conf->verify_depth) != PT_OK)
        {
            return PT_ERROR;
        }

        if (conf->crl.value.len) {
            pt_conf_arg_at(cf, &conf->crl, &where);

            if (pt_ssl_crl(cf, &conf->ssl, &conf->crl.value) != PT_OK) {
                return PT_ERROR;
            }
        }
    }

    if (conf->stapling) {
        if (conf->stapling_file.value.len) {
            pt_conf_arg_at(cf, &conf->stapling_file, &where);

            if (pt_ssl_stapling_file(cf, &conf->ssl,
                                     &conf->stapling_file.value) != PT_OK)
            {
                return PT_ERROR;
            }

        } else {
            cf->conf_file = &server;
            pt_conf_log_error(PT_LOG_WARN, cf, 0,
                              "\"ssl_stapling\" ignored: no "
                              "\"ssl_stapling_file\" (OCSP responders are "
                              "not queried)");
        }
    }

    if (conf->session_ticket_keys && conf->session_tickets) {
        tk = conf->session_ticket_keys->elts;

        for (i = 0; i < conf->session_ticket_keys->nelts; i++) {
            pt_conf_arg_at(cf, &tk[i], &where);

            if (pt_ssl_session_ticket_key(cf, &conf->ssl, &tk[i].value)
                != PT_OK)
            {
                return PT_ERROR;
            }
        }
    }

    cf->conf_file = &server;

    if (pt_ssl_session_cache(cf, &conf->ssl, &sess_ctx,
                             conf->builtin_session_cache, conf->shm_zone,
                             conf->session_timeout, conf->session_tickets)
        != PT_OK)
    {
        return PT_ERROR;
    }

    SSL_CTX_set_tlsext_servername_callback(conf->ssl.ctx,
                                           pt_http_ssl_servername);
    SSL_CTX_set_alpn_select_cb(conf->ssl.ctx, pt_http_ssl_alpn_select, NULL);

    if (conf->conf_commands == NULL) {
        return PT_OK;
    }

    cctx = SSL_CONF_CTX_new();
    if (cctx == NULL) {
        return PT_ERROR;
    }

    SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE | SSL_CONF_FLAG_SERVER
                                 | SSL_CONF_FLAG_CERTIFICATE
                                 | SSL_CONF_FLAG_SHOW_ERRORS);
    SSL_CONF_CTX_set_ssl_ctx(cctx, conf->ssl.ctx);

    cmd = conf->conf_commands->elts;

    for (i = 0; i < conf->conf_commands->nelts; i++) {
        if (SSL_CONF_cmd(cctx, (char *) cmd[i].key.data,
                         (char *) cmd[i].value.data) <= 0)
        {
            pt_ssl_conf_error(cf, "SSL_CONF_cmd(\"%s\", \"%s\") failed",
                              (char *) cmd[i].key.data,
                              (char *) cmd[i].value.data);
            SSL_CONF_CTX_free(cctx);
            return PT_ERROR;
        }
    }

    if (SSL_CONF_CTX_finish(cctx) != 1) {
        pt_ssl_conf_error(cf, "SSL_CONF_CTX_finish() failed");
        SSL_CONF_CTX_free(cctx);
        return PT_ERROR;
    }

    SSL_CONF_CTX_free(cctx);

    return PT_OK;
}


static char *
pt_http_ssl_merge_srv_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_ssl_srv_conf_t  *prev = parent;
    pt_http_ssl_srv_conf_t  *conf = child;

    pt_int_t         rc;
    pt_conf_file_t  *saved;

    pt_conf_merge_ptr_value(conf->certificates, prev->certificates, NULL);
    pt_conf_merge_ptr_value(conf->certificate_keys, prev->certificate_keys,
                            NULL);
    pt_conf_merge_ptr_value(conf->conf_commands, prev->conf_commands, NULL);

    if (conf->password_file.value.data == NULL) {
        conf->password_file = prev->password_file;
    }

    pt_conf_merge_bitmask_value(conf->protocols, prev->protocols,
                                (PT_CONF_BITMASK_SET | PT_SSL_TLSv1_2
                                 | PT_SSL_TLSv1_3));
    pt_conf_merge_str_value(conf->ciphers, prev->ciphers, PT_DEFAULT_CIPHERS);
    pt_conf_merge_value(conf->prefer_server_ciphers,
                        prev->prefer_server_ciphers, 1);
    pt_conf_merge_str_value(conf->ecdh_curve, prev->ecdh_curve,
                            PT_DEFAULT_ECDH_CURVE);

    pt_conf_merge_uint_value(conf->verify, prev->verify,
                             PT_HTTP_SSL_VERIFY_OFF);
    pt_conf_merge_value(conf->verify_depth, prev->verify_depth, 1);

    if (conf->client_certificate.value.data == NULL) {
        conf->client_certificate = prev->client_certificate;
    }

    if (conf->crl.value.data == NULL) {
        conf->crl = prev->crl;
    }

    pt_conf_merge_value(conf->builtin_session_cache,
                        prev->builtin_session_cache, PT_SSL_SCACHE_NONE);

    if (conf->shm_zone == NULL) {
        conf->shm_zone = prev->shm_zone;
    }

    pt_conf_merge_value(conf->session_timeout, prev->session_timeout, 300);
    pt_conf_merge_value(conf->session_tickets, prev->session_tickets, 1);
    pt_conf_merge_ptr_value(conf->session_ticket_keys,
                            prev->session_ticket_keys, NULL);

    pt_conf_merge_value(conf->stapling, prev->stapling, 0);

    if (conf->stapling_file.value.data == NULL) {
        conf->stapling_file = prev->stapling_file;
    }

    pt_conf_merge_msec_value(conf->handshake_timeout,
                             prev->handshake_timeout, 60000);

    if (conf->certificates == NULL) {
        return PT_CONF_OK;      /* a plain server, or one the checks refuse */
    }

    saved = cf->conf_file;
    rc = pt_http_ssl_make_context(cf, conf);
    cf->conf_file = saved;

    return (rc == PT_OK) ? PT_CONF_OK : PT_CONF_ERROR;
}


static char *
pt_http_ssl_conf_command(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_ssl_srv_conf_t  *sscf = conf;

    pt_str_t     *value;
    pt_keyval_t  *kv;

    if (sscf->conf_commands == PT_CONF_UNSET_PTR
        || sscf->conf_commands == NULL)
    {
        sscf->conf_commands = pt_array_create(cf->pool, 2,
                                              sizeof(pt_keyval_t));
        if (sscf->conf_commands == NULL) {
            return PT_CONF_ERROR;
        }
    }

    kv = pt_array_push(sscf->conf_commands);
    if (kv == NULL) {
        return PT_CONF_ERROR;
    }

    value = cf->args->elts;
    kv->key = value[1];
    kv->value = value[2];

    return PT_CONF_OK;
}


/*
 * A client certificate is checked once the request head is in (as nginx
 * does): a client whose certificate failed (495) or that sent none (496)
 * is answered by the server's error_page for the code, or with a 400 page,
 * instead of a failed handshake, and the session is not resumed again.
 * The verdict is the one $ssl_client_verify reports: FAILED:reason, NONE.
 */
static pt_int_t
pt_http_ssl_verify_handler(pt_http_request_t *r)
{
    long                     rc;
    pt_connection_t         *c;
    pt_ssl_connection_t     *sc;
    pt_http_ssl_srv_conf_t  *sscf;

    c = r->connection;
    sc = c->ssl;

    if (sc == NULL || sc->connection == NULL) {
        return PT_DECLINED;
    }

    sscf = pt_http_get_module_srv_conf(r, pt_http_ssl_module);

    if (sscf->verify == PT_HTTP_SSL_VERIFY_OFF) {
        return PT_DECLINED;
    }

    rc = SSL_get_verify_result(sc->connection);

    if (rc != X509_V_OK
        && (sscf->verify != PT_HTTP_SSL_VERIFY_OPTIONAL_NO_CA
            || !pt_ssl_verify_error_optional(rc)))
    {
        pt_log_error(PT_LOG_INFO, c->log, 0,
                     "client SSL certificate verify error: (%ld:%s)",
                     rc, X509_verify_cert_error_string(rc));

        pt_ssl_remove_cached_session(c);
        return PT_HTTPS_CERT_ERROR;
    }

    if (sscf->verify == PT_HTTP_SSL_VERIFY_ON
        && SSL_get0_peer_certificate(sc->connection) == NULL)
    {
        pt_log_error(PT_LOG_INFO, c->log, 0,
                     "client sent no required SSL certificate");

        pt_ssl_remove_cached_session(c);
        return PT_HTTPS_NO_CERT;
    }

    return PT_DECLINED;
}


/*
 * Every server reached through a "listen ... ssl" address must have a
 * certificate; the connection handler learns that TLS is here, and the
 * client certificate check joins the POST_READ phase.
 */
static pt_int_t
pt_http_ssl_init(pt_conf_t *cf)
{
    pt_uint_t                   p, a, s;
    pt_http_handler_pt         *h;
    pt_http_conf_port_t        *port;
    pt_http_conf_addr_t        *addr;
    pt_http_ssl_srv_conf_t     *sscf;
    pt_http_core_srv_conf_t   **cscfp;
    pt_http_core_main_conf_t   *cmcf;

    pt_http_ssl_init_connection = pt_http_ssl_start;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    /* requests pay for the check only where a server asks for it */
    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {
        sscf = cscfp[s]->ctx->srv_conf[pt_http_ssl_module.ctx_index];

        if (sscf->verify != PT_HTTP_SSL_VERIFY_OFF) {
            h = pt_array_push(
                    &cmcf->phases[PT_HTTP_POST_READ_PHASE].handlers);
            if (h == NULL) {
                return PT_ERROR;
            }

            *h = pt_http_ssl_verify_handler;
            break;
        }
    }

    if (cmcf->ports == NULL) {
        return PT_OK;
    }

    port = cmcf->ports->elts;

    for (p = 0; p < cmcf->ports->nelts; p++) {
        addr = port[p].addrs.elts;

        for (a = 0; a < port[p].addrs.nelts; a++) {
            if (!addr[a].opt.ssl) {
                continue;
            }

            cscfp = addr[a].servers.elts;

            for (s = 0; s < addr[a].servers.nelts; s++) {
                sscf = cscfp[s]->ctx->srv_conf[pt_http_ssl_module.ctx_index];

                if (sscf->ssl.ctx == NULL) {
                    pt_log_error(PT_LOG_EMERG, cf->log, 0,
                                 "no \"ssl_certificate\" is defined for the "
                                 "server with \"listen ... ssl\" in %s:%lu",
                                 (char *) cscfp[s]->file_name,
                                 (unsigned long) cscfp[s]->line);
                    return PT_ERROR;
                }
            }
        }
    }

    return PT_OK;
}


/* variables */

#define PT_HTTP_SSL_PROTOCOL        0
#define PT_HTTP_SSL_CIPHER          1
#define PT_HTTP_SSL_SERVER_NAME     2
#define PT_HTTP_SSL_SESSION_REUSED  3
#define PT_HTTP_SSL_ALPN_PROTOCOL   4
#define PT_HTTP_SSL_CLIENT_VERIFY   5
#define PT_HTTP_SSL_HTTPS           6


static pt_int_t
pt_http_ssl_variable(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    long                  rc;
    size_t                len;
    const char           *s, *e;
    const u_char         *alpn;
    unsigned int          alpn_len;
    pt_ssl_connection_t  *sc;

    sc = r->connection->ssl;

    if (sc == NULL || sc->connection == NULL) {
        if (data == PT_HTTP_SSL_HTTPS) {
            /* "on" or empty, as nginx */
            v->len = 0;
            v->data = (u_char *) "";
            v->valid = 1;
            v->no_cacheable = 0;
            v->not_found = 0;
            return PT_OK;
        }

        v->not_found = 1;
        return PT_OK;
    }

    len = 0;

    switch (data) {

    case PT_HTTP_SSL_PROTOCOL:
        s = SSL_get_version(sc->connection);
        break;

    case PT_HTTP_SSL_CIPHER:
        s = SSL_get_cipher_name(sc->connection);
        break;

    case PT_HTTP_SSL_SERVER_NAME:
        s = SSL_get_servername(sc->connection, TLSEXT_NAMETYPE_host_name);
        break;

    case PT_HTTP_SSL_SESSION_REUSED:
        s = SSL_session_reused(sc->connection) ? "r" : ".";
        break;

    case PT_HTTP_SSL_HTTPS:
        s = "on";
        break;

    case PT_HTTP_SSL_ALPN_PROTOCOL:
        SSL_get0_alpn_selected(sc->connection, &alpn, &alpn_len);
        s = alpn_len ? (const char *) alpn : NULL;
        len = alpn_len;
        break;

    default: /* PT_HTTP_SSL_CLIENT_VERIFY */
        rc = SSL_get_verify_result(sc->connection);

        if (rc != X509_V_OK) {
            e = X509_verify_cert_error_string(rc);
            v->data = pt_psprintf(r->pool, &len, "FAILED:%s", e);
            if (v->data == NULL) {
                return PT_ERROR;
            }

            s = (const char *) v->data;

        } else if (SSL_get0_peer_certificate(sc->connection) == NULL) {
            s = "NONE";

        } else {
            s = "SUCCESS";
        }

        break;
    }

    if (s == NULL) {
        v->not_found = 1;
        return PT_OK;
    }

    v->len = len ? len : strlen(s);
    v->data = (u_char *) s;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


#define PT_HTTP_SSL_CLIENT_S_DN         0
#define PT_HTTP_SSL_CLIENT_I_DN         1
#define PT_HTTP_SSL_CLIENT_SERIAL       2
#define PT_HTTP_SSL_CLIENT_FINGERPRINT  3
#define PT_HTTP_SSL_SESSION_ID          4


/* Values made from the client certificate (or the session), per request. */
static pt_int_t
pt_http_ssl_cert_variable(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    int                   n;
    BIO                  *bio;
    X509                 *cert;
    u_char               *p;
    pt_int_t              rc;
    const u_char         *id;
    unsigned int          len;
    SSL_SESSION          *sess;
    pt_ssl_connection_t  *sc;
    u_char                buf[EVP_MAX_MD_SIZE];

    sc = r->connection->ssl;
    v->not_found = 1;

    if (sc == NULL || sc->connection == NULL) {
        return PT_OK;
    }

    if (data == PT_HTTP_SSL_SESSION_ID) {
        sess = SSL_get0_session(sc->connection);
        id = sess ? SSL_SESSION_get_id(sess, &len) : NULL;
        goto hex;
    }

    cert = SSL_get0_peer_certificate(sc->connection);
    if (cert == NULL) {
        return PT_OK;
    }

    if (data == PT_HTTP_SSL_CLIENT_FINGERPRINT) {
        if (X509_digest(cert, EVP_sha1(), buf, &len) != 1) {
            pt_ssl_error(PT_LOG_ALERT, r->connection->log, 0,
                         "X509_digest() failed");
            return PT_ERROR;
        }

        id = buf;
        goto hex;
    }

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        pt_ssl_error(PT_LOG_ALERT, r->connection->log, 0,
                     "BIO_new() failed");
        return PT_ERROR;
    }

    rc = PT_ERROR;

    if (data == PT_HTTP_SSL_CLIENT_SERIAL) {
        n = i2a_ASN1_INTEGER(bio, X509_get0_serialNumber(cert));

    } else {
        n = X509_NAME_print_ex(bio, (data == PT_HTTP_SSL_CLIENT_S_DN)
                                    ? X509_get_subject_name(cert)
                                    : X509_get_issuer_name(cert),
                               0, XN_FLAG_RFC2253);
    }

    if (n < 0) {
        pt_ssl_error(PT_LOG_ALERT, r->connection->log, 0,
                     "cannot print the client certificate");
        goto done;
    }

    n = (int) BIO_pending(bio);

    p = pt_pnalloc(r->pool, n ? (size_t) n : 1);
    if (p == NULL) {
        goto done;
    }

    if (n > 0 && BIO_read(bio, p, n) != n) {
        goto done;
    }

    v->len = n;
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    rc = PT_OK;

done:

    BIO_free(bio);

    return rc;

hex:

    if (id == NULL || len == 0) {
        return PT_OK;
    }

    p = pt_pnalloc(r->pool, 2 * len);
    if (p == NULL) {
        return PT_ERROR;
    }

    v->len = pt_hex_dump(p, id, len) - p;
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


static pt_http_variable_t  pt_http_ssl_vars[] = {

    { pt_string("ssl_protocol"), NULL, pt_http_ssl_variable,
      PT_HTTP_SSL_PROTOCOL, 0, 0 },

    { pt_string("ssl_cipher"), NULL, pt_http_ssl_variable,
      PT_HTTP_SSL_CIPHER, 0, 0 },

    { pt_string("ssl_server_name"), NULL, pt_http_ssl_variable,
      PT_HTTP_SSL_SERVER_NAME, 0, 0 },

    { pt_string("ssl_session_reused"), NULL, pt_http_ssl_variable,
      PT_HTTP_SSL_SESSION_REUSED, 0, 0 },

    { pt_string("ssl_alpn_protocol"), NULL, pt_http_ssl_variable,
      PT_HTTP_SSL_ALPN_PROTOCOL, 0, 0 },

    { pt_string("ssl_client_verify"), NULL, pt_http_ssl_variable,
      PT_HTTP_SSL_CLIENT_VERIFY, 0, 0 },

    { pt_string("https"), NULL, pt_http_ssl_variable,
      PT_HTTP_SSL_HTTPS, 0, 0 },

    { pt_string("ssl_client_s_dn"), NULL, pt_http_ssl_cert_variable,
      PT_HTTP_SSL_CLIENT_S_DN, 0, 0 },

    { pt_string("ssl_client_i_dn"), NULL, pt_http_ssl_cert_variable,
      PT_HTTP_SSL_CLIENT_I_DN, 0, 0 },

    { pt_string("ssl_client_serial"), NULL, pt_http_ssl_cert_variable,
      PT_HTTP_SSL_CLIENT_SERIAL, 0, 0 },

    { pt_string("ssl_client_fingerprint"), NULL, pt_http_ssl_cert_variable,
      PT_HTTP_SSL_CLIENT_FINGERPRINT, 0, 0 },

    { pt_string("ssl_session_id"), NULL, pt_http_ssl_cert_variable,
      PT_HTTP_SSL_SESSION_ID, 0, 0 },

    pt_http_null_variable
};


static pt_int_t
pt_http_ssl_add_variables(pt_conf_t *cf)
{
    return pt_http_add_variables(cf, pt_http_ssl_vars);
}
