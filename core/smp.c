/*
 * smp.c: messages between cores over an N×N mesh of SPSC rings.
 *
 * ring[to][from] (ic__mesh(to, from)) carries every message from core
 * `from` to core `to`: requests going out and answers coming home share it.
 * Only `from` enqueues and only `to` dequeues, which is what ck_ring's _spsc
 * calls require. A message is allocated on its origin core, runs on its
 * target, travels back on the reverse ring, and is freed on its origin.
 *
 * Batching: ic_smp_submit only queues the message in the sender's outbox for
 * that target; ic__smp_flush hands the outboxes to the rings once per loop
 * turn (or early, at IC__SMP_BATCH), then checks once whether each target
 * sleeps. A message that finds the ring full waits in the outbox (the
 * overflow queue) and is retried on the next flush; nothing is dropped.
 *
 * Free space: the producer that found a ring full raises the ring's
 * producer_waits and tries once more (the consumer may have made room in
 * between); the consumer, after taking messages from a ring whose flag is up,
 * clears it and rings the producer's doorbell if it sleeps. The producer's
 * sleep re-checks the rooms after publishing `sleeping` (ic__smp_outbox_room),
 * so a wake-up is never lost, and it need not poll.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "internal.h"

/* Messages per outbox that trigger an early hand-over to the ring (Seastar batches 16 too). */
#define IC__SMP_BATCH 16
/* Messages taken from one ring per loop turn, so that one busy sender cannot starve I/O. */
#define IC__SMP_DRAIN_BUDGET 256
/* Free messages a core keeps for reuse. */
#define IC__SMP_FREE_MAX 4096

int ic__smp_init(struct ic__runtime *rt)
{
    unsigned n = rt->n;
    rt->mesh = ic__alloc_lines(sizeof(struct ic__spsc) * n * n);
    if (!rt->mesh)
        return -ENOMEM;
    memset(rt->mesh, 0, sizeof(struct ic__spsc) * n * n);
    for (unsigned i = 0; i < n * n; i++) {
        struct ic__spsc *q = &rt->mesh[i];
        q->buf = ic__alloc_lines(sizeof(ck_ring_buffer_t) * rt->cfg.smp_ring);
        if (!q->buf)
            return -ENOMEM; /* ic__smp_fini frees the rest */
        ck_ring_init(&q->ring, rt->cfg.smp_ring);
    }
    for (unsigned i = 0; i < n; i++) {
        struct ic__reactor *r = &rt->r[i];
        r->out = calloc(n, sizeof(*r->out));
        r->dirty = calloc(n, sizeof(*r->dirty));
        if (!r->out || !r->dirty)
            return -ENOMEM;
    }
    return 0;
}

/*
 * Frees the mesh after every reactor thread has exited. A message can be left
 * in a ring only if a timer or an I/O completion sent it after the
 * coordinator saw every core quiet; it is freed here, and counted in a warning.
 */
/* One message onto an SPSC ring (only its producer calls this); false when full. */
static bool ring_put(struct ic__spsc *q, ic_smp_msg_t *m)
{
    IC__TSAN_RELEASE(m);
    IC__TSAN_IGNORE_BEGIN();
    bool ok = ck_ring_enqueue_spsc(&q->ring, q->buf, m);
    IC__TSAN_IGNORE_END();
    return ok;
}

/* One message off an SPSC ring (only its consumer calls this), or NULL. */
static ic_smp_msg_t *ring_get(struct ic__spsc *q)
{
    void *p;
    IC__TSAN_IGNORE_BEGIN();
    bool ok = ck_ring_dequeue_spsc(&q->ring, q->buf, &p);
    IC__TSAN_IGNORE_END();
    if (!ok)
        return NULL;
    IC__TSAN_ACQUIRE(p);
    return p;
}

void ic__smp_fini(struct ic__runtime *rt)
{
    unsigned n = rt->n, left = 0;
    if (!rt->mesh)
        return;
    for (unsigned i = 0; i < n * n; i++) {
        struct ic__spsc *q = &rt->mesh[i];
        ic_smp_msg_t *m;
        if (!q->buf)
            continue;
        while ((m = ring_get(q))) {
            free(m);
            left++;
        }
        free(q->buf);
    }
    free(rt->mesh);
    rt->mesh = NULL;
    if (left)
        ic_log(IC_LOG_WARN, "%u message(s) sent after shutdown were dropped", left);
}

