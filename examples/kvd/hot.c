/*
 * hot.c: kvd's hot-key copies (issue 18: "caching hot keys on additional
 * partitions").
 *
 * Without them a key lives on exactly one core, and under a skewed (Zipf)
 * popularity every get of a popular key from a connection on another core
 * is a round trip over the SPSC rings. With them, the owner notices a key
 * that takes a large share of its reads and lets the cores that read it
 * keep a read-only copy.
 *
 * Detection (owner). Each get the owner runs is counted in a count-min
 * sketch (KV_HOT_SKETCH_D rows of KV_HOT_SKETCH_W 16-bit counters, with
 * conservative update: only the rows at the minimum grow). Every
 * KV_HOT_WINDOW reads every counter and the read total are halved, so the
 * sketch follows a popularity that moves. A key is hot when its estimate is
 * at least KV_HOT_MIN_READS and at least 1/share of the (decayed) reads of
 * its owner (kvd -H share; -H 0 turns all of this off).
 *
 * Copies (reader pulls on a miss). A get on core C for a key owned by O
 * looks in C's copy table first. On a miss it goes to O as before, stamped
 * with C's epoch for the key's set (below). If O finds the key hot and its
 * value small (KV_HOT_VALUE_MAX), it answers with the item as usual and, in
 * the same reply, says "copy it": it records C in the holder mask of the
 * key's set first. Back on C the reply installs the copy, unless its stamp
 * is out of date. The copy table is set-associative (KV_HOT_SETS sets of
 * KV_HOT_WAYS copies, CLOCK replacement inside a set), so a core holds at
 * most SETS × WAYS copies of at most KV_HOT_VALUE_MAX bytes each. A copy
 * keeps its item's absolute expiry time and is dropped once that passed.
 *
 * Holder masks are per set, not per key (a set is hash bits 40..49, the
 * same function on every core): the owner keeps KV_HOT_SETS masks of cores,
 * an invalidation names a set, and the reader drops every copy of that set
 * from that owner. That is coarser than a key (a write may drop a neighbour's
 * copy, which is then fetched again) but it needs no per-key state on the
 * owner that could be lost: evicting or deleting an item forgets nothing
 * about who holds copies of it.
 *
 * Writes (owner). set/add/replace/append/prepend/cas, delete, incr/decr and
 * touch apply on the owner as before; then kv_hot_write sends an
 * invalidation of the key's set to every core in the set's holder mask and
 * clears the mask. A write of a set with no holder and no invalidation
 * still out (pending[set], pending_all) is acknowledged at once: no copy of
 * its key exists and none is on its way (a fill is only granted with the
 * holder bit set). Any other write is held until every invalidation the
 * owner has sent so far is acknowledged; flush_all does the same for every
 * set. The bookkeeping is two counters per peer core: sent[c] and acked[c].
 * A peer runs an owner's messages in the order they were sent, so
 * acked[c] >= n means the first n invalidations to c have run there,
 * whatever order the answers came back in. A held write records
 * need[c] = sent[c] and waits in a FIFO; need grows along the FIFO, so
 * releasing from its head is exact. Waiting for invalidations of other sets
 * too is conservative (at most one round trip more); waiting for those of
 * its own set is what makes a second write of a key wait for the first
 * one's invalidations, which it must (the first cleared the holder mask).
 *
 * The guarantee: once a write is acknowledged, no copy anywhere holds a
 * value older than it, so no connection reads an older value. (While the
 * write is not yet acknowledged, a reader on another core may still be
 * answered from its copy; the write is concurrent with that read then.)
 * Applying before invalidating keeps the owner's own order: a get that
 * follows a set on one connection always sees the set.
 *
 * The race, and the epochs. A fill (a copy in a reply) may still be on its
 * way to C when the owner applies a write and sends C an invalidation; if
 * the invalidation ran first, installing the fill afterwards would bring the
 * old value back after the write's acknowledgement. So C keeps an epoch per
 * set (and one for "all sets"): an invalidation bumps it, a get takes a
 * stamp of it when it is sent, and a fill whose stamp no longer matches is
 * discarded. This is sound because the owner sent the invalidation after it
 * answered the get: if the invalidation ran on C before the fill arrived, it
 * ran after the get was sent, so it changed the stamp. A fill that arrives
 * first is installed and then dropped by the invalidation. (Today the core
 * keeps an owner's answers and requests to one reader in one FIFO, so the
 * harmful overtaking does not happen; the API does not promise it, and a
 * get answered later, with IC_SMP_LATER, would break it. The check costs a
 * compare. It also discards fills that were fresh: an invalidation the
 * owner sent before it answered the get may run in between; that is
 * counted in hot_fills_stale, and the next get fetches again.) A delayed
 * flush_all invalidates everything at once and the owner grants no copies
 * until the flush time has passed.
 *
 * A connection that still has a write of its own in flight does not read
 * copies (kvd.c): its get goes to the owner behind that write, as before.
 * Multi-key gets use the copies only when they name one key.
 */
