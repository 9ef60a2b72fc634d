/*
 * test_inject.c: ic_router_inject, the connection-less way into the router
 * that bench/router.c measures. Two reactors, one sticky tenant (echo.js):
 * a request injected on the tenant's owner runs there; one injected on the
 * other core goes over the SPSC mesh, runs on the owner and its answer comes
 * back to the injecting core — also when the response is too big for the
 * message and its memory has to go home to be freed (ASan/LSan see a leak or
 * a free on the wrong path).
 */
#include <stdio.h>
#include <stdlib.h>

#include "t_util.h"

#define BIG 3000 /* bytes of the tenant's NAME: past the 1.5 KiB a response can have inside the message */

static struct {
    ic_router_config_t *cfg;
    ic_router_t *router;
    unsigned owner;
    _Atomic unsigned left; /* answers still to come, over both cores */
    int status[2];         /* by injecting core */
    int answered_on[2];
    char body[2][BIG + 64];
    size_t len[2];
    int ret[2];
    char name[BIG + 1];
} I;

static void t_answer(void *arg, int status, const char *const *headers, unsigned nheaders, const void *body, size_t len)
{
    (void)headers;
    (void)nheaders;
    unsigned from = (unsigned)(uintptr_t)arg;
    I.status[from] = status;
    I.answered_on[from] = ic_reactor_id();
    I.len[from] = len < sizeof(I.body[from]) - 1 ? len : sizeof(I.body[from]) - 1;
    memcpy(I.body[from], body, I.len[from]);
    I.body[from][I.len[from]] = 0;
    if (atomic_fetch_sub(&I.left, 1) == 1)
        ic_reactor_stop();
}

static void t_start(void *arg)
{
    (void)arg;
    cr_assert_eq(ic_router_start(I.router), 0);
    unsigned self = (unsigned)ic_reactor_id();
    ic_http_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = (ic_str_t){"GET", 3};
    req.target = (ic_str_t){"/hello", 6};
    req.host = (ic_str_t){"inject.test", 11};
    req.minor = 1;
    req.nheaders = 1;
    req.headers[0] = (ic_http_header_t){{"Host", 4}, {"inject.test", 11}};
    I.ret[self] = ic_router_inject(I.router, &req, (ic_str_t){"", 0}, t_answer, (void *)(uintptr_t)self);
    if (I.ret[self] < 0 && atomic_fetch_sub(&I.left, 1) == 1)
        ic_reactor_stop();
}

static void t_stop(void *arg)
{
    (void)arg;
    ic_router_stop(I.router);
}

/* Runs one request injected on each core; the tenant's NAME is `name`. */
static void t_inject_both(const char *name)
{
    char path[1024], err[1024];
    const char *d = getenv("ISOCORE_SRC");
    snprintf(path, sizeof(path), "%s/tests/router/conf.json", d ? d : ".");
    size_t cap = strlen(name) + 256;
    char *text = malloc(cap);
    snprintf(
        text, cap,
        "{\"workers\": [{\"name\": \"inj\", \"module\": \"echo.js\", \"routes\": [\"inject.test\"], \"env\": {\"NAME\": \"%s\"}}]}",
        name);
    cr_assert_eq(ic_router_config_parse(path, text, strlen(text), &I.cfg, err, sizeof(err)), 0, "%s", err);
    free(text);
    cr_assert_eq(ic_router_new(I.cfg, 2, &I.router, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ic_js_platform_init(), 0);
    I.owner = ic_router_owner_of("inj", 2);
    atomic_store(&I.left, 2);
    for (int i = 0; i < 2; i++)
        I.status[i] = I.answered_on[i] = -1;
    ic_reactor_config_t cfg = t_config(2, t_start, NULL);
    cfg.on_stop = t_stop;
    t_run(&cfg);
}

static void t_check(const char *name)
{
    char want[BIG + 64];
    snprintf(want, sizeof(want), "%s /hello", name);
    for (unsigned c = 0; c < 2; c++) {
        cr_assert_eq(I.ret[c], 0, "core %u: %s", c, ic_strerror(I.ret[c]));
        cr_assert_eq(I.status[c], 200, "core %u", c);
        cr_assert_eq(I.answered_on[c], (int)c, "the answer of core %u's request came on core %d", c, I.answered_on[c]);
        cr_assert_str_eq(I.body[c], want, "core %u", c);
    }
    ic_router_stats_t owner, other;
    ic_router_stats(I.router, I.owner, &owner);
    ic_router_stats(I.router, 1 - I.owner, &other);
    cr_assert_eq(owner.local, 1);
    cr_assert_eq(owner.forwarded_out, 0);
    cr_assert_eq(owner.forwarded_in, 1, "the other core's request did not run on the owner");
    cr_assert_eq(other.local, 0);
    cr_assert_eq(other.forwarded_out, 1);
    cr_assert_eq(other.forwarded_in, 0);
    ic_router_free(I.router);
    ic_router_config_free(I.cfg);
}

Test(router, inject_runs_local_and_forwarded_requests, .timeout = 60)
{
    t_inject_both("inj");
    t_check("inj");
}

Test(router, inject_forwards_a_response_too_big_for_the_message, .timeout = 60)
{
    memset(I.name, 'n', BIG);
    I.name[BIG] = 0;
    t_inject_both(I.name);
    t_check(I.name);
}
