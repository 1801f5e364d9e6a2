/*
 * Configuration cycles, the core module (process-wide directives) and the
 * pid file.
 */
#include "pt_core.h"
#include <pwd.h>
#include <grp.h>


static pt_int_t pt_core_init_environment(pt_cycle_t *cycle,
    pt_core_conf_t *ccf);
static void *pt_core_module_create_conf(pt_cycle_t *cycle);
static char *pt_core_module_init_conf(pt_cycle_t *cycle, void *conf);
static pt_int_t pt_open_cycle_files(pt_cycle_t *cycle);


volatile pt_cycle_t  *pt_cycle;
pt_uint_t             pt_test_config;
pt_uint_t             pt_dump_config;
pt_uint_t             pt_quiet_mode;


static char *pt_set_worker_processes(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_set_cpu_affinity(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_set_user(pt_conf_t *cf, pt_command_t *cmd, void *conf);
static char *pt_set_env(pt_conf_t *cf, pt_command_t *cmd, void *conf);


static pt_command_t  pt_core_commands[] = {

    { pt_string("daemon"),
      PT_MAIN_CONF | PT_DIRECT_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      0,
      offsetof(pt_core_conf_t, daemon),
      NULL },

    { pt_string("master_process"),
      PT_MAIN_CONF | PT_DIRECT_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      0,
      offsetof(pt_core_conf_t, master),
      NULL },

    { pt_string("worker_processes"),
      PT_MAIN_CONF | PT_DIRECT_CONF | PT_CONF_TAKE1,
      pt_set_worker_processes,
      0,
      0,
      NULL },

    { pt_string("worker_cpu_affinity"),
      PT_MAIN_CONF | PT_DIRECT_CONF | PT_CONF_1MORE,
      pt_set_cpu_affinity,
      0,
      0,
      NULL },

    { pt_string("worker_rlimit_nofile"),
      PT_MAIN_CONF | PT_DIRECT_CONF | PT_CONF_TAKE1,
      pt_conf_set_num_slot,
      0,
      offsetof(pt_core_conf_t, rlimit_nofile),
      NULL },

    { pt_string("worker_shutdown_timeout"),
      PT_MAIN_CONF | PT_DIRECT_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      0,
      offsetof(pt_core_conf_t, shutdown_timeout),
      NULL },

    { pt_string("user"),
      PT_MAIN_CONF | PT_DIRECT_CONF | PT_CONF_TAKE12,
      pt_set_user,
      0,
      0,
      NULL },

    { pt_string("env"),
      PT_MAIN_CONF | PT_DIRECT_CONF | PT_CONF_TAKE1,
      pt_set_env,
      0,
      0,
      NULL },

    { pt_string("pid"),
      PT_MAIN_CONF | PT_DIRECT_CONF | PT_CONF_TAKE1,
      pt_conf_set_str_slot,
      0,
      offsetof(pt_core_conf_t, pid),
      NULL },

    pt_null_command
};


static pt_core_module_t  pt_core_module_ctx = {
    pt_string("core"),
    pt_core_module_create_conf,
    pt_core_module_init_conf
};


pt_module_t  pt_core_module = {
    .ctx = &pt_core_module_ctx,
    .commands = pt_core_commands,
    .type = PT_CORE_MODULE,
};


static void *
pt_core_module_create_conf(pt_cycle_t *cycle)
{
    pt_core_conf_t  *ccf;

    ccf = pt_pcalloc(cycle->pool, sizeof(pt_core_conf_t));
    if (ccf == NULL) {
        return NULL;
    }

    ccf->daemon = PT_CONF_UNSET;
    ccf->master = PT_CONF_UNSET;
    ccf->worker_processes = PT_CONF_UNSET;
    ccf->rlimit_nofile = PT_CONF_UNSET;
    ccf->shutdown_timeout = PT_CONF_UNSET_MSEC;
    ccf->user = (uid_t) PT_CONF_UNSET_UINT;
    ccf->group = (gid_t) PT_CONF_UNSET_UINT;

    if (pt_array_init(&ccf->env, cycle->pool, 1, sizeof(pt_str_t)) != PT_OK
        || pt_array_init(&ccf->cpu_affinity, cycle->pool, 1, sizeof(uint64_t))
           != PT_OK)
    {
        return NULL;
    }

    return ccf;
}


static char *
pt_core_module_init_conf(pt_cycle_t *cycle, void *conf)
{
    pt_core_conf_t  *ccf = conf;

    pt_conf_init_value(ccf->daemon, 1);
    pt_conf_init_value(ccf->master, 1);
    pt_conf_init_value(ccf->worker_processes, 1);
    pt_conf_init_msec_value(ccf->shutdown_timeout, 0);

    if (ccf->cpu_affinity_auto == 0 && ccf->cpu_affinity.nelts > 1
        && ccf->cpu_affinity.nelts != (pt_uint_t) ccf->worker_processes)
    {
        pt_log_error(PT_LOG_WARN, cycle->log, 0,
                     "the number of \"worker_processes\" is not equal to "
                     "the number of \"worker_cpu_affinity\" masks, "
                     "using last mask for remaining worker processes");
    }

    if (ccf->user == (uid_t) PT_CONF_UNSET_UINT && geteuid() == 0) {
        struct passwd  *pwd;
        struct group   *grp;

        /* a root master never lets workers keep root */
        errno = 0;
        pwd = getpwnam(PT_USER);
        if (pwd == NULL) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "getpwnam(\"" PT_USER "\") failed");
            return PT_CONF_ERROR;
        }

        ccf->username = PT_USER;
        ccf->user = pwd->pw_uid;

        errno = 0;
        grp = getgrnam(PT_GROUP);
        if (grp == NULL) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "getgrnam(\"" PT_GROUP "\") failed");
            return PT_CONF_ERROR;
        }

        ccf->group = grp->gr_gid;
    }

    if (pt_core_init_environment(cycle, ccf) != PT_OK) {
        return PT_CONF_ERROR;
    }

    if (ccf->pid.len == 0) {
        pt_str_set(&ccf->pid, PT_PID_PATH);
    }

    if (pt_conf_full_name(cycle, &ccf->pid, 0) != PT_OK) {
        return PT_CONF_ERROR;
    }

    ccf->oldpid.len = ccf->pid.len + sizeof(".oldbin") - 1;
    ccf->oldpid.data = pt_pnalloc(cycle->pool, ccf->oldpid.len + 1);
    if (ccf->oldpid.data == NULL) {
        return PT_CONF_ERROR;
    }

    pt_memcpy(pt_cpymem(ccf->oldpid.data, ccf->pid.data, ccf->pid.len),
              ".oldbin", sizeof(".oldbin"));

    return PT_CONF_OK;
}


