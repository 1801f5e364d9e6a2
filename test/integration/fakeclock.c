/*
 * An LD_PRELOAD library for test_clock_jump.py: it moves the wall clock
 * of the process that loads it (clock_gettime() of the CLOCK_REALTIME
 * family, gettimeofday(), time()) by a number of seconds that the test
 * can change while the process runs, so that a running server sees the
 * clock set back or forward without the system's clock being touched.
 * The monotonic clocks are left alone.
 *
 * PT_FAKE_CLOCK_FILE names a file holding the offset in seconds as
 * decimal text, padded to PT_FAKE_CLOCK_SIZE bytes.  It is mapped shared
 * when the library loads (in the master, before the workers fork and
 * drop privileges), so a rewrite of the file in place is seen at once by
 * every process.  Without the variable or the file the offset is 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>


#define PT_FAKE_CLOCK_SIZE  32


static const volatile char  *pt_fake_clock_text;


__attribute__((constructor))
static void
pt_fake_clock_init(void)
{
    int          fd;
    void        *p;
    const char  *name;

    name = getenv("PT_FAKE_CLOCK_FILE");
    if (name == NULL) {
        return;
    }

    fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return;
    }

    p = mmap(NULL, PT_FAKE_CLOCK_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    (void) close(fd);

    if (p != MAP_FAILED) {
        pt_fake_clock_text = p;
    }
}


static long
pt_fake_clock_offset(void)
{
    char  buf[PT_FAKE_CLOCK_SIZE + 1];
    int   i;

    if (pt_fake_clock_text == NULL) {
        return 0;
    }

    for (i = 0; i < PT_FAKE_CLOCK_SIZE; i++) {
        buf[i] = pt_fake_clock_text[i];
    }

    buf[PT_FAKE_CLOCK_SIZE] = '\0';

    return strtol(buf, NULL, 10);
}


int
clock_gettime(clockid_t id, struct timespec *ts)
{
    int  saved;

    saved = errno;

    if (syscall(SYS_clock_gettime, id, ts) == -1) {
        return -1;
    }

    errno = saved;

    if (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE) {
        ts->tv_sec += pt_fake_clock_offset();
    }

    return 0;
}


int
gettimeofday(struct timeval *tv, void *tz)
{
    struct timespec  ts;

    (void) tz;      /* obsolete; the C library's ignores it too */

    (void) clock_gettime(CLOCK_REALTIME, &ts);
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;

    return 0;
}


time_t
time(time_t *t)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    if (t) {
        *t = ts.tv_sec;
    }

    return ts.tv_sec;
}
