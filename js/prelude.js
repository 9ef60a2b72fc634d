// prelude.js: the Web API of a Workers isolate, in JS over a few natives.
//
// The build joins this file with prelude_url.js into one function body,
// `(function (native, tenantName) { … })`, which js/worker.cc runs once per
// context before the tenant's code. It defines the globals, then returns the
// entry points C++ calls: dispatch (one request), fire (a timer),
// setHandler. `native` is never reachable from tenant code.
//
// What lives in native code (js/webapi.cc) is what is hot or needs the
// host: UTF-8 encode/decode, randomness, clocks, timers on the reactor,
// structured clone, logging, UTS #46.
"use strict";

const define = (name, value) =>
  Object.defineProperty(globalThis, name, { value, writable: true, enumerable: false, configurable: true });

// What the prelude's files share with one another (never reachable from tenant code). Each file after
// this one is a block `{ … }`, so its own names stay its own; what another file needs goes here:
// internal.events, internal.streams, internal.blob, internal.compression, internal.crypto.
const internal = {};

// SharedArrayBuffer and Atomics are removed by worker.cc for each context (V8 re-creates them).

// ---- DOMException -------------------------------------------------------------------
// As WebIDL gives it: name, message and code are getters on the prototype (brand-checked through the private
// fields), the legacy code constants sit on the constructor and the prototype, the prototype's prototype is
// Error.prototype, and each instance gets a `stack` from Error.captureStackTrace, like an Error.

const DOM_ERRORS = [
  // [name, legacy code, constant], in code order; names with code 0 have no constant.
  ["IndexSizeError", 1, "INDEX_SIZE_ERR"], [null, 2, "DOMSTRING_SIZE_ERR"], ["HierarchyRequestError", 3, "HIERARCHY_REQUEST_ERR"],
  ["WrongDocumentError", 4, "WRONG_DOCUMENT_ERR"], ["InvalidCharacterError", 5, "INVALID_CHARACTER_ERR"],
  [null, 6, "NO_DATA_ALLOWED_ERR"], ["NoModificationAllowedError", 7, "NO_MODIFICATION_ALLOWED_ERR"],
  ["NotFoundError", 8, "NOT_FOUND_ERR"], ["NotSupportedError", 9, "NOT_SUPPORTED_ERR"],
  ["InUseAttributeError", 10, "INUSE_ATTRIBUTE_ERR"], ["InvalidStateError", 11, "INVALID_STATE_ERR"],
  ["SyntaxError", 12, "SYNTAX_ERR"], ["InvalidModificationError", 13, "INVALID_MODIFICATION_ERR"],
  ["NamespaceError", 14, "NAMESPACE_ERR"], ["InvalidAccessError", 15, "INVALID_ACCESS_ERR"], [null, 16, "VALIDATION_ERR"],
  ["TypeMismatchError", 17, "TYPE_MISMATCH_ERR"], ["SecurityError", 18, "SECURITY_ERR"], ["NetworkError", 19, "NETWORK_ERR"],
  ["AbortError", 20, "ABORT_ERR"], ["URLMismatchError", 21, "URL_MISMATCH_ERR"], ["QuotaExceededError", 22, "QUOTA_EXCEEDED_ERR"],
  ["TimeoutError", 23, "TIMEOUT_ERR"], ["InvalidNodeTypeError", 24, "INVALID_NODE_TYPE_ERR"], ["DataCloneError", 25, "DATA_CLONE_ERR"],
];
const DOM_CODES = new Map(DOM_ERRORS.filter((e) => e[0] !== null).map((e) => [e[0], e[1]]));

