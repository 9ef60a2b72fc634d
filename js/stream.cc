/*
 * stream.cc: response bodies that a worker produces over time, from its
 * ReadableStream to a C consumer (see ic_js_stream_t in isocore/js.h), and
 * the glue that sends them on an HTTP exchange.
 *
 * The prelude (prelude_fetch.js) keeps the stream and a reader under an id;
 * C keeps an ic_js_stream per id. The flow, all on the worker's core:
 *
 *   attach ─task─► streamPump(id): the prelude reads chunk after chunk and
 *     calls native streamWrite(id, chunk) → sink->write; false from the
 *     sink makes the prelude wait;
 *   resume ─task─► streamResume(id): the prelude reads on;
 *   end of the JS stream (or its error) → native streamEnd(id, ok) → sink->end;
 *   cancel ─task─► streamCancel(id): the prelude cancels its reader.
 *
 * attach, resume and cancel come from the consumer, which may be inside a
 * JS entry already (a done callback runs from one), so they only post a
 * reactor task; the task makes the entry. A stream also has an idle timer
 * (the tenant's wall-clock limit): a body that neither moves nor ends for
 * that long is cut.
 */
#include <stdlib.h>
#include <string.h>

#include <deque>
#include <string>

#include "js/internal.hh"

struct ic_js_stream {
    ic_js_worker *w; /* null once the worker is gone (the stream then only waits for its task to free it) */
    uint32_t id;
    double req;               /* the request whose response body this is: it is over when the stream is */
    const ic_js_sink_t *sink; /* null before attach and after cancel or end */
    void *arg;
    ic_task_t task;
    ic_timer_t idle;
    bool task_posted, want_pump, want_resume, want_cancel, over;
    /* Direct: the body is a source of this file (a fetch's response body, a request body passed on untouched): its pieces go to
     * the sink from C, with no JS entry per piece. sink_full: the sink's write said wait. */
    struct ic__js_upload *src;
    bool sink_full;
    /* C-produced (ic_js_stream_from): no worker, no JS; the producer's pieces queue in c until the sink takes them. */
    struct cprod *c;
};

struct cprod {
    const ic_js_source_ops_t *ops;
    void *arg;
    std::deque<std::string> q;
    size_t queued = 0;
    bool ended = false, ok = false; /* the producer's last word */
    bool waiting = false;           /* a push said wait: ops->resume is owed */
    bool consumer_done = false;     /* the sink heard the end, or the consumer cancelled */
};

static void c_run(ic_js_stream *s);

static void direct_flush(struct ic__js_upload *u);
static void direct_drop(ic_js_stream *s);

static void stream_free(ic_js_stream *s)
{
    if (s->src)
        direct_drop(s);
    ic_timer_stop(&s->idle);
    if (s->w) {
        s->w->streams.erase(s->id);
        ic__js_request_over(s->w, s->req);
    }
    delete s;
}

static void run_task(ic_task_t *t);

static void post(ic_js_stream *s)
{
    if (!s->task_posted) {
        s->task_posted = true;
        ic_task_post(&s->task, run_task);
    }
}

/* The body is over for the consumer: it hears it once, then the stream is freed (now, or by its task). */
static void finish(ic_js_stream *s, bool ok)
{
    const ic_js_sink_t *sink = s->sink;
    s->sink = nullptr;
    s->over = true;
    if (sink)
        sink->end(s->arg, ok);
    if (!s->task_posted)
        stream_free(s);
}

static void idle_fired(ic_timer_t *t)
{
    ic_js_stream *s = (ic_js_stream *)((char *)t - offsetof(ic_js_stream, idle));
    static const char msg[] = "a response stream did not move within the wall-clock limit: cut";
    ic__js_log_line(s->w, 3, msg, sizeof(msg) - 1);
    /* The JS side is cancelled by the task; the consumer hears of the failure now. */
    s->want_cancel = true;
    post(s);
    const ic_js_sink_t *sink = s->sink;
    s->sink = nullptr;
    if (sink)
        sink->end(s->arg, false);
}

