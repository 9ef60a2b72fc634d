/*
 * xstream.c: a streamed response body of a tenant that runs on another core
 * (the owner, B) than the connection (the origin, A), carried chunk by chunk
 * over the SPSC mesh.
 *
 *   B: the worker's stream pours into xo's sink; each piece is copied into a
 *      chunk message (allocated on B) and submitted to A; past XS_WINDOW
 *      bytes not yet answered by A, the sink says "wait" (the worker's
 *      stream pauses) until answers bring it under half the window.
 *   A: a chunk's work writes it to the HTTP exchange; if the client is
 *      behind (the write says so), the message is answered only when the
 *      exchange drains, so a slow client holds back the worker on B through
 *      the window. The end (ok or failed) comes as one more message, after
 *      every chunk (messages from one core to another run in order).
 *   A client that goes away: A answers what it holds with -EPIPE and sends
 *   a cancel to B, which cancels the worker's stream unless it ended.
 *
 * The same flow carries a service's streamed response to its caller on A
 * (ic__xstream_start_js): there the chunks go into a stream of A
 * (ic_js_stream_from) instead of an exchange; its resume is a drain, the
 * caller's cancel a client that went away, and the end ends it.
 *
 * Memory stays home: chunks and xo are B's, freed on B when A answered;
 * xs is A's. Both sides hold their router (ic__router_hold) while the
 * stream lives, so a reload does not dispose of the worker under it.
 */
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "router/internal.h"

#define XS_WINDOW (256 * 1024) /* bytes of one stream in flight from B to A */

struct xstream; /* A's side */

struct ic__xowner { /* B's side */
    ic_router_t *r;
    ic_js_stream_t *stream;
    struct xstream *xs; /* A's, carried along, never touched here */
    unsigned origin;
    size_t in_flight;
    bool paused, ended, cancelled;
    unsigned msgs; /* messages of this stream not answered yet (chunks, end) */
};

struct xstream {
    ic_router_t *r;
    ic_http_exchange_t *x; /* the exchange the body goes to, or NULL: it goes to js */
    ic_js_stream_t *js;    /* a service call's caller reads it (ic__xstream_start_js) */
    unsigned owner;
    struct ic__xowner *xo;
    ic_smp_msg_t **held; /* chunk messages answered once the exchange drains */
    unsigned nheld, capheld;
    bool gone; /* the client went away, or a write failed */
};

struct chunk {
    struct ic__xowner *xo;
    struct xstream *xs;
    bool end, ok;
    size_t len;
    char data[];
};

static void owner_free_if_done(struct ic__xowner *xo)
{
    if ((xo->ended || xo->cancelled) && xo->msgs == 0) {
        ic__router_hold(xo->r, -1);
        free(xo);
    }
}

/* ---- on A ------------------------------------------------------------------------------------------ */

static void release_held(struct xstream *xs, int status)
{
    for (unsigned i = 0; i < xs->nheld; i++)
        ic_smp_reply(xs->held[i], status);
    xs->nheld = 0;
}

static void xs_free(struct xstream *xs)
{
    release_held(xs, xs->gone ? -EPIPE : 0);
    free(xs->held);
    ic__router_hold(xs->r, -1);
    free(xs);
}

static int cancel_work(ic_smp_msg_t *msg, void *arg);

static void xs_drain(void *arg)
{
    release_held(arg, 0);
}

static void xs_abort(void *arg)
{
    struct xstream *xs = arg;
    xs->gone = true;
    release_held(xs, -EPIPE);
    /* B cancels the worker's stream; A's state stays until B's end message, the last of the stream, comes. */
    if (ic_smp_submit(xs->owner, cancel_work, NULL, xs->xo) < 0) {
        /* The reactors are exiting: nothing runs on B any more. */
    }
}

static const ic_http_stream_ops_t xs_ops = {xs_drain, xs_abort};

