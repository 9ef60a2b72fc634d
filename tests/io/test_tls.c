/*
 * test_tls.c: TLS over the TCP layer (isocore/tcp.h) on 127.0.0.1, with a CA
 * and a server certificate made at test time (t_tls.h): a verified echo of
 * 4 MiB each way with backpressure, verification failures (no trust anchor,
 * wrong name), an IP address as the name, garbage from a plain peer, a TLS
 * client against a plain server, contexts that cannot be made, the HTTP
 * server over TLS (1.3 and 1.2, keep-alive, a 1 MiB body each way, 4 MiB
 * down), and handshakes that time out (both sides) or are reset.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t_tls.h"
#include "t_util.h"

static struct t_certs t_c;
static ic_tls_ctx_t *t_srv_ctx, *t_cli_ctx;
static ic_tcp_listener_t *t_l;
static unsigned t_port;

/* What happened on each side. */
static int t_srv_open, t_srv_closed, t_srv_err, t_cli_open, t_cli_closed, t_cli_err;
static char t_srv_why[256], t_cli_why[256];
static bool t_cli_tls, t_srv_tls;

static void t_stop(void *arg)
{
    ic_tcp_listener_stop(t_l);
}

static void t_srv_on_open(ic_tcp_conn_t *c)
{
    t_srv_open++;
    t_srv_tls = ic_tcp_is_tls(c);
}

static void t_srv_on_close(ic_tcp_conn_t *c, int err)
{
    t_srv_closed++;
    t_srv_err = err;
    const char *why = ic_tcp_tls_error(c);
    snprintf(t_srv_why, sizeof(t_srv_why), "%s", why ? why : "");
}

/* Echo, up to what the peer reads: past 1 MiB not sent, the rest waits (the input fills, then reading stops). */
static size_t t_echo(ic_tcp_conn_t *c, const char *data, size_t len)
{
    size_t room = ic_tcp_unsent(c) < (1u << 20) ? len : 0;
    if (room)
        cr_assert_eq(ic_tcp_write(c, data, room), 0);
    if (room < len) {
        ic_tcp_pause(c);
        ic_tcp_resume(c); /* offered again from a task, after this turn's send went */
    }
    return room;
}

static void t_certs_ctx(bool trust)
{
    t_certs_make(&t_c);
    char err[256];
    int r = ic_tls_server_new(t_c.cert, t_c.key, &t_srv_ctx, err, sizeof(err));
    cr_assert_eq(r, 0, "server context: %s", err);
    unsetenv("SSL_CERT_DIR");
    if (trust)
        setenv("SSL_CERT_FILE", t_c.ca, 1); /* before the client context: it reads the default paths then */
    else
        setenv("SSL_CERT_FILE", "/nonexistent", 1);
    r = ic_tls_client_new(true, &t_cli_ctx, err, sizeof(err));
    cr_assert_eq(r, 0, "client context: %s", err);
}

static void t_done(void)
{
    ic_tls_free(t_srv_ctx);
    ic_tls_free(t_cli_ctx);
    t_srv_ctx = t_cli_ctx = NULL;
    t_certs_free(&t_c);
}

/* Runs one reactor with a listener (TLS when srv_tls) and `start` as its on_start after the listener started. */
static void t_run_with(bool srv_tls, const ic_tcp_handlers_t *on, void (*start)(void *))
{
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.port = 0;
    lc.tls = srv_tls ? t_srv_ctx : NULL;
    lc.on = *on;
    cr_assert_eq(ic_tcp_listener_new(&lc, 1, &t_l), 0);
    t_port = ic_tcp_listener_port(t_l);
    ic_reactor_config_t cfg = t_config(1, start, NULL);
    cfg.on_stop = t_stop;
    t_run(&cfg);
    ic_tcp_listener_free(t_l);
}

/* ---- a verified echo of 4 MiB each way --------------------------------------------------- */

#define T_BIG (4u << 20)

