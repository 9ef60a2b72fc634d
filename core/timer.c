/*
 * timer.c: each reactor's timers, in a binary min-heap ordered by
 * (deadline, arming sequence), so that timers with equal deadlines fire in
 * the order they were armed. The loop sleeps in io_uring_enter with a
 * timeout of the earliest deadline (reactor.c), then fires what is due.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static bool before(const ic_timer_t *a, const ic_timer_t *b)
{
    return a->_deadline < b->_deadline || (a->_deadline == b->_deadline && a->_seq < b->_seq);
}

static void place(struct ic__timer_heap *h, unsigned i, ic_timer_t *t)
{
    h->v[i] = t;
    t->_index = i + 1;
}

static void sift_up(struct ic__timer_heap *h, unsigned i)
{
    ic_timer_t *t = h->v[i];
    while (i > 0) {
        unsigned parent = (i - 1) / 2;
        if (!before(t, h->v[parent]))
            break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct ic__timer_heap *h, unsigned i)
{
    ic_timer_t *t = h->v[i];
    for (;;) {
        unsigned c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(h->v[c + 1], h->v[c]))
            c++;
        if (!before(h->v[c], t))
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, t);
}

static void heap_remove(struct ic__timer_heap *h, ic_timer_t *t)
{
    unsigned i = t->_index - 1;
    assert(i < h->n && h->v[i] == t);
    t->_index = 0;
    h->n--;
    if (i == h->n)
        return;
    place(h, i, h->v[h->n]);
    sift_down(h, i);
    sift_up(h, h->v[i]->_index - 1);
}

void ic_timer_init(ic_timer_t *timer, ic_timer_cb cb)
{
    timer->cb = cb;
    timer->_deadline = 0;
    timer->_repeat = 0;
    timer->_seq = 0;
    timer->_index = 0;
}

int ic_timer_start(ic_timer_t *timer, uint64_t delay_ns, uint64_t repeat_ns)
{
    struct ic__reactor *r = ic__self;
    struct ic__timer_heap *h = &r->timers;
    assert(r && timer->cb);
    if (timer->_index)
        heap_remove(h, timer);
    if (h->n == h->cap) {
        unsigned cap = h->cap ? h->cap * 2 : 64;
        ic_timer_t **v = realloc(h->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    timer->_deadline = r->now + delay_ns;
    timer->_repeat = repeat_ns;
    timer->_seq = h->seq++;
    place(h, h->n++, timer);
    sift_up(h, h->n - 1);
    return 0;
}

void ic_timer_stop(ic_timer_t *timer)
{
    if (timer->_index)
        heap_remove(&ic__self->timers, timer);
}

uint64_t ic__timers_next(struct ic__reactor *r)
{
    return r->timers.n ? r->timers.v[0]->_deadline : UINT64_MAX;
}

/*
 * Fires the timers due at the start of this step. A repeating timer is
 * re-armed from its deadline (no drift) but never into the past, so a late
 * reactor fires it once, not once per missed period. Returns the count.
 */
unsigned ic__timers_run(struct ic__reactor *r)
{
    struct ic__timer_heap *h = &r->timers;
    if (!h->n)
        return 0; /* no clock read on the hot path when nothing is armed */
    uint64_t now = ic_clock_ns();
    /* Timers armed (or re-armed) by the callbacks below wait for the next turn, even with a zero delay. */
    uint64_t seq_limit = h->seq;
    unsigned fired = 0;
    while (h->n && h->v[0]->_deadline <= now && h->v[0]->_seq < seq_limit) {
        ic_timer_t *t = h->v[0];
        heap_remove(h, t);
        if (t->_repeat) {
            uint64_t next = t->_deadline + t->_repeat;
            t->_deadline = next > now ? next : now + t->_repeat;
            t->_seq = h->seq++;
            /* Re-inserting cannot fail: the slot we just freed is still allocated. */
            place(h, h->n++, t);
            sift_up(h, h->n - 1);
        }
        fired++;
        t->cb(t);
    }
    return fired;
}

void ic__timers_fini(struct ic__reactor *r)
{
    for (unsigned i = 0; i < r->timers.n; i++)
        r->timers.v[i]->_index = 0;
    free(r->timers.v);
    r->timers.v = NULL;
    r->timers.n = r->timers.cap = 0;
}
