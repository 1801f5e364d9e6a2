/*
 * The configuration parser: a tokenizer over a file read whole into memory,
 * and a dispatcher that finds each directive in the modules' command tables.
 */
#include "pt_core.h"
#include <glob.h>


#define PT_CONF_PARSE_FILE   0
#define PT_CONF_PARSE_BLOCK  1
#define PT_CONF_PARSE_PARAM  2


static pt_int_t pt_conf_read_token(pt_conf_t *cf);
static pt_int_t pt_conf_handler(pt_conf_t *cf, pt_int_t last);
static pt_int_t pt_conf_add_dump(pt_conf_t *cf, pt_conf_file_t *file);


static pt_command_t  pt_conf_commands[] = {

    { pt_string("include"),
      PT_ANY_CONF | PT_CONF_TAKE1,
      pt_conf_include,
      0,
      0,
      NULL },

    pt_null_command
};


pt_module_t  pt_conf_module = {
    .commands = pt_conf_commands,
    .type = PT_CONF_MODULE,
};


/* The argument-count flags, indexed by the number of arguments. */
static pt_uint_t  argument_number[] = {
    PT_CONF_NOARGS,
    PT_CONF_TAKE1,
    PT_CONF_TAKE2,
    PT_CONF_TAKE3,
    PT_CONF_TAKE4,
    PT_CONF_TAKE5,
    PT_CONF_TAKE6,
    PT_CONF_TAKE7
};


char *
pt_conf_param(pt_conf_t *cf)
{
    char            *rv;
    pt_str_t        *param;
    pt_conf_file_t   conf_file;

    param = &cf->cycle->conf_param;

    if (param->len == 0) {
        return PT_CONF_OK;
    }

    pt_memzero(&conf_file, sizeof(pt_conf_file_t));

    conf_file.buffer = *param;
    conf_file.pos = param->data;
    conf_file.line = 1;

    cf->conf_file = &conf_file;

    rv = pt_conf_parse(cf, NULL);

    cf->conf_file = NULL;

    return rv;
}


char *
pt_conf_parse(pt_conf_t *cf, pt_str_t *filename)
{
    char            *rv;
    pt_int_t         rc, type;
    pt_conf_file_t  *prev, conf_file;

    prev = NULL;

    if (filename) {
        if (cf->depth >= PT_CONF_MAX_DEPTH) {
            pt_conf_error(cf, "too deeply nested includes or blocks");
            return PT_CONF_ERROR;
        }

        pt_memzero(&conf_file, sizeof(pt_conf_file_t));

        if (pt_read_whole_file(cf->cycle->pool, (char *) filename->data,
                               PT_CONF_MAX_FILE_SIZE, &conf_file.buffer)
            != PT_OK)
        {
            pt_conf_log_error(PT_LOG_EMERG, cf, errno,
                              "open() \"%.*s\" failed",
                              PT_STR_ARG(*filename));
            return PT_CONF_ERROR;
        }

        prev = cf->conf_file;

        conf_file.name = *filename;
        conf_file.pos = conf_file.buffer.data;
        conf_file.line = 1;

        cf->conf_file = &conf_file;
        cf->depth++;

        type = PT_CONF_PARSE_FILE;

        if (pt_dump_config && pt_conf_add_dump(cf, &conf_file) != PT_OK) {
            rc = PT_ERROR;
            goto done;
        }

    } else if (cf->conf_file->pos != cf->conf_file->buffer.data
               || cf->conf_file->name.len)
    {
        /* blocks nest by recursion too: bound them with the includes */
        if (cf->depth >= PT_CONF_MAX_DEPTH) {
            pt_conf_error(cf, "too deeply nested includes or blocks");
            return PT_CONF_ERROR;
        }

        cf->depth++;

        type = PT_CONF_PARSE_BLOCK;

    } else {
        type = PT_CONF_PARSE_PARAM;
    }

    for ( ;; ) {
        rc = pt_conf_read_token(cf);

        if (rc == PT_ERROR) {
            goto done;
        }

        if (rc == PT_CONF_BLOCK_DONE) {
            if (type != PT_CONF_PARSE_BLOCK) {
                pt_conf_error(cf, "unexpected \"}\"");
                rc = PT_ERROR;
                goto done;
            }

            rc = PT_OK;
            goto done;
        }

        if (rc == PT_CONF_FILE_DONE) {
            if (type == PT_CONF_PARSE_BLOCK) {
                pt_conf_error(cf, "unexpected end of file, expecting \"}\"");
                rc = PT_ERROR;
                goto done;
            }

            rc = PT_OK;
            goto done;
        }

        if (rc == PT_CONF_BLOCK_START && type == PT_CONF_PARSE_PARAM) {
            pt_conf_error(cf, "block directives are not supported "
                          "in -g option");
            rc = PT_ERROR;
            goto done;
        }

        /* rc is PT_OK (";") or PT_CONF_BLOCK_START ("{") */

        if (cf->handler) {
            /* A block with its own syntax (types, map): hand it the line. */
            if (rc == PT_CONF_BLOCK_START) {
                pt_conf_error(cf, "unexpected \"{\"");
                rc = PT_ERROR;
                goto done;
            }

            rv = cf->handler(cf, NULL, cf->handler_conf);
            if (rv == PT_CONF_OK) {
                continue;
            }

            if (rv != PT_CONF_ERROR) {
                pt_conf_error(cf, "%s", rv);
            }

            rc = PT_ERROR;
            goto done;
        }

        rc = pt_conf_handler(cf, rc);

        if (rc == PT_ERROR) {
            goto done;
        }
    }

done:

    if (filename) {
        cf->conf_file = prev;
    }

    if (type != PT_CONF_PARSE_PARAM) {
        cf->depth--;
    }

    return (rc == PT_ERROR) ? PT_CONF_ERROR : PT_CONF_OK;
}