static size_t t_sent, t_got, t_max_unsent;
static bool t_bad_byte;

static char t_byte(size_t i)
{
    return (char)((i * 2654435761u) >> 13);
}

/* Writes more while less than 256 KiB waits: the writer follows the reader, as a producer should. */
static void t_top_up(ic_tcp_conn_t *c)
{
    char buf[32 * 1024];
    while (t_sent < T_BIG && ic_tcp_unsent(c) < 256 * 1024) {
        size_t n = T_BIG - t_sent < sizeof(buf) ? T_BIG - t_sent : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = t_byte(t_sent + i);
        cr_assert_eq(ic_tcp_write(c, buf, n), 0);
        t_sent += n;
    }
    if (ic_tcp_unsent(c) > t_max_unsent)
        t_max_unsent = ic_tcp_unsent(c);
}

static void t_cli_on_open(ic_tcp_conn_t *c)
{
    t_cli_open++;
    t_cli_tls = ic_tcp_is_tls(c);
    t_top_up(c);
}

static size_t t_cli_data(ic_tcp_conn_t *c, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (data[i] != t_byte(t_got + i))
            t_bad_byte = true;
    t_got += len;
    if (t_got == T_BIG)
        ic_tcp_close(c);
    else
        t_top_up(c);
    return len;
}

static void t_cli_on_close(ic_tcp_conn_t *c, int err)
{
    t_cli_closed++;
    t_cli_err = err;
    const char *why = ic_tcp_tls_error(c);
    snprintf(t_cli_why, sizeof(t_cli_why), "%s", why ? why : "");
    ic_reactor_stop();
}

static const ic_tcp_handlers_t t_cli = {.on_open = t_cli_on_open, .on_data = t_cli_data, .on_close = t_cli_on_close};
static const ic_tcp_handlers_t t_srv = {.on_open = t_srv_on_open, .on_data = t_echo, .on_close = t_srv_on_close};
static const char *t_name;

static void t_start_client(void *arg)
{
    cr_assert_eq(ic_tcp_listener_start(t_l), 0);
    ic_tcp_conn_t *c = NULL;
    cr_assert_eq(ic_tcp_connect_tls("127.0.0.1", t_port, t_cli_ctx, t_name, &t_cli, NULL, &c), 0);
    cr_assert(ic_tcp_is_tls(c));
}

Test(tls, echo_4mib_each_way_verified, .timeout = 60)
{
    t_certs_ctx(true);
    t_name = "localhost";
    t_run_with(true, &t_srv, t_start_client);
    cr_assert_eq(t_cli_open, 1, "handshake and verification succeeded: %s", t_cli_why);
    cr_assert(t_cli_tls && t_srv_tls);
    cr_assert_eq(t_got, T_BIG);
    cr_assert_eq(t_sent, T_BIG);
    cr_assert(!t_bad_byte, "the echo came back unchanged");
    cr_assert_eq(t_cli_err, 0);
    cr_assert_str_eq(t_cli_why, "");
    cr_assert_gt(t_max_unsent, 0);
    cr_assert_lt(t_max_unsent, 512 * 1024, "the writer was held back (unsent %zu)", t_max_unsent);
    cr_assert_eq(t_srv_closed, 1);
    cr_assert_eq(t_srv_err, 0, "the server saw close_notify and a clean close");
    t_done();
}

Test(tls, ip_address_name_checks_the_ip, .timeout = 30)
{
    t_certs_ctx(true);
    t_name = "127.0.0.1";
    t_run_with(true, &t_srv, t_start_client);
    cr_assert_eq(t_cli_open, 1, "127.0.0.1 is in the certificate's IP addresses: %s", t_cli_why);
    cr_assert_eq(t_got, T_BIG);
    t_done();
}

