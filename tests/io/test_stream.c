/*
 * test_stream.c: streamed responses of the HTTP server (ic_http_respond_start,
 * ic_http_stream_write, ic_http_stream_end) over real sockets on 127.0.0.1.
 *
 * The handler picks a behaviour by path; a blocking client on its own
 * thread decodes what comes back (chunked or not) and records it; the test
 * thread asserts after the reactor stopped.
 */
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t_http.h"
#include "t_util.h"

#define T_CHUNK 65536

static ic_http_server_t *t_srv;

/* The one streamed exchange in progress (the tests run one at a time). */
static struct {
    ic_http_exchange_t *x;
    ic_timer_t tick;
    unsigned sent, total; /* chunks */
    size_t bytes, queued_at_pause;
    int paused, drains, aborts, writes_after_abort;
    bool fail_at_half;
    _Atomic int paused_flag;
} S;

static void t_fill(char *p, size_t n, size_t at)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (at + i) % 26);
}

static void s_drain(void *arg);
static void s_abort(void *arg)
{
    S.aborts++;
    S.x = NULL;
    ic_timer_stop(&S.tick);
}
static const ic_http_stream_ops_t s_ops = {s_drain, s_abort};

/* Writes chunks until the server says wait (or all are out). */
static void s_pump(void)
{
    static char chunk[T_CHUNK];
    while (S.x && S.sent < S.total) {
        if (S.fail_at_half && S.sent == S.total / 2) {
            ic_http_stream_end(S.x, false);
            S.x = NULL;
            return;
        }
        t_fill(chunk, T_CHUNK, S.bytes);
        int r = ic_http_stream_write(S.x, chunk, T_CHUNK);
        cr_assert_geq(r, 0);
        S.sent++;
        S.bytes += T_CHUNK;
        if (r == 0) {
            if (!S.paused++)
                S.queued_at_pause = S.bytes;
            atomic_store(&S.paused_flag, 1);
            return; /* s_drain goes on */
        }
    }
    if (S.x) {
        ic_http_stream_end(S.x, true);
        S.x = NULL;
    }
}

static void s_drain(void *arg)
{
    S.drains++;
    s_pump();
}

/* One small chunk per timer tick: a body produced over time; /forever never ends (until the client goes). */
static void s_tick(ic_timer_t *t)
{
    if (!S.x) {
        S.writes_after_abort++;
        return;
    }
    char line[32];
    int n = snprintf(line, sizeof(line), "tick %u\n", S.sent);
    cr_assert_geq(ic_http_stream_write(S.x, line, (size_t)n), 0);
    if (++S.sent == S.total) {
        ic_http_stream_end(S.x, true);
        S.x = NULL;
        return;
    }
    ic_timer_start(&S.tick, 1000000, 0);
}

static void t_handler(ic_http_exchange_t *x, void *arg)
{
    const ic_http_request_t *req = ic_http_request(x);
    char target[64];
    snprintf(target, sizeof(target), "%.*s", (int)req->target.len, req->target.p);
    static const char *const hdr[] = {"Content-Type: text/plain"};
    if (strcmp(target, "/plain") == 0) {
        ic_http_respond(x, 200, hdr, 1, "plain", 5);
        return;
    }
    S.x = NULL;
    if (strcmp(target, "/ticks") == 0 || strcmp(target, "/forever") == 0) {
        S.sent = 0;
        S.total = target[1] == 't' ? 50 : ~0u;
        int r = ic_http_respond_start(x, 200, hdr, 1, -1, &s_ops, NULL);
        if (r != 0) {
            cr_assert_eq(r, IC_HTTP_NO_BODY, "respond_start: %d", r);
            return;
        }
        S.x = x;
        ic_timer_init(&S.tick, s_tick);
        ic_timer_start(&S.tick, 1000000, 0);
        return;
    }
    if (strcmp(target, "/big") == 0 || strcmp(target, "/broken") == 0 || strcmp(target, "/sized") == 0) {
        /* 8 MiB as fast as the client takes it; /sized declares its length, /broken fails half-way. */
        S.sent = 0;
        S.bytes = 0;
        S.total = 128;
        S.fail_at_half = target[1] == 'b' && target[2] == 'r';
        int64_t len = target[1] == 's' ? (int64_t)S.total * T_CHUNK : -1;
        int r = ic_http_respond_start(x, 200, hdr, 1, len, &s_ops, NULL);
        if (r != 0) {
            cr_assert_eq(r, IC_HTTP_NO_BODY, "respond_start: %d", r);
            return;
        }
        S.x = x;
        s_pump();
        return;
    }
    ic_http_respond(x, 404, NULL, 0, "", 0);
}

