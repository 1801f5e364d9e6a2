/*
 * The http block: creates and merges every http module's configuration,
 * builds the phase engine, and turns the servers' listen addresses into
 * listening sockets with their virtual-server tables.
 */
#include "pt_http.h"


static char *pt_http_block(pt_conf_t *cf, pt_command_t *cmd, void *conf);
static pt_int_t pt_http_init_phases(pt_conf_t *cf,
    pt_http_core_main_conf_t *cmcf);
static pt_int_t pt_http_init_phase_handlers(pt_conf_t *cf,
    pt_http_core_main_conf_t *cmcf);
static char *pt_http_merge_servers(pt_conf_t *cf,
    pt_http_core_main_conf_t *cmcf, pt_http_module_t *module,
    pt_uint_t ctx_index);
static char *pt_http_merge_locations(pt_conf_t *cf,
    pt_http_core_loc_conf_t *parent, void **loc_conf,
    pt_http_module_t *module, pt_uint_t ctx_index);
static pt_int_t pt_http_add_address(pt_conf_t *cf,
    pt_http_core_srv_conf_t *cscf, pt_http_conf_port_t *port,
    pt_http_listen_opt_t *lsopt);
static pt_int_t pt_http_add_server(pt_conf_t *cf,
    pt_http_core_srv_conf_t *cscf, pt_http_conf_addr_t *addr);
static pt_int_t pt_http_server_names(pt_conf_t *cf,
    pt_http_core_main_conf_t *cmcf, pt_http_conf_addr_t *addr);
static pt_int_t pt_http_init_listening(pt_conf_t *cf,
    pt_http_conf_port_t *port);
static pt_listening_t *pt_http_add_listening(pt_conf_t *cf,
    pt_http_conf_addr_t *addr);
static pt_int_t pt_http_add_addrs(pt_conf_t *cf, pt_http_port_t *hport,
    pt_http_conf_addr_t *addr);

pt_int_t pt_http_init_headers_in_hash(pt_conf_t *cf,
    pt_http_core_main_conf_t *cmcf);


pt_uint_t  pt_http_max_module;

pt_http_output_header_filter_pt  pt_http_top_header_filter;
pt_http_output_body_filter_pt    pt_http_top_body_filter;


static pt_command_t  pt_http_commands[] = {

    { pt_string("http"),
      PT_MAIN_CONF | PT_CONF_BLOCK | PT_CONF_NOARGS,
      pt_http_block,
      0,
      0,
      NULL },

    pt_null_command
};


static pt_core_module_t  pt_http_module_ctx = {
    pt_string("http"),
    NULL,
    NULL
};


pt_module_t  pt_http_module = {
    .ctx = &pt_http_module_ctx,
    .commands = pt_http_commands,
    .type = PT_CORE_MODULE,
};


