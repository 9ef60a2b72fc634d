/*
 * test_hono.c: a real Workers framework and libraries, unchanged: a Hono
 * app (tests/e2e/hono/app.js) with hono/jwt, signed cookies, jose and
 * hash-wasm, bundled with esbuild, all from npm (installed under build/npm
 * by tools/setup.sh), served by `isocore serve`. Its
 * middleware rebuilds responses from their bodies (`new Response(res.body,
 * res)`), parses forms, and streams text: the shapes that lost their bodies
 * before bodies were streams.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_http.h"
#include "t_util.h"

static pid_t t_pid;
static int t_err;
static unsigned t_port;

/* Bundles the app with esbuild into dir/bundle.js; asserts that it worked. */
static void t_bundle(const char *dir)
{
    /* tools/setup.sh installs them under the source tree's build/, for every build tree. */
    const char *src = getenv("ISOCORE_SRC");
    cr_assert(src, "run through ctest");
    char bdir[1024];
    snprintf(bdir, sizeof(bdir), "%s/build", src);
    char esbuild[1200], app[1200], out[1300], nodepath[1300];
    snprintf(esbuild, sizeof(esbuild), "%s/npm/node_modules/.bin/esbuild", bdir);
    struct stat st;
    cr_assert_eq(stat(esbuild, &st), 0, "%s is missing: tools/setup.sh installs hono and esbuild from npm under build/npm",
                 esbuild);
    snprintf(app, sizeof(app), "%s/tests/e2e/hono/app.js", src);
    snprintf(out, sizeof(out), "--outfile=%s/bundle.js", dir);
    snprintf(nodepath, sizeof(nodepath), "NODE_PATH=%s/npm/node_modules", bdir);
    const char *argv[] = {esbuild,
                          app,
                          "--bundle",
                          "--format=esm",
                          "--platform=neutral",
                          "--main-fields=module,main",
                          "--conditions=workerd,worker,browser",
                          out,
                          "--log-level=warning",
                          NULL};
    int err;
    pid_t pid = t_spawn(argv, nodepath, &err);
    char log[4096];
    ssize_t n = read(err, log, sizeof(log) - 1);
    log[n > 0 ? n : 0] = '\0';
    int status;
    waitpid(pid, &status, 0);
    close(err);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "esbuild failed: %s", log);
}

static void t_serve(const char *bundle)
{
    const char *bin = getenv("ISOCORE_BIN");
    static char port[16];
    t_port = t_free_port();
    snprintf(port, sizeof(port), "%u", t_port);
    /* A generous CPU limit: the first call of each route compiles its part of a 70 KB bundle, and ES256 keys are made. */
    const char *argv[] = {bin, "serve", bundle, "--port", port, "--cores", "1", "--cpu-ms", "5000", NULL};
    t_pid = t_spawn(argv, NULL, &t_err);
    t_wait_serving(t_err);
}

static void t_req(const char *req, struct t_resp *r)
{
    struct t_in in = {.fd = t_http_dial(t_port, 0)};
    cr_assert_geq(in.fd, 0);
    t_http_send(in.fd, req, strlen(req));
    cr_assert(t_http_read(&in, r, false, true), "no answer to %s", req);
    close(in.fd);
    free(in.buf);
}

