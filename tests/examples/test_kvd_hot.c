/*
 * test_kvd_hot.c: kvd's hot-key copies (examples/kvd/hot.c) as a client
 * sees them. kvd runs on two cores with a low hotness threshold, so a few
 * keys read over and over get copied to the core that does not own them.
 * The property under test: a get never returns a value older than a write
 * that was acknowledged before the get was sent, on any connection on any
 * core, while writers and readers on both cores run at once. Then every
 * kind of write (set, delete, incr, append, cas, touch, flush_all) must
 * drop the copies before its acknowledgement, and -H 0 must turn them off.
 * `stats hot` says which core a connection is on, so the test can put
 * readers and writers on both cores (the kernel spreads connections).
 *
 * Over sockets the core's FIFOs make most races unlikely to show, so hot.c
 * is also tested on its own (it is included below): a fill overtaken by an
 * invalidation is discarded, the copy table stays bounded, the sketch finds
 * a hot key and forgets it, and on two reactors a write is held exactly
 * until every copy of its set is gone.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_util.h"

static pid_t t_pid = -1;
static unsigned t_port;

/* Starts kvd on two cores on a free port with -H share; reads the port from its first line. */
static void t_kvd_start(const char *share)
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
        execl(path, "kvd", "-p", "0", "-c", "2", "-m", "64", "-H", share, (char *)NULL);
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

static void t_kvd_stop(void)
{
    int st;
    kill(t_pid, SIGTERM);
    cr_assert_eq(waitpid(t_pid, &st, 0), t_pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kvd exit status %d", st);
    t_pid = -1;
}

static void t_fini(void)
{
    if (t_pid > 0) {
        kill(t_pid, SIGKILL);
        waitpid(t_pid, NULL, 0);
        t_pid = -1;
    }
}

/* A client connection with a read buffer. Its functions return -1 on a broken connection (threads cannot assert). */
typedef struct t_conn {
    int fd;
    unsigned core;
    size_t len, off;
    char buf[8192];
} t_conn_t;

static int t_open(t_conn_t *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t_port), .sin_addr.s_addr = htonl(0x7f000001)};
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return connect(c->fd, (struct sockaddr *)&sa, sizeof(sa));
}

static int t_send(t_conn_t *c, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One reply line without its "\r\n" into line (at most cap - 1 bytes). */
static int t_line(t_conn_t *c, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        if (c->off == c->len) {
            ssize_t r = recv(c->fd, c->buf, sizeof(c->buf), 0);
            if (r <= 0)
                return -1;
            c->off = 0;
            c->len = (size_t)r;
        }
        char ch = c->buf[c->off++];
        if (ch == '\n') {
            if (n && line[n - 1] == '\r')
                n--;
            line[n] = 0;
            return 0;
        }
        if (n + 1 < cap)
            line[n++] = ch;
    }
}

/* get key: the value as a number (values here are decimal), -2 for a miss, -1 for a broken reply. cas: gets. */
static long long t_get(t_conn_t *c, const char *key, unsigned long long *cas)
{
    char cmd[128], line[512];
    snprintf(cmd, sizeof(cmd), "%s %s\r\n", cas ? "gets" : "get", key);
    if (t_send(c, cmd) < 0 || t_line(c, line, sizeof(line)) < 0)
        return -1;
    if (strcmp(line, "END") == 0)
        return -2;
    char k[256];
    unsigned flags, bytes;
    unsigned long long u = 0;
    int got = sscanf(line, "VALUE %255s %u %u %llu", k, &flags, &bytes, &u);
    if (got < 3 || strcmp(k, key) != 0 || (cas && got != 4))
        return -1;
    if (cas)
        *cas = u;
    char val[512];
    if (t_line(c, val, sizeof(val)) < 0 || strlen(val) != bytes || t_line(c, line, sizeof(line)) < 0 || strcmp(line, "END") != 0)
        return -1;
    return atoll(val);
}

/* Sends cmd and reads its one-line reply into line. */
static int t_cmd(t_conn_t *c, const char *cmd, char *line, size_t cap)
{
    return t_send(c, cmd) < 0 ? -1 : t_line(c, line, cap);
}

