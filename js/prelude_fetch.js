// prelude_fetch.js: Headers, Request, Response, the fetch event, and the
// dispatch entry point C++ calls for each request. Part of the prelude.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\0\r\n]|[^\0-\xff]/; // NUL, CR, LF, or not a ByteString
const trimHTTP = (v) => String(v).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
const kGuard = Symbol("guard");

function checkName(name) {
  name = String(name);
  if (!TOKEN.test(name)) throw new TypeError(`Headers: invalid header name '${name}'`);
  return name.toLowerCase();
}
function checkValue(value) {
  value = trimHTTP(value);
  if (BAD_VALUE.test(value)) throw new TypeError("Headers: invalid header value (NUL, CR, LF, or a character past U+00FF)");
  return value;
}

// Objects built with Object.create (incoming requests, clones) skip constructors, so no private methods here.

// An incoming request's headers stay the raw "Name: value\r\n…" text C++ gave (already
// validated by the HTTP parser) until something reads them.
const kFlat = Symbol("raw");
function listOf(h) {
  const raw = h[kFlat];
  if (raw !== undefined) {
    const list = [];
    for (const line of raw.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) list.push([line.slice(0, colon).toLowerCase(), trimHTTP(line.slice(colon + 1))]);
    }
    h[kList] = list;
    h[kFlat] = undefined;
  }
  return h[kList];
}

// Sets a header the runtime knows is valid (no checks); name in lower case.
function setTrusted(h, name, value) {
  const list = listOf(h);
  for (let i = 0; i < list.length; i++) {
    if (list[i][0] === name) {
      list[i][1] = value;
      h[kList] = list.filter((e, k) => k <= i || e[0] !== name);
      return;
    }
  }
  list.push([name, value]);
}
const hasTrusted = (h, name) => listOf(h).some((e) => e[0] === name);

function mutable(h) {
  if (h[kGuard] === "immutable") throw new TypeError("Headers: these headers are immutable");
}

// The sorted and combined view the iterators show; set-cookie values stay separate.
function sortedOf(h) {
  const names = [...new Set(listOf(h).map((e) => e[0]))].sort();
  const out = [];
  for (const n of names) {
    if (n === "set-cookie") for (const v of h.getSetCookie()) out.push([n, v]);
    else out.push([n, h.get(n)]);
  }
  return out;
}

class Headers {
  constructor(init) {
    this[kList] = [];
    this[kFlat] = undefined;
    this[kGuard] = "none";
    if (init === undefined) return;
    if (init === null || (typeof init !== "object" && typeof init !== "function"))
      throw new TypeError("Headers: init must be an object, an array of pairs or a Headers");
    // WebIDL: a sequence if it has @@iterator, else a record; a Headers with its own iterator is copied as it is.
    const iter = init[Symbol.iterator];
    if (iter === headersIterate && listOf(init) !== undefined) {
      for (const e of listOf(init)) listOf(this).push([e[0], e[1]]);
    } else if (iter !== undefined && iter !== null) {
      if (typeof iter !== "function") throw new TypeError("Headers: init's @@iterator is not callable");
      for (const pair of { [Symbol.iterator]: () => iter.call(init) }) {
        if (pair === null || (typeof pair !== "object" && typeof pair !== "function") || typeof pair[Symbol.iterator] !== "function")
          throw new TypeError("Headers: each entry must be a pair (a sequence of two strings)");
        const a = Array.from(pair);
        if (a.length !== 2) throw new TypeError("Headers: each pair must have exactly two items");
        this.append(a[0], a[1]);
      }
    } else {
      // record<ByteString, ByteString>: own keys in order; each enumerable one's value, read right after its descriptor.
      for (const k of Reflect.ownKeys(init)) {
        const desc = Reflect.getOwnPropertyDescriptor(init, k);
        if (desc === undefined || !desc.enumerable) continue;
        if (typeof k === "symbol") throw new TypeError("Headers: a record's keys must be strings");
        this.append(k, init[k]);
      }
    }
  }
  append(name, value) {
    mutable(this);
    listOf(this).push([checkName(name), checkValue(value)]);
  }
  delete(name) {
    mutable(this);
    name = checkName(name);
    this[kList] = listOf(this).filter((e) => e[0] !== name);
  }
  get(name) {
    name = checkName(name);
    let out = null;
    for (const e of listOf(this)) if (e[0] === name) out = out === null ? e[1] : out + ", " + e[1];
    return out;
  }
  getSetCookie() {
    return listOf(this).filter((e) => e[0] === "set-cookie").map((e) => e[1]);
  }
  has(name) {
    name = checkName(name);
    return listOf(this).some((e) => e[0] === name);
  }
  set(name, value) {
    mutable(this);
    name = checkName(name);
    value = checkValue(value);
    const i = listOf(this).findIndex((e) => e[0] === name);
    if (i < 0) listOf(this).push([name, value]);
    else {
      this[kList][i][1] = value;
      this[kList] = this[kList].filter((e, k) => k <= i || e[0] !== name);
    }
  }
  forEach(fn, thisArg) {
    if (typeof fn !== "function") throw new TypeError("Headers.forEach: callback is not a function");
    for (const [n, v] of sortedOf(this)) fn.call(thisArg, v, n, this);
  }
  entries() { return newHeadersIterator(this, 2); }
  keys() { return newHeadersIterator(this, 0); }
  values() { return newHeadersIterator(this, 1); }
  get [Symbol.toStringTag]() { return "Headers"; }
}
Headers.prototype[Symbol.iterator] = Headers.prototype.entries;
Object.defineProperty(Headers.prototype, Symbol.iterator, { enumerable: false });
const headersIterate = Headers.prototype.entries;
define("Headers", Headers);

