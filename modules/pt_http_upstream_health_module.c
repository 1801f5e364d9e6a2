/*
 * Active health checks. "health_check" in an upstream block sends
 * "GET uri" to every server of the group every interval; a server that
 * fails "fails" checks in a row is marked unhealthy and gets no requests
 * until it passes "passes" checks in a row. "match NAME { ... }" in the
 * http block says what a passing answer looks like: its status, header
 * fields, and the first 256 KiB of its body. Without one, a 2xx or 3xx
 * status passes.
 *
 * The checks run once for the whole instance, not once per worker: the
 * worker of slot 0 runs them in its event loop (non-blocking connect, send
 * and receive, each check bounded by its timeout, one in flight per
 * server) and writes the results into the group's shared zone, under the
 * group's lock, where every worker's balancer reads them. A respawned
 * worker 0 carries on from the counters in the zone; a worker shutting
 * down starts no new check. Servers start healthy.
 */
#include "pt_http.h"


#define PT_HTTP_UPSTREAM_HC_HEAD_SIZE   16384       /* response head */
#define PT_HTTP_UPSTREAM_HC_BODY_SIZE   262144      /* body for "body" */
#define PT_HTTP_UPSTREAM_HC_MAX_URI     4096
#define PT_HTTP_UPSTREAM_HC_MAX_TESTS   64          /* per match block */

/* what a test looks at */
#define PT_HTTP_UPSTREAM_HC_STATUS      0
#define PT_HTTP_UPSTREAM_HC_HEADER      1
#define PT_HTTP_UPSTREAM_HC_BODY        2

/* how a header or body test compares */
#define PT_HTTP_UPSTREAM_HC_PRESENT     0       /* header NAME */
#define PT_HTTP_UPSTREAM_HC_ABSENT      1       /* header ! NAME */
#define PT_HTTP_UPSTREAM_HC_EQ          2       /* = */
#define PT_HTTP_UPSTREAM_HC_NE          3       /* != */
#define PT_HTTP_UPSTREAM_HC_RE          4       /* ~ */
#define PT_HTTP_UPSTREAM_HC_NRE         5       /* !~ */

/* the state of one check */
#define PT_HTTP_UPSTREAM_HC_IDLE        0
#define PT_HTTP_UPSTREAM_HC_CONNECT     1
#define PT_HTTP_UPSTREAM_HC_HANDSHAKE   2       /* tls */
#define PT_HTTP_UPSTREAM_HC_SEND        3
#define PT_HTTP_UPSTREAM_HC_HEAD        4
#define PT_HTTP_UPSTREAM_HC_READ_BODY   5

/* how a check ended */
#define PT_HTTP_UPSTREAM_HC_PASSED      0
#define PT_HTTP_UPSTREAM_HC_FAILED      1
#define PT_HTTP_UPSTREAM_HC_ABORTED     2       /* says nothing */


typedef struct {
    pt_uint_t                     low;
    pt_uint_t                     high;
} pt_http_upstream_hc_range_t;

typedef struct {
    pt_uint_t                     what;         /* STATUS, HEADER, BODY */
    pt_uint_t                     op;           /* PRESENT ... NRE */
    pt_uint_t                     negate;       /* status ! ... */
    pt_array_t                   *ranges;       /* status: of _range_t */
    pt_str_t                      name;         /* header */
    pt_str_t                      value;        /* header = / != */
    pt_regex_t                   *regex;        /* ~ / !~ */
} pt_http_upstream_hc_test_t;

typedef struct {
    pt_str_t                      name;
    pt_array_t                   *tests;        /* of _test_t */
    pt_uint_t                     body;         /* has body tests */
} pt_http_upstream_hc_match_t;

/* one "health_check" line */
typedef struct {
    pt_http_upstream_srv_conf_t  *upstream;
    pt_msec_t                     interval;
    pt_msec_t                     jitter;
    pt_msec_t                     timeout;
    pt_uint_t                     fails;
    pt_uint_t                     passes;
    pt_str_t                      uri;
    in_port_t                     port;         /* 0: the server's */
    pt_str_t                      match_name;
    pt_http_upstream_hc_match_t  *match;
    pt_str_t                      request;      /* the bytes sent */
    pt_ssl_t                     *ssl;          /* tls: the context */
    pt_str_t                      tls_name;     /* the verified name */
    pt_uint_t                     tls_sni;      /* tls_name goes in SNI */
    u_char                       *file_name;
    pt_uint_t                     line;
} pt_http_upstream_hc_conf_t;

typedef struct {
    pt_array_t                    checks;       /* of _conf_t * */
    pt_array_t                    matches;      /* of _match_t */
} pt_http_upstream_hc_main_conf_t;

/* worker 0's state of the checks of one peer slot */
typedef struct {
    pt_http_upstream_hc_conf_t   *conf;
    pt_uint_t                     index;        /* in the group's peers */
    pt_event_t                    event;        /* next check, or the
                                                   deadline of this one */
    pt_log_t                      log;
    pt_uint_t                     state;
    pt_msec_t                     start;        /* of the last check */

    pt_connection_t              *connection;
    pt_pool_t                    *pool;
    pt_sockaddr_t                 sockaddr;     /* the peer's, at start */
    socklen_t                     socklen;
    pt_sockaddr_t                 target;       /* with port= applied */
    pt_str_t                      name;
    u_char                        name_data[PT_SOCKADDR_STRLEN + 1];

    size_t                        sent;         /* of conf->request */
    pt_buf_t                      head;         /* what was read */
    pt_buf_t                      body;         /* for the body tests */
    pt_http_status_t              status;
    pt_uint_t                     status_n;     /* 0: no status line yet */
    off_t                         length;       /* body left; -1 to EOF,
                                                   -2 chunked */
    pt_http_chunked_t             chunked;
    off_t                         content_length;
    u_char                       *seen;         /* per header test */
    unsigned                      has_length:1;
    unsigned                      is_chunked:1;

    const char                   *reason;       /* why it failed */
    pt_http_upstream_hc_test_t   *test;         /* the header test that
                                                   failed */
    SSL_SESSION                  *session;      /* tls: the last one, to
                                                   resume */
} pt_http_upstream_hc_peer_t;


