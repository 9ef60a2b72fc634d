/*
 * runtime.c: starting the reactors (one thread per CPU, pinned), stopping
 * them (signals, ic_reactor_stop) and the shutdown coordinator.
 *
 * Shutdown. A stop request makes every reactor run on_stop once and keep
 * looping. While stopping, each reactor publishes in its shared block either
 * "busy" under a fresh epoch (before it does any work) or "quiet" (after a
 * turn that left no task, no request of its own in flight, no message
 * batched and no reference). The coordinator (the thread in
 * ic_reactor_wait) reads every block twice; if all are quiet with the same
 * epochs both times, there was a moment between the two reads when every
 * reactor was idle at once. A message in flight at that moment would have a
 * busy origin (its origin counts it outstanding until the answer is home),
 * so there was none, and nothing can start again but a timer or an
 * unreferenced I/O completion. The coordinator then tells the reactors to
 * exit, and each cancels its pending operations and frees what it owns.
 *
 * An exit without draining (ic_reactor_abort, a second signal) is the same
 * wait after every reactor ran on_abort (which lets go of what its core
 * holds), bounded by IC_ABORT_GRACE_MS: see ic_reactor_wait.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "fault.h"
#include "internal.h"

struct ic__runtime *ic__rt;
/* The start gate: reactors report their set-up, then wait until the starting thread lets them all run. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static unsigned gate_ready;
static bool gate_open;
static sigset_t old_mask;

void ic_reactor_config_init(ic_reactor_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->pin = true;
    cfg->ring_entries = 1024;
    cfg->cq_entries = 8192;
    cfg->smp_ring = 1024;
    cfg->spin_us = 20;
    cfg->doorbell = IC_DOORBELL_DEFAULT;
    cfg->handle_signals = true;
}

unsigned ic_reactor_count(void)
{
    return ic__rt ? ic__rt->n : 0;
}

int ic_reactor_cpu(unsigned i)
{
    return ic__rt && i < ic__rt->n ? ic__rt->r[i].cpu : -1;
}

const char *ic_reactor_mode(void)
{
    return ic__rt && ic__rt->mode ? ic__rt->mode : "none";
}

void ic_reactor_stats(unsigned i, ic_reactor_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!ic__rt || i >= ic__rt->n)
        return;
    const ic_reactor_stats_t *s = &ic__rt->r[i].stats;
    out->loops = __atomic_load_n(&s->loops, __ATOMIC_RELAXED);
    out->sleeps = __atomic_load_n(&s->sleeps, __ATOMIC_RELAXED);
    out->wakeups_sent = __atomic_load_n(&s->wakeups_sent, __ATOMIC_RELAXED);
    out->msgs_sent = __atomic_load_n(&s->msgs_sent, __ATOMIC_RELAXED);
    out->msgs_run = __atomic_load_n(&s->msgs_run, __ATOMIC_RELAXED);
    out->ring_overflow = __atomic_load_n(&s->ring_overflow, __ATOMIC_RELAXED);
    out->cqes = __atomic_load_n(&s->cqes, __ATOMIC_RELAXED);
    out->sleep_ns = __atomic_load_n(&s->sleep_ns, __ATOMIC_RELAXED);
    out->started_ns = __atomic_load_n(&s->started_ns, __ATOMIC_RELAXED);
    out->spins = __atomic_load_n(&s->spins, __ATOMIC_RELAXED);
    out->spin_hits = __atomic_load_n(&s->spin_hits, __ATOMIC_RELAXED);
    out->spin_ns = __atomic_load_n(&s->spin_ns, __ATOMIC_RELAXED);
}

void ic__coordinator_poke(void)
{
    uint64_t one = 1;
    ssize_t n = write(ic__rt->coord_fd, &one, sizeof(one));
    (void)n; /* the counter cannot overflow in practice; a failed poke only delays the next check */
}

void ic_reactor_stop(void)
{
    struct ic__runtime *rt = ic__rt;
    if (!rt)
        return;
    atomic_store(&rt->stop_requested, 1);
    ic__coordinator_poke();
}

/*
 * What ic_reactor_aborting reads: a process-wide word rather than the
 * runtime's, because threads that are not reactors read it (the JS CPU
 * watchdog, every 2 ms) and the runtime is freed under them at the exit.
 */
static _Atomic int aborting_now;

static void request_abort(struct ic__runtime *rt)
{
    atomic_store(&aborting_now, 1);
    atomic_store(&rt->stop_requested, 1);
    atomic_store(&rt->abort_requested, 1);
}

