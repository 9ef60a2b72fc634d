/*
 * worker.cc: Workers tenants in warm isolates (see isocore/js.h).
 *
 * A worker is one isolate with one context on one core: the prelude ran,
 * the tenant's module (or classic script) was evaluated, and the prelude's
 * dispatch function is kept. A request is one call of dispatch; its result
 * is either the serialised Response ([status, headers, body]) or a promise
 * of one, which parks the request until a timer (or later I/O) settles it.
 *
 * Every entry into the isolate (dispatch, a timer, the top level) is
 * guarded by the watchdog (CPU time), runs under HandleScope + TryCatch,
 * and pumps microtasks before it leaves. The heap limit is V8's
 * NearHeapLimitCallback: it terminates the entry and marks the worker
 * broken, to be replaced by its owner.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "core/fault.h"
#include "js/internal.hh"

static const char prelude_src[] =
#include "prelude.inc"
    ;

/* ---- allocator ------------------------------------------------------------------------ */

/* Reserves length bytes of the limit (a relaxed count is enough: it only gates allocation). */
static bool reserve(std::atomic<size_t> &used, size_t limit, size_t length)
{
    size_t cur = used.load(std::memory_order_relaxed);
    do {
        if (cur > limit || length > limit - cur)
            return false;
    } while (!used.compare_exchange_weak(cur, cur + length, std::memory_order_relaxed));
    return true;
}

void *ic__js_allocator::Allocate(size_t length)
{
    if (!reserve(used_, limit_, length))
        return nullptr;
    void *p = calloc(1, length ? length : 1);
    if (!p)
        used_.fetch_sub(length, std::memory_order_relaxed);
    return p;
}

void *ic__js_allocator::AllocateUninitialized(size_t length)
{
    if (!reserve(used_, limit_, length))
        return nullptr;
    void *p = malloc(length ? length : 1);
    if (!p)
        used_.fetch_sub(length, std::memory_order_relaxed);
    return p;
}

/* May run on a V8 worker thread (the array-buffer sweeper). */
void ic__js_allocator::Free(void *data, size_t length)
{
    free(data);
    used_.fetch_sub(length, std::memory_order_relaxed);
}

/* ---- tenants ---------------------------------------------------------------------------- */

extern "C" void ic_js_tenant_config_init(ic_js_tenant_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
}

static bool read_text(const std::string &path, std::string *out)
{
    std::ifstream f(path, std::ios::binary);
    if (!f)
        return false;
    std::ostringstream ss;
    ss << f.rdbuf();
    *out = ss.str();
    return !f.bad();
}

extern "C" int ic_js_tenant_new(const ic_js_tenant_config_t *cfg, ic_js_tenant_t **out)
{
    ic_js_tenant *t = new (std::nothrow) ic_js_tenant();
    if (!t)
        return -ENOMEM;
    t->name = cfg->name ? cfg->name : "worker";
    t->path = cfg->path ? cfg->path : "worker.js";
    char real[PATH_MAX];
    if (cfg->path && realpath(cfg->path, real))
        t->path = real;
    size_t slash = t->path.rfind('/');
    t->dir = slash == std::string::npos ? "." : t->path.substr(0, slash);
    if (cfg->src) {
        t->src.assign(cfg->src, cfg->len);
    } else if (!read_text(t->path, &t->src)) {
        int err = errno ? -errno : -EIO;
        delete t;
        return err;
    }
    t->kind = cfg->kind;
    if (t->kind == IC_JS_AUTO) {
        /* A module says `export` or `import` at the start of a statement; a classic script can't. */
        bool module = false;
        for (const char *kw : {"export ", "export{", "import "}) {
            for (size_t at = t->src.find(kw); at != std::string::npos && !module; at = t->src.find(kw, at + 1)) {
                size_t k = at;
                while (k > 0 && (t->src[k - 1] == ' ' || t->src[k - 1] == '\t'))
                    k--;
                module = k == 0 || t->src[k - 1] == '\n' || t->src[k - 1] == ';' || t->src[k - 1] == '}';
            }
        }
        t->kind = module ? IC_JS_MODULE : IC_JS_SCRIPT;
    }
    for (unsigned i = 0; i < cfg->nenv; i++) {
        const char *eq = strchr(cfg->env[i], '=');
        if (eq)
            t->env.emplace_back(std::string(cfg->env[i], (size_t)(eq - cfg->env[i])), std::string(eq + 1));
    }
    if (cfg->src && cfg->sourcemap)
        t->map = ic__js_sourcemap_new(cfg->sourcemap, cfg->sourcemap_len); /* a bad map only costs the mapping */
    for (unsigned i = 0; i < cfg->nservices; i++) {
        const char *eq = strchr(cfg->services[i], '=');
        if (eq)
            t->services.emplace_back(std::string(cfg->services[i], (size_t)(eq - cfg->services[i])), std::string(eq + 1));
    }
    t->limits = cfg->limits;
    if (!t->limits.cpu_ms)
        t->limits.cpu_ms = 50;
    if (!t->limits.wall_ms)
        t->limits.wall_ms = 30000;
    if (!t->limits.heap_bytes)
        t->limits.heap_bytes = (size_t)128 << 20;
    if (!t->limits.buffer_bytes)
        t->limits.buffer_bytes = (size_t)128 << 20;
    if (!t->limits.subrequests)
        t->limits.subrequests = 50;
    if (!t->limits.connections)
        t->limits.connections = 6;
    *out = t;
    return 0;
}

extern "C" void ic_js_tenant_free(ic_js_tenant_t *t)
{
    if (t) {
        ic__js_sourcemap_free(t->map);
        for (ic__js_bucket *b : t->error_log)
            delete b;
    }
    delete t;
}

extern "C" const char *ic_js_tenant_name(const ic_js_tenant_t *t)
{
    return t->name.c_str();
}

/* ---- logging ---------------------------------------------------------------------------- */

void ic__js_log_line(const ic_js_worker *w, int level, const char *msg, size_t len)
{
    static const char *const names[] = {"debug", "log", "warn", "error"};
    char head[160];
    int n = snprintf(head, sizeof(head), "[%s core %d] %s: ", w->tenant->name.c_str(), w->core, names[level & 3]);
    std::string line(head, (size_t)n);
    if (w->tenant->map)
        line += ic__js_sourcemap_apply(w->tenant->map, w->tenant->path, msg, len); /* the user's files, not the bundle's lines */
    else
        line.append(msg, len);
    line.push_back('\n');
    /* One write: lines of different cores do not interleave. */
    ssize_t r = write(2, line.data(), line.size());
    (void)r;
}

void ic__js_bucket_init(ic__js_bucket *b, double burst, uint64_t now)
{
    b->tokens = burst;
    b->refill_ns = now;
    b->dropped = 0;
}

bool ic__js_bucket_take(const ic_js_worker *w, ic__js_bucket *b, double burst, double per_sec, const char *what)
{
    uint64_t now = ic_clock_ns();
    b->tokens += (double)(now - b->refill_ns) * per_sec * 1e-9;
    if (b->tokens > burst)
        b->tokens = burst;
    b->refill_ns = now;
    if (b->tokens < 1) {
        b->dropped++;
        return false;
    }
    b->tokens -= 1;
    if (b->dropped) {
        char note[128];
        int n = snprintf(note, sizeof(note), "(%llu %s lines dropped: over %.0f lines/s)", (unsigned long long)b->dropped, what,
                         per_sec);
        ic__js_log_line(w, 2, note, (size_t)n);
        b->dropped = 0;
    }
    return true;
}

