/*
 * Memory pools: a list of blocks carved from the front, a list of large
 * allocations that go straight to malloc, and a list of cleanups.
 *
 * The first block starts with the pt_pool_t header; later blocks only with
 * pt_pool_data_t. Every block has the size of the first. A block that has
 * failed to serve a request more than four times is skipped afterwards, so
 * a long-lived pool does not scan a growing list of nearly full blocks.
 */
#include "pt_core.h"

#include <sys/mman.h>


#define PT_POOL_FAILED_MAX     4
#define PT_POOL_LARGE_SCAN     3    /* free large slots looked at for reuse */

/*
 * Small pools (a connection's, 256 bytes by default) live a long time, as
 * long as a keep-alive connection, while request pools come and go. Taken
 * from the malloc heap, each small pool would pin the heap around it, so
 * that the memory of finished requests could never be given back, and
 * each would pay malloc's own header. Their blocks come instead from runs
 * of 64 KiB mapped for them alone, per size class of 64 bytes, and go back
 * to a free list of their class: this process's, never shared.
 */
#if defined(__SANITIZE_ADDRESS__)
#define PT_POOL_SMALL_MAX      0    /* malloc, so ASan sees every block */
#define PT_BLOCK_CACHE_DEPTH   0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PT_POOL_SMALL_MAX      0
#define PT_BLOCK_CACHE_DEPTH   0
#endif
#endif

#ifndef PT_POOL_SMALL_MAX
#define PT_POOL_SMALL_MAX      512
#endif

/*
 * The block cache: PT_BLOCK_CACHE_SIZES classes of one block size each,
 * a class being claimed by the first block of its size freed while a class
 * is unclaimed, and only in a process that serves requests (the master's
 * sizes are those of reading the configuration). A class owns a run of
 * PT_BLOCK_CACHE_DEPTH blocks, mapped for it alone when claimed and
 * touched only as used; its blocks are handed out first, and malloc serves
 * only when all of them are in use.
 *
 * Blocks from malloc that come back are kept as spares of their class, so
 * that a load with more requests in flight than the run holds does not
 * have malloc give the top of the heap back to the system and fault it in
 * again many times a second. Spares decay: pt_block_cache_decay(), run
 * every PT_BLOCK_DECAY_MSEC by the event loop while there are any, frees
 * as many as were never needed since its last run, so a peak's memory goes
 * back to malloc (and the heap shrinks) within two periods of its end.
 */
#ifndef PT_BLOCK_CACHE_DEPTH
#define PT_BLOCK_CACHE_DEPTH   16
#endif
#define PT_BLOCK_CACHE_SIZES   4
#define PT_BLOCK_CACHE_MAX     (64 * 1024)

#define PT_BLOCK_SPARE_MAX     (8 * 1024 * 1024)  /* bytes a class keeps */

typedef struct {
    size_t               size;      /* 0: unclaimed */
    void                *free;      /* linked through the first word */
    u_char              *start;     /* the class's own blocks */
    u_char              *next;      /* never used yet */
    u_char              *end;
    void                *spare;     /* blocks from malloc, linked */
    pt_uint_t            nspare;
    pt_uint_t            low;       /* fewest spares since the last decay */
} pt_block_cache_t;

static pt_uint_t         pt_block_nspare;   /* over all classes */

static pt_uint_t         pt_block_cache_on;
static pt_block_cache_t  pt_block_cache[PT_BLOCK_CACHE_SIZES];
#define PT_POOL_SMALL_STEP     64
#define PT_POOL_SMALL_RUN      (64 * 1024)
#define PT_POOL_SMALL_CLASSES  (512 / PT_POOL_SMALL_STEP)

typedef struct {
    void                *free;      /* blocks given back, linked */
    u_char              *next;      /* never used yet in the run */
    u_char              *end;
} pt_pool_small_class_t;

static pt_pool_small_class_t  pt_pool_small[PT_POOL_SMALL_CLASSES + 1];


static void pt_block_cache_claim(pt_block_cache_t *bc, size_t size);
static void *pt_palloc_small(pt_pool_t *pool, size_t size, pt_uint_t align);
static void *pt_palloc_block(pt_pool_t *pool, size_t size);
static void *pt_palloc_large(pt_pool_t *pool, size_t size);
static pt_int_t pt_pool_add_large(pt_pool_t *pool, void *p, size_t size);
static void pt_pool_free_block(pt_pool_large_t *l);
static void pt_pool_free_large(pt_pool_t *pool);
static void pt_pool_run_cleanups(pt_pool_t *pool);
static void *pt_pool_small_alloc(size_t size, pt_log_t *log);


