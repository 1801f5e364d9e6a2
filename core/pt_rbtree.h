#ifndef PT_RBTREE_H
#define PT_RBTREE_H

/*
 * A red-black tree with a sentinel node. Keys are unsigned 64-bit; the
 * insert function decides the order (pt_rbtree_insert_value for plain
 * keys, pt_rbtree_insert_timer_value for wrapping millisecond deadlines),
 * so trees keyed by a hash can break ties on their own data.
 */
typedef uint64_t  pt_rbtree_key_t;
typedef int64_t   pt_rbtree_key_int_t;

typedef struct pt_rbtree_node_s  pt_rbtree_node_t;

struct pt_rbtree_node_s {
    pt_rbtree_key_t      key;
    pt_rbtree_node_t    *left;
    pt_rbtree_node_t    *right;
    pt_rbtree_node_t    *parent;
    u_char               color;
    u_char               data;      /* free for the user */
};

typedef struct pt_rbtree_s  pt_rbtree_t;

typedef void (*pt_rbtree_insert_pt)(pt_rbtree_node_t *root,
    pt_rbtree_node_t *node, pt_rbtree_node_t *sentinel);

struct pt_rbtree_s {
    pt_rbtree_node_t     *root;
    pt_rbtree_node_t     *sentinel;
    pt_rbtree_insert_pt   insert;
};

#define pt_rbtree_init(tree, s, i)                                           \
    pt_rbtree_sentinel_init(s);                                              \
    (tree)->root = s;                                                        \
    (tree)->sentinel = s;                                                    \
    (tree)->insert = i

#define pt_rbt_red(node)            ((node)->color = 1)
#define pt_rbt_black(node)          ((node)->color = 0)
#define pt_rbt_is_red(node)         ((node)->color)
#define pt_rbt_is_black(node)       (!pt_rbt_is_red(node))
#define pt_rbt_copy_color(n1, n2)   (n1->color = n2->color)
#define pt_rbtree_sentinel_init(node)  pt_rbt_black(node)

void pt_rbtree_insert(pt_rbtree_t *tree, pt_rbtree_node_t *node);
void pt_rbtree_delete(pt_rbtree_t *tree, pt_rbtree_node_t *node);
void pt_rbtree_insert_value(pt_rbtree_node_t *root, pt_rbtree_node_t *node,
    pt_rbtree_node_t *sentinel);
void pt_rbtree_insert_timer_value(pt_rbtree_node_t *root,
    pt_rbtree_node_t *node, pt_rbtree_node_t *sentinel);
pt_rbtree_node_t *pt_rbtree_next(pt_rbtree_t *tree, pt_rbtree_node_t *node);

static inline pt_rbtree_node_t *
pt_rbtree_min(pt_rbtree_node_t *node, pt_rbtree_node_t *sentinel)
{
    while (node->left != sentinel) {
        node = node->left;
    }

    return node;
}

#endif /* PT_RBTREE_H */
