/*
 * Process roles. The master reads the configuration, owns the listening
 * sockets and log files, starts one worker per slot and supervises them:
 * it respawns the dead (backing off when they die young), reloads on HUP,
 * upgrades its own binary on USR2, and stops on TERM/INT or QUIT. Workers
 * drop privileges and run the event loop. With "master_process off" one
 * process does both, for debugging.
 */
#include "pt_process.h"
#include <sched.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/prctl.h>


#define PT_RESPAWN_MAX_DELAY   5000     /* ms between quick deaths, at most */
#define PT_CRASH_WINDOW        1000     /* a death this soon is a crash loop */
#define PT_TERMINATE_KILL      3000     /* ms before TERM becomes KILL */
#define PT_IDLE_GRACE          1000     /* ms idle connections get on QUIT */


static void pt_signal_handler(int signo);
static void pt_start_worker_processes(pt_cycle_t *cycle, pt_int_t n);
static pt_int_t pt_spawn_worker(pt_cycle_t *cycle, pt_int_t s,
    pt_uint_t slot);
static void pt_signal_worker_processes(pt_cycle_t *cycle, u_char cmd,
    int signo);
static pt_uint_t pt_reap_children(pt_cycle_t *cycle);
static void pt_master_process_exit(pt_cycle_t *cycle);
static void pt_worker_process_cycle(pt_cycle_t *cycle, pt_uint_t slot,
    pt_fd_t channel);
static void pt_worker_process_init(pt_cycle_t *cycle, pt_uint_t slot,
    pt_fd_t channel);
static void pt_process_exit(pt_cycle_t *cycle, int status);
static void pt_process_graceful(pt_cycle_t *cycle);
static pt_int_t pt_process_init(pt_cycle_t *cycle);
static void pt_set_rlimit(pt_cycle_t *cycle);
static pid_t pt_exec_new_binary(pt_cycle_t *cycle);
static void pt_set_timer(pt_msec_t ms);
static void pt_shutdown_timer_handler(pt_event_t *ev);
static void pt_close_listening_fds(pt_cycle_t *cycle);
static void pt_idle_close_handler(pt_event_t *ev);


volatile sig_atomic_t  pt_sig_quit;
volatile sig_atomic_t  pt_sig_terminate;
volatile sig_atomic_t  pt_sig_reconfigure;
volatile sig_atomic_t  pt_sig_reopen;
volatile sig_atomic_t  pt_sig_change_binary;
volatile sig_atomic_t  pt_sig_noaccept;
volatile sig_atomic_t  pt_sig_child;
volatile sig_atomic_t  pt_sig_alarm;

pt_uint_t     pt_process;
pid_t         pt_pid;
pid_t         pt_new_binary;
pt_uint_t     pt_inherited;
char         *pt_exec_path;

pt_process_t  pt_processes[PT_MAX_PROCESSES];
pt_int_t      pt_last_process;

static sigset_t    pt_wait_sigmask;
static pt_event_t  pt_shutdown_event;
static pt_event_t  pt_idle_event;
static pt_log_t    pt_idle_log;
static pt_log_t    pt_shutdown_log;
static pt_uint_t   pt_noaccepting;
static pt_uint_t   pt_respawn_pending;
static pt_uint_t   pt_reserved_connections;


typedef struct {
    int          signo;
    const char  *name;
} pt_signal_t;

static pt_signal_t  pt_signals[] = {
    { SIGHUP,   "SIGHUP" },
    { SIGUSR1,  "SIGUSR1" },
    { SIGWINCH, "SIGWINCH" },
    { SIGTERM,  "SIGTERM" },
    { SIGQUIT,  "SIGQUIT" },
    { SIGUSR2,  "SIGUSR2" },
    { SIGALRM,  "SIGALRM" },
    { SIGINT,   "SIGINT" },
    { SIGCHLD,  "SIGCHLD" },
    { 0, NULL }
};


/*
 * Installs the handlers with the signals blocked; they are let in only
 * while the process waits (epoll_pwait, sigsuspend), so no signal can slip
 * between the check of a flag and the wait.
 */
