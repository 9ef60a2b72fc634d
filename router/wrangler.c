/*
 * wrangler.c: a Workers project's wrangler.toml / wrangler.json /
 * wrangler.jsonc as an isocore config.
 *
 * Two readers make a jansson tree and a path → line table from the text:
 * a strict reader of the TOML subset wrangler files use (ic__toml_parse),
 * and JSONC (comments and trailing commas blanked out, then jansson). The
 * tree is checked key by key (wrangler_worker) and becomes one worker of
 * an isocore JSON config, which config.c reads as any other: the checks of
 * routes, env and services stay in one place. Each file is one worker, as
 * wrangler has it; several files make several workers in one router, the
 * first one the default for hosts no route names (as `wrangler dev`
 * serves every request with its one worker).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "router/internal.h"
#include "router/wrangler.h"

/* Key paths and messages are cut at their buffers' sizes (a 600-byte key path is no config's): truncation is intended. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* ---- the path → line table ---------------------------------------------------------------------- */

static void line_set(json_t *lines, const char *path, int line)
{
    if (!json_object_get(lines, path))
        json_object_set_new(lines, path, json_integer(line));
}

int ic__wrangler_line(json_t *lines, const char *path)
{
    char p[512];
    snprintf(p, sizeof(p), "%s", path);
    for (;;) {
        json_t *v = json_object_get(lines, p);
        if (v)
            return (int)json_integer_value(v);
        char *dot = strrchr(p, '.'), *br = strrchr(p, '[');
        char *cut = dot > br ? dot : br;
        if (!cut)
            return 1;
        *cut = '\0';
    }
}

/* ---- TOML ----------------------------------------------------------------------------------------- */

#define MAX_PARTS 8

struct tp {
    const char *name, *p, *end;
    int line;
    char *err;
    size_t errlen;
    json_t *root, *lines, *defined;
    json_t *cur;
    char curpath[512];
};

static int tfail(struct tp *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int tfail(struct tp *t, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (t->errlen)
        snprintf(t->err, t->errlen, "%s:%d: %s", t->name, t->line, msg);
    return IC_ECONFIG;
}

/* Spaces and tabs; with nl, newlines and comments too. */
static void tskip(struct tp *t, bool nl)
{
    while (t->p < t->end) {
        char c = *t->p;
        if (c == ' ' || c == '\t' || c == '\r') {
            t->p++;
        } else if (c == '#' && nl) {
            while (t->p < t->end && *t->p != '\n')
                t->p++;
        } else if (c == '\n' && nl) {
            t->line++;
            t->p++;
        } else {
            break;
        }
    }
}

/* After a key/value or a header: a comment, then the end of the line. */
static int tend_line(struct tp *t)
{
    tskip(t, false);
    if (t->p < t->end && *t->p == '#')
        while (t->p < t->end && *t->p != '\n')
            t->p++;
    if (t->p < t->end && *t->p != '\n')
        return tfail(t, "expected the end of the line, got '%c'", *t->p);
    return 0;
}

static bool bare_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Appends code point cp as UTF-8 to a growing buffer. */
static void put_utf8(char *out, size_t *n, unsigned cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | cp >> 6);
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xe0 | cp >> 12);
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xf0 | cp >> 18);
        out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/*
 * A string at t->p (its quote): basic "…" (escapes), literal '…', and
 * their multi-line forms. Returns a malloc'd string or NULL with err set.
 */
static char *tstring(struct tp *t, int *ret)
{
    char q = *t->p;
    bool multi = t->end - t->p >= 3 && t->p[1] == q && t->p[2] == q;
    t->p += multi ? 3 : 1;
    if (multi && t->p < t->end && *t->p == '\n') { /* a newline right after the quotes is not part of it */
        t->line++;
        t->p++;
    }
    char *out = malloc((size_t)(t->end - t->p) * 2 + 8);
    if (!out) {
        *ret = -ENOMEM;
        return NULL;
    }
    size_t n = 0;
    for (;;) {
        if (t->p >= t->end) {
            free(out);
            *ret = tfail(t, "a string without its closing quote");
            return NULL;
        }
        char c = *t->p;
        if (c == q && (!multi || (t->end - t->p >= 3 && t->p[1] == q && t->p[2] == q))) {
            t->p += multi ? 3 : 1;
            break;
        }
        if (c == '\n') {
            if (!multi) {
                free(out);
                *ret = tfail(t, "a string without its closing quote on its line");
                return NULL;
            }
            t->line++;
        }
        if (c == '\\' && q == '"') {
            t->p++;
            char e = t->p < t->end ? *t->p : '\0';
            unsigned digits = e == 'u' ? 4 : e == 'U' ? 8 : 0;
            const char *simple = strchr("btnfr\"\\", e);
            if (e && simple) {
                static const char map[] = "\b\t\n\f\r\"\\";
                out[n++] = map[simple - "btnfr\"\\"];
                t->p++;
            } else if (digits && t->end - t->p > digits) {
                unsigned cp = 0;
                for (unsigned i = 1; i <= digits; i++) {
                    char h = t->p[i];
                    if (!isxdigit((unsigned char)h)) {
                        free(out);
                        *ret = tfail(t, "a bad \\%c escape", e);
                        return NULL;
                    }
                    cp = cp * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
                }
                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                    free(out);
                    *ret = tfail(t, "\\%c escape of a code point that is not a character", e);
                    return NULL;
                }
                put_utf8(out, &n, cp);
                t->p += digits + 1;
            } else if (multi && (e == '\n' || e == ' ' || e == '\t' || e == '\r')) {
                /* A line-ending backslash: the newline and the whitespace after it go. */
                while (t->p < t->end && (*t->p == ' ' || *t->p == '\t' || *t->p == '\r' || *t->p == '\n')) {
                    if (*t->p == '\n')
                        t->line++;
                    t->p++;
                }
            } else {
                free(out);
                *ret = tfail(t, "unknown escape '\\%c' in a string", e ? e : ' ');
                return NULL;
            }
            continue;
        }
        out[n++] = c;
        t->p++;
    }
    out[n] = '\0';
    return out;
}