// The Headers iterator of WebIDL: over the sorted, combined view taken when next() is first called.
const kIterTarget = Symbol("target"), kIterKind = Symbol("kind"), kIterIndex = Symbol("index");
const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
const HeadersIteratorPrototype = Object.create(IteratorPrototype, {
  next: {
    value: function next() {
      if (this === null || typeof this !== "object" || !(kIterTarget in this)) throw new TypeError("next: not a Headers iterator");
      const view = sortedOf(this[kIterTarget]);
      const i = this[kIterIndex];
      if (i >= view.length) return { value: undefined, done: true };
      this[kIterIndex] = i + 1;
      const e = view[i];
      return { value: this[kIterKind] === 2 ? [e[0], e[1]] : e[this[kIterKind]], done: false };
    },
    writable: true, enumerable: true, configurable: true,
  },
  [Symbol.toStringTag]: { value: "Headers Iterator", configurable: true },
});
function newHeadersIterator(h, kind) {
  if (h === null || typeof h !== "object" || !(kList in h)) throw new TypeError("Headers iterator: not a Headers");
  const it = Object.create(HeadersIteratorPrototype);
  it[kIterTarget] = h;
  it[kIterKind] = kind;
  it[kIterIndex] = 0;
  return it;
}

// ---- bodies --------------------------------------------------------------------------------

// A body is, in this[kBody]: null, a string or a Uint8Array (the common case: nothing streams, and no
// stream object is made), or a ReadableStream. A string or bytes become a stream only when JS reads
// `.body`; that stream remembers its source (kSource), so a body that is passed on unread
// (`new Response(res.body, res)`) stays a string or bytes and is sent with a Content-Length.
const kBody = Symbol("body"), kUsed = Symbol("bodyUsed"), kSource = Symbol("source");
const S = internal.streams;

function isStream(b) {
  return b !== null && typeof b === "object" && S.isReadableStream(b);
}

// Returns [body (string, Uint8Array, ReadableStream or null), default content type or null].
function extractBody(init, who) {
  if (init === null || init === undefined) return [null, null];
  if (typeof init === "string") return [init, "text/plain;charset=UTF-8"];
  if (init instanceof ArrayBuffer) return [new Uint8Array(init.slice(0)), null];
  if (ArrayBuffer.isView(init)) return [new Uint8Array(init.buffer.slice(init.byteOffset, init.byteOffset + init.byteLength)), null];
  if (init instanceof URLSearchParams) return [init.toString(), "application/x-www-form-urlencoded;charset=UTF-8"];
  if (internal.blob.isBlob(init)) return [internal.blob.bytesOf(init).slice(), init.type === "" ? null : init.type];
  if (internal.formdata.isFormData(init)) {
    const { bytes, type } = internal.formdata.serialize(init);
    return [bytes, type];
  }
  if (typeof init === "object" && S.isReadableStream(init)) {
    if (init.locked || S.isDisturbed(init)) throw new TypeError(`${who}: the body stream is locked or has already been read`);
    const src = init[kSource];
    if (src !== undefined) {
      // A stream of a string or bytes nobody read: take its source, and lock the stream as taking it would.
      init.getReader();
      return [src, null];
    }
    return [init, null];
  }
  return [String(init), "text/plain;charset=UTF-8"];
}

