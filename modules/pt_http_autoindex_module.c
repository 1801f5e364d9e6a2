/*
 * The autoindex module: "autoindex on" lists a directory (a URI ending in
 * "/") that has no index file, as HTML like nginx's or as JSON. Entries
 * whose name starts with "." are left out; directories come first, then
 * files, each group sorted by name. The directory comes from
 * $request_filename, as for the index module.
 *
 * The listing is built in memory: its size follows the directory's, not
 * the size of the files in it.
 */
#include "pt_http.h"
#include <dirent.h>


#define PT_HTTP_AUTOINDEX_HTML  0
#define PT_HTTP_AUTOINDEX_JSON  1

#define PT_HTTP_AUTOINDEX_NAME_LEN  50


typedef struct {
    pt_int_t     filename;          /* $request_filename; PT_ERROR */
} pt_http_autoindex_main_conf_t;

typedef struct {
    pt_flag_t    enable;
    pt_flag_t    exact_size;
    pt_flag_t    localtime;
    pt_uint_t    format;            /* PT_HTTP_AUTOINDEX_* */
} pt_http_autoindex_loc_conf_t;

typedef struct {
    pt_str_t     name;
    time_t       mtime;
    off_t        size;
    unsigned     dir:1;
    unsigned     file:1;            /* a regular file */
} pt_http_autoindex_entry_t;


static pt_int_t pt_http_autoindex_handler(pt_http_request_t *r);
static pt_int_t pt_http_autoindex_read(pt_http_request_t *r,
    const char *path, pt_array_t *entries);
static int pt_http_autoindex_cmp(const void *one, const void *two);
static pt_buf_t *pt_http_autoindex_html(pt_http_request_t *r,
    pt_http_autoindex_loc_conf_t *alcf, pt_array_t *entries);
static pt_buf_t *pt_http_autoindex_json(pt_http_request_t *r,
    pt_array_t *entries);
static void *pt_http_autoindex_create_main_conf(pt_conf_t *cf);
static void *pt_http_autoindex_create_loc_conf(pt_conf_t *cf);
static char *pt_http_autoindex_merge_loc_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_autoindex_init(pt_conf_t *cf);


static pt_conf_enum_t  pt_http_autoindex_formats[] = {
    { pt_string("html"), PT_HTTP_AUTOINDEX_HTML },
    { pt_string("json"), PT_HTTP_AUTOINDEX_JSON },
    { pt_null_string, 0 }
};


static pt_command_t  pt_http_autoindex_commands[] = {

    { pt_string("autoindex"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_autoindex_loc_conf_t, enable),
      NULL },

    { pt_string("autoindex_exact_size"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_autoindex_loc_conf_t, exact_size),
      NULL },

    { pt_string("autoindex_localtime"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_autoindex_loc_conf_t, localtime),
      NULL },

    { pt_string("autoindex_format"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_enum_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_autoindex_loc_conf_t, format),
      &pt_http_autoindex_formats },

    pt_null_command
};


static pt_http_module_t  pt_http_autoindex_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_autoindex_init,                 /* postconfiguration */
    pt_http_autoindex_create_main_conf,
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    pt_http_autoindex_create_loc_conf,
    pt_http_autoindex_merge_loc_conf
};


pt_module_t  pt_http_autoindex_module = {
    .ctx = &pt_http_autoindex_module_ctx,
    .commands = pt_http_autoindex_commands,
    .type = PT_HTTP_MODULE,
};


