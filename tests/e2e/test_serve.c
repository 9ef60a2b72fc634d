/*
 * test_serve.c: the `isocore serve app.js` binary over real sockets: the
 * example workers answer over HTTP, errors become statuses, and SIGTERM
 * exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_util.h"

struct server {
    pid_t pid;
    int err_fd; /* the server's stderr */
    unsigned port;
};

/*
 * Starts the binary on an example (or, with extra "--config", on the config file `example`; else extra is one more
 * option, or an option and its value separated by a space) and waits for its "serving" line.
 */
static void start(struct server *s, const char *example, const char *extra)
{
    const char *bin = getenv("ISOCORE_BIN");
    cr_assert_not_null(bin, "ISOCORE_BIN is not set (run through ctest)");
    char path[1024], port[16];
    if (extra && strcmp(extra, "--config") == 0)
        snprintf(path, sizeof(path), "%s", example);
    else
        snprintf(path, sizeof(path), "%s/examples/%s", getenv("ISOCORE_SRC") ? getenv("ISOCORE_SRC") : ".", example);
    s->port = t_free_port();
    snprintf(port, sizeof(port), "%u", s->port);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    s->pid = fork();
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion ends the test process: the server goes with it */
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        if (extra && strcmp(extra, "--config") == 0)
            execl(bin, bin, "serve", "--config", path, "--port", port, "--cores", "2", (char *)NULL);
        else if (extra && strchr(extra, ' ')) { /* an option and its value: "--cpu-ms 1000" */
            char opt[256];
            snprintf(opt, sizeof(opt), "%s", extra);
            *strchr(opt, ' ') = '\0';
            execl(bin, bin, "serve", path, "--port", port, "--cores", "2", opt, opt + strlen(opt) + 1, (char *)NULL);
        } else if (extra)
            execl(bin, bin, "serve", path, "--port", port, "--cores", "2", extra, (char *)NULL);
        else
            execl(bin, bin, "serve", path, "--port", port, "--cores", "2", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    s->err_fd = p[0];
    char log[8192];
    size_t n = 0;
    while (n < sizeof(log) - 1) {
        ssize_t r = read(s->err_fd, log + n, sizeof(log) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        log[n] = '\0';
        if (strstr(log, "serving "))
            return;
    }
    log[n] = '\0';
    cr_assert_fail("the server did not start: %s", log);
}

/* Sends a request on a new connection and reads the whole response (the server closes: Connection: close). */
static int get(struct server *s, const char *target, char *body, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port), .sin_addr.s_addr = htonl(0x7f000001)};
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[256], buf[16384];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: e2e.example\r\nConnection: close\r\n\r\n", target);
    cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    size_t n = 0;
    for (ssize_t r; n < sizeof(buf) - 1 && (r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) > 0;)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.1 %d", &status);
    char *b = strstr(buf, "\r\n\r\n");
    snprintf(body, cap, "%s", b ? b + 4 : "");
    return status;
}

static void stop(struct server *s)
{
    kill(s->pid, SIGTERM);
    int st;
    cr_assert_eq(waitpid(s->pid, &st, 0), s->pid);
    close(s->err_fd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server exited with %d", st);
}

Test(serve, hello_json_and_errors_over_http, .timeout = 60)
{
    char body[4096];
    struct server s;
    start(&s, "hello.js", NULL);
    for (int i = 0; i < 20; i++) { /* connections spread over both cores */
        cr_assert_eq(get(&s, "/", body, sizeof(body)), 200);
        cr_assert_str_eq(body, "Hello World");
    }
    stop(&s);

    start(&s, "json.js", NULL);
    cr_assert_eq(get(&s, "/some/path?q=1", body, sizeof(body)), 200);
    cr_assert(strstr(body, "\"path\":\"/some/path\"") && strstr(body, "\"items\":[1,2,3,4,5,6,7,8,9,10]"), "%s", body);
    stop(&s);

    start(&s, "error.js", NULL);
    cr_assert_eq(get(&s, "/throw", body, sizeof(body)), 500);
    cr_assert_eq(get(&s, "/loop", body, sizeof(body)), 503);
    cr_assert_eq(get(&s, "/fine", body, sizeof(body)), 200, "the isolate serves after a throw and a loop");
    stop(&s);

    start(&s, "async.js", NULL);
    int status = get(&s, "/?ms=30", body, sizeof(body));
    stop(&s);
    cr_assert_eq(status, 200);
    cr_assert(strncmp(body, "waited ", 7) == 0 && atoi(body + 7) >= 30, "a 30 ms timer: %s", body);
}

static void write_config(const char *path, const char *greeting)
{
    char hello[1024];
    snprintf(hello, sizeof(hello), "%s/examples/json.js", getenv("ISOCORE_SRC") ? getenv("ISOCORE_SRC") : ".");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"workers\": [{\"name\": \"%s\", \"module\": \"%s\", \"routes\": [\"/\"]}]}\n", greeting, hello);
    fclose(f);
}

