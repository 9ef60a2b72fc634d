/*
 * socket.c: the parts of io/ that the TCP layer and the HTTP server share:
 * addresses and listening sockets, the per-reactor provided-buffer ring and
 * table of direct descriptors, closing either kind of socket, and the
 * multishot acceptor with its EMFILE back-off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/fault.h"
#include "io/internal.h"

/* ---- addresses and sockets ----------------------------------------------------------- */

int ic__io_sockaddr(const char *host, unsigned port, struct sockaddr_storage *ss, socklen_t *sl)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (port > 65535)
        return -EINVAL;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *sl = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*in6);
    } else {
        return -EINVAL;
    }
    return 0;
}

int ic__io_listen(const char *host, unsigned port, unsigned backlog, int *out)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int ret = ic__io_sockaddr(host, port, &ss, &sl);
    if (ret < 0)
        return ret;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    /*
     * SO_REUSEPORT: one socket per reactor, and the kernel spreads connections
     * across them. TCP_NODELAY here: accepted sockets inherit it, so that no
     * accept pays a setsockopt(2) (and a direct descriptor could not).
     */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
        listen(fd, (int)(backlog ? backlog : 4096)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *out = fd;
    return 0;
}

unsigned ic__io_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* ---- the provided-buffer ring ------------------------------------------------------------ */

static void io_fini(void *p)
{
    struct ic__io_core *io = p;
    free(io->br);
    free(io->bufs);
    free(io);
}

/*
 * The operations a direct socket needs beyond recv, send and accept: the
 * socket uring_cmd (SO_LINGER; kernel 6.7) and closing a slot. Probing for
 * IORING_OP_FIXED_FD_INSTALL (6.8, after the socket commands) tells both;
 * liburing 2.3's headers predate these, so the numbers are the kernel's.
 */
#define IC__OP_FIXED_FD_INSTALL 54
#define IC__SOCKET_URING_OP_SETSOCKOPT 3
_Static_assert(IORING_OP_URING_CMD == 46, "the io_uring opcodes above are counted from IORING_OP_URING_CMD");

/* Registers the ring's sparse table of direct descriptors; returns its size, or 0 when the sockets stay process descriptors. */
static unsigned direct_files(struct io_uring *ring)
{
    long want = IC__IO_DIRECT_MAX;
    const char *env = getenv("ISOCORE_DIRECT_FILES");
    if (env)
        want = strtol(env, NULL, 10);
    if (want <= 0)
        return 0;
    if (want > IC__IO_DIRECT_MAX)
        want = IC__IO_DIRECT_MAX;
    /* The kernel refuses a table larger than RLIMIT_NOFILE. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)want > rl.rlim_cur)
        want = (long)rl.rlim_cur;
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    bool ok = p && io_uring_opcode_supported(p, IC__OP_FIXED_FD_INSTALL);
    if (p)
        io_uring_free_probe(p);
    if (!ok || want <= 0 || io_uring_register_files_sparse(ring, (unsigned)want) < 0)
        return 0;
    return (unsigned)want;
}

struct ic__io_core *ic__io_core(int *err)
{
    struct ic__reactor *r = ic__self;
    if (!r) {
        *err = IC_ENOTREACTOR;
        return NULL;
    }
    if (r->io)
        return r->io;
    struct ic__io_core *io = calloc(1, sizeof(*io));
    size_t ring_bytes = IC__IO_BUF_COUNT * sizeof(struct io_uring_buf);
    if (!io || posix_memalign((void **)&io->br, 4096, ring_bytes) != 0 ||
        !(io->bufs = malloc((size_t)IC__IO_BUF_COUNT * IC__IO_BUF_SIZE))) {
        if (io)
            io_fini(io);
        *err = -ENOMEM;
        return NULL;
    }
    /* Each reactor has its own ring, so group 0 is free on every one of them. */
    io->bgid = 0;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long)io->br;
    reg.ring_entries = IC__IO_BUF_COUNT;
    reg.bgid = io->bgid;
    int ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
    if (ret < 0) {
        io_fini(io);
        *err = ret;
        return NULL;
    }
    io_uring_buf_ring_init(io->br);
    for (unsigned i = 0; i < IC__IO_BUF_COUNT; i++)
        io_uring_buf_ring_add(io->br, io->bufs + (size_t)i * IC__IO_BUF_SIZE, IC__IO_BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(IC__IO_BUF_COUNT), (int)i);
    io_uring_buf_ring_advance(io->br, IC__IO_BUF_COUNT);
    io->nfiles = direct_files(&r->ring);
    io->direct = io->nfiles > 0;
    r->io = io;
    r->io_fini = io_fini;
    return io;
}

