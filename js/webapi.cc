/*
 * webapi.cc: the natives under the JS prelude (see prelude.js).
 *
 * Each is a v8::FunctionCallback on an object that only the prelude sees.
 * They trust the prelude for argument types (it checks what users pass) but
 * never crash on a wrong one: a bad argument throws a TypeError.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <mutex>

#include <unicode/uidna.h>

#include "js/internal.hh"

static ic_js_worker *worker_of(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    return static_cast<ic_js_worker *>(args.GetIsolate()->GetData(0));
}

static void throw_type(v8::Isolate *isolate, const char *msg)
{
    isolate->ThrowException(v8::Exception::TypeError(v8::String::NewFromUtf8(isolate, msg).ToLocalChecked()));
}

/* The bytes a Uint8Array (or any view) covers. */
static bool view_bytes(v8::Local<v8::Value> v, uint8_t **p, size_t *len)
{
    if (!v->IsArrayBufferView())
        return false;
    v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
    *len = view->ByteLength();
    *p = *len ? static_cast<uint8_t *>(view->Buffer()->Data()) + view->ByteOffset() : nullptr;
    return true;
}

/* ---- encoding ------------------------------------------------------------------------- */

static void n_encode(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    if (!args[0]->IsString())
        return throw_type(isolate, "encode: not a string");
    v8::Local<v8::String> s = args[0].As<v8::String>();
    size_t len = (size_t)s->Utf8Length(isolate);
    v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, len);
    if (len)
        s->WriteUtf8(isolate, static_cast<char *>(ab->Data()), (int)len, nullptr,
                     v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
    args.GetReturnValue().Set(v8::Uint8Array::New(ab, 0, len));
}

static void n_encode_into(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    uint8_t *p;
    size_t cap;
    if (!args[0]->IsString() || !view_bytes(args[1], &p, &cap))
        return throw_type(isolate, "encodeInto: bad arguments");
    int read = 0;
    int written = cap ? args[0].As<v8::String>()->WriteUtf8(isolate, reinterpret_cast<char *>(p), (int)cap, &read,
                                                            v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8)
                      : 0;
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    v8::Local<v8::Array> out = v8::Array::New(isolate, 2);
    out->Set(ctx, 0, v8::Integer::New(isolate, read)).FromMaybe(false);
    out->Set(ctx, 1, v8::Integer::New(isolate, written)).FromMaybe(false);
    args.GetReturnValue().Set(out);
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF). */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            need = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0;
            if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90;
            if (c == 0xf4)
                hi = 0x8f;
        } else
            return false;
        if (i + need >= n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += need + 1;
    }
    return true;
}

/* decode(view, fatal, stripBOM): a string, or null when fatal and the bytes are not UTF-8. */
static void n_decode(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    uint8_t *p;
    size_t len;
    if (!view_bytes(args[0], &p, &len))
        return throw_type(isolate, "decode: not a view");
    bool fatal = args[1]->BooleanValue(isolate), strip = args[2]->BooleanValue(isolate);
    if (strip && len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
        len -= 3;
    }
    if (fatal && !utf8_valid(p, len)) {
        args.GetReturnValue().SetNull();
        return;
    }
    v8::Local<v8::String> s;
    if (len > (size_t)v8::String::kMaxLength ||
        !v8::String::NewFromUtf8(isolate, reinterpret_cast<const char *>(p), v8::NewStringType::kNormal, (int)len).ToLocal(&s))
        return throw_type(isolate, "decode: the result is too long for a string");
    args.GetReturnValue().Set(s);
}

/* ---- host services ------------------------------------------------------------------- */

static void n_log(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    ic_js_worker *w = worker_of(args);
    int level = args[0]->Int32Value(isolate->GetCurrentContext()).FromMaybe(1);
    /* 200 lines of burst, 100 lines a second after that. */
    if (!ic__js_bucket_take(w, &w->console_log, 200, 100, "console"))
        return;
    v8::String::Utf8Value msg(isolate, args[1]);
    ic__js_log_line(w, level, *msg ? *msg : "", *msg ? (size_t)msg.length() : 0);
}

static void n_random(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    uint8_t *p;
    size_t len;
    if (!view_bytes(args[0], &p, &len))
        return throw_type(args.GetIsolate(), "random: not a view");
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return throw_type(args.GetIsolate(), "random: getrandom failed");
        }
        p += n;
        len -= (size_t)n;
    }
    args.GetReturnValue().Set(args[0]);
}

/* performance.now(): milliseconds since the worker started, to 5 µs (coarse on purpose: timing side channels). */
static void n_now(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    ic_js_worker *w = worker_of(args);
    uint64_t us5 = (ic_clock_ns() - w->origin_ns) / 5000;
    args.GetReturnValue().Set((double)us5 * 0.005);
}

static void n_time_origin(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    args.GetReturnValue().Set(worker_of(args)->origin_wall_ms);
}

