/*
 * TLS termination for HTTP: "listen ... ssl", certificates per server
 * (several, e.g. RSA and ECDSA, chosen by what the client supports), SNI
 * picking the server's certificate, ALPN, protocol and cipher policy, and
 * the $ssl_* variables. Defaults pass a strict audit: TLS 1.2 and 1.3
 * only, forward-secret ciphers only, the server's cipher order.
 */
#include "pt_http.h"


#define PT_DEFAULT_CIPHERS                                                   \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"             \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"             \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

#define PT_DEFAULT_ECDH_CURVE  "X25519:prime256v1:secp384r1"


typedef struct {
    pt_ssl_t        ssl;

    pt_array_t     *certificates;       /* of pt_str_t */
    pt_array_t     *certificate_keys;
    pt_str_t        password_file;
    pt_array_t     *conf_commands;      /* of pt_keyval_t */

    pt_uint_t       protocols;
    pt_str_t        ciphers;
    pt_flag_t       prefer_server_ciphers;
    pt_str_t        ecdh_curve;
    time_t          session_timeout;
    pt_flag_t       session_tickets;
    pt_msec_t       handshake_timeout;

    u_char         *file;               /* where the server was declared */
    pt_uint_t       line;
} pt_http_ssl_srv_conf_t;


static void *pt_http_ssl_create_srv_conf(pt_conf_t *cf);
static char *pt_http_ssl_merge_srv_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_ssl_init(pt_conf_t *cf);
static pt_int_t pt_http_ssl_add_variables(pt_conf_t *cf);
static void pt_http_ssl_start(pt_connection_t *c);
static char *pt_http_ssl_conf_command(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);


static pt_conf_bitmask_t  pt_http_ssl_protocols[] = {
    { pt_string("TLSv1"), PT_SSL_TLSv1 },
    { pt_string("TLSv1.1"), PT_SSL_TLSv1_1 },
    { pt_string("TLSv1.2"), PT_SSL_TLSv1_2 },
    { pt_string("TLSv1.3"), PT_SSL_TLSv1_3 },
    { pt_null_string, 0 }
};