Test(serve, config_file_sighup_reload_and_check, .timeout = 60)
{
    char path[] = "/tmp/isocore-e2e-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    write_config(path, "first");
    struct server s;
    char body[4096];
    start(&s, path, "--config");
    int status = get(&s, "/x", body, sizeof(body));
    /* A bad config on SIGHUP is refused and the running one stays; a good one takes over. */
    FILE *f = fopen(path, "w");
    fputs("{\"workers\": 7}", f);
    fclose(f);
    kill(s.pid, SIGHUP);
    int still = get(&s, "/y", body, sizeof(body));
    write_config(path, "second");
    kill(s.pid, SIGHUP);
    /* The reload happens on the server's main thread: poll with real requests (bounded) until the new tenant answers. */
    int tries = 0, after = 0;
    char log[16384];
    for (; tries < 2000; tries++) {
        after = get(&s, "/z", body, sizeof(body));
        if (after != 200)
            break;
        ssize_t n = read(s.err_fd, log, sizeof(log) - 1);
        if (n > 0) {
            log[n] = '\0';
            if (strstr(log, "reload: ") && strstr(log, "1 tenants"))
                break;
        }
    }
    stop(&s);
    const char *bin = getenv("ISOCORE_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s check --config %s >/dev/null 2>&1", bin, path);
    int ok = system(cmd);
    snprintf(cmd, sizeof(cmd), "echo '{\"workers\": []}' > %s && %s check --config %s 2>/dev/null", path, bin, path);
    int bad = system(cmd);
    unlink(path);
    cr_assert_eq(status, 200);
    cr_assert_eq(still, 200, "a bad config on reload must not stop serving");
    cr_assert_eq(after, 200);
    cr_assert_lt(tries, 2000, "the reload never happened");
    cr_assert_eq(ok, 0, "isocore check accepts a good config");
    cr_assert_neq(bad, 0, "isocore check refuses a bad config");
}

/* True when the thread (or, with tid 0, the main thread) blocks SIGTERM: its SigBlk line in /proc/PID[/task/TID]/status. */
static bool sigterm_blocked_in(pid_t pid, pid_t tid)
{
    char path[96], line[256];
    if (tid)
        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
    else
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool blocked = false;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "SigBlk:", 7)) {
            unsigned long long mask = strtoull(line + 7, NULL, 16);
            blocked = mask & (1ull << (SIGTERM - 1));
        }
    fclose(f);
    return blocked;
}

/*
 * A SIGTERM during start-up (V8 still initialising, no reactor yet) is not
 * the default action's exit 143: the signals are blocked first thing in main,
 * so it waits for the reactors' signalfd and the server drains and exits 0.
 * The signal is sent as soon as the block is seen, long before "serving".
 */