pt_cycle_t *
pt_init_cycle(pt_cycle_t *old_cycle)
{
    void              *rv;
    pt_uint_t          i;
    pt_log_t          *log;
    pt_conf_t          conf;
    pt_pool_t         *pool;
    pt_cycle_t        *cycle;
    pt_core_module_t  *module;
    char               hostname[256];

    pt_time_update();

    log = old_cycle->log;

    pool = pt_create_pool(PT_CYCLE_POOL_SIZE, log);
    if (pool == NULL) {
        return NULL;
    }

    pool->log = log;

    cycle = pt_pcalloc(pool, sizeof(pt_cycle_t));
    if (cycle == NULL) {
        pt_destroy_pool(pool);
        return NULL;
    }

    cycle->pool = pool;
    cycle->log = log;
    cycle->old_cycle = old_cycle;

    if (pt_str_dup(pool, &cycle->prefix, &old_cycle->prefix) != PT_OK
        || pt_str_dup(pool, &cycle->conf_prefix, &old_cycle->conf_prefix)
           != PT_OK
        || pt_str_dup(pool, &cycle->conf_file, &old_cycle->conf_file) != PT_OK
        || pt_str_dup(pool, &cycle->conf_param, &old_cycle->conf_param)
           != PT_OK)
    {
        goto failed;
    }

    /* pt_str_dup NUL-terminates, which open() and glob() rely on */

    if (pt_array_init(&cycle->listening, pool, 10, sizeof(pt_listening_t))
        != PT_OK
        || pt_array_init(&cycle->paths, pool, 10, sizeof(pt_str_t)) != PT_OK
        || pt_array_init(&cycle->config_dump, pool, 1, sizeof(pt_conf_dump_t))
           != PT_OK
        || pt_list_init(&cycle->open_files, pool, 20, sizeof(pt_open_file_t))
           != PT_OK
        || pt_list_init(&cycle->shared_memory, pool, 4, sizeof(pt_shm_zone_t))
           != PT_OK)
    {
        goto failed;
    }

    pt_queue_init(&cycle->reusable_connections_queue);

    if (gethostname(hostname, sizeof(hostname) - 1) == -1) {
        pt_log_error(PT_LOG_EMERG, log, errno, "gethostname() failed");
        goto failed;
    }

    hostname[sizeof(hostname) - 1] = '\0';
    cycle->hostname.len = strlen(hostname);
    cycle->hostname.data = pt_pnalloc(pool, cycle->hostname.len + 1);
    if (cycle->hostname.data == NULL) {
        goto failed;
    }

    pt_strlow(cycle->hostname.data, (u_char *) hostname,
              cycle->hostname.len + 1);

    if (pt_cycle_modules(cycle) != PT_OK) {
        goto failed;
    }

    cycle->conf_ctx = pt_pcalloc(pool, pt_modules_n * sizeof(void *));
    if (cycle->conf_ctx == NULL) {
        goto failed;
    }

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->type != PT_CORE_MODULE) {
            continue;
        }

        module = cycle->modules[i]->ctx;

        if (module->create_conf) {
            rv = module->create_conf(cycle);
            if (rv == NULL) {
                goto failed;
            }
            cycle->conf_ctx[cycle->modules[i]->index] = rv;
        }
    }

    pt_memzero(&conf, sizeof(pt_conf_t));

    conf.args = pt_array_create(pool, 10, sizeof(pt_str_t));
    if (conf.args == NULL) {
        goto failed;
    }

    conf.temp_pool = pt_create_pool(PT_CYCLE_POOL_SIZE, log);
    if (conf.temp_pool == NULL) {
        goto failed;
    }

    conf.ctx = cycle->conf_ctx;
    conf.cycle = cycle;
    conf.pool = pool;
    conf.log = log;
    conf.module_type = PT_CORE_MODULE;
    conf.cmd_type = PT_MAIN_CONF;

    if (pt_conf_param(&conf) != PT_CONF_OK) {
        pt_destroy_pool(conf.temp_pool);
        goto failed;
    }

    if (pt_conf_parse(&conf, &cycle->conf_file) != PT_CONF_OK) {
        pt_destroy_pool(conf.temp_pool);
        goto failed;
    }

    pt_destroy_pool(conf.temp_pool);

    if (pt_test_config && !pt_quiet_mode) {
        pt_log_stderr(0, "the configuration file %.*s syntax is ok",
                      PT_STR_ARG(cycle->conf_file));
    }

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->type != PT_CORE_MODULE) {
            continue;
        }

        module = cycle->modules[i]->ctx;

        if (module->init_conf) {
            if (module->init_conf(cycle,
                                  cycle->conf_ctx[cycle->modules[i]->index])
                == PT_CONF_ERROR)
            {
                goto failed;
            }
        }
    }

    if (pt_log_open_default(cycle) != PT_OK) {
        goto failed;
    }

    if (pt_clone_listening(cycle) != PT_OK) {
        goto failed;
    }

    if (pt_open_cycle_files(cycle) != PT_OK) {
        goto failed;
    }

    if (!pt_test_config) {
        if (pt_create_paths(cycle) != PT_OK) {
            goto failed;
        }

        if (pt_init_shared_zones(cycle) != PT_OK) {
            goto failed;
        }

        if (pt_open_listening_sockets(cycle) != PT_OK) {
            goto failed;
        }

        pt_configure_listening_sockets(cycle);
    }

    if (pt_init_modules(cycle) != PT_OK) {
        goto failed;
    }

    pt_commit_shared_zones(cycle);

    cycle->log = &cycle->new_log;
    pool->log = cycle->log;

    return cycle;

