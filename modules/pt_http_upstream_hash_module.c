/*
 * The hash balancers of upstream blocks:
 *
 *   hash KEY [consistent];   KEY is a string with variables
 *   ip_hash;                 the client's address (IPv4: its first three
 *                            octets, as nginx does; IPv6: all of it)
 *
 * Plain hashing maps the key onto the servers by weight; when the server
 * it lands on is unusable, the key is hashed again, up to 20 times, and
 * then round robin takes over. "consistent" places 160 points per unit
 * of weight for every server on a ring, seeded by the server's text
 * (ketama's way), so removing one of N servers moves only the keys it
 * held, about 1/N of them.
 */
#include "pt_http.h"

#include <zlib.h>


#define PT_HTTP_UPSTREAM_HASH_TRIES     20
#define PT_HTTP_UPSTREAM_HASH_POINTS    160


typedef struct {
    uint32_t                    hash;
    pt_uint_t                   server;     /* index of its "server" */
} pt_http_upstream_chash_point_t;

typedef struct {
    pt_http_complex_value_t     key;
    pt_uint_t                   ip;         /* ip_hash */
    pt_uint_t                   consistent;
    pt_http_upstream_chash_point_t  *points;
    pt_uint_t                   npoints;
} pt_http_upstream_hash_conf_t;


static pt_int_t pt_http_upstream_init_chash(pt_conf_t *cf,
    pt_http_upstream_srv_conf_t *us);
static pt_int_t pt_http_upstream_init_hash_peer(pt_http_request_t *r,
    pt_http_upstream_t *u);
static pt_http_upstream_rr_peer_t *pt_http_upstream_get_hash_peer(
    pt_http_upstream_t *u, pt_http_upstream_rr_peers_t *peers);
static pt_http_upstream_rr_peer_t *pt_http_upstream_get_chash_peer(
    pt_http_upstream_t *u, pt_http_upstream_rr_peers_t *peers);
