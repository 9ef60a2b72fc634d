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

/* One per reactor, made on first use: the provided-buffer ring every multishot recv of the reactor draws from. */
struct ic__io_core {
    struct io_uring_buf_ring *br;
    char *bufs;
    unsigned short bgid;
};

/** The current reactor's buffer ring, registered on first use. Returns NULL (and sets *err) if that failed. */
struct ic__io_core *ic__io_core(int *err);

/** The buffer a recv CQE selected (its flags carry the buffer id). */
static inline char *ic__io_buf(struct ic__io_core *io, unsigned flags)
{
    return io->bufs + (size_t)(flags >> IORING_CQE_BUFFER_SHIFT) * IC__IO_BUF_SIZE;
}

/** Hands the buffer of a recv CQE back to the ring. */
void ic__io_buf_return(struct ic__io_core *io, unsigned flags);

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
 * servers' backlog; 16 KiB per acceptor, so that holding allocates
 * nothing). Past that one is closed and counted.
 */
#define IC__ACCEPT_HELD 4096

struct ic__acceptor {
    int fd;
    ic_op_t op, cancel_op;
    bool armed, backoff, stopping, cancelling;
    unsigned nheld;
    int held[IC__ACCEPT_HELD]; /* accepted sockets waiting for the retry, oldest first */
    ic_timer_t retry;
    uint64_t logged;
    unsigned long long *errors; /* counter bumped (relaxed) on every failed accept; may be NULL */
    bool (*on_fd)(struct ic__acceptor *a, int fd);
};

/** Prepares a (the fd is the listening socket; on_fd takes ownership of each accepted one it returns true for). */
void ic__acceptor_init(struct ic__acceptor *a, int fd, bool (*on_fd)(struct ic__acceptor *a, int fd));
/** Arms the accept on the current reactor. */
void ic__acceptor_start(struct ic__acceptor *a);
/** Stops accepting: held sockets are offered once more (closed if refused), the listening socket is shut down (its last CQE ends
 * the multishot accept). */
void ic__acceptor_stop(struct ic__acceptor *a);

/* Bumps a per-core counter written only by its own core (relaxed, so readers elsewhere race with nothing). */
#define IC__COUNT(p) __atomic_store_n((p), *(p) + 1, __ATOMIC_RELAXED)

#endif
