/*
 * fetch.cc: the C side of the global fetch() and of service bindings
 * (env.BINDING.fetch()): the natives prelude_fetch_out.js calls, riding the
 * core's own HTTP client (ic_http_call_*, io/http_client.c) on the
 * worker's reactor, with no thread hop.
 *
 * A call of the prelude is an fcall here, under the id the prelude knows it
 * by. The client's ops run from the reactor loop; none of them enters JS:
 * each notes what happened on the fcall and posts the fcall's task, and the
 * task makes one entry (fetchEvent(id)) in which the prelude takes the
 * events with fetchTake: the head, a failure before the head, or a drain
 * (the upload may go on). A response body is a source of stream.cc (bytes
 * from C, paused past a high-water mark, resumed as the prelude pulls), so a
 * large download never sits in memory.
 *
 * The natives (fetchStart, fetchWrite, fetchEnd, fetchAbort) are called from
 * inside entries: they never call back into JS; what they cause comes later,
 * from the loop.
 *
 * Requests: the prelude tells fetchStart which request a call belongs to
 * (the worker's request number); fetch.cc keeps the numbers of requests
 * that fetched, and when worker.cc says one is answered
 * (ic__js_request_over), the prelude hears it in an entry of its own
 * (requestOver(req)) and aborts what the request left open (unless
 * ctx.waitUntil holds it). A worker that never fetches has no state here.
 */
#include <errno.h>
#include <string.h>

#include <deque>
#include <string>
#include <unordered_set>

#include "js/internal.hh"

namespace
{

struct fcall {
    ic_js_worker *w; /* null once the worker is gone (the task then only frees the call) */
    uint32_t id;
    double req;
    ic_http_call_t *c = nullptr; /* null after end ran, or after an abort */
    ic__js_upload *src = nullptr;
    ic_js_stream_t *stream = nullptr; /* a service binding's streamed response body */
    std::string url, service;
    /* Events for the prelude. */
    bool have_head = false, have_fail = false, have_drain = false, taken = false;
    int status = 0;
    std::string reason, raw, why;
    int64_t length = -1; /* the response's Content-Length, when it has one and is not chunked */
    uint32_t src_id = 0; /* the body's source id, kept for the head event after the source was ended */
    bool task_posted = false, svc_out = false, svc_paused = false;
    ic_task_t task;
};

} // namespace

struct ic__js_fetch {
    ic_js_worker *w;
    std::unordered_map<uint32_t, fcall *> calls;
    uint32_t next = 1;
    std::unordered_set<double> reqs; /* requests with fetch state in the prelude */
    std::deque<double> over;         /* requests answered, for requestOver */
    bool over_posted = false, dead = false;
    ic_task_t over_task;
};

