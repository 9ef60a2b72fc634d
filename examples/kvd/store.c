/*
 * store.c: one core's partition of the keyspace (see store.h). Items are
 * immutable once linked: every change makes a new item and swaps it in, so
 * the memory accounting is one number per item and an update never leaves
 * a half-written value behind.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KV_RELATIVE_MAX (60 * 60 * 24 * 30) /* memcached: exptimes past 30 days are absolute */

uint64_t kv_hash(const char *key, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)key[i]) * 0x100000001b3ull;
    /* FNV's low bits are weak (mod 2 is the parity of the bytes): mix before anyone takes a modulus. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

int64_t kv_abs_time(int64_t exptime, int64_t now)
{
    if (exptime == 0)
        return 0;
    if (exptime < 0)
        return now - 1;
    return exptime <= KV_RELATIVE_MAX ? now + exptime : exptime;
}

static size_t item_size(size_t nkey, size_t nval)
{
    return sizeof(kv_item_t) + nkey + nval;
}

int kv_store_init(kv_store_t *s, unsigned core, size_t limit)
{
    memset(s, 0, sizeof(*s));
    s->mask = 1023;
    s->buckets = calloc(s->mask + 1, sizeof(*s->buckets));
    if (!s->buckets)
        return -ENOMEM;
    s->core = core;
    s->limit = limit;
    s->st.limit_maxbytes = limit;
    return 0;
}

void kv_store_fini(kv_store_t *s)
{
    for (kv_item_t *it = s->head, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    free(s->buckets);
    memset(s, 0, sizeof(*s));
}

/* ---- linking ------------------------------------------------------------------------------ */

static kv_item_t **slot_of(kv_store_t *s, const char *key, size_t nkey, uint64_t hash)
{
    /* The core was chosen by hash mod cores; the bucket uses other bits. */
    kv_item_t **p = &s->buckets[(hash >> 17) & s->mask];
    while (*p && !((*p)->hash == hash && (*p)->nkey == nkey && memcmp((*p)->data, key, nkey) == 0))
        p = &(*p)->hnext;
    return p;
}

static void lru_unlink(kv_store_t *s, kv_item_t *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        s->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        s->tail = it->prev;
    it->prev = it->next = NULL;
}

static void lru_push(kv_store_t *s, kv_item_t *it)
{
    it->prev = NULL;
    it->next = s->head;
    if (s->head)
        s->head->prev = it;
    s->head = it;
    if (!s->tail)
        s->tail = it;
}

/* Unlinks and frees the item that *p points to. */
static void drop(kv_store_t *s, kv_item_t **p)
{
    kv_item_t *it = *p;
    *p = it->hnext;
    lru_unlink(s, it);
    s->bytes -= item_size(it->nkey, it->nval);
    s->st.curr_items--;
    s->st.bytes = s->bytes;
    free(it);
}

