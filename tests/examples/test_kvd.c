/*
 * test_kvd.c: examples/kvd as a user runs it: the binary on two reactors,
 * checked with Debian's memcached clients (memccapable's ASCII protocol
 * suite, memccp/memccat) and with our own socket client for what those do
 * not cover: multi-gets whose keys live on both cores come back in key
 * order, pipelined commands across cores are answered in order, values
 * larger than a message, errors that leave the connection usable, LRU
 * eviction under a small memory budget, expiry, incr/decr edges.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_util.h"

static pid_t t_pid = -1;
static unsigned t_port;

/* Starts kvd on a free port with extra arguments; reads the port from its first line. */
static void t_kvd_start(const char *mb)
{
    const char *dir = getenv("ISOCORE_EXAMPLES");
    cr_assert(dir, "ISOCORE_EXAMPLES is not set (run through ctest)");
    char path[512];
    snprintf(path, sizeof(path), "%s/kvd", dir);
    int out[2];
    cr_assert_eq(pipe(out), 0);
    t_pid = fork();
    cr_assert_geq(t_pid, 0);
    if (t_pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl(path, "kvd", "-p", "0", "-c", "2", "-m", mb, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[256];
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t r = read(out[0], line + n, 1);
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = 0;
    close(out[0]);
    const char *p = strstr(line, "127.0.0.1:");
    cr_assert(p, "kvd did not start: '%s'", line);
    t_port = (unsigned)atoi(p + 10);
    cr_assert_gt(t_port, 0);
}

/* SIGTERM, then the exit status must be 0 (a clean drain and free). */
static void t_kvd_stop(void)
{
    int st;
    kill(t_pid, SIGTERM);
    cr_assert_eq(waitpid(t_pid, &st, 0), t_pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kvd exit status %d", st);
    t_pid = -1;
}

static int t_connect(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t_port), .sin_addr.s_addr = htonl(0x7f000001)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* a set is written in three pieces */
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s", strerror(errno));
    return fd;
}

static void t_send(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        cr_assert_gt(w, 0);
        s += w;
        n -= (size_t)w;
    }
}

static void t_sends(int fd, const char *s)
{
    t_send(fd, s, strlen(s));
}

/* Reads exactly strlen(want) bytes and compares. */
static void t_expect(int fd, const char *want)
{
    size_t n = strlen(want), got = 0;
    char *buf = malloc(n + 1);
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        cr_assert_gt(r, 0, "recv after %zu of %zu bytes (want '%.60s')", got, n, want);
        got += (size_t)r;
    }
    buf[n] = 0;
    cr_assert_eq(memcmp(buf, want, n), 0, "got '%.200s'\nwant '%.200s'", buf, want);
    free(buf);
}

/* After every test, passed or not: a kvd still running is killed (it would keep the test's output open). */
static void t_fini(void)
{
    if (t_pid > 0) {
        kill(t_pid, SIGKILL);
        waitpid(t_pid, NULL, 0);
        t_pid = -1;
    }
}

/* Runs a command, returns the output of a shell pipeline. */
static char *t_sh(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    cr_assert(f);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t r;
    while ((r = fread(out + n, 1, cap - 1 - n, f)) > 0)
        n += r;
    out[n] = 0;
    pclose(f);
    return out;
}

static bool t_have(const char *tool)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

/* ---- Debian's clients ---------------------------------------------------------------------- */

Test(kvd, memccapable_ascii_suite, .timeout = 120, .fini = t_fini)
{
    if (!t_have("memccapable"))
        cr_skip_test("memccapable not installed (libmemcached-tools; tools/setup.sh installs it)");
    t_kvd_start("64");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "memccapable -h 127.0.0.1 -p %u -a -t 10 2>&1", t_port);
    char *out = t_sh(cmd);
    int pass = 0, fail = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        if (strstr(l, "[pass]"))
            pass++;
        if (strstr(l, "[FAIL]")) {
            fail++;
            cr_log_error("memccapable: %s", l);
        }
    }
    cr_log_info("memccapable -a: %d passed, %d failed", pass, fail);
    free(out);
    t_kvd_stop();
    cr_assert_eq(fail, 0);
    cr_assert_eq(pass, 27, "the ASCII suite has 27 checks");
}

