/*
 * adaptive.c: `adaptive` placement in the runtime. The policy is
 * placement.c's (pure functions of published figures); this file feeds it
 * the figures, applies what it decides and counts it.
 *
 * The figures. Each core publishes, in its cache-line-aligned block
 * (struct ic__pcore, written by that core only, read relaxed by the
 * others): the EWMA of the queue delay of what it ran, its warm isolates,
 * and its counters of sheds and replica changes. How long it has been
 * inside its current JS entry comes from js/ (ic_js_entry_busy: the CPU
 * time the limit watchdog sampled), because a core inside an entry cannot
 * say so itself. Per tenant, each core keeps its own view (struct
 * ic__ptenant), and publishes its queue-delay EWMA of the tenant.
 *
 * The queue delay of one request. Forwarded: from its arrival on the origin
 * core (the origin's clock) to the start of its run here: the hop, the ring
 * and whatever this core ran before it. Local: the reactor cannot see how
 * long the bytes waited in the socket while it was busy, only what came
 * before the request in its own loop turn: the delay is counted from the
 * start of the turn (ic_reactor_now()), so a request handled after a batch
 * of others waits for the batch. A long entry that blocks the loop is not
 * seen by the requests behind it at all; it is seen, as it happens, by
 * every other core in the owner's busy figure, which is what makes a
 * tenant grow a replica and sheds its requests while it lasts.
 *
 * The work share. A delay counts as evidence of load only on a core that
 * was busy with work (ic__place_observe, work_min): on a shared machine a
 * reactor thread that other processes keep off the CPU sees long queue
 * delays at any load, and replicating then only adds isolates. Each core
 * measures its share itself, by windows of at least
 * IC__PLACE_WORK_WINDOW_NS closed in ic__placement_ran: the CPU time of
 * its thread in the window (CLOCK_THREAD_CPUTIME_ID, read once a window),
 * without the isolates' cold starts it ran (timed where they happen: a
 * lookup that made a worker, a replica warmed by message), over the wall
 * time. It is published (struct pself: written by its core, read relaxed
 * by the others): ic__place_decide reads the share of a tenant's replicas.
 *
 * Replica count k. One number per tenant, read relaxed; a core that sees a
 * reason to change it (ic__place_decide) does so by compare-and-swap from
 * the value it read, so two cores seeing the same burst add one replica,
 * not two. The core that adds one asks the new replica to load the tenant
 * now (from the pool's spare isolate), off the request's path; the core
 * that retires one asks the retired core to dispose of its worker once it
 * has no request pending. A request already sent to a core that stopped
 * being a replica still runs there: nothing is lost or run twice, the
 * change only steers the next requests.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router/internal.h"

/*
 * What each core keeps for itself beyond struct ic__pcore: its work-share
 * window and the scratch loads of ic__router_place (by position in a
 * tenant's order, at most len + 1 of them: on the heap, not the reactor's
 * stack). One slot per core in pl->selves, a whole number of cache lines
 * each: no core writes another's.
 */
struct pself {
    uint64_t win_at;   /* the window began (0: not yet) */
    uint64_t win_cpu;  /* the thread's CPU time then */
    uint64_t win_cold; /* cold starts run here since */
    unsigned work;     /* the share (ic__place_work; published) */
    ic__place_load_t load[];
};

static struct pself *self_of(const ic_router_t *r, unsigned core)
{
    return (struct pself *)(r->pl->selves + (size_t)core * r->pl->self_size);
}

/* The CPU time of the calling thread. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ic__placement_new(ic_router_t *r)
{
    const ic_router_config_t *cfg = r->cfg;
    unsigned nw = cfg->nworkers ? cfg->nworkers : 1;
    struct ic__placement *pl = calloc(1, sizeof(*pl));
    if (!pl)
        return -ENOMEM;
    r->pl = pl;
    const ic__place_params_t *p = &cfg->place;
    pl->len = p->max_replicas && p->max_replicas < r->n ? p->max_replicas : r->n;
    if (pl->len == 0)
        pl->len = 1;
    pl->order = calloc((size_t)nw * pl->len, sizeof(*pl->order));
    pl->k = calloc(nw, sizeof(*pl->k));
    pl->tens = calloc((size_t)r->n * nw, sizeof(*pl->tens));
    size_t sz = sizeof(struct pself) + ((size_t)pl->len + 1) * sizeof(ic__place_load_t);
    pl->self_size = (sz + 63) & ~(size_t)63;
    if (posix_memalign((void **)&pl->cores, 64, r->n * sizeof(*pl->cores)) != 0)
        pl->cores = NULL;
    if (posix_memalign((void **)&pl->selves, 64, r->n * pl->self_size) != 0)
        pl->selves = NULL;
    if (!pl->order || !pl->k || !pl->tens || !pl->cores || !pl->selves)
        return -ENOMEM;
    memset(pl->cores, 0, r->n * sizeof(*pl->cores));
    memset(pl->selves, 0, r->n * pl->self_size);
    /* first_gap_ns counts from now: a fresh start (or a reload) is a backlog of cold starts, not load. */
    uint64_t now = ic_clock_ns();
    for (unsigned c = 0; c < r->n; c++)
        pl->cores[c].rng = 0x9e3779b97f4a7c15ull * (c + 1);
    for (unsigned t = 0; t < cfg->nworkers; t++) {
        ic__place_order(ic__place_key(cfg->workers[t].name), r->n, pl->order + (size_t)t * pl->len, pl->len);
        atomic_init(&pl->k[t], cfg->workers[t].placement == IC_PLACE_SPREAD ? r->n : 1);
        for (unsigned c = 0; c < r->n; c++) {
            pl->tens[(size_t)c * nw + t].seen_k = 1;
            pl->tens[(size_t)c * nw + t].fig.changed_ns = now;
        }
    }
    return 0;
}

