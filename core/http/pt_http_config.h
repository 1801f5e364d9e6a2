#ifndef PT_HTTP_CONFIG_H
#define PT_HTTP_CONFIG_H

/*
 * Each http module keeps a configuration per level: one for the http
 * block (main), one per server, one per location. A context points at the
 * three arrays that are in force; inner levels share the outer main array.
 */
typedef struct {
    void        **main_conf;
    void        **srv_conf;
    void        **loc_conf;
} pt_http_conf_ctx_t;

typedef struct {
    pt_int_t   (*preconfiguration)(pt_conf_t *cf);
    pt_int_t   (*postconfiguration)(pt_conf_t *cf);

    void      *(*create_main_conf)(pt_conf_t *cf);
    char      *(*init_main_conf)(pt_conf_t *cf, void *conf);

    void      *(*create_srv_conf)(pt_conf_t *cf);
    char      *(*merge_srv_conf)(pt_conf_t *cf, void *prev, void *conf);

    void      *(*create_loc_conf)(pt_conf_t *cf);
    char      *(*merge_loc_conf)(pt_conf_t *cf, void *prev, void *conf);
} pt_http_module_t;

#define PT_HTTP_MAIN_CONF_OFFSET  offsetof(pt_http_conf_ctx_t, main_conf)
#define PT_HTTP_SRV_CONF_OFFSET   offsetof(pt_http_conf_ctx_t, srv_conf)
#define PT_HTTP_LOC_CONF_OFFSET   offsetof(pt_http_conf_ctx_t, loc_conf)

#define pt_http_get_module_main_conf(r, module)                              \
    (r)->main_conf[module.ctx_index]
#define pt_http_get_module_srv_conf(r, module)                               \
    (r)->srv_conf[module.ctx_index]
#define pt_http_get_module_loc_conf(r, module)                               \
    (r)->loc_conf[module.ctx_index]

#define pt_http_conf_get_module_main_conf(cf, module)                        \
    ((pt_http_conf_ctx_t *) cf->ctx)->main_conf[module.ctx_index]
#define pt_http_conf_get_module_srv_conf(cf, module)                         \
    ((pt_http_conf_ctx_t *) cf->ctx)->srv_conf[module.ctx_index]
#define pt_http_conf_get_module_loc_conf(cf, module)                         \
    ((pt_http_conf_ctx_t *) cf->ctx)->loc_conf[module.ctx_index]

#define pt_http_cycle_get_module_main_conf(cycle, module)                    \
    (cycle->conf_ctx[pt_http_module.index]                                   \
     ? ((pt_http_conf_ctx_t *) cycle->conf_ctx[pt_http_module.index])        \
           ->main_conf[module.ctx_index]                                     \
     : NULL)

#endif /* PT_HTTP_CONFIG_H */
