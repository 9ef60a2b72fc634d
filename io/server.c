/*
 * server.c: the HTTP/1.1 server on the reactors.
 *
 * One SO_REUSEPORT listening socket per reactor (created up front by
 * ic_http_server_new, so a connection lives on the core that accepted it),
 * a multishot accept on each, and per connection a multishot recv that
 * takes its buffers from the reactor's provided-buffer ring. Received bytes
 * are copied into the connection's input buffer and the ring buffer is
 * handed back at once, so -ENOBUFS is rare and only means "re-arm".
 *
 * A connection runs one exchange at a time: it parses a request, calls the
 * handler, and parses the next one only once that exchange is answered. So
 * pipelined responses leave in request order by construction, and the
 * request views stay valid while the handler (or another core) works.
 * Responses are appended to a pending buffer while the previous one is
 * being sent (two buffers: an in-flight send owns its buffer until its CQE).
 * Backpressure: past IC__OUT_HIGH bytes waiting to be sent, no further
 * request is parsed; then past IC__IN_HIGH bytes waiting to be parsed, the
 * multishot receive is cancelled until the backlog drains.
 *
 * A connection is freed only when none of its operations is in flight.
 *
 * HTTPS (cfg.tls): the same connection with a TLS session (tls.c) between
 * the socket and the buffers, which stay plaintext, so that parsing,
 * backpressure and responses are the same code. Received ciphertext is
 * decrypted into `in`; a send encrypts the next IC__TLS_CHUNK of what it
 * sends and sends the ciphertext, so that a large response streams. The
 * handshake must complete within IC__TLS_HANDSHAKE_MS (the connection's
 * timer), then the header timeout starts; close_notify goes out before the
 * close. The plain path pays one test of c->tls per receive and per send.
 *
 * Out of memory: a connection whose state cannot be allocated is handed
 * back to the acceptor, which holds it and pauses accepting until the retry
 * (the client waits, nothing is read from it yet); a connection that cannot
 * grow a buffer answers what it was asked with a static 503 (no allocation)
 * after the responses already queued, and closes. So every request that was
 * read gets an answer.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"
#include "io/internal.h"
#include "isocore/http.h"
#include "io/server_int.h"

static struct srv_core *core_of(ic_http_server_t *srv)
{
    int id = ic_reactor_id();
    assert(id >= 0 && (unsigned)id < srv->n);
    return &srv->cores[id];
}

void ic_http_server_config_init(ic_http_server_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->port = 8080;
    cfg->max_head = 16 * 1024;
    cfg->max_body = 1024 * 1024;
    cfg->max_stream_body = (uint64_t)4 << 30;
    cfg->header_timeout_ms = 10 * 1000;
    cfg->idle_timeout_ms = 60 * 1000;
    cfg->drain_ms = 1000;
    cfg->drain_timeout_ms = 30000;
}

int ic_http_server_new(const ic_http_server_config_t *cfg, unsigned ncores, ic_http_server_t **out)
{
    if (!cfg || !cfg->handler || ncores == 0 || ncores > IC_MAX_CORES || cfg->port > 65535 ||
        (cfg->tls && !ic__tls_ctx_server(cfg->tls)))
        return -EINVAL;
    ic_http_server_t *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    srv->cfg = *cfg;
    srv->n = ncores;
    srv->port = cfg->port;
    srv->cores = ic__alloc_lines(sizeof(*srv->cores) * ncores);
    if (!srv->cores) {
        free(srv);
        return -ENOMEM;
    }
    memset(srv->cores, 0, sizeof(*srv->cores) * ncores);
    for (unsigned i = 0; i < ncores; i++)
        srv->cores[i].fd = -1;
    for (unsigned i = 0; i < ncores; i++) {
        struct srv_core *sc = &srv->cores[i];
        sc->srv = srv;
        int ret = ic__io_listen(cfg->host ? cfg->host : "127.0.0.1", srv->port, 4096, &sc->fd);
        if (ret < 0) {
            ic_http_server_free(srv);
            return ret;
        }
        if (srv->port == 0)
            srv->port = ic__io_port(sc->fd); /* the first socket picked a free port; the others join it */
    }
    *out = srv;
    return 0;
}

