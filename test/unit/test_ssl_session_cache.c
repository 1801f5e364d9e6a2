/*
 * Unit tests for the shared TLS session cache of core/pt_ssl.c: store,
 * find and remove through OpenSSL's callbacks, expiry, the oldest
 * sessions making room in a full zone, sessions too large to keep, a
 * fresh start after a process died holding the zone's lock (which the
 * integration tests cannot provoke), and the ticket keys kept in the zone
 * as the clock moves on.
 */
#include "../../core/pt_ssl.c"

#include <setjmp.h>
#include <cmocka.h>
#include <sys/mman.h>
#include <sys/wait.h>


#define ZONE_SIZE  (32 * 1024)


typedef struct {
    pt_shm_zone_t         zone;
    pt_ssl_t              ssl;
    pt_log_t              log;
    pt_connection_t       c;
    pt_ssl_connection_t   sc;
    SSL                  *conn;
} cache_test_t;


static int
setup(void **state)
{
    cache_test_t    *t;
    pt_slab_pool_t  *sp;

    t = calloc(1, sizeof(cache_test_t));
    assert_non_null(t);

    pt_time_init();
    assert_int_equal(pt_ssl_init(&t->log), PT_OK);

    sp = mmap(NULL, ZONE_SIZE, PROT_READ | PROT_WRITE,
              MAP_ANONYMOUS | MAP_SHARED, -1, 0);
    assert_true(sp != MAP_FAILED);
    assert_int_equal(pt_shmtx_init(&sp->mutex), PT_OK);
    pt_slab_init(sp, ZONE_SIZE);

    t->zone.name.data = (u_char *) "TEST";
    t->zone.name.len = 4;
    t->zone.size = ZONE_SIZE;
    t->zone.addr = (u_char *) sp;
    assert_int_equal(pt_ssl_session_cache_init(&t->zone, NULL), PT_OK);

    t->log.log_level = PT_LOG_EMERG;
    t->ssl.log = &t->log;
    t->ssl.session_cache = &t->zone;
    t->ssl.ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(t->ssl.ctx);
    assert_int_equal(SSL_CTX_set_ex_data(t->ssl.ctx, pt_ssl_index, &t->ssl),
                     1);

    t->sc.session_ctx = t->ssl.ctx;
    t->c.ssl = &t->sc;
    t->c.log = &t->log;

    t->conn = SSL_new(t->ssl.ctx);
    assert_non_null(t->conn);

    /* stateful sessions: those the cache is for in any protocol */
    SSL_set_options(t->conn, SSL_OP_NO_TICKET);
    assert_int_equal(SSL_set_ex_data(t->conn, pt_ssl_connection_index,
                                     &t->c), 1);

    *state = t;

    return 0;
}


static int
teardown(void **state)
{
    cache_test_t  *t = *state;

    SSL_free(t->conn);
    SSL_CTX_free(t->ssl.ctx);
    munmap(t->zone.addr, ZONE_SIZE);
    free(t);

    return 0;
}


/* A TLS 1.2 session whose id is n, made at time when, for timeout s. */
static SSL_SESSION *
session(cache_test_t *t, uint32_t n, time_t when, long timeout)
{
    u_char            id[32], key[48];
    SSL_SESSION      *sess;
    const SSL_CIPHER *cipher;

    sess = SSL_SESSION_new();
    assert_non_null(sess);

    pt_memzero(id, sizeof(id));
    pt_memcpy(id, &n, sizeof(n));
    pt_memset(key, (int) n, sizeof(key));

    cipher = SSL_CIPHER_find(t->conn, (u_char *) "\xc0\x2f");
    assert_non_null(cipher);

    assert_int_equal(SSL_SESSION_set1_id(sess, id, sizeof(id)), 1);
    assert_int_equal(SSL_SESSION_set1_master_key(sess, key, sizeof(key)), 1);
    assert_int_equal(SSL_SESSION_set_protocol_version(sess, TLS1_2_VERSION),
                     1);
    assert_int_equal(SSL_SESSION_set_cipher(sess, cipher), 1);
    SSL_SESSION_set_time(sess, (long) when);
    SSL_SESSION_set_timeout(sess, timeout);

    return sess;
}