void ic__io_buf_return(struct ic__io_core *io, unsigned flags)
{
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
    io_uring_buf_ring_add(io->br, io->bufs + (size_t)bid * IC__IO_BUF_SIZE, IC__IO_BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(IC__IO_BUF_COUNT), 0);
    io_uring_buf_ring_advance(io->br, 1);
}

/* ---- closing sockets -------------------------------------------------------------------- */

/* The CQE of a close or a setsockopt on a direct descriptor: the socket's owner may be gone by then, and nothing is left to do. */
static void sock_ignored(ic_op_t *op, int res, unsigned flags)
{
    (void)op;
    (void)res;
    (void)flags;
}
static ic_op_t sock_ignored_op = {sock_ignored};

void ic__io_close(int fd, bool fixed)
{
    if (fd < 0)
        return;
    if (!fixed) {
        close(fd);
        return;
    }
    ((struct ic__io_core *)ic__self->io)->files_used--;
    io_uring_prep_close_direct(ic_reactor_sqe(&sock_ignored_op), (unsigned)fd);
}

void ic__io_linger0(int fd, bool fixed)
{
    /* Static: the kernel reads it when it issues the SQE, which may be after this returns. */
    static const struct linger lg = {1, 0};
    if (!fixed) {
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        return;
    }
    /* io_uring_prep_cmd_sock(SOCKET_URING_OP_SETSOCKOPT) of later liburings, field by field over 2.3's SQE layout. */
    struct io_uring_sqe *sqe = ic_reactor_sqe(&sock_ignored_op);
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
    sqe->off = IC__SOCKET_URING_OP_SETSOCKOPT;                    /* cmd_op */
    sqe->addr = (uint64_t)SOL_SOCKET | (uint64_t)SO_LINGER << 32; /* level, optname */
    sqe->splice_fd_in = (int)sizeof(lg);                          /* optlen */
    sqe->addr3 = (uint64_t)(uintptr_t)&lg;                        /* optval */
    sqe->flags |= IOSQE_FIXED_FILE;
}

void ic__io_close_fixed(int fd, ic_op_t *op)
{
    /* In this order: the cancel finds the operations through the slot, which the close then frees. */
    struct io_uring_sqe *sqe = ic_reactor_sqe(op);
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
    ic__io_close(fd, true);
}

/* ---- the acceptor ------------------------------------------------------------------------ */

static void arm(struct ic__acceptor *a);

/*
 * Whether the next accept installs direct descriptors. A multishot accept
 * takes every connection queued when it runs, and one that finds no free
 * slot closes the connection it took (the kernel cannot leave it queued, as
 * it does for EMFILE). So accepts stay direct only while more slots are free
 * than a listen backlog can hold (half the table for a tiny one); past that
 * they take process descriptors, whose limit makes clients wait instead.
 */
static bool want_direct(void)
{
    struct ic__io_core *io = (struct ic__io_core *)ic__self->io;
    if (!io || !io->direct)
        return false;
    unsigned reserve = io->nfiles / 2 < IC__ACCEPT_HELD ? io->nfiles / 2 : IC__ACCEPT_HELD;
    return io->nfiles - io->files_used > reserve;
}

/* Keeps an accepted socket that could not be taken now; false (and the socket closed) when the hold is full. */
static bool hold(struct ic__acceptor *a, int fd, bool fixed)
{
    if (a->nheld == IC__ACCEPT_HELD) {
        ic__io_close(fd, fixed);
        if (a->errors)
            IC__COUNT(a->errors);
        ic_log(IC_LOG_ERROR, "accept: %u accepted connections wait for memory; closing one", IC__ACCEPT_HELD);
        return false;
    }
    a->held[a->nheld].fd = fd;
    a->held[a->nheld++].fixed = fixed;
    return true;
}

/* Offers the held sockets, oldest first; true when none is left. */
static bool offer_held(struct ic__acceptor *a)
{
    unsigned i = 0;
    while (i < a->nheld && a->on_fd(a, a->held[i].fd, a->held[i].fixed))
        i++;
    memmove(a->held, a->held + i, (a->nheld - i) * sizeof(a->held[0]));
    a->nheld -= i;
    return a->nheld == 0;
}

static void retry(ic_timer_t *t)
{
    struct ic__acceptor *a = (struct ic__acceptor *)((char *)t - offsetof(struct ic__acceptor, retry));
    if (a->stopping)
        return;
    if (!offer_held(a)) {
        ic_timer_start(&a->retry, 50 * 1000000, 0); /* still no memory: the listen queue waits too */
        return;
    }
    if (!a->armed)
        arm(a);
}