static void touch(ic_js_stream *s)
{
    ic_timer_start(&s->idle, (uint64_t)s->w->tenant->limits.wall_ms * 1000000u, 0);
}

static void run_task(ic_task_t *t)
{
    ic_js_stream *s = (ic_js_stream *)((char *)t - offsetof(ic_js_stream, task));
    s->task_posted = false;
    if (s->c) {
        c_run(s);
        return;
    }
    if (!s->w || s->over) {
        /* The worker went away, or the body ended while the task waited. */
        stream_free(s);
        return;
    }
    if (s->src) {
        /* A direct body: no JS; the source's queue goes to the sink, or the source is let go. */
        if (s->want_cancel) {
            direct_drop(s);
            stream_free(s);
            return;
        }
        s->want_pump = s->want_resume = false;
        s->sink_full = false;
        direct_flush(s->src);
        return;
    }
    ic_js_worker *w = s->w;
    uint32_t id = s->id;
    int ret = 0;
    if (s->want_cancel) {
        s->want_cancel = s->want_pump = s->want_resume = false;
        ic__js_entry_id(w, w->stream_cancel, id);
        /* The entry may have disposed of nothing; the stream is done either way. */
        auto it = w->streams.find(id);
        if (it != w->streams.end() && it->second == s)
            stream_free(s);
        return;
    }
    if (s->want_pump) {
        s->want_pump = false;
        ret = ic__js_entry_id(w, w->stream_pump, id);
    } else if (s->want_resume) {
        s->want_resume = false;
        ret = ic__js_entry_id(w, w->stream_resume, id);
    }
    /* The entry may have ended the stream (streamEnd frees it unless a task is posted: look it up again). */
    auto it = w->streams.find(id);
    if (it == w->streams.end() || it->second != s)
        return;
    if (s->over) {
        if (!s->task_posted)
            stream_free(s);
        return;
    }
    if (ret < 0) {
        /* A limit stopped the JS side mid-way: the body is cut. */
        s->want_cancel = true;
        post(s);
        const ic_js_sink_t *sink = s->sink;
        s->sink = nullptr;
        if (sink)
            sink->end(s->arg, false);
    }
}

ic_js_stream *ic__js_stream_new(ic_js_worker *w, uint32_t id)
{
    ic_js_stream *s = new (std::nothrow) ic_js_stream();
    if (!s)
        return nullptr;
    s->w = w;
    s->id = id;
    s->req = w->cur_req;
    ic_timer_init(&s->idle, idle_fired);
    w->streams[id] = s;
    return s;
}

void ic__js_streams_close(ic_js_worker *w)
{
    std::vector<ic_js_stream *> all;
    for (auto &kv : w->streams)
        all.push_back(kv.second);
    w->streams.clear();
    for (ic_js_stream *s : all) {
        direct_drop(s);
        s->w = nullptr;
        ic_timer_stop(&s->idle);
        const ic_js_sink_t *sink = s->sink;
        s->sink = nullptr;
        s->over = true;
        if (sink)
            sink->end(s->arg, false);
        if (!s->task_posted)
            delete s;
    }
}

extern "C" void ic_js_stream_attach(ic_js_stream_t *s, const ic_js_sink_t *sink, void *arg)
{
    s->sink = sink;
    s->arg = arg;
    if (s->c) {
        post(s);
        return;
    }
    s->want_pump = true;
    touch(s);
    post(s);
}

extern "C" void ic_js_stream_resume(ic_js_stream_t *s)
{
    if (!s->sink)
        return;
    if (s->c) {
        s->sink_full = false;
        post(s);
        return;
    }
    s->want_resume = true;
    touch(s);
    post(s);
}

extern "C" void ic_js_stream_cancel(ic_js_stream_t *s)
{
    s->sink = nullptr;
    ic_timer_stop(&s->idle);
    if (s->c) {
        s->want_cancel = true;
        post(s);
        return;
    }
    if (!s->w) {
        if (!s->task_posted)
            delete s;
        return;
    }
    s->want_cancel = true;
    post(s);
}

/* ---- C-produced streams ------------------------------------------------------------------------------- */

