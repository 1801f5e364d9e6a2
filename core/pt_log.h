#ifndef PT_LOG_H
#define PT_LOG_H

#define PT_LOG_STDERR   0
#define PT_LOG_EMERG    1
#define PT_LOG_ALERT    2
#define PT_LOG_CRIT     3
#define PT_LOG_ERR      4
#define PT_LOG_WARN     5
#define PT_LOG_NOTICE   6
#define PT_LOG_INFO     7
#define PT_LOG_DEBUG    8

#define PT_MAX_ERROR_STR   2048

/* Adds context (client, server, request, upstream) to an error line. */
typedef u_char *(*pt_log_handler_pt)(pt_log_t *log, u_char *buf, size_t len);

struct pt_log_s {
    pt_uint_t            log_level;
    pt_open_file_t      *file;
    pt_uint_t            connection;    /* number, 0 if none */
    pt_log_handler_pt    handler;
    void                *data;          /* for the handler */
    const char          *action;        /* "while reading client request" */
    pt_log_t            *next;          /* further error_log destinations */
};

/*
 * Writes "TIME [level] PID#TID: *CONN message: errno text, context" to every
 * destination of log whose level admits it. err is 0 or an errno value.
 */
void pt_log_error(pt_uint_t level, pt_log_t *log, pt_err_t err,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void pt_log_error_va(pt_uint_t level, pt_log_t *log, pt_err_t err,
    const char *fmt, va_list args);

/*
 * Configuration errors: "portico: [emerg] message in FILE:LINE" to stderr
 * and to the error log (cf may be NULL outside the parser).
 */
void pt_conf_log_error(pt_uint_t level, pt_conf_t *cf, pt_err_t err,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Writes "portico: " + message + "\n" straight to stderr. */
void pt_log_stderr(pt_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#if (PT_DEBUG)
#define pt_log_debug(log, ...)                                               \
    do {                                                                     \
        if ((log)->log_level >= PT_LOG_DEBUG) {                              \
            pt_log_error(PT_LOG_DEBUG, log, 0, __VA_ARGS__);                 \
        }                                                                    \
    } while (0)
#else
#define pt_log_debug(log, ...)
#endif

pt_log_t *pt_log_init(void);
pt_int_t pt_log_open_default(pt_cycle_t *cycle);
pt_int_t pt_log_redirect_stderr(pt_cycle_t *cycle);
pt_log_t *pt_log_get_file_log(pt_log_t *head);
char *pt_log_set_log(pt_conf_t *cf, pt_log_t **head);
pt_int_t pt_log_level_from_name(const pt_str_t *name);

extern pt_module_t  pt_errlog_module;
extern pt_uint_t    pt_use_stderr;
extern const char  *pt_log_levels[];

#endif /* PT_LOG_H */
