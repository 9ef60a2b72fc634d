/*
 * sourcemap.cc: source maps (version 3) of bundled workers, so that the log
 * shows `src/index.ts:12:9` where V8 says `index.ts:4031:17` of the bundle.
 *
 * The map is decoded once per tenant (any thread; read-only after), from
 * its "mappings": lines of the bundle separated by ';', segments by ',',
 * each segment Base64 VLQ numbers relative to the previous segment
 * (generated column, source index, source line, source column, name).
 * Mapping is done in C++ on the text of a log line (ic__js_log_line): every
 * `SCRIPT:LINE:COL` of the bundle's script name is replaced by the place
 * in the user's file. err.stack as JS sees it stays the bundle's.
 */
#include <jansson.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "js/internal.hh"

struct ic__js_segment {
    int col; /* generated column, 0-based */
    int src; /* index into sources, -1: unmapped */
    int line, scol;
};

struct ic__js_sourcemap {
    std::vector<std::string> sources; /* as shown: relative to the working directory when under it */
    std::vector<std::vector<ic__js_segment>> lines;
};

static int b64(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* One VLQ number at *p (advanced); false on a malformed one. */
static bool vlq(const char **p, const char *end, int *out)
{
    long v = 0;
    int shift = 0;
    for (;;) {
        if (*p >= end || shift > 30)
            return false;
        int d = b64(**p);
        if (d < 0)
            return false;
        (*p)++;
        v |= (long)(d & 31) << shift;
        shift += 5;
        if (!(d & 32))
            break;
    }
    *out = (int)(v & 1 ? -(v >> 1) : v >> 1);
    return true;
}

static bool decode(ic__js_sourcemap *m, const char *p, const char *end)
{
    int src = 0, line = 0, scol = 0, name = 0;
    m->lines.emplace_back();
    int col = 0;
    while (p < end) {
        if (*p == ';') {
            m->lines.emplace_back();
            col = 0;
            p++;
            continue;
        }
        if (*p == ',') {
            p++;
            continue;
        }
        int d;
        if (!vlq(&p, end, &d))
            return false;
        col += d;
        ic__js_segment s = {col, -1, 0, 0};
        if (p < end && *p != ',' && *p != ';') {
            int a, b, c;
            if (!vlq(&p, end, &a) || !vlq(&p, end, &b) || !vlq(&p, end, &c))
                return false;
            src += a;
            line += b;
            scol += c;
            s.src = src;
            s.line = line;
            s.scol = scol;
            if (p < end && *p != ',' && *p != ';') {
                if (!vlq(&p, end, &a))
                    return false;
                name += a;
            }
        }
        m->lines.back().push_back(s);
    }
    for (auto &l : m->lines)
        std::stable_sort(l.begin(), l.end(), [](const ic__js_segment &a, const ic__js_segment &b) { return a.col < b.col; });
    return true;
}

ic__js_sourcemap *ic__js_sourcemap_new(const char *json, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    if (!root)
        return nullptr;
    ic__js_sourcemap *m = new (std::nothrow) ic__js_sourcemap();
    json_t *sources = json_object_get(root, "sources");
    json_t *mappings = json_object_get(root, "mappings");
    bool ok = m && json_is_array(sources) && json_is_string(mappings);
    if (ok) {
        char cwd[PATH_MAX];
        std::string here = getcwd(cwd, sizeof(cwd)) ? std::string(cwd) + "/" : std::string();
        size_t i;
        json_t *s;
        json_array_foreach(sources, i, s)
        {
            std::string name = json_is_string(s) ? json_string_value(s) : "?";
            if (!here.empty() && name.compare(0, here.size(), here) == 0)
                name = name.substr(here.size());
            m->sources.push_back(name);
        }
        const char *p = json_string_value(mappings);
        ok = decode(m, p, p + json_string_length(mappings));
    }
    json_decref(root);
    if (!ok) {
        delete m;
        return nullptr;
    }
    return m;
}

void ic__js_sourcemap_free(ic__js_sourcemap *m)
{
    delete m;
}

/* The user's place of line:col (1-based, as V8 prints them) of the bundle (line_only: of the line); false when unmapped. */
static bool lookup(const ic__js_sourcemap *m, long line, long col, std::string *out, bool line_only)
{
    if (line < 1 || (size_t)line > m->lines.size() || col < 1)
        return false;
    const auto &segs = m->lines[(size_t)line - 1];
    if (line_only) {
        for (const auto &s : segs)
            if (s.src >= 0 && (size_t)s.src < m->sources.size()) {
                *out = m->sources[(size_t)s.src] + ":" + std::to_string(s.line + 1);
                return true;
            }
        return false;
    }
    auto it = std::upper_bound(segs.begin(), segs.end(), (int)col - 1, [](int c, const ic__js_segment &s) { return c < s.col; });
    if (it == segs.begin())
        return false;
    --it;
    if (it->src < 0 || (size_t)it->src >= m->sources.size())
        return false;
    *out = m->sources[(size_t)it->src] + ":" + std::to_string(it->line + 1) + ":" + std::to_string(it->scol + 1);
    return true;
}

std::string ic__js_sourcemap_apply(const ic__js_sourcemap *m, const std::string &script, const char *text, size_t len)
{
    std::string in(text, len), out;
    size_t at = 0;
    for (;;) {
        size_t hit = in.find(script, at);
        if (hit == std::string::npos || script.empty())
            break;
        size_t p = hit + script.size();
        long line = 0, col = 0;
        size_t q = p;
        bool ok = q < in.size() && in[q] == ':';
        for (q++; ok && q < in.size() && in[q] >= '0' && in[q] <= '9'; q++)
            line = line * 10 + (in[q] - '0');
        ok = ok && line > 0 && line < 100000000;
        bool has_col = ok && q + 1 < in.size() && in[q] == ':' && in[q + 1] >= '0' && in[q + 1] <= '9';
        for (q += has_col ? 1 : 0; has_col && q < in.size() && in[q] >= '0' && in[q] <= '9' && col < 100000000; q++)
            col = col * 10 + (in[q] - '0');
        std::string place;
        /* "SCRIPT:LINE" alone (V8's message of a top-level throw): the line's first mapped place, without its column. */
        if (ok && !has_col && lookup(m, line, INT_MAX, &place, true)) {
            out.append(in, at, hit - at);
            out += place;
        } else if (ok && has_col && lookup(m, line, col, &place, false)) {
            out.append(in, at, hit - at);
            out += place;
        } else {
            out.append(in, at, p - at);
            q = p;
        }
        at = q;
    }
    out.append(in, at, std::string::npos);
    return out;
}
