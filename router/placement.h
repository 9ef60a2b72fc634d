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
    uint64_t grow_gap_ns;    /* at least this between two changes of k, so one burst adds one replica at a time (5 ms) */
    uint64_t first_gap_ns;   /* at least this before a tenant's first replica (k 1 -> 2) since k last changed, or since the
                                start (50 ms; see ic__place_decide) */
    uint64_t sustain_ns;     /* a first replica for queue delay only once the delay has passed replicate_ns for this long
                                without a break (first_gap_ns; 0: at once) */
    uint64_t shed_ns;        /* a core whose current entry has run this long is avoided when another replica is not (1 ms) */
    uint64_t hop_ns;         /* what a hop to another core costs, as load: the arrival core wins ties within it (calm_ns) */
    unsigned max_replicas;   /* per tenant, the owner included (0: the number of cores) */
    unsigned isolate_budget; /* per core: a core with this many isolates is not given a new replica (0: no bound; callers
                                that know the tenants set ic__place_budget's) */
    unsigned work_min;       /* a queue delay is evidence of load only on a core whose work share (ic__place_work) is at
                                least this, in 1/IC__PLACE_ONE (IC__PLACE_ONE / 2; 0: every delay counts) */
    unsigned ewma_shift;     /* an EWMA moves 1/2^shift of the way to each new sample (3) */
    bool any_blocked;        /* a replica inside a long entry grows k as the owner inside one does (true; false: only the
                                owner's, as before 2026-12-02b) */
} ic__place_params_t;

/* A share of 1 (all of a core's time) in the fixed point of ic__place_work and work_min. */
#define IC__PLACE_ONE 1024u
/* The window of ic__place_work: a core closes one when it starts a request at least this long after the last (1 ms). */
#define IC__PLACE_WORK_WINDOW_NS 1000000ull

/* Sets the defaults above. */
void ic__place_params_init(ic__place_params_t *p);

/*
 * The default isolate budget per core for `tenants` tenants on `ncores`
 * cores: 2 * ceil(tenants / ncores) + 2. A core owns ceil(tenants / ncores)
 * tenants on average; the budget lets it hold as many replicas again (the
 * spread of every tenant over every core is what it exists to prevent),
 * and 2 more so that a few tenants on many cores (one tenant on 64) can
 * still have a replica on every core. Pure.
 */
unsigned ic__place_budget(unsigned tenants, unsigned ncores);

/*
 * A core's work share, the figure that tells a core busy with its own work
 * from a thread that was not running: the EWMA over windows of
 * work_ns / wall_ns, each weighted by its length (a window of
 * IC__PLACE_WORK_WINDOW_NS moves it 1/2^ewma_shift of the way, one of 2^shift
 * windows or longer all of it), where work_ns is the CPU time the core's thread spent
 * in the window of wall_ns, without isolate cold starts (a one-off that a
 * replica adds, never removes), capped at IC__PLACE_ONE. Returns the new
 * share from the old one; a window of no wall time changes nothing. Pure.
 */
unsigned ic__place_work(const ic__place_params_t *p, unsigned share, uint64_t work_ns, uint64_t wall_ns);

/*
 * What a core publishes, as read by another (a snapshot: the router reads
 * each field relaxed from the core's cache-line-aligned block).
 * busy_ns: how long the entry the core is inside has run (0: not in one).
 * queue_ns: the EWMA of the delay its requests waited before they ran.
 * isolates: its warm isolates.
 * work: its work share (ic__place_work).
 * ic__place_pick and ic__place_decide take the snapshots of a tenant's
 * cores by position in its order: load[i] is core order[i]'s.
 */
