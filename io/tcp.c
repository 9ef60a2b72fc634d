/*
 * tcp.c: TCP listeners and connections on the reactors (isocore/tcp.h).
 *
 * Input: a multishot recv per connection draws buffers from the reactor's
 * provided-buffer ring. When nothing waits unconsumed, on_data reads the
 * ring buffer in place and only the bytes it leaves are copied into the
 * connection's input buffer; the ring buffer goes back at once. Past
 * max_input unconsumed bytes the recv is cancelled until they drain.
 *
 * Output: writes append to a pending buffer; a task posted by the first
 * write of a loop turn hands it to one send, so a turn's writes leave
 * together. A second buffer takes writes while a send is in flight (an
 * in-flight send owns its buffer until its CQE). Short sends resume where
 * they stopped.
 *
 * TLS (tls.c): a connection with a session keeps its output buffers as
 * plaintext; a flush encrypts at most IC__TLS_CHUNK of it into the session's
 * staged ciphertext and sends that, so that megabytes written at once
 * stream. Received ciphertext is decrypted into the input buffer and
 * offered from there. on_open waits for the handshake, which must complete
 * within IC__TLS_HANDSHAKE_MS (the idle timer measures it); a close sends
 * close_notify after the output.
 *
 * Lifetime: see the header. A connection is freed from a task once it is
 * closing, none of its operations is in flight and no hold is left, so
 * every function up the stack may go on using it until it returns.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fault.h"
#include "io/internal.h"
#include "isocore/tcp.h"

struct lcore;

struct ic_tcp_conn {
    const ic_tcp_handlers_t *on;
    struct lcore *lc; /* NULL for ic_tcp_connect */
    struct ic__io_core *io;
    void *data;
    struct ic_tcp_conn *prev, *next; /* the listener core's list */
    int fd;                          /* -1 once a direct one is closed */
    bool fixed;                      /* fd is a direct descriptor of the reactor's ring (accepted ones; io/internal.h, "sockets") */
    int err;                         /* what on_close will get */
    unsigned ops;                    /* operations in flight: recv, send, cancel, connect */
    unsigned holds;                  /* ic_tcp_hold */
    size_t max_input;                /* stop reading past this many unconsumed bytes */
    unsigned idle_ms;                /* 0: no idle timeout */
    unsigned close_ms;               /* ic_tcp_close's deadline for the output to drain; 0: none */
    uint64_t last_rx;                /* ic_reactor_now() of the last input */
    ic_op_t recv_op, send_op, cancel_op, connect_op;
    bool connecting, recv_armed, recv_pausing, send_busy, eof;
    bool paused, in_data;
    bool close_req; /* ic_tcp_close: close once the output is sent */
    bool closing;   /* the socket is being closed */
    bool flush_posted, resume_posted, free_posted;
    ic_task_t flush_task, resume_task, free_task;
    ic_timer_t idle;

    char *in;
    size_t in_len, in_cap;
    char *out[2];
    size_t out_len[2], out_cap[2];
    int sending; /* the buffer an in-flight send owns; the other one is pending */
    size_t sent;

    /* TLS: the session, the ciphertext in flight, and how much of out[sending] (plaintext then) is encrypted. */
    struct ic__tls *tls;
    bool handshaking;
    const char *ct;
    size_t ct_len, ct_sent, enc;

    struct sockaddr_storage peer; /* ic_tcp_connect's target: the connect op reads it until its CQE */
    socklen_t peer_len;
};

struct lcore {
    ic_tcp_listener_t *l;
    int fd;
    struct ic__acceptor acceptor;
    struct ic_tcp_conn *conns;
    unsigned long long accept_errors;
} __attribute__((aligned(64)));

struct ic_tcp_listener {
    ic_tcp_listener_config_t cfg;
    unsigned n, port;
    struct lcore *cores;
};

/* ---- buffers -------------------------------------------------------------------------- */

