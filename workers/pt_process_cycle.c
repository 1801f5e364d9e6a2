/*
 * Process cycles and signals. The single-process cycle serves traffic in
 * the process that read the configuration (master_process off).
 */
#include "pt_process.h"


static void pt_signal_handler(int signo);
static void pt_process_exit(pt_cycle_t *cycle, int status);
static void pt_process_graceful(pt_cycle_t *cycle);
static pt_int_t pt_process_init(pt_cycle_t *cycle);


volatile sig_atomic_t  pt_sig_quit;
volatile sig_atomic_t  pt_sig_terminate;
volatile sig_atomic_t  pt_sig_reconfigure;
volatile sig_atomic_t  pt_sig_reopen;
volatile sig_atomic_t  pt_sig_change_binary;
volatile sig_atomic_t  pt_sig_noaccept;
volatile sig_atomic_t  pt_sig_child;

pt_uint_t  pt_process;
pid_t      pt_pid;

static sigset_t    pt_wait_sigmask;
static pt_event_t  pt_shutdown_event;


typedef struct {
    int          signo;
    const char  *name;
} pt_signal_t;

static pt_signal_t  pt_signals[] = {
    { SIGHUP,  "SIGHUP" },
    { SIGUSR1, "SIGUSR1" },
    { SIGWINCH, "SIGWINCH" },
    { SIGTERM, "SIGTERM" },
    { SIGQUIT, "SIGQUIT" },
    { SIGUSR2, "SIGUSR2" },
    { SIGALRM, "SIGALRM" },
    { SIGINT,  "SIGINT" },
    { SIGIO,   "SIGIO" },
    { SIGCHLD, "SIGCHLD" },
    { 0, NULL }
};


/*
 * Installs the handlers with the signals blocked; they are let in only
 * while the process waits (epoll_pwait, sigsuspend).
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

    if (sigprocmask(SIG_BLOCK, &set, &pt_wait_sigmask) == -1) {
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

    /* the mask for waiting: everything let in */
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
    default:
        break;
    }

    errno = err;
}


static pt_int_t
pt_process_init(pt_cycle_t *cycle)
{
    pt_uint_t  i;

    if (pt_event_init_process(cycle) != PT_OK) {
        return PT_ERROR;
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
    pt_core_conf_t  *ccf;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    if (pt_process_init(cycle) != PT_OK) {
        pt_process_exit(cycle, 2);
    }

    for ( ;; ) {

        pt_process_events_and_timers(cycle);

        if (pt_sig_terminate) {
            pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "exiting");
            pt_process_exit(cycle, 0);
        }

        if (pt_sig_quit && !pt_exiting) {
            pt_log_error(PT_LOG_NOTICE, cycle->log, 0,
                         "gracefully shutting down");
            pt_process_graceful(cycle);

            if (ccf->shutdown_timeout) {
                pt_shutdown_event.handler = (pt_event_handler_pt) NULL;
            }
        }

        if (pt_exiting) {
            pt_close_idle_connections(cycle);

            if (cycle->free_connection_n == cycle->connection_n) {
                pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "exiting");
                pt_process_exit(cycle, 0);
            }
        }

        if (pt_sig_reconfigure) {
            pt_sig_reconfigure = 0;
            pt_log_error(PT_LOG_WARN, cycle->log, 0,
                         "reloading needs the master process; "
                         "restart to apply a new configuration");
        }

        if (pt_sig_reopen) {
            pt_sig_reopen = 0;
            pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "reopening logs");
            pt_reopen_files(cycle, (uid_t) -1);
        }
    }
}


/* QUIT: stop accepting; connections finish what they are doing. */
static void
pt_process_graceful(pt_cycle_t *cycle)
{
    pt_exiting = 1;

    pt_close_listening_sockets(cycle);
    pt_close_idle_connections(cycle);
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

    if (pt_process == PT_PROCESS_SINGLE || pt_process == PT_PROCESS_MASTER) {
        pt_delete_pidfile(cycle);
    }

    if (cycle->connections
        && cycle->free_connection_n + cycle->listening.nelts
           >= cycle->connection_n)
    {
        /* nothing in flight: free everything, so leak checkers see none */
        pt_event_exit_process(cycle);
        pt_destroy_cycle(cycle);
        pt_cycle = NULL;
    }

    exit(status);
}
