/*
 * isocore.c: the `isocore` command line.
 *
 *   isocore serve app.js [--port P] [--host A] [--cores N] [--env NAME=VALUE]…
 *                 [--cpu-ms N] [--wall-ms N] [--heap-mb N] [--tls-cert F --tls-key F]
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
 *   isocore serve --config wrangler.toml [--config FILE]…
 *                                        a Workers project's wrangler.toml / .json / .jsonc (one worker
 *                                        each; router/wrangler.c); TypeScript and npm imports are bundled
 *                                        on load (router/bundle.c)
 *   isocore dev [app.ts | wrangler.toml]… [--port P] [--cores N]
 *                                        serve on 127.0.0.1:8787, rebuild and swap the workers in place
 *                                        when their files change (the wrangler file here by default)
 *
 * `serve` runs until SIGINT or SIGTERM, then drains and exits 0.
 * --tls-cert and --tls-key (PEM files: the chain, leaf first, and its key)
 * make any of the three serve HTTPS; a config's "listen": {"tls": …} does
 * the same (the options win over it). A certificate or key that cannot be
 * loaded stops the start with exit status 2, naming the file and OpenSSL's reason.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isocore.h"
#include "router/bundle.h" /* tools/ may use router/'s internals: the bundler */

struct serve {
    const char *path;
    const char *text;   /* --static */
    bool drain_given;   /* --drain-timeout-ms */
    const char *config; /* --config (the first) */
    const char *configs[32];
    struct dev *dev;   /* `isocore dev`: the watcher, or NULL */
    unsigned nconfigs; /* --config FILE…: one isocore JSON config, or wrangler files and worker files (load_configs) */
    const char *node;  /* --node-name: over the config's "node", also after a reload */
    ic_router_config_t *rcfg;
    ic_router_t *router;
    ic_router_slot_t *slot;
    unsigned ncores;
    char summary[512], summary_admin[128];
    ic_http_server_t *http, *admin;
    ic_js_tenant_t *tenant;
    ic_js_pool_t *pool[IC_MAX_CORES];    /* slot i is touched only by reactor i */
    const char *tls_cert, *tls_key;      /* --tls-cert, --tls-key */
    ic_tls_ctx_t *tls;                   /* the server context made from them (or from the config's listen.tls) */
    ic_timer_t admin_wait[IC_MAX_CORES]; /* slot i: reactor i's admin listener waits for its connections to drain */
    ic_timer_t pool_wait[IC_MAX_CORES];  /* slot i: reactor i's pool waits for its connections to drain (serve_stop) */
    _Atomic int failed;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: isocore serve app.js [--port P] [--host ADDR] [--cores N] [--env NAME=VALUE]...\n"
               "                    [--cpu-ms N] [--wall-ms N] [--heap-mb N] [--tls-cert FILE --tls-key FILE]\n"
               "                    [--drain-timeout-ms N]   (every form of serve: after SIGTERM, connections still open\n"
               "                                              this long are cut; default 30000, 0: never)\n"
               "       isocore serve --config FILE [--port P] [--cores N] [--admin-port P] [--node-name N]\n"
               "       isocore serve --config wrangler.toml [--config FILE]... [--port P] [--cores N]\n"
               "       isocore dev [app.ts | wrangler.toml]... [--port P] [--cores N]\n"
               "       isocore check --config FILE\n"
               "       isocore serve --static TEXT [--port P] [--host ADDR] [--cores N]\n"
               "       isocore version\n");
}

/*
 * The TLS server context from cert and key (what `from` names in errors), set
 * in hcfg and kept in s->tls. Returns 0, or 2 once it said why on stderr.
 */
static int tls_setup(struct serve *s, const char *cert, const char *key, const char *from, ic_http_server_config_t *hcfg)
{
    if (!cert && !key)
        return 0;
    if (!cert || !key) {
        fprintf(stderr, "isocore: %s: HTTPS needs both a certificate and a key\n", from);
        return 2;
    }
    char err[512];
    int ret = ic_tls_server_new(cert, key, &s->tls, err, sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "isocore: %s: %s\n", from, ret == IC_ECONFIG ? err : ic_strerror(ret));
        return 2;
    }
    hcfg->tls = s->tls;
    return 0;
}