const textOf = (b) => (b === null ? "" : typeof b === "string" ? b : utf8Lossy.decode(b));
const bytesOf = (b) => (b === null ? new Uint8Array(0) : typeof b === "string" ? native.encode(b) : b);

// The body's content travels in a box with no prototype: a promise resolved with it never looks up
// `then` (a tenant's Object.prototype.then cannot intercept a body on its way).
const box = (v) => ({ __proto__: null, v });
const reboxed = (r) => (r !== null && typeof r === "object" && Object.getPrototypeOf(r) === null ? r : box(r));

// The body's content, taken (the body is used after this): a promise of a box of a string or bytes, or a rejection.
function consume(o) {
  const b = o[kBody];
  if (isStream(b)) {
    if (o[kUsed] || b.locked || S.isDisturbed(b)) return Promise.reject(new TypeError("Body has already been used"));
    const src = b[kSource];
    if (src !== undefined) {
      b.getReader(); // locked and used, as reading it to the end would leave it
      o[kUsed] = true;
      return Promise.resolve(box(src));
    }
    return S.readAll(b).then(reboxed);
  }
  if (o[kUsed]) return Promise.reject(new TypeError("Body has already been used"));
  if (b !== null) o[kUsed] = true;
  return Promise.resolve(box(b));
}

// The MIME type of a body, from its headers (for blob() and formData()).
const mimeOf = (o) => o[kHeadersOf].get("content-type") ?? "";

class Body {
  get body() {
    let b = this[kBody];
    if (b === null || isStream(b)) return b;
    const src = b;
    b = S.fromBytes(bytesOf(src));
    if (this[kUsed]) {
      // Read already: the stream is as reading it to its end leaves one (disturbed, and locked to the reader that read it).
      S.cancel(b);
      b.getReader();
    } else {
      b[kSource] = src;
    }
    this[kBody] = b;
    return b;
  }
  get bodyUsed() {
    const b = this[kBody];
    if (isStream(b)) return S.isDisturbed(b) || this[kUsed] === true;
    return this[kUsed];
  }
  text() {
    return consume(this).then((x) => textOf(x.v));
  }
  json() {
    return consume(this).then((x) => JSON.parse(textOf(x.v)));
  }
  arrayBuffer() {
    return consume(this).then((x) => {
      const b = x.v;
      if (b === null) return new ArrayBuffer(0);
      const bytes = typeof b === "string" ? native.encode(b) : b;
      return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
    });
  }
  bytes() {
    return this.arrayBuffer().then((ab) => new Uint8Array(ab));
  }
  blob() {
    return consume(this).then((x) => internal.blob.make(bytesOf(x.v), mimeOf(this)));
  }
  formData() {
    return consume(this).then((x) => internal.formdata.parse(bytesOf(x.v), mimeOf(this)));
  }
}

// A second body with the same content: a string or bytes are shared (immutable here), a stream is teed.
function cloneBody(from, to) {
  const b = from[kBody];
  if (isStream(b)) {
    if (b[kSource] !== undefined && !b.locked && !S.isDisturbed(b)) {
      to[kBody] = b[kSource];
    } else {
      const [x, y] = S.tee(b, true); // the clone's chunks are structured clones (Fetch: clone a body)
      from[kBody] = x;
      to[kBody] = y;
    }
  } else {
    to[kBody] = b;
  }
}

const unusable = (o) => {
  const b = o[kBody];
  return o.bodyUsed || (isStream(b) && b.locked);
};

// ---- Response ----------------------------------------------------------------------------

// A response from fetch() has its final URL and whether a redirect led there (prelude_fetch_out.js).
const kRespUrl = Symbol("responseUrl"), kRedirected = Symbol("redirected");
const kStatus = Symbol("status"), kStatusText = Symbol("statusText"), kHeadersOf = Symbol("headers"), kType = Symbol("type");
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
const REDIRECT = new Set([301, 302, 303, 307, 308]);

