/*
 * test_dns.c: the resolver (isocore/dns.h) on a reactor, without the
 * network: /etc/hosts (`localhost`), numeric addresses, and a small DNS
 * server of the test's own on 127.0.0.1 (UDP, on a thread) that the
 * resolver is pointed at with ic_dns_configure. The server answers A and
 * AAAA records with a TTL of 1 s, NXDOMAIN for names it does not know, and
 * nothing at all for slow.test (the timeout). It counts the A queries it
 * got per name, so that the tests can tell a cache hit from a query.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "t_util.h"

/* ---- the fake DNS server ------------------------------------------------------------------------ */

enum { T_V4, T_TTL, T_SHARED, T_ONLY6, T_SLOW, T_OTHER, T_NNAMES };
static const char *const t_names[T_NNAMES] = {"v4.test", "ttl.test", "shared.test", "only6.test", "slow.test", ""};

static int t_srv_fd;
static unsigned t_srv_port;
static pthread_t t_srv_thread;
static atomic_bool t_srv_stop;
static atomic_int t_srv_a[T_NNAMES]; /* A queries received, per name */
static atomic_int t_srv_bulk;        /* A queries for n<i>.bulk.test */

/* Appends one answer record (the name is a pointer to the question's, at offset 12). */
static size_t t_rr(unsigned char *p, unsigned type, unsigned ttl, const void *rdata, unsigned rdlen)
{
    unsigned char *s = p;
    *p++ = 0xc0;
    *p++ = 12;
    *p++ = (unsigned char)(type >> 8);
    *p++ = (unsigned char)type;
    *p++ = 0;
    *p++ = 1; /* IN */
    *p++ = (unsigned char)(ttl >> 24);
    *p++ = (unsigned char)(ttl >> 16);
    *p++ = (unsigned char)(ttl >> 8);
    *p++ = (unsigned char)ttl;
    *p++ = (unsigned char)(rdlen >> 8);
    *p++ = (unsigned char)rdlen;
    memcpy(p, rdata, rdlen);
    return (size_t)(p + rdlen - s);
}

