#ifndef PT_PALLOC_H
#define PT_PALLOC_H

/*
 * Memory pools. A pool hands out memory that lives until the pool is
 * destroyed; nothing is freed piecemeal except large allocations
 * (pt_pfree). Cleanups registered on a pool run, in reverse order of
 * registration, when it is destroyed.
 */

#define PT_POOL_DEFAULT_SIZE   (16 * 1024)
#define PT_POOL_ALIGNMENT      16
#define PT_MAX_ALLOC_FROM_POOL 4095     /* larger requests go to malloc */

typedef void (*pt_pool_cleanup_pt)(void *data);

typedef struct pt_pool_cleanup_s  pt_pool_cleanup_t;

struct pt_pool_cleanup_s {
    pt_pool_cleanup_pt   handler;
    void                *data;
    pt_pool_cleanup_t   *next;
};

typedef struct pt_pool_large_s  pt_pool_large_t;

struct pt_pool_large_s {
    pt_pool_large_t     *next;
    void                *alloc;
    size_t               size;      /* 0: not from pt_block_alloc() */
};

typedef struct {
    u_char              *last;      /* first free byte of this block */
    u_char              *end;
    pt_pool_t           *next;
    pt_uint_t            failed;    /* times this block could not serve */
} pt_pool_data_t;

struct pt_pool_s {
    pt_pool_data_t       d;
    size_t               max;       /* largest request served from blocks */
    pt_pool_t           *current;   /* first block worth trying */
    pt_pool_large_t     *large;
    pt_chain_t          *chain;     /* free chain links */
    pt_pool_cleanup_t   *cleanup;
    pt_log_t            *log;
};

void *pt_alloc(size_t size, pt_log_t *log);
void *pt_calloc(size_t size, pt_log_t *log);

/*
 * Blocks of a few recurring sizes (request pools, I/O buffers, header
 * buffers) that come and go with every request: once
 * pt_block_cache_enable() has been called (by a process that serves
 * requests), each of a few sizes gets a small run of blocks of its own,
 * reused without walking the malloc heap; beyond them blocks come from
 * malloc and go back to it. size must be passed back as it was allocated.
 * Aligned to PT_POOL_ALIGNMENT.
 */
void pt_block_cache_enable(void);
void *pt_block_alloc(size_t size, pt_log_t *log);
void pt_block_free(void *p, size_t size);

/*
 * Blocks from malloc beyond a class's run are kept as spares when they come
 * back; pt_block_cache_decay() frees those that no allocation needed since
 * its last call. The event loop calls it every PT_BLOCK_DECAY_MSEC while
 * pt_block_cache_spares() is not 0.
 */
#define PT_BLOCK_DECAY_MSEC  500
void pt_block_cache_decay(void);
pt_uint_t pt_block_cache_spares(void);

pt_pool_t *pt_create_pool(size_t size, pt_log_t *log);
void pt_destroy_pool(pt_pool_t *pool);
void pt_reset_pool(pt_pool_t *pool);

void *pt_palloc_slow(pt_pool_t *pool, size_t size, pt_uint_t align);

/*
 * pt_palloc (aligned), pt_pnalloc (unaligned, for strings), pt_pcalloc
 * (aligned, zeroed): the common case, room in the current block, is
 * inlined at every call; anything else is pt_palloc_slow().
 */
static inline void *
pt_palloc_inline(pt_pool_t *pool, size_t size, pt_uint_t align)
{
    u_char     *m;
    pt_pool_t  *p;

    p = pool->current;
    m = align ? pt_align_ptr(p->d.last, PT_ALIGNMENT) : p->d.last;

    if (size <= pool->max && m <= p->d.end
        && (size_t) (p->d.end - m) >= size)
    {
        p->d.last = m + size;
        return m;
    }

    return pt_palloc_slow(pool, size, align);
}


static inline void *
pt_palloc(pt_pool_t *pool, size_t size)
{
    return pt_palloc_inline(pool, size, 1);
}


static inline void *
pt_pnalloc(pt_pool_t *pool, size_t size)
{
    return pt_palloc_inline(pool, size, 0);
}


static inline void *
pt_pcalloc(pt_pool_t *pool, size_t size)
{
    void  *p;

    p = pt_palloc_inline(pool, size, 1);
    if (p) {
        pt_memzero(p, size);
    }

    return p;
}

void *pt_pmemalign(pt_pool_t *pool, size_t size, size_t alignment);
pt_int_t pt_pfree(pt_pool_t *pool, void *p);

pt_pool_cleanup_t *pt_pool_cleanup_add(pt_pool_t *p, size_t size);

#endif /* PT_PALLOC_H */