/* Doubles the table once it holds more items than buckets. A failed grow only costs speed. */
static void maybe_grow(kv_store_t *s)
{
    if (s->st.curr_items <= s->mask + 1)
        return;
    size_t n = (s->mask + 1) * 2;
    kv_item_t **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i <= s->mask; i++) {
        for (kv_item_t *it = s->buckets[i], *next; it; it = next) {
            next = it->hnext;
            kv_item_t **dst = &b[(it->hash >> 17) & (n - 1)];
            it->hnext = *dst;
            *dst = it;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->mask = n - 1;
}

static bool dead(const kv_store_t *s, const kv_item_t *it, int64_t now)
{
    if (it->exptime && it->exptime <= now)
        return true;
    return s->flush_at && s->flush_at <= now && it->time < s->flush_at;
}

/* Finds the live item of a key; an expired one is freed on the way. */
static kv_item_t **find(kv_store_t *s, const char *key, size_t nkey, uint64_t hash, int64_t now)
{
    kv_item_t **p = slot_of(s, key, nkey, hash);
    if (*p && dead(s, *p, now)) {
        drop(s, p);
        s->st.get_expired++;
    }
    return p;
}

/* Allocates an item, evicting from the LRU tail until it fits the partition's budget. */
static kv_item_t *item_new(kv_store_t *s, const char *key, size_t nkey, uint64_t hash, size_t nval)
{
    size_t size = item_size(nkey, nval);
    if (size > s->limit)
        return NULL;
    while (s->bytes + size > s->limit && s->tail) {
        kv_item_t *victim = s->tail;
        drop(s, slot_of(s, victim->data, victim->nkey, victim->hash));
        s->st.evictions++;
    }
    kv_item_t *it = malloc(size);
    if (!it)
        return NULL;
    memset(it, 0, sizeof(*it));
    it->hash = hash;
    it->nkey = (uint8_t)nkey;
    it->nval = (uint32_t)nval;
    memcpy(it->data, key, nkey);
    return it;
}

/* Links a new item at *p (NULL or the old item of the same key, which it replaces). */
static void link_item(kv_store_t *s, kv_item_t **p, kv_item_t *it, int64_t now)
{
    if (*p)
        drop(s, p);
    /* drop may have moved nothing before p: p still points at the chain position of this key. */
    it->hnext = *p;
    *p = it;
    lru_push(s, it);
    it->time = now;
    it->cas = (++s->cas_seq << 8) | (s->core & 0xff); /* unique across cores */
    s->bytes += item_size(it->nkey, it->nval);
    s->st.curr_items++;
    s->st.total_items++;
    s->st.bytes = s->bytes;
    maybe_grow(s);
}

/* ---- commands -------------------------------------------------------------------------------- */

kv_item_t *kv_get(kv_store_t *s, const char *key, size_t nkey, uint64_t hash, int64_t now)
{
    kv_item_t *it = *find(s, key, nkey, hash, now);
    if (it && it != s->head) {
        lru_unlink(s, it);
        lru_push(s, it);
    }
    return it;
}

kv_result_t kv_put(kv_store_t *s, kv_mode_t mode, const char *key, size_t nkey, uint64_t hash, uint32_t flags, int64_t exptime,
                   const char *val, size_t nval, uint64_t cas, int64_t now)
{
    kv_item_t **p = find(s, key, nkey, hash, now);
    kv_item_t *old = *p;
    switch (mode) {
    case KV_ADD:
        if (old) {
            lru_unlink(s, old); /* memcached bumps an item that an add found */
            lru_push(s, old);
            return KV_NOT_STORED;
        }
        break;
    case KV_REPLACE:
    case KV_APPEND:
    case KV_PREPEND:
        if (!old)
            return KV_NOT_STORED;
        break;
    case KV_CAS:
        if (!old) {
            s->st.cas_misses++;
            return KV_NOT_FOUND;
        }
        if (old->cas != cas) {
            s->st.cas_badval++;
            return KV_EXISTS;
        }
        s->st.cas_hits++;
        break;
    case KV_SET:
        break;
    }
    size_t total = nval;
    if (mode == KV_APPEND || mode == KV_PREPEND)
        total += old->nval;
    /* item_new may evict the old item itself: keep what is needed of it first. */
    uint32_t old_flags = old ? old->flags : 0;
    int64_t old_exp = old ? old->exptime : 0;
    char *keep = NULL;
    if (mode == KV_APPEND || mode == KV_PREPEND) {
        keep = malloc(old->nval ? old->nval : 1);
        if (!keep)
            return KV_NO_MEMORY;
        memcpy(keep, kv_item_value(old), old->nval);
    }
    size_t nkeep = old && keep ? old->nval : 0;
    kv_item_t *it = item_new(s, key, nkey, hash, total);
    if (!it) {
        free(keep);
        return KV_NO_MEMORY;
    }
    char *v = it->data + nkey;
    if (mode == KV_APPEND) {
        memcpy(v, keep, nkeep);
        memcpy(v + nkeep, val, nval);
    } else if (mode == KV_PREPEND) {
        memcpy(v, val, nval);
        memcpy(v + nval, keep, nkeep);
    } else {
        memcpy(v, val, nval);
    }
    free(keep);
    if (mode == KV_APPEND || mode == KV_PREPEND) {
        it->flags = old_flags; /* append and prepend ignore the flags and exptime they were given */
        it->exptime = old_exp;
    } else {
        it->flags = flags;
        it->exptime = exptime;
    }
    link_item(s, find(s, key, nkey, hash, now), it, now); /* find again: eviction may have changed the chain */
    return KV_STORED;
}

kv_result_t kv_delete(kv_store_t *s, const char *key, size_t nkey, uint64_t hash, int64_t now)
{
    kv_item_t **p = find(s, key, nkey, hash, now);
    if (!*p) {
        s->st.delete_misses++;
        return KV_NOT_FOUND;
    }
    drop(s, p);
    s->st.delete_hits++;
    return KV_DELETED;
}

/* Parses a whole value as a decimal uint64 (at most 20 digits, no overflow). */
static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

kv_result_t kv_arith(kv_store_t *s, const char *key, size_t nkey, uint64_t hash, bool decr, uint64_t delta, uint64_t *value,
                     int64_t now)
{
    kv_item_t **p = find(s, key, nkey, hash, now);
    kv_item_t *old = *p;
    if (!old) {
        if (decr)
            s->st.decr_misses++;
        else
            s->st.incr_misses++;
        return KV_NOT_FOUND;
    }
    uint64_t v;
    if (!parse_u64(kv_item_value(old), old->nval, &v))
        return KV_NON_NUMERIC;
    if (decr) {
        v = delta > v ? 0 : v - delta; /* decr stops at 0 */
        s->st.decr_hits++;
    } else {
        v += delta; /* incr wraps at 2^64, as memcached's does */
        s->st.incr_hits++;
    }
    char num[24];
    int n = 0;
    uint64_t t = v;
    do {
        num[n++] = (char)('0' + t % 10);
        t /= 10;
    } while (t);
    uint32_t flags = old->flags;
    int64_t exptime = old->exptime;
    char text[24];
    for (int i = 0; i < n; i++)
        text[i] = num[n - 1 - i];
    kv_item_t *it = item_new(s, key, nkey, hash, (size_t)n);
    if (!it)
        return KV_NO_MEMORY;
    memcpy(it->data + nkey, text, (size_t)n);
    it->flags = flags;
    it->exptime = exptime;
    link_item(s, find(s, key, nkey, hash, now), it, now);
    *value = v;
    return KV_STORED;
}

kv_result_t kv_touch(kv_store_t *s, const char *key, size_t nkey, uint64_t hash, int64_t exptime, int64_t now)
{
    s->st.cmd_touch++;
    kv_item_t *it = kv_get(s, key, nkey, hash, now);
    if (!it) {
        s->st.touch_misses++;
        return KV_NOT_FOUND;
    }
    it->exptime = exptime;
    s->st.touch_hits++;
    return KV_TOUCHED;
}

void kv_flush(kv_store_t *s, int64_t delay, int64_t now)
{
    if (delay > 0) {
        s->flush_at = now + delay;
        return;
    }
    s->flush_at = 0;
    for (size_t i = 0; i <= s->mask; i++) {
        while (s->buckets[i])
            drop(s, &s->buckets[i]);
    }
}