static pt_command_t  pt_http_ssl_commands[] = {

    { pt_string("ssl_certificate"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_str_array_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, certificates),
      NULL },

    { pt_string("ssl_certificate_key"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_str_array_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_ssl_srv_conf_t, certificate_keys),
      NULL },

    { pt_string("ssl_password_file"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_str_slot,
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
        SSL_set_SSL_CTX(ssl, sscf->ssl.ctx);
        SSL_set_options(ssl, SSL_CTX_get_options(sscf->ssl.ctx));
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

    sscf->certificates = PT_CONF_UNSET_PTR;
    sscf->certificate_keys = PT_CONF_UNSET_PTR;
    sscf->conf_commands = PT_CONF_UNSET_PTR;
    sscf->prefer_server_ciphers = PT_CONF_UNSET;
    sscf->session_timeout = PT_CONF_UNSET;
    sscf->session_tickets = PT_CONF_UNSET;
    sscf->handshake_timeout = PT_CONF_UNSET_MSEC;

    if (cf->conf_file) {
        sscf->file = cf->conf_file->name.data;
        sscf->line = cf->conf_file->line;
    }

    return sscf;
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
        pt_conf_log_error(PT_LOG_EMERG, cf, errno, "open() \"%s\" failed",
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


static char *
pt_http_ssl_merge_srv_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_ssl_srv_conf_t  *prev = parent;
    pt_http_ssl_srv_conf_t  *conf = child;

    pt_str_t            *cert, *key;
    pt_uint_t            i;
    pt_array_t          *passwords;
    pt_keyval_t         *cmd;
    pt_pool_cleanup_t   *cln;

    pt_conf_merge_ptr_value(conf->certificates, prev->certificates, NULL);
    pt_conf_merge_ptr_value(conf->certificate_keys, prev->certificate_keys,
                            NULL);
    pt_conf_merge_ptr_value(conf->conf_commands, prev->conf_commands, NULL);
    pt_conf_merge_str_value(conf->password_file, prev->password_file, "");
    pt_conf_merge_bitmask_value(conf->protocols, prev->protocols,
                                (PT_CONF_BITMASK_SET | PT_SSL_TLSv1_2
                                 | PT_SSL_TLSv1_3));
    pt_conf_merge_str_value(conf->ciphers, prev->ciphers, PT_DEFAULT_CIPHERS);
    pt_conf_merge_value(conf->prefer_server_ciphers,
                        prev->prefer_server_ciphers, 1);
    pt_conf_merge_str_value(conf->ecdh_curve, prev->ecdh_curve,
                            PT_DEFAULT_ECDH_CURVE);
    pt_conf_merge_value(conf->session_timeout, prev->session_timeout, 300);
    pt_conf_merge_value(conf->session_tickets, prev->session_tickets, 1);
    pt_conf_merge_msec_value(conf->handshake_timeout,
                             prev->handshake_timeout, 60000);

    if (conf->certificates == NULL) {
        return PT_CONF_OK;      /* a plain server, or one the checks refuse */
    }

    if (conf->certificate_keys == NULL
        || conf->certificate_keys->nelts < conf->certificates->nelts)
    {
        cert = conf->certificates->elts;
        pt_log_error(PT_LOG_EMERG, cf->log, 0,
                     "no \"ssl_certificate_key\" is defined for certificate "
                     "\"%.*s\" of the server in %s:%lu",
                     PT_STR_ARG(cert[conf->certificate_keys
                                     ? conf->certificate_keys->nelts : 0]),
                     (char *) conf->file, (unsigned long) conf->line);
        return PT_CONF_ERROR;
    }

    if (pt_ssl_init(cf->log) != PT_OK) {
        return PT_CONF_ERROR;
    }

    conf->ssl.log = cf->log;

    if (pt_ssl_create(&conf->ssl, conf->protocols, conf) != PT_OK) {
        return PT_CONF_ERROR;
    }

    cln = pt_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        SSL_CTX_free(conf->ssl.ctx);
        return PT_CONF_ERROR;
    }

    cln->handler = pt_ssl_cleanup_ctx;
    cln->data = &conf->ssl;

    passwords = NULL;

    if (conf->password_file.len
        && pt_http_ssl_read_passwords(cf, &conf->password_file, &passwords)
           != PT_OK)
    {
        return PT_CONF_ERROR;
    }

    cert = conf->certificates->elts;
    key = conf->certificate_keys->elts;

    for (i = 0; i < conf->certificates->nelts; i++) {
        if (pt_ssl_certificate(cf, &conf->ssl, &cert[i], &key[i], passwords)
            != PT_OK)
        {
            return PT_CONF_ERROR;
        }
    }

    if (pt_ssl_ciphers(cf, &conf->ssl, &conf->ciphers,
                       conf->prefer_server_ciphers) != PT_OK
        || pt_ssl_ecdh_curve(cf, &conf->ssl, &conf->ecdh_curve) != PT_OK
        || pt_ssl_session_cache(&conf->ssl, conf->session_tickets,
                                conf->session_timeout) != PT_OK)
    {
        return PT_CONF_ERROR;
    }

    SSL_CTX_set_tlsext_servername_callback(conf->ssl.ctx,
                                           pt_http_ssl_servername);
    SSL_CTX_set_alpn_select_cb(conf->ssl.ctx, pt_http_ssl_alpn_select, NULL);

    if (conf->conf_commands) {
        SSL_CONF_CTX  *cctx;

        cctx = SSL_CONF_CTX_new();
        if (cctx == NULL) {
            return PT_CONF_ERROR;
        }

        SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE
                                     | SSL_CONF_FLAG_SERVER
                                     | SSL_CONF_FLAG_CERTIFICATE
                                     | SSL_CONF_FLAG_SHOW_ERRORS);
        SSL_CONF_CTX_set_ssl_ctx(cctx, conf->ssl.ctx);

        cmd = conf->conf_commands->elts;

        for (i = 0; i < conf->conf_commands->nelts; i++) {
            if (SSL_CONF_cmd(cctx, (char *) cmd[i].key.data,
                             (char *) cmd[i].value.data) <= 0)
            {
                pt_ssl_error(PT_LOG_EMERG, cf->log, 0,
                             "SSL_CONF_cmd(\"%s\", \"%s\") failed",
                             (char *) cmd[i].key.data,
                             (char *) cmd[i].value.data);
                SSL_CONF_CTX_free(cctx);
                return PT_CONF_ERROR;
            }
        }

        if (SSL_CONF_CTX_finish(cctx) != 1) {
            pt_ssl_error(PT_LOG_EMERG, cf->log, 0,
                         "SSL_CONF_CTX_finish() failed");
            SSL_CONF_CTX_free(cctx);
            return PT_CONF_ERROR;
        }

        SSL_CONF_CTX_free(cctx);
    }

    return PT_CONF_OK;
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
 * Every server reached through a "listen ... ssl" address must have a
 * certificate; the connection handler learns that TLS is here.
 */
static pt_int_t
pt_http_ssl_init(pt_conf_t *cf)
{
    pt_uint_t                   p, a, s;
    pt_http_conf_port_t        *port;
    pt_http_conf_addr_t        *addr;
    pt_http_ssl_srv_conf_t     *sscf;
    pt_http_core_srv_conf_t   **cscfp;
    pt_http_core_main_conf_t   *cmcf;

    pt_http_ssl_init_connection = pt_http_ssl_start;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

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
                                 "\"listen ... ssl\" directive in %s:%lu",
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

static pt_int_t
pt_http_ssl_variable(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    const char           *s;
    pt_ssl_connection_t  *sc;

    sc = r->connection->ssl;

    if (sc == NULL || sc->connection == NULL) {
        v->not_found = 1;
        return PT_OK;
    }

    switch (data) {
    case 0:
        s = SSL_get_version(sc->connection);
        break;
    case 1:
        s = SSL_get_cipher_name(sc->connection);
        break;
    case 2:
        s = SSL_get_servername(sc->connection, TLSEXT_NAMETYPE_host_name);
        break;
    default:
        s = SSL_session_reused(sc->connection) ? "r" : ".";
        break;
    }

    if (s == NULL) {
        v->not_found = 1;
        return PT_OK;
    }

    v->len = strlen(s);
    v->data = (u_char *) s;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


static pt_http_variable_t  pt_http_ssl_vars[] = {

    { pt_string("ssl_protocol"), NULL, pt_http_ssl_variable, 0, 0, 0 },
    { pt_string("ssl_cipher"), NULL, pt_http_ssl_variable, 1, 0, 0 },
    { pt_string("ssl_server_name"), NULL, pt_http_ssl_variable, 2, 0, 0 },
    { pt_string("ssl_session_reused"), NULL, pt_http_ssl_variable, 3, 0, 0 },

    pt_http_null_variable
};


static pt_int_t
pt_http_ssl_add_variables(pt_conf_t *cf)
{
    pt_http_variable_t  *var, *v;

    for (v = pt_http_ssl_vars; v->name.len; v++) {
        var = pt_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return PT_ERROR;
        }

        *var = *v;
    }

    return PT_OK;
}
