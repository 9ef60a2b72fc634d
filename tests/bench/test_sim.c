/*
 * test_sim.c: the placement simulator (bench/sim/): a run is a pure
 * function of its config and seed; its bookkeeping adds up (CPU per job
 * kind, Little's law, no latency below a request's own service time); and
 * the policies place as they say: sticky runs a lone tenant on one core of
 * two (half the requests forwarded, one isolate), spread never forwards,
 * adaptive replicates a tenant whose owner sits in a long entry, and a
 * fresh start (a backlog of cold starts) does not make it replicate every
 * tenant, as it did with the knobs of 2026-12-02-sim.md (sim_params_old).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sim/sim.h"

/* Results are large (two histograms): on the heap. */
static sim_result_t *t_run(const sim_config_t *cfg)
{
    sim_result_t *r = malloc(sizeof(*r));
    cr_assert_not_null(r);
    cr_assert_eq(sim_run(cfg, r), 0);
    return r;
}

/* A short run: 2 cores, 0.5 s at 10,000/s per core, no warm-up. */
static void t_config(sim_config_t *cfg, sim_policy_t pol, sim_kind_t kind, unsigned tenants)
{
    sim_config_init(cfg);
    cfg->policy = pol;
    cfg->load.kind = kind;
    cfg->load.tenants = tenants;
    cfg->load.rate_per_core = 10000;
    cfg->seconds_ns = 500000000ull;
    cfg->warmup_ns = 0;
}

Test(sim, same_seed_same_run_other_seed_other_run)
{
    sim_config_t cfg;
    t_config(&cfg, SIM_ADAPTIVE, SIM_BIMODAL, 3);
    cfg.load.heavy_share = 1e-3;
    sim_result_t *a = t_run(&cfg), *b = t_run(&cfg);
    cr_assert_eq(memcmp(a, b, sizeof(*a)), 0, "two runs of one config differ");
    cfg.seed = 2;
    sim_result_t *c = t_run(&cfg);
    cr_assert(a->arrived != c->arrived || memcmp(&a->cheap, &c->cheap, sizeof(a->cheap)) != 0, "another seed gave the same run");
    free(a);
    free(b);
    free(c);
}

Test(sim, sticky_lone_tenant_on_two_cores_forwards_half)
{
    sim_config_t cfg;
    t_config(&cfg, SIM_STICKY, SIM_UNIFORM, 1);
    sim_result_t *r = t_run(&cfg);
    cr_assert_gt(r->done, 9000);
    cr_assert_eq(r->rejected, 0);
    double share = (double)r->forwarded / (double)r->done;
    cr_assert(share > 0.45 && share < 0.55, "forwarded share %.3f", share);
    cr_assert_eq(r->isolates, 1);
    free(r);
}

Test(sim, spread_never_forwards_and_warms_every_pair)
{
    sim_config_t cfg;
    t_config(&cfg, SIM_SPREAD, SIM_UNIFORM, 10);
    sim_result_t *r = t_run(&cfg);
    cr_assert_eq(r->forwarded, 0);
    cr_assert_eq(r->isolates, 20, "isolates %u", r->isolates);
    cr_assert_eq(r->isolates_max_core, 10);
    free(r);
}

/* CPU adds up to the jobs' costs: local requests, forwarded ones, and one cold start per isolate. */
Test(sim, cpu_is_the_sum_of_the_costs)
{
    for (int p = 0; p < 2; p++) {
        sim_config_t cfg;
        t_config(&cfg, p ? SIM_STICKY : SIM_SPREAD, SIM_UNIFORM, 4);
        sim_result_t *r = t_run(&cfg);
        const sim_costs_t *k = &cfg.cost;
        uint64_t local = r->done - r->forwarded;
        uint64_t want = local * (k->http_ns + k->js_ns) + r->forwarded * (k->http_ns + k->fwd_arrival_ns + k->fwd_running_ns) +
                        r->isolates * k->cold_ns + r->rejected * k->http_ns;
        cr_assert_eq(r->cpu_ns, want, "%s: cpu %llu, costs add to %llu", p ? "sticky" : "spread", (unsigned long long)r->cpu_ns,
                     (unsigned long long)want);
        cr_assert_eq(r->cold_cpu_ns, r->isolates * k->cold_ns);
        free(r);
    }
}

/* L = λW over the run: the time integral of requests in the system against each request's own time in it. */
Test(sim, littles_law)
{
    sim_config_t cfg;
    t_config(&cfg, SIM_ADAPTIVE, SIM_ZIPF, 50);
    cfg.load.rate_per_core = 50000;
    sim_result_t *r = t_run(&cfg);
    cr_assert_gt(r->little_l, 0);
    double rel = (r->little_l - r->little_lw) / r->little_l;
    cr_assert(rel < 1e-6 && rel > -1e-6, "L %.6f, λW %.6f", r->little_l, r->little_lw);
    cr_assert_eq(r->arrived, r->done + r->rejected, "every request that arrived left");
    free(r);
}

