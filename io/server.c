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

#define IC__OUT_HIGH (256 * 1024)
#define IC__IN_HIGH (64 * 1024)

struct srv_core;

struct conn {
    struct srv_core *sc;
    struct conn *prev, *next;
    int fd;       /* -1 once a direct one is closed */
    bool fixed;   /* fd is a direct descriptor of the reactor's ring (io/internal.h, "sockets") */
    unsigned ops; /* operations in flight: recv, send, cancel */
    ic_op_t recv_op, send_op, cancel_op;
    bool recv_armed, recv_pausing, send_busy, closing, close_after_send, eof, in_handler, continue_sent;
    ic_timer_t timer;
    uint64_t due, timer_at; /* the deadline in force (0: none) and when the timer fires, which may be earlier (arm_timer) */
    ic_task_t free_task, process_task;
    bool free_posted, process_posted;

    char *in;
    size_t in_len, in_cap;

    /* A chunked body is decoded in place behind the head: decoded bytes, then raw bytes not yet fed. */
    ic_http_chunked_t chunk;

    char *out[2];
    size_t out_len[2], out_cap[2];
    int sending;    /* index of the buffer an in-flight send owns */
    const char *tx; /* what the send in flight sends: out[sending], or the static 503 */
    size_t tx_len, sent;
    bool oom; /* a buffer could not grow: the static 503 goes out after what is queued, then the connection closes */

    /* HTTPS: the session; how much of tx is encrypted; the ciphertext in flight. */
    struct ic__tls *tls;
    bool handshaking, tls_eof;
    size_t enc;
    const char *ct;
    size_t ct_len, ct_sent;

    struct ic_http_exchange {
        struct conn *c;
        ic_http_request_t req;
        ic_str_t body;
        size_t consumed; /* bytes of `in` the request (head and body) used */
        bool active;
        bool head_method; /* a HEAD request (see is_head) */
        /* A streamed request body (ic_http_body_read): where it is, and who gets it. */
        bool body_stream, body_done, body_paused, body_posted;
        uint64_t body_left; /* bytes of a Content-Length body not delivered yet */
        ic_http_body_cb bcb;
        void *barg;
        ic_task_t body_task;
        /* A streamed response (ic_http_respond_start): how its body is framed, and who is told of drain and abort. */
        bool streaming, chunked, until_close, drain_wanted;
        uint64_t remaining; /* bytes still due after a declared Content-Length */
        const ic_http_stream_ops_t *sops;
        void *sarg;
    } x;
};

struct srv_core {
    ic_http_server_t *srv;
    int fd;
    struct ic__acceptor acceptor;
    bool stopping;
    struct ic__io_core *io;
    struct conn *conns;
    ic_timer_t drain_deadline; /* armed by ic_http_server_stop */
    time_t date_sec;
    char date[32]; /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    ic_http_server_stats_t stats;
} __attribute__((aligned(64)));

struct ic_http_server {
    ic_http_server_config_t cfg;
    unsigned n, port;
    struct srv_core *cores;
};

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

static void conn_close(struct conn *c);
static void process(struct conn *c);
static void arm_recv(struct conn *c);
static void maybe_free(struct conn *c);
static void resume_recv(struct conn *c);
static void body_stop(struct conn *c, int status);
static void body_feed(struct conn *c);

static void conn_free(struct conn *c)
{
    struct srv_core *sc = c->sc;
    ic_timer_stop(&c->timer);
    ic__io_close(c->fd, c->fixed); /* (a direct one was closed by conn_close already) */
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

/* The next request after a streamed response, parsed outside the producer's call (see exchange_over). */
static void process_task(ic_task_t *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, process_task));
    c->process_posted = false;
    if (c->closing) {
        maybe_free(c);
        return;
    }
    process(c);
    resume_recv(c);
}

/*
 * Frees the connection once it is closing, its last operation has
 * completed and no handler holds its exchange (an answer may come later,
 * from another core, after the client went away) — from a task, never synchronously, so that every function up
 * the stack may go on using it until it returns.
 */
