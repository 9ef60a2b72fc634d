/*
 * t_client.h: what the HTTP client tests (test_client.c, test_client_net.c)
 * share: the good upstream (an isocore server on the client's reactor), the
 * reactor that runs a scenario, calls that record what they saw, and bad
 * upstreams (a raw socket served by a plain thread). Included once per test
 * program: its statics are that program's.
 */
#ifndef ISOCORE_T_CLIENT_H
#define ISOCORE_T_CLIENT_H

/* Each test program uses part of what is here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "t_tls.h"
#include "t_util.h"

#define T_PIECE 65536

/* ---- the good upstream: an isocore server on the client's reactor -------------------------- */

static ic_http_server_t *t_srv;
static unsigned t_port;

/* What the upstream saw and did. */
static struct {
    uint64_t big_sent;   /* bytes of /big queued so far */
    unsigned big_stalls; /* times /big's stream said wait */
    unsigned big_aborts; /* /big streams the client cut */
    uint64_t up_count, up_sum;
} U;

static char t_piece[T_PIECE]; /* the pattern every big body is made of: byte i is 'a' + i % 26 */

static void t_fill(void)
{
    for (size_t i = 0; i < T_PIECE; i++)
        t_piece[i] = (char)('a' + i % 26);
}

struct t_big {
    ic_http_exchange_t *x;
    uint64_t left;
};

static void big_pump(struct t_big *b);
static void big_drain(void *arg)
{
    big_pump(arg);
}
static void big_abort(void *arg)
{
    U.big_aborts++;
    free(arg);
}
static const ic_http_stream_ops_t big_ops = {big_drain, big_abort};

static void big_pump(struct t_big *b)
{
    while (b->left) {
        size_t n = b->left < T_PIECE ? (size_t)b->left : T_PIECE;
        int r = ic_http_stream_write(b->x, t_piece, n);
        if (r < 0) {
            ic_http_stream_end(b->x, false);
            free(b);
            return;
        }
        b->left -= n;
        U.big_sent += n;
        if (r == 0) {
            U.big_stalls++;
            return;
        }
    }
    ic_http_stream_end(b->x, true);
    free(b);
}

/* A streamed request body: its bytes are counted and summed, the response says "<count> <sum>". */
struct t_count {
    ic_http_exchange_t *x;
    uint64_t n, sum;
};

static void count_cb(void *arg, const char *p, size_t len, int status)
{
    struct t_count *u = arg;
    if (status == 0) {
        for (size_t i = 0; i < len; i++)
            u->sum += (unsigned char)p[i];
        u->n += len;
        return;
    }
    char out[64];
    int n = snprintf(out, sizeof(out), "%llu %llu", (unsigned long long)u->n, (unsigned long long)u->sum);
    U.up_count = u->n;
    U.up_sum = u->sum;
    ic_http_respond(u->x, status == 1 ? 200 : 400, NULL, 0, out, (size_t)n);
    free(u);
}

static void nop(void *arg)
{
}
static const ic_http_stream_ops_t nop_ops = {nop, nop};

static void t_handler(ic_http_exchange_t *x, void *arg)
{
    const ic_http_request_t *req = ic_http_request(x);
    char target[128];
    snprintf(target, sizeof(target), "%.*s", (int)req->target.len, req->target.p);
    if (strcmp(target, "/hello") == 0) {
        static const char *const hdr[] = {"Content-Type: text/plain"};
        ic_http_respond(x, 200, hdr, 1, "hello world", 11);
    } else if (strcmp(target, "/empty") == 0) {
        ic_http_respond(x, 204, NULL, 0, NULL, 0);
    } else if (strcmp(target, "/echo") == 0) {
        ic_str_t b = ic_http_body(x);
        ic_http_respond(x, 200, NULL, 0, b.p, b.len);
    } else if (strcmp(target, "/count") == 0) {
        struct t_count *u = calloc(1, sizeof(*u));
        u->x = x;
        if (ic_http_body_streaming(x)) {
            ic_http_body_read(x, count_cb, u);
        } else {
            ic_str_t b = ic_http_body(x);
            count_cb(u, b.p, b.len, 0);
            count_cb(u, NULL, 0, 1);
        }
    } else if (strcmp(target, "/chunked") == 0) {
        cr_assert_eq(ic_http_respond_start(x, 200, NULL, 0, -1, &nop_ops, NULL), 0);
        cr_assert_geq(ic_http_stream_write(x, "one ", 4), 0);
        cr_assert_geq(ic_http_stream_write(x, "two ", 4), 0);
        cr_assert_geq(ic_http_stream_write(x, "three", 5), 0);
        ic_http_stream_end(x, true);
    } else if (strncmp(target, "/big/", 5) == 0) {
        struct t_big *b = calloc(1, sizeof(*b));
        b->x = x;
        b->left = strtoull(target + 5, NULL, 10);
        int r = ic_http_respond_start(x, 200, NULL, 0, (int64_t)b->left, &big_ops, b);
        cr_assert_eq(r, 0);
        big_pump(b);
    } else {
        ic_http_respond(x, 404, NULL, 0, "no", 2);
    }
}

