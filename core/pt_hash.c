/*
 * Static hash tables. A table is an array of buckets; each bucket points to
 * a contiguous run of pt_hash_elt_t records (each padded to pointer
 * alignment) ended by a record whose value is NULL, so a lookup touches
 * one small piece of memory.
 *
 * Wildcard names are kept in ordinary exact tables under their fixed part
 * ("*.example.com" as "example.com" in wc_head); the combined lookup tries
 * the suffixes or prefixes of the name, longest first.
 */
#include "pt_core.h"


#define PT_HASH_MAX_BUCKETS   (1024 * 1024)
#define PT_HASH_KEYS_PREALLOC 16

#define pt_hash_elt_size(len)                                                \
    pt_align(offsetof(pt_hash_elt_t, name) + (len), sizeof(void *))

#define pt_hash_elt_next(elt)                                                \
    (pt_hash_elt_t *) ((u_char *) (elt) + pt_hash_elt_size((elt)->len))


static pt_uint_t pt_hash_bucket_count(pt_uint_t nelts);
static pt_int_t pt_hash_add_to(pt_hash_keys_t *ha, pt_array_t *keys,
    const u_char *data, size_t len, void *value);


static uint64_t
pt_hash_final(uint64_t h, size_t len)
{
    h ^= h >> 32;

    /* 0 is left to the empty key */
    return (h == 0 && len) ? 1 : h;
}


pt_uint_t
pt_hash_key(const u_char *data, size_t len)
{
    size_t    n;
    uint64_t  h, w;

    if (len == 0) {
        return 0;
    }

    h = len;

    for (n = len; n >= 8; n -= 8, data += 8) {
        pt_memcpy(&w, data, 8);
        h = (h ^ w) * PT_HASH_MUL;
    }

    if (n) {
        w = 0;
        pt_memcpy(&w, data, n);
        h = (h ^ w) * PT_HASH_MUL;
    }

    return (pt_uint_t) pt_hash_final(h, len);
}


pt_uint_t
pt_hash_key_lc(const u_char *data, size_t len)
{
    u_char    lc[8];
    size_t    n, i, k;
    uint64_t  h, w;

    if (len == 0) {
        return 0;
    }

    h = len;

    for (n = len; n; n -= k, data += k) {
        k = pt_min(n, 8);

        for (i = 0; i < k; i++) {
            lc[i] = pt_tolower(data[i]);
        }

        w = 0;
        pt_memcpy(&w, lc, k);
        h = (h ^ w) * PT_HASH_MUL;
    }

    return (pt_uint_t) pt_hash_final(h, len);
}


/* Lowercases n bytes of src into dst (which may be src); returns the hash. */
pt_uint_t
pt_hash_strlow(u_char *dst, const u_char *src, size_t n)
{
    pt_strlow(dst, src, n);

    return pt_hash_key(dst, n);
}


/*
 * Builds hash from names[0 .. nelts - 1], whose key_hash must be the hash
 * of the lowercased key. Names are stored lowercased. A name with a NULL
 * value is left out (a lookup could not tell it from a miss), and so are
 * names longer than 65535 bytes. With no names the table is empty and
 * every lookup misses.
 */
pt_int_t
pt_hash_init(pt_hash_t *hash, pt_pool_t *pool, pt_hash_key_t *names,
    pt_uint_t nelts)
{
    size_t          *room, total;
    u_char          *elts;
    pt_uint_t        i, n, size, b;
    pt_hash_elt_t   *elt, **buckets;

    hash->buckets = NULL;
    hash->size = 0;

    n = 0;

    for (i = 0; i < nelts; i++) {
        if (names[i].value && names[i].key.len <= USHRT_MAX) {
            n++;
        }
    }

    if (n == 0) {
        return PT_OK;
    }

    size = pt_hash_bucket_count(n);

    room = pt_calloc(size * sizeof(size_t), pool->log);
    if (room == NULL) {
        goto failed;
    }

    /* the room each bucket needs: its records and the end marker */

    for (i = 0; i < nelts; i++) {
        if (names[i].value == NULL || names[i].key.len > USHRT_MAX) {
            continue;
        }

        b = names[i].key_hash % size;

        if (room[b] == 0) {
            room[b] = sizeof(void *);
        }

        room[b] += pt_hash_elt_size(names[i].key.len);
    }

    total = 0;

    for (b = 0; b < size; b++) {
        total += room[b];
    }

    buckets = pt_pcalloc(pool, size * sizeof(pt_hash_elt_t *));
    if (buckets == NULL) {
        goto failed;
    }

    elts = pt_palloc(pool, total);
    if (elts == NULL) {
        goto failed;
    }

    /* room[b] becomes the offset at which bucket b is filled next */

    for (b = 0; b < size; b++) {
        if (room[b] == 0) {
            continue;
        }

        buckets[b] = (pt_hash_elt_t *) elts;
        elts += room[b];
        room[b] = 0;
    }

    for (i = 0; i < nelts; i++) {
        if (names[i].value == NULL || names[i].key.len > USHRT_MAX) {
            continue;
        }

        b = names[i].key_hash % size;

        elt = (pt_hash_elt_t *) ((u_char *) buckets[b] + room[b]);

        elt->value = names[i].value;
        elt->len = (u_short) names[i].key.len;
        pt_strlow(elt->name, names[i].key.data, names[i].key.len);

        room[b] += pt_hash_elt_size(names[i].key.len);
    }

    for (b = 0; b < size; b++) {
        if (buckets[b] == NULL) {
            continue;
        }

        elt = (pt_hash_elt_t *) ((u_char *) buckets[b] + room[b]);
        elt->value = NULL;
    }

    free(room);

    hash->buckets = buckets;
    hash->size = size;

    return PT_OK;

failed:

    free(room);

    return PT_ERROR;
}


