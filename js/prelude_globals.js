// prelude_globals.js: the remaining globals Workers code expects: navigator,
// reportError, scheduler.wait, MessageChannel/MessagePort (within one
// isolate), Performance (timeOrigin, toJSON), structuredClone with
// transfer, and WebAssembly.compileStreaming/instantiateStreaming over a
// Response. Part of the prelude (runs once, into the snapshot: nothing
// per-isolate is read at top level).
{
  // EventTarget and Event come from prelude_events.js; until that file defines them, this one brings
  // the least that MessagePort and Performance need (listeners, once, dispatch).
  const BaseTarget = typeof EventTarget === "function" ? EventTarget : class EventTarget {
    #listeners = new Map();
    addEventListener(type, fn, options = undefined) {
      if (typeof fn !== "function" && !(fn && typeof fn.handleEvent === "function")) return;
      type = String(type);
      const once = typeof options === "object" && options !== null && !!options.once;
      const list = this.#listeners.get(type) || [];
      if (list.some((l) => l.fn === fn)) return;
      list.push({ fn, once });
      this.#listeners.set(type, list);
    }
    removeEventListener(type, fn) {
      const list = this.#listeners.get(String(type));
      if (!list) return;
      const i = list.findIndex((l) => l.fn === fn);
      if (i >= 0) list.splice(i, 1);
    }
    dispatchEvent(event) {
      const list = this.#listeners.get(event.type);
      if (!list) return true;
      for (const l of [...list]) {
        if (l.once) this.removeEventListener(event.type, l.fn);
        try {
          if (typeof l.fn === "function") l.fn.call(this, event);
          else l.fn.handleEvent(event);
        } catch (e) {
          reportError(e);
        }
      }
      return !event.defaultPrevented;
    }
  };
  const BaseEvent = typeof Event === "function" ? Event : class Event {
    #type;
    constructor(type) {
      if (arguments.length === 0) throw new TypeError("Event: 1 argument required");
      this.#type = String(type);
    }
    get type() { return this.#type; }
    get defaultPrevented() { return false; }
    preventDefault() {}
  };

  // ---- navigator ------------------------------------------------------------------------------
  // A tenant sees one core: its isolate runs on one reactor thread.
  class Navigator {
    constructor(key) {
      if (key !== kNavigator) throw new TypeError("Illegal constructor");
    }
    get userAgent() { return "isocore/0.1.0"; }
    get hardwareConcurrency() { return 1; }
    get language() { return "en-US"; }
    get languages() { return ["en-US"]; }
    get onLine() { return true; }
    get [Symbol.toStringTag]() { return "Navigator"; }
  }
  const kNavigator = Symbol("navigator");
  define("Navigator", Navigator);
  define("navigator", new Navigator(kNavigator));

  // ---- performance ------------------------------------------------------------------------------
  // performance.now() and timeOrigin are the natives prelude.js used; this gives them their interface.
  class Performance extends BaseTarget {
    constructor(key) {
      if (key !== kPerformance) throw new TypeError("Illegal constructor");
      super();
    }
    now() { return native.now(); }
    get timeOrigin() { return native.timeOrigin(); }
    toJSON() { return { timeOrigin: this.timeOrigin }; }
    get [Symbol.toStringTag]() { return "Performance"; }
  }
  const kPerformance = Symbol("performance");
  define("Performance", Performance);
  define("performance", new Performance(kPerformance));

  // ---- structuredClone with transfer -----------------------------------------------------------------
  // The HTML spec's structuredClone(value, { transfer }): ArrayBuffers in `transfer` move to the
  // clone and their sources are detached (native.clone: V8's ValueSerializer with TransferArrayBuffer).
  function transferList(options, what) {
    if (options === undefined || options === null) return [];
    if (typeof options !== "object" && typeof options !== "function")
      throw new TypeError(`${what}: the options must be an object`);
    const t = options.transfer;
    if (t === undefined) return [];
    if (t === null || typeof t !== "object" || typeof t[Symbol.iterator] !== "function")
      throw new TypeError(`${what}: transfer must be a sequence`);
    return Array.from(t);
  }
  function clone(value, transfer) {
    for (const t of transfer) {
      if (!(t instanceof ArrayBuffer))
        throw new DOMException("only ArrayBuffers can be transferred here", "DataCloneError");
    }
    try {
      return native.clone(value, transfer);
    } catch (e) {
      throw new DOMException(String(e && e.message ? e.message : e), "DataCloneError");
    }
  }
  define("structuredClone", function structuredClone(value, options = undefined) {
    if (arguments.length === 0) throw new TypeError("structuredClone: 1 argument required");
    return clone(value, transferList(options, "structuredClone"));
  });

  // ---- reportError -----------------------------------------------------------------------------------
  // Reports like an uncaught exception: the same log line the runtime writes for one.
  define("reportError", function reportError(e) {
    if (arguments.length === 0) throw new TypeError("reportError: 1 argument required");
    const what = e instanceof Error ? (e.stack || `${e.name}: ${e.message}`) : inspect(e);
    native.log(3, `Uncaught ${what}`);
  });

  // ---- scheduler.wait -----------------------------------------------------------------------------------
  class Scheduler {
    constructor(key) {
      if (key !== kScheduler) throw new TypeError("Illegal constructor");
    }
    // Resolves after `ms` milliseconds (a timer of the reactor); rejects with the signal's reason if it aborts first.
    wait(ms, options = undefined) {
      const signal = options && options.signal;
      return new Promise((resolve, reject) => {
        if (signal && signal.aborted) return reject(signal.reason);
        let onAbort;
        const id = setTimeout(() => {
          if (signal) signal.removeEventListener("abort", onAbort);
          resolve();
        }, ms);
        if (signal) {
          onAbort = () => {
            clearTimeout(id);
            reject(signal.reason);
          };
          signal.addEventListener("abort", onAbort, { once: true });
        }
      });
    }
    get [Symbol.toStringTag]() { return "Scheduler"; }
  }
  const kScheduler = Symbol("scheduler");
  define("Scheduler", Scheduler);
  define("scheduler", new Scheduler(kScheduler));

  // ---- MessageChannel and MessagePort ---------------------------------------------------------------------
  // Both ports live in this isolate. A message is a structured clone, queued on the other port and
  // delivered as a "message" event in a later task (a timer of 0 ms) once that port is started:
  // start(), or setting onmessage. close() disentangles both ports; later messages are dropped.
  //
  // MessagePort is an EventTarget. When prelude_events.js defines MessageChannel itself (branch
  // `events`), this one steps aside.
  if (typeof MessageChannel !== "function") {
    class MessageEvent extends BaseEvent {
      #data; #origin; #lastEventId; #source; #ports;
      constructor(type, init = {}) {
        super(type, init);
        this.#data = init.data === undefined ? null : init.data;
        this.#origin = init.origin === undefined ? "" : String(init.origin);
        this.#lastEventId = init.lastEventId === undefined ? "" : String(init.lastEventId);
        this.#source = init.source === undefined ? null : init.source;
        this.#ports = Object.freeze(init.ports === undefined ? [] : Array.from(init.ports));
      }
      get data() { return this.#data; }
      get origin() { return this.#origin; }
      get lastEventId() { return this.#lastEventId; }
      get source() { return this.#source; }
      get ports() { return this.#ports; }
    }
    define("MessageEvent", MessageEvent);

    const kPort = Symbol("port");
    class MessagePort extends BaseTarget {
      #other = null;
      #queue = [];
      #started = false;
      #closed = false;
      #scheduled = false;
      #onmessage = null;
      #onmessageerror = null;
      constructor(key) {
        if (key !== kPort) throw new TypeError("Illegal constructor");
        super();
      }
      static entangle(a, b) {
        a.#other = b;
        b.#other = a;
      }
      postMessage(message, options = undefined) {
        // postMessage(message, transfer) or postMessage(message, { transfer }).
        const transfer = Array.isArray(options) ? options : transferList(options, "MessagePort.postMessage");
        if (transfer.includes(this)) throw new DOMException("a port cannot transfer itself", "DataCloneError");
        const data = clone(message, transfer);
        const other = this.#other;
        if (this.#closed || !other || other.#closed) return;
        other.#queue.push(data);
        other.#schedule();
      }
      start() {
        if (this.#started || this.#closed) return;
        this.#started = true;
        this.#schedule();
      }
      close() {
        if (this.#closed) return;
        this.#closed = true;
        this.#queue.length = 0;
        const other = this.#other;
        this.#other = null;
        if (other) other.#other = null;
      }
      get onmessage() { return this.#onmessage; }
      set onmessage(fn) {
        if (this.#onmessage) this.removeEventListener("message", this.#onmessage);
        this.#onmessage = typeof fn === "function" ? fn : null;
        if (this.#onmessage) this.addEventListener("message", this.#onmessage);
        this.start(); // setting onmessage starts the port, as in HTML
      }
      get onmessageerror() { return this.#onmessageerror; }
      set onmessageerror(fn) {
        if (this.#onmessageerror) this.removeEventListener("messageerror", this.#onmessageerror);
        this.#onmessageerror = typeof fn === "function" ? fn : null;
        if (this.#onmessageerror) this.addEventListener("messageerror", this.#onmessageerror);
      }
      #schedule() {
        if (!this.#started || this.#scheduled || this.#queue.length === 0) return;
        this.#scheduled = true;
        // One task per message, in order: each event runs in its own task, after the code that posted it.
        setTimeout(() => this.#deliver(), 0);
      }
      #deliver() {
        this.#scheduled = false;
        if (this.#closed || this.#queue.length === 0) return;
        const data = this.#queue.shift();
        this.#schedule();
        this.dispatchEvent(new MessageEvent("message", { data }));
      }
      get [Symbol.toStringTag]() { return "MessagePort"; }
    }
    const entangle = MessagePort.entangle;
    delete MessagePort.entangle;
    define("MessagePort", MessagePort);

    class MessageChannel {
      #port1; #port2;
      constructor() {
        this.#port1 = new MessagePort(kPort);
        this.#port2 = new MessagePort(kPort);
        entangle(this.#port1, this.#port2);
      }
      get port1() { return this.#port1; }
      get port2() { return this.#port2; }
      get [Symbol.toStringTag]() { return "MessageChannel"; }
    }
    define("MessageChannel", MessageChannel);
  }

  // ---- WebAssembly over a Response ------------------------------------------------------------------------
  // The WebAssembly Web API: compileStreaming/instantiateStreaming take a Response (or a promise of one)
  // whose Content-Type is exactly application/wasm and whose status is ok. The body is read whole
  // (response.arrayBuffer()) and compiled off the reactor thread by V8; the result settles on the reactor.
  // V8 makes WebAssembly anew for each context (it is not in the snapshot), so worker.cc calls this
  // installer on the tenant's context before the tenant's code runs, then deletes it. It returns
  // what worker.cc calls once the tenant's top level has run (or undefined).
  define("__isocore_per_context", function installWasmStreaming() {
    if (typeof WebAssembly !== "object" || !WebAssembly) return undefined;
    const compile0 = WebAssembly.compile, instantiate0 = WebAssembly.instantiate, Module = WebAssembly.Module;
    // While the top level runs, nothing pumps the isolate's platform tasks (the load is one entry that
    // must settle before it returns), so a top-level `await WebAssembly.compile(bytes)` would never
    // settle. Until the top level is done, compiling from bytes is synchronous: the promise is of a
    // module compiled on the spot, as `import m from "./m.wasm"` is. Instantiating a Module settles
    // in microtasks already. After the top level, the engine's own functions are back.
    const topCompile = {
      compile(bytes) {
        try {
          return Promise.resolve(new Module(bytes));
        } catch (e) {
          return Promise.reject(e);
        }
      },
      instantiate(source, importObject = undefined) {
        if (source instanceof Module) return instantiate0.call(WebAssembly, source, importObject);
        let module;
        try {
          module = new Module(source);
        } catch (e) {
          return Promise.reject(e);
        }
        return instantiate0.call(WebAssembly, module, importObject).then((instance) => ({ module, instance }));
      },
    };
    let compile = topCompile.compile, instantiate = topCompile.instantiate;
    for (const name of ["compile", "instantiate"])
      Object.defineProperty(WebAssembly, name, { value: topCompile[name], writable: true, enumerable: true, configurable: true });
    async function bytesOf(source, what) {
      const response = await source;
      if (typeof Response !== "function" || !(response instanceof Response))
        throw new TypeError(`WebAssembly.${what}(): the argument must be a Response or a promise of one`);
      let type = response.headers.get("content-type");
      if (type === null) throw new TypeError(`WebAssembly.${what}(): the Response has no Content-Type (expected application/wasm)`);
      type = type.replace(/^[\t ]+|[\t ]+$/g, "");
      if (type.toLowerCase() !== "application/wasm")
        throw new TypeError(`WebAssembly.${what}(): the Response's Content-Type is '${type}', not application/wasm`);
      if (!response.ok) throw new TypeError(`WebAssembly.${what}(): the Response's status is ${response.status}`);
      if (response.bodyUsed) throw new TypeError(`WebAssembly.${what}(): the Response's body was already read`);
      return response.arrayBuffer();
    }
    const methods = {
      compileStreaming(source) {
        return bytesOf(source, "compileStreaming").then((bytes) => compile.call(WebAssembly, bytes));
      },
      instantiateStreaming(source, importObject = undefined) {
        return bytesOf(source, "instantiateStreaming").then((bytes) => instantiate.call(WebAssembly, bytes, importObject));
      },
    };
    for (const name of ["compileStreaming", "instantiateStreaming"])
      Object.defineProperty(WebAssembly, name, { value: methods[name], writable: true, enumerable: true, configurable: true });
    // V8 10.2 leaves out WebAssembly.Exception's @@toStringTag (the other interfaces have theirs).
    const X = WebAssembly.Exception;
    if (typeof X === "function" && !Object.prototype.hasOwnProperty.call(X.prototype, Symbol.toStringTag))
      Object.defineProperty(X.prototype, Symbol.toStringTag, { value: "WebAssembly.Exception", configurable: true });
    return function topLevelDone() {
      compile = compile0;
      instantiate = instantiate0;
      // Put back only what the tenant left alone.
      if (WebAssembly.compile === topCompile.compile) Object.defineProperty(WebAssembly, "compile", { value: compile0, writable: true, enumerable: true, configurable: true });
      if (WebAssembly.instantiate === topCompile.instantiate) Object.defineProperty(WebAssembly, "instantiate", { value: instantiate0, writable: true, enumerable: true, configurable: true });
    };
  });
}
