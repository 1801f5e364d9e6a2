/*
 * Unit tests for core/pt_resolver.c, driven through the event loop: each
 * test builds a cycle from a configuration with a "resolver" directive
 * (pt_init_cycle() in test mode), sets up the worker's event loop
 * (pt_event_init_process()), and runs a small DNS server of its own on
 * loopback inside that same loop: a UDP socket, and a TCP listener on the
 * same port for answers too large for UDP. The loop is then stepped until
 * the resolver's handler has run.
 *
 * Covered: the channel's servers are the directive's only; A and AAAA
 * answers (order, TTLs, valid=, ipv4=/ipv6=off); a record changed between
 * queries; NXDOMAIN and "no data" (PT_DECLINED); SERVFAIL; a server that
 * never answers (resolver_timeout); a malformed answer, a short and an
 * empty datagram; an unreachable server and failover to a second one; a
 * truncated UDP answer retried over TCP; 300 answers damaged at random (a
 * header flag, bytes, noise); address literals and invalid names; the
 * handler never running inside pt_resolve_name(); cancelling in flight
 * (and c-ares's sockets closing once nobody waits); connections closed by
 * worker_shutdown_timeout; the limit of queries in flight; no connection
 * free for c-ares's socket; process exit with a query under way.
 */
#include "pt_http.h"

#include <ctype.h>
#include <ftw.h>
#include <setjmp.h>
#include <cmocka.h>

/* the unit itself, for its structures (r->worker, r->max_queries) */
#include "pt_resolver.c"


#define DNS_MAX_RECORDS  96
#define DNS_NAME_LEN     256

/* how the test server answers */
typedef enum {
    DNS_ANSWER = 0,     /* from the records: NXDOMAIN for unknown names */
    DNS_SERVFAIL,
    DNS_DROP,           /* never answers */
    DNS_BAD_RR,         /* an answer record cut short */
    DNS_SHORT,          /* 5 bytes */
    DNS_EMPTY,          /* a datagram of 0 bytes */
    DNS_TRUNCATE,       /* TC on UDP; TCP answers from the records */
    DNS_RANDOM          /* answers from the records, at random damaged */
} dns_mode_e;

typedef struct {
    char         name[DNS_NAME_LEN];
    int          type;              /* 1: A, 28: AAAA */
    u_char       addr[16];
    uint32_t     ttl;
} dns_record_t;

typedef struct {
    char             dir[64];
    pt_log_t        *log;
    pt_cycle_t       init;
    pt_cycle_t      *cycle;

    int              udp;           /* the server's sockets */
    int              tcp;
    in_port_t        port;
    pt_connection_t *udp_c;
    pt_connection_t *tcp_c;

    dns_mode_e       mode;
    dns_record_t     records[DNS_MAX_RECORDS];
    pt_uint_t        nrecords;
    pt_uint_t        udp_queries[2];    /* A, AAAA */
    pt_uint_t        tcp_queries;

    pt_resolver_t   *resolver;
    pt_uint_t        connections;   /* worker_connections */

    /* what the handler saw */
    pt_uint_t        calls;
    pt_int_t         state;
    char             err[128];
    pt_uint_t        naddrs;
    char             addrs[80][48];
    time_t           valid;
    pt_uint_t        keep;          /* the handler does not call done */
    pt_resolver_ctx_t *last;

    pt_event_t       guard;
    pt_uint_t        guard_fired;
} test_ctx_t;


static test_ctx_t  tc;


/* the test DNS server */

static void
dns_add(const char *name, int type, const char *text, uint32_t ttl)
{
    dns_record_t  *rec;

    assert_true(tc.nrecords < DNS_MAX_RECORDS);

    rec = &tc.records[tc.nrecords++];
    snprintf(rec->name, sizeof(rec->name), "%s", name);
    rec->type = type;
    rec->ttl = ttl;
    assert_int_equal(inet_pton(type == 1 ? AF_INET : AF_INET6, text,
                               rec->addr), 1);
}


/*
 * Builds the answer to query (len bytes) into out; returns its length, or
 * -1 to stay silent. tcp says which transport asked.
 */
