#ifndef PT_PROCESS_H
#define PT_PROCESS_H

#include "pt_core.h"

#define PT_PROCESS_SINGLE     0
#define PT_PROCESS_MASTER     1
#define PT_PROCESS_WORKER     2
#define PT_PROCESS_HELPER     3

/* set by signal handlers, acted on by the process cycles */
extern volatile sig_atomic_t  pt_sig_quit;        /* QUIT: graceful */
extern volatile sig_atomic_t  pt_sig_terminate;   /* TERM, INT: fast */
extern volatile sig_atomic_t  pt_sig_reconfigure; /* HUP */
extern volatile sig_atomic_t  pt_sig_reopen;      /* USR1 */
extern volatile sig_atomic_t  pt_sig_change_binary; /* USR2 */
extern volatile sig_atomic_t  pt_sig_noaccept;    /* WINCH */
extern volatile sig_atomic_t  pt_sig_child;       /* CHLD */

extern pt_uint_t  pt_process;
extern pid_t      pt_pid;
extern char     **pt_argv;
extern char     **pt_os_argv;
extern int        pt_argc;

#define PT_CMD_QUIT           'q'
#define PT_CMD_TERMINATE      't'
#define PT_CMD_REOPEN         'r'

typedef struct {
    pid_t            pid;
    int              status;
    pt_fd_t          channel[2];    /* [0] the master's end, [1] the child's */
    pt_uint_t        slot;          /* worker slot: which sockets it serves */
    pt_msec_t        start;         /* for the crash-loop back-off */
    pt_uint_t        crashes;       /* quick deaths in a row */
    const char      *name;

    unsigned         respawn:1;
    unsigned         just_spawn:1;
    unsigned         exiting:1;
    unsigned         exited:1;
} pt_process_t;

extern pt_process_t   pt_processes[PT_MAX_PROCESSES];
extern pt_int_t       pt_last_process;
extern pid_t          pt_new_binary;
extern pt_uint_t      pt_inherited;
extern char          *pt_exec_path;

pt_int_t pt_init_signals(pt_log_t *log);
void pt_single_process_cycle(pt_cycle_t *cycle);
void pt_master_process_cycle(pt_cycle_t *cycle);
pt_int_t pt_daemon(pt_log_t *log);

pt_int_t pt_init_setproctitle(pt_log_t *log);
void pt_setproctitle(const char *title);

pt_int_t pt_write_channel(pt_fd_t fd, u_char command, pt_log_t *log);
pt_int_t pt_add_channel_event(pt_cycle_t *cycle, pt_fd_t fd);

#endif /* PT_PROCESS_H */