/* One stat from `stats hot` (or plain `stats` if all): its value, or -1. */
static long long t_stat(t_conn_t *c, const char *name, bool all)
{
    char line[512];
    long long v = -1;
    size_t n = strlen(name);
    if (t_send(c, all ? "stats\r\n" : "stats hot\r\n") < 0)
        return -1;
    while (t_line(c, line, sizeof(line)) == 0 && strcmp(line, "END") != 0)
        if (strncmp(line, "STAT ", 5) == 0 && strncmp(line + 5, name, n) == 0 && line[5 + n] == ' ')
            v = atoll(line + 6 + n);
    return v;
}

/* Opens connections until `per` are on each of the two cores (the kernel picks the core), then closes the rest. */
static void t_pair(t_conn_t *conns, unsigned per)
{
    unsigned have[2] = {0, 0}, extra = 0;
    t_conn_t *spare = malloc(sizeof(*spare) * 128);
    for (unsigned tries = 0; (have[0] < per || have[1] < per) && tries < 128; tries++) {
        t_conn_t *c = &spare[extra];
        cr_assert_eq(t_open(c), 0, "connect: %s", strerror(errno));
        long long core = t_stat(c, "core", false);
        cr_assert(core == 0 || core == 1, "stats hot: core %lld", core);
        c->core = (unsigned)core;
        if (have[core] < per) {
            conns[core * per + have[core]++] = *c;
        } else {
            extra++;
        }
    }
    for (unsigned i = 0; i < extra; i++)
        close(spare[i].fd);
    free(spare);
    cr_assert(have[0] == per && have[1] == per, "128 connections did not reach both cores (%u, %u)", have[0], have[1]);
}

/* ---- many writers and readers at once --------------------------------------------------------- */

#define T_KEYS 16
#define T_WRITES 4000 /* per writer */

static struct {
    _Atomic long long acked[T_KEYS]; /* the latest value of each key whose write was acknowledged */
    atomic_bool done;
    atomic_ulong reads, stale, broken;
    char first[256];
    pthread_mutex_t lock;
} t_race;

struct t_worker {
    t_conn_t *c;
    unsigned id;
};

static void t_fail(atomic_ulong *counter, const char *fmt, long long a, long long b, unsigned k)
{
    if (atomic_fetch_add(counter, 1) == 0) {
        pthread_mutex_lock(&t_race.lock);
        snprintf(t_race.first, sizeof(t_race.first), fmt, a, b, k);
        pthread_mutex_unlock(&t_race.lock);
    }
}

/* Writer w owns the keys k with k % 2 == w, so each key has one writer and its values only grow. */
static void *t_writer(void *arg)
{
    struct t_worker *w = arg;
    long long next[T_KEYS] = {0};
    char cmd[128], line[128];
    for (unsigned i = 0; i < T_WRITES; i++) {
        unsigned k = (i * 7 + w->id) % T_KEYS;
        if (k % 2 != w->id)
            k ^= 1;
        long long v = ++next[k];
        /* Alternate the kinds of write: set, incr (the value goes up by one either way), append of nothing new. */
        if (v == 1 || i % 3 == 0)
            snprintf(cmd, sizeof(cmd), "set hk%u 0 0 %d\r\n%lld\r\n", k, snprintf(NULL, 0, "%lld", v), v);
        else
            snprintf(cmd, sizeof(cmd), "incr hk%u 1\r\n", k);
        if (t_cmd(w->c, cmd, line, sizeof(line)) < 0) {
            t_fail(&t_race.broken, "writer: broken connection (%lld %lld %u)", 0, 0, k);
            break;
        }
        if (strcmp(line, "STORED") != 0 && atoll(line) != v) {
            t_fail(&t_race.broken, "writer: reply %lld, want %lld (key %u)", atoll(line), v, k);
            break;
        }
        atomic_store(&t_race.acked[k], v); /* acknowledged: from now on no get may see less */
    }
    return NULL;
}

static void *t_reader(void *arg)
{
    struct t_worker *w = arg;
    unsigned seed = w->id * 7919 + 1;
    char key[16];
    while (!atomic_load(&t_race.done)) {
        /* Mostly the first four keys, so they turn hot; the rest now and then. */
        unsigned k = rand_r(&seed) % 4 ? rand_r(&seed) % 4 : rand_r(&seed) % T_KEYS;
        long long floor = atomic_load(&t_race.acked[k]);
        snprintf(key, sizeof(key), "hk%u", k);
        long long v = t_get(w->c, key, NULL);
        atomic_fetch_add(&t_race.reads, 1);
        if (v == -1) {
            t_fail(&t_race.broken, "reader: broken reply (%lld %lld key %u)", 0, 0, k);
            break;
        }
        if (floor > 0 && v < floor)
            t_fail(&t_race.stale, "stale read: got %lld after %lld was acknowledged (key %u)", v, floor, k);
    }
    return NULL;
}