static ssize_t
dns_answer(const u_char *query, size_t len, u_char *out, size_t size,
    int tcp)
{
    int            qtype, known, rcode;
    char           name[DNS_NAME_LEN];
    size_t         n, qend, nlen, alen;
    u_char        *p;
    pt_uint_t      i, count;
    dns_record_t  *rec;

    if (len < 12 + 5) {
        return -1;
    }

    /* the question's name, lowercased and dotted */
    nlen = 0;
    n = 12;

    while (n < len && query[n] != 0) {
        size_t  l = query[n++];

        if (l > 63 || n + l > len || nlen + l + 1 >= sizeof(name)) {
            return -1;
        }

        if (nlen) {
            name[nlen++] = '.';
        }

        for (i = 0; i < l; i++) {
            name[nlen++] = (char) tolower(query[n + i]);
        }

        n += l;
    }

    name[nlen] = '\0';

    if (n + 5 > len) {
        return -1;
    }

    qend = n + 5;
    qtype = (query[n + 1] << 8) | query[n + 2];

    if (tcp) {
        tc.tcp_queries++;

    } else {
        tc.udp_queries[qtype == 28 ? 1 : 0]++;
    }

    if (tc.mode == DNS_DROP && !tcp) {
        return -1;
    }

    if (tc.mode == DNS_SHORT && !tcp) {
        pt_memcpy(out, query, 5);
        return 5;
    }

    if (tc.mode == DNS_EMPTY && !tcp) {
        return 0;
    }

    known = 0;
    count = 0;

    for (i = 0; i < tc.nrecords; i++) {
        if (strcmp(tc.records[i].name, name) == 0) {
            known = 1;
            count += (tc.records[i].type == qtype);
        }
    }

    rcode = known ? 0 : 3;

    if (tc.mode == DNS_SERVFAIL) {
        rcode = 2;
        count = 0;
    }

    assert_true(qend + count * 28 + 16 <= size);

    /* header: the id, QR, RD as asked, RA, the rcode; one question */
    p = out;
    *p++ = query[0];
    *p++ = query[1];
    *p++ = 0x80 | (query[2] & 0x01);
    *p++ = 0x80 | rcode;
    *p++ = 0;
    *p++ = 1;
    *p++ = (u_char) (count >> 8);
    *p++ = (u_char) count;
    pt_memzero(p, 4);
    p += 4;

    pt_memcpy(p, query + 12, qend - 12);
    p += qend - 12;

    for (i = 0; i < tc.nrecords; i++) {
        rec = &tc.records[i];

        if (strcmp(rec->name, name) != 0 || rec->type != qtype
            || tc.mode == DNS_SERVFAIL)
        {
            continue;
        }

        alen = (qtype == 1) ? 4 : 16;

        *p++ = 0xc0;            /* the name: a pointer to the question's */
        *p++ = 12;
        *p++ = 0;
        *p++ = (u_char) qtype;
        *p++ = 0;
        *p++ = 1;
        *p++ = (u_char) (rec->ttl >> 24);
        *p++ = (u_char) (rec->ttl >> 16);
        *p++ = (u_char) (rec->ttl >> 8);
        *p++ = (u_char) rec->ttl;
        *p++ = 0;
        *p++ = (u_char) alen;
        pt_memcpy(p, rec->addr, alen);
        p += alen;
    }

    if (tc.mode == DNS_BAD_RR && !tcp) {
        /* an answer is announced, but its record stops after the type */
        out[7] = 1;
        p = out + qend;
        *p++ = 0xc0;
        *p++ = 12;
        *p++ = 0;
        *p++ = (u_char) qtype;
    }

    if (tc.mode == DNS_RANDOM) {
        switch (random() % 3) {

        case 0:
            /* as it is */
            break;

        case 1:
            /* a few bytes after the question changed */
            for (i = 0; i < 3 && p > out + qend; i++) {
                out[qend + random() % (p - out - qend)] = (u_char) random();
            }

            break;

        default:
            /* noise of any length after the question, with name pointers */
            n = (size_t) (random() % 300);
            assert_true(qend + n <= size);
            out[7] = (u_char) (random() % 8);
            out[9] = (u_char) (random() % 3);

            for (i = 0; i < n; i++) {
                out[qend + i] = (i % 16 == 0 && random() % 2)
                                ? 0xc0 : (u_char) random();
            }

            p = out + qend + n;
        }

        /* and sometimes the flags: TC, the rcode */
        if (random() % 8 == 0) {
            out[2] |= 0x02;
        }

        if (random() % 8 == 0) {
            out[3] = 0x80 | (random() % 6);
        }
    }

    if (!tcp && (tc.mode == DNS_TRUNCATE || p - out > 512)) {
        /* too large for UDP: the header and the question, with TC */
        out[2] |= 0x02;
        out[6] = 0;
        out[7] = 0;
        return (ssize_t) qend;
    }

    return p - out;
}


static void
dns_udp_handler(pt_event_t *ev)
{
    ssize_t             n, m;
    socklen_t           slen;
    pt_connection_t    *c;
    struct sockaddr_in  sin;
    u_char              query[1024], out[4096];

    c = ev->data;

    for ( ;; ) {
        slen = sizeof(sin);
        n = recvfrom(c->fd, query, sizeof(query), 0,
                     (struct sockaddr *) &sin, &slen);
        if (n == -1) {
            assert_true(errno == EAGAIN || errno == EINTR);
            if (errno == EAGAIN) {
                return;
            }

            continue;
        }

        m = dns_answer(query, (size_t) n, out, sizeof(out), 0);
        if (m >= 0) {
            assert_int_equal(sendto(c->fd, out, (size_t) m, 0,
                                    (struct sockaddr *) &sin, slen), m);
        }
    }
}


