/*
 * test_tcp.c: the TCP layer (isocore/tcp.h) over real sockets on 127.0.0.1:
 * echo on two reactors with large and split writes, partial consumption,
 * pause/resume with max_input backpressure, outgoing connections (and a
 * refused one), holds that outlive the socket, a stop that closes open
 * connections, close's deadline (a reset), and accepted sockets as direct
 * descriptors or process ones.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t_util.h"

static ic_tcp_listener_t *t_l;
static _Atomic int t_opened, t_closed, t_close_shutdown;
static _Atomic long t_max_offered;
static ic_tcp_conn_t *t_held;
static _Atomic int t_held_closed;

static void t_on_close(ic_tcp_conn_t *c, int err)
{
    t_closed++;
    if (c == t_held)
        t_held_closed++;
    if (err == IC_ESHUTDOWN)
        t_close_shutdown++;
}

static void t_on_open(ic_tcp_conn_t *c)
{
    t_opened++;
}

static size_t t_echo(ic_tcp_conn_t *c, const char *data, size_t len)
{
    cr_assert_eq(ic_tcp_write(c, data, len), 0);
    return len;
}

static void t_start(void *arg)
{
    cr_assert_eq(ic_tcp_listener_start(t_l), 0);
}

static void t_stop(void *arg)
{
    ic_tcp_listener_stop(t_l);
}

typedef void (*t_client_fn)(unsigned port);

static void *t_client_main(void *arg)
{
    ((t_client_fn)arg)(ic_tcp_listener_port(t_l));
    ic_reactor_stop();
    return NULL;
}

/* Runs a listener with these handlers on `cores` reactors and fn as the client, on its own thread. */
static void t_serve(unsigned cores, ic_tcp_listener_config_t *lc, t_client_fn fn)
{
    t_opened = t_closed = t_close_shutdown = 0;
    t_max_offered = 0;
    lc->port = 0;
    cr_assert_eq(ic_tcp_listener_new(lc, cores, &t_l), 0);
    ic_reactor_config_t cfg = t_config(cores, t_start, NULL);
    cfg.on_stop = t_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    pthread_t client;
    pthread_create(&client, NULL, t_client_main, (void *)fn);
    cr_assert_eq(ic_reactor_wait(), 0);
    pthread_join(client, NULL);
    ic_tcp_listener_free(t_l);
}

static int t_connect(unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s", strerror(errno));
    return fd;
}

static void t_send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        cr_assert_gt(w, 0, "send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

static void t_recv_all(int fd, char *p, size_t n)
{
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        cr_assert_gt(r, 0, "recv: %s", r < 0 ? strerror(errno) : "EOF");
        p += r;
        n -= (size_t)r;
    }
}

/* ---- echo ------------------------------------------------------------------------------- */

#define T_BIG (3 * 1024 * 1024)

struct t_echo_job {
    unsigned port;
    unsigned seed;
};

static void *t_echo_client(void *arg)
{
    struct t_echo_job *j = arg;
    int fd = t_connect(j->port);
    char *out = malloc(T_BIG), *in = malloc(T_BIG);
    for (size_t i = 0; i < T_BIG; i++)
        out[i] = (char)(rand_r(&j->seed) & 0xff);
    /* Small writes, then one large one, each echoed in full before the next. */
    size_t sizes[] = {1, 2, 7, 4096, 4097, 65536, T_BIG - 1};
    for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        /* Writer and reader in step: a 3 MiB echo does not fit the socket buffers both ways. */
        for (size_t off = 0; off < n; off += 65536) {
            size_t m = n - off < 65536 ? n - off : 65536;
            t_send_all(fd, out + off, m);
            t_recv_all(fd, in + off, m);
        }
        cr_assert_eq(memcmp(in, out, n), 0, "echo of %zu bytes differs", n);
    }
    close(fd);
    free(out);
    free(in);
    return NULL;
}

