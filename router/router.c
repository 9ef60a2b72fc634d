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

#include <openssl/evp.h>

#include "core/fault.h"
#include "router/internal.h"
#include "router/placement.h"

void ic__router_hold(ic_router_t *r, int delta)
{
    r->cores[ic_reactor_id()].active += (unsigned)delta;
}

/* ---- making and freeing a router (what a reload keeps: see slot.c) ---------------------------- */

int ic__router_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno ? -errno : -EIO;
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1)
            break;
        char *more = realloc(buf, cap * 2);
        if (!more) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = more;
        cap *= 2;
    }
    int ret = !buf ? -ENOMEM : ferror(f) ? -EIO : 0;
    fclose(f);
    if (ret < 0) {
        free(buf);
        return ret;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Adds one field to the digest, length first (so that "ab","c" and "a","bc" differ). */
static void digest_add(EVP_MD_CTX *md, const void *p, size_t len)
{
    uint64_t l = len;
    EVP_DigestUpdate(md, &l, sizeof(l));
    if (len)
        EVP_DigestUpdate(md, p, len);
}

static void digest_str(EVP_MD_CTX *md, const char *s)
{
    digest_add(md, s ? s : "", s ? strlen(s) + 1 : 0);
}

/*
 * The digest of what worker w is made of: name, path, kind, the module
 * bytes that tc gives the JS tenant (the bundle, or the main file as read
 * now) and its source map, for a module left unbundled the bytes of every
 * file its imports reach (the loader reads them in each new isolate), env,
 * services and limits. Placement and routes are the router's, not the
 * tenant's: they are not in it. False when there is no memory.
 */
static bool digest_of(const struct ic__worker_cfg *w, const ic_js_tenant_config_t *tc, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        return false;
    }
    digest_str(md, w->name);
    digest_str(md, w->path);
    digest_add(md, &tc->kind, sizeof(tc->kind));
    digest_add(md, tc->src, tc->len);
    digest_add(md, tc->sourcemap, tc->sourcemap ? tc->sourcemap_len : 0);
    for (unsigned i = 0; !w->bundle.src && i < w->bundle.ninputs; i++) {
        char *text = NULL;
        size_t len = 0;
        digest_str(md, w->bundle.inputs[i]);
        int ret = ic__router_read_file(w->bundle.inputs[i], &text, &len);
        if (ret == -ENOMEM) {
            EVP_MD_CTX_free(md);
            return false;
        }
        digest_add(md, &ret, sizeof(ret)); /* a file that cannot be read now differs from one that can */
        digest_add(md, text, len);
        free(text);
    }
    digest_add(md, &w->nenv, sizeof(w->nenv));
    for (unsigned i = 0; i < w->nenv; i++)
        digest_str(md, w->env[i]);
    digest_add(md, &w->nservices, sizeof(w->nservices));
    for (unsigned i = 0; i < w->nservices; i++)
        digest_str(md, w->services[i]);
    /* Field by field: the struct's padding is not part of it. */
    const ic_js_limits_t *l = &w->limits;
    unsigned long long lim[] = {l->cpu_ms, l->wall_ms, l->heap_bytes, l->buffer_bytes, l->subrequests, l->connections};
    digest_add(md, lim, sizeof(lim));
    unsigned n = 32;
    bool ok = EVP_DigestFinal_ex(md, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(md);
    return ok;
}

/* One more router holds t, live on every core (a new router is live everywhere until each core lets it go). */
static void tenant_take(struct ic__tenant *t, unsigned ncores)
{
    atomic_fetch_add(&t->refs, 1);
    for (unsigned c = 0; c < ncores; c++)
        atomic_fetch_add(&t->live[c], 1);
}

/*
 * The tenant of worker i of cfg: prev's when it has a worker of that name
 * made of the same things (digest), else a new one. Sets *carried when it
 * is prev's. Returns 0, -errno (the module can't be read: err says so) or
 * -ENOMEM.
 */
static int tenant_make(const ic_router_config_t *cfg, unsigned i, unsigned ncores, const ic_router_t *prev, struct ic__tenant **out,
                       bool *carried, char *err, size_t errlen)
{
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
    char *text = NULL;
    int ret = 0;
    if (w->bundle.src) { /* bundled on load (bundle.c) */
        tc.src = w->bundle.src;
        tc.len = w->bundle.len;
        tc.sourcemap = w->bundle.map;
        tc.sourcemap_len = w->bundle.maplen;
        tc.kind = IC_JS_MODULE;
    } else if ((ret = ic__router_read_file(w->path, &text, &tc.len)) == 0) {
        tc.src = text; /* the JS tenant loads the very bytes the digest is of */
    } else {
        if (errlen)
            snprintf(err, errlen, "%s: workers[%u] (%s): cannot read %s: %s", cfg->file, i, w->name, w->path, ic_strerror(ret));
        return ret;
    }
    struct ic__tenant *t = NULL;
    unsigned char digest[32];
    if (!digest_of(w, &tc, digest)) {
        ret = -ENOMEM;
        goto out;
    }
    int p = prev ? ic__router_tenant(prev, w->name) : -1;
    if (p >= 0 && memcmp(prev->shared[p]->digest, digest, sizeof(digest)) == 0) {
        t = prev->shared[p];
        tenant_take(t, ncores);
        *carried = true;
        goto out;
    }
    t = calloc(1, sizeof(*t));
    if (!t || !(t->live = calloc(ncores, sizeof(*t->live)))) {
        ret = -ENOMEM;
        goto out;
    }
    memcpy(t->digest, digest, sizeof(digest));
    if ((ret = ic_js_tenant_new(&tc, &t->js)) < 0) {
        if (errlen)
            snprintf(err, errlen, "%s: workers[%u] (%s): cannot load %s: %s", cfg->file, i, w->name, w->path, ic_strerror(ret));
        goto out;
    }
    tenant_take(t, ncores);
    *carried = false;
out:
    free(text);
    if (ret < 0 && t) {
        free((void *)t->live);
        free(t);
        t = NULL;
    }
    *out = t;
    return ret;
}

/* Lets go of t: the last router frees it (every core dropped its worker by then: see ic__tenant). */
static void tenant_put(struct ic__tenant *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    ic_js_tenant_free(t->js);
    free((void *)t->live);
    free(t);
}

/* The counters of worker i by name: prev's when it has one of that name, else new zeros. NULL: no memory. */
static struct ic__tcount *count_make(const ic_router_config_t *cfg, unsigned i, unsigned ncores, const ic_router_t *prev)
{
    int p = prev ? ic__router_tenant(prev, cfg->workers[i].name) : -1;
    if (p >= 0) {
        atomic_fetch_add(&prev->counts[p]->refs, 1);
        return prev->counts[p];
    }
    struct ic__tcount *k = calloc(1, sizeof(*k));
    if (!k || posix_memalign((void **)&k->ts, 64, ncores * sizeof(*k->ts)) != 0) {
        free(k);
        return NULL;
    }
    memset(k->ts, 0, ncores * sizeof(*k->ts));
    atomic_init(&k->refs, 1);
    return k;
}

static void count_put(struct ic__tcount *k)
{
    if (!k || atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    free(k->ts);
    free(k);
}

/* The per-core counters and pools: prev's (one more router of the lineage, live on every core), else new. */
static struct ic__rstate *state_make(unsigned ncores, const ic_router_t *prev)
{
    struct ic__rstate *st = prev ? prev->state : NULL;
    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st || posix_memalign((void **)&st->cores, 64, ncores * sizeof(*st->cores)) != 0) {
            free(st);
            return NULL;
        }
        memset(st->cores, 0, ncores * sizeof(*st->cores));
    }
    atomic_fetch_add(&st->refs, 1);
    for (unsigned c = 0; c < ncores; c++)
        atomic_fetch_add(&st->cores[c].live, 1);
    return st;
}