/* A key, dotted or not: its parts in parts[], their number in *n. */
static int tkey(struct tp *t, char parts[MAX_PARTS][256], int *n)
{
    *n = 0;
    for (;;) {
        tskip(t, false);
        if (*n == MAX_PARTS)
            return tfail(t, "a key of more than %d parts", MAX_PARTS);
        if (t->p < t->end && (*t->p == '"' || *t->p == '\'')) {
            if (t->end - t->p >= 3 && t->p[1] == t->p[0] && t->p[2] == t->p[0])
                return tfail(t, "a multi-line string cannot be a key");
            int ret = 0;
            char *s = tstring(t, &ret);
            if (!s)
                return ret;
            snprintf(parts[(*n)++], 256, "%s", s);
            free(s);
        } else {
            const char *s = t->p;
            while (t->p < t->end && bare_char(*t->p))
                t->p++;
            if (t->p == s)
                return tfail(t, "expected a key, got %s",
                             t->p < t->end && *t->p != '\n' ? "something else" : "the end of the line");
            snprintf(parts[(*n)++], 256, "%.*s", (int)(t->p - s), s);
        }
        tskip(t, false);
        if (t->p < t->end && *t->p == '.') {
            t->p++;
            continue;
        }
        return 0;
    }
}

static void join(char *out, size_t cap, const char *base, const char *part)
{
    snprintf(out, cap, "%s%s%s", base, *base ? "." : "", part);
}

static int tvalue(struct tp *t, const char *path, json_t **out);

/* [a, b, …] over several lines, with comments and a trailing comma. */
static int tarray(struct tp *t, const char *path, json_t **out)
{
    t->p++;
    json_t *a = json_array();
    for (;;) {
        tskip(t, true);
        if (t->p >= t->end) {
            json_decref(a);
            return tfail(t, "an array without its closing ']'");
        }
        if (*t->p == ']') {
            t->p++;
            break;
        }
        char sub[600];
        snprintf(sub, sizeof(sub), "%s[%zu]", path, json_array_size(a));
        line_set(t->lines, sub, t->line);
        json_t *v;
        int ret = tvalue(t, sub, &v);
        if (ret) {
            json_decref(a);
            return ret;
        }
        json_array_append_new(a, v);
        tskip(t, true);
        if (t->p < t->end && *t->p == ',') {
            t->p++;
        } else if (t->p < t->end && *t->p != ']') {
            json_decref(a);
            return tfail(t, "expected ',' or ']' in an array");
        }
    }
    *out = a;
    return 0;
}

static int tassign(struct tp *t, json_t *table, const char *base);

/* {k = v, …} on one line. */
static int tinline(struct tp *t, const char *path, json_t **out)
{
    t->p++;
    json_t *o = json_object();
    tskip(t, false);
    if (t->p < t->end && *t->p == '}') {
        t->p++;
        *out = o;
        return 0;
    }
    for (;;) {
        int ret = tassign(t, o, path);
        if (ret) {
            json_decref(o);
            return ret;
        }
        tskip(t, false);
        if (t->p < t->end && *t->p == ',') {
            t->p++;
            continue;
        }
        if (t->p < t->end && *t->p == '}') {
            t->p++;
            break;
        }
        json_decref(o);
        return tfail(t, "expected ',' or '}' in an inline table");
    }
    *out = o;
    return 0;
}

