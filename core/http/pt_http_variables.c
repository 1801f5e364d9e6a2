/*
 * Variables: declaration, indexing, the core set ($host, $uri, $status,
 * $http_NAME, ...) and compiled complex values.
 */
#include "pt_http.h"
#include <openssl/rand.h>


static pt_int_t pt_http_variable_request_str(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_host(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_header(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_unknown_header_in(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_unknown_header_out(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_cookie(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_argument(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_is_args(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_method(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_scheme(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_server_name(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_server_port(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_server_addr(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_remote_addr(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_remote_port(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_request_length(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_content_length(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_status(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_bytes_sent(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_body_bytes_sent(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_request_time(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_time_local(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_time_iso8601(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_msec(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_connection(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_connection_requests(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_request_id(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_hostname(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_pid(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_version(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
static pt_int_t pt_http_variable_connection_upgrade(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);


pt_http_variable_value_t  pt_http_variable_null_value =
    { 0, 1, 0, 0, 0, (u_char *) "" };
pt_http_variable_value_t  pt_http_variable_true_value =
    { 1, 1, 0, 0, 0, (u_char *) "1" };


static pt_http_variable_t  pt_http_core_variables[] = {

    { pt_string("http_host"), NULL, pt_http_variable_header,
      offsetof(pt_http_request_t, headers_in.host), 0, 0 },

    { pt_string("http_user_agent"), NULL, pt_http_variable_header,
      offsetof(pt_http_request_t, headers_in.user_agent), 0, 0 },

    { pt_string("http_referer"), NULL, pt_http_variable_header,
      offsetof(pt_http_request_t, headers_in.referer), 0, 0 },

    { pt_string("content_type"), NULL, pt_http_variable_header,
      offsetof(pt_http_request_t, headers_in.content_type), 0, 0 },

    { pt_string("content_length"), NULL, pt_http_variable_content_length,
      0, 0, 0 },

    { pt_string("host"), NULL, pt_http_variable_host, 0, 0, 0 },

    { pt_string("uri"), NULL, pt_http_variable_request_str,
      offsetof(pt_http_request_t, uri), PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("document_uri"), NULL, pt_http_variable_request_str,
      offsetof(pt_http_request_t, uri), PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("request_uri"), NULL, pt_http_variable_request_str,
      offsetof(pt_http_request_t, unparsed_uri), 0, 0 },

    { pt_string("request"), NULL, pt_http_variable_request_str,
      offsetof(pt_http_request_t, request_line), 0, 0 },

    { pt_string("args"), NULL, pt_http_variable_request_str,
      offsetof(pt_http_request_t, args),
      PT_HTTP_VAR_CHANGEABLE | PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("query_string"), NULL, pt_http_variable_request_str,
      offsetof(pt_http_request_t, args), PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("is_args"), NULL, pt_http_variable_is_args, 0,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("request_method"), NULL, pt_http_variable_method, 0, 0, 0 },

    { pt_string("server_protocol"), NULL, pt_http_variable_request_str,
      offsetof(pt_http_request_t, http_protocol), 0, 0 },

    { pt_string("scheme"), NULL, pt_http_variable_scheme, 0, 0, 0 },

    { pt_string("server_name"), NULL, pt_http_variable_server_name, 0, 0,
      0 },

    { pt_string("server_port"), NULL, pt_http_variable_server_port, 0, 0,
      0 },

    { pt_string("server_addr"), NULL, pt_http_variable_server_addr, 0, 0,
      0 },

    { pt_string("remote_addr"), NULL, pt_http_variable_remote_addr, 0, 0,
      0 },

    { pt_string("binary_remote_addr"), NULL, pt_http_variable_remote_addr, 1,
      0, 0 },

    { pt_string("remote_port"), NULL, pt_http_variable_remote_port, 0, 0,
      0 },

    { pt_string("request_length"), NULL, pt_http_variable_request_length, 0,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("status"), NULL, pt_http_variable_status, 0,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("bytes_sent"), NULL, pt_http_variable_bytes_sent, 0,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("body_bytes_sent"), NULL, pt_http_variable_body_bytes_sent,
      0, PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("request_time"), NULL, pt_http_variable_request_time, 0,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("time_local"), NULL, pt_http_variable_time_local, 0,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("time_iso8601"), NULL, pt_http_variable_time_iso8601, 0,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("msec"), NULL, pt_http_variable_msec, 0,
      PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("connection"), NULL, pt_http_variable_connection, 0, 0, 0 },

    { pt_string("connection_requests"), NULL,
      pt_http_variable_connection_requests, 0, 0, 0 },

    { pt_string("request_id"), NULL, pt_http_variable_request_id, 0, 0, 0 },

    { pt_string("hostname"), NULL, pt_http_variable_hostname, 0, 0, 0 },

    { pt_string("pid"), NULL, pt_http_variable_pid, 0, 0, 0 },

    { pt_string("portico_version"), NULL, pt_http_variable_version, 0, 0,
      0 },

    { pt_string("connection_upgrade"), NULL,
      pt_http_variable_connection_upgrade, 0, 0, 0 },

    { pt_string("http_"), NULL, pt_http_variable_unknown_header_in, 0,
      PT_HTTP_VAR_PREFIX, 0 },

    { pt_string("sent_http_"), NULL, pt_http_variable_unknown_header_out, 0,
      PT_HTTP_VAR_PREFIX | PT_HTTP_VAR_NOCACHEABLE, 0 },

    { pt_string("cookie_"), NULL, pt_http_variable_cookie, 0,
      PT_HTTP_VAR_PREFIX, 0 },

    { pt_string("arg_"), NULL, pt_http_variable_argument, 0,
      PT_HTTP_VAR_PREFIX | PT_HTTP_VAR_NOCACHEABLE, 0 },

    pt_http_null_variable
};


pt_http_variable_t *
pt_http_add_variable(pt_conf_t *cf, pt_str_t *name, pt_uint_t flags)
{
    pt_uint_t                  i;
    pt_http_variable_t        *v;
    pt_http_core_main_conf_t  *cmcf;

    if (name->len == 0) {
        pt_conf_error(cf, "invalid variable name \"$\"");
        return NULL;
    }

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    v = cmcf->all_variables.elts;

    for (i = 0; i < cmcf->all_variables.nelts; i++) {
        if (!pt_str_caseeq(name, &v[i].name)) {
            continue;
        }

        if (!(v[i].flags & PT_HTTP_VAR_CHANGEABLE)) {
            pt_conf_error(cf, "the duplicate \"%.*s\" variable",
                          PT_STR_ARG(*name));
            return NULL;
        }

        return &v[i];
    }

    v = pt_array_push(&cmcf->all_variables);
    if (v == NULL) {
        return NULL;
    }

    v->name.len = name->len;
    v->name.data = pt_pnalloc(cf->pool, name->len);
    if (v->name.data == NULL) {
        return NULL;
    }

    pt_strlow(v->name.data, name->data, name->len);

    v->set_handler = NULL;
    v->get_handler = NULL;
    v->data = 0;
    v->flags = flags;
    v->index = 0;

    return v;
}


/* Has some module declared the variable (whether or not it is used)? */
pt_uint_t
pt_http_variable_declared(pt_conf_t *cf, pt_str_t *name)
{
    pt_uint_t                  i;
    pt_http_variable_t        *v;
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    v = cmcf->all_variables.elts;

    for (i = 0; i < cmcf->all_variables.nelts; i++) {
        if (pt_str_caseeq(&v[i].name, name)) {
            return 1;
        }
    }

    return 0;
}


pt_int_t
pt_http_get_variable_index(pt_conf_t *cf, pt_str_t *name)
{
    pt_uint_t                  i;
    pt_conf_file_t            *used;
    pt_http_variable_t        *v;
    pt_http_core_main_conf_t  *cmcf;

    if (name->len == 0) {
        pt_conf_error(cf, "invalid variable name \"$\"");
        return PT_ERROR;
    }

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    v = cmcf->variables.elts;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        if (pt_str_caseeq(name, &v[i].name)) {
            return i;
        }
    }

    v = pt_array_push(&cmcf->variables);
    used = pt_array_push(&cmcf->variables_used);
    if (v == NULL || used == NULL) {
        return PT_ERROR;
    }

    /* for the error of a name no module declares, found at the end */
    pt_memzero(used, sizeof(pt_conf_file_t));

    if (cf->conf_file) {
        used->name = cf->conf_file->name;
        used->line = cf->conf_file->line;
    }

    v->name.len = name->len;
    v->name.data = pt_pnalloc(cf->pool, name->len);
    if (v->name.data == NULL) {
        return PT_ERROR;
    }

    pt_strlow(v->name.data, name->data, name->len);

    v->set_handler = NULL;
    v->get_handler = NULL;
    v->data = 0;
    v->flags = 0;
    v->index = cmcf->variables.nelts - 1;

    return v->index;
}


pt_http_variable_value_t *
pt_http_get_indexed_variable(pt_http_request_t *r, pt_uint_t index)
{
    pt_http_variable_t         *v;
    pt_http_variable_value_t   *values;
    pt_http_core_main_conf_t   *cmcf;

    cmcf = pt_http_get_module_main_conf(r, pt_http_core_module);

    if (cmcf->variables.nelts <= index) {
        pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                     "unknown variable index: %lu", (unsigned long) index);
        return NULL;
    }

    values = r->variables;

    if (values[index].not_found || values[index].valid) {
        return &values[index];
    }

    v = cmcf->variables.elts;

    if (v[index].get_handler(r, &values[index], v[index].data) == PT_OK) {
        if (v[index].flags & PT_HTTP_VAR_NOCACHEABLE) {
            values[index].no_cacheable = 1;
        }

        return &values[index];
    }

    values[index].valid = 0;
    values[index].not_found = 1;

    return &values[index];
}


pt_http_variable_value_t *
pt_http_get_flushed_variable(pt_http_request_t *r, pt_uint_t index)
{
    pt_http_variable_value_t  *v;

    v = (pt_http_variable_value_t *) r->variables + index;

    if (v->valid || v->not_found) {
        if (!v->no_cacheable) {
            return v;
        }

        v->valid = 0;
        v->not_found = 0;
    }

    return pt_http_get_indexed_variable(r, index);
}


pt_int_t
pt_http_variables_add_core_vars(pt_conf_t *cf)
{
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    if (pt_array_init(&cmcf->variables, cf->pool, 16,
                      sizeof(pt_http_variable_t)) != PT_OK
        || pt_array_init(&cmcf->variables_used, cf->pool, 16,
                         sizeof(pt_conf_file_t)) != PT_OK
        || pt_array_init(&cmcf->all_variables, cf->pool, 64,
                         sizeof(pt_http_variable_t)) != PT_OK)
    {
        return PT_ERROR;
    }

    return pt_http_add_variables(cf, pt_http_core_variables);
}


/* Declares a module's table of variables, ended by a null entry. */
pt_int_t
pt_http_add_variables(pt_conf_t *cf, pt_http_variable_t *vars)
{
    pt_http_variable_t  *v, *var;

    for (v = vars; v->name.len; v++) {
        var = pt_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return PT_ERROR;
        }

        *var = *v;
    }

    return PT_OK;
}


/*
 * Binds every variable the configuration refers to to its definition:
 * an exact name first, then the longest matching prefix family.
 */
pt_int_t
pt_http_variables_init_vars(pt_conf_t *cf)
{
    size_t                     len;
    pt_uint_t                  i, n;
    pt_conf_file_t            *used, *where;
    pt_http_variable_t        *v, *av, *best;
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    v = cmcf->variables.elts;
    av = cmcf->all_variables.elts;

    for (i = 0; i < cmcf->variables.nelts; i++) {

        best = NULL;
        len = 0;

        for (n = 0; n < cmcf->all_variables.nelts; n++) {

            if (av[n].flags & PT_HTTP_VAR_PREFIX) {
                if (v[i].name.len > av[n].name.len
                    && av[n].name.len > len
                    && pt_strncmp(v[i].name.data, av[n].name.data,
                                  av[n].name.len) == 0)
                {
                    best = &av[n];
                    len = av[n].name.len;
                }

                continue;
            }

            if (pt_str_eq(&v[i].name, &av[n].name)) {
                best = &av[n];
                len = (size_t) -1;
                break;
            }
        }

        if (best == NULL || best->get_handler == NULL) {
            used = cmcf->variables_used.elts;
            where = cf->conf_file;
            cf->conf_file = used[i].line ? &used[i] : NULL;
            pt_conf_error(cf, "unknown \"%.*s\" variable",
                          PT_STR_ARG(v[i].name));
            cf->conf_file = where;
            return PT_ERROR;
        }

        v[i].get_handler = best->get_handler;
        v[i].set_handler = best->set_handler;
        v[i].flags = best->flags & ~PT_HTTP_VAR_PREFIX;

        /* a family's handler gets the full name */
        v[i].data = (best->flags & PT_HTTP_VAR_PREFIX) ? (uintptr_t) &v[i].name
                                                       : best->data;
    }

    return PT_OK;
}


/* the core variables */

static pt_int_t
pt_http_variable_request_str(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    pt_str_t  *s;

    s = (pt_str_t *) ((char *) r + data);

    if (s->data) {
        v->len = s->len;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;
        v->data = s->data;
    } else {
        v->not_found = 1;
    }

    return PT_OK;
}


static pt_int_t
pt_http_variable_host(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    pt_http_core_srv_conf_t  *cscf;

    if (r->headers_in.server.len) {
        v->len = r->headers_in.server.len;
        v->data = r->headers_in.server.data;
    } else {
        cscf = pt_http_get_module_srv_conf(r, pt_http_core_module);
        v->len = cscf->server_name.len;
        v->data = cscf->server_name.data;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


static pt_int_t
pt_http_variable_value(pt_http_variable_value_t *v, u_char *data, size_t len)
{
    v->len = len;
    v->data = data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return PT_OK;
}


/* A known header, all its lines joined with ", " (or "; " for Cookie). */
static pt_int_t
pt_http_variable_headers(pt_http_request_t *r, pt_http_variable_value_t *v,
    pt_table_elt_t *h, u_char sep)
{
    size_t           len;
    u_char          *p;
    pt_table_elt_t  *th;

    if (h == NULL) {
        v->not_found = 1;
        return PT_OK;
    }

    if (h->next == NULL) {
        return pt_http_variable_value(v, h->value.data, h->value.len);
    }

    len = 0;

    for (th = h; th; th = th->next) {
        if (th->hash) {
            len += th->value.len + 2;
        }
    }

    p = pt_pnalloc(r->pool, len);
    if (p == NULL) {
        return PT_ERROR;
    }

    v->data = p;

    for (th = h; th; th = th->next) {
        if (th->hash == 0) {
            continue;
        }

        p = pt_cpymem(p, th->value.data, th->value.len);

        if (th->next) {
            *p++ = sep;
            *p++ = ' ';
        }
    }

    return pt_http_variable_value(v, v->data, p - v->data);
}


static pt_int_t
pt_http_variable_header(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    pt_table_elt_t  *h;

    h = *(pt_table_elt_t **) ((char *) r + data);

    return pt_http_variable_headers(r, v, h, ',');
}


/* Does a header name match the variable name after its prefix? */
static pt_uint_t
pt_http_variable_name_match(pt_table_elt_t *h, pt_str_t *var, size_t prefix)
{
    u_char  ch;
    size_t  n;

    if (h->hash == 0 || h->key.len != var->len - prefix) {
        return 0;
    }

    for (n = 0; n < h->key.len; n++) {
        ch = pt_tolower(h->key.data[n]);

        if (ch == '-') {
            ch = '_';       /* $http_x_forwarded_for names X-Forwarded-For */
        }

        if (var->data[prefix + n] != ch) {
            return 0;
        }
    }

    return 1;
}


/* Every line of the named header, joined with ", " ("; " for cookies). */
static pt_int_t
pt_http_variable_find_header(pt_http_request_t *r, pt_http_variable_value_t *v,
    pt_str_t *var, pt_list_t *headers, size_t prefix)
{
    u_char           sep, *p;
    size_t           len;
    pt_uint_t        i, pass, found;
    pt_list_part_t  *part;
    pt_table_elt_t  *header, *first;

    sep = (var->len - prefix == sizeof("cookie") - 1
           && pt_strncmp(var->data + prefix, "cookie", 6) == 0) ? ';' : ',';

    len = 0;
    found = 0;
    first = NULL;
    p = NULL;

    for (pass = 0; pass < 2; pass++) {

        part = &headers->part;
        header = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }
                part = part->next;
                header = part->elts;
                i = 0;
            }

            if (!pt_http_variable_name_match(&header[i], var, prefix)) {
                continue;
            }

            if (pass == 0) {
                if (found++ == 0) {
                    first = &header[i];
                }

                len += header[i].value.len + 2;
                continue;
            }

            if (p != v->data) {
                *p++ = sep;
                *p++ = ' ';
            }

            p = pt_cpymem(p, header[i].value.data, header[i].value.len);
        }

        if (pass == 0) {
            if (found == 0) {
                v->not_found = 1;
                return PT_OK;
            }

            if (found == 1) {
                return pt_http_variable_value(v, first->value.data,
                                              first->value.len);
            }

            v->data = pt_pnalloc(r->pool, len);
            if (v->data == NULL) {
                return PT_ERROR;
            }

            p = v->data;
        }
    }

    return pt_http_variable_value(v, v->data, p - v->data);
}


static pt_int_t
pt_http_variable_unknown_header_in(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    return pt_http_variable_find_header(r, v, (pt_str_t *) data,
                                        &r->headers_in.headers,
                                        sizeof("http_") - 1);
}


static pt_int_t
pt_http_variable_unknown_header_out(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    int        n;
    u_char    *p;
    pt_str_t  *var;

    var = (pt_str_t *) data;

    if (var->len == sizeof("sent_http_content_type") - 1
        && pt_strncmp(var->data, "sent_http_content_type", var->len) == 0)
    {
        if (r->headers_out.content_type.len == 0) {
            v->not_found = 1;
            return PT_OK;
        }

        return pt_http_variable_value(v, r->headers_out.content_type.data,
                                      r->headers_out.content_type.len);
    }

    if (var->len == sizeof("sent_http_content_length") - 1
        && pt_strncmp(var->data, "sent_http_content_length", var->len) == 0
        && r->headers_out.content_length == NULL)
    {
        if (r->headers_out.content_length_n < 0) {
            v->not_found = 1;
            return PT_OK;
        }

        p = pt_pnalloc(r->pool, PT_INT_T_LEN + 1);
        if (p == NULL) {
            return PT_ERROR;
        }

        n = snprintf((char *) p, PT_INT_T_LEN + 1, "%lld",
                     (long long) r->headers_out.content_length_n);

        return pt_http_variable_value(v, p, n);
    }

    return pt_http_variable_find_header(r, v, var, &r->headers_out.headers,
                                        sizeof("sent_http_") - 1);
}


static pt_int_t
pt_http_variable_cookie(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    u_char          *p, *last, *start, *end;
    pt_str_t        *var, name;
    pt_table_elt_t  *h;

    var = (pt_str_t *) data;
    name.data = var->data + sizeof("cookie_") - 1;
    name.len = var->len - (sizeof("cookie_") - 1);

    for (h = r->headers_in.cookie; h; h = h->next) {
        p = h->value.data;
        last = p + h->value.len;

        while (p < last) {
            while (p < last && (*p == ' ' || *p == '\t' || *p == ';')) {
                p++;
            }

            start = p;

            while (p < last && *p != '=' && *p != ';') {
                p++;
            }

            end = p;

            if (p < last && *p == '=') {
                p++;
            }

            if ((size_t) (end - start) == name.len
                && pt_memcmp(start, name.data, name.len) == 0)
            {
                start = p;

                while (p < last && *p != ';') {
                    p++;
                }

                end = p;

                while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
                    end--;
                }

                return pt_http_variable_value(v, start, end - start);
            }

            while (p < last && *p != ';') {
                p++;
            }
        }
    }

    v->not_found = 1;

    return PT_OK;
}


static pt_int_t
pt_http_variable_argument(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    u_char    *p, *last, *start, *end;
    pt_str_t  *var, name;

    var = (pt_str_t *) data;
    name.data = var->data + sizeof("arg_") - 1;
    name.len = var->len - (sizeof("arg_") - 1);

    p = r->args.data;
    last = p + r->args.len;

    while (p < last) {
        start = p;

        while (p < last && *p != '=' && *p != '&') {
            p++;
        }

        end = p;

        if ((size_t) (end - start) == name.len
            && pt_strncasecmp(start, name.data, name.len) == 0)
        {
            if (p < last && *p == '=') {
                p++;
            }

            start = p;

            while (p < last && *p != '&') {
                p++;
            }

            return pt_http_variable_value(v, start, p - start);
        }

        while (p < last && *p != '&') {
            p++;
        }

        if (p < last) {
            p++;
        }
    }

    v->not_found = 1;

    return PT_OK;
}


static pt_int_t
pt_http_variable_is_args(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    if (r->args.len == 0) {
        return pt_http_variable_value(v, (u_char *) "", 0);
    }

    return pt_http_variable_value(v, (u_char *) "?", 1);
}


static pt_int_t
pt_http_variable_method(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    if (r->method_name.data == NULL) {
        v->not_found = 1;
        return PT_OK;
    }

    return pt_http_variable_value(v, r->method_name.data, r->method_name.len);
}


static pt_int_t
pt_http_variable_scheme(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    /* plain HTTP that came to a TLS port is "http", as in nginx */
    if (r->http_connection && r->http_connection->ssl
        && !r->http_connection->plain_http)
    {
        return pt_http_variable_value(v, (u_char *) "https", 5);
    }

    return pt_http_variable_value(v, (u_char *) "http", 4);
}


static pt_int_t
pt_http_variable_server_name(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    pt_http_core_srv_conf_t  *cscf;

    cscf = pt_http_get_module_srv_conf(r, pt_http_core_module);

    return pt_http_variable_value(v, cscf->server_name.data,
                                  cscf->server_name.len);
}


static pt_int_t
pt_http_variable_print_num(pt_http_request_t *r, pt_http_variable_value_t *v,
    long long num)
{
    int      n;
    u_char  *p;

    p = pt_pnalloc(r->pool, PT_INT_T_LEN + 1);
    if (p == NULL) {
        return PT_ERROR;
    }

    n = snprintf((char *) p, PT_INT_T_LEN + 1, "%lld", num);

    return pt_http_variable_value(v, p, n);
}


static pt_int_t
pt_http_variable_server_port(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    if (pt_connection_local_sockaddr(r->connection, NULL, 0) != PT_OK) {
        return PT_ERROR;
    }

    return pt_http_variable_print_num(r, v,
               pt_inet_get_port(r->connection->local_sockaddr));
}


static pt_int_t
pt_http_variable_server_addr(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    pt_str_t  s;

    s.data = pt_pnalloc(r->pool, PT_SOCKADDR_STRLEN);
    if (s.data == NULL) {
        return PT_ERROR;
    }

    s.len = PT_SOCKADDR_STRLEN;

    if (pt_connection_local_sockaddr(r->connection, &s, 0) != PT_OK) {
        return PT_ERROR;
    }

    return pt_http_variable_value(v, s.data, s.len);
}


static pt_int_t
pt_http_variable_remote_addr(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    struct sockaddr  *sa;

    if (data == 0) {
        return pt_http_variable_value(v, r->connection->addr_text.data,
                                      r->connection->addr_text.len);
    }

    /* $binary_remote_addr: the address bytes, for keys */
    sa = r->connection->sockaddr;

    switch (sa->sa_family) {
    case AF_INET6:
        return pt_http_variable_value(v,
                   (u_char *) &((struct sockaddr_in6 *) sa)->sin6_addr, 16);
    case AF_INET:
        return pt_http_variable_value(v,
                   (u_char *) &((struct sockaddr_in *) sa)->sin_addr, 4);
    default:
        return pt_http_variable_value(v, (u_char *) "", 0);
    }
}


static pt_int_t
pt_http_variable_remote_port(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    if (r->connection->sockaddr->sa_family == AF_UNIX) {
        return pt_http_variable_value(v, (u_char *) "", 0);
    }

    return pt_http_variable_print_num(r, v,
               pt_inet_get_port(r->connection->sockaddr));
}


static pt_int_t
pt_http_variable_request_length(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    return pt_http_variable_print_num(r, v, (long long) r->request_length);
}


static pt_int_t
pt_http_variable_content_length(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    if (r->headers_in.content_length) {
        return pt_http_variable_value(v,
                                      r->headers_in.content_length->value.data,
                                      r->headers_in.content_length->value.len);
    }

    v->not_found = 1;

    return PT_OK;
}


static pt_int_t
pt_http_variable_status(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    pt_uint_t  status;

    status = r->err_status ? r->err_status : r->headers_out.status;

    return pt_http_variable_print_num(r, v, (long long) status);
}


static pt_int_t
pt_http_variable_bytes_sent(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    return pt_http_variable_print_num(r, v, (long long) r->connection->sent);
}


static pt_int_t
pt_http_variable_body_bytes_sent(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    off_t  sent;

    sent = r->connection->sent - (off_t) r->header_size;

    return pt_http_variable_print_num(r, v, (long long) pt_max(sent, 0));
}


static pt_int_t
pt_http_variable_request_time(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    int           n;
    u_char       *p;
    pt_msec_t     ms;

    p = pt_pnalloc(r->pool, PT_INT_T_LEN + 5);
    if (p == NULL) {
        return PT_ERROR;
    }

    ms = pt_current_msec - r->start_msec;

    n = snprintf((char *) p, PT_INT_T_LEN + 5, "%llu.%03llu",
                 (unsigned long long) (ms / 1000),
                 (unsigned long long) (ms % 1000));

    return pt_http_variable_value(v, p, n);
}


static pt_int_t
pt_http_variable_cached_time(pt_http_request_t *r,
    pt_http_variable_value_t *v, volatile pt_str_t *t)
{
    u_char  *p;

    p = pt_pnalloc(r->pool, t->len);
    if (p == NULL) {
        return PT_ERROR;
    }

    pt_memcpy(p, (u_char *) t->data, t->len);

    return pt_http_variable_value(v, p, t->len);
}


static pt_int_t
pt_http_variable_time_local(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    return pt_http_variable_cached_time(r, v, &pt_cached_http_log_time);
}


static pt_int_t
pt_http_variable_time_iso8601(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    return pt_http_variable_cached_time(r, v, &pt_cached_http_log_iso8601);
}


static pt_int_t
pt_http_variable_msec(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    int         n;
    u_char     *p;
    pt_time_t  *tp;

    p = pt_pnalloc(r->pool, PT_INT_T_LEN + 5);
    if (p == NULL) {
        return PT_ERROR;
    }

    tp = pt_timeofday();

    n = snprintf((char *) p, PT_INT_T_LEN + 5, "%lld.%03u",
                 (long long) tp->sec, (unsigned) tp->msec);

    return pt_http_variable_value(v, p, n);
}


static pt_int_t
pt_http_variable_connection(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    return pt_http_variable_print_num(r, v,
                                      (long long) r->connection->number);
}


static pt_int_t
pt_http_variable_connection_requests(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    return pt_http_variable_print_num(r, v,
                                      (long long) r->connection->requests);
}


static pt_int_t
pt_http_variable_request_id(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    u_char  *id;
    u_char   random_bytes[16];

    id = pt_pnalloc(r->pool, 32);
    if (id == NULL) {
        return PT_ERROR;
    }

    if (RAND_bytes(random_bytes, 16) != 1) {
        return PT_ERROR;
    }

    pt_hex_dump(id, random_bytes, 16);

    return pt_http_variable_value(v, id, 32);
}


static pt_int_t
pt_http_variable_hostname(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    return pt_http_variable_value(v, pt_cycle->hostname.data,
                                  pt_cycle->hostname.len);
}


static pt_int_t
pt_http_variable_pid(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    return pt_http_variable_print_num(r, v, (long long) getpid());
}


static pt_int_t
pt_http_variable_version(pt_http_request_t *r, pt_http_variable_value_t *v,
    uintptr_t data)
{
    return pt_http_variable_value(v, (u_char *) PORTICO_VERSION,
                                  sizeof(PORTICO_VERSION) - 1);
}


/* nginx's map idiom built in: "upgrade" when the client asked, else "close". */
static pt_int_t
pt_http_variable_connection_upgrade(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data)
{
    if (r->headers_in.upgrade) {
        return pt_http_variable_value(v, (u_char *) "upgrade", 7);
    }

    return pt_http_variable_value(v, (u_char *) "close", 5);
}


/* complex values */

pt_int_t
pt_http_compile_complex_value(pt_http_compile_complex_value_t *ccv)
{
    u_char              *p, *last, *start;
    pt_int_t             index;
    pt_str_t             name;
    pt_uint_t            n, bracket;
    pt_array_t           parts;
    pt_http_cv_part_t   *part;
    pt_http_core_main_conf_t  *cmcf;

    ccv->complex_value->value = *ccv->value;
    ccv->complex_value->parts = NULL;
    ccv->complex_value->nparts = 0;

    p = ccv->value->data;
    last = p + ccv->value->len;

    if (pt_strlchr(p, last, '$') == NULL) {
        return PT_OK;
    }

    if (pt_array_init(&parts, ccv->cf->pool, 4, sizeof(pt_http_cv_part_t))
        != PT_OK)
    {
        return PT_ERROR;
    }

    while (p < last) {
        start = p;

        while (p < last && *p != '$') {
            p++;
        }

        if (p > start) {
            part = pt_array_push(&parts);
            if (part == NULL) {
                return PT_ERROR;
            }

            part->type = PT_HTTP_CV_LITERAL;
            part->text.data = start;
            part->text.len = p - start;
        }

        if (p == last) {
            break;
        }

        p++;    /* "$" */

        if (p < last && *p >= '1' && *p <= '9') {
            /* a regex capture */
            part = pt_array_push(&parts);
            if (part == NULL) {
                return PT_ERROR;
            }

            part->type = PT_HTTP_CV_CAPTURE;
            part->index = *p - '0';
            p++;

            cmcf = pt_http_conf_get_module_main_conf(ccv->cf,
                                                     pt_http_core_module);
            cmcf->ncaptures = pt_max(cmcf->ncaptures, part->index);
            continue;
        }

        bracket = 0;

        if (p < last && *p == '{') {
            bracket = 1;
            p++;
        }

        name.data = p;

        for (n = 0; p < last; p++, n++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '_'))
            {
                break;
            }
        }

        name.len = n;

        if (bracket) {
            if (p == last || *p != '}') {
                pt_conf_error(ccv->cf, "the closing bracket in \"%.*s\" "
                              "variable is missing", PT_STR_ARG(name));
                return PT_ERROR;
            }

            p++;
        }

        if (name.len == 0) {
            pt_conf_error(ccv->cf, "invalid variable name in \"%.*s\"",
                          PT_STR_ARG(*ccv->value));
            return PT_ERROR;
        }

        index = pt_http_get_variable_index(ccv->cf, &name);
        if (index == PT_ERROR) {
            return PT_ERROR;
        }

        part = pt_array_push(&parts);
        if (part == NULL) {
            return PT_ERROR;
        }

        part->type = PT_HTTP_CV_VARIABLE;
        part->index = (pt_uint_t) index;
    }

    ccv->complex_value->parts = parts.elts;
    ccv->complex_value->nparts = parts.nelts;

    return PT_OK;
}


pt_int_t
pt_http_complex_value(pt_http_request_t *r, pt_http_complex_value_t *cv,
    pt_str_t *value)
{
    size_t                     len;
    u_char                    *p;
    pt_uint_t                  i, n;
    pt_http_cv_part_t         *part;
    pt_http_variable_value_t  *v;

    if (cv->parts == NULL) {
        *value = cv->value;
        return PT_OK;
    }

    part = cv->parts;

    if (cv->nparts == 1 && part[0].type == PT_HTTP_CV_VARIABLE) {
        /*
         * A lone variable ("$proxy_host", "$remote_addr"): its value lives
         * in the request's memory as long as the request does, so it is
         * referenced, not copied.
         */
        v = pt_http_get_flushed_variable(r, part[0].index);
        if (v == NULL) {
            return PT_ERROR;
        }

        if (v->not_found || v->len == 0) {
            value->len = 0;
            value->data = (u_char *) "";

        } else {
            value->len = v->len;
            value->data = v->data;
        }

        return PT_OK;
    }

    /* two passes: the length, then the bytes */

    len = 0;

    for (i = 0; i < cv->nparts; i++) {
        switch (part[i].type) {

        case PT_HTTP_CV_LITERAL:
            len += part[i].text.len;
            break;

        case PT_HTTP_CV_VARIABLE:
            v = pt_http_get_flushed_variable(r, part[i].index);
            if (v == NULL) {
                return PT_ERROR;
            }

            if (!v->not_found) {
                len += v->len;
            }
            break;

        default:
            n = part[i].index;
            if (r->captures && n < r->ncaptures) {
                len += r->captures[2 * n + 1] - r->captures[2 * n];
            }
            break;
        }
    }

    p = pt_pnalloc(r->pool, len);
    if (p == NULL && len) {
        return PT_ERROR;
    }

    value->data = p;
    value->len = len;

    for (i = 0; i < cv->nparts; i++) {
        switch (part[i].type) {

        case PT_HTTP_CV_LITERAL:
            p = pt_cpymem(p, part[i].text.data, part[i].text.len);
            break;

        case PT_HTTP_CV_VARIABLE:
            /* cached by the first pass, unless it cannot be */
            v = (pt_http_variable_value_t *) r->variables + part[i].index;

            if (!v->valid && !v->not_found) {
                v = pt_http_get_indexed_variable(r, part[i].index);
                if (v == NULL) {
                    return PT_ERROR;
                }
            }

            if (!v->not_found) {
                p = pt_cpymem(p, v->data, v->len);
            }
            break;

        default:
            n = part[i].index;
            if (r->captures && n < r->ncaptures) {
                p = pt_cpymem(p, r->captures_data + r->captures[2 * n],
                              r->captures[2 * n + 1] - r->captures[2 * n]);
            }
            break;
        }
    }

    /* a no-cacheable variable may have changed length between passes */
    value->len = p - value->data;

    pt_assert(value->len <= len);

    return PT_OK;
}


char *
pt_http_set_complex_value_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char  *p = conf;

    pt_str_t                          *value;
    pt_http_complex_value_t          **cv;
    pt_http_compile_complex_value_t    ccv;

    cv = (pt_http_complex_value_t **) (p + cmd->offset);

    if (*cv != NULL && *cv != PT_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *cv = pt_palloc(cf->pool, sizeof(pt_http_complex_value_t));
    if (*cv == NULL) {
        return PT_CONF_ERROR;
    }

    value = cf->args->elts;

    pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = *cv;

    if (pt_http_compile_complex_value(&ccv) != PT_OK) {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}