static void maybe_free(struct conn *c)
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
    maybe_free(c);
}

/* Cancels the multishot recv: too much input waits to be parsed. resume_recv re-arms it once it drained. */
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

static void resume_recv(struct conn *c)
{
    if (!c->recv_armed && !c->eof && !c->closing && (c->in_len < IC__IN_HIGH || wants_input(c)))
        arm_recv(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    ic_timer_stop(&c->timer);
    body_stop(c, -EPIPE);
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
        maybe_free(c);
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
    maybe_free(c);
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
    maybe_free(c);
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
        conn_close(c);
        return;
    }
    if (c->in_len > 0 && !c->close_after_send) {
        /* A head that did not complete in time (slowloris): 408, then close. */
        static const char r408[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        /* A non-blocking send: the peer is slow on purpose; it gets one best-effort line, nothing is waited for. */
        send_once(c, r408, sizeof(r408) - 1);
    }
    conn_close(c);
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

/* Ensures buffer *b (capacity *cap) can hold need bytes. Returns false on allocation failure. */
/* reserve()'s slow path: out of line, so that the common case (it fits) stays a compare in its callers. */
static __attribute__((noinline)) bool grow(char **b, size_t *cap, size_t need)
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

static inline bool reserve(char **b, size_t *cap, size_t need)
{
    return need <= *cap || grow(b, cap, need);
}

static void send_done(ic_op_t *op, int res, unsigned flags);

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
    if (!reserve(&c->in, &c->in_cap, need))
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

/* The answer when memory ran out: static, so that it needs none. */
static const char oom_503[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 35\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
    "Service Unavailable: out of memory\n";

/* TLS: sends ct[ct_sent, ct_len). */
static void ct_send(struct conn *c)
{
    c->send_op.cb = send_done;
    struct io_uring_sqe *sqe = ic_reactor_sqe(&c->send_op);
    io_uring_prep_send(sqe, c->fd, c->ct + c->ct_sent, ic__fault_send_len(c->ct_len - c->ct_sent), MSG_NOSIGNAL);
    ic__io_fixed(sqe, c->fixed);
    c->ops++;
}

/* TLS's send_more: encrypts the next piece of tx behind what the session staged (tickets, alerts) and sends it all. */
static void tls_send_more(struct conn *c)
{
    struct ic__tls *t = c->tls;
    if (c->enc < c->tx_len) {
        size_t n = c->tx_len - c->enc < IC__TLS_CHUNK ? c->tx_len - c->enc : IC__TLS_CHUNK;
        if (ic__tls_failed(t) || ic__tls_write(t, c->tx + c->enc, n) < 0) {
            /* The session failed (a bad record came in, or no memory for the ciphertext): nothing more can be sent. */
            c->send_busy = false;
            conn_close(c);
            return;
        }
        c->enc += n;
    }
    assert(ic__tls_staged(t) > 0);
    c->ct = ic__tls_take(t, &c->ct_len);
    c->ct_sent = 0;
    ct_send(c);
}

/* Sends tx[sent, tx_len): the first send of a buffer, or the rest after a short send. */
static void send_more(struct conn *c)
{
    if (c->tls)
        return tls_send_more(c);
    c->send_op.cb = send_done;
    struct io_uring_sqe *sqe = ic_reactor_sqe(&c->send_op);
    io_uring_prep_send(sqe, c->fd, c->tx + c->sent, ic__fault_send_len(c->tx_len - c->sent), MSG_NOSIGNAL);
    ic__io_fixed(sqe, c->fixed);
    c->ops++;
}

/* TLS with no response to send: close_notify first if the connection is to close. True when the session staged something. */
static bool tls_idle_output(struct conn *c)
{
    if (c->close_after_send && !c->x.active)
        ic__tls_shutdown(c->tls); /* once; nothing during or after a failed handshake */
    return ic__tls_staged(c->tls) > 0;
}

static void flush(struct conn *c)
{
    if (c->send_busy || c->closing)
        return;
    int p = c->sending ^ 1;
    if (c->out_len[p] == 0) {
        if (c->oom && c->tx != oom_503 && !c->x.active) {
            /* After the answer of the exchange in progress, if any: the 503 answers the request that came next. */
            c->tx = oom_503;
            c->tx_len = sizeof(oom_503) - 1;
        } else if (c->tls && tls_idle_output(c)) {
            c->tx = NULL; /* only what the session staged: a handshake flight, a ticket, an alert, close_notify */
            c->tx_len = 0;
        } else {
            if (c->close_after_send && !c->x.active)
                conn_close(c);
            return;
        }
    } else {
        /* The pending buffer becomes the one in flight; new responses go to the other one. */
        c->sending = p;
        c->tx = c->out[p];
        c->tx_len = c->out_len[p];
    }
    c->sent = 0;
    c->enc = 0;
    c->send_busy = true;
    send_more(c);
}

/* Memory ran out while reading or answering: queue the static 503 after what is queued, read nothing more, then close. */
static void answer_oom(struct conn *c)
{
    c->oom = true;
    c->close_after_send = true;
    flush(c);
}

static void send_done(ic_op_t *op, int res, unsigned flags)
{
    struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, send_op));
    int s = c->sending;
    c->ops--;
    if (res < 0 || c->closing) {
        c->send_busy = false;
        conn_close(c);
        maybe_free(c);
        return;
    }
    if (c->tls) {
        c->ct_sent += (size_t)res;
        if (c->ct_sent < c->ct_len) {
            ct_send(c);
            return;
        }
        ic__tls_sent(c->tls);
        c->sent = c->enc; /* plaintext on its way: the next piece is encrypted next */
    } else {
        c->sent += (size_t)res;
    }
    if (c->sent < c->tx_len) {
        send_more(c); /* a short send: the rest goes out from where it stopped */
        return;
    }
    c->out_len[s] = 0; /* (already 0 when the static 503 went out) */
    c->send_busy = false;
    flush(c);
    if (c->x.streaming && c->x.drain_wanted && c->out_len[c->sending ^ 1] < IC__OUT_HIGH) {
        /* The producer of a streamed response waited for the client: what it queued is on its way now. */
        c->x.drain_wanted = false;
        c->x.sops->drain(c->x.sarg);
        return;
    }
    if (!c->closing && !c->send_busy) {
        process(c); /* resumes if backpressure had paused parsing */
        resume_recv(c);
    }
}

/* ---- responses --------------------------------------------------------------------- */

const char *ic_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 429:
        return "Too Many Requests";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

/* The Date header's value, rebuilt at most once per second per core. */
static const char *date_now(struct srv_core *sc)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != sc->date_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(sc->date, sizeof(sc->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        sc->date_sec = ts.tv_sec;
    }
    return sc->date;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put(p, lit, sizeof(lit) - 1)

static char *put_uint(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* How a head frames its body: Content-Length (len), chunked, or nothing (the connection's close ends it). */
enum framing { FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE };

/* Bytes a head with these header lines may take (the fixed parts are under 128 bytes). */
/* Header lines whose lengths head_size keeps for put_head (the rest are measured again). */
#define HEAD_LENS 16

/* Room for a response head; the first HEAD_LENS header lengths go to lens, so that put_head need not measure them again. */
static size_t head_size(const char *reason, const char *const *headers, unsigned nh, size_t *lens)
{
    size_t need = 128 + strlen(reason);
    for (unsigned i = 0; i < nh; i++) {
        size_t n = strlen(headers[i]);
        if (i < HEAD_LENS)
            lens[i] = n;
        need += n + 2;
    }
    return need;
}

/* Writes a response head at o (room reserved by the caller, lens from head_size); returns the end. */
static inline char *put_head(struct conn *c, char *o, int status, const char *reason, const char *const *headers, unsigned nh,
                             const size_t *lens, enum framing fr, uint64_t len, bool close)
{
    o = PUT_LIT(o, "HTTP/1.1 ");
    o = put_uint(o, (uint64_t)status);
    *o++ = ' ';
    o = put(o, reason, strlen(reason));
    if (fr == FRAME_LENGTH) {
        o = PUT_LIT(o, "\r\nContent-Length: ");
        o = put_uint(o, len);
    } else if (fr == FRAME_CHUNKED) {
        o = PUT_LIT(o, "\r\nTransfer-Encoding: chunked");
    }
    o = PUT_LIT(o, "\r\nDate: ");
    o = put(o, date_now(c->sc), 29);
    if (close)
        o = PUT_LIT(o, "\r\nConnection: close");
    for (unsigned i = 0; i < nh; i++) {
        o = PUT_LIT(o, "\r\n");
        o = put(o, headers[i], i < HEAD_LENS ? lens[i] : strlen(headers[i]));
    }
    return PUT_LIT(o, "\r\n\r\n");
}

/* Appends a whole response to the pending buffer. Returns false if memory ran out. */
static bool append_response(struct conn *c, int status, const char *const *headers, unsigned nh, const void *body, size_t len,
                            bool head_only, bool close)
{
    int p = c->sending ^ 1;
    const char *reason = ic_http_reason(status);
    size_t lens[HEAD_LENS];
    size_t need = head_size(reason, headers, nh, lens) + (head_only ? 0 : len);
    if (!reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + need))
        return false;
    char *o = put_head(c, c->out[p] + c->out_len[p], status, reason, headers, nh, lens, FRAME_LENGTH, len, close);
    if (!head_only && len)
        o = put(o, body, len);
    c->out_len[p] = (size_t)(o - c->out[p]);
    return true;
}

/* An error before (or instead of) the handler: the status, a one-line body, and the connection closes. */
static void respond_error(struct conn *c, int status)
{
    char body[64];
    size_t n = strlen(ic_http_reason(status));
    memcpy(body, ic_http_reason(status), n);
    body[n++] = '\n';
    c->close_after_send = true;
    c->in_len = 0;
    if (!append_response(c, status, NULL, 0, body, n, false, true)) {
        answer_oom(c);
        return;
    }
    flush(c);
}

const ic_http_request_t *ic_http_request(const ic_http_exchange_t *x)
{
    return &x->req;
}

ic_str_t ic_http_body(const ic_http_exchange_t *x)
{
    return x->body;
}

bool ic_http_exchange_tls(const ic_http_exchange_t *x)
{
    return x->c->tls != NULL;
}

/* The exchange's answer is queued: its request's bytes are done with; the next request may be parsed. */
static void exchange_over(struct conn *c, bool defer)
{
    struct ic_http_exchange *x = &c->x;
    if (x->body_stream && !x->body_done) {
        /* Answered before its body ended: the rest is not read; the connection closes after the response. */
        c->close_after_send = true;
        body_stop(c, -ECANCELED);
        c->in_len = x->consumed; /* body bytes buffered and not delivered go; nothing after them is parsed */
    }
    x->body_stream = false;
    x->active = false;
    x->streaming = false;
    /* Drop the request's bytes (the views are no longer used). */
    if (x->consumed < c->in_len)
        memmove(c->in, c->in + x->consumed, c->in_len - x->consumed);
    c->in_len -= x->consumed;
    x->consumed = 0;
    ic_http_chunked_init(&c->chunk);
    c->continue_sent = false;
    if (c->closing) {
        maybe_free(c);
        return;
    }
    flush(c);
    if (defer) {
        /* From a producer's call: the next request is parsed from a task, so that no handler runs inside its caller. */
        if (!c->process_posted) {
            c->process_posted = true;
            ic_task_post(&c->process_task, process_task);
        }
    } else if (!c->in_handler) {
        process(c); /* answered later: go on with pipelined requests */
    }
    resume_recv(c);
}

/*
 * Read from the view while it is sure to be valid (as the request is
 * dispatched): later the input buffer may have grown (moved) under the
 * views, with pipelined bytes or a body that streams in, so the answer
 * never reads them.
 */
static bool is_head(const ic_http_exchange_t *x)
{
    return x->head_method;
}

static void note_method(struct ic_http_exchange *x)
{
    x->head_method = x->req.method.len == 4 && memcmp(x->req.method.p, "HEAD", 4) == 0;
}

void ic_http_respond(ic_http_exchange_t *x, int status, const char *const *headers, unsigned nheaders, const void *body, size_t len)
{
    struct conn *c = x->c;
    assert(x->active && !x->streaming);
    bool close = !x->req.keep_alive || c->sc->stopping;
    if (close)
        c->close_after_send = true;
    if (!c->closing && !append_response(c, status, headers, nheaders, body, len, is_head(x), close)) {
        c->oom = true; /* flush() sends the static 503 in its place */
        c->close_after_send = true;
    }
    /*
     * Answered later (not from inside the handler call): the next pipelined
     * request is parsed from a task. The answer may come from inside a JS
     * entry (a parked request's promise settling in a microtask): parsing and
     * running the next request right there would nest a second entry into
     * the isolate inside the first, and the CPU watchdog guards one entry at
     * a time per thread.
     */
    exchange_over(c, !c->in_handler);
}

/* ---- streamed responses ------------------------------------------------------------- */

int ic_http_respond_start(ic_http_exchange_t *x, int status, const char *const *headers, unsigned nheaders, int64_t length,
                          const ic_http_stream_ops_t *ops, void *arg)
{
    struct conn *c = x->c;
    assert(x->active && !x->streaming);
    if (c->closing) {
        exchange_over(c, true);
        return -EPIPE;
    }
    bool no_body = is_head(x) || status == 204 || status == 304 || (status >= 100 && status < 200);
    bool close = !x->req.keep_alive || c->sc->stopping;
    enum framing fr;
    if (length >= 0)
        fr = FRAME_LENGTH;
    else if (no_body)
        fr = FRAME_CLOSE; /* nothing follows the head: it needs no framing, and the connection may go on */
    else if (x->req.minor >= 1)
        fr = FRAME_CHUNKED;
    else {
        fr = FRAME_CLOSE; /* an HTTP/1.0 client learns where the body ends from the close */
        close = true;
    }
    if (close)
        c->close_after_send = true;
    int p = c->sending ^ 1;
    const char *reason = ic_http_reason(status);
    size_t lens[HEAD_LENS];
    if (!reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + head_size(reason, headers, nheaders, lens))) {
        c->oom = true;
        c->close_after_send = true;
        exchange_over(c, true);
        return -ENOMEM;
    }
    char *o = put_head(c, c->out[p] + c->out_len[p], status, reason, headers, nheaders, lens, fr, (uint64_t)length, close);
    c->out_len[p] = (size_t)(o - c->out[p]);
    if (no_body) {
        exchange_over(c, true);
        return IC_HTTP_NO_BODY;
    }
    x->streaming = true;
    x->chunked = fr == FRAME_CHUNKED;
    x->until_close = fr == FRAME_CLOSE;
    x->drain_wanted = false;
    x->remaining = length >= 0 ? (uint64_t)length : 0;
    x->sops = ops;
    x->sarg = arg;
    flush(c);
    return 0;
}

int ic_http_stream_write(ic_http_exchange_t *x, const void *data, size_t len)
{
    struct conn *c = x->c;
    assert(x->streaming);
    if (!x->chunked && !x->until_close) {
        if (len > x->remaining)
            return -EINVAL;
        x->remaining -= len;
    }
    if (len) {
        int p = c->sending ^ 1;
        /* A chunk: its size in hex (16 digits at most), CRLF, the bytes, CRLF. */
        if (!reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + len + 24))
            return -ENOMEM;
        char *o = c->out[p] + c->out_len[p];
        if (x->chunked) {
            char hex[16];
            int n = 0;
            for (size_t v = len; v; v >>= 4)
                hex[n++] = "0123456789abcdef"[v & 15];
            while (n)
                *o++ = hex[--n];
            o = PUT_LIT(o, "\r\n");
        }
        o = put(o, data, len);
        if (x->chunked)
            o = PUT_LIT(o, "\r\n");
        c->out_len[p] = (size_t)(o - c->out[p]);
        flush(c);
    }
    if (c->out_len[c->sending ^ 1] < IC__OUT_HIGH)
        return 1;
    x->drain_wanted = true;
    return 0;
}

void ic_http_stream_end(ic_http_exchange_t *x, bool ok)
{
    struct conn *c = x->c;
    assert(x->streaming);
    if (!x->chunked && !x->until_close && x->remaining)
        ok = false; /* fewer bytes than the head declared */
    if (ok && x->chunked) {
        int p = c->sending ^ 1;
        if (reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + 5)) {
            memcpy(c->out[p] + c->out_len[p], "0\r\n\r\n", 5);
            c->out_len[p] += 5;
        } else {
            ok = false;
        }
    }
    if (!ok || x->until_close)
        c->close_after_send = true; /* what is queued goes out, then the close tells the client where the body ends */
    exchange_over(c, true);
}

