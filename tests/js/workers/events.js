// Checks of DOM events and abort (EventTarget, Event, CustomEvent, AbortController, AbortSignal) and of
// DOMException, run inside a worker. GET /suite answers {passed, failures}; /timeout and /timeout-any wait
// for AbortSignal.timeout on the reactor's timers.
const checks = [];
const check = (name, fn) => checks.push([name, fn]);
const eq = (a, b, what = "") => {
  if (a !== b && !(Number.isNaN(a) && Number.isNaN(b))) throw new Error(`${what}got ${String(a)}, expected ${String(b)}`);
};
const throws = (fn, ctor, name) => {
  try {
    fn();
  } catch (e) {
    if (ctor && !(e instanceof ctor)) throw new Error(`threw ${e}, expected a ${ctor.name}`);
    if (name && e.name !== name) throw new Error(`threw ${e.name}, expected ${name}`);
    return e;
  }
  throw new Error("did not throw");
};

// ---- Event
check("Event: constructor, defaults, init dictionary", () => {
  throws(() => new Event(), TypeError);
  throws(() => Event("x"), TypeError);
  throws(() => new Event("x", 5), TypeError);
  throws(() => new Event(Symbol("s")), TypeError);
  const e = new Event("x");
  eq(e.type, "x");
  eq(e.bubbles, false);
  eq(e.cancelable, false);
  eq(e.composed, false);
  eq(e.target, null);
  eq(e.currentTarget, null);
  eq(e.srcElement, null);
  eq(e.eventPhase, Event.NONE);
  eq(e.defaultPrevented, false);
  eq(e.returnValue, true);
  eq(e.isTrusted, false);
  eq(typeof e.timeStamp, "number");
  eq(e.timeStamp >= 0, true);
  const order = [];
  const f = new Event("y", {
    get composed() { order.push("composed"); return true; },
    get cancelable() { order.push("cancelable"); return true; },
    get bubbles() { order.push("bubbles"); return 1; },
  });
  eq(order.join(), "bubbles,cancelable,composed", "dictionary order: ");
  eq(f.bubbles && f.cancelable && f.composed, true);
  eq(new Event("z", null).bubbles, false);
});
check("Event: constants, class string, brand checks, isTrusted is unforgeable", () => {
  eq(Event.NONE, 0);
  eq(Event.CAPTURING_PHASE, 1);
  eq(Event.AT_TARGET, 2);
  eq(Event.BUBBLING_PHASE, 3);
  eq(new Event("x").BUBBLING_PHASE, 3);
  eq(Object.prototype.toString.call(new Event("x")), "[object Event]");
  eq(Object.getOwnPropertyDescriptor(Event.prototype, "type").enumerable, true);
  throws(() => Object.getOwnPropertyDescriptor(Event.prototype, "type").get.call({}), TypeError);
  throws(() => Event.prototype.preventDefault.call({}), TypeError);
  const a = Object.getOwnPropertyDescriptor(new Event("a"), "isTrusted");
  const b = Object.getOwnPropertyDescriptor(new Event("b"), "isTrusted");
  eq(a.get, b.get);
  eq(a.configurable, false);
  throws(() => a.get.call({}), TypeError);
});
check("Event: preventDefault only when cancelable; returnValue and cancelBubble", () => {
  const e = new Event("x");
  e.preventDefault();
  eq(e.defaultPrevented, false);
  const c = new Event("x", { cancelable: true });
  c.returnValue = true;
  eq(c.defaultPrevented, false);
  c.returnValue = false;
  eq(c.defaultPrevented, true);
  eq(c.returnValue, false);
  c.cancelBubble = false;
  eq(c.cancelBubble, false);
  c.cancelBubble = true;
  eq(c.cancelBubble, true);
});
check("Event: initEvent resets flags, does nothing during dispatch", () => {
  const e = new Event("x", { cancelable: true });
  e.preventDefault();
  e.stopPropagation();
  e.initEvent("y", true);
  eq(e.type, "y");
  eq(e.bubbles, true);
  eq(e.cancelable, false);
  eq(e.defaultPrevented, false);
  eq(e.cancelBubble, false);
  throws(() => e.initEvent(), TypeError);
  const t = new EventTarget();
  t.addEventListener("z", (ev) => {
    ev.initEvent("other", false, false);
    eq(ev.type, "z");
  });
  t.dispatchEvent(new Event("z"));
});
check("CustomEvent: detail and initCustomEvent", () => {
  eq(new CustomEvent("x").detail, null);
  const c = new CustomEvent("x", { detail: { a: 1 }, bubbles: true });
  eq(c.detail.a, 1);
  eq(c.bubbles, true);
  eq(c instanceof Event, true);
  c.initCustomEvent("y", false, true, 42);
  eq(c.type, "y");
  eq(c.detail, 42);
  eq(c.cancelable, true);
  const plain = new Event("x");
  throws(() => CustomEvent.prototype.initCustomEvent.call(plain, "y"), TypeError);
  eq(plain.type, "x", "a failed brand check changes nothing: ");
  eq(Object.prototype.toString.call(c), "[object CustomEvent]");
});