static void t_start(void *arg)
{
    cr_assert_eq(ic_http_server_start(t_srv), 0);
}

static void t_stop(void *arg)
{
    ic_http_server_stop(t_srv);
}

/* ---- the client --------------------------------------------------------------------- */

static struct {
    int status[4];
    bool chunked[4], complete[4], closed;
    size_t body_len[4];
    bool body_ok[4];
    char first_line[4][64];
} C;

/* Reads one response into slot i; the body is checked against t_fill's pattern (unless it is ticks). */
static void t_read(struct t_in *in, int i, bool head)
{
    struct t_resp r;
    if (!t_http_read(in, &r, head, true))
        return;
    C.status[i] = r.status;
    snprintf(C.first_line[i], sizeof(C.first_line[i]), "%.*s", (int)strcspn(r.head, "\r"), r.head);
    C.chunked[i] = r.chunked;
    C.complete[i] = r.complete;
    C.body_len[i] = r.body_len;
    C.body_ok[i] = true;
    if (r.body && r.body_len > 4 && memcmp(r.body, "tick", 4) != 0) {
        char *want = malloc(r.body_len);
        t_fill(want, r.body_len, 0);
        C.body_ok[i] = memcmp(want, r.body, r.body_len) == 0;
        free(want);
    }
    t_resp_free(&r);
}

static const char *t_script; /* what the client sends */
static int t_nresp;
static bool t_wait_pause, t_hang_up, t_head, t_expect_close;

static void *t_client(void *arg)
{
    /* A slow client: a small receive window, then nothing read until the producer was told to wait. */
    struct t_in in = {.fd = t_http_dial(ic_http_server_port(t_srv), t_wait_pause ? 4096 : 0)};
    cr_assert_geq(in.fd, 0);
    send(in.fd, t_script, strlen(t_script), MSG_NOSIGNAL);
    while (t_wait_pause && !atomic_load(&S.paused_flag))
        sched_yield();
    if (t_hang_up) {
        /* Read the head and a few ticks, then go away in the middle of the body. */
        t_need(&in, 200);
        close(in.fd);
        free(in.buf);
        return NULL;
    }
    for (int i = 0; i < t_nresp; i++)
        t_read(&in, i, t_head && i == 0);
    char c;
    if (t_expect_close)
        C.closed = recv(in.fd, &c, 1, 0) == 0;
    close(in.fd);
    free(in.buf);
    ic_reactor_stop();
    return NULL;
}

/* Runs the HTTP server (handler) on one reactor with client on its own thread, until the client is done. */
static void t_run_server(ic_http_handler_cb handler, bool stream_bodies, void *(*client)(void *))
{
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.port = 0;
    h.handler = handler;
    h.stream_bodies = stream_bodies;
    cr_assert_eq(ic_http_server_new(&h, 1, &t_srv), 0);
    ic_reactor_config_t cfg = t_config(1, t_start, NULL);
    cfg.on_stop = t_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    pthread_t th;
    pthread_create(&th, NULL, client, NULL);
    pthread_join(th, NULL);
    cr_assert_eq(ic_reactor_wait(), 0);
    ic_http_server_free(t_srv);
}