/* ---- request bodies that stream ----------------------------------------------------- */

bool ic_http_body_streaming(const ic_http_exchange_t *x)
{
    return x->body_stream;
}

/* The reader hears the last word once: the end, an error, or that the exchange is over without it. */
static void body_stop(struct conn *c, int status)
{
    struct ic_http_exchange *x = &c->x;
    if (!x->body_stream || x->body_done)
        return;
    x->body_done = true;
    ic_http_body_cb cb = x->bcb;
    x->bcb = NULL;
    if (cb)
        cb(x->barg, NULL, 0, status);
}

/*
 * Delivers what is buffered of a streamed body to its reader, piece by
 * piece, until it pauses, the buffer is empty or the body ends. The head
 * stays at the start of `in` (its views are the request's); body bytes sit
 * right after it and are dropped as they are delivered, so the buffer holds
 * at most what the socket brought since.
 */
static void body_feed(struct conn *c)
{
    struct ic_http_exchange *x = &c->x;
    const ic_http_server_config_t *cfg = &c->sc->srv->cfg;
    while (x->body_stream && !x->body_done && x->bcb && !x->body_paused && !c->closing) {
        size_t head = x->consumed;
        char *p = c->in + head;
        size_t avail = c->in_len - head, len, rest = 0;
        bool end = false;
        if (x->req.chunked) {
            /* [head, head + decoded) may hold bytes decoded before the handler ran; the decoder works on the rest. */
            size_t decoded = (size_t)(c->chunk.total - x->body_left), raw = avail - decoded, n = raw;
            ssize_t left = raw ? ic_http_chunked_decode(&c->chunk, p + decoded, &n) : IC_HTTP_INCOMPLETE;
            if (left != IC_HTTP_INCOMPLETE && left < 0)
                return body_stop(c, IC_EHTTP_BAD);
            if (raw == 0)
                n = 0;
            len = decoded + n;
            x->body_left = c->chunk.total; /* here: bytes decoded so far, all delivered once this piece is */
            if (c->chunk.total > cfg->max_stream_body)
                return body_stop(c, -E2BIG);
            if (left != IC_HTTP_INCOMPLETE) {
                end = true;
                rest = (size_t)left; /* the next request's bytes, at the end of the buffer */
            }
            if (len == 0 && !end) {
                c->in_len = head;
                if (c->eof)
                    body_stop(c, -EPIPE);
                return;
            }
            x->bcb(x->barg, p, len, 0);
            if (!x->body_stream || x->body_done || c->closing)
                return; /* the reader answered the exchange (or the connection went) from its callback */
            if (end) {
                memmove(p, c->in + c->in_len - rest, rest);
                c->in_len = head + rest;
                x->body_done = true;
                ic_http_body_cb cb = x->bcb;
                x->bcb = NULL;
                cb(x->barg, NULL, 0, 1);
                return;
            }
            c->in_len = head;
            continue;
        }
        if (avail == 0) {
            if (c->eof)
                body_stop(c, -EPIPE);
            return;
        }
        len = avail < x->body_left ? avail : (size_t)x->body_left;
        x->bcb(x->barg, p, len, 0);
        if (!x->body_stream || x->body_done || c->closing)
            return; /* the reader answered the exchange (or the connection went) from its callback */
        x->body_left -= len;
        memmove(p, p + len, avail - len);
        c->in_len = head + avail - len;
        if (x->body_left == 0) {
            x->body_done = true;
            ic_http_body_cb cb = x->bcb;
            x->bcb = NULL;
            cb(x->barg, NULL, 0, 1);
            return;
        }
    }
}

