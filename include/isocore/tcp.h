/*
 * isocore/tcp.h: TCP connections on the reactors (the io/ module).
 *
 * A listener is one SO_REUSEPORT socket per reactor, created before the
 * reactors start, so that the kernel spreads connections across cores and a
 * connection lives on the core that accepted it. Connections are driven by
 * io_uring: a multishot recv that takes buffers from the reactor's
 * provided-buffer ring, and sends from the connection's own output buffers.
 * An outgoing connection (ic_tcp_connect) behaves the same once connected.
 *
 * Threading contract: every function is called on the reactor thread that
 * owns the connection (or, for listeners, on each reactor in turn), except
 * ic_tcp_listener_new / _port / _free, which the starting thread calls
 * before ic_reactor_start and after ic_reactor_wait.
 *
 * Lifetime: a connection's memory belongs to isocore. on_close runs exactly
 * once, when the socket is closed, no operation of it is in flight and no
 * hold (ic_tcp_hold) is left; the connection is freed when on_close returns.
 * So work that answers a connection later (after a message to another core,
 * say) takes a hold and releases it when done: the handle stays valid, and
 * writes to a connection that closed meanwhile are dropped (-EPIPE).
 *
 * If a call that takes a callback fails, the callback is never called.
 */
#ifndef ISOCORE_TCP_H
#define ISOCORE_TCP_H

#include <stdbool.h>
#include <stddef.h>

#include "isocore/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ic_tcp_conn ic_tcp_conn_t;
typedef struct ic_tcp_listener ic_tcp_listener_t;

/* ---- TLS (io/tls.c: OpenSSL 3 over memory BIOs, driven by the reactor) ----------------- */

/*
 * A TLS context: a server's certificate and key, or a client's trust store
 * and options. Made once on the starting thread and shared read-only by every
 * reactor; each connection gets its own session from it. TLS 1.2 and 1.3
 * only, ALPN "http/1.1". Free it after the last connection using it is gone
 * (after ic_reactor_wait).
 */
typedef struct ic_tls_ctx ic_tls_ctx_t;

/**
 * A server context from PEM files: cert_file holds the certificate chain
 * (leaf first), key_file its private key. Returns 0 and sets *out, or
 * IC_ECONFIG with err naming the file and OpenSSL's reason (unreadable,
 * not PEM, key does not match the certificate), or -ENOMEM.
 */
int ic_tls_server_new(const char *cert_file, const char *key_file, ic_tls_ctx_t **out, char *err, size_t errlen);

/**
 * A client context. verify: the peer's chain is checked against the system
 * store (OpenSSL's default paths, so SSL_CERT_FILE and SSL_CERT_DIR are
 * honoured as OpenSSL's own tools honour them) and its name against the
 * servername given to ic_tcp_connect_tls; !verify checks nothing (tests,
 * explicit opt-out). Returns 0 and sets *out, IC_ECONFIG (err says why) or -ENOMEM.
 */
int ic_tls_client_new(bool verify, ic_tls_ctx_t **out, char *err, size_t errlen);

/** Frees a context (OpenSSL's reference counting keeps it alive for sessions still open). NULL is ignored. */
void ic_tls_free(ic_tls_ctx_t *ctx);

/* What a connection calls; one set, shared by many connections, that outlives them. */
typedef struct ic_tcp_handlers {
    /*
     * The connection is established (accepted, or connected by
     * ic_tcp_connect). Set the user pointer here (ic_tcp_set_data). May be NULL.
     */
    void (*on_open)(ic_tcp_conn_t *c);
    /*
     * Bytes arrived. data holds every byte received and not yet consumed, in
     * order; it is valid only during the call. Returns how many bytes
     * (0..len) were consumed from the front; the rest is offered again, with
     * whatever arrives next appended. Not called while the connection is
     * paused or closing. Required.
     */
    size_t (*on_data)(ic_tcp_conn_t *c, const char *data, size_t len);
    /* The peer will send nothing more (FIN); bytes not consumed stay unconsumed. May be NULL: then the connection closes. */
    void (*on_eof)(ic_tcp_conn_t *c);
    /*
     * The last call for this connection: err is 0 after ic_tcp_close or the
     * peer's FIN, -errno after a reset or a failed connect, IC_ESHUTDOWN when a
     * listener's stop closed it. The connection is freed when this returns. May be NULL.
     */
    void (*on_close)(ic_tcp_conn_t *c, int err);
    /*
     * Everything written so far has been handed to the kernel (a send
     * completed and nothing waits behind it): a producer that stopped
     * because ic_tcp_unsent grew may write again. May be NULL.
     */
    void (*on_drain)(ic_tcp_conn_t *c);
} ic_tcp_handlers_t;

typedef struct ic_tcp_listener_config {
    const char *host;          /* listen address, default "127.0.0.1" ("0.0.0.0", "::1", "::" work too) */
    unsigned port;             /* 0 = any free port (see ic_tcp_listener_port) */
    unsigned backlog;          /* listen(2) backlog per socket (default 4096) */
    unsigned max_input;        /* past this many unconsumed bytes the connection stops reading (default 64 KiB) */
    unsigned idle_ms;          /* close a connection that received nothing for this long (default 0: never) */
    unsigned close_timeout_ms; /* ic_tcp_close waits this long for the output to drain, then resets (default 30 s; 0: for
                                  ever); ic_tcp_connect connections always have 30 s */
    ic_tls_ctx_t *tls;         /* a server context: every connection speaks TLS (on_open after the handshake); NULL: plain TCP */
    ic_tcp_handlers_t on;      /* handlers of every accepted connection */
    void *arg;                 /* ic_tcp_listener_arg() */
} ic_tcp_listener_config_t;

