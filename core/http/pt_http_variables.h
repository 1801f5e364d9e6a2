#ifndef PT_HTTP_VARIABLES_H
#define PT_HTTP_VARIABLES_H

/*
 * Variables are declared by name at configuration time; those a
 * configuration uses get an index, and their values are computed lazily
 * per request and cached in r->variables. Families ($http_NAME,
 * $arg_NAME, ...) are prefix variables: the handler gets the full name.
 */

typedef struct {
    unsigned    len:28;
    unsigned    valid:1;
    unsigned    no_cacheable:1;
    unsigned    not_found:1;
    unsigned    escape:1;
    u_char     *data;
} pt_http_variable_value_t;

typedef struct pt_http_variable_s  pt_http_variable_t;

typedef pt_int_t (*pt_http_get_variable_pt)(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);
typedef void (*pt_http_set_variable_pt)(pt_http_request_t *r,
    pt_http_variable_value_t *v, uintptr_t data);

#define PT_HTTP_VAR_CHANGEABLE   1
#define PT_HTTP_VAR_NOCACHEABLE  2
#define PT_HTTP_VAR_INDEXED      4
#define PT_HTTP_VAR_NOHASH       8
#define PT_HTTP_VAR_PREFIX       32

struct pt_http_variable_s {
    pt_str_t                  name;
    pt_http_set_variable_pt   set_handler;
    pt_http_get_variable_pt   get_handler;
    uintptr_t                 data;
    pt_uint_t                 flags;
    pt_uint_t                 index;
};

#define pt_http_null_variable  { pt_null_string, NULL, NULL, 0, 0, 0 }

pt_http_variable_t *pt_http_add_variable(pt_conf_t *cf, pt_str_t *name,
    pt_uint_t flags);
pt_int_t pt_http_add_variables(pt_conf_t *cf, pt_http_variable_t *vars);
pt_uint_t pt_http_variable_declared(pt_conf_t *cf, pt_str_t *name);
/* Returns the index of a variable the configuration uses, or PT_ERROR. */
pt_int_t pt_http_get_variable_index(pt_conf_t *cf, pt_str_t *name);
pt_http_variable_value_t *pt_http_get_indexed_variable(pt_http_request_t *r,
    pt_uint_t index);
pt_http_variable_value_t *pt_http_get_flushed_variable(pt_http_request_t *r,
    pt_uint_t index);

pt_int_t pt_http_variables_add_core_vars(pt_conf_t *cf);
pt_int_t pt_http_variables_init_vars(pt_conf_t *cf);

extern pt_http_variable_value_t  pt_http_variable_null_value;
extern pt_http_variable_value_t  pt_http_variable_true_value;


/*
 * A complex value: a string with variables, compiled once into literal and
 * variable parts, evaluated per request.
 */

#define PT_HTTP_CV_LITERAL   0
#define PT_HTTP_CV_VARIABLE  1
#define PT_HTTP_CV_CAPTURE   2

typedef struct {
    pt_uint_t    type;
    pt_str_t     text;          /* the literal */
    pt_uint_t    index;         /* the variable, or the capture number */
} pt_http_cv_part_t;

typedef struct {
    pt_str_t             value;     /* as written */
    pt_http_cv_part_t   *parts;     /* NULL when value has no variables */
    pt_uint_t            nparts;
} pt_http_complex_value_t;

typedef struct {
    pt_conf_t                 *cf;
    pt_str_t                  *value;
    pt_http_complex_value_t   *complex_value;
} pt_http_compile_complex_value_t;

pt_int_t pt_http_compile_complex_value(pt_http_compile_complex_value_t *ccv);
/* Evaluates cv for r into pool memory (or cv->value itself when constant). */
pt_int_t pt_http_complex_value(pt_http_request_t *r,
    pt_http_complex_value_t *cv, pt_str_t *value);
char *pt_http_set_complex_value_slot(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);

#endif /* PT_HTTP_VARIABLES_H */
