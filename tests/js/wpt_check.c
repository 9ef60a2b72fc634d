/*
 * wpt_check.c: the WPT results against the expectations, and --update,
 * which rewrites the failing list (see wpt_run.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wpt.h"

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
    verdict_t *v = wpt_calloc(f->nsubs + 2, sizeof(verdict_t));
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
    unsigned *slot; /* index + 1 into wpt_exp.e; 0 = empty */
    unsigned mask;
} H;

void wpt_check_free(void)
{
    free(H.slot);
    H.slot = NULL;
}

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

void wpt_hash_build(void)
{
    unsigned size = 1024;
    while (size < wpt_exp.n * 2)
        size *= 2;
    free(H.slot);
    H.slot = wpt_calloc(size, sizeof(unsigned));
    H.mask = size - 1;
    for (unsigned i = 0; i < wpt_exp.n; i++) {
        if (wpt_exp.e[i].kind != EXP_FAIL && wpt_exp.e[i].kind != EXP_FLAKY)
            continue;
        unsigned h = (unsigned)hash2(wpt_exp.e[i].path, wpt_exp.e[i].sub) & H.mask;
        while (H.slot[h])
            h = (h + 1) & H.mask;
        H.slot[h] = i + 1;
    }
}

static exp_t *hash_get(const char *file, const char *sub)
{
    unsigned h = (unsigned)hash2(file, sub) & H.mask;
    for (; H.slot[h]; h = (h + 1) & H.mask) {
        exp_t *e = &wpt_exp.e[H.slot[h] - 1];
        if (strcmp(e->path, file) == 0 && strcmp(e->sub, sub) == 0)
            return e;
    }
    return NULL;
}

const char *wpt_status_name(int s)
{
    return s >= 0 && s <= 4 ? STATUS[s] : "?";
}

/* Compares the results with the expectations; prints every mismatch to out. */
/* Does any result of f differ from the expectations (flaky ones aside)? */
bool wpt_mismatches(const wpt_file_t *f)
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

void wpt_check(FILE *out, const char *exp_path, json_t *jlist)
{
    wpt_hash_build();
    for (unsigned i = 0; i < wpt.n; i++) {
        wpt_file_t *f = &wpt.f[i];
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
                wpt_counts.known++;
                continue;
            }
            if (!failed && !cover)
                continue;
            if (shown >= CHECK_LINES && !wpt.verbose) {
                if (jlist)
                    json_array_append_new(jlist, json_pack("{ssssssssss?}", "kind", failed ? "unexpected_fail" : "unexpected_pass",
                                                           "file", f->id, "subtest", v[j].name, "status",
                                                           wpt_status_name(v[j].status), "message", v[j].message));
                hidden++;
                wpt_counts.unexpected_fail += failed;
                wpt_counts.unexpected_pass += !failed;
                continue;
            }
            if (jlist)
                json_array_append_new(jlist, json_pack("{ssssssssss?}", "kind", failed ? "unexpected_fail" : "unexpected_pass",
                                                       "file", f->id, "subtest", v[j].name, "status", wpt_status_name(v[j].status),
                                                       "message", v[j].message));
            shown++;
            if (failed) {
                wpt_counts.unexpected_fail++;
                fprintf(out, "UNEXPECTED FAIL  %s :: %s  [%s] %s\n", f->id, v[j].name, wpt_status_name(v[j].status),
                        v[j].message ? v[j].message : "");
            } else if (e) {
                wpt_counts.unexpected_pass++;
                fprintf(out, "UNEXPECTED PASS  %s :: %s  (listed as failing: \"%s\")\n", f->id, v[j].name, e->reason);
            } else if (star) {
                wpt_counts.unexpected_pass++;
                fprintf(out, "UNEXPECTED PASS  %s :: %s  (the file is listed with \"*\": every subtest fails)\n", f->id, v[j].name);
            }
        }
        if (hidden)
            fprintf(out, "... and %u more unexpected results in %s (-v shows them all)\n", hidden, f->id);
        free(v);
    }
    bool ran_any = false;
    for (unsigned i = 0; i < wpt_exp.n; i++) {
        exp_t *e = &wpt_exp.e[i];
        if ((e->kind != EXP_FAIL && e->kind != EXP_FLAKY) || e->seen)
            continue;
        for (unsigned j = 0; j < wpt.n && !ran_any; j++)
            ran_any = wpt.f[j].ran && strcmp(wpt.f[j].id, e->path) == 0;
        if (ran_any && wpt_counts.stale++ >= CHECK_LINES && !wpt.verbose) {
            ran_any = false;
            continue;
        }
        if (ran_any) {
            fprintf(out, "note: listed but not seen in this run (renamed, or the file stopped early?): %s :: %s\n", e->path,
                    e->sub);
        }
        ran_any = false;
    }
    if (wpt_counts.stale > CHECK_LINES && !wpt.verbose)
        fprintf(out, "note: ... and %u more listed but not seen (-v shows them all)\n", wpt_counts.stale - CHECK_LINES);
    if (wpt_counts.unexpected_pass)
        fprintf(out, "%u listed subtest(s) pass now: remove them from %s (or run wpt_run --update): the figure can only go up.\n",
                wpt_counts.unexpected_pass, exp_path);
    if (wpt_counts.unexpected_fail)
        fprintf(out,
                "%u subtest(s) fail that %s does not list: fix them, or list them with a reason (wpt_run --update adds them "
                "as \"%s\").\n",
                wpt_counts.unexpected_fail, exp_path, PLACEHOLDER);
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
    for (unsigned i = 0; i < wpt.n; i++)
        if (wpt.f[i].ran && strcmp(wpt.f[i].id, id) == 0)
            return true;
    return false;
}

