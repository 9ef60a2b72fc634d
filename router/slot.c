/*
 * slot.c: reloads. A slot holds the current router and the ones a reload
 * replaced until every core has let them go; it also answers /healthz.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/internal.h"

/*
 * A reload builds a whole new router (config, routes) on the thread that
 * got SIGHUP and publishes it with one atomic store: each request uses the
 * router that was current when it arrived, so in-flight requests finish on
 * the old one, on the old one's tenant objects.
 *
 * What a reload keeps (ic_router_new_from, router.c). The new router is
 * made from the current one and shares with it, by reference count:
 *   - each tenant (its ic_js_tenant_t) whose name, module bytes (the
 *     bundle, or the main file and the files its imports reach, read
 *     now), kind, env, services and limits did not change: a SHA-256 of
 *     them is compared. Placement and routes may change: they are the
 *     router's. A tenant that changed gets a new ic_js_tenant_t, so new
 *     isolates (a cold start) on the cores that run it;
 *   - per core, the pool of warm isolates (keyed by ic_js_tenant_t) and
 *     the router counters: the pool is the lineage's, not a router's, so
 *     the warm workers of kept tenants simply stay, and
 *     isocore_isolates_created_total and the request counters go on;
 *   - each tenant's counters and latency histogram, by name, also when the
 *     module changed (a series of /metrics is its name: a tenant whose code
 *     was redeployed keeps its history, as with Workers' dashboards).
 * All of it is written by each core into its own block, whichever router of
 * the lineage the request came through, so sharing needs no lock.
 *
 * Letting go. Every 100 ms each core sweeps the retired routers: one with no
 * request in hand on this core is stopped here (ic_router_stop): the
 * workers of its tenants that no other live router of the lineage holds on
 * this core are dropped from the pool (isolates die on their own core), the
 * rest stay. Each tenant counts, per core, the routers holding it that the
 * core has not let go of (`live`), so the last one out drops the worker;
 * and a tenant object is freed only with its last router, after every core
 * let that router go, so no pool keeps a worker of a freed tenant. A
 * request forwarded before the swap that reaches a core after its sweep
 * takes the router back there (ic__router_revive) and is swept again later.
 * A retired router is freed by the reloading thread once every core has
 * let it go; at exit ic_router_slot_stop lets go of all of them on each core
 * and the pool goes with the last.
 *
 * Reloads are serialised (`reload`): the router a new one is made from
 * stays current, so live on every core, until the new one is published.
 */
#define SLOT_RETIRED 64

struct ic_router_slot {
    _Atomic(ic_router_t *) current;
    pthread_mutex_t reload; /* serialises reloads and swaps (taken before lock) */
    pthread_mutex_t lock;   /* guards retired */
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
    pthread_mutex_init(&s->reload, NULL);
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

/* Publishes next; under s->reload. */
static int swap(ic_router_slot_t *s, ic_router_t *next)
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

int ic_router_slot_swap(ic_router_slot_t *s, ic_router_t *next)
{
    pthread_mutex_lock(&s->reload);
    int ret = atomic_load(&s->draining) ? IC_ESHUTDOWN : swap(s, next);
    pthread_mutex_unlock(&s->reload);
    return ret;
}

int ic_router_slot_reload(ic_router_slot_t *s, ic_router_config_t *cfg, unsigned *kept, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->reload);
    ic_router_t *r;
    int ret = IC_ESHUTDOWN;
    if (atomic_load(&s->draining)) {
        if (errlen)
            snprintf(err, errlen, "the server is stopping");
    } else if ((ret = ic_router_new_from(cfg, ic_router_slot_current(s), &r, err, errlen)) == 0) {
        /* Before it is published: no core reads owned_cfg, but nothing may change in a router once cores can see it. */
        ic_router_adopt_config(r, cfg);
        if (kept)
            *kept = r->carried;
        if ((ret = swap(s, r)) < 0) {
            if (errlen)
                snprintf(err, errlen, "too many reloads still draining; try again shortly");
            r->owned_cfg = NULL; /* the caller's again */
            ic_router_free(r);
        }
    }
    pthread_mutex_unlock(&s->reload);
    return ret;
}

static void sweep_core(ic_router_slot_t *s, bool all)
{
    unsigned me = (unsigned)ic_reactor_id();
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->nretired; i++) {
        struct rcore *rc = &s->retired[i]->cores[me];
        if (!atomic_load(&rc->released) && (all || rc->active == 0))
            ic_router_stop(s->retired[i]); /* sets released */
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
    /*
     * No reload publishes a router from here on (they check draining under `reload`), and one under way is waited for:
     * the router this core stops below is the last one, so the pool goes with it.
     */
    atomic_store(&s->draining, true);
    pthread_mutex_lock(&s->reload);
    pthread_mutex_unlock(&s->reload);
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
    pthread_mutex_destroy(&s->reload);
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
