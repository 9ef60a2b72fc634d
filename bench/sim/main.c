/*
 * bench/sim/main.c: isosim, the placement simulator's command line
 * (bench/sim/README.md). Runs workloads × core counts × policies side by
 * side with one seed and prints markdown tables (or --json): cheap and
 * heavy latency quantiles, isolates, CPU per request, forwarded share,
 * replica births; then the goals as ratios. A benchmark: it prints
 * figures and never decides pass or fail.
 *
 *   isosim [--cores 2,16,64] [--policies sticky,spread,adaptive]
 *          [--workloads uniform,zipf,hot,bimodal] [--seconds S] [--warmup S]
 *          [--rate R] [--tenants T] [--heavy-ms MS] [--heavy-share P]
 *          [--cold-us US] [--stale-us US] [--replicate-us US] [--shed-us US]
 *          [--grow-gap-ms MS] [--hop-ns NS] [--http-ns NS] [--slowdown F]
 *          [--isolate-budget N] [--first-gap-ms MS] [--sustain-ms MS] [--work-min F]
 *          [--old-costs] [--old-policy] [--old]
 *          [--conns C] [--heavy-conns C]
 *          [--fixed] [--prewarm] [--observe-excl-cold] [--seed N] [--json]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/sim/sim.h"

#define MAXLIST 8

struct opts {
    unsigned cores[MAXLIST], ncores;
    sim_policy_t pol[3];
    unsigned npol;
    sim_kind_t kind[4];
    unsigned nkind;
    double slowdown, http_ns;
    double seconds, warmup, rate, heavy_ms, heavy_share, cold_us, stale_us, replicate_us, shed_us, grow_gap_ms, hop_ns;
    double first_gap_ms, sustain_ms, work_min;
    long tenants, conns, heavy_conns, budget;
    bool fixed, prewarm, excl_cold, old_costs, old_policy;
    uint64_t seed;
    bool json;
};

/* One run and its result (results are large: on the heap). */
struct run {
    sim_config_t cfg;
    sim_result_t *res;
    double wall_s;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: isosim [--cores 2,16,64] [--policies sticky,spread,adaptive] [--workloads uniform,zipf,hot,bimodal]\n"
               "              [--seconds S] [--warmup S] [--rate R/s per core] [--tenants T] [--heavy-ms MS] [--heavy-share P]\n"
               "              [--cold-us US] [--stale-us US] [--replicate-us US] [--shed-us US] [--grow-gap-ms MS] [--hop-ns NS]\n"
               "              [--http-ns NS] [--slowdown F] [--isolate-budget N] [--first-gap-ms MS] [--sustain-ms MS]\n"
               "              [--work-min F] [--old-costs] [--old-policy] [--old]\n"
               "              [--conns C] [--heavy-conns C] [--fixed] [--prewarm] [--observe-excl-cold]\n"
               "              [--seed N] [--json]\n");
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = v ? strtod(v, &end) : 0;
    if (!v || errno || end == v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "isosim: %s needs a number in [%g, %g], got %s\n", opt, lo, hi, v ? v : "nothing");
        return -EINVAL;
    }
    *out = d;
    return 0;
}

