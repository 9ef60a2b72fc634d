/*
 * test_reload.c: what a SIGHUP keeps, through the `isocore` binary. A
 * config of 100 tenants on two cores (99 sticky ones sharing a module, one
 * `spread` tenant with a module of its own), every tenant warmed with a
 * request. A SIGHUP with the config unchanged, while keep-alive load runs:
 * no isolate is created (isocore_isolates_created_total stays), the request
 * counters go on exactly (before + the load), no request fails. Then the
 * spread tenant's module changes and a SIGHUP: only it cold-starts, once on
 * each core, and serves the new code; once both cores swept the old router
 * (their isocore_isolates gauge is back), every other tenant is still warm.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_http.h"
#include "t_util.h"

#define TENANTS 100
#define HOT (TENANTS - 1) /* the spread tenant, whose module changes */

struct srv {
    pid_t pid;
    int err_fd;
    unsigned port, admin;
    char dir[64], cfg[128], common[128], hot[128];
    char log[65536]; /* the server's stderr so far */
    size_t loglen;
};

static void t_write(const char *path, const char *text)
{
    char tmp[200];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(rename(tmp, path), 0); /* whole, for a reload that reads it */
}

/* A module answering "NAME VERSION PATH". */
static void t_write_module(const char *path, const char *version)
{
    char text[512];
    snprintf(
        text, sizeof(text),
        "export default {\n  fetch(request, env) {\n    return new Response(`${env.NAME} %s ${new URL(request.url).pathname}`);\n"
        "  },\n};\n",
        version);
    t_write(path, text);
}

static void t_start(struct srv *s)
{
    const char *bin = getenv("ISOCORE_BIN");
    cr_assert_not_null(bin, "ISOCORE_BIN is not set (run through ctest)");
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/isocore-reload-XXXXXX");
    cr_assert_not_null(mkdtemp(s->dir));
    snprintf(s->cfg, sizeof(s->cfg), "%s/isocore.json", s->dir);
    snprintf(s->common, sizeof(s->common), "%s/common.js", s->dir);
    snprintf(s->hot, sizeof(s->hot), "%s/hot.js", s->dir);
    t_write_module(s->common, "v1");
    t_write_module(s->hot, "v1");
    static char text[1 << 16];
    size_t n = (size_t)snprintf(text, sizeof(text), "{\"cores\": 2, \"core_header\": true, \"workers\": [\n");
    for (int i = 0; i < TENANTS; i++)
        n += (size_t)snprintf(
            text + n, sizeof(text) - n,
            "  {\"name\": \"t%d\", \"module\": \"%s\", \"routes\": [\"t%d.test\"], \"env\": {\"NAME\": \"t%d\"}%s}%s\n", i,
            i == HOT ? s->hot : s->common, i, i, i == HOT ? ", \"placement\": \"spread\"" : "", i + 1 < TENANTS ? "," : "");
    snprintf(text + n, sizeof(text) - n, "]}\n");
    t_write(s->cfg, text);
    static char port[16], admin[16];
    s->port = t_free_port();
    s->admin = t_free_port();
    snprintf(port, sizeof(port), "%u", s->port);
    snprintf(admin, sizeof(admin), "%u", s->admin);
    const char *argv[] = {bin, "serve", "--config", s->cfg, "--cores", "2", "--port", port, "--admin-port", admin, NULL};
    s->pid = t_spawn(argv, NULL, &s->err_fd);
    t_wait_serving(s->err_fd);
}

