/*
 * test_faults.c: the server under injected faults (ISOCORE_FAULTS, see
 * core/fault.h) keeps serving, and every request it accepted gets an answer.
 *
 * `isocore serve --config` with 20 tenants on every reactor, every fault
 * kind on at once (allocations fail, SPSC rings refuse, the SQ fills,
 * receives get -ENOBUFS, accepts get -EMFILE, sends go out in pieces,
 * isolates fail to create); icload sends 20,000 requests over 64
 * connections spread over the tenants. Asserted: icload got an answer to
 * every request (no connect, protocol or lost errors), most are 200 and the
 * failed allocations and isolates show up as 503s; the server logged a
 * non-zero count for every kind, and exits 0 on SIGTERM. A malformed
 * ISOCORE_FAULTS is refused at start with a message that names it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_util.h"

#define TENANTS 20

static const char *const all_faults =
    "alloc=0.02,ring_full=0.3,sq_full=0.05,enobufs=0.2,emfile=0.3,short_send=0.5,isolate=0.2,seed=7";
static const char *const kinds[] = {"alloc", "ring_full", "sq_full", "enobufs", "emfile", "short_send", "isolate"};

static char dir[] = "/tmp/isocore-faults-XXXXXX";
static char cfg_path[sizeof(dir) + 16];

/* Writes a config of TENANTS tenants t0 … t19.example.com, each running tests/router/echo.js, on port. */
static void write_config(unsigned port)
{
    const char *src = getenv("ISOCORE_SRC");
    cr_assert(src, "run through ctest (ISOCORE_SRC)");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    snprintf(cfg_path, sizeof(cfg_path), "%s/cfg.json", dir);
    FILE *f = fopen(cfg_path, "w");
    cr_assert(f);
    fprintf(f, "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": %u}, \"workers\": [\n", port);
    for (int i = 0; i < TENANTS; i++)
        fprintf(f,
                "%s{\"name\": \"t%d\", \"module\": \"%s/tests/router/echo.js\", \"routes\": [\"t%d.example.com\"], \"env\": "
                "{\"NAME\": \"t%d\"}}\n",
                i ? "," : "", i, src, i, i);
    fprintf(f, "]}\n");
    cr_assert_eq(fclose(f), 0);
}

static void remove_config(void)
{
    unlink(cfg_path);
    rmdir(dir);
}

struct t_proc {
    pid_t pid;
    int err; /* its stderr */
};

/* Starts `isocore serve --config cfg_path` with ISOCORE_FAULTS=faults (its stderr on a pipe). */
static struct t_proc t_server(const char *faults)
{
    const char *bin = getenv("ISOCORE_BIN");
    cr_assert(bin, "run through ctest (ISOCORE_BIN)");
    static char env[256];
    snprintf(env, sizeof(env), "ISOCORE_FAULTS=%s", faults);
    const char *argv[] = {bin, "serve", "--config", cfg_path, NULL};
    struct t_proc s;
    s.pid = t_spawn(argv, env, &s.err);
    return s;
}
/* Reads the server's stderr until a line containing `want` (true), or until it closes (false); lines go to log. */
static bool t_wait_line(struct t_proc *s, const char *want, char *log, size_t cap)
{
    size_t n = strlen(log);
    for (;;) {
        size_t start = n;
        char c;
        while (n < cap - 1 && read(s->err, &c, 1) == 1) {
            log[n++] = c;
            if (c == '\n')
                break;
        }
        log[n] = 0;
        if (n == start)
            return false;
        if (strstr(log + start, want))
            return true;
    }
}

/* Reads the rest of the server's stderr into log and returns its exit status. */
static int t_reap(struct t_proc *s, char *log, size_t cap)
{
    size_t n = strlen(log);
    ssize_t r;
    while (n < cap - 1 && (r = read(s->err, log + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    log[n] = 0;
    close(s->err);
    int st;
    cr_assert_eq(waitpid(s->pid, &st, 0), s->pid);
    return st;
}

Test(faults, every_kind_at_once_every_request_answered, .timeout = 300, .fini = remove_config)
{
    const char *icload = getenv("ISOCORE_ICLOAD");
    cr_assert(icload, "run through ctest (ISOCORE_ICLOAD)");
    unsigned port = t_free_port();
    write_config(port);
    struct t_proc s = t_server(all_faults);
    static char log[1 << 16];
    log[0] = 0;
    cr_assert(t_wait_line(&s, "serving", log, sizeof(log)), "the server did not start: %s", log);

    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s --json -n 20000 -c 64 --hosts %d http://127.0.0.1:%u/ 2>&1", icload, TENANTS, port);
    FILE *load = popen(cmd, "r");
    cr_assert(load);
    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, load);
    out[n] = 0;
    int load_status = pclose(load);

    kill(s.pid, SIGTERM);
    int st = t_reap(&s, log, sizeof(log));
    cr_assert_eq(load_status, 0, "icload: %s", out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "server exit status %d: %s", st, log);

    /* Every request answered: 2xx and 5xx (only 503s are made by the faults) add up to what was sent. */
    double ok = t_json_num(out, "2xx"), failed = t_json_num(out, "5xx");
    cr_assert_eq(t_json_num(out, "connect"), 0, "%s", out);
    cr_assert_eq(t_json_num(out, "protocol"), 0, "%s", out);
    cr_assert_eq(t_json_num(out, "lost"), 0, "%s", out);
    cr_assert_eq(ok + failed, 20000, "%s", out);
    cr_assert_eq(t_json_num(out, "4xx"), 0, "%s", out);
    cr_assert_gt(failed, 0, "no 503 although allocations and isolates failed: %s", out);
    cr_assert_gt(ok, failed, "%s", out);

    /* "faults injected: alloc N, ring_full N, …": every kind fired. */
    const char *line = strstr(log, "faults injected: ");
    cr_assert(line, "no 'faults injected' line: %s", log);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char key[32];
        snprintf(key, sizeof(key), "%s ", kinds[i]);
        const char *k = strstr(line, key);
        cr_assert(k, "no count for %s in: %s", kinds[i], line);
        cr_assert_gt(strtoull(k + strlen(key), NULL, 10), 0, "%s never fired: %s", kinds[i], line);
    }
}

Test(faults, malformed_spec_refused_at_start, .timeout = 60, .fini = remove_config)
{
    write_config(t_free_port());
    static const char *const bad[][2] = {
        {"alloc=2", "alloc=2: expected a probability from 0 to 1"},
        {"nosuch=0.1", "unknown fault 'nosuch'"},
        {"alloc", "'alloc': expected name=probability"},
        {"seed=x", "seed 'x' is not a number"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct t_proc s = t_server(bad[i][0]);
        static char log[8192];
        log[0] = 0;
        int st = t_reap(&s, log, sizeof(log));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "ISOCORE_FAULTS=%s: exit status %d: %s", bad[i][0], st, log);
        cr_assert(strstr(log, bad[i][1]), "ISOCORE_FAULTS=%s: no '%s' in: %s", bad[i][0], bad[i][1], log);
        cr_assert_null(strstr(log, "serving"), "ISOCORE_FAULTS=%s: it served: %s", bad[i][0], log);
    }
}