Test(kvd_hot, copies_never_older_than_an_acknowledged_write, .timeout = 240, .fini = t_fini)
{
    t_kvd_start("100");
    /* Per core: one writer and two readers. */
    t_conn_t *conns = malloc(sizeof(*conns) * 6);
    t_pair(conns, 3);
    memset(&t_race, 0, sizeof(t_race));
    pthread_mutex_init(&t_race.lock, NULL);
    pthread_t wt[2], rt[4];
    struct t_worker ww[2], rw[4];
    for (unsigned i = 0; i < 4; i++) {
        rw[i] = (struct t_worker){&conns[(i / 2) * 3 + 1 + i % 2], i};
        cr_assert_eq(pthread_create(&rt[i], NULL, t_reader, &rw[i]), 0);
    }
    for (unsigned i = 0; i < 2; i++) {
        ww[i] = (struct t_worker){&conns[i * 3], i};
        cr_assert_eq(pthread_create(&wt[i], NULL, t_writer, &ww[i]), 0);
    }
    for (unsigned i = 0; i < 2; i++)
        pthread_join(wt[i], NULL);
    atomic_store(&t_race.done, true);
    for (unsigned i = 0; i < 4; i++)
        pthread_join(rt[i], NULL);
    long long hits = t_stat(&conns[0], "hot_copy_hits", false), inval = t_stat(&conns[0], "hot_invalidations", false);
    long long fills = t_stat(&conns[0], "hot_fills", false);
    cr_log_info("kvd_hot race: %lu reads, %lld copy hits, %lld fills, %lld invalidations", atomic_load(&t_race.reads), hits, fills,
                inval);
    cr_assert_eq(atomic_load(&t_race.broken), 0, "%s", t_race.first);
    cr_assert_eq(atomic_load(&t_race.stale), 0, "%lu stale reads; first: %s", atomic_load(&t_race.stale), t_race.first);
    /* The property was under test only if copies served reads and writes invalidated them. */
    cr_assert_gt(hits, 0);
    cr_assert_gt(inval, 0);
    /* Every key ends at its writer's last value, read from both cores. */
    for (unsigned k = 0; k < T_KEYS; k++) {
        char key[16];
        snprintf(key, sizeof(key), "hk%u", k);
        for (unsigned i = 0; i < 6; i++)
            cr_assert_eq(t_get(&conns[i], key, NULL), atomic_load(&t_race.acked[k]), "key %u on connection %u", k, i);
    }
    for (unsigned i = 0; i < 6; i++)
        close(conns[i].fd);
    free(conns);
    pthread_mutex_destroy(&t_race.lock);
    t_kvd_stop();
}

/* ---- every kind of write -------------------------------------------------------------------------- */

/* Reads each key often enough from both cores that the one not owning it holds a copy; returns the copy hits after. */
static long long t_warm(t_conn_t *c, unsigned nkeys, long long want)
{
    char key[16];
    for (unsigned round = 0; round < 40; round++) {
        for (unsigned k = 0; k < nkeys; k++) {
            snprintf(key, sizeof(key), "w%u", k);
            for (unsigned i = 0; i < 2; i++)
                cr_assert_eq(t_get(&c[i], key, NULL), want, "warm w%u on core %u", k, c[i].core);
        }
    }
    return t_stat(&c[0], "hot_copy_hits", false);
}

/* Asserts that every key reads as want (-2: a miss) on both cores. */
static void t_all(t_conn_t *c, unsigned nkeys, long long want, const char *after)
{
    char key[16];
    for (unsigned k = 0; k < nkeys; k++) {
        snprintf(key, sizeof(key), "w%u", k);
        for (unsigned i = 0; i < 2; i++)
            cr_assert_eq(t_get(&c[i], key, NULL), want, "after %s: w%u on core %u", after, k, c[i].core);
    }
}