pt_int_t
pt_init_signals(pt_log_t *log)
{
    sigset_t           set;
    pt_signal_t       *sig;
    struct sigaction   sa;

    sigemptyset(&set);

    for (sig = pt_signals; sig->signo; sig++) {
        sigaddset(&set, sig->signo);
    }

    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
        pt_log_error(PT_LOG_EMERG, log, errno, "sigprocmask() failed");
        return PT_ERROR;
    }

    for (sig = pt_signals; sig->signo; sig++) {
        pt_memzero(&sa, sizeof(struct sigaction));
        sa.sa_handler = pt_signal_handler;
        sigemptyset(&sa.sa_mask);

        if (sigaction(sig->signo, &sa, NULL) == -1) {
            pt_log_error(PT_LOG_EMERG, log, errno, "sigaction(%s) failed",
                         sig->name);
            return PT_ERROR;
        }
    }

    pt_memzero(&sa, sizeof(struct sigaction));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    (void) sigaction(SIGPIPE, &sa, NULL);

    sigemptyset(&pt_wait_sigmask);
    pt_event_sigmask = &pt_wait_sigmask;

    return PT_OK;
}


static void
pt_signal_handler(int signo)
{
    int  err;

    err = errno;

    switch (signo) {
    case SIGQUIT:
        pt_sig_quit = 1;
        break;
    case SIGTERM:
    case SIGINT:
        pt_sig_terminate = 1;
        break;
    case SIGHUP:
        pt_sig_reconfigure = 1;
        break;
    case SIGUSR1:
        pt_sig_reopen = 1;
        break;
    case SIGUSR2:
        pt_sig_change_binary = 1;
        break;
    case SIGWINCH:
        pt_sig_noaccept = 1;
        break;
    case SIGCHLD:
        pt_sig_child = 1;
        break;
    case SIGALRM:
        pt_sig_alarm = 1;
        break;
    default:
        break;
    }

    errno = err;
}


pt_int_t
pt_daemon(pt_log_t *log)
{
    int  fd;

    switch (fork()) {
    case -1:
        pt_log_error(PT_LOG_EMERG, log, errno, "fork() failed");
        return PT_ERROR;

    case 0:
        break;

    default:
        _exit(0);
    }

    pt_pid = getpid();

    if (setsid() == -1) {
        pt_log_error(PT_LOG_EMERG, log, errno, "setsid() failed");
        return PT_ERROR;
    }

    umask(0);

    fd = open("/dev/null", O_RDWR);
    if (fd == -1) {
        pt_log_error(PT_LOG_EMERG, log, errno, "open(\"/dev/null\") failed");
        return PT_ERROR;
    }

    if (dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1) {
        pt_log_error(PT_LOG_EMERG, log, errno, "dup2() failed");
        (void) close(fd);
        return PT_ERROR;
    }

    if (fd > STDERR_FILENO) {
        (void) close(fd);
    }

    return PT_OK;
}


static void
pt_set_timer(pt_msec_t ms)
{
    struct itimerval  itv;

    itv.it_interval.tv_sec = 0;
    itv.it_interval.tv_usec = 0;
    itv.it_value.tv_sec = ms / 1000;
    itv.it_value.tv_usec = (ms % 1000) * 1000;

    (void) setitimer(ITIMER_REAL, &itv, NULL);
}


static void
pt_master_title(void)
{
    int     i;
    size_t  len;
    char    title[512];

    len = snprintf(title, sizeof(title), "master process");

    for (i = 0; i < pt_argc && len < sizeof(title); i++) {
        len += snprintf(title + len, sizeof(title) - len, " %s", pt_argv[i]);
    }

    pt_setproctitle(title);
}


