/*
 * The static module: maps the URI to a file under "root" or "alias" and
 * serves it to GET and HEAD, typed by "types" (or default_type), with
 * Last-Modified, an ETag and Accept-Ranges, so that the not-modified and
 * range filters can answer conditional and partial requests. The body is
 * one file buffer: the connection sends it with sendfile(), or reads it in
 * small pieces when "sendfile off".
 *
 * It declares $document_root, $realpath_root and $request_filename; the
 * index, autoindex and try_files modules map URIs to files through
 * $request_filename, so root and alias mean the same thing everywhere.
 *
 * A path never leaves its root: the URI is normalised by the core, and
 * the mapping refuses NUL bytes, dot segments, and an alias whose rest
 * would run on into a sibling of the aliased directory. "disable_symlinks
 * on" opens every component of the path without following symbolic links.
 */
#include "pt_http.h"
#include <sys/syscall.h>
#include <linux/openat2.h>


#define PT_HTTP_SYMLINKS_OFF        0
#define PT_HTTP_SYMLINKS_ON         1
#define PT_HTTP_SYMLINKS_FROM_ROOT  2   /* on, below the document root */

#define PT_HTTP_STATIC_MAX_EXTEN    64


typedef struct {
    pt_http_complex_value_t  *root;         /* root or alias; NULL: unset */
    pt_str_t                  location;     /* what an alias replaces */
    pt_str_t                  prefix;       /* for a relative root with vars */

    pt_array_t               *types;        /* of pt_hash_key_t; NULL: unset */
    pt_hash_t                 types_hash;

    pt_flag_t                 sendfile;
    pt_flag_t                 etag;
    pt_uint_t                 symlinks;     /* PT_HTTP_SYMLINKS_* */

    unsigned                  alias:1;
    unsigned                  alias_whole:1;  /* regex location: the path */
    unsigned                  types_built:1;
} pt_http_static_loc_conf_t;


static pt_int_t pt_http_static_handler(pt_http_request_t *r);
static pt_int_t pt_http_static_directory(pt_http_request_t *r,
    pt_http_static_loc_conf_t *slcf);
static pt_int_t pt_http_static_redirect(pt_http_request_t *r);
static pt_int_t pt_http_static_open_error(pt_http_request_t *r,
    const char *path, pt_err_t err);
static pt_int_t pt_http_static_not_allowed(pt_http_request_t *r);
static pt_int_t pt_http_static_set_type(pt_http_request_t *r,
    pt_http_static_loc_conf_t *slcf);
static pt_int_t pt_http_static_root(pt_http_request_t *r,
    pt_http_static_loc_conf_t *slcf, pt_str_t *root, size_t *prefix);
static pt_int_t pt_http_static_map_uri(pt_http_request_t *r,
    pt_http_static_loc_conf_t *slcf, pt_str_t *uri, pt_str_t *path,
    size_t *root_len);
static pt_fd_t pt_http_static_open(pt_http_static_loc_conf_t *slcf,
    u_char *path, size_t root_len, int flags);
static pt_fd_t pt_http_static_openat2(int dirfd, const char *name,
    int flags, uint64_t resolve);
static pt_fd_t pt_http_static_open_walk(int dirfd, u_char *rel, int flags);
static void pt_http_static_cleanup_file(void *data);