static pt_int_t
pt_conf_add_dump(pt_conf_t *cf, pt_conf_file_t *file)
{
    pt_uint_t        i;
    pt_conf_dump_t  *cd;

    cd = cf->cycle->config_dump.elts;

    for (i = 0; i < cf->cycle->config_dump.nelts; i++) {
        if (pt_str_eq(&cd[i].name, &file->name)) {
            return PT_OK;
        }
    }

    cd = pt_array_push(&cf->cycle->config_dump);
    if (cd == NULL) {
        return PT_ERROR;
    }

    cd->name = file->name;
    cd->buffer = file->buffer;

    return PT_OK;
}


static pt_int_t
pt_conf_handler(pt_conf_t *cf, pt_int_t last)
{
    char          *rv;
    void          *conf, **confp;
    pt_uint_t      i, found, argn;
    pt_str_t      *name;
    pt_module_t   *module;
    pt_command_t  *cmd;

    name = cf->args->elts;
    found = 0;

    for (i = 0; cf->cycle->modules[i]; i++) {

        module = cf->cycle->modules[i];
        cmd = module->commands;

        if (cmd == NULL) {
            continue;
        }

        for ( /* void */ ; cmd->name.len; cmd++) {

            if (!pt_str_eq(name, &cmd->name)) {
                continue;
            }

            found = 1;

            if (module->type != PT_CONF_MODULE
                && module->type != cf->module_type)
            {
                continue;
            }

            if (!(cmd->type & cf->cmd_type)) {
                continue;
            }

            if (!(cmd->type & PT_CONF_BLOCK) && last != PT_OK) {
                pt_conf_error(cf, "directive \"%.*s\" is not terminated "
                              "by \";\"", PT_STR_ARG(*name));
                return PT_ERROR;
            }

            if ((cmd->type & PT_CONF_BLOCK) && last != PT_CONF_BLOCK_START) {
                pt_conf_error(cf, "directive \"%.*s\" has no opening \"{\"",
                              PT_STR_ARG(*name));
                return PT_ERROR;
            }

            argn = cf->args->nelts - 1;

            if (cmd->type & PT_CONF_ANY) {
                /* any number */

            } else if (cmd->type & PT_CONF_FLAG) {
                if (argn != 1) {
                    goto invalid;
                }

            } else if (cmd->type & PT_CONF_1MORE) {
                if (argn < 1) {
                    goto invalid;
                }

            } else if (cmd->type & PT_CONF_2MORE) {
                if (argn < 2) {
                    goto invalid;
                }

            } else if (argn >= PT_CONF_MAX_ARGS) {
                goto invalid;

            } else if (!(cmd->type & argument_number[argn])) {
                goto invalid;
            }

            conf = NULL;

            if (cmd->type & PT_DIRECT_CONF) {
                conf = ((void **) cf->ctx)[module->index];

            } else if (cmd->type & PT_MAIN_CONF && cf->cmd_type == PT_MAIN_CONF)
            {
                conf = &(((void **) cf->ctx)[module->index]);

            } else if (cf->ctx) {
                confp = *(void **) ((char *) cf->ctx + cmd->conf);

                if (confp) {
                    conf = confp[module->ctx_index];
                }
            }

            cf->name = (const char *) cmd->name.data;

            rv = cmd->set(cf, cmd, conf);

            if (rv == PT_CONF_OK) {
                return PT_OK;
            }

            if (rv == PT_CONF_ERROR) {
                return PT_ERROR;
            }

            pt_conf_error(cf, "\"%.*s\" directive %s", PT_STR_ARG(*name), rv);

            return PT_ERROR;
        }
    }

    if (found) {
        pt_conf_error(cf, "\"%.*s\" directive is not allowed here",
                      PT_STR_ARG(*name));
        return PT_ERROR;
    }

    pt_conf_error(cf, "unknown directive \"%.*s\"", PT_STR_ARG(*name));

    return PT_ERROR;

invalid:

    pt_conf_error(cf, "invalid number of arguments in \"%.*s\" directive",
                  PT_STR_ARG(*name));

    return PT_ERROR;
}


