/*
 * metrics.c: the router's counters and latency histograms, and the admin
 * listener's /metrics (Prometheus text format).
 *
 * Every counter is written by its own core only (STAT_ADD) and read relaxed
 * by the admin handler on whatever core it runs: a scrape sees each counter
 * as of some recent moment, never a torn value.
 */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/internal.h"

/* Bucket b covers [lo(b), lo(b + 1)). */
static unsigned lat_bucket(uint64_t us)
{
    if (us < 1)
        return 0;
    unsigned octave = 63u - (unsigned)__builtin_clzll(us);
    unsigned sub = octave >= 2 ? (unsigned)((us >> (octave - 2)) & 3) : (unsigned)((us << (2 - octave)) & 3);
    unsigned b = octave * LAT_SUB + sub;
    return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

static double lat_upper_s(unsigned b)
{
    unsigned octave = b / LAT_SUB, sub = b % LAT_SUB;
    return ((double)(1ull << octave) * (1.0 + (sub + 1) / 4.0)) / 1e6;
}

void ic_router_stats(const ic_router_t *r, unsigned core, ic_router_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (core >= r->n)
        return;
    const ic_router_stats_t *s = r->cores[core].st;
    out->requests = __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
    out->local = __atomic_load_n(&s->local, __ATOMIC_RELAXED);
    out->forwarded_out = __atomic_load_n(&s->forwarded_out, __ATOMIC_RELAXED);
    out->forwarded_in = __atomic_load_n(&s->forwarded_in, __ATOMIC_RELAXED);
    out->rejected = __atomic_load_n(&s->rejected, __ATOMIC_RELAXED);
    out->not_found = __atomic_load_n(&s->not_found, __ATOMIC_RELAXED);
    out->isolates = __atomic_load_n(&s->isolates, __ATOMIC_RELAXED);
    out->isolates_created = __atomic_load_n(&s->isolates_created, __ATOMIC_RELAXED);
    out->heap_bytes = __atomic_load_n(&s->heap_bytes, __ATOMIC_RELAXED);
    out->services = __atomic_load_n(&s->services, __ATOMIC_RELAXED);
    /* Adaptive placement's counters live in the core's placement block (adaptive.c). */
    const struct ic__pcore *pc = &r->pl->cores[core];
    out->sheds = __atomic_load_n(&pc->sheds, __ATOMIC_RELAXED);
    out->replica_births = __atomic_load_n(&pc->births, __ATOMIC_RELAXED);
    out->replica_retirements = __atomic_load_n(&pc->deaths, __ATOMIC_RELAXED);
}

void ic__router_tally(struct tstats *t, int status)
{
    STAT_ADD(t->requests, 1);
    if (status < 400)
        STAT_ADD(t->ok, 1);
    else if (status < 500)
        STAT_ADD(t->client_err, 1);
    else if (status == 503)
        STAT_ADD(t->unavailable, 1);
    else if (status == 504)
        STAT_ADD(t->timeout, 1);
    else
        STAT_ADD(t->server_err, 1);
}

/* Records the latency of a request that arrived at t0 for tenant t, on this core. */
void ic__router_latency(ic_router_t *r, unsigned t, uint64_t t0)
{
    struct tstats *ts = r->cores[ic_reactor_id()].ts[t];
    unsigned b = lat_bucket((ic_clock_ns() - t0) / 1000);
    STAT_ADD(ts->lat[b], 1);
}

void ic__router_count(ic_router_t *r, unsigned t, int status, uint64_t t0)
{
    if (status > 0)
        ic__router_tally(r->cores[ic_reactor_id()].ts[t], status);
    if (t0)
        ic__router_latency(r, t, t0);
}

/* Appends printf output to a growing buffer. */
struct text {
    char *p;
    size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = t->p ? vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 8192;
        char *more = realloc(t->p, cap);
        if (!more)
            return;
        t->p = more;
        t->cap = cap;
    }
}

