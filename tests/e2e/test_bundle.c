/*
 * test_bundle.c: a Workers project as it is (router/bundle.c, router/wrangler.c,
 * `isocore dev`): TypeScript and npm imports bundled on load by esbuild,
 * stack traces in the .ts files, the bundle cache, wrangler.toml configs,
 * and dev's rebuild on edit. The fixtures (tests/e2e/bundle/) are copied
 * to a temporary directory; the bundle cache is a temporary directory too.
 * Without an esbuild binary the tests skip (tools/setup.sh installs it).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_http.h"
#include "t_util.h"

static bool t_have_esbuild(void)
{
    const char *path = getenv("PATH");
    char p[PATH_MAX];
    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        snprintf(p, sizeof(p), "%.*s/esbuild", (int)n, path);
        if (n && access(p, X_OK) == 0)
            return true;
        path = colon ? colon + 1 : NULL;
    }
    return false;
}

#define T_NEED_ESBUILD()                                                                                                           \
    do {                                                                                                                           \
        if (!t_have_esbuild())                                                                                                     \
            cr_skip_test("no esbuild on PATH (tools/setup.sh installs Debian's esbuild)");                                         \
    } while (0)

static long t_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fresh temporary directory holding a copy of fixture `name` (tests/e2e/bundle/NAME), made the working directory. */
static void t_project(const char *name, char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/isocore-bundle-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    const char *src = getenv("ISOCORE_SRC");
    cr_assert(src, "run through ctest");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cp -R '%s/tests/e2e/bundle/%s/.' '%s/'", src, name, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    cr_assert_eq(chdir(dir), 0);
}

