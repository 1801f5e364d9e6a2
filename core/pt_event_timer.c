/* Timers: a red-black tree of deadlines on the cached monotonic clock. */
#include "pt_core.h"


pt_rbtree_t              pt_event_timer_rbtree;
static pt_rbtree_node_t  pt_event_timer_sentinel;


pt_int_t
pt_event_timer_init(void)
{
    pt_rbtree_init(&pt_event_timer_rbtree, &pt_event_timer_sentinel,
                   pt_rbtree_insert_timer_value);

    return PT_OK;
}


pt_msec_t
pt_event_find_timer(void)
{
    pt_msec_int_t      timer;
    pt_rbtree_node_t  *node, *root, *sentinel;

    if (pt_event_timer_rbtree.root == &pt_event_timer_sentinel) {
        return PT_TIMER_INFINITE;
    }

    root = pt_event_timer_rbtree.root;
    sentinel = pt_event_timer_rbtree.sentinel;

    node = pt_rbtree_min(root, sentinel);

    timer = (pt_msec_int_t) (node->key - pt_current_msec);

    return (pt_msec_t) (timer > 0 ? timer : 0);
}


void
pt_event_expire_timers(void)
{
    pt_event_t        *ev;
    pt_rbtree_node_t  *node, *root, *sentinel;

    sentinel = pt_event_timer_rbtree.sentinel;

    for ( ;; ) {
        root = pt_event_timer_rbtree.root;

        if (root == sentinel) {
            return;
        }

        node = pt_rbtree_min(root, sentinel);

        if ((pt_msec_int_t) (node->key - pt_current_msec) > 0) {
            return;
        }

        ev = (pt_event_t *) ((char *) node - offsetof(pt_event_t, timer));

        pt_rbtree_delete(&pt_event_timer_rbtree, &ev->timer);

        ev->timer_set = 0;
        ev->timedout = 1;

        ev->handler(ev);
    }
}


pt_int_t
pt_event_no_timers_left(void)
{
    pt_event_t        *ev;
    pt_rbtree_node_t  *node, *root, *sentinel;

    sentinel = pt_event_timer_rbtree.sentinel;
    root = pt_event_timer_rbtree.root;

    if (root == sentinel) {
        return PT_OK;
    }

    for (node = pt_rbtree_min(root, sentinel);
         node;
         node = pt_rbtree_next(&pt_event_timer_rbtree, node))
    {
        ev = (pt_event_t *) ((char *) node - offsetof(pt_event_t, timer));

        if (!ev->cancelable) {
            return PT_AGAIN;
        }
    }

    return PT_OK;
}
