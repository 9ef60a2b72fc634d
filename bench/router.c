/*
 * bench/router.c: what a forwarded request costs against a local one, in
 * process, without sockets. Prints a table; never fails.
 *
 *   bench_router [--seconds S] [--inflight N] [--tick-us T] [--json]
 *                [--points sat,sym,1,10,50,90] [--mode local|forwarded|both]
 *                [--requests N] [--spin-us U] [--rounds R] [--busy] [--spin-contended]
 *
 * --points and --mode pick the rows to run (for a profile of one of them);
 * --requests ends each closed-loop run after N requests instead of after S
 * seconds (for callgrind: instructions per request are the difference of two
 * runs with different N, divided by the difference of N); --spin-us sets the
 * reactors' spin before sleeping (ic_reactor_config_t.spin_us), and
 * --spin-contended lets them poll even while other threads preempt them
 * (ic_reactor_config_t.spin_contended: what polling buys, measured on a
 * loaded machine); --rounds
 * repeats every row R times, interleaved, and ends with the median of each
 * point over the rounds and the spread of its extra CPU. --busy keeps both
 * reactors from sleeping longer than 2 µs (a timer on each):
 * valgrind keeps its lock across a blocking io_uring_enter, so a reactor that
 * sleeps under callgrind stalls the other one for good. Count instructions
 * with --toggle-collect on the request path (inject_one, fwd_work, fwd_done,
 * flush_one), not on the whole loop, whose idle turns valgrind's scheduling
 * multiplies. Under callgrind, the counts are zeroed as each measured run
 * starts and dumped as it ends (named after the row), so that warm-ups and
 * start-up are not in them; a client request counts the calling thread
 * only, so each core zeroes and dumps its own: with --separate-threads=yes
 * a row's count is the sum of its two dumps, "<row>: N requests" (core A)
 * and "<row>: core B". The symmetric point is counted the same way
 * (`--points sym`): its N requests are split between the two injecting
 * cores, so the row answers N like the others and the same formula holds.
 *
 * Two reactors (pinned to the first two CPUs of the affinity mask when it has
 * two) and two sticky tenants running the same trivial worker
 * (`new Response("ok")`): one owned by core A, one by core B. Every request
 * is injected on core A with ic_router_inject, the router's entry for
 * requests without a connection: a request for A's tenant runs on A
 * ("local"); one for B's tenant is copied into a message, runs in B's
 * isolate, comes back to A, and its response memory goes home
 * ("forwarded") — the forwarding code HTTP requests take.
 *
 * Points, each run local then forwarded, side by side:
 *   - saturation: closed loop, N requests in flight (default 64). Only
 *     core B is saturated in forwarded mode: core A idles part of the time
 *     and pays for it (polls, sleeps and wake-ups), so the row's extra CPU
 *     holds A's idle time as well as the hop;
 *   - symmetric ("sym"): both cores inject, each its own closed loop of N in
 *     flight; local: each core for the tenant it owns; forwarded: each for
 *     the other core's tenant. Both cores then have the same work in both
 *     modes, as in a sticky server where every core takes connections and
 *     runs the requests forwarded to it: the hop at saturation;
 *   - 10, 50 and 90 % of one core's capacity (the local saturation rate just
 *     measured): open loop, a reactor timer on A (every 50 µs, --tick-us)
 *     injecting the requests due by then (at most 4,096 in flight; past it
 *     they count as dropped);
 *   - 1 in flight: closed loop ping-pong, the bare hop's latency;
 *   - idle: the pacing timer alone, no requests. The "net" CPU of an open
 *     loop point subtracts that cost (per second) from the run's CPU time:
 *     each tick is a sleep and a wake-up of core A.
 * For each: requests/s; CPU per request, the thread CPU time
 * (CLOCK_THREAD_CPUTIME_ID) of both reactors summed over the run, divided by
 * the requests answered; "cpu-poll", the same minus the time both spent
 * polling their rings before a sleep (ic_reactor_stats_t.spin_ns), idle
 * time that a busy server would spend on other work; and the round trip,
 * injection to answer on the injecting core, p50/p99. The hop is forwarded
 * minus local: extra CPU per request (also net, and minus polling), and the
 * difference of the round trip quantiles. --json prints
 * {"local_ns", "forwarded_ns", "hop_p50_ns", "hop_p99_ns"} at saturation,
 * and "sym_local_ns", "sym_forwarded_ns" at the symmetric point (first
 * round; a point that --points leaves out is left out).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isocore.h"

/* Under callgrind each measured run is counted on its own (a no-op otherwise, and without valgrind's headers). */
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(s) ((void)(s))
#endif

#define MAX_INFLIGHT 4096
#define MAX_SAMPLES (1u << 20)

enum { LOCAL = 0, FORWARDED = 1 };

