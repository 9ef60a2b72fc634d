/*
 * crypto.cc: the natives under crypto.subtle (prelude_crypto.js), over
 * OpenSSL 3's EVP interface. No cryptography is written here: every
 * primitive is an EVP call; this file only moves bytes between V8 and
 * OpenSSL, and composes PBKDF2 from EVP_MAC so that it can stop.
 *
 * The prelude checks what users pass (WebIDL, algorithm normalisation,
 * usages); these natives still never crash on a bad argument. A failure
 * throws an Error whose name is the WebCrypto error it stands for
 * ("OperationError", "DataError", "NotSupportedError"); the prelude turns
 * it into a DOMException of that name.
 *
 * Key material lives in native memory: a handle is an ArrayBuffer whose
 * backing store is the key (an EVP_PKEY, or the raw bytes of a secret key)
 * with a deleter that frees it. V8 runs the deleter when the CryptoKey
 * holding the handle is collected, and for whatever is left when the
 * isolate is disposed, so no list of keys is needed here. The prelude keeps
 * handles in private fields: tenant code never sees them.
 *
 * CPU time: the work runs on the reactor thread, inside the entry that
 * called it, so its CPU time counts against the entry's limit; but the
 * watchdog's TerminateExecution only takes effect back in JS. Anything whose
 * cost grows with the input (digests, ciphers, PBKDF2's iterations, RSA key
 * generation) therefore works in slices and asks the watchdog between them
 * whether the entry is over its time; if so it stops and throws, and the
 * pending termination ends the entry with the CPU limit's 503.
 */
#include <string.h>

#include <memory>
#include <mutex>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "js/internal.hh"

/* ---- errors and arguments ------------------------------------------------------------- */

/* Throws an Error named `name` (a WebCrypto error name, or TypeError); clears OpenSSL's error queue. */
static void throw_named(v8::Isolate *isolate, const char *name, const char *msg)
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

static void op_error(v8::Isolate *isolate, const char *msg)
{
    throw_named(isolate, "OperationError", msg);
}

static void data_error(v8::Isolate *isolate, const char *msg)
{
    throw_named(isolate, "DataError", msg);
}

static void type_error(v8::Isolate *isolate, const char *msg)
{
    throw_named(isolate, "TypeError", msg);
}

/* The bytes of an ArrayBuffer or a view of one. */
struct bytes {
    const uint8_t *p = nullptr;
    size_t n = 0;
};

static bool get_bytes(v8::Local<v8::Value> v, bytes *b)
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
static bool get_opt_bytes(v8::Local<v8::Value> v, bytes *b)
{
    if (v->IsUndefined() || v->IsNull()) {
        *b = bytes();
        return true;
    }
    return get_bytes(v, b);
}

static double get_num(const v8::FunctionCallbackInfo<v8::Value> &args, int i)
{
    return args[i]->NumberValue(args.GetIsolate()->GetCurrentContext()).FromMaybe(-1);
}

/* A short string argument into buf; false when it is not a string or too long. */
static bool get_str(v8::Isolate *isolate, v8::Local<v8::Value> v, char *buf, size_t len)
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
static bool over_time(v8::Isolate *isolate)
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

static void handle_free(void *data, size_t, void *)
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
static v8::Local<v8::ArrayBuffer> handle_wrap(v8::Isolate *isolate, handle *h)
{
    h->magic = HANDLE_MAGIC;
    std::unique_ptr<v8::BackingStore> bs = v8::ArrayBuffer::NewBackingStore(h, sizeof(*h), handle_free, nullptr);
    return v8::ArrayBuffer::New(isolate, std::move(bs));
}

static handle *handle_new(handle_kind kind)
{
    handle *h = new (std::nothrow) handle();
    if (h)
        h->kind = kind;
    return h;
}

/* The handle in v when it is one of kind (0: any); null with a TypeError thrown otherwise. */
static handle *handle_get(v8::Isolate *isolate, v8::Local<v8::Value> v, int kind)
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

static v8::Local<v8::ArrayBuffer> pkey_wrap(v8::Isolate *isolate, EVP_PKEY *pkey, bool priv)
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

static void fetch_all(void)
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

/* ---- digest ------------------------------------------------------------------------------- */

/* Feeds data to a digest context in slices; false (thrown) when the CPU limit passed or OpenSSL failed. */
static bool md_update(v8::Isolate *isolate, EVP_MD_CTX *ctx, bytes data, bool sign_ctx = false, bool verify_ctx = false)
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

/* digest(hash, data) → ArrayBuffer */
static void n_digest(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    const EVP_MD *md = get_md(isolate, args[0]);
    bytes data;
    if (!md)
        return;
    if (!get_bytes(args[1], &data))
        return type_error(isolate, "digest: data is not a buffer");
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    if (data.n <= SLICE) {
        if (EVP_Digest(data.p, data.n, out, &outlen, md, nullptr) != 1)
            return op_error(isolate, "digest failed");
    } else {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, md, nullptr) != 1) {
            EVP_MD_CTX_free(ctx);
            return op_error(isolate, "digest failed");
        }
        bool ok = md_update(isolate, ctx, data); /* throws itself */
        if (ok && EVP_DigestFinal_ex(ctx, out, &outlen) != 1) {
            ok = false;
            op_error(isolate, "digest failed");
        }
        EVP_MD_CTX_free(ctx);
        if (!ok)
            return;
    }
    outbuf ob;
    if (!ob.alloc(isolate, outlen))
        return;
    memcpy(ob.p, out, outlen);
    args.GetReturnValue().Set(ob.take(isolate, outlen));
}

/* digestNew(hash) → a digest handle for DigestStream */
static void n_digest_new(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    const EVP_MD *md = get_md(isolate, args[0]);
    if (!md)
        return;
    handle *h = handle_new(H_DIGEST);
    if (!h)
        return op_error(isolate, "out of memory");
    h->md = EVP_MD_CTX_new();
    if (!h->md || EVP_DigestInit_ex(h->md, md, nullptr) != 1) {
        handle_free(h, 0, nullptr);
        return op_error(isolate, "digest failed");
    }
    args.GetReturnValue().Set(handle_wrap(isolate, h));
}

/* digestUpdate(handle, data) */
static void n_digest_update(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    handle *h = handle_get(isolate, args[0], H_DIGEST);
    bytes data;
    if (!h)
        return;
    if (!get_bytes(args[1], &data))
        return type_error(isolate, "digestUpdate: data is not a buffer");
    if (!h->md)
        return op_error(isolate, "the digest is finished");
    md_update(isolate, h->md, data);
}

/* digestFinal(handle) → ArrayBuffer; the handle is spent. */
static void n_digest_final(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    handle *h = handle_get(isolate, args[0], H_DIGEST);
    if (!h)
        return;
    if (!h->md)
        return op_error(isolate, "the digest is finished");
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    int ok = EVP_DigestFinal_ex(h->md, out, &outlen);
    EVP_MD_CTX_free(h->md);
    h->md = nullptr;
    if (ok != 1)
        return op_error(isolate, "digest failed");
    outbuf ob;
    if (!ob.alloc(isolate, outlen))
        return;
    memcpy(ob.p, out, outlen);
    args.GetReturnValue().Set(ob.take(isolate, outlen));
}

/* ---- secret keys --------------------------------------------------------------------------- */

/* secretNew(bytes) → handle holding a copy of the bytes */
static void n_secret_new(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    bytes b;
    if (!get_bytes(args[0], &b))
        return type_error(isolate, "secretNew: not a buffer");
    handle *h = handle_new(H_SECRET);
    if (!h)
        return op_error(isolate, "out of memory");
    h->raw = static_cast<uint8_t *>(malloc(b.n ? b.n : 1));
    if (!h->raw) {
        delete h;
        return op_error(isolate, "out of memory");
    }
    if (b.n)
        memcpy(h->raw, b.p, b.n);
    h->rawlen = b.n;
    args.GetReturnValue().Set(handle_wrap(isolate, h));
}

