/*
 * dns.c: the resolver of each reactor (see isocore/dns.h): c-ares, with
 * its sockets driven by the reactor's io_uring, and a cache of answers.
 *
 * One c-ares channel per reactor, made on the first lookup of a name.
 * c-ares says which sockets it wants watched through its socket-state
 * callback; each gets a one-shot IORING_OP_POLL_ADD for the events wanted,
 * and its readiness is handed to ares_process_fd, after which the poll is
 * armed again if c-ares still wants it. c-ares's next timeout (a query to
 * retry, or to give up) drives one ic_timer. Nothing here blocks the loop,
 * but for c-ares reading /etc/resolv.conf when the channel is made, and
 * /etc/hosts on each lookup, as the C library's resolver does: small local
 * files.
 *
 * The cache is keyed by the name in lower case; answers are kept for their
 * TTL clamped to 1 s .. 300 s, failures for 1 s, at most CACHE_MAX entries
 * (the oldest goes first). Lookups of a name already being asked share the
 * one query. Every callback runs from a task of the query, so never from
 * inside ic_dns_resolve (c-ares may finish a lookup, an /etc/hosts answer,
 * from inside ares_getaddrinfo), and never from inside c-ares.
 *
 * Lifetime: the state of a reactor is freed by a stop hook when it begins
 * to stop (lookups in flight end with IC_ESHUTDOWN, the channel is
 * destroyed). A socket whose poll is still in flight then lives on by
 * itself until the poll's last CQE (the poll is removed at once; at the
 * latest the reactor's exit cancels it), so no state keeps the reactor
 * alive, and none outlives it.
 */
#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"
#include "isocore/dns.h"

#define CACHE_MAX 1024     /* entries per reactor */
#define CACHE_BUCKETS 2048 /* a power of two */
#define TTL_MIN_S 1        /* the shortest an answer is kept */
#define TTL_MAX_S 300      /* the longest */
#define TTL_HOSTS_S 3      /* an answer without a TTL (from /etc/hosts, or a DNS TTL of 0) */
#define TTL_FAILURE_S 1    /* a failure */
#define NAME_MAX_LEN 253   /* RFC 1035 2.3.4, without the trailing dot */
#define LABEL_MAX_LEN 63
#define SERVERS_MAX 1024

/* ---- configuration (set before the reactors start) ------------------------------------------ */

static char cfg_servers[SERVERS_MAX + 1];
static unsigned cfg_timeout_ms;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status;

/* ares_library_init is not thread-safe, so it runs once (on Linux it allocates nothing). */
static void lib_init(void)
{
    lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

int ic_dns_configure(const char *servers, unsigned timeout_ms)
{
    if (servers && strlen(servers) > SERVERS_MAX)
        return -EINVAL;
    pthread_once(&lib_once, lib_init);
    if (servers && *servers) {
        /* Checked now on a scratch channel, so that a bad list fails here and not on every reactor later. */
        ares_channel ch;
        if (lib_status != ARES_SUCCESS || ares_init(&ch) != ARES_SUCCESS)
            return -ENOMEM;
        int st = ares_set_servers_ports_csv(ch, servers);
        ares_destroy(ch);
        if (st != ARES_SUCCESS)
            return -EINVAL;
    }
    strcpy(cfg_servers, servers ? servers : "");
    cfg_timeout_ms = timeout_ms;
    return 0;
}

/* ---- the per-reactor state -------------------------------------------------------------------- */

struct dns_core;

/* A socket c-ares opened, watched with one-shot polls. */
struct dns_sock {
    ic_op_t op;    /* the poll */
    ic_op_t rm_op; /* its removal */
    int fd;
    unsigned want;  /* POLLIN / POLLOUT that c-ares asks for */
    unsigned armed; /* the mask of the poll in flight (0: none) */
    bool polling, removing, closed, in_cb;
    struct dns_core *core; /* NULL once the core is gone */
    struct dns_sock *next;
};

enum { Q_WAIT, Q_POSTED };

struct ic_dns_query {
    ic_task_t task;
    int state;
    bool cancelled;
    bool counted; /* a name lookup: counted in the stats when it ends */
    ic_dns_cb cb;
    void *arg;
    int err;
    struct lookup *lk; /* Q_WAIT: the lookup it waits on */
    ic_dns_query_t *prev, *next;
    ic_dns_answer_t answer;
};

/* One query to c-ares for a name, and the lookups waiting on it. */
struct lookup {
    struct dns_core *core;
    struct lookup *prev, *next; /* core->pending */
    ic_dns_query_t *waiters;
    char name[];
};

struct cache_entry {
    struct cache_entry *hnext;         /* bucket chain */
    struct cache_entry *older, *newer; /* insertion order */
    uint64_t expires;
    int err;
    ic_dns_answer_t answer;
    char name[];
};

struct dns_core {
    ares_channel channel;
    ic_stop_hook_t stop;
    ic_timer_t timer;
    struct dns_sock *socks;
    struct lookup *pending;
    struct cache_entry *buckets[CACHE_BUCKETS];
    struct cache_entry *oldest, *newest;
    unsigned ncache;
};

static _Thread_local struct dns_core *dns_self;
static _Thread_local ic_dns_stats_t dns_stats; /* a new reactor thread starts at zero */

void ic_dns_stats(ic_dns_stats_t *out)
{
    *out = dns_stats;
}

/* ---- answers to the callers ----------------------------------------------------------------- */

static void deliver(ic_task_t *t)
{
    ic_dns_query_t *q = (ic_dns_query_t *)t;
    if (!q->cancelled) {
        if (q->counted && q->err < 0)
            dns_stats.failures++;
        q->cb(q->arg, q->err, q->err < 0 ? NULL : &q->answer);
    }
    free(q);
}

/* Hands q its result and queues its callback. */
static void post(ic_dns_query_t *q, int err, const ic_dns_answer_t *answer)
{
    q->state = Q_POSTED;
    q->err = err;
    if (err == 0)
        q->answer = *answer;
    ic_task_post(&q->task, deliver);
}

/* ---- the cache -------------------------------------------------------------------------------- */

static unsigned hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h & (CACHE_BUCKETS - 1);
}

