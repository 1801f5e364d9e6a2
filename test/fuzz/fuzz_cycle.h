/*
 * For fuzz targets that need a configured cycle: fuzz_cycle_from_conf()
 * writes a configuration into a temp dir of their own (removed at exit)
 * and reads it the way "portico -t" does; it aborts if anything fails.
 * Included by the target after the sources it tests.
 */
#ifndef FUZZ_CYCLE_H
#define FUZZ_CYCLE_H

#include <ftw.h>


static char       fuzz_dir[64];
static pt_log_t  *fuzz_log;


static int
fuzz_remove_all(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
    (void) remove(path);

    return 0;
}


static void
fuzz_at_exit(void)
{
    (void) nftw(fuzz_dir, fuzz_remove_all, 16, FTW_DEPTH | FTW_PHYS);
}


/* name: the target's, for the temp dir and the message on failure */
static pt_cycle_t *
fuzz_cycle_from_conf(const char *name, const char *text, size_t len)
{
    int          fd;
    char         prefix[80], conf[128];
    pt_cycle_t  *init, *cycle;

    pt_time_init();

    fuzz_log = pt_log_init();
    if (fuzz_log == NULL || pt_os_init(fuzz_log) != PT_OK
        || pt_preinit_modules() != PT_OK)
    {
        abort();
    }

    pt_test_config = 1;
    pt_quiet_mode = 1;

    snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/pt-fuzz-%s-XXXXXX", name);

    if (mkdtemp(fuzz_dir) == NULL) {
        abort();
    }

    atexit(fuzz_at_exit);

    snprintf(conf, sizeof(conf), "%s/portico.conf", fuzz_dir);

    fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1 || pt_write_fd(fd, (u_char *) text, len) != (ssize_t) len) {
        abort();
    }

    (void) close(fd);

    /* kept for the whole run: the cycle points into them */
    init = calloc(1, sizeof(pt_cycle_t));
    if (init == NULL) {
        abort();
    }

    init->log = fuzz_log;
    init->pool = pt_create_pool(1024, fuzz_log);
    if (init->pool == NULL) {
        abort();
    }

    pt_cycle = init;

    snprintf(prefix, sizeof(prefix), "%s/", fuzz_dir);

    init->prefix.len = strlen(prefix);
    init->prefix.data = (u_char *) strdup(prefix);
    init->conf_prefix = init->prefix;
    init->conf_file.len = strlen(conf);
    init->conf_file.data = (u_char *) strdup(conf);
    pt_str_set(&init->conf_param, "error_log stderr;");

    if (init->prefix.data == NULL || init->conf_file.data == NULL) {
        abort();
    }

    cycle = pt_init_cycle(init);
    if (cycle == NULL) {
        fprintf(stderr, "fuzz_%s: the configuration failed\n", name);
        abort();
    }

    pt_cycle = cycle;

    return cycle;
}

#endif /* FUZZ_CYCLE_H */
