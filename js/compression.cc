/*
 * compression.cc: the natives under CompressionStream and DecompressionStream
 * (prelude_compression.js), over zlib. The same natives decode fetch's
 * Content-Encoding (gzip, deflate) through internal.compression.
 *
 * Memory. A codec's whole zlib state lives inside one ArrayBuffer the
 * prelude allocates (`new ArrayBuffer(native.zArenaSize(mode))`): zlib gets
 * an allocator that hands out pieces of that buffer and nothing else. So the
 * state counts against the isolate's ArrayBuffer limit like any other
 * buffer, allocating it fails with a RangeError in JS (not a crash), and it
 * is freed by the garbage collector with its buffer, or at once when the
 * codec ends (zEnd detaches the buffer). Nothing is malloc'ed here, so no
 * exit path can leak, whatever the tenant does.
 *
 * Output. zPush fills an output view the prelude passes (at most its size per
 * call) and says how much input it consumed; the prelude calls again until
 * zlib has nothing more for that input. An inflate bomb thus comes out in
 * bounded pieces, each a JS allocation that the isolate's limit applies to.
 *
 * Brotli (Content-Encoding: br, libbrotlidec) cannot live in a fixed arena:
 * its decoder frees and allocates tables for every meta-block and sizes
 * its ring buffer to the stream (up to 16 MiB). Its state is malloc'ed and
 * held by a JS object: freed by brEnd (the prelude calls it when the body
 * ends), else when the object is collected, else when the worker goes away
 * (every live one is on the worker's list).
 */
#include <stddef.h>
#include <string.h>

#include <brotli/decode.h>
#include <zlib.h>

#include "js/internal.hh"

