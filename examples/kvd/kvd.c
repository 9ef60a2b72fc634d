/*
 * kvd: a memcached-compatible key-value store on the isocore embedding API,
 * after Enberg et al., "The Impact of Thread-Per-Core Architecture on
 * Application Tail Latency" (2019). The keyspace is partitioned: a key
 * belongs to core hash(key) mod cores, and only that core touches its
 * partition (store.c), so nothing locks. A connection lives on the core
 * that accepted it; a command for a key owned elsewhere travels to the
 * owner over the SPSC rings (ic_smp_submit) and its answer comes back the
 * same way. A multi-key get is split into one request per owning core and
 * reassembled in key order.
 *
 * Order: each connection keeps a queue of commands in flight ("slots"); a
 * reply is written only when every earlier one was. While the queue is
 * empty, a command on a key this core owns runs at once and writes its
 * reply straight into the connection (the fast path: no slot, no copy of
 * the key or value).
 *
 * Memory: a request is allocated by the connection's core and freed there.
 * If a reply outgrows the request's inline room, the owner allocates the
 * rest and the connection's core sends it back to the owner to be freed.
 *
 * Hot keys (hot.c): a key that takes at least 1/H of its owner's reads is
 * copied, read-only, to the cores that read it; a write is acknowledged
 * only once those copies are gone. -H 0 turns the copies off.
 *
 *   kvd [-p PORT] [-l ADDR] [-m MEGABYTES] [-I ITEM_MAX_BYTES] [-c CORES] [-S SPIN_US] [-H SHARE]
 *
 * The text protocol: get/gets (many keys), set/add/replace/append/prepend/
 * cas, delete, incr/decr, touch, flush_all, version, verbosity, stats, quit;
 * noreply where memcached takes it.
 */
#include <assert.h>
#include <isocore.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hot.h"
#include "store.h"

/*
 * The version kvd reports: the memcached protocol level it speaks, then its own. Clients
 * (libmemcached) parse major.minor.micro from it to decide what they may send.
 */
#define KVD_VERSION "1.6.0-kvd-" ISOCORE_VERSION

#define KV_LINE_MAX 2048      /* longest command line but get's */
#define KV_GET_LINE_MAX 65536 /* a get may name many keys */
#define KV_TOKENS 24
#define KV_INLINE_OUT 256 /* reply bytes a request carries inline */

enum op { OP_GET, OP_GETS, OP_STORE, OP_DELETE, OP_INCR, OP_DECR, OP_TOUCH, OP_FLUSH, OP_STATS, OP_TEXT };

struct kcore {
    kv_store_t store;
    kv_hot_t hot;
    uint64_t curr_conns, total_conns;
} __attribute__((aligned(64)));

static struct {
    unsigned n, hot_share;
    size_t item_max;
    ic_tcp_listener_t *listener;
    struct kcore *cores;
    int64_t started;
} kvd;

struct kconn;

/* A command (or a core's share of a get) to run on the owner of its keys. */
struct kreq {
    struct slot *slot; /* NULL on the fast path */
    unsigned owner, from;
    enum op op;
    kv_mode_t mode;
    bool noreply;
    uint32_t flags;
    int64_t exptime, delay;
    uint64_t arg; /* cas unique, or incr/decr delta */
    const char *val;
    uint32_t nval;
    unsigned nkeys;
    const char **key;
    uint8_t *klen;
    uint64_t *khash;
    ic_tcp_conn_t *direct; /* fast path: the reply goes straight to this connection */
    char *out;             /* else here: inline first, then memory the owner allocated (ext) */
    size_t len, cap;
    bool ext;
    uint32_t *ofs; /* get: key j's reply is out[ofs[j], ofs[j+1]) */
    kv_stats_t st; /* stats: the owner's counters */
    kv_hot_stats_t hst;
    uint64_t conns[2], msgs; /* msgs: core-to-core messages this core sent */
    /* Hot keys: a one-key get may come back with a copy to keep (fill); a write may wait for invalidations. */
    bool fill_ok, fill;
    uint64_t stamp, fill_cas;
    int64_t fill_exptime;
    uint32_t fill_flags, fill_vofs;
    ic_smp_msg_t *msg;    /* the message a held write answers once released (NULL: the request is local) */
    kv_hot_waiter_t wait; /* its need[] is carved for writes only */
    char mem[];
};

/* A command in a connection's queue: complete when no request of it is out. */
struct slot {
    struct slot *next;
    struct kconn *kc;
    unsigned pending, nreq;
    enum op op;
    bool noreply, hot_only; /* hot_only: `stats hot` */
    struct kreq **req;
    unsigned nkeys;
    uint16_t *key_req, *key_idx; /* get: key i is request key_req[i]'s key key_idx[i] */
    char *text;
    size_t text_len;
};

struct kconn {
    ic_tcp_conn_t *tc;
    struct slot *head, *tail;
    unsigned writes; /* queued slots that change data: while any is, this connection reads no copies */
    size_t swallow;  /* bytes of a refused value still to skip */
};

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return ts.tv_sec;
}

static unsigned me(void)
{
    return (unsigned)ic_reactor_id();
}

/* ---- replies ------------------------------------------------------------------------------ */

static void emit(struct kreq *r, const void *p, size_t n)
{
    if (r->direct) {
        ic_tcp_write(r->direct, p, n);
        return;
    }
    if (r->len + n > r->cap) {
        /* Out of inline room: this (owner) core allocates; the connection's core sends it home to be freed. */
        size_t cap = r->cap * 2;
        while (cap < r->len + n)
            cap *= 2;
        char *o = malloc(cap);
        if (!o)
            return; /* the reply is cut short; the client sees a protocol error rather than a crash */
        memcpy(o, r->out, r->len);
        if (r->ext)
            free(r->out);
        r->out = o;
        r->cap = cap;
        r->ext = true;
    }
    memcpy(r->out + r->len, p, n);
    r->len += n;
}

