/*
 * The events block, per-worker event initialisation, and the loop body:
 * wait for I/O or the nearest timer, run handlers, expire timers, run
 * posted events.
 */
#include "pt_core.h"
#include <sys/resource.h>


static char *pt_events_block(pt_conf_t *cf, pt_command_t *cmd, void *conf);
static void *pt_event_core_create_conf(pt_cycle_t *cycle);
static char *pt_event_core_init_conf(pt_cycle_t *cycle, void *conf);
static char *pt_events_init_conf(pt_cycle_t *cycle, void *conf);

pt_int_t pt_epoll_init(pt_cycle_t *cycle);
void pt_epoll_done(pt_cycle_t *cycle);
pt_int_t pt_epoll_process_events(pt_cycle_t *cycle, pt_msec_t timer,
    pt_uint_t flags);


pt_uint_t   pt_event_flags;
pt_queue_t  pt_posted_events;
pt_queue_t  pt_posted_accept_events;
pt_uint_t   pt_accept_disabled;
sigset_t   *pt_event_sigmask;
pt_uint_t   pt_worker;
pt_uint_t   pt_exiting;

static pt_uint_t  pt_event_max_module;


static pt_command_t  pt_events_commands[] = {

    { pt_string("events"),
      PT_MAIN_CONF | PT_CONF_BLOCK | PT_CONF_NOARGS,
      pt_events_block,
      0,
      0,
      NULL },

    pt_null_command
};


static pt_core_module_t  pt_events_module_ctx = {
    pt_string("events"),
    NULL,
    pt_events_init_conf
};


pt_module_t  pt_events_module = {
    .ctx = &pt_events_module_ctx,
    .commands = pt_events_commands,
    .type = PT_CORE_MODULE,
};


static pt_conf_num_bounds_t  pt_event_connections_bounds = {
    pt_conf_check_num_bounds, 2, 1048576
};


static pt_command_t  pt_event_core_commands[] = {

    { pt_string("worker_connections"),
      PT_EVENT_CONF | PT_CONF_TAKE1,
      pt_conf_set_num_slot,
      0,
      offsetof(pt_event_conf_t, connections),
      &pt_event_connections_bounds },

    { pt_string("multi_accept"),
      PT_EVENT_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      0,
      offsetof(pt_event_conf_t, multi_accept),
      NULL },

    pt_null_command
};


static pt_str_t  event_core_name = pt_string("event_core");

static pt_event_module_t  pt_event_core_module_ctx = {
    &event_core_name,
    pt_event_core_create_conf,
    pt_event_core_init_conf
};


pt_module_t  pt_event_core_module = {
    .ctx = &pt_event_core_module_ctx,
    .commands = pt_event_core_commands,
    .type = PT_EVENT_MODULE,
};


static char *
pt_events_block(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char                *rv;
    void              ***ctx;
    pt_uint_t            i;
    pt_conf_t            pcf;
    pt_event_module_t   *m;

    if (*(void **) conf) {
        return "is duplicate";
    }

    pt_event_max_module = pt_count_modules(cf->cycle, PT_EVENT_MODULE);

    ctx = pt_pcalloc(cf->pool, sizeof(void *));
    if (ctx == NULL) {
        return PT_CONF_ERROR;
    }

    *ctx = pt_pcalloc(cf->pool, pt_event_max_module * sizeof(void *));
    if (*ctx == NULL) {
        return PT_CONF_ERROR;
    }

    *(void **) conf = ctx;

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (cf->cycle->modules[i]->type != PT_EVENT_MODULE) {
            continue;
        }

        m = cf->cycle->modules[i]->ctx;

        if (m->create_conf) {
            (*ctx)[cf->cycle->modules[i]->ctx_index] =
                m->create_conf(cf->cycle);
            if ((*ctx)[cf->cycle->modules[i]->ctx_index] == NULL) {
                return PT_CONF_ERROR;
            }
        }
    }

    pcf = *cf;
    cf->ctx = ctx;
    cf->module_type = PT_EVENT_MODULE;
    cf->cmd_type = PT_EVENT_CONF;

    rv = pt_conf_parse(cf, NULL);

    *cf = pcf;

    if (rv != PT_CONF_OK) {
        return rv;
    }

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (cf->cycle->modules[i]->type != PT_EVENT_MODULE) {
            continue;
        }

        m = cf->cycle->modules[i]->ctx;

        if (m->init_conf) {
            rv = m->init_conf(cf->cycle,
                              (*ctx)[cf->cycle->modules[i]->ctx_index]);
            if (rv != PT_CONF_OK) {
                return rv;
            }
        }
    }

    return PT_CONF_OK;
}


