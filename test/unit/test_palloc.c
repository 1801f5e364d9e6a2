/*
 * Unit tests for core/pt_palloc.c: block carving and alignment, large
 * allocations, the failed-block skip, cleanups and reset. Run under
 * valgrind or ASan to check that destroy and reset free everything.
 */
#include "pt_core.h"

#include <setjmp.h>
#include <cmocka.h>


static int   cleanup_order[8];
static int   cleanup_count;


static pt_uint_t
count_blocks(pt_pool_t *pool)
{
    pt_uint_t   n;
    pt_pool_t  *p;

    for (n = 0, p = pool; p; p = p->d.next) {
        n++;
    }

    return n;
}


static pt_uint_t
count_large(pt_pool_t *pool)
{
    pt_uint_t         n;
    pt_pool_large_t  *l;

    for (n = 0, l = pool->large; l; l = l->next) {
        if (l->alloc) {
            n++;
        }
    }

    return n;
}


static int
in_blocks(pt_pool_t *pool, void *m)
{
    pt_pool_t  *p;

    for (p = pool; p; p = p->d.next) {
        if ((u_char *) m >= (u_char *) p && (u_char *) m < p->d.end) {
            return 1;
        }
    }

    return 0;
}


static void
test_create(void **state)
{
    pt_pool_t  *pool;

    pool = pt_create_pool(1024, NULL);
    assert_non_null(pool);
    assert_int_equal(pool->max, 1024 - sizeof(pt_pool_t));
    assert_ptr_equal(pool->current, pool);
    assert_ptr_equal(pool->d.last, (u_char *) pool + sizeof(pt_pool_t));
    assert_ptr_equal(pool->d.end, (u_char *) pool + 1024);
    assert_null(pool->d.next);
    assert_null(pool->large);
    assert_null(pool->chain);
    assert_null(pool->cleanup);
    assert_int_equal((uintptr_t) pool % PT_POOL_ALIGNMENT, 0);
    pt_destroy_pool(pool);

    pool = pt_create_pool(PT_POOL_DEFAULT_SIZE, NULL);
    assert_non_null(pool);
    assert_int_equal(pool->max, PT_MAX_ALLOC_FROM_POOL);
    pt_destroy_pool(pool);

    /* too small to be useful: still a working pool */
    pool = pt_create_pool(0, NULL);
    assert_non_null(pool);
    assert_non_null(pt_palloc(pool, 100));
    assert_non_null(pt_palloc(pool, 3));
    pt_destroy_pool(pool);
}


static void
test_small_alignment(void **state)
{
    u_char     *a, *b, *c;
    pt_uint_t   i;
    pt_pool_t  *pool;

    pool = pt_create_pool(1024, NULL);
    assert_non_null(pool);

    /* pnalloc packs bytes; palloc realigns */
    a = pt_pnalloc(pool, 1);
    b = pt_pnalloc(pool, 3);
    assert_ptr_equal(b, a + 1);

    c = pt_palloc(pool, 8);
    assert_int_equal((uintptr_t) c % PT_ALIGNMENT, 0);
    assert_true(c >= b + 3);
    assert_true(c < b + 3 + PT_ALIGNMENT);
    assert_ptr_equal(pool->d.last, c + 8);

    for (i = 0; i < 200; i++) {
        (void) pt_pnalloc(pool, i % 7 + 1);
        c = pt_palloc(pool, i % 13 + 1);
        assert_non_null(c);
        assert_int_equal((uintptr_t) c % PT_ALIGNMENT, 0);
        assert_true(in_blocks(pool, c));
        memset(c, 0xa5, i % 13 + 1);
    }

    /* every block has the size of the first */
    assert_true(count_blocks(pool) > 1);

    c = pt_pcalloc(pool, 64);
    for (i = 0; i < 64; i++) {
        assert_int_equal(c[i], 0);
    }

    /* nothing small went to malloc */
    assert_null(pool->large);

    pt_destroy_pool(pool);
}