unsigned ic_http_server_port(const ic_http_server_t *srv)
{
    return srv->port;
}

void ic_http_server_free(ic_http_server_t *srv)
{
    if (!srv)
        return;
    for (unsigned i = 0; i < srv->n; i++) {
        if (srv->cores[i].fd >= 0)
            close(srv->cores[i].fd);
    }
    free(srv->cores);
    free(srv);
}

/* ---- connections ------------------------------------------------------------------ */

static void arm_recv(struct conn *c);

static void conn_free(struct conn *c)
{
    struct srv_core *sc = c->sc;
    ic_timer_stop(&c->timer);
    ic__io_close(c->fd, c->fixed); /* (a direct one was closed by ic__server_conn_close already) */
    IC__STAT_ADD(sc, open, -1ull);
    if (c->prev)
        c->prev->next = c->next;
    else
        sc->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ic__tls_free(c->tls);
    free(c->in);
    free(c->out[0]);
    free(c->out[1]);
    free(c);
    ic_reactor_unref();
}

static void free_task(ic_task_t *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, free_task));
    conn_free(c);
}

/*
 * Frees the connection once it is closing, its last operation has
 * completed and no handler holds its exchange (an answer may come later,
 * from another core, after the client went away) — from a task, never synchronously, so that every function up
 * the stack may go on using it until it returns.
 */
void ic__server_maybe_free(struct conn *c)
{
    if (c->closing && c->ops == 0 && !c->x.active && !c->free_posted && !c->process_posted && !c->x.body_posted) {
        c->free_posted = true;
        ic_task_post(&c->free_task, free_task);
    }
}

static void cancel_done(ic_op_t *op, int res, unsigned flags)
{
    struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, cancel_op));
    c->ops--;
    ic__server_maybe_free(c);
}

/* Cancels the multishot recv: too much input waits to be parsed. ic__server_resume_recv re-arms it once it drained. */
static void pause_recv(struct conn *c)
{
    if (!c->recv_armed || c->recv_pausing || c->closing)
        return;
    c->recv_pausing = true;
    c->cancel_op.cb = cancel_done;
    struct io_uring_sqe *sqe = ic_reactor_sqe(&c->cancel_op);
    io_uring_prep_cancel(sqe, &c->recv_op, 0);
    c->ops++;
}

/*
 * True when the parser is waiting for bytes: no exchange pending and no
 * output backlog. Then input is bounded by max_head and max_body (the parser
 * answers 431/413 past them), not by IC__IN_HIGH.
 */
static bool wants_input(const struct conn *c)
{
    return !c->x.active && c->out_len[c->sending ^ 1] < IC__OUT_HIGH;
}

void ic__server_resume_recv(struct conn *c)
{
    if (!c->recv_armed && !c->eof && !c->closing && (c->in_len < IC__IN_HIGH || wants_input(c)))
        arm_recv(c);
}

void ic__server_conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    ic_timer_stop(&c->timer);
    ic__server_body_stop(c, -EPIPE);
    if (c->x.streaming) {
        /* The producer of a streamed response is told once; after that the exchange is gone. */
        c->x.streaming = false;
        c->x.active = false;
        c->x.sops->abort(c->x.sarg);
    }
    if (c->fixed) {
        /* A direct descriptor: what is in flight on it is cancelled and the slot freed; the peer hears once they let go. */
        c->cancel_op.cb = cancel_done;
        ic__io_close_fixed(c->fd, &c->cancel_op);
        c->ops++;
        c->fd = -1;
        ic__server_maybe_free(c);
        return;
    }
    /* Tell the peer now; the fd itself is closed when the last CQE is in. */
    shutdown(c->fd, SHUT_RDWR);
    if (c->recv_armed) {
        c->cancel_op.cb = cancel_done;
        struct io_uring_sqe *sqe = ic_reactor_sqe(&c->cancel_op);
        io_uring_prep_cancel(sqe, &c->recv_op, 0);
        c->ops++;
    }
    ic__server_maybe_free(c);
}

