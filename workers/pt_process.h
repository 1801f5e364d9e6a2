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
extern int        pt_argc;

pt_int_t pt_init_signals(pt_log_t *log);
void pt_single_process_cycle(pt_cycle_t *cycle);

#endif /* PT_PROCESS_H */
