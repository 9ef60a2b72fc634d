/*
 * test_services.c: service bindings on the router side. The "services" key
 * of a worker in the config (good, a target that is not a worker, a bad
 * binding name), and the handler (ic_router_service) called from C on core
 * 0 of two reactors, as the JS layer calls it for env.X.fetch(): a tenant
 * core 0 owns runs there from a task, one core 1 owns goes over the SPSC
 * mesh; both answer with the service's status, headers and body, on core
 * 0, never inside the call; an 8 MiB body, a streamed body (the service's
 * stream itself when local, streamed across when forwarded: 32 MiB in
 * pieces, to a fast and a slow reader, a head that comes before its body
 * ends, a caller's cancel that cancels the service's stream, a service's
 * failure that fails the caller's, and under injected allocation faults
 * each call answered and each stream ended; gathered without IC_JS_STREAM,
 * 502 past 16 MiB), an unknown service (503 naming it), a service that throws (500),
 * and the router's backpressure (503 with Retry-After).
 */
#include <stdio.h>
#include <stdlib.h>

#include "t_util.h"

#define MB (1u << 20)

/* ---- the config -------------------------------------------------------------------------------- */

static int t_parse(const char *text, char *err, size_t errlen)
{
    ic_router_config_t *cfg = NULL;
    int ret = ic_router_config_parse("conf.json", text, strlen(text), &cfg, err, errlen);
    ic_router_config_free(cfg);
    return ret;
}

Test(services, config_accepts_bindings_to_workers_and_to_itself)
{
    char err[512] = "";
    const char *text = "{\"workers\": [\n"
                       "  {\"name\": \"site\", \"module\": \"a.js\", \"services\": {\"AUTH\": \"auth\", \"_self2\": \"site\"}},\n"
                       "  {\"name\": \"auth\", \"module\": \"b.js\"}\n"
                       "]}";
    cr_assert_eq(t_parse(text, err, sizeof(err)), 0, "%s", err);
}

Test(services, config_rejects_a_binding_to_no_worker)
{
    char err[512] = "";
    const char *text = "{\"workers\": [\n"
                       "  {\"name\": \"site\", \"module\": \"a.js\",\n"
                       "   \"services\": {\n"
                       "     \"AUTH\": \"nope\"}},\n"
                       "  {\"name\": \"auth\", \"module\": \"b.js\"}\n"
                       "]}";
    cr_assert_eq(t_parse(text, err, sizeof(err)), IC_ECONFIG);
    cr_assert_str_eq(err, "conf.json:4: workers[0].services.AUTH: 'nope' is not the name of a worker");
}

Test(services, config_rejects_bad_binding_names_and_values)
{
    char err[512] = "";
    const char *bad_name = "{\"workers\": [\n"
                           "  {\"name\": \"site\", \"module\": \"a.js\", \"services\": {\"9AUTH\": \"site\"}}\n"
                           "]}";
    cr_assert_eq(t_parse(bad_name, err, sizeof(err)), IC_ECONFIG);
    cr_assert_str_eq(err, "conf.json:2: workers[0].services.9AUTH: '9AUTH' is not a binding name (a letter or '_', then "
                          "letters, digits or '_')");
    const char *dash = "{\"workers\": [{\"name\": \"site\", \"module\": \"a.js\", \"services\": {\"AU-TH\": \"site\"}}]}";
    cr_assert_eq(t_parse(dash, err, sizeof(err)), IC_ECONFIG);
    cr_assert(strstr(err, "workers[0].services.AU-TH: 'AU-TH' is not a binding name"), "%s", err);
    const char *not_str = "{\"workers\": [{\"name\": \"site\", \"module\": \"a.js\", \"services\": {\"AUTH\": 3}}]}";
    cr_assert_eq(t_parse(not_str, err, sizeof(err)), IC_ECONFIG);
    cr_assert_str_eq(err, "conf.json:1: workers[0].services.AUTH: expected the name of a worker, got an integer");
    const char *not_obj = "{\"workers\": [{\"name\": \"site\", \"module\": \"a.js\", \"services\": [\"site\"]}]}";
    cr_assert_eq(t_parse(not_obj, err, sizeof(err)), IC_ECONFIG);
    cr_assert(strstr(err, "workers[0].services: expected an object of worker names"), "%s", err);
    const char *clash = "{\"workers\": [{\"name\": \"site\", \"module\": \"a.js\", \"env\": {\"AUTH\": \"x\"}, "
                        "\"services\": {\"AUTH\": \"site\"}}]}";
    cr_assert_eq(t_parse(clash, err, sizeof(err)), IC_ECONFIG);
    cr_assert(strstr(err, "workers[0].services.AUTH: 'AUTH' is also a name in \"env\""), "%s", err);
}

