/*
 * isocore/router.h: tenants, routing and placement (router/).
 *
 * A config (JSON) names the workers, their routes, env, limits and
 * placement. The router turns each HTTP request into a tenant (by Host and
 * path prefix), finds the core that runs it — the owner, hash(name) mod
 * cores, for `sticky`; the current core for `spread`; one of the tenant's
 * replicas for `adaptive` — and runs it there,
 * moving the request over the SPSC mesh when the owner is another core. The
 * response comes back to the connection's core.
 *
 * Threading: a config and a router are built on the main thread before the
 * reactors start, then read by every core; each core has its own pool of
 * isolates and its own counters.
 */
#ifndef ISOCORE_ROUTER_H
#define ISOCORE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "isocore/http.h"
#include "isocore/js.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ic_router_config ic_router_config_t;
typedef struct ic_router ic_router_t;

typedef enum ic_placement {
    IC_PLACE_STICKY = 0, /* one owner core per tenant: hash(name) mod cores */
    IC_PLACE_SPREAD,     /* every core runs the tenant in its own isolate; requests run where they land */
    IC_PLACE_ADAPTIVE,   /* the owner, plus replicas on the next cores of the tenant's order while it waits too long there */
} ic_placement_t;

/**
 * Reads and checks a config file. Returns 0 and sets *out, or -errno when
 * the file can't be read, or IC_ECONFIG with err set to
 * "FILE:LINE: FIELD: what was expected" (LINE is where FIELD's value starts,
 * or where the JSON syntax broke).
 */
int ic_router_config_load(const char *path, ic_router_config_t **out, char *err, size_t errlen);

/** Same from text; `name` is the file name used in messages and the directory module paths are relative to. */
int ic_router_config_parse(const char *name, const char *text, size_t len, ic_router_config_t **out, char *err, size_t errlen);

void ic_router_config_free(ic_router_config_t *cfg);

/**
 * Reads the configs of a Workers project (router/wrangler.c): one isocore
 * JSON config (as ic_router_config_load), or one or more wrangler files
 * (wrangler.toml, wrangler.json, wrangler.jsonc: one worker each) and
 * worker files (app.js, src/index.ts: a worker named after the file),
 * made into one config listening on 127.0.0.1:8787 whose first worker
 * answers hosts no route names. Modules that need it are bundled
 * (router/bundle.c). Same returns as ic_router_config_load, with
 * "FILE:LINE: KEY: what was expected" for a wrangler file; keys isocore
 * does not support are logged as warnings.
 */
int ic_router_config_load_files(const char *const *paths, unsigned n, ic_router_config_t **out, char *err, size_t errlen);

/**
 * The i-th file the config's workers are made of (their modules, or what
 * esbuild read to bundle them), absolute; NULL past the last. For a
 * watcher (`isocore dev`).
 */
const char *ic_router_config_input(const ic_router_config_t *cfg, unsigned i);

/* What the server needs from a config. */
const char *ic_router_config_host(const ic_router_config_t *cfg);       /* listen address */
unsigned ic_router_config_port(const ic_router_config_t *cfg);          /* listen port */
const char *ic_router_config_admin_host(const ic_router_config_t *cfg); /* admin listener address */
int ic_router_config_admin_port(const ic_router_config_t *cfg);         /* -1: no admin listener */
const char *ic_router_config_tls_cert(const ic_router_config_t *cfg);   /* listen.tls.cert (a path), or NULL: plain HTTP */
const char *ic_router_config_tls_key(const ic_router_config_t *cfg);    /* listen.tls.key (a path), or NULL */
unsigned ic_router_config_cores(const ic_router_config_t *cfg);         /* 0: one per CPU of the mask */
unsigned ic_router_config_drain_timeout(const ic_router_config_t *cfg); /* ms; see ic_http_server_config_t.drain_timeout_ms */
unsigned ic_router_config_workers(const ic_router_config_t *cfg);       /* number of workers */
const char *ic_router_config_node(const ic_router_config_t *cfg);       /* "node" (x-isocore-node), or NULL */

/** The top-level "placement" of a config: the placement of workers that name none, and the knobs of `adaptive`. */
typedef struct ic_router_placement {
    ic_placement_t placement; /* "default" (IC_PLACE_STICKY when not given) */
    /* max_replicas 0: the number of cores; isolate_budget 0: 2 ceil(workers / cores) + 2 warm isolates per core */
    unsigned replicate_ms, shed_ms, retire_ms, max_replicas, isolate_budget;
} ic_router_placement_t;