/*
 * The producer pushes pieces (copied into c->q) and ends; the stream's task
 * hands them to the sink while it takes more, then the end. Past C_HIGH
 * bytes queued a push says wait; the producer is resumed under C_LOW. The
 * stream is freed when both the producer has ended and the consumer is
 * done (heard the end, or cancelled), and no task is posted.
 */
#define C_HIGH (256 * 1024)
#define C_LOW (64 * 1024)

static void c_maybe_free(ic_js_stream *s)
{
    if (!s->c->ended || !s->c->consumer_done || s->task_posted)
        return;
    delete s->c;
    ic_timer_stop(&s->idle);
    delete s;
}

static void c_run(ic_js_stream *s)
{
    cprod *c = s->c;
    if (s->want_cancel) {
        s->want_cancel = false;
        c->q.clear();
        c->queued = 0;
        if (!c->consumer_done) {
            c->consumer_done = true;
            if (!c->ended) {
                /* The producer may end the stream in it: task_posted keeps s alive until it returns. */
                s->task_posted = true;
                c->ops->cancel(c->arg);
                s->task_posted = false;
            }
        }
        c_maybe_free(s);
        return;
    }
    while (s->sink && !s->sink_full && !c->q.empty()) {
        std::string piece = std::move(c->q.front());
        c->q.pop_front();
        c->queued -= piece.size();
        if (!s->sink->write(s->arg, piece.data(), piece.size()))
            s->sink_full = true;
    }
    if (s->want_cancel)
        return; /* the sink cancelled in its write: the posted task does the rest */
    if (s->sink && !s->sink_full && c->q.empty() && c->ended) {
        const ic_js_sink_t *sink = s->sink;
        s->sink = nullptr;
        c->consumer_done = true;
        sink->end(s->arg, c->ok);
        c_maybe_free(s);
        return;
    }
    if (c->waiting && !c->ended && s->sink && c->queued < C_LOW) {
        c->waiting = false;
        bool posted = s->task_posted;
        s->task_posted = true; /* it may push, or end: s stays until it returns */
        c->ops->resume(c->arg);
        s->task_posted = posted;
        if (!c->q.empty() || c->ended)
            post(s); /* what came in it goes from a task */
    }
}

extern "C" ic_js_stream_t *ic_js_stream_from(const ic_js_source_ops_t *ops, void *arg)
{
    ic_js_stream *s = new (std::nothrow) ic_js_stream();
    cprod *c = s ? new (std::nothrow) cprod() : nullptr;
    if (!c) {
        delete s;
        return nullptr;
    }
    c->ops = ops;
    c->arg = arg;
    s->c = c;
    ic_timer_init(&s->idle, idle_fired); /* never started: the producer's side has its own bounds */
    return s;
}

extern "C" bool ic_js_stream_push(ic_js_stream_t *s, const void *p, size_t len)
{
    cprod *c = s->c;
    if (c->ended || c->consumer_done || s->want_cancel)
        return true; /* no one takes it any more: dropped */
    c->q.emplace_back(static_cast<const char *>(p), len);
    c->queued += len;
    if (s->sink && !s->sink_full)
        post(s);
    if (c->queued < C_HIGH)
        return true;
    c->waiting = true;
    return false;
}

extern "C" void ic_js_stream_end(ic_js_stream_t *s, bool ok)
{
    cprod *c = s->c;
    if (c->ended)
        return;
    c->ended = true;
    c->ok = ok;
    c->waiting = false;
    if (c->consumer_done) {
        c_maybe_free(s);
        return;
    }
    if (s->sink && !s->sink_full)
        post(s);
}

/* ---- natives ------------------------------------------------------------------------------------------ */

static ic_js_stream *stream_of(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    ic_js_worker *w = static_cast<ic_js_worker *>(args.GetIsolate()->GetData(0));
    uint32_t id = args[0]->Uint32Value(args.GetIsolate()->GetCurrentContext()).FromMaybe(0);
    auto it = w->streams.find(id);
    return it == w->streams.end() ? nullptr : it->second;
}