/* Writes every key through the connection on the core that does not own... either: alternate the two. */
static void t_each(t_conn_t *c, unsigned nkeys, const char *fmt, const char *reply)
{
    char cmd[128], line[128];
    for (unsigned k = 0; k < nkeys; k++) {
        snprintf(cmd, sizeof(cmd), fmt, k);
        cr_assert_eq(t_cmd(&c[k % 2], cmd, line, sizeof(line)), 0);
        cr_assert_str_eq(line, reply, "%s", cmd);
    }
}

Test(kvd_hot, every_write_drops_copies_before_it_answers, .timeout = 120, .fini = t_fini)
{
    t_kvd_start("100");
    t_conn_t c[2];
    t_pair(c, 1);
    const unsigned n = 16; /* both cores own some of them (a fixed hash; all on one would be 2^-15) */
    long long hits = 0, h;
    char line[128];

    t_each(c, n, "set w%u 0 0 1\r\n1\r\n", "STORED");
    cr_assert_gt(h = t_warm(c, n, 1), hits, "no copy served a get");
    hits = h;
    t_each(c, n, "set w%u 0 0 1\r\n2\r\n", "STORED");
    t_all(c, n, 2, "set");
    cr_assert_gt(h = t_warm(c, n, 2), hits);
    hits = h;
    t_each(c, n, "incr w%u 5\r\n", "7");
    t_all(c, n, 7, "incr");
    cr_assert_gt(h = t_warm(c, n, 7), hits);
    hits = h;
    t_each(c, n, "append w%u 0 0 1\r\n3\r\n", "STORED");
    t_all(c, n, 73, "append");
    cr_assert_gt(h = t_warm(c, n, 73), hits);
    hits = h;
    /* cas with the unique a copy handed out: accepted, and the new value is what everyone reads. */
    for (unsigned k = 0; k < n; k++) {
        char key[16], cmd[128];
        unsigned long long cas = 0;
        snprintf(key, sizeof(key), "w%u", k);
        cr_assert_eq(t_get(&c[k % 2], key, &cas), 73);
        snprintf(cmd, sizeof(cmd), "cas w%u 0 0 2 %llu\r\n74\r\n", k, cas);
        cr_assert_eq(t_cmd(&c[(k + 1) % 2], cmd, line, sizeof(line)), 0);
        cr_assert_str_eq(line, "STORED", "cas w%u", k);
    }
    t_all(c, n, 74, "cas");
    cr_assert_gt(h = t_warm(c, n, 74), hits);
    hits = h;
    t_each(c, n, "delete w%u\r\n", "DELETED");
    t_all(c, n, -2, "delete");
    t_each(c, n, "set w%u 0 0 1\r\n5\r\n", "STORED");
    cr_assert_gt(h = t_warm(c, n, 5), hits);
    hits = h;
    t_each(c, n, "touch w%u -1\r\n", "TOUCHED"); /* expires them now */
    t_all(c, n, -2, "touch");
    t_each(c, n, "set w%u 0 0 1\r\n6\r\n", "STORED");
    cr_assert_gt(h = t_warm(c, n, 6), hits);
    cr_assert_eq(t_cmd(&c[0], "flush_all\r\n", line, sizeof(line)), 0);
    cr_assert_str_eq(line, "OK");
    t_all(c, n, -2, "flush_all");
    /* A delayed flush_all: copies go at once and none is granted until it took effect; the values stay until then. */
    t_each(c, n, "set w%u 0 0 1\r\n8\r\n", "STORED");
    t_warm(c, n, 8);
    cr_assert_eq(t_cmd(&c[1], "flush_all 2\r\n", line, sizeof(line)), 0);
    cr_assert_str_eq(line, "OK");
    cr_assert_eq(t_stat(&c[0], "hot_copies", false), 0, "copies left after a delayed flush_all");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t until = ts.tv_sec + 4;
    long long v = 8;
    /* Until the flush time the keys read 8 (never a copy: none is granted), then they are gone everywhere. */
    while (v == 8) {
        clock_gettime(CLOCK_REALTIME, &ts);
        cr_assert_leq(ts.tv_sec, until + 10, "the delayed flush never took effect");
        v = t_get(&c[0], "w0", NULL);
        cr_assert(v == 8 || v == -2, "w0 read %lld", v);
        cr_assert_eq(t_stat(&c[0], "hot_copies", false), 0);
    }
    t_all(c, n, -2, "a delayed flush_all");
    close(c[0].fd);
    close(c[1].fd);
    t_kvd_stop();
}

