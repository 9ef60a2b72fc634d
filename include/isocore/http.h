/*
 * isocore/http.h: HTTP/1.1 request parsing (the io/ module).
 *
 * The parser is zero-copy: every string in an ic_http_request_t is a view
 * into the caller's buffer, valid as long as the buffer is. It is
 * re-entrant and keeps no state between calls: give it the whole buffer
 * received so far; it returns IC_HTTP_INCOMPLETE until the head (request
 * line and headers) is complete. Chunked bodies are decoded in place by
 * ic_http_chunked_decode, which does keep state (the buffer is consumed).
 *
 * What it rejects, as nginx does (RFC 9112 in its strict reading): bare LF
 * line ends, obs-fold (header continuation lines), whitespace before a
 * header's colon, control characters in names, values or the target, a
 * Content-Length that is not all digits or overflows, two Content-Length
 * headers, Content-Length with Transfer-Encoding, Transfer-Encoding on
 * HTTP/1.0, HTTP/1.1 without exactly one Host. Any thread.
 */
#ifndef ISOCORE_HTTP_H
#define ISOCORE_HTTP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "isocore/error.h"
#include "isocore/tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* More headers than this in one request → 431. */
#define IC_HTTP_MAX_HEADERS 100

/* Returned while the head is not complete yet. */
#define IC_HTTP_INCOMPLETE (-EAGAIN)

typedef struct ic_str {
    const char *p;
    size_t len;
} ic_str_t;

typedef struct ic_http_header {
    ic_str_t name;  /* as sent (compare case-insensitively) */
    ic_str_t value; /* leading and trailing spaces/tabs removed */
} ic_http_header_t;

typedef struct ic_http_request {
    ic_str_t method;
    ic_str_t target; /* request-target as sent: origin-form, absolute-form, authority-form or '*' */
    ic_str_t host;   /* the Host header's value (empty if none, allowed for HTTP/1.0) */
    int minor;       /* HTTP/1.<minor>: 0 or 1 (1.2-1.9 are served as 1.1) */
    unsigned nheaders;
    ic_http_header_t headers[IC_HTTP_MAX_HEADERS];
    /* Derived from the headers. */
    bool has_length;      /* Content-Length present */
    bool chunked;         /* Transfer-Encoding: chunked */
    bool keep_alive;      /* the connection stays open after this request */
    bool expect_continue; /* Expect: 100-continue */
    uint64_t content_length;
    size_t head_len; /* bytes of request line + headers + the empty line */
} ic_http_request_t;

/**
 * Parses the head of one request at the start of buf. Returns head_len
 * (> 0) when it is complete, IC_HTTP_INCOMPLETE if more bytes are needed, or
 * an error whose HTTP status ic_http_error_status gives: IC_EHTTP_BAD (400),
 * IC_EHTTP_TOO_MANY_HEADERS (431), IC_EHTTP_VERSION (505),
 * IC_EHTTP_ENCODING (501), IC_EHTTP_EXPECTATION (417: an Expect other than
 * 100-continue). A Host that is not host[:port] is IC_EHTTP_BAD. The size limit of a head (431 past 16 KiB) is the
 * caller's: it knows how much it buffered.
 */
int ic_http_parse_request(const char *buf, size_t len, ic_http_request_t *req);

/** The HTTP status for a parser error (400 for any unknown one). This function can't fail. */
int ic_http_error_status(int err);

/* State of an in-place chunked decoder; zero it (or call ic_http_chunked_init) before the first call. */
typedef struct ic_http_chunked {
    uint64_t remaining; /* bytes left in the current chunk's data */
    uint64_t total;     /* decoded bytes so far */
    int state;
    unsigned hex_digits;
} ic_http_chunked_t;

static inline void ic_http_chunked_init(ic_http_chunked_t *d)
{
    d->remaining = 0;
    d->total = 0;
    d->state = 0;
    d->hex_digits = 0;
}

/**
 * Decodes a chunked body in place. buf (of *len bytes) is what arrived since the last
 * call; on return the first *len bytes of buf are the body bytes it held
 * (chunk framing removed). Returns the number of bytes after the end of the
 * body (the last chunk, trailers and final CRLF were consumed) that belong
 * to the next request — they sit at the end of the original buffer, at
 * buf + original_len - returned — or IC_HTTP_INCOMPLETE while the body goes
 * on, or IC_EHTTP_BAD for a malformed chunk (bad size, missing CRLF,
 * chunk size over 2^62). In every case *len says how many body bytes were
 * decoded into buf. Trailers are skipped, not returned.
 */