namespace
{

thread_local ic_js_service_cb svc_cb;
thread_local void *svc_ctx;

void fcall_maybe_free(fcall *f)
{
    if (f->c || f->svc_out || f->src || f->stream || f->task_posted || !(f->taken || !f->w))
        return;
    if (f->w && f->w->fetch)
        f->w->fetch->calls.erase(f->id);
    delete f;
}

void fcall_task(ic_task_t *t)
{
    fcall *f = (fcall *)((char *)t - offsetof(fcall, task));
    /* task_posted stays set during the entry: nothing the prelude does in it frees f. */
    if (f->w && !f->w->fetch_event.IsEmpty())
        ic__js_entry_id(f->w, f->w->fetch_event, f->id);
    f->task_posted = false;
    fcall_maybe_free(f);
}

void post(fcall *f)
{
    if (!f->task_posted && f->w) {
        f->task_posted = true;
        ic_task_post(&f->task, fcall_task);
    }
}

/* ---- the response body as a source ------------------------------------------------------------ */

void src_pause(void *p)
{
    fcall *f = static_cast<fcall *>(p);
    if (f->c)
        ic_http_call_pause(f->c);
    f->svc_paused = true;
}

void src_resume(void *p)
{
    fcall *f = static_cast<fcall *>(p);
    f->svc_paused = false;
    if (f->c)
        ic_http_call_resume(f->c);
    if (f->stream)
        ic_js_stream_resume(f->stream);
}

/*
 * Lets go of what feeds the call: the HTTP call is aborted (its connection
 * closes, never pooled), a service's stream cancelled, and the body source,
 * if the prelude still has one, ended with -ECANCELED and why.
 */
void fcall_drop(fcall *f, const char *why)
{
    if (f->c) {
        ic_http_call_abort(f->c);
        f->c = nullptr;
    }
    if (f->stream) {
        ic_js_stream_cancel(f->stream);
        f->stream = nullptr;
    }
    if (f->src) {
        ic__js_upload *u = f->src;
        f->src = nullptr;
        ic__js_source_end(u, -ECANCELED, why);
    }
}

/* The prelude cancelled the body (or the worker went away): the call is abandoned, its connection closed. */
void src_cancel(void *p)
{
    fcall *f = static_cast<fcall *>(p);
    f->src = nullptr; /* the source is the one cancelling: it is not ended again */
    fcall_drop(f, nullptr);
    fcall_maybe_free(f);
}

const ic__js_source_ops src_ops = {src_pause, src_resume, src_cancel};

/* ---- the client's ops -------------------------------------------------------------------------- */

void op_head(void *arg, const ic_http_response_t *res)
{
    fcall *f = static_cast<fcall *>(arg);
    f->have_head = true;
    f->status = res->status;
    f->length = res->has_length && !res->chunked ? (int64_t)res->content_length : -1;
    f->reason.assign(res->reason.p, res->reason.len);
    /* The header lines as the prelude's Headers parse them lazily: "name: value\r\n" each. */
    f->raw.clear();
    for (unsigned i = 0; i < res->nheaders; i++) {
        f->raw.append(res->headers[i].name.p, res->headers[i].name.len);
        f->raw.append(": ");
        f->raw.append(res->headers[i].value.p, res->headers[i].value.len);
        f->raw.append("\r\n");
    }
    bool none = res->status == 204 || res->status == 304 || (res->status >= 100 && res->status < 200);
    if (!none && f->w) {
        f->src = ic__js_source_new(f->w, &src_ops, f);
        f->src_id = f->src ? ic__js_source_id(f->src) : 0;
    }
    post(f);
}

void op_body(void *arg, const char *p, size_t len)
{
    fcall *f = static_cast<fcall *>(arg);
    if (f->src)
        ic__js_source_push(f->src, p, len);
}

std::string failure(const fcall *f, int err, const char *why)
{
    std::string m = "fetch to " + f->url + " failed: ";
    m += why && *why ? why : ic_strerror(err);
    return m;
}

void op_end(void *arg, int err, const char *why)
{
    fcall *f = static_cast<fcall *>(arg);
    f->c = nullptr;
    if (f->src) {
        ic__js_upload *u = f->src;
        f->src = nullptr;
        ic__js_source_end(u, err ? -EIO : 1, err ? failure(f, err, why).c_str() : nullptr);
    }
    if (!f->have_head && err) {
        f->have_fail = true;
        f->why = failure(f, err, why);
        post(f);
    } else if (!f->have_head) {
        /* An end without a head can't happen with err 0; treat it as a failure rather than hang. */
        f->have_fail = true;
        f->why = failure(f, IC_EHTTP_RESPONSE, "no response");
        post(f);
    }
    fcall_maybe_free(f);
}

void op_drain(void *arg)
{
    fcall *f = static_cast<fcall *>(arg);
    f->have_drain = true;
    post(f);
}

const ic_http_call_ops_t call_ops = {op_head, op_body, op_end, op_drain};

/* ---- natives ---------------------------------------------------------------------------------- */

ic_js_worker *worker_of(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    return static_cast<ic_js_worker *>(args.GetIsolate()->GetData(0));
}

void throw_type(v8::Isolate *isolate, const std::string &msg)
{
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8(isolate, msg.data(), v8::NewStringType::kNormal, (int)msg.size()).ToLocalChecked()));
}

