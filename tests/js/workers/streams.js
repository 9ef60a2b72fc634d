// Checks of the Streams Standard (and the encoding streams), run inside a worker. GET /<group> runs one group of
// checks and answers {passed, failures}; the groups are readable, bytes, writable, transform, pipe, idl, encoding.
const groups = {};
let group = null;
const section = (name) => {
  group = groups[name] = [];
};
const check = (name, fn) => group.push([name, fn]);
const eq = (a, b, what = "") => {
  if (a !== b) throw new Error(`${what}got ${String(a)}, expected ${String(b)}`);
};
const arrEq = (a, b, what = "") => eq(JSON.stringify([...a]), JSON.stringify([...b]), what);
const throws = (fn, ctor) => {
  try {
    fn();
  } catch (e) {
    if (ctor && !(e instanceof ctor)) throw new Error(`threw ${e}, expected a ${ctor.name}`);
    return e;
  }
  throw new Error("did not throw");
};
const rejects = async (p, ctor) => {
  if (!(p instanceof Promise)) throw new Error("not a promise");
  try {
    await p;
  } catch (e) {
    if (ctor && !(e instanceof ctor)) throw new Error(`rejected with ${e}, expected a ${ctor.name}`);
    return e;
  }
  throw new Error("did not reject");
};
const tick = () => new Promise((r) => setTimeout(r, 0));
async function collect(rs) {
  const out = [];
  const reader = rs.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}
const bytes = (...b) => new Uint8Array(b);

// ---- readable ---------------------------------------------------------------------------------------------------
section("readable");

check("enqueue, read and close in order", async () => {
  const rs = new ReadableStream({
    start(c) {
      eq(c.desiredSize, 1);
      c.enqueue("a");
      eq(c.desiredSize, 0);
      c.enqueue("b");
      c.close();
      throws(() => c.enqueue("c"), TypeError);
      throws(() => c.close(), TypeError);
    },
  });
  const r = rs.getReader();
  eq(rs.locked, true);
  throws(() => rs.getReader(), TypeError);
  eq(JSON.stringify(await r.read()), '{"value":"a","done":false}');
  eq((await r.read()).value, "b");
  eq(JSON.stringify(await r.read()), '{"done":true}');
  await r.closed;
  r.releaseLock();
  eq(rs.locked, false);
  await rejects(r.closed, TypeError);
  await rejects(r.read(), TypeError);
});

check("pull is called on demand, as the high-water mark asks", async () => {
  let pulls = 0;
  const rs = new ReadableStream(
    {
      pull(c) {
        pulls++;
        c.enqueue(pulls);
        if (pulls === 5) c.close();
      },
    },
    { highWaterMark: 2 },
  );
  await tick();
  eq(pulls, 2, "pulls before any read: ");
  arrEq(await collect(rs), [1, 2, 3, 4, 5]);
});

check("a size function and highWaterMark drive desiredSize; bad strategies throw", () => {
  let ctl;
  new ReadableStream({ start: (c) => (ctl = c) }, { highWaterMark: 10, size: (s) => s.length });
  ctl.enqueue("abcd");
  eq(ctl.desiredSize, 6);
  throws(() => ctl.enqueue({ length: -1 }), RangeError);
  eq(ctl.desiredSize, null, "errored: ");
  throws(() => new ReadableStream({}, { highWaterMark: -1 }), RangeError);
  throws(() => new ReadableStream({}, { highWaterMark: NaN }), RangeError);
  throws(() => new ReadableStream({}, { size: 3 }), TypeError);
  throws(() => new ReadableStream({ type: "nope" }), TypeError);
  throws(() => new ReadableStream(null), TypeError);
  throws(() => new ReadableStream({ pull: 1 }), TypeError);
  const err = new Error("start");
  eq(throws(() => new ReadableStream({ start() { throw err; } })), err);
});

check("releaseLock() with a pending read throws; cancel() reaches the source", async () => {
  let reason;
  const rs = new ReadableStream({ cancel: (r) => { reason = r; } });
  const r = rs.getReader();
  const pending = r.read();
  throws(() => r.releaseLock(), TypeError);
  await rejects(rs.cancel("x"), TypeError); // locked
  await r.cancel("why");
  eq(reason, "why");
  eq((await pending).done, true);
});

