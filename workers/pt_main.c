/*
 * portico: the command line, then the configuration, then the process
 * cycle that serves.
 */
#include "pt_process.h"
#include <openssl/crypto.h>


static pt_int_t pt_get_options(int argc, char *const *argv);
static pt_int_t pt_set_exec_path(pt_cycle_t *cycle);
static pt_int_t pt_save_argv(int argc, char *const *argv);
static pt_int_t pt_process_options(pt_cycle_t *cycle);
static void pt_show_version_info(void);
static void pt_dump_configuration(pt_cycle_t *cycle);


static pt_uint_t   pt_show_help;
static pt_uint_t   pt_show_version;
static pt_uint_t   pt_show_configure;
static u_char     *pt_prefix;
static u_char     *pt_conf_file;
static u_char     *pt_conf_params;
static char       *pt_signal;

char  **pt_argv;        /* a copy, for exec on USR2 */
char  **pt_os_argv;     /* the real one, overwritten by process titles */
int     pt_argc;


int
main(int argc, char *const *argv)
{
    char            *inherited;
    pt_log_t        *log;
    pt_cycle_t      *cycle, init_cycle;
    pt_core_conf_t  *ccf;

    if (pt_save_argv(argc, argv) != PT_OK) {
        return 1;
    }

    if (pt_get_options(argc, argv) != PT_OK) {
        return 1;
    }

    if (pt_show_version) {
        pt_show_version_info();

        if (!pt_test_config) {
            return 0;
        }
    }

    pt_time_init();

    pt_pid = getpid();

    log = pt_log_init();
    if (log == NULL) {
        return 1;
    }

    pt_memzero(&init_cycle, sizeof(pt_cycle_t));
    init_cycle.log = log;
    pt_cycle = &init_cycle;

    init_cycle.pool = pt_create_pool(1024, log);
    if (init_cycle.pool == NULL) {
        return 1;
    }

    if (pt_process_options(&init_cycle) != PT_OK) {
        pt_destroy_pool(init_cycle.pool);
        return 1;
    }

    if (pt_os_init(log) != PT_OK) {
        pt_destroy_pool(init_cycle.pool);
        return 1;
    }

    if (pt_preinit_modules() != PT_OK) {
        pt_destroy_pool(init_cycle.pool);
        return 1;
    }

    if (pt_signal) {
        /* only the pid file's name is needed from the configuration */
        pt_test_config = 1;
        pt_quiet_mode = 1;
    }

    inherited = getenv(PORTICO_VAR);

    if (inherited && !pt_test_config) {
        /* started by the master of an older binary (USR2) */
        pt_inherited = 1;

        if (pt_set_inherited_sockets(&init_cycle, inherited) != PT_OK) {
            return 1;
        }
    }

    (void) unsetenv(PORTICO_VAR);

    cycle = pt_init_cycle(&init_cycle);

    if (cycle == NULL) {
        if (pt_test_config && !pt_signal) {
            pt_log_stderr(0, "configuration file %.*s test failed",
                          PT_STR_ARG(init_cycle.conf_file));
        }

        pt_destroy_pool(init_cycle.pool);
        return 1;
    }

    pt_cycle = cycle;

    if (pt_signal) {
        int  rc;

        rc = (int) pt_signal_process(cycle, pt_signal);
        pt_destroy_cycle(cycle);
        pt_destroy_pool(init_cycle.pool);
        return rc;
    }

    if (pt_test_config) {
        if (!pt_quiet_mode) {
            pt_log_stderr(0, "configuration file %.*s test is successful",
                          PT_STR_ARG(cycle->conf_file));
        }

        if (pt_dump_config) {
            pt_dump_configuration(cycle);
        }

        pt_destroy_cycle(cycle);
        pt_destroy_pool(init_cycle.pool);
        return 0;
    }

    if (pt_inherited) {
        pt_close_unused_inherited(&init_cycle);
    }

    if (pt_set_exec_path(cycle) != PT_OK) {
        return 1;
    }

    pt_destroy_pool(init_cycle.pool);
    cycle->old_cycle = NULL;

    ccf = (pt_core_conf_t *) pt_get_conf(cycle->conf_ctx, pt_core_module);

    if (pt_init_signals(cycle->log) != PT_OK) {
        return 1;
    }

    if (ccf->master && pt_init_setproctitle(cycle->log) != PT_OK) {
        return 1;
    }

    if (!pt_inherited && ccf->daemon) {
        if (pt_daemon(cycle->log) != PT_OK) {
            return 1;
        }

        /* no terminal any more: stray stderr output goes to the log */
        pt_use_stderr = 0;

        if (pt_log_redirect_stderr(cycle) != PT_OK) {
            return 1;
        }
    }

    pt_pid = getpid();

    if (pt_create_pidfile(&ccf->pid, cycle->log) != PT_OK) {
        return 1;
    }

    pt_use_stderr = 0;

    pt_log_error(PT_LOG_NOTICE, cycle->log, 0, "%s started, pid %d",
                 PORTICO_VER, (int) pt_pid);

    if (ccf->master) {
        pt_master_process_cycle(cycle);
    } else {
        pt_single_process_cycle(cycle);
    }

    return 0;
}