void
pt_master_process_cycle(pt_cycle_t *cycle)
{
    pt_int_t          i;
    pt_uint_t         live, sent;
    pt_msec_t         delay;
    pt_cycle_t       *new;
    pt_core_conf_t   *ccf;

    pt_process = PT_PROCESS_MASTER;

    pt_master_title();

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    pt_start_worker_processes(cycle, ccf->worker_processes);

    live = 1;
    sent = 0;
    delay = 0;

    for ( ;; ) {

        if (delay && pt_sig_alarm) {
            pt_sig_alarm = 0;

            if (delay >= PT_TERMINATE_KILL) {
                pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                             "workers did not stop in time, killing them");
                pt_signal_worker_processes(cycle, 0, SIGKILL);
            }

            delay *= 2;
            pt_set_timer(delay);
        }

        for (i = 0; i < pt_last_process; i++) {
            pt_processes[i].just_spawn = 0;
        }

        (void) sigsuspend(&pt_wait_sigmask);

        pt_time_update();

        if (pt_sig_child) {
            pt_sig_child = 0;
            live = pt_reap_children(cycle);
        }

        if (!live && (pt_sig_terminate || pt_sig_quit)) {
            pt_master_process_exit(cycle);
        }

        if (pt_sig_terminate) {
            if (delay == 0) {
                pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                             "signal received, exiting");
                delay = 50;
                pt_set_timer(delay);
                pt_signal_worker_processes(cycle, PT_CMD_TERMINATE, SIGTERM);
                pt_close_listening_fds(cycle);

                /* slots waiting for a respawn are not waited for */
                if (!pt_reap_children(cycle)) {
                    pt_master_process_exit(cycle);
                }
            }

            continue;
        }

        if (pt_sig_quit) {
            if (!sent) {
                pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                             "gracefully shutting down");
                pt_signal_worker_processes(cycle, PT_CMD_QUIT, SIGQUIT);
                sent = 1;

                /*
                 * No successor will take the sockets: new clients are
                 * refused from now on, not queued until the exit.
                 */
                pt_close_listening_fds(cycle);

                if (!pt_reap_children(cycle)) {
                    pt_master_process_exit(cycle);
                }
            }

            continue;
        }

        if (pt_sig_alarm && pt_respawn_pending) {
            pt_sig_alarm = 0;
            pt_respawn_pending = 0;
            live = pt_reap_children(cycle);
        }

        if (pt_sig_reconfigure) {
            pt_sig_reconfigure = 0;

            if (pt_new_binary) {
                /* the rollback of an upgrade: the old workers come back */
                pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                             "starting worker processes again");
                pt_start_worker_processes(cycle, ccf->worker_processes);
                pt_noaccepting = 0;
                live = 1;
                continue;
            }

            pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "reconfiguring");

            new = pt_init_cycle(cycle);

            if (new == NULL) {
                pt_log_error(PT_LOG_ERR, cycle->log, 0,
                             "reconfiguration failed, the old configuration "
                             "stays in force");
                continue;
            }

            pt_cycle = new;

            /* the old workers keep their own copy of the old cycle */
            pt_destroy_cycle(cycle);
            cycle = new;
            cycle->old_cycle = NULL;

            ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx,
                                                 pt_core_module);

            /* the new workers serve every slot, those waiting included */
            for (i = 0; i < pt_last_process; i++) {
                if (pt_processes[i].pid == -2) {
                    pt_processes[i].pid = -1;
                }
            }

            pt_start_worker_processes(cycle, ccf->worker_processes);
            pt_signal_worker_processes(cycle, PT_CMD_QUIT, SIGQUIT);

            pt_noaccepting = 0;
            live = 1;
        }

        if (pt_sig_reopen) {
            pt_sig_reopen = 0;
            pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "reopening logs");
            pt_reopen_files(cycle, ccf->user);
            pt_signal_worker_processes(cycle, PT_CMD_REOPEN, SIGUSR1);
        }

        if (pt_sig_change_binary) {
            pt_sig_change_binary = 0;

            if (pt_new_binary) {
                pt_log_error(PT_LOG_ALERT, cycle->log, 0,
                             "an upgrade to a new binary is already under "
                             "way (pid %d)", (int) pt_new_binary);
            } else {
                pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                             "changing binary");
                pt_new_binary = pt_exec_new_binary(cycle);
            }
        }

        if (pt_sig_noaccept) {
            pt_sig_noaccept = 0;
            pt_noaccepting = 1;
            pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                         "gracefully stopping the worker processes");
            pt_signal_worker_processes(cycle, PT_CMD_QUIT, SIGQUIT);
        }
    }
}


static void
pt_start_worker_processes(pt_cycle_t *cycle, pt_int_t n)
{
    pt_int_t  i;

    for (i = 0; i < n; i++) {
        (void) pt_spawn_worker(cycle, -1, (pt_uint_t) i);
    }
}


