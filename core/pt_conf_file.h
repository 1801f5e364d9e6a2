#ifndef PT_CONF_FILE_H
#define PT_CONF_FILE_H

/*
 * The configuration language: "name arg ...;" directives and
 * "name arg ... { ... }" blocks. Each directive is declared by a module in
 * a pt_command_t table with the contexts it may appear in and the number of
 * arguments it takes; the parser finds it, checks both, and calls its setter
 * with the configuration structure it belongs to.
 */

#define PT_CONF_NOARGS      0x00000001
#define PT_CONF_TAKE1       0x00000002
#define PT_CONF_TAKE2       0x00000004
#define PT_CONF_TAKE3       0x00000008
#define PT_CONF_TAKE4       0x00000010
#define PT_CONF_TAKE5       0x00000020
#define PT_CONF_TAKE6       0x00000040
#define PT_CONF_TAKE7       0x00000080

#define PT_CONF_MAX_ARGS    8

#define PT_CONF_TAKE12      (PT_CONF_TAKE1 | PT_CONF_TAKE2)
#define PT_CONF_TAKE13      (PT_CONF_TAKE1 | PT_CONF_TAKE3)
#define PT_CONF_TAKE23      (PT_CONF_TAKE2 | PT_CONF_TAKE3)
#define PT_CONF_TAKE123     (PT_CONF_TAKE1 | PT_CONF_TAKE2 | PT_CONF_TAKE3)
#define PT_CONF_TAKE1234    (PT_CONF_TAKE1 | PT_CONF_TAKE2 | PT_CONF_TAKE3   \
                             | PT_CONF_TAKE4)

#define PT_CONF_ARGS_NUMBER 0x000000ff
#define PT_CONF_BLOCK       0x00000100
#define PT_CONF_FLAG        0x00000200  /* on | off */
#define PT_CONF_ANY         0x00000400
#define PT_CONF_1MORE       0x00000800
#define PT_CONF_2MORE       0x00001000

/* Contexts: one bit each, so a directive may list several. */
#define PT_MAIN_CONF        0x00010000
#define PT_EVENT_CONF       0x00020000
#define PT_HTTP_MAIN_CONF   0x00040000
#define PT_HTTP_SRV_CONF    0x00080000
#define PT_HTTP_LOC_CONF    0x00100000
#define PT_HTTP_UPS_CONF    0x00200000
#define PT_HTTP_SIF_CONF    0x00400000  /* "if" in server */
#define PT_HTTP_LIF_CONF    0x00800000  /* "if" in location */
#define PT_HTTP_LMT_CONF    0x01000000  /* limit_except */
#define PT_ANY_CONF         0x0fff0000

/* The setter gets the module's main configuration itself, not its slot. */
#define PT_DIRECT_CONF      0x10000000

#define PT_CONF_OK          NULL
#define PT_CONF_ERROR       (char *) -1

#define PT_CONF_BLOCK_START 1
#define PT_CONF_BLOCK_DONE  2
#define PT_CONF_FILE_DONE   3

#define PT_MAX_CONF_ERRSTR  1024
#define PT_CONF_MAX_FILE_SIZE  (64 * 1024 * 1024)
#define PT_CONF_MAX_DEPTH   64          /* nested blocks and includes */

struct pt_command_s {
    pt_str_t     name;
    pt_uint_t    type;      /* contexts | argument count flags */
    char      *(*set)(pt_conf_t *cf, pt_command_t *cmd, void *conf);
    pt_uint_t    conf;      /* http: which of main/srv/loc conf */
    pt_uint_t    offset;    /* of the field the generic setters fill */
    void        *post;      /* bounds, enum table, or post handler */
};

#define pt_null_command  { pt_null_string, 0, NULL, 0, 0, NULL }

typedef struct {
    pt_str_t     name;      /* as opened: absolute */
    pt_str_t     buffer;    /* the whole file, read at once */
    u_char      *pos;
    pt_uint_t    line;
} pt_conf_file_t;

typedef struct {
    pt_str_t     name;
    pt_str_t     buffer;
} pt_conf_dump_t;

/* A block directive may install a handler for lines that are not directives
 * (types { ... }, map { ... }). */
typedef char *(*pt_conf_handler_pt)(pt_conf_t *cf, pt_command_t *dummy,
    void *conf);

struct pt_conf_s {
    const char          *name;          /* directive being set */
    pt_array_t          *args;          /* of pt_str_t, args[0] is the name */

    pt_cycle_t          *cycle;
    pt_pool_t           *pool;
    pt_pool_t           *temp_pool;
    pt_conf_file_t      *conf_file;
    pt_log_t            *log;

    void                *ctx;
    pt_uint_t            module_type;
    pt_uint_t            cmd_type;      /* the context bit we are in */

    pt_conf_handler_pt   handler;
    void                *handler_conf;
    pt_uint_t            depth;
};

typedef char *(*pt_conf_post_handler_pt)(pt_conf_t *cf, void *data,
    void *conf);

typedef struct {
    pt_conf_post_handler_pt  post_handler;
} pt_conf_post_t;

typedef struct {
    pt_conf_post_handler_pt  post_handler;
    pt_int_t                 low;
    pt_int_t                 high;
} pt_conf_num_bounds_t;

typedef struct {
    pt_str_t     name;
    pt_uint_t    value;
} pt_conf_enum_t;

#define PT_CONF_BITMASK_SET  1

typedef struct {
    pt_str_t     name;
    pt_uint_t    mask;
} pt_conf_bitmask_t;

char *pt_conf_check_num_bounds(pt_conf_t *cf, void *post, void *data);

/*
 * A directive's argument and where the directive is. What it names may be
 * read only once the whole configuration is in (when a server's or a
 * location's settings are merged), and an error found then must still
 * point at the directive.
 */