failed:

    pt_destroy_cycle(cycle);

    return NULL;
}


/*
 * Opens the log files this cycle names. A file the old cycle already has
 * open is opened again anyway: reload then also picks up renamed logs.
 */
static pt_int_t
pt_open_cycle_files(pt_cycle_t *cycle)
{
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_open_file_t  *file;

    part = &cycle->open_files.part;
    file = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            file = part->elts;
            i = 0;
        }

        if (file[i].fd == STDERR_FILENO) {
            continue;
        }

        file[i].fd = pt_open_file(file[i].name.data, PT_FILE_APPEND, 0644);

        if (file[i].fd == PT_INVALID_FILE) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "open() \"%.*s\" failed", PT_STR_ARG(file[i].name));
            return PT_ERROR;
        }
    }

    return PT_OK;
}


/* Closes what the cycle opened and frees its memory. */
void
pt_destroy_cycle(pt_cycle_t *cycle)
{
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_open_file_t  *file;
    pt_listening_t  *ls;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd != PT_INVALID_FILE && !ls[i].remain) {
            (void) close(ls[i].fd);
            ls[i].fd = PT_INVALID_FILE;
        }
    }

    if (cycle->open_files.part.elts) {
        part = &cycle->open_files.part;
        file = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }
                part = part->next;
                file = part->elts;
                i = 0;
            }

            if (file[i].fd != PT_INVALID_FILE && file[i].fd != STDERR_FILENO) {
                (void) close(file[i].fd);
                file[i].fd = PT_INVALID_FILE;
            }
        }
    }

    pt_free_shared_zones(cycle);

    pt_destroy_pool(cycle->pool);
}


