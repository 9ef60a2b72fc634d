/*
 * crypto_pkey.cc: the natives of crypto.subtle for asymmetric keys (RSA, ECDSA/ECDH on P-256/384/521, Ed25519,
 * X25519) over OpenSSL 3's EVP interface: generation, import and export (spki, pkcs8, raw, JWK parts),
 * signatures, RSA-OAEP, key agreement. crypto.cc has the rest and the table; crypto.hh what they share.
 */
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "js/crypto.hh"

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
void ic__js_crypto_generate_rsa(const v8::FunctionCallbackInfo<v8::Value> &args)
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
void ic__js_crypto_generate_ec(const v8::FunctionCallbackInfo<v8::Value> &args)
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

void ic__js_crypto_generate_okp(const v8::FunctionCallbackInfo<v8::Value> &args)
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
void ic__js_crypto_import_key(const v8::FunctionCallbackInfo<v8::Value> &args)
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
void ic__js_crypto_export_key(const v8::FunctionCallbackInfo<v8::Value> &args)
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
void ic__js_crypto_key_info(const v8::FunctionCallbackInfo<v8::Value> &args)
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
void ic__js_crypto_jwk_get(const v8::FunctionCallbackInfo<v8::Value> &args)
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
void ic__js_crypto_jwk_set(const v8::FunctionCallbackInfo<v8::Value> &args)
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
void ic__js_crypto_sign(const v8::FunctionCallbackInfo<v8::Value> &args)
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
void ic__js_crypto_verify(const v8::FunctionCallbackInfo<v8::Value> &args)
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
void ic__js_crypto_rsa_oaep(const v8::FunctionCallbackInfo<v8::Value> &args)
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

/* ecdh(privateHandle, publicHandle) → ArrayBuffer: the shared secret (ECDH: the x coordinate; X25519: 32 bytes) */
void ic__js_crypto_ecdh(const v8::FunctionCallbackInfo<v8::Value> &args)
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
