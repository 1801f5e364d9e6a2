/*
 * The http core module: server, listen, server_name and location blocks,
 * connection-level limits and timeouts, the phase checkers, and the lookup
 * of virtual servers and locations.
 */
#include "pt_http.h"


static void *pt_http_core_create_main_conf(pt_conf_t *cf);
static char *pt_http_core_init_main_conf(pt_conf_t *cf, void *conf);
static void *pt_http_core_create_srv_conf(pt_conf_t *cf);
static char *pt_http_core_merge_srv_conf(pt_conf_t *cf, void *parent,
    void *child);
static void *pt_http_core_create_loc_conf(pt_conf_t *cf);
static char *pt_http_core_merge_loc_conf(pt_conf_t *cf, void *parent,
    void *child);

static char *pt_http_core_server(pt_conf_t *cf, pt_command_t *cmd,
    void *dummy);
static char *pt_http_core_location(pt_conf_t *cf, pt_command_t *cmd,
    void *dummy);
static char *pt_http_core_listen(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_core_server_name(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_core_keepalive(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_core_resolver(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_core_internal(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static void pt_http_core_exit_process(pt_cycle_t *cycle);
static pt_int_t pt_http_core_find_location(pt_http_request_t *r,
    pt_http_core_loc_conf_t *level);



static pt_conf_enum_t  pt_http_core_server_tokens[] = {
    { pt_string("off"), PT_HTTP_SERVER_TOKENS_OFF },
    { pt_string("on"), PT_HTTP_SERVER_TOKENS_ON },
    { pt_null_string, 0 }
};

static pt_conf_num_bounds_t  pt_http_core_positive = {
    pt_conf_check_num_bounds, 1, -1
};

static pt_conf_enum_t  pt_http_core_lingering_close[] = {
    { pt_string("off"), PT_HTTP_LINGERING_OFF },
    { pt_string("on"), PT_HTTP_LINGERING_ON },
    { pt_string("always"), PT_HTTP_LINGERING_ALWAYS },
    { pt_null_string, 0 }
};

static char *pt_http_core_error_page(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_core_error_log(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
static char *pt_http_core_temp_path(pt_conf_t *cf, void *post, void *data);

static pt_conf_post_t  pt_http_core_temp_path_post = {
    pt_http_core_temp_path
};


static pt_command_t  pt_http_core_commands[] = {

    { pt_string("server"),
      PT_HTTP_MAIN_CONF | PT_CONF_BLOCK | PT_CONF_NOARGS,
      pt_http_core_server,
      0,
      0,
      NULL },

    { pt_string("listen"),
      PT_HTTP_SRV_CONF | PT_CONF_1MORE,
      pt_http_core_listen,
      PT_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { pt_string("server_name"),
      PT_HTTP_SRV_CONF | PT_CONF_1MORE,
      pt_http_core_server_name,
      PT_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { pt_string("location"),
      PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_BLOCK | PT_CONF_TAKE12,
      pt_http_core_location,
      PT_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { pt_string("client_header_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_core_srv_conf_t, client_header_timeout),
      NULL },

    { pt_string("client_header_buffer_size"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE1,
      pt_conf_set_size_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_core_srv_conf_t, client_header_buffer_size),
      NULL },

    { pt_string("large_client_header_buffers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_TAKE2,
      pt_conf_set_bufs_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_core_srv_conf_t, large_client_header_buffers),
      NULL },

    { pt_string("merge_slashes"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_core_srv_conf_t, merge_slashes),
      NULL },

    { pt_string("ignore_invalid_headers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_core_srv_conf_t, ignore_invalid_headers),
      NULL },

    { pt_string("underscores_in_headers"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_SRV_CONF_OFFSET,
      offsetof(pt_http_core_srv_conf_t, underscores_in_headers),
      NULL },

    { pt_string("default_type"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_str_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, default_type),
      NULL },

    { pt_string("internal"),
      PT_HTTP_LOC_CONF | PT_CONF_NOARGS,
      pt_http_core_internal,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("send_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, send_timeout),
      NULL },

    { pt_string("keepalive_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_http_core_keepalive,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("keepalive_requests"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_num_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, keepalive_requests),
      &pt_http_core_positive },

    { pt_string("server_tokens"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_enum_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, server_tokens),
      &pt_http_core_server_tokens },

    { pt_string("client_max_body_size"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_off_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, client_max_body_size),
      NULL },

    { pt_string("client_body_buffer_size"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_size_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, client_body_buffer_size),
      NULL },

    { pt_string("client_body_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, client_body_timeout),
      NULL },

    { pt_string("client_body_temp_path"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_str_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, client_body_temp_path),
      &pt_http_core_temp_path_post },

    { pt_string("lingering_close"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_enum_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, lingering_close),
      &pt_http_core_lingering_close },

    { pt_string("lingering_time"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, lingering_time),
      NULL },

    { pt_string("lingering_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, lingering_timeout),
      NULL },

    { pt_string("postpone_output"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_size_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, postpone_output),
      NULL },

    { pt_string("error_log"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_http_core_error_log,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("error_page"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_2MORE,
      pt_http_core_error_page,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("recursive_error_pages"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, recursive_error_pages),
      NULL },

    { pt_string("tcp_nopush"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, tcp_nopush),
      NULL },

    { pt_string("tcp_nodelay"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_FLAG,
      pt_conf_set_flag_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, tcp_nodelay),
      NULL },

    { pt_string("resolver"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_1MORE,
      pt_http_core_resolver,
      PT_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { pt_string("resolver_timeout"),
      PT_HTTP_MAIN_CONF | PT_HTTP_SRV_CONF | PT_HTTP_LOC_CONF | PT_CONF_TAKE1,
      pt_conf_set_msec_slot,
      PT_HTTP_LOC_CONF_OFFSET,
      offsetof(pt_http_core_loc_conf_t, resolver_timeout),
      NULL },

    pt_null_command
};


static pt_http_module_t  pt_http_core_module_ctx = {
    pt_http_variables_add_core_vars,        /* preconfiguration */
    NULL,                                   /* postconfiguration */
    pt_http_core_create_main_conf,
    pt_http_core_init_main_conf,
    pt_http_core_create_srv_conf,
    pt_http_core_merge_srv_conf,
    pt_http_core_create_loc_conf,
    pt_http_core_merge_loc_conf
};


pt_module_t  pt_http_core_module = {
    .ctx = &pt_http_core_module_ctx,
    .commands = pt_http_core_commands,
    .type = PT_HTTP_MODULE,
    .exit_process = pt_http_core_exit_process,
};


/* the phase engine */

void
pt_http_handler(pt_http_request_t *r)
{
    pt_http_core_main_conf_t  *cmcf;

    r->connection->log->action = NULL;

    cmcf = pt_http_get_module_main_conf(r, pt_http_core_module);

    if (!r->internal) {
        r->phase_handler = 0;

        /*
         * The server's own level holds until a location is found: its
         * keep-alive limits apply to what the server rewrite phase sends.
         */
        pt_http_update_location_config(r);

    } else {
        r->phase_handler = cmcf->phase_engine.server_rewrite_index;
    }

    r->write_event_handler = pt_http_core_run_phases;

    pt_http_core_run_phases(r);
}


void
pt_http_core_run_phases(pt_http_request_t *r)
{
    pt_int_t                   rc;
    pt_http_phase_handler_t   *ph;
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_get_module_main_conf(r, pt_http_core_module);

    ph = cmcf->phase_engine.handlers;

    while (ph[r->phase_handler].checker) {

        rc = ph[r->phase_handler].checker(r, &ph[r->phase_handler]);

        if (rc == PT_OK) {
            return;
        }
    }
}


/* POST_READ, PREACCESS, PRECONTENT: OK ends the phase, DECLINED moves on. */
pt_int_t
pt_http_core_generic_phase(pt_http_request_t *r, pt_http_phase_handler_t *ph)
{
    pt_int_t  rc;

    rc = ph->handler(r);

    if (rc == PT_OK) {
        r->phase_handler = ph->next;
        return PT_AGAIN;
    }

    if (rc == PT_DECLINED) {
        r->phase_handler++;
        return PT_AGAIN;
    }

    if (rc == PT_AGAIN || rc == PT_DONE) {
        return PT_OK;
    }

    pt_http_finalize_request(r, rc);

    return PT_OK;
}


pt_int_t
pt_http_core_rewrite_phase(pt_http_request_t *r, pt_http_phase_handler_t *ph)
{
    pt_int_t  rc;

    rc = ph->handler(r);

    if (rc == PT_DECLINED) {
        r->phase_handler++;
        return PT_AGAIN;
    }

    if (rc == PT_DONE) {
        return PT_OK;
    }

    pt_http_finalize_request(r, rc);

    return PT_OK;
}


pt_int_t
pt_http_core_find_config_phase(pt_http_request_t *r,
    pt_http_phase_handler_t *ph)
{
    pt_int_t                  rc;
    pt_http_core_loc_conf_t  *clcf;

    r->content_handler = NULL;

    /* start from the server's own level */
    r->loc_conf = ((pt_http_core_srv_conf_t *)
                   pt_http_get_module_srv_conf(r, pt_http_core_module))
                  ->ctx->loc_conf;

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    rc = pt_http_core_find_location(r, clcf);

    if (rc == PT_ERROR) {
        pt_http_finalize_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
        return PT_OK;
    }

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    if (!r->internal && clcf->internal) {
        pt_http_finalize_request(r, PT_HTTP_NOT_FOUND);
        return PT_OK;
    }

    pt_http_update_location_config(r);

    if (clcf->client_max_body_size && !r->discard_body && !r->error_page
        && r->headers_in.content_length_n > clcf->client_max_body_size)
    {
        /* refused before a byte of the body is read */
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "client intended to send too large body: %lld bytes",
                     (long long) r->headers_in.content_length_n);
        r->lingering_close = 1;
        r->keepalive = 0;
        pt_http_finalize_request(r, PT_HTTP_REQUEST_ENTITY_TOO_LARGE);
        return PT_OK;
    }

    r->phase_handler++;
    return PT_AGAIN;
}


pt_int_t
pt_http_core_post_rewrite_phase(pt_http_request_t *r,
    pt_http_phase_handler_t *ph)
{
    /* a rewrite that changed the URI sends the request back to find config */
    r->phase_handler++;
    return PT_AGAIN;
}


pt_int_t
pt_http_core_access_phase(pt_http_request_t *r, pt_http_phase_handler_t *ph)
{
    pt_int_t  rc;

    if (r != r->main) {
        r->phase_handler = ph->next;
        return PT_AGAIN;
    }

    rc = ph->handler(r);

    if (rc == PT_DECLINED) {
        r->phase_handler++;
        return PT_AGAIN;
    }

    if (rc == PT_AGAIN || rc == PT_DONE) {
        return PT_OK;
    }

    if (rc == PT_OK) {
        r->access_code = 0;
        r->phase_handler++;
        return PT_AGAIN;
    }

    /* a refusal; with "satisfy any" a later handler might still allow */
    r->access_code = rc;
    r->phase_handler++;
    return PT_AGAIN;
}


pt_int_t
pt_http_core_post_access_phase(pt_http_request_t *r,
    pt_http_phase_handler_t *ph)
{
    pt_int_t  access_code;

    access_code = r->access_code;

    if (access_code) {
        r->access_code = 0;
        pt_http_finalize_request(r, access_code);
        return PT_OK;
    }

    r->phase_handler++;
    return PT_AGAIN;
}


pt_int_t
pt_http_core_content_phase(pt_http_request_t *r, pt_http_phase_handler_t *ph)
{
    pt_int_t  rc;

    if (r->content_handler) {
        r->write_event_handler = pt_http_request_empty_handler;
        pt_http_finalize_request(r, r->content_handler(r));
        return PT_OK;
    }

    if (ph->handler) {
        rc = ph->handler(r);

        if (rc != PT_DECLINED) {
            pt_http_finalize_request(r, rc);
            return PT_OK;
        }

        r->phase_handler++;
        return PT_AGAIN;
    }

    /* no module produced content */
    pt_http_finalize_request(r, PT_HTTP_NOT_FOUND);

    return PT_OK;
}


void
pt_http_update_location_config(pt_http_request_t *r)
{
    pt_http_core_loc_conf_t  *clcf;

    clcf = pt_http_get_module_loc_conf(r, pt_http_core_module);

    if (clcf->error_log) {
        /* this location's error_log replaces the server-wide one */
        r->connection->log->file = clcf->error_log->file;
        r->connection->log->log_level = clcf->error_log->log_level;
        r->connection->log->next = clcf->error_log->next;
    }

    if (r->keepalive) {
        if (clcf->keepalive_timeout == 0 || pt_exiting) {
            /* a stopping server keeps no connection: says so */
            r->keepalive = 0;

        } else if (r->connection->requests >= clcf->keepalive_requests) {
            r->keepalive = 0;
        }
    }

    if (clcf->handler) {
        r->content_handler = clcf->handler;
    }
}


/* Is the location name a prefix of the URI? Returns its length or 0. */
static size_t
pt_http_location_prefix(pt_http_core_loc_conf_t *clcf, pt_str_t *uri)
{
    if (clcf->name.len > uri->len) {
        return 0;
    }

    if (pt_memcmp(uri->data, clcf->name.data, clcf->name.len) != 0) {
        return 0;
    }

    return clcf->name.len;
}


static void
pt_http_set_location(pt_http_request_t *r, pt_http_core_loc_conf_t *clcf)
{
    r->loc_conf = clcf->loc_conf;
}


/*
 * nginx's order: an exact match wins at once; otherwise the longest prefix
 * is remembered (and searched further inside); unless it is "^~", the
 * regular expressions are tried in the order they appear, innermost first,
 * and the first that matches wins; failing those, the longest prefix.
 *
 * Returns PT_DONE when an exact or regex location was chosen, PT_OK when
 * a prefix (or nothing) was, PT_ERROR on a regex failure.
 */
static pt_int_t
pt_http_core_find_location(pt_http_request_t *r,
    pt_http_core_loc_conf_t *level)
{
    size_t                     n, best_len;
    pt_int_t                   rc;
    pt_uint_t                  i, noregex;
    pt_http_core_loc_conf_t  **clcfp, *best;
    pt_http_core_main_conf_t  *cmcf;

    if (level->exact_locations) {
        clcfp = level->exact_locations->elts;

        for (i = 0; i < level->exact_locations->nelts; i++) {
            if (pt_str_eq(&clcfp[i]->name, &r->uri)) {
                pt_http_set_location(r, clcfp[i]);
                return PT_DONE;
            }
        }
    }

    best = NULL;
    best_len = 0;

    if (level->prefix_locations) {
        clcfp = level->prefix_locations->elts;

        for (i = 0; i < level->prefix_locations->nelts; i++) {
            n = pt_http_location_prefix(clcfp[i], &r->uri);

            if (n > best_len || (n && best == NULL)) {
                best = clcfp[i];
                best_len = n;
            }
        }
    }

    noregex = 0;

    if (best) {
        pt_http_set_location(r, best);

        rc = pt_http_core_find_location(r, best);

        if (rc != PT_OK) {
            return rc;
        }

        noregex = best->noregex;
    }

    if (noregex || level->regex_locations == NULL) {
        return PT_OK;
    }

    clcfp = level->regex_locations->elts;

    cmcf = pt_http_get_module_main_conf(r, pt_http_core_module);

    if (cmcf->ncaptures && r->captures == NULL) {
        /* $1..$9 of the configuration read the matching location's */
        r->captures = pt_palloc(r->pool,
                                (cmcf->ncaptures + 1) * 2 * sizeof(int));
        if (r->captures == NULL) {
            return PT_ERROR;
        }
    }

    for (i = 0; i < level->regex_locations->nelts; i++) {
        int  captures[3];

        if (cmcf->ncaptures) {
            rc = pt_regex_exec(clcfp[i]->regex, &r->uri, r->captures,
                               (cmcf->ncaptures + 1) * 2);

            if (rc > 0) {
                r->ncaptures = rc;
                r->captures_data = r->uri.data;
            }

        } else {
            rc = pt_regex_exec(clcfp[i]->regex, &r->uri, captures, 3);
        }

        if (rc == PT_DECLINED) {
            continue;
        }

        if (rc == PT_ERROR) {
            pt_log_error(PT_LOG_ALERT, r->connection->log, 0,
                         "regex match of \"%.*s\" against \"%.*s\" failed",
                         PT_STR_ARG(clcfp[i]->name), PT_STR_ARG(r->uri));
            return PT_ERROR;
        }

        pt_http_set_location(r, clcfp[i]);

        rc = pt_http_core_find_location(r, clcfp[i]);

        return (rc == PT_ERROR) ? PT_ERROR : PT_DONE;
    }

    return PT_OK;
}


/*
 * Picks the server for the Host value among those of the connection's
 * address: exact, wildcard, then regex names; the default server
 * otherwise. host must be lowercase without a port.
 */
pt_int_t
pt_http_find_virtual_server(pt_connection_t *c,
    pt_http_virtual_names_t *virtual_names, pt_str_t *host,
    pt_http_request_t *r, pt_http_core_srv_conf_t **cscfp)
{
    pt_int_t                  rc;
    pt_uint_t                 i, key;
    pt_http_core_srv_conf_t  *cscf;
    int                       captures[3];

    if (virtual_names == NULL) {
        return PT_DECLINED;
    }

    if (host->len == 0) {
        if (virtual_names->no_host_server) {
            *cscfp = virtual_names->no_host_server;
            return PT_OK;
        }

        return PT_DECLINED;
    }

    key = pt_hash_key(host->data, host->len);

    cscf = pt_hash_find_combined(&virtual_names->names, key, host->data,
                                 host->len);

    if (cscf) {
        *cscfp = cscf;
        return PT_OK;
    }

    for (i = 0; i < virtual_names->nregex; i++) {

        rc = pt_regex_exec(virtual_names->regex[i].regex, host, captures, 3);

        if (rc == PT_DECLINED) {
            continue;
        }

        if (rc == PT_ERROR) {
            return PT_ERROR;
        }

        *cscfp = virtual_names->regex[i].server;
        return PT_OK;
    }

    return PT_DECLINED;
}


pt_int_t
pt_http_set_virtual_server(pt_http_request_t *r, pt_str_t *host)
{
    pt_int_t                  rc;
    pt_http_addr_conf_t      *addr_conf;
    pt_http_core_srv_conf_t  *cscf;

    addr_conf = r->http_connection->addr_conf;

    rc = pt_http_find_virtual_server(r->connection, addr_conf->virtual_names,
                                     host, r, &cscf);

    if (rc == PT_ERROR) {
        return PT_ERROR;
    }

    if (rc == PT_DECLINED) {
        return PT_OK;       /* the default server, already set */
    }

    r->srv_conf = cscf->ctx->srv_conf;
    r->loc_conf = cscf->ctx->loc_conf;

    return PT_OK;
}


pt_int_t
pt_http_internal_redirect(pt_http_request_t *r, pt_str_t *uri, pt_str_t *args)
{
    pt_http_core_srv_conf_t  *cscf;

    r->uri = *uri;

    if (args && args->len) {
        r->args = *args;
    } else if (args) {
        pt_str_null(&r->args);
    }

    r->uri_changes--;

    if (r->uri_changes == 0) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "rewrite or internal redirection cycle "
                     "while internally redirecting to \"%.*s\"",
                     PT_STR_ARG(*uri));
        r->error_page = 1;      /* no error page would help now */
        pt_http_finalize_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
        return PT_DONE;
    }

    /* the extension of the new URI */
    pt_str_null(&r->exten);

    cscf = pt_http_get_module_srv_conf(r, pt_http_core_module);
    r->loc_conf = cscf->ctx->loc_conf;

    pt_memzero(r->ctx, sizeof(void *) * pt_http_max_module);

    r->internal = 1;

    pt_http_handler(r);

    return PT_DONE;
}


pt_int_t
pt_http_named_location(pt_http_request_t *r, pt_str_t *name)
{
    pt_uint_t                  i;
    pt_http_core_srv_conf_t   *cscf;
    pt_http_core_loc_conf_t  **clcfp, *clcf;
    pt_http_core_main_conf_t  *cmcf;

    r->uri_changes--;

    if (r->uri_changes == 0) {
        pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                     "rewrite or internal redirection cycle "
                     "while redirecting to named location \"%.*s\"",
                     PT_STR_ARG(*name));
        r->error_page = 1;      /* no error page would help now */
        pt_http_finalize_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);
        return PT_DONE;
    }

    cscf = pt_http_get_module_srv_conf(r, pt_http_core_module);
    clcf = cscf->ctx->loc_conf[pt_http_core_module.ctx_index];

    if (clcf->named_locations) {
        clcfp = clcf->named_locations->elts;

        for (i = 0; i < clcf->named_locations->nelts; i++) {
            if (!pt_str_eq(name, &clcfp[i]->name)) {
                continue;
            }

            r->loc_conf = clcfp[i]->loc_conf;
            pt_memzero(r->ctx, sizeof(void *) * pt_http_max_module);
            r->internal = 1;

            pt_http_update_location_config(r);

            cmcf = pt_http_get_module_main_conf(r, pt_http_core_module);
            r->phase_handler = cmcf->phase_engine.location_rewrite_index;
            r->write_event_handler = pt_http_core_run_phases;

            pt_http_core_run_phases(r);

            return PT_DONE;
        }
    }

    pt_log_error(PT_LOG_ERR, r->connection->log, 0,
                 "could not find named location \"%.*s\"", PT_STR_ARG(*name));

    pt_http_finalize_request(r, PT_HTTP_INTERNAL_SERVER_ERROR);

    return PT_DONE;
}


/*
 * At process exit, the resolvers' c-ares channels close their sockets
 * while the event loop's connections still exist.
 */
static void
pt_http_core_exit_process(pt_cycle_t *cycle)
{
    pt_resolver_exit_process();
}


/* configuration */

static void *
pt_http_core_create_main_conf(pt_conf_t *cf)
{
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_pcalloc(cf->pool, sizeof(pt_http_core_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    if (pt_array_init(&cmcf->servers, cf->pool, 4,
                      sizeof(pt_http_core_srv_conf_t *)) != PT_OK)
    {
        return NULL;
    }

    return cmcf;
}


static char *
pt_http_core_init_main_conf(pt_conf_t *cf, void *conf)
{
    pt_http_core_main_conf_t  *cmcf = conf;

    if (cmcf->servers.nelts == 0) {
        /* nothing to serve is allowed, but worth saying */
        pt_log_error(PT_LOG_WARN, cf->log, 0,
                     "no \"server\" blocks in the \"http\" block");
    }

    return PT_CONF_OK;
}


static void *
pt_http_core_create_srv_conf(pt_conf_t *cf)
{
    pt_http_core_srv_conf_t  *cscf;

    cscf = pt_pcalloc(cf->pool, sizeof(pt_http_core_srv_conf_t));
    if (cscf == NULL) {
        return NULL;
    }

    if (pt_array_init(&cscf->server_names, cf->temp_pool, 4,
                      sizeof(pt_http_server_name_t)) != PT_OK)
    {
        return NULL;
    }

    cscf->connection_pool_size = PT_CONF_UNSET_SIZE;
    cscf->request_pool_size = PT_CONF_UNSET_SIZE;
    cscf->client_header_timeout = PT_CONF_UNSET_MSEC;
    cscf->client_header_buffer_size = PT_CONF_UNSET_SIZE;
    cscf->ignore_invalid_headers = PT_CONF_UNSET;
    cscf->merge_slashes = PT_CONF_UNSET;
    cscf->underscores_in_headers = PT_CONF_UNSET;

    if (cf->conf_file) {
        cscf->file_name = cf->conf_file->name.data;
        cscf->line = cf->conf_file->line;
    }

    return cscf;
}


static char *
pt_http_core_merge_srv_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_core_srv_conf_t  *prev = parent;
    pt_http_core_srv_conf_t  *conf = child;

    pt_http_server_name_t  *sn;

    pt_conf_merge_size_value(conf->connection_pool_size,
                             prev->connection_pool_size, 256);
    /*
     * A proxied request's head, the upstream's response head and their
     * header lists fit one 8 KiB block: with 4 KiB most requests took a
     * second block, and every small allocation walked the full first one.
     * The pool goes when the request ends; idle connections do not keep it.
     */
    pt_conf_merge_size_value(conf->request_pool_size,
                             prev->request_pool_size, 8192);
    pt_conf_merge_msec_value(conf->client_header_timeout,
                             prev->client_header_timeout, 60000);
    pt_conf_merge_size_value(conf->client_header_buffer_size,
                             prev->client_header_buffer_size, 1024);
    pt_conf_merge_bufs_value(conf->large_client_header_buffers,
                             prev->large_client_header_buffers, 4, 8192);

    if (conf->client_header_buffer_size < 64) {
        pt_conf_error(cf, "\"client_header_buffer_size\" must be at least "
                      "64 bytes");
        return PT_CONF_ERROR;
    }

    if (conf->large_client_header_buffers.size
        < conf->client_header_buffer_size)
    {
        pt_conf_error(cf, "\"large_client_header_buffers\" size must be "
                      "at least the \"client_header_buffer_size\"");
        return PT_CONF_ERROR;
    }

    pt_conf_merge_value(conf->ignore_invalid_headers,
                        prev->ignore_invalid_headers, 1);
    pt_conf_merge_value(conf->merge_slashes, prev->merge_slashes, 1);
    pt_conf_merge_value(conf->underscores_in_headers,
                        prev->underscores_in_headers, 0);

    if (conf->server_names.nelts == 0) {
        /* the default: requests without a Host, or any we do not know */
        sn = pt_array_push(&conf->server_names);
        if (sn == NULL) {
            return PT_CONF_ERROR;
        }

        sn->regex = NULL;
        sn->server = conf;
        pt_str_set(&sn->name, "");
    }

    sn = conf->server_names.elts;
    conf->server_name = sn[0].name;

    return PT_CONF_OK;
}


static void *
pt_http_core_create_loc_conf(pt_conf_t *cf)
{
    pt_http_core_loc_conf_t  *clcf;

    clcf = pt_pcalloc(cf->pool, sizeof(pt_http_core_loc_conf_t));
    if (clcf == NULL) {
        return NULL;
    }

    clcf->client_max_body_size = PT_CONF_UNSET;
    clcf->client_body_buffer_size = PT_CONF_UNSET_SIZE;
    clcf->client_body_timeout = PT_CONF_UNSET_MSEC;
    clcf->send_timeout = PT_CONF_UNSET_MSEC;
    clcf->postpone_output = PT_CONF_UNSET_SIZE;
    clcf->keepalive_timeout = PT_CONF_UNSET_MSEC;
    clcf->keepalive_time = PT_CONF_UNSET_MSEC;
    clcf->lingering_time = PT_CONF_UNSET_MSEC;
    clcf->lingering_timeout = PT_CONF_UNSET_MSEC;
    clcf->keepalive_requests = PT_CONF_UNSET_UINT;
    clcf->lingering_close = PT_CONF_UNSET_UINT;
    clcf->server_tokens = PT_CONF_UNSET_UINT;
    clcf->internal = PT_CONF_UNSET;
    clcf->tcp_nodelay = PT_CONF_UNSET;
    clcf->tcp_nopush = PT_CONF_UNSET;
    clcf->sendfile = PT_CONF_UNSET;
    clcf->error_pages = PT_CONF_UNSET_PTR;
    clcf->recursive_error_pages = PT_CONF_UNSET;
    clcf->resolver = PT_CONF_UNSET_PTR;
    clcf->resolver_timeout = PT_CONF_UNSET_MSEC;

    return clcf;
}


static char *
pt_http_core_merge_loc_conf(pt_conf_t *cf, void *parent, void *child)
{
    pt_http_core_loc_conf_t  *prev = parent;
    pt_http_core_loc_conf_t  *conf = child;

    pt_conf_merge_str_value(conf->default_type, prev->default_type,
                            "text/plain");
    pt_conf_merge_off_value(conf->client_max_body_size,
                            prev->client_max_body_size, 1024 * 1024);
    pt_conf_merge_size_value(conf->client_body_buffer_size,
                             prev->client_body_buffer_size, 16 * 1024);

    if (conf->client_body_buffer_size == 0) {
        pt_conf_error(cf, "\"client_body_buffer_size\" must not be 0");
        return PT_CONF_ERROR;
    }
    pt_conf_merge_msec_value(conf->client_body_timeout,
                             prev->client_body_timeout, 60000);
    pt_conf_merge_msec_value(conf->send_timeout, prev->send_timeout, 60000);
    pt_conf_merge_size_value(conf->postpone_output, prev->postpone_output,
                             1460);
    pt_conf_merge_msec_value(conf->keepalive_timeout,
                             prev->keepalive_timeout, 75000);
    pt_conf_merge_msec_value(conf->keepalive_time, prev->keepalive_time,
                             3600000);
    pt_conf_merge_msec_value(conf->lingering_time, prev->lingering_time,
                             30000);
    pt_conf_merge_msec_value(conf->lingering_timeout,
                             prev->lingering_timeout, 5000);
    pt_conf_merge_uint_value(conf->keepalive_requests,
                             prev->keepalive_requests, 1000);
    pt_conf_merge_uint_value(conf->lingering_close, prev->lingering_close,
                             PT_HTTP_LINGERING_ON);
    pt_conf_merge_uint_value(conf->server_tokens, prev->server_tokens,
                             PT_HTTP_SERVER_TOKENS_ON);
    pt_conf_merge_str_value(conf->client_body_temp_path,
                            prev->client_body_temp_path,
                            PT_HTTP_TEMP_PATH "/client_body");

    if (prev->client_body_temp_path.data == NULL
        && pt_add_path(cf, &conf->client_body_temp_path) != PT_OK)
    {
        /* the default, made absolute and created at start */
        return PT_CONF_ERROR;
    }

    pt_conf_merge_value(conf->internal, prev->internal, 0);
    pt_conf_merge_value(conf->tcp_nodelay, prev->tcp_nodelay, 1);
    pt_conf_merge_value(conf->tcp_nopush, prev->tcp_nopush, 0);
    pt_conf_merge_value(conf->sendfile, prev->sendfile, 0);
    pt_conf_merge_ptr_value(conf->error_pages, prev->error_pages, NULL);
    pt_conf_merge_value(conf->recursive_error_pages,
                        prev->recursive_error_pages, 0);
    pt_conf_merge_ptr_value(conf->resolver, prev->resolver, NULL);
    pt_conf_merge_msec_value(conf->resolver_timeout, prev->resolver_timeout,
                             PT_RESOLVER_TIMEOUT);

    if (conf->error_log == NULL) {
        conf->error_log = prev->error_log;
    }

    return PT_CONF_OK;
}


static char *
pt_http_core_server(pt_conf_t *cf, pt_command_t *cmd, void *dummy)
{
    char                        *rv;
    void                        *mconf;
    pt_uint_t                    m, mi;
    pt_conf_t                    pcf;
    pt_http_module_t            *module;
    pt_http_conf_ctx_t          *ctx, *http_ctx;
    pt_http_listen_opt_t         lsopt;
    pt_http_core_srv_conf_t     *cscf, **cscfp;
    pt_http_core_loc_conf_t     *clcf;
    pt_http_core_main_conf_t    *cmcf;

    ctx = pt_pcalloc(cf->pool, sizeof(pt_http_conf_ctx_t));
    if (ctx == NULL) {
        return PT_CONF_ERROR;
    }

    http_ctx = cf->ctx;
    ctx->main_conf = http_ctx->main_conf;

    ctx->srv_conf = pt_pcalloc(cf->pool, sizeof(void *) * pt_http_max_module);
    ctx->loc_conf = pt_pcalloc(cf->pool, sizeof(void *) * pt_http_max_module);

    if (ctx->srv_conf == NULL || ctx->loc_conf == NULL) {
        return PT_CONF_ERROR;
    }

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != PT_HTTP_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;
        mi = cf->cycle->modules[m]->ctx_index;

        if (module->create_srv_conf) {
            mconf = module->create_srv_conf(cf);
            if (mconf == NULL) {
                return PT_CONF_ERROR;
            }

            ctx->srv_conf[mi] = mconf;
        }

        if (module->create_loc_conf) {
            mconf = module->create_loc_conf(cf);
            if (mconf == NULL) {
                return PT_CONF_ERROR;
            }

            ctx->loc_conf[mi] = mconf;
        }
    }

    cscf = ctx->srv_conf[pt_http_core_module.ctx_index];
    cscf->ctx = ctx;

    clcf = ctx->loc_conf[pt_http_core_module.ctx_index];
    clcf->loc_conf = ctx->loc_conf;

    cmcf = ctx->main_conf[pt_http_core_module.ctx_index];

    cscfp = pt_array_push(&cmcf->servers);
    if (cscfp == NULL) {
        return PT_CONF_ERROR;
    }

    *cscfp = cscf;

    pcf = *cf;
    cf->ctx = ctx;
    cf->cmd_type = PT_HTTP_SRV_CONF;

    rv = pt_conf_parse(cf, NULL);

    *cf = pcf;

    if (rv == PT_CONF_OK && !cscf->listen) {
        /* nginx's default: port 80 as root, 8000 otherwise */
        pt_memzero(&lsopt, sizeof(pt_http_listen_opt_t));

        lsopt.sockaddr.sockaddr_in.sin_family = AF_INET;
        lsopt.sockaddr.sockaddr_in.sin_port = htons(getuid() == 0 ? 80 : 8000);
        lsopt.sockaddr.sockaddr_in.sin_addr.s_addr = INADDR_ANY;
        lsopt.socklen = sizeof(struct sockaddr_in);
        lsopt.backlog = 511;
        lsopt.rcvbuf = -1;
        lsopt.sndbuf = -1;
        lsopt.wildcard = 1;
        lsopt.reuseport = 1;
        lsopt.addr_text.data = pt_pnalloc(cf->pool, PT_SOCKADDR_STRLEN);
        if (lsopt.addr_text.data == NULL) {
            return PT_CONF_ERROR;
        }

        lsopt.addr_text.len = pt_sock_ntop(&lsopt.sockaddr.sockaddr,
                                           lsopt.socklen,
                                           lsopt.addr_text.data,
                                           PT_SOCKADDR_STRLEN, 1);

        if (pt_http_add_listen(cf, cscf, &lsopt) != PT_OK) {
            return PT_CONF_ERROR;
        }
    }

    return rv;
}


static pt_int_t
pt_http_add_location(pt_conf_t *cf, pt_array_t **locations,
    pt_http_core_loc_conf_t *clcf)
{
    pt_uint_t                  i;
    pt_http_core_loc_conf_t  **clcfp;

    if (*locations == NULL) {
        *locations = pt_array_create(cf->pool, 4,
                                     sizeof(pt_http_core_loc_conf_t *));
        if (*locations == NULL) {
            return PT_ERROR;
        }
    }

    if (clcf->regex == NULL) {
        clcfp = (*locations)->elts;

        for (i = 0; i < (*locations)->nelts; i++) {
            if (pt_str_eq(&clcfp[i]->name, &clcf->name)) {
                pt_conf_error(cf, "duplicate location \"%.*s\"",
                              PT_STR_ARG(clcf->name));
                return PT_ERROR;
            }
        }
    }

    clcfp = pt_array_push(*locations);
    if (clcfp == NULL) {
        return PT_ERROR;
    }

    *clcfp = clcf;

    return PT_OK;
}


static char *
pt_http_core_location(pt_conf_t *cf, pt_command_t *cmd, void *dummy)
{
    char                      *rv;
    u_char                    *mod;
    size_t                     len;
    void                      *mconf;
    pt_str_t                  *value, *name;
    pt_uint_t                  m, mi;
    pt_array_t               **locations;
    pt_conf_t                  save;
    pt_http_module_t          *module;
    pt_http_conf_ctx_t        *ctx, *pctx;
    pt_regex_compile_t         rc;
    pt_http_core_loc_conf_t   *clcf, *pclcf;

    ctx = pt_pcalloc(cf->pool, sizeof(pt_http_conf_ctx_t));
    if (ctx == NULL) {
        return PT_CONF_ERROR;
    }

    pctx = cf->ctx;
    ctx->main_conf = pctx->main_conf;
    ctx->srv_conf = pctx->srv_conf;

    ctx->loc_conf = pt_pcalloc(cf->pool, sizeof(void *) * pt_http_max_module);
    if (ctx->loc_conf == NULL) {
        return PT_CONF_ERROR;
    }

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != PT_HTTP_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;
        mi = cf->cycle->modules[m]->ctx_index;

        if (module->create_loc_conf) {
            mconf = module->create_loc_conf(cf);
            if (mconf == NULL) {
                return PT_CONF_ERROR;
            }

            ctx->loc_conf[mi] = mconf;
        }
    }

    clcf = ctx->loc_conf[pt_http_core_module.ctx_index];
    clcf->loc_conf = ctx->loc_conf;

    value = cf->args->elts;

    if (cf->args->nelts == 3) {
        mod = value[1].data;
        len = value[1].len;
        name = &value[2];

        if (len == 1 && mod[0] == '=') {
            clcf->exact_match = 1;

        } else if (len == 2 && mod[0] == '^' && mod[1] == '~') {
            clcf->noregex = 1;

        } else if (len == 1 && mod[0] == '~') {
            /* regex, case-sensitive */

        } else if (len == 2 && mod[0] == '~' && mod[1] == '*') {
            /* regex, caseless */

        } else {
            pt_conf_error(cf, "invalid location modifier \"%.*s\"",
                          PT_STR_ARG(value[1]));
            return PT_CONF_ERROR;
        }

        if (mod[0] == '~') {
            pt_memzero(&rc, sizeof(pt_regex_compile_t));
            rc.pattern = *name;
            rc.pool = cf->pool;
            rc.caseless = (len == 2);

            if (pt_regex_compile(&rc) != PT_OK) {
                pt_conf_error(cf, "%s", rc.err);
                return PT_CONF_ERROR;
            }

            clcf->regex = rc.regex;
        }

    } else {
        name = &value[1];

        if (name->len > 1 && name->data[0] == '=') {
            clcf->exact_match = 1;
            name->data++;
            name->len--;

        } else if (name->len > 2 && name->data[0] == '^'
                   && name->data[1] == '~')
        {
            clcf->noregex = 1;
            name->data += 2;
            name->len -= 2;

        } else if (name->len > 0 && name->data[0] == '~') {
            pt_conf_error(cf, "a regex location needs a space after \"~\": "
                          "location ~ PATTERN");
            return PT_CONF_ERROR;

        } else if (name->len > 0 && name->data[0] == '@') {
            clcf->named = 1;
        }
    }

    clcf->name = *name;

    if (name->len == 0) {
        pt_conf_error(cf, "empty location name");
        return PT_CONF_ERROR;
    }

    pclcf = pctx->loc_conf[pt_http_core_module.ctx_index];

    if (cf->cmd_type == PT_HTTP_LOC_CONF) {
        /* nested in another location */

        if (pclcf->exact_match) {
            pt_conf_error(cf, "location \"%.*s\" cannot be inside "
                          "the exact location \"%.*s\"",
                          PT_STR_ARG(clcf->name), PT_STR_ARG(pclcf->name));
            return PT_CONF_ERROR;
        }

        if (pclcf->named) {
            pt_conf_error(cf, "location \"%.*s\" cannot be inside "
                          "the named location \"%.*s\"",
                          PT_STR_ARG(clcf->name), PT_STR_ARG(pclcf->name));
            return PT_CONF_ERROR;
        }

        if (clcf->named) {
            pt_conf_error(cf, "named location \"%.*s\" can be "
                          "on the server level only",
                          PT_STR_ARG(clcf->name));
            return PT_CONF_ERROR;
        }

        if (clcf->regex == NULL && pclcf->regex == NULL
            && (clcf->name.len < pclcf->name.len
                || pt_memcmp(clcf->name.data, pclcf->name.data,
                             pclcf->name.len) != 0))
        {
            pt_conf_error(cf, "location \"%.*s\" is outside location "
                          "\"%.*s\"", PT_STR_ARG(clcf->name),
                          PT_STR_ARG(pclcf->name));
            return PT_CONF_ERROR;
        }
    }

    if (clcf->named) {
        locations = &pclcf->named_locations;
    } else if (clcf->regex) {
        locations = &pclcf->regex_locations;
    } else if (clcf->exact_match) {
        locations = &pclcf->exact_locations;
    } else {
        locations = &pclcf->prefix_locations;
    }

    if (pt_http_add_location(cf, locations, clcf) != PT_OK) {
        return PT_CONF_ERROR;
    }

    save = *cf;
    cf->ctx = ctx;
    cf->cmd_type = PT_HTTP_LOC_CONF;

    rv = pt_conf_parse(cf, NULL);

    *cf = save;

    return rv;
}


static char *
pt_http_core_listen(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_core_srv_conf_t  *cscf = conf;

    pt_str_t              *value, s;
    pt_int_t               n;
    pt_uint_t              i;
    pt_url_t               u;
    pt_http_listen_opt_t   lsopt;

    cscf->listen = 1;

    value = cf->args->elts;

    pt_memzero(&u, sizeof(pt_url_t));

    u.url = value[1];
    u.listen = 1;
    u.default_port = 80;

    if (pt_parse_url(cf->pool, &u) != PT_OK) {
        if (u.err) {
            pt_conf_error(cf, "%s in \"%.*s\" of the \"listen\" directive",
                          u.err, PT_STR_ARG(u.url));
        }

        return PT_CONF_ERROR;
    }

    pt_memzero(&lsopt, sizeof(pt_http_listen_opt_t));

    lsopt.backlog = 511;
    lsopt.rcvbuf = -1;
    lsopt.sndbuf = -1;
    lsopt.ipv6only = 1;
    lsopt.reuseport = 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (pt_str_eq_lit(&value[i], "default_server")
            || pt_str_eq_lit(&value[i], "default"))
        {
            lsopt.default_server = 1;
            continue;
        }

        if (pt_str_eq_lit(&value[i], "ssl")) {
            /* may be repeated on each server of the address */
            lsopt.ssl = 1;
            continue;
        }

        if (pt_str_eq_lit(&value[i], "bind")) {
            lsopt.set = 1;
            lsopt.bind = 1;
            continue;
        }

        if (pt_str_eq_lit(&value[i], "reuseport")) {
            /* the default already: one socket per worker slot */
            continue;
        }

        if (value[i].len > 8 && pt_strncmp(value[i].data, "backlog=", 8) == 0)
        {
            n = pt_atoi(value[i].data + 8, value[i].len - 8);
            if (n == PT_ERROR || n == 0 || n > 65535) {
                pt_conf_error(cf, "invalid backlog \"%.*s\"",
                              PT_STR_ARG(value[i]));
                return PT_CONF_ERROR;
            }

            lsopt.set = 1;
            lsopt.bind = 1;
            lsopt.backlog = (int) n;
            continue;
        }

        if (value[i].len > 7 && (pt_strncmp(value[i].data, "rcvbuf=", 7) == 0
                                 || pt_strncmp(value[i].data, "sndbuf=", 7)
                                    == 0))
        {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            n = pt_parse_size(&s);
            if (n == PT_ERROR || n > INT_MAX) {
                pt_conf_error(cf, "invalid %.*s", PT_STR_ARG(value[i]));
                return PT_CONF_ERROR;
            }

            lsopt.set = 1;
            lsopt.bind = 1;

            if (value[i].data[0] == 'r') {
                lsopt.rcvbuf = (int) n;
            } else {
                lsopt.sndbuf = (int) n;
            }

            continue;
        }

        if (pt_str_eq_lit(&value[i], "ipv6only=on")
            || pt_str_eq_lit(&value[i], "ipv6only=off"))
        {
            if (u.family != AF_INET6) {
                pt_conf_error(cf, "\"ipv6only\" applies only to IPv6 "
                              "addresses, not to \"%.*s\"",
                              PT_STR_ARG(value[1]));
                return PT_CONF_ERROR;
            }

            lsopt.set = 1;
            lsopt.bind = 1;
            lsopt.ipv6only = (value[i].data[10] == 'n');
            continue;
        }

        pt_conf_error(cf, "invalid parameter \"%.*s\"", PT_STR_ARG(value[i]));
        return PT_CONF_ERROR;
    }

    if (u.family == AF_UNIX) {
        /* a path has one socket, shared by all workers */
        lsopt.reuseport = 0;
    }

    for (i = 0; i < u.naddrs; i++) {
        pt_memcpy(&lsopt.sockaddr, u.addrs[i].sockaddr, u.addrs[i].socklen);
        lsopt.socklen = u.addrs[i].socklen;
        lsopt.addr_text = u.addrs[i].name;
        lsopt.wildcard = pt_inet_wildcard(u.addrs[i].sockaddr);

        if (pt_http_add_listen(cf, cscf, &lsopt) != PT_OK) {
            return PT_CONF_ERROR;
        }
    }

    return PT_CONF_OK;
}


static char *
pt_http_core_server_name(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_core_srv_conf_t  *cscf = conf;

    u_char                 ch;
    pt_str_t              *value;
    pt_uint_t              i;
    pt_regex_compile_t     rc;
    pt_http_server_name_t  *sn;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        ch = value[i].len ? value[i].data[0] : '\0';

        if ((ch == '*' && (value[i].len < 3 || value[i].data[1] != '.'))
            || (ch == '.' && value[i].len < 2))
        {
            pt_conf_error(cf, "server name \"%.*s\" is invalid",
                          PT_STR_ARG(value[i]));
            return PT_CONF_ERROR;
        }

        if (ch != '~' && pt_strlchr(value[i].data,
                                    value[i].data + value[i].len, '/'))
        {
            pt_conf_error(cf, "server name \"%.*s\" has suspicious "
                          "symbols", PT_STR_ARG(value[i]));
            return PT_CONF_ERROR;
        }

        sn = pt_array_push(&cscf->server_names);
        if (sn == NULL) {
            return PT_CONF_ERROR;
        }

        sn->regex = NULL;
        sn->server = cscf;

        if (pt_str_caseeq_lit(&value[i], "$hostname")) {
            sn->name = cf->cycle->hostname;
        } else {
            sn->name = value[i];
        }

        if (ch != '~') {
            pt_strlow(sn->name.data, sn->name.data, sn->name.len);
            continue;
        }

        if (value[i].len == 1) {
            pt_conf_error(cf, "empty regex in server name \"%.*s\"",
                          PT_STR_ARG(value[i]));
            return PT_CONF_ERROR;
        }

        pt_memzero(&rc, sizeof(pt_regex_compile_t));
        rc.pattern.data = value[i].data + 1;
        rc.pattern.len = value[i].len - 1;
        rc.pool = cf->pool;

        if (pt_regex_compile(&rc) != PT_OK) {
            pt_conf_error(cf, "%s", rc.err);
            return PT_CONF_ERROR;
        }

        sn->regex = rc.regex;
        sn->name = value[i];
    }

    return PT_CONF_OK;
}


static char *
pt_http_core_keepalive(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_core_loc_conf_t  *clcf = conf;

    pt_int_t   n;
    pt_str_t  *value;

    if (clcf->keepalive_timeout != PT_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = pt_parse_time(&value[1], 0);
    if (n == PT_ERROR) {
        pt_conf_error(cf, "invalid time \"%.*s\" in \"keepalive_timeout\" "
                      "directive", PT_STR_ARG(value[1]));
        return PT_CONF_ERROR;
    }

    clcf->keepalive_timeout = (pt_msec_t) n;

    return PT_CONF_OK;
}


/* resolver ADDRESS ... [valid=TIME] [ipv4=on|off] [ipv6=on|off] */
static char *
pt_http_core_resolver(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_core_loc_conf_t  *clcf = conf;

    pt_str_t  *value;

    if (clcf->resolver != PT_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    clcf->resolver = pt_resolver_create(cf, &value[1], cf->args->nelts - 1);
    if (clcf->resolver == NULL) {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}


pt_resolver_t *
pt_http_core_get_resolver(pt_http_core_loc_conf_t *clcf, pt_msec_t *timeout)
{
    if (timeout) {
        *timeout = (clcf->resolver_timeout == PT_CONF_UNSET_MSEC)
                   ? PT_RESOLVER_TIMEOUT : clcf->resolver_timeout;
    }

    return (clcf->resolver == PT_CONF_UNSET_PTR) ? NULL : clcf->resolver;
}


static char *
pt_http_core_internal(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_core_loc_conf_t  *clcf = conf;

    if (clcf->internal != PT_CONF_UNSET) {
        return "is duplicate";
    }

    clcf->internal = 1;

    return PT_CONF_OK;
}


/*
 * error_page CODE ... [=[RESPONSE]] URI|@name|URL, the target may hold
 * variables. As in nginx, any code from 300 to 599 but 499 (a client that
 * went away has nobody to show a page to) may be named, 495, 496 and 497
 * included; those three are answered with 400 unless "=" says otherwise.
 */
static char *
pt_http_core_error_page(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_core_loc_conf_t  *clcf = conf;

    pt_int_t                          code, overwrite;
    pt_str_t                         *value;
    pt_uint_t                         i, n;
    pt_http_err_page_t               *err;
    pt_http_complex_value_t           cv;
    pt_http_compile_complex_value_t   ccv;

    if (clcf->error_pages == NULL || clcf->error_pages == PT_CONF_UNSET_PTR) {
        clcf->error_pages = pt_array_create(cf->pool, 4,
                                            sizeof(pt_http_err_page_t));
        if (clcf->error_pages == NULL) {
            return PT_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    n = cf->args->nelts - 2;
    overwrite = -1;

    if (value[cf->args->nelts - 2].data[0] == '=') {
        if (value[cf->args->nelts - 2].len == 1) {
            overwrite = 0;      /* the status of the page's own response */

        } else {
            overwrite = pt_atoi(value[cf->args->nelts - 2].data + 1,
                                value[cf->args->nelts - 2].len - 1);

            if (overwrite == PT_ERROR || overwrite < 200 || overwrite > 599) {
                pt_conf_error(cf, "invalid value \"%.*s\"",
                              PT_STR_ARG(value[cf->args->nelts - 2]));
                return PT_CONF_ERROR;
            }
        }

        n--;
    }

    if (n == 0) {
        pt_conf_error(cf, "no status code in \"error_page\"");
        return PT_CONF_ERROR;
    }

    pt_memzero(&ccv, sizeof(pt_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[cf->args->nelts - 1];
    ccv.complex_value = &cv;

    if (pt_http_compile_complex_value(&ccv) != PT_OK) {
        return PT_CONF_ERROR;
    }

    for (i = 1; i <= n; i++) {
        code = pt_atoi(value[i].data, value[i].len);

        if (code == PT_ERROR || code == PT_HTTP_CLIENT_CLOSED_REQUEST) {
            pt_conf_error(cf, "invalid value \"%.*s\"", PT_STR_ARG(value[i]));
            return PT_CONF_ERROR;
        }

        if (code < 300 || code > 599) {
            pt_conf_error(cf, "value \"%.*s\" must be between 300 and 599",
                          PT_STR_ARG(value[i]));
            return PT_CONF_ERROR;
        }

        err = pt_array_push(clcf->error_pages);
        if (err == NULL) {
            return PT_CONF_ERROR;
        }

        err->status = code;
        err->overwrite = overwrite;
        err->uri = cv;

        if (overwrite == -1
            && (code == PT_HTTPS_CERT_ERROR || code == PT_HTTPS_NO_CERT
                || code == PT_HTTP_TO_HTTPS))
        {
            /* internal codes: the client is told what the page says */
            err->overwrite = PT_HTTP_BAD_REQUEST;
        }
    }

    return PT_CONF_OK;
}


static char *
pt_http_core_error_log(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_http_core_loc_conf_t  *clcf = conf;

    return pt_log_set_log(cf, &clcf->error_log);
}


/* A temp path named in the configuration is created at start. */
static char *
pt_http_core_temp_path(pt_conf_t *cf, void *post, void *data)
{
    pt_str_t  *path = data;

    if (pt_add_path(cf, path) != PT_OK) {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;
}
