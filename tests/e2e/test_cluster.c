/*
 * test_cluster.c: isocore nodes behind HAProxy, and kvd nodes behind
 * nutcracker, as tools/cluster.sh starts them on loopback (docs/cluster.md).
 *
 * HAProxy: three nodes; each of 50 Host names lands on the same node every
 * time (x-isocore-node); one node gets SIGKILL: once the health check took
 * it out (HAProxy's stats, polled), every request still succeeds, the
 * tenants of the killed node moved and no other tenant did; then a rolling
 * restart and a reload of the nodes left run under icload's open loop with
 * no failed request; a config that `isocore check` refuses reaches no node.
 *
 * kvd: three nodes behind nutcracker (ketama): keys set through the proxy
 * come back through it, each key is on exactly one node and every node has
 * some; memccp/memccat round-trip a file through the proxy; the
 * memccapable checks that twemproxy can pass (see docs/cluster.md) pass.
 *
 * A node alone (no balancer): /healthz answers 200 ready once it runs, 503
 * draining after SIGTERM while a client connection holds the drain;
 * --node-name wins over the config's "node"; bad names are refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_util.h"

#define T_HOSTS 50

static char t_dir[64];
static char t_script[2048];

static bool t_have(const char *tool)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

/* Runs a shell command; returns its output (malloc'd) and its exit status in *status. */
static char *t_sh(const char *cmd, int *status)
{
    FILE *f = popen(cmd, "r");
    cr_assert(f);
    size_t cap = 1 << 16, n = 0, r;
    char *out = malloc(cap);
    while (n < cap - 1 && (r = fread(out + n, 1, cap - 1 - n, f)) > 0)
        n += r;
    out[n] = 0;
    int st = pclose(f);
    if (status)
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* tools/cluster.sh ARGS in the test's run directory; asserts exit status `want`. */
static void t_cluster(const char *args, int want)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "%s %s 2>&1", t_script, args);
    int st;
    char *out = t_sh(cmd, &st);
    cr_log_info("cluster.sh %s: %s", args, out);
    char said[2048];
    snprintf(said, sizeof(said), "%s", out);
    free(out); /* before a failed assertion ends the test */
    cr_assert_eq(st, want, "cluster.sh %s exited %d (want %d): %s", args, st, want, said);
}

static void t_setup(void)
{
    const char *src = getenv("ISOCORE_SRC"), *build = getenv("ISOCORE_BUILD_DIR");
    cr_assert(src && build, "run through ctest (ISOCORE_SRC, ISOCORE_BUILD_DIR)");
    snprintf(t_script, sizeof(t_script), "%s/tools/cluster.sh", src);
    snprintf(t_dir, sizeof(t_dir), "/tmp/icclusterXXXXXX");
    cr_assert(mkdtemp(t_dir));
    setenv("ISOCORE_CLUSTER_DIR", t_dir, 1);
    char kvd[4096];
    snprintf(kvd, sizeof(kvd), "%s/examples/kvd", build);
    setenv("ISOCORE_KVD", kvd, 1);
}

static void t_fini(void)
{
    if (!t_dir[0])
        return;
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "%s down >/dev/null 2>&1; %s kvd-down >/dev/null 2>&1; rm -rf %s", t_script, t_script, t_dir);
    cr_assert_eq(system(cmd), 0);
}

static unsigned t_port_env(const char *name)
{
    unsigned p = t_free_port();
    char v[16];
    snprintf(v, sizeof(v), "%u", p);
    setenv(name, v, 1);
    return p;
}

/*
 * GET path on 127.0.0.1:port with Host host, one connection; returns the
 * status (0 when the connection or the answer failed) and copies the value
 * of x-isocore-node into node (node[0] = 0 when absent). body: the whole
 * answer when not NULL (cap bytes).
 */
static int t_get(unsigned port, const char *host, const char *path, char *node, size_t nodecap, char *body, size_t cap)
{
    char buf[1 << 16];
    if (node)
        node[0] = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return 0;
    }
    int n = snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
    if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return 0;
    }
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(buf) - 1 && (r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
        got += (size_t)r;
    close(fd);
    buf[got] = 0;
    int status = 0;
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        return 0;
    const char *h = strcasestr(buf, "\r\nx-isocore-node: ");
    if (h && node) {
        h += 18;
        size_t k = strcspn(h, "\r\n");
        snprintf(node, nodecap, "%.*s", (int)(k < nodecap ? k : nodecap - 1), h);
    }
    if (body)
        snprintf(body, cap, "%s", buf);
    return status;
}

