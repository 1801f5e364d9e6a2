/*
 * Error logging. A log is a list of destinations, each with its own level;
 * a destination without a file is the start-up stderr, which gets the short
 * "portico: [level] message" form that a person at a terminal expects.
 */
#include "pt_core.h"


static char *pt_error_log(pt_conf_t *cf, pt_command_t *cmd, void *conf);


static pt_command_t  pt_errlog_commands[] = {

    { pt_string("error_log"),
      PT_MAIN_CONF | PT_CONF_1MORE,
      pt_error_log,
      0,
      0,
      NULL },

    pt_null_command
};


static pt_core_module_t  pt_errlog_module_ctx = {
    pt_string("errlog"),
    NULL,
    NULL
};


pt_module_t  pt_errlog_module = {
    .ctx = &pt_errlog_module_ctx,
    .commands = pt_errlog_commands,
    .type = PT_CORE_MODULE,
};


static pt_log_t  pt_log;
pt_uint_t        pt_use_stderr = 1;

const char *pt_log_levels[] = {
    "", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};


static size_t
pt_log_errno(u_char *buf, size_t size, pt_err_t err)
{
    int  n;

    n = snprintf((char *) buf, size, " (%d: %s)", err, strerror(err));

    return (n < 0) ? 0 : pt_min((size_t) n, size);
}


/* "portico: [level] message\n" to stderr; msg ends with the newline. */
static void
pt_log_write_short(pt_uint_t level, u_char *msg, size_t len)
{
    int           n;
    char          prefix[32];
    struct iovec  iov[2];

    n = snprintf(prefix, sizeof(prefix), "portico: [%s] ",
                 pt_log_levels[level]);

    iov[0].iov_base = prefix;
    iov[0].iov_len = pt_min((size_t) n, sizeof(prefix) - 1);
    iov[1].iov_base = msg;
    iov[1].iov_len = len;

    (void) !writev(STDERR_FILENO, iov, 2);
}


void
pt_log_error_va(pt_uint_t level, pt_log_t *log, pt_err_t err,
    const char *fmt, va_list args)
{
    u_char     *p, *last, *msg, *head;
    int         rc;
    va_list     copy;
    pt_uint_t   wrote_stderr;
    u_char      errstr[PT_MAX_ERROR_STR];

    last = errstr + PT_MAX_ERROR_STR - 1;   /* room for the newline */

    p = errstr;
    head = p;
    p = pt_cpymem(p, (u_char *) pt_cached_err_log_time.data,
                  pt_cached_err_log_time.len);
    rc = snprintf((char *) p, last - p, " [%s] %d#0: ", pt_log_levels[level],
                  (int) getpid());
    p += (rc < 0) ? 0 : pt_min((size_t) rc, (size_t) (last - p - 1));

    if (log && log->connection) {
        rc = snprintf((char *) p, last - p, "*%lu ",
                      (unsigned long) log->connection);
        p += (rc < 0) ? 0 : pt_min((size_t) rc, (size_t) (last - p - 1));
    }

    msg = p;

    va_copy(copy, args);
    rc = vsnprintf((char *) p, last - p, fmt, copy);
    va_end(copy);
    p += (rc < 0) ? 0 : pt_min((size_t) rc, (size_t) (last - p - 1));

    if (err) {
        p += pt_log_errno(p, last - p, err);
    }

    if (level != PT_LOG_DEBUG && log && log->handler) {
        p = log->handler(log, p, last - p);
    }

    if (p > last) {
        p = last;
    }

    *p++ = '\n';

    wrote_stderr = 0;

    for ( /* void */ ; log; log = log->next) {
        if (log->log_level < level) {
            continue;
        }

        if (log->file == NULL) {
            pt_log_write_short(level, msg, p - msg);
            wrote_stderr = 1;
            continue;
        }

        if (log->file->fd == PT_INVALID_FILE) {
            continue;
        }

        (void) pt_write_fd(log->file->fd, head, p - head);

        if (log->file->fd == STDERR_FILENO) {
            wrote_stderr = 1;
        }
    }

    /*
     * While starting, serious problems are echoed to the terminal too, so
     * someone running "portico" sees why it did not start.
     */
    if (!wrote_stderr && pt_use_stderr && level <= PT_LOG_WARN) {
        pt_log_write_short(level, msg, p - msg);
    }
}


void
pt_log_error(pt_uint_t level, pt_log_t *log, pt_err_t err, const char *fmt,
    ...)
{
    va_list  args;

    va_start(args, fmt);
    pt_log_error_va(level, log, err, fmt, args);
    va_end(args);
}


void
pt_conf_log_error(pt_uint_t level, pt_conf_t *cf, pt_err_t err,
    const char *fmt, ...)
{
    int      n;
    size_t   len;
    va_list  args;
    char     buf[PT_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);

    len = (n < 0) ? 0 : pt_min((size_t) n, sizeof(buf) - 1);

    if (err) {
        len += pt_log_errno((u_char *) buf + len, sizeof(buf) - len, err);
        len = pt_min(len, sizeof(buf) - 1);
    }

    buf[len] = '\0';

    if (cf == NULL || cf->conf_file == NULL) {
        pt_log_error(level, cf ? cf->log : &pt_log, 0, "%s", buf);
        return;
    }

    if (cf->conf_file->name.len == 0) {
        pt_log_error(level, cf->log, 0, "%s in command line", buf);
        return;
    }

    pt_log_error(level, cf->log, 0, "%s in %.*s:%lu", buf,
                 PT_STR_ARG(cf->conf_file->name),
                 (unsigned long) cf->conf_file->line);
}