/* USR1: reopen every log file, so logrotate can move the old ones away. */
void
pt_reopen_files(pt_cycle_t *cycle, uid_t user)
{
    pt_fd_t          fd;
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_open_file_t  *file;

    part = &cycle->open_files.part;
    file = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            file = part->elts;
            i = 0;
        }

        /* what is buffered belongs to the file being rotated away */
        if (file[i].flush) {
            file[i].flush(&file[i], cycle->log);
        }

        if (file[i].fd == STDERR_FILENO || file[i].name.len == 0) {
            continue;
        }

        fd = pt_open_file(file[i].name.data, PT_FILE_APPEND, 0644);

        if (fd == PT_INVALID_FILE) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "open() \"%.*s\" failed", PT_STR_ARG(file[i].name));
            continue;
        }

        if (user != (uid_t) PT_CONF_UNSET_UINT && geteuid() == 0) {
            if (fchown(fd, user, -1) == -1) {
                pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                             "chown(\"%.*s\", %d) failed",
                             PT_STR_ARG(file[i].name), (int) user);
            }
        }

        if (dup2(fd, file[i].fd) == -1) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "dup2(\"%.*s\") failed", PT_STR_ARG(file[i].name));
        }

        (void) close(fd);
    }

    (void) pt_log_redirect_stderr(cycle);
}


pt_int_t
pt_create_pidfile(pt_str_t *name, pt_log_t *log)
{
    int      n;
    pt_fd_t  fd;
    char     pid[PT_INT_T_LEN + 2];

    fd = open((char *) name->data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
              0644);
    if (fd == -1) {
        pt_log_error(PT_LOG_EMERG, log, errno, "open() \"%.*s\" failed",
                     PT_STR_ARG(*name));
        return PT_ERROR;
    }

    n = snprintf(pid, sizeof(pid), "%d\n", (int) getpid());

    if (pt_write_fd(fd, pid, n) != n) {
        pt_log_error(PT_LOG_EMERG, log, errno, "write() \"%.*s\" failed",
                     PT_STR_ARG(*name));
        (void) close(fd);
        return PT_ERROR;
    }

    (void) close(fd);

    return PT_OK;
}


void
pt_delete_pidfile(pt_cycle_t *cycle)
{
    pt_core_conf_t  *ccf;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    if (unlink((char *) ccf->pid.data) == -1 && errno != ENOENT) {
        pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                     "unlink() \"%.*s\" failed", PT_STR_ARG(ccf->pid));
    }
}