typedef struct {
    pt_str_t     value;         /* as written; data NULL: not set */
    pt_str_t     file;          /* the directive's; empty: the command line */
    pt_uint_t    line;          /* 0: not from a directive */
} pt_conf_arg_t;

/*
 * Parses filename (or, when filename is NULL, the block that follows in the
 * current file) and dispatches every directive. On error it has already
 * logged "[emerg] ... in FILE:LINE" and returns PT_CONF_ERROR.
 */
char *pt_conf_parse(pt_conf_t *cf, pt_str_t *filename);
/* Parses the -g string as if it were a file named "command line". */
char *pt_conf_param(pt_conf_t *cf);
char *pt_conf_include(pt_conf_t *cf, pt_command_t *cmd, void *conf);

/* Makes name absolute: against the prefix, or the config's dir (conf_prefix). */
pt_int_t pt_conf_full_name(pt_cycle_t *cycle, pt_str_t *name,
    pt_uint_t conf_prefix);
pt_open_file_t *pt_conf_open_file(pt_cycle_t *cycle, pt_str_t *name);

/* Logs "[level] msg in FILE:LINE" for the directive being parsed. */
#define pt_conf_error(cf, ...)                                               \
    pt_conf_log_error(PT_LOG_EMERG, cf, 0, __VA_ARGS__)

char *pt_conf_set_flag_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_conf_set_str_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
/* A pt_conf_arg_t: the directive's first argument and where it is. */
char *pt_conf_set_arg_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
void pt_conf_arg_here(pt_conf_t *cf, pt_conf_arg_t *arg);
/*
 * Points cf at arg's directive for pt_conf_error(), through where (which
 * must live as long as cf points at it); not when arg is not from one.
 * The caller puts cf->conf_file back.
 */
void pt_conf_arg_at(pt_conf_t *cf, pt_conf_arg_t *arg, pt_conf_file_t *where);
char *pt_conf_set_str_array_slot(pt_conf_t *cf, pt_command_t *cmd,
    void *conf);
char *pt_conf_set_keyval_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_conf_set_num_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_conf_set_size_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_conf_set_off_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_conf_set_msec_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_conf_set_sec_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_conf_set_bufs_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_conf_set_enum_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);
char *pt_conf_set_bitmask_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf);

#define pt_conf_init_value(conf, default)                                    \
    if (conf == PT_CONF_UNSET) {                                             \
        conf = default;                                                      \
    }

#define pt_conf_init_uint_value(conf, default)                               \
    if (conf == PT_CONF_UNSET_UINT) {                                        \
        conf = default;                                                      \
    }

#define pt_conf_init_msec_value(conf, default)                               \
    if (conf == PT_CONF_UNSET_MSEC) {                                        \
        conf = default;                                                      \
    }

#define pt_conf_merge_value(conf, prev, default)                             \
    if (conf == PT_CONF_UNSET) {                                             \
        conf = (prev == PT_CONF_UNSET) ? default : prev;                     \
    }

#define pt_conf_merge_ptr_value(conf, prev, default)                         \
    if (conf == PT_CONF_UNSET_PTR) {                                         \
        conf = (prev == PT_CONF_UNSET_PTR) ? default : prev;                 \
    }

#define pt_conf_merge_uint_value(conf, prev, default)                        \
    if (conf == PT_CONF_UNSET_UINT) {                                        \
        conf = (prev == PT_CONF_UNSET_UINT) ? default : prev;                \
    }

#define pt_conf_merge_msec_value(conf, prev, default)                        \
    if (conf == PT_CONF_UNSET_MSEC) {                                        \
        conf = (prev == PT_CONF_UNSET_MSEC) ? default : prev;                \
    }

#define pt_conf_merge_sec_value(conf, prev, default)                         \
    if (conf == PT_CONF_UNSET) {                                             \
        conf = (prev == PT_CONF_UNSET) ? default : prev;                     \
    }

#define pt_conf_merge_size_value(conf, prev, default)                        \
    if (conf == PT_CONF_UNSET_SIZE) {                                        \
        conf = (prev == PT_CONF_UNSET_SIZE) ? default : prev;                \
    }

#define pt_conf_merge_off_value(conf, prev, default)                         \
    if (conf == PT_CONF_UNSET) {                                             \
        conf = (prev == PT_CONF_UNSET) ? default : prev;                     \
    }

#define pt_conf_merge_str_value(conf, prev, default)                         \
    if (conf.data == NULL) {                                                 \
        if (prev.data) {                                                     \
            conf.len = prev.len;                                             \
            conf.data = prev.data;                                           \
        } else {                                                             \
            conf.len = sizeof(default) - 1;                                  \
            conf.data = (u_char *) default;                                  \
        }                                                                    \
    }

/* a pt_conf_arg_t: the parent's with its place, or a default from none */
#define pt_conf_merge_arg_value(conf, prev, default)                         \
    if (conf.value.data == NULL) {                                           \
        if (prev.value.data) {                                               \
            conf = prev;                                                     \
        } else {                                                             \
            conf.value.len = sizeof(default) - 1;                            \
            conf.value.data = (u_char *) default;                            \
        }                                                                    \
    }

#define pt_conf_merge_bufs_value(conf, prev, default_num, default_size)      \
    if (conf.num == 0) {                                                     \
        if (prev.num) {                                                      \
            conf.num = prev.num;                                             \
            conf.size = prev.size;                                           \
        } else {                                                             \
            conf.num = default_num;                                          \
            conf.size = default_size;                                        \
        }                                                                    \
    }

#define pt_conf_merge_bitmask_value(conf, prev, default)                     \
    if (conf == 0) {                                                         \
        conf = (prev == 0) ? default : prev;                                 \
    }

#endif /* PT_CONF_FILE_H */
