#ifndef PT_SSL_H
#define PT_SSL_H

/*
 * TLS at the connection layer (OpenSSL 3): a server context per virtual
 * server, a handshake driven by the event loop, and recv/send/send_chain
 * functions that replace the plain ones, so nothing above the connection
 * knows whether it is encrypted. Also the server-side session machinery:
 * a session cache shared by the workers, ticket keys from files or from
 * the cache's zone, and a stapled OCSP response.
 */

#include <openssl/ssl.h>
#include <openssl/err.h>

typedef struct {
    u_char            name[16];
    u_char            hmac_key[32];
    u_char            aes_key[32];
    size_t            size;         /* of the file: 48 (AES-128), 80 (256) */
    time_t            expire;       /* generated keys: needed until then;
                                       0: from a file, for good */
} pt_ssl_ticket_key_t;

typedef struct {
    SSL_CTX          *ctx;
    pt_log_t         *log;
    pt_array_t       *ticket_keys;  /* of pt_ssl_ticket_key_t; NULL: the
                                       keys OpenSSL made for the context */
    unsigned          ticket_keys_shared:1; /* ticket_keys: this process's
                                       copy of the two in session_cache */
    pt_str_t          staple;       /* a DER OCSP response, or empty */
    pt_shm_zone_t    *session_cache;    /* the shared cache, or NULL */
} pt_ssl_t;

typedef struct {
    SSL                    *connection;
    SSL_CTX                *session_ctx;    /* before SNI: its caches and
                                               ticket keys serve */
    pt_connection_handler_pt  handler;     /* after the handshake */
    void                  (*save_session)(pt_connection_t *c,
                                          SSL_SESSION *session);
                                            /* a client's, for a session
                                               the server gave: it takes
                                               a reference to keep it */
    char                   *error;          /* quiet: why the handshake
                                               failed, or NULL */
    unsigned                handshaked:1;
    unsigned                no_wait_shutdown:1;
    unsigned                quiet:1;        /* a failed handshake is told
                                               in error, not logged */
} pt_ssl_connection_t;

/*
 * What a client context (TLS to upstream servers) is made of; an error in
 * one of the arguments is told at its directive, or where cf is when it
 * comes from none.
 */
typedef struct {
    pt_uint_t         protocols;    /* PT_SSL_TLSv1... */
    pt_conf_arg_t     ciphers;      /* NUL-terminated */
    pt_uint_t         verify;       /* check the server's certificate */
    pt_int_t          verify_depth;
    pt_conf_arg_t     trusted_certificate;  /* empty: the system's store */
    pt_conf_arg_t     certificate;  /* the client's, or empty */
    pt_conf_arg_t     certificate_key;
} pt_ssl_client_conf_t;

#define PT_SSL_TLSv1     0x0002
#define PT_SSL_TLSv1_1   0x0004
#define PT_SSL_TLSv1_2   0x0008
#define PT_SSL_TLSv1_3   0x0010

/* the "builtin" part of ssl_session_cache: a size, or one of these */
#define PT_SSL_SCACHE_OFF           -2  /* resumption refused */
#define PT_SSL_SCACHE_NONE          -3  /* allowed, nothing stored */
#define PT_SSL_SCACHE_NO_BUILTIN    -4  /* only the shared cache */
#define PT_SSL_SCACHE_DFLT_BUILTIN  -5  /* OpenSSL's size (20480) */

pt_int_t pt_ssl_init(pt_log_t *log);
/* A server context for protocols (PT_SSL_TLSv1...); data goes to ex data. */
pt_int_t pt_ssl_create(pt_ssl_t *ssl, pt_uint_t protocols, void *data);
void pt_ssl_cleanup_ctx(void *data);

/*
 * The configuration functions read their files in the master and log an
 * [emerg] naming the file, at cf's current FILE:LINE; PT_ERROR then.
 */
pt_int_t pt_ssl_certificate(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *cert);
/* The key of cert, tried with each password in turn (passwords may be NULL). */
pt_int_t pt_ssl_certificate_key(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *cert,
    pt_str_t *key, pt_array_t *passwords);
pt_int_t pt_ssl_ciphers(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *ciphers,
    pt_uint_t prefer_server_ciphers);
