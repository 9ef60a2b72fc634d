/*
 * internal.h: what the files of io/ share: socket helpers, the reactor's
 * provided-buffer ring and the multishot acceptor used by both the TCP
 * listener and the HTTP server.
 */
#ifndef ISOCORE_IO_INTERNAL_H
#define ISOCORE_IO_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/internal.h"

#define IC__IO_BUF_COUNT 1024 /* provided buffers per reactor */
#define IC__IO_BUF_SIZE 4096  /* bytes per provided buffer */

#define IC__IO_DIRECT_MAX 65536 /* direct descriptors per reactor at most (RLIMIT_NOFILE caps it too) */

/*
 * One per reactor, made on first use: the provided-buffer ring every
 * multishot recv of the reactor draws from, and whether accepted sockets are
 * direct descriptors (see "sockets" below).
 */
struct ic__io_core {
    struct io_uring_buf_ring *br;
    char *bufs;
    unsigned short bgid;
    bool direct;         /* the ring has a table of direct descriptors: accepts install into it */
    unsigned nfiles;     /* its size */
    unsigned files_used; /* slots taken (accepted and not closed yet) */
};

/** The current reactor's io state, registered on first use. Returns NULL (and sets *err) if that failed. */
struct ic__io_core *ic__io_core(int *err);

/** The buffer a recv CQE selected (its flags carry the buffer id). */
static inline char *ic__io_buf(struct ic__io_core *io, unsigned flags)
{
    return io->bufs + (size_t)(flags >> IORING_CQE_BUFFER_SHIFT) * IC__IO_BUF_SIZE;
}

/** Hands the buffer of a recv CQE back to the ring. */
void ic__io_buf_return(struct ic__io_core *io, unsigned flags);

/*
 * Sockets. An accepted connection's socket is a direct descriptor of the
 * reactor's ring when the kernel allows it (IORING_FILE_INDEX_ALLOC on the
 * multishot accept): it is not in the process's descriptor table, so no
 * recv or send pays for looking it up (fget/fput) and accepting takes no
 * process descriptor. It is then used only through SQEs with
 * IOSQE_FIXED_FILE: no setsockopt(2), shutdown(2) or close(2) on it.
 * TCP_NODELAY comes from the listening socket (accepted sockets inherit it),
 * SO_LINGER goes through the socket uring_cmd, and the close cancels what is
 * in flight on it and frees the slot (the socket itself closes when the last
 * cancelled operation lets go of it, so the peer still hears at once). Where
 * the kernel lacks any of these (before 6.8) or ISOCORE_DIRECT_FILES=0, the
 * sockets are descriptors of the process as before. ISOCORE_DIRECT_FILES=N
 * sizes the table (tests make it tiny to fill it).
 *
 * Outgoing connections (ic_tcp_connect) keep process descriptors: the HTTP
 * client shuts them down by descriptor.
 */

/** Marks sqe as using a direct descriptor when fixed. */
static inline void ic__io_fixed(struct io_uring_sqe *sqe, bool fixed)
{
    if (fixed)
        sqe->flags |= IOSQE_FIXED_FILE;
}

/** Closes a socket: close(2), or for a direct descriptor an IORING_OP_CLOSE of its slot (its CQE is ignored). */
void ic__io_close(int fd, bool fixed);

/** Sets SO_LINGER {1, 0}, so that the close resets the connection (setsockopt(2), or the socket uring_cmd for a direct one). */
void ic__io_linger0(int fd, bool fixed);

/**
 * Closes a direct descriptor now: cancels every operation in flight on it
 * (one cancel, whose CQE goes to op) and frees its slot. The caller counts op
 * in flight. The socket closes once the cancelled operations completed.
 */
void ic__io_close_fixed(int fd, ic_op_t *op);

/** Fills *ss and *sl from a numeric IPv4 or IPv6 address. Returns 0 or -EINVAL. */
int ic__io_sockaddr(const char *host, unsigned port, struct sockaddr_storage *ss, socklen_t *sl);

/** A listening SO_REUSEPORT socket on host:port. Returns 0 and sets *out, or -errno. */
int ic__io_listen(const char *host, unsigned port, unsigned backlog, int *out);

/** The local port of a bound socket. */
unsigned ic__io_port(int fd);

/*
 * A multishot accept on one listening socket of one reactor. On EMFILE,
 * ENFILE, ENOMEM or ENOBUFS it counts the error, logs at most once a second
 * and retries after 50 ms, while the connections already open keep being
 * served.
 *
 * on_fd returns false when it cannot take the socket now (no memory for its
 * state): the acceptor holds it, stops accepting, and offers it again on the
 * retry, so that an accepted client waits instead of being dropped. The
 * sockets held are those the multishot accept completed before its cancel
 * took effect: at most a listen backlog's worth, IC__ACCEPT_HELD (the
 * servers' backlog; 32 KiB per acceptor, so that holding allocates
 * nothing). Past that one is closed and counted.
 *
 * Accepts install direct descriptors while the table has more than a
 * backlog's worth of free slots (socket.c, want_direct), process
 * descriptors past that; on_fd is told which kind it gets.
 */
