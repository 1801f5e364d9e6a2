/*
 * The peers of upstream groups: building them from the "server" lines,
 * moving them into a shared zone, choosing one per attempt (smooth
 * weighted round robin, or another balancer) and booking the outcome
 * (max_fails/fail_timeout, max_conns, slow_start).
 */
#include "pt_http.h"


static pt_int_t pt_http_upstream_zone_init(pt_shm_zone_t *zone, void *data);
static void pt_http_upstream_zone_carry(pt_http_upstream_srv_conf_t *us);


pt_http_upstream_balancer_t  pt_http_upstream_round_robin = {
    pt_string("round_robin"),
    NULL,
    NULL,
    NULL,                   /* pt_http_upstream_rr_pick, primaries */
};


/* A pool cleanup: the TLS sessions kept for a group's peers. */
void
pt_http_upstream_free_sessions(void *data)
{
    pt_uint_t                     i;
    pt_http_upstream_srv_conf_t  *us = data;

    /* not us->peers: a zone may be unmapped before the pool goes */
    for (i = 0; i < us->nsessions; i++) {
        if (us->ssl_sessions[i]) {
            SSL_SESSION_free(us->ssl_sessions[i]);
            us->ssl_sessions[i] = NULL;
        }
    }
}


static void
pt_http_upstream_set_peer_addr(pt_http_upstream_rr_peer_t *peer,
    pt_addr_t *addr)
{
    size_t  len;

    pt_memcpy(&peer->sockaddr, addr->sockaddr, addr->socklen);
    peer->socklen = addr->socklen;

    len = pt_min(addr->name.len, PT_SOCKADDR_STRLEN);
    pt_memcpy(peer->name_data, addr->name.data, len);
    peer->name.len = len;
    peer->name.data = peer->name_data;
}


/* Do the groups using this group's zone, this one included, fit in it? */
static pt_int_t
pt_http_upstream_zone_check(pt_conf_t *cf, pt_http_upstream_srv_conf_t *us)
{
    size_t                          need;
    pt_uint_t                       i;
    pt_http_upstream_srv_conf_t   **uscfp;
    pt_http_upstream_main_conf_t   *umcf;

    if (us->shm_zone->size == 0) {
        return PT_OK;       /* "zero size" is reported when it is mapped */
    }

    umcf = pt_http_conf_get_module_main_conf(cf, pt_http_upstream_module);
    uscfp = umcf->upstreams.elts;
    need = pt_pagesize;     /* the slab pool's own header, and some slack */

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->shm_zone == us->shm_zone) {
            need += uscfp[i]->shm_zone_need;
        }
    }

    if (need > us->shm_zone->size) {
        pt_log_error(PT_LOG_EMERG, cf->log, 0,
                     "zone \"%.*s\" is too small for upstream \"%.*s\": "
                     "%luk needed in %s:%lu", PT_STR_ARG(us->shm_zone->name),
                     PT_STR_ARG(us->host),
                     (unsigned long) ((need + 1023) / 1024),
                     (char *) us->file_name, (unsigned long) us->line);
        return PT_ERROR;
    }

    return PT_OK;
}


/*
 * Builds the peers of us in the configuration pool: one per address of
 * every server, plus spare slots for names re-resolved at run time. With
 * a zone they move to shared memory when the zone is mapped.
 */