static void cache_unlink(struct dns_core *c, struct cache_entry *e)
{
    struct cache_entry **pp = &c->buckets[hash(e->name)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->ncache--;
    free(e);
}

/* The live entry for name, or NULL (an expired one is dropped). */
static struct cache_entry *cache_find(struct dns_core *c, const char *name)
{
    for (struct cache_entry *e = c->buckets[hash(name)]; e; e = e->hnext) {
        if (strcmp(e->name, name) == 0) {
            if (e->expires > ic_reactor_now())
                return e;
            cache_unlink(c, e);
            return NULL;
        }
    }
    return NULL;
}

/* Keeps the result of a lookup for ttl_s seconds (nothing if memory is short: the cache is an optimisation). */
static void cache_put(struct dns_core *c, const char *name, int err, const ic_dns_answer_t *answer, unsigned ttl_s)
{
    for (struct cache_entry *e = c->buckets[hash(name)]; e; e = e->hnext) {
        if (strcmp(e->name, name) == 0) {
            cache_unlink(c, e);
            break;
        }
    }
    size_t len = strlen(name);
    struct cache_entry *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return;
    memcpy(e->name, name, len + 1);
    e->err = err;
    if (err == 0)
        e->answer = *answer;
    e->expires = ic_reactor_now() + (uint64_t)ttl_s * 1000000000ull;
    if (c->ncache == CACHE_MAX)
        cache_unlink(c, c->oldest);
    unsigned b = hash(name);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    e->newer = NULL;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->ncache++;
}

/* ---- c-ares's sockets on the ring ------------------------------------------------------------- */

static void sock_sync(struct dns_sock *s);

static void sock_maybe_free(struct dns_sock *s)
{
    if (!s->closed || s->polling || s->removing || s->in_cb)
        return;
    if (s->core) {
        struct dns_sock **pp = &s->core->socks;
        while (*pp != s)
            pp = &(*pp)->next;
        *pp = s->next;
    }
    free(s);
}

static void timer_sync(struct dns_core *c);

static void sock_polled(ic_op_t *op, int res, unsigned flags)
{
    (void)flags;
    struct dns_sock *s = (struct dns_sock *)op;
    s->polling = false;
    s->armed = 0;
    if (!s->closed && s->core && s->core->channel && res > 0) {
        /* Errors and hang-ups go to the read side: c-ares learns of them by reading. */
        bool rd = res & (POLLIN | POLLERR | POLLHUP), wr = res & POLLOUT;
        s->in_cb = true;
        ares_process_fd(s->core->channel, rd ? s->fd : ARES_SOCKET_BAD, wr ? s->fd : ARES_SOCKET_BAD);
        s->in_cb = false;
        timer_sync(s->core);
    }
    /* res < 0 (-ECANCELED after a removal, or at the reactor's exit): re-armed below if still wanted. */
    if (res < 0 && res != -ECANCELED && !s->closed)
        ic_log(IC_LOG_WARN, "dns: poll on fd %d failed: %s", s->fd, ic_strerror(res));
    if (res < 0 && res != -ECANCELED)
        s->want = 0; /* a poll that fails would fail again: c-ares times the query out */
    if (ic__self->exiting)
        s->want = 0;
    sock_sync(s);
    sock_maybe_free(s);
}

static void sock_removed(ic_op_t *op, int res, unsigned flags)
{
    (void)res;
    (void)flags;
    struct dns_sock *s = (struct dns_sock *)((char *)op - offsetof(struct dns_sock, rm_op));
    s->removing = false;
    /* The mask may have changed again while this removal was in flight (sock_sync removes one poll at a time). */
    if (!ic__self->exiting)
        sock_sync(s);
    sock_maybe_free(s);
}

/* Makes the poll in flight match what is wanted: arms one, or removes one that asks for the wrong events. */
static void sock_sync(struct dns_sock *s)
{
    unsigned want = s->closed ? 0 : s->want;
    if (s->polling) {
        if (s->armed != want && !s->removing) {
            /* The poll's CQE (-ECANCELED) comes back to sock_polled, which arms the new mask. */
            s->removing = true;
            struct io_uring_sqe *sqe = ic_reactor_sqe(&s->rm_op);
            io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)&s->op);
            io_uring_sqe_set_data(sqe, &s->rm_op);
        }
        return;
    }
    if (!want)
        return;
    s->polling = true;
    s->armed = want;
    struct io_uring_sqe *sqe = ic_reactor_sqe(&s->op);
    io_uring_prep_poll_add(sqe, s->fd, want);
    io_uring_sqe_set_data(sqe, &s->op);
}