/* Copies a token from [start, end) into pool memory, undoing escapes. */
static pt_int_t
pt_conf_push_word(pt_conf_t *cf, u_char *start, u_char *end)
{
    u_char    *dst, *src;
    pt_str_t  *word;

    word = pt_array_push(cf->args);
    if (word == NULL) {
        return PT_ERROR;
    }

    word->data = pt_pnalloc(cf->pool, end - start + 1);
    if (word->data == NULL) {
        return PT_ERROR;
    }

    for (dst = word->data, src = start; src < end; /* void */) {

        if (*src == '\\' && src + 1 < end) {
            switch (src[1]) {
            case '"':
            case '\'':
            case '\\':
                *dst++ = src[1];
                src += 2;
                continue;
            case 't':
                *dst++ = '\t';
                src += 2;
                continue;
            case 'r':
                *dst++ = '\r';
                src += 2;
                continue;
            case 'n':
                *dst++ = '\n';
                src += 2;
                continue;
            }
        }

        *dst++ = *src++;
    }

    *dst = '\0';
    word->len = dst - word->data;

    return PT_OK;
}


/*
 * Reads one directive's words into cf->args. Returns PT_OK at ";",
 * PT_CONF_BLOCK_START at "{", PT_CONF_BLOCK_DONE at "}", PT_CONF_FILE_DONE at
 * the end of the input, or PT_ERROR (logged).
 */