static char *
pt_http_block(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char                        *rv;
    pt_uint_t                    m, mi;
    pt_conf_t                    pcf;
    pt_http_module_t            *module;
    pt_http_conf_ctx_t          *ctx;
    pt_http_core_main_conf_t    *cmcf;

    if (*(pt_http_conf_ctx_t **) conf) {
        return "is duplicate";
    }

    ctx = pt_pcalloc(cf->pool, sizeof(pt_http_conf_ctx_t));
    if (ctx == NULL) {
        return PT_CONF_ERROR;
    }

    *(pt_http_conf_ctx_t **) conf = ctx;

    pt_http_max_module = pt_count_modules(cf->cycle, PT_HTTP_MODULE);

    ctx->main_conf = pt_pcalloc(cf->pool, sizeof(void *) * pt_http_max_module);
    ctx->srv_conf = pt_pcalloc(cf->pool, sizeof(void *) * pt_http_max_module);
    ctx->loc_conf = pt_pcalloc(cf->pool, sizeof(void *) * pt_http_max_module);

    if (ctx->main_conf == NULL || ctx->srv_conf == NULL
        || ctx->loc_conf == NULL)
    {
        return PT_CONF_ERROR;
    }

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != PT_HTTP_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;
        mi = cf->cycle->modules[m]->ctx_index;

        if (module->create_main_conf) {
            ctx->main_conf[mi] = module->create_main_conf(cf);
            if (ctx->main_conf[mi] == NULL) {
                return PT_CONF_ERROR;
            }
        }

        if (module->create_srv_conf) {
            ctx->srv_conf[mi] = module->create_srv_conf(cf);
            if (ctx->srv_conf[mi] == NULL) {
                return PT_CONF_ERROR;
            }
        }

        if (module->create_loc_conf) {
            ctx->loc_conf[mi] = module->create_loc_conf(cf);
            if (ctx->loc_conf[mi] == NULL) {
                return PT_CONF_ERROR;
            }
        }
    }

    pcf = *cf;
    cf->ctx = ctx;

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != PT_HTTP_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;

        if (module->preconfiguration) {
            if (module->preconfiguration(cf) != PT_OK) {
                return PT_CONF_ERROR;
            }
        }
    }

    cf->module_type = PT_HTTP_MODULE;
    cf->cmd_type = PT_HTTP_MAIN_CONF;
    rv = pt_conf_parse(cf, NULL);

    if (rv != PT_CONF_OK) {
        goto failed;
    }

    /* the configuration of every level is complete: merge downwards */

    cmcf = ctx->main_conf[pt_http_core_module.ctx_index];

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != PT_HTTP_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;
        mi = cf->cycle->modules[m]->ctx_index;

        cf->ctx = ctx;

        if (module->init_main_conf) {
            rv = module->init_main_conf(cf, ctx->main_conf[mi]);
            if (rv != PT_CONF_OK) {
                goto failed;
            }
        }

        rv = pt_http_merge_servers(cf, cmcf, module, mi);
        if (rv != PT_CONF_OK) {
            goto failed;
        }
    }

    if (pt_http_init_phases(cf, cmcf) != PT_OK) {
        return PT_CONF_ERROR;
    }

    if (pt_http_init_headers_in_hash(cf, cmcf) != PT_OK) {
        return PT_CONF_ERROR;
    }

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != PT_HTTP_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;

        if (module->postconfiguration) {
            if (module->postconfiguration(cf) != PT_OK) {
                return PT_CONF_ERROR;
            }
        }
    }

    if (pt_http_variables_init_vars(cf) != PT_OK) {
        return PT_CONF_ERROR;
    }

    if (pt_http_init_phase_handlers(cf, cmcf) != PT_OK) {
        return PT_CONF_ERROR;
    }

    *cf = pcf;

    if (pt_http_optimize_servers(cf, cmcf, cmcf->ports) != PT_OK) {
        return PT_CONF_ERROR;
    }

    return PT_CONF_OK;

failed:

    *cf = pcf;

    return rv;
}


static pt_int_t
pt_http_init_phases(pt_conf_t *cf, pt_http_core_main_conf_t *cmcf)
{
    pt_uint_t  i;

    for (i = 0; i <= PT_HTTP_LOG_PHASE; i++) {
        if (pt_array_init(&cmcf->phases[i].handlers, cf->pool, 2,
                          sizeof(pt_http_handler_pt)) != PT_OK)
        {
            return PT_ERROR;
        }
    }

    return PT_OK;
}


/*
 * Flattens the phases into one array that pt_http_core_run_phases walks;
 * each entry knows where the next phase starts, so a checker can skip the
 * rest of its phase.
 */