pt_int_t
pt_http_upstream_init_peers(pt_conf_t *cf, pt_http_upstream_srv_conf_t *us)
{
    pt_uint_t                     i, j, n, slots;
    pt_pool_cleanup_t            *cln;
    pt_http_upstream_server_t    *server;
    pt_http_upstream_rr_peer_t   *peer;
    pt_http_upstream_rr_peers_t  *peers;

    server = us->servers->elts;
    n = 0;

    for (i = 0; i < us->servers->nelts; i++) {
        n += server[i].resolve
             ? pt_max(server[i].naddrs, PT_HTTP_UPSTREAM_RESOLVE_SLOTS)
             : server[i].naddrs;
    }

    if (n > PT_HTTP_UPSTREAM_MAX_PEERS) {
        pt_log_error(PT_LOG_EMERG, cf->log, 0,
                     "upstream \"%.*s\" has more than %d addresses "
                     "in %s:%lu", PT_STR_ARG(us->host),
                     PT_HTTP_UPSTREAM_MAX_PEERS, (char *) us->file_name,
                     (unsigned long) us->line);
        return PT_ERROR;
    }

    peers = pt_pcalloc(cf->pool, sizeof(pt_http_upstream_rr_peers_t));
    peer = pt_pcalloc(cf->pool, n * sizeof(pt_http_upstream_rr_peer_t));
    us->ssl_sessions = pt_pcalloc(cf->pool, n * sizeof(void *));
    us->nsessions = n;

    if (peers == NULL || peer == NULL || us->ssl_sessions == NULL) {
        return PT_ERROR;
    }

    n = 0;

    for (i = 0; i < us->servers->nelts; i++) {
        slots = server[i].resolve
                ? pt_max(server[i].naddrs, PT_HTTP_UPSTREAM_RESOLVE_SLOTS)
                : server[i].naddrs;

        for (j = 0; j < slots; j++) {
            if (j < server[i].naddrs) {
                pt_http_upstream_set_peer_addr(&peer[n], &server[i].addrs[j]);
            } else {
                peer[n].unused = 1;
                peer[n].name.data = peer[n].name_data;
            }

            peer[n].server = &server[i].name;
            peer[n].server_index = i;
            peer[n].weight = server[i].weight;
            peer[n].effective_weight = server[i].weight;
            peer[n].max_fails = server[i].max_fails;
            peer[n].fail_timeout = server[i].fail_timeout;
            peer[n].max_conns = server[i].max_conns;
            peer[n].slow_start = server[i].slow_start;
            peer[n].down = server[i].down;
            peer[n].backup = server[i].backup;
            peer[n].resolve = server[i].resolve;

            if (server[i].backup) {
                peers->has_backup = 1;
            }

            n++;
        }
    }

    peers->number = n;
    peers->peer = peer;
    peers->name = &us->host;
    peers->single = (n == 1 && !peers->has_backup);

    us->peers = peers;

    if (us->shm_zone) {
        /* what the zone's slab gives out, with its piece header */
        us->shm_zone_need = pt_align(sizeof(pt_http_upstream_rr_peers_t)
                                     + n * sizeof(pt_http_upstream_rr_peer_t),
                                     64) + 64;

        if (pt_http_upstream_zone_check(cf, us) != PT_OK) {
            return PT_ERROR;
        }
    }

    /* TLS sessions kept per peer are freed with the configuration */
    cln = pt_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return PT_ERROR;
    }

    cln->handler = pt_http_upstream_free_sessions;
    cln->data = us;

    if (us->balancer && us->balancer->init_upstream) {
        return us->balancer->init_upstream(cf, us);
    }

    return PT_OK;
}


