/*
 * test_urlpattern.c: URLPattern (prelude_urlpattern.js): named groups,
 * wildcards, regexp groups, the ? + * modifiers and {} groups, escaping,
 * string and URLPatternInit input, base URLs, ignoreCase, exec results,
 * canonicalisation, compareComponent and TypeErrors for bad patterns, checked
 * by tests/js/workers/urlpattern.js inside a worker on a reactor; the worker
 * answers {passed, failures}.
 */
#include <stdio.h>
#include <stdlib.h>

#include "t_util.h"

static struct {
    ic_js_tenant_t *tenant;
    ic_js_worker_t *w;
    int ret, status;
    char err[1024], body[1 << 14];
} G;

static void g_done(void *arg, const ic_js_response_t *res)
{
    G.status = res->status;
    size_t n = res->len < sizeof(G.body) - 1 ? res->len : sizeof(G.body) - 1;
    memcpy(G.body, res->body, n);
    G.body[n] = '\0';
    ic_reactor_stop();
}

static void g_start(void *arg)
{
    G.ret = ic_js_worker_new(G.tenant, &G.w, G.err, sizeof(G.err));
    if (G.ret < 0)
        return ic_reactor_stop();
    static const char raw[] = "GET /suite HTTP/1.1\r\nHost: t.example\r\n\r\n";
    static ic_http_request_t req;
    cr_assert_gt(ic_http_parse_request(raw, strlen(raw), &req), 0);
    ic_js_worker_fetch(G.w, &req, (ic_str_t){NULL, 0}, g_done, NULL);
}

static void g_stop(void *arg)
{
    ic_js_worker_free(G.w);
    G.w = NULL;
}

Test(urlpattern, urlpattern_suite, .timeout = 60)
{
    memset(&G, 0, sizeof(G));
    const char *src = getenv("ISOCORE_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/js/workers/urlpattern.js", src ? src : ".");
    ic_js_tenant_config_t cfg;
    ic_js_tenant_config_init(&cfg);
    cfg.name = "urlpattern";
    cfg.path = path;
    cfg.limits.cpu_ms = 10000; /* the suite runs every check in one entry: how fast the machine is must not decide it */
    cr_assert_eq(ic_js_tenant_new(&cfg, &G.tenant), 0, "cannot read %s", path);
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_reactor_config_t rc = t_config(1, g_start, NULL);
    rc.on_stop = g_stop;
    t_run(&rc);
    ic_js_tenant_free(G.tenant);
    cr_assert_eq(G.ret, 0, "%s", G.err);
    cr_assert_eq(G.status, 200, "%d %s", G.status, G.body);
    cr_log_info("urlpattern suite: %s", G.body);
    cr_assert(strstr(G.body, "\"failures\":[]") != NULL, "%s", G.body);
    const char *p = strstr(G.body, "\"passed\":");
    cr_assert_not_null(p, "%s", G.body);
    cr_assert_eq(atoi(p + 9), 12, "%s", G.body);
}