#define IC__ACCEPT_HELD 4096

struct ic__acceptor {
    int fd;
    ic_op_t op, cancel_op;
    bool armed, backoff, stopping, cancelling;
    bool direct; /* the accept armed installs direct descriptors */
    unsigned nheld;
    struct {
        int fd;
        bool fixed;
    } held[IC__ACCEPT_HELD]; /* accepted sockets waiting for the retry, oldest first */
    ic_timer_t retry;
    uint64_t logged;
    unsigned long long *errors; /* counter bumped (relaxed) on every failed accept; may be NULL */
    bool (*on_fd)(struct ic__acceptor *a, int fd, bool fixed);
};

/**
 * Prepares a (the fd is the listening socket; on_fd takes ownership of each
 * accepted one it returns true for: a direct descriptor when fixed).
 */
void ic__acceptor_init(struct ic__acceptor *a, int fd, bool (*on_fd)(struct ic__acceptor *a, int fd, bool fixed));
/** Arms the accept on the current reactor. */
void ic__acceptor_start(struct ic__acceptor *a);
/** Stops accepting: held sockets are offered once more (closed if refused), the listening socket is shut down (its last CQE ends
 * the multishot accept). */
void ic__acceptor_stop(struct ic__acceptor *a);

/* Bumps a per-core counter written only by its own core (relaxed, so readers elsewhere race with nothing). */
#define IC__COUNT(p) __atomic_store_n((p), *(p) + 1, __ATOMIC_RELAXED)

/* ---- the TLS engine (tls.c) ----------------------------------------------------------------- */

/*
 * One TLS session of one connection, which knows nothing of sockets: the
 * connection feeds it the ciphertext it received (ic__tls_feed, then
 * ic__tls_handshake / ic__tls_read until they ask for more), encrypts its
 * plaintext with ic__tls_write, and sends what is staged: ic__tls_take
 * hands over the staged ciphertext (the engine stages new output in its
 * other buffer meanwhile), ic__tls_sent says that send completed. Anything
 * an SSL call writes (handshake flights, tickets, alerts, close_notify) is
 * staged the same way, so after every call the connection checks
 * ic__tls_staged. Errors: IC_ETLS, IC_ETLS_VERIFY or -ENOMEM, and
 * ic__tls_error says why; the session may then hold an alert to send.
 */
struct ic__tls;
struct ic_tls_ctx;

#define IC__TLS_EOF (-1000000)     /* ic__tls_read: the peer sent close_notify */
#define IC__TLS_HANDSHAKE_MS 10000 /* a handshake (and a TLS client's connect) that takes longer is closed with -ETIMEDOUT */
#define IC__TLS_CHUNK (64 * 1024)  /* plaintext encrypted per send, so that MBs written at once stream */

/** True for a server context. */
bool ic__tls_ctx_server(const struct ic_tls_ctx *ctx);
/** A session for one connection (servername: SNI and the name checked, client only; may be NULL). NULL: out of memory. */
struct ic__tls *ic__tls_new(struct ic_tls_ctx *ctx, const char *servername);
/** Frees the session (NULL is ignored). */
void ic__tls_free(struct ic__tls *t);
/** The ciphertext the next calls read from (in place; it must stay valid until they return 0). */
void ic__tls_feed(struct ic__tls *t, const char *data, size_t len);
/** Advances the handshake: 1 done, 0 it needs more input, or an error. */
int ic__tls_handshake(struct ic__tls *t);
/** Decrypts into buf: >0 bytes, 0 when the input fed is used up, IC__TLS_EOF, or an error. */
long ic__tls_read(struct ic__tls *t, char *buf, size_t cap);
/** Encrypts len bytes (all of them, into the staged output): returns len or an error. After the handshake only. */
long ic__tls_write(struct ic__tls *t, const char *data, size_t len);
/** Stages close_notify (once; nothing after a failure or before the handshake). */
void ic__tls_shutdown(struct ic__tls *t);
/** Bytes staged and not taken yet. */
size_t ic__tls_staged(const struct ic__tls *t);
/** Takes the staged bytes for one send (one at a time): valid until ic__tls_sent. */
const char *ic__tls_take(struct ic__tls *t, size_t *len);
/** The send of what ic__tls_take gave completed (all of it). */
void ic__tls_sent(struct ic__tls *t);
bool ic__tls_done(const struct ic__tls *t);
bool ic__tls_failed(const struct ic__tls *t);
/** Why it failed, or NULL. */
const char *ic__tls_error(const struct ic__tls *t);

#endif
