/*
 * Lists of fixed-size parts in pool memory: pushing never moves an element
 * already pushed.
 */
#include "pt_core.h"


/* Returns an empty list whose parts hold n elements of size bytes. */
pt_list_t *
pt_list_create(pt_pool_t *pool, pt_uint_t n, size_t size)
{
    pt_list_t  *list;

    list = pt_palloc(pool, sizeof(pt_list_t));
    if (list == NULL) {
        return NULL;
    }

    if (pt_list_init(list, pool, n, size) != PT_OK) {
        return NULL;
    }

    return list;
}


/*
 * Initialises a list in place; list->last points into list itself, so the
 * pt_list_t must not be copied or moved afterwards.
 */
pt_int_t
pt_list_init(pt_list_t *list, pt_pool_t *pool, pt_uint_t n, size_t size)
{
    if (n == 0 || (size && n > SIZE_MAX / size)) {
        return PT_ERROR;
    }

    list->part.elts = pt_palloc(pool, n * size);
    if (list->part.elts == NULL) {
        return PT_ERROR;
    }

    list->part.nelts = 0;
    list->part.next = NULL;
    list->last = &list->part;
    list->size = size;
    list->nalloc = n;
    list->pool = pool;

    return PT_OK;
}


/* Returns room for one more element (uninitialised), or NULL. */
void *
pt_list_push(pt_list_t *l)
{
    void            *elt;
    pt_list_part_t  *last;

    last = l->last;

    if (last->nelts == l->nalloc) {

        last = pt_palloc(l->pool, sizeof(pt_list_part_t));
        if (last == NULL) {
            return NULL;
        }

        last->elts = pt_palloc(l->pool, l->nalloc * l->size);
        if (last->elts == NULL) {
            return NULL;
        }

        last->nelts = 0;
        last->next = NULL;

        l->last->next = last;
        l->last = last;
    }

    elt = (u_char *) last->elts + l->size * last->nelts;
    last->nelts++;

    return elt;
}
