// The worker of tests/js/test_fetch.c: each path exercises one side of fetch() against the test's upstream
// (env.UPSTREAM, "http://127.0.0.1:PORT") or its bad upstream (env.BAD); answers are text the test asserts on.

// At the top level there is no request: fetch rejects.
let topLevel = "not run";
fetch("http://127.0.0.1:1/").then(
  () => (topLevel = "resolved"),
  (e) => (topLevel = `${e.name}: ${e.message}`),
);

const text = async (p) => {
  try {
    const r = await p;
    return `${r.status} ${await r.text()}`;
  } catch (e) {
    return `${e.name}: ${e.message}`;
  }
};
const fail = async (p) => {
  try {
    await p;
    return "no error";
  } catch (e) {
    return `${e.name}: ${e.message}`;
  }
};

function bytesStream(total, piece) {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= total) return c.close();
      const n = Math.min(piece, total - sent);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (sent + i) & 0xff;
      sent += n;
      c.enqueue(b);
    },
  });
}

const routes = {
  async "/top"() {
    return topLevel;
  },
  async "/methods"(up) {
    const out = [];
    out.push(await text(fetch(up + "/echo")));
    out.push(await text(fetch(up + "/echo", { method: "POST", body: "a string" })));
    out.push(await text(fetch(up + "/echo", { method: "PUT", body: new TextEncoder().encode("array buffer").buffer })));
    out.push(await text(fetch(up + "/echo", { method: "PATCH", body: new Uint8Array([0x76, 0x69, 0x65, 0x77]).subarray(1, 3) })));
    out.push(await text(fetch(up + "/echo", { method: "DELETE" })));
    out.push(await text(fetch(up + "/echo", { method: "POST", body: new URLSearchParams({ a: "1", b: "x y" }) })));
    const fd = new FormData();
    fd.append("field", "value");
    const r = await fetch(up + "/echo", { method: "POST", body: fd });
    const t = await r.text();
    out.push(`${r.status} form ${t.includes('name="field"') && t.includes("value") && t.includes("multipart/form-data; boundary=")}`);
    out.push(await text(fetch(up + "/echo", { method: "POST", body: new Blob(["a blob"], { type: "text/x-blob" }) })));
    out.push(await text(fetch(new Request(up + "/echo", { method: "POST", body: bytesStream(10, 3), duplex: "half" }))));
    const h = await fetch(up + "/echo", { method: "HEAD" });
    out.push(`HEAD ${h.status} ${h.body === null}`);
    const n = await fetch(up + "/nocontent");
    out.push(`204 ${n.status} ${n.body === null}`);
    out.push(await text(fetch(up + "/echo", { headers: { "x-test": "yes" } })));
    return out.join("\n");
  },
  async "/upload"(up) {
    // 4 MiB streamed up in 64 KiB pieces; the upstream answers with the count and a checksum.
    const r = await fetch(up + "/sum", { method: "POST", body: bytesStream(4 << 20, 65536), duplex: "half" });
    return `${r.status} ${await r.text()}`;
  },
  async "/redirects"(up) {
    const out = [];
    const r = await fetch(up + "/r/3");
    out.push(`${r.status} ${r.redirected} ${r.url} ${await r.text()}`);
    const p = await fetch(up + "/see-other", { method: "POST", body: "dropped" });
    out.push(`303 ${p.status} ${p.redirected} ${await p.text()}`);
    const k = await fetch(up + "/temporary", { method: "POST", body: "kept" });
    out.push(`307 ${k.status} ${await k.text()}`);
    const m = await fetch(up + "/r/1", { redirect: "manual" });
    out.push(`manual ${m.status} ${m.redirected} ${m.headers.get("location")}`);
    await m.body?.cancel();
    out.push(`error ${await fail(fetch(up + "/r/1", { redirect: "error" }))}`);
    out.push(`loop ${await fail(fetch(up + "/loop/0"))}`);
    out.push(`twentyone ${await fail(fetch(up + "/r/21"))}`);
    out.push(`twenty ${await text(fetch(up + "/r/20"))}`);
    out.push(`stream307 ${await fail(fetch(up + "/temporary", { method: "POST", body: bytesStream(5, 5), duplex: "half" }))}`);
    return out.join("\n");
  },
  async "/abort"(up) {
    const out = [];
    const a = new AbortController();
    a.abort();
    out.push(`before ${await fail(fetch(up + "/hello", { signal: a.signal }))}`);
    const b = new AbortController();
    const pb = fetch(up + "/hello", { signal: b.signal });
    b.abort();
    out.push(`connect ${await fail(pb)}`);
    const c = new AbortController();
    setTimeout(() => c.abort(), 50);
    out.push(`head ${await fail(fetch(up + "/slow", { signal: c.signal }))}`);
    const d = new AbortController();
    const r = await fetch(up + "/midbody", { signal: d.signal });
    const reader = r.body.getReader();
    const first = await reader.read();
    d.abort(new Error("custom reason"));
    out.push(`body ${first.value.length} ${await fail(reader.read())}`);
    out.push(`after ${await text(fetch(up + "/hello"))}`);
    return out.join("\n");
  },
  async "/encodings"(up) {
    const out = [];
    for (const p of ["/gzip", "/deflate", "/br"]) {
      const r = await fetch(up + p);
      const t = await r.text();
      out.push(`${p} ${r.headers.get("content-encoding")} ${r.headers.get("content-length")} ${t.length} ${t.slice(0, 19)}`);
    }
    return out.join("\n");
  },
  async "/gzip-through"(up) {
    return fetch(up + "/gzip");
  },
  async "/reuse"(up) {
    const a = await (await fetch(up + "/accepts")).text();
    for (let i = 0; i < 5; i++) await (await fetch(up + "/hello")).text();
    const b = await (await fetch(up + "/accepts")).text();
    return `${Number(b) - Number(a)}`;
  },
  async "/limit"(up) {
    let ok = 0;
    for (let i = 0; i < 50; i++) {
      const r = await fetch(up + "/hello");
      await r.arrayBuffer();
      ok++;
    }
    return `${ok} ${await fail(fetch(up + "/hello"))}`;
  },
  async "/concurrent"(up) {
    await (await fetch(up + "/hold-reset")).text();
    const all = await Promise.all(Array.from({ length: 7 }, () => fetch(up + "/hold").then((r) => r.text())));
    const max = await (await fetch(up + "/hold-max")).text();
    return `${all.length} ${max}`;
  },
  async "/proxy"(up, req) {
    const n = new URL(req.url).searchParams.get("n");
    return fetch(up + "/big?n=" + n);
  },
  async "/slowcpu"(up) {
    return text(fetch(up + "/slow"));
  },
  async "/bad"(up, req, env) {
    const kind = new URL(req.url).searchParams.get("k");
    return fail(fetch(env.BAD + "/" + kind).then((r) => r.text()));
  },
  async "/stall"(up, req, env) {
    return text(fetch(env.BAD + "/stall"));
  },
  async "/errors"(up) {
    const out = [];
    out.push(await fail(fetch("ftp://127.0.0.1/x")));
    out.push(await fail(fetch(env_refused)));
    return out.join("\n");
  },
  async "/passthrough"(up, req) {
    return text(fetch(new Request(up + "/sum", req)));
  },
  async "/up-hello"(up) {
    return text(fetch(up + "/hello"));
  },
  async "/localhost"(up, req, env) {
    return text(fetch(env.LOCAL + "/hello"));
  },
  async "/svc"(up, req, env) {
    const r = await env.AUTH.fetch("http://auth/check?x=1", { method: "POST", body: "token", headers: { "x-a": "b" } });
    return `${r.status} ${r.headers.get("x-svc")} ${await r.text()}`;
  },
  async "/hello"() {
    return "hello";
  },
  // A call held past the response by ctx.waitUntil, still out when the worker is disposed (the test stops then).
  async "/background"(up, req, env, ctx) {
    ctx.waitUntil(fetch(env.BAD + "/stall").catch(() => {}));
    ctx.waitUntil(fetch(up + "/midbody").then((r) => r.body.getReader().read()));
    return "queued";
  },
};

let env_refused = "";

export default {
  async fetch(request, env, ctx) {
    env_refused = env.REFUSED;
    const path = new URL(request.url).pathname;
    const route = routes[path];
    if (!route) return new Response("no route " + path, { status: 404 });
    const r = await route(env.UPSTREAM, request, env, ctx);
    return r instanceof Response ? r : new Response(r);
  },
};
