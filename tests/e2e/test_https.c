/*
 * test_https.c: `isocore serve` over HTTPS: a worker with --tls-cert and
 * --tls-key answers GET and a 1 MiB POST on one kept-alive TLS connection
 * (TLS 1.3 and 1.2), a config's "listen": {"tls": …} (paths relative to the
 * config) does the same, and a certificate or key that cannot be loaded
 * stops the start with exit status 2, naming the file. The client is
 * OpenSSL in the test (t_tls.h), verifying against the CA made at test time.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_tls.h"
#include "t_util.h"

static struct t_certs t_c;
static char t_worker[128];

static const char t_js[] = "export default { async fetch(request) {\n"
                           "  const body = await request.arrayBuffer();\n"
                           "  return new Response(request.method + ' ' + new URL(request.url).pathname + ' ' + body.byteLength);\n"
                           "} };\n";

static void t_setup(void)
{
    t_certs_make(&t_c);
    snprintf(t_worker, sizeof(t_worker), "%s/worker.js", t_c.dir);
    FILE *f = fopen(t_worker, "w");
    cr_assert(f);
    fputs(t_js, f);
    fclose(f);
}

static const char *t_bin(void)
{
    const char *bin = getenv("ISOCORE_BIN");
    cr_assert_not_null(bin, "ISOCORE_BIN is not set (run through ctest)");
    return bin;
}

/* Reads what a process wrote on fd until it closes it; returns its exit status. */
static int t_wait_exit(pid_t pid, int fd, char *log, size_t cap)
{
    size_t n = 0;
    for (ssize_t r; n < cap - 1 && (r = read(fd, log + n, cap - 1 - n)) > 0;)
        n += (size_t)r;
    log[n] = 0;
    close(fd);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* GET and a 1 MiB POST on one connection, then a GET that closes; max_version 0: TLS 1.3. */
static void t_exchange(unsigned port, int max_version)
{
    struct t_tls_conn t;
    char why[200];
    cr_assert_eq(t_tls_dial(&t, port, t_c.ca, "localhost", max_version, why, sizeof(why)), 0, "handshake: %s", why);
    cr_assert_eq(SSL_version(t.ssl), max_version ? max_version : TLS1_3_VERSION);
    char *body;
    size_t n;
    static const char get[] = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    t_tls_send(&t, get, sizeof(get) - 1);
    cr_assert_eq(t_tls_response(&t, &body, &n), 200);
    cr_assert_str_eq(body, "GET /hello 0");
    free(body);
    size_t plen = 1u << 20;
    char *post = malloc(plen + 128);
    int h = snprintf(post, 128, "POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n", plen);
    memset(post + h, 'x', plen);
    t_tls_send(&t, post, (size_t)h + plen);
    free(post);
    cr_assert_eq(t_tls_response(&t, &body, &n), 200);
    cr_assert_str_eq(body, "POST /up 1048576");
    free(body);
    static const char last[] = "GET /bye HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    t_tls_send(&t, last, sizeof(last) - 1);
    cr_assert_eq(t_tls_response(&t, &body, &n), 200);
    cr_assert_str_eq(body, "GET /bye 0");
    free(body);
    cr_assert(!t_tls_more(&t), "the server closed after Connection: close");
    t_tls_close(&t);
}

static void t_serve_and_talk(const char *const argv[], unsigned port)
{
    int err_fd;
    pid_t pid = t_spawn(argv, NULL, &err_fd);
    t_wait_serving(err_fd);
    t_exchange(port, 0);
    t_exchange(port, TLS1_2_VERSION);
    kill(pid, SIGTERM);
    char log[8192];
    int st = t_wait_exit(pid, err_fd, log, sizeof(log));
    cr_assert_eq(st, 0, "the server exited with %d: %s", st, log);
}

Test(e2e_https, serve_worker_with_tls_flags, .timeout = 60)
{
    t_setup();
    unsigned port = t_free_port();
    char ps[16];
    snprintf(ps, sizeof(ps), "%u", port);
    const char *argv[] = {t_bin(), "serve",      t_worker, "--port",    ps,      "--cores",
                          "2",     "--tls-cert", t_c.cert, "--tls-key", t_c.key, NULL};
    t_serve_and_talk(argv, port);
    t_certs_free(&t_c);
}

Test(e2e_https, serve_config_with_listen_tls, .timeout = 60)
{
    t_setup();
    unsigned port = t_free_port();
    char conf[160], ps[16];
    snprintf(conf, sizeof(conf), "%s/isocore.json", t_c.dir);
    snprintf(ps, sizeof(ps), "%u", port);
    FILE *f = fopen(conf, "w");
    cr_assert(f);
    /* Relative paths: from the config's directory, wherever the server runs. */
    fprintf(f,
            "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": %u, \"tls\": {\"cert\": \"server.pem\", \"key\": \"server.key\"}},\n"
            " \"cores\": 2, \"default\": \"w\", \"workers\": [{\"name\": \"w\", \"module\": \"worker.js\"}]}\n",
            port);
    fclose(f);
    const char *argv[] = {t_bin(), "serve", "--config", conf, NULL};
    t_serve_and_talk(argv, port);
    t_certs_free(&t_c);
}

Test(e2e_https, unloadable_cert_or_key_exits_2_naming_the_file, .timeout = 60)
{
    t_setup();
    char log[8192], missing[160], conf[160];
    snprintf(missing, sizeof(missing), "%s/missing.pem", t_c.dir);
    int err_fd;
    const char *a1[] = {t_bin(), "serve", t_worker, "--port", "0", "--tls-cert", missing, "--tls-key", t_c.key, NULL};
    pid_t pid = t_spawn(a1, NULL, &err_fd);
    cr_assert_eq(t_wait_exit(pid, err_fd, log, sizeof(log)), 2, "%s", log);
    cr_assert(strstr(log, "missing.pem: No such file or directory"), "%s", log);
    /* The certificate given as the key: the file is named, with OpenSSL's reason. */
    const char *a2[] = {t_bin(), "serve", t_worker, "--port", "0", "--tls-cert", t_c.cert, "--tls-key", t_c.cert, NULL};
    pid = t_spawn(a2, NULL, &err_fd);
    cr_assert_eq(t_wait_exit(pid, err_fd, log, sizeof(log)), 2, "%s", log);
    cr_assert(strstr(log, "server.pem: "), "%s", log);
    const char *a3[] = {t_bin(), "serve", t_worker, "--port", "0", "--tls-cert", t_c.cert, NULL};
    pid = t_spawn(a3, NULL, &err_fd);
    cr_assert_eq(t_wait_exit(pid, err_fd, log, sizeof(log)), 2, "%s", log);
    cr_assert(strstr(log, "needs both a certificate and a key"), "%s", log);
    /* In a config: the config and the field are named too. */
    snprintf(conf, sizeof(conf), "%s/isocore.json", t_c.dir);
    FILE *f = fopen(conf, "w");
    fprintf(f, "{\"listen\": {\"port\": 0, \"tls\": {\"cert\": \"server.pem\", \"key\": \"nokey.pem\"}},"
               " \"workers\": [{\"name\": \"w\", \"module\": \"worker.js\"}]}\n");
    fclose(f);
    const char *a4[] = {t_bin(), "serve", "--config", conf, NULL};
    pid = t_spawn(a4, NULL, &err_fd);
    cr_assert_eq(t_wait_exit(pid, err_fd, log, sizeof(log)), 2, "%s", log);
    cr_assert(strstr(log, "isocore.json: listen.tls: ") && strstr(log, "nokey.pem: No such file or directory"), "%s", log);
    t_certs_free(&t_c);
}