// ---- EventTarget
check("EventTarget: target, currentTarget, eventPhase during dispatch; after it", () => {
  const t = new EventTarget();
  const ev = new Event("x");
  let seen = null;
  t.addEventListener("x", function (e) {
    seen = [this === t, e.target === t, e.currentTarget === t, e.srcElement === t, e.eventPhase, e.composedPath().length];
  });
  eq(t.dispatchEvent(ev), true);
  eq(seen.join(), "true,true,true,true,2,1");
  eq(ev.target, t, "target stays after dispatch: ");
  eq(ev.currentTarget, null);
  eq(ev.eventPhase, 0);
  eq(ev.composedPath().length, 0);
});
check("EventTarget: capture listeners first, order kept, duplicates ignored", () => {
  const t = new EventTarget();
  const out = [];
  const f = () => out.push("f");
  t.addEventListener("x", f);
  t.addEventListener("x", f);
  t.addEventListener("x", f, false);
  t.addEventListener("x", () => out.push("g"));
  t.addEventListener("x", f, { capture: true });
  t.addEventListener("x", () => out.push("c"), true);
  t.dispatchEvent(new Event("x"));
  eq(out.join(), "f,c,f,g");
  t.removeEventListener("x", f, true);
  out.length = 0;
  t.dispatchEvent(new Event("x"));
  eq(out.join(), "c,f,g");
});
check("EventTarget: handleEvent objects, looked up at each call", () => {
  const t = new EventTarget();
  const out = [];
  const obj = { handleEvent(e) { out.push(this === obj ? "this" : "other"); } };
  t.addEventListener("x", obj);
  t.dispatchEvent(new Event("x"));
  obj.handleEvent = () => out.push("second");
  t.dispatchEvent(new Event("x"));
  obj.handleEvent = 7; // not callable: reported, dispatch goes on
  t.addEventListener("x", () => out.push("after"));
  t.dispatchEvent(new Event("x"));
  eq(out.join(), "this,second,after");
});
check("EventTarget: argument checks", () => {
  const t = new EventTarget();
  throws(() => t.addEventListener("x"), TypeError);
  throws(() => t.addEventListener("x", 5), TypeError);
  throws(() => t.addEventListener("x", () => {}, { signal: null }), TypeError);
  throws(() => t.addEventListener("x", () => {}, { signal: {} }), TypeError);
  eq(t.addEventListener("x", null), undefined);
  eq(t.removeEventListener("x", null), undefined);
  throws(() => t.dispatchEvent({ type: "x" }), TypeError);
  throws(() => t.dispatchEvent(), TypeError);
  throws(() => EventTarget.prototype.addEventListener.call({}, "x", () => {}), TypeError);
});
check("EventTarget: a listener that throws is reported and dispatch goes on", () => {
  const t = new EventTarget();
  const out = [];
  t.addEventListener("x", () => { throw new Error("listener error on purpose (events suite)"); });
  t.addEventListener("x", () => out.push("next"));
  eq(t.dispatchEvent(new Event("x")), true);
  eq(out.join(), "next");
});
check("EventTarget: stopPropagation and stopImmediatePropagation", () => {
  const t = new EventTarget();
  const out = [];
  t.addEventListener("x", (e) => { out.push("cap"); e.stopPropagation(); }, true);
  t.addEventListener("x", () => out.push("cap2"), true);
  t.addEventListener("x", () => out.push("bubble"));
  t.dispatchEvent(new Event("x"));
  eq(out.join(), "cap,cap2", "stopPropagation skips the non-capture pass: ");
  const u = new EventTarget();
  out.length = 0;
  u.addEventListener("x", (e) => { out.push("a"); e.stopImmediatePropagation(); });
  u.addEventListener("x", () => out.push("b"));
  u.dispatchEvent(new Event("x"));
  eq(out.join(), "a");
  const e = new Event("x");
  e.stopPropagation();
  u.dispatchEvent(e);
  eq(out.join(), "a", "an event stopped before its dispatch reaches no listener: ");
  u.dispatchEvent(e);
  eq(out.join(), "a,a", "the flags are cleared at the end of a dispatch: ");
});
check("EventTarget: once, passive, preventDefault and the return value", () => {
  const t = new EventTarget();
  let n = 0;
  t.addEventListener("x", () => n++, { once: true });
  t.dispatchEvent(new Event("x"));
  t.dispatchEvent(new Event("x"));
  eq(n, 1);
  t.addEventListener("p", (e) => { e.preventDefault(); eq(e.defaultPrevented, false, "passive: "); }, { passive: true });
  eq(t.dispatchEvent(new Event("p", { cancelable: true })), true);
  t.addEventListener("c", (e) => e.preventDefault());
  eq(t.dispatchEvent(new Event("c", { cancelable: true })), false);
  eq(t.dispatchEvent(new Event("c")), true);
});
check("EventTarget: listeners added during dispatch wait; removed ones are skipped", () => {
  const t = new EventTarget();
  const out = [];
  const late = () => out.push("late");
  const b = () => out.push("b");
  t.addEventListener("x", () => {
    out.push("a");
    t.addEventListener("x", late);
    t.removeEventListener("x", b);
  });
  t.addEventListener("x", b);
  t.dispatchEvent(new Event("x"));
  eq(out.join(), "a");
  t.dispatchEvent(new Event("x"));
  eq(out.join(), "a,a,late");
});
check("EventTarget: a dispatching event cannot be dispatched again", () => {
  const t = new EventTarget();
  let inner = null;
  t.addEventListener("x", (e) => {
    try {
      t.dispatchEvent(e);
    } catch (err) {
      inner = err;
    }
  });
  t.dispatchEvent(new Event("x"));
  eq(inner instanceof DOMException, true);
  eq(inner.name, "InvalidStateError");
});
check("EventTarget: subclasses and the signal option", () => {
  class Emitter extends EventTarget {
    emit(type, detail) { return this.dispatchEvent(new CustomEvent(type, { detail })); }
  }
  const em = new Emitter();
  const c = new AbortController();
  const got = [];
  em.addEventListener("d", (e) => got.push(e.detail), { signal: c.signal });
  em.emit("d", 1);
  c.abort();
  em.emit("d", 2);
  em.addEventListener("d", (e) => got.push(e.detail), { signal: c.signal }); // aborted: never added
  em.emit("d", 3);
  eq(got.join(), "1");
  eq(em instanceof EventTarget, true);
});

