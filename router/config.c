/*
 * config.c: the JSON config (libjansson), checked field by field.
 *
 *   {
 *     "listen": {"host": "127.0.0.1", "port": 8080,
 *                "tls": {"cert": "cert.pem", "key": "key.pem"}},   optional: HTTPS (paths relative to the config)
 *     "admin": {"host": "127.0.0.1", "port": 9090},          optional
 *     "cores": 0,                                             0: one per CPU of the mask
 *     "limits": {"cpu_ms": 50, "wall_ms": 30000, "heap_mb": 128},
 *     "backpressure": {"inflight_per_core_pair": 1024, "queue_per_tenant": 256},
 *     "placement": {"default": "sticky", "replicate_ms": 2, "shed_ms": 1,   optional; or just "sticky" (the default)
 *                   "retire_s": 10, "max_replicas": 0, "isolate_budget": 0},   (or "retire_ms");
 *                   isolate_budget 0: 2 ceil(workers / cores) + 2 per core (ic__place_budget)
 *     "core_header": false,
 *     "node": "n1",                                           optional: x-isocore-node with core_header
 *     "default": "site",                                      optional
 *     "workers": [
 *       {"name": "site", "module": "site.js",                 or "script": "sw.js"
 *        "routes": ["example.com", "*.example.com", "example.com/api", "/static"],
 *        "env": {"KEY": "value"}, "limits": {...}, "placement": "sticky",   or "spread", "adaptive"
 *        "services": {"AUTH": "auth"}}                       env.AUTH.fetch() runs worker "auth"
 *     ]
 *   }
 *
 * Every error names the file, the line where the offending value starts and
 * the field ("workers[2].routes[0]"), and says what was expected. jansson
 * gives lines for syntax errors only, so a small scanner over the text finds
 * the line of a field (line_of).
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "router/internal.h"

/* ---- where a field is: a scanner over the JSON text ------------------------------------ */

struct scan {
    const char *p, *end;
    int line;
    const char *want; /* path looked for */
    int found;        /* its line, or 0 */
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) {
        if (*s->p == '\n')
            s->line++;
        s->p++;
    }
}

/* Copies a JSON string's raw text (escapes kept; keys in configs are plain) into out. */
static void scan_string(struct scan *s, char *out, size_t cap)
{
    size_t n = 0;
    s->p++; /* the opening quote */
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\' && s->p + 1 < s->end)
            s->p++;
        if (*s->p == '\n')
            s->line++;
        if (out && n + 1 < cap)
            out[n++] = *s->p;
        s->p++;
    }
    if (out)
        out[n] = '\0';
    if (s->p < s->end)
        s->p++;
}

static void scan_value(struct scan *s, const char *path, int depth)
{
    skip_ws(s);
    if (s->p >= s->end || s->found || depth > 64)
        return;
    if (strcmp(path, s->want) == 0) {
        s->found = s->line;
        return;
    }
    char sub[512], key[256];
    if (*s->p == '{') {
        s->p++;
        for (;;) {
            skip_ws(s);
            if (s->p >= s->end || *s->p == '}')
                break;
            if (*s->p != '"')
                return;
            scan_string(s, key, sizeof(key));
            skip_ws(s);
            if (s->p < s->end && *s->p == ':')
                s->p++;
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
            scan_value(s, sub, depth + 1);
            if (s->found)
                return;
            skip_ws(s);
            if (s->p < s->end && *s->p == ',')
                s->p++;
        }
        if (s->p < s->end)
            s->p++;
    } else if (*s->p == '[') {
        s->p++;
        for (int i = 0;; i++) {
            skip_ws(s);
            if (s->p >= s->end || *s->p == ']')
                break;
            snprintf(sub, sizeof(sub), "%s[%d]", path, i);
            scan_value(s, sub, depth + 1);
            if (s->found)
                return;
            skip_ws(s);
            if (s->p < s->end && *s->p == ',')
                s->p++;
        }
        if (s->p < s->end)
            s->p++;
    } else if (*s->p == '"') {
        scan_string(s, NULL, 0);
    } else {
        while (s->p < s->end && !strchr(",}] \t\r\n", *s->p))
            s->p++;
    }
}

/* The line where the value of `path` starts (1 if it is not in the text: a missing field is the object's business). */
static int line_of(const char *text, size_t len, const char *path)
{
    struct scan s = {text, text + len, 1, path, 0};
    scan_value(&s, "", 0);
    return s.found ? s.found : 1;
}