/* Serves t_handler with the client above sending script; stops when the client is done. */
static void t_serve(const char *script, int nresp)
{
    memset(&S, 0, sizeof(S));
    memset(&C, 0, sizeof(C));
    t_script = script;
    t_nresp = nresp;
    t_run_server(t_handler, false, t_client);
    t_wait_pause = t_hang_up = t_head = t_expect_close = false;
}

Test(stream, chunked_body_over_time_then_the_next_request, .timeout = 60)
{
    t_serve("GET /ticks HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n", 2);
    cr_assert_eq(C.status[0], 200, "%s", C.first_line[0]);
    cr_assert(C.chunked[0], "no Transfer-Encoding: chunked");
    cr_assert(C.complete[0], "the terminal chunk did not come");
    cr_assert_eq(C.body_len[0], 50 * 7 + 40 * 1, "body of %zu bytes", C.body_len[0]); /* "tick N\n": 10 of 7 bytes, 40 of 8 */
    cr_assert_eq(C.status[1], 200, "the pipelined request after the stream: %s", C.first_line[1]);
    cr_assert_eq(C.body_len[1], 5);
}

Test(stream, a_slow_client_holds_the_producer_back, .timeout = 60)
{
    t_wait_pause = true;
    t_serve("GET /big HTTP/1.1\r\nHost: t\r\n\r\n", 1);
    cr_assert(C.complete[0] && C.body_ok[0], "8 MiB arrived complete and in order (%zu bytes)", C.body_len[0]);
    cr_assert_eq(C.body_len[0], 128u * T_CHUNK);
    cr_assert_geq(S.paused, 1, "the producer was never told to wait");
    cr_assert_eq(S.drains, S.paused, "every wait ended with a drain");
    cr_log_info("queued when first told to wait: %zu KiB; %d waits", S.queued_at_pause >> 10, S.paused);
    /* Nothing read by the client yet: what was queued sits in the server's buffers (2 × 256 KiB) and the socket's. */
    cr_assert_lt(S.queued_at_pause, 6u << 20, "the server took %zu bytes from the producer at once", S.queued_at_pause);
}

Test(stream, declared_length_is_sent_as_is, .timeout = 60)
{
    t_serve("GET /sized HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n", 2);
    cr_assert(!C.chunked[0]);
    cr_assert(C.complete[0] && C.body_ok[0]);
    cr_assert_eq(C.body_len[0], 128u * T_CHUNK);
    cr_assert_eq(C.status[1], 200);
}

Test(stream, a_failed_producer_cuts_the_body, .timeout = 60)
{
    t_serve("GET /broken HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n", 2);
    cr_assert(C.chunked[0]);
    cr_assert_not(C.complete[0], "a cut body must not end with a terminal chunk");
    cr_assert_eq(C.body_len[0], 64u * T_CHUNK, "what was written before the failure arrives (%zu)", C.body_len[0]);
    cr_assert_eq(C.status[1], 0, "the connection closed: no answer to the next request");
}

Test(stream, http10_and_head, .timeout = 60)
{
    t_expect_close = true;
    t_serve("GET /ticks HTTP/1.0\r\n\r\n", 1);
    cr_assert_not(C.chunked[0], "no chunked coding for HTTP/1.0");
    cr_assert(C.closed, "the close ends an HTTP/1.0 body");
    cr_assert_eq(C.body_len[0], 390);
    t_head = true;
    t_serve("HEAD /ticks HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n", 2);
    cr_assert_eq(C.status[0], 200);
    cr_assert_eq(C.status[1], 200, "HEAD of a stream: the connection goes on (%s)", C.first_line[1]);
    cr_assert_eq(C.body_len[1], 5);
}

/* ---- streamed request bodies --------------------------------------------------------- */

static struct {
    ic_http_exchange_t *x;
    size_t bytes, biggest;
    unsigned pieces, pauses, empty;
    uint32_t sum;
    int status;
    ic_timer_t resume;
} U;