/* The CQE of timer_fired's best-effort 408 on a direct descriptor (TLS: the session's ciphertext was in flight until now). */
static void r408_sent(ic_op_t *op, int res, unsigned flags)
{
    struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, send_op));
    (void)res;
    (void)flags;
    c->ops--;
    if (c->tls)
        ic__tls_sent(c->tls);
    ic__server_maybe_free(c);
}

/*
 * One best-effort send, never waited for (MSG_DONTWAIT): send(2) on a
 * process descriptor; an SQE on a direct one, which completes inline when
 * submitted, before the close that follows it in the same batch. True when
 * the buffer is free again now (TLS: ic__tls_sent is due), false when the
 * SQE's completion will say so.
 */
static bool send_once(struct conn *c, const char *p, size_t n)
{
    if (!c->fixed) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
        return true;
    }
    c->send_op.cb = r408_sent;
    struct io_uring_sqe *sqe = ic_reactor_sqe(&c->send_op);
    io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    ic__io_fixed(sqe, true);
    c->ops++;
    return false;
}

static void timer_fired(ic_timer_t *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, timer));
    uint64_t now = ic_reactor_now();
    if (c->due == 0)
        return; /* disarmed since it was started */
    if (c->due > now) {
        /* The deadline moved on since the timer was started (arm_timer): wait for the rest. */
        c->timer_at = c->due;
        ic_timer_start(&c->timer, c->due - now, 0);
        return;
    }
    c->due = 0;
    if (c->x.active || (c->send_busy && !c->handshaking))
        return; /* the handler or the send is in charge of this connection now */
    if (c->tls) {
        /* A handshake that did not complete in time just closes; a head that did not gets its 408 encrypted, best effort. */
        static const char r408[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        if (!c->handshaking && c->in_len > 0 && !c->close_after_send && ic__tls_write(c->tls, r408, sizeof(r408) - 1) > 0) {
            size_t n;
            const char *p = ic__tls_take(c->tls, &n);
            if (send_once(c, p, n))
                ic__tls_sent(c->tls);
        }
        ic__server_conn_close(c);
        return;
    }
    if (c->in_len > 0 && !c->close_after_send) {
        /* A head that did not complete in time (slowloris): 408, then close. */
        static const char r408[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        /* A non-blocking send: the peer is slow on purpose; it gets one best-effort line, nothing is waited for. */
        send_once(c, r408, sizeof(r408) - 1);
    }
    ic__server_conn_close(c);
}

/*
 * Sets the connection's deadline ms from now (0: leaves it as it is). The
 * timer is lazy: when it runs and fires no later than the new deadline, only
 * the deadline is recorded, and timer_fired waits for the rest. So a
 * keep-alive connection answering request after request moves its idle
 * deadline without touching the reactor's timer heap.
 */
static void arm_timer(struct conn *c, unsigned ms)
{
    if (!ms)
        return;
    c->due = ic_reactor_now() + (uint64_t)ms * 1000000;
    if (ic_timer_active(&c->timer) && c->timer_at <= c->due)
        return;
    c->timer_at = c->due;
    ic_timer_start(&c->timer, (uint64_t)ms * 1000000, 0);
}

/* No deadline while a handler has the exchange; the timer itself, if running, finds none when it fires. */
static void disarm_timer(struct conn *c)
{
    c->due = 0;
}

/* ic__server_reserve()'s slow path: out of line, so that the common case (it fits) stays a compare in its callers. */
__attribute__((noinline)) bool ic__server_grow(char **b, size_t *cap, size_t need)
{
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *p = ic__fault(IC__FAULT_ALLOC) ? NULL : realloc(*b, n);
    if (!p)
        return false;
    *b = p;
    *cap = n;
    return true;
}

/* A view into the old input buffer (of len bytes), moved to the same place of the new one; other views stay. */
static void rebase(ic_str_t *v, uintptr_t from, size_t len, char *to)
{
    uintptr_t at = (uintptr_t)v->p;
    if (v->p && at >= from && at <= from + len)
        v->p = to + (at - from);
}

/*
 * Grows the input buffer. An exchange in progress keeps its request valid
 * (the views point into the buffer): when realloc moves it, the views move
 * with it. Pipelined bytes, and bodies that stream in, make it grow while a
 * handler holds the request.
 */
static bool reserve_in(struct conn *c, size_t need)
{
    /* Compared as numbers: the old block is freed by then, only its address is used. */
    uintptr_t old = (uintptr_t)c->in;
    size_t old_len = c->in_len;
    if (!ic__server_reserve(&c->in, &c->in_cap, need))
        return false;
    if (old && (uintptr_t)c->in != old && c->x.active) {
        ic_http_request_t *req = &c->x.req;
        rebase(&req->method, old, old_len, c->in);
        rebase(&req->target, old, old_len, c->in);
        rebase(&req->host, old, old_len, c->in);
        for (unsigned i = 0; i < req->nheaders; i++) {
            rebase(&req->headers[i].name, old, old_len, c->in);
            rebase(&req->headers[i].value, old, old_len, c->in);
        }
        rebase(&c->x.body, old, old_len, c->in);
    }
    return true;
}

/* The head is complete and the body goes on: the handler runs now and reads the body as it comes. */
static void dispatch_streamed(struct conn *c, size_t head_len, uint64_t length)
{
    struct ic_http_exchange *x = &c->x;
    const ic_http_server_config_t *cfg = &c->sc->srv->cfg;
    disarm_timer(c);
    x->body = (ic_str_t){c->in + head_len, 0};
    x->c = c;
    x->consumed = head_len;
    x->active = true;
    x->body_stream = true;
    x->body_done = x->body_paused = false;
    x->bcb = NULL;
    /* Content-Length: bytes still due; chunked: bytes decoded and delivered (what was decoded before is delivered first). */
    x->body_left = x->req.chunked ? 0 : length;
    ic__server_note_method(x);
    ic__server_send_continue(c);
    c->in_handler = true;
    IC__STAT_INC(c->sc, requests);
    cfg->handler(x, cfg->arg);
    c->in_handler = false;
}

/* ---- requests ---------------------------------------------------------------------- */

/*
 * A head past max_head: 414 (URI Too Long) when the request line alone is
 * what is too long (it has no end yet, or it takes most of the limit: more
 * than half of the head), else 431 (the header fields are).
 */
static int head_limit_status(const char *in, size_t len)
{
    const char *eol = memchr(in, '\n', len);
    return !eol || (size_t)(eol - in) > len / 2 ? 414 : 431;
}

/*
 * Parses and dispatches what is buffered, one exchange at a time, until it
 * needs more bytes, an exchange is pending, or backpressure says stop.
 */
void ic__server_process(struct conn *c)
{
    const ic_http_server_config_t *cfg = &c->sc->srv->cfg;
    while (!c->x.active && !c->closing && !c->close_after_send) {
        if (c->out_len[c->sending ^ 1] >= IC__OUT_HIGH)
            return; /* the client is not reading: stop reading its requests */
        if (c->in_len == 0) {
            if (c->eof) {
                ic__server_conn_close(c);
                return;
            }
            arm_timer(c, cfg->idle_timeout_ms);
            return;
        }
        ic_http_request_t *req = &c->x.req;
        int r = ic_http_parse_request(c->in, c->in_len, req);
        if (r == IC_HTTP_INCOMPLETE) {
            if (c->in_len > cfg->max_head) {
                ic__server_respond_error(c, head_limit_status(c->in, c->in_len));
                return;
            }
            if (c->eof)
                ic__server_conn_close(c);
            return; /* the header timer armed when the head began keeps running */
        }
        if (r < 0) {
            ic__server_respond_error(c, ic_http_error_status(r));
            return;
        }
        if ((size_t)r > cfg->max_head) {
            ic__server_respond_error(c, head_limit_status(c->in, (size_t)r));
            return;
        }
        size_t consumed;
        if (req->chunked) {
            /* [in + r, + chunk.total) is decoded body; what follows is raw input not yet decoded. */
            char *raw = c->in + r + c->chunk.total;
            size_t n = c->in_len - (size_t)r - c->chunk.total, before = c->chunk.total;
            ssize_t left = ic_http_chunked_decode(&c->chunk, raw, &n);
            /* The decoder wrote its n bytes at raw, which is right after the body decoded so far. */
            assert(c->chunk.total == before + n);
            (void)before;
            if (left == IC_HTTP_INCOMPLETE && cfg->stream_bodies) {
                /* The body goes on: it streams. What was decoded so far is delivered first (ic__server_body_feed). */
                c->in_len = (size_t)r + c->chunk.total;
                dispatch_streamed(c, (size_t)r, 0);
                continue;
            }
            if (left == IC_HTTP_INCOMPLETE) {
                c->in_len = (size_t)r + c->chunk.total; /* the raw bytes were all consumed */
                if (c->chunk.total > cfg->max_body)
                    ic__server_respond_error(c, 413);
                else if (c->eof)
                    ic__server_conn_close(c);
                return;
            }
            if (left < 0 || c->chunk.total > cfg->max_body) {
                ic__server_respond_error(c, left < 0 ? 400 : 413);
                return;
            }
            /* The next request's bytes are the last `left` of the buffer: move them right after the body. */
            size_t body_end = (size_t)r + c->chunk.total;
            memmove(c->in + body_end, c->in + c->in_len - (size_t)left, (size_t)left);
            c->in_len = body_end + (size_t)left;
            c->x.body = (ic_str_t){c->in + r, c->chunk.total};
            consumed = body_end;
        } else if (req->has_length) {
            if (cfg->stream_bodies && c->in_len - (size_t)r < req->content_length) {
                if (req->content_length > cfg->max_stream_body) {
                    ic__server_respond_error(c, 413);
                    return;
                }
                dispatch_streamed(c, (size_t)r, req->content_length);
                continue;
            }
            if (req->content_length > cfg->max_body) {
                ic__server_respond_error(c, 413);
                return;
            }
            if (c->in_len - (size_t)r < req->content_length) {
                ic__server_send_continue(c);
                if (c->eof)
                    ic__server_conn_close(c);
                return;
            }
            c->x.body = (ic_str_t){c->in + r, (size_t)req->content_length};
            consumed = (size_t)r + (size_t)req->content_length;
        } else {
            c->x.body = (ic_str_t){c->in + r, 0};
            consumed = (size_t)r;
        }
        disarm_timer(c);
        c->x.c = c;
        c->x.consumed = consumed;
        c->x.active = true;
        ic__server_note_method(&c->x);
        c->in_handler = true;
        IC__STAT_INC(c->sc, requests);
        cfg->handler(&c->x, cfg->arg);
        c->in_handler = false;
    }
}

/* The peer will send nothing more (FIN, or TLS's close_notify): answer what it sent, then close. */
static void peer_eof(struct conn *c)
{
    c->eof = true;
    if (c->x.active && c->x.body_stream)
        ic__server_body_feed(c); /* what is buffered goes out, then the reader hears the body is cut */
    if (c->x.streaming) /* as nginx does: a client that closed its side of a streamed response is gone; the producer stops */
        ic__server_conn_close(c);
    else if (!c->x.active && !c->send_busy)
        ic__server_process(c);
}

/* TLS failed (OpenSSL's reason is in the session): its alert, if any, goes out after what is queued, then the close. */
static void tls_fail(struct conn *c)
{
    c->close_after_send = true;
    ic__server_flush(c);
}

enum { TLS_NOTHING, TLS_DATA, TLS_EOF };

/*
 * HTTPS: received ciphertext. Advances the handshake (its next flight is
 * sent at once), then decrypts all of it behind what `in` holds. Returns
 * TLS_DATA when plaintext may have come, TLS_EOF after close_notify, or
 * TLS_NOTHING (handshake going on, failed, out of memory).
 */
static int tls_recv(struct conn *c, const char *data, size_t len)
{
    struct ic__tls *t = c->tls;
    if (ic__tls_failed(t) || c->tls_eof)
        return TLS_NOTHING;
    ic__tls_feed(t, data, len);
    if (c->handshaking) {
        int r = ic__tls_handshake(t);
        if (r <= 0) {
            if (r < 0)
                tls_fail(c);
            else
                ic__server_flush(c);
            return TLS_NOTHING;
        }
        c->handshaking = false;
        arm_timer(c, c->sc->srv->cfg.header_timeout_ms); /* now the first request's head must come in time */
    }
    int ret = TLS_DATA;
    for (;;) {
        if (!reserve_in(c, c->in_len + 4096)) {
            if (!c->x.active)
                c->in_len = 0;
            ic__server_answer_oom(c);
            return TLS_NOTHING;
        }
        long n = ic__tls_read(t, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n == IC__TLS_EOF) {
            c->tls_eof = true;
            ret = TLS_EOF;
        } else if (n < 0) {
            tls_fail(c);
            return TLS_NOTHING;
        }
        break;
    }
    if (ic__tls_staged(t))
        ic__server_flush(c); /* what reading wrote (a ticket after the handshake, say) */
    return ret;
}

static void recv_done(ic_op_t *op, int res, unsigned flags)
{
    struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, recv_op));
    struct srv_core *sc = c->sc;
    if (!(flags & IORING_CQE_F_MORE)) {
        c->recv_armed = false;
        c->recv_pausing = false;
        c->ops--;
    }
    if (res > 0) {
        char *buf = ic__io_buf(sc->io, flags);
        bool fresh = c->in_len == 0, go = true;
        int tls = TLS_NOTHING;
        if (c->closing || c->oom) {
            /* Closing, or answering the last request with the static 503: the input is not read. */
        } else if (c->tls) {
            tls = tls_recv(c, buf, (size_t)res);
            /* Nothing to parse yet (a record cut in two, a ticket, the handshake's end): the timer that runs goes on. */
            go = tls != TLS_NOTHING && !c->closing && !c->close_after_send && (c->in_len > 0 || tls == TLS_EOF);
            fresh = fresh && c->in_len > 0;
        } else if (reserve_in(c, c->in_len + (size_t)res)) {
            memcpy(c->in + c->in_len, buf, (size_t)res);
            c->in_len += (size_t)res;
        } else {
            /* The bytes that could not be kept are part of a request that gets the static 503. */
            if (!c->x.active)
                c->in_len = 0;
            ic__server_answer_oom(c);
        }
        /* The buffer goes straight back to the ring. */
        ic__io_buf_return(sc->io, flags);
        if (!c->closing && go) {
            if (c->x.active && c->x.body_stream)
                ic__server_body_feed(c);
            else
                ic__server_process(c);
            /* The head that began with these bytes is not complete: it must be in time. (A whole one was answered above.) */
            if (fresh && !c->x.active && c->in_len > 0 && !c->closing)
                arm_timer(c, sc->srv->cfg.header_timeout_ms);
            if (tls == TLS_EOF && !c->closing)
                peer_eof(c);
        }
    } else if (res == 0) {
        if (c->tls && c->handshaking)
            ic__server_conn_close(c); /* gone in the middle of the handshake */
        else if (!c->eof)
            peer_eof(c); /* (TLS: a FIN after close_notify says nothing new) */
    } else if (res == -ECANCELED && !c->closing && !ic_reactor_exiting()) {
        /*
         * pause_recv's cancel: ic__server_resume_recv re-arms once the input drained (not at exit: re-armed, it would
         * never end).
         */
    } else if (res != -ENOBUFS) {
        ic__server_conn_close(c); /* reset, or cancelled by ic__server_conn_close */
    }
    if (c->closing) {
        ic__server_maybe_free(c);
        return;
    }
    /* Backpressure: a multishot recv keeps delivering until cancelled, so too much unparsed input cancels it. */
    if (c->in_len >= IC__IN_HIGH && !wants_input(c))
        pause_recv(c);
    else
        ic__server_resume_recv(c);
}