static int tnumber(struct tp *t, json_t **out)
{
    const char *s = t->p;
    while (t->p < t->end && (isalnum((unsigned char)*t->p) || strchr("+-._:", *t->p)))
        t->p++;
    char buf[128];
    size_t n = 0;
    bool real = false;
    for (const char *q = s; q < t->p && n + 1 < sizeof(buf); q++) {
        if (*q == ':' || (*q == '-' && q > s && isdigit((unsigned char)q[-1])))
            return tfail(t, "dates and times are not supported: quote it (\"%.*s\")", (int)(t->p - s), s);
        if (*q != '_')
            buf[n++] = *q;
    }
    buf[n] = '\0';
    bool hex = strncmp(buf, "0x", 2) == 0 || strncmp(buf, "0o", 2) == 0 || strncmp(buf, "0b", 2) == 0;
    if (!hex)
        real = strpbrk(buf, ".eE") || strstr(buf, "inf") || strstr(buf, "nan");
    char *end;
    errno = 0;
    if (real) {
        double d = strtod(buf, &end);
        if (*end || !n)
            return tfail(t, "'%s' is not a number", buf);
        *out = json_real(d);
        return 0;
    }
    int base = !hex ? 10 : buf[1] == 'x' ? 16 : buf[1] == 'o' ? 8 : 2;
    long long v = strtoll(hex ? buf + 2 : buf, &end, base);
    if (*end || !n || errno == ERANGE)
        return tfail(t, "'%s' is not an integer", buf);
    *out = json_integer(v);
    return 0;
}

static int tvalue(struct tp *t, const char *path, json_t **out)
{
    tskip(t, false);
    if (t->p >= t->end || *t->p == '\n')
        return tfail(t, "%s: expected a value", path);
    char c = *t->p;
    int ret = 0;
    if (c == '"' || c == '\'') {
        char *s = tstring(t, &ret);
        if (!s)
            return ret;
        *out = json_string(s);
        free(s);
        if (!*out)
            return tfail(t, "%s: a string that is not UTF-8", path);
        return 0;
    }
    if (c == '[')
        return tarray(t, path, out);
    if (c == '{')
        return tinline(t, path, out);
    if (t->end - t->p >= 4 && memcmp(t->p, "true", 4) == 0 && (t->end - t->p == 4 || !bare_char(t->p[4]))) {
        t->p += 4;
        *out = json_true();
        return 0;
    }
    if (t->end - t->p >= 5 && memcmp(t->p, "false", 5) == 0 && (t->end - t->p == 5 || !bare_char(t->p[5]))) {
        t->p += 5;
        *out = json_false();
        return 0;
    }
    if (isdigit((unsigned char)c) || c == '+' || c == '-' || c == 'i' || c == 'n')
        return tnumber(t, out);
    return tfail(t, "%s: expected a value (a string, a number, true/false, an array or a table), got '%c'", path, c);
}

/* key = value into table (whose path is base). */
static int tassign(struct tp *t, json_t *table, const char *base)
{
    char parts[MAX_PARTS][256];
    int n, ret;
    int line = t->line;
    if ((ret = tkey(t, parts, &n)))
        return ret;
    char path[600];
    snprintf(path, sizeof(path), "%s", base);
    for (int i = 0; i < n - 1; i++) {
        char sub[600];
        join(sub, sizeof(sub), path, parts[i]);
        snprintf(path, sizeof(path), "%s", sub);
        json_t *next = json_object_get(table, parts[i]);
        if (!next) {
            next = json_object();
            json_object_set_new(table, parts[i], next);
            line_set(t->lines, path, line);
        } else if (!json_is_object(next) || json_object_get(t->defined, path)) {
            return tfail(t, "%s is defined already", path);
        }
        table = next;
    }
    char full[600];
    join(full, sizeof(full), path, parts[n - 1]);
    if (json_object_get(table, parts[n - 1]))
        return tfail(t, "%s is defined twice", full);
    tskip(t, false);
    if (t->p >= t->end || *t->p != '=')
        return tfail(t, "expected '=' after the key %s", full);
    t->p++;
    line_set(t->lines, full, line);
    json_t *v;
    if ((ret = tvalue(t, full, &v)))
        return ret;
    json_object_set_new(table, parts[n - 1], v);
    if (json_is_object(v))
        json_object_set_new(t->defined, full, json_true()); /* an inline table is closed */
    return 0;
}

