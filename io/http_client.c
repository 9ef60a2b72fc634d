/*
 * http_client.c: the HTTP/1.1 client of isocore/http.h (ic_http_call_*,
 * ic_http_client_*), the part of io/ that fetch() rides on.
 *
 * Each reactor has a pool, made by its first call and freed once the
 * reactor stops and the last call and connection of it are gone (a stop
 * hook closes the idle connections and fails the calls that wait, so the
 * pool never keeps a stopping reactor alive). The pool keeps origins (tls,
 * lowercase host, port); an origin keeps its idle keep-alive connections
 * newest first (a call takes the newest, so the oldest age out) and the
 * calls that wait for a connection of it, oldest first. A call opens a new
 * connection while its origin has fewer than max_per_origin and the core
 * fewer than max_per_core (an idle connection of another origin is closed
 * to make room); otherwise it waits, and is handed the next connection its
 * origin releases, or a slot when one frees. One timer per pool closes
 * idle connections after idle_ms; it is armed when the idle list stops
 * being empty and re-armed only when it fires.
 *
 * A connection belongs to one call at a time: the request goes out (head,
 * then the body, chunk-framed when its length is unknown), the response is
 * parsed as it arrives (ic_http_parse_response, then a body framed by
 * Content-Length, chunked coding or the close) and delivered to the call's
 * ops; the connection returns to the pool only when the request body was
 * all sent, the response all read, it said keep-alive and nothing came
 * after it. A pooled connection the server closed while it sat idle is
 * found out when the request meets the EOF or reset: a call that received
 * nothing of its response and whose body is still in hand (empty, or of a
 * known length up to REPLAY_MAX) is retried once on a new connection.
 *
 * Ops run from the reactor loop: head and body from the connection's
 * input, end always from a task posted by finish(), so no op ever runs
 * inside an ic_http_call_* function and a caller may start or abort calls
 * from any op.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "io/internal.h"
#include "isocore/dns.h"
#include "isocore/http.h"
#include "isocore/tcp.h"

#define HEAD_MAX (64 * 1024)     /* a response head past this: -E2BIG */
#define OUT_HIGH (256 * 1024)    /* request bytes queued past this: ic_http_call_write says wait */
#define REPLAY_MAX (1024 * 1024) /* a request body of known length up to this is kept for a retry */
#define SCRATCH 16384            /* chunked bodies are decoded this much at a time */

struct pool;
struct conn;

enum { C_WAIT, C_CONNECT, C_ACTIVE, C_DONE };  /* a call's state */
enum { R_HEAD, R_LENGTH, R_CHUNKED, R_CLOSE }; /* what the response's next bytes are */

struct origin {
    struct origin *next, *prev; /* the pool's list */
    struct pool *p;
    char *host; /* lowercase */
    unsigned port;
    bool tls, numeric;
    unsigned refs;                         /* calls and connections that point here */
    unsigned open;                         /* connections counted against max_per_origin */
    struct conn *idle;                     /* idle connections, newest first */
    ic_http_call_t *wait_head, *wait_tail; /* calls waiting for a connection, oldest first */
};

struct conn {
    struct pool *p;
    struct origin *o;
    ic_tcp_conn_t *tcp; /* NULL while resolving, and once closed */
    ic_dns_query_t *q;  /* the lookup in progress */
    ic_http_call_t *call;
    struct conn *next, *prev;   /* the pool's list of every connection */
    struct conn *inext, *iprev; /* the origin's idle list */
    struct conn *pnext, *pprev; /* the pool's idle list, oldest first */
    uint64_t idle_since;
    ic_dns_answer_t ans;
    unsigned ai;    /* the address being tried */
    bool counted;   /* counts in p->open and o->open */
    bool connected; /* on_open ran for the current tcp */
    bool idle, eof, dropped, in_close, paused;
    bool reused; /* it served a call before */
};

struct ic_http_call {
    struct pool *p;
    struct origin *o;
    struct conn *conn; /* the connection opening for it, or serving it */
    const ic_http_call_ops_t *ops;
    void *arg;
    ic_http_call_t *wnext, *wprev; /* the origin's wait list */
    int state, rstate;
    /* The request: its head, then body bytes written before a connection was there (or all of them when replay). */
    char *req;
    size_t req_len, req_cap;
    int64_t body_length;
    uint64_t body_written;
    bool body_done, replay, retried, head_method;
    bool paused, drain_wanted, got_byte, reuse_ok, aborted, ended;
    unsigned in_op, tasks;
    unsigned connect_ms, head_ms;
    ic_timer_t timer; /* the connect timeout (C_CONNECT), then the head timeout (C_ACTIVE) */
    ic_task_t end_task, eof_task;
    uint64_t body_left, body_got;
    ic_http_chunked_t dec;
    int err;
    char why[256];
    ic_http_response_t res;
};

struct pool {
    ic_stop_hook_t hook;
    ic_timer_t idle_timer;
    ic_task_t kick_task;
    bool stopping, kick_posted;
    unsigned refs; /* calls, connections and a posted kick */
    unsigned open, nidle, nwaiting;
    struct origin *origins;
    struct conn *conns;
    struct conn *idle_head, *idle_tail;
    ic_tls_ctx_t *own_tls; /* made on the first https call when the config gave none */
    char scratch[SCRATCH];
    ic_http_client_stats_t stats;
};

static ic_http_client_config_t g_cfg = {32, 512, 30000, NULL};
static _Thread_local struct pool *tl_pool;