check("an errored stream rejects reads with its error", async () => {
  const e = new Error("boom");
  const rs = new ReadableStream({ start: (c) => c.error(e) });
  const r = rs.getReader();
  eq(await rejects(r.read()), e);
  eq(await rejects(r.closed), e);
  eq(await rejects(r.cancel()), e);
});

check("a rejected pull errors the stream", async () => {
  const e = new Error("pull");
  const rs = new ReadableStream({ pull: () => Promise.reject(e) });
  eq(await rejects(rs.getReader().read()), e);
});

check("async iteration: for await, break cancels, preventCancel does not", async () => {
  const make = (log) =>
    new ReadableStream({
      start(c) {
        for (const x of [1, 2, 3]) c.enqueue(x);
        c.close();
      },
      cancel: (r) => log.push(`cancel ${r}`),
    });
  const got = [];
  for await (const x of make([])) got.push(x);
  arrEq(got, [1, 2, 3]);
  const log = [];
  const rs = make(log);
  for await (const x of rs) if (x === 1) break;
  arrEq(log, ["cancel undefined"]);
  eq(rs.locked, false);
  const log2 = [];
  const rs2 = make(log2);
  for await (const x of rs2.values({ preventCancel: true })) if (x === 1) break;
  arrEq(log2, []);
  eq((await rs2.getReader().read()).value, 2);
  eq(ReadableStream.prototype[Symbol.asyncIterator], ReadableStream.prototype.values);
  const it = new ReadableStream().values();
  const proto = Object.getPrototypeOf(it);
  arrEq(Object.getOwnPropertyNames(proto).sort(), ["next", "return"]);
  await rejects(proto.next.call({}), TypeError);
});

check("ReadableStream.from: arrays, iterables of promises, async generators; cancel calls return()", async () => {
  arrEq(await collect(ReadableStream.from([1, 2, 3])), [1, 2, 3]);
  arrEq(await collect(ReadableStream.from([Promise.resolve("p"), "q"])), ["p", "q"]);
  async function* gen() {
    yield "x";
    yield "y";
  }
  arrEq(await collect(ReadableStream.from(gen())), ["x", "y"]);
  let returned = "no";
  const iterable = {
    [Symbol.asyncIterator]() {
      return {
        next: async () => ({ value: 1, done: false }),
        return: async (r) => {
          returned = r;
          return { done: true };
        },
      };
    },
  };
  const rs = ReadableStream.from(iterable);
  const r = rs.getReader();
  eq((await r.read()).value, 1);
  await r.cancel("enough");
  eq(returned, "enough");
  throws(() => ReadableStream.from(5), TypeError);
  throws(() => ReadableStream.from(null), TypeError);
  eq(ReadableStream.from.length, 1);
});

check("tee: both branches see every chunk; cancelling both cancels the source with both reasons", async () => {
  let reason;
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("a");
      c.enqueue("b");
    },
    cancel: (r) => {
      reason = r;
    },
  });
  const [b1, b2] = rs.tee();
  eq(rs.locked, true);
  const r1 = b1.getReader(), r2 = b2.getReader();
  eq((await r1.read()).value, "a");
  eq((await r1.read()).value, "b");
  eq((await r2.read()).value, "a");
  await Promise.all([r1.cancel("one"), r2.cancel("two")]);
  arrEq(reason, ["one", "two"]);
});

check("tee of an erroring stream errors both branches", async () => {
  const e = new Error("src");
  let ctl;
  const [b1, b2] = new ReadableStream({ start: (c) => (ctl = c) }).tee();
  ctl.error(e);
  eq(await rejects(b1.getReader().closed), e);
  eq(await rejects(b2.getReader().closed), e);
});

// ---- bytes ------------------------------------------------------------------------------------------------------
section("bytes");

check("a BYOB read fills the caller's view, whose buffer is transferred", async () => {
  const rs = new ReadableStream({
    type: "bytes",
    pull(c) {
      const v = c.byobRequest.view;
      eq(v.constructor, Uint8Array);
      v[0] = 7;
      v[1] = 8;
      c.byobRequest.respond(2);
    },
  });
  const r = rs.getReader({ mode: "byob" });
  eq(r.constructor, ReadableStreamBYOBReader);
  const buf = new ArrayBuffer(4);
  const { value, done } = await r.read(new Uint8Array(buf));
  eq(done, false);
  eq(buf.byteLength, 0, "the original buffer is detached: ");
  eq(value.buffer.byteLength, 4);
  arrEq(value, [7, 8]);
  await rejects(r.read(new Uint8Array(0)), TypeError);
  await rejects(r.read("no"), TypeError);
});

