/*
 * crypto.hh: what crypto.cc and crypto_pkey.cc share (the natives under crypto.subtle; see crypto.cc for the
 * whole story): errors, arguments, result buffers, key handles, digests by name, the watchdog between slices.
 * Never included outside js/.
 */
#ifndef ISOCORE_JS_CRYPTO_HH
#define ISOCORE_JS_CRYPTO_HH

#include <stdio.h>
#include <string.h>

#include <memory>
#include <mutex>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "js/internal.hh"

/* ---- errors and arguments ------------------------------------------------------------- */

/* Throws an Error named `name` (a WebCrypto error name, or TypeError); clears OpenSSL's error queue. */
static inline void throw_named(v8::Isolate *isolate, const char *name, const char *msg)
{
    ERR_clear_error();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    v8::Local<v8::String> m = v8::String::NewFromUtf8(isolate, msg).ToLocalChecked();
    if (!strcmp(name, "TypeError")) {
        isolate->ThrowException(v8::Exception::TypeError(m));
        return;
    }
    v8::Local<v8::Value> e = v8::Exception::Error(m);
    e.As<v8::Object>()
        ->Set(ctx, v8::String::NewFromUtf8Literal(isolate, "name"), v8::String::NewFromUtf8(isolate, name).ToLocalChecked())
        .FromMaybe(false);
    isolate->ThrowException(e);
}

static inline void op_error(v8::Isolate *isolate, const char *msg)
{
    throw_named(isolate, "OperationError", msg);
}

static inline void data_error(v8::Isolate *isolate, const char *msg)
{
    throw_named(isolate, "DataError", msg);
}

static inline void type_error(v8::Isolate *isolate, const char *msg)
{
    throw_named(isolate, "TypeError", msg);
}

/* The bytes of an ArrayBuffer or a view of one. */
struct bytes {
    const uint8_t *p = nullptr;
    size_t n = 0;
};

static inline bool get_bytes(v8::Local<v8::Value> v, bytes *b)
{
    if (v->IsArrayBufferView()) {
        v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
        b->n = view->ByteLength();
        b->p = b->n ? static_cast<const uint8_t *>(view->Buffer()->Data()) + view->ByteOffset() : nullptr;
        return true;
    }
    if (v->IsArrayBuffer()) {
        v8::Local<v8::ArrayBuffer> ab = v.As<v8::ArrayBuffer>();
        b->n = ab->ByteLength();
        b->p = b->n ? static_cast<const uint8_t *>(ab->Data()) : nullptr;
        return true;
    }
    return false;
}

/* Optional bytes: undefined or null give an empty span. */
static inline bool get_opt_bytes(v8::Local<v8::Value> v, bytes *b)
{
    if (v->IsUndefined() || v->IsNull()) {
        *b = bytes();
        return true;
    }
    return get_bytes(v, b);
}

static inline double get_num(const v8::FunctionCallbackInfo<v8::Value> &args, int i)
{
    return args[i]->NumberValue(args.GetIsolate()->GetCurrentContext()).FromMaybe(-1);
}

/* A short string argument into buf; false when it is not a string or too long. */
static inline bool get_str(v8::Isolate *isolate, v8::Local<v8::Value> v, char *buf, size_t len)
{
    if (!v->IsString())
        return false;
    v8::Local<v8::String> s = v.As<v8::String>();
    if ((size_t)s->Utf8Length(isolate) >= len)
        return false;
    int n = s->WriteUtf8(isolate, buf, (int)len - 1, nullptr, v8::String::NO_NULL_TERMINATION);
    buf[n] = '\0';
    return true;
}

/*
 * Result buffers: an ArrayBuffer of n bytes from the tenant's own allocator (so it counts against its buffer
 * limit, and asking past that limit throws a RangeError rather than ending the process as ArrayBuffer::New would).
 */