/* secretRandom(nbytes) → handle holding fresh random bytes (they never pass through the JS heap) */
static void n_secret_random(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    double n = get_num(args, 0);
    if (!(n >= 0 && n <= 65536))
        return op_error(isolate, "bad key length");
    handle *h = handle_new(H_SECRET);
    if (!h)
        return op_error(isolate, "out of memory");
    h->rawlen = (size_t)n;
    h->raw = static_cast<uint8_t *>(malloc(h->rawlen ? h->rawlen : 1));
    if (!h->raw || RAND_bytes(h->raw, (int)h->rawlen) != 1) {
        handle_free(h, 0, nullptr);
        return op_error(isolate, "random generation failed");
    }
    args.GetReturnValue().Set(handle_wrap(isolate, h));
}

/* secretBytes(handle) → ArrayBuffer (a copy) */
static void n_secret_bytes(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    handle *h = handle_get(isolate, args[0], H_SECRET);
    if (!h)
        return;
    outbuf ob;
    if (!ob.alloc(isolate, h->rawlen))
        return;
    if (h->rawlen)
        memcpy(ob.p, h->raw, h->rawlen);
    args.GetReturnValue().Set(ob.take(isolate, h->rawlen));
}

/* ---- HMAC ------------------------------------------------------------------------------------ */

/* A keyed HMAC context for md; null on failure. */
static EVP_MAC_CTX *hmac_ctx(const EVP_MD *md, const uint8_t *key, size_t keylen)
{
    fetch_all();
    if (!hmac_mac)
        return nullptr;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_mac);
    if (!ctx)
        return nullptr;
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char *>(EVP_MD_get0_name(md)), 0),
                            OSSL_PARAM_construct_end()};
    /* A zero-length key is legal HMAC; OpenSSL wants a non-null pointer for it. */
    static const uint8_t empty[1] = {0};
    if (EVP_MAC_init(ctx, keylen ? key : empty, keylen, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return nullptr;
    }
    return ctx;
}

/* HMAC of data in slices into out (EVP_MAX_MD_SIZE); false when thrown. */
static bool hmac_run(v8::Isolate *isolate, const EVP_MD *md, handle *key, bytes data, uint8_t *out, size_t *outlen)
{
    EVP_MAC_CTX *ctx = hmac_ctx(md, key->raw, key->rawlen);
    if (!ctx) {
        op_error(isolate, "HMAC failed");
        return false;
    }
    size_t off = 0;
    bool ok = true;
    while (ok && off < data.n) {
        size_t n = data.n - off < SLICE ? data.n - off : SLICE;
        ok = EVP_MAC_update(ctx, data.p + off, n) == 1;
        off += n;
        if (ok && off < data.n && over_time(isolate)) {
            EVP_MAC_CTX_free(ctx);
            return false;
        }
    }
    ok = ok && EVP_MAC_final(ctx, out, outlen, EVP_MAX_MD_SIZE) == 1;
    EVP_MAC_CTX_free(ctx);
    if (!ok)
        op_error(isolate, "HMAC failed");
    return ok;
}

/* hmac(hash, key, data) → ArrayBuffer */
static void n_hmac(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    const EVP_MD *md = get_md(isolate, args[0]);
    if (!md)
        return;
    handle *key = handle_get(isolate, args[1], H_SECRET);
    bytes data;
    if (!key)
        return;
    if (!get_bytes(args[2], &data))
        return type_error(isolate, "hmac: data is not a buffer");
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    if (!hmac_run(isolate, md, key, data, mac, &maclen))
        return;
    outbuf ob;
    if (!ob.alloc(isolate, maclen))
        return;
    memcpy(ob.p, mac, maclen);
    args.GetReturnValue().Set(ob.take(isolate, maclen));
}

/* hmacVerify(hash, key, data, signature) → boolean, compared in constant time */
static void n_hmac_verify(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    const EVP_MD *md = get_md(isolate, args[0]);
    if (!md)
        return;
    handle *key = handle_get(isolate, args[1], H_SECRET);
    bytes data, sig;
    if (!key)
        return;
    if (!get_bytes(args[2], &data) || !get_bytes(args[3], &sig))
        return type_error(isolate, "hmacVerify: not a buffer");
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    if (!hmac_run(isolate, md, key, data, mac, &maclen))
        return;
    args.GetReturnValue().Set(sig.n == maclen && CRYPTO_memcmp(mac, sig.p, maclen) == 0);
}

/* timingSafeEqual(a, b) → boolean (lengths are compared first, in the open) */
static void n_timing_safe_equal(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    bytes a, b;
    if (!get_bytes(args[0], &a) || !get_bytes(args[1], &b))
        return type_error(isolate, "timingSafeEqual: not a buffer");
    args.GetReturnValue().Set(a.n == b.n && (a.n == 0 || CRYPTO_memcmp(a.p, b.p, a.n) == 0));
}

/* ---- AES --------------------------------------------------------------------------------------- */

static EVP_CIPHER *ciphers[4][3]; /* [CBC, CTR, GCM, KW][128, 192, 256] */
static std::once_flag cipher_once;

static const EVP_CIPHER *get_cipher(int mode, size_t keylen)
{
    std::call_once(cipher_once, [] {
        static const char *const modes[] = {"CBC", "CTR", "GCM", "WRAP"};
        static const int bits[] = {128, 192, 256};
        for (int m = 0; m < 4; m++)
            for (int b = 0; b < 3; b++) {
                char name[32];
                snprintf(name, sizeof(name), "AES-%d-%s", bits[b], modes[m]);
                ciphers[m][b] = EVP_CIPHER_fetch(nullptr, name, nullptr);
            }
    });
    int b = keylen == 16 ? 0 : keylen == 24 ? 1 : keylen == 32 ? 2 : -1;
    return b < 0 ? nullptr : ciphers[mode][b];
}

/* Runs a cipher update over data in slices, appending to out; false when thrown. */
static bool cipher_update(v8::Isolate *isolate, EVP_CIPHER_CTX *ctx, bytes data, uint8_t *out, size_t *outlen)
{
    size_t off = 0;
    while (off < data.n) {
        size_t n = data.n - off < SLICE ? data.n - off : SLICE;
        int got = 0;
        if (EVP_CipherUpdate(ctx, out + *outlen, &got, data.p + off, (int)n) != 1) {
            op_error(isolate, "the cipher failed");
            return false;
        }
        *outlen += (size_t)got;
        off += n;
        if (off < data.n && over_time(isolate))
            return false;
    }
    return true;
}

/* Initialises ctx for mode with key and iv; false on failure (nothing thrown). */
static bool cipher_init(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *c, bool enc, handle *key, const uint8_t *iv, size_t ivlen, int mode)
{
    if (mode == 3)
        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex(ctx, c, nullptr, nullptr, nullptr, enc) != 1)
        return false;
    if (mode == 2 && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)ivlen, nullptr) != 1)
        return false;
    return EVP_CipherInit_ex(ctx, nullptr, nullptr, key->raw, iv, enc) == 1;
}

/*
 * aes(mode, encrypt, key, iv, data, additionalData, tagBytes, counterBits) → ArrayBuffer.
 * mode: 0 CBC (PKCS#7 padding), 1 CTR (the rightmost counterBits of the block count and wrap), 2 GCM (the tag
 * follows the ciphertext), 3 KW (RFC 3394, iv unused). Failures are OperationErrors.
 */
