#ifndef PT_EVENT_TIMER_H
#define PT_EVENT_TIMER_H

#define PT_TIMER_INFINITE  (pt_msec_t) -1
#define PT_TIMER_LAZY_DELAY  300    /* ms a re-armed timer may drift */

extern pt_rbtree_t  pt_event_timer_rbtree;

pt_int_t pt_event_timer_init(void);
/* ms until the nearest timer, or PT_TIMER_INFINITE when there is none. */
pt_msec_t pt_event_find_timer(void);
void pt_event_expire_timers(void);
/* True when only cancelable timers remain (graceful shutdown may proceed). */
pt_int_t pt_event_no_timers_left(void);

static inline void
pt_event_del_timer(pt_event_t *ev)
{
    pt_rbtree_delete(&pt_event_timer_rbtree, &ev->timer);
    ev->timer_set = 0;
}

static inline void
pt_event_add_timer(pt_event_t *ev, pt_msec_t timer)
{
    pt_msec_t      key;
    pt_msec_int_t  diff;

    key = pt_current_msec + timer;

    if (ev->timer_set) {
        /* Re-arming by less than the lazy delay is not worth a tree update. */
        diff = (pt_msec_int_t) (key - ev->timer.key);
        if (diff > -PT_TIMER_LAZY_DELAY && diff < PT_TIMER_LAZY_DELAY) {
            return;
        }

        pt_event_del_timer(ev);
    }

    ev->timer.key = key;
    pt_rbtree_insert(&pt_event_timer_rbtree, &ev->timer);
    ev->timer_set = 1;
}

#endif /* PT_EVENT_TIMER_H */