/* A TCP client of the test server: length-prefixed queries. */
static void
dns_tcp_client_handler(pt_event_t *ev)
{
    ssize_t           n, m;
    size_t            len;
    u_char           *p;
    pt_connection_t  *c;
    u_char            buf[2048], out[4096 + 2];

    if (ev->write) {
        return;
    }

    c = ev->data;

    for ( ;; ) {
        /* the tests' queries are small: none is split between reads */
        n = recv(c->fd, buf, sizeof(buf), 0);

        if (n == -1 && errno == EAGAIN) {
            return;
        }

        if (n <= 0) {
            pt_close_connection(c);
            return;
        }

        /* one read may hold several queries */
        for (p = buf; p < buf + n; p += len + 2) {
            assert_true(buf + n - p >= 2);
            len = ((size_t) p[0] << 8) | p[1];
            assert_true((size_t) (buf + n - p) >= len + 2);

            m = dns_answer(p + 2, len, out + 2, sizeof(out) - 2, 1);
            if (m < 0) {
                continue;
            }

            out[0] = (u_char) (m >> 8);
            out[1] = (u_char) m;
            assert_int_equal(send(c->fd, out, (size_t) m + 2, 0), m + 2);
        }
    }
}


static void
dns_accept_handler(pt_event_t *ev)
{
    int               s;
    pt_connection_t  *c, *lc;

    if (ev->write) {
        return;
    }

    lc = ev->data;

    for ( ;; ) {
        s = accept4(lc->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (s == -1) {
            assert_int_equal(errno, EAGAIN);
            return;
        }

        c = pt_get_connection(s, tc.log);
        assert_non_null(c);
        c->read->handler = dns_tcp_client_handler;
        c->write->handler = dns_tcp_client_handler;
        assert_int_equal(pt_event_add_conn(c), PT_OK);
    }
}


/* setup */

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
    (void) st;
    (void) flag;

    if (ftw->level == 0) {
        return 0;
    }

    return remove(path);
}


static int
group_setup(void **state)
{
    (void) state;

    pt_time_init();

    tc.log = pt_log_init();
    if (tc.log == NULL) {
        return -1;
    }

    if (pt_os_init(tc.log) != PT_OK || pt_preinit_modules() != PT_OK) {
        return -1;
    }

    pt_test_config = 1;
    pt_quiet_mode = 1;

    snprintf(tc.dir, sizeof(tc.dir), "/tmp/pt-resolver-XXXXXX");

    if (mkdtemp(tc.dir) == NULL) {
        return -1;
    }

    return 0;
}


static int
group_teardown(void **state)
{
    (void) state;

    (void) nftw(tc.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    (void) rmdir(tc.dir);

    return 0;
}


static void
set_str(pt_str_t *s, const char *text)
{
    pt_str_t  t;

    t.len = strlen(text);
    t.data = (u_char *) text;

    s->len = t.len;
    s->data = pt_pstrdup(tc.init.pool, &t);
    assert_non_null(s->data);
}


/* A loopback port nothing listens on (UDP), for an unreachable server. */
static in_port_t
closed_port(void)
{
    int                 s;
    socklen_t           len;
    struct sockaddr_in  sin;

    s = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(s != -1);

    pt_memzero(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *) &sin, sizeof(sin)), 0);

    len = sizeof(sin);
    assert_int_equal(getsockname(s, (struct sockaddr *) &sin, &len), 0);
    close(s);

    return ntohs(sin.sin_port);
}


/*
 * Starts the test server, then a cycle whose http level has "resolver
 * ARGS;" (with %d in args standing for the server's port) and its event
 * loop; tc.resolver is the http-level resolver.
 */
