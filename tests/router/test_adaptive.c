/*
 * test_adaptive.c: `adaptive` placement end to end on two reactors, through
 * ic_router_inject (the router's own forwarding code, without sockets, so
 * the test chooses the core each request arrives on).
 *
 * 1. A tenant whose owner is inside a 3 s entry (heavy.js, CPU limit
 *    raised) still answers cheap requests that arrive on the other core:
 *    once the owner is seen inside the long entry, each of them answers
 *    within 1 s, all before the heavy one ends, on a replica born for it.
 * 2. Replicas come and go under load (a heavy phase, 3 s entries on the
 *    owner, grows one; a calm phase retires it; several times over) while both cores keep requests
 *    in flight: every request is answered exactly once, with a 200.
 */
#include <stdio.h>
#include <stdlib.h>

#include "t_util.h"

static ic_router_config_t *t_cfg;
static ic_router_t *t_router;
static unsigned t_owner;

static void t_make(const char *placement)
{
    char path[1024], err[1024], text[1024];
    const char *d = getenv("ISOCORE_SRC");
    snprintf(path, sizeof(path), "%s/tests/router/conf.json", d ? d : ".");
    snprintf(text, sizeof(text),
             "{\"placement\": %s, \"workers\": [{\"name\": \"hv\", \"module\": \"heavy.js\", \"routes\": [\"hv.test\"], "
             "\"placement\": \"adaptive\", \"limits\": {\"cpu_ms\": 20000}}]}",
             placement);
    cr_assert_eq(ic_router_config_parse(path, text, strlen(text), &t_cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ic_router_new(t_cfg, 2, &t_router, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ic_js_platform_init(), 0);
    t_owner = ic_router_owner_of("hv", 2);
}

static void t_free(void)
{
    ic_router_free(t_router);
    ic_router_config_free(t_cfg);
}

static int t_inject(const char *target, ic_router_answer_cb answer, void *arg)
{
    ic_http_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = (ic_str_t){"GET", 3};
    req.target = (ic_str_t){target, strlen(target)};
    req.host = (ic_str_t){"hv.test", 7};
    req.minor = 1;
    req.nheaders = 1;
    req.headers[0] = (ic_http_header_t){{"Host", 4}, {"hv.test", 7}};
    return ic_router_inject(t_router, &req, (ic_str_t){"", 0}, answer, arg);
}

static void t_stop(void *arg)
{
    (void)arg;
    ic_router_stop(t_router);
}

/* ---- 1. a heavy request on the owner ------------------------------------------------------------------- */

#define CHEAP 50
#define BOUND_NS 1000000000ull /* per cheap request; the heavy one runs 3 s */

static struct {
    ic_task_t heavy_task, next_task;
    ic_timer_t poll;
    uint64_t poll_start, sent_at, worst_ns;
    _Atomic bool heavy_done;
    _Atomic unsigned finished;
    int heavy_status, heavy_ret;
    unsigned got, ok, after_heavy;
    int ret;
    bool never_busy;
} H;

static void h_finish(void)
{
    if (atomic_fetch_add(&H.finished, 1) == 1)
        ic_reactor_stop();
}

static void h_heavy_answer(void *arg, int status, const char *const *headers, unsigned n, const void *body, size_t len)
{
    (void)arg, (void)headers, (void)n, (void)body, (void)len;
    H.heavy_status = status;
    atomic_store(&H.heavy_done, true);
    h_finish();
}

static void h_heavy(ic_task_t *task)
{
    (void)task;
    H.heavy_ret = t_inject("/?ms=3000", h_heavy_answer, NULL);
    if (H.heavy_ret < 0) {
        atomic_store(&H.heavy_done, true);
        h_finish();
    }
}

static void h_send(ic_task_t *task);

static void h_cheap_answer(void *arg, int status, const char *const *headers, unsigned n, const void *body, size_t len)
{
    (void)arg, (void)headers, (void)n, (void)body, (void)len;
    uint64_t took = ic_clock_ns() - H.sent_at;
    H.worst_ns = took > H.worst_ns ? took : H.worst_ns;
    H.ok += status == 200;
    H.after_heavy += atomic_load(&H.heavy_done);
    if (++H.got < CHEAP)
        ic_task_post(&H.next_task, h_send); /* not from inside the answer: a local one may answer within inject */
    else
        h_finish();
}

static void h_send(ic_task_t *task)
{
    (void)task;
    H.sent_at = ic_clock_ns();
    H.ret = t_inject("/?ms=0", h_cheap_answer, NULL);
    if (H.ret < 0)
        h_finish();
}

/* On the other core: waits until the owner is seen inside the heavy entry (100 ms of its CPU), then sends the cheap ones. */
static void h_poll(ic_timer_t *timer)
{
    if (ic_js_entry_busy(t_owner) >= 100000000ull) {
        ic_timer_stop(timer);
        h_send(NULL);
    } else if (ic_clock_ns() - H.poll_start > 20000000000ull) {
        ic_timer_stop(timer);
        H.never_busy = true;
        h_finish();
    }
}

static void h_start(void *arg)
{
    (void)arg;
    cr_assert_eq(ic_router_start(t_router), 0);
    if ((unsigned)ic_reactor_id() == t_owner) {
        ic_task_post(&H.heavy_task, h_heavy);
    } else {
        H.poll_start = ic_clock_ns();
        ic_timer_init(&H.poll, h_poll);
        ic_timer_start(&H.poll, 1000000, 1000000);
    }
}

Test(adaptive, a_heavy_request_on_the_owner_does_not_hold_cheap_ones, .timeout = 120)
{
    memset(&H, 0, sizeof(H));
    t_make("{\"replicate_ms\": 2, \"shed_ms\": 1}");
    ic_reactor_config_t cfg = t_config(2, h_start, NULL);
    cfg.on_stop = t_stop;
    t_run(&cfg);
    cr_assert(!H.never_busy, "the owner was never seen inside the heavy entry (ic_js_entry_busy)");
    cr_assert_eq(H.heavy_ret, 0, "%s", ic_strerror(H.heavy_ret));
    cr_assert_eq(H.heavy_status, 200);
    cr_assert_eq(H.ret, 0, "%s", ic_strerror(H.ret));
    cr_assert_eq(H.got, CHEAP);
    cr_assert_eq(H.ok, CHEAP);
    cr_assert_eq(H.after_heavy, 0, "%u cheap requests waited for the heavy one", H.after_heavy);
    cr_assert_lt(H.worst_ns, BOUND_NS, "a cheap request took %.3f s", (double)H.worst_ns / 1e9);
    ic_router_stats_t other;
    ic_router_stats(t_router, 1 - t_owner, &other);
    cr_assert_eq(other.local, CHEAP, "the cheap requests did not run on the replica");
    cr_assert_eq(other.forwarded_out, 0);
    cr_assert_eq(other.replica_births, 1);
    cr_assert_geq(other.sheds, CHEAP);
    cr_assert_eq(ic_router_replicas(t_router, "hv"), 2);
    cr_assert_eq(ic_router_replicas(t_router, "nope"), 0);
    t_free();
}

/* ---- 2. replicas come and go under load ---------------------------------------------------------------- */

#define PER_CORE 4000000 /* requests per core at most */
#define WINDOW 4         /* in flight per core */
#define CYCLES 3         /* births and retirements wanted */

static struct {
    struct {
        ic_task_t task;
        unsigned sent, inflight, bad_status;
        bool posted, finished;
        int ret;
        unsigned char answered[PER_CORE];
    } c[2];
    _Atomic bool hot;      /* the owner sends heavy requests */
    _Atomic bool stopping; /* no more requests */
    _Atomic unsigned done_cores;
    uint64_t deadline;
} C;

static void c_pump(ic_task_t *task);
static void c_answer(void *arg, int status, const char *const *headers, unsigned n, const void *body, size_t len);

/* One request from this core: a heavy one from the owner in a hot phase (one in WINDOW), else a cheap one. */
static void c_send(unsigned self)
{
    unsigned id = C.c[self].sent++;
    bool heavy = self == t_owner && atomic_load(&C.hot) && id % WINDOW == 0;
    C.c[self].inflight++;
    int ret = t_inject(heavy ? "/?ms=3000" : "/?ms=0", c_answer, (void *)(uintptr_t)id);
    if (ret < 0) {
        C.c[self].inflight--;
        C.c[self].ret = ret;
        atomic_store(&C.stopping, true);
    }
}

static void c_answer(void *arg, int status, const char *const *headers, unsigned n, const void *body, size_t len)
{
    (void)headers, (void)n, (void)body, (void)len;
    unsigned self = (unsigned)ic_reactor_id();
    unsigned id = (unsigned)(uintptr_t)arg;
    C.c[self].answered[id]++;
    C.c[self].bad_status += status != 200;
    C.c[self].inflight--;
    if (!C.c[self].posted) { /* a task is queued once at a time */
        C.c[self].posted = true;
        ic_task_post(&C.c[self].task, c_pump);
    }
}

/* Keeps WINDOW requests in flight from this core; the owner switches the phases as it sees k change. */
static void c_pump(ic_task_t *task)
{
    unsigned self = (unsigned)ic_reactor_id();
    if (task)
        C.c[self].posted = false;
    if (self == t_owner && !atomic_load(&C.stopping)) {
        /* Heavy requests while the tenant has no replica (to grow one), cheap ones while it has (to let it retire). */
        atomic_store(&C.hot, ic_router_replicas(t_router, "hv") == 1);
        unsigned long long births = 0, deaths = 0;
        for (unsigned c = 0; c < 2; c++) {
            ic_router_stats_t st;
            ic_router_stats(t_router, c, &st);
            births += st.replica_births;
            deaths += st.replica_retirements;
        }
        if ((births >= CYCLES && deaths >= CYCLES) || ic_clock_ns() > C.deadline)
            atomic_store(&C.stopping, true);
    }
    /*
     * At most WINDOW sends per call: a local request is answered inside inject (c_answer then posts this task for the next
     * loop turn), so without the bound one call would send millions in one loop turn, and their queue delays, counted from
     * the start of the turn, would grow without bound and keep the tenant from ever being calm.
     */
    for (unsigned burst = 0;
         burst < WINDOW && !atomic_load(&C.stopping) && C.c[self].inflight < WINDOW && C.c[self].sent < PER_CORE; burst++)
        c_send(self);
    if (C.c[self].sent == PER_CORE)
        atomic_store(&C.stopping, true);
    if (atomic_load(&C.stopping) && C.c[self].inflight == 0 && !C.c[self].finished) {
        C.c[self].finished = true;
        if (atomic_fetch_add(&C.done_cores, 1) == 1)
            ic_reactor_stop();
    }
}

/*
 * Every 10 ms: a core with nothing in flight pumps again (the other core stays in the loop while the owner still runs), and
 * the other core sends one request more while its window waits on the owner (up to TICKED in flight), so that it places
 * requests while the owner is inside a heavy entry, as clients would: that is what grows a replica whatever the speed of
 * the machine (the owner is seen inside an entry of more than replicate_ms of CPU). Waits alone need not: on a machine
 * whose reactors get less than half a CPU they are not evidence of load (ic__place_observe, work_min). The bound is
 * above the requests a heavy phase lets it send (3 s of wall time: 300 ticks).
 */
#define TICKED 4096
static ic_timer_t c_tick[2];

static void c_ticked(ic_timer_t *timer)
{
    unsigned self = (unsigned)ic_reactor_id();
    if (C.c[self].finished)
        ic_timer_stop(timer);
    else if (C.c[self].inflight == 0)
        c_pump(NULL);
    else if (self != t_owner && C.c[self].inflight < TICKED && !atomic_load(&C.stopping) && C.c[self].sent < PER_CORE)
        c_send(self);
}

static void c_start(void *arg)
{
    (void)arg;
    cr_assert_eq(ic_router_start(t_router), 0);
    unsigned self = (unsigned)ic_reactor_id();
    ic_timer_init(&c_tick[self], c_ticked);
    ic_timer_start(&c_tick[self], 10000000, 10000000);
    c_pump(NULL);
}

static void c_stop(void *arg)
{
    ic_timer_stop(&c_tick[ic_reactor_id()]);
    t_stop(arg);
}

Test(adaptive, replicas_come_and_go_and_every_request_is_answered_once, .timeout = 180)
{
    memset(&C, 0, sizeof(C));
    /*
     * A replica grows when the other core sees the owner inside a heavy entry for replicate_ms of CPU: heavy.js spins for
     * 3 s of wall time, which gives 200 ms of CPU to a reactor that gets 1/15 of a CPU (a 2-CPU machine at load 30). Its
     * retirement needs the tenant calm (under 25 ms) on the owner: the delays a loaded machine's scheduling adds do not
     * count there (a reactor that ran less than half the time: ic__place_observe), nor pass 25 ms on a machine that
     * runs it more (an earlier version, which counted them, needed 125 ms: a machine at load 20 kept the tenant from
     * ever being calm).
     */
    t_make("{\"replicate_ms\": 200, \"shed_ms\": 100, \"retire_ms\": 100}");
    atomic_store(&C.hot, true);
    C.deadline = ic_clock_ns() + 90000000000ull;
    ic_reactor_config_t cfg = t_config(2, c_start, NULL);
    cfg.on_stop = c_stop;
    t_run(&cfg);
    unsigned long long births = 0, deaths = 0;
    for (unsigned c = 0; c < 2; c++) {
        cr_assert_eq(C.c[c].ret, 0, "core %u: %s", c, ic_strerror(C.c[c].ret));
        cr_assert_eq(C.c[c].inflight, 0);
        cr_assert_eq(C.c[c].bad_status, 0, "core %u: %u answers were not 200", c, C.c[c].bad_status);
        for (unsigned i = 0; i < C.c[c].sent; i++)
            cr_assert_eq(C.c[c].answered[i], 1, "core %u: request %u was answered %u times", c, i, C.c[c].answered[i]);
        ic_router_stats_t st;
        ic_router_stats(t_router, c, &st);
        births += st.replica_births;
        deaths += st.replica_retirements;
    }
    /* The loop aims at CYCLES of each; at least one replica must have come and gone (a loaded machine may allow no more). */
    cr_assert_geq(births, 1, "replicas born: %llu, retired: %llu (%u + %u requests)", births, deaths, C.c[0].sent, C.c[1].sent);
    cr_assert_geq(deaths, 1, "replicas born: %llu, retired: %llu (%u + %u requests)", births, deaths, C.c[0].sent, C.c[1].sent);
    cr_assert_leq(births, deaths + 1, "k only moves by one: %llu births, %llu retirements", births, deaths);
    cr_log_info("%llu births, %llu retirements, %u + %u requests", births, deaths, C.c[0].sent, C.c[1].sent);
    t_free();
}

/* ---- the config ------------------------------------------------------------------------------------------ */

static void t_config_err(const char *text, const char *want)
{
    char err[1024];
    ic_router_config_t *cfg = NULL;
    cr_assert_eq(ic_router_config_parse("conf.json", text, strlen(text), &cfg, err, sizeof(err)), IC_ECONFIG, "accepted: %s", text);
    cr_assert(strstr(err, want) != NULL, "error '%s' does not say '%s'", err, want);
}

Test(adaptive, config_placement_default_and_knobs)
{
    char err[1024];
    ic_router_config_t *cfg;
    ic_router_placement_t pl;
    const char *plain = "{\"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}";
    cr_assert_eq(ic_router_config_parse("conf.json", plain, strlen(plain), &cfg, err, sizeof(err)), 0, "%s", err);
    ic_router_config_placement(cfg, &pl);
    cr_assert_eq(pl.placement, IC_PLACE_STICKY);
    cr_assert_eq(pl.replicate_ms, 2);
    cr_assert_eq(pl.shed_ms, 1);
    cr_assert_eq(pl.retire_ms, 10000);
    ic_router_config_free(cfg);
    const char *knobs = "{\"placement\": {\"default\": \"adaptive\", \"replicate_ms\": 5, \"shed_ms\": 3, \"retire_s\": 7, "
                        "\"max_replicas\": 2, \"isolate_budget\": 50},\n"
                        "\"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}, {\"name\": \"b\", \"module\": \"a.js\", "
                        "\"placement\": \"spread\"}]}";
    cr_assert_eq(ic_router_config_parse("conf.json", knobs, strlen(knobs), &cfg, err, sizeof(err)), 0, "%s", err);
    ic_router_config_placement(cfg, &pl);
    cr_assert_eq(pl.placement, IC_PLACE_ADAPTIVE);
    cr_assert_eq(pl.replicate_ms, 5);
    cr_assert_eq(pl.shed_ms, 3);
    cr_assert_eq(pl.retire_ms, 7000);
    cr_assert_eq(pl.max_replicas, 2);
    cr_assert_eq(pl.isolate_budget, 50);
    ic_router_config_free(cfg);
    const char *str = "{\"placement\": \"spread\", \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}";
    cr_assert_eq(ic_router_config_parse("conf.json", str, strlen(str), &cfg, err, sizeof(err)), 0, "%s", err);
    ic_router_config_placement(cfg, &pl);
    cr_assert_eq(pl.placement, IC_PLACE_SPREAD);
    ic_router_config_free(cfg);
    t_config_err("{\"placement\": \"everywhere\", \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}",
                 "conf.json:1: placement: expected \"sticky\", \"spread\" or \"adaptive\"");
    t_config_err("{\"placement\": 3, \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}", "placement: expected");
    t_config_err("{\"placement\": {\n\"replicate_ms\": 0}, \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}",
                 "conf.json:2: placement.replicate_ms: expected an integer from 1 to 60000");
    t_config_err("{\"placement\": {\"default\": \"all\"}, \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}",
                 "placement.default: expected \"sticky\", \"spread\" or \"adaptive\"");
    t_config_err("{\"placement\": {\"replicas\": 2}, \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}",
                 "placement.replicas: unknown field");
    t_config_err("{\"workers\": [{\"name\": \"a\", \"module\": \"a.js\", \"placement\": \"adaptiv\"}]}",
                 "workers[0].placement: expected \"sticky\", \"spread\" or \"adaptive\"");
}