#include "hot.h"

#include <isocore.h>
#include <stdlib.h>
#include <string.h>

#define ALL_SETS KV_HOT_SETS /* an invalidation of every set */

/* Every core's state, set before the reactors start; a core dereferences only its own. */
static kv_hot_t *hots[KV_HOT_MAX_CORES];

void kv_hot_init(kv_hot_t *h, unsigned core, unsigned ncores, unsigned share)
{
    memset(h, 0, sizeof(*h));
    h->core = core;
    h->ncores = ncores;
    h->share = share;
    h->on = share > 0 && ncores > 1 && ncores <= KV_HOT_MAX_CORES;
    if (core < KV_HOT_MAX_CORES)
        hots[core] = h;
}

static void copy_drop(kv_hot_t *h, kv_copy_t **slot)
{
    free(*slot);
    *slot = NULL;
    h->st.copies--;
}

void kv_hot_fini(kv_hot_t *h)
{
    for (unsigned s = 0; s < KV_HOT_SETS; s++)
        for (unsigned w = 0; w < KV_HOT_WAYS; w++)
            if (h->table[s][w])
                copy_drop(h, &h->table[s][w]);
    if (h->core < KV_HOT_MAX_CORES && hots[h->core] == h)
        hots[h->core] = NULL;
}

/* ---- owner: detection ------------------------------------------------------------------------ */

static unsigned row_index(uint64_t hash, unsigned row)
{
    /* One multiplier per row spreads the same hash into independent-looking columns. */
    static const uint64_t mul[KV_HOT_SKETCH_D] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
                                                  0xd6e8feb86659fd93ull};
    return (unsigned)((hash * mul[row]) >> 52) & (KV_HOT_SKETCH_W - 1);
}

bool kv_hot_count(kv_hot_t *h, uint64_t hash)
{
    if (!h->on)
        return false;
    unsigned idx[KV_HOT_SKETCH_D];
    uint16_t min = UINT16_MAX;
    for (unsigned r = 0; r < KV_HOT_SKETCH_D; r++) {
        idx[r] = row_index(hash, r);
        if (h->sketch[r][idx[r]] < min)
            min = h->sketch[r][idx[r]];
    }
    /* Conservative update: only the counters at the minimum grow (the estimate is the minimum). */
    if (min < UINT16_MAX)
        for (unsigned r = 0; r < KV_HOT_SKETCH_D; r++)
            if (h->sketch[r][idx[r]] == min)
                h->sketch[r][idx[r]]++;
    uint32_t est = min + 1u;
    h->reads++;
    if (++h->window >= KV_HOT_WINDOW) {
        /* Decay: halve everything, so what was hot a few windows ago fades out. */
        h->window = 0;
        h->reads /= 2;
        for (unsigned r = 0; r < KV_HOT_SKETCH_D; r++)
            for (unsigned c = 0; c < KV_HOT_SKETCH_W; c++)
                h->sketch[r][c] /= 2;
    }
    return est >= KV_HOT_MIN_READS && (uint64_t)est * h->share >= h->reads;
}

