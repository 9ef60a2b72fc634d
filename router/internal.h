/*
 * internal.h: what the C files of router/ share. Never included outside router/.
 */
#ifndef ISOCORE_ROUTER_INTERNAL_H
#define ISOCORE_ROUTER_INTERNAL_H

#include "isocore.h"
#include "isocore/router.h"
#include "router/bundle.h"
#include "router/placement.h"

struct ic__route {
    char *host; /* lower case; for a wildcard, the suffix with its dot (".example.com"); NULL: any host */
    bool wildcard;
    char *prefix; /* path prefix ("/api"), or NULL */
    unsigned worker;
};

struct ic__worker_cfg {
    char *name;
    char *path; /* absolute, or relative to the config's directory already joined */
    ic_js_kind_t kind;
    char **env; /* "NAME=value" */
    unsigned nenv;
    char **services; /* "BINDING=worker": env.BINDING.fetch() calls that worker (checked to exist) */
    unsigned nservices;
    ic_js_limits_t limits;
    ic_placement_t placement;
    struct ic__bundle bundle; /* what ic__router_config_bundle made of the module (bundle.c): src NULL when not bundled */
};

struct ic_router_config {
    char *file;
    char *host, *admin_host;
    char *tls_cert, *tls_key; /* listen.tls (joined to the config's directory), or NULL: plain HTTP */
    unsigned port;
    int admin_port;
    unsigned cores;
    unsigned drain_timeout_ms;  /* "drain_timeout_ms" (default 30 s; 0: no deadline) */
    unsigned inflight_per_pair; /* forwarded requests in flight from one core to another, past it 503 */
    unsigned queue_per_tenant;  /* parked requests of a tenant on its core, past it 503 */
    bool core_header;           /* x-isocore-core: the core that ran the request */
    char *node;                 /* with core_header, x-isocore-node: this name (NULL: none) */
    int default_worker;         /* -1: none (unknown hosts get 404) */
    struct ic__worker_cfg *workers;
    unsigned nworkers;
    struct ic__route *routes;
    unsigned nroutes;
    ic__place_params_t place; /* "placement": the knobs of `adaptive` (config.c) */
    ic_placement_t placement; /* "placement" / "placement.default": of workers that name none */
};

/*
 * Bundles the modules of cfg's workers that need it (bundle.c), on the
 * main thread before the router is made. 0, or IC_ECONFIG with err set
 * ("FILE: worker NAME: why", with esbuild's code frames).
 */
int ic__router_config_bundle(struct ic_router_config *cfg, char *err, size_t errlen);

/* Reads a whole file into *out (malloc'd, NUL-terminated, *len bytes), router.c. Returns 0 or -errno. */
int ic__router_read_file(const char *path, char **out, size_t *len);

/* A JSON value's type for an error ("an array", "a string"…; object: what to call an object), config.c. */
struct json_t;
const char *ic__router_json_type(const struct json_t *v, const char *object);

/* A counter written by its core only, read relaxed by others. */
#define STAT_ADD(p, v) __atomic_store_n(&(p), (p) + (v), __ATOMIC_RELAXED)

/*
 * Latency buckets (metrics.c): 4 per power of two of microseconds, from
 * 1 µs to about 2^28 µs (4.5 min); quantiles are read as a bucket's upper
 * bound, within 19 % of the true value.
 */
#define LAT_SUB 4
#define LAT_BUCKETS (28 * LAT_SUB)

/* Per core and per tenant: requests run here, by outcome. Aligned: a tenant's cores sit side by side (struct ic__tcount). */
struct tstats {
    unsigned long long requests, ok, client_err, server_err, unavailable, timeout;
    unsigned long long busy_ns;          /* time this core spent in the tenant's handler calls */
    unsigned long long lat[LAT_BUCKETS]; /* from arrival to answer, on the connection's core */
} __attribute__((aligned(64)));