ssize_t ic_http_chunked_decode(ic_http_chunked_t *d, char *buf, size_t *len);

/* ---- the server ------------------------------------------------------------------ */

typedef struct ic_http_server ic_http_server_t;
typedef struct ic_http_exchange ic_http_exchange_t;

/*
 * Called on the connection's core for each request, in order. The request
 * (and body) stay valid until the exchange is answered with ic_http_respond,
 * which may happen later (after a message to another core came back), but
 * always on the connection's core. Responses go out in request order.
 */
typedef void (*ic_http_handler_cb)(ic_http_exchange_t *x, void *arg);

typedef struct ic_http_server_config {
    const char *host;           /* listen address, default "127.0.0.1" ("0.0.0.0", "::1", "::" work too) */
    unsigned port;              /* 0 = any free port (see ic_http_server_port) */
    size_t max_head;            /* bytes of request line + headers, past it 431 (default 16 KiB) */
    size_t max_body;            /* past it 413 (default 1 MiB) */
    bool stream_bodies;         /* a body not all there when the head is: the handler runs at once and reads it as it
                                   comes (ic_http_body_read); off by default */
    uint64_t max_stream_body;   /* a streamed body past it: 413 up front (Content-Length) or an error mid-way (chunked);
                                   default 4 GiB */
    unsigned header_timeout_ms; /* head not complete in time: 408 and close (default 10 s) */
    unsigned idle_timeout_ms;   /* keep-alive connection with nothing in flight: close (default 60 s) */
    unsigned drain_ms;          /* after stop: an idle keep-alive connection may still bring one request (answered with
                                   Connection: close) for this long before it is closed (default 1 s; 0: close at once) */
    unsigned drain_timeout_ms;  /* after stop: connections still open this long later (a response the client never
                                   reads, say) are cut: reset if output was pending, logged, counted (default 30 s; 0: no
                                   deadline) */
    ic_tls_ctx_t *tls;          /* a server context (ic_tls_server_new): HTTPS on every reactor; NULL: plain HTTP */
    ic_http_handler_cb handler;
    void *arg;
} ic_http_server_config_t;

/** Fills *cfg with the defaults. This function can't fail. */
void ic_http_server_config_init(ic_http_server_config_t *cfg);

/**
 * Creates the listening sockets, one SO_REUSEPORT socket per reactor that
 * will run (ncores), before ic_reactor_start; call from the starting thread.
 * Returns 0 and sets *out, or -errno (-EADDRINUSE, -EACCES, -EINVAL for a bad address).
 */
int ic_http_server_new(const ic_http_server_config_t *cfg, unsigned ncores, ic_http_server_t **out);

/** The port the sockets listen on (useful with port 0). Any thread. */
unsigned ic_http_server_port(const ic_http_server_t *srv);

/** Starts accepting on the current reactor's socket; call in on_start on every reactor. Returns 0 or -errno. */
int ic_http_server_start(ic_http_server_t *srv);

/**
 * Stops accepting on the current reactor (call in on_stop). Exchanges in
 * progress finish and their responses say Connection: close; an idle
 * keep-alive connection is answered once more (with Connection: close) if a
 * request arrives within drain_ms, else closed then. So clients that were
 * mid-conversation move to another process on the same port (SO_REUSEPORT)
 * without a failed request.
 */
void ic_http_server_stop(ic_http_server_t *srv);

/**
 * The exit without draining, on the current reactor (call in on_abort,
 * after the handlers let go of their exchanges): stops accepting if
 * ic_http_server_stop did not, and closes every idle connection now. One
 * with an exchange in progress (its answer on its way, a 503 from a worker
 * on_abort disposed, say) or a response being sent closes once that is
 * out, or is cut (reset) 200 ms later: a handler that has not answered by
 * then has its answer dropped (the connection is freed once it comes), a
 * client that does not read loses the rest of the response.
 */
void ic_http_server_cut(ic_http_server_t *srv);

/* Per-core counters of the server, each written only by its own core. */
typedef struct ic_http_server_stats {
    unsigned long long accepted;      /* connections accepted */
    unsigned long long accept_errors; /* accepts that failed (EMFILE, ENFILE, ENOMEM…) and were retried */
    unsigned long long requests;      /* requests handed to the handler */
    unsigned long long open;          /* connections open now */
    unsigned long long drain_cut;     /* connections cut by the drain deadline (drain_timeout_ms) */
} ic_http_server_stats_t;

