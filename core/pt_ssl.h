#ifndef PT_SSL_H
#define PT_SSL_H

/*
 * TLS at the connection layer (OpenSSL 3): a server context per virtual
 * server, a handshake driven by the event loop, and recv/send/send_chain
 * functions that replace the plain ones, so nothing above the connection
 * knows whether it is encrypted.
 */

#include <openssl/ssl.h>
#include <openssl/err.h>

typedef struct {
    SSL_CTX          *ctx;
    pt_log_t         *log;
} pt_ssl_t;

typedef struct {
    SSL                    *connection;
    pt_connection_handler_pt  handler;     /* after the handshake */
    pt_event_handler_pt     saved_read_handler;
    pt_event_handler_pt     saved_write_handler;
    unsigned                handshaked:1;
    unsigned                no_wait_shutdown:1;
    unsigned                buffer_full:1;
} pt_ssl_connection_t;

#define PT_SSL_TLSv1_2   0x0008
#define PT_SSL_TLSv1_3   0x0010
#define PT_SSL_TLSv1     0x0002
#define PT_SSL_TLSv1_1   0x0004

pt_int_t pt_ssl_init(pt_log_t *log);
pt_int_t pt_ssl_create(pt_ssl_t *ssl, pt_uint_t protocols, void *data);
/* Adds a certificate (chain) and its key; PT_ERROR with the file named. */
pt_int_t pt_ssl_certificate(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *cert,
    pt_str_t *key, pt_array_t *passwords);
pt_int_t pt_ssl_ciphers(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *ciphers,
    pt_uint_t prefer_server_ciphers);
pt_int_t pt_ssl_ecdh_curve(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *name);
pt_int_t pt_ssl_session_cache(pt_ssl_t *ssl, pt_uint_t tickets,
    time_t timeout);
void pt_ssl_cleanup_ctx(void *data);

pt_int_t pt_ssl_create_connection(pt_ssl_t *ssl, pt_connection_t *c);
/* PT_OK when done, PT_AGAIN (events armed; c->ssl->handler is called), PT_ERROR. */
pt_int_t pt_ssl_handshake(pt_connection_t *c);
ssize_t pt_ssl_recv(pt_connection_t *c, u_char *buf, size_t size);
ssize_t pt_ssl_write(pt_connection_t *c, u_char *data, size_t size);
pt_chain_t *pt_ssl_send_chain(pt_connection_t *c, pt_chain_t *in,
    off_t limit);
/* Sends close_notify without waiting; PT_OK either way. */
pt_int_t pt_ssl_shutdown(pt_connection_t *c);
void pt_ssl_error(pt_uint_t level, pt_log_t *log, pt_err_t err,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

extern int  pt_ssl_connection_index;    /* SSL ex data: the connection */
extern int  pt_ssl_server_conf_index;   /* SSL_CTX ex data: the server */

#endif /* PT_SSL_H */
