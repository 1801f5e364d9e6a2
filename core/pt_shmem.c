/*
 * Shared memory zones, robust process-shared mutexes, and the slab
 * allocator that carves a zone into small pieces.
 */
#include "pt_core.h"
#include <sys/mman.h>


pt_int_t
pt_shmtx_init(pt_shmtx_t *mtx)
{
    pthread_mutexattr_t  attr;

    if (pthread_mutexattr_init(&attr) != 0) {
        return PT_ERROR;
    }

    if (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0
        || pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0
        || pthread_mutex_init(&mtx->mutex, &attr) != 0)
    {
        (void) pthread_mutexattr_destroy(&attr);
        return PT_ERROR;
    }

    (void) pthread_mutexattr_destroy(&attr);

    return PT_OK;
}


pt_int_t
pt_shmtx_lock(pt_shmtx_t *mtx)
{
    int  err;

    err = pthread_mutex_lock(&mtx->mutex);

    if (err == 0) {
        return PT_OK;
    }

    if (err == EOWNERDEAD) {
        /* a worker died holding it: the lock is ours, the data suspect */
        (void) pthread_mutex_consistent(&mtx->mutex);
        return PT_DECLINED;
    }

    pt_log_error(PT_LOG_ALERT, pt_cycle ? pt_cycle->log : NULL, err,
                 "pthread_mutex_lock() failed");
    abort();
}


void
pt_shmtx_unlock(pt_shmtx_t *mtx)
{
    (void) pthread_mutex_unlock(&mtx->mutex);
}


/* the slab allocator: power-of-two classes with a header, free lists */

typedef struct {
    size_t       size;          /* of the piece, header excluded */
    uint32_t     magic;
    uint32_t     cls;           /* PT_SLAB_CLASSES for large pieces */
} pt_slab_header_t;

#define PT_SLAB_MAGIC  0x70746162   /* "ptab" */


void
pt_slab_init(pt_slab_pool_t *pool, size_t size)
{
    pt_uint_t  i;

    pool->start = pt_align_ptr((u_char *) pool + sizeof(pt_slab_pool_t),
                               PT_ALIGNMENT * 2);
    pool->end = (u_char *) pool + size;
    pool->next = pool->start;
    pool->used = 0;
    pool->failed = 0;
    pool->data = NULL;

    for (i = 0; i < PT_SLAB_CLASSES; i++) {
        pool->free[i] = NULL;
    }
}


static pt_uint_t
pt_slab_class(size_t size)
{
    pt_uint_t  cls;

    for (cls = 0; cls < PT_SLAB_CLASSES; cls++) {
        if (size <= ((size_t) 1 << (cls + PT_SLAB_MIN_SHIFT))) {
            return cls;
        }
    }

    return PT_SLAB_CLASSES;
}


void *
pt_slab_alloc_locked(pt_slab_pool_t *pool, size_t size)
{
    size_t             piece;
    pt_uint_t          cls;
    pt_slab_header_t  *h;

    cls = pt_slab_class(size);

    if (cls < PT_SLAB_CLASSES && pool->free[cls]) {
        h = pool->free[cls];
        pool->free[cls] = *(void **) (h + 1);
        h->magic = PT_SLAB_MAGIC;
        pool->used += h->size;
        return h + 1;
    }

    piece = (cls < PT_SLAB_CLASSES) ? ((size_t) 1 << (cls + PT_SLAB_MIN_SHIFT))
                                    : pt_align(size, 64);

    if ((size_t) (pool->end - pool->next) < sizeof(pt_slab_header_t) + piece)
    {
        pool->failed++;
        return NULL;
    }

    h = (pt_slab_header_t *) pool->next;
    pool->next += sizeof(pt_slab_header_t) + piece;

    h->size = piece;
    h->magic = PT_SLAB_MAGIC;
    h->cls = (uint32_t) cls;

    pool->used += piece;

    return h + 1;
}


void
pt_slab_free_locked(pt_slab_pool_t *pool, void *p)
{
    pt_slab_header_t  *h;

    h = (pt_slab_header_t *) p - 1;

    pt_assert((u_char *) h >= pool->start && (u_char *) h < pool->next);
    pt_assert(h->magic == PT_SLAB_MAGIC);

    h->magic = 0;
    pool->used -= h->size;

    if (h->cls < PT_SLAB_CLASSES) {
        *(void **) p = pool->free[h->cls];
        pool->free[h->cls] = h;
        return;
    }

    /*
     * Large pieces are rare (tables made at start); one at the top is
     * given back, others stay until the zone is made anew.
     */
    if ((u_char *) p + h->size == pool->next) {
        pool->next = (u_char *) h;
    }
}


void *
pt_slab_alloc(pt_slab_pool_t *pool, size_t size)
{
    void  *p;

    (void) pt_shmtx_lock(&pool->mutex);
    p = pt_slab_alloc_locked(pool, size);
    pt_shmtx_unlock(&pool->mutex);

    return p;
}


void *
pt_slab_calloc(pt_slab_pool_t *pool, size_t size)
{
    void  *p;

    p = pt_slab_alloc(pool, size);

    if (p) {
        pt_memzero(p, size);
    }

    return p;
}