check("enqueue() transfers the chunk; a default reader gets Uint8Arrays", async () => {
  let ctl;
  const rs = new ReadableStream({ type: "bytes", start: (c) => (ctl = c) });
  const chunk = bytes(1, 2, 3);
  ctl.enqueue(chunk);
  eq(chunk.byteLength, 0, "the enqueued view is detached: ");
  throws(() => ctl.enqueue(chunk), TypeError);
  throws(() => ctl.enqueue(new Uint8Array(0)), TypeError);
  throws(() => ctl.enqueue("str"), TypeError);
  eq(ctl.desiredSize, -3);
  ctl.close();
  throws(() => ctl.close(), TypeError);
  const { value } = await rs.getReader().read();
  eq(value instanceof Uint8Array, true);
  arrEq(value, [1, 2, 3]);
});

check("autoAllocateChunkSize gives default readers a byobRequest", async () => {
  let seen;
  const rs = new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 16,
    pull(c) {
      seen = c.byobRequest.view.byteLength;
      c.byobRequest.view[0] = 42;
      c.byobRequest.respond(1);
    },
  });
  const { value } = await rs.getReader().read();
  eq(seen, 16);
  arrEq(value, [42]);
  throws(() => new ReadableStream({ type: "bytes", autoAllocateChunkSize: 0 }), TypeError);
});

check("respond() checks its argument; BYOB reads of wider elements wait for whole elements", async () => {
  let ctl;
  const rs = new ReadableStream({ type: "bytes", start: (c) => (ctl = c) });
  const r = rs.getReader({ mode: "byob" });
  const p = r.read(new Uint16Array(2));
  const req = ctl.byobRequest;
  eq(req.view.byteLength, 4);
  throws(() => req.respond(0), TypeError);
  throws(() => req.respond(5), RangeError);
  req.view[0] = 1;
  req.respond(1); // half an element: not yet
  eq(ctl.byobRequest.view.byteLength, 3);
  ctl.byobRequest.view[0] = 0;
  ctl.byobRequest.respond(1);
  const { value } = await p;
  eq(value.constructor, Uint16Array);
  eq(value.length, 1);
  eq(req.view, null, "an answered request is invalidated: ");
  throws(() => req.respond(1), TypeError);
});

check("read(view, {min}) waits for min elements; bad mins are refused", async () => {
  let ctl;
  const rs = new ReadableStream({ type: "bytes", start: (c) => (ctl = c) });
  const r = rs.getReader({ mode: "byob" });
  let settled = false;
  const p = r.read(new Uint8Array(8), { min: 4 }).then((x) => ((settled = true), x));
  ctl.enqueue(bytes(1, 2));
  await tick();
  eq(settled, false, "2 of 4 bytes: ");
  ctl.enqueue(bytes(3, 4, 5));
  const { value } = await p;
  arrEq(value, [1, 2, 3, 4, 5]);
  await rejects(r.read(new Uint8Array(2), { min: 0 }), TypeError);
  await rejects(r.read(new Uint8Array(2), { min: 3 }), RangeError);
  await rejects(r.read(new Uint16Array(2), { min: 3 }), RangeError);
  await rejects(r.read(new Uint8Array(2), { min: -1 }), TypeError);
  const p2 = r.read(new Uint16Array(4), { min: 2 });
  ctl.enqueue(bytes(1, 0));
  ctl.close();
  ctl.byobRequest.respond(0);
  const last = await p2;
  eq(last.done, true, "closed with 1 whole element of the 2 asked for: ");
  arrEq(last.value, [1]);
  eq(ReadableStreamBYOBReader.prototype.read.length, 1);
});

check("closing with a pending BYOB read resolves it done with an empty view", async () => {
  let ctl;
  const rs = new ReadableStream({ type: "bytes", start: (c) => (ctl = c) });
  const r = rs.getReader({ mode: "byob" });
  const p = r.read(new Uint8Array(8));
  ctl.close();
  ctl.byobRequest.respond(0);
  const { value, done } = await p;
  eq(done, true);
  eq(value.byteLength, 0);
  eq(value.buffer.byteLength, 8);
});