static const char *scheme(const ic_http_server_config_t *hcfg)
{
    return hcfg->tls ? "https" : "http";
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

/* The exit without draining (a second signal): what is still open is closed now. */
static void static_abort(void *arg)
{
    struct serve *s = arg;
    ic_http_server_cut(s->http);
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
    ic_js_pool_t *pool = s->pool[ic_reactor_id()];
    if (!pool) { /* not made at start (serve_start failed) */
        static const char *const hdr[] = {"Content-Type: text/plain; charset=utf-8", "Connection: close"};
        static const char msg[] = "Service Unavailable: the worker is not running\n";
        ic_http_respond(x, 503, hdr, 2, msg, sizeof(msg) - 1);
        return;
    }
    ic_js_pool_http_fetch(pool, s->tenant, x, IC_JS_STREAM, js_done, x);
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
    if (ic_reactor_aborting())
        return; /* a second signal came during the start and terminated the worker's top level (js/watchdog.cc) */
    atomic_store(&s->failed, 1);
    ic_reactor_stop();
}

/*
 * The pool outlives the stop until this core's connections are gone: after
 * ic_http_server_stop an idle keep-alive connection still brings one request
 * (drain_ms), and exchanges in progress finish, which need the worker. The
 * server cuts what is left at drain_timeout_ms, so the wait is bounded.
 * Requests still waiting on JS timers when the pool goes get 503.
 */
/* True while this core still has connections of the main listener (the drain after a stop goes on). */
static bool connections_left(struct serve *s, int id)
{
    ic_http_server_stats_t st;
    ic_http_server_stats(s->http, (unsigned)id, &st);
    return st.open > 0;
}

static void pool_wait_fired(ic_timer_t *t)
{
    int id = ic_reactor_id();
    struct serve *s = (struct serve *)((char *)(t - id) - offsetof(struct serve, pool_wait));
    if (connections_left(s, id))
        return;
    ic_timer_stop(t);
    ic_js_pool_free(s->pool[id]);
    s->pool[id] = NULL;
    ic_reactor_unref();
}

static void serve_stop(void *arg)
{
    struct serve *s = arg;
    int id = ic_reactor_id();
    ic_http_server_stop(s->http);
    ic_reactor_ref();
    ic_timer_init(&s->pool_wait[id], pool_wait_fired);
    ic_timer_start(&s->pool_wait[id], 0, 10 * 1000000ull);
}

/*
 * The exit without draining (a second signal), on each core: the worker is
 * disposed now, so the requests still waiting in JS get their 503 (and one
 * still running in JS was terminated: ic_reactor_aborting), then the
 * connections are cut. What is left (the connections' last sends, the
 * tasks that free them, pool_wait's reference) ends within a few turns, on
 * this core, before the reactor exits.
 */
static void serve_abort(void *arg)
{
    struct serve *s = arg;
    int id = ic_reactor_id();
    ic_js_pool_free(s->pool[id]);
    s->pool[id] = NULL;
    ic_http_server_cut(s->http);
}

/*
 * A TypeScript main file, or one whose modules import packages, is bundled
 * (router/bundle.c) and served from the bundle; b is freed by the caller.
 * 0, or 1 after printing why (esbuild's messages with their code frames).
 */
static int bundle_single(const char *path, ic_js_tenant_config_t *tc, struct ic__bundle *b)
{
    static char why[16384];
    if (ic__bundle_prepare(path, b, why, sizeof(why)) < 0) {
        fprintf(stderr, "isocore: %s\n", why);
        return 1;
    }
    if (b->src) {
        tc->src = b->src;
        tc->len = b->len;
        tc->sourcemap = b->map;
        tc->sourcemap_len = b->maplen;
        tc->kind = IC_JS_MODULE;
    }
    return 0;
}

/* The cores the reactors will run on: --cores, else the CPUs of the affinity mask. */
static unsigned planned_cores(const ic_reactor_config_t *cfg)
{
    return ic_reactor_planned(cfg);
}

/* What this process served, for whoever hands its port over to another one (after the reactors stopped). */
static void log_served(struct serve *s, const ic_reactor_config_t *cfg)
{
    unsigned long long requests = 0, accepted = 0;
    for (unsigned i = 0; i < planned_cores(cfg); i++) {
        ic_http_server_stats_t st;
        ic_http_server_stats(s->http, i, &st);
        requests += st.requests;
        accepted += st.accepted;
    }
    ic_log(IC_LOG_INFO, "stopped: %llu requests on %llu connections", requests, accepted);
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
    ic_log(IC_LOG_INFO, "serving static text on %s://%s:%u/", scheme(hcfg), hcfg->host, ic_http_server_port(s->http));
    cfg->on_start = static_start;
    cfg->on_stop = static_stop;
    cfg->on_abort = static_abort;
    cfg->arg = s;
    ret = ic_reactor_run(cfg);
    if (ret >= 0)
        log_served(s, cfg);
    ic_http_server_free(s->http);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot start the reactors: %s\n", ic_strerror(ret));
        return 1;
    }
    return atomic_load(&s->failed) ? 1 : 0;
}