/*
 * The runtime's lines about a tenant's errors (exceptions, limits): a
 * tenant that fails on every request must not flood the log either, so
 * they have their own bucket: 50 lines of burst, then 10 a second.
 */
static void log_fmt(ic_js_worker *w, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void log_fmt(ic_js_worker *w, int level, const char *fmt, ...)
{
    if (!ic__js_bucket_take(w, w->errors ? w->errors : &w->error_log, 50, 10, "error"))
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ic__js_log_line(w, level, buf, n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* The exception's stack (or its string form) with the place it was thrown. */
static std::string describe_exception(v8::Isolate *isolate, v8::Local<v8::Context> ctx, v8::TryCatch &tc)
{
    std::string out;
    v8::Local<v8::Value> stack;
    if (tc.StackTrace(ctx).ToLocal(&stack) && stack->IsString()) {
        v8::String::Utf8Value s(isolate, stack);
        if (*s)
            out = *s;
    }
    if (out.empty() && !tc.Exception().IsEmpty()) {
        v8::String::Utf8Value s(isolate, tc.Exception());
        out = *s ? *s : "<exception>";
        v8::Local<v8::Message> m = tc.Message();
        if (!m.IsEmpty()) {
            v8::String::Utf8Value file(isolate, m->GetScriptResourceName());
            int line = m->GetLineNumber(ctx).FromMaybe(0);
            out = std::string(*file ? *file : "?") + ":" + std::to_string(line) + ": " + out;
        }
    }
    return out;
}

/* ---- entries ------------------------------------------------------------------------------- */

static size_t near_heap_limit(void *data, size_t current, size_t initial)
{
    ic_js_worker *w = static_cast<ic_js_worker *>(data);
    w->heap_hit = true;
    w->broken = true;
    w->isolate->TerminateExecution();
    /* Room to unwind; the isolate is recycled after this entry. */
    return current + current / 2 + (16u << 20);
}

/* ---- responses ------------------------------------------------------------------------------- */

static void respond_plain(ic_js_done_cb done, void *arg, int status, const char *body)
{
    static const char *const hdr[] = {"content-type: text/plain; charset=utf-8"};
    ic_js_response_t r = {status, hdr, 1, body, strlen(body), nullptr};
    done(arg, &r);
}

static void respond_fail(ic_js_worker *w, ic_js_done_cb done, void *arg, ic__js_entry_fail why)
{
    switch (why) {
    case IC__ENTRY_CPU:
        if (ic_reactor_aborting()) { /* the watchdog ends every entry during an exit without draining */
            log_fmt(w, 3, "the request was terminated by the exit without draining: 503");
            respond_plain(done, arg, 503, "Service Unavailable: the server is shutting down\n");
            break;
        }
        log_fmt(w, 3, "the request exceeded its CPU time limit (%u ms): terminated, 503", w->tenant->limits.cpu_ms);
        respond_plain(done, arg, 503, "Service Unavailable: the worker exceeded its CPU time limit\n");
        break;
    case IC__ENTRY_HEAP:
        log_fmt(w, 3, "the isolate reached its heap limit (%zu MiB): terminated, 503, the isolate is recycled",
                w->tenant->limits.heap_bytes >> 20);
        respond_plain(done, arg, 503, "Service Unavailable: the worker exceeded its memory limit\n");
        break;
    default:
        respond_plain(done, arg, 500, "Internal Server Error\n");
        break;
    }
}

/* Headers the HTTP layer writes itself: the handler's are dropped. */
static bool framing_header(const char *name, size_t len)
{
    /* Names come lower-cased from the prelude's Headers: the length picks the one or two names to compare. */
    switch (len) {
    case 4:
        return memcmp(name, "date", 4) == 0;
    case 10:
        return memcmp(name, "connection", 10) == 0 || memcmp(name, "keep-alive", 10) == 0;
    case 14:
        return memcmp(name, "content-length", 14) == 0;
    case 17:
        return memcmp(name, "transfer-encoding", 17) == 0;
    default:
        return false;
    }
}

static void append_utf8(v8::Isolate *isolate, std::string &out, v8::Local<v8::String> s)
{
    size_t at = out.size();
    size_t n = (size_t)s->Utf8Length(isolate);
    out.resize(at + n);
    if (n)
        s->WriteUtf8(isolate, &out[at], (int)n, nullptr, v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
}

/* Whether any of the n bytes at p is past 0x7f (eight at a time). */
static bool any_high(const unsigned char *p, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        acc |= v;
    }
    for (; i < n; i++)
        acc |= p[i];
    return (acc & 0x8080808080808080ull) != 0;
}

/*
 * Appends s as UTF-8, as append_utf8 does; a one-byte (Latin-1) string, the
 * usual body and header block, is copied in one pass (no UTF-8 length pass
 * first): it is its own UTF-8 when all of it is ASCII, and otherwise each
 * byte past 0x7f becomes its two UTF-8 bytes here.
 */
static void append_str(v8::Isolate *isolate, std::string &out, v8::Local<v8::String> s)
{
    if (!s->IsOneByte()) {
        append_utf8(isolate, out, s);
        return;
    }
    size_t at = out.size();
    size_t n = (size_t)s->Length();
    out.resize(at + n);
    if (!n)
        return;
    unsigned char *p = reinterpret_cast<unsigned char *>(&out[at]);
    s->WriteOneByte(isolate, p, 0, (int)n, v8::String::NO_NULL_TERMINATION);
    if (!any_high(p, n))
        return;
    size_t high = 0;
    for (size_t i = 0; i < n; i++)
        high += p[i] >> 7;
    out.resize(at + n + high);
    p = reinterpret_cast<unsigned char *>(&out[at]);
    /* Widened in place from the end: the write position never overtakes the read position. */
    for (size_t i = n, o = n + high; i-- > 0;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            p[--o] = c;
        } else {
            p[--o] = (unsigned char)(0x80 | (c & 0x3f));
            p[--o] = (unsigned char)(0xc0 | (c >> 6));
        }
    }
}

/*
 * Gives done the response whose header block is [0, head_len) of buf (lines
 * "name: value\n"; each '\n' becomes its line's NUL) and whose body is
 * [bp, bp + blen) or stream; then the request is over unless a stream goes on.
 */
static void hand_over(ic_js_worker *w, int status, std::string &buf, size_t head_len, const void *bp, size_t blen,
                      ic_js_stream_t *stream, ic_js_done_cb done, void *arg)
{
    w->lines.clear();
    for (size_t at = 0; at < head_len;) {
        char *line = &buf[at];
        char *nl = static_cast<char *>(memchr(line, '\n', head_len - at));
        if (!nl)
            break;
        *nl = '\0';
        const char *colon = static_cast<const char *>(memchr(line, ':', (size_t)(nl - line)));
        if (colon && !framing_header(line, (size_t)(colon - line)))
            w->lines.push_back(line);
        at = (size_t)(nl - buf.data()) + 1;
    }
    ic_js_response_t r = {status, w->lines.data(), (unsigned)w->lines.size(), bp, blen, stream};
    done(arg, &r);
    /* A streamed body keeps its request going until the stream is over (stream.cc). */
    if (!stream)
        ic__js_request_over(w, w->cur_req);
}

/* Turns serialize's [status, "name: value\n…", body] into a response for done. False if it is not that shape. */
static bool deliver(ic_js_worker *w, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v, ic_js_done_cb done, void *arg)
{
    v8::Isolate *isolate = w->isolate;
    if (!v->IsArray())
        return false;
    v8::Local<v8::Array> a = v.As<v8::Array>();
    v8::Local<v8::Value> status, block, body, sid;
    if (!a->Get(ctx, 0).ToLocal(&status) || !a->Get(ctx, 1).ToLocal(&block) || !a->Get(ctx, 2).ToLocal(&body) ||
        !status->IsInt32() || !block->IsString())
        return false;
    /* [status, block, null, id]: the body is the prelude's stream `id` (only when the caller asked for streams). */
    ic_js_stream_t *stream = nullptr;
    if (a->Length() > 3 && a->Get(ctx, 3).ToLocal(&sid) && sid->IsUint32()) {
        uint32_t id = sid.As<v8::Uint32>()->Value();
        /* id 0 with a source id: the body is that source (bytes from C), sent on with no JS in between. */
        v8::Local<v8::Value> src;
        if (id == 0 && a->Length() > 4 && a->Get(ctx, 4).ToLocal(&src) && src->IsUint32())
            stream = ic__js_stream_direct(w, src.As<v8::Uint32>()->Value());
        else
            stream = ic__js_stream_new(w, id);
        if (!stream)
            return false;
    }
    std::string &sc = w->scratch;
    sc.clear();
    append_str(isolate, sc, block.As<v8::String>());
    size_t head_len = sc.size();
    const void *bp = nullptr;
    size_t blen = 0;
    if (body->IsString()) {
        append_str(isolate, sc, body.As<v8::String>());
        blen = sc.size() - head_len;
        bp = sc.data() + head_len;
    } else if (body->IsArrayBufferView()) {
        v8::Local<v8::ArrayBufferView> view = body.As<v8::ArrayBufferView>();
        blen = view->ByteLength();
        bp = blen ? static_cast<const char *>(view->Buffer()->Data()) + view->ByteOffset() : nullptr;
    }
    hand_over(w, status.As<v8::Int32>()->Value(), sc, head_len, bp, blen, stream, done, arg);
    return true;
}

/* native.respond's response, taken (false: none is staged). Right after the call into JS that may have staged it. */
static bool take_staged(ic_js_worker *w, ic__js_staged &into)
{
    if (!w->staged.ready)
        return false;
    w->staged.ready = false;
    into.status = w->staged.status;
    into.head_len = w->staged.head_len;
    into.has_body = w->staged.has_body;
    into.buf.swap(w->staged.buf);
    return true;
}

/* Delivers a response taken with take_staged; its buffer goes back to the worker when no other was staged since. */
static void deliver_staged(ic_js_worker *w, ic__js_staged &st, ic_js_done_cb done, void *arg)
{
    const char *bp = st.has_body ? st.buf.data() + st.head_len : nullptr;
    hand_over(w, st.status, st.buf, st.head_len, bp, st.buf.size() - st.head_len, nullptr, done, arg);
    if (!w->staged.ready && w->staged.buf.capacity() < st.buf.capacity())
        w->staged.buf.swap(st.buf);
}

/*
 * native.respond(status, block, body): serialize's common case, a string
 * body or none, hands its response over as three arguments rather than as
 * an array C++ then reads element by element through the API (each a
 * property lookup). The strings are copied out now; the C++ that called
 * into JS takes them (take_staged) as soon as its call returns, before
 * microtasks can run and stage another.
 */
static void n_respond(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    ic_js_worker *w = static_cast<ic_js_worker *>(isolate->GetData(0));
    if (!w || args.Length() < 3 || !args[0]->IsInt32() || !args[1]->IsString() || !(args[2]->IsString() || args[2]->IsNull())) {
        isolate->ThrowException(v8::Exception::TypeError(v8::String::NewFromUtf8Literal(isolate, "respond: bad arguments")));
        return;
    }
    ic__js_staged &st = w->staged;
    v8::Local<v8::String> block = args[1].As<v8::String>();
    if (!w->last_block.IsEmpty() && w->last_block == block) {
        st.buf.assign(w->last_block_bytes);
    } else {
        st.buf.clear();
        append_str(isolate, st.buf, block);
        w->last_block.Reset(isolate, block);
        w->last_block_bytes.assign(st.buf);
    }
    st.head_len = st.buf.size();
    st.has_body = args[2]->IsString();
    if (st.has_body)
        append_str(isolate, st.buf, args[2].As<v8::String>());
    st.status = args[0].As<v8::Int32>()->Value();
    st.ready = true;
    args.GetReturnValue().Set(true);
}

const ic__js_native ic__js_natives_worker[] = {
    {"respond", n_respond},
    {nullptr, nullptr},
};

static bool park(ic_js_worker *w, v8::Local<v8::Context> ctx, v8::Local<v8::Promise> promise, unsigned flags, ic_js_done_cb done,
                 void *arg);

/* Logs why a promise of the handler (or of its body) was rejected. */
static void log_rejection(ic_js_worker *w, v8::Local<v8::Context> ctx, v8::Local<v8::Value> e)
{
    v8::Isolate *isolate = w->isolate;
    v8::Local<v8::Value> stack;
    if (!e->IsObject() || !e.As<v8::Object>()->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "stack")).ToLocal(&stack) ||
        !stack->IsString())
        stack = e;
    v8::String::Utf8Value s(isolate, stack);
    log_fmt(w, 3, "uncaught exception in fetch handler: %s", *s ? *s : "?");
}

