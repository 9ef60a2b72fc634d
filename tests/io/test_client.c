/*
 * test_client.c: the HTTP/1.1 client (ic_http_call_*, the pool) against
 * upstreams the tests start on 127.0.0.1.
 *
 * Good upstreams are an isocore HTTP server on the same reactor as the
 * client (its accept count tells connection reuse); bad ones are raw
 * sockets served by a plain thread that sends what a broken or hostile
 * server would. Each test runs one reactor: its on_start starts the
 * scenario, the calls' ops record what they saw and start the next step,
 * the last step stops the reactor, and the test thread asserts afterwards.
 */
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

/* ---- simple exchanges ----------------------------------------------------------------------------- */

static struct t_call T1;
static ic_http_client_stats_t T_stats;

static void s_get_end(struct t_call *tc)
{
    ic_http_client_stats(&T_stats);
    ic_reactor_stop();
}

static void s_get(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    T1.on_end = s_get_end;
    t_go(&T1, &cfg);
}

Test(client, get_with_content_length, .timeout = 30)
{
    t_run_client(true, s_get);
    cr_assert_eq(T1.ends, 1);
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_eq(T1.heads, 1);
    cr_assert_eq(T1.status, 200);
    cr_assert(T1.has_length);
    cr_assert_eq(T1.content_length, 11);
    cr_assert(T1.keep_alive);
    cr_assert_eq(T1.body_len, 11);
    cr_assert_str_eq(T1.body, "hello world");
    cr_assert_eq(T1.after_end, 0);
    cr_assert_eq(T_stats.calls, 1);
    cr_assert_eq(T_stats.connects, 1);
    cr_assert_eq(T_stats.reuses, 0);
    cr_assert_eq(T_stats.open, 1, "the connection waits in the pool");
    cr_assert_eq(T_stats.idle, 1);
}

static void s_chunked(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/chunked");
    T1.on_end = t_stop_step;
    t_go(&T1, &cfg);
}

Test(client, chunked_response, .timeout = 30)
{
    t_run_client(true, s_chunked);
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_eq(T1.status, 200);
    cr_assert(T1.chunked);
    cr_assert_str_eq(T1.body, "one two three");
    cr_assert_eq(T1.ends, 1);
}

static void s_post_whole(void)
{
    ic_http_call_config_t cfg = t_cfg("POST", "/echo");
    static const char *const hdr[] = {"Content-Type: text/plain", "X-Test: 1"};
    cfg.headers = hdr;
    cfg.nheaders = 2;
    cfg.body_length = 7;
    T1.on_end = t_stop_step;
    t_go(&T1, &cfg);
    cr_assert_eq(ic_http_call_write(T1.c, "payload", 7), 1);
    cr_assert_eq(ic_http_call_write(T1.c, "x", 1), -EINVAL, "past body_length");
    cr_assert_eq(ic_http_call_end(T1.c), 0);
}

Test(client, post_whole_body, .timeout = 30)
{
    t_run_client(true, s_post_whole);
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_eq(T1.status, 200);
    cr_assert_str_eq(T1.body, "payload");
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

static void s_post_chunked(void)
{
    ic_http_call_config_t cfg = t_cfg("POST", "/count");
    cfg.body_length = -1;
    T1.on_end = t_stop_step;
    t_go(&T1, &cfg);
    t_pump_upload(&T1);
}

Test(client, post_chunked_8mib_with_backpressure, .timeout = 60)
{
    t_run_client(true, s_post_chunked);
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_eq(T1.status, 200);
    char want[64];
    snprintf(want, sizeof(want), "%u %llu", T_UPLOAD, (unsigned long long)T_expect_sum);
    cr_assert_str_eq(T1.body, want);
    cr_assert_gt(T_zero_writes, 0, "the call never said wait");
    cr_assert_eq(T1.drains, T_zero_writes, "one drain per wait");
}

static struct t_call T2, T3;

static void s_head_then_get_end(struct t_call *tc)
{
    ic_http_client_stats(&T_stats);
    ic_reactor_stop();
}

static void s_head_end(struct t_call *tc)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/empty");
    T2.on_end = s_head_then_get_end;
    t_go(&T2, &cfg);
}

static void s_head(void)
{
    ic_http_call_config_t cfg = t_cfg("HEAD", "/hello");
    T1.on_end = s_head_end;
    t_go(&T1, &cfg);
}

Test(client, head_and_204_have_no_body_and_reuse, .timeout = 30)
{
    t_run_client(true, s_head);
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_eq(T1.status, 200);
    cr_assert_eq(T1.content_length, 11);
    cr_assert_eq(T1.body_len, 0);
    cr_assert_eq(T2.err, 0, "%s", T2.why);
    cr_assert_eq(T2.status, 204);
    cr_assert_eq(T2.body_len, 0);
    cr_assert_eq(T_stats.connects, 1);
    cr_assert_eq(T_stats.reuses, 1);
}

/* Three calls one after the other: one connection. */
static struct t_call TS[8];
static unsigned T_round;
static unsigned long long T_accepts;