/* streamWrite(id, Uint8Array): true when more may come now. False also when no one listens any more (the prelude stops). */
static void n_stream_write(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    ic_js_stream *s = stream_of(args);
    args.GetReturnValue().Set(false);
    if (!s || !s->sink || !args[1]->IsArrayBufferView())
        return;
    v8::Local<v8::ArrayBufferView> view = args[1].As<v8::ArrayBufferView>();
    size_t len = view->ByteLength();
    const char *p = len ? static_cast<const char *>(view->Buffer()->Data()) + view->ByteOffset() : "";
    touch(s);
    args.GetReturnValue().Set(s->sink->write(s->arg, p, len));
}

/* streamEnd(id, ok): the JS stream closed (ok) or errored. */
static void n_stream_end(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    ic_js_stream *s = stream_of(args);
    if (s)
        finish(s, args[1]->BooleanValue(args.GetIsolate()));
}

/* ---- bytes that arrive from C: request bodies that stream in, fetch's response bodies ---------------------------- */

/*
 * A source: a producer's pieces (an HTTP exchange's ic_http_body_read, a
 * fetch call's body op) queue here, copied; the prelude's byte stream
 * (sourceStream in prelude_fetch.js) pulls them with uploadPull. Past
 * UP_HIGH bytes queued the producer is paused (its socket stops being
 * read), and resumed under UP_LOW. When the prelude waits for a piece that
 * is not there, the next one wakes it from a task (uploadWake). The source
 * lives until both sides are done: the producer's last word (an end or an
 * error) and the prelude's (read to the end, cancelled, or the worker gone).
 */
#define UP_HIGH (256 * 1024)
#define UP_LOW (64 * 1024)
#define UP_CHUNK (64 * 1024) /* the most one pull joins into one chunk */

struct ic__js_upload {
    ic_js_worker *w; /* null once the worker is gone */
    uint32_t id;
    void *prod; /* null after the producer's last word */
    const ic__js_source_ops *ops;
    std::deque<std::string> q;
    size_t queued = 0;
    int status = 0;  /* 0: more to come; 1: the end; < 0: the error */
    std::string why; /* the error's message for the prelude (empty: the upload's messages) */
    bool paused = false, js_waiting = false, js_done = false, task_posted = false;
    ic_task_t task;
    ic_js_stream *direct = nullptr; /* the C consumer that took the source from the prelude (see ic__js_stream_direct) */
};

static void upload_maybe_free(ic__js_upload *u)
{
    if (u->prod || u->direct || !(u->js_done || !u->w) || u->task_posted)
        return;
    if (u->w)
        u->w->uploads.erase(u->id);
    delete u;
}

static void upload_wake(ic__js_upload *u);

static void upload_task(ic_task_t *t)
{
    ic__js_upload *u = (ic__js_upload *)((char *)t - offsetof(ic__js_upload, task));
    /* task_posted stays set during the entry, so that nothing the prelude does in it frees u. */
    if (u->w && !u->js_done && u->js_waiting) {
        u->js_waiting = false;
        ic__js_entry_id(u->w, u->w->upload_wake, u->id);
    }
    u->task_posted = false;
    if (u->js_waiting && (!u->q.empty() || u->status))
        upload_wake(u); /* the prelude waits again and something came during the entry */
    upload_maybe_free(u);
}

static void upload_wake(ic__js_upload *u)
{
    if (u->js_waiting && !u->task_posted && u->w) {
        u->task_posted = true;
        ic_task_post(&u->task, upload_task);
    }
}

/*
 * The prelude is done with the source before the producer is: a producer
 * with a cancel op is told and let go; one without runs on to its end, its
 * pieces dropped as they come.
 */
static void js_let_go(ic__js_upload *u)
{
    u->q.clear();
    u->queued = 0;
    if (!u->prod)
        return;
    if (u->ops->cancel) {
        void *prod = u->prod;
        u->prod = nullptr;
        u->ops->cancel(prod);
        return;
    }
    if (u->paused) {
        u->paused = false;
        u->ops->resume(u->prod);
    }
}