void ic__placement_free(ic_router_t *r)
{
    struct ic__placement *pl = r->pl;
    if (!pl)
        return;
    free(pl->order);
    free(pl->k);
    free(pl->tens);
    free(pl->cores);
    free(pl->selves);
    free(pl);
    r->pl = NULL;
}

static struct ic__ptenant *tenant_here(ic_router_t *r, unsigned core, unsigned t)
{
    return &r->pl->tens[(size_t)core * (r->cfg->nworkers ? r->cfg->nworkers : 1) + t];
}

/* xorshift64*: this core's random numbers for the two choices. */
static uint64_t rnd(struct ic__pcore *pc)
{
    uint64_t x = pc->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    pc->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

/*
 * The params the router runs with: the config's, with the default isolate budget for its tenants and cores when the config
 * set none (ic__place_budget).
 */
static void params_of(const ic_router_t *r, ic__place_params_t *p)
{
    *p = r->cfg->place;
    if (!p->isolate_budget)
        p->isolate_budget = ic__place_budget(r->cfg->nworkers, r->n);
}

/* Core c's published figures, as this core reads them now. */
static void read_load(const ic_router_t *r, unsigned c, uint64_t now, ic__place_load_t *l)
{
    const struct ic__pcore *pc = &r->pl->cores[c];
    l->busy_ns = ic_js_entry_busy(c);
    l->queue_ns =
        ic__place_drained(__atomic_load_n(&pc->queue_ns, __ATOMIC_RELAXED), __atomic_load_n(&pc->queue_at, __ATOMIC_RELAXED), now);
    l->isolates = __atomic_load_n(&pc->isolates, __ATOMIC_RELAXED);
    l->work = __atomic_load_n(&self_of(r, c)->work, __ATOMIC_RELAXED);
}

/* Tenant t's queue delay as core c published it, drained as of now (ic__place_drained). */
static uint64_t tenant_delay(ic_router_t *r, unsigned c, unsigned t, uint64_t now)
{
    const struct ic__ptenant *o = tenant_here(r, c, t);
    return ic__place_drained(__atomic_load_n(&o->queue_pub, __ATOMIC_RELAXED), __atomic_load_n(&o->queue_at, __ATOMIC_RELAXED),
                             now);
}

unsigned ic__placement_work(const ic_router_t *r, unsigned core)
{
    return core < r->n ? __atomic_load_n(&self_of(r, core)->work, __ATOMIC_RELAXED) : 0;
}

void ic__placement_ran(ic_router_t *r, unsigned t, uint64_t arrived, uint64_t now, unsigned isolates)
{
    unsigned self = (unsigned)ic_reactor_id();
    struct ic__pcore *pc = &r->pl->cores[self];
    struct ic__ptenant *pt = tenant_here(r, self, t);
    uint64_t from = arrived ? arrived : ic_reactor_now();
    uint64_t delay = now > from ? now - from : 0;
    const ic__place_params_t *p = &r->cfg->place;
    struct pself *me = self_of(r, self);
    if (isolates > pc->isolates) /* the lookup made a worker: a cold start, which is not work (placement.h) */
        me->win_cold += ic_clock_ns() - now;
    if (!me->win_at || now - me->win_at >= IC__PLACE_WORK_WINDOW_NS) {
        uint64_t cpu = thread_cpu_ns();
        if (me->win_at) {
            uint64_t used = cpu - me->win_cpu;
            unsigned w = ic__place_work(p, me->work, used > me->win_cold ? used - me->win_cold : 0, now - me->win_at);
            __atomic_store_n(&me->work, w, __ATOMIC_RELAXED);
        }
        me->win_at = now;
        me->win_cpu = cpu;
        me->win_cold = 0;
    }
    /*
     * What waited at the last sample has drained since (ic__place_drained): a tenant that gets a sample only now and then
     * here (its requests go to another replica) would otherwise keep an old backlog's figure, each rare sample moving it
     * 1/2^shift of the way, and its owner would never see it calm.
     */
    if (pt->queue_at)
        pt->fig.queue_ns = ic__place_drained(pt->fig.queue_ns, pt->queue_at, now);
    ic__place_observe(p, &pt->fig, delay, me->work, now);
    pt->ran = true;
    __atomic_store_n(&pt->queue_pub, pt->fig.queue_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&pt->queue_at, now, __ATOMIC_RELAXED);
    /* The core's figure: the same EWMA over every tenant it runs. */
    int64_t d = (int64_t)delay - (int64_t)pc->queue_ns;
    __atomic_store_n(&pc->queue_ns, (uint64_t)((int64_t)pc->queue_ns + d / (1 << p->ewma_shift)), __ATOMIC_RELAXED);
    __atomic_store_n(&pc->queue_at, now, __ATOMIC_RELAXED);
    if (pc->isolates != isolates)
        __atomic_store_n(&pc->isolates, isolates, __ATOMIC_RELAXED);
}

/* ---- messages to a replica: load the tenant now, or let it go ------------------------------------- */

struct pmsg {
    ic_router_t *r;
    unsigned t;
    bool warm; /* else: retire */
};

/* On the replica. A router whose pool here is gone (a reload retired it) has nothing to warm or retire. */
static int pmsg_work(ic_smp_msg_t *msg, void *arg)
{
    (void)msg;
    struct pmsg *m = arg;
    ic_router_t *r = m->r;
    unsigned self = (unsigned)ic_reactor_id();
    struct rcore *rc = &r->cores[self];
    struct ic__ptenant *pt = tenant_here(r, self, m->t);
    if (!rc->base->pool || atomic_load(&rc->released))
        return 0;
    unsigned k = atomic_load_explicit(&r->pl->k[m->t], memory_order_relaxed);
    const uint16_t *order = r->pl->order + (size_t)m->t * r->pl->len;
    bool replica = false;
    for (unsigned i = 0; i < k && i < r->pl->len; i++)
        replica |= order[i] == self;
    ic_js_worker_t *w;
    char err[256];
    if (m->warm && replica) {
        /* The first request here then finds the module evaluated; the pool makes its next spare on its own timer. */
        uint64_t t0 = ic_clock_ns();
        if (ic_js_pool_get(rc->base->pool, r->tenants[m->t], &w, err, sizeof(err)) == 0)
            pt->ran = true;
        self_of(r, self)->win_cold += ic_clock_ns() - t0; /* a cold start is not work (placement.h) */
    } else if (!m->warm && !replica && pt->ran) {
        /* Only an idle worker goes: a request sent before k changed still runs on it. */
        if (ic_js_pool_get(rc->base->pool, r->tenants[m->t], &w, err, sizeof(err)) == 0 && ic_js_worker_pending(w) == 0) {
            ic_js_pool_drop(rc->base->pool, r->tenants[m->t]);
            pt->ran = false;
        }
    }
    ic_js_pool_stats_t ps;
    ic_js_pool_stats(rc->base->pool, &ps);
    __atomic_store_n(&r->pl->cores[self].isolates, ps.workers, __ATOMIC_RELAXED);
    return 0;
}

/* Back on the sender. */
static void pmsg_done(void *arg, int status)
{
    (void)status;
    struct pmsg *m = arg;
    ic__router_hold(m->r, -1);
    free(m);
}

/* Best effort: without memory, or while stopping, the replica simply loads the tenant on its first request (or keeps it). */
static void tell(ic_router_t *r, unsigned core, unsigned t, bool warm)
{
    struct pmsg *m = malloc(sizeof(*m));
    if (!m)
        return;
    *m = (struct pmsg){r, t, warm};
    ic__router_hold(r, 1); /* the router stays while the message is out */
    if (ic_smp_submit(core, pmsg_work, pmsg_done, m) < 0) {
        ic__router_hold(r, -1);
        free(m);
    }
}

/* ---- placing a request ------------------------------------------------------------------------------ */

unsigned ic__router_place(ic_router_t *r, unsigned t)
{
    ic_placement_t mode = r->cfg->workers[t].placement;
    unsigned self = (unsigned)ic_reactor_id();
    if (mode == IC_PLACE_SPREAD)
        return self;
    if (mode != IC_PLACE_ADAPTIVE || r->n < 2)
        return r->owner[t];
    struct ic__placement *pl = r->pl;
    ic__place_params_t params;
    params_of(r, &params);
    const ic__place_params_t *p = &params;
    const uint16_t *order = pl->order + (size_t)t * pl->len;
    struct ic__ptenant *pt = tenant_here(r, self, t);
    struct ic__pcore *pc = &pl->cores[self];
    uint64_t now = ic_clock_ns();
    unsigned k = atomic_load_explicit(&pl->k[t], memory_order_relaxed);
    if (k != pt->seen_k) {
        /* Another core changed k: the retirement clock of this core starts again from now. */
        pt->seen_k = k;
        pt->fig.changed_ns = now;
    }
    /* Only the replicas and the next core of the order are read (pick and decide look at no other), by position. */
    ic__place_load_t *load = self_of(r, self)->load;
    unsigned have = k < pl->len ? k + 1 : k;
    for (unsigned i = 0; i < have; i++)
        read_load(r, order[i], now, &load[i]);
    /*
     * The tenant's delay, drained since its last sample; a core that only forwards the tenant has no samples of its own: the
     * owner's published delay counts here too.
     */
    ic__place_tenant_t fig = pt->fig;
    fig.queue_ns = ic__place_drained(fig.queue_ns, pt->queue_at, now);
    if (!pt->fig.calm_since_ns && fig.queue_ns < p->calm_ns && pt->queue_at) {
        /*
         * No calm sample came (its requests went to other replicas, or none came): the tenant became calm here when its
         * drained delay went under calm_ns. Without this an owner that sends its tenant's requests away never retires a replica.
         */
        uint64_t over = pt->fig.queue_ns > p->calm_ns ? pt->fig.queue_ns - p->calm_ns : 0;
        pt->fig.calm_since_ns = fig.calm_since_ns = (pt->queue_at + over) | 1;
    }
    if (self == order[0] && k > 1) {
        /* The replicas' own delays for the tenant, drained as of now: the owner retires one only once all of them are calm. */
        uint64_t delay[IC_MAX_CORES];
        for (unsigned i = 1; i < k && i < pl->len; i++)
            delay[i] = tenant_delay(r, order[i], t, now);
        ic__place_replicas_seen(p, &pt->fig, k < pl->len ? k : pl->len, delay, load, now);
        fig.calm_since_ns = pt->fig.calm_since_ns;
    } else if (self != order[0]) {
        uint64_t oq = tenant_delay(r, order[0], t, now);
        if (oq > fig.queue_ns)
            fig.queue_ns = oq;
    }
    unsigned nk = ic__place_decide(p, &fig, order, k, self, r->n, load, now);
    if (nk != k) {
        unsigned seen = k;
        if (atomic_compare_exchange_strong_explicit(&pl->k[t], &seen, nk, memory_order_relaxed, memory_order_relaxed)) {
            pt->seen_k = nk;
            pt->fig.changed_ns = now;
            if (nk > k) {
                STAT_ADD(pc->births, 1);
                ic_log(IC_LOG_DEBUG, "[%s] replica %u on core %u", r->cfg->workers[t].name, nk, order[k]);
                if (order[k] != self) /* here, the request itself loads it */
                    tell(r, order[k], t, true);
            } else {
                STAT_ADD(pc->deaths, 1);
                ic_log(IC_LOG_DEBUG, "[%s] replica on core %u retired (%u left)", r->cfg->workers[t].name, order[nk], nk);
                tell(r, order[nk], t, false);
            }
        }
        k = seen == k ? nk : seen; /* the CAS failed: another core changed k first */
        for (unsigned i = have; i < k && i < pl->len; i++)
            read_load(r, order[i], now, &load[i]);
    }
    unsigned c = ic__place_pick(p, order, k, self, load, rnd(pc));
    if (c != order[0] && load[0].busy_ns >= p->shed_ns)
        STAT_ADD(pc->sheds, 1);
    return c;
}

unsigned ic__router_replicas(const ic_router_t *r, unsigned t)
{
    switch (r->cfg->workers[t].placement) {
    case IC_PLACE_SPREAD:
        return r->n;
    case IC_PLACE_ADAPTIVE:
        return r->n < 2 ? 1 : atomic_load_explicit(&r->pl->k[t], memory_order_relaxed);
    default:
        return 1;
    }
}

unsigned ic_router_replicas(const ic_router_t *r, const char *name)
{
    int t = ic__router_tenant(r, name);
    return t < 0 ? 0 : ic__router_replicas(r, (unsigned)t);
}