static void c_echo(unsigned port)
{
    pthread_t th[8];
    struct t_echo_job jobs[8];
    for (unsigned i = 0; i < 8; i++) {
        jobs[i] = (struct t_echo_job){port, i + 1};
        pthread_create(&th[i], NULL, t_echo_client, &jobs[i]);
    }
    for (unsigned i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
}

Test(tcp, echo_on_two_reactors, .timeout = 60)
{
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.on = (ic_tcp_handlers_t){.on_open = t_on_open, .on_data = t_echo, .on_close = t_on_close};
    t_serve(2, &lc, c_echo);
    cr_assert_eq(t_opened, 8);
    cr_assert_eq(t_closed, 8, "every connection closed once (peer FIN, no on_eof)");
}

/* ---- partial consumption: a line protocol ---------------------------------------------------- */

static _Atomic int t_lines;

/* Answers each complete line with its length; leaves a partial line for later. */
static size_t t_lines_data(ic_tcp_conn_t *c, const char *data, size_t len)
{
    size_t used = 0;
    const char *nl;
    if ((long)len > t_max_offered)
        t_max_offered = (long)len;
    while ((nl = memchr(data + used, '\n', len - used))) {
        size_t n = (size_t)(nl - (data + used));
        char out[32];
        int k = snprintf(out, sizeof(out), "%zu\n", n);
        ic_tcp_write(c, out, (size_t)k);
        used += n + 1;
        t_lines++;
    }
    return used;
}

static void c_lines(unsigned port)
{
    int fd = t_connect(port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* One byte per write: every call but the one with the newline consumes nothing. */
    const char *line = "hello, partial world\n";
    for (size_t i = 0; i < strlen(line); i++)
        t_send_all(fd, line + i, 1);
    char buf[8] = {0};
    t_recv_all(fd, buf, 3);
    cr_assert_str_eq(buf, "20\n");
    /* Many lines in one write: one answer each, in order. */
    char many[1000];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "%.*s\n", i % 10, "abcdefghij");
    t_send_all(fd, many, n);
    for (int i = 0; i < 100; i++) {
        char want[8];
        snprintf(want, sizeof(want), "%d\n", i % 10);
        t_recv_all(fd, buf, 2);
        buf[2] = 0;
        cr_assert_str_eq(buf, want);
    }
    close(fd);
}

Test(tcp, partial_consumption_keeps_the_rest, .timeout = 30)
{
    t_lines = 0;
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.on = (ic_tcp_handlers_t){.on_data = t_lines_data, .on_close = t_on_close};
    t_serve(1, &lc, c_lines);
    cr_assert_eq(t_lines, 101);
    cr_assert_eq(t_closed, 1);
}

/* ---- pause / resume and max_input ------------------------------------------------------------ */

#define T_FLOOD (4 * 1024 * 1024)
static ic_timer_t t_resume_timer;
static ic_tcp_conn_t *t_paused;
static _Atomic long t_consumed;
static _Atomic int t_pauses;

static void t_resume(ic_timer_t *t)
{
    ic_tcp_resume(t_paused);
}

/* Consumes everything but pauses after each call, and resumes 20 ms later: a slow consumer. */
static size_t t_slow_data(ic_tcp_conn_t *c, const char *data, size_t len)
{
    if ((long)len > t_max_offered)
        t_max_offered = (long)len;
    t_consumed += (long)len;
    if (t_consumed >= T_FLOOD) {
        ic_tcp_write(c, "done", 4);
        return len;
    }
    t_pauses++;
    ic_tcp_pause(c);
    t_paused = c;
    ic_timer_init(&t_resume_timer, t_resume);
    ic_timer_start(&t_resume_timer, 20 * 1000000, 0);
    return len;
}

static void c_flood(unsigned port)
{
    int fd = t_connect(port);
    char *buf = calloc(1, T_FLOOD);
    t_send_all(fd, buf, T_FLOOD);
    char done[4];
    t_recv_all(fd, done, 4);
    cr_assert_eq(memcmp(done, "done", 4), 0);
    close(fd);
    free(buf);
}

Test(tcp, pause_resume_bounds_input, .timeout = 60)
{
    t_consumed = 0;
    t_pauses = 0;
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.max_input = 16 * 1024;
    lc.on = (ic_tcp_handlers_t){.on_data = t_slow_data, .on_close = t_on_close};
    t_serve(1, &lc, c_flood);
    cr_assert_eq(t_consumed, T_FLOOD);
    cr_assert_gt(t_pauses, 2);
    /* Reading stopped while paused: what waited never came near the 4 MiB sent (recvs in flight may overshoot a little). */
    cr_assert_lt(t_max_offered, 1024 * 1024, "offered %ld bytes at once", (long)t_max_offered);
}

/* ---- outgoing connections ------------------------------------------------------------------- */

static _Atomic int t_out_open, t_out_closed, t_out_refused;
static char t_out_got[16];

static size_t t_out_data(ic_tcp_conn_t *c, const char *data, size_t len)
{
    size_t have = strlen(t_out_got);
    if (have + len < sizeof(t_out_got))
        memcpy(t_out_got + have, data, len);
    if (strlen(t_out_got) == 4)
        ic_tcp_close(c);
    return len;
}

static void t_out_opened(ic_tcp_conn_t *c)
{
    t_out_open++;
}

static void t_out_close(ic_tcp_conn_t *c, int err)
{
    if (err == -ECONNREFUSED)
        t_out_refused++;
    else
        cr_assert_eq(err, 0, "%s", ic_strerror(err));
    if (++t_out_closed == 2)
        ic_reactor_stop();
}

static const ic_tcp_handlers_t t_out = {.on_open = t_out_opened, .on_data = t_out_data, .on_close = t_out_close};

static void t_connect_start(void *arg)
{
    cr_assert_eq(ic_tcp_listener_start(t_l), 0);
    ic_tcp_conn_t *c;
    /* Written before the connection is up: sent once it is. */
    cr_assert_eq(ic_tcp_connect("127.0.0.1", ic_tcp_listener_port(t_l), &t_out, NULL, &c), 0);
    cr_assert_eq(ic_tcp_write(c, "ping", 4), 0);
    /* A port nobody listens on: bind one, read its number, close it. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    bind(s, (struct sockaddr *)&sa, sizeof(sa));
    unsigned port = 0;
    socklen_t sl = sizeof(sa);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    port = ntohs(sa.sin_port);
    close(s);
    cr_assert_eq(ic_tcp_connect("127.0.0.1", port, &t_out, NULL, NULL), 0);
    cr_assert_eq(ic_tcp_connect("not an address", port, &t_out, NULL, NULL), -EINVAL);
}

Test(tcp, connect_out_and_refused, .timeout = 30)
{
    t_out_open = t_out_closed = t_out_refused = 0;
    memset(t_out_got, 0, sizeof(t_out_got));
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.port = 0;
    lc.on = (ic_tcp_handlers_t){.on_data = t_echo};
    cr_assert_eq(ic_tcp_listener_new(&lc, 1, &t_l), 0);
    ic_reactor_config_t cfg = t_config(1, t_connect_start, NULL);
    cfg.on_stop = t_stop;
    t_run(&cfg);
    ic_tcp_listener_free(t_l);
    cr_assert_str_eq(t_out_got, "ping");
    cr_assert_eq(t_out_open, 1, "on_open only for the connection that was made");
    cr_assert_eq(t_out_refused, 1);
    cr_assert_eq(t_out_closed, 2);
}

/* ---- holds, and a stop with open connections ---------------------------------------------- */

static _Atomic int t_write_after;
static ic_timer_t t_hold_timer;

/* Runs well after the client went away: the handle is still valid, writes are refused. */
static void t_hold_fire(ic_timer_t *t)
{
    cr_assert_eq(t_held_closed, 0, "on_close waits for the hold");
    t_write_after = ic_tcp_write(t_held, "late", 4);
    ic_tcp_release(t_held);
}

static size_t t_hold_data(ic_tcp_conn_t *c, const char *data, size_t len)
{
    t_held = c;
    ic_tcp_hold(c);
    ic_tcp_close(c);
    ic_timer_init(&t_hold_timer, t_hold_fire);
    ic_timer_start(&t_hold_timer, 50 * 1000000, 0);
    return len;
}

static int t_idle_fds[2];

static void c_hold(unsigned port)
{
    int fd = t_connect(port);
    t_send_all(fd, "x", 1);
    char b;
    cr_assert_eq(recv(fd, &b, 1, 0), 0, "the server closed");
    close(fd);
    /* Two connections left open: each is established once the server echoed on it; the stop must close them. */
    for (int i = 0; i < 2; i++) {
        t_idle_fds[i] = t_connect(port);
        t_send_all(t_idle_fds[i], "e", 1);
        t_recv_all(t_idle_fds[i], &b, 1);
        cr_assert_eq(b, 'e');
    }
}

static size_t t_hold_or_echo(ic_tcp_conn_t *c, const char *data, size_t len)
{
    return data[0] == 'x' ? t_hold_data(c, data, len) : t_echo(c, data, len);
}

Test(tcp, hold_outlives_socket_and_stop_closes, .timeout = 30)
{
    t_write_after = 0;
    t_held_closed = 0;
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.on = (ic_tcp_handlers_t){.on_open = t_on_open, .on_data = t_hold_or_echo, .on_close = t_on_close};
    t_serve(1, &lc, c_hold);
    close(t_idle_fds[0]);
    close(t_idle_fds[1]);
    cr_assert_eq(t_write_after, -EPIPE);
    cr_assert_eq(t_held_closed, 1);
    cr_assert_eq(t_opened, 3);
    cr_assert_eq(t_closed, 3, "every accepted connection was closed and freed");
    cr_assert_eq(t_close_shutdown, 2, "the stop closed the two open ones (%d)", (int)t_close_shutdown);
}

/* ---- ic_tcp_close's deadline ---------------------------------------------------------------- */

static _Atomic int t_deadline_err = 1, t_cut_errno;

static void t_flood_open(ic_tcp_conn_t *c)
{
    /* 20 MB for a peer that never reads, then a close that would wait for them for ever. */
    size_t n = 20u << 20;
    char *b = malloc(n);
    memset(b, 'f', n);
    cr_assert_eq(ic_tcp_write(c, b, n), 0);
    free(b);
    ic_tcp_close(c);
}

static void t_flood_close(ic_tcp_conn_t *c, int err)
{
    t_deadline_err = err;
}

static void c_never_reads(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    /* Bounded: the deadline is 300 ms; this waits for its verdict without reading a byte. */
    for (long i = 0; i < 200000000 && t_deadline_err == 1; i++)
        sched_yield();
    /* The deadline reset the connection (SO_LINGER {1, 0}): what was queued, then ECONNRESET, not EOF. */
    char buf[65536];
    ssize_t r;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
        ;
    t_cut_errno = r < 0 ? errno : 0;
    close(fd);
}

Test(tcp, close_has_a_deadline_for_a_peer_that_never_reads, .timeout = 60)
{
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.on.on_open = t_flood_open;
    lc.on.on_data = t_echo;
    lc.on.on_close = t_flood_close;
    lc.close_timeout_ms = 300;
    t_serve(1, &lc, c_never_reads);
    cr_assert_eq(t_deadline_err, -ETIMEDOUT, "on_close got %d", (int)t_deadline_err);
    cr_assert_eq(t_cut_errno, ECONNRESET, "the peer saw %s, not a reset", t_cut_errno ? strerror(t_cut_errno) : "EOF");
}

Test(tcp, close_deadline_resets_with_process_descriptors, .timeout = 60)
{
    setenv("ISOCORE_DIRECT_FILES", "0", 1);
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.on.on_open = t_flood_open;
    lc.on.on_data = t_echo;
    lc.on.on_close = t_flood_close;
    lc.close_timeout_ms = 300;
    t_serve(1, &lc, c_never_reads);
    cr_assert_eq(t_deadline_err, -ETIMEDOUT, "on_close got %d", (int)t_deadline_err);
    cr_assert_eq(t_cut_errno, ECONNRESET, "the peer saw %s, not a reset", t_cut_errno ? strerror(t_cut_errno) : "EOF");
}

/* ---- direct descriptors ------------------------------------------------------------------- */

static _Atomic int t_fd_seen = -2, t_nodelay_seen = -1;

/* Records what the accepted connection's ic_tcp_fd is, and its TCP_NODELAY when it is a process descriptor. */
static void t_fd_open(ic_tcp_conn_t *c)
{
    int fd = ic_tcp_fd(c), v = -1;
    socklen_t vl = sizeof(v);
    if (fd >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl) < 0)
        v = -1;
    t_nodelay_seen = v;
    t_fd_seen = fd;
}

static void c_echo_once(unsigned port)
{
    int fd = t_connect(port);
    char buf[5];
    t_send_all(fd, "hello", 5);
    t_recv_all(fd, buf, 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    close(fd);
}

static void t_fd_serve(void)
{
    t_fd_seen = -2;
    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.on = (ic_tcp_handlers_t){.on_open = t_fd_open, .on_data = t_echo, .on_close = t_on_close};
    t_serve(1, &lc, c_echo_once);
    cr_assert_eq(t_opened, 0); /* (t_fd_open replaced t_on_open) */
    cr_assert_eq(t_closed, 1);
}

Test(tcp, accepted_socket_is_a_direct_descriptor, .timeout = 30)
{
    struct io_uring ring;
    cr_assert_eq(io_uring_queue_init(4, &ring, 0), 0);
    struct io_uring_probe *p = io_uring_get_probe_ring(&ring);
    bool ok = p && io_uring_opcode_supported(p, 54 /* IORING_OP_FIXED_FD_INSTALL, 6.8 */);
    if (p)
        io_uring_free_probe(p);
    io_uring_queue_exit(&ring);
    if (!ok)
        cr_skip_test("this kernel's io_uring lacks direct descriptors for sockets (6.8+)");
    t_fd_serve();
    cr_assert_eq(t_fd_seen, -1, "ic_tcp_fd gave %d: not a direct descriptor", (int)t_fd_seen);
}

Test(tcp, accepted_socket_is_a_process_descriptor_with_nodelay_when_direct_is_off, .timeout = 30)
{
    setenv("ISOCORE_DIRECT_FILES", "0", 1);
    t_fd_serve();
    cr_assert_geq(t_fd_seen, 0);
    cr_assert_eq(t_nodelay_seen, 1, "TCP_NODELAY is not inherited from the listening socket");
}
