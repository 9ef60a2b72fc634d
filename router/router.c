/*
 * router.c: from an HTTP request to the core that runs its tenant, and back.
 *
 * A request is routed (routes.c) to a tenant, placed (placement.c,
 * adaptive.c) on the core that runs it, and then run here on the tenant's warm isolate or sent
 * to that core (forward.c). Counters and /metrics are in metrics.c; reloads
 * in slot.c.
 *
 * Backpressure: past `inflight_per_core_pair` forwarded requests from one
 * core to another, or `queue_per_tenant` parked requests of a tenant, the
 * client gets 503 with Retry-After.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "router/internal.h"

void ic__router_hold(ic_router_t *r, int delta)
{
    r->cores[ic_reactor_id()].active += (unsigned)delta;
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
    if (r->cores)
        memset(r->cores, 0, ncores * sizeof(*r->cores));
    if (!r->tenants || !r->owner || !r->cores || ic__routes_index(r) < 0) {
        ic_router_free(r);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < ncores; i++) {
        r->cores[i].inflight = calloc(ncores, sizeof(unsigned));
        r->cores[i].ts = calloc(cfg->nworkers ? cfg->nworkers : 1, sizeof(struct tstats));
        if (!r->cores[i].inflight || !r->cores[i].ts) {
            ic_router_free(r);
            return -ENOMEM;
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
    if (ic__placement_new(r) < 0) {
        ic_router_free(r);
        return -ENOMEM;
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
    ic__placement_free(r);
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

/* ---- what services.c needs (internal.h) ------------------------------------------------------ */