static pt_int_t
pt_conf_read_token(pt_conf_t *cf)
{
    u_char          ch, quote, *p, *last, *start;
    pt_uint_t       variable, start_line;
    pt_conf_file_t  *file;

    file = cf->conf_file;
    p = file->pos;
    last = file->buffer.data + file->buffer.len;

    cf->args->nelts = 0;

    for ( ;; ) {

        /* between words */

        while (p < last) {
            ch = *p;

            if (ch == '\n') {
                file->line++;
                p++;
                continue;
            }

            if (ch == ' ' || ch == '\t' || ch == '\r') {
                p++;
                continue;
            }

            if (ch == '#') {
                while (p < last && *p != '\n') {
                    p++;
                }
                continue;
            }

            break;
        }

        if (p == last) {
            file->pos = p;

            if (cf->args->nelts > 0) {
                pt_conf_error(cf, "unexpected end of file, "
                              "expecting \";\" or \"}\"");
                return PT_ERROR;
            }

            return PT_CONF_FILE_DONE;
        }

        ch = *p;

        switch (ch) {

        case ';':
            file->pos = p + 1;

            if (cf->args->nelts == 0) {
                pt_conf_error(cf, "unexpected \";\"");
                return PT_ERROR;
            }

            return PT_OK;

        case '{':
            file->pos = p + 1;

            if (cf->args->nelts == 0) {
                pt_conf_error(cf, "unexpected \"{\"");
                return PT_ERROR;
            }

            return PT_CONF_BLOCK_START;

        case '}':
            file->pos = p + 1;

            if (cf->args->nelts != 0) {
                pt_conf_error(cf, "unexpected \"}\"");
                return PT_ERROR;
            }

            return PT_CONF_BLOCK_DONE;

        case '\0':
            file->pos = p;
            pt_conf_error(cf, "unexpected NUL byte");
            return PT_ERROR;

        case '"':
        case '\'':
            quote = ch;
            start = ++p;
            start_line = file->line;

            while (p < last && *p != quote) {
                /* an escaped NUL is still a NUL: caught below */
                if (*p == '\\' && p + 1 < last && p[1] != '\0') {
                    if (p[1] == '\n') {
                        file->line++;
                    }
                    p += 2;
                    continue;
                }

                if (*p == '\n') {
                    file->line++;
                } else if (*p == '\0') {
                    file->pos = p;
                    pt_conf_error(cf, "unexpected NUL byte");
                    return PT_ERROR;
                }

                p++;
            }

            if (p == last) {
                file->pos = p;
                file->line = start_line;
                pt_conf_error(cf, "unterminated quoted string");
                return PT_ERROR;
            }

            if (pt_conf_push_word(cf, start, p) != PT_OK) {
                return PT_ERROR;
            }

            p++;

            /* a closing quote must end the word */
            if (p < last && *p != ' ' && *p != '\t' && *p != '\r'
                && *p != '\n' && *p != ';' && *p != '{' && *p != '}')
            {
                file->pos = p;
                pt_conf_error(cf, "unexpected \"%c\" after quoted string",
                              *p);
                return PT_ERROR;
            }

            continue;
        }

        /* a plain word: up to white space, ";", "{" (except in "${") or "}" */

        start = p;
        variable = 0;

        while (p < last) {
            ch = *p;

            if (ch == '\\' && p + 1 < last && p[1] != '\n' && p[1] != '\0') {
                p += 2;
                continue;
            }

            if (ch == '$') {
                variable = 1;
                p++;
                continue;
            }

            if (ch == '{' && variable) {
                /* "${name}" is part of the word */
                while (p < last && *p != '}' && *p != '\n' && *p != ';') {
                    if (*p == '\0') {
                        file->pos = p;
                        pt_conf_error(cf, "unexpected NUL byte");
                        return PT_ERROR;
                    }

                    p++;
                }

                if (p == last || *p != '}') {
                    file->pos = p;
                    pt_conf_error(cf, "unterminated variable name");
                    return PT_ERROR;
                }

                p++;
                variable = 0;
                continue;
            }

            variable = 0;

            if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'
                || ch == ';' || ch == '{' || ch == '}')
            {
                break;
            }

            if (ch == '\0') {
                file->pos = p;
                pt_conf_error(cf, "unexpected NUL byte");
                return PT_ERROR;
            }

            p++;
        }

        if (pt_conf_push_word(cf, start, p) != PT_OK) {
            return PT_ERROR;
        }

        file->pos = p;
    }
}


/*
 * A directory of the pattern that does not exist matches nothing, as a
 * missing file would; any other error (EACCES, EIO) stops the glob.
 */
static int
pt_conf_glob_error(const char *path, int err)
{
    if (err == ENOENT || err == ENOTDIR) {
        return 0;
    }

    errno = err;

    return 1;
}


