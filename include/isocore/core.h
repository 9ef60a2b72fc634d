/*
 * isocore/core.h: reactors, io_uring operations, tasks, timers and
 * core-to-core messaging.
 *
 * Threading contract. The process runs one reactor thread per core. Every
 * function below is called on a reactor thread and acts on that thread's
 * reactor ("the current reactor"), except where it says otherwise:
 * ic_reactor_start/wait/run/stop and ic_reactor_config_init are called from
 * the thread that owns the reactors (normally main), ic_reactor_stop is
 * also safe from any thread and from a signal handler, and ic_reactor_post
 * is how a thread that is not a reactor hands work to one.
 *
 * Handles (ic_op_t, ic_task_t, ic_timer_t) are structs the caller embeds in
 * its own objects; isocore never allocates or frees them. Fields whose name
 * starts with '_' are private.
 *
 * If a call that takes a callback fails, the callback is never called.
 */
#ifndef ISOCORE_CORE_H
#define ISOCORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <liburing.h>

#include "isocore/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IC_MAX_CORES 256

/* How a sender wakes a sleeping reactor. */
typedef enum ic_doorbell {
    IC_DOORBELL_DEFAULT = 0, /* the faster of the two, as measured by bench/smp */
    IC_DOORBELL_MSG_RING,    /* io_uring_prep_msg_ring into the target's ring */
    IC_DOORBELL_EVENTFD,     /* write(2) to an eventfd the target reads through its ring */
} ic_doorbell_t;

typedef struct ic_reactor_config {
    unsigned cores;        /* reactors to run; 0 = one per CPU of the affinity mask */
    bool pin;              /* pin reactor i to the i-th CPU of the mask (when cores <= CPUs) */
    unsigned ring_entries; /* io_uring SQ entries per reactor */
    unsigned cq_entries;   /* io_uring CQ entries per reactor (sized so the CQ does not overflow) */
    unsigned smp_ring;     /* capacity of each SPSC ring, a power of two (usable: smp_ring - 1) */
    unsigned spin_us;      /* at most how long a pinned reactor waiting for another core polls before it sleeps (unpinned: 0) */
    ic_doorbell_t doorbell;
    /* Poll the whole spin_us even while other threads preempt the reactor's (else 5 µs at most then): for benchmarks. */
    bool spin_contended;
    bool handle_signals; /* SIGINT/SIGTERM stop the reactors (ic_reactor_wait handles them) */
    bool quiet;          /* no start-up log line */
    /* Runs on every reactor once all reactors are up; messages may be sent from it. */
    void (*on_start)(void *arg);
    /* Runs on every reactor once when a stop is requested: close listeners, stop timers. */
    void (*on_stop)(void *arg);
    /*
     * Runs on every reactor once when the stop becomes an exit without draining (a second SIGINT/SIGTERM, or
     * ic_reactor_abort), after on_stop: let go of what waits, on this core — answer or drop the requests in progress,
     * close connections, dispose isolates — so that the reactor can exit and free what it owns (ic_reactor_abort).
     */
    void (*on_abort)(void *arg);
    /* With handle_signals: runs on the thread in ic_reactor_wait for each SIGHUP (e.g. reload a config). */
    void (*on_hup)(void *arg);
    void *arg;
} ic_reactor_config_t;

/** Fills *cfg with the defaults. This function can't fail. */
void ic_reactor_config_init(ic_reactor_config_t *cfg);

/**
 * Starts the reactors described by cfg and returns once every one of them
 * has set up its io_uring and is running its loop (on_start has been queued
 * on each). Returns 0, -EINVAL for a bad config, -EALREADY if reactors run,
 * or -errno from thread or ring creation (then nothing is left running).
 * Call from the thread that will call ic_reactor_wait.
 */
int ic_reactor_start(const ic_reactor_config_t *cfg);

/**
 * Blocks until the reactors have stopped: after ic_reactor_stop (or SIGINT /
 * SIGTERM with handle_signals), on_stop runs on each reactor, then the
 * reactors keep running until no message is in flight, no task is queued and
 * no reference (ic_reactor_ref) is held anywhere, then they exit, cancel
 * their pending io_uring operations and free what they own. A second SIGINT /
 * SIGTERM is ic_reactor_abort (a third exits at once). Returns 0, or
 * -EINVAL if no reactors were started.
 */
int ic_reactor_wait(void);

/**
 * How many reactors ic_reactor_start(cfg) would run: cfg->cores, or else the
 * number of CPUs in the affinity mask (so listeners can be made for them
 * first). Any thread. This function can't fail.
 */
unsigned ic_reactor_planned(const ic_reactor_config_t *cfg);

/** ic_reactor_start then ic_reactor_wait. */
int ic_reactor_run(const ic_reactor_config_t *cfg);

/** Requests a stop. Safe from any thread and from a signal handler. */
void ic_reactor_stop(void);