static void
start(const char *args)
{
    int                       on, fd;
    char                      conf[1024], resolver[512], path[PATH_MAX];
    pt_uint_t                 i;
    socklen_t                 len;
    pt_http_conf_ctx_t       *hctx;
    struct sockaddr_in        sin;
    pt_http_core_loc_conf_t  *clcf;

    /*
     * The server: TCP and UDP on one loopback port. Other programs on the
     * machine take TCP ports too: a free TCP port first, then UDP on it.
     */
    for (i = 0; i < 50; i++) {
        tc.tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        0);
        assert_true(tc.tcp != -1);
        on = 1;
        (void) setsockopt(tc.tcp, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));

        pt_memzero(&sin, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(tc.tcp, (struct sockaddr *) &sin, sizeof(sin)),
                         0);
        assert_int_equal(listen(tc.tcp, 16), 0);

        len = sizeof(sin);
        assert_int_equal(getsockname(tc.tcp, (struct sockaddr *) &sin, &len),
                         0);
        tc.port = ntohs(sin.sin_port);

        tc.udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        0);
        assert_true(tc.udp != -1);

        if (bind(tc.udp, (struct sockaddr *) &sin, sizeof(sin)) == 0) {
            break;
        }

        close(tc.udp);
        close(tc.tcp);
        tc.udp = -1;
        tc.tcp = -1;
    }

    assert_true(tc.udp != -1);

    /* the configuration */
    snprintf(resolver, sizeof(resolver), args, (int) tc.port, (int) tc.port);
    snprintf(conf, sizeof(conf),
             "events { worker_connections %u; }\n"
             "http {\n"
             "    access_log off;\n"
             "    resolver %s;\n"
             "    server { listen 127.0.0.1:9; }\n"
             "}\n", (unsigned) tc.connections, resolver);

    snprintf(path, sizeof(path), "%s/portico.conf", tc.dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd != -1);
    assert_int_equal(write(fd, conf, strlen(conf)), (ssize_t) strlen(conf));
    close(fd);

    pt_memzero(&tc.init, sizeof(pt_cycle_t));
    tc.init.log = tc.log;
    tc.init.pool = pt_create_pool(1024, tc.log);
    assert_non_null(tc.init.pool);
    pt_cycle = &tc.init;

    snprintf(path, sizeof(path), "%s/", tc.dir);
    set_str(&tc.init.prefix, path);
    set_str(&tc.init.conf_prefix, path);
    snprintf(path, sizeof(path), "%s/portico.conf", tc.dir);
    set_str(&tc.init.conf_file, path);
    set_str(&tc.init.conf_param, "error_log stderr;");

    tc.cycle = pt_init_cycle(&tc.init);
    assert_non_null(tc.cycle);
    pt_cycle = tc.cycle;

    assert_int_equal(pt_event_init_process(tc.cycle), PT_OK);

    /* the server's sockets in the loop */
    tc.udp_c = pt_get_connection(tc.udp, tc.log);
    assert_non_null(tc.udp_c);
    tc.udp_c->read->handler = dns_udp_handler;
    tc.udp_c->write->handler = dns_udp_handler;
    tc.udp_c->write->write = 1;
    assert_int_equal(pt_event_add_conn(tc.udp_c), PT_OK);

    tc.tcp_c = pt_get_connection(tc.tcp, tc.log);
    assert_non_null(tc.tcp_c);
    tc.tcp_c->read->handler = dns_accept_handler;
    tc.tcp_c->write->handler = dns_accept_handler;
    assert_int_equal(pt_event_add_conn(tc.tcp_c), PT_OK);

    hctx = (pt_http_conf_ctx_t *) tc.cycle->conf_ctx[pt_http_module.index];
    clcf = hctx->loc_conf[pt_http_core_module.ctx_index];

    tc.resolver = pt_http_core_get_resolver(clcf, NULL);
    assert_non_null(tc.resolver);
}


static int
setup(void **state)
{
    (void) state;

    tc.cycle = NULL;
    tc.mode = DNS_ANSWER;
    tc.nrecords = 0;
    tc.udp_queries[0] = 0;
    tc.udp_queries[1] = 0;
    tc.tcp_queries = 0;
    tc.calls = 0;
    tc.keep = 0;
    tc.last = NULL;
    tc.udp = -1;
    tc.tcp = -1;
    tc.connections = 64;

    return 0;
}


static int
teardown(void **state)
{
    pt_uint_t         i;
    pt_connection_t  *c;

    (void) state;

    if (tc.cycle == NULL) {
        return 0;
    }

    pt_resolver_exit_process();

    /* the server's sockets and its TCP clients */
    c = tc.cycle->connections;

    for (i = 0; i < tc.cycle->connection_n; i++) {
        if (c[i].fd != -1) {
            pt_close_connection(&c[i]);
        }
    }

    assert_int_equal(tc.cycle->free_connection_n, tc.cycle->connection_n);

    if (tc.guard.timer_set) {
        pt_event_del_timer(&tc.guard);
    }

    pt_event_exit_process(tc.cycle);
    pt_destroy_cycle(tc.cycle);
    tc.cycle = NULL;

    pt_destroy_pool(tc.init.pool);
    tc.init.pool = NULL;
    pt_cycle = NULL;

    return 0;
}


/* running the loop */

static void
guard_handler(pt_event_t *ev)
{
    tc.guard_fired = 1;
}


/* Steps the event loop until *flag is set or ms have passed. */
static void
run_until(pt_uint_t *flag, pt_msec_t ms)
{
    tc.guard_fired = 0;
    tc.guard.handler = guard_handler;
    tc.guard.log = tc.log;
    pt_event_add_timer(&tc.guard, ms);

    while (!(flag && *flag) && !tc.guard_fired) {
        pt_process_events_and_timers(tc.cycle);
    }

    if (tc.guard.timer_set) {
        pt_event_del_timer(&tc.guard);
    }
}


