// Checks of the Web API, run inside a worker: answers {passed, failures}.
const checks = [];
const check = (name, fn) => checks.push([name, fn]);
const eq = (a, b) => {
  if (a !== b) throw new Error(`got ${JSON.stringify(a)}, expected ${JSON.stringify(b)}`);
};
const throws = (fn, ctor, name) => {
  try {
    fn();
  } catch (e) {
    if (ctor && !(e instanceof ctor)) throw new Error(`threw ${e}, expected a ${ctor.name}`);
    if (name && e.name !== name) throw new Error(`threw ${e.name}, expected ${name}`);
    return;
  }
  throw new Error("did not throw");
};
const rejects = async (p, ctor) => {
  try {
    await p;
  } catch (e) {
    if (ctor && !(e instanceof ctor)) throw new Error(`rejected with ${e}, expected a ${ctor.name}`);
    return;
  }
  throw new Error("did not reject");
};

// ---- Headers
check("Headers are case-insensitive and ordered", () => {
  const h = new Headers({ "X-B": "2", "x-a": "1" });
  h.append("X-A", "3");
  eq(h.get("x-A"), "1, 3");
  eq([...h.keys()].join(), "x-a,x-b");
  h.set("x-a", "9");
  eq(h.get("X-A"), "9");
  h.delete("X-B");
  eq(h.has("x-b"), false);
});
check("Headers.getSetCookie keeps cookies apart", () => {
  const h = new Headers([["Set-Cookie", "a=1"], ["set-cookie", "b=2"]]);
  eq(h.getSetCookie().join("|"), "a=1|b=2");
  eq([...h].filter(([k]) => k === "set-cookie").length, 2);
});
check("Headers trim values and reject bad names and values", () => {
  eq(new Headers({ a: "  v \t" }).get("a"), "v");
  throws(() => new Headers({ "bad name": "x" }), TypeError);
  throws(() => new Headers({ a: "x\r\ny" }), TypeError);
  throws(() => new Headers([["a"]]), TypeError);
});
check("incoming request headers are immutable", (req) => {
  throws(() => req.headers.set("x", "y"), TypeError);
  eq(req.headers.get("X-Test"), "yes");
});

// ---- Request / Response
check("Response from string, status text, ok", async () => {
  const r = new Response("hi", { status: 201, statusText: "Made", headers: { "x-a": "b" } });
  eq(r.status, 201);
  eq(r.statusText, "Made");
  eq(r.ok, true);
  eq(r.headers.get("content-type"), "text/plain;charset=UTF-8");
  eq(await r.text(), "hi");
  eq(r.bodyUsed, true);
  await rejects(r.text(), TypeError);
});
check("Response bodies from ArrayBuffer, TypedArray, URLSearchParams", async () => {
  eq(await new Response(new Uint8Array([104, 105]).buffer).text(), "hi");
  eq(await new Response(new Uint16Array([0x6968])).text(), "hi");
  const r = new Response(new URLSearchParams({ a: "1 2", b: "é" }));
  eq(r.headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8");
  eq(await r.text(), "a=1+2&b=%C3%A9");
  eq(new Uint8Array(await new Response("é").arrayBuffer()).length, 2);
});
check("Response status range and null-body statuses", () => {
  throws(() => new Response("x", { status: 99 }), RangeError);
  throws(() => new Response("x", { status: 600 }), RangeError);
  throws(() => new Response("x", { status: 204 }), TypeError);
  eq(new Response(null, { status: 204 }).status, 204);
});
check("Response.json and Response.redirect", async () => {
  const j = Response.json({ a: [1, 2] }, { status: 202 });
  eq(j.status, 202);
  eq(j.headers.get("content-type"), "application/json");
  eq((await j.json()).a[1], 2);
  const r = Response.redirect("https://example.com/x", 301);
  eq(r.status, 301);
  eq(r.headers.get("location"), "https://example.com/x");
  throws(() => Response.redirect("https://example.com/", 200), RangeError);
  throws(() => Response.redirect("not a url"), TypeError);
  throws(() => Response.json(undefined), TypeError);
});
check("Response.clone", async () => {
  const a = new Response("same");
  const b = a.clone();
  eq(await a.text(), "same");
  eq(await b.text(), "same");
});
check("Request construction and errors", async () => {
  const r = new Request("https://example.com/a?b", { method: "post", body: "x", headers: { A: "1" } });
  eq(r.method, "POST");
  eq(r.url, "https://example.com/a?b");
  eq(r.headers.get("a"), "1");
  eq(await r.text(), "x");
  throws(() => new Request("/relative"), TypeError);
  throws(() => new Request("https://example.com/", { method: "GET", body: "x" }), TypeError);
  throws(() => new Request("https://example.com/", { method: "CONNECT" }), TypeError);
  eq(new Request(r.url).method, "GET");
});
check("incoming request: method, url, body", async (req) => {
  eq(req.method, "POST");
  eq(req.url, "http://t.example/suite?x=1");
  eq(new URL(req.url).searchParams.get("x"), "1");
});

// ---- URL / URLSearchParams
check("URL parsing, setters and searchParams", () => {
  const u = new URL("../c?d=1#e", "https://user:pw@EXAMPLE.com:443/a/b");
  eq(u.href, "https://user:pw@example.com/c?d=1#e");
  u.searchParams.append("f", "g h");
  eq(u.search, "?d=1&f=g+h");
  u.pathname = "/x y";
  eq(u.pathname, "/x%20y");
  u.port = "8443";
  eq(u.host, "example.com:8443");
  u.hash = "";
  eq(u.href, "https://user:pw@example.com:8443/x%20y?d=1&f=g+h");
  throws(() => new URL("http://exa mple.com"), TypeError);
  eq(URL.canParse("nope"), false);
  eq(new URL("http://xn--nxasmq6b.com/").hostname, "xn--nxasmq6b.com");
  eq(new URL("http://Bücher.example/").hostname, "xn--bcher-kva.example");
});
check("URLSearchParams", () => {
  const p = new URLSearchParams("?b=2&a=1&b=3");
  eq(p.getAll("b").join(), "2,3");
  p.sort();
  eq(p.toString(), "a=1&b=2&b=3");
  p.set("b", "4");
  eq(p.toString(), "a=1&b=4");
  eq(new URLSearchParams([["x", "1"]]).get("x"), "1");
  eq(new URLSearchParams({ "a b": "c&d" }).toString(), "a+b=c%26d");
  eq(p.size, 2);
  throws(() => new URLSearchParams([["x"]]), TypeError);
});

// ---- encoding, base64
check("TextEncoder / TextDecoder", () => {
  const b = new TextEncoder().encode("h€\u{1F600}");
  eq(b.length, 8);
  eq(new TextDecoder().decode(b), "h€\u{1F600}");
  eq(new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), "A");
  eq(new TextDecoder().decode(new Uint8Array([0xff, 0x41])), "\ufffdA");
  throws(() => new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xc3])), TypeError);
  throws(() => new TextDecoder("latin99"), RangeError);
  const d = new TextDecoder();
  eq(d.decode(new Uint8Array([0xe2, 0x82]), { stream: true }) + d.decode(new Uint8Array([0xac])), "€");
  const into = new TextEncoder().encodeInto("héllo", new Uint8Array(3));
  eq(into.read, 2);
  eq(into.written, 3);
  eq(new TextEncoder().encode("\ud800").join(), "239,191,189");
});
check("atob / btoa", () => {
  eq(btoa("hello"), "aGVsbG8=");
  eq(atob("aGVsbG8="), "hello");
  eq(atob(" aGVs bG8 "), "hello");
  throws(() => btoa("€"), DOMException, "InvalidCharacterError");
  throws(() => atob("a"), DOMException, "InvalidCharacterError");
  throws(() => atob("a*=="), DOMException, "InvalidCharacterError");
});

