/*
 * test_fetch.c: the global fetch() of workers (js/fetch.cc, js/prelude_fetch_out.js) over the core's own HTTP
 * client, and the JS side of service bindings.
 *
 * One reactor runs three things: an upstream ic_http_server whose C handler answers by path (echo, redirects,
 * compressed bodies, slow and endless bodies, counters), the front server whose requests go to the worker
 * tests/js/workers/fetch.js (streamed both ways, as the router does), and, on a thread of its own, a raw "bad
 * upstream" (garbage, resets, a stall). A blocking client on its own thread asks the front and records the
 * answers; the test thread asserts after the reactor stopped. Loopback only.
 */
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "t_http.h"
#include "t_tls.h"
#include "t_util.h"

static ic_http_server_t *t_up, *t_front;
static ic_js_tenant_t *t_tenant;
static ic_js_worker_t *t_worker;
static char t_err[1024];
static int t_ret;
static unsigned t_bad_port, t_refused_port, t_up_port;
static ic_tls_ctx_t *t_up_tls; /* the upstream speaks HTTPS with it (NULL: plain HTTP) */

/* ---- the upstream ------------------------------------------------------------------------------ */

static const char t_text[] = "the quick brown fox jumps over the lazy dog; ";
static char t_plain[64 * 45 + 1]; /* t_text 64 times */

/* "brotli says hello! " 50 times, compressed once with node's zlib.brotliCompressSync (libbrotlienc is not linked). */
static const unsigned char t_br[] = "\x1b\xb5\x03\xf8\x45\x77\x78\xbd\xeb\x3e\x8b\x28\xc6\xa8\x9e\xa2\xc2\x10\x21\x5d\x63\x74\x6c"
                                    "\xac\xff\xa2\x92\x94\x01";

static size_t t_compress(const char *in, size_t n, unsigned char *out, size_t cap, int bits)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t len = cap - zs.avail_out;
    deflateEnd(&zs);
    return len;
}

/* Exchanges answered later (a timer): answered at stop if still waiting. */
struct t_later {
    ic_timer_t timer;
    ic_http_exchange_t *x;
    struct t_later *next;
    bool hold;
};
static struct t_later *t_laters;
static int t_hold_now, t_hold_max;

static void t_later_fired(ic_timer_t *t)
{
    struct t_later *l = (struct t_later *)t;
    for (struct t_later **p = &t_laters; *p; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            break;
        }
    }
    if (l->hold)
        t_hold_now--;
    ic_http_respond(l->x, 200, NULL, 0, l->hold ? "held" : "slow hello", l->hold ? 4 : 10);
    free(l);
}

static void t_later(ic_http_exchange_t *x, unsigned ms, bool hold)
{
    struct t_later *l = calloc(1, sizeof(*l));
    l->x = x;
    l->hold = hold;
    l->next = t_laters;
    t_laters = l;
    ic_timer_init(&l->timer, t_later_fired);
    ic_timer_start(&l->timer, (uint64_t)ms * 1000000u, 0);
}

/* A streamed body: n bytes of a pattern as fast as the reader takes them (/big), or 1000 bytes and then nothing (/midbody). */
struct t_big {
    ic_http_exchange_t *x;
    uint64_t n, sent;
    bool stall;
};
static struct t_big *t_bigs[4];

static void t_big_pump(struct t_big *b)
{
    static char chunk[65536];
    while (b->x && b->sent < b->n) {
        size_t k = b->n - b->sent < sizeof(chunk) ? (size_t)(b->n - b->sent) : sizeof(chunk);
        for (size_t i = 0; i < k; i++)
            chunk[i] = (char)('a' + (b->sent + i) % 26);
        int r = ic_http_stream_write(b->x, chunk, k);
        cr_assert_geq(r, 0);
        b->sent += k;
        if (b->stall)
            return; /* the rest never comes */
        if (r == 0)
            return;
    }
    if (b->x && b->sent >= b->n) {
        ic_http_stream_end(b->x, true);
        b->x = NULL;
    }
}