static void
test_block_sizes(void **state)
{
    pt_pool_t  *pool, *p;

    pool = pt_create_pool(512, NULL);
    assert_non_null(pool);

    /* a request of exactly max fits a fresh block */
    assert_non_null(pt_palloc(pool, pool->max));
    assert_non_null(pt_palloc(pool, pool->max));
    assert_non_null(pt_palloc(pool, pool->max));
    assert_int_equal(count_blocks(pool), 3);
    assert_null(pool->large);

    for (p = pool; p; p = p->d.next) {
        assert_int_equal(p->d.end - (u_char *) p, 512);
        assert_true(p->d.last <= p->d.end);
        assert_int_equal((uintptr_t) p % PT_POOL_ALIGNMENT, 0);
    }

    pt_destroy_pool(pool);
}


static void
test_failed_blocks_skipped(void **state)
{
    u_char     *m;
    pt_uint_t   i;
    pt_pool_t  *pool, *p;

    pool = pt_create_pool(256, NULL);
    assert_non_null(pool);

    /* each block holds one of these, so every new one fails the others */
    for (i = 0; i < 12; i++) {
        m = pt_palloc(pool, 150);
        assert_non_null(m);
        assert_true(in_blocks(pool, m));
    }

    assert_int_equal(count_blocks(pool), 12);
    assert_ptr_not_equal(pool->current, pool);

    /* the skipped blocks all failed more than four times */
    for (p = pool; p != pool->current; p = p->d.next) {
        assert_true(p->d.failed > 4);
    }

    for (p = pool->current; p; p = p->d.next) {
        assert_true(p->d.failed <= 5);
    }

    /* skipped blocks are still freed on destroy (valgrind checks this) */
    pt_destroy_pool(pool);
}


static void
test_large(void **state)
{
    u_char           *a, *b, *c, *s;
    pt_pool_t        *pool;
    pt_pool_large_t  *rec;

    pool = pt_create_pool(1024, NULL);
    assert_non_null(pool);

    a = pt_palloc(pool, pool->max + 1);
    assert_non_null(a);
    assert_false(in_blocks(pool, a));
    assert_int_equal(count_large(pool), 1);
    memset(a, 1, pool->max + 1);

    b = pt_pnalloc(pool, 100000);
    assert_non_null(b);
    assert_int_equal(count_large(pool), 2);
    memset(b, 2, 100000);

    c = pt_pcalloc(pool, 5000);
    assert_non_null(c);
    assert_int_equal(c[0], 0);
    assert_int_equal(c[4999], 0);
    assert_int_equal(count_large(pool), 3);

    s = pt_palloc(pool, 16);
    assert_int_equal(pt_pfree(pool, s), PT_DECLINED);
    assert_int_equal(pt_pfree(pool, NULL), PT_DECLINED);

    assert_int_equal(pt_pfree(pool, b), PT_OK);
    assert_int_equal(count_large(pool), 2);
    assert_int_equal(pt_pfree(pool, b), PT_DECLINED);

    /* the freed slot is reused rather than a new record made */
    rec = pool->large;
    b = pt_palloc(pool, 9000);
    assert_non_null(b);
    assert_ptr_equal(pool->large, rec);
    assert_int_equal(count_large(pool), 3);

    pt_destroy_pool(pool);
}


static void
test_pmemalign(void **state)
{
    void       *m, *n;
    pt_pool_t  *pool;

    pool = pt_create_pool(1024, NULL);
    assert_non_null(pool);

    m = pt_pmemalign(pool, 100, 4096);
    assert_non_null(m);
    assert_int_equal((uintptr_t) m % 4096, 0);
    assert_int_equal(count_large(pool), 1);
    memset(m, 0, 100);

    n = pt_pmemalign(pool, 10, 2);
    assert_non_null(n);
    assert_int_equal((uintptr_t) n % sizeof(void *), 0);
    assert_int_equal(count_large(pool), 2);

    /* not a power of two */
    errno = 0;
    assert_null(pt_pmemalign(pool, 10, 24));
    assert_int_equal(errno, EINVAL);
    assert_null(pt_pmemalign(pool, 10, 0));
    assert_int_equal(count_large(pool), 2);

    assert_int_equal(pt_pfree(pool, m), PT_OK);
    assert_int_equal(count_large(pool), 1);

    pt_destroy_pool(pool);
}