static void n_aes(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    int mode = (int)get_num(args, 0);
    bool enc = args[1]->BooleanValue(isolate);
    handle *key = handle_get(isolate, args[2], H_SECRET);
    bytes iv, data, aad;
    if (!key)
        return;
    if (mode < 0 || mode > 3 || !get_opt_bytes(args[3], &iv) || !get_bytes(args[4], &data) || !get_opt_bytes(args[5], &aad))
        return type_error(isolate, "aes: bad arguments");
    size_t tag = mode == 2 ? (size_t)get_num(args, 6) : 0;
    int ctr_bits = mode == 1 ? (int)get_num(args, 7) : 0;
    const EVP_CIPHER *c = get_cipher(mode, key->rawlen);
    if ((mode == 0 || mode == 1) && iv.n != 16)
        return op_error(isolate, "the iv or counter must be 16 bytes");
    if (mode == 2 && (iv.n == 0 || iv.n > 1024 || tag < 4 || tag > 16))
        return op_error(isolate, "bad AES-GCM iv or tag length");
    if (mode == 1 && (ctr_bits < 1 || ctr_bits > 128))
        return op_error(isolate, "bad AES-CTR counter length");
    if (!c)
        return op_error(isolate, "the key is not 128, 192 or 256 bits");
    if (data.n > (size_t)INT32_MAX - 64)
        return op_error(isolate, "the data is too long");
    if (mode == 2 && !enc && data.n < tag)
        return op_error(isolate, "the data is shorter than the tag");
    if (mode == 3 && (data.n % 8 || data.n < (enc ? 16u : 24u)))
        return op_error(isolate, "AES-KW data must be a multiple of 8 bytes, at least 16");
    bytes body = data;
    if (mode == 2 && !enc)
        body.n -= tag;
    /* The exact size where it is known (all but CBC decryption, whose padding is known at the end). */
    size_t want = mode == 0   ? (enc ? (body.n / 16 + 1) * 16 : body.n)
                  : mode == 2 ? body.n + (enc ? tag : 0)
                  : mode == 3 ? (enc ? body.n + 8 : body.n - 8)
                              : body.n;
    outbuf ob;
    if (!ob.alloc(isolate, want))
        return;
    size_t outlen = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    bool ok = ctx != nullptr;
    if (ok && mode == 1) {
        /*
         * EVP's CTR counts with the whole 128-bit block; WebCrypto counts with its rightmost ctr_bits only, which
         * wrap to zero. Run EVP up to the wrap, then again from the block with those bits cleared.
         */
        uint8_t block[16];
        memcpy(block, iv.p, 16);
        /* Blocks left before the counter bits wrap: 2^bits - value(bits). */
        unsigned __int128 ctr = 0;
        for (int i = 0; i < 16; i++)
            ctr = (ctr << 8) | block[i];
        unsigned __int128 mask = ctr_bits >= 128 ? ~(unsigned __int128)0 : (((unsigned __int128)1 << ctr_bits) - 1);
        unsigned __int128 left = (mask - (ctr & mask)) + 1; /* 0 means 2^128 */
        unsigned __int128 blocks = ((unsigned __int128)body.n + 15) / 16;
        if (ctr_bits < 128 && blocks > mask + 1) {
            EVP_CIPHER_CTX_free(ctx);
            return op_error(isolate, "the counter would repeat");
        }
        size_t first = left != 0 && blocks > left ? (size_t)(left * 16) : body.n;
        ok = cipher_init(ctx, c, enc, key, block, 16, mode) && cipher_update(isolate, ctx, bytes{body.p, first}, ob.p, &outlen);
        if (ok && first < body.n) {
            unsigned __int128 wrapped = ctr & ~mask;
            for (int i = 15; i >= 0; i--, wrapped >>= 8)
                block[i] = (uint8_t)wrapped;
            ok = cipher_init(ctx, c, enc, key, block, 16, mode) &&
                 cipher_update(isolate, ctx, bytes{body.p + first, body.n - first}, ob.p, &outlen);
        }
    } else if (ok) {
        ok = cipher_init(ctx, c, enc, key, mode == 3 ? nullptr : iv.p, iv.n, mode);
        if (ok && mode == 2 && aad.n) {
            int got = 0;
            ok = EVP_CipherUpdate(ctx, nullptr, &got, aad.p, (int)aad.n) == 1;
        }
        if (ok && mode == 2 && !enc)
            ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag, const_cast<uint8_t *>(data.p + body.n)) == 1;
        if (ok && mode == 3) {
            /* Key wrap is one-shot. */
            int got = 0;
            ok = EVP_CipherUpdate(ctx, ob.p, &got, body.p, (int)body.n) == 1 && got > 0;
            outlen = (size_t)(ok ? got : 0);
        } else if (ok) {
            ok = cipher_update(isolate, ctx, body, ob.p, &outlen);
        }
    }
    if (ok && mode != 3) {
        int got = 0;
        ok = EVP_CipherFinal_ex(ctx, ob.p + outlen, &got) == 1;
        outlen += (size_t)(ok ? got : 0);
    }
    if (ok && mode == 2 && enc) {
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)tag, ob.p + outlen) == 1;
        outlen += tag;
    }
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        if (!ic__js_watch_fired(ic__js_watch_self()))
            op_error(isolate, mode == 2 && !enc ? "the data could not be authenticated" : "the cipher failed");
        else
            over_time(isolate);
        return;
    }
    args.GetReturnValue().Set(ob.take(isolate, outlen));
}

/* ---- asymmetric keys ---------------------------------------------------------------------- */

/* Our curve names to OpenSSL's, with the field size in bytes. */
struct curve {
    const char *name, *ossl;
    int nid;
    size_t bytes;
};
static const curve curves[] = {
    {"P-256", "prime256v1", NID_X9_62_prime256v1, 32},
    {"P-384", "secp384r1", NID_secp384r1, 48},
    {"P-521", "secp521r1", NID_secp521r1, 66},
};

static const curve *curve_by_name(v8::Isolate *isolate, v8::Local<v8::Value> v)
{
    char name[16];
    if (get_str(isolate, v, name, sizeof(name)))
        for (const curve &c : curves)
            if (!strcmp(c.name, name))
                return &c;
    return nullptr;
}

static const curve *curve_of(EVP_PKEY *pkey)
{
    char name[64];
    size_t len = 0;
    if (EVP_PKEY_get_group_name(pkey, name, sizeof(name), &len) != 1)
        return nullptr;
    for (const curve &c : curves)
        if (!strcmp(c.ossl, name))
            return &c;
    return nullptr;
}

/* The kind of key a JS name means: "RSA", "EC", "Ed25519", "X25519" → an EVP_PKEY type id (0: none). */
static int kind_id(v8::Isolate *isolate, v8::Local<v8::Value> v)
{
    char name[16];
    if (!get_str(isolate, v, name, sizeof(name)))
        return 0;
    if (!strcmp(name, "RSA"))
        return EVP_PKEY_RSA;
    if (!strcmp(name, "EC"))
        return EVP_PKEY_EC;
    if (!strcmp(name, "Ed25519"))
        return EVP_PKEY_ED25519;
    if (!strcmp(name, "X25519"))
        return EVP_PKEY_X25519;
    return 0;
}

/* The public half of pkey, as its own EVP_PKEY (through SubjectPublicKeyInfo); null on failure. */
static EVP_PKEY *public_of(EVP_PKEY *pkey)
{
    unsigned char *der = nullptr;
    int len = i2d_PUBKEY(pkey, &der);
    if (len <= 0)
        return nullptr;
    const unsigned char *p = der;
    EVP_PKEY *pub = d2i_PUBKEY(nullptr, &p, len);
    OPENSSL_free(der);
    return pub;
}

/* EC keys export their points uncompressed whatever form they were imported in. */
static void ec_uncompressed(EVP_PKEY *pkey)
{
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC)
        EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                       OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED);
}

/* Returns [privateHandle, publicHandle] for a fresh key pair. */
static void set_pair(const v8::FunctionCallbackInfo<v8::Value> &args, EVP_PKEY *pkey)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    EVP_PKEY *pub = public_of(pkey);
    if (!pub) {
        EVP_PKEY_free(pkey);
        return op_error(isolate, "key generation failed");
    }
    ec_uncompressed(pkey);
    ec_uncompressed(pub);
    v8::Local<v8::Array> out = v8::Array::New(isolate, 2);
    out->Set(ctx, 0, pkey_wrap(isolate, pkey, true)).FromMaybe(false);
    out->Set(ctx, 1, pkey_wrap(isolate, pub, false)).FromMaybe(false);
    args.GetReturnValue().Set(out);
}