Test(hono, a_bundled_hono_app_runs_unchanged, .timeout = 120)
{
    char dir[] = "/tmp/isocore-hono-XXXXXX", bundle[64];
    cr_assert_not_null(mkdtemp(dir));
    t_bundle(dir);
    snprintf(bundle, sizeof(bundle), "%s/bundle.js", dir);
    t_serve(bundle);
    struct t_resp r;

    t_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello from hono");
    cr_assert(strstr(r.head, "access-control-allow-origin: *"), "cors ran: %s", r.head);
    t_resp_free(&r);

    /* secureHeaders rebuilds the response from its body: the body and its length stay. */
    t_req("GET /secure/page HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "<p>kept through the middleware</p>");
    cr_assert(strstr(r.head, "Content-Length: 34\r\n"), "%s", r.head);
    cr_assert(strstr(r.head, "x-content-type-options: nosniff"), "%s", r.head);
    t_resp_free(&r);

    t_req("GET /json/42?q=x HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    cr_assert_str_eq(r.body, "{\"id\":\"42\",\"q\":\"x\"}");
    t_resp_free(&r);

    const char *form = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B\r\nContent-Disposition: form-data; "
                       "name=\"b\"\r\n\r\ntwo\r\n--B--\r\n";
    char req[2048];
    snprintf(req, sizeof(req),
             "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(form), form);
    t_req(req, &r);
    cr_assert_str_eq(r.body, "{\"a\":\"1\",\"b\":\"two\"}");
    t_resp_free(&r);
    t_req("POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nx=1&y=%7E",
          &r);
    cr_assert_str_eq(r.body, "{\"x\":\"1\",\"y\":\"~\"}");
    t_resp_free(&r);

    t_req("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    cr_assert(r.chunked && r.complete, "streamText is sent chunked: %s", r.head);
    cr_assert_str_eq(r.body, "line 0\nline 1\nline 2\n");
    t_resp_free(&r);

    /* hono/jwt: a token minted by sign(), then the middleware lets it in, and keeps others out. */
    t_req("GET /token HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char token[1024];
    snprintf(token, sizeof(token), "%s", r.body);
    t_resp_free(&r);
    snprintf(req, sizeof(req), "GET /private/me HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n\r\n", token);
    t_req(req, &r);
    cr_assert_eq(r.status, 200, "jwt: %s", r.body);
    cr_assert_str_eq(r.body, "{\"sub\":\"user-1\"}");
    t_resp_free(&r);
    token[strlen(token) - 2] ^= 1; /* a bad signature */
    snprintf(req, sizeof(req), "GET /private/me HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n\r\n", token);
    t_req(req, &r);
    cr_assert_eq(r.status, 401, "a forged token: %d %s", r.status, r.body);
    t_resp_free(&r);

    /* Signed cookies: set, sent back, verified; a tampered one is refused. */
    t_req("GET /cookie/set HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    const char *sc = strstr(r.head, "set-cookie: ");
    cr_assert(sc, "%s", r.head);
    char cookie[512];
    snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(sc + 12, ";\r"), sc + 12);
    t_resp_free(&r);
    snprintf(req, sizeof(req), "GET /cookie/get HTTP/1.1\r\nHost: h\r\nCookie: %s\r\n\r\n", cookie);
    t_req(req, &r);
    cr_assert_str_eq(r.body, "s-123", "cookie %s", cookie);
    t_resp_free(&r);
    cookie[strlen(cookie) - 4] ^= 1;
    snprintf(req, sizeof(req), "GET /cookie/get HTTP/1.1\r\nHost: h\r\nCookie: %s\r\n\r\n", cookie);
    t_req(req, &r);
    cr_assert_str_eq(r.body, "false", "a tampered cookie: %s", r.body);
    t_resp_free(&r);

    /* jose: ES256 key pair, JWT signed and verified. hash-wasm: SHA-256 in WebAssembly equals crypto.subtle's. */
    t_req("GET /jose HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    cr_assert_str_eq(r.body, "{\"role\":\"admin\",\"parts\":3}");
    t_resp_free(&r);
    t_req("GET /wasm-hash HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    cr_assert(strstr(r.body, "\"same\":true"), "%s", r.body);
    t_resp_free(&r);

    t_req("GET /boom HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    cr_assert_eq(r.status, 500);
    cr_assert_str_eq(r.body, "handled: on purpose");
    t_resp_free(&r);
    t_req("GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    cr_assert_eq(r.status, 404);
    t_resp_free(&r);

    kill(t_pid, SIGTERM);
    int st;
    waitpid(t_pid, &st, 0);
    close(t_err);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(bundle);
    rmdir(dir);
}