static void body_task(ic_task_t *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, x.body_task));
    c->x.body_posted = false;
    if (c->closing) {
        maybe_free(c);
        return;
    }
    body_feed(c);
    resume_recv(c);
}

static void body_post(struct conn *c)
{
    if (!c->x.body_posted) {
        c->x.body_posted = true;
        ic_task_post(&c->x.body_task, body_task);
    }
}

void ic_http_body_read(ic_http_exchange_t *x, ic_http_body_cb cb, void *arg)
{
    assert(x->body_stream && !x->bcb);
    x->bcb = cb;
    x->barg = arg;
    body_post(x->c);
}

void ic_http_body_pause(ic_http_exchange_t *x)
{
    x->body_paused = true;
}

void ic_http_body_resume(ic_http_exchange_t *x)
{
    if (!x->body_paused)
        return;
    x->body_paused = false;
    if (x->body_stream && !x->body_done)
        body_post(x->c);
}

/* Expect: 100-continue: the client waits for this before it sends the body. */
static void send_continue(struct conn *c)
{
    if (!c->x.req.expect_continue || c->continue_sent)
        return;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    int p = c->sending ^ 1;
    if (reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + sizeof(cont))) {
        memcpy(c->out[p] + c->out_len[p], cont, sizeof(cont) - 1);
        c->out_len[p] += sizeof(cont) - 1;
        flush(c);
    }
    c->continue_sent = true;
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
    note_method(x);
    send_continue(c);
    c->in_handler = true;
    IC__STAT_INC(c->sc, requests);
    cfg->handler(x, cfg->arg);
    c->in_handler = false;
}

