/*
 * test_services.c: service bindings through the `isocore` binary. A config
 * with two workers on two cores, whose names hash to different owners: the
 * front worker (routed) calls env.AUTH.fetch() of the auth worker (not
 * routed), which runs on its own core and answers over the SPSC mesh — its
 * status, headers and body reach the front worker, a streamed body of a few
 * MiB arrives whole and in order, one of 32 MiB streams across (passed
 * through, and read in pieces by the front), the front's cancel mid-body
 * cancels the service's stream, the service's failure mid-body rejects the
 * front's read, a throw is the front's 500 — and the
 * admin metrics count the calls on the front's core and their runs on the
 * auth's core.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_http.h"
#include "t_util.h"

struct srv {
    pid_t pid;
    int err_fd;
    unsigned port, admin;
    char dir[64], cfg[128];
    char auth[16]; /* the auth worker's name: owned by the other core than "front" */
    unsigned front_on, auth_on;
};

static const char *t_src(void)
{
    return getenv("ISOCORE_SRC") ? getenv("ISOCORE_SRC") : ".";
}

/* Writes the config: "front" binds AUTH to the worker `auth` (svc_auth.js), whose env.WHO is `who`. */
static void t_write_config(struct srv *s, const char *auth, const char *who)
{
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.new", s->cfg);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "{\"cores\": 2, \"workers\": [\n"
            "  {\"name\": \"front\", \"module\": \"%s/tests/e2e/workers/svc_front.js\", \"routes\": [\"front.test\"],\n"
            "   \"services\": {\"AUTH\": \"%s\"}},\n"
            "  {\"name\": \"%s\", \"module\": \"%s/tests/e2e/workers/svc_auth.js\", \"env\": {\"WHO\": \"%s\"}}\n"
            "]}\n",
            t_src(), auth, auth, t_src(), who);
    fclose(f);
    cr_assert_eq(rename(tmp, s->cfg), 0); /* whole, for a reload that reads it */
}

/* A worker name that core `core` of two owns, other than `not`. */
static void t_name_on(unsigned core, const char * not, char *out, size_t cap)
{
    out[0] = 0;
    for (unsigned i = 0; i < 64 && !out[0]; i++) {
        char name[16];
        snprintf(name, sizeof(name), "auth%u", i);
        if (ic_router_owner_of(name, 2) == core && (!not || strcmp(name, not ) != 0))
            snprintf(out, cap, "%s", name);
    }
    cr_assert(out[0]);
}

static void t_start(struct srv *s)
{
    const char *bin = getenv("ISOCORE_BIN");
    cr_assert_not_null(bin, "ISOCORE_BIN is not set (run through ctest)");
    s->front_on = ic_router_owner_of("front", 2);
    s->auth_on = 1 - s->front_on;
    t_name_on(s->auth_on, NULL, s->auth, sizeof(s->auth));
    snprintf(s->dir, sizeof(s->dir), "/tmp/isocore-services-XXXXXX");
    cr_assert_not_null(mkdtemp(s->dir));
    snprintf(s->cfg, sizeof(s->cfg), "%s/isocore.json", s->dir);
    t_write_config(s, s->auth, "auth");
    static char port[16], admin[16];
    s->port = t_free_port();
    s->admin = t_free_port();
    snprintf(port, sizeof(port), "%u", s->port);
    snprintf(admin, sizeof(admin), "%u", s->admin);
    const char *argv[] = {bin, "serve", "--config", s->cfg, "--cores", "2", "--port", port, "--admin-port", admin, NULL};
    s->pid = t_spawn(argv, NULL, &s->err_fd);
    t_wait_serving(s->err_fd);
}