/* Starts a worker for slot; s is its process table entry, or -1 for a new one. */
static pt_int_t
pt_spawn_worker(pt_cycle_t *cycle, pt_int_t s, pt_uint_t slot)
{
    int        fds[2];
    pid_t      pid;
    pt_int_t   i;

    if (s == -1) {
        for (s = 0; s < pt_last_process; s++) {
            if (pt_processes[s].pid == -1) {
                break;
            }
        }

        if (s == PT_MAX_PROCESSES) {
            pt_log_error(PT_LOG_ALERT, cycle->log, 0,
                         "no more than %d processes can be spawned",
                         PT_MAX_PROCESSES);
            return PT_ERROR;
        }

        pt_processes[s].crashes = 0;
    }

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                   fds) == -1)
    {
        pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                     "socketpair() failed while spawning a worker");
        return PT_ERROR;
    }

    pid = fork();

    switch (pid) {

    case -1:
        pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                     "fork() failed while spawning a worker");
        (void) close(fds[0]);
        (void) close(fds[1]);
        return PT_ERROR;

    case 0:
        pt_pid = getpid();
        pt_process = PT_PROCESS_WORKER;

        /* the other children's channels are not ours */
        for (i = 0; i < pt_last_process; i++) {
            if (i != s && pt_processes[i].pid != -1
                && pt_processes[i].channel[0] != -1)
            {
                (void) close(pt_processes[i].channel[0]);
            }
        }

        (void) close(fds[0]);

        pt_processes[s].channel[0] = -1;
        pt_processes[s].channel[1] = fds[1];

        pt_worker_process_cycle(cycle, slot, fds[1]);
        break;

    default:
        break;
    }

    (void) close(fds[1]);

    pt_processes[s].pid = pid;
    pt_processes[s].status = 0;
    pt_processes[s].channel[0] = fds[0];
    pt_processes[s].channel[1] = -1;
    pt_processes[s].slot = slot;
    pt_processes[s].start = pt_current_msec;
    pt_processes[s].name = "worker process";
    pt_processes[s].respawn = 1;
    pt_processes[s].just_spawn = 1;
    pt_processes[s].exiting = 0;
    pt_processes[s].exited = 0;

    if (s == pt_last_process) {
        pt_last_process++;
    }

    pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "start worker process %d",
                 (int) pid);

    return s;
}


/* Tells every worker (but the ones just started) to quit, stop or reopen. */
static void
pt_signal_worker_processes(pt_cycle_t *cycle, u_char cmd, int signo)
{
    pt_int_t  i;

    for (i = 0; i < pt_last_process; i++) {

        if (pt_processes[i].pid <= 0 || pt_processes[i].exited
            || pt_processes[i].just_spawn)
        {
            continue;
        }

        if (signo == SIGKILL) {
            (void) kill(pt_processes[i].pid, SIGKILL);
            continue;
        }

        if (pt_processes[i].exiting && signo == SIGQUIT) {
            continue;
        }

        if (cmd == PT_CMD_QUIT || cmd == PT_CMD_TERMINATE) {
            pt_processes[i].exiting = 1;
        }

        if (cmd && pt_processes[i].channel[0] != -1
            && pt_write_channel(pt_processes[i].channel[0], cmd, cycle->log)
               == PT_OK)
        {
            continue;
        }

        if (kill(pt_processes[i].pid, signo) == -1) {
            pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                         "kill(%d, %d) failed", (int) pt_processes[i].pid,
                         signo);
        }
    }
}


/*
 * Collects dead children, logs how they died and respawns workers that
 * should still be running, with a growing delay for those that keep dying
 * young. Returns whether any child is still alive.
 */