static void n_timer_start(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    ic_js_worker *w = worker_of(args);
    uint32_t id = args[0]->Uint32Value(ctx).FromMaybe(0);
    double ms = args[1]->NumberValue(ctx).FromMaybe(0);
    bool repeat = args[2]->BooleanValue(isolate);
    if (ic_reactor_id() < 0)
        return throw_type(isolate, "timers need a reactor: this isolate is not running on one");
    ic__js_timer *t = new (std::nothrow) ic__js_timer();
    if (!t)
        return throw_type(isolate, "out of memory");
    ic_timer_init(&t->timer, ic__js_timer_fired);
    t->w = w;
    t->id = id;
    t->repeat = repeat;
    uint64_t ns = (uint64_t)(ms * 1e6);
    /* Reactor timers count from the time cached at the top of the loop turn; JS counts from this call. */
    uint64_t now = ic_clock_ns(), turn = ic_reactor_now();
    uint64_t first = ns + (now > turn ? now - turn : 0);
    /* An interval of 0 would spin the core: intervals are at least 1 ms. */
    if (ic_timer_start(&t->timer, first, repeat ? (ns ? ns : 1000000) : 0) < 0) {
        delete t;
        return throw_type(isolate, "out of memory");
    }
    w->timers[id] = t;
}

static void n_timer_stop(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    ic_js_worker *w = worker_of(args);
    uint32_t id = args[0]->Uint32Value(args.GetIsolate()->GetCurrentContext()).FromMaybe(0);
    auto it = w->timers.find(id);
    if (it == w->timers.end())
        return;
    ic_timer_stop(&it->second->timer);
    delete it->second;
    w->timers.erase(it);
}

/*
 * structuredClone(value, transfer): V8's serializer there and back (what
 * postMessage uses). args[1], when given, is an array of ArrayBuffers to
 * transfer: they are serialised by reference, then detached, and the clone
 * gets new ArrayBuffers over their memory. Throws on what can't be cloned,
 * on a transfer list that is not ArrayBuffers, repeats one, or holds one
 * that can't be detached (WebAssembly memory, already detached); nothing is
 * detached then.
 */
static void n_clone(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    v8::ValueSerializer ser(isolate);
    std::vector<v8::Local<v8::ArrayBuffer>> moved;
    if (args.Length() > 1 && args[1]->IsArray()) {
        v8::Local<v8::Array> list = args[1].As<v8::Array>();
        for (uint32_t i = 0; i < list->Length(); i++) {
            v8::Local<v8::Value> v;
            if (!list->Get(ctx, i).ToLocal(&v))
                return;
            if (!v->IsArrayBuffer())
                return throw_type(isolate, "only ArrayBuffers can be transferred");
            v8::Local<v8::ArrayBuffer> ab = v.As<v8::ArrayBuffer>();
            if (!ab->IsDetachable() || ab->WasDetached())
                return throw_type(isolate,
                                  "an ArrayBuffer in the transfer list cannot be transferred (detached, or WebAssembly memory)");
            for (auto &m : moved)
                if (m == ab)
                    return throw_type(isolate, "an ArrayBuffer is listed twice in the transfer list");
            ser.TransferArrayBuffer(i, ab);
            moved.push_back(ab);
        }
    }
    ser.WriteHeader();
    if (!ser.WriteValue(ctx, args[0]).FromMaybe(false))
        return; /* the exception is pending */
    std::pair<uint8_t *, size_t> data = ser.Release();
    v8::ValueDeserializer des(isolate, data.first, data.second);
    for (uint32_t i = 0; i < moved.size(); i++) {
        std::shared_ptr<v8::BackingStore> store = moved[i]->GetBackingStore();
        moved[i]->Detach();
        des.TransferArrayBuffer(i, v8::ArrayBuffer::New(isolate, std::move(store)));
    }
    v8::Local<v8::Value> out;
    if (des.ReadHeader(ctx).FromMaybe(false) && des.ReadValue(ctx).ToLocal(&out))
        args.GetReturnValue().Set(out);
    free(data.first);
}

/*
 * The Streams Standard's TransferArrayBuffer: a new ArrayBuffer over the memory of args[0], which is detached.
 * Throws a TypeError when args[0] is not an ArrayBuffer or cannot be detached (WebAssembly memory, detached).
 */
static void n_transfer(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    if (!args[0]->IsArrayBuffer())
        return throw_type(isolate, "transfer: not an ArrayBuffer");
    v8::Local<v8::ArrayBuffer> buf = args[0].As<v8::ArrayBuffer>();
    if (!buf->IsDetachable() || buf->WasDetached())
        return throw_type(isolate, "the ArrayBuffer cannot be transferred");
    std::shared_ptr<v8::BackingStore> store = buf->GetBackingStore();
    buf->Detach();
    args.GetReturnValue().Set(v8::ArrayBuffer::New(isolate, std::move(store)));
}