static void t_big_drain(void *arg)
{
    t_big_pump(arg);
}

static void t_big_abort(void *arg)
{
    ((struct t_big *)arg)->x = NULL;
}

static const ic_http_stream_ops_t t_big_ops = {t_big_drain, t_big_abort};

static void t_big_start(ic_http_exchange_t *x, uint64_t n, bool stall)
{
    struct t_big *b = NULL;
    for (int i = 0; i < 4 && !b; i++) {
        if (!t_bigs[i])
            t_bigs[i] = calloc(1, sizeof(struct t_big));
        if (!t_bigs[i]->x)
            b = t_bigs[i];
    }
    cr_assert_not_null(b);
    b->n = n;
    b->sent = 0;
    b->stall = stall;
    static const char *const h[] = {"Content-Type: application/octet-stream"};
    int r = ic_http_respond_start(x, 200, h, 1, stall ? -1 : (int64_t)n, &t_big_ops, b);
    cr_assert_eq(r, 0);
    b->x = x;
    t_big_pump(b);
}

static const char *t_header(const ic_http_request_t *req, const char *name)
{
    static char v[256];
    for (unsigned i = 0; i < req->nheaders; i++) {
        if (req->headers[i].name.len == strlen(name) && strncasecmp(req->headers[i].name.p, name, strlen(name)) == 0) {
            snprintf(v, sizeof(v), "%.*s", (int)req->headers[i].value.len, req->headers[i].value.p);
            return v;
        }
    }
    return "-";
}

static void t_up_handler(ic_http_exchange_t *x, void *arg)
{
    const ic_http_request_t *req = ic_http_request(x);
    char target[256], method[16];
    snprintf(target, sizeof(target), "%.*s", (int)req->target.len, req->target.p);
    snprintf(method, sizeof(method), "%.*s", (int)req->method.len, req->method.p);
    ic_str_t body = ic_http_body(x);
    static char out[8192];
    if (strcmp(target, "/echo") == 0) {
        int n = snprintf(out, sizeof(out), "%s ct=%s xt=%s len=%zu body=%.*s", method, t_header(req, "content-type"),
                         t_header(req, "x-test"), body.len, (int)(body.len < 4000 ? body.len : 4000), body.p);
        ic_http_respond(x, 200, NULL, 0, out, (size_t)n);
    } else if (strcmp(target, "/hello") == 0) {
        ic_http_respond(x, 200, NULL, 0, "hello", 5);
    } else if (strcmp(target, "/nocontent") == 0) {
        ic_http_respond(x, 204, NULL, 0, "", 0);
    } else if (strcmp(target, "/sum") == 0) {
        uint64_t sum = 0;
        bool ok = true;
        for (size_t i = 0; i < body.len; i++) {
            sum += (unsigned char)body.p[i];
            ok = ok && (unsigned char)body.p[i] == (i & 0xff);
        }
        int n = snprintf(out, sizeof(out), "%zu %llu %s chunked=%d", body.len, (unsigned long long)sum, ok ? "ordered" : "garbled",
                         req->chunked);
        ic_http_respond(x, 200, NULL, 0, out, (size_t)n);
    } else if (strncmp(target, "/r/", 3) == 0 || strncmp(target, "/loop/", 6) == 0) {
        bool loop = target[1] == 'l';
        int k = atoi(target + (loop ? 6 : 3));
        if (!loop && k == 0) {
            ic_http_respond(x, 200, NULL, 0, "landed", 6);
            return;
        }
        char loc[64];
        snprintf(loc, sizeof(loc), "Location: /%s/%d", loop ? "loop" : "r", loop ? k + 1 : k - 1);
        const char *h[] = {loc};
        ic_http_respond(x, 302, h, 1, "moved", 5);
    } else if (strcmp(target, "/see-other") == 0) {
        static const char *const h[] = {"Location: /echo"};
        ic_http_respond(x, 303, h, 1, "", 0);
    } else if (strcmp(target, "/temporary") == 0) {
        static const char *const h[] = {"Location: /echo"};
        ic_http_respond(x, 307, h, 1, "", 0);
    } else if (strcmp(target, "/gzip") == 0 || strcmp(target, "/deflate") == 0) {
        static unsigned char z[8192];
        size_t n = t_compress(t_plain, strlen(t_plain), z, sizeof(z), target[1] == 'g' ? 31 : 15);
        const char *h[] = {target[1] == 'g' ? "Content-Encoding: gzip" : "Content-Encoding: deflate"};
        ic_http_respond(x, 200, h, 1, z, n);
    } else if (strcmp(target, "/br") == 0) {
        static const char *const h[] = {"Content-Encoding: br"};
        ic_http_respond(x, 200, h, 1, t_br, sizeof(t_br) - 1);
    } else if (strcmp(target, "/accepts") == 0) {
        ic_http_server_stats_t st;
        ic_http_server_stats(t_up, 0, &st);
        int n = snprintf(out, sizeof(out), "%llu", st.accepted);
        ic_http_respond(x, 200, NULL, 0, out, (size_t)n);
    } else if (strcmp(target, "/hold-reset") == 0) {
        t_hold_now = t_hold_max = 0;
        ic_http_respond(x, 200, NULL, 0, "ok", 2);
    } else if (strcmp(target, "/hold") == 0) {
        if (++t_hold_now > t_hold_max)
            t_hold_max = t_hold_now;
        t_later(x, 100, true);
    } else if (strcmp(target, "/hold-max") == 0) {
        int n = snprintf(out, sizeof(out), "%d", t_hold_max);
        ic_http_respond(x, 200, NULL, 0, out, (size_t)n);
    } else if (strcmp(target, "/slow") == 0) {
        t_later(x, 1500, false);
    } else if (strncmp(target, "/big?n=", 7) == 0) {
        t_big_start(x, strtoull(target + 7, NULL, 10), false);
    } else if (strcmp(target, "/midbody") == 0) {
        t_big_start(x, 1000, true);
    } else {
        ic_http_respond(x, 404, NULL, 0, "", 0);
    }
}

