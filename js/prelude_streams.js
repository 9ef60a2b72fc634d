// prelude_streams.js: WHATWG Streams (ReadableStream with default and byte controllers, readers, tee, pipes and
// async iteration; WritableStream; TransformStream; the queuing strategies) and the Encoding Standard's
// TextEncoderStream and TextDecoderStream. Part of the prelude.
//
// The file follows the spec's abstract operations one for one (their names, without the stream prefixes where the
// context says it). The behaviour tested by WPT streams/ (its 2021-10 snapshot) is the reference where the spec
// moved on since: releaseLock() with pending reads throws (newer: rejects them), readable.cancel() of a
// TransformStream errors the writable side at once (newer: after transformer.cancel(), which is not called), and
// WritableStreamDefaultController has abortReason. Newer additions that change nothing the snapshot tests are
// here: ReadableStream.from() and read(view, {min}).
//
// Internal slots are Symbol-keyed properties set in one order per class (stable shapes); brand checks use a private
// method of each class (`#brand in x`), so a forged object never passes. Algorithms of a controller are stored
// as the underlying source's method plus the source itself, or, for streams the prelude makes (tee, TransformStream,
// from(), fetch bodies), as internal functions with `kInternal` as the source: no closure per stream.
//
// ArrayBuffers are transferred (the spec's TransferArrayBuffer) with native.transfer (js/webapi.cc): V8 10.2 has
// no ArrayBuffer.prototype.transfer.
//
// The Streams Standard is four files that the build joins into one block (CMakeLists.txt, ISOCORE_PRELUDE), so they
// share their names and are indented as the block's body: this one (the shared parts: captured intrinsics, buffers,
// WebIDL, queues, slots, read requests; ReadableStream, its readers and its default controller), then
// prelude_streams_readable.js, prelude_streams_writable.js and prelude_streams_transform.js.
  // ---- captured intrinsics (tenant code may patch the globals afterwards) ----------------------------------------

  const $Promise = Promise;
  const PromiseResolve = Promise.resolve.bind(Promise);
  const PromiseReject = Promise.reject.bind(Promise);
  const PromiseAll = Promise.all.bind(Promise);
  const promiseThen = Function.prototype.call.bind(Promise.prototype.then);
  const callFn = Function.prototype.call.bind(Function.prototype.call);
  const ArrayIsView = ArrayBuffer.isView;
  const $Uint8Array = Uint8Array, $DataView = DataView, $ArrayBuffer = ArrayBuffer, $TypeError = TypeError;
  const $RangeError = RangeError, $Symbol = Symbol, $Object = Object;
  const getOwn = (o, k) => Object.getOwnPropertyDescriptor(o, k).get;
  const TAProto = Object.getPrototypeOf(Uint8Array.prototype);
  const taTag = getOwn(TAProto, Symbol.toStringTag);
  const taBuffer = getOwn(TAProto, "buffer"), taByteLength = getOwn(TAProto, "byteLength");
  const taByteOffset = getOwn(TAProto, "byteOffset");
  const dvBuffer = getOwn(DataView.prototype, "buffer"), dvByteLength = getOwn(DataView.prototype, "byteLength");
  const dvByteOffset = getOwn(DataView.prototype, "byteOffset");
  const abByteLength = getOwn(ArrayBuffer.prototype, "byteLength");
  const u8Set = Function.prototype.call.bind(Uint8Array.prototype.set);
  const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);
  const $SymbolAsyncIterator = Symbol.asyncIterator, $SymbolIterator = Symbol.iterator;
  const $TextEncoder = TextEncoder, $TextDecoder = TextDecoder;
  const textEncode = Function.prototype.call.bind(TextEncoder.prototype.encode);
  const textDecode = Function.prototype.call.bind(TextDecoder.prototype.decode);
  const TA_CTORS = {
    Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array,
    Float64Array, BigInt64Array, BigUint64Array,
  };
  // AbortSignal and AbortController come from prelude_events.js (earlier in the prelude); looked up when first used
  // if they were not there when this file ran.
  let $AbortSignal = globalThis.AbortSignal, $AbortController = globalThis.AbortController;
  const isAbortSignal = (s) => {
    if (internal.events?.isAbortSignal) return internal.events.isAbortSignal(s);
    $AbortSignal ??= globalThis.AbortSignal;
    return typeof $AbortSignal === "function" && s instanceof $AbortSignal;
  };
  // The spec adds an abort algorithm to the signal (it runs before the abort event's listeners, which cannot stop
  // it): prelude_events.js's internal one when it offers it, else a listener through the public API.
  const addAbortAlgorithm = (signal, fn) => {
    const ev = internal.events;
    if (ev?.addAbortAlgorithm && ev?.removeAbortAlgorithm) return ev.addAbortAlgorithm(signal, fn);
    signal.addEventListener("abort", fn);
    return undefined;
  };
  const removeAbortAlgorithm = (signal, handle, fn) => {
    const ev = internal.events;
    if (ev?.addAbortAlgorithm && ev?.removeAbortAlgorithm) ev.removeAbortAlgorithm(signal, handle);
    else signal.removeEventListener("abort", fn);
  };
  const newAbortController = () => {
    $AbortController ??= globalThis.AbortController;
    return new $AbortController();
  };

  const noop = () => {};
  const kInternal = Symbol("internal");
  const kCreate = Symbol("create"); // the token that lets the prelude construct the spec's non-constructible classes
  const setHandled = (p) => {
    promiseThen(p, undefined, noop);
  };
  const upon = (p, onFulfilled, onRejected) => {
    promiseThen(p, onFulfilled, onRejected);
  };
  // The spec's "queue a microtask": the prelude's own, not the global one a tenant may replace.
  const microtask = (fn) => {
    promiseThen(PromiseResolve(), fn);
  };
  const resolvedUndefined = () => PromiseResolve(undefined);

  // A promise with its resolving functions kept on an object's two slots (a reader's closed promise, a writer's
  // ready promise): the state slot says "pending", "resolved" or "rejected".
  function newPromiseSlots(o, $p, $res, $rej, $st) {
    o[$p] = new $Promise((res, rej) => {
      o[$res] = res;
      o[$rej] = rej;
    });
    o[$st] = "pending";
  }

  // ---- ArrayBuffers and views ----------------------------------------------------------------------------------

  const isDataView = (v) => callFn(taTag, v) === undefined;
  const viewBuffer = (v) => (isDataView(v) ? callFn(dvBuffer, v) : callFn(taBuffer, v));
  // A DataView over a detached buffer throws on byteLength; the spec reads the slot, which no longer matters then.
  const viewByteLength = (v) => {
    if (!isDataView(v)) return callFn(taByteLength, v);
    try {
      return callFn(dvByteLength, v);
    } catch {
      return 0;
    }
  };
  const viewByteOffset = (v) => {
    if (!isDataView(v)) return callFn(taByteOffset, v);
    try {
      return callFn(dvByteOffset, v);
    } catch {
      return 0;
    }
  };
  const bufferByteLength = (b) => callFn(abByteLength, b);
  // IsDetachedBuffer: V8 makes a view over a detached buffer throw on construction.
  function isDetached(buffer) {
    if (callFn(abByteLength, buffer) !== 0) return false;
    try {
      new $Uint8Array(buffer);
      return false;
    } catch {
      return true;
    }
  }
  // TransferArrayBuffer: a new ArrayBuffer over the same memory, the old one detached. Throws a TypeError for a
  // buffer that cannot be detached (WebAssembly memory, already detached).
  const transferBuffer = (buffer) => native.transfer(buffer);
  // CanTransferArrayBuffer, without transferring.
  const canTransfer = (buffer) => native.canTransfer(buffer);
  function cloneAsUint8Array(view) {
    const len = viewByteLength(view);
    const out = new $Uint8Array(len);
    u8Set(out, new $Uint8Array(viewBuffer(view), viewByteOffset(view), len));
    return out;
  }
  const isUint8Array = (v) => ArrayIsView(v) && callFn(taTag, v) === "Uint8Array";

  // ---- WebIDL --------------------------------------------------------------------------------------------------

  // Methods and accessors of an interface are enumerable (class syntax makes them not); the class string is set.
  function idlInterface(C, tag) {
    for (const o of [C.prototype, C]) {
      for (const k of Reflect.ownKeys(o)) {
        if (k === "constructor" || k === "prototype" || k === "length" || k === "name") continue;
        const d = Object.getOwnPropertyDescriptor(o, k);
        if (d.configurable && !d.enumerable) Object.defineProperty(o, k, { ...d, enumerable: true });
      }
    }
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: tag, configurable: true });
  }
  function idlDict(v, who) {
    if (v === undefined || v === null) return null;
    if (typeof v !== "object" && typeof v !== "function") throw new $TypeError(`${who}: the argument is not an object`);
    return v;
  }
  function idlCallback(v, who) {
    if (v === undefined) return undefined;
    if (typeof v !== "function") throw new $TypeError(`${who} is not a function`);
    return v;
  }
  // [EnforceRange] unsigned long long.
  function enforceULL(v, who) {
    let x = +v;
    if (!Number.isFinite(x)) throw new $TypeError(`${who} is not a finite number`);
    x = Math.trunc(x);
    if (x < 0 || x > Number.MAX_SAFE_INTEGER) throw new $TypeError(`${who} is out of range`);
    return x === 0 ? 0 : x;
  }
  const illegal = () => new $TypeError("Illegal constructor");
  const brandError = (what) => new $TypeError(`${what}: the receiver is not of the right type`);

  // QueuingStrategy, converted: [highWaterMark, size] (read in that order, as WebIDL reads dictionaries).
  function convertStrategy(strategy, who) {
    const d = idlDict(strategy, who);
    if (d === null) return [undefined, undefined];
    let hwm = d.highWaterMark;
    if (hwm !== undefined) hwm = +hwm;
    const size = idlCallback(d.size, `${who}: size`);
    return [hwm, size];
  }
  function extractHighWaterMark(hwm, defaultHWM) {
    if (hwm === undefined) return defaultHWM;
    if (Number.isNaN(hwm) || hwm < 0) throw new $RangeError("highWaterMark must be a non-negative number");
    return hwm;
  }

  // ---- queues --------------------------------------------------------------------------------------------------

  // A FIFO over an array with a moving head (shift() of a long array is linear).
  // The prelude's helper objects declare their fields (own properties by definition), so that a setter a tenant
  // puts on Object.prototype never sees their assignments.
  class Queue {
    a;
    h;
    constructor() {
      this.a = [];
      this.h = 0;
    }
    get length() {
      return this.a.length - this.h;
    }
    push(v) {
      this.a.push(v);
    }
    peek() {
      return this.a[this.h];
    }
    shift() {
      const a = this.a, h = this.h, v = a[h];
      a[h] = undefined;
      if (h + 1 === a.length) {
        this.a = [];
        this.h = 0;
      } else if (h >= 1024 && h * 2 >= a.length) {
        this.a = a.slice(h + 1);
        this.h = 0;
      } else {
        this.h = h + 1;
      }
      return v;
    }
    // Takes every item out (for "for each …, then set the list to empty": the list is emptied first, so an item's
    // steps that add to the list add to the new one).
    drain() {
      const a = this.h === 0 ? this.a : this.a.slice(this.h);
      this.a = [];
      this.h = 0;
      return a;
    }
  }

  // The spec's queue-with-sizes: values and sizes alternate in one array; total is [[queueTotalSize]].
  class SizedQueue {
    a;
    h;
    total;
    constructor() {
      this.a = [];
      this.h = 0;
      this.total = 0;
    }
    get length() {
      return (this.a.length - this.h) >> 1;
    }
    // EnqueueValueWithSize.
    push(v, size) {
      if (typeof size !== "number" || !(size >= 0) || size === Infinity)
        throw new $RangeError("the size of a chunk must be a finite, non-negative number");
      this.a.push(v, size);
      this.total += size;
    }
    peek() {
      return this.a[this.h];
    }
    // DequeueValue.
    shift() {
      const a = this.a, h = this.h, v = a[h], size = a[h + 1];
      a[h] = a[h + 1] = undefined;
      if (h + 2 === a.length) {
        this.a = [];
        this.h = 0;
      } else if (h >= 2048 && h * 2 >= a.length) {
        this.a = a.slice(h + 2);
        this.h = 0;
      } else {
        this.h = h + 2;
      }
      this.total -= size;
      if (this.total < 0) this.total = 0; // rounding errors
      return v;
    }
    reset() {
      this.a = [];
      this.h = 0;
      this.total = 0;
    }
  }

  // ---- slots ---------------------------------------------------------------------------------------------------

  const $state = Symbol("state"), $reader = Symbol("reader"), $storedError = Symbol("storedError");
  const $disturbed = Symbol("disturbed"), $controller = Symbol("controller"), $stream = Symbol("stream");
  const $closedPromise = Symbol("closedPromise"), $closedResolve = Symbol("closedResolve");
  const $closedReject = Symbol("closedReject"), $closedState = Symbol("closedState");
  const $requests = Symbol("requests"), $isByob = Symbol("isByob");
  const $queue = Symbol("queue"), $queueTotalSize = Symbol("queueTotalSize"), $started = Symbol("started");
  const $closeRequested = Symbol("closeRequested"), $pullAgain = Symbol("pullAgain"), $pulling = Symbol("pulling");
  const $size = Symbol("strategySize"), $hwm = Symbol("strategyHWM"), $source = Symbol("source");
  const $pull = Symbol("pull"), $cancel = Symbol("cancel"), $autoAllocate = Symbol("autoAllocateChunkSize");
  const $byobRequest = Symbol("byobRequest"), $pendingPullIntos = Symbol("pendingPullIntos"), $view = Symbol("view");
  const $isBytes = Symbol("isBytes");

  // ---- read requests -------------------------------------------------------------------------------------------
  // A read request has chunk(c), close() and error(e) steps (a read-into request: close(c)).

  // The read request of reader.read(): its promise is resolved with the spec's iterator result objects.
  class PromiseReadRequest {
    promise;
    res;
    rej;
    constructor() {
      this.promise = new $Promise((res, rej) => {
        this.res = res;
        this.rej = rej;
      });
    }
    chunk(c) {
      this.res({ value: c, done: false });
    }
    close(c) {
      this.res({ value: c, done: true });
    }
    error(e) {
      this.rej(e);
    }
  }

  // ---- ReadableStream ------------------------------------------------------------------------------------------

  let isRS, isDefaultReader, isBYOBReader, isDefaultController, isByteController, isBYOBRequest;

  class ReadableStream {
    #brand() {}
    static {
      isRS = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(underlyingSource = undefined, strategy = undefined) {
      if (underlyingSource === kCreate) {
        initializeReadableStream(this);
        return;
      }
      if (underlyingSource === null) throw new $TypeError("ReadableStream: the underlying source is null");
      if (underlyingSource !== undefined && typeof underlyingSource !== "object" && typeof underlyingSource !== "function")
        throw new $TypeError("ReadableStream: the underlying source is not an object");
      const [hwm, size] = convertStrategy(strategy, "ReadableStream: strategy");
      // UnderlyingSource, read in WebIDL order.
      let auto, cancel, pull, start, type;
      const src = underlyingSource;
      if (src !== undefined) {
        auto = src.autoAllocateChunkSize;
        if (auto !== undefined) auto = enforceULL(auto, "ReadableStream: autoAllocateChunkSize");
        cancel = idlCallback(src.cancel, "ReadableStream: cancel");
        pull = idlCallback(src.pull, "ReadableStream: pull");
        start = idlCallback(src.start, "ReadableStream: start");
        type = src.type;
        if (type !== undefined) {
          type = `${type}`;
          if (type !== "bytes") throw new $TypeError(`ReadableStream: '${type}' is not a valid type`);
        }
      }
      initializeReadableStream(this);
      if (type === "bytes") {
        if (size !== undefined) throw new $RangeError("ReadableStream: a byte stream cannot have a size function");
        const h = extractHighWaterMark(hwm, 0);
        if (auto === 0) throw new $TypeError("ReadableStream: autoAllocateChunkSize must not be 0");
        setUpByteController(this, new ReadableByteStreamController(kCreate), src, start, pull, cancel, h, auto);
      } else {
        const h = extractHighWaterMark(hwm, 1);
        setUpDefaultController(this, new ReadableStreamDefaultController(kCreate), src, start, pull, cancel, h, size);
      }
    }
    get locked() {
      if (!isRS(this)) throw brandError("ReadableStream.locked");
      return this[$reader] !== undefined;
    }
    cancel(reason = undefined) {
      if (!isRS(this)) return PromiseReject(brandError("ReadableStream.cancel"));
      if (this[$reader] !== undefined) return PromiseReject(new $TypeError("ReadableStream.cancel: the stream is locked"));
      return readableStreamCancel(this, reason);
    }
    getReader(options = undefined) {
      if (!isRS(this)) throw brandError("ReadableStream.getReader");
      const o = idlDict(options, "ReadableStream.getReader");
      let mode = o === null ? undefined : o.mode;
      if (mode !== undefined) {
        mode = `${mode}`;
        if (mode !== "byob") throw new $TypeError(`ReadableStream.getReader: '${mode}' is not a valid mode`);
        return new ReadableStreamBYOBReader(this);
      }
      return new ReadableStreamDefaultReader(this);
    }
    pipeThrough(transform, options = undefined) {
      if (!isRS(this)) throw brandError("ReadableStream.pipeThrough");
      // ReadableWritablePair: readable, then writable.
      const t = idlDict(transform, "ReadableStream.pipeThrough");
      if (t === null) throw new $TypeError("ReadableStream.pipeThrough: the transform is not an object");
      const readable = t.readable;
      if (!isRS(readable)) throw new $TypeError("ReadableStream.pipeThrough: transform.readable is not a ReadableStream");
      const writable = t.writable;
      if (!isWS(writable)) throw new $TypeError("ReadableStream.pipeThrough: transform.writable is not a WritableStream");
      const [preventAbort, preventCancel, preventClose, signal] = convertPipeOptions(options);
      if (this[$reader] !== undefined) throw new $TypeError("ReadableStream.pipeThrough: the stream is locked");
      if (writable[$writer] !== undefined) throw new $TypeError("ReadableStream.pipeThrough: the writable side is locked");
      const p = readableStreamPipeTo(this, writable, preventClose, preventAbort, preventCancel, signal);
      setHandled(p);
      return readable;
    }
    pipeTo(destination, options = undefined) {
      if (!isRS(this)) return PromiseReject(brandError("ReadableStream.pipeTo"));
      if (!isWS(destination)) return PromiseReject(new $TypeError("ReadableStream.pipeTo: the destination is not a WritableStream"));
      let o;
      try {
        o = convertPipeOptions(options);
      } catch (e) {
        return PromiseReject(e);
      }
      if (this[$reader] !== undefined) return PromiseReject(new $TypeError("ReadableStream.pipeTo: the stream is locked"));
      if (destination[$writer] !== undefined)
        return PromiseReject(new $TypeError("ReadableStream.pipeTo: the destination is locked"));
      return readableStreamPipeTo(this, destination, o[2], o[0], o[1], o[3]);
    }
    tee() {
      if (!isRS(this)) throw brandError("ReadableStream.tee");
      return readableStreamTee(this, false);
    }
    values(options = undefined) {
      if (!isRS(this)) throw brandError("ReadableStream.values");
      const o = idlDict(options, "ReadableStream.values");
      const preventCancel = o === null ? false : !!o.preventCancel;
      const reader = acquireDefaultReader(this);
      return new ReadableStreamAsyncIterator(kCreate, reader, preventCancel);
    }
    static from(asyncIterable) {
      return readableStreamFromIterable(asyncIterable);
    }
  }
  idlInterface(ReadableStream, "ReadableStream");
  Object.defineProperty(ReadableStream.prototype, $SymbolAsyncIterator, {
    value: ReadableStream.prototype.values, writable: true, enumerable: false, configurable: true,
  });

  // StreamPipeOptions, in WebIDL order: [preventAbort, preventCancel, preventClose, signal].
  function convertPipeOptions(options) {
    const o = idlDict(options, "ReadableStream.pipeTo: options");
    if (o === null) return [false, false, false, undefined];
    const preventAbort = !!o.preventAbort, preventCancel = !!o.preventCancel, preventClose = !!o.preventClose;
    const signal = o.signal;
    if (signal !== undefined && !isAbortSignal(signal))
      throw new $TypeError("ReadableStream.pipeTo: options.signal is not an AbortSignal");
    return [preventAbort, preventCancel, preventClose, signal];
  }

  function initializeReadableStream(stream) {
    stream[$state] = "readable";
    stream[$reader] = undefined;
    stream[$storedError] = undefined;
    stream[$disturbed] = false;
    stream[$controller] = undefined;
  }

  // CreateReadableStream / CreateReadableByteStream, with internal algorithms: start(c), pull(c) and cancel(c, r)
  // (start may be undefined; pull and cancel return promises).
  function newReadableStream(start, pull, cancel, hwm = 1, size = undefined) {
    const stream = new ReadableStream(kCreate);
    const c = new ReadableStreamDefaultController(kCreate);
    setUpDefaultController(stream, c, kInternal, start, pull, cancel, hwm, size);
    return stream;
  }
  function newReadableByteStream(start, pull, cancel) {
    const stream = new ReadableStream(kCreate);
    setUpByteController(stream, new ReadableByteStreamController(kCreate), kInternal, start, pull, cancel, 0, undefined);
    return stream;
  }

  const isReadableStreamLocked = (stream) => stream[$reader] !== undefined;

  function readableStreamCancel(stream, reason) {
    stream[$disturbed] = true;
    const state = stream[$state];
    if (state === "closed") return PromiseResolve(undefined);
    if (state === "errored") return PromiseReject(stream[$storedError]);
    readableStreamClose(stream);
    const reader = stream[$reader];
    if (reader !== undefined && reader[$isByob]) {
      for (const req of reader[$requests].drain()) req.close(undefined);
    }
    const c = stream[$controller];
    const p = c[$isBytes] ? byteControllerCancelSteps(c, reason) : defaultControllerCancelSteps(c, reason);
    return promiseThen(p, noop);
  }

  function readableStreamClose(stream) {
    stream[$state] = "closed";
    const reader = stream[$reader];
    if (reader === undefined) return;
    reader[$closedResolve](undefined);
    reader[$closedState] = "resolved";
    if (!reader[$isByob]) {
      for (const req of reader[$requests].drain()) req.close(undefined);
    }
  }

  function readableStreamError(stream, e) {
    stream[$state] = "errored";
    stream[$storedError] = e;
    const reader = stream[$reader];
    if (reader === undefined) return;
    reader[$closedReject](e);
    reader[$closedState] = "rejected";
    setHandled(reader[$closedPromise]);
    for (const req of reader[$requests].drain()) req.error(e);
  }

  function readableStreamFulfillReadRequest(stream, chunk, done) {
    const req = stream[$reader][$requests].shift();
    if (done) req.close(undefined);
    else req.chunk(chunk);
  }
  function readableStreamFulfillReadIntoRequest(stream, chunk, done) {
    const req = stream[$reader][$requests].shift();
    if (done) req.close(chunk);
    else req.chunk(chunk);
  }
  const numReadRequests = (stream) => stream[$reader][$requests].length;
  const hasDefaultReader = (stream) => stream[$reader] !== undefined && !stream[$reader][$isByob];
  const hasBYOBReader = (stream) => stream[$reader] !== undefined && stream[$reader][$isByob];

  // ---- readers -------------------------------------------------------------------------------------------------

  function readerGenericInitialize(reader, stream) {
    reader[$stream] = stream;
    stream[$reader] = reader;
    const state = stream[$state];
    if (state === "readable") {
      newPromiseSlots(reader, $closedPromise, $closedResolve, $closedReject, $closedState);
    } else if (state === "closed") {
      reader[$closedPromise] = PromiseResolve(undefined);
      reader[$closedResolve] = reader[$closedReject] = noop;
      reader[$closedState] = "resolved";
    } else {
      reader[$closedPromise] = PromiseReject(stream[$storedError]);
      reader[$closedResolve] = reader[$closedReject] = noop;
      reader[$closedState] = "rejected";
      setHandled(reader[$closedPromise]);
    }
  }

  function readerGenericRelease(reader) {
    const stream = reader[$stream];
    const e = new $TypeError("the reader's lock was released");
    if (reader[$closedState] === "pending") {
      reader[$closedReject](e);
    } else {
      reader[$closedPromise] = PromiseReject(e);
      reader[$closedResolve] = reader[$closedReject] = noop;
    }
    reader[$closedState] = "rejected";
    setHandled(reader[$closedPromise]);
    stream[$reader] = undefined;
    reader[$stream] = undefined;
  }

  function acquireDefaultReader(stream) {
    return new ReadableStreamDefaultReader(stream);
  }

  class ReadableStreamDefaultReader {
    #brand() {}
    static {
      isDefaultReader = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(stream) {
      if (!isRS(stream)) throw new $TypeError("ReadableStreamDefaultReader: the argument is not a ReadableStream");
      if (stream[$reader] !== undefined) throw new $TypeError("ReadableStreamDefaultReader: the stream is locked");
      this[$stream] = undefined;
      this[$closedPromise] = undefined;
      this[$closedResolve] = undefined;
      this[$closedReject] = undefined;
      this[$closedState] = undefined;
      this[$isByob] = false;
      this[$requests] = new Queue();
      readerGenericInitialize(this, stream);
    }
    get closed() {
      if (!isDefaultReader(this)) return PromiseReject(brandError("ReadableStreamDefaultReader.closed"));
      return this[$closedPromise];
    }
    cancel(reason = undefined) {
      if (!isDefaultReader(this)) return PromiseReject(brandError("ReadableStreamDefaultReader.cancel"));
      if (this[$stream] === undefined) return PromiseReject(new $TypeError("ReadableStreamDefaultReader.cancel: the reader is released"));
      return readableStreamCancel(this[$stream], reason);
    }
    read() {
      if (!isDefaultReader(this)) return PromiseReject(brandError("ReadableStreamDefaultReader.read"));
      if (this[$stream] === undefined) return PromiseReject(new $TypeError("ReadableStreamDefaultReader.read: the reader is released"));
      const req = new PromiseReadRequest();
      defaultReaderRead(this, req);
      return req.promise;
    }
    releaseLock() {
      if (!isDefaultReader(this)) throw brandError("ReadableStreamDefaultReader.releaseLock");
      if (this[$stream] === undefined) return;
      if (this[$requests].length > 0)
        throw new $TypeError("ReadableStreamDefaultReader.releaseLock: there are pending reads");
      readerGenericRelease(this);
    }
  }
  idlInterface(ReadableStreamDefaultReader, "ReadableStreamDefaultReader");

  function defaultReaderRead(reader, req) {
    const stream = reader[$stream];
    stream[$disturbed] = true;
    const state = stream[$state];
    if (state === "closed") req.close(undefined);
    else if (state === "errored") req.error(stream[$storedError]);
    else {
      const c = stream[$controller];
      if (c[$isBytes]) byteControllerPullSteps(c, req);
      else defaultControllerPullSteps(c, req);
    }
  }

  class ReadableStreamBYOBReader {
    #brand() {}
    static {
      isBYOBReader = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(stream) {
      if (!isRS(stream)) throw new $TypeError("ReadableStreamBYOBReader: the argument is not a ReadableStream");
      if (stream[$reader] !== undefined) throw new $TypeError("ReadableStreamBYOBReader: the stream is locked");
      if (!stream[$controller][$isBytes])
        throw new $TypeError("ReadableStreamBYOBReader: the stream is not a byte stream");
      this[$stream] = undefined;
      this[$closedPromise] = undefined;
      this[$closedResolve] = undefined;
      this[$closedReject] = undefined;
      this[$closedState] = undefined;
      this[$isByob] = true;
      this[$requests] = new Queue();
      readerGenericInitialize(this, stream);
    }
    get closed() {
      if (!isBYOBReader(this)) return PromiseReject(brandError("ReadableStreamBYOBReader.closed"));
      return this[$closedPromise];
    }
    cancel(reason = undefined) {
      if (!isBYOBReader(this)) return PromiseReject(brandError("ReadableStreamBYOBReader.cancel"));
      if (this[$stream] === undefined) return PromiseReject(new $TypeError("ReadableStreamBYOBReader.cancel: the reader is released"));
      return readableStreamCancel(this[$stream], reason);
    }
    // options.min (ReadableStreamBYOBReaderReadOptions, from the spec of 2023): the read waits for at least min
    // elements.
    read(view, options = undefined) {
      if (!isBYOBReader(this)) return PromiseReject(brandError("ReadableStreamBYOBReader.read"));
      if (!ArrayIsView(view)) return PromiseReject(new $TypeError("ReadableStreamBYOBReader.read: the argument is not an ArrayBufferView"));
      let min = 1;
      try {
        const o = idlDict(options, "ReadableStreamBYOBReader.read: options");
        if (o !== null && o.min !== undefined) min = enforceULL(o.min, "ReadableStreamBYOBReader.read: options.min");
      } catch (e) {
        return PromiseReject(e);
      }
      const byteLength = viewByteLength(view);
      if (byteLength === 0) return PromiseReject(new $TypeError("ReadableStreamBYOBReader.read: the view is empty"));
      if (bufferByteLength(viewBuffer(view)) === 0)
        return PromiseReject(new $TypeError("ReadableStreamBYOBReader.read: the view's buffer is empty or detached"));
      if (min === 0) return PromiseReject(new $TypeError("ReadableStreamBYOBReader.read: options.min must not be 0"));
      const tag = callFn(taTag, view);
      if (min > (tag === undefined ? byteLength : byteLength / TA_CTORS[tag].BYTES_PER_ELEMENT))
        return PromiseReject(new $RangeError("ReadableStreamBYOBReader.read: options.min is larger than the view"));
      if (this[$stream] === undefined) return PromiseReject(new $TypeError("ReadableStreamBYOBReader.read: the reader is released"));
      const req = new PromiseReadRequest();
      byobReaderRead(this, view, min, req);
      return req.promise;
    }
    releaseLock() {
      if (!isBYOBReader(this)) throw brandError("ReadableStreamBYOBReader.releaseLock");
      if (this[$stream] === undefined) return;
      if (this[$requests].length > 0) throw new $TypeError("ReadableStreamBYOBReader.releaseLock: there are pending reads");
      readerGenericRelease(this);
    }
  }
  idlInterface(ReadableStreamBYOBReader, "ReadableStreamBYOBReader");

  function byobReaderRead(reader, view, min, req) {
    const stream = reader[$stream];
    stream[$disturbed] = true;
    if (stream[$state] === "errored") req.error(stream[$storedError]);
    else byteControllerPullInto(stream[$controller], view, min, req);
  }

  // ---- controllers: shared ---------------------------------------------------------------------------------------

  // The pull and cancel algorithms of a readable controller: promises, never throwing.
  function callPull(c) {
    const f = c[$pull], src = c[$source];
    if (f === undefined) return PromiseResolve(undefined);
    if (src === kInternal) return f(c);
    try {
      return PromiseResolve(callFn(f, src, c));
    } catch (e) {
      return PromiseReject(e);
    }
  }
  function callCancel(c, reason) {
    const f = c[$cancel], src = c[$source];
    if (f === undefined) return PromiseResolve(undefined);
    if (src === kInternal) return f(c, reason);
    try {
      return PromiseResolve(callFn(f, src, reason));
    } catch (e) {
      return PromiseReject(e);
    }
  }
  // The start algorithm: its result (it may throw, and the constructor then throws).
  const callStart = (start, src, c) => (start === undefined ? undefined : src === kInternal ? start(c) : callFn(start, src, c));

  function initControllerSlots(c, isBytes) {
    c[$stream] = undefined;
    c[$queue] = undefined;
    c[$queueTotalSize] = 0;
    c[$started] = false;
    c[$closeRequested] = false;
    c[$pullAgain] = false;
    c[$pulling] = false;
    c[$size] = undefined;
    c[$hwm] = 0;
    c[$source] = undefined;
    c[$pull] = undefined;
    c[$cancel] = undefined;
    c[$autoAllocate] = undefined;
    c[$byobRequest] = null;
    c[$pendingPullIntos] = undefined;
    c[$isBytes] = isBytes;
  }

  // ---- ReadableStreamDefaultController ---------------------------------------------------------------------------

  class ReadableStreamDefaultController {
    #brand() {}
    static {
      isDefaultController = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(token = undefined) {
      if (token !== kCreate) throw illegal();
      initControllerSlots(this, false);
    }
    get desiredSize() {
      if (!isDefaultController(this)) throw brandError("ReadableStreamDefaultController.desiredSize");
      return defaultControllerGetDesiredSize(this);
    }
    close() {
      if (!isDefaultController(this)) throw brandError("ReadableStreamDefaultController.close");
      if (!defaultControllerCanCloseOrEnqueue(this))
        throw new $TypeError("ReadableStreamDefaultController.close: the stream is closed or closing");
      defaultControllerClose(this);
    }
    enqueue(chunk = undefined) {
      if (!isDefaultController(this)) throw brandError("ReadableStreamDefaultController.enqueue");
      if (!defaultControllerCanCloseOrEnqueue(this))
        throw new $TypeError("ReadableStreamDefaultController.enqueue: the stream is closed or closing");
      defaultControllerEnqueue(this, chunk);
    }
    error(e = undefined) {
      if (!isDefaultController(this)) throw brandError("ReadableStreamDefaultController.error");
      defaultControllerError(this, e);
    }
  }
  idlInterface(ReadableStreamDefaultController, "ReadableStreamDefaultController");

  function setUpDefaultController(stream, c, src, start, pull, cancel, hwm, size) {
    c[$stream] = stream;
    c[$queue] = new SizedQueue();
    c[$size] = size;
    c[$hwm] = hwm;
    c[$source] = src;
    c[$pull] = pull;
    c[$cancel] = cancel;
    stream[$controller] = c;
    const startResult = callStart(start, src, c);
    upon(
      PromiseResolve(startResult),
      () => {
        c[$started] = true;
        defaultControllerCallPullIfNeeded(c);
      },
      (r) => defaultControllerError(c, r),
    );
  }

  /*
   * ReadableStreamDefaultControllerCallPullIfNeeded, and with the byte controller's functions its
   * byte-stream twin (prelude_streams_readable.js): one pull at a time, and
   * one more if another was asked for while it ran.
   */
  function controllerCallPullIfNeeded(c, shouldCallPull, error) {
    if (!shouldCallPull(c)) return;
    if (c[$pulling]) {
      c[$pullAgain] = true;
      return;
    }
    c[$pulling] = true;
    upon(
      callPull(c),
      () => {
        c[$pulling] = false;
        if (c[$pullAgain]) {
          c[$pullAgain] = false;
          controllerCallPullIfNeeded(c, shouldCallPull, error);
        }
      },
      (e) => error(c, e),
    );
  }

  function defaultControllerCallPullIfNeeded(c) {
    controllerCallPullIfNeeded(c, defaultControllerShouldCallPull, defaultControllerError);
  }

  function defaultControllerShouldCallPull(c) {
    const stream = c[$stream];
    if (!defaultControllerCanCloseOrEnqueue(c)) return false;
    if (!c[$started]) return false;
    if (stream[$reader] !== undefined && numReadRequests(stream) > 0) return true;
    return defaultControllerGetDesiredSize(c) > 0;
  }

  function defaultControllerClearAlgorithms(c) {
    c[$pull] = undefined;
    c[$cancel] = undefined;
    c[$size] = undefined;
  }

  function defaultControllerClose(c) {
    if (!defaultControllerCanCloseOrEnqueue(c)) return;
    c[$closeRequested] = true;
    if (c[$queue].length === 0) {
      defaultControllerClearAlgorithms(c);
      readableStreamClose(c[$stream]);
    }
  }

  function defaultControllerEnqueue(c, chunk) {
    if (!defaultControllerCanCloseOrEnqueue(c)) return;
    const stream = c[$stream];
    if (stream[$reader] !== undefined && numReadRequests(stream) > 0) {
      readableStreamFulfillReadRequest(stream, chunk, false);
    } else {
      let size;
      try {
        const f = c[$size];
        size = f === undefined ? 1 : +callFn(f, undefined, chunk);
      } catch (e) {
        defaultControllerError(c, e);
        throw e;
      }
      try {
        c[$queue].push(chunk, size);
      } catch (e) {
        defaultControllerError(c, e);
        throw e;
      }
    }
    defaultControllerCallPullIfNeeded(c);
  }

  function defaultControllerError(c, e) {
    const stream = c[$stream];
    if (stream[$state] !== "readable") return;
    c[$queue].reset();
    defaultControllerClearAlgorithms(c);
    readableStreamError(stream, e);
  }

  function defaultControllerGetDesiredSize(c) {
    const state = c[$stream][$state];
    if (state === "errored") return null;
    if (state === "closed") return 0;
    return c[$hwm] - c[$queue].total;
  }

  const defaultControllerHasBackpressure = (c) => !defaultControllerShouldCallPull(c);
  const defaultControllerCanCloseOrEnqueue = (c) => !c[$closeRequested] && c[$stream][$state] === "readable";

  function defaultControllerCancelSteps(c, reason) {
    c[$queue].reset();
    const result = callCancel(c, reason);
    defaultControllerClearAlgorithms(c);
    return result;
  }

  function defaultControllerPullSteps(c, req) {
    const stream = c[$stream];
    const q = c[$queue];
    if (q.length > 0) {
      const chunk = q.shift();
      if (c[$closeRequested] && q.length === 0) {
        defaultControllerClearAlgorithms(c);
        readableStreamClose(stream);
      } else {
        defaultControllerCallPullIfNeeded(c);
      }
      req.chunk(chunk);
    } else {
      stream[$reader][$requests].push(req);
      defaultControllerCallPullIfNeeded(c);
    }
  }
