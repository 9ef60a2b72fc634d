// prelude_fetch_out.js: the outgoing side of fetch: the global fetch(input, init) and service bindings'
// env.BINDING.fetch(), over js/fetch.cc's natives (the core's own HTTP client, on the worker's reactor).
// Part of the prelude; it follows prelude_fetch.js at the same scope (it uses its Request and Response
// internals) and ends with the prelude's return: the entry points C++ calls.
//
// A call: fetchStart gives an id; its events come in entries of their own (fetchEvent(id), from a task of
// the reactor): the head (with the id of the body's source, a byte stream of js/stream.cc), a failure
// before it, or a drain (a streamed request body may go on). Requests: each incoming request has a number
// (internal.req, set by each entry for the request it works for); its state here (subrequests made,
// connections open, the calls it has out) is made by its first fetch, so that a worker that never fetches
// pays nothing. When C++ says the request is answered (requestOver), its calls still out are aborted,
// unless ctx.waitUntil holds the request open, then when what it waits for settles.
{
  const states = new Map(); // request number → its state
  const calls = new Map(); // call id → call
  let LIMITS = null; // [subrequests, connections] of the tenant, read on the first fetch (never at snapshot time)
  const limits = () => (LIMITS ??= native.fetchLimits());

  function stateOf(req) {
    let st = states.get(req);
    if (st === undefined) {
      st = { req, n: 0, open: 0, queue: [], calls: new Set(), holds: 0, over: false };
      states.set(req, st);
      native.fetchTrack(req);
    }
    return st;
  }

  const overError = () => new TypeError("fetch: the request that made this fetch has been answered; it was cancelled");

  // The request is over for its calls: every one still out is aborted, every fetch waiting for a connection rejected.
  function endState(st) {
    states.delete(st.req);
    for (const call of [...st.calls]) abortCall(call, overError());
    for (const w of st.queue.splice(0)) w.reject(overError());
  }

  // ctx.waitUntil(p): the request's calls stay open until p settles; returns what to call then.
  function hold(req) {
    if (!req) return () => {};
    const st = stateOf(req);
    st.holds++;
    return () => {
      st.holds--;
      if (st.over && st.holds === 0 && states.get(req) === st) endState(st);
    };
  }

  function requestOver(req) {
    const st = states.get(req);
    if (st === undefined) return;
    st.over = true;
    if (st.holds === 0) endState(st);
  }

  // A connection of the request's: at once when fewer than the limit are open, else when one is let go.
  function slot(st, signal) {
    if (st.open < limits()[1]) {
      st.open++;
      return undefined;
    }
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      st.queue.push(w);
      signal?.addEventListener("abort", () => {
        const i = st.queue.indexOf(w);
        if (i >= 0) {
          st.queue.splice(i, 1);
          reject(signal.reason);
        }
      }, { once: true });
    });
  }
  function release(st) {
    const next = st.queue.shift();
    if (next) next.resolve(); // the connection passes to the next fetch waiting
    else st.open--;
  }

  function cleanup(call) {
    calls.delete(call.id);
    call.st.calls.delete(call);
    if (call.signal && call.onAbort) call.signal.removeEventListener("abort", call.onAbort);
    call.onAbort = null;
  }

  // Abandons a call: before its head the fetch rejects with reason; after it, its body stream errors with reason.
  function abortCall(call, reason) {
    if (call.dead) return;
    call.dead = true;
    native.fetchAbort(call.id);
    if (call.reader) call.reader.cancel(reason).catch(() => {});
    if (!call.settled) {
      call.settled = true;
      cleanup(call);
      call.reject(reason);
    } else if (call.hooks) {
      call.hooks.error(reason); // its done hook cleans up and lets the connection go
    } else {
      cleanup(call);
    }
  }

  // Each event of call id (an entry of its own, from js/fetch.cc's task).
  function fetchEvent(id) {
    const call = calls.get(id);
    if (call === undefined) return;
    internal.req = call.req;
    for (let ev; (ev = native.fetchTake(id)) !== undefined;) {
      if (ev[0] === 1) {
        call.settled = true;
        call.resolve({ status: ev[1], reason: ev[2], raw: ev[3], srcId: ev[4], call });
      } else if (ev[0] === 2) {
        call.settled = true;
        call.dead = true;
        cleanup(call);
        call.reject(new TypeError(ev[1]));
      } else if (ev[0] === 3) {
        const go = call.drain;
        call.drain = null;
        if (go) go();
      }
    }
  }

  function chunkOf(v) {
    if (v instanceof Uint8Array) return v;
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    throw new TypeError(`fetch: a request body stream gave ${describe(v)}; its chunks must be Uint8Arrays`);
  }

  // Sends a ReadableStream body as it comes: a write the connection can't take yet waits for its drain.
  async function pumpBody(call, stream) {
    const reader = stream.getReader();
    call.reader = reader;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (call.dead) return;
        if (done) break;
        const r = native.fetchWrite(call.id, chunkOf(value));
        if (r < 0) {
          // The call is over (its end says why, or it was aborted): what is left of the body is not needed.
          reader.cancel().catch(() => {});
          return;
        }
        if (r === 0) await new Promise((resolve) => (call.drain = resolve));
        if (call.dead) return;
      }
      native.fetchEnd(call.id);
    } catch (e) {
      if (!call.dead) abortCall(call, e instanceof Error ? e : new TypeError(`fetch: the request body stream failed: ${e}`));
    } finally {
      call.reader = null;
    }
  }

  const isHttp = (u) => u.protocol === "http:" || u.protocol === "https:";

  // One request on the wire (or to a service): a promise of its head.
  function oneCall(st, url, method, headers, body, signal, service) {
    return new Promise((resolve, reject) => {
      const call = { id: 0, req: st.req, st, resolve, reject, drain: null, settled: false, dead: false, hooks: null,
        reader: null, signal, onAbort: null };
      if (service) {
        let raw = "";
        for (const [n, v] of headers) if (!HOP_HEADERS.has(n)) raw += n + ": " + v + "\r\n";
        call.id = native.svcFetch(st.req, service[0], service[1], method, url.href, raw, body);
      } else {
        const lines = [];
        let encoding = false;
        for (const [n, v] of headers) {
          if (HOP_HEADERS.has(n)) continue;
          if (n === "accept-encoding") encoding = true;
          lines.push(n + ": " + v);
        }
        // As Workers does: the body may come compressed, and is decoded as it streams (see the response below).
        if (!encoding) lines.push("accept-encoding: gzip, deflate, br");
        const streamed = isStream(body);
        const length = body === null ? 0 : streamed ? -1 : body.byteLength;
        const tls = url.protocol === "https:";
        const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
        const port = url.port !== "" ? Number(url.port) : tls ? 443 : 80;
        call.id = native.fetchStart(st.req, tls, host, port, method, url.pathname + url.search, lines, length, url.href);
        if (length > 0) {
          native.fetchWrite(call.id, body);
          native.fetchEnd(call.id);
        }
        if (streamed) pumpBody(call, body);
      }
      calls.set(call.id, call);
      st.calls.add(call);
      if (signal) {
        call.onAbort = () => abortCall(call, signal.reason);
        signal.addEventListener("abort", call.onAbort, { once: true });
      }
    });
  }

  // The body of a response nobody will read (a redirect followed): its source is let go (the call is abandoned).
  function discard(head) {
    head.call.dead = true;
    if (typeof head.srcId === "number" && head.srcId) native.uploadCancel(head.srcId);
    native.fetchAbort(head.call.id);
    cleanup(head.call);
  }

  // Headers the client writes itself (Host from the URL, the framing from the body) or that belong to one connection:
  // a request passed on (fetch(new Request(url, request))) does not carry the incoming ones.
  const HOP_HEADERS = new Set(["host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
    "upgrade", "expect", "proxy-connection"]);
  const BODY_HEADERS = new Set(["content-type", "content-encoding", "content-language", "content-location", "content-length"]);
  const CREDENTIAL_HEADERS = new Set(["authorization", "cookie", "proxy-authorization"]);
  const CODINGS = new Set(["gzip", "x-gzip", "deflate", "br"]);

  function makeResponse(st, head, url, redirected, method) {
    const h = Object.create(Headers.prototype);
    h[kList] = null;
    h[kFlat] = head.raw;
    h[kGuard] = "immutable";
    const r = Object.create(Response.prototype);
    r[kStatus] = head.status;
    r[kStatusText] = head.reason;
    r[kType] = "default";
    r[kHeadersOf] = h;
    r[kUsed] = false;
    r[kRespUrl] = url.href;
    r[kRedirected] = redirected;
    const call = head.call;
    let body = null;
    const coding = head.srcId ? h.get("content-encoding") : null;
    const decode = coding !== null && CODINGS.has(coding.trim().toLowerCase());
    if (head.srcId instanceof Uint8Array && !decode) {
      // The whole body came with the head: bytes, as a body built in JS would be (sent on with a Content-Length).
      body = head.srcId;
      cleanup(call);
      release(st);
    } else if (head.srcId instanceof Uint8Array) {
      body = internal.compression.decodeBody(S.fromBytes(head.srcId), coding);
      body[kDecoded] = true;
      cleanup(call);
      release(st);
    } else if (head.srcId && method !== "HEAD" && !NULL_BODY.has(head.status)) {
      // The connection stays the request's until the body is read to its end, cancelled or errored.
      const hooks = {
        done() {
          cleanup(call);
          release(st);
        },
        error: null,
      };
      call.hooks = hooks;
      body = sourceStream(head.srcId, st.req, hooks);
      // Content-Encoding is decoded as the body streams; the headers stay as they came (Content-Length counts the
      // encoded bytes), as on Workers. Passed on as a response, the body goes out decoded, without Content-Encoding.
      if (decode) {
        body = internal.compression.decodeBody(body, coding);
        body[kDecoded] = true;
      }
    } else {
      if (typeof head.srcId === "number" && head.srcId) native.uploadCancel(head.srcId);
      cleanup(call);
      release(st);
    }
    r[kBody] = body;
    return r;
  }

  // fetch() and a Fetcher's fetch() after their Request is built: limits, the connection, redirects.
  async function doFetch(reqNo, request, service) {
    const st = stateOf(reqNo);
    if (st.over && st.holds === 0) throw overError();
    let url = new URL(request.url);
    if (!service && !isHttp(url)) throw new TypeError(`fetch: unsupported scheme '${url.protocol}' in ${url.href} (http: and https: only)`);
    const [subrequests] = limits();
    if (st.n >= subrequests) throw new TypeError(`Too many subrequests (the limit is ${subrequests} per request)`);
    st.n++;
    const opts = request[kOpts] ?? DEFAULT_OPTS;
    const signal = opts.signal;
    const mode = opts.redirect;
    if (signal?.aborted) throw signal.reason;
    let method = request[kMethod];
    let headers = listOf(request[kHeadersOf]).map((e) => [e[0], e[1]]);
    let body = request[kBody];
    if (isStream(body)) {
      if (body.locked || S.isDisturbed(body)) throw new TypeError("fetch: the request body has already been used");
      if (body[kSource] !== undefined) {
        body.getReader();
        body = body[kSource];
      }
    }
    if (body !== null) request[kUsed] = true;
    if (typeof body === "string") body = native.encode(body);
    if (service && isStream(body)) body = (await S.readAll(body)).v; // a service gets its request body whole
    if (typeof body === "string") body = native.encode(body);
    await slot(st, signal);
    let redirects = 0;
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        const head = await oneCall(st, url, method, headers, body, signal, service);
        const status = head.status;
        if (!service && REDIRECT.has(status) && mode !== "manual") {
          const location = listOf(Object.assign(Object.create(Headers.prototype), { [kList]: null, [kFlat]: head.raw }))
            .find((e) => e[0] === "location");
          if (location !== undefined) {
            discard(head);
            if (mode === "error") throw new TypeError(`fetch to ${url.href}: got a ${status} redirect and the redirect mode is 'error'`);
            if (++redirects > 20) throw new TypeError(`fetch to ${request.url}: too many redirects (more than 20)`);
            const next = URL.parse(location[1], url.href);
            if (!next || !isHttp(next)) throw new TypeError(`fetch to ${url.href}: the redirect to '${location[1]}' is not an http(s) URL`);
            if (status !== 303 && body !== null && isStream(body))
              throw new TypeError(`fetch to ${url.href}: cannot follow a ${status} redirect with a streamed body (it cannot be sent again)`);
            if (((status === 301 || status === 302) && method === "POST") || (status === 303 && method !== "GET" && method !== "HEAD")) {
              method = "GET";
              body = null;
              headers = headers.filter((e) => !BODY_HEADERS.has(e[0]));
            }
            if (next.origin !== url.origin) headers = headers.filter((e) => !CREDENTIAL_HEADERS.has(e[0]));
            url = next;
            continue;
          }
        }
        return makeResponse(st, head, url, redirects > 0, method);
      }
    } catch (e) {
      release(st);
      throw e;
    }
  }

  const noRequest = (who) =>
    new TypeError(`${who}: outgoing requests can only be made while handling a request (not at the top level of the worker)`);

  async function fetch(input, init = undefined) {
    const reqNo = internal.req;
    if (!reqNo) throw noRequest("fetch");
    return doFetch(reqNo, new Request(input, init), null);
  }
  define("fetch", fetch);

  // A service binding: env.BINDING.fetch(input, init) runs the service (another tenant), answered by the router.
  class Fetcher {
    #binding;
    #service;
    constructor(binding, service) {
      this.#binding = binding;
      this.#service = service;
    }
    async fetch(input, init = undefined) {
      const reqNo = internal.req;
      if (!reqNo) throw noRequest(`service binding ${this.#binding}`);
      return doFetch(reqNo, new Request(input, init), [this.#binding, this.#service]);
    }
    get [Symbol.toStringTag]() { return "Fetcher"; }
  }

  internal.fetchOut = { hold, fetcher: (binding, service) => new Fetcher(binding, service), fetchEvent, requestOver };
}

return {
  dispatch, fire, setHandler, serialize, streamPump, streamResume, streamCancel, uploadWake,
  fetchEvent: internal.fetchOut.fetchEvent, requestOver: internal.fetchOut.requestOver,
};