static char *pt_http_upstream_health_check(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_upstream_match_block(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_upstream_match_line(pt_conf_t *cf, pt_command_t *dummy,
    void *conf);
static void *pt_http_upstream_hc_create_main_conf(pt_conf_t *cf);
static char *pt_http_upstream_hc_init_main_conf(pt_conf_t *cf, void *conf);
static pt_int_t pt_http_upstream_hc_init_process(pt_cycle_t *cycle);
static void pt_http_upstream_hc_exit_process(pt_cycle_t *cycle);

static void pt_http_upstream_hc_timer_handler(pt_event_t *ev);
static void pt_http_upstream_hc_start(pt_http_upstream_hc_peer_t *p);
static void pt_http_upstream_hc_handler(pt_event_t *ev);
static void pt_http_upstream_hc_connected(pt_http_upstream_hc_peer_t *p);
static void pt_http_upstream_hc_ssl_handshaked(pt_connection_t *c);
static void pt_http_upstream_hc_save_session(pt_connection_t *c,
    SSL_SESSION *session);
static void pt_http_upstream_hc_send(pt_http_upstream_hc_peer_t *p);
static void pt_http_upstream_hc_read(pt_http_upstream_hc_peer_t *p);
static void pt_http_upstream_hc_finish(pt_http_upstream_hc_peer_t *p,
    pt_uint_t result, const char *reason, pt_err_t err);


static pt_command_t  pt_http_upstream_health_commands[] = {

    { pt_string("health_check"),
      PT_HTTP_UPS_CONF | PT_CONF_ANY,
      pt_http_upstream_health_check,
      0,
      0,
      NULL },

    { pt_string("match"),
      PT_HTTP_MAIN_CONF | PT_CONF_BLOCK | PT_CONF_TAKE1,
      pt_http_upstream_match_block,
      0,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_upstream_health_module_ctx = {
    NULL,                                   /* preconfiguration */
    NULL,                                   /* postconfiguration */
    pt_http_upstream_hc_create_main_conf,
    pt_http_upstream_hc_init_main_conf,
    NULL, NULL, NULL, NULL
};


pt_module_t  pt_http_upstream_health_module = {
    .ctx = &pt_http_upstream_health_module_ctx,
    .commands = pt_http_upstream_health_commands,
    .type = PT_HTTP_MODULE,
    .init_process = pt_http_upstream_hc_init_process,
    .exit_process = pt_http_upstream_hc_exit_process,
};


/* worker 0's checks: one array of peer states per health_check */
static pt_array_t          *pt_http_upstream_hc_peers;
/* the header parser keeps its findings in a request: a scratch one */
static pt_http_request_t   *pt_http_upstream_hc_request;
/* for jitter: seeded per process */
static uint64_t             pt_http_upstream_hc_random_state =
                                0x2545f4914f6cdd1dULL;


/* configuration */

static void *
pt_http_upstream_hc_create_main_conf(pt_conf_t *cf)
{
    pt_http_upstream_hc_main_conf_t  *hmcf;

    hmcf = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_hc_main_conf_t));
    if (hmcf == NULL) {
        return NULL;
    }

    if (pt_array_init(&hmcf->checks, cf->pool, 2,
                      sizeof(pt_http_upstream_hc_conf_t *)) != PT_OK
        || pt_array_init(&hmcf->matches, cf->pool, 2,
                         sizeof(pt_http_upstream_hc_match_t)) != PT_OK)
    {
        return NULL;
    }

    return hmcf;
}


static pt_int_t
pt_http_upstream_hc_time(pt_str_t *v, size_t skip, pt_msec_t *t)
{
    pt_int_t  n;
    pt_str_t  s;

    s.data = v->data + skip;
    s.len = v->len - skip;

    n = pt_parse_time(&s, 0);

    if (n == PT_ERROR) {
        return PT_ERROR;
    }

    *t = (pt_msec_t) n;

    return PT_OK;
}


static pt_int_t
pt_http_upstream_hc_number(pt_str_t *v, size_t skip, pt_int_t low,
    pt_int_t high, pt_uint_t *out)
{
    pt_int_t  n;

    n = pt_atoi(v->data + skip, v->len - skip);

    if (n == PT_ERROR || n < low || n > high) {
        return PT_ERROR;
    }

    *out = (pt_uint_t) n;

    return PT_OK;
}


/*
 * A name for tls_name=: a host name or an IP address, which is verified
 * as such and, as RFC 6066 wants, not sent in SNI.
 */
static pt_int_t
pt_http_upstream_hc_tls_name(pt_http_upstream_hc_conf_t *hc, pt_str_t *v,
    size_t skip)
{
    u_char           *p;
    char              text[256];
    struct in6_addr   addr;

    hc->tls_name.data = v->data + skip;
    hc->tls_name.len = v->len - skip;

    if (hc->tls_name.len == 0 || hc->tls_name.len >= sizeof(text)) {
        return PT_ERROR;
    }

    for (p = hc->tls_name.data; p < hc->tls_name.data + hc->tls_name.len;
         p++)
    {
        if (!(*p >= '0' && *p <= '9') && !((*p | 0x20) >= 'a'
                                           && (*p | 0x20) <= 'z')
            && *p != '.' && *p != '-' && *p != '_' && *p != ':')
        {
            return PT_ERROR;
        }
    }

    pt_memcpy(text, hc->tls_name.data, hc->tls_name.len);
    text[hc->tls_name.len] = '\0';

    hc->tls_sni = inet_pton(AF_INET, text, &addr) != 1
                  && inet_pton(AF_INET6, text, &addr) != 1;

    return PT_OK;
}


/*
 * The TLS parameters hang together: each needs "tls", the trusted
 * certificates and the depth need "tls_verify", a certificate its key.
 * Then the context is made, once for all the checks of the group.
 */
static char *
pt_http_upstream_hc_tls(pt_conf_t *cf, pt_http_upstream_hc_conf_t *hc,
    pt_uint_t tls, pt_str_t *tls_param, pt_str_t *verify_param,
    pt_ssl_client_conf_t *scc)
{
    if (!tls) {
        if (tls_param) {
            pt_conf_error(cf, "parameter \"%.*s\" requires \"tls\"",
                          PT_STR_ARG(*tls_param));
            return PT_CONF_ERROR;
        }
        return PT_CONF_OK;
    }

    if (verify_param && !scc->verify) {
        pt_conf_error(cf, "parameter \"%.*s\" requires \"tls_verify\"",
                      PT_STR_ARG(*verify_param));
        return PT_CONF_ERROR;
    }

    if ((scc->certificate.value.len == 0)
        != (scc->certificate_key.value.len == 0))
    {
        pt_conf_error(cf, "\"tls_certificate\" and \"tls_certificate_key\" "
                      "go together");
        return PT_CONF_ERROR;
    }

    hc->ssl = pt_pcalloc(cf->pool, sizeof(pt_ssl_t));
    if (hc->ssl == NULL) {
        return PT_CONF_ERROR;
    }

    if (pt_ssl_client_context(cf, hc->ssl, scc) != PT_OK) {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


/*
 * health_check [interval=T] [jitter=T] [fails=N] [passes=N] [uri=PATH]
 *              [port=N] [match=NAME] [timeout=T] [tls] [tls_name=NAME]
 *              [tls_verify] [tls_verify_depth=N]
 *              [tls_trusted_certificate=FILE] [tls_certificate=FILE]
 *              [tls_certificate_key=FILE]
 */
static char *
pt_http_upstream_health_check(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    u_char                            *p;
    pt_str_t                          *value, *v, *tls_param, *verify_param;
    pt_uint_t                          i, n, timeout_set, tls;
    pt_ssl_client_conf_t               scc;
    pt_http_upstream_hc_conf_t        *hc, **hcp;
    pt_http_upstream_srv_conf_t       *us;
    pt_http_upstream_hc_main_conf_t   *hmcf;

    (void) cmd;
    (void) conf;

    hmcf = pt_http_conf_get_module_main_conf(cf,
                                             pt_http_upstream_health_module);
    us = pt_http_conf_get_module_srv_conf(cf, pt_http_upstream_module);

    hcp = hmcf->checks.elts;

    for (i = 0; i < hmcf->checks.nelts; i++) {
        if (hcp[i]->upstream == us) {
            return "is duplicate";
        }
    }

    hc = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_hc_conf_t));
    if (hc == NULL) {
        return PT_CONF_ERROR;
    }

    hc->upstream = us;
    hc->interval = 5000;
    hc->timeout = 5000;
    hc->fails = 1;
    hc->passes = 1;
    pt_str_set(&hc->uri, "/");
    hc->file_name = cf->conf_file->name.data;
    hc->line = cf->conf_file->line;

    /* the name proxy_ssl_name has by default: the group's; no SNI */
    hc->tls_name = us->host;
    hc->tls_sni = 0;

    /* the defaults of proxy_ssl_* */
    pt_memzero(&scc, sizeof(pt_ssl_client_conf_t));
    scc.protocols = PT_SSL_TLSv1_2 | PT_SSL_TLSv1_3;
    pt_str_set(&scc.ciphers.value, "DEFAULT");
    scc.verify_depth = 1;

    timeout_set = 0;
    tls = 0;
    tls_param = NULL;
    verify_param = NULL;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        v = &value[i];

        if (v->len > 9 && pt_strncmp(v->data, "interval=", 9) == 0) {
            if (pt_http_upstream_hc_time(v, 9, &hc->interval) != PT_OK
                || hc->interval == 0)
            {
                goto invalid;
            }
            continue;
        }

        if (v->len > 7 && pt_strncmp(v->data, "jitter=", 7) == 0) {
            if (pt_http_upstream_hc_time(v, 7, &hc->jitter) != PT_OK) {
                goto invalid;
            }
            continue;
        }

        if (v->len > 8 && pt_strncmp(v->data, "timeout=", 8) == 0) {
            if (pt_http_upstream_hc_time(v, 8, &hc->timeout) != PT_OK
                || hc->timeout == 0)
            {
                goto invalid;
            }
            timeout_set = 1;
            continue;
        }

        if (v->len > 6 && pt_strncmp(v->data, "fails=", 6) == 0) {
            if (pt_http_upstream_hc_number(v, 6, 1, 1000000, &hc->fails)
                != PT_OK)
            {
                goto invalid;
            }
            continue;
        }

        if (v->len > 7 && pt_strncmp(v->data, "passes=", 7) == 0) {
            if (pt_http_upstream_hc_number(v, 7, 1, 1000000, &hc->passes)
                != PT_OK)
            {
                goto invalid;
            }
            continue;
        }

        if (v->len > 5 && pt_strncmp(v->data, "port=", 5) == 0) {
            if (pt_http_upstream_hc_number(v, 5, 1, 65535, &n) != PT_OK) {
                goto invalid;
            }
            hc->port = (in_port_t) n;
            continue;
        }

        if (v->len > 4 && pt_strncmp(v->data, "uri=", 4) == 0) {
            hc->uri.data = v->data + 4;
            hc->uri.len = v->len - 4;

            /* it goes into the request line as it is */
            if (hc->uri.data[0] != '/'
                || hc->uri.len > PT_HTTP_UPSTREAM_HC_MAX_URI)
            {
                goto invalid;
            }

            for (p = hc->uri.data; p < hc->uri.data + hc->uri.len; p++) {
                if (*p <= 0x20 || *p >= 0x7f) {
                    goto invalid;
                }
            }
            continue;
        }

        if (v->len > 6 && pt_strncmp(v->data, "match=", 6) == 0) {
            hc->match_name.data = v->data + 6;
            hc->match_name.len = v->len - 6;
            continue;
        }

        if (pt_str_eq_lit(v, "tls")) {
            tls = 1;
            continue;
        }

        if (v->len < 4 || pt_strncmp(v->data, "tls_", 4) != 0) {
            goto invalid;
        }

        /* the parameters of TLS */

        if (tls_param == NULL) {
            tls_param = v;
        }

        if (pt_str_eq_lit(v, "tls_verify")) {
            scc.verify = 1;
            continue;
        }

        if (v->len > 9 && pt_strncmp(v->data, "tls_name=", 9) == 0) {
            if (pt_http_upstream_hc_tls_name(hc, v, 9) != PT_OK) {
                goto invalid;
            }
            continue;
        }

        if (v->len > 17 && pt_strncmp(v->data, "tls_verify_depth=", 17) == 0)
        {
            if (pt_http_upstream_hc_number(v, 17, 0, 100, &n) != PT_OK) {
                goto invalid;
            }
            scc.verify_depth = (pt_int_t) n;
            verify_param = v;
            continue;
        }

        if (v->len > 24
            && pt_strncmp(v->data, "tls_trusted_certificate=", 24) == 0)
        {
            scc.trusted_certificate.value.data = v->data + 24;
            scc.trusted_certificate.value.len = v->len - 24;
            verify_param = v;
            continue;
        }

        if (v->len > 16 && pt_strncmp(v->data, "tls_certificate=", 16) == 0) {
            scc.certificate.value.data = v->data + 16;
            scc.certificate.value.len = v->len - 16;
            continue;
        }

        if (v->len > 20
            && pt_strncmp(v->data, "tls_certificate_key=", 20) == 0)
        {
            scc.certificate_key.value.data = v->data + 20;
            scc.certificate_key.value.len = v->len - 20;
            continue;
        }

        goto invalid;
    }

    if (!timeout_set) {
        hc->timeout = pt_min(hc->timeout, hc->interval);
    }

    if (pt_http_upstream_hc_tls(cf, hc, tls, tls_param, verify_param, &scc)
        != PT_CONF_OK)
    {
        return PT_CONF_ERROR;
    }

    hcp = pt_array_push(&hmcf->checks);
    if (hcp == NULL) {
        return PT_CONF_ERROR;
    }

    *hcp = hc;

    return PT_CONF_OK;

invalid:

    pt_conf_error(cf, "invalid parameter \"%.*s\"", PT_STR_ARG(*v));

    return PT_CONF_ERROR;
}


/* match NAME { status ...; header ...; body ...; } */
static char *
pt_http_upstream_match_block(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char                              *rv;
    pt_str_t                          *value;
    pt_uint_t                          i;
    pt_conf_t                          save;
    pt_http_upstream_hc_match_t       *m;
    pt_http_upstream_hc_main_conf_t   *hmcf;

    (void) cmd;
    (void) conf;

    hmcf = pt_http_conf_get_module_main_conf(cf,
                                             pt_http_upstream_health_module);
    value = cf->args->elts;

    if (value[1].len == 0) {
        pt_conf_error(cf, "invalid match name \"\"");
        return PT_CONF_ERROR;
    }

    m = hmcf->matches.elts;

    for (i = 0; i < hmcf->matches.nelts; i++) {
        if (pt_str_eq(&m[i].name, &value[1])) {
            pt_conf_error(cf, "duplicate match \"%.*s\"",
                          PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }
    }

    m = pt_array_push(&hmcf->matches);
    if (m == NULL) {
        return PT_CONF_ERROR;
    }

    m->name = value[1];
    m->body = 0;
    m->tests = pt_array_create(cf->pool, 4,
                               sizeof(pt_http_upstream_hc_test_t));
    if (m->tests == NULL) {
        return PT_CONF_ERROR;
    }

    save = *cf;
    cf->handler = pt_http_upstream_match_line;
    cf->handler_conf = m;

    rv = pt_conf_parse(cf, NULL);

    *cf = save;

    return rv;
}


static pt_int_t
pt_http_upstream_hc_status_code(pt_str_t *v, size_t len, pt_uint_t *code)
{
    pt_int_t  n;

    n = pt_atoi(v->data, len);

    if (len != 3 || n < 100 || n > 599) {
        return PT_ERROR;
    }

    *code = (pt_uint_t) n;

    return PT_OK;
}


static char *
pt_http_upstream_hc_regex(pt_conf_t *cf, pt_http_upstream_hc_test_t *t,
    pt_str_t *pattern)
{
    pt_regex_compile_t  rc;

    pt_memzero(&rc, sizeof(pt_regex_compile_t));
    rc.pattern = *pattern;
    rc.pool = cf->pool;

    if (pt_regex_compile(&rc) != PT_OK) {
        if (rc.err[0]) {
            pt_conf_error(cf, "%s", rc.err);
        }
        return PT_CONF_ERROR;
    }

    t->regex = rc.regex;

    return PT_CONF_OK;
}


/* a character of a header field name (RFC 9110 token) */
static pt_uint_t
pt_http_upstream_hc_tchar(u_char ch)
{
    if ((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))
    {
        return 1;
    }

    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}


/* one test of a match block */
static char *
pt_http_upstream_match_line(pt_conf_t *cf, pt_command_t *dummy, void *conf)
{
    pt_http_upstream_hc_match_t  *m = conf;

    u_char                       *p, *dash;
    pt_str_t                     *value, lo, hi;
    pt_uint_t                     i, n, first, low, high;
    pt_http_upstream_hc_test_t   *t;
    pt_http_upstream_hc_range_t  *r;

    (void) dummy;

    value = cf->args->elts;
    n = cf->args->nelts;

    if (m->tests->nelts == PT_HTTP_UPSTREAM_HC_MAX_TESTS) {
        pt_conf_error(cf, "too many tests in match \"%.*s\"",
                      PT_STR_ARG(m->name));
        return PT_CONF_ERROR;
    }

    t = pt_array_push(m->tests);
    if (t == NULL) {
        return PT_CONF_ERROR;
    }

    pt_memzero(t, sizeof(pt_http_upstream_hc_test_t));

    if (pt_str_eq_lit(&value[0], "status")) {
        t->what = PT_HTTP_UPSTREAM_HC_STATUS;

        first = 1;

        if (n > 1 && pt_str_eq_lit(&value[1], "!")) {
            t->negate = 1;
            first = 2;
        }

        if (first == n) {
            pt_conf_error(cf, "invalid number of arguments in \"status\" "
                          "test");
            return PT_CONF_ERROR;
        }

        t->ranges = pt_array_create(cf->pool, n - first,
                                    sizeof(pt_http_upstream_hc_range_t));
        if (t->ranges == NULL) {
            return PT_CONF_ERROR;
        }

        for (i = first; i < n; i++) {
            dash = pt_strlchr(value[i].data, value[i].data + value[i].len,
                              '-');

            lo = value[i];
            hi = value[i];

            if (dash) {
                lo.len = dash - value[i].data;
                hi.data = dash + 1;
                hi.len = value[i].data + value[i].len - hi.data;
            }

            if (pt_http_upstream_hc_status_code(&lo, lo.len, &low) != PT_OK
                || pt_http_upstream_hc_status_code(&hi, hi.len, &high)
                   != PT_OK
                || low > high)
            {
                pt_conf_error(cf, "invalid status \"%.*s\"",
                              PT_STR_ARG(value[i]));
                return PT_CONF_ERROR;
            }

            r = pt_array_push(t->ranges);
            if (r == NULL) {
                return PT_CONF_ERROR;
            }

            r->low = low;
            r->high = high;
        }

        return PT_CONF_OK;
    }

    if (pt_str_eq_lit(&value[0], "header")) {
        t->what = PT_HTTP_UPSTREAM_HC_HEADER;

        if (n == 2) {
            t->op = PT_HTTP_UPSTREAM_HC_PRESENT;
            t->name = value[1];

        } else if (n == 3 && pt_str_eq_lit(&value[1], "!")) {
            t->op = PT_HTTP_UPSTREAM_HC_ABSENT;
            t->name = value[2];

        } else if (n == 4) {
            t->name = value[1];

            if (pt_str_eq_lit(&value[2], "=")) {
                t->op = PT_HTTP_UPSTREAM_HC_EQ;
            } else if (pt_str_eq_lit(&value[2], "!=")) {
                t->op = PT_HTTP_UPSTREAM_HC_NE;
            } else if (pt_str_eq_lit(&value[2], "~")) {
                t->op = PT_HTTP_UPSTREAM_HC_RE;
            } else if (pt_str_eq_lit(&value[2], "!~")) {
                t->op = PT_HTTP_UPSTREAM_HC_NRE;
            } else {
                pt_conf_error(cf, "invalid operator \"%.*s\" in \"header\" "
                              "test", PT_STR_ARG(value[2]));
                return PT_CONF_ERROR;
            }

            t->value = value[3];

        } else {
            pt_conf_error(cf, "invalid number of arguments in \"header\" "
                          "test");
            return PT_CONF_ERROR;
        }

        if (t->name.len == 0) {
            goto invalid_name;
        }

        for (p = t->name.data; p < t->name.data + t->name.len; p++) {
            if (!pt_http_upstream_hc_tchar(*p)) {
                goto invalid_name;
            }
        }

        if (t->op == PT_HTTP_UPSTREAM_HC_RE
            || t->op == PT_HTTP_UPSTREAM_HC_NRE)
        {
            return pt_http_upstream_hc_regex(cf, t, &t->value);
        }

        return PT_CONF_OK;
    }

    if (pt_str_eq_lit(&value[0], "body")) {
        t->what = PT_HTTP_UPSTREAM_HC_BODY;

        if (n != 3) {
            pt_conf_error(cf, "invalid number of arguments in \"body\" "
                          "test");
            return PT_CONF_ERROR;
        }

        if (pt_str_eq_lit(&value[1], "~")) {
            t->op = PT_HTTP_UPSTREAM_HC_RE;
        } else if (pt_str_eq_lit(&value[1], "!~")) {
            t->op = PT_HTTP_UPSTREAM_HC_NRE;
        } else {
            pt_conf_error(cf, "invalid operator \"%.*s\" in \"body\" test",
                          PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }

        m->body = 1;

        return pt_http_upstream_hc_regex(cf, t, &value[2]);
    }

    if (pt_str_eq_lit(&value[0], "require")) {
        pt_conf_error(cf, "\"require\" tests are not supported in match");
        return PT_CONF_ERROR;
    }

    pt_conf_error(cf, "unknown test \"%.*s\" in match",
                  PT_STR_ARG(value[0]));
    return PT_CONF_ERROR;

invalid_name:

    pt_conf_error(cf, "invalid header name \"%.*s\"", PT_STR_ARG(t->name));
    return PT_CONF_ERROR;
}


/*
 * The http block is complete: every health_check needs its group in a
 * zone (so that all workers see the results) and a match block that
 * exists; its request is built once.
 */
static char *
pt_http_upstream_hc_init_main_conf(pt_conf_t *cf, void *conf)
{
    pt_http_upstream_hc_main_conf_t  *hmcf = conf;

    u_char                        *p;
    size_t                         len;
    pt_uint_t                      i, j;
    pt_http_upstream_hc_conf_t    *hc, **hcp;
    pt_http_upstream_hc_match_t   *m;

    static const char  ua[] = "User-Agent: portico-health-check\r\n";

    hcp = hmcf->checks.elts;

    for (i = 0; i < hmcf->checks.nelts; i++) {
        hc = hcp[i];

        if (hc->upstream->shm_zone == NULL) {
            pt_log_error(PT_LOG_EMERG, cf->log, 0,
                         "health_check requires a \"zone\" in upstream "
                         "\"%.*s\" in %s:%lu",
                         PT_STR_ARG(hc->upstream->host),
                         (char *) hc->file_name, (unsigned long) hc->line);
            return PT_CONF_ERROR;
        }

        if (hc->match_name.data) {
            m = hmcf->matches.elts;

            for (j = 0; j < hmcf->matches.nelts; j++) {
                if (pt_str_eq(&m[j].name, &hc->match_name)) {
                    hc->match = &m[j];
                    break;
                }
            }

            if (hc->match == NULL) {
                pt_log_error(PT_LOG_EMERG, cf->log, 0,
                             "unknown match \"%.*s\" in %s:%lu",
                             PT_STR_ARG(hc->match_name),
                             (char *) hc->file_name,
                             (unsigned long) hc->line);
                return PT_CONF_ERROR;
            }
        }

        len = sizeof("GET  HTTP/1.1\r\n") - 1 + hc->uri.len
              + sizeof("Host: \r\n") - 1 + hc->upstream->host.len
              + sizeof("Connection: close\r\n") - 1
              + sizeof(ua) - 1 + 2;

        p = pt_pnalloc(cf->pool, len);
        if (p == NULL) {
            return PT_CONF_ERROR;
        }

        hc->request.data = p;

        p = pt_cpymem(p, "GET ", 4);
        p = pt_cpymem(p, hc->uri.data, hc->uri.len);
        p = pt_cpymem(p, " HTTP/1.1\r\nHost: ", 17);
        p = pt_cpymem(p, hc->upstream->host.data, hc->upstream->host.len);
        p = pt_cpymem(p, "\r\nConnection: close\r\n", 21);
        p = pt_cpymem(p, ua, sizeof(ua) - 1);
        p = pt_cpymem(p, "\r\n", 2);

        hc->request.len = p - hc->request.data;
    }

    return PT_CONF_OK;
}


/* worker 0 runs the checks */

static uint32_t
pt_http_upstream_hc_random(void)
{
    uint64_t  x;

    x = pt_http_upstream_hc_random_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    pt_http_upstream_hc_random_state = x;

    return (uint32_t) ((x * 0x2545f4914f6cdd1dULL) >> 32);
}


static pt_int_t
pt_http_upstream_hc_init_process(pt_cycle_t *cycle)
{
    pt_uint_t                          i, j, n;
    pt_array_t                        *a;
    pt_http_upstream_hc_peer_t        *p;
    pt_http_upstream_hc_conf_t       **hcp;
    pt_http_upstream_hc_main_conf_t   *hmcf;

    hmcf = pt_http_cycle_get_module_main_conf(cycle,
                                              pt_http_upstream_health_module);

    /* one process checks for the whole instance: the worker of slot 0 */
    if (hmcf == NULL || hmcf->checks.nelts == 0 || pt_worker != 0) {
        return PT_OK;
    }

    pt_http_upstream_hc_random_state ^=
        (((uint64_t) getpid() << 32) ^ (uint64_t) pt_current_msec)
        * 0xbf58476d1ce4e5b9ULL;

    if (pt_http_upstream_hc_random_state == 0) {
        pt_http_upstream_hc_random_state = 1;
    }

    pt_http_upstream_hc_request = pt_pcalloc(cycle->pool,
                                             sizeof(pt_http_request_t));

    pt_http_upstream_hc_peers = pt_array_create(cycle->pool,
                                                hmcf->checks.nelts,
                                                sizeof(pt_array_t));

    if (pt_http_upstream_hc_request == NULL
        || pt_http_upstream_hc_peers == NULL)
    {
        return PT_ERROR;
    }

    hcp = hmcf->checks.elts;

    for (i = 0; i < hmcf->checks.nelts; i++) {
        n = hcp[i]->upstream->peers->number;

        a = pt_array_push(pt_http_upstream_hc_peers);
        if (a == NULL) {
            return PT_ERROR;
        }

        if (pt_array_init(a, cycle->pool, n,
                          sizeof(pt_http_upstream_hc_peer_t)) != PT_OK)
        {
            return PT_ERROR;
        }

        p = pt_array_push_n(a, n);
        if (p == NULL) {
            return PT_ERROR;
        }

        pt_memzero(p, n * sizeof(pt_http_upstream_hc_peer_t));

        for (j = 0; j < n; j++) {
            p[j].conf = hcp[i];
            p[j].index = j;
            p[j].log = *cycle->log;
            p[j].event.data = &p[j];
            p[j].event.handler = pt_http_upstream_hc_timer_handler;
            p[j].event.log = &p[j].log;
            p[j].event.cancelable = 1;  /* shutdown does not wait for it */

            /* the first round starts now, spread over the jitter */
            pt_event_add_timer(&p[j].event,
                               hcp[i]->jitter
                               ? pt_http_upstream_hc_random()
                                 % hcp[i]->jitter
                               : 0);
        }
    }

    return PT_OK;
}


static void
pt_http_upstream_hc_close(pt_http_upstream_hc_peer_t *p)
{
    if (p->connection) {
        if (p->connection->ssl) {
            (void) pt_ssl_shutdown(p->connection);
        }

        pt_close_connection(p->connection);
        p->connection = NULL;
    }

    if (p->pool) {
        pt_destroy_pool(p->pool);
        p->pool = NULL;
    }

    if (p->event.timer_set) {
        pt_event_del_timer(&p->event);
    }

    p->state = PT_HTTP_UPSTREAM_HC_IDLE;
}


static void
pt_http_upstream_hc_exit_process(pt_cycle_t *cycle)
{
    pt_uint_t                    i, j;
    pt_array_t                  *a;
    pt_http_upstream_hc_peer_t  *p;

    (void) cycle;

    if (pt_http_upstream_hc_peers == NULL) {
        return;
    }

    a = pt_http_upstream_hc_peers->elts;

    for (i = 0; i < pt_http_upstream_hc_peers->nelts; i++) {
        p = a[i].elts;

        for (j = 0; j < a[i].nelts; j++) {
            pt_http_upstream_hc_close(&p[j]);

            if (p[j].session) {
                SSL_SESSION_free(p[j].session);
                p[j].session = NULL;
            }
        }
    }

    pt_http_upstream_hc_peers = NULL;
}


/* The next check of p: an interval after the start of the last one. */
static void
pt_http_upstream_hc_schedule(pt_http_upstream_hc_peer_t *p)
{
    pt_msec_t                    delay, elapsed;
    pt_http_upstream_hc_conf_t  *hc;

    hc = p->conf;

    if (p->event.timer_set) {
        pt_event_del_timer(&p->event);
    }

    if (pt_exiting) {
        return;
    }

    elapsed = pt_current_msec - p->start;
    delay = (elapsed < hc->interval) ? hc->interval - elapsed : 0;

    if (hc->jitter) {
        delay += pt_http_upstream_hc_random() % hc->jitter;
    }

    pt_event_add_timer(&p->event, delay);
}


static void
pt_http_upstream_hc_timer_handler(pt_event_t *ev)
{
    pt_http_upstream_hc_peer_t  *p;

    p = ev->data;
    ev->timedout = 0;

    if (p->state != PT_HTTP_UPSTREAM_HC_IDLE) {
        pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_FAILED,
                                   p->state == PT_HTTP_UPSTREAM_HC_HANDSHAKE
                                   ? "timed out in TLS handshake"
                                   : "timed out", ETIMEDOUT);
        return;
    }

    if (pt_exiting) {
        return;
    }

    pt_http_upstream_hc_start(p);
}


/*
 * Starts a check of p's peer at the address it has now (a resolver may
 * fill or change a slot between rounds): unused slots and "down" servers
 * are passed over until the next round.
 */
static void
pt_http_upstream_hc_start(pt_http_upstream_hc_peer_t *p)
{
    int                           rc, on;
    pt_fd_t                       s;
    pt_uint_t                     skip;
    pt_pool_t                    *pool;
    pt_connection_t              *c;
    pt_http_upstream_hc_conf_t   *hc;
    pt_http_upstream_rr_peer_t   *peer;
    pt_http_upstream_rr_peers_t  *peers;

    hc = p->conf;
    peers = hc->upstream->peers;
    c = NULL;

    p->start = pt_current_msec;

    pt_http_upstream_rr_lock(peers);

    peer = &peers->peer[p->index];
    skip = peer->unused || peer->down;

    if (!skip) {
        if (p->session
            && pt_cmp_sockaddr(&peer->sockaddr.sockaddr, peer->socklen,
                               &p->sockaddr.sockaddr, p->socklen, 1)
               != PT_OK)
        {
            /* a resolver moved the slot: another server's session */
            SSL_SESSION_free(p->session);
            p->session = NULL;
        }

        p->sockaddr = peer->sockaddr;
        p->socklen = peer->socklen;
        p->name.len = pt_min(peer->name.len, PT_SOCKADDR_STRLEN);
        pt_memcpy(p->name_data, peer->name.data, p->name.len);
        p->name.data = p->name_data;
    }

    pt_http_upstream_rr_unlock(peers);

    if (skip) {
        pt_http_upstream_hc_schedule(p);
        return;
    }

    p->target = p->sockaddr;

    if (hc->port) {
        pt_inet_set_port(&p->target.sockaddr, hc->port);
    }

    s = socket(p->target.sockaddr.sa_family,
               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (s == -1) {
        pt_log_error(PT_LOG_ALERT, &p->log, errno,
                     "socket() failed for the health check of %.*s in "
                     "upstream \"%.*s\"", PT_STR_ARG(p->name),
                     PT_STR_ARG(hc->upstream->host));
        goto failed;
    }

    c = pt_get_connection(s, &p->log);
    if (c == NULL) {
        (void) close(s);
        goto failed;
    }

    pool = pt_create_pool(1024, &p->log);
    if (pool == NULL) {
        goto failed;
    }

    p->head.start = pt_palloc(pool, PT_HTTP_UPSTREAM_HC_HEAD_SIZE);
    p->seen = pt_pcalloc(pool, PT_HTTP_UPSTREAM_HC_MAX_TESTS);

    if (p->head.start == NULL || p->seen == NULL) {
        pt_destroy_pool(pool);
        goto failed;
    }

    p->connection = c;
    p->pool = pool;
    p->state = PT_HTTP_UPSTREAM_HC_CONNECT;
    p->sent = 0;
    p->status_n = 0;
    p->length = -1;
    p->content_length = -1;
    p->has_length = 0;
    p->is_chunked = 0;
    p->reason = NULL;
    p->test = NULL;
    pt_memzero(&p->chunked, sizeof(pt_http_chunked_t));
    pt_memzero(&p->body, sizeof(pt_buf_t));

    p->head.pos = p->head.start;
    p->head.last = p->head.start;
    p->head.end = p->head.start + PT_HTTP_UPSTREAM_HC_HEAD_SIZE;

    c->pool = pool;
    c->data = p;
    c->type = SOCK_STREAM;
    c->recv = pt_unix_recv;
    c->send = pt_unix_send;
    c->sockaddr = &p->target.sockaddr;
    c->socklen = p->socklen;
    c->addr_text = p->name;
    c->log_error = PT_ERROR_INFO;
    c->read->handler = pt_http_upstream_hc_handler;
    c->write->handler = pt_http_upstream_hc_handler;

    /* the check gives way: shutdown or a shortage of connections ends it */
    pt_reusable_connection(c, 1);

    if (p->target.sockaddr.sa_family != AF_UNIX) {
        on = 1;
        (void) setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(int));
        c->tcp_nodelay = PT_TCP_NODELAY_SET;
    }

    /* the deadline of the whole check */
    pt_event_add_timer(&p->event, hc->timeout);

    rc = connect(s, c->sockaddr, c->socklen);

    if (rc == -1 && errno != EINPROGRESS) {
        pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_FAILED,
                                   "connect() failed", errno);
        return;
    }

    if (pt_event_add_conn(c) != PT_OK) {
        pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_ABORTED, NULL, 0);
        return;
    }

    if (rc == 0) {
        c->write->ready = 1;
        pt_http_upstream_hc_connected(p);
    }

    return;

failed:

    /* our own trouble, not the server's: no verdict, try next round */
    if (c) {
        pt_close_connection(c);
    }

    pt_http_upstream_hc_schedule(p);
}


