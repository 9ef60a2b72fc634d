/*
 * test_handover.c: SIGTERM drains without losing a request, and a second
 * process on the same port takes over (SO_REUSEPORT). icload runs an open
 * loop at 2,000 requests/s for 3 s against `isocore serve --static` A; a
 * second server B starts on the same port while the load runs, then A gets
 * SIGTERM: A stops accepting, answers what it has (Connection: close) and
 * exits 0; icload reconnects to B. Asserted: every request icload made was
 * answered 200 (no connect, protocol or lost errors), A and B each served
 * some, and A's and B's counts add up to icload's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_util.h"

struct t_proc {
    pid_t pid;
    int err; /* its stderr */
};

/*
 * Starts `isocore serve --static TEXT --port P --cores 1` and waits for its "serving" line; a TEXT ending in ".js" is
 * served as a worker instead (`isocore serve FILE`).
 */
static struct t_proc t_server(const char *bin, const char *text, unsigned port)
{
    char ps[16];
    snprintf(ps, sizeof(ps), "%u", port);
    size_t tl = strlen(text);
    bool js = tl > 3 && strcmp(text + tl - 3, ".js") == 0;
    const char *argv_static[] = {bin, "serve", "--static", text, "--port", ps, "--cores", "1", NULL};
    const char *argv_js[] = {bin, "serve", text, "--port", ps, "--cores", "1", NULL};
    const char **argv = js ? argv_js : argv_static;
    struct t_proc s;
    s.pid = t_spawn(argv, NULL, &s.err);
    char line[512];
    size_t n = 0;
    while (n < sizeof(line) - 1 && read(s.err, line + n, 1) == 1 && line[n] != '\n')
        n++;
    line[n] = 0;
    cr_assert(strstr(line, js ? "serving " : "serving static text"), "server %s did not start: '%s'", text, line);
    return s;
}

/* Waits for the server to exit (status 0) and returns the request count of its "stopped:" line. */
static unsigned long long t_reap(struct t_proc *s)
{
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) - 1 && (r = read(s->err, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    close(s->err);
    int st;
    cr_assert_eq(waitpid(s->pid, &st, 0), s->pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "server exit status %d: %s", st, buf);
    const char *p = strstr(buf, "stopped: ");
    cr_assert(p, "no 'stopped:' line in '%s'", buf);
    return strtoull(p + 9, NULL, 10);
}

/* The hand-over from A (serving `a`) to B (serving `b`) under icload's open loop; see the top of the file. */
static void t_handover(const char *a_text, const char *b_text)
{
    const char *bin = getenv("ISOCORE_BIN"), *icload = getenv("ISOCORE_ICLOAD");
    cr_assert(bin && icload, "run through ctest (ISOCORE_BIN, ISOCORE_ICLOAD)");
    unsigned port = t_free_port();

    struct t_proc a = t_server(bin, a_text, port);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s --json -c 16 -R 2000 -d 3 http://127.0.0.1:%u/ 2>&1", icload, port);
    FILE *load = popen(cmd, "r");
    cr_assert(load);
    /*
     * The hand-over happens while the load runs: B starts 1 s in, then A is
     * told to stop. (A delay in the scenario, not a synchronisation: the
     * assertions hold whenever it happens; A's and B's counts show it did.)
     */
    struct timespec second = {1, 0};
    nanosleep(&second, NULL);
    struct t_proc b = t_server(bin, b_text, port);
    kill(a.pid, SIGTERM);
    unsigned long long served_a = t_reap(&a);

    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, load);
    out[n] = 0;
    cr_assert_eq(pclose(load), 0, "icload: %s", out);
    kill(b.pid, SIGTERM);
    unsigned long long served_b = t_reap(&b);

    double requests = t_json_num(out, "requests");
    /* 2,000/s for 3 s: what is under test is that none failed; a loaded machine may complete fewer in the time. */
    cr_assert_gt(requests, 4200, "%s", out);
    cr_assert_eq(t_json_num(out, "2xx"), requests, "%s", out);
    cr_assert_eq(t_json_num(out, "connect"), 0, "%s", out);
    cr_assert_eq(t_json_num(out, "protocol"), 0, "%s", out);
    cr_assert_eq(t_json_num(out, "lost"), 0, "%s", out);
    cr_assert_eq(t_json_num(out, "dropped"), 0, "%s", out);
    cr_assert_gt(served_a, 0);
    cr_assert_gt(served_b, 0, "B served nothing: the hand-over did not happen during the load");
    /* Requests still on their way when icload stopped reached B but were not counted: at most one per connection. */
    cr_assert(served_a + served_b >= requests && served_a + served_b <= requests + 16, "A %llu + B %llu vs icload %.0f", served_a,
              served_b, requests);
}

Test(handover, sigterm_drains_and_a_new_process_takes_the_port, .timeout = 60)
{
    t_handover("A", "B");
}

/*
 * The same with a JS worker on A: requests that reach A after its stop (an idle keep-alive connection's last one, the
 * exchanges in progress) still need its worker, which lives until A's connections are gone (it was freed at the stop
 * and such a request crashed A).
 */
Test(handover, sigterm_drains_a_js_worker_and_a_new_process_takes_the_port, .timeout = 60)
{
    char hello[4096];
    snprintf(hello, sizeof(hello), "%s/examples/hello.js", getenv("ISOCORE_SRC") ? getenv("ISOCORE_SRC") : ".");
    t_handover(hello, "B");
}