void *
pt_alloc(size_t size, pt_log_t *log)
{
    void  *p;

    p = malloc(size);
    if (p == NULL && log) {
        pt_log_error(PT_LOG_EMERG, log, errno, "malloc(%zu) failed", size);
    }

    return p;
}


void *
pt_calloc(size_t size, pt_log_t *log)
{
    void  *p;

    p = pt_alloc(size, log);
    if (p) {
        pt_memzero(p, size);
    }

    return p;
}


void
pt_block_cache_enable(void)
{
    pt_block_cache_on = (PT_BLOCK_CACHE_DEPTH > 0);
}


void *
pt_block_alloc(size_t size, pt_log_t *log)
{
    int                err;
    void              *m;
    pt_uint_t          i;
    pt_block_cache_t  *bc;

    for (i = 0; i < PT_BLOCK_CACHE_SIZES; i++) {
        bc = &pt_block_cache[i];

        if (bc->size != size) {
            continue;
        }

        if (bc->free) {
            m = bc->free;
            bc->free = *(void **) m;
            return m;
        }

        if (bc->next < bc->end) {
            m = bc->next;
            bc->next += pt_align(size, PT_POOL_ALIGNMENT);
            return m;
        }

        if (bc->spare) {
            m = bc->spare;
            bc->spare = *(void **) m;
            bc->nspare--;
            pt_block_nspare--;

            if (bc->nspare < bc->low) {
                bc->low = bc->nspare;
            }

            return m;
        }

        break;
    }

    err = posix_memalign(&m, PT_POOL_ALIGNMENT, size);
    if (err != 0) {
        if (log) {
            pt_log_error(PT_LOG_EMERG, log, err,
                         "posix_memalign(%d, %zu) failed",
                         PT_POOL_ALIGNMENT, size);
        }

        errno = err;
        return NULL;
    }

    return m;
}


void
pt_block_free(void *p, size_t size)
{
    pt_uint_t          i;
    pt_block_cache_t  *bc, *unclaimed;

    unclaimed = NULL;

    for (i = 0; i < PT_BLOCK_CACHE_SIZES; i++) {
        bc = &pt_block_cache[i];

        if (bc->size == size) {
            if ((u_char *) p >= bc->start && (u_char *) p < bc->end) {
                *(void **) p = bc->free;
                bc->free = p;
                return;
            }

            if ((bc->nspare + 1) * size > PT_BLOCK_SPARE_MAX) {
                free(p);
                return;
            }

            *(void **) p = bc->spare;
            bc->spare = p;
            bc->nspare++;
            pt_block_nspare++;
            return;
        }

        if (bc->size == 0 && unclaimed == NULL) {
            unclaimed = bc;
        }
    }

    if (unclaimed && pt_block_cache_on && size <= PT_BLOCK_CACHE_MAX) {
        pt_block_cache_claim(unclaimed, size);
    }

    free(p);
}


/* Frees the spares no allocation needed since the last call. */
void
pt_block_cache_decay(void)
{
    void              *m;
    pt_uint_t          i, n;
    pt_block_cache_t  *bc;

    for (i = 0; i < PT_BLOCK_CACHE_SIZES; i++) {
        bc = &pt_block_cache[i];

        for (n = bc->low; n && bc->spare; n--) {
            m = bc->spare;
            bc->spare = *(void **) m;
            bc->nspare--;
            pt_block_nspare--;
            free(m);
        }

        bc->low = bc->nspare;
    }
}


pt_uint_t
pt_block_cache_spares(void)
{
    return pt_block_nspare;
}


/*
 * Maps the run of a class for blocks of size; on failure the class stays
 * unclaimed and the size is served by malloc.
 */
static void
pt_block_cache_claim(pt_block_cache_t *bc, size_t size)
{
    size_t   len;
    u_char  *m;

    len = pt_align(size, PT_POOL_ALIGNMENT) * PT_BLOCK_CACHE_DEPTH;

    m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);

    if (m == MAP_FAILED) {
        return;
    }

    bc->size = size;
    bc->free = NULL;
    bc->start = m;
    bc->next = m;
    bc->end = m + len;
}


/*
 * Creates a pool whose blocks are size bytes (at least the header plus a
 * little room); returns NULL on failure. log is kept for later errors and
 * may be NULL.
 */