class Response extends Body {
  constructor(body = null, init = {}) {
    super();
    init = init ?? {};
    const status = init.status === undefined ? 200 : Number(init.status);
    if (!Number.isInteger(status) || status < 200 || status > 599)
      throw new RangeError(`Response: status ${init.status} is not in the range 200 to 599`);
    const statusText = init.statusText === undefined ? "" : String(init.statusText);
    if (/[^\t\x20-\x7e\x80-\xff]/.test(statusText)) throw new TypeError("Response: invalid statusText");
    this[kStatus] = status;
    this[kStatusText] = statusText;
    this[kType] = "default";
    this[kHeadersOf] = new Headers(init.headers);
    this[kUsed] = false;
    const [b, type] = extractBody(body, "Response");
    if (b !== null && NULL_BODY.has(status)) throw new TypeError(`Response: a ${status} response cannot have a body`);
    this[kBody] = b;
    if (type && !hasTrusted(this[kHeadersOf], "content-type")) listOf(this[kHeadersOf]).push(["content-type", type]);
  }
  static json(data, init = {}) {
    const s = JSON.stringify(data);
    if (s === undefined) throw new TypeError("Response.json: the value cannot be serialised to JSON");
    const r = new Response(null, init);
    if (NULL_BODY.has(r[kStatus])) throw new TypeError(`Response.json: a ${r[kStatus]} response cannot have a body`);
    r[kBody] = s;
    if (!hasTrusted(r[kHeadersOf], "content-type")) listOf(r[kHeadersOf]).push(["content-type", "application/json"]);
    return r;
  }
  static redirect(url, status = 302) {
    const u = new URL(String(url), globalThis.location?.href).href;
    if (!REDIRECT.has(status)) throw new RangeError(`Response.redirect: ${status} is not a redirect status`);
    const r = new Response(null, { status, headers: { location: u } });
    r[kHeadersOf][kGuard] = "immutable";
    return r;
  }
  static error() {
    const r = new Response(null, { status: 200 });
    r[kStatus] = 0;
    r[kType] = "error";
    r[kHeadersOf][kGuard] = "immutable";
    return r;
  }
  get status() { return this[kStatus]; }
  get statusText() { return this[kStatusText]; }
  get ok() { return this[kStatus] >= 200 && this[kStatus] <= 299; }
  get headers() { return this[kHeadersOf]; }
  get type() { return this[kType]; }
  get url() { return this[kRespUrl] ?? ""; }
  get redirected() { return this[kRedirected] === true; }
  clone() {
    if (unusable(this)) throw new TypeError("Response.clone: the body has already been used");
    const r = new Response(null, { status: this[kStatus] === 0 ? 200 : this[kStatus], statusText: this[kStatusText], headers: this[kHeadersOf] });
    r[kStatus] = this[kStatus];
    r[kType] = this[kType];
    r[kRespUrl] = this[kRespUrl];
    r[kRedirected] = this[kRedirected];
    r[kHeadersOf][kGuard] = this[kHeadersOf][kGuard];
    cloneBody(this, r);
    return r;
  }
  get [Symbol.toStringTag]() { return "Response"; }
}
define("Response", Response);

// ---- Request -----------------------------------------------------------------------------

const kMethod = Symbol("method"), kUrl = Symbol("url");
const NORMALIZED = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"]);

// Request's rarely read members (mode, cache, signal …), in one record: an incoming request shares the default one.
const kOpts = Symbol("options");
const ENUMS = {
  mode: ["navigate", "same-origin", "no-cors", "cors"],
  credentials: ["omit", "same-origin", "include"],
  cache: ["default", "no-store", "reload", "no-cache", "force-cache", "only-if-cached"],
  redirect: ["follow", "error", "manual"],
  referrerPolicy: ["", "no-referrer", "no-referrer-when-downgrade", "same-origin", "origin", "strict-origin",
    "origin-when-cross-origin", "strict-origin-when-cross-origin", "unsafe-url"],
  duplex: ["half"],
};
const DEFAULT_OPTS = Object.freeze({
  mode: "cors", credentials: "same-origin", cache: "default", redirect: "follow", referrer: "about:client",
  referrerPolicy: "", integrity: "", keepalive: false, signal: null, duplex: "half",
});
function enumOf(init, key) {
  const v = init[key];
  if (v === undefined) return undefined;
  const s = String(v);
  if (!ENUMS[key].includes(s)) throw new TypeError(`Request: '${s}' is not a valid value for ${key}`);
  return s;
}
const SIMPLE_METHODS = new Set(["GET", "HEAD", "POST"]);