/* c-ares's socket-state callback: fd is to be watched for reading and/or writing, or (both false) is closed. */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns_core *c = data;
    struct dns_sock *s = c->socks;
    while (s && (s->fd != fd || s->closed))
        s = s->next;
    if (!s) {
        if (!readable && !writable)
            return;
        s = calloc(1, sizeof(*s));
        if (!s) {
            /* Unwatched, the socket's queries time out: that is how c-ares reports it. */
            ic_log(IC_LOG_WARN, "dns: out of memory for a socket");
            return;
        }
        s->op.cb = sock_polled;
        s->rm_op.cb = sock_removed;
        s->fd = fd;
        s->core = c;
        s->next = c->socks;
        c->socks = s;
    }
    s->want = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
    if (!s->want)
        s->closed = true; /* c-ares closes it when this returns; a new socket with the same fd gets a new dns_sock */
    sock_sync(s);
    sock_maybe_free(s);
}

static void timer_fired(ic_timer_t *t)
{
    struct dns_core *c = (struct dns_core *)((char *)t - offsetof(struct dns_core, timer));
    if (!c->channel)
        return;
    ares_process_fd(c->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* retries and timeouts */
    timer_sync(c);
}

/* Arms the timer for c-ares's next deadline, if it has one. */
static void timer_sync(struct dns_core *c)
{
    struct timeval tv;
    if (!c->channel || !ares_timeout(c->channel, NULL, &tv)) {
        ic_timer_stop(&c->timer);
        return;
    }
    uint64_t ns = (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
    if (ic_timer_start(&c->timer, ns ? ns : 1, 0) < 0)
        ic_log(IC_LOG_WARN, "dns: no memory for the timer");
}

/* ---- lookups through c-ares ------------------------------------------------------------------- */

static int map_status(int st)
{
    switch (st) {
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
        return IC_EDNS_NOTFOUND;
    case ARES_ETIMEOUT:
        return -ETIMEDOUT;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
        return IC_ESHUTDOWN;
    default:
        return IC_EDNS;
    }
}

/* The addresses of res into *a, IPv4 first; returns the shortest TTL among them (-1: none). */
static int collect(const struct ares_addrinfo *res, ic_dns_answer_t *a)
{
    int ttl = -1;
    a->n = 0;
    for (int pass = 0; pass < 2; pass++) {
        int family = pass == 0 ? AF_INET : AF_INET6;
        for (const struct ares_addrinfo_node *n = res ? res->nodes : NULL; n && a->n < IC_DNS_MAX_ADDRS; n = n->ai_next) {
            if (n->ai_family != family || !n->ai_addr)
                continue;
            const void *src = family == AF_INET ? (const void *)&((const struct sockaddr_in *)n->ai_addr)->sin_addr
                                                : (const void *)&((const struct sockaddr_in6 *)n->ai_addr)->sin6_addr;
            if (!inet_ntop(family, src, a->addr[a->n], IC_DNS_ADDR_LEN))
                continue;
            /* The same address twice (a hosts file, say) is kept once. */
            bool dup = false;
            for (unsigned i = 0; i < a->n && !dup; i++)
                dup = strcmp(a->addr[i], a->addr[a->n]) == 0;
            if (dup)
                continue;
            a->n++;
            if (ttl < 0 || n->ai_ttl < ttl)
                ttl = n->ai_ttl;
        }
    }
    return ttl;
}

static void lookup_unlink(struct lookup *lk)
{
    if (lk->prev)
        lk->prev->next = lk->next;
    else
        lk->core->pending = lk->next;
    if (lk->next)
        lk->next->prev = lk->prev;
}

/* The end of a c-ares lookup (inside ares_getaddrinfo, ares_process_fd or ares_destroy): results to the waiters. */
static void lookup_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    struct lookup *lk = arg;
    struct dns_core *c = lk->core;
    ic_dns_answer_t answer;
    int err = 0;
    unsigned ttl = TTL_FAILURE_S;

    if (status == ARES_SUCCESS) {
        int t = collect(res, &answer);
        if (answer.n == 0) {
            err = IC_EDNS_NOTFOUND;
        } else {
            ttl = t <= 0 ? TTL_HOSTS_S : t < TTL_MIN_S ? TTL_MIN_S : t > TTL_MAX_S ? TTL_MAX_S : (unsigned)t;
        }
    } else {
        err = map_status(status);
    }
    if (res)
        ares_freeaddrinfo(res);
    if (err != IC_ESHUTDOWN && err != -ENOMEM)
        cache_put(c, lk->name, err, err ? NULL : &answer, ttl);
    lookup_unlink(lk);
    while (lk->waiters) {
        ic_dns_query_t *q = lk->waiters;
        lk->waiters = q->next;
        post(q, err, &answer);
    }
    free(lk);
}

static void dns_stop(ic_stop_hook_t *h);

/* This reactor's state, made on first use. */
static struct dns_core *core_get(int *err)
{
    if (dns_self)
        return dns_self;
    pthread_once(&lib_once, lib_init);
    if (lib_status != ARES_SUCCESS) {
        *err = IC_EDNS;
        return NULL;
    }
    struct dns_core *c = calloc(1, sizeof(*c));
    if (!c) {
        *err = -ENOMEM;
        return NULL;
    }
    struct ares_options o;
    memset(&o, 0, sizeof(o));
    int mask = ARES_OPT_SOCK_STATE_CB;
    o.sock_state_cb = sock_state;
    o.sock_state_cb_data = c;
    if (cfg_timeout_ms) {
        /* Two tries, the second waiting twice as long as the first (c-ares doubles it): 3 shares of the budget. */
        mask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
        o.timeout = (int)(cfg_timeout_ms / 3 ? cfg_timeout_ms / 3 : 1);
        o.tries = 2;
    }
    int st = ares_init_options(&c->channel, &o, mask);
    if (st == ARES_SUCCESS && cfg_servers[0])
        st = ares_set_servers_ports_csv(c->channel, cfg_servers);
    if (st != ARES_SUCCESS) {
        if (c->channel)
            ares_destroy(c->channel);
        free(c);
        *err = st == ARES_ENOMEM ? -ENOMEM : IC_EDNS;
        return NULL;
    }
    ic_timer_init(&c->timer, timer_fired);
    c->stop.fn = dns_stop;
    ic_reactor_on_stop(&c->stop);
    dns_self = c;
    return c;
}

/* The stop hook: lookups in flight end with IC_ESHUTDOWN, the channel and the cache go. */
static void dns_stop(ic_stop_hook_t *h)
{
    struct dns_core *c = (struct dns_core *)((char *)h - offsetof(struct dns_core, stop));
    ic_timer_stop(&c->timer);
    /* ares_destroy ends every query (ARES_EDESTRUCTION: lookup_done posts IC_ESHUTDOWN) and closes the sockets. */
    ares_channel ch = c->channel;
    ares_destroy(ch);
    c->channel = NULL;
    while (c->pending) {
        struct lookup *lk = c->pending; /* none should be left, but a lookup must never be lost */
        lookup_done(lk, ARES_EDESTRUCTION, 0, NULL);
    }
    while (c->oldest)
        cache_unlink(c, c->oldest);
    /* Sockets with a poll in flight live on until its CQE; the poll is removed now. */
    while (c->socks) {
        struct dns_sock *s = c->socks;
        c->socks = s->next;
        s->core = NULL;
        s->closed = true;
        s->next = NULL;
        sock_sync(s);
        sock_maybe_free(s);
    }
    free(c);
    dns_self = NULL;
}

/* ---- the calls ------------------------------------------------------------------------------- */

/* Letters, digits, '-' and '.', labels of 1..63 bytes, at most 253 bytes (and one trailing dot). Writes the lower-case form. */
static bool valid_name(const char *name, char *lower)
{
    size_t len = strlen(name), label = 0;
    if (len && name[len - 1] == '.')
        len--;
    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (ch == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-') {
            if (++label > LABEL_MAX_LEN)
                return false;
        } else {
            return false;
        }
        lower[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    if (label == 0)
        return false;
    lower[len] = name[len]; /* the trailing dot, if any, is kept: it turns the search domains off */
    lower[name[len] ? len + 1 : len] = '\0';
    return true;
}

int ic_dns_resolve(const char *name, ic_dns_cb cb, void *arg, ic_dns_query_t **out)
{
    struct ic__reactor *r = ic__self;
    if (!r)
        return IC_ENOTREACTOR;
    if (!name)
        return -EINVAL;

    ic_dns_query_t *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->cb = cb;
    q->arg = arg;

    /* A numeric address answers itself (in its canonical form). */
    unsigned char bin[sizeof(struct in6_addr)];
    int family = inet_pton(AF_INET, name, bin) == 1 ? AF_INET : inet_pton(AF_INET6, name, bin) == 1 ? AF_INET6 : 0;
    if (family) {
        ic_dns_answer_t a;
        a.n = 1;
        inet_ntop(family, bin, a.addr[0], IC_DNS_ADDR_LEN);
        post(q, 0, &a);
        if (out)
            *out = q;
        return 0;
    }

    char lower[NAME_MAX_LEN + 2];
    if (!valid_name(name, lower)) {
        free(q);
        return -EINVAL;
    }
    if (r->stopping) {
        free(q);
        return IC_ESHUTDOWN;
    }
    int err = 0;
    struct dns_core *c = core_get(&err);
    if (!c) {
        free(q);
        return err;
    }
    dns_stats.lookups++;
    q->counted = true;

    struct cache_entry *e = cache_find(c, lower);
    if (e) {
        dns_stats.hits++;
        post(q, e->err, &e->answer);
        if (out)
            *out = q;
        return 0;
    }

    struct lookup *lk = c->pending;
    while (lk && strcmp(lk->name, lower) != 0)
        lk = lk->next;
    bool fresh = !lk;
    if (fresh) {
        size_t len = strlen(lower);
        lk = calloc(1, sizeof(*lk) + len + 1);
        if (!lk) {
            free(q);
            dns_stats.lookups--;
            return -ENOMEM;
        }
        memcpy(lk->name, lower, len + 1);
        lk->core = c;
        lk->next = c->pending;
        if (c->pending)
            c->pending->prev = lk;
        c->pending = lk;
    }
    /* The waiter goes on the list before the query starts: c-ares may end it inside ares_getaddrinfo. */
    q->state = Q_WAIT;
    q->lk = lk;
    q->next = lk->waiters;
    if (lk->waiters)
        lk->waiters->prev = q;
    lk->waiters = q;
    if (out)
        *out = q;
    if (fresh) {
        dns_stats.queries++;
        struct ares_addrinfo_hints hints;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_flags = ARES_AI_NOSORT; /* collect() orders them; sorting would connect() sockets on the loop */
        ares_getaddrinfo(c->channel, lk->name, NULL, &hints, lookup_done, lk);
        timer_sync(c);
    }
    return 0;
}

void ic_dns_cancel(ic_dns_query_t *q)
{
    if (q->state == Q_POSTED) {
        q->cancelled = true; /* its task frees it */
        return;
    }
    /* Waiting on a lookup: off its list. The query to c-ares goes on, and its answer is cached. */
    struct lookup *lk = q->lk;
    if (q->prev)
        q->prev->next = q->next;
    else
        lk->waiters = q->next;
    if (q->next)
        q->next->prev = q->prev;
    free(q);
}