static void
store(cache_test_t *t, uint32_t n, time_t when, long timeout)
{
    SSL_SESSION  *sess;

    sess = session(t, n, when, timeout);
    assert_int_equal(pt_ssl_new_session(t->conn, sess), 0);
    SSL_SESSION_free(sess);
}


/* Whether the session with id n is in the cache (and is the same one). */
static int
found(cache_test_t *t, uint32_t n)
{
    int                  copy;
    u_char               id[32], key[48], want[48];
    size_t               len;
    SSL_SESSION         *sess;

    pt_memzero(id, sizeof(id));
    pt_memcpy(id, &n, sizeof(n));

    sess = pt_ssl_get_cached_session(t->conn, id, sizeof(id), &copy);
    assert_int_equal(copy, 0);

    if (sess == NULL) {
        return 0;
    }

    len = SSL_SESSION_get_master_key(sess, key, sizeof(key));
    pt_memset(want, (int) n, sizeof(want));
    assert_int_equal(len, sizeof(key));
    assert_memory_equal(key, want, sizeof(key));

    SSL_SESSION_free(sess);

    return 1;
}


static void
test_store_find_remove(void **state)
{
    cache_test_t  *t = *state;
    SSL_SESSION   *sess;

    store(t, 1, pt_time(), 300);
    store(t, 2, pt_time(), 300);

    assert_true(found(t, 1));
    assert_true(found(t, 2));
    assert_false(found(t, 3));

    /* OpenSSL asks for a removal with a session of the same id */
    sess = session(t, 1, pt_time(), 300);
    pt_ssl_remove_session(t->ssl.ctx, sess);
    SSL_SESSION_free(sess);

    assert_false(found(t, 1));
    assert_true(found(t, 2));

    /* the same id again replaces the session */
    store(t, 2, pt_time(), 300);
    store(t, 2, pt_time(), 300);
    assert_true(found(t, 2));
}


static void
test_expired_sessions_are_not_found(void **state)
{
    cache_test_t  *t = *state;

    store(t, 1, pt_time() - 400, 300);
    store(t, 2, pt_time() - 10, 300);

    assert_false(found(t, 1));
    assert_true(found(t, 2));
}


static void
test_full_zone_drops_the_oldest(void **state)
{
    cache_test_t    *t = *state;
    uint32_t         n;
    pt_slab_pool_t  *sp;

    sp = (pt_slab_pool_t *) t->zone.addr;

    for (n = 1; n <= 500; n++) {
        store(t, n, pt_time(), 300);
    }

    /* 32k holds a few dozen: the newest are there, the oldest gone */
    assert_true(found(t, 500));
    assert_true(found(t, 450));
    assert_false(found(t, 1));
    assert_false(found(t, 100));

    /* what failed was only tried before making room */
    assert_true(sp->failed > 0);
    assert_true(sp->used <= ZONE_SIZE);
}


static void
test_large_session_is_not_kept(void **state)
{
    cache_test_t  *t = *state;
    char           name[5000];
    SSL_SESSION   *sess;

    pt_memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';

    sess = session(t, 7, pt_time(), 300);
    assert_int_equal(SSL_SESSION_set1_hostname(sess, name), 1);
    assert_true(i2d_SSL_SESSION(sess, NULL) > 4096);
    assert_int_equal(pt_ssl_new_session(t->conn, sess), 0);
    SSL_SESSION_free(sess);

    assert_false(found(t, 7));
}


static void
test_dead_lock_holder_empties_the_cache(void **state)
{
    cache_test_t    *t = *state;
    int              status;
    pid_t            pid;
    pt_slab_pool_t  *sp;

    sp = (pt_slab_pool_t *) t->zone.addr;

    store(t, 1, pt_time(), 300);
    assert_true(found(t, 1));

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        (void) pt_shmtx_lock(&sp->mutex);
        _exit(0);               /* dies holding the lock, mid-update */
    }

    assert_int_equal(waitpid(pid, &status, 0), pid);

    /* the cache starts again, empty, and works */
    assert_false(found(t, 1));
    store(t, 2, pt_time(), 300);
    assert_true(found(t, 2));
    assert_false(found(t, 1));
}


