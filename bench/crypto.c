/*
 * bench/crypto.c: crypto.subtle per operation on one core, isocore against
 * Node's WebCrypto on the same machine, side by side.
 *
 *   bench_crypto [--scale X] [--rounds N] [--cpu N] [--node PATH] [--no-node]
 *
 * Both run bench/crypto.js: the same operations (SHA-256 of 1 KiB and 1 MiB,
 * HMAC-SHA256 sign/verify, ECDSA P-256 sign/verify, Ed25519 sign/verify,
 * AES-GCM of 16 KiB, RSA-2048 verify), the same inputs and the same JS loop,
 * each operation awaited before the next. isocore runs it in a worker on one
 * reactor pinned to CPU N, one request per operation; right after each,
 * `node bench/crypto_node.mjs` runs the same operation pinned to the same CPU
 * (its thread pool shares that core). Each side's figure is the best of the
 * rounds. The figures are CPU time per operation (isocore: the reactor
 * thread's; Node: the whole process's, thread pool included), which a busy
 * machine disturbs less than wall time; wall time is shown beside them.
 * Prints µs and ops/s per operation for each, and isocore's time as a
 * fraction of Node's (the goal: at most 0.5).
 */
#include <jansson.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isocore.h"

static const char *const OPS[] = {
    "SHA-256 1 KiB",      "SHA-256 1 MiB", "HMAC-SHA256 sign", "HMAC-SHA256 verify",     "ECDSA P-256 sign",
    "ECDSA P-256 verify", "Ed25519 sign",  "Ed25519 verify",   "AES-GCM 16 KiB encrypt", "RSA-2048 verify",
};
#define NOPS (sizeof(OPS) / sizeof(OPS[0]))

#define MAX_ROUNDS 9

static struct {
    ic_js_tenant_t *tenant;
    ic_js_worker_t *w;
    double scale;
    const char *node, *src;
    bool with_node, failed;
    unsigned rounds, round;
    size_t op; /* the operation asked now; NOPS: the set-up request */
    uint64_t cpu0;
    /* µs per operation, the best of the rounds: [0] isocore, [1] node; cpu and wall */
    double cpu[2][NOPS], wall[2][NOPS];
    char err[1024];
} B;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void keep_min(double *slot, double v)
{
    if (v > 0 && (*slot == 0 || v < *slot))
        *slot = v;
}

/* Runs one operation in Node (a child process, on this thread's CPU) and keeps its figures. */
static void run_node(size_t op)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' '%s/bench/crypto_node.mjs' %g '%s' 2>/dev/null", B.node, B.src, B.scale, OPS[op]);
    FILE *p = popen(cmd, "r");
    char out[4096];
    size_t n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
    out[n] = '\0';
    if (p)
        pclose(p);
    json_t *j = json_loads(out, 0, NULL);
    if (!json_is_object(j)) {
        fprintf(stderr, "bench_crypto: node answered for %s: %s\n", OPS[op], n ? out : "(nothing)");
        B.with_node = false;
    } else {
        keep_min(&B.cpu[1][op], json_number_value(json_object_get(j, "cpu")));
        keep_min(&B.wall[1][op], json_number_value(json_object_get(j, "wall")));
    }
    json_decref(j);
}

static void ask(void);

static void done(void *arg, const ic_js_response_t *r)
{
    uint64_t cpu = thread_cpu_ns() - B.cpu0;
    if (r->status != 200) {
        fprintf(stderr, "bench_crypto: the worker answered %d: %.*s\n", r->status, (int)r->len, (const char *)r->body);
        B.failed = true;
        return ic_reactor_stop();
    }
    if (B.op < NOPS) {
        json_t *j = json_loadb(r->body, r->len, 0, NULL);
        double n = json_number_value(json_object_get(j, "total")); /* the CPU clock saw the warm-up too */
        keep_min(&B.wall[0][B.op], json_number_value(json_object_get(j, "wall")));
        if (n > 0)
            keep_min(&B.cpu[0][B.op], (double)cpu / 1e3 / n);
        json_decref(j);
        /* Node's run of the same operation right after ours: both see the same machine. */
        if (B.with_node)
            run_node(B.op);
        B.op++;
    } else {
        B.op = 0;
    }
    if (B.op == NOPS) {
        B.op = 0;
        if (++B.round == B.rounds)
            return ic_reactor_stop();
    }
    ask();
}