static pt_int_t
pt_http_autoindex_handler(pt_http_request_t *r)
{
    char                           *path;
    pt_int_t                        rc;
    pt_buf_t                       *b;
    pt_array_t                      entries;
    pt_chain_t                      out;
    pt_http_variable_value_t       *v;
    pt_http_autoindex_loc_conf_t   *alcf;
    pt_http_autoindex_main_conf_t  *amcf;

    if (r->uri.len == 0 || r->uri.data[r->uri.len - 1] != '/') {
        return PT_DECLINED;
    }

    if (!(r->method & (PT_HTTP_GET | PT_HTTP_HEAD))) {
        return PT_DECLINED;
    }

    alcf = pt_http_get_module_loc_conf(r, pt_http_autoindex_module);
    amcf = pt_http_get_module_main_conf(r, pt_http_autoindex_module);

    if (!alcf->enable || amcf->filename == PT_ERROR) {
        return PT_DECLINED;
    }

    v = pt_http_get_flushed_variable(r, amcf->filename);

    if (v == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (v->not_found) {
        return PT_DECLINED;
    }

    path = pt_pnalloc(r->pool, v->len + 1);
    if (path == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    pt_memcpy(path, v->data, v->len);
    path[v->len] = '\0';

    if (pt_array_init(&entries, r->pool, 32,
                      sizeof(pt_http_autoindex_entry_t)) != PT_OK)
    {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pt_http_autoindex_read(r, path, &entries);
    if (rc != PT_OK) {
        return rc;
    }

    if (entries.nelts > 1) {
        qsort(entries.elts, entries.nelts, sizeof(pt_http_autoindex_entry_t),
              pt_http_autoindex_cmp);
    }

    if (alcf->format == PT_HTTP_AUTOINDEX_JSON) {
        b = pt_http_autoindex_json(r, &entries);
        pt_str_set(&r->headers_out.content_type, "application/json");

    } else {
        b = pt_http_autoindex_html(r, alcf, &entries);
        pt_str_set(&r->headers_out.content_type, "text/html");
    }

    if (b == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = PT_HTTP_OK;
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = pt_http_send_header(r);

    if (rc == PT_ERROR || rc > PT_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return pt_http_output_filter(r, &out);
}


/* Collects the directory's visible entries. Returns PT_OK or a status. */
static pt_int_t
pt_http_autoindex_read(pt_http_request_t *r, const char *path,
    pt_array_t *entries)
{
    DIR                         *dir;
    pt_err_t                     err;
    pt_int_t                     rc;
    struct stat                  st;
    struct dirent               *de;
    pt_http_autoindex_entry_t   *e;

    dir = opendir(path);

    if (dir == NULL) {
        err = errno;

        switch (err) {
        case ENOENT:
        case ENOTDIR:
        case ENAMETOOLONG:
            rc = PT_HTTP_NOT_FOUND;
            break;
        case EACCES:
        case EPERM:
        case ELOOP:
            rc = PT_HTTP_FORBIDDEN;
            break;
        default:
            rc = PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        pt_log_error(rc == PT_HTTP_INTERNAL_SERVER_ERROR ? PT_LOG_CRIT
                                                        : PT_LOG_ERR,
                     r->connection->log, err, "opendir() \"%s\" failed",
                     path);
        return rc;
    }

    rc = PT_OK;

    for ( ;; ) {
        errno = 0;
        de = readdir(dir);

        if (de == NULL) {
            if (errno) {
                pt_log_error(PT_LOG_CRIT, r->connection->log, errno,
                             "readdir() \"%s\" failed", path);
                rc = PT_HTTP_INTERNAL_SERVER_ERROR;
            }

            break;
        }

        if (de->d_name[0] == '.') {
            continue;
        }

        if (fstatat(dirfd(dir), de->d_name, &st, 0) == -1) {
            err = errno;

            /* a dangling link is listed as the link itself */
            if ((err != ENOENT && err != ELOOP)
                || fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW)
                   == -1)
            {
                if (err == EACCES) {
                    continue;
                }

                pt_log_error(PT_LOG_CRIT, r->connection->log, err,
                             "stat() \"%s%s\" failed", path, de->d_name);
                rc = PT_HTTP_INTERNAL_SERVER_ERROR;
                break;
            }
        }

        e = pt_array_push(entries);
        if (e == NULL) {
            rc = PT_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }

        e->name.len = strlen(de->d_name);
        e->name.data = pt_pnalloc(r->pool, e->name.len);
        if (e->name.data == NULL) {
            rc = PT_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }

        pt_memcpy(e->name.data, de->d_name, e->name.len);

        e->dir = S_ISDIR(st.st_mode) ? 1 : 0;
        e->file = S_ISREG(st.st_mode) ? 1 : 0;
        e->mtime = st.st_mtime;
        e->size = st.st_size;
    }

    if (closedir(dir) == -1) {
        pt_log_error(PT_LOG_ALERT, r->connection->log, errno,
                     "closedir() \"%s\" failed", path);
    }

    return rc;
}


static int
pt_http_autoindex_cmp(const void *one, const void *two)
{
    size_t                             n;
    int                                rc;
    const pt_http_autoindex_entry_t   *a = one;
    const pt_http_autoindex_entry_t   *b = two;

    if (a->dir != b->dir) {
        return a->dir ? -1 : 1;
    }

    n = pt_min(a->name.len, b->name.len);
    rc = memcmp(a->name.data, b->name.data, n);

    if (rc) {
        return rc;
    }

    return (a->name.len > b->name.len) - (a->name.len < b->name.len);
}


/* Bytes that an href must escape: controls, space, and URI delimiters. */
static pt_uint_t
pt_http_autoindex_uri_unsafe(u_char ch)
{
    return ch <= 0x20 || ch >= 0x7f || pt_strchr("\"#%&'<>?\\^`{|}", ch);
}


static u_char *
pt_http_autoindex_escape_uri(u_char *p, pt_str_t *s)
{
    pt_uint_t  i;

    static const u_char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < s->len; i++) {
        if (pt_http_autoindex_uri_unsafe(s->data[i])) {
            *p++ = '%';
            *p++ = hex[s->data[i] >> 4];
            *p++ = hex[s->data[i] & 0xf];
        } else {
            *p++ = s->data[i];
        }
    }

    return p;
}


/* HTML-escapes s; with dst NULL, returns the length that needs. */
static size_t
pt_http_autoindex_escape_html(u_char *dst, const u_char *s, size_t len)
{
    size_t       n;
    const char  *rep;

    n = 0;

    while (len--) {
        switch (*s) {
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '&': rep = "&amp;"; break;
        case '"': rep = "&quot;"; break;
        default: rep = NULL;
        }

        if (rep) {
            if (dst) {
                dst = pt_cpymem(dst, rep, strlen(rep));
            }

            n += strlen(rep);

        } else {
            if (dst) {
                *dst++ = *s;
            }

            n++;
        }

        s++;
    }

    return n;
}


static pt_buf_t *
pt_http_autoindex_html(pt_http_request_t *r,
    pt_http_autoindex_loc_conf_t *alcf, pt_array_t *entries)
{
    int                          n;
    u_char                      *p;
    size_t                       len, shown, pad, uri_html;
    off_t                        size;
    pt_buf_t                    *b;
    pt_uint_t                    i;
    struct tm                    tm;
    char                         scale;
    pt_http_autoindex_entry_t   *e;

    static const char  *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
        "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

    static const char  title[] = "<html>" PT_CRLF "<head><title>Index of ";
    static const char  header[] = "</title></head>" PT_CRLF "<body>" PT_CRLF
                                  "<h1>Index of ";
    static const char  tail[] = "</pre><hr></body>" PT_CRLF "</html>" PT_CRLF;

    uri_html = pt_http_autoindex_escape_html(NULL, r->uri.data, r->uri.len);

    len = sizeof(title) - 1 + uri_html + sizeof(header) - 1 + uri_html
          + sizeof("</h1><hr><pre><a href=\"../\">../</a>" PT_CRLF) - 1
          + sizeof(tail) - 1;

    e = entries->elts;

    for (i = 0; i < entries->nelts; i++) {
        len += sizeof("<a href=\"./\"></a>" PT_CRLF) - 1
               + 3 * e[i].name.len + 1          /* the href, and "/" */
               + 6 * PT_HTTP_AUTOINDEX_NAME_LEN + 2   /* the text */
               + PT_HTTP_AUTOINDEX_NAME_LEN + 1     /* padding */
               + sizeof(" dd-Mon-yyyy hh:mm ") - 1
               + 20;
    }

    b = pt_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    p = pt_cpymem(p, title, sizeof(title) - 1);
    p += pt_http_autoindex_escape_html(p, r->uri.data, r->uri.len);
    p = pt_cpymem(p, header, sizeof(header) - 1);
    p += pt_http_autoindex_escape_html(p, r->uri.data, r->uri.len);
    p = pt_cpymem(p, "</h1><hr><pre><a href=\"../\">../</a>" PT_CRLF,
                  sizeof("</h1><hr><pre><a href=\"../\">../</a>" PT_CRLF) - 1);

    for (i = 0; i < entries->nelts; i++) {
        p = pt_cpymem(p, "<a href=\"", sizeof("<a href=\"") - 1);

        if (memchr(e[i].name.data, ':', e[i].name.len)) {
            /* "a:b" would read as a scheme */
            *p++ = '.';
            *p++ = '/';
        }

        p = pt_http_autoindex_escape_uri(p, &e[i].name);

        if (e[i].dir) {
            *p++ = '/';
        }

        *p++ = '"';
        *p++ = '>';

        /* the name, cut to fit its column */
        shown = e[i].name.len + e[i].dir;

        if (shown > PT_HTTP_AUTOINDEX_NAME_LEN) {
            p += pt_http_autoindex_escape_html(p, e[i].name.data,
                                               PT_HTTP_AUTOINDEX_NAME_LEN - 3);
            p = pt_cpymem(p, "..&gt;", sizeof("..&gt;") - 1);
            shown = PT_HTTP_AUTOINDEX_NAME_LEN;

        } else {
            p += pt_http_autoindex_escape_html(p, e[i].name.data,
                                               e[i].name.len);
            if (e[i].dir) {
                *p++ = '/';
            }
        }

        p = pt_cpymem(p, "</a>", sizeof("</a>") - 1);

        for (pad = shown; pad <= PT_HTTP_AUTOINDEX_NAME_LEN; pad++) {
            *p++ = ' ';
        }

        if (alcf->localtime) {
            localtime_r(&e[i].mtime, &tm);
        } else {
            pt_gmtime(e[i].mtime, &tm);
        }

        n = snprintf((char *) p, sizeof("dd-Mon-yyyy hh:mm "),
                     "%02d-%s-%04d %02d:%02d ", tm.tm_mday,
                     months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                     tm.tm_min);
        p += pt_min(n, (int) sizeof("dd-Mon-yyyy hh:mm ") - 1);

        if (alcf->exact_size) {
            if (e[i].dir) {
                p = pt_cpymem(p, "                  -", 19);
            } else {
                n = snprintf((char *) p, 21, "%19lld", (long long) e[i].size);
                p += pt_min(n, 20);
            }

        } else if (e[i].dir) {
            p = pt_cpymem(p, "      -", 7);

        } else {
            size = e[i].size;
            scale = '\0';

            if (size >= 1024 * 1024 * 1024) {
                size = (size + 512 * 1024 * 1024) / (1024 * 1024 * 1024);
                scale = 'G';
            } else if (size >= 1024 * 1024) {
                size = (size + 512 * 1024) / (1024 * 1024);
                scale = 'M';
            } else if (size > 9999) {
                size = (size + 512) / 1024;
                scale = 'K';
            }

            if (scale) {
                n = snprintf((char *) p, 21, "%6lld%c", (long long) size,
                             scale);
            } else {
                n = snprintf((char *) p, 21, " %6lld", (long long) size);
            }

            p += pt_min(n, 20);
        }

        *p++ = PT_CR;
        *p++ = PT_LF;
    }

    p = pt_cpymem(p, tail, sizeof(tail) - 1);

    pt_assert(p <= b->end);

    b->last = p;

    return b;
}


/* JSON-escapes s into dst; with dst NULL, returns the length that needs. */
static size_t
pt_http_autoindex_escape_json(u_char *dst, const u_char *s, size_t len)
{
    size_t  n;

    static const u_char  hex[] = "0123456789abcdef";

    n = 0;

    for ( /* void */ ; len--; s++) {
        if (*s == '"' || *s == '\\') {
            if (dst) {
                *dst++ = '\\';
                *dst++ = *s;
            }

            n += 2;

        } else if (*s < 0x20) {
            if (dst) {
                dst = pt_cpymem(dst, "\\u00", 4);
                *dst++ = hex[*s >> 4];
                *dst++ = hex[*s & 0xf];
            }

            n += 6;

        } else {
            if (dst) {
                *dst++ = *s;
            }

            n++;
        }
    }

    return n;
}


static pt_buf_t *
pt_http_autoindex_json(pt_http_request_t *r, pt_array_t *entries)
{
    int                          n;
    u_char                      *p;
    size_t                       len;
    pt_buf_t                    *b;
    pt_uint_t                    i;
    pt_http_autoindex_entry_t   *e;

    len = sizeof("[" PT_CRLF "]" PT_CRLF) - 1;

    e = entries->elts;

    for (i = 0; i < entries->nelts; i++) {
        len += sizeof("{ \"name\":\"\", \"type\":\"directory\", "
                      "\"mtime\":\"Mon, 28 Sep 1970 06:00:00 GMT\", "
                      "\"size\": }," PT_CRLF) - 1
               + pt_http_autoindex_escape_json(NULL, e[i].name.data,
                                               e[i].name.len)
               + PT_INT_T_LEN;
    }

    b = pt_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = pt_cpymem(b->last, "[" PT_CRLF, sizeof("[" PT_CRLF) - 1);

    for (i = 0; i < entries->nelts; i++) {
        p = pt_cpymem(p, "{ \"name\":\"", sizeof("{ \"name\":\"") - 1);
        p += pt_http_autoindex_escape_json(p, e[i].name.data, e[i].name.len);
        p = pt_cpymem(p, "\", \"type\":\"", sizeof("\", \"type\":\"") - 1);

        if (e[i].dir) {
            p = pt_cpymem(p, "directory", sizeof("directory") - 1);
        } else if (e[i].file) {
            p = pt_cpymem(p, "file", sizeof("file") - 1);
        } else {
            p = pt_cpymem(p, "other", sizeof("other") - 1);
        }

        p = pt_cpymem(p, "\", \"mtime\":\"", sizeof("\", \"mtime\":\"") - 1);
        p = pt_http_time(p, e[i].mtime);
        *p++ = '"';

        if (e[i].file) {
            n = snprintf((char *) p, sizeof(", \"size\":") + PT_INT_T_LEN,
                         ", \"size\":%lld", (long long) e[i].size);
            p += n;
        }

        p = pt_cpymem(p, " }", 2);

        if (i + 1 < entries->nelts) {
            *p++ = ',';
        }

        *p++ = PT_CR;
        *p++ = PT_LF;
    }

    p = pt_cpymem(p, "]" PT_CRLF, sizeof("]" PT_CRLF) - 1);

    pt_assert(p <= b->end);

    b->last = p;

    return b;
}


static void *
pt_http_autoindex_create_main_conf(pt_conf_t *cf)
{
    pt_http_autoindex_main_conf_t  *amcf;

    amcf = pt_pcalloc(cf->pool, sizeof(pt_http_autoindex_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    amcf->filename = PT_ERROR;

    return amcf;
}


static void *
pt_http_autoindex_create_loc_conf(pt_conf_t *cf)
{
    pt_http_autoindex_loc_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_autoindex_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = PT_CONF_UNSET;
    conf->exact_size = PT_CONF_UNSET;
    conf->localtime = PT_CONF_UNSET;
    conf->format = PT_CONF_UNSET_UINT;

    return conf;
}


static char *
pt_http_autoindex_merge_loc_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_autoindex_loc_conf_t  *prev = parent;
    pt_http_autoindex_loc_conf_t  *conf = child;

    pt_conf_merge_value(conf->enable, prev->enable, 0);
    pt_conf_merge_value(conf->exact_size, prev->exact_size, 1);
    pt_conf_merge_value(conf->localtime, prev->localtime, 0);
    pt_conf_merge_uint_value(conf->format, prev->format,
                             PT_HTTP_AUTOINDEX_HTML);

    return PT_CONF_OK;
}


static pt_int_t
pt_http_autoindex_init(pt_conf_t *cf)
{
    pt_str_t                        name = pt_string("request_filename");
    pt_http_handler_pt             *h;
    pt_http_core_main_conf_t       *cmcf;
    pt_http_autoindex_main_conf_t  *amcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);
    amcf = pt_http_conf_get_module_main_conf(cf, pt_http_autoindex_module);


    if (!pt_http_variable_declared(cf, &name)) {
        /* nothing maps URIs to files */
        return PT_OK;
    }

    amcf->filename = pt_http_get_variable_index(cf, &name);
    if (amcf->filename == PT_ERROR) {
        return PT_ERROR;
    }

    h = pt_array_push(&cmcf->phases[PT_HTTP_CONTENT_PHASE].handlers);
    if (h == NULL) {
        return PT_ERROR;
    }

    *h = pt_http_autoindex_handler;

    return PT_OK;
}