Test(kvd_hot, share_zero_turns_copies_off, .timeout = 60, .fini = t_fini)
{
    t_kvd_start("0");
    t_conn_t c[2];
    t_pair(c, 1);
    t_each(c, 16, "set w%u 0 0 1\r\n1\r\n", "STORED");
    t_warm(c, 16, 1);
    cr_assert_eq(t_stat(&c[0], "hot_share", false), 0);
    cr_assert_eq(t_stat(&c[0], "hot_copy_hits", false), 0);
    cr_assert_eq(t_stat(&c[0], "hot_grants", false), 0);
    /* The plain `stats` carries the counters too (memcached clients ignore what they do not know). */
    cr_assert_eq(t_stat(&c[1], "hot_copies", true), 0);
    cr_assert_eq(t_stat(&c[1], "cmd_get", true), 16 * 40 * 2);
    close(c[0].fd);
    close(c[1].fd);
    t_kvd_stop();
}

/* ---- hot.c on its own ------------------------------------------------------------------------------ */

/*
 * The core keeps an owner's answers and requests to one reader in one FIFO,
 * so over a socket an invalidation never overtakes a fill; the epoch check
 * that guards against it is tested here, with hot.c's invalidation handler
 * called directly (the file is included for its static functions).
 */
#include "../../examples/kvd/hot.c"

static kv_hot_t t_h;

/* A hash of a given copy-table set, owned by core 0 of 2 (even), distinct per i. */
static uint64_t t_hash(unsigned set, unsigned i)
{
    return (uint64_t)set << 40 | (uint64_t)(i + 1) << 2;
}

static void t_fill_into(kv_hot_t *h, uint64_t stamp, const char *key, uint64_t hash, const char *val)
{
    kv_hot_fill(h, 0, stamp, key, strlen(key), hash, 3, 42, 0, val, strlen(val));
}

static void t_fill(uint64_t stamp, const char *key, uint64_t hash, const char *val)
{
    t_fill_into(&t_h, stamp, key, hash, val);
}

Test(kvd_hot, a_fill_overtaken_by_an_invalidation_is_discarded)
{
    kv_hot_init(&t_h, 1, 2, 100);
    uint64_t h = t_hash(5, 0), other = t_hash(6, 0);
    uint64_t stamp = kv_hot_stamp(&t_h, h), stamp_other = kv_hot_stamp(&t_h, other);
    /* The owner answered the get, then a write's invalidation of that set ran here before the answer did. */
    inval_work(NULL, (void *)inval_arg(5, 0, 1));
    t_fill(stamp, "a", h, "old");
    cr_assert_eq(t_h.st.fills_stale, 1);
    cr_assert_null(kv_hot_lookup(&t_h, "a", 1, h, 0));
    /* Another set's stamp is untouched by it. */
    t_fill(stamp_other, "b", other, "v");
    cr_assert_not_null(kv_hot_lookup(&t_h, "b", 1, other, 0));
    /* A get sent after the invalidation may fill; the next invalidation drops the copy. */
    t_fill(kv_hot_stamp(&t_h, h), "a", h, "new");
    const kv_copy_t *c = kv_hot_lookup(&t_h, "a", 1, h, 0);
    cr_assert_not_null(c);
    cr_assert_eq(c->nval, 3);
    cr_assert_eq(memcmp(c->data + c->nkey, "new", 3), 0);
    cr_assert_eq(c->cas, 42);
    inval_work(NULL, (void *)inval_arg(5, 0, 1));
    cr_assert_null(kv_hot_lookup(&t_h, "a", 1, h, 0));
    cr_assert_not_null(kv_hot_lookup(&t_h, "b", 1, other, 0));
    /* "Everything from owner 0" bumps the stamp of every set and drops every copy of that owner only. */
    uint64_t s7 = kv_hot_stamp(&t_h, t_hash(7, 0));
    kv_hot_fill(&t_h, 3, kv_hot_stamp(&t_h, t_hash(8, 0)), "z", 1, t_hash(8, 0), 0, 1, 0, "z", 1); /* owner 3 */
    inval_work(NULL, (void *)inval_arg(ALL_SETS, 0, 1));
    cr_assert_null(kv_hot_lookup(&t_h, "b", 1, other, 0));
    cr_assert_not_null(kv_hot_lookup(&t_h, "z", 1, t_hash(8, 0), 0));
    t_fill(s7, "c", t_hash(7, 0), "v");
    cr_assert_null(kv_hot_lookup(&t_h, "c", 1, t_hash(7, 0), 0));
    cr_assert_eq(t_h.st.copies, 1);
    kv_hot_fini(&t_h);
    cr_assert_eq(t_h.st.copies, 0);
}

