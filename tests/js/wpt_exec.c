/*
 * wpt_exec.c: running the WPT files on reactors, several at a time on each,
 * each in a fresh worker (see wpt_run.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wpt.h"

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
    f->error = wpt_calloc(1, n);
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
    f->harness_msg = hm ? wpt_strdup(hm) : NULL;
    f->cut = json_is_true(json_object_get(j, "cut"));
    f->nsubs = (unsigned)json_array_size(tests);
    f->subs = wpt_calloc(f->nsubs, sizeof(subtest_t));
    for (unsigned i = 0; i < f->nsubs; i++) {
        json_t *t = json_array_get(tests, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *msg = json_string_value(json_object_get(t, "message"));
        f->subs[i].name = wpt_strdup(name ? name : "(no name)");
        f->subs[i].status = (int)json_integer_value(json_object_get(t, "status"));
        f->subs[i].message = msg ? wpt_strdup(msg) : NULL;
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
            snprintf(why, sizeof(why), "%.0f s", (wpt_now_ms() - s->t0) / 1000.0);
            set_error(f, "cut by the runner's wall-clock limit after %s (unfinished subtests count as TIMEOUT)", why);
        } else if (!f->error) {
            set_error(f, "the file did not complete within the wall-clock limit, and the worker answered nothing%s", NULL);
        }
        s->step = 2;
    }
    free(s->body);
    s->body = NULL;
    f->ms = wpt_now_ms() - s->t0;
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
        wpt_sb_add(&b, p, (size_t)(at - p));
        p = at + n;
        if (*p != ':' || p[1] < '0' || p[1] > '9') {
            wpt_sb_str(&b, s->script);
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
        wpt_sb_str(&b, buf);
        p = end;
    }
    wpt_sb_str(&b, p);
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
    wpt_sb_str(b, q ? q : "\"\"");
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
        snprintf(full, sizeof(full), "%s/%s", wpt.wpt, rel);
        part[i] = wpt_read_all(full, NULL);
        if (!part[i]) {
            set_error(f, i < f->nscripts ? "the META script %s cannot be read" : "the test file %s cannot be read", rel);
            for (unsigned j = 0; j < nread; j++)
                free(part[j]);
            return NULL;
        }
        nread++;
    }
    sbuf_t served = {0};
    for (unsigned i = 0; i < wpt_exp.n; i++) {
        if (wpt_exp.e[i].kind != EXP_SERVE)
            continue;
        const char *base = strrchr(wpt_exp.e[i].path, '/');
        base = base ? base + 1 : wpt_exp.e[i].path;
        bool named = false;
        for (unsigned j = 0; j <= f->nscripts && !named; j++)
            named = strstr(part[j], base) != NULL;
        if (!named)
            continue;
        snprintf(full, sizeof(full), "%s/%s", wpt.wpt, wpt_exp.e[i].path);
        size_t dlen;
        char *data = wpt_read_all(full, &dlen);
        if (!data)
            continue;
        char key[4096];
        snprintf(key, sizeof(key), "/%s", wpt_exp.e[i].path);
        wpt_sb_str(&served, served.len ? ", " : "{ ");
        sb_json_string(&served, key, strlen(key));
        wpt_sb_str(&served, ": ");
        sb_json_string(&served, data, dlen);
        free(data);
    }
    if (served.len)
        wpt_sb_str(&served, " }");

    sbuf_t b = {0};
    s->nparts = 0;
    snprintf(s->script, sizeof(s->script), "%s/%s", wpt.wpt, f->path);
    mark_part(s, &b, "(wpt_glue.js [before])");
    /* [before], with its parameters. */
    char *loc_path = wpt_strdup(f->path);
    char *dot = strstr(loc_path, ".any.js");
    if (dot)
        *dot = '\0';
    char url[4096], harness_ms[32];
    snprintf(url, sizeof(url), "http://web-platform.test:8000/%s.any.worker.js%s", loc_path, f->variant);
    free(loc_path);
    snprintf(harness_ms, sizeof(harness_ms), "%.0f", (f->long_timeout ? 60000.0 : 10000.0) * wpt.mult);
    for (const char *p = wpt.sec_before; *p;) {
        const char *at = strchr(p, '@');
        if (!at) {
            wpt_sb_str(&b, p);
            break;
        }
        wpt_sb_add(&b, p, (size_t)(at - p));
        if (strncmp(at, "@LOCATION@", 10) == 0) {
            sb_json_string(&b, url, strlen(url));
            p = at + 10;
        } else if (strncmp(at, "@HARNESS_MS@", 12) == 0) {
            wpt_sb_str(&b, harness_ms);
            p = at + 12;
        } else if (strncmp(at, "@SERVED@", 8) == 0) {
            wpt_sb_str(&b, served.len ? served.p : "null");
            p = at + 8;
        } else {
            wpt_sb_add(&b, at, 1);
            p = at + 1;
        }
    }
    free(served.p);
    wpt_sb_str(&b, "\n");
    mark_part(s, &b, "resources/testharness.js");
    wpt_sb_str(&b, wpt.harness_src);
    wpt_sb_str(&b, "\n;\n");
    mark_part(s, &b, "(wpt_glue.js [after])");
    wpt_sb_str(&b, wpt.sec_after);
    wpt_sb_str(&b, "\n");
    for (unsigned i = 0; i < f->nscripts; i++) {
        mark_part(s, &b, f->scripts[i]);
        wpt_sb_str(&b, part[i]);
        wpt_sb_str(&b, "\n;\n");
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
        wpt_sb_str(&b, "try { (function () {\n");
    else
        wpt_sb_str(&b, "try {\n");
    mark_part(s, &b, f->path);
    if (f->strict) {
        wpt_sb_str(&b, body);
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
                wpt_sb_str(&b, "var ");
                wpt_sb_add(&b, p + 4, n - 4);
            } else if (strncmp(p, "const ", 6) == 0) {
                wpt_sb_str(&b, "var   ");
                wpt_sb_add(&b, p + 6, n - 6);
            } else {
                wpt_sb_add(&b, p, n);
            }
            p += n;
        }
    }
    free(part[f->nscripts]);
    if (f->strict)
        wpt_sb_str(&b, "\n}).call(globalThis); } catch (e) { __wpt.threw(e); }\n");
    else
        wpt_sb_str(&b, "\n} catch (e) { __wpt.threw(e); }\n");
    mark_part(s, &b, "(wpt_glue.js [end])");
    wpt_sb_str(&b, wpt.sec_end);
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
            if (atomic_fetch_add(&wpt.finished, 1) + 1 == wpt.to_run) {
                ic_reactor_stop();
                return;
            }
        }
        if (atomic_load(&wpt.stopping))
            return;
        unsigned i = atomic_fetch_add(&wpt.next, 1);
        if (i >= wpt.to_run)
            return;
        wpt_file_t *f = &wpt.f[wpt.order[i]];
        s->f = f;
        s->step = 0;
        s->t0 = wpt_now_ms();
        size_t len = 0;
        char *src = build_source(s, f, &len);
        if (!src)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", wpt.wpt, f->path);
        ic_js_tenant_config_t cfg;
        ic_js_tenant_config_init(&cfg);
        cfg.name = f->id;
        cfg.path = path;
        cfg.src = src;
        cfg.len = len;
        cfg.kind = IC_JS_SCRIPT;
        cfg.limits.cpu_ms = (unsigned)(wpt.cpu_ms * (wpt.mult > 1 ? wpt.mult : 1));
        cfg.limits.wall_ms = wpt.wall_ms ? wpt.wall_ms : (unsigned)((f->long_timeout ? 120000.0 : 60000.0) * wpt.mult);
        cfg.limits.heap_bytes = (size_t)256 << 20;
        cfg.limits.buffer_bytes = (size_t)256 << 20;
        int ret = ic_js_tenant_new(&cfg, &s->tenant);
        free(src);
        if (ret < 0) {
            set_error(f, "cannot make the tenant: %s", ic_strerror(ret));
            f->ms = wpt_now_ms() - s->t0;
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
            f->ms = wpt_now_ms() - s->t0;
            continue;
        }
        ask(s, "/results");
        return;
    }
}