/* ---- checking ------------------------------------------------------------------------------ */

struct ctx {
    const char *name, *text;
    size_t len;
    char *err;
    size_t errlen;
};

static int bad(struct ctx *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct ctx *c, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A missing field is reported at its object's line. */
    char at[512];
    snprintf(at, sizeof(at), "%s", path);
    int line = line_of(c->text, c->len, at);
    while (line == 1 && strchr(at, '.')) {
        *strrchr(at, '.') = '\0';
        line = line_of(c->text, c->len, at);
    }
    if (c->errlen)
        snprintf(c->err, c->errlen, "%s:%d: %s: %s", c->name, line, path, msg);
    return IC_ECONFIG;
}

/* "an array", "a string"…: a JSON value's type in an error; `object` names what an object is in the file's own words. */
const char *ic__router_json_type(const json_t *v, const char *object)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return object;
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static const char *type_name(const json_t *v)
{
    return ic__router_json_type(v, "an object");
}

/* Rejects fields the schema does not have (a typo must not pass silently). */
static int only(struct ctx *c, json_t *obj, const char *path, const char *const *known)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            char sub[512];
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
            return bad(c, sub, "unknown field");
        }
    }
    return 0;
}

static int get_uint(struct ctx *c, json_t *obj, const char *path, const char *key, long long lo, long long hi, unsigned *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char sub[512];
    snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return bad(c, sub, "expected an integer from %lld to %lld, got %s", lo, hi, type_name(v));
    *out = (unsigned)json_integer_value(v);
    return 0;
}

static int get_str(struct ctx *c, json_t *obj, const char *path, const char *key, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char sub[512];
    snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return bad(c, sub, "expected a non-empty string, got %s", json_is_string(v) ? "an empty string" : type_name(v));
    free(*out);
    *out = strdup(json_string_value(v));
    return *out ? 0 : -ENOMEM;
}

static int get_limits(struct ctx *c, json_t *obj, const char *path, ic_js_limits_t *lim)
{
    json_t *v = json_object_get(obj, "limits");
    if (!v)
        return 0;
    char sub[512];
    snprintf(sub, sizeof(sub), "%s%slimits", path, *path ? "." : "");
    if (!json_is_object(v))
        return bad(c, sub, "expected an object {\"cpu_ms\", \"wall_ms\", \"heap_mb\"}, got %s", type_name(v));
    static const char *const known[] = {"cpu_ms", "wall_ms", "heap_mb", NULL};
    unsigned heap_mb = 0;
    int ret;
    if ((ret = only(c, v, sub, known)) || (ret = get_uint(c, v, sub, "cpu_ms", 1, 3600000, &lim->cpu_ms)) ||
        (ret = get_uint(c, v, sub, "wall_ms", 1, 3600000, &lim->wall_ms)) ||
        (ret = get_uint(c, v, sub, "heap_mb", 16, 65536, &heap_mb)))
        return ret;
    if (heap_mb)
        lim->heap_bytes = lim->buffer_bytes = (size_t)heap_mb << 20;
    return 0;
}

static int get_listen(struct ctx *c, json_t *root, const char *key, char **host, unsigned *port, bool *present)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return 0;
    *present = true;
    if (!json_is_object(v))
        return bad(c, key, "expected an object {\"host\": \"127.0.0.1\", \"port\": 8080}, got %s", type_name(v));
    static const char *const known[] = {"host", "port", NULL}, *const known_tls[] = {"host", "port", "tls", NULL};
    int ret;
    if ((ret = only(c, v, key, strcmp(key, "listen") == 0 ? known_tls : known)) || (ret = get_str(c, v, key, "host", host)) ||
        (ret = get_uint(c, v, key, "port", 0, 65535, port)))
        return ret;
    return 0;
}

/* A file named in the config: as given if absolute, else relative to the config's directory. NULL: out of memory. */
static char *config_path(const char *config, const char *file)
{
    if (file[0] == '/')
        return strdup(file);
    const char *slash = strrchr(config, '/');
    int dlen = slash ? (int)(slash - config) : 1;
    size_t n = (size_t)dlen + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%.*s/%s", dlen, slash ? config : ".", file);
    return p;
}