/* ---- the reactor and the scenario ---------------------------------------------------------- */

static void (*t_scenario)(void);

static void t_on_start(void *arg)
{
    if (t_srv)
        cr_assert_eq(ic_http_server_start(t_srv), 0);
    t_scenario();
}

static void t_on_stop(void *arg)
{
    if (t_srv)
        ic_http_server_stop(t_srv);
}

/* Runs scenario on one reactor, with the isocore upstream when serve (streamed request bodies on). */
static void t_run_client(bool serve, void (*scenario)(void))
{
    t_fill();
    if (serve) {
        ic_http_server_config_t h;
        ic_http_server_config_init(&h);
        h.port = 0;
        h.drain_ms = 0;
        h.stream_bodies = true;
        h.handler = t_handler;
        cr_assert_eq(ic_http_server_new(&h, 1, &t_srv), 0);
        t_port = ic_http_server_port(t_srv);
    }
    t_scenario = scenario;
    ic_reactor_config_t cfg = t_config(1, t_on_start, NULL);
    cfg.on_stop = t_on_stop;
    t_run(&cfg);
    if (t_srv)
        ic_http_server_free(t_srv);
    t_srv = NULL;
}

static unsigned long long t_accepted(void)
{
    ic_http_server_stats_t st;
    ic_http_server_stats(t_srv, 0, &st);
    return st.accepted;
}

static void t_client_config(unsigned per_origin, unsigned per_core, unsigned idle_ms)
{
    ic_http_client_config_t cc;
    ic_http_client_config_init(&cc);
    if (per_origin)
        cc.max_per_origin = per_origin;
    if (per_core)
        cc.max_per_core = per_core;
    if (idle_ms)
        cc.idle_ms = idle_ms;
    ic_http_client_configure(&cc);
}

/* ---- calls that record what they saw -------------------------------------------------------- */

struct t_call;
typedef void (*t_step_fn)(struct t_call *tc);

struct t_call {
    ic_http_call_t *c;
    int status, heads, ends, err, drains, after_end;
    bool has_length, chunked, keep_alive;
    uint64_t content_length;
    uint64_t body_len;
    bool pattern_ok; /* the body follows t_piece's pattern */
    char body[4096]; /* its first bytes */
    char why[256];
    uint64_t abort_after; /* abort from the body op once this many bytes came (0: never) */
    bool aborted;
    t_step_fn on_head, on_end;
    void *ctx;
};

static void tc_head(void *arg, const ic_http_response_t *res)
{
    struct t_call *tc = arg;
    if (tc->ends || tc->aborted)
        tc->after_end++;
    tc->heads++;
    tc->status = res->status;
    tc->has_length = res->has_length;
    tc->content_length = res->content_length;
    tc->chunked = res->chunked;
    tc->keep_alive = res->keep_alive;
    if (tc->on_head)
        tc->on_head(tc);
}

static void tc_body(void *arg, const char *p, size_t len)
{
    struct t_call *tc = arg;
    if (tc->ends || tc->aborted)
        tc->after_end++;
    for (size_t i = 0; i < len && tc->pattern_ok; i++)
        if (p[i] != (char)('a' + ((tc->body_len + i) % T_PIECE) % 26))
            tc->pattern_ok = false;
    if (tc->body_len < sizeof(tc->body) - 1) {
        size_t n = len < sizeof(tc->body) - 1 - tc->body_len ? len : sizeof(tc->body) - 1 - tc->body_len;
        memcpy(tc->body + tc->body_len, p, n);
    }
    tc->body_len += len;
    if (tc->abort_after && tc->body_len >= tc->abort_after && !tc->aborted) {
        tc->aborted = true;
        ic_http_call_abort(tc->c);
        if (tc->on_end)
            tc->on_end(tc);
    }
}

static void tc_end(void *arg, int err, const char *why)
{
    struct t_call *tc = arg;
    if (tc->ends || tc->aborted)
        tc->after_end++;
    tc->ends++;
    tc->err = err;
    if (why)
        snprintf(tc->why, sizeof(tc->why), "%s", why);
    else if (err)
        snprintf(tc->why, sizeof(tc->why), "(no why)");
    if (tc->on_end)
        tc->on_end(tc);
}

static void tc_drain(void *arg);
static const ic_http_call_ops_t tc_ops = {tc_head, tc_body, tc_end, tc_drain};

