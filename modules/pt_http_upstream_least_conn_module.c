/*
 * The least_conn balancer: "least_conn" in an upstream block sends each
 * request to the usable server with the fewest active requests relative to
 * its weight; among equals, smooth weighted round robin decides. Counts
 * are those of every worker when the group has a zone, this worker's
 * otherwise.
 */
#include "pt_http.h"


static pt_http_upstream_rr_peer_t *pt_http_upstream_get_least_conn_peer(
    pt_http_upstream_t *u, pt_http_upstream_rr_peers_t *peers);
static char *pt_http_upstream_least_conn(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);


static pt_command_t  pt_http_upstream_least_conn_commands[] = {

    { pt_string("least_conn"),
      PT_HTTP_UPS_CONF | PT_CONF_NOARGS,
      pt_http_upstream_least_conn,
      0,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_upstream_least_conn_module_ctx = {
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};


pt_module_t  pt_http_upstream_least_conn_module = {
    .ctx = &pt_http_upstream_least_conn_module_ctx,
    .commands = pt_http_upstream_least_conn_commands,
    .type = PT_HTTP_MODULE,
};


static pt_http_upstream_balancer_t  pt_http_upstream_least_conn_balancer = {
    pt_string("least_conn"),
    NULL,
    NULL,
    pt_http_upstream_get_least_conn_peer,
};


/* a's load is below b's: conns / weight, compared without division */
static pt_int_t
pt_http_upstream_lc_cmp(pt_http_upstream_rr_peer_t *a, pt_int_t wa,
    pt_http_upstream_rr_peer_t *b, pt_int_t wb)
{
    uint64_t  la, lb;

    la = (uint64_t) a->conns * (uint64_t) wb;
    lb = (uint64_t) b->conns * (uint64_t) wa;

    return (la < lb) ? -1 : (la > lb);
}


static pt_http_upstream_rr_peer_t *
pt_http_upstream_get_least_conn_peer(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers)
{
    pt_int_t                     w, bw, total;
    pt_uint_t                    i, many;
    pt_http_upstream_rr_peer_t  *peer, *best, *chosen;

    best = NULL;
    bw = 1;
    many = 0;

    for (i = 0; i < peers->number; i++) {
        peer = &peers->peer[i];

        if (peer->backup || !pt_http_upstream_rr_usable(u, peers, peer)) {
            continue;
        }

        w = pt_max(pt_http_upstream_rr_weight(peer), 1);

        if (best == NULL
            || pt_http_upstream_lc_cmp(peer, w, best, bw) < 0)
        {
            best = peer;
            bw = w;
            many = 0;

        } else if (pt_http_upstream_lc_cmp(peer, w, best, bw) == 0) {
            many = 1;
        }
    }

    if (best == NULL || !many) {
        return best;
    }

    /* several share the least load: round robin among them */
    chosen = NULL;
    total = 0;

    for (i = 0; i < peers->number; i++) {
        peer = &peers->peer[i];

        if (peer->backup || !pt_http_upstream_rr_usable(u, peers, peer)) {
            continue;
        }

        w = pt_max(pt_http_upstream_rr_weight(peer), 1);

        if (pt_http_upstream_lc_cmp(peer, w, best, bw) != 0) {
            continue;
        }

        peer->current_weight += w;
        total += w;

        if (chosen == NULL || peer->current_weight > chosen->current_weight) {
            chosen = peer;
        }
    }

    chosen->current_weight -= total;

    return chosen;
}


static char *
pt_http_upstream_least_conn(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_upstream_srv_conf_t  *us;

    us = pt_http_conf_get_module_srv_conf(cf, pt_http_upstream_module);

    return pt_http_upstream_set_balancer(cf, us,
                                         &pt_http_upstream_least_conn_balancer);
}