void *
pt_hash_find(pt_hash_t *hash, pt_uint_t key, const u_char *name, size_t len)
{
    pt_hash_elt_t  *elt;

    if (hash->size == 0) {
        return NULL;
    }

    elt = hash->buckets[key % hash->size];

    if (elt == NULL) {
        return NULL;
    }

    while (elt->value) {
        if (len == (size_t) elt->len && memcmp(name, elt->name, len) == 0) {
            return elt->value;
        }

        elt = pt_hash_elt_next(elt);
    }

    return NULL;
}


pt_int_t
pt_hash_keys_init(pt_hash_keys_t *ha, pt_pool_t *pool)
{
    ha->pool = pool;

    if (pt_array_init(&ha->keys, pool, PT_HASH_KEYS_PREALLOC,
                      sizeof(pt_hash_key_t))
        != PT_OK)
    {
        return PT_ERROR;
    }

    if (pt_array_init(&ha->wc_head, pool, PT_HASH_KEYS_PREALLOC,
                      sizeof(pt_hash_key_t))
        != PT_OK)
    {
        return PT_ERROR;
    }

    if (pt_array_init(&ha->wc_tail, pool, PT_HASH_KEYS_PREALLOC,
                      sizeof(pt_hash_key_t))
        != PT_OK)
    {
        return PT_ERROR;
    }

    if (pt_array_init(&ha->wc_dot, pool, PT_HASH_KEYS_PREALLOC,
                      sizeof(pt_hash_key_t))
        != PT_OK)
    {
        return PT_ERROR;
    }

    return PT_OK;
}


/*
 * With PT_HASH_WILDCARD_KEY the accepted forms are "*.example.com" (into
 * wc_head as "example.com"), ".example.com" (into wc_dot as "example.com")
 * and "www.example.*" (into wc_tail as "www.example"). Besides a misplaced
 * "*", a wildcard key is refused when its fixed part is empty, holds an
 * empty label ("..") or a NUL byte. Returns PT_ERROR when out of memory.
 */
pt_int_t
pt_hash_add_key(pt_hash_keys_t *ha, pt_str_t *key, void *value,
    pt_uint_t flags)
{
    size_t        i, len, stars;
    u_char       *data;
    pt_array_t   *keys;

    data = key->data;
    len = key->len;

    stars = 0;

    for (i = 0; i < len; i++) {
        if (data[i] == '*') {
            stars++;
        }
    }

    if (!(flags & PT_HASH_WILDCARD_KEY)) {
        if (stars) {
            return PT_DECLINED;
        }

        return pt_hash_add_to(ha, &ha->keys, data, len, value);
    }

    if (stars > 1) {
        return PT_DECLINED;
    }

    if (stars == 0 && (len == 0 || data[0] != '.')) {
        return pt_hash_add_to(ha, &ha->keys, data, len, value);
    }

    if (len > 2 && data[0] == '*' && data[1] == '.') {
        keys = &ha->wc_head;
        data += 2;
        len -= 2;

    } else if (len > 2 && data[len - 1] == '*' && data[len - 2] == '.') {
        keys = &ha->wc_tail;
        len -= 2;

    } else if (stars == 0 && len > 1) {
        /* ".example.com" */
        keys = &ha->wc_dot;
        data += 1;
        len -= 1;

    } else {
        return PT_DECLINED;
    }

    /* the fixed part: no "*" left, no empty label, no NUL */

    if (data[0] == '.' || data[len - 1] == '.') {
        return PT_DECLINED;
    }

    for (i = 0; i < len; i++) {
        if (data[i] == '*' || data[i] == '\0') {
            return PT_DECLINED;
        }

        if (data[i] == '.' && data[i + 1] == '.') {
            return PT_DECLINED;
        }
    }

    return pt_hash_add_to(ha, keys, data, len, value);
}