char *
pt_conf_include(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char       *rv;
    int         n;
    size_t      i;
    glob_t      gl;
    pt_str_t   *value, file, name;

    value = cf->args->elts;
    file = value[1];

    if (pt_conf_full_name(cf->cycle, &file, 1) != PT_OK) {
        return PT_CONF_ERROR;
    }

    if (strpbrk((char *) file.data, "*?[") == NULL) {
        return pt_conf_parse(cf, &file);
    }

    pt_memzero(&gl, sizeof(glob_t));

    n = glob((char *) file.data, 0, pt_conf_glob_error, &gl);

    if (n == GLOB_NOMATCH) {
        globfree(&gl);
        return PT_CONF_OK;
    }

    if (n != 0) {
        globfree(&gl);
        pt_conf_log_error(PT_LOG_EMERG, cf, errno, "glob() \"%.*s\" failed",
                          PT_STR_ARG(file));
        return PT_CONF_ERROR;
    }

    rv = PT_CONF_OK;

    for (i = 0; i < gl.gl_pathc; i++) {
        name.len = strlen(gl.gl_pathv[i]);
        name.data = pt_pnalloc(cf->pool, name.len + 1);
        if (name.data == NULL) {
            rv = PT_CONF_ERROR;
            break;
        }

        pt_memcpy(name.data, gl.gl_pathv[i], name.len + 1);

        rv = pt_conf_parse(cf, &name);
        if (rv != PT_CONF_OK) {
            break;
        }
    }

    globfree(&gl);

    return rv;
}


pt_int_t
pt_conf_full_name(pt_cycle_t *cycle, pt_str_t *name, pt_uint_t conf_prefix)
{
    pt_str_t  *prefix;

    prefix = conf_prefix ? &cycle->conf_prefix : &cycle->prefix;

    return pt_get_full_name(cycle->pool, prefix, name);
}


/*
 * Returns the cycle's open-file entry for name, adding one if needed. The
 * file itself is opened by pt_init_cycle once the whole config is read.
 */
pt_open_file_t *
pt_conf_open_file(pt_cycle_t *cycle, pt_str_t *name)
{
    pt_str_t         full;
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_open_file_t  *file;

    if (pt_str_eq_lit(name, "stderr")) {
        full = *name;
    } else {
        full = *name;
        if (pt_conf_full_name(cycle, &full, 0) != PT_OK) {
            return NULL;
        }
    }

    part = &cycle->open_files.part;
    file = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            file = part->elts;
            i = 0;
        }

        if (pt_str_eq(&full, &file[i].name)) {
            return &file[i];
        }
    }

    file = pt_list_push(&cycle->open_files);
    if (file == NULL) {
        return NULL;
    }

    pt_memzero(file, sizeof(pt_open_file_t));

    file->name = full;
    file->fd = pt_str_eq_lit(&full, "stderr") ? STDERR_FILENO
                                               : PT_INVALID_FILE;

    return file;
}


char *
pt_conf_set_flag_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char            *p = conf;
    pt_str_t        *value;
    pt_flag_t       *fp;
    pt_conf_post_t  *post;

    fp = (pt_flag_t *) (p + cmd->offset);

    if (*fp != PT_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (pt_strcasecmp(value[1].data, (u_char *) "on") == 0) {
        *fp = 1;

    } else if (pt_strcasecmp(value[1].data, (u_char *) "off") == 0) {
        *fp = 0;

    } else {
        pt_conf_error(cf, "invalid value \"%.*s\" in \"%.*s\" directive, "
                      "it must be \"on\" or \"off\"",
                      PT_STR_ARG(value[1]), PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, fp);
    }

    return PT_CONF_OK;
}


char *
pt_conf_set_str_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char            *p = conf;
    pt_str_t        *field, *value;
    pt_conf_post_t  *post;

    field = (pt_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *field = value[1];

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, field);
    }

    return PT_CONF_OK;
}


void
pt_conf_arg_here(pt_conf_t *cf, pt_conf_arg_t *arg)
{
    pt_str_t  *value;

    value = cf->args->elts;

    arg->value = value[1];

    if (cf->conf_file) {
        arg->file = cf->conf_file->name;
        arg->line = cf->conf_file->line;
    }
}


char *
pt_conf_set_arg_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    pt_conf_arg_t  *arg;

    arg = (pt_conf_arg_t *) ((char *) conf + cmd->offset);

    if (arg->value.data) {
        return "is duplicate";
    }

    pt_conf_arg_here(cf, arg);

    return PT_CONF_OK;
}