check("a byte stream's tee gives each branch its own copy", async () => {
  const rs = new ReadableStream({
    type: "bytes",
    start(c) {
      c.enqueue(bytes(1, 2));
      c.close();
    },
  });
  const [a, b] = rs.tee();
  const ra = a.getReader({ mode: "byob" });
  const va = (await ra.read(new Uint8Array(4))).value;
  const vb = (await b.getReader().read()).value;
  arrEq(va, [1, 2]);
  arrEq(vb, [1, 2]);
  eq(va.buffer === vb.buffer, false);
  eq((await ra.read(new Uint8Array(1))).done, true);
});

check("BYOB readers need byte streams", () => {
  throws(() => new ReadableStream().getReader({ mode: "byob" }), TypeError);
  throws(() => new ReadableStream({ type: "bytes" }).getReader({ mode: "other" }), TypeError);
  throws(() => new ReadableStreamBYOBReader(new ReadableStream()), TypeError);
  new ReadableStreamBYOBReader(new ReadableStream({ type: "bytes" }));
  throws(() => new ReadableStream({ type: "bytes" }, { size: () => 1 }), RangeError);
});

// ---- writable ---------------------------------------------------------------------------------------------------
section("writable");

check("writes reach the sink in order, then close", async () => {
  const log = [];
  const ws = new WritableStream({
    write: (chunk, c) => {
      log.push(chunk);
      eq(c instanceof WritableStreamDefaultController, true);
    },
    close: () => log.push("close"),
  });
  const w = ws.getWriter();
  throws(() => ws.getWriter(), TypeError);
  await w.write("a");
  await w.write("b");
  await w.close();
  await w.closed;
  arrEq(log, ["a", "b", "close"]);
  await rejects(w.write("c"), TypeError);
});

check("backpressure: ready waits for the sink, desiredSize counts", async () => {
  let finish;
  const ws = new WritableStream(
    { write: () => new Promise((r) => (finish = r)) },
    new CountQueuingStrategy({ highWaterMark: 2 }),
  );
  const w = ws.getWriter();
  eq(w.desiredSize, 2);
  w.write(1);
  w.write(2);
  eq(w.desiredSize, 0);
  let ready = false;
  w.ready.then(() => (ready = true));
  await tick();
  eq(ready, false);
  finish();
  await tick();
  eq(ready, true);
});

check("abort() rejects queued writes and waits for the one in flight; the signal aborts", async () => {
  let reason = "none", signal, finish;
  const ws = new WritableStream({
    start(c) {
      if (typeof AbortController === "function") signal = c.signal;
    },
    write: () => new Promise((r) => (finish = r)),
    abort: (r) => {
      reason = r;
    },
  });
  const w = ws.getWriter();
  await w.ready;
  const inFlight = w.write("in flight");
  const queued = w.write("queued");
  const aborted = w.abort("stop");
  if (signal) {
    eq(signal.aborted, true);
    eq(signal.reason, "stop");
  }
  await tick();
  eq(reason, "none", "abort waits for the write in flight: ");
  finish();
  await inFlight;
  eq(await rejects(queued), "stop");
  await aborted;
  eq(reason, "stop");
  eq(await rejects(w.closed), "stop");
});

check("a throwing sink errors the stream; controller.error() too", async () => {
  const e = new Error("sink");
  const w = new WritableStream({
    write() {
      throw e;
    },
  }).getWriter();
  eq(await rejects(w.write("x")), e);
  eq(await rejects(w.closed), e);
  let ctl;
  const w2 = new WritableStream({ start: (c) => (ctl = c) }).getWriter();
  ctl.error(e);
  eq(await rejects(w2.ready), e);
  eq(w2.desiredSize, null);
});

check("releaseLock() rejects the old writer's promises", async () => {
  const ws = new WritableStream();
  const w = ws.getWriter();
  w.releaseLock();
  eq(ws.locked, false);
  await rejects(w.closed, TypeError);
  await rejects(w.write(1), TypeError);
  throws(() => w.desiredSize, TypeError);
  await ws.getWriter().close();
  throws(() => new WritableStream({ type: "bytes" }), RangeError);
});

// ---- transform --------------------------------------------------------------------------------------------------
section("transform");

check("the identity transform passes chunks through", async () => {
  const ts = new TransformStream();
  const w = ts.writable.getWriter();
  w.write("a");
  w.close();
  arrEq(await collect(ts.readable), ["a"]);
});

