/*
 * router.c: from an HTTP request to the core that runs its tenant, and back.
 *
 * Routing: the Host header (port dropped unless the route names one, case
 * folded) and the path pick a route: an exact host beats a wildcard
 * ("*.example.com", longest suffix first), which beats a host-less prefix
 * route ("/static"); among those, the longest path prefix wins. No route:
 * the default worker, else 404. Exact hosts are found through a hash
 * table; wildcard and prefix-only routes are scanned.
 *
 * Placement: `sticky` runs a tenant on its owner core, FNV-1a 64 of its
 * name mod the number of cores; `spread` runs it on the core the request
 * arrived on. A request for another core travels as a `struct fwd` over
 * ic_smp_submit: the connection's core copies the request once into the
 * message (the connection's buffer may move while the exchange waits), the
 * owner runs it and writes the response into the message (or, past 1.5 KiB,
 * into memory of its own, which the connection's core sends home to be
 * freed after it answered).
 *
 * Backpressure: past `inflight_per_core_pair` forwarded requests from one
 * core to another, or `queue_per_tenant` parked requests of a tenant, the
 * client gets 503 with Retry-After.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fault.h"
#include "router/internal.h"

/* Per core and per tenant: requests run here, by outcome. */
/*
 * Latency buckets: 4 per power of two of microseconds, from 1 µs to about
 * 2^28 µs (4.5 min); bucket b covers [lo(b), lo(b + 1)). Quantiles are read
 * as a bucket's upper bound: within 19 % of the true value.
 */
#define LAT_SUB 4
#define LAT_BUCKETS (28 * LAT_SUB)

static unsigned lat_bucket(uint64_t us)
{
    if (us < 1)
        return 0;
    unsigned octave = 63u - (unsigned)__builtin_clzll(us);
    unsigned sub = octave >= 2 ? (unsigned)((us >> (octave - 2)) & 3) : (unsigned)((us << (2 - octave)) & 3);
    unsigned b = octave * LAT_SUB + sub;
    return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

static double lat_upper_s(unsigned b)
{
    unsigned octave = b / LAT_SUB, sub = b % LAT_SUB;
    return ((double)(1ull << octave) * (1.0 + (sub + 1) / 4.0)) / 1e6;
}

struct tstats {
    unsigned long long requests, ok, client_err, server_err, unavailable, timeout;
    unsigned long long busy_ns;          /* time this core spent in the tenant's handler calls */
    unsigned long long lat[LAT_BUCKETS]; /* from arrival to answer, on the connection's core */
};

struct rcore {
    ic_router_stats_t st;
    ic_js_pool_t *pool;    /* created on first use */
    unsigned active;       /* requests of this router in hand on this core (run here, sent away, run for another core) */
    _Atomic bool released; /* a retired router's pool on this core is gone (see ic_router_slot) */
    unsigned *inflight;    /* forwarded requests in flight to each core (this core's) */
    struct tstats *ts;     /* [ntenants], this core's */
} __attribute__((aligned(64)));

struct ic_router {
    const ic_router_config_t *cfg;
    ic_router_config_t *owned_cfg; /* freed with the router (ic_router_adopt_config) */
    unsigned n;
    ic_js_tenant_t **tenants;
    struct rcore *cores;
    unsigned *owner;   /* owner core of each tenant */
    int *buckets;      /* exact-host hash: first route index, -1 empty */
    int *next_route;   /* chain */
    unsigned nbuckets; /* power of two */
};

void ic__router_hold(ic_router_t *r, int delta)
{
    r->cores[ic_reactor_id()].active += (unsigned)delta;
}

unsigned ic_router_owner_of(const char *name, unsigned ncores)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    /* FNV-1a's low bits are weak (bit 0 is the parity of the bytes' bit 0): mix them (MurmurHash3's fmix64) before the mod. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return ncores ? (unsigned)(h % ncores) : 0;
}

static uint64_t hash_host(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

int ic_router_new(const ic_router_config_t *cfg, unsigned ncores, ic_router_t **out, char *err, size_t errlen)
{
    ic_router_t *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->cfg = cfg;
    r->n = ncores;
    r->tenants = calloc(cfg->nworkers, sizeof(*r->tenants));
    r->owner = calloc(cfg->nworkers, sizeof(*r->owner));
    if (posix_memalign((void **)&r->cores, 64, ncores * sizeof(*r->cores)) != 0)
        r->cores = NULL;
    r->nbuckets = 16;
    while (r->nbuckets < 2 * cfg->nroutes)
        r->nbuckets *= 2;
    r->buckets = malloc(r->nbuckets * sizeof(int));
    r->next_route = malloc((cfg->nroutes + 1) * sizeof(int));
    if (!r->tenants || !r->owner || !r->cores || !r->buckets || !r->next_route) {
        ic_router_free(r);
        return -ENOMEM;
    }
    memset(r->cores, 0, ncores * sizeof(*r->cores));
    for (unsigned i = 0; i < ncores; i++) {
        r->cores[i].inflight = calloc(ncores, sizeof(unsigned));
        r->cores[i].ts = calloc(cfg->nworkers ? cfg->nworkers : 1, sizeof(struct tstats));
        if (!r->cores[i].inflight || !r->cores[i].ts) {
            ic_router_free(r);
            return -ENOMEM;
        }
    }
    for (unsigned i = 0; i < r->nbuckets; i++)
        r->buckets[i] = -1;
    for (unsigned i = cfg->nroutes; i-- > 0;) {
        const struct ic__route *rt = &cfg->routes[i];
        r->next_route[i] = -1;
        if (rt->host && !rt->wildcard) {
            unsigned b = (unsigned)hash_host(rt->host, strlen(rt->host)) & (r->nbuckets - 1);
            r->next_route[i] = r->buckets[b];
            r->buckets[b] = (int)i;
        }
    }
    for (unsigned i = 0; i < cfg->nworkers; i++) {
        const struct ic__worker_cfg *w = &cfg->workers[i];
        ic_js_tenant_config_t tc;
        ic_js_tenant_config_init(&tc);
        tc.name = w->name;
        tc.path = w->path;
        tc.kind = w->kind;
        tc.env = (const char *const *)w->env;
        tc.nenv = w->nenv;
        tc.services = (const char *const *)w->services;
        tc.nservices = w->nservices;
        tc.limits = w->limits;
        if (w->bundle.src) { /* bundled on load (bundle.c) */
            tc.src = w->bundle.src;
            tc.len = w->bundle.len;
            tc.sourcemap = w->bundle.map;
            tc.sourcemap_len = w->bundle.maplen;
            tc.kind = IC_JS_MODULE;
        }
        int ret = ic_js_tenant_new(&tc, &r->tenants[i]);
        if (ret < 0) {
            if (errlen)
                snprintf(err, errlen, "%s: workers[%u] (%s): cannot read %s: %s", cfg->file, i, w->name, w->path, ic_strerror(ret));
            ic_router_free(r);
            return ret;
        }
        r->owner[i] = ic_router_owner_of(w->name, ncores);
    }
    *out = r;
    return 0;
}

