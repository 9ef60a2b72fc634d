/*
 * placement.c: which core runs a tenant's request (the policy of
 * placement.h, and the owner of a tenant).
 *
 * `sticky` runs a tenant on its owner core, the first core of its order
 * (hash mod cores); `spread` runs it on the core the request arrived on;
 * `adaptive` on one of its first k cores (placement.h). Everything here is
 * a pure function of its arguments, and the file needs nothing but headers
 * (the simulator, bench/sim/, links it alone); the runtime's side, which
 * reads the published figures and changes k, is adaptive.c.
 */
#include "router/placement.h"
#include "isocore/core.h"
#include "isocore/router.h"

void ic__place_params_init(ic__place_params_t *p)
{
    p->replicate_ns = 2000000;
    p->calm_ns = p->replicate_ns / 8;
    p->retire_ns = 10000000000ull;
    p->grow_gap_ns = 5000000;
    p->first_gap_ns = 50000000;
    p->sustain_ns = p->first_gap_ns;
    p->shed_ns = 1000000;
    p->hop_ns = p->calm_ns; /* a hop costs more than its latency: the CPU of the copy, and the locality of the isolate */
    p->max_replicas = 0;
    p->isolate_budget = 0;
    p->work_min = IC__PLACE_ONE / 2;
    p->ewma_shift = 3;
    p->any_blocked = true;
}

unsigned ic__place_budget(unsigned tenants, unsigned ncores)
{
    if (ncores == 0)
        ncores = 1;
    return 2 * ((tenants + ncores - 1) / ncores) + 2;
}

unsigned ic__place_work(const ic__place_params_t *p, unsigned share, uint64_t work_ns, uint64_t wall_ns)
{
    if (wall_ns == 0)
        return share;
    uint64_t x = work_ns >= wall_ns ? IC__PLACE_ONE : work_ns * IC__PLACE_ONE / wall_ns;
    /* Weighted by the window's length: a window 2^shift windows long (a long entry, an idle stretch) sets the share alone. */
    uint64_t span = IC__PLACE_WORK_WINDOW_NS << p->ewma_shift;
    uint64_t w = wall_ns < span ? wall_ns : span;
    int64_t d = (int64_t)x - (int64_t)share;
    return (unsigned)((int64_t)share + d * (int64_t)w / (int64_t)span);
}

/* MurmurHash3's fmix64: every input bit reaches every output bit. */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

uint64_t ic__place_key(const char *name)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return mix(h);
}

void ic__place_order(uint64_t key, unsigned n, uint16_t *order, unsigned len)
{
    if (len > n)
        len = n;
    /* Selection of the len highest weights: len is small (the replicas a tenant may have) or n is. */
    uint64_t taken[(IC_MAX_CORES + 63) / 64] = {0};
    if (len == 0)
        return;
    /* The owner is key mod n, as it always was (configs and clusters were placed by it); the rest by rendezvous. */
    order[0] = (uint16_t)(key % n);
    taken[order[0] / 64] |= 1ull << (order[0] % 64);
    for (unsigned i = 1; i < len; i++) {
        uint64_t best = 0;
        unsigned bc = 0;
        bool any = false;
        for (unsigned c = 0; c < n; c++) {
            if (taken[c / 64] >> (c % 64) & 1)
                continue;
            uint64_t w = mix(key ^ mix((uint64_t)c + 0x9e3779b97f4a7c15ull));
            if (!any || w > best) {
                best = w;
                bc = c;
                any = true;
            }
        }
        taken[bc / 64] |= 1ull << (bc % 64);
        order[i] = (uint16_t)bc;
    }
}

unsigned ic_router_owner_of(const char *name, unsigned ncores)
{
    if (ncores == 0)
        return 0;
    uint16_t owner;
    ic__place_order(ic__place_key(name), ncores, &owner, 1);
    return owner;
}

static uint64_t score(const ic__place_load_t *l)
{
    return l->queue_ns + l->busy_ns;
}

/* Whether order[a] is a better place than order[b] for a request that arrived on self (a, b: positions in the order). */
static bool better(const ic__place_params_t *p, const uint16_t *order, const ic__place_load_t *load, unsigned a, unsigned b,
                   unsigned self)
{
    bool sa = load[a].busy_ns >= p->shed_ns, sb = load[b].busy_ns >= p->shed_ns;
    if (sa != sb)
        return sb;
    uint64_t xa = score(&load[a]) + (order[a] == self ? 0 : p->hop_ns), xb = score(&load[b]) + (order[b] == self ? 0 : p->hop_ns);
    return xa <= xb;
}