static void
pt_http_upstream_hc_handler(pt_event_t *ev)
{
    int                          err;
    socklen_t                    len;
    pt_connection_t             *c;
    pt_http_upstream_hc_peer_t  *p;

    c = ev->data;
    p = c->data;

    if (c->close) {
        /* closed to make room, or the worker is shutting down */
        pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_ABORTED, NULL, 0);
        return;
    }

    if (p->state == PT_HTTP_UPSTREAM_HC_CONNECT) {
        err = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            err = errno;
        }

        if (err) {
            pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_FAILED,
                                       "connect() failed", err);
            return;
        }

        if (!ev->write) {
            return;         /* still connecting: the write event says */
        }

        pt_http_upstream_hc_connected(p);
        return;
    }

    if (p->state == PT_HTTP_UPSTREAM_HC_SEND) {
        if (ev->write) {
            pt_http_upstream_hc_send(p);
        }
        return;
    }

    if (!ev->write) {
        pt_http_upstream_hc_read(p);
    }
}


/* Connected: the request goes, after a TLS handshake with tls. */
static void
pt_http_upstream_hc_connected(pt_http_upstream_hc_peer_t *p)
{
    pt_int_t                     rc;
    pt_connection_t             *c;
    pt_ssl_connection_t         *sc;
    pt_http_upstream_hc_conf_t  *hc;

    c = p->connection;
    hc = p->conf;

    if (hc->ssl == NULL) {
        p->state = PT_HTTP_UPSTREAM_HC_SEND;
        pt_http_upstream_hc_send(p);
        return;
    }

    p->state = PT_HTTP_UPSTREAM_HC_HANDSHAKE;

    if (pt_ssl_create_client_connection(hc->ssl, c, &hc->tls_name,
                                        hc->tls_sni, p->session) != PT_OK)
    {
        /* logged: our own trouble, no verdict on the server */
        pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_ABORTED, NULL, 0);
        return;
    }

    sc = c->ssl;
    sc->quiet = 1;
    sc->handler = pt_http_upstream_hc_ssl_handshaked;
    sc->save_session = pt_http_upstream_hc_save_session;

    /*
     * The handshake's event handlers do not look at c->close: until it is
     * over, the check is not closed to make room or at shutdown (its
     * timeout still ends it), as a client's handshake is not.
     */
    pt_reusable_connection(c, 0);

    rc = pt_ssl_handshake(c);

    if (rc == PT_AGAIN) {
        return;
    }

    pt_http_upstream_hc_ssl_handshaked(c);
}