/* RSA prime generation calls this now and then: returning 0 aborts it once the entry is over its CPU time. */
static int keygen_cb(EVP_PKEY_CTX *)
{
    return ic__js_watch_fired(ic__js_watch_self()) ? 0 : 1;
}

/* generateRsa(modulusBits, publicExponentBytes) → [priv, pub] */
static void n_generate_rsa(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    double bits = get_num(args, 0);
    bytes e;
    if (!get_bytes(args[1], &e))
        return type_error(isolate, "generateRsa: bad exponent");
    if (!(bits >= 256 && bits <= 16384) || (int)bits % 8)
        return op_error(isolate, "the modulus length must be a multiple of 8 between 256 and 16384");
    BIGNUM *bn = BN_bin2bn(e.p, (int)e.n, nullptr);
    /* Odd, at least 3, at most 2^32 - 1: what OpenSSL accepts and every peer can use. */
    if (!bn || BN_num_bits(bn) > 32 || !BN_is_odd(bn) || BN_is_one(bn)) {
        BN_free(bn);
        return op_error(isolate, "bad public exponent");
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    EVP_PKEY *pkey = nullptr;
    bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) == 1 &&
              EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, bn) == 1;
    if (ok) {
        EVP_PKEY_CTX_set_cb(ctx, keygen_cb);
        ok = EVP_PKEY_keygen(ctx, &pkey) == 1;
    }
    EVP_PKEY_CTX_free(ctx);
    BN_free(bn);
    if (!ok) {
        if (!over_time(isolate))
            op_error(isolate, "RSA key generation failed");
        return;
    }
    set_pair(args, pkey);
}

/* generateEc(curve) or generateOkp("Ed25519" | "X25519") → [priv, pub] */
static void n_generate_ec(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    const curve *c = curve_by_name(isolate, args[0]);
    if (!c)
        return throw_named(isolate, "NotSupportedError", "unsupported curve");
    EVP_PKEY *pkey = EVP_EC_gen(c->ossl);
    if (!pkey)
        return op_error(isolate, "EC key generation failed");
    set_pair(args, pkey);
}

static void n_generate_okp(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    int id = kind_id(isolate, args[0]);
    if (id != EVP_PKEY_ED25519 && id != EVP_PKEY_X25519)
        return throw_named(isolate, "NotSupportedError", "unsupported key type");
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(id, nullptr);
    EVP_PKEY *pkey = nullptr;
    bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &pkey) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return op_error(isolate, "key generation failed");
    set_pair(args, pkey);
}

/*
 * An RSA private key's parts agree: n = pq, dp = d mod (p - 1), dq = d mod (q - 1), q·qi = 1 mod p, e·dp = 1 mod
 * (p - 1). BIGNUM arithmetic only, a few microseconds; OpenSSL's own pairwise check also tests p and q for
 * primality, tens of milliseconds a key, too dear for an import that a request may do.
 */
static bool rsa_parts_agree(EVP_PKEY *pkey)
{
    const char *names[] = {OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,           OSSL_PKEY_PARAM_RSA_D,
                           OSSL_PKEY_PARAM_RSA_FACTOR1,   OSSL_PKEY_PARAM_RSA_FACTOR2,     OSSL_PKEY_PARAM_RSA_EXPONENT1,
                           OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    BIGNUM *v[8] = {nullptr};
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *t = BN_new(), *p1 = BN_new(), *q1 = BN_new();
    bool ok = ctx && t && p1 && q1;
    for (int i = 0; ok && i < 8; i++)
        ok = EVP_PKEY_get_bn_param(pkey, names[i], &v[i]) == 1;
    BIGNUM *n = v[0], *e = v[1], *d = v[2], *p = v[3], *q = v[4], *dp = v[5], *dq = v[6], *qi = v[7];
    ok = ok && BN_mul(t, p, q, ctx) && BN_cmp(t, n) == 0;
    ok = ok && BN_sub(p1, p, BN_value_one()) && BN_sub(q1, q, BN_value_one());
    ok = ok && BN_mod(t, d, p1, ctx) && BN_cmp(t, dp) == 0;
    ok = ok && BN_mod(t, d, q1, ctx) && BN_cmp(t, dq) == 0;
    ok = ok && BN_mod_mul(t, q, qi, p, ctx) && BN_is_one(t);
    ok = ok && BN_mod_mul(t, e, dp, p1, ctx) && BN_is_one(t);
    for (BIGNUM *b : v)
        BN_clear_free(b);
    BN_clear_free(t);
    BN_free(p1);
    BN_free(q1);
    BN_CTX_free(ctx);
    return ok;
}

/* Is the key usable: a public key on its curve, a private key whose parts agree. */
static bool pkey_valid(EVP_PKEY *pkey, bool priv)
{
    int id = EVP_PKEY_get_base_id(pkey);
    if (id == EVP_PKEY_RSA)
        return !priv || rsa_parts_agree(pkey);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
    if (!ctx)
        return false;
    /* The quick public check: on the curve, not at infinity (the curves here have cofactor 1: no order check needed). */
    int ok = priv ? EVP_PKEY_pairwise_check(ctx) : EVP_PKEY_public_check_quick(ctx);
    EVP_PKEY_CTX_free(ctx);
    return ok == 1;
}

/*
 * importKey(format, kind, data[, curve]) → handle. format "spki", "pkcs8" or "raw" (EC: a SEC1 point on curve;
 * Ed25519/X25519: the 32-byte public key). The key must be of kind and, for EC, on curve. DataError otherwise.
 */
static void n_import_key(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    char format[8];
    int id = kind_id(isolate, args[1]);
    bytes data;
    if (!get_str(isolate, args[0], format, sizeof(format)) || !id || !get_bytes(args[2], &data))
        return type_error(isolate, "importKey: bad arguments");
    if (data.n > INT32_MAX)
        return data_error(isolate, "the key data is too long");
    EVP_PKEY *pkey = nullptr;
    bool priv = false;
    const unsigned char *p = data.p;
    if (!strcmp(format, "spki")) {
        pkey = data.n ? d2i_PUBKEY(nullptr, &p, (long)data.n) : nullptr;
    } else if (!strcmp(format, "pkcs8")) {
        PKCS8_PRIV_KEY_INFO *p8 = data.n ? d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, (long)data.n) : nullptr;
        if (p8) {
            pkey = EVP_PKCS82PKEY(p8);
            PKCS8_PRIV_KEY_INFO_free(p8);
        }
        priv = true;
    } else if (!strcmp(format, "raw") && id == EVP_PKEY_EC) {
        const curve *c = curve_by_name(isolate, args[3]);
        if (!c)
            return throw_named(isolate, "NotSupportedError", "unsupported curve");
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char *>(c->ossl), 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t *>(data.p), data.n),
            OSSL_PARAM_construct_end(),
        };
        if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
            pkey = nullptr;
        EVP_PKEY_CTX_free(ctx);
        p = data.p + data.n;
    } else if (!strcmp(format, "raw") && (id == EVP_PKEY_ED25519 || id == EVP_PKEY_X25519)) {
        pkey = data.n == 32 ? EVP_PKEY_new_raw_public_key(id, nullptr, data.p, data.n) : nullptr;
        p = data.p + data.n;
    } else {
        return throw_named(isolate, "NotSupportedError", "unsupported key format");
    }
    if (!pkey)
        return data_error(isolate, "the key data is not a valid key");
    if (p != data.p + data.n || EVP_PKEY_get_base_id(pkey) != id) {
        EVP_PKEY_free(pkey);
        return data_error(isolate, p != data.p + data.n ? "the key data has bytes past its end" : "the key is of another kind");
    }
    if (id == EVP_PKEY_EC) {
        const curve *want = curve_by_name(isolate, args[3]), *got = curve_of(pkey);
        if (!got || got != want) {
            EVP_PKEY_free(pkey);
            return data_error(isolate, !got ? "the key's curve is not supported" : "the key is on another curve");
        }
    }
    if (!pkey_valid(pkey, priv)) {
        EVP_PKEY_free(pkey);
        return data_error(isolate, "the key is not valid");
    }
    ec_uncompressed(pkey);
    args.GetReturnValue().Set(pkey_wrap(isolate, pkey, priv));
}