Test(serve, sigterm_during_start_up_drains_and_exits_0, .timeout = 60)
{
    const char *bin = getenv("ISOCORE_BIN");
    cr_assert_not_null(bin, "ISOCORE_BIN is not set (run through ctest)");
    char path[1024], port[16];
    snprintf(path, sizeof(path), "%s/examples/hello.js", getenv("ISOCORE_SRC") ? getenv("ISOCORE_SRC") : ".");
    snprintf(port, sizeof(port), "%u", t_free_port());
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execl(bin, bin, "serve", path, "--port", port, "--cores", "2", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    /* Bounded: the block comes in main's first lines; 20,000 polls of /proc take far longer than exec. */
    bool seen = false;
    for (int i = 0; i < 20000 && !(seen = sigterm_blocked_in(pid, 0)); i++)
        sched_yield();
    cr_assert(seen, "the server never blocked SIGTERM");
    cr_assert_eq(kill(pid, SIGTERM), 0);
    char log[8192];
    size_t n = 0;
    for (ssize_t r; n < sizeof(log) - 1 && (r = read(p[0], log + n, sizeof(log) - 1 - n)) > 0;)
        n += (size_t)r;
    log[n] = '\0';
    close(p[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server ended with status %d (143 is SIGTERM's default action): %s", st,
              log);
    cr_assert(strstr(log, "stopping"), "no stopping line: %s", log);
}

/* How many times needle occurs in s. */
static unsigned count_of(const char *s, const char *needle)
{
    unsigned n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* A connection to the server with req sent on it (no Connection: close: it stays open). */
static int t_send(struct server *s, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port), .sin_addr.s_addr = htonl(0x7f000001)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    return fd;
}

/* Reads the server's stderr into log (n bytes so far, NUL-terminated) until needle occurs there `times` times. */
static void t_log_until(struct server *s, char *log, size_t cap, size_t *n, const char *needle, unsigned times)
{
    while (*n < cap - 1 && count_of(log, needle) < times) {
        ssize_t r = read(s->err_fd, log + *n, cap - 1 - *n);
        cr_assert_gt(r, 0, "the server ended before it said '%s' %u times: %s", needle, times, log);
        *n += (size_t)r;
        log[*n] = '\0';
    }
    cr_assert_geq(count_of(log, needle), times, "the log filled up before '%s' came %u times", needle, times);
}

/*
 * SIGINT, and once the server said it is stopping (the drain has begun), SIGTERM: asserts that the server exits
 * within 20 s (the exit takes milliseconds) with status 0. Under ASan a leak fails the exit (LeakSanitizer's exit
 * code), so 0 also says that nothing was abandoned. Its stderr is read meanwhile (a server blocked writing to a full
 * pipe would never exit) and the last of it goes into the message of a failure (LeakSanitizer's report comes last).
 * Returns that last part of its stderr.
 */
static const char *t_second_signal(struct server *s, char *log, size_t cap, size_t *n)
{
    kill(s->pid, SIGINT);
    t_log_until(s, log, cap, n, "stopping", 1);
    uint64_t t0 = ic_clock_ns();
    kill(s->pid, SIGTERM);
    int st = 0;
    pid_t got = 0;
    static char tail[16 * 1024], buf[8192];
    size_t tn = 0;
    fcntl(s->err_fd, F_SETFL, O_NONBLOCK);
    for (bool done = false; !done;) {
        done = (got = waitpid(s->pid, &st, WNOHANG)) != 0 || ic_clock_ns() - t0 >= 20 * 1000000000ull;
        for (ssize_t r; (r = read(s->err_fd, buf, sizeof(buf))) > 0;) {
            if (tn + (size_t)r > sizeof(tail) - 1) { /* r <= sizeof(buf) < sizeof(tail): keep the newest bytes */
                size_t keep = sizeof(tail) - 1 - (size_t)r;
                memmove(tail, tail + tn - keep, keep);
                tn = keep;
            }
            memcpy(tail + tn, buf, (size_t)r);
            tn += (size_t)r;
        }
        tail[tn] = '\0';
        struct timespec ms = {0, 1000000};
        if (!done)
            nanosleep(&ms, NULL);
    }
    if (got == 0)
        kill(s->pid, SIGKILL);
    close(s->err_fd);
    cr_assert_eq(got, s->pid, "the server was still running 20 s after the second signal");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server exited with %d: %s", st, tail);
    return tail;
}

/* The response on fd (read until the server closed it, 10 s at most; the server has exited by then). */
static void t_response(int fd, char *resp, size_t cap)
{
    size_t rn = 0;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (ssize_t r; rn < cap - 1 && (r = recv(fd, resp + rn, cap - 1 - rn, 0)) > 0;)
        rn += (size_t)r;
    resp[rn] = '\0';
}

/*
 * A second signal while the first one's drain waits for a request (a 5 s timer in workers/began.js): the process
 * exits at once, its open connections cancelled. (Before, the cancelled receive of a kept-alive connection re-armed
 * itself on every cancellation: the exit never ended and burnt a CPU.) The exit is clean: each core disposes its
 * worker (the two requests waiting in JS get 503), closes its connections and frees them before it exits, so under
 * ASan LeakSanitizer finds nothing.
 */
Test(serve, second_signal_exits_without_draining, .timeout = 60)
{
    struct server s;
    start(&s, "../tests/e2e/workers/began.js", NULL);
    char body[256];
    cr_assert_eq(get(&s, "/?ms=1", body, sizeof(body)), 200, "%s", body);
    /* Two connections, each with a request that waits 5 s: the drain must wait for them. */
    int fd[2];
    for (int i = 0; i < 2; i++)
        fd[i] = t_send(&s, "GET /?ms=5000 HTTP/1.1\r\nHost: e2e.example\r\n\r\n");
    /* Both requests are in the worker once it said so on stderr; then the signals. */
    char log[8192];
    size_t n = 0;
    log[0] = '\0';
    t_log_until(&s, log, sizeof(log), &n, "began 5000", 2);
    t_second_signal(&s, log, sizeof(log), &n);
    /* The requests waiting in JS were answered 503 before their connections closed (they could still take it). */
    for (int i = 0; i < 2; i++) {
        char resp[1024];
        t_response(fd[i], resp, sizeof(resp));
        cr_assert(strncmp(resp, "HTTP/1.1 503", 12) == 0, "connection %d got: %s", i, resp);
        close(fd[i]);
    }
}

/*
 * A request stuck in JS (an endless loop, with a CPU limit of an hour) during the drain: the second signal does not
 * wait for it. The watchdog terminates it (js/watchdog.cc: no limit during an exit without draining), so its core
 * comes back to its loop, answers it 503 and exits clean.
 */
Test(serve, second_signal_ends_a_request_stuck_in_js, .timeout = 60)
{
    struct server s;
    start(&s, "../tests/e2e/workers/began.js", "--cpu-ms 3600000");
    int fd = t_send(&s, "GET /?spin=1 HTTP/1.1\r\nHost: e2e.example\r\n\r\n");
    char log[8192];
    size_t n = 0;
    log[0] = '\0';
    t_log_until(&s, log, sizeof(log), &n, "spinning", 1);
    t_second_signal(&s, log, sizeof(log), &n);
    char resp[1024];
    t_response(fd, resp, sizeof(resp));
    cr_assert(strncmp(resp, "HTTP/1.1 503", 12) == 0, "the stuck request got: %s", resp);
    close(fd);
}

/*
 * The same with a config of two tenants on the two cores and an admin listener (tools/isocore.c config_abort): a
 * request waiting in JS (answered 503 at the first signal: the router lets go of its workers at the stop), and a
 * client that stops reading a 16 MiB response, which would hold the drain until its deadline (30 s): the second signal
 * cuts it (200 ms after, ic_http_server_cut) and the exit is clean.
 */
Test(serve, second_signal_with_a_config_exits_clean, .timeout = 60)
{
    char path[] = "/tmp/isocore-e2e-XXXXXX";
    int cfd = mkstemp(path);
    cr_assert_geq(cfd, 0);
    FILE *f = fdopen(cfd, "w");
    const char *src = getenv("ISOCORE_SRC") ? getenv("ISOCORE_SRC") : ".";
    fprintf(f,
            "{\"admin\": {\"host\": \"127.0.0.1\", \"port\": 0}, \"workers\": ["
            "{\"name\": \"a\", \"module\": \"%s/tests/e2e/workers/began.js\", \"routes\": [\"a.example\"]},"
            "{\"name\": \"b\", \"module\": \"%s/tests/e2e/workers/began.js\", \"routes\": [\"b.example\"]}]}\n",
            src, src);
    fclose(f);
    struct server s;
    start(&s, path, "--config");
    unlink(path);
    int wait = t_send(&s, "GET /?ms=5000 HTTP/1.1\r\nHost: a.example\r\n\r\n");
    int big = t_send(&s, "GET /?bytes=16777216 HTTP/1.1\r\nHost: b.example\r\n\r\n");
    /* The big response is being sent once its first bytes are here; then this client reads no more. */
    char resp[1024];
    cr_assert_gt(recv(big, resp, 12, MSG_WAITALL), 0);
    char log[8192];
    size_t n = 0;
    log[0] = '\0';
    t_log_until(&s, log, sizeof(log), &n, "began 5000", 1);
    const char *tail = t_second_signal(&s, log, sizeof(log), &n);
    /* 16 MiB is more than the socket buffers hold for a client that does not read (4 MiB + its receive window). */
    cr_assert(strstr(tail, "connection(s) whose exchange had not ended"), "%s", tail);
    /*
     * Its 503 comes from the tenant's owner core, which may be the other one: the connection's core waits 200 ms for
     * it (ic_http_server_cut) and cuts it if it is not there by then (a loaded machine), so no answer is a right one too.
     */
    t_response(wait, resp, sizeof(resp));
    cr_assert(resp[0] == '\0' || strncmp(resp, "HTTP/1.1 503", 12) == 0, "the waiting request got: %s", resp);
    close(wait);
    close(big);
}
