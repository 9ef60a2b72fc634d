/*
 * pool.cc: a core's warm workers, one per tenant, with an LRU budget.
 *
 * A hash map finds a tenant's worker; a list orders workers from most to
 * least recently used. Only the core that created the pool touches it.
 */
#include <errno.h>
#include <string.h>

#include <list>

#include "js/internal.hh"

struct pool_entry {
    const ic_js_tenant *tenant;
    ic_js_worker *w;
};

struct ic_js_pool;
struct pool_refill {
    ic_timer_t timer; /* first: the callback finds the pool from it */
    ic_js_pool *pool;
};

struct ic_js_pool {
    ic_js_pool_config_t cfg;
    std::list<pool_entry> lru; /* front: most recently used */
    std::unordered_map<const ic_js_tenant *, std::list<pool_entry>::iterator> by_tenant;
    ic_js_pool_stats_t stats;
    ic_js_worker *spare = nullptr; /* blank, default heap limit */
    struct pool_refill refill;
};

static const size_t spare_heap = (size_t)128 << 20; /* the tenants' default heap limit */

static void refill_fired(ic_timer_t *t)
{
    ic_js_pool_prepare(reinterpret_cast<pool_refill *>(t)->pool);
}

extern "C" int ic_js_pool_prepare(ic_js_pool_t *p)
{
    if (p->spare)
        return 0;
    p->spare = ic__js_blank_new(spare_heap);
    return p->spare ? 0 : -ENOMEM;
}

extern "C" int ic_js_pool_new(const ic_js_pool_config_t *cfg, ic_js_pool_t **out)
{
    ic_js_pool *p = new (std::nothrow) ic_js_pool();
    if (!p)
        return -ENOMEM;
    memset(&p->stats, 0, sizeof(p->stats));
    p->cfg.max_workers = cfg && cfg->max_workers ? cfg->max_workers : 1000;
    p->cfg.max_bytes = cfg && cfg->max_bytes ? cfg->max_bytes : (size_t)2 << 30;
    p->cfg.no_spare = cfg && cfg->no_spare;
    ic_timer_init(&p->refill.timer, refill_fired);
    p->refill.pool = p;
    *out = p;
    return 0;
}

static void drop(ic_js_pool *p, std::list<pool_entry>::iterator it)
{
    ic_js_worker *w = it->w;
    p->by_tenant.erase(it->tenant);
    p->lru.erase(it);
    p->stats.workers = (unsigned)p->lru.size();
    ic_js_worker_free(w);
}

extern "C" void ic_js_pool_free(ic_js_pool_t *p)
{
    if (!p)
        return;
    while (!p->lru.empty())
        drop(p, p->lru.begin());
    ic_timer_stop(&p->refill.timer);
    ic_js_worker_free(p->spare);
    delete p;
}

/* Disposes idle workers from the cold end until the pool fits its budget (keep is never disposed). */
static void enforce(ic_js_pool *p, ic_js_worker *keep)
{
    size_t bytes = 0;
    for (auto &e : p->lru)
        bytes += ic_js_worker_heap_bytes(e.w);
    p->stats.bytes = bytes;
    auto it = p->lru.end();
    while (it != p->lru.begin() && (p->lru.size() > p->cfg.max_workers || bytes > p->cfg.max_bytes)) {
        --it;
        if (it->w == keep || ic_js_worker_pending(it->w) > 0)
            continue;
        size_t b = ic_js_worker_heap_bytes(it->w);
        auto victim = it++;
        drop(p, victim);
        bytes -= b < bytes ? b : bytes;
        p->stats.evicted++;
    }
    p->stats.bytes = bytes;
}

