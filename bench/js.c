/*
 * bench/js.c: the cost of the JS layer without the network.
 *
 *   bench_js [--calls N] [--starts N]
 *
 * 1. Warm call: ic_js_worker_fetch on a warm worker (hello, json), N calls
 *    on this thread; reports wall and thread-CPU ns per call (the request
 *    object, the handler, the response read back into C).
 * 2. Cold start: ic_js_worker_new + ic_js_worker_free for hello, with the
 *    startup snapshot and without it (ISOCORE_JS_SNAPSHOT=0), each in its own
 *    child process since the snapshot is built by ic_js_platform_init; and a
 *    new tenant started in a pool's spare isolate (made beforehand).
 *    Reports the median and p90 of N starts.
 * Run it pinned (taskset -c 0) and compare medians of several runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isocore.h"

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t answered;

static void done(void *arg, const ic_js_response_t *r)
{
    if (r->status == 200)
        answered++;
}

static ic_js_tenant_t *tenant(const char *name, const char *src)
{
    ic_js_tenant_config_t cfg;
    ic_js_tenant_config_init(&cfg);
    cfg.name = name;
    cfg.path = name;
    cfg.src = src;
    cfg.len = strlen(src);
    ic_js_tenant_t *t;
    if (ic_js_tenant_new(&cfg, &t) < 0)
        exit(1);
    return t;
}

static const char hello[] = "export default { async fetch(request, env, ctx) { return new Response('Hello World'); } };";
static const char json[] = "let id = 0; export default { async fetch(request) { return Response.json({ id: ++id, path: new "
                           "URL(request.url).pathname, items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }); } };";

static void warm(const char *name, const char *src, long calls)
{
    static const char raw[] = "GET /bench/path?q=1 HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";
    ic_http_request_t req;
    if (ic_http_parse_request(raw, sizeof(raw) - 1, &req) <= 0)
        exit(1);
    ic_js_tenant_t *t = tenant(name, src);
    ic_js_worker_t *w;
    char err[512];
    if (ic_js_worker_new(t, &w, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    for (long i = 0; i < calls / 10; i++) /* warm-up: let the JIT settle */
        ic_js_worker_fetch(w, &req, (ic_str_t){NULL, 0}, done, NULL);
    answered = 0;
    uint64_t c0 = cpu_ns(), t0 = ic_clock_ns();
    for (long i = 0; i < calls; i++)
        ic_js_worker_fetch(w, &req, (ic_str_t){NULL, 0}, done, NULL);
    uint64_t t1 = ic_clock_ns(), c1 = cpu_ns();
    printf("warm call %-5s  %8.0f ns wall  %8.0f ns cpu  per call (%zu of %ld answered 200)\n", name, (double)(t1 - t0) / calls,
           (double)(c1 - c0) / calls, answered, calls);
    ic_js_worker_free(w);
    ic_js_tenant_free(t);
}

/* A new tenant on a core whose pool holds a spare isolate (made before, off the request's path). */
static void cold_spare(int starts)
{
    ic_js_tenant_t *t = tenant("hello", hello);
    uint64_t *ns = calloc((size_t)starts, sizeof(uint64_t));
    ic_js_pool_config_t pc = {.no_spare = true};
    ic_js_pool_t *pool;
    if (ic_js_pool_new(&pc, &pool) < 0)
        exit(1);
    for (int i = 0; i < starts; i++) {
        ic_js_worker_t *w;
        char err[512];
        if (ic_js_pool_prepare(pool) < 0)
            exit(1);
        uint64_t t0 = ic_clock_ns();
        if (ic_js_pool_get(pool, t, &w, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
        ns[i] = ic_clock_ns() - t0;
        ic_js_pool_drop(pool, t);
    }
    qsort(ns, (size_t)starts, sizeof(uint64_t), cmp_u64);
    printf("tenant start on a spare isolate median %6.2f ms  p90 %6.2f ms  (module + handler into a pre-made isolate, %d starts)\n",
           (double)ns[starts / 2] / 1e6, (double)ns[starts * 9 / 10] / 1e6, starts);
    free(ns);
    ic_js_pool_free(pool);
    ic_js_tenant_free(t);
}

static void cold(const char *label, int starts)
{
    ic_js_tenant_t *t = tenant("hello", hello);
    uint64_t *ns = calloc((size_t)starts, sizeof(uint64_t));
    for (int i = 0; i < starts; i++) {
        ic_js_worker_t *w;
        char err[512];
        uint64_t t0 = ic_clock_ns();
        if (ic_js_worker_new(t, &w, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
        ns[i] = ic_clock_ns() - t0;
        ic_js_worker_free(w);
    }
    qsort(ns, (size_t)starts, sizeof(uint64_t), cmp_u64);
    printf("cold start %-17s median %6.2f ms  p90 %6.2f ms  (isolate + context + Web API + module, %d starts)\n", label,
           (double)ns[starts / 2] / 1e6, (double)ns[starts * 9 / 10] / 1e6, starts);
    free(ns);
    ic_js_tenant_free(t);
}

int main(int argc, char **argv)
{
    long calls = 200000;
    int starts = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--calls"))
            calls = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--starts"))
            starts = atoi(argv[i + 1]);
    }
    if (calls < 10 || starts < 1) {
        fprintf(stderr, "usage: bench_js [--calls N] [--starts N]\n");
        return 2;
    }
    printf("isocore %s, V8 %s\n", ISOCORE_VERSION, ic_js_version());
    for (int snap = 1; snap >= 0; snap--) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (!snap)
                setenv("ISOCORE_JS_SNAPSHOT", "0", 1);
            uint64_t t0 = ic_clock_ns();
            if (ic_js_platform_init() < 0)
                _exit(1);
            if (snap)
                printf("platform init with the snapshot build: %.1f ms (once per process)\n", (double)(ic_clock_ns() - t0) / 1e6);
            cold(snap ? "with snapshot" : "without snapshot", starts);
            if (snap) {
                cold_spare(starts);
                warm("hello", hello, calls);
                warm("json", json, calls);
            }
            fflush(stdout);
            ic_js_platform_shutdown();
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 1;
    }
    return 0;
}
