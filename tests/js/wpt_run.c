/*
 * wpt_run.c: runs web-platform-tests `*.any.js` files in isocore workers and
 * checks the results against tests/js/wpt_expectations.txt (ctest: js/wpt).
 *
 * Each file becomes a classic-script tenant: tests/js/wpt_glue.js's
 * [before] section (GLOBAL, location), resources/testharness.js, the glue's
 * [after] section (collects the results, answers GET /results once
 * add_completion_callback fired, starts the harness's timeout on a reactor
 * timer), the `// META: script=` helpers, the test file (wrapped so that a
 * throw at its top level is reported, not fatal), and [end] (`done()`, as
 * the WPT worker wrapper does). A fresh worker runs it on a reactor; the
 * runner asks GET /results at once, and the answer comes when the harness
 * completes. No answer within the file's wall-clock limit: GET /partial
 * gives what is known (unfinished subtests count as TIMEOUT) and the file is
 * marked cut. A file whose worker fails to load is a file error; the run
 * goes on.
 *
 * Files run several at a time on each reactor (most of a file's time is
 * spent waiting on its timers); results are written into the file's own
 * record by the one reactor that ran it, and read by main after the
 * reactors stopped. A long top level delays every timer of its reactor, so
 * the files that timed out run again in a second round, beside only each
 * other. Then the results are checked (or, with --update, written) against
 * the expectations.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wpt.h"

const char *const STATUS[5] = {"PASS", "FAIL", "TIMEOUT", "NOTRUN", "PRECONDITION_FAILED"};
const char *const HARNESS_STATUS[4] = {"OK", "ERROR", "TIMEOUT", "PRECONDITION_FAILED"};
const char *const PLACEHOLDER = "not investigated";
struct wpt_expectations wpt_exp;
struct wpt_run wpt;
struct wpt_counts wpt_counts;

/* ---- small helpers ------------------------------------------------------------------------ */

void wpt_sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "wpt_run: out of memory\n");
            exit(2);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void wpt_sb_str(sbuf_t *b, const char *s)
{
    wpt_sb_add(b, s, strlen(s));
}

char *wpt_strdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        fprintf(stderr, "wpt_run: out of memory\n");
        exit(2);
    }
    return d;
}

void *wpt_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "wpt_run: out of memory\n");
        exit(2);
    }
    return p;
}

/* Reads a whole file (NUL-terminated); NULL with errno set when it can't. */
char *wpt_read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sbuf_t b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        wpt_sb_add(&b, chunk, n);
    fclose(f);
    if (!b.p)
        b.p = wpt_strdup("");
    if (len)
        *len = b.len;
    return b.p;
}

bool wpt_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

double wpt_now_ms(void)
{
    return (double)ic_clock_ns() / 1e6;
}

/* ---- the report ------------------------------------------------------------------------------ */

typedef struct gstat {
    const char *group;
    unsigned passed, total, run, skipped, errored;
} gstat_t;

static void report(FILE *out, double total_ms, json_t *jout)
{
    gstat_t *g = wpt_calloc(wpt.n + 1, sizeof(gstat_t));
    unsigned ng = 0;
    for (unsigned i = 0; i < wpt.n; i++) {
        wpt_file_t *f = &wpt.f[i];
        unsigned k = 0;
        while (k < ng && strcmp(g[k].group, f->group) != 0)
            k++;
        if (k == ng)
            g[ng++].group = f->group;
        if (f->skip) {
            g[k].skipped++;
            continue;
        }
        if (!f->ran)
            continue;
        g[k].run++;
        if (f->error || f->harness != 0)
            g[k].errored++;
        for (unsigned j = 0; j < f->nsubs; j++) {
            g[k].total++;
            g[k].passed += f->subs[j].status == 0;
        }
    }
    gstat_t all = {"total", 0, 0, 0, 0, 0};
    fprintf(out, "WPT: subtests passed per directory\n");
    json_t *jdirs = json_array();
    for (unsigned k = 0; k <= ng; k++) {
        gstat_t *s = k < ng ? &g[k] : &all;
        if (k < ng) {
            all.passed += s->passed;
            all.total += s->total;
            all.run += s->run;
            all.skipped += s->skipped;
            all.errored += s->errored;
        }
        fprintf(out, "  %-22s %6u/%-6u subtests (%5.1f %%)   files: %u run, %u skipped, %u errored\n", s->group[0] ? s->group : ".",
                s->passed, s->total, s->total ? 100.0 * s->passed / s->total : 0.0, s->run, s->skipped, s->errored);
        if (k < ng)
            json_array_append_new(jdirs, json_pack("{sssIsIsIsIsI}", "dir", s->group, "passed", (json_int_t)s->passed, "total",
                                                   (json_int_t)s->total, "files_run", (json_int_t)s->run, "files_skipped",
                                                   (json_int_t)s->skipped, "files_errored", (json_int_t)s->errored));
    }
    double slowest = 0;
    const char *slow_id = "";
    for (unsigned i = 0; i < wpt.n; i++)
        if (wpt.f[i].ran && wpt.f[i].ms > slowest) {
            slowest = wpt.f[i].ms;
            slow_id = wpt.f[i].id;
        }
    fprintf(out, "WPT: %u files run in %.1f s (slowest: %s, %.1f s)\n", all.run, total_ms / 1000.0, slow_id, slowest / 1000.0);
    if (jout) {
        json_object_set_new(jout, "dirs", jdirs);
        json_object_set_new(jout, "total",
                            json_pack("{sIsIsIsIsIsf}", "passed", (json_int_t)all.passed, "total", (json_int_t)all.total,
                                      "files_run", (json_int_t)all.run, "files_skipped", (json_int_t)all.skipped, "files_errored",
                                      (json_int_t)all.errored, "seconds", total_ms / 1000.0));
    } else {
        json_decref(jdirs);
    }
    free(g);
}