/* Removes a project made by t_project. */
static void t_done(const char *dir)
{
    char cmd[256];
    cr_assert_eq(chdir("/"), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void t_write(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f, "%s", tmp);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(rename(tmp, path), 0); /* one change for the watcher, as editors save */
}

/* A server under test and everything it wrote on stderr so far. */
struct t_srv {
    pid_t pid;
    int err;
    unsigned port;
    char log[65536];
    size_t n;
};

/* Reads the server's stderr until `want` is in it or ms pass; whether it came. */
static bool t_wait_log(struct t_srv *s, const char *want, int ms)
{
    long end = t_ms() + ms;
    while (!strstr(s->log, want)) {
        long left = end - t_ms();
        if (left <= 0 || s->n + 1 >= sizeof(s->log))
            return false;
        struct pollfd pf = {s->err, POLLIN, 0};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        ssize_t r = read(s->err, s->log + s->n, sizeof(s->log) - 1 - s->n);
        if (r <= 0)
            return false;
        s->n += (size_t)r;
        s->log[s->n] = '\0';
    }
    return true;
}

/* Starts `isocore ARGS… --port P --cores 1` with env (or NULL) and waits for its serving line. */
static void t_start(struct t_srv *s, const char *const *args, const char *env)
{
    static char port[16];
    memset(s, 0, sizeof(*s));
    s->port = t_free_port();
    snprintf(port, sizeof(port), "%u", s->port);
    const char *argv[32];
    unsigned k = 0;
    argv[k++] = getenv("ISOCORE_BIN");
    for (; *args; args++)
        argv[k++] = *args;
    argv[k++] = "--port";
    argv[k++] = port;
    argv[k++] = "--cores";
    argv[k++] = "1";
    argv[k] = NULL;
    s->pid = t_spawn(argv, env, &s->err);
    cr_assert(t_wait_log(s, "serving ", 30000), "the server did not start: %s", s->log);
}

/* Runs `isocore ARGS…` to its end; its exit status, stderr in s->log. */
static int t_run_cmd(struct t_srv *s, const char *const *args, const char *env)
{
    memset(s, 0, sizeof(*s));
    const char *argv[32];
    unsigned k = 0;
    argv[k++] = getenv("ISOCORE_BIN");
    for (; *args; args++)
        argv[k++] = *args;
    argv[k] = NULL;
    s->pid = t_spawn(argv, env, &s->err);
    t_wait_log(s, "\x01never", 30000); /* to EOF */
    int status;
    waitpid(s->pid, &status, 0);
    close(s->err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void t_stop(struct t_srv *s)
{
    kill(s->pid, SIGTERM);
    int status;
    waitpid(s->pid, &status, 0);
    close(s->err);
}

static void t_get(unsigned port, const char *host, const char *path, struct t_resp *r)
{
    char req[512];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    struct t_in in = {.fd = t_http_dial(port, 0)};
    cr_assert_geq(in.fd, 0);
    t_http_send(in.fd, req, strlen(req));
    cr_assert(t_http_read(&in, r, false, true), "no answer to %s", path);
    close(in.fd);
    free(in.buf);
}

static char t_cache_env[PATH_MAX + 32];

/* ISOCORE_CACHE_DIR=DIR/.cache for the server (a fresh cache per test). */
static const char *t_cache(const char *dir)
{
    snprintf(t_cache_env, sizeof(t_cache_env), "ISOCORE_CACHE_DIR=%s/.cache", dir);
    return t_cache_env;
}

/* ---- bundling on load ---------------------------------------------------------------------------- */

Test(bundle, a_typescript_worker_is_bundled_and_served, .timeout = 60)
{
    T_NEED_ESBUILD();
    char dir[64];
    t_project("ts", dir, sizeof(dir));
    struct t_srv s;
    const char *args[] = {"serve", "src/index.ts", NULL};
    t_start(&s, args, t_cache(dir));
    cr_assert(strstr(s.log, "bundled by esbuild"), "%s", s.log);
    struct t_resp r;
    t_get(s.port, "h", "/", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello world (happy)\n");
    t_resp_free(&r);
    t_get(s.port, "h", "/grumpy", &r);
    cr_assert_str_eq(r.body, "hello world (grumpy)\n"); /* the enum's value */
    t_resp_free(&r);

    /* An uncaught error and console.error(err) name the .ts file's line, through the source map. */
    t_get(s.port, "h", "/boom", &r);
    cr_assert_eq(r.status, 500);
    t_resp_free(&r);
    cr_assert(t_wait_log(&s, "src/index.ts:15:", 10000), "the throw's .ts line: %s", s.log);
    cr_assert(strstr(s.log, "thrown in TypeScript: boom"), "%s", s.log);
    t_get(s.port, "h", "/log", &r);
    t_resp_free(&r);
    cr_assert(t_wait_log(&s, "src/index.ts:22:", 10000), "console.error's .ts line: %s", s.log);
    t_stop(&s);
    t_done(dir);
}

Test(bundle, a_worker_importing_an_npm_package, .timeout = 60)
{
    T_NEED_ESBUILD();
    const char *src = getenv("ISOCORE_SRC");
    char nm[PATH_MAX];
    snprintf(nm, sizeof(nm), "%s/build/npm/node_modules/hono", src);
    if (access(nm, R_OK) != 0)
        cr_skip_test("%s is missing: tools/setup.sh installs hono from npm under build/npm", nm);
    char dir[64];
    t_project("npm", dir, sizeof(dir));
    snprintf(nm, sizeof(nm), "%s/build/npm/node_modules", src);
    cr_assert_eq(symlink(nm, "node_modules"), 0);
    struct t_srv s;
    const char *args[] = {"serve", "src/index.ts", NULL};
    t_start(&s, args, t_cache(dir));
    struct t_resp r;
    t_get(s.port, "h", "/", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hono from node_modules");
    t_resp_free(&r);
    t_get(s.port, "h", "/json/7", &r);
    cr_assert_str_eq(r.body, "{\"id\":\"7\"}");
    t_resp_free(&r);
    t_stop(&s);
    t_done(dir);
}

Test(bundle, the_second_load_comes_from_the_cache, .timeout = 60)
{
    T_NEED_ESBUILD();
    char dir[64];
    t_project("ts", dir, sizeof(dir));
    struct t_srv s;
    const char *args[] = {"check", "--config", "isocore.json", NULL};
    t_write("isocore.json", "{\"workers\": [{\"name\": \"ts\", \"module\": \"src/index.ts\"}]}");
    cr_assert_eq(t_run_cmd(&s, args, t_cache(dir)), 0, "%s", s.log);
    cr_assert(strstr(s.log, "bundled by esbuild"), "first load: %s", s.log);
    cr_assert_eq(t_run_cmd(&s, args, t_cache(dir)), 0, "%s", s.log);
    cr_assert(strstr(s.log, "bundle from the cache"), "second load: %s", s.log);
    cr_assert_null(strstr(s.log, "bundled by esbuild"), "esbuild ran again: %s", s.log);
    /* An edit of an imported file is a miss. */
    t_write("src/greet.ts",
            "export type Greeting = { text: string; mood: string };\n"
            "export function greet(name: string, mood: string): Greeting { return { text: 'hi ' + name, mood }; }\n");
    cr_assert_eq(t_run_cmd(&s, args, t_cache(dir)), 0, "%s", s.log);
    cr_assert(strstr(s.log, "bundled by esbuild"), "after an edit: %s", s.log);
    t_done(dir);
}

Test(bundle, build_errors_have_esbuilds_code_frame, .timeout = 60)
{
    T_NEED_ESBUILD();
    char dir[64];
    t_project("ts", dir, sizeof(dir));
    t_write("src/greet.ts", "export function greet(name: string, mood: string) {\n  return { text: name mood };\n}\n");
    struct t_srv s;
    const char *args[] = {"serve", "src/index.ts", "--port", "0", NULL};
    cr_assert_eq(t_run_cmd(&s, args, t_cache(dir)), 1, "%s", s.log);
    cr_assert(strstr(s.log, "src/greet.ts:2:"), "the place: %s", s.log);
    cr_assert(strstr(s.log, "return { text: name mood };"), "the code frame: %s", s.log);
    t_done(dir);
}

Test(bundle, a_throw_at_the_top_level_names_the_ts_line, .timeout = 60)
{
    T_NEED_ESBUILD();
    char dir[64];
    t_project("ts", dir, sizeof(dir));
    t_write("src/top.ts", "const n: number = 1;\nif (n) throw new Error(\"top level in TypeScript\");\n"
                          "export default { fetch() { return new Response(\"x\"); } };\n");
    struct t_srv s;
    const char *args[] = {"serve", "src/top.ts", "--port", "0", "--cores", "1", NULL};
    cr_assert_eq(t_run_cmd(&s, args, t_cache(dir)), 1, "%s", s.log);
    cr_assert(strstr(s.log, "src/top.ts:2: Error: top level in TypeScript"), "%s", s.log);
    t_done(dir);
}

Test(bundle, a_bare_import_without_esbuild_says_how_to_install_it, .timeout = 30)
{
    char dir[64];
    t_project("npm", dir, sizeof(dir));
    t_write("src/plain.js", "import { Hono } from \"hono\";\nexport default new Hono();\n");
    struct t_srv s;
    const char *args[] = {"serve", "src/plain.js", "--port", "0", NULL};
    cr_assert_eq(t_run_cmd(&s, args, "ISOCORE_ESBUILD=/nonexistent/esbuild"), 1, "%s", s.log);
    cr_assert(strstr(s.log, "'hono'"), "names the package: %s", s.log);
    cr_assert(strstr(s.log, "apt-get install esbuild"), "says how: %s", s.log);
    t_done(dir);
}

Test(bundle, a_plain_js_graph_needs_no_esbuild, .timeout = 30)
{
    char dir[64];
    t_project("npm", dir, sizeof(dir));
    t_write("src/lib.js", "// import x from \"not-a-package\" in a comment does not count\nexport const word = \"plain\";\n");
    t_write("src/plain.js", "import { word } from \"./lib.js\";\n"
                            "const s = 'from \"also-not-a-package\"';\n"
                            "export default { fetch() { return new Response(word); } };\n");
    struct t_srv s;
    const char *args[] = {"serve", "src/plain.js", NULL};
    t_start(&s, args, "ISOCORE_ESBUILD=/nonexistent/esbuild");
    cr_assert_null(strstr(s.log, "esbuild"), "%s", s.log);
    struct t_resp r;
    t_get(s.port, "h", "/", &r);
    cr_assert_str_eq(r.body, "plain");
    t_resp_free(&r);
    t_stop(&s);
    t_done(dir);
}

/* ---- wrangler configs ---------------------------------------------------------------------------------- */

/* Copies fixture `name` into dir as well. */
static void t_add(const char *name, const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cp -R '%s/tests/e2e/bundle/%s/.' '%s/'", getenv("ISOCORE_SRC"), name, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(bundle, wrangler_configs_with_vars_routes_and_limits, .timeout = 60)
{
    T_NEED_ESBUILD();
    char dir[64];
    t_project("ts", dir, sizeof(dir));
    t_add("wrangler", dir);
    struct t_srv s;
    const char *args[] = {"serve", "--config", "wrangler.toml", "--config", "other/wrangler.jsonc", NULL};
    t_start(&s, args, t_cache(dir));
    cr_assert(strstr(s.log, "wrangler.toml:6: kv_namespaces: not supported by isocore, ignored"), "the unknown key: %s", s.log);
    cr_assert(strstr(s.log, "2 tenants"), "%s", s.log);
    struct t_resp r;
    /* vars are env; the routes pick the worker. */
    t_get(s.port, "shop.example.com", "/", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello wrangler (happy)\n");
    t_resp_free(&r);
    t_get(s.port, "eu.shop.example.com", "/grumpy", &r);
    cr_assert_str_eq(r.body, "hello wrangler (grumpy)\n");
    t_resp_free(&r);
    t_get(s.port, "api.example.com", "/v1/items", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "the api worker at /v1/items\n");
    t_resp_free(&r);
    /* [[services]]: env.API is the api worker. */
    t_get(s.port, "shop.example.com", "/via-api", &r);
    cr_assert_str_eq(r.body, "the api worker at /from-shop\n");
    t_resp_free(&r);
    /* [limits] cpu_ms = 2000: 150 ms of CPU pass (the default, 50 ms, would stop it). */
    t_get(s.port, "shop.example.com", "/spin", &r);
    cr_assert_eq(r.status, 200, "%s", r.head);
    t_resp_free(&r);
    t_stop(&s);
    t_done(dir);
}

Test(bundle, a_bad_type_in_wrangler_toml_is_an_error_with_its_line, .timeout = 30)
{
    char dir[64];
    t_project("ts", dir, sizeof(dir));
    t_write("wrangler.toml", "name = \"shop\"\nmain = \"src/index.ts\"\n\n[vars]\nNAME = \"x\"\n\n[limits]\ncpu_ms = \"fast\"\n");
    struct t_srv s;
    const char *args[] = {"check", "--config", "wrangler.toml", NULL};
    cr_assert_eq(t_run_cmd(&s, args, t_cache(dir)), 1, "%s", s.log);
    cr_assert(strstr(s.log, "wrangler.toml:8: limits.cpu_ms: expected an integer"), "%s", s.log);
    t_write("wrangler.toml", "name = \"shop\"\nmain = 42\n");
    cr_assert_eq(t_run_cmd(&s, args, t_cache(dir)), 1, "%s", s.log);
    cr_assert(strstr(s.log, "wrangler.toml:2: main: expected a non-empty string, got an integer"), "%s", s.log);
    t_done(dir);
}

/* ---- isocore dev ---------------------------------------------------------------------------------------- */

/* GETs path until the body is `want` (bounded: ms); the milliseconds it took, or -1. */
static long t_poll_body(unsigned port, const char *path, const char *want, int ms)
{
    long t0 = t_ms();
    while (t_ms() - t0 < ms) {
        struct t_resp r;
        t_get(port, "h", path, &r);
        bool same = r.body && strcmp(r.body, want) == 0;
        t_resp_free(&r);
        if (same)
            return t_ms() - t0;
        struct timespec ts = {0, 5 * 1000000}; /* between polls, not a synchronisation */
        nanosleep(&ts, NULL);
    }
    return -1;
}

static const char *t_greet_v2 = "export type Greeting = { text: string; mood: string };\n"
                                "export function greet(name: string, mood: string): Greeting {\n"
                                "  return { text: `hi again ${name}`, mood };\n"
                                "}\n";

Test(bundle, dev_rebuilds_on_an_edit_and_in_flight_requests_finish_on_the_old_code, .timeout = 60)
{
    T_NEED_ESBUILD();
    char dir[64];
    t_project("ts", dir, sizeof(dir));
    struct t_srv s;
    const char *args[] = {"dev", "src/index.ts", NULL};
    t_start(&s, args, t_cache(dir));
    struct t_resp r;
    t_get(s.port, "h", "/", &r);
    cr_assert_str_eq(r.body, "hello world (happy)\n");
    t_resp_free(&r);

    /* A request in flight (its handler has started and waits on a timer)… */
    struct t_in slow = {.fd = t_http_dial(s.port, 0)};
    cr_assert_geq(slow.fd, 0);
    const char *req = "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n";
    t_http_send(slow.fd, req, strlen(req));
    cr_assert(t_wait_log(&s, "slow request started", 10000), "%s", s.log);

    /* …an edit of an imported file: the new code answers soon. */
    t_write("src/greet.ts", t_greet_v2);
    long took = t_poll_body(s.port, "/", "hi again world (happy)\n", 10000);
    cr_assert_geq(took, 0, "the edit was not picked up: %s", s.log);
    cr_assert_lt(took, 2000, "the edit took %ld ms to be served", took);
    fprintf(stderr, "dev: an edit served after %ld ms\n", took);
    struct pollfd pf = {slow.fd, POLLIN, 0};
    cr_assert_eq(poll(&pf, 1, 0), 0, "the slow request was answered before the new code was in: no request was in flight");
    cr_assert(strstr(s.log, "greet.ts changed") || t_wait_log(&s, "greet.ts changed", 1000), "%s", s.log);

    /* The request that was in flight finishes on the code it started on. */
    struct t_resp sr;
    cr_assert(t_http_read(&slow, &sr, false, true));
    cr_assert_str_eq(sr.body, "slow: hello world\n");
    t_resp_free(&sr);
    close(slow.fd);
    free(slow.buf);
    t_stop(&s);
    t_done(dir);
}

Test(bundle, dev_keeps_the_last_good_build_after_a_syntax_error, .timeout = 60)
{
    T_NEED_ESBUILD();
    char dir[64];
    t_project("ts", dir, sizeof(dir));
    struct t_srv s;
    const char *args[] = {"dev", "src/index.ts", NULL};
    t_start(&s, args, t_cache(dir));
    t_write("src/greet.ts", t_greet_v2);
    cr_assert_geq(t_poll_body(s.port, "/", "hi again world (happy)\n", 10000), 0, "%s", s.log);
    /* A syntax error: the code frame is printed, the last good build answers. */
    t_write("src/greet.ts", "export function greet(name: string, mood: string) {\n  return { text: name mood };\n}\n");
    cr_assert(t_wait_log(&s, "the running config stays", 10000), "%s", s.log);
    cr_assert(strstr(s.log, "src/greet.ts:2:"), "the place: %s", s.log);
    cr_assert(strstr(s.log, "return { text: name mood };"), "the code frame: %s", s.log);
    struct t_resp r;
    t_get(s.port, "h", "/", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hi again world (happy)\n");
    t_resp_free(&r);
    /* Fixed again: served. */
    t_write("src/greet.ts", "export function greet(name: string, mood: string) {\n  return { text: `fixed ${name}`, mood };\n}\n");
    cr_assert_geq(t_poll_body(s.port, "/", "fixed world (happy)\n", 10000), 0, "%s", s.log);
    t_stop(&s);
    t_done(dir);
}

Test(bundle, dev_serves_the_wrangler_toml_of_the_directory, .timeout = 60)
{
    T_NEED_ESBUILD();
    char dir[64];
    t_project("ts", dir, sizeof(dir));
    t_add("wrangler", dir);
    struct t_srv s;
    const char *args[] = {"dev", NULL};
    t_start(&s, args, t_cache(dir));
    /* [[services]] names a worker that is not given: a warning, as wrangler dev has it. */
    cr_assert(strstr(s.log, "wrangler.toml:16: services: 'api' is not one of the workers given"), "%s", s.log);
    struct t_resp r;
    t_get(s.port, "anything.test", "/", &r);
    cr_assert_str_eq(r.body, "hello wrangler (happy)\n"); /* the one worker answers every host */
    t_resp_free(&r);
    /* An edit of wrangler.toml is a change too. */
    char *toml = NULL;
    size_t n = 0;
    FILE *f = fopen("wrangler.toml", "r");
    cr_assert_not_null(f);
    cr_assert_gt(getdelim(&toml, &n, '\0', f), 0);
    fclose(f);
    char *at = strstr(toml, "NAME = \"wrangler\"");
    cr_assert_not_null(at);
    memcpy(at, "NAME = \"edited!!\"", strlen("NAME = \"edited!!\""));
    t_write("wrangler.toml", toml);
    free(toml);
    cr_assert_geq(t_poll_body(s.port, "/", "hello edited!! (happy)\n", 10000), 0, "%s", s.log);
    t_stop(&s);
    t_done(dir);
}
