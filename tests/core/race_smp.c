/*
 * race_smp.c: the core messaging paths under load, as a plain program (not
 * Criterion, whose runner aborts under ThreadSanitizer), so that CI can run
 * it in a -fsanitize=thread build: any data race in the reactors, the SPSC
 * mesh, the overflow queues, the doorbells, the free lists or the drain at
 * stop is a TSan report and a non-zero exit. It also checks its own counts,
 * so it is a test in any build (ctest core/race_smp).
 *
 * Rounds, each a start → run → wait of the reactors (3 cores, so that each
 * core has two peers; pinned only where CPUs allow):
 *   1. all-to-all: every ordered pair sends N messages, FIFO order of the
 *      requests checked, every answer back on its sender once, one in four answered later (IC_SMP_LATER, replied from a task);
 *      spin_us 0 so that the cores sleep and ring each other's doorbells;
 *      once with the msg_ring doorbell, once with the eventfd one.
 *   2. overflow: the same with 4-slot rings and injected "ring full" and
 *      "SQ full" faults (ISOCORE_FAULTS), so most messages go through the
 *      overflow queues.
 *   3. stop under traffic: each core keeps WINDOW messages going to the
 *      next (and a 100 µs timer adds more) until one calls ic_reactor_stop
 *      mid-flow; each core stops sending at its on_stop, and the drain must
 *      run every message submitted to its done.
 *
 * Usage: race_smp [messages per pair] (default 20000).
 *        race_smp --race: round 1 with a deliberate data race (a plain
 *        counter every core bumps), so that CI can check TSan is watching:
 *        under TSan it must fail.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isocore.h"

#define CORES 3
#define WINDOW 256

static uint64_t per_pair;
static unsigned failures;
static bool race;                /* --race */
static unsigned long racy_count; /* bumped by every core, unsynchronised, with --race */

#define CHECK(cond, ...)                                                                                                           \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "race_smp: FAIL %s:%d: ", __FILE__, __LINE__);                                                         \
            fprintf(stderr, __VA_ARGS__);                                                                                          \
            fputc('\n', stderr);                                                                                                   \
            failures++;                                                                                                            \
        }                                                                                                                          \
    } while (0)

/* CORES quiet reactors running start, with ISOCORE_FAULTS set to faults (or unset). */
static ic_reactor_config_t config(const char *faults, void (*start)(void *))
{
    if (faults)
        setenv("ISOCORE_FAULTS", faults, 1);
    else
        unsetenv("ISOCORE_FAULTS");
    ic_reactor_config_t cfg;
    ic_reactor_config_init(&cfg);
    cfg.cores = CORES;
    cfg.quiet = true;
    cfg.handle_signals = false;
    cfg.on_start = start;
    return cfg;
}

/* ---- rounds 1 and 2: all-to-all with order checks -------------------------------------------- */

struct later {
    ic_task_t task;
    ic_smp_msg_t *msg;
    int status;
};

static struct {
    /* expect[to][from]: touched by `to` only; sent/done[from][to]: by `from` only. */
    uint64_t expect[CORES][CORES], sent[CORES][CORES], done[CORES][CORES];
    struct later later[CORES][CORES][WINDOW]; /* [to][from][seq % WINDOW]: at most WINDOW in flight per pair */
    _Atomic uint64_t errors;
    _Atomic unsigned pairs_left;
} A;

#define ARG(from, seq) ((void *)(((uintptr_t)(from) << 48) | (uintptr_t)(seq)))
#define FROM(arg) ((unsigned)((uintptr_t)(arg) >> 48))
#define SEQ(arg) ((uint64_t)((uintptr_t)(arg) & ((1ull << 48) - 1)))

static void later_task(ic_task_t *t)
{
    struct later *l = (struct later *)t;
    ic_smp_reply(l->msg, l->status);
}

static int a_work(ic_smp_msg_t *m, void *arg)
{
    unsigned to = (unsigned)ic_reactor_id(), from = FROM(arg);
    uint64_t seq = SEQ(arg);
    if (race)
        racy_count++;
    if (seq != A.expect[to][from]++)
        atomic_fetch_add(&A.errors, 1);
    if (seq % 4 == 3) {
        struct later *l = &A.later[to][from][seq % WINDOW];
        l->msg = m;
        l->status = (int)to;
        ic_task_post(&l->task, later_task);
        return IC_SMP_LATER;
    }
    return (int)to;
}

static void a_send(unsigned to);

static void a_done(void *arg, int status)
{
    unsigned me = (unsigned)ic_reactor_id(), to = (unsigned)status;
    /* Answers are not in order (one in four is answered later); they come home to the sender, each once. */
    if (FROM(arg) != me || to >= CORES || SEQ(arg) >= A.sent[me][to]) {
        atomic_fetch_add(&A.errors, 1);
        return;
    }
    A.done[me][to]++;
    if (A.done[me][to] == per_pair) {
        if (atomic_fetch_sub(&A.pairs_left, 1) == 1)
            ic_reactor_stop();
        return;
    }
    a_send(to);
}

static void a_send(unsigned to)
{
    unsigned me = (unsigned)ic_reactor_id();
    if (A.sent[me][to] >= per_pair)
        return;
    uint64_t seq = A.sent[me][to]++;
    int ret = ic_smp_submit(to, a_work, a_done, ARG(me, seq));
    /* -ENOMEM is what an injected allocation failure gives; none is injected here, so any error is one. */
    if (ret != 0) {
        atomic_fetch_add(&A.errors, 1);
        ic_reactor_stop();
    }
}

static void a_start(void *arg)
{
    unsigned me = (unsigned)ic_reactor_id();
    for (unsigned to = 0; to < CORES; to++)
        for (unsigned i = 0; to != me && i < WINDOW; i++)
            a_send(to);
}