static pt_int_t pt_http_static_variable_document_root(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_static_variable_realpath_root(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_static_variable_request_filename(
    pt_http_request_t *r, pt_http_variable_value_t *v, uintptr_t data);

static pt_int_t pt_http_static_add_variables(pt_conf_t *cf);
static pt_int_t pt_http_static_init(pt_conf_t *cf);
static void *pt_http_static_create_loc_conf(pt_conf_t *cf);
static char *pt_http_static_merge_loc_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_static_build_types(pt_conf_t *cf,
    pt_http_static_loc_conf_t *slcf);
static char *pt_http_static_set_root(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_static_types(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_static_type(pt_conf_t *cf, pt_command_t *dummy,
    void *conf);
static char *pt_http_static_disable_symlinks(pt_conf_t *cf,
    pt_command_t *cmd, void *conf);


static pt_command_t  pt_http_static_commands[] = {

    { pt_string("root"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF
      | PT_HTTP_LIF_CONF | PT_CONF_TAKE1,
      pt_http_static_set_root,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("alias"),
      PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_http_static_set_root,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("types"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF
      | PT_CONF_BLOCK | PT_CONF_NOARGS,
      pt_http_static_types,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("sendfile"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF
      | PT_HTTP_LIF_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_static_loc_conf_t, sendfile),
      NULL },

    { pt_string("etag"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_static_loc_conf_t, etag),
      NULL },

    { pt_string("disable_symlinks"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF
      | PT_CONF_TAKE12,
      pt_http_static_disable_symlinks,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_static_module_ctx = {
    pt_http_static_add_variables,           /* preconfiguration */
    pt_http_static_init,                    /* postconfiguration */
    NULL,                                   /* create main configuration */
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    pt_http_static_create_loc_conf,
    pt_http_static_merge_loc_conf
};


pt_module_t  pt_http_static_module = {
    .ctx = &pt_http_static_module_ctx,
    .commands = pt_http_static_commands,
    .type = PT_HTTP_MODULE,
};


static pt_http_variable_t  pt_http_static_variables[] = {

    { pt_string("document_root"), NULL,
      pt_http_static_variable_document_root, 0, PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("realpath_root"), NULL,
      pt_http_static_variable_realpath_root, 0, PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("request_filename"), NULL,
      pt_http_static_variable_request_filename, 0, PT_HTTP_VAR_NOCACHEABLE,
      0 },

    pt_http_null_variable
};


/* nginx's types when a configuration has none at all */
static pt_str_t  pt_http_static_default_types[] = {
    pt_string("html"), pt_string("text/html"),
    pt_string("gif"), pt_string("image/gif"),
    pt_string("jpg"), pt_string("image/jpeg"),
    pt_null_string
};


/* set once openat2() turned out to be missing (ENOSYS, old kernels) */
static pt_uint_t  pt_http_static_no_openat2;


static pt_int_t
pt_http_static_handler(pt_http_request_t *r)
{
    u_char                     *p;
    size_t                      root_len;
    pt_fd_t                     fd;
    pt_err_t                    err;
    pt_str_t                    path;
    pt_buf_t                   *b;
    pt_int_t                    rc;
    pt_file_t                  *file;
    pt_chain_t                  out;
    struct stat                 st;
    pt_table_elt_t             *h;
    pt_pool_cleanup_t          *cln;
    pt_http_static_loc_conf_t  *slcf;

    if (!(r->method & (PT_HTTP_GET | PT_HTTP_HEAD | PT_HTTP_POST))) {
        return pt_http_static_not_allowed(r);
    }

    slcf = pt_http_get_module_loc_conf(r, pt_http_static_module);

    if (r->uri.len == 0 || r->uri.data[0] != '/') {
        return PT_DECLINED;
    }

    if (r->uri.data[r->uri.len - 1] == '/') {
        /* no index file and no listing took it */
        return pt_http_static_directory(r, slcf);
    }

    rc = pt_http_static_map_uri(r, slcf, &r->uri, &path, &root_len);

    if (rc == PT_ERROR) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == PT_DECLINED) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "\"%.*s\" does not map to a file under the root",
                     PT_STR_ARG(r->uri));
        return PT_HTTP_NOT_FOUND;
    }

    fd = pt_http_static_open(slcf, path.data, root_len,
                             O_RDONLY | O_NONBLOCK);

    if (fd == PT_INVALID_FILE) {
        return pt_http_static_open_error(r, (char *) path.data, errno);
    }

    cln = pt_pool_cleanup_add(r->pool, sizeof(pt_file_t));
    if (cln == NULL) {
        close(fd);
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    file = cln->data;
    pt_memzero(file, sizeof(pt_file_t));
    file->fd = fd;
    file->name = path;
    file->log = r->connection->log;

    cln->handler = pt_http_static_cleanup_file;

    if (fstat(fd, &st) == -1) {
        err = errno;
        pt_log_error(PT_LOG_CRIT, r->connection->log, err,
                     "fstat() \"%s\" failed", (char *) path.data);
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (S_ISDIR(st.st_mode)) {
        return pt_http_static_redirect(r);
    }

    if (!S_ISREG(st.st_mode)) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "\"%s\" is not a regular file", (char *) path.data);
        return PT_HTTP_NOT_FOUND;
    }

    if (r->method == PT_HTTP_POST) {
        return pt_http_static_not_allowed(r);
    }

    file->info = st;

    r->headers_out.status = PT_HTTP_OK;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_length_n = st.st_size;
    r->headers_out.last_modified_time = st.st_mtime;

    if (pt_http_static_set_type(r, slcf) != PT_OK) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (slcf->etag) {
        h = pt_list_push(&r->headers_out.headers);
        p = pt_pnalloc(r->pool, sizeof("\"\"-") + 2 * 2 * sizeof(off_t));
        if (h == NULL || p == NULL) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        h->next = NULL;
        pt_str_set(&h->key, "ETag");
        h->value.data = p;
        h->value.len = snprintf((char *) p,
                                sizeof("\"\"-") + 2 * 2 * sizeof(off_t),
                                "\"%llx-%llx\"",
                                (unsigned long long) st.st_mtime,
                                (unsigned long long) st.st_size);
        r->headers_out.etag = h;
    }

    /* the range filter serves parts of what declares Accept-Ranges */
    h = pt_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    h->next = NULL;
    pt_str_set(&h->key, "Accept-Ranges");
    pt_str_set(&h->value, "bytes");
    r->headers_out.accept_ranges = h;

    r->connection->sendfile = slcf->sendfile ? 1 : 0;

    rc = pt_http_send_header(r);

    if (rc == PT_ERROR || rc > PT_OK || r->header_only) {
        return rc;
    }

    b = pt_calloc_buf(r->pool);
    if (b == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = file;
    b->file_pos = 0;
    b->file_last = st.st_size;
    b->in_file = st.st_size ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return pt_http_output_filter(r, &out);
}


/*
 * A URI ending in "/" that reached us names a directory no index file or
 * listing served: 403 when it exists, as nginx says, 404 otherwise.
 */
static pt_int_t
pt_http_static_directory(pt_http_request_t *r,
    pt_http_static_loc_conf_t *slcf)
{
    size_t       root_len;
    pt_fd_t      fd;
    pt_int_t     rc;
    pt_str_t     path;
    struct stat  st;

    if (r->method == PT_HTTP_POST) {
        return pt_http_static_not_allowed(r);
    }

    rc = pt_http_static_map_uri(r, slcf, &r->uri, &path, &root_len);

    if (rc == PT_ERROR) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == PT_DECLINED) {
        return PT_HTTP_NOT_FOUND;
    }

    fd = pt_http_static_open(slcf, path.data, root_len,
                             O_RDONLY | O_NONBLOCK | O_DIRECTORY);

    if (fd == PT_INVALID_FILE) {
        return pt_http_static_open_error(r, (char *) path.data, errno);
    }

    rc = fstat(fd, &st);
    close(fd);

    if (rc == -1 || !S_ISDIR(st.st_mode)) {
        return PT_HTTP_NOT_FOUND;
    }

    pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                 "directory index of \"%s\" is forbidden",
                 (char *) path.data);

    return PT_HTTP_FORBIDDEN;
}


/* Bytes of a decoded path that must be escaped again in a Location. */
static pt_uint_t
pt_http_static_unsafe(u_char ch)
{
    if (ch <= 0x20 || ch >= 0x7f) {
        return 1;
    }

    switch (ch) {
    case '"': case '#': case '%': case '<': case '>': case '?':
    case '\\': case '^': case '`': case '{': case '|': case '}':
        return 1;
    default:
        return 0;
    }
}


/* A directory named without its slash: 301 to the URI with one. */
static pt_int_t
pt_http_static_redirect(pt_http_request_t *r)
{
    u_char          *p, *location;
    size_t           len;
    pt_uint_t        i;
    pt_table_elt_t  *h;

    static const u_char  hex[] = "0123456789ABCDEF";

    len = 0;

    for (i = 0; i < r->uri.len; i++) {
        len += pt_http_static_unsafe(r->uri.data[i]) ? 3 : 1;
    }

    len += 1 + (r->args.len ? 1 + r->args.len : 0);

    location = pt_pnalloc(r->pool, len);
    h = pt_list_push(&r->headers_out.headers);
    if (location == NULL || h == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = location;

    for (i = 0; i < r->uri.len; i++) {
        if (pt_http_static_unsafe(r->uri.data[i])) {
            *p++ = '%';
            *p++ = hex[r->uri.data[i] >> 4];
            *p++ = hex[r->uri.data[i] & 0xf];
        } else {
            *p++ = r->uri.data[i];
        }
    }

    *p++ = '/';

    if (r->args.len) {
        /* the arguments are as the client sent them, already valid */
        *p++ = '?';
        p = pt_cpymem(p, r->args.data, r->args.len);
    }

    h->hash = 1;
    h->next = NULL;
    pt_str_set(&h->key, "Location");
    h->value.data = location;
    h->value.len = p - location;
    r->headers_out.location = h;

    return PT_HTTP_MOVED_PERMANENTLY;
}


/* The status for an open() that failed with err, logged as nginx does. */
static pt_int_t
pt_http_static_open_error(pt_http_request_t *r, const char *path,
    pt_err_t err)
{
    pt_uint_t  level;
    pt_int_t   rc;

    switch (err) {

    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        level = PT_LOG_ERR;
        rc = PT_HTTP_NOT_FOUND;
        break;

    case EACCES:
    case EPERM:
    case ELOOP:         /* a symbolic link under "disable_symlinks on" */
    case EMLINK:
    case EXDEV:         /* it would have left the root */
        level = PT_LOG_ERR;
        rc = PT_HTTP_FORBIDDEN;
        break;

    default:
        level = PT_LOG_CRIT;
        rc = PT_HTTP_INTERNAL_SERVER_ERROR;
        break;
    }

    pt_log_error(level, r->connection->log, err, "open() \"%s\" failed",
                 path);

    return rc;
}


static pt_int_t
pt_http_static_not_allowed(pt_http_request_t *r)
{
    pt_table_elt_t  *h;

    /* RFC 9110 15.5.6: a 405 says what would have been allowed */
    h = pt_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    h->next = NULL;
    pt_str_set(&h->key, "Allow");
    pt_str_set(&h->value, "GET, HEAD");

    return PT_HTTP_NOT_ALLOWED;
}


/* Content-Type from the extension of the URI's last segment. */
static pt_int_t
pt_http_static_set_type(pt_http_request_t *r,
    pt_http_static_loc_conf_t *slcf)
{
    u_char                   *p, *last, *dot;
    pt_str_t                 *type;
    pt_uint_t                 key;
    pt_http_core_loc_conf_t  *clcf;
    u_char                    exten[PT_HTTP_STATIC_MAX_EXTEN];

    type = NULL;

    last = r->uri.data + r->uri.len;
    dot = NULL;

    for (p = last - 1; p >= r->uri.data && *p != '/'; p--) {
        if (*p == '.') {
            dot = p;
            break;
        }
    }

    if (dot && last - dot - 1 > 0 && last - dot - 1 <= (ssize_t) sizeof(exten))
    {
        key = pt_hash_strlow(exten, dot + 1, last - dot - 1);
        type = pt_hash_find(&slcf->types_hash, key, exten, last - dot - 1);
    }

    if (type == NULL) {
        clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);
        type = &clcf->default_type;
    }

    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.charset.len = 0;

    return PT_OK;
}


/*
 * The root (or alias) for r. A relative one, which only a value with
 * variables can still be, is taken against the prefix: *prefix says how
 * much of the result that is (0 when the value was absolute).
 */
static pt_int_t
pt_http_static_root(pt_http_request_t *r, pt_http_static_loc_conf_t *slcf,
    pt_str_t *root, size_t *prefix)
{
    if (pt_http_complex_value(r, slcf->root, root) != PT_OK) {
        return PT_ERROR;
    }

    *prefix = (root->len && root->data[0] == '/') ? 0 : slcf->prefix.len;

    return PT_OK;
}


/* True when the path holds a "." or ".." segment ("/./", "/..", ...). */
static pt_uint_t
pt_http_static_dot_segment(const u_char *p, const u_char *last)
{
    const u_char  *q;

    for ( /* void */ ; p < last; p++) {
        if (*p != '/') {
            continue;
        }

        q = p + 1;

        if (q < last && *q == '.') {
            q++;

            if (q < last && *q == '.') {
                q++;
            }

            if (q == last || *q == '/') {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * Maps uri to the file it names: the root followed by the URI, or, for an
 * alias, the alias followed by what of the URI follows the location's
 * prefix (a URI outside the prefix, as try_files may make, is appended
 * whole). path is NUL-terminated pool memory; *root_len is the length of
 * its root part. Returns PT_DECLINED when the result could lie outside
 * the root, PT_ERROR on failure.
 */
static pt_int_t
pt_http_static_map_uri(pt_http_request_t *r, pt_http_static_loc_conf_t *slcf,
    pt_str_t *uri, pt_str_t *path, size_t *root_len)
{
    u_char    *p, *check;
    size_t     prefix;
    pt_str_t   root, rest;

    if (pt_http_static_root(r, slcf, &root, &prefix) != PT_OK) {
        return PT_ERROR;
    }

    if (memchr(uri->data, '\0', uri->len) != NULL
        || memchr(root.data, '\0', root.len) != NULL)
    {
        return PT_DECLINED;
    }

    rest = *uri;

    if (slcf->alias) {
        if (slcf->alias_whole) {
            rest.len = 0;

        } else if (uri->len >= slcf->location.len
                   && pt_memcmp(uri->data, slcf->location.data,
                                slcf->location.len) == 0)
        {
            rest.data += slcf->location.len;
            rest.len -= slcf->location.len;
        }

        /* "location /i { alias /data/w; }" must not reach "/data/w2/x" */
        if (rest.len && rest.data[0] != '/'
            && (root.len == 0 || root.data[root.len - 1] != '/'))
        {
            return PT_DECLINED;
        }
    }

    path->len = prefix + root.len + rest.len;
    path->data = pt_pnalloc(r->pool, path->len + 1);
    if (path->data == NULL) {
        return PT_ERROR;
    }

    p = path->data;

    if (prefix) {
        p = pt_cpymem(p, slcf->prefix.data, prefix);
    }

    if (root.len) {
        p = pt_cpymem(p, root.data, root.len);
    }

    *root_len = p - path->data;

    if (rest.len) {
        p = pt_cpymem(p, rest.data, rest.len);
    }

    *p = '\0';

    /* the URI is normalised, but what it joins with the root is checked */
    check = path->data + *root_len;

    if (*root_len && check[-1] == '/') {
        check--;
    }

    if (pt_http_static_dot_segment(check, p)) {
        return PT_DECLINED;
    }

    return PT_OK;
}


/*
 * Opens path (flags: O_RDONLY | O_NONBLOCK, maybe O_DIRECTORY) under the
 * symlinks policy. Returns the descriptor, or PT_INVALID_FILE with errno
 * set (ELOOP: a symbolic link was refused).
 */
static pt_fd_t
pt_http_static_open(pt_http_static_loc_conf_t *slcf, u_char *path,
    size_t root_len, int flags)
{
    int       rootfd;
    u_char   *rel, save;
    pt_fd_t   fd;
    pt_err_t  err;

    flags |= O_CLOEXEC;

    switch (slcf->symlinks) {

    case PT_HTTP_SYMLINKS_OFF:
        return open((char *) path, flags);

    case PT_HTTP_SYMLINKS_ON:
        fd = pt_http_static_openat2(AT_FDCWD, (char *) path, flags,
                                    RESOLVE_NO_SYMLINKS);

        if (fd != PT_INVALID_FILE || errno != ENOSYS) {
            return fd;
        }

        rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd == -1) {
            return PT_INVALID_FILE;
        }

        fd = pt_http_static_open_walk(rootfd, path, flags);
        err = errno;
        close(rootfd);
        errno = err;

        return fd;

    default: /* PT_HTTP_SYMLINKS_FROM_ROOT */

        /* the root itself may be reached through links */
        save = path[root_len];
        path[root_len] = '\0';
        rootfd = open(root_len ? (char *) path : "/",
                      O_PATH | O_DIRECTORY | O_CLOEXEC);
        path[root_len] = save;

        if (rootfd == -1) {
            return PT_INVALID_FILE;
        }

        for (rel = path + root_len; *rel == '/'; rel++) { /* void */ }

        fd = pt_http_static_openat2(rootfd, *rel ? (char *) rel : ".", flags,
                                    RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);

        if (fd == PT_INVALID_FILE && errno == ENOSYS) {
            fd = pt_http_static_open_walk(rootfd, rel, flags);
        }

        err = errno;
        close(rootfd);
        errno = err;

        return fd;
    }
}


static pt_fd_t
pt_http_static_openat2(int dirfd, const char *name, int flags,
    uint64_t resolve)
{
    long             fd;
    struct open_how  how;

    if (pt_http_static_no_openat2) {
        errno = ENOSYS;
        return PT_INVALID_FILE;
    }

    pt_memzero(&how, sizeof(struct open_how));
    how.flags = (uint64_t) flags;
    how.resolve = resolve;

    fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(struct open_how));

    if (fd == -1 && (errno == ENOSYS || errno == E2BIG)) {
        pt_http_static_no_openat2 = 1;
        errno = ENOSYS;
    }

    return (pt_fd_t) fd;
}


/*
 * Without openat2(): walks rel from dirfd one component at a time, none
 * of them followed if it is a symbolic link. rel is changed while walking
 * and restored. The empty rel opens dirfd's directory itself.
 */
static pt_fd_t
pt_http_static_open_walk(int dirfd, u_char *rel, int flags)
{
    int          fd, nfd;
    u_char      *p, *name, *next, save;
    pt_err_t     err;
    pt_uint_t    last;
    struct stat  st;

    fd = dirfd;
    p = rel;

    for ( ;; ) {
        while (*p == '/') {
            p++;
        }

        name = p;

        while (*p && *p != '/') {
            p++;
        }

        for (next = p; *next == '/'; next++) { /* void */ }

        last = (*next == '\0');

        if (name == p) {
            /* nothing (left) to walk: the directory we are in */
            nfd = openat(fd, ".", flags);
            err = errno;

        } else {
            save = *p;
            *p = '\0';

            if (last) {
                nfd = openat(fd, (char *) name, flags | O_NOFOLLOW);
                err = errno;

            } else {
                nfd = openat(fd, (char *) name,
                             O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                err = errno;

                if (nfd == -1 && err == ENOTDIR
                    && fstatat(fd, (char *) name, &st, AT_SYMLINK_NOFOLLOW)
                       == 0
                    && S_ISLNK(st.st_mode))
                {
                    err = ELOOP;
                }
            }

            *p = save;
        }

        if (fd != dirfd) {
            close(fd);
        }

        if (nfd == -1) {
            errno = err;
            return PT_INVALID_FILE;
        }

        if (last || name == p) {
            return nfd;
        }

        fd = nfd;
    }
}


static void
pt_http_static_cleanup_file(void *data)
{
    pt_file_t  *file = data;

    if (file->fd != PT_INVALID_FILE && close(file->fd) == -1) {
        pt_log_error(PT_LOG_ALERT, file->log, errno, "close() \"%.*s\" failed",
                     PT_STR_ARG(file->name));
    }

    file->fd = PT_INVALID_FILE;
}


/* variables */

static pt_int_t
pt_http_static_variable_document_root(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    u_char                     *p;
    size_t                      prefix;
    pt_str_t                    root;
    pt_http_static_loc_conf_t  *slcf;

    slcf = pt_http_get_module_loc_conf(r, pt_http_static_module);

    if (pt_http_static_root(r, slcf, &root, &prefix) != PT_OK) {
        return PT_ERROR;
    }

    if (prefix) {
        p = pt_pnalloc(r->pool, prefix + root.len);
        if (p == NULL) {
            return PT_ERROR;
        }

        pt_memcpy(p, slcf->prefix.data, prefix);

        if (root.len) {
            pt_memcpy(p + prefix, root.data, root.len);
        }

        root.data = p;
        root.len += prefix;
    }

    v->len = root.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = root.data;

    return PT_OK;
}


static pt_int_t
pt_http_static_variable_realpath_root(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    char                        *real;
    size_t                       len;
    pt_http_variable_value_t     root;

    if (pt_http_static_variable_document_root(r, &root, 0) != PT_OK) {
        return PT_ERROR;
    }

    real = pt_pnalloc(r->pool, root.len + 1);
    if (real == NULL) {
        return PT_ERROR;
    }

    if (root.len) {
        pt_memcpy(real, root.data, root.len);
    }

    real[root.len] = '\0';

    real = realpath(real, NULL);
    if (real == NULL) {
        pt_log_error(PT_LOG_ERR, r->connection->log, errno,
                     "realpath() \"%.*s\" failed", (int) root.len,
                     (char *) root.data);
        return PT_ERROR;
    }

    len = strlen(real);

    v->data = pt_pnalloc(r->pool, len);
    if (v->data == NULL) {
        free(real);
        return PT_ERROR;
    }

    pt_memcpy(v->data, real, len);
    free(real);

    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


static pt_int_t
pt_http_static_variable_request_filename(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    size_t                      root_len;
    pt_int_t                    rc;
    pt_str_t                    path;
    pt_http_static_loc_conf_t  *slcf;

    slcf = pt_http_get_module_loc_conf(r, pt_http_static_module);

    rc = pt_http_static_map_uri(r, slcf, &r->uri, &path, &root_len);

    if (rc == PT_ERROR) {
        return PT_ERROR;
    }

    if (rc == PT_DECLINED) {
        /* no file may be named by this URI */
        v->valid = 0;
        v->not_found = 1;
        return PT_OK;
    }

    v->len = path.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = path.data;

    return PT_OK;
}


/* configuration */

static pt_int_t
pt_http_static_add_variables(pt_conf_t *cf)
{
    return pt_http_add_variables(cf, pt_http_static_variables);
}


static pt_int_t
pt_http_static_init(pt_conf_t *cf)
{
    pt_http_handler_pt        *h;
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    h = pt_array_push(&cmcf->phases[PT_HTTP_CONTENT_PHASE].handlers);
    if (h == NULL) {
        return PT_ERROR;
    }

    *h = pt_http_static_handler;

    return PT_OK;
}


static void *
pt_http_static_create_loc_conf(pt_conf_t *cf)
{
    pt_http_static_loc_conf_t  *conf;

    conf = pt_pcalloc(cf->pool, sizeof(pt_http_static_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /* root, location, prefix, types, types_hash: zeroed */

    conf->sendfile = PT_CONF_UNSET;
    conf->etag = PT_CONF_UNSET;
    conf->symlinks = PT_CONF_UNSET_UINT;

    return conf;
}


static char *
pt_http_static_merge_loc_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_static_loc_conf_t  *prev = parent;
    pt_http_static_loc_conf_t  *conf = child;

    pt_str_t                         *name;
    pt_hash_key_t                    *hk;
    pt_http_compile_complex_value_t   ccv;

    if (conf->root == NULL) {
        if (prev->root == NULL) {
            /* nginx's default: "html" under the prefix */
            prev->root = pt_pcalloc(cf->pool,
                                    sizeof(pt_http_complex_value_t));
            if (prev->root == NULL) {
                return PT_CONF_ERROR;
            }

            name = pt_palloc(cf->pool, sizeof(pt_str_t));
            if (name == NULL) {
                return PT_CONF_ERROR;
            }

            pt_str_set(name, "html");

            if (pt_conf_full_name(cf->cycle, name, 0) != PT_OK) {
                return PT_CONF_ERROR;
            }

            pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
            ccv.cf = cf;
            ccv.value = name;
            ccv.complex_value = prev->root;

            if (pt_http_compile_complex_value(&ccv) != PT_OK) {
                return PT_CONF_ERROR;
            }
        }

        conf->root = prev->root;
        conf->location = prev->location;
        conf->prefix = prev->prefix;
        conf->alias = prev->alias;
        conf->alias_whole = prev->alias_whole;
    }

    if (conf->types == NULL) {
        if (prev->types == NULL) {
            prev->types = pt_array_create(cf->pool, 4, sizeof(pt_hash_key_t));
            if (prev->types == NULL) {
                return PT_CONF_ERROR;
            }

            for (name = pt_http_static_default_types; name->len; name += 2) {
                hk = pt_array_push(prev->types);
                if (hk == NULL) {
                    return PT_CONF_ERROR;
                }

                hk->key = name[0];
                hk->key_hash = pt_hash_key_lc(name[0].data, name[0].len);
                hk->value = &name[1];
            }
        }

        /* the http level is never merged itself: build its table here */
        if (pt_http_static_build_types(cf, prev) != PT_OK) {
            return PT_CONF_ERROR;
        }

        conf->types = prev->types;
        conf->types_hash = prev->types_hash;
        conf->types_built = 1;

    } else if (pt_http_static_build_types(cf, conf) != PT_OK) {
        return PT_CONF_ERROR;
    }

    pt_conf_merge_value(conf->sendfile, prev->sendfile, 0);
    pt_conf_merge_value(conf->etag, prev->etag, 1);
    pt_conf_merge_uint_value(conf->symlinks, prev->symlinks,
                             PT_HTTP_SYMLINKS_OFF);

    return PT_CONF_OK;
}


static pt_int_t
pt_http_static_build_types(pt_conf_t *cf, pt_http_static_loc_conf_t *slcf)
{
    if (slcf->types_built) {
        return PT_OK;
    }

    if (pt_hash_init(&slcf->types_hash, cf->pool, slcf->types->elts,
                     slcf->types->nelts) != PT_OK)
    {
        return PT_ERROR;
    }

    slcf->types_built = 1;

    return PT_OK;
}


/* root PATH; alias PATH */
static char *
pt_http_static_set_root(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_static_loc_conf_t  *slcf = conf;

    pt_str_t                         *value, *name;
    pt_uint_t                         alias;
    pt_http_core_loc_conf_t          *clcf;
    pt_http_compile_complex_value_t   ccv;

    alias = (cmd->name.len == sizeof("alias") - 1);

    if (slcf->root) {
        pt_conf_error(cf, "\"%.*s\" directive is duplicate, \"%s\" directive "
                      "was specified earlier", PT_STR_ARG(cmd->name),
                      slcf->alias ? "alias" : "root");
        return PT_CONF_ERROR;
    }

    clcf = pt_http_conf_get_module_loc_conf(cf, pt_http_core_module);

    if (alias && clcf->named) {
        pt_conf_error(cf, "\"alias\" directive cannot be used inside the "
                      "named location \"%.*s\"", PT_STR_ARG(clcf->name));
        return PT_CONF_ERROR;
    }

    value = cf->args->elts;
    name = &value[1];

    if (name->len == 0) {
        pt_conf_error(cf, "empty path in \"%.*s\" directive",
                      PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    if (memchr(name->data, '\0', name->len) != NULL) {
        pt_conf_error(cf, "NUL byte in \"%.*s\" directive",
                      PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    if (!alias && name->len > 1 && name->data[name->len - 1] == '/'
        && pt_strlchr(name->data, name->data + name->len, '$') == NULL)
    {
        /* "root /var/www/" and "root /var/www" mean the same */
        name->len--;
    }

    slcf->root = pt_pcalloc(cf->pool, sizeof(pt_http_complex_value_t));
    if (slcf->root == NULL) {
        return PT_CONF_ERROR;
    }

    if (pt_strlchr(name->data, name->data + name->len, '$') == NULL) {
        if (pt_conf_full_name(cf->cycle, name, 0) != PT_OK) {
            return PT_CONF_ERROR;
        }

    } else {
        /* relative values are resolved per request */
        slcf->prefix = cf->cycle->prefix;
    }

    pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = name;
    ccv.complex_value = slcf->root;

    if (pt_http_compile_complex_value(&ccv) != PT_OK) {
        return PT_CONF_ERROR;
    }

    if (alias) {
        slcf->alias = 1;
        slcf->location = clcf->name;

        if (clcf->regex) {
            /* nginx: the alias is the whole path, usually with captures */
            slcf->alias_whole = 1;
        }
    }

    return PT_CONF_OK;
}


static char *
pt_http_static_types(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_static_loc_conf_t  *slcf = conf;

    char       *rv;
    pt_conf_t   save;

    if (slcf->types == NULL) {
        slcf->types = pt_array_create(cf->pool, 64, sizeof(pt_hash_key_t));
        if (slcf->types == NULL) {
            return PT_CONF_ERROR;
        }
    }

    save = *cf;
    cf->handler = pt_http_static_type;
    cf->handler_conf = conf;

    rv = pt_conf_parse(cf, NULL);

    *cf = save;

    return rv;
}


/* One line of a types block: "TYPE EXTENSION ...;" (or an include). */
static char *
pt_http_static_type(pt_conf_t *cf, pt_command_t *dummy, void *conf)
{
    pt_http_static_loc_conf_t  *slcf = conf;

    pt_str_t       *value, *type, ext;
    pt_uint_t       i, n;
    pt_hash_key_t  *hk;

    value = cf->args->elts;

    if (pt_str_eq_lit(&value[0], "include")) {
        if (cf->args->nelts != 2) {
            pt_conf_error(cf, "invalid number of arguments in \"include\" "
                          "directive");
            return PT_CONF_ERROR;
        }

        return pt_conf_include(cf, dummy, conf);
    }

    type = pt_palloc(cf->pool, sizeof(pt_str_t));
    if (type == NULL) {
        return PT_CONF_ERROR;
    }

    *type = value[0];

    for (i = 1; i < cf->args->nelts; i++) {

        ext.len = value[i].len;
        ext.data = pt_pnalloc(cf->pool, ext.len);
        if (ext.data == NULL) {
            return PT_CONF_ERROR;
        }

        pt_strlow(ext.data, value[i].data, ext.len);

        hk = slcf->types->elts;

        for (n = 0; n < slcf->types->nelts; n++) {
            if (pt_str_eq(&hk[n].key, &ext)) {
                pt_conf_log_error(PT_LOG_WARN, cf, 0,
                                  "duplicate extension \"%.*s\", content "
                                  "type: \"%.*s\", previous content type: "
                                  "\"%.*s\"", PT_STR_ARG(ext),
                                  PT_STR_ARG(*type),
                                  PT_STR_ARG(*(pt_str_t *) hk[n].value));
                hk[n].value = type;
                break;
            }
        }

        if (n < slcf->types->nelts) {
            continue;
        }

        hk = pt_array_push(slcf->types);
        if (hk == NULL) {
            return PT_CONF_ERROR;
        }

        hk->key = ext;
        hk->key_hash = pt_hash_key(ext.data, ext.len);
        hk->value = type;
    }

    return PT_CONF_OK;
}


/* disable_symlinks off | on [from=$document_root] */
static char *
pt_http_static_disable_symlinks(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_static_loc_conf_t  *slcf = conf;

    pt_str_t  *value;

    if (slcf->symlinks != PT_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (pt_str_eq_lit(&value[1], "off")) {
        if (cf->args->nelts == 3) {
            pt_conf_error(cf, "\"from=\" cannot be used with \"off\"");
            return PT_CONF_ERROR;
        }

        slcf->symlinks = PT_HTTP_SYMLINKS_OFF;
        return PT_CONF_OK;
    }

    if (!pt_str_eq_lit(&value[1], "on")) {
        pt_conf_error(cf, "invalid value \"%.*s\" in \"disable_symlinks\" "
                      "directive, it must be \"on\" or \"off\"",
                      PT_STR_ARG(value[1]));
        return PT_CONF_ERROR;
    }

    slcf->symlinks = PT_HTTP_SYMLINKS_ON;

    if (cf->args->nelts == 3) {
        if (!pt_str_eq_lit(&value[2], "from=$document_root")) {
            pt_conf_error(cf, "invalid parameter \"%.*s\", only "
                          "\"from=$document_root\" is supported",
                          PT_STR_ARG(value[2]));
            return PT_CONF_ERROR;
        }

        slcf->symlinks = PT_HTTP_SYMLINKS_FROM_ROOT;
    }

    return PT_CONF_OK;
}


/*
 * The gzip_static module's way in: opens the file that r->uri maps to with
 * suffix appended (".gz", ".br"), under the same root, alias and
 * disable_symlinks rules as the file itself. Returns PT_OK with *file
 * (pool memory, closed with the request), PT_DECLINED when there is no
 * such regular file (other errors than its absence are logged), or
 * PT_ERROR.
 */
pt_int_t
pt_http_static_open_variant(pt_http_request_t *r, const char *suffix,
    pt_file_t **file)
{
    size_t                      root_len, n;
    pt_fd_t                     fd;
    pt_int_t                    rc;
    pt_str_t                    path, name;
    pt_file_t                  *f;
    pt_pool_cleanup_t          *cln;
    pt_http_static_loc_conf_t  *slcf;

    slcf = pt_http_get_module_loc_conf(r, pt_http_static_module);

    rc = pt_http_static_map_uri(r, slcf, &r->uri, &path, &root_len);

    if (rc != PT_OK) {
        return rc;
    }

    n = strlen(suffix);
    name.len = path.len + n;
    name.data = pt_pnalloc(r->pool, name.len + 1);
    if (name.data == NULL) {
        return PT_ERROR;
    }

    pt_memcpy(name.data, path.data, path.len);
    pt_memcpy(name.data + path.len, suffix, n + 1);

    fd = pt_http_static_open(slcf, name.data, root_len,
                             O_RDONLY | O_NONBLOCK);

    if (fd == PT_INVALID_FILE) {
        if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG) {
            pt_log_error(errno == EACCES || errno == ELOOP ? PT_LOG_ERR
                                                           : PT_LOG_CRIT,
                         r->connection->log, errno, "open() \"%s\" failed",
                         (char *) name.data);
        }

        return PT_DECLINED;
    }

    cln = pt_pool_cleanup_add(r->pool, sizeof(pt_file_t));
    if (cln == NULL) {
        close(fd);
        return PT_ERROR;
    }

    f = cln->data;
    pt_memzero(f, sizeof(pt_file_t));
    f->fd = fd;
    f->name = name;
    f->log = r->connection->log;

    cln->handler = pt_http_static_cleanup_file;

    if (fstat(fd, &f->info) == -1) {
        pt_log_error(PT_LOG_CRIT, r->connection->log, errno,
                     "fstat() \"%s\" failed", (char *) name.data);
        return PT_ERROR;
    }

    if (!S_ISREG(f->info.st_mode)) {
        return PT_DECLINED;
    }

    *file = f;

    return PT_OK;
}


/*
 * Sets the head the static module would send for file at r->uri: 200,
 * its length, Last-Modified, ETag (unless "etag off"), the Content-Type
 * of r->uri's extension; and sendfile. No Accept-Ranges. PT_OK or
 * PT_ERROR.
 */
pt_int_t
pt_http_static_variant_headers(pt_http_request_t *r, pt_file_t *file)
{
    u_char                     *p;
    pt_table_elt_t             *h;
    pt_http_static_loc_conf_t  *slcf;

    slcf = pt_http_get_module_loc_conf(r, pt_http_static_module);

    r->headers_out.status = PT_HTTP_OK;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_length_n = file->info.st_size;
    r->headers_out.last_modified_time = file->info.st_mtime;

    if (pt_http_static_set_type(r, slcf) != PT_OK) {
        return PT_ERROR;
    }

    if (slcf->etag) {
        h = pt_list_push(&r->headers_out.headers);
        p = pt_pnalloc(r->pool, sizeof("\"\"-") + 2 * 2 * sizeof(off_t));
        if (h == NULL || p == NULL) {
            return PT_ERROR;
        }

        h->hash = 1;
        h->next = NULL;
        pt_str_set(&h->key, "ETag");
        h->value.data = p;
        h->value.len = snprintf((char *) p,
                                sizeof("\"\"-") + 2 * 2 * sizeof(off_t),
                                "\"%llx-%llx\"",
                                (unsigned long long) file->info.st_mtime,
                                (unsigned long long) file->info.st_size);
        r->headers_out.etag = h;
    }

    r->connection->sendfile = slcf->sendfile ? 1 : 0;

    return PT_OK;
}
