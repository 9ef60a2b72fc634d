// CompressionStream / DecompressionStream inside a worker (tests/js/test_compression.c).
//   GET  /suite                   the checks below: {passed, total, failures}
//   POST /inflate?format=F        the body decompressed (written in three chunks)
//   POST /deflate?format=F        the body compressed
//   POST /bomb?mode=oneshot&max=N the body (a gzip bomb) written as one chunk while reading, up to N bytes: {bytes, error, biggest}
//   POST /bomb?mode=stream&max=N  the body written in 4 KiB pieces while reading, stopping after N bytes: {bytes, error, biggest}
const checks = [];
const check = (name, fn) => checks.push([name, fn]);
const eq = (a, b, what = "") => {
  if (a !== b) throw new Error(`${what}got ${JSON.stringify(a)}, expected ${JSON.stringify(b)}`);
};
const throws = (fn, ctor) => {
  try {
    fn();
  } catch (e) {
    if (ctor && !(e instanceof ctor)) throw new Error(`threw ${e}, expected a ${ctor.name}`);
    return;
  }
  throw new Error("did not throw");
};
const rejects = async (p, ctor) => {
  try {
    await p;
  } catch (e) {
    if (ctor && !(e instanceof ctor)) throw new Error(`rejected with ${e}, expected a ${ctor.name}`);
    return e;
  }
  throw new Error("did not reject");
};

function concat(pieces) {
  let n = 0;
  for (const p of pieces) n += p.byteLength;
  const out = new Uint8Array(n);
  n = 0;
  for (const p of pieces) {
    out.set(p, n);
    n += p.byteLength;
  }
  return out;
}

// Writes chunks into a (de)compression stream and reads it to the end: the output, as one Uint8Array.
async function through(stream, chunks, pieces = []) {
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return concat(pieces);
      if (!(value instanceof Uint8Array)) throw new Error("a chunk of output is not a Uint8Array");
      pieces.push(value);
    }
  })();
  for (const c of chunks) writer.write(c).catch(() => {});
  writer.close().catch(() => {});
  return reading;
}
const text = (s) => new TextEncoder().encode(s);
const str = (b) => new TextDecoder().decode(b);
const FORMATS = ["gzip", "deflate", "deflate-raw"];

check("round trip in every format, over chunks of every BufferSource type", async () => {
  const input = "hello compression ".repeat(1000);
  for (const f of FORMATS) {
    const b = text(input);
    const chunks = [b.subarray(0, 10), b.slice(10, 5000).buffer, new DataView(b.buffer, 5000, 100), new Int16Array(b.slice(5100, 9100).buffer), b.subarray(9100)];
    const z = await through(new CompressionStream(f), chunks);
    if (z.length >= b.length / 10) throw new Error(`${f}: ${z.length} bytes is poor compression`);
    eq(str(await through(new DecompressionStream(f), [z.subarray(0, 7), z.subarray(7)])), input, `${f}: `);
  }
});

check("each format's framing: gzip member, zlib header, raw deflate", async () => {
  const g = await through(new CompressionStream("gzip"), [text("x")]);
  eq([g[0], g[1], g[2]].join(), "31,139,8");
  const d = await through(new CompressionStream("deflate"), [text("x")]);
  eq(d[0], 0x78);
  eq(((d[0] << 8) | d[1]) % 31, 0);
  const r = await through(new CompressionStream("deflate-raw"), [text("x")]);
  eq(str(await through(new DecompressionStream("deflate-raw"), [r])), "x");
  await rejects(through(new DecompressionStream("gzip"), [d]), TypeError);
  await rejects(through(new DecompressionStream("deflate"), [r]), TypeError);
});

check("empty input and empty chunks", async () => {
  for (const f of FORMATS) {
    const z = await through(new CompressionStream(f), []);
    if (!z.length) throw new Error(`${f}: an empty stream compresses to nothing`);
    eq((await through(new DecompressionStream(f), [new Uint8Array(0), z, new Uint8Array(0)])).length, 0);
  }
});

