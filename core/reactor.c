/*
 * reactor.c: one reactor's io_uring, its loop, its tasks and its operations.
 *
 * A reactor is a thread that owns an io_uring. Everything it does happens in
 * ic__reactor_loop, whose order is written down once, at the top of that
 * function. Other cores reach a reactor only through the SPSC mesh (smp.c)
 * and its doorbells; the coordinator of a shutdown only through the shared
 * block and the eventfd (runtime.c).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "internal.h"

_Thread_local struct ic__reactor *ic__self;

/*
 * How long a reactor with messages in an overflow queue sleeps at most before
 * it retries the flush. The consumer wakes it once it made room (smp.c), so
 * this is only a safety net, not a poll.
 */
#define IC__OVERFLOW_RETRY_NS (1000 * 1000)

/* The failure CQE of a doorbell (msg_ring SQEs skip their success CQE). */
static void doorbell_failed(ic_op_t *op, int res, unsigned flags)
{
    (void)op;
    (void)flags;
    ic_log(IC_LOG_WARN, "msg_ring doorbell failed: %s", ic_strerror(res));
}
static ic_op_t doorbell_op = {doorbell_failed};

/* The CQE of a cancel request (it reports how many it cancelled, or -ENOENT); nothing to do. */
static void cancel_done(ic_op_t *op, int res, unsigned flags)
{
    (void)op;
    (void)res;
    (void)flags;
}
static ic_op_t cancel_op = {cancel_done};

uint64_t ic_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ic_reactor_now(void)
{
    return ic__self ? ic__self->now : ic_clock_ns();
}

int ic_reactor_id(void)
{
    return ic__self ? (int)ic__self->id : -1;
}

void ic_reactor_ref(void)
{
    assert(ic__self);
    ic__self->refs++;
}

void ic_reactor_unref(void)
{
    assert(ic__self && ic__self->refs > 0);
    ic__self->refs--;
}

struct io_uring *ic_reactor_ring(void)
{
    assert(ic__self);
    return &ic__self->ring;
}

/* Returns a free SQE; submits first when the SQ is full. The SQ cannot stay full after a submit. */
/* The full-queue path, out of line: what is queued is submitted mid-turn, then there is room. */
static __attribute__((noinline)) struct io_uring_sqe *get_sqe_after_submit(struct ic__reactor *r)
{
    io_uring_submit(&r->ring);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    assert(sqe);
    return sqe;
}

static inline __attribute__((always_inline)) struct io_uring_sqe *get_sqe(struct ic__reactor *r)
{
    /* An injected "SQ full" takes the full-queue path. */
    if (ic__fault(IC__FAULT_SQ_FULL))
        return get_sqe_after_submit(r);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    return sqe ? sqe : get_sqe_after_submit(r);
}

struct io_uring_sqe *ic_reactor_sqe(ic_op_t *op)
{
    struct ic__reactor *r = ic__self;
    assert(r && op && op->cb);
    struct io_uring_sqe *sqe = get_sqe(r);
    /* user_data is set before the caller's io_uring_prep_*, which leaves it alone. */
    io_uring_sqe_set_data(sqe, op);
    r->ops_inflight++;
    return sqe;
}

/* Rings the doorbell of `core` with a message on our own ring (IORING_OP_MSG_RING). */
static void doorbell_msg_ring(struct ic__reactor *r, unsigned core)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    /* The target sees a CQE whose user_data is 0 (data argument): reap() ignores it. */
    io_uring_prep_msg_ring(sqe, ic__rt->sh[core].ring_fd, 0, 0, 0);
    io_uring_sqe_set_data(sqe, &doorbell_op);
    /* No CQE on our side unless it fails: nothing to count in flight. */
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

/* Rings the doorbell of `core` through its eventfd. Any thread; async-signal-safe. */
void ic__doorbell_eventfd(unsigned core)
{
    uint64_t one = 1;
    ssize_t n = write(ic__rt->sh[core].event_fd, &one, sizeof(one));
    (void)n; /* EAGAIN means the counter is already non-zero: the target will wake anyway. */
}