static void s_seq_end(struct t_call *tc)
{
    if (++T_round < 3) {
        ic_http_call_config_t cfg = t_cfg("GET", "/hello");
        TS[T_round].on_end = s_seq_end;
        t_go(&TS[T_round], &cfg);
        return;
    }
    ic_http_client_stats(&T_stats);
    T_accepts = t_accepted();
    ic_reactor_stop();
}

static void s_seq(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    TS[0].on_end = s_seq_end;
    t_go(&TS[0], &cfg);
}

Test(client, keep_alive_reuse, .timeout = 30)
{
    t_run_client(true, s_seq);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(TS[i].err, 0, "%d: %s", i, TS[i].why);
        cr_assert_str_eq(TS[i].body, "hello world");
    }
    cr_assert_eq(T_accepts, 1);
    cr_assert_eq(T_stats.calls, 3);
    cr_assert_eq(T_stats.connects, 1);
    cr_assert_eq(T_stats.reuses, 2);
}

/* Five calls at once with max_per_origin 2: two connections, the three others wait and reuse them. */
static unsigned T_done, T_max_open;

static void s_cap_head(struct t_call *tc)
{
    ic_http_client_stats_t st;
    ic_http_client_stats(&st);
    if (st.open > T_max_open)
        T_max_open = st.open;
}

static void s_cap_end(struct t_call *tc)
{
    if (++T_done < 5)
        return;
    ic_http_client_stats(&T_stats);
    T_accepts = t_accepted();
    ic_reactor_stop();
}

static void s_cap(void)
{
    for (int i = 0; i < 5; i++) {
        ic_http_call_config_t cfg = t_cfg("GET", "/hello");
        TS[i].on_end = s_cap_end;
        TS[i].on_head = s_cap_head;
        t_go(&TS[i], &cfg);
    }
    ic_http_client_stats(&T_stats);
    cr_assert_eq(T_stats.open, 2);
}

Test(client, cap_per_origin, .timeout = 30)
{
    t_client_config(2, 0, 0);
    t_run_client(true, s_cap);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(TS[i].err, 0, "%d: %s", i, TS[i].why);
        cr_assert_str_eq(TS[i].body, "hello world");
    }
    cr_assert_eq(T_accepts, 2);
    cr_assert_eq(T_stats.connects, 2);
    cr_assert_eq(T_stats.reuses, 3);
    cr_assert_leq(T_max_open, 2);
}

/* The pool closes an idle connection after idle_ms: a timer polls the counters until it did. */
static ic_timer_t T_timer;
static uint64_t T_t0, T_closed_after;
static unsigned T_polls;
static ic_http_client_stats_t T_before;

static void s_idle_poll(ic_timer_t *t)
{
    ic_http_client_stats_t st;
    ic_http_client_stats(&st);
    if ((st.open == 0 && st.idle == 0) || ++T_polls > 500) {
        T_closed_after = (ic_reactor_now() - T_t0) / 1000000;
        ic_http_client_stats(&T_stats);
        ic_timer_stop(t);
        ic_reactor_stop();
    }
}

static void s_idle_end(struct t_call *tc)
{
    ic_http_client_stats(&T_before);
    T_t0 = ic_reactor_now();
    ic_timer_init(&T_timer, s_idle_poll);
    ic_timer_start(&T_timer, 5000000, 5000000);
}

static void s_idle(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    T1.on_end = s_idle_end;
    t_go(&T1, &cfg);
}

Test(client, idle_timeout_closes_pooled_connections, .timeout = 30)
{
    t_client_config(0, 0, 60);
    t_run_client(true, s_idle);
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_eq(T_before.idle, 1);
    cr_assert_eq(T_stats.idle, 0);
    cr_assert_eq(T_stats.open, 0);
    cr_assert_geq(T_closed_after, 50, "closed after %llu ms", (unsigned long long)T_closed_after);
    cr_assert_lt(T_closed_after, 2000);
}

static void s_refused(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    T1.on_end = t_stop_step;
    t_go(&T1, &cfg);
}

Test(client, connection_refused, .timeout = 30)
{
    t_port = t_free_port();
    t_run_client(false, s_refused);
    cr_assert_eq(T1.ends, 1);
    cr_assert_eq(T1.heads, 0);
    cr_assert_eq(T1.err, -ECONNREFUSED, "%s", ic_strerror(T1.err));
    char want[64];
    snprintf(want, sizeof(want), "connection refused by 127.0.0.1:%u", t_port);
    cr_assert_str_eq(T1.why, want);
}

static int T_bad_starts[8];

static void s_bad_args(void)
{
    ic_http_call_t *c = NULL;
    ic_http_call_config_t cfg = t_cfg("GE T", "/");
    T_bad_starts[0] = ic_http_call_start(&cfg, &tc_ops, &T1, &c);
    cfg = t_cfg("GET", "/a b");
    T_bad_starts[1] = ic_http_call_start(&cfg, &tc_ops, &T1, &c);
    static const char *const bad1[] = {"X-A: a\r\nX-B: b"};
    cfg = t_cfg("GET", "/");
    cfg.headers = bad1;
    cfg.nheaders = 1;
    T_bad_starts[2] = ic_http_call_start(&cfg, &tc_ops, &T1, &c);
    static const char *const bad2[] = {"Bad Name: x"};
    cfg.headers = bad2;
    T_bad_starts[3] = ic_http_call_start(&cfg, &tc_ops, &T1, &c);
    cfg = t_cfg("GET", "/");
    cfg.port = 0;
    T_bad_starts[4] = ic_http_call_start(&cfg, &tc_ops, &T1, &c);
    cfg = t_cfg("GET", "/");
    cfg.host = "a b";
    T_bad_starts[5] = ic_http_call_start(&cfg, &tc_ops, &T1, &c);
    ic_http_client_stats(&T_stats);
    ic_reactor_stop();
}

