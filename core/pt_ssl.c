/*
 * TLS connections over OpenSSL 3. The context is made at configuration
 * time in the master (certificates are read before privileges drop, and
 * the session ticket keys it generates are then shared by every worker,
 * so a ticket from one worker resumes on another).
 */
#include "pt_core.h"
#include "pt_ssl.h"


#define PT_SSL_BUFFER_SIZE  16384   /* one TLS record of plaintext */


int  pt_ssl_connection_index = -1;
int  pt_ssl_server_conf_index = -1;


void
pt_ssl_error(pt_uint_t level, pt_log_t *log, pt_err_t err, const char *fmt,
    ...)
{
    int            n;
    size_t         len;
    va_list        args;
    const char    *data;
    unsigned long  e;
    char           buf[PT_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);

    len = (n < 0) ? 0 : pt_min((size_t) n, sizeof(buf) - 1);

    /* the queue of OpenSSL errors says what went wrong, oldest first */
    for ( ;; ) {
        e = ERR_get_error_all(NULL, NULL, NULL, &data, NULL);

        if (e == 0) {
            break;
        }

        if (len < sizeof(buf) - 3) {
            n = snprintf(buf + len, sizeof(buf) - len, "%s%s",
                         len ? " (SSL: " : "(SSL: ",
                         ERR_reason_error_string(e)
                         ? ERR_reason_error_string(e) : "unknown error");
            len += (n < 0) ? 0 : pt_min((size_t) n, sizeof(buf) - len - 1);

            if (data && *data && len < sizeof(buf) - 3) {
                n = snprintf(buf + len, sizeof(buf) - len, ":%s", data);
                len += (n < 0) ? 0 : pt_min((size_t) n,
                                            sizeof(buf) - len - 1);
            }

            if (len < sizeof(buf) - 2) {
                buf[len++] = ')';
            }
        }
    }

    buf[len] = '\0';

    pt_log_error(level, log, err, "%s", buf);
}


pt_int_t
pt_ssl_init(pt_log_t *log)
{
    if (pt_ssl_connection_index != -1) {
        return PT_OK;
    }

    if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) == 0) {
        pt_ssl_error(PT_LOG_ALERT, log, 0, "OPENSSL_init_ssl() failed");
        return PT_ERROR;
    }

    ERR_clear_error();

    pt_ssl_connection_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
                                                   NULL);
    pt_ssl_server_conf_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
                                                        NULL);

    if (pt_ssl_connection_index == -1 || pt_ssl_server_conf_index == -1) {
        pt_ssl_error(PT_LOG_ALERT, log, 0, "SSL ex data index failed");
        return PT_ERROR;
    }

    return PT_OK;
}