pt_int_t pt_ssl_ecdh_curve(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *name);
/*
 * Asks clients for a certificate, checked against the CAs of cert (which
 * are also named to the client; cert may be empty for optional_no_ca).
 * The handshake never fails on it: the verdict is the caller's, later.
 */
pt_int_t pt_ssl_client_certificate(pt_conf_t *cf, pt_ssl_t *ssl,
    pt_str_t *cert, pt_int_t depth);
pt_int_t pt_ssl_crl(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *crl);
/* Staples the DER OCSP response in file when a client asks for status. */
pt_int_t pt_ssl_stapling_file(pt_conf_t *cf, pt_ssl_t *ssl, pt_str_t *file);
/* Adds a 48- or 80-byte ticket key file; the first added encrypts. */
pt_int_t pt_ssl_session_ticket_key(pt_conf_t *cf, pt_ssl_t *ssl,
    pt_str_t *file);
/*
 * Session resumption: builtin is a size or PT_SSL_SCACHE_*, zone a shared
 * cache (or NULL); also fixes the session id context from sess_ctx, the
 * certificates and the client CAs, so that a session resumes only where
 * it was made. Call it after the certificates and the ticket key files
 * are in: with tickets, a zone and no key files, the ticket keys live in
 * the zone and a new one takes over every timeout.
 */
pt_int_t pt_ssl_session_cache(pt_conf_t *cf, pt_ssl_t *ssl,
    pt_str_t *sess_ctx, pt_int_t builtin, pt_shm_zone_t *zone,
    time_t timeout, pt_uint_t tickets);
/* The init function of a shared session cache zone (pt_shm_zone_init_pt). */
pt_int_t pt_ssl_session_cache_init(pt_shm_zone_t *zone, void *data);
/* Forgets the connection's session, in every cache (failed verification). */
void pt_ssl_remove_cached_session(pt_connection_t *c);
/* Whether a verify result is only about an unknown CA (optional_no_ca). */
pt_uint_t pt_ssl_verify_error_optional(long n);

pt_int_t pt_ssl_create_connection(pt_ssl_t *ssl, pt_connection_t *c);

/*
 * TLS to upstream servers. A client context from scc, made at
 * configuration time and freed with cf's cycle: the files are read now,
 * and one that does not load is an [emerg] at cf's current FILE:LINE
 * (PT_ERROR then). The caller checks that a certificate has its key.
 */
pt_int_t pt_ssl_client_context(pt_conf_t *cf, pt_ssl_t *ssl,
    pt_ssl_client_conf_t *scc);
pt_int_t pt_ssl_create_client_connection(pt_ssl_t *ssl, pt_connection_t *c,
    pt_str_t *name, pt_uint_t server_name, SSL_SESSION *session);
/*
 * PT_OK when done, PT_AGAIN (events armed; c->ssl->handler is called),
 * PT_ERROR. A failure is logged, or with c->ssl->quiet described in
 * c->ssl->error (from c's pool) for the caller to tell.
 */
pt_int_t pt_ssl_handshake(pt_connection_t *c);
ssize_t pt_ssl_recv(pt_connection_t *c, u_char *buf, size_t size);
ssize_t pt_ssl_write(pt_connection_t *c, u_char *data, size_t size);
pt_chain_t *pt_ssl_send_chain(pt_connection_t *c, pt_chain_t *in,
    off_t limit);
/* Sends close_notify without waiting; PT_OK either way. */
pt_int_t pt_ssl_shutdown(pt_connection_t *c);
/* Logs fmt followed by OpenSSL's queued errors (and empties the queue). */
void pt_ssl_error(pt_uint_t level, pt_log_t *log, pt_err_t err,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same as an [emerg] "... in FILE:LINE" of the configuration. */
void pt_ssl_conf_error(pt_conf_t *cf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

extern int  pt_ssl_connection_index;    /* SSL ex data: the connection */
extern int  pt_ssl_server_conf_index;   /* SSL_CTX ex data: the server */
extern int  pt_ssl_index;               /* SSL_CTX ex data: its pt_ssl_t */

#endif /* PT_SSL_H */
