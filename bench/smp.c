/*
 * bench/smp.c: core-to-core messaging figures. Prints a table; never fails.
 *
 *   bench_smp [--quick]
 *
 * Rows, per ordered pair of reactors (pinned to the first two CPUs of the
 * affinity mask):
 *   - bare ck_ring: one-way pointers/s and busy ping-pong RTT between two
 *     pinned threads, the reference the runtime is compared with;
 *   - ic_smp_submit + done round trips/s with 4,096 requests in flight (batched);
 *   - hop latency (submit → work starts on the target) and round trip
 *     (submit → done back home), p50/p99, with the target busy-polling, and
 *     with it asleep, woken by msg_ring or by eventfd.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_ring.h>

#include "isocore.h"

static bool quick;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1));
    return v[i];
}

static int first_cpus[2];

static void pin_self(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
}

/* ---- bare ck_ring -------------------------------------------------------- */

#define BARE_SIZE 1024
static ck_ring_t bare_ring[2] __attribute__((aligned(64)));
static ck_ring_buffer_t bare_buf[2][BARE_SIZE] __attribute__((aligned(64)));
static uint64_t bare_n;

static void *bare_consumer(void *arg)
{
    pin_self(first_cpus[1]);
    void *p;
    for (uint64_t got = 0; got < bare_n;) {
        if (ck_ring_dequeue_spsc(&bare_ring[0], bare_buf[0], &p))
            got++;
    }
    return NULL;
}

static double bare_one_way(void)
{
    pthread_t t;
    ck_ring_init(&bare_ring[0], BARE_SIZE);
    bare_n = quick ? 20000000 : 100000000;
    pthread_create(&t, NULL, bare_consumer, NULL);
    pin_self(first_cpus[0]);
    uint64_t t0 = ic_clock_ns();
    for (uint64_t i = 1; i <= bare_n;) {
        if (ck_ring_enqueue_spsc(&bare_ring[0], bare_buf[0], (void *)(uintptr_t)i))
            i++;
    }
    pthread_join(t, NULL);
    return (double)bare_n / ((double)(ic_clock_ns() - t0) / 1e9);
}

static void *bare_ponger(void *arg)
{
    pin_self(first_cpus[1]);
    void *p;
    for (uint64_t got = 0; got < bare_n;) {
        if (ck_ring_dequeue_spsc(&bare_ring[0], bare_buf[0], &p)) {
            while (!ck_ring_enqueue_spsc(&bare_ring[1], bare_buf[1], p))
                ;
            got++;
        }
    }
    return NULL;
}

static uint64_t bare_rtt_p50(void)
{
    pthread_t t;
    ck_ring_init(&bare_ring[0], BARE_SIZE);
    ck_ring_init(&bare_ring[1], BARE_SIZE);
    bare_n = quick ? 100000 : 1000000;
    uint64_t *rtt = malloc(sizeof(uint64_t) * bare_n);
    pthread_create(&t, NULL, bare_ponger, NULL);
    pin_self(first_cpus[0]);
    void *p;
    for (uint64_t i = 0; i < bare_n; i++) {
        uint64_t t0 = ic_clock_ns();
        ck_ring_enqueue_spsc(&bare_ring[0], bare_buf[0], (void *)(uintptr_t)(i + 1));
        while (!ck_ring_dequeue_spsc(&bare_ring[1], bare_buf[1], &p))
            ;
        rtt[i] = ic_clock_ns() - t0;
    }
    pthread_join(t, NULL);
    qsort(rtt, bare_n, sizeof(*rtt), cmp_u64);
    uint64_t r = pct(rtt, bare_n, 0.5);
    free(rtt);
    return r;
}

/* ---- through the runtime ------------------------------------------------- */

static struct {
    unsigned from, to;
    uint64_t total, sent, done;
    uint64_t t0, t1;
    /* ping-pong */
    uint64_t n, i, gap_ns;
    uint64_t *hop, *rtt;
    uint64_t sent_at, arrived_at;
    ic_timer_t gap;
} B;

/* Two reactors, quiet, no signal handling: the configuration every run below starts from. */
static ic_reactor_config_t bench_config(void (*on_start)(void *))
{
    ic_reactor_config_t cfg;
    ic_reactor_config_init(&cfg);
    cfg.cores = 2;
    cfg.quiet = true;
    cfg.handle_signals = false;
    cfg.on_start = on_start;
    return cfg;
}

static int tp_work(ic_smp_msg_t *m, void *arg)
{
    return 0;
}

static void tp_done(void *arg, int status)
{
    if (++B.done == B.total) {
        B.t1 = ic_clock_ns();
        ic_reactor_stop();
        return;
    }
    if (B.sent < B.total) {
        B.sent++;
        ic_smp_submit(B.to, tp_work, tp_done, NULL);
    }
}

static void tp_start(void *arg)
{
    if ((unsigned)ic_reactor_id() != B.from)
        return;
    B.t0 = ic_clock_ns();
    for (unsigned i = 0; i < 4096 && B.sent < B.total; i++) {
        B.sent++;
        ic_smp_submit(B.to, tp_work, tp_done, NULL);
    }
}

static double round_trips(unsigned from, unsigned to)
{
    memset(&B, 0, sizeof(B));
    B.from = from;
    B.to = to;
    B.total = quick ? 5000000 : 20000000;
    ic_reactor_config_t cfg = bench_config(tp_start);
    ic_reactor_run(&cfg);
    return (double)B.total / ((double)(B.t1 - B.t0) / 1e9);
}