static void arm_recv(struct conn *c)
{
    c->recv_op.cb = recv_done;
    c->recv_armed = true;
    c->ops++;
    if (ic__fault_refuse(&c->recv_op, IC__FAULT_ENOBUFS, -ENOBUFS))
        return;
    struct io_uring_sqe *sqe = ic_reactor_sqe(&c->recv_op);
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    ic__io_fixed(sqe, c->fixed);
    sqe->buf_group = c->sc->io->bgid;
}

/* False when there is no memory for its state: the acceptor keeps fd and offers it again later. TCP_NODELAY is the listener's. */
static bool conn_new(struct srv_core *sc, int fd, bool fixed)
{
    struct conn *c = ic__fault(IC__FAULT_ALLOC) ? NULL : calloc(1, sizeof(*c));
    struct ic__tls *tls = c && sc->srv->cfg.tls ? ic__tls_new(sc->srv->cfg.tls, NULL) : NULL;
    if (!c || (sc->srv->cfg.tls && !tls)) {
        free(c);
        return false;
    }
    IC__STAT_INC(sc, accepted);
    IC__STAT_INC(sc, open);
    c->sc = sc;
    c->fd = fd;
    c->fixed = fixed;
    c->sending = 1; /* so that buffer 0 is the first pending one */
    c->tls = tls;
    c->handshaking = tls != NULL;
    ic_timer_init(&c->timer, timer_fired);
    c->next = sc->conns;
    if (sc->conns)
        sc->conns->prev = c;
    sc->conns = c;
    /* A connection keeps a stopping reactor alive until it is closed. */
    ic_reactor_ref();
    arm_timer(c, tls ? IC__TLS_HANDSHAKE_MS : sc->srv->cfg.header_timeout_ms);
    arm_recv(c);
    return true;
}

