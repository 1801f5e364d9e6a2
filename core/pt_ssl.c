/*
 * TLS connections over OpenSSL 3. The context is made at configuration
 * time in the master (certificates are read before privileges drop, and
 * the session ticket keys it generates are then shared by every worker,
 * so a ticket from one worker resumes on another). The server side of
 * resumption lives here too: a session cache in a shared zone, ticket
 * keys read from files or kept in that zone, and the stapled OCSP
 * response.
 */
#include "pt_core.h"
#include "pt_ssl.h"
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/core_names.h>


#define PT_SSL_BUFFER_SIZE  16384   /* one TLS record of plaintext */


int  pt_ssl_connection_index = -1;
int  pt_ssl_server_conf_index = -1;
int  pt_ssl_index = -1;
static int  pt_ssl_session_ctx_index = -1;


static void pt_ssl_error_text(char *buf, size_t size, const char *fmt,
    va_list args);
static void pt_ssl_error_string(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pt_ssl_handshake_failure(pt_connection_t *c, int sslerr,
    pt_err_t err);
static pt_int_t pt_ssl_create_client(pt_ssl_t *ssl, pt_uint_t protocols);
static pt_int_t pt_ssl_trusted_certificate(pt_conf_t *cf, pt_ssl_t *ssl,
    pt_str_t *file, pt_int_t depth);
static int pt_ssl_verify_callback(int ok, X509_STORE_CTX *x509_store);
static int pt_ssl_certificate_status(SSL *ssl_conn, void *data);
static int pt_ssl_ticket_key_callback(SSL *ssl_conn, unsigned char *name,
    unsigned char *iv, EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc);
static pt_int_t pt_ssl_ticket_keys_create(pt_conf_t *cf, pt_ssl_t *ssl);
static pt_int_t pt_ssl_ticket_key_find(pt_ssl_t *ssl, u_char *name);
static pt_int_t pt_ssl_ticket_keys_sync(pt_ssl_t *ssl, pt_log_t *log);
static int pt_ssl_new_client_session(SSL *ssl_conn, SSL_SESSION *sess);
static pt_int_t pt_ssl_session_id_context(pt_conf_t *cf, pt_ssl_t *ssl,
    pt_str_t *sess_ctx);
static int pt_ssl_new_session(SSL *ssl_conn, SSL_SESSION *sess);
static SSL_SESSION *pt_ssl_get_cached_session(SSL *ssl_conn,
    const unsigned char *id, int len, int *copy);
static void pt_ssl_remove_session(SSL_CTX *ctx, SSL_SESSION *sess);


/* fmt, then OpenSSL's queue of errors, oldest first (it is emptied) */
static void
pt_ssl_error_text(char *buf, size_t size, const char *fmt, va_list args)
{
    int            n;
    size_t         len;
    const char    *data, *reason, *last;
    unsigned long  e;

    last = NULL;

    n = vsnprintf(buf, size, fmt, args);

    len = (n < 0) ? 0 : pt_min((size_t) n, size - 1);

    for ( ;; ) {
        e = ERR_get_error_all(NULL, NULL, NULL, &data, NULL);

        if (e == 0) {
            break;
        }

        if (len >= size - 3) {
            continue;
        }

        /* a system error reads best as errno's text */
        reason = ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e))
                                     : ERR_reason_error_string(e);

        if (reason && last && strcmp(reason, last) == 0) {
            continue;
        }

        last = reason;

        n = snprintf(buf + len, size - len, "%s%s",
                     len ? " (SSL: " : "(SSL: ",
                     reason ? reason : "unknown error");
        len += (n < 0) ? 0 : pt_min((size_t) n, size - len - 1);

        if (data && *data && len < size - 3) {
            n = snprintf(buf + len, size - len, ":%s", data);
            len += (n < 0) ? 0 : pt_min((size_t) n, size - len - 1);
        }

        if (len < size - 2) {
            buf[len++] = ')';
        }
    }

    buf[len] = '\0';
}


/* fmt and OpenSSL's queued errors into buf, without logging them */
static void
pt_ssl_error_string(char *buf, size_t size, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    pt_ssl_error_text(buf, size, fmt, args);
    va_end(args);
}


