#ifndef PT_LIST_H
#define PT_LIST_H

/*
 * A list of fixed-size parts; unlike pt_array_t, elements never move once
 * pushed, so pointers to them stay valid (header lists rely on this).
 */
typedef struct pt_list_part_s  pt_list_part_t;

struct pt_list_part_s {
    void            *elts;
    pt_uint_t        nelts;
    pt_list_part_t  *next;
};

typedef struct {
    pt_list_part_t  *last;
    pt_list_part_t   part;
    size_t           size;
    pt_uint_t        nalloc;    /* elements per part */
    pt_pool_t       *pool;
} pt_list_t;

pt_list_t *pt_list_create(pt_pool_t *pool, pt_uint_t n, size_t size);
pt_int_t pt_list_init(pt_list_t *list, pt_pool_t *pool, pt_uint_t n,
    size_t size);
void *pt_list_push(pt_list_t *list);

/* Iterate: for (part = &l->part; part; part = part->next) each elt. */

#endif /* PT_LIST_H */