Test(tls, untrusted_ca_fails_verification, .timeout = 30)
{
    t_certs_ctx(false);
    t_name = "localhost";
    t_run_with(true, &t_srv, t_start_client);
    cr_assert_eq(t_cli_open, 0);
    cr_assert_eq(t_cli_closed, 1);
    cr_assert_eq(t_cli_err, IC_ETLS_VERIFY, "%s", ic_strerror(t_cli_err));
    cr_assert(strstr(t_cli_why, "certificate verify failed: "), "%s", t_cli_why);
    cr_log_info("untrusted: %s / server: %s", t_cli_why, t_srv_why);
    cr_assert_eq(t_srv_open, 0);
    cr_assert_eq(t_srv_closed, 1);
    cr_assert_eq(t_srv_err, IC_ETLS, "the server heard the client's alert: %s", ic_strerror(t_srv_err));
    cr_assert_neq(t_srv_why[0], 0);
    t_done();
}

Test(tls, wrong_hostname_fails_verification, .timeout = 30)
{
    t_certs_ctx(true);
    t_name = "example.com";
    t_run_with(true, &t_srv, t_start_client);
    cr_assert_eq(t_cli_open, 0);
    cr_assert_eq(t_cli_err, IC_ETLS_VERIFY, "%s", ic_strerror(t_cli_err));
    cr_assert(strstr(t_cli_why, "certificate verify failed: hostname mismatch"), "%s", t_cli_why);
    t_done();
}

/* ---- peers that do not speak TLS ----------------------------------------------------------- */

static const char t_http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
static int t_plain_closed, t_plain_got;

static void t_plain_open(ic_tcp_conn_t *c)
{
    ic_tcp_write(c, t_http, sizeof(t_http) - 1);
}

static size_t t_plain_data(ic_tcp_conn_t *c, const char *data, size_t len)
{
    t_plain_got += (int)len;
    return len;
}

static void t_plain_close(ic_tcp_conn_t *c, int err)
{
    t_plain_closed++;
}

static const ic_tcp_handlers_t t_plain = {.on_open = t_plain_open, .on_data = t_plain_data, .on_close = t_plain_close};

static void t_srv_close_stop(ic_tcp_conn_t *c, int err)
{
    t_srv_on_close(c, err);
    ic_reactor_stop();
}

static void t_start_plain(void *arg)
{
    cr_assert_eq(ic_tcp_listener_start(t_l), 0);
    cr_assert_eq(ic_tcp_connect("127.0.0.1", t_port, &t_plain, NULL, NULL), 0);
}

Test(tls, garbage_from_a_plain_peer_is_etls, .timeout = 30)
{
    t_certs_ctx(true);
    ic_tcp_handlers_t on = t_srv;
    on.on_close = t_srv_close_stop;
    t_run_with(true, &on, t_start_plain);
    cr_assert_eq(t_srv_open, 0);
    cr_assert_eq(t_srv_closed, 1);
    cr_assert_eq(t_srv_err, IC_ETLS, "%s", ic_strerror(t_srv_err));
    cr_assert_neq(t_srv_why[0], 0, "OpenSSL's reason is kept");
    cr_log_info("garbage: %s", t_srv_why);
    t_done();
}