check("incompressible megabyte: output in pieces of at most 64 KiB, and back", async () => {
  const b = new Uint8Array(1 << 20);
  for (let i = 0; i < b.length; i += 65536) crypto.getRandomValues(b.subarray(i, i + 65536));
  const pieces = [];
  const z = await through(new CompressionStream("gzip"), [b], pieces);
  if (pieces.some((p) => p.byteLength > 65536)) throw new Error("a piece is larger than 64 KiB");
  const back = [];
  const out = await through(new DecompressionStream("gzip"), [z], back);
  eq(out.length, b.length);
  if (back.length < 16 || back.some((p) => p.byteLength > 65536)) throw new Error(`${back.length} pieces`);
  for (let i = 0; i < b.length; i += 4099) if (out[i] !== b[i]) throw new Error(`byte ${i} differs`);
});

check("corrupt, truncated and trailing input are TypeErrors", async () => {
  const z = await through(new CompressionStream("gzip"), [text("expected output")]);
  const bad = z.slice();
  bad[bad.length - 6] ^= 0xff; // the CRC
  await rejects(through(new DecompressionStream("gzip"), [bad]), TypeError);
  await rejects(through(new DecompressionStream("gzip"), [z.subarray(0, z.length - 1)]), TypeError);
  await rejects(through(new DecompressionStream("gzip"), [z.subarray(0, 5)]), TypeError);
  await rejects(through(new DecompressionStream("gzip"), [new Uint8Array(0)]), TypeError);
  await rejects(through(new DecompressionStream("gzip"), [concat([z, new Uint8Array([0])])]), TypeError);
  await rejects(through(new DecompressionStream("gzip"), [z, new Uint8Array([1, 2])]), TypeError);
  await rejects(through(new DecompressionStream("gzip"), [z, z]), TypeError); // a second member is trailing data too
  const d = await through(new CompressionStream("deflate"), [text("expected output")]);
  const adler = d.slice();
  adler[adler.length - 1] ^= 1;
  await rejects(through(new DecompressionStream("deflate"), [adler]), TypeError);
  await rejects(through(new DecompressionStream("deflate-raw"), [new Uint8Array([0xff, 0xff])]), TypeError);
});

check("an error errors both sides of the stream", async () => {
  const ds = new DecompressionStream("deflate");
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  const w = writer.write(new Uint8Array([1, 2, 3, 4]));
  const r = reader.read();
  await rejects(w, TypeError);
  await rejects(r, TypeError);
  await rejects(writer.write(new Uint8Array([0x78, 0x9c])), TypeError);
});

check("formats and chunks are checked", async () => {
  for (const C of [CompressionStream, DecompressionStream]) {
    for (const f of ["GZIP", "br", "", "deflate ", undefined]) throws(() => new C(f), TypeError);
    throws(() => new C(), TypeError);
    throws(() => new C({ toString() { throw new SyntaxError("no"); } }), SyntaxError);
    eq(new C({ toString: () => "gzip" }) instanceof C, true);
    for (const chunk of [undefined, null, 3.14, "abc", {}, [65]]) await rejects(through(new C("deflate"), [chunk]), TypeError);
  }
});

check("cancelling the readable side errors the writable side, and aborting the writable side the readable", async () => {
  const ds = new DecompressionStream("gzip");
  await ds.readable.getReader().cancel("no more");
  const e = await rejects(ds.writable.getWriter().write(new Uint8Array([0x1f])));
  eq(e, "no more");
  const cs = new CompressionStream("deflate");
  const reader = cs.readable.getReader();
  await cs.writable.getWriter().abort(new RangeError("stop"));
  await rejects(reader.read(), RangeError);
  // A write whose output waits unread does not hold up an abort (that needs the controller's AbortSignal).
  if (typeof AbortController !== "function") return;
  const big = new Uint8Array(1 << 18);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  const gz = new CompressionStream("gzip");
  const w = gz.writable.getWriter();
  const pending = w.write(big);
  await new Promise((resolve) => setTimeout(resolve, 1));
  await w.abort(new SyntaxError("enough"));
  await rejects(pending, SyntaxError);
  await rejects(gz.readable.getReader().read(), SyntaxError);
});