void kv_hot_grant(kv_hot_t *h, unsigned reader, uint64_t hash)
{
    h->holders[kv_hot_set(hash)] |= 1ull << reader;
    h->st.grants++;
}

/* ---- owner: invalidation ----------------------------------------------------------------------- */

static uintptr_t inval_arg(unsigned set, unsigned owner, unsigned target)
{
    return (uintptr_t)set | (uintptr_t)owner << 16 | (uintptr_t)target << 24;
}

/* Runs on the reader: drops the owner's copies of one set (or of all) and bumps the epoch fills are checked against. */
static int inval_work(ic_smp_msg_t *msg, void *arg)
{
    uintptr_t a = (uintptr_t)arg;
    unsigned set = a & 0xffff, owner = (a >> 16) & 0xff, target = (a >> 24) & 0xff;
    kv_hot_t *h = hots[target];
    unsigned lo = set == ALL_SETS ? 0 : set, hi = set == ALL_SETS ? KV_HOT_SETS : set + 1;
    for (unsigned s = lo; s < hi; s++) {
        for (unsigned w = 0; w < KV_HOT_WAYS; w++) {
            kv_copy_t **c = &h->table[s][w];
            if (*c && (*c)->owner == owner) {
                copy_drop(h, c);
                h->st.copies_dropped++;
            }
        }
    }
    if (set == ALL_SETS)
        h->epoch_all++;
    else
        h->epoch[set]++;
    return 0;
}

static bool satisfied(const kv_hot_t *h, const kv_hot_waiter_t *w)
{
    for (unsigned c = 0; c < h->ncores; c++)
        if ((int32_t)(h->acked[c] - w->need[c]) < 0)
            return false;
    return true;
}

/* Back on the owner: one more invalidation to that core has run; release the writes that waited for it. */
static void inval_done(void *arg, int status)
{
    uintptr_t a = (uintptr_t)arg;
    kv_hot_t *h = hots[(a >> 16) & 0xff];
    unsigned set = a & 0xffff;
    h->acked[(a >> 24) & 0xff]++;
    if (set == ALL_SETS)
        h->pending_all--;
    else
        h->pending[set]--;
    while (h->wait_head && satisfied(h, h->wait_head)) {
        kv_hot_waiter_t *w = h->wait_head;
        h->wait_head = w->next;
        if (!h->wait_head)
            h->wait_tail = NULL;
        w->cb(w); /* may free w */
    }
}

static bool settled(const kv_hot_t *h)
{
    for (unsigned c = 0; c < h->ncores; c++)
        if (h->sent[c] != h->acked[c])
            return false;
    return true;
}

bool kv_hot_quiet(const kv_hot_t *h, uint64_t hash)
{
    unsigned s = kv_hot_set(hash);
    return !h->on || (h->holders[s] == 0 && h->pending[s] == 0 && h->pending_all == 0);
}

/* Sends one invalidation of set to every core in mask. */
static void send_invals(kv_hot_t *h, uint64_t mask, unsigned set)
{
    for (unsigned c = 0; mask; c++, mask >>= 1) {
        if (!(mask & 1))
            continue;
        /*
         * A failure means the reactors are exiting: that core answers no get any more, so its
         * copies can no longer be read, and nothing is counted as out.
         */
        if (ic_smp_submit(c, inval_work, inval_done, (void *)inval_arg(set, h->core, c)) == 0) {
            h->sent[c]++;
            h->st.invalidations++;
            if (set == ALL_SETS)
                h->pending_all++;
            else
                h->pending[set]++;
        }
    }
}