static pt_int_t
pt_http_init_phase_handlers(pt_conf_t *cf, pt_http_core_main_conf_t *cmcf)
{
    pt_int_t                   j;
    pt_uint_t                  i, n, find_config, next;
    pt_http_handler_pt        *h;
    pt_http_phase_handler_t   *ph, *base;
    pt_http_phase_handler_pt   checker;

    /* find config, post rewrite, post access, and the final content entry */
    n = 4;

    for (i = 0; i <= PT_HTTP_LOG_PHASE; i++) {
        n += cmcf->phases[i].handlers.nelts;
    }

    base = pt_pcalloc(cf->pool, sizeof(pt_http_phase_handler_t) * n);
    if (base == NULL) {
        return PT_ERROR;
    }

    cmcf->phase_engine.handlers = base;
    ph = base;
    find_config = 0;

    for (i = 0; i <= PT_HTTP_LOG_PHASE; i++) {
        h = cmcf->phases[i].handlers.elts;

        switch (i) {

        case PT_HTTP_SERVER_REWRITE_PHASE:
            cmcf->phase_engine.server_rewrite_index = ph - base;
            checker = pt_http_core_rewrite_phase;
            break;

        case PT_HTTP_FIND_CONFIG_PHASE:
            find_config = ph - base;
            ph->checker = pt_http_core_find_config_phase;
            ph++;
            continue;

        case PT_HTTP_REWRITE_PHASE:
            cmcf->phase_engine.location_rewrite_index = ph - base;
            checker = pt_http_core_rewrite_phase;
            break;

        case PT_HTTP_POST_REWRITE_PHASE:
            ph->checker = pt_http_core_post_rewrite_phase;
            ph->next = find_config;
            ph++;
            continue;

        case PT_HTTP_ACCESS_PHASE:
            checker = pt_http_core_access_phase;
            break;

        case PT_HTTP_POST_ACCESS_PHASE:
            ph->checker = pt_http_core_post_access_phase;
            ph++;
            continue;

        case PT_HTTP_CONTENT_PHASE:
            checker = pt_http_core_content_phase;
            break;

        case PT_HTTP_LOG_PHASE:
            /* run by pt_http_free_request, not by the engine */
            continue;

        default:
            checker = pt_http_core_generic_phase;
        }

        next = (ph - base) + cmcf->phases[i].handlers.nelts;

        /* handlers registered last run first, as filters do */
        for (j = cmcf->phases[i].handlers.nelts - 1; j >= 0; j--) {
            ph->checker = checker;
            ph->handler = h[j];
            ph->next = next;
            ph++;
        }
    }

    /* the content phase ends with the location's handler or a 404 */
    ph->checker = pt_http_core_content_phase;
    ph->handler = NULL;
    ph->next = ph - base;

    return PT_OK;
}


static char *
pt_http_merge_servers(pt_conf_t *cf, pt_http_core_main_conf_t *cmcf,
    pt_http_module_t *module, pt_uint_t ctx_index)
{
    char                        *rv;
    pt_uint_t                    s;
    pt_http_conf_ctx_t          *ctx, saved;
    pt_http_core_loc_conf_t     *clcf;
    pt_http_core_srv_conf_t    **cscfp;

    cscfp = cmcf->servers.elts;
    ctx = (pt_http_conf_ctx_t *) cf->ctx;
    saved = *ctx;
    rv = PT_CONF_OK;

    for (s = 0; s < cmcf->servers.nelts; s++) {

        ctx->srv_conf = cscfp[s]->ctx->srv_conf;

        if (module->merge_srv_conf) {
            rv = module->merge_srv_conf(cf, saved.srv_conf[ctx_index],
                                        cscfp[s]->ctx->srv_conf[ctx_index]);
            if (rv != PT_CONF_OK) {
                goto failed;
            }
        }

        if (module->merge_loc_conf) {
            ctx->loc_conf = cscfp[s]->ctx->loc_conf;

            rv = module->merge_loc_conf(cf, saved.loc_conf[ctx_index],
                                        cscfp[s]->ctx->loc_conf[ctx_index]);
            if (rv != PT_CONF_OK) {
                goto failed;
            }

            clcf = cscfp[s]->ctx->loc_conf[pt_http_core_module.ctx_index];

            rv = pt_http_merge_locations(cf, clcf,
                                         cscfp[s]->ctx->loc_conf,
                                         module, ctx_index);
            if (rv != PT_CONF_OK) {
                goto failed;
            }
        }
    }

failed:

    *ctx = saved;

    return rv;
}


static char *
pt_http_merge_location_array(pt_conf_t *cf, pt_array_t *locations,
    void **loc_conf, pt_http_module_t *module, pt_uint_t ctx_index)
{
    char                      *rv;
    pt_uint_t                  i;
    pt_http_conf_ctx_t        *ctx, saved;
    pt_http_core_loc_conf_t  **clcfp;

    if (locations == NULL) {
        return PT_CONF_OK;
    }

    ctx = (pt_http_conf_ctx_t *) cf->ctx;
    saved = *ctx;

    clcfp = locations->elts;

    for (i = 0; i < locations->nelts; i++) {
        ctx->loc_conf = clcfp[i]->loc_conf;

        rv = module->merge_loc_conf(cf, loc_conf[ctx_index],
                                    clcfp[i]->loc_conf[ctx_index]);
        if (rv != PT_CONF_OK) {
            return rv;
        }

        rv = pt_http_merge_locations(cf, clcfp[i], clcfp[i]->loc_conf,
                                     module, ctx_index);
        if (rv != PT_CONF_OK) {
            return rv;
        }
    }

    *ctx = saved;

    return PT_CONF_OK;
}