check("transform and flush enqueue; terminate closes the readable side", async () => {
  const ts = new TransformStream({
    transform: (chunk, c) => {
      c.enqueue(chunk.toUpperCase());
      c.enqueue(chunk);
    },
    flush: (c) => c.enqueue("end"),
  });
  const w = ts.writable.getWriter();
  w.write("x");
  w.close();
  arrEq(await collect(ts.readable), ["X", "x", "end"]);
  let ctl;
  const t2 = new TransformStream({ start: (c) => (ctl = c) });
  ctl.terminate();
  eq((await t2.readable.getReader().read()).done, true);
  await rejects(t2.writable.getWriter().write(1), TypeError);
});

check("errors travel both ways", async () => {
  const e = new Error("t");
  const ts = new TransformStream({
    transform() {
      throw e;
    },
  });
  const w = ts.writable.getWriter();
  const r = ts.readable.getReader();
  r.read().catch(() => {}); // a read lifts the backpressure that holds the write
  eq(await rejects(w.write(1)), e);
  eq(await rejects(r.closed), e);
  const t2 = new TransformStream();
  const w2 = t2.writable.getWriter();
  await t2.readable.cancel("gone");
  eq(await rejects(w2.closed), "gone");
  throws(() => new TransformStream({ readableType: "bytes" }), RangeError);
});

check("the readable side's high-water mark holds writes back", async () => {
  const ts = new TransformStream({}, undefined, { highWaterMark: 1 });
  const w = ts.writable.getWriter();
  await w.write("fits");
  let second = false;
  w.write("waits").then(() => (second = true));
  await tick();
  eq(second, false);
  const r = ts.readable.getReader();
  eq((await r.read()).value, "fits");
  await tick();
  eq(second, true);
});

// ---- pipe -------------------------------------------------------------------------------------------------------
section("pipe");

const source = (chunks, extra = {}) =>
  new ReadableStream({
    start(c) {
      for (const x of chunks) c.enqueue(x);
      c.close();
    },
    ...extra,
  });
const sink = (log, extra = {}) =>
  new WritableStream({ write: (x) => log.push(x), close: () => log.push("close"), abort: (r) => log.push(`abort ${r}`), ...extra });

check("pipeTo copies and closes; preventClose keeps the destination open", async () => {
  const log = [];
  await source([1, 2]).pipeTo(sink(log));
  arrEq(log, [1, 2, "close"]);
  const log2 = [];
  const ws = sink(log2);
  await source([3]).pipeTo(ws, { preventClose: true });
  arrEq(log2, [3]);
  eq(ws.locked, false);
});

check("a source error aborts the destination, unless preventAbort", async () => {
  const e = "bad";
  const failing = () => new ReadableStream({ start: (c) => c.error(e) });
  const log = [];
  eq(await rejects(failing().pipeTo(sink(log))), e);
  arrEq(log, ["abort bad"]);
  const log2 = [];
  eq(await rejects(failing().pipeTo(sink(log2), { preventAbort: true })), e);
  arrEq(log2, []);
});

check("a destination error cancels the source, unless preventCancel", async () => {
  const log = [];
  const rs = new ReadableStream({ pull: (c) => c.enqueue("x"), cancel: (r) => log.push(`cancel ${r}`) });
  const ws = new WritableStream({
    write() {
      throw "full";
    },
  });
  eq(await rejects(rs.pipeTo(ws)), "full");
  arrEq(log, ["cancel full"]);
});

check("pipeThrough chains transforms; locked streams are refused", async () => {
  const double = () => new TransformStream({ transform: (x, c) => c.enqueue(x * 2) });
  arrEq(await collect(source([1, 2]).pipeThrough(double()).pipeThrough(double())), [4, 8]);
  const rs = source([]);
  rs.getReader();
  await rejects(rs.pipeTo(new WritableStream()), TypeError);
  throws(() => rs.pipeThrough(double()), TypeError);
  await rejects(source([]).pipeTo({}), TypeError);
  throws(() => source([]).pipeThrough({ readable: 1, writable: 2 }), TypeError);
});