/* Ensures *b (capacity *cap) holds need bytes. Returns false on allocation failure. */
static bool reserve(char **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *p = realloc(*b, n);
    if (!p)
        return false;
    *b = p;
    *cap = n;
    return true;
}

/* ---- closing and freeing -------------------------------------------------------------- */

static void arm_recv(ic_tcp_conn_t *c);
static void flush(ic_tcp_conn_t *c);

static void free_task(ic_task_t *t)
{
    ic_tcp_conn_t *c = (ic_tcp_conn_t *)((char *)t - offsetof(ic_tcp_conn_t, free_task));
    ic_timer_stop(&c->idle);
    ic__io_close(c->fd, c->fixed); /* (a direct one was closed by close_now already) */
    c->fd = -1;
    if (c->lc) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->lc->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    if (c->on->on_close)
        c->on->on_close(c, c->err);
    ic__tls_free(c->tls); /* after on_close: ic_tcp_tls_error's text lives in the session */
    free(c->in);
    free(c->out[0]);
    free(c->out[1]);
    free(c);
    ic_reactor_unref();
}

static void maybe_free(ic_tcp_conn_t *c)
{
    if (c->closing && c->ops == 0 && c->holds == 0 && !c->free_posted) {
        c->free_posted = true;
        ic_task_post(&c->free_task, free_task);
    }
}

static void cancel_done(ic_op_t *op, int res, unsigned flags)
{
    ic_tcp_conn_t *c = (ic_tcp_conn_t *)((char *)op - offsetof(ic_tcp_conn_t, cancel_op));
    c->ops--;
    maybe_free(c);
}

static void cancel_recv(ic_tcp_conn_t *c)
{
    c->cancel_op.cb = cancel_done;
    io_uring_prep_cancel(ic_reactor_sqe(&c->cancel_op), &c->recv_op, 0);
    c->ops++;
}

/* Closes the socket side now: in-flight operations end with errors, then the connection is freed. */
static void close_now(ic_tcp_conn_t *c, int err)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_req = true;
    if (c->err == 0)
        c->err = err;
    ic_timer_stop(&c->idle);
    if (c->fixed) {
        /* A direct descriptor: what is in flight on it is cancelled and the slot freed; the peer hears once they let go. */
        c->cancel_op.cb = cancel_done;
        ic__io_close_fixed(c->fd, &c->cancel_op);
        c->ops++;
        c->fd = -1;
        maybe_free(c);
        return;
    }
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR); /* tell the peer now; the fd is closed once the last CQE is in */
    if (c->recv_armed && !c->recv_pausing)
        cancel_recv(c);
    if (c->connecting) {
        c->cancel_op.cb = cancel_done;
        io_uring_prep_cancel(ic_reactor_sqe(&c->cancel_op), &c->connect_op, 0);
        c->ops++;
    }
    maybe_free(c);
}

/* ic_tcp_close waits for the output to go out, but not for ever: a peer that never reads gets a reset at the deadline. */
static void arm_close_deadline(ic_tcp_conn_t *c)
{
    if (!c->close_ms || c->closing)
        return;
    ic_timer_stop(&c->idle);
    ic_timer_start(&c->idle, (uint64_t)c->close_ms * 1000000, 0);
}

void ic_tcp_close(ic_tcp_conn_t *c)
{
    if (c->close_req)
        return;
    c->close_req = true;
    if (c->tls) {
        /* The output, then close_notify, then the close: flush decides. */
        if (!c->send_busy && !c->connecting)
            flush(c);
        arm_close_deadline(c);
        return;
    }
    if (!c->send_busy && c->out_len[c->sending ^ 1] == 0 && !c->connecting) {
        close_now(c, 0);
        return;
    }
    /* Otherwise the last send's completion closes it, or the deadline (idle_fired) does. */
    arm_close_deadline(c);
}

bool ic_tcp_closing(const ic_tcp_conn_t *c)
{
    return c->close_req;
}