/* zone NAME [SIZE] */
char *
pt_http_upstream_zone(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_upstream_srv_conf_t  *us = conf;

    ssize_t    size;
    pt_str_t  *value;

    if (us->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        pt_conf_error(cf, "invalid zone name \"\"");
        return PT_CONF_ERROR;
    }

    size = 0;

    if (cf->args->nelts == 3) {
        size = pt_parse_size(&value[2]);

        if (size == PT_ERROR) {
            pt_conf_error(cf, "invalid zone size \"%.*s\"",
                          PT_STR_ARG(value[2]));
            return PT_CONF_ERROR;
        }

        if (size < (ssize_t) (8 * pt_pagesize)) {
            pt_conf_error(cf, "zone \"%.*s\" is too small",
                          PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }
    }

    us->shm_zone = pt_shared_memory_add(cf, &value[1], (size_t) size,
                                        &pt_http_upstream_module);
    if (us->shm_zone == NULL) {
        return PT_CONF_ERROR;
    }

    us->shm_zone->init = pt_http_upstream_zone_init;
    us->shm_zone->data = pt_http_conf_get_module_main_conf(cf,
                                                    pt_http_upstream_module);

    /*
     * Peers are rebuilt from the new configuration on every reload; the
     * old workers keep the old zone until they leave.
     */
    us->shm_zone->noreuse = 1;

    return PT_CONF_OK;
}


/* The zone is mapped: move the peers of every group using it into it. */
static pt_int_t
pt_http_upstream_zone_init(pt_shm_zone_t *zone, void *data)
{
    size_t                          size;
    pt_uint_t                       i, j;
    pt_slab_pool_t                 *shpool;
    pt_http_upstream_rr_peer_t     *peer;
    pt_http_upstream_rr_peers_t    *peers;
    pt_http_upstream_srv_conf_t   **uscfp;
    pt_http_upstream_main_conf_t   *umcf;

    (void) data;

    shpool = (pt_slab_pool_t *) zone->addr;
    umcf = zone->data;
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->shm_zone != zone) {
            continue;
        }

        size = sizeof(pt_http_upstream_rr_peers_t)
               + uscfp[i]->peers->number
                 * sizeof(pt_http_upstream_rr_peer_t);

        peers = pt_slab_calloc(shpool, size);

        if (peers == NULL) {
            pt_log_error(PT_LOG_EMERG, shpool->log, 0,
                         "zone \"%.*s\" is too small for upstream \"%.*s\" "
                         "(%lu bytes needed more)", PT_STR_ARG(zone->name),
                         PT_STR_ARG(uscfp[i]->host), (unsigned long) size);
            return PT_ERROR;
        }

        peer = (pt_http_upstream_rr_peer_t *) (peers + 1);

        *peers = *uscfp[i]->peers;
        pt_memcpy(peer, peers->peer,
                  peers->number * sizeof(pt_http_upstream_rr_peer_t));

        for (j = 0; j < peers->number; j++) {
            peer[j].name.data = peer[j].name_data;
        }

        peers->peer = peer;
        peers->mutex = &shpool->mutex;

        uscfp[i]->peers = peers;

        pt_http_upstream_zone_carry(uscfp[i]);
    }

    return PT_OK;
}


/*
 * On a reload the peers start in a new zone: what the running generation
 * knows of each address it shares with the new one (failures, health
 * check results, the slow start under way) is carried over, and so are
 * the addresses its resolver found, so the new workers neither send
 * requests to a server known to be down nor wait for a first answer.
 * Called in the master, which maps the old zone too, before the workers
 * of the new generation start.
 */
static void
pt_http_upstream_zone_carry(pt_http_upstream_srv_conf_t *us)
{
    pt_uint_t                       i, j, k;
    pt_http_upstream_rr_peer_t     *peer, *old;
    pt_http_upstream_rr_peers_t    *peers, *opeers;
    pt_http_upstream_srv_conf_t   **ouscfp, *ous;
    pt_http_upstream_main_conf_t   *oumcf;

    if (pt_cycle == NULL || pt_cycle->conf_ctx == NULL) {
        return;             /* the first start */
    }

    oumcf = pt_http_cycle_get_module_main_conf(pt_cycle,
                                               pt_http_upstream_module);
    if (oumcf == NULL) {
        return;
    }

    ous = NULL;
    ouscfp = oumcf->upstreams.elts;

    for (i = 0; i < oumcf->upstreams.nelts; i++) {
        if (ouscfp[i]->shm_zone && ouscfp[i]->peers
            && pt_str_eq(&ouscfp[i]->host, &us->host))
        {
            ous = ouscfp[i];
            break;
        }
    }

    if (ous == NULL) {
        return;
    }

    peers = us->peers;
    opeers = ous->peers;

    pt_http_upstream_rr_lock(opeers);

    /* the addresses found for a name, slot by slot */
    for (i = 0; i < peers->number; i++) {
        peer = &peers->peer[i];

        if (!peer->resolve || !peer->unused) {
            continue;
        }

        for (j = 0; j < opeers->number; j++) {
            old = &opeers->peer[j];

            if (!old->resolve || old->unused
                || !pt_str_eq(old->server, peer->server))
            {
                continue;
            }

            /* not already taken by an earlier slot of the same name */
            for (k = 0; k < peers->number; k++) {
                if (peers->peer[k].server_index == peer->server_index
                    && !peers->peer[k].unused
                    && pt_cmp_sockaddr(&peers->peer[k].sockaddr.sockaddr,
                                       peers->peer[k].socklen,
                                       &old->sockaddr.sockaddr, old->socklen,
                                       1) == PT_OK)
                {
                    break;
                }
            }

            if (k < peers->number) {
                continue;
            }

            peer->sockaddr = old->sockaddr;
            peer->socklen = old->socklen;
            pt_memcpy(peer->name_data, old->name_data, old->name.len);
            peer->name.len = old->name.len;
            peer->unused = 0;
            break;
        }
    }

    /* what is known of each address */
    for (i = 0; i < peers->number; i++) {
        peer = &peers->peer[i];

        if (peer->unused) {
            continue;
        }

        for (j = 0; j < opeers->number; j++) {
            old = &opeers->peer[j];

            if (old->unused
                || pt_cmp_sockaddr(&old->sockaddr.sockaddr, old->socklen,
                                   &peer->sockaddr.sockaddr, peer->socklen,
                                   1) != PT_OK)
            {
                continue;
            }

            peer->fails = old->fails;
            peer->checked = old->checked;
            peer->accessed = old->accessed;
            peer->start_time = old->start_time;
            peer->unhealthy = old->unhealthy;
            peer->hc_fails = old->hc_fails;
            peer->hc_passes = old->hc_passes;
            peer->hc_checked = old->hc_checked;
            break;
        }
    }

    pt_http_upstream_rr_unlock(opeers);
}