/* ---- accepting --------------------------------------------------------------------- */

static bool on_fd(struct ic__acceptor *a, int fd, bool fixed)
{
    return conn_new((struct srv_core *)((char *)a - offsetof(struct srv_core, acceptor)), fd, fixed);
}

int ic_http_server_start(ic_http_server_t *srv)
{
    struct srv_core *sc = core_of(srv);
    int err = 0;
    sc->io = ic__io_core(&err);
    if (!sc->io)
        return err;
    ic__acceptor_init(&sc->acceptor, sc->fd, on_fd);
    sc->acceptor.errors = &sc->stats.accept_errors;
    ic__acceptor_start(&sc->acceptor);
    return 0;
}

void ic_http_server_stats(const ic_http_server_t *srv, unsigned core, ic_http_server_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (core >= srv->n)
        return;
    const ic_http_server_stats_t *s = &srv->cores[core].stats;
    out->accepted = __atomic_load_n(&s->accepted, __ATOMIC_RELAXED);
    out->accept_errors = __atomic_load_n(&s->accept_errors, __ATOMIC_RELAXED);
    out->requests = __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
    out->open = __atomic_load_n(&s->open, __ATOMIC_RELAXED);
    out->drain_cut = __atomic_load_n(&s->drain_cut, __ATOMIC_RELAXED);
}