/* Called by smp.c once per loop turn for each target that sleeps. */
void ic__reactor_wake(struct ic__reactor *r, unsigned core)
{
    IC__STAT_INC(r, wakeups_sent);
    if (ic__rt->doorbell == IC_DOORBELL_MSG_RING)
        doorbell_msg_ring(r, core);
    else
        ic__doorbell_eventfd(core);
}

static void efd_arm(struct ic__reactor *r);

/* The eventfd doorbell fired: the read consumed the count; read again. */
static void efd_done(ic_op_t *op, int res, unsigned flags)
{
    struct ic__reactor *r = ic__self;
    (void)op;
    (void)flags;
    r->efd_armed = false;
    if (res == -ECANCELED || r->exiting)
        return;
    efd_arm(r);
}

static void efd_arm(struct ic__reactor *r)
{
    r->efd_op.cb = efd_done;
    struct io_uring_sqe *sqe = ic_reactor_sqe(&r->efd_op);
    io_uring_prep_read(sqe, r->sh->event_fd, &r->efd_buf, sizeof(r->efd_buf), 0);
    r->efd_armed = true;
}

/* Ring set-up modes, best first. ISOCORE_IOURING_MODE=coop_taskrun|plain forces a lesser one (for tests). */
static const struct {
    const char *name;
    unsigned flags;
} modes[] = {
    /* One thread submits (this one), and task work runs only when we ask for events: no IPIs mid-turn. */
    {"defer_taskrun", IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG},
    /* Task work waits for our next kernel entry; TASKRUN_FLAG tells us when one is needed. */
    {"coop_taskrun", IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG},
    {"plain", 0},
};

int ic__reactor_init(struct ic__reactor *r)
{
    const ic_reactor_config_t *cfg = &ic__rt->cfg;
    const char *force = getenv("ISOCORE_IOURING_MODE");
    int ret = -EINVAL;
    size_t i = 0;

    if (force) {
        while (i < sizeof(modes) / sizeof(modes[0]) && strcmp(modes[i].name, force) != 0)
            i++;
        if (i == sizeof(modes) / sizeof(modes[0]))
            i = 0;
    }
    for (; i < sizeof(modes) / sizeof(modes[0]); i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        /* A CQ several times the SQ: multishot receives post many CQEs per SQE (and NODROP backs it). */
        p.flags = modes[i].flags | IORING_SETUP_CQSIZE;
        p.cq_entries = cfg->cq_entries;
        ret = io_uring_queue_init_params(cfg->ring_entries, &r->ring, &p);
        if (ret == 0)
            break;
        if (ret != -EINVAL)
            return ret;
    }
    if (ret < 0)
        return ret;
    r->ring_ok = true;
    /* The ring's own descriptor, registered: io_uring_enter then skips looking it up (best effort; liburing falls back). */
    io_uring_register_ring_fd(&r->ring);
    if (r->id == 0)
        ic__rt->mode = modes[i].name;
    r->sh->ring_fd = r->ring.ring_fd;
    /* Unpinned reactors outnumber the CPUs and share them: a spinning one would burn the time slice of the core it waits for. */
    r->spin_ns = r->cpu >= 0 ? (uint64_t)cfg->spin_us * 1000 : 0;
    r->now = ic_clock_ns();
    /* On this thread: thread-self is the reactor's. Missing (no CONFIG_SCHED_INFO): contended() counts context switches. */
    r->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    efd_arm(r);
    return 0;
}

void ic_task_post(ic_task_t *task, ic_task_cb cb)
{
    struct ic__reactor *r = ic__self;
    assert(r);
    task->cb = cb;
    task->_next = NULL;
    if (r->task_tail)
        r->task_tail->_next = task;
    else
        r->task_head = task;
    r->task_tail = task;
    r->task_count++;
}