static pt_uint_t
pt_reap_children(pt_cycle_t *cycle)
{
    int              status;
    pid_t            pid;
    pt_int_t         i;
    pt_uint_t        live, pending;
    pt_msec_t        delay, wait;
    pt_core_conf_t  *ccf;

    for ( ;; ) {
        pid = waitpid(-1, &status, WNOHANG);

        if (pid == 0 || (pid == -1 && errno == ECHILD)) {
            break;
        }

        if (pid == -1) {
            if (errno == EINTR) {
                continue;
            }

            pt_log_error(PT_LOG_ALERT, cycle->log, errno, "waitpid() failed");
            break;
        }

        if (pid == pt_new_binary) {
            ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx,
                                                 pt_core_module);

            pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                         "new binary process %d exited, rolling back to the "
                         "old one", (int) pid);

            if (rename((char *) ccf->oldpid.data, (char *) ccf->pid.data)
                == -1)
            {
                pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                             "rename() %s back to %s failed",
                             (char *) ccf->oldpid.data,
                             (char *) ccf->pid.data);
            }

            pt_new_binary = 0;

            if (pt_noaccepting) {
                pt_noaccepting = 0;
                pt_start_worker_processes(cycle, ccf->worker_processes);
            }

            continue;
        }

        for (i = 0; i < pt_last_process; i++) {
            if (pt_processes[i].pid == pid) {
                pt_processes[i].status = status;
                pt_processes[i].exited = 1;
                break;
            }
        }

        if (i == pt_last_process) {
            continue;   /* a process we no longer track */
        }

        if (WIFSIGNALED(status)) {
            pt_log_error(PT_LOG_ALERT, cycle->log, 0,
                         "%s %d exited on signal %d%s",
                         pt_processes[i].name, (int) pid, WTERMSIG(status),
                         WCOREDUMP(status) ? " (core dumped)" : "");

        } else if (WEXITSTATUS(status) != 0) {
            pt_log_error(PT_LOG_ALERT, cycle->log, 0,
                         "%s %d exited with code %d", pt_processes[i].name,
                         (int) pid, WEXITSTATUS(status));

        } else {
            pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "%s %d exited",
                         pt_processes[i].name, (int) pid);
        }

        if (WIFEXITED(status) && WEXITSTATUS(status) == 2
            && pt_processes[i].respawn)
        {
            /* it could not start at all; respawning would only repeat that */
            pt_log_error(PT_LOG_ALERT, cycle->log, 0,
                         "%s %d exited with fatal code 2 and cannot be "
                         "respawned", pt_processes[i].name, (int) pid);
            pt_processes[i].respawn = 0;
        }

        if (pt_processes[i].channel[0] != -1) {
            (void) close(pt_processes[i].channel[0]);
            pt_processes[i].channel[0] = -1;
        }

        if (pt_processes[i].exiting || !pt_processes[i].respawn
            || pt_sig_terminate || pt_sig_quit || pt_noaccepting)
        {
            pt_processes[i].pid = -1;
            continue;
        }

        /* an unexpected death: count it if it came soon after the start */
        if (pt_current_msec - pt_processes[i].start < PT_CRASH_WINDOW) {
            pt_processes[i].crashes++;
        } else {
            pt_processes[i].crashes = 0;
        }

        pt_processes[i].pid = -2;   /* waiting to be respawned */
    }

    /* respawn the slots whose back-off has passed */

    live = 0;
    pending = 0;
    wait = PT_RESPAWN_MAX_DELAY;

    for (i = 0; i < pt_last_process; i++) {

        if (pt_processes[i].pid == -2) {

            if (pt_sig_terminate || pt_sig_quit || pt_noaccepting) {
                /* stopping: the slot is not filled again */
                pt_processes[i].pid = -1;
                continue;
            }

            delay = 0;

            if (pt_processes[i].crashes > 1) {
                delay = pt_min((pt_msec_t) 100
                               << pt_min(pt_processes[i].crashes - 2, 6),
                               (pt_msec_t) PT_RESPAWN_MAX_DELAY);
            }

            if (pt_current_msec - pt_processes[i].start
                < PT_CRASH_WINDOW + delay && delay)
            {
                pending = 1;
                wait = pt_min(wait, PT_CRASH_WINDOW + delay
                                    - (pt_current_msec
                                       - pt_processes[i].start));
                live = 1;
                continue;
            }

            if (pt_spawn_worker(cycle, i, pt_processes[i].slot) == PT_ERROR) {
                pt_processes[i].pid = -1;
                continue;
            }

            pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                         "respawned worker process %d for slot %lu",
                         (int) pt_processes[i].pid,
                         (unsigned long) pt_processes[i].slot);
        }

        if (pt_processes[i].pid > 0) {
            live = 1;
        }
    }

    if (pending) {
        pt_respawn_pending = 1;
        pt_set_timer(pt_max(wait, 10));
    }

    /* a new binary's master is our child, but not one we wait for */

    while (pt_last_process && pt_processes[pt_last_process - 1].pid == -1) {
        pt_last_process--;
    }

    return live;
}