char *
pt_http_upstream_set_balancer(pt_conf_t *cf, pt_http_upstream_srv_conf_t *us,
    pt_http_upstream_balancer_t *b)
{
    if (us->balancer) {
        pt_log_error(PT_LOG_WARN, cf->log, 0,
                     "load balancing method redefined in %s:%lu",
                     (char *) cf->conf_file->name.data,
                     (unsigned long) cf->conf_file->line);
    }

    us->balancer = b;

    return PT_CONF_OK;
}


void
pt_http_upstream_rr_lock(pt_http_upstream_rr_peers_t *peers)
{
    if (peers->mutex) {
        /* a holder that died leaves counters at worst a little off */
        (void) pt_shmtx_lock(peers->mutex);
    }
}


void
pt_http_upstream_rr_unlock(pt_http_upstream_rr_peers_t *peers)
{
    if (peers->mutex) {
        pt_shmtx_unlock(peers->mutex);
    }
}


/*
 * Can this attempt use peer? Not tried yet by this request, holding an
 * address, not down, not failing its health checks, not resting after
 * max_fails failures, below max_conns.
 */
pt_uint_t
pt_http_upstream_rr_usable(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers, pt_http_upstream_rr_peer_t *peer)
{
    pt_uint_t  i;

    i = peer - peers->peer;

    if (pt_http_upstream_rr_tried(u, i)
        || peer->unused || peer->down || peer->unhealthy)
    {
        return 0;
    }

    if (peer->max_conns && peer->conns >= peer->max_conns) {
        return 0;
    }

    if (peers->single) {
        return 1;           /* a group of one never rests after failures */
    }

    if (peer->max_fails && peer->fails >= peer->max_fails
        && pt_current_msec - peer->checked <= peer->fail_timeout)
    {
        return 0;
    }

    return 1;
}


/*
 * The weight a peer has now: while it is in its slow start (back in
 * service less than slow_start ago) the weight grows from 1 to the full
 * weight.
 */
pt_int_t
pt_http_upstream_rr_weight(pt_http_upstream_rr_peer_t *peer)
{
    pt_int_t   w;
    pt_msec_t  elapsed;

    w = peer->effective_weight;

    if (peer->slow_start && peer->start_time
        && pt_current_msec >= peer->start_time)
    {
        elapsed = pt_current_msec - peer->start_time;

        if (elapsed < peer->slow_start) {
            w = (pt_int_t) ((uint64_t) w * elapsed / peer->slow_start);
            w = pt_max(w, 1);
        }
    }

    return w;
}


/*
 * Smooth weighted round robin over the usable peers of one kind (primary
 * or backup): every one gains its weight, the richest is chosen and pays
 * the total. Returns NULL when none is usable.
 */
