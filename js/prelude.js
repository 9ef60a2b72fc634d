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
const internal = { req: 0 }; // req: the number of the request the running code works for (0: none, the top level)

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

// The Console Standard's namespace object: its [[Prototype]] is an empty object, its members are plain
// functions, and @@toStringTag says "console". Counters and timers are per isolate; groups indent.
const consoleObj = Object.create(Object.create(Object.prototype));
let groupIndent = "";
const say = (level, args) => native.log(level, groupIndent + format(args));
const labelOf = (label) => (label === undefined ? "default" : String(label));
const counts = new Map(), timers0 = new Map();
const consoleMethods = {
  log(...args) { say(1, args); },
  info(...args) { say(1, args); },
  debug(...args) { say(0, args); },
  warn(...args) { say(2, args); },
  error(...args) { say(3, args); },
  trace(...args) { say(0, ["Trace:", ...args, "\n" + (new Error().stack || "").split("\n").slice(2).join("\n")]); },
  dir(item) { say(1, [item]); },
  dirxml(...args) { say(1, args); },
  table(data) { say(1, [data]); },
  assert(condition = false, ...args) {
    if (condition) return;
    if (typeof args[0] === "string") args[0] = "Assertion failed: " + args[0];
    else args.unshift("Assertion failed");
    say(3, args);
  },
  clear() {},
  count(label) {
    label = labelOf(label);
    const n = (counts.get(label) || 0) + 1;
    counts.set(label, n);
    say(1, [`${label}: ${n}`]);
  },
  countReset(label) {
    label = labelOf(label);
    if (counts.has(label)) counts.set(label, 0);
    else say(2, [`Count for '${label}' does not exist`]);
  },
  group(...args) {
    if (args.length) say(1, args);
    groupIndent += "  ";
  },
  groupCollapsed(...args) {
    if (args.length) say(1, args);
    groupIndent += "  ";
  },
  groupEnd() { groupIndent = groupIndent.slice(2); },
  time(label) {
    label = labelOf(label);
    if (timers0.has(label)) return say(2, [`Timer '${label}' already exists`]);
    timers0.set(label, native.now());
  },
  timeLog(label, ...data) {
    label = labelOf(label);
    if (!timers0.has(label)) return say(2, [`Timer '${label}' does not exist`]);
    say(1, [`${label}: ${native.now() - timers0.get(label)} ms`, ...data]);
  },
  timeEnd(label) {
    label = labelOf(label);
    if (!timers0.has(label)) return say(2, [`Timer '${label}' does not exist`]);
    const t = timers0.get(label);
    timers0.delete(label);
    say(1, [`${label}: ${native.now() - t} ms`]);
  },
};
for (const name of Object.keys(consoleMethods))
  Object.defineProperty(consoleObj, name, { value: consoleMethods[name], writable: true, enumerable: true, configurable: true });
Object.defineProperty(consoleObj, Symbol.toStringTag, { value: "console", writable: false, enumerable: false, configurable: true });
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
  timers.set(id, { fn, args, repeat, req: internal.req });
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
  internal.req = t.req; // the request that set the timer is the one its callback works for (fetch counts against it)
  t.fn.apply(globalThis, t.args);
}

// An exception a callback throws is reported (as HTML's microtask steps do): internal.reportError comes
// from prelude_globals.js, which has run by the time any callback does.
define("queueMicrotask", function queueMicrotask(fn) {
  if (typeof fn !== "function") throw new TypeError("queueMicrotask: the callback must be a function");
  Promise.resolve().then(() => {
    try {
      fn();
    } catch (e) {
      internal.reportError(e);
    }
  });
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