Test(kvd_hot, copy_table_is_bounded_by_clock_and_expiry)
{
    kv_hot_init(&t_h, 1, 2, 100);
    char key[8];
    /* Three keys in one set of two ways: the one not used since the hand passed goes. */
    for (unsigned i = 0; i < 2; i++) {
        snprintf(key, sizeof(key), "k%u", i);
        t_fill(kv_hot_stamp(&t_h, t_hash(9, i)), key, t_hash(9, i), "v");
    }
    cr_assert_not_null(kv_hot_lookup(&t_h, "k1", 2, t_hash(9, 1), 0)); /* k1 used: k0 is the victim */
    t_fill(kv_hot_stamp(&t_h, t_hash(9, 2)), "k2", t_hash(9, 2), "v");
    cr_assert_null(kv_hot_lookup(&t_h, "k0", 2, t_hash(9, 0), 0));
    cr_assert_not_null(kv_hot_lookup(&t_h, "k1", 2, t_hash(9, 1), 0));
    cr_assert_not_null(kv_hot_lookup(&t_h, "k2", 2, t_hash(9, 2), 0));
    cr_assert_eq(t_h.st.copies, 2);
    /* A copy keeps its item's expiry. */
    kv_hot_fill(&t_h, 0, kv_hot_stamp(&t_h, t_hash(10, 0)), "e", 1, t_hash(10, 0), 0, 1, 1000, "v", 1);
    cr_assert_not_null(kv_hot_lookup(&t_h, "e", 1, t_hash(10, 0), 999));
    cr_assert_null(kv_hot_lookup(&t_h, "e", 1, t_hash(10, 0), 1000));
    cr_assert_eq(t_h.st.copies, 2);
    /* Thousands of keys: never more copies than the table holds. */
    for (unsigned i = 0; i < 3 * KV_HOT_SETS * KV_HOT_WAYS; i++) {
        uint64_t h = t_hash(i % KV_HOT_SETS, i);
        t_fill(kv_hot_stamp(&t_h, h), "x", h, "v");
    }
    cr_assert_eq(t_h.st.copies, KV_HOT_SETS * KV_HOT_WAYS);
    kv_hot_fini(&t_h);
}

Test(kvd_hot, sketch_finds_the_hot_key_and_forgets_it)
{
    kv_hot_init(&t_h, 0, 2, 100);
    /* One key in five reads, the rest spread over 20,000 keys: only that one is hot (1/100 is the bar). */
    unsigned seed = 1, hot = 0, cold = 0, ones = 0;
    for (unsigned i = 0; i < 4 * KV_HOT_WINDOW; i++) {
        bool one = i % 5 == 0;
        uint64_t h = one ? 0xabcdef12345ull : (uint64_t)(rand_r(&seed) % 20000 + 1) * 0x9e3779b97f4a7c15ull;
        bool is = kv_hot_count(&t_h, h);
        if (i > KV_HOT_WINDOW) {
            ones += one;
            if (one)
                hot += is;
            else
                cold += is;
        }
    }
    cr_assert_eq(hot, ones, "the hot key was hot %u times of %u", hot, ones);
    cr_log_info("sketch: %u of %u cold reads looked hot", cold, 3 * KV_HOT_WINDOW - ones);
    cr_assert_lt(cold, 3 * KV_HOT_WINDOW / 100, "%u cold reads looked hot", cold);
    /* It stops: a few windows of other reads, and it is not hot any more. */
    for (unsigned i = 0; i < 8 * KV_HOT_WINDOW; i++)
        kv_hot_count(&t_h, (uint64_t)(rand_r(&seed) % 20000 + 1) * 0x9e3779b97f4a7c15ull);
    cr_assert(!kv_hot_count(&t_h, 0xabcdef12345ull));
    /* Off: nothing is ever hot. */
    kv_hot_init(&t_h, 0, 2, 0);
    for (unsigned i = 0; i < 100; i++)
        cr_assert(!kv_hot_count(&t_h, 1));
}