/* ---- the handler on two cores ---------------------------------------------------------------------- */

struct call {
    const char *service; /* a tenant name, or "nosuch" */
    const char *path;
    unsigned flags;
    /* what came back */
    int status, done_on;
    bool done, inside_call; /* inside_call: done ran inside ic_router_service (it must not) */
    char head[1024];        /* the header lines, "\n"-joined */
    char start[256];        /* the body's first bytes */
    size_t len, xs;         /* body bytes, and of them 'x' */
    bool streamed, stream_ok;
    /* how the caller reads a streamed body */
    bool slow;         /* every write says wait; a task resumes */
    size_t cancel_at;  /* cancel once this many bytes came (0: never) */
    struct call *then; /* a deferred call made once the head is here */
    bool deferred, cancelled;
    unsigned writes; /* pieces the sink got */
    size_t max_piece;
    ic_js_stream_t *stream;
    ic_task_t task;
};

static struct {
    ic_router_config_t *cfg;
    ic_router_t *router;
    char near[16], far[16]; /* owned by core 0 (the caller) and core 1 */
    struct call calls[16];
    unsigned ncalls;
    _Atomic unsigned left;
    bool in_call;
    bool faults; /* allocations fail: the handler's own 503 for no memory comes inside the call (its one answer that does) */
} S;

static void t_one_done(void)
{
    if (atomic_fetch_sub(&S.left, 1) == 1)
        ic_reactor_stop();
}

static void t_take(struct call *c, const void *p, size_t len)
{
    const char *b = p;
    for (size_t i = 0; i < len; i++) {
        if (c->len + i < sizeof(c->start) - 1)
            c->start[c->len + i] = b[i];
        c->xs += b[i] == 'x';
    }
    c->len += len;
}

static void t_resume(ic_task_t *t)
{
    struct call *c = (struct call *)((char *)t - offsetof(struct call, task));
    ic_js_stream_resume(c->stream);
}

static bool t_sink_write(void *arg, const void *p, size_t len)
{
    struct call *c = arg;
    t_take(c, p, len);
    c->writes++;
    if (len > c->max_piece)
        c->max_piece = len;
    if (c->cancel_at && c->len >= c->cancel_at) {
        c->cancelled = true;
        ic_js_stream_cancel(c->stream); /* the sink hears nothing more */
        t_one_done();
        return false;
    }
    if (c->slow) {
        ic_task_post(&c->task, t_resume);
        return false;
    }
    return true;
}

static void t_sink_end(void *arg, bool ok)
{
    ((struct call *)arg)->stream_ok = ok;
    t_one_done();
}

static const ic_js_sink_t t_sink = {t_sink_write, t_sink_end};

static void t_call(struct call *c);

static void t_done(void *arg, const ic_js_response_t *res)
{
    struct call *c = arg;
    c->done = true;
    c->inside_call = S.in_call;
    c->done_on = ic_reactor_id();
    c->status = res->status;
    size_t at = 0;
    for (unsigned i = 0; i < res->nheaders && at < sizeof(c->head) - 1; i++)
        at += (size_t)snprintf(c->head + at, sizeof(c->head) - at, "%s\n", res->headers[i]);
    t_take(c, res->body, res->len);
    if (res->stream) {
        c->streamed = true;
        c->stream = res->stream;
        ic_js_stream_attach(res->stream, &t_sink, c);
        if (c->then)
            t_call(c->then);
        return;
    }
    t_one_done();
}

