/*
 * test_server.c: the HTTP server over real sockets on 127.0.0.1.
 *
 * Each test starts reactors serving an echo handler (status 200, body
 * "<method> <target> <body>"), runs a blocking client on its own thread,
 * and stops the reactors when the client is done; the client records what
 * it saw and the test thread asserts it afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t_util.h"

static ic_http_server_t *t_srv;

static void t_echo(ic_http_exchange_t *x, void *arg)
{
    const ic_http_request_t *req = ic_http_request(x);
    ic_str_t body = ic_http_body(x);
    size_t n = req->method.len + req->target.len + body.len + 2;
    char *out = malloc(n);
    memcpy(out, req->method.p, req->method.len);
    out[req->method.len] = ' ';
    memcpy(out + req->method.len + 1, req->target.p, req->target.len);
    out[req->method.len + 1 + req->target.len] = ' ';
    memcpy(out + req->method.len + req->target.len + 2, body.p, body.len);
    ic_http_respond(x, 200, NULL, 0, out, n);
    free(out);
}

static void t_start(void *arg)
{
    cr_assert_eq(ic_http_server_start(t_srv), 0);
}

static void t_stop(void *arg)
{
    ic_http_server_stop(t_srv);
}

typedef void (*t_client_fn)(unsigned port);

static void *t_client_main(void *arg)
{
    t_client_fn fn = (t_client_fn)arg;
    fn(ic_http_server_port(t_srv));
    ic_reactor_stop();
    return NULL;
}

/* The default server config, for a test to adjust one field of. */
static ic_http_server_config_t t_http_config(void)
{
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    return h;
}

/* Runs the server on `cores` reactors with cfg tweaks, and fn as the client. */
static void t_serve(unsigned cores, ic_http_server_config_t *hcfg, t_client_fn fn)
{
    ic_http_server_config_t def;
    if (!hcfg) {
        ic_http_server_config_init(&def);
        hcfg = &def;
    }
    hcfg->port = 0;
    hcfg->handler = t_echo;
    cr_assert_eq(ic_http_server_new(hcfg, cores, &t_srv), 0);
    ic_reactor_config_t cfg = t_config(cores, t_start, NULL);
    cfg.on_stop = t_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    pthread_t client;
    pthread_create(&client, NULL, t_client_main, (void *)fn);
    cr_assert_eq(ic_reactor_wait(), 0);
    pthread_join(client, NULL);
    ic_http_server_free(t_srv);
}

/* ---- a small blocking client ------------------------------------------------------- */

struct t_conn {
    int fd;
    char buf[1 << 20];
    size_t len;
};

static struct t_conn *t_connect(unsigned port)
{
    struct t_conn *c = calloc(1, sizeof(*c));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(c->fd);
        free(c);
        return NULL;
    }
    return c;
}

static void t_close(struct t_conn *c)
{
    close(c->fd);
    free(c);
}

static void t_send(struct t_conn *c, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void t_sends(struct t_conn *c, const char *s)
{
    t_send(c, s, strlen(s));
}

/* Reads one response; returns its status (-1 on EOF or timeout) and copies its body (NUL-terminated) to body. */
static int t_response(struct t_conn *c, char *body, size_t cap, bool head)
{
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end) {
            size_t hl = (size_t)(end - c->buf) + 4, bl = 0;
            char *cl = memmem(c->buf, hl, "Content-Length: ", 16);
            if (cl && !head)
                bl = strtoul(cl + 16, NULL, 10);
            if (c->len >= hl + bl) {
                int status = atoi(c->buf + 9);
                if (body) {
                    size_t n = bl < cap - 1 ? bl : cap - 1;
                    memcpy(body, c->buf + hl, n);
                    body[n] = '\0';
                }
                memmove(c->buf, c->buf + hl + bl, c->len - hl - bl);
                c->len -= hl + bl;
                return status;
            }
        }
        if (c->len == sizeof(c->buf))
            return -1;
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
    }
}

/* True when the server closed the connection (EOF, nothing else pending). */
static bool t_eof(struct t_conn *c)
{
    char b;
    return c->len == 0 && recv(c->fd, &b, 1, 0) == 0;
}