/*
 * The owner's side on real reactors: core 0 owns, core 1 holds a copy.
 * Writes of a set that has a holder, or whose invalidation is still out,
 * are held until core 1 ran it (its copy is gone by then), in order; a write
 * of a set nobody copied is not held; flush_all is held for every set.
 */
static kv_hot_t t_h0, t_h1;
static struct {
    unsigned order[8], n;
    bool held[5];
    uint64_t copies_at_release[8];
    bool quiet_before, quiet_after;
} T;
static uint32_t t_need[5][2];
static kv_hot_waiter_t t_w[5];

static void t_release(kv_hot_waiter_t *w)
{
    unsigned i = (unsigned)(w - t_w);
    T.copies_at_release[T.n] = __atomic_load_n(&t_h1.st.copies, __ATOMIC_RELAXED);
    T.order[T.n++] = i;
    if (i == 4) {
        T.quiet_after = kv_hot_quiet(&t_h0, t_hash(5, 0)) && kv_hot_quiet(&t_h0, t_hash(6, 0));
        ic_reactor_stop();
    }
}

static void t_owner_start(void *arg)
{
    if (ic_reactor_id() != 0)
        return;
    uint64_t a = t_hash(5, 0), b = t_hash(5, 1), cold = t_hash(6, 0);
    for (unsigned i = 0; i < 5; i++)
        t_w[i] = (kv_hot_waiter_t){.cb = t_release, .need = t_need[i]};
    kv_hot_grant(&t_h0, 1, a);
    T.quiet_before = kv_hot_quiet(&t_h0, b);
    T.held[0] = kv_hot_write(&t_h0, a, false, &t_w[0]);    /* core 1 may hold a copy of set 5: held */
    T.held[1] = kv_hot_write(&t_h0, b, false, &t_w[1]);    /* set 5 again: its invalidation is still out */
    T.held[2] = kv_hot_write(&t_h0, cold, false, &t_w[2]); /* set 6: nobody copied it, nothing to wait for */
    kv_hot_grant(&t_h0, 1, cold);
    T.held[3] = kv_hot_write(&t_h0, cold, false, &t_w[3]); /* now it has a holder */
    T.held[4] = kv_hot_write(&t_h0, 0, true, &t_w[4]);     /* flush_all: waits for everything out */
}

Test(kvd_hot, held_writes_wait_for_every_copy_of_their_set, .timeout = 60)
{
    memset(&T, 0, sizeof(T));
    kv_hot_init(&t_h0, 0, 2, 100);
    kv_hot_init(&t_h1, 1, 2, 100);
    /* Core 1's copy of a set-5 key owned by core 0 (installed before the reactors run). */
    t_fill_into(&t_h1, kv_hot_stamp(&t_h1, t_hash(5, 0)), "a", t_hash(5, 0), "v");
    cr_assert_eq(t_h1.st.copies, 1);
    ic_reactor_config_t cfg = t_config(2, t_owner_start, NULL);
    t_run(&cfg);
    cr_assert(!T.quiet_before);
    cr_assert(T.held[0] && T.held[1] && !T.held[2] && T.held[3] && T.held[4], "held %d %d %d %d %d", T.held[0], T.held[1],
              T.held[2], T.held[3], T.held[4]);
    cr_assert_eq(T.n, 4, "released %u", T.n);
    unsigned want[] = {0, 1, 3, 4};
    for (unsigned i = 0; i < 4; i++) {
        cr_assert_eq(T.order[i], want[i], "release %u was write %u", i, T.order[i]);
        cr_assert_eq(T.copies_at_release[i], 0, "write %u released while core 1 still held its copy", T.order[i]);
    }
    cr_assert(T.quiet_after);
    cr_assert_eq(t_h0.st.invalidations, 2); /* set 5, then set 6; the flush found no holder left, and waited for those */
    cr_assert_eq(t_h1.epoch[5], 1);
    cr_assert_eq(t_h1.epoch[6], 1);
    cr_assert_eq(t_h1.epoch_all, 0);
    kv_hot_fini(&t_h0);
    kv_hot_fini(&t_h1);
}