void ic_tcp_hold(ic_tcp_conn_t *c)
{
    c->holds++;
}

void ic_tcp_release(ic_tcp_conn_t *c)
{
    if (c->holds == 0)
        return;
    c->holds--;
    maybe_free(c);
}

/* ---- output ----------------------------------------------------------------------------- */

/* After a send: tells a producer waiting on ic_tcp_unsent when nothing is left to send. */
static void drained(ic_tcp_conn_t *c)
{
    if (!c->send_busy && !c->close_req && c->on->on_drain)
        c->on->on_drain(c);
}

/* One send of len bytes from p on send_op (whose callback is set), counted in flight. */
static void send_sqe(ic_tcp_conn_t *c, const char *p, size_t len)
{
    struct io_uring_sqe *sqe = ic_reactor_sqe(&c->send_op);
    io_uring_prep_send(sqe, c->fd, p, ic__fault_send_len(len), MSG_NOSIGNAL);
    ic__io_fixed(sqe, c->fixed);
    c->ops++;
}

static void send_done(ic_op_t *op, int res, unsigned flags)
{
    ic_tcp_conn_t *c = (ic_tcp_conn_t *)((char *)op - offsetof(ic_tcp_conn_t, send_op));
    int s = c->sending;
    c->ops--;
    if (res < 0 || c->closing) {
        c->send_busy = false;
        close_now(c, res < 0 ? res : 0);
        maybe_free(c);
        return;
    }
    if (c->tls) {
        c->ct_sent += (size_t)res;
        if (c->ct_sent < c->ct_len) {
            send_sqe(c, c->ct + c->ct_sent, c->ct_len - c->ct_sent);
            return;
        }
        ic__tls_sent(c->tls);
        c->send_busy = false;
        flush(c);
        drained(c);
        return;
    }
    c->sent += (size_t)res;
    if (c->sent < c->out_len[s]) {
        /* A short send: the rest goes out from where it stopped. */
        send_sqe(c, c->out[s] + c->sent, c->out_len[s] - c->sent);
        return;
    }
    c->out_len[s] = 0;
    c->send_busy = false;
    flush(c);
    drained(c);
}

/* A failed session: what it staged (an alert) goes out, then the connection closes with err. */
static void tls_failed(ic_tcp_conn_t *c, int err)
{
    if (c->err == 0)
        c->err = err;
    c->close_req = true;
    flush(c);
}

/*
 * TLS's flush: encrypts plaintext (what the send in progress had left of
 * out[sending], then the pending buffer) until IC__TLS_CHUNK of ciphertext
 * is staged, adds close_notify once everything is out and a close waits,
 * and sends what is staged.
 */
static void tls_flush(ic_tcp_conn_t *c)
{
    struct ic__tls *t = c->tls;
    if (!c->handshaking && !ic__tls_failed(t)) {
        while (ic__tls_staged(t) < IC__TLS_CHUNK) {
            int s = c->sending;
            if (c->enc == c->out_len[s]) {
                c->out_len[s] = 0;
                c->enc = 0;
                if (c->out_len[s ^ 1] == 0)
                    break;
                c->sending = s ^= 1;
            }
            size_t n = c->out_len[s] - c->enc;
            if (n > IC__TLS_CHUNK)
                n = IC__TLS_CHUNK;
            long r = ic__tls_write(t, c->out[s] + c->enc, n);
            if (r < 0)
                return tls_failed(c, (int)r);
            c->enc += n;
        }
        if (c->close_req && c->out_len[0] == 0 && c->out_len[1] == 0)
            ic__tls_shutdown(t);
    }
    if (ic__tls_staged(t) == 0) {
        bool idle = ic__tls_failed(t) || (!c->handshaking && c->out_len[0] == 0 && c->out_len[1] == 0) ||
                    (c->handshaking && c->out_len[c->sending ^ 1] == 0);
        if (c->close_req && idle)
            close_now(c, 0);
        return;
    }
    c->ct = ic__tls_take(t, &c->ct_len);
    c->ct_sent = 0;
    c->send_busy = true;
    c->send_op.cb = send_done;
    send_sqe(c, c->ct, c->ct_len);
}

