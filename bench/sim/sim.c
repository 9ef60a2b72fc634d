/*
 * sim.c: the discrete-event engine of sim.h.
 *
 * Events are few at any time: the next arrival, one completion per busy
 * core, and the next publication of the loads (stale_ns > 0). They sit in a
 * binary heap ordered by (time, kind, core), so ties break the same way on
 * every run. A request is its own job: it sits in at most one core's FIFO
 * at a time and moves through its stages (arrive, then for a forwarded one
 * run and answer).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sim/sim.h"
#include "isocore/core.h" /* IC_MAX_CORES */

enum stage { ARRIVE, RUN, ANSWER, REJECT };

struct req {
    struct req *next;   /* in a core's FIFO, or the free list */
    uint64_t arrive_ns; /* when it was due (latency is from here) */
    uint64_t sent_ns;   /* when the server got it (a client with connections may hold it back) */
    uint64_t enq_ns;    /* when it entered the FIFO it is in */
    uint64_t cold_mark; /* its core's cold-start time when it entered that FIFO (observe_excl_cold) */
    uint64_t cold_wait; /* the other tenants' cold starts it waited behind so far */
    int conn;           /* its connection (-1: none) */
    unsigned tenant;
    uint16_t origin, runner;
    uint8_t stage;
    bool heavy;
};

struct core {
    struct req *head, *tail, *cur;
    uint64_t entry_start; /* 0: idle */
    uint64_t queue_ns;    /* EWMA of the wait of its jobs before they started */
    unsigned isolates;
    unsigned queued;   /* jobs in the FIFO and running */
    uint64_t cold_cum; /* cold-start time this core has run (its current one counted when it starts) */
    /* Its work share (ic__place_work), as the runtime measures it: CPU time without cold starts over wall time, by window. */
    uint64_t cur_work;  /* the current job's CPU, cold start left out */
    uint64_t win_start; /* the window began */
    uint64_t win_work;  /* work of the jobs that ended in the window */
    unsigned work;
};

/* A published load: what another core reads with stale_ns > 0. */
struct pub {
    uint64_t entry_start, queue_ns;
    unsigned isolates, work;
};

enum { EV_ARRIVAL = 0, EV_PUBLISH = 1, EV_DONE = 2 };

struct event {
    uint64_t t;
    uint32_t kind, core;
};

/*
 * The client's connections (sim_config_t.conns): each on one core, one
 * request at a time; a request that is due waits for a free one (round
 * robin from a cursor, as icload's dispatch), and its latency counts from
 * when it was due.
 */
#define HEAVY_BIT (1ull << 63) /* in a backlog entry: the request is heavy */

struct pool {
    uint16_t *core;
    bool *busy;
    unsigned n, cursor;
    uint64_t *backlog; /* due times, a ring */
    unsigned bl_head, bl_n, bl_cap;
};

/* What adaptive keeps per (tenant, core): placement.h's figures and the k this core last saw. */
struct tstate {
    ic__place_tenant_t f;
    unsigned seen_k;
};

struct sim {
    const sim_config_t *cfg;
    sim_result_t *res;
    unsigned n, T;
    uint64_t rng, pick_rng; /* the arrivals' generator; adaptive's picks' */
    uint64_t now, in_system, last_change;
    double area;    /* ∫ requests in the system dt, ns */
    double lat_sum; /* Σ time in the system of every request that left, ns */
    struct core *core;
    struct pub *pub;
    struct event *heap;
    unsigned nheap;
    uint16_t *order;    /* T × n: each tenant's ic__place_order */
    unsigned *k;        /* T: adaptive's k (published: every core reads it as it is) */
    uint8_t *warm;      /* T × n */
    unsigned *pair;     /* n × n: forwarded requests in flight from a core to another */
    struct tstate *ts;  /* T × n (adaptive) */
    struct req *free;   /* recycled requests */
    struct req **slabs; /* every block of requests, to free them */
    unsigned nslabs, capslabs;
    ic__place_load_t *load; /* scratch for pick and decide */
    sim_sampler_t sampler;
    struct pool pool[2]; /* cheap, heavy (SIM_STREAMS) */
};