class Request extends Body {
  constructor(input, init = {}) {
    super();
    if (init !== undefined && init !== null && typeof init !== "object" && typeof init !== "function")
      throw new TypeError("Request: init must be an object");
    init = init ?? {};
    // The dictionary's enumerations first (WebIDL converts RequestInit before the constructor's steps).
    const e = {};
    for (const k of ["cache", "credentials", "duplex", "mode", "redirect", "referrerPolicy"]) e[k] = enumOf(init, k);
    let method = "GET", url, headers, body = null;
    let from = null;
    const opts = { ...DEFAULT_OPTS };
    if (input instanceof Request) {
      method = input[kMethod];
      url = urlOf(input);
      headers = input[kHeadersOf];
      body = input[kBody];
      from = input;
      Object.assign(opts, input[kOpts]);
    } else {
      // Relative URLs resolve against `location` when the worker has one (as Deno's --location); Workers have none.
      const parsed = URL.parse(String(input), globalThis.location?.href);
      if (!parsed) throw new TypeError(`Request: invalid URL '${input}'`);
      if (parsed.username || parsed.password) throw new TypeError("Request: URLs with credentials are not allowed");
      url = parsed.href;
    }
    if (init.window !== undefined && init.window !== null) throw new TypeError("Request: window must be null");
    if (e.mode === "navigate") throw new TypeError("Request: the mode 'navigate' cannot be set");
    if (init.referrer !== undefined) {
      const ref = String(init.referrer);
      if (ref === "") opts.referrer = "";
      else {
        const parsed = URL.parse(ref, globalThis.location?.href);
        if (!parsed) throw new TypeError(`Request: invalid referrer '${ref}'`);
        opts.referrer = parsed.href === "about:client" || (globalThis.location && parsed.origin !== location.origin) ? "about:client" : parsed.href;
      }
    }
    for (const k of ["cache", "credentials", "mode", "redirect", "referrerPolicy", "duplex"]) if (e[k] !== undefined) opts[k] = e[k];
    if (opts.cache === "only-if-cached" && opts.mode !== "same-origin")
      throw new TypeError("Request: the cache mode 'only-if-cached' needs the mode 'same-origin'");
    if (init.integrity !== undefined) opts.integrity = String(init.integrity);
    if (init.keepalive !== undefined) opts.keepalive = !!init.keepalive;
    if (init.method !== undefined) {
      method = String(init.method);
      if (!TOKEN.test(method)) throw new TypeError(`Request: invalid method '${method}'`);
      const upper = method.toUpperCase();
      if (upper === "CONNECT" || upper === "TRACE" || upper === "TRACK") throw new TypeError(`Request: the method ${upper} is forbidden`);
      if (NORMALIZED.has(upper)) method = upper;
    }
    if (init.signal !== undefined) {
      if (init.signal !== null && !(init.signal instanceof AbortSignal)) throw new TypeError("Request: signal must be an AbortSignal");
      opts.signal = init.signal;
    }
    if (opts.mode === "no-cors" && !SIMPLE_METHODS.has(method))
      throw new TypeError(`Request: the method ${method} is not allowed with the mode 'no-cors'`);
    const hasInitBody = init.body !== undefined && init.body !== null;
    if ((hasInitBody || (from !== null && body !== null)) && (method === "GET" || method === "HEAD"))
      throw new TypeError(`Request: a ${method} request cannot have a body`);
    if (from !== null && body !== null && !hasInitBody && unusable(from))
      throw new TypeError("Request: the input's body has already been used");
    this[kMethod] = method;
    this[kUrl] = url;
    this[kOpts] = opts;
    this[kHeadersOf] = new Headers(init.headers !== undefined ? init.headers : headers);
    this[kUsed] = false;
    if (hasInitBody) {
      const [b, type] = extractBody(init.body, "Request");
      if (isStream(b) && opts.duplex !== "half" && e.duplex === undefined) throw new TypeError("Request: a ReadableStream body needs duplex: 'half'");
      body = b;
      if (type && !hasTrusted(this[kHeadersOf], "content-type")) listOf(this[kHeadersOf]).push(["content-type", type]);
    } else if (from !== null && body !== null && isStream(body)) {
      // The input's stream moves to the new request through a proxy stream (the input's is locked by the pipe).
      body = body[kSource] !== undefined ? body[kSource] : body.pipeThrough(new TransformStream());
    }
    // The input request is used from now on (as the 2021 Fetch tests have it, even when init gives a new body).
    if (from !== null && from[kBody] !== null) from[kUsed] = true;
    this[kBody] = body;
  }
  get method() { return this[kMethod]; }
  get url() { return urlOf(this); }
  get headers() { return this[kHeadersOf]; }
  get destination() { return ""; }
  get referrer() {
    const r = (this[kOpts] ?? DEFAULT_OPTS).referrer;
    return r === "about:client" ? "about:client" : r;
  }
  get referrerPolicy() { return (this[kOpts] ?? DEFAULT_OPTS).referrerPolicy; }
  get mode() { return (this[kOpts] ?? DEFAULT_OPTS).mode; }
  get credentials() { return (this[kOpts] ?? DEFAULT_OPTS).credentials; }
  get cache() { return (this[kOpts] ?? DEFAULT_OPTS).cache; }
  get redirect() { return (this[kOpts] ?? DEFAULT_OPTS).redirect; }
  get integrity() { return (this[kOpts] ?? DEFAULT_OPTS).integrity; }
  get keepalive() { return (this[kOpts] ?? DEFAULT_OPTS).keepalive; }
  get isReloadNavigation() { return false; }
  get isHistoryNavigation() { return false; }
  get duplex() { return "half"; }
  get signal() {
    const o = this[kOpts] ?? DEFAULT_OPTS;
    // A request nobody can abort still has a signal (one that never fires), made when first asked for.
    if (o.signal === null) {
      if (o === DEFAULT_OPTS) this[kOpts] = { ...DEFAULT_OPTS, signal: new AbortController().signal };
      else o.signal = new AbortController().signal;
    }
    return this[kOpts].signal;
  }
  clone() {
    if (unusable(this)) throw new TypeError("Request.clone: the body has already been used");
    const r = Object.create(Request.prototype);
    r[kMethod] = this[kMethod];
    r[kUrl] = urlOf(this);
    r[kOpts] = this[kOpts];
    r[kHeadersOf] = new Headers(this[kHeadersOf]);
    r[kHeadersOf][kGuard] = this[kHeadersOf][kGuard];
    r[kUsed] = false;
    cloneBody(this, r);
    return r;
  }
  get [Symbol.toStringTag]() { return "Request"; }
}
define("Request", Request);

