/*
 * test_router.c: configs, routing, sticky placement and forwarding over real
 * sockets on 127.0.0.1 with two reactors, backpressure, and a config of
 * 1,000 tenants.
 *
 * The server runs in this process (router + HTTP server on the reactors); a
 * blocking client runs on its own thread and records what it saw; the test
 * thread asserts after the reactors stopped.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t_util.h"

static const char *src_dir(void)
{
    const char *d = getenv("ISOCORE_SRC");
    return d ? d : ".";
}

/* ---- config errors --------------------------------------------------------------------------- */

static void config_err(const char *text, const char *want)
{
    char err[1024];
    ic_router_config_t *cfg = NULL;
    int ret = ic_router_config_parse("conf.json", text, strlen(text), &cfg, err, sizeof(err));
    cr_assert_eq(ret, IC_ECONFIG, "accepted: %s", text);
    cr_assert(strstr(err, want) != NULL, "error '%s' does not say '%s'", err, want);
}

Test(router, config_errors_name_file_line_and_field)
{
    config_err("{\n  \"workers\": [\n", "conf.json:3:");
    config_err("[]", "conf.json:1: (top level): expected an object");
    config_err("{}", "workers: expected a non-empty array");
    config_err("{\n \"workers\": [\n  {\"name\": \"a\", \"module\": \"a.js\",\n   \"routes\": [\"ok.example\", 7]}]}",
               "conf.json:4: workers[0].routes[1]: expected a string, got an integer");
    config_err("{\"workers\": [{\"name\": \"a\", \"modul\": \"a.js\"}]}", "workers[0].modul: unknown field");
    config_err("{\"workers\": [{\"name\": \"a\"}]}", "workers[0]: missing \"module\"");
    config_err("{\"workers\": [{\"name\": \"a\", \"module\": \"a.js\"},\n{\"name\": \"a\", \"module\": \"b.js\"}]}",
               "conf.json:2: workers[1]: a second worker named 'a'");
    config_err("{\"listen\": {\"port\": 70000}, \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}",
               "listen.port: expected an integer from 0 to 65535");
    config_err("{\"default\": \"zz\", \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}", "default: 'zz' is not the name");
    config_err("{\"workers\": [{\"name\": \"a\", \"module\": \"a.js\", \"placement\": \"everywhere\"}]}",
               "workers[0].placement: expected \"sticky\", \"spread\" or \"adaptive\"");
    config_err("{\"workers\": [{\"name\": \"a\", \"module\": \"a.js\", \"routes\": [\"bad host!\"]}]}", "is not a host name");
    config_err("{\"workers\": [{\"name\": \"a\", \"module\": \"a.js\", \"limits\": {\"cpu_ms\": 0}}]}",
               "workers[0].limits.cpu_ms: expected an integer from 1");
}