static char *pt_http_upstream_hash(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_upstream_ip_hash(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);


static pt_command_t  pt_http_upstream_hash_commands[] = {

    { pt_string("hash"),
      PT_HTTP_UPS_CONF | PT_CONF_TAKE12,
      pt_http_upstream_hash,
      0,
      0,
      NULL },

    { pt_string("ip_hash"),
      PT_HTTP_UPS_CONF | PT_CONF_NOARGS,
      pt_http_upstream_ip_hash,
      0,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_upstream_hash_module_ctx = {
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};


pt_module_t  pt_http_upstream_hash_module = {
    .ctx = &pt_http_upstream_hash_module_ctx,
    .commands = pt_http_upstream_hash_commands,
    .type = PT_HTTP_MODULE,
};


static pt_http_upstream_balancer_t  pt_http_upstream_hash_balancer = {
    pt_string("hash"),
    NULL,
    pt_http_upstream_init_hash_peer,
    pt_http_upstream_get_hash_peer,
};

static pt_http_upstream_balancer_t  pt_http_upstream_chash_balancer = {
    pt_string("hash consistent"),
    pt_http_upstream_init_chash,
    pt_http_upstream_init_hash_peer,
    pt_http_upstream_get_chash_peer,
};


static uint32_t
pt_http_upstream_crc32(uint32_t crc, const u_char *p, size_t len)
{
    return (uint32_t) crc32(crc, p, (uInt) len);
}


/* The request's key, hashed once before the first attempt. */
static pt_int_t
pt_http_upstream_init_hash_peer(pt_http_request_t *r, pt_http_upstream_t *u)
{
    pt_str_t                       key;
    struct sockaddr               *sa;
    pt_http_upstream_hash_conf_t  *hcf;

    hcf = u->upstream->balancer_conf;

    if (hcf->ip) {
        sa = r->connection->sockaddr;

        if (sa->sa_family == AF_INET) {
            key.data = (u_char *) &((struct sockaddr_in *) sa)->sin_addr;
            key.len = 3;

        } else if (sa->sa_family == AF_INET6) {
            key.data = (u_char *) &((struct sockaddr_in6 *) sa)->sin6_addr;
            key.len = 16;

        } else {
            key.data = (u_char *) "";   /* unix: all alike */
            key.len = 0;
        }

    } else if (pt_http_complex_value(r, &hcf->key, &key) != PT_OK) {
        return PT_ERROR;
    }

    u->hash = pt_http_upstream_crc32(0, key.data, key.len);

    return PT_OK;
}


/* Rehash for the next try: the previous hash feeds the next. */
static uint32_t
pt_http_upstream_rehash(uint32_t hash, pt_uint_t n)
{
    u_char    buf[8];
    uint32_t  n32;

    n32 = (uint32_t) n;
    pt_memcpy(buf, &hash, 4);
    pt_memcpy(buf + 4, &n32, 4);

    return pt_http_upstream_crc32(0, buf, 8);
}


static pt_http_upstream_rr_peer_t *
pt_http_upstream_get_hash_peer(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers)
{
    uint32_t                     hash;
    pt_int_t                     total, w;
    pt_uint_t                    i, n;
    pt_http_upstream_rr_peer_t  *peer;

    total = 0;

    /* the map is over all primaries, usable or not, so it stays put */
    for (i = 0; i < peers->number; i++) {
        if (!peers->peer[i].backup && !peers->peer[i].unused) {
            total += peers->peer[i].weight;
        }
    }

    if (total == 0) {
        return NULL;
    }

    hash = (uint32_t) u->hash;

    for (n = 0; n < PT_HTTP_UPSTREAM_HASH_TRIES; n++) {
        w = (pt_int_t) (hash % (uint32_t) total);
        peer = NULL;

        for (i = 0; i < peers->number; i++) {
            if (peers->peer[i].backup || peers->peer[i].unused) {
                continue;
            }

            w -= peers->peer[i].weight;

            if (w < 0) {
                peer = &peers->peer[i];
                break;
            }
        }

        if (peer && pt_http_upstream_rr_usable(u, peers, peer)) {
            return peer;
        }

        hash = pt_http_upstream_rehash(hash, n);
    }

    return pt_http_upstream_rr_pick(u, peers, 0);
}


static int
pt_http_upstream_chash_cmp(const void *one, const void *two)
{
    const pt_http_upstream_chash_point_t  *a = one, *b = two;

    if (a->hash != b->hash) {
        return (a->hash < b->hash) ? -1 : 1;
    }

    /* equal hashes: an order that does not depend on qsort */
    return (a->server < b->server) ? -1 : (a->server > b->server);
}


/* The ring of points, built once at configuration time. */
static pt_int_t
pt_http_upstream_init_chash(pt_conf_t *cf, pt_http_upstream_srv_conf_t *us)
{
    uint32_t                         hash, prev;
    pt_uint_t                        i, j, n, npoints;
    pt_http_upstream_server_t       *server;
    pt_http_upstream_hash_conf_t    *hcf;
    pt_http_upstream_chash_point_t  *points;

    hcf = us->balancer_conf;
    server = us->servers->elts;

    npoints = 0;

    for (i = 0; i < us->servers->nelts; i++) {
        if (!server[i].backup) {
            npoints += server[i].weight * PT_HTTP_UPSTREAM_HASH_POINTS;
        }
    }

    points = pt_palloc(cf->pool,
                       (npoints + 1) * sizeof(pt_http_upstream_chash_point_t));
    if (points == NULL) {
        return PT_ERROR;
    }

    n = 0;

    for (i = 0; i < us->servers->nelts; i++) {
        if (server[i].backup) {
            continue;
        }

        /* seeded by the server as written, so a ring outlives reorders */
        hash = pt_http_upstream_crc32(0, server[i].name.data,
                                      server[i].name.len);
        prev = 0;

        for (j = 0; j < server[i].weight * PT_HTTP_UPSTREAM_HASH_POINTS; j++)
        {
            u_char    buf[8];
            uint32_t  j32;

            j32 = (uint32_t) j;
            pt_memcpy(buf, &prev, 4);
            pt_memcpy(buf + 4, &j32, 4);

            prev = pt_http_upstream_crc32(hash, buf, 8);

            points[n].hash = prev;
            points[n].server = i;
            n++;
        }
    }

    qsort(points, n, sizeof(pt_http_upstream_chash_point_t),
          pt_http_upstream_chash_cmp);

    hcf->points = points;
    hcf->npoints = n;

    return PT_OK;
}


static pt_http_upstream_rr_peer_t *
pt_http_upstream_get_chash_peer(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers)
{
    uint32_t                         hash;
    pt_uint_t                        i, lo, hi, mid, n, k;
    pt_http_upstream_rr_peer_t      *peer;
    pt_http_upstream_hash_conf_t    *hcf;
    pt_http_upstream_chash_point_t  *points;

    hcf = u->upstream->balancer_conf;
    points = hcf->points;

    if (hcf->npoints == 0) {
        return NULL;
    }

    hash = (uint32_t) u->hash;

    /* the first point at or after the key's hash, around the ring */
    lo = 0;
    hi = hcf->npoints;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (points[mid].hash < hash) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    for (n = 0; n < PT_HTTP_UPSTREAM_HASH_TRIES * 8 && n < hcf->npoints; n++) {
        k = (lo + n) % hcf->npoints;

        /* the server's usable address; a name may have several */
        for (i = 0; i < peers->number; i++) {
            peer = &peers->peer[i];

            if (peer->server_index == points[k].server && !peer->backup
                && pt_http_upstream_rr_usable(u, peers, peer))
            {
                return peer;
            }
        }
    }

    return pt_http_upstream_rr_pick(u, peers, 0);
}


/* hash KEY [consistent] */
static char *
pt_http_upstream_hash(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_str_t                          *value;
    pt_http_upstream_srv_conf_t       *us;
    pt_http_upstream_hash_conf_t      *hcf;
    pt_http_compile_complex_value_t    ccv;

    us = pt_http_conf_get_module_srv_conf(cf, pt_http_upstream_module);
    value = cf->args->elts;

    hcf = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_hash_conf_t));
    if (hcf == NULL) {
        return PT_CONF_ERROR;
    }

    if (value[1].len == 0) {
        return "has an empty key";
    }

    pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &hcf->key;

    if (pt_http_compile_complex_value(&ccv) != PT_OK) {
        return PT_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (!pt_str_eq_lit(&value[2], "consistent")) {
            pt_conf_error(cf, "invalid parameter \"%.*s\"",
                          PT_STR_ARG(value[2]));
            return PT_CONF_ERROR;
        }

        hcf->consistent = 1;
    }

    us->balancer_conf = hcf;

    return pt_http_upstream_set_balancer(cf, us, hcf->consistent
                                         ? &pt_http_upstream_chash_balancer
                                         : &pt_http_upstream_hash_balancer);
}


static char *
pt_http_upstream_ip_hash(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_upstream_srv_conf_t   *us;
    pt_http_upstream_hash_conf_t  *hcf;

    us = pt_http_conf_get_module_srv_conf(cf, pt_http_upstream_module);

    hcf = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_hash_conf_t));
    if (hcf == NULL) {
        return PT_CONF_ERROR;
    }

    hcf->ip = 1;
    us->balancer_conf = hcf;

    return pt_http_upstream_set_balancer(cf, us,
                                         &pt_http_upstream_hash_balancer);
}