/* ---- tests ---------------------------------------------------------------------- */

static struct {
    int st[8];
    char body[8][256];
    bool eof[8];
    int fails;
    int count;
} R;

static void c_pipelining(unsigned port)
{
    struct t_conn *c = t_connect(port);
    t_sends(c, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
               "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
               "HEAD /c HTTP/1.1\r\nHost: t\r\n\r\n");
    R.st[0] = t_response(c, R.body[0], 256, false);
    R.st[1] = t_response(c, R.body[1], 256, false);
    R.st[2] = t_response(c, R.body[2], 256, true);
    t_sends(c, "GET /again HTTP/1.1\r\nHost: t\r\n\r\n");
    R.st[3] = t_response(c, R.body[3], 256, false);
    t_close(c);
}

Test(server, keep_alive_pipelining_in_order_and_head, .timeout = 30)
{
    memset(&R, 0, sizeof(R));
    t_serve(1, NULL, c_pipelining);
    cr_assert_eq(R.st[0], 200);
    cr_assert_str_eq(R.body[0], "GET /a ");
    cr_assert_eq(R.st[1], 200);
    cr_assert_str_eq(R.body[1], "POST /b xyz");
    cr_assert_eq(R.st[2], 200);
    cr_assert_str_eq(R.body[2], "", "HEAD got a body");
    cr_assert_eq(R.st[3], 200, "keep-alive connection did not serve a 4th request");
    cr_assert_str_eq(R.body[3], "GET /again ");
}

static void c_split(unsigned port)
{
    static const char req[] = "POST /split HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    struct t_conn *c = t_connect(port);
    char body[256];
    for (size_t k = 1; k < sizeof(req) - 1; k++) {
        t_send(c, req, k);
        t_send(c, req + k, sizeof(req) - 1 - k);
        if (t_response(c, body, sizeof(body), false) != 200 || strcmp(body, "POST /split hello") != 0)
            R.fails++;
        R.count++;
    }
    /* And one byte per write. */
    for (size_t k = 0; k < sizeof(req) - 1; k++)
        t_send(c, req + k, 1);
    if (t_response(c, body, sizeof(body), false) != 200 || strcmp(body, "POST /split hello") != 0)
        R.fails++;
    t_close(c);
}

Test(server, request_split_at_every_byte, .timeout = 60)
{
    memset(&R, 0, sizeof(R));
    t_serve(1, NULL, c_split);
    cr_assert_gt(R.count, 50);
    cr_assert_eq(R.fails, 0, "%d of %d split requests failed", R.fails, R.count);
}

