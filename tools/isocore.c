/*
 * isocore.c: the `isocore` command line.
 *
 *   isocore serve app.js [--port P] [--host A] [--cores N] [--env NAME=VALUE]…
 *                 [--cpu-ms N] [--wall-ms N] [--heap-mb N]
 *                                        serve a Workers program: one reactor per CPU of the
 *                                        affinity mask, each with the worker in its own isolate
 *   isocore serve --static TEXT [--port P] [--host A] [--cores N]
 *                                        serve TEXT to every request (the no-JS fast path)
 *   isocore version                      print versions
 *
 *   isocore serve --config FILE [--port P] [--cores N] [--admin-port P] [--node-name N]
 *                                        serve the workers of a JSON config (router/); the admin
 *                                        listener answers /metrics and /healthz
 *   isocore check --config FILE          validate a config (and read its modules) without serving
 *
 * `serve` runs until SIGINT or SIGTERM, then drains and exits 0.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isocore.h"

struct serve {
    const char *path;
    const char *text;   /* --static */
    const char *config; /* --config */
    const char *node;   /* --node-name: over the config's "node", also after a reload */
    ic_router_config_t *rcfg;
    ic_router_t *router;
    ic_router_slot_t *slot;
    unsigned ncores;
    char summary[512], summary_admin[128];
    ic_http_server_t *http, *admin;
    ic_js_tenant_t *tenant;
    ic_js_pool_t *pool[IC_MAX_CORES];    /* slot i is touched only by reactor i */
    ic_timer_t admin_wait[IC_MAX_CORES]; /* slot i: reactor i's admin listener waits for its connections to drain */
    _Atomic int failed;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: isocore serve app.js [--port P] [--host ADDR] [--cores N] [--env NAME=VALUE]...\n"
               "                    [--cpu-ms N] [--wall-ms N] [--heap-mb N]\n"
               "       isocore serve --config FILE [--port P] [--cores N] [--admin-port P] [--node-name N]\n"
               "       isocore check --config FILE\n"
               "       isocore serve --static TEXT [--port P] [--host ADDR] [--cores N]\n"
               "       isocore version\n");
}

static void static_handler(ic_http_exchange_t *x, void *arg)
{
    struct serve *s = arg;
    static const char *const headers[] = {"Content-Type: text/plain; charset=utf-8"};
    ic_http_respond(x, 200, headers, 1, s->text, strlen(s->text));
}

static void static_start(void *arg)
{
    struct serve *s = arg;
    int ret = ic_http_server_start(s->http);
    if (ret < 0) {
        ic_log(IC_LOG_ERROR, "cannot start the HTTP server: %s", ic_strerror(ret));
        atomic_store(&s->failed, 1);
        ic_reactor_stop();
    }
}

static void static_stop(void *arg)
{
    struct serve *s = arg;
    ic_http_server_stop(s->http);
}

static long parse_num(const char *opt, const char *v, long lo, long hi)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) {
        fprintf(stderr, "isocore: %s takes a number from %ld to %ld, not '%s'\n", opt, lo, hi, v);
        return -1;
    }
    return n;
}

/* ---- serving a worker ------------------------------------------------------------------ */

static void js_done(void *arg, const ic_js_response_t *res)
{
    ic_js_http_respond(arg, res, NULL); /* a streamed body goes out as it is produced */
}

/* The tenant's warm worker on this core answers; the pool recreates it if it was recycled. */
static void js_handler(ic_http_exchange_t *x, void *arg)
{
    struct serve *s = arg;
    ic_js_pool_http_fetch(s->pool[ic_reactor_id()], s->tenant, x, IC_JS_STREAM, js_done, x);
}

static void serve_start(void *arg)
{
    struct serve *s = arg;
    int id = ic_reactor_id();
    ic_js_worker_t *w;
    char err[1024];
    ic_js_pool_config_t pc = {.no_spare = true}; /* one tenant: no new tenant will ever need a spare isolate */
    int ret = ic_js_pool_new(&pc, &s->pool[id]);
    if (ret == 0 && (ret = ic_js_pool_get(s->pool[id], s->tenant, &w, err, sizeof(err))) < 0)
        ic_log(IC_LOG_ERROR, "%s", err[0] ? err : ic_strerror(ret));
    if (ret == 0) {
        ret = ic_http_server_start(s->http);
        if (ret == 0)
            return;
        ic_log(IC_LOG_ERROR, "cannot start the HTTP server: %s", ic_strerror(ret));
    }
    atomic_store(&s->failed, 1);
    ic_reactor_stop();
}