Test(client, bad_arguments_are_einval, .timeout = 30)
{
    t_port = 80;
    t_run_client(false, s_bad_args);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(T_bad_starts[i], -EINVAL, "case %d: %d", i, T_bad_starts[i]);
    cr_assert_eq(T1.ends + T1.heads, 0, "no op runs after a failed start");
    cr_assert_eq(T_stats.calls, 0);
    cr_assert_eq(ic_http_call_start(&(ic_http_call_config_t){0}, &tc_ops, &T1, &(ic_http_call_t *){0}), IC_ENOTREACTOR);
}

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

static void r_garbage(int fd)
{
    t_read_head(fd);
    t_send(fd, "HELLO I AM NOT HTTP\r\n\r\n");
    t_wait_close(fd);
}

Test(client, garbage_instead_of_a_status_line, .timeout = 30)
{
    t_raw_start(r_garbage, 1);
    t_run_client(false, s_one);
    t_raw_join();
    cr_assert_eq(T1.ends, 1);
    cr_assert_eq(T1.heads, 0);
    cr_assert_eq(T1.err, IC_EHTTP_RESPONSE, "%s", ic_strerror(T1.err));
    char want[64];
    snprintf(want, sizeof(want), "malformed response head from 127.0.0.1:%u", t_port);
    cr_assert_str_eq(T1.why, want);
}

static void r_reset_mid_head(int fd)
{
    t_read_head(fd);
    t_send(fd, "HTTP/1.1 200 OK\r\nContent-Le");
    t_linger0(fd);
}

Test(client, reset_mid_head, .timeout = 30)
{
    t_raw_start(r_reset_mid_head, 1);
    t_run_client(false, s_one);
    t_raw_join();
    cr_assert_eq(T1.ends, 1);
    cr_assert_eq(T1.heads, 0);
    cr_assert_eq(T1.err, -ECONNRESET, "%s: %s", ic_strerror(T1.err), T1.why);
    cr_assert(strstr(T1.why, "reset the connection before the response head"), "%s", T1.why);
}

static void r_reset_mid_body(int fd)
{
    t_read_head(fd);
    t_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    t_wait_sig(); /* the client saw the head */
    t_send(fd, "0123456789");
    t_linger0(fd);
}

static void s_sig_on_head(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    T1.on_head = t_sig_step;
    T1.on_end = t_stop_step;
    t_go(&T1, &cfg);
}

Test(client, reset_mid_body, .timeout = 30)
{
    t_raw_start(r_reset_mid_body, 1);
    t_run_client(false, s_sig_on_head);
    t_raw_join();
    cr_assert_eq(T1.heads, 1);
    cr_assert_eq(T1.ends, 1);
    cr_assert_eq(T1.err, -ECONNRESET, "%s: %s", ic_strerror(T1.err), T1.why);
    cr_assert(strstr(T1.why, "reset the connection after"), "%s", T1.why);
}

static void r_stall(int fd)
{
    t_read_head(fd);
    t_wait_close(fd);
}

static void s_stall(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    cfg.head_timeout_ms = 100;
    T1.on_end = t_stop_step;
    T_t0 = ic_reactor_now();
    t_go(&T1, &cfg);
}

Test(client, stalled_head_times_out, .timeout = 30)
{
    t_raw_start(r_stall, 1);
    t_run_client(false, s_stall);
    t_raw_join();
    cr_assert_eq(T1.ends, 1);
    cr_assert_eq(T1.heads, 0);
    cr_assert_eq(T1.err, -ETIMEDOUT, "%s: %s", ic_strerror(T1.err), T1.why);
    char want[80];
    snprintf(want, sizeof(want), "no response head from 127.0.0.1:%u within 100 ms", t_port);
    cr_assert_str_eq(T1.why, want);
}

static void r_length_lie(int fd)
{
    t_read_head(fd);
    t_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789012345678901234567890123456789");
    shutdown(fd, SHUT_WR);
    t_wait_close(fd);
}

Test(client, content_length_lie_is_epipe, .timeout = 30)
{
    t_raw_start(r_length_lie, 1);
    t_run_client(false, s_one);
    t_raw_join();
    cr_assert_eq(T1.heads, 1);
    cr_assert_eq(T1.ends, 1);
    cr_assert_eq(T1.body_len, 40);
    cr_assert_eq(T1.err, -EPIPE, "%s: %s", ic_strerror(T1.err), T1.why);
    cr_assert_str_eq(T1.why, "Content-Length says 100, the connection closed after 40 bytes");
}

static void r_smuggle(int fd)
{
    t_read_head(fd);
    t_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    t_wait_close(fd);
}

