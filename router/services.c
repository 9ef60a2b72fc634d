/*
 * services.c: service bindings. A worker's env.BINDING.fetch(request) comes
 * here (the JS layer calls the reactor's service handler, ic_js_set_services)
 * and runs the tenant the binding names on the core that owns it, as an
 * HTTP request for it would run — no socket, no TCP:
 *
 *   - this core owns it: the call runs from a task of this core (never
 *     inside the caller's JS entry, which is where the handler is called
 *     from), and its answer comes to the caller from another task (never
 *     inside the service's entry either). A streamed response body is the
 *     service's own stream, passed through as is.
 *   - another core owns it: the request is copied once into a `struct
 *     scall` and travels over the SPSC mesh (ic_smp_submit); the owner runs
 *     it and writes the response into memory of its own, which goes home to
 *     be freed once the caller has it. A streamed body (the caller asked
 *     for IC_JS_STREAM) follows its head piece by piece over the mesh, with
 *     xstream.c's window, into a stream of the calling core
 *     (ic_js_stream_from) that the caller reads; the caller's cancel
 *     cancels the service's stream, the service's failure fails the
 *     caller's. Without IC_JS_STREAM, or no memory for that, it is gathered
 *     on the owner first (16 MiB at most, else 502).
 *
 * Outcomes that never reach the service: no tenant of that name in the
 * router current at the time of the call, nor in one a reload replaced
 * that the caller may have started on (ic__router_slot_find) → 503 naming
 * it; too many calls in flight to its core, or queued for it there → 503
 * with Retry-After (the router's backpressure, counted as rejected). What
 * the service answers, its 500 for a throw included, passes through.
 *
 * Counters: the calling core counts the call (services), the owner counts it
 * as run for another core (forwarded_in) and the tenant's outcome, the
 * calling core the tenant's latency.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "router/internal.h"

#define GATHER_MAX (16u << 20) /* a streamed body from another core is gathered first: past this, 502 */

struct scall {
    ic_task_t task; /* on the calling core: the local run, then the answer */
    ic_router_t *r;
    unsigned t, origin, owner, flags;
    uint64_t t0;
    ic_js_done_cb done;
    void *arg;
    char *buf; /* the request's bytes, the calling core's */
    ic_str_t body;
    bool ran; /* the call got to the service (its latency is recorded) */
    /* The answer, written by the core that ran the call. */
    ic_smp_msg_t *msg;
    bool later, answered, rejected;
    int status;
    char *rbuf;         /* header lines, each NUL-terminated, then the body; allocated on rbuf_core */
    unsigned rbuf_core; /* where rbuf goes to be freed */
    size_t rhlen, rlen, rcap;
    unsigned nlines;
    ic_js_stream_t *stream; /* a streamed body handed to the caller (the service's own, or one fed from the owner) */
    struct ic__xowner *xo;  /* the owner's side of a body that streams across (xstream.c), set on the owner */
    ic_http_request_t req;  /* views into buf (last: its header array is large and mostly unused) */
};

/* ---- installing the handler ----------------------------------------------------------------------- */

static __thread void *installed; /* the ctx of this reactor's handler */

void ic__services_install(ic_js_service_cb cb, void *ctx)
{
    ic_js_set_services(cb, ctx);
    installed = ctx;
}

void ic__services_uninstall(void *ctx)
{
    if (installed != ctx)
        return;
    ic_js_set_services(NULL, NULL);
    installed = NULL;
}

void ic_router_slot_service(void *slot, const char *service, const ic_http_request_t *req, ic_str_t body, unsigned flags,
                            ic_js_done_cb done, void *arg)
{
    ic_router_service(ic__router_slot_find(slot, service), service, req, body, flags, done, arg);
}

/* ---- the request and the answer ------------------------------------------------------------------- */