/* ---- requests ---------------------------------------------------------------------- */

/*
 * Parses and dispatches what is buffered, one exchange at a time, until it
 * needs more bytes, an exchange is pending, or backpressure says stop.
 */
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

static void process(struct conn *c)
{
    const ic_http_server_config_t *cfg = &c->sc->srv->cfg;
    while (!c->x.active && !c->closing && !c->close_after_send) {
        if (c->out_len[c->sending ^ 1] >= IC__OUT_HIGH)
            return; /* the client is not reading: stop reading its requests */
        if (c->in_len == 0) {
            if (c->eof) {
                conn_close(c);
                return;
            }
            arm_timer(c, cfg->idle_timeout_ms);
            return;
        }
        ic_http_request_t *req = &c->x.req;
        int r = ic_http_parse_request(c->in, c->in_len, req);
        if (r == IC_HTTP_INCOMPLETE) {
            if (c->in_len > cfg->max_head) {
                respond_error(c, head_limit_status(c->in, c->in_len));
                return;
            }
            if (c->eof)
                conn_close(c);
            return; /* the header timer armed when the head began keeps running */
        }
        if (r < 0) {
            respond_error(c, ic_http_error_status(r));
            return;
        }
        if ((size_t)r > cfg->max_head) {
            respond_error(c, head_limit_status(c->in, (size_t)r));
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
                /* The body goes on: it streams. What was decoded so far is delivered first (body_feed). */
                c->in_len = (size_t)r + c->chunk.total;
                dispatch_streamed(c, (size_t)r, 0);
                continue;
            }
            if (left == IC_HTTP_INCOMPLETE) {
                c->in_len = (size_t)r + c->chunk.total; /* the raw bytes were all consumed */
                if (c->chunk.total > cfg->max_body)
                    respond_error(c, 413);
                else if (c->eof)
                    conn_close(c);
                return;
            }
            if (left < 0 || c->chunk.total > cfg->max_body) {
                respond_error(c, left < 0 ? 400 : 413);
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
                    respond_error(c, 413);
                    return;
                }
                dispatch_streamed(c, (size_t)r, req->content_length);
                continue;
            }
            if (req->content_length > cfg->max_body) {
                respond_error(c, 413);
                return;
            }
            if (c->in_len - (size_t)r < req->content_length) {
                send_continue(c);
                if (c->eof)
                    conn_close(c);
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
        note_method(&c->x);
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
        body_feed(c); /* what is buffered goes out, then the reader hears the body is cut */
    if (c->x.streaming)
        conn_close(c); /* as nginx does: a client that closed its side of a streamed response is gone; the producer stops */
    else if (!c->x.active && !c->send_busy)
        process(c);
}

/* TLS failed (OpenSSL's reason is in the session): its alert, if any, goes out after what is queued, then the close. */
static void tls_fail(struct conn *c)
{
    c->close_after_send = true;
    flush(c);
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
                flush(c);
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
            answer_oom(c);
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
        flush(c); /* what reading wrote (a ticket after the handshake, say) */
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
            answer_oom(c);
        }
        /* The buffer goes straight back to the ring. */
        ic__io_buf_return(sc->io, flags);
        if (!c->closing && go) {
            if (c->x.active && c->x.body_stream)
                body_feed(c);
            else
                process(c);
            /* The head that began with these bytes is not complete: it must be in time. (A whole one was answered above.) */
            if (fresh && !c->x.active && c->in_len > 0 && !c->closing)
                arm_timer(c, sc->srv->cfg.header_timeout_ms);
            if (tls == TLS_EOF && !c->closing)
                peer_eof(c);
        }
    } else if (res == 0) {
        if (c->tls && c->handshaking)
            conn_close(c); /* gone in the middle of the handshake */
        else if (!c->eof)
            peer_eof(c); /* (TLS: a FIN after close_notify says nothing new) */
    } else if (res == -ECANCELED && !c->closing && !ic_reactor_exiting()) {
        /* pause_recv's cancel: resume_recv re-arms once the input drained (not at exit: re-armed, it would never end). */
    } else if (res != -ENOBUFS) {
        conn_close(c); /* reset, or cancelled by conn_close */
    }
    if (c->closing) {
        maybe_free(c);
        return;
    }
    /* Backpressure: a multishot recv keeps delivering until cancelled, so too much unparsed input cancels it. */
    if (c->in_len >= IC__IN_HIGH && !wants_input(c))
        pause_recv(c);
    else
        resume_recv(c);
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
            ic__io_linger0(c->fd, c->fixed); /* before conn_close's close, in the same batch for a direct one */
        conn_close(c);
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
        if (c->x.active || c->send_busy || c->out_len[c->sending ^ 1])
            c->close_after_send = true; /* finish the exchange in progress, then close */
        else if (srv->cfg.drain_ms && c->in_len == 0)
            arm_timer(c, srv->cfg.drain_ms); /* idle: a request already on its way is still answered (with close) */
        else
            conn_close(c);
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
        if (c->x.active || c->send_busy || c->out_len[c->sending ^ 1]) {
            c->close_after_send = true; /* its last response is on its way (a 503 of on_abort, say) */
            ending = true;
            continue;
        }
        conn_close(c);
    }
    if (ending) {
        /* The drain deadline's timer, stopped above: the cut is the drain's end brought forward. */
        ic_timer_init(&sc->drain_deadline, cut_deadline);
        ic_timer_start(&sc->drain_deadline, (uint64_t)IC__CUT_SEND_MS * 1000000, 0);
    }
}
