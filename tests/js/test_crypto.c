/*
 * test_crypto.c: crypto.subtle (js/crypto.cc, js/prelude_crypto.js) in real
 * workers on a reactor: known-answer vectors, round trips of every algorithm
 * and format, bad input and the spec's errors, JWTs as a Workers user writes
 * them (tests/js/workers/crypto.js runs each group and answers {passed,
 * failures}), and the CPU limit stopping native work that would run for
 * minutes (PBKDF2 with 10^9 iterations, a 16384-bit RSA key, digests of
 * 64 MiB buffers) with the CPU limit's 503, the isolate still serving after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t_util.h"

#define T_MAX 16

struct t_resp {
    int status;
    char body[1 << 16];
    size_t len;
    uint64_t ns; /* when it was answered */
};

static struct {
    ic_js_tenant_t *tenant;
    ic_js_worker_t *w;
    int ret;
    char err[1024];
    struct t_resp r[T_MAX];
    const char *paths[T_MAX];
    int npaths, next;
    uint64_t sent_ns[T_MAX];
} T;

static const char *src_dir(void)
{
    const char *d = getenv("ISOCORE_SRC");
    return d ? d : ".";
}

static void t_tenant(unsigned cpu_ms)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/js/workers/crypto.js", src_dir());
    ic_js_tenant_config_t cfg;
    ic_js_tenant_config_init(&cfg);
    cfg.name = "crypto";
    cfg.path = path;
    cfg.limits.cpu_ms = cpu_ms;
    cr_assert_eq(ic_js_tenant_new(&cfg, &T.tenant), 0, "cannot read %s", path);
}

static void t_send_next(void);

static void t_done(void *arg, const ic_js_response_t *res)
{
    struct t_resp *r = arg;
    r->status = res->status;
    r->len = res->len < sizeof(r->body) - 1 ? res->len : sizeof(r->body) - 1;
    memcpy(r->body, res->body, r->len);
    r->body[r->len] = '\0';
    r->ns = ic_clock_ns();
    t_send_next();
}

/* Sends the paths one after the other (each after the previous one was answered), then stops the reactor. */
static void t_send_next(void)
{
    if (T.next == T.npaths)
        return ic_reactor_stop();
    int i = T.next++;
    static char raw[4096];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t.example\r\n\r\n", T.paths[i]);
    static ic_http_request_t req;
    cr_assert_gt(ic_http_parse_request(raw, strlen(raw), &req), 0);
    T.sent_ns[i] = ic_clock_ns();
    ic_js_worker_fetch(T.w, &req, (ic_str_t){NULL, 0}, t_done, &T.r[i]);
}

static void s_start(void *arg)
{
    T.ret = ic_js_worker_new(T.tenant, &T.w, T.err, sizeof(T.err));
    if (T.ret < 0)
        return ic_reactor_stop();
    t_send_next();
}

static void s_stop(void *arg)
{
    ic_js_worker_free(T.w);
    T.w = NULL;
}

/* Runs the paths in order on one worker of a tenant with that CPU limit. */
static void t_run_paths(unsigned cpu_ms, const char *const *paths, int n)
{
    memset(&T, 0, sizeof(T));
    cr_assert_leq(n, T_MAX);
    for (int i = 0; i < n; i++)
        T.paths[i] = paths[i];
    T.npaths = n;
    t_tenant(cpu_ms);
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_reactor_config_t cfg = t_config(1, s_start, NULL);
    cfg.on_stop = s_stop;
    t_run(&cfg);
    ic_js_tenant_free(T.tenant);
    cr_assert_eq(T.ret, 0, "%s", T.err);
    cr_assert_eq(T.next, n, "only %d of %d requests were sent", T.next, n);
}

/* Asserts that group answer i passed every check, at least min of them. */
static void t_assert_group(int i, int min)
{
    const struct t_resp *r = &T.r[i];
    cr_assert_eq(r->status, 200, "%s: %d %s", T.paths[i], r->status, r->body);
    cr_log_info("%s: %s", T.paths[i], r->body);
    cr_assert(strstr(r->body, "\"failures\":[]") != NULL, "%s: %s", T.paths[i], r->body);
    const char *p = strstr(r->body, "\"passed\":");
    cr_assert_not_null(p, "%s: %s", T.paths[i], r->body);
    cr_assert_geq(atoi(p + 9), min, "%s: %s", T.paths[i], r->body);
}

Test(crypto, known_answer_vectors, .timeout = 120)
{
    static const char *const paths[] = {"/kat"};
    t_run_paths(20000, paths, 1);
    t_assert_group(0, 9);
}

Test(crypto, round_trips_of_every_algorithm_and_format, .timeout = 120)
{
    static const char *const paths[] = {"/roundtrip", "/stream"};
    t_run_paths(20000, paths, 2);
    t_assert_group(0, 6);
    t_assert_group(1, 1);
}

Test(crypto, bad_input_rejects_with_the_spec_errors, .timeout = 120)
{
    static const char *const paths[] = {"/bad"};
    t_run_paths(20000, paths, 1);
    t_assert_group(0, 5);
}

Test(crypto, jwt_sign_and_verify_as_a_workers_user_writes_it, .timeout = 120)
{
    static const char *const paths[] = {"/jwt"};
    t_run_paths(20000, paths, 1);
    t_assert_group(0, 1);
}

/*
 * Each of these would run for minutes; with a 50 ms CPU limit each ends in the limit's 503, soon, and the same
 * isolate answers the next request. The bound on how soon is loose (ASan builds, a busy machine): what it rules
 * out is the work running to its end.
 */
Test(crypto, cpu_limit_stops_native_work, .timeout = 300)
{
    static const char *const paths[] = {"/pbkdf2-huge", "/ok", "/rsa-huge", "/ok", "/digest-huge", "/ok"};
    t_run_paths(50, paths, 6);
    for (int i = 0; i < 6; i += 2) {
        const struct t_resp *r = &T.r[i];
        double ms = (double)(r->ns - T.sent_ns[i]) / 1e6;
        cr_log_info("%s: %d after %.1f ms", T.paths[i], r->status, ms);
        cr_assert_eq(r->status, 503, "%s: %d %s", T.paths[i], r->status, r->body);
        cr_assert(strstr(r->body, "CPU") != NULL, "%s: %s", T.paths[i], r->body);
        cr_assert_lt(ms, 20000.0, "%s took %.0f ms to stop", T.paths[i], ms);
        cr_assert_eq(T.r[i + 1].status, 200, "after %s: %d %s", T.paths[i], T.r[i + 1].status, T.r[i + 1].body);
    }
}