/* "listen": {"tls": …}: both files, relative to the config's directory; errors name the field. */
Test(router, config_listen_tls)
{
    config_err("{\"listen\": {\"tls\": 1}, \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}",
               "listen.tls: expected an object {\"cert\"");
    config_err(
        "{\"listen\": {\"port\": 1,\n \"tls\": {\"cert\": \"c.pem\"}}, \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}",
        "conf.json:2: listen.tls: missing \"key\"");
    config_err(
        "{\"listen\": {\"tls\": {\"cert\": \"c.pem\", \"key\": \"\"}}, \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}",
        "listen.tls.key: expected a non-empty string");
    config_err("{\"listen\": {\"tls\": {\"cert\": \"c.pem\", \"key\": \"k.pem\", \"ca\": \"x\"}}, \"workers\": [{\"name\": \"a\", "
               "\"module\": \"a.js\"}]}",
               "listen.tls.ca: unknown field");
    config_err("{\"admin\": {\"port\": 9, \"tls\": {}}, \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}",
               "admin.tls: unknown field");
    const char *ok = "{\"listen\": {\"port\": 8443, \"tls\": {\"cert\": \"certs/c.pem\", \"key\": \"/abs/k.pem\"}},"
                     " \"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}";
    char err[512];
    ic_router_config_t *cfg;
    cr_assert_eq(ic_router_config_parse("/etc/site/conf.json", ok, strlen(ok), &cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(ic_router_config_tls_cert(cfg), "/etc/site/certs/c.pem");
    cr_assert_str_eq(ic_router_config_tls_key(cfg), "/abs/k.pem");
    ic_router_config_free(cfg);
    cr_assert_eq(ic_router_config_parse("conf.json", ok, strlen(ok), &cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(ic_router_config_tls_cert(cfg), "./certs/c.pem");
    ic_router_config_free(cfg);
    const char *plain = "{\"workers\": [{\"name\": \"a\", \"module\": \"a.js\"}]}";
    cr_assert_eq(ic_router_config_parse("conf.json", plain, strlen(plain), &cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_null(ic_router_config_tls_cert(cfg));
    cr_assert_null(ic_router_config_tls_key(cfg));
    ic_router_config_free(cfg);
}

/* ---- a server with a router ----------------------------------------------------------------------- */

static struct {
    ic_router_config_t *cfg;
    ic_router_t *router;
    ic_http_server_t *http, *admin;
    void (*client)(unsigned port);
    char metrics[1 << 16];
    int results[4096];
    char bodies[64][640];
    int n, errors;
} R;

static void r_start(void *arg)
{
    cr_assert_eq(ic_router_start(R.router), 0);
    cr_assert_eq(ic_http_server_start(R.http), 0);
    cr_assert_eq(ic_http_server_start(R.admin), 0);
}

static void r_stop(void *arg)
{
    ic_http_server_stop(R.http);
    ic_http_server_stop(R.admin);
    ic_router_stop(R.router);
}

static void *r_client(void *arg)
{
    R.client(ic_http_server_port(R.http));
    ic_reactor_stop();
    return NULL;
}

static void r_serve(const char *text, unsigned cores, void (*client)(unsigned))
{
    char err[1024], name[1024];
    snprintf(name, sizeof(name), "%s/tests/router/conf.json", src_dir());
    cr_assert_eq(ic_router_config_parse(name, text, strlen(text), &R.cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ic_router_new(R.cfg, cores, &R.router, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.port = 0;
    h.handler = ic_router_handle;
    h.arg = R.router;
    cr_assert_eq(ic_http_server_new(&h, cores, &R.http), 0);
    h.handler = ic_router_admin_handle;
    cr_assert_eq(ic_http_server_new(&h, cores, &R.admin), 0);
    R.client = client;
    ic_reactor_config_t cfg = t_config(cores, r_start, NULL);
    cfg.on_stop = r_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    pthread_t t;
    pthread_create(&t, NULL, r_client, NULL);
    cr_assert_eq(ic_reactor_wait(), 0);
    pthread_join(t, NULL);
}

static void r_free(void)
{
    ic_http_server_free(R.http);
    ic_http_server_free(R.admin);
    ic_router_free(R.router);
    ic_router_config_free(R.cfg);
}

static int r_connect(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads responses from fd until `count` are in; fills status, core header and body of each. */
struct resp {
    int status, core;
    char body[256];
};

static int r_read(int fd, struct resp *out, int count)
{
    static char buf[1 << 20];
    size_t len = 0;
    int got = 0;
    while (got < count) {
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end + 4 - buf);
            char *cl = memmem(buf, head, "Content-Length: ", 16);
            size_t blen = cl ? strtoul(cl + 16, NULL, 10) : 0;
            if (len >= head + blen) {
                out[got].status = atoi(buf + 9);
                char *core = memmem(buf, head, "x-isocore-core: ", 16);
                out[got].core = core ? atoi(core + 16) : -1;
                size_t n = blen < sizeof(out[got].body) - 1 ? blen : sizeof(out[got].body) - 1;
                memcpy(out[got].body, buf + head, n);
                out[got].body[n] = '\0';
                memmove(buf, buf + head + blen, len - head - blen);
                len -= head + blen;
                got++;
                continue;
            }
        }
        ssize_t r = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    return got;
}

static void r_send(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* ---- sticky placement ----------------------------------------------------------------------------- */

static const char two_tenants[] =
    "{\"core_header\": true, \"workers\": ["
    "{\"name\": \"alpha\", \"module\": \"echo.js\", \"routes\": [\"alpha.test\"], \"env\": {\"NAME\": \"alpha\"}},"
    "{\"name\": \"delta\", \"module\": \"echo.js\", \"routes\": [\"delta.test\", \"*.delta.test\"], \"env\": {\"NAME\": "
    "\"delta\"}},"
    "{\"name\": \"everywhere\", \"module\": \"echo.js\", \"routes\": [\"/spread\"], \"placement\": \"spread\", \"env\": {\"NAME\": "
    "\"spread\"}}]}";

static void c_sticky(unsigned port)
{
    /* Many connections: the kernel spreads them over both cores; each pipelines requests for both tenants. */
    for (int c = 0; c < 40; c++) {
        int fd = r_connect(port);
        if (fd < 0) {
            R.errors++;
            continue;
        }
        char req[4096] = "";
        for (int i = 0; i < 6; i++) {
            char one[256];
            const char *host = i % 3 == 0 ? "alpha.test" : i % 3 == 1 ? "DELTA.test:8080" : "x.delta.test";
            snprintf(one, sizeof(one), "GET /r%d HTTP/1.1\r\nHost: %s\r\n\r\n", i, host);
            strcat(req, one);
        }
        r_send(fd, req);
        struct resp rs[6];
        int got = r_read(fd, rs, 6);
        for (int i = 0; i < got; i++) {
            const char *name = i % 3 == 0 ? "alpha" : "delta";
            char want[64];
            snprintf(want, sizeof(want), "%s /r%d", name, i);
            /* In order, from the tenant's owner core, whatever core holds the connection. */
            if (rs[i].status != 200 || strcmp(rs[i].body, want) != 0 || rs[i].core != (int)ic_router_owner_of(name, 2)) {
                if (R.errors < 64)
                    snprintf(R.bodies[R.errors], sizeof(R.bodies[0]), "%d core %d '%s' (want '%s' core %u)", rs[i].status,
                             rs[i].core, rs[i].body, want, ic_router_owner_of(name, 2));
                R.errors++;
            }
            R.n++;
        }
        close(fd);
    }
    /* The admin listener: Prometheus text at /metrics; garbage gets 400. */
    int fd = r_connect(ic_http_server_port(R.admin));
    r_send(fd, "GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n");
    struct resp m;
    static char body[1 << 16];
    if (r_read(fd, &m, 1) == 1 && m.status == 200)
        R.results[0] = 200;
    close(fd);
    /* r_read keeps 255 bytes of a body: read the whole text with a raw recv loop. */
    fd = r_connect(ic_http_server_port(R.admin));
    r_send(fd, "GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    size_t n = 0;
    for (ssize_t k; n < sizeof(body) - 1 && (k = recv(fd, body + n, sizeof(body) - 1 - n, 0)) > 0;)
        n += (size_t)k;
    body[n] = '\0';
    snprintf(R.metrics, sizeof(R.metrics), "%s", body);
    close(fd);
    fd = r_connect(ic_http_server_port(R.admin));
    r_send(fd, "\x16\x03\x01 garbage\r\n\r\n");
    if (r_read(fd, &m, 1) == 1)
        R.results[1] = m.status;
    close(fd);
}

Test(router, tenants_run_on_their_owner_core_and_pipelined_answers_keep_their_order, .timeout = 120)
{
    memset(&R, 0, sizeof(R));
    cr_assert_neq(ic_router_owner_of("alpha", 2), ic_router_owner_of("delta", 2), "pick names with different owners");
    r_serve(two_tenants, 2, c_sticky);
    ic_router_stats_t s0, s1;
    ic_router_stats(R.router, 0, &s0);
    ic_router_stats(R.router, 1, &s1);
    r_free();
    cr_assert_eq(R.errors, 0, "%d wrong answers, first: %s", R.errors, R.bodies[0]);
    cr_assert_eq(R.n, 240);
    cr_log_info("core 0: %llu requests, %llu local, %llu forwarded out, %llu in; core 1: %llu, %llu, %llu, %llu", s0.requests,
                s0.local, s0.forwarded_out, s0.forwarded_in, s1.requests, s1.local, s1.forwarded_out, s1.forwarded_in);
    cr_assert_eq(s0.requests + s1.requests, 240);
    cr_assert_eq(s0.forwarded_out, s1.forwarded_in);
    cr_assert_eq(s1.forwarded_out, s0.forwarded_in);
    cr_assert_gt(s0.forwarded_out + s1.forwarded_out, 0, "no request crossed cores");
    cr_assert_eq(s0.isolates + s1.isolates, 2, "sticky: one isolate per tenant");
    cr_assert_eq(R.results[0], 200);
    cr_assert_eq(R.results[1], 400, "garbage on the admin port");
    cr_assert(strstr(R.metrics, "isocore_tenant_requests_total{tenant=\"alpha\",outcome=\"ok\"} 80"), "%s", R.metrics);
    cr_assert(strstr(R.metrics, "isocore_tenant_latency_seconds{tenant=\"delta\",quantile=\"0.99\"}"), "%s", R.metrics);
    cr_assert(strstr(R.metrics, "isocore_forwarded_out_total{core=\"1\"}"), "%s", R.metrics);
    /* The work share adaptive placement weighs delays by: one gauge per core, a share of its time. */
    for (unsigned c = 0; c < 2; c++) {
        char name[64];
        snprintf(name, sizeof(name), "\nisocore_work_share{core=\"%u\"} ", c);
        const char *w = strstr(R.metrics, name);
        cr_assert(w, "no %s in %s", name + 1, R.metrics);
        double share = strtod(w + strlen(name), NULL);
        cr_assert(share >= 0 && share <= 1, "work share %f", share);
    }
    const char *heap = strstr(R.metrics, "\nisocore_malloc_in_use_bytes ");
    cr_assert(heap, "%s", R.metrics);
    /* ASan's allocator answers mallinfo2 with zeros: the gauge is there, its value only means something without it. */
    const char *san = getenv("ISOCORE_SANITIZE");
    if (!san || !strstr(san, "address"))
        cr_assert_gt(strtoull(heap + strlen("\nisocore_malloc_in_use_bytes "), NULL, 10), 0);
}

static void c_spread(unsigned port)
{
    for (int c = 0; c < 20; c++) {
        int fd = r_connect(port);
        r_send(fd, "GET /spread/x HTTP/1.1\r\nHost: any\r\n\r\nGET /nope HTTP/1.1\r\nHost: unknown.test\r\n\r\n");
        struct resp rs[2];
        if (r_read(fd, rs, 2) == 2) {
            R.results[c] = rs[0].core;
            if (rs[0].status != 200 || strcmp(rs[0].body, "spread /spread/x") != 0 || rs[1].status != 404)
                R.errors++;
        } else {
            R.errors++;
        }
        close(fd);
    }
}

Test(router, spread_runs_where_the_request_lands_and_unknown_hosts_get_404, .timeout = 60)
{
    memset(&R, 0, sizeof(R));
    r_serve(two_tenants, 2, c_spread);
    ic_router_stats_t s0, s1;
    ic_router_stats(R.router, 0, &s0);
    ic_router_stats(R.router, 1, &s1);
    r_free();
    cr_assert_eq(R.errors, 0);
    cr_assert_eq(s0.forwarded_out + s1.forwarded_out, 0, "spread never forwards");
    cr_assert_eq(s0.not_found + s1.not_found, 20);
}

/* ---- backpressure ------------------------------------------------------------------------------------ */

static const char slow_tenant[] = "{\"backpressure\": {\"queue_per_tenant\": 2}, \"workers\": ["
                                  "{\"name\": \"slow\", \"module\": \"slow.js\", \"routes\": [\"/\"]}]}";

static void c_overload(unsigned port)
{
    int fds[12];
    for (int i = 0; i < 12; i++) {
        fds[i] = r_connect(port);
        r_send(fds[i], "GET /wait HTTP/1.1\r\nHost: s\r\n\r\n");
    }
    for (int i = 0; i < 12; i++) {
        struct resp rs;
        if (r_read(fds[i], &rs, 1) == 1)
            R.results[rs.status]++;
        else
            R.errors++;
        close(fds[i]);
    }
}

Test(router, past_the_tenant_queue_requests_get_503_and_every_request_an_answer, .timeout = 60)
{
    memset(&R, 0, sizeof(R));
    r_serve(slow_tenant, 1, c_overload);
    r_free();
    cr_assert_eq(R.errors, 0, "%d requests got no answer", R.errors);
    cr_log_info("12 concurrent requests, queue of 2: %d answered 200, %d got 503", R.results[200], R.results[503]);
    cr_assert_eq(R.results[200] + R.results[503], 12);
    cr_assert_geq(R.results[200], 2);
    cr_assert_gt(R.results[503], 0);
}

/* ---- a thousand tenants --------------------------------------------------------------------------------- */

static void c_thousand(unsigned port)
{
    int fd = r_connect(port);
    for (int i = 0; i < 1000; i += 7) {
        char req[256], want[64];
        snprintf(req, sizeof(req), "GET /t HTTP/1.1\r\nHost: t%d.test\r\n\r\n", i);
        r_send(fd, req);
        struct resp rs;
        snprintf(want, sizeof(want), "t%d /t", i);
        if (r_read(fd, &rs, 1) != 1 || rs.status != 200 || strcmp(rs.body, want) != 0)
            R.errors++;
        R.n++;
    }
    close(fd);
}

Test(router, a_config_of_1000_tenants, .timeout = 120)
{
    memset(&R, 0, sizeof(R));
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "{\"workers\": [");
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "%s{\"name\": \"t%d\", \"module\": \"echo.js\", \"routes\": [\"t%d.test\"], \"env\": {\"NAME\": "
                                "\"t%d\"}}",
                                i ? "," : "", i, i, i);
    snprintf(text + len, cap - len, "]}");
    r_serve(text, 2, c_thousand);
    ic_router_stats_t s0, s1;
    ic_router_stats(R.router, 0, &s0);
    ic_router_stats(R.router, 1, &s1);
    r_free();
    free(text);
    cr_assert_eq(R.errors, 0, "%d of %d wrong", R.errors, R.n);
    cr_assert_eq(s0.isolates + s1.isolates, (unsigned long long)R.n, "one isolate per tenant used");
}

/* ---- reload under load ----------------------------------------------------------------------------------- */

static struct {
    ic_router_slot_t *slot;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int answered, v1, v2, bad;
} L = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static const char reload_v1[] =
    "{\"workers\": [{\"name\": \"alpha\", \"module\": \"echo.js\", \"routes\": [\"/\"], \"env\": {\"NAME\": "
    "\"v1\"}}]}";
static const char reload_v2[] =
    "{\"workers\": [{\"name\": \"delta\", \"module\": \"echo.js\", \"routes\": [\"/\"], \"env\": {\"NAME\": "
    "\"v2\"}}]}";

static void l_start(void *arg)
{
    cr_assert_eq(ic_router_slot_start(L.slot), 0);
    cr_assert_eq(ic_http_server_start(R.http), 0);
}

static void l_stop(void *arg)
{
    ic_http_server_stop(R.http);
    ic_router_slot_stop(L.slot);
}

/* Four keep-alive connections, 250 pipelined pairs each, counted as they come back. */
static void *l_client(void *arg)
{
    unsigned port = ic_http_server_port(R.http);
    int fds[4];
    for (int c = 0; c < 4; c++)
        fds[c] = r_connect(port);
    for (int round = 0; round < 250; round++) {
        for (int c = 0; c < 4; c++)
            r_send(fds[c], "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        for (int c = 0; c < 4; c++) {
            struct resp rs[2];
            int got = r_read(fds[c], rs, 2);
            pthread_mutex_lock(&L.lock);
            for (int i = 0; i < got; i++) {
                if (rs[i].status == 200 && strncmp(rs[i].body, "v1 /", 4) == 0)
                    L.v1++;
                else if (rs[i].status == 200 && strncmp(rs[i].body, "v2 /", 4) == 0)
                    L.v2++;
                else
                    L.bad++;
            }
            L.answered += got;
            L.bad += 2 - got;
            pthread_cond_broadcast(&L.cond);
            pthread_mutex_unlock(&L.lock);
        }
    }
    for (int c = 0; c < 4; c++)
        close(fds[c]);
    ic_reactor_stop();
    return NULL;
}

Test(router, reload_under_load_loses_nothing, .timeout = 120)
{
    memset(&R, 0, sizeof(R));
    char err[1024], name[1024];
    snprintf(name, sizeof(name), "%s/tests/router/conf.json", src_dir());
    ic_router_config_t *c1, *c2;
    ic_router_t *r1, *r2;
    cr_assert_eq(ic_router_config_parse(name, reload_v1, strlen(reload_v1), &c1, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ic_router_new(c1, 2, &r1, err, sizeof(err)), 0, "%s", err);
    ic_router_adopt_config(r1, c1);
    cr_assert_eq(ic_router_slot_new(r1, &L.slot), 0);
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.port = 0;
    h.handler = ic_router_slot_handle;
    h.arg = L.slot;
    cr_assert_eq(ic_http_server_new(&h, 2, &R.http), 0);
    ic_reactor_config_t cfg = t_config(2, l_start, NULL);
    cfg.on_stop = l_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    pthread_t t;
    pthread_create(&t, NULL, l_client, NULL);
    /* Swap once a quarter of the requests were answered, while the rest are in flight. */
    pthread_mutex_lock(&L.lock);
    while (L.answered < 500 && L.answered + L.bad < 2000)
        pthread_cond_wait(&L.cond, &L.lock);
    pthread_mutex_unlock(&L.lock);
    cr_assert_eq(ic_router_config_parse(name, reload_v2, strlen(reload_v2), &c2, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ic_router_new(c2, 2, &r2, err, sizeof(err)), 0, "%s", err);
    ic_router_adopt_config(r2, c2);
    cr_assert_eq(ic_router_slot_swap(L.slot, r2), 0);
    cr_assert_eq(ic_reactor_wait(), 0);
    pthread_join(t, NULL);
    ic_http_server_free(R.http);
    ic_router_slot_free(L.slot);
    cr_log_info("reload under load: %d answered (%d by the old config, %d by the new), %d lost or wrong", L.answered, L.v1, L.v2,
                L.bad);
    cr_assert_eq(L.bad, 0);
    cr_assert_eq(L.answered, 2000);
    cr_assert_gt(L.v1, 0);
    cr_assert_gt(L.v2, 0, "the new config never answered");
}

/* Requests over 1 KiB and responses over 1.5 KiB take the allocated paths of a forward. */
static void c_big(unsigned port)
{
    static char req[8192], path[3001];
    memset(path, 'p', 3000);
    path[0] = '/';
    for (int c = 0; c < 8; c++) {
        int fd = r_connect(port);
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: alpha.test\r\n\r\nGET %s HTTP/1.1\r\nHost: delta.test\r\n\r\n", path,
                 path);
        r_send(fd, req);
        struct resp rs[2];
        if (r_read(fd, rs, 2) != 2 || rs[0].status != 200 || rs[1].status != 200 || strncmp(rs[0].body, "alpha /ppp", 10) != 0 ||
            strncmp(rs[1].body, "delta /ppp", 10) != 0 || strlen(rs[0].body) != 255)
            R.errors++;
        R.n += 2;
        close(fd);
    }
}

Test(router, large_requests_and_responses_cross_cores, .timeout = 60)
{
    memset(&R, 0, sizeof(R));
    r_serve(two_tenants, 2, c_big);
    ic_router_stats_t s0, s1;
    ic_router_stats(R.router, 0, &s0);
    ic_router_stats(R.router, 1, &s1);
    r_free();
    cr_assert_eq(R.errors, 0);
    cr_assert_eq(s0.forwarded_out + s1.forwarded_out, 8, "one of each pair crosses cores");
}

/* ---- a reload keeps what did not change ------------------------------------------------------------------ */

static const char keep_v1[] =
    "{\"workers\": ["
    "{\"name\": \"alpha\", \"module\": \"echo.js\", \"routes\": [\"alpha.test\"], \"env\": {\"NAME\": \"alpha\"}},"
    "{\"name\": \"delta\", \"module\": \"echo.js\", \"routes\": [\"delta.test\"], \"env\": {\"NAME\": \"delta\"}}]}";
/* delta's env changed (a new tenant: a cold start), alpha's route did (the router's: alpha stays warm). */
static const char keep_v2[] =
    "{\"workers\": ["
    "{\"name\": \"alpha\", \"module\": \"echo.js\", \"routes\": [\"alpha.test\", \"alpha2.test\"], \"env\": {\"NAME\": "
    "\"alpha\"}},"
    "{\"name\": \"delta\", \"module\": \"echo.js\", \"routes\": [\"delta.test\"], \"env\": {\"NAME\": \"delta2\"}}]}";

static struct {
    unsigned kept[2];
    int reload_ret[2];
    unsigned long long created[3], requests[3];
    int errors;
    char first_error[256];
} K;

/* Sums a counter over both cores of the slot's current router. */
static void k_stats(unsigned long long *created, unsigned long long *requests)
{
    ic_router_stats_t a, b;
    ic_router_stats(ic_router_slot_current(L.slot), 0, &a);
    ic_router_stats(ic_router_slot_current(L.slot), 1, &b);
    *created = a.isolates_created + b.isolates_created;
    *requests = a.requests + b.requests;
}

/* One connection, requests for the hosts given, each answer checked against "NAME /k". */
static void k_ask(unsigned port, const char *const *hosts, const char *const *names, int n)
{
    int fd = r_connect(port);
    for (int i = 0; i < n; i++) {
        char req[256], want[64];
        snprintf(req, sizeof(req), "GET /k HTTP/1.1\r\nHost: %s\r\n\r\n", hosts[i]);
        r_send(fd, req);
        struct resp rs;
        snprintf(want, sizeof(want), "%s /k", names[i]);
        if (r_read(fd, &rs, 1) != 1 || rs.status != 200 || strcmp(rs.body, want) != 0) {
            if (!K.errors++)
                snprintf(K.first_error, sizeof(K.first_error), "%s: want '%s'", hosts[i], want);
        }
    }
    close(fd);
}

static int k_reload(const char *text)
{
    char err[1024], name[1024];
    snprintf(name, sizeof(name), "%s/tests/router/conf.json", src_dir());
    ic_router_config_t *cfg;
    cr_assert_eq(ic_router_config_parse(name, text, strlen(text), &cfg, err, sizeof(err)), 0, "%s", err);
    unsigned kept = 0;
    int ret = ic_router_slot_reload(L.slot, cfg, &kept, err, sizeof(err));
    if (ret < 0)
        ic_router_config_free(cfg);
    return ret < 0 ? ret : (int)kept;
}

static void *k_client(void *arg)
{
    unsigned port = ic_http_server_port(R.http);
    static const char *const hosts[] = {"alpha.test", "delta.test"}, *const v1[] = {"alpha", "delta"};
    k_ask(port, hosts, v1, 2);
    k_stats(&K.created[0], &K.requests[0]);
    K.reload_ret[0] = k_reload(keep_v1);
    k_ask(port, hosts, v1, 2);
    k_stats(&K.created[1], &K.requests[1]);
    K.reload_ret[1] = k_reload(keep_v2);
    static const char *const hosts2[] = {"alpha2.test", "delta.test"}, *const v2[] = {"alpha", "delta2"};
    k_ask(port, hosts2, v2, 2);
    k_stats(&K.created[2], &K.requests[2]);
    ic_reactor_stop();
    return NULL;
}

Test(router, a_reload_keeps_unchanged_tenants_warm_and_counters_going, .timeout = 120)
{
    memset(&R, 0, sizeof(R));
    memset(&K, 0, sizeof(K));
    char err[1024], name[1024];
    snprintf(name, sizeof(name), "%s/tests/router/conf.json", src_dir());
    ic_router_config_t *c1;
    ic_router_t *r1;
    cr_assert_eq(ic_router_config_parse(name, keep_v1, strlen(keep_v1), &c1, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ic_router_new(c1, 2, &r1, err, sizeof(err)), 0, "%s", err);
    ic_router_adopt_config(r1, c1);
    cr_assert_eq(ic_router_slot_new(r1, &L.slot), 0);
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.port = 0;
    h.handler = ic_router_slot_handle;
    h.arg = L.slot;
    cr_assert_eq(ic_http_server_new(&h, 2, &R.http), 0);
    ic_reactor_config_t cfg = t_config(2, l_start, NULL);
    cfg.on_stop = l_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    pthread_t t;
    pthread_create(&t, NULL, k_client, NULL);
    cr_assert_eq(ic_reactor_wait(), 0);
    pthread_join(t, NULL);
    /* Once a core stopped, a reload is refused (its pool went with the last router). */
    ic_router_config_t *late;
    cr_assert_eq(ic_router_config_parse(name, keep_v1, strlen(keep_v1), &late, err, sizeof(err)), 0, "%s", err);
    int late_ret = ic_router_slot_reload(L.slot, late, NULL, err, sizeof(err));
    ic_router_config_free(late);
    ic_http_server_free(R.http);
    ic_router_slot_free(L.slot);
    cr_assert_eq(K.errors, 0, "%d wrong answers, first: %s", K.errors, K.first_error);
    cr_assert_eq(K.reload_ret[0], 2, "both tenants kept (%d)", K.reload_ret[0]);
    cr_assert_eq(K.reload_ret[1], 1, "alpha kept, delta changed (%d)", K.reload_ret[1]);
    cr_assert_eq(K.created[0], 2);
    cr_assert_eq(K.created[1], 2, "no isolate made after a reload that changed nothing");
    cr_assert_eq(K.created[2], 3, "one for the changed tenant only");
    cr_assert_eq(K.requests[1], K.requests[0] + 2, "the counters go on across the reload");
    cr_assert_eq(K.requests[2], K.requests[1] + 2);
    cr_assert_eq(late_ret, IC_ESHUTDOWN);
}