class DOMException {
  #name;
  #message;
  constructor(message = undefined, name = undefined) {
    this.#message = message === undefined ? "" : `${message}`;
    this.#name = name === undefined ? "Error" : `${name}`;
    Error.captureStackTrace(this, DOMException);
  }
  get name() { return this.#name; }
  get message() { return this.#message; }
  get code() { return DOM_CODES.get(this.#name) ?? 0; }
}
Object.setPrototypeOf(DOMException.prototype, Error.prototype);
for (const key of ["name", "message", "code"]) {
  const d = Object.getOwnPropertyDescriptor(DOMException.prototype, key);
  Object.defineProperty(DOMException.prototype, key, { ...d, enumerable: true });
}
for (const [, code, constant] of DOM_ERRORS) {
  const d = { value: code, writable: false, enumerable: true, configurable: false };
  Object.defineProperty(DOMException, constant, d);
  Object.defineProperty(DOMException.prototype, constant, d);
}
Object.defineProperty(DOMException.prototype, Symbol.toStringTag, { value: "DOMException", configurable: true });
define("DOMException", DOMException);

// ---- encoding ----------------------------------------------------------------------------

const UTF8_LABELS = new Set(["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"]);

class TextEncoder {
  get encoding() { return "utf-8"; }
  encode(input = "") { return native.encode(String(input)); }
  encodeInto(source, destination) {
    if (!(destination instanceof Uint8Array)) throw new TypeError("TextEncoder.encodeInto: destination is not a Uint8Array");
    const [read, written] = native.encodeInto(String(source), destination);
    return { read, written };
  }
}

const kFatal = Symbol("fatal"), kBOM = Symbol("ignoreBOM"), kPending = Symbol("pending"), kSeen = Symbol("bomSeen");

// The length of an incomplete UTF-8 sequence at the end of bytes (0 when it ends on a boundary).
function utf8Tail(bytes) {
  const n = bytes.length;
  for (let back = 1; back <= 3 && back <= n; back++) {
    const b = bytes[n - back];
    if ((b & 0xc0) !== 0x80) {
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      return need > back ? back : 0;
    }
  }
  return 0;
}

function toBytes(input, who) {
  if (input === undefined) return new Uint8Array(0);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError(`${who}: expected an ArrayBuffer or a view of one`);
}

class TextDecoder {
  constructor(label = "utf-8", options = {}) {
    label = String(label).trim().toLowerCase();
    if (!UTF8_LABELS.has(label)) throw new RangeError(`TextDecoder: the encoding '${label}' is not supported (only UTF-8 is)`);
    this[kFatal] = !!options?.fatal;
    this[kBOM] = !!options?.ignoreBOM;
    this[kPending] = null;
    this[kSeen] = false;
  }
  get encoding() { return "utf-8"; }
  get fatal() { return this[kFatal]; }
  get ignoreBOM() { return this[kBOM]; }
  decode(input, options = {}) {
    let bytes = toBytes(input, "TextDecoder.decode");
    if (this[kPending]) {
      const joined = new Uint8Array(this[kPending].length + bytes.length);
      joined.set(this[kPending]);
      joined.set(bytes, this[kPending].length);
      bytes = joined;
      this[kPending] = null;
    }
    if (options?.stream) {
      const tail = utf8Tail(bytes);
      if (tail) {
        this[kPending] = bytes.slice(bytes.length - tail);
        bytes = bytes.subarray(0, bytes.length - tail);
      }
    }
    const stripBOM = !this[kBOM] && !this[kSeen];
    if (bytes.length) this[kSeen] = true;
    if (!options?.stream) this[kSeen] = false;
    const s = native.decode(bytes, this[kFatal], stripBOM);
    if (s === null) throw new TypeError("TextDecoder.decode: the input is not valid UTF-8");
    return s;
  }
}
define("TextEncoder", TextEncoder);
define("TextDecoder", TextDecoder);

// ---- base64 ------------------------------------------------------------------------------

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_INDEX[B64.charCodeAt(i)] = i;

function btoa(data) {
  if (arguments.length === 0) throw new TypeError("btoa: 1 argument required");
  const s = String(data);
  let out = "";
  for (let i = 0; i < s.length; i += 3) {
    const a = s.charCodeAt(i), b = s.charCodeAt(i + 1), c = s.charCodeAt(i + 2);
    if (a > 255 || b > 255 || c > 255) throw new DOMException("btoa: the string contains characters outside of Latin1", "InvalidCharacterError");
    const n = (a << 16) | ((b || 0) << 8) | (c || 0);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < s.length ? B64[(n >> 6) & 63] : "=") + (i + 2 < s.length ? B64[n & 63] : "=");
  }
  return out;
}

function atob(data) {
  if (arguments.length === 0) throw new TypeError("atob: 1 argument required");
  let s = String(data).replace(/[\t\n\f\r ]/g, "");
  if (s.length % 4 === 0) s = s.replace(/==?$/, "");
  const bad = () => new DOMException("atob: the string is not correctly encoded", "InvalidCharacterError");
  if (s.length % 4 === 1) throw bad();
  let out = "", buf = 0, bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64_INDEX[c] : -1;
    if (v < 0) throw bad();
    buf = (buf << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((buf >> bits) & 255);
    }
  }
  return out;
}
define("btoa", btoa);
define("atob", atob);

// ---- console -----------------------------------------------------------------------------

function inspect(v, depth = 0, seen = new Set()) {
  switch (typeof v) {
    case "string": return depth ? JSON.stringify(v) : v;
    case "function": return `[Function: ${v.name || "(anonymous)"}]`;
    case "symbol": case "number": case "boolean": case "undefined": return String(v);
    case "bigint": return `${v}n`;
  }
  if (v === null) return "null";
  if (v instanceof Error) return v.stack || `${v.name}: ${v.message}`;
  if (seen.has(v)) return "[Circular]";
  if (depth > 2) return Array.isArray(v) ? "[Array]" : "[Object]";
  seen.add(v);
  try {
    if (Array.isArray(v)) return `[ ${v.map((x) => inspect(x, depth + 1, seen)).join(", ")} ]`;
    if (v instanceof Map) return `Map(${v.size}) { ${[...v].map(([k, x]) => `${inspect(k, depth + 1, seen)} => ${inspect(x, depth + 1, seen)}`).join(", ")} }`;
    if (v instanceof Set) return `Set(${v.size}) { ${[...v].map((x) => inspect(x, depth + 1, seen)).join(", ")} }`;
    if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.length}) [ ${Array.prototype.slice.call(v, 0, 50).join(", ")} ]`;
    if (v instanceof URL || v instanceof URLSearchParams) return `${v.constructor.name} { ${v} }`;
    if (v instanceof Headers) return `Headers { ${[...v].map(([k, x]) => `${k}: ${x}`).join(", ")} }`;
    const keys = Object.keys(v);
    const name = v.constructor && v.constructor !== Object ? v.constructor.name + " " : "";
    return `${name}{ ${keys.map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${inspect(v[k], depth + 1, seen)}`).join(", ")} }`.replace("{  }", "{}");
  } finally {
    seen.delete(v);
  }
}

function format(args) {
  let first = args[0], rest = 1, out;
  if (typeof first === "string" && first.includes("%")) {
    out = first.replace(/%[sdifjoOc%]/g, (m) => {
      if (m === "%%") return "%";
      if (rest >= args.length) return m;
      const a = args[rest++];
      switch (m) {
        case "%s": return typeof a === "string" ? a : inspect(a, 1);
        case "%d": case "%i": return typeof a === "bigint" ? `${a}n` : String(m === "%i" ? Math.trunc(Number(a)) : Number(a));
        case "%f": return String(Number(a));
        case "%j": try { return JSON.stringify(a); } catch { return "[Circular]"; }
        case "%c": return "";
        default: return inspect(a, 1);
      }
    });
  } else {
    out = args.length ? inspect(first) : "";
  }
  for (; rest < args.length; rest++) out += " " + inspect(args[rest]);
  return out;
}

const consoleObj = {};
for (const [name, level] of [["log", 1], ["info", 1], ["debug", 0], ["warn", 2], ["error", 3], ["trace", 0]])
  consoleObj[name] = (...args) => native.log(level, format(args));
define("console", consoleObj);

// ---- timers, microtasks, clone, crypto, performance --------------------------------------------

const timers = new Map();
let nextTimer = 1;

function toDelay(ms) {
  ms = Number(ms);
  return ms >= 0 && ms <= 2147483647 ? Math.floor(ms) : 0;
}
function addTimer(fn, ms, args, repeat) {
  if (typeof fn !== "function") throw new TypeError("setTimeout/setInterval: the callback must be a function (strings are not evaluated)");
  const id = nextTimer++;
  const delay = toDelay(ms);
  timers.set(id, { fn, args, repeat });
  native.timerStart(id, delay, repeat);
  return id;
}
function clearTimer(id) {
  id = Number(id);
  if (timers.delete(id)) native.timerStop(id);
}
define("setTimeout", (fn, ms, ...args) => addTimer(fn, ms, args, false));
define("setInterval", (fn, ms, ...args) => addTimer(fn, ms, args, true));
define("clearTimeout", clearTimer);
define("clearInterval", clearTimer);

// Called by C++ when timer id fires.
function fire(id) {
  const t = timers.get(id);
  if (!t) return;
  if (!t.repeat) timers.delete(id);
  t.fn.apply(globalThis, t.args);
}

define("queueMicrotask", (fn) => {
  if (typeof fn !== "function") throw new TypeError("queueMicrotask: the callback must be a function");
  Promise.resolve().then(() => fn());
});

define("structuredClone", function structuredClone(value, options) {
  if (arguments.length === 0) throw new TypeError("structuredClone: 1 argument required");
  try {
    return native.clone(value);
  } catch (e) {
    throw new DOMException(String(e && e.message ? e.message : e), "DataCloneError");
  }
});

const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array];
const cryptoObj = {
  getRandomValues(array) {
    if (!INTEGER_ARRAYS.some((C) => array instanceof C))
      throw new DOMException("crypto.getRandomValues: the argument must be an integer typed array", "TypeMismatchError");
    if (array.byteLength > 65536)
      throw new DOMException(`crypto.getRandomValues: ${array.byteLength} bytes asked, 65536 at most`, "QuotaExceededError");
    native.random(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    return array;
  },
  randomUUID() {
    const b = native.random(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = "";
    for (let i = 0; i < 16; i++) {
      h += (b[i] + 0x100).toString(16).slice(1);
      if (i === 3 || i === 5 || i === 7 || i === 9) h += "-";
    }
    return h;
  },
};
define("crypto", cryptoObj);

// timeOrigin is read when asked: the prelude itself runs once, into the startup snapshot.
define("performance", {
  now: () => native.now(),
  get timeOrigin() { return native.timeOrigin(); },
});

define("self", globalThis);
