// Checks of the Workers globals (prelude_globals.js), run inside a worker: answers {passed, failures}.
const checks = [];
const check = (name, fn) => checks.push([name, fn]);
const eq = (a, b) => {
  if (a !== b) throw new Error(`got ${JSON.stringify(a)}, expected ${JSON.stringify(b)}`);
};
const throws = (fn, name) => {
  try {
    fn();
  } catch (e) {
    if (name && e.name !== name) throw new Error(`threw ${e.name}: ${e.message}, expected ${name}`);
    return;
  }
  throw new Error("did not throw");
};

check("navigator: one core, a user agent", () => {
  eq(navigator.hardwareConcurrency, 1);
  eq(navigator.userAgent.startsWith("isocore/"), true);
  eq(navigator.language, "en-US");
  eq(Object.prototype.toString.call(navigator), "[object Navigator]");
  throws(() => new Navigator(), "TypeError");
});
check("performance: now, timeOrigin, toJSON", () => {
  const a = performance.now(), b = performance.now();
  eq(b >= a, true);
  eq(performance instanceof Performance, true);
  eq(Math.abs(performance.timeOrigin + performance.now() - Date.now()) < 1000, true);
  eq(JSON.stringify(performance), JSON.stringify({ timeOrigin: performance.timeOrigin }));
});
check("structuredClone deep-copies and keeps cycles", () => {
  const o = { a: [1, { b: new Date(5) }], m: new Map([[1, 2]]) };
  o.self = o;
  const c = structuredClone(o);
  eq(c !== o && c.self === c, true);
  eq(c.a[1].b.getTime(), 5);
  eq(c.m.get(1), 2);
  throws(() => structuredClone(() => 1), "DataCloneError");
  throws(() => structuredClone(), "TypeError");
});
check("structuredClone transfers ArrayBuffers (the source is detached)", () => {
  const ab = new ArrayBuffer(4);
  new Uint8Array(ab).set([1, 2, 3, 4]);
  const view = new Uint8Array(ab, 1, 2);
  const c = structuredClone({ ab, view }, { transfer: [ab] });
  eq(ab.byteLength, 0);
  eq(c.ab.byteLength, 4);
  eq(c.view.buffer, c.ab);
  eq([...c.view].join(), "2,3");
  throws(() => structuredClone(ab, { transfer: [ab] }), "DataCloneError"); // detached now
  const x = new ArrayBuffer(1);
  throws(() => structuredClone(x, { transfer: [x, x] }), "DataCloneError");
  throws(() => structuredClone(1, { transfer: [{}] }), "DataCloneError");
  throws(() => structuredClone(1, { transfer: 5 }), "TypeError");
  eq(x.byteLength, 1); // nothing detached when the clone fails
  const y = new ArrayBuffer(2);
  throws(() => structuredClone({ y, f() {} }, { transfer: [y] }), "DataCloneError");
  eq(y.byteLength, 2);
});
check("reportError needs an argument", () => {
  throws(() => reportError(), "TypeError");
  reportError(new Error("a reported error (expected in the log)"));
});
check("queueMicrotask is a function", () => eq(typeof queueMicrotask, "function"));

const asyncChecks = [];
const acheck = (name, fn) => asyncChecks.push([name, fn]);
acheck("scheduler.wait waits", async () => {
  const t0 = Date.now();
  await scheduler.wait(30);
  eq(Date.now() - t0 >= 29, true);
  eq(scheduler instanceof Scheduler, true);
});
acheck("MessageChannel: clones, in order, asynchronously, after start", async () => {
  const { port1, port2 } = new MessageChannel();
  const got = [];
  const obj = { n: 1 };
  port1.postMessage(obj);
  obj.n = 2; // the clone was taken at postMessage
  port1.postMessage("two");
  port1.postMessage([3]);
  await scheduler.wait(5);
  eq(got.length, 0); // not started: queued
  const done = new Promise((resolve) => {
    port2.onmessage = (e) => {
      got.push(e.data);
      if (got.length === 3) resolve();
    };
  });
  eq(got.length, 0); // events are async
  await done;
  eq(JSON.stringify(got), '[{"n":1},"two",[3]]');
  eq(port2.onmessage !== null, true);
});
acheck("MessagePort: addEventListener + start, both directions, transfer, close", async () => {
  const ch = new MessageChannel();
  const ab = new ArrayBuffer(8);
  const back = new Promise((resolve) => ch.port1.addEventListener("message", (e) => resolve(e), { once: true }));
  ch.port1.start();
  ch.port2.onmessage = (e) => ch.port2.postMessage({ len: e.data.byteLength }, [e.data]);
  ch.port1.postMessage(ab, { transfer: [ab] });
  eq(ab.byteLength, 0);
  const e = await back;
  eq(e instanceof MessageEvent, true);
  eq(e.data.len, 8);
  eq(e.type, "message");
  ch.port1.close();
  let late = false;
  ch.port2.onmessage = () => (late = true);
  ch.port1.postMessage("after close");
  ch.port2.postMessage("after close");
  await scheduler.wait(10);
  eq(late, false);
  throws(() => new MessagePort(), "TypeError");
});

export default {
  async fetch() {
    const failures = [];
    let passed = 0;
    for (const [name, fn] of checks) {
      try {
        fn();
        passed++;
      } catch (e) {
        failures.push(`${name}: ${e && e.message}`);
      }
    }
    for (const [name, fn] of asyncChecks) {
      try {
        await fn();
        passed++;
      } catch (e) {
        failures.push(`${name}: ${e && e.message}`);
      }
    }
    return Response.json({ passed, failures });
  },
};