void ic_router_admin_handle(ic_http_exchange_t *x, void *arg)
{
    ic_router_t *r = arg;
    const ic_http_request_t *req = ic_http_request(x);
    static const char *const h[] = {"content-type: text/plain; version=0.0.4; charset=utf-8"};
    if (!(req->target.len >= 8 && memcmp(req->target.p, "/metrics", 8) == 0 && (req->target.len == 8 || req->target.p[8] == '?'))) {
        static const char msg[] = "Not Found: try /metrics\n";
        ic_http_respond(x, 404, h, 1, msg, sizeof(msg) - 1);
        return;
    }
    struct text t = {0};
    static const struct {
        const char *name, *help;
        size_t off;
    } core_fields[] = {
        {"isocore_requests_total", "Requests that arrived on the core.", offsetof(ic_router_stats_t, requests)},
        {"isocore_requests_local_total", "Requests run on the core they arrived on.", offsetof(ic_router_stats_t, local)},
        {"isocore_forwarded_out_total", "Requests sent to their tenant's owner core.", offsetof(ic_router_stats_t, forwarded_out)},
        {"isocore_forwarded_in_total", "Requests run for another core.", offsetof(ic_router_stats_t, forwarded_in)},
        {"isocore_rejected_total", "503s for backpressure.", offsetof(ic_router_stats_t, rejected)},
        {"isocore_service_calls_total", "Service binding calls (env.X.fetch()) made by the core's workers.",
         offsetof(ic_router_stats_t, services)},
        {"isocore_not_found_total", "404s: no route, no default worker.", offsetof(ic_router_stats_t, not_found)},
        {"isocore_isolates", "Warm isolates on the core.", offsetof(ic_router_stats_t, isolates)},
        {"isocore_isolates_created_total", "Isolates created on the core.", offsetof(ic_router_stats_t, isolates_created)},
        {"isocore_heap_bytes", "V8 heap and ArrayBuffer bytes of the core's isolates (as of the last isolate created).",
         offsetof(ic_router_stats_t, heap_bytes)},
        {"isocore_sheds_total", "Requests placed by the core on a replica, away from an owner inside a long entry (adaptive).",
         offsetof(ic_router_stats_t, sheds)},
        {"isocore_replica_births_total", "Replicas the core added to a tenant (adaptive).",
         offsetof(ic_router_stats_t, replica_births)},
        {"isocore_replica_retirements_total", "Replicas the core retired (adaptive).",
         offsetof(ic_router_stats_t, replica_retirements)},
    };
    for (size_t f = 0; f < sizeof(core_fields) / sizeof(core_fields[0]); f++) {
        put(&t, "# HELP %s %s\n# TYPE %s %s\n", core_fields[f].name, core_fields[f].help, core_fields[f].name,
            strstr(core_fields[f].name, "_total") ? "counter" : "gauge");
        for (unsigned c = 0; c < r->n; c++) {
            ic_router_stats_t st;
            ic_router_stats(r, c, &st);
            put(&t, "%s{core=\"%u\"} %llu\n", core_fields[f].name, c,
                *(const unsigned long long *)((const char *)&st + core_fields[f].off));
        }
    }
    static const struct {
        const char *name, *help;
        size_t off;
    } loop_fields[] = {
        {"isocore_loop_turns_total", "Reactor loop turns.", offsetof(ic_reactor_stats_t, loops)},
        {"isocore_sleeps_total", "Times the reactor slept in io_uring_enter.", offsetof(ic_reactor_stats_t, sleeps)},
        {"isocore_wakeups_sent_total", "Doorbells rung for sleeping cores.", offsetof(ic_reactor_stats_t, wakeups_sent)},
        {"isocore_ring_overflow_total", "Messages that waited in the overflow queue.", offsetof(ic_reactor_stats_t, ring_overflow)},
    };
    for (size_t f = 0; f < sizeof(loop_fields) / sizeof(loop_fields[0]); f++) {
        put(&t, "# HELP %s %s\n# TYPE %s counter\n", loop_fields[f].name, loop_fields[f].help, loop_fields[f].name);
        for (unsigned c = 0; c < r->n; c++) {
            ic_reactor_stats_t st;
            ic_reactor_stats(c, &st);
            put(&t, "%s{core=\"%u\"} %llu\n", loop_fields[f].name, c,
                (unsigned long long)*(const uint64_t *)((const char *)&st + loop_fields[f].off));
        }
    }
    put(&t, "# HELP isocore_sleep_seconds_total Time the reactor slept in io_uring_enter.\n"
            "# TYPE isocore_sleep_seconds_total counter\n");
    for (unsigned c = 0; c < r->n; c++) {
        ic_reactor_stats_t st;
        ic_reactor_stats(c, &st);
        put(&t, "isocore_sleep_seconds_total{core=\"%u\"} %.6f\n", c, (double)st.sleep_ns / 1e9);
    }
    put(&t, "# HELP isocore_loop_busy_ratio Share of the time since the reactor started that it was not asleep.\n"
            "# TYPE isocore_loop_busy_ratio gauge\n");
    for (unsigned c = 0; c < r->n; c++) {
        ic_reactor_stats_t st;
        ic_reactor_stats(c, &st);
        double up = st.started_ns ? (double)(ic_clock_ns() - st.started_ns) : 0;
        put(&t, "isocore_loop_busy_ratio{core=\"%u\"} %.4f\n", c, up > 0 ? 1.0 - (double)st.sleep_ns / up : 0.0);
    }
    put(&t, "# HELP isocore_work_share Share of the core's time spent on its own work, cold starts and other processes' CPU "
            "left out (the figure adaptive placement weighs a queue delay by), as of the last request it started.\n"
            "# TYPE isocore_work_share gauge\n");
    for (unsigned c = 0; c < r->n; c++)
        put(&t, "isocore_work_share{core=\"%u\"} %.4f\n", c, (double)ic__placement_work(r, c) / IC__PLACE_ONE);
    /* Process-wide: malloc's view (V8's heaps are mmap'd and not in it; its ArrayBuffer backing stores are). */
    struct mallinfo2 mi = mallinfo2();
    put(&t,
        "# HELP isocore_malloc_in_use_bytes Bytes allocated with malloc and not freed, all threads (glibc mallinfo2 uordblks + "
        "hblkhd).\n"
        "# TYPE isocore_malloc_in_use_bytes gauge\nisocore_malloc_in_use_bytes %zu\n"
        "# HELP isocore_malloc_free_bytes Free bytes malloc holds in its arenas (fragmentation; mallinfo2 fordblks).\n"
        "# TYPE isocore_malloc_free_bytes gauge\nisocore_malloc_free_bytes %zu\n",
        mi.uordblks + mi.hblkhd, mi.fordblks);
    put(&t, "# HELP isocore_tenant_requests_total Requests run for the tenant, by outcome (merged over cores).\n"
            "# TYPE isocore_tenant_requests_total counter\n");
    for (unsigned w = 0; w < r->cfg->nworkers; w++) {
        struct tstats sum = {0};
        for (unsigned c = 0; c < r->n; c++) {
            const struct tstats *s = r->cores[c].ts[w];
            sum.ok += __atomic_load_n(&s->ok, __ATOMIC_RELAXED);
            sum.client_err += __atomic_load_n(&s->client_err, __ATOMIC_RELAXED);
            sum.server_err += __atomic_load_n(&s->server_err, __ATOMIC_RELAXED);
            sum.unavailable += __atomic_load_n(&s->unavailable, __ATOMIC_RELAXED);
            sum.timeout += __atomic_load_n(&s->timeout, __ATOMIC_RELAXED);
        }
        const char *name = r->cfg->workers[w].name;
        put(&t,
            "isocore_tenant_requests_total{tenant=\"%s\",outcome=\"ok\"} %llu\n"
            "isocore_tenant_requests_total{tenant=\"%s\",outcome=\"client_error\"} %llu\n"
            "isocore_tenant_requests_total{tenant=\"%s\",outcome=\"exception\"} %llu\n"
            "isocore_tenant_requests_total{tenant=\"%s\",outcome=\"limit_503\"} %llu\n"
            "isocore_tenant_requests_total{tenant=\"%s\",outcome=\"timeout_504\"} %llu\n",
            name, sum.ok, name, sum.client_err, name, sum.server_err, name, sum.unavailable, name, sum.timeout);
    }
    put(&t, "# HELP isocore_tenant_busy_seconds_total Time cores spent in the tenant's handler calls (its synchronous part).\n"
            "# TYPE isocore_tenant_busy_seconds_total counter\n");
    for (unsigned w = 0; w < r->cfg->nworkers; w++) {
        unsigned long long ns = 0;
        for (unsigned c = 0; c < r->n; c++)
            ns += __atomic_load_n(&r->cores[c].ts[w]->busy_ns, __ATOMIC_RELAXED);
        put(&t, "isocore_tenant_busy_seconds_total{tenant=\"%s\"} %.6f\n", r->cfg->workers[w].name, (double)ns / 1e9);
    }
    put(&t, "# HELP isocore_tenant_replicas Cores that run the tenant now (sticky: 1; spread: every core; adaptive: its "
            "replicas, the owner included).\n# TYPE isocore_tenant_replicas gauge\n");
    for (unsigned w = 0; w < r->cfg->nworkers; w++)
        put(&t, "isocore_tenant_replicas{tenant=\"%s\"} %u\n", r->cfg->workers[w].name, ic__router_replicas(r, w));
    put(&t, "# HELP isocore_tenant_queue_delay_seconds The tenant's queue delay before its requests ran (EWMA, 1/8 per "
            "request), the highest over its cores.\n# TYPE isocore_tenant_queue_delay_seconds gauge\n");
    for (unsigned w = 0; w < r->cfg->nworkers; w++) {
        uint64_t q = 0;
        for (unsigned c = 0; c < r->n; c++) {
            uint64_t v = __atomic_load_n(&r->pl->tens[(size_t)c * r->cfg->nworkers + w].queue_pub, __ATOMIC_RELAXED);
            q = v > q ? v : q;
        }
        put(&t, "isocore_tenant_queue_delay_seconds{tenant=\"%s\"} %.6f\n", r->cfg->workers[w].name, (double)q / 1e9);
    }
    put(&t, "# HELP isocore_tenant_latency_seconds From arrival to answer, per-core histograms merged (upper bounds, 4 buckets "
            "per octave).\n# TYPE isocore_tenant_latency_seconds summary\n");
    for (unsigned w = 0; w < r->cfg->nworkers; w++) {
        unsigned long long merged[LAT_BUCKETS] = {0}, total = 0;
        for (unsigned c = 0; c < r->n; c++)
            for (unsigned b = 0; b < LAT_BUCKETS; b++) {
                unsigned long long v = __atomic_load_n(&r->cores[c].ts[w]->lat[b], __ATOMIC_RELAXED);
                merged[b] += v;
                total += v;
            }
        if (!total)
            continue;
        static const double qs[] = {0.5, 0.9, 0.99, 0.999};
        for (size_t q = 0; q < sizeof(qs) / sizeof(qs[0]); q++) {
            unsigned long long want = (unsigned long long)(qs[q] * (double)total + 0.5), seen = 0;
            unsigned b = 0;
            for (; b < LAT_BUCKETS - 1; b++) {
                seen += merged[b];
                if (seen >= want && seen > 0)
                    break;
            }
            put(&t, "isocore_tenant_latency_seconds{tenant=\"%s\",quantile=\"%g\"} %.6f\n", r->cfg->workers[w].name, qs[q],
                lat_upper_s(b));
        }
        put(&t, "isocore_tenant_latency_seconds_count{tenant=\"%s\"} %llu\n", r->cfg->workers[w].name, total);
    }
    if (!t.p) {
        static const char msg[] = "Service Unavailable: out of memory\n";
        ic_http_respond(x, 503, h, 1, msg, sizeof(msg) - 1);
        return;
    }
    ic_http_respond(x, 200, h, 1, t.p, t.len);
    free(t.p);
}
