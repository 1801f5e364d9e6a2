/*
 * The one header every Portico source file includes: system headers,
 * build configuration, return codes, forward declarations of the core
 * types, then the core unit headers in dependency order.
 */
#ifndef PT_CORE_H
#define PT_CORE_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pt_config.h"
#include "portico.h"

typedef intptr_t              pt_int_t;
typedef uintptr_t             pt_uint_t;
typedef intptr_t              pt_flag_t;
typedef int                   pt_err_t;
typedef int                   pt_fd_t;
typedef uint64_t              pt_msec_t;
typedef int64_t               pt_msec_int_t;

#define PT_OK                 0
#define PT_ERROR             -1
#define PT_AGAIN             -2
#define PT_BUSY              -3
#define PT_DONE              -4
#define PT_DECLINED          -5
#define PT_ABORT             -6

#define PT_INVALID_FILE      -1
#define PT_INVALID_INDEX      0xd0d0d0d0

#define PT_CONF_UNSET        -1
#define PT_CONF_UNSET_UINT   (pt_uint_t) -1
#define PT_CONF_UNSET_PTR    (void *) -1
#define PT_CONF_UNSET_SIZE   (size_t) -1
#define PT_CONF_UNSET_MSEC   (pt_msec_t) -1

#define PT_ALIGNMENT         sizeof(unsigned long)
#define pt_align(d, a)       (((d) + (a - 1)) & ~(a - 1))
#define pt_align_ptr(p, a)                                                   \
    (u_char *) (((uintptr_t) (p) + ((uintptr_t) a - 1)) & ~((uintptr_t) a - 1))

#define pt_min(a, b)         ((a) < (b) ? (a) : (b))
#define pt_max(a, b)         ((a) > (b) ? (a) : (b))
#define pt_nelems(a)         (sizeof(a) / sizeof((a)[0]))

#define pt_likely(x)         __builtin_expect(!!(x), 1)
#define pt_unlikely(x)       __builtin_expect(!!(x), 0)

#define PT_CR                (u_char) '\r'
#define PT_LF                (u_char) '\n'
#define PT_CRLF              "\r\n"

#define PT_INT_T_LEN         (sizeof("-9223372036854775808") - 1)
#define PT_MAX_INT_T_VALUE   INTPTR_MAX
#define PT_MAX_SIZE_T_VALUE  SIZE_MAX
#define PT_MAX_OFF_T_VALUE   INT64_MAX
#define PT_MAX_TIME_T_VALUE  INT64_MAX

typedef struct pt_pool_s        pt_pool_t;
typedef struct pt_buf_s         pt_buf_t;
typedef struct pt_chain_s       pt_chain_t;
typedef struct pt_log_s         pt_log_t;
typedef struct pt_open_file_s   pt_open_file_t;
typedef struct pt_file_s        pt_file_t;
typedef struct pt_conf_s        pt_conf_t;
typedef struct pt_command_s     pt_command_t;
typedef struct pt_module_s      pt_module_t;
typedef struct pt_cycle_s       pt_cycle_t;
typedef struct pt_event_s       pt_event_t;
typedef struct pt_connection_s  pt_connection_t;
typedef struct pt_listening_s   pt_listening_t;

typedef void (*pt_event_handler_pt)(pt_event_t *ev);
typedef void (*pt_connection_handler_pt)(pt_connection_t *c);

/*
 * pt_assert() stays on in production: a worker that trips it aborts and
 * is respawned by the master, which beats serving corrupted state.
 */
#define pt_assert(expr)                                                      \
    do {                                                                     \
        if (pt_unlikely(!(expr))) {                                          \
            pt_assert_failed(#expr, __FILE__, __LINE__);                     \
        }                                                                    \
    } while (0)

void pt_assert_failed(const char *expr, const char *file, int line)
    __attribute__((noreturn));

#include "pt_string.h"
#include "pt_palloc.h"
#include "pt_array.h"
#include "pt_list.h"
#include "pt_queue.h"
#include "pt_rbtree.h"
#include "pt_hash.h"
#include "pt_files.h"
#include "pt_buf.h"
#include "pt_times.h"
#include "pt_log.h"
#include "pt_inet.h"
#include "pt_conf_file.h"
#include "pt_regex.h"
#include "pt_module.h"
#include "pt_shmem.h"
#include "pt_cycle.h"
#include "pt_event.h"
#include "pt_event_timer.h"
#include "pt_connection.h"
#include "pt_resolver.h"
#include "pt_os.h"

#endif /* PT_CORE_H */