/* [a.b] or [[a.b]]: the table that the next keys go into. */
static int theader(struct tp *t)
{
    bool array = t->end - t->p >= 2 && t->p[1] == '[';
    t->p += array ? 2 : 1;
    char parts[MAX_PARTS][256];
    int n, ret;
    if ((ret = tkey(t, parts, &n)))
        return ret;
    if (t->end - t->p < (array ? 2 : 1) || t->p[0] != ']' || (array && t->p[1] != ']'))
        return tfail(t, "expected '%s' at the end of the table's name", array ? "]]" : "]");
    t->p += array ? 2 : 1;
    json_t *table = t->root;
    char path[600] = "";
    for (int i = 0; i < n; i++) {
        char sub[600];
        join(sub, sizeof(sub), path, parts[i]);
        snprintf(path, sizeof(path), "%s", sub);
        json_t *next = json_object_get(table, parts[i]);
        bool last = i == n - 1;
        if (last && array) {
            if (!next) {
                next = json_array();
                json_object_set_new(table, parts[i], next);
            } else if (!json_is_array(next) || json_object_get(t->defined, path)) {
                return tfail(t, "[[%s]]: %s is not an array of tables", path, path);
            }
            json_t *o = json_object();
            json_array_append_new(next, o);
            snprintf(t->curpath, sizeof(t->curpath), "%s[%zu]", path, json_array_size(next) - 1);
            line_set(t->lines, t->curpath, t->line);
            line_set(t->lines, path, t->line);
            t->cur = o;
            return tend_line(t);
        }
        if (!next) {
            next = json_object();
            json_object_set_new(table, parts[i], next);
            line_set(t->lines, path, t->line);
        } else if (json_is_array(next) && !last && json_array_size(next) &&
                   json_is_object(json_array_get(next, json_array_size(next) - 1))) {
            /* [a.b] under [[a]]: into a's last table. */
            char sub2[620];
            snprintf(sub2, sizeof(sub2), "%s[%zu]", path, json_array_size(next) - 1);
            snprintf(path, sizeof(path), "%s", sub2);
            next = json_array_get(next, json_array_size(next) - 1);
        } else if (!json_is_object(next)) {
            return tfail(t, "[%s]: %s is not a table", path, path);
        }
        table = next;
    }
    if (json_object_get(t->defined, path))
        return tfail(t, "[%s] is defined twice", path);
    json_object_set_new(t->defined, path, json_true());
    snprintf(t->curpath, sizeof(t->curpath), "%s", path);
    t->cur = table;
    return tend_line(t);
}

int ic__toml_parse(const char *name, const char *text, size_t len, json_t **root, json_t **lines, char *err, size_t errlen)
{
    struct tp t = {name, text, text + len, 1, err, errlen, json_object(), json_object(), json_object(), NULL, ""};
    t.cur = t.root;
    int ret = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        t.p += 3; /* a byte order mark */
    while (ret == 0) {
        tskip(&t, true);
        if (t.p >= t.end)
            break;
        if (*t.p == '[')
            ret = theader(&t);
        else if ((ret = tassign(&t, t.cur, t.curpath)) == 0)
            ret = tend_line(&t);
    }
    json_decref(t.defined);
    if (ret) {
        json_decref(t.root);
        json_decref(t.lines);
        return ret;
    }
    *root = t.root;
    *lines = t.lines;
    return 0;
}

/* ---- JSONC ------------------------------------------------------------------------------------------- */

/* Records the line of every value of valid JSON text at *p under path. */
static void jlines(const char **p, const char *end, int *line, const char *path, json_t *lines, int depth)
{
    for (;;) {
        while (*p < end && strchr(" \t\r\n", **p)) {
            if (**p == '\n')
                (*line)++;
            (*p)++;
        }
        break;
    }
    if (*p >= end || depth > 64)
        return;
    if (*path)
        line_set(lines, path, *line);
    char c = **p;
    if (c == '{' || c == '[') {
        (*p)++;
        for (size_t i = 0;; i++) {
            while (*p < end && strchr(" \t\r\n,", **p)) {
                if (**p == '\n')
                    (*line)++;
                (*p)++;
            }
            if (*p >= end || **p == '}' || **p == ']') {
                if (*p < end)
                    (*p)++;
                return;
            }
            char sub[600];
            if (c == '{') {
                const char *k = ++(*p);
                while (*p < end && **p != '"')
                    *p += **p == '\\' ? 2 : 1;
                snprintf(sub, sizeof(sub), "%s%s%.*s", path, *path ? "." : "", (int)(*p - k), k);
                (*p)++;
                while (*p < end && **p != ':')
                    (*p)++;
                (*p)++;
            } else {
                snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            }
            jlines(p, end, line, sub, lines, depth + 1);
        }
    }
    if (c == '"') {
        (*p)++;
        while (*p < end && **p != '"')
            *p += **p == '\\' ? 2 : 1;
        (*p)++;
        return;
    }
    while (*p < end && !strchr(",}] \t\r\n", **p))
        (*p)++;
}