check("an AbortSignal stops a pipe", async () => {
  if (typeof AbortController !== "function") return; // prelude_events.js provides it
  const ac = new AbortController();
  const log = [];
  const rs = new ReadableStream({ cancel: (r) => log.push("cancel") });
  const p = rs.pipeTo(sink(log), { signal: ac.signal });
  ac.abort("halt");
  eq(await rejects(p), "halt");
  arrEq(log.sort(), ["abort halt", "cancel"]);
  await rejects(new ReadableStream().pipeTo(new WritableStream(), { signal: {} }), TypeError);
  // The pipe's abort algorithm is not a listener: a listener that stops the event does not stop the pipe.
  const ac2 = new AbortController();
  ac2.signal.addEventListener("abort", (e) => e.stopImmediatePropagation());
  const p2 = new ReadableStream().pipeTo(new WritableStream(), { signal: ac2.signal });
  ac2.abort("second");
  eq(await rejects(p2), "second");
  // An aborted signal stops the pipe before it starts.
  const ac3 = new AbortController();
  ac3.abort("early");
  eq(await rejects(source([1]).pipeTo(new WritableStream(), { signal: ac3.signal })), "early");
});

// ---- idl --------------------------------------------------------------------------------------------------------
section("idl");

const classes = [
  "ReadableStream", "ReadableStreamDefaultReader", "ReadableStreamBYOBReader", "ReadableStreamBYOBRequest",
  "ReadableStreamDefaultController", "ReadableByteStreamController", "WritableStream", "WritableStreamDefaultWriter",
  "WritableStreamDefaultController", "TransformStream", "TransformStreamDefaultController", "ByteLengthQueuingStrategy",
  "CountQueuingStrategy", "TextEncoderStream", "TextDecoderStream",
];

check("every interface is a non-enumerable global with its class string and enumerable members", () => {
  for (const name of classes) {
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    eq(typeof d.value, "function", `${name}: `);
    eq(d.enumerable, false, `${name} enumerable: `);
    const proto = d.value.prototype;
    eq(Object.prototype.toString.call(Object.create(proto)), `[object ${name}]`);
    for (const k of Object.getOwnPropertyNames(proto)) {
      if (k === "constructor") continue;
      eq(Object.getOwnPropertyDescriptor(proto, k).enumerable, true, `${name}.${k} enumerable: `);
    }
  }
});

check("lengths follow WebIDL", () => {
  const lengths = [
    [ReadableStream, 0], [ReadableStream.prototype.pipeTo, 1], [ReadableStream.prototype.pipeThrough, 1],
    [ReadableStream.prototype.cancel, 0], [ReadableStream.prototype.getReader, 0], [ReadableStreamDefaultReader, 1],
    [ReadableStreamBYOBReader.prototype.read, 1], [ReadableByteStreamController.prototype.enqueue, 1],
    [ReadableStreamDefaultController.prototype.enqueue, 0], [ReadableStreamBYOBRequest.prototype.respond, 1],
    [WritableStreamDefaultWriter.prototype.write, 0], [CountQueuingStrategy, 1], [TransformStream, 0],
    [TextDecoderStream, 0],
  ];
  for (const [f, n] of lengths) eq(f.length, n, `${f.name}.length: `);
});

check("controllers, requests and iterators cannot be constructed", () => {
  for (const C of [ReadableStreamDefaultController, ReadableByteStreamController, ReadableStreamBYOBRequest,
    WritableStreamDefaultController, TransformStreamDefaultController]) throws(() => new C(), TypeError);
});

check("brand checks: members on the wrong object throw or reject with a TypeError", async () => {
  const fake = {};
  throws(() => Object.getOwnPropertyDescriptor(ReadableStream.prototype, "locked").get.call(fake), TypeError);
  throws(() => ReadableStream.prototype.getReader.call(fake), TypeError);
  throws(() => ReadableStream.prototype.tee.call(fake), TypeError);
  await rejects(ReadableStream.prototype.cancel.call(fake), TypeError);
  await rejects(ReadableStream.prototype.pipeTo.call(fake, new WritableStream()), TypeError);
  await rejects(ReadableStreamDefaultReader.prototype.read.call(fake), TypeError);
  await rejects(Object.getOwnPropertyDescriptor(ReadableStreamDefaultReader.prototype, "closed").get.call(fake), TypeError);
  throws(() => ReadableStreamDefaultController.prototype.enqueue.call(fake, 1), TypeError);
  await rejects(WritableStream.prototype.abort.call(fake), TypeError);
  await rejects(WritableStreamDefaultWriter.prototype.write.call(fake, 1), TypeError);
  throws(() => Object.getOwnPropertyDescriptor(TransformStream.prototype, "readable").get.call(fake), TypeError);
  throws(() => Object.getOwnPropertyDescriptor(CountQueuingStrategy.prototype, "highWaterMark").get.call(fake), TypeError);
  // A stream's lookalike is not a stream.
  throws(() => new ReadableStreamDefaultReader(Object.create(ReadableStream.prototype)), TypeError);
  // Subclasses keep the brand.
  class Mine extends ReadableStream {}
  eq(new Mine().locked, false);
});