/* One phase: a load (0: saturation, else a share of the capacity) and a mode. */
struct phase {
    double load; /* open loop: share of the capacity; 0: closed loop with n in flight, or (n == 0) idle */
    unsigned n;
    int mode;
    bool sym; /* closed loop on both cores, n in flight each (else every request is injected on core A) */
    bool warmup;
    bool hidden;    /* run for the capacity figure only: not printed */
    unsigned round; /* --rounds */
    /* results */
    double rps, cpu_ns, cpu_a_ns, cpu_b_ns;
    uint64_t p50, p99, done, dropped, errors;
    double sleeps, doorbells; /* per request, both cores */
    double polls, poll_hits;  /* polls before a sleep per request, both cores; and the share of them that found work */
    double net_ns;            /* open loop: cpu_ns minus what the pacing timer costs when idle */
    double poll_ns;           /* time both cores spent polling their rings (ic_reactor_stats_t.spin_ns), per request */
};

struct side;

struct slot {
    uint64_t t0;
    struct slot *next;
    struct side *side;
};

/*
 * What an injecting core keeps of the running phase: core A's alone, or each
 * core its own in a symmetric phase. Only that core touches it while the
 * phase runs; core A reads core B's once B has said it is done (B.sides).
 */
struct side {
    _Alignas(64) struct phase *p;
    unsigned core, tenant; /* the core that injects, and the core that owns the tenant it injects for */
    struct slot slots[MAX_INFLIGHT], *free_slots;
    unsigned inflight;
    bool injecting;
    uint64_t injected, quota; /* quota: --requests, this core's share of the count */
    uint64_t done, dropped, errors;
    uint64_t *samples; /* MAX_SAMPLES of them */
    size_t nsamples;
    ic_task_t refill;
    bool refill_posted;
};

static struct {
    double seconds;
    uint64_t tick_ns; /* the pacing timer's period (open loop) */
    unsigned inflight_sat;
    bool json;
    uint64_t count;        /* --requests: closed-loop runs end after this many requests (0: after `seconds`) */
    int spin_us;           /* --spin-us, or -1 for the default */
    bool spin_contended;   /* --spin-contended */
    bool busy;             /* --busy */
    ic_timer_t spinner[2]; /* --busy */
    const char *points;    /* --points */
    int only_mode;         /* --mode: LOCAL, FORWARDED, or -1 for both */
    ic_router_config_t *cfg;
    ic_router_t *router;
    unsigned a, b;            /* injecting core, and the core that owns the forwarded tenant */
    clockid_t clk[2];         /* each reactor's thread CPU clock */
    ic_http_request_t req[2]; /* req[c]: for the tenant core c owns (read-only while the reactors run) */
    struct phase phases[128];
    unsigned rounds; /* --rounds */
    unsigned nphases, cur;
    double capacity;       /* local requests/s at saturation */
    double idle_cpu_per_s; /* CPU ns per second of both cores with the pacing timer running and no requests */
    /* the running phase: written on core A (start_ns and deadline_ns before core B's side starts) */
    uint64_t start_ns, deadline_ns, cpu0[2];
    ic_reactor_stats_t st0[2];
    int cpu[2];        /* where each reactor runs (-1: not pinned), as seen while they ran */
    const char *mode;  /* io_uring set-up mode */
    uint64_t *samples; /* 2 * MAX_SAMPLES: side c's from samples + c * MAX_SAMPLES */
    ic_timer_t tick;
    struct side side[2];     /* side[c]: core c's */
    _Atomic unsigned sides;  /* symmetric phase: sides still running; the last one ends the phase */
    ic_post_t start_b, end;  /* symmetric phase: core B's side starts; core B's side, the last, is done */
    ic_post_t between, next; /* a phase ended: core B closes its count; core A goes on */
} B;