static void u_resume(ic_timer_t *t)
{
    ic_http_body_resume(U.x);
}

static void u_body(void *arg, const char *p, size_t len, int status)
{
    if (status != 0) {
        U.status = status;
        char out[96];
        int n = snprintf(out, sizeof(out), "%zu %u %d", U.bytes, U.sum, status);
        if (status == 1)
            ic_http_respond(U.x, 200, NULL, 0, out, (size_t)n);
        else if (status != -EPIPE && status != -ECANCELED)
            ic_http_respond(U.x, 400, NULL, 0, out, (size_t)n);
        return;
    }
    if (len == 0)
        U.empty++;
    __atomic_store_n(&U.bytes, U.bytes + len, __ATOMIC_RELEASE); /* the client of the terminal-chunk test waits on it */
    U.pieces++;
    if (len > U.biggest)
        U.biggest = len;
    for (size_t i = 0; i < len; i++)
        U.sum = U.sum * 31 + (unsigned char)p[i];
    /* A slow reader now and then: the flow stops, the socket's buffer fills, then it goes on from a timer. */
    if (U.pieces % 64 == 0) {
        U.pauses++;
        ic_http_body_pause(U.x);
        ic_timer_start(&U.resume, 1000000, 0);
    }
}

static void u_handler(ic_http_exchange_t *x, void *arg)
{
    if (!ic_http_body_streaming(x)) {
        ic_str_t b = ic_http_body(x);
        char out[64];
        int n = snprintf(out, sizeof(out), "whole %zu", b.len);
        ic_http_respond(x, 200, NULL, 0, out, (size_t)n);
        return;
    }
    U.x = x;
    ic_timer_init(&U.resume, u_resume);
    ic_http_body_read(x, u_body, NULL);
}

static uint32_t u_sum(const char *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i < n; i++)
        sum = sum * 31 + (unsigned char)p[i];
    return sum;
}

static char u_reply[3][128];

static void *u_client(void *arg)
{
    int fd = t_http_dial(ic_http_server_port(t_srv), 0);
    cr_assert_geq(fd, 0);
    struct t_in in = {.fd = fd};
    size_t n = 8u << 20;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)(i * 7 + (i >> 12));
    /* 1: Content-Length, 8 MiB. */
    char head[256];
    int h = snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
    t_http_send(fd, head, (size_t)h);
    t_http_send(fd, body, n);
    struct t_resp r;
    if (t_http_read(&in, &r, false, true) && r.body)
        snprintf(u_reply[0], sizeof(u_reply[0]), "%s", r.body);
    t_resp_free(&r);
    /* 2: chunked, 8 MiB in chunks of 100,000 bytes, then a small request on the same connection. */
    memset(&U, 0, sizeof(U));
    h = snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    t_http_send(fd, head, (size_t)h);
    for (size_t at = 0; at < n; at += 100000) {
        size_t k = n - at < 100000 ? n - at : 100000;
        h = snprintf(head, sizeof(head), "%zx\r\n", k);
        t_http_send(fd, head, (size_t)h);
        t_http_send(fd, body + at, k);
        t_http_send(fd, "\r\n", 2);
    }
    const char *tail = "0\r\n\r\nPOST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
    t_http_send(fd, tail, strlen(tail));
    for (int i = 1; i < 3; i++) {
        if (t_http_read(&in, &r, false, true) && r.body)
            snprintf(u_reply[i], sizeof(u_reply[i]), "%s", r.body);
        t_resp_free(&r);
    }
    close(fd);
    free(in.buf);
    free(body);
    ic_reactor_stop();
    return NULL;
}

