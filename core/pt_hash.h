#ifndef PT_HASH_H
#define PT_HASH_H

/*
 * Static hash tables built once at configuration time and then only read.
 * Keys are stored lowercase; lookups take a name already lowercased and
 * its hash from pt_hash_key() (or pt_hash_strlow(), which does both).
 *
 * The combined table answers server-name style lookups: exact names, then
 * the longest leading wildcard ("*.example.com", or ".example.com" which
 * also matches "example.com" itself), then the longest trailing wildcard
 * ("www.example.*").
 */

typedef struct {
    void        *value;
    u_short      len;
    u_char       name[1];   /* len bytes follow */
} pt_hash_elt_t;

typedef struct {
    pt_hash_elt_t  **buckets;
    pt_uint_t        size;
} pt_hash_t;

typedef struct {
    pt_str_t     key;
    pt_uint_t    key_hash;
    void        *value;
} pt_hash_key_t;

typedef struct {
    pt_hash_t    exact;
    pt_hash_t    wc_head;   /* "*.example.com" kept as "example.com" */
    pt_hash_t    wc_tail;   /* "www.example.*" kept as "www.example" */
    pt_hash_t    wc_dot;    /* ".example.com": "example.com" itself too */
} pt_hash_combined_t;

/* Collects the keys before the tables are built. */
typedef struct {
    pt_pool_t   *pool;
    pt_array_t   keys;          /* of pt_hash_key_t */
    pt_array_t   wc_head;
    pt_array_t   wc_tail;
    pt_array_t   wc_dot;
} pt_hash_keys_t;

#define PT_HASH_WILDCARD_KEY  1   /* the key may carry a wildcard */

/*
 * The hash of a key, eight octets at a time: each word is mixed in by an
 * exclusive or and a multiplication, and the high half folded into the low
 * at the end. 0 for the empty key and never 0 for any other (a header whose
 * hash is 0 is one that was removed). pt_hash_key_lc() hashes the key as
 * lowercased, pt_hash_strlow() lowercases it into dst and hashes that.
 */
#define PT_HASH_MUL  0x9e3779b97f4a7c15ULL

pt_uint_t pt_hash_key(const u_char *data, size_t len);
pt_uint_t pt_hash_key_lc(const u_char *data, size_t len);
pt_uint_t pt_hash_strlow(u_char *dst, const u_char *src, size_t n);

/* Builds an exact table from nelts keys; PT_ERROR on allocation failure. */
pt_int_t pt_hash_init(pt_hash_t *hash, pt_pool_t *pool, pt_hash_key_t *names,
    pt_uint_t nelts);
void *pt_hash_find(pt_hash_t *hash, pt_uint_t key, const u_char *name,
    size_t len);

pt_int_t pt_hash_keys_init(pt_hash_keys_t *ha, pt_pool_t *pool);
/*
 * Adds a key (copied, lowercased). Returns PT_OK, PT_BUSY when the same key
 * was added before, PT_DECLINED when a wildcard is malformed (a "*" not at
 * either end, "*" alone, or a wildcard without PT_HASH_WILDCARD_KEY).
 */
pt_int_t pt_hash_add_key(pt_hash_keys_t *ha, pt_str_t *key, void *value,
    pt_uint_t flags);
pt_int_t pt_hash_combined_init(pt_hash_combined_t *hash, pt_hash_keys_t *ha,
    pt_pool_t *pool);
/* name must be lowercase; key is pt_hash_key(name, len). */
void *pt_hash_find_combined(pt_hash_combined_t *hash, pt_uint_t key,
    const u_char *name, size_t len);

#endif /* PT_HASH_H */