/*
 * What the routers of one lineage share (router.c: a router made with
 * ic_router_new_from shares its predecessor's), so that a reload keeps
 * warm isolates and counters. Each is reference-counted by the routers
 * that hold it and freed with the last (ic_router_free).
 *
 * ic__tenant: one tenant as loaded (its JS tenant and a digest of what it
 * is made of); a new router takes its predecessor's when the digest
 * matches. `live[c]`: the routers holding it that core c has not let go
 * of; the core that brings it to 0 drops the tenant's worker from its pool
 * (so a tenant is freed only once no pool has a worker of it).
 *
 * ic__tcount: a tenant's counters by name, one block per core: carried
 * over by name, also when the module changed.
 *
 * ic__rbase: per core, the router counters, the pool of warm isolates
 * (keyed by JS tenant) and `live`: the routers of the lineage this core
 * has not let go of; the core that brings it to 0 frees its pool.
 */
struct ic__tenant {
    _Atomic unsigned refs;
    ic_js_tenant_t *js;
    unsigned char digest[32]; /* SHA-256 of name, path, kind, module bytes (and imports), env, services, limits */
    _Atomic unsigned *live;   /* [ncores] */
};

struct ic__tcount {
    _Atomic unsigned refs;
    struct tstats *ts; /* [ncores] */
};

struct ic__rbase {
    ic_router_stats_t st;
    ic_js_pool_t *pool; /* created on first use; touched by its core only */
    _Atomic unsigned live;
} __attribute__((aligned(64)));

struct ic__rstate {
    _Atomic unsigned refs;
    struct ic__rbase *cores; /* [ncores] */
};

/* A router's state on one core: written by that core only (but for `released`, see slot.c). */
struct rcore {
    ic_router_stats_t *st; /* &base->st: shared with the routers a reload replaced or made */
    struct ic__rbase *base;
    unsigned active;       /* requests of this router in hand on this core (run here, sent away, run for another core) */
    _Atomic bool released; /* this core let the router go (ic_router_stop): its tenants no longer count as live here */
    unsigned *inflight;    /* forwarded requests in flight to each core (this core's) */
    struct tstats **ts;    /* [ntenants]: this core's block of each tenant's counters (&counts[t]->ts[core]) */
    struct fwd *fwd_free;  /* forward.c's messages this core keeps for reuse, and how many */
    unsigned fwd_nfree;
} __attribute__((aligned(64)));

struct ic_router {
    const ic_router_config_t *cfg;
    ic_router_config_t *owned_cfg; /* freed with the router (ic_router_adopt_config) */
    unsigned n;
    ic_js_tenant_t **tenants;   /* [ntenants]: shared[t]->js */
    struct ic__tenant **shared; /* [ntenants] */
    struct ic__tcount **counts; /* [ntenants] */
    struct ic__rstate *state;
    unsigned carried; /* tenants taken as they were from the predecessor (ic_router_new_from) */
    struct rcore *cores;
    unsigned *owner;          /* owner core of each tenant */
    int *buckets;             /* exact-host hash: first route index, -1 empty (routes.c) */
    int *next_route;          /* chain */
    unsigned nbuckets;        /* power of two */
    struct ic__placement *pl; /* adaptive placement's state (adaptive.c) */
};

/*
 * Adaptive placement's state (adaptive.c). Per core, a block written by
 * that core only and read relaxed by the others (the figures of
 * ic__place_load_t but busy_ns, which js/ publishes: ic_js_entry_busy);
 * per core and tenant, the core's own view of the tenant; per tenant, its
 * replica count k (any core changes it, by compare-and-swap from the k it
 * read) and its order of cores.
 */
struct ic__pcore {
    uint64_t queue_ns;                 /* EWMA of the queue delay of what ran here, every tenant (published) */
    uint64_t queue_at;                 /* when queue_ns last changed (published; see ic__place_drained) */
    unsigned isolates;                 /* warm isolates of the router's pool here (published) */
    uint64_t rng;                      /* this core's random numbers (not read by others) */
    unsigned long long sheds;          /* requests sent away from an owner inside a long entry (published) */
    unsigned long long births, deaths; /* replicas this core added / retired (published) */
} __attribute__((aligned(64)));

struct ic__ptenant {
    ic__place_tenant_t fig; /* this core's figures of the tenant (its own) */
    uint64_t queue_pub;     /* fig.queue_ns, published for other cores and /metrics */
    uint64_t queue_at;      /* when it last changed (published) */
    unsigned seen_k;        /* k as this core last saw it */
    bool ran;               /* the tenant ran here: its worker may be in the pool */
};

