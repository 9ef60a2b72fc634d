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
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "isocore.h"

#define MAX_SCRIPTS 16
#define MAX_VARIANTS 64
#define CHECK_LINES 20 /* mismatches shown per file (all with -v) */
#define STAR_MIN 10    /* --update lists a file whose subtests all fail with "*" from this many on */

static const char *const STATUS[] = {"PASS", "FAIL", "TIMEOUT", "NOTRUN", "PRECONDITION_FAILED"};
static const char *const HARNESS_STATUS[] = {"OK", "ERROR", "TIMEOUT", "PRECONDITION_FAILED"};
static const char *const PLACEHOLDER = "not investigated";

/* Pseudo-subtests that stand for the file itself in the expectations. */
#define SUB_FILE "[file]"       /* the worker did not load, crashed, or was cut by the wall-clock limit */
#define SUB_HARNESS "[harness]" /* the harness status was not OK (an error at top level, a harness timeout) */

/* ---- small helpers ------------------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
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

static void sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        fprintf(stderr, "wpt_run: out of memory\n");
        exit(2);
    }
    return d;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "wpt_run: out of memory\n");
        exit(2);
    }
    return p;
}

/* Reads a whole file (NUL-terminated); NULL with errno set when it can't. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sbuf_t b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sb_add(&b, chunk, n);
    fclose(f);
    if (!b.p)
        b.p = xstrdup("");
    if (len)
        *len = b.len;
    return b.p;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static double now_ms(void)
{
    return (double)ic_clock_ns() / 1e6;
}

/* ---- expectations ------------------------------------------------------------------------- */

/*
 * The expectations file holds one JSON array a line (lines starting with #
 * and blank lines are comments):
 *   ["dir", "streams"]                          a directory the full run covers
 *   ["skip", "path or dir/", "reason"]          not run, and why
 *   ["serve", "path", "reason"]                 a data file that fetch() gets, as from the WPT server, in the
 *                                               tests that name it (the glue's [before] section)
 *   ["fail", "file", "subtest", "reason"]       a subtest known to fail ("*": every subtest of the file)
 *   ["flaky", "file", "subtest", "reason"]      either result is accepted
 * "file" is the path under the WPT folder, with the variant when the file has variants.
 */
typedef enum { EXP_DIR, EXP_SKIP, EXP_SERVE, EXP_FAIL, EXP_FLAKY } exp_kind_t;

typedef struct expectation {
    exp_kind_t kind;
    char *path;
    char *sub;
    char *reason;
    bool seen; /* a fail/flaky entry whose subtest was in this run */
} exp_t;

static struct {
    exp_t *e;
    unsigned n, cap;
} X;

static int exp_load(const char *path)
{
    size_t len;
    char *text = read_all(path, &len);
    if (!text) {
        fprintf(stderr, "wpt_run: cannot read the expectations %s: %s\n", path, strerror(errno));
        return -1;
    }
    int line = 0, ret = 0;
    for (char *p = text, *next; p && *p; p = next) {
        line++;
        char *nl = strchr(p, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        json_error_t err;
        json_t *a = json_loads(p, 0, &err);
        const char *kind = a && json_is_array(a) ? json_string_value(json_array_get(a, 0)) : NULL;
        exp_t e = {0};
        size_t want = 0;
        if (kind && strcmp(kind, "dir") == 0)
            e.kind = EXP_DIR, want = 2;
        else if (kind && strcmp(kind, "skip") == 0)
            e.kind = EXP_SKIP, want = 3;
        else if (kind && strcmp(kind, "serve") == 0)
            e.kind = EXP_SERVE, want = 3;
        else if (kind && strcmp(kind, "fail") == 0)
            e.kind = EXP_FAIL, want = 4;
        else if (kind && strcmp(kind, "flaky") == 0)
            e.kind = EXP_FLAKY, want = 4;
        bool ok = want && json_array_size(a) == want;
        for (size_t i = 1; ok && i < want; i++)
            ok = json_is_string(json_array_get(a, i));
        if (!ok) {
            fprintf(stderr,
                    "%s:%d: not an expectation (want [\"dir\", d], [\"skip\", path, reason], "
                    "[\"serve\", path, reason], [\"fail\"|\"flaky\", file, subtest, reason]): %.200s\n",
                    path, line, p);
            ret = -1;
            json_decref(a);
            continue;
        }
        e.path = xstrdup(json_string_value(json_array_get(a, 1)));
        if (e.kind == EXP_SKIP || e.kind == EXP_SERVE)
            e.reason = xstrdup(json_string_value(json_array_get(a, 2)));
        if (e.kind == EXP_FAIL || e.kind == EXP_FLAKY) {
            e.sub = xstrdup(json_string_value(json_array_get(a, 2)));
            e.reason = xstrdup(json_string_value(json_array_get(a, 3)));
        }
        json_decref(a);
        if (X.n == X.cap) {
            X.cap = X.cap ? X.cap * 2 : 256;
            X.e = realloc(X.e, X.cap * sizeof(exp_t));
            if (!X.e) {
                fprintf(stderr, "wpt_run: out of memory\n");
                exit(2);
            }
        }
        X.e[X.n++] = e;
    }
    free(text);
    return ret;
}

static void exp_free(void)
{
    for (unsigned i = 0; i < X.n; i++) {
        free(X.e[i].path);
        free(X.e[i].sub);
        free(X.e[i].reason);
    }
    free(X.e);
    memset(&X, 0, sizeof(X));
}

/* The reason a file (id with variant, or path) is skipped, or NULL. A skip path ending in / covers a directory. */
static const char *exp_skip(const char *id, const char *path)
{
    for (unsigned i = 0; i < X.n; i++) {
        exp_t *e = &X.e[i];
        if (e->kind != EXP_SKIP)
            continue;
        if (strcmp(e->path, id) == 0 || strcmp(e->path, path) == 0)
            return e->reason;
        size_t n = strlen(e->path);
        if (n && e->path[n - 1] == '/' && strncmp(e->path, path, n) == 0)
            return e->reason;
    }
    return NULL;
}

/* ---- the files of a run --------------------------------------------------------------------- */

typedef struct subtest {
    char *name;
    int status;
    char *message;
} subtest_t;

typedef struct wpt_file {
    char *path;    /* under the WPT folder */
    char *variant; /* "" or "?1-10" */
    char *id;      /* path + variant: the key of the expectations */
    char *group;   /* the listed directory it counts under */
    bool long_timeout;
    bool strict; /* the file starts with "use strict" */
    char *scripts[MAX_SCRIPTS];
    unsigned nscripts;
    const char *skip; /* why it is not run, or NULL */
    /* results: written by the reactor that ran it */
    bool ran;
    bool rerun;  /* timed out in the busy first round: these are the results of its second run */
    char *error; /* the file did not run to its end: why */
    bool cut;    /* stopped by the wall-clock limit (the subtests are what was known then) */
    int harness;
    char *harness_msg;
    subtest_t *subs;
    unsigned nsubs;
    double ms;
} wpt_file_t;

static struct {
    const char *wpt; /* the WPT folder */
    char *sec_before, *sec_after, *sec_end;
    char *harness_src;
    wpt_file_t *f;
    unsigned n, cap;
    unsigned cpu_ms;
    double mult;
    unsigned wall_ms; /* overrides the wall-clock limit of every file (0: 60 s, long 120 s, times mult) */
    unsigned per_reactor;
    _Atomic unsigned next;     /* index of the next file to start */
    _Atomic unsigned finished; /* files done */
    _Atomic bool stopping;     /* a stop came before the end (a signal): start nothing more */
    unsigned to_run;           /* files not skipped */
    unsigned *order;           /* indexes of the files to run */
    bool verbose;
    bool full; /* no PATH given: every listed directory ran */
} R;

static void add_file(const char *path, const char *variant, const char *group)
{
    if (R.n == R.cap) {
        R.cap = R.cap ? R.cap * 2 : 512;
        R.f = realloc(R.f, R.cap * sizeof(wpt_file_t));
        if (!R.f) {
            fprintf(stderr, "wpt_run: out of memory\n");
            exit(2);
        }
    }
    wpt_file_t *f = &R.f[R.n++];
    memset(f, 0, sizeof(*f));
    f->path = xstrdup(path);
    f->variant = xstrdup(variant);
    size_t n = strlen(path) + strlen(variant) + 1;
    f->id = xcalloc(1, n);
    snprintf(f->id, n, "%s%s", path, variant);
    f->group = xstrdup(group);
}

static void free_file(wpt_file_t *f)
{
    free(f->path);
    free(f->variant);
    free(f->id);
    free(f->group);
    for (unsigned j = 0; j < f->nscripts; j++)
        free(f->scripts[j]);
    free(f->error);
    free(f->harness_msg);
    for (unsigned j = 0; j < f->nsubs; j++) {
        free(f->subs[j].name);
        free(f->subs[j].message);
    }
    free(f->subs);
}

static void free_files(void)
{
    for (unsigned i = 0; i < R.n; i++)
        free_file(&R.f[i]);
    free(R.f);
    free(R.order);
}

/* Does a `// META: global=` list name a scope an isocore worker is like? */
static bool global_applies(const char *list)
{
    static const char *const ok[] = {"worker", "dedicatedworker", "sharedworker", "serviceworker", "shadowrealm", "jsshell"};
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
            if (strcmp(tok, ok[i]) == 0)
                return true;
    return false;
}

/* True when the first statement of src is a "use strict" directive (comments and blank space skipped). */
static bool starts_strict(const char *s)
{
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (s[0] == '/' && s[1] == '/') {
            s = strchr(s, '\n');
            if (!s)
                return false;
        } else if (s[0] == '/' && s[1] == '*') {
            s = strstr(s + 2, "*/");
            if (!s)
                return false;
            s += 2;
        } else {
            break;
        }
    }
    return strncmp(s, "'use strict'", 12) == 0 || strncmp(s, "\"use strict\"", 12) == 0;
}