extern "C" int ic_js_pool_get(ic_js_pool_t *p, const ic_js_tenant_t *t, ic_js_worker_t **out, char *err, size_t errlen)
{
    auto found = p->by_tenant.find(t);
    if (found != p->by_tenant.end()) {
        if (!ic_js_worker_broken(found->second->w)) {
            p->lru.splice(p->lru.begin(), p->lru, found->second);
            *out = found->second->w;
            return 0;
        }
        drop(p, found->second);
        p->stats.recycled++;
    }
    ic_js_worker *w;
    int ret;
    if (p->spare && ic__js_blank_fits(p->spare, t)) {
        ic_js_worker *blank = p->spare;
        p->spare = nullptr;
        ret = ic__js_blank_load(blank, t, &w, err, errlen);
        if (ret == 0)
            p->stats.spares_used++;
    } else {
        ret = ic_js_worker_new(t, &w, err, errlen);
    }
    /* The next spare is made shortly, after this request's answer went out (not in this loop turn). */
    if (!p->cfg.no_spare && !p->spare && ic_reactor_id() >= 0 && !ic_timer_active(&p->refill.timer))
        ic_timer_start(&p->refill.timer, 2 * 1000000ull, 0);
    if (ret < 0)
        return ret;
    p->stats.created++;
    p->lru.push_front(pool_entry{t, w});
    p->by_tenant[t] = p->lru.begin();
    p->stats.workers = (unsigned)p->lru.size();
    enforce(p, w);
    *out = w;
    return 0;
}

extern "C" void ic_js_pool_fetch(ic_js_pool_t *p, const ic_js_tenant_t *t, const ic_http_request_t *req, ic_str_t body,
                                 ic_js_done_cb done, void *arg)
{
    ic_js_pool_fetch_ex(p, t, req, body, 0, done, arg);
}

/* ic_js_pool_fetch_ex's two forms: a request and its body, or an HTTP exchange (x) whose body may stream in. */
static void pool_fetch(ic_js_pool_t *p, const ic_js_tenant_t *t, ic_http_exchange_t *x, const ic_http_request_t *req, ic_str_t body,
                       unsigned flags, ic_js_done_cb done, void *arg);

extern "C" void ic_js_pool_http_fetch(ic_js_pool_t *p, const ic_js_tenant_t *t, ic_http_exchange_t *x, unsigned flags,
                                      ic_js_done_cb done, void *arg)
{
    pool_fetch(p, t, x, nullptr, ic_str_t{nullptr, 0}, flags, done, arg);
}

extern "C" void ic_js_pool_fetch_ex(ic_js_pool_t *p, const ic_js_tenant_t *t, const ic_http_request_t *req, ic_str_t body,
                                    unsigned flags, ic_js_done_cb done, void *arg)
{
    pool_fetch(p, t, nullptr, req, body, flags, done, arg);
}

static void pool_fetch(ic_js_pool_t *p, const ic_js_tenant_t *t, ic_http_exchange_t *x, const ic_http_request_t *req, ic_str_t body,
                       unsigned flags, ic_js_done_cb done, void *arg)
{
    ic_js_worker *w;
    char err[1024];
    int ret = ic_js_pool_get(p, t, &w, err, sizeof(err));
    if (ret < 0) {
        ic_log(IC_LOG_ERROR, "[%s] cannot start the worker: %s", t->name.c_str(), err[0] ? err : ic_strerror(ret));
        static const char *const hdr[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Service Unavailable: the worker failed to start\n";
        ic_js_response_t r = {503, hdr, 1, msg, sizeof(msg) - 1, nullptr};
        done(arg, &r);
        return;
    }
    if (x)
        ic_js_http_fetch(w, x, flags, done, arg);
    else
        ic_js_worker_fetch_ex(w, req, body, flags, done, arg);
    if (ic_js_worker_broken(w)) {
        auto it = p->by_tenant.find(t);
        if (it != p->by_tenant.end() && it->second->w == w) {
            drop(p, it->second);
            p->stats.recycled++;
        }
    }
}

extern "C" void ic_js_pool_drop(ic_js_pool_t *p, const ic_js_tenant_t *t)
{
    auto it = p->by_tenant.find(t);
    if (it != p->by_tenant.end())
        drop(p, it->second);
}

extern "C" void ic_js_pool_stats(const ic_js_pool_t *p, ic_js_pool_stats_t *out)
{
    *out = p->stats;
}