int ic__jsonc_parse(const char *name, const char *text, size_t len, json_t **root, json_t **lines, char *err, size_t errlen)
{
    char *s = malloc(len + 1);
    if (!s)
        return -ENOMEM;
    memcpy(s, text, len);
    s[len] = '\0';
    /* Comments become spaces (their newlines stay, so lines keep their numbers). */
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
        } else if (s[i] == '/' && i + 1 < len && s[i + 1] == '/') {
            for (; i < len && s[i] != '\n'; i++)
                s[i] = ' ';
        } else if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
            size_t j = i;
            for (; j < len && !(s[j] == '*' && j + 1 < len && s[j + 1] == '/' && j > i + 1); j++)
                if (s[j] != '\n')
                    s[j] = ' ';
            if (j < len)
                s[j] = s[j + 1] = ' ';
            i = j + 1;
        }
    }
    /* A comma before a closing bracket goes too. */
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
        } else if (s[i] == ',') {
            size_t j = i + 1;
            while (j < len && strchr(" \t\r\n", s[j]))
                j++;
            if (j < len && (s[j] == ']' || s[j] == '}'))
                s[i] = ' ';
        }
    }
    json_error_t je;
    json_t *r = json_loadb(s, len, JSON_REJECT_DUPLICATES, &je);
    if (!r) {
        if (errlen)
            snprintf(err, errlen, "%s:%d: %s", name, je.line > 0 ? je.line : 1, je.text);
        free(s);
        return IC_ECONFIG;
    }
    json_t *l = json_object();
    const char *p = s;
    int line = 1;
    jlines(&p, s + len, &line, "", l, 0);
    free(s);
    *root = r;
    *lines = l;
    return 0;
}

/* ---- wrangler's keys ------------------------------------------------------------------------------- */

bool ic__wrangler_is(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(path);
    return strncmp(base, "wrangler.", 9) == 0 || (n > 5 && strcmp(path + n - 5, ".toml") == 0) ||
           (n > 6 && strcmp(path + n - 6, ".jsonc") == 0);
}

static bool worker_file(const char *path)
{
    static const char *const exts[] = {".js", ".mjs", ".ts", ".mts", ".tsx", ".jsx", NULL};
    size_t n = strlen(path);
    for (const char *const *e = exts; *e; e++)
        if (n > strlen(*e) && strcmp(path + n - strlen(*e), *e) == 0)
            return true;
    return false;
}

struct wctx {
    const char *name;
    json_t *lines;
    char *err;
    size_t errlen;
};

static int wbad(struct wctx *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int wbad(struct wctx *c, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->errlen)
        snprintf(c->err, c->errlen, "%s:%d: %s: %s", c->name, ic__wrangler_line(c->lines, path), path, msg);
    return IC_ECONFIG;
}

static void wwarn(struct wctx *c, const char *path, const char *what)
{
    ic_log(IC_LOG_WARN, "%s:%d: %s: %s", c->name, ic__wrangler_line(c->lines, path), path, what);
}

/* TOML calls an object a table. */
static const char *tname(const json_t *v)
{
    return ic__router_json_type(v, "a table");
}

/* A wrangler route pattern (example.com/STAR, *.example.com/api/STAR, *example.com/STAR; STAR is `*`) as isocore routes, appended
 * to out. */
static int wroute(struct wctx *c, const char *path, const char *pat, json_t *out)
{
    const char *s = pat;
    if (strncmp(s, "https://", 8) == 0)
        s += 8;
    else if (strncmp(s, "http://", 7) == 0)
        s += 7;
    const char *slash = strchr(s, '/');
    char host[256], prefix[512] = "";
    snprintf(host, sizeof(host), "%.*s", slash ? (int)(slash - s) : (int)strlen(s), s);
    if (slash) {
        snprintf(prefix, sizeof(prefix), "%s", slash);
        size_t n = strlen(prefix);
        if (n && prefix[n - 1] == '*')
            prefix[--n] = '\0';
        while (n > 1 && prefix[n - 1] == '/')
            prefix[--n] = '\0';
        if (strcmp(prefix, "/") == 0)
            prefix[0] = '\0';
    }
    if (strchr(prefix, '*'))
        return wbad(c, path, "'%s': only a '*' at the end of the path is supported", pat);
    const char *h = host;
    bool any = strcmp(h, "*") == 0 || !*h, both = false;
    if (!any && h[0] == '*' && h[1] != '.') {
        both = true; /* "*example.com": the host and its subdomains */
        h++;
    }
    for (const char *q = h + (h[0] == '*' && h[1] == '.' ? 2 : 0); !any && *q; q++)
        if (!(isalnum((unsigned char)*q) || *q == '-' || *q == '.' || *q == ':'))
            return wbad(c, path, "'%s' has a host isocore cannot route ('*' only at its start)", pat);
    char r[800];
    if (any) {
        snprintf(r, sizeof(r), "%s", *prefix ? prefix : "/");
        json_array_append_new(out, json_string(r));
        return 0;
    }
    snprintf(r, sizeof(r), "%s%s", h, prefix);
    json_array_append_new(out, json_string(r));
    if (both) {
        snprintf(r, sizeof(r), "*.%s%s", h, prefix);
        json_array_append_new(out, json_string(r));
    }
    return 0;
}