static void c_bodies(unsigned port)
{
    struct t_conn *c = t_connect(port);
    t_sends(c, "POST /ch HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    R.st[0] = t_response(c, R.body[0], 256, false);
    /* 300 KB: larger than any provided buffer, so it arrives over many CQEs. */
    size_t big = 300 * 1000;
    char *b = malloc(big);
    memset(b, 'z', big);
    char head[128];
    snprintf(head, sizeof(head), "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", big);
    t_sends(c, head);
    t_send(c, b, big);
    free(b);
    R.st[1] = t_response(c, R.body[1], 256, false);
    char *cl = memmem(R.body[1], 10, "POST /big ", 10);
    R.eof[1] = cl != NULL;
    /* A chunked body split across writes, chunk sizes in hex. */
    t_sends(c, "POST /ch2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1");
    t_sends(c, "0\r\n0123456789abcdef\r\n");
    t_sends(c, "0\r\n\r\n");
    R.st[2] = t_response(c, R.body[2], 256, false);
    t_close(c);
}

Test(server, chunked_and_large_bodies, .timeout = 30)
{
    memset(&R, 0, sizeof(R));
    ic_http_server_config_t h = t_http_config();
    t_serve(1, &h, c_bodies);
    cr_assert_eq(R.st[0], 200);
    cr_assert_str_eq(R.body[0], "POST /ch hello world");
    cr_assert_eq(R.st[1], 200);
    cr_assert(R.eof[1], "big body echo starts wrong: %.20s", R.body[1]);
    cr_assert_eq(R.st[2], 200);
    cr_assert_str_eq(R.body[2], "POST /ch2 0123456789abcdef");
}

static const char *const error_requests[] = {
    "GARBAGE\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: t\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
    NULL, /* filled with a 20 KB head */
    "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
};
static const int error_status[] = {400, 505, 501, 413, 431, 400};

static void c_errors(unsigned port)
{
    char big[20 * 1024 + 64];
    int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(big + n, 'a', 20 * 1024);
    strcpy(big + n + 20 * 1024, "\r\n\r\n");
    for (int i = 0; i < 6; i++) {
        struct t_conn *c = t_connect(port);
        t_sends(c, error_requests[i] ? error_requests[i] : big);
        R.st[i] = t_response(c, NULL, 0, false);
        R.eof[i] = t_eof(c);
        t_close(c);
    }
    /* HTTP/1.0: answered, then closed. */
    struct t_conn *c = t_connect(port);
    t_sends(c, "GET /old HTTP/1.0\r\n\r\n");
    R.st[6] = t_response(c, R.body[6], 256, false);
    R.eof[6] = t_eof(c);
    t_close(c);
}

Test(server, errors_answer_and_close, .timeout = 30)
{
    memset(&R, 0, sizeof(R));
    ic_http_server_config_t h = t_http_config();
    h.max_body = 1000;
    t_serve(1, &h, c_errors);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(R.st[i], error_status[i], "case %d: got %d, expected %d", i, R.st[i], error_status[i]);
        cr_assert(R.eof[i], "case %d: connection not closed after the error", i);
    }
    cr_assert_eq(R.st[6], 200);
    cr_assert_str_eq(R.body[6], "GET /old ");
    cr_assert(R.eof[6], "HTTP/1.0 connection not closed");
}