static void
pt_master_process_exit(pt_cycle_t *cycle)
{
    pt_core_conf_t  *ccf;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    /* after an upgrade the pid file belongs to the new master */
    if (unlink((char *) (pt_new_binary ? ccf->oldpid.data : ccf->pid.data))
        == -1 && errno != ENOENT)
    {
        pt_log_error(PT_LOG_ALERT, cycle->log, errno, "unlink() pid failed");
    }

    pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "exit");

    pt_close_listening_sockets(cycle);
    pt_destroy_cycle(cycle);
    pt_cycle = NULL;

    exit(0);
}


/*
 * USR2: the pid file moves aside to FILE.oldbin and the binary at the path
 * we were started from is executed with our listening sockets, listed in
 * the environment. Its master starts its own workers beside ours.
 */
static pid_t
pt_exec_new_binary(pt_cycle_t *cycle)
{
    char             **env, *var, *p;
    size_t             len;
    pid_t              pid;
    pt_uint_t          i, n;
    pt_listening_t    *ls;
    pt_core_conf_t    *ccf;
    extern char      **environ;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    ls = cycle->listening.elts;

    len = sizeof(PORTICO_VAR "=");
    for (i = 0; i < cycle->listening.nelts; i++) {
        len += 2 * PT_INT_T_LEN + 2;
    }

    var = malloc(len);

    for (n = 0; environ[n]; n++) { /* void */ }

    env = malloc((n + 2) * sizeof(char *));

    if (var == NULL || env == NULL) {
        free(var);
        free(env);
        pt_log_error(PT_LOG_ALERT, cycle->log, errno, "malloc() failed");
        return 0;
    }

    p = var + snprintf(var, len, "%s=", PORTICO_VAR);

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd == PT_INVALID_FILE) {
            continue;
        }

        p += snprintf(p, len - (p - var), "%d.%lu;", ls[i].fd,
                      (unsigned long) ls[i].worker);
    }

    for (i = 0, n = 0; environ[i]; i++) {
        if (strncmp(environ[i], PORTICO_VAR "=", sizeof(PORTICO_VAR)) != 0) {
            env[n++] = environ[i];
        }
    }

    env[n++] = var;
    env[n] = NULL;

    if (rename((char *) ccf->pid.data, (char *) ccf->oldpid.data) == -1) {
        pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                     "rename() %s to %s failed, the binary is not changed",
                     (char *) ccf->pid.data, (char *) ccf->oldpid.data);
        free(var);
        free(env);
        return 0;
    }

    pid = fork();

    if (pid == 0) {
        sigset_t  set;

        /* the sockets cross the exec; nothing else does */
        for (i = 0; i < cycle->listening.nelts; i++) {
            if (ls[i].fd != PT_INVALID_FILE) {
                (void) fcntl(ls[i].fd, F_SETFD, 0);
            }
        }

        sigemptyset(&set);
        (void) sigprocmask(SIG_SETMASK, &set, NULL);

        execve(pt_exec_path, pt_argv, env);

        pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                     "execve() to start the new binary \"%s\" failed",
                     pt_exec_path);
        _exit(1);
    }

    free(var);
    free(env);

    if (pid == -1) {
        pt_log_error(PT_LOG_ALERT, cycle->log, errno, "fork() failed");

        if (rename((char *) ccf->oldpid.data, (char *) ccf->pid.data) == -1) {
            pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                         "rename() %s back to %s failed",
                         (char *) ccf->oldpid.data, (char *) ccf->pid.data);
        }

        return 0;
    }

    pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "start new binary process %d",
                 (int) pid);

    return pid;
}