typedef struct ic__place_load {
    uint64_t busy_ns;
    uint64_t queue_ns;
    unsigned isolates;
    unsigned work;
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
 * (k >= 1) that arrived on core self; load[i] is core order[i]'s snapshot
 * (i < k); rnd a random number of the caller's. Pure.
 */
unsigned ic__place_pick(const ic__place_params_t *p, const uint16_t *order, unsigned k, unsigned self, const ic__place_load_t *load,
                        uint64_t rnd);

/*
 * A tenant's own figures, kept per core by each core that runs it (not
 * shared): the EWMA of its requests' queue delay here, when it last became
 * calm here (0: not calm), since when it has been pressed (ditto), and when
 * k last changed as this core saw it (the
 * caller starts it at the time the tenant was placed: first_gap_ns counts
 * from there).
 */
typedef struct ic__place_tenant {
    uint64_t queue_ns;
    uint64_t calm_since_ns;
    uint64_t changed_ns;
    uint64_t pressed_since_ns; /* since when queue_ns has been at replicate_ns or more (0: it is not) */
} ic__place_tenant_t;

/*
 * A queue delay seen at at_ns, as of now: what waited then has drained
 * since at the rate time passes (a figure with no new sample goes to 0, so
 * a core that stopped getting requests because it looked loaded looks
 * free again once its backlog would be gone). Pure.
 */
uint64_t ic__place_drained(uint64_t queue_ns, uint64_t at_ns, uint64_t now);

/*
 * Feeds one request's queue delay (from arrival on its origin core to the
 * start of its run) into t, at time now, on a core whose work share
 * (ic__place_work) is work. On a core whose share is under work_min the
 * delay counts as 0: the core ran for less than half the time the request
 * waited, so the wait came from the thread not running (other processes
 * had the CPU: a shared machine) or from a one-off such as a cold start,
 * not from load a replica would take. Why half: for a single queue busy a
 * share rho of the time, the mean wait is rho / (1 - rho) times the mean
 * residual service time (Pollaczek-Khinchine), at most one residual below
 * rho = 1/2; a wait of replicate_ns (a thousand cheap requests) there
 * needs entries of milliseconds, which the owner's busy figure sees and
 * sheds directly.
 */
void ic__place_observe(const ic__place_params_t *p, ic__place_tenant_t *t, uint64_t delay_ns, unsigned work, uint64_t now);

/*
 * On the owner, before ic__place_decide: what its replicas see counts for
 * retiring them. The owner's calm clock (t->calm_since_ns, when it is
 * running) starts again from now while a replica, order[i] for 0 < i < k,
 * is not calm: the tenant's own delay there (delay[i], drained as of now)
 * is calm_ns or more, or that core is inside an entry that has run
 * replicate_ns or more (load[i].busy_ns; a heavy request of this tenant, or
 * of another, which is why it errs on the side of keeping the replica).
 * Without it the owner judged calm on its own requests only, and retired
 * a replica that heavy requests kept busy (the simulator's bimodal load at
 * 2 cores). Pure.
 */
void ic__place_replicas_seen(const ic__place_params_t *p, ic__place_tenant_t *t, unsigned k, const uint64_t *delay,
                             const ic__place_load_t *load, uint64_t now);

/*
 * The k the tenant should have, as core self sees it at time now: k + 1
 * when its delay here passed replicate_ns (or one of its replicas,
 * order[0..k-1], has been inside one entry longer than that: shedding needs
 * a replica that is not, and a tenant whose heavy requests keep blocking
 * its replicas is best spread further; a delay counts only while one of the
 * cores that run the tenant, order[0..k-1], has a work share of work_min
 * or more: a delay whose core is no longer busy is an old backlog's, not
 * load a replica would take), k last changed at least grow_gap_ns
 * ago (first_gap_ns when k is 1; and for a first replica, a delay must have
 * lasted sustain_ns), and the cap, the cores and the next
 * core's isolate budget allow; k - 1 when it has been calm here for
 * retire_ns (only the owner lowers k); else k. ncores is the number of
 * cores; load[i] is core order[i]'s snapshot, i <= k (i < ncores). Pure.
 *
 * Why the first replica waits longer: a replica's birth costs its core a
 * cold start (about 2 ms, as long as replicate_ns), which delays every
 * tenant queued behind it there; from a fresh start every core is a
 * backlog of cold starts, then of the requests that queued behind them.
 * Growing at once would turn each birth into more (a chain reaction over
 * the cores). A first replica is an isolate for as long as the tenant
 * lives: it is given to a tenant whose waits have lasted sustain_ns (25
 * cold starts), which a one-off backlog does not, or whose owner (its only
 * replica) is inside a long entry (seen, not inferred), and never in the
 * first first_gap_ns. Once a tenant has a replica it is known to be loaded
 * and grows every grow_gap_ns without its delay having to last, so one that
 * needs 64 cores has them within a third of a second, not 3 s.
 */
unsigned ic__place_decide(const ic__place_params_t *p, const ic__place_tenant_t *t, const uint16_t *order, unsigned k,
                          unsigned self, unsigned ncores, const ic__place_load_t *load, uint64_t now);

#ifdef __cplusplus
}
#endif

#endif