struct outbuf {
    uint8_t *p = nullptr;
    size_t n = 0;
    ic__js_allocator *allocator = nullptr;
    outbuf() = default;
    outbuf(const outbuf &) = delete;
    outbuf &operator=(const outbuf &) = delete;
    ~outbuf()
    {
        if (p) {
            OPENSSL_cleanse(p, n);
            allocator->Free(p, n);
        }
    }
    /* Allocates n bytes; false (with a RangeError thrown) past the tenant's limit. */
    bool alloc(v8::Isolate *isolate, size_t len)
    {
        ic_js_worker *w = static_cast<ic_js_worker *>(isolate->GetData(0));
        allocator = w ? w->allocator : nullptr;
        if (!allocator) {
            type_error(isolate, "crypto: no allocator");
            return false;
        }
        p = static_cast<uint8_t *>(allocator->AllocateUninitialized(len));
        if (!p) {
            isolate->ThrowException(
                v8::Exception::RangeError(v8::String::NewFromUtf8Literal(isolate, "Array buffer allocation failed")));
            return false;
        }
        n = len;
        return true;
    }
    /* The first len bytes as an ArrayBuffer; the buffer then owns the memory (a shorter result is copied out). */
    v8::Local<v8::ArrayBuffer> take(v8::Isolate *isolate, size_t len)
    {
        struct freer {
            static void run(void *data, size_t length, void *arg)
            {
                static_cast<ic__js_allocator *>(arg)->Free(data, length);
            }
        };
        if (len == 0)
            return v8::ArrayBuffer::New(isolate, 0);
        uint8_t *q = p;
        if (len < n) {
            q = static_cast<uint8_t *>(allocator->AllocateUninitialized(len));
            if (!q) {
                isolate->ThrowException(
                    v8::Exception::RangeError(v8::String::NewFromUtf8Literal(isolate, "Array buffer allocation failed")));
                return v8::ArrayBuffer::New(isolate, 0);
            }
            memcpy(q, p, len);
        } else {
            p = nullptr;
        }
        std::unique_ptr<v8::BackingStore> bs = v8::ArrayBuffer::NewBackingStore(q, len, freer::run, allocator);
        return v8::ArrayBuffer::New(isolate, std::move(bs));
    }
};

/* ---- the watchdog between slices ------------------------------------------------------------ */

/* Work is done in slices of this many bytes (about a millisecond of hashing), with a look at the watchdog between. */
static const size_t SLICE = 1 << 20;

/* True when the watchdog ended the current entry: stop and throw (the termination then ends it). */
static inline bool over_time(v8::Isolate *isolate)
{
    if (!ic__js_watch_fired(ic__js_watch_self()))
        return false;
    op_error(isolate, "the CPU time limit was exceeded");
    return true;
}

/* ---- handles ------------------------------------------------------------------------------- */

enum handle_kind { H_SECRET = 1, H_PKEY, H_DIGEST };
static const uint32_t HANDLE_MAGIC = 0x1c0c4e75;

struct handle {
    uint32_t magic;
    handle_kind kind;
    EVP_PKEY *pkey; /* H_PKEY */
    uint8_t *raw;   /* H_SECRET */
    size_t rawlen;  /* H_SECRET */
    EVP_MD_CTX *md; /* H_DIGEST */
    bool priv;      /* H_PKEY: holds a private key */
    /* H_PKEY: a context set up for signing [1] / verifying [0] with the last parameters used, copied for each use */
    EVP_MD_CTX *sig_tmpl[2];
    int sig_alg[2], sig_salt[2];
    const EVP_MD *sig_md[2];
};

static inline void handle_free(void *data, size_t, void *)
{
    handle *h = static_cast<handle *>(data);
    if (h->raw) {
        OPENSSL_cleanse(h->raw, h->rawlen);
        free(h->raw);
    }
    EVP_PKEY_free(h->pkey);
    EVP_MD_CTX_free(h->md);
    EVP_MD_CTX_free(h->sig_tmpl[0]);
    EVP_MD_CTX_free(h->sig_tmpl[1]);
    h->magic = 0;
    delete h;
}

/* Wraps h (taken) in an ArrayBuffer; the buffer frees it. */
static inline v8::Local<v8::ArrayBuffer> handle_wrap(v8::Isolate *isolate, handle *h)
{
    h->magic = HANDLE_MAGIC;
    std::unique_ptr<v8::BackingStore> bs = v8::ArrayBuffer::NewBackingStore(h, sizeof(*h), handle_free, nullptr);
    return v8::ArrayBuffer::New(isolate, std::move(bs));
}