static int chunk_work(ic_smp_msg_t *msg, void *arg)
{
    struct chunk *c = arg;
    struct xstream *xs = c->xs;
    if (c->end) {
        if (xs->js)
            ic_js_stream_end(xs->js, c->ok && !xs->gone); /* the producer's last call, also after a cancel */
        else if (!xs->gone)
            ic_http_stream_end(xs->x, c->ok);
        xs_free(xs);
        return 0;
    }
    if (xs->gone)
        return -EPIPE;
    int r = xs->js ? ic_js_stream_push(xs->js, c->data, c->len) : ic_http_stream_write(xs->x, c->data, c->len);
    if (r < 0) {
        /* No memory for it: the body is cut here; B cancels the stream when it hears. */
        xs->gone = true;
        ic_http_stream_end(xs->x, false);
        release_held(xs, -EPIPE);
        return -EPIPE;
    }
    if (r == 1)
        return 0;
    /* The client (or the caller's stream) is behind: answer when it drains. */
    if (xs->nheld == xs->capheld) {
        unsigned cap = xs->capheld ? xs->capheld * 2 : 8;
        ic_smp_msg_t **h = realloc(xs->held, cap * sizeof(*h));
        if (!h)
            return 0; /* answered now: B may run ahead by one window more, never unbounded (its own window still holds) */
        xs->held = h;
        xs->capheld = cap;
    }
    xs->held[xs->nheld++] = msg;
    return IC_SMP_LATER;
}

/* ---- on B ------------------------------------------------------------------------------------------ */

/* The last message of a stream: A ends the exchange (unless the client is gone) and frees its side. */
static void chunk_done(void *arg, int status);
static void send_end(struct ic__xowner *xo, bool ok)
{
    struct chunk *c = malloc(sizeof(*c));
    if (!c)
        return; /* no memory for the last word: A's side waits for the reactors' exit (documented gap) */
    *c = (struct chunk){.xo = xo, .xs = xo->xs, .end = true, .ok = ok};
    xo->msgs++;
    if (ic_smp_submit(xo->origin, chunk_work, chunk_done, c) < 0) {
        xo->msgs--;
        free(c);
    }
}

static void chunk_done(void *arg, int status)
{
    struct chunk *c = arg;
    struct ic__xowner *xo = c->xo;
    xo->msgs--;
    if (!c->end) {
        xo->in_flight -= c->len;
        if (status < 0 && !xo->ended && !xo->cancelled) {
            /* A could not take it (the client went away, or no memory): the worker's stream stops, A hears the end. */
            xo->cancelled = true;
            ic_js_stream_cancel(xo->stream);
            send_end(xo, false);
        } else if (xo->paused && !xo->ended && !xo->cancelled && xo->in_flight < XS_WINDOW / 2) {
            xo->paused = false;
            ic_js_stream_resume(xo->stream);
        }
    }
    free(c);
    owner_free_if_done(xo);
}

static int cancel_work(ic_smp_msg_t *msg, void *arg)
{
    struct ic__xowner *xo = arg;
    if (!xo->ended && !xo->cancelled) {
        xo->cancelled = true;
        ic_js_stream_cancel(xo->stream);
        send_end(xo, false); /* the worker says nothing more: the end that A waits for is sent from here */
    }
    owner_free_if_done(xo);
    return 0;
}

static bool xo_write(void *arg, const void *p, size_t len)
{
    struct ic__xowner *xo = arg;
    struct chunk *c = ic__fault(IC__FAULT_ALLOC) ? NULL : malloc(sizeof(*c) + len);
    if (!c) {
        /* The body cannot go on: A ends it as failed, the worker's stream is cancelled. */
        xo->cancelled = true;
        ic_js_stream_cancel(xo->stream);
        send_end(xo, false);
        return false;
    }
    *c = (struct chunk){.xo = xo, .xs = xo->xs, .len = len};
    memcpy(c->data, p, len);
    xo->msgs++;
    if (ic_smp_submit(xo->origin, chunk_work, chunk_done, c) < 0) {
        xo->msgs--;
        free(c);
        return false;
    }
    xo->in_flight += len;
    if (xo->in_flight < XS_WINDOW)
        return true;
    xo->paused = true;
    return false;
}

static void xo_end(void *arg, bool ok)
{
    struct ic__xowner *xo = arg;
    xo->ended = true;
    send_end(xo, ok);
    owner_free_if_done(xo);
}

static const ic_js_sink_t xo_sink = {xo_write, xo_end};

struct ic__xowner *ic__xstream_owner_new(ic_router_t *r, ic_js_stream_t *stream, unsigned origin)
{
    struct ic__xowner *xo = ic__fault(IC__FAULT_ALLOC) ? NULL : calloc(1, sizeof(*xo));
    if (!xo)
        return NULL;
    xo->r = r;
    xo->stream = stream;
    xo->origin = origin;
    ic__router_hold(r, 1);
    return xo;
}