/* ---- serving a config (many tenants) ------------------------------------------------------ */

/* The configs given: one isocore JSON config, or several wrangler.toml / wrangler.json(c) and worker files (router/wrangler.c). */
static int load_configs(const struct serve *s, ic_router_config_t **cfg, char *err, size_t errlen)
{
    return ic_router_config_load_files(s->configs, s->nconfigs, cfg, err, errlen);
}

/* --config FILE (several allowed); false when there are too many. */
static bool add_config(struct serve *s, const char *file)
{
    if (s->nconfigs == sizeof(s->configs) / sizeof(s->configs[0])) {
        fprintf(stderr, "isocore: at most %zu --config files\n", sizeof(s->configs) / sizeof(s->configs[0]));
        return false;
    }
    if (!s->config)
        s->config = file;
    s->configs[s->nconfigs++] = file;
    return true;
}

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
    if (ic_reactor_aborting())
        return; /* a second signal came during the start (see serve_start) */
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
    if (connections_left(s, id))
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

/*
 * The exit without draining (a second signal), on each core: the router let
 * go of its workers at the stop already (their pending requests got 503;
 * forwarded ones get theirs from their owner core), so what is left is the
 * connections of both listeners, cut now. admin_wait then sees no
 * connection and lets the reactor go.
 */
static void config_abort(void *arg)
{
    struct serve *s = arg;
    ic_http_server_cut(s->http);
    if (s->admin)
        ic_http_server_cut(s->admin);
}

/*
 * Reads the configs again and swaps the router in (SIGHUP, and `isocore
 * dev` on an edit): new requests go to the new one, in-flight ones finish
 * on the old. Returns the new config (owned by its router: read it before
 * the next reload), or NULL after logging why the running one stays.
 * Serialised: dev's watcher thread and the main thread may both call it.
 */