static int wroutes(struct wctx *c, const char *path, json_t *v, json_t *out)
{
    if (json_is_string(v))
        return wroute(c, path, json_string_value(v), out);
    if (json_is_object(v)) {
        json_t *pat = json_object_get(v, "pattern");
        char sub[600];
        snprintf(sub, sizeof(sub), "%s.pattern", path);
        if (!json_is_string(pat))
            return wbad(c, pat ? sub : path, "expected a string pattern (\"example.com/*\"), got %s", pat ? tname(pat) : "none");
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x)
        {
            if (strcmp(key, "pattern") && strcmp(key, "zone_name") && strcmp(key, "zone_id") && strcmp(key, "custom_domain")) {
                snprintf(sub, sizeof(sub), "%s.%s", path, key);
                wwarn(c, sub, "unknown key, ignored");
            }
        }
        return wroute(c, path, json_string_value(pat), out);
    }
    return wbad(c, path, "expected a route pattern (a string or {pattern = \"…\"}), got %s", tname(v));
}

/* The directory of a file, absolute. */
static void abs_dir(const char *file, char *out, size_t cap)
{
    char cwd[PATH_MAX];
    const char *slash = strrchr(file, '/');
    if (file[0] == '/')
        snprintf(out, cap, "%.*s", slash ? (int)(slash - file) : 0, file);
    else if (slash)
        snprintf(out, cap, "%s/%.*s", getcwd(cwd, sizeof(cwd)) ? cwd : ".", (int)(slash - file), file);
    else
        snprintf(out, cap, "%s", getcwd(cwd, sizeof(cwd)) ? cwd : ".");
    if (!*out)
        snprintf(out, cap, "/");
}