/* "listen": {"tls": {"cert": F, "key": F}}: both files, checked when the server starts (ic_tls_server_new). */
static int get_listen_tls(struct ctx *c, json_t *root, char **cert, char **key)
{
    json_t *l = json_object_get(root, "listen"), *v = l ? json_object_get(l, "tls") : NULL;
    if (!v)
        return 0;
    if (!json_is_object(v))
        return bad(c, "listen.tls", "expected an object {\"cert\": \"cert.pem\", \"key\": \"key.pem\"}, got %s", type_name(v));
    static const char *const known[] = {"cert", "key", NULL};
    char *cf = NULL, *kf = NULL;
    int ret;
    if ((ret = only(c, v, "listen.tls", known)) || (ret = get_str(c, v, "listen.tls", "cert", &cf)) ||
        (ret = get_str(c, v, "listen.tls", "key", &kf)))
        goto out;
    if (!cf || !kf) {
        ret = bad(c, "listen.tls", "missing \"%s\" (a PEM file)", cf ? "key" : "cert");
        goto out;
    }
    *cert = config_path(c->name, cf);
    *key = config_path(c->name, kf);
    ret = *cert && *key ? 0 : -ENOMEM;
out:
    free(cf);
    free(kf);
    return ret;
}

/* A route: "host", "*.suffix", "host/prefix", "/prefix". */
static int parse_route(struct ctx *c, const char *path, const char *s, unsigned worker, struct ic__route *r)
{
    memset(r, 0, sizeof(*r));
    r->worker = worker;
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
    if (hlen == 0 && !slash)
        return bad(c, path, "expected a route: \"host\", \"*.example.com\", \"host/prefix\" or \"/prefix\"");
    if (hlen) {
        const char *h = s;
        if (hlen >= 2 && h[0] == '*' && h[1] == '.') {
            r->wildcard = true;
            h++;
            hlen--;
        }
        for (size_t i = r->wildcard ? 1 : 0; i < hlen; i++) {
            char ch = h[i];
            if (!(ch == '-' || ch == '.' || ch == ':' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= 'A' && ch <= 'Z')))
                return bad(c, path, "'%s' is not a host name (letters, digits, '-', '.', ':port'; '*.' only at the start)", s);
        }
        r->host = strndup(h, hlen);
        if (!r->host)
            return -ENOMEM;
        for (char *p = r->host; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    }
    if (slash && slash[1]) {
        r->prefix = strdup(slash);
        if (!r->prefix)
            return -ENOMEM;
    }
    return 0;
}

