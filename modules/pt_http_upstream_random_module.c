/*
 * The random balancer: "random [two [least_conn]]" in an upstream block.
 * Plain "random" picks a usable server at random, in proportion to its
 * weight. "two" picks two different ones that way and sends the request to
 * the one with fewer active requests relative to its weight (the power of
 * two choices; least_conn is the only way to compare them, and the
 * default). Counts are those of every worker when the group has a zone.
 */
#include "pt_http.h"


static pt_http_upstream_rr_peer_t *pt_http_upstream_get_random_peer(
    pt_http_upstream_t *u, pt_http_upstream_rr_peers_t *peers);
static pt_http_upstream_rr_peer_t *pt_http_upstream_get_random2_peer(
    pt_http_upstream_t *u, pt_http_upstream_rr_peers_t *peers);
static char *pt_http_upstream_random_directive(pt_conf_t *cf,
    pt_command_t *cmd, void *conf);
static pt_int_t pt_http_upstream_random_init_process(pt_cycle_t *cycle);


/* this process's generator state: seeded in each worker, not inherited */
static uint64_t  pt_http_upstream_random_state = 0x9e3779b97f4a7c15ULL;


static pt_command_t  pt_http_upstream_random_commands[] = {

    { pt_string("random"),
      PT_HTTP_UPS_CONF | PT_CONF_NOARGS | PT_CONF_TAKE12,
      pt_http_upstream_random_directive,
      0,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_upstream_random_module_ctx = {
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};


pt_module_t  pt_http_upstream_random_module = {
    .ctx = &pt_http_upstream_random_module_ctx,
    .commands = pt_http_upstream_random_commands,
    .type = PT_HTTP_MODULE,
    .init_process = pt_http_upstream_random_init_process,
};


static pt_http_upstream_balancer_t  pt_http_upstream_random_balancer = {
    pt_string("random"),
    NULL,
    NULL,
    pt_http_upstream_get_random_peer,
};

static pt_http_upstream_balancer_t  pt_http_upstream_random2_balancer = {
    pt_string("random two least_conn"),
    NULL,
    NULL,
    pt_http_upstream_get_random2_peer,
};


static pt_int_t
pt_http_upstream_random_init_process(pt_cycle_t *cycle)
{
    uint64_t  seed;

    (void) cycle;

    seed = ((uint64_t) getpid() << 32) ^ (uint64_t) pt_current_msec;
    pt_http_upstream_random_state ^= seed * 0xbf58476d1ce4e5b9ULL;

    if (pt_http_upstream_random_state == 0) {
        pt_http_upstream_random_state = 1;
    }

    return PT_OK;
}


/* xorshift64*: fast, and plenty for spreading requests */
static uint32_t
pt_http_upstream_random(void)
{
    uint64_t  x;

    x = pt_http_upstream_random_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    pt_http_upstream_random_state = x;

    return (uint32_t) ((x * 0x2545f4914f6cdd1dULL) >> 32);
}


/* A usable primary at random by weight, other than except; NULL if none. */
static pt_http_upstream_rr_peer_t *
pt_http_upstream_random_pick(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers, pt_http_upstream_rr_peer_t *except)
{
    pt_int_t                     w;
    uint64_t                     total, x;
    pt_uint_t                    i;
    pt_http_upstream_rr_peer_t  *peer;

    total = 0;

    for (i = 0; i < peers->number; i++) {
        peer = &peers->peer[i];

        if (peer == except || peer->backup
            || !pt_http_upstream_rr_usable(u, peers, peer))
        {
            continue;
        }

        total += (uint64_t) pt_max(pt_http_upstream_rr_weight(peer), 1);
    }

    if (total == 0) {
        return NULL;
    }

    x = pt_http_upstream_random() % total;

    for (i = 0; i < peers->number; i++) {
        peer = &peers->peer[i];

        if (peer == except || peer->backup
            || !pt_http_upstream_rr_usable(u, peers, peer))
        {
            continue;
        }

        w = pt_max(pt_http_upstream_rr_weight(peer), 1);

        if (x < (uint64_t) w) {
            return peer;
        }

        x -= (uint64_t) w;
    }

    return NULL;
}


static pt_http_upstream_rr_peer_t *
pt_http_upstream_get_random_peer(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers)
{
    return pt_http_upstream_random_pick(u, peers, NULL);
}


static pt_http_upstream_rr_peer_t *
pt_http_upstream_get_random2_peer(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers)
{
    pt_int_t                     wa, wb;
    pt_http_upstream_rr_peer_t  *a, *b;

    a = pt_http_upstream_random_pick(u, peers, NULL);

    if (a == NULL) {
        return NULL;
    }

    b = pt_http_upstream_random_pick(u, peers, a);

    if (b == NULL) {
        return a;
    }

    wa = pt_max(pt_http_upstream_rr_weight(a), 1);
    wb = pt_max(pt_http_upstream_rr_weight(b), 1);

    /* conns / weight, compared without division */
    return ((uint64_t) b->conns * (uint64_t) wa
            < (uint64_t) a->conns * (uint64_t) wb) ? b : a;
}


/* random [two [least_conn]] */
static char *
pt_http_upstream_random_directive(pt_conf_t *cf, pt_command_t *cmd,
    void *conf)
{
    pt_str_t                     *value;
    pt_http_upstream_srv_conf_t  *us;

    us = pt_http_conf_get_module_srv_conf(cf, pt_http_upstream_module);
    value = cf->args->elts;

    if (cf->args->nelts == 1) {
        return pt_http_upstream_set_balancer(cf, us,
                                             &pt_http_upstream_random_balancer);
    }

    if (!pt_str_eq_lit(&value[1], "two")) {
        pt_conf_error(cf, "invalid parameter \"%.*s\"", PT_STR_ARG(value[1]));
        return PT_CONF_ERROR;
    }

    if (cf->args->nelts == 3 && !pt_str_eq_lit(&value[2], "least_conn")) {
        pt_conf_error(cf, "invalid parameter \"%.*s\"", PT_STR_ARG(value[2]));
        return PT_CONF_ERROR;
    }

    return pt_http_upstream_set_balancer(cf, us,
                                         &pt_http_upstream_random2_balancer);
}
