/*
 * server_int.h: what the files of the HTTP/1.1 server share: the
 * connection, the per-core state and the server, and the functions one file
 * calls in another. server.c (connections: accept, recv, parse, dispatch,
 * timers, drain) is where the design is described; server_respond.c writes
 * and sends responses and keeps pipelined answers in order; server_body.c
 * hands a request body that streams in to its reader.
 *
 * Everything here runs on the reactor that owns the connection.
 */
#ifndef ISOCORE_IO_SERVER_INT_H
#define ISOCORE_IO_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

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
        bool head_method; /* a HEAD request (see ic__server_is_head) */
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

/* ---- server.c: connections ---------------------------------------------------------- */

/* Closes the connection (once): the streamed body's reader and a streamed response's producer are told; freed later. */
void ic__server_conn_close(struct conn *c);

/* Frees the connection from a task once it is closing and nothing holds it. */
void ic__server_maybe_free(struct conn *c);

/* Re-arms the multishot recv if it is off and the input backlog allows. */
void ic__server_resume_recv(struct conn *c);

/* Parses and dispatches what is buffered, one exchange at a time. */
void ic__server_process(struct conn *c);

/* ic__server_reserve()'s slow path. Returns false on allocation failure. */
bool ic__server_grow(char **b, size_t *cap, size_t need);

/* Ensures buffer *b (capacity *cap) can hold need bytes. Returns false on allocation failure. */
static inline bool ic__server_reserve(char **b, size_t *cap, size_t need)
{
    return need <= *cap || ic__server_grow(b, cap, need);
}

/* ---- server_respond.c: responses ---------------------------------------------------- */

/* Starts sending what is pending (or the static 503, TLS output, or the close) unless a send is in flight. */
void ic__server_flush(struct conn *c);

/* Memory ran out: the static 503 goes out after what is queued, then the connection closes. */
void ic__server_answer_oom(struct conn *c);

/* An error before (or instead of) the handler: the status, a one-line body, and the connection closes. */
void ic__server_respond_error(struct conn *c, int status);

/* ---- server_body.c: request bodies that stream -------------------------------------- */

/* Tells a streamed body's reader the last word (status), once. */
void ic__server_body_stop(struct conn *c, int status);

/* Delivers what is buffered of a streamed body to its reader. */
void ic__server_body_feed(struct conn *c);

/* Expect: 100-continue: queues the 100 (once per exchange). */
void ic__server_send_continue(struct conn *c);

/* ---- the method of the exchange -------------------------------------------------------- */

/*
 * Read from the view while it is sure to be valid (as the request is
 * dispatched): later the input buffer may have grown (moved) under the
 * views, with pipelined bytes or a body that streams in, so the answer
 * never reads them.
 */
static inline bool ic__server_is_head(const ic_http_exchange_t *x)
{
    return x->head_method;
}

static inline void ic__server_note_method(struct ic_http_exchange *x)
{
    x->head_method = x->req.method.len == 4 && memcmp(x->req.method.p, "HEAD", 4) == 0;
}

#endif