static void cancelled(ic_op_t *op, int res, unsigned flags)
{
    struct ic__acceptor *a = (struct ic__acceptor *)((char *)op - offsetof(struct ic__acceptor, cancel_op));
    (void)res; /* the cancelled accept's own last CQE does the rest */
    (void)flags;
    a->cancelling = false;
}

static void accepted(ic_op_t *op, int res, unsigned flags)
{
    struct ic__acceptor *a = (struct ic__acceptor *)((char *)op - offsetof(struct ic__acceptor, op));
    bool fixed = a->direct; /* the kind of the accept armed: a new one is armed only after this one's last CQE */
    if (!(flags & IORING_CQE_F_MORE))
        a->armed = false;
    if (res >= 0) {
        if (fixed)
            ((struct ic__io_core *)ic__self->io)->files_used++;
        if (a->stopping) {
            ic__io_close(res, fixed);
        } else if (a->nheld == 0 && ic__fault(IC__FAULT_EMFILE)) {
            /* Injected: as if the descriptor table had been full; this connection waits for the retry. */
            hold(a, res, fixed);
            res = -EMFILE;
        } else if (a->nheld > 0 || !a->on_fd(a, res, fixed)) {
            /* No memory for its state (or older ones wait): it queues behind them, accepting pauses. */
            hold(a, res, fixed);
            res = -ENOMEM;
        }
        if (res >= 0 && a->armed && !a->cancelling && !a->stopping && want_direct() != fixed) {
            /* The table filled up past its reserve, or emptied again: the accept is re-armed of the other kind. */
            a->cancelling = true;
            a->cancel_op.cb = cancelled;
            io_uring_prep_cancel(ic_reactor_sqe(&a->cancel_op), &a->op, 0);
        }
    }
    if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS) {
        /* Out of descriptors or memory: keep serving what we have, retry accepting shortly. */
        uint64_t now = ic_reactor_now();
        if (a->errors)
            IC__COUNT(a->errors);
        if (now - a->logged > 1000000000u) {
            ic_log(IC_LOG_WARN, "accept: %s; retrying in 50 ms", ic_strerror(res));
            a->logged = now;
        }
        a->backoff = true;
        if (a->armed) {
            /*
             * A multishot accept may stay armed after the error, but the
             * connections already queued are not signalled again: cancel it
             * and start afresh from the retry timer.
             */
            if (!a->cancelling) {
                a->cancelling = true;
                a->cancel_op.cb = cancelled;
                io_uring_prep_cancel(ic_reactor_sqe(&a->cancel_op), &a->op, 0);
            }
            return;
        }
    }
    /* Not at the reactor's exit: there every operation is cancelled until none is left, and a re-armed accept never is. */
    if (!a->armed && !a->stopping && !ic_reactor_exiting()) {
        if (a->backoff) {
            a->backoff = false;
            ic_timer_start(&a->retry, 50 * 1000000, 0);
        } else {
            arm(a);
        }
    }
}

static void arm(struct ic__acceptor *a)
{
    a->op.cb = accepted;
    a->armed = true;
    a->direct = want_direct();
    /* An injected EMFILE here leaves the connections in the listen queue, as a real one does. */
    if (ic__fault_refuse(&a->op, IC__FAULT_EMFILE, -EMFILE))
        return;
    struct io_uring_sqe *sqe = ic_reactor_sqe(&a->op);
    if (a->direct)
        io_uring_prep_multishot_accept_direct(sqe, a->fd, NULL, NULL,
                                              0); /* each CQE's res is the slot it took; -ENFILE: none free */
    else
        io_uring_prep_multishot_accept(sqe, a->fd, NULL, NULL, SOCK_CLOEXEC);
}

void ic__acceptor_init(struct ic__acceptor *a, int fd, bool (*on_fd)(struct ic__acceptor *a, int fd, bool fixed))
{
    memset(a, 0, sizeof(*a));
    a->fd = fd;
    a->on_fd = on_fd;
    ic_timer_init(&a->retry, retry);
}

void ic__acceptor_start(struct ic__acceptor *a)
{
    int err = 0;
    ic__io_core(&err); /* (made by the caller already; want_direct reads it) */
    a->stopping = false;
    arm(a);
}

void ic__acceptor_stop(struct ic__acceptor *a)
{
    /* Held connections were accepted before the stop: their owner takes them now, like the others, or they close. */
    offer_held(a);
    for (unsigned i = 0; i < a->nheld; i++) {
        ic__io_close(a->held[i].fd, a->held[i].fixed);
        if (a->errors)
            IC__COUNT(a->errors);
    }
    a->nheld = 0;
    a->stopping = true;
    ic_timer_stop(&a->retry);
    /* Shutting the listener down ends the multishot accept (its final CQE arrives with an error). */
    shutdown(a->fd, SHUT_RDWR);
}
