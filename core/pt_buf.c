/*
 * Buffers and chains. Links are recycled through the pool's free chain;
 * buffers are recycled by their owners through free/busy lists.
 */
#include "pt_core.h"


/* Returns a buffer over size bytes of new pool memory, empty, or NULL. */
pt_buf_t *
pt_create_temp_buf(pt_pool_t *pool, size_t size)
{
    pt_buf_t  *b;

    b = pt_calloc_buf(pool);
    if (b == NULL) {
        return NULL;
    }

    b->start = pt_palloc(pool, size);
    if (b->start == NULL) {
        return NULL;
    }

    b->pos = b->start;
    b->last = b->start;
    b->end = b->start + size;
    b->temporary = 1;

    return b;
}


/*
 * Returns a link from the pool's free chain, or a new one, or NULL. Its
 * buf and next are not set: the caller fills both.
 */
pt_chain_t *
pt_alloc_chain_link(pt_pool_t *pool)
{
    pt_chain_t  *cl;

    cl = pool->chain;

    if (cl) {
        pool->chain = cl->next;
        return cl;
    }

    return pt_palloc(pool, sizeof(pt_chain_t));
}


pt_int_t
pt_chain_add_copy(pt_pool_t *pool, pt_chain_t **chain, pt_chain_t *in)
{
    pt_chain_t  *cl, **ll;

    ll = chain;

    for (cl = *chain; cl; cl = cl->next) {
        ll = &cl->next;
    }

    while (in) {
        cl = pt_alloc_chain_link(pool);
        if (cl == NULL) {
            *ll = NULL;
            return PT_ERROR;
        }

        cl->buf = in->buf;
        *ll = cl;
        ll = &cl->next;
        in = in->next;
    }

    *ll = NULL;

    return PT_OK;
}


/*
 * A link taken from *free keeps its buffer as it was left there (emptied
 * by pt_chain_update_chains()); a new link gets a zeroed buffer. The
 * link's next is NULL either way.
 */
pt_chain_t *
pt_chain_get_free_buf(pt_pool_t *p, pt_chain_t **free)
{
    pt_chain_t  *cl;

    if (*free) {
        cl = *free;
        *free = cl->next;
        cl->next = NULL;

        return cl;
    }

    cl = pt_alloc_chain_link(p);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = pt_calloc_buf(p);
    if (cl->buf == NULL) {
        return NULL;
    }

    cl->next = NULL;

    return cl;
}


/*
 * Links at the head of *busy whose buffer has another tag are dropped (the
 * link goes back to the pool); the walk stops at the first buffer with the
 * tag that still holds data. Consumed buffers with the tag are emptied
 * (pos = last = start) and their links pushed onto *free.
 */
void
pt_chain_update_chains(pt_pool_t *p, pt_chain_t **free, pt_chain_t **busy,
    pt_chain_t **out, pt_buf_tag_t tag)
{
    pt_chain_t  *cl;

    if (*out) {
        if (*busy == NULL) {
            *busy = *out;

        } else {
            for (cl = *busy; cl->next; cl = cl->next) {
                /* void */
            }

            cl->next = *out;
        }

        *out = NULL;
    }

    while (*busy) {
        cl = *busy;

        if (cl->buf->tag != tag) {
            *busy = cl->next;
            pt_free_chain(p, cl);
            continue;
        }

        if (pt_buf_size(cl->buf) != 0) {
            break;
        }

        cl->buf->pos = cl->buf->start;
        cl->buf->last = cl->buf->start;

        *busy = cl->next;
        cl->next = *free;
        *free = cl;
    }
}


/* Returns the number of bytes, in memory or in files, that in carries. */
off_t
pt_chain_size(pt_chain_t *in)
{
    off_t  size;

    for (size = 0; in; in = in->next) {
        size += pt_buf_size(in->buf);
    }

    return size;
}