ic__js_upload *ic__js_source_new(ic_js_worker *w, const ic__js_source_ops *ops, void *prod)
{
    ic__js_upload *u = new (std::nothrow) ic__js_upload();
    if (!u)
        return nullptr;
    u->w = w;
    u->ops = ops;
    u->prod = prod;
    u->id = w->next_upload++;
    if (!u->id)
        u->id = w->next_upload++;
    w->uploads[u->id] = u;
    return u;
}

uint32_t ic__js_source_id(const ic__js_upload *u)
{
    return u->id;
}

void ic__js_source_push(ic__js_upload *u, const char *p, size_t len)
{
    if ((u->js_done && !u->direct) || !u->w || len == 0)
        return; /* no one reads it any more: dropped as it comes (and an empty piece is no chunk for a stream) */
    u->q.emplace_back(p, len);
    u->queued += len;
    if (u->queued > UP_HIGH && !u->paused && u->prod) {
        u->paused = true;
        u->ops->pause(u->prod);
    }
    if (u->direct)
        direct_flush(u);
    else
        upload_wake(u);
}

void ic__js_source_end(ic__js_upload *u, int status, const char *why)
{
    u->status = status;
    if (why)
        u->why = why;
    u->prod = nullptr;
    if (u->direct) {
        direct_flush(u);
        return;
    }
    upload_wake(u);
    upload_maybe_free(u);
}

/* ---- direct bodies: a source's pieces straight to a stream's sink ---------------------------------------------- */

/*
 * What is queued goes to the sink while it takes more; the producer is
 * resumed under the low mark; once the queue is empty after the
 * producer's last word the body is over for the sink. From the loop only
 * (a producer's op, or the stream's task), never inside a JS entry.
 */
static void direct_flush(ic__js_upload *u)
{
    ic_js_stream *s = u->direct;
    while (s && s->sink && !s->sink_full && !u->q.empty()) {
        std::string piece = std::move(u->q.front());
        u->q.pop_front();
        u->queued -= piece.size();
        touch(s);
        if (!s->sink->write(s->arg, piece.data(), piece.size()))
            s->sink_full = true;
        s = u->direct; /* a failed write cancels the stream (from a task): still ours until then */
    }
    if (!s)
        return;
    if (u->paused && u->queued < UP_LOW && u->prod && !s->sink_full) {
        u->paused = false;
        u->ops->resume(u->prod);
    }
    if (u->q.empty() && u->status != 0 && s->sink) {
        /* The body is over: the stream ends for the sink (ok or not) and lets the source go. */
        u->direct = nullptr;
        s->src = nullptr;
        u->js_done = true;
        bool ok = u->status == 1;
        upload_maybe_free(u);
        finish(s, ok);
    }
}

/* The stream lets its source go before the end (the consumer went away, the worker is disposed): the producer is let go too. */
static void direct_drop(ic_js_stream *s)
{
    ic__js_upload *u = s->src;
    if (!u)
        return;
    s->src = nullptr;
    u->direct = nullptr;
    u->js_done = true;
    js_let_go(u);
    upload_maybe_free(u);
}

ic_js_stream *ic__js_stream_direct(ic_js_worker *w, uint32_t src_id)
{
    auto it = w->uploads.find(src_id);
    if (it == w->uploads.end() || it->second->direct || it->second->js_done)
        return nullptr;
    ic__js_upload *u = it->second;
    ic_js_stream *s = new (std::nothrow) ic_js_stream();
    if (!s)
        return nullptr;
    s->w = w;
    s->id = 0x80000000u | u->id; /* apart from the prelude's stream ids, so that disposal finds it in streams */
    s->req = w->cur_req;
    s->src = u;
    ic_timer_init(&s->idle, idle_fired);
    w->streams[s->id] = s;
    u->direct = s;
    u->js_waiting = false;
    return s;
}

