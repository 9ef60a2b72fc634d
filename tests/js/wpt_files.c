/*
 * wpt_files.c: the WPT runner's expectations file and the files of a run
 * (the directories scanned, META lines, variants). See wpt_run.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wpt.h"

/* ---- expectations ------------------------------------------------------------------------- */

int wpt_exp_load(const char *path)
{
    size_t len;
    char *text = wpt_read_all(path, &len);
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
        e.path = wpt_strdup(json_string_value(json_array_get(a, 1)));
        if (e.kind == EXP_SKIP || e.kind == EXP_SERVE)
            e.reason = wpt_strdup(json_string_value(json_array_get(a, 2)));
        if (e.kind == EXP_FAIL || e.kind == EXP_FLAKY) {
            e.sub = wpt_strdup(json_string_value(json_array_get(a, 2)));
            e.reason = wpt_strdup(json_string_value(json_array_get(a, 3)));
        }
        json_decref(a);
        if (wpt_exp.n == wpt_exp.cap) {
            wpt_exp.cap = wpt_exp.cap ? wpt_exp.cap * 2 : 256;
            wpt_exp.e = realloc(wpt_exp.e, wpt_exp.cap * sizeof(exp_t));
            if (!wpt_exp.e) {
                fprintf(stderr, "wpt_run: out of memory\n");
                exit(2);
            }
        }
        wpt_exp.e[wpt_exp.n++] = e;
    }
    free(text);
    return ret;
}

void wpt_exp_free(void)
{
    for (unsigned i = 0; i < wpt_exp.n; i++) {
        free(wpt_exp.e[i].path);
        free(wpt_exp.e[i].sub);
        free(wpt_exp.e[i].reason);
    }
    free(wpt_exp.e);
    memset(&wpt_exp, 0, sizeof(wpt_exp));
}

/* The reason a file (id with variant, or path) is skipped, or NULL. A skip path ending in / covers a directory. */
static const char *exp_skip(const char *id, const char *path)
{
    for (unsigned i = 0; i < wpt_exp.n; i++) {
        exp_t *e = &wpt_exp.e[i];
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

static void add_file(const char *path, const char *variant, const char *group)
{
    if (wpt.n == wpt.cap) {
        wpt.cap = wpt.cap ? wpt.cap * 2 : 512;
        wpt.f = realloc(wpt.f, wpt.cap * sizeof(wpt_file_t));
        if (!wpt.f) {
            fprintf(stderr, "wpt_run: out of memory\n");
            exit(2);
        }
    }
    wpt_file_t *f = &wpt.f[wpt.n++];
    memset(f, 0, sizeof(*f));
    f->path = wpt_strdup(path);
    f->variant = wpt_strdup(variant);
    size_t n = strlen(path) + strlen(variant) + 1;
    f->id = wpt_calloc(1, n);
    snprintf(f->id, n, "%s%s", path, variant);
    f->group = wpt_strdup(group);
}

void wpt_free_file(wpt_file_t *f)
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

void wpt_free_files(void)
{
    for (unsigned i = 0; i < wpt.n; i++)
        wpt_free_file(&wpt.f[i]);
    free(wpt.f);
    free(wpt.order);
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
void wpt_scan_file(const char *path, const char *group)
{
    char full[4096];
    snprintf(full, sizeof(full), "%s/%s", wpt.wpt, path);
    char *src = wpt_read_all(full, NULL);
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
            scripts[nscripts++] = wpt_strdup(s);
        } else if (strcmp(kv, "variant") == 0 && nvariants < MAX_VARIANTS) {
            variants[nvariants++] = wpt_strdup(value);
        }
    }
    bool strict = starts_strict(src);
    free(src);
    if (too_many)
        fprintf(stderr, "wpt_run: %s: more than %d META scripts, the rest are ignored\n", path, MAX_SCRIPTS);
    if (!applies) {
        add_file(path, "", group);
        wpt.f[wpt.n - 1].skip = "window-only: its META: global= names no worker scope";
    } else {
        for (unsigned v = 0; v < (nvariants ? nvariants : 1); v++) {
            add_file(path, nvariants ? variants[v] : "", group);
            wpt_file_t *f = &wpt.f[wpt.n - 1];
            f->long_timeout = long_timeout;
            f->strict = strict;
            for (unsigned i = 0; i < nscripts; i++)
                f->scripts[i] = wpt_strdup(scripts[i]);
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
void wpt_scan_dir(const char *dir, const char *group)
{
    char full[4096];
    snprintf(full, sizeof(full), "%s/%s", wpt.wpt, dir);
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
        names[n++] = wpt_strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char rel[4096], abs[8192];
        snprintf(rel, sizeof(rel), "%s%s%s", dir, dir[0] ? "/" : "", names[i]);
        snprintf(abs, sizeof(abs), "%s/%s", wpt.wpt, rel);
        struct stat st;
        if (stat(abs, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (strcmp(names[i], "resources") != 0 && strcmp(names[i], "support") != 0)
                wpt_scan_dir(rel, group);
        } else if (wpt_ends_with(names[i], ".any.js")) {
            wpt_scan_file(rel, group);
        }
        free(names[i]);
    }
    free(names);
}

/* The listed directory that covers path (the longest), or path's first component. */
void wpt_group_of(const char *path, char *out, size_t outlen)
{
    size_t best = 0;
    for (unsigned i = 0; i < wpt_exp.n; i++) {
        size_t n = strlen(wpt_exp.e[i].path);
        if (wpt_exp.e[i].kind == EXP_DIR && n > best && strncmp(wpt_exp.e[i].path, path, n) == 0 &&
            (path[n] == '/' || path[n] == '\0')) {
            best = n;
            snprintf(out, outlen, "%s", wpt_exp.e[i].path);
        }
    }
    bool root = false;
    for (unsigned i = 0; i < wpt_exp.n; i++)
        root = root || (wpt_exp.e[i].kind == EXP_DIR && wpt_exp.e[i].path[0] == '\0');
    if (!best && root) {
        out[0] = '\0';
    } else if (!best) {
        snprintf(out, outlen, "%s", path);
        char *slash = strchr(out, '/');
        if (slash)
            *slash = '\0';
    }
}