/* Hands the pending buffer to one send; closes a connection whose close waited for its output. */
static void flush(ic_tcp_conn_t *c)
{
    if (c->send_busy || c->closing || c->connecting)
        return;
    if (c->tls)
        return tls_flush(c);
    int p = c->sending ^ 1;
    if (c->out_len[p] == 0) {
        if (c->close_req)
            close_now(c, 0);
        return;
    }
    c->sending = p;
    c->sent = 0;
    c->send_busy = true;
    c->send_op.cb = send_done;
    send_sqe(c, c->out[p], c->out_len[p]);
}

static void flush_task(ic_task_t *t)
{
    ic_tcp_conn_t *c = (ic_tcp_conn_t *)((char *)t - offsetof(ic_tcp_conn_t, flush_task));
    c->flush_posted = false;
    c->ops--;
    flush(c);
    maybe_free(c);
}

static void post_flush(ic_tcp_conn_t *c)
{
    if (!c->flush_posted && !c->send_busy) {
        c->flush_posted = true;
        c->ops++; /* the posted task uses the connection: it must not be freed before it runs */
        ic_task_post(&c->flush_task, flush_task);
    }
}

char *ic_tcp_reserve(ic_tcp_conn_t *c, size_t len)
{
    if (c->close_req)
        return NULL;
    int p = c->sending ^ 1;
    if (!reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + len))
        return NULL;
    return c->out[p] + c->out_len[p];
}

void ic_tcp_commit(ic_tcp_conn_t *c, size_t len)
{
    int p = c->sending ^ 1;
    c->out_len[p] += len;
    if (len)
        post_flush(c);
}

int ic_tcp_write(ic_tcp_conn_t *c, const void *data, size_t len)
{
    if (c->close_req)
        return -EPIPE;
    char *o = ic_tcp_reserve(c, len);
    if (!o)
        return -ENOMEM;
    memcpy(o, data, len);
    ic_tcp_commit(c, len);
    return 0;
}

size_t ic_tcp_unsent(const ic_tcp_conn_t *c)
{
    if (c->tls) /* plaintext not encrypted yet, and ciphertext not sent yet (records add a little) */
        return c->out_len[0] + c->out_len[1] - c->enc + ic__tls_staged(c->tls) + (c->send_busy ? c->ct_len - c->ct_sent : 0);
    return c->out_len[0] + c->out_len[1] - (c->send_busy ? c->sent : 0);
}

/* ---- input ------------------------------------------------------------------------------ */

static bool can_deliver(const ic_tcp_conn_t *c)
{
    return !c->paused && !c->close_req && !c->in_data;
}