/** Fills *cfg with the defaults. This function can't fail. */
void ic_tcp_listener_config_init(ic_tcp_listener_config_t *cfg);

/**
 * Creates the listening sockets, one per reactor that will run (ncores);
 * call before ic_reactor_start. Returns 0 and sets *out, or -EINVAL (bad
 * address, no on_data), -EADDRINUSE, -EACCES, -ENOMEM.
 */
int ic_tcp_listener_new(const ic_tcp_listener_config_t *cfg, unsigned ncores, ic_tcp_listener_t **out);

/** The port the sockets listen on (useful with port 0). Any thread. */
unsigned ic_tcp_listener_port(const ic_tcp_listener_t *l);

/** The config's arg. Any thread. */
void *ic_tcp_listener_arg(const ic_tcp_listener_t *l);

/** Starts accepting on the current reactor's socket; call in on_start on every reactor. Returns 0 or -errno. */
int ic_tcp_listener_start(ic_tcp_listener_t *l);

/**
 * Stops accepting on the current reactor and closes its connections
 * gracefully (output already written is sent first; on_close gets
 * IC_ESHUTDOWN); call in on_stop. Connections hold the reactor alive until
 * they are closed.
 */
void ic_tcp_listener_stop(ic_tcp_listener_t *l);

/** Frees the listener after ic_reactor_wait returned. */
void ic_tcp_listener_free(ic_tcp_listener_t *l);

/**
 * Opens a connection from the current reactor to host:port (a numeric IPv4
 * or IPv6 address). on->on_open runs once connected, or on->on_close with
 * -errno if the connect fails. *out (may be NULL) gets the handle at once,
 * so the caller can write before the connection is up (bytes are sent once
 * it is). Returns 0, -EINVAL (bad address), -ENOMEM, -errno from socket(2),
 * or IC_ENOTREACTOR.
 */
int ic_tcp_connect(const char *host, unsigned port, const ic_tcp_handlers_t *on, void *data, ic_tcp_conn_t **out);

/**
 * ic_tcp_connect over TLS with a client context: the handshake (SNI and
 * name verification with servername, which may be NULL for none) runs first,
 * on_open once it succeeded; what is written before goes out encrypted after
 * it. A failed handshake closes the connection with IC_ETLS, or
 * IC_ETLS_VERIFY when the peer's certificate was refused; ic_tcp_tls_error
 * then says why. Returns as ic_tcp_connect does.
 */
int ic_tcp_connect_tls(const char *host, unsigned port, ic_tls_ctx_t *ctx, const char *servername, const ic_tcp_handlers_t *on,
                       void *data, ic_tcp_conn_t **out);

/**
 * Why TLS failed on c, for on_close after IC_ETLS / IC_ETLS_VERIFY (for
 * example "certificate verify failed: self-signed certificate in certificate
 * chain"), valid until on_close returns; NULL when TLS did not fail.
 */
const char *ic_tcp_tls_error(const ic_tcp_conn_t *c);

/** True when c speaks TLS. */
bool ic_tcp_is_tls(const ic_tcp_conn_t *c);

/**
 * Queues len bytes to be sent (copied; the caller's buffer is free when it
 * returns). Writes made in one loop turn leave together in one send.
 * Returns 0, -EPIPE if the connection is closing, or -ENOMEM.
 */
int ic_tcp_write(ic_tcp_conn_t *c, const void *data, size_t len);

/**
 * Reserves room for up to len bytes at the end of the output and returns
 * where to write them (NULL: closing, or out of memory); ic_tcp_commit then
 * says how many were written. For building a response in place.
 */
char *ic_tcp_reserve(ic_tcp_conn_t *c, size_t len);
void ic_tcp_commit(ic_tcp_conn_t *c, size_t len);

/** Bytes written but not yet sent. Use it to stop producing output for a slow reader. */
size_t ic_tcp_unsent(const ic_tcp_conn_t *c);

/**
 * Stops calling on_data (input then waits, and reading stops once
 * max_input bytes wait). ic_tcp_resume calls on_data again with what waits
 * (from a task, not from inside ic_tcp_resume). Nested calls do not count:
 * one resume undoes any number of pauses.
 */
void ic_tcp_pause(ic_tcp_conn_t *c);
void ic_tcp_resume(ic_tcp_conn_t *c);

/**
 * Closes the connection once what was written is sent, or at the deadline
 * (the listener's close_timeout_ms; 30 s for ic_tcp_connect) with a reset
 * when the peer does not read it: on_close then gets -ETIMEDOUT. Idempotent.
 */
void ic_tcp_close(ic_tcp_conn_t *c);

/** True once the connection is closing (ic_tcp_close, EOF without on_eof, an error, a stop). */
bool ic_tcp_closing(const ic_tcp_conn_t *c);

/** Keeps the connection's memory (not the socket) alive until the matching ic_tcp_release. */
void ic_tcp_hold(ic_tcp_conn_t *c);
void ic_tcp_release(ic_tcp_conn_t *c);

/** The user pointer (NULL until set). */
void *ic_tcp_data(const ic_tcp_conn_t *c);
void ic_tcp_set_data(ic_tcp_conn_t *c, void *data);

/** The listener that accepted c, or NULL for an ic_tcp_connect connection. */
ic_tcp_listener_t *ic_tcp_listener(const ic_tcp_conn_t *c);

/**
 * The socket (for getsockopt and the like; do not read, write or close it).
 * -1 for an accepted connection whose socket is a direct descriptor of the
 * reactor's io_uring (the default where the kernel supports it): such a
 * socket is not in the process's descriptor table. Connections made with
 * ic_tcp_connect always have one.
 */
int ic_tcp_fd(const ic_tcp_conn_t *c);

#ifdef __cplusplus
}
#endif
#endif