static void serve_stop(void *arg)
{
    struct serve *s = arg;
    int id = ic_reactor_id();
    ic_http_server_stop(s->http);
    ic_js_pool_free(s->pool[id]); /* requests still waiting on timers get 503 */
    s->pool[id] = NULL;
}

/* The cores the reactors will run on: --cores, else the CPUs of the affinity mask. */
static unsigned planned_cores(const ic_reactor_config_t *cfg)
{
    return ic_reactor_planned(cfg);
}

static int serve_static(struct serve *s, ic_reactor_config_t *cfg, ic_http_server_config_t *hcfg)
{
    hcfg->handler = static_handler;
    hcfg->arg = s;
    int ret = ic_http_server_new(hcfg, planned_cores(cfg), &s->http);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot listen on %s:%u: %s\n", hcfg->host, hcfg->port, ic_strerror(ret));
        return 1;
    }
    ic_log(IC_LOG_INFO, "serving static text on http://%s:%u/", hcfg->host, ic_http_server_port(s->http));
    cfg->on_start = static_start;
    cfg->on_stop = static_stop;
    cfg->arg = s;
    ret = ic_reactor_run(cfg);
    if (ret >= 0) {
        /* What this process served, for whoever hands its port over to another one. */
        unsigned long long requests = 0, accepted = 0;
        for (unsigned i = 0; i < planned_cores(cfg); i++) {
            ic_http_server_stats_t st;
            ic_http_server_stats(s->http, i, &st);
            requests += st.requests;
            accepted += st.accepted;
        }
        ic_log(IC_LOG_INFO, "stopped: %llu requests on %llu connections", requests, accepted);
    }
    ic_http_server_free(s->http);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot start the reactors: %s\n", ic_strerror(ret));
        return 1;
    }
    return atomic_load(&s->failed) ? 1 : 0;
}

/* ---- serving a config (many tenants) ------------------------------------------------------ */

static void config_start(void *arg)
{
    struct serve *s = arg;
    if (ic_reactor_id() == 0)
        ic_log(IC_LOG_INFO, "%s on %u cores (%s), io_uring %s%s", s->summary, ic_reactor_count(),
               ic_reactor_cpu(0) >= 0 ? "pinned" : "not pinned", ic_reactor_mode(), s->summary_admin);
    int ret = ic_router_slot_start(s->slot);
    if (ret == 0)
        ret = ic_http_server_start(s->http);
    if (ret == 0 && s->admin)
        ret = ic_http_server_start(s->admin);
    if (ret == 0)
        return;
    ic_log(IC_LOG_ERROR, "cannot start serving: %s", ic_strerror(ret));
    atomic_store(&s->failed, 1);
    ic_reactor_stop();
}

/*
 * The admin listener outlives the main one while this core still has
 * connections to drain, so that a balancer's health check reads "draining"
 * (503) rather than a refused connection, and takes the node out before it
 * goes. The reference keeps the reactor alive for the timer (timers alone do
 * not).
 */
static void admin_wait_fired(ic_timer_t *t)
{
    int id = ic_reactor_id();
    struct serve *s = (struct serve *)((char *)(t - id) - offsetof(struct serve, admin_wait));
    ic_http_server_stats_t st;
    ic_http_server_stats(s->http, (unsigned)id, &st);
    if (st.open > 0)
        return;
    ic_timer_stop(t);
    ic_http_server_stop(s->admin);
    ic_reactor_unref();
}

static void config_stop(void *arg)
{
    struct serve *s = arg;
    ic_http_server_stop(s->http);
    ic_router_slot_stop(s->slot); /* from here /healthz says "draining" */
    if (s->admin) {
        int id = ic_reactor_id();
        ic_reactor_ref();
        ic_timer_init(&s->admin_wait[id], admin_wait_fired);
        ic_timer_start(&s->admin_wait[id], 0, 20 * 1000000ull);
    }
}