pt_int_t
pt_ssl_create(pt_ssl_t *ssl, pt_uint_t protocols, void *data)
{
    int  min, max;

    ssl->ctx = SSL_CTX_new(TLS_server_method());

    if (ssl->ctx == NULL) {
        pt_ssl_error(PT_LOG_EMERG, ssl->log, 0, "SSL_CTX_new() failed");
        return PT_ERROR;
    }

    if (SSL_CTX_set_ex_data(ssl->ctx, pt_ssl_server_conf_index, data) == 0) {
        pt_ssl_error(PT_LOG_EMERG, ssl->log, 0, "SSL_CTX_set_ex_data() failed");
        return PT_ERROR;
    }

    min = (protocols & PT_SSL_TLSv1) ? TLS1_VERSION
          : (protocols & PT_SSL_TLSv1_1) ? TLS1_1_VERSION
          : (protocols & PT_SSL_TLSv1_2) ? TLS1_2_VERSION : TLS1_3_VERSION;

    max = (protocols & PT_SSL_TLSv1_3) ? TLS1_3_VERSION
          : (protocols & PT_SSL_TLSv1_2) ? TLS1_2_VERSION
          : (protocols & PT_SSL_TLSv1_1) ? TLS1_1_VERSION : TLS1_VERSION;

    if (min < TLS1_2_VERSION) {
        /* OpenSSL 3 refuses old protocols at its default security level */
        SSL_CTX_set_security_level(ssl->ctx, 0);
    }

    SSL_CTX_set_min_proto_version(ssl->ctx, min);
    SSL_CTX_set_max_proto_version(ssl->ctx, max);

    SSL_CTX_set_options(ssl->ctx, SSL_OP_NO_COMPRESSION
                                  | SSL_OP_NO_RENEGOTIATION
                                  | SSL_OP_SINGLE_DH_USE
                                  | SSL_OP_SINGLE_ECDH_USE);

    /* idle connections keep no record buffers */
    SSL_CTX_set_mode(ssl->ctx, SSL_MODE_RELEASE_BUFFERS
                               | SSL_MODE_ENABLE_PARTIAL_WRITE
                               | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    SSL_CTX_set_read_ahead(ssl->ctx, 1);

    return PT_OK;
}


void
pt_ssl_cleanup_ctx(void *data)
{
    pt_ssl_t  *ssl = data;

    SSL_CTX_free(ssl->ctx);
    ssl->ctx = NULL;
}


static int
pt_ssl_password_callback(char *buf, int size, int rwflag, void *userdata)
{
    pt_str_t  *pwd = userdata;

    if (pwd == NULL || rwflag) {
        return 0;
    }

    if ((size_t) size < pwd->len) {
        return 0;
    }

    pt_memcpy(buf, pwd->data, pwd->len);

    return (int) pwd->len;
}


pt_int_t
pt_ssl_certificate(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *cert,
    pt_str_t *key, pt_array_t *passwords)
{
    pt_uint_t   i;
    pt_str_t    full_cert, full_key, *pwd;

    full_cert = *cert;
    full_key = *key;

    if (pt_conf_full_name(cf->cycle, &full_cert, 1) != PT_OK
        || pt_conf_full_name(cf->cycle, &full_key, 1) != PT_OK)
    {
        return PT_ERROR;
    }

    if (SSL_CTX_use_certificate_chain_file(ssl->ctx,
                                           (char *) full_cert.data) != 1)
    {
        pt_ssl_error(PT_LOG_EMERG, cf->log, 0,
                     "cannot load certificate \"%s\"",
                     (char *) full_cert.data);
        return PT_ERROR;
    }

    pwd = passwords ? passwords->elts : NULL;

    for (i = 0; ; i++) {
        SSL_CTX_set_default_passwd_cb(ssl->ctx, pt_ssl_password_callback);
        SSL_CTX_set_default_passwd_cb_userdata(ssl->ctx,
            (pwd && i < passwords->nelts) ? &pwd[i] : NULL);

        if (SSL_CTX_use_PrivateKey_file(ssl->ctx, (char *) full_key.data,
                                        SSL_FILETYPE_PEM) == 1)
        {
            break;
        }

        if (pwd && i + 1 < passwords->nelts) {
            ERR_clear_error();
            continue;       /* the next password of ssl_password_file */
        }

        pt_ssl_error(PT_LOG_EMERG, cf->log, 0,
                     "cannot load certificate key \"%s\"",
                     (char *) full_key.data);
        SSL_CTX_set_default_passwd_cb(ssl->ctx, NULL);
        return PT_ERROR;
    }

    SSL_CTX_set_default_passwd_cb(ssl->ctx, NULL);
    SSL_CTX_set_default_passwd_cb_userdata(ssl->ctx, NULL);

    if (SSL_CTX_check_private_key(ssl->ctx) != 1) {
        pt_ssl_error(PT_LOG_EMERG, cf->log, 0,
                     "the key \"%s\" does not match the certificate \"%s\"",
                     (char *) full_key.data, (char *) full_cert.data);
        return PT_ERROR;
    }

    return PT_OK;
}


pt_int_t
pt_ssl_ciphers(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *ciphers,
    pt_uint_t prefer_server_ciphers)
{
    if (SSL_CTX_set_cipher_list(ssl->ctx, (char *) ciphers->data) != 1) {
        pt_ssl_error(PT_LOG_EMERG, cf->log, 0,
                     "SSL_CTX_set_cipher_list(\"%s\") failed",
                     (char *) ciphers->data);
        return PT_ERROR;
    }

    if (prefer_server_ciphers) {
        SSL_CTX_set_options(ssl->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }

    return PT_OK;
}


pt_int_t
pt_ssl_ecdh_curve(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *name)
{
    if (SSL_CTX_set1_groups_list(ssl->ctx, (char *) name->data) != 1) {
        pt_ssl_error(PT_LOG_EMERG, cf->log, 0,
                     "SSL_CTX_set1_groups_list(\"%s\") failed",
                     (char *) name->data);
        return PT_ERROR;
    }

    return PT_OK;
}


pt_int_t
pt_ssl_session_cache(pt_ssl_t *ssl, pt_uint_t tickets, time_t timeout)
{
    SSL_CTX_set_session_cache_mode(ssl->ctx, SSL_SESS_CACHE_SERVER
                                             | SSL_SESS_CACHE_NO_AUTO_CLEAR);
    SSL_CTX_set_timeout(ssl->ctx, (long) timeout);

    /* the same context id in every worker: resumption may cross them */
    SSL_CTX_set_session_id_context(ssl->ctx, (u_char *) "portico",
                                   sizeof("portico") - 1);

    if (!tickets) {
        SSL_CTX_set_options(ssl->ctx, SSL_OP_NO_TICKET);
    }

    return PT_OK;
}


static void
pt_ssl_connection_cleanup(void *data)
{
    pt_connection_t      *c = data;
    pt_ssl_connection_t  *sc;

    sc = c->ssl;

    if (sc && sc->connection) {
        SSL_free(sc->connection);
        sc->connection = NULL;
    }
}


pt_int_t
pt_ssl_create_connection(pt_ssl_t *ssl, pt_connection_t *c)
{
    pt_pool_cleanup_t    *cln;
    pt_ssl_connection_t  *sc;

    sc = pt_pcalloc(c->pool, sizeof(pt_ssl_connection_t));
    cln = pt_pool_cleanup_add(c->pool, 0);
    if (sc == NULL || cln == NULL) {
        return PT_ERROR;
    }

    sc->connection = SSL_new(ssl->ctx);

    if (sc->connection == NULL) {
        pt_ssl_error(PT_LOG_ALERT, c->log, 0, "SSL_new() failed");
        return PT_ERROR;
    }

    if (SSL_set_fd(sc->connection, c->fd) == 0
        || SSL_set_ex_data(sc->connection, pt_ssl_connection_index, c) == 0)
    {
        pt_ssl_error(PT_LOG_ALERT, c->log, 0, "SSL_set_fd() failed");
        SSL_free(sc->connection);
        sc->connection = NULL;
        return PT_ERROR;
    }

    SSL_set_accept_state(sc->connection);

    cln->handler = pt_ssl_connection_cleanup;
    cln->data = c;

    c->ssl = sc;

    return PT_OK;
}


static void
pt_ssl_handshake_handler(pt_event_t *ev)
{
    pt_connection_t      *c;
    pt_ssl_connection_t  *sc;

    c = ev->data;
    sc = c->ssl;

    if (ev->timedout) {
        c->timedout = 1;
        sc->handler(c);
        return;
    }

    if (pt_ssl_handshake(c) == PT_AGAIN) {
        return;
    }

    sc->handler(c);
}


pt_int_t
pt_ssl_handshake(pt_connection_t *c)
{
    int                   n, sslerr;
    pt_err_t              err;
    pt_ssl_connection_t  *sc;

    sc = c->ssl;

    ERR_clear_error();

    n = SSL_do_handshake(sc->connection);

    if (n == 1) {
        sc->handshaked = 1;

        c->recv = pt_ssl_recv;
        c->send = pt_ssl_write;
        c->send_chain = pt_ssl_send_chain;

        /* data that came with the last flight may wait inside OpenSSL */
        c->read->ready = 1;
        c->write->ready = 1;

        return PT_OK;
    }

    sslerr = SSL_get_error(sc->connection, n);
    err = (sslerr == SSL_ERROR_SYSCALL) ? errno : 0;

    if (sslerr == SSL_ERROR_WANT_READ) {
        c->read->ready = 0;
        c->read->handler = pt_ssl_handshake_handler;
        c->write->handler = pt_ssl_handshake_handler;
        return PT_AGAIN;
    }

    if (sslerr == SSL_ERROR_WANT_WRITE) {
        c->write->ready = 0;
        c->read->handler = pt_ssl_handshake_handler;
        c->write->handler = pt_ssl_handshake_handler;
        return PT_AGAIN;
    }

    c->read->error = 1;
    c->write->error = 1;
    sc->no_wait_shutdown = 1;

    if (sslerr == SSL_ERROR_ZERO_RETURN || (sslerr == SSL_ERROR_SYSCALL
                                            && err == 0))
    {
        pt_log_error(PT_LOG_INFO, c->log, 0,
                     "client closed connection in SSL handshake");
        return PT_ERROR;
    }

    pt_ssl_error(PT_LOG_INFO, c->log, err, "SSL_do_handshake() failed");

    return PT_ERROR;
}


ssize_t
pt_ssl_recv(pt_connection_t *c, u_char *buf, size_t size)
{
    int                   n, sslerr;
    pt_err_t              err;
    pt_ssl_connection_t  *sc;

    sc = c->ssl;

    ERR_clear_error();

    n = SSL_read(sc->connection, buf, (int) pt_min(size, (size_t) INT_MAX));

    if (n > 0) {
        /*
         * A short read does not mean the socket is drained: OpenSSL may
         * hold more records. The next call finds out (WANT_READ).
         */
        return n;
    }

    sslerr = SSL_get_error(sc->connection, n);
    err = (sslerr == SSL_ERROR_SYSCALL) ? errno : 0;

    if (sslerr == SSL_ERROR_WANT_READ) {
        c->read->ready = 0;
        return PT_AGAIN;
    }

    if (sslerr == SSL_ERROR_WANT_WRITE) {
        /* renegotiation is off; a TLS 1.3 key update can still ask */
        c->read->ready = 0;
        return PT_AGAIN;
    }

    c->read->ready = 0;
    c->read->eof = 1;
    sc->no_wait_shutdown = 1;

    if (sslerr == SSL_ERROR_ZERO_RETURN
        || (sslerr == SSL_ERROR_SYSCALL && err == 0))
    {
        return 0;
    }

    c->read->error = 1;
    pt_ssl_error(PT_LOG_INFO, c->log, err, "SSL_read() failed");

    return PT_ERROR;
}


ssize_t
pt_ssl_write(pt_connection_t *c, u_char *data, size_t size)
{
    int                   n, sslerr;
    pt_err_t              err;
    pt_ssl_connection_t  *sc;

    sc = c->ssl;

    ERR_clear_error();

    n = SSL_write(sc->connection, data, (int) pt_min(size, (size_t) INT_MAX));

    if (n > 0) {
        c->sent += n;
        return n;
    }

    sslerr = SSL_get_error(sc->connection, n);
    err = (sslerr == SSL_ERROR_SYSCALL) ? errno : 0;

    if (sslerr == SSL_ERROR_WANT_WRITE || sslerr == SSL_ERROR_WANT_READ) {
        c->write->ready = 0;
        return PT_AGAIN;
    }

    c->write->error = 1;
    sc->no_wait_shutdown = 1;

    pt_ssl_error(err == EPIPE || err == ECONNRESET ? PT_LOG_INFO
                                                   : PT_LOG_ERR,
                 c->log, err, "SSL_write() failed");

    return PT_ERROR;
}


/*
 * Sends a chain through TLS. Small memory buffers and file data are
 * gathered into one plaintext buffer per record, so a head and a short
 * body make one record, not two.
 */
pt_chain_t *
pt_ssl_send_chain(pt_connection_t *c, pt_chain_t *in, off_t limit)
{
    off_t      sent;
    size_t     size, n;
    ssize_t    w, rd;
    u_char     staging[PT_SSL_BUFFER_SIZE];
    pt_buf_t  *b;

    if (!c->write->ready) {
        return in;
    }

    if (limit == 0) {
        limit = PT_MAX_OFF_T_VALUE;
    }

    sent = 0;

    for ( ;; ) {

        while (in && (pt_buf_special(in->buf) || pt_buf_size(in->buf) == 0)) {
            in = in->next;
        }

        if (in == NULL || sent >= limit) {
            return in;
        }

        /* fill the staging buffer from the front of the chain */
        size = 0;

        {
            pt_chain_t  *cl;

            for (cl = in; cl && size < sizeof(staging); cl = cl->next) {
                b = cl->buf;

                if (pt_buf_special(b) || pt_buf_size(b) == 0) {
                    continue;
                }

                n = (size_t) pt_min((off_t) (sizeof(staging) - size),
                                    pt_buf_size(b));
                n = (size_t) pt_min((off_t) n, limit - sent - (off_t) size);

                if (n == 0) {
                    break;
                }

                if (pt_buf_in_memory(b)) {
                    pt_memcpy(staging + size, b->pos, n);

                } else {
                    rd = pread(b->file->fd, staging + size, n, b->file_pos);

                    if (rd <= 0) {
                        pt_log_error(PT_LOG_CRIT, c->log, rd ? errno : 0,
                                     "pread() of \"%.*s\" failed",
                                     PT_STR_ARG(b->file->name));
                        c->write->error = 1;
                        return PT_CHAIN_ERROR;
                    }

                    n = (size_t) rd;
                }

                size += n;
            }
        }

        w = pt_ssl_write(c, staging, size);

        if (w == PT_ERROR) {
            return PT_CHAIN_ERROR;
        }

        if (w == PT_AGAIN) {
            /*
             * OpenSSL keeps the record it started and wants the same bytes
             * again (moving buffer allowed), which the chain still holds.
             */
            return in;
        }

        sent += w;

        /* advance the chain over what went */
        n = (size_t) w;

        while (in && n) {
            b = in->buf;

            if (pt_buf_special(b)) {
                in = in->next;
                continue;
            }

            size = (size_t) pt_min((off_t) n, pt_buf_size(b));

            if (pt_buf_in_memory(b)) {
                b->pos += size;
            } else {
                b->file_pos += size;
            }

            n -= size;

            if (pt_buf_size(b) == 0) {
                in = in->next;
            }
        }
    }
}


pt_int_t
pt_ssl_shutdown(pt_connection_t *c)
{
    pt_ssl_connection_t  *sc;

    sc = c->ssl;

    if (sc == NULL || sc->connection == NULL) {
        return PT_OK;
    }

    if (sc->handshaked && !sc->no_wait_shutdown && !c->error
        && !c->read->error && !c->write->error)
    {
        /* close_notify, without waiting for the peer's */
        SSL_set_quiet_shutdown(sc->connection, 0);
        ERR_clear_error();
        (void) SSL_shutdown(sc->connection);
    }

    ERR_clear_error();

    SSL_free(sc->connection);
    sc->connection = NULL;

    return PT_OK;
}