namespace
{

/* Formats (the prelude's numbers). */
enum { F_GZIP, F_DEFLATE, F_RAW, F_COUNT };

const uint32_t MAGIC = 0x7a6c6962; /* "zlib" */

/* The head of an arena; zlib's allocations follow it. */
struct codec {
    uint32_t magic;
    bool compress, started, ended, failed;
    size_t used, cap; /* bytes of the arena handed out, and its size */
    z_stream zs;
};

/*
 * Arena sizes. deflate (windowBits 15, memLevel 8) allocates its state
 * (about 6 KiB), a 64 KiB window, 64 KiB of prev and of head chains, and a
 * 64 KiB pending buffer; inflate its state (about 7 KiB) and, on first
 * output, a 32 KiB window. The margins cover alignment and zlib versions.
 */
const size_t ARENA_DEFLATE = 288 * 1024, ARENA_INFLATE = 48 * 1024;

size_t align_up(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

voidpf arena_alloc(voidpf opaque, uInt items, uInt size)
{
    codec *c = static_cast<codec *>(opaque);
    size_t n = (size_t)items * size;
    if (size && n / size != items)
        return Z_NULL;
    n = align_up(n);
    if (n > c->cap - c->used)
        return Z_NULL;
    void *p = reinterpret_cast<uint8_t *>(c) + c->used;
    c->used += n;
    return p;
}

void arena_free(voidpf, voidpf)
{
    /* The arena goes away whole, with its ArrayBuffer. */
}

void throw_type(v8::Isolate *isolate, const char *msg)
{
    isolate->ThrowException(v8::Exception::TypeError(v8::String::NewFromUtf8(isolate, msg).ToLocalChecked()));
}

/* The codec in an arena the prelude passes, or null (after throwing) when it is not one. */
codec *codec_of(v8::Isolate *isolate, v8::Local<v8::Value> v, bool want_init)
{
    if (!v->IsArrayBuffer()) {
        throw_type(isolate, "compression: not a codec");
        return nullptr;
    }
    v8::Local<v8::ArrayBuffer> ab = v.As<v8::ArrayBuffer>();
    size_t len = ab->ByteLength();
    if (len < align_up(sizeof(codec)) || !ab->Data()) {
        throw_type(isolate, "compression: not a codec");
        return nullptr;
    }
    codec *c = static_cast<codec *>(ab->Data());
    if (want_init != (c->magic == MAGIC) || (want_init && c->cap != len)) {
        throw_type(isolate, want_init ? "compression: not a codec" : "compression: the codec is in use");
        return nullptr;
    }
    return c;
}

/* zArenaSize(compress): the bytes of the ArrayBuffer a codec needs. */
void n_arena_size(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    bool compress = args[0]->BooleanValue(args.GetIsolate());
    args.GetReturnValue().Set((double)(compress ? ARENA_DEFLATE : ARENA_INFLATE));
}

/* zInit(arena, format, compress): sets up a codec in a zeroed arena of zArenaSize(compress) bytes. */
void n_init(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    codec *c = codec_of(isolate, args[0], false);
    if (!c)
        return;
    int format = args[1]->Int32Value(isolate->GetCurrentContext()).FromMaybe(-1);
    bool compress = args[2]->BooleanValue(isolate);
    size_t len = args[0].As<v8::ArrayBuffer>()->ByteLength();
    if (format < 0 || format >= F_COUNT || len != (compress ? ARENA_DEFLATE : ARENA_INFLATE))
        return throw_type(isolate, "zInit: bad arguments");
    memset(c, 0, sizeof(*c));
    c->compress = compress;
    c->cap = len;
    c->used = align_up(sizeof(codec));
    c->zs.zalloc = arena_alloc;
    c->zs.zfree = arena_free;
    c->zs.opaque = c;
    int bits = format == F_GZIP ? 15 + 16 : format == F_DEFLATE ? 15 : -15;
    int rc = compress ? deflateInit2(&c->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY)
                      : inflateInit2(&c->zs, bits);
    if (rc != Z_OK)
        return throw_type(isolate, "zInit: zlib cannot start");
    c->magic = MAGIC;
}

/*
 * zPush(arena, input, offset, output, finish): runs the codec on
 * input[offset..] into output. Returns [offset after what was consumed,
 * bytes written, ended]. With finish the input is the last: a compressor
 * writes its trailer, a decompressor checks its stream ended. Throws a
 * TypeError on corrupt input, on bytes after the end of the compressed
 * stream, and (finish) on a truncated one; the codec is then unusable.
 */
void n_push(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    codec *c = codec_of(isolate, args[0], true);
    if (!c)
        return;
    if (!args[1]->IsArrayBufferView() || !args[3]->IsArrayBufferView())
        return throw_type(isolate, "zPush: bad arguments");
    if (c->failed || (c->ended && c->compress))
        return throw_type(isolate, "zPush: the stream has ended");
    v8::Local<v8::ArrayBufferView> in = args[1].As<v8::ArrayBufferView>(), out = args[3].As<v8::ArrayBufferView>();
    size_t in_len = in->ByteLength(), out_len = out->ByteLength();
    double off_d = args[2]->NumberValue(ctx).FromMaybe(-1);
    if (!(off_d >= 0 && off_d <= (double)in_len) || out_len == 0)
        return throw_type(isolate, "zPush: bad arguments");
    size_t off = (size_t)off_d;
    bool finish = args[4]->BooleanValue(isolate);
    /* zlib counts in uInt: feed at most 1 GiB at a time (the prelude calls again for the rest). */
    size_t avail = in_len - off;
    if (avail > (1u << 30))
        avail = 1u << 30;
    if (out_len > (1u << 30))
        out_len = 1u << 30;
    /* A small input may live on V8's heap: its bytes are copied rather than asking for its buffer (which would allocate
     * one, and fail fatally at the limit). The output is the prelude's 64 KiB scratch, off-heap. */
    uint8_t small[128];
    uint8_t *ip = nullptr;
    if (in_len && in->HasBuffer()) {
        ip = static_cast<uint8_t *>(in->Buffer()->Data()) + in->ByteOffset() + off;
    } else if (in_len) {
        if (in_len > sizeof(small))
            return throw_type(isolate, "zPush: bad arguments");
        in->CopyContents(small, in_len);
        ip = small + off;
    }
    if (!out->HasBuffer())
        return throw_type(isolate, "zPush: bad arguments");
    uint8_t *op = static_cast<uint8_t *>(out->Buffer()->Data()) + out->ByteOffset();
    c->zs.next_in = ip;
    c->zs.avail_in = (uInt)avail;
    c->zs.next_out = op;
    c->zs.avail_out = (uInt)out_len;
    const char *err = nullptr;
    if (c->compress) {
        int rc = deflate(&c->zs, finish && avail == in_len - off ? Z_FINISH : Z_NO_FLUSH);
        if (rc == Z_STREAM_END)
            c->ended = true;
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            err = "CompressionStream: zlib failed";
    } else if (c->ended) {
        if (avail)
            err = "DecompressionStream: there is data after the end of the compressed stream";
    } else {
        if (avail)
            c->started = true;
        int rc = inflate(&c->zs, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            c->ended = true;
            if (c->zs.avail_in)
                err = "DecompressionStream: there is data after the end of the compressed stream";
        } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
            err = "DecompressionStream: the compressed data is corrupt";
        } else if (rc == Z_MEM_ERROR) {
            err = "DecompressionStream: out of memory";
        } else if (rc == Z_BUF_ERROR && finish && c->zs.avail_out && !c->zs.avail_in) {
            /* No progress possible, no more input is coming, and the stream has not ended. */
            err = "DecompressionStream: the compressed data is truncated";
        }
        if (!err && finish && !c->ended && !c->zs.avail_in && c->zs.avail_out)
            err = "DecompressionStream: the compressed data is truncated";
    }
    if (err) {
        c->failed = true;
        return throw_type(isolate, err);
    }
    size_t consumed = avail - c->zs.avail_in, written = out_len - c->zs.avail_out;
    c->zs.next_in = c->zs.next_out = nullptr;
    v8::Local<v8::Array> r = v8::Array::New(isolate, 3);
    r->Set(ctx, 0, v8::Number::New(isolate, (double)(off + consumed))).FromMaybe(false);
    r->Set(ctx, 1, v8::Number::New(isolate, (double)written)).FromMaybe(false);
    r->Set(ctx, 2, v8::Boolean::New(isolate, c->ended)).FromMaybe(false);
    args.GetReturnValue().Set(r);
}

/* zEnd(arena): frees the codec now (its buffer is detached, so its memory goes back to the allocator). */
void n_end(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    if (!args[0]->IsArrayBuffer())
        return;
    v8::Local<v8::ArrayBuffer> ab = args[0].As<v8::ArrayBuffer>();
    if (ab->ByteLength() >= sizeof(codec) && ab->Data())
        static_cast<codec *>(ab->Data())->magic = 0;
    if (ab->IsDetachable())
        ab->Detach();
}

/* ---- brotli ---------------------------------------------------------------------------------- */

void br_free(ic__js_brotli *b)
{
    if (b->w)
        b->w->brotli.erase(b);
    if (b->s)
        BrotliDecoderDestroyInstance(b->s);
    b->holder.Reset();
    delete b;
}

void br_collected(const v8::WeakCallbackInfo<ic__js_brotli> &info)
{
    ic__js_brotli *b = info.GetParameter();
    b->holder.Reset();
    b->freed = true;
    if (b->s) {
        BrotliDecoderDestroyInstance(b->s);
        b->s = nullptr;
    }
    if (b->w)
        b->w->brotli.erase(b);
    delete b;
}

ic__js_brotli *br_of(v8::Isolate *isolate, v8::Local<v8::Value> v)
{
    if (!v->IsObject() || v.As<v8::Object>()->InternalFieldCount() != 1) {
        throw_type(isolate, "brotli: not a decoder");
        return nullptr;
    }
    ic__js_brotli *b = static_cast<ic__js_brotli *>(v.As<v8::Object>()->GetAlignedPointerFromInternalField(0));
    if (!b || !b->s) {
        throw_type(isolate, "brotli: the decoder has ended");
        return nullptr;
    }
    return b;
}

/* brNew(): a brotli decoder (an object with the state inside). */
void n_br_new(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    ic_js_worker *w = static_cast<ic_js_worker *>(isolate->GetData(0));
    v8::Local<v8::ObjectTemplate> t = v8::ObjectTemplate::New(isolate);
    t->SetInternalFieldCount(1);
    v8::Local<v8::Object> o;
    if (!t->NewInstance(ctx).ToLocal(&o))
        return;
    ic__js_brotli *b = new (std::nothrow) ic__js_brotli();
    if (!b || !(b->s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr))) {
        delete b;
        return throw_type(isolate, "brotli: out of memory");
    }
    b->w = w;
    o->SetAlignedPointerInInternalField(0, b);
    b->holder.Reset(isolate, o);
    b->holder.SetWeak(b, br_collected, v8::WeakCallbackType::kParameter);
    if (w)
        w->brotli.insert(b);
    args.GetReturnValue().Set(o);
}