Test(stream, request_bodies_stream_as_they_arrive, .timeout = 60)
{
    memset(&U, 0, sizeof(U));
    memset(u_reply, 0, sizeof(u_reply));
    t_run_server(u_handler, true, u_client); /* past max_body (1 MiB): only streaming takes 8 MiB */
    size_t n = 8u << 20;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)(i * 7 + (i >> 12));
    char want[96];
    snprintf(want, sizeof(want), "%zu %u 1", n, u_sum(body, n, 0));
    free(body);
    cr_assert_str_eq(u_reply[0], want, "Content-Length upload");
    cr_assert_str_eq(u_reply[1], want, "chunked upload");
    cr_assert_str_eq(u_reply[2], "whole 3", "the pipelined request after a streamed body");
    cr_log_info("chunked upload: %u pieces, the biggest %zu bytes, %u pauses", U.pieces, U.biggest, U.pauses);
    cr_assert_gt(U.pauses, 0);
    /* The server never held much of the body: the input buffer is drained as it fills (64 KiB + one receive). */
    cr_assert_leq(U.biggest, 256u * 1024, "a piece of %zu bytes", U.biggest);
}

/* The terminal chunk sent only once the reader has every byte before it: it comes alone in its own read. */
static void *u_client_late_end(void *arg)
{
    int fd = t_http_dial(ic_http_server_port(t_srv), 0);
    cr_assert_geq(fd, 0);
    struct t_in in = {.fd = fd};
    const char *head = "POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    t_http_send(fd, head, strlen(head));
    uint64_t t0 = ic_clock_ns();
    while (__atomic_load_n(&U.bytes, __ATOMIC_ACQUIRE) < 5 && ic_clock_ns() - t0 < 20000000000ull)
        sched_yield();
    t_http_send(fd, "0\r\n\r\n", 5);
    struct t_resp r;
    if (t_http_read(&in, &r, false, true) && r.body)
        snprintf(u_reply[0], sizeof(u_reply[0]), "%s", r.body);
    t_resp_free(&r);
    close(fd);
    free(in.buf);
    ic_reactor_stop();
    return NULL;
}

Test(stream, a_terminal_chunk_alone_in_its_read_is_the_end_not_an_empty_piece, .timeout = 60)
{
    memset(&U, 0, sizeof(U));
    memset(u_reply, 0, sizeof(u_reply));
    t_run_server(u_handler, true, u_client_late_end);
    char want[96];
    snprintf(want, sizeof(want), "5 %u 1", u_sum("hello", 5, 0));
    cr_assert_str_eq(u_reply[0], want);
    /* A stream's reader (the JS byte stream) refuses an empty chunk: the request would fail with a TypeError. */
    cr_assert_eq(U.empty, 0, "%u empty pieces delivered", U.empty);
}

/* The hang-up test stops the reactor from the abort callback. */
static void s_abort_stop(void *arg)
{
    s_abort(arg);
    ic_reactor_stop();
}
static const ic_http_stream_ops_t s_ops_stop = {s_drain, s_abort_stop};

static void t_hang_handler(ic_http_exchange_t *x, void *arg)
{
    static const char *const hdr[] = {"Content-Type: text/plain"};
    S.x = NULL;
    S.sent = 0;
    S.total = ~0u;
    cr_assert_eq(ic_http_respond_start(x, 200, hdr, 1, -1, &s_ops_stop, NULL), 0);
    S.x = x;
    ic_timer_init(&S.tick, s_tick);
    ic_timer_start(&S.tick, 1000000, 0);
}

Test(stream, a_client_that_goes_away_aborts_the_stream, .timeout = 60)
{
    memset(&S, 0, sizeof(S));
    t_script = "GET /forever HTTP/1.1\r\nHost: t\r\n\r\n";
    t_hang_up = true;
    t_run_server(t_hang_handler, false, t_client); /* the abort callback stops the reactor */
    t_hang_up = false;
    cr_assert_eq(S.aborts, 1, "abort called %d times", S.aborts);
    cr_assert_eq(S.writes_after_abort, 0);
    cr_assert_gt(S.sent, 0);
}
