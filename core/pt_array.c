/*
 * Growable arrays in pool memory. An array that is the last allocation of
 * its pool block grows in place; otherwise it moves to a new allocation
 * of twice the size (the old one stays in the pool, or is freed at once
 * when it was a large allocation).
 */
#include "pt_core.h"


static pt_int_t pt_array_grow_in_place(pt_array_t *a, size_t size);
static void *pt_array_move(pt_array_t *a, pt_uint_t nalloc);


/* Returns an empty array with room for n elements of size bytes, or NULL. */
pt_array_t *
pt_array_create(pt_pool_t *p, pt_uint_t n, size_t size)
{
    pt_array_t  *a;

    a = pt_palloc(p, sizeof(pt_array_t));
    if (a == NULL) {
        return NULL;
    }

    if (pt_array_init(a, p, n, size) != PT_OK) {
        return NULL;
    }

    return a;
}


/* Returns room for one more element (uninitialised), or NULL. */
void *
pt_array_push(pt_array_t *a)
{
    void  *elt;

    if (a->nelts == a->nalloc) {

        if (pt_array_grow_in_place(a, a->size) == PT_OK) {
            a->nalloc++;

        } else if (pt_array_move(a, a->nalloc ? 2 * a->nalloc : 1) == NULL) {
            return NULL;
        }
    }

    elt = (u_char *) a->elts + a->size * a->nelts;
    a->nelts++;

    return elt;
}


/* Returns room for n more contiguous elements (uninitialised), or NULL. */
void *
pt_array_push_n(pt_array_t *a, pt_uint_t n)
{
    void       *elt;
    size_t      size;
    pt_uint_t   nalloc;

    if (a->size == 0 || n > (SIZE_MAX / a->size) - a->nelts) {
        return NULL;
    }

    size = n * a->size;

    if (a->nelts + n > a->nalloc) {

        if (pt_array_grow_in_place(a, size) == PT_OK) {
            a->nalloc += n;

        } else {
            nalloc = pt_max(n, a->nalloc);

            /* double unless that alone would overflow */
            nalloc = (nalloc <= SIZE_MAX / 2 / a->size) ? 2 * nalloc
                                                        : a->nelts + n;

            if (pt_array_move(a, nalloc) == NULL) {
                return NULL;
            }
        }
    }

    elt = (u_char *) a->elts + a->size * a->nelts;
    a->nelts += n;

    return elt;
}


/*
 * Extends the array by size bytes when it ends exactly where the free
 * space of one of its pool's blocks begins and that block has the room.
 */
static pt_int_t
pt_array_grow_in_place(pt_array_t *a, size_t size)
{
    u_char     *end;
    pt_pool_t  *p;

    end = (u_char *) a->elts + a->size * a->nalloc;

    for (p = a->pool; p; p = p->d.next) {
        if (end == p->d.last) {
            if ((size_t) (p->d.end - p->d.last) < size) {
                return PT_DECLINED;
            }

            p->d.last += size;

            return PT_OK;
        }
    }

    return PT_DECLINED;
}


static void *
pt_array_move(pt_array_t *a, pt_uint_t nalloc)
{
    void    *new, *old;
    size_t   size;

    if (a->size && nalloc > SIZE_MAX / a->size) {
        return NULL;
    }

    new = pt_palloc(a->pool, nalloc * a->size);
    if (new == NULL) {
        return NULL;
    }

    old = a->elts;
    size = a->nalloc * a->size;

    if (a->nelts) {
        pt_memcpy(new, old, a->nelts * a->size);
    }

    /* a large allocation can go back to malloc at once */
    if (size > a->pool->max) {
        (void) pt_pfree(a->pool, old);
    }

    a->elts = new;
    a->nalloc = nalloc;

    return new;
}