static void
handler(pt_resolver_ctx_t *ctx)
{
    pt_uint_t  i;

    tc.calls++;
    tc.state = ctx->state;
    snprintf(tc.err, sizeof(tc.err), "%s", ctx->err ? ctx->err : "");
    tc.naddrs = ctx->naddrs;
    tc.valid = ctx->valid;

    for (i = 0; i < ctx->naddrs && i < 80; i++) {
        assert_int_equal(pt_inet_get_port(ctx->addrs[i].sockaddr), 0);
        snprintf(tc.addrs[i], sizeof(tc.addrs[i]), "%.*s",
                 PT_STR_ARG(ctx->addrs[i].name));
    }

    if (tc.keep) {
        tc.last = ctx;
        return;
    }

    pt_resolve_name_done(ctx);
}


/* Starts resolving name with timeout ms; the ctx is returned. */
static pt_resolver_ctx_t *
resolve(const char *name, pt_msec_t timeout)
{
    pt_str_t            s;
    pt_resolver_ctx_t  *ctx;

    s.data = (u_char *) name;
    s.len = strlen(name);

    ctx = pt_resolve_start(tc.resolver, &s);
    assert_non_null(ctx);

    ctx->handler = handler;
    ctx->timeout = timeout;

    assert_int_equal(pt_resolve_name(ctx), PT_OK);

    /* never from inside pt_resolve_name() */
    assert_int_equal(tc.calls, 0);

    return ctx;
}


/* Resolves name and waits for the handler. */
static void
resolve_wait(const char *name, pt_msec_t timeout)
{
    tc.calls = 0;
    (void) resolve(name, timeout);
    run_until(&tc.calls, timeout + 2000);
    assert_int_equal(tc.calls, 1);
}


static pt_uint_t
worker_idle(void)
{
    pt_resolver_worker_t  *w;

    w = tc.resolver->worker;

    return w == NULL
           || (w->nqueries == 0 && pt_queue_empty(&w->conns)
               && pt_queue_empty(&w->ctxs));
}


static void
wait_idle(void)
{
    pt_uint_t  i;

    for (i = 0; i < 200 && !worker_idle(); i++) {
        run_until(NULL, 10);
    }

    assert_true(worker_idle());
}


/* tests */

static void
test_servers_are_the_directives(void **state)
{
    char                         text[64];
    pt_uint_t                    n;
    struct ares_addr_port_node  *servers, *node;

    (void) state;

    start("127.0.0.1:%d [::1]:5353");

    /* the channel comes with the first query */
    assert_null(tc.resolver->worker);
    resolve_wait("192.0.2.1", 1000);
    assert_non_null(tc.resolver->worker);

    /* those two, and none from resolv.conf or c-ares's defaults */
    assert_int_equal(ares_get_servers_ports(tc.resolver->worker->channel,
                                            &servers), ARES_SUCCESS);
    n = 0;

    for (node = servers; node; node = node->next) {
        assert_non_null(inet_ntop(node->family, &node->addr, text,
                                  sizeof(text)));

        if (n == 0) {
            assert_string_equal(text, "127.0.0.1");
            assert_int_equal(node->udp_port, tc.port);
            assert_int_equal(node->tcp_port, tc.port);

        } else {
            assert_string_equal(text, "::1");
            assert_int_equal(node->udp_port, 5353);
        }

        n++;
    }

    ares_free_data(servers);
    assert_int_equal(n, 2);
}


static void
test_a_and_aaaa(void **state)
{
    (void) state;

    start("127.0.0.1:%d");

    dns_add("backend.test", 1, "192.0.2.1", 300);
    dns_add("backend.test", 28, "2001:db8::1", 120);
    dns_add("backend.test", 1, "192.0.2.2", 60);

    resolve_wait("backend.test", 5000);

    assert_int_equal(tc.state, PT_OK);
    assert_int_equal(tc.naddrs, 3);
    assert_string_equal(tc.addrs[0], "192.0.2.1");
    assert_string_equal(tc.addrs[1], "192.0.2.2");
    assert_string_equal(tc.addrs[2], "2001:db8::1");
    assert_int_equal(tc.valid, 60);
    assert_int_equal(tc.udp_queries[0], 1);
    assert_int_equal(tc.udp_queries[1], 1);

    /* names are not case-sensitive; c-ares keeps no cache */
    resolve_wait("BACKEND.test", 5000);
    assert_int_equal(tc.state, PT_OK);
    assert_int_equal(tc.udp_queries[0], 2);

    wait_idle();
}


static void
test_ipv6_off(void **state)
{
    (void) state;

    start("127.0.0.1:%d ipv6=off");

    dns_add("v4.test", 1, "192.0.2.7", 30);
    dns_add("v4.test", 28, "2001:db8::7", 30);

    resolve_wait("v4.test", 5000);

    assert_int_equal(tc.state, PT_OK);
    assert_int_equal(tc.naddrs, 1);
    assert_string_equal(tc.addrs[0], "192.0.2.7");
    assert_int_equal(tc.udp_queries[0], 1);
    assert_int_equal(tc.udp_queries[1], 0);
}