void ic_router_adopt_config(ic_router_t *r, ic_router_config_t *cfg)
{
    r->owned_cfg = cfg;
}

void ic_router_free(ic_router_t *r)
{
    if (!r)
        return;
    ic_router_config_t *owned = r->owned_cfg;
    if (r->tenants)
        for (unsigned i = 0; i < r->cfg->nworkers; i++)
            ic_js_tenant_free(r->tenants[i]);
    if (r->cores)
        for (unsigned i = 0; i < r->n; i++) {
            free(r->cores[i].inflight);
            free(r->cores[i].ts);
        }
    free(r->tenants);
    free(r->owner);
    free(r->cores);
    free(r->buckets);
    free(r->next_route);
    free(r);
    ic_router_config_free(owned);
}

int ic_router_start(ic_router_t *r)
{
    struct rcore *rc = &r->cores[ic_reactor_id()];
    ic__services_install(ic_router_service, r); /* env.X.fetch() of this core's workers comes to this router */
    return rc->pool ? 0 : ic_js_pool_new(NULL, &rc->pool);
}

void ic_router_stop(ic_router_t *r)
{
    struct rcore *rc = &r->cores[ic_reactor_id()];
    ic__services_uninstall(r);
    ic_js_pool_free(rc->pool);
    rc->pool = NULL;
}

void ic_router_stats(const ic_router_t *r, unsigned core, ic_router_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (core >= r->n)
        return;
    const ic_router_stats_t *s = &r->cores[core].st;
    out->requests = __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
    out->local = __atomic_load_n(&s->local, __ATOMIC_RELAXED);
    out->forwarded_out = __atomic_load_n(&s->forwarded_out, __ATOMIC_RELAXED);
    out->forwarded_in = __atomic_load_n(&s->forwarded_in, __ATOMIC_RELAXED);
    out->rejected = __atomic_load_n(&s->rejected, __ATOMIC_RELAXED);
    out->not_found = __atomic_load_n(&s->not_found, __ATOMIC_RELAXED);
    out->isolates = __atomic_load_n(&s->isolates, __ATOMIC_RELAXED);
    out->isolates_created = __atomic_load_n(&s->isolates_created, __ATOMIC_RELAXED);
    out->heap_bytes = __atomic_load_n(&s->heap_bytes, __ATOMIC_RELAXED);
    out->services = __atomic_load_n(&s->services, __ATOMIC_RELAXED);
}

/* ---- what services.c needs (internal.h) ------------------------------------------------------ */

int ic__router_tenant(const ic_router_t *r, const char *name)
{
    for (unsigned i = 0; i < r->cfg->nworkers; i++)
        if (strcmp(r->cfg->workers[i].name, name) == 0)
            return (int)i;
    return -1;
}

unsigned ic__router_place(const ic_router_t *r, unsigned t)
{
    return r->cfg->workers[t].placement == IC_PLACE_SPREAD ? (unsigned)ic_reactor_id() : r->owner[t];
}

ic_router_stats_t *ic__router_core_stats(ic_router_t *r)
{
    return &r->cores[ic_reactor_id()].st;
}

bool ic__router_may_forward(ic_router_t *r, unsigned owner, int delta)
{
    struct rcore *rc = &r->cores[ic_reactor_id()];
    if (delta > 0 && rc->inflight[owner] >= r->cfg->inflight_per_pair)
        return false;
    rc->inflight[owner] += (unsigned)delta;
    return true;
}

void ic__router_enter(ic_router_t *r)
{
    struct rcore *rc = &r->cores[ic_reactor_id()];
    /* As fwd_work: a router retired since the call was sent gets its pool here back until the call is done. */
    atomic_store(&rc->released, false);
    rc->active++;
}

/* ---- routing ------------------------------------------------------------------------------ */

/* The path of a request target: origin-form as is; absolute-form after the authority. */
static ic_str_t path_of(ic_str_t target)
{
    if (target.len && target.p[0] == '/')
        return target;
    const char *p = memmem(target.p, target.len, "://", 3);
    if (p) {
        const char *slash = memchr(p + 3, '/', target.len - (size_t)(p + 3 - target.p));
        if (slash)
            return (ic_str_t){slash, target.len - (size_t)(slash - target.p)};
    }
    return (ic_str_t){"/", 1};
}

static bool prefix_ok(const struct ic__route *rt, ic_str_t path)
{
    if (!rt->prefix)
        return true;
    size_t n = strlen(rt->prefix);
    /* "/api" matches "/api", "/api/x" and "/api?q", not "/apis". */
    return path.len >= n && memcmp(path.p, rt->prefix, n) == 0 &&
           (path.len == n || rt->prefix[n - 1] == '/' || path.p[n] == '/' || path.p[n] == '?');
}

static size_t prefix_len(const struct ic__route *rt)
{
    return rt->prefix ? strlen(rt->prefix) : 0;
}

