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
 * (+ 2 ms of sampling slack). A reactor pays one uncontended mutex
 * lock/unlock pair on entering and on leaving, and no system call.
 *
 * The mutex is what makes the race safe: the watchdog terminates only while
 * it holds it and sees the same live entry; the reactor leaves under it and
 * cancels a termination that arrived after its JS was done.
 *
 * The same samples are published for placement (ic_js_entry_busy): how
 * much CPU time the entry a reactor is inside has used, as of the last
 * sample, in a per-core cache-line-aligned slot that the watchdog writes
 * and the reactor clears on leaving (one relaxed store under the lock it
 * already holds); nothing is added to an entry.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "js/internal.hh"

struct ic__js_watch {
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    clockid_t clock;
    v8::Isolate *isolate = nullptr; /* in an entry when not null */
    uint64_t gen = 0;
    uint64_t limit_ns = 0;
    bool fired = false;
    /* the watchdog's own notes */
    uint64_t seen_gen = 0, seen_cpu = 0;
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

static uint64_t cpu_ns(clockid_t c)
{
    struct timespec ts;
    if (clock_gettime(c, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *watchdog_main(void *)
{
    for (;;) {
        struct timespec tick = {0, 2 * 1000 * 1000};
        nanosleep(&tick, nullptr);
        if (!__atomic_load_n(&running, __ATOMIC_ACQUIRE))
            return nullptr;
        pthread_mutex_lock(&list_lock);
        for (ic__js_watch *wt = watches; wt; wt = wt->next) {
            pthread_mutex_lock(&wt->lock);
            if (wt->isolate && !wt->fired) {
                uint64_t now = cpu_ns(wt->clock);
                if (wt->seen_gen != wt->gen) {
                    wt->seen_gen = wt->gen;
                    wt->seen_cpu = now;
                } else {
                    uint64_t used = now - wt->seen_cpu;
                    if (wt->core >= 0)
                        __atomic_store_n(&busy[wt->core].ns, used, __ATOMIC_RELAXED);
                    if (used > wt->limit_ns) {
                        wt->isolate->TerminateExecution();
                        wt->fired = true;
                    }
                }
            }
            pthread_mutex_unlock(&wt->lock);
        }
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
    __atomic_store_n(&running, false, __ATOMIC_RELEASE);
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
    pthread_mutex_lock(&wt->lock);
    wt->isolate = isolate;
    wt->gen++;
    wt->limit_ns = (uint64_t)cpu_ms * 1000000u;
    wt->fired = false;
    pthread_mutex_unlock(&wt->lock);
}

bool ic__js_watch_fired(ic__js_watch *wt)
{
    pthread_mutex_lock(&wt->lock);
    bool fired = wt->fired;
    pthread_mutex_unlock(&wt->lock);
    return fired;
}

bool ic__js_watch_leave(ic__js_watch *wt)
{
    pthread_mutex_lock(&wt->lock);
    v8::Isolate *isolate = wt->isolate;
    bool fired = wt->fired;
    wt->isolate = nullptr;
    wt->fired = false;
    if (wt->core >= 0)
        __atomic_store_n(&busy[wt->core].ns, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&wt->lock);
    /* A termination that arrived as the JS finished must not hit the next entry. */
    if (fired)
        isolate->CancelTerminateExecution();
    return fired;
}

uint64_t ic_js_entry_busy(unsigned core)
{
    return core < IC_MAX_CORES ? __atomic_load_n(&busy[core].ns, __ATOMIC_RELAXED) : 0;
}