static const ic_router_config_t *reload(struct serve *s)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char err[16384];
    ic_router_config_t *cfg;
    unsigned kept = 0;
    const ic_router_config_t *ret = NULL;
    pthread_mutex_lock(&lock);
    if (load_configs(s, &cfg, err, sizeof(err)) < 0) {
        ic_log(IC_LOG_ERROR, "reload: %s (the running config stays)", err);
    } else if (s->node && ic_router_config_set_node(cfg, s->node) < 0) {
        ic_log(IC_LOG_ERROR, "reload: out of memory (the running config stays)");
        ic_router_config_free(cfg);
    } else if (ic_router_slot_reload(s->slot, cfg, &kept, err, sizeof(err)) < 0) {
        /* The new router is made from the running one: unchanged tenants keep their warm isolates (router/slot.c). */
        ic_log(IC_LOG_ERROR, "reload: %s (the running config stays)", err);
        ic_router_config_free(cfg);
    } else {
        unsigned n = ic_router_config_workers(cfg);
        ic_log(IC_LOG_INFO,
               "reload: %s: %u tenants, %u kept warm, %u new or changed (listen addresses and cores changes need a restart)",
               s->config, n, kept, n - kept);
        ret = cfg;
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

/* SIGHUP: read the config again. */
static void config_reload(void *arg)
{
    reload(arg);
}

/* `isocore dev`'s watcher (below), started once the config is loaded and stopped when the reactors are done. */
static int dev_start(struct serve *s);
static void dev_stop(struct serve *s);

static int serve_config(struct serve *s, ic_reactor_config_t *cfg, ic_http_server_config_t *hcfg, bool port_given, int admin_port)
{
    static char err[16384];
    int ret = load_configs(s, &s->rcfg, err, sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "isocore: %s\n", err);
        return 1;
    }
    if (s->node && ic_router_config_set_node(s->rcfg, s->node) < 0) {
        fprintf(stderr, "isocore: --node-name takes 1 to 63 of A-Z a-z 0-9 . _ -, not '%s'\n", s->node);
        ic_router_config_free(s->rcfg);
        return 2;
    }
    if (!s->tls) {
        /* The config's listen.tls, unless --tls-cert and --tls-key were given. */
        char from[600];
        snprintf(from, sizeof(from), "%s: listen.tls", s->config);
        if ((ret = tls_setup(s, ic_router_config_tls_cert(s->rcfg), ic_router_config_tls_key(s->rcfg), from, hcfg)) != 0) {
            ic_router_config_free(s->rcfg);
            return ret;
        }
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
    if (!s->drain_given)
        hcfg->drain_timeout_ms = ic_router_config_drain_timeout(s->rcfg);
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
        snprintf(s->summary, sizeof(s->summary), "serving %s on %s://%s:%u/: %u tenants", s->config, scheme(hcfg), hcfg->host,
                 ic_http_server_port(s->http), ic_router_config_workers(s->rcfg));
        cfg->quiet = true; /* one start-up line, written by core 0 once every reactor runs */
        cfg->on_start = config_start;
        cfg->on_stop = config_stop;
        cfg->on_abort = config_abort;
        cfg->on_hup = config_reload;
        cfg->arg = s;
        if (!s->dev || (ret = dev_start(s)) == 0) {
            ret = ic_reactor_run(cfg);
            if (s->dev)
                dev_stop(s);
        }
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
    static struct serve s;
    for (int i = 0; i < argc; i += 2)
        if (i + 1 >= argc || strcmp(argv[i], "--config") != 0 || !add_config(&s, argv[i + 1])) {
            usage(stderr);
            return 2;
        }
    if (!s.nconfigs) {
        usage(stderr);
        return 2;
    }
    static char err[16384];
    ic_router_config_t *cfg;
    if (load_configs(&s, &cfg, err, sizeof(err)) < 0) {
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
    printf("%s: ok (%u workers)\n", s.config, ic_router_config_workers(cfg));
    ic_router_free(r);
    ic_router_config_free(cfg);
    return 0;
}

static int serve_what(struct serve *s, ic_reactor_config_t *cfg, ic_http_server_config_t *hcfg, bool port_given, int admin_port,
                      const char **envv, unsigned nenv, const ic_js_limits_t *limits);

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
            if (!add_config(&s, argv[++i]))
                return 2;
        } else if (!strcmp(argv[i], "--host") && has_value) {
            hcfg.host = argv[++i];
        } else if (!strcmp(argv[i], "--env") && has_value) {
            if (!strchr(argv[i + 1], '=')) {
                fprintf(stderr, "isocore: --env takes NAME=VALUE, not '%s'\n", argv[i + 1]);
                return 2;
            }
            envv[nenv++] = argv[++i];
        } else if (!strcmp(argv[i], "--drain-timeout-ms") && has_value) {
            long n = parse_num("--drain-timeout-ms", argv[++i], 0, 3600000);
            if (n < 0)
                return 2;
            hcfg.drain_timeout_ms = (unsigned)n;
            s.drain_given = true;
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
        } else if (!strcmp(argv[i], "--tls-cert") && has_value) {
            s.tls_cert = argv[++i];
        } else if (!strcmp(argv[i], "--tls-key") && has_value) {
            s.tls_key = argv[++i];
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
    int ret = tls_setup(&s, s.tls_cert, s.tls_key, "--tls-cert/--tls-key", &hcfg);
    if (ret != 0)
        return ret;
    ret = serve_what(&s, &cfg, &hcfg, port_given, admin_port, envv, nenv, &limits);
    ic_tls_free(s.tls); /* after the reactors: no connection uses it any more */
    return ret;
}

static int serve_what(struct serve *s, ic_reactor_config_t *cfg, ic_http_server_config_t *hcfg, bool port_given, int admin_port,
                      const char **envv, unsigned nenv, const ic_js_limits_t *limits)
{
    if (s->config) {
        if (s->path || s->text) {
            fprintf(stderr, "isocore: --config serves the workers of the config; give no script or --static with it\n");
            return 2;
        }
        return serve_config(s, cfg, hcfg, port_given, admin_port);
    }
    if (s->node) {
        fprintf(stderr, "isocore: --node-name names a node serving a --config\n");
        return 2;
    }
    if (s->text) {
        if (s->path) {
            fprintf(stderr, "isocore: --static serves a fixed text; give no script with it\n");
            return 2;
        }
        return serve_static(s, cfg, hcfg);
    }
    if (!s->path) {
        usage(stderr);
        return 2;
    }
    ic_js_tenant_config_t tc;
    ic_js_tenant_config_init(&tc);
    tc.path = s->path;
    tc.env = envv;
    tc.nenv = nenv;
    tc.limits = *limits;
    /* The tenant is named after its file: "hello" for examples/hello.js. */
    char name[256];
    const char *base = strrchr(s->path, '/') ? strrchr(s->path, '/') + 1 : s->path;
    snprintf(name, sizeof(name), "%s", base);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    tc.name = name;
    struct ic__bundle bundle;
    if (bundle_single(s->path, &tc, &bundle))
        return 1;
    int ret = ic_js_tenant_new(&tc, &s->tenant);
    ic__bundle_free(&bundle); /* the tenant has copied the bundle and decoded its map */
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot read %s: %s\n", s->path, ic_strerror(ret));
        return 1;
    }
    ret = ic_js_platform_init();
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot initialise V8: %s\n", ic_strerror(ret));
        ic_js_tenant_free(s->tenant);
        return 1;
    }
    hcfg->handler = js_handler;
    hcfg->arg = s;
    hcfg->stream_bodies = true; /* uploads reach the worker as they arrive */
    ret = ic_http_server_new(hcfg, planned_cores(cfg), &s->http);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot listen on %s:%u: %s\n", hcfg->host, hcfg->port, ic_strerror(ret));
        ic_js_platform_shutdown();
        ic_js_tenant_free(s->tenant);
        return 1;
    }
    ic_log(IC_LOG_INFO, "serving %s on %s://%s:%u/ (%u cores, one isolate each)", s->path, scheme(hcfg), hcfg->host,
           ic_http_server_port(s->http), planned_cores(cfg));
    cfg->on_start = serve_start;
    cfg->on_stop = serve_stop;
    cfg->on_abort = serve_abort;
    cfg->arg = s;
    ret = ic_reactor_run(cfg);
    if (ret >= 0)
        log_served(s, cfg);
    ic_http_server_free(s->http);
    ic_js_platform_shutdown();
    ic_js_tenant_free(s->tenant);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot start the reactors: %s\n", ic_strerror(ret));
        return 1;
    }
    return atomic_load(&s->failed) ? 1 : 0;
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

