#ifndef PT_BUF_H
#define PT_BUF_H

/*
 * A buffer is a memory range [pos, last) inside [start, end), or a file
 * range [file_pos, file_last) of file, or a bare marker (flush, last_buf).
 * Chains of them carry bodies through the filters without copying.
 */
typedef void *pt_buf_tag_t;

struct pt_buf_s {
    u_char          *pos;
    u_char          *last;
    off_t            file_pos;
    off_t            file_last;

    u_char          *start;         /* of the memory block */
    u_char          *end;
    pt_buf_tag_t     tag;           /* which module owns it, for recycling */
    pt_file_t       *file;
    pt_buf_t        *shadow;

    unsigned         temporary:1;   /* memory we may change */
    unsigned         memory:1;      /* read-only memory */
    unsigned         mmap:1;
    unsigned         recycled:1;
    unsigned         in_file:1;
    unsigned         flush:1;
    unsigned         sync:1;
    unsigned         last_buf:1;    /* the end of the whole response */
    unsigned         last_in_chain:1;
    unsigned         temp_file:1;
};

struct pt_chain_s {
    pt_buf_t        *buf;
    pt_chain_t      *next;
};

typedef struct {
    pt_int_t         num;
    size_t           size;
} pt_bufs_t;

#define pt_buf_in_memory(b)      ((b)->temporary || (b)->memory || (b)->mmap)
#define pt_buf_in_memory_only(b) (pt_buf_in_memory(b) && !(b)->in_file)
#define pt_buf_special(b)                                                    \
    (((b)->flush || (b)->last_buf || (b)->sync) && !pt_buf_in_memory(b)      \
     && !(b)->in_file)
#define pt_buf_size(b)                                                       \
    (pt_buf_in_memory(b) ? (off_t) ((b)->last - (b)->pos)                    \
                         : ((b)->file_last - (b)->file_pos))

#define pt_calloc_buf(pool)      pt_pcalloc(pool, sizeof(pt_buf_t))

pt_buf_t *pt_create_temp_buf(pt_pool_t *pool, size_t size);
pt_chain_t *pt_alloc_chain_link(pt_pool_t *pool);
#define pt_free_chain(pool, cl)                                              \
    (cl)->next = (pool)->chain;                                              \
    (pool)->chain = (cl)

/* Appends copies of the links of in to *chain (buffers are shared). */
pt_int_t pt_chain_add_copy(pt_pool_t *pool, pt_chain_t **chain,
    pt_chain_t *in);
/* Takes a free link from *free or allocates one, with a zeroed buffer. */
pt_chain_t *pt_chain_get_free_buf(pt_pool_t *p, pt_chain_t **free);
/*
 * Moves *out to the end of *busy, then moves fully consumed buffers carrying
 * tag from the head of *busy to *free (others are dropped).
 */
void pt_chain_update_chains(pt_pool_t *p, pt_chain_t **free,
    pt_chain_t **busy, pt_chain_t **out, pt_buf_tag_t tag);
off_t pt_chain_size(pt_chain_t *in);

#endif /* PT_BUF_H */
