/*
 * t_js.h: a Workers tenant on one reactor, for the tests of the Web API
 * (test_events.c, test_blob.c, test_globals.c, test_urlpattern.c): requests go to the worker from the
 * reactor's thread, answers are recorded there and asserted on the test's
 * thread after the reactor stopped.
 */
#ifndef ISOCORE_T_JS_H
#define ISOCORE_T_JS_H

#include "t_util.h"

#define TJ_MAX 8

struct tj_resp {
    int status;
    char body[1 << 16];
    size_t len;
    bool done;
    uint64_t sent_ns, done_ns;
};

struct tj_req {
    const char *method, *target, *headers, *body;
    size_t body_len; /* 0: strlen(body) */
};

static struct {
    ic_js_tenant_t *tenant;
    ic_js_worker_t *w;
    int ret;
    char err[1024];
    const struct tj_req *reqs;
    unsigned nreqs, outstanding;
    bool sync_done[TJ_MAX]; /* answered before ic_js_worker_fetch returned */
    struct tj_resp r[TJ_MAX];
} TJ;

static inline const char *tj_src_dir(void)
{
    const char *d = getenv("ISOCORE_SRC");
    return d ? d : ".";
}

static inline void tj_done(void *arg, const ic_js_response_t *res)
{
    struct tj_resp *r = arg;
    r->status = res->status;
    r->len = res->len < sizeof(r->body) - 1 ? res->len : sizeof(r->body) - 1;
    memcpy(r->body, res->body, r->len);
    r->body[r->len] = '\0';
    r->done = true;
    r->done_ns = ic_clock_ns();
    if (--TJ.outstanding == 0)
        ic_reactor_stop();
}

static inline void tj_start(void *arg)
{
    TJ.ret = ic_js_worker_new(TJ.tenant, &TJ.w, TJ.err, sizeof(TJ.err));
    if (TJ.ret < 0)
        return ic_reactor_stop();
    static char raw[1 << 17];
    static ic_http_request_t req;
    TJ.outstanding = TJ.nreqs;
    for (unsigned i = 0; i < TJ.nreqs; i++) {
        const struct tj_req *q = &TJ.reqs[i];
        size_t blen = q->body ? (q->body_len ? q->body_len : strlen(q->body)) : 0;
        snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nHost: t.example\r\n%sContent-Length: %zu\r\n\r\n", q->method, q->target,
                 q->headers ? q->headers : "", blen);
        int n = ic_http_parse_request(raw, strlen(raw), &req);
        cr_assert_gt(n, 0);
        TJ.r[i].sent_ns = ic_clock_ns();
        ic_js_worker_fetch(TJ.w, &req, (ic_str_t){q->body, blen}, tj_done, &TJ.r[i]);
        TJ.sync_done[i] = TJ.r[i].done;
    }
}

static inline void tj_stop(void *arg)
{
    ic_js_worker_free(TJ.w);
    TJ.w = NULL;
}

/* Runs the requests against the worker at tests/js/workers/<rel_path> until all are answered. */
static inline void tj_run(const char *name, const char *rel_path, const struct tj_req *reqs, unsigned n)
{
    memset(&TJ, 0, sizeof(TJ));
    cr_assert_leq(n, TJ_MAX);
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/js/workers/%s", tj_src_dir(), rel_path);
    ic_js_tenant_config_t cfg;
    ic_js_tenant_config_init(&cfg);
    cfg.name = name;
    cfg.path = path;
    cfg.limits.cpu_ms = 10000; /* the suites run every check in one entry: how fast the machine is must not decide them */
    cr_assert_eq(ic_js_tenant_new(&cfg, &TJ.tenant), 0, "cannot read %s", path);
    TJ.reqs = reqs;
    TJ.nreqs = n;
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_reactor_config_t rc = t_config(1, tj_start, NULL);
    rc.on_stop = tj_stop;
    t_run(&rc);
    ic_js_tenant_free(TJ.tenant);
    cr_assert_eq(TJ.ret, 0, "%s", TJ.err);
    for (unsigned i = 0; i < n; i++)
        cr_assert(TJ.r[i].done, "request %u (%s) got no answer", i, reqs[i].target);
}

/* Asserts that a {passed, failures} suite answered with no failure; returns how many checks passed. */
static inline int tj_suite_passed(const struct tj_resp *r)
{
    cr_assert_eq(r->status, 200, "%d %s", r->status, r->body);
    cr_assert(strstr(r->body, "\"failures\":[]") != NULL, "%s", r->body);
    const char *p = strstr(r->body, "\"passed\":");
    cr_assert_not_null(p, "%s", r->body);
    return atoi(p + 9);
}

/* Asserts that a {passed, failures} suite answered with no failure and at least `min` passing checks. */
static inline void tj_assert_suite(const struct tj_resp *r, int min)
{
    cr_assert_geq(tj_suite_passed(r), min, "%s", r->body);
}

#endif