/**
 * Reads the counters of one core (0 .. ncores-1) into *out; any thread, any
 * time between ic_http_server_new and ic_http_server_free. Each field is read
 * atomically; the fields together are not a snapshot.
 */
void ic_http_server_stats(const ic_http_server_t *srv, unsigned core, ic_http_server_stats_t *out);

/** Frees the server after ic_reactor_wait returned. */
void ic_http_server_free(ic_http_server_t *srv);

/** The request of an exchange (views into the connection's buffer). */
const ic_http_request_t *ic_http_request(const ic_http_exchange_t *x);

/** The request body (decoded if it was chunked); empty when it streams (see ic_http_body_streaming). */
ic_str_t ic_http_body(const ic_http_exchange_t *x);

/** True when the exchange came over TLS (cfg.tls): a request URL's scheme is then https. */
bool ic_http_exchange_tls(const ic_http_exchange_t *x);

/* ---- request bodies that stream (ic_http_server_config_t.stream_bodies) ---------------- */

/** True when the exchange's body is read as it arrives, with ic_http_body_read. */
bool ic_http_body_streaming(const ic_http_exchange_t *x);

/*
 * Pieces of a streamed body: status 0 with len bytes (valid during the
 * call), then once 1 (the end) or a negative error: IC_EHTTP_BAD (a
 * malformed chunk), -E2BIG (past max_stream_body), -EPIPE (the client went
 * away), -ECANCELED (the exchange was answered before the body ended: the
 * rest is not read and the connection closes after the response). No call
 * follows the last. Called from the reactor loop; the reader may answer the
 * exchange from it (then -ECANCELED comes at once, from inside that answer).
 */
typedef void (*ic_http_body_cb)(void *arg, const char *p, size_t len, int status);

/** Starts delivering the body to cb (what is buffered comes on the next loop turn). Call once, on the exchange's core. */
void ic_http_body_read(ic_http_exchange_t *x, ic_http_body_cb cb, void *arg);

/** Stops the flow until ic_http_body_resume (the socket stops being read once its buffer is full). */
void ic_http_body_pause(ic_http_exchange_t *x);
void ic_http_body_resume(ic_http_exchange_t *x);

/**
 * Answers an exchange: status, extra header lines (each "Name: value", no
 * CRLF; may be NULL/0) and a body. Content-Length, Date and, when the
 * connection is to close, Connection: close are added; a HEAD request's
 * body is not sent. Copies what it needs: the caller's buffers may be
 * freed when it returns. Call once, on the connection's core.
 */
void ic_http_respond(ic_http_exchange_t *x, int status, const char *const *headers, unsigned nheaders, const void *body,
                     size_t len);

/* ---- streamed responses ---------------------------------------------------------- */

/*
 * A response whose body is produced over time: ic_http_respond_start sends
 * the head, ic_http_stream_write each piece of the body as it comes, and
 * ic_http_stream_end finishes the exchange. With a known length the body is
 * sent as is after Content-Length; with length -1 it is sent chunked
 * (HTTP/1.1) or delimited by the connection's close (HTTP/1.0). Pipelined
 * requests behind it wait until it ends. All calls on the connection's
 * core. The ops are called from the reactor loop, never from inside one of
 * these functions.
 */
typedef struct ic_http_stream_ops {
    /* ic_http_stream_write returned 0 earlier and the output has drained since: write again. */
    void (*drain)(void *arg);
    /*
     * The connection went away (the client closed it, a reset, a stopping
     * server cut it) before ic_http_stream_end: write nothing more, do not
     * call end; the exchange is gone.
     */
    void (*abort)(void *arg);
} ic_http_stream_ops_t;

/* ic_http_respond_start's answer when the response has no body to send (HEAD, 204, 304): the exchange is over. */
#define IC_HTTP_NO_BODY 1

/**
 * Sends the head of a streamed response: like ic_http_respond's, with
 * Content-Length: length when length >= 0, else Transfer-Encoding: chunked
 * (or, for an HTTP/1.0 client, no framing and a close at the end). Returns
 * 0 (then write and end, and ops will be called), IC_HTTP_NO_BODY (the
 * exchange is already answered: call neither write nor end, ops are never
 * called), -EPIPE (the client is gone: the exchange is over) or -ENOMEM
 * (a 503 was sent in its place, the exchange is over). ops and arg must
 * stay valid until end, or until abort is called.
 */