std::string utf8(v8::Isolate *isolate, v8::Local<v8::Value> v)
{
    v8::String::Utf8Value s(isolate, v);
    return *s ? std::string(*s, (size_t)s.length()) : std::string();
}

/* Latin-1 bytes of a string whose characters are all below U+0100 (header values are ByteStrings). */
std::string bytes(v8::Isolate *isolate, v8::Local<v8::Value> v)
{
    v8::Local<v8::String> s;
    if (!v->ToString(isolate->GetCurrentContext()).ToLocal(&s))
        return std::string();
    std::string out((size_t)s->Length(), '\0');
    if (!out.empty())
        s->WriteOneByte(isolate, reinterpret_cast<uint8_t *>(&out[0]), 0, (int)out.size(), v8::String::NO_NULL_TERMINATION);
    return out;
}

ic__js_fetch *state_of(ic_js_worker *w)
{
    if (!w->fetch) {
        ic__js_fetch *st = new (std::nothrow) ic__js_fetch();
        if (!st)
            return nullptr;
        st->w = w;
        w->fetch = st;
    }
    return w->fetch;
}

fcall *call_of(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    ic_js_worker *w = worker_of(args);
    if (!w->fetch)
        return nullptr;
    auto it = w->fetch->calls.find(args[0]->Uint32Value(args.GetIsolate()->GetCurrentContext()).FromMaybe(0));
    return it == w->fetch->calls.end() ? nullptr : it->second;
}

fcall *fcall_new(ic_js_worker *w, ic__js_fetch *st, double req)
{
    fcall *f = new (std::nothrow) fcall();
    if (!f)
        return nullptr;
    f->w = w;
    f->req = req;
    f->id = st->next++;
    if (!f->id)
        f->id = st->next++;
    st->reqs.insert(req);
    st->calls[f->id] = f;
    return f;
}

/*
 * fetchStart(req, tls, host, port, method, target, [header lines], bodyLength, url): starts a call of request req; returns
 * its id. Throws a TypeError when the client refuses it (a bad header, no memory, a stopping reactor).
 */
void n_fetch_start(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    ic_js_worker *w = worker_of(args);
    if (args.Length() < 9 || !args[6]->IsArray())
        return throw_type(isolate, "fetchStart: bad arguments");
    double req = args[0]->NumberValue(ctx).FromMaybe(0);
    std::string host = utf8(isolate, args[2]), method = bytes(isolate, args[4]), target = bytes(isolate, args[5]);
    std::string url = utf8(isolate, args[8]);
    uint32_t port = args[3]->Uint32Value(ctx).FromMaybe(0);
    double blen = args[7]->NumberValue(ctx).FromMaybe(0);
    v8::Local<v8::Array> hs = args[6].As<v8::Array>();
    std::vector<std::string> lines;
    lines.reserve(hs->Length());
    for (uint32_t i = 0; i < hs->Length(); i++) {
        v8::Local<v8::Value> v;
        if (!hs->Get(ctx, i).ToLocal(&v))
            return;
        lines.push_back(bytes(isolate, v));
    }
    std::vector<const char *> ptrs;
    for (const std::string &l : lines)
        ptrs.push_back(l.c_str());
    ic__js_fetch *st = state_of(w);
    fcall *f = st ? fcall_new(w, st, req) : nullptr;
    if (!f)
        return throw_type(isolate, "fetch to " + url + " failed: out of memory");
    f->url = url;
    ic_http_call_config_t cfg;
    ic_http_call_config_init(&cfg);
    cfg.tls = args[1]->BooleanValue(isolate);
    cfg.host = host.c_str();
    cfg.port = port;
    cfg.method = method.c_str();
    cfg.target = target.c_str();
    cfg.headers = ptrs.data();
    cfg.nheaders = (unsigned)ptrs.size();
    cfg.body_length = blen < 0 ? -1 : (int64_t)blen;
    int r = ic_http_call_start(&cfg, &call_ops, f, &f->c);
    if (r < 0) {
        f->c = nullptr;
        f->taken = true;
        fcall_maybe_free(f);
        return throw_type(isolate, "fetch to " + url + " failed: " +
                                       (r == -EINVAL ? std::string("the request is malformed (a bad method, target or header)")
                                                     : std::string(ic_strerror(r))));
    }
    args.GetReturnValue().Set(f->id);
}