/* SIGHUP: read the config again; new requests go to the new one, in-flight ones finish on the old. */
static void config_reload(void *arg)
{
    struct serve *s = arg;
    char err[1024];
    ic_router_config_t *cfg;
    ic_router_t *r;
    if (ic_router_config_load(s->config, &cfg, err, sizeof(err)) < 0) {
        ic_log(IC_LOG_ERROR, "reload: %s (the running config stays)", err);
        return;
    }
    if (s->node && ic_router_config_set_node(cfg, s->node) < 0) {
        ic_log(IC_LOG_ERROR, "reload: out of memory (the running config stays)");
        ic_router_config_free(cfg);
        return;
    }
    if (ic_router_new(cfg, s->ncores, &r, err, sizeof(err)) < 0) {
        ic_log(IC_LOG_ERROR, "reload: %s (the running config stays)", err);
        ic_router_config_free(cfg);
        return;
    }
    ic_router_adopt_config(r, cfg);
    if (ic_router_slot_swap(s->slot, r) < 0) {
        ic_log(IC_LOG_ERROR, "reload: too many reloads still draining; try again shortly");
        ic_router_free(r);
        return;
    }
    ic_log(IC_LOG_INFO, "reload: %s: %u tenants (listen addresses and cores changes need a restart)", s->config,
           ic_router_config_workers(cfg));
}

static int serve_config(struct serve *s, ic_reactor_config_t *cfg, ic_http_server_config_t *hcfg, bool port_given, int admin_port)
{
    char err[1024];
    int ret = ic_router_config_load(s->config, &s->rcfg, err, sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "isocore: %s\n", err);
        return 1;
    }
    if (s->node && ic_router_config_set_node(s->rcfg, s->node) < 0) {
        fprintf(stderr, "isocore: --node-name takes 1 to 63 of A-Z a-z 0-9 . _ -, not '%s'\n", s->node);
        ic_router_config_free(s->rcfg);
        return 2;
    }
    if (!cfg->cores)
        cfg->cores = ic_router_config_cores(s->rcfg);
    unsigned n = planned_cores(cfg);
    s->ncores = n;
    if ((ret = ic_router_new(s->rcfg, n, &s->router, err, sizeof(err))) < 0) {
        fprintf(stderr, "isocore: %s\n", err);
        ic_router_config_free(s->rcfg);
        return 1;
    }
    ic_router_adopt_config(s->router, s->rcfg);
    if (ic_router_slot_new(s->router, &s->slot) < 0) {
        ic_router_free(s->router);
        return 1;
    }
    if ((ret = ic_js_platform_init()) < 0) {
        fprintf(stderr, "isocore: cannot initialise V8: %s\n", ic_strerror(ret));
        ic_router_slot_free(s->slot);
        return 1;
    }
    hcfg->host = ic_router_config_host(s->rcfg);
    if (!port_given)
        hcfg->port = ic_router_config_port(s->rcfg);
    hcfg->handler = ic_router_slot_handle;
    hcfg->arg = s->slot;
    hcfg->stream_bodies = true; /* uploads reach the worker as they arrive (forwarded ones are gathered first: router.c) */
    if (admin_port < 0)
        admin_port = ic_router_config_admin_port(s->rcfg);
    ret = ic_http_server_new(hcfg, n, &s->http);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot listen on %s:%u: %s\n", hcfg->host, hcfg->port, ic_strerror(ret));
    } else if (admin_port >= 0) {
        ic_http_server_config_t acfg;
        ic_http_server_config_init(&acfg);
        acfg.host = ic_router_config_admin_host(s->rcfg);
        acfg.port = (unsigned)admin_port;
        acfg.handler = ic_router_slot_admin_handle;
        acfg.arg = s->slot;
        acfg.drain_ms = 0; /* it stops last (admin_wait_fired): nothing to wait for then */
        if ((ret = ic_http_server_new(&acfg, n, &s->admin)) < 0)
            fprintf(stderr, "isocore: cannot listen on %s:%d (admin): %s\n", acfg.host, admin_port, ic_strerror(ret));
    }
    if (ret == 0) {
        if (s->admin)
            snprintf(s->summary_admin, sizeof(s->summary_admin), ", metrics on http://%s:%u/metrics",
                     ic_router_config_admin_host(s->rcfg), ic_http_server_port(s->admin));
        snprintf(s->summary, sizeof(s->summary), "serving %s on http://%s:%u/: %u tenants", s->config, hcfg->host,
                 ic_http_server_port(s->http), ic_router_config_workers(s->rcfg));
        cfg->quiet = true; /* one start-up line, written by core 0 once every reactor runs */
        cfg->on_start = config_start;
        cfg->on_stop = config_stop;
        cfg->on_hup = config_reload;
        cfg->arg = s;
        ret = ic_reactor_run(cfg);
        if (ret < 0)
            fprintf(stderr, "isocore: cannot start the reactors: %s\n", ic_strerror(ret));
    }
    if (s->admin)
        ic_http_server_free(s->admin);
    if (s->http)
        ic_http_server_free(s->http);
    ic_router_slot_free(s->slot);
    ic_js_platform_shutdown();
    return ret < 0 || atomic_load(&s->failed) ? 1 : 0;
}