void
pt_ssl_error(pt_uint_t level, pt_log_t *log, pt_err_t err, const char *fmt,
    ...)
{
    va_list  args;
    char     buf[PT_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    pt_ssl_error_text(buf, sizeof(buf), fmt, args);
    va_end(args);

    pt_log_error(level, log, err, "%s", buf);
}


void
pt_ssl_conf_error(pt_conf_t *cf, const char *fmt, ...)
{
    va_list  args;
    char     buf[PT_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    pt_ssl_error_text(buf, sizeof(buf), fmt, args);
    va_end(args);

    pt_conf_log_error(PT_LOG_EMERG, cf, 0, "%s", buf);
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
    pt_ssl_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    pt_ssl_session_ctx_index = SSL_SESSION_get_ex_new_index(0, NULL, NULL,
                                                            NULL, NULL);

    if (pt_ssl_connection_index == -1 || pt_ssl_server_conf_index == -1
        || pt_ssl_index == -1 || pt_ssl_session_ctx_index == -1)
    {
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

    if (SSL_CTX_set_ex_data(ssl->ctx, pt_ssl_server_conf_index, data) == 0
        || SSL_CTX_set_ex_data(ssl->ctx, pt_ssl_index, ssl) == 0)
    {
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

    /*
     * Most clients close without close_notify. OpenSSL 3 takes that for an
     * error and drops the session from the caches, so that it could not
     * be resumed; HTTP's own framing tells whether a message is whole.
     */
    SSL_CTX_set_options(ssl->ctx, SSL_OP_NO_COMPRESSION
                                  | SSL_OP_NO_RENEGOTIATION
                                  | SSL_OP_SINGLE_DH_USE
                                  | SSL_OP_SINGLE_ECDH_USE
                                  | SSL_OP_IGNORE_UNEXPECTED_EOF);

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

    if (ssl->ctx == NULL) {
        return;
    }

    /*
     * The sessions OpenSSL frees with its context stay in the shared
     * cache (other workers serve them), whose zone may be unmapped by now.
     */
    SSL_CTX_sess_set_remove_cb(ssl->ctx, NULL);
    ssl->session_cache = NULL;

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
pt_ssl_certificate(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *cert)
{
    pt_str_t  full;

    full = *cert;

    if (pt_conf_full_name(cf->cycle, &full, 1) != PT_OK) {
        return PT_ERROR;
    }

    if (SSL_CTX_use_certificate_chain_file(ssl->ctx, (char *) full.data)
        != 1)
    {
        pt_ssl_conf_error(cf, "cannot load certificate \"%s\"",
                          (char *) full.data);
        return PT_ERROR;
    }

    return PT_OK;
}


pt_int_t
pt_ssl_certificate_key(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *cert,
    pt_str_t *key, pt_array_t *passwords)
{
    pt_int_t        rc;
    pt_uint_t       i;
    pt_str_t        full_cert, full_key, *pwd;
    unsigned long   e;

    full_cert = *cert;
    full_key = *key;

    if (pt_conf_full_name(cf->cycle, &full_cert, 1) != PT_OK
        || pt_conf_full_name(cf->cycle, &full_key, 1) != PT_OK)
    {
        return PT_ERROR;
    }

    rc = PT_ERROR;
    pwd = passwords ? passwords->elts : NULL;

    SSL_CTX_set_default_passwd_cb(ssl->ctx, pt_ssl_password_callback);

    for (i = 0; ; i++) {
        SSL_CTX_set_default_passwd_cb_userdata(ssl->ctx,
            (pwd && i < passwords->nelts) ? &pwd[i] : NULL);

        if (SSL_CTX_use_PrivateKey_file(ssl->ctx, (char *) full_key.data,
                                        SSL_FILETYPE_PEM) == 1)
        {
            break;
        }

        e = ERR_peek_last_error();

        if (ERR_GET_LIB(e) == ERR_LIB_X509
            && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
        {
            /* a good key, but not the certificate's */
            goto mismatch;
        }

        if (pwd && i + 1 < passwords->nelts) {
            ERR_clear_error();
            continue;       /* the next password of ssl_password_file */
        }

        pt_ssl_conf_error(cf, "cannot load certificate key \"%s\"",
                          (char *) full_key.data);
        goto done;
    }

    /* a key of another type than the certificate's */
    if (SSL_CTX_check_private_key(ssl->ctx) != 1) {
        goto mismatch;
    }

    rc = PT_OK;
    goto done;

mismatch:

    pt_ssl_conf_error(cf, "the key \"%s\" does not match the certificate "
                      "\"%s\"", (char *) full_key.data,
                      (char *) full_cert.data);

done:

    SSL_CTX_set_default_passwd_cb(ssl->ctx, NULL);
    SSL_CTX_set_default_passwd_cb_userdata(ssl->ctx, NULL);

    return rc;
}


pt_int_t
pt_ssl_ciphers(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *ciphers,
    pt_uint_t prefer_server_ciphers)
{
    if (SSL_CTX_set_cipher_list(ssl->ctx, (char *) ciphers->data) != 1) {
        pt_ssl_conf_error(cf, "SSL_CTX_set_cipher_list(\"%s\") failed",
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
        pt_ssl_conf_error(cf, "SSL_CTX_set1_groups_list(\"%s\") failed",
                          (char *) name->data);
        return PT_ERROR;
    }

    return PT_OK;
}


/* the verdict on a client certificate is the HTTP layer's, at request time */
static int
pt_ssl_verify_callback(int ok, X509_STORE_CTX *x509_store)
{
    return 1;
}


pt_int_t
pt_ssl_client_certificate(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *cert,
    pt_int_t depth)
{
    pt_str_t                full;
    STACK_OF(X509_NAME)    *list;

    SSL_CTX_set_verify(ssl->ctx, SSL_VERIFY_PEER, pt_ssl_verify_callback);
    SSL_CTX_set_verify_depth(ssl->ctx, (int) depth);

    if (cert->len == 0) {
        return PT_OK;
    }

    full = *cert;

    if (pt_conf_full_name(cf->cycle, &full, 1) != PT_OK) {
        return PT_ERROR;
    }

    if (SSL_CTX_load_verify_locations(ssl->ctx, (char *) full.data, NULL)
        != 1)
    {
        pt_ssl_conf_error(cf, "cannot load client CA certificates \"%s\"",
                          (char *) full.data);
        return PT_ERROR;
    }

    /* the CAs are named in the certificate request */
    ERR_clear_error();

    list = SSL_load_client_CA_file((char *) full.data);

    if (list == NULL) {
        pt_ssl_conf_error(cf, "cannot load client CA names from \"%s\"",
                          (char *) full.data);
        return PT_ERROR;
    }

    SSL_CTX_set_client_CA_list(ssl->ctx, list);

    return PT_OK;
}


pt_int_t
pt_ssl_crl(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *crl)
{
    pt_str_t       full;
    X509_STORE    *store;
    X509_LOOKUP   *lookup;

    full = *crl;

    if (pt_conf_full_name(cf->cycle, &full, 1) != PT_OK) {
        return PT_ERROR;
    }

    store = SSL_CTX_get_cert_store(ssl->ctx);

    lookup = store ? X509_STORE_add_lookup(store, X509_LOOKUP_file()) : NULL;

    if (lookup == NULL
        || X509_LOOKUP_load_file(lookup, (char *) full.data,
                                 X509_FILETYPE_PEM) != 1)
    {
        pt_ssl_conf_error(cf, "cannot load CRL \"%s\"", (char *) full.data);
        return PT_ERROR;
    }

    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK
                                | X509_V_FLAG_CRL_CHECK_ALL);

    return PT_OK;
}


pt_uint_t
pt_ssl_verify_error_optional(long n)
{
    return n == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
           || n == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
           || n == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
           || n == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
           || n == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}


/* OCSP stapling from a file: no responder is ever asked */

pt_int_t
pt_ssl_stapling_file(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *file)
{
    pt_str_t              full, der;
    const u_char         *p;
    OCSP_RESPONSE        *resp;

    full = *file;

    if (pt_conf_full_name(cf->cycle, &full, 1) != PT_OK) {
        return PT_ERROR;
    }

    if (pt_read_whole_file(cf->pool, (char *) full.data, 1024 * 1024, &der)
        != PT_OK)
    {
        pt_conf_log_error(PT_LOG_EMERG, cf, errno, "cannot read \"%s\"",
                          (char *) full.data);
        return PT_ERROR;
    }

    p = der.data;
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long) der.len);

    if (resp == NULL || p != der.data + der.len) {
        OCSP_RESPONSE_free(resp);
        pt_ssl_conf_error(cf, "\"%s\" is not a DER OCSP response",
                          (char *) full.data);
        return PT_ERROR;
    }

    OCSP_RESPONSE_free(resp);

    ssl->staple = der;

    SSL_CTX_set_tlsext_status_cb(ssl->ctx, pt_ssl_certificate_status);
    SSL_CTX_set_tlsext_status_arg(ssl->ctx, ssl);

    return PT_OK;
}


/* called only when the client asked for the status of the certificate */
static int
pt_ssl_certificate_status(SSL *ssl_conn, void *data)
{
    u_char    *p;
    pt_ssl_t  *ssl = data;

    if (ssl->staple.len == 0) {
        return SSL_TLSEXT_ERR_NOACK;
    }

    /* OpenSSL takes the copy and frees it */
    p = OPENSSL_malloc(ssl->staple.len);
    if (p == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }

    pt_memcpy(p, ssl->staple.data, ssl->staple.len);

    if (SSL_set_tlsext_status_ocsp_resp(ssl_conn, p, (long) ssl->staple.len)
        != 1)
    {
        OPENSSL_free(p);
        return SSL_TLSEXT_ERR_NOACK;
    }

    return SSL_TLSEXT_ERR_OK;
}


/* session tickets under keys from files (nginx's 48- and 80-byte format) */

pt_int_t
pt_ssl_session_ticket_key(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *file)
{
    pt_str_t              full, buf;
    pt_ssl_ticket_key_t  *key;

    full = *file;

    if (pt_conf_full_name(cf->cycle, &full, 1) != PT_OK) {
        return PT_ERROR;
    }

    if (pt_read_whole_file(cf->temp_pool ? cf->temp_pool : cf->pool,
                           (char *) full.data, 80, &buf) != PT_OK)
    {
        pt_conf_log_error(PT_LOG_EMERG, cf, errno, "cannot read \"%s\"",
                          (char *) full.data);
        return PT_ERROR;
    }

    if (buf.len != 48 && buf.len != 80) {
        pt_conf_log_error(PT_LOG_EMERG, cf, 0,
                          "\"%s\" must be 48 or 80 bytes, not %lu",
                          (char *) full.data, (unsigned long) buf.len);
        OPENSSL_cleanse(buf.data, buf.len);
        return PT_ERROR;
    }

    if (ssl->ticket_keys == NULL
        && pt_ssl_ticket_keys_create(cf, ssl) != PT_OK)
    {
        OPENSSL_cleanse(buf.data, buf.len);
        return PT_ERROR;
    }

    key = pt_array_push(ssl->ticket_keys);
    if (key == NULL) {
        OPENSSL_cleanse(buf.data, buf.len);
        return PT_ERROR;
    }

    key->size = buf.len;
    key->expire = 0;
    pt_memcpy(key->name, buf.data, 16);

    if (buf.len == 48) {
        pt_memcpy(key->aes_key, buf.data + 16, 16);
        pt_memcpy(key->hmac_key, buf.data + 32, 16);

    } else {
        pt_memcpy(key->hmac_key, buf.data + 16, 32);
        pt_memcpy(key->aes_key, buf.data + 48, 32);
    }

    OPENSSL_cleanse(buf.data, buf.len);

    return PT_OK;
}


/* ticket keys of our own, instead of the ones OpenSSL made */
static pt_int_t
pt_ssl_ticket_keys_create(pt_conf_t *cf, pt_ssl_t *ssl)
{
    ssl->ticket_keys = pt_array_create(cf->pool, 2,
                                       sizeof(pt_ssl_ticket_key_t));
    if (ssl->ticket_keys == NULL) {
        return PT_ERROR;
    }

    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ssl->ctx,
                                             pt_ssl_ticket_key_callback)
        != 1)
    {
        pt_ssl_conf_error(cf, "cannot use session ticket keys");
        return PT_ERROR;
    }

    return PT_OK;
}


/* the index of the key named name, or PT_DECLINED */
static pt_int_t
pt_ssl_ticket_key_find(pt_ssl_t *ssl, u_char *name)
{
    pt_uint_t             i;
    pt_ssl_ticket_key_t  *key;

    key = ssl->ticket_keys->elts;

    for (i = 0; i < ssl->ticket_keys->nelts; i++) {
        if (pt_memcmp(name, key[i].name, 16) == 0) {
            return (pt_int_t) i;
        }
    }

    return PT_DECLINED;
}


/*
 * enc 1: a new ticket, under the first key. enc 0: the key named by the
 * ticket; 2 asks OpenSSL to issue a new ticket under the first key.
 */
static int
pt_ssl_ticket_key_callback(SSL *ssl_conn, unsigned char *name,
    unsigned char *iv, EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    pt_int_t              i;
    pt_uint_t             fresh;
    pt_ssl_t             *ssl;
    OSSL_PARAM            params[3];
    pt_connection_t      *c;
    const EVP_CIPHER     *cipher;
    pt_ssl_ticket_key_t  *key;

    c = SSL_get_ex_data(ssl_conn, pt_ssl_connection_index);
    ssl = SSL_CTX_get_ex_data(((pt_ssl_connection_t *) c->ssl)->session_ctx,
                              pt_ssl_index);

    if (ssl == NULL || ssl->ticket_keys == NULL) {
        return -1;
    }

    key = ssl->ticket_keys->elts;

    /*
     * Generated keys: the zone is read when this process's copy is from
     * an earlier second, for a new ticket (its key must live until the
     * ticket expires, and may be due to change) or for a key another
     * worker made since.
     */
    fresh = !ssl->ticket_keys_shared
            || key[0].expire
               >= pt_time() + SSL_CTX_get_timeout(ssl->ctx);

    if (enc == 1) {
        if (!fresh && pt_ssl_ticket_keys_sync(ssl, c->log) != PT_OK) {
            return -1;
        }

        i = 0;

    } else {
        i = pt_ssl_ticket_key_find(ssl, name);

        if (i == PT_DECLINED && !fresh
            && pt_ssl_ticket_keys_sync(ssl, c->log) == PT_OK)
        {
            i = pt_ssl_ticket_key_find(ssl, name);
        }

        if (i == PT_DECLINED) {
            return 0;   /* unknown key: a full handshake */
        }
    }

    cipher = (key[i].size == 48) ? EVP_aes_128_cbc() : EVP_aes_256_cbc();

    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                    key[i].hmac_key, (key[i].size == 48) ? 16 : 32);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();

    if (EVP_MAC_CTX_set_params(hctx, params) != 1) {
        pt_ssl_error(PT_LOG_ALERT, c->log, 0, "EVP_MAC_CTX_set_params() failed");
        return -1;
    }

    if (enc == 1) {
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher)) != 1
            || EVP_EncryptInit_ex(ectx, cipher, NULL, key[i].aes_key, iv)
               != 1)
        {
            pt_ssl_error(PT_LOG_ALERT, c->log, 0,
                         "cannot encrypt a session ticket");
            return -1;
        }

        pt_memcpy(name, key[i].name, 16);

        return 1;
    }

    if (EVP_DecryptInit_ex(ectx, cipher, NULL, key[i].aes_key, iv) != 1) {
        pt_ssl_error(PT_LOG_ALERT, c->log, 0,
                     "cannot decrypt a session ticket");
        return -1;
    }

    /*
     * A new ticket: under the first key when this one is older, and
     * always under TLS 1.3, where a client uses a ticket once and
     * without a new one would make a full handshake next time.
     */
    return (i == 0 && SSL_version(ssl_conn) != TLS1_3_VERSION) ? 1 : 2;
}