static char *
pt_http_merge_locations(pt_conf_t *cf, pt_http_core_loc_conf_t *parent,
    void **loc_conf, pt_http_module_t *module, pt_uint_t ctx_index)
{
    char  *rv;

    rv = pt_http_merge_location_array(cf, parent->exact_locations, loc_conf,
                                      module, ctx_index);
    if (rv != PT_CONF_OK) {
        return rv;
    }

    rv = pt_http_merge_location_array(cf, parent->prefix_locations, loc_conf,
                                      module, ctx_index);
    if (rv != PT_CONF_OK) {
        return rv;
    }

    rv = pt_http_merge_location_array(cf, parent->regex_locations, loc_conf,
                                      module, ctx_index);
    if (rv != PT_CONF_OK) {
        return rv;
    }

    return pt_http_merge_location_array(cf, parent->named_locations,
                                        loc_conf, module, ctx_index);
}


/* Records that cscf listens on lsopt's address. */
pt_int_t
pt_http_add_listen(pt_conf_t *cf, pt_http_core_srv_conf_t *cscf,
    pt_http_listen_opt_t *lsopt)
{
    in_port_t                  p;
    pt_uint_t                  i;
    struct sockaddr           *sa;
    pt_http_conf_port_t       *port;
    pt_http_core_main_conf_t  *cmcf;

    cmcf = pt_http_conf_get_module_main_conf(cf, pt_http_core_module);

    if (cmcf->ports == NULL) {
        cmcf->ports = pt_array_create(cf->temp_pool, 2,
                                      sizeof(pt_http_conf_port_t));
        if (cmcf->ports == NULL) {
            return PT_ERROR;
        }
    }

    sa = &lsopt->sockaddr.sockaddr;
    p = pt_inet_get_port(sa);

    port = cmcf->ports->elts;

    for (i = 0; i < cmcf->ports->nelts; i++) {
        if (p != port[i].port || sa->sa_family != port[i].family) {
            continue;
        }

        return pt_http_add_address(cf, cscf, &port[i], lsopt);
    }

    port = pt_array_push(cmcf->ports);
    if (port == NULL) {
        return PT_ERROR;
    }

    port->family = sa->sa_family;
    port->port = p;

    if (pt_array_init(&port->addrs, cf->temp_pool, 2,
                      sizeof(pt_http_conf_addr_t)) != PT_OK)
    {
        return PT_ERROR;
    }

    return pt_http_add_address(cf, cscf, port, lsopt);
}


static pt_int_t
pt_http_add_address(pt_conf_t *cf, pt_http_core_srv_conf_t *cscf,
    pt_http_conf_port_t *port, pt_http_listen_opt_t *lsopt)
{
    pt_uint_t             i, default_server, ssl;
    pt_http_conf_addr_t  *addr;

    addr = port->addrs.elts;

    for (i = 0; i < port->addrs.nelts; i++) {

        if (pt_cmp_sockaddr(&lsopt->sockaddr.sockaddr, lsopt->socklen,
                            &addr[i].opt.sockaddr.sockaddr,
                            addr[i].opt.socklen, 0) != PT_OK)
        {
            continue;
        }

        /* the same address again: add the server, merge the options */

        if (pt_http_add_server(cf, cscf, &addr[i]) != PT_OK) {
            return PT_ERROR;
        }

        default_server = addr[i].opt.default_server;
        ssl = addr[i].opt.ssl || lsopt->ssl;

        if (lsopt->default_server && default_server) {
            pt_conf_error(cf, "a duplicate default server for %.*s",
                          PT_STR_ARG(addr[i].opt.addr_text));
            return PT_ERROR;
        }

        if (lsopt->set) {
            if (addr[i].opt.set) {
                pt_conf_error(cf, "duplicate listen options for %.*s",
                              PT_STR_ARG(addr[i].opt.addr_text));
                return PT_ERROR;
            }

            addr[i].opt = *lsopt;
            addr[i].opt.default_server = default_server;
        }

        if (lsopt->default_server) {
            addr[i].default_server = cscf;
            addr[i].opt.default_server = 1;
        }

        addr[i].opt.ssl = ssl;

        return PT_OK;
    }

    addr = pt_array_push(&port->addrs);
    if (addr == NULL) {
        return PT_ERROR;
    }

    addr->opt = *lsopt;
    addr->default_server = cscf;

    if (pt_array_init(&addr->servers, cf->temp_pool, 2,
                      sizeof(pt_http_core_srv_conf_t *)) != PT_OK)
    {
        return PT_ERROR;
    }

    return pt_http_add_server(cf, cscf, addr);
}