#define EMIT_LIT(r, s) emit(r, s, sizeof(s) - 1)

static size_t u64_text(char *buf, uint64_t v)
{
    char t[24];
    size_t n = 0, i = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        buf[i++] = t[--n];
    return i;
}

static void emit_result(struct kreq *r, kv_result_t res)
{
    if (r->noreply && res != KV_NO_MEMORY)
        return;
    switch (res) {
    case KV_STORED:
        EMIT_LIT(r, "STORED\r\n");
        break;
    case KV_NOT_STORED:
        EMIT_LIT(r, "NOT_STORED\r\n");
        break;
    case KV_EXISTS:
        EMIT_LIT(r, "EXISTS\r\n");
        break;
    case KV_NOT_FOUND:
        EMIT_LIT(r, "NOT_FOUND\r\n");
        break;
    case KV_DELETED:
        EMIT_LIT(r, "DELETED\r\n");
        break;
    case KV_TOUCHED:
        EMIT_LIT(r, "TOUCHED\r\n");
        break;
    case KV_NO_MEMORY:
        EMIT_LIT(r, "SERVER_ERROR out of memory storing object\r\n");
        break;
    case KV_NON_NUMERIC:
        EMIT_LIT(r, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
        break;
    }
}

/* ---- running a request on the owner ------------------------------------------------------------ */

/* "VALUE key flags bytes [cas]\r\n" into head (room for KV_KEY_MAX + 96 bytes); returns its length. */
static size_t value_head(char *head, const char *key, size_t nkey, uint32_t flags, uint32_t nval, const uint64_t *cas)
{
    size_t n = 6;
    memcpy(head, "VALUE ", 6);
    memcpy(head + n, key, nkey);
    n += nkey;
    head[n++] = ' ';
    n += u64_text(head + n, flags);
    head[n++] = ' ';
    n += u64_text(head + n, nval);
    if (cas) {
        head[n++] = ' ';
        n += u64_text(head + n, *cas);
    }
    head[n++] = '\r';
    head[n++] = '\n';
    return n;
}

static bool is_write(enum op op)
{
    return op == OP_STORE || op == OP_DELETE || op == OP_INCR || op == OP_DECR || op == OP_TOUCH || op == OP_FLUSH;
}

#define KREQ_OF(w) ((struct kreq *)((char *)(w)-offsetof(struct kreq, wait)))

static void slot_settle(struct slot *s);

/* A held write's invalidations are all acknowledged: its reply may go now. */
static void write_release(kv_hot_waiter_t *w)
{
    struct kreq *r = KREQ_OF(w);
    if (r->msg)
        ic_smp_reply(r->msg, 0);
    else
        slot_settle(r->slot);
}

/* A write was applied: drops the copies it made stale. True if its reply must wait for that (see hot.c). */
static bool write_done(struct kreq *r, bool all)
{
    kv_hot_t *h = &kvd.cores[me()].hot;
    if (!r->wait.need) {
        /* The fast path and stack requests come here only when kv_hot_quiet said nothing is to wait for. */
        assert(kv_hot_quiet(h, all ? 0 : r->khash[0]) || !h->on);
        return false;
    }
    r->wait.cb = write_release;
    return kv_hot_write(h, all ? 0 : r->khash[0], all, &r->wait);
}

/* Runs r on its owner (this core). Returns true if the request is held (a write waiting for invalidations). */
static bool exec(struct kreq *r)
{
    kv_store_t *s = &kvd.cores[me()].store;
    kv_hot_t *hot = &kvd.cores[me()].hot;
    int64_t now = now_s();
    switch (r->op) {
    case OP_GET:
    case OP_GETS:
        for (unsigned j = 0; j < r->nkeys; j++) {
            s->st.cmd_get++;
            kv_item_t *it = kv_get(s, r->key[j], r->klen[j], r->khash[j], now);
            bool is_hot = kv_hot_count(hot, r->khash[j]);
            if (it) {
                s->st.get_hits++;
                char head[KV_KEY_MAX + 96];
                emit(r, head, value_head(head, it->data, it->nkey, it->flags, it->nval, r->op == OP_GETS ? &it->cas : NULL));
                uint32_t vofs = (uint32_t)r->len;
                emit(r, kv_item_value(it), it->nval);
                EMIT_LIT(r, "\r\n");
                /* A hot key read from another core: that core may keep a copy (a delayed flush_all grants none). */
                if (is_hot && r->fill_ok && it->nval <= KV_HOT_VALUE_MAX && !(s->flush_at > now) && r->len == vofs + it->nval + 2) {
                    kv_hot_grant(hot, r->from, r->khash[j]);
                    r->fill = true;
                    r->fill_flags = it->flags;
                    r->fill_cas = it->cas;
                    r->fill_exptime = it->exptime;
                    r->fill_vofs = vofs;
                }
            } else {
                s->st.get_misses++;
            }
            if (r->ofs)
                r->ofs[j + 1] = (uint32_t)r->len;
        }
        return false;
    case OP_STORE:
        s->st.cmd_set++;
        emit_result(r, kv_put(s, r->mode, r->key[0], r->klen[0], r->khash[0], r->flags, kv_abs_time(r->exptime, now), r->val,
                              r->nval, r->arg, now));
        return write_done(r, false);
    case OP_DELETE:
        emit_result(r, kv_delete(s, r->key[0], r->klen[0], r->khash[0], now));
        return write_done(r, false);
    case OP_INCR:
    case OP_DECR: {
        uint64_t v = 0;
        kv_result_t res = kv_arith(s, r->key[0], r->klen[0], r->khash[0], r->op == OP_DECR, r->arg, &v, now);
        if (res == KV_STORED) {
            if (!r->noreply) {
                char num[24];
                size_t n = u64_text(num, v);
                num[n++] = '\r';
                num[n++] = '\n';
                emit(r, num, n);
            }
        } else {
            emit_result(r, res);
        }
        return write_done(r, false);
    }
    case OP_TOUCH:
        emit_result(r, kv_touch(s, r->key[0], r->klen[0], r->khash[0], kv_abs_time(r->exptime, now), now));
        return write_done(r, false);
    case OP_FLUSH:
        kv_flush(s, r->delay, now);
        return write_done(r, true);
    case OP_STATS:
        r->st = s->st;
        r->hst = hot->st;
        r->conns[0] = kvd.cores[me()].curr_conns;
        r->conns[1] = kvd.cores[me()].total_conns;
        ic_reactor_stats_t rs;
        ic_reactor_stats(me(), &rs);
        r->msgs = rs.msgs_sent;
        return false;
    case OP_TEXT:
        return false;
    }
    return false;
}

/*
 * A request for `owner`, with room for nkeys keys of kbytes bytes in all, a
 * value of nval bytes (copy: the input buffer will not outlive the trip)
 * and the inline reply.
 */
static struct kreq *kreq_new(unsigned owner, enum op op, unsigned nkeys, size_t kbytes, size_t nval)
{
    size_t need = is_write(op) ? kvd.n * sizeof(uint32_t) : 0; /* a write may wait for invalidations (hot.c) */
    size_t keys = nkeys * (sizeof(char *) + sizeof(uint64_t) + sizeof(uint32_t) + 1) + sizeof(uint32_t) + need;
    size_t cap = KV_INLINE_OUT + (op == OP_GET || op == OP_GETS ? nkeys * 64 : 0);
    struct kreq *r = calloc(1, sizeof(*r) + keys + kbytes + nval + cap + 16);
    if (!r)
        return NULL;
    char *p = r->mem;
    r->khash = (uint64_t *)p;
    p += nkeys * sizeof(uint64_t);
    r->key = (const char **)p;
    p += nkeys * sizeof(char *);
    r->ofs = (uint32_t *)p;
    p += (nkeys + 1) * sizeof(uint32_t);
    if (need) {
        r->wait.need = (uint32_t *)p;
        p += need;
    }
    r->klen = (uint8_t *)p;
    p += nkeys;
    r->out = p; /* then keys and value are carved from the end */
    r->cap = cap;
    r->owner = owner;
    r->from = me();
    r->op = op;
    return r;
}

/* Copies key k (or the value) into the request's own memory, behind the inline reply. */
static char *kreq_carve(struct kreq *r, size_t *used, const char *src, size_t n)
{
    char *dst = r->out + r->cap + *used;
    if (n)
        memcpy(dst, src, n); /* src may be NULL when n is 0 (no value) */
    *used += n;
    return dst;
}

static int free_work(ic_smp_msg_t *msg, void *arg)
{
    free(arg);
    return 0;
}

static void kreq_free(struct kreq *r)
{
    if (r->ext) {
        if (r->owner == me())
            free(r->out);
        else if (ic_smp_submit(r->owner, free_work, NULL, r->out) < 0)
            free(r->out); /* shutting down: no owner to send it to; freeing here is the lesser evil */
    }
    free(r);
}

/* ---- connections and their queues ------------------------------------------------------------- */

static void slot_free(struct slot *s)
{
    for (unsigned i = 0; i < s->nreq; i++)
        if (s->req[i])
            kreq_free(s->req[i]);
    free(s);
}

static void render(struct slot *s, ic_tcp_conn_t *tc)
{
    if (s->text) {
        ic_tcp_write(tc, s->text, s->text_len);
    } else if (s->op == OP_GET || s->op == OP_GETS) {
        for (unsigned i = 0; i < s->nkeys; i++) {
            struct kreq *r = s->req[s->key_req[i]];
            unsigned j = s->key_idx[i];
            ic_tcp_write(tc, r->out + r->ofs[j], r->ofs[j + 1] - r->ofs[j]);
        }
        ic_tcp_write(tc, "END\r\n", 5);
    } else if (s->op == OP_STATS) {
        kv_stats_t t;
        kv_hot_stats_t ht;
        memset(&t, 0, sizeof(t));
        memset(&ht, 0, sizeof(ht));
        uint64_t conns = 0, total = 0, msgs = 0, *dst = (uint64_t *)&t, *hdst = (uint64_t *)&ht;
        for (unsigned i = 0; i < s->nreq; i++) {
            const uint64_t *src = (const uint64_t *)&s->req[i]->st, *hsrc = (const uint64_t *)&s->req[i]->hst;
            for (size_t k = 0; k < sizeof(t) / sizeof(uint64_t); k++)
                dst[k] += src[k];
            for (size_t k = 0; k < sizeof(ht) / sizeof(uint64_t); k++)
                hdst[k] += hsrc[k];
            conns += s->req[i]->conns[0];
            total += s->req[i]->conns[1];
            msgs += s->req[i]->msgs;
        }
        char hb[768];
        int hn = snprintf(hb, sizeof(hb),
                          "STAT hot_copies %llu\r\nSTAT hot_grants %llu\r\nSTAT hot_copy_hits %llu\r\nSTAT hot_fills %llu\r\n"
                          "STAT hot_fills_stale %llu\r\nSTAT hot_invalidations %llu\r\nSTAT hot_copies_dropped %llu\r\n"
                          "STAT hot_writes_held %llu\r\nSTAT smp_messages %llu\r\n",
                          (unsigned long long)ht.copies, (unsigned long long)ht.grants, (unsigned long long)ht.copy_hits,
                          (unsigned long long)ht.fills, (unsigned long long)ht.fills_stale, (unsigned long long)ht.invalidations,
                          (unsigned long long)ht.copies_dropped, (unsigned long long)ht.writes_held, (unsigned long long)msgs);
        if (s->hot_only) {
            /* `stats hot`: the copies' counters and which core this connection is on (tests pair connections by it). */
            char b[64];
            int n = snprintf(b, sizeof(b), "STAT core %u\r\nSTAT hot_share %u\r\n", me(), kvd.hot_share);
            ic_tcp_write(tc, b, (size_t)n);
            ic_tcp_write(tc, hb, (size_t)hn);
            ic_tcp_write(tc, "END\r\n", 5);
            return;
        }
        char b[2048];
        int64_t now = now_s();
        int n = snprintf(b, sizeof(b),
                         "STAT pid %d\r\nSTAT uptime %lld\r\nSTAT time %lld\r\nSTAT version %s\r\nSTAT pointer_size %d\r\n"
                         "STAT curr_connections %llu\r\nSTAT total_connections %llu\r\nSTAT cmd_get %llu\r\nSTAT cmd_set %llu\r\n"
                         "STAT cmd_touch %llu\r\nSTAT get_hits %llu\r\nSTAT get_misses %llu\r\nSTAT get_expired %llu\r\n"
                         "STAT delete_misses %llu\r\nSTAT delete_hits %llu\r\nSTAT incr_misses %llu\r\nSTAT incr_hits %llu\r\n"
                         "STAT decr_misses %llu\r\nSTAT decr_hits %llu\r\nSTAT cas_misses %llu\r\nSTAT cas_hits %llu\r\n"
                         "STAT cas_badval %llu\r\nSTAT touch_hits %llu\r\nSTAT touch_misses %llu\r\nSTAT threads %u\r\n"
                         "STAT bytes %llu\r\nSTAT curr_items %llu\r\nSTAT total_items %llu\r\nSTAT evictions %llu\r\n"
                         "STAT limit_maxbytes %llu\r\n",
                         (int)getpid(), (long long)(now - kvd.started), (long long)now, KVD_VERSION, (int)(8 * sizeof(void *)),
                         (unsigned long long)conns, (unsigned long long)total, (unsigned long long)t.cmd_get,
                         (unsigned long long)t.cmd_set, (unsigned long long)t.cmd_touch, (unsigned long long)t.get_hits,
                         (unsigned long long)t.get_misses, (unsigned long long)t.get_expired, (unsigned long long)t.delete_misses,
                         (unsigned long long)t.delete_hits, (unsigned long long)t.incr_misses, (unsigned long long)t.incr_hits,
                         (unsigned long long)t.decr_misses, (unsigned long long)t.decr_hits, (unsigned long long)t.cas_misses,
                         (unsigned long long)t.cas_hits, (unsigned long long)t.cas_badval, (unsigned long long)t.touch_hits,
                         (unsigned long long)t.touch_misses, kvd.n, (unsigned long long)t.bytes, (unsigned long long)t.curr_items,
                         (unsigned long long)t.total_items, (unsigned long long)t.evictions, (unsigned long long)t.limit_maxbytes);
        ic_tcp_write(tc, b, (size_t)n);
        ic_tcp_write(tc, hb, (size_t)hn);
        ic_tcp_write(tc, "END\r\n", 5);
    } else if (s->op == OP_FLUSH) {
        if (!s->noreply)
            ic_tcp_write(tc, "OK\r\n", 4);
    } else {
        ic_tcp_write(tc, s->req[0]->out, s->req[0]->len);
    }
}

/* Writes the replies at the head of the queue that are complete. */
static void drain(struct kconn *kc)
{
    while (kc->head && kc->head->pending == 0) {
        struct slot *s = kc->head;
        kc->head = s->next;
        if (!kc->head)
            kc->tail = NULL;
        if (is_write(s->op))
            kc->writes--;
        render(s, kc->tc);
        slot_free(s);
    }
}

/* One request of the slot is back: once all are, write what is complete and let the connection go. */
static void slot_settle(struct slot *s)
{
    if (--s->pending == 0) {
        struct kconn *kc = s->kc;
        ic_tcp_conn_t *tc = kc->tc;
        drain(kc);
        ic_tcp_release(tc); /* may run on_close, which frees kc */
    }
}

static void req_done(void *arg, int status)
{
    struct kreq *r = arg;
    if (r->fill) /* the owner let this core keep a copy of a hot key */
        kv_hot_fill(&kvd.cores[me()].hot, r->owner, r->stamp, r->key[0], r->klen[0], r->khash[0], r->fill_flags, r->fill_cas,
                    r->fill_exptime, r->out + r->fill_vofs, r->ofs[1] - r->fill_vofs - 2);
    slot_settle(r->slot);
}

static int req_work(ic_smp_msg_t *msg, void *arg)
{
    struct kreq *r = arg;
    r->msg = msg;
    return exec(r) ? IC_SMP_LATER : 0;
}

/* A new slot at the tail of the queue, with room for nreq requests, nkeys keys and text bytes of a fixed reply. */
static struct slot *slot_new(struct kconn *kc, enum op op, unsigned nreq, unsigned nkeys, size_t text)
{
    struct slot *s = calloc(1, sizeof(*s) + nreq * sizeof(struct kreq *) + nkeys * 2 * sizeof(uint16_t) + text);
    if (!s)
        return NULL;
    s->kc = kc;
    s->op = op;
    s->nreq = nreq;
    s->req = (struct kreq **)(s + 1);
    s->key_req = (uint16_t *)(s->req + nreq);
    s->key_idx = s->key_req + nkeys;
    s->nkeys = nkeys;
    s->text = text ? (char *)(s->key_idx + nkeys) : NULL;
    s->text_len = text;
    if (is_write(op))
        kc->writes++;
    if (kc->tail)
        kc->tail->next = s;
    else
        kc->head = s;
    kc->tail = s;
    return s;
}

/* Sends the slot's requests (or runs the local ones now). The slot holds the connection while any is out. */
static void slot_send(struct slot *s)
{
    s->pending = s->nreq + 1; /* +1 until every request is sent, so none completes the slot early */
    ic_tcp_hold(s->kc->tc);
    for (unsigned i = 0; i < s->nreq; i++) {
        struct kreq *r = s->req[i];
        r->slot = s;
        if (r->owner == me()) {
            if (!exec(r))
                s->pending--; /* else write_release settles it */
        } else if (ic_smp_submit(r->owner, req_work, req_done, r) < 0) {
            s->pending--; /* shutting down: this part of the reply stays empty */
        }
    }
    slot_settle(s);
}

/* A fixed reply, kept in order behind the replies still out. */
static void reply_text(struct kconn *kc, const char *text, size_t n)
{
    if (!kc->head) {
        ic_tcp_write(kc->tc, text, n);
        return;
    }
    struct slot *s = slot_new(kc, OP_TEXT, 0, 0, n);
    if (!s) {
        ic_tcp_close(kc->tc);
        return;
    }
    memcpy(s->text, text, n);
}

#define REPLY_LIT(kc, s) reply_text(kc, s, sizeof(s) - 1)

/* ---- commands ------------------------------------------------------------------------------------ */

typedef struct tok {
    const char *p;
    size_t n;
} tok_t;

static unsigned tokenize(const char *p, size_t n, tok_t *t, unsigned max)
{
    unsigned k = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && p[i] == ' ')
            i++;
        if (i == n)
            break;
        if (k == max)
            return max + 1; /* too many */
        size_t b = i;
        while (i < n && p[i] != ' ')
            i++;
        t[k++] = (tok_t){p + b, i - b};
    }
    return k;
}