/* HAProxy's status of server `name` in backend isocore (UP, DOWN, …) from the stats CSV, in out. */
static void t_haproxy_state(unsigned stats, const char *name, char *out, size_t cap)
{
    static char csv[1 << 16];
    out[0] = 0;
    if (t_get(stats, "localhost", "/;csv", NULL, 0, csv, sizeof(csv)) != 200)
        return;
    char want[64];
    snprintf(want, sizeof(want), "\nisocore,%s,", name);
    const char *line = strstr(csv, want);
    if (!line)
        return;
    line++;
    for (int field = 1; field < 18 && line; field++) {
        line = strchr(line, ',');
        if (line)
            line++;
    }
    if (line)
        snprintf(out, cap, "%.*s", (int)strcspn(line, ","), line);
}

/* Requests HAProxy's frontend www took so far (req_tot, field 49 of its stats CSV line). */
static unsigned long t_frontend_requests(unsigned stats)
{
    static char csv[1 << 16];
    if (t_get(stats, "localhost", "/;csv", NULL, 0, csv, sizeof(csv)) != 200)
        return 0;
    const char *line = strstr(csv, "\nwww,FRONTEND,");
    if (!line)
        return 0;
    line++;
    for (int field = 1; field < 49 && line; field++) {
        line = strchr(line, ',');
        if (line)
            line++;
    }
    return line ? strtoul(line, NULL, 10) : 0;
}

static double t_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* icload's open loop through HAProxy, running: 400 requests/s over the 50 tenants. */
struct t_load {
    pid_t pid;
    int out;
};

