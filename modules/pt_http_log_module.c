/*
 * The access log: "log_format" compiles a line of literal text and
 * variables once; "access_log" names the files a location writes one such
 * line per request to, when the request is freed (the LOG phase).
 *
 * A line is written with one write(2) to a file opened with O_APPEND, so
 * the lines of several workers never mix. With buffer=SIZE, lines collect
 * in a buffer of the worker's own and go out when the next one does not
 * fit, when flush=TIME has passed since the first, before the file is
 * reopened (USR1), and when the worker exits.
 */
#include "pt_http.h"


#define PT_HTTP_LOG_ESCAPE_DEFAULT  0
#define PT_HTTP_LOG_ESCAPE_JSON     1
#define PT_HTTP_LOG_ESCAPE_NONE     2


/* A piece of a format: literal text, or a variable. */
typedef struct {
    pt_str_t                  text;
    pt_int_t                  index;    /* of the variable; -1: literal */
} pt_http_log_op_t;

typedef struct {
    pt_str_t                  name;
    pt_array_t               *ops;      /* of pt_http_log_op_t; NULL until
                                           "combined" is first used */
    pt_uint_t                 escape;   /* PT_HTTP_LOG_ESCAPE_* */
} pt_http_log_fmt_t;

/*
 * A file's buffer. Its memory is allocated by each worker (init_process),
 * so every worker fills its own.
 */
typedef struct {
    u_char                   *start;
    u_char                   *pos;
    u_char                   *last;
    size_t                    size;
    pt_msec_t                 flush;    /* 0: only when full */
    pt_event_t               *event;    /* the flush timer */
    pt_open_file_t           *file;
    time_t                    error_time;   /* of the last failed write */
} pt_http_log_buf_t;

/* One "access_log" line. */
typedef struct {
    pt_open_file_t           *file;
    pt_http_log_fmt_t        *format;
    pt_http_log_buf_t        *buffer;   /* NULL: a write per request */
    pt_http_complex_value_t  *filter;   /* if=; NULL: always */
    time_t                    error_time;
} pt_http_log_t;

typedef struct {
    pt_array_t                formats;  /* of pt_http_log_fmt_t * */
    pt_array_t                buffers;  /* of pt_http_log_buf_t * */
    pt_array_t               *default_logs;  /* shared by levels with none */
} pt_http_log_main_conf_t;

typedef struct {
    pt_array_t               *logs;     /* of pt_http_log_t; NULL: unset */
    pt_flag_t                 off;
} pt_http_log_loc_conf_t;


static pt_int_t pt_http_log_preconfiguration(pt_conf_t *cf);
static pt_int_t pt_http_log_init(pt_conf_t *cf);
static void *pt_http_log_create_main_conf(pt_conf_t *cf);
static void *pt_http_log_create_loc_conf(pt_conf_t *cf);
static char *pt_http_log_merge_loc_conf(pt_conf_t *cf, void *parent,
    void *child);
