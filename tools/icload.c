/*
 * icload: a load generator on io_uring, built on isocore's own reactors
 * and TCP layer. One reactor per CPU of the affinity mask (run it under
 * taskset), each with its share of the connections.
 *
 * Two loops:
 *   - closed (default): each connection keeps --pipeline requests in
 *     flight and sends the next one as soon as an answer arrives;
 *   - open (--rate R): requests are due at fixed intervals (R per second
 *     in all) whether or not answers came back. A request's latency is
 *     measured from when it was due, not from when a connection was free
 *     to send it, so a stalled server shows up in the percentiles instead
 *     of silently slowing the load down (coordinated omission, as wrk2
 *     corrects it).
 *
 * Two protocols: HTTP/1.1 (responses framed by Content-Length), and the
 * memcached text protocol (--memcache: a get/set mix over a key space).
 * Latencies go into a log-linear histogram with 1/1024 relative precision
 * (3 significant digits, as HdrHistogram), one per thread, merged at the end.
 */
#include <arpa/inet.h>
#include <isocore.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- the histogram ---------------------------------------------------------------------------- */

#define H_SUB 1024                       /* linear buckets per power of two */
#define H_COUNT (2 * H_SUB + 53 * H_SUB) /* values up to 2^64 ns */

typedef struct hist {
    uint64_t n, max, min;
    double sum;
    uint64_t b[H_COUNT];
} hist_t;