static slot_t *slots;   /* wpt.per_reactor per reactor */
static unsigned nslots; /* all of them */

static void on_start(void *arg)
{
    (void)arg;
    unsigned id = (unsigned)ic_reactor_id();
    for (unsigned k = 0; k < wpt.per_reactor; k++) {
        slot_t *s = &slots[id * wpt.per_reactor + k];
        slot_next(s);
    }
}

/* A stop before every file finished (a signal): what is still running is freed here. */
static void on_stop(void *arg)
{
    (void)arg;
    if (atomic_load(&wpt.finished) < wpt.to_run)
        atomic_store(&wpt.stopping, true); /* a signal, not the end */
    unsigned id = (unsigned)ic_reactor_id();
    for (unsigned k = 0; k < wpt.per_reactor; k++) {
        slot_t *s = &slots[id * wpt.per_reactor + k];
        ic_js_worker_free(s->w);
        s->w = NULL;
        ic_js_tenant_free(s->tenant);
        s->tenant = NULL;
        free(s->body);
        s->body = NULL;
    }
}

/* Runs the files wpt.order[0, wpt.to_run) on `reactors` reactors. Returns 0 or what ic_reactor_run returned. */
int wpt_run_files(unsigned reactors)
{
    atomic_store(&wpt.next, 0);
    atomic_store(&wpt.finished, 0);
    if (reactors > wpt.to_run)
        reactors = wpt.to_run;
    nslots = reactors * wpt.per_reactor;
    slots = wpt_calloc(nslots, sizeof(slot_t));
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
bool wpt_mismatches(const wpt_file_t *f);
void wpt_hash_build(void);

bool wpt_timed_out(const wpt_file_t *f)
{
    if (f->cut || f->harness == 2)
        return true;
    for (unsigned j = 0; j < f->nsubs; j++)
        if (f->subs[j].status == 2)
            return true;
    return false;
}

/* Forgets f's results, for another run. */
void wpt_reset_results(wpt_file_t *f)
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
