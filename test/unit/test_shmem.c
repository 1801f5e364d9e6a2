/*
 * Unit tests for the slab allocator and robust process-shared mutexes,
 * among them a process killed by SIGKILL while it holds a zone's lock
 * with others waiting for it, as a worker killed by pid would be.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "pt_core.h"


#define ZONE_SIZE  (64 * 1024)


static pt_slab_pool_t *
zone_new(void)
{
    pt_slab_pool_t  *sp;

    sp = mmap(NULL, ZONE_SIZE, PROT_READ | PROT_WRITE,
              MAP_ANONYMOUS | MAP_SHARED, -1, 0);
    assert_true(sp != MAP_FAILED);
    assert_int_equal(pt_shmtx_init(&sp->mutex), PT_OK);
    pt_slab_init(sp, ZONE_SIZE);

    return sp;
}


static void
test_slab_reuses_freed_pieces(void **state)
{
    void            *a, *b, *c;
    pt_slab_pool_t  *sp;

    sp = zone_new();

    a = pt_slab_alloc(sp, 40);
    b = pt_slab_alloc(sp, 40);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(sp->used, 128);       /* two 64-byte pieces */

    pt_slab_free(sp, a);
    assert_int_equal(sp->used, 64);

    c = pt_slab_alloc(sp, 33);              /* same class as 40 */
    assert_ptr_equal(c, a);

    /* another class does not take it */
    pt_slab_free(sp, c);
    c = pt_slab_alloc(sp, 200);
    assert_ptr_not_equal(c, a);

    assert_int_equal((uintptr_t) c % 16, 0);

    munmap(sp, ZONE_SIZE);
}


static void
test_slab_full_zone_fails_cleanly(void **state)
{
    void            *p;
    pt_uint_t        n;
    pt_slab_pool_t  *sp;

    sp = zone_new();

    for (n = 0; (p = pt_slab_calloc(sp, 1000)) != NULL; n++) {
        assert_true((u_char *) p >= sp->start && (u_char *) p < sp->end);
    }

    assert_true(n > 50 && n < 64);
    assert_true(sp->failed > 0);

    /* a large piece at the top is given back */
    sp = zone_new();
    p = pt_slab_alloc(sp, 20000);
    assert_non_null(p);
    pt_slab_free(sp, p);
    assert_ptr_equal(sp->next, sp->start);
}


static void
test_robust_mutex_survives_dead_holder(void **state)
{
    int              status;
    pid_t            pid;
    pt_slab_pool_t  *sp;

    sp = zone_new();

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        (void) pt_shmtx_lock(&sp->mutex);
        _exit(0);               /* dies holding the lock */
    }

    assert_int_equal(waitpid(pid, &status, 0), pid);

    /* the next taker learns of it, and the lock works afterwards */
    assert_int_equal(pt_shmtx_lock(&sp->mutex), PT_DECLINED);
    pt_shmtx_unlock(&sp->mutex);

    assert_int_equal(pt_shmtx_lock(&sp->mutex), PT_OK);
    pt_shmtx_unlock(&sp->mutex);

    munmap(sp, ZONE_SIZE);
}


/* Waits (at most 5s) until process pid sleeps, e.g. on a lock. */
static void
wait_sleeping(pid_t pid)
{
    int    i, fd;
    char   path[64], buf[256], *p;
    ssize_t  n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);

    for (i = 0; i < 500; i++) {
        fd = open(path, O_RDONLY);
        assert_true(fd != -1);
        n = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);
        assert_true(n > 0);
        buf[n] = '\0';

        /* "pid (comm) S ...": the state follows the last parenthesis */
        p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] == 'S') {
            return;
        }

        usleep(10000);
    }

    fail_msg("process %d never waited", (int) pid);
}


/*
 * A waiter takes the lock, counts itself in, and says how it got it: 1 for
 * PT_DECLINED (it learnt of the dead holder), 0 for PT_OK.  SIGALRM ends a
 * waiter that stays stuck.
 */
static void
waiter(pt_slab_pool_t *sp, uint64_t *counter)
{
    pt_int_t  rc;

    alarm(10);

    rc = pt_shmtx_lock(&sp->mutex);
    (*counter)++;
    pt_shmtx_unlock(&sp->mutex);

    _exit(rc == PT_DECLINED ? 1 : (rc == PT_OK ? 0 : 2));
}


static void
test_robust_mutex_holder_killed_with_waiters(void **state)
{
    int              status, fds[2], codes;
    char             c;
    pid_t            holder, w[2];
    uint64_t        *counter;
    pt_uint_t        i;
    pt_slab_pool_t  *sp;

    sp = zone_new();

    counter = pt_slab_calloc(sp, sizeof(uint64_t));
    assert_non_null(counter);

    assert_int_equal(pipe(fds), 0);

    holder = fork();
    assert_true(holder >= 0);

    if (holder == 0) {
        (void) pt_shmtx_lock(&sp->mutex);
        (*counter)++;               /* an update under way */
        (void) write(fds[1], "l", 1);

        for ( ;; ) {
            pause();                /* holds the lock until killed */
        }
    }

    assert_int_equal(read(fds[0], &c, 1), 1);

    for (i = 0; i < 2; i++) {
        w[i] = fork();
        assert_true(w[i] >= 0);

        if (w[i] == 0) {
            waiter(sp, counter);
        }

        wait_sleeping(w[i]);
    }

    /* both wait on the lock; its holder is killed by pid */
    assert_int_equal(kill(holder, SIGKILL), 0);
    assert_int_equal(waitpid(holder, &status, 0), holder);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* one waiter learns of it, the other takes the lock after it */
    codes = 0;

    for (i = 0; i < 2; i++) {
        assert_int_equal(waitpid(w[i], &status, 0), w[i]);
        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) <= 1);
        codes += WEXITSTATUS(status);
    }

    assert_int_equal(codes, 1);
    assert_int_equal(*counter, 3);

    /* and the lock works as before */
    assert_int_equal(pt_shmtx_lock(&sp->mutex), PT_OK);
    pt_shmtx_unlock(&sp->mutex);

    (void) close(fds[0]);
    (void) close(fds[1]);
    munmap(sp, ZONE_SIZE);
}


static void
test_zone_is_shared_across_fork(void **state)
{
    int              status;
    pid_t            pid;
    uint64_t        *counter;
    pt_uint_t        i;
    pt_slab_pool_t  *sp;

    sp = zone_new();

    counter = pt_slab_calloc(sp, sizeof(uint64_t));
    assert_non_null(counter);

    pid = fork();
    assert_true(pid >= 0);

    for (i = 0; i < 10000; i++) {
        (void) pt_shmtx_lock(&sp->mutex);
        (*counter)++;
        pt_shmtx_unlock(&sp->mutex);
    }

    if (pid == 0) {
        _exit(0);
    }

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(*counter, 20000);

    munmap(sp, ZONE_SIZE);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_slab_reuses_freed_pieces),
        cmocka_unit_test(test_slab_full_zone_fails_cleanly),
        cmocka_unit_test(test_robust_mutex_survives_dead_holder),
        cmocka_unit_test(test_robust_mutex_holder_killed_with_waiters),
        cmocka_unit_test(test_zone_is_shared_across_fork),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