/* fetchWrite(id, Uint8Array): 1 more may be written now, 0 wait for a drain event, < 0 the call is over (its end tells why). */
void n_fetch_write(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    fcall *f = call_of(args);
    args.GetReturnValue().Set(-EPIPE);
    if (!f || !f->c || !args[1]->IsArrayBufferView())
        return;
    v8::Local<v8::ArrayBufferView> view = args[1].As<v8::ArrayBufferView>();
    size_t len = view->ByteLength();
    if (!len) {
        args.GetReturnValue().Set(1);
        return;
    }
    std::string tmp;
    const char *p;
    if (view->HasBuffer()) {
        p = static_cast<const char *>(view->Buffer()->Data()) + view->ByteOffset();
    } else {
        tmp.resize(len);
        view->CopyContents(&tmp[0], len);
        p = tmp.data();
    }
    f->have_drain = false;
    args.GetReturnValue().Set(ic_http_call_write(f->c, p, len));
}

/* fetchEnd(id): the request body is complete. */
void n_fetch_end(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    fcall *f = call_of(args);
    if (f && f->c)
        ic_http_call_end(f->c);
}

/* fetchAbort(id): the prelude abandons the call (a signal, the request's end): no event comes after this. */
void n_fetch_abort(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    fcall *f = call_of(args);
    if (!f)
        return;
    f->taken = true;
    fcall_drop(f, ("fetch to " + f->url + " was aborted").c_str());
    fcall_maybe_free(f);
}

v8::Local<v8::String> latin1(v8::Isolate *isolate, const std::string &s)
{
    v8::Local<v8::String> out;
    if (!v8::String::NewFromOneByte(isolate, reinterpret_cast<const uint8_t *>(s.data()), v8::NewStringType::kNormal, (int)s.size())
             .ToLocal(&out))
        out = v8::String::Empty(isolate);
    return out;
}

/*
 * fetchTake(id): the call's next event: [1, status, reason, raw headers, body source id or 0] (the head), [2, message] (it
 * failed before the head), [3] (a drain: the upload may go on), or undefined (nothing more now). The body source id is a
 * Uint8Array instead when the whole body is there already.
 */
void n_fetch_take(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    fcall *f = call_of(args);
    if (!f || f->taken) {
        if (f && f->have_drain) {
            f->have_drain = false;
            v8::Local<v8::Value> ev[1] = {v8::Number::New(isolate, 3)};
            args.GetReturnValue().Set(v8::Array::New(isolate, ev, 1));
        }
        return;
    }
    if (f->have_head) {
        f->taken = true;
        /* A body that is all there already (the common small response: head, body and end in one read) comes whole: no stream. */
        v8::Local<v8::Value> body;
        if (f->src_id && !f->stream)
            body = ic__js_source_whole(f->w, f->src_id, f->src ? f->length : -1);
        if (body.IsEmpty())
            body = v8::Number::New(isolate, f->src_id);
        v8::Local<v8::Value> ev[5] = {v8::Number::New(isolate, 1), v8::Number::New(isolate, f->status), latin1(isolate, f->reason),
                                      latin1(isolate, f->raw), body};
        f->raw.clear();
        args.GetReturnValue().Set(v8::Array::New(isolate, ev, 5));
        return;
    }
    if (f->have_fail) {
        f->taken = true;
        v8::Local<v8::Value> ev[2] = {
            v8::Number::New(isolate, 2),
            v8::String::NewFromUtf8(isolate, f->why.data(), v8::NewStringType::kNormal, (int)f->why.size()).ToLocalChecked()};
        args.GetReturnValue().Set(v8::Array::New(isolate, ev, 2));
        return;
    }
    if (f->have_drain) {
        f->have_drain = false;
        v8::Local<v8::Value> ev[1] = {v8::Number::New(isolate, 3)};
        args.GetReturnValue().Set(v8::Array::New(isolate, ev, 1));
    }
}

