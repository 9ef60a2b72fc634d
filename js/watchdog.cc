/*
 * watchdog.cc: the CPU-time limit of JS entries.
 *
 * One watchdog thread for the process samples, every 2 ms, the CPU clock
 * of each reactor thread that is inside an isolate (pthread_getcpuclockid).
 * A reactor marks an entry with a generation number; the first sample of a
 * generation records the thread's CPU time, and a later sample that finds
 * the same entry more than its limit past that calls TerminateExecution —
 * the one V8 call meant to come from another thread. The entry is thus
 * stopped between limit and limit + 2 ms of CPU time after it began
 * (+ 2 ms of sampling slack).
 *
 * A reactor pays one store (a full fence) on entering and one uncontended
 * compare-and-swap on leaving, no lock and no system call: everything the
 * two threads share about an entry is one atomic word, `state` — the
 * generation and three bits. ACTIVE: the reactor is in the entry. FIRING:
 * the watchdog claimed it and is calling TerminateExecution. FIRED: it did.
 * Only the reactor sets or clears ACTIVE, and only the watchdog sets FIRING
 * and FIRED, each by a compare-and-swap from the exact word it read. So the
 * watchdog terminates only an entry that is still the live one (its CAS
 * from gen|ACTIVE fails once the reactor left or began another), and the
 * reactor's leaving CAS fails while the watchdog holds FIRING: it then
 * waits for FIRED (a few instructions) and cancels the termination, which
 * must not hit its next entry. The isolate is alive while FIRING is held:
 * the reactor cannot leave the entry, let alone dispose of the isolate.
 *
 * Idle, the watchdog sleeps: after IDLE_TICKS samples in a row in which no
 * reactor entered anything (every state word as it was), it announces
 * `asleep` and blocks on it (a futex) once a last look at the words found
 * them unchanged still. An entry stores its state with a full fence and then
 * reads `asleep` (one read of a line that only changes when the watchdog
 * goes to sleep): either the watchdog's last look sees the entry, or the
 * entry sees `asleep` and wakes it (one system call, once per idle period).
 * A process that serves nothing then costs no wake-ups at all (before: 500
 * a second, ≈ 15-30 µs of CPU each on the project's VM), and the watchdog
 * preempts busy reactors less often.
 *
 * An exit without draining (ic_reactor_aborting: a second signal) has no
 * limit: the next sample of an entry that began before it, or during it,
 * terminates it, so that a reactor stuck in JS comes back to its loop and
 * runs its on_abort (it cannot see the abort from inside V8).
 *
 * The same samples are published for placement (ic_js_entry_busy): how
 * much CPU time the entry a reactor is inside has used, as of the last
 * sample, in a per-core cache-line-aligned slot that the watchdog writes
 * and the reactor clears on leaving (one relaxed store); nothing is added
 * to entering.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "js/internal.hh"

enum : uint64_t { W_ACTIVE = 1, W_FIRING = 2, W_FIRED = 4, W_GEN = 8 /* the generation counts in units of this */ };

struct ic__js_watch {
    clockid_t clock;
    std::atomic<uint64_t> state{0};
    /* Written by the reactor before the release store of an entry's state, read by the watchdog after its acquire load. */
    std::atomic<v8::Isolate *> isolate{nullptr};
    std::atomic<uint64_t> limit_ns{0};
    /* the watchdog's own notes */
    uint64_t seen_gen = 0, seen_cpu = 0, seen_state = 0;
    int core = -1; /* the reactor whose busy slot this watch writes, or -1 */
    ic__js_watch *next = nullptr;
};

/* Per reactor: CPU time of the entry it is inside, as of the watchdog's last sample (0: none, or not sampled yet). */
struct alignas(64) busy_slot {
    uint64_t ns;
};
static busy_slot busy[IC_MAX_CORES];

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static ic__js_watch *watches;
static pthread_t thread;
static bool running;
static thread_local ic__js_watch *self;
/* 1 while the watchdog sleeps until an entry wakes it (the futex word). */
static std::atomic<int> asleep{0};
static std::atomic<uint64_t> naps{0};
/* Samples in a row without any entry before the watchdog sleeps (20 ms). */
#define IDLE_TICKS 10

