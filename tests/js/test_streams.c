/*
 * test_streams.c: the Streams Standard in a worker (tests/js/workers/streams.js): readable streams (default and
 * byte streams, readers, tee, async iteration, from()), writable and transform streams, pipes, the WebIDL shape of
 * every interface (brand checks, lengths, class strings), and TextEncoderStream/TextDecoderStream.
 *
 * Each test asks the worker for one group of checks (GET /<group>) on one reactor; the worker answers
 * {passed, failures}, asserted on the test's thread after the reactor stopped.
 */
#include <stdio.h>
#include <stdlib.h>

#include "t_util.h"

static struct {
    ic_js_tenant_t *tenant;
    ic_js_worker_t *w;
    int ret;
    char err[1024];
    const char *group;
    int status;
    char body[1 << 16];
} S;

static void s_done(void *arg, const ic_js_response_t *res)
{
    S.status = res->status;
    size_t n = res->len < sizeof(S.body) - 1 ? res->len : sizeof(S.body) - 1;
    memcpy(S.body, res->body, n);
    S.body[n] = '\0';
    ic_reactor_stop();
}

static void s_start(void *arg)
{
    S.ret = ic_js_worker_new(S.tenant, &S.w, S.err, sizeof(S.err));
    if (S.ret < 0)
        return ic_reactor_stop();
    static char raw[512];
    snprintf(raw, sizeof(raw), "GET /%s HTTP/1.1\r\nHost: t.example\r\n\r\n", S.group);
    static ic_http_request_t req;
    cr_assert_gt(ic_http_parse_request(raw, strlen(raw), &req), 0);
    ic_js_worker_fetch(S.w, &req, (ic_str_t){NULL, 0}, s_done, NULL);
}

static void s_stop(void *arg)
{
    ic_js_worker_free(S.w);
    S.w = NULL;
}

/* Asks the worker for GET /<group> on a fresh worker; the answer is in S.status and S.body. */
static void request_group(const char *group)
{
    memset(&S, 0, sizeof(S));
    S.group = group;
    const char *src = getenv("ISOCORE_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/js/workers/streams.js", src ? src : ".");
    ic_js_tenant_config_t cfg;
    ic_js_tenant_config_init(&cfg);
    cfg.name = "streams";
    cfg.path = path;
    /* The checks wait on timers and many promises: one entry may take longer than the default under ASan. */
    cfg.limits.cpu_ms = 2000;
    cr_assert_eq(ic_js_tenant_new(&cfg, &S.tenant), 0, "cannot read %s", path);
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_reactor_config_t rc = t_config(1, s_start, NULL);
    rc.on_stop = s_stop;
    t_run(&rc);
    ic_js_tenant_free(S.tenant);
    cr_assert_eq(S.ret, 0, "%s", S.err);
}

/* Runs group `group` of streams.js and asserts that all of its checks passed, and at least `min` of them. */
static void run_group(const char *group, int min)
{
    request_group(group);
    cr_assert_eq(S.status, 200, "%d %s", S.status, S.body);
    cr_log_info("streams /%s: %s", group, S.body);
    cr_assert(strstr(S.body, "\"failures\":[]") != NULL, "%s", S.body);
    const char *p = strstr(S.body, "\"passed\":");
    cr_assert(p != NULL, "%s", S.body);
    cr_assert_geq(atoi(p + 9), min, "%s", S.body);
}

Test(streams, readable_default_streams_readers_tee_iteration_and_from, .timeout = 60)
{
    run_group("readable", 10);
}

Test(streams, byte_streams_byob_readers_requests_and_transfers, .timeout = 60)
{
    run_group("bytes", 7);
}

Test(streams, writable_streams_writers_backpressure_and_abort, .timeout = 60)
{
    run_group("writable", 5);
}

Test(streams, transform_streams, .timeout = 60)
{
    run_group("transform", 4);
}

Test(streams, pipe_to_and_pipe_through, .timeout = 60)
{
    run_group("pipe", 5);
}

Test(streams, webidl_shape_brand_checks_and_strategies, .timeout = 60)
{
    run_group("idl", 6);
}

Test(streams, text_encoder_and_decoder_streams, .timeout = 60)
{
    run_group("encoding", 4);
}

/* The worker answers an unknown group with 404: a typo in a group name cannot pass as "no failures". */
Test(streams, unknown_group_is_a_404, .timeout = 60)
{
    request_group("nope");
    cr_assert_eq(S.status, 404, "%d %s", S.status, S.body);
}