static bool file_known(const char *id)
{
    for (unsigned i = 0; i < wpt.n; i++)
        if (strcmp(wpt.f[i].id, id) == 0)
            return true;
    return false;
}

int wpt_update(const char *exp_path)
{
    wpt_hash_build();
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
    char **groups = wpt_calloc(wpt_exp.n, sizeof(char *));
    for (unsigned i = 0; i < wpt_exp.n; i++) {
        exp_t *e = &wpt_exp.e[i];
        if (e->kind != EXP_FAIL && e->kind != EXP_FLAKY)
            continue;
        if (e->kind == EXP_FAIL && file_ran(e->path))
            continue;
        if (wpt.full && !file_known(e->path))
            continue; /* the file is gone (or no longer applies) */
        wpt_group_of(e->path, group, sizeof(group));
        groups[i] = wpt_strdup(group);
        PUSH(groups[i], e->path, e->sub, e->reason, e->kind);
    }
    verdict_t **vs = wpt_calloc(wpt.n, sizeof(verdict_t *));
    for (unsigned i = 0; i < wpt.n; i++) {
        wpt_file_t *f = &wpt.f[i];
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
    for (unsigned i = 0; i < wpt_exp.n; i++)
        if (wpt_exp.e[i].kind == EXP_DIR)
            put_line(out, json_pack("[ss]", "dir", wpt_exp.e[i].path));
    exp_t **skips = wpt_calloc(wpt_exp.n, sizeof(exp_t *));
    unsigned ns = 0;
    for (unsigned i = 0; i < wpt_exp.n; i++)
        if (wpt_exp.e[i].kind == EXP_SKIP)
            skips[ns++] = &wpt_exp.e[i];
    if (ns)
        qsort(skips, ns, sizeof(exp_t *), cmp_skip);
    fprintf(out, "\n# ---- served\n");
    for (unsigned i = 0; i < wpt_exp.n; i++)
        if (wpt_exp.e[i].kind == EXP_SERVE)
            put_line(out, json_pack("[sss]", "serve", wpt_exp.e[i].path, wpt_exp.e[i].reason));
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
    for (unsigned i = 0; i < wpt.n; i++)
        free(vs[i]);
    free(vs);
    for (unsigned i = 0; i < wpt_exp.n; i++)
        free(groups[i]);
    free(groups);
    free(lines);
    return ret;
}