static void
record_cleanup(void *data)
{
    cleanup_order[cleanup_count++] = *(int *) data;
}


static void
record_null_cleanup(void *data)
{
    assert_null(data);
    cleanup_order[cleanup_count++] = 99;
}


static void
test_cleanup_order(void **state)
{
    int                 i;
    pt_pool_t          *pool;
    pt_pool_cleanup_t  *cln;

    cleanup_count = 0;

    pool = pt_create_pool(1024, NULL);
    assert_non_null(pool);

    for (i = 1; i <= 3; i++) {
        cln = pt_pool_cleanup_add(pool, sizeof(int));
        assert_non_null(cln);
        assert_non_null(cln->data);
        assert_null(cln->handler);
        assert_int_equal((uintptr_t) cln->data % PT_ALIGNMENT, 0);
        *(int *) cln->data = i;
        cln->handler = record_cleanup;
    }

    /* size 0: no data; a cleanup left without a handler is skipped */
    cln = pt_pool_cleanup_add(pool, 0);
    assert_non_null(cln);
    assert_null(cln->data);
    assert_null(cln->handler);

    cln = pt_pool_cleanup_add(pool, 0);
    assert_non_null(cln);
    cln->handler = record_null_cleanup;

    /* a large allocation is still there while cleanups run */
    assert_non_null(pt_palloc(pool, 10000));

    assert_int_equal(cleanup_count, 0);
    pt_destroy_pool(pool);

    assert_int_equal(cleanup_count, 4);
    assert_int_equal(cleanup_order[0], 99);
    assert_int_equal(cleanup_order[1], 3);
    assert_int_equal(cleanup_order[2], 2);
    assert_int_equal(cleanup_order[3], 1);
}


static void
test_reset(void **state)
{
    u_char             *first, *m;
    pt_uint_t           i, blocks;
    pt_pool_t          *pool;
    pt_pool_cleanup_t  *cln;

    cleanup_count = 0;

    pool = pt_create_pool(512, NULL);
    assert_non_null(pool);

    first = pt_palloc(pool, 32);

    for (i = 0; i < 40; i++) {
        assert_non_null(pt_palloc(pool, 100));
    }

    assert_non_null(pt_palloc(pool, 5000));
    assert_non_null(pt_palloc(pool, 6000));

    cln = pt_pool_cleanup_add(pool, sizeof(int));
    assert_non_null(cln);
    *(int *) cln->data = 7;
    cln->handler = record_cleanup;

    blocks = count_blocks(pool);
    assert_true(blocks > 5);

    pt_reset_pool(pool);

    assert_int_equal(cleanup_count, 1);
    assert_int_equal(cleanup_order[0], 7);
    assert_null(pool->cleanup);
    assert_null(pool->large);
    assert_null(pool->chain);
    assert_ptr_equal(pool->current, pool);
    assert_int_equal(count_blocks(pool), blocks);

    /* memory is handed out again from the start of the first block */
    m = pt_palloc(pool, 32);
    assert_ptr_equal(m, first);

    /* and the rewound later blocks are used before any new one */
    for (i = 0; i < 40; i++) {
        assert_non_null(pt_palloc(pool, 100));
    }

    assert_int_equal(count_blocks(pool), blocks);

    pt_destroy_pool(pool);

    /* the reset emptied the cleanup list: nothing runs twice */
    assert_int_equal(cleanup_count, 1);
}