static ic_smp_msg_t *msg_alloc(struct ic__reactor *r)
{
    ic_smp_msg_t *m = r->msg_free;
    if (m) {
        r->msg_free = m->next;
        r->msg_free_count--;
        return m;
    }
    return ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(sizeof(*m));
}

static void msg_free(struct ic__reactor *r, ic_smp_msg_t *m)
{
    if (r->msg_free_count >= IC__SMP_FREE_MAX) {
        free(m);
        return;
    }
    m->next = r->msg_free;
    r->msg_free = m;
    r->msg_free_count++;
}

/* Hands the outbox for `to` to its ring, as far as the ring has room. Returns true if it emptied. */
static bool flush_one(struct ic__reactor *r, unsigned to)
{
    struct ic__outbox *o = &r->out[to];
    struct ic__spsc *q = ic__mesh(to, r->id);
    while (o->head) {
        ic_smp_msg_t *m = o->head;
        /* Read the link first: once enqueued, m belongs to the target, which reuses m->next for its own queues. */
        ic_smp_msg_t *next = m->next;
        /* ck_ring_enqueue_spsc publishes the slot before the new tail (its own store fence). */
        if (ic__fault(IC__FAULT_RING_FULL) || !ring_put(q, m)) {
            atomic_store_explicit(&q->producer_waits, 1, memory_order_relaxed);
            /* Pairs with the consumer's fence in ic__smp_drain: it sees the flag, or we see the room it made. */
            atomic_thread_fence(memory_order_seq_cst);
            if (ic__fault(IC__FAULT_RING_FULL) || !ring_put(q, m)) {
                IC__STAT_INC(r, ring_overflow);
                return false;
            }
        }
        o->head = next;
        o->queued--;
        r->out_pending--;
        o->pushed = true;
    }
    o->tail = NULL;
    return true;
}

static void outbox_push(struct ic__reactor *r, unsigned to, ic_smp_msg_t *m)
{
    struct ic__outbox *o = &r->out[to];
    m->next = NULL;
    if (o->tail)
        o->tail->next = m;
    else
        o->head = m;
    o->tail = m;
    o->queued++;
    r->out_pending++;
    if (!o->dirty) {
        o->dirty = true;
        r->dirty[r->ndirty++] = to;
    }
    if (o->queued % IC__SMP_BATCH == 0)
        flush_one(r, to);
}

int ic_smp_submit(unsigned core, ic_smp_work_cb work, ic_smp_done_cb done, void *arg)
{
    struct ic__reactor *r = ic__self;
    if (!r)
        return IC_ENOTREACTOR;
    if (core >= ic__rt->n || !work)
        return -EINVAL;
    if (r->exiting)
        return IC_ESHUTDOWN;
    ic_smp_msg_t *m = msg_alloc(r);
    if (!m)
        return -ENOMEM;
    m->work = work;
    m->done = done;
    m->arg = arg;
    m->origin = (uint16_t)r->id;
    m->target = (uint16_t)core;
    m->replied = false;
    m->status = 0;
    r->outstanding++;
    r->out[core].owed++;
    IC__STAT_INC(r, msgs_sent);
    outbox_push(r, core, m);
    return 0;
}

static void reply(struct ic__reactor *r, ic_smp_msg_t *m, int status)
{
    m->status = status;
    m->replied = true;
    r->replied |= m->origin != r->id;
    outbox_push(r, m->origin, m);
}

void ic_smp_reply(ic_smp_msg_t *msg, int status)
{
    struct ic__reactor *r = ic__self;
    assert(r && r->id == msg->target && !msg->replied);
    reply(r, msg, status);
}