/* Offers what waits in the input buffer to on_data and drops what it consumed. */
static void deliver_buffered(ic_tcp_conn_t *c)
{
    if (c->in_len == 0 || !can_deliver(c))
        return;
    c->in_data = true;
    size_t n = c->on->on_data(c, c->in, c->in_len);
    c->in_data = false;
    if (n > c->in_len)
        n = c->in_len;
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* New bytes from a ring buffer: in place if nothing waits before them, else appended. */
static bool deliver(ic_tcp_conn_t *c, const char *data, size_t len)
{
    if (c->in_len == 0 && can_deliver(c)) {
        c->in_data = true;
        size_t n = c->on->on_data(c, data, len);
        c->in_data = false;
        if (n >= len)
            return true;
        data += n;
        len -= n;
        if (c->close_req)
            return true; /* nobody will read the rest */
    }
    if (!reserve(&c->in, &c->in_cap, c->in_len + len))
        return false;
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
    if (c->in_len != len)
        deliver_buffered(c);
    return true;
}

/* After input changed: stop reading past max_input, read again below it. */
static void regulate(ic_tcp_conn_t *c)
{
    if (c->closing || c->eof)
        return;
    if (c->in_len >= c->max_input) {
        if (c->recv_armed && !c->recv_pausing) {
            c->recv_pausing = true;
            cancel_recv(c);
        }
    } else if (!c->recv_armed) {
        arm_recv(c);
    }
}

static void on_eof(ic_tcp_conn_t *c)
{
    if (c->on->on_eof)
        c->on->on_eof(c);
    else
        ic_tcp_close(c);
}

static void handshake_done(ic_tcp_conn_t *c);

/*
 * Received ciphertext: advances the handshake, then decrypts all of it into
 * the input buffer and offers that. False when memory ran out.
 */
static bool tls_input(ic_tcp_conn_t *c, const char *data, size_t len)
{
    struct ic__tls *t = c->tls;
    if (c->eof || ic__tls_failed(t))
        return true; /* after close_notify, or a failure: nothing more is read */
    ic__tls_feed(t, data, len);
    if (c->handshaking) {
        int r = ic__tls_handshake(t);
        if (r < 0) {
            tls_failed(c, r);
            return true;
        }
        if (r == 0) {
            flush(c); /* the next flight of the handshake */
            return true;
        }
        handshake_done(c);
        if (c->close_req)
            return true;
    }
    bool eof = false;
    for (;;) {
        if (!reserve(&c->in, &c->in_cap, c->in_len + 4096))
            return false;
        long n = ic__tls_read(t, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n == IC__TLS_EOF)
            eof = true;
        else if (n < 0) {
            tls_failed(c, (int)n);
            return true;
        }
        break;
    }
    deliver_buffered(c);
    if (ic__tls_staged(t))
        flush(c); /* what reading wrote (a key update's answer, say) */
    if (eof && !c->eof) {
        c->eof = true;
        if (!c->close_req)
            on_eof(c);
    }
    return true;
}

static void recv_done(ic_op_t *op, int res, unsigned flags)
{
    ic_tcp_conn_t *c = (ic_tcp_conn_t *)((char *)op - offsetof(ic_tcp_conn_t, recv_op));
    if (!(flags & IORING_CQE_F_MORE)) {
        c->recv_armed = false;
        c->recv_pausing = false;
        c->ops--;
    }
    if (res > 0) {
        c->last_rx = ic_reactor_now();
        const char *buf = ic__io_buf(c->io, flags);
        bool ok = c->closing || (c->tls ? tls_input(c, buf, (size_t)res) : deliver(c, buf, (size_t)res));
        ic__io_buf_return(c->io, flags); /* the buffer goes straight back to the ring */
        if (!ok)
            close_now(c, -ENOMEM);
    } else if (res == 0) {
        bool was = c->eof; /* (TLS: after close_notify, the FIN says nothing new) */
        c->eof = true;
        if (c->tls && c->handshaking && !c->close_req)
            tls_failed(c, IC_ETLS); /* the peer went away in the middle of the handshake */
        else if (!was && !c->close_req)
            on_eof(c);
    } else if (res == -ECANCELED && !c->closing && !ic_reactor_exiting()) {
        /* regulate's cancel: it re-arms once the input drained (not at exit: re-armed, it would never end). */
    } else if (res != -ENOBUFS) {
        close_now(c, res); /* a reset, or cancelled by close_now */
    }
    if (c->closing) {
        maybe_free(c);
        return;
    }
    regulate(c);
}

static void arm_recv(ic_tcp_conn_t *c)
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
    sqe->buf_group = c->io->bgid;
}

void ic_tcp_pause(ic_tcp_conn_t *c)
{
    c->paused = true;
}

