/*
 * bench/recycle.c: what malloc keeps per isolate, after the soak showed
 * "malloc in use" flat without isolate recycling and growing with it.
 *
 *   ./build/bin/bench_recycle [rounds] [per-round]   (default 6 rounds of 100)
 *
 * One reactor, one tenant (bench/soak/tenant.js, MODE=leak, 16 MiB heap).
 * Two loops, each reporting malloc in use (glibc mallinfo2: uordblks +
 * hblkhd, all arenas) per round:
 *   create/dispose  ic_js_worker_new + ic_js_worker_free, per-round times
 *   heap-limit      requests through an ic_js_pool until per-round more
 *                   isolates were recycled after their heap limit
 * Every figure is taken at the same point of the loop: no tenant isolate
 * alive (the heap-limit loop drops its pool's worker at the end of a
 * round; the pool's spare stays, idle, the same all along) and in a later
 * reactor turn than the last disposal, so that what a disposal hands back
 * through the loop (a platform task runner posted to the reactor while its
 * isolate went away) is back. A figure taken with an isolate alive varies
 * by tens of KiB with the state of that isolate's heap (V8's remembered
 * sets and other page metadata are malloc'd), which swamps a few hundred
 * bytes per isolate.
 * The first round of each warms up (caches, arenas) and is not counted.
 * ISOCORE_RECYCLE_EXIT=1 ends the process with _exit after the last round,
 * once the pool (and its spare) is freed, before the platform and the
 * tenant are: under heaptrack, the "leaked" allocations of a run of N
 * rounds against one of 3N rounds are what grows with N, and no isolate
 * alive at the end blurs the comparison.
 * Each figure is given twice: mallinfo2's, and an exact count of the bytes
 * handed out and not freed (this program wraps glibc's malloc family, as
 * tests/js/test_recycle.c does; not under ASan, whose malloc it is), which
 * does not move with the blocks glibc's per-thread caches hold.
 * ISOCORE_JS_NEAR_CODE=1 puts code ranges where V8 would (js/platform.cc),
 * for the figure before that change.
 * Figures, not a test: it never fails.
 */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isocore.h"

#include "t_malloc.h" /* the exact count (tests/) */

static struct {
    ic_js_tenant_t *tenant;
    ic_js_pool_t *pool;
    ic_timer_t tick;
    ic_http_request_t req;
    unsigned rounds, per_round, round;
    unsigned long long answered, recycled_mark;
    size_t mark, first;
    long long exact_mark, exact_first;
    bool exiting;   /* ISOCORE_RECYCLE_EXIT: every isolate is gone, the process ends next tick */
    bool measuring; /* the heap-limit loop: the round's worker was dropped, the figure is due next tick */
} B;

static size_t in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* Prints a round's growth; returns false after the last round. */
static bool round_done(const char *loop)
{
    size_t now = in_use();
    long long exact = t_malloc_live();
    if (B.round == 0) {
        B.first = now;
        B.exact_first = exact;
    } else {
        printf("%-15s round %u: mallinfo2 %.3f MiB, %+ld bytes per isolate; exact %+.1f bytes per isolate\n", loop, B.round,
               now / 1048576.0, ((long)now - (long)B.mark) / (long)B.per_round, (double)(exact - B.exact_mark) / B.per_round);
    }
    B.mark = now;
    B.exact_mark = exact;
    if (++B.round <= B.rounds)
        return true;
    printf("%-15s over %u rounds after the first: mallinfo2 %+.1f bytes per isolate, exact %+.2f bytes per isolate\n\n", loop,
           B.rounds, ((double)now - (double)B.first) / (double)(B.per_round * B.rounds),
           (double)(exact - B.exact_first) / (double)(B.per_round * B.rounds));
    fflush(stdout);
    return false;
}

static void answered(void *arg, const ic_js_response_t *res)
{
    B.answered++;
}

