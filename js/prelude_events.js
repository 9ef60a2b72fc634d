// prelude_events.js: DOM events and abort (WHATWG DOM): EventTarget, Event,
// CustomEvent, AbortController, AbortSignal; and HTML's MessageChannel, MessagePort
// and MessageEvent, which are events too. Part of the prelude.
//
// There is no tree here: an event's path is its target alone, so a dispatch runs the target's capture
// listeners, then its other listeners, all with eventPhase AT_TARGET (what the DOM standard does at a target).
// Internal state lives in private fields, which is also the WebIDL brand check: a getter or method called on
// the wrong object throws a TypeError. What other prelude files need is on internal.events and internal.webidl.
{
  // ---- WebIDL helpers (shared as internal.webidl) ------------------------------------------------------------

  // Makes the methods and accessors of an interface enumerable (class syntax makes them not), and sets its
  // class string.
  const idlInterface = (C, tag) => {
    for (const o of [C.prototype, C]) {
      for (const k of Reflect.ownKeys(o)) {
        if (k === "constructor" || k === "prototype" || k === "length" || k === "name") continue;
        const d = Object.getOwnPropertyDescriptor(o, k);
        if (d.configurable && !d.enumerable) Object.defineProperty(o, k, { ...d, enumerable: true });
      }
    }
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: tag, configurable: true });
  };
  // A dictionary argument: undefined and null are empty, objects (functions too) are read, anything else throws.
  const idlDict = (v, who) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== "object" && typeof v !== "function") throw new TypeError(`${who}: the options must be an object`);
    return v;
  };
  const LONE = /[\uD800-\uDFFF]/;
  const LONE_ALL = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
  // DOMString and USVString conversions (a Symbol throws a TypeError, as ToString does).
  const idlString = (v) => `${v}`;
  const idlUSV = (v) => {
    const s = `${v}`;
    return LONE.test(s) ? s.replace(LONE_ALL, "\uFFFD") : s;
  };
  const needArgs = (args, n, who) => {
    if (args.length < n) throw new TypeError(`${who}: ${n} argument${n > 1 ? "s" : ""} required, but only ${args.length} present`);
  };
  internal.webidl = { idlInterface, idlDict, idlString, idlUSV, needArgs };

  // An exception thrown by a listener or an abort algorithm: logged as console.error logs it; dispatch goes on.
  const report = (e) => {
    try {
      native.log(3, "Uncaught " + inspect(e));
    } catch {
      // Inspecting a hostile object may throw again: nothing more to say.
    }
  };

  // ---- Event ---------------------------------------------------------------------------------------------------

  const NONE = 0, CAPTURING_PHASE = 1, AT_TARGET = 2, BUBBLING_PHASE = 3;
  let E; // the Event internals, for EventTarget and AbortSignal (set in Event's static block)

  class Event {
    #type;
    #bubbles = false;
    #cancelable = false;
    #composed = false;
    #target = null;
    #current = null;
    #phase = NONE;
    #stop = false;
    #stopNow = false;
    #canceled = false;
    #passive = false;
    #dispatching = false;
    #trusted = false;
    #path = false;
    #timeStamp;

    constructor(type, eventInitDict = undefined) {
      needArgs(arguments, 1, "Event");
      this.#type = idlString(type);
      const d = idlDict(eventInitDict, "Event");
      if (d !== null) {
        this.#bubbles = !!d.bubbles;
        this.#cancelable = !!d.cancelable;
        this.#composed = !!d.composed;
      }
      this.#timeStamp = native.now();
      Object.defineProperty(this, "isTrusted", IS_TRUSTED);
    }
    get type() { return this.#type; }
    get target() { return this.#target; }
    get srcElement() { return this.#target; }
    get currentTarget() { return this.#current; }
    composedPath() { return this.#path && this.#current !== null ? [this.#current] : []; }
    get eventPhase() { return this.#phase; }
    stopPropagation() { this.#stop = true; }
    get cancelBubble() { return this.#stop; }
    set cancelBubble(value) { if (value) this.#stop = true; }
    stopImmediatePropagation() { this.#stop = this.#stopNow = true; }
    get bubbles() { return this.#bubbles; }
    get cancelable() { return this.#cancelable; }
    get returnValue() { return !this.#canceled; }
    set returnValue(value) { if (!value) this.#cancel(); }
    preventDefault() { this.#cancel(); }
    get defaultPrevented() { return this.#canceled; }
    get composed() { return this.#composed; }
    get timeStamp() { return this.#timeStamp; }
    initEvent(type, bubbles = false, cancelable = false) {
      needArgs(arguments, 1, "Event.initEvent");
      if (this.#dispatching) return;
      this.#init(idlString(type), !!bubbles, !!cancelable);
    }
    #cancel() {
      if (this.#cancelable && !this.#passive) this.#canceled = true;
    }
    #init(type, bubbles, cancelable) {
      this.#stop = this.#stopNow = this.#canceled = this.#trusted = false;
      this.#target = null;
      this.#type = type;
      this.#bubbles = bubbles;
      this.#cancelable = cancelable;
    }
    static {
      E = {
        is: (e) => e !== null && typeof e === "object" && #type in e,
        type: (e) => e.#type,
        isTrusted: (e) => e.#trusted,
        init: (e, type, bubbles, cancelable) => e.#init(type, bubbles, cancelable),
        trusted: (e, v) => { e.#trusted = v; },
        dispatching: (e) => e.#dispatching,
        // Dispatch starts at target: the event is marked, its path is the target alone.
        start: (e, target) => {
          e.#dispatching = true;
          e.#target = target;
          e.#current = target;
          e.#phase = AT_TARGET;
          e.#path = true;
        },
        end: (e) => {
          e.#phase = NONE;
          e.#current = null;
          e.#path = false;
          e.#dispatching = false;
          e.#stop = e.#stopNow = false;
        },
        stopped: (e) => e.#stop,
        stoppedNow: (e) => e.#stopNow,
        canceled: (e) => e.#canceled,
        cancel: (e) => e.#cancel(),
        passive: (e, v) => { e.#passive = v; },
        current: (e) => e.#current,
      };
    }
  }
  // isTrusted is [LegacyUnforgeable]: an own accessor of every event, the same getter for all.
  const IS_TRUSTED = {
    get: Object.getOwnPropertyDescriptor({
      get isTrusted() {
        if (!E.is(this)) throw new TypeError("Illegal invocation");
        return E.isTrusted(this);
      },
    }, "isTrusted").get,
    enumerable: true,
    configurable: false,
  };
  for (const [name, value] of [["NONE", NONE], ["CAPTURING_PHASE", CAPTURING_PHASE], ["AT_TARGET", AT_TARGET], ["BUBBLING_PHASE", BUBBLING_PHASE]]) {
    const d = { value, writable: false, enumerable: true, configurable: false };
    Object.defineProperty(Event, name, d);
    Object.defineProperty(Event.prototype, name, d);
  }
  idlInterface(Event, "Event");

  class CustomEvent extends Event {
    #detail = null;
    constructor(type, eventInitDict = undefined) {
      needArgs(arguments, 1, "CustomEvent");
      super(type, eventInitDict);
      const d = idlDict(eventInitDict, "CustomEvent");
      if (d !== null && d.detail !== undefined) this.#detail = d.detail;
    }
    get detail() { return this.#detail; }
    initCustomEvent(type, bubbles = false, cancelable = false, detail = null) {
      needArgs(arguments, 1, "CustomEvent.initCustomEvent");
      void this.#detail; // the brand check, before anything changes
      if (E.dispatching(this)) return;
      E.init(this, idlString(type), !!bubbles, !!cancelable);
      this.#detail = detail;
    }
  }
  idlInterface(CustomEvent, "CustomEvent");

  // ---- EventTarget ---------------------------------------------------------------------------------------------

  let T; // the EventTarget internals

  // The options of addEventListener, read in WebIDL's order (capture, once, passive, signal).
  function flatten(options, more) {
    if (typeof options === "boolean" || options === undefined || options === null || (typeof options !== "object" && typeof options !== "function"))
      return { capture: !!options, once: false, passive: false, signal: null };
    const capture = !!options.capture;
    if (!more) return { capture, once: false, passive: false, signal: null };
    const once = !!options.once, passive = !!options.passive;
    let signal = null;
    const s = options.signal;
    if (s !== undefined) {
      if (!A.is(s)) throw new TypeError("addEventListener: the signal option is not an AbortSignal");
      signal = s;
    }
    return { capture, once, passive, signal };
  }

  class EventTarget {
    #listeners = null; // type → [listener], where a listener is {callback, capture, once, passive, signal, removed, handle}
    #handlers = null; // "abort" → {value, listener}: the on<event> attributes

    constructor() {}

    addEventListener(type, callback, options = undefined) {
      void this.#listeners; // WebIDL: the receiver is checked before the arguments are converted
      needArgs(arguments, 2, "EventTarget.addEventListener");
      type = idlString(type);
      if (callback !== null && typeof callback !== "object" && typeof callback !== "function")
        throw new TypeError("EventTarget.addEventListener: the listener is not an object");
      const o = flatten(options, true);
      this.#add(type, callback, o);
    }
    removeEventListener(type, callback, options = undefined) {
      void this.#listeners;
      needArgs(arguments, 2, "EventTarget.removeEventListener");
      type = idlString(type);
      if (callback !== null && typeof callback !== "object" && typeof callback !== "function")
        throw new TypeError("EventTarget.removeEventListener: the listener is not an object");
      const { capture } = flatten(options, false);
      const list = this.#listeners?.get(type);
      if (!list) return;
      const l = list.find((x) => x.callback === callback && x.capture === capture);
      if (l) this.#remove(type, l);
    }
    dispatchEvent(event) {
      void this.#listeners;
      needArgs(arguments, 1, "EventTarget.dispatchEvent");
      if (!E.is(event)) throw new TypeError("EventTarget.dispatchEvent: the argument is not an Event");
      if (E.dispatching(event)) throw new DOMException("EventTarget.dispatchEvent: the event is already being dispatched", "InvalidStateError");
      E.trusted(event, false);
      return this.#dispatch(event);
    }

    #add(type, callback, o) {
      if (callback === null) return null;
      if (o.signal !== null && A.aborted(o.signal)) return null;
      if (this.#listeners === null) this.#listeners = new Map();
      let list = this.#listeners.get(type);
      if (list === undefined) this.#listeners.set(type, (list = []));
      if (list.some((x) => x.callback === callback && x.capture === o.capture)) return null;
      const l = { callback, capture: o.capture, once: o.once, passive: o.passive, signal: o.signal, removed: false, handle: null };
      list.push(l);
      if (type === "abort" && A.is(this)) A.pin(this);
      if (o.signal !== null) l.handle = A.add(o.signal, () => this.#remove(type, l));
      return l;
    }
    #remove(type, l) {
      if (l.removed) return;
      l.removed = true;
      const list = this.#listeners.get(type);
      const i = list.indexOf(l);
      if (i >= 0) list.splice(i, 1);
      if (l.handle !== null) A.remove(l.signal, l.handle);
    }
    #dispatch(event) {
      E.start(event, this);
      try {
        const list = this.#listeners?.get(E.type(event));
        if (list !== undefined && list.length) {
          const copy = list.slice();
          this.#invoke(event, copy, true);
          this.#invoke(event, copy, false);
        }
      } finally {
        E.end(event);
      }
      return !E.canceled(event);
    }
    #invoke(event, list, capturing) {
      if (E.stopped(event)) return;
      for (const l of list) {
        if (l.removed || l.capture !== capturing) continue;
        if (l.once) this.#remove(E.type(event), l);
        if (l.passive) E.passive(event, true);
        try {
          const cb = l.callback;
          if (typeof cb === "function") {
            cb.call(this, event);
          } else {
            const handleEvent = cb.handleEvent;
            if (typeof handleEvent !== "function") throw new TypeError("the listener has no handleEvent method");
            handleEvent.call(cb, event);
          }
        } catch (e) {
          report(e);
        }
        E.passive(event, false);
        if (E.stoppedNow(event)) break;
      }
    }
    static {
      T = {
        dispatch: (target, event) => target.#dispatch(event),
        handlerGet(target, name) {
          return target.#handlers?.get(name)?.value ?? null;
        },
        handlerSet(target, name, value) {
          if (target.#handlers === null) target.#handlers = new Map();
          let h = target.#handlers.get(name);
          if (h === undefined) target.#handlers.set(name, (h = { value: null, listener: null }));
          if (value === null || (typeof value !== "object" && typeof value !== "function")) {
            h.value = null;
            if (h.listener !== null) target.#remove(name, h.listener);
            h.listener = null;
            return;
          }
          h.value = value;
          if (h.listener === null) {
            const callback = function (event) {
              const fn = h.value;
              if (typeof fn !== "function") return;
              if (fn.call(this, event) === false) E.cancel(event);
            };
            h.listener = target.#add(name, callback, { capture: false, once: false, passive: false, signal: null });
          }
        },
      };
    }
  }
  idlInterface(EventTarget, "EventTarget");

  // Defines the on<name> event handler attribute on an interface's prototype.
  const defineEventHandler = (proto, name) => {
    const d = Object.getOwnPropertyDescriptor({
      get ["on" + name]() { return T.handlerGet(this, name); },
      set ["on" + name](value) { T.handlerSet(this, name, value); },
    }, "on" + name);
    Object.defineProperty(proto, "on" + name, { get: d.get, set: d.set, enumerable: true, configurable: true });
  };

  // ---- AbortSignal, AbortController ------------------------------------------------------------------------------

  let A; // the AbortSignal internals
  const kCreate = Symbol("create");
  const abortError = () => new DOMException("This operation was aborted", "AbortError");

  // ToNumber, then WebIDL's [EnforceRange] unsigned long long.
  function enforceULL(v, who) {
    let n = Number(v);
    if (!Number.isFinite(n)) throw new TypeError(`${who}: ${n} is not a finite number`);
    n = Math.trunc(n);
    if (n < 0 || n > Number.MAX_SAFE_INTEGER) throw new TypeError(`${who}: ${n} is out of range`);
    return n;
  }

  class AbortSignal extends EventTarget {
    #aborted = false;
    #reason = undefined;
    #algorithms = null; // Set of {fn}
    #dependent = false;
    #sources = null; // Set of AbortSignal (strong: a dependent signal keeps its sources)
    // The dependent signals (from any()) of a source, held weakly (a long-lived source would otherwise keep
    // every signal ever made from it), except those that have abort listeners or algorithms: the DOM standard
    // keeps those alive while they may still fire. Dropped when they abort.
    #dependents = null; // Set of WeakRef
    #pinned = null; // Set of AbortSignal
    #ref = null; // this signal's WeakRef, when it is dependent
    #live = 0; // dependents alive at the last sweep

    constructor(token = undefined) {
      if (token !== kCreate) throw new TypeError("Illegal constructor");
      super();
    }
    static abort(reason = undefined) {
      const s = new AbortSignal(kCreate);
      s.#aborted = true;
      s.#reason = reason === undefined ? abortError() : reason;
      return s;
    }
    static timeout(milliseconds) {
      needArgs(arguments, 1, "AbortSignal.timeout");
      const ms = enforceULL(milliseconds, "AbortSignal.timeout");
      const s = new AbortSignal(kCreate);
      // Past what a reactor timer takes (about 24.8 days) the signal never fires: no request lives that long.
      if (ms <= 2147483647) addTimer(() => s.#signalAbort(new DOMException("The operation timed out", "TimeoutError")), ms, [], false);
      return s;
    }
    static any(signals) {
      needArgs(arguments, 1, "AbortSignal.any");
      if (signals === null || (typeof signals !== "object" && typeof signals !== "function") || typeof signals[Symbol.iterator] !== "function")
        throw new TypeError("AbortSignal.any: the argument is not a sequence");
      const list = [];
      for (const s of signals) {
        if (!A.is(s)) throw new TypeError("AbortSignal.any: every item must be an AbortSignal");
        list.push(s);
      }
      const r = new AbortSignal(kCreate);
      for (const s of list) {
        if (s.#aborted) {
          r.#aborted = true;
          r.#reason = s.#reason;
          return r;
        }
      }
      r.#dependent = true;
      r.#sources = new Set();
      r.#ref = new WeakRef(r);
      for (const s of list) {
        for (const src of s.#dependent ? s.#sources : [s]) {
          if (r.#sources.has(src)) continue;
          r.#sources.add(src);
          src.#addDependent(r);
        }
      }
      return r;
    }
    get aborted() { return this.#aborted; }
    get reason() { return this.#reason; }
    throwIfAborted() {
      if (this.#aborted) throw this.#reason;
    }

    #signalAbort(reason) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? abortError() : reason;
      const dependents = [];
      if (this.#dependents !== null) {
        for (const ref of this.#dependents) {
          const d = ref.deref();
          if (d === undefined || d.#aborted) continue;
          d.#aborted = true;
          d.#reason = this.#reason;
          dependents.push(d);
        }
        this.#dependents = this.#pinned = null;
      }
      this.#abortSteps();
      for (const d of dependents) d.#abortSteps();
    }
    #abortSteps() {
      if (this.#sources !== null) {
        for (const src of this.#sources) {
          src.#dependents?.delete(this.#ref);
          src.#pinned?.delete(this);
        }
        this.#sources = null;
      }
      const algorithms = this.#algorithms;
      this.#algorithms = null;
      if (algorithms !== null) {
        for (const a of algorithms) {
          try {
            a.fn();
          } catch (e) {
            report(e);
          }
        }
      }
      const ev = new Event("abort");
      E.trusted(ev, true);
      T.dispatch(this, ev);
    }
    #addDependent(d) {
      const set = (this.#dependents ??= new Set());
      set.add(d.#ref);
      // Sweeps the references of collected signals when the set has doubled since the last sweep.
      if (set.size > 2 * this.#live + 16) {
        for (const ref of set) if (ref.deref() === undefined) set.delete(ref);
        this.#live = set.size;
      }
    }
    // A dependent signal that something waits on (an abort listener or algorithm) is held strongly by its sources.
    #pin() {
      if (!this.#dependent || this.#sources === null) return;
      for (const src of this.#sources) (src.#pinned ??= new Set()).add(this);
    }
    static {
      A = {
        is: (s) => s !== null && typeof s === "object" && #aborted in s,
        pin: (s) => s.#pin(),
        aborted: (s) => s.#aborted,
        reason: (s) => s.#reason,
        // Returns a handle for remove, or null when the signal is already aborted (fn is then never called).
        add(s, fn) {
          if (s.#aborted) return null;
          s.#pin();
          const a = { fn };
          (s.#algorithms ??= new Set()).add(a);
          return a;
        },
        remove(s, a) {
          if (a !== null) s.#algorithms?.delete(a);
        },
        signalAbort: (s, reason) => s.#signalAbort(reason),
        create: () => new AbortSignal(kCreate),
      };
    }
  }
  defineEventHandler(AbortSignal.prototype, "abort");
  idlInterface(AbortSignal, "AbortSignal");

  class AbortController {
    #signal = A.create();
    constructor() {}
    get signal() { return this.#signal; }
    abort(reason = undefined) {
      A.signalAbort(this.#signal, reason);
    }
  }
  idlInterface(AbortController, "AbortController");

  // ---- MessageChannel, MessagePort, MessageEvent (HTML) -----------------------------------------------------------
  // Both ends live in this isolate: a message is structured-cloned and queued at the other port, and delivered
  // in a task of its own (a reactor timer) once that port is started. Ports travel in the transfer list (the
  // sender's object is detached, a new one appears in event.ports); a transferred ArrayBuffer is cloned into
  // the message, then detached on the sender's side.

  class MessageEvent extends Event {
    #data = null;
    #origin = "";
    #lastEventId = "";
    #source = null;
    #ports = Object.freeze([]);
    constructor(type, eventInitDict = undefined) {
      needArgs(arguments, 1, "MessageEvent");
      super(type, eventInitDict);
      const d = idlDict(eventInitDict, "MessageEvent");
      if (d !== null) {
        if (d.data !== undefined) this.#data = d.data;
        if (d.lastEventId !== undefined) this.#lastEventId = idlString(d.lastEventId);
        if (d.origin !== undefined) this.#origin = idlUSV(d.origin);
        if (d.ports !== undefined) {
          if (d.ports === null || typeof d.ports !== "object" || typeof d.ports[Symbol.iterator] !== "function")
            throw new TypeError("MessageEvent: ports must be a sequence of MessagePort");
          const ports = [...d.ports];
          if (!ports.every(P.is)) throw new TypeError("MessageEvent: ports must be a sequence of MessagePort");
          this.#ports = Object.freeze(ports);
        }
        if (d.source !== undefined && d.source !== null) {
          if (!P.is(d.source)) throw new TypeError("MessageEvent: source must be a MessagePort or null");
          this.#source = d.source;
        }
      }
    }
    get data() { return this.#data; }
    get origin() { return this.#origin; }
    get lastEventId() { return this.#lastEventId; }
    get source() { return this.#source; }
    get ports() { return this.#ports; }
  }
  idlInterface(MessageEvent, "MessageEvent");

  let P; // the MessagePort internals

  class MessagePort extends EventTarget {
    #other = null;
    #queue = [];
    #started = false;
    #closed = false;
    #detached = false;
    #scheduled = false;

    constructor(token = undefined) {
      if (token !== kCreate) throw new TypeError("Illegal constructor");
      super();
    }
    postMessage(message, options = undefined) {
      void this.#other;
      needArgs(arguments, 1, "MessagePort.postMessage");
      let transfer = [];
      if (options !== undefined && options !== null && typeof options === "object" && typeof options[Symbol.iterator] === "function") {
        transfer = [...options];
      } else {
        const d = idlDict(options, "MessagePort.postMessage");
        if (d !== null && d.transfer !== undefined) {
          if (d.transfer === null || typeof d.transfer !== "object" || typeof d.transfer[Symbol.iterator] !== "function")
            throw new TypeError("MessagePort.postMessage: transfer must be a sequence");
          transfer = [...d.transfer];
        }
      }
      const ports = [], buffers = [];
      for (const t of transfer) {
        if (t === null || (typeof t !== "object" && typeof t !== "function")) throw new TypeError("MessagePort.postMessage: a transferable must be an object");
        if (P.is(t)) {
          if (t === this || t.#detached || ports.includes(t))
            throw new DOMException("MessagePort.postMessage: a port in the transfer list cannot be transferred", "DataCloneError");
          ports.push(t);
        } else if (t instanceof ArrayBuffer) {
          if (!native.canTransfer(t) || buffers.includes(t))
            throw new DOMException("MessagePort.postMessage: an ArrayBuffer in the transfer list cannot be transferred", "DataCloneError");
          buffers.push(t);
        } else {
          throw new DOMException("MessagePort.postMessage: only MessagePorts and ArrayBuffers can be transferred", "DataCloneError");
        }
      }
      let data;
      try {
        data = native.clone(message);
      } catch (e) {
        throw new DOMException(String(e && e.message ? e.message : e), "DataCloneError");
      }
      // The receiver got a copy of each transferred buffer; the sender's is detached, as a transfer leaves it.
      for (const b of buffers) native.transfer(b);
      const moved = ports.map((p) => p.#transfer());
      const target = this.#other;
      if (target !== null) target.#enqueue({ data, ports: moved });
    }
    start() {
      P.start(this);
    }
    close() {
      this.#detached = this.#closed = true;
      const o = this.#other;
      this.#other = null;
      if (o !== null) o.#other = null;
    }
    #transfer() {
      const n = new MessagePort(kCreate);
      n.#other = this.#other;
      if (n.#other !== null) n.#other.#other = n;
      n.#queue = this.#queue;
      this.#queue = [];
      this.#other = null;
      this.#detached = true;
      return n;
    }
    #enqueue(m) {
      this.#queue.push(m);
      this.#schedule();
    }
    #schedule() {
      if (!this.#started || this.#scheduled || this.#queue.length === 0) return;
      this.#scheduled = true;
      addTimer(() => this.#deliver(), 0, [], false);
    }
    #deliver() {
      this.#scheduled = false;
      if (this.#closed || this.#detached) return;
      const m = this.#queue.shift();
      if (m === undefined) return;
      const ev = new MessageEvent("message", { data: m.data, ports: m.ports });
      E.trusted(ev, true);
      T.dispatch(this, ev);
      this.#schedule();
    }
    static {
      P = {
        is: (p) => p !== null && typeof p === "object" && #queue in p,
        start(p) {
          if (p.#started) return;
          p.#started = true;
          p.#schedule();
        },
        entangle(a, b) {
          a.#other = b;
          b.#other = a;
        },
      };
    }
  }
  defineEventHandler(MessagePort.prototype, "message");
  defineEventHandler(MessagePort.prototype, "messageerror");
  {
    // Setting onmessage starts the port (addEventListener does not).
    const d = Object.getOwnPropertyDescriptor(MessagePort.prototype, "onmessage");
    Object.defineProperty(MessagePort.prototype, "onmessage", {
      get: d.get,
      set: Object.getOwnPropertyDescriptor({
        set onmessage(v) {
          P.start(this);
          d.set.call(this, v);
        },
      }, "onmessage").set,
      enumerable: true,
      configurable: true,
    });
  }
  idlInterface(MessagePort, "MessagePort");

  class MessageChannel {
    #port1 = new MessagePort(kCreate);
    #port2 = new MessagePort(kCreate);
    constructor() {
      P.entangle(this.#port1, this.#port2);
    }
    get port1() { return this.#port1; }
    get port2() { return this.#port2; }
  }
  idlInterface(MessageChannel, "MessageChannel");

  define("MessageChannel", MessageChannel);
  define("MessagePort", MessagePort);
  define("MessageEvent", MessageEvent);
  define("Event", Event);
  define("CustomEvent", CustomEvent);
  define("EventTarget", EventTarget);
  define("AbortSignal", AbortSignal);
  define("AbortController", AbortController);

  internal.events = {
    isEvent: E.is,
    isAbortSignal: A.is,
    aborted: (s) => A.aborted(s),
    reason: (s) => A.reason(s),
    // fn() runs when signal aborts (before its abort event); the handle removes it. Null when already aborted.
    addAbortAlgorithm: (signal, fn) => A.add(signal, fn),
    removeAbortAlgorithm: (signal, handle) => A.remove(signal, handle),
    signalAbort: (signal, reason) => A.signalAbort(signal, reason),
    newSignal: A.create,
    // Fires an event the runtime makes (isTrusted true) at target; returns false when it was canceled.
    fire(target, event) {
      E.trusted(event, true);
      return T.dispatch(target, event);
    },
    defineEventHandler,
    report,
  };
}