static void resume_task(ic_task_t *t)
{
    ic_tcp_conn_t *c = (ic_tcp_conn_t *)((char *)t - offsetof(ic_tcp_conn_t, resume_task));
    c->resume_posted = false;
    c->ops--;
    if (!c->closing) {
        deliver_buffered(c);
        regulate(c);
    }
    maybe_free(c);
}

void ic_tcp_resume(ic_tcp_conn_t *c)
{
    c->paused = false;
    if (!c->resume_posted && !c->closing) {
        c->resume_posted = true;
        c->ops++;
        ic_task_post(&c->resume_task, resume_task);
    }
}

/* ---- the idle timer ----------------------------------------------------------------------- */

/* One timer per connection, re-armed only when it fires: input just records its time. */
static void idle_fired(ic_timer_t *t)
{
    ic_tcp_conn_t *c = (ic_tcp_conn_t *)((char *)t - offsetof(ic_tcp_conn_t, idle));
    if (c->close_req && !c->closing && c->close_ms) {
        /* ic_tcp_close's deadline: what is still unsent is dropped, and the peer told so with a reset. */
        ic__io_linger0(c->fd, c->fixed); /* before close_now's close, in the same batch for a direct one */
        close_now(c, -ETIMEDOUT);
        return;
    }
    if (c->tls && (c->handshaking || c->connecting)) {
        close_now(c, -ETIMEDOUT); /* the handshake (or a TLS client's connect) took too long */
        return;
    }
    uint64_t limit = (uint64_t)c->idle_ms * 1000000, quiet = ic_reactor_now() - c->last_rx;
    if (quiet >= limit)
        close_now(c, -ETIMEDOUT);
    else
        ic_timer_start(&c->idle, limit - quiet, 0);
}

/* ---- connections ---------------------------------------------------------------------------- */

static ic_tcp_conn_t *conn_new(int fd, const ic_tcp_handlers_t *on, struct ic__io_core *io)
{
    ic_tcp_conn_t *c = ic__fault(IC__FAULT_ALLOC) ? NULL : calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->on = on;
    c->io = io;
    c->sending = 1; /* so that buffer 0 is the first pending one */
    c->max_input = 64 * 1024;
    c->last_rx = ic_reactor_now();
    ic_timer_init(&c->idle, idle_fired);
    /* A connection keeps a stopping reactor alive until it is freed. */
    ic_reactor_ref();
    return c;
}

/* The handshake completed: the idle timer goes back to measuring silence, and the user hears of the connection. */
static void handshake_done(ic_tcp_conn_t *c)
{
    c->handshaking = false;
    ic_timer_stop(&c->idle);
    c->last_rx = ic_reactor_now();
    if (c->idle_ms)
        ic_timer_start(&c->idle, (uint64_t)c->idle_ms * 1000000, 0);
    if (c->on->on_open)
        c->on->on_open(c);
    if (!c->closing)
        flush(c); /* what was written before, and what on_open wrote */
}

static void established(ic_tcp_conn_t *c)
{
    int one = 1;
    if (!c->lc) /* an accepted socket has it from its listener (ic__io_listen) */
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (c->tls) {
        /* The handshake first: on_open once it completed. A client speaks first (its hello). */
        c->handshaking = true;
        if (!ic_timer_active(&c->idle))
            ic_timer_start(&c->idle, (uint64_t)IC__TLS_HANDSHAKE_MS * 1000000, 0);
        arm_recv(c);
        if (!c->lc) {
            int r = ic__tls_handshake(c->tls);
            if (r < 0)
                return tls_failed(c, r);
        }
        flush(c);
        return;
    }
    if (c->idle_ms)
        ic_timer_start(&c->idle, (uint64_t)c->idle_ms * 1000000, 0);
    if (c->on->on_open)
        c->on->on_open(c);
    if (c->closing)
        return;
    arm_recv(c);
    flush(c);
}