static void
test_ipv4_off(void **state)
{
    (void) state;

    start("127.0.0.1:%d ipv4=off");

    dns_add("v6.test", 1, "192.0.2.7", 30);
    dns_add("v6.test", 28, "2001:db8::7", 30);

    resolve_wait("v6.test", 5000);

    assert_int_equal(tc.state, PT_OK);
    assert_int_equal(tc.naddrs, 1);
    assert_string_equal(tc.addrs[0], "2001:db8::7");
    assert_int_equal(tc.udp_queries[0], 0);
    assert_int_equal(tc.udp_queries[1], 1);
}


static void
test_valid_overrides_ttl(void **state)
{
    (void) state;

    start("127.0.0.1:%d valid=7s");

    dns_add("ttl.test", 1, "192.0.2.3", 3600);

    resolve_wait("ttl.test", 5000);

    assert_int_equal(tc.state, PT_OK);
    assert_int_equal(tc.valid, 7);
}


static void
test_record_changes(void **state)
{
    (void) state;

    start("127.0.0.1:%d ipv6=off");

    dns_add("moving.test", 1, "192.0.2.10", 1);
    resolve_wait("moving.test", 5000);
    assert_int_equal(tc.naddrs, 1);
    assert_string_equal(tc.addrs[0], "192.0.2.10");
    assert_int_equal(tc.valid, 1);

    tc.nrecords = 0;
    dns_add("moving.test", 1, "192.0.2.11", 5);
    dns_add("moving.test", 1, "192.0.2.12", 5);
    resolve_wait("moving.test", 5000);
    assert_int_equal(tc.naddrs, 2);
    assert_string_equal(tc.addrs[0], "192.0.2.11");
    assert_string_equal(tc.addrs[1], "192.0.2.12");
}


static void
test_nxdomain(void **state)
{
    (void) state;

    start("127.0.0.1:%d");

    dns_add("other.test", 1, "192.0.2.1", 30);

    resolve_wait("missing.test", 5000);

    assert_int_equal(tc.state, PT_DECLINED);
    assert_int_equal(tc.naddrs, 0);
    assert_int_equal(tc.valid, 10);
    assert_true(tc.err[0] != '\0');

    /* with valid=, failures are kept that long */
    teardown(NULL);
    setup(NULL);
    start("127.0.0.1:%d valid=3s");
    resolve_wait("missing.test", 5000);
    assert_int_equal(tc.state, PT_DECLINED);
    assert_int_equal(tc.valid, 3);
}


static void
test_no_data(void **state)
{
    (void) state;

    start("127.0.0.1:%d ipv6=off");

    dns_add("only6.test", 28, "2001:db8::2", 30);

    resolve_wait("only6.test", 5000);

    assert_int_equal(tc.state, PT_DECLINED);
    assert_int_equal(tc.naddrs, 0);
}


static void
test_servfail(void **state)
{
    (void) state;

    start("127.0.0.1:%d");

    dns_add("sick.test", 1, "192.0.2.1", 30);
    tc.mode = DNS_SERVFAIL;

    resolve_wait("sick.test", 5000);

    assert_int_equal(tc.state, PT_ERROR);
    assert_int_equal(tc.naddrs, 0);
    assert_true(tc.err[0] != '\0');
    wait_idle();
}


static void
test_timeout(void **state)
{
    pt_msec_t  start_ms;

    (void) state;

    start("127.0.0.1:%d");

    dns_add("slow.test", 1, "192.0.2.1", 30);
    tc.mode = DNS_DROP;

    start_ms = pt_current_msec;
    resolve_wait("slow.test", 300);

    assert_int_equal(tc.state, PT_ERROR);
    assert_string_equal(tc.err, "timed out");
    assert_int_equal(tc.valid, 10);
    assert_true(pt_current_msec - start_ms >= 300);
    assert_true(pt_current_msec - start_ms < 1500);
    assert_true(tc.udp_queries[0] >= 1);

    /* nobody waits for c-ares's queries: they go, and their sockets */
    wait_idle();
}


static void
test_malformed_answer(void **state)
{
    (void) state;

    start("127.0.0.1:%d ipv6=off");

    dns_add("bad.test", 1, "192.0.2.1", 30);
    tc.mode = DNS_BAD_RR;

    resolve_wait("bad.test", 5000);

    assert_int_equal(tc.state, PT_ERROR);
    assert_int_equal(tc.naddrs, 0);
    wait_idle();
}


static void
test_short_answer(void **state)
{
    (void) state;

    start("127.0.0.1:%d ipv6=off");

    dns_add("short.test", 1, "192.0.2.1", 30);
    tc.mode = DNS_SHORT;

    /* not an answer at all: ignored, so the query times out */
    resolve_wait("short.test", 500);

    assert_int_equal(tc.state, PT_ERROR);
    assert_int_equal(tc.naddrs, 0);
    wait_idle();
}


static void
test_empty_datagram(void **state)
{
    (void) state;

    start("127.0.0.1:%d ipv6=off");

    dns_add("empty.test", 1, "192.0.2.1", 30);
    tc.mode = DNS_EMPTY;

    resolve_wait("empty.test", 3000);

    assert_int_equal(tc.state, PT_ERROR);
    assert_int_equal(tc.naddrs, 0);
    wait_idle();
}


