/*
 * Unit tests for core/pt_array.c and core/pt_list.c: growth in place and by
 * doubling, push_n, and lists whose elements never move.
 */
#include "pt_core.h"

#include <setjmp.h>
#include <cmocka.h>


static int
setup_pool(void **state)
{
    *state = pt_create_pool(PT_POOL_DEFAULT_SIZE, NULL);

    return *state == NULL ? -1 : 0;
}


static int
teardown_pool(void **state)
{
    pt_destroy_pool(*state);

    return 0;
}


static void
test_array_create(void **state)
{
    pt_pool_t   *pool = *state;
    pt_array_t  *a, b;

    a = pt_array_create(pool, 4, sizeof(uint32_t));
    assert_non_null(a);
    assert_int_equal(a->nelts, 0);
    assert_int_equal(a->nalloc, 4);
    assert_int_equal(a->size, sizeof(uint32_t));
    assert_ptr_equal(a->pool, pool);
    assert_non_null(a->elts);

    assert_int_equal(pt_array_init(&b, pool, 2, 24), PT_OK);
    assert_int_equal(b.nelts, 0);
    assert_int_equal(b.nalloc, 2);
    assert_int_equal(b.size, 24);
}


static void
test_array_grow_in_place(void **state)
{
    void        *elts;
    uint32_t    *v;
    pt_uint_t    i;
    pt_pool_t   *pool = *state;
    pt_array_t  *a;

    a = pt_array_create(pool, 2, sizeof(uint32_t));
    assert_non_null(a);
    elts = a->elts;

    /* the array is the pool's last allocation: it grows where it is */
    for (i = 0; i < 10; i++) {
        v = pt_array_push(a);
        assert_non_null(v);
        *v = i;
    }

    assert_ptr_equal(a->elts, elts);
    assert_int_equal(a->nelts, 10);
    assert_int_equal(a->nalloc, 10);
    assert_ptr_equal(pool->d.last, (u_char *) elts + 10 * sizeof(uint32_t));

    v = pt_array_push_n(a, 5);
    assert_non_null(v);
    assert_ptr_equal(v, (uint32_t *) elts + 10);
    assert_ptr_equal(a->elts, elts);
    assert_int_equal(a->nelts, 15);
    assert_int_equal(a->nalloc, 15);

    for (i = 0; i < 5; i++) {
        v[i] = 10 + i;
    }

    v = a->elts;

    for (i = 0; i < 15; i++) {
        assert_int_equal(v[i], i);
    }
}


static void
test_array_grow_by_doubling(void **state)
{
    void        *elts;
    uint64_t    *v;
    pt_uint_t    i;
    pt_pool_t   *pool = *state;
    pt_array_t  *a;

    a = pt_array_create(pool, 4, sizeof(uint64_t));
    assert_non_null(a);
    elts = a->elts;

    /* another allocation after the array stops growth in place */
    assert_non_null(pt_palloc(pool, 8));

    for (i = 0; i < 5; i++) {
        v = pt_array_push(a);
        assert_non_null(v);
        *v = i * 1000;
    }

    assert_ptr_not_equal(a->elts, elts);
    assert_int_equal(a->nalloc, 8);
    assert_int_equal(a->nelts, 5);

    /* the moved array is the last allocation now: in place again */
    elts = a->elts;

    for (i = 5; i < 8; i++) {
        v = pt_array_push(a);
        *v = i * 1000;
    }

    assert_ptr_equal(a->elts, elts);
    assert_int_equal(a->nalloc, 8);

    v = pt_array_push(a);
    *v = 8000;
    assert_ptr_equal(a->elts, elts);
    assert_int_equal(a->nalloc, 9);

    for (i = 0; i < 9; i++) {
        assert_int_equal(((uint64_t *) a->elts)[i], i * 1000);
    }
}