static bool ev_less(const struct event *a, const struct event *b)
{
    if (a->t != b->t)
        return a->t < b->t;
    if (a->kind != b->kind)
        return a->kind < b->kind;
    return a->core < b->core;
}

static void heap_push(struct sim *s, struct event e)
{
    unsigned i = s->nheap++;
    while (i > 0) {
        unsigned p = (i - 1) / 2;
        if (!ev_less(&e, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
}

static struct event heap_pop(struct sim *s)
{
    struct event top = s->heap[0], last = s->heap[--s->nheap];
    unsigned i = 0;
    for (;;) {
        unsigned l = 2 * i + 1, m = i;
        const struct event *best = &last;
        if (l < s->nheap && ev_less(&s->heap[l], best))
            m = l, best = &s->heap[l];
        if (l + 1 < s->nheap && ev_less(&s->heap[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (s->nheap)
        s->heap[i] = last;
    return top;
}

static struct req *req_new(struct sim *s)
{
    if (!s->free) {
        enum { SLAB = 4096 };
        if (s->nslabs == s->capslabs) {
            unsigned cap = s->capslabs ? 2 * s->capslabs : 64;
            struct req **ns = realloc(s->slabs, cap * sizeof(*ns));
            if (!ns)
                return NULL;
            s->slabs = ns;
            s->capslabs = cap;
        }
        struct req *slab = malloc(SLAB * sizeof(*slab));
        if (!slab)
            return NULL;
        s->slabs[s->nslabs++] = slab;
        for (unsigned i = 0; i < SLAB; i++) {
            slab[i].next = s->free;
            s->free = &slab[i];
        }
    }
    struct req *r = s->free;
    s->free = r->next;
    return r;
}

static void req_free(struct sim *s, struct req *r)
{
    r->next = s->free;
    s->free = r;
}

/* The time integral of the requests in the system, for Little's law. */
static void in_system(struct sim *s, int delta)
{
    s->area += (double)s->in_system * (double)(s->now - s->last_change);
    s->last_change = s->now;
    s->in_system += (uint64_t)(int64_t)delta;
}

/* The load of core c as another core sees it now. */
static ic__place_load_t load_of(const struct sim *s, unsigned c)
{
    uint64_t start, q;
    unsigned iso, work;
    if (s->cfg->stale_ns) {
        start = s->pub[c].entry_start;
        q = s->pub[c].queue_ns;
        iso = s->pub[c].isolates;
        work = s->pub[c].work;
    } else {
        start = s->core[c].entry_start;
        q = s->core[c].queue_ns;
        iso = s->core[c].isolates;
        work = s->core[c].work;
    }
    return (ic__place_load_t){.busy_ns = start ? s->now - start : 0, .queue_ns = q, .isolates = iso, .work = work};
}

/* Fills the scratch loads that pick and decide read, by position in the order: the tenant's first k+1 cores. */
static void fill_loads(struct sim *s, const uint16_t *order, unsigned k)
{
    unsigned m = k + 1 < s->n ? k + 1 : s->n;
    for (unsigned i = 0; i < m; i++)
        s->load[i] = load_of(s, order[i]);
}

/* Adaptive, on core self for tenant t: the k it decides, applied (one CAS in the runtime; here nothing races). */
static unsigned adapt(struct sim *s, unsigned t, unsigned self)
{
    const uint16_t *order = &s->order[(size_t)t * s->n];
    struct tstate *st = &s->ts[(size_t)t * s->n + self];
    unsigned k = s->k[t];
    if (st->seen_k != k) {
        /* k changed since this core last looked: that counts as a change for its grow gap. */
        st->seen_k = k;
        st->f.changed_ns = s->now;
    }
    fill_loads(s, order, k);
    if (self == order[0] && k > 1) {
        /* As the runtime's owner does (router/adaptive.c): its replicas' delays for the tenant count for retiring them. */
        uint64_t delay[IC_MAX_CORES];
        for (unsigned i = 1; i < k; i++)
            delay[i] = s->ts[(size_t)t * s->n + order[i]].f.queue_ns;
        ic__place_replicas_seen(&s->cfg->place, &st->f, k, delay, s->load, s->now);
    }
    unsigned nk = ic__place_decide(&s->cfg->place, &st->f, order, k, self, s->n, s->load, s->now);
    if (nk != k && nk >= 1 && nk <= s->n) {
        if (nk > k)
            s->res->births++;
        else
            s->res->retirements++;
        s->k[t] = nk;
        st->seen_k = nk;
        st->f.changed_ns = s->now;
        if (nk > s->res->k_max)
            s->res->k_max = nk;
        k = nk;
        fill_loads(s, order, k);
    }
    return k;
}

/* Where tenant t's request that arrived on core a runs. */
static unsigned place(struct sim *s, unsigned t, unsigned a)
{
    const uint16_t *order = &s->order[(size_t)t * s->n];
    switch (s->cfg->policy) {
    case SIM_STICKY:
        return order[0];
    case SIM_SPREAD:
        return a;
    default: {
        unsigned k = adapt(s, t, a);
        unsigned c = ic__place_pick(&s->cfg->place, order, k, a, s->load, sim_rand(s->cfg->shared_rng ? &s->rng : &s->pick_rng));
        return c < s->n ? c : order[0];
    }
    }
}

static void enqueue(struct sim *s, unsigned c, struct req *r);
static int dispatch(struct sim *s, unsigned p);

/* Starts the job at the head of core c's FIFO, if any. */
static void start_next(struct sim *s, unsigned c)
{
    struct core *k = &s->core[c];
    struct req *r = k->head;
    if (!r) {
        k->cur = NULL;
        k->entry_start = 0;
        return;
    }
    k->head = r->next;
    if (!k->head)
        k->tail = NULL;
    k->cur = r;
    k->entry_start = s->now;
    if (s->now - k->win_start >= IC__PLACE_WORK_WINDOW_NS) {
        k->work = ic__place_work(&s->cfg->place, k->work, k->win_work, s->now - k->win_start);
        k->win_start = s->now;
        k->win_work = 0;
    }
    r->cold_wait += k->cold_cum - r->cold_mark; /* other tenants' cold starts it waited behind in this FIFO */
    int64_t d = (int64_t)(s->now - r->enq_ns) - (int64_t)k->queue_ns;
    k->queue_ns = (uint64_t)((int64_t)k->queue_ns + d / (1 << s->cfg->place.ewma_shift));

    const sim_costs_t *cost = &s->cfg->cost;
    uint64_t work = r->heavy ? cost->heavy_ns : cost->js_ns, ns = 0, cold = 0;
    bool runs = false;
    if (r->stage == ARRIVE) {
        /* The arrival core parses the request and places it now, when it gets to it. */
        unsigned t = r->tenant;
        unsigned dst = place(s, t, c);
        bool fwd = dst != c;
        if (fwd && s->pair[c * s->n + dst] >= s->cfg->inflight_per_pair) {
            r->stage = REJECT;
            ns = cost->http_ns;
        } else {
            r->runner = (uint16_t)dst;
            if (fwd) {
                s->pair[c * s->n + dst]++;
                ns = cost->http_ns / 2 + cost->fwd_arrival_ns / 2;
            } else {
                ns = cost->http_ns + work;
                runs = true;
            }
        }
    } else if (r->stage == RUN) {
        ns = cost->fwd_running_ns - cost->js_ns + work;
        runs = true;
    } else {
        ns = cost->http_ns - cost->http_ns / 2 + cost->fwd_arrival_ns - cost->fwd_arrival_ns / 2;
    }
    if (runs) {
        unsigned t = r->tenant;
        uint8_t *w = &s->warm[(size_t)t * s->n + c];
        if (!*w) {
            *w = 1;
            ns += cost->cold_ns;
            cold = cost->cold_ns;
            s->res->cold_cpu_ns += cost->cold_ns;
            k->cold_cum += cost->cold_ns; /* after this request's own mark: its own cold start is not a wait */
            if (++k->isolates > s->res->isolates_max_core)
                s->res->isolates_max_core = k->isolates;
            s->res->isolates++;
        }
        if (s->cfg->policy == SIM_ADAPTIVE) {
            uint64_t delay = s->now - r->sent_ns;
            if (s->cfg->observe_excl_cold) {
                uint64_t w = r->cold_wait;
                delay = delay > w ? delay - w : 0;
            }
            ic__place_observe(&s->cfg->place, &s->ts[(size_t)t * s->n + c].f, delay, k->work, s->now);
            adapt(s, t, c);
        }
    }
    s->res->cpu_ns += ns;
    k->cur_work = ns - cold;
    heap_push(s, (struct event){.t = s->now + ns, .kind = EV_DONE, .core = c});
}

static void enqueue(struct sim *s, unsigned c, struct req *r)
{
    struct core *k = &s->core[c];
    r->next = NULL;
    r->enq_ns = s->now;
    r->cold_mark = k->cold_cum;
    if (k->tail)
        k->tail->next = r;
    else
        k->head = r;
    k->tail = r;
    if (!k->cur)
        start_next(s, c);
}

static int finish(struct sim *s, struct req *r, bool rejected)
{
    sim_result_t *res = s->res;
    int conn = r->conn;
    in_system(s, -1);
    s->lat_sum += (double)(s->now - r->arrive_ns);
    if (rejected) {
        res->rejected++;
    } else {
        res->done++;
        if (r->origin != r->runner)
            res->forwarded++;
        if (r->arrive_ns >= s->cfg->warmup_ns)
            sim_hist_add(r->heavy ? &res->heavy : &res->cheap, s->now - r->arrive_ns);
    }
    req_free(s, r);
    if (conn < 0)
        return 0;
    /* Its connection is free: the client sends what waited for one. */
    s->pool[conn / 65536].busy[conn % 65536] = false;
    return dispatch(s, (unsigned)conn / 65536);
}

/* Core c finished its current job. */
static int done(struct sim *s, unsigned c)
{
    int ret = 0;
    struct core *k = &s->core[c];
    struct req *r = k->cur;
    k->cur = NULL;
    k->entry_start = 0;
    k->win_work += k->cur_work;
    switch (r->stage) {
    case ARRIVE:
        if (r->runner == c) {
            ret = finish(s, r, false);
        } else {
            r->stage = RUN;
            enqueue(s, r->runner, r);
        }
        break;
    case RUN:
        r->stage = ANSWER;
        enqueue(s, r->origin, r);
        break;
    case ANSWER:
        s->pair[c * s->n + r->runner]--;
        ret = finish(s, r, false);
        break;
    default:
        ret = finish(s, r, true);
        break;
    }
    if (!k->cur)
        start_next(s, c);
    return ret;
}

/* Starts request r (due at due) from core origin, on connection conn (-1: none). */
static int send_req(struct sim *s, uint64_t due, bool heavy, unsigned origin, int conn)
{
    struct req *r = req_new(s);
    if (!r)
        return -ENOMEM;
    r->arrive_ns = due;
    r->sent_ns = s->now;
    r->conn = conn;
    r->origin = (uint16_t)origin;
    r->runner = r->origin;
    r->tenant = sim_sampler_tenant(&s->sampler, sim_unit(&s->rng));
    r->heavy = heavy;
    r->stage = ARRIVE;
    r->cold_wait = 0;
    enqueue(s, r->origin, r);
    return 0;
}

/* Sends what pool p's free connections can take from its backlog. */
static int dispatch(struct sim *s, unsigned p)
{
    struct pool *pl = &s->pool[p];
    unsigned tried = 0;
    while (pl->bl_n && tried < pl->n) {
        unsigned c = pl->cursor;
        pl->cursor = (pl->cursor + 1) % pl->n;
        if (pl->busy[c]) {
            tried++;
            continue;
        }
        tried = 0;
        pl->busy[c] = true;
        uint64_t due = pl->backlog[pl->bl_head];
        pl->bl_head = (pl->bl_head + 1) % pl->bl_cap;
        pl->bl_n--;
        int ret = send_req(s, due & ~HEAVY_BIT, due & HEAVY_BIT, pl->core[c], (int)(p * 65536 + c));
        if (ret < 0)
            return ret;
    }
    return 0;
}

/* The next arrival of stream st (0: cheap, 1: heavy), at its rate. */
static void next_arrival(struct sim *s, unsigned st)
{
    const sim_config_t *cfg = s->cfg;
    double rate = cfg->load.rate_per_core * s->n *
                  (cfg->load.kind == SIM_BIMODAL ? (st ? cfg->load.heavy_share : 1 - cfg->load.heavy_share) : 1);
    if (!(rate > 0))
        return;
    double mean_ns = 1e9 / rate;
    /* Exponential gaps (Poisson arrivals; -log(1 - u) keeps u = 0 finite), or fixed ones as icload's. */
    uint64_t gap = cfg->fixed_interval ? (uint64_t)mean_ns : (uint64_t)(-log(1.0 - sim_unit(&s->rng)) * mean_ns);
    if (gap == 0)
        gap = 1;
    if (s->now + gap < cfg->seconds_ns)
        heap_push(s, (struct event){.t = s->now + gap, .kind = EV_ARRIVAL, .core = st});
}

static int arrival(struct sim *s, unsigned st)
{
    next_arrival(s, st);
    s->res->arrived++;
    in_system(s, +1);
    /* Heavy requests without connections of their own share the cheap ones'. */
    unsigned p = st == 1 && !s->pool[1].n ? 0 : st;
    struct pool *pl = &s->pool[p];
    if (!pl->n)
        return send_req(s, s->now, st == 1, (unsigned)(sim_rand(&s->rng) % s->n), -1);
    if (pl->bl_n == pl->bl_cap) {
        unsigned cap = pl->bl_cap ? 2 * pl->bl_cap : 1024;
        uint64_t *nb = malloc(cap * sizeof(*nb));
        if (!nb)
            return -ENOMEM;
        for (unsigned i = 0; i < pl->bl_n; i++)
            nb[i] = pl->backlog[(pl->bl_head + i) % pl->bl_cap];
        free(pl->backlog);
        pl->backlog = nb;
        pl->bl_head = 0;
        pl->bl_cap = cap;
    }
    pl->backlog[(pl->bl_head + pl->bl_n) % pl->bl_cap] = s->now | (st == 1 ? HEAVY_BIT : 0);
    pl->bl_n++;
    return dispatch(s, p);
}

static void publish(struct sim *s)
{
    for (unsigned c = 0; c < s->n; c++)
        s->pub[c] = (struct pub){s->core[c].entry_start, s->core[c].queue_ns, s->core[c].isolates, s->core[c].work};
    if (s->now + s->cfg->stale_ns < s->cfg->seconds_ns)
        heap_push(s, (struct event){.t = s->now + s->cfg->stale_ns, .kind = EV_PUBLISH});
}

static void sim_free(struct sim *s)
{
    for (unsigned i = 0; i < s->nslabs; i++)
        free(s->slabs[i]);
    free(s->slabs);
    free(s->core);
    free(s->pub);
    free(s->heap);
    free(s->order);
    free(s->k);
    free(s->warm);
    free(s->pair);
    free(s->ts);
    free(s->load);
    sim_sampler_free(&s->sampler);
    for (unsigned p = 0; p < 2; p++) {
        free(s->pool[p].core);
        free(s->pool[p].busy);
        free(s->pool[p].backlog);
    }
}

int sim_run(const sim_config_t *cfg, sim_result_t *res)
{
    memset(res, 0, sizeof(*res));
    if (cfg->cores == 0 || cfg->cores > IC_MAX_CORES || cfg->load.tenants == 0 || !(cfg->load.rate_per_core > 0) ||
        cfg->seconds_ns == 0 || cfg->cost.fwd_running_ns < cfg->cost.js_ns || cfg->place.ewma_shift > 30)
        return -EINVAL;
    struct sim s = {.cfg = cfg,
                    .res = res,
                    .n = cfg->cores,
                    .T = cfg->load.tenants,
                    .rng = cfg->seed,
                    .pick_rng = cfg->seed ^ 0x5851f42d4c957f2dull};
    int ret = sim_sampler_init(&s.sampler, &cfg->load);
    if (ret < 0)
        return ret;
    size_t tn = (size_t)s.T * s.n;
    s.core = calloc(s.n, sizeof(*s.core));
    s.pub = calloc(s.n, sizeof(*s.pub));
    s.heap = calloc(s.n + 3, sizeof(*s.heap));
    s.order = calloc(tn, sizeof(*s.order));
    s.k = calloc(s.T, sizeof(*s.k));
    s.warm = calloc(tn, 1);
    s.pair = calloc((size_t)s.n * s.n, sizeof(*s.pair));
    s.ts = cfg->policy == SIM_ADAPTIVE ? calloc(tn, sizeof(*s.ts)) : NULL;
    s.load = calloc(s.n, sizeof(*s.load));
    if (!s.core || !s.pub || !s.heap || !s.order || !s.k || !s.warm || !s.pair || !s.load ||
        (cfg->policy == SIM_ADAPTIVE && !s.ts)) {
        sim_free(&s);
        return -ENOMEM;
    }
    for (unsigned t = 0; t < s.T; t++) {
        /* Tenant names as a config would have them; a lone tenant is bench/bimodal.sh's "app". */
        char name[32];
        if (s.T == 1)
            memcpy(name, "app", 4);
        else
            snprintf(name, sizeof(name), "t%u", t);
        ic__place_order(ic__place_key(name), s.n, &s.order[(size_t)t * s.n], s.n);
        s.k[t] = 1;
    }
    for (size_t i = 0; s.ts && i < tn; i++)
        s.ts[i].seen_k = 1;
    if (cfg->prewarm) {
        /* Warm where the policy keeps a tenant from the start: its owner (sticky, adaptive at k = 1), or every core (spread). */
        for (unsigned t = 0; t < s.T; t++)
            for (unsigned c = 0; c < s.n; c++) {
                if (cfg->policy != SIM_SPREAD && c != s.order[(size_t)t * s.n])
                    continue;
                s.warm[(size_t)t * s.n + c] = 1;
                res->isolates++;
                if (++s.core[c].isolates > res->isolates_max_core)
                    res->isolates_max_core = s.core[c].isolates;
            }
    }
    res->k_max = cfg->policy == SIM_ADAPTIVE ? 1 : 0;

    for (unsigned p = 0; p < 2; p++) {
        unsigned nc = p ? cfg->heavy_conns : cfg->conns;
        if (!nc)
            continue;
        s.pool[p].n = nc;
        s.pool[p].core = calloc(nc, sizeof(*s.pool[p].core));
        s.pool[p].busy = calloc(nc, sizeof(*s.pool[p].busy));
        if (!s.pool[p].core || !s.pool[p].busy) {
            sim_free(&s);
            return -ENOMEM;
        }
        /* Each connection lands on a core as SO_REUSEPORT's hash puts it: uniformly at random. */
        for (unsigned i = 0; i < nc; i++)
            s.pool[p].core[i] = (uint16_t)(sim_rand(&s.rng) % s.n);
    }
    /* Heavy requests have their own stream (and, with heavy_conns, their own connections, as bench/bimodal.sh's second icload). */
    heap_push(&s, (struct event){.t = 0, .kind = EV_ARRIVAL, .core = 0});
    if (cfg->load.kind == SIM_BIMODAL && cfg->load.heavy_share > 0)
        heap_push(&s,
                  (struct event){.t = (uint64_t)(sim_unit(&s.rng) * 1e9 / (cfg->load.rate_per_core * s.n * cfg->load.heavy_share)),
                                 .kind = EV_ARRIVAL,
                                 .core = 1});
    if (cfg->stale_ns && cfg->policy == SIM_ADAPTIVE)
        heap_push(&s, (struct event){.t = 0, .kind = EV_PUBLISH});
    while (s.nheap) {
        struct event e = heap_pop(&s);
        s.now = e.t;
        res->events++;
        if (e.kind == EV_ARRIVAL)
            ret = arrival(&s, e.core);
        else if (e.kind == EV_PUBLISH)
            publish(&s);
        else
            ret = done(&s, e.core);
        if (ret < 0)
            break;
    }
    in_system(&s, 0);
    res->end_ns = s.now;
    res->little_l = s.now ? s.area / (double)s.now : 0;
    /* λ·W: arrivals per ns over the run times the mean time in the system of a request (from each request's own times). */
    res->little_lw = s.now && res->arrived ? (double)res->arrived / (double)s.now * (s.lat_sum / (double)res->arrived) : 0;
    sim_free(&s);
    return ret;
}