static void
test_alloc_wrappers(void **state)
{
    u_char     *p;
    pt_uint_t   i;

    p = pt_alloc(64, NULL);
    assert_non_null(p);
    memset(p, 0xff, 64);
    free(p);

    p = pt_calloc(4096, NULL);
    assert_non_null(p);

    for (i = 0; i < 4096; i++) {
        assert_int_equal(p[i], 0);
    }

    free(p);
}


/*
 * The block cache: blocks come back aligned and whole whatever the size,
 * a freed block is handed out again for its size (unless the build checks
 * memory with ASan, which sees every block), more sizes than the cache has
 * classes and more blocks than a class keeps are simply freed, and pools
 * and large allocations go through it.
 */
static void
test_block_cache(void **state)
{
    u_char      *b[40], *a;
    size_t       sizes[] = { 1100, 4096, 8192, 3000, 5000, 70000 };
    pt_uint_t    i, k;
    pt_pool_t   *pool;

    /* as a worker does: the master keeps no blocks */
    pt_block_cache_enable();

    for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        for (i = 0; i < 40; i++) {
            b[i] = pt_block_alloc(sizes[k], NULL);
            assert_non_null(b[i]);
            assert_int_equal((uintptr_t) b[i] % PT_POOL_ALIGNMENT, 0);
            memset(b[i], (int) i, sizes[k]);
        }

        for (i = 0; i < 40; i++) {
            assert_int_equal(b[i][0], (u_char) i);
            assert_int_equal(b[i][sizes[k] - 1], (u_char) i);
            pt_block_free(b[i], sizes[k]);
        }
    }

    a = pt_block_alloc(8192, NULL);
    assert_non_null(a);
    pt_block_free(a, 8192);

    b[0] = pt_block_alloc(8192, NULL);
    assert_non_null(b[0]);

#if !defined(__SANITIZE_ADDRESS__) && !defined(__has_feature)
    assert_ptr_equal(b[0], a);
#elif defined(__has_feature)
#if !__has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
    assert_ptr_equal(b[0], a);
#endif
#endif

    pt_block_free(b[0], 8192);

    /* pools and their large allocations, over and over */
    for (i = 0; i < 100; i++) {
        pool = pt_create_pool(8192, NULL);
        assert_non_null(pool);

        a = pt_palloc(pool, 4096);
        assert_non_null(a);
        memset(a, 1, 4096);

        for (k = 0; k < 10; k++) {
            assert_non_null(pt_palloc(pool, 2000));
        }

        if (i % 2) {
            assert_int_equal(pt_pfree(pool, a), PT_OK);
        }

        pt_destroy_pool(pool);
    }
}


#if defined(__SANITIZE_ADDRESS__)
#define TEST_PALLOC_ASAN  1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_PALLOC_ASAN  1
#endif
#endif


/*
 * n blocks of a size in use at once, each written over, then all freed:
 * the peak a class meets under load.
 */
static void
peak(size_t size, pt_uint_t n)
{
    u_char     *b[64];
    pt_uint_t   i;

    assert_true(n <= pt_nelems(b));

    for (i = 0; i < n; i++) {
        b[i] = pt_block_alloc(size, NULL);
        assert_non_null(b[i]);
        memset(b[i], (int) i, size);
    }

    for (i = 0; i < n; i++) {
        assert_int_equal(b[i][size - 1], (u_char) i);
        pt_block_free(b[i], size);
    }
}


/*
 * A class's blocks come from its own run of 16 (8192 was claimed above):
 * whatever is in flight beyond them comes from malloc (and is kept as a
 * spare once freed), so once all are freed, the next 16 are the run's
 * again and the 17th is not of the run.
 */