static void futex(std::atomic<int> *word, int op, int val)
{
    syscall(SYS_futex, reinterpret_cast<int *>(word), op | FUTEX_PRIVATE_FLAG, val, nullptr, nullptr, 0);
}

static void wake_watchdog(void)
{
    if (asleep.exchange(0, std::memory_order_seq_cst))
        futex(&asleep, FUTEX_WAKE, 1);
}

/* True when some watch's word is not what the last sample saw (an entry began or ended since). Under list_lock. */
static bool any_changed(void)
{
    for (ic__js_watch *wt = watches; wt; wt = wt->next) {
        if (wt->state.load(std::memory_order_seq_cst) != wt->seen_state)
            return true;
    }
    return false;
}

/* After IDLE_TICKS quiet samples: sleep until an entry wakes us, unless one came in between (see the top). Under list_lock. */
static void sleep_if_idle(unsigned *quiet)
{
    if (++*quiet < IDLE_TICKS)
        return;
    asleep.store(1, std::memory_order_seq_cst);
    if (any_changed() || !__atomic_load_n(&running, __ATOMIC_SEQ_CST)) {
        asleep.store(0, std::memory_order_relaxed);
        return;
    }
    naps.fetch_add(1, std::memory_order_relaxed);
    pthread_mutex_unlock(&list_lock);
    while (asleep.load(std::memory_order_acquire))
        futex(&asleep, FUTEX_WAIT, 1);
    pthread_mutex_lock(&list_lock);
    *quiet = 0;
}