/* No request is faster than its own service: a local cheap one costs http + js, a forwarded one more. */
Test(sim, no_latency_below_the_service_time)
{
    sim_config_t cfg;
    t_config(&cfg, SIM_STICKY, SIM_UNIFORM, 2);
    sim_result_t *r = t_run(&cfg);
    cr_assert_geq(sim_hist_quantile(&r->cheap, 0.001), cfg.cost.http_ns + cfg.cost.js_ns);
    cr_assert_geq(r->cheap.max, cfg.cost.cold_ns, "the first request waited for a cold start");
    free(r);
}

/* A heavy request on the owner of a lone tenant: adaptive gives it a second replica, sticky never does. */
Test(sim, adaptive_replicates_behind_a_long_entry)
{
    sim_config_t cfg;
    t_config(&cfg, SIM_ADAPTIVE, SIM_BIMODAL, 1);
    cfg.load.heavy_share = 1e-3; /* about 10 heavy requests in the run */
    cfg.cost.heavy_ns = 20000000;
    sim_result_t *r = t_run(&cfg);
    cr_assert_geq(r->births, 1);
    cr_assert_eq(r->k_max, 2);
    cr_assert_eq(r->isolates, 2);
    cr_assert_gt(r->heavy.n, 0);
    free(r);
    cfg.policy = SIM_STICKY;
    r = t_run(&cfg);
    cr_assert_eq(r->births, 0);
    cr_assert_eq(r->isolates, 1);
    free(r);
}

/*
 * From no isolates, 100 tenants on 2 cores: every core first runs 50 cold starts (100 ms) while requests queue behind
 * them. That is no load a replica would take (it adds a cold start), and adaptive keeps sticky's one isolate per tenant;
 * with the earlier knobs (every delay counted, no wait for it to last) the backlog gave every tenant a second one.
 */
Test(sim, a_fresh_start_is_no_reason_to_replicate)
{
    sim_config_t cfg;
    t_config(&cfg, SIM_ADAPTIVE, SIM_UNIFORM, 100);
    cfg.load.rate_per_core = 30000;
    cfg.seconds_ns = 1000000000ull;
    cfg.place.isolate_budget = ic__place_budget(100, 2);
    sim_result_t *r = t_run(&cfg);
    cr_assert_eq(r->isolates, 100, "%u isolates for 100 tenants (%llu births)", r->isolates, (unsigned long long)r->births);
    free(r);
    sim_params_old(&cfg.place);
    r = t_run(&cfg);
    cr_assert_gt(r->isolates, 150, "the earlier knobs no longer replicate at a fresh start: the test shows nothing");
    free(r);
}

/* A client with one connection never has two requests at the server: no one queues behind another of its own. */
Test(sim, one_connection_one_request_at_a_time)
{
    sim_config_t cfg;
    t_config(&cfg, SIM_SPREAD, SIM_UNIFORM, 1);
    cfg.conns = 1;
    cfg.load.rate_per_core = 100; /* 200/s: the connection is mostly idle */
    cfg.fixed_interval = true;
    sim_result_t *r = t_run(&cfg);
    cr_assert_gt(r->done, 90);
    /* After the cold start, each request is alone at its core: its service time (within the histogram's 1/64 buckets). */
    uint64_t svc = cfg.cost.http_ns + cfg.cost.js_ns, p90 = sim_hist_quantile(&r->cheap, 0.9);
    cr_assert(p90 >= svc && p90 <= svc + svc / 64, "p90 %llu, service %llu", (unsigned long long)p90, (unsigned long long)svc);
    cr_assert_eq(sim_hist_quantile(&r->cheap, 0.01) <= svc + svc / 64, true);
    free(r);
}

Test(sim, bad_configs)
{
    sim_config_t cfg;
    sim_result_t *r = malloc(sizeof(*r));
    cr_assert_not_null(r);
    t_config(&cfg, SIM_STICKY, SIM_UNIFORM, 1);
    cfg.cores = 0;
    cr_assert_eq(sim_run(&cfg, r), -EINVAL);
    cfg.cores = 100000;
    cr_assert_eq(sim_run(&cfg, r), -EINVAL);
    t_config(&cfg, SIM_STICKY, SIM_UNIFORM, 0);
    cr_assert_eq(sim_run(&cfg, r), -EINVAL);
    t_config(&cfg, SIM_STICKY, SIM_ZIPF, 10);
    cfg.load.zipf_s = 0;
    cr_assert_eq(sim_run(&cfg, r), -EINVAL);
    free(r);
}

Test(sim, histogram_quantiles_within_their_bucket)
{
    sim_hist_t *h = calloc(1, sizeof(*h));
    cr_assert_not_null(h);
    for (uint64_t v = 1; v <= 100000; v++)
        sim_hist_add(h, v * 1000);
    uint64_t p50 = sim_hist_quantile(h, 0.5), p99 = sim_hist_quantile(h, 0.99);
    cr_assert(p50 >= 50000000 && p50 <= 50000000 * 1.016, "p50 %llu", (unsigned long long)p50);
    cr_assert(p99 >= 99000000 && p99 <= 99000000 * 1.016, "p99 %llu", (unsigned long long)p99);
    cr_assert_eq(sim_hist_quantile(h, 1.0), 100000000);
    double above = sim_hist_share_above(h, 90000000); /* 10 % of the values are above 90 ms, within a bucket */
    cr_assert(above > 0.09 && above <= 0.10, "share above %.4f", above);
    free(h);
}