Test(client, content_length_with_chunked_is_rejected, .timeout = 30)
{
    t_raw_start(r_smuggle, 1);
    t_run_client(false, s_one);
    t_raw_join();
    cr_assert_eq(T1.heads, 0);
    cr_assert_eq(T1.err, IC_EHTTP_RESPONSE, "%s: %s", ic_strerror(T1.err), T1.why);
}

/* An upstream that answers 1.0-style (no length, no chunked): the body ends with the close, the connection is not pooled. */
static void r_until_close(int fd)
{
    t_read_head(fd);
    t_send(fd, "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the end");
    shutdown(fd, SHUT_WR);
    t_wait_close(fd);
}

static void s_one_stats(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    T1.on_end = s_get_end;
    t_go(&T1, &cfg);
}

Test(client, body_until_close, .timeout = 30)
{
    t_raw_start(r_until_close, 1);
    t_run_client(false, s_one_stats);
    t_raw_join();
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_str_eq(T1.body, "until the end");
    cr_assert_eq(T_stats.idle, 0, "not pooled");
}

/* 100 Continue comes first and is skipped; then a response with bytes after it: delivered, the connection not pooled. */
static void r_continue_and_extra(int fd)
{
    t_read_head(fd);
    t_send(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA");
    t_wait_close(fd);
}

Test(client, interim_response_skipped_and_extra_bytes_not_pooled, .timeout = 30)
{
    t_raw_start(r_continue_and_extra, 1);
    t_run_client(false, s_one_stats);
    t_raw_join();
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_eq(T1.heads, 1);
    cr_assert_eq(T1.status, 200);
    cr_assert_str_eq(T1.body, "ok");
    cr_assert_eq(T_stats.idle, 0, "not pooled");
}

static void r_switch(int fd)
{
    t_read_head(fd);
    t_send(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
    t_wait_close(fd);
}

Test(client, switching_protocols_is_an_error, .timeout = 30)
{
    t_raw_start(r_switch, 1);
    t_run_client(false, s_one);
    t_raw_join();
    cr_assert_eq(T1.heads, 0);
    cr_assert_eq(T1.err, IC_EHTTP_RESPONSE, "%s: %s", ic_strerror(T1.err), T1.why);
}

static void r_huge_head(int fd)
{
    t_read_head(fd);
    t_send(fd, "HTTP/1.1 200 OK\r\n");
    char line[1024];
    memset(line, 'a', sizeof(line));
    memcpy(line, "X-Big: ", 7);
    line[sizeof(line) - 2] = '\r';
    line[sizeof(line) - 1] = '\n';
    for (int i = 0; i < 80; i++)
        if (send(fd, line, sizeof(line), MSG_NOSIGNAL) != (ssize_t)sizeof(line))
            break;
    t_wait_close(fd);
}

Test(client, head_over_64k_is_e2big, .timeout = 30)
{
    t_raw_start(r_huge_head, 1);
    t_run_client(false, s_one);
    t_raw_join();
    cr_assert_eq(T1.heads, 0);
    cr_assert_eq(T1.err, -E2BIG, "%s: %s", ic_strerror(T1.err), T1.why);
}

/* An early answer (a 413 before the upload is sent): delivered, then the connection is not pooled. */
static void r_early(int fd)
{
    t_read_head(fd);
    t_send(fd, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig");
    t_wait_close(fd);
}

static void s_early(void)
{
    ic_http_call_config_t cfg = t_cfg("PUT", "/");
    cfg.body_length = 1 << 20;
    T1.on_end = s_get_end;
    t_go(&T1, &cfg);
    cr_assert_eq(ic_http_call_write(T1.c, t_piece, 100), 1);
}

Test(client, early_response_is_delivered_not_pooled, .timeout = 30)
{
    t_raw_start(r_early, 1);
    t_run_client(false, s_early);
    t_raw_join();
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_eq(T1.status, 413);
    cr_assert_str_eq(T1.body, "big");
    cr_assert_eq(T_stats.idle, 0);
}

/* Endless chunked body: the caller aborts after 4 MiB; no op runs after that and the upstream's sends fail. */
static void r_endless(int fd)
{
    t_read_head(fd);
    t_send(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    char frame[16];
    int fl = snprintf(frame, sizeof(frame), "%x\r\n", T_PIECE);
    for (int i = 0; i < 100000; i++) {
        if (send(fd, frame, (size_t)fl, MSG_NOSIGNAL) != fl || send(fd, t_piece, T_PIECE, MSG_NOSIGNAL) != T_PIECE ||
            send(fd, "\r\n", 2, MSG_NOSIGNAL) != 2) {
            R.send_failed = true;
            return;
        }
        R.sent += T_PIECE;
    }
}

static void s_endless_cut(struct t_call *tc)
{
    ic_http_client_stats(&T_stats);
    ic_reactor_stop();
}

static void s_endless(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    T1.abort_after = 4u << 20;
    T1.on_end = s_endless_cut;
    t_go(&T1, &cfg);
}

Test(client, endless_chunked_body_aborted, .timeout = 60)
{
    t_fill();
    t_raw_start(r_endless, 1);
    t_run_client(false, s_endless);
    t_raw_join();
    cr_assert(T1.aborted);
    cr_assert_geq(T1.body_len, 4u << 20);
    cr_assert(T1.pattern_ok, "the chunked body decodes to what was sent");
    cr_assert_eq(T1.ends, 0, "no end after an abort");
    cr_assert_eq(T1.after_end, 0);
    cr_assert_eq(T_stats.idle, 0);
    cr_assert_eq(T_stats.open, 0);
    cr_assert(R.send_failed, "the upstream saw the connection go");
}

/* ---- aborts ------------------------------------------------------------------------------------------ */

static ic_task_t T_task;

static void s_stop_task(ic_task_t *t)
{
    ic_http_client_stats(&T_stats);
    ic_reactor_stop();
}

static void s_abort_connect(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    t_go(&T1, &cfg);
    ic_http_call_abort(T1.c); /* the connect is in flight */
    /* And one that waits for a slot (max_per_origin 1), aborted in the wait list. */
    t_go(&T2, &cfg);
    t_go(&T3, &cfg);
    ic_http_call_abort(T3.c);
    T2.on_end = s_get_end;
}

Test(client, abort_during_connect_and_wait, .timeout = 30)
{
    t_client_config(1, 0, 0);
    t_run_client(true, s_abort_connect);
    cr_assert_eq(T1.heads + T1.ends, 0);
    cr_assert_eq(T3.heads + T3.ends, 0);
    cr_assert_eq(T2.err, 0, "the call behind them goes on: %s", T2.why);
    cr_assert_str_eq(T2.body, "hello world");
}

/* The raw upstream read the request and says so through a post: the call is aborted while its head is awaited. */
static ic_post_t T_post;

static void s_abort_post(ic_post_t *p)
{
    ic_http_call_abort(T1.c);
    T1.aborted = true;
    ic_task_post(&T_task, s_stop_task);
}

static void r_post_then_stall(int fd)
{
    t_read_head(fd);
    cr_assert_eq(ic_reactor_post(0, &T_post, s_abort_post), 0);
    t_wait_close(fd);
    R.send_failed = true; /* the close came */
}

Test(client, abort_during_head, .timeout = 30)
{
    t_raw_start(r_post_then_stall, 1);
    t_run_client(false, s_one);
    t_raw_join();
    cr_assert(T1.aborted);
    cr_assert_eq(T1.heads + T1.ends, 0);
    cr_assert_eq(T_stats.open, 0);
    cr_assert(R.send_failed);
}

static void s_abort_body(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/big/33554432");
    T1.abort_after = 1;
    T1.on_end = s_endless_cut;
    t_go(&T1, &cfg);
}

Test(client, abort_during_body, .timeout = 30)
{
    t_run_client(true, s_abort_body);
    cr_assert(T1.aborted);
    cr_assert_eq(T1.heads, 1);
    cr_assert_eq(T1.ends, 0);
    cr_assert_eq(T1.after_end, 0);
    cr_assert_lt(T1.body_len, 33554432);
    cr_assert_eq(T_stats.open, 0);
    cr_assert_eq(U.big_aborts, 1, "the upstream saw the client go");
}

/* ---- stopping with pooled connections --------------------------------------------------------------- */

static int T_start_after_stop;
static void s_stop_on_stop(void *arg)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    ic_http_call_t *c;
    T_start_after_stop = ic_http_call_start(&cfg, &tc_ops, &T3, &c);
    ic_http_server_stop(t_srv);
}

static void s_two_end(struct t_call *tc)
{
    if (++T_done < 2)
        return;
    ic_http_client_stats(&T_stats);
    ic_reactor_stop();
}

static void s_two(void)
{
    for (int i = 0; i < 2; i++) {
        ic_http_call_config_t cfg = t_cfg("GET", "/hello");
        TS[i].on_end = s_two_end;
        t_go(&TS[i], &cfg);
    }
}

Test(client, stop_with_idle_pooled_connections, .timeout = 30)
{
    t_fill();
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.port = 0;
    h.handler = t_handler;
    cr_assert_eq(ic_http_server_new(&h, 1, &t_srv), 0);
    t_port = ic_http_server_port(t_srv);
    t_scenario = s_two;
    ic_reactor_config_t cfg = t_config(1, t_on_start, NULL);
    cfg.on_stop = s_stop_on_stop;
    uint64_t t0 = ic_clock_ns();
    t_run(&cfg);
    uint64_t ms = (ic_clock_ns() - t0) / 1000000;
    ic_http_server_free(t_srv);
    t_srv = NULL;
    cr_assert_eq(TS[0].err, 0);
    cr_assert_eq(TS[1].err, 0);
    cr_assert_eq(T_stats.idle, 2, "both connections were pooled when the stop came");
    cr_assert_eq(T_start_after_stop, IC_ESHUTDOWN);
    cr_assert_lt(ms, 5000, "the stop did not wait for the idle timeout (%llu ms)", (unsigned long long)ms);
}

/* ---- pause and resume of a 32 MiB body ---------------------------------------------------------------- */

#define T_BIG (32u << 20)
static struct {
    unsigned pauses;
    uint64_t max_gap;      /* most bytes the upstream had queued beyond what the client got, while paused */
    uint64_t during_pause; /* body bytes delivered while paused (must stay 0) */
    bool paused;
    uint64_t next_pause_at;
} P;

static void s_pause_check(ic_timer_t *t)
{
    uint64_t gap = U.big_sent - T1.body_len;
    if (gap > P.max_gap)
        P.max_gap = gap;
    P.paused = false;
    ic_http_call_resume(T1.c);
}

static void tc_pause_body(void *arg, const char *p, size_t len)
{
    if (P.paused)
        P.during_pause += len;
    tc_body(arg, p, len);
    struct t_call *tc = arg;
    if (!P.paused && tc->body_len >= P.next_pause_at && P.pauses < 4) {
        P.pauses++;
        P.paused = true;
        P.next_pause_at += 8u << 20;
        ic_http_call_pause(tc->c);
        /* Long enough for the upstream to fill every buffer on the way. */
        ic_timer_start(&T_timer, 150 * 1000000ull, 0);
    }
}

static const ic_http_call_ops_t pause_ops = {tc_head, tc_pause_body, tc_end, NULL};

static void s_pause(void)
{
    char target[32];
    snprintf(target, sizeof(target), "/big/%u", T_BIG);
    ic_http_call_config_t cfg = t_cfg("GET", target);
    T1.on_end = s_get_end;
    T1.pattern_ok = true;
    P.next_pause_at = 1u << 20;
    ic_timer_init(&T_timer, s_pause_check);
    cr_assert_eq(ic_http_call_start(&cfg, &pause_ops, &T1, &T1.c), 0);
}

Test(client, pause_resume_keeps_input_bounded, .timeout = 60)
{
    t_run_client(true, s_pause);
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_eq(T1.body_len, T_BIG);
    cr_assert(T1.pattern_ok);
    cr_assert_eq(P.pauses, 4);
    cr_assert_eq(P.during_pause, 0, "no body piece while paused");
    cr_assert_gt(U.big_stalls, 0, "the upstream had to wait");
    cr_assert_lt(P.max_gap, 16u << 20, "%llu bytes were queued past the paused reader", (unsigned long long)P.max_gap);
}

/* ---- a stale pooled connection is retried once ----------------------------------------------------------- */

/* The raw upstream answers one request with keep-alive, then closes; the second call finds the pooled connection dead. */
static void r_once_then_close(int fd)
{
    if (!t_read_head(fd))
        return;
    t_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
    t_wait_sig(); /* the client pooled it and is about to send the next request */
    t_linger0(fd);
}

static void r_second(int fd)
{
    if (!t_read_head(fd))
        return;
    t_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
    t_wait_close(fd);
}

static void r_stale(int fd)
{
    static int n;
    if (n++ == 0)
        r_once_then_close(fd);
    else
        r_second(fd);
}

static void s_stale_second_end(struct t_call *tc)
{
    ic_http_client_stats(&T_stats);
    ic_reactor_stop();
}

static void s_stale_first_end(struct t_call *tc)
{
    /* The pooled connection gets the next call at once; the upstream resets it as the request goes out. */
    ic_http_call_config_t cfg = t_cfg("GET", "/2");
    T2.on_end = s_stale_second_end;
    t_go(&T2, &cfg);
    cr_assert_eq(write(R.sig[1], "x", 1), 1);
}

static void s_stale(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/1");
    T1.on_end = s_stale_first_end;
    t_go(&T1, &cfg);
}

Test(client, stale_pooled_connection_is_retried, .timeout = 30)
{
    t_raw_start(r_stale, 2);
    t_run_client(false, s_stale);
    t_raw_join();
    cr_assert_str_eq(T1.body, "first");
    cr_assert_eq(T2.err, 0, "%s", T2.why);
    cr_assert_str_eq(T2.body, "second");
    cr_assert_eq(T_stats.connects, 2);
    cr_assert_eq(T_stats.reuses, 1);
}

/* ---- https: a TLS listener (ic_tcp) answering every request with a fixed response ---------------------- */

static struct t_certs T_certs;
static ic_tls_ctx_t *T_srv_tls;
static ic_tcp_listener_t *T_lis;
static unsigned T_tls_accepts;
static size_t T_tls_body = 5;

static void l_open(ic_tcp_conn_t *c)
{
    T_tls_accepts++;
}

/* Answers each complete request head: "https" for small bodies, else T_tls_body bytes of the pattern. */
static size_t l_data(ic_tcp_conn_t *c, const char *data, size_t len)
{
    size_t used = 0;
    for (;;) {
        const char *end = memmem(data + used, len - used, "\r\n\r\n", 4);
        if (!end)
            return used;
        used = (size_t)(end - data) + 4;
        char head[64];
        int n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", T_tls_body);
        ic_tcp_write(c, head, (size_t)n);
        if (T_tls_body == 5) {
            ic_tcp_write(c, "https", 5);
        } else {
            for (size_t at = 0; at < T_tls_body; at += T_PIECE)
                ic_tcp_write(c, t_piece, T_tls_body - at < T_PIECE ? T_tls_body - at : T_PIECE);
        }
    }
}

static void l_start(void *arg)
{
    cr_assert_eq(ic_tcp_listener_start(T_lis), 0);
    t_scenario();
}

static void l_stop(void *arg)
{
    ic_tcp_listener_stop(T_lis);
}

/* Runs scenario against the TLS listener; ca: SSL_CERT_FILE names the test CA (else a file that does not exist). */
static void t_run_tls(bool ca, void (*scenario)(void))
{
    t_fill();
    t_certs_make(&T_certs);
    char err[256];
    cr_assert_eq(ic_tls_server_new(T_certs.cert, T_certs.key, &T_srv_tls, err, sizeof(err)), 0, "%s", err);
    unsetenv("SSL_CERT_DIR");
    setenv("SSL_CERT_FILE", ca ? T_certs.ca : "/nonexistent", 1); /* read when the pool makes its client context */
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.port = 0;
    lc.tls = T_srv_tls;
    lc.on.on_open = l_open;
    lc.on.on_data = l_data;
    cr_assert_eq(ic_tcp_listener_new(&lc, 1, &T_lis), 0);
    t_port = ic_tcp_listener_port(T_lis);
    t_scenario = scenario;
    ic_reactor_config_t cfg = t_config(1, l_start, NULL);
    cfg.on_stop = l_stop;
    t_run(&cfg);
    ic_tcp_listener_free(T_lis);
    ic_tls_free(T_srv_tls);
    t_certs_free(&T_certs);
}

static void s_https_second_end(struct t_call *tc)
{
    ic_http_client_stats(&T_stats);
    ic_reactor_stop();
}

static void s_https_first_end(struct t_call *tc)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/again");
    cfg.tls = true;
    T2.on_end = s_https_second_end;
    t_go(&T2, &cfg);
}

static void s_https(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    cfg.tls = true;
    T1.on_end = s_https_first_end;
    t_go(&T1, &cfg);
}

Test(client, https_get_verified_and_reused, .timeout = 30)
{
    t_run_tls(true, s_https);
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_str_eq(T1.body, "https");
    cr_assert_eq(T2.err, 0, "%s", T2.why);
    cr_assert_str_eq(T2.body, "https");
    cr_assert_eq(T_tls_accepts, 1);
    cr_assert_eq(T_stats.reuses, 1);
}

static void s_one_tls(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    cfg.tls = true;
    T1.on_end = t_stop_step;
    t_go(&T1, &cfg);
}

Test(client, https_verify_failure_names_the_reason, .timeout = 30)
{
    t_run_tls(false, s_one_tls);
    cr_assert_eq(T1.heads, 0);
    cr_assert_eq(T1.err, IC_ETLS_VERIFY, "%s: %s", ic_strerror(T1.err), T1.why);
    cr_assert(strstr(T1.why, "certificate"), "%s", T1.why);
    cr_assert(strstr(T1.why, "127.0.0.1"), "the why names the peer: %s", T1.why);
}

static void s_https_big(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    cfg.tls = true;
    T1.on_end = t_stop_step;
    t_go(&T1, &cfg);
}

Test(client, https_large_body, .timeout = 60)
{
    T_tls_body = 8u << 20;
    t_run_tls(true, s_https_big);
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_eq(T1.body_len, 8u << 20);
    cr_assert(T1.pattern_ok);
}

/* ---- the per-core cap: two origins, max_per_core 1 ------------------------------------------------------ */

static ic_http_server_t *T_srv2;
static unsigned T_port2;
static unsigned long long T_acc1, T_acc2;

static void c_start(void *arg)
{
    cr_assert_eq(ic_http_server_start(t_srv), 0);
    cr_assert_eq(ic_http_server_start(T_srv2), 0);
    t_scenario();
}

static void c_stop(void *arg)
{
    ic_http_server_stop(t_srv);
    ic_http_server_stop(T_srv2);
}

static void s_core_c_end(struct t_call *tc)
{
    ic_http_client_stats(&T_stats);
    T_acc1 = t_accepted();
    ic_http_server_stats_t st;
    ic_http_server_stats(T_srv2, 0, &st);
    T_acc2 = st.accepted;
    ic_reactor_stop();
}

static void s_core_a_end(struct t_call *tc)
{
    /* B goes to the second origin: the first one's idle connection is closed to make room. */
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    cfg.port = T_port2;
    TS[1].on_head = s_cap_head;
    t_go(&TS[1], &cfg);
    /* C goes back to the first origin and waits for the slot B holds; B's connection is closed rather than pooled. */
    cfg.port = t_port;
    TS[2].on_head = s_cap_head;
    TS[2].on_end = s_core_c_end;
    t_go(&TS[2], &cfg);
    ic_http_client_stats_t st;
    ic_http_client_stats(&st);
    cr_assert_eq(st.open, 1);
}

static void s_core(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    TS[0].on_end = s_core_a_end;
    TS[0].on_head = s_cap_head;
    t_go(&TS[0], &cfg);
}

Test(client, cap_per_core_across_origins, .timeout = 30)
{
    t_client_config(0, 1, 0);
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.port = 0;
    h.drain_ms = 0;
    h.handler = t_handler;
    cr_assert_eq(ic_http_server_new(&h, 1, &t_srv), 0);
    cr_assert_eq(ic_http_server_new(&h, 1, &T_srv2), 0);
    t_port = ic_http_server_port(t_srv);
    T_port2 = ic_http_server_port(T_srv2);
    t_scenario = s_core;
    ic_reactor_config_t cfg = t_config(1, c_start, NULL);
    cfg.on_stop = c_stop;
    t_run(&cfg);
    ic_http_server_free(t_srv);
    ic_http_server_free(T_srv2);
    t_srv = NULL;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(TS[i].err, 0, "%d: %s", i, TS[i].why);
        cr_assert_str_eq(TS[i].body, "hello world");
    }
    cr_assert_leq(T_max_open, 1);
    cr_assert_eq(T_stats.connects, 3);
    cr_assert_eq(T_acc1, 2);
    cr_assert_eq(T_acc2, 1);
}

/* ---- a connect that never completes: a listener whose accept queue is full drops the SYN ---------------- */

static int T_full_lfd, T_full_cfd;

static void t_full_listener(void)
{
    T_full_lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(T_full_lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(T_full_lfd, 0), 0);
    cr_assert_eq(getsockname(T_full_lfd, (struct sockaddr *)&sa, &len), 0);
    t_port = ntohs(sa.sin_port);
    /* With a backlog of 0 one connection fills the queue; nobody accepts it. */
    T_full_cfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(T_full_cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void s_connect_timeout(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    cfg.connect_timeout_ms = 150;
    cfg.head_timeout_ms = 2000;
    T1.on_end = s_get_end;
    t_go(&T1, &cfg);
}

Test(client, connect_timeout, .timeout = 30)
{
    t_full_listener();
    t_run_client(false, s_connect_timeout);
    close(T_full_cfd);
    close(T_full_lfd);
    cr_assert_eq(T1.ends, 1);
    cr_assert_eq(T1.err, -ETIMEDOUT, "%s: %s", ic_strerror(T1.err), T1.why);
    char want[80];
    snprintf(want, sizeof(want), "connecting to 127.0.0.1:%u timed out after 150 ms", t_port);
    cr_assert_str_eq(T1.why, want);
    cr_assert_eq(T_stats.open, 0);
}

/* The call is aborted while its connect hangs: the reactor still stops at once (the connect is cancelled). */
static void s_abort_stalled_tick(ic_timer_t *t)
{
    ic_http_call_abort(T1.c);
    T1.aborted = true;
    ic_http_client_stats(&T_stats);
    ic_reactor_stop();
}

static void s_abort_stalled(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    t_go(&T1, &cfg);
    ic_timer_init(&T_timer, s_abort_stalled_tick);
    ic_timer_start(&T_timer, 50 * 1000000ull, 0);
}

Test(client, abort_during_a_hanging_connect, .timeout = 30)
{
    t_full_listener();
    uint64_t t0 = ic_clock_ns();
    t_run_client(false, s_abort_stalled);
    uint64_t ms = (ic_clock_ns() - t0) / 1000000;
    close(T_full_cfd);
    close(T_full_lfd);
    cr_assert(T1.aborted);
    cr_assert_eq(T1.heads + T1.ends, 0);
    cr_assert_eq(T_stats.open, 0);
    cr_assert_lt(ms, 3000, "the stop waited %llu ms for the connect", (unsigned long long)ms);
}

/* ---- host names through the resolver ---------------------------------------------------------------------- */

static void s_localhost_second_end(struct t_call *tc)
{
    ic_http_client_stats(&T_stats);
    T_accepts = t_accepted();
    ic_reactor_stop();
}

static void s_localhost_end(struct t_call *tc)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    cfg.host = "LocalHost"; /* the same origin: host names compare without case */
    T2.on_end = s_localhost_second_end;
    t_go(&T2, &cfg);
}

static void s_localhost(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    cfg.host = "localhost";
    T1.on_end = s_localhost_end;
    t_go(&T1, &cfg);
}

Test(client, localhost_through_etc_hosts, .timeout = 30)
{
    t_run_client(true, s_localhost);
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_str_eq(T1.body, "hello world");
    cr_assert_eq(T2.err, 0, "%s", T2.why);
    cr_assert_eq(T_accepts, 1);
    cr_assert_eq(T_stats.reuses, 1);
}

/* A name /etc/hosts does not know, asked of a DNS server that does not answer: the call fails naming the host. */
static void s_unknown(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    cfg.host = "no-such-host.invalid";
    T1.on_end = t_stop_step;
    t_go(&T1, &cfg);
}

Test(client, unknown_host_fails_with_a_dns_error, .timeout = 30)
{
    /* A UDP port nobody reads: the lookup times out (or is refused) quickly. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(u, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(u, (struct sockaddr *)&sa, &len), 0);
    char servers[32];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", ntohs(sa.sin_port));
    cr_assert_eq(ic_dns_configure(servers, 300), 0);
    t_port = 80;
    t_run_client(false, s_unknown);
    close(u);
    cr_assert_eq(T1.ends, 1);
    cr_assert(T1.err == IC_EDNS || T1.err == IC_EDNS_NOTFOUND || T1.err == -ETIMEDOUT, "%s: %s", ic_strerror(T1.err), T1.why);
    cr_assert(strstr(T1.why, "no-such-host.invalid"), "%s", T1.why);
}