/*
 * brPush(decoder, input, offset, output): decodes input[offset..] into output. Returns [offset after what was consumed,
 * bytes written, ended]. Throws a TypeError on corrupt input or bytes past the end of the stream.
 */
void n_br_push(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    ic__js_brotli *b = br_of(isolate, args[0]);
    if (!b)
        return;
    if (!args[1]->IsArrayBufferView() || !args[3]->IsArrayBufferView())
        return throw_type(isolate, "brPush: bad arguments");
    v8::Local<v8::ArrayBufferView> in = args[1].As<v8::ArrayBufferView>(), out = args[3].As<v8::ArrayBufferView>();
    size_t in_len = in->ByteLength(), out_len = out->ByteLength();
    double off_d = args[2]->NumberValue(ctx).FromMaybe(-1);
    if (!(off_d >= 0 && off_d <= (double)in_len) || out_len == 0 || !out->HasBuffer())
        return throw_type(isolate, "brPush: bad arguments");
    size_t off = (size_t)off_d;
    std::string copy;
    const uint8_t *ip = nullptr;
    if (in_len && in->HasBuffer()) {
        ip = static_cast<const uint8_t *>(in->Buffer()->Data()) + in->ByteOffset() + off;
    } else if (in_len) {
        copy.resize(in_len);
        in->CopyContents(&copy[0], in_len);
        ip = reinterpret_cast<const uint8_t *>(copy.data()) + off;
    }
    uint8_t *op = static_cast<uint8_t *>(out->Buffer()->Data()) + out->ByteOffset();
    size_t avail_in = in_len - off, avail_out = out_len;
    bool ended = BrotliDecoderIsFinished(b->s);
    if (ended && avail_in)
        return throw_type(isolate, "DecompressionStream: there is data after the end of the brotli stream");
    if (!ended) {
        BrotliDecoderResult r = BrotliDecoderDecompressStream(b->s, &avail_in, &ip, &avail_out, &op, nullptr);
        if (r == BROTLI_DECODER_RESULT_ERROR) {
            std::string msg = std::string("DecompressionStream: the brotli data is corrupt (") +
                              BrotliDecoderErrorString(BrotliDecoderGetErrorCode(b->s)) + ")";
            return throw_type(isolate, msg.c_str());
        }
        ended = r == BROTLI_DECODER_RESULT_SUCCESS;
        if (ended && avail_in)
            return throw_type(isolate, "DecompressionStream: there is data after the end of the brotli stream");
    }
    size_t consumed = (in_len - off) - avail_in, written = out_len - avail_out;
    v8::Local<v8::Array> r = v8::Array::New(isolate, 3);
    r->Set(ctx, 0, v8::Number::New(isolate, (double)(off + consumed))).FromMaybe(false);
    r->Set(ctx, 1, v8::Number::New(isolate, (double)written)).FromMaybe(false);
    r->Set(ctx, 2, v8::Boolean::New(isolate, ended)).FromMaybe(false);
    args.GetReturnValue().Set(r);
}

/* brEnd(decoder): frees the decoder's state now. */
void n_br_end(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    if (!args[0]->IsObject() || args[0].As<v8::Object>()->InternalFieldCount() != 1)
        return;
    ic__js_brotli *b = static_cast<ic__js_brotli *>(args[0].As<v8::Object>()->GetAlignedPointerFromInternalField(0));
    if (b && b->s) {
        BrotliDecoderDestroyInstance(b->s);
        b->s = nullptr;
    }
}

} // namespace

/* The worker goes away: every brotli state left is freed (the weak callbacks would not run after the isolate is gone). */
void ic__js_brotli_close(ic_js_worker *w)
{
    std::vector<ic__js_brotli *> all(w->brotli.begin(), w->brotli.end());
    w->brotli.clear();
    for (ic__js_brotli *b : all) {
        b->w = nullptr;
        br_free(b);
    }
}

const ic__js_native ic__js_natives_compression[] = {
    {"zArenaSize", n_arena_size}, {"zInit", n_init},     {"zPush", n_push},   {"zEnd", n_end},
    {"brNew", n_br_new},          {"brPush", n_br_push}, {"brEnd", n_br_end}, {nullptr, nullptr},
};