void ic_reactor_abort(void)
{
    struct ic__runtime *rt = ic__rt;
    if (!rt)
        return;
    request_abort(rt);
    ic__coordinator_poke();
}

bool ic_reactor_aborting(void)
{
    return atomic_load_explicit(&aborting_now, memory_order_relaxed);
}

static void *reactor_main(void *p)
{
    struct ic__reactor *r = p;
    ic__self = r;
    int ret = ic__reactor_init(r);
    if (ret < 0) {
        int zero = 0;
        atomic_compare_exchange_strong(&ic__rt->start_err, &zero, ret);
    }
    /* Nobody sends a message before every ring and doorbell exists. */
    pthread_mutex_lock(&gate_lock);
    gate_ready++;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    if (atomic_load(&ic__rt->start_err) == 0) {
        if (ic__rt->cfg.on_start)
            ic__rt->cfg.on_start(ic__rt->cfg.arg);
        ic__reactor_loop(r);
    }
    ic__reactor_fini(r);
    ic__self = NULL;
    return NULL;
}

/* The CPUs of the process's affinity mask, in order. Returns their count. */
static int affinity_cpus(int *cpus, int max)
{
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return -errno;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++) {
        if (CPU_ISSET(c, &set))
            cpus[n++] = c;
    }
    return n;
}

unsigned ic_reactor_planned(const ic_reactor_config_t *cfg)
{
    int cpus[IC_MAX_CORES];
    if (cfg && cfg->cores)
        return cfg->cores;
    int n = affinity_cpus(cpus, IC_MAX_CORES);
    return n > 0 ? (unsigned)n : 1;
}

static void runtime_free(struct ic__runtime *rt)
{
    ic__smp_fini(rt);
    for (unsigned i = 0; rt->sh && i < rt->n; i++) {
        if (rt->sh[i].event_fd >= 0)
            close(rt->sh[i].event_fd);
    }
    if (rt->coord_fd >= 0)
        close(rt->coord_fd);
    if (rt->signal_fd >= 0)
        close(rt->signal_fd);
    free(rt->sh);
    free(rt->r);
    free(rt);
}

static int runtime_alloc(const ic_reactor_config_t *cfg, struct ic__runtime **out)
{
    static int cpus[CPU_SETSIZE];
    int ncpu = affinity_cpus(cpus, CPU_SETSIZE);
    if (ncpu <= 0)
        return ncpu < 0 ? ncpu : -EINVAL;
    unsigned n = cfg->cores ? cfg->cores : (unsigned)ncpu;
    if (n > IC_MAX_CORES || cfg->smp_ring < 2 || (cfg->smp_ring & (cfg->smp_ring - 1)) || cfg->ring_entries == 0 ||
        cfg->cq_entries < cfg->ring_entries)
        return -EINVAL;

    struct ic__runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return -ENOMEM;
    rt->n = n;
    rt->cfg = *cfg;
    rt->coord_fd = rt->signal_fd = -1;
    /*
     * msg_ring by default. bench_smp on this 2-vCPU VM, both cores asleep,
     * medians of 3 runs x 2 pairs: hop p50 27.0 us / p99 69 us with msg_ring,
     * 28.5 us / 69 us with eventfd, a tie within this VM's noise (most of it
     * is the hypervisor waking an idle vCPU). msg_ring wins on the sender's
     * cost: its SQE goes out with the io_uring_enter the loop makes anyway,
     * where eventfd costs a write(2) per wake-up.
     */
    rt->doorbell = cfg->doorbell == IC_DOORBELL_DEFAULT ? IC_DOORBELL_MSG_RING : cfg->doorbell;
    rt->r = ic__alloc_lines(sizeof(*rt->r) * n);
    rt->sh = ic__alloc_lines(sizeof(*rt->sh) * n);
    if (!rt->r || !rt->sh) {
        runtime_free(rt);
        return -ENOMEM;
    }
    memset(rt->r, 0, sizeof(*rt->r) * n);
    memset(rt->sh, 0, sizeof(*rt->sh) * n);
    for (unsigned i = 0; i < n; i++)
        rt->sh[i].event_fd = -1;
    bool pin = cfg->pin && n <= (unsigned)ncpu;
    for (unsigned i = 0; i < n; i++) {
        rt->r[i].id = i;
        rt->r[i].schedstat_fd = -1; /* opened on the reactor's thread (ic__reactor_init) */
        rt->r[i].cpu = pin ? cpus[i] : -1;
        rt->r[i].sh = &rt->sh[i];
        /* Blocking eventfd: io_uring would fail reads of an O_NONBLOCK one with -EAGAIN instead of waiting. */
        rt->sh[i].event_fd = eventfd(0, EFD_CLOEXEC);
        if (rt->sh[i].event_fd < 0)
            goto err;
    }
    rt->coord_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rt->coord_fd < 0)
        goto err;
    *out = rt;
    return 0;