/*
 * What a handler's promise gave, or what serialize made of it, on its way
 * to done: a serialised response is delivered; a settled promise is looked
 * into; a pending one (a body read to its end first) parks the request
 * again; anything else goes through the prelude's serialize, which says
 * what is wrong with it. Returns false (and logs) when no answer came of
 * it: the caller answers 500.
 */
static bool settle(ic_js_worker *w, v8::Local<v8::Context> ctx, v8::Local<v8::Value> value, unsigned flags, ic_js_done_cb done,
                   void *arg)
{
    v8::Isolate *isolate = w->isolate;
    for (int round = 0; round < 4; round++) {
        if (value->IsArray())
            return deliver(w, ctx, value, done, arg);
        if (value->IsPromise()) {
            v8::Local<v8::Promise> p = value.As<v8::Promise>();
            if (p->State() == v8::Promise::kFulfilled) {
                value = p->Result();
                continue;
            }
            if (p->State() == v8::Promise::kRejected) {
                p->MarkAsHandled();
                log_rejection(w, ctx, p->Result());
                return false;
            }
            if (park(w, ctx, p, flags, done, arg))
                return true;
            respond_plain(done, arg, 503, "Service Unavailable: out of memory\n");
            return true;
        }
        v8::TryCatch tc(isolate);
        v8::Local<v8::Value> in[2] = {value, v8::Boolean::New(isolate, flags & IC_JS_STREAM)};
        bool ok = w->serialize.Get(isolate)->Call(ctx, v8::Undefined(isolate), 2, in).ToLocal(&value);
        ic__js_staged st;
        bool staged = take_staged(w, st);
        if (!ok) {
            if (!tc.HasTerminated())
                log_fmt(w, 3, "bad response from fetch handler: %s", describe_exception(isolate, ctx, tc).c_str());
            return false;
        }
        if (staged) {
            deliver_staged(w, st, done, arg);
            return true;
        }
    }
    return false;
}

/* ---- parked requests ----------------------------------------------------------------------------- */

static void pending_finish(ic__js_pending *p)
{
    ic_timer_stop(&p->wall);
    p->w->pending.erase(p->id);
    delete p;
}

/* Answers every parked request of the worker with a 503 saying why (the table is copied first: each answer erases its entry). */
static void answer_parked(ic_js_worker *w, const char *why)
{
    std::vector<ic__js_pending *> all;
    for (auto &kv : w->pending)
        all.push_back(kv.second);
    for (ic__js_pending *p : all) {
        respond_plain(p->done, p->arg, 503, why);
        ic__js_request_over(w, p->req);
        pending_finish(p);
    }
}

