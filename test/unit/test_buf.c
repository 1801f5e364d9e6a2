/*
 * Unit tests for core/pt_buf.c: temporary buffers, chain links and their
 * recycling, chain copies and sizes, and the free/busy bookkeeping of
 * pt_chain_update_chains().
 */
#include "pt_core.h"

#include <setjmp.h>
#include <cmocka.h>


static int  tag_mine, tag_other;


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


static pt_uint_t
chain_len(pt_chain_t *cl)
{
    pt_uint_t  n;

    for (n = 0; cl; cl = cl->next) {
        n++;
    }

    return n;
}


static pt_chain_t *
make_link(pt_pool_t *pool, size_t size, size_t filled, void *tag)
{
    pt_buf_t    *b;
    pt_chain_t  *cl;

    b = pt_create_temp_buf(pool, size);
    assert_non_null(b);
    memset(b->start, 'x', filled);
    b->last += filled;
    b->tag = tag;

    cl = pt_alloc_chain_link(pool);
    assert_non_null(cl);
    cl->buf = b;
    cl->next = NULL;

    return cl;
}


static void
test_temp_buf(void **state)
{
    pt_buf_t   *b;
    pt_pool_t  *pool = *state;

    b = pt_create_temp_buf(pool, 100);
    assert_non_null(b);
    assert_non_null(b->start);
    assert_ptr_equal(b->pos, b->start);
    assert_ptr_equal(b->last, b->start);
    assert_ptr_equal(b->end, b->start + 100);
    assert_int_equal(b->temporary, 1);
    assert_int_equal(b->memory, 0);
    assert_int_equal(b->in_file, 0);
    assert_int_equal(b->last_buf, 0);
    assert_int_equal(b->flush, 0);
    assert_null(b->tag);
    assert_null(b->file);
    assert_null(b->shadow);
    assert_true(pt_buf_in_memory(b));
    assert_true(pt_buf_in_memory_only(b));
    assert_false(pt_buf_special(b));
    assert_int_equal(pt_buf_size(b), 0);

    memcpy(b->last, "hello", 5);
    b->last += 5;
    assert_int_equal(pt_buf_size(b), 5);
    b->pos += 2;
    assert_int_equal(pt_buf_size(b), 3);

    /* larger than a pool block */
    b = pt_create_temp_buf(pool, 64 * 1024);
    assert_non_null(b);
    assert_int_equal(b->end - b->start, 64 * 1024);
    memset(b->start, 0, 64 * 1024);

    b = pt_calloc_buf(pool);
    assert_non_null(b);
    b->last_buf = 1;
    assert_true(pt_buf_special(b));
    assert_int_equal(pt_buf_size(b), 0);

    b->in_file = 1;
    b->file_pos = 10;
    b->file_last = 110;
    assert_false(pt_buf_special(b));
    assert_false(pt_buf_in_memory(b));
    assert_int_equal(pt_buf_size(b), 100);
}


static void
test_chain_links(void **state)
{
    pt_chain_t  *a, *b, *c;
    pt_pool_t   *pool = *state;

    assert_null(pool->chain);

    a = pt_alloc_chain_link(pool);
    b = pt_alloc_chain_link(pool);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);

    pt_free_chain(pool, a);
    assert_ptr_equal(pool->chain, a);
    pt_free_chain(pool, b);
    assert_ptr_equal(pool->chain, b);

    /* freed links come back first, most recent first */
    c = pt_alloc_chain_link(pool);
    assert_ptr_equal(c, b);
    c = pt_alloc_chain_link(pool);
    assert_ptr_equal(c, a);
    assert_null(pool->chain);

    c = pt_alloc_chain_link(pool);
    assert_non_null(c);
    assert_ptr_not_equal(c, a);
    assert_ptr_not_equal(c, b);
}


static void
test_chain_add_copy_and_size(void **state)
{
    pt_chain_t  *in, *out, *cl;
    pt_pool_t   *pool = *state;

    in = make_link(pool, 10, 10, NULL);
    in->next = make_link(pool, 20, 5, NULL);
    in->next->next = make_link(pool, 30, 0, NULL);

    assert_int_equal(pt_chain_size(in), 15);
    assert_int_equal(pt_chain_size(NULL), 0);

    out = NULL;
    assert_int_equal(pt_chain_add_copy(pool, &out, in), PT_OK);
    assert_int_equal(chain_len(out), 3);

    /* new links, shared buffers */
    assert_ptr_not_equal(out, in);
    assert_ptr_equal(out->buf, in->buf);
    assert_ptr_equal(out->next->buf, in->next->buf);
    assert_ptr_equal(out->next->next->buf, in->next->next->buf);
    assert_null(out->next->next->next);

    /* appends to what is there */
    assert_int_equal(pt_chain_add_copy(pool, &out, in), PT_OK);
    assert_int_equal(chain_len(out), 6);
    assert_int_equal(pt_chain_size(out), 30);

    cl = out->next->next->next;
    assert_ptr_equal(cl->buf, in->buf);

    /* copying nothing changes nothing */
    assert_int_equal(pt_chain_add_copy(pool, &out, NULL), PT_OK);
    assert_int_equal(chain_len(out), 6);

    /* links come from the pool's free chain when it has some */
    cl = pt_alloc_chain_link(pool);
    pt_free_chain(pool, cl);
    out = NULL;
    assert_int_equal(pt_chain_add_copy(pool, &out, in), PT_OK);
    assert_ptr_equal(out, cl);
    assert_null(pool->chain);

    /* a file buffer counts its file range */
    in->buf->temporary = 0;
    in->buf->in_file = 1;
    in->buf->file_pos = 100;
    in->buf->file_last = 1100;
    assert_int_equal(pt_chain_size(in), 1005);
}


