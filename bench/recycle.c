/*
 * bench/recycle.c: what malloc keeps per isolate, after the soak showed
 * "malloc in use" flat without isolate recycling and growing with it.
 *
 *   ./build/bin/bench_recycle [rounds]     (default 6 rounds of 100)
 *
 * One reactor, one tenant (bench/soak/tenant.js, MODE=leak, 16 MiB heap).
 * Two loops, each reporting malloc in use (glibc mallinfo2: uordblks +
 * hblkhd) per round:
 *   create/dispose  ic_js_worker_new + ic_js_worker_free, 100 per round
 *   heap-limit      requests through an ic_js_pool until 100 more isolates
 *                   were recycled after their heap limit
 * The first round of each warms up (caches, arenas) and is not counted.
 * Figures, not a test: it never fails.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isocore.h"

#define PER_ROUND 100

static struct {
    ic_js_tenant_t *tenant;
    ic_js_pool_t *pool;
    ic_timer_t tick;
    ic_http_request_t req;
    unsigned rounds, round;
    unsigned long long answered;
    size_t mark, first;
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
    if (B.round == 0) {
        B.first = now;
    } else {
        printf("%-15s round %u: malloc in use %.2f MiB, %+ld bytes per isolate this round\n", loop, B.round, now / 1048576.0,
               ((long)now - (long)B.mark) / PER_ROUND);
    }
    B.mark = now;
    if (++B.round <= B.rounds)
        return true;
    printf("%-15s over %u rounds after the first: %+ld bytes per isolate\n\n", loop, B.rounds,
           ((long)now - (long)B.first) / (long)(PER_ROUND * B.rounds));
    return false;
}

static void answered(void *arg, const ic_js_response_t *res)
{
    B.answered++;
}

static void tick(ic_timer_t *t)
{
    /* Enough requests a tick that the tenant's heap reaches its limit within a few ticks. */
    for (int i = 0; i < 200; i++)
        ic_js_pool_fetch(B.pool, B.tenant, &B.req, (ic_str_t){NULL, 0}, answered, NULL);
    ic_js_pool_stats_t st;
    ic_js_pool_stats(B.pool, &st);
    if (st.recycled >= (unsigned long long)(B.round + 1) * PER_ROUND && !round_done("heap-limit")) {
        ic_js_pool_free(B.pool);
        B.pool = NULL;
        ic_reactor_stop();
        return;
    }
    ic_timer_start(&B.tick, 1000000, 0);
}

static void start(void *arg)
{
    char err[512];
    B.round = 0;
    do {
        for (int i = 0; i < (B.round ? PER_ROUND : 10); i++) {
            ic_js_worker_t *w = NULL;
            if (ic_js_worker_new(B.tenant, &w, err, sizeof(err)) < 0) {
                fprintf(stderr, "bench_recycle: %s\n", err);
                ic_reactor_stop();
                return;
            }
            ic_js_worker_free(w);
        }
    } while (round_done("create/dispose"));

    static char raw[] = "GET /recycle HTTP/1.1\r\nHost: t.example\r\n\r\n";
    if (ic_http_parse_request(raw, strlen(raw), &B.req) <= 0 || ic_js_pool_new(NULL, &B.pool) < 0) {
        ic_reactor_stop();
        return;
    }
    B.round = 0;
    ic_timer_init(&B.tick, tick);
    ic_timer_start(&B.tick, 1000000, 0);
}

int main(int argc, char **argv)
{
    B.rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 6;
    if (B.rounds < 1) {
        fprintf(stderr, "usage: bench_recycle [rounds >= 1]\n");
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
    printf("# bench_recycle: malloc in use per isolate, %u rounds of %d after a warm-up round; 1 reactor\n\n", B.rounds, PER_ROUND);
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
