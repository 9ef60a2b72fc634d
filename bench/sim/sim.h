/*
 * sim.h: a discrete-event simulation of N isocore cores placing tenants'
 * requests with the router's own placement code (router/placement.h).
 *
 * The model (bench/sim/README.md has it at length, with where each figure
 * comes from). Each core is a FIFO server that runs one job at a time to
 * completion, as a reactor runs a JS entry: nothing on a core preempts
 * anything. Requests arrive open loop (Poisson) on a core picked uniformly
 * (SO_REUSEPORT); or, with conns, as icload sends them: on a pool of
 * connections, each on a random core, a request going out on the next free
 * one (a client thus steers around a stalled core once its connections
 * there are all waiting). Heavy requests (bimodal) are their own stream. The arrival core parses a request and places it when it
 * gets to it (so a request that lands on a core inside a long entry waits,
 * whatever the policy); a request placed on its arrival core runs there in
 * the same job (parse, run, write); one placed elsewhere costs a send job
 * on the arrival core, a run job on the running core (receive, run, reply)
 * and an answer job on the arrival core (the response written). The first
 * run of a tenant on a core costs an isolate's cold start, once per
 * (tenant, core); isolates are never evicted. Backpressure as the router's:
 * a request whose hop would pass inflight_per_pair requests in flight
 * between the two cores is answered 503 by the arrival core (the router's
 * queue_per_tenant counts a worker's pending async requests, which a
 * synchronous handler never has, so it is not modelled).
 *
 * Policies: sticky (the tenant's owner, order[0] of ic__place_order),
 * spread (the arrival core), adaptive (ic__place_decide on the arrival
 * core before it picks, ic__place_pick, ic__place_observe and
 * ic__place_decide again on the running core when the run starts; loads
 * are read as they are, or as published every stale_ns).
 *
 * Everything is integer nanoseconds and seeded generators: a run is a
 * pure function of its config. The arrivals (times, tenants, cores) have a
 * generator of their own and adaptive's picks another, so that every
 * policy of one seed sees the same requests (common random numbers: the
 * policies' figures differ by what they do, not by the draw).
 */
#ifndef ISOCORE_BENCH_SIM_H
#define ISOCORE_BENCH_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "router/placement.h"

typedef enum { SIM_STICKY, SIM_SPREAD, SIM_ADAPTIVE } sim_policy_t;
typedef enum { SIM_UNIFORM, SIM_ZIPF, SIM_HOT, SIM_BIMODAL } sim_kind_t;

/* CPU costs on a core, nanoseconds (defaults and sources: sim_costs_init, README). */
typedef struct sim_costs {
    uint64_t http_ns;        /* parsing a request and writing its response, on the arrival core */
    uint64_t js_ns;          /* running a cheap request in its warm isolate (in process, no HTTP) */
    uint64_t fwd_arrival_ns; /* a forwarded request on its arrival core: send, take the answer back, free */
    uint64_t fwd_running_ns; /* a forwarded cheap request on its running core: receive, run (js_ns), reply */
    uint64_t cold_ns;        /* an isolate's cold start, once per (tenant, core) */
    uint64_t heavy_ns;       /* a heavy request's run, in place of js_ns */
} sim_costs_t;

/* The load. */
typedef struct sim_workload {
    sim_kind_t kind;
    unsigned tenants;     /* uniform, bimodal: uniform over these; zipf, hot: over these too */
    double zipf_s;        /* zipf: P(tenant rank i) ∝ 1 / i^s */
    double hot_share;     /* hot: tenant 0 gets this share, the rest uniform over the others */
    double heavy_share;   /* bimodal: a request is heavy with this probability */
    double rate_per_core; /* arrivals per second per core (all cores: n times this) */
} sim_workload_t;