static pt_int_t
pt_http_add_server(pt_conf_t *cf, pt_http_core_srv_conf_t *cscf,
    pt_http_conf_addr_t *addr)
{
    pt_uint_t                  i;
    pt_http_core_srv_conf_t  **server;

    server = addr->servers.elts;

    for (i = 0; i < addr->servers.nelts; i++) {
        if (server[i] == cscf) {
            pt_conf_error(cf, "a duplicate listen %.*s",
                          PT_STR_ARG(addr->opt.addr_text));
            return PT_ERROR;
        }
    }

    server = pt_array_push(&addr->servers);
    if (server == NULL) {
        return PT_ERROR;
    }

    *server = cscf;

    return PT_OK;
}


pt_int_t
pt_http_optimize_servers(pt_conf_t *cf, pt_http_core_main_conf_t *cmcf,
    pt_array_t *ports)
{
    pt_uint_t              p, a;
    pt_http_conf_port_t   *port;
    pt_http_conf_addr_t   *addr;

    if (ports == NULL) {
        return PT_OK;
    }

    port = ports->elts;

    for (p = 0; p < ports->nelts; p++) {

        addr = port[p].addrs.elts;

        for (a = 0; a < port[p].addrs.nelts; a++) {
            if (pt_http_server_names(cf, cmcf, &addr[a]) != PT_OK) {
                return PT_ERROR;
            }
        }

        if (pt_http_init_listening(cf, &port[p]) != PT_OK) {
            return PT_ERROR;
        }
    }

    return PT_OK;
}


/* Builds the name → server table of one listen address. */
static pt_int_t
pt_http_server_names(pt_conf_t *cf, pt_http_core_main_conf_t *cmcf,
    pt_http_conf_addr_t *addr)
{
    pt_int_t                   rc;
    pt_uint_t                  s, n, nregex, r;
    pt_hash_keys_t             ha;
    pt_http_server_name_t     *name, *regex;
    pt_http_core_srv_conf_t  **cscfp, *no_host;
    pt_http_virtual_names_t   *vn;

    cscfp = addr->servers.elts;
    no_host = NULL;

    nregex = 0;

    if (pt_hash_keys_init(&ha, cf->temp_pool) != PT_OK) {
        return PT_ERROR;
    }

    for (s = 0; s < addr->servers.nelts; s++) {

        name = cscfp[s]->server_names.elts;

        for (n = 0; n < cscfp[s]->server_names.nelts; n++) {

            if (name[n].regex) {
                nregex++;
                continue;
            }

            if (name[n].name.len == 0) {
                /* for requests that name no host at all */
                if (no_host == NULL) {
                    no_host = name[n].server;
                }
                continue;
            }

            rc = pt_hash_add_key(&ha, &name[n].name, name[n].server,
                                 PT_HASH_WILDCARD_KEY);

            if (rc == PT_ERROR) {
                return PT_ERROR;
            }

            if (rc == PT_DECLINED) {
                pt_log_error(PT_LOG_EMERG, cf->log, 0,
                             "invalid server name or wildcard \"%.*s\" "
                             "on %.*s", PT_STR_ARG(name[n].name),
                             PT_STR_ARG(addr->opt.addr_text));
                return PT_ERROR;
            }

            if (rc == PT_BUSY) {
                pt_log_error(PT_LOG_WARN, cf->log, 0,
                             "conflicting server name \"%.*s\" on %.*s, "
                             "ignored", PT_STR_ARG(name[n].name),
                             PT_STR_ARG(addr->opt.addr_text));
            }
        }
    }

    vn = pt_pcalloc(cf->pool, sizeof(pt_http_virtual_names_t));
    if (vn == NULL) {
        return PT_ERROR;
    }

    if (pt_hash_combined_init(&vn->names, &ha, cf->pool) != PT_OK) {
        return PT_ERROR;
    }

    vn->default_server = addr->default_server;
    vn->no_host_server = no_host;

    if (nregex) {
        regex = pt_palloc(cf->pool, nregex * sizeof(pt_http_server_name_t));
        if (regex == NULL) {
            return PT_ERROR;
        }

        r = 0;

        for (s = 0; s < addr->servers.nelts; s++) {
            name = cscfp[s]->server_names.elts;

            for (n = 0; n < cscfp[s]->server_names.nelts; n++) {
                if (name[n].regex) {
                    regex[r++] = name[n];
                }
            }
        }

        vn->regex = regex;
        vn->nregex = nregex;
    }

    addr->virtual_names = vn;

    return PT_OK;
}


