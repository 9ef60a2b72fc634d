/*
 * routes.c: from a request's Host and path to its tenant.
 *
 * The Host header (port dropped unless the route names one, case folded)
 * and the path pick a route: an exact host beats a wildcard
 * ("*.example.com", longest suffix first), which beats a host-less prefix
 * route ("/static"); among those, the longest path prefix wins. No route:
 * the default worker, else -1. Exact hosts are found through a hash table
 * (built once per router by ic__routes_index); wildcard and prefix-only
 * routes are scanned.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "router/internal.h"

static uint64_t hash_host(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

int ic__routes_index(ic_router_t *r)
{
    const ic_router_config_t *cfg = r->cfg;
    r->nbuckets = 16;
    while (r->nbuckets < 2 * cfg->nroutes)
        r->nbuckets *= 2;
    r->buckets = malloc(r->nbuckets * sizeof(int));
    r->next_route = malloc((cfg->nroutes + 1) * sizeof(int));
    if (!r->buckets || !r->next_route)
        return -ENOMEM;
    for (unsigned i = 0; i < r->nbuckets; i++)
        r->buckets[i] = -1;
    for (unsigned i = cfg->nroutes; i-- > 0;) {
        const struct ic__route *rt = &cfg->routes[i];
        r->next_route[i] = -1;
        if (rt->host && !rt->wildcard) {
            unsigned b = (unsigned)hash_host(rt->host, strlen(rt->host)) & (r->nbuckets - 1);
            r->next_route[i] = r->buckets[b];
            r->buckets[b] = (int)i;
        }
    }
    return 0;
}

/* The path of a request target: origin-form as is; absolute-form after the authority. */
static ic_str_t path_of(ic_str_t target)
{
    if (target.len && target.p[0] == '/')
        return target;
    const char *p = memmem(target.p, target.len, "://", 3);
    if (p) {
        const char *slash = memchr(p + 3, '/', target.len - (size_t)(p + 3 - target.p));
        if (slash)
            return (ic_str_t){slash, target.len - (size_t)(slash - target.p)};
    }
    return (ic_str_t){"/", 1};
}

static bool prefix_ok(const struct ic__route *rt, ic_str_t path)
{
    if (!rt->prefix)
        return true;
    size_t n = strlen(rt->prefix);
    /* "/api" matches "/api", "/api/x" and "/api?q", not "/apis". */
    return path.len >= n && memcmp(path.p, rt->prefix, n) == 0 &&
           (path.len == n || rt->prefix[n - 1] == '/' || path.p[n] == '/' || path.p[n] == '?');
}

static size_t prefix_len(const struct ic__route *rt)
{
    return rt->prefix ? strlen(rt->prefix) : 0;
}

/* The tenant of a request, or -1. */
int ic__route(const ic_router_t *r, const ic_http_request_t *req)
{
    const ic_router_config_t *cfg = r->cfg;
    char host[256];
    size_t hn = req->host.len < sizeof(host) ? req->host.len : 0;
    for (size_t i = 0; i < hn; i++) {
        char ch = req->host.p[i];
        host[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    const char *colon = memchr(host, ':', hn);
    size_t bare = colon && host[0] != '[' ? (size_t)(colon - host) : hn;
    ic_str_t path = path_of(req->target);
    int best = -1;
    size_t best_len = 0;
    /* Exact hosts: with the port, then without. */
    for (int pass = 0; pass < 2 && best < 0; pass++) {
        size_t len = pass == 0 ? hn : bare;
        if (pass == 1 && bare == hn)
            break;
        unsigned b = (unsigned)hash_host(host, len) & (r->nbuckets - 1);
        for (int i = r->buckets[b]; i >= 0; i = r->next_route[i]) {
            const struct ic__route *rt = &cfg->routes[i];
            if (strlen(rt->host) == len && memcmp(rt->host, host, len) == 0 && prefix_ok(rt, path) &&
                (best < 0 || prefix_len(rt) > best_len)) {
                best = (int)rt->worker;
                best_len = prefix_len(rt);
            }
        }
    }
    if (best >= 0)
        return best;
    /* Wildcards (longest suffix), then host-less prefixes. */
    size_t best_suffix = 0;
    for (unsigned i = 0; i < cfg->nroutes; i++) {
        const struct ic__route *rt = &cfg->routes[i];
        if (!rt->wildcard || !prefix_ok(rt, path))
            continue;
        size_t sn = strlen(rt->host);
        if (bare > sn && memcmp(host + bare - sn, rt->host, sn) == 0 &&
            (sn > best_suffix || (sn == best_suffix && prefix_len(rt) > best_len))) {
            best = (int)rt->worker;
            best_suffix = sn;
            best_len = prefix_len(rt);
        }
    }
    if (best >= 0)
        return best;
    for (unsigned i = 0; i < cfg->nroutes; i++) {
        const struct ic__route *rt = &cfg->routes[i];
        if (!rt->host && prefix_ok(rt, path) && (best < 0 || prefix_len(rt) > best_len)) {
            best = (int)rt->worker;
            best_len = prefix_len(rt);
        }
    }
    return best >= 0 ? best : cfg->default_worker;
}