/* Copies an OpenSSL-allocated DER encoding into an ArrayBuffer. */
static void set_der(const v8::FunctionCallbackInfo<v8::Value> &args, unsigned char *der, int len)
{
    v8::Isolate *isolate = args.GetIsolate();
    if (len <= 0 || !der) {
        OPENSSL_free(der);
        return op_error(isolate, "the key cannot be encoded");
    }
    outbuf ob;
    if (ob.alloc(isolate, (size_t)len)) {
        memcpy(ob.p, der, (size_t)len);
        args.GetReturnValue().Set(ob.take(isolate, (size_t)len));
    }
    OPENSSL_clear_free(der, (size_t)len);
}

/* exportKey(format, handle) → ArrayBuffer: "spki", "pkcs8" (private only), "raw" (EC point, OKP public key). */
static void n_export_key(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    char format[8];
    if (!get_str(isolate, args[0], format, sizeof(format)))
        return type_error(isolate, "exportKey: bad format");
    handle *h = handle_get(isolate, args[1], H_PKEY);
    if (!h)
        return;
    int id = EVP_PKEY_get_base_id(h->pkey);
    if (!strcmp(format, "spki")) {
        unsigned char *der = nullptr;
        int len = i2d_PUBKEY(h->pkey, &der);
        return set_der(args, der, len);
    }
    if (!strcmp(format, "pkcs8") && h->priv) {
        PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(h->pkey);
        unsigned char *der = nullptr;
        int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : 0;
        PKCS8_PRIV_KEY_INFO_free(p8);
        return set_der(args, der, len);
    }
    if (!strcmp(format, "raw") && id == EVP_PKEY_EC) {
        uint8_t buf[256];
        size_t len = 0;
        if (EVP_PKEY_get_octet_string_param(h->pkey, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &len) != 1)
            return op_error(isolate, "the key cannot be encoded");
        outbuf ob;
        if (!ob.alloc(isolate, len))
            return;
        memcpy(ob.p, buf, len);
        return args.GetReturnValue().Set(ob.take(isolate, len));
    }
    if (!strcmp(format, "raw") && (id == EVP_PKEY_ED25519 || id == EVP_PKEY_X25519)) {
        uint8_t buf[64];
        size_t len = sizeof(buf);
        if (EVP_PKEY_get_raw_public_key(h->pkey, buf, &len) != 1)
            return op_error(isolate, "the key cannot be encoded");
        outbuf ob;
        if (!ob.alloc(isolate, len))
            return;
        memcpy(ob.p, buf, len);
        return args.GetReturnValue().Set(ob.take(isolate, len));
    }
    throw_named(isolate, "InvalidAccessError", "the key cannot be exported in this format");
}

/* Sets obj[name] to an ArrayBuffer of bytes. */
static bool set_buf(v8::Isolate *isolate, v8::Local<v8::Object> obj, const char *name, const uint8_t *p, size_t n)
{
    outbuf ob;
    if (!ob.alloc(isolate, n))
        return false;
    if (n)
        memcpy(ob.p, p, n);
    return obj->Set(isolate->GetCurrentContext(), v8::String::NewFromUtf8(isolate, name).ToLocalChecked(), ob.take(isolate, n))
        .FromMaybe(false);
}

/* Sets obj[name] to the big-endian bytes of a BIGNUM parameter of pkey, padded to pad bytes (0: minimal). */
static bool set_bn(v8::Isolate *isolate, v8::Local<v8::Object> obj, const char *name, EVP_PKEY *pkey, const char *param, size_t pad)
{
    BIGNUM *bn = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
        return false;
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    if (n == 0)
        n = 1;
    std::vector<uint8_t> buf(n);
    bool ok = BN_bn2binpad(bn, buf.data(), (int)n) == (int)n && set_buf(isolate, obj, name, buf.data(), n);
    OPENSSL_cleanse(buf.data(), n);
    BN_clear_free(bn);
    return ok;
}

/*
 * keyInfo(handle) → {kind, private, bits, publicExponent, curve}: what CryptoKey.algorithm shows for an
 * imported key (bits and publicExponent for RSA, curve for EC).
 */
static void n_key_info(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    handle *h = handle_get(isolate, args[0], H_PKEY);
    if (!h)
        return;
    v8::Local<v8::Object> o = v8::Object::New(isolate);
    int id = EVP_PKEY_get_base_id(h->pkey);
    const char *kind = id == EVP_PKEY_RSA ? "RSA" : id == EVP_PKEY_EC ? "EC" : id == EVP_PKEY_ED25519 ? "Ed25519" : "X25519";
    o->Set(ctx, v8::String::NewFromUtf8Literal(isolate, "kind"), v8::String::NewFromUtf8(isolate, kind).ToLocalChecked())
        .FromMaybe(false);
    o->Set(ctx, v8::String::NewFromUtf8Literal(isolate, "private"), v8::Boolean::New(isolate, h->priv)).FromMaybe(false);
    o->Set(ctx, v8::String::NewFromUtf8Literal(isolate, "bits"), v8::Integer::New(isolate, EVP_PKEY_get_bits(h->pkey)))
        .FromMaybe(false);
    if (id == EVP_PKEY_RSA && !set_bn(isolate, o, "publicExponent", h->pkey, OSSL_PKEY_PARAM_RSA_E, 0))
        return op_error(isolate, "the key cannot be read");
    if (id == EVP_PKEY_EC) {
        const curve *c = curve_of(h->pkey);
        if (c)
            o->Set(ctx, v8::String::NewFromUtf8Literal(isolate, "curve"),
                   v8::String::NewFromUtf8(isolate, c->name).ToLocalChecked())
                .FromMaybe(false);
    }
    args.GetReturnValue().Set(o);
}

/*
 * jwkGet(handle) → the key's parts as ArrayBuffers: RSA {n, e[, d, p, q, dp, dq, qi]}, EC {x, y[, d]} (padded to
 * the field size), OKP {x[, d]}. Private parts only from a private key.
 */
static void n_jwk_get(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    handle *h = handle_get(isolate, args[0], H_PKEY);
    if (!h)
        return;
    v8::Local<v8::Object> o = v8::Object::New(isolate);
    EVP_PKEY *k = h->pkey;
    int id = EVP_PKEY_get_base_id(k);
    bool ok = true;
    if (id == EVP_PKEY_RSA) {
        ok = set_bn(isolate, o, "n", k, OSSL_PKEY_PARAM_RSA_N, 0) && set_bn(isolate, o, "e", k, OSSL_PKEY_PARAM_RSA_E, 0);
        if (ok && h->priv)
            ok = set_bn(isolate, o, "d", k, OSSL_PKEY_PARAM_RSA_D, 0) &&
                 set_bn(isolate, o, "p", k, OSSL_PKEY_PARAM_RSA_FACTOR1, 0) &&
                 set_bn(isolate, o, "q", k, OSSL_PKEY_PARAM_RSA_FACTOR2, 0) &&
                 set_bn(isolate, o, "dp", k, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0) &&
                 set_bn(isolate, o, "dq", k, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0) &&
                 set_bn(isolate, o, "qi", k, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0);
    } else if (id == EVP_PKEY_EC) {
        const curve *c = curve_of(k);
        ok = c && set_bn(isolate, o, "x", k, OSSL_PKEY_PARAM_EC_PUB_X, c->bytes) &&
             set_bn(isolate, o, "y", k, OSSL_PKEY_PARAM_EC_PUB_Y, c->bytes);
        if (ok && h->priv)
            ok = set_bn(isolate, o, "d", k, OSSL_PKEY_PARAM_PRIV_KEY, c->bytes);
    } else {
        uint8_t buf[64];
        size_t len = sizeof(buf);
        ok = EVP_PKEY_get_raw_public_key(k, buf, &len) == 1 && set_buf(isolate, o, "x", buf, len);
        len = sizeof(buf);
        if (ok && h->priv)
            ok = EVP_PKEY_get_raw_private_key(k, buf, &len) == 1 && set_buf(isolate, o, "d", buf, len);
        OPENSSL_cleanse(buf, sizeof(buf));
    }
    if (!ok) {
        if (!isolate->IsExecutionTerminating())
            op_error(isolate, "the key cannot be exported");
        return;
    }
    args.GetReturnValue().Set(o);
}