static void state_put(struct ic__rstate *st)
{
    if (!st || atomic_fetch_sub(&st->refs, 1) != 1)
        return;
    /* Every core freed its pool when it let go of the lineage's last router (ic_router_stop). */
    free(st->cores);
    free(st);
}

/* ic_router_new and ic_router_new_from: the router of cfg for ncores, sharing what it can with prev (or NULL). */
static int router_make(const ic_router_config_t *cfg, unsigned ncores, const ic_router_t *prev, ic_router_t **out, char *err,
                       size_t errlen)
{
    ic_router_t *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->cfg = cfg;
    r->n = ncores;
    unsigned nt = cfg->nworkers ? cfg->nworkers : 1;
    r->tenants = calloc(nt, sizeof(*r->tenants));
    r->shared = calloc(nt, sizeof(*r->shared));
    r->counts = calloc(nt, sizeof(*r->counts));
    r->owner = calloc(nt, sizeof(*r->owner));
    if (posix_memalign((void **)&r->cores, 64, ncores * sizeof(*r->cores)) != 0)
        r->cores = NULL;
    if (r->cores)
        memset(r->cores, 0, ncores * sizeof(*r->cores));
    if (!r->tenants || !r->shared || !r->counts || !r->owner || !r->cores || !(r->state = state_make(ncores, prev)) ||
        ic__routes_index(r) < 0) {
        ic_router_free(r);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < cfg->nworkers; i++) {
        bool carried = false;
        int ret = tenant_make(cfg, i, ncores, prev, &r->shared[i], &carried, err, errlen);
        if (ret == 0 && !(r->counts[i] = count_make(cfg, i, ncores, prev)))
            ret = -ENOMEM;
        if (ret < 0) {
            if (ret == -ENOMEM && errlen)
                snprintf(err, errlen, "out of memory");
            ic_router_free(r);
            return ret;
        }
        r->tenants[i] = r->shared[i]->js;
        r->carried += carried;
        r->owner[i] = ic_router_owner_of(cfg->workers[i].name, ncores);
    }
    for (unsigned c = 0; c < ncores; c++) {
        struct rcore *rc = &r->cores[c];
        rc->base = &r->state->cores[c];
        rc->st = &rc->base->st;
        rc->inflight = calloc(ncores, sizeof(unsigned));
        rc->ts = calloc(nt, sizeof(*rc->ts));
        if (!rc->inflight || !rc->ts) {
            ic_router_free(r);
            return -ENOMEM;
        }
        for (unsigned i = 0; i < cfg->nworkers; i++)
            rc->ts[i] = &r->counts[i]->ts[c];
    }
    if (ic__placement_new(r) < 0) {
        ic_router_free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

int ic_router_new(const ic_router_config_t *cfg, unsigned ncores, ic_router_t **out, char *err, size_t errlen)
{
    return router_make(cfg, ncores, NULL, out, err, errlen);
}

int ic_router_new_from(const ic_router_config_t *cfg, const ic_router_t *prev, ic_router_t **out, char *err, size_t errlen)
{
    return router_make(cfg, prev->n, prev, out, err, errlen);
}

unsigned ic_router_carried(const ic_router_t *r)
{
    return r->carried;
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
    for (unsigned i = 0; r->shared && i < r->cfg->nworkers && r->shared[i]; i++) {
        /*
         * A core that never let the router go (it was never published, or a core never ran): its share of live goes now.
         * Another router of the lineage still holds what such a core has warm (the one this one was made from), or the
         * core never ran a worker of it.
         */
        for (unsigned c = 0; r->cores && c < r->n; c++)
            if (!atomic_load(&r->cores[c].released))
                atomic_fetch_sub(&r->shared[i]->live[c], 1);
        tenant_put(r->shared[i]);
    }
    for (unsigned i = 0; r->counts && i < r->cfg->nworkers; i++)
        count_put(r->counts[i]);
    if (r->state) {
        for (unsigned c = 0; r->cores && c < r->n; c++)
            if (!atomic_load(&r->cores[c].released))
                atomic_fetch_sub(&r->state->cores[c].live, 1);
        state_put(r->state);
    }
    if (r->cores) {
        ic__router_forward_fini(r);
        for (unsigned i = 0; i < r->n; i++) {
            free(r->cores[i].inflight);
            free(r->cores[i].ts);
        }
    }
    free(r->tenants);
    free(r->shared);
    free(r->counts);
    free(r->owner);
    free(r->cores);
    free(r->buckets);
    free(r->next_route);
    ic__placement_free(r);
    free(r);
    ic_router_config_free(owned);
}

void ic__router_revive(ic_router_t *r)
{
    struct rcore *rc = &r->cores[ic_reactor_id()];
    if (!atomic_load(&rc->released))
        return;
    unsigned me = (unsigned)ic_reactor_id();
    for (unsigned i = 0; i < r->cfg->nworkers; i++)
        atomic_fetch_add(&r->shared[i]->live[me], 1);
    atomic_fetch_add(&rc->base->live, 1);
    atomic_store(&rc->released, false);
}

int ic_router_start(ic_router_t *r)
{
    struct rcore *rc = &r->cores[ic_reactor_id()];
    ic__router_revive(r);
    ic__services_install(ic_router_service, r); /* env.X.fetch() of this core's workers comes to this router */
    return rc->base->pool ? 0 : ic_js_pool_new(NULL, &rc->base->pool);
}

void ic_router_stop(ic_router_t *r)
{
    unsigned me = (unsigned)ic_reactor_id();
    struct rcore *rc = &r->cores[me];
    ic__services_uninstall(r);
    if (atomic_load(&rc->released))
        return;
    atomic_store(&rc->released, true);
    /* The workers of tenants no other live router of the lineage has go now; the rest stay warm for it. */
    for (unsigned i = 0; i < r->cfg->nworkers; i++)
        if (atomic_fetch_sub(&r->shared[i]->live[me], 1) == 1 && rc->base->pool)
            ic_js_pool_drop(rc->base->pool, r->tenants[i]);
    if (atomic_fetch_sub(&rc->base->live, 1) == 1) {
        ic_js_pool_free(rc->base->pool);
        rc->base->pool = NULL;
    }
    /*
     * The gauge says what is warm now when the pool stays (a sweep after a reload shows here: the workers it dropped are
     * gone); after the last router it keeps its last value, read after the reactors stopped.
     */
    if (rc->base->pool) {
        ic_js_pool_stats_t ps;
        ic_js_pool_stats(rc->base->pool, &ps);
        STAT_ADD(rc->st->isolates, (unsigned long long)ps.workers - rc->st->isolates);
    }
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
    return r->cores[ic_reactor_id()].st;
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
    /* As fwd_work: a router retired since the call was sent is live here again until the call is done. */
    ic__router_revive(r);
    r->cores[ic_reactor_id()].active++;
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
    STAT_ADD(r->cores[ic_reactor_id()].st->rejected, 1);
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
    uint64_t start = ic_clock_ns();        /* before the lookup: making the worker is not queueing */
    ic_js_pool_t **pool = &rc->base->pool; /* the lineage's on this core: warm workers outlive a reload */
    int ret = *pool ? 0 : ic_js_pool_new(NULL, pool);
    if (ret == 0)
        ret = ic_js_pool_get(*pool, r->tenants[t], &w, err, sizeof(err));
    else
        snprintf(err, sizeof(err), "out of memory");
    ic_js_pool_stats_t ps = {0};
    if (*pool)
        ic_js_pool_stats(*pool, &ps);
    STAT_ADD(rc->st->isolates, (unsigned long long)ps.workers - rc->st->isolates);
    STAT_ADD(rc->st->isolates_created, ps.created - rc->st->isolates_created);
    STAT_ADD(rc->st->heap_bytes, (unsigned long long)ps.bytes - rc->st->heap_bytes);
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
    STAT_ADD(rc->ts[t]->busy_ns, ic_clock_ns() - t0);
    if (ic_js_worker_broken(w))
        ic_js_pool_drop(*pool, r->tenants[t]);
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
    ic__router_tally(l->r->cores[ic_reactor_id()].ts[l->tenant], res->status);
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
    STAT_ADD(rc->st->requests, 1);
    uint64_t t0 = ic_clock_ns();
    int t = ic__route(r, req);
    if (t < 0) {
        static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Not Found: no worker serves this host\n";
        STAT_ADD(rc->st->not_found, 1);
        ic__router_respond(r, x, (int)self, 404, h, 1, msg, sizeof(msg) - 1);
        return;
    }
    unsigned owner = ic__router_place(r, (unsigned)t);
    if (owner == self) {
        STAT_ADD(rc->st->local, 1);
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
    STAT_ADD(rc->st->requests, 1);
    uint64_t t0 = ic_clock_ns();
    int t = ic__route(r, req);
    if (t < 0) {
        STAT_ADD(rc->st->not_found, 1);
        return -ENOENT;
    }
    unsigned owner = ic__router_place(r, (unsigned)t);
    if (owner != self) {
        if (rc->inflight[owner] >= r->cfg->inflight_per_pair) {
            STAT_ADD(rc->st->rejected, 1);
            return -EBUSY;
        }
        return ic__router_forward(r, NULL, req, (unsigned)t, owner, t0, body, answer, arg);
    }
    struct local *l = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(sizeof(*l));
    if (!l)
        return -ENOMEM;
    *l = (struct local){r, NULL, (unsigned)t, t0, answer, arg};
    STAT_ADD(rc->st->local, 1);
    rc->active++;
    if (!ic__router_run_here(r, (unsigned)t, NULL, req, body, 0, 0, local_done, l)) {
        rc->active--;
        free(l);
        STAT_ADD(rc->st->rejected, 1);
        return -EBUSY;
    }
    return 0;
}