static ic_http_call_config_t t_cfg(const char *method, const char *target)
{
    ic_http_call_config_t cfg;
    ic_http_call_config_init(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = t_port;
    cfg.method = method;
    cfg.target = target;
    return cfg;
}

static void t_go(struct t_call *tc, const ic_http_call_config_t *cfg)
{
    tc->pattern_ok = true;
    int r = ic_http_call_start(cfg, &tc_ops, tc, &tc->c);
    cr_assert_eq(r, 0, "ic_http_call_start: %s", ic_strerror(r));
}

static void t_stop_step(struct t_call *tc)
{
    ic_reactor_stop();
}

/* An 8 MiB chunked upload written as fast as the call takes it: write says wait, drain says go on. */
#define T_UPLOAD (8u << 20)
static uint64_t T_written, T_expect_sum;
static int T_zero_writes;

static void t_pump_upload(struct t_call *tc)
{
    while (T_written < T_UPLOAD) {
        int r = ic_http_call_write(tc->c, t_piece, T_PIECE);
        cr_assert_geq(r, 0, "write: %d", r);
        for (size_t i = 0; i < T_PIECE; i++)
            T_expect_sum += (unsigned char)t_piece[i];
        T_written += T_PIECE;
        if (r == 0) {
            T_zero_writes++;
            return; /* tc_drain goes on */
        }
    }
    cr_assert_eq(ic_http_call_end(tc->c), 0);
    T_written++; /* past the end: drain must not write again */
}

static void tc_drain(void *arg)
{
    struct t_call *tc = arg;
    tc->drains++;
    if (T_written <= T_UPLOAD)
        t_pump_upload(tc);
}

/* ---- shared by several scenarios ---------------------------------------------------------------- */

static struct t_call T1;
static ic_http_client_stats_t T_stats;

static void s_get_end(struct t_call *tc)
{
    ic_http_client_stats(&T_stats);
    ic_reactor_stop();
}
static struct t_call T2, T3;
static struct t_call TS[8];
static unsigned long long T_accepts;
static unsigned T_done, T_max_open;
static void s_cap_head(struct t_call *tc)
{
    ic_http_client_stats_t st;
    ic_http_client_stats(&st);
    if (st.open > T_max_open)
        T_max_open = st.open;
}
static ic_timer_t T_timer;
/* ---- bad upstreams: a raw socket served by a thread ------------------------------------------------ */

typedef void (*t_raw_fn)(int fd);

static struct {
    int lfd;
    pthread_t th;
    t_raw_fn serve;
    unsigned conns; /* connections to serve */
    int sig[2];     /* the client's ops write here to say "go on" */
    uint64_t sent;  /* bytes the thread sent */
    bool send_failed;
} R;

static void *t_raw_main(void *arg)
{
    for (unsigned i = 0; i < R.conns; i++) {
        int fd = accept(R.lfd, NULL, NULL);
        if (fd < 0)
            break;
        struct timeval tv = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        R.serve(fd);
        close(fd);
    }
    return NULL;
}

static void t_raw_start(t_raw_fn serve, unsigned conns)
{
    R.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(R.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(R.lfd, 16), 0);
    cr_assert_eq(getsockname(R.lfd, (struct sockaddr *)&sa, &len), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(R.lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)); /* accept gives up after 10 s */
    t_port = ntohs(sa.sin_port);
    cr_assert_eq(pipe(R.sig), 0);
    R.serve = serve;
    R.conns = conns;
    cr_assert_eq(pthread_create(&R.th, NULL, t_raw_main, NULL), 0);
}

static void t_raw_join(void)
{
    pthread_join(R.th, NULL);
    close(R.lfd);
    close(R.sig[0]);
    close(R.sig[1]);
}

/* Reads the request head (up to the empty line); false on EOF or timeout. */
static bool t_read_head(int fd)
{
    char buf[8192];
    size_t n = 0;
    while (n < sizeof(buf)) {
        ssize_t r = recv(fd, buf + n, 1, 0);
        if (r <= 0)
            return false;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            return true;
    }
    return false;
}

static void t_send(int fd, const char *s)
{
    size_t n = strlen(s);
    if (send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n)
        R.sent += n;
}

/* Sends a reset instead of a FIN when fd closes. */
static void t_linger0(int fd)
{
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

/* Waits (10 s at most) for a byte from the client's ops. */
static void t_wait_sig(void)
{
    struct pollfd p = {R.sig[0], POLLIN, 0};
    if (poll(&p, 1, 10000) == 1) {
        char ch;
        cr_assert_eq(read(R.sig[0], &ch, 1), 1);
    }
}

static void t_sig_step(struct t_call *tc)
{
    cr_assert_eq(write(R.sig[1], "x", 1), 1);
}

/* Waits until the client closes (10 s at most). */
static void t_wait_close(int fd)
{
    char buf[4096];
    while (recv(fd, buf, sizeof(buf), 0) > 0)
        ;
}

static void s_one(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    T1.on_end = t_stop_step;
    t_go(&T1, &cfg);
}
static void r_stall(int fd)
{
    t_read_head(fd);
    t_wait_close(fd);
}

#pragma GCC diagnostic pop

#endif
