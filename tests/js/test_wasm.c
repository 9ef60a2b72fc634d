/*
 * test_wasm.c: WebAssembly in tenants on a reactor: async compile and
 * instantiate settle (their results come back as platform tasks run on the
 * reactor), a request parked on a compile gets its response, the streaming
 * forms over a Response, CompileError, `import x from "./x.wasm"`, the CPU
 * limit stops a wasm loop, wasm memory counts against the memory limit,
 * and a worker freed with a compile in flight drops its tasks.
 *
 * As in test_worker.c: requests run on one reactor, results are recorded
 * there and asserted on the test's thread after the reactor stopped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t_util.h"

#define T_MAX 16

struct t_resp {
    int status;
    char body[4096];
    bool done;
};

static struct {
    ic_js_tenant_t *tenant[4];
    ic_js_worker_t *w[4];
    int ret[4];
    char err[4][1024];
    struct t_resp r[T_MAX];
    unsigned outstanding;
    unsigned parked; /* requests parked right after a fetch, when a test looks */
    bool broken[4];
    int step;
    void (*next)(void);
} T;

static const char *src_dir(void)
{
    const char *d = getenv("ISOCORE_SRC");
    return d ? d : ".";
}

static ic_js_tenant_t *t_tenant_at(const char *name, const char *path, ic_js_limits_t *limits)
{
    ic_js_tenant_config_t cfg;
    ic_js_tenant_config_init(&cfg);
    cfg.name = name;
    cfg.path = path;
    if (limits)
        cfg.limits = *limits;
    ic_js_tenant_t *t = NULL;
    cr_assert_eq(ic_js_tenant_new(&cfg, &t), 0, "cannot read %s", path);
    return t;
}

static ic_js_tenant_t *t_tenant(const char *name, ic_js_limits_t *limits)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/js/workers/wasm.js", src_dir());
    return t_tenant_at(name, path, limits);
}

/* One answer (or the end of a batch) less: when none is left, the next step runs, or the reactor stops. */
static void t_settle(void)
{
    if (--T.outstanding == 0) {
        if (T.next) {
            void (*next)(void) = T.next;
            T.next = NULL;
            next();
        } else {
            ic_reactor_stop();
        }
    }
}

/* A batch of requests counts as one answer until it is all sent: answers given inline do not end the step early. */
static void t_batch(void (*next)(void))
{
    T.outstanding++;
    T.next = next;
}

static void t_done(void *arg, const ic_js_response_t *res)
{
    struct t_resp *r = arg;
    r->status = res->status;
    size_t n = res->len < sizeof(r->body) - 1 ? res->len : sizeof(r->body) - 1;
    memcpy(r->body, res->body, n);
    r->body[n] = '\0';
    r->done = true;
    t_settle();
}

static void t_fetch(int i, int slot, const char *target)
{
    static char raw[2048];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t.example\r\n\r\n", target);
    static ic_http_request_t req;
    cr_assert_gt(ic_http_parse_request(raw, strlen(raw), &req), 0);
    T.outstanding++;
    ic_js_worker_fetch(T.w[i], &req, (ic_str_t){NULL, 0}, t_done, &T.r[slot]);
}

static void t_new_workers(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        T.ret[i] = ic_js_worker_new(T.tenant[i], &T.w[i], T.err[i], sizeof(T.err[i]));
}

static void t_free_workers(void *arg)
{
    for (int i = 0; i < 4; i++) {
        ic_js_worker_free(T.w[i]);
        T.w[i] = NULL;
    }
}

static void t_run_js(void (*start)(void *))
{
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_reactor_config_t cfg = t_config(1, start, NULL);
    cfg.on_stop = t_free_workers;
    t_run(&cfg);
    for (int i = 0; i < 4; i++)
        ic_js_tenant_free(T.tenant[i]);
}

static void t_reset(void)
{
    memset(&T, 0, sizeof(T));
}

/* ---- compile, instantiate, streaming, CompileError ----------------------------------------------- */