/* The newest session the server gave: under TLS 1.3, after the handshake. */
static void
pt_http_upstream_hc_save_session(pt_connection_t *c, SSL_SESSION *session)
{
    pt_http_upstream_hc_peer_t  *p;

    p = c->data;

    if (!SSL_SESSION_up_ref(session)) {
        return;
    }

    if (p->session) {
        SSL_SESSION_free(p->session);
    }

    p->session = session;
}


static void
pt_http_upstream_hc_ssl_handshaked(pt_connection_t *c)
{
    pt_ssl_connection_t         *sc;
    pt_http_upstream_hc_peer_t  *p;

    p = c->data;
    sc = c->ssl;

    if (!sc->handshaked) {
        if (p->session) {
            /* a server that fails may have lost it, or never had it */
            SSL_SESSION_free(p->session);
            p->session = NULL;
        }

        pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_FAILED,
                                   sc->error ? sc->error
                                             : "TLS handshake failed", 0);
        return;
    }

    c->read->handler = pt_http_upstream_hc_handler;
    c->write->handler = pt_http_upstream_hc_handler;

    pt_reusable_connection(c, 1);

    if (c->close || pt_exiting) {
        /* closed to make room, or the worker is shutting down */
        pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_ABORTED, NULL, 0);
        return;
    }

    p->state = PT_HTTP_UPSTREAM_HC_SEND;
    pt_http_upstream_hc_send(p);
}