bool kv_hot_write(kv_hot_t *h, uint64_t hash, bool all, kv_hot_waiter_t *w)
{
    if (!h->on)
        return false;
    unsigned s = kv_hot_set(hash);
    if (all) {
        uint64_t mask = 0;
        for (unsigned i = 0; i < KV_HOT_SETS; i++) {
            mask |= h->holders[i];
            h->holders[i] = 0;
        }
        send_invals(h, mask, ALL_SETS);
        if (settled(h))
            return false;
    } else {
        uint64_t mask = h->holders[s];
        h->holders[s] = 0;
        send_invals(h, mask, s);
        if (h->pending[s] == 0 && h->pending_all == 0)
            return false; /* no copy of this set anywhere, none being dropped */
    }
    for (unsigned c = 0; c < h->ncores; c++)
        w->need[c] = h->sent[c];
    w->next = NULL;
    if (h->wait_tail)
        h->wait_tail->next = w;
    else
        h->wait_head = w;
    h->wait_tail = w;
    h->st.writes_held++;
    return true;
}

/* ---- reader ------------------------------------------------------------------------------------ */

const kv_copy_t *kv_hot_lookup(kv_hot_t *h, const char *key, size_t nkey, uint64_t hash, int64_t now)
{
    if (!h->on)
        return NULL;
    kv_copy_t **set = h->table[kv_hot_set(hash)];
    for (unsigned w = 0; w < KV_HOT_WAYS; w++) {
        kv_copy_t *c = set[w];
        if (!c || c->hash != hash || c->nkey != nkey || memcmp(c->data, key, nkey) != 0)
            continue;
        if (c->exptime && c->exptime <= now) {
            copy_drop(h, &set[w]);
            return NULL;
        }
        c->ref = true;
        h->st.copy_hits++;
        return c;
    }
    return NULL;
}

uint64_t kv_hot_stamp(const kv_hot_t *h, uint64_t hash)
{
    return (uint64_t)h->epoch_all << 32 | h->epoch[kv_hot_set(hash)];
}

void kv_hot_fill(kv_hot_t *h, unsigned owner, uint64_t stamp, const char *key, size_t nkey, uint64_t hash, uint32_t flags,
                 uint64_t cas, int64_t exptime, const char *val, size_t nval)
{
    if (!h->on)
        return;
    if (kv_hot_stamp(h, hash) != stamp) {
        h->st.fills_stale++; /* an invalidation of this set ran since the get was sent: the value may be old */
        return;
    }
    kv_copy_t **set = h->table[kv_hot_set(hash)], **slot = NULL;
    for (unsigned w = 0; w < KV_HOT_WAYS && !slot; w++)
        if (set[w] && set[w]->hash == hash && set[w]->nkey == nkey && memcmp(set[w]->data, key, nkey) == 0)
            slot = &set[w]; /* a newer fill of the same key replaces the copy */
    for (unsigned w = 0; w < KV_HOT_WAYS && !slot; w++)
        if (!set[w])
            slot = &set[w];
    /* CLOCK inside the set: the first copy not used since the hand passed goes; the hand clears marks on its way. */
    for (unsigned pass = 0; pass < 2 && !slot; pass++) {
        for (unsigned w = 0; w < KV_HOT_WAYS && !slot; w++) {
            if (!set[w]->ref)
                slot = &set[w];
            else
                set[w]->ref = false;
        }
    }
    kv_copy_t *c = malloc(sizeof(*c) + nkey + nval);
    if (!c)
        return; /* no copy: the next get goes to the owner, as without copies */
    if (*slot)
        copy_drop(h, slot);
    c->hash = hash;
    c->cas = cas;
    c->exptime = exptime;
    c->flags = flags;
    c->nval = (uint32_t)nval;
    c->nkey = (uint8_t)nkey;
    c->owner = (uint8_t)owner;
    c->ref = false;
    memcpy(c->data, key, nkey);
    memcpy(c->data + nkey, val, nval);
    *slot = c;
    h->st.copies++;
    h->st.fills++;
}