// ---- AbortController / AbortSignal
check("AbortController: abort fires once, synchronously, trusted, with the default reason", () => {
  const c = new AbortController();
  const s = c.signal;
  eq(c.signal, s);
  eq(s.aborted, false);
  eq(s.reason, undefined);
  const out = [];
  s.onabort = (e) => out.push(`on:${e.type}:${e.isTrusted}:${e.target === s}:${e.bubbles}:${e.cancelable}`);
  s.addEventListener("abort", () => out.push(`listener:${s.aborted}`));
  c.abort();
  eq(out.join("|"), "on:abort:true:true:false:false|listener:true");
  c.abort("again");
  eq(out.length, 2);
  eq(s.aborted, true);
  eq(s.reason instanceof DOMException, true);
  eq(s.reason.name, "AbortError");
  eq(s.reason.code, 20);
  throws(() => s.throwIfAborted(), DOMException, "AbortError");
});
check("AbortSignal: onabort is an event handler attribute", () => {
  const c = new AbortController();
  const s = c.signal;
  const out = [];
  eq(s.onabort, null);
  const h = () => out.push("h");
  s.addEventListener("abort", () => out.push("first"));
  s.onabort = () => out.push("replaced");
  s.addEventListener("abort", () => out.push("last"));
  s.onabort = h; // keeps its place
  eq(s.onabort, h);
  s.onabort = 5; // not an object: null
  eq(s.onabort, null);
  s.onabort = h;
  c.abort();
  eq(out.join(), "first,last,h");
});
check("AbortSignal: reasons, throwIfAborted, abort(), brand checks", () => {
  const c = new AbortController();
  c.signal.throwIfAborted();
  const why = { why: 1 };
  c.abort(why);
  eq(c.signal.reason, why);
  try {
    c.signal.throwIfAborted();
    throw new Error("did not throw");
  } catch (e) {
    eq(e, why);
  }
  const a = AbortSignal.abort();
  eq(a.aborted, true);
  eq(a.reason.name, "AbortError");
  eq(AbortSignal.abort(0).reason, 0);
  throws(() => new AbortSignal(), TypeError);
  throws(() => Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted").get.call(new EventTarget()), TypeError);
  throws(() => AbortController.prototype.abort.call({}), TypeError);
  eq(Object.getPrototypeOf(AbortSignal.prototype), EventTarget.prototype);
  eq(Object.prototype.toString.call(a), "[object AbortSignal]");
  eq(String(new AbortController()), "[object AbortController]");
});
check("AbortSignal.abort() fires no event", () => {
  const s = AbortSignal.abort();
  let n = 0;
  s.onabort = () => n++;
  s.addEventListener("abort", () => n++);
  eq(n, 0);
});
check("AbortSignal.timeout: argument conversion", () => {
  throws(() => AbortSignal.timeout(), TypeError);
  throws(() => AbortSignal.timeout(-1), TypeError);
  throws(() => AbortSignal.timeout(NaN), TypeError);
  throws(() => AbortSignal.timeout(Infinity), TypeError);
  throws(() => AbortSignal.timeout(2 ** 53), TypeError);
  const s = AbortSignal.timeout(1e12); // longer than any request: never fires
  eq(s.aborted, false);
});
check("AbortSignal.any: follows its sources, flattens dependent ones", () => {
  throws(() => AbortSignal.any(), TypeError);
  throws(() => AbortSignal.any(5), TypeError);
  throws(() => AbortSignal.any([{}]), TypeError);
  const a = new AbortController(), b = new AbortController();
  const any = AbortSignal.any([a.signal, b.signal]);
  const nested = AbortSignal.any([any]);
  const out = [];
  any.onabort = () => out.push("any:" + any.reason);
  nested.onabort = () => out.push("nested:" + nested.reason + ":" + any.aborted);
  a.signal.onabort = () => out.push("a:" + nested.aborted);
  eq(any.aborted, false);
  a.abort("A");
  b.abort("B");
  eq(out.join(), "a:true,any:A,nested:A:true");
  eq(AbortSignal.any([]).aborted, false);
  const pre = AbortSignal.any([new AbortController().signal, AbortSignal.abort("early")]);
  eq(pre.aborted, true);
  eq(pre.reason, "early");
});
check("AbortSignal.any: signals nobody holds still fire while they have listeners (across garbage collections)", async () => {
  const c = new AbortController();
  let fired = 0;
  const make = () => {
    for (let i = 0; i < 100; i++) AbortSignal.any([c.signal]).addEventListener("abort", () => fired++);
    for (let i = 0; i < 100; i++) AbortSignal.any([c.signal]).onabort = () => fired++;
    for (let i = 0; i < 1000; i++) AbortSignal.any([c.signal]); // no listener: may be collected
  };
  make();
  for (let round = 0; round < 5; round++) {
    let junk = [];
    for (let i = 0; i < 20000; i++) junk.push({ i, s: "x" + i, a: new Array(8) });
    junk = null;
    await new Promise((r) => setTimeout(r, 1));
  }
  c.abort();
  eq(fired, 200);
});

// ---- MessageChannel
check("MessageChannel: messages are cloned and arrive in later tasks, in order", async () => {
  const { port1, port2 } = new MessageChannel();
  const got = [];
  const all = new Promise((resolve) => {
    port2.onmessage = (e) => {
      got.push(e.data);
      if (got.length === 2) resolve(e);
    };
  });
  const obj = { n: 1, list: [1, 2] };
  port1.postMessage(obj);
  port1.postMessage("two");
  eq(got.length, 0, "delivered synchronously: ");
  const last = await all;
  eq(got[0] !== obj && got[0].list[1] === 2, true, "a clone: ");
  eq(got[1], "two");
  eq(last instanceof MessageEvent, true);
  eq(last.isTrusted, true);
  eq(last.target, port2);
  eq(last.ports.length, 0);
  eq(Object.isFrozen(last.ports), true);
  throws(() => port1.postMessage(() => {}), DOMException, "DataCloneError");
  throws(() => port1.postMessage(1, [port1]), DOMException, "DataCloneError");
  throws(() => port1.postMessage(1, [{}]), DOMException, "DataCloneError");
  throws(() => port1.postMessage(1, [5]), TypeError);
  const buf = new Uint8Array([1, 2, 3]).buffer;
  const moved = new Promise((resolve) => (port1.onmessage = (e) => resolve(e.data)));
  port2.postMessage({ buf }, [buf]);
  eq(buf.byteLength, 0, "a transferred buffer is detached: ");
  throws(() => port2.postMessage(buf, [buf]), DOMException, "DataCloneError");
  eq(Array.from(new Uint8Array((await moved).buf)).join(), "1,2,3");
  throws(() => new MessagePort(), TypeError);
});
check("MessageChannel: addEventListener needs start(); ports travel in the transfer list; close", async () => {
  const a = new MessageChannel(), b = new MessageChannel();
  const first = new Promise((resolve) => a.port2.addEventListener("message", resolve));
  a.port1.postMessage("hello", [b.port1]);
  await new Promise((r) => setTimeout(r, 5));
  a.port2.start();
  const e = await first;
  eq(e.data, "hello");
  eq(e.ports.length, 1);
  const moved = e.ports[0];
  eq(moved instanceof MessagePort && moved !== b.port1, true);
  throws(() => a.port1.postMessage(0, { transfer: [b.port1] }), DOMException, "DataCloneError");
  const reply = new Promise((resolve) => (b.port2.onmessage = (ev) => resolve(ev.data)));
  moved.postMessage("through the moved port");
  eq(await reply, "through the moved port");
  a.port1.close();
  a.port1.postMessage("dropped");
  let n = 0;
  a.port2.onmessage = () => n++;
  await new Promise((r) => setTimeout(r, 5));
  eq(n, 0);
});

// ---- DOMException
check("DOMException: names, codes, constants, getters on the prototype", () => {
  const d = new DOMException();
  eq(d.name, "Error");
  eq(d.message, "");
  eq(d.code, 0);
  eq(new DOMException("m", "NotFoundError").code, 8);
  eq(new DOMException("m", "SyntaxError").code, 12);
  eq(new DOMException("m", "TimeoutError").code, 23);
  eq(new DOMException("m", "DataCloneError").code, 25);
  eq(new DOMException("m", "toString").code, 0);
  eq(new DOMException("m", "EncodingError").code, 0);
  eq(new DOMException(undefined, undefined).name, "Error");
  eq(new DOMException(null, null).name, "null");
  eq(DOMException.ABORT_ERR, 20);
  eq(DOMException.INDEX_SIZE_ERR, 1);
  eq(DOMException.VALIDATION_ERR, 16);
  eq(DOMException.prototype.DATA_CLONE_ERR, 25);
  eq(DOMException.length, 0);
  eq(Object.getOwnPropertyDescriptor(DOMException, "ABORT_ERR").writable, false);
  for (const k of ["name", "message", "code"]) {
    const desc = Object.getOwnPropertyDescriptor(DOMException.prototype, k);
    eq(typeof desc.get, "function", k + ": ");
    eq(desc.enumerable, true);
    throws(() => desc.get.call({}), TypeError);
    eq(Object.prototype.hasOwnProperty.call(d, k), false, k + " own: ");
  }
  eq(d instanceof Error, true);
  eq(Object.getPrototypeOf(DOMException.prototype), Error.prototype);
  eq(Object.prototype.toString.call(d), "[object DOMException]");
  const e = new DOMException("boom", "InvalidStateError");
  eq(String(e), "InvalidStateError: boom");
  eq(typeof e.stack, "string");
  eq(e.stack.startsWith("InvalidStateError: boom\n"), true, "stack: ");
  class Sub extends DOMException {}
  eq(new Sub("x", "AbortError").code, 20);
});

const results = async () => {
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
  return Response.json({ passed, failures });
};

export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/suite") return results();
    if (path === "/throwing") {
      // Two listeners throw (one of them through an onabort handler); the others still run; the errors are logged.
      const t = new EventTarget();
      const out = [];
      t.addEventListener("x", () => { throw new Error("listener boom 1"); });
      t.addEventListener("x", () => out.push("second"));
      t.addEventListener("x", { handleEvent() { throw new TypeError("listener boom 2"); } });
      t.addEventListener("x", () => out.push("fourth"));
      const ok = t.dispatchEvent(new Event("x", { cancelable: true }));
      const c = new AbortController();
      c.signal.onabort = () => { throw new RangeError("onabort boom 3"); };
      c.signal.addEventListener("abort", () => out.push("abort listener"));
      c.abort();
      return new Response(`${out.join(",")} ${ok}`);
    }
    if (path === "/timeout") {
      // Waits on the reactor's timers: the answer says how long the signal took and why it aborted.
      const t0 = performance.now();
      const s = AbortSignal.timeout(30);
      const early = s.aborted;
      const reason = await new Promise((resolve) => s.addEventListener("abort", () => resolve(s.reason)));
      return new Response(`${early} ${reason.name} ${reason.code} ${reason instanceof DOMException} ${Math.round(performance.now() - t0)}`);
    }
    if (path === "/timeout-any") {
      // The first of two timeouts wins; a controller never aborted takes no part.
      const keep = new AbortController();
      const s = AbortSignal.any([keep.signal, AbortSignal.timeout(200), AbortSignal.timeout(20)]);
      await new Promise((resolve) => (s.onabort = resolve));
      return new Response(`${s.reason.name} ${keep.signal.aborted}`);
    }
    return new Response("not found", { status: 404 });
  },
};
