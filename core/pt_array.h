#ifndef PT_ARRAY_H
#define PT_ARRAY_H

/* A growable array in a pool; growing may move the elements. */
typedef struct {
    void        *elts;
    pt_uint_t    nelts;
    size_t       size;      /* of one element */
    pt_uint_t    nalloc;
    pt_pool_t   *pool;
} pt_array_t;

pt_array_t *pt_array_create(pt_pool_t *p, pt_uint_t n, size_t size);
void *pt_array_push(pt_array_t *a);
void *pt_array_push_n(pt_array_t *a, pt_uint_t n);

static inline pt_int_t
pt_array_init(pt_array_t *array, pt_pool_t *pool, pt_uint_t n, size_t size)
{
    array->nelts = 0;
    array->size = size;
    array->nalloc = n;
    array->pool = pool;

    array->elts = pt_palloc(pool, n * size);
    if (array->elts == NULL) {
        return PT_ERROR;
    }

    return PT_OK;
}

#endif /* PT_ARRAY_H */