/* The leniencies a hostile-input matrix found: each now gets its own status, and the connection closes. */
static void c_strict(unsigned port)
{
    static char target[64 * 1024 + 64];
    int n = snprintf(target, sizeof(target), "GET /");
    memset(target + n, 'a', 64 * 1024);
    strcpy(target + n + 64 * 1024, " HTTP/1.1\r\nHost: t\r\n\r\n");
    const char *const reqs[] = {
        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        "PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-nope\r\nContent-Length: 3\r\n\r\nabc",
        target,
        "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    };
    for (int i = 0; i < 4; i++) {
        struct t_conn *c = t_connect(port);
        t_sends(c, reqs[i]);
        R.st[i] = t_response(c, NULL, 0, false);
        R.eof[i] = i < 3 && t_eof(c);
        t_close(c);
    }
}

Test(server, bad_host_unknown_expectation_and_long_target, .timeout = 30)
{
    memset(&R, 0, sizeof(R));
    ic_http_server_config_t h = t_http_config();
    t_serve(1, &h, c_strict);
    static const int want[] = {400, 417, 414, 200};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(R.st[i], want[i], "case %d: got %d, expected %d", i, R.st[i], want[i]);
    for (int i = 0; i < 3; i++)
        cr_assert(R.eof[i], "case %d: connection not closed after the error", i);
}

static void c_slow(unsigned port)
{
    /* Slowloris: half a head, then nothing. The server must answer 408 and close on its own. */
    struct t_conn *c = t_connect(port);
    t_sends(c, "GET / HTTP/1.1\r\nHost:");
    R.st[0] = t_response(c, NULL, 0, false);
    R.eof[0] = t_eof(c);
    t_close(c);
    /* Expect: 100-continue: the interim response comes before the body is sent. */
    c = t_connect(port);
    t_sends(c, "PUT /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    R.st[1] = t_response(c, NULL, 0, false);
    t_sends(c, "abc");
    R.st[2] = t_response(c, R.body[2], 256, false);
    t_close(c);
}

Test(server, slowloris_408_and_expect_continue, .timeout = 30)
{
    memset(&R, 0, sizeof(R));
    ic_http_server_config_t h = t_http_config();
    h.header_timeout_ms = 300;
    t_serve(1, &h, c_slow);
    cr_assert_eq(R.st[0], 408);
    cr_assert(R.eof[0]);
    cr_assert_eq(R.st[1], 100);
    cr_assert_eq(R.st[2], 200);
    cr_assert_str_eq(R.body[2], "PUT /e abc");
}

static void c_reset(unsigned port)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    /* Reset mid-request. */
    struct t_conn *c = t_connect(port);
    t_sends(c, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npartial");
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    t_close(c);
    /* Reset mid-response: ask for a large echo and never read it. */
    c = t_connect(port);
    size_t big = 900 * 1000;
    char *b = malloc(big);
    memset(b, 'r', big);
    char head[128];
    snprintf(head, sizeof(head), "POST /r HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", big);
    t_sends(c, head);
    t_send(c, b, big);
    free(b);
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    t_close(c);
    /* The server still serves. */
    c = t_connect(port);
    t_sends(c, "GET /alive HTTP/1.1\r\nHost: t\r\n\r\n");
    R.st[0] = t_response(c, R.body[0], 256, false);
    t_close(c);
}

Test(server, client_reset_mid_request_and_mid_response, .timeout = 30)
{
    memset(&R, 0, sizeof(R));
    ic_http_server_config_t h = t_http_config();
    h.max_body = 2 * 1000 * 1000;
    t_serve(1, &h, c_reset);
    cr_assert_eq(R.st[0], 200);
    cr_assert_str_eq(R.body[0], "GET /alive ");
}

#define T_CONNS 5000

static void c_many(unsigned port)
{
    static struct t_conn *conns[T_CONNS];
    char body[256], want[64];
    for (int i = 0; i < T_CONNS; i++) {
        conns[i] = t_connect(port);
        if (!conns[i]) {
            R.fails++;
            continue;
        }
    }
    for (int i = 0; i < T_CONNS; i++) {
        if (!conns[i])
            continue;
        char req[96];
        snprintf(req, sizeof(req), "GET /c%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        t_sends(conns[i], req);
    }
    for (int i = 0; i < T_CONNS; i++) {
        if (!conns[i])
            continue;
        snprintf(want, sizeof(want), "GET /c%d ", i);
        if (t_response(conns[i], body, sizeof(body), false) != 200 || strcmp(body, want) != 0)
            R.fails++;
        else
            R.count++;
        t_close(conns[i]);
    }
}

Test(server, five_thousand_concurrent_connections, .timeout = 120)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max < 2 * T_CONNS + 200)
        cr_skip_test("RLIMIT_NOFILE hard limit %lu is below the %d descriptors this test needs", (unsigned long)rl.rlim_max,
                     2 * T_CONNS + 200);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    memset(&R, 0, sizeof(R));
    t_serve(2, NULL, c_many);
    cr_assert_eq(R.fails, 0, "%d of %d connections failed", R.fails, T_CONNS);
    cr_assert_eq(R.count, T_CONNS);
}

static void c_idle(unsigned port)
{
    struct t_conn *c = t_connect(port);
    t_sends(c, "GET /once HTTP/1.1\r\nHost: t\r\n\r\n");
    R.st[0] = t_response(c, R.body[0], 256, false);
    /* Nothing more is sent: the server must close the idle keep-alive connection on its own. */
    uint64_t t0 = ic_clock_ns();
    R.eof[0] = t_eof(c);
    R.count = (int)((ic_clock_ns() - t0) / 1000000);
    t_close(c);
}

Test(server, idle_keep_alive_connection_is_closed, .timeout = 30)
{
    memset(&R, 0, sizeof(R));
    ic_http_server_config_t h = t_http_config();
    h.idle_timeout_ms = 200;
    t_serve(1, &h, c_idle);
    cr_assert_eq(R.st[0], 200);
    cr_assert(R.eof[0], "idle connection not closed");
    cr_assert_geq(R.count, 150, "closed after %d ms, before the idle timeout", R.count);
}

/* A client that sends but does not read: the server must stop taking its requests (bounded buffering), then serve them all. */
static _Atomic int t_big_calls;

static void t_big(ic_http_exchange_t *x, void *arg)
{
    static char body[16 * 1024];
    atomic_fetch_add(&t_big_calls, 1);
    memset(body, 'b', sizeof(body));
    ic_http_respond(x, 200, NULL, 0, body, sizeof(body));
}

/* 20,000 requests of 2 KB: 40 MB, far more than the kernel's socket buffers on both sides can hold. */
#define T_SLOW_REQS 20000

static void c_slow_reader(unsigned port)
{
    struct t_conn *c = t_connect(port);
    static char req[2048 + 64];
    int n = snprintf(req, sizeof(req), "GET /big HTTP/1.1\r\nHost: t\r\nX-Pad: ");
    memset(req + n, 'p', 2048);
    strcpy(req + n + 2048, "\r\n\r\n");
    const size_t reqlen = strlen(req);
    int sent = 0;
    size_t off = 0;
    /* Send without reading until the socket stays unwritable for a while: the server has stopped reading us. */
    while (sent < T_SLOW_REQS) {
        ssize_t w = send(c->fd, req + off, reqlen - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            if (off == reqlen) {
                off = 0;
                sent++;
            }
            continue;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        if (poll(&p, 1, 1000) == 0)
            break; /* a second without room: the server is applying backpressure */
    }
    R.st[0] = sent;
    R.st[1] = atomic_load(&t_big_calls);
    int ok = 0, answered = 0;
    if (off) { /* finish the request in progress so that every request sent is whole */
        while (off < reqlen) {
            ssize_t w = send(c->fd, req + off, reqlen - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
                continue;
            }
            /* Reading a response makes room on the server's side, which lets it read us again. */
            ok += t_response(c, NULL, 0, false) == 200;
            answered++;
        }
        sent++;
    }
    /* Now read everything: every request answered, in order. */
    for (int i = answered; i < sent; i++)
        ok += t_response(c, NULL, 0, false) == 200;
    R.st[2] = ok;
    R.st[3] = sent;
    t_close(c);
}

Test(server, slow_reader_backpressure, .timeout = 120)
{
    memset(&R, 0, sizeof(R));
    atomic_store(&t_big_calls, 0);
    ic_http_server_config_t h = t_http_config();
    h.port = 0;
    h.handler = t_big;
    cr_assert_eq(ic_http_server_new(&h, 1, &t_srv), 0);
    ic_reactor_config_t cfg = t_config(1, t_start, NULL);
    cfg.on_stop = t_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    pthread_t client;
    pthread_create(&client, NULL, t_client_main, (void *)c_slow_reader);
    cr_assert_eq(ic_reactor_wait(), 0);
    pthread_join(client, NULL);
    ic_http_server_free(t_srv);
    cr_assert_lt(R.st[0], T_SLOW_REQS, "the server kept reading a client that never read (%d requests taken)", R.st[0]);
    cr_assert_lt(R.st[1], R.st[0], "every request was handled while the client was not reading");
    cr_log_info("slow reader: %d requests sent before the server stopped reading, %d handled", R.st[0], R.st[1]);
    cr_assert_eq(R.st[2], R.st[3], "%d of %d responses arrived", R.st[2], R.st[3]);
}

/* Six client sockets, made before the descriptor limit is lowered; their connections are queued on the server. */
static struct t_conn *em_conn[6];

static void c_emfile(unsigned port)
{
    char want[32], body[64];
    for (int i = 0; i < 6; i++) {
        if (!em_conn[i])
            continue;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
        /* The kernel completes the handshake even when the server cannot accept yet. */
        if (connect(em_conn[i]->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            continue;
        char req[64];
        /* Keep-alive: the server holds its descriptor until the client closes. */
        snprintf(req, sizeof(req), "GET /e%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        t_sends(em_conn[i], req);
    }
    /* The server accepted two; answering and closing them frees descriptors for the others. */
    for (int i = 0; i < 6; i++) {
        if (!em_conn[i])
            continue;
        snprintf(want, sizeof(want), "GET /e%d ", i);
        if (t_response(em_conn[i], body, sizeof(body), false) == 200 && strcmp(body, want) == 0)
            R.count++;
        t_close(em_conn[i]);
        em_conn[i] = NULL;
    }
}

/* The descriptor number just past the n-th free one: a limit that leaves exactly n descriptors free. */
static int t_limit_leaving(int n)
{
    for (int fd = 0;; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && --n == 0)
            return fd + 1;
}

static struct rlimit em_old;

/*
 * The limit is lowered on the reactor before it arms the accept: io_uring
 * reads RLIMIT_NOFILE when it prepares an accept, and a multishot accept
 * keeps the limit it was prepared with.
 */
static void t_start_emfile(void *arg)
{
    struct rlimit rl = em_old;
    rl.rlim_cur = (rlim_t)t_limit_leaving(2);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_assert_eq(ic_http_server_start(t_srv), 0);
}

/* True when this kernel gives io_uring what the server needs for direct descriptors (io/socket.c's probe, repeated here). */
static bool t_direct_supported(void)
{
    struct io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) < 0)
        return false;
    struct io_uring_probe *p = io_uring_get_probe_ring(&ring);
    bool ok = p && io_uring_opcode_supported(p, 54 /* IORING_OP_FIXED_FD_INSTALL, 6.8 */) &&
              io_uring_register_files_sparse(&ring, 2) == 0;
    if (p)
        io_uring_free_probe(p);
    io_uring_queue_exit(&ring);
    return ok;
}

/*
 * Six connections against a limit of two descriptors: all are served, some
 * accepts failed and were retried. Process descriptors (ISOCORE_DIRECT_FILES=0):
 * RLIMIT_NOFILE does not limit direct ones.
 */
Test(server, emfile_on_accept_keeps_serving, .timeout = 60)
{
    setenv("ISOCORE_DIRECT_FILES", "0", 1);
    memset(&R, 0, sizeof(R));
    ic_http_server_config_t h = t_http_config();
    h.port = 0;
    h.handler = t_echo;
    cr_assert_eq(ic_http_server_new(&h, 1, &t_srv), 0);
    for (int i = 0; i < 6; i++) {
        em_conn[i] = calloc(1, sizeof(*em_conn[i]));
        em_conn[i]->fd = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(em_conn[i]->fd, 0);
        struct timeval tv = {.tv_sec = 10};
        setsockopt(em_conn[i]->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    getrlimit(RLIMIT_NOFILE, &em_old);
    ic_reactor_config_t cfg = t_config(1, t_start_emfile, NULL);
    cfg.on_stop = t_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    pthread_t client;
    pthread_create(&client, NULL, t_client_main, (void *)c_emfile);
    pthread_join(client, NULL);
    setrlimit(RLIMIT_NOFILE, &em_old);
    cr_assert_eq(ic_reactor_wait(), 0);
    ic_http_server_stats_t st;
    ic_http_server_stats(t_srv, 0, &st);
    ic_http_server_free(t_srv);
    cr_assert_eq(R.count, 6, "%d of 6 connections served", R.count);
    cr_assert_eq(st.accepted, 6);
    cr_assert_eq(st.requests, 6);
    cr_assert_eq(st.open, 0);
    cr_assert_gt(st.accept_errors, 0, "the limit never made an accept fail");
    cr_log_info("emfile: %llu accepts failed and were retried", st.accept_errors);
}

/* ---- direct descriptors ------------------------------------------------------------------ */

#define T_DIRECT_CONNS 40

static int t_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

/* Opens T_DIRECT_CONNS connections, has each answered (so each was accepted), and counts the process's descriptors meanwhile. */
static void c_count_fds(unsigned port)
{
    static struct t_conn *conns[T_DIRECT_CONNS];
    char body[64], want[32];
    int before = t_open_fds();
    for (int i = 0; i < T_DIRECT_CONNS; i++) {
        conns[i] = t_connect(port);
        char req[64];
        snprintf(req, sizeof(req), "GET /d%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        t_sends(conns[i], req);
        snprintf(want, sizeof(want), "GET /d%d ", i);
        if (t_response(conns[i], body, sizeof(body), false) == 200 && strcmp(body, want) == 0)
            R.count++;
    }
    R.st[0] = t_open_fds() - before; /* the clients' sockets, plus the server's if they are process descriptors */
    for (int i = 0; i < T_DIRECT_CONNS; i++)
        t_close(conns[i]);
}

/* The server's accepted sockets take no descriptor of the process with direct descriptors, one each without. */
static void t_count_fds(bool direct)
{
    memset(&R, 0, sizeof(R));
    setenv("ISOCORE_DIRECT_FILES", direct ? "1024" : "0", 1);
    ic_http_server_config_t h = t_http_config();
    t_serve(1, &h, c_count_fds);
    cr_assert_eq(R.count, T_DIRECT_CONNS);
    cr_assert_eq(R.st[0], direct ? T_DIRECT_CONNS : 2 * T_DIRECT_CONNS, "%d descriptors for %d connections", R.st[0],
                 T_DIRECT_CONNS);
}

Test(server, accepted_sockets_are_direct_descriptors, .timeout = 30)
{
    if (!t_direct_supported())
        cr_skip_test("this kernel's io_uring lacks direct descriptors for sockets (6.8+)");
    t_count_fds(true);
}

Test(server, accepted_sockets_are_process_descriptors_when_direct_is_off, .timeout = 30)
{
    t_count_fds(false);
}

/* Connects and has one request answered (so the server accepted it); NULL if that failed. */
static struct t_conn *t_served(unsigned port, int i)
{
    char req[64], body[64], want[32];
    struct t_conn *c = t_connect(port);
    if (!c)
        return NULL;
    snprintf(req, sizeof(req), "GET /f%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
    t_sends(c, req);
    snprintf(want, sizeof(want), "GET /f%d ", i);
    if (t_response(c, body, sizeof(body), false) != 200 || strcmp(body, want) != 0) {
        t_close(c);
        return NULL;
    }
    R.count++;
    return c;
}

/*
 * A table of 12 slots keeps 6 in reserve (a multishot accept that finds no
 * slot would close the connection it took): 6 connections take direct
 * descriptors, the next ones process descriptors, and once the slots are
 * free again accepts go back to direct ones.
 */
static void c_table_fills(unsigned port)
{
    struct t_conn *c[10];
    int base = t_open_fds();
    for (int i = 0; i < 6; i++)
        c[i] = t_served(port, i);
    R.st[0] = t_open_fds() - base; /* 6: only the clients' sockets */
    for (int i = 6; i < 8; i++)
        c[i] = t_served(port, i);
    R.st[1] = t_open_fds() - base; /* 6 + 2 × 2: the last two took a descriptor on the server's side too */
    for (int i = 0; i < 8; i++)
        if (c[i])
            t_close(c[i]);
    /* Bounded wait until the server closed them all (their slots are free then). */
    ic_http_server_stats_t st = {0};
    for (int i = 0; i < 1000000; i++) {
        ic_http_server_stats(t_srv, 0, &st);
        if (st.open == 0)
            break;
        sched_yield();
    }
    R.st[2] = (int)st.open;
    /* The accept armed takes process descriptors: this one gets one, and seeing the free table, it re-arms direct. */
    c[8] = t_served(port, 8);
    c[9] = t_served(port, 9);
    R.st[3] = t_open_fds() - base; /* 2 for the first, 1 for the second */
    for (int i = 8; i < 10; i++)
        if (c[i])
            t_close(c[i]);
}

Test(server, accepts_switch_to_process_descriptors_before_the_table_is_full, .timeout = 60)
{
    if (!t_direct_supported())
        cr_skip_test("this kernel's io_uring lacks direct descriptors for sockets (6.8+)");
    setenv("ISOCORE_DIRECT_FILES", "12", 1);
    memset(&R, 0, sizeof(R));
    ic_http_server_config_t h = t_http_config();
    t_serve(1, &h, c_table_fills);
    cr_assert_eq(R.count, 10, "%d of 10 connections served", R.count);
    cr_assert_eq(R.st[0], 6, "%d descriptors for 6 direct connections", R.st[0]);
    cr_assert_eq(R.st[1], 10, "%d descriptors after 2 more connections", R.st[1]);
    cr_assert_eq(R.st[2], 0, "%d connections still open on the server", R.st[2]);
    cr_assert_eq(R.st[3], 3, "%d descriptors for a process and a direct connection", R.st[3]);
}

/* ---- the drain deadline ------------------------------------------------------------------ */

static void t_huge(ic_http_exchange_t *x, void *arg)
{
    size_t n = 20u << 20;
    char *b = malloc(n);
    memset(b, 'd', n);
    ic_http_respond(x, 200, NULL, 0, b, n);
    free(b);
}

static void *t_never_reads(void *arg)
{
    unsigned port = ic_http_server_port(t_srv);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char req[] = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(req) - 1));
    /* Wait (bounded) until the server took the request, then stop it while this client still reads nothing. */
    ic_http_server_stats_t st = {0};
    for (int i = 0; i < 100000 && st.requests == 0; i++) {
        ic_http_server_stats(t_srv, 0, &st);
        sched_yield();
    }
    cr_assert_eq(st.requests, 1);
    ic_reactor_stop();
    *(int *)arg = fd; /* closed by the test once the reactors are gone */
    return NULL;
}

/*
 * A client that never reads a 20 MB response used to keep a stopping server
 * alive for as long as it stayed connected. With a drain deadline the
 * server cuts it (a reset: output was pending) and the reactors exit.
 */
Test(server, drain_deadline_cuts_a_client_that_never_reads, .timeout = 60)
{
    ic_http_server_config_t h = t_http_config();
    h.port = 0;
    h.handler = t_huge;
    h.drain_timeout_ms = 300;
    cr_assert_eq(ic_http_server_new(&h, 1, &t_srv), 0);
    ic_reactor_config_t cfg = t_config(1, t_start, NULL);
    cfg.on_stop = t_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    int fd = -1;
    pthread_t client;
    pthread_create(&client, NULL, t_never_reads, &fd);
    pthread_join(client, NULL);
    uint64_t t0 = ic_clock_ns();
    cr_assert_eq(ic_reactor_wait(), 0); /* never returned before: the test's timeout ended it */
    double waited = (double)(ic_clock_ns() - t0) / 1e9;
    ic_http_server_stats_t st;
    ic_http_server_stats(t_srv, 0, &st);
    cr_assert_eq(st.drain_cut, 1, "cut %llu connections", st.drain_cut);
    cr_assert_lt(waited, 30.0, "the stop took %.1f s with a 0.3 s deadline", waited);
    /* The client sees the cut: after the bytes that fit its buffers, a reset (or EOF), never 20 MB. */
    char buf[65536];
    size_t got = 0;
    ssize_t r;
    while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
        got += (size_t)r;
    cr_assert_lt(got, 20u << 20);
    /* SO_LINGER {1, 0} before the close (setsockopt, or the socket uring_cmd on a direct descriptor): a reset, not a FIN. */
    cr_assert(r < 0 && errno == ECONNRESET, "the cut ended with %s, not a reset", r == 0 ? "EOF" : strerror(errno));
    close(fd);
    ic_http_server_free(t_srv);
}

Test(server, drain_deadline_resets_with_process_descriptors, .timeout = 60)
{
    setenv("ISOCORE_DIRECT_FILES", "0", 1);
    ic_http_server_config_t h = t_http_config();
    h.port = 0;
    h.handler = t_huge;
    h.drain_timeout_ms = 300;
    cr_assert_eq(ic_http_server_new(&h, 1, &t_srv), 0);
    ic_reactor_config_t cfg = t_config(1, t_start, NULL);
    cfg.on_stop = t_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    int fd = -1;
    pthread_t client;
    pthread_create(&client, NULL, t_never_reads, &fd);
    pthread_join(client, NULL);
    cr_assert_eq(ic_reactor_wait(), 0);
    char buf[65536];
    ssize_t r;
    while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
        ;
    cr_assert(r < 0 && errno == ECONNRESET, "the cut ended with %s, not a reset", r == 0 ? "EOF" : strerror(errno));
    close(fd);
    ic_http_server_free(t_srv);
}