/* ---- the front: requests to the worker --------------------------------------------------------------- */

static void t_front_done(void *arg, const ic_js_response_t *res)
{
    ic_js_http_respond(arg, res, NULL);
}

static void t_front_handler(ic_http_exchange_t *x, void *arg)
{
    if (!t_worker) {
        ic_http_respond(x, 500, NULL, 0, t_err, strlen(t_err));
        return;
    }
    ic_js_http_fetch(t_worker, x, IC_JS_STREAM, t_front_done, x);
}

/*
 * The service handler: the service's worker (tests/js/workers/fetch_service.js) runs the request from a task (as the
 * router's would, never inside the caller's entry), its streamed response handed to done as it is.
 */
static ic_js_tenant_t *t_svc_tenant;
static ic_js_worker_t *t_svc_worker;
static struct {
    ic_task_t task;
    char raw[4096];
    ic_http_request_t req;
    char body[1024];
    size_t len;
    ic_js_done_cb done;
    void *arg;
    bool busy;
} t_svc;

static void t_svc_run(ic_task_t *t)
{
    t_svc.busy = false;
    ic_js_worker_fetch_ex(t_svc_worker, &t_svc.req, (ic_str_t){t_svc.body, t_svc.len}, IC_JS_STREAM, t_svc.done, t_svc.arg);
}

