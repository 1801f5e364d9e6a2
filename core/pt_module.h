#ifndef PT_MODULE_H
#define PT_MODULE_H

/*
 * A module is a static pt_module_t compiled in; configure writes the ordered
 * list into objs/pt_modules.c. The type says what its ctx points to:
 * PT_CORE_MODULE → pt_core_module_t, PT_EVENT_MODULE → pt_event_module_t,
 * PT_HTTP_MODULE → pt_http_module_t.
 */

#define PT_CORE_MODULE   0x45524f43  /* "CORE" */
#define PT_CONF_MODULE   0x464e4f43  /* "CONF" */
#define PT_EVENT_MODULE  0x544e5645  /* "EVNT" */
#define PT_HTTP_MODULE   0x50545448  /* "HTTP" */

struct pt_module_s {
    const char      *name;          /* filled from pt_module_names */
    pt_uint_t        index;         /* in pt_modules */
    pt_uint_t        ctx_index;     /* among modules of its type */
    void            *ctx;
    pt_command_t    *commands;
    pt_uint_t        type;

    pt_int_t       (*init_module)(pt_cycle_t *cycle);    /* in the master */
    pt_int_t       (*init_process)(pt_cycle_t *cycle);   /* in each worker */
    void           (*exit_process)(pt_cycle_t *cycle);
};

typedef struct {
    pt_str_t         name;
    void          *(*create_conf)(pt_cycle_t *cycle);
    char          *(*init_conf)(pt_cycle_t *cycle, void *conf);
} pt_core_module_t;

#define PT_UNSET_INDEX  ((pt_uint_t) -1)

extern pt_module_t  *pt_modules[];
extern const char   *pt_module_names[];
extern pt_uint_t     pt_modules_n;

pt_int_t pt_preinit_modules(void);
pt_int_t pt_cycle_modules(pt_cycle_t *cycle);
pt_int_t pt_init_modules(pt_cycle_t *cycle);
pt_int_t pt_count_modules(pt_cycle_t *cycle, pt_uint_t type);

#endif /* PT_MODULE_H */