struct ic__placement {
    unsigned len;             /* of each order: the most replicas a tenant may have */
    uint16_t *order;          /* [ntenants][len] */
    _Atomic unsigned *k;      /* [ntenants] */
    struct ic__pcore *cores;  /* [ncores] */
    struct ic__ptenant *tens; /* [ncores][ntenants], row c written by core c */
    char *selves;             /* [ncores] adaptive.c's struct pself, self_size bytes each (whole cache lines) */
    size_t self_size;
};

/* adaptive.c: makes and frees r->pl (0 or -ENOMEM), in ic_router_new / ic_router_free. */
int ic__placement_new(ic_router_t *r);
void ic__placement_free(ic_router_t *r);
/* The work share core published (ic__place_work, in 1/IC__PLACE_ONE), as of the last request it started; read relaxed. */
unsigned ic__placement_work(const ic_router_t *r, unsigned core);

/*
 * adaptive.c, on the core that ran it: a request of tenant t started
 * running here (its worker looked up) at `now`; it arrived (on its origin
 * core) at `arrived`, or 0: it came from this core's own loop, and its wait
 * is counted from the start of the loop turn. Also publishes the pool's
 * isolates.
 */
void ic__placement_ran(ic_router_t *r, unsigned t, uint64_t arrived, uint64_t now, unsigned isolates);

/* adaptive.c: the cores that run tenant t now (see ic_router_replicas). */
unsigned ic__router_replicas(const ic_router_t *r, unsigned t);

/* routes.c: builds r's exact-host table (0 or -ENOMEM); the tenant of a request, or -1. */
int ic__routes_index(ic_router_t *r);
int ic__route(const ic_router_t *r, const ic_http_request_t *req);

/*
 * router.c, for forward.c. ic__router_core_line: the x-isocore-core line
 * for a request that ran on core ran_on, in buf (CORE_LINE bytes); NULL when
 * not configured (with a node name, x-isocore-node follows in the same
 * string: the server writes header lines as given). ic__router_respond:
 * answers x, adding that line. ic__router_busy: a 503 with Retry-After
 * saying why. ic__router_run_here: runs tenant t on this core, on exchange
 * x (its body may stream in) or on req/body; done(arg, res) gets the
 * response (with IC_JS_STREAM in flags its body may be a stream); false when
 * the tenant's queue is full (nothing ran).
 */
#define CORE_LINE 128
const char *ic__router_core_line(const ic_router_t *r, int ran_on, char *buf);
void ic__router_respond(const ic_router_t *r, ic_http_exchange_t *x, int ran_on, int status, const char *const *headers, unsigned n,
                        const void *body, size_t len);
void ic__router_busy(const ic_router_t *r, ic_http_exchange_t *x, const char *why);
bool ic__router_run_here(ic_router_t *r, unsigned t, ic_http_exchange_t *x, const ic_http_request_t *req, ic_str_t body,
                         unsigned flags, uint64_t arrived, ic_js_done_cb done, void *arg);

/* metrics.c: counts an outcome in t; records the latency since t0 of a request for tenant t on this core. */
void ic__router_tally(struct tstats *t, int status);
void ic__router_latency(ic_router_t *r, unsigned t, uint64_t t0);

/*
 * forward.c. ic__router_forward: sends the request (whose body is `body`)
 * to core owner. With an exchange x, failures answer it (503) and it
 * returns 0; with x NULL (ic_router_inject) it returns -ENOMEM or
 * IC_ESHUTDOWN instead and `answer` is never called. ic__router_gather: a
 * body that streams in, for a tenant on another core, is gathered here
 * (16 MiB at most, 413 past it), then forwarded whole.
 */
int ic__router_forward(ic_router_t *r, ic_http_exchange_t *x, const ic_http_request_t *req, unsigned t, unsigned owner, uint64_t t0,
                       ic_str_t body, ic_router_answer_cb answer, void *answer_arg);
void ic__router_gather(ic_router_t *r, ic_http_exchange_t *x, unsigned t, unsigned owner, uint64_t t0);
/* Frees the forwarding messages the cores keep for reuse (ic_router_free, once no core runs the router). */
void ic__router_forward_fini(ic_router_t *r);