static void
pt_http_upstream_hc_send(pt_http_upstream_hc_peer_t *p)
{
    ssize_t           n;
    pt_str_t         *rq;
    pt_connection_t  *c;

    c = p->connection;
    rq = &p->conf->request;

    while (p->sent < rq->len) {
        n = c->send(c, rq->data + p->sent, rq->len - p->sent);

        if (n == PT_AGAIN) {
            return;
        }

        if (n <= 0) {
            pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_FAILED,
                                       "send() failed", 0);
            return;
        }

        p->sent += n;
    }

    p->state = PT_HTTP_UPSTREAM_HC_HEAD;

    /* the answer may be there already: the read event came while sending */
    if (c->read->ready) {
        pt_http_upstream_hc_read(p);
    }
}


/* Does this header field satisfy test t (header tests only)? */
static pt_uint_t
pt_http_upstream_hc_header_test(pt_http_upstream_hc_test_t *t,
    pt_str_t *name, pt_str_t *value)
{
    pt_int_t  rc;

    if (name->len != t->name.len
        || pt_strncasecmp(name->data, t->name.data, name->len) != 0)
    {
        return 0;
    }

    switch (t->op) {

    case PT_HTTP_UPSTREAM_HC_EQ:
        return pt_str_eq(value, &t->value);

    case PT_HTTP_UPSTREAM_HC_NE:
        return !pt_str_eq(value, &t->value);

    case PT_HTTP_UPSTREAM_HC_RE:
        rc = pt_regex_exec(t->regex, value, NULL, 0);
        return rc > 0;

    case PT_HTTP_UPSTREAM_HC_NRE:
        rc = pt_regex_exec(t->regex, value, NULL, 0);
        return rc == PT_DECLINED;

    default:    /* PRESENT, ABSENT: the field is there */
        return 1;
    }
}