/* CanTransferArrayBuffer: true when args[0] is an ArrayBuffer that n_transfer would take. */
static void n_can_transfer(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    bool ok =
        args[0]->IsArrayBuffer() && args[0].As<v8::ArrayBuffer>()->IsDetachable() && !args[0].As<v8::ArrayBuffer>()->WasDetached();
    args.GetReturnValue().Set(ok);
}

/* ---- UTS #46 (the URL Standard's domain to ASCII) -------------------------------------------- */

static const UIDNA *uts46;
static std::once_flag uts46_once;

static void n_idna_to_ascii(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    std::call_once(uts46_once, [] {
        UErrorCode err = U_ZERO_ERROR;
        /* CheckBidi, CheckJoiners, nontransitional; CheckHyphens, UseSTD3ASCIIRules and VerifyDnsLength off. */
        uts46 = uidna_openUTS46(
            UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ | UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE, &err);
        if (U_FAILURE(err))
            uts46 = nullptr;
    });
    args.GetReturnValue().SetNull();
    if (!uts46 || !args[0]->IsString())
        return;
    v8::Local<v8::String> s = args[0].As<v8::String>();
    int len = s->Length();
    std::vector<uint16_t> in((size_t)len + 1), out((size_t)len * 4 + 64);
    s->Write(isolate, in.data(), 0, len, v8::String::NO_NULL_TERMINATION);
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    UErrorCode err = U_ZERO_ERROR;
    int32_t n = uidna_nameToASCII(uts46, reinterpret_cast<const UChar *>(in.data()), len, reinterpret_cast<UChar *>(out.data()),
                                  (int32_t)out.size(), &info, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
        out.resize((size_t)n + 1);
        err = U_ZERO_ERROR;
        n = uidna_nameToASCII(uts46, reinterpret_cast<const UChar *>(in.data()), len, reinterpret_cast<UChar *>(out.data()),
                              (int32_t)out.size(), &info, &err);
    }
    const uint32_t ignored = UIDNA_ERROR_EMPTY_LABEL | UIDNA_ERROR_LABEL_TOO_LONG | UIDNA_ERROR_DOMAIN_NAME_TOO_LONG |
                             UIDNA_ERROR_LEADING_HYPHEN | UIDNA_ERROR_TRAILING_HYPHEN | UIDNA_ERROR_HYPHEN_3_4;
    if (U_FAILURE(err) || (info.errors & ~ignored))
        return;
    v8::Local<v8::String> r;
    if (v8::String::NewFromTwoByte(isolate, out.data(), v8::NewStringType::kNormal, n).ToLocal(&r))
        args.GetReturnValue().Set(r);
}

/* ---- the object the prelude gets ------------------------------------------------------------ */

static const ic__js_native natives[] = {
    {"encode", n_encode},
    {"encodeInto", n_encode_into},
    {"decode", n_decode},
    {"log", n_log},
    {"random", n_random},
    {"now", n_now},
    {"timeOrigin", n_time_origin},
    {"timerStart", n_timer_start},
    {"timerStop", n_timer_stop},
    {"clone", n_clone},
    {"transfer", n_transfer},
    {"canTransfer", n_can_transfer},
    {"idnaToASCII", n_idna_to_ascii},
    {nullptr, nullptr},
};

/* Every table of natives, in the order their names are set on `native`. */
static const ic__js_native *const tables[] = {natives,
                                              ic__js_natives_compression,
                                              ic__js_natives_crypto,
                                              ic__js_natives_stream,
                                              ic__js_natives_encoding,
                                              ic__js_natives_fetch,
                                              ic__js_natives_worker};

/* The callbacks a snapshot refers to: every native, then `extra` (null-terminated). Built once, read by every isolate. */
const intptr_t *ic__js_external_refs(const v8::FunctionCallback *extra)
{
    static std::vector<intptr_t> refs;
    static std::once_flag once;
    std::call_once(once, [extra]() mutable {
        for (const ic__js_native *t : tables)
            for (; t->name; t++)
                refs.push_back(reinterpret_cast<intptr_t>(t->fn));
        for (; extra && *extra; extra++)
            refs.push_back(reinterpret_cast<intptr_t>(*extra));
        refs.push_back(0);
    });
    return refs.data();
}

v8::Local<v8::Object> ic__js_natives(v8::Isolate *isolate, v8::Local<v8::Context> ctx)
{
    v8::Local<v8::Object> obj = v8::Object::New(isolate);
    for (const ic__js_native *t : tables) {
        for (; t->name; t++) {
            v8::Local<v8::Function> f;
            if (v8::Function::New(ctx, t->fn).ToLocal(&f))
                obj->Set(ctx, v8::String::NewFromUtf8(isolate, t->name, v8::NewStringType::kInternalized).ToLocalChecked(), f)
                    .FromMaybe(false);
        }
    }
    return obj;
}