static void
test_unreachable(void **state)
{
    char       args[64];
    pt_msec_t  start_ms;

    (void) state;

    snprintf(args, sizeof(args), "127.0.0.1:%d ipv6=off",
             (int) closed_port());
    start(args);

    start_ms = pt_current_msec;
    resolve_wait("any.test", 10000);

    /* refused at once, not after the timeout */
    assert_int_equal(tc.state, PT_ERROR);
    assert_true(pt_current_msec - start_ms < 5000);
    wait_idle();
}


static void
test_failover(void **state)
{
    char       args[96];
    pt_uint_t  i;

    (void) state;

    /* servers are rotated: whichever comes first, the answer comes */
    snprintf(args, sizeof(args), "127.0.0.1:%d 127.0.0.1:%%d ipv6=off",
             (int) closed_port());
    start(args);

    dns_add("twice.test", 1, "192.0.2.44", 30);

    for (i = 0; i < 4; i++) {
        resolve_wait("twice.test", 5000);
        assert_int_equal(tc.state, PT_OK);
        assert_string_equal(tc.addrs[0], "192.0.2.44");
    }
}


static void
test_truncated_over_tcp(void **state)
{
    char       name[32];
    pt_uint_t  i;

    (void) state;

    start("127.0.0.1:%d ipv6=off");

    /* 40 records do not fit in 512 bytes: TC, then TCP */
    for (i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "192.0.2.%u", (unsigned) i + 1);
        dns_add("big.test", 1, name, 100 + i);
    }

    resolve_wait("big.test", 5000);

    assert_int_equal(tc.state, PT_OK);
    assert_int_equal(tc.naddrs, 40);
    assert_string_equal(tc.addrs[0], "192.0.2.1");
    assert_string_equal(tc.addrs[39], "192.0.2.40");
    assert_int_equal(tc.valid, 100);
    assert_int_equal(tc.udp_queries[0], 1);
    assert_int_equal(tc.tcp_queries, 1);

    /* more than are kept from one answer: the first 64 */
    tc.nrecords = 0;
    for (i = 0; i < 80; i++) {
        snprintf(name, sizeof(name), "192.0.2.%u", (unsigned) i + 1);
        dns_add("huge.test", 1, name, 100);
    }

    resolve_wait("huge.test", 5000);
    assert_int_equal(tc.state, PT_OK);
    assert_int_equal(tc.naddrs, PT_RESOLVER_MAX_ADDRS);

    wait_idle();
}


static void
test_no_free_connection(void **state)
{
    (void) state;

    /* the test server's two sockets take every connection */
    tc.connections = 2;
    start("127.0.0.1:%d");

    dns_add("crowded.test", 1, "192.0.2.1", 30);

    /* c-ares fails at once, inside ares_query(): the handler comes later */
    resolve_wait("crowded.test", 5000);

    assert_int_equal(tc.state, PT_ERROR);
    assert_int_equal(tc.udp_queries[0] + tc.udp_queries[1], 0);
    wait_idle();
}


static void
test_random_answers(void **state)
{
    char       name[32];
    pt_uint_t  i, outcomes[3];

    (void) state;

    start("127.0.0.1:%d");

    tc.mode = DNS_RANDOM;
    srandom(20261123);
    pt_memzero(outcomes, sizeof(outcomes));

    /* whatever comes back, one outcome each, and nothing crashes */
    for (i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "r%u.test", (unsigned) i);
        dns_add(name, 1, "192.0.2.1", 30);
        dns_add(name, 28, "2001:db8::1", 30);
        resolve_wait(name, 3000);
        tc.nrecords = 0;

        switch (tc.state) {
        case PT_OK:
            assert_true(tc.naddrs > 0);
            outcomes[0]++;
            break;
        case PT_DECLINED:
            assert_int_equal(tc.naddrs, 0);
            outcomes[1]++;
            break;
        default:
            assert_int_equal(tc.state, PT_ERROR);
            assert_int_equal(tc.naddrs, 0);
            outcomes[2]++;
        }
    }

    assert_true(outcomes[0] > 0 && outcomes[2] > 0);
    wait_idle();
}


static void
test_literal(void **state)
{
    (void) state;

    start("127.0.0.1:%d");

    resolve_wait("192.0.2.200", 1000);
    assert_int_equal(tc.state, PT_OK);
    assert_int_equal(tc.naddrs, 1);
    assert_string_equal(tc.addrs[0], "192.0.2.200");

    resolve_wait("2001:db8::200", 1000);
    assert_int_equal(tc.state, PT_OK);
    assert_int_equal(tc.naddrs, 1);
    assert_string_equal(tc.addrs[0], "2001:db8::200");

    assert_int_equal(tc.udp_queries[0] + tc.udp_queries[1], 0);

    resolve_wait("", 1000);
    assert_int_equal(tc.state, PT_DECLINED);

    wait_idle();
}