/* fetchTrack(req): the prelude keeps state for request req (ctx.waitUntil before any fetch): tell it when req is over. */
void n_fetch_track(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    ic_js_worker *w = worker_of(args);
    ic__js_fetch *st = state_of(w);
    if (st)
        st->reqs.insert(args[0]->NumberValue(args.GetIsolate()->GetCurrentContext()).FromMaybe(0));
}

/* fetchLimits(): [subrequests, connections] of the tenant. */
void n_fetch_limits(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    ic_js_worker *w = worker_of(args);
    v8::Local<v8::Value> v[2] = {v8::Number::New(isolate, w->tenant->limits.subrequests),
                                 v8::Number::New(isolate, w->tenant->limits.connections)};
    args.GetReturnValue().Set(v8::Array::New(isolate, v, 2));
}

/* ---- service bindings --------------------------------------------------------------------------- */

bool svc_write(void *arg, const void *p, size_t len)
{
    fcall *f = static_cast<fcall *>(arg);
    if (f->src)
        ic__js_source_push(f->src, static_cast<const char *>(p), len);
    return !f->svc_paused;
}

void svc_end(void *arg, bool ok)
{
    fcall *f = static_cast<fcall *>(arg);
    f->stream = nullptr;
    if (f->src) {
        ic__js_upload *u = f->src;
        f->src = nullptr;
        ic__js_source_end(u, ok ? 1 : -EIO,
                          ok ? nullptr : ("service binding " + f->service + ": the response body failed").c_str());
    }
    fcall_maybe_free(f);
}

const ic_js_sink_t svc_sink = {svc_write, svc_end};

/* The service's response: may run inside svcFetch (the handler answered at once) or later; never enters JS. */
void svc_done(void *arg, const ic_js_response_t *res)
{
    fcall *f = static_cast<fcall *>(arg);
    f->svc_out = false;
    if (!f->w || f->taken) {
        /* The worker went away, or the prelude abandoned the call. */
        if (res->stream)
            ic_js_stream_cancel(res->stream);
        fcall_maybe_free(f);
        return;
    }
    f->have_head = true;
    f->status = res->status;
    f->reason = ic_http_reason(res->status);
    f->raw.clear();
    for (unsigned i = 0; i < res->nheaders; i++) {
        f->raw.append(res->headers[i]);
        f->raw.append("\r\n");
    }
    bool none = res->status == 204 || res->status == 304;
    if (!none) {
        f->src = ic__js_source_new(f->w, &src_ops, f);
        f->src_id = f->src ? ic__js_source_id(f->src) : 0;
    }
    if (res->stream) {
        if (f->src) {
            f->stream = res->stream;
            ic_js_stream_attach(res->stream, &svc_sink, f);
        } else {
            ic_js_stream_cancel(res->stream);
        }
    } else if (f->src) {
        ic__js_upload *u = f->src;
        f->src = nullptr;
        if (res->len)
            ic__js_source_push(u, static_cast<const char *>(res->body), res->len);
        ic__js_source_end(u, 1, nullptr);
    }
    post(f);
}

/*
 * svcFetch(req, binding, service, method, url, raw headers "name: value\r\n"…, body Uint8Array or null): calls the service
 * handler of this reactor; returns the call's id (its head comes as for fetchStart).
 */