static void t_call(struct call *c)
{
    char target[128], host[64];
    snprintf(host, sizeof(host), "%s.svc", c->service);
    snprintf(target, sizeof(target), "http://%s%s", host, c->path);
    ic_http_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = (ic_str_t){"POST", 4};
    req.target = (ic_str_t){target, strlen(target)};
    req.host = (ic_str_t){host, strlen(host)};
    req.minor = 1;
    req.nheaders = 2;
    req.headers[0] = (ic_http_header_t){{"x-caller", 8}, {"c-test", 6}};
    req.headers[1] = (ic_http_header_t){{"content-type", 12}, {"text/plain", 10}};
    c->status = c->done_on = -1;
    S.in_call = true;
    ic_router_service(S.router, c->service, &req, (ic_str_t){"ping", 4}, c->flags, t_done, c);
    S.in_call = false;
}

static void t_start(void *arg)
{
    (void)arg;
    cr_assert_eq(ic_router_start(S.router), 0);
    if (ic_reactor_id() != 0)
        return;
    for (unsigned i = 0; i < S.ncalls; i++)
        if (!S.calls[i].deferred)
            t_call(&S.calls[i]);
}

static void t_stop(void *arg)
{
    (void)arg;
    ic_router_stop(S.router);
}

/*
 * Finds tenant names owned by core 0 and core 1 of two, and builds the router; extra goes into the config's top level,
 * far_extra into the far worker's object.
 */
