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
#include "t_client.h"

/* ---- simple exchanges ----------------------------------------------------------------------------- */

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
static unsigned T_round;

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

/* The retried request: a PUT whose 6-byte body must come again on the new connection; it is echoed. */
static void r_second(int fd)
{
    if (!t_read_head(fd))
        return;
    char body[7] = "";
    size_t n = 0;
    while (n < 6) {
        ssize_t r = recv(fd, body + n, 6 - n, 0);
        if (r <= 0)
            return;
        n += (size_t)r;
    }
    char out[64];
    snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n%s", body);
    t_send(fd, out);
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
    ic_http_call_config_t cfg = t_cfg("PUT", "/2");
    cfg.body_length = 6;
    T2.on_end = s_stale_second_end;
    t_go(&T2, &cfg);
    cr_assert_eq(ic_http_call_write(T2.c, "second", 6), 1);
    cr_assert_eq(ic_http_call_end(T2.c), 0);
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
