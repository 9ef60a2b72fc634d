/*
 * store.h: one core's partition of kvd's keyspace: a chained hash table of
 * items, an LRU list that bounds the partition's memory, lazy expiry and
 * memcached's flush_all. A store is touched only by the core that owns it,
 * so nothing here locks.
 */
#ifndef KVD_STORE_H
#define KVD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_KEY_MAX 250 /* memcached's limit on key length */

typedef struct kv_item {
    struct kv_item *hnext;       /* hash chain */
    struct kv_item *prev, *next; /* LRU: head is the most recently used */
    uint64_t hash, cas;
    int64_t exptime; /* absolute Unix seconds; 0: never */
    int64_t time;    /* when it was stored (for a delayed flush_all) */
    uint32_t flags, nval;
    uint8_t nkey;
    char data[]; /* key, then value */
} kv_item_t;

static inline const char *kv_item_value(const kv_item_t *it)
{
    return it->data + it->nkey;
}

/* Counters of one partition (summed across cores by `stats`). */
typedef struct kv_stats {
    uint64_t cmd_get, get_hits, get_misses, get_expired, cmd_set, cmd_touch, touch_hits, touch_misses;
    uint64_t delete_hits, delete_misses, incr_hits, incr_misses, decr_hits, decr_misses;
    uint64_t cas_hits, cas_misses, cas_badval, evictions, total_items, curr_items, bytes, limit_maxbytes;
} kv_stats_t;

typedef struct kv_store {
    kv_item_t **buckets;
    size_t mask; /* buckets - 1 (a power of two) */
    kv_item_t *head, *tail;
    size_t bytes, limit;
    uint64_t cas_seq;
    unsigned core;
    int64_t flush_at; /* items stored before this time are gone once it passed; 0: none pending */
    kv_stats_t st;
} kv_store_t;

typedef enum kv_result {
    KV_STORED,
    KV_NOT_STORED,
    KV_EXISTS,
    KV_NOT_FOUND,
    KV_DELETED,
    KV_TOUCHED,
    KV_NO_MEMORY,  /* larger than the whole partition, or allocation failed */
    KV_NON_NUMERIC /* incr/decr on a value that is not a decimal number */
} kv_result_t;

typedef enum kv_mode { KV_SET, KV_ADD, KV_REPLACE, KV_APPEND, KV_PREPEND, KV_CAS } kv_mode_t;

/** Prepares an empty store of at most limit bytes for core. Returns 0 or -ENOMEM. */
int kv_store_init(kv_store_t *s, unsigned core, size_t limit);

/** Frees every item and the table. */
void kv_store_fini(kv_store_t *s);

/** The 64-bit hash of a key (FNV-1a folded through MurmurHash3's finaliser). */
uint64_t kv_hash(const char *key, size_t n);

/** Looks a key up (expired items are removed on the way) and marks it used. NULL if absent. Counts nothing. */
kv_item_t *kv_get(kv_store_t *s, const char *key, size_t nkey, uint64_t hash, int64_t now);

/** A storage command; cas is only read in KV_CAS mode. */
kv_result_t kv_put(kv_store_t *s, kv_mode_t mode, const char *key, size_t nkey, uint64_t hash, uint32_t flags, int64_t exptime,
                   const char *val, size_t nval, uint64_t cas, int64_t now);

/** delete: KV_DELETED or KV_NOT_FOUND. */
kv_result_t kv_delete(kv_store_t *s, const char *key, size_t nkey, uint64_t hash, int64_t now);

/** incr (decr = false) or decr: KV_STORED with *value set, KV_NOT_FOUND, KV_NON_NUMERIC or KV_NO_MEMORY. */
kv_result_t kv_arith(kv_store_t *s, const char *key, size_t nkey, uint64_t hash, bool decr, uint64_t delta, uint64_t *value,
                     int64_t now);

/** touch: KV_TOUCHED or KV_NOT_FOUND. */
kv_result_t kv_touch(kv_store_t *s, const char *key, size_t nkey, uint64_t hash, int64_t exptime, int64_t now);

/** flush_all: with delay 0 every item goes now; else the items stored before now + delay go at that time. */
void kv_flush(kv_store_t *s, int64_t delay, int64_t now);

/** memcached's exptime rule: 0 never, negative already expired, up to 30 days relative, else absolute Unix time. */
int64_t kv_abs_time(int64_t exptime, int64_t now);

#endif