pt_pool_t *
pt_create_pool(size_t size, pt_log_t *log)
{
    void       *m;
    pt_pool_t  *p;

    if (size < sizeof(pt_pool_t) + PT_POOL_ALIGNMENT) {
        size = sizeof(pt_pool_t) + PT_POOL_ALIGNMENT;
    }

    if (size <= PT_POOL_SMALL_MAX) {
        size = pt_align(size, PT_POOL_SMALL_STEP);

        m = pt_pool_small_alloc(size, log);
        if (m == NULL) {
            return NULL;
        }

    } else {
        m = pt_block_alloc(size, log);
        if (m == NULL) {
            return NULL;
        }
    }

    p = m;

    p->d.last = (u_char *) p + sizeof(pt_pool_t);
    p->d.end = (u_char *) p + size;
    p->d.next = NULL;
    p->d.failed = 0;

    p->max = pt_min(size - sizeof(pt_pool_t), PT_MAX_ALLOC_FROM_POOL);

    p->current = p;
    p->large = NULL;
    p->chain = NULL;
    p->cleanup = NULL;
    p->log = log;

    return p;
}


/* Runs the cleanups (last registered first), then frees all memory. */
void
pt_destroy_pool(pt_pool_t *pool)
{
    size_t                  size;
    pt_pool_t              *p, *n;
    pt_pool_small_class_t  *cls;

    pt_pool_run_cleanups(pool);
    pt_pool_free_large(pool);

    size = (size_t) (pool->d.end - (u_char *) pool);

    if (size > PT_POOL_SMALL_MAX) {
        for (p = pool->d.next; p; p = n) {
            n = p->d.next;
            pt_block_free(p, size);
        }

        pt_block_free(pool, size);
        return;
    }

    cls = &pt_pool_small[size / PT_POOL_SMALL_STEP];

    for (p = pool; p; p = n) {
        n = p->d.next;
        *(void **) p = cls->free;
        cls->free = p;
    }
}


/* A first block of a small pool, of size (a multiple of the step). */
static void *
pt_pool_small_alloc(size_t size, pt_log_t *log)
{
    void                   *m;
    pt_pool_small_class_t  *cls;

    cls = &pt_pool_small[size / PT_POOL_SMALL_STEP];

    if (cls->free) {
        m = cls->free;
        cls->free = *(void **) m;
        return m;
    }

    if ((size_t) (cls->end - cls->next) < size) {
        m = mmap(NULL, PT_POOL_SMALL_RUN, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (m == MAP_FAILED) {
            if (log) {
                pt_log_error(PT_LOG_EMERG, log, errno,
                             "mmap(%d) failed for small pools",
                             PT_POOL_SMALL_RUN);
            }

            return NULL;
        }

        /* the rest of the old run, if any, is left unused */
        cls->next = m;
        cls->end = (u_char *) m + PT_POOL_SMALL_RUN;
    }

    m = cls->next;
    cls->next += size;

    return m;
}


/*
 * Makes the pool empty again but keeps its blocks: large allocations are
 * freed and every block is rewound. The cleanups run first, because their
 * records live in the memory being rewound and the resources they guard
 * belong to what was allocated.
 */
void
pt_reset_pool(pt_pool_t *pool)
{
    pt_pool_t  *p;

    pt_pool_run_cleanups(pool);
    pt_pool_free_large(pool);

    pool->d.last = (u_char *) pool + sizeof(pt_pool_t);
    pool->d.failed = 0;

    for (p = pool->d.next; p; p = p->d.next) {
        p->d.last = (u_char *) p + sizeof(pt_pool_data_t);
        p->d.failed = 0;
    }

    pool->current = pool;
    pool->large = NULL;
    pool->chain = NULL;
    pool->cleanup = NULL;
}


/* pt_palloc() and its kin when the current block has no room */
void *
pt_palloc_slow(pt_pool_t *pool, size_t size, pt_uint_t align)
{
    if (size <= pool->max) {
        return pt_palloc_small(pool, size, align);
    }

    return pt_palloc_large(pool, size);
}


/*
 * Allocates size bytes aligned to alignment (a power of two) as a large
 * allocation, so pt_pfree() can release it early. Returns NULL on failure,
 * with errno EINVAL when alignment is not a power of two.
 */
void *
pt_pmemalign(pt_pool_t *pool, size_t size, size_t alignment)
{
    int    err;
    void  *p;

    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }

    if (alignment < sizeof(void *)) {
        alignment = sizeof(void *);
    }

    err = posix_memalign(&p, alignment, size);
    if (err != 0) {
        if (pool->log) {
            pt_log_error(PT_LOG_EMERG, pool->log, err,
                         "posix_memalign(%zu, %zu) failed", alignment, size);
        }

        errno = err;
        return NULL;
    }

    if (pt_pool_add_large(pool, p, 0) != PT_OK) {
        free(p);
        return NULL;
    }

    return p;
}


/*
 * Frees p early if it is one of the pool's large allocations and returns
 * PT_OK; returns PT_DECLINED (and does nothing) for any other pointer.
 */