static void pp_send(void);

static int pp_work(ic_smp_msg_t *m, void *arg)
{
    B.arrived_at = ic_clock_ns();
    return 0;
}

static void pp_gap(ic_timer_t *t)
{
    pp_send();
}

static void pp_done(void *arg, int status)
{
    uint64_t now = ic_clock_ns();
    B.hop[B.i] = B.arrived_at - B.sent_at;
    B.rtt[B.i] = now - B.sent_at;
    if (++B.i == B.n) {
        ic_reactor_stop();
        return;
    }
    if (B.gap_ns)
        ic_timer_start(&B.gap, B.gap_ns, 0); /* let the target fall asleep */
    else
        pp_send();
}

static void pp_send(void)
{
    B.sent_at = ic_clock_ns();
    ic_smp_submit(B.to, pp_work, pp_done, NULL);
}

static void pp_start(void *arg)
{
    if ((unsigned)ic_reactor_id() != B.from)
        return;
    ic_timer_init(&B.gap, pp_gap);
    pp_send();
}

struct lat {
    uint64_t hop50, hop99, rtt50, rtt99;
};

static struct lat ping_pong(unsigned from, unsigned to, bool asleep, ic_doorbell_t bell)
{
    struct lat l;
    memset(&B, 0, sizeof(B));
    B.from = from;
    B.to = to;
    B.n = asleep ? (quick ? 1000 : 5000) : (quick ? 50000 : 300000);
    B.gap_ns = asleep ? 300 * 1000 : 0;
    B.hop = malloc(sizeof(uint64_t) * B.n);
    B.rtt = malloc(sizeof(uint64_t) * B.n);
    ic_reactor_config_t cfg = bench_config(pp_start);
    cfg.doorbell = bell;
    /* Busy: a spin far longer than the gap keeps the target polling. Asleep: no spin at all. */
    cfg.spin_us = asleep ? 0 : 1000000;
    ic_reactor_start(&cfg);
    ic_reactor_wait();
    qsort(B.hop, B.n, sizeof(uint64_t), cmp_u64);
    qsort(B.rtt, B.n, sizeof(uint64_t), cmp_u64);
    l.hop50 = pct(B.hop, B.n, 0.5);
    l.hop99 = pct(B.hop, B.n, 0.99);
    l.rtt50 = pct(B.rtt, B.n, 0.5);
    l.rtt99 = pct(B.rtt, B.n, 0.99);
    free(B.hop);
    free(B.rtt);
    return l;
}

int main(int argc, char **argv)
{
    quick = argc > 1 && !strcmp(argv[1], "--quick");
    cpu_set_t set;
    sched_getaffinity(0, sizeof(set), &set);
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &set))
            first_cpus[n++] = c;
    if (n < 2) {
        printf("bench_smp needs two CPUs in the affinity mask (have %d)\n", n);
        return 0;
    }
    ic_log_set_level(IC_LOG_WARN);
    printf("# isocore bench_smp: reactors pinned to CPUs %d and %d; %ld CPUs online\n", first_cpus[0], first_cpus[1],
           sysconf(_SC_NPROCESSORS_ONLN));

    printf("\n## bare ck_ring between two pinned threads (reference)\n\n");
    printf("| figure | value |\n|---|---|\n");
    printf("| one-way pointers/s | %.1f M |\n", bare_one_way() / 1e6);
    printf("| busy ping-pong RTT p50 | %lu ns |\n", (unsigned long)bare_rtt_p50());

    /* The bare tests pinned this thread; the reactors read the mask from it, so give it back. */
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);

    printf("\n## ic_smp_submit + done through the reactors\n\n");
    printf("| pair | round trips/s (4,096 in flight) |\n|---|---|\n");
    for (unsigned a = 0; a < 2; a++)
        printf("| %u→%u | %.1f M |\n", a, 1 - a, round_trips(a, 1 - a) / 1e6);

    printf("\n## hop latency (submit → work runs on target) and round trip (→ done at home)\n\n");
    printf("| pair | target | doorbell | hop p50 | hop p99 | RTT p50 | RTT p99 |\n|---|---|---|---|---|---|---|\n");
    for (unsigned a = 0; a < 2; a++) {
        struct lat l = ping_pong(a, 1 - a, false, IC_DOORBELL_EVENTFD);
        printf("| %u→%u | busy | - | %lu ns | %lu ns | %lu ns | %lu ns |\n", a, 1 - a, (unsigned long)l.hop50,
               (unsigned long)l.hop99, (unsigned long)l.rtt50, (unsigned long)l.rtt99);
        for (int b = 0; b < 2; b++) {
            ic_doorbell_t bell = b ? IC_DOORBELL_EVENTFD : IC_DOORBELL_MSG_RING;
            l = ping_pong(a, 1 - a, true, bell);
            printf("| %u→%u | asleep | %s | %.2f µs | %.2f µs | %.2f µs | %.2f µs |\n", a, 1 - a, b ? "eventfd" : "msg_ring",
                   l.hop50 / 1e3, l.hop99 / 1e3, l.rtt50 / 1e3, l.rtt99 / 1e3);
        }
    }
    return 0;
}