Test(kvd, memccp_memccat_round_trip, .timeout = 60, .fini = t_fini)
{
    if (!t_have("memccp"))
        cr_skip_test("memccp not installed (libmemcached-tools; tools/setup.sh installs it)");
    t_kvd_start("64");
    char dir[] = "/tmp/kvdXXXXXX";
    cr_assert(mkdtemp(dir));
    char path[64], cmd[512];
    /* 300 KB of bytes that are not text: larger than any inline buffer or message. */
    snprintf(path, sizeof(path), "%s/blob.bin", dir);
    FILE *f = fopen(path, "wb");
    unsigned seed = 7;
    for (int i = 0; i < 300000; i++)
        fputc(rand_r(&seed) & 0xff, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "memccp --servers=127.0.0.1:%u %s && memccat --servers=127.0.0.1:%u blob.bin | head -c 300000 | cmp - %s && echo SAME",
             t_port, path, t_port, path);
    char *out = t_sh(cmd);
    cr_assert(strstr(out, "SAME"), "memccp/memccat: %s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    t_kvd_stop();
}

/* ---- our own client -------------------------------------------------------------------------- */

Test(kvd, multi_get_across_cores_in_key_order, .timeout = 60, .fini = t_fini)
{
    t_kvd_start("64");
    int fd = t_connect();
    /* 64 keys: with two cores both own some (a fixed hash; the odds of all on one are 2^-63). */
    char line[64 * 16 + 16] = "get", want[64 * 64] = "", cmd[128];
    size_t wl = 0;
    for (int i = 0; i < 64; i++) {
        if (i % 5 == 3)
            continue; /* a few misses in between */
        int n = snprintf(cmd, sizeof(cmd), "set k%d %d 0 %d\r\nv%d\r\n", i, i, (int)strlen("v") + (i >= 10) + 1, i);
        t_send(fd, cmd, (size_t)n);
        t_expect(fd, "STORED\r\n");
        wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "VALUE k%d %d %d\r\nv%d\r\n", i, i, 1 + (i >= 10) + 1, i);
    }
    for (int i = 0; i < 64; i++)
        snprintf(line + strlen(line), sizeof(line) - strlen(line), " k%d", i);
    strcat(line, "\r\n");
    strcat(want, "END\r\n");
    for (int round = 0; round < 20; round++) {
        t_send(fd, line, strlen(line));
        t_expect(fd, want);
    }
    close(fd);
    t_kvd_stop();
}

Test(kvd, pipelined_commands_answered_in_order, .timeout = 60, .fini = t_fini)
{
    t_kvd_start("64");
    int fd = t_connect();
    /* One write of 600 commands on 100 keys spread over both cores; the replies must come back in order. */
    size_t cap = 1 << 20, n = 0, wn = 0;
    char *req = malloc(cap), *want = malloc(cap);
    for (int i = 0; i < 100; i++) {
        n += (size_t)snprintf(req + n, cap - n, "set p%d 0 0 1\r\n%d\r\nincr p%d 5\r\nget p%d\r\nappend p%d 0 0 1\r\nx\r\n", i,
                              i % 10, i, i, i);
        n += (size_t)snprintf(req + n, cap - n, "delete p%d noreply\r\ndelete p%d\r\n", i, i);
        wn += (size_t)snprintf(want + wn, cap - wn, "STORED\r\n%d\r\nVALUE p%d 0 %d\r\n%d\r\nEND\r\nSTORED\r\nNOT_FOUND\r\n",
                               i % 10 + 5, i, i % 10 + 5 >= 10 ? 2 : 1, i % 10 + 5);
    }
    t_send(fd, req, n);
    t_expect(fd, want);
    free(req);
    free(want);
    close(fd);
    t_kvd_stop();
}