void
pt_slab_free(pt_slab_pool_t *pool, void *p)
{
    (void) pt_shmtx_lock(&pool->mutex);
    pt_slab_free_locked(pool, p);
    pt_shmtx_unlock(&pool->mutex);
}


/* zones */

pt_shm_zone_t *
pt_shared_memory_add(pt_conf_t *cf, pt_str_t *name, size_t size, void *tag)
{
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_shm_zone_t   *zone;

    part = &cf->cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (!pt_str_eq(name, &zone[i].name)) {
            continue;
        }

        if (tag != zone[i].tag) {
            pt_conf_error(cf, "the shared memory zone \"%.*s\" is already "
                          "declared for a different use",
                          PT_STR_ARG(zone[i].name));
            return NULL;
        }

        if (zone[i].size == 0) {
            zone[i].size = size;
        }

        if (size && size != zone[i].size) {
            pt_conf_error(cf, "the size %lu of shared memory zone \"%.*s\" "
                          "conflicts with already declared size %lu",
                          (unsigned long) size, PT_STR_ARG(zone[i].name),
                          (unsigned long) zone[i].size);
            return NULL;
        }

        return &zone[i];
    }

    zone = pt_list_push(&cf->cycle->shared_memory);
    if (zone == NULL) {
        return NULL;
    }

    pt_memzero(zone, sizeof(pt_shm_zone_t));

    zone->name = *name;
    zone->size = size;
    zone->tag = tag;

    return zone;
}


static pt_shm_zone_t *
pt_shared_zone_find(pt_cycle_t *cycle, pt_shm_zone_t *like)
{
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_shm_zone_t   *zone;

    if (cycle == NULL || cycle->shared_memory.part.elts == NULL) {
        return NULL;
    }

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].addr && pt_str_eq(&zone[i].name, &like->name)
            && zone[i].size == like->size && zone[i].tag == like->tag
            && !like->noreuse)
        {
            return &zone[i];
        }
    }

    return NULL;
}


/*
 * Maps the cycle's zones, taking over those of the old cycle with the same
 * name, size and owner, and lets each owner initialise its zone.
 */
pt_int_t
pt_init_shared_zones(pt_cycle_t *cycle)
{
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_shm_zone_t   *zone, *old;
    pt_slab_pool_t  *sp;

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].size == 0) {
            pt_log_error(PT_LOG_EMERG, cycle->log, 0,
                         "zero size shared memory zone \"%.*s\"",
                         PT_STR_ARG(zone[i].name));
            return PT_ERROR;
        }

        old = pt_shared_zone_find(cycle->old_cycle, &zone[i]);

        if (old) {
            /* shared until this cycle is known to be good */
            zone[i].addr = old->addr;
            zone[i].reused = 1;

            if (zone[i].init && zone[i].init(&zone[i], old->data) != PT_OK) {
                return PT_ERROR;
            }

            continue;
        }

        zone[i].addr = mmap(NULL, zone[i].size, PROT_READ | PROT_WRITE,
                            MAP_ANONYMOUS | MAP_SHARED, -1, 0);

        if (zone[i].addr == MAP_FAILED) {
            zone[i].addr = NULL;
            pt_log_error(PT_LOG_EMERG, cycle->log, errno,
                         "mmap(MAP_ANONYMOUS|MAP_SHARED, %lu) failed for "
                         "zone \"%.*s\"", (unsigned long) zone[i].size,
                         PT_STR_ARG(zone[i].name));
            return PT_ERROR;
        }

        sp = (pt_slab_pool_t *) zone[i].addr;

        if (pt_shmtx_init(&sp->mutex) != PT_OK) {
            pt_log_error(PT_LOG_EMERG, cycle->log, 0,
                         "cannot create the mutex of zone \"%.*s\"",
                         PT_STR_ARG(zone[i].name));
            return PT_ERROR;
        }

        pt_slab_init(sp, zone[i].size);
        sp->log = cycle->log;

        if (zone[i].init && zone[i].init(&zone[i], NULL) != PT_OK) {
            return PT_ERROR;
        }
    }

    return PT_OK;
}


void
pt_free_shared_zones(pt_cycle_t *cycle)
{
    pt_uint_t        i;
    pt_list_part_t  *part;
    pt_shm_zone_t   *zone;

    if (cycle->shared_memory.part.elts == NULL) {
        return;
    }

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].addr && !zone[i].reused) {
            (void) munmap(zone[i].addr, zone[i].size);
        }

        zone[i].addr = NULL;
    }
}


/* The new cycle is in force: the zones it took over are no longer the old one's. */
void
pt_commit_shared_zones(pt_cycle_t *cycle)
{
    pt_uint_t        i, j;
    pt_list_part_t  *part, *opart;
    pt_shm_zone_t   *zone, *ozone;

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (!zone[i].reused) {
            continue;
        }

        zone[i].reused = 0;

        if (cycle->old_cycle == NULL) {
            continue;
        }

        opart = &cycle->old_cycle->shared_memory.part;
        ozone = opart->elts;

        for (j = 0; /* void */ ; j++) {

            if (j >= opart->nelts) {
                if (opart->next == NULL) {
                    break;
                }
                opart = opart->next;
                ozone = opart->elts;
                j = 0;
            }

            if (ozone[j].addr == zone[i].addr) {
                ozone[j].addr = NULL;
            }
        }
    }
}