/* Runs what arrived: requests run here, answers run their done callback and are freed. Returns the count. */
unsigned ic__smp_drain(struct ic__reactor *r)
{
    unsigned n = ic__rt->n, total = 0;
    for (unsigned from = 0; from < n; from++) {
        struct ic__spsc *q = ic__mesh(r->id, from);
        ic_smp_msg_t *m;
        unsigned k = 0;
        while (k < IC__SMP_DRAIN_BUDGET && (m = ring_get(q))) {
            k++;
            if (!m->replied) {
                IC__STAT_INC(r, msgs_run);
                int st = m->work(m, m->arg);
                if (st != IC_SMP_LATER)
                    reply(r, m, st);
            } else {
                assert(m->origin == r->id);
                r->outstanding--;
                r->out[m->target].owed--;
                ic_smp_done_cb done = m->done;
                void *arg = m->arg;
                int status = m->status;
                /* Recycled before done runs: one message submitted from done finds it free (no allocation to fail). */
                msg_free(r, m);
                if (done)
                    done(arg, status);
            }
        }
        if (k && from != r->id) {
            /* Room was made: a producer that found this ring full and sleeps is woken (see the top of the file). */
            atomic_thread_fence(memory_order_seq_cst);
            if (atomic_load_explicit(&q->producer_waits, memory_order_relaxed) &&
                atomic_exchange_explicit(&q->producer_waits, 0, memory_order_relaxed)) {
                _Atomic int *sl = &ic__rt->sh[from].sleeping;
                if (atomic_load_explicit(sl, memory_order_relaxed) && atomic_exchange_explicit(sl, 0, memory_order_relaxed))
                    ic__reactor_wake(r, from);
            }
        }
        total += k;
    }
    return total;
}

bool ic__smp_owed_by_awake(struct ic__reactor *r)
{
    for (unsigned to = 0; to < ic__rt->n; to++) {
        if (to != r->id && r->out[to].owed && !atomic_load_explicit(&ic__rt->sh[to].sleeping, memory_order_relaxed))
            return true;
    }
    return false;
}

bool ic__smp_incoming(struct ic__reactor *r)
{
    unsigned n = ic__rt->n;
    for (unsigned from = 0; from < n; from++) {
        if (ck_ring_size(&ic__mesh(r->id, from)->ring))
            return true;
    }
    return false;
}

void ic__smp_flush(struct ic__reactor *r)
{
    unsigned nd = r->ndirty, keep = 0;
    bool pushed = false;
    if (!nd)
        return;
    for (unsigned i = 0; i < nd; i++) {
        flush_one(r, r->dirty[i]);
        pushed |= r->out[r->dirty[i]].pushed;
    }
    if (pushed) {
        /* Pairs with the fence in submit_and_wait: either the target saw our messages before it slept, or we see `sleeping`. */
        atomic_thread_fence(memory_order_seq_cst);
        for (unsigned i = 0; i < nd; i++) {
            unsigned to = r->dirty[i];
            struct ic__outbox *o = &r->out[to];
            if (!o->pushed)
                continue;
            o->pushed = false;
            if (to == r->id)
                continue;
            _Atomic int *sl = &ic__rt->sh[to].sleeping;
            /* Only the sender that turns 1 into 0 rings: one wake-up per sleep. */
            if (atomic_load_explicit(sl, memory_order_relaxed) && atomic_exchange_explicit(sl, 0, memory_order_relaxed))
                ic__reactor_wake(r, to);
        }
    }
    /* Targets whose messages still wait for room stay listed, in order. */
    for (unsigned i = 0; i < nd; i++) {
        unsigned to = r->dirty[i];
        if (r->out[to].head)
            r->dirty[keep++] = to;
        else
            r->out[to].dirty = false;
    }
    r->ndirty = keep;
}

bool ic__smp_outbox_room(struct ic__reactor *r)
{
    for (unsigned i = 0; i < r->ndirty; i++) {
        unsigned to = r->dirty[i];
        if (!r->out[to].head)
            continue;
        ck_ring_t *ring = &ic__mesh(to, r->id)->ring;
        if (ck_ring_size(ring) + 1 < ck_ring_capacity(ring))
            return true;
    }
    return false;
}

void ic__smp_reactor_fini(struct ic__reactor *r)
{
    if (r->out) {
        for (unsigned to = 0; to < ic__rt->n; to++) {
            ic_smp_msg_t *m = r->out[to].head;
            while (m) {
                ic_smp_msg_t *next = m->next;
                free(m);
                m = next;
            }
        }
    }
    while (r->msg_free) {
        ic_smp_msg_t *m = r->msg_free;
        r->msg_free = m->next;
        free(m);
    }
    r->msg_free_count = 0;
    free(r->out);
    free(r->dirty);
    r->out = NULL;
    r->dirty = NULL;
}