static void t_answer(const unsigned char *q, size_t qlen, const struct sockaddr_in *from)
{
    if (qlen < 12 + 5)
        return;
    /* The question's name, in lower case dotted form. */
    char name[256];
    size_t off = 12, n = 0;
    while (off < qlen && q[off]) {
        unsigned l = q[off++];
        if (l > 63 || off + l > qlen || n + l + 1 >= sizeof(name))
            return;
        if (n)
            name[n++] = '.';
        for (unsigned i = 0; i < l; i++)
            name[n++] = (char)(q[off + i] >= 'A' && q[off + i] <= 'Z' ? q[off + i] + 32 : q[off + i]);
        off += l;
    }
    name[n] = '\0';
    off++;
    if (off + 4 > qlen)
        return;
    unsigned type = (unsigned)q[off] << 8 | q[off + 1];
    size_t qend = off + 4;

    /* n<i>.bulk.test: 10.1.<i/256>.<i%256>, for 300 s (the cache's bound). */
    unsigned bulk;
    char tail[16];
    if (sscanf(name, "n%u.%15s", &bulk, tail) == 2 && strcmp(tail, "bulk.test") == 0) {
        unsigned char r[512];
        memcpy(r, q, qend);
        r[2] = 0x81;
        r[3] = 0x80;
        memset(r + 6, 0, 6);
        size_t len = qend;
        if (type == 1) {
            unsigned char a[4] = {10, 1, (unsigned char)(bulk >> 8), (unsigned char)bulk};
            len += t_rr(r + len, 1, 300, a, 4);
            r[7] = 1;
            t_srv_bulk++;
        }
        sendto(t_srv_fd, r, len, 0, (const struct sockaddr *)from, sizeof(*from));
        return;
    }

    int which = T_OTHER;
    for (int i = 0; i < T_OTHER; i++)
        if (strcmp(name, t_names[i]) == 0)
            which = i;
    if (type == 1)
        t_srv_a[which]++;
    if (which == T_SLOW)
        return; /* never answered: the resolver times out */

    unsigned char r[512];
    memcpy(r, q, qend);
    r[2] = 0x81; /* QR, RD */
    r[3] = 0x80; /* RA, NOERROR */
    r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
    size_t len = qend;
    unsigned an = 0;
    static const unsigned char a1[4] = {10, 0, 0, 1}, a2[4] = {10, 0, 0, 2}, a3[4] = {10, 0, 0, 3};
    static const unsigned char six[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    switch (which) {
    case T_V4:
        /* The AAAA answer is sent first when asked: the resolver must still put IPv4 first. */
        if (type == 28) {
            len += t_rr(r + len, 28, 1, six, 16);
            an++;
        } else if (type == 1) {
            len += t_rr(r + len, 1, 1, a1, 4);
            len += t_rr(r + len, 1, 1, a2, 4);
            an += 2;
        }
        break;
    case T_TTL:
    case T_SHARED:
        if (type == 1) {
            len += t_rr(r + len, 1, 1, a3, 4);
            an++;
        }
        break;
    case T_ONLY6:
        if (type == 28) {
            len += t_rr(r + len, 28, 100000, six, 16); /* a long TTL: clamped to 300 s */
            an++;
        }
        break;
    default:
        r[3] = 0x83; /* NXDOMAIN */
        break;
    }
    r[7] = (unsigned char)an;
    sendto(t_srv_fd, r, len, 0, (const struct sockaddr *)from, sizeof(*from));
}

static void *t_srv_main(void *arg)
{
    (void)arg;
    while (!t_srv_stop) {
        struct pollfd pfd = {.fd = t_srv_fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue; /* the timeout only bounds how late the stop flag is seen */
        unsigned char q[512];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(t_srv_fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
        if (n > 0)
            t_answer(q, (size_t)n, &from);
    }
    return NULL;
}

/* Starts the server and points the resolver at it, with lookups given up after timeout_ms. */
static void t_srv_start(unsigned timeout_ms)
{
    t_srv_fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(t_srv_fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t sl = sizeof(sa);
    cr_assert_eq(bind(t_srv_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(t_srv_fd, (struct sockaddr *)&sa, &sl), 0);
    t_srv_port = ntohs(sa.sin_port);
    for (int i = 0; i < T_NNAMES; i++)
        t_srv_a[i] = 0;
    t_srv_bulk = 0;
    t_srv_stop = false;
    cr_assert_eq(pthread_create(&t_srv_thread, NULL, t_srv_main, NULL), 0);
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", t_srv_port);
    cr_assert_eq(ic_dns_configure(servers, timeout_ms), 0);
}

static void t_srv_end(void)
{
    t_srv_stop = true;
    pthread_join(t_srv_thread, NULL);
    close(t_srv_fd);
    ic_dns_configure(NULL, 0);
}

/* ---- results ------------------------------------------------------------------------------------------ */

struct t_res {
    int calls;
    int err;
    ic_dns_answer_t a;
    void (*then)(void); /* the next step, run from the callback */
};

static bool t_in_resolve; /* set around ic_dns_resolve calls: a callback must never run inside one */
static ic_dns_stats_t t_stats;

static void t_cb(void *arg, int err, const ic_dns_answer_t *a)
{
    struct t_res *r = arg;
    cr_assert(!t_in_resolve, "callback ran inside ic_dns_resolve");
    r->calls++;
    r->err = err;
    if (err == 0) {
        cr_assert_not_null(a);
        cr_assert_geq(a->n, 1);
        r->a = *a;
    } else {
        cr_assert_null(a);
    }
    if (r->then)
        r->then();
}

static int t_resolve(const char *name, struct t_res *r, ic_dns_query_t **q)
{
    t_in_resolve = true;
    int ret = ic_dns_resolve(name, t_cb, r, q);
    t_in_resolve = false;
    return ret;
}

static void t_run1(void (*on_start)(void *), void (*on_stop)(void *))
{
    ic_reactor_config_t cfg = t_config(1, on_start, NULL);
    cfg.on_stop = on_stop;
    t_run(&cfg);
}

/* ---- /etc/hosts and numeric addresses ------------------------------------------------------------- */

static struct t_res t_r1, t_r2, t_r3, t_r4;

static void t_hosts_second(void)
{
    ic_dns_stats(&t_stats);
    ic_reactor_stop();
}

static void t_hosts_first(void)
{
    /* The same name in another case: the cache is keyed by the lower-case name. */
    cr_assert_eq(t_resolve("LocalHost", &t_r2, NULL), 0);
}

static void t_hosts_start(void *arg)
{
    t_r1 = (struct t_res){.then = t_hosts_first};
    t_r2 = (struct t_res){.then = t_hosts_second};
    cr_assert_eq(t_resolve("localhost", &t_r1, NULL), 0);
    cr_assert_eq(t_r1.calls, 0);
}

Test(dns, localhost_from_etc_hosts, .timeout = 20)
{
    t_srv_start(2000);
    t_run1(t_hosts_start, NULL);
    t_srv_end();
    cr_assert_eq(t_r1.calls, 1);
    cr_assert_eq(t_r1.err, 0, "localhost: %s", ic_strerror(t_r1.err));
    bool loop = false;
    for (unsigned i = 0; i < t_r1.a.n; i++)
        loop |= strcmp(t_r1.a.addr[i], "127.0.0.1") == 0 || strcmp(t_r1.a.addr[i], "::1") == 0;
    cr_assert(loop, "localhost gave %u addresses, first %s", t_r1.a.n, t_r1.a.addr[0]);
    cr_assert_eq(t_r2.calls, 1);
    cr_assert_eq(t_r2.err, 0);
    cr_assert_eq(t_stats.lookups, 2);
    cr_assert_eq(t_stats.queries, 1);
    cr_assert_eq(t_stats.hits, 1);
    cr_assert_eq(t_stats.failures, 0);
    /* /etc/hosts answered: the server was never asked about localhost. */
    cr_assert_eq(t_srv_a[T_OTHER], 0);
}

static void t_numeric_done(void)
{
    if (t_r1.calls + t_r2.calls + t_r3.calls == 3) {
        ic_dns_stats(&t_stats);
        ic_reactor_stop();
    }
}

static void t_numeric_start(void *arg)
{
    t_r1 = (struct t_res){.then = t_numeric_done};
    t_r2 = (struct t_res){.then = t_numeric_done};
    t_r3 = (struct t_res){.then = t_numeric_done};
    t_r4 = (struct t_res){0};
    ic_dns_query_t *q;
    cr_assert_eq(t_resolve("192.0.2.7", &t_r1, NULL), 0);
    cr_assert_eq(t_resolve("2001:DB8:0:0::0001", &t_r2, NULL), 0);
    cr_assert_eq(t_resolve("::ffff:10.1.2.3", &t_r3, NULL), 0);
    cr_assert_eq(t_resolve("192.0.2.8", &t_r4, &q), 0);
    ic_dns_cancel(q);
    cr_assert_eq(t_r1.calls + t_r2.calls + t_r3.calls, 0, "a numeric answer came from inside ic_dns_resolve");
}

Test(dns, numeric_addresses_answer_themselves, .timeout = 20)
{
    t_run1(t_numeric_start, NULL);
    cr_assert_eq(t_r1.calls, 1);
    cr_assert_eq(t_r1.err, 0);
    cr_assert_eq(t_r1.a.n, 1);
    cr_assert_str_eq(t_r1.a.addr[0], "192.0.2.7");
    cr_assert_eq(t_r2.a.n, 1);
    cr_assert_str_eq(t_r2.a.addr[0], "2001:db8::1", "canonical form");
    cr_assert_str_eq(t_r3.a.addr[0], "::ffff:10.1.2.3");
    cr_assert_eq(t_r4.calls, 0, "a cancelled query's callback ran");
    cr_assert_eq(t_stats.lookups, 0, "numeric addresses are not lookups");
    cr_assert_eq(t_stats.queries, 0);
}

static int t_invalid[16], t_ninvalid;

static void t_invalid_start(void *arg)
{
    static const char *const bad[] = {
        "", ".", "a..b", ".a", "a_b.test", "a b", "ex ample.com", "a/b", "caf\xc3\xa9.test", "[::1]", "1.2.3.4:80", "fe80::1%lo"};
    char label[80], longname[300];
    memset(label, 'a', 64);
    strcpy(label + 64, ".test");
    memset(longname, 'a', sizeof(longname));
    for (int i = 63; i < 254; i += 64)
        longname[i] = '.';
    longname[254] = '\0'; /* 254 bytes */
    struct t_res r = {0};
    t_ninvalid = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        t_invalid[t_ninvalid++] = t_resolve(bad[i], &r, NULL);
    t_invalid[t_ninvalid++] = t_resolve(label, &r, NULL);
    t_invalid[t_ninvalid++] = t_resolve(longname, &r, NULL);
    cr_assert_eq(r.calls, 0);
    ic_reactor_stop();
}

Test(dns, invalid_names, .timeout = 20)
{
    struct t_res r = {0};
    cr_assert_eq(ic_dns_resolve("localhost", t_cb, &r, NULL), IC_ENOTREACTOR);
    t_run1(t_invalid_start, NULL);
    cr_assert_eq(t_ninvalid, 14);
    for (int i = 0; i < t_ninvalid; i++)
        cr_assert_eq(t_invalid[i], -EINVAL, "name %d gave %d", i, t_invalid[i]);
}

/* ---- the fake server: answers, failures, timeouts ----------------------------------------------- */

static void t_answers_done(void)
{
    if (t_r1.calls + t_r2.calls + t_r3.calls + t_r4.calls == 4) {
        ic_dns_stats(&t_stats);
        ic_reactor_stop();
    }
}

static void t_answers_start(void *arg)
{
    t_r1 = (struct t_res){.then = t_answers_done};
    t_r2 = (struct t_res){.then = t_answers_done};
    t_r3 = (struct t_res){.then = t_answers_done};
    t_r4 = (struct t_res){.then = t_answers_done};
    cr_assert_eq(t_resolve("v4.test", &t_r1, NULL), 0);
    cr_assert_eq(t_resolve("nonexistent.invalid", &t_r2, NULL), 0);
    cr_assert_eq(t_resolve("only6.test.", &t_r3, NULL), 0);
    cr_assert_eq(t_resolve("slow.test", &t_r4, NULL), 0);
}

Test(dns, answers_failures_and_timeouts_from_a_server, .timeout = 30)
{
    t_srv_start(600);
    uint64_t t0 = ic_clock_ns();
    t_run1(t_answers_start, NULL);
    uint64_t ms = (ic_clock_ns() - t0) / 1000000;
    t_srv_end();
    cr_assert_eq(t_r1.err, 0, "v4.test: %s", ic_strerror(t_r1.err));
    cr_assert_eq(t_r1.a.n, 3);
    cr_assert_str_eq(t_r1.a.addr[0], "10.0.0.1", "IPv4 first, in the server's order");
    cr_assert_str_eq(t_r1.a.addr[1], "10.0.0.2");
    cr_assert_str_eq(t_r1.a.addr[2], "fd00::1");
    cr_assert_eq(t_r2.err, IC_EDNS_NOTFOUND, "nonexistent.invalid: %s", ic_strerror(t_r2.err));
    cr_assert_eq(t_r3.err, 0, "only6.test: %s", ic_strerror(t_r3.err));
    cr_assert_eq(t_r3.a.n, 1);
    cr_assert_str_eq(t_r3.a.addr[0], "fd00::1");
    cr_assert_eq(t_r4.err, -ETIMEDOUT, "slow.test: %s", ic_strerror(t_r4.err));
    cr_assert_geq(t_srv_a[T_SLOW], 1);
    /* 600 ms over two tries: not much sooner, not much later. */
    cr_assert(ms >= 500 && ms < 5000, "the timeout took %llu ms", (unsigned long long)ms);
    cr_assert_eq(t_stats.lookups, 4);
    cr_assert_eq(t_stats.queries, 4);
    cr_assert_eq(t_stats.failures, 2);
}

/* ---- the cache --------------------------------------------------------------------------------------- */

static ic_timer_t t_timer;
static ic_dns_stats_t t_after_hit, t_after_expiry;
static int t_a_after_hit;

static void t_cache_third(void)
{
    ic_dns_stats(&t_after_expiry);
    ic_reactor_stop();
}

static void t_cache_expired(ic_timer_t *t)
{
    cr_assert_eq(t_resolve("ttl.test", &t_r3, NULL), 0);
}

static void t_cache_second(void)
{
    ic_dns_stats(&t_after_hit);
    t_a_after_hit = t_srv_a[T_TTL];
    /* Past the TTL (1 s): the next lookup asks again. */
    ic_timer_start(&t_timer, 1300 * 1000000ull, 0);
}

static void t_cache_first(void)
{
    cr_assert_eq(t_resolve("TTL.test", &t_r2, NULL), 0);
}

static void t_cache_start(void *arg)
{
    t_r1 = (struct t_res){.then = t_cache_first};
    t_r2 = (struct t_res){.then = t_cache_second};
    t_r3 = (struct t_res){.then = t_cache_third};
    ic_timer_init(&t_timer, t_cache_expired);
    cr_assert_eq(t_resolve("ttl.test", &t_r1, NULL), 0);
}

static void t_cache_stop(void *arg)
{
    ic_timer_stop(&t_timer);
}

Test(dns, cache_hit_then_expiry, .timeout = 30)
{
    t_srv_start(2000);
    t_run1(t_cache_start, t_cache_stop);
    t_srv_end();
    cr_assert_eq(t_r1.err, 0, "%s", ic_strerror(t_r1.err));
    cr_assert_eq(t_r2.err, 0);
    cr_assert_str_eq(t_r2.a.addr[0], "10.0.0.3");
    cr_assert_eq(t_r3.err, 0);
    cr_assert_eq(t_after_hit.lookups, 2);
    cr_assert_eq(t_after_hit.hits, 1, "the second lookup was not a hit");
    cr_assert_eq(t_after_hit.queries, 1);
    cr_assert_eq(t_a_after_hit, 1);
    cr_assert_eq(t_after_expiry.queries, 2, "no query after the TTL");
    cr_assert_eq(t_after_expiry.hits, 1);
    cr_assert_eq(t_srv_a[T_TTL], 2);
}

static void t_fail_second(void)
{
    ic_dns_stats(&t_stats);
    ic_reactor_stop();
}

static void t_fail_first(void)
{
    cr_assert_eq(t_resolve("nx.test", &t_r2, NULL), 0);
}

static void t_fail_start(void *arg)
{
    t_r1 = (struct t_res){.then = t_fail_first};
    t_r2 = (struct t_res){.then = t_fail_second};
    cr_assert_eq(t_resolve("nx.test", &t_r1, NULL), 0);
}

Test(dns, failures_are_cached, .timeout = 20)
{
    t_srv_start(2000);
    t_run1(t_fail_start, NULL);
    t_srv_end();
    cr_assert_eq(t_r1.err, IC_EDNS_NOTFOUND, "%s", ic_strerror(t_r1.err));
    cr_assert_eq(t_r2.err, IC_EDNS_NOTFOUND);
    cr_assert_eq(t_stats.hits, 1);
    cr_assert_eq(t_stats.queries, 1);
    cr_assert_eq(t_stats.failures, 2);
}

/* 1025 names, one after the other, then the first (evicted: asked again) and the second (still there). */
#define T_BULK 1025
static unsigned t_bulk_i;
static int t_bulk_err;
static ic_dns_stats_t t_bulk_full, t_bulk_end;

static void t_bulk_cb(void *arg, int err, const ic_dns_answer_t *a)
{
    char name[64];
    if (err && !t_bulk_err)
        t_bulk_err = err;
    if (++t_bulk_i < T_BULK) {
        snprintf(name, sizeof(name), "n%u.bulk.test", t_bulk_i);
        cr_assert_eq(ic_dns_resolve(name, t_bulk_cb, NULL, NULL), 0);
        return;
    }
    if (t_bulk_i == T_BULK) {
        ic_dns_stats(&t_bulk_full);
        cr_assert_eq(ic_dns_resolve("n1.bulk.test", t_bulk_cb, NULL, NULL), 0);
    } else if (t_bulk_i == T_BULK + 1) {
        cr_assert_eq(ic_dns_resolve("n0.bulk.test", t_bulk_cb, NULL, NULL), 0);
    } else {
        cr_assert_str_eq(a->addr[0], "10.1.0.0");
        ic_dns_stats(&t_bulk_end);
        ic_reactor_stop();
    }
}

static void t_bulk_start(void *arg)
{
    t_bulk_i = 0;
    t_bulk_err = 0;
    cr_assert_eq(ic_dns_resolve("n0.bulk.test", t_bulk_cb, NULL, NULL), 0);
}

Test(dns, cache_is_bounded_and_evicts_the_oldest, .timeout = 60)
{
    t_srv_start(2000);
    t_run1(t_bulk_start, NULL);
    t_srv_end();
    cr_assert_eq(t_bulk_err, 0, "%s", ic_strerror(t_bulk_err));
    cr_assert_eq(t_bulk_full.queries, T_BULK);
    cr_assert_eq(t_bulk_end.lookups, T_BULK + 2);
    /* n1 was still cached (1024 kept), n0, the oldest, had gone. */
    cr_assert_eq(t_bulk_end.hits, 1);
    cr_assert_eq(t_bulk_end.queries, T_BULK + 1);
    cr_assert_eq(t_srv_bulk, T_BULK + 1);
}

/* Two reactors: each has its own channel and cache, so each asks. */
static atomic_int t_two_done, t_two_ok;
static _Atomic unsigned long long t_two_queries;

static void t_two_cb(void *arg, int err, const ic_dns_answer_t *a)
{
    ic_dns_stats_t st;
    ic_dns_stats(&st);
    t_two_queries += st.queries;
    if (err == 0 && strcmp(a->addr[0], "10.0.0.3") == 0)
        t_two_ok++;
    if (++t_two_done == 2)
        ic_reactor_stop();
}

static void t_two_start(void *arg)
{
    cr_assert_eq(ic_dns_resolve("ttl.test", t_two_cb, NULL, NULL), 0);
}

Test(dns, each_reactor_has_its_own_resolver, .timeout = 20)
{
    t_srv_start(2000);
    t_two_done = t_two_ok = 0;
    t_two_queries = 0;
    ic_reactor_config_t cfg = t_config(2, t_two_start, NULL);
    t_run(&cfg);
    t_srv_end();
    cr_assert_eq(t_two_ok, 2);
    cr_assert_eq(t_two_queries, 2, "one query per reactor");
    cr_assert_eq(t_srv_a[T_TTL], 2);
}

/* ---- sharing, cancelling, stopping ----------------------------------------------------------------- */

static void t_shared_done(void)
{
    if (t_r1.calls + t_r2.calls + t_r4.calls == 3) {
        ic_dns_stats(&t_stats);
        ic_reactor_stop();
    }
}

static void t_shared_start(void *arg)
{
    t_r1 = (struct t_res){.then = t_shared_done};
    t_r2 = (struct t_res){.then = t_shared_done};
    t_r3 = (struct t_res){0};
    t_r4 = (struct t_res){.then = t_shared_done};
    ic_dns_query_t *q;
    cr_assert_eq(t_resolve("shared.test", &t_r1, NULL), 0);
    cr_assert_eq(t_resolve("Shared.Test", &t_r3, &q), 0); /* shares the query, then cancelled */
    cr_assert_eq(t_resolve("shared.test", &t_r2, NULL), 0);
    ic_dns_cancel(q);
    /* A lookup whose only waiter is cancelled: its answer still lands in the cache. */
    cr_assert_eq(t_resolve("v4.test", &t_r3, &q), 0);
    ic_dns_cancel(q);
    cr_assert_eq(t_resolve("localhost", &t_r4, NULL), 0);
}

Test(dns, concurrent_lookups_share_one_query_and_cancel_silences, .timeout = 20)
{
    t_srv_start(2000);
    t_run1(t_shared_start, NULL);
    t_srv_end();
    cr_assert_eq(t_r1.calls, 1);
    cr_assert_eq(t_r2.calls, 1);
    cr_assert_eq(t_r1.err, 0, "%s", ic_strerror(t_r1.err));
    cr_assert_eq(t_r2.err, 0);
    cr_assert_str_eq(t_r2.a.addr[0], "10.0.0.3");
    cr_assert_eq(t_r3.calls, 0, "a cancelled query's callback ran");
    cr_assert_eq(t_srv_a[T_SHARED], 1, "two lookups, %d A queries", (int)t_srv_a[T_SHARED]);
    cr_assert_eq(t_stats.lookups, 5);
    cr_assert_eq(t_stats.queries, 3);
    cr_assert_eq(t_stats.hits, 0);
}

static int t_after_stop;

static void t_stop_start(void *arg)
{
    t_r1 = (struct t_res){0};
    t_r2 = (struct t_res){0};
    cr_assert_eq(t_resolve("slow.test", &t_r1, NULL), 0);
    cr_assert_eq(t_resolve("127.0.0.1", &t_r2, NULL), 0);
    ic_reactor_stop();
}

static void t_stop_stop(void *arg)
{
    /* on_stop runs before the stop hooks: the reactor is stopping, so a name is refused; a number still answers. */
    t_after_stop = t_resolve("v4.test", &t_r3, NULL);
    t_r4 = (struct t_res){0};
    cr_assert_eq(t_resolve("::1", &t_r4, NULL), 0);
}

Test(dns, stop_with_a_query_in_flight, .timeout = 20)
{
    t_srv_start(60000); /* slow.test would wait a minute: the stop must not */
    t_r3 = (struct t_res){0};
    uint64_t t0 = ic_clock_ns();
    t_run1(t_stop_start, t_stop_stop);
    uint64_t ms = (ic_clock_ns() - t0) / 1000000;
    t_srv_end();
    cr_assert_eq(t_r1.calls, 1);
    cr_assert_eq(t_r1.err, IC_ESHUTDOWN, "%s", ic_strerror(t_r1.err));
    cr_assert_eq(t_r2.calls, 1);
    cr_assert_eq(t_r2.err, 0);
    cr_assert_eq(t_after_stop, IC_ESHUTDOWN);
    cr_assert_eq(t_r3.calls, 0);
    cr_assert_eq(t_r4.calls, 1);
    cr_assert(ms < 5000, "the stop took %llu ms", (unsigned long long)ms);
}

Test(dns, configure_rejects_a_bad_server_list)
{
    cr_assert_eq(ic_dns_configure("not an address", 0), -EINVAL);
    cr_assert_eq(ic_dns_configure("127.0.0.1:53", 100), 0);
    cr_assert_eq(ic_dns_configure(NULL, 0), 0);
}