/* "portico -s NAME": reads the pid file and sends the matching signal. */
pt_int_t
pt_signal_process(pt_cycle_t *cycle, const char *name)
{
    int              signo;
    pid_t            pid;
    pt_int_t         n;
    pt_str_t         content;
    pt_core_conf_t  *ccf;

    if (strcmp(name, "stop") == 0) {
        signo = SIGTERM;
    } else if (strcmp(name, "quit") == 0) {
        signo = SIGQUIT;
    } else if (strcmp(name, "reopen") == 0) {
        signo = SIGUSR1;
    } else if (strcmp(name, "reload") == 0) {
        signo = SIGHUP;
    } else {
        pt_log_error(PT_LOG_EMERG, cycle->log, 0,
                     "invalid option: \"-s %s\"", name);
        return 1;
    }

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    if (pt_read_whole_file(cycle->pool, (char *) ccf->pid.data, 64, &content)
        != PT_OK)
    {
        pt_log_error(PT_LOG_ERR, cycle->log, errno, "open() \"%.*s\" failed",
                     PT_STR_ARG(ccf->pid));
        return 1;
    }

    while (content.len
           && (content.data[content.len - 1] == '\n'
               || content.data[content.len - 1] == '\r'
               || content.data[content.len - 1] == ' '))
    {
        content.len--;
    }

    n = pt_atoi(content.data, content.len);

    if (n == PT_ERROR || n <= 0 || n > INT_MAX) {
        pt_log_error(PT_LOG_ERR, cycle->log, 0,
                     "invalid PID number \"%.*s\" in \"%.*s\"",
                     PT_STR_ARG(content), PT_STR_ARG(ccf->pid));
        return 1;
    }

    pid = (pid_t) n;

    if (kill(pid, signo) == -1) {
        pt_log_error(PT_LOG_ALERT, cycle->log, errno, "kill(%d, %d) failed",
                     (int) pid, signo);
        return 1;
    }

    return 0;
}


static char *
pt_set_worker_processes(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_core_conf_t  *ccf = conf;

    pt_str_t  *value;

    if (ccf->worker_processes != PT_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (pt_str_eq_lit(&value[1], "auto")) {
        ccf->worker_processes = pt_ncpu;
        return PT_CONF_OK;
    }

    ccf->worker_processes = pt_atoi(value[1].data, value[1].len);

    if (ccf->worker_processes == PT_ERROR || ccf->worker_processes < 1
        || ccf->worker_processes > PT_MAX_PROCESSES)
    {
        ccf->worker_processes = PT_CONF_UNSET;
        pt_conf_error(cf, "invalid value \"%.*s\" in \"worker_processes\" "
                      "directive, it must be \"auto\" or a number from 1 "
                      "to %d", PT_STR_ARG(value[1]), PT_MAX_PROCESSES);
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


/* A mask of 0s and 1s, the rightmost for CPU 0; PT_ERROR when malformed. */
static pt_int_t
pt_parse_cpu_mask(pt_str_t *s, uint64_t *mask)
{
    size_t  i;

    if (s->len == 0 || s->len > 64) {
        return PT_ERROR;
    }

    *mask = 0;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] != '0' && s->data[i] != '1') {
            return PT_ERROR;
        }

        *mask = (*mask << 1) | (uint64_t) (s->data[i] - '0');
    }

    return *mask ? PT_OK : PT_ERROR;
}


static char *
pt_set_cpu_affinity(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_core_conf_t  *ccf = conf;

    uint64_t    *mask;
    pt_str_t    *value;
    pt_uint_t    n;

    if (ccf->cpu_affinity.nelts || ccf->cpu_affinity_auto) {
        return "is duplicate";
    }

    value = cf->args->elts;
    n = 1;

    if (pt_str_eq_lit(&value[1], "auto")) {
        if (cf->args->nelts > 3) {
            pt_conf_error(cf, "invalid number of arguments in "
                          "\"worker_cpu_affinity\" directive");
            return PT_CONF_ERROR;
        }

        ccf->cpu_affinity_auto = 1;
        n = 2;

        if (cf->args->nelts == 2) {
            /* auto without a mask: every CPU may be used */
            mask = pt_array_push(&ccf->cpu_affinity);
            if (mask == NULL) {
                return PT_CONF_ERROR;
            }

            *mask = (uint64_t) -1;
            return PT_CONF_OK;
        }
    }

    for ( /* void */ ; n < cf->args->nelts; n++) {
        mask = pt_array_push(&ccf->cpu_affinity);
        if (mask == NULL) {
            return PT_CONF_ERROR;
        }

        if (pt_parse_cpu_mask(&value[n], mask) != PT_OK) {
            pt_conf_error(cf, "invalid character \"%.*s\" in "
                          "\"worker_cpu_affinity\" mask, it must be 0s and "
                          "1s with at least one 1", PT_STR_ARG(value[n]));
            return PT_CONF_ERROR;
        }
    }

    return PT_CONF_OK;
}