static uint64_t cpu_ns(clockid_t c)
{
    struct timespec ts;
    if (clock_gettime(c, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *watchdog_main(void *)
{
    unsigned quiet = 0;
    for (;;) {
        struct timespec tick = {0, 2 * 1000 * 1000};
        nanosleep(&tick, nullptr);
        if (!__atomic_load_n(&running, __ATOMIC_ACQUIRE))
            return nullptr;
        pthread_mutex_lock(&list_lock);
        bool changed = false;
        /* An exit without draining (ic_reactor_abort) does not wait for JS: every entry is terminated, whatever its limit. */
        bool cut = ic_reactor_aborting();
        for (ic__js_watch *wt = watches; wt; wt = wt->next) {
            uint64_t st = wt->state.load(std::memory_order_acquire);
            changed |= st != wt->seen_state || (st & W_ACTIVE);
            wt->seen_state = st;
            if ((st & (W_ACTIVE | W_FIRING | W_FIRED)) != W_ACTIVE)
                continue;
            uint64_t now = cpu_ns(wt->clock);
            uint64_t gen = st / W_GEN;
            if (wt->seen_gen != gen) {
                wt->seen_gen = gen;
                wt->seen_cpu = now;
                continue;
            }
            if (wt->core >= 0) {
                /*
                 * Published, then checked: had the reactor left meanwhile (its clearing store may come before this one),
                 * the slot is cleared again, so a finished entry never stays busy. Sequentially consistent so that the
                 * check is not done before the store is visible.
                 */
                __atomic_store_n(&busy[wt->core].ns, now - wt->seen_cpu, __ATOMIC_SEQ_CST);
                if (wt->state.load(std::memory_order_seq_cst) != st)
                    __atomic_store_n(&busy[wt->core].ns, 0, __ATOMIC_RELAXED);
            }
            if (!cut && now - wt->seen_cpu <= wt->limit_ns.load(std::memory_order_relaxed))
                continue;
            /* Claimed only if the entry is still the one sampled: the reactor's leave or next enter changes the word. */
            if (!wt->state.compare_exchange_strong(st, st | W_FIRING, std::memory_order_acquire, std::memory_order_relaxed))
                continue;
            wt->isolate.load(std::memory_order_relaxed)->TerminateExecution();
            /* Release: the reactor that sees FIRED cancels a termination that is there to cancel. */
            wt->state.store(st | W_FIRED, std::memory_order_release);
        }
        if (changed)
            quiet = 0;
        else
            sleep_if_idle(&quiet);
        pthread_mutex_unlock(&list_lock);
    }
}

int ic__js_watchdog_start(void)
{
    if (running)
        return 0;
    running = true;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(&thread, nullptr, watchdog_main, nullptr);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (err) {
        running = false;
        return -err;
    }
    return 0;
}

void ic__js_watchdog_stop(void)
{
    if (!running)
        return;
    __atomic_store_n(&running, false, __ATOMIC_SEQ_CST); /* ordered with sleep_if_idle's `asleep` and `running` */
    wake_watchdog();
    pthread_join(thread, nullptr);
    pthread_mutex_lock(&list_lock);
    while (watches) {
        ic__js_watch *next = watches->next;
        delete watches;
        watches = next;
    }
    pthread_mutex_unlock(&list_lock);
}

/* The calling thread's watch, registered on first use; it lives until the watchdog stops. */
ic__js_watch *ic__js_watch_self(void)
{
    if (self)
        return self;
    ic__js_watch *wt = new ic__js_watch();
    if (pthread_getcpuclockid(pthread_self(), &wt->clock) != 0)
        wt->clock = CLOCK_THREAD_CPUTIME_ID; /* not reachable from another thread: the limit then never fires */
    wt->core = ic_reactor_id() < IC_MAX_CORES ? ic_reactor_id() : -1;
    pthread_mutex_lock(&list_lock);
    wt->next = watches;
    watches = wt;
    pthread_mutex_unlock(&list_lock);
    self = wt;
    return wt;
}

void ic__js_watch_enter(ic__js_watch *wt, v8::Isolate *isolate, unsigned cpu_ms)
{
    /* Only this thread changes the generation: a relaxed read of its own last store. */
    uint64_t gen = wt->state.load(std::memory_order_relaxed) / W_GEN + 1;
    wt->isolate.store(isolate, std::memory_order_relaxed);
    wt->limit_ns.store((uint64_t)cpu_ms * 1000000u, std::memory_order_relaxed);
    /*
     * The watchdog that reads this generation sees the isolate and the limit above. Outside an entry (ACTIVE clear) the
     * watchdog never writes the word; the store is a full fence so that `asleep` is read after it (the top of the file).
     */
    wt->state.store(gen * W_GEN | W_ACTIVE, std::memory_order_seq_cst);
    if (asleep.load(std::memory_order_seq_cst))
        wake_watchdog();
}

bool ic__js_watch_fired(ic__js_watch *wt)
{
    return (wt->state.load(std::memory_order_acquire) & (W_FIRING | W_FIRED)) != 0;
}

bool ic__js_watch_leave(ic__js_watch *wt)
{
    uint64_t st = wt->state.load(std::memory_order_relaxed);
    if (!(st & W_ACTIVE))
        return false;
    uint64_t idle = st & ~(W_ACTIVE | W_FIRING | W_FIRED);
    uint64_t expect = idle | W_ACTIVE;
    /* The busy slot is cleared after the state changed (the order watchdog_main's check relies on). */
    if (wt->state.compare_exchange_strong(expect, idle, std::memory_order_seq_cst, std::memory_order_acquire)) {
        if (wt->core >= 0)
            __atomic_store_n(&busy[wt->core].ns, 0, __ATOMIC_RELAXED);
        return false;
    }
    /* The watchdog claimed this entry: wait until its TerminateExecution returned (FIRED), then undo it. */
    while (!(expect & W_FIRED)) {
        sched_yield();
        expect = wt->state.load(std::memory_order_acquire);
    }
    wt->state.store(idle, std::memory_order_seq_cst);
    if (wt->core >= 0)
        __atomic_store_n(&busy[wt->core].ns, 0, __ATOMIC_RELAXED);
    /* A termination that arrived as the JS finished must not hit the next entry. */
    wt->isolate.load(std::memory_order_relaxed)->CancelTerminateExecution();
    return true;
}

uint64_t ic_js_watchdog_naps(void)
{
    return naps.load(std::memory_order_relaxed);
}

uint64_t ic_js_entry_busy(unsigned core)
{
    return core < IC_MAX_CORES ? __atomic_load_n(&busy[core].ns, __ATOMIC_RELAXED) : 0;
}