Test(kvd, large_values_errors_and_edges, .timeout = 60, .fini = t_fini)
{
    t_kvd_start("64");
    int fd = t_connect();
    /* A 900 KB value: larger than a message's inline reply, on whichever core owns it. */
    size_t big = 900 * 1000;
    char *v = malloc(big + 64), head[64];
    for (size_t i = 0; i < big; i++)
        v[i] = (char)('a' + i % 26);
    for (int k = 0; k < 4; k++) {
        int h = snprintf(head, sizeof(head), "set big%d 1 0 %zu\r\n", k, big);
        t_send(fd, head, (size_t)h);
        t_send(fd, v, big);
        t_sends(fd, "\r\n");
        t_expect(fd, "STORED\r\n");
    }
    for (int k = 0; k < 4; k++) {
        int h = snprintf(head, sizeof(head), "get big%d\r\n", k);
        t_send(fd, head, (size_t)h);
        snprintf(head, sizeof(head), "VALUE big%d 1 %zu\r\n", k, big);
        t_expect(fd, head);
        v[big] = 0;
        t_expect(fd, v);
        t_expect(fd, "\r\nEND\r\n");
    }
    /* Too large (the default item limit is 1 MiB): refused, its data skipped, the connection goes on. */
    size_t huge = 2 * 1024 * 1024;
    char *z = calloc(1, huge);
    int h = snprintf(head, sizeof(head), "set huge 0 0 %zu\r\n", huge);
    t_send(fd, head, (size_t)h);
    t_send(fd, z, huge);
    t_sends(fd, "\r\n");
    t_expect(fd, "SERVER_ERROR object too large for cache\r\n");
    free(z);
    /* Bad data chunk, bad lines, unknown commands: an error each, and the next command works. */
    t_sends(fd, "set a 0 0 1\r\nxyz\r\n");
    t_expect(fd, "CLIENT_ERROR bad data chunk\r\nERROR\r\n"); /* as memcached: "z\r\n" is then a line */
    t_sends(fd, "set a b c d\r\nbogus\r\nget\r\n");
    t_expect(fd, "CLIENT_ERROR bad command line format\r\nERROR\r\nERROR\r\n");
    /* incr/decr: not numeric, bad delta, decr stops at 0, incr wraps at 2^64. */
    t_sends(fd, "set n 0 0 3\r\nabc\r\nincr n 1\r\nincr n x\r\n");
    t_expect(fd, "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
                 "CLIENT_ERROR invalid numeric delta argument\r\n");
    t_sends(fd, "set n 0 0 1\r\n3\r\ndecr n 10\r\nset m 0 0 20\r\n18446744073709551615\r\nincr m 2\r\n");
    t_expect(fd, "STORED\r\n0\r\nSTORED\r\n1\r\n");
    /* Expiry: a negative exptime is already gone; touch on a missing key. */
    t_sends(fd, "set e 0 -1 1\r\nx\r\nget e\r\ntouch e 10\r\n");
    t_expect(fd, "STORED\r\nEND\r\nNOT_FOUND\r\n");
    free(v);
    close(fd);
    t_kvd_stop();
}

Test(kvd, lru_bounds_memory, .timeout = 60, .fini = t_fini)
{
    t_kvd_start("2"); /* 2 MiB: 1 MiB per core */
    int fd = t_connect();
    char *val = malloc(10000), cmd[64];
    memset(val, 'q', 10000);
    for (int i = 0; i < 1000; i++) { /* 10 MB through 2 MiB */
        int n = snprintf(cmd, sizeof(cmd), "set lru%d 0 0 10000\r\n", i);
        t_send(fd, cmd, (size_t)n);
        t_send(fd, val, 10000);
        t_sends(fd, "\r\n");
        t_expect(fd, "STORED\r\n");
    }
    /* The newest key survived; the oldest was evicted. */
    t_sends(fd, "get lru0\r\n");
    t_expect(fd, "END\r\n");
    t_sends(fd, "get lru999\r\n");
    t_expect(fd, "VALUE lru999 0 10000\r\n");
    char *rest = malloc(10000 + 8);
    memcpy(rest, val, 10000);
    memcpy(rest + 10000, "\r\nEND\r\n", 8);
    t_expect(fd, rest);
    free(rest);
    free(val);
    close(fd);
    /* stats: evictions happened, bytes stayed within the budget. */
    char c2[128];
    snprintf(c2, sizeof(c2), "memcstat --servers=127.0.0.1:%u 2>&1", t_port);
    if (t_have("memcstat")) {
        char *out = t_sh(c2), *p = strstr(out, "evictions: "), *b = strstr(out, "\tbytes: ");
        cr_assert(p && b, "%s", out);
        cr_assert_gt(atol(p + 11), 700, "evictions: %ld", atol(p + 11)); /* about 200 of the 1,000 fit */
        cr_assert_leq(atol(b + 8), 2 * 1024 * 1024);
        free(out);
    }
    t_kvd_stop();
}