static void t_service(void *ctx, const char *service, const ic_http_request_t *req, ic_str_t body, unsigned flags,
                      ic_js_done_cb done, void *arg)
{
    cr_assert_str_eq(service, "auth-worker");
    cr_assert(flags & IC_JS_STREAM);
    cr_assert_not(t_svc.busy);
    /* The request is valid only during this call: a copy (as the head the router would have parsed). */
    int n = snprintf(t_svc.raw, sizeof(t_svc.raw), "%.*s %.*s HTTP/1.1\r\nHost: %.*s\r\n", (int)req->method.len, req->method.p,
                     (int)req->target.len, req->target.p, (int)req->host.len, req->host.p);
    for (unsigned i = 0; i < req->nheaders; i++)
        n += snprintf(t_svc.raw + n, sizeof(t_svc.raw) - (size_t)n, "%.*s: %.*s\r\n", (int)req->headers[i].name.len,
                      req->headers[i].name.p, (int)req->headers[i].value.len, req->headers[i].value.p);
    n += snprintf(t_svc.raw + n, sizeof(t_svc.raw) - (size_t)n, "\r\n");
    cr_assert_gt(ic_http_parse_request(t_svc.raw, (size_t)n, &t_svc.req), 0);
    t_svc.len = body.len < sizeof(t_svc.body) ? body.len : sizeof(t_svc.body);
    memcpy(t_svc.body, body.p, t_svc.len);
    t_svc.done = done;
    t_svc.arg = arg;
    t_svc.busy = true;
    ic_task_post(&t_svc.task, t_svc_run);
}

static void t_start(void *arg)
{
    cr_assert_eq(ic_http_server_start(t_up), 0);
    cr_assert_eq(ic_http_server_start(t_front), 0);
    t_ret = ic_js_worker_new(t_tenant, &t_worker, t_err, sizeof(t_err));
    if (t_ret == 0)
        t_ret = ic_js_worker_new(t_svc_tenant, &t_svc_worker, t_err, sizeof(t_err));
    ic_js_set_services(t_service, NULL);
}

static void t_stop(void *arg)
{
    while (t_laters) {
        struct t_later *l = t_laters;
        t_laters = l->next;
        ic_timer_stop(&l->timer);
        ic_http_respond(l->x, 503, NULL, 0, "", 0);
        free(l);
    }
    ic_js_worker_free(t_worker);
    t_worker = NULL;
    ic_js_worker_free(t_svc_worker);
    t_svc_worker = NULL;
    ic_http_server_stop(t_up);
    ic_http_server_stop(t_front);
}

/* ---- the bad upstream: a raw listener on its own thread ------------------------------------------------------ */

static int t_bad_fd;
static _Atomic bool t_bad_quit;