static void wall_fired(ic_timer_t *t)
{
    ic__js_pending *p = (ic__js_pending *)((char *)t - offsetof(ic__js_pending, wall));
    log_fmt(p->w, 3, "the request got no response within its wall-clock limit (%u ms): 504", p->w->tenant->limits.wall_ms);
    respond_plain(p->done, p->arg, 504, "Gateway Timeout: the worker did not respond in time\n");
    ic__js_request_over(p->w, p->req);
    pending_finish(p);
}

/* The promise of a parked request settled: data is its id; the callback's own entry is the one that pumped microtasks. */
static void settled(const v8::FunctionCallbackInfo<v8::Value> &args, bool ok)
{
    v8::Isolate *isolate = args.GetIsolate();
    ic_js_worker *w = static_cast<ic_js_worker *>(isolate->GetData(0));
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    uint64_t id = (uint64_t)args.Data().As<v8::Number>()->Value();
    auto it = w->pending.find(id);
    if (it == w->pending.end())
        return; /* answered already (wall-clock limit) */
    ic__js_pending *p = it->second;
    /* Wasm memory grown in this continuation may be past the limit: then this response is the memory limit's 503 (wasm.cc). */
    if (ic__js_wasm_over_limit(w)) {
        log_fmt(w, 3, "wasm memory (%zu MiB) with the ArrayBuffers passed the memory limit (%zu MiB): 503, the isolate is recycled",
                ic__js_platform_wasm_bytes(w->runner) >> 20, w->tenant->limits.buffer_bytes >> 20);
        respond_plain(p->done, p->arg, 503, "Service Unavailable: the worker exceeded its memory limit\n");
        ic__js_request_over(w, p->req);
        pending_finish(p);
        isolate->TerminateExecution();
        return;
    }
    /* Taken off the table first: settle may park the request again (under a new id). */
    ic_js_done_cb done = p->done;
    void *darg = p->arg;
    unsigned flags = p->flags;
    double req = p->req;
    pending_finish(p);
    w->cur_req = req;
    if (!ok) {
        log_rejection(w, ctx, args[0]);
        respond_plain(done, darg, 500, "Internal Server Error\n");
        ic__js_request_over(w, req);
    } else if (!settle(w, ctx, args[0], flags, done, darg)) {
        respond_plain(done, darg, 500, "Internal Server Error\n");
        ic__js_request_over(w, req);
    }
}

static void on_fulfilled(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    settled(args, true);
}

static void on_rejected(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    settled(args, false);
}

static bool park(ic_js_worker *w, v8::Local<v8::Context> ctx, v8::Local<v8::Promise> promise, unsigned flags, ic_js_done_cb done,
                 void *arg)
{
    ic__js_pending *p = new (std::nothrow) ic__js_pending();
    if (!p)
        return false;
    p->w = w;
    p->id = w->next_pending++;
    p->flags = flags;
    p->done = done;
    p->arg = arg;
    p->req = w->cur_req;
    v8::Local<v8::Number> id = v8::Number::New(w->isolate, (double)p->id);
    v8::Local<v8::Function> f, r;
    v8::Local<v8::Promise> chained;
    if (!v8::Function::New(ctx, on_fulfilled, id).ToLocal(&f) || !v8::Function::New(ctx, on_rejected, id).ToLocal(&r) ||
        !promise->Then(ctx, f, r).ToLocal(&chained)) {
        delete p;
        return false;
    }
    ic_timer_init(&p->wall, wall_fired);
    ic_timer_start(&p->wall, (uint64_t)w->tenant->limits.wall_ms * 1000000u, 0);
    w->pending[p->id] = p;
    return true;
}

/* ---- requests ---------------------------------------------------------------------------------- */

static v8::Local<v8::String> str(v8::Isolate *isolate, const char *p, size_t len)
{
    v8::Local<v8::String> s;
    if (!v8::String::NewFromUtf8(isolate, p, v8::NewStringType::kNormal, (int)len).ToLocal(&s))
        s = v8::String::Empty(isolate);
    return s;
}

/* One-byte (Latin-1) string: request heads are bytes, and latin1 keeps every byte. */
static v8::Local<v8::String> bytes_str(v8::Isolate *isolate, const char *p, size_t len)
{
    v8::Local<v8::String> s;
    if (!v8::String::NewFromOneByte(isolate, reinterpret_cast<const uint8_t *>(p), v8::NewStringType::kNormal, (int)len)
             .ToLocal(&s))
        s = v8::String::Empty(isolate);
    return s;
}

/* The string of bytes b, the same object as the last one made in slot i when the bytes are the same (targets, hosts). */
static v8::Local<v8::String> recent_str(ic_js_worker *w, int i, ic_str_t b)
{
    v8::Isolate *isolate = w->isolate;
    std::string &last = w->last_bytes[i];
    if (!w->last_str[i].IsEmpty() && last.size() == b.len && memcmp(last.data(), b.p, b.len) == 0)
        return w->last_str[i].Get(isolate);
    v8::Local<v8::String> s = bytes_str(isolate, b.p, b.len);
    /* Long ones are not kept: they are rarely the same twice. */
    if (b.len <= 512) {
        last.assign(b.p, b.len);
        w->last_str[i].Reset(isolate, s);
    }
    return s;
}

extern "C" void ic_js_worker_fetch(ic_js_worker_t *w, const ic_http_request_t *req, ic_str_t body, ic_js_done_cb done, void *arg)
{
    ic_js_worker_fetch_ex(w, req, body, 0, done, arg);
}

static void fetch_impl(ic_js_worker_t *w, const ic_http_request_t *req, ic_str_t body, uint32_t upload, unsigned flags,
                       ic_js_done_cb done, void *arg);

extern "C" void ic_js_worker_fetch_ex(ic_js_worker_t *w, const ic_http_request_t *req, ic_str_t body, unsigned flags,
                                      ic_js_done_cb done, void *arg)
{
    fetch_impl(w, req, body, 0, flags, done, arg);
}

void ic__js_worker_fetch_upload(ic_js_worker *w, const ic_http_request_t *req, uint32_t upload, unsigned flags, ic_js_done_cb done,
                                void *arg)
{
    fetch_impl(w, req, ic_str_t{nullptr, 0}, upload, flags, done, arg);
}

