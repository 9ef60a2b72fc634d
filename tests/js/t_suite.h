/*
 * t_suite.h: runs requests against Workers tenants on one reactor, for the
 * JS suites that answer one request with a JSON verdict (test_encoding.c,
 * test_compression.c). Requests start from on_start; each answer is copied
 * into its slot; the reactor stops when the last one is answered, and the
 * test asserts on its own thread after that.
 */
#ifndef ISOCORE_T_SUITE_H
#define ISOCORE_T_SUITE_H

#include <stdio.h>
#include <stdlib.h>

#include "t_util.h"

#define TS_MAX 8

struct ts_resp {
    int status;
    char *body; /* malloc'ed, NUL-terminated */
    size_t len;
};

struct ts_req {
    int worker;
    const char *method, *target;
    const void *body;
    size_t len;
};

static struct {
    ic_js_tenant_t *tenant[2];
    ic_js_worker_t *w[2];
    int ret[2];
    char err[2][1024];
    struct ts_req req[TS_MAX];
    struct ts_resp r[TS_MAX];
    unsigned nreq, next, outstanding;
    bool serial; /* one request at a time, in order */
} TS;

static ic_js_tenant_t *ts_tenant(const char *name, const char *rel_path, const ic_js_limits_t *limits)
{
    const char *dir = getenv("ISOCORE_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/js/workers/%s", dir ? dir : ".", rel_path);
    ic_js_tenant_config_t cfg;
    ic_js_tenant_config_init(&cfg);
    cfg.name = name;
    cfg.path = path;
    if (limits)
        cfg.limits = *limits;
    ic_js_tenant_t *t = NULL;
    cr_assert_eq(ic_js_tenant_new(&cfg, &t), 0, "cannot read %s", path);
    return t;
}

/* Queues a request for worker i (body may hold any bytes). */
static void ts_add(int i, const char *method, const char *target, const void *body, size_t len)
{
    cr_assert_lt(TS.nreq, TS_MAX);
    TS.req[TS.nreq++] = (struct ts_req){i, method, target, body, len};
}

static void ts_send(unsigned slot);

static void ts_done(void *arg, const ic_js_response_t *res)
{
    struct ts_resp *r = arg;
    r->status = res->status;
    r->len = res->len;
    r->body = malloc(res->len + 1);
    memcpy(r->body, res->body, res->len);
    r->body[res->len] = '\0';
    TS.outstanding--;
    if (TS.serial && TS.next < TS.nreq)
        ts_send(TS.next++);
    else if (TS.outstanding == 0 && TS.next == TS.nreq)
        ic_reactor_stop();
}

static void ts_send(unsigned slot)
{
    static char raw[4096];
    static ic_http_request_t req[TS_MAX];
    const struct ts_req *q = &TS.req[slot];
    snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nHost: t.example\r\nContent-Length: %zu\r\n\r\n", q->method, q->target, q->len);
    cr_assert_gt(ic_http_parse_request(raw, strlen(raw), &req[slot]), 0);
    TS.outstanding++;
    if (TS.w[q->worker])
        ic_js_worker_fetch(TS.w[q->worker], &req[slot], (ic_str_t){q->body, q->len}, ts_done, &TS.r[slot]);
    else
        ts_done(&TS.r[slot], &(ic_js_response_t){.status = -1});
}

static void ts_start(void *arg)
{
    for (int i = 0; i < 2; i++)
        if (TS.tenant[i])
            TS.ret[i] = ic_js_worker_new(TS.tenant[i], &TS.w[i], TS.err[i], sizeof(TS.err[i]));
    if (TS.nreq == 0)
        return ic_reactor_stop();
    if (TS.serial)
        return ts_send(TS.next++);
    while (TS.next < TS.nreq)
        ts_send(TS.next++);
}

static void ts_stop(void *arg)
{
    for (int i = 0; i < 2; i++) {
        ic_js_worker_free(TS.w[i]);
        TS.w[i] = NULL;
    }
}

/* Runs the queued requests to their answers. */
static void ts_run(void)
{
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_reactor_config_t cfg = t_config(1, ts_start, NULL);
    cfg.on_stop = ts_stop;
    t_run(&cfg);
}

static void ts_reset(void)
{
    memset(&TS, 0, sizeof(TS));
}

static void ts_fini(void)
{
    for (int i = 0; i < 2; i++)
        ic_js_tenant_free(TS.tenant[i]);
    for (unsigned i = 0; i < TS_MAX; i++)
        free(TS.r[i].body);
    ts_reset();
}

/* Asserts that slot answered 200 with a JSON verdict {"passed":N,"total":N,"failures":[]}. */
static void ts_assert_suite(unsigned slot, int min_checks)
{
    struct ts_resp *r = &TS.r[slot];
    cr_assert_eq(r->status, 200, "%d %s", r->status, r->body ? r->body : "");
    cr_log_info("%s", r->body);
    cr_assert(strstr(r->body, "\"failures\":[]") != NULL, "%s", r->body);
    const char *p = strstr(r->body, "\"passed\":");
    cr_assert_not_null(p, "%s", r->body);
    cr_assert_geq(atoi(p + 9), min_checks, "%s", r->body);
}

#endif