static void s_api(void *arg)
{
    t_new_workers(1);
    if (T.ret[0] < 0)
        return ic_reactor_stop();
    t_fetch(0, 0, "/async");
    /* WebAssembly.compile settles in a platform task, later: the request is parked now. */
    T.parked = ic_js_worker_pending(T.w[0]);
    t_fetch(0, 1, "/sync");
    t_fetch(0, 2, "/streaming");
    t_fetch(0, 3, "/compile-error");
}

Test(wasm, compile_and_instantiate_settle_on_the_reactor, .timeout = 60)
{
    t_reset();
    T.tenant[0] = t_tenant("wasm", NULL);
    t_run_js(s_api);
    cr_assert_eq(T.ret[0], 0, "%s", T.err[0]);
    cr_assert_eq(T.parked, 1, "the request on WebAssembly.compile should have been parked");
    cr_assert_eq(T.r[0].status, 200, "%d %s", T.r[0].status, T.r[0].body);
    cr_assert_str_eq(T.r[0].body, "{\"module\":true,\"instance\":true,\"a\":5,\"b\":42}");
    cr_assert_eq(T.r[1].status, 200, "%s", T.r[1].body);
    cr_assert_str_eq(T.r[1].body, "{\"a\":15,\"valid\":true,\"invalid\":false}");
    cr_assert_eq(T.r[2].status, 200, "%s", T.r[2].body);
    cr_assert_str_eq(T.r[2].body,
                     "{\"a\":3,\"module\":true,\"noType\":\"TypeError\",\"wrongType\":\"TypeError\",\"withParams\":"
                     "\"TypeError\",\"notOk\":\"TypeError\",\"notResponse\":\"TypeError\",\"invalid\":\"CompileError\"}");
    cr_assert_eq(T.r[3].status, 200, "%s", T.r[3].body);
    cr_assert_str_eq(
        T.r[3].body,
        "{\"async\":\"CompileError\",\"instantiate\":\"CompileError\",\"sync\":\"CompileError\",\"evalBlocked\":true}");
}

/* ---- import x from "./x.wasm" ------------------------------------------------------------------- */

static const unsigned char add_wasm[] = {0,    0x61, 0x73, 0x6d, 1, 0, 0, 0,    1, 7,    1, 0x60, 2,    0x7f,
                                         0x7f, 1,    0x7f, 3,    2, 1, 0, 7,    7, 1,    3, 0x61, 0x64, 0x64,
                                         0,    0,    0x0a, 9,    1, 7, 0, 0x20, 0, 0x20, 1, 0x6a, 0x0b};
static const unsigned char bad_wasm[] = {0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 7, 1, 0x60, 2};

static void t_write(const char *dir, const char *name, const void *p, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(p, 1, len, f), len);
    fclose(f);
}

static void s_import(void *arg)
{
    t_new_workers(3);
    t_batch(NULL);
    if (T.ret[0] == 0)
        t_fetch(0, 0, "/");
    if (T.ret[2] == 0)
        t_fetch(2, 1, "/");
    t_settle();
}