/*
 * Parses the response head in p->head with the proxy's strict parsers.
 * Returns PT_OK when it is complete, PT_AGAIN, or PT_ERROR with p->reason
 * set. Interim 1xx heads are skipped.
 */
static pt_int_t
pt_http_upstream_hc_parse_head(pt_http_upstream_hc_peer_t *p)
{
    off_t                         len;
    pt_int_t                      rc;
    pt_str_t                      name, value;
    pt_uint_t                     i;
    pt_http_request_t            *r;
    pt_http_upstream_hc_test_t   *t;

    r = pt_http_upstream_hc_request;

    for ( ;; ) {

        if (p->status_n == 0) {
            rc = pt_http_parse_status_line(r, &p->head, &p->status);

            if (rc == PT_AGAIN) {
                return PT_AGAIN;
            }

            if (rc != PT_OK) {
                p->reason = "invalid status line";
                return PT_ERROR;
            }

            p->status_n = p->status.code;
            p->has_length = 0;
            p->is_chunked = 0;
            p->content_length = -1;
            pt_memzero(p->seen, PT_HTTP_UPSTREAM_HC_MAX_TESTS);
        }

        rc = pt_http_parse_header_line(r, &p->head, 1);

        if (rc == PT_AGAIN) {
            return PT_AGAIN;
        }

        if (rc == PT_HTTP_PARSE_HEADER_DONE) {
            if (p->status_n < 200) {
                if (p->status_n == PT_HTTP_SWITCHING_PROTOCOLS) {
                    p->reason = "unexpected 101 status";
                    return PT_ERROR;
                }

                p->status_n = 0;        /* interim: the next head */
                continue;
            }

            if (p->has_length && p->is_chunked) {
                p->reason = "both Content-Length and Transfer-Encoding";
                return PT_ERROR;
            }

            return PT_OK;
        }

        if (rc != PT_OK) {
            p->reason = "invalid header";
            return PT_ERROR;
        }

        name.data = r->header_name_start;
        name.len = r->header_name_end - r->header_name_start;
        value.data = r->header_start;
        value.len = r->header_end - r->header_start;

        if (pt_str_caseeq_lit(&name, "content-length")) {
            if (pt_http_parse_content_length(value.data, value.len, &len)
                != PT_OK
                || (p->has_length && len != p->content_length))
            {
                p->reason = "invalid Content-Length";
                return PT_ERROR;
            }

            p->has_length = 1;
            p->content_length = len;

        } else if (pt_str_caseeq_lit(&name, "transfer-encoding")) {
            if (p->is_chunked || !pt_str_caseeq_lit(&value, "chunked")) {
                p->reason = "unsupported Transfer-Encoding";
                return PT_ERROR;
            }

            p->is_chunked = 1;
        }

        if (p->conf->match == NULL) {
            continue;
        }

        t = p->conf->match->tests->elts;

        for (i = 0; i < p->conf->match->tests->nelts; i++) {
            if (t[i].what == PT_HTTP_UPSTREAM_HC_HEADER && !p->seen[i]
                && pt_http_upstream_hc_header_test(&t[i], &name, &value))
            {
                p->seen[i] = 1;
            }
        }
    }
}