// An incoming request, built without the constructor's checks: the HTTP layer validated it.
// An incoming request: its url is built when first read, from the target and the Host header.
// Its scheme is http:// unless it came over TLS (dispatch's https).
const kTarget = Symbol("target"), kHost = Symbol("host"), kScheme = Symbol("scheme");
// The last url built, with what it was built from: C++ passes the same string objects for a target and a host
// it saw last time, so the comparisons below are mostly pointer compares, and the URL parser finds the very
// string it cached (prelude_url.js) without hashing a new one.
let lastTarget = null, lastHost = null, lastScheme = null, lastUrl = null;
function urlOf(r) {
  let url = r[kUrl];
  if (url === undefined) {
    const t = r[kTarget], host = r[kHost], scheme = r[kScheme] || "http://";
    if (t === lastTarget && host === lastHost && scheme === lastScheme) {
      url = lastUrl;
    } else {
      url = t[0] === "/" ? scheme + (host || "localhost") + t : t.startsWith("http://") || t.startsWith("https://") ? t : scheme + (host || "localhost") + "/";
      lastTarget = t;
      lastHost = host;
      lastScheme = scheme;
      lastUrl = url;
    }
    r[kUrl] = url;
  }
  return url;
}

function incoming(method, target, host, raw, body) {
  const r = Object.create(Request.prototype);
  const h = Object.create(Headers.prototype);
  h[kList] = null;
  h[kFlat] = raw;
  h[kGuard] = "immutable";
  r[kMethod] = method;
  r[kUrl] = undefined;
  r[kTarget] = target;
  r[kHost] = host;
  r[kHeadersOf] = h;
  r[kOpts] = DEFAULT_OPTS;
  r[kBody] = body === undefined ? null : typeof body === "number" ? sourceStream(body, internal.req, null) : body;
  r[kUsed] = false;
  return r;
}

// ---- events (classic scripts) ------------------------------------------------------------------

const fetchListeners = [];
const kResponse = Symbol("response");

class FetchEvent {
  constructor(type, init) {
    this.type = String(type);
    this.request = init?.request;
    this[kResponse] = undefined;
  }
  respondWith(r) {
    if (this[kResponse] !== undefined) throw new DOMException("FetchEvent.respondWith: already called", "InvalidStateError");
    this[kResponse] = Promise.resolve(r);
  }
  waitUntil(p) { ctx.waitUntil(p); }
  passThroughOnException() {}
}
define("FetchEvent", FetchEvent);

// The global scope's events: "fetch" listeners are the classic script's handlers; every other type goes to
// the global's EventTarget (prelude_globals.js: the "error" events of reportError and of microtasks).
define("addEventListener", (type, listener, options) => {
  if (type === "fetch") {
    if (typeof listener === "function") fetchListeners.push(listener);
    return;
  }
  internal.globalEvents.addEventListener(type, listener, options);
});
define("removeEventListener", (type, listener, options) => {
  if (type === "fetch") {
    const i = fetchListeners.indexOf(listener);
    if (i >= 0) fetchListeners.splice(i, 1);
    return;
  }
  internal.globalEvents.removeEventListener(type, listener, options);
});
define("dispatchEvent", (event) => internal.globalEvents.dispatchEvent(event));

