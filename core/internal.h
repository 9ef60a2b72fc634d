/*
 * internal.h: the reactor's private state, shared by the files of core/.
 *
 * Ownership: a struct ic__reactor belongs to its reactor thread. The only
 * fields other threads touch are in struct ic__reactor_shared (one cache line
 * per reactor, read by senders and by the shutdown coordinator) and the
 * stats block (written by its owner, read relaxed by anyone).
 */
#ifndef ISOCORE_CORE_INTERNAL_H
#define ISOCORE_CORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <ck_ring.h>

#include "isocore/core.h"

#define IC__CACHELINE 64

/* Fields other cores read or write; on their own cache line so that the owner's hot state is not bounced. */
struct ic__reactor_shared {
    _Atomic int sleeping;   /* 1 while the owner is (about to be) blocked in io_uring_enter */
    int ring_fd;            /* target of msg_ring doorbells */
    int event_fd;           /* target of eventfd doorbells and of the coordinator's wake-ups */
    _Atomic uint64_t state; /* while stopping: epoch << 1 | quiet (see runtime.c) */
    /* Posts from any thread (post.c): a lock-free LIFO stack, IC__POSTS_CLOSED once the reactor exited. */
    _Atomic(ic_post_t *) posts;
} __attribute__((aligned(IC__CACHELINE)));

/* One SPSC ring of the mesh; ck_ring keeps producer and consumer fields on separate lines. */
struct ic__spsc {
    ck_ring_t ring;
    ck_ring_buffer_t *buf;
    /* Set by the producer when it found the ring full; the consumer clears it and wakes the producer once it made room. */
    _Atomic int producer_waits;
} __attribute__((aligned(IC__CACHELINE)));

/*
 * What a core keeps per destination: messages not yet handed to the ring,
 * in FIFO order. It is both the batch of this turn and the overflow queue: a
 * message that finds the ring full stays here, and later ones queue behind it.
 */
struct ic__outbox {
    ic_smp_msg_t *head, *tail;
    unsigned queued;
    bool dirty;    /* listed in r->dirty */
    bool pushed;   /* handed messages to the ring since the last doorbell check */
    unsigned owed; /* requests of ours that core `to` has not answered yet (its replies due) */
};

struct ic_smp_msg {
    ic_smp_work_cb work;
    ic_smp_done_cb done;
    void *arg;
    ic_smp_msg_t *next; /* outbox batch, free list */
    uint16_t origin;
    uint16_t target;
    bool replied; /* false: a request on its way out; true: an answer on its way home */
    int status;
};

struct ic__timer_heap {
    ic_timer_t **v;
    unsigned n, cap;
    uint64_t seq;
};

struct ic__reactor {
    unsigned id;
    int cpu;
    pthread_t thread;
    struct io_uring ring;
    bool ring_ok;

    /* Loop state. */
    uint64_t now;
    bool stopping;       /* on_stop has run */
    bool aborting;       /* on_abort has run (an exit without draining) */
    bool exiting;        /* the coordinator said exit: no new work is started */
    bool busy_published; /* while stopping: last published state was "not quiet" */
    uint64_t epoch;
    unsigned ops_inflight;
    unsigned refs;
    unsigned task_count;
    ic_task_t *task_head, *task_tail;
    struct ic__timer_heap timers;
    /* Polling before a sleep (submit_and_wait): the bound, and what decides whether to poll at all. */
    uint64_t spin_ns;             /* ic_reactor_config_t.spin_us; 0 when not pinned */
    bool replied;                 /* this turn answered a request of another core: its next one may follow soon */
    unsigned spin_misses[3];      /* polls in a row that ended in a sleep anyway, per reason (reactor.c) */
    unsigned spin_skips[3];       /* waits since the last poll while spin_misses is high */
    uint64_t contention_check_ns; /* when the CPU's contention was last looked at */
    long nivcsw;                  /* involuntary context switches of this thread at that check (no schedstat) */
    int schedstat_fd;             /* /proc/thread-self/schedstat of the reactor thread, or -1 */
    uint64_t run_delay_ns;        /* its run-queue wait at that check */
    bool contended;               /* another thread wanted this CPU in the last check period: no polling */

    /* Messaging: outboxes per destination, outstanding requests, free messages. */
    struct ic__outbox *out; /* [n] */
    unsigned *dirty;        /* targets whose outbox needs a flush */
    unsigned ndirty;
    unsigned out_pending; /* messages in all outboxes */
    uint64_t outstanding;
    ic_smp_msg_t *msg_free;
    unsigned msg_free_count;

    /* Doorbells. */
    ic_op_t efd_op;
    uint64_t efd_buf;
    bool efd_armed;