/*
 * Where USR2 finds the new binary: the path we were started by, made
 * absolute now, since the file at it may be replaced by then.
 */
static pt_int_t
pt_set_exec_path(pt_cycle_t *cycle)
{
    char     *path, *dir, *end;
    size_t    len;
    char      cwd[PATH_MAX], buf[PATH_MAX];

    if (strchr(pt_argv[0], '/') != NULL) {
        if (pt_argv[0][0] == '/') {
            pt_exec_path = strdup(pt_argv[0]);

        } else {
            if (getcwd(cwd, sizeof(cwd)) == NULL) {
                pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                             "getcwd() failed");
                return PT_ERROR;
            }

            if (snprintf(buf, sizeof(buf), "%s/%s", cwd, pt_argv[0])
                >= (int) sizeof(buf))
            {
                pt_log_error(PT_LOG_EMERG, cycle->log, 0,
                             "the binary path is too long");
                return PT_ERROR;
            }

            pt_exec_path = strdup(buf);
        }

        return pt_exec_path ? PT_OK : PT_ERROR;
    }

    /* found through PATH */
    path = getenv("PATH");

    for (dir = path; dir && *dir; dir = end ? end + 1 : NULL) {
        end = strchr(dir, ':');
        len = end ? (size_t) (end - dir) : strlen(dir);

        if (snprintf(buf, sizeof(buf), "%.*s/%s", (int) len, dir, pt_argv[0])
            < (int) sizeof(buf)
            && access(buf, X_OK) == 0)
        {
            pt_exec_path = strdup(buf);
            return pt_exec_path ? PT_OK : PT_ERROR;
        }

        if (end == NULL) {
            break;
        }
    }

    pt_exec_path = strdup(pt_argv[0]);

    return pt_exec_path ? PT_OK : PT_ERROR;
}


static void
pt_show_version_info(void)
{
    pt_uint_t  i;

    fprintf(stderr, "portico version: " PORTICO_VER "\n");

    if (pt_show_help) {
        fprintf(stderr,
            "Usage: portico [-?hvVtTq] [-s signal] [-p prefix]\n"
            "               [-c filename] [-g directives]\n"
            "\n"
            "Options:\n"
            "  -?,-h         : this help\n"
            "  -v            : show version and exit\n"
            "  -V            : show version, build options and modules, "
                              "and exit\n"
            "  -t            : test configuration and exit\n"
            "  -T            : test configuration, dump it and exit\n"
            "  -q            : suppress non-error messages during "
                              "configuration testing\n"
            "  -s signal     : send signal to the master process: "
                              "stop, quit, reopen, reload\n"
            "  -p prefix     : set prefix path (default: " PT_PREFIX "/)\n"
            "  -c filename   : set configuration file (default: "
                              PT_CONF_PATH ")\n"
            "  -g directives : set global directives out of the "
                              "configuration file\n\n");
    }

    if (pt_show_configure) {
        fprintf(stderr, "built by " PT_COMPILER "\n");
        fprintf(stderr, "built with %s\n", OpenSSL_version(OPENSSL_VERSION));
        fprintf(stderr, "configure arguments:%s%s\n",
                PT_CONFIGURE[0] ? " " : "", PT_CONFIGURE);
        fprintf(stderr, "modules:");

        for (i = 0; pt_module_names[i]; i++) {
            fprintf(stderr, " %s", pt_module_names[i]);
        }

        fprintf(stderr, "\n");
    }
}


static void
pt_dump_configuration(pt_cycle_t *cycle)
{
    pt_uint_t        i;
    pt_conf_dump_t  *cd;

    cd = cycle->config_dump.elts;

    for (i = 0; i < cycle->config_dump.nelts; i++) {
        printf("# configuration file %.*s:\n", PT_STR_ARG(cd[i].name));
        fwrite(cd[i].buffer.data, 1, cd[i].buffer.len, stdout);

        if (cd[i].buffer.len == 0
            || cd[i].buffer.data[cd[i].buffer.len - 1] != '\n')
        {
            printf("\n");
        }

        printf("\n");
    }

    fflush(stdout);
}