/* The bytes of parts[name] into b; false when absent or not a buffer. */
static bool part(v8::Isolate *isolate, v8::Local<v8::Object> parts, const char *name, bytes *b)
{
    v8::Local<v8::Value> v;
    return parts->Get(isolate->GetCurrentContext(), v8::String::NewFromUtf8(isolate, name).ToLocalChecked()).ToLocal(&v) &&
           get_bytes(v, b) && b->n > 0;
}

/* Pushes parts[name] as a BIGNUM parameter; the BIGNUM goes to bns (freed by the caller). */
static bool push_bn(v8::Isolate *isolate, OSSL_PARAM_BLD *bld, v8::Local<v8::Object> parts, const char *name, const char *param,
                    std::vector<BIGNUM *> &bns)
{
    bytes b;
    if (!part(isolate, parts, name, &b) || b.n > 4096)
        return false;
    BIGNUM *bn = BN_bin2bn(b.p, (int)b.n, nullptr);
    if (!bn)
        return false;
    bns.push_back(bn);
    return OSSL_PARAM_BLD_push_BN(bld, param, bn) == 1;
}

/*
 * jwkSet(kind, curve, parts, private) → handle: a key from the parts jwkGet gives (decoded from base64url by the
 * prelude). DataError when a part is missing or the key is not valid.
 */
static void n_jwk_set(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    int id = kind_id(isolate, args[0]);
    if (!id || !args[2]->IsObject())
        return type_error(isolate, "jwkSet: bad arguments");
    v8::Local<v8::Object> parts = args[2].As<v8::Object>();
    bool priv = args[3]->BooleanValue(isolate);
    EVP_PKEY *pkey = nullptr;
    if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_X25519) {
        bytes x, d;
        if (!part(isolate, parts, "x", &x) || x.n != 32 || (priv && (!part(isolate, parts, "d", &d) || d.n != 32)))
            return data_error(isolate, "the key parts are missing or of the wrong length");
        pkey = priv ? EVP_PKEY_new_raw_private_key(id, nullptr, d.p, d.n) : EVP_PKEY_new_raw_public_key(id, nullptr, x.p, x.n);
        if (pkey && priv) {
            /* The public key given must be the one the private key has. */
            uint8_t got[32];
            size_t len = sizeof(got);
            if (EVP_PKEY_get_raw_public_key(pkey, got, &len) != 1 || len != 32 || CRYPTO_memcmp(got, x.p, 32) != 0) {
                EVP_PKEY_free(pkey);
                return data_error(isolate, "the public key does not match the private key");
            }
        }
        if (!pkey)
            return data_error(isolate, "the key is not valid");
        return args.GetReturnValue().Set(pkey_wrap(isolate, pkey, priv));
    }
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    std::vector<BIGNUM *> bns;
    std::vector<uint8_t> point;
    bool ok = bld != nullptr;
    const char *type = id == EVP_PKEY_RSA ? "RSA" : "EC";
    if (ok && id == EVP_PKEY_RSA) {
        ok = push_bn(isolate, bld, parts, "n", OSSL_PKEY_PARAM_RSA_N, bns) &&
             push_bn(isolate, bld, parts, "e", OSSL_PKEY_PARAM_RSA_E, bns);
        if (ok && priv)
            ok = push_bn(isolate, bld, parts, "d", OSSL_PKEY_PARAM_RSA_D, bns) &&
                 push_bn(isolate, bld, parts, "p", OSSL_PKEY_PARAM_RSA_FACTOR1, bns) &&
                 push_bn(isolate, bld, parts, "q", OSSL_PKEY_PARAM_RSA_FACTOR2, bns) &&
                 push_bn(isolate, bld, parts, "dp", OSSL_PKEY_PARAM_RSA_EXPONENT1, bns) &&
                 push_bn(isolate, bld, parts, "dq", OSSL_PKEY_PARAM_RSA_EXPONENT2, bns) &&
                 push_bn(isolate, bld, parts, "qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1, bns);
    } else if (ok) {
        const curve *c = curve_by_name(isolate, args[1]);
        bytes x, y, d;
        ok = c && part(isolate, parts, "x", &x) && part(isolate, parts, "y", &y) && x.n == c->bytes && y.n == c->bytes;
        if (ok && priv)
            ok = part(isolate, parts, "d", &d) && d.n == c->bytes;
        if (ok) {
            point.push_back(4);
            point.insert(point.end(), x.p, x.p + x.n);
            point.insert(point.end(), y.p, y.p + y.n);
            ok = OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->ossl, 0) == 1 &&
                 OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1;
        }
        if (ok && priv) {
            BIGNUM *bn = BN_bin2bn(d.p, (int)d.n, nullptr);
            ok = bn != nullptr;
            if (bn) {
                bns.push_back(bn);
                ok = OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) == 1;
            }
        }
    }
    OSSL_PARAM *params = ok ? OSSL_PARAM_BLD_to_param(bld) : nullptr;
    if (params) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
        if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
            pkey = nullptr;
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
    }
    OSSL_PARAM_BLD_free(bld);
    for (BIGNUM *bn : bns)
        BN_clear_free(bn);
    if (!pkey)
        return data_error(isolate, ok ? "the key is not valid" : "the key parts are missing or of the wrong length");
    if (!pkey_valid(pkey, priv)) {
        EVP_PKEY_free(pkey);
        return data_error(isolate, "the key is not valid");
    }
    ec_uncompressed(pkey);
    args.GetReturnValue().Set(pkey_wrap(isolate, pkey, priv));
}

/* ---- signatures ------------------------------------------------------------------------------- */

enum sig_alg { SIG_PKCS1 = 0, SIG_PSS, SIG_ECDSA, SIG_ED25519 };

/* Sets up ctx for sign or verify with alg; false on failure. */
static bool sig_init(EVP_MD_CTX *ctx, int alg, handle *key, const EVP_MD *md, int salt, bool sign)
{
    EVP_PKEY_CTX *pctx = nullptr;
    const EVP_MD *use = alg == SIG_ED25519 ? nullptr : md;
    int ok = sign
                 ? EVP_DigestSignInit_ex(ctx, &pctx, use ? EVP_MD_get0_name(use) : nullptr, nullptr, nullptr, key->pkey, nullptr)
                 : EVP_DigestVerifyInit_ex(ctx, &pctx, use ? EVP_MD_get0_name(use) : nullptr, nullptr, nullptr, key->pkey, nullptr);
    if (ok != 1)
        return false;
    if (alg == SIG_PKCS1)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    if (alg == SIG_PSS)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1;
    return true;
}

/*
 * A context ready to sign or verify with these parameters: a copy of the one the key keeps for them, set up on
 * first use (setting one up fetches the algorithms and builds the provider's context: several microseconds that a
 * copy does not pay). Null on failure.
 */
