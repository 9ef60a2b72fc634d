/*
 * forward.c: a request for a tenant on another core, there and back.
 *
 * The request travels as a `struct fwd` over ic_smp_submit: the
 * connection's core (the origin) copies the request once into the message
 * (the connection's buffer may move while the exchange waits), the owner
 * runs it and writes the response into the message (or, past 1.5 KiB, into
 * memory of its own, which the origin sends home to be freed after it
 * answered). A streamed response body flows back through xstream.c. A
 * request body that streams in is gathered first (ic__router_gather).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "router/internal.h"

/*
 * The layout follows who writes what, because the cost of a hop is mostly
 * cache lines moving between the two cores, not instructions: the origin
 * writes the first lines and the request's bytes before the submit, the
 * owner reads them; the owner writes its own line (from `msg` on) and the
 * response's bytes, the origin reads them after the reply. The request
 * travels compact (lengths, then bytes) and the owner rebuilds its views on
 * its own stack: a 100-header ic_http_request_t here would put its scalars
 * 3 KiB past the head, on lines of their own.
 */
struct fwd {
    ic_router_t *r;
    ic_http_exchange_t *x;      /* the origin's; never touched by the owner; NULL for ic_router_inject */
    ic_router_answer_cb answer; /* with x NULL: gets the answer on the origin, in place of the exchange */
    void *answer_arg;
    uint64_t t0; /* arrival, on the origin */
    unsigned origin, owner, tenant;
    bool https; /* the origin's exchange is over TLS (read there, at creation) */
    /* The request: its head's scalars, and in buf the header lengths then the bytes (copy_request). */
    bool has_length, chunked, keep_alive, expect_continue;
    int minor;
    unsigned nheaders;
    uint32_t method_len, target_len, host_len;
    uint64_t content_length;
    size_t head_len, body_len;
    char *buf;        /* small_req, or an allocation of the origin */
    struct fwd *next; /* in the origin's cache of free messages (fwd_put) */
    /* Filled on the owner, read on the origin after the reply. */
    _Alignas(64) ic_smp_msg_t *msg;
    bool later, answered, rejected;
    bool rbuf_owned;
    int status;
    char *rbuf; /* header lines and body: `small` when they fit, else an allocation of the owner */
    const char **lines;
    unsigned nlines;
    const char *rbody;
    size_t rlen;
    struct ic__xowner *xo; /* a streamed body: its owner side (the head is in rbuf) */
    /* Room for a typical response, written by the owner: no allocation on the owner, nothing to send home to free. */
    _Alignas(8) char small[1536];
    /* Room for a typical request, written by the origin. */
    _Alignas(64) char small_req[1024];
};

/* Free messages a core keeps for reuse: the origin writes into lines it already has, and no 2.8 KiB malloc per hop. */
#define FWD_FREE_MAX 256

/* A message for this core's requests (not zeroed), or NULL. */
static struct fwd *fwd_get(struct rcore *rc)
{
    if (ic__fault(IC__FAULT_ALLOC))
        return NULL;
    struct fwd *f = rc->fwd_free;
    if (f) {
        rc->fwd_free = f->next;
        rc->fwd_nfree--;
        return f;
    }
    return aligned_alloc(_Alignof(struct fwd), sizeof(*f)); /* aligned for the owner's line */
}

/*
 * Back to the cache of the core that took it (always the origin: fwd_done and the failures of ic__router_forward), the
 * request's bytes freed if they had their own allocation (copy_request always sets buf: small_req, an allocation or NULL).
 */
static void fwd_put(struct rcore *rc, struct fwd *f)
{
    if (f->buf != f->small_req)
        free(f->buf);
    if (rc->fwd_nfree >= FWD_FREE_MAX) {
        free(f);
        return;
    }
    f->next = rc->fwd_free;
    rc->fwd_free = f;
    rc->fwd_nfree++;
}

void ic__router_forward_fini(ic_router_t *r)
{
    for (unsigned c = 0; c < r->n; c++) {
        struct rcore *rc = &r->cores[c];
        while (rc->fwd_free) {
            struct fwd *f = rc->fwd_free;
            rc->fwd_free = f->next;
            free(f);
        }
        rc->fwd_nfree = 0;
    }
}

/*
 * Copies the request (head and body) into one allocation of this core: the
 * name and value lengths of its headers (2 × uint32 each), then the method,
 * target, host, the header lines in their "name: value\r\n" shape (the JS
 * layer reads them as one block) and the body.
 */
