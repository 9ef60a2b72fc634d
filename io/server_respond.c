/*
 * server_respond.c: the responses of the HTTP/1.1 server (server.c).
 *
 * Writes response heads and bodies into the connection's pending buffer,
 * and sends: one send in flight owns its buffer until its CQE, new
 * responses go to the other buffer, a short send goes on where it stopped,
 * and TLS encrypts the next piece of what it sends. A streamed response
 * (ic_http_respond_start) frames its body by Content-Length, chunked, or
 * the close. An exchange whose answer is queued lets the next pipelined
 * request be parsed (exchange_over), which is what keeps responses in
 * request order. Out of memory, the static 503 goes out instead.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/fault.h"
#include "io/server_int.h"

static void send_done(ic_op_t *op, int res, unsigned flags);

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
            ic__server_conn_close(c);
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

void ic__server_flush(struct conn *c)
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
                ic__server_conn_close(c);
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
void ic__server_answer_oom(struct conn *c)
{
    c->oom = true;
    c->close_after_send = true;
    ic__server_flush(c);
}

static void send_done(ic_op_t *op, int res, unsigned flags)
{
    struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, send_op));
    int s = c->sending;
    c->ops--;
    if (res < 0 || c->closing) {
        c->send_busy = false;
        ic__server_conn_close(c);
        ic__server_maybe_free(c);
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
    ic__server_flush(c);
    if (c->x.streaming && c->x.drain_wanted && c->out_len[c->sending ^ 1] < IC__OUT_HIGH) {
        /* The producer of a streamed response waited for the client: what it queued is on its way now. */
        c->x.drain_wanted = false;
        c->x.sops->drain(c->x.sarg);
        return;
    }
    if (!c->closing && !c->send_busy) {
        ic__server_process(c); /* resumes if backpressure had paused parsing */
        ic__server_resume_recv(c);
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
    if (!ic__server_reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + need))
        return false;
    char *o = put_head(c, c->out[p] + c->out_len[p], status, reason, headers, nh, lens, FRAME_LENGTH, len, close);
    if (!head_only && len)
        o = put(o, body, len);
    c->out_len[p] = (size_t)(o - c->out[p]);
    return true;
}

/* An error before (or instead of) the handler: the status, a one-line body, and the connection closes. */
void ic__server_respond_error(struct conn *c, int status)
{
    char body[64];
    size_t n = strlen(ic_http_reason(status));
    memcpy(body, ic_http_reason(status), n);
    body[n++] = '\n';
    c->close_after_send = true;
    c->in_len = 0;
    if (!append_response(c, status, NULL, 0, body, n, false, true)) {
        ic__server_answer_oom(c);
        return;
    }
    ic__server_flush(c);
}

/* The next request after a streamed response, parsed outside the producer's call (see exchange_over). */
static void process_task(ic_task_t *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, process_task));
    c->process_posted = false;
    if (c->closing) {
        ic__server_maybe_free(c);
        return;
    }
    ic__server_process(c);
    ic__server_resume_recv(c);
}

/* The exchange's answer is queued: its request's bytes are done with; the next request may be parsed. */
static void exchange_over(struct conn *c, bool defer)
{
    struct ic_http_exchange *x = &c->x;
    if (x->body_stream && !x->body_done) {
        /* Answered before its body ended: the rest is not read; the connection closes after the response. */
        c->close_after_send = true;
        ic__server_body_stop(c, -ECANCELED);
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
        ic__server_maybe_free(c);
        return;
    }
    ic__server_flush(c);
    if (defer) {
        /* From a producer's call: the next request is parsed from a task, so that no handler runs inside its caller. */
        if (!c->process_posted) {
            c->process_posted = true;
            ic_task_post(&c->process_task, process_task);
        }
    } else if (!c->in_handler) {
        ic__server_process(c); /* answered later: go on with pipelined requests */
    }
    ic__server_resume_recv(c);
}

void ic_http_respond(ic_http_exchange_t *x, int status, const char *const *headers, unsigned nheaders, const void *body, size_t len)
{
    struct conn *c = x->c;
    assert(x->active && !x->streaming);
    bool close = !x->req.keep_alive || c->sc->stopping;
    if (close)
        c->close_after_send = true;
    if (!c->closing && !append_response(c, status, headers, nheaders, body, len, ic__server_is_head(x), close)) {
        c->oom = true; /* ic__server_flush() sends the static 503 in its place */
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
    bool no_body = ic__server_is_head(x) || status == 204 || status == 304 || (status >= 100 && status < 200);
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
    if (!ic__server_reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + head_size(reason, headers, nheaders, lens))) {
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
    ic__server_flush(c);
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
        if (!ic__server_reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + len + 24))
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
        ic__server_flush(c);
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
        if (ic__server_reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + 5)) {
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