/*
 * A session resumes only in a context with the same certificates and
 * client CAs; the id context is a digest of them, the same in every
 * worker and across reloads that keep them.
 */
static pt_int_t
pt_ssl_session_id_context(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *sess_ctx)
{
    int                    n, i;
    X509                  *cert;
    pt_int_t               rc;
    X509_NAME             *name;
    EVP_MD_CTX            *md;
    unsigned int           len;
    STACK_OF(X509_NAME)   *list;
    u_char                 buf[EVP_MAX_MD_SIZE];

    rc = PT_ERROR;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        goto failed;
    }

    if (EVP_DigestInit_ex(md, EVP_sha1(), NULL) != 1
        || EVP_DigestUpdate(md, sess_ctx->data, sess_ctx->len) != 1)
    {
        goto failed;
    }

    for (n = SSL_CTX_set_current_cert(ssl->ctx, SSL_CERT_SET_FIRST);
         n == 1;
         n = SSL_CTX_set_current_cert(ssl->ctx, SSL_CERT_SET_NEXT))
    {
        cert = SSL_CTX_get0_certificate(ssl->ctx);

        if (cert == NULL
            || X509_digest(cert, EVP_sha1(), buf, &len) != 1
            || EVP_DigestUpdate(md, buf, len) != 1)
        {
            goto failed;
        }
    }

    (void) SSL_CTX_set_current_cert(ssl->ctx, SSL_CERT_SET_FIRST);

    list = SSL_CTX_get_client_CA_list(ssl->ctx);

    for (i = 0; list && i < sk_X509_NAME_num(list); i++) {
        name = sk_X509_NAME_value(list, i);

        if (X509_NAME_digest(name, EVP_sha1(), buf, &len) != 1
            || EVP_DigestUpdate(md, buf, len) != 1)
        {
            goto failed;
        }
    }

    if (EVP_DigestFinal_ex(md, buf, &len) != 1
        || SSL_CTX_set_session_id_context(ssl->ctx, buf, len) != 1)
    {
        goto failed;
    }

    rc = PT_OK;