static void
pt_worker_process_init(pt_cycle_t *cycle, pt_uint_t slot, pt_fd_t channel)
{
    uint64_t          mask;
    pt_uint_t         i, cpu;
    cpu_set_t         cpus;
    pt_listening_t   *ls;
    pt_core_conf_t   *ccf;
    extern char     **environ;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    environ = ccf->environment;

    pt_set_rlimit(cycle);

    if (geteuid() == 0 && ccf->user != (uid_t) PT_CONF_UNSET_UINT) {
        if (setgid(ccf->group) == -1) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "setgid(%d) failed", (int) ccf->group);
            exit(2);
        }

        if (initgroups(ccf->username, ccf->group) == -1) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "initgroups(%s, %d) failed", ccf->username,
                         (int) ccf->group);
        }

        if (setuid(ccf->user) == -1) {
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "setuid(%d) failed", (int) ccf->user);
            exit(2);
        }

        /* let a crashed worker still leave a core dump */
        (void) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    }

    mask = pt_get_cpu_affinity(cycle, slot);

    if (mask) {
        CPU_ZERO(&cpus);

        for (cpu = 0; cpu < 64; cpu++) {
            if (mask & ((uint64_t) 1 << cpu)) {
                CPU_SET(cpu, &cpus);
            }
        }

        if (sched_setaffinity(0, sizeof(cpu_set_t), &cpus) == -1) {
            pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                         "sched_setaffinity() failed");
        }
    }

    pt_worker = slot;

    /* the sockets of other slots stay open in the master, not here */
    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].reuseport && ls[i].worker != slot
            && ls[i].fd != PT_INVALID_FILE)
        {
            (void) close(ls[i].fd);
            ls[i].fd = PT_INVALID_FILE;
        }
    }

    if (pt_process_init(cycle) != PT_OK) {
        exit(2);
    }

    if (pt_add_channel_event(cycle, channel) != PT_OK) {
        exit(2);
    }

    pt_reserved_connections++;
}


static void
pt_worker_process_cycle(pt_cycle_t *cycle, pt_uint_t slot, pt_fd_t channel)
{
    pt_worker_process_init(cycle, slot, channel);

    pt_setproctitle("worker process");

    for ( ;; ) {

        if (pt_exiting
            && cycle->connection_n - cycle->free_connection_n
               <= pt_reserved_connections)
        {
            pt_process_exit(cycle, 0);
        }

        pt_process_events_and_timers(cycle);

        if (pt_sig_terminate) {
            pt_process_exit(cycle, 0);
        }

        if (pt_sig_quit) {
            pt_sig_quit = 0;

            if (!pt_exiting) {
                pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                             "gracefully shutting down");
                pt_setproctitle("worker process is shutting down");
                pt_process_graceful(cycle);
            }
        }

        if (pt_sig_reopen) {
            pt_sig_reopen = 0;
            pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "reopening logs");
            pt_reopen_files(cycle, (uid_t) -1);
        }
    }
}


/* worker_rlimit_nofile, set while still privileged enough to raise it */
static void
pt_set_rlimit(pt_cycle_t *cycle)
{
    pt_core_conf_t  *ccf;
    struct rlimit    rlmt;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    if (ccf->rlimit_nofile == PT_CONF_UNSET) {
        return;
    }

    rlmt.rlim_cur = (rlim_t) ccf->rlimit_nofile;
    rlmt.rlim_max = (rlim_t) ccf->rlimit_nofile;

    if (setrlimit(RLIMIT_NOFILE, &rlmt) == -1) {
        pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                     "setrlimit(RLIMIT_NOFILE, %ld) failed",
                     (long) ccf->rlimit_nofile);
    }
}


static pt_int_t
pt_process_init(pt_cycle_t *cycle)
{
    pt_uint_t        i;
    pt_listening_t  *ls;

    if (pt_event_init_process(cycle) != PT_OK) {
        return PT_ERROR;
    }

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].connection) {
            pt_reserved_connections++;
        }
    }

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->init_process) {
            if (cycle->modules[i]->init_process(cycle) != PT_OK) {
                return PT_ERROR;
            }
        }
    }

    return PT_OK;
}