Test(wasm, a_wasm_file_imports_as_a_webassembly_module, .timeout = 60)
{
    t_reset();
    char dir[] = "/tmp/isocore-wasm-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    static const char main_js[] =
        "import add from './add.wasm';\n"
        "import again from './lib/../add.wasm';\n"
        "export default { fetch() {\n"
        "  const i = new WebAssembly.Instance(add);\n"
        "  return new Response(`${add instanceof WebAssembly.Module} ${add === again} ${i.exports.add(20, 22)} "
        "${WebAssembly.Module.exports(add)[0].name}`);\n"
        "} };\n";
    /* A top-level await on compiling bytes settles (compiled on the spot while the top level runs); after it, the engine's own. */
    static const char tla_js[] =
        "import add from './add.wasm';\n"
        "const bytes = new Uint8Array(WebAssembly.Module.customSections(add, 'x').length ? [] : [%s]);\n"
        "const m = await WebAssembly.compile(bytes);\n"
        "const { instance } = await WebAssembly.instantiate(bytes);\n"
        "let bad = 'none';\n"
        "try { await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1])); } catch (e) { bad = e.name; }\n"
        "export default { async fetch() {\n"
        "  const later = await WebAssembly.compile(bytes);\n"
        "  return new Response(`${m instanceof WebAssembly.Module} ${instance.exports.add(1, 2)} ${bad} "
        "${String(WebAssembly.compile).includes('[native code]')} ${later instanceof WebAssembly.Module}`);\n"
        "} };\n";
    static const char bad_js[] = "import bad from './bad.wasm';\nexport default { fetch() { return new Response('no'); } };\n";
    t_write(dir, "add.wasm", add_wasm, sizeof(add_wasm));
    t_write(dir, "bad.wasm", bad_wasm, sizeof(bad_wasm));
    t_write(dir, "main.js", main_js, strlen(main_js));
    t_write(dir, "bad.js", bad_js, strlen(bad_js));
    char bytes[512] = "", tla[2048];
    for (size_t i = 0; i < sizeof(add_wasm); i++)
        snprintf(bytes + strlen(bytes), sizeof(bytes) - strlen(bytes), "%s%u", i ? "," : "", add_wasm[i]);
    snprintf(tla, sizeof(tla), tla_js, bytes);
    t_write(dir, "tla.js", tla, strlen(tla));
    char path[1100];
    snprintf(path, sizeof(path), "%s/main.js", dir);
    T.tenant[0] = t_tenant_at("import", path, NULL);
    snprintf(path, sizeof(path), "%s/bad.js", dir);
    T.tenant[1] = t_tenant_at("badimport", path, NULL);
    snprintf(path, sizeof(path), "%s/tla.js", dir);
    T.tenant[2] = t_tenant_at("tla", path, NULL);
    t_run_js(s_import);
    const char *files[] = {"add.wasm", "bad.wasm", "main.js", "bad.js", "tla.js"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    cr_assert_eq(T.ret[0], 0, "%s", T.err[0]);
    cr_assert_eq(T.r[0].status, 200, "%s", T.r[0].body);
    cr_assert_str_eq(T.r[0].body, "true true 42 add");
    cr_assert_eq(T.ret[1], IC_EJSEXCEPTION);
    cr_assert(strstr(T.err[1], "CompileError") != NULL, "%s", T.err[1]);
    cr_assert_eq(T.ret[2], 0, "%s", T.err[2]);
    cr_assert_eq(T.r[1].status, 200, "%s", T.r[1].body);
    cr_assert_str_eq(T.r[1].body, "true 3 CompileError true true");
}

/* ---- the CPU limit ------------------------------------------------------------------------------------ */

static void s_cpu_after(void)
{
    /* The isolate that was stopped twice still serves. */
    t_batch(NULL);
    t_fetch(0, 3, "/ok");
    t_fetch(0, 4, "/async");
    t_settle();
}

static void s_cpu_start(void *arg)
{
    t_new_workers(2);
    if (T.ret[0] < 0 || T.ret[1] < 0)
        return ic_reactor_stop();
    t_batch(s_cpu_after);
    t_fetch(0, 0, "/spin-sync");
    t_fetch(0, 1, "/spin-async");
    t_fetch(1, 2, "/ok"); /* another tenant on the same core */
    t_settle();
}

Test(wasm, the_cpu_limit_stops_a_wasm_infinite_loop, .timeout = 60)
{
    t_reset();
    T.tenant[0] = t_tenant("spinner", NULL);
    T.tenant[1] = t_tenant("calm", NULL);
    t_run_js(s_cpu_start);
    cr_assert_eq(T.ret[0], 0, "%s", T.err[0]);
    cr_assert_eq(T.r[0].status, 503, "%d %s", T.r[0].status, T.r[0].body);
    cr_assert(strstr(T.r[0].body, "CPU time limit"), "%s", T.r[0].body);
    /* The loop in a continuation runs in a platform-task entry: that entry is stopped, and its parked request answered. */
    cr_assert_eq(T.r[1].status, 503, "%d %s", T.r[1].status, T.r[1].body);
    cr_assert(strstr(T.r[1].body, "CPU time limit"), "%s", T.r[1].body);
    cr_assert_eq(T.r[2].status, 200);
    cr_assert_eq(T.r[3].status, 200);
    cr_assert_str_eq(T.r[3].body, "ok");
    cr_assert_eq(T.r[4].status, 200, "%s", T.r[4].body);
}

/* ---- the memory limit ------------------------------------------------------------------------------------ */

static void s_mem_step(void)
{
    /* Six memories of 10 MiB, one after another, each garbage once answered: within 32 MiB, never a 503. */
    if (T.step < 6) {
        t_batch(s_mem_step);
        t_fetch(0, T.step, "/grow?mb=10");
        T.step++;
        return t_settle();
    }
    if (T.step == 6) {
        T.step++;
        t_batch(s_mem_step);
        t_fetch(0, 6, "/grow?mb=40&keep=1"); /* past the limit: 503 */
        return t_settle();
    }
    if (T.step == 7) {
        T.step++;
        T.broken[0] = ic_js_worker_broken(T.w[0]);
        t_batch(s_mem_step);
        t_fetch(1, 7, "/ok");               /* the other tenant: unaffected */
        t_fetch(2, 8, "/grow-async?mb=40"); /* past it in a continuation (a platform-task entry) */
        t_fetch(3, 9, "/grow?mb=500");      /* far past it: the grow is refused on the spot */
        return t_settle();
    }
    T.broken[2] = ic_js_worker_broken(T.w[2]);
    T.broken[3] = ic_js_worker_broken(T.w[3]);
    ic_reactor_stop();
}

static void s_mem(void *arg)
{
    t_new_workers(4);
    for (int i = 0; i < 4; i++)
        if (T.ret[i] < 0)
            return ic_reactor_stop();
    s_mem_step();
}

Test(wasm, wasm_memory_counts_against_the_memory_limit, .timeout = 60)
{
    t_reset();
    ic_js_limits_t lim = {.buffer_bytes = (size_t)32 << 20, .cpu_ms = 2000};
    T.tenant[0] = t_tenant("hungry", &lim);
    T.tenant[1] = t_tenant("calm", NULL);
    T.tenant[2] = t_tenant("hungry2", &lim);
    T.tenant[3] = t_tenant("hungry3", &lim);
    t_run_js(s_mem);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(T.ret[i], 0, "%s", T.err[i]);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(T.r[i].status, 200, "memory %d of 10 MiB: %d %s", i, T.r[i].status, T.r[i].body);
        cr_assert_str_eq(T.r[i].body, "145 10551296");
    }
    cr_assert_eq(T.r[6].status, 503, "%d %s", T.r[6].status, T.r[6].body);
    cr_assert(strstr(T.r[6].body, "memory limit"), "%s", T.r[6].body);
    cr_assert(T.broken[0], "the isolate past its limit is to be recycled");
    cr_assert_eq(T.r[7].status, 200);
    cr_assert_eq(T.r[8].status, 503, "%d %s", T.r[8].status, T.r[8].body);
    cr_assert(strstr(T.r[8].body, "memory limit"), "%s", T.r[8].body);
    cr_assert(T.broken[2]);
    cr_assert_eq(T.r[9].status, 503, "%d %s", T.r[9].status, T.r[9].body);
    cr_assert(T.broken[3]);
}

/* ---- a worker freed with a compile in flight ---------------------------------------------------------- */

static void s_free_early(void *arg)
{
    t_new_workers(1);
    if (T.ret[0] < 0)
        return ic_reactor_stop();
    t_fetch(0, 0, "/async");
    T.parked = ic_js_worker_pending(T.w[0]);
    /* The compile's result comes back as a task for an isolate that no longer exists: it is dropped (and freed). */
    ic_js_worker_free(T.w[0]);
    T.w[0] = NULL;
}

Test(wasm, a_freed_worker_drops_its_platform_tasks, .timeout = 60)
{
    t_reset();
    T.tenant[0] = t_tenant("short-lived", NULL);
    t_run_js(s_free_early);
    cr_assert_eq(T.ret[0], 0, "%s", T.err[0]);
    cr_assert_eq(T.parked, 1);
    cr_assert_eq(T.r[0].status, 503, "%d %s", T.r[0].status, T.r[0].body);
}