/* Keeps the router (its pools) alive on the current core while delta > 0 is held (router.c). */
void ic__router_hold(ic_router_t *r, int delta);

/*
 * On the calling core: takes back a router this core let go of (a retired
 * router that still gets a request sent before the swap): its tenants count
 * as live here again until the next sweep (router.c). No-op otherwise.
 */
void ic__router_revive(ic_router_t *r);

/*
 * For service bindings (services.c), from router.c; all on the calling core.
 * ic__router_tenant: the index of the worker named name, or -1.
 * ic__router_place: the core that runs tenant t for a request or call
 * that arrived here (its owner for `sticky`; here for `spread`; one of its
 * replicas for `adaptive`, adaptive.c, which may add or retire one). ic__router_core_stats: this core's counters.
 * ic__router_may_forward: delta > 0 takes a slot of the forwarded requests
 * in flight from here to owner (false, nothing taken, past the bound);
 * delta < 0 gives it back. ic__router_enter: on the core that runs a call,
 * holds the router (undo with ic__router_hold(r, -1)), also when a reload
 * retired it meanwhile. ic__router_run: runs tenant t here as a forwarded
 * request runs (pool, stats, the tenant's queue bound: false when full,
 * nothing ran). ic__router_count: the tenant's outcome (status > 0) and the
 * latency since t0 (when not 0) on this core.
 */
int ic__router_tenant(const ic_router_t *r, const char *name);
unsigned ic__router_place(ic_router_t *r, unsigned t);
ic_router_stats_t *ic__router_core_stats(ic_router_t *r);
bool ic__router_may_forward(ic_router_t *r, unsigned owner, int delta);
void ic__router_enter(ic_router_t *r);
bool ic__router_run(ic_router_t *r, unsigned t, const ic_http_request_t *req, ic_str_t body, unsigned flags, ic_js_done_cb done,
                    void *arg);
void ic__router_count(ic_router_t *r, unsigned t, int status, uint64_t t0);

/*
 * The service handler of the calling reactor (services.c): installs cb over
 * ctx (a router, or a slot) with ic_js_set_services; uninstall removes it if
 * ctx is the one installed (a retired router's stop leaves the slot's).
 */
void ic__services_install(ic_js_service_cb cb, void *ctx);
void ic__services_uninstall(void *ctx);

/*
 * The router of a slot that a service call for `name` goes to: the current
 * one if it has a worker of that name, else the newest router a reload
 * replaced that still has one and that this core has not let go of (the
 * caller may be a request that started on it), else the current one (the
 * call then gets its 503).
 */
ic_router_t *ic__router_slot_find(ic_router_slot_t *s, const char *name);

/* The service handler over a slot: the call goes to the router ic__router_slot_find gives. */
void ic_router_slot_service(void *slot, const char *service, const ic_http_request_t *req, ic_str_t body, unsigned flags,
                            ic_js_done_cb done, void *arg);

/*
 * Streamed responses of a tenant on another core (xstream.c). On the owner:
 * ic__xstream_owner_new takes the worker's stream (NULL: no memory). On the
 * origin, from the answer: ic__xstream_start answers the exchange with the
 * head (and extra, a header line, or NULL) and starts the flow.
 */
struct ic__xowner;
struct ic__xowner *ic__xstream_owner_new(ic_router_t *r, ic_js_stream_t *stream, unsigned origin);
/* On the owner, before the head went to the origin: the stream is cancelled and xo freed. */
void ic__xstream_owner_drop(struct ic__xowner *xo);
void ic__xstream_start(ic_router_t *r, ic_http_exchange_t *x, unsigned owner, struct ic__xowner *xo, int status,
                       const char *const *lines, unsigned n, const char *extra);
/*
 * On the origin, for a service call's answer: a stream of this core
 * (ic_js_stream_from) that the body from xo flows into, for the caller to
 * attach or cancel; its cancel cancels the service's stream on the owner.
 * NULL when there is no memory (the service's stream is cancelled, but for
 * no memory to tell the owner at all: then it goes with its worker).
 */
ic_js_stream_t *ic__xstream_start_js(ic_router_t *r, unsigned owner, struct ic__xowner *xo);

#endif