/* One request: body is its bytes, or (upload != 0) the body streams in as upload `upload` (stream.cc). */
static void fetch_impl(ic_js_worker_t *w, const ic_http_request_t *req, ic_str_t body, uint32_t upload, unsigned flags,
                       ic_js_done_cb done, void *arg)
{
    v8::Isolate *isolate = w->isolate;
    if (w->broken) {
        respond_plain(done, arg, 503, "Service Unavailable: the worker is being restarted\n");
        return;
    }
    ic__js_entry_scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> ctx = w->context.Get(isolate);
    v8::Context::Scope context_scope(ctx);
    v8::TryCatch tc(isolate);

    /*
     * dispatch(method, target, host, raw headers, body): the url and the
     * header list are built in JS only if the handler reads them. The raw
     * headers are the parsed head's header lines, one string.
     */
    v8::Local<v8::Value> args[8];
    const double rno = ++w->next_req;
    w->cur_req = rno;
    for (int i = 0; i < 3; i++) {
        if (req->method.len == w->methods[i].size() && memcmp(req->method.p, w->methods[i].data(), req->method.len) == 0) {
            args[0] = w->method_str[i].Get(isolate);
            break;
        }
    }
    if (args[0].IsEmpty())
        args[0] = bytes_str(isolate, req->method.p, req->method.len);
    args[1] = recent_str(w, 0, req->target);
    args[2] = recent_str(w, 1, req->host);
    if (req->nheaders) {
        const char *first = req->headers[0].name.p;
        const ic_http_header_t *last = &req->headers[req->nheaders - 1];
        args[3] = bytes_str(isolate, first, (size_t)(last->value.p + last->value.len - first));
    } else {
        args[3] = v8::String::Empty(isolate);
    }
    args[4] = v8::Undefined(isolate);
    args[5] = v8::Boolean::New(isolate, flags & IC_JS_STREAM);
    args[6] = v8::Number::New(isolate, rno);
    args[7] = v8::Boolean::New(isolate, flags & IC_JS_HTTPS);
    if (upload) {
        args[4] = v8::Number::New(isolate, upload);
    } else if (body.len) {
        v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, body.len);
        memcpy(ab->Data(), body.p, body.len);
        args[4] = v8::Uint8Array::New(ab, 0, body.len);
    }
    ic__js_enter(w, w->tenant->limits.cpu_ms);
    v8::Local<v8::Value> result;
    bool ok = w->dispatch.Get(isolate)->Call(ctx, v8::Undefined(isolate), 8, args).ToLocal(&result);
    /* An async handler that never awaited is settled already: serialise it in the same entry. */
    bool settled = false;
    if (ok && result->IsPromise() && result.As<v8::Promise>()->State() == v8::Promise::kFulfilled) {
        v8::Local<v8::Value> in[2] = {result.As<v8::Promise>()->Result(), args[5]};
        ok = w->serialize.Get(isolate)->Call(ctx, v8::Undefined(isolate), 2, in).ToLocal(&result);
        settled = true;
    }
    /* Taken before the microtasks as the entry leaves: a request they settle may stage its own. */
    ic__js_staged st;
    bool staged = take_staged(w, st);
    std::string why;
    if (!ok && !tc.HasTerminated())
        why = describe_exception(isolate, ctx, tc);
    ic__js_entry_fail fail = ic__js_leave(w, !ok);
    /* The microtasks as the entry left may have settled other requests (which set cur_req): this one's again. */
    w->cur_req = rno;
    if (fail == IC__ENTRY_CPU || fail == IC__ENTRY_HEAP) {
        respond_fail(w, done, arg, fail);
        ic__js_request_over(w, rno);
        return;
    }
    if (!ok) {
        log_fmt(w, 3, settled ? "bad response from fetch handler: %s" : "uncaught exception in fetch handler: %s", why.c_str());
        respond_fail(w, done, arg, IC__ENTRY_THROW);
        ic__js_request_over(w, rno);
        return;
    }
    if (staged) {
        deliver_staged(w, st, done, arg);
        return;
    }
    if (result->IsArray()) {
        if (!deliver(w, ctx, result, done, arg)) {
            respond_fail(w, done, arg, IC__ENTRY_THROW);
            ic__js_request_over(w, rno);
        }
        return;
    }
    if (result->IsPromise() && result.As<v8::Promise>()->State() == v8::Promise::kPending) {
        if (!park(w, ctx, result.As<v8::Promise>(), flags, done, arg)) {
            respond_plain(done, arg, 503, "Service Unavailable: out of memory\n");
            ic__js_request_over(w, rno);
        }
        return;
    }
    /* Settled by the microtasks that ran as the entry left, or not a Response: serialize it (or says what it is) in an entry. */
    ic__js_enter(w, w->tenant->limits.cpu_ms);
    w->cur_req = rno;
    bool answered = settle(w, ctx, result, flags, done, arg);
    ic__js_entry_fail f = ic__js_leave(w, !answered);
    if (!answered) {
        respond_fail(w, done, arg, f);
        ic__js_request_over(w, rno);
    }
}

int ic__js_entry_id(ic_js_worker *w, const v8::Global<v8::Function> &fn, double id)
{
    v8::Isolate *isolate = w->isolate;
    if (w->broken || fn.IsEmpty())
        return -1;
    ic__js_entry_scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> ctx = w->context.Get(isolate);
    v8::Context::Scope context_scope(ctx);
    v8::TryCatch tc(isolate);
    v8::Local<v8::Value> arg = v8::Number::New(isolate, id);
    ic__js_enter(w, w->tenant->limits.cpu_ms);
    bool ok = !fn.Get(isolate)->Call(ctx, v8::Undefined(isolate), 1, &arg).IsEmpty();
    std::string why;
    if (!ok && !tc.HasTerminated())
        why = describe_exception(isolate, ctx, tc);
    ic__js_entry_fail f = ic__js_leave(w, !ok);
    if (f == IC__ENTRY_CPU)
        log_fmt(w, 3, "a response stream exceeded its CPU time limit (%u ms): terminated", w->tenant->limits.cpu_ms);
    else if (f == IC__ENTRY_HEAP)
        log_fmt(w, 3, "the isolate reached its heap limit (%zu MiB) in a response stream: the isolate is recycled",
                w->tenant->limits.heap_bytes >> 20);
    else if (!ok)
        log_fmt(w, 3, "uncaught exception in a response stream: %s", why.c_str());
    return f == IC__ENTRY_OK ? 0 : -1;
}

/* ---- timers ---------------------------------------------------------------------------------------- */

void ic__js_timer_fired(ic_timer_t *t)
{
    ic__js_timer *jt = (ic__js_timer *)((char *)t - offsetof(ic__js_timer, timer));
    ic_js_worker *w = jt->w;
    uint32_t id = jt->id;
    if (!jt->repeat) {
        w->timers.erase(id);
        delete jt;
    }
    if (w->broken)
        return;
    v8::Isolate *isolate = w->isolate;
    ic__js_entry_scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> ctx = w->context.Get(isolate);
    v8::Context::Scope context_scope(ctx);
    v8::TryCatch tc(isolate);
    ic__js_enter(w, w->tenant->limits.cpu_ms);
    v8::Local<v8::Value> arg = v8::Integer::NewFromUnsigned(isolate, id), result;
    bool ok = w->fire.Get(isolate)->Call(ctx, v8::Undefined(isolate), 1, &arg).ToLocal(&result);
    std::string why;
    if (!ok && !tc.HasTerminated())
        why = describe_exception(isolate, ctx, tc);
    switch (ic__js_leave(w, !ok)) {
    case IC__ENTRY_CPU:
        log_fmt(w, 3, "a timer callback exceeded the CPU time limit (%u ms): terminated", w->tenant->limits.cpu_ms);
        break;
    case IC__ENTRY_HEAP:
        log_fmt(w, 3, "a timer callback reached the heap limit: terminated, the isolate is recycled");
        break;
    case IC__ENTRY_THROW:
        log_fmt(w, 3, "uncaught exception in a timer callback: %s", why.c_str());
        break;
    case IC__ENTRY_OK:
        break;
    }
    /* A broken isolate answers its parked requests now; its owner replaces it. */
    if (w->broken)
        answer_parked(w, "Service Unavailable: the worker exceeded its memory limit\n");
}

/* ---- platform tasks ------------------------------------------------------------------------------------- */

/*
 * The isolate's foreground tasks are due (platform.cc calls this on the
 * reactor): one guarded entry, like a timer's, runs them; the microtask
 * checkpoint as it leaves settles what they resolved (a WebAssembly.compile
 * promise, and a parked request waiting on it).
 */