/* False when there is no memory for the connection: the acceptor keeps fd and offers it again later. */
static bool on_fd(struct ic__acceptor *a, int fd, bool fixed)
{
    struct lcore *lc = (struct lcore *)((char *)a - offsetof(struct lcore, acceptor));
    const ic_tcp_listener_config_t *cfg = &lc->l->cfg;
    int err = 0;
    struct ic__io_core *io = ic__io_core(&err);
    struct ic__tls *t = io && cfg->tls ? ic__tls_new(cfg->tls, NULL) : NULL;
    if (!io || (cfg->tls && !t))
        return false;
    ic_tcp_conn_t *c = conn_new(fd, &cfg->on, io);
    if (!c) {
        ic__tls_free(t);
        return false;
    }
    c->fixed = fixed;
    c->tls = t;
    c->lc = lc;
    c->max_input = cfg->max_input;
    c->idle_ms = cfg->idle_ms;
    c->close_ms = cfg->close_timeout_ms;
    c->next = lc->conns;
    if (lc->conns)
        lc->conns->prev = c;
    lc->conns = c;
    established(c);
    return true;
}

static void connect_done(ic_op_t *op, int res, unsigned flags)
{
    ic_tcp_conn_t *c = (ic_tcp_conn_t *)((char *)op - offsetof(ic_tcp_conn_t, connect_op));
    c->ops--;
    c->connecting = false;
    if (res < 0 || c->closing) {
        close_now(c, res < 0 ? res : 0); /* no effect if it was closed while connecting */
        maybe_free(c);
        return;
    }
    established(c);
    maybe_free(c);
}

static int connect_to(const char *host, unsigned port, ic_tls_ctx_t *ctx, const char *servername, const ic_tcp_handlers_t *on,
                      void *data, ic_tcp_conn_t **out)
{
    if (!on || !on->on_data || !host || (ctx && ic__tls_ctx_server(ctx)))
        return -EINVAL;
    int err = 0;
    struct ic__io_core *io = ic__io_core(&err);
    if (!io)
        return err;
    struct sockaddr_storage ss;
    socklen_t sl;
    if (ic__io_sockaddr(host, port, &ss, &sl) < 0 || port == 0)
        return -EINVAL;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct ic__tls *t = ctx ? ic__tls_new(ctx, servername) : NULL;
    ic_tcp_conn_t *c = !ctx || t ? conn_new(fd, on, io) : NULL;
    if (!c) {
        ic__tls_free(t);
        close(fd);
        return -ENOMEM;
    }
    c->tls = t;
    if (t)
        ic_timer_start(&c->idle, (uint64_t)IC__TLS_HANDSHAKE_MS * 1000000, 0); /* connect and handshake, together */
    c->data = data;
    c->max_input = 1024 * 1024;
    c->close_ms = 30000;
    c->peer = ss;
    c->peer_len = sl;
    c->connecting = true;
    c->connect_op.cb = connect_done;
    io_uring_prep_connect(ic_reactor_sqe(&c->connect_op), fd, (struct sockaddr *)&c->peer, c->peer_len);
    c->ops++;
    if (out)
        *out = c;
    return 0;
}

int ic_tcp_connect(const char *host, unsigned port, const ic_tcp_handlers_t *on, void *data, ic_tcp_conn_t **out)
{
    return connect_to(host, port, NULL, NULL, on, data, out);
}

int ic_tcp_connect_tls(const char *host, unsigned port, ic_tls_ctx_t *ctx, const char *servername, const ic_tcp_handlers_t *on,
                       void *data, ic_tcp_conn_t **out)
{
    if (!ctx)
        return -EINVAL;
    return connect_to(host, port, ctx, servername, on, data, out);
}

const char *ic_tcp_tls_error(const ic_tcp_conn_t *c)
{
    return c->tls ? ic__tls_error(c->tls) : NULL;
}

bool ic_tcp_is_tls(const ic_tcp_conn_t *c)
{
    return c->tls != NULL;
}

void *ic_tcp_data(const ic_tcp_conn_t *c)
{
    return c->data;
}

