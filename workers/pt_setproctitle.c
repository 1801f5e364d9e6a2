/*
 * Process titles: "ps" shows argv[0]'s memory, so the title is written
 * over argv and the environment that follows it (the environment is moved
 * to the heap first).
 */
#include "pt_process.h"


extern char  **environ;

static char   *pt_os_argv_last;


pt_int_t
pt_init_setproctitle(pt_log_t *log)
{
    char       *p;
    size_t      size;
    pt_uint_t   i;

    size = 0;

    for (i = 0; environ[i]; i++) {
        size += strlen(environ[i]) + 1;
    }

    p = pt_alloc(size, log);
    if (p == NULL) {
        return PT_ERROR;
    }

    pt_os_argv_last = pt_os_argv[0];

    for (i = 0; pt_os_argv[i]; i++) {
        if (pt_os_argv_last == pt_os_argv[i]) {
            pt_os_argv_last = pt_os_argv[i] + strlen(pt_os_argv[i]) + 1;
        }
    }

    for (i = 0; environ[i]; i++) {
        if (pt_os_argv_last == environ[i]) {
            size = strlen(environ[i]) + 1;
            pt_os_argv_last = environ[i] + size;

            pt_memcpy(p, environ[i], size);
            environ[i] = p;
            p += size;
        }
    }

    pt_os_argv_last--;

    return PT_OK;
}


void
pt_setproctitle(const char *title)
{
    size_t  len, room;

    if (pt_os_argv_last == NULL) {
        return;
    }

    pt_os_argv[1] = NULL;

    room = pt_os_argv_last - pt_os_argv[0];

    len = snprintf(pt_os_argv[0], room, "portico: %s", title);

    if (len < room) {
        pt_memset(pt_os_argv[0] + len, '\0', room - len);
    }
}