static void all_to_all(const char *name, ic_doorbell_t bell, unsigned smp_ring, const char *faults)
{
    memset(&A, 0, sizeof(A));
    atomic_store(&A.pairs_left, CORES * (CORES - 1));
    ic_reactor_config_t cfg = config(faults, a_start);
    cfg.spin_us = 0;
    cfg.doorbell = bell;
    if (smp_ring)
        cfg.smp_ring = smp_ring;
    int ret = ic_reactor_run(&cfg);
    CHECK(ret == 0, "%s: ic_reactor_run: %s", name, ic_strerror(ret));
    CHECK(atomic_load(&A.errors) == 0, "%s: %llu order or submit errors", name, (unsigned long long)atomic_load(&A.errors));
    for (unsigned a = 0; a < CORES; a++)
        for (unsigned b = 0; b < CORES; b++)
            if (a != b) {
                CHECK(A.expect[b][a] == per_pair, "%s: %u->%u: %llu ran", name, a, b, (unsigned long long)A.expect[b][a]);
                CHECK(A.done[a][b] == per_pair, "%s: %u->%u: %llu done", name, a, b, (unsigned long long)A.done[a][b]);
            }
    printf("race_smp: %s: %llu messages per pair, %u pairs, in order\n", name, (unsigned long long)per_pair, CORES * (CORES - 1));
}

/* ---- round 3: stop while messages fly -------------------------------------------------------- */

static struct {
    _Atomic uint64_t submitted, done, refused, errors;
    ic_timer_t timer[CORES];
    uint64_t ticks[CORES];
    bool stopped[CORES]; /* [core]: its on_stop ran (touched by that core only) */
} S;

static void s_send(void);

static int s_work(ic_smp_msg_t *m, void *arg)
{
    return 0;
}

static void s_done(void *arg, int status)
{
    if (status != 0)
        atomic_fetch_add(&S.errors, 1);
    uint64_t n = atomic_fetch_add(&S.done, 1) + 1;
    if (n == per_pair * 2)
        ic_reactor_stop(); /* mid-flow: the other cores have messages in flight */
    /* Until this core's on_stop: a stopping reactor drains, and endless ping-pong would never let it. */
    if (!S.stopped[ic_reactor_id()])
        s_send();
}

static void s_send(void)
{
    unsigned me = (unsigned)ic_reactor_id();
    int ret = ic_smp_submit((me + 1) % CORES, s_work, s_done, NULL);
    if (ret == 0)
        atomic_fetch_add(&S.submitted, 1);
    else if (ret == IC_ESHUTDOWN)
        atomic_fetch_add(&S.refused, 1); /* exiting: no new work, the documented answer */
    else
        atomic_fetch_add(&S.errors, 1);
}

static void s_tick(ic_timer_t *t)
{
    unsigned me = (unsigned)ic_reactor_id();
    S.ticks[me]++;
    s_send();
}

static void s_start(void *arg)
{
    unsigned me = (unsigned)ic_reactor_id();
    ic_timer_init(&S.timer[me], s_tick);
    ic_timer_start(&S.timer[me], 100 * 1000, 100 * 1000);
    for (unsigned i = 0; i < WINDOW; i++)
        s_send();
}

static void s_stop(void *arg)
{
    S.stopped[ic_reactor_id()] = true;
    ic_timer_stop(&S.timer[ic_reactor_id()]);
}

static void stop_under_traffic(void)
{
    memset(&S, 0, sizeof(S));
    ic_reactor_config_t cfg = config(NULL, s_start);
    cfg.on_stop = s_stop;
    int ret = ic_reactor_run(&cfg);
    CHECK(ret == 0, "stop: ic_reactor_run: %s", ic_strerror(ret));
    CHECK(atomic_load(&S.errors) == 0, "stop: %llu errors", (unsigned long long)atomic_load(&S.errors));
    CHECK(atomic_load(&S.done) == atomic_load(&S.submitted), "stop: %llu submitted, %llu done",
          (unsigned long long)atomic_load(&S.submitted), (unsigned long long)atomic_load(&S.done));
    CHECK(atomic_load(&S.done) >= per_pair * 2, "stop: only %llu done", (unsigned long long)atomic_load(&S.done));
    printf("race_smp: stop under traffic: %llu submitted, all done; %llu refused while exiting\n",
           (unsigned long long)atomic_load(&S.submitted), (unsigned long long)atomic_load(&S.refused));
}

int main(int argc, char **argv)
{
    race = argc > 1 && strcmp(argv[1], "--race") == 0;
    if (race) {
        per_pair = 1000;
        all_to_all("all-to-all with a deliberate race", IC_DOORBELL_DEFAULT, 0, NULL);
        printf("race_smp: racy counter %lu\n", racy_count);
        return failures ? 1 : 0;
    }
    per_pair = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    if (per_pair < WINDOW) {
        fprintf(stderr, "usage: race_smp [messages per pair, >= %d]\n", WINDOW);
        return 2;
    }
    all_to_all("all-to-all, msg_ring doorbell", IC_DOORBELL_MSG_RING, 0, NULL);
    all_to_all("all-to-all, eventfd doorbell", IC_DOORBELL_EVENTFD, 0, NULL);
    all_to_all("overflow (4-slot rings, ring_full and sq_full injected)", IC_DOORBELL_DEFAULT, 4,
               "ring_full=0.3,sq_full=0.1,seed=5");
    stop_under_traffic();
    unsetenv("ISOCORE_FAULTS");
    if (failures) {
        fprintf(stderr, "race_smp: %u failures\n", failures);
        return 1;
    }
    printf("race_smp: ok\n");
    return 0;
}