check("replacing the global ArrayBuffer does not hand the tenant a codec's zlib state", async () => {
  const Real = ArrayBuffer, seen = [];
  globalThis.ArrayBuffer = function (n) {
    const b = new Real(n);
    seen.push(b);
    return b;
  };
  try {
    const z = await through(new CompressionStream("gzip"), [text("secret state")]);
    eq(str(await through(new DecompressionStream("gzip"), [z])), "secret state");
  } finally {
    globalThis.ArrayBuffer = Real;
  }
  eq(seen.length, 0);
});

check("brand checks", () => {
  for (const C of [CompressionStream, DecompressionStream]) {
    const get = Object.getOwnPropertyDescriptor(C.prototype, "readable").get;
    throws(() => get.call({}), TypeError);
    throws(() => Object.getOwnPropertyDescriptor(C.prototype, "writable").get.call(new TransformStream()), TypeError);
    eq(new C("gzip").readable instanceof ReadableStream, true);
    eq(new C("gzip").writable instanceof WritableStream, true);
    eq(String(new C("gzip")), `[object ${C.name}]`);
  }
});

check("abandoned streams are collected (their zlib state lives in ArrayBuffers)", async () => {
  // 1000 compressors of 288 KiB each, written to and never closed: more than the isolate's 128 MiB of buffers.
  for (let i = 0; i < 1000; i++) {
    const cs = new CompressionStream("gzip");
    cs.readable.getReader().read(); // a pending read lets the write through (no output comes before close)
    await cs.writable.getWriter().write(new Uint8Array(8));
  }
  const z = await through(new CompressionStream("deflate"), [text("still works")]);
  eq(str(await through(new DecompressionStream("deflate"), [z])), "still works");
});

async function bomb(body, mode, max) {
  const ds = new DecompressionStream("gzip");
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  let bytes = 0, biggest = 0, error = null, errorMessage = null;
  const writing = (async () => {
    if (mode === "oneshot") {
      await writer.write(body);
      return writer.close();
    }
    for (let i = 0; i < body.length; i += 4096) {
      await writer.ready;
      writer.write(body.subarray(i, i + 4096)).catch(() => {});
    }
    return writer.close();
  })().catch(() => {});
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      if (value.byteLength > biggest) biggest = value.byteLength;
      if (bytes >= max) {
        await reader.cancel();
        break;
      }
    }
  } catch (e) {
    error = e.name;
    errorMessage = String(e && e.stack);
  }
  await writing;
  return { bytes, biggest, error, errorMessage };
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const format = url.searchParams.get("format");
    if (url.pathname === "/inflate") {
      const b = new Uint8Array(await request.arrayBuffer());
      const third = Math.floor(b.length / 3);
      return new Response(await through(new DecompressionStream(format), [b.subarray(0, third), b.subarray(third, 2 * third), b.subarray(2 * third)]));
    }
    if (url.pathname === "/deflate")
      return new Response(await through(new CompressionStream(format), [new Uint8Array(await request.arrayBuffer())]));
    if (url.pathname === "/bomb") {
      const b = new Uint8Array(await request.arrayBuffer());
      return Response.json(await bomb(b, url.searchParams.get("mode"), Number(url.searchParams.get("max") || Infinity)));
    }
    const failures = [];
    let passed = 0;
    for (const [name, fn] of checks) {
      try {
        await fn();
        passed++;
      } catch (e) {
        failures.push(`${name}: ${e && e.message}`);
      }
    }
    return Response.json({ passed, total: checks.length, failures });
  },
};