/* One wrangler file's worker, as a worker of an isocore JSON config (appended to workers). */
static int wrangler_worker(struct wctx *c, json_t *root, json_t *workers)
{
    static const char *const deploy[] = {"account_id", "workers_dev",        "preview_urls", "send_metrics", "minify",
                                         "keep_vars",  "upload_source_maps", "$schema",      "no_bundle",    NULL};
    if (!json_is_object(root))
        return wbad(c, "(top level)", "expected a table of settings, got %s", tname(root));
    json_t *w = json_object(), *env = json_object(), *routes = json_array(), *services = json_object(), *svc_lines = json_object();
    json_object_set_new(w, "file", json_string(c->name));
    json_object_set_new(w, "service_lines", svc_lines);
    json_object_set_new(w, "env", env);
    json_object_set_new(w, "routes", routes);
    int ret = 0;
    const char *key;
    json_t *v;
    char dir[PATH_MAX];
    abs_dir(c->name, dir, sizeof(dir));
    json_object_foreach(root, key, v)
    {
        char sub[600];
        if (!strcmp(key, "name") || !strcmp(key, "main") || !strcmp(key, "compatibility_date")) {
            if (!json_is_string(v) || !json_string_length(v)) {
                ret = wbad(c, key, "expected a non-empty string, got %s", tname(v));
                break;
            }
            if (!strcmp(key, "name")) {
                json_object_set(w, "name", v);
            } else if (!strcmp(key, "main")) {
                const char *m = json_string_value(v);
                char p[PATH_MAX * 2];
                snprintf(p, sizeof(p), "%s%s%s", m[0] == '/' ? "" : dir, m[0] == '/' ? "" : "/", m);
                json_object_set_new(w, "module", json_string(p));
            } else {
                ic_log(IC_LOG_INFO, "%s: compatibility_date %s (recorded: isocore has one behaviour, today's)", c->name,
                       json_string_value(v));
            }
        } else if (!strcmp(key, "compatibility_flags")) {
            if (!json_is_array(v)) {
                ret = wbad(c, key, "expected an array of strings, got %s", tname(v));
                break;
            }
            char flags[1024] = "";
            size_t i, n = 0;
            json_t *f;
            json_array_foreach(v, i, f)
            {
                snprintf(sub, sizeof(sub), "%s[%zu]", key, i);
                if (!json_is_string(f)) {
                    ret = wbad(c, sub, "expected a string, got %s", tname(f));
                    break;
                }
                n += (size_t)snprintf(flags + n, n < sizeof(flags) ? sizeof(flags) - n : 0, "%s%s", n ? ", " : "",
                                      json_string_value(f));
                if (n >= sizeof(flags))
                    n = sizeof(flags) - 1;
            }
            if (ret)
                break;
            if (json_array_size(v))
                ic_log(IC_LOG_WARN, "%s: compatibility flags isocore does not implement (their behaviour is not there): %s",
                       c->name, flags);
        } else if (!strcmp(key, "vars")) {
            if (!json_is_object(v)) {
                ret = wbad(c, key, "expected a table of variables, got %s", tname(v));
                break;
            }
            const char *k;
            json_t *x;
            json_object_foreach(v, k, x)
            {
                if (json_is_string(x)) {
                    json_object_set(env, k, x);
                } else {
                    /* Workers gives such a var as its parsed JSON; isocore's env holds strings: its JSON text. */
                    snprintf(sub, sizeof(sub), "vars.%s", k);
                    wwarn(c, sub, "not a string: the worker gets its JSON text");
                    char *text = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
                    json_object_set_new(env, k, json_string(text ? text : ""));
                    free(text);
                }
            }
        } else if (!strcmp(key, "routes")) {
            if (!json_is_array(v)) {
                ret = wbad(c, key, "expected an array of route patterns, got %s", tname(v));
                break;
            }
            size_t i;
            json_t *r;
            json_array_foreach(v, i, r)
            {
                snprintf(sub, sizeof(sub), "routes[%zu]", i);
                if ((ret = wroutes(c, sub, r, routes)))
                    break;
            }
            if (ret)
                break;
        } else if (!strcmp(key, "route")) {
            if ((ret = wroutes(c, key, v, routes)))
                break;
        } else if (!strcmp(key, "services")) {
            if (!json_is_array(v)) {
                ret = wbad(c, key, "expected an array of tables ([[services]] binding = \"…\", service = \"…\"), got %s", tname(v));
                break;
            }
            size_t i;
            json_t *s;
            json_array_foreach(v, i, s)
            {
                snprintf(sub, sizeof(sub), "services[%zu]", i);
                json_t *b = json_object_get(s, "binding"), *t = json_object_get(s, "service");
                char sb[640];
                if (!json_is_object(s)) {
                    ret = wbad(c, sub, "expected a table, got %s", tname(s));
                } else if (!json_is_string(b) || !json_is_string(t)) {
                    snprintf(sb, sizeof(sb), "%s.%s", sub, json_is_string(b) ? "service" : "binding");
                    json_t *bad = json_is_string(b) ? t : b;
                    ret = wbad(c, bad ? sb : sub, "expected a string, got %s", bad ? tname(bad) : "none");
                } else {
                    if (json_object_get(s, "entrypoint")) {
                        snprintf(sb, sizeof(sb), "%s.entrypoint", sub);
                        wwarn(c, sb, "named entrypoints are not supported: the service's default export answers");
                    }
                    json_object_set(services, json_string_value(b), t);
                    /* Its line, for when the service is not one of the workers (ic_router_config_load_files). */
                    json_object_set_new(svc_lines, json_string_value(b), json_integer(ic__wrangler_line(c->lines, sub)));
                }
                if (ret)
                    break;
            }
            if (ret)
                break;
        } else if (!strcmp(key, "limits")) {
            if (!json_is_object(v)) {
                ret = wbad(c, key, "expected a table (cpu_ms = 50), got %s", tname(v));
                break;
            }
            const char *k;
            json_t *x;
            json_object_foreach(v, k, x)
            {
                snprintf(sub, sizeof(sub), "limits.%s", k);
                if (strcmp(k, "cpu_ms")) {
                    wwarn(c, sub, "unknown key, ignored");
                } else if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > 3600000) {
                    ret = wbad(c, sub, "expected an integer from 1 to 3600000, got %s", tname(x));
                    break;
                } else {
                    json_t *lim = json_object();
                    json_object_set(lim, "cpu_ms", x);
                    json_object_set_new(w, "limits", lim);
                }
            }
            if (ret)
                break;
        } else {
            bool quiet = false;
            for (const char *const *d = deploy; *d; d++)
                quiet |= strcmp(*d, key) == 0;
            if (!quiet)
                wwarn(c, key, "not supported by isocore, ignored");
        }
    }
    if (!ret && !json_object_get(w, "module"))
        ret = wbad(c, "(top level)", "missing main (the worker's entry file: main = \"src/index.ts\")");
    if (!ret && !json_object_get(w, "name")) {
        const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
        json_object_set_new(w, "name", json_string(*base ? base : "worker"));
    }
    if (!ret && json_object_size(services))
        json_object_set(w, "services", services);
    json_decref(services);
    if (ret) {
        json_decref(w);
        return ret;
    }
    json_array_append_new(workers, w);
    return 0;
}