static void *t_bad_main(void *arg)
{
    int stalled[8], nstalled = 0;
    while (!atomic_load(&t_bad_quit)) {
        struct pollfd p = {.fd = t_bad_fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(t_bad_fd, NULL, NULL);
        if (c < 0)
            continue;
        char buf[4096];
        ssize_t n = recv(c, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        if (strstr(buf, "GET /garbage")) {
            static const char g[] = "HTTP/1.1 2x0 What\r\nno colon here\r\n\r\n";
            send(c, g, sizeof(g) - 1, MSG_NOSIGNAL);
            close(c);
        } else if (strstr(buf, "GET /reset")) {
            struct linger lg = {1, 0};
            setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(c);
        } else if (strstr(buf, "GET /short")) {
            static const char g[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this";
            send(c, g, sizeof(g) - 1, MSG_NOSIGNAL);
            close(c);
        } else if (nstalled < 8) {
            stalled[nstalled++] = c; /* /stall: the head never comes */
        } else {
            close(c);
        }
    }
    for (int i = 0; i < nstalled; i++)
        close(stalled[i]);
    return NULL;
}

/* ---- the client ----------------------------------------------------------------------------------- */

#define T_MAX 8
static struct {
    const char *paths[T_MAX];
    unsigned n;
    int status[T_MAX];
    char *body[T_MAX];
    size_t len[T_MAX];
    bool complete[T_MAX];
    bool count_only[T_MAX];
    long rss_before_kb, rss_peak_kb;
} C;

static const char *tj_src_dir_fetch(void)
{
    const char *d = getenv("ISOCORE_SRC");
    return d ? d : ".";
}

static long t_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* Samples the process's RSS while the client runs (the peak is what a buffered body would show). */
static _Atomic bool t_sampling;
static void *t_sampler(void *arg)
{
    while (atomic_load(&t_sampling)) {
        long rss = t_rss_kb();
        if (rss > C.rss_peak_kb)
            C.rss_peak_kb = rss;
        usleep(5000);
    }
    return NULL;
}

static void *t_client(void *arg)
{
    struct t_in in = {.fd = t_http_dial(ic_http_server_port(t_front), 0)};
    cr_assert_geq(in.fd, 0);
    for (unsigned i = 0; i < C.n; i++) {
        char req[512];
        if (strncmp(C.paths[i], "POST ", 5) == 0) {
            /* 1 MiB of a pattern, sent as the front reads it: the worker's request body streams in. */
            size_t blen = 1u << 20;
            int n =
                snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: front\r\nContent-Length: %zu\r\n\r\n", C.paths[i] + 5, blen);
            t_http_send(in.fd, req, (size_t)n);
            char *b = malloc(blen);
            for (size_t k = 0; k < blen; k++)
                b[k] = (char)(k & 0xff);
            t_http_send(in.fd, b, blen);
            free(b);
        } else {
            int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: front\r\n\r\n", C.paths[i]);
            t_http_send(in.fd, req, (size_t)n);
        }
        struct t_resp r;
        if (!t_http_read(&in, &r, false, !C.count_only[i]))
            break;
        if (i == 0 && C.count_only[1]) {
            /* The baseline for a proxied body: after the first request, with the worker warm. */
            C.rss_before_kb = t_rss_kb();
            C.rss_peak_kb = 0;
        }
        C.status[i] = r.status;
        C.body[i] = r.body;
        C.len[i] = r.body_len;
        C.complete[i] = r.complete;
    }
    close(in.fd);
    free(in.buf);
    ic_reactor_stop();
    return NULL;
}

/* Runs the worker with the front and upstream on one reactor; the client asks for each path in order. */
static void t_serve(unsigned wall_ms, const char *const *paths, unsigned n)
{
    memset(&C, 0, sizeof(C));
    for (unsigned i = 0; i < n; i++) {
        C.paths[i] = paths[i];
        C.count_only[i] = strncmp(paths[i], "/proxy", 6) == 0;
    }
    C.n = n;
    for (int i = 0; i < 64; i++)
        memcpy(t_plain + i * 45, t_text, 45);

    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.port = 0;
    h.max_body = 64u << 20;
    h.tls = t_up_tls;
    h.handler = t_up_handler;
    cr_assert_eq(ic_http_server_new(&h, 1, &t_up), 0);
    t_up_port = ic_http_server_port(t_up);
    ic_http_server_config_init(&h);
    h.port = 0;
    h.stream_bodies = true;
    h.handler = t_front_handler;
    cr_assert_eq(ic_http_server_new(&h, 1, &t_front), 0);

    t_bad_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t sl = sizeof(sa);
    cr_assert_eq(bind(t_bad_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(t_bad_fd, 16), 0);
    cr_assert_eq(getsockname(t_bad_fd, (struct sockaddr *)&sa, &sl), 0);
    t_bad_port = ntohs(sa.sin_port);
    t_refused_port = t_free_port();
    atomic_store(&t_bad_quit, false);
    pthread_t bad;
    pthread_create(&bad, NULL, t_bad_main, NULL);

    char up[64], badv[64], refused[80];
    const char *scheme = t_up_tls ? "https" : "http";
    snprintf(up, sizeof(up), "UPSTREAM=%s://127.0.0.1:%u", scheme, ic_http_server_port(t_up));
    snprintf(badv, sizeof(badv), "BAD=http://127.0.0.1:%u", t_bad_port);
    snprintf(refused, sizeof(refused), "REFUSED=http://127.0.0.1:%u/nothing", t_refused_port);
    char local[64];
    snprintf(local, sizeof(local), "LOCAL=%s://localhost:%u", scheme, t_up_port);
    const char *env[] = {up, badv, refused, local};
    const char *services[] = {"AUTH=auth-worker"};
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/js/workers/fetch.js", tj_src_dir_fetch());
    ic_js_tenant_config_t cfg;
    ic_js_tenant_config_init(&cfg);
    cfg.name = "fetch";
    cfg.path = path;
    cfg.env = env;
    cfg.nenv = 4;
    cfg.services = services;
    cfg.nservices = 1;
    cfg.limits.cpu_ms = 1000;
    cfg.limits.wall_ms = wall_ms;
    cr_assert_eq(ic_js_tenant_new(&cfg, &t_tenant), 0, "cannot read %s", path);
    snprintf(path, sizeof(path), "%s/tests/js/workers/fetch_service.js", tj_src_dir_fetch());
    ic_js_tenant_config_init(&cfg);
    cfg.name = "auth-worker";
    cfg.path = path;
    cr_assert_eq(ic_js_tenant_new(&cfg, &t_svc_tenant), 0, "cannot read %s", path);
    cr_assert_eq(ic_js_platform_init(), 0);

    ic_reactor_config_t rc = t_config(1, t_start, NULL);
    rc.on_stop = t_stop;
    cr_assert_eq(ic_reactor_start(&rc), 0);
    C.rss_before_kb = t_rss_kb();
    atomic_store(&t_sampling, true);
    pthread_t th, sampler;
    pthread_create(&sampler, NULL, t_sampler, NULL);
    pthread_create(&th, NULL, t_client, NULL);
    pthread_join(th, NULL);
    atomic_store(&t_sampling, false);
    pthread_join(sampler, NULL);
    cr_assert_eq(ic_reactor_wait(), 0);
    atomic_store(&t_bad_quit, true);
    pthread_join(bad, NULL);
    close(t_bad_fd);
    ic_http_server_free(t_up);
    ic_http_server_free(t_front);
    ic_js_tenant_free(t_tenant);
    ic_js_tenant_free(t_svc_tenant);
    for (int i = 0; i < 4; i++) {
        free(t_bigs[i]);
        t_bigs[i] = NULL;
    }
    cr_assert_eq(t_ret, 0, "%s", t_err);
}

static void t_free_bodies(void)
{
    for (unsigned i = 0; i < T_MAX; i++)
        free(C.body[i]);
}

/* The answer to request i must contain each line of want, in order. */
static void t_expect(unsigned i, const char *const *want, unsigned n)
{
    cr_assert_eq(C.status[i], 200, "%s: %d %s", C.paths[i], C.status[i], C.body[i] ? C.body[i] : "");
    const char *at = C.body[i];
    for (unsigned k = 0; k < n; k++) {
        const char *hit = strstr(at, want[k]);
        cr_assert_not_null(hit, "%s: no '%s' in:\n%s", C.paths[i], want[k], C.body[i]);
        at = hit + strlen(want[k]);
    }
}

#define T_EXPECT(i, ...)                                                                                                           \
    do {                                                                                                                           \
        const char *const w_[] = {__VA_ARGS__};                                                                                    \
        t_expect(i, w_, sizeof(w_) / sizeof(w_[0]));                                                                               \
    } while (0)

/* ---- the tests --------------------------------------------------------------------------------------- */

Test(fetch, methods_and_bodies, .timeout = 60)
{
    static const char *const p[] = {"/methods", "/upload", "/top", "POST /passthrough", "/localhost"};
    t_serve(10000, p, 5);
    T_EXPECT(0, "200 GET ct=- xt=- len=0 body=\n", "200 POST ct=text/plain;charset=UTF-8 xt=- len=8 body=a string\n",
             "200 PUT ct=- xt=- len=12 body=array buffer\n", "200 PATCH ct=- xt=- len=2 body=ie\n", "200 DELETE ct=- xt=- len=0",
             "200 POST ct=application/x-www-form-urlencoded;charset=UTF-8 xt=- len=9 body=a=1&b=x+y\n", "200 form true\n",
             "200 POST ct=text/x-blob xt=- len=6 body=a blob\n", "200 POST ct=- xt=- len=10 body=", "HEAD 200 true\n",
             "204 204 true\n", "200 GET ct=- xt=yes");
    /* 4 MiB of bytes 0..255 repeating: the sum is 4 Mi × 127.5. */
    T_EXPECT(1, "200 4194304 534773760 ordered chunked=1");
    T_EXPECT(2, "TypeError: fetch: outgoing requests can only be made while handling a request");
    /* The incoming request passed on: its body streams from the client through the worker to the upstream. */
    T_EXPECT(3, "200 1048576 133693440 ordered");
    /* A host name, through /etc/hosts (the resolver comes with the dns branch: until it is there the reason says so). */
    if (C.body[4] && strstr(C.body[4], "no resolver in this build"))
        cr_log_warn("no resolver in this build: %s", C.body[4]);
    else
        T_EXPECT(4, "200 hello");
    t_free_bodies();
}

Test(fetch, redirects, .timeout = 60)
{
    static const char *const p[] = {"/redirects"};
    t_serve(10000, p, 1);
    char url[128];
    snprintf(url, sizeof(url), "200 true http://127.0.0.1:%u/r/0 landed\n", t_up_port);
    T_EXPECT(0, url, "303 200 true GET ct=- xt=- len=0 body=\n", "307 200 POST ct=text/plain;charset=UTF-8 xt=- len=4 body=kept\n",
             "manual 302 false /r/0\n", "error TypeError: fetch to ", "redirect mode is 'error'", "loop TypeError: fetch to ",
             "too many redirects (more than 20)", "twentyone TypeError:", "too many redirects", "twenty 200 landed\n",
             "stream307 TypeError:", "cannot follow a 307 redirect with a streamed body");
    t_free_bodies();
}

Test(fetch, abort_at_each_stage, .timeout = 60)
{
    static const char *const p[] = {"/abort", "/hello"};
    t_serve(10000, p, 2);
    T_EXPECT(0, "before AbortError:", "connect AbortError:", "head AbortError:", "body 1000 Error: custom reason\n",
             "after 200 hello");
    T_EXPECT(1, "hello");
    t_free_bodies();
}

Test(fetch, content_encodings_decoded, .timeout = 60)
{
    static const char *const p[] = {"/encodings", "/gzip-through"};
    t_serve(10000, p, 2);
    T_EXPECT(0, "/gzip gzip ", " 2880 the quick brown fox\n", "/deflate deflate ", " 2880 the quick brown fox\n",
             "/br br 29 950 brotli says hello! ");
    /* Passed on as the worker's response: the body goes out decoded, without the Content-Encoding it no longer has. */
    cr_assert_eq(C.status[1], 200);
    cr_assert_eq(C.len[1], 2880, "%zu", C.len[1]);
    cr_assert(strncmp(C.body[1], t_text, 45) == 0);
    t_free_bodies();
}

Test(fetch, connection_reuse_and_limits, .timeout = 60)
{
    static const char *const p[] = {"/reuse", "/limit", "/concurrent"};
    t_serve(10000, p, 3);
    T_EXPECT(0, "0"); /* five calls after the first: no new connection to the upstream */
    T_EXPECT(1, "50 TypeError: Too many subrequests");
    T_EXPECT(2, "7 6"); /* seven fetches, at most six at once */
    t_free_bodies();
}

Test(fetch, waiting_on_the_network_is_not_cpu_time, .timeout = 60)
{
    /* The upstream answers after 1.5 s; the CPU limit is 1 s per entry. */
    static const char *const p[] = {"/slowcpu"};
    t_serve(10000, p, 1);
    T_EXPECT(0, "200 slow hello");
    t_free_bodies();
}

Test(fetch, bad_upstreams, .timeout = 60)
{
    static const char *const p[] = {"/bad?k=garbage", "/bad?k=reset", "/bad?k=short", "/errors", "/stall", "/hello", "/background"};
    t_serve(1500, p, 7);
    T_EXPECT(0, "TypeError: fetch to http://127.0.0.1:", "/garbage failed: ");
    T_EXPECT(1, "TypeError: fetch to http://127.0.0.1:", "/reset failed: ");
    T_EXPECT(2, "TypeError: fetch to http://127.0.0.1:", "/short failed: ");
    T_EXPECT(3, "TypeError: fetch: unsupported scheme 'ftp:'", "TypeError: fetch to http://127.0.0.1:", "/nothing failed: ");
    cr_assert_eq(C.status[4], 504, "a stalled upstream: the wall-clock limit ends the request (%d)", C.status[4]);
    T_EXPECT(5, "hello");
    T_EXPECT(6, "queued"); /* its calls are still out when the worker is disposed: aborted and freed (LSan) */
    t_free_bodies();
}

Test(fetch, service_binding, .timeout = 60)
{
    static const char *const p[] = {"/svc"};
    t_serve(10000, p, 1);
    T_EXPECT(0, "200 yes POST http://auth/check?x=1 x-a=b body=token piece1 piece2");
    t_free_bodies();
}

Test(fetch, proxied_100_mb_in_bounded_memory, .timeout = 120)
{
    static const char *const p[] = {"/hello", "/proxy?n=104857600", "/hello"};
    t_serve(10000, p, 3);
    cr_assert_eq(C.status[1], 200);
    cr_assert(C.complete[1], "the proxied body was cut");
    cr_assert_eq(C.len[1], 104857600u, "%zu bytes", C.len[1]);
    long grown = C.rss_peak_kb - C.rss_before_kb;
    cr_log_info("RSS before %ld KiB, peak %ld KiB while proxying 100 MiB", C.rss_before_kb, C.rss_peak_kb);
    /* Under ASan freed memory waits in a 256 MiB quarantine before reuse and shows in the RSS as if kept: not asserted then. */
    const char *san = getenv("ISOCORE_SANITIZE");
    if (!san || !strstr(san, "address"))
        cr_assert_lt(grown, 60 * 1024, "RSS grew by %ld KiB", grown);
    T_EXPECT(2, "hello");
    t_free_bodies();
}

/* HTTPS to an upstream whose certificate a CA made at test time signed: trusted through SSL_CERT_FILE, or not at all. */
static void t_https(bool trust)
{
    struct t_certs certs;
    t_certs_make(&certs);
    if (trust)
        setenv("SSL_CERT_FILE", certs.ca, 1);
    char err[256];
    cr_assert_eq(ic_tls_server_new(certs.cert, certs.key, &t_up_tls, err, sizeof(err)), 0, "%s", err);
    static const char *const p[] = {"/localhost", "/up-hello", "/hello"};
    t_serve(10000, p, 3);
    ic_tls_free(t_up_tls);
    t_up_tls = NULL;
    t_certs_free(&certs);
}

Test(fetch, https_with_a_trusted_ca, .timeout = 60)
{
    t_https(true);
    T_EXPECT(0, "200 hello"); /* https://localhost:PORT: SNI and the name checked against the certificate */
    T_EXPECT(1, "200 hello"); /* https://127.0.0.1:PORT: the IP in the subjectAltName */
    t_free_bodies();
}

Test(fetch, https_verification_failure_is_a_type_error, .timeout = 60)
{
    unsetenv("SSL_CERT_FILE");
    t_https(false);
    T_EXPECT(0, "TypeError: fetch to https://localhost:", "/hello failed: ", "certificate verify failed");
    T_EXPECT(2, "hello");
    cr_log_info("%s", C.body[0]);
    t_free_bodies();
}
