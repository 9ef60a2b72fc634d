/*
 * bench/crypto.c: crypto.subtle per operation on one core, isocore against
 * Node's WebCrypto on the same machine, side by side.
 *
 *   bench_crypto [--scale X] [--cpu N] [--node PATH] [--no-node]
 *
 * Both run bench/crypto.js: the same operations (SHA-256 of 1 KiB and 1 MiB,
 * HMAC-SHA256 sign/verify, ECDSA P-256 sign/verify, Ed25519 sign/verify,
 * AES-GCM of 16 KiB, RSA-2048 verify), the same inputs and the same JS loop,
 * each operation awaited before the next, timed by performance.now() around
 * the loop. isocore runs it in a worker on one reactor pinned to CPU N (one
 * request, one entry); then `node bench/crypto_node.mjs` runs it pinned to
 * the same CPU (its thread pool shares that core, as the reactor would).
 * Prints µs and ops/s per operation for each, and isocore's time as a
 * fraction of Node's (the goal: at most 0.5).
 */
#include <jansson.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isocore.h"

static const char *const OPS[] = {
    "SHA-256 1 KiB",      "SHA-256 1 MiB", "HMAC-SHA256 sign", "HMAC-SHA256 verify",     "ECDSA P-256 sign",
    "ECDSA P-256 verify", "Ed25519 sign",  "Ed25519 verify",   "AES-GCM 16 KiB encrypt", "RSA-2048 verify",
};
#define NOPS (sizeof(OPS) / sizeof(OPS[0]))

static struct {
    ic_js_tenant_t *tenant;
    ic_js_worker_t *w;
    double scale;
    int status;
    char *body;
    char err[1024];
} B;

static void done(void *arg, const ic_js_response_t *r)
{
    B.status = r->status;
    B.body = strndup(r->body, r->len);
    ic_reactor_stop();
}

static void on_start(void *arg)
{
    int ret = ic_js_worker_new(B.tenant, &B.w, B.err, sizeof(B.err));
    if (ret < 0) {
        fprintf(stderr, "bench_crypto: %s\n", B.err);
        return ic_reactor_stop();
    }
    static char raw[256];
    snprintf(raw, sizeof(raw), "GET /run?n=%g HTTP/1.1\r\nHost: bench\r\n\r\n", B.scale);
    static ic_http_request_t req;
    if (ic_http_parse_request(raw, strlen(raw), &req) <= 0)
        return ic_reactor_stop();
    ic_js_worker_fetch(B.w, &req, (ic_str_t){NULL, 0}, done, NULL);
}

static void on_stop(void *arg)
{
    ic_js_worker_free(B.w);
}

/* Parses {"op": µs, …}; NULL (with a message) when it is not that. */
static json_t *parse(const char *who, const char *text)
{
    json_error_t e;
    json_t *j = text ? json_loads(text, 0, &e) : NULL;
    if (!json_is_object(j)) {
        fprintf(stderr, "bench_crypto: %s answered: %s\n", who, text ? text : "(nothing)");
        json_decref(j);
        return NULL;
    }
    return j;
}

int main(int argc, char **argv)
{
    const char *src = getenv("ISOCORE_SRC") ? getenv("ISOCORE_SRC") : ".";
    const char *node = "node";
    int cpu = -1;
    bool with_node = true;
    B.scale = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            B.scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
            cpu = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--node") && i + 1 < argc)
            node = argv[++i];
        else if (!strcmp(argv[i], "--no-node"))
            with_node = false;
        else {
            fprintf(stderr, "usage: bench_crypto [--scale X] [--cpu N] [--node PATH] [--no-node]\n"
                            "  (ISOCORE_SRC: the source tree holding bench/crypto.js; default .)\n");
            return 2;
        }
    }
    /* One core for both: the last CPU this process may use unless told. */
    cpu_set_t set;
    if (cpu < 0 && sched_getaffinity(0, sizeof(set), &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                cpu = c;
    CPU_ZERO(&set);
    CPU_SET(cpu < 0 ? 0 : cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        perror("bench_crypto: sched_setaffinity");

    char path[1024];
    snprintf(path, sizeof(path), "%s/bench/crypto.js", src);
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
    if (ret != 0 || B.status != 200) {
        fprintf(stderr, "bench_crypto: the worker answered %d: %s\n", B.status, B.body ? B.body : "");
        return 1;
    }
    json_t *ours = parse("isocore", B.body), *theirs = NULL;
    free(B.body);
    if (!ours)
        return 1;

    if (with_node) {
        char cmd[2048];
        snprintf(cmd, sizeof(cmd), "'%s' '%s/bench/crypto_node.mjs' %g 2>/dev/null", node, src, B.scale);
        FILE *p = popen(cmd, "r");
        static char out[1 << 16];
        size_t n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
        out[n] = '\0';
        if (p)
            pclose(p);
        theirs = parse("node", n ? out : NULL);
    }

    printf("crypto.subtle on CPU %d (scale %g): µs per operation (ops/s)\n", cpu < 0 ? 0 : cpu, B.scale);
    printf("%-24s %12s %10s %12s %10s %8s\n", "operation", "isocore µs", "ops/s", "node µs", "ops/s", "ratio");
    for (size_t i = 0; i < NOPS; i++) {
        double a = json_real_value(json_object_get(ours, OPS[i]));
        double b = theirs ? json_real_value(json_object_get(theirs, OPS[i])) : 0;
        if (b > 0)
            printf("%-24s %12.2f %10.0f %12.2f %10.0f %8.2f\n", OPS[i], a, 1e6 / a, b, 1e6 / b, a / b);
        else
            printf("%-24s %12.2f %10.0f %12s %10s %8s\n", OPS[i], a, 1e6 / a, "-", "-", "-");
    }
    printf("ratio: isocore's time per operation / Node's (goal: <= 0.5)\n");
    json_decref(ours);
    json_decref(theirs);
    return 0;
}