static char *pt_http_log_set_format(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_log_set_log(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static pt_int_t pt_http_log_init_process(pt_cycle_t *cycle);
static void pt_http_log_exit_process(pt_cycle_t *cycle);
static void pt_http_log_flush(pt_http_log_buf_t *buffer, pt_log_t *log);
static void pt_http_log_flush_file(pt_open_file_t *file, pt_log_t *log);
static void pt_http_log_flush_handler(pt_event_t *ev);
static pt_int_t pt_http_variable_remote_user(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);


static pt_str_t  pt_http_log_combined_name = pt_string("combined");
static pt_str_t  pt_http_log_combined = pt_string(
    "$remote_addr - $remote_user [$time_local] \"$request\" $status "
    "$body_bytes_sent \"$http_referer\" \"$http_user_agent\"");
static pt_str_t  pt_http_log_default_path = pt_string(PT_HTTP_LOG_PATH);


static pt_command_t  pt_http_log_commands[] = {

    { pt_string("log_format"),
      PT_HTTP_MAIN_CONF | PT_CONF_2MORE,
      pt_http_log_set_format,
      PT_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { pt_string("access_log"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_http_log_set_log,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_log_module_ctx = {
    pt_http_log_preconfiguration,           /* preconfiguration */
    pt_http_log_init,                       /* postconfiguration */
    pt_http_log_create_main_conf,
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    pt_http_log_create_loc_conf,
    pt_http_log_merge_loc_conf
};


pt_module_t  pt_http_log_module = {
    .ctx = &pt_http_log_module_ctx,
    .commands = pt_http_log_commands,
    .type = PT_HTTP_MODULE,
    .init_process = pt_http_log_init_process,
    .exit_process = pt_http_log_exit_process,
};


/* escaping */

/* What a byte becomes in a line: its length in the output. */
static size_t
pt_http_log_escape_len(pt_uint_t escape, u_char *src, size_t size)
{
    size_t  n;

    n = size;

    switch (escape) {

    case PT_HTTP_LOG_ESCAPE_DEFAULT:
        while (size--) {
            if (*src < 0x20 || *src >= 0x7f || *src == '"' || *src == '\\') {
                n += 3;         /* \xXX */
            }
            src++;
        }
        break;

    case PT_HTTP_LOG_ESCAPE_JSON:
        while (size--) {
            if (*src == '"' || *src == '\\' || *src == '\n' || *src == '\r'
                || *src == '\t' || *src == '\b' || *src == '\f')
            {
                n += 1;
            } else if (*src < 0x20) {
                n += 5;         /* \u00XX */
            }
            src++;
        }
        break;

    default:
        break;
    }

    return n;
}


static u_char *
pt_http_log_escape(pt_uint_t escape, u_char *dst, u_char *src, size_t size)
{
    u_char  c;

    static const u_char  hex[] = "0123456789ABCDEF";
    static const u_char  lhex[] = "0123456789abcdef";

    if (escape == PT_HTTP_LOG_ESCAPE_NONE) {
        return pt_cpymem(dst, src, size);
    }

    while (size--) {
        c = *src++;

        if (escape == PT_HTTP_LOG_ESCAPE_DEFAULT) {
            if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
                *dst++ = '\\';
                *dst++ = 'x';
                *dst++ = hex[c >> 4];
                *dst++ = hex[c & 0xf];
            } else {
                *dst++ = c;
            }

            continue;
        }

        /* JSON: bytes from 0x80 up are left as they are (UTF-8) */

        switch (c) {
        case '"':
        case '\\':
            *dst++ = '\\';
            *dst++ = c;
            break;
        case '\n':
            *dst++ = '\\';
            *dst++ = 'n';
            break;
        case '\r':
            *dst++ = '\\';
            *dst++ = 'r';
            break;
        case '\t':
            *dst++ = '\\';
            *dst++ = 't';
            break;
        case '\b':
            *dst++ = '\\';
            *dst++ = 'b';
            break;
        case '\f':
            *dst++ = '\\';
            *dst++ = 'f';
            break;
        default:
            if (c < 0x20) {
                *dst++ = '\\';
                *dst++ = 'u';
                *dst++ = '0';
                *dst++ = '0';
                *dst++ = lhex[c >> 4];
                *dst++ = lhex[c & 0xf];
            } else {
                *dst++ = c;
            }
        }
    }

    return dst;
}


/* building a line */

/*
 * Every variable of the format is evaluated once for the line: the
 * no-cacheable ones ($status, $request_time, ...) afresh, and both passes
 * below then read the same cached values, so the length is exact.
 */
static void
pt_http_log_refresh(pt_http_request_t *r, pt_http_log_fmt_t *fmt)
{
    pt_uint_t          i;
    pt_http_log_op_t  *op;

    op = fmt->ops->elts;

    for (i = 0; i < fmt->ops->nelts; i++) {
        if (op[i].index >= 0) {
            (void) pt_http_get_flushed_variable(r, op[i].index);
        }
    }
}


/* The value of a variable op, or NULL when it logs as "-" (or nothing). */
static pt_http_variable_value_t *
pt_http_log_value(pt_http_request_t *r, pt_http_log_op_t *op)
{
    pt_http_variable_value_t  *v;

    v = pt_http_get_indexed_variable(r, op->index);

    if (v == NULL || v->not_found || !v->valid || v->len == 0) {
        return NULL;
    }

    return v;
}


static size_t
pt_http_log_line_len(pt_http_request_t *r, pt_http_log_fmt_t *fmt)
{
    size_t                     len;
    pt_uint_t                  i;
    pt_http_log_op_t          *op;
    pt_http_variable_value_t  *v;

    len = 0;
    op = fmt->ops->elts;

    for (i = 0; i < fmt->ops->nelts; i++) {
        if (op[i].index < 0) {
            len += op[i].text.len;
            continue;
        }

        v = pt_http_log_value(r, &op[i]);

        if (v == NULL) {
            len += (fmt->escape == PT_HTTP_LOG_ESCAPE_JSON) ? 0 : 1;
            continue;
        }

        len += pt_http_log_escape_len(fmt->escape, v->data, v->len);
    }

    return len;
}


static u_char *
pt_http_log_line(pt_http_request_t *r, pt_http_log_fmt_t *fmt, u_char *p)
{
    pt_uint_t                  i;
    pt_http_log_op_t          *op;
    pt_http_variable_value_t  *v;

    op = fmt->ops->elts;

    for (i = 0; i < fmt->ops->nelts; i++) {
        if (op[i].index < 0) {
            p = pt_cpymem(p, op[i].text.data, op[i].text.len);
            continue;
        }

        v = pt_http_log_value(r, &op[i]);

        if (v == NULL) {
            if (fmt->escape != PT_HTTP_LOG_ESCAPE_JSON) {
                *p++ = '-';
            }
            continue;
        }

        p = pt_http_log_escape(fmt->escape, p, v->data, v->len);
    }

    return p;
}


/* writing */

/*
 * Writes len bytes to the file. A failure is logged at most once a second
 * per log (error_time), so a full disk does not flood the error log.
 */
static void
pt_http_log_write(pt_open_file_t *file, u_char *buf, size_t len,
    time_t *error_time, pt_log_t *log)
{
    ssize_t   n;
    pt_err_t  err;
    time_t    now;

    n = pt_write_fd(file->fd, buf, len);

    if (n == (ssize_t) len) {
        return;
    }

    err = errno;
    now = pt_time();

    if (now == *error_time) {
        return;
    }

    *error_time = now;

    pt_log_error(PT_LOG_CRIT, log, err, "write() to \"%.*s\" failed",
                 PT_STR_ARG(file->name));
}


static pt_int_t
pt_http_log_handler(pt_http_request_t *r)
{
    size_t                   len;
    u_char                  *line, *p;
    pt_str_t                 val;
    pt_uint_t                i;
    pt_http_log_t           *log;
    pt_http_log_buf_t       *b;
    pt_http_log_loc_conf_t  *lcf;

    lcf = pt_http_get_module_loc_conf(r, pt_http_log_module);

    if (lcf->off || lcf->logs == NULL) {
        return PT_OK;
    }

    log = lcf->logs->elts;

    for (i = 0; i < lcf->logs->nelts; i++) {

        if (log[i].filter) {
            if (pt_http_complex_value(r, log[i].filter, &val) != PT_OK) {
                continue;
            }

            if (val.len == 0 || (val.len == 1 && val.data[0] == '0')) {
                continue;
            }
        }

        pt_http_log_refresh(r, log[i].format);

        len = pt_http_log_line_len(r, log[i].format) + 1;   /* "\n" */

        b = log[i].buffer;

        if (b && b->start) {
            if (len > (size_t) (b->last - b->pos)) {
                pt_http_log_flush(b, r->connection->log);
            }

            if (len <= (size_t) (b->last - b->pos)) {
                if (b->pos == b->start && b->event) {
                    pt_event_add_timer(b->event, b->flush);
                }

                p = pt_http_log_line(r, log[i].format, b->pos);
                *p++ = '\n';

                pt_assert((size_t) (p - b->pos) == len);

                b->pos = p;
                continue;
            }

            /* a line longer than the buffer goes out by itself */
        }

        line = pt_pnalloc(r->pool, len);
        if (line == NULL) {
            continue;
        }

        p = pt_http_log_line(r, log[i].format, line);
        *p++ = '\n';

        pt_assert((size_t) (p - line) == len);

        pt_http_log_write(log[i].file, line, len, &log[i].error_time,
                          r->connection->log);
    }

    return PT_OK;
}


static void
pt_http_log_flush(pt_http_log_buf_t *buffer, pt_log_t *log)
{
    size_t  len;

    if (buffer->event && buffer->event->timer_set) {
        pt_event_del_timer(buffer->event);
    }

    if (buffer->start == NULL) {
        return;
    }

    len = buffer->pos - buffer->start;

    if (len == 0) {
        return;
    }

    pt_http_log_write(buffer->file, buffer->start, len, &buffer->error_time,
                      log);

    buffer->pos = buffer->start;
}


/* The open file's hook: called before USR1 reopens the file. */
static void
pt_http_log_flush_file(pt_open_file_t *file, pt_log_t *log)
{
    pt_http_log_flush(file->data, log);
}


static void
pt_http_log_flush_handler(pt_event_t *ev)
{
    pt_http_log_flush(ev->data, ev->log);
}


/* per worker */

static pt_int_t
pt_http_log_init_process(pt_cycle_t *cycle)
{
    pt_uint_t                 i;
    pt_http_log_buf_t       **buffers;
    pt_http_log_main_conf_t  *lmcf;

    lmcf = pt_http_cycle_get_module_main_conf(cycle, pt_http_log_module);

    if (lmcf == NULL) {
        return PT_OK;
    }

    buffers = lmcf->buffers.elts;

    for (i = 0; i < lmcf->buffers.nelts; i++) {
        buffers[i]->start = pt_pnalloc(cycle->pool, buffers[i]->size);
        if (buffers[i]->start == NULL) {
            return PT_ERROR;
        }

        buffers[i]->pos = buffers[i]->start;
        buffers[i]->last = buffers[i]->start + buffers[i]->size;
    }

    return PT_OK;
}


static void
pt_http_log_exit_process(pt_cycle_t *cycle)
{
    pt_uint_t                 i;
    pt_http_log_buf_t       **buffers;
    pt_http_log_main_conf_t  *lmcf;

    lmcf = pt_http_cycle_get_module_main_conf(cycle, pt_http_log_module);

    if (lmcf == NULL) {
        return;
    }

    buffers = lmcf->buffers.elts;

    for (i = 0; i < lmcf->buffers.nelts; i++) {
        pt_http_log_flush(buffers[i], cycle->log);
    }
}


/* $remote_user: the user name of Basic credentials, checked or not */

static pt_int_t
pt_http_log_decode_base64(u_char *dst, size_t *dlen, u_char *src, size_t len)
{
    u_char     *d;
    uint32_t    acc;
    pt_uint_t   bits, c;

    while (len && src[len - 1] == '=') {
        len--;
    }

    d = dst;
    acc = 0;
    bits = 0;

    while (len--) {
        c = *src++;

        if (c >= 'A' && c <= 'Z') {
            c -= 'A';
        } else if (c >= 'a' && c <= 'z') {
            c = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            c = c - '0' + 52;
        } else if (c == '+') {
            c = 62;
        } else if (c == '/') {
            c = 63;
        } else {
            return PT_ERROR;
        }

        acc = (acc << 6) | c;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *d++ = (u_char) (acc >> bits);
        }
    }

    if (bits >= 6) {
        return PT_ERROR;        /* a lone trailing character */
    }

    *dlen = d - dst;

    return PT_OK;
}


static pt_int_t
pt_http_variable_remote_user(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    size_t     n;
    u_char    *p, *last, *user;
    pt_str_t  *auth;

    v->not_found = 1;

    if (r->headers_in.authorization == NULL) {
        return PT_OK;
    }

    auth = &r->headers_in.authorization->value;

    if (auth->len < sizeof("Basic ") - 1
        || pt_strncasecmp(auth->data, (u_char *) "Basic ",
                          sizeof("Basic ") - 1) != 0)
    {
        return PT_OK;
    }

    p = auth->data + sizeof("Basic ") - 1;
    last = auth->data + auth->len;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if (p == last) {
        return PT_OK;
    }

    user = pt_pnalloc(r->pool, (last - p) / 4 * 3 + 3);
    if (user == NULL) {
        return PT_ERROR;
    }

    if (pt_http_log_decode_base64(user, &n, p, last - p) != PT_OK) {
        return PT_OK;
    }

    p = pt_strlchr(user, user + n, ':');

    if (p == NULL || p == user) {
        return PT_OK;
    }

    v->len = p - user;
    v->data = user;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


/* configuration */

static pt_int_t
pt_http_log_preconfiguration(pt_conf_t *cf)
{
    pt_str_t             name = pt_string("remote_user");
    pt_http_variable_t  *v;

    /* a module that checks credentials may have declared it already */

    if (pt_http_variable_declared(cf, &name)) {
        return PT_OK;
    }

    v = pt_http_add_variable(cf, &name, 0);
    if (v == NULL) {
        return PT_ERROR;
    }

    v->get_handler = pt_http_variable_remote_user;

    return PT_OK;
}


static pt_int_t
pt_http_log_init(pt_conf_t *cf)
{
    pt_http_handler_pt        *h;
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    h = pt_array_push(&cmcf->phases[PT_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return PT_ERROR;
    }

    *h = pt_http_log_handler;

    return PT_OK;
}


static void *
pt_http_log_create_main_conf(pt_conf_t *cf)
{
    pt_http_log_fmt_t        **fmt;
    pt_http_log_main_conf_t   *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_log_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    if (pt_array_init(&conf->formats, cf->pool, 4,
                      sizeof(pt_http_log_fmt_t *)) != PT_OK
        || pt_array_init(&conf->buffers, cf->pool, 4,
                         sizeof(pt_http_log_buf_t *)) != PT_OK)
    {
        return NULL;
    }

    /* "combined" is compiled when something uses it */

    fmt = pt_array_push(&conf->formats);
    if (fmt == NULL) {
        return NULL;
    }

    *fmt = pt_pcalloc(cf->pool, sizeof(pt_http_log_fmt_t));
    if (*fmt == NULL) {
        return NULL;
    }

    (*fmt)->name = pt_http_log_combined_name;
    (*fmt)->escape = PT_HTTP_LOG_ESCAPE_DEFAULT;

    return conf;
}


static void *
pt_http_log_create_loc_conf(pt_conf_t *cf)
{
    pt_http_log_loc_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_log_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /* conf->logs = NULL, conf->off = 0: nothing said at this level */

    return conf;
}


/* Compiles one string of a format into ops: literal text and variables. */
static pt_int_t
pt_http_log_compile(pt_conf_t *cf, pt_array_t *ops, pt_str_t *value)
{
    u_char            *p, *last, *start;
    pt_int_t           index;
    pt_str_t           name;
    pt_uint_t          bracket;
    pt_http_log_op_t  *op;

    p = value->data;
    last = p + value->len;

    while (p < last) {
        start = p;

        while (p < last && *p != '$') {
            p++;
        }

        if (p > start) {
            op = pt_array_push(ops);
            if (op == NULL) {
                return PT_ERROR;
            }

            op->text.data = start;
            op->text.len = p - start;
            op->index = -1;
        }

        if (p == last) {
            break;
        }

        p++;    /* "$" */

        bracket = 0;

        if (p < last && *p == '{') {
            bracket = 1;
            p++;
        }

        name.data = p;

        while (p < last
               && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                   || (*p >= '0' && *p <= '9') || *p == '_'))
        {
            p++;
        }

        name.len = p - name.data;

        if (bracket) {
            if (p == last || *p != '}') {
                pt_conf_error(cf, "the closing bracket in \"%.*s\" "
                              "variable is missing", PT_STR_ARG(name));
                return PT_ERROR;
            }

            p++;
        }

        if (name.len == 0) {
            pt_conf_error(cf, "invalid variable name in \"%.*s\"",
                          PT_STR_ARG(*value));
            return PT_ERROR;
        }

        index = pt_http_get_variable_index(cf, &name);
        if (index == PT_ERROR) {
            return PT_ERROR;
        }

        op = pt_array_push(ops);
        if (op == NULL) {
            return PT_ERROR;
        }

        op->text.len = 0;
        op->text.data = NULL;
        op->index = index;
    }

    return PT_OK;
}


static char *
pt_http_log_set_format(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_log_main_conf_t  *lmcf = conf;

    pt_str_t            *value;
    pt_uint_t            i, s;
    pt_http_log_fmt_t  **fmt, *f;

    value = cf->args->elts;

    fmt = lmcf->formats.elts;

    for (i = 0; i < lmcf->formats.nelts; i++) {
        if (pt_str_eq(&fmt[i]->name, &value[1])) {
            pt_conf_error(cf, "duplicate \"log_format\" name \"%.*s\"",
                          PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }
    }

    f = pt_pcalloc(cf->pool, sizeof(pt_http_log_fmt_t));
    if (f == NULL) {
        return PT_CONF_ERROR;
    }

    f->name = value[1];
    f->escape = PT_HTTP_LOG_ESCAPE_DEFAULT;

    s = 2;

    if (value[2].len >= sizeof("escape=") - 1
        && pt_strncmp(value[2].data, "escape=", sizeof("escape=") - 1) == 0)
    {
        value[2].data += sizeof("escape=") - 1;
        value[2].len -= sizeof("escape=") - 1;

        if (pt_str_eq_lit(&value[2], "default")) {
            f->escape = PT_HTTP_LOG_ESCAPE_DEFAULT;
        } else if (pt_str_eq_lit(&value[2], "json")) {
            f->escape = PT_HTTP_LOG_ESCAPE_JSON;
        } else if (pt_str_eq_lit(&value[2], "none")) {
            f->escape = PT_HTTP_LOG_ESCAPE_NONE;
        } else {
            pt_conf_error(cf, "unknown log format escaping \"%.*s\"",
                          PT_STR_ARG(value[2]));
            return PT_CONF_ERROR;
        }

        s = 3;

        if (cf->args->nelts == 3) {
            return "has no format string";
        }
    }

    f->ops = pt_array_create(cf->pool, 8, sizeof(pt_http_log_op_t));
    if (f->ops == NULL) {
        return PT_CONF_ERROR;
    }

    for (i = s; i < cf->args->nelts; i++) {
        if (pt_http_log_compile(cf, f->ops, &value[i]) != PT_OK) {
            return PT_CONF_ERROR;
        }
    }

    fmt = pt_array_push(&lmcf->formats);
    if (fmt == NULL) {
        return PT_CONF_ERROR;
    }

    *fmt = f;

    return PT_CONF_OK;
}


/* The format called name, compiled; NULL when there is none. */
static pt_http_log_fmt_t *
pt_http_log_find_format(pt_conf_t *cf, pt_http_log_main_conf_t *lmcf,
    pt_str_t *name)
{
    pt_uint_t            i;
    pt_http_log_fmt_t  **fmt;

    fmt = lmcf->formats.elts;

    for (i = 0; i < lmcf->formats.nelts; i++) {
        if (!pt_str_eq(&fmt[i]->name, name)) {
            continue;
        }

        if (fmt[i]->ops == NULL) {
            fmt[i]->ops = pt_array_create(cf->pool, 16,
                                          sizeof(pt_http_log_op_t));
            if (fmt[i]->ops == NULL
                || pt_http_log_compile(cf, fmt[i]->ops,
                                       &pt_http_log_combined) != PT_OK)
            {
                return NULL;
            }
        }

        return fmt[i];
    }

    return NULL;
}


/* The buffer of file, shared by every access_log line that writes it. */
static char *
pt_http_log_set_buffer(pt_conf_t *cf, pt_http_log_t *log, size_t size,
    pt_msec_t flush, pt_str_t *path)
{
    pt_uint_t                 i;
    pt_http_log_buf_t       **buffers, *b;
    pt_http_log_main_conf_t  *lmcf;

    lmcf = pt_http_conf_get_module_main_conf(cf, pt_http_log_module);

    buffers = lmcf->buffers.elts;

    for (i = 0; i < lmcf->buffers.nelts; i++) {
        if (buffers[i]->file != log->file) {
            continue;
        }

        if (buffers[i]->size != size || buffers[i]->flush != flush) {
            pt_conf_error(cf, "access_log \"%.*s\" already defined with "
                          "conflicting parameters", PT_STR_ARG(*path));
            return PT_CONF_ERROR;
        }

        log->buffer = buffers[i];

        return PT_CONF_OK;
    }

    b = pt_pcalloc(cf->pool, sizeof(pt_http_log_buf_t));
    if (b == NULL) {
        return PT_CONF_ERROR;
    }

    b->size = size;
    b->flush = flush;
    b->file = log->file;

    if (flush) {
        b->event = pt_pcalloc(cf->pool, sizeof(pt_event_t));
        if (b->event == NULL) {
            return PT_CONF_ERROR;
        }

        b->event->handler = pt_http_log_flush_handler;
        b->event->data = b;
        b->event->log = &cf->cycle->new_log;
        /* a pending flush must not keep a quitting worker alive */
        b->event->cancelable = 1;
    }

    log->file->flush = pt_http_log_flush_file;
    log->file->data = b;

    buffers = pt_array_push(&lmcf->buffers);
    if (buffers == NULL) {
        return PT_CONF_ERROR;
    }

    *buffers = b;
    log->buffer = b;

    return PT_CONF_OK;
}


static char *
pt_http_log_set_log(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_log_loc_conf_t  *llcf = conf;

    char                             *rv;
    u_char                           *p;
    ssize_t                           size;
    pt_int_t                          flush;
    pt_str_t                         *value, name, s;
    pt_uint_t                         i;
    pt_http_log_t                    *log;
    pt_http_log_main_conf_t          *lmcf;
    pt_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (pt_str_eq_lit(&value[1], "off")) {
        if (cf->args->nelts != 2) {
            pt_conf_error(cf, "invalid parameter \"%.*s\"",
                          PT_STR_ARG(value[2]));
            return PT_CONF_ERROR;
        }

        llcf->off = 1;

        return PT_CONF_OK;
    }

    if (value[1].len == 0) {
        return "has an empty file name";
    }

    for (p = value[1].data; p < value[1].data + value[1].len - 1; p++) {
        if (p[0] == '$'
            && ((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z')
                || (p[1] >= '0' && p[1] <= '9') || p[1] == '_'
                || p[1] == '{'))
        {
            pt_conf_error(cf, "variables in access_log path are not "
                          "supported: \"%.*s\"", PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }
    }

    if (llcf->logs == NULL) {
        llcf->logs = pt_array_create(cf->pool, 2, sizeof(pt_http_log_t));
        if (llcf->logs == NULL) {
            return PT_CONF_ERROR;
        }
    }

    log = pt_array_push(llcf->logs);
    if (log == NULL) {
        return PT_CONF_ERROR;
    }

    pt_memzero(log, sizeof(pt_http_log_t));

    log->file = pt_conf_open_file(cf->cycle, &value[1]);
    if (log->file == NULL) {
        return PT_CONF_ERROR;
    }

    lmcf = pt_http_conf_get_module_main_conf(cf, pt_http_log_module);

    if (cf->args->nelts >= 3) {
        name = value[2];
    } else {
        name = pt_http_log_combined_name;
    }

    log->format = pt_http_log_find_format(cf, lmcf, &name);

    if (log->format == NULL) {
        pt_conf_error(cf, "unknown log format \"%.*s\"", PT_STR_ARG(name));
        return PT_CONF_ERROR;
    }

    size = 0;
    flush = 0;

    for (i = 3; i < cf->args->nelts; i++) {

        if (value[i].len > sizeof("buffer=") - 1
            && pt_strncmp(value[i].data, "buffer=", sizeof("buffer=") - 1)
               == 0)
        {
            s.data = value[i].data + sizeof("buffer=") - 1;
            s.len = value[i].len - (sizeof("buffer=") - 1);

            size = pt_parse_size(&s);

            if (size == PT_ERROR || size == 0) {
                pt_conf_error(cf, "invalid buffer size \"%.*s\"",
                              PT_STR_ARG(s));
                return PT_CONF_ERROR;
            }

            continue;
        }

        if (value[i].len > sizeof("flush=") - 1
            && pt_strncmp(value[i].data, "flush=", sizeof("flush=") - 1)
               == 0)
        {
            s.data = value[i].data + sizeof("flush=") - 1;
            s.len = value[i].len - (sizeof("flush=") - 1);

            flush = pt_parse_time(&s, 0);

            if (flush == PT_ERROR || flush == 0) {
                pt_conf_error(cf, "invalid flush time \"%.*s\"",
                              PT_STR_ARG(s));
                return PT_CONF_ERROR;
            }

            continue;
        }

        if (value[i].len > sizeof("if=") - 1
            && pt_strncmp(value[i].data, "if=", sizeof("if=") - 1) == 0)
        {
            if (log->filter) {
                pt_conf_error(cf, "duplicate parameter \"%.*s\"",
                              PT_STR_ARG(value[i]));
                return PT_CONF_ERROR;
            }

            s.data = value[i].data + sizeof("if=") - 1;
            s.len = value[i].len - (sizeof("if=") - 1);

            log->filter = pt_palloc(cf->pool,
                                    sizeof(pt_http_complex_value_t));
            if (log->filter == NULL) {
                return PT_CONF_ERROR;
            }

            pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = log->filter;

            if (pt_http_compile_complex_value(&ccv) != PT_OK) {
                return PT_CONF_ERROR;
            }

            continue;
        }

        pt_conf_error(cf, "invalid parameter \"%.*s\"",
                      PT_STR_ARG(value[i]));
        return PT_CONF_ERROR;
    }

    if (flush && size == 0) {
        pt_conf_error(cf, "no buffer is defined for access_log \"%.*s\"",
                      PT_STR_ARG(value[1]));
        return PT_CONF_ERROR;
    }

    if (size) {
        rv = pt_http_log_set_buffer(cf, log, (size_t) size,
                                    (pt_msec_t) flush, &value[1]);
        if (rv != PT_CONF_OK) {
            return rv;
        }
    }

    return PT_CONF_OK;
}


static char *
pt_http_log_merge_loc_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_log_loc_conf_t *prev = parent;
    pt_http_log_loc_conf_t *conf = child;

    pt_http_log_t            *log;
    pt_http_log_main_conf_t  *lmcf;

    /* a level with access_log lines of its own (or "off") keeps them */

    if (conf->logs || conf->off) {
        return PT_CONF_OK;
    }

    conf->logs = prev->logs;
    conf->off = prev->off;

    if (conf->logs || conf->off) {
        return PT_CONF_OK;
    }

    /* nothing anywhere above: "logs/access.log combined", made once */

    lmcf = pt_http_conf_get_module_main_conf(cf, pt_http_log_module);

    if (lmcf->default_logs == NULL) {
        lmcf->default_logs = pt_array_create(cf->pool, 1,
                                             sizeof(pt_http_log_t));
        if (lmcf->default_logs == NULL) {
            return PT_CONF_ERROR;
        }

        log = pt_array_push(lmcf->default_logs);
        if (log == NULL) {
            return PT_CONF_ERROR;
        }

        pt_memzero(log, sizeof(pt_http_log_t));

        log->file = pt_conf_open_file(cf->cycle, &pt_http_log_default_path);
        if (log->file == NULL) {
            return PT_CONF_ERROR;
        }

        log->format = pt_http_log_find_format(cf, lmcf,
                                              &pt_http_log_combined_name);
        if (log->format == NULL) {
            return PT_CONF_ERROR;
        }
    }

    conf->logs = lmcf->default_logs;

    return PT_CONF_OK;
}