/* The CPU mask worker n is to be pinned to, or 0 for no pinning. */
uint64_t
pt_get_cpu_affinity(pt_cycle_t *cycle, pt_uint_t n)
{
    uint64_t        *mask, m;
    pt_uint_t        i, j;
    pt_core_conf_t  *ccf;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    if (ccf->cpu_affinity.nelts == 0) {
        return 0;
    }

    mask = ccf->cpu_affinity.elts;

    if (ccf->cpu_affinity_auto) {
        /* the n-th CPU among those the mask allows, round robin */
        m = mask[0];

        for (i = 0, j = 0; i < 64 && (pt_int_t) i < pt_ncpu; i++) {
            if (m & ((uint64_t) 1 << i)) {
                j++;
            }
        }

        if (j == 0) {
            return 0;
        }

        j = n % j;

        for (i = 0; i < 64 && (pt_int_t) i < pt_ncpu; i++) {
            if (!(m & ((uint64_t) 1 << i))) {
                continue;
            }

            if (j-- == 0) {
                return (uint64_t) 1 << i;
            }
        }

        return 0;
    }

    if (n >= ccf->cpu_affinity.nelts) {
        return mask[ccf->cpu_affinity.nelts - 1];
    }

    return mask[n];
}


static char *
pt_set_user(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_core_conf_t  *ccf = conf;

    char            *group;
    pt_str_t        *value;
    struct group    *grp;
    struct passwd   *pwd;

    if (ccf->user != (uid_t) PT_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    if (geteuid() != 0) {
        pt_conf_log_error(PT_LOG_WARN, cf, 0,
                          "the \"user\" directive makes sense only if the "
                          "master process runs with super-user privileges, "
                          "ignored");
        return PT_CONF_OK;
    }

    value = cf->args->elts;

    ccf->username = (char *) value[1].data;

    errno = 0;
    pwd = getpwnam((char *) value[1].data);
    if (pwd == NULL) {
        pt_conf_log_error(PT_LOG_EMERG, cf, errno,
                          "getpwnam(\"%s\") failed", (char *) value[1].data);
        return PT_CONF_ERROR;
    }

    ccf->user = pwd->pw_uid;

    group = (char *) ((cf->args->nelts == 2) ? value[1].data : value[2].data);

    errno = 0;
    grp = getgrnam(group);

    if (grp == NULL && cf->args->nelts == 2) {
        /* "user www;" alone: the user's own primary group */
        ccf->group = pwd->pw_gid;
        return PT_CONF_OK;
    }

    if (grp == NULL) {
        pt_conf_log_error(PT_LOG_EMERG, cf, errno, "getgrnam(\"%s\") failed",
                          group);
        return PT_CONF_ERROR;
    }

    ccf->group = grp->gr_gid;

    return PT_CONF_OK;
}


static char *
pt_set_env(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_core_conf_t  *ccf = conf;

    pt_str_t  *value, *var;
    pt_uint_t  i;

    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] == '=') {
            break;
        }
    }

    if (i == 0) {
        return "has an empty variable name";
    }

    var = pt_array_push(&ccf->env);
    if (var == NULL) {
        return PT_CONF_ERROR;
    }

    *var = value[1];

    return PT_CONF_OK;
}


/*
 * The environment workers get: TZ and what "env" lists (a bare name keeps
 * the master's value, NAME=VALUE sets one); everything else is dropped.
 */