/* The tenant of a request, or -1. */
static int route(const ic_router_t *r, const ic_http_request_t *req)
{
    const ic_router_config_t *cfg = r->cfg;
    char host[256];
    size_t hn = req->host.len < sizeof(host) ? req->host.len : 0;
    for (size_t i = 0; i < hn; i++) {
        char ch = req->host.p[i];
        host[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    const char *colon = memchr(host, ':', hn);
    size_t bare = colon && host[0] != '[' ? (size_t)(colon - host) : hn;
    ic_str_t path = path_of(req->target);
    int best = -1;
    size_t best_len = 0;
    /* Exact hosts: with the port, then without. */
    for (int pass = 0; pass < 2 && best < 0; pass++) {
        size_t len = pass == 0 ? hn : bare;
        if (pass == 1 && bare == hn)
            break;
        unsigned b = (unsigned)hash_host(host, len) & (r->nbuckets - 1);
        for (int i = r->buckets[b]; i >= 0; i = r->next_route[i]) {
            const struct ic__route *rt = &cfg->routes[i];
            if (strlen(rt->host) == len && memcmp(rt->host, host, len) == 0 && prefix_ok(rt, path) &&
                (best < 0 || prefix_len(rt) > best_len)) {
                best = (int)rt->worker;
                best_len = prefix_len(rt);
            }
        }
    }
    if (best >= 0)
        return best;
    /* Wildcards (longest suffix), then host-less prefixes. */
    size_t best_suffix = 0;
    for (unsigned i = 0; i < cfg->nroutes; i++) {
        const struct ic__route *rt = &cfg->routes[i];
        if (!rt->wildcard || !prefix_ok(rt, path))
            continue;
        size_t sn = strlen(rt->host);
        if (bare > sn && memcmp(host + bare - sn, rt->host, sn) == 0 &&
            (sn > best_suffix || (sn == best_suffix && prefix_len(rt) > best_len))) {
            best = (int)rt->worker;
            best_suffix = sn;
            best_len = prefix_len(rt);
        }
    }
    if (best >= 0)
        return best;
    for (unsigned i = 0; i < cfg->nroutes; i++) {
        const struct ic__route *rt = &cfg->routes[i];
        if (!rt->host && prefix_ok(rt, path) && (best < 0 || prefix_len(rt) > best_len)) {
            best = (int)rt->worker;
            best_len = prefix_len(rt);
        }
    }
    return best >= 0 ? best : cfg->default_worker;
}

/* ---- answering -------------------------------------------------------------------------------- */

static void count(struct tstats *t, int status)
{
    STAT_ADD(t->requests, 1);
    if (status < 400)
        STAT_ADD(t->ok, 1);
    else if (status < 500)
        STAT_ADD(t->client_err, 1);
    else if (status == 503)
        STAT_ADD(t->unavailable, 1);
    else if (status == 504)
        STAT_ADD(t->timeout, 1);
    else
        STAT_ADD(t->server_err, 1);
}

/* Answers x with the response, adding x-isocore-core when configured. */
/*
 * The x-isocore-core line for a request that ran on core ran_on, in buf (CORE_LINE bytes); NULL when not configured.
 * With a node name it is two lines in one (the server writes header lines as given): x-isocore-node follows.
 */
#define CORE_LINE 128
static const char *core_line(const ic_router_t *r, int ran_on, char *buf)
{
    if (!r->cfg->core_header)
        return NULL;
    const char *node = r->cfg->node;
    snprintf(buf, CORE_LINE, "x-isocore-core: %d%s%s", ran_on, node ? "\r\nx-isocore-node: " : "", node ? node : "");
    return buf;
}

static void respond(const ic_router_t *r, ic_http_exchange_t *x, int ran_on, int status, const char *const *headers, unsigned n,
                    const void *body, size_t len)
{
    char core[CORE_LINE];
    ic_js_response_t res = {status, headers, n, body, len, NULL};
    ic_js_http_respond(x, &res, core_line(r, ran_on, core));
}

static void busy(const ic_router_t *r, ic_http_exchange_t *x, const char *why)
{
    static const char *const h[] = {"content-type: text/plain; charset=utf-8", "retry-after: 1"};
    char body[160];
    int n = snprintf(body, sizeof(body), "Service Unavailable: %s; retry shortly\n", why);
    STAT_ADD(r->cores[ic_reactor_id()].st.rejected, 1);
    respond(r, x, ic_reactor_id(), 503, h, 2, body, (size_t)n);
}

/*
 * Runs tenant t here; `done(arg, res)` gets the response (with IC_JS_STREAM in flags its body may be a stream). False when
 * the tenant's queue is full (nothing ran).
 */
static bool run_here(ic_router_t *r, unsigned t, ic_http_exchange_t *x, const ic_http_request_t *req, ic_str_t body, unsigned flags,
                     ic_js_done_cb done, void *arg)
{
    struct rcore *rc = &r->cores[ic_reactor_id()];
    ic_js_worker_t *w;
    char err[1024];
    int ret = rc->pool ? 0 : ic_js_pool_new(NULL, &rc->pool);
    if (ret == 0)
        ret = ic_js_pool_get(rc->pool, r->tenants[t], &w, err, sizeof(err));
    else
        snprintf(err, sizeof(err), "out of memory");
    ic_js_pool_stats_t ps = {0};
    if (rc->pool)
        ic_js_pool_stats(rc->pool, &ps);
    STAT_ADD(rc->st.isolates, (unsigned long long)ps.workers - rc->st.isolates);
    STAT_ADD(rc->st.isolates_created, ps.created - rc->st.isolates_created);
    STAT_ADD(rc->st.heap_bytes, (unsigned long long)ps.bytes - rc->st.heap_bytes);
    if (ret < 0) {
        ic_log(IC_LOG_ERROR, "[%s] cannot start the worker: %s", r->cfg->workers[t].name, err[0] ? err : ic_strerror(ret));
        static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Service Unavailable: the worker failed to start\n";
        ic_js_response_t res = {503, h, 1, msg, sizeof(msg) - 1, NULL};
        done(arg, &res);
        return true;
    }
    if (ic_js_worker_pending(w) >= r->cfg->queue_per_tenant)
        return false;
    uint64_t t0 = ic_clock_ns();
    if (x)
        ic_js_http_fetch(w, x, flags, done, arg); /* its body may stream in from the socket */
    else
        ic_js_worker_fetch_ex(w, req, body, flags, done, arg);
    STAT_ADD(rc->ts[t].busy_ns, ic_clock_ns() - t0);
    if (ic_js_worker_broken(w))
        ic_js_pool_drop(rc->pool, r->tenants[t]);
    return true;
}

bool ic__router_run(ic_router_t *r, unsigned t, const ic_http_request_t *req, ic_str_t body, unsigned flags, ic_js_done_cb done,
                    void *arg)
{
    return run_here(r, t, NULL, req, body, flags, done, arg);
}

struct local {
    ic_router_t *r;
    ic_http_exchange_t *x; /* NULL for ic_router_inject: the answer goes to `answer` */
    unsigned tenant;
    uint64_t t0;
    ic_router_answer_cb answer;
    void *answer_arg;
};

/* Records the latency of a request that arrived at t0 for tenant t, on this core. */
static void latency(ic_router_t *r, unsigned t, uint64_t t0)
{
    struct tstats *ts = &r->cores[ic_reactor_id()].ts[t];
    unsigned b = lat_bucket((ic_clock_ns() - t0) / 1000);
    STAT_ADD(ts->lat[b], 1);
}

void ic__router_count(ic_router_t *r, unsigned t, int status, uint64_t t0)
{
    if (status > 0)
        count(&r->cores[ic_reactor_id()].ts[t], status);
    if (t0)
        latency(r, t, t0);
}

static void local_done(void *arg, const ic_js_response_t *res)
{
    struct local *l = arg;
    l->r->cores[ic_reactor_id()].active--;
    count(&l->r->cores[ic_reactor_id()].ts[l->tenant], res->status);
    latency(l->r, l->tenant, l->t0);
    if (!l->x) {
        /* Injected (ic_router_inject): run without IC_JS_STREAM, so the body is whole. */
        l->answer(l->answer_arg, res->status, res->headers, res->nheaders, res->body, res->len);
    } else {
        /* A streamed body goes from the worker on this core straight to the client (chunk by chunk, with backpressure). */
        char core[CORE_LINE];
        ic_js_http_respond(l->x, res, core_line(l->r, ic_reactor_id(), core));
    }
    free(l);
}

/* ---- forwarding ---------------------------------------------------------------------------------- */

struct fwd {
    ic_router_t *r;
    ic_http_exchange_t *x;      /* the origin's; never touched by the owner; NULL for ic_router_inject */
    ic_router_answer_cb answer; /* with x NULL: gets the answer on the origin, in place of the exchange */
    void *answer_arg;
    uint64_t t0; /* arrival, on the origin */
    unsigned origin, owner, tenant;
    ic_http_request_t req; /* views into buf */
    ic_str_t body;
    char *buf; /* the request's bytes: small_req, or an allocation of the origin */
    char small_req[1024];
    /* filled on the owner */
    ic_smp_msg_t *msg;
    bool later, answered, rejected;
    bool https; /* the origin's exchange is over TLS (read there, at creation) */
    int status;
    char *rbuf; /* header lines and body: `small` when they fit, else an allocation of the owner */
    bool rbuf_owned;
    /* Room for a typical response, written by the owner: no allocation on the owner, nothing to send home to free. */
    _Alignas(8) char small[1536];
    const char **lines;
    unsigned nlines;
    const char *rbody;
    size_t rlen;
    struct ic__xowner *xo; /* a streamed body: its owner side (the head is in rbuf) */
};

/* Copies the request (head views and body) into one allocation of this core. */
static bool copy_request(struct fwd *f, const ic_http_request_t *req, ic_str_t body)
{
    size_t n = req->method.len + req->target.len + req->host.len + body.len;
    for (unsigned i = 0; i < req->nheaders; i++)
        n += req->headers[i].name.len + req->headers[i].value.len + 4;
    /* Header lines keep their "name: value\r\n" shape: the JS layer reads them as one block. */
    f->buf = n + 1 <= sizeof(f->small_req) ? f->small_req : ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(n + 1);
    if (!f->buf)
        return false;
    char *p = f->buf;
    /* The head's scalar fields, and only the headers in use (the array holds 100). */
    f->req.minor = req->minor;
    f->req.nheaders = req->nheaders;
    f->req.has_length = req->has_length;
    f->req.chunked = req->chunked;
    f->req.keep_alive = req->keep_alive;
    f->req.expect_continue = req->expect_continue;
    f->req.content_length = req->content_length;
    f->req.head_len = req->head_len;
#define COPY(dst, src)                                                                                                             \
    do {                                                                                                                           \
        memcpy(p, (src).p, (src).len);                                                                                             \
        (dst) = (ic_str_t){p, (src).len};                                                                                          \
        p += (src).len;                                                                                                            \
    } while (0)
    COPY(f->req.method, req->method);
    COPY(f->req.target, req->target);
    COPY(f->req.host, req->host);
    for (unsigned i = 0; i < req->nheaders; i++) {
        COPY(f->req.headers[i].name, req->headers[i].name);
        memcpy(p, ": ", 2);
        p += 2;
        COPY(f->req.headers[i].value, req->headers[i].value);
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    COPY(f->body, body);
#undef COPY
    return true;
}

static void free_work_done(void *arg, int status)
{
    (void)arg;
    (void)status;
}

/* Runs on the owner: frees what the owner allocated for a response. */
static int free_on_owner(ic_smp_msg_t *msg, void *arg)
{
    (void)msg;
    free(arg);
    return 0;
}

/* On the owner: the tenant answered; copy the response into the owner's memory and send it home. */
static void fwd_answer(void *arg, const ic_js_response_t *res)
{
    struct fwd *f = arg;
    f->r->cores[ic_reactor_id()].active--;
    count(&f->r->cores[ic_reactor_id()].ts[f->tenant], res->status);
    f->xo = NULL;
    if (res->stream && !(f->xo = ic__xstream_owner_new(f->r, res->stream, f->origin))) {
        ic_js_stream_cancel(res->stream);
        static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Service Unavailable: out of memory\n";
        ic_js_response_t oom = {503, h, 1, msg, sizeof(msg) - 1, NULL};
        res = &oom;
    }
    size_t n = res->nheaders * sizeof(char *) + res->len;
    for (unsigned i = 0; i < res->nheaders; i++)
        n += strlen(res->headers[i]) + 1;
    f->rbuf_owned = n + 1 > sizeof(f->small);
    f->rbuf = !f->rbuf_owned ? f->small : ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(n + 1);
    if (!f->rbuf) {
        f->status = 503;
        f->nlines = 0;
        f->rlen = 0;
        if (f->xo)
            ic__xstream_owner_drop(f->xo);
        f->xo = NULL;
    } else {
        f->lines = (const char **)f->rbuf;
        char *p = f->rbuf + res->nheaders * sizeof(char *);
        for (unsigned i = 0; i < res->nheaders; i++) {
            size_t l = strlen(res->headers[i]) + 1;
            memcpy(p, res->headers[i], l);
            f->lines[i] = p;
            p += l;
        }
        if (res->len)
            memcpy(p, res->body, res->len);
        f->rbody = p;
        f->rlen = res->len;
        f->nlines = res->nheaders;
        f->status = res->status;
    }
    if (f->later)
        ic_smp_reply(f->msg, 0);
    else
        f->answered = true;
}

/* On the owner. */
static int fwd_work(ic_smp_msg_t *msg, void *arg)
{
    struct fwd *f = arg;
    struct rcore *rc = &f->r->cores[ic_reactor_id()];
    STAT_ADD(rc->st.forwarded_in, 1);
    /* A retired router may still get requests sent before the swap: its pool here comes back until they are done. */
    atomic_store(&rc->released, false);
    f->msg = msg;
    rc->active++;
    /* A streamed body comes back to the origin chunk by chunk (xstream.c). */
    if (!run_here(f->r, f->tenant, NULL, &f->req, f->body, (f->x ? IC_JS_STREAM : 0) | (f->https ? IC_JS_HTTPS : 0), fwd_answer,
                  f)) {
        rc->active--;
        f->rejected = true;
        return 0;
    }
    if (f->answered)
        return 0;
    f->later = true;
    return IC_SMP_LATER;
}

/* Back on the origin: answer the client, free the request, send the response memory home. */
static void fwd_done(void *arg, int status)
{
    struct fwd *f = arg;
    ic_router_t *r = f->r;
    r->cores[f->origin].inflight[f->owner]--;
    r->cores[f->origin].active--;
    if (!f->x) {
        /* Injected: the same outcomes, told to the callback (streams never come: the owner ran it without IC_JS_STREAM). */
        static const char *const h[] = {"content-type: text/plain; charset=utf-8", "retry-after: 1"};
        static const char why[] = "Service Unavailable\n";
        if (status < 0 || f->rejected || !f->rbuf) {
            STAT_ADD(r->cores[f->origin].st.rejected, 1);
            f->answer(f->answer_arg, 503, h, 2, why, sizeof(why) - 1);
        } else {
            f->answer(f->answer_arg, f->status, f->lines, f->nlines, f->rbody, f->rlen);
            latency(r, f->tenant, f->t0);
        }
    } else if (status < 0) {
        busy(r, f->x, "the owner core is shutting down");
    } else if (f->rejected) {
        busy(r, f->x, "the worker has too many requests queued");
    } else if (!f->rbuf) {
        busy(r, f->x, "out of memory");
    } else if (f->xo) {
        char core[CORE_LINE];
        ic__xstream_start(r, f->x, f->owner, f->xo, f->status, f->lines, f->nlines, core_line(r, (int)f->owner, core));
        latency(r, f->tenant, f->t0);
    } else {
        respond(r, f->x, (int)f->owner, f->status, f->lines, f->nlines, f->rbody, f->rlen);
        latency(r, f->tenant, f->t0);
    }
    /*
     * The response memory goes home to be freed. This submit cannot fail for
     * lack of memory (ic_smp recycles the answered message before done runs);
     * only once the reactors are exiting, when no core runs anything more
     * and it is freed here.
     */
    if (f->rbuf_owned && f->rbuf && ic_smp_submit(f->owner, free_on_owner, free_work_done, f->rbuf) < 0)
        free(f->rbuf);
    if (f->buf != f->small_req)
        free(f->buf);
    free(f);
}

/* ---- the handlers -------------------------------------------------------------------------------- */

static int forward(ic_router_t *r, ic_http_exchange_t *x, const ic_http_request_t *req, unsigned t, unsigned owner, uint64_t t0,
                   ic_str_t body, ic_router_answer_cb answer, void *answer_arg);

/*
 * A body that streams in, for a tenant on another core: gathered here, up to
 * GATHER_MAX bytes (413 past it), then forwarded whole. (Streaming it across
 * the mesh as it comes is the next step; the response already streams back.)
 */
#define GATHER_MAX (16u << 20)

struct gather {
    ic_router_t *r;
    ic_http_exchange_t *x;
    unsigned t, owner;
    uint64_t t0;
    char *buf;
    size_t len, cap;
};

static void gather_body(void *arg, const char *p, size_t len, int status)
{
    struct gather *g = arg;
    if (status == 0) {
        if (g->len + len > GATHER_MAX) {
            static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
            static const char msg[] = "Content Too Large: a request body for a tenant on another core is gathered first, "
                                      "16 MiB at most\n";
            respond(g->r, g->x, ic_reactor_id(), 413, h, 1, msg, sizeof(msg) - 1); /* -ECANCELED comes from inside: g goes */
            return;
        }
        if (g->len + len > g->cap) {
            size_t cap = g->cap ? g->cap : 64 * 1024;
            while (cap < g->len + len)
                cap *= 2;
            char *b = ic__fault(IC__FAULT_ALLOC) ? NULL : realloc(g->buf, cap);
            if (!b) {
                busy(g->r, g->x, "out of memory"); /* -ECANCELED comes from inside: g goes */
                return;
            }
            g->buf = b;
            g->cap = cap;
        }
        memcpy(g->buf + g->len, p, len);
        g->len += len;
        return;
    }
    if (status == 1) {
        /* The whole body: on its way to the owner; the exchange's answer comes back as for any forwarded request. */
        forward(g->r, g->x, ic_http_request(g->x), g->t, g->owner, g->t0, (ic_str_t){g->buf, g->len}, NULL, NULL);
    } else if (status != -ECANCELED && status != -EPIPE) {
        static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
        const char *msg = status == -E2BIG ? "Content Too Large\n" : "Bad Request: the request body is malformed\n";
        respond(g->r, g->x, ic_reactor_id(), status == -E2BIG ? 413 : 400, h, 1, msg, strlen(msg));
    }
    free(g->buf);
    free(g);
}

static void gather(ic_router_t *r, ic_http_exchange_t *x, unsigned t, unsigned owner, uint64_t t0)
{
    struct gather *g = ic__fault(IC__FAULT_ALLOC) ? NULL : calloc(1, sizeof(*g));
    if (!g)
        return busy(r, x, "out of memory");
    *g = (struct gather){r, x, t, owner, t0, NULL, 0, 0};
    ic_http_body_read(x, gather_body, g);
}

void ic_router_handle(ic_http_exchange_t *x, void *arg)
{
    ic_router_t *r = arg;
    unsigned self = (unsigned)ic_reactor_id();
    struct rcore *rc = &r->cores[self];
    const ic_http_request_t *req = ic_http_request(x);
    STAT_ADD(rc->st.requests, 1);
    uint64_t t0 = ic_clock_ns();
    int t = route(r, req);
    if (t < 0) {
        static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Not Found: no worker serves this host\n";
        STAT_ADD(rc->st.not_found, 1);
        respond(r, x, (int)self, 404, h, 1, msg, sizeof(msg) - 1);
        return;
    }
    unsigned owner = r->cfg->workers[t].placement == IC_PLACE_SPREAD ? self : r->owner[t];
    if (owner == self) {
        STAT_ADD(rc->st.local, 1);
        struct local *l = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(sizeof(*l));
        if (!l)
            return busy(r, x, "out of memory");
        *l = (struct local){r, x, (unsigned)t, t0, NULL, NULL};
        rc->active++;
        if (!run_here(r, (unsigned)t, x, req, ic_http_body(x), IC_JS_STREAM, local_done, l)) {
            rc->active--;
            free(l);
            busy(r, x, "the worker has too many requests queued");
        }
        return;
    }
    if (rc->inflight[owner] >= r->cfg->inflight_per_pair)
        return busy(r, x, "too many requests in flight to the tenant's core");
    if (ic_http_body_streaming(x))
        return gather(r, x, (unsigned)t, owner, t0);
    forward(r, x, req, (unsigned)t, owner, t0, ic_http_body(x), NULL, NULL);
}

/*
 * Sends the request (whose body is `body`) to the tenant's owner core. With
 * an exchange x, failures answer it (503) and the function returns 0; with x
 * NULL (ic_router_inject) it returns -ENOMEM or IC_ESHUTDOWN instead and
 * `answer` is never called.
 */
static int forward(ic_router_t *r, ic_http_exchange_t *x, const ic_http_request_t *req, unsigned t, unsigned owner, uint64_t t0,
                   ic_str_t body, ic_router_answer_cb answer, void *answer_arg)
{
    unsigned self = (unsigned)ic_reactor_id();
    struct rcore *rc = &r->cores[self];
    /* Not calloc: the struct holds a 100-header request view and two buffers; the fields in use are set. */
    struct fwd *f = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(sizeof(*f));
    if (!f) {
        if (x)
            busy(r, x, "out of memory");
        return x ? 0 : -ENOMEM;
    }
    f->msg = NULL;
    f->xo = NULL;
    f->later = f->answered = f->rejected = f->rbuf_owned = false;
    f->rbuf = NULL;
    if (!copy_request(f, req, body)) {
        free(f);
        if (x)
            busy(r, x, "out of memory");
        return x ? 0 : -ENOMEM;
    }
    f->r = r;
    f->x = x;
    f->https = x && ic_http_exchange_tls(x);
    f->answer = answer;
    f->answer_arg = answer_arg;
    f->origin = self;
    f->owner = owner;
    f->tenant = t;
    f->t0 = t0;
    int ret = ic_smp_submit(owner, fwd_work, fwd_done, f);
    if (ret < 0) {
        if (f->buf != f->small_req)
            free(f->buf);
        free(f);
        if (x)
            busy(r, x, "the tenant's core is shutting down");
        return x ? 0 : ret;
    }
    rc->inflight[owner]++;
    rc->active++;
    STAT_ADD(rc->st.forwarded_out, 1);
    return 0;
}

/*
 * The test and benchmark entry (bench/router.c, tests/router/test_inject.c):
 * the steps of ic_router_handle for a request without a connection. The
 * local case runs the worker as ic_js_http_fetch does for a whole body; the
 * forwarded case goes through forward/fwd_work/fwd_answer/fwd_done above,
 * the code HTTP requests take, with the answer handed to a callback where
 * an exchange would be answered. Both run without IC_JS_STREAM.
 */
int ic_router_inject(ic_router_t *r, const ic_http_request_t *req, ic_str_t body, ic_router_answer_cb answer, void *arg)
{
    unsigned self = (unsigned)ic_reactor_id();
    struct rcore *rc = &r->cores[self];
    STAT_ADD(rc->st.requests, 1);
    uint64_t t0 = ic_clock_ns();
    int t = route(r, req);
    if (t < 0) {
        STAT_ADD(rc->st.not_found, 1);
        return -ENOENT;
    }
    unsigned owner = r->cfg->workers[t].placement == IC_PLACE_SPREAD ? self : r->owner[t];
    if (owner != self) {
        if (rc->inflight[owner] >= r->cfg->inflight_per_pair) {
            STAT_ADD(rc->st.rejected, 1);
            return -EBUSY;
        }
        return forward(r, NULL, req, (unsigned)t, owner, t0, body, answer, arg);
    }
    struct local *l = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(sizeof(*l));
    if (!l)
        return -ENOMEM;
    *l = (struct local){r, NULL, (unsigned)t, t0, answer, arg};
    STAT_ADD(rc->st.local, 1);
    rc->active++;
    if (!run_here(r, (unsigned)t, NULL, req, body, 0, local_done, l)) {
        rc->active--;
        free(l);
        STAT_ADD(rc->st.rejected, 1);
        return -EBUSY;
    }
    return 0;
}

/* Appends printf output to a growing buffer. */
struct text {
    char *p;
    size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = t->p ? vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 8192;
        char *more = realloc(t->p, cap);
        if (!more)
            return;
        t->p = more;
        t->cap = cap;
    }
}

void ic_router_admin_handle(ic_http_exchange_t *x, void *arg)
{
    ic_router_t *r = arg;
    const ic_http_request_t *req = ic_http_request(x);
    static const char *const h[] = {"content-type: text/plain; version=0.0.4; charset=utf-8"};
    if (!(req->target.len >= 8 && memcmp(req->target.p, "/metrics", 8) == 0 && (req->target.len == 8 || req->target.p[8] == '?'))) {
        static const char msg[] = "Not Found: try /metrics\n";
        ic_http_respond(x, 404, h, 1, msg, sizeof(msg) - 1);
        return;
    }
    struct text t = {0};
    static const struct {
        const char *name, *help;
        size_t off;
    } core_fields[] = {
        {"isocore_requests_total", "Requests that arrived on the core.", offsetof(ic_router_stats_t, requests)},
        {"isocore_requests_local_total", "Requests run on the core they arrived on.", offsetof(ic_router_stats_t, local)},
        {"isocore_forwarded_out_total", "Requests sent to their tenant's owner core.", offsetof(ic_router_stats_t, forwarded_out)},
        {"isocore_forwarded_in_total", "Requests run for another core.", offsetof(ic_router_stats_t, forwarded_in)},
        {"isocore_rejected_total", "503s for backpressure.", offsetof(ic_router_stats_t, rejected)},
        {"isocore_service_calls_total", "Service binding calls (env.X.fetch()) made by the core's workers.",
         offsetof(ic_router_stats_t, services)},
        {"isocore_not_found_total", "404s: no route, no default worker.", offsetof(ic_router_stats_t, not_found)},
        {"isocore_isolates", "Warm isolates on the core.", offsetof(ic_router_stats_t, isolates)},
        {"isocore_isolates_created_total", "Isolates created on the core.", offsetof(ic_router_stats_t, isolates_created)},
        {"isocore_heap_bytes", "V8 heap and ArrayBuffer bytes of the core's isolates (as of the last isolate created).",
         offsetof(ic_router_stats_t, heap_bytes)},
    };
    for (size_t f = 0; f < sizeof(core_fields) / sizeof(core_fields[0]); f++) {
        put(&t, "# HELP %s %s\n# TYPE %s %s\n", core_fields[f].name, core_fields[f].help, core_fields[f].name,
            strstr(core_fields[f].name, "_total") ? "counter" : "gauge");
        for (unsigned c = 0; c < r->n; c++) {
            ic_router_stats_t st;
            ic_router_stats(r, c, &st);
            put(&t, "%s{core=\"%u\"} %llu\n", core_fields[f].name, c,
                *(const unsigned long long *)((const char *)&st + core_fields[f].off));
        }
    }
    static const struct {
        const char *name, *help;
        size_t off;
    } loop_fields[] = {
        {"isocore_loop_turns_total", "Reactor loop turns.", offsetof(ic_reactor_stats_t, loops)},
        {"isocore_sleeps_total", "Times the reactor slept in io_uring_enter.", offsetof(ic_reactor_stats_t, sleeps)},
        {"isocore_wakeups_sent_total", "Doorbells rung for sleeping cores.", offsetof(ic_reactor_stats_t, wakeups_sent)},
        {"isocore_ring_overflow_total", "Messages that waited in the overflow queue.", offsetof(ic_reactor_stats_t, ring_overflow)},
    };
    for (size_t f = 0; f < sizeof(loop_fields) / sizeof(loop_fields[0]); f++) {
        put(&t, "# HELP %s %s\n# TYPE %s counter\n", loop_fields[f].name, loop_fields[f].help, loop_fields[f].name);
        for (unsigned c = 0; c < r->n; c++) {
            ic_reactor_stats_t st;
            ic_reactor_stats(c, &st);
            put(&t, "%s{core=\"%u\"} %llu\n", loop_fields[f].name, c,
                (unsigned long long)*(const uint64_t *)((const char *)&st + loop_fields[f].off));
        }
    }
    put(&t, "# HELP isocore_sleep_seconds_total Time the reactor slept in io_uring_enter.\n"
            "# TYPE isocore_sleep_seconds_total counter\n");
    for (unsigned c = 0; c < r->n; c++) {
        ic_reactor_stats_t st;
        ic_reactor_stats(c, &st);
        put(&t, "isocore_sleep_seconds_total{core=\"%u\"} %.6f\n", c, (double)st.sleep_ns / 1e9);
    }
    put(&t, "# HELP isocore_loop_busy_ratio Share of the time since the reactor started that it was not asleep.\n"
            "# TYPE isocore_loop_busy_ratio gauge\n");
    for (unsigned c = 0; c < r->n; c++) {
        ic_reactor_stats_t st;
        ic_reactor_stats(c, &st);
        double up = st.started_ns ? (double)(ic_clock_ns() - st.started_ns) : 0;
        put(&t, "isocore_loop_busy_ratio{core=\"%u\"} %.4f\n", c, up > 0 ? 1.0 - (double)st.sleep_ns / up : 0.0);
    }
    /* Process-wide: malloc's view (V8's heaps are mmap'd and not in it; its ArrayBuffer backing stores are). */
    struct mallinfo2 mi = mallinfo2();
    put(&t,
        "# HELP isocore_malloc_in_use_bytes Bytes allocated with malloc and not freed, all threads (glibc mallinfo2 uordblks + "
        "hblkhd).\n"
        "# TYPE isocore_malloc_in_use_bytes gauge\nisocore_malloc_in_use_bytes %zu\n"
        "# HELP isocore_malloc_free_bytes Free bytes malloc holds in its arenas (fragmentation; mallinfo2 fordblks).\n"
        "# TYPE isocore_malloc_free_bytes gauge\nisocore_malloc_free_bytes %zu\n",
        mi.uordblks + mi.hblkhd, mi.fordblks);
    put(&t, "# HELP isocore_tenant_requests_total Requests run for the tenant, by outcome (merged over cores).\n"
            "# TYPE isocore_tenant_requests_total counter\n");
    for (unsigned w = 0; w < r->cfg->nworkers; w++) {
        struct tstats sum = {0};
        for (unsigned c = 0; c < r->n; c++) {
            const struct tstats *s = &r->cores[c].ts[w];
            sum.ok += __atomic_load_n(&s->ok, __ATOMIC_RELAXED);
            sum.client_err += __atomic_load_n(&s->client_err, __ATOMIC_RELAXED);
            sum.server_err += __atomic_load_n(&s->server_err, __ATOMIC_RELAXED);
            sum.unavailable += __atomic_load_n(&s->unavailable, __ATOMIC_RELAXED);
            sum.timeout += __atomic_load_n(&s->timeout, __ATOMIC_RELAXED);
        }
        const char *name = r->cfg->workers[w].name;
        put(&t,
            "isocore_tenant_requests_total{tenant=\"%s\",outcome=\"ok\"} %llu\n"
            "isocore_tenant_requests_total{tenant=\"%s\",outcome=\"client_error\"} %llu\n"
            "isocore_tenant_requests_total{tenant=\"%s\",outcome=\"exception\"} %llu\n"
            "isocore_tenant_requests_total{tenant=\"%s\",outcome=\"limit_503\"} %llu\n"
            "isocore_tenant_requests_total{tenant=\"%s\",outcome=\"timeout_504\"} %llu\n",
            name, sum.ok, name, sum.client_err, name, sum.server_err, name, sum.unavailable, name, sum.timeout);
    }
    put(&t, "# HELP isocore_tenant_busy_seconds_total Time cores spent in the tenant's handler calls (its synchronous part).\n"
            "# TYPE isocore_tenant_busy_seconds_total counter\n");
    for (unsigned w = 0; w < r->cfg->nworkers; w++) {
        unsigned long long ns = 0;
        for (unsigned c = 0; c < r->n; c++)
            ns += __atomic_load_n(&r->cores[c].ts[w].busy_ns, __ATOMIC_RELAXED);
        put(&t, "isocore_tenant_busy_seconds_total{tenant=\"%s\"} %.6f\n", r->cfg->workers[w].name, (double)ns / 1e9);
    }
    put(&t, "# HELP isocore_tenant_latency_seconds From arrival to answer, per-core histograms merged (upper bounds, 4 buckets "
            "per octave).\n# TYPE isocore_tenant_latency_seconds summary\n");
    for (unsigned w = 0; w < r->cfg->nworkers; w++) {
        unsigned long long merged[LAT_BUCKETS] = {0}, total = 0;
        for (unsigned c = 0; c < r->n; c++)
            for (unsigned b = 0; b < LAT_BUCKETS; b++) {
                unsigned long long v = __atomic_load_n(&r->cores[c].ts[w].lat[b], __ATOMIC_RELAXED);
                merged[b] += v;
                total += v;
            }
        if (!total)
            continue;
        static const double qs[] = {0.5, 0.9, 0.99, 0.999};
        for (size_t q = 0; q < sizeof(qs) / sizeof(qs[0]); q++) {
            unsigned long long want = (unsigned long long)(qs[q] * (double)total + 0.5), seen = 0;
            unsigned b = 0;
            for (; b < LAT_BUCKETS - 1; b++) {
                seen += merged[b];
                if (seen >= want && seen > 0)
                    break;
            }
            put(&t, "isocore_tenant_latency_seconds{tenant=\"%s\",quantile=\"%g\"} %.6f\n", r->cfg->workers[w].name, qs[q],
                lat_upper_s(b));
        }
        put(&t, "isocore_tenant_latency_seconds_count{tenant=\"%s\"} %llu\n", r->cfg->workers[w].name, total);
    }
    if (!t.p) {
        static const char msg[] = "Service Unavailable: out of memory\n";
        ic_http_respond(x, 503, h, 1, msg, sizeof(msg) - 1);
        return;
    }
    ic_http_respond(x, 200, h, 1, t.p, t.len);
    free(t.p);
}

/* ---- reloads: the current router, and the ones it replaced ---------------------------------------------- */

/*
 * A reload builds a whole new router (config, tenants) on the thread that
 * got SIGHUP and publishes it with one atomic store: each request uses the
 * router that was current when it arrived, so in-flight requests finish on
 * the old one. Every 100 ms each core sweeps the retired routers: one with
 * no request in hand on this core gets its isolates disposed here (isolates
 * die on their own core). A retired router is freed by the reloading thread
 * once every core has let it go.
 */
#define SLOT_RETIRED 64

struct ic_router_slot {
    _Atomic(ic_router_t *) current;
    pthread_mutex_t lock; /* guards retired */
    ic_router_t *retired[SLOT_RETIRED];
    unsigned nretired;
    ic_timer_t sweep[IC_MAX_CORES]; /* each touched by its core only */
    _Atomic unsigned started;       /* reactors that ran ic_router_slot_start: /healthz is ready when all did */
    _Atomic bool draining;          /* a stop began: /healthz says so */
};

int ic_router_slot_new(ic_router_t *first, ic_router_slot_t **out)
{
    ic_router_slot_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    atomic_init(&s->current, first);
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return 0;
}

static bool released_everywhere(ic_router_t *r)
{
    for (unsigned c = 0; c < r->n; c++)
        if (!atomic_load(&r->cores[c].released))
            return false;
    return true;
}

/* Frees the retired routers every core has let go of; under the lock. */
static void collect(ic_router_slot_t *s)
{
    unsigned k = 0;
    for (unsigned i = 0; i < s->nretired; i++) {
        if (released_everywhere(s->retired[i]))
            ic_router_free(s->retired[i]);
        else
            s->retired[k++] = s->retired[i];
    }
    s->nretired = k;
}

int ic_router_slot_swap(ic_router_slot_t *s, ic_router_t *next)
{
    pthread_mutex_lock(&s->lock);
    collect(s);
    if (s->nretired == SLOT_RETIRED) {
        pthread_mutex_unlock(&s->lock);
        return -EBUSY;
    }
    ic_router_t *old = atomic_exchange(&s->current, next);
    s->retired[s->nretired++] = old;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void sweep_core(ic_router_slot_t *s, bool all)
{
    unsigned me = (unsigned)ic_reactor_id();
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->nretired; i++) {
        struct rcore *rc = &s->retired[i]->cores[me];
        if (!atomic_load(&rc->released) && (all || rc->active == 0)) {
            ic_router_stop(s->retired[i]);
            atomic_store(&rc->released, true);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

static void sweep_fired(ic_timer_t *t)
{
    ic_router_slot_t *s = (ic_router_slot_t *)((char *)(t - ic_reactor_id()) - offsetof(ic_router_slot_t, sweep));
    sweep_core(s, false);
}

int ic_router_slot_start(ic_router_slot_t *s)
{
    unsigned me = (unsigned)ic_reactor_id();
    ic_timer_init(&s->sweep[me], sweep_fired);
    ic_timer_start(&s->sweep[me], 100 * 1000000ull, 100 * 1000000ull);
    int ret = ic_router_start(atomic_load(&s->current));
    if (ret == 0)
        atomic_fetch_add(&s->started, 1);
    /* Service calls go to the router current at the time of the call, which a reload changes. */
    ic__services_install(ic_router_slot_service, s);
    return ret;
}

void ic_router_slot_stop(ic_router_slot_t *s)
{
    atomic_store(&s->draining, true);
    ic__services_uninstall(s);
    ic_timer_stop(&s->sweep[ic_reactor_id()]);
    sweep_core(s, true);
    ic_router_stop(atomic_load(&s->current));
}

void ic_router_slot_free(ic_router_slot_t *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nretired; i++)
        ic_router_free(s->retired[i]);
    ic_router_free(atomic_load(&s->current));
    pthread_mutex_destroy(&s->lock);
    free(s);
}

ic_router_t *ic_router_slot_current(ic_router_slot_t *s)
{
    return atomic_load_explicit(&s->current, memory_order_acquire);
}

ic_router_t *ic__router_slot_find(ic_router_slot_t *s, const char *name)
{
    ic_router_t *r = ic_router_slot_current(s);
    if (ic__router_tenant(r, name) >= 0)
        return r;
    /*
     * A request that started before a reload runs on the router it started on, whose bindings may name a worker the new
     * config dropped or renamed: that router still has it. One this core has not let go of cannot be freed meanwhile (a
     * router is freed once every core has released it, and only this core's sweep releases it here).
     */
    unsigned me = (unsigned)ic_reactor_id();
    ic_router_t *found = r;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = s->nretired; i-- > 0;) {
        ic_router_t *old = s->retired[i];
        if (!atomic_load(&old->cores[me].released) && ic__router_tenant(old, name) >= 0) {
            found = old;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

void ic_router_slot_handle(ic_http_exchange_t *x, void *arg)
{
    ic_router_handle(x, atomic_load_explicit(&((ic_router_slot_t *)arg)->current, memory_order_acquire));
}

/* GET /healthz: what a balancer's health check asks (HAProxy's `option httpchk`); see router.h. */
static bool healthz(ic_router_slot_t *s, ic_http_exchange_t *x)
{
    const ic_http_request_t *req = ic_http_request(x);
    if (!(req->target.len >= 8 && memcmp(req->target.p, "/healthz", 8) == 0 && (req->target.len == 8 || req->target.p[8] == '?')))
        return false;
    static const char *const h[] = {"content-type: text/plain; charset=utf-8", "cache-control: no-store"};
    ic_router_t *r = atomic_load_explicit(&s->current, memory_order_acquire);
    if (atomic_load(&s->draining))
        ic_http_respond(x, 503, h, 2, "draining\n", 9);
    else if (atomic_load(&s->started) < r->n)
        ic_http_respond(x, 503, h, 2, "starting\n", 9);
    else
        ic_http_respond(x, 200, h, 2, "ready\n", 6);
    return true;
}

void ic_router_slot_admin_handle(ic_http_exchange_t *x, void *arg)
{
    if (!healthz(arg, x))
        ic_router_admin_handle(x, atomic_load_explicit(&((ic_router_slot_t *)arg)->current, memory_order_acquire));
}