pt_int_t
pt_hash_combined_init(pt_hash_combined_t *hash, pt_hash_keys_t *ha,
    pt_pool_t *pool)
{
    pt_memzero(hash, sizeof(pt_hash_combined_t));

    if (pt_hash_init(&hash->exact, pool, ha->keys.elts, ha->keys.nelts)
        != PT_OK)
    {
        return PT_ERROR;
    }

    if (pt_hash_init(&hash->wc_head, pool, ha->wc_head.elts,
                     ha->wc_head.nelts)
        != PT_OK)
    {
        return PT_ERROR;
    }

    if (pt_hash_init(&hash->wc_tail, pool, ha->wc_tail.elts,
                     ha->wc_tail.nelts)
        != PT_OK)
    {
        return PT_ERROR;
    }

    if (pt_hash_init(&hash->wc_dot, pool, ha->wc_dot.elts, ha->wc_dot.nelts)
        != PT_OK)
    {
        return PT_ERROR;
    }

    return PT_OK;
}


/*
 * Exact match first; then the whole name in wc_dot; then, for each suffix
 * after a dot from the longest, wc_head and wc_dot (so "*.example.com" and
 * ".example.com" both match "a.b.example.com", and the longer fixed part
 * wins); then, for each prefix before a dot from the longest, wc_tail.
 * A wildcard always stands for at least one non-empty label.
 */
void *
pt_hash_find_combined(pt_hash_combined_t *hash, pt_uint_t key,
    const u_char *name, size_t len)
{
    void          *value;
    size_t         i, n;
    const u_char  *s;

    value = pt_hash_find(&hash->exact, key, name, len);
    if (value) {
        return value;
    }

    if (len == 0) {
        return NULL;
    }

    if (hash->wc_head.size || hash->wc_dot.size) {

        value = pt_hash_find(&hash->wc_dot, key, name, len);
        if (value) {
            return value;
        }

        /* name[i] == '.' with a label before it: try name[i + 1 ..] */

        for (i = 1; i < len; i++) {
            if (name[i] != '.' || name[i - 1] == '.') {
                continue;
            }

            s = name + i + 1;
            n = len - i - 1;
            key = pt_hash_key(s, n);

            value = pt_hash_find(&hash->wc_head, key, s, n);
            if (value) {
                return value;
            }

            value = pt_hash_find(&hash->wc_dot, key, s, n);
            if (value) {
                return value;
            }
        }
    }

    if (hash->wc_tail.size) {

        /* name[i] == '.' with a label after it: try name[0 .. i - 1] */

        for (i = len - 1; i > 0; i--) {
            if (name[i] != '.' || i + 1 == len || name[i + 1] == '.') {
                continue;
            }

            key = pt_hash_key(name, i);

            value = pt_hash_find(&hash->wc_tail, key, name, i);
            if (value) {
                return value;
            }
        }
    }

    return NULL;
}


/*
 * The smallest prime not below nelts (which is at least 1), capped so that
 * huge key sets share buckets rather than allocate an oversized table.
 */
static pt_uint_t
pt_hash_bucket_count(pt_uint_t nelts)
{
    pt_uint_t  n, d;

    if (nelts <= 2) {
        return nelts;
    }

    n = pt_min(nelts, PT_HASH_MAX_BUCKETS);

    for (n |= 1; ; n += 2) {
        for (d = 3; d * d <= n; d += 2) {
            if (n % d == 0) {
                break;
            }
        }

        if (d * d > n) {
            return n;
        }
    }
}


/* Appends a lowercased copy of the key unless keys already holds it. */
static pt_int_t
pt_hash_add_to(pt_hash_keys_t *ha, pt_array_t *keys, const u_char *data,
    size_t len, void *value)
{
    u_char         *lc;
    pt_uint_t       i, key;
    pt_hash_key_t  *k;

    lc = pt_pnalloc(ha->pool, len ? len : 1);
    if (lc == NULL) {
        return PT_ERROR;
    }

    key = pt_hash_strlow(lc, data, len);

    k = keys->elts;

    for (i = 0; i < keys->nelts; i++) {
        if (k[i].key_hash == key && k[i].key.len == len
            && memcmp(k[i].key.data, lc, len) == 0)
        {
            return PT_BUSY;
        }
    }

    k = pt_array_push(keys);
    if (k == NULL) {
        return PT_ERROR;
    }

    k->key.len = len;
    k->key.data = lc;
    k->key_hash = key;
    k->value = value;

    return PT_OK;
}