/** Reads the config's placement (the defaults where the config says nothing). This function can't fail. */
void ic_router_config_placement(const ic_router_config_t *cfg, ic_router_placement_t *out);

/**
 * Sets the node name (what `isocore serve --node-name` gives), over the
 * config's "node": 1 to 63 of [A-Za-z0-9._-]. Returns 0, -EINVAL for another
 * name (nothing changed) or -ENOMEM.
 */
int ic_router_config_set_node(ic_router_config_t *cfg, const char *name);

/**
 * The owner core of a worker name among ncores: FNV-1a 64 of the name's
 * bytes, then MurmurHash3's fmix64, mod ncores (stable across restarts and
 * machines: the same name and core count give the same core).
 */
unsigned ic_router_owner_of(const char *name, unsigned ncores);

/**
 * Builds the router for ncores reactors: every tenant (its files are read
 * now). Returns 0, -errno (a module that can't be read; err names it) or -ENOMEM.
 * cfg must outlive the router.
 */
int ic_router_new(const ic_router_config_t *cfg, unsigned ncores, ic_router_t **out, char *err, size_t errlen);

/**
 * Builds the router of cfg for a reload of prev (same cores): a worker
 * whose name, module bytes (the bundle, or the main file and the files its
 * imports reach), kind, env, services and limits are those of prev's worker
 * of that name shares prev's tenant, so its warm isolates serve the new
 * router too (no cold start); the others are new tenants. Counters
 * continue: the per-core ones, and each tenant's by name (also when its
 * module changed). Returns as ic_router_new. prev must be live on every
 * core for the call and until the new router is published or freed: the
 * slot's current router, with reloads serialised (ic_router_slot_reload
 * does both). cfg must outlive the router.
 */
int ic_router_new_from(const ic_router_config_t *cfg, const ic_router_t *prev, ic_router_t **out, char *err, size_t errlen);

/** How many of the router's tenants it took as they were from the router it was made from (0 for ic_router_new). */
unsigned ic_router_carried(const ic_router_t *r);

/**
 * Frees a router once every core let it go (ic_router_stop) or it was never
 * started; what it shares with other routers (tenants, counters, pools)
 * goes with the last of them.
 */
void ic_router_free(ic_router_t *r);

/** Makes the router own cfg: ic_router_free frees it too. */
void ic_router_adopt_config(ic_router_t *r, ic_router_config_t *cfg);

/** Per core, in on_start: creates the core's isolate pool (if its lineage has none here yet). Returns 0 or -ENOMEM. */
int ic_router_start(ic_router_t *r);

/**
 * Per core, in on_stop: lets the router go on this core. The workers of
 * its tenants that no other router of its lineage (ic_router_new_from)
 * still holds on this core are disposed (pending requests get 503); the
 * pool goes with the lineage's last router here. A second call is a no-op.
 */
void ic_router_stop(ic_router_t *r);

/** The HTTP handler: pass it with the router as arg to ic_http_server_new. */
void ic_router_handle(ic_http_exchange_t *x, void *router);

/*
 * The answer to an injected request: status, header lines ("name: value"),
 * body; valid during the call only. Called on the core that injected it.
 */
typedef void (*ic_router_answer_cb)(void *arg, int status, const char *const *headers, unsigned nheaders, const void *body,
                                    size_t len);

/**
 * For tests and benchmarks (bench/router.c): runs req (its views and body
 * need only last for the call) as ic_router_handle runs a request, without
 * a connection: routed, run here or forwarded to the tenant's owner core
 * through the same forwarding code, its response back here given to answer
 * (the response memory still goes home to be freed). The worker runs without
 * streamed bodies (a stream is read whole). Call on a reactor. answer is
 * called once — maybe before this returns (a local request that settles at
 * once); a 503 comes to it when the owner rejects the request or stops.
 * Returns 0, or -ENOENT (no route), -EBUSY (too many requests in flight to
 * the owner, or queued for the tenant here), -ENOMEM or IC_ESHUTDOWN; then
 * answer is never called.
 */
int ic_router_inject(ic_router_t *r, const ic_http_request_t *req, ic_str_t body, ic_router_answer_cb answer, void *arg);

/**
 * The service-binding handler (an ic_js_service_cb; ctx: the router), which
 * ic_router_start installs on its reactor (ic_js_set_services): a worker's
 * env.BINDING.fetch() runs the tenant named `service` on the core that owns
 * it, as an HTTP request would — here from a task when this core owns it,
 * else over the SPSC mesh — and done gets its response on this core, from
 * a later step of the loop (never inside this call). A streamed response
 * (with IC_JS_STREAM in flags) comes as the service's own stream when it
 * ran here; from another core its body is gathered there first (16 MiB at
 * most, else 502). No tenant of that name: 503 naming it; too many calls
 * in flight to its core, or queued for it: 503 with Retry-After.
 */