static void t_stop(struct srv *s)
{
    kill(s->pid, SIGTERM);
    int st = 0;
    waitpid(s->pid, &st, 0);
    close(s->err_fd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server did not exit cleanly (status %d)", st);
    unlink(s->cfg);
    rmdir(s->dir);
}

static void t_get(unsigned port, const char *req, struct t_resp *r)
{
    struct t_in in = {.fd = t_http_dial(port, 0)};
    cr_assert_geq(in.fd, 0);
    t_http_send(in.fd, req, strlen(req));
    cr_assert(t_http_read(&in, r, false, true), "no response to %s", req);
    close(in.fd);
    free(in.buf);
}

/* The value of a metric line `name{core="C"} V` in the admin's /metrics. */
static unsigned long long t_metric(struct srv *s, const char *name, unsigned core)
{
    struct t_resp r;
    t_get(s->admin, "GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    char key[128];
    snprintf(key, sizeof(key), "%s{core=\"%u\"} ", name, core);
    const char *p = strstr(r.body, key);
    cr_assert(p, "no %s in the metrics", key);
    unsigned long long v = strtoull(p + strlen(key), NULL, 10);
    t_resp_free(&r);
    return v;
}

Test(services, a_binding_runs_the_other_tenant_on_its_core, .timeout = 120)
{
    struct srv s;
    t_start(&s);
    struct t_resp r;
    /* Several connections: the kernel spreads them over both cores; the calls go from front's core to auth's. */
    for (int i = 0; i < 4; i++) {
        t_get(s.port, "GET /check HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
        cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
        cr_assert_str_eq(r.body, "200 auth POST /hello?from=front front ping");
        t_resp_free(&r);
    }
    t_get(s.port, "GET /throw HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
    cr_assert_eq(r.status, 500, "the service's 500 passes through: %d %s", r.status, r.body);
    t_resp_free(&r);
    t_get(s.port, "GET /nowhere HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
    cr_assert_eq(r.status, 404, "the service's status passes through: %d", r.status);
    cr_assert_str_eq(r.body, "auth: no such path");
    t_resp_free(&r);
    cr_assert_geq(t_metric(&s, "isocore_service_calls_total", s.front_on), 6);
    cr_assert_eq(t_metric(&s, "isocore_service_calls_total", s.auth_on), 0);
    cr_assert_geq(t_metric(&s, "isocore_forwarded_in_total", s.auth_on), 6, "the calls ran on the auth worker's core");
    t_stop(&s);
}

Test(services, a_streamed_body_of_a_few_mib_crosses_cores, .timeout = 120)
{
    struct srv s;
    t_start(&s);
    struct t_resp r;
    for (int i = 0; i < 3; i++) {
        /* Passed through by the front worker: the auth worker's stream, carried from its core. */
        t_get(s.port, "GET /stream?mib=4 HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
        cr_assert_eq(r.status, 200, "%d", r.status);
        cr_assert(r.complete, "the body came to its end");
        cr_assert_eq(r.body_len, 4u << 20, "%zu bytes", r.body_len);
        cr_assert(strstr(r.head, "x-service: auth"), "%s", r.head);
        for (size_t k = 0; k < 64; k++)
            cr_assert_eq(r.body[k * 65536], (char)('a' + k % 26), "chunk %zu out of place", k);
        t_resp_free(&r);
    }
    /* Read by the front worker itself, chunk by chunk. */
    unsigned sum = 0;
    for (unsigned k = 0; k < 64; k++)
        sum = (sum + 16u * ('a' + k % 26)) % 65536;
    char want[128];
    snprintf(want, sizeof(want), "{\"status\":200,\"total\":4194304,\"sum\":%u}", sum);
    t_get(s.port, "GET /sum?mib=4 HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_assert_str_eq(r.body, want);
    t_resp_free(&r);
    t_stop(&s);
}

Test(services, a_streamed_body_of_32_mib_streams_across_cores, .timeout = 120)
{
    struct srv s;
    t_start(&s);
    struct t_resp r;
    /* Passed through: past the 16 MiB that a gathered body could hold. */
    t_get(s.port, "GET /stream?mib=32 HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
    cr_assert_eq(r.status, 200, "%d", r.status);
    cr_assert(r.complete, "the body came to its end");
    cr_assert_eq(r.body_len, 32u << 20, "%zu bytes", r.body_len);
    for (size_t k = 0; k < 512; k++)
        cr_assert_eq(r.body[k * 65536], (char)('a' + k % 26), "chunk %zu out of place", k);
    t_resp_free(&r);
    /* Read by the front worker, in more than one piece. */
    unsigned sum = 0;
    for (unsigned k = 0; k < 512; k++)
        sum = (sum + 16u * ('a' + k % 26)) % 65536;
    char want[128];
    snprintf(want, sizeof(want), "{\"status\":200,\"total\":33554432,\"sum\":%u,\"pieces\":true}", sum);
    t_get(s.port, "GET /sum?mib=32&chunks HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_assert_str_eq(r.body, want);
    t_resp_free(&r);
    t_stop(&s);
}

Test(services, a_caller_that_cancels_mid_body_cancels_the_services_stream, .timeout = 120)
{
    struct srv s;
    t_start(&s);
    struct t_resp r;
    t_get(s.port, "GET /cancel HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_assert_str_eq(r.body, "true the service's stream was cancelled");
    t_resp_free(&r);
    t_stop(&s);
}

Test(services, a_service_body_that_fails_mid_way_rejects_the_callers_read, .timeout = 120)
{
    struct srv s;
    t_start(&s);
    struct t_resp r;
    t_get(s.port, "GET /fail HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_assert(strstr(r.body, "rejected after 262144 bytes: "), "%s", r.body);
    cr_assert(strstr(r.body, "the response body failed"), "%s", r.body);
    t_resp_free(&r);
    t_stop(&s);
}

Test(services, after_a_reload_bindings_go_to_the_new_config, .timeout = 120)
{
    struct srv s;
    t_start(&s);
    struct t_resp r;
    t_get(s.port, "GET /check HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
    cr_assert_str_eq(r.body, "200 auth POST /hello?from=front front ping");
    t_resp_free(&r);
    /* The service is renamed (on the other core now); the old name is gone from the new config. */
    char renamed[16];
    t_name_on(s.front_on, NULL, renamed, sizeof(renamed));
    t_write_config(&s, renamed, "renamed");
    kill(s.pid, SIGHUP);
    /* The reload happens on the server's main thread: poll with real requests (bounded) until the new config answers. */
    int tries = 0;
    char want[128];
    snprintf(want, sizeof(want), "200 renamed POST /hello?from=front front ping");
    for (; tries < 2000; tries++) {
        t_get(s.port, "GET /check HTTP/1.1\r\nHost: front.test\r\n\r\n", &r);
        cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
        bool now = strcmp(r.body, want) == 0;
        cr_assert(now || strcmp(r.body, "200 auth POST /hello?from=front front ping") == 0, "try %d: %s", tries, r.body);
        t_resp_free(&r);
        if (now)
            break;
    }
    cr_assert_lt(tries, 2000, "the reload never took over");
    cr_assert_geq(t_metric(&s, "isocore_service_calls_total", s.front_on), 1, "counted by the new router");
    t_stop(&s);
}