static bool is(const tok_t *t, const char *s)
{
    size_t n = strlen(s);
    return t->n == n && memcmp(t->p, s, n) == 0;
}

static bool to_u64(const tok_t *t, uint64_t *out)
{
    uint64_t v = 0;
    if (t->n == 0 || t->n > 20)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        if (t->p[i] < '0' || t->p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(t->p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool to_i64(const tok_t *t, int64_t *out)
{
    uint64_t v;
    bool neg = t->n > 0 && t->p[0] == '-';
    tok_t d = {t->p + neg, t->n - neg};
    if (!to_u64(&d, &v) || v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* One command on one key: at once on the fast path, else through a slot. */
static void key_command(struct kconn *kc, struct kreq *q, const char *key, size_t klen)
{
    uint64_t h = kv_hash(key, klen);
    unsigned owner = (unsigned)(h % kvd.n);
    /* A write with copies of its key's set out (or invalidations still out) cannot answer at once: it takes a slot. */
    if (!kc->head && owner == me() && kv_hot_quiet(&kvd.cores[me()].hot, h)) {
        uint8_t k8 = (uint8_t)klen;
        q->direct = kc->tc;
        q->nkeys = 1;
        q->key = &key;
        q->klen = &k8;
        q->khash = &h;
        q->ofs = NULL;
        exec(q);
        return;
    }
    struct kreq *r = kreq_new(owner, q->op, 1, klen, q->nval);
    struct slot *s = r ? slot_new(kc, q->op, 1, 0, 0) : NULL;
    if (!s) {
        free(r);
        ic_tcp_close(kc->tc);
        return;
    }
    size_t used = 0;
    r->mode = q->mode;
    r->noreply = q->noreply;
    r->flags = q->flags;
    r->exptime = q->exptime;
    r->arg = q->arg;
    r->nkeys = 1;
    r->key[0] = kreq_carve(r, &used, key, klen);
    r->klen[0] = (uint8_t)klen;
    r->khash[0] = h;
    r->val = kreq_carve(r, &used, q->val, q->nval);
    r->nval = q->nval;
    s->req[0] = r;
    slot_send(s);
}

/* get/gets k1 k2 …: one request per owning core, reassembled in key order. */
static void get_command(struct kconn *kc, enum op op, const char *p, size_t n)
{
    tok_t small[32], *keys = small;
    unsigned nkeys = 0, cap = 32;
    size_t kbytes = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && p[i] == ' ')
            i++;
        if (i == n)
            break;
        size_t b = i;
        while (i < n && p[i] != ' ')
            i++;
        if (i - b > KV_KEY_MAX) {
            REPLY_LIT(kc, "CLIENT_ERROR bad command line format\r\n");
            goto out;
        }
        if (nkeys == cap) {
            tok_t *k = malloc(sizeof(*k) * cap * 2);
            if (!k) {
                REPLY_LIT(kc, "SERVER_ERROR out of memory\r\n");
                goto out;
            }
            memcpy(k, keys, sizeof(*k) * nkeys);
            if (keys != small)
                free(keys);
            keys = k;
            cap *= 2;
        }
        keys[nkeys++] = (tok_t){p + b, i - b};
        kbytes += i - b;
    }
    if (nkeys == 0) {
        REPLY_LIT(kc, "ERROR\r\n");
        goto out;
    }
    uint64_t hsmall[32], *h = nkeys <= 32 ? hsmall : malloc(sizeof(*h) * nkeys);
    if (!h) {
        REPLY_LIT(kc, "SERVER_ERROR out of memory\r\n");
        goto out;
    }
    bool local = true;
    for (unsigned i = 0; i < nkeys; i++) {
        h[i] = kv_hash(keys[i].p, keys[i].n);
        local = local && h[i] % kvd.n == me();
    }
    kv_hot_t *hot = &kvd.cores[me()].hot;
    const kv_copy_t *copy = NULL;
    if (nkeys == 1 && !local && kc->writes == 0 && (copy = kv_hot_lookup(hot, keys[0].p, keys[0].n, h[0], now_s()))) {
        /* A copy of a hot key: answered here, in order behind what the connection has queued (hot.c). */
        kv_stats_t *st = &kvd.cores[me()].store.st;
        st->cmd_get++;
        st->get_hits++;
        char head[KV_KEY_MAX + 96];
        size_t hn = value_head(head, copy->data, copy->nkey, copy->flags, copy->nval, op == OP_GETS ? &copy->cas : NULL);
        if (!kc->head) {
            ic_tcp_write(kc->tc, head, hn);
            ic_tcp_write(kc->tc, copy->data + copy->nkey, copy->nval);
            ic_tcp_write(kc->tc, "\r\nEND\r\n", 7);
        } else {
            struct slot *s = slot_new(kc, OP_TEXT, 0, 0, hn + copy->nval + 7);
            if (!s) {
                ic_tcp_close(kc->tc);
            } else {
                memcpy(s->text, head, hn);
                memcpy(s->text + hn, copy->data + copy->nkey, copy->nval);
                memcpy(s->text + hn + copy->nval, "\r\nEND\r\n", 7);
            }
        }
    } else if (local && !kc->head) {
        /* The fast path: every key is ours and nothing is queued; reply straight into the connection. */
        struct kreq q = {.op = op, .direct = kc->tc, .nkeys = 1};
        for (unsigned i = 0; i < nkeys; i++) {
            uint8_t k8 = (uint8_t)keys[i].n;
            q.key = &keys[i].p;
            q.klen = &k8;
            q.khash = &h[i];
            exec(&q);
        }
        ic_tcp_write(kc->tc, "END\r\n", 5);
    } else {
        /* Group the keys by owner: counts first, then one request per core that owns any. */
        unsigned count[IC_MAX_CORES] = {0}, group[IC_MAX_CORES], ngroups = 0;
        size_t gbytes[IC_MAX_CORES] = {0};
        for (unsigned i = 0; i < nkeys; i++) {
            unsigned c = (unsigned)(h[i] % kvd.n);
            count[c]++;
            gbytes[c] += keys[i].n;
        }
        for (unsigned c = 0; c < kvd.n; c++)
            group[c] = count[c] ? ngroups++ : 0;
        struct slot *s = slot_new(kc, op, ngroups, nkeys, 0);
        bool ok = s != NULL;
        for (unsigned c = 0; ok && c < kvd.n; c++) {
            if (count[c] && !(s->req[group[c]] = kreq_new(c, op, count[c], gbytes[c], 0)))
                ok = false;
        }
        if (!ok) {
            /* The slot (if any) stays queued with what it has; a connection without memory is closed. */
            if (s)
                s->nreq = 0;
            ic_tcp_close(kc->tc);
        } else {
            size_t used[IC_MAX_CORES] = {0};
            for (unsigned i = 0; i < nkeys; i++) {
                unsigned c = (unsigned)(h[i] % kvd.n);
                struct kreq *r = s->req[group[c]];
                unsigned j = r->nkeys++;
                r->key[j] = kreq_carve(r, &used[c], keys[i].p, keys[i].n);
                r->klen[j] = (uint8_t)keys[i].n;
                r->khash[j] = h[i];
                s->key_req[i] = (uint16_t)group[c];
                s->key_idx[i] = (uint16_t)j;
            }
            /* A one-key get to another core may come back with a copy to keep; the stamp says if it still may then. */
            for (unsigned g = 0; hot->on && g < ngroups; g++) {
                struct kreq *r = s->req[g];
                if (r->nkeys == 1 && r->owner != me()) {
                    r->fill_ok = true;
                    r->stamp = kv_hot_stamp(hot, r->khash[0]);
                }
            }
            slot_send(s);
        }
    }
    if (h != hsmall)
        free(h);
out:
    if (keys != small)
        free(keys);
}

/* flush_all and stats: one request to every core. */
static void all_command(struct kconn *kc, enum op op, int64_t delay, bool noreply, bool hot_only)
{
    struct slot *s = slot_new(kc, op, kvd.n, 0, 0);
    if (!s) {
        ic_tcp_close(kc->tc);
        return;
    }
    s->noreply = noreply;
    s->hot_only = hot_only;
    for (unsigned c = 0; c < kvd.n; c++) {
        if (!(s->req[c] = kreq_new(c, op, 0, 0, 0))) {
            s->nreq = c;
            ic_tcp_close(kc->tc);
            return;
        }
        s->req[c]->delay = delay;
    }
    slot_send(s);
}

/*
 * Runs one command line (without its line end). rest/avail are the bytes
 * after the line: a storage command's data block. Returns how many of them
 * it used, or -1 if the data block is not all here yet.
 */
static long command(struct kconn *kc, const char *line, size_t n, const char *rest, size_t avail)
{
    tok_t t[KV_TOKENS];
    if (n >= 4 && (memcmp(line, "get ", 4) == 0 || memcmp(line, "gets ", 5) == 0)) {
        bool gets = line[3] == 's';
        get_command(kc, gets ? OP_GETS : OP_GET, line + 4 + gets, n - 4 - gets);
        return 0;
    }
    unsigned k = tokenize(line, n, t, KV_TOKENS);
    if (k == 0 || k > KV_TOKENS) {
        REPLY_LIT(kc, "ERROR\r\n");
        return 0;
    }
    bool noreply = k > 1 && is(&t[k - 1], "noreply");
    unsigned nr = noreply ? 1 : 0;
    struct kreq q = {.noreply = noreply};
    static const struct {
        const char *name;
        kv_mode_t mode;
    } storage[] = {{"set", KV_SET},       {"add", KV_ADD},         {"replace", KV_REPLACE},
                   {"append", KV_APPEND}, {"prepend", KV_PREPEND}, {"cas", KV_CAS}};
    for (unsigned i = 0; i < sizeof(storage) / sizeof(storage[0]); i++) {
        if (!is(&t[0], storage[i].name))
            continue;
        bool cas = storage[i].mode == KV_CAS;
        unsigned want = 5 + cas;
        uint64_t flags, bytes;
        int64_t exptime;
        if (k != want && k != want + 1) {
            REPLY_LIT(kc, "ERROR\r\n"); /* a wrong number of tokens: memcached does not know the command */
            return 0;
        }
        if (!to_u64(&t[2], &flags) || flags > UINT32_MAX || !to_i64(&t[3], &exptime) || !to_u64(&t[4], &bytes) ||
            bytes > INT32_MAX || (cas && !to_u64(&t[5], &q.arg))) {
            REPLY_LIT(kc, "CLIENT_ERROR bad command line format\r\n");
            return 0;
        }
        if (t[1].n > KV_KEY_MAX) {
            REPLY_LIT(kc, "CLIENT_ERROR bad command line format\r\n");
            kc->swallow = bytes + 2;
            return 0;
        }
        if (bytes > kvd.item_max) {
            REPLY_LIT(kc, "SERVER_ERROR object too large for cache\r\n");
            kc->swallow = bytes + 2;
            return 0;
        }
        if (avail < bytes + 2)
            return -1;
        if (rest[bytes] != '\r' || rest[bytes + 1] != '\n') {
            REPLY_LIT(kc, "CLIENT_ERROR bad data chunk\r\n");
            return (long)bytes + 2;
        }
        q.op = OP_STORE;
        q.mode = storage[i].mode;
        q.flags = (uint32_t)flags;
        q.exptime = exptime;
        q.val = rest;
        q.nval = (uint32_t)bytes;
        key_command(kc, &q, t[1].p, t[1].n);
        return (long)bytes + 2;
    }
    if (is(&t[0], "delete")) {
        /* "delete KEY 0" is an old form memcached still takes. */
        bool zero = k >= 3 && is(&t[2], "0");
        if (k == 1 || k > 4) {
            REPLY_LIT(kc, "ERROR\r\n");
            return 0;
        }
        if ((k == 3 && !zero && !noreply) || (k == 4 && !(zero && noreply)) || t[1].n > KV_KEY_MAX) {
            REPLY_LIT(kc, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
            return 0;
        }
        q.op = OP_DELETE;
        key_command(kc, &q, t[1].p, t[1].n);
    } else if (is(&t[0], "incr") || is(&t[0], "decr")) {
        if (k != 3 && k != 4) {
            REPLY_LIT(kc, "ERROR\r\n");
        } else if (t[1].n > KV_KEY_MAX) {
            REPLY_LIT(kc, "CLIENT_ERROR bad command line format\r\n");
        } else if (!to_u64(&t[2], &q.arg)) {
            REPLY_LIT(kc, "CLIENT_ERROR invalid numeric delta argument\r\n");
        } else {
            q.op = t[0].p[0] == 'i' ? OP_INCR : OP_DECR;
            key_command(kc, &q, t[1].p, t[1].n);
        }
    } else if (is(&t[0], "touch")) {
        if (k != 3 && k != 4) {
            REPLY_LIT(kc, "ERROR\r\n");
        } else if (t[1].n > KV_KEY_MAX) {
            REPLY_LIT(kc, "CLIENT_ERROR bad command line format\r\n");
        } else if (!to_i64(&t[2], &q.exptime)) {
            REPLY_LIT(kc, "CLIENT_ERROR invalid exptime argument\r\n");
        } else {
            q.op = OP_TOUCH;
            key_command(kc, &q, t[1].p, t[1].n);
        }
    } else if (is(&t[0], "flush_all")) {
        int64_t delay = 0;
        if (k > 3)
            REPLY_LIT(kc, "ERROR\r\n");
        else if (k == 2 + nr && !to_i64(&t[1], &delay))
            REPLY_LIT(kc, "CLIENT_ERROR invalid exptime argument\r\n");
        else if (k == 3 && !noreply)
            REPLY_LIT(kc, "ERROR\r\n");
        else
            all_command(kc, OP_FLUSH, delay, noreply, false);
    } else if (is(&t[0], "stats")) {
        if (k == 1)
            all_command(kc, OP_STATS, 0, false, false);
        else if (k == 2 && is(&t[1], "hot"))
            all_command(kc, OP_STATS, 0, false, true);
        else if (is(&t[1], "settings") || is(&t[1], "items") || is(&t[1], "slabs") || is(&t[1], "sizes") || is(&t[1], "conns"))
            REPLY_LIT(kc, "END\r\n"); /* no slabs here: these sections are empty */
        else
            REPLY_LIT(kc, "ERROR\r\n");
    } else if (is(&t[0], "version")) {
        REPLY_LIT(kc, "VERSION " KVD_VERSION "\r\n"); /* memcached 1.6 ignores any options, noreply too */
    } else if (is(&t[0], "verbosity")) {
        /* As memcached: "verbosity noreply" is silent, a bare or over-long one an error. */
        if (k > 3 || (k == 1 && !noreply))
            REPLY_LIT(kc, "ERROR\r\n");
        else if (!noreply)
            REPLY_LIT(kc, "OK\r\n"); /* accepted; kvd logs nothing per command at any level */
    } else if (is(&t[0], "quit")) {
        ic_tcp_close(kc->tc); /* with any options, as memcached 1.6; replies still out are dropped */
    } else {
        REPLY_LIT(kc, "ERROR\r\n");
    }
    return 0;
}

static size_t on_data(ic_tcp_conn_t *tc, const char *data, size_t len)
{
    struct kconn *kc = ic_tcp_data(tc);
    size_t used = 0;
    while (used < len && !ic_tcp_closing(tc)) {
        if (kc->swallow) {
            size_t n = len - used < kc->swallow ? len - used : kc->swallow;
            used += n;
            kc->swallow -= n;
            continue;
        }
        const char *line = data + used;
        const char *nl = memchr(line, '\n', len - used);
        if (!nl) {
            size_t waiting = len - used;
            bool get = waiting >= 4 && memcmp(line, "get", 3) == 0;
            if (waiting > (get ? KV_GET_LINE_MAX : KV_LINE_MAX)) {
                REPLY_LIT(kc, "CLIENT_ERROR line too long\r\n");
                ic_tcp_close(tc);
                return len;
            }
            break;
        }
        size_t adv = (size_t)(nl - line) + 1, n = adv - 1;
        if (n && line[n - 1] == '\r')
            n--;
        long extra = command(kc, line, n, line + adv, len - used - adv);
        if (extra < 0)
            break; /* a data block still on its way */
        used += adv + (size_t)extra;
    }
    return used;
}

static void on_open(ic_tcp_conn_t *tc)
{
    struct kconn *kc = calloc(1, sizeof(*kc));
    if (!kc) {
        ic_tcp_close(tc);
        return;
    }
    kc->tc = tc;
    ic_tcp_set_data(tc, kc);
    kvd.cores[me()].curr_conns++;
    kvd.cores[me()].total_conns++;
}

static void on_close(ic_tcp_conn_t *tc, int err)
{
    struct kconn *kc = ic_tcp_data(tc);
    if (!kc)
        return;
    /* No slot is left: each held the connection until its replies were written. */
    kvd.cores[me()].curr_conns--;
    free(kc);
}

/* ---- main --------------------------------------------------------------------------------------- */

static void on_start(void *arg)
{
    int err = ic_tcp_listener_start(kvd.listener);
    if (err < 0) {
        ic_log(IC_LOG_ERROR, "listen: %s", ic_strerror(err));
        ic_reactor_stop();
    }
}

static void on_stop(void *arg)
{
    ic_tcp_listener_stop(kvd.listener);
}

static int usage(void)
{
    fprintf(stderr, "usage: kvd [-p PORT] [-l ADDR] [-m MEGABYTES] [-I ITEM_MAX_BYTES] [-c CORES] [-S SPIN_US] [-H SHARE]\n"
                    "  -H SHARE  copy a key to the cores that read it once it takes 1/SHARE of its owner's reads\n"
                    "            (default 1000; 0: no hot-key copies)\n");
    return 2;
}

static bool arg_num(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!s || !*s)
        return false;
    *out = strtoull(s, &end, 10);
    return *end == 0 && *out <= max && s[0] != '-';
}

int main(int argc, char **argv)
{
    unsigned long long port = 11211, mb = 64, item_max = 1024 * 1024, cores = 0, spin = ~0ull, share = 1000;
    const char *host = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "-p") == 0)
            ok = arg_num(v, 65535, &port);
        else if (strcmp(a, "-m") == 0)
            ok = arg_num(v, 1 << 20, &mb) && mb > 0;
        else if (strcmp(a, "-I") == 0)
            ok = arg_num(v, 128 << 20, &item_max) && item_max > 0;
        else if (strcmp(a, "-c") == 0)
            ok = arg_num(v, IC_MAX_CORES, &cores) && cores > 0;
        else if (strcmp(a, "-S") == 0)
            ok = arg_num(v, 1000000, &spin);
        else if (strcmp(a, "-H") == 0)
            ok = arg_num(v, 1000000, &share);
        else if (strcmp(a, "-l") == 0)
            ok = (host = v) != NULL;
        else
            return usage();
        if (!ok) {
            fprintf(stderr, "kvd: %s: bad value '%s'\n", a, v ? v : "");
            return usage();
        }
        i++;
    }
    ic_reactor_config_t rc;
    ic_reactor_config_init(&rc);
    rc.cores = (unsigned)cores;
    if (spin != ~0ull)
        rc.spin_us = (unsigned)spin; /* 0 when a CPU is shared with other work: spinning would take its time */
    rc.handle_signals = true;
    rc.on_start = on_start;
    rc.on_stop = on_stop;
    kvd.n = ic_reactor_planned(&rc);
    kvd.item_max = item_max;
    kvd.started = now_s();
    /* Every core's partition is made here and freed here after the reactors exited (no core touches it then). */
    kvd.cores = aligned_alloc(64, sizeof(*kvd.cores) * kvd.n);
    if (!kvd.cores)
        return 1;
    memset(kvd.cores, 0, sizeof(*kvd.cores) * kvd.n);
    for (unsigned i = 0; i < kvd.n; i++) {
        if (kv_store_init(&kvd.cores[i].store, i, (size_t)(mb << 20) / kvd.n) < 0)
            return 1;
        kv_hot_init(&kvd.cores[i].hot, i, kvd.n, (unsigned)share);
    }
    kvd.hot_share = kvd.cores[0].hot.on ? (unsigned)share : 0;

    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.host = host;
    lc.port = (unsigned)port;
    lc.max_input = (unsigned)item_max + KV_GET_LINE_MAX; /* a whole set (line and data) must fit */
    lc.on = (ic_tcp_handlers_t){.on_open = on_open, .on_data = on_data, .on_close = on_close};
    int err = ic_tcp_listener_new(&lc, kvd.n, &kvd.listener);
    if (err < 0) {
        fprintf(stderr, "kvd: %s:%llu: %s\n", host, port, ic_strerror(err));
        return 1;
    }
    printf("kvd: listening on %s:%u, %u cores, %llu MiB, items up to %llu bytes, hot-key copies %s\n", host,
           ic_tcp_listener_port(kvd.listener), kvd.n, mb, item_max, kvd.hot_share ? "on" : "off");
    fflush(stdout);
    err = ic_reactor_run(&rc);
    ic_tcp_listener_free(kvd.listener);
    for (unsigned i = 0; i < kvd.n; i++) {
        kv_hot_fini(&kvd.cores[i].hot);
        kv_store_fini(&kvd.cores[i].store);
    }
    free(kvd.cores);
    if (err < 0) {
        fprintf(stderr, "kvd: %s\n", ic_strerror(err));
        return 1;
    }
    return 0;
}