/* A binding's name becomes a property of env: a JS identifier of the plain kind. */
static bool binding_name_ok(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/*
 * "services": {"BINDING": "worker"}: kept as "BINDING=worker" strings, the
 * shape the tenant takes. The targets are checked once every worker is
 * known (check_services): a binding may name a worker defined later.
 */
static int parse_services(struct ctx *c, json_t *w, const char *path, struct ic__worker_cfg *wc)
{
    json_t *sv = json_object_get(w, "services");
    if (!sv)
        return 0;
    char sub[80];
    snprintf(sub, sizeof(sub), "%s.services", path);
    if (!json_is_object(sv))
        return bad(c, sub, "expected an object of worker names {\"AUTH\": \"auth-worker\"}, got %s", type_name(sv));
    wc->services = calloc(json_object_size(sv) + 1, sizeof(char *));
    if (!wc->services)
        return -ENOMEM;
    const char *key;
    json_t *v;
    json_object_foreach(sv, key, v)
    {
        char vp[600];
        snprintf(vp, sizeof(vp), "%s.%s", sub, key);
        if (!binding_name_ok(key))
            return bad(c, vp, "'%s' is not a binding name (a letter or '_', then letters, digits or '_')", key);
        for (unsigned k = 0; k < wc->nenv; k++) {
            size_t kl = strlen(key);
            if (strncmp(wc->env[k], key, kl) == 0 && wc->env[k][kl] == '=')
                return bad(c, vp, "'%s' is also a name in \"env\" (env.%s can be one of them only)", key, key);
        }
        if (!json_is_string(v) || json_string_length(v) == 0)
            return bad(c, vp, "expected the name of a worker, got %s", json_is_string(v) ? "an empty string" : type_name(v));
        size_t n = strlen(key) + json_string_length(v) + 2;
        char *kv = malloc(n);
        if (!kv)
            return -ENOMEM;
        snprintf(kv, n, "%s=%s", key, json_string_value(v));
        wc->services[wc->nservices++] = kv;
    }
    return 0;
}

/* Every binding names a worker of the config (itself included). */
static int check_services(struct ic_router_config *cfg, struct ctx *c)
{
    for (unsigned i = 0; i < cfg->nworkers; i++) {
        const struct ic__worker_cfg *wc = &cfg->workers[i];
        for (unsigned k = 0; k < wc->nservices; k++) {
            const char *eq = strchr(wc->services[k], '=');
            const char *target = eq + 1;
            bool found = false;
            for (unsigned j = 0; j < cfg->nworkers && !found; j++)
                found = strcmp(cfg->workers[j].name, target) == 0;
            if (!found) {
                char vp[600];
                snprintf(vp, sizeof(vp), "workers[%u].services.%.*s", i, (int)(eq - wc->services[k]), wc->services[k]);
                return bad(c, vp, "'%s' is not the name of a worker", target);
            }
        }
    }
    return 0;
}

/* A placement's name; false for anything else. */
static bool placement_of(const json_t *v, ic_placement_t *out)
{
    static const char *const names[] = {
        [IC_PLACE_STICKY] = "sticky", [IC_PLACE_SPREAD] = "spread", [IC_PLACE_ADAPTIVE] = "adaptive"};
    for (unsigned i = 0; json_is_string(v) && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(json_string_value(v), names[i]) == 0) {
            *out = (ic_placement_t)i;
            return true;
        }
    return false;
}

/*
 * The top-level "placement": the placement of workers that do not name
 * theirs, as a string, or an object with it ("default") and the knobs of
 * `adaptive` (placement.h).
 */
static int get_placement(struct ctx *c, json_t *root, ic_placement_t *def, ic__place_params_t *p)
{
    json_t *v = json_object_get(root, "placement");
    if (!v)
        return 0;
    if (json_is_string(v)) {
        if (!placement_of(v, def))
            return bad(c, "placement", "expected \"sticky\", \"spread\" or \"adaptive\", or an object");
        return 0;
    }
    if (!json_is_object(v))
        return bad(c, "placement",
                   "expected \"sticky\", \"spread\", \"adaptive\" or an object {\"default\", \"replicate_ms\", \"shed_ms\", "
                   "\"retire_s\", \"max_replicas\", \"isolate_budget\"}, got %s",
                   type_name(v));
    static const char *const known[] = {"default",   "replicate_ms", "shed_ms",        "retire_s",
                                        "retire_ms", "max_replicas", "isolate_budget", NULL};
    unsigned replicate_ms = 0, shed_ms = 0, retire_s = 0, retire_ms = 0;
    int ret;
    if ((ret = only(c, v, "placement", known)) || (ret = get_uint(c, v, "placement", "replicate_ms", 1, 60000, &replicate_ms)) ||
        (ret = get_uint(c, v, "placement", "shed_ms", 1, 60000, &shed_ms)) ||
        (ret = get_uint(c, v, "placement", "retire_s", 1, 86400, &retire_s)) ||
        (ret = get_uint(c, v, "placement", "retire_ms", 1, 86400000, &retire_ms)) ||
        (ret = get_uint(c, v, "placement", "max_replicas", 0, IC_MAX_CORES, &p->max_replicas)) ||
        (ret = get_uint(c, v, "placement", "isolate_budget", 0, 1 << 20, &p->isolate_budget)))
        return ret;
    json_t *d = json_object_get(v, "default");
    if (d && !placement_of(d, def))
        return bad(c, "placement.default", "expected \"sticky\", \"spread\" or \"adaptive\"");
    if (replicate_ms) {
        p->replicate_ns = (uint64_t)replicate_ms * 1000000u;
        p->calm_ns = p->hop_ns = p->replicate_ns / 8;
    }
    if (shed_ms)
        p->shed_ns = (uint64_t)shed_ms * 1000000u;
    if (retire_s)
        p->retire_ns = (uint64_t)retire_s * 1000000000u;
    if (retire_ms) /* finer, for tests: wins over retire_s */
        p->retire_ns = (uint64_t)retire_ms * 1000000u;
    return 0;
}

static int parse_worker(struct ic_router_config *cfg, struct ctx *c, json_t *w, unsigned i, const char *dir)
{
    char path[64];
    snprintf(path, sizeof(path), "workers[%u]", i);
    struct ic__worker_cfg *wc = &cfg->workers[i];
    if (!json_is_object(w))
        return bad(c, path, "expected an object {\"name\", \"module\" or \"script\", \"routes\", …}, got %s", type_name(w));
    static const char *const known[] = {"name", "module", "script", "routes", "env", "limits", "placement", "services", NULL};
    int ret;
    if ((ret = only(c, w, path, known)) || (ret = get_str(c, w, path, "name", &wc->name)))
        return ret;
    if (!wc->name)
        return bad(c, path, "missing \"name\"");
    for (unsigned k = 0; k < i; k++)
        if (strcmp(cfg->workers[k].name, wc->name) == 0)
            return bad(c, path, "a second worker named '%s' (names must be unique)", wc->name);
    char *file = NULL;
    if ((ret = get_str(c, w, path, "module", &file)))
        return ret;
    wc->kind = IC_JS_MODULE;
    if (json_object_get(w, "script")) {
        if (file) {
            free(file);
            return bad(c, path, "give \"module\" or \"script\", not both");
        }
        if ((ret = get_str(c, w, path, "script", &file)))
            return ret;
        wc->kind = IC_JS_SCRIPT;
    }
    if (!file)
        return bad(c, path, "missing \"module\" (an ES module file) or \"script\" (a classic script)");
    if (file[0] == '/') {
        wc->path = file;
    } else {
        size_t n = strlen(dir) + strlen(file) + 2;
        wc->path = malloc(n);
        if (wc->path)
            snprintf(wc->path, n, "%s/%s", dir, file);
        free(file);
        if (!wc->path)
            return -ENOMEM;
    }
    if ((ret = get_limits(c, w, path, &wc->limits)))
        return ret;
    json_t *env = json_object_get(w, "env");
    if (env) {
        char sub[80];
        snprintf(sub, sizeof(sub), "%s.env", path);
        if (!json_is_object(env))
            return bad(c, sub, "expected an object of strings {\"NAME\": \"value\"}, got %s", type_name(env));
        wc->env = calloc(json_object_size(env) + 1, sizeof(char *));
        if (!wc->env)
            return -ENOMEM;
        const char *key;
        json_t *v;
        json_object_foreach(env, key, v)
        {
            char vp[600];
            snprintf(vp, sizeof(vp), "%s.%s", sub, key);
            if (!json_is_string(v))
                return bad(c, vp, "expected a string, got %s", type_name(v));
            size_t n = strlen(key) + json_string_length(v) + 2;
            char *kv = malloc(n);
            if (!kv)
                return -ENOMEM;
            snprintf(kv, n, "%s=%s", key, json_string_value(v));
            wc->env[wc->nenv++] = kv;
        }
    }
    if ((ret = parse_services(c, w, path, wc)))
        return ret;
    json_t *pl = json_object_get(w, "placement");
    if (pl) {
        char sub[80];
        snprintf(sub, sizeof(sub), "%s.placement", path);
        if (!placement_of(pl, &wc->placement))
            return bad(c, sub, "expected \"sticky\", \"spread\" or \"adaptive\"");
    }
    json_t *routes = json_object_get(w, "routes");
    if (routes) {
        char sub[80];
        snprintf(sub, sizeof(sub), "%s.routes", path);
        if (!json_is_array(routes))
            return bad(c, sub, "expected an array of routes [\"example.com\", \"*.example.com\", \"example.com/api\"], got %s",
                       type_name(routes));
        size_t n;
        json_t *rv;
        struct ic__route *more = realloc(cfg->routes, (cfg->nroutes + json_array_size(routes)) * sizeof(*more) + 1);
        if (!more)
            return -ENOMEM;
        cfg->routes = more;
        json_array_foreach(routes, n, rv)
        {
            char rp[128];
            snprintf(rp, sizeof(rp), "%s[%zu]", sub, n);
            if (!json_is_string(rv))
                return bad(c, rp, "expected a string, got %s", type_name(rv));
            if ((ret = parse_route(c, rp, json_string_value(rv), i, &cfg->routes[cfg->nroutes])))
                return ret;
            cfg->nroutes++;
        }
    }
    return 0;
}

void ic_router_config_free(ic_router_config_t *cfg)
{
    if (!cfg)
        return;
    for (unsigned i = 0; i < cfg->nworkers; i++) {
        struct ic__worker_cfg *w = &cfg->workers[i];
        free(w->name);
        free(w->path);
        for (unsigned k = 0; k < w->nenv; k++)
            free(w->env[k]);
        free(w->env);
        ic__bundle_free(&w->bundle);
        for (unsigned k = 0; k < w->nservices; k++)
            free(w->services[k]);
        free(w->services);
    }
    for (unsigned i = 0; i < cfg->nroutes; i++) {
        free(cfg->routes[i].host);
        free(cfg->routes[i].prefix);
    }
    free(cfg->workers);
    free(cfg->routes);
    free(cfg->file);
    free(cfg->host);
    free(cfg->admin_host);
    free(cfg->node);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg);
}

