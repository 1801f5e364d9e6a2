#ifndef PT_SHMEM_H
#define PT_SHMEM_H

/*
 * Shared memory zones: anonymous MAP_SHARED mappings made by the master
 * before it forks, so every worker sees the same bytes at the same
 * address. A zone starts with a slab pool: a process-shared robust mutex
 * and a simple allocator of small pieces.
 */

#include <pthread.h>

/* A lock that survives the death of a process holding it. */
typedef struct {
    pthread_mutex_t   mutex;
} pt_shmtx_t;

pt_int_t pt_shmtx_init(pt_shmtx_t *mtx);
/*
 * Takes the lock. When its previous holder died while holding it, the
 * lock is made consistent and PT_DECLINED is returned (the caller should
 * treat the data it guards as possibly half-updated); PT_OK otherwise.
 */
pt_int_t pt_shmtx_lock(pt_shmtx_t *mtx);
void pt_shmtx_unlock(pt_shmtx_t *mtx);

typedef struct pt_slab_page_s  pt_slab_page_t;

struct pt_slab_page_s {
    pt_slab_page_t   *next;         /* free list of pieces */
};

#define PT_SLAB_MIN_SHIFT   4       /* 16 bytes */
#define PT_SLAB_MAX_SHIFT   12      /* 4 KiB */
#define PT_SLAB_CLASSES     (PT_SLAB_MAX_SHIFT - PT_SLAB_MIN_SHIFT + 1)

typedef struct {
    pt_shmtx_t        mutex;
    u_char           *start;        /* of the allocatable area */
    u_char           *end;
    u_char           *next;         /* never-used memory starts here */
    void             *free[PT_SLAB_CLASSES];    /* freed pieces by size */
    size_t            used;
    pt_uint_t         failed;       /* allocations refused: zone full */
    void             *data;         /* for the zone's owner */
    pt_log_t         *log;
} pt_slab_pool_t;

void pt_slab_init(pt_slab_pool_t *pool, size_t size);
/* Allocate with the lock held by the caller (the _locked variants). */
void *pt_slab_alloc_locked(pt_slab_pool_t *pool, size_t size);
void pt_slab_free_locked(pt_slab_pool_t *pool, void *p);
void *pt_slab_alloc(pt_slab_pool_t *pool, size_t size);
void *pt_slab_calloc(pt_slab_pool_t *pool, size_t size);
void pt_slab_free(pt_slab_pool_t *pool, void *p);

typedef struct pt_shm_zone_s  pt_shm_zone_t;

typedef pt_int_t (*pt_shm_zone_init_pt)(pt_shm_zone_t *zone, void *data);

struct pt_shm_zone_s {
    pt_str_t              name;
    size_t                size;
    u_char               *addr;     /* the mapping; a pt_slab_pool_t */
    void                 *tag;      /* which module owns the zone */
    void                 *data;     /* the owner's configuration */
    pt_shm_zone_init_pt   init;     /* called with the old zone's data */
    unsigned              noreuse:1;
    unsigned              reused:1; /* taken from the old cycle, pending */
};

/*
 * Declares a zone in the configuration being read: the same name with a
 * different size or owner is an error; the mapping is made by
 * pt_init_cycle, reusing the old cycle's zone of the same name, size and
 * owner, so its contents survive a reload.
 */
pt_shm_zone_t *pt_shared_memory_add(pt_conf_t *cf, pt_str_t *name,
    size_t size, void *tag);
pt_int_t pt_init_shared_zones(pt_cycle_t *cycle);
void pt_commit_shared_zones(pt_cycle_t *cycle);
void pt_free_shared_zones(pt_cycle_t *cycle);

#define PT_SHM_MIN_SIZE   (8 * 4096)

#endif /* PT_SHMEM_H */
