/*
 * The try_files module: "try_files FILE ... URI | =CODE | @NAME" in the
 * precontent phase. Each FILE (with variables, usually $uri) is taken as a
 * URI and mapped to a path by root or alias; the first that exists (as a
 * directory when it ends in "/") becomes the request's URI, served by the
 * location's content handler. When none does, the last parameter decides:
 * an internal redirect, a status, or a named location.
 *
 * Paths come from $request_filename, evaluated for each candidate, so the
 * mapping is the static module's own. Like nginx, try_files is not
 * inherited: it applies to the level that has it.
 */
#include "pt_http.h"


typedef struct {
    pt_http_complex_value_t   name;
    unsigned                  test_dir:1;   /* written with a final "/" */
} pt_http_try_file_t;

typedef struct {
    pt_int_t                  filename;     /* $request_filename; PT_ERROR */
} pt_http_try_files_main_conf_t;

typedef struct {
    pt_array_t               *files;        /* of pt_http_try_file_t */
    pt_http_complex_value_t   fallback;     /* the last parameter */
    pt_int_t                  code;         /* =CODE, 0 otherwise */
} pt_http_try_files_loc_conf_t;


static pt_int_t pt_http_try_files_handler(pt_http_request_t *r);
static pt_int_t pt_http_try_files_test(pt_http_request_t *r,
    pt_int_t filename, pt_str_t *name, pt_uint_t test_dir);
static void *pt_http_try_files_create_main_conf(pt_conf_t *cf);
static void *pt_http_try_files_create_loc_conf(pt_conf_t *cf);
static pt_int_t pt_http_try_files_init(pt_conf_t *cf);
static char *pt_http_try_files(pt_conf_t *cf, pt_command_t *cmd, void *conf);