static void print_file(FILE *out, const wpt_file_t *f)
{
    if (f->skip) {
        fprintf(out, "SKIP %s: %s\n", f->id, f->skip);
        return;
    }
    if (!f->ran)
        return;
    unsigned passed = 0;
    for (unsigned j = 0; j < f->nsubs; j++)
        passed += f->subs[j].status == 0;
    fprintf(out, "FILE %s: %u/%u (%.0f ms%s)%s%s\n", f->id, passed, f->nsubs, f->ms, f->rerun ? ", second run" : "",
            f->harness ? "  harness: " : "", f->harness ? HARNESS_STATUS[f->harness & 3] : "");
    if (f->error)
        fprintf(out, "  ERROR %s\n", f->error);
    if (f->harness && f->harness_msg)
        fprintf(out, "  HARNESS %s\n", f->harness_msg);
    for (unsigned j = 0; j < f->nsubs; j++)
        fprintf(out, "  %-7s %s%s%s\n", wpt_status_name(f->subs[j].status), f->subs[j].name, f->subs[j].message ? ": " : "",
                f->subs[j].message ? f->subs[j].message : "");
}

static json_t *file_json(const wpt_file_t *f)
{
    json_t *subs = json_array();
    for (unsigned j = 0; j < f->nsubs; j++)
        json_array_append_new(subs, json_pack("{ssssss?}", "name", f->subs[j].name, "status", wpt_status_name(f->subs[j].status),
                                              "message", f->subs[j].message));
    return json_pack("{sssssssbsbss?ssss?ss?sfso}", "file", f->id, "path", f->path, "dir", f->group, "skipped", f->skip != NULL,
                     "ran", f->ran, "skip_reason", f->skip, "harness", HARNESS_STATUS[f->harness & 3], "harness_message",
                     f->harness_msg, "error", f->error, "ms", f->ms, "subtests", subs);
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wpt_run [options] [PATH...]\n"
            "Runs web-platform-tests *.any.js files in isocore workers (testharness.js + META scripts + the test, one\n"
            "fresh worker per file) and checks the results against tests/js/wpt_expectations.txt.\n"
            "\n"
            "  PATH            a directory or a file under the WPT folder (url, url/url-tojson.any.js, or a path to it);\n"
            "                  several may be given. Without PATH: every directory listed in the expectations (the ctest).\n"
            "                  While working on an area, run just it: build/tests/wpt_run -v streams/readable-streams\n"
            "  -v              print each file and each subtest with its status and message\n"
            "  --json          print the results as JSON on stdout (the summary goes to stderr)\n"
            "  --update        rewrite the fail lines of the expectations for the files run, keeping the reasons\n"
            "                  (new failures get \"%s\"; a file whose 10 or more subtests all fail gets one \"*\" line)\n"
            "  --no-skip       run files that the expectations skip, too\n"
            "  --no-rerun      do not run again the files whose results differed in the first round (with --update:\n"
            "                  that timed out); they run again beside only each other: a busy reactor delays every timer\n"
            "  --expectations F  (default $ISOCORE_SRC/tests/js/wpt_expectations.txt)\n"
            "  --wpt DIR       the WPT folder (default $ISOCORE_WPT, else $ISOCORE_SRC/../shared/testdata/wpt)\n"
            "  -j N            reactors (default 2); --per-reactor K: files at once on each (default 4)\n"
            "  --cpu-ms N      CPU limit of one entry into a worker (default 3000; the top level gets 20 times it)\n"
            "  --timeout-multiplier X  scales the harness timeout (10 s, long: 60 s), the wall-clock limit per file\n"
            "                  (60 s, long: 120 s) and, above 1, the CPU limit (default 1, 2 when ISOCORE_SANITIZE is set)\n"
            "  --wall-ms N     the wall-clock limit of every file instead\n"
            "  --harness FILE  testharness.js (default: resources/testharness.js of the --wpt folder, else of the WPT copy)\n"
            "Exit status: 0 when the results match the expectations, 1 when they do not, 2 on a usage or set-up error.\n",
            PLACEHOLDER);
}