/**
 * Turns the stop into an exit without draining (what a second SIGINT or
 * SIGTERM does with handle_signals): a stop is requested if none was, and
 * every reactor runs the config's on_abort at the top of its next turn, then
 * goes on looping, so that what on_abort let go of is freed on its own core
 * (connections closed, answers of other cores come home, tasks run). The
 * reactors exit once nothing is left, as after a drain, or at the latest
 * IC_ABORT_GRACE_MS after the call: then what is still in flight is
 * cancelled and abandoned. Without an on_abort in the config the reactors
 * exit at once (nothing would let go of what they hold). Safe from any
 * thread (not a signal handler).
 */
void ic_reactor_abort(void);

/** How long ic_reactor_wait waits at most, after ic_reactor_abort, for the reactors to let go of everything. */
#define IC_ABORT_GRACE_MS 2000

/** True once ic_reactor_abort was called (or a second signal came), until the reactors exited. Any thread. */
bool ic_reactor_aborting(void);

/** The current reactor's index in [0, ic_reactor_count()), or -1 off reactor threads. */
int ic_reactor_id(void);

/** Number of running reactors (0 when none). Any thread. */
unsigned ic_reactor_count(void);

/** The CPU reactor i is pinned to, or -1 when not pinned. Any thread. */
int ic_reactor_cpu(unsigned i);

/** The io_uring set-up mode in use: "defer_taskrun", "coop_taskrun" or "plain". Any thread. */
const char *ic_reactor_mode(void);

/** Monotonic time in nanoseconds, cached at the start of the loop turn. */
uint64_t ic_reactor_now(void);

/** Monotonic time in nanoseconds, read now. Any thread. */
uint64_t ic_clock_ns(void);

/**
 * References keep a stopping reactor alive: it does not exit while its
 * count is above zero (a connection being drained, say). Balanced calls.
 */
void ic_reactor_ref(void);
void ic_reactor_unref(void);

/* ---- io_uring operations ---------------------------------------------- */

typedef struct ic_op ic_op_t;
/* res is the CQE's res (>= 0 or -errno); flags its flags (IORING_CQE_F_MORE …). */
typedef void (*ic_op_cb)(ic_op_t *op, int res, unsigned flags);

/* The first field of every operation struct: the CQE's user_data points here. */
struct ic_op {
    ic_op_cb cb;
};

/**
 * Returns an SQE of the current reactor's ring whose user_data is op; the
 * caller preps it (io_uring_prep_*; set user_data again only via
 * io_uring_sqe_set_data(sqe, op)). op->cb runs for each of its CQEs; the op
 * counts as in flight until a CQE without IORING_CQE_F_MORE. Submission
 * happens at the end of the loop turn. Never returns NULL: a full SQ is
 * submitted first.
 */
struct io_uring_sqe *ic_reactor_sqe(ic_op_t *op);

/** The current reactor's ring, for io_uring calls not wrapped here. */
struct io_uring *ic_reactor_ring(void);

/* ---- tasks --------------------------------------------------------------- */

typedef struct ic_task ic_task_t;
typedef void (*ic_task_cb)(ic_task_t *task);

struct ic_task {
    ic_task_cb cb;
    ic_task_t *_next;
};

/** Queues task to run on the current reactor, in FIFO order, in a later step of this loop turn or the next. */
void ic_task_post(ic_task_t *task, ic_task_cb cb);

/*
 * A stop hook: fn runs once on the reactor that registered it, when that
 * reactor begins to stop (right after the config's on_stop), so that state
 * kept for later use (idle pooled connections, a resolver's sockets) lets go
 * of the reactor and it can exit. Embed the struct in your own object;
 * registering on a reactor that is already stopping runs fn from a task
 * (which ic_reactor_on_stop_remove does not stop).
 */
typedef struct ic_stop_hook ic_stop_hook_t;
struct ic_stop_hook {
    void (*fn)(ic_stop_hook_t *h);
    ic_stop_hook_t *_prev, *_next;
    bool _on, _posted; /* listed; or posted to run (the reactor was already stopping) */
    ic_task_t _task;
};

/** Registers h on the current reactor (h->fn must be set). Registering twice is a no-op. */
void ic_reactor_on_stop(ic_stop_hook_t *h);
/** Unregisters h (it will not run). No-op if it is not registered. */
void ic_reactor_on_stop_remove(ic_stop_hook_t *h);

/* ---- work posted from other threads ------------------------------------ */

typedef struct ic_post ic_post_t;
typedef void (*ic_post_cb)(ic_post_t *post);

struct ic_post {
    ic_post_cb cb;
    ic_post_t *_next;
};

/**
 * Queues post to run cb(post) on reactor `core`, from ANY thread (a reactor
 * or not; not from a signal handler). The target runs it soon: at the top of
 * its next loop turn, and a target asleep in io_uring_enter is woken (its
 * eventfd doorbell, written only when its queue of posts goes from empty to
 * non-empty and it sleeps). Posts from one thread to one core run in the
 * order they were posted. The caller owns post and must not post it again
 * until its callback has started; it is never copied or freed by isocore.
 * A post still queued when the target reactor exits runs during that
 * reactor's exit, on its thread, after its loop ended (the callback should
 * only release what it holds then: ic_reactor_exiting() says so).
 * Returns 0, -EINVAL (no such core, or no reactors), or IC_ESHUTDOWN once the
 * target reactor has exited (cb is then never called). Valid only while the
 * reactors exist: a thread must not post once ic_reactor_wait has returned.
 * This call never allocates and never blocks (a lock-free push).
 */
