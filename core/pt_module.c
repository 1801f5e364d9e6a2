/* The list of compiled-in modules and the hooks run over all of them. */
#include "pt_core.h"


pt_uint_t  pt_modules_n;


pt_int_t
pt_preinit_modules(void)
{
    pt_uint_t  i;

    for (i = 0; pt_modules[i]; i++) {
        pt_modules[i]->index = i;
        pt_modules[i]->name = pt_module_names[i];
    }

    pt_modules_n = i;

    return PT_OK;
}


pt_int_t
pt_cycle_modules(pt_cycle_t *cycle)
{
    cycle->modules = pt_pcalloc(cycle->pool,
                                (pt_modules_n + 1) * sizeof(pt_module_t *));
    if (cycle->modules == NULL) {
        return PT_ERROR;
    }

    pt_memcpy(cycle->modules, pt_modules,
              pt_modules_n * sizeof(pt_module_t *));

    cycle->modules_n = pt_modules_n;

    return PT_OK;
}


pt_int_t
pt_init_modules(pt_cycle_t *cycle)
{
    pt_uint_t  i;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->init_module) {
            if (cycle->modules[i]->init_module(cycle) != PT_OK) {
                return PT_ERROR;
            }
        }
    }

    return PT_OK;
}


/* Numbers the modules of one type (ctx_index) and returns how many there are. */
pt_int_t
pt_count_modules(pt_cycle_t *cycle, pt_uint_t type)
{
    pt_uint_t  i, n;

    n = 0;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->type != type) {
            continue;
        }

        cycle->modules[i]->ctx_index = n++;
    }

    return n;
}