static EVP_MD_CTX *sig_ctx(handle *key, int alg, const EVP_MD *md, int salt, bool sign)
{
    int i = sign ? 1 : 0;
    if (!key->sig_tmpl[i] || key->sig_alg[i] != alg || key->sig_md[i] != md || key->sig_salt[i] != salt) {
        EVP_MD_CTX_free(key->sig_tmpl[i]);
        key->sig_tmpl[i] = EVP_MD_CTX_new();
        if (!key->sig_tmpl[i] || !sig_init(key->sig_tmpl[i], alg, key, md, salt, sign)) {
            EVP_MD_CTX_free(key->sig_tmpl[i]);
            key->sig_tmpl[i] = nullptr;
            return nullptr;
        }
        key->sig_alg[i] = alg;
        key->sig_md[i] = md;
        key->sig_salt[i] = salt;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_MD_CTX_copy_ex(ctx, key->sig_tmpl[i]) == 1)
        return ctx;
    /* A provider that cannot copy its context: set up a fresh one. */
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    ctx = EVP_MD_CTX_new();
    if (ctx && sig_init(ctx, alg, key, md, salt, sign))
        return ctx;
    EVP_MD_CTX_free(ctx);
    return nullptr;
}

/* Checks that key fits alg; throws InvalidAccessError otherwise. */
static bool sig_key_fits(v8::Isolate *isolate, int alg, handle *key)
{
    int id = EVP_PKEY_get_base_id(key->pkey);
    int want = alg == SIG_ECDSA ? EVP_PKEY_EC : alg == SIG_ED25519 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA;
    if (id != want) {
        throw_named(isolate, "InvalidAccessError", "the key is not for this algorithm");
        return false;
    }
    return true;
}

/* sign(alg, key, hash, data, saltLength) → ArrayBuffer (ECDSA: r || s, each the size of the curve's order) */
static void n_sign(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    int alg = (int)get_num(args, 0);
    handle *key = handle_get(isolate, args[1], H_PKEY);
    if (!key)
        return;
    const EVP_MD *md = alg == SIG_ED25519 ? nullptr : get_md(isolate, args[2]);
    bytes data;
    if (alg != SIG_ED25519 && !md)
        return;
    if (alg < 0 || alg > 3 || !get_bytes(args[3], &data))
        return type_error(isolate, "sign: bad arguments");
    if (!key->priv)
        return throw_named(isolate, "InvalidAccessError", "signing needs a private key");
    if (!sig_key_fits(isolate, alg, key))
        return;
    double salt_d = get_num(args, 4);
    if (alg == SIG_PSS && !(salt_d >= 0 && salt_d <= 65536))
        return op_error(isolate, "the salt is too long");
    int salt = (int)salt_d;
    EVP_MD_CTX *ctx = sig_ctx(key, alg, md, salt, true);
    size_t siglen = 0;
    std::vector<uint8_t> sig;
    bool ok = ctx != nullptr;
    if (ok && alg == SIG_ED25519) {
        ok = EVP_DigestSign(ctx, nullptr, &siglen, data.p, data.n) == 1;
        if (ok) {
            sig.resize(siglen);
            ok = EVP_DigestSign(ctx, sig.data(), &siglen, data.p, data.n) == 1;
        }
    } else if (ok) {
        ok = md_update(isolate, ctx, data, true) && EVP_DigestSignFinal(ctx, nullptr, &siglen) == 1;
        if (ok) {
            sig.resize(siglen);
            ok = EVP_DigestSignFinal(ctx, sig.data(), &siglen) == 1;
        }
    }
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        if (!over_time(isolate))
            op_error(isolate, "signing failed");
        return;
    }
    outbuf ob;
    if (alg == SIG_ECDSA) {
        /* DER (SEQUENCE of two INTEGERs) to the fixed-size concatenation WebCrypto uses. */
        const curve *c = curve_of(key->pkey);
        const unsigned char *p = sig.data();
        ECDSA_SIG *es = c ? d2i_ECDSA_SIG(nullptr, &p, (long)siglen) : nullptr;
        if (!es)
            return op_error(isolate, "signing failed");
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(es, &r, &s);
        if (!ob.alloc(isolate, 2 * c->bytes)) {
            ECDSA_SIG_free(es);
            return;
        }
        ok = BN_bn2binpad(r, ob.p, (int)c->bytes) > 0 && BN_bn2binpad(s, ob.p + c->bytes, (int)c->bytes) > 0;
        ECDSA_SIG_free(es);
        if (!ok)
            return op_error(isolate, "signing failed");
        return args.GetReturnValue().Set(ob.take(isolate, 2 * c->bytes));
    }
    if (!ob.alloc(isolate, siglen))
        return;
    memcpy(ob.p, sig.data(), siglen);
    args.GetReturnValue().Set(ob.take(isolate, siglen));
}

/* verify(alg, key, hash, data, signature, saltLength) → boolean */
static void n_verify(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    int alg = (int)get_num(args, 0);
    handle *key = handle_get(isolate, args[1], H_PKEY);
    if (!key)
        return;
    const EVP_MD *md = alg == SIG_ED25519 ? nullptr : get_md(isolate, args[2]);
    bytes data, sig;
    if (alg != SIG_ED25519 && !md)
        return;
    if (alg < 0 || alg > 3 || !get_bytes(args[3], &data) || !get_bytes(args[4], &sig))
        return type_error(isolate, "verify: bad arguments");
    if (key->priv)
        return throw_named(isolate, "InvalidAccessError", "verifying needs a public key");
    if (!sig_key_fits(isolate, alg, key))
        return;
    double salt_d = get_num(args, 5);
    if (alg == SIG_PSS && !(salt_d >= 0 && salt_d <= 65536))
        return args.GetReturnValue().Set(false);
    int salt = (int)salt_d;
    std::vector<uint8_t> der;
    if (alg == SIG_ECDSA) {
        /* r || s back to DER; a signature of the wrong length is simply not valid. */
        const curve *c = curve_of(key->pkey);
        if (!c || sig.n != 2 * c->bytes)
            return args.GetReturnValue().Set(false);
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig.p, (int)c->bytes, nullptr), *s = BN_bin2bn(sig.p + c->bytes, (int)c->bytes, nullptr);
        if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            return op_error(isolate, "verification failed");
        }
        unsigned char *p = nullptr;
        int len = i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        if (len <= 0)
            return op_error(isolate, "verification failed");
        der.assign(p, p + len);
        OPENSSL_free(p);
        sig.p = der.data();
        sig.n = der.size();
    }
    EVP_MD_CTX *ctx = sig_ctx(key, alg, md, salt, false);
    bool ok = ctx != nullptr;
    int res = 0;
    if (ok && alg == SIG_ED25519)
        res = EVP_DigestVerify(ctx, sig.p, sig.n, data.p, data.n);
    else if (ok && (ok = md_update(isolate, ctx, data, false, true)))
        res = EVP_DigestVerifyFinal(ctx, sig.p, sig.n);
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) {
        if (!over_time(isolate))
            op_error(isolate, "verification failed");
        return;
    }
    args.GetReturnValue().Set(res == 1);
}

/* ---- RSA-OAEP ------------------------------------------------------------------------------------ */

/* rsaOaep(encrypt, key, hash, label, data) → ArrayBuffer */
static void n_rsa_oaep(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    bool enc = args[0]->BooleanValue(isolate);
    handle *key = handle_get(isolate, args[1], H_PKEY);
    if (!key)
        return;
    const EVP_MD *md = get_md(isolate, args[2]);
    bytes label, data;
    if (!md)
        return;
    if (!get_opt_bytes(args[3], &label) || !get_bytes(args[4], &data))
        return type_error(isolate, "rsaOaep: bad arguments");
    if (EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA || key->priv == enc)
        return throw_named(isolate, "InvalidAccessError", "the key does not fit");
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key->pkey, nullptr);
    size_t outlen = 0;
    bool ok = ctx && (enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 && EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) == 1 &&
              EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1;
    if (ok && label.n) {
        /* OpenSSL takes ownership of the label. */
        void *l = OPENSSL_memdup(label.p, label.n);
        ok = l && EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, (int)label.n) == 1;
        if (!ok)
            OPENSSL_free(l);
    }
    ok = ok && (enc ? EVP_PKEY_encrypt(ctx, nullptr, &outlen, data.p, data.n)
                    : EVP_PKEY_decrypt(ctx, nullptr, &outlen, data.p, data.n)) == 1;
    outbuf ob;
    if (ok && !ob.alloc(isolate, outlen)) {
        EVP_PKEY_CTX_free(ctx);
        return;
    }
    ok = ok &&
         (enc ? EVP_PKEY_encrypt(ctx, ob.p, &outlen, data.p, data.n) : EVP_PKEY_decrypt(ctx, ob.p, &outlen, data.p, data.n)) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return op_error(isolate, enc ? "RSA-OAEP encryption failed" : "RSA-OAEP decryption failed");
    args.GetReturnValue().Set(ob.take(isolate, outlen));
}

