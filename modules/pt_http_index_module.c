/*
 * The index module: a URI ending in "/" is redirected internally to the
 * first of the "index" files that exists in the directory it names (the
 * last may be an absolute URI, taken without a check). When none does, it
 * declines, so that autoindex or the static module (403) answers; when the
 * directory itself is missing, it answers 404.
 *
 * The directory comes from $request_filename, so root and alias mean here
 * what they mean to the static module that declares it.
 */
#include "pt_http.h"


typedef struct {
    pt_int_t                  filename;     /* $request_filename; PT_ERROR */
} pt_http_index_main_conf_t;

typedef struct {
    pt_array_t               *indices;      /* of pt_http_complex_value_t */
} pt_http_index_loc_conf_t;


static pt_int_t pt_http_index_handler(pt_http_request_t *r);
static pt_int_t pt_http_index_error(pt_http_request_t *r, const char *path,
    pt_err_t err);
static void *pt_http_index_create_main_conf(pt_conf_t *cf);
static void *pt_http_index_create_loc_conf(pt_conf_t *cf);
static char *pt_http_index_merge_loc_conf(pt_conf_t *cf, void *parent,
    void *child);
static pt_int_t pt_http_index_init(pt_conf_t *cf);
static char *pt_http_index_set_index(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);


static pt_command_t  pt_http_index_commands[] = {

    { pt_string("index"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_http_index_set_index,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_index_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_index_init,                     /* postconfiguration */
    pt_http_index_create_main_conf,
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    pt_http_index_create_loc_conf,
    pt_http_index_merge_loc_conf
};


pt_module_t  pt_http_index_module = {
    .ctx = &pt_http_index_module_ctx,
    .commands = pt_http_index_commands,
    .type = PT_HTTP_MODULE,
};


static pt_int_t
pt_http_index_handler(pt_http_request_t *r)
{
    u_char                     *p;
    pt_fd_t                     fd;
    pt_str_t                    dir, name, path, uri;
    pt_uint_t                   i;
    pt_err_t                    err;
    struct stat                 st;
    pt_http_complex_value_t    *index;
    pt_http_variable_value_t   *v;
    pt_http_index_loc_conf_t   *ilcf;
    pt_http_index_main_conf_t  *imcf;

    if (r->uri.len == 0 || r->uri.data[r->uri.len - 1] != '/') {
        return PT_DECLINED;
    }

    if (!(r->method & (PT_HTTP_GET | PT_HTTP_HEAD | PT_HTTP_POST))) {
        return PT_DECLINED;
    }

    imcf = pt_http_get_module_main_conf(r, pt_http_index_module);

    if (imcf->filename == PT_ERROR) {
        return PT_DECLINED;
    }

    ilcf = pt_http_get_module_loc_conf(r, pt_http_index_module);

    index = ilcf->indices->elts;
    pt_str_null(&dir);

    for (i = 0; i < ilcf->indices->nelts; i++) {

        if (pt_http_complex_value(r, &index[i], &name) != PT_OK) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (name.len == 0 || memchr(name.data, '\0', name.len) != NULL) {
            continue;
        }

        if (name.data[0] == '/') {
            /* an absolute URI is taken as it is */
            return pt_http_internal_redirect(r, &name, &r->args);
        }

        if (dir.data == NULL) {
            v = pt_http_get_flushed_variable(r, imcf->filename);

            if (v == NULL) {
                return PT_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (v->not_found) {
                /* no file may be named by this URI: the static module says */
                return PT_DECLINED;
            }

            dir.data = v->data;
            dir.len = v->len;
        }

        path.len = dir.len + name.len;
        path.data = pt_pnalloc(r->pool, path.len + 1);
        if (path.data == NULL) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = pt_cpymem(path.data, dir.data, dir.len);
        p = pt_cpymem(p, name.data, name.len);
        *p = '\0';

        fd = open((char *) path.data, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

        if (fd == -1) {
            err = errno;

            if (err == ENOENT) {
                continue;
            }

            return pt_http_index_error(r, (char *) path.data, err);
        }

        close(fd);

        uri.len = r->uri.len + name.len;
        uri.data = pt_pnalloc(r->pool, uri.len);
        if (uri.data == NULL) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = pt_cpymem(uri.data, r->uri.data, r->uri.len);
        pt_memcpy(p, name.data, name.len);

        return pt_http_internal_redirect(r, &uri, &r->args);
    }

    if (dir.data == NULL) {
        return PT_DECLINED;
    }

    /* none there: is the directory itself? */

    path.data = pt_pnalloc(r->pool, dir.len + 1);
    if (path.data == NULL) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    pt_memcpy(path.data, dir.data, dir.len);
    path.data[dir.len] = '\0';

    if (stat((char *) path.data, &st) == -1) {
        return pt_http_index_error(r, (char *) path.data, errno);
    }

    return PT_DECLINED;
}


static pt_int_t
pt_http_index_error(pt_http_request_t *r, const char *path, pt_err_t err)
{
    switch (err) {

    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        pt_log_error(PT_LOG_ERR, r->connection->log, err,
                     "\"%s\" is not found", path);
        return PT_HTTP_NOT_FOUND;

    case EACCES:
    case EPERM:
    case ELOOP:
        pt_log_error(PT_LOG_ERR, r->connection->log, err,
                     "\"%s\" is forbidden", path);
        return PT_HTTP_FORBIDDEN;

    default:
        pt_log_error(PT_LOG_CRIT, r->connection->log, err,
                     "open() \"%s\" failed", path);
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static void *
pt_http_index_create_main_conf(pt_conf_t *cf)
{
    pt_http_index_main_conf_t  *imcf;

    imcf = pt_pcalloc(cf->pool, sizeof(pt_http_index_main_conf_t));
    if (imcf == NULL) {
        return NULL;
    }

    imcf->filename = PT_ERROR;

    return imcf;
}


static void *
pt_http_index_create_loc_conf(pt_conf_t *cf)
{
    /* indices: NULL, unset */
    return pt_pcalloc(cf->pool, sizeof(pt_http_index_loc_conf_t));
}


static char *
pt_http_index_merge_loc_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_index_loc_conf_t  *prev = parent;
    pt_http_index_loc_conf_t  *conf = child;

    pt_http_complex_value_t  *index;

    if (conf->indices) {
        return PT_CONF_OK;
    }

    if (prev->indices == NULL) {
        prev->indices = pt_array_create(cf->pool, 1,
                                        sizeof(pt_http_complex_value_t));
        if (prev->indices == NULL) {
            return PT_CONF_ERROR;
        }

        index = pt_array_push(prev->indices);
        if (index == NULL) {
            return PT_CONF_ERROR;
        }

        pt_memzero(index, sizeof(pt_http_complex_value_t));
        pt_str_set(&index->value, "index.html");
    }

    conf->indices = prev->indices;

    return PT_CONF_OK;
}


static pt_int_t
pt_http_index_init(pt_conf_t *cf)
{
    pt_str_t                    name = pt_string("request_filename");
    pt_http_handler_pt         *h;
    pt_http_core_main_conf_t   *cmcf;
    pt_http_index_main_conf_t  *imcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);
    imcf = pt_http_conf_get_module_main_conf(cf, pt_http_index_module);

    /* without the module that maps URIs to files there is nothing to do */

    if (!pt_http_variable_declared(cf, &name)) {
        return PT_OK;
    }

    imcf->filename = pt_http_get_variable_index(cf, &name);
    if (imcf->filename == PT_ERROR) {
        return PT_ERROR;
    }

    h = pt_array_push(&cmcf->phases[PT_HTTP_CONTENT_PHASE].handlers);
    if (h == NULL) {
        return PT_ERROR;
    }

    *h = pt_http_index_handler;

    return PT_OK;
}


/* index FILE ... */
static char *
pt_http_index_set_index(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_index_loc_conf_t  *ilcf = conf;

    pt_str_t                         *value;
    pt_uint_t                         i;
    pt_http_complex_value_t          *index;
    pt_http_compile_complex_value_t   ccv;

    if (ilcf->indices == NULL) {
        ilcf->indices = pt_array_create(cf->pool, 2,
                                        sizeof(pt_http_complex_value_t));
        if (ilcf->indices == NULL) {
            return PT_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0 || memchr(value[i].data, '\0', value[i].len)) {
            pt_conf_error(cf, "index \"%.*s\" in \"index\" directive is "
                          "invalid", PT_STR_ARG(value[i]));
            return PT_CONF_ERROR;
        }

        if (value[i].data[0] == '/' && i != cf->args->nelts - 1) {
            pt_conf_log_error(PT_LOG_WARN, cf, 0, "only the last index in "
                              "\"index\" directive should be absolute");
        }

        index = pt_array_push(ilcf->indices);
        if (index == NULL) {
            return PT_CONF_ERROR;
        }

        pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = index;

        if (pt_http_compile_complex_value(&ccv) != PT_OK) {
            return PT_CONF_ERROR;
        }
    }

    return PT_CONF_OK;
}