err:;
    int e = -errno;
    runtime_free(rt);
    return e;
}

int ic_reactor_start(const ic_reactor_config_t *cfg)
{
    ic_reactor_config_t defaults;
    struct ic__runtime *rt = NULL;
    sigset_t block;
    unsigned created = 0;
    int ret;

    if (ic__rt)
        return -EALREADY;
    ret = ic__fault_configure();
    if (ret < 0)
        return ret;
    if (!cfg) {
        ic_reactor_config_init(&defaults);
        cfg = &defaults;
    }
    ret = runtime_alloc(cfg, &rt);
    if (ret < 0)
        return ret;
    ic__rt = rt;
    ret = ic__smp_init(rt);
    if (ret < 0)
        goto err;

    /* Reactor threads never take SIGINT/SIGTERM: they inherit this mask. The waiting thread reads them from a signalfd. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    if (cfg->on_hup)
        sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old_mask);
    if (cfg->handle_signals) {
        /*
         * A shell starts background jobs with SIGINT ignored, and an ignored
         * signal is discarded even while blocked: restore the default action
         * so that signalfd sees it (it stays blocked, so the action never runs).
         */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (cfg->on_hup)
            signal(SIGHUP, SIG_DFL);
        rt->signal_fd = signalfd(-1, &block, SFD_CLOEXEC | SFD_NONBLOCK);
        if (rt->signal_fd < 0) {
            ret = -errno;
            pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
            goto err;
        }
    }

    gate_ready = 0;
    gate_open = false;
    for (; created < rt->n; created++) {
        struct ic__reactor *r = &rt->r[created];
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        if (r->cpu >= 0) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(r->cpu, &one);
            /* Pinned from its first instruction, so its ring and memory are set up on its own CPU. */
            pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
        }
        ret = -pthread_create(&r->thread, &attr, reactor_main, r);
        pthread_attr_destroy(&attr);
        if (ret < 0) {
            int zero = 0;
            atomic_compare_exchange_strong(&rt->start_err, &zero, ret);
            break;
        }
    }
    pthread_mutex_lock(&gate_lock);
    while (gate_ready < created)
        pthread_cond_wait(&gate_cond, &gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);

    if (!cfg->handle_signals)
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    ret = atomic_load(&rt->start_err);
    if (ret < 0) {
        /* Every reactor saw start_err after the gate and went straight to its clean-up. */
        for (unsigned i = 0; i < created; i++)
            pthread_join(rt->r[i].thread, NULL);
        if (cfg->handle_signals)
            pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        goto err;
    }
    if (!cfg->quiet)
        ic_log(IC_LOG_INFO, "%u reactor(s), %s, io_uring %s, %s doorbell", rt->n, rt->r[0].cpu >= 0 ? "pinned" : "not pinned",
               rt->mode, rt->doorbell == IC_DOORBELL_MSG_RING ? "msg_ring" : "eventfd");
    return 0;

err:
    ic__rt = NULL;
    runtime_free(rt);
    return ret;
}

/* True when every reactor reads quiet twice with the same epoch (see the top of this file). */
static bool all_quiet(struct ic__runtime *rt)
{
    uint64_t first[IC_MAX_CORES];
    for (unsigned i = 0; i < rt->n; i++) {
        first[i] = atomic_load_explicit(&rt->sh[i].state, memory_order_acquire);
        if (!(first[i] & 1))
            return false;
    }
    atomic_thread_fence(memory_order_seq_cst);
    for (unsigned i = 0; i < rt->n; i++) {
        if (atomic_load_explicit(&rt->sh[i].state, memory_order_acquire) != first[i])
            return false;
    }
    return true;
}

static void wake_all(struct ic__runtime *rt)
{
    for (unsigned i = 0; i < rt->n; i++)
        ic__doorbell_eventfd(i);
}