/* The status and header tests, once the head is complete. */
static pt_int_t
pt_http_upstream_hc_check_head(pt_http_upstream_hc_peer_t *p)
{
    pt_uint_t                     i, j, in;
    pt_http_upstream_hc_test_t   *t;
    pt_http_upstream_hc_range_t  *range;

    if (p->conf->match == NULL) {
        if (p->status_n < 200 || p->status_n > 399) {
            p->reason = "status is not 2xx or 3xx";
            return PT_ERROR;
        }
        return PT_OK;
    }

    t = p->conf->match->tests->elts;

    for (i = 0; i < p->conf->match->tests->nelts; i++) {

        switch (t[i].what) {

        case PT_HTTP_UPSTREAM_HC_STATUS:
            range = t[i].ranges->elts;
            in = 0;

            for (j = 0; j < t[i].ranges->nelts; j++) {
                if (p->status_n >= range[j].low
                    && p->status_n <= range[j].high)
                {
                    in = 1;
                    break;
                }
            }

            if (in == t[i].negate) {
                p->reason = "status test failed";
                return PT_ERROR;
            }
            break;

        case PT_HTTP_UPSTREAM_HC_HEADER:
            if ((t[i].op == PT_HTTP_UPSTREAM_HC_ABSENT) == p->seen[i]) {
                p->reason = "header test failed";
                p->test = &t[i];
                return PT_ERROR;
            }
            break;

        default:
            break;
        }
    }

    return PT_OK;
}


/* The body tests, on the first bytes of the body (at most 256 KiB). */
static pt_int_t
pt_http_upstream_hc_check_body(pt_http_upstream_hc_peer_t *p)
{
    pt_int_t                     rc;
    pt_str_t                     body;
    pt_uint_t                    i;
    pt_http_upstream_hc_test_t  *t;

    body.data = p->body.start;
    body.len = p->body.last - p->body.start;

    t = p->conf->match->tests->elts;

    for (i = 0; i < p->conf->match->tests->nelts; i++) {
        if (t[i].what != PT_HTTP_UPSTREAM_HC_BODY) {
            continue;
        }

        rc = pt_regex_exec(t[i].regex, &body, NULL, 0);

        if (rc == PT_ERROR
            || (t[i].op == PT_HTTP_UPSTREAM_HC_RE && rc == PT_DECLINED)
            || (t[i].op == PT_HTTP_UPSTREAM_HC_NRE && rc != PT_DECLINED))
        {
            p->reason = "body test failed";
            return PT_ERROR;
        }
    }

    return PT_OK;
}


/*
 * Takes the body bytes in p->head (decoding chunks) into p->body. Returns
 * PT_OK when enough of the body is in (all of it, or the buffer is full),
 * PT_AGAIN for more, PT_ERROR on bad framing.
 */
static pt_int_t
pt_http_upstream_hc_take_body(pt_http_upstream_hc_peer_t *p)
{
    off_t       n;
    size_t      room;
    pt_int_t    rc;
    pt_buf_t   *b;

    b = &p->head;

    while (p->length != 0 && b->pos < b->last) {

        if (p->length == -2) {
            rc = pt_http_parse_chunked(pt_http_upstream_hc_request, b,
                                       &p->chunked);

            if (rc == PT_DONE) {
                p->length = 0;
                break;
            }

            if (rc == PT_AGAIN) {
                break;
            }

            if (rc != PT_OK) {
                p->reason = "invalid chunked body";
                return PT_ERROR;
            }

            n = pt_min(p->chunked.size, (off_t) (b->last - b->pos));
            p->chunked.size -= n;

        } else if (p->length > 0) {
            n = pt_min(p->length, (off_t) (b->last - b->pos));
            p->length -= n;

        } else {
            n = b->last - b->pos;
        }

        room = p->body.end - p->body.last;
        room = pt_min(room, (size_t) n);

        p->body.last = pt_cpymem(p->body.last, b->pos, room);
        b->pos += n;

        if (p->body.last == p->body.end) {
            return PT_OK;       /* as much as the tests look at */
        }
    }

    /* the rest of the buffer is free again */
    b->pos = b->start;
    b->last = b->start;

    return (p->length == 0) ? PT_OK : PT_AGAIN;
}