static pt_int_t
pt_get_options(int argc, char *const *argv)
{
    u_char     *p;
    pt_int_t    i;

    for (i = 1; i < argc; i++) {

        p = (u_char *) argv[i];

        if (*p++ != '-' || *p == '\0') {
            pt_log_stderr(0, "invalid option: \"%s\"", argv[i]);
            return PT_ERROR;
        }

        while (*p) {

            switch (*p++) {

            case '?':
            case 'h':
                pt_show_version = 1;
                pt_show_help = 1;
                break;

            case 'v':
                pt_show_version = 1;
                break;

            case 'V':
                pt_show_version = 1;
                pt_show_configure = 1;
                break;

            case 't':
                pt_test_config = 1;
                break;

            case 'T':
                pt_test_config = 1;
                pt_dump_config = 1;
                break;

            case 'q':
                pt_quiet_mode = 1;
                break;

            case 'p':
                if (*p) {
                    pt_prefix = p;
                    goto next;
                }

                if (argv[++i]) {
                    pt_prefix = (u_char *) argv[i];
                    goto next;
                }

                pt_log_stderr(0, "option \"-p\" requires directory name");
                return PT_ERROR;

            case 'c':
                if (*p) {
                    pt_conf_file = p;
                    goto next;
                }

                if (argv[++i]) {
                    pt_conf_file = (u_char *) argv[i];
                    goto next;
                }

                pt_log_stderr(0, "option \"-c\" requires file name");
                return PT_ERROR;

            case 'g':
                if (*p) {
                    pt_conf_params = p;
                    goto next;
                }

                if (argv[++i]) {
                    pt_conf_params = (u_char *) argv[i];
                    goto next;
                }

                pt_log_stderr(0, "option \"-g\" requires parameter");
                return PT_ERROR;

            case 's':
                if (*p) {
                    pt_signal = (char *) p;

                } else if (argv[++i]) {
                    pt_signal = argv[i];

                } else {
                    pt_log_stderr(0, "option \"-s\" requires parameter");
                    return PT_ERROR;
                }

                if (strcmp(pt_signal, "stop") == 0
                    || strcmp(pt_signal, "quit") == 0
                    || strcmp(pt_signal, "reopen") == 0
                    || strcmp(pt_signal, "reload") == 0)
                {
                    goto next;
                }

                pt_log_stderr(0, "invalid option: \"-s %s\"", pt_signal);
                return PT_ERROR;

            default:
                pt_log_stderr(0, "invalid option: \"%c\"", *(p - 1));
                return PT_ERROR;
            }
        }

    next:

        continue;
    }

    return PT_OK;
}


/* Prefix, configuration file (absolute) and its directory, -g text. */
static pt_int_t
pt_process_options(pt_cycle_t *cycle)
{
    u_char    *p;
    size_t     len;
    char       cwd[PATH_MAX];

    if (pt_prefix) {
        len = strlen((char *) pt_prefix);

        if (pt_prefix[0] != '/') {
            /* a relative prefix is taken from the current directory */
            if (getcwd(cwd, sizeof(cwd)) == NULL) {
                pt_log_stderr(errno, "getcwd() failed");
                return PT_ERROR;
            }

            cycle->prefix.data = (u_char *) pt_psprintf(cycle->pool,
                                     &cycle->prefix.len, "%s/%s%s", cwd,
                                     (char *) pt_prefix,
                                     (len && pt_prefix[len - 1] == '/')
                                     ? "" : "/");
        } else {
            cycle->prefix.data = (u_char *) pt_psprintf(cycle->pool,
                                     &cycle->prefix.len, "%s%s",
                                     (char *) pt_prefix,
                                     (len && pt_prefix[len - 1] == '/')
                                     ? "" : "/");
        }

    } else {
        cycle->prefix.data = (u_char *) pt_psprintf(cycle->pool,
                                 &cycle->prefix.len, "%s/", PT_PREFIX);
    }

    if (cycle->prefix.data == NULL) {
        return PT_ERROR;
    }

    if (pt_conf_file) {
        cycle->conf_file.len = strlen((char *) pt_conf_file);
        cycle->conf_file.data = pt_conf_file;
    } else {
        pt_str_set(&cycle->conf_file, PT_CONF_PATH);
    }

    if (pt_get_full_name(cycle->pool, &cycle->prefix, &cycle->conf_file)
        != PT_OK)
    {
        return PT_ERROR;
    }

    for (p = cycle->conf_file.data + cycle->conf_file.len - 1;
         p > cycle->conf_file.data;
         p--)
    {
        if (*p == '/') {
            break;
        }
    }

    cycle->conf_prefix.len = p - cycle->conf_file.data + 1;
    cycle->conf_prefix.data = pt_pnalloc(cycle->pool,
                                         cycle->conf_prefix.len + 1);
    if (cycle->conf_prefix.data == NULL) {
        return PT_ERROR;
    }

    pt_memcpy(cycle->conf_prefix.data, cycle->conf_file.data,
              cycle->conf_prefix.len);
    cycle->conf_prefix.data[cycle->conf_prefix.len] = '\0';

    if (pt_conf_params) {
        cycle->conf_param.len = strlen((char *) pt_conf_params);
        cycle->conf_param.data = pt_conf_params;
    }

    if (pt_test_config) {
        cycle->log->log_level = PT_LOG_INFO;
    }

    return PT_OK;
}


static pt_int_t
pt_save_argv(int argc, char *const *argv)
{
    int  i;

    pt_os_argv = (char **) argv;
    pt_argc = argc;

    pt_argv = calloc(argc + 1, sizeof(char *));
    if (pt_argv == NULL) {
        return PT_ERROR;
    }

    for (i = 0; i < argc; i++) {
        pt_argv[i] = strdup(argv[i]);
        if (pt_argv[i] == NULL) {
            return PT_ERROR;
        }
    }

    pt_argv[i] = NULL;

    return PT_OK;
}