static void
test_get_free_buf(void **state)
{
    pt_chain_t  *free, *cl, *old;
    pt_pool_t   *pool = *state;

    free = NULL;

    cl = pt_chain_get_free_buf(pool, &free);
    assert_non_null(cl);
    assert_non_null(cl->buf);
    assert_null(cl->next);
    assert_null(cl->buf->start);
    assert_null(cl->buf->pos);
    assert_int_equal(cl->buf->temporary, 0);
    assert_null(cl->buf->tag);

    /* a link on the free list is handed back as it is */
    old = make_link(pool, 16, 0, &tag_mine);
    old->next = make_link(pool, 16, 0, &tag_mine);
    free = old;

    cl = pt_chain_get_free_buf(pool, &free);
    assert_ptr_equal(cl, old);
    assert_null(cl->next);
    assert_non_null(cl->buf->start);
    assert_ptr_equal(cl->buf->tag, &tag_mine);
    assert_non_null(free);
    assert_null(free->next);

    cl = pt_chain_get_free_buf(pool, &free);
    assert_non_null(cl);
    assert_null(free);
}


static void
test_update_chains(void **state)
{
    pt_chain_t  *free, *busy, *out, *a, *b, *c, *d;
    pt_pool_t   *pool = *state;

    free = NULL;
    busy = NULL;

    /* nothing to do */
    out = NULL;
    pt_chain_update_chains(pool, &free, &busy, &out, &tag_mine);
    assert_null(free);
    assert_null(busy);

    /* a: consumed, mine; b: holds data, mine; c: consumed, mine */
    a = make_link(pool, 32, 10, &tag_mine);
    b = make_link(pool, 32, 10, &tag_mine);
    c = make_link(pool, 32, 10, &tag_mine);
    a->next = b;
    b->next = c;
    a->buf->pos = a->buf->last;
    b->buf->pos += 4;
    c->buf->pos = c->buf->last;

    out = a;
    pt_chain_update_chains(pool, &free, &busy, &out, &tag_mine);

    assert_null(out);
    assert_ptr_equal(free, a);
    assert_null(free->next);
    assert_ptr_equal(a->buf->pos, a->buf->start);
    assert_ptr_equal(a->buf->last, a->buf->start);

    /* stops at the first buffer still holding data */
    assert_ptr_equal(busy, b);
    assert_ptr_equal(b->next, c);
    assert_int_equal(pt_buf_size(b->buf), 6);
    assert_ptr_not_equal(c->buf->pos, c->buf->start);

    /* once b is sent, b and c go to free; new out is appended to busy */
    b->buf->pos = b->buf->last;
    d = make_link(pool, 32, 10, &tag_mine);
    out = d;
    pt_chain_update_chains(pool, &free, &busy, &out, &tag_mine);

    assert_null(out);
    assert_ptr_equal(busy, d);
    assert_null(d->next);
    assert_ptr_equal(free, c);
    assert_ptr_equal(c->next, b);
    assert_ptr_equal(b->next, a);
    assert_null(a->next);
    assert_ptr_equal(b->buf->pos, b->buf->start);
    assert_ptr_equal(c->buf->last, c->buf->start);
}


static void
test_update_chains_foreign(void **state)
{
    pt_chain_t  *free, *busy, *out, *a, *b, *c, *d;
    pt_pool_t   *pool = *state;

    free = NULL;
    busy = NULL;

    /* a: foreign, consumed; b: foreign, holds data; c: mine, holds data */
    a = make_link(pool, 32, 10, &tag_other);
    b = make_link(pool, 32, 10, &tag_other);
    c = make_link(pool, 32, 10, &tag_mine);
    d = make_link(pool, 32, 10, &tag_other);
    a->next = b;
    b->next = c;
    c->next = d;
    a->buf->pos = a->buf->last;
    d->buf->pos = d->buf->last;

    out = a;
    pt_chain_update_chains(pool, &free, &busy, &out, &tag_mine);

    /* foreign links at the head are dropped, whatever their size */
    assert_null(free);
    assert_ptr_equal(busy, c);
    assert_ptr_equal(c->next, d);

    /* their links went back to the pool; the buffers were not touched */
    assert_ptr_equal(pool->chain, b);
    assert_ptr_equal(b->next, a);
    assert_int_equal(pt_buf_size(b->buf), 10);
    assert_ptr_equal(a->buf->pos, a->buf->last);

    /* once c is consumed it is freed and the foreign d is dropped */
    c->buf->pos = c->buf->last;
    pt_chain_update_chains(pool, &free, &busy, &out, &tag_mine);

    assert_null(busy);
    assert_ptr_equal(free, c);
    assert_null(c->next);
    assert_ptr_equal(pool->chain, d);

    /* a special (flush) buffer with the tag counts as consumed */
    a = pt_alloc_chain_link(pool);
    a->buf = pt_calloc_buf(pool);
    a->buf->flush = 1;
    a->buf->tag = &tag_mine;
    a->next = NULL;

    out = a;
    pt_chain_update_chains(pool, &free, &busy, &out, &tag_mine);
    assert_null(busy);
    assert_ptr_equal(free, a);
    assert_ptr_equal(a->next, c);
}


#define T(f)  cmocka_unit_test_setup_teardown(f, setup_pool, teardown_pool)

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        T(test_temp_buf),
        T(test_chain_links),
        T(test_chain_add_copy_and_size),
        T(test_get_free_buf),
        T(test_update_chains),
        T(test_update_chains_foreign),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