/*
 * One listening socket per address, except that addresses on a port that
 * also has a wildcard share the wildcard's socket (binding both would
 * fail) unless "bind" asks for their own; the connection's local address
 * then picks the right table.
 */
static pt_int_t
pt_http_init_listening(pt_conf_t *cf, pt_http_conf_port_t *port)
{
    pt_uint_t             i, last, wildcard;
    pt_listening_t       *ls;
    pt_http_port_t       *hport;
    pt_http_conf_addr_t  *addr;

    addr = port->addrs.elts;
    last = port->addrs.nelts;

    /* put the wildcard last */
    wildcard = (pt_uint_t) -1;

    for (i = 0; i < last; i++) {
        if (addr[i].opt.wildcard) {
            wildcard = i;
        }
    }

    if (wildcard != (pt_uint_t) -1 && wildcard != last - 1) {
        pt_http_conf_addr_t  tmp;

        tmp = addr[wildcard];
        addr[wildcard] = addr[last - 1];
        addr[last - 1] = tmp;
        wildcard = last - 1;
    }

    for (i = 0; i < last; i++) {

        if (wildcard != (pt_uint_t) -1 && i != wildcard && !addr[i].opt.bind) {
            continue;       /* served by the wildcard socket */
        }

        ls = pt_http_add_listening(cf, &addr[i]);
        if (ls == NULL) {
            return PT_ERROR;
        }

        hport = pt_pcalloc(cf->pool, sizeof(pt_http_port_t));
        if (hport == NULL) {
            return PT_ERROR;
        }

        ls->servers = hport;

        if (i == wildcard) {
            /* every address without "bind", the wildcard last */
            pt_uint_t  j, n;

            n = 0;
            for (j = 0; j < last; j++) {
                if (j == wildcard || !addr[j].opt.bind) {
                    n++;
                }
            }

            hport->addrs = pt_pcalloc(cf->pool, n * sizeof(pt_http_in_addr_t));
            if (hport->addrs == NULL) {
                return PT_ERROR;
            }

            for (j = 0; j < last; j++) {
                if (j == wildcard || !addr[j].opt.bind) {
                    if (pt_http_add_addrs(cf, hport, &addr[j]) != PT_OK) {
                        return PT_ERROR;
                    }
                }
            }

        } else {
            hport->addrs = pt_pcalloc(cf->pool, sizeof(pt_http_in_addr_t));
            if (hport->addrs == NULL) {
                return PT_ERROR;
            }

            if (pt_http_add_addrs(cf, hport, &addr[i]) != PT_OK) {
                return PT_ERROR;
            }
        }
    }

    return PT_OK;
}


static pt_int_t
pt_http_add_addrs(pt_conf_t *cf, pt_http_port_t *hport,
    pt_http_conf_addr_t *addr)
{
    pt_http_in_addr_t        *in;
    pt_http_virtual_names_t  *vn;

    in = &hport->addrs[hport->naddrs++];

    pt_memcpy(&in->sockaddr, &addr->opt.sockaddr, addr->opt.socklen);
    in->socklen = addr->opt.socklen;
    in->conf.default_server = addr->default_server;
    in->conf.ssl = addr->opt.ssl;

    vn = addr->virtual_names;

    /* a table is only worth consulting when there is a name to find */
    if (vn->names.exact.buckets || vn->names.wc_head.buckets
        || vn->names.wc_tail.buckets || vn->names.wc_dot.buckets
        || vn->nregex
        || (vn->no_host_server && vn->no_host_server != vn->default_server))
    {
        in->conf.virtual_names = vn;
    }

    return PT_OK;
}