static char *read_all(const char *path, size_t *len, int *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = -errno;
        return NULL;
    }
    size_t cap = 1 << 14, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n + 1 < cap)
            break;
        char *more = realloc(buf, cap * 2);
        if (!more) {
            free(buf);
            buf = NULL;
        } else {
            buf = more;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        *err = -ENOMEM;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int ic_router_config_load_files(const char *const *paths, unsigned n, ic_router_config_t **out, char *err, size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen, "no config");
        return IC_ECONFIG;
    }
    if (n == 1 && !ic__wrangler_is(paths[0]) && !worker_file(paths[0]))
        return ic_router_config_load(paths[0], out, err, errlen);
    json_t *workers = json_array();
    int ret = 0;
    for (unsigned i = 0; i < n && !ret; i++) {
        if (worker_file(paths[i])) {
            /* A worker file: named after it ("index" for src/index.ts). */
            char dir[PATH_MAX], name[256], mod[PATH_MAX * 2];
            abs_dir(paths[i], dir, sizeof(dir));
            const char *base = strrchr(paths[i], '/') ? strrchr(paths[i], '/') + 1 : paths[i];
            snprintf(name, sizeof(name), "%s", base);
            char *dot = strrchr(name, '.');
            if (dot && dot != name)
                *dot = '\0';
            snprintf(mod, sizeof(mod), "%s/%s", dir, base);
            json_array_append_new(workers, json_pack("{s:s, s:s}", "name", name, "module", mod));
            continue;
        }
        if (!ic__wrangler_is(paths[i])) {
            snprintf(err, errlen, "%s: several configs must all be wrangler files (wrangler.toml, wrangler.json, wrangler.jsonc)",
                     paths[i]);
            ret = IC_ECONFIG;
            break;
        }
        size_t len;
        char *text = read_all(paths[i], &len, &ret);
        if (!text) {
            snprintf(err, errlen, "%s: %s", paths[i], strerror(-ret));
            break;
        }
        json_t *root, *lines;
        size_t pl = strlen(paths[i]);
        bool toml = pl > 5 && strcmp(paths[i] + pl - 5, ".toml") == 0;
        ret = toml ? ic__toml_parse(paths[i], text, len, &root, &lines, err, errlen)
                   : ic__jsonc_parse(paths[i], text, len, &root, &lines, err, errlen);
        free(text);
        if (ret)
            break;
        struct wctx c = {paths[i], lines, err, errlen};
        ret = wrangler_worker(&c, root, workers);
        if (!ret) {
            /* Names are unique across the files. */
            const char *nm = json_string_value(json_object_get(json_array_get(workers, json_array_size(workers) - 1), "name"));
            for (size_t k = 0; k + 1 < json_array_size(workers) && !ret; k++)
                if (!strcmp(nm, json_string_value(json_object_get(json_array_get(workers, k), "name"))))
                    ret = wbad(&c, "name", "a second worker named '%s' (another file has it)", nm);
        }
        json_decref(root);
        json_decref(lines);
    }
    if (ret) {
        json_decref(workers);
        return ret;
    }
    /*
     * A binding to a service that is none of the workers: wrangler dev runs
     * without it too (its calls fail), so it is a warning, and the binding goes.
     * The bookkeeping keys go before config.c sees the workers.
     */
    size_t wi;
    json_t *wk;
    json_array_foreach(workers, wi, wk)
    {
        json_t *sv = json_object_get(wk, "services"), *sl = json_object_get(wk, "service_lines");
        const char *b;
        json_t *target;
        void *tmp;
        json_object_foreach_safe(sv, tmp, b, target)
        {
            bool found = false;
            for (size_t k = 0; k < json_array_size(workers); k++)
                found |= !strcmp(json_string_value(target), json_string_value(json_object_get(json_array_get(workers, k), "name")));
            if (!found) {
                ic_log(IC_LOG_WARN, "%s:%d: services: '%s' is not one of the workers given: env.%s is left out",
                       json_string_value(json_object_get(wk, "file")), (int)json_integer_value(json_object_get(sl, b)),
                       json_string_value(target), b);
                json_object_del(sv, b);
            }
        }
        if (sv && !json_object_size(sv))
            json_object_del(wk, "services");
        json_object_del(wk, "file");
        json_object_del(wk, "service_lines");
    }
    /* wrangler dev's address; the first worker answers what no route takes. */
    json_t *cfg = json_pack("{s:{s:s, s:i}, s:O, s:o}", "listen", "host", "127.0.0.1", "port", 8787, "default",
                            json_object_get(json_array_get(workers, 0), "name"), "workers", workers);
    char *text = cfg ? json_dumps(cfg, JSON_INDENT(1)) : NULL;
    json_decref(cfg);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    char why[8192];
    ret = ic_router_config_parse(paths[0], text, strlen(text), out, why, sizeof(why));
    free(text);
    if (ret) {
        snprintf(err, errlen, "%s (in the config made of %s%s)", why, paths[0], n > 1 ? " and the others" : "");
        return ret;
    }
    if ((ret = ic__router_config_bundle(*out, err, errlen)) < 0) {
        ic_router_config_free(*out);
        *out = NULL;
    }
    return ret;
}

const char *ic_router_config_input(const ic_router_config_t *cfg, unsigned i)
{
    for (unsigned w = 0; w < cfg->nworkers; w++) {
        if (i < cfg->workers[w].bundle.ninputs)
            return cfg->workers[w].bundle.inputs[i];
        i -= cfg->workers[w].bundle.ninputs;
    }
    return NULL;
}