static void heap_tick(ic_timer_t *t)
{
    if (B.exiting)
        _exit(0);
    if (B.measuring) {
        B.measuring = false;
        if (!round_done("heap-limit")) {
            ic_js_pool_free(B.pool);
            B.pool = NULL;
            if (getenv("ISOCORE_RECYCLE_EXIT")) {
                B.exiting = true; /* in the next turn, when what the disposals posted has run */
                ic_timer_start(&B.tick, 1000000, 0);
            } else {
                ic_reactor_stop();
            }
            return;
        }
    }
    /* Enough requests a tick that the tenant's heap reaches its limit within a few ticks. */
    for (int i = 0; i < 200; i++)
        ic_js_pool_fetch(B.pool, B.tenant, &B.req, (ic_str_t){NULL, 0}, answered, NULL);
    ic_js_pool_stats_t st;
    ic_js_pool_stats(B.pool, &st);
    if (st.recycled - B.recycled_mark >= (B.round ? B.per_round : 10)) {
        /* The round is over: its last worker goes now, the figure is taken in the next turn. */
        B.recycled_mark = st.recycled;
        ic_js_pool_drop(B.pool, B.tenant);
        B.measuring = true;
    }
    ic_timer_start(&B.tick, 1000000, 0);
}

static void heap_start(void)
{
    static char raw[] = "GET /recycle HTTP/1.1\r\nHost: t.example\r\n\r\n";
    if (ic_http_parse_request(raw, strlen(raw), &B.req) <= 0 || ic_js_pool_new(NULL, &B.pool) < 0) {
        ic_reactor_stop();
        return;
    }
    B.round = 0;
    B.recycled_mark = 0;
    ic_timer_init(&B.tick, heap_tick);
    ic_timer_start(&B.tick, 1000000, 0);
}

/* One round of create/dispose a tick; the figure of the round before is taken first, in a later turn than its disposals. */
static void create_tick(ic_timer_t *t)
{
    char err[512];
    if (B.measuring && !round_done("create/dispose")) {
        B.measuring = false;
        heap_start();
        return;
    }
    for (unsigned i = 0; i < (B.round ? B.per_round : 10); i++) {
        ic_js_worker_t *w = NULL;
        if (ic_js_worker_new(B.tenant, &w, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench_recycle: %s\n", err);
            ic_reactor_stop();
            return;
        }
        ic_js_worker_free(w);
    }
    B.measuring = true;
    ic_timer_start(&B.tick, 1000000, 0);
}

static void start(void *arg)
{
    B.round = 0;
    ic_timer_init(&B.tick, create_tick);
    ic_timer_start(&B.tick, 1000000, 0);
}

int main(int argc, char **argv)
{
    B.rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 6;
    B.per_round = argc > 2 ? (unsigned)atoi(argv[2]) : 100;
    if (B.rounds < 1 || B.per_round < 1) {
        fprintf(stderr, "usage: bench_recycle [rounds >= 1] [per-round >= 1]\n");
        return 2;
    }
    if (ic_js_platform_init() < 0)
        return 1;
    char path[4096];
    const char *src = getenv("ISOCORE_SRC");
    snprintf(path, sizeof(path), "%s/bench/soak/tenant.js", src ? src : ".");
    ic_js_tenant_config_t cfg;
    ic_js_tenant_config_init(&cfg);
    cfg.name = "recycle";
    cfg.path = path;
    static const char *const env[] = {"NAME=recycle", "MODE=leak"};
    cfg.env = env;
    cfg.nenv = 2;
    cfg.limits.heap_bytes = 16 << 20;
    if (ic_js_tenant_new(&cfg, &B.tenant) < 0) {
        fprintf(stderr, "bench_recycle: cannot read %s (run from the source tree, or set ISOCORE_SRC)\n", path);
        return 1;
    }
    printf("# bench_recycle: malloc in use per isolate, %u rounds of %u after a warm-up round; 1 reactor\n\n", B.rounds,
           B.per_round);
    ic_reactor_config_t rc;
    ic_reactor_config_init(&rc);
    rc.cores = 1;
    rc.quiet = true;
    rc.handle_signals = false;
    rc.on_start = start;
    int ret = ic_reactor_run(&rc);
    ic_js_tenant_free(B.tenant);
    printf("%llu requests answered\n", B.answered);
    return ret < 0 ? 1 : 0;
}