v8::Local<v8::Value> ic__js_source_whole(ic_js_worker *w, uint32_t id, int64_t expect)
{
    v8::Isolate *isolate = w->isolate;
    auto it = w->uploads.find(id);
    if (it == w->uploads.end())
        return v8::Local<v8::Value>();
    ic__js_upload *u = it->second;
    bool whole = u->status == 1 || (u->status == 0 && expect >= 0 && u->queued == (uint64_t)expect);
    if (!whole || u->js_done || u->js_waiting || u->queued > UP_HIGH)
        return v8::Local<v8::Value>();
    v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, u->queued);
    if (ab.IsEmpty() || (u->queued && !ab->Data()))
        return v8::Local<v8::Value>();
    size_t at = 0;
    for (const std::string &piece : u->q) {
        memcpy(static_cast<char *>(ab->Data()) + at, piece.data(), piece.size());
        at += piece.size();
    }
    size_t n = u->queued;
    u->q.clear();
    u->queued = 0;
    u->js_done = true;
    upload_maybe_free(u);
    return v8::Uint8Array::New(ab, 0, n);
}

static void up_pause(void *x)
{
    ic_http_body_pause(static_cast<ic_http_exchange_t *>(x));
}

static void up_resume(void *x)
{
    ic_http_body_resume(static_cast<ic_http_exchange_t *>(x));
}

static const ic__js_source_ops upload_ops = {up_pause, up_resume, nullptr};

static void upload_body(void *arg, const char *p, size_t len, int status)
{
    ic__js_upload *u = static_cast<ic__js_upload *>(arg);
    if (status == 0)
        ic__js_source_push(u, p, len);
    else
        ic__js_source_end(u, status, nullptr); /* the HTTP side's last word */
}

/* uploadPull(id): a Uint8Array, null at the end, undefined when nothing is there yet (uploadWake follows); throws on an error. */
static void n_upload_pull(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    ic_js_worker *w = static_cast<ic_js_worker *>(isolate->GetData(0));
    auto it = w->uploads.find(args[0]->Uint32Value(isolate->GetCurrentContext()).FromMaybe(0));
    if (it == w->uploads.end()) {
        args.GetReturnValue().SetNull();
        return;
    }
    ic__js_upload *u = it->second;
    if (u->direct) {
        args.GetReturnValue().SetNull();
        return;
    }
    if (!u->q.empty()) {
        /* What is queued, joined (the socket brings 4 KiB pieces: one chunk for the stream per pull, not per piece). */
        size_t n = 0;
        for (const std::string &piece : u->q) {
            if (n && n + piece.size() > UP_CHUNK)
                break;
            n += piece.size();
        }
        v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, n);
        if (ab.IsEmpty() || (n && !ab->Data()))
            return; /* the RangeError of the ArrayBuffer limit is pending */
        char *to = static_cast<char *>(ab->Data());
        for (size_t at = 0; at < n;) {
            std::string &piece = u->q.front();
            memcpy(to + at, piece.data(), piece.size());
            at += piece.size();
            u->queued -= piece.size();
            u->q.pop_front();
        }
        if (u->paused && u->queued < UP_LOW && u->prod) {
            u->paused = false;
            u->ops->resume(u->prod);
        }
        args.GetReturnValue().Set(v8::Uint8Array::New(ab, 0, n));
        return;
    }
    if (u->status == 0) {
        u->js_waiting = true;
        return; /* undefined */
    }
    u->js_done = true;
    int status = u->status;
    std::string why = u->why;
    upload_maybe_free(u);
    if (status == 1) {
        args.GetReturnValue().SetNull();
        return;
    }
    if (why.empty())
        why = status == IC_EHTTP_BAD ? "the request body is malformed (a bad chunk)"
              : status == -E2BIG     ? "the request body is over the size limit"
              : status == -ECANCELED ? "the request body was not read before the response was sent"
                                     : "the client went away before the request body ended";
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8(isolate, why.data(), v8::NewStringType::kNormal, (int)why.size()).ToLocalChecked()));
}

/* uploadCancel(id): the prelude's stream was cancelled (or errored); what comes is dropped. */
static void n_upload_cancel(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    ic_js_worker *w = static_cast<ic_js_worker *>(isolate->GetData(0));
    auto it = w->uploads.find(args[0]->Uint32Value(isolate->GetCurrentContext()).FromMaybe(0));
    if (it == w->uploads.end())
        return;
    ic__js_upload *u = it->second;
    if (u->direct)
        return; /* C sends it on now (a direct body): the prelude has no say any more */
    u->js_done = true;
    js_let_go(u);
    upload_maybe_free(u);
}

