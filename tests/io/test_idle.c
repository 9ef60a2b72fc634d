/*
 * test_idle.c: 10,000 idle keep-alive connections on two reactors. Each is
 * used once (so the server has surely accepted and answered it), then left
 * idle; the server must hold all of them open and still answer a new
 * client promptly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_util.h"

#define T_IDLE 10000

static ic_http_server_t *t_srv;
static int t_fds[T_IDLE];
static unsigned long long t_open_seen;
static uint64_t t_worst_ns;

static void t_ok(ic_http_exchange_t *x, void *arg)
{
    ic_http_respond(x, 200, NULL, 0, "ok", 2);
}

static void t_start(void *arg)
{
    cr_assert_eq(ic_http_server_start(t_srv), 0);
}

static void t_stop(void *arg)
{
    ic_http_server_stop(t_srv);
}

/*
 * The client is a child process (forked before the reactors start), so that
 * each side holds 10,000 descriptors, not one process 20,000. It reports
 * over `up`: 'R' when its 10,000 connections were each used once and are
 * idle, then (after the parent read the server's counters and wrote 'G' on
 * `down`) the worst latency of 100 requests on a new connection, in ns.
 * It only makes system calls: no assertions in the child; exit status 0 = ok.
 */
static int c_connect(unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        _exit(10);
    return fd;
}

static void c_exchange(int fd)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
        _exit(11);
    char buf[512];
    size_t n = 0;
    while (n < 4 || memcmp(buf + n - 2, "ok", 2) != 0) {
        ssize_t r = recv(fd, buf + n, sizeof(buf) - n, 0);
        if (r <= 0)
            _exit(12);
        n += (size_t)r;
    }
    if (memcmp(buf, "HTTP/1.1 200", 12) != 0)
        _exit(13);
}

static void c_main(unsigned port, int up, int down)
{
    for (int i = 0; i < T_IDLE; i++) {
        t_fds[i] = c_connect(port);
        c_exchange(t_fds[i]);
    }
    char c = 'R';
    if (write(up, &c, 1) != 1 || read(down, &c, 1) != 1 || c != 'G')
        _exit(14);
    int fd = c_connect(port);
    uint64_t worst = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t t0 = ic_clock_ns();
        c_exchange(fd);
        uint64_t d = ic_clock_ns() - t0;
        worst = d > worst ? d : worst;
    }
    for (int i = 0; i < T_IDLE; i += 997)
        c_exchange(t_fds[i]); /* the idle ones still work */
    if (write(up, &worst, sizeof(worst)) != sizeof(worst))
        _exit(15);
    _exit(0);
}

static int t_up[2], t_down[2];
static pid_t t_child;

static void *t_client(void *arg)
{
    char c;
    cr_assert_eq(read(t_up[0], &c, 1), 1, "the client process died early");
    cr_assert_eq(c, 'R');
    for (unsigned k = 0; k < 2; k++) {
        ic_http_server_stats_t st;
        ic_http_server_stats(t_srv, k, &st);
        t_open_seen += st.open;
    }
    c = 'G';
    cr_assert_eq(write(t_down[1], &c, 1), 1);
    cr_assert_eq(read(t_up[0], &t_worst_ns, sizeof(t_worst_ns)), (ssize_t)sizeof(t_worst_ns));
    int st;
    cr_assert_eq(waitpid(t_child, &st, 0), t_child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client exit status %d", st);
    ic_reactor_stop();
    return NULL;
}

Test(idle, ten_thousand_idle_connections, .timeout = 120)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = T_IDLE + 1000; /* per process: the server here, the client in its child */
    if (rl.rlim_max < want)
        cr_skip_test("RLIMIT_NOFILE hard limit %llu is under %llu", (unsigned long long)rl.rlim_max, (unsigned long long)want);
    struct rlimit raised = {want > rl.rlim_cur ? want : rl.rlim_cur, rl.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &raised), 0);
    ic_http_server_config_t h;
    ic_http_server_config_init(&h);
    h.port = 0;
    h.handler = t_ok;
    cr_assert_eq(ic_http_server_new(&h, 2, &t_srv), 0);
    cr_assert_eq(pipe(t_up), 0);
    cr_assert_eq(pipe(t_down), 0);
    /* Forked before any reactor thread exists; the listening sockets queue its connections until they start. */
    t_child = fork();
    cr_assert_geq(t_child, 0);
    if (t_child == 0)
        c_main(ic_http_server_port(t_srv), t_up[1], t_down[0]);
    ic_reactor_config_t cfg = t_config(2, t_start, NULL);
    cfg.on_stop = t_stop;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    pthread_t th;
    pthread_create(&th, NULL, t_client, NULL);
    cr_assert_eq(ic_reactor_wait(), 0);
    pthread_join(th, NULL);
    ic_http_server_free(t_srv);
    setrlimit(RLIMIT_NOFILE, &rl);
    for (int k = 0; k < 2; k++) {
        close(t_up[k]);
        close(t_down[k]);
    }
    cr_assert_eq(t_open_seen, T_IDLE, "connections open on the server while idle: %llu", t_open_seen);
    cr_log_info("worst of 100 requests beside 10,000 idle connections: %.2f ms", (double)t_worst_ns / 1e6);
    cr_assert_lt(t_worst_ns, 200 * 1000000ull, "a request took %.1f ms", (double)t_worst_ns / 1e6);
}