void
pt_conf_arg_at(pt_conf_t *cf, pt_conf_arg_t *arg, pt_conf_file_t *where)
{
    if (arg->line == 0) {
        return;
    }

    pt_memzero(where, sizeof(pt_conf_file_t));

    where->name = arg->file;
    where->line = arg->line;

    cf->conf_file = where;
}


char *
pt_conf_set_str_array_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char             *p = conf;
    pt_str_t         *value, *s;
    pt_array_t      **a;
    pt_conf_post_t   *post;

    a = (pt_array_t **) (p + cmd->offset);

    if (*a == PT_CONF_UNSET_PTR || *a == NULL) {
        *a = pt_array_create(cf->pool, 4, sizeof(pt_str_t));
        if (*a == NULL) {
            return PT_CONF_ERROR;
        }
    }

    s = pt_array_push(*a);
    if (s == NULL) {
        return PT_CONF_ERROR;
    }

    value = cf->args->elts;

    *s = value[1];

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, s);
    }

    return PT_CONF_OK;
}


char *
pt_conf_set_keyval_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char             *p = conf;
    pt_str_t         *value;
    pt_array_t      **a;
    pt_keyval_t      *kv;
    pt_conf_post_t   *post;

    a = (pt_array_t **) (p + cmd->offset);

    if (*a == PT_CONF_UNSET_PTR || *a == NULL) {
        *a = pt_array_create(cf->pool, 4, sizeof(pt_keyval_t));
        if (*a == NULL) {
            return PT_CONF_ERROR;
        }
    }

    kv = pt_array_push(*a);
    if (kv == NULL) {
        return PT_CONF_ERROR;
    }

    value = cf->args->elts;

    kv->key = value[1];
    kv->value = value[2];

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, kv);
    }

    return PT_CONF_OK;
}


char *
pt_conf_set_num_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char            *p = conf;
    pt_int_t        *np;
    pt_str_t        *value;
    pt_conf_post_t  *post;

    np = (pt_int_t *) (p + cmd->offset);

    if (*np != PT_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    *np = pt_atoi(value[1].data, value[1].len);
    if (*np == PT_ERROR) {
        pt_conf_error(cf, "invalid number \"%.*s\" in \"%.*s\" directive",
                      PT_STR_ARG(value[1]), PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, np);
    }

    return PT_CONF_OK;
}


char *
pt_conf_set_size_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char            *p = conf;
    size_t          *sp;
    ssize_t          n;
    pt_str_t        *value;
    pt_conf_post_t  *post;

    sp = (size_t *) (p + cmd->offset);
    if (*sp != PT_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = pt_parse_size(&value[1]);
    if (n == PT_ERROR) {
        pt_conf_error(cf, "invalid size \"%.*s\" in \"%.*s\" directive",
                      PT_STR_ARG(value[1]), PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    *sp = (size_t) n;

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, sp);
    }

    return PT_CONF_OK;
}


char *
pt_conf_set_off_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char            *p = conf;
    off_t           *op;
    pt_str_t        *value;
    pt_conf_post_t  *post;

    op = (off_t *) (p + cmd->offset);
    if (*op != PT_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *op = pt_parse_offset(&value[1]);
    if (*op == (off_t) PT_ERROR) {
        pt_conf_error(cf, "invalid size \"%.*s\" in \"%.*s\" directive",
                      PT_STR_ARG(value[1]), PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, op);
    }

    return PT_CONF_OK;
}


char *
pt_conf_set_msec_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char            *p = conf;
    pt_int_t         n;
    pt_msec_t       *msp;
    pt_str_t        *value;
    pt_conf_post_t  *post;

    msp = (pt_msec_t *) (p + cmd->offset);
    if (*msp != PT_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = pt_parse_time(&value[1], 0);
    if (n == PT_ERROR) {
        pt_conf_error(cf, "invalid time \"%.*s\" in \"%.*s\" directive",
                      PT_STR_ARG(value[1]), PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    *msp = (pt_msec_t) n;

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, msp);
    }

    return PT_CONF_OK;
}