pt_int_t
pt_pfree(pt_pool_t *pool, void *p)
{
    pt_pool_large_t  *l;

    for (l = pool->large; l; l = l->next) {
        if (p == l->alloc) {
            pt_pool_free_block(l);

            return PT_OK;
        }
    }

    return PT_DECLINED;
}


/*
 * Registers a cleanup; the caller sets c->handler (and fills c->data, which
 * points to size bytes of pool memory, or is NULL when size is 0). A NULL
 * handler is skipped. Returns NULL on failure.
 */
pt_pool_cleanup_t *
pt_pool_cleanup_add(pt_pool_t *p, size_t size)
{
    pt_pool_cleanup_t  *c;

    c = pt_palloc(p, sizeof(pt_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }

    if (size) {
        c->data = pt_palloc(p, size);
        if (c->data == NULL) {
            return NULL;
        }

    } else {
        c->data = NULL;
    }

    c->handler = NULL;
    c->next = p->cleanup;

    p->cleanup = c;

    return c;
}


static void *
pt_palloc_small(pt_pool_t *pool, size_t size, pt_uint_t align)
{
    u_char     *m;
    pt_pool_t  *p;

    p = pool->current;

    do {
        m = p->d.last;

        if (align) {
            m = pt_align_ptr(m, PT_ALIGNMENT);
        }

        /* aligning may step past the end of a nearly full block */
        if (m <= p->d.end && (size_t) (p->d.end - m) >= size) {
            p->d.last = m + size;

            return m;
        }

        p = p->d.next;

    } while (p);

    return pt_palloc_block(pool, size);
}


/* Adds a block of the first block's size and serves size bytes from it. */
static void *
pt_palloc_block(pt_pool_t *pool, size_t size)
{
    void       *mem;
    size_t      psize;
    u_char     *m;
    pt_pool_t  *p, *block;

    psize = (size_t) (pool->d.end - (u_char *) pool);

    /* a small pool lives long: all its blocks stay out of the heap */
    if (psize <= PT_POOL_SMALL_MAX) {
        mem = pt_pool_small_alloc(psize, pool->log);

    } else {
        mem = pt_block_alloc(psize, pool->log);
    }

    if (mem == NULL) {
        return NULL;
    }

    block = mem;

    block->d.end = (u_char *) mem + psize;
    block->d.next = NULL;
    block->d.failed = 0;

    /*
     * size <= pool->max <= psize - sizeof(pt_pool_t), so the request fits
     * after the smaller pt_pool_data_t header even once aligned.
     */
    m = (u_char *) mem + sizeof(pt_pool_data_t);
    m = pt_align_ptr(m, PT_ALIGNMENT);
    block->d.last = m + size;

    for (p = pool->current; p->d.next; p = p->d.next) {
        if (p->d.failed++ > PT_POOL_FAILED_MAX) {
            pool->current = p->d.next;
        }
    }

    p->d.next = block;

    return m;
}


static void *
pt_palloc_large(pt_pool_t *pool, size_t size)
{
    void  *p;

    p = pt_block_alloc(size, pool->log);
    if (p == NULL) {
        return NULL;
    }

    if (pt_pool_add_large(pool, p, size) != PT_OK) {
        pt_block_free(p, size);
        return NULL;
    }

    return p;
}


/*
 * Records p in the large list, reusing a slot freed by pt_pfree(); size is
 * its size when it came from pt_block_alloc(), else 0.
 */
static pt_int_t
pt_pool_add_large(pt_pool_t *pool, void *p, size_t size)
{
    pt_uint_t         n;
    pt_pool_large_t  *large;

    n = 0;

    for (large = pool->large; large; large = large->next) {
        if (large->alloc == NULL) {
            large->alloc = p;
            large->size = size;
            return PT_OK;
        }

        if (n++ > PT_POOL_LARGE_SCAN) {
            break;
        }
    }

    large = pt_palloc_small(pool, sizeof(pt_pool_large_t), 1);
    if (large == NULL) {
        return PT_ERROR;
    }

    large->alloc = p;
    large->size = size;
    large->next = pool->large;
    pool->large = large;

    return PT_OK;
}


static void
pt_pool_free_block(pt_pool_large_t *l)
{
    if (l->size) {
        pt_block_free(l->alloc, l->size);

    } else {
        free(l->alloc);
    }

    l->alloc = NULL;
}


static void
pt_pool_free_large(pt_pool_t *pool)
{
    pt_pool_large_t  *l;

    for (l = pool->large; l; l = l->next) {
        if (l->alloc) {
            pt_pool_free_block(l);
        }
    }
}


static void
pt_pool_run_cleanups(pt_pool_t *pool)
{
    pt_pool_cleanup_t  *c;

    /* a handler may not add cleanups to the pool it is cleaning */
    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }

    pool->cleanup = NULL;
}