static void platform_pump(void *data)
{
    ic_js_worker *w = static_cast<ic_js_worker *>(data);
    if (w->broken)
        return;
    v8::Isolate *isolate = w->isolate;
    ic__js_entry_scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> ctx = w->context.Get(isolate);
    v8::Context::Scope context_scope(ctx);
    v8::TryCatch tc(isolate);
    /* A spare isolate has no tenant yet: its tasks are V8's own (GC), under the default CPU time. */
    unsigned cpu_ms = w->tenant ? w->tenant->limits.cpu_ms : 50;
    ic__js_enter(w, cpu_ms);
    ic__js_platform_run_tasks(isolate);
    std::string why;
    if (tc.HasCaught() && !tc.HasTerminated())
        why = describe_exception(isolate, ctx, tc);
    ic__js_entry_fail f = ic__js_leave(w, tc.HasCaught());
    if (!w->tenant)
        return;
    switch (f) {
    case IC__ENTRY_CPU:
        log_fmt(w, 3, "WebAssembly or other platform work exceeded the CPU time limit (%u ms): terminated", cpu_ms);
        break;
    case IC__ENTRY_HEAP:
        log_fmt(w, 3, "platform work reached the memory limit: terminated, the isolate is recycled");
        break;
    case IC__ENTRY_THROW:
        log_fmt(w, 3, "uncaught exception in platform work: %s", why.c_str());
        break;
    case IC__ENTRY_OK:
        break;
    }
    /*
     * A terminated entry loses the microtasks queued in it (V8 clears the
     * queue on termination), so the parked requests whose continuations
     * were there would wait for the wall-clock limit: each gets its 503 now.
     */
    if (w->broken || f == IC__ENTRY_CPU) {
        const char *body = f == IC__ENTRY_CPU ? "Service Unavailable: the worker exceeded its CPU time limit\n"
                                              : "Service Unavailable: the worker exceeded its memory limit\n";
        answer_parked(w, body);
    }
}

/* ---- modules ----------------------------------------------------------------------------------------- */

static std::string path_of(ic_js_worker *w, v8::Local<v8::Module> m)
{
    for (auto &e : w->module_paths)
        if (e.first.Get(w->isolate) == m)
            return e.second;
    return w->tenant->path;
}

/* Joins a relative specifier to the directory of the importing file and normalises "." and "..". */
static std::string resolve_path(const std::string &from, const std::string &spec)
{
    std::string base = from.substr(0, from.rfind('/') + 1);
    std::string joined = spec[0] == '/' ? spec : base + spec;
    std::vector<std::string> parts;
    size_t i = 0;
    while (i <= joined.size()) {
        size_t j = joined.find('/', i);
        if (j == std::string::npos)
            j = joined.size();
        std::string seg = joined.substr(i, j - i);
        if (seg == "..") {
            if (!parts.empty())
                parts.pop_back();
        } else if (!seg.empty() && seg != ".") {
            parts.push_back(seg);
        }
        i = j + 1;
    }
    std::string out;
    for (auto &p : parts)
        out += "/" + p;
    return out;
}

static v8::MaybeLocal<v8::Module> compile_module(ic_js_worker *w, v8::Local<v8::Context> ctx, const std::string &path,
                                                 const std::string &src);

static v8::MaybeLocal<v8::Module> resolve_import(v8::Local<v8::Context> ctx, v8::Local<v8::String> specifier,
                                                 v8::Local<v8::FixedArray> assertions, v8::Local<v8::Module> referrer)
{
    v8::Isolate *isolate = ctx->GetIsolate();
    ic_js_worker *w = static_cast<ic_js_worker *>(isolate->GetData(0));
    v8::String::Utf8Value spec(isolate, specifier);
    std::string s = *spec ? *spec : "";
    auto fail = [&](const std::string &msg) {
        isolate->ThrowException(v8::Exception::Error(str(isolate, msg.data(), msg.size())));
        return v8::MaybeLocal<v8::Module>();
    };
    if (s.rfind("./", 0) != 0 && s.rfind("../", 0) != 0)
        return fail("cannot import '" + s + "': only relative imports of the worker's own files ('./x.js') are supported");
    std::string path = resolve_path(path_of(w, referrer), s);
    /* A tenant reads its own directory, nothing else of the host. */
    const std::string &dir = w->tenant->dir;
    if (path.compare(0, dir.size() + 1, dir + "/") != 0)
        return fail("cannot import '" + s + "': it is outside the worker's directory");
    auto it = w->modules.find(path);
    if (it != w->modules.end())
        return it->second.Get(isolate);
    std::string src;
    if (!read_text(path, &src))
        return fail("cannot import '" + s + "': " + path + ": " + strerror(errno ? errno : EIO));
    return compile_module(w, ctx, path, src);
}

static v8::MaybeLocal<v8::Module> compile_module(ic_js_worker *w, v8::Local<v8::Context> ctx, const std::string &path,
                                                 const std::string &src)
{
    v8::Isolate *isolate = w->isolate;
    if (path.size() > 5 && path.compare(path.size() - 5, 5, ".wasm") == 0) {
        /* The Workers convention: a .wasm file imports as its WebAssembly.Module. */
        v8::Local<v8::Module> m;
        if (!ic__js_wasm_module(w, ctx, path, src).ToLocal(&m))
            return v8::MaybeLocal<v8::Module>();
        w->modules[path].Reset(isolate, m);
        w->module_paths.emplace_back(v8::Global<v8::Module>(isolate, m), path);
        return m;
    }
    v8::ScriptOrigin origin(isolate, str(isolate, path.data(), path.size()), 0, 0, false, -1, v8::Local<v8::Value>(), false, false,
                            true);
    v8::ScriptCompiler::Source source(str(isolate, src.data(), src.size()), origin);
    v8::Local<v8::Module> m;
    if (!v8::ScriptCompiler::CompileModule(isolate, &source).ToLocal(&m))
        return v8::MaybeLocal<v8::Module>();
    w->modules[path].Reset(isolate, m);
    w->module_paths.emplace_back(v8::Global<v8::Module>(isolate, m), path);
    return m;
}

/* ---- workers --------------------------------------------------------------------------------------------- */

static int fail_msg(char *err, size_t errlen, const std::string &msg)
{
    if (errlen)
        snprintf(err, errlen, "%s", msg.c_str());
    return IC_EJSEXCEPTION;
}

/* Runs the prelude in ctx: a function of the natives that defines the globals and returns the entry points. */
static v8::MaybeLocal<v8::Value> run_prelude(v8::Isolate *isolate, v8::Local<v8::Context> ctx)
{
    v8::ScriptOrigin origin(isolate, v8::String::NewFromUtf8Literal(isolate, "isocore:prelude"));
    v8::Local<v8::Script> script;
    v8::Local<v8::Value> fn, entries;
    v8::Local<v8::Value> nat = ic__js_natives(isolate, ctx);
    if (!v8::Script::Compile(ctx, v8::String::NewFromUtf8Literal(isolate, prelude_src), &origin).ToLocal(&script) ||
        !script->Run(ctx).ToLocal(&fn) || !fn->IsFunction() ||
        !fn.As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 1, &nat).ToLocal(&entries) || !entries->IsObject())
        return v8::MaybeLocal<v8::Value>();
    return entries;
}

/* ---- the startup snapshot ------------------------------------------------------------------------ */

/*
 * Built at start-up rather than at build time: the blob must come from the
 * exact V8 that runs it, and libnode can be upgraded under us by apt.
 * ISOCORE_JS_SNAPSHOT=0 turns it off (each isolate then runs the prelude).
 */
static v8::StartupData snapshot;

