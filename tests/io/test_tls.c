/*
 * test_tls.c: TLS over the TCP layer (isocore/tcp.h) on 127.0.0.1, with a CA
 * and a server certificate made at test time (t_tls.h): a verified echo of
 * 4 MiB each way with backpressure, verification failures (no trust anchor,
 * wrong name), an IP address as the name, garbage from a plain peer, a TLS
 * client against a plain server, and contexts that cannot be made.
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