static void
test_array_push_n_move(void **state)
{
    u_char      *v;
    pt_uint_t    i;
    pt_pool_t   *pool = *state;
    pt_array_t  *a;

    a = pt_array_create(pool, 3, 1);
    assert_non_null(a);
    memcpy(pt_array_push_n(a, 3), "abc", 3);
    assert_non_null(pt_palloc(pool, 1));

    /* n larger than nalloc: room for 2 * n */
    v = pt_array_push_n(a, 10);
    assert_non_null(v);
    assert_int_equal(a->nalloc, 20);
    assert_int_equal(a->nelts, 13);
    memcpy(v, "0123456789", 10);
    assert_memory_equal(a->elts, "abc0123456789", 13);

    assert_non_null(pt_palloc(pool, 1));

    /* n smaller than nalloc: room for 2 * nalloc */
    v = pt_array_push_n(a, 10);
    assert_non_null(v);
    assert_int_equal(a->nalloc, 40);
    assert_int_equal(a->nelts, 23);
    memset(v, 'z', 10);

    v = a->elts;

    for (i = 13; i < 23; i++) {
        assert_int_equal(v[i], 'z');
    }

    assert_memory_equal(a->elts, "abc0123456789", 13);

    /* a zero-capacity array still grows */
    a = pt_array_create(pool, 0, sizeof(int));
    assert_non_null(a);
    assert_non_null(pt_palloc(pool, 1));
    *(int *) pt_array_push(a) = 5;
    *(int *) pt_array_push(a) = 6;
    assert_int_equal(a->nelts, 2);
    assert_int_equal(((int *) a->elts)[0], 5);
    assert_int_equal(((int *) a->elts)[1], 6);

    /* requests whose byte size overflows are refused */
    assert_null(pt_array_push_n(a, SIZE_MAX / 2));
    assert_int_equal(a->nelts, 2);
}


static void
test_array_large(void **state)
{
    uint64_t    *v;
    pt_uint_t    i;
    pt_pool_t   *pool = *state;
    pt_array_t  *a;

    /* grows past a block: the elements move to large allocations */
    a = pt_array_create(pool, 16, sizeof(uint64_t));
    assert_non_null(a);

    for (i = 0; i < 100000; i++) {
        v = pt_array_push(a);
        assert_non_null(v);
        *v = i * 7;
    }

    assert_int_equal(a->nelts, 100000);
    assert_true(a->nalloc >= 100000);

    v = a->elts;

    for (i = 0; i < 100000; i++) {
        assert_int_equal(v[i], i * 7);
    }
}


static void
test_list(void **state)
{
    int              *v, *first[3];
    pt_uint_t         i, n, parts;
    pt_pool_t        *pool = *state;
    pt_list_t        *l, m;
    pt_list_part_t   *part;

    l = pt_list_create(pool, 3, sizeof(int));
    assert_non_null(l);
    assert_int_equal(l->nalloc, 3);
    assert_int_equal(l->size, sizeof(int));
    assert_ptr_equal(l->last, &l->part);
    assert_int_equal(l->part.nelts, 0);
    assert_null(l->part.next);

    for (i = 0; i < 10; i++) {
        v = pt_list_push(l);
        assert_non_null(v);
        *v = (int) i;

        if (i < 3) {
            first[i] = v;
        }
    }

    /* elements never move */
    for (i = 0; i < 3; i++) {
        assert_int_equal(*first[i], (int) i);
        assert_ptr_equal(first[i], (int *) l->part.elts + i);
    }

    n = 0;
    parts = 0;

    for (part = &l->part; part; part = part->next) {
        parts++;
        v = part->elts;

        assert_true(part->nelts <= l->nalloc);

        if (part->next) {
            assert_int_equal(part->nelts, l->nalloc);

        } else {
            assert_ptr_equal(part, l->last);
        }

        for (i = 0; i < part->nelts; i++) {
            assert_int_equal(v[i], (int) n);
            n++;
        }
    }

    assert_int_equal(n, 10);
    assert_int_equal(parts, 4);
    assert_int_equal(l->last->nelts, 1);

    assert_int_equal(pt_list_init(&m, pool, 1, 16), PT_OK);
    assert_non_null(pt_list_push(&m));
    assert_non_null(pt_list_push(&m));
    assert_int_equal(m.part.nelts, 1);
    assert_non_null(m.part.next);
    assert_ptr_equal(m.last, m.part.next);
    assert_int_equal(m.last->nelts, 1);

    assert_int_equal(pt_list_init(&m, pool, 0, 16), PT_ERROR);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_array_create, setup_pool,
                                        teardown_pool),
        cmocka_unit_test_setup_teardown(test_array_grow_in_place, setup_pool,
                                        teardown_pool),
        cmocka_unit_test_setup_teardown(test_array_grow_by_doubling,
                                        setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_array_push_n_move, setup_pool,
                                        teardown_pool),
        cmocka_unit_test_setup_teardown(test_array_large, setup_pool,
                                        teardown_pool),
        cmocka_unit_test_setup_teardown(test_list, setup_pool,
                                        teardown_pool),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