/* A comma-separated list of names (index in names[] per item). */
static int parse_names(const char *opt, const char *v, const char *const *names, unsigned nnames, unsigned *out, unsigned *n)
{
    *n = 0;
    if (!v) {
        fprintf(stderr, "isosim: %s needs a list\n", opt);
        return -EINVAL;
    }
    const char *p = v;
    while (*p) {
        size_t len = strcspn(p, ",");
        unsigned i;
        for (i = 0; i < nnames; i++)
            if (strlen(names[i]) == len && !strncmp(p, names[i], len))
                break;
        if (i == nnames || *n == nnames) {
            fprintf(stderr, "isosim: %s: unknown or repeated name '%.*s'\n", opt, (int)len, p);
            return -EINVAL;
        }
        out[(*n)++] = i;
        p += len;
        if (*p == ',')
            p++;
    }
    return *n ? 0 : -EINVAL;
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const char *const pols[] = {"sticky", "spread", "adaptive"};
    static const char *const kinds[] = {"uniform", "zipf", "hot", "bimodal"};
    *o = (struct opts){.cores = {2, 16, 64},
                       .ncores = 3,
                       .pol = {SIM_STICKY, SIM_SPREAD, SIM_ADAPTIVE},
                       .npol = 3,
                       .kind = {SIM_UNIFORM, SIM_ZIPF, SIM_HOT, SIM_BIMODAL},
                       .nkind = 4,
                       .seconds = -1,
                       .warmup = -1,
                       .rate = -1,
                       .heavy_ms = -1,
                       .heavy_share = -1,
                       .cold_us = -1,
                       .stale_us = 0,
                       .replicate_us = -1,
                       .shed_us = -1,
                       .grow_gap_ms = -1,
                       .first_gap_ms = -1,
                       .sustain_ms = -1,
                       .work_min = -1,
                       .hop_ns = -1,
                       .slowdown = 1,
                       .http_ns = -1,
                       .tenants = -1,
                       .conns = -1,
                       .budget = -1,
                       .heavy_conns = -1,
                       .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        int ret = 0;
        if (!strcmp(a, "--json")) {
            o->json = true;
            continue;
        }
        if (!strcmp(a, "--fixed")) {
            o->fixed = true;
            continue;
        }
        if (!strcmp(a, "--observe-excl-cold")) {
            o->excl_cold = true;
            continue;
        }
        if (!strcmp(a, "--old") || !strcmp(a, "--old-costs") || !strcmp(a, "--old-policy")) {
            /* --old: both; the tables of bench/results/2026-12-02-sim.md come back with it. */
            o->old_costs |= strcmp(a, "--old-policy") != 0;
            o->old_policy |= strcmp(a, "--old-costs") != 0;
            continue;
        }
        if (!strcmp(a, "--prewarm")) {
            o->prewarm = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        i++;
        if (!strcmp(a, "--cores")) {
            o->ncores = 0;
            for (const char *p = v; p && *p;) {
                char *end;
                long c = strtol(p, &end, 10);
                if (end == p || c < 1 || c > 256 || o->ncores == MAXLIST || (*end && *end != ',')) {
                    fprintf(stderr, "isosim: --cores needs a list of 1..256 (at most %d), got %s\n", MAXLIST, v);
                    return -EINVAL;
                }
                o->cores[o->ncores++] = (unsigned)c;
                p = *end ? end + 1 : end;
            }
            if (!o->ncores) {
                fprintf(stderr, "isosim: --cores needs a list\n");
                return -EINVAL;
            }
        } else if (!strcmp(a, "--policies")) {
            unsigned idx[3];
            ret = parse_names(a, v, pols, 3, idx, &o->npol);
            for (unsigned j = 0; j < o->npol; j++)
                o->pol[j] = (sim_policy_t)idx[j];
        } else if (!strcmp(a, "--workloads")) {
            unsigned idx[4];
            ret = parse_names(a, v, kinds, 4, idx, &o->nkind);
            for (unsigned j = 0; j < o->nkind; j++)
                o->kind[j] = (sim_kind_t)idx[j];
        } else if (!strcmp(a, "--seconds")) {
            ret = parse_num(a, v, 0.001, 3600, &o->seconds);
        } else if (!strcmp(a, "--warmup")) {
            ret = parse_num(a, v, 0, 3600, &o->warmup);
        } else if (!strcmp(a, "--rate")) {
            ret = parse_num(a, v, 1, 1e8, &o->rate);
        } else if (!strcmp(a, "--tenants")) {
            ret = parse_num(a, v, 1, 1e6, &d);
            o->tenants = (long)d;
        } else if (!strcmp(a, "--isolate-budget")) {
            ret = parse_num(a, v, 0, 1e6, &d);
            o->budget = (long)d;
        } else if (!strcmp(a, "--conns")) {
            ret = parse_num(a, v, 0, 65535, &d);
            o->conns = (long)d;
        } else if (!strcmp(a, "--heavy-conns")) {
            ret = parse_num(a, v, 0, 65535, &d);
            o->heavy_conns = (long)d;
        } else if (!strcmp(a, "--slowdown")) {
            ret = parse_num(a, v, 0.01, 1000, &o->slowdown);
        } else if (!strcmp(a, "--http-ns")) {
            ret = parse_num(a, v, 0, 1e9, &o->http_ns);
        } else if (!strcmp(a, "--heavy-ms")) {
            ret = parse_num(a, v, 0, 1e5, &o->heavy_ms);
        } else if (!strcmp(a, "--heavy-share")) {
            ret = parse_num(a, v, 0, 1, &o->heavy_share);
        } else if (!strcmp(a, "--cold-us")) {
            ret = parse_num(a, v, 0, 1e7, &o->cold_us);
        } else if (!strcmp(a, "--stale-us")) {
            ret = parse_num(a, v, 0, 1e7, &o->stale_us);
        } else if (!strcmp(a, "--replicate-us")) {
            ret = parse_num(a, v, 1, 1e8, &o->replicate_us);
        } else if (!strcmp(a, "--shed-us")) {
            ret = parse_num(a, v, 1, 1e8, &o->shed_us);
        } else if (!strcmp(a, "--grow-gap-ms")) {
            ret = parse_num(a, v, 0, 1e6, &o->grow_gap_ms);
        } else if (!strcmp(a, "--first-gap-ms")) {
            ret = parse_num(a, v, 0, 1e6, &o->first_gap_ms);
        } else if (!strcmp(a, "--sustain-ms")) {
            ret = parse_num(a, v, 0, 1e6, &o->sustain_ms);
        } else if (!strcmp(a, "--work-min")) {
            ret = parse_num(a, v, 0, 1, &o->work_min);
        } else if (!strcmp(a, "--hop-ns")) {
            ret = parse_num(a, v, 0, 1e9, &o->hop_ns);
        } else if (!strcmp(a, "--seed")) {
            ret = parse_num(a, v, 0, 1e18, &d);
            o->seed = (uint64_t)d;
        } else {
            fprintf(stderr, "isosim: unknown option %s\n", a);
            usage(stderr);
            return -EINVAL;
        }
        if (ret < 0)
            return ret;
    }
    return 0;
}

/* The config of one run: the workload's defaults, then the options. */
static void config_of(const struct opts *o, sim_kind_t kind, unsigned cores, sim_policy_t pol, sim_config_t *c)
{
    sim_config_init(c);
    if (o->old_costs)
        sim_costs_old(&c->cost);
    if (o->old_policy)
        sim_params_old(&c->place);
    c->shared_rng = o->old_costs || o->old_policy; /* the runs of then drew the picks from the arrivals' generator */
    c->cores = cores;
    c->policy = pol;
    c->load.kind = kind;
    c->seed = o->seed;
    double secs = 3, warm = 0.5;
    switch (kind) {
    case SIM_UNIFORM:
        c->load.tenants = 100;
        break;
    case SIM_ZIPF:
    case SIM_HOT:
        c->load.tenants = 1000;
        break;
    case SIM_BIMODAL:
        /* bench/bimodal.sh: one tenant ("app"), 10,000 cheap/s on 2 cores and 1 heavy/s, 10 s after 1 s of warm-up. */
        c->load.tenants = 1;
        c->load.rate_per_core = 5000;
        secs = 11;
        warm = 1;
        break;
    }
    if (o->seconds > 0)
        secs = o->seconds;
    if (o->warmup >= 0)
        warm = o->warmup;
    c->seconds_ns = (uint64_t)(secs * 1e9);
    c->warmup_ns = (uint64_t)(warm * 1e9);
    if (c->warmup_ns >= c->seconds_ns)
        c->warmup_ns = 0; /* else nothing would be recorded: a run shorter than the warm-up records everything */
    if (o->rate > 0)
        c->load.rate_per_core = o->rate;
    if (o->tenants > 0)
        c->load.tenants = (unsigned)o->tenants;
    if (o->budget >= 0)
        c->place.isolate_budget = (unsigned)o->budget;
    else if (!o->old_policy)
        c->place.isolate_budget = ic__place_budget(c->load.tenants, cores); /* the router's default (router/adaptive.c) */
    if (o->conns >= 0)
        c->conns = (unsigned)o->conns;
    if (o->heavy_conns >= 0)
        c->heavy_conns = (unsigned)o->heavy_conns;
    c->fixed_interval = o->fixed;
    c->prewarm = o->prewarm;
    c->observe_excl_cold = o->excl_cold;
    if (o->heavy_ms >= 0)
        c->cost.heavy_ns = (uint64_t)(o->heavy_ms * 1e6);
    if (o->heavy_share >= 0)
        c->load.heavy_share = o->heavy_share;
    if (o->cold_us >= 0)
        c->cost.cold_ns = (uint64_t)(o->cold_us * 1e3);
    if (o->http_ns >= 0)
        c->cost.http_ns = (uint64_t)o->http_ns;
    if (o->slowdown != 1) {
        /* Every cost times the factor: a machine whose CPUs this process gets only part of. */
        uint64_t *k[] = {&c->cost.http_ns,        &c->cost.js_ns,   &c->cost.fwd_arrival_ns,
                         &c->cost.fwd_running_ns, &c->cost.cold_ns, &c->cost.heavy_ns};
        for (unsigned i = 0; i < sizeof(k) / sizeof(k[0]); i++)
            *k[i] = (uint64_t)((double)*k[i] * o->slowdown);
    }
    c->stale_ns = (uint64_t)(o->stale_us * 1e3);
    if (o->replicate_us > 0) {
        c->place.replicate_ns = (uint64_t)(o->replicate_us * 1e3);
        c->place.calm_ns = c->place.replicate_ns / 8;
    }
    if (o->shed_us > 0)
        c->place.shed_ns = (uint64_t)(o->shed_us * 1e3);
    if (o->grow_gap_ms >= 0)
        c->place.grow_gap_ns = (uint64_t)(o->grow_gap_ms * 1e6);
    if (o->hop_ns >= 0)
        c->place.hop_ns = (uint64_t)o->hop_ns;
    if (o->first_gap_ms >= 0)
        c->place.first_gap_ns = (uint64_t)(o->first_gap_ms * 1e6);
    if (o->sustain_ms >= 0)
        c->place.sustain_ns = (uint64_t)(o->sustain_ms * 1e6);
    if (o->work_min >= 0)
        c->place.work_min = (unsigned)(o->work_min * IC__PLACE_ONE + 0.5);
}

static double us(uint64_t ns)
{
    return (double)ns / 1e3;
}

/* A latency for a table: µs below 10 ms, then ms (buf of 32). */
static const char *lat(uint64_t ns, char *buf)
{
    if (ns < 10000000)
        snprintf(buf, 32, "%.1f µs", (double)ns / 1e3);
    else
        snprintf(buf, 32, "%.1f ms", (double)ns / 1e6);
    return buf;
}

static double cpu_per_req(const sim_result_t *r)
{
    return r->done + r->rejected ? (double)r->cpu_ns / (double)(r->done + r->rejected) / 1e3 : 0;
}

static double cold_per_req(const sim_result_t *r)
{
    return r->done + r->rejected ? (double)r->cold_cpu_ns / (double)(r->done + r->rejected) / 1e3 : 0;
}

static void print_params(const sim_config_t *c, bool old, bool old_policy)
{
    const sim_costs_t *k = &c->cost;
    /* Where the figures come from: the quiet-machine run of 2026-12-02 03:20 UTC, or (--old) the earlier results. */
    const char *src_http = old ? "bench/js_http.sh hello, 1 core: 6.58 µs CPU/req (results/2026-11-23.md) minus js_ns"
                               : "HTTP hello over wrk, quiet machine (2026-12-02 03:20 UTC): 5.23 µs CPU/req minus js_ns";
    const char *src_router = old ? "results/2026-12-01-router.md" : "quiet machine, 2026-12-02 03:20 UTC";
    printf("## Parameters (measured on this machine; bench/sim/README.md)%s%s\n\n", old ? " — the costs of 2026-12-02-sim.md" : "",
           old_policy ? " — adaptive's knobs of 2026-12-02-sim.md" : "");
    printf("| parameter | value | source |\n|---|---:|---|\n");
    printf("| http_ns: HTTP parse + write, arrival core | %llu ns | %s |\n", (unsigned long long)k->http_ns, src_http);
    printf("| js_ns: a cheap request's run, warm isolate | %llu ns | bench_router local, saturation (%s) |\n",
           (unsigned long long)k->js_ns, src_router);
    printf("| fwd_arrival_ns: forwarded, arrival core (send, answer) | %llu ns | bench_router forwarded, core A (%s) |\n",
           (unsigned long long)k->fwd_arrival_ns, src_router);
    printf("| fwd_running_ns: forwarded, running core (receive, run, reply) | %llu ns | bench_router forwarded, core B (%s) |\n",
           (unsigned long long)k->fwd_running_ns, src_router);
    printf("| cold_ns: isolate cold start, once per (tenant, core) | %.2f ms | bench_js cold start with the snapshot, median "
           "(2026-11-23.md) |\n",
           (double)k->cold_ns / 1e6);
    printf("| heavy_ns: bimodal heavy request's run | %.1f ms | bench/bimodal.sh's heavy request, ≈ 18 ms of CPU (2026-11-23.md); "
           "44-46 ms on the loaded machine of 2026-12-02-sim.md |\n",
           (double)k->heavy_ns / 1e6);
    printf("| adaptive: replicate / calm / shed / hop / first gap / grow gap / retire | %.2f ms / %.2f ms / %.2f ms / %llu ns / "
           "%.0f ms / %.0f ms / %.0f s | ic__place_params_init (router/placement.c)%s |\n",
           (double)c->place.replicate_ns / 1e6, (double)c->place.calm_ns / 1e6, (double)c->place.shed_ns / 1e6,
           (unsigned long long)c->place.hop_ns, (double)c->place.first_gap_ns / 1e6, (double)c->place.grow_gap_ns / 1e6,
           (double)c->place.retire_ns / 1e9, old_policy ? ", --old-policy" : "");
    printf("| adaptive: isolate budget per core | %s | ic__place_budget: 2 ceil(tenants / cores) + 2, per run |\n",
           c->place.isolate_budget ? "2 ceil(tenants / cores) + 2, or --isolate-budget" : "none");
    printf("| adaptive: a first replica for queue delay after it lasted | %.0f ms | sustain_ns |\n",
           (double)c->place.sustain_ns / 1e6);
    printf("| adaptive: a delay counts when the core's work share is at least | %.2f | work_min |\n",
           (double)c->place.work_min / IC__PLACE_ONE);
    printf("| load staleness | %s | --stale-us |\n", c->stale_ns ? "published periodically" : "read as they are (0)");
    printf("| backpressure: forwarded requests in flight per core pair | %u | router default (router/config.c) |\n\n",
           c->inflight_per_pair);
}

static const char *describe(const sim_workload_t *w, char *buf, size_t len)
{
    switch (w->kind) {
    case SIM_UNIFORM:
        snprintf(buf, len, "uniform over %u tenants", w->tenants);
        break;
    case SIM_ZIPF:
        snprintf(buf, len, "Zipf s=%.2f over %u tenants", w->zipf_s, w->tenants);
        break;
    case SIM_HOT:
        snprintf(buf, len, "one tenant at %.0f %%, the rest uniform over %u tenants", w->hot_share * 100, w->tenants);
        break;
    default:
        snprintf(buf, len, "bimodal (seed 004): %.4f %% heavy, %u tenant(s)", w->heavy_share * 100, w->tenants);
        break;
    }
    return buf;
}

static void print_table(const struct run *runs, unsigned nruns, sim_kind_t kind)
{
    char d[128];
    bool header = false;
    for (unsigned i = 0; i < nruns; i++) {
        const sim_config_t *c = &runs[i].cfg;
        const sim_result_t *r = runs[i].res;
        if (c->load.kind != kind)
            continue;
        if (!header) {
            printf("## %s, %.0f req/s per core, %.1f s (latencies after %.1f s), %s\n\n", describe(&c->load, d, sizeof(d)),
                   c->load.rate_per_core, (double)c->seconds_ns / 1e9, (double)c->warmup_ns / 1e9,
                   c->prewarm ? "isolates prewarmed" : "from no isolates");
            printf("| cores | policy | cheap p50 | p99 | p99.9 | heavy p50 | heavy p99 | isolates | max/core | CPU/req | "
                   "of which cold | forwarded | births | k max | 503 | cheap > 1 ms |\n");
            printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            header = true;
        }
        double fwd = r->done ? 100.0 * (double)r->forwarded / (double)r->done : 0;
        double rej = r->arrived ? 100.0 * (double)r->rejected / (double)r->arrived : 0;
        char b1[32], b2[32], b3[32];
        printf("| %u | %s | %s | %s | %s |", c->cores, sim_policy_name(c->policy), lat(sim_hist_quantile(&r->cheap, 0.5), b1),
               lat(sim_hist_quantile(&r->cheap, 0.99), b2), lat(sim_hist_quantile(&r->cheap, 0.999), b3));
        if (r->heavy.n)
            printf(" %.1f ms | %.1f ms |", us(sim_hist_quantile(&r->heavy, 0.5)) / 1e3,
                   us(sim_hist_quantile(&r->heavy, 0.99)) / 1e3);
        else
            printf(" – | – |");
        printf(" %u | %u | %.2f µs | %.2f µs | %.1f %% | %llu | %u | %.2f %% | %.3f %% |\n", r->isolates, r->isolates_max_core,
               cpu_per_req(r), cold_per_req(r), fwd, (unsigned long long)r->births, r->k_max, rej,
               100 * sim_hist_share_above(&r->cheap, 1000000));
    }
    if (header)
        printf("\n");
}

static const struct run *find(const struct run *runs, unsigned nruns, sim_kind_t kind, unsigned cores, sim_policy_t pol)
{
    for (unsigned i = 0; i < nruns; i++)
        if (runs[i].cfg.load.kind == kind && runs[i].cfg.cores == cores && runs[i].cfg.policy == pol)
            return &runs[i];
    return NULL;
}

/* The goals, as ratios of runs made side by side (only where all three policies ran). */
static void print_goals(const struct run *runs, unsigned nruns, const struct opts *o)
{
    bool any = false;
    for (unsigned ci = 0; ci < o->ncores; ci++) {
        unsigned n = o->cores[ci];
        const struct run *st, *sp, *ad;
        if ((st = find(runs, nruns, SIM_BIMODAL, n, SIM_STICKY)) && (sp = find(runs, nruns, SIM_BIMODAL, n, SIM_SPREAD)) &&
            (ad = find(runs, nruns, SIM_BIMODAL, n, SIM_ADAPTIVE))) {
            if (!any)
                printf("## Goals (adaptive against sticky and spread, same run)\n\n| cores | workload | figure | sticky | spread | "
                       "adaptive | ratio | goal |\n|---:|---|---|---:|---:|---:|---:|---|\n");
            any = true;
            for (int qi = 0; qi < 2; qi++) {
                double q = qi ? 0.999 : 0.99;
                double a = (double)sim_hist_quantile(&ad->res->cheap, q), s = (double)sim_hist_quantile(&sp->res->cheap, q);
                char b1[32], b2[32], b3[32];
                printf("| %u | bimodal | cheap p%s | %s | %s | %s | adaptive/spread %.2f | %s |\n", n, qi ? "99.9" : "99",
                       lat(sim_hist_quantile(&st->res->cheap, q), b1), lat((uint64_t)s, b2), lat((uint64_t)a, b3), s ? a / s : 0,
                       qi ? "–" : (a <= 1.2 * s ? "≤ 1.2: met" : "≤ 1.2: NOT met"));
            }
            /* The share stuck behind heavy requests: what p99 measures, without its jump when the share crosses 1 %. */
            double fa = sim_hist_share_above(&ad->res->cheap, 1000000), fs = sim_hist_share_above(&sp->res->cheap, 1000000);
            printf("| %u | bimodal | cheap > 1 ms | %.3f %% | %.3f %% | %.3f %% | adaptive/spread %.2f | – |\n", n,
                   100 * sim_hist_share_above(&st->res->cheap, 1000000), 100 * fs, 100 * fa, fs ? fa / fs : 0);
        }
        if ((st = find(runs, nruns, SIM_UNIFORM, n, SIM_STICKY)) && (sp = find(runs, nruns, SIM_UNIFORM, n, SIM_SPREAD)) &&
            (ad = find(runs, nruns, SIM_UNIFORM, n, SIM_ADAPTIVE))) {
            if (!any)
                printf("## Goals (adaptive against sticky and spread, same run)\n\n| cores | workload | figure | sticky | spread | "
                       "adaptive | ratio | goal |\n|---:|---|---|---:|---:|---:|---:|---|\n");
            any = true;
            double ri = (double)ad->res->isolates / (double)st->res->isolates;
            printf("| %u | uniform | isolates | %u | %u | %u | adaptive/sticky %.2f | %s |\n", n, st->res->isolates,
                   sp->res->isolates, ad->res->isolates, ri, ri <= 1.1 ? "≤ 1.1: met" : "≤ 1.1: NOT met");
            double best = cpu_per_req(st->res) < cpu_per_req(sp->res) ? cpu_per_req(st->res) : cpu_per_req(sp->res);
            double rc = cpu_per_req(ad->res) / best;
            printf("| %u | uniform | CPU/req | %.2f µs | %.2f µs | %.2f µs | adaptive/best %.3f | %s |\n", n, cpu_per_req(st->res),
                   cpu_per_req(sp->res), cpu_per_req(ad->res), rc, rc <= 1.0 ? "≤ 1: met" : "≤ 1: NOT met");
        }
        for (int kk = 0; kk < 2; kk++) {
            sim_kind_t kind = kk ? SIM_HOT : SIM_ZIPF;
            if ((st = find(runs, nruns, kind, n, SIM_STICKY)) && (sp = find(runs, nruns, kind, n, SIM_SPREAD)) &&
                (ad = find(runs, nruns, kind, n, SIM_ADAPTIVE))) {
                if (!any)
                    printf("## Goals (adaptive against sticky and spread, same run)\n\n| cores | workload | figure | sticky | "
                           "spread | "
                           "adaptive | ratio | goal |\n|---:|---|---|---:|---:|---:|---:|---|\n");
                any = true;
                double a = (double)sim_hist_quantile(&ad->res->cheap, 0.99), s = (double)sim_hist_quantile(&sp->res->cheap, 0.99);
                char b1[32], b2[32], b3[32];
                printf("| %u | %s | p99 | %s | %s | %s | adaptive/spread %.2f | – |\n", n, sim_kind_name(kind),
                       lat(sim_hist_quantile(&st->res->cheap, 0.99), b1), lat((uint64_t)s, b2), lat((uint64_t)a, b3),
                       s ? a / s : 0);
                printf("| %u | %s | isolates | %u | %u | %u | adaptive/sticky %.2f | – |\n", n, sim_kind_name(kind),
                       st->res->isolates, sp->res->isolates, ad->res->isolates,
                       (double)ad->res->isolates / (double)st->res->isolates);
            }
        }
    }
    if (any)
        printf("\n");
}

static void print_json(const struct run *runs, unsigned nruns)
{
    printf("[");
    for (unsigned i = 0; i < nruns; i++) {
        const sim_config_t *c = &runs[i].cfg;
        const sim_result_t *r = runs[i].res;
        printf("%s\n{\"workload\": \"%s\", \"tenants\": %u, \"cores\": %u, \"policy\": \"%s\", \"rate_per_core\": %.0f, "
               "\"seconds\": %.3f, \"warmup\": %.3f, \"seed\": %llu, \"stale_ns\": %llu, \"conns\": %u, \"heavy_conns\": %u, "
               "\"fixed\": %s, \"prewarm\": %s,\n"
               " \"cost\": {\"http_ns\": %llu, \"js_ns\": %llu, \"fwd_arrival_ns\": %llu, \"fwd_running_ns\": %llu, \"cold_ns\": "
               "%llu, "
               "\"heavy_ns\": %llu},\n",
               i ? "," : "", sim_kind_name(c->load.kind), c->load.tenants, c->cores, sim_policy_name(c->policy),
               c->load.rate_per_core, (double)c->seconds_ns / 1e9, (double)c->warmup_ns / 1e9, (unsigned long long)c->seed,
               (unsigned long long)c->stale_ns, c->conns, c->heavy_conns, c->fixed_interval ? "true" : "false",
               c->prewarm ? "true" : "false", (unsigned long long)c->cost.http_ns, (unsigned long long)c->cost.js_ns,
               (unsigned long long)c->cost.fwd_arrival_ns, (unsigned long long)c->cost.fwd_running_ns,
               (unsigned long long)c->cost.cold_ns, (unsigned long long)c->cost.heavy_ns);
        printf(
            " \"arrived\": %llu, \"done\": %llu, \"rejected\": %llu, \"forwarded\": %llu, \"cpu_ns\": %llu, \"cold_cpu_ns\": %llu, "
            "\"cpu_per_req_ns\": %.1f, \"isolates\": %u, \"isolates_max_core\": %u, \"births\": %llu, \"retirements\": %llu, "
            "\"k_max\": %u, \"cheap_over_1ms\": %.6f, \"little_l\": %.4f, \"little_lw\": %.4f, \"events\": %llu, \"wall_s\": "
            "%.3f,\n",
            (unsigned long long)r->arrived, (unsigned long long)r->done, (unsigned long long)r->rejected,
            (unsigned long long)r->forwarded, (unsigned long long)r->cpu_ns, (unsigned long long)r->cold_cpu_ns,
            cpu_per_req(r) * 1e3, r->isolates, r->isolates_max_core, (unsigned long long)r->births,
            (unsigned long long)r->retirements, r->k_max, sim_hist_share_above(&r->cheap, 1000000), r->little_l, r->little_lw,
            (unsigned long long)r->events, runs[i].wall_s);
        const sim_hist_t *hs[2] = {&r->cheap, &r->heavy};
        for (int h = 0; h < 2; h++)
            printf(" \"%s_ns\": {\"n\": %llu, \"p50\": %llu, \"p99\": %llu, \"p99.9\": %llu, \"max\": %llu}%s",
                   h ? "heavy" : "cheap", (unsigned long long)hs[h]->n, (unsigned long long)sim_hist_quantile(hs[h], 0.5),
                   (unsigned long long)sim_hist_quantile(hs[h], 0.99), (unsigned long long)sim_hist_quantile(hs[h], 0.999),
                   (unsigned long long)hs[h]->max, h ? "}" : ",");
    }
    printf("\n]\n");
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0)
        return 2;
    unsigned nruns = o.nkind * o.ncores * o.npol, done = 0;
    struct run *runs = calloc(nruns, sizeof(*runs));
    if (!runs)
        return 1;
    int ret = 0;
    for (unsigned ki = 0; ki < o.nkind && !ret; ki++)
        for (unsigned ci = 0; ci < o.ncores && !ret; ci++)
            for (unsigned pi = 0; pi < o.npol && !ret; pi++) {
                struct run *r = &runs[done];
                config_of(&o, o.kind[ki], o.cores[ci], o.pol[pi], &r->cfg);
                r->res = malloc(sizeof(*r->res));
                if (!r->res) {
                    ret = -ENOMEM;
                    break;
                }
                done++;
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                ret = sim_run(&r->cfg, r->res);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                r->wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
                if (ret < 0)
                    fprintf(stderr, "isosim: %s, %u cores, %s: %s\n", sim_kind_name(o.kind[ki]), o.cores[ci],
                            sim_policy_name(o.pol[pi]), strerror(-ret));
            }
    if (!ret) {
        if (o.json) {
            print_json(runs, done);
        } else {
            double wall = 0;
            for (unsigned i = 0; i < done; i++)
                wall += runs[i].wall_s;
            printf("# isosim — seed %llu, %u runs in %.1f s\n\n", (unsigned long long)o.seed, done, wall);
            print_params(&runs[0].cfg, o.old_costs, o.old_policy);
            for (unsigned ki = 0; ki < o.nkind; ki++)
                print_table(runs, done, o.kind[ki]);
            print_goals(runs, done, &o);
        }
    }
    for (unsigned i = 0; i < done; i++)
        free(runs[i].res);
    free(runs);
    return ret < 0 ? 1 : 0;
}