static uint64_t cpu_of(unsigned core)
{
    struct timespec ts;
    clock_gettime(B.clk[core], &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void phase_begin(void);
static void phase_end(void);
static void next_phase(ic_post_t *post);
static void between_on_b(ic_post_t *post);
static const char *load_name(const struct phase *p, char *buf, size_t n);

static void answer(void *arg, int status, const char *const *headers, unsigned nheaders, const void *body, size_t len);

/* Injects one request of the current phase's mode on sd's core; false when none could go. */
static __attribute__((noinline)) bool inject_one(struct side *sd)
{
    struct slot *s = sd->free_slots;
    if (!s) {
        sd->dropped++;
        return false;
    }
    sd->free_slots = s->next;
    s->t0 = ic_clock_ns();
    sd->inflight++;
    sd->injected++;
    int ret = ic_router_inject(B.router, &B.req[sd->tenant], (ic_str_t){"", 0}, answer, s);
    if (ret < 0) {
        sd->inflight--;
        s->next = sd->free_slots;
        sd->free_slots = s;
        sd->errors++;
        return false;
    }
    return true;
}

/* --requests: the closed-loop run injected its count (a warm-up, a fixed 1,000, so that two runs differ by the count alone). */
static bool count_reached(const struct side *sd)
{
    return B.count && sd->injected >= sd->quota;
}

/* Core B's side of a symmetric phase is done: core A ends the phase. */
static void end_on_a(ic_post_t *post)
{
    (void)post;
    phase_end();
}

/* sd's core has injected its last request and has every answer: the phase ends once every side has. */
static void side_done(struct side *sd)
{
    if (!sd->p->sym) {
        phase_end();
        return;
    }
    /* acq_rel: the last side sees everything the other wrote into its struct side before it got here. */
    if (atomic_fetch_sub_explicit(&B.sides, 1, memory_order_acq_rel) != 1)
        return;
    if (sd->core == B.a)
        phase_end();
    else if (ic_reactor_post(B.a, &B.end, end_on_a) < 0)
        fprintf(stderr, "bench_router: core %u: cannot reach core %u\n", sd->core, B.a);
}

/* Closed loop: tops the requests in flight up to N (a task, so a local answer that comes inside inject does not recurse). */
static void refill(ic_task_t *t)
{
    struct side *sd = (struct side *)((char *)t - offsetof(struct side, refill));
    sd->refill_posted = false;
    if (!sd->injecting)
        return;
    if (ic_clock_ns() >= B.deadline_ns || count_reached(sd)) {
        sd->injecting = false;
        if (sd->inflight == 0)
            side_done(sd);
        return;
    }
    /* At most N per call: a local request is answered inside the inject, so sd->inflight alone would not bound the loop. */
    unsigned n = sd->p->n;
    for (unsigned k = 0; k < n && sd->inflight < n && !count_reached(sd); k++)
        if (!inject_one(sd))
            break;
    if (!sd->refill_posted && sd->inflight < n) {
        sd->refill_posted = true;
        ic_task_post(&sd->refill, refill);
    }
}

/*
 * Readies core `core`'s side for phase p, on that core. --requests: a
 * symmetric phase splits the count between the two cores, so that it
 * answers as many requests as the other rows and the callgrind difference
 * of two runs is divided by the same difference of counts.
 */
static void side_begin(unsigned core, struct phase *p)
{
    struct side *sd = &B.side[core];
    sd->p = p;
    sd->core = core;
    sd->tenant = p->mode == LOCAL ? core : core == B.a ? B.b : B.a;
    sd->free_slots = NULL;
    for (unsigned i = 0; i < MAX_INFLIGHT; i++) {
        sd->slots[i].side = sd;
        sd->slots[i].next = sd->free_slots;
        sd->free_slots = &sd->slots[i];
    }
    sd->inflight = 0;
    sd->injected = 0;
    uint64_t count = p->warmup ? 1000 : B.count;
    sd->quota = !p->sym ? count : core == B.a ? (count + 1) / 2 : count / 2;
    sd->done = sd->dropped = sd->errors = 0;
    sd->samples = B.samples + (size_t)core * MAX_SAMPLES;
    sd->nsamples = 0;
    sd->injecting = true;
}

/* A symmetric phase on core B: its own closed loop (the post orders it after core A's set-up of the phase). */
static void start_on_b(ic_post_t *post)
{
    (void)post;
    struct side *sd = &B.side[B.b];
    side_begin(B.b, &B.phases[B.cur]);
    sd->refill_posted = true;
    ic_task_post(&sd->refill, refill);
}

static void phase_end(void)
{
    struct phase *p = &B.phases[B.cur];
    if (!p->warmup) {
        char ln[64], tag[96];
        snprintf(tag, sizeof(tag), "round %u %s %s: %llu requests", p->round + 1, load_name(p, ln, sizeof(ln)),
                 p->mode == LOCAL ? "local" : "forwarded",
                 (unsigned long long)(B.side[B.a].done + (p->sym ? B.side[B.b].done : 0)));
        CALLGRIND_DUMP_STATS_AT(tag);
    }
    uint64_t wall = ic_clock_ns() - B.start_ns;
    uint64_t ca = cpu_of(B.a) - B.cpu0[B.a], cb = cpu_of(B.b) - B.cpu0[B.b];
    const struct side *sa = &B.side[B.a], *sb = p->sym ? &B.side[B.b] : NULL;
    p->done = sa->done + (sb ? sb->done : 0);
    p->dropped = sa->dropped + (sb ? sb->dropped : 0);
    p->errors = sa->errors + (sb ? sb->errors : 0);
    p->rps = p->done ? (double)p->done * 1e9 / (double)wall : 0;
    p->cpu_a_ns = p->done ? (double)ca / (double)p->done : 0;
    p->cpu_b_ns = p->done ? (double)cb / (double)p->done : 0;
    p->cpu_ns = p->cpu_a_ns + p->cpu_b_ns;
    double sl = 0, db = 0, po = 0, ph = 0, pn = 0;
    for (unsigned c = 0; c < 2; c++) {
        ic_reactor_stats_t st;
        ic_reactor_stats(c, &st);
        sl += (double)(st.sleeps - B.st0[c].sleeps);
        db += (double)(st.wakeups_sent - B.st0[c].wakeups_sent);
        po += (double)(st.spins - B.st0[c].spins);
        ph += (double)(st.spin_hits - B.st0[c].spin_hits);
        pn += (double)(st.spin_ns - B.st0[c].spin_ns);
    }
    p->sleeps = p->done ? sl / (double)p->done : 0;
    p->doorbells = p->done ? db / (double)p->done : 0;
    p->polls = p->done ? po / (double)p->done : 0;
    p->poll_hits = po > 0 ? ph / po : 0;
    p->poll_ns = p->done ? pn / (double)p->done : 0;
    /* Both sides' round trips, core B's moved up behind core A's. */
    size_t ns = sa->nsamples;
    if (sb) {
        memmove(B.samples + ns, sb->samples, sb->nsamples * sizeof(uint64_t));
        ns += sb->nsamples;
    }
    if (ns) {
        qsort(B.samples, ns, sizeof(uint64_t), cmp_u64);
        p->p50 = B.samples[(size_t)(0.50 * (double)(ns - 1))];
        p->p99 = B.samples[(size_t)(0.99 * (double)(ns - 1))];
    }
    if (p->load == 0 && p->n == B.inflight_sat && !p->sym && p->mode == LOCAL && !p->warmup)
        B.capacity = p->rps;
    if (p->load == 0 && p->n == 0) /* idle: what the pacing timer alone costs, per second of both cores */
        B.idle_cpu_per_s = (double)(ca + cb) * 1e9 / (double)wall;
    p->net_ns = p->done && p->load > 0 ? p->cpu_ns - B.idle_cpu_per_s * (double)wall / 1e9 / (double)p->done : p->cpu_ns;
    if (ic_reactor_post(B.b, &B.between, between_on_b) < 0)
        next_phase(NULL);
}

/* Core B has closed its count of the phase that ended: the next one begins. */
static void next_phase(ic_post_t *post)
{
    (void)post;
    if (++B.cur == B.nphases) {
        ic_reactor_stop();
        return;
    }
    phase_begin();
}

/*
 * Between two phases, on core B. Callgrind's client requests count and
 * dump the calling thread only, and core B runs requests in every
 * forwarded and symmetric row: it dumps its own count of the row that
 * ended (or zeroes that of a warm-up) before core A starts the next one.
 * B.cur stays put until core A gets the answer.
 */
static void between_on_b(ic_post_t *post)
{
    (void)post;
    const struct phase *p = &B.phases[B.cur];
    if (!p->warmup) {
        char ln[64], tag[96];
        snprintf(tag, sizeof(tag), "round %u %s %s: core B", p->round + 1, load_name(p, ln, sizeof(ln)),
                 p->mode == LOCAL ? "local" : "forwarded");
        CALLGRIND_DUMP_STATS_AT(tag);
    } else {
        CALLGRIND_ZERO_STATS;
    }
    if (ic_reactor_post(B.a, &B.next, next_phase) < 0)
        fprintf(stderr, "bench_router: core %u: cannot reach core %u\n", B.b, B.a);
}

static void answer(void *arg, int status, const char *const *headers, unsigned nheaders, const void *body, size_t len)
{
    (void)headers;
    (void)nheaders;
    (void)body;
    (void)len;
    struct slot *s = arg;
    struct side *sd = s->side;
    uint64_t rtt = ic_clock_ns() - s->t0;
    if (status == 200)
        sd->done++;
    else
        sd->errors++;
    if (sd->nsamples < MAX_SAMPLES)
        sd->samples[sd->nsamples++] = rtt;
    s->next = sd->free_slots;
    sd->free_slots = s;
    sd->inflight--;
    if (sd->injecting && sd->p->n && !sd->refill_posted) {
        sd->refill_posted = true;
        ic_task_post(&sd->refill, refill);
    }
    if (!sd->injecting && sd->inflight == 0)
        side_done(sd);
}

/* Open loop: injects the requests due by now at the phase's rate (core A alone). */
static void tick(ic_timer_t *t)
{
    (void)t;
    struct side *sd = &B.side[B.a];
    struct phase *p = sd->p;
    uint64_t now = ic_clock_ns();
    if (now >= B.deadline_ns) {
        ic_timer_stop(&B.tick);
        sd->injecting = false;
        if (sd->inflight == 0)
            side_done(sd);
        return;
    }
    double rate = p->load * B.capacity;
    uint64_t due = (uint64_t)(rate * (double)(now - B.start_ns) / 1e9);
    /* Each turn injects one request or counts the rest as dropped (no free slot): the schedule is kept either way. */
    while (sd->injected + sd->dropped < due) {
        if (!sd->free_slots) {
            sd->dropped += due - (sd->injected + sd->dropped);
            break;
        }
        inject_one(sd);
    }
}

static void phase_begin(void)
{
    struct phase *p = &B.phases[B.cur];
    struct side *sa = &B.side[B.a];
    side_begin(B.a, p);
    B.cpu0[0] = cpu_of(0);
    B.cpu0[1] = cpu_of(1);
    ic_reactor_stats(0, &B.st0[0]);
    ic_reactor_stats(1, &B.st0[1]);
    if (!p->warmup)
        CALLGRIND_ZERO_STATS;
    B.start_ns = ic_clock_ns();
    double secs = p->warmup ? 0.3 : p->load == 0 && p->n == 0 ? B.seconds / 2 : B.seconds;
    if (B.count && p->n)
        secs = 3600; /* --requests: the count ends the run */
    B.deadline_ns = B.start_ns + (uint64_t)(secs * 1e9);
    if (p->sym) {
        atomic_store_explicit(&B.sides, 2, memory_order_relaxed); /* published to core B by the post */
        if (ic_reactor_post(B.b, &B.start_b, start_on_b) < 0) {
            fprintf(stderr, "bench_router: cannot reach core %u\n", B.b);
            atomic_store_explicit(&B.sides, 1, memory_order_relaxed);
        }
    }
    if (p->n) {
        sa->refill_posted = true;
        ic_task_post(&sa->refill, refill);
    } else {
        ic_timer_start(&B.tick, B.tick_ns, B.tick_ns);
    }
}

static void go(ic_post_t *post)
{
    (void)post;
    B.cpu[0] = ic_reactor_cpu(0);
    B.cpu[1] = ic_reactor_cpu(1);
    B.mode = ic_reactor_mode();
    ic_timer_init(&B.tick, tick);
    phase_begin();
}

/*
 * --busy: a timer every 2 µs, so that the reactor never blocks for longer.
 * It runs until the reactors exit (a task queued again and again would keep
 * a stopping reactor from ever being quiet).
 */
static void spin_tick(ic_timer_t *t)
{
    (void)t;
}

/* On each reactor: its CPU clock and isolate pool; the last one up starts the phases on core A. */
static _Atomic unsigned starting = 2;
static ic_post_t go_post;

static void on_start(void *arg)
{
    (void)arg;
    unsigned me = (unsigned)ic_reactor_id();
    pthread_getcpuclockid(pthread_self(), &B.clk[me]);
    if (ic_router_start(B.router) < 0)
        fprintf(stderr, "bench_router: core %u: no isolate pool\n", me);
    if (B.busy) {
        ic_timer_init(&B.spinner[me], spin_tick);
        ic_timer_start(&B.spinner[me], 2000, 2000);
    }
    if (atomic_fetch_sub(&starting, 1) == 1)
        ic_reactor_post(B.a, &go_post, go);
}

static void on_stop(void *arg)
{
    (void)arg;
    if ((unsigned)ic_reactor_id() == B.a)
        ic_timer_stop(&B.tick);
    ic_router_stop(B.router);
}

static void set_request(ic_http_request_t *r, const char *host)
{
    memset(r, 0, sizeof(*r));
    r->method = (ic_str_t){"GET", 3};
    r->target = (ic_str_t){"/", 1};
    r->host = (ic_str_t){host, strlen(host)};
    r->minor = 1;
    r->keep_alive = true;
    static const char *const names[] = {"Host", "User-Agent", "Accept"};
    const char *values[] = {host, "bench_router", "*/*"};
    for (unsigned i = 0; i < 3; i++)
        r->headers[i] = (ic_http_header_t){{names[i], strlen(names[i])}, {values[i], strlen(values[i])}};
    r->nheaders = 3;
}

static const char *load_name(const struct phase *p, char *buf, size_t n)
{
    if (p->sym)
        snprintf(buf, n, "symmetric");
    else if (p->load == 0 && p->n == 1)
        snprintf(buf, n, "1 in flight");
    else if (p->load == 0 && p->n == 0)
        snprintf(buf, n, "idle");
    else if (p->load == 0)
        snprintf(buf, n, "saturation");
    else
        snprintf(buf, n, "%.0f %%", p->load * 100);
    return buf;
}

/* The local row run just before forwarded row i, at the same point, or NULL. */
static const struct phase *local_of(unsigned i)
{
    const struct phase *p = &B.phases[i];
    if (p->mode != FORWARDED || i == 0)
        return NULL;
    const struct phase *l = &B.phases[i - 1];
    return l->mode == LOCAL && !l->warmup && l->load == p->load && l->n == p->n && l->sym == p->sym ? l : NULL;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* With several rounds: per point, the median of each figure over the rounds and the spread of the extra CPU. */
static void summary(FILE *out)
{
    fprintf(out, "\nmedians over %u rounds (extra: forwarded minus local of the same round; min..max over the rounds)\n", B.rounds);
    fprintf(out, "%-11s %12s %12s %12s %20s %12s %12s %12s %12s\n", "load", "local ns", "forwarded", "extra ns", "extra min..max",
            "net extra", "fwd core B", "fwd rtt p50", "extra-poll");
    for (unsigned i = 0; i < B.nphases; i++) {
        const struct phase *p = &B.phases[i];
        if (p->round != 0 || !local_of(i))
            continue;
        double lo[10], fw[10], ex[10], nx[10], cb[10], rt[10], xp[10];
        unsigned k = 0;
        for (unsigned j = 0; j < B.nphases && k < 10; j++) {
            const struct phase *q = &B.phases[j], *l = local_of(j);
            if (!l || q->load != p->load || q->n != p->n || q->sym != p->sym)
                continue;
            lo[k] = l->cpu_ns;
            fw[k] = q->cpu_ns;
            ex[k] = q->cpu_ns - l->cpu_ns;
            nx[k] = q->net_ns - l->net_ns;
            cb[k] = q->cpu_b_ns;
            rt[k] = (double)q->p50;
            xp[k] = (q->cpu_ns - q->poll_ns) - (l->cpu_ns - l->poll_ns);
            k++;
        }
        double *all[] = {lo, fw, ex, nx, cb, rt, xp};
        for (unsigned a = 0; a < 7; a++)
            qsort(all[a], k, sizeof(double), cmp_double);
        char ln[32], spread[48];
        snprintf(spread, sizeof(spread), "%+.0f..%+.0f", ex[0], ex[k - 1]);
        fprintf(out, "%-11s %12.0f %12.0f %+12.0f %20s %+12.0f %12.0f %12.0f %+12.0f\n", load_name(p, ln, sizeof(ln)), lo[k / 2],
                fw[k / 2], ex[k / 2], spread, nx[k / 2], cb[k / 2], rt[k / 2], xp[k / 2]);
    }
}

/* True when --points lists `name`. */
static bool has_point(const char *name)
{
    size_t l = strlen(name);
    for (const char *p = B.points; *p;) {
        const char *e = strchr(p, ',');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == l && !strncmp(p, name, l))
            return true;
        p += k + (e ? 1 : 0);
    }
    return false;
}

/*
 * Adds a row in local then forwarded mode, or the one --mode asks for;
 * `local_only`: the local one alone; `capacity`: the local row runs (hidden
 * if --mode leaves it out), since the open-loop rows need its rate.
 */
static void add_pair(struct phase p, bool local_only, bool capacity)
{
    for (int m = LOCAL; m <= FORWARDED; m++) {
        if ((B.only_mode >= 0 && m != B.only_mode && !(m == LOCAL && capacity)) || (local_only && m != LOCAL))
            continue;
        if (B.nphases + 1 >= sizeof(B.phases) / sizeof(B.phases[0]))
            return;
        p.mode = m;
        p.hidden = p.hidden || (B.only_mode >= 0 && m != B.only_mode);
        B.phases[B.nphases++] = p;
    }
}

int main(int argc, char **argv)
{
    B.seconds = 2.0;
    B.inflight_sat = 64;
    B.tick_ns = 50000;
    B.spin_us = -1;
    B.only_mode = -1;
    B.points = "sat,sym,1,10,50,90";
    B.rounds = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            B.seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--inflight") && i + 1 < argc)
            B.inflight_sat = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tick-us") && i + 1 < argc)
            B.tick_ns = (uint64_t)atoi(argv[++i]) * 1000;
        else if (!strcmp(argv[i], "--json"))
            B.json = true;
        else if (!strcmp(argv[i], "--requests") && i + 1 < argc)
            B.count = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--spin-us") && i + 1 < argc)
            B.spin_us = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--spin-contended"))
            B.spin_contended = true;
        else if (!strcmp(argv[i], "--busy"))
            B.busy = true;
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            B.rounds = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--points") && i + 1 < argc)
            B.points = argv[++i];
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            const char *m = argv[++i];
            B.only_mode = !strcmp(m, "local") ? LOCAL : !strcmp(m, "forwarded") ? FORWARDED : -1;
        } else {
            fprintf(stderr,
                    "usage: bench_router [--seconds S] [--inflight N] [--tick-us T] [--json] [--points sat,sym,1,10,50,90]\n"
                    "                    [--mode local|forwarded|both] [--requests N] [--spin-us U] [--rounds R] [--busy]\n"
                    "                    [--spin-contended]\n");
            return 2;
        }
    }
    if (B.seconds <= 0)
        B.seconds = 2.0;
    if (B.tick_ns < 10000 || B.tick_ns > 10000000)
        B.tick_ns = 50000;
    if (B.inflight_sat < 1 || B.inflight_sat > 1000)
        B.inflight_sat = 64;
    if (B.rounds < 1 || B.rounds > 10)
        B.rounds = 1;
    FILE *out = B.json ? stderr : stdout;

    /* The worker and the config, in a directory of their own. */
    char dir[] = "/tmp/bench_router.XXXXXX", path[256], conf[256];
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench_router: mkdtemp: %s\n", strerror(errno));
        return 0;
    }
    snprintf(path, sizeof(path), "%s/hello.js", dir);
    snprintf(conf, sizeof(conf), "%s/conf.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("export default { fetch() { return new Response(\"ok\"); } };\n", f);
        fclose(f);
    }
    /* Two tenant names, one owned by each core (owners are a hash of the name). */
    char names[2][32] = {"", ""};
    for (unsigned i = 0; i < 64 && (!names[0][0] || !names[1][0]); i++) {
        char nm[32];
        snprintf(nm, sizeof(nm), "hello%u", i);
        unsigned o = ic_router_owner_of(nm, 2);
        if (!names[o][0])
            snprintf(names[o], sizeof(names[o]), "%s", nm);
    }
    B.a = 0;
    B.b = 1;
    char text[1024], err[1024];
    snprintf(text, sizeof(text),
             "{\"workers\": [{\"name\": \"%s\", \"module\": \"hello.js\", \"routes\": [\"a.bench\"], \"placement\": \"sticky\"},"
             " {\"name\": \"%s\", \"module\": \"hello.js\", \"routes\": [\"b.bench\"], \"placement\": \"sticky\"}],"
             " \"backpressure\": {\"inflight_per_core_pair\": 8192}}",
             names[B.a], names[B.b]);
    int ret = ic_router_config_parse(conf, text, strlen(text), &B.cfg, err, sizeof(err));
    if (ret == 0)
        ret = ic_router_new(B.cfg, 2, &B.router, err, sizeof(err));
    unlink(path);
    rmdir(dir);
    if (ret < 0) {
        fprintf(stderr, "bench_router: %s\n", err);
        ic_router_config_free(B.cfg);
        return 0;
    }
    if (ic_js_platform_init() != 0) {
        fprintf(stderr, "bench_router: no V8 platform\n");
        ic_router_free(B.router);
        ic_router_config_free(B.cfg);
        return 0;
    }
    set_request(&B.req[B.a], "a.bench");
    set_request(&B.req[B.b], "b.bench");
    B.samples = malloc(2 * (size_t)MAX_SAMPLES * sizeof(uint64_t));
    if (!B.samples) {
        fprintf(stderr, "bench_router: no memory\n");
        ic_router_free(B.router);
        ic_router_config_free(B.cfg);
        return 0;
    }
    memset(B.samples, 0, 2 * (size_t)MAX_SAMPLES * sizeof(uint64_t)); /* touched now: no measured run pays its page faults */

    /*
     * Warm both isolates (and, for the symmetric point, core B's injecting
     * path), then per round: saturation, symmetric saturation, 1 in flight,
     * the idle pacing timer and the fixed loads; local and forwarded side by
     * side. The open-loop loads need the local saturation rate: with them,
     * that row runs even when --points leaves it out (it is then not printed).
     */
    unsigned n = B.inflight_sat;
    bool want_loads = has_point("10") || has_point("50") || has_point("90");
    B.phases[B.nphases++] = (struct phase){.n = n, .mode = LOCAL, .warmup = true};
    B.phases[B.nphases++] = (struct phase){.n = n, .mode = FORWARDED, .warmup = true};
    if (has_point("sym")) {
        B.phases[B.nphases++] = (struct phase){.n = n, .mode = LOCAL, .sym = true, .warmup = true};
        B.phases[B.nphases++] = (struct phase){.n = n, .mode = FORWARDED, .sym = true, .warmup = true};
    }
    for (unsigned round = 0; round < B.rounds; round++) {
        if (has_point("sat") || want_loads)
            add_pair((struct phase){.n = n, .round = round, .hidden = !has_point("sat")}, !has_point("sat"), want_loads);
        if (has_point("sym"))
            add_pair((struct phase){.n = n, .sym = true, .round = round}, false, false);
        if (has_point("1"))
            add_pair((struct phase){.n = 1, .round = round}, false, false);
        if (want_loads && round == 0)
            B.phases[B.nphases++] = (struct phase){.n = 0, .mode = LOCAL}; /* idle: the pacing timer alone */
        static const double loads[] = {0.1, 0.5, 0.9};
        static const char *const names[] = {"10", "50", "90"};
        for (unsigned i = 0; i < 3; i++)
            if (has_point(names[i]))
                add_pair((struct phase){.load = loads[i], .round = round}, false, false);
    }

    ic_reactor_config_t rc;
    ic_reactor_config_init(&rc);
    rc.cores = 2;
    rc.pin = true; /* honoured when the affinity mask has two CPUs */
    rc.quiet = true;
    rc.handle_signals = false;
    rc.on_start = on_start;
    rc.on_stop = on_stop;
    if (B.spin_us >= 0)
        rc.spin_us = (unsigned)B.spin_us;
    rc.spin_contended = B.spin_contended;
    ret = ic_reactor_start(&rc);
    if (ret < 0) {
        fprintf(stderr, "bench_router: reactors: %s\n", ic_strerror(ret));
    } else {
        ic_reactor_wait();
    }

    fprintf(out,
            "bench_router: 2 reactors, %s (CPUs %d, %d), io_uring %s; requests injected on core %u (symmetric: on both); "
            "tenant A on core %u, tenant B on core %u; %.1f s per run, %u in flight at saturation (symmetric: on each core)\n",
            B.cpu[0] >= 0 ? "pinned" : "not pinned", B.cpu[0], B.cpu[1], B.mode ? B.mode : "?", B.a, B.a, B.b, B.seconds,
            B.inflight_sat);
    fprintf(out, "%-5s %-11s %-10s %10s %12s %10s %10s %10s %10s %10s %8s %10s %10s %10s %10s %12s\n", "round", "load", "mode",
            "req/s", "cpu/req ns", "net ns", "core A", "core B", "rtt p50", "rtt p99", "dropped", "sleeps/req", "bells/req",
            "polls/req", "poll hits", "cpu-poll ns");
    for (unsigned i = 0; i < B.nphases; i++) {
        const struct phase *p = &B.phases[i];
        if (p->warmup || p->hidden)
            continue;
        char ln[32];
        if (p->load == 0 && p->n == 0) {
            fprintf(out, "%-5s %-11s %-10s pacing timer alone (every %llu us, no requests): %.0f ns CPU per second, both cores\n",
                    "", "idle", "", (unsigned long long)(B.tick_ns / 1000), B.idle_cpu_per_s);
            continue;
        }
        fprintf(out,
                "%-5u %-11s %-10s %10.0f %12.0f %10.0f %10.0f %10.0f %10llu %10llu %8llu %10.2f %10.2f %10.2f %9.0f%% %12.0f\n",
                p->round + 1, load_name(p, ln, sizeof(ln)), p->mode == LOCAL ? "local" : "forwarded", p->rps, p->cpu_ns, p->net_ns,
                p->cpu_a_ns, p->cpu_b_ns, (unsigned long long)p->p50, (unsigned long long)p->p99, (unsigned long long)p->dropped,
                p->sleeps, p->doorbells, p->polls, p->poll_hits * 100, p->cpu_ns - p->poll_ns);
        if (p->errors)
            fprintf(out, "  (%llu requests failed)\n", (unsigned long long)p->errors);
        const struct phase *l = local_of(i);
        if (l)
            fprintf(
                out,
                "%-5s %-11s %-10s extra CPU per forwarded request %+.0f ns (%.2fx local), net %+.0f ns, minus polling %+.0f ns; "
                "rtt p50 %+lld ns, p99 %+lld ns\n",
                "", "", "hop", p->cpu_ns - l->cpu_ns, l->cpu_ns > 0 ? p->cpu_ns / l->cpu_ns : 0.0, p->net_ns - l->net_ns,
                (p->cpu_ns - p->poll_ns) - (l->cpu_ns - l->poll_ns), (long long)p->p50 - (long long)l->p50,
                (long long)p->p99 - (long long)l->p99);
    }
    if (B.rounds > 1)
        summary(out);
    if (B.json) {
        /* The first round's saturation pair, and its symmetric pair; a point --points left out is left out here too. */
        const struct phase *l = NULL, *fw = NULL, *sl = NULL, *sf = NULL;
        for (unsigned i = 0; i < B.nphases; i++) {
            const struct phase *q = &B.phases[i];
            if (q->warmup || q->hidden || q->load != 0 || q->n != B.inflight_sat || !local_of(i))
                continue;
            if (q->sym && !sf) {
                sf = q;
                sl = local_of(i);
            } else if (!q->sym && !fw) {
                fw = q;
                l = local_of(i);
            }
        }
        const char *sep = "";
        if (fw || sf)
            printf("{");
        if (fw) {
            printf("\"local_ns\": %.0f, \"forwarded_ns\": %.0f, \"hop_p50_ns\": %lld, \"hop_p99_ns\": %lld", l->cpu_ns, fw->cpu_ns,
                   (long long)fw->p50 - (long long)l->p50, (long long)fw->p99 - (long long)l->p99);
            sep = ", ";
        }
        if (sf)
            printf("%s\"sym_local_ns\": %.0f, \"sym_forwarded_ns\": %.0f", sep, sl->cpu_ns, sf->cpu_ns);
        if (fw || sf)
            printf("}\n");
    }
    free(B.samples);
    ic_router_free(B.router);
    ic_router_config_free(B.cfg);
    return 0;
}