/* Runs the tasks queued before this call; those they post wait for the next turn, so I/O is not starved. */
static unsigned run_tasks(struct ic__reactor *r)
{
    unsigned n = r->task_count;
    for (unsigned i = 0; i < n; i++) {
        ic_task_t *t = r->task_head;
        r->task_head = t->_next;
        if (!r->task_head)
            r->task_tail = NULL;
        r->task_count--;
        t->cb(t);
    }
    return n;
}

/* Reaps every ready CQE and advances the CQ once for the batch. */
static unsigned reap(struct ic__reactor *r)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;

    io_uring_for_each_cqe(&r->ring, head, cqe)
    {
        ic_op_t *op = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        unsigned flags = cqe->flags;
        n++;
        if (!op)
            continue; /* a msg_ring doorbell: waking us was its whole job */
        /* Internal ops with skipped success CQEs are not counted in flight. */
        if (op != &doorbell_op && op != &cancel_op && !(flags & IORING_CQE_F_MORE))
            r->ops_inflight--;
        op->cb(op, res, flags);
    }
    if (n) {
        io_uring_cq_advance(&r->ring, n);
        IC__STAT_ADD(r, cqes, n);
    }
    return n;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* True if something is ready without entering the kernel. */
static bool ready_now(struct ic__reactor *r)
{
    return io_uring_cq_ready(&r->ring) || ic__smp_incoming(r) || ic__posts_pending(r) ||
           (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

/*
 * Polling before a sleep. On the 2-vCPU VM this was tuned on, a sleep and
 * its wake-up cost the reactor about 15 µs of CPU (the idle row of
 * bench_router), and the core that wakes it pays for the doorbell; a message
 * that finds its target awake costs about 200 ns. So a reactor that expects
 * a message within a few µs is better off polling its rings than sleeping,
 * and one that expects nothing must sleep at once. It polls only when:
 *   - a reply is due: requests of its own are outstanding on another core
 *     (r->outstanding), for at most spin_ns; or
 *   - it just answered another core (r->replied): a client core in a
 *     request/response exchange usually sends the next request as soon as it
 *     has the answer, for at most spin_ns / 4;
 * and never
 *   - when idle (neither of the above: nothing can arrive but what a doorbell
 *     brings, so polling would only burn the CPU);
 *   - long when the CPU is oversubscribed: unpinned reactors (more of them
 *     than CPUs) never poll, and a pinned one whose thread was preempted in
 *     the last IC__CONTENTION_PERIOD_NS (another runnable thread wants this
 *     CPU) polls for IC__SPIN_CONTENDED_NS at most: a few µs, less than the
 *     sleep and wake-up it may save, so it never takes more of the CPU from
 *     the others than sleeping would (bench/results/2026-12-02-hop.md: not
 *     polling at all there made the bare hop cost 2.5× the CPU);
 *   - after IC__SPIN_MISS_MAX polls of the same kind (reply due, or just
 *     answered) in a row that ended in a sleep anyway (the peer is slower
 *     than the bound): then only one such wait in IC__SPIN_PROBE polls, to
 *     notice when the peer is fast again;
 * A third reason, with its own record of misses: a core that owes us a
 * reply is awake (its `sleeping` is 0: it is running a turn, likely with our
 * requests in it). Then we poll for up to 2 × spin_ns, and stop as soon as
 * no core that owes us is awake any more (it went to sleep: its turn ended
 * without our reply). A sleep here costs a sleep, a doorbell on that core
 * and the wake-up's latency: on the project's VM two cores forwarding to
 * each other at saturation ran at a third of their throughput, taking turns
 * asleep, because their turns outlasted spin_ns and the misses stopped the
 * polling (bench_router sym and sat, 2026-12-02c-js-hop.md).
 */
#define IC__CONTENTION_PERIOD_NS (10 * 1000 * 1000)
#define IC__SPIN_CONTENDED_NS (5 * 1000)
#define IC__SPIN_MISS_MAX 4
#define IC__SPIN_PROBE 16

/*
 * The run-queue wait (ns) of the reactor thread so far: the second figure of
 * /proc/thread-self/schedstat, the time it was runnable but another thread
 * had its CPU. Returns false if it cannot be read.
 */
static bool run_delay(struct ic__reactor *r, uint64_t *out)
{
    char buf[96];
    ssize_t n = r->schedstat_fd >= 0 ? pread(r->schedstat_fd, buf, sizeof(buf) - 1, 0) : -1;
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *end;
    strtoull(buf, &end, 10); /* time on the CPU */
    *out = strtoull(end, &end, 10);
    return true;
}

/*
 * True when other threads took a real share of this CPU in the last period
 * (looked at once per period). The measure is the thread's run-queue wait:
 * polling is wrong when another runnable thread waits for this CPU, and
 * that thread's time shows as our wait once it runs. Past 1/IC__CONTENDED_SHARE
 * of the period, the CPU is shared. Short preemptions do not count: the
 * CPU-limit watchdog waking for a few µs every 2 ms (a context switch each,
 * on a machine with one reactor per CPU) marked every reactor contended when
 * any involuntary switch counted, which capped its polling at 5 µs while
 * nothing else ran. Without schedstat, any involuntary switch counts.
 */
#define IC__CONTENDED_SHARE 20 /* 5 % of the period */
static bool contended(struct ic__reactor *r)
{
    if (ic__rt->cfg.spin_contended)
        return false;
    uint64_t elapsed = r->now - r->contention_check_ns;
    if (elapsed < IC__CONTENTION_PERIOD_NS)
        return r->contended;
    uint64_t delay;
    struct rusage ru;
    if (run_delay(r, &delay)) {
        r->contended = r->contention_check_ns != 0 && (delay - r->run_delay_ns) * IC__CONTENDED_SHARE > elapsed;
        r->run_delay_ns = delay;
    } else if (getrusage(RUSAGE_THREAD, &ru) == 0) {
        r->contended = r->contention_check_ns != 0 && ru.ru_nivcsw != r->nivcsw;
        r->nivcsw = ru.ru_nivcsw;
    }
    r->contention_check_ns = r->now;
    return r->contended;
}

/* Why a reactor polls: a reply is due, it just answered, or a core that owes it a reply is awake (misses kept apart). */
enum { IC__POLL_REPLY = 0, IC__POLL_ANSWERED = 1, IC__POLL_OWED = 2 };

/* How long to poll before this sleep, 0 for not at all (see above); *kind says why. */
static uint64_t spin_bound(struct ic__reactor *r, unsigned *kind)
{
    if (!r->spin_ns || r->stopping || (!r->outstanding && !r->replied))
        return 0;
    unsigned k = r->outstanding ? IC__POLL_REPLY : IC__POLL_ANSWERED;
    if (k == IC__POLL_REPLY && ic__smp_owed_by_awake(r))
        k = IC__POLL_OWED;
    *kind = k;
    if (r->spin_misses[k] >= IC__SPIN_MISS_MAX && ++r->spin_skips[k] % IC__SPIN_PROBE != 0)
        return 0;
    uint64_t bound = k == IC__POLL_OWED ? 2 * r->spin_ns : k == IC__POLL_REPLY ? r->spin_ns : r->spin_ns / 4;
    if (bound > IC__SPIN_CONTENDED_NS && contended(r))
        bound = IC__SPIN_CONTENDED_NS;
    return bound;
}

/* Polls until something is ready (true) or `bound` ns or the deadline passed (false). */
static bool spin(struct ic__reactor *r, uint64_t bound, uint64_t deadline, unsigned kind)
{
    uint64_t start = ic_clock_ns(), until = start + bound, now = start;
    bool hit = false;
    if (until > deadline)
        until = deadline;
    for (unsigned i = 0;; i++) {
        if (ready_now(r)) {
            hit = true;
            break;
        }
        if ((i & 63) == 63 && ((now = ic_clock_ns()) >= until || (kind == IC__POLL_OWED && !ic__smp_owed_by_awake(r))))
            break;
        cpu_relax();
    }
    if (hit)
        now = ic_clock_ns();
    IC__STAT_INC(r, spins);
    IC__STAT_ADD(r, spin_ns, now - start);
    if (hit) {
        IC__STAT_INC(r, spin_hits);
        r->spin_misses[kind] = 0;
        r->spin_skips[kind] = 0;
    } else if (r->spin_misses[kind] < IC__SPIN_MISS_MAX) {
        r->spin_misses[kind]++;
    }
    return hit;
}

/*
 * Submits the turn's SQEs and, when there is nothing to run, sleeps until a
 * CQE, a doorbell or the next timer. Sleeping follows the doorbell protocol:
 * poll a little if a message is likely soon (spin_bound), publish
 * `sleeping`, re-check the rings, and only then block. A sender that pushes
 * after our re-check sees `sleeping` (both sides use a full fence) and rings
 * the doorbell.
 */
static void submit_and_wait(struct ic__reactor *r)
{
    struct io_uring *ring = &r->ring;

    if (r->task_head || ic__smp_incoming(r) || ic__posts_pending(r) || r->exiting) {
        io_uring_submit_and_get_events(ring);
        return;
    }
    uint64_t deadline = ic__timers_next(r);
    /*
     * Messages still in an overflow queue: the target's ring was full. The
     * target wakes us when it makes room (the ring's producer_waits, smp.c);
     * IC__OVERFLOW_RETRY_NS bounds the sleep anyway.
     */
    if (r->ndirty && deadline > r->now + IC__OVERFLOW_RETRY_NS)
        deadline = r->now + IC__OVERFLOW_RETRY_NS;
    unsigned kind = 0;
    uint64_t bound = deadline > r->now ? spin_bound(r, &kind) : 0; /* a timer already due: nothing to wait for */
    if (bound) {
        io_uring_submit(ring);
        if (spin(r, bound, deadline, kind))
            return;
    }
    atomic_store_explicit(&r->sh->sleeping, 1, memory_order_relaxed);
    /* Pairs with the fences in ic__smp_flush and ic_reactor_post: either we see its message or post, or it sees `sleeping`. */
    atomic_thread_fence(memory_order_seq_cst);
    if (ic__smp_incoming(r) || ic__posts_pending(r) || (r->ndirty && ic__smp_outbox_room(r)) ||
        (atomic_load_explicit(&ic__rt->stop_requested, memory_order_relaxed) && !r->stopping) ||
        (atomic_load_explicit(&ic__rt->abort_requested, memory_order_relaxed) && !r->aborting)) {
        atomic_store_explicit(&r->sh->sleeping, 0, memory_order_relaxed);
        io_uring_submit_and_get_events(ring);
        return;
    }
    IC__STAT_INC(r, sleeps);
    struct io_uring_cqe *cqe;
    uint64_t asleep = ic_clock_ns();
    if (deadline != UINT64_MAX) {
        uint64_t now = asleep;
        uint64_t wait = deadline > now ? deadline - now : 0;
        struct __kernel_timespec ts = {.tv_sec = (long long)(wait / 1000000000u), .tv_nsec = (long long)(wait % 1000000000u)};
        io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL); /* -ETIME: a timer is due */
    } else {
        io_uring_submit_and_wait(ring, 1);
    }
    IC__STAT_ADD(r, sleep_ns, ic_clock_ns() - asleep);
    atomic_store_explicit(&r->sh->sleeping, 0, memory_order_relaxed);
}

/*
 * While stopping, the reactor tells the coordinator whether it is quiet: no
 * task queued, no request of its own in flight, nothing batched, no
 * reference held. Before it does any work it publishes "busy" under a new
 * epoch (with a full fence, so the coordinator cannot read "quiet" while
 * work runs); after a turn that leaves it quiet it publishes "quiet" and
 * pokes the coordinator. runtime.c explains why two equal reads of every
 * reactor's state prove that nothing is left anywhere.
 */
static void publish_busy(struct ic__reactor *r)
{
    if (r->busy_published)
        return;
    r->busy_published = true;
    r->epoch++;
    atomic_store_explicit(&r->sh->state, r->epoch << 1, memory_order_seq_cst);
}

static void publish_if_quiet(struct ic__reactor *r)
{
    bool quiet = !r->task_head && r->outstanding == 0 && r->out_pending == 0 && r->refs == 0 && !ic__smp_incoming(r) &&
                 !ic__posts_pending(r);
    if (!quiet || !r->busy_published)
        return;
    r->busy_published = false;
    atomic_store_explicit(&r->sh->state, r->epoch << 1 | 1, memory_order_release);
    ic__coordinator_poke();
}

static void begin_stop(struct ic__reactor *r)
{
    r->stopping = true;
    publish_busy(r);
    if (ic__rt->cfg.on_stop)
        ic__rt->cfg.on_stop(ic__rt->cfg.arg);
    /* Each hook is unlinked before it runs: it may register or remove others (or itself again) as it goes. */
    while (r->stop_hooks) {
        ic_stop_hook_t *h = r->stop_hooks;
        ic_reactor_on_stop_remove(h);
        h->fn(h);
    }
}

/*
 * An exit without draining (ic_reactor_abort): on_abort lets go of what this
 * core still waits for, then the loop goes on as in a stop, so that what it
 * let go of (closed connections, answers on their way home from other cores,
 * the tasks that free things) is freed here, on this core, before the exit.
 */
static void begin_abort(struct ic__reactor *r)
{
    if (!r->stopping)
        begin_stop(r);
    r->aborting = true;
    publish_busy(r);
    /*
     * Counted after "busy" was published (both sequentially consistent): the coordinator, which reads the states
     * only once every reactor counted itself, never takes a "quiet" from before the abort for the end of it.
     */
    atomic_fetch_add(&ic__rt->aborted, 1);
    if (ic__rt->cfg.on_abort)
        ic__rt->cfg.on_abort(ic__rt->cfg.arg);
}

static void stop_hook_task(ic_task_t *t)
{
    ic_stop_hook_t *h = (ic_stop_hook_t *)((char *)t - offsetof(ic_stop_hook_t, _task));
    h->_posted = false;
    h->fn(h);
}

void ic_reactor_on_stop(ic_stop_hook_t *h)
{
    struct ic__reactor *r = ic__self;
    if (!r || h->_on || h->_posted)
        return; /* registering twice is a no-op, also while the first one's task waits to run */
    if (r->stopping) {
        h->_posted = true;
        ic_task_post(&h->_task, stop_hook_task);
        return;
    }
    h->_on = true;
    h->_prev = NULL;
    h->_next = r->stop_hooks;
    if (r->stop_hooks)
        r->stop_hooks->_prev = h;
    r->stop_hooks = h;
}

void ic_reactor_on_stop_remove(ic_stop_hook_t *h)
{
    struct ic__reactor *r = ic__self;
    if (!r || !h->_on)
        return;
    if (h->_prev)
        h->_prev->_next = h->_next;
    else
        r->stop_hooks = h->_next;
    if (h->_next)
        h->_next->_prev = h->_prev;
    h->_on = false;
    h->_prev = h->_next = NULL;
}

void ic__reactor_loop(struct ic__reactor *r)
{
    /*
     * The loop order, written once:
     *   1. drain the incoming SPSC rings: run requests, run the done callbacks of answers;
     *      then run what other threads posted (ic_reactor_post), oldest first
     *   2. reap CQEs, in one batch (one io_uring_cq_advance)
     *   3. run the tasks that were ready when this step began
     *   4. fire due timers
     *   5. flush the outgoing message batches and ring the doorbells of sleeping targets
     *   6. submit SQEs, and wait (spin, then sleep) if nothing is left to run
     * A stop request (and an abort, ic_reactor_abort) is noticed at the top of
     * a turn; the exit order from the coordinator ends the loop there, before
     * any new work starts.
     */
    IC__STAT_ADD(r, started_ns, ic_clock_ns());
    for (;;) {
        r->now = ic_clock_ns();
        IC__STAT_INC(r, loops);
        if (atomic_load_explicit(&ic__rt->exit_now, memory_order_acquire))
            break;
        if (!r->aborting && atomic_load_explicit(&ic__rt->abort_requested, memory_order_acquire))
            begin_abort(r);
        else if (!r->stopping && atomic_load_explicit(&ic__rt->stop_requested, memory_order_acquire))
            begin_stop(r);
        else if (r->stopping)
            publish_busy(r);

        r->replied = false;
        ic__smp_drain(r);
        ic__posts_run(r);
        reap(r);
        run_tasks(r);
        ic__timers_run(r);
        ic__smp_flush(r);
        if (r->stopping)
            publish_if_quiet(r);
        submit_and_wait(r);
    }
}

/*
 * Rounds of cancel_all after which tasks that keep posting tasks are left
 * queued (each round runs what the one before posted): the exit stays bounded.
 */
#define IC__EXIT_ROUNDS 1024

/*
 * Cancels every operation still in flight and reaps until the last CQE, so
 * that their owners' callbacks run (with -ECANCELED) and free what they hold.
 * The tasks those callbacks post run too (a connection is freed from a task,
 * so that the functions up its stack may still use it), and whatever they arm
 * is cancelled in the next round, until neither an operation nor a task is
 * left. (After a drain there is no task: the loop ended on a quiet turn.)
 */
static void cancel_all(struct ic__reactor *r)
{
    /* A callback may have armed a new op while we reaped: cancel again each round. */
    for (unsigned round = 0; r->ops_inflight || (r->task_head && round < IC__EXIT_ROUNDS); round++) {
        if (r->ops_inflight) {
            struct io_uring_sqe *sqe = get_sqe(r);
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data(sqe, &cancel_op);
            io_uring_submit_and_wait(&r->ring, 1);
            reap(r);
        }
        run_tasks(r);
    }
    if (r->task_head)
        ic_log(IC_LOG_WARN, "%u task(s) still queued at the exit, after %u rounds: not run", r->task_count, IC__EXIT_ROUNDS);
}

void ic__reactor_fini(struct ic__reactor *r)
{
    r->exiting = true;
    /* First: a post's callback may still stop a timer or cancel an op, which the steps below then clean up. */
    ic__posts_close(r);
    /*
     * An exit without draining that came before this reactor ran on_abort (the grace period ran out while it was
     * busy): it lets go of what it holds now, so that the cancellations below free it.
     */
    if (r->ring_ok && !r->aborting && ic__rt->cfg.on_abort &&
        atomic_load_explicit(&ic__rt->abort_requested, memory_order_acquire) && atomic_load(&ic__rt->start_err) == 0)
        begin_abort(r);
    if (r->ring_ok) {
        cancel_all(r);
        io_uring_queue_exit(&r->ring);
        r->ring_ok = false;
    }
    /* After the ring: the kernel no longer writes into the io module's buffers. */
    if (r->io_fini)
        r->io_fini(r->io);
    r->io = NULL;
    r->io_fini = NULL;
    ic__timers_fini(r);
    ic__smp_reactor_fini(r);
    if (r->schedstat_fd >= 0)
        close(r->schedstat_fd);
    r->schedstat_fd = -1;
}
