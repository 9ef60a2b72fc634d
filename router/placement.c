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
    p->grow_gap_ns = 50000000;
    p->shed_ns = 1000000;
    p->hop_ns = p->calm_ns; /* a hop costs more than its latency: the CPU of the copy, and the locality of the isolate */
    p->max_replicas = 0;
    p->isolate_budget = 0;
    p->ewma_shift = 3;
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

/* Whether core a is a better place than core b for a request that arrived on self. */
static bool better(const ic__place_params_t *p, const ic__place_load_t *load, unsigned a, unsigned b, unsigned self)
{
    bool sa = load[a].busy_ns >= p->shed_ns, sb = load[b].busy_ns >= p->shed_ns;
    if (sa != sb)
        return sb;
    uint64_t xa = score(&load[a]) + (a == self ? 0 : p->hop_ns), xb = score(&load[b]) + (b == self ? 0 : p->hop_ns);
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
    unsigned a = order[ia], b = order[ib];
    unsigned best = better(p, load, a, b, self) ? a : b;
    if (load[best].busy_ns < p->shed_ns)
        return best;
    /* Both choices are inside long entries: any replica that is not takes it (shedding before the request queues). */
    for (unsigned i = 0; i < k; i++)
        if (load[order[i]].busy_ns < p->shed_ns && better(p, load, order[i], best, self))
            best = order[i];
    return best;
}

uint64_t ic__place_drained(uint64_t queue_ns, uint64_t at_ns, uint64_t now)
{
    uint64_t age = now > at_ns ? now - at_ns : 0;
    return queue_ns > age ? queue_ns - age : 0;
}

void ic__place_observe(const ic__place_params_t *p, ic__place_tenant_t *t, uint64_t delay_ns, uint64_t now)
{
    int64_t d = (int64_t)delay_ns - (int64_t)t->queue_ns;
    t->queue_ns = (uint64_t)((int64_t)t->queue_ns + d / (1 << p->ewma_shift));
    if (t->queue_ns < p->calm_ns) {
        if (!t->calm_since_ns)
            t->calm_since_ns = now | 1;
    } else {
        t->calm_since_ns = 0;
    }
}

unsigned ic__place_decide(const ic__place_params_t *p, const ic__place_tenant_t *t, const uint16_t *order, unsigned k,
                          unsigned self, unsigned ncores, const ic__place_load_t *load, uint64_t now)
{
    unsigned cap = p->max_replicas && p->max_replicas < ncores ? p->max_replicas : ncores;
    bool settled = now - t->changed_ns >= p->grow_gap_ns;
    bool pressed = t->queue_ns >= p->replicate_ns || load[order[0]].busy_ns >= p->replicate_ns;
    if (pressed && settled && k < cap && !(p->isolate_budget && load[order[k]].isolates >= p->isolate_budget))
        return k + 1;
    if (k > 1 && self == order[0] && !pressed && t->calm_since_ns && now - t->calm_since_ns >= p->retire_ns &&
        now - t->changed_ns >= p->retire_ns)
        return k - 1;
    return k;
}