/* ---- isocore dev: serve, watch the worker's files, rebuild on change ------------------------------ */

/*
 * The watcher is a helper thread of this program (never a reactor): it
 * watches the directory of every file the workers are made of (the bundle's
 * inputs or the module graph, and the configs), since editors save by
 * renaming a new file over the old one. An event for a file of those
 * directories (not an editor's temporary: .name, name~, *.tmp, *.swp) starts
 * a quiet period of DEV_QUIET_MS that later events extend, then one reload
 * (reload(): the same path as SIGHUP), after which the watch set is made
 * anew from the new config. A failed build is logged with its code frame
 * and the last good build keeps serving.
 */
#define DEV_QUIET_MS 30
#define DEV_MAX_WATCH 512

struct dev {
    int ifd, stopfd;
    pthread_t thread;
    int wd[DEV_MAX_WATCH];
    unsigned nwd;
};

static bool dev_ignored(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || (n && name[n - 1] == '~') || (n > 4 && !strcmp(name + n - 4, ".tmp")) ||
           (n > 4 && (!strcmp(name + n - 4, ".swp") || !strcmp(name + n - 4, ".swx"))) || !strcmp(name, "4913");
}

/* Watches the directory of path (once per directory: inotify gives the same wd again). */
static void dev_watch_dir_of(struct dev *d, const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    else if (slash)
        slash[1] = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int wd = inotify_add_watch(d->ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM);
    if (wd < 0) {
        ic_log(IC_LOG_WARN, "dev: cannot watch %s: %s", dir, strerror(errno));
        return;
    }
    for (unsigned i = 0; i < d->nwd; i++)
        if (d->wd[i] == wd)
            return;
    if (d->nwd < DEV_MAX_WATCH)
        d->wd[d->nwd++] = wd;
}

/* The watch set of cfg (and the config files), replacing the previous one. */
static void dev_rewatch(struct serve *s, const ic_router_config_t *cfg)
{
    struct dev *d = s->dev;
    for (unsigned i = 0; i < d->nwd; i++)
        inotify_rm_watch(d->ifd, d->wd[i]);
    d->nwd = 0;
    for (unsigned i = 0; i < s->nconfigs; i++)
        dev_watch_dir_of(d, s->configs[i]);
    const char *in;
    for (unsigned i = 0; (in = ic_router_config_input(cfg, i)); i++)
        dev_watch_dir_of(d, in);
}