/* ---- key derivation ------------------------------------------------------------------------------ */

/*
 * pbkdf2(hash, key, salt, iterations, nbytes) → ArrayBuffer. RFC 8018's loop over HMAC (EVP_MAC, keyed once and
 * re-initialised per step), so that it can look at the watchdog every few thousand iterations.
 */
static void n_pbkdf2(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    const EVP_MD *md = get_md(isolate, args[0]);
    if (!md)
        return;
    handle *key = handle_get(isolate, args[1], H_SECRET);
    bytes salt;
    if (!key)
        return;
    if (!get_bytes(args[2], &salt))
        return type_error(isolate, "pbkdf2: bad salt");
    double iter_d = get_num(args, 3), nbytes_d = get_num(args, 4);
    if (!(iter_d >= 1 && iter_d <= 4294967295.0) || !(nbytes_d >= 1 && nbytes_d <= (1 << 24)))
        return op_error(isolate, "bad PBKDF2 parameters");
    uint64_t iterations = (uint64_t)iter_d;
    size_t nbytes = (size_t)nbytes_d;
    outbuf ob;
    if (!ob.alloc(isolate, nbytes))
        return;
    EVP_MAC_CTX *ctx = hmac_ctx(md, key->raw, key->rawlen);
    if (!ctx)
        return op_error(isolate, "PBKDF2 failed");
    size_t hlen = (size_t)EVP_MD_get_size(md);
    uint8_t u[EVP_MAX_MD_SIZE], t[EVP_MAX_MD_SIZE];
    bool ok = true;
    uint64_t since_check = 0;
    for (uint32_t block = 1; ok && (size_t)(block - 1) * hlen < nbytes; block++) {
        uint8_t be[4] = {(uint8_t)(block >> 24), (uint8_t)(block >> 16), (uint8_t)(block >> 8), (uint8_t)block};
        size_t ulen = 0;
        ok = EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1 && EVP_MAC_update(ctx, salt.p ? salt.p : be, salt.n) == 1 &&
             EVP_MAC_update(ctx, be, 4) == 1 && EVP_MAC_final(ctx, u, &ulen, sizeof(u)) == 1;
        memcpy(t, u, hlen);
        for (uint64_t i = 1; ok && i < iterations; i++) {
            ok = EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1 && EVP_MAC_update(ctx, u, hlen) == 1 &&
                 EVP_MAC_final(ctx, u, &ulen, sizeof(u)) == 1;
            for (size_t k = 0; k < hlen; k++)
                t[k] ^= u[k];
            if (++since_check == 4096) {
                since_check = 0;
                if (over_time(isolate)) {
                    EVP_MAC_CTX_free(ctx);
                    return;
                }
            }
        }
        size_t off = (size_t)(block - 1) * hlen, take = nbytes - off < hlen ? nbytes - off : hlen;
        memcpy(ob.p + off, t, take);
    }
    EVP_MAC_CTX_free(ctx);
    OPENSSL_cleanse(u, sizeof(u));
    OPENSSL_cleanse(t, sizeof(t));
    if (!ok)
        return op_error(isolate, "PBKDF2 failed");
    args.GetReturnValue().Set(ob.take(isolate, nbytes));
}

/* hkdf(hash, key, salt, info, nbytes) → ArrayBuffer (RFC 5869 extract and expand, EVP_KDF) */
static void n_hkdf(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    const EVP_MD *md = get_md(isolate, args[0]);
    if (!md)
        return;
    handle *key = handle_get(isolate, args[1], H_SECRET);
    bytes salt, info;
    if (!key)
        return;
    if (!get_bytes(args[2], &salt) || !get_bytes(args[3], &info))
        return type_error(isolate, "hkdf: bad arguments");
    double nbytes_d = get_num(args, 4);
    size_t hlen = (size_t)EVP_MD_get_size(md);
    if (!(nbytes_d >= 1 && nbytes_d <= 255.0 * (double)hlen))
        return op_error(isolate, "bad HKDF length");
    size_t nbytes = (size_t)nbytes_d;
    fetch_all();
    outbuf ob;
    if (!hkdf_kdf || !ob.alloc(isolate, nbytes))
        return hkdf_kdf ? (void)0 : op_error(isolate, "HKDF is not available");
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(hkdf_kdf);
    static uint8_t empty[1];
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char *>(EVP_MD_get0_name(md)), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key->rawlen ? key->raw : empty, key->rawlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.n ? const_cast<uint8_t *>(salt.p) : empty, salt.n),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.n ? const_cast<uint8_t *>(info.p) : empty, info.n),
        OSSL_PARAM_construct_end(),
    };
    bool ok = ctx && EVP_KDF_derive(ctx, ob.p, nbytes, params) == 1;
    EVP_KDF_CTX_free(ctx);
    if (!ok)
        return op_error(isolate, "HKDF failed");
    args.GetReturnValue().Set(ob.take(isolate, nbytes));
}

/* ecdh(privateHandle, publicHandle) → ArrayBuffer: the shared secret (ECDH: the x coordinate; X25519: 32 bytes) */
static void n_ecdh(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    handle *priv = handle_get(isolate, args[0], H_PKEY);
    if (!priv)
        return;
    handle *pub = handle_get(isolate, args[1], H_PKEY);
    if (!pub)
        return;
    if (!priv->priv || pub->priv || EVP_PKEY_get_base_id(priv->pkey) != EVP_PKEY_get_base_id(pub->pkey))
        return throw_named(isolate, "InvalidAccessError", "the keys do not fit");
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, priv->pkey, nullptr);
    size_t len = 0;
    bool ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, pub->pkey) == 1 &&
              EVP_PKEY_derive(ctx, nullptr, &len) == 1;
    outbuf ob;
    if (ok && !ob.alloc(isolate, len)) {
        EVP_PKEY_CTX_free(ctx);
        return;
    }
    ok = ok && EVP_PKEY_derive(ctx, ob.p, &len) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return op_error(isolate, "key agreement failed");
    args.GetReturnValue().Set(ob.take(isolate, len));
}

/* ---- the table -------------------------------------------------------------------------------- */

const ic__js_native ic__js_natives_crypto[] = {
    {"cDigest", n_digest},
    {"cDigestNew", n_digest_new},
    {"cDigestUpdate", n_digest_update},
    {"cDigestFinal", n_digest_final},
    {"cSecretNew", n_secret_new},
    {"cSecretRandom", n_secret_random},
    {"cSecretBytes", n_secret_bytes},
    {"cHmac", n_hmac},
    {"cHmacVerify", n_hmac_verify},
    {"cTimingSafeEqual", n_timing_safe_equal},
    {"cAes", n_aes},
    {"cGenerateRsa", n_generate_rsa},
    {"cGenerateEc", n_generate_ec},
    {"cGenerateOkp", n_generate_okp},
    {"cImportKey", n_import_key},
    {"cExportKey", n_export_key},
    {"cKeyInfo", n_key_info},
    {"cJwkGet", n_jwk_get},
    {"cJwkSet", n_jwk_set},
    {"cSign", n_sign},
    {"cVerify", n_verify},
    {"cRsaOaep", n_rsa_oaep},
    {"cPbkdf2", n_pbkdf2},
    {"cHkdf", n_hkdf},
    {"cEcdh", n_ecdh},
    {nullptr, nullptr},
};
