/*
 * For fuzz targets that need a configured cycle: fuzz_cycle_from_conf()
 * sets up (fuzz_setup.h), writes a configuration into the target's temp
 * dir and reads it the way "portico -t" does; it aborts if anything fails.
 * Included by the target after the sources it tests.
 */
#ifndef FUZZ_CYCLE_H
#define FUZZ_CYCLE_H

#include "fuzz_setup.h"


/* name: the target's, for the temp dir and the message on failure */
static pt_cycle_t *
fuzz_cycle_from_conf(const char *name, const char *text, size_t len)
{
    int          fd;
    char         prefix[80], conf[128];
    pt_cycle_t  *init, *cycle;

    fuzz_setup(name);

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