// ---- dispatch ------------------------------------------------------------------------------

const ctx = Object.freeze({
  waitUntil(p) {
    // The request's outgoing calls stay open until what it waits for settles (prelude_fetch_out.js).
    const done = internal.fetchOut.hold(internal.req);
    Promise.resolve(p).catch((e) => native.log(3, "waitUntil: " + inspect(e))).finally(done);
  },
  passThroughOnException() {},
});

let moduleDefault = null, env = Object.freeze({});

function describe(v) {
  if (v === undefined || v === null) return String(v);
  const what = typeof v === "object" && v.constructor ? v.constructor.name : typeof v;
  return (/^[aeiouAEIOU]/.test(what) ? "an " : "a ") + what;
}

const BLOCKS = new Map();

// What C++ reads: native.respond(status, block, body) for a string body or none (returns true), else
// [status, "name: value\n…" (values never hold CR or LF), body (Uint8Array)],
// or, for a body that is a stream: with `streaming` (the caller can send it as it comes),
// [status, block, null, id] with the stream under id in `outgoing`; without, a promise of the first
// shape once the stream was read to its end.
function serialize(r, streaming) {
  if (!(r instanceof Response)) throw new TypeError(`the fetch handler returned ${describe(r)}, not a Response`);
  if (r[kType] === "error") throw new TypeError("the fetch handler returned Response.error()");
  let list = listOf(r[kHeadersOf]);
  // A body fetch() decoded (gzip, br…) goes out as it is now, identity: its Content-Encoding no longer says what it is.
  if (isStream(r[kBody]) && r[kBody][kDecoded] === true) list = list.filter((e) => e[0] !== "content-encoding");
  let block;
  if (list.length === 1 && list[0][0] === "content-type") {
    // The common case: one content type. Its block is kept (flat, reused) for the next response.
    block = BLOCKS.get(list[0][1]);
    if (block === undefined) {
      block = "content-type: " + list[0][1] + "\n";
      if (BLOCKS.size < 64) BLOCKS.set(list[0][1], block);
    }
  } else {
    block = "";
    for (const e of list) block += e[0] + ": " + e[1] + "\n";
  }
  let b = r[kBody];
  if (isStream(b)) {
    if (r[kUsed] || b.locked || S.isDisturbed(b)) throw new TypeError("the fetch handler returned a Response whose body was already read");
    if (b[kSource] !== undefined) {
      b.getReader();
      b = b[kSource];
    } else if (streaming && b[kSourceId] !== undefined) {
      // Bytes from C (a fetch's body, a request body) passed on untouched: C sends them on itself, no JS per chunk.
      b.getReader();
      r[kUsed] = true;
      return [r[kStatus], block, null, 0, b[kSourceId]];
    } else if (streaming) {
      const id = nextOutgoing++;
      outgoing.set(id, { stream: b, reader: null, resume: null, cancelled: false });
      r[kUsed] = true;
      return [r[kStatus], block, null, id];
    } else {
      r[kUsed] = true;
      const status = r[kStatus];
      return S.readAll(b).then((x) => [status, block, x.v]);
    }
  }
  r[kUsed] = true;
  // A string body or none: handed straight to C++ (which copies it out now) instead of an array it would read
  // element by element; C++ sees that a response was staged and takes it.
  if (b === null || typeof b === "string") return native.respond(r[kStatus], block, b);
  return [r[kStatus], block, b];
}

// ---- bytes that arrive from C: request bodies that stream in, fetch's response bodies (js/stream.cc) ----------

// The pull of a source waiting for its next piece, by source id: [resolve, request]; uploadWake (an entry of its own)
// runs it, for the request the source belongs to.
const uploadWaits = new Map();
const kDecoded = Symbol("decoded"), kSourceId = Symbol("sourceId");