int ic_router_config_parse(const char *name, const char *text, size_t len, ic_router_config_t **out, char *err, size_t errlen)
{
    struct ctx c = {name, text, len, err, errlen};
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (errlen)
            snprintf(err, errlen, "%s:%d: %s", name, je.line > 0 ? je.line : 1, je.text);
        return IC_ECONFIG;
    }
    struct ic_router_config *cfg = calloc(1, sizeof(*cfg));
    int ret = -ENOMEM;
    if (!cfg)
        goto err;
    cfg->file = strdup(name);
    cfg->host = strdup("127.0.0.1");
    cfg->admin_host = strdup("127.0.0.1");
    cfg->port = 8080;
    cfg->admin_port = -1;
    cfg->drain_timeout_ms = 30000;
    cfg->inflight_per_pair = 1024;
    cfg->queue_per_tenant = 256;
    cfg->default_worker = -1;
    ic__place_params_init(&cfg->place);
    if (!cfg->file || !cfg->host || !cfg->admin_host)
        goto err;
    if (!json_is_object(root)) {
        ret = bad(&c, "(top level)", "expected an object, got %s", type_name(root));
        goto err;
    }
    static const char *const known[] = {"listen",  "admin",   "cores", "limits",           "backpressure", "core_header",
                                        "default", "workers", "node",  "drain_timeout_ms", "placement",    NULL};
    bool has_listen = false, has_admin = false;
    unsigned admin_port = 0;
    ic_js_limits_t limits = {0};
    ic_placement_t placement = IC_PLACE_STICKY;
    if ((ret = only(&c, root, "", known)) || (ret = get_listen(&c, root, "listen", &cfg->host, &cfg->port, &has_listen)) ||
        (ret = get_listen_tls(&c, root, &cfg->tls_cert, &cfg->tls_key)) ||
        (ret = get_listen(&c, root, "admin", &cfg->admin_host, &admin_port, &has_admin)) ||
        (ret = get_uint(&c, root, "", "cores", 0, IC_MAX_CORES, &cfg->cores)) ||
        (ret = get_uint(&c, root, "", "drain_timeout_ms", 0, 3600000, &cfg->drain_timeout_ms)) ||
        (ret = get_limits(&c, root, "", &limits)) || (ret = get_placement(&c, root, &placement, &cfg->place)))
        goto err;
    if (has_admin)
        cfg->admin_port = (int)admin_port;
    cfg->placement = placement;
    json_t *bp = json_object_get(root, "backpressure");
    if (bp) {
        static const char *const bknown[] = {"inflight_per_core_pair", "queue_per_tenant", NULL};
        if (!json_is_object(bp)) {
            ret = bad(&c, "backpressure", "expected an object, got %s", type_name(bp));
            goto err;
        }
        if ((ret = only(&c, bp, "backpressure", bknown)) ||
            (ret = get_uint(&c, bp, "backpressure", "inflight_per_core_pair", 1, 1 << 20, &cfg->inflight_per_pair)) ||
            (ret = get_uint(&c, bp, "backpressure", "queue_per_tenant", 1, 1 << 20, &cfg->queue_per_tenant)))
            goto err;
    }
    json_t *ch = json_object_get(root, "core_header");
    if (ch) {
        if (!json_is_boolean(ch)) {
            ret = bad(&c, "core_header", "expected true or false, got %s", type_name(ch));
            goto err;
        }
        cfg->core_header = json_is_true(ch);
    }
    if ((ret = get_str(&c, root, "", "node", &cfg->node)))
        goto err;
    if (cfg->node && ic_router_config_set_node(cfg, cfg->node) == -EINVAL) {
        ret = bad(&c, "node", "expected 1 to 63 of A-Z a-z 0-9 . _ -, got '%s'", cfg->node);
        goto err;
    }
    json_t *workers = json_object_get(root, "workers");
    if (!workers || !json_is_array(workers) || json_array_size(workers) == 0) {
        ret = bad(&c, "workers", "expected a non-empty array of workers [{\"name\", \"module\", \"routes\"}]%s",
                  workers ? "" : " (missing)");
        goto err;
    }
    cfg->workers = calloc(json_array_size(workers), sizeof(*cfg->workers));
    if (!cfg->workers)
        goto err;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", name);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    size_t i;
    json_t *w;
    json_array_foreach(workers, i, w)
    {
        cfg->workers[i].limits = limits;
        cfg->workers[i].placement = placement;
        cfg->nworkers = (unsigned)i + 1;
        if ((ret = parse_worker(cfg, &c, w, (unsigned)i, dir)))
            goto err;
    }
    if ((ret = check_services(cfg, &c)))
        goto err;
    char *def = NULL;
    if ((ret = get_str(&c, root, "", "default", &def)))
        goto err;
    if (def) {
        for (unsigned k = 0; k < cfg->nworkers; k++)
            if (strcmp(cfg->workers[k].name, def) == 0)
                cfg->default_worker = (int)k;
        if (cfg->default_worker < 0) {
            ret = bad(&c, "default", "'%s' is not the name of a worker", def);
            free(def);
            goto err;
        }
        free(def);
    }
    json_decref(root);
    *out = cfg;
    return 0;