void
pt_log_stderr(pt_err_t err, const char *fmt, ...)
{
    int      n;
    size_t   len;
    va_list  args;
    u_char   buf[PT_MAX_ERROR_STR];

    len = sizeof("portico: ") - 1;
    pt_memcpy(buf, "portico: ", len);

    va_start(args, fmt);
    n = vsnprintf((char *) buf + len, sizeof(buf) - len - 1, fmt, args);
    va_end(args);

    len += (n < 0) ? 0 : pt_min((size_t) n, sizeof(buf) - len - 2);

    if (err) {
        len += pt_log_errno(buf + len, sizeof(buf) - len - 1, err);
        len = pt_min(len, sizeof(buf) - 2);
    }

    buf[len++] = '\n';

    (void) pt_write_fd(STDERR_FILENO, buf, len);
}


void
pt_assert_failed(const char *expr, const char *file, int line)
{
    pt_log_t  *log;

    log = pt_cycle ? pt_cycle->log : &pt_log;

    pt_log_error(PT_LOG_ALERT, log, 0, "assertion \"%s\" failed at %s:%d",
                 expr, file, line);
    abort();
}


/*
 * The log used before any configuration is read: start-up stderr, every
 * level up to notice.
 */
pt_log_t *
pt_log_init(void)
{
    pt_log.file = NULL;
    pt_log.log_level = PT_LOG_NOTICE;

    return &pt_log;
}


pt_int_t
pt_log_level_from_name(const pt_str_t *name)
{
    pt_uint_t  n;

    for (n = 1; n <= PT_LOG_DEBUG; n++) {
        if (name->len == strlen(pt_log_levels[n])
            && pt_strncmp(name->data, pt_log_levels[n], name->len) == 0)
        {
            return n;
        }
    }

    return PT_ERROR;
}


pt_log_t *
pt_log_get_file_log(pt_log_t *head)
{
    pt_log_t  *log;

    for (log = head; log; log = log->next) {
        if (log->file != NULL) {
            return log;
        }
    }

    return NULL;
}


static void
pt_log_insert(pt_log_t *head, pt_log_t *log)
{
    pt_log_t  tmp;

    /* Keep the list ordered by level, most verbose first. */
    if (log->log_level > head->log_level) {
        tmp = *head;
        *head = *log;
        *log = tmp;
        head->next = log;
        return;
    }

    while (head->next) {
        if (log->log_level > head->next->log_level) {
            log->next = head->next;
            head->next = log;
            return;
        }

        head = head->next;
    }

    head->next = log;
}


/*
 * Sets a log from "error_log FILE|stderr [LEVEL]" arguments; used by every
 * context that accepts error_log. *head may be a log already holding earlier
 * error_log lines of the same context.
 */
char *
pt_log_set_log(pt_conf_t *cf, pt_log_t **head)
{
    pt_str_t   *value, name;
    pt_log_t   *new;
    pt_int_t    level;

    if (*head != NULL && (*head)->log_level == 0) {
        new = *head;        /* an unused preallocated slot */
    } else {
        new = pt_pcalloc(cf->pool, sizeof(pt_log_t));
        if (new == NULL) {
            return PT_CONF_ERROR;
        }

        if (*head == NULL) {
            *head = new;
        }
    }

    value = cf->args->elts;

    if (cf->args->nelts > 3) {
        pt_conf_error(cf, "invalid number of arguments in \"error_log\" "
                      "directive");
        return PT_CONF_ERROR;
    }

    name = value[1];

    if (pt_str_eq_lit(&name, "stderr")) {
        new->file = pt_conf_open_file(cf->cycle, &name);
    } else if (name.len == 0) {
        pt_conf_error(cf, "empty file name in \"error_log\" directive");
        return PT_CONF_ERROR;
    } else {
        new->file = pt_conf_open_file(cf->cycle, &name);
    }

    if (new->file == NULL) {
        return PT_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        level = pt_log_level_from_name(&value[2]);
        if (level == PT_ERROR) {
            pt_conf_error(cf, "invalid log level \"%.*s\"",
                          PT_STR_ARG(value[2]));
            return PT_CONF_ERROR;
        }

        new->log_level = level;
    } else {
        new->log_level = PT_LOG_ERR;
    }

    if (*head != new) {
        pt_log_insert(*head, new);
    }

    return PT_CONF_OK;
}


static char *
pt_error_log(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_log_t  *head;

    head = &cf->cycle->new_log;

    return pt_log_set_log(cf, &head);
}


/*
 * Called once the configuration is read: a cycle whose config has no
 * error_log writes to the compiled-in default path.
 */
pt_int_t
pt_log_open_default(pt_cycle_t *cycle)
{
    pt_str_t  name;

    if (cycle->new_log.log_level != 0) {
        return PT_OK;
    }

    name.len = sizeof(PT_ERROR_LOG_PATH) - 1;
    name.data = (u_char *) PT_ERROR_LOG_PATH;

    cycle->new_log.file = pt_conf_open_file(cycle, &name);
    if (cycle->new_log.file == NULL) {
        return PT_ERROR;
    }

    cycle->new_log.log_level = PT_LOG_ERR;

    return PT_OK;
}


/*
 * Points fd 2 at the error log file once the process no longer has a
 * terminal, so stray writes (library warnings, sanitizers) are kept.
 */
pt_int_t
pt_log_redirect_stderr(pt_cycle_t *cycle)
{
    pt_log_t  *log;

    log = pt_log_get_file_log(cycle->log);
    if (log == NULL || log->file->fd == STDERR_FILENO
        || log->file->fd == PT_INVALID_FILE)
    {
        return PT_OK;
    }

    if (dup2(log->file->fd, STDERR_FILENO) == -1) {
        pt_log_error(PT_LOG_ALERT, cycle->log, errno,
                     "dup2(STDERR) failed");
        return PT_ERROR;
    }

    return PT_OK;
}