// A byte stream of source id. hooks (or null): done(ok) once when it ends (read to its end: true; an error, a cancel:
// false); hooks.error(reason) is set here: it errors the stream from outside (an abort) and lets the source go.
function sourceStream(id, req, hooks) {
  let ctl = null, finished = false;
  const fin = (ok) => {
    if (finished) return false;
    finished = true;
    uploadWaits.delete(id);
    if (hooks) hooks.done(ok);
    return true;
  };
  const pullOnce = (c) => {
    if (finished) return;
    let v;
    try {
      v = native.uploadPull(id); // a Uint8Array, null at the end, undefined: not there yet; throws on an error
    } catch (e) {
      fin(false);
      throw e;
    }
    if (v === undefined) return new Promise((resolve) => uploadWaits.set(id, [resolve, req])).then(() => pullOnce(c));
    if (v === null) {
      fin(true);
      c.close();
      if (c.byobRequest) c.byobRequest.respond(0);
      return;
    }
    c.enqueue(v);
  };
  const s = new ReadableStream({
    type: "bytes",
    start(c) { ctl = c; },
    pull: pullOnce,
    cancel() {
      if (fin(false)) native.uploadCancel(id);
    },
  }, { highWaterMark: 0 });
  s[kSourceId] = id;
  if (hooks) {
    hooks.error = (reason) => {
      if (!fin(false)) return;
      native.uploadCancel(id);
      try {
        ctl.error(reason);
      } catch {}
    };
  }
  return s;
}

function uploadWake(id) {
  const go = uploadWaits.get(id);
  if (go) {
    uploadWaits.delete(id);
    if (go[1]) internal.req = go[1];
    go[0]();
  }
}

// ---- streamed response bodies (js/stream.cc calls these, each in its own entry) --------------------

const outgoing = new Map();
let nextOutgoing = 1;

function toChunk(v) {
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  throw new TypeError(`a response body stream gave ${describe(v)}; its chunks must be Uint8Arrays`);
}

// Reads the stream chunk by chunk into the consumer; waits when the consumer says so.
function streamPump(id) {
  const o = outgoing.get(id);
  if (!o) return;
  o.reader = o.stream.getReader();
  const step = ({ value, done }) => {
    if (o.cancelled) return;
    if (done) {
      outgoing.delete(id);
      native.streamEnd(id, true);
      return;
    }
    if (native.streamWrite(id, toChunk(value))) return o.reader.read().then(step);
    if (o.cancelled) return;
    return new Promise((resolve) => (o.resume = resolve)).then(() => (o.cancelled ? undefined : o.reader.read().then(step)));
  };
  o.reader.read().then(step).catch((e) => {
    if (o.cancelled) return;
    outgoing.delete(id);
    native.log(3, "a response body stream failed: " + inspect(e));
    native.streamEnd(id, false);
    o.reader.cancel(e).catch(() => {});
  });
}

function streamResume(id) {
  const o = outgoing.get(id);
  if (o && o.resume) {
    const go = o.resume;
    o.resume = null;
    go();
  }
}

// The consumer went away (the client closed the connection): the stream's cancel steps run.
function streamCancel(id) {
  const o = outgoing.get(id);
  if (!o) return;
  outgoing.delete(id);
  o.cancelled = true;
  const reason = new DOMException("the client went away", "AbortError");
  (o.reader ? o.reader.cancel(reason) : S.cancel(o.stream, reason)).catch(() => {});
  if (o.resume) o.resume();
}

function dispatch(method, target, host, raw, body, streaming, reqNo, https) {
  internal.req = reqNo;
  const req = incoming(method, target, host, raw, body);
  if (https) req[kScheme] = "https://";
  let r;
  if (moduleDefault) {
    r = moduleDefault.fetch(req, env, ctx);
  } else {
    const ev = new FetchEvent("fetch", { request: req });
    for (const l of fetchListeners) {
      l.call(globalThis, ev);
      if (ev[kResponse] !== undefined) break;
    }
    if (ev[kResponse] === undefined) throw new TypeError("no fetch listener called event.respondWith()");
    r = ev[kResponse];
  }
  // A Response is serialised now; anything else (a promise) goes back to C++, which waits for it and calls serialize.
  return r instanceof Response ? serialize(r, streaming) : r;
}

// Called once after the tenant's code ran: def is the module's default export (or undefined for a classic script).
function setHandler(def, vars, services) {
  // Service bindings: env.BINDING is a Fetcher of the service (prelude_fetch_out.js).
  if (services) for (const [binding, service] of services) vars[binding] = internal.fetchOut.fetcher(binding, service);
  env = Object.freeze(vars);
  if (def !== undefined) {
    if (def === null || typeof def !== "object" || typeof def.fetch !== "function")
      throw new TypeError("the default export has no fetch method (expected: export default { fetch(request, env, ctx) { ... } })");
    moduleDefault = def;
  } else if (fetchListeners.length === 0) {
    throw new TypeError('the script added no fetch listener (expected: addEventListener("fetch", (event) => event.respondWith(...)))');
  }
}

// The return of the prelude's function (the entry points C++ calls) is at the end of prelude_fetch_out.js, the last file.
