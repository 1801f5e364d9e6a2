#ifndef PT_HTTP_UPSTREAM_ROUND_ROBIN_H
#define PT_HTTP_UPSTREAM_ROUND_ROBIN_H

/*
 * The peers of an upstream group and the balancer interface.
 *
 * Every address of every "server" is a peer. The peers of a group live in
 * one array: in the group's shared zone ("zone NAME SIZE"), where every
 * worker sees and updates the same state under the zone's robust mutex, or
 * without a zone in each worker's own memory (nginx's behaviour: each
 * worker keeps its own score). Backup peers sit in the same array, marked.
 *
 * A balancer is a small ops struct: it picks one usable primary peer with
 * the group locked; the common code around it falls back to the backup
 * peers, counts the connection, and books the outcome when the attempt
 * ends. Round robin (smooth weighted) is the default and the fallback of
 * the others.
 *
 * Times in peer state are CLOCK_MONOTONIC milliseconds (the same clock in
 * every process), so a wall-clock jump neither wakes nor freezes a peer.
 */

#define PT_HTTP_UPSTREAM_MAX_PEERS      128     /* u->tried has this many bits */
#define PT_HTTP_UPSTREAM_RESOLVE_SLOTS  8       /* per "server NAME resolve" */

/* the outcome of one attempt, for free_peer */
#define PT_HTTP_UPSTREAM_PEER_OK        0
#define PT_HTTP_UPSTREAM_PEER_FAILED    1       /* counts toward max_fails */
#define PT_HTTP_UPSTREAM_PEER_NEUTRAL   2       /* says nothing (403, 404,
                                                   a stale kept-alive conn) */

typedef struct pt_http_upstream_rr_peer_s   pt_http_upstream_rr_peer_t;
typedef struct pt_http_upstream_rr_peers_s  pt_http_upstream_rr_peers_t;
typedef struct pt_http_upstream_balancer_s  pt_http_upstream_balancer_t;

struct pt_http_upstream_rr_peer_s {
    pt_sockaddr_t             sockaddr;
    socklen_t                 socklen;
    pt_str_t                  name;         /* "127.0.0.1:8081" */
    u_char                    name_data[PT_SOCKADDR_STRLEN + 1];
    pt_str_t                 *server;       /* the "server" text */
    pt_uint_t                 server_index; /* which "server" line */

    pt_int_t                  weight;
    pt_int_t                  effective_weight;
    pt_int_t                  current_weight;

    pt_uint_t                 conns;        /* requests using it now */
    pt_uint_t                 max_conns;    /* 0: no limit */

    pt_uint_t                 fails;        /* within the fail window */
    pt_uint_t                 max_fails;
    pt_msec_t                 fail_timeout;
    pt_msec_t                 checked;      /* start of the fail window */
    pt_msec_t                 accessed;     /* last failure */

    pt_msec_t                 slow_start;
    pt_msec_t                 start_time;   /* back in service since */

    uint64_t                  requests;     /* attempts sent to it */
    uint64_t                  failures;     /* attempts that failed */

    pt_uint_t                 hc_fails;     /* consecutive failed checks */
    pt_uint_t                 hc_passes;    /* consecutive passed checks */
    pt_msec_t                 hc_checked;   /* last check finished */

    unsigned                  down:1;       /* "down" parameter */
    unsigned                  backup:1;
    unsigned                  unhealthy:1;  /* failed its active checks */
    unsigned                  unused:1;     /* a spare slot of a resolved
                                               name, holding no address */
    unsigned                  resolve:1;    /* its server is re-resolved */
};

struct pt_http_upstream_rr_peers_s {
    pt_shmtx_t                   *mutex;    /* the zone's, or NULL */
    pt_str_t                     *name;     /* of the group */
    pt_uint_t                     number;   /* slots, backups included */
    pt_uint_t                     generation;   /* bumped when addresses
                                                   change */
    unsigned                      single:1;     /* one peer, no backup:
                                                   never unavailable */
    unsigned                      has_backup:1;
    pt_http_upstream_rr_peer_t   *peer;
};

/*
 * A balancing method. init_upstream runs once per group at configuration
 * time (after the peers exist), init_peer once per request before the
 * first attempt (compute a key, outside the lock), get with the group
 * locked: it returns a usable primary peer (pt_http_upstream_rr_usable)
 * or NULL.
 */
struct pt_http_upstream_balancer_s {
    pt_str_t                      name;
    pt_int_t                    (*init_upstream)(pt_conf_t *cf,
                                      pt_http_upstream_srv_conf_t *us);
    pt_int_t                    (*init_peer)(pt_http_request_t *r,
                                      pt_http_upstream_t *u);
    pt_http_upstream_rr_peer_t *(*get)(pt_http_upstream_t *u,
                                      pt_http_upstream_rr_peers_t *peers);
};

extern pt_http_upstream_balancer_t  pt_http_upstream_round_robin;

/* configuration: build a group's peers; "zone" puts them in shared memory */
pt_int_t pt_http_upstream_init_peers(pt_conf_t *cf,
    pt_http_upstream_srv_conf_t *us);
void pt_http_upstream_free_sessions(void *data);
char *pt_http_upstream_zone(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_http_upstream_set_balancer(pt_conf_t *cf,
    pt_http_upstream_srv_conf_t *us, pt_http_upstream_balancer_t *b);

/*
 * Per attempt: choose a peer (PT_OK, u->rr_peer set and counted) or
 * PT_BUSY when no peer is usable; then book how the attempt went.
 */
pt_int_t pt_http_upstream_get_peer(pt_http_upstream_t *u);
void pt_http_upstream_free_peer(pt_http_upstream_t *u, pt_uint_t outcome);

/* for balancers, with the group locked */
pt_uint_t pt_http_upstream_rr_usable(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers, pt_http_upstream_rr_peer_t *peer);
pt_int_t pt_http_upstream_rr_weight(pt_http_upstream_rr_peer_t *peer);
pt_http_upstream_rr_peer_t *pt_http_upstream_rr_pick(pt_http_upstream_t *u,
    pt_http_upstream_rr_peers_t *peers, pt_uint_t backup);

void pt_http_upstream_rr_lock(pt_http_upstream_rr_peers_t *peers);
void pt_http_upstream_rr_unlock(pt_http_upstream_rr_peers_t *peers);

#define pt_http_upstream_rr_tried(u, i)                                      \
    ((u)->tried[(i) / 64] & ((uint64_t) 1 << ((i) % 64)))

#endif /* PT_HTTP_UPSTREAM_ROUND_ROBIN_H */