int ic_http_respond_start(ic_http_exchange_t *x, int status, const char *const *headers, unsigned nheaders, int64_t length,
                          const ic_http_stream_ops_t *ops, void *arg);

/**
 * Queues len bytes of the body (copied: the caller's buffer is free again
 * when this returns). Returns 1 when more may be written now, 0 when the
 * bytes were queued but the client is behind (wait for drain before the
 * next write), -EINVAL past a declared length, or -ENOMEM (then call
 * ic_http_stream_end(x, false)).
 */
int ic_http_stream_write(ic_http_exchange_t *x, const void *p, size_t len);

/**
 * Ends a streamed response. ok: the terminal chunk goes out after what is
 * queued and the connection goes on with the next request; !ok (the
 * producer failed, or a declared length was not met): what is queued goes
 * out, then the connection closes without a terminal chunk, so the client
 * can tell the body is cut. ops are not called after this.
 */
void ic_http_stream_end(ic_http_exchange_t *x, bool ok);

/* ---- the client (io/http_client.c) ------------------------------------------------ */

/* A response head as parsed (views into the caller's buffer). */
typedef struct ic_http_response {
    int status; /* 100..599 */
    ic_str_t reason;
    int minor; /* HTTP/1.<minor> */
    unsigned nheaders;
    ic_http_header_t headers[IC_HTTP_MAX_HEADERS];
    bool has_length; /* Content-Length present */
    uint64_t content_length;
    bool chunked;    /* Transfer-Encoding: chunked */
    bool keep_alive; /* the connection may carry another request after this response */
    size_t head_len; /* bytes of status line + headers + the empty line */
} ic_http_response_t;

/**
 * Parses the head of one response at the start of buf, with the server
 * parser's strictness: returns head_len (> 0), IC_HTTP_INCOMPLETE, or
 * IC_EHTTP_RESPONSE for a malformed status line or header field (bad bytes,
 * obs-fold, whitespace before the colon), Content-Length with
 * Transfer-Encoding, Content-Lengths that disagree, a Transfer-Encoding
 * whose last coding is not chunked on a response that could have a body
 * (nor one with codings besides chunked, which the client does not decode),
 * Transfer-Encoding on HTTP/1.0, or IC_EHTTP_TOO_MANY_HEADERS. Bare LF line
 * ends are rejected, as in requests. keep_alive is false for a response
 * that could have a body but has no framing (it ends with the connection).
 * The head size limit is the caller's.
 */
int ic_http_parse_response(const char *buf, size_t len, ic_http_response_t *res);

/*
 * One request to an origin server and its response: a call. Calls ride
 * this reactor's connection pool (keep-alive connections per origin:
 * scheme, host, port), reached through ic_dns_resolve and ic_tcp_connect or
 * ic_tcp_connect_tls. A call belongs to the reactor that started it; its
 * ops run from that reactor's loop, never from inside an ic_http_call_*
 * function.
 */
typedef struct ic_http_call ic_http_call_t;

typedef struct ic_http_call_ops {
    /*
     * The final response head (1xx responses are skipped): valid during the
     * call. Body pieces follow (none for HEAD, 204, 304), then end.
     */
    void (*head)(void *arg, const ic_http_response_t *res);
    /* A piece of the response body, decoded from chunked framing when it was chunked; valid during the call. */
    void (*body)(void *arg, const char *p, size_t len);
    /*
     * The last call; the call is freed when it returns. err 0: the response
     * is complete. Otherwise (before or after head): IC_EDNS_NOTFOUND,
     * IC_EDNS, -ECONNREFUSED, -ECONNRESET, -ETIMEDOUT (connect or head
     * timeout), IC_ETLS, IC_ETLS_VERIFY, IC_EHTTP_RESPONSE (a malformed
     * response, a body that lies about its length or ends early: -EPIPE when
     * the connection closed mid-body), -E2BIG (a head over 64 KiB), -ENOMEM,
     * IC_ESHUTDOWN (the reactor began to stop while the call waited for a
     * connection, a lookup or a connect; calls already sending or receiving
     * go on to their end); -ECONNRESET also when the upstream closed the
     * connection before the whole response head came; why is a sentence saying what happened ("certificate verify failed:
     * self-signed certificate", "connection refused by 127.0.0.1:8080"),
     * valid during the call; NULL when err is 0.
     */
    void (*end)(void *arg, int err, const char *why);
    /* The request body may take more after ic_http_call_write returned 0. May be NULL when the body is given whole. */
    void (*drain)(void *arg);
} ic_http_call_ops_t;