static bool copy_request(struct fwd *f, const ic_http_request_t *req, ic_str_t body)
{
    size_t lens = (size_t)req->nheaders * 2 * sizeof(uint32_t);
    size_t n = lens + req->method.len + req->target.len + req->host.len + body.len;
    for (unsigned i = 0; i < req->nheaders; i++)
        n += req->headers[i].name.len + req->headers[i].value.len + 4;
    f->buf = n <= sizeof(f->small_req) ? f->small_req : ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(n);
    if (!f->buf)
        return false;
    f->minor = req->minor;
    f->nheaders = req->nheaders;
    f->has_length = req->has_length;
    f->chunked = req->chunked;
    f->keep_alive = req->keep_alive;
    f->expect_continue = req->expect_continue;
    f->content_length = req->content_length;
    f->head_len = req->head_len;
    f->method_len = (uint32_t)req->method.len;
    f->target_len = (uint32_t)req->target.len;
    f->host_len = (uint32_t)req->host.len;
    f->body_len = body.len;
    uint32_t *len = (uint32_t *)f->buf; /* small_req and malloc's memory are aligned for it */
    char *p = f->buf + lens;
#define COPY(src)                                                                                                                  \
    do {                                                                                                                           \
        memcpy(p, (src).p, (src).len);                                                                                             \
        p += (src).len;                                                                                                            \
    } while (0)
    COPY(req->method);
    COPY(req->target);
    COPY(req->host);
    for (unsigned i = 0; i < req->nheaders; i++) {
        len[2 * i] = (uint32_t)req->headers[i].name.len;
        len[2 * i + 1] = (uint32_t)req->headers[i].value.len;
        COPY(req->headers[i].name);
        memcpy(p, ": ", 2);
        p += 2;
        COPY(req->headers[i].value);
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    COPY(body);
#undef COPY
    return true;
}

/* On the owner: the views of the request copy_request wrote, into `req` (the owner's own memory) and `body`. */
static void view_request(const struct fwd *f, ic_http_request_t *req, ic_str_t *body)
{
    const uint32_t *len = (const uint32_t *)f->buf;
    const char *p = f->buf + (size_t)f->nheaders * 2 * sizeof(uint32_t);
    req->minor = f->minor;
    req->nheaders = f->nheaders;
    req->has_length = f->has_length;
    req->chunked = f->chunked;
    req->keep_alive = f->keep_alive;
    req->expect_continue = f->expect_continue;
    req->content_length = f->content_length;
    req->head_len = f->head_len;
    req->method = (ic_str_t){p, f->method_len};
    p += f->method_len;
    req->target = (ic_str_t){p, f->target_len};
    p += f->target_len;
    req->host = (ic_str_t){p, f->host_len};
    p += f->host_len;
    for (unsigned i = 0; i < f->nheaders; i++) {
        req->headers[i].name = (ic_str_t){p, len[2 * i]};
        p += len[2 * i] + 2;
        req->headers[i].value = (ic_str_t){p, len[2 * i + 1]};
        p += len[2 * i + 1] + 2;
    }
    *body = (ic_str_t){p, f->body_len};
}

static void free_work_done(void *arg, int status)
{
    (void)arg;
    (void)status;
}

/* Runs on the owner: frees what the owner allocated for a response. */
static int free_on_owner(ic_smp_msg_t *msg, void *arg)
{
    (void)msg;
    free(arg);
    return 0;
}

/* On the owner: the tenant answered; copy the response into the owner's memory and send it home. */
static void fwd_answer(void *arg, const ic_js_response_t *res)
{
    struct fwd *f = arg;
    f->r->cores[ic_reactor_id()].active--;
    ic__router_tally(f->r->cores[ic_reactor_id()].ts[f->tenant], res->status);
    f->xo = NULL;
    if (res->stream && !(f->xo = ic__xstream_owner_new(f->r, res->stream, f->origin))) {
        ic_js_stream_cancel(res->stream);
        static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Service Unavailable: out of memory\n";
        ic_js_response_t oom = {503, h, 1, msg, sizeof(msg) - 1, NULL};
        res = &oom;
    }
    size_t n = res->nheaders * sizeof(char *) + res->len;
    for (unsigned i = 0; i < res->nheaders; i++)
        n += strlen(res->headers[i]) + 1;
    f->rbuf_owned = n + 1 > sizeof(f->small);
    f->rbuf = !f->rbuf_owned ? f->small : ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(n + 1);
    if (!f->rbuf) {
        f->status = 503;
        f->nlines = 0;
        f->rlen = 0;
        if (f->xo)
            ic__xstream_owner_drop(f->xo);
        f->xo = NULL;
    } else {
        f->lines = (const char **)f->rbuf;
        char *p = f->rbuf + res->nheaders * sizeof(char *);
        for (unsigned i = 0; i < res->nheaders; i++) {
            size_t l = strlen(res->headers[i]) + 1;
            memcpy(p, res->headers[i], l);
            f->lines[i] = p;
            p += l;
        }
        if (res->len)
            memcpy(p, res->body, res->len);
        f->rbody = p;
        f->rlen = res->len;
        f->nlines = res->nheaders;
        f->status = res->status;
    }
    if (f->later)
        ic_smp_reply(f->msg, 0);
    else
        f->answered = true;
}

/* On the owner. */
static int fwd_work(ic_smp_msg_t *msg, void *arg)
{
    struct fwd *f = arg;
    struct rcore *rc = &f->r->cores[ic_reactor_id()];
    STAT_ADD(rc->st->forwarded_in, 1);
    /* A retired router may still get requests sent before the swap: it is live here again until they are done. */
    ic__router_revive(f->r);
    f->msg = msg;
    rc->active++;
    ic_http_request_t req; /* only its first nheaders headers are written, on this core's stack */
    ic_str_t body;
    view_request(f, &req, &body);
    /* A streamed body comes back to the origin chunk by chunk (xstream.c). */
    if (!ic__router_run_here(f->r, f->tenant, NULL, &req, body, (f->x ? IC_JS_STREAM : 0) | (f->https ? IC_JS_HTTPS : 0), f->t0,
                             fwd_answer, f)) {
        rc->active--;
        f->rejected = true;
        return 0;
    }
    if (f->answered)
        return 0;
    f->later = true;
    return IC_SMP_LATER;
}

/* Back on the origin: answer the client, free the request, send the response memory home. */
static void fwd_done(void *arg, int status)
{
    struct fwd *f = arg;
    ic_router_t *r = f->r;
    r->cores[f->origin].inflight[f->owner]--;
    r->cores[f->origin].active--;
    if (!f->x) {
        /* Injected: the same outcomes, told to the callback (streams never come: the owner ran it without IC_JS_STREAM). */
        static const char *const h[] = {"content-type: text/plain; charset=utf-8", "retry-after: 1"};
        static const char why[] = "Service Unavailable\n";
        if (status < 0 || f->rejected || !f->rbuf) {
            STAT_ADD(r->cores[f->origin].st->rejected, 1);
            f->answer(f->answer_arg, 503, h, 2, why, sizeof(why) - 1);
        } else {
            f->answer(f->answer_arg, f->status, f->lines, f->nlines, f->rbody, f->rlen);
            ic__router_latency(r, f->tenant, f->t0);
        }
    } else if (status < 0) {
        ic__router_busy(r, f->x, "the owner core is shutting down");
    } else if (f->rejected) {
        ic__router_busy(r, f->x, "the worker has too many requests queued");
    } else if (!f->rbuf) {
        ic__router_busy(r, f->x, "out of memory");
    } else if (f->xo) {
        char core[CORE_LINE];
        ic__xstream_start(r, f->x, f->owner, f->xo, f->status, f->lines, f->nlines, ic__router_core_line(r, (int)f->owner, core));
        ic__router_latency(r, f->tenant, f->t0);
    } else {
        ic__router_respond(r, f->x, (int)f->owner, f->status, f->lines, f->nlines, f->rbody, f->rlen);
        ic__router_latency(r, f->tenant, f->t0);
    }
    /*
     * The response memory goes home to be freed. This submit cannot fail for
     * lack of memory (ic_smp recycles the answered message before done runs);
     * only once the reactors are exiting, when no core runs anything more
     * and it is freed here.
     */
    if (f->rbuf_owned && f->rbuf && ic_smp_submit(f->owner, free_on_owner, free_work_done, f->rbuf) < 0)
        free(f->rbuf);
    fwd_put(&r->cores[f->origin], f);
}

/*
 * A body that streams in, for a tenant on another core: gathered here, up to
 * GATHER_MAX bytes (413 past it), then forwarded whole. (Streaming it across
 * the mesh as it comes is the next step; the response already streams back.)
 */
#define GATHER_MAX (16u << 20)

struct gather {
    ic_router_t *r;
    ic_http_exchange_t *x;
    unsigned t, owner;
    uint64_t t0;
    char *buf;
    size_t len, cap;
};

static void gather_body(void *arg, const char *p, size_t len, int status)
{
    struct gather *g = arg;
    if (status == 0) {
        if (g->len + len > GATHER_MAX) {
            static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
            static const char msg[] = "Content Too Large: a request body for a tenant on another core is gathered first, "
                                      "16 MiB at most\n";
            ic__router_respond(g->r, g->x, ic_reactor_id(), 413, h, 1, msg,
                               sizeof(msg) - 1); /* -ECANCELED comes from inside: g goes */
            return;
        }
        if (g->len + len > g->cap) {
            size_t cap = g->cap ? g->cap : 64 * 1024;
            while (cap < g->len + len)
                cap *= 2;
            char *b = ic__fault(IC__FAULT_ALLOC) ? NULL : realloc(g->buf, cap);
            if (!b) {
                ic__router_busy(g->r, g->x, "out of memory"); /* -ECANCELED comes from inside: g goes */
                return;
            }
            g->buf = b;
            g->cap = cap;
        }
        memcpy(g->buf + g->len, p, len);
        g->len += len;
        return;
    }
    if (status == 1) {
        /* The whole body: on its way to the owner; the exchange's answer comes back as for any forwarded request. */
        ic__router_forward(g->r, g->x, ic_http_request(g->x), g->t, g->owner, g->t0, (ic_str_t){g->buf, g->len}, NULL, NULL);
    } else if (status != -ECANCELED && status != -EPIPE) {
        static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
        const char *msg = status == -E2BIG ? "Content Too Large\n" : "Bad Request: the request body is malformed\n";
        ic__router_respond(g->r, g->x, ic_reactor_id(), status == -E2BIG ? 413 : 400, h, 1, msg, strlen(msg));
    }
    free(g->buf);
    free(g);
}

void ic__router_gather(ic_router_t *r, ic_http_exchange_t *x, unsigned t, unsigned owner, uint64_t t0)
{
    struct gather *g = ic__fault(IC__FAULT_ALLOC) ? NULL : calloc(1, sizeof(*g));
    if (!g)
        return ic__router_busy(r, x, "out of memory");
    *g = (struct gather){r, x, t, owner, t0, NULL, 0, 0};
    ic_http_body_read(x, gather_body, g);
}

/*
 * Sends the request (whose body is `body`) to the tenant's owner core. With
 * an exchange x, failures answer it (503) and the function returns 0; with x
 * NULL (ic_router_inject) it returns -ENOMEM or IC_ESHUTDOWN instead and
 * `answer` is never called.
 */
int ic__router_forward(ic_router_t *r, ic_http_exchange_t *x, const ic_http_request_t *req, unsigned t, unsigned owner, uint64_t t0,
                       ic_str_t body, ic_router_answer_cb answer, void *answer_arg)
{
    unsigned self = (unsigned)ic_reactor_id();
    struct rcore *rc = &r->cores[self];
    /* Not zeroed: it holds two buffers; the fields in use are set. */
    struct fwd *f = fwd_get(rc);
    if (!f) {
        if (x)
            ic__router_busy(r, x, "out of memory");
        return x ? 0 : -ENOMEM;
    }
    f->msg = NULL;
    f->xo = NULL;
    f->later = f->answered = f->rejected = f->rbuf_owned = false;
    f->rbuf = NULL;
    if (!copy_request(f, req, body)) {
        fwd_put(rc, f);
        if (x)
            ic__router_busy(r, x, "out of memory");
        return x ? 0 : -ENOMEM;
    }
    f->r = r;
    f->x = x;
    f->https = x && ic_http_exchange_tls(x);
    f->answer = answer;
    f->answer_arg = answer_arg;
    f->origin = self;
    f->owner = owner;
    f->tenant = t;
    f->t0 = t0;
    int ret = ic_smp_submit(owner, fwd_work, fwd_done, f);
    if (ret < 0) {
        fwd_put(rc, f);
        if (x)
            ic__router_busy(r, x, "the tenant's core is shutting down");
        return x ? 0 : ret;
    }
    rc->inflight[owner]++;
    rc->active++;
    STAT_ADD(rc->st->forwarded_out, 1);
    return 0;
}