void ic__xstream_owner_drop(struct ic__xowner *xo)
{
    xo->cancelled = true;
    ic_js_stream_cancel(xo->stream);
    owner_free_if_done(xo);
}

/* On B: A is ready (xs) and the flow starts, or A could not take it (xs NULL) and the stream is cancelled. */
static int start_work(ic_smp_msg_t *msg, void *arg)
{
    struct chunk *c = arg; /* A's message, carrying xo and xs */
    struct ic__xowner *xo = c->xo;
    if (c->xs) {
        xo->xs = c->xs;
        ic_js_stream_attach(xo->stream, &xo_sink, xo);
    } else {
        xo->cancelled = true;
        ic_js_stream_cancel(xo->stream);
        owner_free_if_done(xo);
    }
    return 0;
}

static void start_done(void *arg, int status)
{
    free(arg); /* A's */
}

void ic__xstream_start(ic_router_t *r, ic_http_exchange_t *x, unsigned owner, struct ic__xowner *xo, int status,
                       const char *const *lines, unsigned n, const char *extra)
{
    const char *with[65];
    if (extra && n < 64) {
        memcpy(with, lines, n * sizeof(*lines));
        with[n++] = extra;
        lines = with;
    }
    struct xstream *xs = ic__fault(IC__FAULT_ALLOC) ? NULL : calloc(1, sizeof(*xs));
    struct chunk *start = malloc(sizeof(*start));
    if (xs) {
        xs->r = r;
        xs->x = x;
        xs->owner = owner;
        xs->xo = xo;
        ic__router_hold(r, 1);
        if (ic_http_respond_start(x, status, lines, n, -1, &xs_ops, xs) != 0) {
            ic__router_hold(r, -1);
            free(xs);
            xs = NULL; /* no body wanted (HEAD …) or the client is gone: the exchange is over */
        }
    } else {
        static const char *const plain[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Service Unavailable: out of memory\n";
        ic_http_respond(x, 503, plain, 1, msg, sizeof(msg) - 1);
    }
    if (!start) {
        /*
         * No memory to tell B: the exchange ends here; on B the worker's stream is never attached, and it and
         * xo go when the worker is disposed (a documented gap under OOM).
         */
        if (xs) {
            ic_http_stream_end(x, false);
            xs_free(xs);
        }
        return;
    }
    *start = (struct chunk){.xo = xo, .xs = xs};
    if (ic_smp_submit(owner, start_work, start_done, start) < 0) {
        free(start);
        if (xs) {
            ic_http_stream_end(x, false);
            xs_free(xs);
        }
    }
}

/* ---- to a service call's caller on A ---------------------------------------------------------------- */

/* The caller's stream: resume is a drain, its cancel a client that went away. */
static const ic_js_source_ops_t xs_js_ops = {xs_drain, xs_abort};

ic_js_stream_t *ic__xstream_start_js(ic_router_t *r, unsigned owner, struct ic__xowner *xo)
{
    struct chunk *start = malloc(sizeof(*start)); /* not injected (as in ic__xstream_start): without it B is never told */
    if (!start)
        return NULL; /* no memory to tell B: its stream and xo go when the worker is disposed (as in ic__xstream_start) */
    struct xstream *xs = ic__fault(IC__FAULT_ALLOC) ? NULL : calloc(1, sizeof(*xs));
    ic_js_stream_t *js = xs ? ic_js_stream_from(&xs_js_ops, xs) : NULL;
    if (!js) {
        free(xs);
        xs = NULL; /* B cancels the service's stream */
    } else {
        xs->r = r;
        xs->owner = owner;
        xs->xo = xo;
        xs->js = js;
        ic__router_hold(r, 1);
    }
    *start = (struct chunk){.xo = xo, .xs = xs};
    if (ic_smp_submit(owner, start_work, start_done, start) < 0) {
        free(start);
        if (xs) {
            ic_js_stream_end(js, false);
            ic_js_stream_cancel(js); /* freed from its task; ops->cancel is not called after the end */
            xs_free(xs);
        }
        return NULL;
    }
    return js;
}