static void
test_cancel_in_flight(void **state)
{
    pt_resolver_ctx_t  *ctx;

    (void) state;

    start("127.0.0.1:%d");

    tc.mode = DNS_DROP;

    ctx = resolve("gone.test", 5000);

    /* until the queries are at the server */
    while (tc.udp_queries[0] + tc.udp_queries[1] < 2) {
        run_until(NULL, 10);
    }

    assert_false(worker_idle());

    pt_resolve_name_done(ctx);

    /* the handler never runs; the queries and sockets go */
    wait_idle();
    run_until(NULL, 50);
    assert_int_equal(tc.calls, 0);
}


static void
test_cancel_keeps_others(void **state)
{
    pt_resolver_ctx_t  *one;

    (void) state;

    start("127.0.0.1:%d ipv6=off");

    tc.mode = DNS_DROP;

    one = resolve("one.test", 5000);
    (void) resolve("two.test", 400);

    while (tc.udp_queries[0] < 2) {
        run_until(NULL, 10);
    }

    /* the second still waits: its query is not cancelled with the first */
    pt_resolve_name_done(one);

    run_until(&tc.calls, 3000);
    assert_int_equal(tc.calls, 1);
    assert_int_equal(tc.state, PT_ERROR);
    assert_string_equal(tc.err, "timed out");

    wait_idle();
}


static void
test_forced_close(void **state)
{
    pt_queue_t       *q;
    pt_connection_t  *c;

    (void) state;

    start("127.0.0.1:%d");

    tc.mode = DNS_DROP;

    (void) resolve("stuck.test", 5000);

    while (tc.udp_queries[0] + tc.udp_queries[1] < 2) {
        run_until(NULL, 10);
    }

    /* worker_shutdown_timeout closes every connection this way */
    q = pt_queue_head(&tc.resolver->worker->conns);
    c = pt_queue_data(q, pt_connection_t, queue);
    c->close = 1;
    c->error = 1;
    c->read->handler(c->read);

    /* the sockets are gone at once; the waiting handler learns it later */
    assert_true(pt_queue_empty(&tc.resolver->worker->conns));
    assert_int_equal(tc.calls, 0);

    run_until(&tc.calls, 1000);
    assert_int_equal(tc.calls, 1);
    assert_int_equal(tc.state, PT_ERROR);
    wait_idle();
}


static void
test_max_queries(void **state)
{
    pt_str_t            s;
    pt_uint_t           i;
    pt_resolver_ctx_t  *ctx[3];

    (void) state;

    start("127.0.0.1:%d");

    tc.resolver->max_queries = 2;
    tc.mode = DNS_DROP;

    ctx[0] = resolve("a.test", 5000);
    ctx[1] = resolve("b.test", 5000);

    s.data = (u_char *) "c.test";
    s.len = 6;
    ctx[2] = pt_resolve_start(tc.resolver, &s);
    assert_non_null(ctx[2]);
    ctx[2]->handler = handler;
    assert_int_equal(pt_resolve_name(ctx[2]), PT_ERROR);

    /* a literal needs no query: it is answered all the same */
    resolve_wait("192.0.2.1", 1000);
    assert_int_equal(tc.state, PT_OK);

    for (i = 0; i < 3; i++) {
        pt_resolve_name_done(ctx[i]);
    }

    wait_idle();
    run_until(NULL, 50);
    assert_int_equal(tc.calls, 1);
}


static void
test_handler_keeps_ctx(void **state)
{
    (void) state;

    start("127.0.0.1:%d");

    dns_add("kept.test", 1, "192.0.2.1", 30);
    tc.keep = 1;

    resolve_wait("kept.test", 5000);

    /* the results stay readable until done */
    assert_non_null(tc.last);
    assert_int_equal(tc.last->naddrs, 1);
    assert_int_equal(tc.last->addrs[0].sockaddr->sa_family, AF_INET);

    pt_resolve_name_done(tc.last);
    wait_idle();
}


static void
test_exit_in_flight(void **state)
{
    pt_resolver_ctx_t  *ctx;

    (void) state;

    start("127.0.0.1:%d");

    tc.mode = DNS_DROP;

    ctx = resolve("late.test", 5000);

    while (tc.udp_queries[0] + tc.udp_queries[1] < 2) {
        run_until(NULL, 10);
    }

    /* the process exits: the channel goes, the ctx is the caller's */
    pt_resolver_exit_process();
    assert_null(tc.resolver->worker);

    run_until(NULL, 50);
    assert_int_equal(tc.calls, 0);

    pt_resolve_name_done(ctx);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_servers_are_the_directives,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_and_aaaa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv4_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid_overrides_ttl, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_record_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nxdomain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_servfail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_answer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_short_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_datagram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_over_tcp, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_free_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_random_answers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_literal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cancel_keeps_others, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_forced_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handler_keeps_ctx, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_exit_in_flight, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