typedef struct ic_http_call_config {
    bool tls;                   /* https: TLS with the client's context (ic_http_client_config_t.tls), SNI = host */
    const char *host;           /* a host name or a numeric address (IPv6 without brackets) */
    unsigned port;              /* 1..65535 */
    const char *method;         /* "GET", "POST"… as given (a token) */
    const char *target;         /* origin-form: "/path?query" */
    const char *const *headers; /* "name: value" lines without CRLF; Host is added unless present; Content-Length and
                                   Transfer-Encoding lines are dropped (the call writes them from body_length) */
    unsigned nheaders;
    /*
     * The request body: -1: streamed chunked with ic_http_call_write and
     * ic_http_call_end; >= 0: exactly that many bytes, with write and end
     * (0: no body; end is then implicit). A body given whole is one write
     * then end, straight after start.
     */
    int64_t body_length;
    unsigned connect_timeout_ms; /* DNS + connect + TLS handshake; 0: 10 s */
    unsigned head_timeout_ms;    /* from the request's last byte sent to the response head; 0: none (the caller's own limit) */
} ic_http_call_config_t;

/** Fills *cfg with the defaults (GET /, port 80, no body). This function can't fail. */
void ic_http_call_config_init(ic_http_call_config_t *cfg);

/**
 * Starts a call (copies what it needs from cfg). Returns 0 and sets *out
 * (ops->end will run once), or -EINVAL (bad method, target, header line or
 * port), -ENOMEM, IC_ENOTREACTOR, IC_ESHUTDOWN (the reactor is stopping);
 * then no op runs.
 */
int ic_http_call_start(const ic_http_call_config_t *cfg, const ic_http_call_ops_t *ops, void *arg, ic_http_call_t **out);

/**
 * Queues len bytes of the request body (copied). Returns 1 when more may be
 * written now, 0 when queued but the connection is behind (wait for drain),
 * -EINVAL past body_length or after end, -EPIPE when the call is over (end
 * has run or will run with the reason).
 */
int ic_http_call_write(ic_http_call_t *c, const void *p, size_t len);

/**
 * The request body is complete (the terminal chunk goes out when chunked). Returns 0, -EINVAL when short of
 * body_length, or -EPIPE when the call is over (as for write).
 */
int ic_http_call_end(ic_http_call_t *c);

/** Stops the flow of body pieces until ic_http_call_resume (the socket stops being read once its buffer is full). */
void ic_http_call_pause(ic_http_call_t *c);
void ic_http_call_resume(ic_http_call_t *c);

/** Abandons the call: no op runs after this, the connection is closed (never reused). Only before end ran. */
void ic_http_call_abort(ic_http_call_t *c);

/*
 * The pool, process-wide: set before the reactors start (the defaults
 * apply otherwise). Each reactor has its own pool under these bounds.
 */
typedef struct ic_http_client_config {
    unsigned max_per_origin; /* open connections per origin per core; calls past it wait for one (default 32) */
    unsigned max_per_core;   /* open connections per core (default 512) */
    unsigned idle_ms;        /* an idle pooled connection is closed after this (default 30 s) */
    ic_tls_ctx_t *tls;       /* the client context for https; NULL: one made on first use (verifying, system store) */
} ic_http_client_config_t;

void ic_http_client_config_init(ic_http_client_config_t *cfg);
/** Sets the pool's bounds (copied; tls is borrowed and must outlive the reactors). From the starting thread. */
void ic_http_client_configure(const ic_http_client_config_t *cfg);

/* This reactor's counters. */
typedef struct ic_http_client_stats {
    unsigned long long calls;    /* calls started */
    unsigned long long connects; /* connections opened */
    unsigned long long reuses;   /* calls that got a pooled connection */
    unsigned open, idle;         /* connections now: open in all, idle in the pool */
} ic_http_client_stats_t;

void ic_http_client_stats(ic_http_client_stats_t *out);

/** The reason phrase of a status code ("OK", "Not Found" …; "" if unknown). */
const char *ic_http_reason(int status);

#ifdef __cplusplus
}
#endif
#endif