static pt_listening_t *
pt_http_add_listening(pt_conf_t *cf, pt_http_conf_addr_t *addr)
{
    pt_listening_t           *ls;
    pt_http_core_srv_conf_t  *cscf;

    ls = pt_create_listening(cf, &addr->opt.sockaddr.sockaddr,
                             addr->opt.socklen);
    if (ls == NULL) {
        return NULL;
    }

    ls->handler = pt_http_init_connection;

    cscf = addr->default_server;
    ls->pool_size = cscf->connection_pool_size;
    ls->logp = &cf->cycle->new_log;
    ls->log.handler = NULL;

    ls->backlog = addr->opt.backlog;
    ls->rcvbuf = addr->opt.rcvbuf;
    ls->sndbuf = addr->opt.sndbuf;
    ls->ipv6only = addr->opt.ipv6only;
    ls->reuseport = addr->opt.reuseport;

    return ls;
}


/*
 * MIME type lists (gzip_types, brotli_types): text/html always belongs,
 * "*" takes every type. The slot's field is a pt_http_types_t whose types
 * start as PT_CONF_UNSET_PTR.
 */
char *
pt_http_types_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char  *p = conf;

    pt_str_t         *value, *t;
    pt_uint_t         i;
    pt_http_types_t  *types;

    types = (pt_http_types_t *) (p + cmd->offset);

    if (types->types != PT_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    types->types = pt_array_create(cf->pool, cf->args->nelts,
                                   sizeof(pt_str_t));
    if (types->types == NULL) {
        return PT_CONF_ERROR;
    }

    t = pt_array_push(types->types);
    if (t == NULL) {
        return PT_CONF_ERROR;
    }

    pt_str_set(t, "text/html");

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (pt_str_eq_lit(&value[i], "*")) {
            types->any = 1;
            continue;
        }

        if (pt_strlchr(value[i].data, value[i].data + value[i].len, '/')
            == NULL)
        {
            pt_conf_error(cf, "invalid MIME type \"%.*s\"",
                          PT_STR_ARG(value[i]));
            return PT_CONF_ERROR;
        }

        t = pt_array_push(types->types);
        if (t == NULL) {
            return PT_CONF_ERROR;
        }

        *t = value[i];
    }

    return PT_CONF_OK;
}


char *
pt_http_merge_types(pt_conf_t *cf, pt_http_types_t *conf,
    pt_http_types_t *prev)
{
    pt_str_t  *t;

    if (conf->types == PT_CONF_UNSET_PTR) {
        *conf = *prev;
    }

    if (conf->types == PT_CONF_UNSET_PTR || conf->types == NULL) {
        conf->types = pt_array_create(cf->pool, 1, sizeof(pt_str_t));
        if (conf->types == NULL) {
            return PT_CONF_ERROR;
        }

        t = pt_array_push(conf->types);
        if (t == NULL) {
            return PT_CONF_ERROR;
        }

        pt_str_set(t, "text/html");
        conf->any = 0;
    }

    return PT_CONF_OK;
}


/* Is the response's Content-Type (parameters aside) in the list? */
pt_uint_t
pt_http_test_content_type(pt_http_request_t *r, pt_http_types_t *types)
{
    size_t      len;
    pt_uint_t   i;
    pt_str_t   *t;

    if (types->any) {
        return 1;
    }

    len = r->headers_out.content_type_len;

    if (len == 0 || len > r->headers_out.content_type.len) {
        len = r->headers_out.content_type.len;
    }

    for (i = 0; i < len; i++) {
        if (r->headers_out.content_type.data[i] == ';') {
            len = i;
            break;
        }
    }

    while (len && r->headers_out.content_type.data[len - 1] == ' ') {
        len--;
    }

    t = types->types->elts;

    for (i = 0; i < types->types->nelts; i++) {
        if (t[i].len == len
            && pt_strncasecmp(t[i].data, r->headers_out.content_type.data,
                              len) == 0)
        {
            return 1;
        }
    }

    return 0;
}