failed:

    if (rc != PT_OK) {
        pt_ssl_conf_error(cf, "cannot make the session id context");
    }

    EVP_MD_CTX_free(md);

    return rc;
}


pt_int_t
pt_ssl_session_cache(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *sess_ctx,
    pt_int_t builtin, pt_shm_zone_t *zone, time_t timeout, pt_uint_t tickets)
{
    long  mode;

    if (pt_ssl_session_id_context(cf, ssl, sess_ctx) != PT_OK) {
        return PT_ERROR;
    }

    if (!tickets) {
        SSL_CTX_set_options(ssl->ctx, SSL_OP_NO_TICKET);
    }

    /* also the lifetime of TLS 1.3 tickets */
    SSL_CTX_set_timeout(ssl->ctx, (long) timeout);

    if (builtin == PT_SSL_SCACHE_OFF) {
        SSL_CTX_set_session_cache_mode(ssl->ctx, SSL_SESS_CACHE_OFF);
        return PT_OK;
    }

    if (builtin == PT_SSL_SCACHE_NONE) {
        /*
         * Resumption looks allowed (some clients misbehave when a server
         * says it never resumes) but nothing is kept: only tickets work.
         */
        SSL_CTX_set_session_cache_mode(ssl->ctx,
                                       SSL_SESS_CACHE_SERVER
                                       | SSL_SESS_CACHE_NO_AUTO_CLEAR
                                       | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_cache_size(ssl->ctx, 1);
        return PT_OK;
    }

    mode = SSL_SESS_CACHE_SERVER;

    if (zone && builtin == PT_SSL_SCACHE_NO_BUILTIN) {
        mode |= SSL_SESS_CACHE_NO_INTERNAL;
    }

    SSL_CTX_set_session_cache_mode(ssl->ctx, mode);

    if (builtin >= 0) {
        SSL_CTX_sess_set_cache_size(ssl->ctx, builtin);
    }

    if (zone) {
        ssl->session_cache = zone;

        SSL_CTX_sess_set_new_cb(ssl->ctx, pt_ssl_new_session);
        SSL_CTX_sess_set_get_cb(ssl->ctx, pt_ssl_get_cached_session);
        SSL_CTX_sess_set_remove_cb(ssl->ctx, pt_ssl_remove_session);

        if (tickets && ssl->ticket_keys == NULL) {
            /* no key files: the keys of the zone, made when first needed */
            if (pt_ssl_ticket_keys_create(cf, ssl) != PT_OK
                || pt_array_push_n(ssl->ticket_keys, 2) == NULL)
            {
                return PT_ERROR;
            }

            pt_memzero(ssl->ticket_keys->elts,
                       2 * sizeof(pt_ssl_ticket_key_t));
            ssl->ticket_keys_shared = 1;
        }
    }

    return PT_OK;
}


/*
 * The shared session cache: in the zone's slab pool, a tree of sessions
 * by id, and a queue from newest to oldest; a full cache drops its oldest
 * sessions. Sessions are kept serialized (i2d_SSL_SESSION).
 */

typedef struct {
    pt_rbtree_t           tree;         /* by a hash of the session id */
    pt_rbtree_node_t      sentinel;
    pt_queue_t            queue;        /* newest first */
    pt_ssl_ticket_key_t   ticket_keys[2];   /* generated: see
                                               pt_ssl_ticket_keys_sync() */
} pt_ssl_session_cache_t;

typedef struct {
    pt_rbtree_node_t      node;
    pt_queue_t            queue;
    time_t                expire;
    u_short               len;          /* of der */
    u_char                id_len;
    u_char                id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    u_char                der[];
} pt_ssl_sess_node_t;

/* a node fits the slab's largest class: larger sessions are not kept */
#define PT_SSL_MAX_SESSION_SIZE                                              \
    ((size_t) (1 << PT_SLAB_MAX_SHIFT) - offsetof(pt_ssl_sess_node_t, der))


static void
pt_ssl_session_rbtree_insert(pt_rbtree_node_t *temp, pt_rbtree_node_t *node,
    pt_rbtree_node_t *sentinel)
{
    int                  rc;
    pt_rbtree_node_t   **p;
    pt_ssl_sess_node_t  *n, *t;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            n = (pt_ssl_sess_node_t *) node;
            t = (pt_ssl_sess_node_t *) temp;

            rc = pt_memcmp(n->id, t->id, pt_min(n->id_len, t->id_len));
            if (rc == 0) {
                rc = (int) n->id_len - (int) t->id_len;
            }

            p = (rc < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    pt_rbt_red(node);
}


/* with the zone's lock held */
static pt_ssl_session_cache_t *
pt_ssl_session_cache_create(pt_slab_pool_t *sp)
{
    pt_ssl_session_cache_t  *cache;

    cache = pt_slab_alloc_locked(sp, sizeof(pt_ssl_session_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    pt_memzero(cache->ticket_keys, sizeof(cache->ticket_keys));

    pt_rbtree_init(&cache->tree, &cache->sentinel,
                   pt_ssl_session_rbtree_insert);
    pt_queue_init(&cache->queue);

    sp->data = cache;

    return cache;
}


pt_int_t
pt_ssl_session_cache_init(pt_shm_zone_t *zone, void *data)
{
    pt_slab_pool_t  *sp;

    sp = (pt_slab_pool_t *) zone->addr;

    if (data) {
        /* the zone of the previous configuration: its sessions stay */
        zone->data = data;
        return PT_OK;
    }

    (void) pt_shmtx_lock(&sp->mutex);
    zone->data = pt_ssl_session_cache_create(sp);
    pt_shmtx_unlock(&sp->mutex);

    if (zone->data == NULL) {
        pt_log_error(PT_LOG_EMERG, pt_cycle ? pt_cycle->log : NULL, 0,
                     "the SSL session cache \"%.*s\" is too small",
                     PT_STR_ARG(zone->name));
        return PT_ERROR;
    }

    return PT_OK;
}


/*
 * Takes the zone's lock and returns the cache, NULL (lock released) when
 * there is none. When a process died holding the lock the tree may be
 * half-updated: the cache starts again empty.
 */
static pt_ssl_session_cache_t *
pt_ssl_session_cache_lock(pt_shm_zone_t *zone, pt_log_t *log)
{
    pt_slab_pool_t          *sp;
    pt_ssl_session_cache_t  *cache;

    sp = (pt_slab_pool_t *) zone->addr;

    if (pt_shmtx_lock(&sp->mutex) == PT_OK) {
        cache = sp->data;

    } else {
        pt_log_error(PT_LOG_WARN, log, 0,
                     "SSL session cache \"%.*s\" emptied: a process died "
                     "while updating it", PT_STR_ARG(zone->name));
        pt_slab_init(sp, zone->size);
        cache = pt_ssl_session_cache_create(sp);
    }

    if (cache == NULL) {
        pt_shmtx_unlock(&sp->mutex);
    }

    return cache;
}


/*
 * Ticket keys made for a shared cache live in its zone, so that every
 * worker uses them and a reload keeps them. The first encrypts new
 * tickets and lives until the last of them expires; the second is the one
 * before it, kept to decrypt (and replace) the tickets made under it.
 * When the second is over, the first takes its place and a new key comes
 * first: keys change every session timeout while tickets are made.
 * Each process works from a copy, which this brings up to date.
 */
static pt_int_t
pt_ssl_ticket_keys_sync(pt_ssl_t *ssl, pt_log_t *log)
{
    time_t                   now, expire;
    u_char                   buf[80];
    pt_slab_pool_t          *sp;
    pt_ssl_ticket_key_t     *key;
    pt_ssl_session_cache_t  *cache;

    now = pt_time();
    expire = now + SSL_CTX_get_timeout(ssl->ctx);
    sp = (pt_slab_pool_t *) ssl->session_cache->addr;

    cache = pt_ssl_session_cache_lock(ssl->session_cache, log);
    if (cache == NULL) {
        return PT_ERROR;
    }

    key = cache->ticket_keys;

    if (key[1].expire < now) {
        if (RAND_bytes(buf, sizeof(buf)) != 1) {
            pt_shmtx_unlock(&sp->mutex);
            pt_ssl_error(PT_LOG_ALERT, log, 0,
                         "cannot make a session ticket key");
            return PT_ERROR;
        }

        key[1] = key[0];

        key[0].size = sizeof(buf);
        key[0].expire = expire;
        pt_memcpy(key[0].name, buf, 16);
        pt_memcpy(key[0].hmac_key, buf + 16, 32);
        pt_memcpy(key[0].aes_key, buf + 48, 32);
        OPENSSL_cleanse(buf, sizeof(buf));

        if (key[1].expire < now) {
            key[1] = key[0];    /* the first key made, or all were over */
        }

        pt_log_error(PT_LOG_INFO, log, 0,
                     "new session ticket key in SSL session cache \"%.*s\"",
                     PT_STR_ARG(ssl->session_cache->name));
    }

    if (key[0].expire < expire) {
        key[0].expire = expire;
    }

    pt_memcpy(ssl->ticket_keys->elts, key, 2 * sizeof(pt_ssl_ticket_key_t));

    pt_shmtx_unlock(&sp->mutex);

    return PT_OK;
}


static pt_ssl_sess_node_t *
pt_ssl_session_find(pt_ssl_session_cache_t *cache, const u_char *id,
    size_t len)
{
    int                  rc;
    pt_rbtree_key_t      key;
    pt_rbtree_node_t    *node, *sentinel;
    pt_ssl_sess_node_t  *sn;

    key = pt_hash_key(id, len);
    node = cache->tree.root;
    sentinel = cache->tree.sentinel;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        sn = (pt_ssl_sess_node_t *) node;

        rc = pt_memcmp(id, sn->id, pt_min(len, (size_t) sn->id_len));
        if (rc == 0) {
            rc = (int) len - (int) sn->id_len;
        }

        if (rc == 0) {
            return sn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
pt_ssl_session_delete(pt_slab_pool_t *sp, pt_ssl_session_cache_t *cache,
    pt_ssl_sess_node_t *sn)
{
    pt_rbtree_delete(&cache->tree, &sn->node);
    pt_queue_remove(&sn->queue);
    pt_slab_free_locked(sp, sn);
}


static pt_ssl_t *
pt_ssl_session_owner(SSL *ssl_conn, pt_connection_t **cp)
{
    pt_connection_t  *c;

    c = SSL_get_ex_data(ssl_conn, pt_ssl_connection_index);
    if (c == NULL || c->ssl == NULL) {
        return NULL;
    }

    *cp = c;

    return SSL_CTX_get_ex_data(((pt_ssl_connection_t *) c->ssl)->session_ctx,
                               pt_ssl_index);
}


static int
pt_ssl_new_session(SSL *ssl_conn, SSL_SESSION *sess)
{
    int                      len;
    u_char                  *p;
    time_t                   now;
    pt_ssl_t                *ssl;
    pt_uint_t                expired;
    pt_queue_t              *q;
    unsigned int             id_len;
    const u_char            *id;
    pt_slab_pool_t          *sp;
    pt_connection_t         *c;
    pt_ssl_sess_node_t      *sn, *old;
    pt_ssl_session_cache_t  *cache;
    u_char                   buf[PT_SSL_MAX_SESSION_SIZE];

    ssl = pt_ssl_session_owner(ssl_conn, &c);
    if (ssl == NULL || ssl->session_cache == NULL) {
        return 0;
    }

    if (SSL_version(ssl_conn) == TLS1_3_VERSION
        && !(SSL_get_options(ssl_conn) & SSL_OP_NO_TICKET))
    {
        return 0;   /* a stateless ticket carries it: no lookup will come */
    }

    id = SSL_SESSION_get_id(sess, &id_len);
    len = i2d_SSL_SESSION(sess, NULL);

    if (id_len == 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH || len <= 0
        || (size_t) len > sizeof(buf))
    {
        return 0;   /* e.g. a long client certificate chain */
    }

    p = buf;
    (void) i2d_SSL_SESSION(sess, &p);

    now = pt_time();
    sp = (pt_slab_pool_t *) ssl->session_cache->addr;

    cache = pt_ssl_session_cache_lock(ssl->session_cache, c->log);
    if (cache == NULL) {
        return 0;
    }

    /* two expired sessions go with each new one: the cache stays lean */
    for (expired = 0; expired < 2 && !pt_queue_empty(&cache->queue);
         expired++)
    {
        q = pt_queue_last(&cache->queue);
        old = pt_queue_data(q, pt_ssl_sess_node_t, queue);

        if (old->expire > now) {
            break;
        }

        pt_ssl_session_delete(sp, cache, old);
    }

    old = pt_ssl_session_find(cache, id, id_len);
    if (old) {
        pt_ssl_session_delete(sp, cache, old);
    }

    for ( ;; ) {
        sn = pt_slab_alloc_locked(sp, offsetof(pt_ssl_sess_node_t, der)
                                      + (size_t) len);
        if (sn) {
            break;
        }

        if (pt_queue_empty(&cache->queue)) {
            pt_shmtx_unlock(&sp->mutex);
            pt_log_error(PT_LOG_ALERT, c->log, 0,
                         "could not store a session of %d bytes in the SSL "
                         "session cache \"%.*s\"", len,
                         PT_STR_ARG(ssl->session_cache->name));
            return 0;
        }

        /* full: the oldest sessions make room */
        q = pt_queue_last(&cache->queue);
        pt_ssl_session_delete(sp, cache,
                              pt_queue_data(q, pt_ssl_sess_node_t, queue));
    }

    sn->node.key = pt_hash_key(id, id_len);
    sn->expire = (time_t) SSL_SESSION_get_time(sess)
                 + (time_t) SSL_SESSION_get_timeout(sess);
    sn->len = (u_short) len;
    sn->id_len = (u_char) id_len;
    pt_memcpy(sn->id, id, id_len);
    pt_memcpy(sn->der, buf, (size_t) len);

    pt_rbtree_insert(&cache->tree, &sn->node);
    pt_queue_insert_head(&cache->queue, &sn->queue);

    pt_shmtx_unlock(&sp->mutex);

    return 0;   /* OpenSSL keeps no reference */
}


static SSL_SESSION *
pt_ssl_get_cached_session(SSL *ssl_conn, const unsigned char *id, int len,
    int *copy)
{
    size_t                   n;
    pt_ssl_t                *ssl;
    const u_char            *p;
    SSL_SESSION             *sess;
    pt_slab_pool_t          *sp;
    pt_connection_t         *c;
    pt_ssl_sess_node_t      *sn;
    pt_ssl_session_cache_t  *cache;
    u_char                   buf[PT_SSL_MAX_SESSION_SIZE];

    *copy = 0;

    ssl = pt_ssl_session_owner(ssl_conn, &c);
    if (ssl == NULL || ssl->session_cache == NULL || len <= 0
        || len > SSL_MAX_SSL_SESSION_ID_LENGTH)
    {
        return NULL;
    }

    sp = (pt_slab_pool_t *) ssl->session_cache->addr;

    cache = pt_ssl_session_cache_lock(ssl->session_cache, c->log);
    if (cache == NULL) {
        return NULL;
    }

    n = 0;
    sn = pt_ssl_session_find(cache, id, (size_t) len);

    if (sn && sn->expire > pt_time()) {
        n = sn->len;
        pt_memcpy(buf, sn->der, n);

    } else if (sn) {
        pt_ssl_session_delete(sp, cache, sn);
    }

    pt_shmtx_unlock(&sp->mutex);

    if (n == 0) {
        return NULL;
    }

    p = buf;
    sess = d2i_SSL_SESSION(NULL, &p, (long) n);

    if (sess == NULL) {
        pt_ssl_error(PT_LOG_ALERT, c->log, 0, "d2i_SSL_SESSION() failed");
    }

    return sess;
}


static void
pt_ssl_remove_session(SSL_CTX *ctx, SSL_SESSION *sess)
{
    pt_ssl_t                *ssl;
    unsigned int             len;
    const u_char            *id;
    pt_slab_pool_t          *sp;
    pt_ssl_sess_node_t      *sn;
    pt_ssl_session_cache_t  *cache;

    ssl = SSL_CTX_get_ex_data(ctx, pt_ssl_index);
    if (ssl == NULL || ssl->session_cache == NULL
        || ssl->session_cache->addr == NULL)
    {
        return;
    }

    id = SSL_SESSION_get_id(sess, &len);
    if (len == 0) {
        return;
    }

    sp = (pt_slab_pool_t *) ssl->session_cache->addr;

    cache = pt_ssl_session_cache_lock(ssl->session_cache, ssl->log);
    if (cache == NULL) {
        return;
    }

    sn = pt_ssl_session_find(cache, id, len);
    if (sn) {
        pt_ssl_session_delete(sp, cache, sn);
    }

    pt_shmtx_unlock(&sp->mutex);
}


void
pt_ssl_remove_cached_session(pt_connection_t *c)
{
    SSL_SESSION          *sess;
    pt_ssl_connection_t  *sc;

    sc = c->ssl;

    if (sc == NULL || sc->connection == NULL) {
        return;
    }

    sess = SSL_get0_session(sc->connection);

    if (sess) {
        (void) SSL_CTX_remove_session(sc->session_ctx, sess);
    }
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

    sc->session_ctx = ssl->ctx;

    cln->handler = pt_ssl_connection_cleanup;
    cln->data = c;

    c->ssl = sc;

    return PT_OK;
}


/*
 * Why the handshake of c failed, in c->ssl->error, for a caller that
 * tells it its own way: a certificate that did not pass verification, the
 * peer's close, or OpenSSL's errors (the queue is emptied).
 */
static void
pt_ssl_handshake_failure(pt_connection_t *c, int sslerr, pt_err_t err)
{
    int                   n;
    long                  v;
    char                  buf[PT_MAX_CONF_ERRSTR];
    size_t                len;
    pt_ssl_connection_t  *sc;

    sc = c->ssl;
    v = X509_V_OK;

    if (SSL_get_verify_mode(sc->connection) & SSL_VERIFY_PEER) {
        v = SSL_get_verify_result(sc->connection);
    }

    if (v != X509_V_OK) {
        ERR_clear_error();
        n = snprintf(buf, sizeof(buf), "certificate verify failed: %s",
                     X509_verify_cert_error_string(v));

    } else if (sslerr == SSL_ERROR_ZERO_RETURN
               || (sslerr == SSL_ERROR_SYSCALL && err == 0
                   && ERR_peek_error() == 0))
    {
        ERR_clear_error();
        n = snprintf(buf, sizeof(buf), "connection closed in TLS handshake");

    } else {
        pt_ssl_error_string(buf, sizeof(buf), "TLS handshake failed");
        n = (int) strlen(buf);

        if (err) {
            len = (size_t) n;
            n += snprintf(buf + len, sizeof(buf) - len, " (%d: %s)",
                          (int) err, strerror(err));
        }
    }

    len = (n < 0) ? 0 : pt_min((size_t) n, sizeof(buf) - 1);

    sc->error = pt_pnalloc(c->pool, len + 1);

    if (sc->error) {
        pt_memcpy(sc->error, buf, len);
        sc->error[len] = '\0';
    }
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

    if (sc->quiet) {
        pt_ssl_handshake_failure(c, sslerr, err);
        return PT_ERROR;
    }

    if (sslerr == SSL_ERROR_ZERO_RETURN || (sslerr == SSL_ERROR_SYSCALL
                                            && err == 0))
    {
        pt_log_error(PT_LOG_INFO, c->log, 0,
                     "client closed connection in SSL handshake");
        return PT_ERROR;
    }

    /* a client's failure is the client's business; a server's is ours */
    pt_ssl_error(SSL_is_server(sc->connection) ? PT_LOG_INFO : PT_LOG_ERR,
                 c->log, err, "SSL_do_handshake() failed");

    return PT_ERROR;
}


/*
 * Reads until buf is full or OpenSSL wants the socket again, so that
 * "ready" stays set only while decrypted data may still wait (the event
 * loop is edge-triggered; a caller that sees ready 0 knows it is drained).
 */
ssize_t
pt_ssl_recv(pt_connection_t *c, u_char *buf, size_t size)
{
    int                   n, sslerr;
    ssize_t               bytes;
    pt_err_t              err;
    pt_ssl_connection_t  *sc;

    sc = c->ssl;
    bytes = 0;

    for ( ;; ) {
        ERR_clear_error();

        n = SSL_read(sc->connection, buf,
                     (int) pt_min(size, (size_t) INT_MAX));

        if (n > 0) {
            bytes += n;
            buf += n;
            size -= n;

            if (size == 0) {
                c->read->ready = 1;
                return bytes;
            }

            continue;
        }

        sslerr = SSL_get_error(sc->connection, n);
        err = (sslerr == SSL_ERROR_SYSCALL) ? errno : 0;

        if (sslerr == SSL_ERROR_WANT_READ || sslerr == SSL_ERROR_WANT_WRITE) {
            /* WANT_WRITE: renegotiation is off, a key update may ask */
            c->read->ready = 0;
            return bytes ? bytes : PT_AGAIN;
        }

        if (bytes) {
            /* the data first; the next call meets the end or the error */
            c->read->ready = 1;
            return bytes;
        }

        break;
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

    if (sc->handshaked && !c->error && !c->read->error && !c->write->error)
    {
        /*
         * close_notify, without waiting for the peer's; when the peer has
         * already closed, only mark the shutdown: either way the session
         * stays resumable (a session freed unshut is dropped).
         */
        SSL_set_quiet_shutdown(sc->connection, sc->no_wait_shutdown);
        ERR_clear_error();
        (void) SSL_shutdown(sc->connection);
    }

    ERR_clear_error();

    SSL_free(sc->connection);
    sc->connection = NULL;

    return PT_OK;
}


/*
 * A client context, for TLS to upstream servers: protocols, and when
 * verification is asked for, the trusted certificates and the depth.
 */
static pt_int_t
pt_ssl_create_client(pt_ssl_t *ssl, pt_uint_t protocols)
{
    int  min, max;

    ssl->ctx = SSL_CTX_new(TLS_client_method());

    if (ssl->ctx == NULL) {
        pt_ssl_error(PT_LOG_EMERG, ssl->log, 0, "SSL_CTX_new() failed");
        return PT_ERROR;
    }

    min = (protocols & PT_SSL_TLSv1) ? TLS1_VERSION
          : (protocols & PT_SSL_TLSv1_1) ? TLS1_1_VERSION
          : (protocols & PT_SSL_TLSv1_2) ? TLS1_2_VERSION : TLS1_3_VERSION;

    max = (protocols & PT_SSL_TLSv1_3) ? TLS1_3_VERSION
          : (protocols & PT_SSL_TLSv1_2) ? TLS1_2_VERSION
          : (protocols & PT_SSL_TLSv1_1) ? TLS1_1_VERSION : TLS1_VERSION;

    if (min < TLS1_2_VERSION) {
        SSL_CTX_set_security_level(ssl->ctx, 0);
    }

    SSL_CTX_set_min_proto_version(ssl->ctx, min);
    SSL_CTX_set_max_proto_version(ssl->ctx, max);

    /* servers too close without close_notify: see pt_ssl_create() */
    SSL_CTX_set_options(ssl->ctx, SSL_OP_NO_COMPRESSION
                                  | SSL_OP_NO_RENEGOTIATION
                                  | SSL_OP_IGNORE_UNEXPECTED_EOF);

    SSL_CTX_set_mode(ssl->ctx, SSL_MODE_RELEASE_BUFFERS
                               | SSL_MODE_ENABLE_PARTIAL_WRITE
                               | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    /* sessions are kept by the caller, per server */
    SSL_CTX_set_session_cache_mode(ssl->ctx, SSL_SESS_CACHE_CLIENT
                                             | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ssl->ctx, pt_ssl_new_client_session);

    return PT_OK;
}


/*
 * A session the server gave: at the end of a TLS 1.2 handshake, and under
 * TLS 1.3 with each ticket, which comes after the handshake. The
 * connection's save_session takes a reference of its own if it keeps it.
 */
static int
pt_ssl_new_client_session(SSL *ssl_conn, SSL_SESSION *sess)
{
    pt_connection_t      *c;
    pt_ssl_connection_t  *sc;

    c = SSL_get_ex_data(ssl_conn, pt_ssl_connection_index);

    if (c == NULL || c->ssl == NULL) {
        return 0;
    }

    sc = c->ssl;

    /* the context it was made in: see pt_ssl_create_client_connection() */
    if (SSL_SESSION_set_ex_data(sess, pt_ssl_session_ctx_index,
                                SSL_get_SSL_CTX(ssl_conn)) != 1)
    {
        return 0;
    }

    if (sc->save_session && SSL_SESSION_is_resumable(sess)) {
        sc->save_session(c, sess);
    }

    return 0;
}


static pt_int_t
pt_ssl_trusted_certificate(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *file,
    pt_int_t depth)
{
    pt_str_t  name;

    SSL_CTX_set_verify(ssl->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_verify_depth(ssl->ctx, (int) depth);

    if (file->len == 0) {
        /* the system's store */
        if (SSL_CTX_set_default_verify_paths(ssl->ctx) != 1) {
            pt_ssl_conf_error(cf, "SSL_CTX_set_default_verify_paths() "
                              "failed");
            return PT_ERROR;
        }

        return PT_OK;
    }

    name = *file;

    if (pt_conf_full_name(cf->cycle, &name, 1) != PT_OK) {
        return PT_ERROR;
    }

    if (SSL_CTX_load_verify_locations(ssl->ctx, (char *) name.data, NULL)
        != 1)
    {
        pt_ssl_conf_error(cf, "cannot load trusted certificates \"%s\"",
                          (char *) name.data);
        return PT_ERROR;
    }

    ERR_clear_error();

    return PT_OK;
}


pt_int_t
pt_ssl_client_context(pt_conf_t *cf, pt_ssl_t *ssl, pt_ssl_client_conf_t *scc)
{
    pt_int_t             rc;
    pt_conf_file_t       where, *saved;
    pt_pool_cleanup_t   *cln;

    if (pt_ssl_init(cf->log) != PT_OK) {
        return PT_ERROR;
    }

    ssl->log = cf->log;

    if (pt_ssl_create_client(ssl, scc->protocols) != PT_OK) {
        return PT_ERROR;
    }

    cln = pt_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        SSL_CTX_free(ssl->ctx);
        ssl->ctx = NULL;
        return PT_ERROR;
    }

    cln->handler = pt_ssl_cleanup_ctx;
    cln->data = ssl;

    saved = cf->conf_file;
    rc = PT_ERROR;

    pt_conf_arg_at(cf, &scc->ciphers, &where);

    if (SSL_CTX_set_cipher_list(ssl->ctx, (char *) scc->ciphers.value.data)
        != 1)
    {
        pt_ssl_conf_error(cf, "SSL_CTX_set_cipher_list(\"%s\") failed",
                          (char *) scc->ciphers.value.data);
        goto done;
    }

    cf->conf_file = saved;

    if (scc->verify) {
        pt_conf_arg_at(cf, &scc->trusted_certificate, &where);

        if (pt_ssl_trusted_certificate(cf, ssl,
                                       &scc->trusted_certificate.value,
                                       scc->verify_depth) != PT_OK)
        {
            goto done;
        }

        cf->conf_file = saved;
    }

    if (scc->certificate.value.len) {
        pt_conf_arg_at(cf, &scc->certificate, &where);

        if (pt_ssl_certificate(cf, ssl, &scc->certificate.value) != PT_OK) {
            goto done;
        }

        /* a key that does not match is the key's fault: its line */
        cf->conf_file = saved;
        pt_conf_arg_at(cf, &scc->certificate_key, &where);

        if (pt_ssl_certificate_key(cf, ssl, &scc->certificate.value,
                                   &scc->certificate_key.value, NULL)
            != PT_OK)
        {
            goto done;
        }
    }

    rc = PT_OK;

done:

    cf->conf_file = saved;

    return rc;
}


/*
 * The client side of a connection to an upstream: name goes in SNI (when
 * server_name is set) and is the name the certificate must carry (when
 * the context verifies); session resumes an earlier session made in the
 * same context.
 */
pt_int_t
pt_ssl_create_client_connection(pt_ssl_t *ssl, pt_connection_t *c,
    pt_str_t *name, pt_uint_t server_name, SSL_SESSION *session)
{
    char                 *host;
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

    cln->handler = pt_ssl_connection_cleanup;
    cln->data = c;
    c->ssl = sc;

    if (SSL_set_fd(sc->connection, c->fd) == 0
        || SSL_set_ex_data(sc->connection, pt_ssl_connection_index, c) == 0)
    {
        pt_ssl_error(PT_LOG_ALERT, c->log, 0, "SSL_set_fd() failed");
        return PT_ERROR;
    }

    SSL_set_connect_state(sc->connection);

    if (name && name->len) {
        host = pt_str_to_cstr(c->pool, name);
        if (host == NULL) {
            return PT_ERROR;
        }

        if (server_name
            && SSL_set_tlsext_host_name(sc->connection, host) != 1)
        {
            pt_ssl_error(PT_LOG_ERR, c->log, 0,
                         "SSL_set_tlsext_host_name(\"%s\") failed", host);
            return PT_ERROR;
        }

        if (SSL_get_verify_mode(sc->connection) & SSL_VERIFY_PEER
            && SSL_set1_host(sc->connection, host) != 1)
        {
            pt_ssl_error(PT_LOG_ERR, c->log, 0,
                         "SSL_set1_host(\"%s\") failed", host);
            return PT_ERROR;
        }
    }

    /*
     * A session resumes only in the context that made it: one made with
     * another location's client certificate, trust or protocols would
     * carry that identity and those checks over to this one.
     */
    if (session
        && SSL_SESSION_get_ex_data(session, pt_ssl_session_ctx_index)
           == ssl->ctx
        && SSL_set_session(sc->connection, session) != 1)
    {
        pt_ssl_error(PT_LOG_ERR, c->log, 0, "SSL_set_session() failed");
        return PT_ERROR;
    }

    return PT_OK;
}