err:
    json_decref(root);
    ic_router_config_free(cfg);
    if (ret == -ENOMEM && errlen)
        snprintf(err, errlen, "%s: out of memory", name);
    return ret;
}

int ic_router_config_load(const char *path, ic_router_config_t **out, char *err, size_t errlen)
{
    char *buf;
    size_t n;
    int ret = ic__router_read_file(path, &buf, &n);
    if (ret < 0) {
        if (errlen && ret != -ENOMEM)
            snprintf(err, errlen, "%s: %s", path, strerror(-ret));
        return ret;
    }
    ret = ic_router_config_parse(path, buf, n, out, err, errlen);
    free(buf);
    if (ret == 0 && (ret = ic__router_config_bundle(*out, err, errlen)) < 0) {
        ic_router_config_free(*out);
        *out = NULL;
    }
    return ret;
}

const char *ic_router_config_host(const ic_router_config_t *cfg)
{
    return cfg->host;
}

unsigned ic_router_config_port(const ic_router_config_t *cfg)
{
    return cfg->port;
}

const char *ic_router_config_admin_host(const ic_router_config_t *cfg)
{
    return cfg->admin_host;
}

int ic_router_config_admin_port(const ic_router_config_t *cfg)
{
    return cfg->admin_port;
}

const char *ic_router_config_node(const ic_router_config_t *cfg)
{
    return cfg->node;
}