/*
 * Reads the META lines of one test file (path under the WPT folder) and adds
 * it, once per variant. Files that do not apply to a worker are not added.
 */
static void scan_file(const char *path, const char *group)
{
    char full[4096];
    snprintf(full, sizeof(full), "%s/%s", R.wpt, path);
    char *src = read_all(full, NULL);
    if (!src) {
        fprintf(stderr, "wpt_run: cannot read %s: %s\n", full, strerror(errno));
        return;
    }
    char *scripts[MAX_SCRIPTS];
    char *variants[MAX_VARIANTS];
    unsigned nscripts = 0, nvariants = 0;
    bool applies = true, long_timeout = false, too_many = false;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    for (const char *p = src; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), p);
        p = nl ? nl + 1 : p + n;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
            line[--l] = '\0';
        if (l == 0)
            continue;
        if (strncmp(line, "// META:", 8) != 0)
            break; /* the META block is the file's first lines */
        char *kv = line + 8;
        while (*kv == ' ')
            kv++;
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *value = eq + 1;
        if (strcmp(kv, "global") == 0) {
            applies = global_applies(value);
        } else if (strcmp(kv, "timeout") == 0) {
            long_timeout = strcmp(value, "long") == 0;
        } else if (strcmp(kv, "script") == 0) {
            if (nscripts == MAX_SCRIPTS) {
                too_many = true;
                continue;
            }
            char s[4096];
            if (value[0] == '/')
                snprintf(s, sizeof(s), "%s", value + 1);
            else
                snprintf(s, sizeof(s), "%s%s", dir, value);
            scripts[nscripts++] = xstrdup(s);
        } else if (strcmp(kv, "variant") == 0 && nvariants < MAX_VARIANTS) {
            variants[nvariants++] = xstrdup(value);
        }
    }
    bool strict = starts_strict(src);
    free(src);
    if (too_many)
        fprintf(stderr, "wpt_run: %s: more than %d META scripts, the rest are ignored\n", path, MAX_SCRIPTS);
    if (!applies) {
        add_file(path, "", group);
        R.f[R.n - 1].skip = "window-only: its META: global= names no worker scope";
    } else {
        for (unsigned v = 0; v < (nvariants ? nvariants : 1); v++) {
            add_file(path, nvariants ? variants[v] : "", group);
            wpt_file_t *f = &R.f[R.n - 1];
            f->long_timeout = long_timeout;
            f->strict = strict;
            for (unsigned i = 0; i < nscripts; i++)
                f->scripts[i] = xstrdup(scripts[i]);
            f->nscripts = nscripts;
            f->skip = exp_skip(f->id, f->path);
            if (!f->skip && strstr(path, "idlharness"))
                f->skip = "idlharness: needs resources/WebIDLParser.js, which is not in the WPT copy";
            bool sub = strstr(path, ".sub.") != NULL;
            for (unsigned i = 0; i < nscripts; i++)
                sub = sub || strstr(scripts[i], ".sub.") != NULL;
            if (!f->skip && sub)
                f->skip = "needs the WPT server: a .sub. file is a template the server fills in (get-host-info.sub.js...)";
        }
    }
    for (unsigned i = 0; i < nscripts; i++)
        free(scripts[i]);
    for (unsigned i = 0; i < nvariants; i++)
        free(variants[i]);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every *.any.js under dir (a path under the WPT folder, no trailing slash), in sorted order. */
static void scan_dir(const char *dir, const char *group)
{
    char full[4096];
    snprintf(full, sizeof(full), "%s/%s", R.wpt, dir);
    DIR *d = opendir(full);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(char *));
            if (!names) {
                fprintf(stderr, "wpt_run: out of memory\n");
                exit(2);
            }
        }
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char rel[4096], abs[8192];
        snprintf(rel, sizeof(rel), "%s%s%s", dir, dir[0] ? "/" : "", names[i]);
        snprintf(abs, sizeof(abs), "%s/%s", R.wpt, rel);
        struct stat st;
        if (stat(abs, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (strcmp(names[i], "resources") != 0 && strcmp(names[i], "support") != 0)
                scan_dir(rel, group);
        } else if (ends_with(names[i], ".any.js")) {
            scan_file(rel, group);
        }
        free(names[i]);
    }
    free(names);
}

/* The listed directory that covers path (the longest), or path's first component. */
static void group_of(const char *path, char *out, size_t outlen)
{
    size_t best = 0;
    for (unsigned i = 0; i < X.n; i++) {
        size_t n = strlen(X.e[i].path);
        if (X.e[i].kind == EXP_DIR && n > best && strncmp(X.e[i].path, path, n) == 0 && (path[n] == '/' || path[n] == '\0')) {
            best = n;
            snprintf(out, outlen, "%s", X.e[i].path);
        }
    }
    bool root = false;
    for (unsigned i = 0; i < X.n; i++)
        root = root || (X.e[i].kind == EXP_DIR && X.e[i].path[0] == '\0');
    if (!best && root) {
        out[0] = '\0';
    } else if (!best) {
        snprintf(out, outlen, "%s", path);
        char *slash = strchr(out, '/');
        if (slash)
            *slash = '\0';
    }
}