typedef struct sim_config {
    unsigned cores;
    sim_policy_t policy;
    sim_workload_t load;
    sim_costs_t cost;
    ic__place_params_t place; /* adaptive's knobs (ic__place_params_init) */
    uint64_t stale_ns;        /* adaptive: loads published every stale_ns (0: read as they are) */
    uint64_t seconds_ns;      /* arrivals stop here; queued work then drains */
    uint64_t warmup_ns;       /* latencies of requests that arrived before are not recorded */
    uint64_t seed;
    unsigned inflight_per_pair; /* router default 1024 */
    unsigned conns;             /* the client's connections, each on a random core, one request at a time (0: none, each
                                   request lands on a random core) */
    unsigned heavy_conns;       /* bimodal: the heavy requests' own connections (0: they share conns) */
    bool fixed_interval;        /* requests due at fixed intervals (icload -R) instead of Poisson arrivals */
    bool observe_excl_cold;     /* adaptive: the delay fed to ic__place_observe leaves out the time the request waited
                                   behind other tenants' cold starts (a caller-side variant, not what the router does) */
    bool shared_rng;            /* one generator for the arrivals and adaptive's picks, as before 2026-12-02e (--old): the
                                   policies of one seed then see different requests */
    bool prewarm;               /* start with the isolates the policy keeps warm at k = 1 (sticky, adaptive: each tenant's
                                   owner; spread: every core), as after a long run; else from none (a fresh start) */
} sim_config_t;

/* A log-linear histogram of nanoseconds: 64 buckets per power of two (quantiles within 1.6 %). */
#define SIM_HIST_BUCKETS (59 * 64)
typedef struct sim_hist {
    uint64_t n, sum, max;
    uint64_t b[SIM_HIST_BUCKETS];
} sim_hist_t;

void sim_hist_add(sim_hist_t *h, uint64_t v);
/* The share of the values above v (counted by bucket: those in v's bucket count as not above). */
double sim_hist_share_above(const sim_hist_t *h, uint64_t v);
/* The q-quantile (0 < q <= 1): the upper edge of the bucket holding it, or max if smaller; 0 when empty. */
uint64_t sim_hist_quantile(const sim_hist_t *h, double q);

typedef struct sim_result {
    uint64_t arrived, done, rejected; /* rejected: answered 503 (backpressure), not in the histograms */
    uint64_t forwarded;               /* done requests that ran on another core than they arrived on */
    sim_hist_t cheap, heavy;          /* latency (arrival to response written) of requests arrived after warm-up */
    uint64_t cpu_ns, cold_cpu_ns;     /* CPU of all cores over the run; of which isolate cold starts */
    uint64_t end_ns;                  /* simulated time when the last job finished */
    unsigned isolates;                /* warm (tenant, core) pairs at the end (none is evicted: also the peak) */
    unsigned isolates_max_core;       /* the most on one core */
    uint64_t births, retirements;     /* adaptive: k raised, k lowered */
    unsigned k_max;                   /* adaptive: the highest k of a tenant */
    double little_l, little_lw;       /* mean requests in the system (time average), and λ·W over the same run */
    uint64_t events;
} sim_result_t;

/* Fills the defaults of sim_costs_t (the measured figures; README). */
void sim_costs_init(sim_costs_t *c);
/*
 * The costs and adaptive's knobs of bench/results/2026-12-02-sim.md (before
 * the quiet-machine figures and the policy fixes of 2026-12-02b-sim.md):
 * with both, placement.c behaves as it did then (grow and first gap 50 ms,
 * no isolate budget, every queue delay counts), so those tables reproduce.
 */
void sim_costs_old(sim_costs_t *c);
void sim_params_old(ic__place_params_t *p);
/* A config with every default: 2 cores, sticky, uniform over 100 tenants at 30,000/s per core, 3 s after 0.5 s. */
void sim_config_init(sim_config_t *cfg);

/*
 * Runs cfg to the end and fills res (which it zeroes first; large: give it
 * static or heap memory). 0, -EINVAL for a bad config (no cores, more than
 * IC_MAX_CORES, no tenants, no rate), -ENOMEM.
 */
int sim_run(const sim_config_t *cfg, sim_result_t *res);

/* The workload's tenant sampler (workload.c). */
typedef struct sim_sampler {
    const sim_workload_t *w;
    double *cdf; /* zipf: cumulative shares by rank; NULL otherwise */
} sim_sampler_t;

int sim_sampler_init(sim_sampler_t *s, const sim_workload_t *w);
void sim_sampler_free(sim_sampler_t *s);
/* A tenant (0 .. tenants-1) for the uniform number u in [0, 1). */
unsigned sim_sampler_tenant(const sim_sampler_t *s, double u);

/* The generator: splitmix64 (one 64-bit word of state). */
static inline uint64_t sim_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform double in [0, 1). */
static inline double sim_unit(uint64_t *state)
{
    return (double)(sim_rand(state) >> 11) * 0x1.0p-53;
}

const char *sim_policy_name(sim_policy_t p);
const char *sim_kind_name(sim_kind_t k);

#endif