/* Sends the set-up request first, then one request per operation and round. */
static void ask(void)
{
    static char raw[512];
    if (B.op < NOPS && B.round < B.rounds)
        snprintf(raw, sizeof(raw), "GET /run?n=%g&op=%s HTTP/1.1\r\nHost: bench\r\n\r\n", B.scale, OPS[B.op]);
    else
        snprintf(raw, sizeof(raw), "GET /setup HTTP/1.1\r\nHost: bench\r\n\r\n");
    /* Spaces in the operation's name become '+' in the query. */
    char *q = strstr(raw, "op=");
    for (char *c = q; c && *c && strncmp(c, " HTTP/1.1", 9) != 0; c++)
        if (*c == ' ')
            *c = '+';
    static ic_http_request_t req;
    if (ic_http_parse_request(raw, strlen(raw), &req) <= 0) {
        B.failed = true;
        return ic_reactor_stop();
    }
    B.cpu0 = thread_cpu_ns();
    ic_js_worker_fetch(B.w, &req, (ic_str_t){NULL, 0}, done, NULL);
}

static void on_start(void *arg)
{
    int ret = ic_js_worker_new(B.tenant, &B.w, B.err, sizeof(B.err));
    if (ret < 0) {
        fprintf(stderr, "bench_crypto: %s\n", B.err);
        B.failed = true;
        return ic_reactor_stop();
    }
    B.op = NOPS; /* the set-up request first */
    ask();
}

static void on_stop(void *arg)
{
    ic_js_worker_free(B.w);
}

int main(int argc, char **argv)
{
    B.src = getenv("ISOCORE_SRC") ? getenv("ISOCORE_SRC") : ".";
    B.node = "node";
    B.with_node = true;
    B.scale = 1;
    B.rounds = 3;
    int cpu = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            B.scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            B.rounds = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
            cpu = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--node") && i + 1 < argc)
            B.node = argv[++i];
        else if (!strcmp(argv[i], "--no-node"))
            B.with_node = false;
        else {
            fprintf(stderr, "usage: bench_crypto [--scale X] [--rounds N] [--cpu N] [--node PATH] [--no-node]\n"
                            "  (ISOCORE_SRC: the source tree holding bench/crypto.js; default .)\n");
            return 2;
        }
    }
    if (B.rounds < 1 || B.rounds > MAX_ROUNDS)
        B.rounds = 3;
    /* One core for both: the last CPU this process may use unless told. */
    cpu_set_t set;
    if (cpu < 0 && sched_getaffinity(0, sizeof(set), &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                cpu = c;
    if (cpu < 0)
        cpu = 0;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        perror("bench_crypto: sched_setaffinity");

    char path[1024];
    snprintf(path, sizeof(path), "%s/bench/crypto.js", B.src);
    ic_js_tenant_config_t tc;
    ic_js_tenant_config_init(&tc);
    tc.name = "bench-crypto";
    tc.path = path;
    tc.limits.cpu_ms = 600000;
    if (ic_js_platform_init() != 0 || ic_js_tenant_new(&tc, &B.tenant) != 0) {
        fprintf(stderr, "bench_crypto: cannot load %s\n", path);
        return 1;
    }
    ic_reactor_config_t cfg;
    ic_reactor_config_init(&cfg);
    cfg.cores = 1;
    cfg.quiet = true;
    cfg.handle_signals = false;
    cfg.on_start = on_start;
    cfg.on_stop = on_stop;
    int ret = ic_reactor_run(&cfg);
    ic_js_tenant_free(B.tenant);
    if (ret != 0 || B.failed)
        return 1;

    printf("crypto.subtle on CPU %d, best of %u rounds (scale %g): µs per operation; ops/s from CPU time\n", cpu, B.rounds,
           B.scale);
    printf("%-24s %10s %10s %9s | %10s %10s %9s | %9s %9s\n", "operation", "isocore", "(wall)", "ops/s", "node", "(wall)", "ops/s",
           "cpu ratio", "wall ratio");
    for (size_t i = 0; i < NOPS; i++) {
        double a = B.cpu[0][i], aw = B.wall[0][i], b = B.cpu[1][i], bw = B.wall[1][i];
        if (b > 0)
            printf("%-24s %10.2f %10.2f %9.0f | %10.2f %10.2f %9.0f | %9.2f %9.2f\n", OPS[i], a, aw, 1e6 / a, b, bw, 1e6 / b, a / b,
                   aw / bw);
        else
            printf("%-24s %10.2f %10.2f %9.0f | %10s %10s %9s | %9s %9s\n", OPS[i], a, aw, 1e6 / a, "-", "-", "-", "-", "-");
    }
    printf("isocore: CPU time of the reactor thread; node: CPU time of the process (its thread pool does the work).\n"
           "ratio: isocore's time per operation / Node's (goal: <= 0.5)\n");
    return 0;
}