    ic_reactor_stats_t stats; /* written by this reactor only */
    struct ic__reactor_shared *sh;

    ic_stop_hook_t *stop_hooks; /* ic_reactor_on_stop, run by begin_stop */

    /* State of the io/ module on this reactor (its provided-buffer ring), freed by io_fini after the ring is gone. */
    void *io;
    void (*io_fini)(void *io);
} __attribute__((aligned(IC__CACHELINE))); /* reactors sit in one array: no two share a line */

struct ic__runtime {
    unsigned n;
    ic_reactor_config_t cfg;
    ic_doorbell_t doorbell;
    struct ic__reactor *r;         /* [n] */
    struct ic__reactor_shared *sh; /* [n], cache-line aligned */
    struct ic__spsc *mesh;         /* [to * n + from] */
    _Atomic int stop_requested;
    _Atomic int abort_requested; /* ic_reactor_abort: every reactor runs on_abort, then the exit comes without draining */
    _Atomic unsigned aborted;    /* reactors that ran on_abort (their state read "busy" before they counted themselves) */
    _Atomic int exit_now;
    _Atomic unsigned started;
    _Atomic int start_err;
    int coord_fd;  /* eventfd the coordinator sleeps on */
    int signal_fd; /* signalfd for SIGINT/SIGTERM, or -1 */
    const char *mode;
};

/* Stats are written only by their reactor, as relaxed atomic stores, so that readers on other cores race with nothing. */
#define IC__STAT_ADD(r, field, v) __atomic_store_n(&(r)->stats.field, (r)->stats.field + (v), __ATOMIC_RELAXED)
#define IC__STAT_INC(r, field) IC__STAT_ADD(r, field, 1)

extern struct ic__runtime *ic__rt;
extern _Thread_local struct ic__reactor *ic__self;

/* aligned_alloc on a cache line, with the size rounded up to a whole number of lines (as C11 requires). */
static inline void *ic__alloc_lines(size_t size)
{
    return aligned_alloc(IC__CACHELINE, (size + IC__CACHELINE - 1) / IC__CACHELINE * IC__CACHELINE);
}

/*
 * ThreadSanitizer does not see ck_ring's fences (inline assembly), so it
 * would report the ring's slot copies and everything a message carries as
 * races. Under TSan the ring calls are hidden from it and the hand-over is
 * declared instead: the sender releases the message, the receiver acquires
 * it (every write before the send happens before every read after it).
 */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define IC__TSAN_RELEASE(p) __tsan_release(p)
#define IC__TSAN_ACQUIRE(p) __tsan_acquire(p)
#define IC__TSAN_IGNORE_BEGIN() __tsan_ignore_thread_begin()
#define IC__TSAN_IGNORE_END() __tsan_ignore_thread_end()
#else
#define IC__TSAN_RELEASE(p) ((void)0)
#define IC__TSAN_ACQUIRE(p) ((void)0)
#define IC__TSAN_IGNORE_BEGIN() ((void)0)
#define IC__TSAN_IGNORE_END() ((void)0)
#endif

static inline struct ic__spsc *ic__mesh(unsigned to, unsigned from)
{
    return &ic__rt->mesh[to * ic__rt->n + from];
}

/* reactor.c */
int ic__reactor_init(struct ic__reactor *r);
void ic__reactor_loop(struct ic__reactor *r);
void ic__reactor_fini(struct ic__reactor *r);
void ic__doorbell_eventfd(unsigned core);
void ic__reactor_wake(struct ic__reactor *r, unsigned core);

/* timer.c */
uint64_t ic__timers_next(struct ic__reactor *r); /* deadline of the earliest timer, or UINT64_MAX */
unsigned ic__timers_run(struct ic__reactor *r);
void ic__timers_fini(struct ic__reactor *r);

/* smp.c */
int ic__smp_init(struct ic__runtime *rt);
void ic__smp_fini(struct ic__runtime *rt);
unsigned ic__smp_drain(struct ic__reactor *r);
/* True when a core that owes us a reply is awake (running its turn: the reply is likely soon). */
bool ic__smp_owed_by_awake(struct ic__reactor *r);
bool ic__smp_incoming(struct ic__reactor *r);
void ic__smp_flush(struct ic__reactor *r);
void ic__smp_reactor_fini(struct ic__reactor *r);
/* True when a ring this reactor has overflowed messages for has room again. */
bool ic__smp_outbox_room(struct ic__reactor *r);

/* post.c */
#define IC__POSTS_CLOSED ((ic_post_t *)1)
unsigned ic__posts_run(struct ic__reactor *r);
bool ic__posts_pending(struct ic__reactor *r);
void ic__posts_close(struct ic__reactor *r);

/* runtime.c */
void ic__coordinator_poke(void);

#endif