static pt_int_t
pt_core_init_environment(pt_cycle_t *cycle, pt_core_conf_t *ccf)
{
    char       **env, *value;
    size_t       n;
    pt_str_t    *var;
    pt_uint_t    i, k;

    var = ccf->env.elts;

    env = pt_pcalloc(cycle->pool, (ccf->env.nelts + 2) * sizeof(char *));
    if (env == NULL) {
        return PT_ERROR;
    }

    k = 0;

    value = getenv("TZ");

    for (i = 0; i < ccf->env.nelts; i++) {
        if (var[i].len > 3 && pt_strncmp(var[i].data, "TZ=", 3) == 0) {
            value = NULL;       /* "env TZ=..." sets it instead */
        }
    }

    if (value) {
        env[k] = (char *) pt_psprintf(cycle->pool, NULL, "TZ=%s", value);
        if (env[k] == NULL) {
            return PT_ERROR;
        }
        k++;
    }

    for (i = 0; i < ccf->env.nelts; i++) {

        if (pt_strlchr(var[i].data, var[i].data + var[i].len, '=')) {
            env[k++] = (char *) var[i].data;
            continue;
        }

        if (pt_str_eq_lit(&var[i], "TZ")) {
            continue;
        }

        value = getenv((char *) var[i].data);
        if (value == NULL) {
            continue;
        }

        n = var[i].len;
        env[k] = (char *) pt_psprintf(cycle->pool, NULL, "%.*s=%s", (int) n,
                                      (char *) var[i].data, value);
        if (env[k] == NULL) {
            return PT_ERROR;
        }
        k++;
    }

    env[k] = NULL;
    ccf->environment = env;

    return PT_OK;
}


/*
 * Registers a directory the server writes into (temp paths); it is made
 * absolute against the prefix in place. pt_create_paths makes them.
 */
pt_int_t
pt_add_path(pt_conf_t *cf, pt_str_t *path)
{
    pt_uint_t   i;
    pt_str_t   *p;

    if (pt_conf_full_name(cf->cycle, path, 0) != PT_OK) {
        return PT_ERROR;
    }

    while (path->len > 1 && path->data[path->len - 1] == '/') {
        path->len--;
        path->data[path->len] = '\0';
    }

    p = cf->cycle->paths.elts;

    for (i = 0; i < cf->cycle->paths.nelts; i++) {
        if (pt_str_eq(&p[i], path)) {
            return PT_OK;
        }
    }

    p = pt_array_push(&cf->cycle->paths);
    if (p == NULL) {
        return PT_ERROR;
    }

    *p = *path;

    return PT_OK;
}


/*
 * Creates the registered directories (and their parents) and, when the
 * master is root, gives the last level to the worker user.
 */
pt_int_t
pt_create_paths(pt_cycle_t *cycle)
{
    char            *s;
    pt_str_t        *path;
    pt_uint_t        i;
    struct stat      st;
    pt_core_conf_t  *ccf;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    path = cycle->paths.elts;

    for (i = 0; i < cycle->paths.nelts; i++) {

        for (s = (char *) path[i].data + 1; *s; s++) {
            if (*s != '/') {
                continue;
            }

            *s = '\0';

            if (mkdir((char *) path[i].data, 0755) == -1 && errno != EEXIST) {
                pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                             "mkdir() \"%s\" failed", (char *) path[i].data);
                *s = '/';
                return PT_ERROR;
            }

            *s = '/';
        }

        if (mkdir((char *) path[i].data, 0700) == -1 && errno != EEXIST) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "mkdir() \"%s\" failed", (char *) path[i].data);
            return PT_ERROR;
        }

        if (geteuid() != 0 || ccf->user == (uid_t) PT_CONF_UNSET_UINT) {
            continue;
        }

        if (stat((char *) path[i].data, &st) == -1) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "stat() \"%s\" failed", (char *) path[i].data);
            return PT_ERROR;
        }

        if (st.st_uid != ccf->user
            && chown((char *) path[i].data, ccf->user, -1) == -1)
        {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "chown(\"%s\", %d) failed",
                         (char *) path[i].data, (int) ccf->user);
            return PT_ERROR;
        }
    }

    return PT_OK;
}
