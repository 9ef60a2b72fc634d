/*
 * isocore.c: the `isocore` command line.
 *
 *   isocore serve [app.js] [--cores N]   start one reactor per CPU of the affinity mask;
 *                                        each loads the worker into its own V8 isolate
 *   isocore serve --static TEXT [--port P] [--host A] [--cores N]
 *                                        serve TEXT to every request (the no-JS fast path)
 *   isocore version                      print versions
 *
 * Serving HTTP arrives with the io/ layer; for now `serve` starts the
 * reactors, loads the worker on every core, reports, and runs until SIGINT
 * or SIGTERM, then drains and exits 0.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isocore.h"

struct serve {
    const char *path;
    const char *text; /* --static */
    ic_http_server_t *http;
    char *src;
    size_t len;
    ic_js_isolate_t *iso[IC_MAX_CORES]; /* slot i is touched only by reactor i */
    _Atomic int failed;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: isocore serve [app.js] [--cores N]\n"
               "       isocore serve --static TEXT [--port P] [--host ADDR] [--cores N]\n"
               "       isocore version\n");
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int err = ferror(f) ? -EIO : 0;
    fclose(f);
    if (!buf)
        return -ENOMEM;
    if (err) {
        free(buf);
        return err;
    }
    *out = buf;
    *len = n;
    return 0;
}

static void static_handler(ic_http_exchange_t *x, void *arg)
{
    struct serve *s = arg;
    static const char *const headers[] = {"Content-Type: text/plain; charset=utf-8"};
    ic_http_respond(x, 200, headers, 1, s->text, strlen(s->text));
}

static void static_start(void *arg)
{
    struct serve *s = arg;
    int ret = ic_http_server_start(s->http);
    if (ret < 0) {
        ic_log(IC_LOG_ERROR, "cannot start the HTTP server: %s", ic_strerror(ret));
        atomic_store(&s->failed, 1);
        ic_reactor_stop();
    }
}

static void static_stop(void *arg)
{
    struct serve *s = arg;
    ic_http_server_stop(s->http);
}

static long parse_num(const char *opt, const char *v, long lo, long hi)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) {
        fprintf(stderr, "isocore: %s takes a number from %ld to %ld, not '%s'\n", opt, lo, hi, v);
        return -1;
    }
    return n;
}

static void serve_start(void *arg)
{
    struct serve *s = arg;
    int id = ic_reactor_id();
    char err[512];
    int ret = ic_js_isolate_new(&s->iso[id]);
    if (ret < 0) {
        ic_log(IC_LOG_ERROR, "cannot create a V8 isolate: %s", ic_strerror(ret));
    } else if ((ret = ic_js_load_worker(s->iso[id], s->path, s->src, s->len, err, sizeof(err))) < 0) {
        ic_log(IC_LOG_ERROR, "%s: %s", s->path, err);
    } else {
        ic_log(IC_LOG_INFO, "cpu %d: worker %s loaded in its own isolate", ic_reactor_cpu((unsigned)id), s->path);
        return;
    }
    atomic_store(&s->failed, 1);
    ic_reactor_stop();
}

static void serve_stop(void *arg)
{
    struct serve *s = arg;
    int id = ic_reactor_id();
    ic_js_isolate_free(s->iso[id]);
    s->iso[id] = NULL;
}

/* The cores the reactors will run on: --cores, else the CPUs of the affinity mask. */
static unsigned planned_cores(const ic_reactor_config_t *cfg)
{
    cpu_set_t set;
    if (cfg->cores)
        return cfg->cores;
    sched_getaffinity(0, sizeof(set), &set);
    return (unsigned)CPU_COUNT(&set);
}

static int serve_static(struct serve *s, ic_reactor_config_t *cfg, ic_http_server_config_t *hcfg)
{
    hcfg->handler = static_handler;
    hcfg->arg = s;
    int ret = ic_http_server_new(hcfg, planned_cores(cfg), &s->http);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot listen on %s:%u: %s\n", hcfg->host, hcfg->port, ic_strerror(ret));
        return 1;
    }
    ic_log(IC_LOG_INFO, "serving static text on http://%s:%u/", hcfg->host, ic_http_server_port(s->http));
    cfg->on_start = static_start;
    cfg->on_stop = static_stop;
    cfg->arg = s;
    ret = ic_reactor_run(cfg);
    ic_http_server_free(s->http);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot start the reactors: %s\n", ic_strerror(ret));
        return 1;
    }
    return atomic_load(&s->failed) ? 1 : 0;
}

static int cmd_serve(int argc, char **argv)
{
    static struct serve s;
    ic_reactor_config_t cfg;
    ic_reactor_config_init(&cfg);
    s.path = NULL;
    ic_http_server_config_t hcfg;
    ic_http_server_config_init(&hcfg);
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (!strcmp(argv[i], "--cores") && has_value) {
            long n = parse_num("--cores", argv[++i], 1, IC_MAX_CORES);
            if (n < 0)
                return 2;
            cfg.cores = (unsigned)n;
        } else if (!strcmp(argv[i], "--port") && has_value) {
            long n = parse_num("--port", argv[++i], 0, 65535);
            if (n < 0)
                return 2;
            hcfg.port = (unsigned)n;
        } else if (!strcmp(argv[i], "--host") && has_value) {
            hcfg.host = argv[++i];
        } else if (!strcmp(argv[i], "--static") && has_value) {
            s.text = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "isocore: unknown option '%s' (or it lacks its value)\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!s.path) {
            s.path = argv[i];
        } else {
            fprintf(stderr, "isocore: one worker script only (got '%s' and '%s')\n", s.path, argv[i]);
            return 2;
        }
    }
    if (s.text) {
        if (s.path) {
            fprintf(stderr, "isocore: --static serves a fixed text; give no script with it\n");
            return 2;
        }
        return serve_static(&s, &cfg, &hcfg);
    }
    if (!s.path) {
        usage(stderr);
        return 2;
    }
    int ret = read_file(s.path, &s.src, &s.len);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot read %s: %s\n", s.path, ic_strerror(ret));
        return 1;
    }
    ret = ic_js_platform_init();
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot initialise V8: %s\n", ic_strerror(ret));
        free(s.src);
        return 1;
    }
    cfg.on_start = serve_start;
    cfg.on_stop = serve_stop;
    cfg.arg = &s;
    ret = ic_reactor_run(&cfg);
    ic_js_platform_shutdown();
    free(s.src);
    if (ret < 0) {
        fprintf(stderr, "isocore: cannot start the reactors: %s\n", ic_strerror(ret));
        return 1;
    }
    return atomic_load(&s.failed) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "serve"))
        return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("isocore %s (V8 %s)\n", ISOCORE_VERSION, ic_js_version());
        return 0;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "isocore: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