/* The head is complete: decide, or go on to read the body. */
static void
pt_http_upstream_hc_head_done(pt_http_upstream_hc_peer_t *p)
{
    size_t    size;
    pt_int_t  rc;

    if (pt_http_upstream_hc_check_head(p) != PT_OK) {
        pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_FAILED, p->reason,
                                   0);
        return;
    }

    if (p->conf->match == NULL || !p->conf->match->body) {
        pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_PASSED, NULL, 0);
        return;
    }

    if (p->status_n == PT_HTTP_NO_CONTENT
        || p->status_n == PT_HTTP_NOT_MODIFIED)
    {
        p->length = 0;
    } else if (p->is_chunked) {
        p->length = -2;
    } else if (p->has_length) {
        p->length = p->content_length;
    } else {
        p->length = -1;
    }

    size = PT_HTTP_UPSTREAM_HC_BODY_SIZE;

    if (p->length >= 0 && p->length < (off_t) size) {
        size = (size_t) p->length;
    }

    /* one byte more than needed, so that an empty body has a buffer too */
    p->body.start = pt_palloc(p->pool, size + 1);
    if (p->body.start == NULL) {
        pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_ABORTED, NULL, 0);
        return;
    }

    p->body.last = p->body.start;
    p->body.end = p->body.start + size;
    p->state = PT_HTTP_UPSTREAM_HC_READ_BODY;

    rc = pt_http_upstream_hc_take_body(p);

    if (rc == PT_AGAIN) {
        return;
    }

    if (rc == PT_OK) {
        rc = pt_http_upstream_hc_check_body(p);
    }

    pt_http_upstream_hc_finish(p, rc == PT_OK ? PT_HTTP_UPSTREAM_HC_PASSED
                                              : PT_HTTP_UPSTREAM_HC_FAILED,
                               p->reason, 0);
}


static void
pt_http_upstream_hc_read(pt_http_upstream_hc_peer_t *p)
{
    ssize_t           n;
    pt_int_t          rc;
    pt_buf_t         *b;
    pt_connection_t  *c;

    c = p->connection;
    b = &p->head;

    for ( ;; ) {

        if (b->last == b->end) {
            /* only the head stays in the buffer: the body is taken out */
            pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_FAILED,
                                       "too big response head", 0);
            return;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == PT_AGAIN) {
            return;
        }

        if (n == PT_ERROR) {
            pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_FAILED,
                                       "recv() failed", 0);
            return;
        }

        if (n == 0) {
            if (p->state == PT_HTTP_UPSTREAM_HC_READ_BODY && p->length == -1)
            {
                /* a body without a length ends with the connection */
                rc = pt_http_upstream_hc_check_body(p);
                pt_http_upstream_hc_finish(p,
                    rc == PT_OK ? PT_HTTP_UPSTREAM_HC_PASSED
                                : PT_HTTP_UPSTREAM_HC_FAILED,
                    p->reason, 0);
                return;
            }

            pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_FAILED,
                                       "connection closed prematurely", 0);
            return;
        }

        b->last += n;

        if (p->state == PT_HTTP_UPSTREAM_HC_HEAD) {
            rc = pt_http_upstream_hc_parse_head(p);

            if (rc == PT_AGAIN) {
                continue;
            }

            if (rc == PT_ERROR) {
                pt_http_upstream_hc_finish(p, PT_HTTP_UPSTREAM_HC_FAILED,
                                           p->reason, 0);
                return;
            }

            pt_http_upstream_hc_head_done(p);

            if (p->state != PT_HTTP_UPSTREAM_HC_READ_BODY) {
                return;         /* decided */
            }

            continue;           /* the socket may hold more of the body */
        }

        rc = pt_http_upstream_hc_take_body(p);

        if (rc == PT_AGAIN) {
            continue;
        }

        if (rc == PT_OK) {
            rc = pt_http_upstream_hc_check_body(p);
        }

        pt_http_upstream_hc_finish(p, rc == PT_OK
                                      ? PT_HTTP_UPSTREAM_HC_PASSED
                                      : PT_HTTP_UPSTREAM_HC_FAILED,
                                   p->reason, 0);
        return;
    }
}


/*
 * Books the result in the shared peer, unless the slot changed its
 * address (or went down, or unused) while the check ran: after "fails"
 * failures in a row the peer is unhealthy, after "passes" passes in a row
 * healthy again, ramping up by slow_start and with its passive failures
 * forgiven.
 */
static void
pt_http_upstream_hc_book(pt_http_upstream_hc_peer_t *p, pt_uint_t result,
    const char *reason, pt_err_t err)
{
    pt_uint_t                     turned, count;
    pt_http_upstream_hc_conf_t   *hc;
    pt_http_upstream_rr_peer_t   *peer;
    pt_http_upstream_rr_peers_t  *peers;

    hc = p->conf;
    peers = hc->upstream->peers;
    turned = 0;
    count = 0;

    pt_http_upstream_rr_lock(peers);

    peer = &peers->peer[p->index];

    if (peer->unused || peer->down
        || pt_cmp_sockaddr(&peer->sockaddr.sockaddr, peer->socklen,
                           &p->sockaddr.sockaddr, p->socklen, 1) != PT_OK)
    {
        pt_http_upstream_rr_unlock(peers);
        return;
    }

    peer->hc_checked = pt_current_msec;

    if (result == PT_HTTP_UPSTREAM_HC_PASSED) {
        peer->hc_fails = 0;

        if (peer->hc_passes < hc->passes) {
            peer->hc_passes++;
        }

        if (peer->unhealthy && peer->hc_passes >= hc->passes) {
            peer->unhealthy = 0;
            peer->fails = 0;
            peer->start_time = pt_current_msec;
            turned = 1;
            count = peer->hc_passes;
        }

    } else {
        peer->hc_passes = 0;

        if (peer->hc_fails < hc->fails) {
            peer->hc_fails++;
        }

        if (!peer->unhealthy && peer->hc_fails >= hc->fails) {
            peer->unhealthy = 1;
            turned = 1;
            count = peer->hc_fails;
        }
    }

    pt_http_upstream_rr_unlock(peers);

    if (result == PT_HTTP_UPSTREAM_HC_PASSED) {
        if (turned) {
            pt_log_error(PT_LOG_NOTICE, &p->log, 0,
                         "upstream server %.*s in upstream \"%.*s\" is "
                         "healthy again after %lu passed health checks",
                         PT_STR_ARG(p->name), PT_STR_ARG(hc->upstream->host),
                         (unsigned long) count);
        }
        return;
    }

    if (turned) {
        pt_log_error(PT_LOG_WARN, &p->log, err,
                     "upstream server %.*s in upstream \"%.*s\" is "
                     "unhealthy after %lu failed health checks: %s",
                     PT_STR_ARG(p->name), PT_STR_ARG(hc->upstream->host),
                     (unsigned long) count, reason);
        return;
    }

    pt_log_error(PT_LOG_INFO, &p->log, err,
                 "health check of %.*s in upstream \"%.*s\" failed: %s",
                 PT_STR_ARG(p->name), PT_STR_ARG(hc->upstream->host),
                 reason);
}


/* The check is over: close, book the result, plan the next one. */
static void
pt_http_upstream_hc_finish(pt_http_upstream_hc_peer_t *p, pt_uint_t result,
    const char *reason, pt_err_t err)
{
    u_char                       text[PT_MAX_CONF_ERRSTR];
    pt_uint_t                    status;
    pt_http_upstream_hc_test_t  *t;

    status = p->status_n;
    t = p->test;

    /* into text: the reason may live in the check's pool */
    if (reason && t) {
        (void) snprintf((char *) text, sizeof(text),
                        "test \"header %.*s\" failed (status %lu)",
                        (int) pt_min(t->name.len, 64),
                        (char *) t->name.data, (unsigned long) status);
        reason = (char *) text;

    } else if (reason && status && err == 0) {
        (void) snprintf((char *) text, sizeof(text), "%s (status %lu)",
                        reason, (unsigned long) status);
        reason = (char *) text;

    } else if (reason) {
        (void) snprintf((char *) text, sizeof(text), "%s", reason);
        reason = (char *) text;
    }

    pt_http_upstream_hc_close(p);

    if (result != PT_HTTP_UPSTREAM_HC_ABORTED) {
        pt_http_upstream_hc_book(p, result, reason ? reason : "", err);
    }

    pt_http_upstream_hc_schedule(p);
}