void ic__js_snapshot_build(void)
{
    const char *env = getenv("ISOCORE_JS_SNAPSHOT");
    if (snapshot.data || (env && strcmp(env, "0") == 0))
        return;
    const intptr_t *refs = ic__js_external_refs(nullptr);
    v8::SnapshotCreator creator(refs);
    v8::Isolate *isolate = creator.GetIsolate();
    bool ok = false;
    {
        v8::HandleScope handle_scope(isolate);
        v8::Local<v8::Context> ctx = v8::Context::New(isolate);
        v8::Context::Scope context_scope(ctx);
        v8::TryCatch tc(isolate);
        v8::Local<v8::Value> entries;
        if (run_prelude(isolate, ctx).ToLocal(&entries)) {
            creator.AddData(ctx, entries.As<v8::Object>()); /* index 0 */
            creator.SetDefaultContext(ctx);
            ok = true;
        } else {
            ic_log(IC_LOG_WARN, "js: the prelude failed in the snapshot builder: %s", describe_exception(isolate, ctx, tc).c_str());
        }
    }
    if (!ok)
        return; /* ~SnapshotCreator disposes the isolate */
    snapshot = creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
    if (!snapshot.data || !snapshot.IsValid()) {
        ic_log(IC_LOG_WARN, "js: no startup snapshot (V8 could not create one); isolates run the prelude");
        delete[] snapshot.data;
        snapshot = v8::StartupData{nullptr, 0};
    }
}

void ic__js_snapshot_free(void)
{
    delete[] snapshot.data;
    snapshot = v8::StartupData{nullptr, 0};
}

/* Runs the prelude and the tenant's code; 0 or an error code with err filled. Inside scopes set by the caller. */
static int load(ic_js_worker *w, v8::Local<v8::Context> ctx, char *err, size_t errlen)
{
    v8::Isolate *isolate = w->isolate;
    const ic_js_tenant *t = w->tenant;
    v8::TryCatch tc(isolate);
    v8::Local<v8::Value> v, entries;
    if (!w->prelude_entries.IsEmpty()) {
        entries = w->prelude_entries.Get(isolate);
        w->prelude_entries.Reset();
    } else if (!run_prelude(isolate, ctx).ToLocal(&entries)) {
        return fail_msg(err, errlen, "the prelude failed: " + describe_exception(isolate, ctx, tc));
    }
    v8::Local<v8::Object> eo = entries.As<v8::Object>();
    v8::Local<v8::Value> setHandler;
    if (!eo->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "dispatch")).ToLocal(&v) || !v->IsFunction())
        return fail_msg(err, errlen, "the prelude has no dispatch");
    w->dispatch.Reset(isolate, v.As<v8::Function>());
    if (!eo->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "fire")).ToLocal(&v) || !v->IsFunction())
        return fail_msg(err, errlen, "the prelude has no fire");
    w->fire.Reset(isolate, v.As<v8::Function>());
    if (!eo->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "serialize")).ToLocal(&v) || !v->IsFunction())
        return fail_msg(err, errlen, "the prelude has no serialize");
    w->serialize.Reset(isolate, v.As<v8::Function>());
    if (!eo->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "setHandler")).ToLocal(&setHandler) || !setHandler->IsFunction())
        return fail_msg(err, errlen, "the prelude has no setHandler");
    struct {
        const char *name;
        v8::Global<v8::Function> *to;
    } streamfns[] = {{"streamPump", &w->stream_pump}, {"streamResume", &w->stream_resume}, {"streamCancel", &w->stream_cancel},
                     {"uploadWake", &w->upload_wake}, {"fetchEvent", &w->fetch_event},     {"requestOver", &w->request_over}};
    for (auto &f : streamfns) {
        if (!eo->Get(ctx, v8::String::NewFromUtf8(isolate, f.name).ToLocalChecked()).ToLocal(&v) || !v->IsFunction())
            return fail_msg(err, errlen, std::string("the prelude has no ") + f.name);
        f.to->Reset(isolate, v.As<v8::Function>());
    }
    /* Strings of the usual methods, made once. */
    for (int i = 0; i < 3; i++)
        w->method_str[i].Reset(
            isolate, v8::String::NewFromUtf8(isolate, w->methods[i].c_str(), v8::NewStringType::kInternalized).ToLocalChecked());
    /* No shared memory (timing side channels): V8 installs these again on each new context, so they go here, not in the prelude. */
    v8::Local<v8::Object> global = ctx->Global();
    global->Delete(ctx, v8::String::NewFromUtf8Literal(isolate, "SharedArrayBuffer")).FromMaybe(false);
    global->Delete(ctx, v8::String::NewFromUtf8Literal(isolate, "Atomics")).FromMaybe(false);
    /* WebAssembly is made anew on each context too: what the prelude adds to it is installed now (prelude_globals.js). */
    v8::Local<v8::String> per_key = v8::String::NewFromUtf8Literal(isolate, "__isocore_per_context");
    v8::Local<v8::Value> per, top_done;
    if (global->Get(ctx, per_key).ToLocal(&per) && per->IsFunction()) {
        if (!per.As<v8::Function>()->Call(ctx, global, 0, nullptr).ToLocal(&top_done))
            return fail_msg(err, errlen, "the prelude's per-context set-up failed: " + describe_exception(isolate, ctx, tc));
        global->Delete(ctx, per_key).FromMaybe(false);
    }
    /* Tenant code may not compile code from strings (eval, new Function), as on Workers. */
    ctx->AllowCodeGenerationFromStrings(false);

    v8::Local<v8::Value> def = v8::Undefined(isolate);
    bool ok;
    if (t->kind == IC_JS_MODULE) {
        v8::Local<v8::Module> m;
        v8::Local<v8::Value> r;
        ok = compile_module(w, ctx, t->path, t->src).ToLocal(&m) && m->InstantiateModule(ctx, resolve_import).FromMaybe(false) &&
             m->Evaluate(ctx).ToLocal(&r);
        if (ok) {
            isolate->PerformMicrotaskCheckpoint(); /* top-level await */
            if (m->GetStatus() == v8::Module::kErrored) {
                isolate->ThrowException(m->GetException());
                ok = false;
            } else if (m->GetStatus() != v8::Module::kEvaluated) {
                return fail_msg(err, errlen, t->path + ": the module's top-level await did not settle");
            } else if (r->IsPromise() && r.As<v8::Promise>()->State() == v8::Promise::kPending) {
                return fail_msg(err, errlen, t->path + ": the module's top-level await did not settle");
            }
        }
        if (ok) {
            v8::Local<v8::Object> ns = m->GetModuleNamespace().As<v8::Object>();
            ok = ns->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "default")).ToLocal(&def);
            if (ok && def->IsUndefined())
                return fail_msg(err, errlen,
                                t->path + ": the module has no default export (expected: export default { fetch(request, env, "
                                          "ctx) { ... } })");
        }
    } else {
        v8::ScriptOrigin origin(isolate, str(isolate, t->path.data(), t->path.size()));
        v8::Local<v8::Script> s;
        v8::Local<v8::Value> r;
        ok = v8::Script::Compile(ctx, str(isolate, t->src.data(), t->src.size()), &origin).ToLocal(&s) && s->Run(ctx).ToLocal(&r);
    }
    if (ok) {
        v8::Local<v8::Object> envo = v8::Object::New(isolate);
        for (auto &kv : t->env)
            envo->Set(ctx, str(isolate, kv.first.data(), kv.first.size()), str(isolate, kv.second.data(), kv.second.size()))
                .FromMaybe(false);
        /* Service bindings: [binding, service] pairs; the prelude puts a Fetcher for each on env. */
        v8::Local<v8::Array> svcs = v8::Array::New(isolate, (int)t->services.size());
        for (size_t i = 0; i < t->services.size(); i++) {
            v8::Local<v8::Value> pair[2] = {str(isolate, t->services[i].first.data(), t->services[i].first.size()),
                                            str(isolate, t->services[i].second.data(), t->services[i].second.size())};
            svcs->Set(ctx, (uint32_t)i, v8::Array::New(isolate, pair, 2)).FromMaybe(false);
        }
        v8::Local<v8::Value> a[3] = {def, envo, svcs};
        ok = !setHandler.As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 3, a).IsEmpty();
    }
    if (!ok) {
        if (tc.HasTerminated() || w->heap_hit)
            return IC_EJSTERMINATED;
        std::string why = describe_exception(isolate, ctx, tc);
        if (t->map)
            why = ic__js_sourcemap_apply(t->map, t->path, why.data(), why.size()); /* a bundle's top level: the user's lines */
        if (why.rfind(t->path, 0) != 0 && why.find(t->path) == std::string::npos)
            why = t->path + ": " + why;
        return fail_msg(err, errlen, why);
    }
    /* The top level has run: what the prelude changed for it goes back (prelude_globals.js). */
    if (!top_done.IsEmpty() && top_done->IsFunction() && top_done.As<v8::Function>()->Call(ctx, global, 0, nullptr).IsEmpty())
        return fail_msg(err, errlen, "the prelude's end of the top level failed: " + describe_exception(isolate, ctx, tc));
    return 0;
}