/* Reads the pending events; whether one of them is a change worth a rebuild (the last saved name in *what). */
static bool dev_drain(struct dev *d, char *what, size_t cap)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    for (;;) {
        ssize_t n = read(d->ifd, buf, sizeof(buf));
        if (n <= 0)
            return any;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (e->len && !dev_ignored(e->name)) {
                /* The file that was saved, rather than what an editor created and renamed away. */
                if (e->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
                    snprintf(what, cap, "%s", e->name);
                any = true;
            }
            p += sizeof(*e) + e->len;
        }
    }
}

static void *dev_main(void *arg)
{
    struct serve *s = arg;
    struct dev *d = s->dev;
    char what[256];
    for (;;) {
        snprintf(what, sizeof(what), "a file");
        struct pollfd pf[2] = {{d->ifd, POLLIN, 0}, {d->stopfd, POLLIN, 0}};
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        if (pf[1].revents)
            break;
        if (!(pf[0].revents & POLLIN) || !dev_drain(d, what, sizeof(what)))
            continue;
        /* A save is often several events (write, rename, a second file): wait until they stop. */
        while (poll(pf, 1, DEV_QUIET_MS) > 0)
            dev_drain(d, what, sizeof(what));
        ic_log(IC_LOG_INFO, "dev: %s changed: rebuilding", what);
        const ic_router_config_t *cfg = reload(s);
        if (cfg)
            dev_rewatch(s, cfg);
    }
    return NULL;
}

static int dev_start(struct serve *s)
{
    struct dev *d = s->dev;
    d->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    d->stopfd = eventfd(0, EFD_CLOEXEC);
    if (d->ifd < 0 || d->stopfd < 0) {
        fprintf(stderr, "isocore: dev: cannot watch files: %s\n", strerror(errno));
        return -1;
    }
    dev_rewatch(s, s->rcfg);
    /* The thread takes no signals: the reactors' signalfd on the main thread has them all. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int ret = pthread_create(&d->thread, NULL, dev_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ret != 0) {
        fprintf(stderr, "isocore: dev: cannot start the watcher: %s\n", strerror(ret));
        close(d->ifd);
        close(d->stopfd);
        return -1;
    }
    return 0;
}

static void dev_stop(struct serve *s)
{
    struct dev *d = s->dev;
    uint64_t one = 1;
    ssize_t w = write(d->stopfd, &one, sizeof(one));
    (void)w;
    pthread_join(d->thread, NULL);
    close(d->ifd);
    close(d->stopfd);
}

/* isocore dev [FILE|CONFIG…] [--port P] [--host A] [--cores N]: a worker file, wrangler files, or the wrangler file here. */
static int cmd_dev(int argc, char **argv)
{
    static struct serve s;
    static struct dev d;
    ic_reactor_config_t cfg;
    ic_reactor_config_init(&cfg);
    ic_http_server_config_t hcfg;
    ic_http_server_config_init(&hcfg);
    hcfg.port = 8787; /* wrangler dev's */
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (!strcmp(argv[i], "--port") && has_value) {
            long n = parse_num("--port", argv[++i], 0, 65535);
            if (n < 0)
                return 2;
            hcfg.port = (unsigned)n;
        } else if (!strcmp(argv[i], "--cores") && has_value) {
            long n = parse_num("--cores", argv[++i], 1, IC_MAX_CORES);
            if (n < 0)
                return 2;
            cfg.cores = (unsigned)n;
        } else if ((!strcmp(argv[i], "--config") && has_value) || argv[i][0] != '-') {
            if (!add_config(&s, argv[i][0] == '-' ? argv[++i] : argv[i]))
                return 2;
        } else {
            fprintf(stderr, "isocore: dev: unknown option '%s' (or it lacks its value)\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    static const char *const here[] = {"wrangler.toml", "wrangler.jsonc", "wrangler.json"};
    for (unsigned i = 0; i < 3 && !s.nconfigs; i++)
        if (access(here[i], R_OK) == 0)
            add_config(&s, here[i]);
    if (!s.nconfigs) {
        fprintf(stderr, "isocore: dev: give a worker file or a config (no wrangler.toml here)\n");
        return 2;
    }
    s.dev = &d;
    return serve_config(&s, &cfg, &hcfg, true, -1);
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
    if (!strcmp(argv[1], "dev")) {
        block_signals_early(argc, argv);
        return cmd_dev(argc - 2, argv + 2);
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
