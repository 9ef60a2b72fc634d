/*
 * crypto.cc: the natives under crypto.subtle (prelude_crypto.js), over
 * OpenSSL 3's EVP interface: digests, secret keys, HMAC, AES, PBKDF2, HKDF,
 * and the table of all of them. Asymmetric keys are in crypto_pkey.cc; what
 * both use is in crypto.hh. No cryptography is written here: every
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
#include <openssl/rand.h>

#include "js/crypto.hh"

/* ---- digest ------------------------------------------------------------------------------- */

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
    {"cGenerateRsa", ic__js_crypto_generate_rsa},
    {"cGenerateEc", ic__js_crypto_generate_ec},
    {"cGenerateOkp", ic__js_crypto_generate_okp},
    {"cImportKey", ic__js_crypto_import_key},
    {"cExportKey", ic__js_crypto_export_key},
    {"cKeyInfo", ic__js_crypto_key_info},
    {"cJwkGet", ic__js_crypto_jwk_get},
    {"cJwkSet", ic__js_crypto_jwk_set},
    {"cSign", ic__js_crypto_sign},
    {"cVerify", ic__js_crypto_verify},
    {"cRsaOaep", ic__js_crypto_rsa_oaep},
    {"cPbkdf2", n_pbkdf2},
    {"cHkdf", n_hkdf},
    {"cEcdh", ic__js_crypto_ecdh},
    {nullptr, nullptr},
};