/* Starts the load for `secs` seconds and returns once HAProxy has seen 100 of its requests (bounded). */
static struct t_load t_load_start(unsigned front, unsigned stats, const char *secs)
{
    static char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", front);
    const char *icload = getenv("ISOCORE_ICLOAD");
    cr_assert(icload);
    const char *argv[] = {icload, "-R", "400", "-c", "8", "-d", secs, "--hosts", "50", "--json", url, NULL};
    unsigned long base = t_frontend_requests(stats);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    struct t_load l = {fork(), p[0]};
    cr_assert_geq(l.pid, 0);
    if (l.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(icload, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    for (int i = 0; i < 300 && t_frontend_requests(stats) < base + 100; i++) {
        struct timespec ts = {0, 10 * 1000000}; /* a poll interval: the loop checks the count */
        nanosleep(&ts, NULL);
    }
    cr_assert_geq(t_frontend_requests(stats), base + 100, "icload's requests do not reach HAProxy");
    return l;
}

/* Waits for the load to end and asserts that every request it made was answered 200. */
static void t_load_end(struct t_load *l, const char *during)
{
    char out[4096];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(out) - 1 && (r = read(l->out, out + got, sizeof(out) - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(l->out);
    int st;
    cr_assert_eq(waitpid(l->pid, &st, 0), l->pid);
    cr_log_info("icload during %s: %s", during, out);
    double requests = t_json_num(out, "requests");
    cr_assert_gt(requests, 600, "%s", out);
    cr_assert_eq(t_json_num(out, "2xx"), requests, "during %s, every request answered 200: %s", during, out);
    cr_assert_eq(t_json_num(out, "connect") + t_json_num(out, "protocol") + t_json_num(out, "lost"), 0, "%s", out);
}

/* Where each of the T_HOSTS tenants is answered; asserts 200 for each. */
static void t_placement(unsigned front, char nodes[T_HOSTS][16])
{
    for (int i = 0; i < T_HOSTS; i++) {
        char host[64];
        snprintf(host, sizeof(host), "t%d.example.com", i);
        int st = t_get(front, host, "/", nodes[i], sizeof(nodes[i]), NULL, 0);
        cr_assert_eq(st, 200, "%s: status %d", host, st);
        cr_assert(nodes[i][0], "%s: no x-isocore-node", host);
    }
}

Test(cluster, haproxy_sticky_node_loss_rolling_restart, .timeout = 120, .init = t_setup, .fini = t_fini)
{
    if (!t_have("haproxy"))
        cr_skip_test("haproxy not installed (tools/setup.sh installs it)");
    /* The config and its worker in the run directory, so that the test can break the config later. */
    char cmd[8192], cfg[128];
    snprintf(cmd, sizeof(cmd), "cp %s/examples/cluster/isocore.json %s/examples/cluster/tenant.js %s/", getenv("ISOCORE_SRC"),
             getenv("ISOCORE_SRC"), t_dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cfg, sizeof(cfg), "%s/isocore.json", t_dir);
    unsigned front = t_port_env("ISOCORE_CLUSTER_PORT"), stats = t_port_env("ISOCORE_CLUSTER_STATS_PORT");
    snprintf(cmd, sizeof(cmd), "up 3 %s", cfg);
    t_cluster(cmd, 0);

    /* Sticky: the same node for a tenant, three times over; the tenants are spread over the nodes. */
    static char first[T_HOSTS][16], again[T_HOSTS][16], after[T_HOSTS][16];
    t_placement(front, first);
    for (int round = 0; round < 2; round++) {
        t_placement(front, again);
        for (int i = 0; i < T_HOSTS; i++)
            cr_assert_str_eq(again[i], first[i], "t%d moved from %s to %s with no change", i, first[i], again[i]);
    }
    int on[4] = {0};
    for (int i = 0; i < T_HOSTS; i++) {
        int k = first[i][1] - '0';
        cr_assert(first[i][0] == 'n' && k >= 1 && k <= 3 && !first[i][2], "node '%s'", first[i]);
        on[k]++;
    }
    cr_log_info("tenants per node: n1 %d, n2 %d, n3 %d", on[1], on[2], on[3]);
    cr_assert(on[1] > 0 && on[2] > 0 && on[3] > 0, "every node has tenants: %d %d %d", on[1], on[2], on[3]);

    /* Node loss under an open loop: n1 gets SIGKILL; requests made before the check notices are retried elsewhere. */
    struct t_load l = t_load_start(front, stats, "3");
    double t0 = t_now();
    t_cluster("kill n1", 0);
    char state[32] = "";
    for (int i = 0; i < 800; i++) {
        t_haproxy_state(stats, "n1", state, sizeof(state));
        if (!strcmp(state, "DOWN"))
            break;
        struct timespec ts = {0, 10 * 1000000}; /* a poll interval, not a synchronisation: the loop checks the state */
        nanosleep(&ts, NULL);
    }
    cr_assert_str_eq(state, "DOWN", "HAProxy did not take n1 out within 8 s");
    cr_log_info("n1 out of HAProxy %.2f s after SIGKILL", t_now() - t0);
    t_load_end(&l, "the loss of n1");
    t_placement(front, after);
    int moved = 0;
    for (int i = 0; i < T_HOSTS; i++) {
        if (!strcmp(first[i], "n1")) {
            cr_assert_str_neq(after[i], "n1", "t%d still on the dead node", i);
            moved++;
        } else {
            cr_assert_str_eq(after[i], first[i], "t%d moved from %s to %s although its node stayed", i, first[i], after[i]);
        }
    }
    cr_log_info("node loss: %d of %d tenants moved (those of n1)", moved, T_HOSTS);
    cr_assert_eq(moved, on[1]);

    /* n1 comes back on its ports: once HAProxy sees it up, its tenants are back on it (the same ring). */
    t_cluster("start n1", 0);
    t_placement(front, again);
    for (int i = 0; i < T_HOSTS; i++)
        cr_assert_str_eq(again[i], first[i], "t%d on %s, not back on %s", i, again[i], first[i]);

    /* Rolling restart and reload of every node under an open loop: not one request may fail. */
    /* Long enough for three starts of a node (a sanitizer build starts V8 slowly). */
    const char *san = getenv("ISOCORE_SANITIZE");
    l = t_load_start(front, stats, san && *san ? "20" : "6");
    t0 = t_now();
    t_cluster("restart", 0);
    t_cluster("reload", 0);
    cr_log_info("rolling restart and reload took %.2f s", t_now() - t0);
    cr_assert_eq(waitpid(l.pid, NULL, WNOHANG), 0, "the load ended before the restart did");
    t_load_end(&l, "the rolling restart");
    /* Still sticky after the restart. */
    t_placement(front, again);
    for (int i = 0; i < T_HOSTS; i++)
        cr_assert_str_eq(again[i], first[i], "t%d moved from %s to %s in the restart", i, first[i], again[i]);

    /* A config that isocore check refuses reaches no node: reload fails and no node logs a reload. */
    snprintf(cmd, sizeof(cmd), "cat %s/n*.log | grep -c 'reload: '", t_dir);
    char *before = t_sh(cmd, NULL);
    FILE *f = fopen(cfg, "w");
    cr_assert(f);
    fputs("{\"workers\": [{\"name\": \"x\", \"module\": \"missing.js\", \"routes\": [\"x.example.com\"]}], \"bogus\": 1}\n", f);
    fclose(f);
    t_cluster("reload", 1);
    char *later = t_sh(cmd, NULL);
    cr_assert_str_eq(later, before, "a node reloaded a refused config");
    free(before);
    free(later);
    t_placement(front, again); /* and the nodes still serve */
}

/* Sends a command to 127.0.0.1:port and reads until `end` appears (or 5 s); returns the reply (malloc'd). */
static char *t_mc(unsigned port, const char *cmd, const char *end)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect %u: %s", port, strerror(errno));
    size_t len = strlen(cmd);
    cr_assert_eq(send(fd, cmd, len, MSG_NOSIGNAL), (ssize_t)len);
    size_t cap = 1 << 16, got = 0;
    char *out = malloc(cap);
    out[0] = 0;
    ssize_t r;
    while (!strstr(out, end) && got < cap - 1 && (r = recv(fd, out + got, cap - 1 - got, 0)) > 0) {
        got += (size_t)r;
        out[got] = 0;
    }
    close(fd);
    return out;
}

Test(cluster, kvd_behind_nutcracker, .timeout = 120, .init = t_setup, .fini = t_fini)
{
    if (!t_have("nutcracker"))
        cr_skip_test("nutcracker not installed (tools/setup.sh installs it)");
    unsigned proxy = t_port_env("ISOCORE_CLUSTER_KVD_PORT");
    t_port_env("ISOCORE_CLUSTER_KVD_STATS_PORT");
    t_cluster("kvd-up 3", 0);
    unsigned node[3];
    for (int k = 0; k < 3; k++) {
        char path[128], name[16];
        snprintf(path, sizeof(path), "%s/k%d.kvd", t_dir, k + 1);
        FILE *f = fopen(path, "r");
        cr_assert(f, "no %s", path);
        int pid;
        cr_assert_eq(fscanf(f, "%15s %d %u", name, &pid, &node[k]), 3);
        fclose(f);
    }

    /* 300 keys set through the proxy, all read back through it, each found on exactly one node. */
    enum { KEYS = 300 };
    char *out;
    for (int i = 0; i < KEYS; i++) {
        char one[64];
        snprintf(one, sizeof(one), "set key%d 0 0 %d\r\nv%d\r\n", i, (int)snprintf(NULL, 0, "v%d", i), i);
        out = t_mc(proxy, one, "\r\n");
        cr_assert_str_eq(out, "STORED\r\n", "set key%d through the proxy", i);
        free(out);
    }
    int stored = 0;
    for (int i = 0; i < KEYS; i++) {
        char one[64], want[64];
        snprintf(one, sizeof(one), "get key%d\r\n", i);
        snprintf(want, sizeof(want), "VALUE key%d 0 %d\r\nv%d\r\nEND\r\n", i, (int)snprintf(NULL, 0, "v%d", i), i);
        out = t_mc(proxy, one, "END\r\n");
        stored += strcmp(out, want) == 0;
        free(out);
    }
    cr_assert_eq(stored, KEYS, "read back through the proxy: %d of %d", stored, KEYS);
    int per[3] = {0};
    for (int i = 0; i < KEYS; i++) {
        char one[64];
        snprintf(one, sizeof(one), "get key%d\r\n", i);
        int holders = 0;
        for (int k = 0; k < 3; k++) {
            out = t_mc(node[k], one, "END\r\n");
            if (strstr(out, "VALUE ")) {
                holders++;
                per[k]++;
            }
            free(out);
        }
        cr_assert_eq(holders, 1, "key%d is on %d nodes", i, holders);
    }
    cr_log_info("keys per kvd node: %d %d %d", per[0], per[1], per[2]);
    cr_assert(per[0] > 0 && per[1] > 0 && per[2] > 0);

    /* Debian's memcached clients through the proxy. */
    if (t_have("memccp")) {
        char sh[1024];
        snprintf(sh, sizeof(sh),
                 "cd %s && head -c 300000 /dev/urandom > blob.bin && memccp --servers=127.0.0.1:%u blob.bin && "
                 "memccat --servers=127.0.0.1:%u blob.bin | head -c 300000 | cmp - blob.bin && echo SAME",
                 t_dir, proxy, proxy);
        out = t_sh(sh, NULL);
        cr_assert(strstr(out, "SAME"), "memccp/memccat through nutcracker: %s", out);
        free(out);
    }
    if (t_have("memccapable")) {
        /* The checks of memccapable's ASCII suite that do not send what twemproxy refuses (docs/cluster.md). */
        static const char *const ok[] = {"ascii mget", "ascii incr", "ascii decr", "ascii append", "ascii prepend"};
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
            char sh[256];
            snprintf(sh, sizeof(sh), "memccapable -h 127.0.0.1 -p %u -a -t 5 -T '%s' 2>&1", proxy, ok[i]);
            out = t_sh(sh, NULL);
            cr_assert(strstr(out, "[pass]"), "memccapable %s through nutcracker: %s", ok[i], out);
            free(out);
        }
    }
}

/* Reads the spawned node's stderr until its start-up line; sets the ports it names (serving, metrics). */
static void t_node_ports(int err, unsigned *port, unsigned *admin)
{
    char log[8192];
    size_t got = 0;
    while (got < sizeof(log) - 1 && !strstr(log, "/metrics")) {
        ssize_t r = read(err, log + got, sizeof(log) - 1 - got);
        cr_assert_gt(r, 0, "the node did not start: %.*s", (int)got, log);
        got += (size_t)r;
        log[got] = 0;
    }
    const char *p = strstr(log, " on http://127.0.0.1:"), *m = strstr(log, "metrics on http://127.0.0.1:");
    cr_assert(p && m, "%s", log);
    *port = (unsigned)atoi(p + 21);
    *admin = (unsigned)atoi(m + 28);
}

Test(cluster, healthz_ready_then_draining_and_the_node_name, .timeout = 60, .init = t_setup, .fini = t_fini)
{
    const char *bin = getenv("ISOCORE_BIN");
    char cfg[2048], bad[128];
    snprintf(cfg, sizeof(cfg), "%s/examples/cluster/isocore.json", getenv("ISOCORE_SRC"));
    const char *argv[] = {bin, "serve", "--config", cfg, "--port", "0", "--admin-port", "0", "--node-name", "edge-7.a_b", NULL};
    int err;
    pid_t pid = t_spawn(argv, NULL, &err);
    unsigned port, admin;
    t_node_ports(err, &port, &admin);
    char body[4096], node[64];
    /* Ready once every reactor runs: polled, since the start-up line comes just before the reactors' start hooks. */
    int st = 0;
    for (int i = 0; i < 200 && (st = t_get(admin, "a", "/healthz", NULL, 0, body, sizeof(body))) != 200; i++) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(st, 200, "%s", body);
    cr_assert(strstr(body, "\r\n\r\nready\n"), "%s", body);
    cr_assert_eq(t_get(port, "t1.example.com", "/", node, sizeof(node), body, sizeof(body)), 200);
    cr_assert_str_eq(node, "edge-7.a_b", "--node-name over the config's \"node\": %s", body);
    cr_assert(strstr(body, "\r\nx-isocore-core: 0\r\n"), "%s", body);
    cr_assert_eq(t_get(admin, "a", "/metrics", NULL, 0, NULL, 0), 200);

    /* A keep-alive client holds the node in its drain: meanwhile /healthz says draining. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    static const char req[] = "GET / HTTP/1.1\r\nHost: t2.example.com\r\n\r\n";
    cr_assert_eq(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
    cr_assert_gt(recv(fd, body, sizeof(body), 0), 0);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    for (int i = 0; i < 200 && (st = t_get(admin, "a", "/healthz", NULL, 0, body, sizeof(body))) == 200; i++) {
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(st, 503, "%s", body);
    cr_assert(strstr(body, "\r\n\r\ndraining\n"), "%s", body);
    close(fd);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
    close(err);

    /* A bad node name: refused by check (config) and by serve (--node-name). */
    snprintf(bad, sizeof(bad), "%s/bad.json", t_dir);
    FILE *f = fopen(bad, "w");
    cr_assert(f);
    fprintf(f,
            "{\"node\": \"no spaces\", \"workers\": [{\"name\": \"w\", \"module\": \"%s/examples/cluster/tenant.js\", "
            "\"routes\": [\"a.example.com\"]}]}\n",
            getenv("ISOCORE_SRC"));
    fclose(f);
    char sh[8192];
    snprintf(sh, sizeof(sh), "%s check --config %s 2>&1", bin, bad);
    char *out = t_sh(sh, &st);
    cr_assert_eq(st, 1, "%s", out);
    cr_assert(strstr(out, "bad.json:1: node:"), "%s", out);
    free(out);
    snprintf(sh, sizeof(sh), "%s serve --config %s --node-name 'x/y' 2>&1", bin, cfg);
    out = t_sh(sh, &st);
    cr_assert_eq(st, 2, "%s", out);
    cr_assert(strstr(out, "--node-name"), "%s", out);
    free(out);
}