static inline handle *handle_new(handle_kind kind)
{
    handle *h = new (std::nothrow) handle();
    if (h)
        h->kind = kind;
    return h;
}

/* The handle in v when it is one of kind (0: any); null with a TypeError thrown otherwise. */
static inline handle *handle_get(v8::Isolate *isolate, v8::Local<v8::Value> v, int kind)
{
    if (v->IsArrayBuffer()) {
        v8::Local<v8::ArrayBuffer> ab = v.As<v8::ArrayBuffer>();
        if (ab->ByteLength() == sizeof(handle)) {
            handle *h = static_cast<handle *>(ab->Data());
            if (h && h->magic == HANDLE_MAGIC && (kind == 0 || (int)h->kind == kind))
                return h;
        }
    }
    type_error(isolate, "crypto: not a key handle");
    return nullptr;
}

static inline v8::Local<v8::ArrayBuffer> pkey_wrap(v8::Isolate *isolate, EVP_PKEY *pkey, bool priv)
{
    handle *h = handle_new(H_PKEY);
    if (!h) {
        EVP_PKEY_free(pkey);
        return v8::ArrayBuffer::New(isolate, 0);
    }
    h->pkey = pkey;
    h->priv = priv;
    return handle_wrap(isolate, h);
}

/* ---- algorithms by name ---------------------------------------------------------------- */

/* Digests fetched once for the process (an explicit fetch skips the provider lookup on every use). */
static const char *const md_names[] = {"SHA-1", "SHA-256", "SHA-384", "SHA-512"};
static const char *const md_ossl[] = {"SHA1", "SHA2-256", "SHA2-384", "SHA2-512"};
static EVP_MD *mds[4];
static EVP_MAC *hmac_mac;
static EVP_KDF *hkdf_kdf;
static std::once_flag fetch_once;

static inline void fetch_all(void)
{
    std::call_once(fetch_once, [] {
        for (int i = 0; i < 4; i++)
            mds[i] = EVP_MD_fetch(nullptr, md_ossl[i], nullptr);
        hmac_mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        hkdf_kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    });
}

/* The digest named by v ("SHA-256" …), or null with a NotSupportedError thrown. */
static const EVP_MD *get_md(v8::Isolate *isolate, v8::Local<v8::Value> v, int *index = nullptr)
{
    fetch_all();
    char name[16];
    if (get_str(isolate, v, name, sizeof(name)))
        for (int i = 0; i < 4; i++)
            if (!strcmp(name, md_names[i]) && mds[i]) {
                if (index)
                    *index = i;
                return mds[i];
            }
    throw_named(isolate, "NotSupportedError", "unsupported hash");
    return nullptr;
}

/* Feeds data to a digest context in slices; false (thrown) when the CPU limit passed or OpenSSL failed. */
static inline bool md_update(v8::Isolate *isolate, EVP_MD_CTX *ctx, bytes data, bool sign_ctx = false, bool verify_ctx = false)
{
    size_t off = 0;
    do {
        size_t n = data.n - off < SLICE ? data.n - off : SLICE;
        int ok = sign_ctx     ? EVP_DigestSignUpdate(ctx, data.p + off, n)
                 : verify_ctx ? EVP_DigestVerifyUpdate(ctx, data.p + off, n)
                              : EVP_DigestUpdate(ctx, data.p + off, n);
        if (ok != 1) {
            op_error(isolate, "digest failed");
            return false;
        }
        off += n;
        if (off < data.n && over_time(isolate))
            return false;
    } while (off < data.n);
    return true;
}

/* The natives of crypto_pkey.cc (asymmetric keys: RSA, EC, Ed25519, X25519), listed in crypto.cc's table. */
void ic__js_crypto_generate_rsa(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_generate_ec(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_generate_okp(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_import_key(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_export_key(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_key_info(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_jwk_get(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_jwk_set(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_sign(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_verify(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_rsa_oaep(const v8::FunctionCallbackInfo<v8::Value> &args);
void ic__js_crypto_ecdh(const v8::FunctionCallbackInfo<v8::Value> &args);

#endif