void ic_tcp_set_data(ic_tcp_conn_t *c, void *data)
{
    c->data = data;
}

ic_tcp_listener_t *ic_tcp_listener(const ic_tcp_conn_t *c)
{
    return c->lc ? c->lc->l : NULL;
}

int ic_tcp_fd(const ic_tcp_conn_t *c)
{
    return c->fixed ? -1 : c->fd;
}

/* ---- listeners ----------------------------------------------------------------------------- */

void ic_tcp_listener_config_init(ic_tcp_listener_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->backlog = 4096;
    cfg->max_input = 64 * 1024;
    cfg->close_timeout_ms = 30000;
}

int ic_tcp_listener_new(const ic_tcp_listener_config_t *cfg, unsigned ncores, ic_tcp_listener_t **out)
{
    if (!cfg || !cfg->on.on_data || ncores == 0 || ncores > IC_MAX_CORES || cfg->port > 65535 ||
        (cfg->tls && !ic__tls_ctx_server(cfg->tls)))
        return -EINVAL;
    ic_tcp_listener_t *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->cfg = *cfg;
    if (!l->cfg.host)
        l->cfg.host = "127.0.0.1";
    if (l->cfg.max_input == 0)
        l->cfg.max_input = 64 * 1024;
    l->n = ncores;
    l->port = cfg->port;
    l->cores = ic__alloc_lines(sizeof(*l->cores) * ncores);
    if (!l->cores) {
        free(l);
        return -ENOMEM;
    }
    memset(l->cores, 0, sizeof(*l->cores) * ncores);
    for (unsigned i = 0; i < ncores; i++)
        l->cores[i].fd = -1;
    for (unsigned i = 0; i < ncores; i++) {
        l->cores[i].l = l;
        int ret = ic__io_listen(l->cfg.host, l->port, l->cfg.backlog, &l->cores[i].fd);
        if (ret < 0) {
            ic_tcp_listener_free(l);
            return ret;
        }
        if (l->port == 0)
            l->port = ic__io_port(l->cores[i].fd); /* the first socket picked a free port; the others join it */
    }
    *out = l;
    return 0;
}

unsigned ic_tcp_listener_port(const ic_tcp_listener_t *l)
{
    return l->port;
}

void *ic_tcp_listener_arg(const ic_tcp_listener_t *l)
{
    return l->cfg.arg;
}

static struct lcore *lcore_of(ic_tcp_listener_t *l)
{
    int id = ic_reactor_id();
    return id >= 0 && (unsigned)id < l->n ? &l->cores[id] : NULL;
}

int ic_tcp_listener_start(ic_tcp_listener_t *l)
{
    struct lcore *lc = lcore_of(l);
    if (!lc)
        return ic_reactor_id() < 0 ? IC_ENOTREACTOR : -EINVAL;
    int err = 0;
    if (!ic__io_core(&err))
        return err;
    ic__acceptor_init(&lc->acceptor, lc->fd, on_fd);
    lc->acceptor.errors = &lc->accept_errors;
    ic__acceptor_start(&lc->acceptor);
    return 0;
}

void ic_tcp_listener_stop(ic_tcp_listener_t *l)
{
    struct lcore *lc = lcore_of(l);
    if (!lc || lc->acceptor.on_fd == NULL)
        return;
    ic__acceptor_stop(&lc->acceptor);
    for (ic_tcp_conn_t *c = lc->conns; c; c = c->next) {
        if (c->close_req)
            continue; /* already closing on its own */
        c->err = IC_ESHUTDOWN;
        ic_tcp_close(c);
    }
}

void ic_tcp_listener_free(ic_tcp_listener_t *l)
{
    if (!l)
        return;
    for (unsigned i = 0; i < l->n; i++)
        if (l->cores[i].fd >= 0)
            close(l->cores[i].fd);
    free(l->cores);
    free(l);
}