static unsigned h_index(uint64_t v)
{
    if (v < 2 * H_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 2^e <= v < 2^(e+1), e >= 11 */
    unsigned shift = e - 10;
    return 2 * H_SUB + (e - 11) * H_SUB + (unsigned)((v >> shift) - H_SUB);
}

/* The highest value that lands in bucket i (what a percentile reports: never under the truth). */
static uint64_t h_value(unsigned i)
{
    if (i < 2 * H_SUB)
        return i;
    unsigned e = (i - 2 * H_SUB) / H_SUB + 11, shift = e - 10;
    uint64_t lo = ((uint64_t)((i - 2 * H_SUB) % H_SUB) + H_SUB) << shift;
    return lo + ((1ull << shift) - 1);
}

static void h_add(hist_t *h, uint64_t v)
{
    h->b[h_index(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
    if (h->n == 1 || v < h->min)
        h->min = v;
}

static void h_merge(hist_t *into, const hist_t *h)
{
    for (unsigned i = 0; i < H_COUNT; i++)
        into->b[i] += h->b[i];
    if (h->n && (into->n == 0 || h->min < into->min))
        into->min = h->min;
    into->n += h->n;
    into->sum += h->sum;
    if (h->max > into->max)
        into->max = h->max;
}

/* The value at quantile q (0..1): the bucket holding the ceil(q·n)-th value, capped at the exact max. */
static uint64_t h_quantile(const hist_t *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n), seen = 0;
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < H_COUNT; i++) {
        seen += h->b[i];
        if (seen >= rank)
            return h_value(i) < h->max ? h_value(i) : h->max;
    }
    return h->max;
}

/* ---- options ------------------------------------------------------------------------------------ */

static struct {
    /* target */
    bool memcache;
    char host[128];
    unsigned port;
    char path[1024];
    char method[16];
    const char *body;
    const char *headers[32];
    unsigned nheaders;
    bool host_header; /* one of headers is a Host: it replaces icload's own (two Hosts get a 400) */
    /* load */
    unsigned conns, depth, cores;
    double duration, warmup, rate;
    uint64_t count; /* 0: by duration */
    /* tenant mix (HTTP Host headers t0..tN-1.HOSTSUFFIX) or key space (memcache) */
    unsigned hosts;
    const char *host_suffix;
    double zipf_s, hot_pct;
    unsigned keys, value_size;
    double set_ratio;
    bool json;
} opt = {.method = "GET",
         .conns = 64,
         .depth = 1,
         .duration = 10,
         .host_suffix = "example.com",
         .keys = 10000,
         .value_size = 100,
         .set_ratio = 0.1};

static void usage(FILE *f)
{
    fprintf(f, "usage: icload [options] http://HOST[:PORT]/PATH\n"
               "       icload --memcache [options] HOST:PORT\n"
               "  -c N           connections in all (default 64), spread over the reactors\n"
               "  -d SECONDS     duration (default 10)      -n N  stop after N answers instead\n"
               "  -R RATE        open loop: RATE requests/s in all, latency from the intended send time\n"
               "  -p DEPTH       requests in flight per connection (pipelining; default 1)\n"
               "  -m METHOD      -H 'Name: value' (repeatable; a Host replaces the default one)   -b BODY\n"
               "  --hosts N      spread requests over Host: t0.SUFFIX .. t<N-1>.SUFFIX (--host-suffix, default example.com)\n"
               "  --zipf S       ... with Zipf(S) popularity      --hot PCT  ... tenant t0 takes PCT %% of requests\n"
               "  --keys N --value-size B --set-ratio F   memcache key space and mix (10000, 100, 0.1)\n"
               "  --warmup SECONDS   not recorded            --cores N  reactors (default: CPUs of the affinity mask)\n"
               "  --json         one JSON object on stdout instead of the table\n");
}

static int bad(const char *what, const char *v)
{
    fprintf(stderr, "icload: %s: bad value '%s'\n", what, v ? v : "(missing)");
    return 2;
}

static bool num(const char *s, double lo, double hi, double *out)
{
    char *end;
    if (!s || !*s)
        return false;
    *out = strtod(s, &end);
    return *end == 0 && *out >= lo && *out <= hi;
}

static int parse_target(const char *t)
{
    const char *p = t;
    if (!opt.memcache) {
        if (strncmp(t, "http://", 7) != 0) {
            fprintf(stderr, "icload: '%s': only http:// URLs are supported (no TLS)\n", t);
            return 2;
        }
        p += 7;
    }
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    char hostport[128];
    if (hl == 0 || hl >= sizeof(hostport)) {
        fprintf(stderr, "icload: '%s': no host\n", t);
        return 2;
    }
    memcpy(hostport, p, hl);
    hostport[hl] = 0;
    snprintf(opt.path, sizeof(opt.path), "%s", slash && !opt.memcache ? slash : "/");
    char *colon = strrchr(hostport, ':');
    opt.port = opt.memcache ? 11211 : 80;
    if (colon && hostport[0] != '[') {
        double port;
        if (!num(colon + 1, 1, 65535, &port)) {
            fprintf(stderr, "icload: '%s': bad port\n", t);
            return 2;
        }
        opt.port = (unsigned)port;
        *colon = 0;
    }
    if (strcmp(hostport, "localhost") == 0)
        strcpy(hostport, "127.0.0.1");
    snprintf(opt.host, sizeof(opt.host), "%s", hostport);
    struct in6_addr a;
    if (inet_pton(AF_INET, opt.host, &a) != 1 && inet_pton(AF_INET6, opt.host, &a) != 1) {
        fprintf(stderr, "icload: '%s': the host must be a numeric IPv4 or IPv6 address (or localhost)\n", opt.host);
        return 2;
    }
    return 0;
}

static int parse_args(int argc, char **argv)
{
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--memcache") == 0) {
            opt.memcache = true;
            continue;
        } else if (strcmp(a, "--json") == 0) {
            opt.json = true;
            continue;
        } else if (a[0] != '-') {
            if (target)
                return bad("target", a);
            target = a;
            continue;
        } else if (strcmp(a, "-c") == 0) {
            if (!num(v, 1, 1e6, &d))
                return bad(a, v);
            opt.conns = (unsigned)d;
        } else if (strcmp(a, "-d") == 0) {
            if (!num(v, 0.01, 86400, &opt.duration))
                return bad(a, v);
        } else if (strcmp(a, "-n") == 0) {
            if (!num(v, 1, 1e15, &d))
                return bad(a, v);
            opt.count = (uint64_t)d;
        } else if (strcmp(a, "-R") == 0) {
            if (!num(v, 1, 1e9, &opt.rate))
                return bad(a, v);
        } else if (strcmp(a, "-p") == 0) {
            if (!num(v, 1, 1024, &d))
                return bad(a, v);
            opt.depth = (unsigned)d;
        } else if (strcmp(a, "-m") == 0) {
            if (!v || strlen(v) >= sizeof(opt.method) || strpbrk(v, " \r\n"))
                return bad(a, v);
            strcpy(opt.method, v);
        } else if (strcmp(a, "-H") == 0) {
            if (!v || !strchr(v, ':') || strpbrk(v, "\r\n") || opt.nheaders == 32)
                return bad(a, v);
            if (strncasecmp(v, "host:", 5) == 0)
                opt.host_header = true;
            opt.headers[opt.nheaders++] = v;
        } else if (strcmp(a, "-b") == 0) {
            if (!v)
                return bad(a, v);
            opt.body = v;
        } else if (strcmp(a, "--hosts") == 0) {
            if (!num(v, 1, 1e6, &d))
                return bad(a, v);
            opt.hosts = (unsigned)d;
        } else if (strcmp(a, "--host-suffix") == 0) {
            if (!v || strpbrk(v, " \r\n:"))
                return bad(a, v);
            opt.host_suffix = v;
        } else if (strcmp(a, "--zipf") == 0) {
            if (!num(v, 0.01, 10, &opt.zipf_s))
                return bad(a, v);
        } else if (strcmp(a, "--hot") == 0) {
            if (!num(v, 0, 100, &opt.hot_pct))
                return bad(a, v);
        } else if (strcmp(a, "--keys") == 0) {
            if (!num(v, 1, 1e9, &d))
                return bad(a, v);
            opt.keys = (unsigned)d;
        } else if (strcmp(a, "--value-size") == 0) {
            if (!num(v, 1, 1 << 20, &d))
                return bad(a, v);
            opt.value_size = (unsigned)d;
        } else if (strcmp(a, "--set-ratio") == 0) {
            if (!num(v, 0, 1, &opt.set_ratio))
                return bad(a, v);
        } else if (strcmp(a, "--warmup") == 0) {
            if (!num(v, 0, 3600, &opt.warmup))
                return bad(a, v);
        } else if (strcmp(a, "--cores") == 0) {
            if (!num(v, 1, IC_MAX_CORES, &d))
                return bad(a, v);
            opt.cores = (unsigned)d;
        } else {
            fprintf(stderr, "icload: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!target) {
        usage(stderr);
        return 2;
    }
    if (opt.zipf_s > 0 && opt.hot_pct > 0) {
        fprintf(stderr, "icload: --zipf and --hot are exclusive\n");
        return 2;
    }
    if (opt.host_header && opt.hosts) {
        fprintf(stderr, "icload: -H 'Host: ...' and --hosts both set the Host header: give one\n");
        return 2;
    }
    return parse_target(target);
}

/* ---- load state ------------------------------------------------------------------------------------ */

struct lthread;

/* One connection: a FIFO of the due times of its requests in flight. */
struct lconn {
    struct lthread *t;
    ic_tcp_conn_t *tc;
    uint64_t *due;
    bool *is_set; /* memcache: the request in flight is a set (its answer is one line) */
    unsigned head, n;
    bool up, closing, server_closing;
};

struct lthread {
    unsigned id;
    struct lconn *c;
    unsigned nc, cursor;
    hist_t *h;
    uint64_t ok[6];                               /* HTTP: by status class 1xx..5xx; memcache: [2] answers */
    uint64_t hits, misses, stored, server_errors; /* memcache */
    uint64_t err_connect, err_protocol, err_lost, dropped, reconnects;
    double rate;        /* open loop: this thread's share, per ns */
    uint64_t scheduled; /* open loop: requests made due so far */
    uint64_t *backlog;  /* open loop: due times of requests waiting for a free connection */
    size_t bl_head, bl_n, bl_cap;
    ic_timer_t tick, stop, progress;
    uint64_t rng;
} __attribute__((aligned(64)));

static struct lthread *threads;
static unsigned nthreads;
static uint64_t t_start, t_measure, t_end; /* ns: start, end of warm-up, end */
static _Atomic uint64_t tickets, completed, recorded;
static _Atomic bool stopping;
static double *cdf; /* Zipf: cumulative popularity of the hosts or keys */
static unsigned cdf_n;
static char *value; /* memcache: the value of every set */

static uint64_t rnd(struct lthread *t)
{
    /* xorshift64*: quick, and good enough to pick keys. */
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 0x2545f4914f6cdd1dull;
}

static double rnd01(struct lthread *t)
{
    return (double)(rnd(t) >> 11) * (1.0 / 9007199254740992.0);
}

/* Picks an index in [0, n): uniform, Zipf(s) or "one hot". */
static unsigned pick(struct lthread *t, unsigned n)
{
    if (n <= 1)
        return 0;
    if (opt.hot_pct > 0)
        return rnd01(t) * 100 < opt.hot_pct ? 0 : 1 + (unsigned)(rnd(t) % (n - 1));
    if (cdf) {
        double u = rnd01(t);
        unsigned lo = 0, hi = cdf_n - 1;
        while (lo < hi) {
            unsigned mid = (lo + hi) / 2;
            if (cdf[mid] < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }
    return (unsigned)(rnd(t) % n);
}

/* Writes one request on c; due is when it was meant to go (closed loop: now). */
static bool send_one(struct lconn *c, uint64_t due)
{
    struct lthread *t = c->t;
    if (opt.count && atomic_fetch_add(&tickets, 1) >= opt.count)
        return false;
    char head[2048];
    int n;
    bool set = false;
    if (opt.memcache) {
        unsigned k = pick(t, opt.keys);
        set = rnd01(t) < opt.set_ratio;
        if (set) {
            n = snprintf(head, sizeof(head), "set key:%u 0 0 %u\r\n", k, opt.value_size);
            ic_tcp_write(c->tc, head, (size_t)n);
            ic_tcp_write(c->tc, value, opt.value_size);
            n = 0;
            memcpy(head, "\r\n", 2);
            n = 2;
        } else {
            n = snprintf(head, sizeof(head), "get key:%u\r\n", k);
        }
        ic_tcp_write(c->tc, head, (size_t)n);
    } else {
        size_t blen = opt.body ? strlen(opt.body) : 0;
        if (opt.host_header)
            n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\n", opt.method, opt.path); /* the Host comes from -H */
        else if (opt.hosts)
            n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: t%u.%s\r\n", opt.method, opt.path, pick(t, opt.hosts),
                         opt.host_suffix);
        else
            n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s:%u\r\n", opt.method, opt.path, opt.host, opt.port);
        for (unsigned i = 0; i < opt.nheaders && n < (int)sizeof(head) - 64; i++)
            n += snprintf(head + n, sizeof(head) - (size_t)n, "%s\r\n", opt.headers[i]);
        if (opt.body)
            n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", blen);
        n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
        ic_tcp_write(c->tc, head, (size_t)n);
        if (blen)
            ic_tcp_write(c->tc, opt.body, blen);
    }
    unsigned slot = (c->head + c->n) % opt.depth;
    c->due[slot] = due;
    c->is_set[slot] = set;
    c->n++;
    return true;
}

/* Open loop: hands waiting requests to connections with room, round robin. */
static void dispatch(struct lthread *t)
{
    unsigned tried = 0;
    while (t->bl_n && tried < t->nc) {
        struct lconn *c = &t->c[t->cursor];
        t->cursor = (t->cursor + 1) % t->nc;
        if (!c->up || c->closing || c->server_closing || c->n >= opt.depth) {
            tried++;
            continue;
        }
        tried = 0;
        if (!send_one(c, t->backlog[t->bl_head])) {
            t->bl_n = 0;
            return;
        }
        t->bl_head = (t->bl_head + 1) % t->bl_cap;
        t->bl_n--;
    }
}

static void finish(void);

/* An answer arrived on c: record its latency from its due time, then keep the load going. */
static void answered(struct lconn *c, int cls)
{
    struct lthread *t = c->t;
    uint64_t now = ic_clock_ns(), due = c->due[c->head];
    c->head = (c->head + 1) % opt.depth;
    c->n--;
    if (due >= t_measure) {
        h_add(t->h, now > due ? now - due : 0);
        t->ok[cls]++;
        atomic_fetch_add_explicit(&recorded, 1, memory_order_relaxed);
    }
    uint64_t done = atomic_fetch_add_explicit(&completed, 1, memory_order_relaxed) + 1;
    if (opt.count && done >= opt.count) {
        finish();
        return;
    }
    if (atomic_load_explicit(&stopping, memory_order_relaxed))
        return;
    if (opt.rate > 0)
        dispatch(t);
    else if (!c->server_closing)
        send_one(c, now);
}

/* ---- parsing answers -------------------------------------------------------------------------------- */

/*
 * One HTTP response at data: its length, 0 if incomplete, -1 if it can't be
 * framed. *status gets the code; *close is set if the server said
 * Connection: close (a draining server: send nothing more on it).
 */
static long http_frame(const char *data, size_t len, int *status, bool *close)
{
    const char *end = memmem(data, len, "\r\n\r\n", 4);
    if (!end)
        return len > 64 * 1024 ? -1 : 0;
    if (len < 12 || memcmp(data, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(data + 9);
    size_t head = (size_t)(end - data) + 4;
    long cl = -1;
    for (const char *p = memchr(data, '\n', head); p && p < end; p = memchr(p + 1, '\n', (size_t)(end - p))) {
        if (strncasecmp(p + 1, "content-length:", 15) == 0)
            cl = atol(p + 16);
        else if (strncasecmp(p + 1, "connection:", 11) == 0 && memmem(p + 12, (size_t)(end - p) - 12, "close", 5))
            *close = true;
        else if (strncasecmp(p + 1, "transfer-encoding:", 18) == 0)
            return -1; /* chunked responses are not framed here */
    }
    if (cl < 0)
        cl = (*status == 204 || *status == 304 || *status < 200) ? 0 : -1;
    if (cl < 0)
        return -1;
    return len >= head + (size_t)cl ? (long)(head + (size_t)cl) : 0;
}

/* One memcached answer to a get (VALUE… END) or a set (one line). */
static long mc_frame(struct lthread *t, const char *data, size_t len, bool set)
{
    const char *nl = memchr(data, '\n', len);
    if (!nl)
        return len > 4096 ? -1 : 0;
    size_t line = (size_t)(nl - data) + 1;
    if (set) {
        if (memcmp(data, "STORED", 6) == 0)
            t->stored++;
        else
            t->server_errors++;
        return (long)line;
    }
    if (line == 5 && memcmp(data, "END\r\n", 5) == 0) {
        t->misses++;
        return 5;
    }
    if (strncmp(data, "VALUE ", 6) != 0) {
        t->server_errors++;
        return (long)line;
    }
    /* VALUE key flags bytes [cas] */
    const char *p = data + 6;
    for (int f = 0; f < 2; f++) {
        p = memchr(p, ' ', (size_t)(nl - p));
        if (!p)
            return -1;
        p++;
    }
    size_t bytes = strtoul(p, NULL, 10), need = line + bytes + 2 + 5;
    if (len < need)
        return 0;
    if (memcmp(data + need - 5, "END\r\n", 5) != 0)
        return -1;
    t->hits++;
    return (long)need;
}

static void reconnect(struct lthread *t, struct lconn *c);

static size_t on_data(ic_tcp_conn_t *tc, const char *data, size_t len)
{
    struct lconn *c = ic_tcp_data(tc);
    size_t used = 0;
    while (used < len && c->n > 0) {
        int status = 0;
        bool close = false;
        long n = opt.memcache ? mc_frame(c->t, data + used, len - used, c->is_set[c->head])
                              : http_frame(data + used, len - used, &status, &close);
        if (n == 0)
            break;
        if (n < 0) {
            c->t->err_protocol++;
            ic_tcp_close(tc);
            return len;
        }
        used += (size_t)n;
        int cls = opt.memcache ? 2 : (status >= 100 && status < 600 ? status / 100 : 0);
        if (close)
            c->server_closing = true; /* no new request on it: answered() sends elsewhere, on_close reconnects */
        answered(c, cls);
        if (close && !ic_tcp_closing(tc)) {
            ic_tcp_close(tc);
            return len;
        }
        if (ic_tcp_closing(tc))
            return len;
    }
    if (used < len && c->n == 0) {
        c->t->err_protocol++; /* bytes nobody asked for */
        ic_tcp_close(tc);
        return len;
    }
    return used;
}

static void on_open(ic_tcp_conn_t *tc)
{
    struct lconn *c = ic_tcp_data(tc);
    c->up = true;
    if (atomic_load(&stopping))
        return;
    if (opt.rate > 0) {
        dispatch(c->t);
    } else {
        for (unsigned i = 0; i < opt.depth; i++)
            if (!send_one(c, ic_clock_ns()))
                break;
    }
}

static void on_close(ic_tcp_conn_t *tc, int err)
{
    struct lconn *c = ic_tcp_data(tc);
    struct lthread *t = c->t;
    bool ended = false;
    if (!c->up) {
        t->err_connect++;
    } else if (!atomic_load(&stopping) && c->n) {
        t->err_lost += c->n; /* the server closed with answers owed */
        /* -n counts them as done (failed), or a lost request would leave icload waiting for ever. */
        uint64_t done = atomic_fetch_add_explicit(&completed, c->n, memory_order_relaxed) + c->n;
        ended = opt.count && done >= opt.count;
    }
    bool was_up = c->up;
    c->tc = NULL;
    c->up = false;
    c->server_closing = false;
    c->n = 0;
    c->head = 0;
    if (ended) {
        finish();
        return;
    }
    if (!atomic_load(&stopping) && !c->closing && was_up)
        reconnect(t, c); /* e.g. the server said Connection: close */
    /* Once per run, from whichever thread is refused first: another thread's stop may end thread 0 before its own CQE. */
    static atomic_bool told;
    if (!was_up && err < 0 && err != IC_ESHUTDOWN && !atomic_exchange(&told, true))
        fprintf(stderr, "icload: connect to %s:%u: %s\n", opt.host, opt.port, ic_strerror(err));
    /* Every connection refused: nothing to measure. */
    bool any = false;
    for (unsigned i = 0; i < t->nc; i++)
        any = any || t->c[i].tc;
    if (!any && !atomic_load(&stopping) && t->err_connect == t->nc)
        ic_reactor_stop();
}

static const ic_tcp_handlers_t handlers = {.on_open = on_open, .on_data = on_data, .on_close = on_close};

static void reconnect(struct lthread *t, struct lconn *c)
{
    t->reconnects++;
    if (ic_tcp_connect(opt.host, opt.port, &handlers, c, &c->tc) < 0)
        c->tc = NULL;
}

/* ---- timers ----------------------------------------------------------------------------------------- */

/* Open loop: makes due the requests whose time has come, and sends what connections can take. */
static void tick(ic_timer_t *tm)
{
    struct lthread *t = (struct lthread *)((char *)tm - offsetof(struct lthread, tick));
    if (atomic_load(&stopping))
        return;
    uint64_t now = ic_clock_ns();
    /* Request k is due at t_start + k / rate: those with k <= elapsed · rate are due now. */
    uint64_t due_total = (uint64_t)((double)(now - t_start) * t->rate) + 1;
    while (t->scheduled < due_total) {
        uint64_t due = t_start + (uint64_t)((double)t->scheduled / t->rate);
        t->scheduled++;
        if (t->bl_n == t->bl_cap) {
            t->dropped++; /* the server is this far behind: count it, don't grow without bound */
            continue;
        }
        t->backlog[(t->bl_head + t->bl_n) % t->bl_cap] = due;
        t->bl_n++;
    }
    dispatch(t);
}

static void finish(void)
{
    bool was = atomic_exchange(&stopping, true);
    if (!was) {
        t_end = ic_clock_ns();
        ic_reactor_stop();
    }
}

static void stop_fired(ic_timer_t *tm)
{
    finish();
}

static void progress(ic_timer_t *tm)
{
    static uint64_t last, last_ns;
    uint64_t now = ic_clock_ns(), done = atomic_load(&completed);
    if (last_ns)
        fprintf(stderr, "\r  %5.1f s  %10.0f req/s  %12llu answers ", (double)(now - t_start) / 1e9,
                (double)(done - last) * 1e9 / (double)(now - last_ns), (unsigned long long)done);
    last = done;
    last_ns = now;
}

static void on_start(void *arg)
{
    struct lthread *t = &threads[ic_reactor_id()];
    for (unsigned i = 0; i < t->nc; i++) {
        struct lconn *c = &t->c[i];
        c->t = t;
        if (ic_tcp_connect(opt.host, opt.port, &handlers, c, &c->tc) < 0)
            c->tc = NULL;
    }
    if (opt.rate > 0) {
        ic_timer_init(&t->tick, tick);
        /* Ticks often enough that a request is rarely late by the tick itself: at most 50 µs, or the interval. */
        double interval = 1.0 / t->rate;
        uint64_t period = interval < 50000 ? (uint64_t)interval : 50000;
        ic_timer_start(&t->tick, period, period < 10000 ? 10000 : period);
    }
    if (t->id == 0) {
        if (!opt.count) {
            ic_timer_init(&t->stop, stop_fired);
            ic_timer_start(&t->stop, (uint64_t)((opt.warmup + opt.duration) * 1e9), 0);
        }
        if (!opt.json && isatty(2)) {
            ic_timer_init(&t->progress, progress);
            ic_timer_start(&t->progress, 0, 1000000000);
        }
    }
}

static void on_stop(void *arg)
{
    struct lthread *t = &threads[ic_reactor_id()];
    atomic_store(&stopping, true);
    ic_timer_stop(&t->tick);
    ic_timer_stop(&t->stop);
    ic_timer_stop(&t->progress);
    for (unsigned i = 0; i < t->nc; i++) {
        if (t->c[i].tc) {
            t->c[i].closing = true;
            ic_tcp_close(t->c[i].tc);
        }
    }
}

/* The share of the values above v (those in v's own bucket count as not above). */
static double h_share_above(const hist_t *h, uint64_t v)
{
    if (h->n == 0)
        return 0;
    uint64_t above = 0;
    for (unsigned i = h_index(v) + 1; i < H_COUNT; i++)
        above += h->b[i];
    return (double)above / (double)h->n;
}

/* ---- report ----------------------------------------------------------------------------------------- */

static void report(const hist_t *h, const struct lthread *sum, double secs)
{
    static const double qs[] = {0.5, 0.9, 0.99, 0.999, 0.9999};
    static const char *const qn[] = {"p50", "p90", "p99", "p99.9", "p99.99"};
    uint64_t n = h->n;
    char target[1200];
    if (opt.memcache)
        snprintf(target, sizeof(target), "memcache://%s:%u", opt.host, opt.port);
    else
        snprintf(target, sizeof(target), "http://%s:%u%s", opt.host, opt.port, opt.path);
    if (opt.json) {
        printf("{\"target\":\"%s\",\"threads\":%u,\"connections\":%u,\"depth\":%u,\"mode\":\"%s\",\"rate\":%.1f,"
               "\"seconds\":%.3f,\"requests\":%llu,\"rps\":%.1f,\"latency_ns\":{",
               target, nthreads, opt.conns, opt.depth, opt.rate > 0 ? "open" : "closed", opt.rate, secs, (unsigned long long)n,
               secs > 0 ? (double)n / secs : 0.0);
        for (unsigned i = 0; i < 5; i++)
            printf("\"%s\":%llu,", qn[i], (unsigned long long)h_quantile(h, qs[i]));
        printf("\"min\":%llu,\"max\":%llu,\"mean\":%.0f},", (unsigned long long)h->min, (unsigned long long)h->max,
               n ? h->sum / (double)n : 0.0);
        /* The share of requests slower than 1 ms and 10 ms: where a percentile sits on a step of the distribution (a few
           requests stuck behind a long one), these move smoothly while the percentile jumps. */
        printf("\"over_1ms\":%.6f,\"over_10ms\":%.6f,", h_share_above(h, 1000000), h_share_above(h, 10000000));
        if (opt.memcache)
            printf("\"memcache\":{\"hits\":%llu,\"misses\":%llu,\"stored\":%llu,\"server_errors\":%llu},",
                   (unsigned long long)sum->hits, (unsigned long long)sum->misses, (unsigned long long)sum->stored,
                   (unsigned long long)sum->server_errors);
        else
            printf("\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},", (unsigned long long)sum->ok[1],
                   (unsigned long long)sum->ok[2], (unsigned long long)sum->ok[3], (unsigned long long)sum->ok[4],
                   (unsigned long long)sum->ok[5]);
        printf("\"errors\":{\"connect\":%llu,\"protocol\":%llu,\"lost\":%llu,\"dropped\":%llu,\"reconnects\":%llu}}\n",
               (unsigned long long)sum->err_connect, (unsigned long long)sum->err_protocol, (unsigned long long)sum->err_lost,
               (unsigned long long)sum->dropped, (unsigned long long)sum->reconnects);
        return;
    }
    if (isatty(2))
        fprintf(stderr, "\n");
    printf("icload %s: %u thread(s), %u connection(s), depth %u, %s", target, nthreads, opt.conns, opt.depth,
           opt.rate > 0 ? "open loop" : "closed loop");
    if (opt.rate > 0)
        printf(" at %.0f req/s", opt.rate);
    printf(", %.2f s\n", secs);
    printf("  requests  %llu  (%.1f req/s)\n", (unsigned long long)n, secs > 0 ? (double)n / secs : 0.0);
    printf("  latency  ");
    for (unsigned i = 0; i < 5; i++)
        printf(" %s %.3f ms ", qn[i], (double)h_quantile(h, qs[i]) / 1e6);
    printf(" max %.3f ms  mean %.3f ms\n", (double)h->max / 1e6, n ? h->sum / (double)n / 1e6 : 0.0);
    if (opt.memcache)
        printf("  answers   hits %llu  misses %llu  stored %llu  server errors %llu\n", (unsigned long long)sum->hits,
               (unsigned long long)sum->misses, (unsigned long long)sum->stored, (unsigned long long)sum->server_errors);
    else
        printf("  status    1xx %llu  2xx %llu  3xx %llu  4xx %llu  5xx %llu\n", (unsigned long long)sum->ok[1],
               (unsigned long long)sum->ok[2], (unsigned long long)sum->ok[3], (unsigned long long)sum->ok[4],
               (unsigned long long)sum->ok[5]);
    printf("  errors    connect %llu  protocol %llu  lost %llu  dropped (open loop, backlog full) %llu  reconnects %llu\n",
           (unsigned long long)sum->err_connect, (unsigned long long)sum->err_protocol, (unsigned long long)sum->err_lost,
           (unsigned long long)sum->dropped, (unsigned long long)sum->reconnects);
}

int main(int argc, char **argv)
{
    int r = parse_args(argc, argv);
    if (r)
        return r;
    ic_reactor_config_t rc;
    ic_reactor_config_init(&rc);
    rc.cores = opt.cores;
    rc.quiet = true;
    rc.handle_signals = true;
    rc.on_start = on_start;
    rc.on_stop = on_stop;
    nthreads = ic_reactor_planned(&rc);
    if (nthreads > opt.conns)
        nthreads = rc.cores = opt.conns; /* no reactor without a connection */
    unsigned n = opt.hosts ? opt.hosts : opt.keys;
    if (opt.zipf_s > 0 && (opt.hosts || opt.memcache)) {
        cdf = malloc(sizeof(*cdf) * n);
        double total = 0;
        for (unsigned i = 0; i < n; i++)
            total += 1.0 / pow(i + 1, opt.zipf_s);
        double acc = 0;
        for (unsigned i = 0; i < n; i++)
            cdf[i] = (acc += 1.0 / pow(i + 1, opt.zipf_s) / total);
        cdf_n = n;
    }
    if (opt.memcache) {
        value = malloc(opt.value_size);
        memset(value, 'v', opt.value_size);
    }
    threads = aligned_alloc(64, sizeof(*threads) * nthreads);
    memset(threads, 0, sizeof(*threads) * nthreads);
    for (unsigned i = 0; i < nthreads; i++) {
        struct lthread *t = &threads[i];
        t->id = i;
        t->nc = opt.conns / nthreads + (i < opt.conns % nthreads);
        t->c = calloc(t->nc, sizeof(*t->c));
        for (unsigned k = 0; k < t->nc; k++) {
            t->c[k].due = calloc(opt.depth, sizeof(uint64_t));
            t->c[k].is_set = calloc(opt.depth, sizeof(bool));
        }
        t->h = calloc(1, sizeof(hist_t));
        t->rng = 0x9e3779b97f4a7c15ull * (i + 1);
        if (opt.rate > 0) {
            t->rate = opt.rate / nthreads / 1e9;
            t->bl_cap = 1 << 20;
            t->backlog = malloc(sizeof(uint64_t) * t->bl_cap);
        }
    }
    t_start = ic_clock_ns();
    t_measure = t_start + (uint64_t)(opt.warmup * 1e9);
    r = ic_reactor_run(&rc);
    if (!t_end)
        t_end = ic_clock_ns();
    hist_t *h = calloc(1, sizeof(*h));
    struct lthread sum;
    memset(&sum, 0, sizeof(sum));
    for (unsigned i = 0; i < nthreads; i++) {
        struct lthread *t = &threads[i];
        h_merge(h, t->h);
        for (int k = 0; k < 6; k++)
            sum.ok[k] += t->ok[k];
        sum.hits += t->hits;
        sum.misses += t->misses;
        sum.stored += t->stored;
        sum.server_errors += t->server_errors;
        sum.err_connect += t->err_connect;
        sum.err_protocol += t->err_protocol;
        sum.err_lost += t->err_lost;
        sum.dropped += t->dropped;
        sum.reconnects += t->reconnects;
    }
    int status = 0;
    if (r < 0) {
        fprintf(stderr, "icload: %s\n", ic_strerror(r));
        status = 1;
    } else if (h->n == 0 && sum.err_connect) {
        status = 1; /* every connection was refused: the reason was printed */
    } else {
        uint64_t from = t_measure < t_end ? t_measure : t_end;
        report(h, &sum, (double)(t_end - from) / 1e9);
    }
    for (unsigned i = 0; i < nthreads; i++) {
        for (unsigned k = 0; k < threads[i].nc; k++) {
            free(threads[i].c[k].due);
            free(threads[i].c[k].is_set);
        }
        free(threads[i].c);
        free(threads[i].h);
        free(threads[i].backlog);
    }
    free(threads);
    free(h);
    free(cdf);
    free(value);
    return status;
}