/* Copies the request into one allocation of this core, header lines kept as one "name: value\r\n" block (js/ reads them so). */
static bool copy_request(struct scall *c, const ic_http_request_t *req, ic_str_t body)
{
    unsigned nh = req->nheaders < IC_HTTP_MAX_HEADERS ? req->nheaders : IC_HTTP_MAX_HEADERS;
    size_t n = req->method.len + req->target.len + req->host.len + body.len;
    for (unsigned i = 0; i < nh; i++)
        n += req->headers[i].name.len + req->headers[i].value.len + 4;
    c->buf = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(n + 1);
    if (!c->buf)
        return false;
    char *p = c->buf;
    c->req.minor = 1;
    c->req.nheaders = nh;
    c->req.has_length = req->has_length;
    c->req.chunked = false;
    c->req.keep_alive = true;
    c->req.expect_continue = false;
    c->req.content_length = body.len;
    c->req.head_len = 0;
#define COPY(dst, src)                                                                                                             \
    do {                                                                                                                           \
        if ((src).len)                                                                                                             \
            memcpy(p, (src).p, (src).len);                                                                                         \
        (dst) = (ic_str_t){p, (src).len};                                                                                          \
        p += (src).len;                                                                                                            \
    } while (0)
    COPY(c->req.method, req->method);
    COPY(c->req.target, req->target);
    COPY(c->req.host, req->host);
    for (unsigned i = 0; i < nh; i++) {
        COPY(c->req.headers[i].name, req->headers[i].name);
        memcpy(p, ": ", 2);
        p += 2;
        COPY(c->req.headers[i].value, req->headers[i].value);
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    COPY(c->body, body);
#undef COPY
    return true;
}

/* Writes the answer's head and body into rbuf, memory of this core. False when there is none (rbuf stays NULL). */
static bool set_answer(struct scall *c, int status, const char *const *lines, unsigned n, const void *body, size_t len)
{
    size_t hl = 0;
    for (unsigned i = 0; i < n; i++)
        hl += strlen(lines[i]) + 1;
    free(c->rbuf); /* only ever this core's here: an answer replaced before it left (a gather that failed) */
    c->rbuf = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(hl + len + 1);
    c->status = 503;
    c->nlines = 0;
    c->rhlen = c->rlen = c->rcap = 0;
    c->rbuf_core = (unsigned)ic_reactor_id();
    if (!c->rbuf)
        return false;
    char *p = c->rbuf;
    for (unsigned i = 0; i < n; i++) {
        size_t l = strlen(lines[i]) + 1;
        memcpy(p, lines[i], l);
        p += l;
    }
    if (len)
        memcpy(p, body, len);
    c->status = status;
    c->nlines = n;
    c->rhlen = hl;
    c->rlen = len;
    c->rcap = hl + len + 1;
    return true;
}

static void set_text(struct scall *c, int status, bool retry, const char *fmt, const char *what)
{
    static const char *const h[] = {"content-type: text/plain; charset=utf-8", "retry-after: 1"};
    char msg[512];
    int n = snprintf(msg, sizeof(msg), fmt, what);
    set_answer(c, status, h, retry ? 2 : 1, msg, n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

static void set_busy(struct scall *c, const char *why)
{
    STAT_ADD(ic__router_core_stats(c->r)->rejected, 1);
    set_text(c, 503, true, "Service Unavailable: %s; retry shortly\n", why);
}

static int free_home(ic_smp_msg_t *msg, void *arg)
{
    (void)msg;
    free(arg);
    return 0;
}

/* On the calling core, outside any JS entry: the caller gets its answer, and the call's memory goes. */
static void finish(struct scall *c)
{
    static const char *const oom_h[] = {"content-type: text/plain; charset=utf-8"};
    static const char oom[] = "Service Unavailable: out of memory\n";
    const char *small[32], **lines = small;
    ic_js_response_t res = {503, oom_h, 1, oom, sizeof(oom) - 1, NULL};
    if (c->rbuf) {
        if (c->nlines > 32)
            lines = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(c->nlines * sizeof(*lines));
        if (lines) {
            const char *p = c->rbuf;
            for (unsigned i = 0; i < c->nlines; i++) {
                lines[i] = p;
                p += strlen(p) + 1;
            }
            res = (ic_js_response_t){c->status, lines, c->nlines, c->rbuf + c->rhlen, c->rlen, c->stream};
        } else if (c->stream) {
            ic_js_stream_cancel(c->stream);
        }
    }
    if (c->ran)
        ic__router_count(c->r, c->t, 0, c->t0);
    c->done(c->arg, &res);
    if (lines != small)
        free(lines);
    /* Memory of the owner goes home (a submit from a done callback cannot fail for lack of memory; only at exit). */
    if (c->rbuf && (c->rbuf_core == (unsigned)ic_reactor_id() || ic_smp_submit(c->rbuf_core, free_home, NULL, c->rbuf) < 0))
        free(c->rbuf);
    ic__router_hold(c->r, -1);
    free(c->buf);
    free(c);
}

static void finish_task(ic_task_t *task)
{
    finish((struct scall *)task);
}

/* ---- a call this core runs ----------------------------------------------------------------------- */

static void local_answer(void *arg, const ic_js_response_t *res)
{
    struct scall *c = arg;
    ic__router_count(c->r, c->t, res->status, 0);
    if (set_answer(c, res->status, res->headers, res->nheaders, res->body, res->len))
        c->stream = res->stream; /* the caller attaches to it or cancels it */
    else if (res->stream)
        ic_js_stream_cancel(res->stream);
    /* Inside the service's entry, maybe: the caller hears from a task. */
    ic_task_post(&c->task, finish_task);
}

static void local_run(ic_task_t *task)
{
    struct scall *c = (struct scall *)task;
    c->ran = true;
    if (!ic__router_run(c->r, c->t, &c->req, c->body, c->flags, local_answer, c)) {
        c->ran = false;
        set_busy(c, "the service has too many requests queued");
        finish(c);
    }
}

/* ---- a call another core runs ---------------------------------------------------------------------- */

/* On the owner: the answer is complete; it goes back to the caller. */
static void owner_finish(struct scall *c)
{
    ic__router_hold(c->r, -1);
    if (c->later)
        ic_smp_reply(c->msg, 0);
    else
        c->answered = true;
}

static bool gather_write(void *arg, const void *p, size_t len)
{
    struct scall *c = arg;
    if (c->rlen + len > GATHER_MAX) {
        set_text(c, 502, false,
                 "Bad Gateway: the service's streamed response body is over %s (from another core, it is gathered first)\n",
                 "16 MiB");
        ic_log(IC_LOG_WARN, "service call: the streamed response body is over 16 MiB: 502");
        return false;
    }
    if (c->rhlen + c->rlen + len + 1 > c->rcap) {
        size_t cap = c->rcap < 64 * 1024 ? 64 * 1024 : c->rcap;
        while (cap < c->rhlen + c->rlen + len + 1)
            cap *= 2;
        char *more = ic__fault(IC__FAULT_ALLOC) ? NULL : realloc(c->rbuf, cap);
        if (!more) {
            set_text(c, 503, false, "Service Unavailable: %s\n", "out of memory");
            return false;
        }
        c->rbuf = more;
        c->rcap = cap;
    }
    memcpy(c->rbuf + c->rhlen + c->rlen, p, len);
    c->rlen += len;
    return true;
}

static void gather_end(void *arg, bool ok)
{
    struct scall *c = arg;
    if (!ok)
        set_text(c, 502, false, "Bad Gateway: %s\n", "the service's response body failed");
    owner_finish(c);
}

/* A write that said no for good (over the bound, no memory): the stream is cancelled, the answer (5xx) goes now. */
static bool gather_write_or_stop(void *arg, const void *p, size_t len);

static void owner_answer(void *arg, const ic_js_response_t *res)
{
    struct scall *c = arg;
    ic__router_count(c->r, c->t, res->status, 0);
    if (!set_answer(c, res->status, res->headers, res->nheaders, res->stream ? NULL : res->body, res->stream ? 0 : res->len)) {
        if (res->stream)
            ic_js_stream_cancel(res->stream);
        owner_finish(c);
        return;
    }
    if (!res->stream) {
        owner_finish(c);
        return;
    }
    if (c->flags & IC_JS_STREAM) {
        /* The head goes now, the body after it piece by piece (xstream.c); gathered only when there is no memory for that. */
        c->xo = ic__xstream_owner_new(c->r, res->stream, c->origin);
        if (c->xo) {
            owner_finish(c);
            return;
        }
    }
    c->stream = res->stream; /* the owner's, while it is gathered; never given to the caller */
    static const ic_js_sink_t sink = {gather_write_or_stop, gather_end};
    ic_js_stream_attach(res->stream, &sink, c);
}

static bool gather_write_or_stop(void *arg, const void *p, size_t len)
{
    struct scall *c = arg;
    if (gather_write(c, p, len))
        return true;
    ic_js_stream_t *s = c->stream;
    c->stream = NULL;
    ic_js_stream_cancel(s); /* the sink is not called again: the answer set by gather_write goes now */
    owner_finish(c);
    return false;
}

/* On the owner. */
static int owner_work(ic_smp_msg_t *msg, void *arg)
{
    struct scall *c = arg;
    ic__router_enter(c->r);
    STAT_ADD(ic__router_core_stats(c->r)->forwarded_in, 1);
    c->msg = msg;
    if (!ic__router_run(c->r, c->t, &c->req, c->body, IC_JS_STREAM, owner_answer, c)) {
        ic__router_hold(c->r, -1);
        c->rejected = true;
        return 0;
    }
    if (c->answered)
        return 0;
    c->later = true;
    return IC_SMP_LATER;
}

/* Back on the calling core. */
static void owner_done(void *arg, int status)
{
    struct scall *c = arg;
    ic__router_may_forward(c->r, c->owner, -1);
    c->stream = NULL; /* a gathered stream was the owner's (and is over) */
    if (c->xo && status >= 0 && !c->rejected) {
        c->stream = ic__xstream_start_js(c->r, c->owner, c->xo);
        if (!c->stream && c->rbuf) {
            /* No memory for the flow: the owner's answer goes home, the caller gets the 503 of finish. */
            if (ic_smp_submit(c->rbuf_core, free_home, NULL, c->rbuf) < 0)
                free(c->rbuf);
            c->rbuf = NULL;
        }
    }
    if (status < 0) {
        c->ran = false;
        set_busy(c, "the service's core is shutting down");
    } else if (c->rejected) {
        c->ran = false;
        set_busy(c, "the service has too many requests queued");
    }
    finish(c);
}

/* ---- the handler ---------------------------------------------------------------------------------- */

void ic_router_service(void *router, const char *service, const ic_http_request_t *req, ic_str_t body, unsigned flags,
                       ic_js_done_cb done, void *arg)
{
    ic_router_t *r = router;
    unsigned self = (unsigned)ic_reactor_id();
    /* Not calloc: the request view holds a 100-header array; the fields in use are set. */
    struct scall *c = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(sizeof(*c));
    if (c) {
        memset(c, 0, offsetof(struct scall, req));
        c->buf = NULL;
    }
    if (!c || !copy_request(c, req, body)) {
        /* No memory to defer the answer: it comes now (the one answer that does). */
        free(c);
        static const char *const h[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Service Unavailable: out of memory\n";
        ic_js_response_t res = {503, h, 1, msg, sizeof(msg) - 1, NULL};
        done(arg, &res);
        return;
    }
    c->r = r;
    c->origin = self;
    c->flags = flags;
    c->t0 = ic_clock_ns();
    c->done = done;
    c->arg = arg;
    c->rbuf_core = self;
    STAT_ADD(ic__router_core_stats(r)->services, 1);
    ic__router_enter(r); /* let go in finish */
    int t = ic__router_tenant(r, service);
    if (t < 0) {
        set_text(c, 503, false, "Service Unavailable: no worker named '%s' for this service binding\n", service);
        ic_log(IC_LOG_WARN, "service binding to '%s': no such worker (503)", service);
        ic_task_post(&c->task, finish_task);
        return;
    }
    c->t = (unsigned)t;
    c->owner = ic__router_place(r, c->t);
    if (c->owner == self) {
        ic_task_post(&c->task, local_run);
        return;
    }
    if (!ic__router_may_forward(r, c->owner, 1)) {
        set_busy(c, "too many requests in flight to the service's core");
        ic_task_post(&c->task, finish_task);
        return;
    }
    c->ran = true;
    if (ic_smp_submit(c->owner, owner_work, owner_done, c) < 0) {
        ic__router_may_forward(r, c->owner, -1);
        c->ran = false;
        set_busy(c, "the service's core is shutting down");
        ic_task_post(&c->task, finish_task);
    }
}