void n_svc_fetch(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    ic_js_worker *w = worker_of(args);
    double req = args[0]->NumberValue(ctx).FromMaybe(0);
    std::string binding = utf8(isolate, args[1]), service = utf8(isolate, args[2]);
    std::string method = bytes(isolate, args[3]), url = utf8(isolate, args[4]), raw = bytes(isolate, args[5]);
    std::string body;
    if (args[6]->IsArrayBufferView()) {
        v8::Local<v8::ArrayBufferView> view = args[6].As<v8::ArrayBufferView>();
        body.resize(view->ByteLength());
        if (!body.empty())
            view->CopyContents(&body[0], body.size());
    }
    ic__js_fetch *st = state_of(w);
    fcall *f = st ? fcall_new(w, st, req) : nullptr;
    if (!f)
        return throw_type(isolate, "service binding " + binding + ": out of memory");
    f->url = url;
    f->service = binding;
    /* The request as the HTTP layer would give it: headers parsed from the raw lines (views into raw). */
    ic_http_request_t r;
    memset(&r, 0, sizeof(r));
    r.method = {method.data(), method.size()};
    r.target = {url.data(), url.size()};
    size_t hs = url.find("://");
    size_t he = hs == std::string::npos ? 0 : url.find_first_of("/?#", hs + 3);
    if (hs != std::string::npos)
        r.host = {url.data() + hs + 3, (he == std::string::npos ? url.size() : he) - (hs + 3)};
    r.minor = 1;
    for (size_t at = 0; at < raw.size() && r.nheaders < IC_HTTP_MAX_HEADERS;) {
        size_t nl = raw.find("\r\n", at);
        if (nl == std::string::npos)
            nl = raw.size();
        size_t colon = raw.find(':', at);
        if (colon != std::string::npos && colon < nl) {
            size_t v = colon + 1;
            while (v < nl && raw[v] == ' ')
                v++;
            r.headers[r.nheaders].name = {raw.data() + at, colon - at};
            r.headers[r.nheaders].value = {raw.data() + v, nl - v};
            r.nheaders++;
        }
        at = nl + 2;
    }
    r.has_length = !body.empty();
    r.content_length = body.size();
    args.GetReturnValue().Set(f->id);
    if (!svc_cb) {
        static const char *const plain[] = {"content-type: text/plain; charset=utf-8"};
        std::string msg = "Service Unavailable: no service handler for binding " + binding + "\n";
        ic_js_response_t res = {503, plain, 1, msg.data(), msg.size(), nullptr};
        svc_done(f, &res);
        return;
    }
    f->svc_out = true;
    svc_cb(svc_ctx, service.c_str(), &r, ic_str_t{body.data(), body.size()}, IC_JS_STREAM, svc_done, f);
}

} // namespace

/* ---- the worker's side ----------------------------------------------------------------------------- */

static void over_task(ic_task_t *t)
{
    ic__js_fetch *st = (ic__js_fetch *)((char *)t - offsetof(ic__js_fetch, over_task));
    st->over_posted = false;
    if (st->dead) {
        delete st;
        return;
    }
    while (!st->over.empty()) {
        double req = st->over.front();
        st->over.pop_front();
        ic__js_entry_id(st->w, st->w->request_over, req);
        if (st->dead) {
            delete st;
            return;
        }
    }
}

void ic__js_request_over(ic_js_worker *w, double req)
{
    ic__js_fetch *st = w->fetch;
    if (!st || !st->reqs.erase(req))
        return;
    st->over.push_back(req);
    if (!st->over_posted) {
        st->over_posted = true;
        ic_task_post(&st->over_task, over_task);
    }
}

void ic__js_fetch_close(ic_js_worker *w)
{
    ic__js_fetch *st = w->fetch;
    if (!st)
        return;
    w->fetch = nullptr;
    std::vector<fcall *> all;
    for (auto &kv : st->calls)
        all.push_back(kv.second);
    st->calls.clear();
    for (fcall *f : all) {
        f->w = nullptr;
        fcall_drop(f, "the worker went away");
        /* A service call still out is freed by its done; a posted task frees its call. */
        if (!f->task_posted && !f->svc_out)
            delete f;
    }
    if (st->over_posted)
        st->dead = true;
    else
        delete st;
}

extern "C" void ic_js_set_services(ic_js_service_cb cb, void *ctx)
{
    svc_cb = cb;
    svc_ctx = ctx;
}

const ic__js_native ic__js_natives_fetch[] = {
    {"fetchStart", n_fetch_start},   {"fetchWrite", n_fetch_write}, {"fetchEnd", n_fetch_end},
    {"fetchAbort", n_fetch_abort},   {"fetchTake", n_fetch_take},   {"fetchTrack", n_fetch_track},
    {"fetchLimits", n_fetch_limits}, {"svcFetch", n_svc_fetch},     {nullptr, nullptr},
};