pt_http_upstream_rr_peer_t *
pt_http_upstream_rr_pick(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers, pt_uint_t backup)
{
    pt_int_t                     total, w;
    pt_uint_t                    i;
    pt_http_upstream_rr_peer_t  *peer, *best;

    best = NULL;
    total = 0;

    for (i = 0; i < peers->number; i++) {
        peer = &peers->peer[i];

        if (peer->backup != backup
            || !pt_http_upstream_rr_usable(u, peers, peer))
        {
            continue;
        }

        w = pt_http_upstream_rr_weight(peer);

        peer->current_weight += w;
        total += w;

        if (peer->effective_weight < peer->weight) {
            peer->effective_weight++;
        }

        if (best == NULL || peer->current_weight > best->current_weight) {
            best = peer;
        }
    }

    if (best) {
        best->current_weight -= total;
    }

    return best;
}


pt_int_t
pt_http_upstream_get_peer(pt_http_upstream_t *u)
{
    pt_uint_t                     i;
    pt_http_upstream_balancer_t  *b;
    pt_http_upstream_rr_peer_t   *peer;
    pt_http_upstream_rr_peers_t  *peers;

    peers = u->upstream->peers;
    b = u->upstream->balancer;

    pt_http_upstream_rr_lock(peers);

    if (b && b->get) {
        peer = b->get(u, peers);
    } else {
        peer = pt_http_upstream_rr_pick(u, peers, 0);
    }

    if (peer == NULL && peers->has_backup) {
        peer = pt_http_upstream_rr_pick(u, peers, 1);
    }

    if (peer == NULL) {
        /*
         * This attempt gets a 502; the next request tries every server
         * again rather than wait out fail_timeout with no server at all.
         * Health checks, max_conns and "down" still hold.
         */
        for (i = 0; i < peers->number; i++) {
            peers->peer[i].fails = 0;
        }

        pt_http_upstream_rr_unlock(peers);

        return PT_BUSY;
    }

    peer->conns++;
    peer->requests++;

    i = peer - peers->peer;
    u->tried[i / 64] |= (uint64_t) 1 << (i % 64);
    u->rr_peer = peer;

    pt_http_upstream_rr_unlock(peers);

    return PT_OK;
}


void
pt_http_upstream_free_peer(pt_http_upstream_t *u, pt_uint_t outcome)
{
    pt_http_upstream_rr_peer_t   *peer;
    pt_http_upstream_rr_peers_t  *peers;

    peer = u->rr_peer;

    if (peer == NULL) {
        return;
    }

    peers = u->upstream->peers;

    pt_http_upstream_rr_lock(peers);

    if (peer->conns) {
        peer->conns--;
    }

    if (outcome == PT_HTTP_UPSTREAM_PEER_FAILED) {
        peer->failures++;
    }

    if (peers->single) {
        outcome = PT_HTTP_UPSTREAM_PEER_NEUTRAL;   /* keeps no score */
    }

    if (outcome == PT_HTTP_UPSTREAM_PEER_FAILED) {
        /*
         * A count below max_fails starts over after fail_timeout; a peer
         * that was disabled and fails its first try back is disabled
         * again at once, as in nginx.
         */
        if (peer->fails && peer->fails < peer->max_fails
            && pt_current_msec - peer->checked > peer->fail_timeout)
        {
            peer->fails = 0;
        }

        if (peer->fails == 0) {
            peer->checked = pt_current_msec;
        }

        peer->fails++;
        peer->accessed = pt_current_msec;

        if (peer->max_fails) {
            peer->effective_weight -= peer->weight / peer->max_fails;

            if (peer->fails >= peer->max_fails) {
                /* back after the window, slowly if slow_start says so */
                peer->checked = pt_current_msec;
                peer->start_time = pt_current_msec + peer->fail_timeout;

                pt_log_error(PT_LOG_WARN, pt_cycle->log, 0,
                             "upstream server temporarily disabled: %.*s "
                             "in upstream \"%.*s\"", PT_STR_ARG(peer->name),
                             PT_STR_ARG(*peers->name));
            }
        }

        if (peer->effective_weight < 0) {
            peer->effective_weight = 0;
        }

    } else if (outcome == PT_HTTP_UPSTREAM_PEER_OK && peer->fails
               && pt_current_msec - peer->checked > peer->fail_timeout)
    {
        peer->fails = 0;
    }

    pt_http_upstream_rr_unlock(peers);

    u->rr_peer = NULL;
}