int ic__router_tenant(const ic_router_t *r, const char *name)
{
    for (unsigned i = 0; i < r->cfg->nworkers; i++)
        if (strcmp(r->cfg->workers[i].name, name) == 0)
            return (int)i;
    return -1;
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

/* ---- answering -------------------------------------------------------------------------------- */

const char *ic__router_core_line(const ic_router_t *r, int ran_on, char *buf)
{
    if (!r->cfg->core_header)
        return NULL;
    const char *node = r->cfg->node;
    snprintf(buf, CORE_LINE, "x-isocore-core: %d%s%s", ran_on, node ? "\r\nx-isocore-node: " : "", node ? node : "");
    return buf;
}

void ic__router_respond(const ic_router_t *r, ic_http_exchange_t *x, int ran_on, int status, const char *const *headers, unsigned n,
                        const void *body, size_t len)
{
    char core[CORE_LINE];
    ic_js_response_t res = {status, headers, n, body, len, NULL};
    ic_js_http_respond(x, &res, ic__router_core_line(r, ran_on, core));
}

void ic__router_busy(const ic_router_t *r, ic_http_exchange_t *x, const char *why)
{
    static const char *const h[] = {"content-type: text/plain; charset=utf-8", "retry-after: 1"};
    char body[160];
    int n = snprintf(body, sizeof(body), "Service Unavailable: %s; retry shortly\n", why);
    STAT_ADD(r->cores[ic_reactor_id()].st.rejected, 1);
    ic__router_respond(r, x, ic_reactor_id(), 503, h, 2, body, (size_t)n);
}

/*
 * Runs tenant t here; `done(arg, res)` gets the response (with IC_JS_STREAM in flags its body may be a stream). False when
 * the tenant's queue is full (nothing ran). arrived: when the request arrived on its origin core (forwarded), or 0 (from
 * this core's loop): its queue delay for placement (adaptive.c).
 */
bool ic__router_run_here(ic_router_t *r, unsigned t, ic_http_exchange_t *x, const ic_http_request_t *req, ic_str_t body,
                         unsigned flags, uint64_t arrived, ic_js_done_cb done, void *arg)
{
    struct rcore *rc = &r->cores[ic_reactor_id()];
    ic_js_worker_t *w;
    char err[1024];
    uint64_t start = ic_clock_ns(); /* before the lookup: making the worker is not queueing */
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
    ic__placement_ran(r, t, arrived, start, ps.workers);
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
    return ic__router_run_here(r, t, NULL, req, body, flags, 0, done, arg);
}

struct local {
    ic_router_t *r;
    ic_http_exchange_t *x; /* NULL for ic_router_inject: the answer goes to `answer` */
    unsigned tenant;
    uint64_t t0;
    ic_router_answer_cb answer;
    void *answer_arg;
};

static void local_done(void *arg, const ic_js_response_t *res)
{
    struct local *l = arg;
    l->r->cores[ic_reactor_id()].active--;
    ic__router_tally(&l->r->cores[ic_reactor_id()].ts[l->tenant], res->status);
    ic__router_latency(l->r, l->tenant, l->t0);
    if (!l->x) {
        /* Injected (ic_router_inject): run without IC_JS_STREAM, so the body is whole. */
        l->answer(l->answer_arg, res->status, res->headers, res->nheaders, res->body, res->len);
    } else {
        /* A streamed body goes from the worker on this core straight to the client (chunk by chunk, with backpressure). */
        char core[CORE_LINE];
        ic_js_http_respond(l->x, res, ic__router_core_line(l->r, ic_reactor_id(), core));
    }
    free(l);
}

/* ---- the handlers -------------------------------------------------------------------------------- */

void ic_router_handle(ic_http_exchange_t *x, void *arg)
{
    ic_router_t *r = arg;
    unsigned self = (unsigned)ic_reactor_id();
    struct rcore *rc = &r->cores[self];
    const ic_http_request_t *req = ic_http_request(x);
    STAT_ADD(rc->st.requests, 1);
    uint64_t t0 = ic_clock_ns();
    int t = ic__route(r, req);
    if (t < 0) {
        static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Not Found: no worker serves this host\n";
        STAT_ADD(rc->st.not_found, 1);
        ic__router_respond(r, x, (int)self, 404, h, 1, msg, sizeof(msg) - 1);
        return;
    }
    unsigned owner = ic__router_place(r, (unsigned)t);
    if (owner == self) {
        STAT_ADD(rc->st.local, 1);
        struct local *l = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(sizeof(*l));
        if (!l)
            return ic__router_busy(r, x, "out of memory");
        *l = (struct local){r, x, (unsigned)t, t0, NULL, NULL};
        rc->active++;
        if (!ic__router_run_here(r, (unsigned)t, x, req, ic_http_body(x), IC_JS_STREAM, 0, local_done, l)) {
            rc->active--;
            free(l);
            ic__router_busy(r, x, "the worker has too many requests queued");
        }
        return;
    }
    if (rc->inflight[owner] >= r->cfg->inflight_per_pair)
        return ic__router_busy(r, x, "too many requests in flight to the tenant's core");
    if (ic_http_body_streaming(x))
        return ic__router_gather(r, x, (unsigned)t, owner, t0);
    ic__router_forward(r, x, req, (unsigned)t, owner, t0, ic_http_body(x), NULL, NULL);
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
    int t = ic__route(r, req);
    if (t < 0) {
        STAT_ADD(rc->st.not_found, 1);
        return -ENOENT;
    }
    unsigned owner = ic__router_place(r, (unsigned)t);
    if (owner != self) {
        if (rc->inflight[owner] >= r->cfg->inflight_per_pair) {
            STAT_ADD(rc->st.rejected, 1);
            return -EBUSY;
        }
        return ic__router_forward(r, NULL, req, (unsigned)t, owner, t0, body, answer, arg);
    }
    struct local *l = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(sizeof(*l));
    if (!l)
        return -ENOMEM;
    *l = (struct local){r, NULL, (unsigned)t, t0, answer, arg};
    STAT_ADD(rc->st.local, 1);
    rc->active++;
    if (!ic__router_run_here(r, (unsigned)t, NULL, req, body, 0, 0, local_done, l)) {
        rc->active--;
        free(l);
        STAT_ADD(rc->st.rejected, 1);
        return -EBUSY;
    }
    return 0;
}
