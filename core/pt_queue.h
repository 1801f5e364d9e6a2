#ifndef PT_QUEUE_H
#define PT_QUEUE_H

/* An intrusive doubly linked circular list with a sentinel head. */
typedef struct pt_queue_s  pt_queue_t;

struct pt_queue_s {
    pt_queue_t  *prev;
    pt_queue_t  *next;
};

#define pt_queue_init(q)        (q)->prev = q; (q)->next = q
#define pt_queue_empty(h)       (h == (h)->prev)
#define pt_queue_head(h)        (h)->next
#define pt_queue_last(h)        (h)->prev
#define pt_queue_sentinel(h)    (h)
#define pt_queue_next(q)        (q)->next
#define pt_queue_prev(q)        (q)->prev

#define pt_queue_insert_head(h, x)                                           \
    (x)->next = (h)->next; (x)->next->prev = x;                              \
    (x)->prev = h; (h)->next = x

#define pt_queue_insert_tail(h, x)                                           \
    (x)->prev = (h)->prev; (x)->prev->next = x;                              \
    (x)->next = h; (h)->prev = x

#define pt_queue_remove(x)                                                   \
    (x)->next->prev = (x)->prev; (x)->prev->next = (x)->next;                \
    (x)->prev = NULL; (x)->next = NULL

#define pt_queue_data(q, type, link)                                         \
    (type *) ((u_char *) q - offsetof(type, link))

#endif /* PT_QUEUE_H */