unsigned ic__place_pick(const ic__place_params_t *p, const uint16_t *order, unsigned k, unsigned self, const ic__place_load_t *load,
                        uint64_t rnd)
{
    if (k <= 1)
        return order[0];
    unsigned ia = (unsigned)(rnd % k);
    for (unsigned i = 0; i < k; i++)
        if (order[i] == self)
            ia = i; /* the arrival core is always one of the two choices: no hop unless the other is better */
    unsigned ib = (ia + 1 + (unsigned)((rnd >> 32) % (k - 1))) % k;
    unsigned best = better(p, order, load, ia, ib, self) ? ia : ib;
    if (load[best].busy_ns < p->shed_ns)
        return order[best];
    /* Both choices are inside long entries: any replica that is not takes it (shedding before the request queues). */
    for (unsigned i = 0; i < k; i++)
        if (load[i].busy_ns < p->shed_ns && better(p, order, load, i, best, self))
            best = i;
    return order[best];
}

uint64_t ic__place_drained(uint64_t queue_ns, uint64_t at_ns, uint64_t now)
{
    uint64_t age = now > at_ns ? now - at_ns : 0;
    return queue_ns > age ? queue_ns - age : 0;
}

void ic__place_observe(const ic__place_params_t *p, ic__place_tenant_t *t, uint64_t delay_ns, unsigned work, uint64_t now)
{
    if (work < p->work_min)
        delay_ns = 0;
    int64_t d = (int64_t)delay_ns - (int64_t)t->queue_ns;
    t->queue_ns = (uint64_t)((int64_t)t->queue_ns + d / (1 << p->ewma_shift));
    if (t->queue_ns < p->calm_ns) {
        if (!t->calm_since_ns)
            t->calm_since_ns = now | 1;
    } else {
        t->calm_since_ns = 0;
    }
    if (t->queue_ns < p->replicate_ns)
        t->pressed_since_ns = 0;
    else if (!t->pressed_since_ns)
        t->pressed_since_ns = now | 1;
}

/* How long ago t0 was; 0 for a time not before now (a mark is set to now | 1, which can be now + 1). */
static uint64_t age(uint64_t now, uint64_t t0)
{
    return now > t0 ? now - t0 : 0;
}

void ic__place_replicas_seen(const ic__place_params_t *p, ic__place_tenant_t *t, unsigned k, const uint64_t *delay,
                             const ic__place_load_t *load, uint64_t now)
{
    if (!t->calm_since_ns)
        return;
    for (unsigned i = 1; i < k; i++)
        if (delay[i] >= p->calm_ns || load[i].busy_ns >= p->replicate_ns) {
            t->calm_since_ns = now | 1;
            return;
        }
}

unsigned ic__place_decide(const ic__place_params_t *p, const ic__place_tenant_t *t, const uint16_t *order, unsigned k,
                          unsigned self, unsigned ncores, const ic__place_load_t *load, uint64_t now)
{
    unsigned cap = p->max_replicas && p->max_replicas < ncores ? p->max_replicas : ncores;
    bool settled = age(now, t->changed_ns) >= (k == 1 ? p->first_gap_ns : p->grow_gap_ns);
    /* The replicas' figures: the busiest share, and whether one is inside a long entry (shedding needs another to go to). */
    unsigned work = 0;
    bool blocked = false;
    for (unsigned i = 0; i < k; i++) {
        work = load[i].work > work ? load[i].work : work;
        blocked |= load[i].busy_ns >= p->replicate_ns && (i == 0 || p->any_blocked);
    }
    bool waits = t->queue_ns >= p->replicate_ns && work >= p->work_min;
    bool pressed = blocked || waits;
    bool sustained = k > 1 || !p->sustain_ns || (t->pressed_since_ns && age(now, t->pressed_since_ns) >= p->sustain_ns);
    if ((blocked || (waits && sustained)) && settled && k < cap && !(p->isolate_budget && load[k].isolates >= p->isolate_budget))
        return k + 1;
    if (k > 1 && self == order[0] && !pressed && t->calm_since_ns && age(now, t->calm_since_ns) >= p->retire_ns &&
        age(now, t->changed_ns) >= p->retire_ns)
        return k - 1;
    return k;
}