static void t_stop(struct srv *s)
{
    kill(s->pid, SIGTERM);
    int st = 0;
    waitpid(s->pid, &st, 0);
    close(s->err_fd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server did not exit cleanly (status %d)", st);
    unlink(s->cfg);
    unlink(s->common);
    unlink(s->hot);
    rmdir(s->dir);
}

/* Reads the server's stderr until it has logged `want` after what was read so far (30 s at most). */
static void t_wait_log(struct srv *s, const char *want)
{
    size_t from = s->loglen;
    for (int i = 0; i < 300 && !strstr(s->log + from, want); i++) {
        struct pollfd p = {.fd = s->err_fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(s->err_fd, s->log + s->loglen, sizeof(s->log) - 1 - s->loglen);
        cr_assert_gt(r, 0, "the server's stderr closed: %s", s->log);
        s->loglen += (size_t)r;
        s->log[s->loglen] = '\0';
    }
    cr_assert(strstr(s->log + from, want), "the server did not log '%s': %s", want, s->log + from);
}

/* One request on connection `in` (keep-alive) for tenant t; its body and the core that ran it. */
static int t_ask(struct t_in *in, int t, const char *path, char *body, size_t cap, int *core)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t%d.test\r\n\r\n", path, t);
    t_http_send(in->fd, req, strlen(req));
    struct t_resp r;
    if (!t_http_read(in, &r, false, true))
        return -1;
    snprintf(body, cap, "%s", r.body ? r.body : "");
    const char *c = strstr(r.head, "x-isocore-core: ");
    if (core)
        *core = c ? atoi(c + 16) : -1;
    t_resp_free(&r);
    return r.complete ? r.status : -1;
}

/* A connection to the server, with a receive timeout generous enough for cold starts on a loaded machine. */
static int t_dial(unsigned port)
{
    int fd = t_http_dial(port, 0);
    struct timeval tv = {.tv_sec = 120};
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* One request on a new connection (the kernel picks its core). */
static int t_ask_new(struct srv *s, int t, const char *path, char *body, size_t cap, int *core)
{
    struct t_in in = {.fd = t_dial(s->port)};
    cr_assert_geq(in.fd, 0);
    int status = t_ask(&in, t, path, body, cap, core);
    close(in.fd);
    free(in.buf);
    return status;
}

/* /metrics of the admin listener. */
struct metrics {
    char *text;
};

static void t_scrape(struct srv *s, struct metrics *m)
{
    struct t_in in = {.fd = t_dial(s->admin)};
    cr_assert_geq(in.fd, 0);
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n";
    t_http_send(in.fd, req, sizeof(req) - 1);
    struct t_resp r;
    cr_assert(t_http_read(&in, &r, false, true));
    close(in.fd);
    free(in.buf);
    cr_assert_eq(r.status, 200);
    m->text = r.body;
}

/* The value of the line that starts with `key ` (a metric and its labels). */
static unsigned long long t_value(const struct metrics *m, const char *key)
{
    char k[160];
    snprintf(k, sizeof(k), "\n%s ", key);
    const char *p = strstr(m->text, k);
    cr_assert(p, "no %s in the metrics", key);
    return strtoull(p + strlen(k), NULL, 10);
}

static unsigned long long t_core(const struct metrics *m, const char *name, unsigned core)
{
    char k[160];
    snprintf(k, sizeof(k), "%s{core=\"%u\"}", name, core);
    return t_value(m, k);
}

static unsigned long long t_cores(const struct metrics *m, const char *name)
{
    return t_core(m, name, 0) + t_core(m, name, 1);
}

/* Requests answered "ok" over every tenant. */
static unsigned long long t_tenants_ok(const struct metrics *m)
{
    unsigned long long sum = 0;
    for (int i = 0; i < TENANTS; i++) {
        char k[160];
        snprintf(k, sizeof(k), "isocore_tenant_requests_total{tenant=\"t%d\",outcome=\"ok\"}", i);
        sum += t_value(m, k);
    }
    return sum;
}

/* ---- the load: four keep-alive connections over every tenant, until told to stop (bounded) ---------------- */

#define LOAD_MAX 40000

static struct {
    struct srv *s;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int answered, bad;
    bool stop;
    char why[512];
} L = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *t_load(void *arg)
{
    (void)arg;
    struct t_in in[4];
    for (int c = 0; c < 4; c++) {
        in[c] = (struct t_in){.fd = t_dial(L.s->port)};
        cr_assert_geq(in[c].fd, 0);
    }
    for (int i = 0; i < LOAD_MAX; i++) {
        pthread_mutex_lock(&L.lock);
        bool stop = L.stop;
        pthread_mutex_unlock(&L.lock);
        if (stop)
            break;
        int t = i % TENANTS;
        char body[256], want[64];
        int status = t_ask(&in[i % 4], t, "/load", body, sizeof(body), NULL);
        snprintf(want, sizeof(want), "t%d v1 /load", t);
        pthread_mutex_lock(&L.lock);
        L.answered++;
        if (status != 200 || strcmp(body, want) != 0) {
            if (!L.bad++)
                snprintf(L.why, sizeof(L.why), "t%d: %d '%s'", t, status, body);
        }
        pthread_cond_broadcast(&L.cond);
        pthread_mutex_unlock(&L.lock);
    }
    for (int c = 0; c < 4; c++) {
        close(in[c].fd);
        free(in[c].buf);
    }
    return NULL;
}

static void t_load_wait(int answered)
{
    pthread_mutex_lock(&L.lock);
    while (L.answered < answered && L.answered < LOAD_MAX)
        pthread_cond_wait(&L.cond, &L.lock);
    pthread_mutex_unlock(&L.lock);
}

static uint64_t t_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Asks the spread tenant on new connections until both cores answered; every answer must be `want` (bounded). */
static void t_hot_on_both(struct srv *s, const char *want)
{
    bool seen[2] = {false, false};
    for (int i = 0; i < 400 && !(seen[0] && seen[1]); i++) {
        char body[256];
        int core = -1;
        int status = t_ask_new(s, HOT, "/", body, sizeof(body), &core);
        cr_assert_eq(status, 200, "t%d: %d %s", HOT, status, body);
        cr_assert_str_eq(body, want);
        cr_assert(core == 0 || core == 1, "no x-isocore-core");
        seen[core] = true;
    }
    cr_assert(seen[0] && seen[1], "the kernel never gave a connection to both cores");
}

Test(reload, unchanged_tenants_stay_warm_and_counters_go_on, .timeout = 300)
{
    struct srv s;
    t_start(&s);
    /* Warm every tenant: the sticky ones on their owner core, the spread one on both. */
    struct t_in in = {.fd = t_dial(s.port)};
    cr_assert_geq(in.fd, 0);
    for (int t = 0; t < HOT; t++) {
        char body[256], want[64];
        snprintf(want, sizeof(want), "t%d v1 /", t);
        cr_assert_eq(t_ask(&in, t, "/", body, sizeof(body), NULL), 200, "t%d: %s", t, body);
        cr_assert_str_eq(body, want);
    }
    t_hot_on_both(&s, "t99 v1 /");
    struct metrics m0;
    t_scrape(&s, &m0);
    unsigned long long created0[2] = {t_core(&m0, "isocore_isolates_created_total", 0),
                                      t_core(&m0, "isocore_isolates_created_total", 1)};
    unsigned long long warm0[2] = {t_core(&m0, "isocore_isolates", 0), t_core(&m0, "isocore_isolates", 1)};
    cr_assert_eq(created0[0] + created0[1], TENANTS + 1, "one isolate per sticky tenant, one per core for the spread one");
    cr_assert_eq(warm0[0] + warm0[1], TENANTS + 1);
    unsigned long long requests0 = t_cores(&m0, "isocore_requests_total"), ok0 = t_tenants_ok(&m0);
    free(m0.text);

    /* A SIGHUP, the config unchanged, under load. */
    L.s = &s;
    L.answered = L.bad = 0;
    L.stop = false;
    pthread_t load;
    pthread_create(&load, NULL, t_load, NULL);
    t_load_wait(300);
    kill(s.pid, SIGHUP);
    t_wait_log(&s, "100 tenants, 100 kept warm, 0 new or changed");
    pthread_mutex_lock(&L.lock);
    int at_reload = L.answered;
    pthread_mutex_unlock(&L.lock);
    t_load_wait(at_reload + 300); /* served by the new router */
    pthread_mutex_lock(&L.lock);
    L.stop = true;
    pthread_mutex_unlock(&L.lock);
    pthread_join(load, NULL);
    cr_assert_eq(L.bad, 0, "%d of %d load requests failed; first: %s", L.bad, L.answered, L.why);
    cr_assert_geq(L.answered, at_reload + 300, "the load ended before the new router served");
    /* The first request of each tenant after the reload: warm (no isolate made for it). */
    uint64_t worst = 0, sum = 0;
    for (int t = 0; t < HOT; t++) {
        char body[256], want[64];
        snprintf(want, sizeof(want), "t%d v1 /after", t);
        uint64_t t0 = t_now_us();
        cr_assert_eq(t_ask(&in, t, "/after", body, sizeof(body), NULL), 200, "t%d: %s", t, body);
        uint64_t us = t_now_us() - t0;
        sum += us;
        worst = us > worst ? us : worst;
        cr_assert_str_eq(body, want);
    }
    struct metrics m1;
    t_scrape(&s, &m1);
    unsigned long long created1 = t_cores(&m1, "isocore_isolates_created_total");
    unsigned long long requests1 = t_cores(&m1, "isocore_requests_total"), ok1 = t_tenants_ok(&m1);
    free(m1.text);
    cr_log_info("reload, config unchanged, %d requests of load (%d after the swap): isolates created %llu -> %llu; first "
                "requests after it: %.0f us mean, %.0f us worst",
                L.answered, L.answered - at_reload, created0[0] + created0[1], created1, (double)sum / HOT, (double)worst);
    cr_assert_eq(created1, created0[0] + created0[1], "a tenant that did not change must not get a new isolate");
    cr_assert_eq(requests1, requests0 + (unsigned long long)L.answered + HOT, "the request counters go on from where they were");
    cr_assert_eq(ok1, ok0 + (unsigned long long)L.answered + HOT, "the tenants' counters go on from where they were");

    /* The spread tenant's module changes: only it starts cold, once per core, and answers with the new code. */
    t_write_module(s.hot, "v2");
    kill(s.pid, SIGHUP);
    t_wait_log(&s, "100 tenants, 99 kept warm, 1 new or changed");
    t_hot_on_both(&s, "t99 v2 /");
    /* Both cores let the old routers go (their sweep runs every 100 ms): the old module's workers are gone. */
    int polls = 0;
    for (;; polls++) {
        struct metrics m;
        t_scrape(&s, &m);
        bool swept = t_core(&m, "isocore_isolates", 0) == warm0[0] && t_core(&m, "isocore_isolates", 1) == warm0[1];
        free(m.text);
        if (swept)
            break;
        cr_assert_lt(polls, 1500, "the old module's isolates were never disposed");
        nanosleep(&(struct timespec){0, 20 * 1000000}, NULL); /* between polls of a condition, not as synchronisation */
    }
    for (int t = 0; t < HOT; t++) {
        char body[256], want[64];
        snprintf(want, sizeof(want), "t%d v1 /", t);
        cr_assert_eq(t_ask(&in, t, "/", body, sizeof(body), NULL), 200, "t%d: %s", t, body);
        cr_assert_str_eq(body, want);
    }
    struct metrics m2;
    t_scrape(&s, &m2);
    unsigned long long created2[2] = {t_core(&m2, "isocore_isolates_created_total", 0),
                                      t_core(&m2, "isocore_isolates_created_total", 1)};
    free(m2.text);
    close(in.fd);
    free(in.buf);
    t_stop(&s);
    cr_assert_eq(created2[0], created0[0] + 1, "core 0: only the changed tenant started cold");
    cr_assert_eq(created2[1], created0[1] + 1, "core 1: only the changed tenant started cold");
}