/* An isolate with its context from the snapshot, no tenant yet. NULL when V8 can't make one. */
ic_js_worker *ic__js_blank_new(size_t heap_bytes)
{
    ic_js_worker *w = new (std::nothrow) ic_js_worker();
    if (!w)
        return nullptr;
    w->core = ic_reactor_id();
    w->watch = ic__js_watch_self();
    w->heap_limit = heap_bytes;
    w->allocator = new ic__js_allocator(heap_bytes);
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = w->allocator;
    params.constraints.ConfigureDefaultsFromHeapSize(0, heap_bytes);
    if (snapshot.data) {
        params.snapshot_blob = &snapshot;
        params.external_references = ic__js_external_refs(nullptr);
    }
    w->isolate = ic__fault(IC__FAULT_ISOLATE) ? nullptr : v8::Isolate::New(params);
    if (!w->isolate) {
        delete w->allocator;
        delete w;
        return nullptr;
    }
    v8::Isolate *isolate = w->isolate;
    isolate->SetData(0, w);
    isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
    isolate->AddNearHeapLimitCallback(near_heap_limit, w);
    w->runner = ic__js_platform_attach(isolate, w->core, platform_pump, w);
    ic__js_wasm_setup(w);
    ic__js_entry_scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> ctx = v8::Context::New(isolate);
    w->context.Reset(isolate, ctx);
    v8::Local<v8::Object> entries;
    if (snapshot.data && ctx->GetDataFromSnapshotOnce<v8::Object>(0).ToLocal(&entries))
        w->prelude_entries.Reset(isolate, entries);
    return w;
}

bool ic__js_blank_fits(const ic_js_worker *w, const ic_js_tenant *t)
{
    return w->heap_limit == t->limits.heap_bytes;
}

/* Loads tenant t into a blank worker; on failure the worker is freed. */
int ic__js_blank_load(ic_js_worker *w, const ic_js_tenant *t, ic_js_worker_t **out, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    w->tenant = t;
    w->allocator->set_limit(t->limits.buffer_bytes);
    ic__js_platform_budget(w->isolate, t->limits.buffer_bytes, w->allocator);
    w->origin_ns = ic_clock_ns();
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    w->origin_wall_ms = (double)tv.tv_sec * 1000.0 + (double)tv.tv_usec / 1000.0;
    ic__js_bucket_init(&w->console_log, 200, w->origin_ns);
    ic__js_bucket_init(&w->error_log, 50, w->origin_ns);
    /* The tenant's error bucket of this core, shared by its successive isolates here (the tenant is const to others). */
    int core = ic_reactor_id();
    w->errors = nullptr;
    if (core >= 0 && core < IC_MAX_CORES) {
        ic__js_bucket *&b = const_cast<ic_js_tenant *>(t)->error_log[core];
        if (!b) {
            b = new (std::nothrow) ic__js_bucket();
            if (b)
                ic__js_bucket_init(b, 50, w->origin_ns);
        }
        w->errors = b;
    }
    v8::Isolate *isolate = w->isolate;
    int ret;
    {
        ic__js_entry_scope isolate_scope(isolate);
        v8::HandleScope handle_scope(isolate);
        v8::Local<v8::Context> ctx = w->context.Get(isolate);
        v8::Context::Scope context_scope(ctx);
        /* The top level gets 20 times the per-request CPU time (at least a second): it runs once. */
        unsigned cpu = t->limits.cpu_ms * 20 > 1000 ? t->limits.cpu_ms * 20 : 1000;
        ic__js_enter(w, cpu);
        ret = load(w, ctx, err, errlen);
        ic__js_entry_fail f = ic__js_leave(w, ret != 0);
        if (f == IC__ENTRY_CPU || f == IC__ENTRY_HEAP) {
            fail_msg(err, errlen,
                     t->path + (f == IC__ENTRY_CPU ? ": the top level exceeded its CPU time"
                                                   : ": the top level exceeded the heap limit"));
            ret = IC_EJSTERMINATED;
        }
    }
    if (ret != 0) {
        ic_js_worker_free(w);
        return ret;
    }
    *out = w;
    return 0;
}

extern "C" int ic_js_worker_new(const ic_js_tenant_t *t, ic_js_worker_t **out, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (!ic__js_platform_ready())
        return IC_EJSINIT;
    ic_js_worker *w = ic__js_blank_new(t->limits.heap_bytes);
    if (!w)
        return -ENOMEM;
    return ic__js_blank_load(w, t, out, err, errlen);
}

extern "C" void ic_js_worker_free(ic_js_worker_t *w)
{
    if (!w)
        return;
    answer_parked(w, "Service Unavailable: the worker is shutting down\n");
    ic__js_fetch_close(w);
    ic__js_streams_close(w);
    ic__js_brotli_close(w);
    ic__js_uploads_close(w);
    for (auto &kv : w->timers) {
        ic_timer_stop(&kv.second->timer);
        delete kv.second;
    }
    w->timers.clear();
    w->modules.clear();
    w->module_paths.clear();
    w->wasm_imports.clear();
    w->dispatch.Reset();
    w->fire.Reset();
    w->serialize.Reset();
    w->stream_pump.Reset();
    w->stream_resume.Reset();
    w->stream_cancel.Reset();
    w->upload_wake.Reset();
    w->fetch_event.Reset();
    w->request_over.Reset();
    w->prelude_entries.Reset(); /* still set in a spare that never got a tenant */
    for (auto &m : w->method_str)
        m.Reset();
    for (auto &m : w->last_str)
        m.Reset();
    w->last_block.Reset();
    w->context.Reset();
    ic__js_release_kept(w->isolate);
    w->isolate->Dispose();
    ic__js_platform_disposed(w->isolate);
    delete w->allocator;
    delete w;
}

extern "C" unsigned ic_js_worker_pending(const ic_js_worker_t *w)
{
    return (unsigned)w->pending.size();
}

extern "C" bool ic_js_worker_broken(const ic_js_worker_t *w)
{
    return w->broken;
}

extern "C" size_t ic_js_worker_heap_bytes(const ic_js_worker_t *w)
{
    v8::HeapStatistics hs;
    w->isolate->GetHeapStatistics(&hs);
    return hs.used_heap_size() + w->allocator->used();
}