/*
 * The drain deadline: what is still open when it passes is cut, so that a
 * client that never reads cannot keep a stopping process alive. A connection
 * with output still queued is reset (SO_LINGER 0): the peer learns the
 * response is cut instead of waiting for the rest.
 */
static unsigned cut_open(struct srv_core *sc)
{
    unsigned cut = 0;
    for (struct conn *c = sc->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (c->send_busy || c->out_len[0] || c->out_len[1])
            ic__io_linger0(c->fd, c->fixed); /* before ic__server_conn_close's close, in the same batch for a direct one */
        ic__server_conn_close(c);
        cut++;
    }
    IC__STAT_ADD(sc, drain_cut, cut);
    return cut;
}

static void drain_deadline(ic_timer_t *t)
{
    struct srv_core *sc = (struct srv_core *)((char *)t - offsetof(struct srv_core, drain_deadline));
    unsigned cut = cut_open(sc);
    if (cut)
        ic_log(IC_LOG_WARN, "http: the drain deadline (%u ms) passed: cut %u connection(s) still open",
               sc->srv->cfg.drain_timeout_ms, cut);
}

/* An exchange in progress, or a response still being sent or queued: the connection closes once that is out. */
static bool conn_ending(const struct conn *c)
{
    return c->x.active || c->send_busy || c->out_len[c->sending ^ 1];
}

