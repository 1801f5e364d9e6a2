#ifndef PT_EVENT_H
#define PT_EVENT_H

/*
 * Events. Every connection has a read and a write event, registered once
 * with epoll in edge-triggered mode; handlers run until EAGAIN and leave
 * ready = 0 behind. Listening sockets are level-triggered so that a worker
 * can stop accepting (EMFILE, shutdown) by removing them.
 */
struct pt_event_s {
    void                *data;          /* the connection */

    unsigned             write:1;
    unsigned             accept:1;
    unsigned             instance:1;    /* detects stale epoll events */
    unsigned             active:1;      /* registered with epoll */
    unsigned             ready:1;
    unsigned             eof:1;
    unsigned             error:1;
    unsigned             timedout:1;
    unsigned             timer_set:1;
    unsigned             delayed:1;
    unsigned             closed:1;
    unsigned             posted:1;
    unsigned             cancelable:1;  /* timer may not hold shutdown up */
    unsigned             pending_eof:1;

    int                  available;     /* bytes readable; -1 unknown */

    pt_event_handler_pt  handler;
    pt_log_t            *log;

    pt_rbtree_node_t     timer;
    pt_queue_t           queue;         /* in the posted queue */
};

typedef struct {
    pt_uint_t            connections;   /* worker_connections */
    pt_flag_t            multi_accept;
    pt_msec_t            accept_backoff;
} pt_event_conf_t;

typedef struct {
    pt_str_t            *name;
    void              *(*create_conf)(pt_cycle_t *cycle);
    char              *(*init_conf)(pt_cycle_t *cycle, void *conf);
} pt_event_module_t;

#define PT_UPDATE_TIME     1
#define PT_POST_EVENTS     2

#define PT_READ_EVENT      1
#define PT_WRITE_EVENT     2

extern pt_module_t        pt_events_module;
extern pt_module_t        pt_event_core_module;
extern pt_uint_t          pt_event_flags;
extern pt_queue_t         pt_posted_events;
extern pt_queue_t         pt_posted_accept_events;
extern pt_uint_t          pt_accept_disabled;
extern sigset_t          *pt_event_sigmask;  /* unblocked while waiting */
extern pt_uint_t          pt_worker;         /* this worker's slot */
extern pt_uint_t          pt_exiting;        /* graceful shutdown under way */

#define pt_event_get_conf(conf_ctx, module)                                  \
    (*(pt_get_conf(conf_ctx, pt_events_module)))[module.ctx_index]

pt_int_t pt_event_init_process(pt_cycle_t *cycle);
void pt_event_exit_process(pt_cycle_t *cycle);
void pt_process_events_and_timers(pt_cycle_t *cycle);

/* Registers a connection's fd once (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET). */
pt_int_t pt_event_add_conn(pt_connection_t *c);
/* Level-triggered registration for PT_READ_EVENT|PT_WRITE_EVENT (0: none)
 * of a socket a library reads by itself. */
pt_int_t pt_event_set_conn_level(pt_connection_t *c, pt_uint_t events);
/* Level-triggered registration of a listening socket's accept event. */
pt_int_t pt_event_add_listen(pt_event_t *ev, pt_fd_t fd);
pt_int_t pt_event_del_listen(pt_event_t *ev, pt_fd_t fd);

void pt_event_accept(pt_event_t *ev);
pt_int_t pt_enable_accept_events(pt_cycle_t *cycle);
pt_int_t pt_disable_accept_events(pt_cycle_t *cycle);
void pt_event_accept_check(pt_cycle_t *cycle);

void pt_event_process_posted(pt_cycle_t *cycle, pt_queue_t *posted);

#define pt_post_event(ev, q)                                                 \
    if (!(ev)->posted) {                                                     \
        (ev)->posted = 1;                                                    \
        pt_queue_insert_tail(q, &(ev)->queue);                               \
    }

#define pt_delete_posted_event(ev)                                           \
    (ev)->posted = 0;                                                        \
    pt_queue_remove(&(ev)->queue)

#endif /* PT_EVENT_H */
