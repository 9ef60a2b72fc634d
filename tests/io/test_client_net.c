/*
 * test_client_net.c: the HTTP client over TLS, with caps across origins,
 * connects that hang, names through the resolver, the next address of an
 * answer, IPv6 and two reactors (the tests' scaffolding: t_client.h).
 */
#include "t_client.h"

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

/* ---- a stop while calls wait for a slot ------------------------------------------------------------------- */

static int T_order[4], T_norder;

static void s_order_end(struct t_call *tc)
{
    T_order[T_norder++] = tc == &T1 ? 1 : 2;
}

static void s_stop_waiting_tick(ic_timer_t *t)
{
    ic_reactor_stop();
}

static void s_stop_waiting(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    cfg.head_timeout_ms = 300; /* the stalled upstream holds the one slot until then */
    T1.on_end = s_order_end;
    T2.on_end = s_order_end;
    t_go(&T1, &cfg);
    t_go(&T2, &cfg);
    ic_timer_init(&T_timer, s_stop_waiting_tick);
    ic_timer_start(&T_timer, 20 * 1000000ull, 0);
}

Test(client, stop_fails_waiting_calls, .timeout = 30)
{
    t_client_config(1, 0, 0);
    t_raw_start(r_stall, 1);
    t_run_client(false, s_stop_waiting);
    t_raw_join();
    cr_assert_eq(T_norder, 2);
    cr_assert_eq(T_order[0], 2, "the waiting call ends first, at the stop");
    cr_assert_eq(T2.err, IC_ESHUTDOWN, "%s: %s", ic_strerror(T2.err), T2.why);
    cr_assert_eq(T1.err, -ETIMEDOUT, "the call in flight ends on its own: %s", T1.why);
}

/* ---- the next address of an answer: a DNS server of the test's own answers 127.0.0.2 then 127.0.0.1 ---------- */

static struct {
    int fd;
    pthread_t th;
    _Atomic bool stop;
    _Atomic unsigned queries;
} D;

/* Answers every A query with 127.0.0.2 and 127.0.0.1, every other query with no record. */
static void *t_dns_main(void *arg)
{
    while (!atomic_load(&D.stop)) {
        unsigned char q[512], r[600];
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(D.fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
        if (n < 12)
            continue; /* the receive timeout: look at stop again */
        atomic_fetch_add(&D.queries, 1);
        size_t at = 12;
        while (at < (size_t)n && q[at])
            at += (size_t)q[at] + 1;
        if (at + 5 > (size_t)n)
            continue;
        unsigned qtype = (unsigned)q[at + 1] << 8 | q[at + 2];
        size_t qend = at + 5; /* the name's 0, type, class */
        memcpy(r, q, qend);
        r[2] = 0x81; /* QR, RD */
        r[3] = 0x80; /* RA, NOERROR */
        r[4] = 0, r[5] = 1;
        r[6] = 0, r[7] = qtype == 1 ? 2 : 0;
        memset(r + 8, 0, 4);
        size_t len = qend;
        for (int i = 0; qtype == 1 && i < 2; i++) {
            static const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0};
            memcpy(r + len, rr, sizeof(rr));
            r[len + sizeof(rr)] = i == 0 ? 2 : 1;
            len += sizeof(rr) + 1;
        }
        sendto(D.fd, r, len, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

static void s_two_addrs(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    cfg.host = "two.example.test";
    T1.on_end = s_get_end;
    t_go(&T1, &cfg);
}

Test(client, next_address_after_a_refusal, .timeout = 30)
{
    D.fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(D.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(D.fd, (struct sockaddr *)&sa, &len), 0);
    struct timeval tv = {.tv_usec = 100000};
    setsockopt(D.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char servers[32];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", ntohs(sa.sin_port));
    cr_assert_eq(ic_dns_configure(servers, 2000), 0);
    cr_assert_eq(pthread_create(&D.th, NULL, t_dns_main, NULL), 0);
    /* The upstream listens on 127.0.0.1 only: 127.0.0.2, asked first, refuses. */
    t_run_client(true, s_two_addrs);
    atomic_store(&D.stop, true);
    pthread_join(D.th, NULL);
    close(D.fd);
    cr_assert_gt(atomic_load(&D.queries), 0, "the resolver asked our server");
    cr_assert_eq(T1.err, 0, "%s: %s", ic_strerror(T1.err), T1.why);
    cr_assert_str_eq(T1.body, "hello world");
    cr_assert_eq(T_stats.connects, 1, "one connection, two addresses tried");
}

/* ---- IPv6: a numeric address without brackets ------------------------------------------------------------- */

static char T_host_seen[128];

static void t_host_handler(ic_http_exchange_t *x, void *arg)
{
    const ic_http_request_t *req = ic_http_request(x);
    snprintf(T_host_seen, sizeof(T_host_seen), "%.*s", (int)req->host.len, req->host.p);
    ic_http_respond(x, 200, NULL, 0, "v6", 2);
}

static void s_v6(void)
{
    ic_http_call_config_t cfg = t_cfg("GET", "/");
    cfg.host = "::1";
    T1.on_end = t_stop_step;
    t_go(&T1, &cfg);
}

Test(client, ipv6_numeric_host, .timeout = 30)
{
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.host = "::1";
    h.port = 0;
    h.handler = t_host_handler;
    if (ic_http_server_new(&h, 1, &t_srv) < 0)
        cr_skip_test("no IPv6 loopback here");
    t_port = ic_http_server_port(t_srv);
    t_scenario = s_v6;
    ic_reactor_config_t cfg = t_config(1, t_on_start, NULL);
    cfg.on_stop = t_on_stop;
    t_run(&cfg);
    ic_http_server_free(t_srv);
    t_srv = NULL;
    cr_assert_eq(T1.err, 0, "%s", T1.why);
    cr_assert_str_eq(T1.body, "v6");
    char want[64];
    snprintf(want, sizeof(want), "[::1]:%u", t_port);
    cr_assert_str_eq(T_host_seen, want, "the Host header brackets the address");
}

/* ---- two reactors: each has its own pool ------------------------------------------------------------------ */

static struct t_call TR[2];
static ic_http_client_stats_t TR_stats[2];
static _Atomic int TR_done;

static void s_per_core_end(struct t_call *tc)
{
    int id = ic_reactor_id();
    ic_http_client_stats(&TR_stats[id]);
    if (atomic_fetch_add(&TR_done, 1) == 1)
        ic_reactor_stop();
}

static void s_per_core(void)
{
    int id = ic_reactor_id();
    ic_http_call_config_t cfg = t_cfg("GET", "/hello");
    TR[id].on_end = s_per_core_end;
    t_go(&TR[id], &cfg);
}

Test(client, a_pool_per_reactor, .timeout = 30)
{
    t_fill();
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.port = 0;
    h.drain_ms = 0;
    h.handler = t_handler;
    cr_assert_eq(ic_http_server_new(&h, 2, &t_srv), 0);
    t_port = ic_http_server_port(t_srv);
    t_scenario = s_per_core;
    ic_reactor_config_t cfg = t_config(2, t_on_start, NULL);
    cfg.on_stop = t_on_stop;
    t_run(&cfg);
    ic_http_server_free(t_srv);
    t_srv = NULL;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(TR[i].err, 0, "reactor %d: %s", i, TR[i].why);
        cr_assert_str_eq(TR[i].body, "hello world");
        cr_assert_eq(TR_stats[i].calls, 1, "reactor %d counts its own call only", i);
        cr_assert_eq(TR_stats[i].connects, 1);
    }
}