static pt_command_t  pt_http_try_files_commands[] = {

    { pt_string("try_files"),
      PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_2MORE,
      pt_http_try_files,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_try_files_module_ctx = {
    NULL,                                   /* preconfiguration */
    pt_http_try_files_init,                 /* postconfiguration */
    pt_http_try_files_create_main_conf,
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    pt_http_try_files_create_loc_conf,
    NULL                                    /* not inherited */
};


pt_module_t  pt_http_try_files_module = {
    .ctx = &pt_http_try_files_module_ctx,
    .commands = pt_http_try_files_commands,
    .type = PT_HTTP_MODULE,
};


static pt_int_t
pt_http_try_files_handler(pt_http_request_t *r)
{
    u_char                         *q;
    pt_int_t                        rc;
    pt_str_t                        name, args;
    pt_uint_t                       i;
    pt_http_try_file_t             *tf;
    pt_http_try_files_loc_conf_t   *tlcf;
    pt_http_try_files_main_conf_t  *tmcf;

    tlcf = pt_http_get_module_loc_conf(r, pt_http_try_files_module);

    if (tlcf->files == NULL) {
        return PT_DECLINED;
    }

    tmcf = pt_http_get_module_main_conf(r, pt_http_try_files_module);

    tf = tlcf->files->elts;

    for (i = 0; i < tlcf->files->nelts; i++) {

        if (pt_http_complex_value(r, &tf[i].name, &name) != PT_OK) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (name.len == 0 || name.data[0] != '/') {
            continue;
        }

        rc = pt_http_try_files_test(r, tmcf->filename, &name,
                                    tf[i].test_dir);

        if (rc == PT_ERROR) {
            return PT_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == PT_OK) {
            /* found: the location serves it under this URI */
            r->uri = name;
            pt_str_null(&r->exten);

            return PT_DECLINED;
        }
    }

    if (tlcf->code) {
        return tlcf->code;
    }

    if (pt_http_complex_value(r, &tlcf->fallback, &name) != PT_OK) {
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (name.len && name.data[0] == '@') {
        (void) pt_http_named_location(r, &name);
        return PT_DONE;
    }

    /* "/index.php?q=$uri" brings its own arguments, else r's stay */
    args = r->args;

    q = pt_strlchr(name.data, name.data + name.len, '?');

    if (q) {
        args.data = q + 1;
        args.len = name.data + name.len - args.data;
        name.len = q - name.data;
    }

    if (name.len == 0 || name.data[0] != '/') {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "try_files fallback \"%.*s\" is not a URI",
                     PT_STR_ARG(name));
        return PT_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) pt_http_internal_redirect(r, &name, &args);

    return PT_DONE;
}


/*
 * Does the URI name map to an existing file (a directory for test_dir)?
 * PT_OK: yes, PT_DECLINED: no, PT_ERROR.
 */
static pt_int_t
pt_http_try_files_test(pt_http_request_t *r, pt_int_t filename,
    pt_str_t *name, pt_uint_t test_dir)
{
    u_char                    *path;
    pt_err_t                   err;
    pt_str_t                   uri;
    struct stat                st;
    pt_http_variable_value_t  *v;

    if (filename == PT_ERROR || memchr(name->data, '\0', name->len) != NULL) {
        /* nothing maps URIs to files, or nothing could be named so */
        return PT_DECLINED;
    }

    /* $request_filename maps r->uri: lend it the candidate */
    uri = r->uri;
    r->uri = *name;

    v = pt_http_get_flushed_variable(r, filename);

    r->uri = uri;

    if (v == NULL) {
        return PT_ERROR;
    }

    if (v->not_found) {
        return PT_DECLINED;
    }

    path = pt_pnalloc(r->pool, v->len + 1);
    if (path == NULL) {
        return PT_ERROR;
    }

    pt_memcpy(path, v->data, v->len);
    path[v->len] = '\0';

    if (stat((char *) path, &st) == -1) {
        err = errno;

        if (err != ENOENT && err != ENOTDIR && err != ENAMETOOLONG) {
            pt_log_error(PT_LOG_ERR, r->connection->log, err,
                         "stat() \"%s\" failed", (char *) path);
        }

        return PT_DECLINED;
    }

    if ((S_ISDIR(st.st_mode) != 0) != (test_dir != 0)) {
        return PT_DECLINED;
    }

    return PT_OK;
}


static void *
pt_http_try_files_create_main_conf(pt_conf_t *cf)
{
    pt_http_try_files_main_conf_t  *tmcf;

    tmcf = pt_pcalloc(cf->pool, sizeof(pt_http_try_files_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    tmcf->filename = PT_ERROR;

    return tmcf;
}


static void *
pt_http_try_files_create_loc_conf(pt_conf_t *cf)
{
    /* files: NULL, no try_files here */
    return pt_pcalloc(cf->pool, sizeof(pt_http_try_files_loc_conf_t));
}


static pt_int_t
pt_http_try_files_init(pt_conf_t *cf)
{
    pt_str_t                        name = pt_string("request_filename");
    pt_http_handler_pt             *h;
    pt_http_core_main_conf_t       *cmcf;
    pt_http_try_files_main_conf_t  *tmcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);
    tmcf = pt_http_conf_get_module_main_conf(cf, pt_http_try_files_module);


    if (pt_http_variable_declared(cf, &name)) {
        tmcf->filename = pt_http_get_variable_index(cf, &name);
        if (tmcf->filename == PT_ERROR) {
            return PT_ERROR;
        }
    }

    h = pt_array_push(&cmcf->phases[PT_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return PT_ERROR;
    }

    *h = pt_http_try_files_handler;

    return PT_OK;
}


/* try_files FILE ... URI | =CODE | @NAME */
static char *
pt_http_try_files(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_try_files_loc_conf_t  *tlcf = conf;

    pt_str_t                         *value, *last;
    pt_int_t                          code;
    pt_uint_t                         i, n;
    pt_http_try_file_t               *tf;
    pt_http_compile_complex_value_t   ccv;

    if (tlcf->files) {
        return "is duplicate";
    }

    value = cf->args->elts;
    n = cf->args->nelts - 2;

    tlcf->files = pt_array_create(cf->pool, n, sizeof(pt_http_try_file_t));
    if (tlcf->files == NULL) {
        return PT_CONF_ERROR;
    }

    for (i = 1; i <= n; i++) {
        tf = pt_array_push(tlcf->files);
        if (tf == NULL) {
            return PT_CONF_ERROR;
        }

        tf->test_dir = (value[i].len
                        && value[i].data[value[i].len - 1] == '/');

        pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = &tf->name;

        if (pt_http_compile_complex_value(&ccv) != PT_OK) {
            return PT_CONF_ERROR;
        }
    }

    last = &value[cf->args->nelts - 1];

    if (last->len > 1 && last->data[0] == '=') {
        code = pt_atoi(last->data + 1, last->len - 1);

        if (code == PT_ERROR || code < 300 || code > 999) {
            pt_conf_error(cf, "invalid code \"%.*s\"", PT_STR_ARG(*last));
            return PT_CONF_ERROR;
        }

        tlcf->code = code;
        return PT_CONF_OK;
    }

    if (last->len == 0
        || (last->data[0] != '/' && last->data[0] != '@'
            && last->data[0] != '$'))
    {
        pt_conf_error(cf, "the last parameter of \"try_files\" must be a "
                      "URI, \"=CODE\" or \"@NAME\", not \"%.*s\"",
                      PT_STR_ARG(*last));
        return PT_CONF_ERROR;
    }

    pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = last;
    ccv.complex_value = &tlcf->fallback;

    if (pt_http_compile_complex_value(&ccv) != PT_OK) {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}
