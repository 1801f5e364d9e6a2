/* Unit tests for the slab allocator and robust process-shared mutexes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
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
        cmocka_unit_test(test_zone_is_shared_across_fork),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