static int cmd_check(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "--config") != 0) {
        usage(stderr);
        return 2;
    }
    char err[1024];
    ic_router_config_t *cfg;
    if (ic_router_config_load(argv[1], &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "isocore: %s\n", err);
        return 1;
    }
    ic_router_t *r;
    int ret = ic_router_new(cfg, 1, &r, err, sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "isocore: %s\n", err);
        ic_router_config_free(cfg);
        return 1;
    }
    printf("%s: ok (%u workers)\n", argv[1], ic_router_config_workers(cfg));
    ic_router_free(r);
    ic_router_config_free(cfg);
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    static struct serve s;
    ic_reactor_config_t cfg;
    ic_reactor_config_init(&cfg);
    s.path = NULL;
    ic_http_server_config_t hcfg;
    ic_http_server_config_init(&hcfg);
    ic_js_limits_t limits = {0};
    const char *envv[argc + 1]; /* --env NAME=VALUE options */
    unsigned nenv = 0;
    bool port_given = false;
    int admin_port = -1;
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (!strcmp(argv[i], "--cores") && has_value) {
            long n = parse_num("--cores", argv[++i], 1, IC_MAX_CORES);
            if (n < 0)
                return 2;
            cfg.cores = (unsigned)n;
        } else if (!strcmp(argv[i], "--port") && has_value) {
            long n = parse_num("--port", argv[++i], 0, 65535);
            if (n < 0)
                return 2;
            hcfg.port = (unsigned)n;
            port_given = true;
        } else if (!strcmp(argv[i], "--admin-port") && has_value) {
            long n = parse_num("--admin-port", argv[++i], 0, 65535);
            if (n < 0)
                return 2;
            admin_port = (int)n;
        } else if (!strcmp(argv[i], "--node-name") && has_value) {
            s.node = argv[++i];
        } else if (!strcmp(argv[i], "--config") && has_value) {
            s.config = argv[++i];
        } else if (!strcmp(argv[i], "--host") && has_value) {
            hcfg.host = argv[++i];
        } else if (!strcmp(argv[i], "--env") && has_value) {
            if (!strchr(argv[i + 1], '=')) {
                fprintf(stderr, "isocore: --env takes NAME=VALUE, not '%s'\n", argv[i + 1]);
                return 2;
            }
            envv[nenv++] = argv[++i];
        } else if (!strcmp(argv[i], "--cpu-ms") && has_value) {
            long n = parse_num("--cpu-ms", argv[++i], 1, 3600000);
            if (n < 0)
                return 2;
            limits.cpu_ms = (unsigned)n;
        } else if (!strcmp(argv[i], "--wall-ms") && has_value) {
            long n = parse_num("--wall-ms", argv[++i], 1, 3600000);
            if (n < 0)
                return 2;
            limits.wall_ms = (unsigned)n;
        } else if (!strcmp(argv[i], "--heap-mb") && has_value) {
            long n = parse_num("--heap-mb", argv[++i], 16, 65536);
            if (n < 0)
                return 2;
            limits.heap_bytes = (size_t)n << 20;
            limits.buffer_bytes = (size_t)n << 20;
        } else if (!strcmp(argv[i], "--static") && has_value) {
            s.text = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "isocore: unknown option '%s' (or it lacks its value)\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!s.path) {
            s.path = argv[i];
        } else {
            fprintf(stderr, "isocore: one worker script only (got '%s' and '%s')\n", s.path, argv[i]);
            return 2;
        }
    }
    if (s.config) {
        if (s.path || s.text) {
            fprintf(stderr, "isocore: --config serves the workers of the config; give no script or --static with it\n");
            return 2;
        }
        return serve_config(&s, &cfg, &hcfg, port_given, admin_port);
    }
    if (s.node) {
        fprintf(stderr, "isocore: --node-name names a node serving a --config\n");
        return 2;
    }
    if (s.text) {
        if (s.path) {
            fprintf(stderr, "isocore: --static serves a fixed text; give no script with it\n");
            return 2;
        }
        return serve_static(&s, &cfg, &hcfg);
    }
    if (!s.path) {
        usage(stderr);
        return 2;
    }
    ic_js_tenant_config_t tc;
    ic_js_tenant_config_init(&tc);
    tc.path = s.path;
    tc.env = envv;
    tc.nenv = nenv;
    tc.limits = limits;
    /* The tenant is named after its file: "hello" for examples/hello.js. */
    char name[256];
    const char *base = strrchr(s.path, '/') ? strrchr(s.path, '/') + 1 : s.path;
    snprintf(name, sizeof(name), "%s", base);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    tc.name = name;
    int ret = ic_js_tenant_new(&tc, &s.tenant);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot read %s: %s\n", s.path, ic_strerror(ret));
        return 1;
    }
    ret = ic_js_platform_init();
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot initialise V8: %s\n", ic_strerror(ret));
        ic_js_tenant_free(s.tenant);
        return 1;
    }
    hcfg.handler = js_handler;
    hcfg.arg = &s;
    hcfg.stream_bodies = true; /* uploads reach the worker as they arrive */
    ret = ic_http_server_new(&hcfg, planned_cores(&cfg), &s.http);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot listen on %s:%u: %s\n", hcfg.host, hcfg.port, ic_strerror(ret));
        ic_js_platform_shutdown();
        ic_js_tenant_free(s.tenant);
        return 1;
    }
    ic_log(IC_LOG_INFO, "serving %s on http://%s:%u/ (%u cores, one isolate each)", s.path, hcfg.host, ic_http_server_port(s.http),
           planned_cores(&cfg));
    cfg.on_start = serve_start;
    cfg.on_stop = serve_stop;
    cfg.arg = &s;
    ret = ic_reactor_run(&cfg);
    ic_http_server_free(s.http);
    ic_js_platform_shutdown();
    ic_js_tenant_free(s.tenant);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot start the reactors: %s\n", ic_strerror(ret));
        return 1;
    }
    return atomic_load(&s.failed) ? 1 : 0;
}

/*
 * `serve` takes SIGINT and SIGTERM (and SIGHUP with a config) through the
 * reactors' signalfd. They are blocked here, before V8's platform threads, the
 * watchdog and the reactors exist (every thread inherits the mask), so that a
 * signal at any moment of start-up waits for the signalfd instead of killing
 * the process with the default action; it is then handled like any other (a
 * drain and exit 0). The default action is restored first: a shell starts
 * background jobs with SIGINT ignored, and an ignored signal is discarded even
 * while blocked.
 */
static void block_signals_early(int argc, char **argv)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--config")) {
            sigaddset(&set, SIGHUP); /* a reload; without a config SIGHUP keeps its default action */
            signal(SIGHUP, SIG_DFL);
        }
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "serve")) {
        block_signals_early(argc, argv);
        return cmd_serve(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "check"))
        return cmd_check(argc - 2, argv + 2);
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("isocore %s (V8 %s)\n", ISOCORE_VERSION, ic_js_version());
        return 0;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "isocore: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
