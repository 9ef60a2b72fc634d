/*
 * placement.h: the placement policy as pure functions of published figures.
 *
 * Nothing here touches a thread, a clock or a reactor: every input is an
 * argument, every decision a return value. The router (router.c, forward.c)
 * feeds it the figures its cores publish, the simulator (bench/sim/) feeds
 * it simulated ones; both run this same code. It is included by router/
 * and bench/sim/ only.
 *
 * The model. Each tenant has a rendezvous-hash order of the cores
 * (ic__place_order): order[0] is its owner, where `sticky` runs it. An
 * `adaptive` tenant runs on the first k cores of its order, its replicas
 * (k = 1: the owner alone, as sticky). k is one published number per tenant;
 * any core may raise it by one (compare-and-swap from the k it read) when
 * ic__place_decide says the tenant is waiting too long, and lower it when
 * the tenant has been calm for a while. A request goes to one of the k
 * replicas (ic__place_pick): the core it arrived on if that is a replica
 * and not worse off than another by more than a hop costs, else the less
 * loaded of two replicas picked at random; a replica inside a long entry is
 * avoided while another is not (shedding: nothing ever leaves a queue once
 * it is in one, a request is only sent elsewhere before it is queued).
 */
#ifndef ISOCORE_ROUTER_PLACEMENT_H
#define ISOCORE_ROUTER_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The knobs, with the defaults of ic__place_params_init. */
typedef struct ic__place_params {
    uint64_t replicate_ns;   /* a tenant whose queue delay (EWMA) passes this gains a replica (2 ms) */
    uint64_t calm_ns;        /* below this (EWMA) the tenant is calm (replicate_ns / 8) */
    uint64_t retire_ns;      /* calm this long: the last replica retires (10 s) */
    uint64_t grow_gap_ns;    /* at least this between two changes of k, so one burst adds one replica (50 ms) */
    uint64_t shed_ns;        /* a core whose current entry has run this long is avoided when another replica is not (1 ms) */
    uint64_t hop_ns;         /* what a hop to another core costs, as load: the arrival core wins ties within it (calm_ns) */
    unsigned max_replicas;   /* per tenant, the owner included (0: the number of cores) */
    unsigned isolate_budget; /* per core: a core with this many isolates is not given a new replica (0: no bound) */
    unsigned ewma_shift;     /* an EWMA moves 1/2^shift of the way to each new sample (3) */
} ic__place_params_t;

/* Sets the defaults above. */
void ic__place_params_init(ic__place_params_t *p);

/*
 * What a core publishes, as read by another (a snapshot: the router reads
 * each field relaxed from the core's cache-line-aligned block).
 * busy_ns: how long the entry the core is inside has run (0: not in one).
 * queue_ns: the EWMA of the delay its requests waited before they ran.
 * isolates: its warm isolates.
 */
typedef struct ic__place_load {
    uint64_t busy_ns;
    uint64_t queue_ns;
    unsigned isolates;
} ic__place_load_t;

/*
 * A tenant's order of the n cores: first its owner, key mod n (key is the
 * tenant's name hash), then the other cores sorted by a hash of (key,
 * core), highest first (rendezvous hashing: each tenant's replicas go to
 * different cores, and removing a core from n moves a replica only when
 * it was on that core). Writes min(n, len) cores to order. The same key
 * and n always give the same order.
 */
void ic__place_order(uint64_t key, unsigned n, uint16_t *order, unsigned len);

/* The hash of a tenant name that ic__place_order takes (FNV-1a 64, mixed). */
uint64_t ic__place_key(const char *name);

/*
 * The core that runs a request for a tenant with replicas order[0..k-1]
 * (k >= 1) that arrived on core self; load[c] is core c's snapshot; rnd a
 * random number of the caller's. Pure.
 */
unsigned ic__place_pick(const ic__place_params_t *p, const uint16_t *order, unsigned k, unsigned self, const ic__place_load_t *load,
                        uint64_t rnd);

/*
 * A tenant's own figures, kept per core by each core that runs it (not
 * shared): the EWMA of its requests' queue delay here, when it last became
 * calm here (0: not calm), and when k last changed as this core saw it.
 */
typedef struct ic__place_tenant {
    uint64_t queue_ns;
    uint64_t calm_since_ns;
    uint64_t changed_ns;
} ic__place_tenant_t;

/*
 * A queue delay seen at at_ns, as of now: what waited then has drained
 * since at the rate time passes (a figure with no new sample goes to 0, so
 * a core that stopped getting requests because it looked loaded looks
 * free again once its backlog would be gone). Pure.
 */
uint64_t ic__place_drained(uint64_t queue_ns, uint64_t at_ns, uint64_t now);

/* Feeds one request's queue delay (from arrival on its origin core to the start of its run) into t, at time now. */
void ic__place_observe(const ic__place_params_t *p, ic__place_tenant_t *t, uint64_t delay_ns, uint64_t now);

/*
 * The k the tenant should have, as core self sees it at time now: k + 1
 * when its delay here passed replicate_ns (or the owner, order[0], has been
 * inside one entry longer than that) and the cap, the cores and the next
 * core's isolate budget allow; k - 1 when it has been calm here for
 * retire_ns (only the owner lowers k); else k. ncores is the number of
 * cores, load their snapshots. Pure.
 */
unsigned ic__place_decide(const ic__place_params_t *p, const ic__place_tenant_t *t, const uint16_t *order, unsigned k,
                          unsigned self, unsigned ncores, const ic__place_load_t *load, uint64_t now);

#ifdef __cplusplus
}
#endif

#endif