static void finish(ic_http_call_t *c, int err);
static void fail(ic_http_call_t *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void conn_drop(struct conn *conn, bool force);
static void open_conn(ic_http_call_t *c);
static void handle_eof(ic_http_call_t *c);

/* ---- the configuration ------------------------------------------------------------------ */

void ic_http_client_config_init(ic_http_client_config_t *cfg)
{
    cfg->max_per_origin = 32;
    cfg->max_per_core = 512;
    cfg->idle_ms = 30000;
    cfg->tls = NULL;
}

void ic_http_client_configure(const ic_http_client_config_t *cfg)
{
    g_cfg = *cfg;
    if (g_cfg.max_per_origin == 0)
        g_cfg.max_per_origin = 32;
    if (g_cfg.max_per_core == 0)
        g_cfg.max_per_core = 512;
    if (g_cfg.idle_ms == 0)
        g_cfg.idle_ms = 30000;
}

void ic_http_client_stats(ic_http_client_stats_t *out)
{
    struct pool *p = tl_pool;
    if (!p) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = p->stats;
    out->open = p->open;
    out->idle = p->nidle;
}

void ic_http_call_config_init(ic_http_call_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 80;
    cfg->method = "GET";
    cfg->target = "/";
}

/* ---- the pool and its origins ----------------------------------------------------------- */

static void pool_maybe_free(struct pool *p)
{
    if (!p->stopping || p->refs)
        return;
    ic_reactor_on_stop_remove(&p->hook);
    ic_timer_stop(&p->idle_timer);
    ic_tls_free(p->own_tls);
    if (tl_pool == p)
        tl_pool = NULL;
    free(p);
}

static void origin_unref(struct origin *o)
{
    if (--o->refs)
        return;
    struct pool *p = o->p;
    if (o->prev)
        o->prev->next = o->next;
    else
        p->origins = o->next;
    if (o->next)
        o->next->prev = o->prev;
    free(o->host);
    free(o);
}

/* The origin of (tls, host, port), made on first use; NULL when out of memory. Takes a reference. */
static struct origin *origin_get(struct pool *p, bool tls, const char *host, unsigned port)
{
    for (struct origin *o = p->origins; o; o = o->next)
        if (o->tls == tls && o->port == port && strcasecmp(o->host, host) == 0) {
            o->refs++;
            return o;
        }
    struct origin *o = calloc(1, sizeof(*o));
    if (!o || !(o->host = strdup(host))) {
        free(o);
        return NULL;
    }
    for (char *s = o->host; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    unsigned char tmp[16];
    o->numeric = inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
    o->p = p;
    o->tls = tls;
    o->port = port;
    o->refs = 1;
    o->next = p->origins;
    if (p->origins)
        p->origins->prev = o;
    p->origins = o;
    return o;
}

static void wait_push(struct origin *o, ic_http_call_t *c)
{
    c->state = C_WAIT;
    c->wnext = NULL;
    c->wprev = o->wait_tail;
    if (o->wait_tail)
        o->wait_tail->wnext = c;
    else
        o->wait_head = c;
    o->wait_tail = c;
    o->p->nwaiting++;
}

static void wait_remove(ic_http_call_t *c)
{
    struct origin *o = c->o;
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        o->wait_head = c->wnext;
    if (c->wnext)
        c->wnext->wprev = c->wprev;
    else
        o->wait_tail = c->wprev;
    c->wnext = c->wprev = NULL;
    o->p->nwaiting--;
}

static void idle_unlink(struct conn *conn)
{
    struct pool *p = conn->p;
    struct origin *o = conn->o;
    if (!conn->idle)
        return;
    conn->idle = false;
    if (conn->iprev)
        conn->iprev->inext = conn->inext;
    else
        o->idle = conn->inext;
    if (conn->inext)
        conn->inext->iprev = conn->iprev;
    if (conn->pprev)
        conn->pprev->pnext = conn->pnext;
    else
        p->idle_head = conn->pnext;
    if (conn->pnext)
        conn->pnext->pprev = conn->pprev;
    else
        p->idle_tail = conn->pprev;
    conn->inext = conn->iprev = conn->pnext = conn->pprev = NULL;
    p->nidle--;
}

/* Closes idle connections that sat for idle_ms; re-arms for the oldest left. */
static void idle_fired(ic_timer_t *t)
{
    struct pool *p = (struct pool *)((char *)t - offsetof(struct pool, idle_timer));
    uint64_t limit = (uint64_t)g_cfg.idle_ms * 1000000, now = ic_reactor_now();
    while (p->idle_head && now - p->idle_head->idle_since >= limit)
        conn_drop(p->idle_head, false);
    if (p->idle_head)
        ic_timer_start(&p->idle_timer, limit - (now - p->idle_head->idle_since), 0);
}

/* True when a new connection to o may open now (closing the pool's oldest idle connection to make room, if need be). */
static bool can_open(struct pool *p, struct origin *o)
{
    if (o->open >= g_cfg.max_per_origin)
        return false;
    if (p->open < g_cfg.max_per_core)
        return true;
    if (!p->idle_head)
        return false;
    conn_drop(p->idle_head, false); /* not o's: o has none idle, or the call would have taken it */
    return p->open < g_cfg.max_per_core;
}

/* A slot freed: calls that wait open connections while the caps allow, oldest origin list first. */
static void kick_task(ic_task_t *t)
{
    struct pool *p = (struct pool *)((char *)t - offsetof(struct pool, kick_task));
    p->kick_posted = false;
    p->refs--;
    for (struct origin *o = p->origins; o && p->nwaiting && !p->stopping; o = o->next) {
        while (o->wait_head && can_open(p, o)) {
            ic_http_call_t *c = o->wait_head;
            wait_remove(c);
            open_conn(c);
        }
    }
    pool_maybe_free(p);
}

static void uncount(struct conn *conn)
{
    if (!conn->counted)
        return;
    struct pool *p = conn->p;
    conn->counted = false;
    conn->o->open--;
    p->open--;
    if (p->nwaiting && !p->kick_posted && !p->stopping) {
        p->kick_posted = true;
        p->refs++;
        ic_task_post(&p->kick_task, kick_task);
    }
}

/* The reactor is stopping: idle connections close, calls that wait or resolve fail, and nothing is pooled from now on. */
static void stop_hook(ic_stop_hook_t *h)
{
    struct pool *p = (struct pool *)((char *)h - offsetof(struct pool, hook));
    p->stopping = true;
    ic_timer_stop(&p->idle_timer);
    while (p->idle_head)
        conn_drop(p->idle_head, false);
    for (struct origin *o = p->origins; o; o = o->next)
        while (o->wait_head)
            fail(o->wait_head, IC_ESHUTDOWN, "the reactor is stopping");
    for (struct conn *conn = p->conns, *next; conn; conn = next) {
        next = conn->next; /* failing the call may free conn (a lookup in progress) */
        if (conn->call && !conn->connected)
            fail(conn->call, IC_ESHUTDOWN, "the reactor is stopping");
    }
    pool_maybe_free(p);
}

static struct pool *pool_get(void)
{
    if (tl_pool)
        return tl_pool;
    struct pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    ic_timer_init(&p->idle_timer, idle_fired);
    p->hook.fn = stop_hook;
    ic_reactor_on_stop(&p->hook);
    tl_pool = p;
    return p;
}

/* ---- calls: ending and freeing ------------------------------------------------------------- */

static void call_maybe_free(ic_http_call_t *c)
{
    if (c->state != C_DONE || c->in_op || c->tasks || !(c->ended || c->aborted))
        return;
    struct pool *p = c->p;
    origin_unref(c->o);
    free(c->req);
    free(c);
    p->refs--;
    pool_maybe_free(p);
}

static void end_task(ic_task_t *t)
{
    ic_http_call_t *c = (ic_http_call_t *)((char *)t - offsetof(ic_http_call_t, end_task));
    c->tasks--;
    if (!c->aborted) {
        c->in_op++;
        c->ops->end(c->arg, c->err, c->err ? c->why : NULL);
        c->in_op--;
    }
    c->ended = true;
    call_maybe_free(c);
}

/* True when a call waits only because the core is at max_per_core (its origin is below max_per_origin). */
static bool core_starved(struct pool *p)
{
    if (!p->nwaiting)
        return false;
    for (struct origin *o = p->origins; o; o = o->next)
        if (o->wait_head && o->open < g_cfg.max_per_origin)
            return true;
    return false;
}

/* Hands a connection whose exchange ended cleanly to a waiting call of its origin, or to the idle lists. */
static void attach(ic_http_call_t *c, struct conn *conn);
static void release(struct conn *conn)
{
    struct pool *p = conn->p;
    struct origin *o = conn->o;
    conn->call = NULL;
    if (p->stopping || conn->eof || !conn->tcp || ic_tcp_closing(conn->tcp)) {
        conn_drop(conn, false);
        return;
    }
    conn->reused = true;
    if (conn->paused) {
        conn->paused = false;
        ic_tcp_resume(conn->tcp);
    }
    if (o->wait_head) {
        ic_http_call_t *w = o->wait_head;
        wait_remove(w);
        p->stats.reuses++;
        attach(w, conn);
        return;
    }
    if (core_starved(p)) {
        conn_drop(conn, false); /* its slot is worth more to a call of another origin than an idle connection */
        return;
    }
    conn->idle = true;
    conn->idle_since = ic_reactor_now();
    conn->inext = o->idle;
    conn->iprev = NULL;
    if (o->idle)
        o->idle->iprev = conn;
    o->idle = conn;
    conn->pnext = NULL;
    conn->pprev = p->idle_tail;
    if (p->idle_tail)
        p->idle_tail->pnext = conn;
    else
        p->idle_head = conn;
    p->idle_tail = conn;
    p->nidle++;
    if (!ic_timer_active(&p->idle_timer))
        ic_timer_start(&p->idle_timer, (uint64_t)g_cfg.idle_ms * 1000000, 0);
}

/*
 * The call is over with err (0: the response is complete): its connection
 * goes back to the pool (err 0 and reusable) or closes, and end runs from a
 * task. c->why holds the reason when err is not 0.
 */
static void finish(ic_http_call_t *c, int err)
{
    if (c->state == C_DONE)
        return;
    if (c->state == C_WAIT)
        wait_remove(c);
    struct conn *conn = c->conn;
    c->conn = NULL;
    if (conn) {
        conn->call = NULL;
        if (err == 0 && c->reuse_ok)
            release(conn);
        else
            conn_drop(conn, err != 0);
    }
    ic_timer_stop(&c->timer);
    free(c->req);
    c->req = NULL;
    c->req_len = c->req_cap = 0;
    c->state = C_DONE;
    c->err = err;
    c->tasks++;
    ic_task_post(&c->end_task, end_task);
}

static void fail(ic_http_call_t *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
    finish(c, err);
}

/* "host:port" of c's origin, IPv6 in brackets, into buf. */
static const char *peer(const struct origin *o, const char *addr, char *buf, size_t n)
{
    const char *h = addr ? addr : o->host;
    bool v6 = strchr(h, ':') != NULL;
    snprintf(buf, n, "%s%s%s:%u", v6 ? "[" : "", h, v6 ? "]" : "", o->port);
    return buf;
}

#define PEER(c) peer((c)->o, NULL, (char[300]){0}, 300)

/* ---- connections -------------------------------------------------------------------------- */

static void conn_free(struct conn *conn)
{
    struct pool *p = conn->p;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        p->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    origin_unref(conn->o);
    free(conn);
    p->refs--;
    pool_maybe_free(p);
}

/*
 * Stops using a connection (its call, if any, was detached first): it no
 * longer counts against the caps, leaves the idle lists and closes; force
 * cuts what is still queued to it. Frees it at once when it has no socket
 * (nothing may use conn after this call).
 */
static void conn_drop(struct conn *conn, bool force)
{
    uncount(conn);
    idle_unlink(conn);
    if (conn->q) {
        ic_dns_cancel(conn->q);
        conn->q = NULL;
    }
    if (conn->tcp) {
        if (!conn->dropped) {
            conn->dropped = true;
            bool queued = ic_tcp_unsent(conn->tcp) > 0;
            ic_tcp_close(conn->tcp);
            /* ic_tcp_close waits for the output; a failed or abandoned exchange does not: the pending send fails at once. */
            if (force && queued && ic_tcp_fd(conn->tcp) >= 0)
                shutdown(ic_tcp_fd(conn->tcp), SHUT_RDWR);
        }
        return;
    }
    conn->dropped = true;
    if (!conn->in_close)
        conn_free(conn);
}

static void on_open(ic_tcp_conn_t *tcp);
static size_t on_data(ic_tcp_conn_t *tcp, const char *data, size_t len);
static void on_eof(ic_tcp_conn_t *tcp);
static void on_close(ic_tcp_conn_t *tcp, int err);
static void on_drain(ic_tcp_conn_t *tcp);
static const ic_tcp_handlers_t conn_handlers = {
    .on_open = on_open, .on_data = on_data, .on_eof = on_eof, .on_close = on_close, .on_drain = on_drain};

static ic_tls_ctx_t *tls_ctx(struct pool *p, char *err, size_t n)
{
    if (g_cfg.tls)
        return g_cfg.tls;
    if (!p->own_tls && ic_tls_client_new(true, &p->own_tls, err, n) < 0)
        return NULL;
    return p->own_tls;
}

/* Tries the addresses of conn's answer from conn->ai on until a connect starts; fails the call when none does. */
static void try_connect(struct conn *conn)
{
    ic_http_call_t *c = conn->call;
    struct origin *o = conn->o;
    int r = -EINVAL;
    char err[256] = "";
    conn->connected = false;
    while (conn->ai < conn->ans.n) {
        const char *addr = conn->ans.addr[conn->ai];
        if (o->tls) {
            ic_tls_ctx_t *ctx = tls_ctx(conn->p, err, sizeof(err));
            if (!ctx) {
                fail(c, IC_ETLS, "no TLS client context: %s", err);
                return;
            }
            r = ic_tcp_connect_tls(addr, o->port, ctx, o->host, &conn_handlers, conn, &conn->tcp);
        } else {
            r = ic_tcp_connect(addr, o->port, &conn_handlers, conn, &conn->tcp);
        }
        if (r == 0)
            return;
        conn->tcp = NULL;
        conn->ai++;
    }
    fail(c, r, "cannot connect to %s: %s", PEER(c), ic_strerror(r));
}

static void dns_done(void *arg, int err, const ic_dns_answer_t *answer)
{
    struct conn *conn = arg;
    ic_http_call_t *c = conn->call;
    conn->q = NULL;
    if (err < 0) {
        if (err == IC_EDNS_NOTFOUND)
            fail(c, err, "host name %s not found", c->o->host);
        else if (err == -ETIMEDOUT)
            fail(c, err, "looking up %s timed out", c->o->host);
        else
            fail(c, err, "looking up %s failed: %s", c->o->host, ic_strerror(err));
        return;
    }
    conn->ans = *answer;
    conn->ai = 0;
    try_connect(conn);
}

static void call_timer(ic_timer_t *t)
{
    ic_http_call_t *c = (ic_http_call_t *)((char *)t - offsetof(ic_http_call_t, timer));
    if (c->state == C_CONNECT)
        fail(c, -ETIMEDOUT, "connecting to %s timed out after %u ms", PEER(c), c->connect_ms);
    else if (c->state == C_ACTIVE)
        fail(c, -ETIMEDOUT, "no response head from %s within %u ms", PEER(c), c->head_ms);
}

/* Opens a new connection for c (it counts against the caps from now on); failures end c. */
static void open_conn(ic_http_call_t *c)
{
    struct pool *p = c->p;
    struct conn *conn = calloc(1, sizeof(*conn));
    if (!conn) {
        fail(c, -ENOMEM, "out of memory for a connection to %s", PEER(c));
        return;
    }
    conn->p = p;
    conn->o = c->o;
    c->o->refs++;
    p->refs++;
    conn->next = p->conns;
    if (p->conns)
        p->conns->prev = conn;
    p->conns = conn;
    conn->counted = true;
    c->o->open++;
    p->open++;
    p->stats.connects++;
    conn->call = c;
    c->conn = conn;
    c->state = C_CONNECT;
    ic_timer_start(&c->timer, (uint64_t)c->connect_ms * 1000000, 0);
    if (c->o->numeric) {
        /* A numeric host needs no lookup. */
        conn->ans.n = 1;
        snprintf(conn->ans.addr[0], sizeof(conn->ans.addr[0]), "%s", c->o->host);
        try_connect(conn);
        return;
    }
    int r = ic_dns_resolve(c->o->host, dns_done, conn, &conn->q);
    if (r < 0) {
        conn->q = NULL;
        fail(c, r == -EINVAL ? IC_EDNS_NOTFOUND : r, "cannot look up %s: %s", c->o->host, ic_strerror(r));
    }
}

/* Starts the armed phase of the head timeout once the whole request is queued. */
static void arm_head_timer(ic_http_call_t *c)
{
    if (c->state == C_ACTIVE && c->body_done && c->head_ms && c->rstate == R_HEAD)
        ic_timer_start(&c->timer, (uint64_t)c->head_ms * 1000000, 0);
}

static bool can_retry(const ic_http_call_t *c)
{
    return c->conn && c->conn->reused && !c->retried && c->replay && !c->got_byte && !c->p->stopping;
}

/* The pooled connection c was given turned out closed: c goes again, once, on a new connection. */
static void retry(ic_http_call_t *c)
{
    struct conn *old = c->conn;
    c->conn = NULL;
    old->call = NULL;
    conn_drop(old, true);
    c->retried = true;
    c->rstate = R_HEAD;
    c->got_byte = false;
    open_conn(c);
}

/* c gets conn (fresh and connected, or from the pool): the request queued so far goes out. */
static void attach(ic_http_call_t *c, struct conn *conn)
{
    c->conn = conn;
    conn->call = c;
    c->state = C_ACTIVE;
    c->rstate = R_HEAD;
    ic_timer_stop(&c->timer);
    if (ic_tcp_write(conn->tcp, c->req, c->req_len) < 0) {
        if (can_retry(c))
            retry(c);
        else
            fail(c, -ECONNRESET, "the connection to %s closed before the request was sent", PEER(c));
        return;
    }
    if (!c->replay) {
        free(c->req);
        c->req = NULL;
        c->req_len = c->req_cap = 0;
    }
    if (c->paused && !conn->paused) {
        conn->paused = true;
        ic_tcp_pause(conn->tcp);
    }
    arm_head_timer(c);
}

static void on_open(ic_tcp_conn_t *tcp)
{
    struct conn *conn = ic_tcp_data(tcp);
    conn->connected = true;
    if (conn->call)
        attach(conn->call, conn);
}

/* The socket of conn is gone; err as ic_tcp_handlers_t.on_close says. */
static void on_close(ic_tcp_conn_t *tcp, int err)
{
    struct conn *conn = ic_tcp_data(tcp);
    ic_http_call_t *c = conn->call;
    conn->tcp = NULL;
    conn->in_close = true;
    if (c && !conn->connected) {
        /* The connect (or the TLS handshake) failed. */
        struct origin *o = conn->o;
        char addr[300];
        peer(o, conn->ai < conn->ans.n ? conn->ans.addr[conn->ai] : NULL, addr, sizeof(addr));
        if (err == IC_ETLS || err == IC_ETLS_VERIFY) {
            const char *why = ic_tcp_tls_error(tcp);
            fail(c, err, "TLS with %s failed: %s", addr, why ? why : ic_strerror(err));
        } else if (err < 0 && err != IC_ESHUTDOWN && conn->ai + 1 < conn->ans.n && !conn->p->stopping) {
            conn->ai++;
            try_connect(conn); /* the next address; on_close of that one comes later */
        } else if (err == -ECONNREFUSED) {
            fail(c, err, "connection refused by %s", addr);
        } else {
            fail(c, err < 0 ? err : -ECONNRESET, "cannot connect to %s: %s", addr, ic_strerror(err < 0 ? err : -ECONNRESET));
        }
    } else if (c) {
        if (c->rstate == R_HEAD && can_retry(c)) {
            retry(c);
        } else if (err == 0 && !conn->eof) {
            fail(c, -ECONNRESET, "the connection to %s closed", PEER(c)); /* a stop closed it, say */
        } else if (err == 0) {
            handle_eof(c);
        } else if (c->rstate == R_HEAD) {
            fail(c, err, "the upstream %s reset the connection before the response head (%s)", PEER(c), ic_strerror(err));
        } else {
            fail(c, err, "the upstream %s reset the connection after %llu bytes of the response body (%s)", PEER(c),
                 (unsigned long long)c->body_got, ic_strerror(err));
        }
    }
    conn->in_close = false;
    if (conn->tcp)
        return; /* another address is being tried */
    conn->call = NULL;
    if (c && c->conn == conn)
        c->conn = NULL;
    uncount(conn);
    idle_unlink(conn);
    conn_free(conn);
}

static void on_drain(ic_tcp_conn_t *tcp)
{
    struct conn *conn = ic_tcp_data(tcp);
    ic_http_call_t *c = conn->call;
    if (!c || !c->drain_wanted || c->state != C_ACTIVE || !c->ops->drain)
        return;
    c->drain_wanted = false;
    c->in_op++;
    c->ops->drain(c->arg);
    c->in_op--;
    call_maybe_free(c);
}

/* ---- the response --------------------------------------------------------------------------- */

/* The response is all read; extra: bytes came after it. */
static void complete(ic_http_call_t *c, bool extra)
{
    c->reuse_ok = c->res.keep_alive && c->body_done && !extra && c->rstate != R_CLOSE;
    finish(c, 0);
}

/* Delivers a piece of the body. Returns false when the call was aborted meanwhile (c may be gone). */
static bool deliver(ic_http_call_t *c, const char *p, size_t n)
{
    if (n == 0)
        return true;
    c->body_got += n;
    c->in_op++;
    c->ops->body(c->arg, p, n);
    c->in_op--;
    if (c->state == C_DONE) {
        call_maybe_free(c);
        return false;
    }
    return true;
}

/* Parses the head at data. Returns the bytes it used, or SIZE_MAX when the call is over (failed, or aborted in head). */
static size_t parse_head(ic_http_call_t *c, const char *data, size_t len)
{
    c->got_byte = true;
    int r = ic_http_parse_response(data, len, &c->res);
    if (r == IC_HTTP_INCOMPLETE) {
        if (len > HEAD_MAX) {
            fail(c, -E2BIG, "the response head from %s is over %u KiB", PEER(c), HEAD_MAX / 1024);
            return SIZE_MAX;
        }
        return 0;
    }
    if (r < 0) {
        if (r == IC_EHTTP_TOO_MANY_HEADERS)
            fail(c, IC_EHTTP_RESPONSE, "the response head from %s has over %u header fields", PEER(c), IC_HTTP_MAX_HEADERS);
        else
            fail(c, IC_EHTTP_RESPONSE, "malformed response head from %s", PEER(c));
        return SIZE_MAX;
    }
    if ((size_t)r > HEAD_MAX) {
        fail(c, -E2BIG, "the response head from %s is over %u KiB", PEER(c), HEAD_MAX / 1024);
        return SIZE_MAX;
    }
    int status = c->res.status;
    if (status == 101) {
        fail(c, IC_EHTTP_RESPONSE, "%s switched protocols (101), which a call cannot follow", PEER(c));
        return SIZE_MAX;
    }
    if (status < 200) {
        c->got_byte = false; /* an interim response: the final one is still to come */
        return (size_t)r;
    }
    ic_timer_stop(&c->timer);
    if (c->replay) {
        /* A response came: the request will not be sent again, its copy can go. */
        c->replay = false;
        free(c->req);
        c->req = NULL;
        c->req_len = c->req_cap = 0;
    }
    if (c->head_method || status == 204 || status == 304) {
        c->rstate = R_LENGTH;
        c->body_left = 0;
    } else if (c->res.chunked) {
        c->rstate = R_CHUNKED;
        ic_http_chunked_init(&c->dec);
    } else if (c->res.has_length) {
        c->rstate = R_LENGTH;
        c->body_left = c->res.content_length;
    } else {
        c->rstate = R_CLOSE; /* HTTP/1.0-style: the body ends with the connection */
    }
    c->in_op++;
    c->ops->head(c->arg, &c->res);
    c->in_op--;
    if (c->state == C_DONE) {
        call_maybe_free(c);
        return SIZE_MAX;
    }
    return (size_t)r;
}

static size_t on_data(ic_tcp_conn_t *tcp, const char *data, size_t len)
{
    struct conn *conn = ic_tcp_data(tcp);
    ic_http_call_t *c = conn->call;
    if (!c) {
        /* Bytes on an idle connection (nobody asked): it cannot be trusted with a request. */
        conn_drop(conn, true);
        return len;
    }
    size_t used = 0;
    while (used < len) {
        if (c->paused)
            return used;
        if (c->rstate == R_HEAD) {
            size_t n = parse_head(c, data + used, len - used);
            if (n == SIZE_MAX)
                return len;
            if (n == 0)
                return used;
            used += n;
            if (c->rstate == R_LENGTH && c->body_left == 0) {
                complete(c, used < len); /* HEAD, 204, 304, Content-Length: 0 */
                return len;
            }
        } else if (c->rstate == R_LENGTH) {
            size_t n = len - used < c->body_left ? len - used : (size_t)c->body_left;
            c->body_left -= n;
            if (!deliver(c, data + used, n))
                return len;
            used += n;
            if (c->body_left == 0) {
                complete(c, used < len);
                return len;
            }
        } else if (c->rstate == R_CHUNKED) {
            size_t take = len - used < SCRATCH ? len - used : SCRATCH, n = take;
            char *buf = c->p->scratch;
            memcpy(buf, data + used, take);
            ssize_t r = ic_http_chunked_decode(&c->dec, buf, &n);
            if (r < 0 && r != IC_HTTP_INCOMPLETE) {
                fail(c, IC_EHTTP_RESPONSE, "malformed chunked body from %s after %llu bytes", PEER(c),
                     (unsigned long long)c->body_got);
                return len;
            }
            used += r >= 0 ? take - (size_t)r : take;
            if (!deliver(c, buf, n))
                return len;
            if (r >= 0) {
                complete(c, used < len);
                return len;
            }
        } else {
            if (!deliver(c, data + used, len - used))
                return len;
            used = len;
        }
    }
    return used;
}

/* The upstream sent FIN and c has read everything before it. */
static void handle_eof(ic_http_call_t *c)
{
    switch (c->rstate) {
    case R_HEAD:
        if (can_retry(c))
            retry(c);
        else if (c->got_byte)
            fail(c, -ECONNRESET, "the upstream %s closed the connection in the middle of the response head", PEER(c));
        else
            fail(c, -ECONNRESET, "the upstream %s closed the connection before the response head", PEER(c));
        break;
    case R_LENGTH:
        fail(c, -EPIPE, "Content-Length says %llu, the connection closed after %llu bytes",
             (unsigned long long)c->res.content_length, (unsigned long long)c->body_got);
        break;
    case R_CHUNKED:
        fail(c, -EPIPE, "the upstream %s closed the connection in the middle of the chunked body, after %llu bytes", PEER(c),
             (unsigned long long)c->body_got);
        break;
    default:
        complete(c, false);
        break;
    }
}

static void on_eof(ic_tcp_conn_t *tcp)
{
    struct conn *conn = ic_tcp_data(tcp);
    ic_http_call_t *c = conn->call;
    conn->eof = true;
    if (!c) {
        conn_drop(conn, false); /* the server closed an idle connection */
        return;
    }
    if (c->paused)
        return; /* ic_http_call_resume comes back to it once the bytes before it are read */
    handle_eof(c);
}

static void eof_task(ic_task_t *t)
{
    ic_http_call_t *c = (ic_http_call_t *)((char *)t - offsetof(ic_http_call_t, eof_task));
    c->tasks--;
    if (c->state == C_ACTIVE && !c->paused && c->conn && c->conn->eof && c->conn->tcp)
        handle_eof(c);
    call_maybe_free(c);
}

/* ---- the request ------------------------------------------------------------------------------ */

static bool is_tchar(unsigned char ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool append(ic_http_call_t *c, const void *p, size_t n)
{
    if (c->req_len + n > c->req_cap) {
        size_t cap = c->req_cap ? c->req_cap : 1024;
        while (cap < c->req_len + n)
            cap *= 2;
        char *b = realloc(c->req, cap);
        if (!b)
            return false;
        c->req = b;
        c->req_cap = cap;
    }
    memcpy(c->req + c->req_len, p, n);
    c->req_len += n;
    return true;
}

static bool appendf(ic_http_call_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool appendf(ic_http_call_t *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < sizeof(buf) && append(c, buf, (size_t)n);
}

/* Writes the request head into c->req. Returns 0, -EINVAL or -ENOMEM. */
static int build_head(ic_http_call_t *c, const ic_http_call_config_t *cfg)
{
    size_t ml = strlen(cfg->method), tl = strlen(cfg->target);
    if (!is_token(cfg->method, ml) || tl == 0)
        return -EINVAL;
    for (size_t i = 0; i < tl; i++) {
        unsigned char ch = (unsigned char)cfg->target[i];
        if (ch <= 0x20 || ch == 0x7f)
            return -EINVAL;
    }
    bool has_host = false;
    for (unsigned i = 0; i < cfg->nheaders; i++) {
        const char *l = cfg->headers[i], *colon = l ? strchr(l, ':') : NULL;
        if (!colon || !is_token(l, (size_t)(colon - l)))
            return -EINVAL;
        if (strpbrk(colon, "\r\n"))
            return -EINVAL;
        if ((size_t)(colon - l) == 4 && strncasecmp(l, "host", 4) == 0)
            has_host = true;
    }
    if (!append(c, cfg->method, ml) || !append(c, " ", 1) || !append(c, cfg->target, tl) || !append(c, " HTTP/1.1\r\n", 11))
        return -ENOMEM;
    if (!has_host) {
        bool v6 = strchr(cfg->host, ':') != NULL, dflt = cfg->port == (cfg->tls ? 443u : 80u);
        if (!appendf(c, "Host: %s%s%s", v6 ? "[" : "", cfg->host, v6 ? "]" : "") || (!dflt && !appendf(c, ":%u", cfg->port)) ||
            !append(c, "\r\n", 2))
            return -ENOMEM;
    }
    for (unsigned i = 0; i < cfg->nheaders; i++) {
        const char *l = cfg->headers[i];
        size_t nl = (size_t)(strchr(l, ':') - l);
        /* The framing is the call's own (from body_length): the caller's framing lines are dropped. */
        if ((nl == 14 && strncasecmp(l, "content-length", 14) == 0) || (nl == 17 && strncasecmp(l, "transfer-encoding", 17) == 0))
            continue;
        if (!append(c, l, strlen(l)) || !append(c, "\r\n", 2))
            return -ENOMEM;
    }
    bool ok = true;
    if (cfg->body_length < 0)
        ok = appendf(c, "Transfer-Encoding: chunked\r\n");
    else if (cfg->body_length > 0 ||
             !(strcmp(cfg->method, "GET") == 0 || strcmp(cfg->method, "HEAD") == 0 || strcmp(cfg->method, "OPTIONS") == 0 ||
               strcmp(cfg->method, "DELETE") == 0 || strcmp(cfg->method, "TRACE") == 0))
        ok = appendf(c, "Content-Length: %lld\r\n", (long long)cfg->body_length);
    if (!ok || !append(c, "\r\n", 2))
        return -ENOMEM;
    return 0;
}

static bool valid_host(const char *h)
{
    size_t n = h ? strlen(h) : 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (!(isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == ':' || ch == '%'))
            return false;
    }
    return true;
}

int ic_http_call_start(const ic_http_call_config_t *cfg, const ic_http_call_ops_t *ops, void *arg, ic_http_call_t **out)
{
    if (ic_reactor_id() < 0 || !ic__self)
        return IC_ENOTREACTOR;
    if (!cfg || !ops || !ops->head || !ops->body || !ops->end || !cfg->method || !cfg->target || !valid_host(cfg->host) ||
        cfg->port == 0 || cfg->port > 65535 || cfg->body_length < -1 || (cfg->nheaders && !cfg->headers))
        return -EINVAL;
    if (ic__self->stopping || (tl_pool && tl_pool->stopping))
        return IC_ESHUTDOWN;
    struct pool *p = pool_get();
    if (!p)
        return -ENOMEM;
    ic_http_call_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    int r = build_head(c, cfg);
    if (r < 0) {
        free(c->req);
        free(c);
        return r;
    }
    c->o = origin_get(p, cfg->tls, cfg->host, cfg->port);
    if (!c->o) {
        free(c->req);
        free(c);
        return -ENOMEM;
    }
    c->p = p;
    p->refs++;
    c->ops = ops;
    c->arg = arg;
    c->body_length = cfg->body_length;
    c->body_done = cfg->body_length == 0;
    c->replay = cfg->body_length >= 0 && cfg->body_length <= REPLAY_MAX;
    c->head_method = strcmp(cfg->method, "HEAD") == 0;
    c->connect_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 10000;
    c->head_ms = cfg->head_timeout_ms;
    ic_timer_init(&c->timer, call_timer);
    p->stats.calls++;
    *out = c;

    /* The newest idle connection of the origin, else a new one if the caps allow, else the wait list. */
    struct origin *o = c->o;
    while (o->idle) {
        struct conn *conn = o->idle;
        idle_unlink(conn);
        if (conn->eof || ic_tcp_closing(conn->tcp)) {
            conn_drop(conn, false);
            continue;
        }
        p->stats.reuses++;
        attach(c, conn);
        return 0;
    }
    if (can_open(p, o))
        open_conn(c);
    else
        wait_push(o, c);
    return 0;
}

int ic_http_call_write(ic_http_call_t *c, const void *p, size_t len)
{
    if (c->state == C_DONE)
        return -EPIPE;
    if (c->body_done || (c->body_length >= 0 && c->body_written + len > (uint64_t)c->body_length))
        return -EINVAL;
    if (len == 0)
        return 1;
    char frame[24];
    int fl = c->body_length < 0 ? snprintf(frame, sizeof(frame), "%zx\r\n", len) : 0;
    bool chunked = c->body_length < 0;
    c->body_written += len;
    if (c->body_length >= 0 && c->body_written == (uint64_t)c->body_length)
        c->body_done = true;
    if (c->state == C_ACTIVE) {
        ic_tcp_conn_t *tcp = c->conn->tcp;
        if ((chunked && ic_tcp_write(tcp, frame, (size_t)fl) < 0) || ic_tcp_write(tcp, p, len) < 0 ||
            (chunked && ic_tcp_write(tcp, "\r\n", 2) < 0))
            return -EPIPE; /* the connection is closing: its on_close ends the call */
        if (c->replay && !append(c, p, len))
            c->replay = false; /* no memory for the copy: no retry */
        arm_head_timer(c);
        if (ic_tcp_unsent(tcp) < OUT_HIGH)
            return 1;
        c->drain_wanted = true;
        return 0;
    }
    /* No connection yet: the bytes wait in c->req. */
    if ((chunked && !append(c, frame, (size_t)fl)) || !append(c, p, len) || (chunked && !append(c, "\r\n", 2))) {
        fail(c, -ENOMEM, "out of memory for the request body to %s", PEER(c));
        return -EPIPE;
    }
    if (c->req_len < OUT_HIGH)
        return 1;
    c->drain_wanted = true;
    return 0;
}

int ic_http_call_end(ic_http_call_t *c)
{
    if (c->state == C_DONE)
        return -EPIPE;
    if (c->body_length >= 0) {
        if (c->body_written < (uint64_t)c->body_length)
            return -EINVAL;
        return 0;
    }
    if (c->body_done)
        return 0;
    c->body_done = true;
    if (c->state == C_ACTIVE) {
        if (ic_tcp_write(c->conn->tcp, "0\r\n\r\n", 5) < 0)
            return -EPIPE;
        arm_head_timer(c);
    } else if (!append(c, "0\r\n\r\n", 5)) {
        fail(c, -ENOMEM, "out of memory for the request to %s", PEER(c));
        return -EPIPE;
    }
    return 0;
}

void ic_http_call_pause(ic_http_call_t *c)
{
    if (c->state == C_DONE || c->paused)
        return;
    c->paused = true;
    if (c->state == C_ACTIVE && !c->conn->paused) {
        c->conn->paused = true;
        ic_tcp_pause(c->conn->tcp);
    }
}

void ic_http_call_resume(ic_http_call_t *c)
{
    if (c->state == C_DONE || !c->paused)
        return;
    c->paused = false;
    if (c->state != C_ACTIVE)
        return;
    struct conn *conn = c->conn;
    if (conn->paused) {
        conn->paused = false;
        ic_tcp_resume(conn->tcp); /* its task offers the waiting bytes first, */
    }
    if (conn->eof) {
        c->tasks++; /* then this one sees the EOF behind them */
        ic_task_post(&c->eof_task, eof_task);
    }
}

void ic_http_call_abort(ic_http_call_t *c)
{
    if (c->aborted)
        return;
    c->aborted = true;
    if (c->state != C_DONE) {
        if (c->state == C_WAIT)
            wait_remove(c);
        struct conn *conn = c->conn;
        c->conn = NULL;
        if (conn) {
            conn->call = NULL;
            conn_drop(conn, true);
        }
        ic_timer_stop(&c->timer);
        c->state = C_DONE;
    }
    call_maybe_free(c);
}