/* ---- running one file on a reactor -------------------------------------------------------- */

typedef struct slot {
    wpt_file_t *f;
    ic_js_tenant_t *tenant;
    ic_js_worker_t *w;
    ic_task_t task;
    int step; /* 0: ask /results, 1: ask /partial, 2: done */
    char *body;
    size_t len;
    int status;
    double t0;
    char script[4096]; /* the script's name in stack traces (the test file's full path) */
    unsigned nparts;   /* the parts of the script: where each starts, for line numbers */
    unsigned part_line[MAX_SCRIPTS + 4];
    const char *part_name[MAX_SCRIPTS + 4];
} slot_t;

static void slot_next(slot_t *s);
static char *map_lines(const slot_t *s, char *msg);
static char *one_line(char *msg);

static void set_error(wpt_file_t *f, const char *fmt, const char *detail)
{
    size_t n = strlen(fmt) + (detail ? strlen(detail) : 0) + 1;
    free(f->error);
    f->error = xcalloc(1, n);
    snprintf(f->error, n, fmt, detail ? detail : "");
}

/* Reads the JSON the glue answered with into f. Returns 0, or -1 (f->error says why). */
static int take_results(wpt_file_t *f, const char *body, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb(body, len, 0, &err);
    json_t *tests = json_object_get(j, "tests");
    if (!j || !json_is_array(tests)) {
        char shown[512];
        snprintf(shown, sizeof(shown), "%.*s", (int)(len < 400 ? len : 400), body);
        set_error(f, "the results are not the expected JSON: %s", shown);
        json_decref(j);
        return -1;
    }
    f->harness = (int)json_integer_value(json_object_get(j, "status"));
    const char *hm = json_string_value(json_object_get(j, "message"));
    f->harness_msg = hm ? xstrdup(hm) : NULL;
    f->cut = json_is_true(json_object_get(j, "cut"));
    f->nsubs = (unsigned)json_array_size(tests);
    f->subs = xcalloc(f->nsubs, sizeof(subtest_t));
    for (unsigned i = 0; i < f->nsubs; i++) {
        json_t *t = json_array_get(tests, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *msg = json_string_value(json_object_get(t, "message"));
        f->subs[i].name = xstrdup(name ? name : "(no name)");
        f->subs[i].status = (int)json_integer_value(json_object_get(t, "status"));
        f->subs[i].message = msg ? xstrdup(msg) : NULL;
    }
    json_decref(j);
    return 0;
}

static void on_response(void *arg, const ic_js_response_t *res);
static void on_step(ic_task_t *task);

/* Sends GET target to the slot's worker. */
static void ask(slot_t *s, const char *target)
{
    char raw[256];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: wpt.test\r\n\r\n", target);
    ic_http_request_t req;
    int n = ic_http_parse_request(raw, strlen(raw), &req);
    if (n <= 0) {
        s->status = 0;
        s->body = NULL;
        s->len = 0;
        ic_task_post(&s->task, on_step);
        return;
    }
    ic_js_worker_fetch(s->w, &req, (ic_str_t){NULL, 0}, on_response, s);
}

/* After each answer: the next step runs from a task, outside the worker's own call stack. */
static void on_step(ic_task_t *task)
{
    slot_t *s = (slot_t *)((char *)task - offsetof(slot_t, task));
    wpt_file_t *f = s->f;
    if (s->step == 0) {
        if (s->status == 200) {
            take_results(f, s->body, s->len);
            f->harness_msg = map_lines(s, f->harness_msg);
            s->step = 2;
        } else if (s->status == 504 && s->w && !ic_js_worker_broken(s->w)) {
            s->step = 1;
            free(s->body);
            s->body = NULL;
            ask(s, "/partial");
            return;
        } else {
            char why[700];
            snprintf(why, sizeof(why), "status %d: %.*s", s->status, (int)(s->len < 600 ? s->len : 600), s->body ? s->body : "");
            set_error(f, "the worker gave no results (%s)", why);
            s->step = 2;
        }
    } else if (s->step == 1) {
        if (s->status == 200 && take_results(f, s->body, s->len) == 0) {
            f->harness_msg = map_lines(s, f->harness_msg);
            char why[128];
            snprintf(why, sizeof(why), "%.0f s", (now_ms() - s->t0) / 1000.0);
            set_error(f, "cut by the runner's wall-clock limit after %s (unfinished subtests count as TIMEOUT)", why);
        } else if (!f->error) {
            set_error(f, "the file did not complete within the wall-clock limit, and the worker answered nothing%s", NULL);
        }
        s->step = 2;
    }
    free(s->body);
    s->body = NULL;
    f->ms = now_ms() - s->t0;
    ic_js_worker_free(s->w);
    s->w = NULL;
    ic_js_tenant_free(s->tenant);
    s->tenant = NULL;
    slot_next(s);
}

static void on_response(void *arg, const ic_js_response_t *res)
{
    slot_t *s = arg;
    s->status = res->status;
    s->body = malloc(res->len + 1);
    if (s->body) {
        memcpy(s->body, res->body, res->len);
        s->body[res->len] = '\0';
        s->len = res->len;
    } else {
        s->len = 0;
    }
    ic_task_post(&s->task, on_step);
}

static unsigned count_lines(const char *p, size_t n)
{
    unsigned lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += p[i] == '\n';
    return lines;
}

/* Starts part `name` of the script at the end of b (its first line is the next one). */
static void mark_part(slot_t *s, const sbuf_t *b, const char *name)
{
    if (s->nparts == sizeof(s->part_line) / sizeof(s->part_line[0]))
        return;
    s->part_line[s->nparts] = 1 + count_lines(b->p ? b->p : "", b->len);
    s->part_name[s->nparts++] = name;
}

/*
 * Rewrites msg (malloc'd, replaced) so that each "<script>:LINE" of the
 * joined script names the part and its own line: "resources/testharness.js:12".
 */
static char *map_lines(const slot_t *s, char *msg)
{
    if (!msg || !s->nparts)
        return msg;
    size_t n = strlen(s->script);
    sbuf_t b = {0};
    const char *p = msg;
    for (const char *at; (at = strstr(p, s->script));) {
        sb_add(&b, p, (size_t)(at - p));
        p = at + n;
        if (*p != ':' || p[1] < '0' || p[1] > '9') {
            sb_str(&b, s->script);
            continue;
        }
        char *end;
        unsigned long line = strtoul(p + 1, &end, 10);
        unsigned k = 0;
        while (k + 1 < s->nparts && s->part_line[k + 1] <= line)
            k++;
        char buf[4200];
        if (line >= s->part_line[k])
            snprintf(buf, sizeof(buf), "%s:%lu", s->part_name[k], line - s->part_line[k] + 1);
        else
            snprintf(buf, sizeof(buf), "%s:%lu", s->script, line);
        sb_str(&b, buf);
        p = end;
    }
    sb_str(&b, p);
    free(msg);
    return b.p;
}

/* Joins the lines of msg (a stack) with " | ", in place. */
static char *one_line(char *msg)
{
    char *w = msg;
    for (const char *r = msg; r && *r;) {
        if (*r == '\n' || *r == '\r') {
            while (*r == '\n' || *r == '\r' || *r == ' ' || *r == '\t')
                r++;
            if (*r && w != msg) {
                memcpy(w, " | ", 3);
                w += 3;
            }
        } else {
            *w++ = *r++;
        }
    }
    if (w)
        *w = '\0';
    return msg;
}

/* Appends text as a JSON string literal. */
static void sb_json_string(sbuf_t *b, const char *text, size_t len)
{
    json_t *js = json_stringn(text, len);
    char *q = js ? json_dumps(js, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
    sb_str(b, q ? q : "\"\"");
    free(q);
    json_decref(js);
}

/*
 * The script of one file: glue, harness, helpers, test. NULL when a part
 * can't be read (f->error says which).
 */
static char *build_source(slot_t *s, wpt_file_t *f, size_t *len)
{
    char full[4096];
    /* The helpers and the test first: the served data files are the ones they name. */
    char *part[MAX_SCRIPTS + 1];
    unsigned nread = 0;
    for (unsigned i = 0; i <= f->nscripts; i++) {
        const char *rel = i < f->nscripts ? f->scripts[i] : f->path;
        snprintf(full, sizeof(full), "%s/%s", R.wpt, rel);
        part[i] = read_all(full, NULL);
        if (!part[i]) {
            set_error(f, i < f->nscripts ? "the META script %s cannot be read" : "the test file %s cannot be read", rel);
            for (unsigned j = 0; j < nread; j++)
                free(part[j]);
            return NULL;
        }
        nread++;
    }
    sbuf_t served = {0};
    for (unsigned i = 0; i < X.n; i++) {
        if (X.e[i].kind != EXP_SERVE)
            continue;
        const char *base = strrchr(X.e[i].path, '/');
        base = base ? base + 1 : X.e[i].path;
        bool named = false;
        for (unsigned j = 0; j <= f->nscripts && !named; j++)
            named = strstr(part[j], base) != NULL;
        if (!named)
            continue;
        snprintf(full, sizeof(full), "%s/%s", R.wpt, X.e[i].path);
        size_t dlen;
        char *data = read_all(full, &dlen);
        if (!data)
            continue;
        char key[4096];
        snprintf(key, sizeof(key), "/%s", X.e[i].path);
        sb_str(&served, served.len ? ", " : "{ ");
        sb_json_string(&served, key, strlen(key));
        sb_str(&served, ": ");
        sb_json_string(&served, data, dlen);
        free(data);
    }
    if (served.len)
        sb_str(&served, " }");

    sbuf_t b = {0};
    s->nparts = 0;
    snprintf(s->script, sizeof(s->script), "%s/%s", R.wpt, f->path);
    mark_part(s, &b, "(wpt_glue.js [before])");
    /* [before], with its parameters. */
    char *loc_path = xstrdup(f->path);
    char *dot = strstr(loc_path, ".any.js");
    if (dot)
        *dot = '\0';
    char url[4096], harness_ms[32];
    snprintf(url, sizeof(url), "http://web-platform.test:8000/%s.any.worker.js%s", loc_path, f->variant);
    free(loc_path);
    snprintf(harness_ms, sizeof(harness_ms), "%.0f", (f->long_timeout ? 60000.0 : 10000.0) * R.mult);
    for (const char *p = R.sec_before; *p;) {
        const char *at = strchr(p, '@');
        if (!at) {
            sb_str(&b, p);
            break;
        }
        sb_add(&b, p, (size_t)(at - p));
        if (strncmp(at, "@LOCATION@", 10) == 0) {
            sb_json_string(&b, url, strlen(url));
            p = at + 10;
        } else if (strncmp(at, "@HARNESS_MS@", 12) == 0) {
            sb_str(&b, harness_ms);
            p = at + 12;
        } else if (strncmp(at, "@SERVED@", 8) == 0) {
            sb_str(&b, served.len ? served.p : "null");
            p = at + 8;
        } else {
            sb_add(&b, at, 1);
            p = at + 1;
        }
    }
    free(served.p);
    sb_str(&b, "\n");
    mark_part(s, &b, "resources/testharness.js");
    sb_str(&b, R.harness_src);
    sb_str(&b, "\n;\n");
    mark_part(s, &b, "(wpt_glue.js [after])");
    sb_str(&b, R.sec_after);
    sb_str(&b, "\n");
    for (unsigned i = 0; i < f->nscripts; i++) {
        mark_part(s, &b, f->scripts[i]);
        sb_str(&b, part[i]);
        sb_str(&b, "\n;\n");
        free(part[i]);
    }
    const char *body = part[f->nscripts];
    if ((unsigned char)body[0] == 0xef && (unsigned char)body[1] == 0xbb && (unsigned char)body[2] == 0xbf)
        body += 3;
    /*
     * A throw at the top level of the test file must not stop the script (the
     * subtests defined before it still report, as in a browser): the file is
     * wrapped in try. A strict file goes into a function, so that its
     * "use strict" stays a directive.
     */
    if (f->strict)
        sb_str(&b, "try { (function () {\n");
    else
        sb_str(&b, "try {\n");
    mark_part(s, &b, f->path);
    if (f->strict) {
        sb_str(&b, body);
    } else {
        /*
         * In the try block a top-level `let`/`const` would be the block's,
         * not the global scope's, and the helpers loaded before (which read
         * such names at call time, e.g. wasm/jsapi's instanceTestFactory)
         * would not see it: a declaration at the start of a line becomes a
         * `var` (functions in a sloppy block are global already).
         */
        for (const char *p = body; *p;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
            if (strncmp(p, "let ", 4) == 0) {
                sb_str(&b, "var ");
                sb_add(&b, p + 4, n - 4);
            } else if (strncmp(p, "const ", 6) == 0) {
                sb_str(&b, "var   ");
                sb_add(&b, p + 6, n - 6);
            } else {
                sb_add(&b, p, n);
            }
            p += n;
        }
    }
    free(part[f->nscripts]);
    if (f->strict)
        sb_str(&b, "\n}).call(globalThis); } catch (e) { __wpt.threw(e); }\n");
    else
        sb_str(&b, "\n} catch (e) { __wpt.threw(e); }\n");
    mark_part(s, &b, "(wpt_glue.js [end])");
    sb_str(&b, R.sec_end);
    *len = b.len;
    return b.p;
}

/* Runs the next file on slot s, or stops the reactors once every file has finished. */
static void slot_next(slot_t *s)
{
    for (;;) {
        if (s->f) {
            s->f->ran = true;
            s->f = NULL;
            if (atomic_fetch_add(&R.finished, 1) + 1 == R.to_run) {
                ic_reactor_stop();
                return;
            }
        }
        if (atomic_load(&R.stopping))
            return;
        unsigned i = atomic_fetch_add(&R.next, 1);
        if (i >= R.to_run)
            return;
        wpt_file_t *f = &R.f[R.order[i]];
        s->f = f;
        s->step = 0;
        s->t0 = now_ms();
        size_t len = 0;
        char *src = build_source(s, f, &len);
        if (!src)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", R.wpt, f->path);
        ic_js_tenant_config_t cfg;
        ic_js_tenant_config_init(&cfg);
        cfg.name = f->id;
        cfg.path = path;
        cfg.src = src;
        cfg.len = len;
        cfg.kind = IC_JS_SCRIPT;
        cfg.limits.cpu_ms = (unsigned)(R.cpu_ms * (R.mult > 1 ? R.mult : 1));
        cfg.limits.wall_ms = R.wall_ms ? R.wall_ms : (unsigned)((f->long_timeout ? 120000.0 : 60000.0) * R.mult);
        cfg.limits.heap_bytes = (size_t)256 << 20;
        cfg.limits.buffer_bytes = (size_t)256 << 20;
        int ret = ic_js_tenant_new(&cfg, &s->tenant);
        free(src);
        if (ret < 0) {
            set_error(f, "cannot make the tenant: %s", ic_strerror(ret));
            f->ms = now_ms() - s->t0;
            continue;
        }
        char err[2048];
        ret = ic_js_worker_new(s->tenant, &s->w, err, sizeof(err));
        if (ret < 0) {
            char why[2300];
            snprintf(why, sizeof(why), "%s: %s", ic_strerror(ret), err);
            set_error(f, "the worker did not load (%s)", why);
            f->error = one_line(map_lines(s, f->error));
            ic_js_tenant_free(s->tenant);
            s->tenant = NULL;
            s->w = NULL;
            f->ms = now_ms() - s->t0;
            continue;
        }
        ask(s, "/results");
        return;
    }
}

static slot_t *slots;   /* R.per_reactor per reactor */
static unsigned nslots; /* all of them */

static void on_start(void *arg)
{
    (void)arg;
    unsigned id = (unsigned)ic_reactor_id();
    for (unsigned k = 0; k < R.per_reactor; k++) {
        slot_t *s = &slots[id * R.per_reactor + k];
        slot_next(s);
    }
}

/* A stop before every file finished (a signal): what is still running is freed here. */
static void on_stop(void *arg)
{
    (void)arg;
    if (atomic_load(&R.finished) < R.to_run)
        atomic_store(&R.stopping, true); /* a signal, not the end */
    unsigned id = (unsigned)ic_reactor_id();
    for (unsigned k = 0; k < R.per_reactor; k++) {
        slot_t *s = &slots[id * R.per_reactor + k];
        ic_js_worker_free(s->w);
        s->w = NULL;
        ic_js_tenant_free(s->tenant);
        s->tenant = NULL;
        free(s->body);
        s->body = NULL;
    }
}

/* Runs the files R.order[0, R.to_run) on `reactors` reactors. Returns 0 or what ic_reactor_run returned. */
static int run_files(unsigned reactors)
{
    atomic_store(&R.next, 0);
    atomic_store(&R.finished, 0);
    if (reactors > R.to_run)
        reactors = R.to_run;
    nslots = reactors * R.per_reactor;
    slots = xcalloc(nslots, sizeof(slot_t));
    ic_reactor_config_t cfg;
    ic_reactor_config_init(&cfg);
    cfg.cores = reactors;
    cfg.quiet = true;
    cfg.handle_signals = true;
    cfg.on_start = on_start;
    cfg.on_stop = on_stop;
    int ret = ic_reactor_run(&cfg);
    free(slots);
    slots = NULL;
    return ret;
}

/* Did f run into a timeout (the harness's, a subtest's, or the runner's wall-clock limit)? */
static bool mismatches(const wpt_file_t *f);
static void hash_build(void);

static bool timed_out(const wpt_file_t *f)
{
    if (f->cut || f->harness == 2)
        return true;
    for (unsigned j = 0; j < f->nsubs; j++)
        if (f->subs[j].status == 2)
            return true;
    return false;
}

/* Forgets f's results, for another run. */
static void reset_results(wpt_file_t *f)
{
    free(f->error);
    free(f->harness_msg);
    for (unsigned j = 0; j < f->nsubs; j++) {
        free(f->subs[j].name);
        free(f->subs[j].message);
    }
    free(f->subs);
    f->error = f->harness_msg = NULL;
    f->subs = NULL;
    f->nsubs = 0;
    f->harness = 0;
    f->ran = f->cut = false;
}

/* ---- checking against the expectations ------------------------------------------------------ */

/* One result as the expectations see it: duplicates of a name merged (failed if any failed). */
typedef struct verdict {
    const char *name;
    int status; /* of the first failing instance, or PASS */
    const char *message;
} verdict_t;

static int cmp_verdict(const void *a, const void *b)
{
    return strcmp(((const verdict_t *)a)->name, ((const verdict_t *)b)->name);
}

/* The verdicts of file f, sorted by name, pseudo-subtests included; *n gets their number. Free the array. */
static verdict_t *verdicts(const wpt_file_t *f, unsigned *n)
{
    verdict_t *v = xcalloc(f->nsubs + 2, sizeof(verdict_t));
    unsigned k = 0;
    for (unsigned i = 0; i < f->nsubs; i++)
        v[k++] = (verdict_t){f->subs[i].name, f->subs[i].status, f->subs[i].message};
    if (f->error)
        v[k++] = (verdict_t){SUB_FILE, 1, f->error};
    if (f->harness != 0 && !f->cut)
        v[k++] = (verdict_t){SUB_HARNESS, 1, f->harness_msg ? f->harness_msg : HARNESS_STATUS[f->harness & 3]};
    qsort(v, k, sizeof(verdict_t), cmp_verdict);
    unsigned out = 0;
    for (unsigned i = 0; i < k; i++) {
        if (out && strcmp(v[out - 1].name, v[i].name) == 0) {
            if (v[out - 1].status == 0 && v[i].status != 0)
                v[out - 1] = v[i];
            continue;
        }
        v[out++] = v[i];
    }
    *n = out;
    return v;
}

/* A hash of the fail/flaky entries by (file, subtest). */
static struct {
    unsigned *slot; /* index + 1 into X.e; 0 = empty */
    unsigned mask;
} H;

static uint64_t hash2(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ull;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (; *b; b++)
        h = (h ^ (unsigned char)*b) * 1099511628211ull;
    return h;
}

static void hash_build(void)
{
    unsigned size = 1024;
    while (size < X.n * 2)
        size *= 2;
    free(H.slot);
    H.slot = xcalloc(size, sizeof(unsigned));
    H.mask = size - 1;
    for (unsigned i = 0; i < X.n; i++) {
        if (X.e[i].kind != EXP_FAIL && X.e[i].kind != EXP_FLAKY)
            continue;
        unsigned h = (unsigned)hash2(X.e[i].path, X.e[i].sub) & H.mask;
        while (H.slot[h])
            h = (h + 1) & H.mask;
        H.slot[h] = i + 1;
    }
}

static exp_t *hash_get(const char *file, const char *sub)
{
    unsigned h = (unsigned)hash2(file, sub) & H.mask;
    for (; H.slot[h]; h = (h + 1) & H.mask) {
        exp_t *e = &X.e[H.slot[h] - 1];
        if (strcmp(e->path, file) == 0 && strcmp(e->sub, sub) == 0)
            return e;
    }
    return NULL;
}

static struct {
    unsigned unexpected_fail, unexpected_pass, stale, known;
} C;

static const char *status_name(int s)
{
    return s >= 0 && s <= 4 ? STATUS[s] : "?";
}

/* Compares the results with the expectations; prints every mismatch to out. */
/* Does any result of f differ from the expectations (flaky ones aside)? */
static bool mismatches(const wpt_file_t *f)
{
    unsigned n;
    verdict_t *v = verdicts(f, &n);
    exp_t *star = hash_get(f->id, "*");
    bool differ = false;
    for (unsigned j = 0; j < n && !differ; j++) {
        exp_t *e = hash_get(f->id, v[j].name);
        exp_t *cover = e ? e : star;
        if (cover && cover->kind == EXP_FLAKY)
            continue;
        differ = (v[j].status != 0) != (cover != NULL);
    }
    free(v);
    return differ;
}

static void check(FILE *out, const char *exp_path, json_t *jlist)
{
    hash_build();
    for (unsigned i = 0; i < R.n; i++) {
        wpt_file_t *f = &R.f[i];
        if (f->skip || !f->ran)
            continue;
        unsigned n;
        verdict_t *v = verdicts(f, &n);
        exp_t *star = hash_get(f->id, "*");
        if (star)
            star->seen = true;
        unsigned shown = 0, hidden = 0; /* per file, past CHECK_LINES only with -v */
        for (unsigned j = 0; j < n; j++) {
            exp_t *e = hash_get(f->id, v[j].name);
            exp_t *cover = e ? e : star;
            bool failed = v[j].status != 0;
            if (e)
                e->seen = true;
            if (cover && cover->kind == EXP_FLAKY)
                continue;
            if (failed && cover) {
                C.known++;
                continue;
            }
            if (!failed && !cover)
                continue;
            if (shown >= CHECK_LINES && !R.verbose) {
                if (jlist)
                    json_array_append_new(jlist, json_pack("{ssssssssss?}", "kind", failed ? "unexpected_fail" : "unexpected_pass",
                                                           "file", f->id, "subtest", v[j].name, "status", status_name(v[j].status),
                                                           "message", v[j].message));
                hidden++;
                C.unexpected_fail += failed;
                C.unexpected_pass += !failed;
                continue;
            }
            if (jlist)
                json_array_append_new(jlist, json_pack("{ssssssssss?}", "kind", failed ? "unexpected_fail" : "unexpected_pass",
                                                       "file", f->id, "subtest", v[j].name, "status", status_name(v[j].status),
                                                       "message", v[j].message));
            shown++;
            if (failed) {
                C.unexpected_fail++;
                fprintf(out, "UNEXPECTED FAIL  %s :: %s  [%s] %s\n", f->id, v[j].name, status_name(v[j].status),
                        v[j].message ? v[j].message : "");
            } else if (e) {
                C.unexpected_pass++;
                fprintf(out, "UNEXPECTED PASS  %s :: %s  (listed as failing: \"%s\")\n", f->id, v[j].name, e->reason);
            } else if (star) {
                C.unexpected_pass++;
                fprintf(out, "UNEXPECTED PASS  %s :: %s  (the file is listed with \"*\": every subtest fails)\n", f->id, v[j].name);
            }
        }
        if (hidden)
            fprintf(out, "... and %u more unexpected results in %s (-v shows them all)\n", hidden, f->id);
        free(v);
    }
    bool ran_any = false;
    for (unsigned i = 0; i < X.n; i++) {
        exp_t *e = &X.e[i];
        if ((e->kind != EXP_FAIL && e->kind != EXP_FLAKY) || e->seen)
            continue;
        for (unsigned j = 0; j < R.n && !ran_any; j++)
            ran_any = R.f[j].ran && strcmp(R.f[j].id, e->path) == 0;
        if (ran_any && C.stale++ >= CHECK_LINES && !R.verbose) {
            ran_any = false;
            continue;
        }
        if (ran_any) {
            fprintf(out, "note: listed but not seen in this run (renamed, or the file stopped early?): %s :: %s\n", e->path,
                    e->sub);
        }
        ran_any = false;
    }
    if (C.stale > CHECK_LINES && !R.verbose)
        fprintf(out, "note: ... and %u more listed but not seen (-v shows them all)\n", C.stale - CHECK_LINES);
    if (C.unexpected_pass)
        fprintf(out, "%u listed subtest(s) pass now: remove them from %s (or run wpt_run --update): the figure can only go up.\n",
                C.unexpected_pass, exp_path);
    if (C.unexpected_fail)
        fprintf(out,
                "%u subtest(s) fail that %s does not list: fix them, or list them with a reason (wpt_run --update adds them "
                "as \"%s\").\n",
                C.unexpected_fail, exp_path, PLACEHOLDER);
}

/* ---- --update: rewriting the failing list --------------------------------------------------- */

static void put_line(FILE *out, json_t *a)
{
    char *s = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
    /* json_dumps writes [a,b]; a space after each comma keeps the file easy to read. */
    bool in_str = false, esc = false;
    for (char *p = s; p && *p; p++) {
        fputc(*p, out);
        if (esc) {
            esc = false;
        } else if (*p == '\\') {
            esc = true;
        } else if (*p == '"') {
            in_str = !in_str;
        } else if (*p == ',' && !in_str) {
            fputc(' ', out);
        }
    }
    fputc('\n', out);
    free(s);
    json_decref(a);
}

typedef struct fline {
    const char *group, *file, *sub, *reason;
    exp_kind_t kind;
} fline_t;

static int cmp_fline(const void *a, const void *b)
{
    const fline_t *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    if (!c)
        c = strcmp(x->file, y->file);
    if (!c)
        c = strcmp(x->sub, y->sub);
    return c;
}

static int cmp_skip(const void *a, const void *b)
{
    return strcmp((*(exp_t *const *)a)->path, (*(exp_t *const *)b)->path);
}

static bool file_ran(const char *id)
{
    for (unsigned i = 0; i < R.n; i++)
        if (R.f[i].ran && strcmp(R.f[i].id, id) == 0)
            return true;
    return false;
}

static bool file_known(const char *id)
{
    for (unsigned i = 0; i < R.n; i++)
        if (strcmp(R.f[i].id, id) == 0)
            return true;
    return false;
}

static int update(const char *exp_path)
{
    hash_build();
    fline_t *lines = NULL;
    unsigned n = 0, cap = 0;
#define PUSH(...)                                                                                                                  \
    do {                                                                                                                           \
        if (n == cap) {                                                                                                            \
            cap = cap ? cap * 2 : 1024;                                                                                            \
            lines = realloc(lines, cap * sizeof(fline_t));                                                                         \
            if (!lines)                                                                                                            \
                exit(2);                                                                                                           \
        }                                                                                                                          \
        lines[n++] = (fline_t){__VA_ARGS__};                                                                                       \
    } while (0)
    char group[4096];
    /* Entries of files that did not run this time, and every flaky entry, stay as they are. */
    char **groups = xcalloc(X.n, sizeof(char *));
    for (unsigned i = 0; i < X.n; i++) {
        exp_t *e = &X.e[i];
        if (e->kind != EXP_FAIL && e->kind != EXP_FLAKY)
            continue;
        if (e->kind == EXP_FAIL && file_ran(e->path))
            continue;
        if (R.full && !file_known(e->path))
            continue; /* the file is gone (or no longer applies) */
        group_of(e->path, group, sizeof(group));
        groups[i] = xstrdup(group);
        PUSH(groups[i], e->path, e->sub, e->reason, e->kind);
    }
    verdict_t **vs = xcalloc(R.n, sizeof(verdict_t *));
    for (unsigned i = 0; i < R.n; i++) {
        wpt_file_t *f = &R.f[i];
        if (f->skip || !f->ran)
            continue;
        unsigned nv;
        vs[i] = verdicts(f, &nv);
        unsigned nfail = 0;
        const char *common = NULL;
        bool mixed = false;
        for (unsigned j = 0; j < nv; j++) {
            if (vs[i][j].status == 0)
                continue;
            nfail++;
            exp_t *e = hash_get(f->id, vs[i][j].name);
            if (e && e->kind == EXP_FAIL) {
                if (common && strcmp(common, e->reason) != 0)
                    mixed = true;
                common = e->reason;
            }
        }
        if (nfail == 0)
            continue;
        exp_t *star = hash_get(f->id, "*");
        /* One "*" line for a file whose subtests all fail: when it had one, when they are many, when it did not load. */
        bool only_file = nv == 1 && strcmp(vs[i][0].name, SUB_FILE) == 0;
        if (nfail == nv && (star || nv >= STAR_MIN || only_file)) {
            const char *reason = star ? star->reason : (common && !mixed) ? common : PLACEHOLDER;
            PUSH(f->group, f->id, "*", reason, EXP_FAIL);
            continue;
        }
        for (unsigned j = 0; j < nv; j++) {
            if (vs[i][j].status == 0)
                continue;
            exp_t *e = hash_get(f->id, vs[i][j].name);
            if (e && e->kind == EXP_FLAKY)
                continue; /* kept above */
            PUSH(f->group, f->id, vs[i][j].name, e ? e->reason : PLACEHOLDER, EXP_FAIL);
        }
    }
#undef PUSH
    if (n)
        qsort(lines, n, sizeof(fline_t), cmp_fline);
    char tmp[8192];
    snprintf(tmp, sizeof(tmp), "%s.tmp", exp_path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fprintf(stderr, "wpt_run: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    fprintf(out,
            "# WPT expectations of tests/js/wpt_run (ctest js/wpt); see docs/wpt.md. One JSON array a line:\n"
            "#   [\"dir\", d]                      a directory the full run covers\n"
            "#   [\"skip\", path, reason]          a file (or a directory, ending in /) that is not run, and why\n"
            "#   [\"serve\", path, reason]         a data file fetch() gets (as from the WPT server) in the tests that name it\n"
            "#   [\"fail\", file, subtest, reason] a subtest known to fail; \"*\": every subtest of the file;\n"
            "#                                   \"[file]\": the file did not load or run to its end;\n"
            "#                                   \"[harness]\": the harness status was not OK\n"
            "#   [\"flaky\", file, subtest, reason] either result is accepted\n"
            "# `wpt_run --update` rewrites the fail lines from a run (keeping their reasons; new ones get \"%s\").\n"
            "# The figure can only go up: a listed subtest that passes fails the test until its line is removed.\n",
            PLACEHOLDER);
    fprintf(out, "\n# ---- directories\n");
    for (unsigned i = 0; i < X.n; i++)
        if (X.e[i].kind == EXP_DIR)
            put_line(out, json_pack("[ss]", "dir", X.e[i].path));
    exp_t **skips = xcalloc(X.n, sizeof(exp_t *));
    unsigned ns = 0;
    for (unsigned i = 0; i < X.n; i++)
        if (X.e[i].kind == EXP_SKIP)
            skips[ns++] = &X.e[i];
    if (ns)
        qsort(skips, ns, sizeof(exp_t *), cmp_skip);
    fprintf(out, "\n# ---- served\n");
    for (unsigned i = 0; i < X.n; i++)
        if (X.e[i].kind == EXP_SERVE)
            put_line(out, json_pack("[sss]", "serve", X.e[i].path, X.e[i].reason));
    fprintf(out, "\n# ---- skipped\n");
    for (unsigned i = 0; i < ns; i++)
        put_line(out, json_pack("[sss]", "skip", skips[i]->path, skips[i]->reason));
    free(skips);
    const char *last = NULL;
    for (unsigned i = 0; i < n; i++) {
        if (!last || strcmp(last, lines[i].group) != 0) {
            fprintf(out, "\n# ---- %s\n", lines[i].group[0] ? lines[i].group : ".");
            last = lines[i].group;
        }
        put_line(out,
                 json_pack("[ssss]", lines[i].kind == EXP_FLAKY ? "flaky" : "fail", lines[i].file, lines[i].sub, lines[i].reason));
    }
    int ret = 0;
    if (fclose(out) != 0 || rename(tmp, exp_path) != 0) {
        fprintf(stderr, "wpt_run: cannot write %s: %s\n", exp_path, strerror(errno));
        ret = -1;
    } else {
        fprintf(stderr, "wpt_run: wrote %s (%u fail/flaky lines)\n", exp_path, n);
    }
    for (unsigned i = 0; i < R.n; i++)
        free(vs[i]);
    free(vs);
    for (unsigned i = 0; i < X.n; i++)
        free(groups[i]);
    free(groups);
    free(lines);
    return ret;
}

/* ---- the report ------------------------------------------------------------------------------ */

typedef struct gstat {
    const char *group;
    unsigned passed, total, run, skipped, errored;
} gstat_t;

static void report(FILE *out, double total_ms, json_t *jout)
{
    gstat_t *g = xcalloc(R.n + 1, sizeof(gstat_t));
    unsigned ng = 0;
    for (unsigned i = 0; i < R.n; i++) {
        wpt_file_t *f = &R.f[i];
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
    for (unsigned i = 0; i < R.n; i++)
        if (R.f[i].ran && R.f[i].ms > slowest) {
            slowest = R.f[i].ms;
            slow_id = R.f[i].id;
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
        fprintf(out, "  %-7s %s%s%s\n", status_name(f->subs[j].status), f->subs[j].name, f->subs[j].message ? ": " : "",
                f->subs[j].message ? f->subs[j].message : "");
}

static json_t *file_json(const wpt_file_t *f)
{
    json_t *subs = json_array();
    for (unsigned j = 0; j < f->nsubs; j++)
        json_array_append_new(subs, json_pack("{ssssss?}", "name", f->subs[j].name, "status", status_name(f->subs[j].status),
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
    char *text = read_all(path, NULL);
    if (!text) {
        fprintf(stderr, "wpt_run: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    const char *names[] = {"//// before\n", "//// after\n", "//// end\n"};
    char **dst[] = {&R.sec_before, &R.sec_after, &R.sec_end};
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
        *dst[i] = xcalloc(1, n + 1);
        memcpy(*dst[i], start, n);
    }
    free(text);
    return 0;
}

/* path as given on the command line → a path under the WPT folder (no ./, no trailing /); false if outside. */
static bool normalize(const char *arg, const char *wpt_real, char *out, size_t outlen)
{
    char cand[8192];
    snprintf(cand, sizeof(cand), "%s/%s", R.wpt, arg);
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
    R.wpt = wpt_default;
    R.cpu_ms = 3000;
    R.per_reactor = 4;
    R.mult = getenv("ISOCORE_SANITIZE") && *getenv("ISOCORE_SANITIZE") ? 2.0 : 1.0;
    unsigned reactors = 2;
    bool json_out = false, do_update = false, no_skip = false, rerun = true;
    const char *harness_file = NULL;
    const char **paths = xcalloc((size_t)argc, sizeof(char *));
    unsigned npaths = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            free(paths);
            return 0;
        } else if (strcmp(a, "-v") == 0) {
            R.verbose = true;
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
            R.wpt = argv[++i];
        } else if (strcmp(a, "-j") == 0 && has_value) {
            reactors = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--per-reactor") == 0 && has_value) {
            R.per_reactor = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--cpu-ms") == 0 && has_value) {
            R.cpu_ms = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--timeout-multiplier") == 0 && has_value) {
            R.mult = atof(argv[++i]);
        } else if (strcmp(a, "--wall-ms") == 0 && has_value) {
            R.wall_ms = (unsigned)atoi(argv[++i]);
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
    if (reactors < 1 || reactors > 64 || R.per_reactor < 1 || R.per_reactor > 64 || R.cpu_ms < 10 || !(R.mult > 0)) {
        fprintf(stderr, "wpt_run: -j, --per-reactor, --cpu-ms or --timeout-multiplier out of range\n");
        free(paths);
        return 2;
    }
    char harness_path[8192], wpt_real[4096];
    snprintf(harness_path, sizeof(harness_path), "%s/resources/testharness.js", R.wpt);
    if (harness_file)
        snprintf(harness_path, sizeof(harness_path), "%s", harness_file);
    R.harness_src = read_all(harness_path, NULL);
    if (!R.harness_src && !harness_file && R.wpt != wpt_default) {
        /* A folder of other tests (the self-test's) uses the harness of the WPT copy. */
        snprintf(harness_path, sizeof(harness_path), "%s/resources/testharness.js", wpt_default);
        R.harness_src = read_all(harness_path, NULL);
    }
    if (!R.harness_src || !realpath(R.wpt, wpt_real)) {
        fprintf(stderr,
                "wpt_run: the WPT folder is not at %s (no %s there). It is ../shared/testdata/wpt\n"
                "from the source tree (ISOCORE_SRC=%s); give another with --wpt DIR or ISOCORE_WPT.\n",
                R.wpt, harness_path, src);
        free(R.harness_src);
        free(paths);
        return 2;
    }
    R.wpt = wpt_real; /* the runtime names scripts by their real path */
    int rc = 2;
    if (load_glue(glue_path) < 0 || exp_load(exp_path) < 0)
        goto out;

    char rel[4096], group[4096];
    R.full = npaths == 0;
    if (npaths == 0) {
        for (unsigned i = 0; i < X.n; i++)
            if (X.e[i].kind == EXP_DIR)
                scan_dir(X.e[i].path, X.e[i].path);
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
            fprintf(stderr, "wpt_run: %s is not a file or directory under the WPT folder %s\n", paths[i], R.wpt);
            goto out;
        }
        group_of(rel, group, sizeof(group));
        char abs[8192];
        snprintf(abs, sizeof(abs), "%s/%s", R.wpt, rel);
        struct stat st;
        unsigned before = R.n;
        if (stat(abs, &st) == 0 && S_ISDIR(st.st_mode)) {
            scan_dir(rel, group);
        } else {
            scan_file(rel, group);
        }
        if (variant[0]) {
            unsigned k = before;
            for (unsigned j = before; j < R.n; j++) {
                if (strcmp(R.f[j].variant, variant) == 0)
                    R.f[k++] = R.f[j];
                else
                    free_file(&R.f[j]);
            }
            R.n = k;
        }
    }
    R.order = xcalloc(R.n, sizeof(unsigned));
    for (unsigned i = 0; i < R.n; i++) {
        if (no_skip)
            R.f[i].skip = NULL;
        if (!R.f[i].skip)
            R.order[R.to_run++] = i;
    }

    double t0 = now_ms();
    if (R.to_run) {
        if (ic_js_platform_init() != 0) {
            fprintf(stderr, "wpt_run: cannot initialise V8\n");
            goto out;
        }
        if (!R.verbose)
            ic_log_set_level(IC_LOG_ERROR); /* console.log of the tests only with -v */
        int ret = run_files(reactors);
        /*
         * A file that timed out while the reactors were busy with the others
         * (a long top level delays every timer of its reactor) runs again,
         * with only the other such files beside it: most of them only wait.
         */
        unsigned again = 0;
        hash_build();
        for (unsigned i = 0; ret == 0 && rerun && !atomic_load(&R.stopping) && i < R.to_run; i++) {
            /*
             * Checking: a file whose results differ from the expectations runs
             * again (a timeout they list, a file that always hangs, is not worth
             * another round). --update: a file that timed out.
             */
            wpt_file_t *f = &R.f[R.order[i]];
            if (do_update ? timed_out(f) : mismatches(f))
                R.order[again++] = R.order[i];
        }
        if (again) {
            double t1 = now_ms();
            for (unsigned i = 0; i < again; i++) {
                reset_results(&R.f[R.order[i]]);
                R.f[R.order[i]].rerun = true;
            }
            R.to_run = again;
            ret = run_files(reactors);
            FILE *o = json_out ? stderr : stdout;
            fprintf(o, "WPT: %u files %s in the busy first round, run again beside only each other (%.1f s):", again,
                    do_update ? "timed out" : "differed from the expectations", (now_ms() - t1) / 1000.0);
            for (unsigned i = 0; i < again && i < 10; i++)
                fprintf(o, " %s", R.f[R.order[i]].id);
            fprintf(o, "%s\n", again > 10 ? " ..." : "");
        }
        if (ret != 0) {
            fprintf(stderr, "wpt_run: the reactors did not run: %s\n", ic_strerror(ret));
            ic_js_platform_shutdown();
            goto out;
        }
        ic_js_platform_shutdown();
    }
    double total_ms = now_ms() - t0;

    FILE *out = json_out ? stderr : stdout;
    if (R.verbose)
        for (unsigned i = 0; i < R.n; i++)
            print_file(out, &R.f[i]);
    json_t *jout = json_out ? json_object() : NULL;
    report(out, total_ms, jout);
    if (do_update) {
        rc = update(exp_path) == 0 ? 0 : 2;
    } else {
        json_t *jlist = jout ? json_array() : NULL;
        check(out, exp_path, jlist);
        if (jout)
            json_object_set_new(jout, "unexpected", jlist);
        unsigned stopped = 0;
        for (unsigned i = 0; i < R.n; i++)
            stopped += !R.f[i].skip && !R.f[i].ran;
        if (stopped)
            fprintf(out, "wpt_run: %u files did not run (stopped early)\n", stopped);
        rc = C.unexpected_fail || C.unexpected_pass || stopped ? 1 : 0;
        fprintf(out, "WPT expectations: %s (%u unexpected failures, %u unexpected passes, %u known failures)\n",
                rc ? "MISMATCH" : "OK", C.unexpected_fail, C.unexpected_pass, C.known);
    }
    if (jout) {
        json_t *files = json_array();
        for (unsigned i = 0; i < R.n; i++)
            json_array_append_new(files, file_json(&R.f[i]));
        json_object_set_new(jout, "files", files);
        json_object_set_new(jout, "unexpected_fail", json_integer(C.unexpected_fail));
        json_object_set_new(jout, "unexpected_pass", json_integer(C.unexpected_pass));
        json_dumpf(jout, stdout, JSON_INDENT(1));
        fputc('\n', stdout);
        json_decref(jout);
    }
out:
    free(R.harness_src);
    free(R.sec_before);
    free(R.sec_after);
    free(R.sec_end);
    free(H.slot);
    free_files();
    exp_free();
    free(paths);
    return rc;
}