void ic_router_config_placement(const ic_router_config_t *cfg, ic_router_placement_t *out)
{
    const ic__place_params_t *p = &cfg->place;
    *out = (ic_router_placement_t){cfg->placement,
                                   (unsigned)(p->replicate_ns / 1000000u),
                                   (unsigned)(p->shed_ns / 1000000u),
                                   (unsigned)(p->retire_ns / 1000000u),
                                   p->max_replicas,
                                   p->isolate_budget};
}

int ic_router_config_set_node(ic_router_config_t *cfg, const char *name)
{
    size_t n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    if (n == 0 || n > 63 || name[n])
        return -EINVAL;
    if (name == cfg->node)
        return 0;
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    free(cfg->node);
    cfg->node = copy;
    return 0;
}

unsigned ic_router_config_drain_timeout(const ic_router_config_t *cfg)
{
    return cfg->drain_timeout_ms;
}

unsigned ic_router_config_cores(const ic_router_config_t *cfg)
{
    return cfg->cores;
}

unsigned ic_router_config_workers(const ic_router_config_t *cfg)
{
    return cfg->nworkers;
}

const char *ic_router_config_tls_cert(const ic_router_config_t *cfg)
{
    return cfg->tls_cert;
}

const char *ic_router_config_tls_key(const ic_router_config_t *cfg)
{
    return cfg->tls_key;
}
