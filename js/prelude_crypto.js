// prelude_crypto.js: crypto.subtle (W3C WebCrypto) over OpenSSL (js/crypto.cc).
// Part of the prelude.
//
// Everything the spec says before the cryptography happens here: WebIDL
// conversions, algorithm normalisation, usages, JWK, which error is thrown
// when. The natives (native.c*) do the primitives on keys held in native
// memory; a key is a CryptoKey whose private field holds the native handle.
// The work is synchronous: each method returns a promise already settled
// with the result (the natives check the CPU limit as they go).
//
// Workers extras: crypto.subtle.timingSafeEqual(a, b) and
// crypto.DigestStream (a WritableStream whose `digest` promise gives the
// hash; built on first use, over the prelude's WritableStream).
{
  const N = native;
  const kToken = Symbol("CryptoKey");
  const promiseResolve = Promise.resolve.bind(Promise);
  const promiseReject = Promise.reject.bind(Promise);
  const isView = ArrayBuffer.isView;
  const NATIVE_ERRORS = new Set(["OperationError", "DataError", "NotSupportedError", "InvalidAccessError", "SyntaxError"]);

  const domError = (name, msg) => new DOMException(msg, name);
  const notSupported = (msg) => domError("NotSupportedError", msg);
  const syntaxError = (msg) => domError("SyntaxError", msg);
  const dataError = (msg) => domError("DataError", msg);
  const accessError = (msg) => domError("InvalidAccessError", msg);
  const opError = (msg) => domError("OperationError", msg);

  // Calls a native; the Errors it throws by WebCrypto name become DOMExceptions of that name.
  function nat(fn, a, b, c, d, e, f, g, h) {
    try {
      return fn(a, b, c, d, e, f, g, h);
    } catch (err) {
      if (err instanceof Error && NATIVE_ERRORS.has(err.name)) throw domError(err.name, err.message);
      throw err;
    }
  }

  // ---- WebIDL conversions ------------------------------------------------------------------

  // BufferSource → Uint8Array over the same bytes (copy: a copy, for what user code could change later).
  function bufferSource(v, what, copy) {
    let u;
    if (v instanceof ArrayBuffer) u = new Uint8Array(v);
    else if (isView(v)) u = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    else throw new TypeError(`${what} is not a BufferSource (an ArrayBuffer or a view of one)`);
    return copy ? u.slice() : u;
  }

  function enforceRange(v, max, what) {
    const x = +v;
    if (!Number.isFinite(x)) throw new TypeError(`${what} is not a finite number`);
    const t = Math.trunc(x);
    if (t < 0 || t > max) throw new TypeError(`${what} is out of range`);
    return t;
  }

  const asciiUpper = (s) => s.replace(/[a-z]+/g, (m) => m.toUpperCase());

  function str(v) {
    return `${v}`;
  }

  const USAGES = ["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"];
  const USAGE_SET = new Set(USAGES);

  function toUsages(v) {
    if (v === null || (typeof v !== "object" && typeof v !== "function")) throw new TypeError("keyUsages is not a sequence");
    const out = [];
    for (const u of v) {
      const s = str(u);
      if (!USAGE_SET.has(s)) throw new TypeError(`'${s}' is not a KeyUsage`);
      out.push(s);
    }
    return out;
  }

  const FORMATS = new Set(["raw", "spki", "pkcs8", "jwk"]);
  function keyFormat(v) {
    const s = str(v);
    if (!FORMATS.has(s)) throw new TypeError(`'${s}' is not a KeyFormat`);
    return s;
  }

  function needArgs(n, got, what) {
    if (got < n) throw new TypeError(`${what}: ${n} arguments required, ${got} given`);
  }

  // ---- algorithm normalisation --------------------------------------------------------------

  // Dictionaries: [member, type, required], in the order WebIDL converts them (inherited first, then by name).
  const DICTS = {
    Algorithm: [],
    RsaOaepParams: [["label", "buffer", false]],
    AesCtrParams: [["counter", "buffer", true], ["length", "octet", true]],
    AesCbcParams: [["iv", "buffer", true]],
    // tagLength is [EnforceRange] octet, but a length past 255 is refused as any other bad length is (OperationError), as
    // the WPT expects and browsers do.
    AesGcmParams: [["additionalData", "buffer", false], ["iv", "buffer", true], ["tagLength", "tagLength", false]],
    RsaPssParams: [["saltLength", "ulong", true]],
    EcdsaParams: [["hash", "hash", true]],
    RsaHashedKeyGenParams: [["modulusLength", "ulong", true], ["publicExponent", "bigint", true], ["hash", "hash", true]],
    EcKeyGenParams: [["namedCurve", "string", true]],
    AesKeyGenParams: [["length", "ushort", true]],
    HmacKeyGenParams: [["hash", "hash", true], ["length", "ulong", false]],
    EcdhKeyDeriveParams: [["public", "key", true]],
    HkdfParams: [["hash", "hash", true], ["info", "buffer", true], ["salt", "buffer", true]],
    Pbkdf2Params: [["hash", "hash", true], ["iterations", "ulong", true], ["salt", "buffer", true]],
    RsaHashedImportParams: [["hash", "hash", true]],
    EcKeyImportParams: [["namedCurve", "string", true]],
    HmacImportParams: [["hash", "hash", true], ["length", "ulong", false]],
    AesDerivedKeyParams: [["length", "ushort", true]],
  };

  // The registered algorithms of each operation and the dictionary each one's parameters convert to.
  const REG = {};
  const register = (op, names, dict) => {
    REG[op] ??= new Map();
    // By the name as spelt in the spec too, so that the usual spelling needs no case folding.
    for (const n of names) REG[op].set(asciiUpper(n), [n, dict]).set(n, [n, dict]);
  };
  const SHAS = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"];
  const RSAS = ["RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP"];
  const AESS = ["AES-CTR", "AES-CBC", "AES-GCM", "AES-KW"];
  register("digest", SHAS, "Algorithm");
  for (const op of ["encrypt", "decrypt"]) {
    register(op, ["RSA-OAEP"], "RsaOaepParams");
    register(op, ["AES-CTR"], "AesCtrParams");
    register(op, ["AES-CBC"], "AesCbcParams");
    register(op, ["AES-GCM"], "AesGcmParams");
  }
  for (const op of ["sign", "verify"]) {
    register(op, ["RSASSA-PKCS1-v1_5", "HMAC", "Ed25519"], "Algorithm");
    register(op, ["RSA-PSS"], "RsaPssParams");
    register(op, ["ECDSA"], "EcdsaParams");
  }
  register("generateKey", RSAS, "RsaHashedKeyGenParams");
  register("generateKey", ["ECDSA", "ECDH"], "EcKeyGenParams");
  register("generateKey", AESS, "AesKeyGenParams");
  register("generateKey", ["HMAC"], "HmacKeyGenParams");
  register("generateKey", ["Ed25519", "X25519"], "Algorithm");
  register("deriveBits", ["ECDH", "X25519"], "EcdhKeyDeriveParams");
  register("deriveBits", ["HKDF"], "HkdfParams");
  register("deriveBits", ["PBKDF2"], "Pbkdf2Params");
  register("importKey", RSAS, "RsaHashedImportParams");
  register("importKey", ["ECDSA", "ECDH"], "EcKeyImportParams");
  register("importKey", ["HMAC"], "HmacImportParams");
  register("importKey", [...AESS, "HKDF", "PBKDF2", "Ed25519", "X25519"], "Algorithm");
  register("wrapKey", ["AES-KW"], "Algorithm");
  register("unwrapKey", ["AES-KW"], "Algorithm");
  register("getKeyLength", ["AES-CTR", "AES-CBC", "AES-GCM", "AES-KW"], "AesDerivedKeyParams");
  register("getKeyLength", ["HMAC"], "HmacImportParams");
  register("getKeyLength", ["HKDF", "PBKDF2"], "Algorithm");
  // What exportKey supports (the spec's "registered algorithms that support export").
  const EXPORTABLE = new Set([...RSAS, "ECDSA", "ECDH", ...AESS, "HMAC", "Ed25519", "X25519"]);

  function convertMember(type, v, what) {
    switch (type) {
      case "buffer": return bufferSource(v, what, true);
      case "octet": return enforceRange(v, 255, what);
      case "tagLength": return enforceRange(v, Infinity, what);
      case "ushort": return enforceRange(v, 65535, what);
      case "ulong": return enforceRange(v, 4294967295, what);
      case "string": return str(v);
      case "hash": return normalize(v, "digest");
      case "bigint":
        if (!(v instanceof Uint8Array)) throw new TypeError(`${what} is not a Uint8Array`);
        return v.slice();
      case "key":
        if (!keySlots(v)) throw new TypeError(`${what} is not a CryptoKey`);
        return v;
    }
    throw new TypeError(what);
  }

  // The spec's "normalize an algorithm": a plain object with the canonical name and converted members.
  function normalize(alg, op) {
    if (alg === null || (typeof alg !== "object" && typeof alg !== "function")) alg = { name: str(alg) };
    const name = alg.name;
    if (name === undefined) throw new TypeError("the algorithm has no name");
    const raw = str(name), reg = REG[op];
    const entry = reg.get(raw) ?? reg.get(asciiUpper(raw));
    if (!entry) throw notSupported(`${op}: the algorithm '${raw}' is not supported`);
    const out = { name: entry[0] };
    const members = DICTS[entry[1]];
    for (let i = 0; i < members.length; i++) {
      const [member, type, required] = members[i];
      const v = alg[member];
      if (v === undefined) {
        if (required) throw new TypeError(`${entry[0]}: '${member}' is required`);
        continue;
      }
      out[member] = convertMember(type, v, `${entry[0]}.${member}`);
    }
    return out;
  }

  // ---- CryptoKey ------------------------------------------------------------------------------

  let keySlots; // (value) → the slots of a CryptoKey, or undefined

  // A KeyAlgorithm dictionary as tenant code sees it: a fresh copy (hash as {name}, publicExponent copied).
  function exposeAlgorithm(a) {
    const out = {};
    for (const k in a) {
      const v = a[k];
      out[k] = k === "hash" ? { name: v.name } : v instanceof Uint8Array ? v.slice() : v;
    }
    return out;
  }

  class CryptoKey {
    #s;
    constructor(token, slots) {
      if (token !== kToken) throw new TypeError("Illegal constructor");
      this.#s = slots;
    }
    get type() { return this.#s.type; }
    get extractable() { return this.#s.extractable; }
    get algorithm() { return (this.#s.algCache ??= exposeAlgorithm(this.#s.algorithm)); }
    get usages() { return (this.#s.usageCache ??= this.#s.usages.slice()); }
    static {
      keySlots = (o) => (o !== null && typeof o === "object" && #s in o ? o.#s : undefined);
    }
  }
  Object.defineProperty(CryptoKey.prototype, Symbol.toStringTag, { value: "CryptoKey", configurable: true });
  for (const k of ["type", "extractable", "algorithm", "usages"])
    Object.defineProperty(CryptoKey.prototype, k, { enumerable: true });

  // Usages deduplicated, in the spec's order.
  const canonUsages = (list) => USAGES.filter((u) => list.includes(u));

  function newKey(type, extractable, algorithm, usages, handle) {
    return new CryptoKey(kToken, { type, extractable, algorithm, usages: canonUsages(usages), handle });
  }

  function checkUsages(usages, allowed, what) {
    for (const u of usages) if (!allowed.includes(u)) throw syntaxError(`${what}: the usage '${u}' is not allowed for this key`);
  }

  // ---- base64url and JWK ------------------------------------------------------------------------

  function b64urlEncode(buf) {
    const b = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
    return btoa(s).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  }

  function b64urlDecode(s, what) {
    if (typeof s !== "string" || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw dataError(`JWK: '${what}' is not base64url`);
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  const JWK_STRINGS = ["kty", "use", "alg", "crv", "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi", "k"];

  // A JsonWebKey dictionary from a value (WebIDL conversion: TypeError when it is not a dictionary).
  function jsonWebKey(v) {
    if (v === undefined || v === null) v = {};
    if (typeof v !== "object" && typeof v !== "function") throw new TypeError("the key data is not a JsonWebKey");
    const out = {};
    for (const k of ["alg", "crv", "d", "dp", "dq", "e", "ext", "k", "key_ops", "kty", "n", "oth", "p", "q", "qi", "use", "x", "y"]) {
      const x = v[k];
      if (x === undefined) continue;
      if (k === "ext") out.ext = !!x;
      else if (k === "key_ops") out.key_ops = [...(typeof x === "object" && x !== null ? x : badSeq())].map(str);
      else if (k === "oth") out.oth = x;
      else out[k] = str(x);
    }
    return out;
  }
  const badSeq = () => {
    throw new TypeError("JWK: key_ops is not a sequence");
  };

  // The checks every JWK import makes: kty, use, key_ops, ext.
  function checkJwk(jwk, kty, use, usages, extractable) {
    if (jwk.kty !== kty) throw dataError(`JWK: kty must be '${kty}'`);
    if (usages.length && jwk.use !== undefined && jwk.use !== use) throw dataError(`JWK: use must be '${use}'`);
    if (jwk.key_ops !== undefined) {
      if (new Set(jwk.key_ops).size !== jwk.key_ops.length) throw dataError("JWK: key_ops has duplicates");
      for (const u of usages) if (!jwk.key_ops.includes(u)) throw dataError(`JWK: key_ops does not allow '${u}'`);
    }
    if (jwk.ext === false && extractable) throw dataError("JWK: the key is not extractable (ext is false)");
  }

  // Parses the bytes of an unwrapped JWK (UTF-8 JSON) into a JsonWebKey.
  function parseJwkBytes(bytes) {
    let v;
    try {
      v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      throw dataError("the unwrapped key is not a JSON Web Key");
    }
    if (v === null || typeof v !== "object") throw dataError("the unwrapped key is not a JSON Web Key");
    return jsonWebKey(v);
  }

  // ---- the algorithms -------------------------------------------------------------------------------

  const hashName = (h) => h.name;
  const HASH_BITS = { "SHA-1": 160, "SHA-256": 256, "SHA-384": 384, "SHA-512": 512 };
  const HASH_BLOCK = { "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };
  const ALG = {};

  // ---- AES
  const AES_MODE = { "AES-CBC": 0, "AES-CTR": 1, "AES-GCM": 2, "AES-KW": 3 };
  const AES_SUFFIX = { "AES-CBC": "CBC", "AES-CTR": "CTR", "AES-GCM": "GCM", "AES-KW": "KW" };
  const GCM_TAGS = [32, 64, 96, 104, 112, 120, 128];

  for (const name of AESS) {
    const allowed = name === "AES-KW" ? ["wrapKey", "unwrapKey"] : ["encrypt", "decrypt", "wrapKey", "unwrapKey"];
    const mode = AES_MODE[name];
    const jwkAlg = (bits) => `A${bits}${AES_SUFFIX[name]}`;
    const run = (alg, key, data, enc) => {
      const k = keySlots(key);
      if (mode === 0) {
        if (alg.iv.byteLength !== 16) throw opError("AES-CBC: the iv must be 16 bytes");
        return nat(N.cAes, 0, enc, k.handle, alg.iv, data);
      }
      if (mode === 1) {
        if (alg.counter.byteLength !== 16) throw opError("AES-CTR: the counter must be 16 bytes");
        if (alg.length === 0 || alg.length > 128) throw opError("AES-CTR: the counter length must be 1 to 128 bits");
        return nat(N.cAes, 1, enc, k.handle, alg.counter, data, undefined, 0, alg.length);
      }
      if (mode === 2) {
        const tag = alg.tagLength ?? 128;
        if (!GCM_TAGS.includes(tag)) throw opError("AES-GCM: the tag length is not valid");
        if (!enc && data.byteLength < tag / 8) throw opError("AES-GCM: the data is shorter than the tag");
        return nat(N.cAes, 2, enc, k.handle, alg.iv, data, alg.additionalData, tag / 8);
      }
      if (data.byteLength % 8) throw opError("AES-KW: the data must be a multiple of 8 bytes");
      return nat(N.cAes, 3, enc, k.handle, undefined, data);
    };
    ALG[name] = {
      generateKey(alg, extractable, usages) {
        checkUsages(usages, allowed, "generateKey");
        if (![128, 192, 256].includes(alg.length)) throw opError(`${name}: the length must be 128, 192 or 256 bits`);
        if (!usages.length) throw syntaxError("generateKey: usages must not be empty");
        return newKey("secret", extractable, { name, length: alg.length }, usages, N.cSecretRandom(alg.length / 8));
      },
      importKey(format, data, alg, extractable, usages) {
        checkUsages(usages, allowed, "importKey");
        if (format === "jwk") {
          checkJwk(data, "oct", "enc", usages, extractable);
          if (data.k === undefined) throw dataError("JWK: 'k' is missing");
          const bytes = b64urlDecode(data.k, "k");
          if (![16, 24, 32].includes(bytes.length)) throw dataError(`${name}: the key must be 128, 192 or 256 bits`);
          if (data.alg !== undefined && data.alg !== jwkAlg(bytes.length * 8)) throw dataError(`JWK: alg must be '${jwkAlg(bytes.length * 8)}'`);
          data = bytes;
        } else if (format !== "raw") {
          throw notSupported(`${name}: the format '${format}' is not supported`);
        }
        if (![16, 24, 32].includes(data.byteLength)) throw dataError(`${name}: the key must be 128, 192 or 256 bits`);
        return newKey("secret", extractable, { name, length: data.byteLength * 8 }, usages, N.cSecretNew(data));
      },
      exportKey(format, key) {
        const k = keySlots(key);
        if (format === "raw") return N.cSecretBytes(k.handle);
        if (format === "jwk")
          return { key_ops: key.usages.slice(), ext: k.extractable, kty: "oct", k: b64urlEncode(N.cSecretBytes(k.handle)), alg: jwkAlg(k.algorithm.length) };
        throw notSupported(`${name}: the format '${format}' is not supported`);
      },
      getKeyLength(alg) {
        if (![128, 192, 256].includes(alg.length)) throw opError(`${name}: the length must be 128, 192 or 256 bits`);
        return alg.length;
      },
    };
    if (name === "AES-KW") {
      ALG[name].wrapKey = (alg, key, data) => run(alg, key, data, true);
      ALG[name].unwrapKey = (alg, key, data) => run(alg, key, data, false);
    } else {
      ALG[name].encrypt = (alg, key, data) => run(alg, key, data, true);
      ALG[name].decrypt = (alg, key, data) => run(alg, key, data, false);
    }
  }

  // ---- HMAC
  ALG.HMAC = {
    generateKey(alg, extractable, usages) {
      checkUsages(usages, ["sign", "verify"], "generateKey");
      const hash = hashName(alg.hash);
      let length = alg.length;
      if (length === undefined) length = HASH_BLOCK[hash];
      else if (length === 0) throw opError("HMAC: the length must not be zero");
      if (!usages.length) throw syntaxError("generateKey: usages must not be empty");
      const handle = N.cSecretRandom(Math.ceil(length / 8));
      return newKey("secret", extractable, { name: "HMAC", length, hash: { name: hash } }, usages, handle);
    },
    importKey(format, data, alg, extractable, usages) {
      checkUsages(usages, ["sign", "verify"], "importKey");
      const hash = hashName(alg.hash);
      if (format === "jwk") {
        checkJwk(data, "oct", "sig", usages, extractable);
        if (data.k === undefined) throw dataError("JWK: 'k' is missing");
        const bytes = b64urlDecode(data.k, "k");
        const want = `HS${hash.slice(4)}`;
        if (data.alg !== undefined && data.alg !== want) throw dataError(`JWK: alg must be '${want}'`);
        data = bytes;
      } else if (format !== "raw") {
        throw notSupported(`HMAC: the format '${format}' is not supported`);
      }
      const bits = data.byteLength * 8;
      if (bits === 0) throw dataError("HMAC: the key is empty");
      let length = bits;
      if (alg.length !== undefined) {
        if (alg.length > bits || alg.length <= bits - 8) throw dataError("HMAC: the length does not fit the key data");
        length = alg.length;
      }
      return newKey("secret", extractable, { name: "HMAC", length, hash: { name: hash } }, usages, N.cSecretNew(data));
    },
    exportKey(format, key) {
      const k = keySlots(key);
      if (format === "raw") return N.cSecretBytes(k.handle);
      if (format === "jwk")
        return { key_ops: key.usages.slice(), ext: k.extractable, kty: "oct", k: b64urlEncode(N.cSecretBytes(k.handle)), alg: `HS${k.algorithm.hash.name.slice(4)}` };
      throw notSupported(`HMAC: the format '${format}' is not supported`);
    },
    sign(alg, key, data) {
      const k = keySlots(key);
      return nat(N.cHmac, k.algorithm.hash.name, k.handle, data);
    },
    verify(alg, key, sig, data) {
      const k = keySlots(key);
      return nat(N.cHmacVerify, k.algorithm.hash.name, k.handle, data, sig);
    },
    getKeyLength(alg) {
      if (alg.length === undefined) return HASH_BLOCK[hashName(alg.hash)];
      if (alg.length === 0) throw new TypeError("HMAC: the length must not be zero");
      return alg.length;
    },
  };

  // ---- asymmetric keys: what RSA, EC and OKP share

  // A key pair from [privateHandle, publicHandle]; usages split by what each half may do.
  function keyPair(handles, algorithm, extractable, usages, pubUsages, privUsages) {
    return {
      publicKey: newKey("public", true, algorithm, usages.filter((u) => pubUsages.includes(u)), handles[1]),
      privateKey: newKey("private", extractable, algorithm, usages.filter((u) => privUsages.includes(u)), handles[0]),
    };
  }

  // Imports spki / pkcs8 / raw / jwk for an asymmetric algorithm; kind: "RSA", "EC", "Ed25519", "X25519".
  // jwkCheck(jwk, usages, extractable) checks the algorithm-specific JWK fields and returns the parts to build from.
  function importAsym(format, data, kind, curve, extractable, usages, pubUsages, privUsages, jwkParts) {
    let handle, priv;
    if (format === "spki" || format === "raw") {
      checkUsages(usages, pubUsages, "importKey");
      if (format === "raw" && kind === "RSA") throw notSupported("RSA keys cannot be imported raw");
      handle = nat(N.cImportKey, format, kind, data, curve);
      priv = false;
    } else if (format === "pkcs8") {
      checkUsages(usages, privUsages, "importKey");
      handle = nat(N.cImportKey, "pkcs8", kind, data, curve);
      priv = true;
    } else {
      priv = data.d !== undefined;
      checkUsages(usages, priv ? privUsages : pubUsages, "importKey");
      const parts = jwkParts(data, priv);
      handle = nat(N.cJwkSet, kind, curve, parts, priv);
    }
    if (priv && !usages.length) throw syntaxError("importKey: usages must not be empty for a private key");
    return { handle, priv };
  }

  // The base64url parts of a JWK, decoded (DataError for one that is missing when needed).
  function jwkDecode(jwk, names) {
    const parts = {};
    for (const n of names) {
      if (jwk[n] === undefined) throw dataError(`JWK: '${n}' is missing`);
      parts[n] = b64urlDecode(jwk[n], n);
    }
    return parts;
  }

  function exportAsym(format, key, jwkExtra) {
    const k = keySlots(key);
    if (format === "spki") {
      if (k.type !== "public") throw accessError("only a public key exports as spki");
      return nat(N.cExportKey, "spki", k.handle);
    }
    if (format === "pkcs8") {
      if (k.type !== "private") throw accessError("only a private key exports as pkcs8");
      return nat(N.cExportKey, "pkcs8", k.handle);
    }
    if (format === "raw") {
      if (k.type !== "public") throw accessError("only a public key exports raw");
      return nat(N.cExportKey, "raw", k.handle);
    }
    const parts = nat(N.cJwkGet, k.handle);
    const jwk = { key_ops: key.usages.slice(), ext: k.extractable };
    jwkExtra(jwk, k);
    for (const p in parts) jwk[p] = b64urlEncode(parts[p]);
    return jwk;
  }

  // ---- RSA
  const RSA_JWK_ALG = {
    "RSASSA-PKCS1-v1_5": { "SHA-1": "RS1", "SHA-256": "RS256", "SHA-384": "RS384", "SHA-512": "RS512" },
    "RSA-PSS": { "SHA-1": "PS1", "SHA-256": "PS256", "SHA-384": "PS384", "SHA-512": "PS512" },
    "RSA-OAEP": { "SHA-1": "RSA-OAEP", "SHA-256": "RSA-OAEP-256", "SHA-384": "RSA-OAEP-384", "SHA-512": "RSA-OAEP-512" },
  };
  const RSA_PRIV_PARTS = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];

  for (const name of RSAS) {
    const oaep = name === "RSA-OAEP";
    const pubUsages = oaep ? ["encrypt", "wrapKey"] : ["verify"];
    const privUsages = oaep ? ["decrypt", "unwrapKey"] : ["sign"];
    const all = [...pubUsages, ...privUsages];
    const algorithmOf = (handle, hash) => {
      const info = nat(N.cKeyInfo, handle);
      return { name, modulusLength: info.bits, publicExponent: new Uint8Array(info.publicExponent), hash: { name: hash } };
    };
    ALG[name] = {
      generateKey(alg, extractable, usages) {
        checkUsages(usages, all, "generateKey");
        const bits = alg.modulusLength, e = alg.publicExponent;
        // What the native accepts, checked first so that a pair is not made only to be refused for its usages.
        let ev = 0;
        for (const b of e) ev = ev * 256 + b;
        if (bits < 256 || bits > 16384 || bits % 8 || ev < 3 || ev % 2 === 0 || ev > 4294967295)
          throw opError(`${name}: the modulus length or public exponent is not supported`);
        if (!usages.some((u) => privUsages.includes(u))) throw syntaxError("generateKey: the private key would have no usages");
        const handles = nat(N.cGenerateRsa, bits, e);
        const algorithm = { name, modulusLength: bits, publicExponent: e.slice(), hash: { name: hashName(alg.hash) } };
        return keyPair(handles, algorithm, extractable, usages, pubUsages, privUsages);
      },
      importKey(format, data, alg, extractable, usages) {
        const hash = hashName(alg.hash);
        if (format === "raw") {
          checkUsages(usages, all, "importKey");
          throw notSupported(`${name}: raw import is not supported`);
        }
        const { handle, priv } = importAsym(format, data, "RSA", undefined, extractable, usages, pubUsages, privUsages, (jwk, isPriv) => {
          checkJwk(jwk, "RSA", oaep ? "enc" : "sig", usages, extractable);
          const want = RSA_JWK_ALG[name][hash];
          if (jwk.alg !== undefined && jwk.alg !== want) throw dataError(`JWK: alg must be '${want}'`);
          if (jwk.oth !== undefined) throw notSupported("JWK: RSA keys with more than two primes are not supported");
          return jwkDecode(jwk, isPriv ? RSA_PRIV_PARTS : ["n", "e"]);
        });
        return newKey(priv ? "private" : "public", priv ? extractable : true, algorithmOf(handle, hash), usages, handle);
      },
      exportKey(format, key) {
        if (format === "raw") throw notSupported(`${name}: raw export is not supported`);
        return exportAsym(format, key, (jwk, k) => {
          jwk.kty = "RSA";
          jwk.alg = RSA_JWK_ALG[name][k.algorithm.hash.name];
        });
      },
    };
    if (oaep) {
      ALG[name].encrypt = (alg, key, data) => {
        const k = keySlots(key);
        if (k.type !== "public") throw accessError("RSA-OAEP: encryption needs the public key");
        return nat(N.cRsaOaep, true, k.handle, k.algorithm.hash.name, alg.label, data);
      };
      ALG[name].decrypt = (alg, key, data) => {
        const k = keySlots(key);
        if (k.type !== "private") throw accessError("RSA-OAEP: decryption needs the private key");
        return nat(N.cRsaOaep, false, k.handle, k.algorithm.hash.name, alg.label, data);
      };
    } else {
      const which = name === "RSA-PSS" ? 1 : 0;
      ALG[name].sign = (alg, key, data) => {
        const k = keySlots(key);
        if (k.type !== "private") throw accessError(`${name}: signing needs the private key`);
        return nat(N.cSign, which, k.handle, k.algorithm.hash.name, data, alg.saltLength ?? 0);
      };
      ALG[name].verify = (alg, key, sig, data) => {
        const k = keySlots(key);
        if (k.type !== "public") throw accessError(`${name}: verifying needs the public key`);
        return nat(N.cVerify, which, k.handle, k.algorithm.hash.name, data, sig, alg.saltLength ?? 0);
      };
    }
  }

  // ---- EC (ECDSA, ECDH) and OKP (Ed25519, X25519)
  const CURVES = ["P-256", "P-384", "P-521"];
  const CURVE_BITS = { "P-256": 256, "P-384": 384, "P-521": 521 };
  const ECDSA_JWK_ALG = { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" };

  // Shared deriveBits of ECDH and X25519: length null means all the bits; fewer bits are cut (the last byte masked).
  function agree(alg, key, length, name) {
    const k = keySlots(key), pub = keySlots(alg.public);
    if (k.type !== "private") throw accessError(`${name}: the base key must be a private key`);
    if (pub.type !== "public") throw accessError(`${name}: 'public' must be a public key`);
    if (pub.algorithm.name !== k.algorithm.name) throw accessError(`${name}: 'public' is a key of another algorithm`);
    if (name === "ECDH" && pub.algorithm.namedCurve !== k.algorithm.namedCurve) throw accessError("ECDH: the keys are on different curves");
    const secret = nat(N.cEcdh, k.handle, pub.handle);
    if (length === null) return secret;
    if (length > secret.byteLength * 8) throw opError(`${name}: ${length} bits asked, ${secret.byteLength * 8} available`);
    const out = new Uint8Array(secret, 0, Math.ceil(length / 8)).slice();
    if (length % 8) out[out.length - 1] &= 0xff << (8 - (length % 8));
    return out.buffer;
  }

  for (const name of ["ECDSA", "ECDH"]) {
    const ecdh = name === "ECDH";
    const pubUsages = ecdh ? [] : ["verify"];
    const privUsages = ecdh ? ["deriveKey", "deriveBits"] : ["sign"];
    ALG[name] = {
      generateKey(alg, extractable, usages) {
        checkUsages(usages, [...pubUsages, ...privUsages], "generateKey");
        if (!CURVES.includes(alg.namedCurve)) throw notSupported(`${name}: the curve '${alg.namedCurve}' is not supported`);
        if (!usages.some((u) => privUsages.includes(u))) throw syntaxError("generateKey: the private key would have no usages");
        const handles = nat(N.cGenerateEc, alg.namedCurve);
        return keyPair(handles, { name, namedCurve: alg.namedCurve }, extractable, usages, pubUsages, privUsages);
      },
      importKey(format, data, alg, extractable, usages) {
        const curve = alg.namedCurve;
        if (!CURVES.includes(curve)) throw notSupported(`${name}: the curve '${curve}' is not supported`);
        const { handle, priv } = importAsym(format, data, "EC", curve, extractable, usages, pubUsages, privUsages, (jwk, isPriv) => {
          checkJwk(jwk, "EC", ecdh ? "enc" : "sig", usages, extractable);
          if (jwk.crv !== curve) throw dataError(`JWK: crv must be '${curve}'`);
          if (!ecdh && jwk.alg !== undefined && jwk.alg !== ECDSA_JWK_ALG[curve]) throw dataError(`JWK: alg must be '${ECDSA_JWK_ALG[curve]}'`);
          return jwkDecode(jwk, isPriv ? ["x", "y", "d"] : ["x", "y"]);
        });
        return newKey(priv ? "private" : "public", priv ? extractable : true, { name, namedCurve: curve }, usages, handle);
      },
      exportKey(format, key) {
        return exportAsym(format, key, (jwk, k) => {
          jwk.kty = "EC";
          jwk.crv = k.algorithm.namedCurve;
        });
      },
    };
    if (ecdh) {
      ALG[name].deriveBits = (alg, key, length) => agree(alg, key, length, "ECDH");
    } else {
      ALG[name].sign = (alg, key, data) => {
        const k = keySlots(key);
        if (k.type !== "private") throw accessError("ECDSA: signing needs the private key");
        return nat(N.cSign, 2, k.handle, hashName(alg.hash), data, 0);
      };
      ALG[name].verify = (alg, key, sig, data) => {
        const k = keySlots(key);
        if (k.type !== "public") throw accessError("ECDSA: verifying needs the public key");
        return nat(N.cVerify, 2, k.handle, hashName(alg.hash), data, sig, 0);
      };
    }
  }

  for (const name of ["Ed25519", "X25519"]) {
    const x = name === "X25519";
    const pubUsages = x ? [] : ["verify"];
    const privUsages = x ? ["deriveKey", "deriveBits"] : ["sign"];
    ALG[name] = {
      generateKey(alg, extractable, usages) {
        checkUsages(usages, [...pubUsages, ...privUsages], "generateKey");
        if (!usages.some((u) => privUsages.includes(u))) throw syntaxError("generateKey: the private key would have no usages");
        return keyPair(nat(N.cGenerateOkp, name), { name }, extractable, usages, pubUsages, privUsages);
      },
      importKey(format, data, alg, extractable, usages) {
        const { handle, priv } = importAsym(format, data, name, undefined, extractable, usages, pubUsages, privUsages, (jwk, isPriv) => {
          checkJwk(jwk, "OKP", x ? "enc" : "sig", usages, extractable);
          if (jwk.crv !== name) throw dataError(`JWK: crv must be '${name}'`);
          if (!x && jwk.alg !== undefined && jwk.alg !== "EdDSA" && jwk.alg !== "Ed25519") throw dataError("JWK: alg must be 'EdDSA'");
          return jwkDecode(jwk, isPriv ? ["x", "d"] : ["x"]);
        });
        return newKey(priv ? "private" : "public", priv ? extractable : true, { name }, usages, handle);
      },
      exportKey(format, key) {
        return exportAsym(format, key, (jwk) => {
          jwk.kty = "OKP";
          jwk.crv = name;
          if (!x) jwk.alg = "Ed25519";
        });
      },
    };
    if (x) {
      ALG[name].deriveBits = (alg, key, length) => agree(alg, key, length, "X25519");
    } else {
      ALG[name].sign = (alg, key, data) => {
        const k = keySlots(key);
        if (k.type !== "private") throw accessError("Ed25519: signing needs the private key");
        return nat(N.cSign, 3, k.handle, undefined, data, 0);
      };
      ALG[name].verify = (alg, key, sig, data) => {
        const k = keySlots(key);
        if (k.type !== "public") throw accessError("Ed25519: verifying needs the public key");
        return nat(N.cVerify, 3, k.handle, undefined, data, sig, 0);
      };
    }
  }

  // ---- HKDF, PBKDF2
  for (const name of ["HKDF", "PBKDF2"]) {
    ALG[name] = {
      importKey(format, data, alg, extractable, usages) {
        if (format !== "raw") throw notSupported(`${name}: only raw keys can be imported`);
        checkUsages(usages, ["deriveKey", "deriveBits"], "importKey");
        if (extractable) throw syntaxError(`${name}: keys cannot be extractable`);
        if (!usages.length) throw syntaxError("importKey: usages must not be empty");
        return newKey("secret", false, { name }, usages, N.cSecretNew(data));
      },
      getKeyLength() {
        return null;
      },
      deriveBits(alg, key, length) {
        const k = keySlots(key);
        if (length === null) throw opError(`${name}: the length must be given`);
        if (length % 8) throw opError(`${name}: the length must be a multiple of 8`);
        if (length === 0) throw opError(`${name}: the length must not be zero`);
        if (name === "HKDF") return nat(N.cHkdf, hashName(alg.hash), k.handle, alg.salt, alg.info, length / 8);
        if (alg.iterations === 0) throw opError("PBKDF2: the iterations must not be zero");
        return nat(N.cPbkdf2, hashName(alg.hash), k.handle, alg.salt, alg.iterations, length / 8);
      },
    };
  }

  // ---- SubtleCrypto -------------------------------------------------------------------------------

  // Runs body, giving its result (or its exception) as a settled promise, as WebIDL does for promise-returning operations.
  function settle(self, body) {
    try {
      if (!(self instanceof SubtleCrypto) || !subtleBrand(self)) throw new TypeError("Illegal invocation");
      return promiseResolve(body());
    } catch (e) {
      return promiseReject(e);
    }
  }

  function needKey(v, what) {
    const k = keySlots(v);
    if (!k) throw new TypeError(`${what} is not a CryptoKey`);
    return k;
  }

  function algorithmArg(v) {
    return v !== null && (typeof v === "object" || typeof v === "function") ? v : str(v);
  }

  // The shared start of encrypt, decrypt, sign, verify: the key fits the algorithm and has the usage.
  function fits(alg, k, usage) {
    if (alg.name !== k.algorithm.name) throw accessError(`the key is a ${k.algorithm.name} key, not ${alg.name}`);
    if (!k.usages.includes(usage)) throw accessError(`the key does not allow '${usage}'`);
  }

  function importKeyData(format, keyData) {
    if (format === "jwk") {
      if (keyData instanceof ArrayBuffer || isView(keyData)) throw new TypeError("importKey: jwk key data must be a JsonWebKey");
      return jsonWebKey(keyData);
    }
    return bufferSource(keyData, "importKey: keyData", true);
  }

  function doImport(format, keyData, alg, extractable, usages) {
    const a = ALG[alg.name];
    const key = a.importKey(format, keyData, alg, extractable, usages);
    const k = keySlots(key);
    if ((k.type === "secret" || k.type === "private") && !k.usages.length) throw syntaxError("importKey: usages must not be empty");
    return key;
  }

  function doExport(format, key) {
    const k = keySlots(key);
    if (!EXPORTABLE.has(k.algorithm.name)) throw notSupported(`${k.algorithm.name} keys cannot be exported`);
    if (!k.extractable) throw accessError("the key is not extractable");
    return ALG[k.algorithm.name].exportKey(format, key);
  }

  let subtleBrand;

  class SubtleCrypto {
    #brand;
    constructor(token) {
      if (token !== kToken) throw new TypeError("Illegal constructor");
      this.#brand = true;
    }
    static {
      subtleBrand = (o) => #brand in o;
    }

    encrypt(algorithm, key, data) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(3, n, "encrypt");
        algorithm = algorithmArg(algorithm);
        const k = needKey(key, "encrypt: key");
        const bytes = bufferSource(data, "encrypt: data", true);
        const alg = normalize(algorithm, "encrypt");
        fits(alg, k, "encrypt");
        return ALG[alg.name].encrypt(alg, key, bytes);
      });
    }

    decrypt(algorithm, key, data) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(3, n, "decrypt");
        algorithm = algorithmArg(algorithm);
        const k = needKey(key, "decrypt: key");
        const bytes = bufferSource(data, "decrypt: data", true);
        const alg = normalize(algorithm, "decrypt");
        fits(alg, k, "decrypt");
        return ALG[alg.name].decrypt(alg, key, bytes);
      });
    }

    sign(algorithm, key, data) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(3, n, "sign");
        algorithm = algorithmArg(algorithm);
        const k = needKey(key, "sign: key");
        // A string algorithm runs no user code before the data is read: no copy needed.
        const bytes = bufferSource(data, "sign: data", typeof algorithm !== "string");
        const alg = normalize(algorithm, "sign");
        fits(alg, k, "sign");
        return ALG[alg.name].sign(alg, key, bytes);
      });
    }

    verify(algorithm, key, signature, data) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(4, n, "verify");
        algorithm = algorithmArg(algorithm);
        const k = needKey(key, "verify: key");
        const copy = typeof algorithm !== "string";
        const sig = bufferSource(signature, "verify: signature", copy);
        const bytes = bufferSource(data, "verify: data", copy);
        const alg = normalize(algorithm, "verify");
        fits(alg, k, "verify");
        return ALG[alg.name].verify(alg, key, sig, bytes);
      });
    }

    digest(algorithm, data) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(2, n, "digest");
        algorithm = algorithmArg(algorithm);
        const bytes = bufferSource(data, "digest: data", typeof algorithm !== "string");
        const alg = normalize(algorithm, "digest");
        return nat(N.cDigest, alg.name, bytes);
      });
    }

    generateKey(algorithm, extractable, keyUsages) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(3, n, "generateKey");
        algorithm = algorithmArg(algorithm);
        extractable = !!extractable;
        const usages = toUsages(keyUsages);
        const alg = normalize(algorithm, "generateKey");
        const result = ALG[alg.name].generateKey(alg, extractable, usages);
        const k = keySlots(result);
        if (k ? k.type !== "public" && !k.usages.length : !keySlots(result.privateKey).usages.length)
          throw syntaxError("generateKey: usages must not be empty");
        return result;
      });
    }

    deriveKey(algorithm, baseKey, derivedKeyType, extractable, keyUsages) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(5, n, "deriveKey");
        algorithm = algorithmArg(algorithm);
        const k = needKey(baseKey, "deriveKey: baseKey");
        derivedKeyType = algorithmArg(derivedKeyType);
        extractable = !!extractable;
        const usages = toUsages(keyUsages);
        const alg = normalize(algorithm, "deriveBits");
        const importAlg = normalize(derivedKeyType, "importKey");
        const lengthAlg = normalize(derivedKeyType, "getKeyLength");
        if (alg.name !== k.algorithm.name) throw accessError(`the key is a ${k.algorithm.name} key, not ${alg.name}`);
        if (!k.usages.includes("deriveKey")) throw accessError("the key does not allow 'deriveKey'");
        const length = ALG[lengthAlg.name].getKeyLength(lengthAlg);
        const secret = ALG[alg.name].deriveBits(alg, baseKey, length);
        return doImport("raw", new Uint8Array(secret), importAlg, extractable, usages);
      });
    }

    deriveBits(algorithm, baseKey, length) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(2, n, "deriveBits");
        algorithm = algorithmArg(algorithm);
        const k = needKey(baseKey, "deriveBits: baseKey");
        length = length === undefined || length === null ? null : +length >>> 0;
        const alg = normalize(algorithm, "deriveBits");
        if (alg.name !== k.algorithm.name) throw accessError(`the key is a ${k.algorithm.name} key, not ${alg.name}`);
        if (!k.usages.includes("deriveBits")) throw accessError("the key does not allow 'deriveBits'");
        return ALG[alg.name].deriveBits(alg, baseKey, length);
      });
    }

    importKey(format, keyData, algorithm, extractable, keyUsages) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(5, n, "importKey");
        format = keyFormat(format);
        const data = importKeyData(format, keyData);
        algorithm = algorithmArg(algorithm);
        extractable = !!extractable;
        const usages = toUsages(keyUsages);
        const alg = normalize(algorithm, "importKey");
        return doImport(format, data, alg, extractable, usages);
      });
    }

    exportKey(format, key) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(2, n, "exportKey");
        format = keyFormat(format);
        needKey(key, "exportKey: key");
        return doExport(format, key);
      });
    }

    wrapKey(format, key, wrappingKey, wrapAlgorithm) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(4, n, "wrapKey");
        format = keyFormat(format);
        needKey(key, "wrapKey: key");
        const wk = needKey(wrappingKey, "wrapKey: wrappingKey");
        wrapAlgorithm = algorithmArg(wrapAlgorithm);
        let alg, op = "wrapKey";
        try {
          alg = normalize(wrapAlgorithm, "wrapKey");
        } catch (e) {
          if (!(e instanceof DOMException) || e.name !== "NotSupportedError") throw e;
          alg = normalize(wrapAlgorithm, "encrypt");
          op = "encrypt";
        }
        if (alg.name !== wk.algorithm.name) throw accessError(`the wrapping key is a ${wk.algorithm.name} key, not ${alg.name}`);
        if (!wk.usages.includes("wrapKey")) throw accessError("the wrapping key does not allow 'wrapKey'");
        const exported = doExport(format, key);
        const bytes = format === "jwk" ? new TextEncoder().encode(JSON.stringify(exported)) : new Uint8Array(exported);
        return ALG[alg.name][op](alg, wrappingKey, bytes);
      });
    }

    unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable, keyUsages) {
      const n = arguments.length;
      return settle(this, () => {
        needArgs(7, n, "unwrapKey");
        format = keyFormat(format);
        const wrapped = bufferSource(wrappedKey, "unwrapKey: wrappedKey", true);
        const uk = needKey(unwrappingKey, "unwrapKey: unwrappingKey");
        unwrapAlgorithm = algorithmArg(unwrapAlgorithm);
        unwrappedKeyAlgorithm = algorithmArg(unwrappedKeyAlgorithm);
        extractable = !!extractable;
        const usages = toUsages(keyUsages);
        let alg, op = "unwrapKey";
        try {
          alg = normalize(unwrapAlgorithm, "unwrapKey");
        } catch (e) {
          if (!(e instanceof DOMException) || e.name !== "NotSupportedError") throw e;
          alg = normalize(unwrapAlgorithm, "decrypt");
          op = "decrypt";
        }
        const importAlg = normalize(unwrappedKeyAlgorithm, "importKey");
        if (alg.name !== uk.algorithm.name) throw accessError(`the unwrapping key is a ${uk.algorithm.name} key, not ${alg.name}`);
        if (!uk.usages.includes("unwrapKey")) throw accessError("the unwrapping key does not allow 'unwrapKey'");
        const bytes = new Uint8Array(ALG[alg.name][op](alg, unwrappingKey, wrapped));
        const data = format === "jwk" ? parseJwkBytes(bytes) : bytes;
        return doImport(format, data, importAlg, extractable, usages);
      });
    }

    // Workers: compares two buffers of the same length in constant time.
    timingSafeEqual(a, b) {
      if (!(this instanceof SubtleCrypto) || !subtleBrand(this)) throw new TypeError("Illegal invocation");
      needArgs(2, arguments.length, "timingSafeEqual");
      const x = bufferSource(a, "timingSafeEqual: a"), y = bufferSource(b, "timingSafeEqual: b");
      if (x.byteLength !== y.byteLength) throw new TypeError("timingSafeEqual: the buffers must have the same byte length");
      return N.cTimingSafeEqual(x, y);
    }
  }
  Object.defineProperty(SubtleCrypto.prototype, Symbol.toStringTag, { value: "SubtleCrypto", configurable: true });
  for (const k of Object.getOwnPropertyNames(SubtleCrypto.prototype))
    if (k !== "constructor") Object.defineProperty(SubtleCrypto.prototype, k, { enumerable: true });

  const subtle = new SubtleCrypto(kToken);

  // ---- DigestStream (Workers) ----------------------------------------------------------------------

  // The class is made on first use, over the WritableStream of the streams prelude (or the global one).
  const streamsWritable = () => internal.streams?.WritableStream ?? globalThis.WritableStream;
  let DigestStreamClass;
  function digestStreamClass() {
    if (DigestStreamClass) return DigestStreamClass;
    const WS = streamsWritable();
    if (typeof WS !== "function") throw new TypeError("crypto.DigestStream needs WritableStream");
    const encoder = new TextEncoder();
    DigestStreamClass = class DigestStream extends WS {
      #digest;
      constructor(algorithm) {
        const alg = normalize(algorithmArg(algorithm), "digest");
        const handle = nat(N.cDigestNew, alg.name);
        let resolve, reject;
        const digest = new Promise((res, rej) => {
          resolve = res;
          reject = rej;
        });
        super({
          write(chunk) {
            try {
              const bytes = typeof chunk === "string" ? encoder.encode(chunk) : bufferSource(chunk, "DigestStream: chunk");
              nat(N.cDigestUpdate, handle, bytes);
            } catch (e) {
              reject(e); // the stream errors: so does its digest
              throw e;
            }
          },
          close() {
            resolve(nat(N.cDigestFinal, handle));
          },
          abort(reason) {
            reject(reason);
          },
        });
        digest.catch(() => {}); // a stream nobody asks the digest of is no unhandled rejection
        this.#digest = digest;
      }
      get digest() {
        return this.#digest;
      }
    };
    return DigestStreamClass;
  }

  // ---- Crypto -----------------------------------------------------------------------------------------

  // The `crypto` global of prelude.js becomes a Crypto: the same object, with subtle and DigestStream on its prototype.
  class Crypto {
    constructor() {
      throw new TypeError("Illegal constructor");
    }
    get subtle() {
      if (this !== globalThis.crypto && !(this instanceof Crypto)) throw new TypeError("Illegal invocation");
      return subtle;
    }
    get DigestStream() {
      return digestStreamClass();
    }
  }
  const cryptoObj = globalThis.crypto;
  for (const k of ["getRandomValues", "randomUUID"]) {
    const f = cryptoObj[k];
    if (f) Object.defineProperty(Crypto.prototype, k, { value: f, writable: true, enumerable: true, configurable: true });
  }
  Object.defineProperty(Crypto.prototype, Symbol.toStringTag, { value: "Crypto", configurable: true });
  Object.defineProperty(Crypto.prototype, "subtle", { enumerable: true });
  Object.setPrototypeOf(cryptoObj, Crypto.prototype);

  define("Crypto", Crypto);
  define("SubtleCrypto", SubtleCrypto);
  define("CryptoKey", CryptoKey);
  internal.crypto = { subtle, keySlots };
}