static void
test_block_cache_run(void **state)
{
    u_char     *b[17], *lo, *hi;
    pt_uint_t   i, k, n;

    peak(8192, 40);

    for (i = 0; i < 17; i++) {
        b[i] = pt_block_alloc(8192, NULL);
        assert_non_null(b[i]);
    }

#ifndef TEST_PALLOC_ASAN
    lo = b[0];
    hi = b[0];

    for (i = 0; i < 16; i++) {
        lo = pt_min(lo, b[i]);
        hi = pt_max(hi, b[i]);

        for (k = 0, n = 0; k < 16; k++) {
            n += (b[k] == b[i]);
        }

        assert_int_equal(n, 1);
    }

    /* the 16 are one run */
    assert_true((size_t) (hi - lo) == 15 * 8192);

    /* and the 17th is not of it */
    assert_true(b[16] < lo || b[16] > hi);
#else
    (void) lo;
    (void) hi;
    (void) k;
    (void) n;
#endif

    for (i = 0; i < 17; i++) {
        pt_block_free(b[i], 8192);
    }
}


/*
 * Blocks from malloc beyond a run come back as spares and are handed out
 * again; each decay frees the spares nothing needed since the one before,
 * so a peak's blocks are all freed by the second decay after it ends.
 */
static void
test_block_cache_spares(void **state)
{
#ifndef TEST_PALLOC_ASAN
    u_char     *b[20];
    pt_uint_t   i;
#endif

    /* two decays without allocations leave no spare */
    pt_block_cache_decay();
    pt_block_cache_decay();
    assert_int_equal(pt_block_cache_spares(), 0);

    peak(4096, 48);

#ifndef TEST_PALLOC_ASAN
    /* the 16 of the run, then 32 spares */
    assert_int_equal(pt_block_cache_spares(), 32);

    /* in use again: the run's 16, then 4 spares */
    for (i = 0; i < 20; i++) {
        b[i] = pt_block_alloc(4096, NULL);
        assert_non_null(b[i]);
    }

    assert_int_equal(pt_block_cache_spares(), 28);

    /* none was spare for the whole period: the decay only marks */
    pt_block_cache_decay();
    assert_int_equal(pt_block_cache_spares(), 28);

    for (i = 0; i < 20; i++) {
        pt_block_free(b[i], 4096);
    }

    assert_int_equal(pt_block_cache_spares(), 32);

    /* the 28 stayed unused for a period, then the 4 */
    pt_block_cache_decay();
    assert_int_equal(pt_block_cache_spares(), 4);
    pt_block_cache_decay();
    assert_int_equal(pt_block_cache_spares(), 0);
#else
    assert_int_equal(pt_block_cache_spares(), 0);
#endif
}


/*
 * Every block of a small pool (not only the first) comes from the small
 * runs, and they all return to them: the next pool of the size gets one.
 */
static void
test_small_pool_blocks(void **state)
{
    void       *m;
    pt_uint_t   i;
    pt_pool_t  *pool, *p, *last;

    pool = pt_create_pool(256, NULL);
    assert_non_null(pool);

    for (i = 0; i < 20; i++) {
        m = pt_palloc(pool, 100);
        assert_non_null(m);
        assert_true(in_blocks(pool, m));
        memset(m, 1, 100);
    }

    assert_true(count_blocks(pool) > 5);

    for (last = pool, p = pool; p; p = p->d.next) {
        assert_int_equal(p->d.end - (u_char *) p, 256);
        last = p;
    }

    pt_destroy_pool(pool);

    pool = pt_create_pool(256, NULL);
    assert_non_null(pool);

#ifndef TEST_PALLOC_ASAN
    /* the last block freed is the first handed out again */
    assert_ptr_equal(pool, last);
#else
    (void) last;
#endif

    pt_destroy_pool(pool);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_small_alignment),
        cmocka_unit_test(test_block_sizes),
        cmocka_unit_test(test_failed_blocks_skipped),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_pmemalign),
        cmocka_unit_test(test_cleanup_order),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_alloc_wrappers),
        cmocka_unit_test(test_block_cache),
        cmocka_unit_test(test_block_cache_run),
        cmocka_unit_test(test_block_cache_spares),
        cmocka_unit_test(test_small_pool_blocks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