/* Splits the glue file into its sections (`//// name` lines). */
static int load_glue(const char *path)
{
    char *text = wpt_read_all(path, NULL);
    if (!text) {
        fprintf(stderr, "wpt_run: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    const char *names[] = {"//// before\n", "//// after\n", "//// end\n"};
    char **dst[] = {&wpt.sec_before, &wpt.sec_after, &wpt.sec_end};
    char *at[3];
    for (int i = 0; i < 3; i++) {
        at[i] = strstr(text, names[i]);
        if (!at[i] || (i && at[i] < at[i - 1])) {
            fprintf(stderr, "wpt_run: %s has no section %.*s (in order)\n", path, (int)strlen(names[i]) - 1, names[i]);
            free(text);
            return -1;
        }
    }
    for (int i = 0; i < 3; i++) {
        const char *start = at[i] + strlen(names[i]);
        size_t n = i < 2 ? (size_t)(at[i + 1] - start) : strlen(start);
        *dst[i] = wpt_calloc(1, n + 1);
        memcpy(*dst[i], start, n);
    }
    free(text);
    return 0;
}

/* path as given on the command line → a path under the WPT folder (no ./, no trailing /); false if outside. */
static bool normalize(const char *arg, const char *wpt_real, char *out, size_t outlen)
{
    char cand[8192];
    snprintf(cand, sizeof(cand), "%s/%s", wpt.wpt, arg);
    char real[4096];
    if (!realpath(cand, real) && !realpath(arg, real))
        return false;
    size_t n = strlen(wpt_real);
    if (strncmp(real, wpt_real, n) != 0 || (real[n] != '/' && real[n] != '\0'))
        return false;
    snprintf(out, outlen, "%s", real[n] == '/' ? real + n + 1 : "");
    return true;
}

int main(int argc, char **argv)
{
    const char *src = getenv("ISOCORE_SRC") ? getenv("ISOCORE_SRC") : ".";
    char wpt_default[4096], exp_default[4096], glue_path[4096];
    /* The WPT copy sits beside the source tree (../shared); a git worktree under <dir>/wt/NAME finds it one level up. */
    snprintf(wpt_default, sizeof(wpt_default), "%s/../shared/testdata/wpt", src);
    if (access(wpt_default, F_OK) != 0) {
        char up[4096];
        snprintf(up, sizeof(up), "%s/../../shared/testdata/wpt", src);
        if (access(up, F_OK) == 0)
            snprintf(wpt_default, sizeof(wpt_default), "%s", up);
    }
    if (getenv("ISOCORE_WPT") && *getenv("ISOCORE_WPT"))
        snprintf(wpt_default, sizeof(wpt_default), "%s", getenv("ISOCORE_WPT"));
    snprintf(exp_default, sizeof(exp_default), "%s/tests/js/wpt_expectations.txt", src);
    snprintf(glue_path, sizeof(glue_path), "%s/tests/js/wpt_glue.js", src);
    const char *exp_path = exp_default;
    wpt.wpt = wpt_default;
    wpt.cpu_ms = 3000;
    wpt.per_reactor = 4;
    wpt.mult = getenv("ISOCORE_SANITIZE") && *getenv("ISOCORE_SANITIZE") ? 2.0 : 1.0;
    unsigned reactors = 2;
    bool json_out = false, do_update = false, no_skip = false, rerun = true;
    const char *harness_file = NULL;
    const char **paths = wpt_calloc((size_t)argc, sizeof(char *));
    unsigned npaths = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            free(paths);
            return 0;
        } else if (strcmp(a, "-v") == 0) {
            wpt.verbose = true;
        } else if (strcmp(a, "--json") == 0) {
            json_out = true;
        } else if (strcmp(a, "--update") == 0) {
            do_update = true;
        } else if (strcmp(a, "--no-skip") == 0) {
            no_skip = true;
        } else if (strcmp(a, "--no-rerun") == 0) {
            rerun = false;
        } else if (strcmp(a, "--expectations") == 0 && has_value) {
            exp_path = argv[++i];
        } else if (strcmp(a, "--wpt") == 0 && has_value) {
            wpt.wpt = argv[++i];
        } else if (strcmp(a, "-j") == 0 && has_value) {
            reactors = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--per-reactor") == 0 && has_value) {
            wpt.per_reactor = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--cpu-ms") == 0 && has_value) {
            wpt.cpu_ms = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--timeout-multiplier") == 0 && has_value) {
            wpt.mult = atof(argv[++i]);
        } else if (strcmp(a, "--wall-ms") == 0 && has_value) {
            wpt.wall_ms = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--harness") == 0 && has_value) {
            harness_file = argv[++i];
        } else if (a[0] == '-') {
            fprintf(stderr, "wpt_run: unknown option %s\n", a);
            usage(stderr);
            free(paths);
            return 2;
        } else {
            paths[npaths++] = a;
        }
    }
    if (reactors < 1 || reactors > 64 || wpt.per_reactor < 1 || wpt.per_reactor > 64 || wpt.cpu_ms < 10 || !(wpt.mult > 0)) {
        fprintf(stderr, "wpt_run: -j, --per-reactor, --cpu-ms or --timeout-multiplier out of range\n");
        free(paths);
        return 2;
    }
    char harness_path[8192], wpt_real[4096];
    snprintf(harness_path, sizeof(harness_path), "%s/resources/testharness.js", wpt.wpt);
    if (harness_file)
        snprintf(harness_path, sizeof(harness_path), "%s", harness_file);
    wpt.harness_src = wpt_read_all(harness_path, NULL);
    if (!wpt.harness_src && !harness_file && wpt.wpt != wpt_default) {
        /* A folder of other tests (the self-test's) uses the harness of the WPT copy. */
        snprintf(harness_path, sizeof(harness_path), "%s/resources/testharness.js", wpt_default);
        wpt.harness_src = wpt_read_all(harness_path, NULL);
    }
    if (!wpt.harness_src || !realpath(wpt.wpt, wpt_real)) {
        fprintf(stderr,
                "wpt_run: the WPT folder is not at %s (no %s there). It is ../shared/testdata/wpt\n"
                "from the source tree (ISOCORE_SRC=%s); give another with --wpt DIR or ISOCORE_WPT.\n",
                wpt.wpt, harness_path, src);
        free(wpt.harness_src);
        free(paths);
        return 2;
    }
    wpt.wpt = wpt_real; /* the runtime names scripts by their real path */
    int rc = 2;
    if (load_glue(glue_path) < 0 || wpt_exp_load(exp_path) < 0)
        goto out;

    char rel[4096], group[4096];
    wpt.full = npaths == 0;
    if (npaths == 0) {
        for (unsigned i = 0; i < wpt_exp.n; i++)
            if (wpt_exp.e[i].kind == EXP_DIR)
                wpt_scan_dir(wpt_exp.e[i].path, wpt_exp.e[i].path);
    }
    for (unsigned i = 0; i < npaths; i++) {
        char arg[4096];
        snprintf(arg, sizeof(arg), "%s", paths[i]);
        char *q = strchr(arg, '?');
        char variant[1024] = "";
        if (q) {
            snprintf(variant, sizeof(variant), "%s", q);
            *q = '\0';
        }
        if (!normalize(arg, wpt_real, rel, sizeof(rel))) {
            fprintf(stderr, "wpt_run: %s is not a file or directory under the WPT folder %s\n", paths[i], wpt.wpt);
            goto out;
        }
        wpt_group_of(rel, group, sizeof(group));
        char abs[8192];
        snprintf(abs, sizeof(abs), "%s/%s", wpt.wpt, rel);
        struct stat st;
        unsigned before = wpt.n;
        if (stat(abs, &st) == 0 && S_ISDIR(st.st_mode)) {
            wpt_scan_dir(rel, group);
        } else {
            wpt_scan_file(rel, group);
        }
        if (variant[0]) {
            unsigned k = before;
            for (unsigned j = before; j < wpt.n; j++) {
                if (strcmp(wpt.f[j].variant, variant) == 0)
                    wpt.f[k++] = wpt.f[j];
                else
                    wpt_free_file(&wpt.f[j]);
            }
            wpt.n = k;
        }
    }
    wpt.order = wpt_calloc(wpt.n, sizeof(unsigned));
    for (unsigned i = 0; i < wpt.n; i++) {
        if (no_skip)
            wpt.f[i].skip = NULL;
        if (!wpt.f[i].skip)
            wpt.order[wpt.to_run++] = i;
    }

    double t0 = wpt_now_ms();
    if (wpt.to_run) {
        if (ic_js_platform_init() != 0) {
            fprintf(stderr, "wpt_run: cannot initialise V8\n");
            goto out;
        }
        if (!wpt.verbose)
            ic_log_set_level(IC_LOG_ERROR); /* console.log of the tests only with -v */
        int ret = wpt_run_files(reactors);
        /*
         * A file that timed out while the reactors were busy with the others
         * (a long top level delays every timer of its reactor) runs again,
         * with only the other such files beside it: most of them only wait.
         */
        unsigned again = 0;
        wpt_hash_build();
        for (unsigned i = 0; ret == 0 && rerun && !atomic_load(&wpt.stopping) && i < wpt.to_run; i++) {
            /*
             * Checking: a file whose results differ from the expectations runs
             * again (a timeout they list, a file that always hangs, is not worth
             * another round). --update: a file that timed out.
             */
            wpt_file_t *f = &wpt.f[wpt.order[i]];
            if (do_update ? wpt_timed_out(f) : wpt_mismatches(f))
                wpt.order[again++] = wpt.order[i];
        }
        if (again) {
            double t1 = wpt_now_ms();
            for (unsigned i = 0; i < again; i++) {
                wpt_reset_results(&wpt.f[wpt.order[i]]);
                wpt.f[wpt.order[i]].rerun = true;
            }
            wpt.to_run = again;
            ret = wpt_run_files(reactors);
            FILE *o = json_out ? stderr : stdout;
            fprintf(o, "WPT: %u files %s in the busy first round, run again beside only each other (%.1f s):", again,
                    do_update ? "timed out" : "differed from the expectations", (wpt_now_ms() - t1) / 1000.0);
            for (unsigned i = 0; i < again && i < 10; i++)
                fprintf(o, " %s", wpt.f[wpt.order[i]].id);
            fprintf(o, "%s\n", again > 10 ? " ..." : "");
        }
        if (ret != 0) {
            fprintf(stderr, "wpt_run: the reactors did not run: %s\n", ic_strerror(ret));
            ic_js_platform_shutdown();
            goto out;
        }
        ic_js_platform_shutdown();
    }
    double total_ms = wpt_now_ms() - t0;

    FILE *out = json_out ? stderr : stdout;
    if (wpt.verbose)
        for (unsigned i = 0; i < wpt.n; i++)
            print_file(out, &wpt.f[i]);
    json_t *jout = json_out ? json_object() : NULL;
    report(out, total_ms, jout);
    if (do_update) {
        rc = wpt_update(exp_path) == 0 ? 0 : 2;
    } else {
        json_t *jlist = jout ? json_array() : NULL;
        wpt_check(out, exp_path, jlist);
        if (jout)
            json_object_set_new(jout, "unexpected", jlist);
        unsigned stopped = 0;
        for (unsigned i = 0; i < wpt.n; i++)
            stopped += !wpt.f[i].skip && !wpt.f[i].ran;
        if (stopped)
            fprintf(out, "wpt_run: %u files did not run (stopped early)\n", stopped);
        rc = wpt_counts.unexpected_fail || wpt_counts.unexpected_pass || stopped ? 1 : 0;
        fprintf(out, "WPT expectations: %s (%u unexpected failures, %u unexpected passes, %u known failures)\n",
                rc ? "MISMATCH" : "OK", wpt_counts.unexpected_fail, wpt_counts.unexpected_pass, wpt_counts.known);
    }
    if (jout) {
        json_t *files = json_array();
        for (unsigned i = 0; i < wpt.n; i++)
            json_array_append_new(files, file_json(&wpt.f[i]));
        json_object_set_new(jout, "files", files);
        json_object_set_new(jout, "unexpected_fail", json_integer(wpt_counts.unexpected_fail));
        json_object_set_new(jout, "unexpected_pass", json_integer(wpt_counts.unexpected_pass));
        json_dumpf(jout, stdout, JSON_INDENT(1));
        fputc('\n', stdout);
        json_decref(jout);
    }
out:
    free(wpt.harness_src);
    free(wpt.sec_before);
    free(wpt.sec_after);
    free(wpt.sec_end);
    wpt_check_free();
    wpt_free_files();
    wpt_exp_free();
    free(paths);
    return rc;
}