char *
pt_conf_set_sec_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char            *p = conf;
    time_t          *sp;
    pt_int_t         n;
    pt_str_t        *value;
    pt_conf_post_t  *post;

    sp = (time_t *) (p + cmd->offset);
    if (*sp != PT_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = pt_parse_time(&value[1], 1);
    if (n == PT_ERROR) {
        pt_conf_error(cf, "invalid time \"%.*s\" in \"%.*s\" directive",
                      PT_STR_ARG(value[1]), PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    *sp = (time_t) n;

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, sp);
    }

    return PT_CONF_OK;
}


char *
pt_conf_set_bufs_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char       *p = conf;
    ssize_t     size;
    pt_int_t    num;
    pt_str_t   *value;
    pt_bufs_t  *bufs;

    bufs = (pt_bufs_t *) (p + cmd->offset);
    if (bufs->num) {
        return "is duplicate";
    }

    value = cf->args->elts;

    num = pt_atoi(value[1].data, value[1].len);
    if (num == PT_ERROR || num == 0) {
        pt_conf_error(cf, "invalid number \"%.*s\" in \"%.*s\" directive",
                      PT_STR_ARG(value[1]), PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    size = pt_parse_size(&value[2]);
    if (size == PT_ERROR || size == 0) {
        pt_conf_error(cf, "invalid size \"%.*s\" in \"%.*s\" directive",
                      PT_STR_ARG(value[2]), PT_STR_ARG(cmd->name));
        return PT_CONF_ERROR;
    }

    bufs->num = num;
    bufs->size = size;

    return PT_CONF_OK;
}


char *
pt_conf_set_enum_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char            *p = conf;
    pt_uint_t       *np, i;
    pt_str_t        *value;
    pt_conf_enum_t  *e;

    np = (pt_uint_t *) (p + cmd->offset);

    if (*np != PT_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    e = cmd->post;

    for (i = 0; e[i].name.len != 0; i++) {
        if (pt_str_caseeq(&e[i].name, &value[1])) {
            *np = e[i].value;
            return PT_CONF_OK;
        }
    }

    pt_conf_error(cf, "invalid value \"%.*s\" in \"%.*s\" directive",
                  PT_STR_ARG(value[1]), PT_STR_ARG(cmd->name));

    return PT_CONF_ERROR;
}


char *
pt_conf_set_bitmask_slot(pt_conf_t *cf, pt_command_t *cmd, void *conf)
{
    char               *p = conf;
    pt_uint_t          *np, i, m;
    pt_str_t           *value;
    pt_conf_bitmask_t  *mask;

    np = (pt_uint_t *) (p + cmd->offset);
    value = cf->args->elts;
    mask = cmd->post;

    if (*np & PT_CONF_BITMASK_SET) {
        return "is duplicate";
    }

    for (i = 1; i < cf->args->nelts; i++) {
        for (m = 0; mask[m].name.len != 0; m++) {
            if (pt_str_caseeq(&mask[m].name, &value[i])) {
                break;
            }
        }

        if (mask[m].name.len == 0) {
            pt_conf_error(cf, "invalid value \"%.*s\" in \"%.*s\" directive",
                          PT_STR_ARG(value[i]), PT_STR_ARG(cmd->name));
            return PT_CONF_ERROR;
        }

        if (*np & mask[m].mask) {
            pt_conf_log_error(PT_LOG_WARN, cf, 0, "duplicate value \"%.*s\"",
                              PT_STR_ARG(value[i]));
        } else {
            *np |= mask[m].mask;
        }
    }

    *np |= PT_CONF_BITMASK_SET;

    return PT_CONF_OK;
}


char *
pt_conf_check_num_bounds(pt_conf_t *cf, void *post, void *data)
{
    pt_conf_num_bounds_t  *bounds = post;
    pt_int_t              *np = data;

    if (bounds->high == -1) {
        if (*np >= bounds->low) {
            return PT_CONF_OK;
        }

        pt_conf_error(cf, "value must be equal to or greater than %ld",
                      (long) bounds->low);
        return PT_CONF_ERROR;
    }

    if (*np >= bounds->low && *np <= bounds->high) {
        return PT_CONF_OK;
    }

    pt_conf_error(cf, "value must be between %ld and %ld",
                  (long) bounds->low, (long) bounds->high);

    return PT_CONF_ERROR;
}
