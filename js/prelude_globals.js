// prelude_globals.js: the remaining globals Workers code expects: navigator,
// reportError (with ErrorEvent and the global scope's error events),
// scheduler.wait, Performance (timeOrigin, toJSON), structuredClone with
// transfer, and WebAssembly.compileStreaming/instantiateStreaming over a
// Response. (MessageChannel/MessagePort are prelude_events.js's.) Part of the prelude (runs once, into the snapshot: nothing
// per-isolate is read at top level).
{
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
  class Performance extends EventTarget {
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

  // ---- reportError, ErrorEvent, the global scope's error events ---------------------------------------
  // The global scope's events other than "fetch" (prelude_fetch.js's addEventListener sends them here).
  internal.globalEvents = new EventTarget();

  class ErrorEvent extends Event {
    #message; #filename; #lineno; #colno; #error;
    constructor(type, init = {}) {
      super(type, init);
      init = init ?? {};
      this.#message = init.message === undefined ? "" : String(init.message);
      this.#filename = init.filename === undefined ? "" : String(init.filename);
      this.#lineno = init.lineno === undefined ? 0 : init.lineno >>> 0;
      this.#colno = init.colno === undefined ? 0 : init.colno >>> 0;
      this.#error = init.error;
    }
    get message() { return this.#message; }
    get filename() { return this.#filename; }
    get lineno() { return this.#lineno; }
    get colno() { return this.#colno; }
    get error() { return this.#error; }
    get [Symbol.toStringTag]() { return "ErrorEvent"; }
  }
  define("ErrorEvent", ErrorEvent);

  // The log line the runtime writes for an uncaught exception.
  function logUncaught(e) {
    const what = e instanceof Error ? (e.stack || `${e.name}: ${e.message}`) : inspect(e);
    native.log(3, `Uncaught ${what}`);
  }
  // Reporting an exception: an "error" event at the global (self.onerror too), then the log line unless a
  // listener called preventDefault(). Also what queueMicrotask (prelude.js) does with a callback's throw.
  internal.reportError = (e) => {
    const ev = new ErrorEvent("error", { error: e, message: e instanceof Error ? e.message : String(e), cancelable: true });
    try {
      if (typeof globalThis.onerror === "function" && globalThis.onerror(ev.message, "", 0, 0, e) === true) ev.preventDefault();
      internal.globalEvents.dispatchEvent(ev);
    } catch (inner) {
      logUncaught(inner);
    }
    if (!ev.defaultPrevented) logUncaught(e);
  };
  define("reportError", function reportError(e) {
    if (arguments.length === 0) throw new TypeError("reportError: 1 argument required");
    internal.reportError(e);
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