void ic_http_server_stop(ic_http_server_t *srv)
{
    struct srv_core *sc = core_of(srv);
    sc->stopping = true;
    if (srv->cfg.drain_timeout_ms && sc->conns) {
        ic_timer_init(&sc->drain_deadline, drain_deadline);
        ic_timer_start(&sc->drain_deadline, (uint64_t)srv->cfg.drain_timeout_ms * 1000000, 0);
    }
    ic__acceptor_stop(&sc->acceptor);
    for (struct conn *c = sc->conns, *next; c; c = next) {
        next = c->next;
        if (conn_ending(c))
            c->close_after_send = true; /* finish the exchange in progress, then close */
        else if (srv->cfg.drain_ms && c->in_len == 0)
            arm_timer(c, srv->cfg.drain_ms); /* idle: a request already on its way is still answered (with close) */
        else
            ic__server_conn_close(c);
    }
}

/*
 * How long ic_http_server_cut lets an exchange in progress end: its answer
 * on its way (a 503 from another core whose worker on_abort disposed) or
 * being sent; past it, the connection is cut (a client that does not read).
 */
#define IC__CUT_SEND_MS 200

/* The end of that: what is still open now is cut (reset if output is queued). */
static void cut_deadline(ic_timer_t *t)
{
    struct srv_core *sc = (struct srv_core *)((char *)t - offsetof(struct srv_core, drain_deadline));
    unsigned cut = cut_open(sc);
    if (cut)
        ic_log(IC_LOG_WARN, "http: exit without draining: cut %u connection(s) whose exchange had not ended", cut);
}

void ic_http_server_cut(ic_http_server_t *srv)
{
    struct srv_core *sc = core_of(srv);
    if (!sc->io)
        return; /* never started on this core: nothing to cut */
    if (!sc->stopping)
        ic_http_server_stop(srv);
    ic_timer_stop(&sc->drain_deadline);
    bool ending = false;
    for (struct conn *c = sc->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (conn_ending(c)) {
            c->close_after_send = true; /* its last response is on its way (a 503 of on_abort, say) */
            ending = true;
            continue;
        }
        ic__server_conn_close(c);
    }
    if (ending) {
        /* The drain deadline's timer, stopped above: the cut is the drain's end brought forward. */
        ic_timer_init(&sc->drain_deadline, cut_deadline);
        ic_timer_start(&sc->drain_deadline, (uint64_t)IC__CUT_SEND_MS * 1000000, 0);
    }
}
