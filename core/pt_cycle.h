#ifndef PT_CYCLE_H
#define PT_CYCLE_H

/*
 * A cycle is everything derived from one reading of the configuration:
 * module configurations, listening sockets, open log files. A reload builds
 * a new cycle and frees the old one once nothing uses it.
 */

#define PT_CYCLE_POOL_SIZE   (16 * 1024)
#define PT_MAX_PROCESSES     1024

typedef struct {
    pt_flag_t        daemon;
    pt_flag_t        master;
    pt_int_t         worker_processes;
    pt_int_t         rlimit_nofile;
    pt_msec_t        shutdown_timeout;
    pt_uint_t        cpu_affinity_auto;
    pt_array_t       cpu_affinity;      /* of uint64_t masks */
    uid_t            user;
    gid_t            group;
    char            *username;          /* NULL: keep the current user */
    pt_str_t         pid;
    pt_str_t         oldpid;
    pt_array_t       env;               /* of pt_str_t */
    char           **environment;
} pt_core_conf_t;

struct pt_cycle_s {
    void          ****conf_ctx;         /* per module index */
    pt_pool_t        *pool;

    pt_log_t         *log;
    pt_log_t          new_log;          /* error_log of this cycle */

    pt_connection_t  *connections;
    pt_event_t       *read_events;
    pt_event_t       *write_events;
    pt_connection_t  *free_connections;
    pt_uint_t         free_connection_n;
    pt_uint_t         connection_n;     /* worker_connections */
    pt_queue_t        reusable_connections_queue;
    pt_uint_t         reusable_connections_n;

    pt_module_t     **modules;
    pt_uint_t         modules_n;

    pt_array_t        listening;        /* of pt_listening_t */
    pt_array_t        paths;            /* of pt_str_t, created at start */
    pt_array_t        config_dump;      /* of pt_conf_dump_t, for -T */
    pt_list_t         open_files;       /* of pt_open_file_t */
    pt_list_t         shared_memory;    /* of pt_shm_zone_t */

    pt_cycle_t       *old_cycle;

    pt_str_t          conf_file;        /* absolute */
    pt_str_t          conf_param;       /* -g */
    pt_str_t          conf_prefix;      /* dir of conf_file, ends in "/" */
    pt_str_t          prefix;           /* -p, ends in "/" */
    pt_str_t          error_log;
    pt_str_t          hostname;
};

/*
 * Builds a new cycle from old (which carries the command-line settings): reads
 * and checks the configuration, opens files and listening sockets. Returns
 * NULL on any error, having logged it; old is left untouched.
 */
pt_cycle_t *pt_init_cycle(pt_cycle_t *old);
void pt_destroy_cycle(pt_cycle_t *cycle);
pt_int_t pt_create_pidfile(pt_str_t *name, pt_log_t *log);
void pt_delete_pidfile(pt_cycle_t *cycle);
pt_int_t pt_signal_process(pt_cycle_t *cycle, const char *sig);
void pt_reopen_files(pt_cycle_t *cycle, uid_t user);
uint64_t pt_get_cpu_affinity(pt_cycle_t *cycle, pt_uint_t n);
pt_int_t pt_add_path(pt_conf_t *cf, pt_str_t *path);
pt_int_t pt_create_paths(pt_cycle_t *cycle);

extern volatile pt_cycle_t  *pt_cycle;
extern pt_uint_t             pt_test_config;
extern pt_uint_t             pt_dump_config;
extern pt_uint_t             pt_quiet_mode;
extern pt_module_t           pt_core_module;

#define pt_get_conf(conf_ctx, module)  conf_ctx[module.index]

#endif /* PT_CYCLE_H */