static void t_router_with(const char *extra, const char *far_extra)
{
    S.near[0] = S.far[0] = 0;
    for (unsigned i = 0; i < 64 && (!S.near[0] || !S.far[0]); i++) {
        char name[16];
        snprintf(name, sizeof(name), "svc%u", i);
        snprintf(ic_router_owner_of(name, 2) == 0 ? S.near : S.far, 16, "%s", name);
    }
    cr_assert(S.near[0] && S.far[0]);
    char path[1024], err[1024], text[2048];
    const char *d = getenv("ISOCORE_SRC");
    snprintf(path, sizeof(path), "%s/tests/router/conf.json", d ? d : ".");
    snprintf(text, sizeof(text),
             "{%s\"limits\": {\"cpu_ms\": 20000}, \"workers\": [\n"
             "  {\"name\": \"%s\", \"module\": \"svc.js\", \"env\": {\"NAME\": \"%s\"}, \"services\": {\"FAR\": \"%s\"}},\n"
             "  {\"name\": \"%s\", \"module\": \"svc.js\", \"env\": {\"NAME\": \"%s\"}%s}\n"
             "]}",
             extra, S.near, S.near, S.far, S.far, S.far, far_extra);
    cr_assert_eq(ic_router_config_parse(path, text, strlen(text), &S.cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ic_router_new(S.cfg, 2, &S.router, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ic_js_platform_init(), 0);
}

static void t_router(const char *extra)
{
    t_router_with(extra, "");
}

static struct call *t_add(const char *service, const char *path, unsigned flags)
{
    struct call *c = &S.calls[S.ncalls++];
    memset(c, 0, sizeof(*c));
    c->service = service;
    c->path = path;
    c->flags = flags;
    return c;
}

static void t_go(void)
{
    atomic_store(&S.left, S.ncalls);
    ic_reactor_config_t cfg = t_config(2, t_start, NULL);
    cfg.on_stop = t_stop;
    t_run(&cfg);
    for (unsigned i = 0; i < S.ncalls; i++) {
        struct call *c = &S.calls[i];
        cr_assert(c->done, "call %u (%s%s): no answer", i, c->service, c->path);
        cr_assert(!c->inside_call || (S.faults && c->status == 503), "call %u: done ran inside the handler call", i);
        cr_assert_eq(c->done_on, 0, "call %u: answered on core %d, not the caller's", i, c->done_on);
    }
}

static void t_free(void)
{
    ic_router_free(S.router);
    ic_router_config_free(S.cfg);
    S.ncalls = 0;
}

Test(services, local_and_forwarded_calls_answer_with_the_services_response, .timeout = 120)
{
    t_router("");
    struct call *near = t_add(S.near, "/hello", 0), *far = t_add(S.far, "/hello", 0);
    struct call *near_big = t_add(S.near, "/big", 0), *far_big = t_add(S.far, "/big", 0);
    struct call *near_throw = t_add(S.near, "/throw", 0), *far_throw = t_add(S.far, "/throw", 0);
    struct call *unknown = t_add("nosuch", "/hello", 0);
    t_go();
    struct call *hello[2] = {near, far};
    for (int i = 0; i < 2; i++) {
        struct call *c = hello[i];
        char want[256], hdr[64];
        snprintf(want, sizeof(want), "%s POST http://%s.svc/hello c-test ping", c->service, c->service);
        snprintf(hdr, sizeof(hdr), "x-service: %s\n", c->service);
        cr_assert_eq(c->status, 201, "%s: %d %s", c->service, c->status, c->start);
        cr_assert_str_eq(c->start, want);
        cr_assert(strstr(c->head, hdr), "%s: headers: %s", c->service, c->head);
        cr_assert_not(c->streamed);
    }
    struct call *big[2] = {near_big, far_big};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(big[i]->status, 200, "%s/big: %d %s", big[i]->service, big[i]->status, big[i]->start);
        cr_assert_eq(big[i]->len, 8 * MB, "%s/big: %zu bytes", big[i]->service, big[i]->len);
        cr_assert_eq(big[i]->xs, 8 * MB);
    }
    cr_assert_eq(near_throw->status, 500);
    cr_assert_eq(far_throw->status, 500);
    cr_assert_eq(unknown->status, 503);
    cr_assert(strstr(unknown->start, "'nosuch'"), "%s", unknown->start);
    /* Counted: every call on the caller's core, the forwarded ones as run for another core on core 1. */
    ic_router_stats_t c0, c1;
    ic_router_stats(S.router, 0, &c0);
    ic_router_stats(S.router, 1, &c1);
    cr_assert_eq(c0.services, 7);
    cr_assert_eq(c1.forwarded_in, 3);
    cr_assert_eq(c0.forwarded_in, 0);
    t_free();
}

Test(services, streamed_bodies_pass_through_locally_and_stream_across_cores, .timeout = 120)
{
    t_router("");
    struct call *near = t_add(S.near, "/stream", IC_JS_STREAM), *far = t_add(S.far, "/stream", IC_JS_STREAM);
    struct call *plain = t_add(S.near, "/stream", 0), *far_plain = t_add(S.far, "/stream", 0);
    struct call *huge = t_add(S.far, "/huge", 0);
    t_go();
    cr_assert_eq(near->status, 200);
    cr_assert(near->streamed, "a local call's streamed body is the service's stream");
    cr_assert(near->stream_ok);
    cr_assert(strstr(near->head, "x-streamed: yes"), "%s", near->head);
    cr_assert_eq(near->len, 8 * MB);
    cr_assert_eq(near->xs, 8 * MB);
    cr_assert_eq(far->status, 200);
    cr_assert(far->streamed, "from another core the body streams too");
    cr_assert(far->stream_ok);
    cr_assert(strstr(far->head, "x-streamed: yes"), "%s", far->head);
    cr_assert_eq(far->len, 8 * MB);
    cr_assert_eq(far->xs, 8 * MB);
    cr_assert_eq(plain->status, 200);
    cr_assert_not(plain->streamed, "without IC_JS_STREAM the body comes whole");
    cr_assert_eq(plain->len, 8 * MB);
    cr_assert_eq(far_plain->status, 200);
    cr_assert_not(far_plain->streamed, "without IC_JS_STREAM the body comes whole (gathered on the owner)");
    cr_assert_eq(far_plain->len, 8 * MB);
    /* Gathered (no IC_JS_STREAM) past 16 MiB: 502. */
    cr_assert_eq(huge->status, 502, "%d %s", huge->status, huge->start);
    cr_assert(strstr(huge->start, "16 MiB"), "%s", huge->start);
    t_free();
}

Test(services, a_forwarded_32_MiB_stream_comes_in_pieces_with_backpressure, .timeout = 120)
{
    t_router("");
    struct call *fast = t_add(S.far, "/huge32", IC_JS_STREAM), *slow = t_add(S.far, "/huge32", IC_JS_STREAM);
    slow->slow = true;
    /* /gated's body ends only after /open ran, which the caller sends once it has /gated's head. */
    struct call *gated = t_add(S.far, "/gated", IC_JS_STREAM), *open = t_add(S.far, "/open", 0);
    gated->then = open;
    open->deferred = true;
    t_go();
    struct call *big[2] = {fast, slow};
    for (int i = 0; i < 2; i++) {
        struct call *c = big[i];
        cr_assert_eq(c->status, 200, "%d %s", c->status, c->start);
        cr_assert(c->streamed, "not gathered");
        cr_assert(c->stream_ok);
        cr_assert_eq(c->len, 32 * MB);
        cr_assert_eq(c->xs, 32 * MB);
        cr_assert_gt(c->writes, 1, "the body came in pieces");
        cr_assert_leq(c->max_piece, 1 * MB, "a piece of %zu bytes", c->max_piece);
    }
    cr_assert_eq(gated->status, 200);
    cr_assert(gated->streamed);
    cr_assert(gated->stream_ok);
    cr_assert_eq(gated->len, 1024, "the head came before the body ended, and then the rest");
    cr_assert_eq(open->status, 200);
    cr_assert_str_eq(open->start, "opened");
    t_free();
}

Test(services, a_caller_that_cancels_mid_body_cancels_the_services_stream, .timeout = 120)
{
    t_router("");
    struct call *endless = t_add(S.far, "/endless", IC_JS_STREAM), *seen = t_add(S.far, "/cancelled", 0);
    endless->cancel_at = 4 * MB;
    t_go();
    cr_assert_eq(endless->status, 200);
    cr_assert(endless->streamed);
    cr_assert(endless->cancelled);
    cr_assert_geq(endless->len, 4 * MB);
    /* /cancelled answers once the service's stream heard the cancel. */
    cr_assert_eq(seen->status, 200, "%d %s", seen->status, seen->start);
    cr_assert_str_eq(seen->start, "cancelled");
    t_free();
}

Test(services, a_service_stream_that_fails_mid_body_fails_the_callers, .timeout = 120)
{
    t_router("");
    struct call *fail = t_add(S.far, "/fail", IC_JS_STREAM), *near = t_add(S.near, "/fail", IC_JS_STREAM);
    t_go();
    struct call *both[2] = {fail, near};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(both[i]->status, 200);
        cr_assert(both[i]->streamed);
        cr_assert_not(both[i]->stream_ok, "the caller's body fails too");
        cr_assert_leq(both[i]->len, 2 * MB);
    }
    t_free();
}