static char *
pt_events_init_conf(pt_cycle_t *cycle, void *conf)
{
    if (pt_get_conf(cycle->conf_ctx, pt_events_module) == NULL) {
        pt_log_error(PT_LOG_EMERG, cycle->log, 0,
                     "no \"events\" section in configuration");
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


static void *
pt_event_core_create_conf(pt_cycle_t *cycle)
{
    pt_event_conf_t  *ecf;

    ecf = pt_pcalloc(cycle->pool, sizeof(pt_event_conf_t));
    if (ecf == NULL) {
        return NULL;
    }

    ecf->connections = PT_CONF_UNSET_UINT;
    ecf->multi_accept = PT_CONF_UNSET;
    ecf->accept_backoff = PT_CONF_UNSET_MSEC;

    return ecf;
}


static char *
pt_event_core_init_conf(pt_cycle_t *cycle, void *conf)
{
    pt_event_conf_t  *ecf = conf;

    pt_conf_init_uint_value(ecf->connections, 512);
    pt_conf_init_value(ecf->multi_accept, 0);
    pt_conf_init_msec_value(ecf->accept_backoff, 500);

    return PT_CONF_OK;
}


/*
 * Per worker: the connection table, epoll, timers, and an accept event on
 * every listening socket this worker serves.
 */
pt_int_t
pt_event_init_process(pt_cycle_t *cycle)
{
    pt_uint_t         i;
    pt_event_t       *rev, *wev;
    pt_listening_t   *ls;
    pt_connection_t  *c, *next;
    pt_event_conf_t  *ecf;
    struct rlimit     rlmt;

    ecf = pt_event_get_conf(cycle->conf_ctx, pt_event_core_module);

    cycle->connection_n = ecf->connections;

    /* each connection is a descriptor, and so is each upstream one */
    if (getrlimit(RLIMIT_NOFILE, &rlmt) == 0
        && rlmt.rlim_cur != RLIM_INFINITY
        && (rlim_t) cycle->connection_n > rlmt.rlim_cur)
    {
        pt_log_error(PT_LOG_WARN, cycle->log, 0,
                     "%lu worker_connections exceed the open file limit "
                     "of %lu", (unsigned long) cycle->connection_n,
                     (unsigned long) rlmt.rlim_cur);
    }

    /* the blocks of this process's requests, not of the configuration */
    pt_block_cache_enable();

    pt_queue_init(&pt_posted_events);
    pt_queue_init(&pt_posted_accept_events);

    if (pt_event_timer_init() != PT_OK) {
        return PT_ERROR;
    }

    if (pt_epoll_init(cycle) != PT_OK) {
        return PT_ERROR;
    }

    cycle->connections = pt_alloc(sizeof(pt_connection_t)
                                  * cycle->connection_n, cycle->log);
    cycle->read_events = pt_alloc(sizeof(pt_event_t) * cycle->connection_n,
                                  cycle->log);
    cycle->write_events = pt_alloc(sizeof(pt_event_t) * cycle->connection_n,
                                   cycle->log);

    if (cycle->connections == NULL || cycle->read_events == NULL
        || cycle->write_events == NULL)
    {
        return PT_ERROR;
    }

    rev = cycle->read_events;
    wev = cycle->write_events;

    for (i = 0; i < cycle->connection_n; i++) {
        pt_memzero(&rev[i], sizeof(pt_event_t));
        pt_memzero(&wev[i], sizeof(pt_event_t));
        rev[i].closed = 1;
        rev[i].instance = 1;
        wev[i].closed = 1;
        wev[i].write = 1;
    }

    c = cycle->connections;
    next = NULL;
    i = cycle->connection_n;

    do {
        i--;

        c[i].data = next;
        c[i].read = &cycle->read_events[i];
        c[i].write = &cycle->write_events[i];
        c[i].fd = -1;

        next = &c[i];
    } while (i);

    cycle->free_connections = next;
    cycle->free_connection_n = cycle->connection_n;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {

        if (ls[i].reuseport && ls[i].worker != pt_worker) {
            continue;
        }

        if (ls[i].fd == PT_INVALID_FILE) {
            continue;
        }

        c = pt_get_connection(ls[i].fd, cycle->log);
        if (c == NULL) {
            return PT_ERROR;
        }

        c->type = ls[i].type;
        c->log = &ls[i].log;
        c->listening = &ls[i];
        ls[i].connection = c;

        rev = c->read;
        rev->log = c->log;
        rev->accept = 1;
        rev->handler = pt_event_accept;

        if (pt_event_add_listen(rev, ls[i].fd) != PT_OK) {
            return PT_ERROR;
        }
    }

    return PT_OK;
}


void
pt_event_exit_process(pt_cycle_t *cycle)
{
    pt_epoll_done(cycle);

    free(cycle->connections);
    free(cycle->read_events);
    free(cycle->write_events);
    cycle->connections = NULL;
    cycle->read_events = NULL;
    cycle->write_events = NULL;
}


/* The block cache's spares decay while the loop runs (pt_palloc.c). */
static void
pt_event_block_decay(pt_event_t *ev)
{
    pt_block_cache_decay();
}


void
pt_process_events_and_timers(pt_cycle_t *cycle)
{
    pt_msec_t          timer;
    static pt_event_t  decay;

    timer = pt_event_find_timer();

    if (!pt_queue_empty(&pt_posted_events)
        || !pt_queue_empty(&pt_posted_accept_events))
    {
        timer = 0;
    }

    (void) pt_epoll_process_events(cycle, timer, PT_UPDATE_TIME);

    pt_event_process_posted(cycle, &pt_posted_accept_events);

    pt_event_expire_timers();

    pt_event_process_posted(cycle, &pt_posted_events);

    pt_event_accept_check(cycle);

    if (!decay.timer_set && pt_block_cache_spares()) {
        decay.handler = pt_event_block_decay;
        decay.log = cycle->log;
        decay.cancelable = 1;
        pt_event_add_timer(&decay, PT_BLOCK_DECAY_MSEC);
    }
}


void
pt_event_process_posted(pt_cycle_t *cycle, pt_queue_t *posted)
{
    pt_queue_t  *q;
    pt_event_t  *ev;

    while (!pt_queue_empty(posted)) {
        q = pt_queue_head(posted);
        ev = pt_queue_data(q, pt_event_t, queue);

        pt_delete_posted_event(ev);

        ev->handler(ev);
    }
}