void ic__js_uploads_close(ic_js_worker *w)
{
    std::vector<ic__js_upload *> all;
    for (auto &kv : w->uploads)
        all.push_back(kv.second);
    w->uploads.clear();
    for (ic__js_upload *u : all) {
        u->w = nullptr;
        js_let_go(u);
        upload_maybe_free(u);
    }
}

extern "C" void ic_js_http_fetch(ic_js_worker_t *w, ic_http_exchange_t *x, unsigned flags, ic_js_done_cb done, void *arg)
{
    if (ic_http_exchange_tls(x))
        flags |= IC_JS_HTTPS;
    if (!ic_http_body_streaming(x)) {
        ic_js_worker_fetch_ex(w, ic_http_request(x), ic_http_body(x), flags, done, arg);
        return;
    }
    ic__js_upload *u = ic__js_source_new(w, &upload_ops, x);
    if (!u) {
        static const char *const plain[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Service Unavailable: out of memory\n";
        ic_js_response_t r = {503, plain, 1, msg, sizeof(msg) - 1, nullptr};
        done(arg, &r);
        return;
    }
    /* The reader is in place before the handler runs: pieces may come from the next loop turn on. */
    ic_http_body_read(x, upload_body, u);
    ic__js_worker_fetch_upload(w, ic_http_request(x), u->id, flags, done, arg);
}

const ic__js_native ic__js_natives_stream[] = {
    {"streamWrite", n_stream_write},   {"streamEnd", n_stream_end}, {"uploadPull", n_upload_pull},
    {"uploadCancel", n_upload_cancel}, {nullptr, nullptr},
};

/* ---- on an HTTP exchange --------------------------------------------------------------------------------- */

struct glue {
    ic_http_exchange_t *x;
    ic_js_stream_t *s;
};

static bool glue_write(void *arg, const void *p, size_t len)
{
    glue *g = static_cast<glue *>(arg);
    int r = ic_http_stream_write(g->x, p, len);
    if (r >= 0)
        return r == 1;
    /* No memory for the chunk: the body is cut, the JS side cancelled (from a task). */
    ic_http_stream_end(g->x, false);
    ic_js_stream_cancel(g->s);
    free(g);
    return false;
}

static void glue_end(void *arg, bool ok)
{
    glue *g = static_cast<glue *>(arg);
    ic_http_stream_end(g->x, ok);
    free(g);
}

static void glue_drain(void *arg)
{
    ic_js_stream_resume(static_cast<glue *>(arg)->s);
}

static void glue_abort(void *arg)
{
    glue *g = static_cast<glue *>(arg);
    ic_js_stream_cancel(g->s);
    free(g);
}

static const ic_js_sink_t glue_sink = {glue_write, glue_end};
static const ic_http_stream_ops_t glue_ops = {glue_drain, glue_abort};

extern "C" void ic_js_http_respond(ic_http_exchange_t *x, const ic_js_response_t *res, const char *extra)
{
    const char *const *h = res->headers;
    unsigned n = res->nheaders;
    const char *with[65];
    if (extra && n < 64) {
        memcpy(with, h, n * sizeof(*h));
        with[n++] = extra;
        h = with;
    }
    if (!res->stream) {
        ic_http_respond(x, res->status, h, n, res->body, res->len);
        return;
    }
    glue *g = static_cast<glue *>(malloc(sizeof(glue)));
    if (!g) {
        ic_js_stream_cancel(res->stream);
        static const char *const plain[] = {"content-type: text/plain; charset=utf-8"};
        static const char msg[] = "Service Unavailable: out of memory\n";
        ic_http_respond(x, 503, plain, 1, msg, sizeof(msg) - 1);
        return;
    }
    g->x = x;
    g->s = res->stream;
    if (ic_http_respond_start(x, res->status, h, n, -1, &glue_ops, g) != 0) {
        /* No body wanted (HEAD, 204, 304), or the client is gone: the worker's stream is cancelled. */
        ic_js_stream_cancel(res->stream);
        free(g);
        return;
    }
    ic_js_stream_attach(res->stream, &glue_sink, g);
}