int ic_reactor_post(unsigned core, ic_post_t *post, ic_post_cb cb);

/** True on a reactor thread whose loop has ended (it is running its exit), false otherwise. */
bool ic_reactor_exiting(void);

/* ---- timers -------------------------------------------------------------- */

typedef struct ic_timer ic_timer_t;
typedef void (*ic_timer_cb)(ic_timer_t *timer);

struct ic_timer {
    ic_timer_cb cb;
    uint64_t _deadline;
    uint64_t _repeat;
    uint64_t _seq;
    unsigned _index; /* position in the heap + 1; 0 = not armed */
};

/** Prepares a timer. This function can't fail. */
void ic_timer_init(ic_timer_t *timer, ic_timer_cb cb);

/**
 * Arms timer to fire delay_ns from now, then every repeat_ns if repeat_ns is
 * not 0. Re-arming an armed timer moves it. Timers with equal deadlines fire
 * in the order they were armed. Returns 0 or -ENOMEM.
 * Timers do not keep a stopping reactor alive; stop them in on_stop.
 */
int ic_timer_start(ic_timer_t *timer, uint64_t delay_ns, uint64_t repeat_ns);

/** Disarms timer (no effect if it is not armed). This function can't fail. */
void ic_timer_stop(ic_timer_t *timer);

static inline bool ic_timer_active(const ic_timer_t *timer)
{
    return timer->_index != 0;
}

/* ---- core-to-core messages ----------------------------------------------- */

typedef struct ic_smp_msg ic_smp_msg_t;

/*
 * Runs on the target core. Returns the status passed to done (>= 0 or
 * -errno), or IC_SMP_LATER to answer later with ic_smp_reply (on the target core).
 */
typedef int (*ic_smp_work_cb)(ic_smp_msg_t *msg, void *arg);
/*
 * Runs back on the origin core with work's status. The message is recycled
 * just before, so one ic_smp_submit from done never fails for lack of
 * memory (it can still fail with IC_ESHUTDOWN once the reactors exit).
 */
typedef void (*ic_smp_done_cb)(void *arg, int status);

#define IC_SMP_LATER (-0x7fffffff - 1) /* INT_MIN: never a status */

/**
 * Sends work(arg) to core `core` (the current core is allowed); done(arg,
 * status) runs back on the calling core (done may be NULL). Messages from one
 * core to another run in the order they were submitted. A full ring never
 * drops a message: it waits in the sender's overflow queue. The message is
 * sent at the end of the loop turn (batched).
 * Returns 0, -EINVAL (no such core), -ENOMEM, IC_ENOTREACTOR, or
 * IC_ESHUTDOWN once the reactors are exiting.
 */
int ic_smp_submit(unsigned core, ic_smp_work_cb work, ic_smp_done_cb done, void *arg);

/** Answers a message whose work returned IC_SMP_LATER; call on the target core. */
void ic_smp_reply(ic_smp_msg_t *msg, int status);

/* Per-core counters, written only by their core; read them from anywhere (relaxed). */
typedef struct ic_reactor_stats {
    uint64_t loops;         /* loop turns */
    uint64_t sleeps;        /* times the reactor went to sleep in io_uring_enter */
    uint64_t wakeups_sent;  /* doorbells this core rang */
    uint64_t msgs_sent;     /* requests submitted */
    uint64_t msgs_run;      /* requests run for other cores (and itself) */
    uint64_t ring_overflow; /* messages that went to the overflow queue */
    uint64_t cqes;          /* CQEs reaped */
    uint64_t sleep_ns;      /* time spent asleep in io_uring_enter (the rest of the time since started_ns was work or spinning) */
    uint64_t started_ns;    /* ic_clock_ns() when the reactor started its loop */
    uint64_t spins;         /* polls of the rings before a sleep (only with a reply due, or just after answering a core) */
    uint64_t spin_hits;     /* polls that found work, so that the reactor did not sleep */
    uint64_t spin_ns;       /* time spent polling */
} ic_reactor_stats_t;

/** Copies reactor i's counters (relaxed reads). Any thread while reactors run. */
void ic_reactor_stats(unsigned i, ic_reactor_stats_t *out);

/* ---- logging ------------------------------------------------------------- */

typedef enum ic_log_level { IC_LOG_DEBUG, IC_LOG_INFO, IC_LOG_WARN, IC_LOG_ERROR } ic_log_level_t;

/** Writes one line to stderr, prefixed with the level and the core. Any thread. */
void ic_log(ic_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Lines below this level are not written (default IC_LOG_INFO; ISOCORE_LOG=debug|info|warn|error). */
void ic_log_set_level(ic_log_level_t level);

#ifdef __cplusplus
}
#endif
#endif
