/*
 * test_engine.c: V8 on every reactor: each reactor creates its own isolate
 * and runs JS at the same time as the others, with no v8::Locker.
 */
#include <stdio.h>
#include <stdlib.h>

#include "t_util.h"

#define T_CORES 4

static struct {
    ic_js_isolate_t *iso[T_CORES];
    uint64_t begin[T_CORES], end[T_CORES];
    char result[T_CORES][64];
    char own_mark[T_CORES][64];
    int ret[T_CORES];
    _Atomic unsigned finished;
} J;

static void js_start(void *arg)
{
    int id = ic_reactor_id();
    char src[256];
    cr_assert_eq(ic_js_isolate_new(&J.iso[id]), 0);
    /* A CPU-bound script of a few hundred ms: long enough that the reactors' runs overlap. */
    snprintf(src, sizeof(src),
             "globalThis.mark = %d; let s = 0; for (let i = 0; i < 3e7; i++) s += i %% 7; `core ${mark} sum ${s}`", id);
    J.begin[id] = ic_clock_ns();
    J.ret[id] = ic_js_eval(J.iso[id], src, strlen(src), J.result[id], sizeof(J.result[id]));
    J.end[id] = ic_clock_ns();
    const char *probe = "String(globalThis.mark)";
    ic_js_eval(J.iso[id], probe, strlen(probe), J.own_mark[id], sizeof(J.own_mark[id]));
    ic_js_isolate_free(J.iso[id]);
    if (atomic_fetch_add(&J.finished, 1) + 1 == T_CORES)
        ic_reactor_stop();
}

Test(js, every_reactor_runs_its_own_isolate_concurrently, .timeout = 120)
{
    memset(&J, 0, sizeof(J));
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_reactor_config_t cfg = t_config(T_CORES, js_start, NULL);
    t_run(&cfg);
    uint64_t last_begin = 0, first_end = UINT64_MAX;
    for (int i = 0; i < T_CORES; i++) {
        char want[16];
        cr_assert_gt(J.ret[i], 0, "core %d: %s", i, J.result[i]);
        snprintf(want, sizeof(want), "core %d sum ", i);
        cr_assert_eq(strncmp(J.result[i], want, strlen(want)), 0, "core %d said '%s'", i, J.result[i]);
        /* Globals are per isolate: each reactor sees its own mark, never another's. */
        char mark[8];
        snprintf(mark, sizeof(mark), "%d", i);
        cr_assert_str_eq(J.own_mark[i], mark);
        for (int k = 0; k < i; k++)
            cr_assert_neq(J.iso[i], J.iso[k]);
        if (J.begin[i] > last_begin)
            last_begin = J.begin[i];
        if (J.end[i] < first_end)
            first_end = J.end[i];
    }
    /* Same script, same answer on every core. */
    for (int i = 1; i < T_CORES; i++)
        cr_assert_str_eq(strchr(J.result[i], 's'), strchr(J.result[0], 's'));
    cr_assert_lt(last_begin, first_end, "the isolates did not run at the same time");
    ic_js_platform_shutdown();
}

static void errors_start(void *arg)
{
    ic_js_isolate_t *iso;
    char out[256];
    cr_assert_eq(ic_js_isolate_new(&iso), 0);
    cr_assert_eq(ic_js_eval(iso, "throw new TypeError('boom')", 27, out, sizeof(out)), IC_EJSEXCEPTION);
    cr_assert_str_eq(out, "TypeError: boom");
    cr_assert_eq(ic_js_eval(iso, "1 +", 3, out, sizeof(out)), IC_EJSEXCEPTION);
    cr_assert(strstr(out, "SyntaxError") != NULL, "%s", out);
    /* The isolate stays usable after an exception. */
    cr_assert_eq(ic_js_eval(iso, "6 * 7", 5, out, sizeof(out)), 2);
    cr_assert_str_eq(out, "42");

    const char *ok = "export default { fetch(req, env, ctx) { return null; } }";
    cr_assert_eq(ic_js_load_worker(iso, "ok.js", ok, strlen(ok), out, sizeof(out)), 0, "%s", out);
    const char *nodefault = "export const x = 1;";
    cr_assert_eq(ic_js_load_worker(iso, "nodefault.js", nodefault, strlen(nodefault), out, sizeof(out)), IC_EJSEXCEPTION);
    cr_assert(strstr(out, "default export") != NULL, "%s", out);
    const char *nofetch = "export default { get() {} }";
    cr_assert_eq(ic_js_load_worker(iso, "nofetch.js", nofetch, strlen(nofetch), out, sizeof(out)), IC_EJSEXCEPTION);
    cr_assert(strstr(out, "fetch") != NULL, "%s", out);
    const char *throws = "throw new Error('at load')";
    cr_assert_eq(ic_js_load_worker(iso, "throws.js", throws, strlen(throws), out, sizeof(out)), IC_EJSEXCEPTION);
    cr_assert_str_eq(out, "Error: at load");
    ic_js_isolate_free(iso);
    ic_reactor_stop();
}

Test(js, errors_are_codes_not_crashes, .timeout = 60)
{
    cr_assert_eq(ic_js_platform_init(), 0);
    ic_reactor_config_t cfg = t_config(1, errors_start, NULL);
    t_run(&cfg);
    ic_js_platform_shutdown();
}

Test(js, isolate_before_platform_is_an_error)
{
    ic_js_isolate_t *iso = NULL;
    cr_assert_eq(ic_js_isolate_new(&iso), IC_EJSINIT);
    cr_assert_null(iso);
}