/* Sets the cached clock to when. */
static void
set_time(time_t when)
{
    ((pt_time_t *) pt_cached_time)->sec = when;
}


/* The ticket keys of one process: a copy of the zone's two. */
typedef struct {
    pt_ssl_t              ssl;
    pt_array_t            keys;
    pt_ssl_ticket_key_t   key[2];
} ticket_copy_t;


static void
ticket_copy_init(cache_test_t *t, ticket_copy_t *p)
{
    pt_memzero(p, sizeof(ticket_copy_t));
    p->ssl = t->ssl;
    p->keys.elts = p->key;
    p->keys.nelts = 2;
    p->keys.size = sizeof(pt_ssl_ticket_key_t);
    p->keys.nalloc = 2;
    p->ssl.ticket_keys = &p->keys;
    p->ssl.ticket_keys_shared = 1;
}


static void
test_ticket_keys_rotate_in_the_zone(void **state)
{
    cache_test_t   *t = *state;
    time_t          start;
    u_char          a[16], b[16];
    ticket_copy_t   w0, w1;

    SSL_CTX_set_timeout(t->ssl.ctx, 10);
    ticket_copy_init(t, &w0);
    ticket_copy_init(t, &w1);
    start = pt_time();

    /* the first key: made once, in the zone, for every process */
    assert_int_equal(pt_ssl_ticket_keys_sync(&w0.ssl, &t->log), PT_OK);
    assert_int_equal(pt_ssl_ticket_keys_sync(&w1.ssl, &t->log), PT_OK);
    assert_memory_equal(w0.key[0].name, w1.key[0].name, 16);
    assert_memory_equal(w0.key[0].name, w0.key[1].name, 16);
    assert_int_equal(w0.key[0].size, 80);
    assert_int_equal(w0.key[0].expire, start + 10);
    pt_memcpy(a, w0.key[0].name, 16);

    /* used later: the same key, needed for longer */
    set_time(start + 5);
    assert_int_equal(pt_ssl_ticket_keys_sync(&w0.ssl, &t->log), PT_OK);
    assert_memory_equal(w0.key[0].name, a, 16);
    assert_int_equal(w0.key[0].expire, start + 15);

    /* a timeout after it was made: a new key first, the old one second */
    set_time(start + 11);
    assert_int_equal(pt_ssl_ticket_keys_sync(&w1.ssl, &t->log), PT_OK);
    assert_memory_not_equal(w1.key[0].name, a, 16);
    assert_memory_equal(w1.key[1].name, a, 16);
    assert_int_equal(w1.key[0].expire, start + 21);
    assert_int_equal(w1.key[1].expire, start + 15);
    pt_memcpy(b, w1.key[0].name, 16);

    /* the other process follows */
    assert_int_equal(pt_ssl_ticket_keys_sync(&w0.ssl, &t->log), PT_OK);
    assert_memory_equal(w0.key, w1.key, sizeof(w0.key));

    /* the old key kept until its last ticket expires, not longer */
    set_time(start + 15);
    assert_int_equal(pt_ssl_ticket_keys_sync(&w0.ssl, &t->log), PT_OK);
    assert_memory_equal(w0.key[0].name, b, 16);
    assert_memory_equal(w0.key[1].name, a, 16);

    set_time(start + 16);
    assert_int_equal(pt_ssl_ticket_keys_sync(&w0.ssl, &t->log), PT_OK);
    assert_memory_equal(w0.key[1].name, b, 16);
    assert_memory_not_equal(w0.key[0].name, b, 16);
    assert_memory_not_equal(w0.key[0].name, a, 16);

    /* after a long pause nothing is left to decrypt: one new key */
    set_time(start + 100);
    assert_int_equal(pt_ssl_ticket_keys_sync(&w0.ssl, &t->log), PT_OK);
    assert_memory_equal(w0.key[0].name, w0.key[1].name, 16);
    assert_memory_not_equal(w0.key[0].name, b, 16);
    assert_int_equal(w0.key[0].expire, start + 110);

    set_time(start);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_store_find_remove, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expired_sessions_are_not_found,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_zone_drops_the_oldest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_session_is_not_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_dead_lock_holder_empties_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ticket_keys_rotate_in_the_zone, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
