/*
 * hot.h: kvd's hot-key copies. A key read far more often than the others
 * is copied, read-only, to the cores whose connections read it, so a get
 * there is answered without a trip to the key's owner. Writes still go
 * through the owner, which invalidates every copy before it acknowledges.
 * The design, its invariants and its limits are written at the top of hot.c.
 *
 * Every core has one kv_hot_t. Its owner half (the sketch, the holder masks,
 * the invalidation counters and the waiting writes) is about the keys this
 * core owns; its reader half (the copy table and the fill epochs) is about
 * keys other cores own. Only its core touches it; other cores reach it by
 * message (ic_smp_submit), as everything else in kvd.
 */
#ifndef KVD_HOT_H
#define KVD_HOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_HOT_MAX_CORES 64   /* a holder mask is one uint64_t: copies are off on more cores */
#define KV_HOT_SETS 1024      /* sets of the copy table, and holder masks per owner (a power of two) */
#define KV_HOT_WAYS 2         /* copies per set */
#define KV_HOT_VALUE_MAX 4096 /* larger values are never copied: at most SETS × WAYS × this per core */
#define KV_HOT_SKETCH_W 4096  /* count-min sketch: counters per row (a power of two) */
#define KV_HOT_SKETCH_D 4     /* rows */
#define KV_HOT_WINDOW 32768   /* reads between two halvings of the sketch */
#define KV_HOT_MIN_READS 16   /* a key is never hot below this estimate, whatever its share */

/* A read-only copy of another core's item, on a reader core. */
typedef struct kv_copy {
    uint64_t hash, cas;
    int64_t exptime; /* absolute Unix seconds; 0: never (as the owner's item) */
    uint32_t flags, nval;
    uint8_t nkey, owner;
    bool ref; /* CLOCK: used since the hand last passed */
    char data[];
} kv_copy_t;

/* A write the owner holds back until the invalidations it depends on are acknowledged. */
typedef struct kv_hot_waiter {
    struct kv_hot_waiter *next;
    void (*cb)(struct kv_hot_waiter *w); /* runs on the owner once every copy it waited for is gone */
    uint32_t *need;                      /* ncores entries, the caller's memory: acked[c] must reach need[c] */
} kv_hot_waiter_t;

/* Counters of one core (summed across cores by `stats`). */
typedef struct kv_hot_stats {
    uint64_t copies;         /* copies this core holds now */
    uint64_t grants;         /* owner: reads answered with a copy for the reader's core */
    uint64_t copy_hits;      /* reader: gets answered from a copy */
    uint64_t fills;          /* reader: copies installed */
    uint64_t fills_stale;    /* reader: copies discarded: an invalidation of their set ran while they were on their way */
    uint64_t invalidations;  /* owner: invalidation messages sent */
    uint64_t copies_dropped; /* reader: copies dropped by invalidations */
    uint64_t writes_held;    /* owner: writes whose acknowledgement waited for invalidations */
} kv_hot_stats_t;

typedef struct kv_hot {
    bool on;
    unsigned core, ncores, share; /* hot: at least 1/share of the owner's recent reads */
    /* owner half */
    uint16_t sketch[KV_HOT_SKETCH_D][KV_HOT_SKETCH_W];
    uint32_t reads; /* reads counted since the sketch was last halved (halved with it) */
    uint32_t window;
    uint64_t holders[KV_HOT_SETS]; /* cores that may hold a copy of a key of this set */
    uint32_t sent[KV_HOT_MAX_CORES], acked[KV_HOT_MAX_CORES];
    uint32_t pending[KV_HOT_SETS]; /* invalidations of a set still out */
    uint32_t pending_all;          /* invalidations of every set still out */
    kv_hot_waiter_t *wait_head, *wait_tail;
    /* reader half */
    kv_copy_t *table[KV_HOT_SETS][KV_HOT_WAYS];
    uint32_t epoch[KV_HOT_SETS]; /* bumped by each invalidation of a set */
    uint32_t epoch_all;          /* bumped by each invalidation of everything an owner copied out */
    kv_hot_stats_t st;
} kv_hot_t;

/** Prepares core's state; share 0 (or more than KV_HOT_MAX_CORES cores) turns copies off. This function can't fail. */
void kv_hot_init(kv_hot_t *h, unsigned core, unsigned ncores, unsigned share);

/** Frees every copy. */
void kv_hot_fini(kv_hot_t *h);

static inline unsigned kv_hot_set(uint64_t hash)
{
    return (unsigned)(hash >> 40) & (KV_HOT_SETS - 1); /* high bits: the low ones chose the owner */
}

/* ---- owner ------------------------------------------------------------------------------------- */

/** Counts one read of a key and says whether the key is hot now. */
bool kv_hot_count(kv_hot_t *h, uint64_t hash);

/** Records that core `reader` gets a copy of a key of hash's set (the owner answers it with the item). */
void kv_hot_grant(kv_hot_t *h, unsigned reader, uint64_t hash);

/** True when a write of hash's key can be acknowledged at once: no core holds a copy of its set, none of it is being dropped. */
bool kv_hot_quiet(const kv_hot_t *h, uint64_t hash);

/*
 * After a write has been applied on the owner: invalidates the copies of
 * hash's set (all = true: of every key this core owns) on the cores that may
 * hold them. Returns false if the write may be acknowledged now (no copy of
 * its set was out or being dropped); true if w was queued, and w->cb will run
 * once every invalidation sent so far (this one and any still out, of any
 * set) has been acknowledged.
 */
bool kv_hot_write(kv_hot_t *h, uint64_t hash, bool all, kv_hot_waiter_t *w);

/* ---- reader ------------------------------------------------------------------------------------ */

/** The live copy of a key on this core, marked used; NULL if none (an expired one is dropped). */
const kv_copy_t *kv_hot_lookup(kv_hot_t *h, const char *key, size_t nkey, uint64_t hash, int64_t now);

/** The epoch a fill of hash's set must still find when it comes back, taken when its get is sent. */
uint64_t kv_hot_stamp(const kv_hot_t *h, uint64_t hash);

/**
 * Installs a copy that came back from owner with a get sent at stamp; it is
 * discarded if an invalidation of its set arrived since (it may predate a write).
 */
void kv_hot_fill(kv_hot_t *h, unsigned owner, uint64_t stamp, const char *key, size_t nkey, uint64_t hash, uint32_t flags,
                 uint64_t cas, int64_t exptime, const char *val, size_t nval);

#endif