/* A plain server that answers anything with an HTTP error and closes, as a web server does to a ClientHello. */
static size_t t_http_400(ic_tcp_conn_t *c, const char *data, size_t len)
{
    static const char r[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ic_tcp_write(c, r, sizeof(r) - 1);
    ic_tcp_close(c);
    return len;
}

Test(tls, tls_client_against_plain_server_fails, .timeout = 30)
{
    t_certs_ctx(true);
    t_name = "localhost";
    ic_tcp_handlers_t on = {.on_data = t_http_400};
    t_run_with(false, &on, t_start_client);
    cr_assert_eq(t_cli_open, 0);
    cr_assert_eq(t_cli_closed, 1);
    cr_assert_eq(t_cli_err, IC_ETLS, "%s", ic_strerror(t_cli_err));
    cr_assert_neq(t_cli_why[0], 0);
    cr_log_info("plain server: %s", t_cli_why);
    t_done();
}

Test(tls, tls_client_against_plain_echo_fails, .timeout = 30)
{
    t_certs_ctx(true);
    t_name = "localhost";
    ic_tcp_handlers_t on = {.on_data = t_echo}; /* its own hello comes back: not a server's */
    t_run_with(false, &on, t_start_client);
    cr_assert_eq(t_cli_open, 0);
    cr_assert_eq(t_cli_err, IC_ETLS, "%s", ic_strerror(t_cli_err));
    t_done();
}

/* ---- contexts ------------------------------------------------------------------------------ */

Test(tls, contexts_that_cannot_be_made, .timeout = 30)
{
    t_certs_make(&t_c);
    char err[256];
    ic_tls_ctx_t *x = NULL;
    cr_assert_eq(ic_tls_server_new("/nonexistent/cert.pem", t_c.key, &x, err, sizeof(err)), IC_ECONFIG);
    cr_assert(strstr(err, "/nonexistent/cert.pem: "), "%s", err);
    cr_assert_eq(ic_tls_server_new(t_c.cert, "/nonexistent/key.pem", &x, err, sizeof(err)), IC_ECONFIG);
    cr_assert(strstr(err, "/nonexistent/key.pem: "), "%s", err);
    /* The CA's key does not match the server's certificate. */
    char cakey[128];
    snprintf(cakey, sizeof(cakey), "%s/ca.key", t_c.dir);
    cr_assert_eq(ic_tls_server_new(t_c.cert, cakey, &x, err, sizeof(err)), IC_ECONFIG);
    cr_assert(strstr(err, "ca.key: "), "%s", err);
    /* A key as the certificate: not a certificate. */
    cr_assert_eq(ic_tls_server_new(t_c.key, t_c.key, &x, err, sizeof(err)), IC_ECONFIG);
    cr_assert(strstr(err, "server.key: "), "%s", err);
    cr_assert_null(x);
    /* A client context where a server one is wanted, and the reverse. */
    ic_tls_ctx_t *cli;
    cr_assert_eq(ic_tls_client_new(false, &cli, err, sizeof(err)), 0);
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.port = 0;
    lc.tls = cli;
    lc.on.on_data = t_echo;
    ic_tcp_listener_t *l;
    cr_assert_eq(ic_tcp_listener_new(&lc, 1, &l), -EINVAL);
    ic_tls_free(cli);
    ic_tls_free(NULL);
    t_certs_free(&t_c);
}

/* ---- the HTTP server over TLS ---------------------------------------------------------------- */

static ic_http_server_t *t_https;
static _Atomic int t_x_tls;

/* GET: "hello"; POST: the body back; GET /big: 4 MiB. */
static void t_handler(ic_http_exchange_t *x, void *arg)
{
    const ic_http_request_t *req = ic_http_request(x);
    ic_str_t body = ic_http_body(x);
    t_x_tls += ic_http_exchange_tls(x);
    if (req->method.len == 4) {
        ic_http_respond(x, 200, NULL, 0, body.p, body.len);
    } else if (req->target.len == 4 && memcmp(req->target.p, "/big", 4) == 0) {
        char *big = malloc(T_BIG);
        for (size_t i = 0; i < T_BIG; i++)
            big[i] = t_byte(i);
        ic_http_respond(x, 200, NULL, 0, big, T_BIG);
        free(big);
    } else {
        ic_http_respond(x, 200, NULL, 0, "hello", 5);
    }
}

static void t_https_start(void *arg)
{
    cr_assert_eq(ic_http_server_start(t_https), 0);
}

static void t_https_stop(void *arg)
{
    ic_http_server_stop(t_https);
}

static char t_fail[256];
static int t_requests;
static char t_alpn[32];
static int t_versions[2];

static void t_https_one(unsigned port, int max_version, int k)
{
    struct t_tls_conn t;
    char why[200];
    if (t_tls_dial(&t, port, t_c.ca, "localhost", max_version, why, sizeof(why)) != 0) {
        snprintf(t_fail, sizeof(t_fail), "handshake: %s", why);
        return;
    }
    t_versions[k] = SSL_version(t.ssl);
    const unsigned char *alpn;
    unsigned alpn_len;
    SSL_get0_alpn_selected(t.ssl, &alpn, &alpn_len);
    snprintf(t_alpn, sizeof(t_alpn), "%.*s", (int)alpn_len, alpn);
    char *body;
    size_t n;
    /* A GET, a POST of 1 MiB and a 4 MiB GET, on one kept-alive connection. */
    static const char get[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    t_tls_send(&t, get, sizeof(get) - 1);
    cr_assert_eq(t_tls_response(&t, &body, &n), 200);
    cr_assert_str_eq(body, "hello");
    free(body);
    t_requests++;
    size_t plen = 1u << 20;
    char *post = malloc(plen + 128);
    int h = snprintf(post, 128, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n", plen);
    for (size_t i = 0; i < plen; i++)
        post[h + i] = t_byte(i + 7);
    t_tls_send(&t, post, (size_t)h + plen);
    cr_assert_eq(t_tls_response(&t, &body, &n), 200);
    cr_assert_eq(n, plen);
    cr_assert_eq(memcmp(body, post + h, plen), 0, "the 1 MiB body came back unchanged");
    free(body);
    free(post);
    t_requests++;
    static const char big[] = "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n";
    t_tls_send(&t, big, sizeof(big) - 1);
    cr_assert_eq(t_tls_response(&t, &body, &n), 200);
    cr_assert_eq(n, T_BIG);
    for (size_t i = 0; i < n; i++)
        if (body[i] != t_byte(i)) {
            snprintf(t_fail, sizeof(t_fail), "byte %zu of /big differs", i);
            break;
        }
    free(body);
    t_requests++;
    /* Connection: close: the server's close_notify ends the stream cleanly (SSL_read returns 0, no error). */
    static const char last[] = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    t_tls_send(&t, last, sizeof(last) - 1);
    cr_assert_eq(t_tls_response(&t, &body, &n), 200);
    free(body);
    cr_assert(!t_tls_more(&t));
    cr_assert_eq(SSL_get_error(t.ssl, 0), SSL_ERROR_ZERO_RETURN, "close_notify came");
    t_requests++;
    t_tls_close(&t);
}

static void *t_https_client(void *arg)
{
    unsigned port = ic_http_server_port(t_https);
    t_https_one(port, 0, 0);
    if (!t_fail[0])
        t_https_one(port, TLS1_2_VERSION, 1);
    /* A plain HTTP request to the HTTPS port: closed, no answer in clear. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(send(fd, t_http, sizeof(t_http) - 1, 0), (ssize_t)sizeof(t_http) - 1);
    char b[512];
    ssize_t r, total = 0;
    while ((r = recv(fd, b, sizeof(b), 0)) > 0)
        total += r;
    cr_assert(r == 0 || errno == ECONNRESET, "closed, not left hanging");
    cr_assert(total < 64 && (total == 0 || b[0] == 0x15), "at most a TLS alert came back");
    close(fd);
    ic_reactor_stop();
    return NULL;
}

Test(tls, https_server_get_post_keepalive, .timeout = 60)
{
    t_certs_ctx(true);
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.port = 0;
    h.handler = t_handler;
    h.tls = t_srv_ctx;
    cr_assert_eq(ic_http_server_new(&h, 2, &t_https), 0);
    ic_reactor_config_t cfg = t_config(2, t_https_start, NULL);
    cfg.on_stop = t_https_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    pthread_t th;
    pthread_create(&th, NULL, t_https_client, NULL);
    cr_assert_eq(ic_reactor_wait(), 0);
    pthread_join(th, NULL);
    ic_http_server_free(t_https);
    cr_assert_str_eq(t_fail, "");
    cr_assert_eq(t_requests, 8);
    cr_assert_eq(t_x_tls, 8, "every exchange knew it came over TLS");
    cr_assert_str_eq(t_alpn, "http/1.1");
    cr_assert_eq(t_versions[0], TLS1_3_VERSION);
    cr_assert_eq(t_versions[1], TLS1_2_VERSION);
    t_done();
}

/* ---- handshakes that never complete ------------------------------------------------------------ */

static int t_silent_fd, t_srv_errs[4], t_srv_n, t_cli_timeout_err;
static unsigned t_silent_port;

static void t_maybe_stop(void)
{
    if (t_srv_n == 2 && t_cli_timeout_err)
        ic_reactor_stop();
}

static void t_srv_record(ic_tcp_conn_t *c, int err)
{
    t_srv_errs[t_srv_n++ & 3] = err;
    t_maybe_stop();
}

static void t_cli_record(ic_tcp_conn_t *c, int err)
{
    t_cli_timeout_err = err ? err : 1;
    t_maybe_stop();
}

static void *t_stall_clients(void *arg)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t_port), .sin_addr.s_addr = htonl(0x7f000001)};
    /* One connects and says nothing; one starts a ClientHello and resets. */
    int quiet = socket(AF_INET, SOCK_STREAM, 0), reset = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(quiet, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(connect(reset, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(send(reset, "\x16\x03\x01\x02\x00\x01", 6, 0), 6);
    /* Reset at once: the server sees the bytes and the reset, or just the reset. */
    struct linger lg = {1, 0};
    setsockopt(reset, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(reset);
    char b;
    struct timeval tv = {.tv_sec = 30};
    setsockopt(quiet, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_leq(recv(quiet, &b, 1, 0), 0, "the quiet one is closed by the server");
    close(quiet);
    return NULL;
}

static void t_start_stall(void *arg)
{
    cr_assert_eq(ic_tcp_listener_start(t_l), 0);
    static const ic_tcp_handlers_t cli = {.on_open = t_cli_on_open, .on_data = t_cli_data, .on_close = t_cli_record};
    /* A TLS client against a peer that accepts (the kernel's backlog) and never answers. */
    cr_assert_eq(ic_tcp_connect_tls("127.0.0.1", t_silent_port, t_cli_ctx, "localhost", &cli, NULL, NULL), 0);
    pthread_t th;
    pthread_create(&th, NULL, t_stall_clients, NULL);
    pthread_detach(th);
}

Test(tls, handshake_timeout_both_sides_and_reset, .timeout = 60)
{
    t_certs_ctx(true);
    t_silent_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t sl = sizeof(sa);
    cr_assert_eq(bind(t_silent_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(t_silent_fd, 4), 0);
    getsockname(t_silent_fd, (struct sockaddr *)&sa, &sl);
    t_silent_port = ntohs(sa.sin_port);
    ic_tcp_handlers_t on = t_srv;
    on.on_close = t_srv_record;
    uint64_t t0 = ic_clock_ns();
    t_run_with(true, &on, t_start_stall);
    double s = (double)(ic_clock_ns() - t0) / 1e9;
    close(t_silent_fd);
    cr_assert_eq(t_cli_open, 0);
    cr_assert_eq(t_cli_timeout_err, -ETIMEDOUT, "the client's handshake timed out: %s", ic_strerror(t_cli_timeout_err));
    cr_assert_eq(t_srv_n, 2);
    int reset = t_srv_errs[0] == -ETIMEDOUT ? t_srv_errs[1] : t_srv_errs[0];
    int quiet = t_srv_errs[0] == -ETIMEDOUT ? t_srv_errs[0] : t_srv_errs[1];
    cr_assert_eq(quiet, -ETIMEDOUT, "the quiet client timed out on the server: %s", ic_strerror(quiet));
    cr_assert(reset == -ECONNRESET || reset == IC_ETLS, "the reset one: %s", ic_strerror(reset));
    cr_assert(s >= 9.5 && s < 20, "about 10 s (%.1f)", s);
    t_done();
}