/*
 * The exit without draining (ic_reactor_abort, a second signal): the
 * reactors run on_abort and let go of what they hold; this waits for them
 * to be quiet as after a drain, but IC_ABORT_GRACE_MS at most (or until a
 * third signal): then they exit with what is left, which their exit
 * cancels (what a core still waits for from another core is abandoned).
 * Without an on_abort the exit comes at once.
 */
int ic_reactor_wait(void)
{
    struct ic__runtime *rt = ic__rt;
    bool stopping = false, aborting = false;
    uint64_t abort_deadline = 0;
    if (!rt)
        return -EINVAL;

    for (;;) {
        struct pollfd pfd[2] = {{.fd = rt->coord_fd, .events = POLLIN}, {.fd = rt->signal_fd, .events = POLLIN}};
        int timeout = -1;
        if (aborting) {
            uint64_t now = ic_clock_ns();
            if (now >= abort_deadline) {
                ic_log(IC_LOG_WARN, "the exit without draining did not end within %u ms: abandoning what is left",
                       IC_ABORT_GRACE_MS);
                break;
            }
            timeout = (int)((abort_deadline - now) / 1000000) + 1;
        }
        int r = poll(pfd, rt->signal_fd >= 0 ? 2 : 1, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (rt->signal_fd >= 0 && (pfd[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            ssize_t got = read(rt->signal_fd, &si, sizeof(si));
            if (got == sizeof(si) && si.ssi_signo == SIGHUP) {
                if (!stopping)
                    rt->cfg.on_hup(rt->cfg.arg);
            } else if (got == sizeof(si)) {
                if (aborting) {
                    ic_log(IC_LOG_WARN, "third %s: exiting now", strsignal((int)si.ssi_signo));
                    break;
                }
                if (stopping) {
                    ic_log(IC_LOG_WARN, "second %s: exiting without draining", strsignal((int)si.ssi_signo));
                    request_abort(rt);
                }
                if (!stopping)
                    ic_log(IC_LOG_INFO, "%s: stopping (draining in-flight work)", strsignal((int)si.ssi_signo));
                atomic_store(&rt->stop_requested, 1);
            }
        }
        if (pfd[0].revents & POLLIN) {
            uint64_t v;
            ssize_t n = read(rt->coord_fd, &v, sizeof(v));
            (void)n;
        }
        if (!stopping && atomic_load(&rt->stop_requested)) {
            stopping = true;
            wake_all(rt);
        }
        if (!aborting && atomic_load(&rt->abort_requested)) {
            if (!rt->cfg.on_abort)
                break; /* nothing would let go of what is held: the exit cancels it at once */
            aborting = true;
            abort_deadline = ic_clock_ns() + (uint64_t)IC_ABORT_GRACE_MS * 1000000;
            wake_all(rt);
        }
        /* After an abort, a "quiet" counts only once every reactor ran on_abort (begin_abort, reactor.c). */
        if (stopping && (!aborting || atomic_load(&rt->aborted) == rt->n) && all_quiet(rt))
            break;
    }
    atomic_store_explicit(&rt->exit_now, 1, memory_order_release);
    wake_all(rt);
    for (unsigned i = 0; i < rt->n; i++)
        pthread_join(rt->r[i].thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    ic__rt = NULL;
    runtime_free(rt);
    atomic_store(&aborting_now, 0);
    ic__fault_report();
    return 0;
}

int ic_reactor_run(const ic_reactor_config_t *cfg)
{
    int ret = ic_reactor_start(cfg);
    return ret < 0 ? ret : ic_reactor_wait();
}

/* ---- logging ------------------------------------------------------------- */

static _Atomic int log_level = -1;

void ic_log_set_level(ic_log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

static int current_level(void)
{
    int l = atomic_load_explicit(&log_level, memory_order_relaxed);
    if (l >= 0)
        return l;
    const char *e = getenv("ISOCORE_LOG");
    l = IC_LOG_INFO;
    if (e && !strcmp(e, "debug"))
        l = IC_LOG_DEBUG;
    else if (e && !strcmp(e, "warn"))
        l = IC_LOG_WARN;
    else if (e && !strcmp(e, "error"))
        l = IC_LOG_ERROR;
    atomic_store(&log_level, l);
    return l;
}

void ic_log(ic_log_level_t level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[1024];
    int n;
    if ((int)level < current_level())
        return;
    if (ic__self)
        n = snprintf(line, sizeof(line), "isocore[core %u] %s: ", ic__self->id, names[level]);
    else
        n = snprintf(line, sizeof(line), "isocore %s: ", names[level]);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line, so lines from different cores do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