void ic_router_service(void *router, const char *service, const ic_http_request_t *req, ic_str_t body, unsigned flags,
                       ic_js_done_cb done, void *arg);

/** The admin handler (Prometheus text at /metrics): pass it with the router as arg. */
void ic_router_admin_handle(ic_http_exchange_t *x, void *router);

/** Per-core counters of the router; written only by their core, read relaxed from anywhere. */
typedef struct ic_router_stats {
    unsigned long long requests;      /* requests that arrived on this core */
    unsigned long long local;         /* ... and ran here */
    unsigned long long forwarded_out; /* ... and went to their owner core */
    unsigned long long forwarded_in;  /* requests run here for another core */
    unsigned long long rejected;      /* 503 for backpressure */
    unsigned long long not_found;     /* no route and no default worker: 404 */
    unsigned long long isolates;      /* warm isolates on this core */
    unsigned long long isolates_created;
    unsigned long long heap_bytes; /* V8 heap + ArrayBuffers of the core's isolates, as of the last isolate created */
    unsigned long long services;   /* service binding calls (env.X.fetch()) made by this core's workers */
    unsigned long long sheds;      /* `adaptive`: requests placed here sent to a replica, away from an owner inside a long entry */
    unsigned long long replica_births;      /* `adaptive`: replicas this core added to a tenant */
    unsigned long long replica_retirements; /* `adaptive`: replicas this core retired */
} ic_router_stats_t;

/**
 * The number of cores that run worker `name` now: 1 for `sticky`, the
 * cores for `spread`, its replicas (the owner included) for `adaptive`; 0
 * when there is no such worker. Any thread (a relaxed load).
 */
unsigned ic_router_replicas(const ic_router_t *r, const char *name);

void ic_router_stats(const ic_router_t *r, unsigned core, ic_router_stats_t *out);

/* ---- reloads -------------------------------------------------------------------------------- */

/*
 * A slot holds the current router and the ones reloads replaced. New
 * requests use the current router; in-flight ones finish on the router they
 * started on; each core lets a replaced router go once it has no request of
 * it in hand (checked every 100 ms) — disposing the isolates of its tenants
 * the current router did not keep — and the replaced router is freed at the
 * next swap once every core has let it go.
 */
typedef struct ic_router_slot ic_router_slot_t;

/** A slot whose current router is first (the slot owns it). Returns 0 or -ENOMEM. */
int ic_router_slot_new(ic_router_t *first, ic_router_slot_t **out);

/**
 * Any thread: publishes next (the slot owns it) for new requests. Returns
 * 0, or -EBUSY when 64 replaced routers still wait, or IC_ESHUTDOWN once a
 * core ran ic_router_slot_stop (then next is still the caller's).
 */
int ic_router_slot_swap(ic_router_slot_t *s, ic_router_t *next);

/**
 * Any thread: builds the router of cfg from the current one
 * (ic_router_new_from: unchanged tenants stay warm, counters continue) and
 * publishes it; the router owns cfg from then on. Reloads through it are
 * serialised. Returns 0; or -errno (err says why), -EBUSY or IC_ESHUTDOWN
 * (as ic_router_slot_swap), and then cfg is still the caller's. *kept (if
 * not NULL) gets how many tenants were kept as they were.
 */
int ic_router_slot_reload(ic_router_slot_t *s, ic_router_config_t *cfg, unsigned *kept, char *err, size_t errlen);

/** Per core, in on_start / on_stop. */
int ic_router_slot_start(ic_router_slot_t *s);
void ic_router_slot_stop(ic_router_slot_t *s);

/** After ic_reactor_wait: frees every router of the slot and the slot. */
void ic_router_slot_free(ic_router_slot_t *s);

/** The router new requests use. */
ic_router_t *ic_router_slot_current(ic_router_slot_t *s);

/**
 * HTTP handlers over a slot (arg: the slot). The admin one also answers
 * GET /healthz for a balancer's health check: 200 "ready" once every
 * reactor ran ic_router_slot_start, 503 "draining" from the first
 * ic_router_slot_stop (a stop began), 503 "starting" before.
 */
void ic_router_slot_handle(ic_http_exchange_t *x, void *slot);
void ic_router_slot_admin_handle(ic_http_exchange_t *x, void *slot);

#ifdef __cplusplus
}
#endif
#endif
