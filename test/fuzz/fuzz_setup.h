/*
 * What every fuzz target that reads configuration starts with:
 * fuzz_setup() initialises time, the log, the OS layer and the modules in
 * test mode, and makes the target's own temp dir (fuzz_dir), removed at
 * exit. It aborts if anything fails. Included by the target after the
 * sources it tests.
 */
#ifndef FUZZ_SETUP_H
#define FUZZ_SETUP_H

#include <ftw.h>


static char       fuzz_dir[64];        /* private, in /tmp */
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


/* name: the target's, for the temp dir */
static void
fuzz_setup(const char *name)
{
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
}

#endif /* FUZZ_SETUP_H */