// ---- clone, crypto, performance, microtasks, globals
check("structuredClone", () => {
  const src = { a: [1, { b: new Date(5) }], m: new Map([[1, 2]]), u: new Uint8Array([3]) };
  src.self = src;
  const c = structuredClone(src);
  eq(c.a[1].b.getTime(), 5);
  eq(c.m.get(1), 2);
  eq(c.u[0], 3);
  eq(c.self, c);
  eq(c === src, false);
  throws(() => structuredClone(() => 1), DOMException, "DataCloneError");
});
check("crypto", () => {
  const a = crypto.getRandomValues(new Uint8Array(32));
  eq(a.length, 32);
  eq(a.some((x) => x !== 0), true);
  throws(() => crypto.getRandomValues(new Uint8Array(65537)), DOMException, "QuotaExceededError");
  throws(() => crypto.getRandomValues(new Float32Array(4)), DOMException, "TypeMismatchError");
  const id = crypto.randomUUID();
  eq(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id), true);
  eq(id === crypto.randomUUID(), false);
});
check("performance.now is monotonic", () => {
  const a = performance.now();
  let s = 0;
  for (let i = 0; i < 1e5; i++) s += i;
  const b = performance.now();
  eq(b >= a && a >= 0, true);
  eq(typeof performance.timeOrigin, "number");
});
check("queueMicrotask runs before the handler's promise settles", async () => {
  let ran = false;
  queueMicrotask(() => (ran = true));
  await null;
  eq(ran, true);
  throws(() => queueMicrotask(1), TypeError);
});
check("globals: self, no SharedArrayBuffer, no Atomics, no eval, no host objects", () => {
  eq(self, globalThis);
  eq(typeof SharedArrayBuffer, "undefined");
  eq(typeof Atomics, "undefined");
  eq(typeof require, "undefined");
  eq(typeof process, "undefined");
  throws(() => eval("1"), EvalError);
  throws(() => new Function("return 1"), EvalError);
});
check("timers validate their callback", () => {
  throws(() => setTimeout("1+1", 0), TypeError);
  clearTimeout(12345); // unknown ids are ignored
});
check("console writes without throwing", () => {
  console.log("webapi suite: %s %d %o", "str", 42, { a: 1 });
  console.info([1, 2], new Map([[1, 2]]));
  console.warn(new Error("a logged error"));
  console.error("circular", (() => { const o = {}; o.o = o; return o; })());
});

export default {
  async fetch(request, env) {
    const failures = [];
    let passed = 0;
    for (const [name, fn] of checks) {
      try {
        await fn(request, env);
        passed++;
      } catch (e) {
        failures.push(`${name}: ${e && e.message}`);
      }
    }
    return Response.json({ passed, failures });
  },
};