void
pt_single_process_cycle(pt_cycle_t *cycle)
{
    pt_process = PT_PROCESS_SINGLE;

    pt_set_rlimit(cycle);

    if (pt_process_init(cycle) != PT_OK) {
        pt_process_exit(cycle, 2);
    }

    for ( ;; ) {

        if (pt_exiting
            && cycle->connection_n - cycle->free_connection_n
               <= pt_reserved_connections)
        {
            pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "exiting");
            pt_process_exit(cycle, 0);
        }

        pt_process_events_and_timers(cycle);

        if (pt_sig_terminate) {
            pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "exiting");
            pt_process_exit(cycle, 0);
        }

        if (pt_sig_quit) {
            pt_sig_quit = 0;

            if (!pt_exiting) {
                pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                             "gracefully shutting down");
                pt_process_graceful(cycle);
            }
        }

        if (pt_sig_reconfigure) {
            pt_sig_reconfigure = 0;
            pt_log_error(PT_LOG_WARN, cycle->log, 0,
                         "reloading needs the master process "
                         "(master_process on); restart to apply a new "
                         "configuration");
        }

        if (pt_sig_reopen) {
            pt_sig_reopen = 0;
            pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "reopening logs");
            pt_reopen_files(cycle, (uid_t) -1);
        }
    }
}


/*
 * QUIT: stop accepting; idle keep-alive connections close now, the others
 * when their request is done, or when worker_shutdown_timeout runs out.
 */
static void
pt_process_graceful(pt_cycle_t *cycle)
{
    pt_core_conf_t  *ccf;

    pt_exiting = 1;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    pt_close_listening_sockets(cycle);

    /*
     * A single process owns its sockets: closing them refuses new clients.
     * A worker closes only its copies; the master keeps the sockets (and
     * their queues) for the next workers, or closes them when it stops.
     */
    pt_close_listening_fds(cycle);

    pt_reserved_connections = (pt_process == PT_PROCESS_WORKER) ? 1 : 0;

    /*
     * Idle connections get a moment before they are closed: a request
     * already on its way is then answered (with "Connection: close")
     * instead of meeting a closed socket.
     */
    pt_idle_log = *cycle->log;
    pt_idle_event.handler = pt_idle_close_handler;
    pt_idle_event.data = cycle;
    pt_idle_event.log = &pt_idle_log;
    pt_idle_event.cancelable = 1;
    pt_event_add_timer(&pt_idle_event, PT_IDLE_GRACE);

    if (ccf->shutdown_timeout) {
        pt_shutdown_log = *cycle->log;
        pt_shutdown_event.handler = pt_shutdown_timer_handler;
        pt_shutdown_event.data = cycle;
        pt_shutdown_event.log = &pt_shutdown_log;
        pt_shutdown_event.cancelable = 1;
        pt_event_add_timer(&pt_shutdown_event, ccf->shutdown_timeout);
    }
}


static void
pt_idle_close_handler(pt_event_t *ev)
{
    pt_cycle_t  *cycle;

    cycle = ev->data;

    pt_close_idle_connections(cycle);

    if (cycle->reusable_connections_n) {
        pt_event_add_timer(ev, PT_IDLE_GRACE);
    }
}


/* Closes this process's descriptors of the listening sockets. */
static void
pt_close_listening_fds(pt_cycle_t *cycle)
{
    pt_uint_t        i;
    pt_listening_t  *ls;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd != PT_INVALID_FILE) {
            (void) close(ls[i].fd);
            ls[i].fd = PT_INVALID_FILE;
        }
    }
}


/* worker_shutdown_timeout: whatever is still open is closed now. */
static void
pt_shutdown_timer_handler(pt_event_t *ev)
{
    pt_uint_t         i;
    pt_cycle_t       *cycle;
    pt_connection_t  *c;

    cycle = ev->data;

    pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                 "worker_shutdown_timeout expired, closing connections");

    c = cycle->connections;

    for (i = 0; i < cycle->connection_n; i++) {
        if (c[i].fd == -1 || c[i].read->accept || c[i].shared) {
            continue;
        }

        c[i].close = 1;
        c[i].error = 1;
        c[i].read->handler(c[i].read);
    }
}


static void
pt_process_exit(pt_cycle_t *cycle, int status)
{
    pt_uint_t  i;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->exit_process) {
            cycle->modules[i]->exit_process(cycle);
        }
    }

    if (pt_process == PT_PROCESS_SINGLE) {
        pt_delete_pidfile(cycle);
    }

    if (cycle->connections
        && cycle->connection_n - cycle->free_connection_n
           <= pt_reserved_connections)
    {
        /* nothing in flight: free everything, so leak checkers see none */
        pt_event_exit_process(cycle);
        pt_destroy_cycle(cycle);
        pt_cycle = NULL;
    }

    exit(status);
}