Test(services, forwarded_streams_under_allocation_faults_each_get_an_answer_and_an_end, .timeout = 120)
{
    /* Allocations that fail (the flow's state, chunks, answers): each call is answered, each stream ends, nothing leaks. */
    setenv("ISOCORE_FAULTS", getenv("T_FAULTS") ? getenv("T_FAULTS") : "alloc=0.05,seed=11", 1);
    S.faults = true;
    t_router("");
    for (int i = 0; i < 8; i++)
        t_add(S.far, "/stream", IC_JS_STREAM);
    t_go();
    unsigned whole = 0;
    for (unsigned i = 0; i < S.ncalls; i++) {
        struct call *c = &S.calls[i];
        if (c->status == 200 && (!c->streamed || c->stream_ok)) {
            cr_assert_eq(c->len, 8 * MB, "call %u: %zu bytes", i, c->len);
            whole++;
        }
    }
    unsetenv("ISOCORE_FAULTS");
    cr_log_info("%u of %u calls came whole", whole, S.ncalls);
    t_free();
}

Test(services, backpressure_answers_503_with_retry_after, .timeout = 120)
{
    t_router("\"backpressure\": {\"inflight_per_core_pair\": 1}, ");
    struct call *first = t_add(S.far, "/hello", 0), *second = t_add(S.far, "/hello", 0);
    t_go();
    cr_assert_eq(first->status, 201);
    cr_assert_eq(second->status, 503);
    cr_assert(strstr(second->head, "retry-after: 1"), "%s", second->head);
    ic_router_stats_t c0;
    ic_router_stats(S.router, 0, &c0);
    cr_assert_eq(c0.rejected, 1);
    t_free();
}

Test(services, a_spread_service_runs_on_the_calling_core, .timeout = 120)
{
    t_router_with("", ", \"placement\": \"spread\"");
    struct call *c = t_add(S.far, "/hello", 0);
    t_go();
    cr_assert_eq(c->status, 201);
    ic_router_stats_t c1;
    ic_router_stats(S.router, 1, &c1);
    cr_assert_eq(c1.forwarded_in, 0, "a spread tenant runs where the call is made");
    t_free();
}