check("queuing strategies", () => {
  const c = new CountQueuingStrategy({ highWaterMark: 3 });
  eq(c.highWaterMark, 3);
  eq(c.size(), 1);
  eq(c.size, new CountQueuingStrategy({ highWaterMark: 1 }).size);
  const b = new ByteLengthQueuingStrategy({ highWaterMark: 10 });
  eq(b.size(new Uint8Array(7)), 7);
  eq(b.size.name, "size");
  throws(() => new CountQueuingStrategy(), TypeError);
  throws(() => new CountQueuingStrategy({}), TypeError);
});

check("setters on Object.prototype do not see the streams' own bookkeeping", async () => {
  const names = ["a", "h", "total", "res", "rej", "promise", "reason", "chunks", "reader"];
  const seen = [];
  for (const n of names)
    Object.defineProperty(Object.prototype, n, { set() { seen.push(n); }, get() { return undefined; }, configurable: true });
  try {
    const rs = new ReadableStream({ start: (c) => { c.enqueue("x"); c.close(); } });
    const ws = new WritableStream();
    await rs.pipeTo(ws);
    const w = new WritableStream().getWriter();
    await w.write(1);
    await w.abort("r");
  } finally {
    for (const n of names) delete Object.prototype[n];
  }
  arrEq(seen, []);
});

check("patched globals do not change the streams", async () => {
  const then = Promise.prototype.then;
  const rs = new ReadableStream({ start: (c) => c.enqueue(1) });
  Promise.prototype.then = () => {
    throw new Error("patched then was called");
  };
  try {
    rs.tee();
  } finally {
    Promise.prototype.then = then;
  }
});

// ---- encoding ---------------------------------------------------------------------------------------------------
section("encoding");

check("TextEncoderStream keeps a surrogate pair split across chunks; a lone one becomes U+FFFD", async () => {
  const tes = new TextEncoderStream();
  eq(tes.encoding, "utf-8");
  const w = tes.writable.getWriter();
  w.write("a\uD83D");
  w.write("\uDE00");
  w.write("\uD800");
  w.close();
  const out = await collect(tes.readable);
  eq(out.every((c) => c instanceof Uint8Array), true);
  arrEq(out.flatMap((c) => [...c]), [0x61, 0xf0, 0x9f, 0x98, 0x80, 0xef, 0xbf, 0xbd]);
});

check("TextDecoderStream decodes characters split across chunks", async () => {
  const tds = new TextDecoderStream();
  eq(tds.encoding, "utf-8");
  eq(tds.fatal, false);
  const w = tds.writable.getWriter();
  w.write(bytes(0xe2, 0x82));
  w.write(bytes(0xac, 0x21).buffer);
  w.close();
  eq((await collect(tds.readable)).join(""), "€!");
});

check("TextDecoderStream: fatal errors and bad chunks reject with a TypeError", async () => {
  const tds = new TextDecoderStream("utf-8", { fatal: true });
  eq(tds.fatal, true);
  const w = tds.writable.getWriter();
  const r = tds.readable.getReader();
  r.read().catch(() => {});
  await rejects(w.write(bytes(0x80, 0x41)), TypeError);
  await rejects(r.closed, TypeError);
  const t2 = new TextDecoderStream();
  t2.readable.getReader().read().catch(() => {});
  await rejects(t2.writable.getWriter().write("not bytes"), TypeError);
  throws(() => new TextDecoderStream("nope"), RangeError);
});

check("encoding streams pipe", async () => {
  const out = await collect(source(["hé", "llo"]).pipeThrough(new TextEncoderStream()).pipeThrough(new TextDecoderStream()));
  eq(out.join(""), "héllo");
});

export default {
  async fetch(request) {
    const name = new URL(request.url).pathname.slice(1);
    const checks = groups[name];
    if (!checks) return new Response(`no group ${name}`, { status: 404 });
    const failures = [];
    let passed = 0;
    for (const [title, fn] of checks) {
      try {
        await fn();
        passed++;
      } catch (e) {
        failures.push(`${title}: ${e && e.message}`);
      }
    }
    return Response.json({ passed, failures });
  },
};
