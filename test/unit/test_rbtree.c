/*
 * Unit tests for core/pt_rbtree.c: random inserts and deletes of 10,000
 * keys with the red-black invariants checked after each phase, in-order
 * iteration with pt_rbtree_next(), and timer keys across a wrap.
 */
#include "pt_core.h"

#include <setjmp.h>
#include <cmocka.h>


#define NKEYS  10000


typedef struct {
    pt_rbtree_node_t   node;
    pt_uint_t          in;      /* in the tree */
} test_node_t;


static uint64_t  rng_state = 0x9e3779b97f4a7c15ULL;


static uint64_t
rng(void)
{
    /* xorshift64: deterministic, so a failure can be replayed */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;

    return rng_state;
}


static void
shuffle(pt_uint_t *a, pt_uint_t n)
{
    pt_uint_t  i, j, t;

    for (i = n - 1; i > 0; i--) {
        j = rng() % (i + 1);
        t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}


/*
 * Checks the subtree at node: parent links, key order within [lo, hi],
 * no red node with a red child. Returns its black height; counts nodes.
 */
static pt_uint_t
check_subtree(pt_rbtree_node_t *node, pt_rbtree_node_t *sentinel,
    pt_rbtree_key_t lo, pt_rbtree_key_t hi, pt_uint_t *count)
{
    pt_uint_t  lh, rh;

    if (node == sentinel) {
        return 1;
    }

    (*count)++;

    assert_true(node->key >= lo);
    assert_true(node->key <= hi);

    if (pt_rbt_is_red(node)) {
        assert_true(pt_rbt_is_black(node->left));
        assert_true(pt_rbt_is_black(node->right));
    }

    if (node->left != sentinel) {
        assert_ptr_equal(node->left->parent, node);
    }

    if (node->right != sentinel) {
        assert_ptr_equal(node->right->parent, node);
    }

    lh = check_subtree(node->left, sentinel, lo, node->key, count);
    rh = check_subtree(node->right, sentinel, node->key, hi, count);

    assert_int_equal(lh, rh);

    return lh + pt_rbt_is_black(node);
}


/* Checks the whole tree holds expected nodes, in order, as a red-black tree. */
static void
check_tree(pt_rbtree_t *tree, pt_uint_t expected)
{
    pt_uint_t          count, walked;
    pt_rbtree_node_t  *node, *prev;

    assert_true(pt_rbt_is_black(tree->sentinel));

    count = 0;

    if (tree->root != tree->sentinel) {
        assert_true(pt_rbt_is_black(tree->root));
        assert_null(tree->root->parent);
    }

    (void) check_subtree(tree->root, tree->sentinel, 0, UINT64_MAX, &count);

    assert_int_equal(count, expected);

    walked = 0;
    prev = NULL;

    if (tree->root != tree->sentinel) {
        for (node = pt_rbtree_min(tree->root, tree->sentinel);
             node;
             node = pt_rbtree_next(tree, node))
        {
            if (prev) {
                assert_true(prev->key <= node->key);
            }

            prev = node;
            walked++;
        }
    }

    assert_int_equal(walked, expected);
}


static void
test_empty_and_single(void **state)
{
    pt_rbtree_t        tree;
    pt_rbtree_node_t   sentinel, a;

    pt_rbtree_init(&tree, &sentinel, pt_rbtree_insert_value);
    check_tree(&tree, 0);

    a.key = 42;
    pt_rbtree_insert(&tree, &a);
    assert_ptr_equal(tree.root, &a);
    check_tree(&tree, 1);
    assert_null(pt_rbtree_next(&tree, &a));

    pt_rbtree_delete(&tree, &a);
    assert_ptr_equal(tree.root, &sentinel);
    assert_null(a.left);
    assert_null(a.right);
    assert_null(a.parent);
    assert_int_equal(a.key, 42);
    check_tree(&tree, 0);
}


static void
test_sequential(void **state)
{
    pt_uint_t          i, n;
    pt_rbtree_t        tree;
    pt_rbtree_node_t   sentinel, *node;
    test_node_t       *nodes;

    nodes = calloc(1000, sizeof(test_node_t));
    assert_non_null(nodes);

    pt_rbtree_init(&tree, &sentinel, pt_rbtree_insert_value);

    /* ascending inserts are the classic worst case for a plain BST */
    for (i = 0; i < 1000; i++) {
        nodes[i].node.key = i;
        pt_rbtree_insert(&tree, &nodes[i].node);
    }

    check_tree(&tree, 1000);

    n = 0;

    for (node = pt_rbtree_min(tree.root, tree.sentinel);
         node;
         node = pt_rbtree_next(&tree, node))
    {
        assert_ptr_equal(node, &nodes[n].node);
        n++;
    }

    assert_int_equal(n, 1000);

    /* delete from the middle outwards, then the rest descending */
    for (i = 250; i < 750; i++) {
        pt_rbtree_delete(&tree, &nodes[i].node);
    }

    check_tree(&tree, 500);

    for (i = 1000; i-- > 750; ) {
        pt_rbtree_delete(&tree, &nodes[i].node);
    }

    for (i = 250; i-- > 0; ) {
        pt_rbtree_delete(&tree, &nodes[i].node);
    }

    check_tree(&tree, 0);

    free(nodes);
}


static void
test_random(void **state)
{
    pt_uint_t          i, n, in, *order;
    pt_rbtree_t        tree;
    pt_rbtree_node_t   sentinel;
    test_node_t       *nodes;

    nodes = calloc(NKEYS, sizeof(test_node_t));
    order = calloc(NKEYS, sizeof(pt_uint_t));
    assert_non_null(nodes);
    assert_non_null(order);

    pt_rbtree_init(&tree, &sentinel, pt_rbtree_insert_value);

    /* phase 1: 10,000 random keys, with plenty of duplicates */
    for (i = 0; i < NKEYS; i++) {
        nodes[i].node.key = rng() % (NKEYS / 2);
        pt_rbtree_insert(&tree, &nodes[i].node);
        nodes[i].in = 1;
        order[i] = i;
    }

    in = NKEYS;
    check_tree(&tree, in);

    /* phase 2: delete a random half */
    shuffle(order, NKEYS);

    for (i = 0; i < NKEYS / 2; i++) {
        n = order[i];
        pt_rbtree_delete(&tree, &nodes[n].node);
        nodes[n].in = 0;
        in--;

        if (i % 1000 == 0) {
            check_tree(&tree, in);
        }
    }

    check_tree(&tree, in);

    /* phase 3: reinsert the deleted ones with full-range keys */
    for (i = 0; i < NKEYS / 2; i++) {
        n = order[i];
        nodes[n].node.key = rng();
        pt_rbtree_insert(&tree, &nodes[n].node);
        nodes[n].in = 1;
        in++;
    }

    check_tree(&tree, in);

    /* phase 4: interleave deletes and inserts */
    for (i = 0; i < 20000; i++) {
        n = rng() % NKEYS;

        if (nodes[n].in) {
            pt_rbtree_delete(&tree, &nodes[n].node);
            nodes[n].in = 0;
            in--;

        } else {
            nodes[n].node.key = rng() % 100;
            pt_rbtree_insert(&tree, &nodes[n].node);
            nodes[n].in = 1;
            in++;
        }
    }

    check_tree(&tree, in);

    /* phase 5: delete everything in random order */
    shuffle(order, NKEYS);

    for (i = 0; i < NKEYS; i++) {
        n = order[i];

        if (nodes[n].in) {
            pt_rbtree_delete(&tree, &nodes[n].node);
            nodes[n].in = 0;
            in--;
        }
    }

    assert_int_equal(in, 0);
    assert_ptr_equal(tree.root, &sentinel);
    check_tree(&tree, 0);

    free(order);
    free(nodes);
}


static void
test_timer_wrap(void **state)
{
    pt_uint_t          i, n, idx[16];
    pt_rbtree_t        tree, plain;
    pt_rbtree_node_t   sentinel, psentinel, *node;
    pt_rbtree_node_t   timers[16], values[16];
    pt_rbtree_key_t    base;

    /* deadlines straddling the wrap of the 64-bit millisecond counter */
    base = UINT64_MAX - 700;

    for (i = 0; i < 16; i++) {
        idx[i] = i;
    }

    shuffle(idx, 16);

    pt_rbtree_init(&tree, &sentinel, pt_rbtree_insert_timer_value);
    pt_rbtree_init(&plain, &psentinel, pt_rbtree_insert_value);

    for (i = 0; i < 16; i++) {
        timers[idx[i]].key = base + (pt_rbtree_key_t) idx[i] * 100;
        pt_rbtree_insert(&tree, &timers[idx[i]]);

        values[idx[i]].key = base + (pt_rbtree_key_t) idx[i] * 100;
        pt_rbtree_insert(&plain, &values[idx[i]]);
    }

    /* the timer order is the order of the deadlines, wrap or not */
    n = 0;

    for (node = pt_rbtree_min(tree.root, tree.sentinel);
         node;
         node = pt_rbtree_next(&tree, node))
    {
        assert_ptr_equal(node, &timers[n]);
        n++;
    }

    assert_int_equal(n, 16);

    /* plain order puts the wrapped (small) keys first */
    node = pt_rbtree_min(plain.root, plain.sentinel);
    assert_ptr_equal(node, &values[8]);
    assert_int_equal(node->key, 99);

    /* the earliest deadline is the minimum, and stays so as timers go */
    for (i = 0; i < 16; i++) {
        node = pt_rbtree_min(tree.root, tree.sentinel);
        assert_ptr_equal(node, &timers[i]);
        pt_rbtree_delete(&tree, node);
    }

    assert_ptr_equal(tree.root, &sentinel);
}


static void
test_custom_insert_data(void **state)
{
    pt_rbtree_t        tree;
    pt_rbtree_node_t   sentinel, a, b, c;

    /* the data byte is the user's: the tree leaves it alone */
    pt_rbtree_init(&tree, &sentinel, pt_rbtree_insert_value);

    a.key = 2;
    a.data = 'a';
    b.key = 1;
    b.data = 'b';
    c.key = 3;
    c.data = 'c';

    pt_rbtree_insert(&tree, &a);
    pt_rbtree_insert(&tree, &b);
    pt_rbtree_insert(&tree, &c);
    check_tree(&tree, 3);

    pt_rbtree_delete(&tree, &a);
    check_tree(&tree, 2);

    assert_int_equal(a.data, 'a');
    assert_int_equal(b.data, 'b');
    assert_int_equal(c.data, 'c');
    assert_ptr_equal(pt_rbtree_next(&tree, &b), &c);
    assert_null(pt_rbtree_next(&tree, &c));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_empty_and_single),
        cmocka_unit_test(test_sequential),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_timer_wrap),
        cmocka_unit_test(test_custom_insert_data),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
