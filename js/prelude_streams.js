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
{
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

  function defaultControllerCallPullIfNeeded(c) {
    if (!defaultControllerShouldCallPull(c)) return;
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
          defaultControllerCallPullIfNeeded(c);
        }
      },
      (e) => defaultControllerError(c, e),
    );
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

  // ---- ReadableByteStreamController ------------------------------------------------------------------------------

  class ReadableByteStreamController {
    #brand() {}
    static {
      isByteController = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(token = undefined) {
      if (token !== kCreate) throw illegal();
      initControllerSlots(this, true);
    }
    get byobRequest() {
      if (!isByteController(this)) throw brandError("ReadableByteStreamController.byobRequest");
      return byteControllerGetBYOBRequest(this);
    }
    get desiredSize() {
      if (!isByteController(this)) throw brandError("ReadableByteStreamController.desiredSize");
      return byteControllerGetDesiredSize(this);
    }
    close() {
      if (!isByteController(this)) throw brandError("ReadableByteStreamController.close");
      if (this[$closeRequested]) throw new $TypeError("ReadableByteStreamController.close: the stream is closing");
      if (this[$stream][$state] !== "readable")
        throw new $TypeError("ReadableByteStreamController.close: the stream is not readable");
      byteControllerClose(this);
    }
    enqueue(chunk) {
      if (!isByteController(this)) throw brandError("ReadableByteStreamController.enqueue");
      if (!ArrayIsView(chunk)) throw new $TypeError("ReadableByteStreamController.enqueue: the chunk is not an ArrayBufferView");
      if (viewByteLength(chunk) === 0) throw new $TypeError("ReadableByteStreamController.enqueue: the chunk is empty");
      if (bufferByteLength(viewBuffer(chunk)) === 0)
        throw new $TypeError("ReadableByteStreamController.enqueue: the chunk's buffer is empty or detached");
      if (this[$closeRequested]) throw new $TypeError("ReadableByteStreamController.enqueue: the stream is closing");
      if (this[$stream][$state] !== "readable")
        throw new $TypeError("ReadableByteStreamController.enqueue: the stream is not readable");
      byteControllerEnqueue(this, chunk);
    }
    error(e = undefined) {
      if (!isByteController(this)) throw brandError("ReadableByteStreamController.error");
      byteControllerError(this, e);
    }
  }
  idlInterface(ReadableByteStreamController, "ReadableByteStreamController");

  class ReadableStreamBYOBRequest {
    #brand() {}
    static {
      isBYOBRequest = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(token = undefined) {
      if (token !== kCreate) throw illegal();
      this[$controller] = undefined;
      this[$view] = null;
    }
    get view() {
      if (!isBYOBRequest(this)) throw brandError("ReadableStreamBYOBRequest.view");
      return this[$view];
    }
    respond(bytesWritten) {
      if (!isBYOBRequest(this)) throw brandError("ReadableStreamBYOBRequest.respond");
      if (arguments.length === 0) throw new $TypeError("ReadableStreamBYOBRequest.respond: 1 argument required");
      bytesWritten = enforceULL(bytesWritten, "ReadableStreamBYOBRequest.respond: bytesWritten");
      if (this[$controller] === undefined)
        throw new $TypeError("ReadableStreamBYOBRequest.respond: the request is no longer valid");
      if (isDetached(viewBuffer(this[$view])))
        throw new $TypeError("ReadableStreamBYOBRequest.respond: the view's buffer is detached");
      byteControllerRespond(this[$controller], bytesWritten);
    }
    respondWithNewView(view) {
      if (!isBYOBRequest(this)) throw brandError("ReadableStreamBYOBRequest.respondWithNewView");
      if (!ArrayIsView(view))
        throw new $TypeError("ReadableStreamBYOBRequest.respondWithNewView: the argument is not an ArrayBufferView");
      if (this[$controller] === undefined)
        throw new $TypeError("ReadableStreamBYOBRequest.respondWithNewView: the request is no longer valid");
      if (isDetached(viewBuffer(view)))
        throw new $TypeError("ReadableStreamBYOBRequest.respondWithNewView: the view's buffer is detached");
      byteControllerRespondWithNewView(this[$controller], view);
    }
  }
  idlInterface(ReadableStreamBYOBRequest, "ReadableStreamBYOBRequest");

  function setUpByteController(stream, c, src, start, pull, cancel, hwm, autoAllocate) {
    c[$stream] = stream;
    c[$queue] = new Queue();
    c[$queueTotalSize] = 0;
    c[$hwm] = hwm;
    c[$source] = src;
    c[$pull] = pull;
    c[$cancel] = cancel;
    c[$autoAllocate] = autoAllocate;
    c[$pendingPullIntos] = [];
    stream[$controller] = c;
    const startResult = callStart(start, src, c);
    upon(
      PromiseResolve(startResult),
      () => {
        c[$started] = true;
        byteControllerCallPullIfNeeded(c);
      },
      (r) => byteControllerError(c, r),
    );
  }

  function byteControllerGetBYOBRequest(c) {
    if (c[$byobRequest] === null && c[$pendingPullIntos].length > 0) {
      const first = c[$pendingPullIntos][0];
      const view = new $Uint8Array(first.buffer, first.byteOffset + first.bytesFilled, first.byteLength - first.bytesFilled);
      const req = new ReadableStreamBYOBRequest(kCreate);
      req[$controller] = c;
      req[$view] = view;
      c[$byobRequest] = req;
    }
    return c[$byobRequest];
  }

  function byteControllerGetDesiredSize(c) {
    const state = c[$stream][$state];
    if (state === "errored") return null;
    if (state === "closed") return 0;
    return c[$hwm] - c[$queueTotalSize];
  }

  function byteControllerCallPullIfNeeded(c) {
    if (!byteControllerShouldCallPull(c)) return;
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
          byteControllerCallPullIfNeeded(c);
        }
      },
      (e) => byteControllerError(c, e),
    );
  }

  function byteControllerShouldCallPull(c) {
    const stream = c[$stream];
    if (stream[$state] !== "readable") return false;
    if (c[$closeRequested]) return false;
    if (!c[$started]) return false;
    if (stream[$reader] !== undefined && numReadRequests(stream) > 0) return true;
    return byteControllerGetDesiredSize(c) > 0;
  }

  function byteControllerClearAlgorithms(c) {
    c[$pull] = undefined;
    c[$cancel] = undefined;
  }

  function byteControllerClearPendingPullIntos(c) {
    byteControllerInvalidateBYOBRequest(c);
    c[$pendingPullIntos] = [];
  }

  function byteControllerInvalidateBYOBRequest(c) {
    const req = c[$byobRequest];
    if (req === null) return;
    req[$controller] = undefined;
    req[$view] = null;
    c[$byobRequest] = null;
  }

  function byteControllerClose(c) {
    const stream = c[$stream];
    if (c[$closeRequested] || stream[$state] !== "readable") return;
    if (c[$queueTotalSize] > 0) {
      c[$closeRequested] = true;
      return;
    }
    const pending = c[$pendingPullIntos];
    if (pending.length > 0 && pending[0].bytesFilled % pending[0].elementSize !== 0) {
      const e = new $TypeError("ReadableByteStreamController.close: a partial read is pending");
      byteControllerError(c, e);
      throw e;
    }
    byteControllerClearAlgorithms(c);
    readableStreamClose(stream);
  }

  function byteControllerCommitPullIntoDescriptor(stream, pid) {
    let done = false;
    if (stream[$state] === "closed") done = true;
    const filledView = byteControllerConvertPullIntoDescriptor(pid);
    if (pid.readerType === "default") readableStreamFulfillReadRequest(stream, filledView, done);
    else readableStreamFulfillReadIntoRequest(stream, filledView, done);
  }

  function byteControllerConvertPullIntoDescriptor(pid) {
    const buffer = transferBuffer(pid.buffer);
    return new pid.viewConstructor(buffer, pid.byteOffset, pid.bytesFilled / pid.elementSize);
  }

  function byteControllerEnqueue(c, chunk) {
    const stream = c[$stream];
    if (c[$closeRequested] || stream[$state] !== "readable") return;
    const buffer = viewBuffer(chunk), byteOffset = viewByteOffset(chunk), byteLength = viewByteLength(chunk);
    if (isDetached(buffer)) throw new $TypeError("ReadableByteStreamController.enqueue: the chunk's buffer is detached");
    const transferred = transferBuffer(buffer);
    const pending = c[$pendingPullIntos];
    if (pending.length > 0) {
      const first = pending[0];
      if (isDetached(first.buffer))
        throw new $TypeError("ReadableByteStreamController.enqueue: the BYOB request's buffer is detached");
      byteControllerInvalidateBYOBRequest(c);
      first.buffer = transferBuffer(first.buffer);
    }
    if (hasDefaultReader(stream)) {
      if (numReadRequests(stream) === 0) {
        byteControllerEnqueueChunkToQueue(c, transferred, byteOffset, byteLength);
      } else {
        if (pending.length > 0) byteControllerShiftPendingPullInto(c);
        readableStreamFulfillReadRequest(stream, new $Uint8Array(transferred, byteOffset, byteLength), false);
      }
    } else if (hasBYOBReader(stream)) {
      byteControllerEnqueueChunkToQueue(c, transferred, byteOffset, byteLength);
      byteControllerProcessPullIntoDescriptorsUsingQueue(c);
    } else {
      byteControllerEnqueueChunkToQueue(c, transferred, byteOffset, byteLength);
    }
    byteControllerCallPullIfNeeded(c);
  }

  function byteControllerEnqueueChunkToQueue(c, buffer, byteOffset, byteLength) {
    c[$queue].push({ buffer, byteOffset, byteLength });
    c[$queueTotalSize] += byteLength;
  }

  function byteControllerError(c, e) {
    const stream = c[$stream];
    if (stream[$state] !== "readable") return;
    byteControllerClearPendingPullIntos(c);
    c[$queue] = new Queue();
    c[$queueTotalSize] = 0;
    byteControllerClearAlgorithms(c);
    readableStreamError(stream, e);
  }

  function byteControllerFillHeadPullIntoDescriptor(c, size, pid) {
    byteControllerInvalidateBYOBRequest(c);
    pid.bytesFilled += size;
  }

  function byteControllerFillPullIntoDescriptorFromQueue(c, pid) {
    const elementSize = pid.elementSize;
    const maxBytesToCopy = Math.min(c[$queueTotalSize], pid.byteLength - pid.bytesFilled);
    const maxBytesFilled = pid.bytesFilled + maxBytesToCopy;
    const maxAlignedBytes = maxBytesFilled - (maxBytesFilled % elementSize);
    let totalBytesToCopyRemaining = maxBytesToCopy;
    let ready = false;
    if (maxAlignedBytes >= pid.minimumFill) {
      totalBytesToCopyRemaining = maxAlignedBytes - pid.bytesFilled;
      ready = true;
    }
    const q = c[$queue];
    while (totalBytesToCopyRemaining > 0) {
      const head = q.peek();
      const bytesToCopy = Math.min(totalBytesToCopyRemaining, head.byteLength);
      const destStart = pid.byteOffset + pid.bytesFilled;
      u8Set(new $Uint8Array(pid.buffer, destStart, bytesToCopy), new $Uint8Array(head.buffer, head.byteOffset, bytesToCopy));
      if (head.byteLength === bytesToCopy) {
        q.shift();
      } else {
        head.byteOffset += bytesToCopy;
        head.byteLength -= bytesToCopy;
      }
      c[$queueTotalSize] -= bytesToCopy;
      byteControllerFillHeadPullIntoDescriptor(c, bytesToCopy, pid);
      totalBytesToCopyRemaining -= bytesToCopy;
    }
    return ready;
  }

  function byteControllerHandleQueueDrain(c) {
    if (c[$queueTotalSize] === 0 && c[$closeRequested]) {
      byteControllerClearAlgorithms(c);
      readableStreamClose(c[$stream]);
    } else {
      byteControllerCallPullIfNeeded(c);
    }
  }

  function byteControllerProcessPullIntoDescriptorsUsingQueue(c) {
    while (c[$pendingPullIntos].length > 0) {
      if (c[$queueTotalSize] === 0) return;
      const pid = c[$pendingPullIntos][0];
      if (byteControllerFillPullIntoDescriptorFromQueue(c, pid)) {
        byteControllerShiftPendingPullInto(c);
        byteControllerCommitPullIntoDescriptor(c[$stream], pid);
      }
    }
  }

  function byteControllerPullInto(c, view, min, req) {
    const stream = c[$stream];
    let elementSize = 1, ctor = $DataView;
    const tag = callFn(taTag, view);
    if (tag !== undefined) {
      ctor = TA_CTORS[tag];
      elementSize = ctor.BYTES_PER_ELEMENT;
    }
    const byteOffset = viewByteOffset(view), byteLength = viewByteLength(view);
    let buffer;
    try {
      buffer = transferBuffer(viewBuffer(view));
    } catch (e) {
      req.error(e);
      return;
    }
    const pid = {
      buffer, bufferByteLength: bufferByteLength(buffer), byteOffset, byteLength, bytesFilled: 0,
      minimumFill: min * elementSize, elementSize,
      viewConstructor: ctor, readerType: "byob",
    };
    if (c[$pendingPullIntos].length > 0) {
      c[$pendingPullIntos].push(pid);
      stream[$reader][$requests].push(req);
      return;
    }
    if (stream[$state] === "closed") {
      req.close(new ctor(pid.buffer, pid.byteOffset, 0));
      return;
    }
    if (c[$queueTotalSize] > 0) {
      if (byteControllerFillPullIntoDescriptorFromQueue(c, pid)) {
        const filledView = byteControllerConvertPullIntoDescriptor(pid);
        byteControllerHandleQueueDrain(c);
        req.chunk(filledView);
        return;
      }
      if (c[$closeRequested]) {
        const e = new $TypeError("ReadableStreamBYOBReader.read: the stream closed with a partial element");
        byteControllerError(c, e);
        req.error(e);
        return;
      }
    }
    c[$pendingPullIntos].push(pid);
    stream[$reader][$requests].push(req);
    byteControllerCallPullIfNeeded(c);
  }

  function byteControllerRespond(c, bytesWritten) {
    const first = c[$pendingPullIntos][0];
    const state = c[$stream][$state];
    if (state === "closed") {
      if (bytesWritten !== 0)
        throw new $TypeError("ReadableStreamBYOBRequest.respond: bytesWritten must be 0 after the stream closed");
    } else {
      if (bytesWritten === 0) throw new $TypeError("ReadableStreamBYOBRequest.respond: bytesWritten must not be 0");
      if (first.bytesFilled + bytesWritten > first.byteLength)
        throw new $RangeError("ReadableStreamBYOBRequest.respond: bytesWritten is larger than the view");
    }
    first.buffer = transferBuffer(first.buffer);
    byteControllerRespondInternal(c, bytesWritten);
  }

  function byteControllerRespondInClosedState(c) {
    const stream = c[$stream];
    if (hasBYOBReader(stream)) {
      while (numReadRequests(stream) > 0) {
        const pid = byteControllerShiftPendingPullInto(c);
        byteControllerCommitPullIntoDescriptor(stream, pid);
      }
    }
  }

  function byteControllerRespondInReadableState(c, bytesWritten, pid) {
    byteControllerFillHeadPullIntoDescriptor(c, bytesWritten, pid);
    if (pid.bytesFilled < pid.minimumFill) return;
    byteControllerShiftPendingPullInto(c);
    const remainderSize = pid.bytesFilled % pid.elementSize;
    if (remainderSize > 0) {
      const end = pid.byteOffset + pid.bytesFilled;
      const remainder = new $Uint8Array(remainderSize);
      u8Set(remainder, new $Uint8Array(pid.buffer, end - remainderSize, remainderSize));
      byteControllerEnqueueChunkToQueue(c, remainder.buffer, 0, remainderSize);
    }
    pid.bytesFilled -= remainderSize;
    byteControllerCommitPullIntoDescriptor(c[$stream], pid);
    byteControllerProcessPullIntoDescriptorsUsingQueue(c);
  }

  function byteControllerRespondInternal(c, bytesWritten) {
    const first = c[$pendingPullIntos][0];
    byteControllerInvalidateBYOBRequest(c);
    if (c[$stream][$state] === "closed") byteControllerRespondInClosedState(c);
    else byteControllerRespondInReadableState(c, bytesWritten, first);
    byteControllerCallPullIfNeeded(c);
  }

  function byteControllerRespondWithNewView(c, view) {
    const first = c[$pendingPullIntos][0];
    const state = c[$stream][$state];
    const byteLength = viewByteLength(view), byteOffset = viewByteOffset(view), buffer = viewBuffer(view);
    if (state === "closed") {
      if (byteLength !== 0)
        throw new $TypeError("ReadableStreamBYOBRequest.respondWithNewView: the view must be empty after the stream closed");
    } else if (byteLength === 0) {
      throw new $TypeError("ReadableStreamBYOBRequest.respondWithNewView: the view must not be empty");
    }
    if (first.byteOffset + first.bytesFilled !== byteOffset)
      throw new $RangeError("ReadableStreamBYOBRequest.respondWithNewView: the view's offset does not match the request");
    if (first.bufferByteLength !== bufferByteLength(buffer))
      throw new $RangeError("ReadableStreamBYOBRequest.respondWithNewView: the view's buffer does not match the request");
    if (first.bytesFilled + byteLength > first.byteLength)
      throw new $RangeError("ReadableStreamBYOBRequest.respondWithNewView: the view is larger than the request");
    first.buffer = transferBuffer(buffer);
    byteControllerRespondInternal(c, byteLength);
  }

  function byteControllerShiftPendingPullInto(c) {
    return c[$pendingPullIntos].shift();
  }

  function byteControllerCancelSteps(c, reason) {
    byteControllerClearPendingPullIntos(c);
    c[$queue] = new Queue();
    c[$queueTotalSize] = 0;
    const result = callCancel(c, reason);
    byteControllerClearAlgorithms(c);
    return result;
  }

  function byteControllerPullSteps(c, req) {
    const stream = c[$stream];
    if (c[$queueTotalSize] > 0) {
      const entry = c[$queue].shift();
      c[$queueTotalSize] -= entry.byteLength;
      byteControllerHandleQueueDrain(c);
      req.chunk(new $Uint8Array(entry.buffer, entry.byteOffset, entry.byteLength));
      return;
    }
    const auto = c[$autoAllocate];
    if (auto !== undefined) {
      let buffer;
      try {
        buffer = new $ArrayBuffer(auto);
      } catch (e) {
        req.error(e);
        return;
      }
      c[$pendingPullIntos].push({
        buffer, bufferByteLength: auto, byteOffset: 0, byteLength: auto, bytesFilled: 0, minimumFill: 1, elementSize: 1,
        viewConstructor: $Uint8Array, readerType: "default",
      });
    }
    stream[$reader][$requests].push(req);
    byteControllerCallPullIfNeeded(c);
  }

  // ---- async iteration -----------------------------------------------------------------------------------------

  const $preventCancel = Symbol("preventCancel"), $ongoing = Symbol("ongoing"), $finished = Symbol("finished");
  const kEnd = Symbol("end of iteration");
  let isRSIterator;

  class IterReadRequest {
    reader;
    res;
    rej;
    constructor(reader, res, rej) {
      this.reader = reader;
      this.res = res;
      this.rej = rej;
    }
    chunk(c) {
      this.res(c);
    }
    close() {
      readerGenericRelease(this.reader);
      this.res(kEnd);
    }
    error(e) {
      readerGenericRelease(this.reader);
      this.rej(e);
    }
  }

  // The prototype of the iterators values() returns (WebIDL's asynchronous iterator prototype object).
  class ReadableStreamAsyncIterator {
    #brand() {}
    static {
      isRSIterator = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(token, reader, preventCancel) {
      if (token !== kCreate) throw illegal();
      this[$reader] = reader;
      this[$preventCancel] = preventCancel;
      this[$ongoing] = undefined;
      this[$finished] = false;
    }
    next() {
      if (!isRSIterator(this)) return PromiseReject(brandError("ReadableStream async iterator next"));
      const it = this;
      const nextSteps = () => {
        if (it[$finished]) return PromiseResolve({ value: undefined, done: true });
        const reader = it[$reader];
        const p = new $Promise((res, rej) => {
          defaultReaderRead(reader, new IterReadRequest(reader, res, rej));
        });
        return promiseThen(
          p,
          (v) => {
            it[$ongoing] = undefined;
            if (v === kEnd) {
              it[$finished] = true;
              return { value: undefined, done: true };
            }
            return { value: v, done: false };
          },
          (r) => {
            it[$ongoing] = undefined;
            it[$finished] = true;
            throw r;
          },
        );
      };
      const ongoing = it[$ongoing];
      it[$ongoing] = ongoing !== undefined ? promiseThen(ongoing, nextSteps, nextSteps) : nextSteps();
      return it[$ongoing];
    }
    return(value) {
      if (!isRSIterator(this)) return PromiseReject(brandError("ReadableStream async iterator return"));
      const it = this;
      const returnSteps = () => {
        if (it[$finished]) return PromiseResolve({ value, done: true });
        it[$finished] = true;
        const reader = it[$reader];
        if (reader[$stream] === undefined) return PromiseResolve(undefined);
        if (!it[$preventCancel]) {
          const result = readableStreamCancel(reader[$stream], value);
          readerGenericRelease(reader);
          return result;
        }
        readerGenericRelease(reader);
        return PromiseResolve(undefined);
      };
      const ongoing = it[$ongoing];
      it[$ongoing] = ongoing !== undefined ? promiseThen(ongoing, returnSteps, returnSteps) : returnSteps();
      return promiseThen(it[$ongoing], () => ({ value, done: true }));
    }
  }
  idlInterface(ReadableStreamAsyncIterator, "ReadableStream AsyncIterator");
  Object.setPrototypeOf(ReadableStreamAsyncIterator.prototype, AsyncIteratorPrototype);
  delete ReadableStreamAsyncIterator.prototype.constructor;

  // ---- ReadableStream.from -------------------------------------------------------------------------------------

  function getMethod(v, key) {
    const f = v[key];
    if (f === undefined || f === null) return undefined;
    if (typeof f !== "function") throw new $TypeError(`ReadableStream.from: ${String(key)} is not a function`);
    return f;
  }
  const isObject = (v) => (typeof v === "object" && v !== null) || typeof v === "function";

  // CreateAsyncFromSyncIterator, as far as from() needs it.
  function asyncFromSyncIterator(syncIt) {
    const next = syncIt.next;
    const continuation = (r) => {
      if (!isObject(r)) throw new $TypeError("ReadableStream.from: the iterator result is not an object");
      const done = !!r.done;
      return promiseThen(PromiseResolve(r.value), (value) => ({ value, done }));
    };
    return {
      next(v) {
        try {
          return continuation(callFn(next, syncIt, v));
        } catch (e) {
          return PromiseReject(e);
        }
      },
      return(v) {
        try {
          const ret = getMethod(syncIt, "return");
          if (ret === undefined) return PromiseResolve({ value: v, done: true });
          return continuation(callFn(ret, syncIt, v));
        } catch (e) {
          return PromiseReject(e);
        }
      },
    };
  }

  function readableStreamFromIterable(asyncIterable) {
    if (asyncIterable === undefined || asyncIterable === null)
      throw new $TypeError("ReadableStream.from: the argument is not iterable");
    let iterator;
    const method = getMethod(asyncIterable, $SymbolAsyncIterator);
    if (method === undefined) {
      const syncMethod = getMethod(asyncIterable, $SymbolIterator);
      if (syncMethod === undefined) throw new $TypeError("ReadableStream.from: the argument is not iterable");
      const syncIt = callFn(syncMethod, asyncIterable);
      if (!isObject(syncIt)) throw new $TypeError("ReadableStream.from: the iterator is not an object");
      iterator = asyncFromSyncIterator(syncIt);
    } else {
      iterator = callFn(method, asyncIterable);
      if (!isObject(iterator)) throw new $TypeError("ReadableStream.from: the iterator is not an object");
    }
    const nextMethod = iterator.next;
    const pull = (c) => {
      let nextPromise;
      try {
        const nextResult = callFn(nextMethod, iterator);
        if (!isObject(nextResult)) throw new $TypeError("ReadableStream.from: next() did not return an object");
        nextPromise = PromiseResolve(nextResult);
      } catch (e) {
        return PromiseReject(e);
      }
      return promiseThen(nextPromise, (r) => {
        if (!isObject(r)) throw new $TypeError("ReadableStream.from: the iterator result is not an object");
        if (r.done) defaultControllerClose(c);
        else defaultControllerEnqueue(c, r.value);
      });
    };
    const cancel = (c, reason) => {
      let returnPromise;
      try {
        const returnMethod = getMethod(iterator, "return");
        if (returnMethod === undefined) return PromiseResolve(undefined);
        returnPromise = PromiseResolve(callFn(returnMethod, iterator, reason));
      } catch (e) {
        return PromiseReject(e);
      }
      return promiseThen(returnPromise, (r) => {
        if (!isObject(r)) throw new $TypeError("ReadableStream.from: return() did not give an object");
      });
    };
    return newReadableStream(undefined, pull, cancel, 0);
  }

  // ---- tee -----------------------------------------------------------------------------------------------------

  function readableStreamTee(stream, cloneForBranch2) {
    if (stream[$controller][$isBytes]) return readableByteStreamTee(stream);
    return readableStreamDefaultTee(stream, cloneForBranch2);
  }

  function readableStreamDefaultTee(stream, cloneForBranch2) {
    const reader = acquireDefaultReader(stream);
    let reading = false, readAgain = false, canceled1 = false, canceled2 = false, reason1, reason2, branch1, branch2;
    let resolveCancel;
    const cancelPromise = new $Promise((res) => {
      resolveCancel = res;
    });
    const readRequest = {
      chunk(chunk) {
        microtask(() => {
          readAgain = false;
          const chunk1 = chunk;
          let chunk2 = chunk;
          if (!canceled2 && cloneForBranch2) {
            try {
              chunk2 = native.clone(chunk);
            } catch (e) {
              defaultControllerError(branch1[$controller], e);
              defaultControllerError(branch2[$controller], e);
              resolveCancel(readableStreamCancel(stream, e));
              return;
            }
          }
          if (!canceled1) defaultControllerEnqueue(branch1[$controller], chunk1);
          if (!canceled2) defaultControllerEnqueue(branch2[$controller], chunk2);
          reading = false;
          if (readAgain) pull();
        });
      },
      close() {
        reading = false;
        if (!canceled1) defaultControllerClose(branch1[$controller]);
        if (!canceled2) defaultControllerClose(branch2[$controller]);
        if (!canceled1 || !canceled2) resolveCancel(undefined);
      },
      error() {
        reading = false;
      },
    };
    const pull = () => {
      if (reading) {
        readAgain = true;
        return PromiseResolve(undefined);
      }
      reading = true;
      defaultReaderRead(reader, readRequest);
      return PromiseResolve(undefined);
    };
    const cancel1 = (c, reason) => {
      canceled1 = true;
      reason1 = reason;
      if (canceled2) resolveCancel(readableStreamCancel(stream, [reason1, reason2]));
      return cancelPromise;
    };
    const cancel2 = (c, reason) => {
      canceled2 = true;
      reason2 = reason;
      if (canceled1) resolveCancel(readableStreamCancel(stream, [reason1, reason2]));
      return cancelPromise;
    };
    branch1 = newReadableStream(undefined, pull, cancel1);
    branch2 = newReadableStream(undefined, pull, cancel2);
    upon(reader[$closedPromise], noop, (r) => {
      defaultControllerError(branch1[$controller], r);
      defaultControllerError(branch2[$controller], r);
      if (!canceled1 || !canceled2) resolveCancel(undefined);
    });
    return [branch1, branch2];
  }

  function readableByteStreamTee(stream) {
    let reader = acquireDefaultReader(stream);
    let reading = false, readAgainForBranch1 = false, readAgainForBranch2 = false;
    let canceled1 = false, canceled2 = false, reason1, reason2, branch1, branch2;
    let resolveCancel;
    const cancelPromise = new $Promise((res) => {
      resolveCancel = res;
    });
    const forwardReaderError = (thisReader) => {
      upon(thisReader[$closedPromise], noop, (r) => {
        if (thisReader !== reader) return;
        byteControllerError(branch1[$controller], r);
        byteControllerError(branch2[$controller], r);
        if (!canceled1 || !canceled2) resolveCancel(undefined);
      });
    };
    const cloneFailed = (e) => {
      byteControllerError(branch1[$controller], e);
      byteControllerError(branch2[$controller], e);
      resolveCancel(readableStreamCancel(stream, e));
    };
    const readAgain = () => {
      if (readAgainForBranch1) pull1();
      else if (readAgainForBranch2) pull2();
    };
    const defaultRequest = {
      chunk(chunk) {
        microtask(() => {
          readAgainForBranch1 = readAgainForBranch2 = false;
          const chunk1 = chunk;
          let chunk2 = chunk;
          if (!canceled1 && !canceled2) {
            try {
              chunk2 = cloneAsUint8Array(chunk);
            } catch (e) {
              cloneFailed(e);
              return;
            }
          }
          if (!canceled1) byteControllerEnqueue(branch1[$controller], chunk1);
          if (!canceled2) byteControllerEnqueue(branch2[$controller], chunk2);
          reading = false;
          readAgain();
        });
      },
      close() {
        reading = false;
        if (!canceled1) byteControllerClose(branch1[$controller]);
        if (!canceled2) byteControllerClose(branch2[$controller]);
        if (branch1[$controller][$pendingPullIntos].length > 0) byteControllerRespond(branch1[$controller], 0);
        if (branch2[$controller][$pendingPullIntos].length > 0) byteControllerRespond(branch2[$controller], 0);
        if (!canceled1 || !canceled2) resolveCancel(undefined);
      },
      error() {
        reading = false;
      },
    };
    const pullWithDefaultReader = () => {
      if (reader[$isByob]) {
        readerGenericRelease(reader);
        reader = acquireDefaultReader(stream);
        forwardReaderError(reader);
      }
      defaultReaderRead(reader, defaultRequest);
    };
    const pullWithBYOBReader = (view, forBranch2) => {
      if (!reader[$isByob]) {
        readerGenericRelease(reader);
        reader = new ReadableStreamBYOBReader(stream);
        forwardReaderError(reader);
      }
      const byobBranch = forBranch2 ? branch2 : branch1;
      const otherBranch = forBranch2 ? branch1 : branch2;
      const req = {
        chunk(chunk) {
          microtask(() => {
            readAgainForBranch1 = readAgainForBranch2 = false;
            const byobCanceled = forBranch2 ? canceled2 : canceled1;
            const otherCanceled = forBranch2 ? canceled1 : canceled2;
            if (!otherCanceled) {
              let cloned;
              try {
                cloned = cloneAsUint8Array(chunk);
              } catch (e) {
                cloneFailed(e);
                return;
              }
              if (!byobCanceled) byteControllerRespondWithNewView(byobBranch[$controller], chunk);
              byteControllerEnqueue(otherBranch[$controller], cloned);
            } else if (!byobCanceled) {
              byteControllerRespondWithNewView(byobBranch[$controller], chunk);
            }
            reading = false;
            readAgain();
          });
        },
        close(chunk) {
          reading = false;
          const byobCanceled = forBranch2 ? canceled2 : canceled1;
          const otherCanceled = forBranch2 ? canceled1 : canceled2;
          if (!byobCanceled) byteControllerClose(byobBranch[$controller]);
          if (!otherCanceled) byteControllerClose(otherBranch[$controller]);
          if (chunk !== undefined) {
            if (!byobCanceled) byteControllerRespondWithNewView(byobBranch[$controller], chunk);
            if (!otherCanceled && otherBranch[$controller][$pendingPullIntos].length > 0)
              byteControllerRespond(otherBranch[$controller], 0);
          }
          if (!byobCanceled || !otherCanceled) resolveCancel(undefined);
        },
        error() {
          reading = false;
        },
      };
      byobReaderRead(reader, view, 1, req);
    };
    const pull1 = () => {
      if (reading) {
        readAgainForBranch1 = true;
        return PromiseResolve(undefined);
      }
      reading = true;
      const req = byteControllerGetBYOBRequest(branch1[$controller]);
      if (req === null) pullWithDefaultReader();
      else pullWithBYOBReader(req[$view], false);
      return PromiseResolve(undefined);
    };
    const pull2 = () => {
      if (reading) {
        readAgainForBranch2 = true;
        return PromiseResolve(undefined);
      }
      reading = true;
      const req = byteControllerGetBYOBRequest(branch2[$controller]);
      if (req === null) pullWithDefaultReader();
      else pullWithBYOBReader(req[$view], true);
      return PromiseResolve(undefined);
    };
    const cancel1 = (c, reason) => {
      canceled1 = true;
      reason1 = reason;
      if (canceled2) resolveCancel(readableStreamCancel(stream, [reason1, reason2]));
      return cancelPromise;
    };
    const cancel2 = (c, reason) => {
      canceled2 = true;
      reason2 = reason;
      if (canceled1) resolveCancel(readableStreamCancel(stream, [reason1, reason2]));
      return cancelPromise;
    };
    branch1 = newReadableByteStream(undefined, pull1, cancel1);
    branch2 = newReadableByteStream(undefined, pull2, cancel2);
    forwardReaderError(reader);
    return [branch1, branch2];
  }

  // ---- pipeTo --------------------------------------------------------------------------------------------------

  function readableStreamPipeTo(source, dest, preventClose, preventAbort, preventCancel, signal) {
    const reader = acquireDefaultReader(source);
    const writer = acquireWriter(dest);
    source[$disturbed] = true;
    let shuttingDown = false;
    let currentWrite = PromiseResolve(undefined);
    let resolvePipe, rejectPipe;
    const promise = new $Promise((res, rej) => {
      resolvePipe = res;
      rejectPipe = rej;
    });
    let abortAlgorithm, abortHandle;

    const waitForWritesToFinish = () => {
      const old = currentWrite;
      return promiseThen(currentWrite, () => (old !== currentWrite ? waitForWritesToFinish() : undefined));
    };
    const finalize = (isError, error) => {
      writerRelease(writer);
      readerGenericRelease(reader);
      if (signal !== undefined) removeAbortAlgorithm(signal, abortHandle, abortAlgorithm);
      if (isError) rejectPipe(error);
      else resolvePipe(undefined);
    };
    const shutdownWithAnAction = (action, originalIsError, originalError) => {
      if (shuttingDown) return;
      shuttingDown = true;
      const doTheRest = () => {
        let p;
        try {
          p = action();
        } catch (e) {
          p = PromiseReject(e);
        }
        upon(p, () => finalize(originalIsError, originalError), (newError) => finalize(true, newError));
      };
      if (dest[$state] === "writable" && !writableStreamCloseQueuedOrInFlight(dest)) upon(waitForWritesToFinish(), doTheRest, noop);
      else doTheRest();
    };
    const shutdown = (isError, error) => {
      if (shuttingDown) return;
      shuttingDown = true;
      if (dest[$state] === "writable" && !writableStreamCloseQueuedOrInFlight(dest))
        upon(waitForWritesToFinish(), () => finalize(isError, error), noop);
      else finalize(isError, error);
    };

    if (signal !== undefined) {
      abortAlgorithm = () => {
        let error = signal.reason;
        if (error === undefined) error = new DOMException("The operation was aborted", "AbortError");
        const actions = [];
        if (!preventAbort)
          actions.push(() => (dest[$state] === "writable" ? writableStreamAbort(dest, error) : PromiseResolve(undefined)));
        if (!preventCancel)
          actions.push(() => (source[$state] === "readable" ? readableStreamCancel(source, error) : PromiseResolve(undefined)));
        shutdownWithAnAction(() => PromiseAll(actions.map((a) => a())), true, error);
      };
      if (signal.aborted) {
        abortAlgorithm();
        return promise;
      }
      abortHandle = addAbortAlgorithm(signal, abortAlgorithm);
    }

    // The loop: wait for the writer to be ready, read one chunk, write it (without waiting for the write).
    const pipeStep = () => {
      if (shuttingDown) return PromiseResolve(true);
      return promiseThen(writer[$readyPromise], () => {
        return new $Promise((resolveRead, rejectRead) => {
          defaultReaderRead(reader, {
            chunk(chunk) {
              currentWrite = promiseThen(writerWrite(writer, chunk), undefined, noop);
              resolveRead(false);
            },
            close() {
              resolveRead(true);
            },
            error: rejectRead,
          });
        });
      });
    };
    const pipeLoop = () =>
      new $Promise((resolveLoop, rejectLoop) => {
        const next = (done) => {
          if (done) resolveLoop();
          else promiseThen(pipeStep(), next, rejectLoop);
        };
        next(false);
      });

    // Errors must be propagated forward.
    if (source[$state] === "errored") {
      const e = source[$storedError];
      if (!preventAbort) shutdownWithAnAction(() => writableStreamAbort(dest, e), true, e);
      else shutdown(true, e);
    } else {
      upon(reader[$closedPromise], noop, (e) => {
        if (!preventAbort) shutdownWithAnAction(() => writableStreamAbort(dest, e), true, e);
        else shutdown(true, e);
      });
    }
    // Errors must be propagated backward.
    if (dest[$state] === "errored") {
      const e = dest[$storedError];
      if (!preventCancel) shutdownWithAnAction(() => readableStreamCancel(source, e), true, e);
      else shutdown(true, e);
    } else {
      upon(writer[$closedPromise], noop, (e) => {
        if (!preventCancel) shutdownWithAnAction(() => readableStreamCancel(source, e), true, e);
        else shutdown(true, e);
      });
    }
    // Closing must be propagated forward.
    if (source[$state] === "closed") {
      if (!preventClose) shutdownWithAnAction(() => writerCloseWithErrorPropagation(writer));
      else shutdown();
    } else {
      upon(
        reader[$closedPromise],
        () => {
          if (!preventClose) shutdownWithAnAction(() => writerCloseWithErrorPropagation(writer));
          else shutdown();
        },
        noop,
      );
    }
    // Closing must be propagated backward.
    if (writableStreamCloseQueuedOrInFlight(dest) || dest[$state] === "closed") {
      const destClosed = new $TypeError("the destination writable stream closed before all data could be piped to it");
      if (!preventCancel) shutdownWithAnAction(() => readableStreamCancel(source, destClosed), true, destClosed);
      else shutdown(true, destClosed);
    }
    setHandled(pipeLoop());
    return promise;
  }

  // ---- WritableStream ------------------------------------------------------------------------------------------

  const $writer = Symbol("writer"), $inFlightWriteRequest = Symbol("inFlightWriteRequest");
  const $closeRequest = Symbol("closeRequest"), $inFlightCloseRequest = Symbol("inFlightCloseRequest");
  const $pendingAbortRequest = Symbol("pendingAbortRequest"), $writeRequests = Symbol("writeRequests");
  const $backpressure = Symbol("backpressure"), $readyPromise = Symbol("readyPromise");
  const $readyResolve = Symbol("readyResolve"), $readyReject = Symbol("readyReject"), $readyState = Symbol("readyState");
  const $write = Symbol("write"), $close = Symbol("close"), $abort = Symbol("abort");
  const $abortController = Symbol("abortController"), $abortReason = Symbol("abortReason");
  const $signalled = Symbol("signalled");
  const kCloseSentinel = Symbol("close sentinel");
  let isWS, isWriter, isWSController;

  // A pending request (write, close, abort): a promise and its resolving functions.
  class Deferred {
    promise;
    res;
    rej;
    reason;
    wasAlreadyErroring;
    constructor() {
      this.promise = new $Promise((res, rej) => {
        this.res = res;
        this.rej = rej;
      });
    }
  }

  class WritableStream {
    #brand() {}
    static {
      isWS = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(underlyingSink = undefined, strategy = undefined) {
      if (underlyingSink === kCreate) {
        initializeWritableStream(this);
        return;
      }
      if (underlyingSink === null) throw new $TypeError("WritableStream: the underlying sink is null");
      if (underlyingSink !== undefined && typeof underlyingSink !== "object" && typeof underlyingSink !== "function")
        throw new $TypeError("WritableStream: the underlying sink is not an object");
      const [hwm, size] = convertStrategy(strategy, "WritableStream: strategy");
      let abort, close, start, write;
      const sink = underlyingSink;
      if (sink !== undefined) {
        abort = idlCallback(sink.abort, "WritableStream: abort");
        close = idlCallback(sink.close, "WritableStream: close");
        start = idlCallback(sink.start, "WritableStream: start");
        if (sink.type !== undefined) throw new $RangeError("WritableStream: the type must be undefined");
        write = idlCallback(sink.write, "WritableStream: write");
      }
      initializeWritableStream(this);
      const h = extractHighWaterMark(hwm, 1);
      setUpWSController(this, new WritableStreamDefaultController(kCreate), sink, start, write, close, abort, h, size);
    }
    get locked() {
      if (!isWS(this)) throw brandError("WritableStream.locked");
      return this[$writer] !== undefined;
    }
    abort(reason = undefined) {
      if (!isWS(this)) return PromiseReject(brandError("WritableStream.abort"));
      if (this[$writer] !== undefined) return PromiseReject(new $TypeError("WritableStream.abort: the stream is locked"));
      return writableStreamAbort(this, reason);
    }
    close() {
      if (!isWS(this)) return PromiseReject(brandError("WritableStream.close"));
      if (this[$writer] !== undefined) return PromiseReject(new $TypeError("WritableStream.close: the stream is locked"));
      if (writableStreamCloseQueuedOrInFlight(this))
        return PromiseReject(new $TypeError("WritableStream.close: the stream is already closing"));
      return writableStreamClose(this);
    }
    getWriter() {
      if (!isWS(this)) throw brandError("WritableStream.getWriter");
      return acquireWriter(this);
    }
  }
  idlInterface(WritableStream, "WritableStream");

  function initializeWritableStream(stream) {
    stream[$state] = "writable";
    stream[$storedError] = undefined;
    stream[$writer] = undefined;
    stream[$controller] = undefined;
    stream[$inFlightWriteRequest] = undefined;
    stream[$closeRequest] = undefined;
    stream[$inFlightCloseRequest] = undefined;
    stream[$pendingAbortRequest] = undefined;
    stream[$writeRequests] = new Queue();
    stream[$backpressure] = false;
  }

  // CreateWritableStream with internal algorithms: write(c, chunk), close(c), abort(c, reason), all returning promises.
  function newWritableStream(start, write, close, abort, hwm, size) {
    const stream = new WritableStream(kCreate);
    setUpWSController(stream, new WritableStreamDefaultController(kCreate), kInternal, start, write, close, abort, hwm, size);
    return stream;
  }

  const acquireWriter = (stream) => new WritableStreamDefaultWriter(stream);

  function writableStreamAbort(stream, reason) {
    let state = stream[$state];
    if (state === "closed" || state === "errored") return PromiseResolve(undefined);
    wsControllerSignalAbort(stream[$controller], reason);
    state = stream[$state];
    if (state === "closed" || state === "errored") return PromiseResolve(undefined);
    if (stream[$pendingAbortRequest] !== undefined) return stream[$pendingAbortRequest].promise;
    let wasAlreadyErroring = false;
    if (state === "erroring") {
      wasAlreadyErroring = true;
      reason = undefined;
    }
    const d = new Deferred();
    d.reason = reason;
    d.wasAlreadyErroring = wasAlreadyErroring;
    stream[$pendingAbortRequest] = d;
    if (!wasAlreadyErroring) writableStreamStartErroring(stream, reason);
    return d.promise;
  }

  function writableStreamClose(stream) {
    const state = stream[$state];
    if (state === "closed" || state === "errored")
      return PromiseReject(new $TypeError("WritableStream.close: the stream is closed or errored"));
    const d = new Deferred();
    stream[$closeRequest] = d;
    const writer = stream[$writer];
    if (writer !== undefined && stream[$backpressure] && state === "writable") resolveReady(writer);
    wsControllerClose(stream[$controller]);
    return d.promise;
  }

  function writableStreamAddWriteRequest(stream) {
    const d = new Deferred();
    stream[$writeRequests].push(d);
    return d.promise;
  }

  function writableStreamDealWithRejection(stream, error) {
    if (stream[$state] === "writable") {
      writableStreamStartErroring(stream, error);
      return;
    }
    writableStreamFinishErroring(stream);
  }

  function writableStreamStartErroring(stream, reason) {
    const c = stream[$controller];
    stream[$state] = "erroring";
    stream[$storedError] = reason;
    const writer = stream[$writer];
    if (writer !== undefined) writerEnsureReadyPromiseRejected(writer, reason);
    if (!writableStreamHasOperationMarkedInFlight(stream) && c[$started]) writableStreamFinishErroring(stream);
  }

  function writableStreamFinishErroring(stream) {
    stream[$state] = "errored";
    stream[$controller][$queue].reset(); // [[ErrorSteps]]
    const storedError = stream[$storedError];
    for (const d of stream[$writeRequests].drain()) d.rej(storedError);
    const abortRequest = stream[$pendingAbortRequest];
    if (abortRequest === undefined) {
      writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
      return;
    }
    stream[$pendingAbortRequest] = undefined;
    if (abortRequest.wasAlreadyErroring) {
      abortRequest.rej(storedError);
      writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
      return;
    }
    const p = wsControllerAbortSteps(stream[$controller], abortRequest.reason);
    upon(
      p,
      () => {
        abortRequest.res(undefined);
        writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
      },
      (reason) => {
        abortRequest.rej(reason);
        writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
      },
    );
  }

  function writableStreamFinishInFlightWrite(stream) {
    stream[$inFlightWriteRequest].res(undefined);
    stream[$inFlightWriteRequest] = undefined;
  }

  function writableStreamFinishInFlightWriteWithError(stream, error) {
    stream[$inFlightWriteRequest].rej(error);
    stream[$inFlightWriteRequest] = undefined;
    writableStreamDealWithRejection(stream, error);
  }

  function writableStreamFinishInFlightClose(stream) {
    stream[$inFlightCloseRequest].res(undefined);
    stream[$inFlightCloseRequest] = undefined;
    if (stream[$state] === "erroring") {
      stream[$storedError] = undefined;
      if (stream[$pendingAbortRequest] !== undefined) {
        stream[$pendingAbortRequest].res(undefined);
        stream[$pendingAbortRequest] = undefined;
      }
    }
    stream[$state] = "closed";
    const writer = stream[$writer];
    if (writer !== undefined) {
      writer[$closedResolve](undefined);
      writer[$closedState] = "resolved";
    }
  }

  function writableStreamFinishInFlightCloseWithError(stream, error) {
    stream[$inFlightCloseRequest].rej(error);
    stream[$inFlightCloseRequest] = undefined;
    if (stream[$pendingAbortRequest] !== undefined) {
      stream[$pendingAbortRequest].rej(error);
      stream[$pendingAbortRequest] = undefined;
    }
    writableStreamDealWithRejection(stream, error);
  }

  const writableStreamCloseQueuedOrInFlight = (stream) =>
    stream[$closeRequest] !== undefined || stream[$inFlightCloseRequest] !== undefined;
  const writableStreamHasOperationMarkedInFlight = (stream) =>
    stream[$inFlightWriteRequest] !== undefined || stream[$inFlightCloseRequest] !== undefined;

  function writableStreamRejectCloseAndClosedPromiseIfNeeded(stream) {
    if (stream[$closeRequest] !== undefined) {
      stream[$closeRequest].rej(stream[$storedError]);
      stream[$closeRequest] = undefined;
    }
    const writer = stream[$writer];
    if (writer !== undefined) {
      writer[$closedReject](stream[$storedError]);
      writer[$closedState] = "rejected";
      setHandled(writer[$closedPromise]);
    }
  }

  function writableStreamUpdateBackpressure(stream, backpressure) {
    const writer = stream[$writer];
    if (writer !== undefined && backpressure !== stream[$backpressure]) {
      if (backpressure) newPromiseSlots(writer, $readyPromise, $readyResolve, $readyReject, $readyState);
      else resolveReady(writer);
    }
    stream[$backpressure] = backpressure;
  }

  // ---- WritableStreamDefaultWriter -----------------------------------------------------------------------------

  function resolveReady(writer) {
    writer[$readyResolve](undefined);
    writer[$readyState] = "resolved";
  }
  function settledSlots(o, $p, $res, $rej, $st, ok, value) {
    o[$p] = ok ? PromiseResolve(value) : PromiseReject(value);
    o[$res] = o[$rej] = noop;
    o[$st] = ok ? "resolved" : "rejected";
    if (!ok) setHandled(o[$p]);
  }

  class WritableStreamDefaultWriter {
    #brand() {}
    static {
      isWriter = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(stream) {
      if (!isWS(stream)) throw new $TypeError("WritableStreamDefaultWriter: the argument is not a WritableStream");
      if (stream[$writer] !== undefined) throw new $TypeError("WritableStreamDefaultWriter: the stream is locked");
      this[$stream] = stream;
      this[$readyPromise] = undefined;
      this[$readyResolve] = undefined;
      this[$readyReject] = undefined;
      this[$readyState] = undefined;
      this[$closedPromise] = undefined;
      this[$closedResolve] = undefined;
      this[$closedReject] = undefined;
      this[$closedState] = undefined;
      stream[$writer] = this;
      const state = stream[$state];
      if (state === "writable") {
        if (!writableStreamCloseQueuedOrInFlight(stream) && stream[$backpressure])
          newPromiseSlots(this, $readyPromise, $readyResolve, $readyReject, $readyState);
        else settledSlots(this, $readyPromise, $readyResolve, $readyReject, $readyState, true, undefined);
        newPromiseSlots(this, $closedPromise, $closedResolve, $closedReject, $closedState);
      } else if (state === "erroring") {
        settledSlots(this, $readyPromise, $readyResolve, $readyReject, $readyState, false, stream[$storedError]);
        newPromiseSlots(this, $closedPromise, $closedResolve, $closedReject, $closedState);
      } else if (state === "closed") {
        settledSlots(this, $readyPromise, $readyResolve, $readyReject, $readyState, true, undefined);
        settledSlots(this, $closedPromise, $closedResolve, $closedReject, $closedState, true, undefined);
      } else {
        const e = stream[$storedError];
        settledSlots(this, $readyPromise, $readyResolve, $readyReject, $readyState, false, e);
        settledSlots(this, $closedPromise, $closedResolve, $closedReject, $closedState, false, e);
      }
    }
    get closed() {
      if (!isWriter(this)) return PromiseReject(brandError("WritableStreamDefaultWriter.closed"));
      return this[$closedPromise];
    }
    get desiredSize() {
      if (!isWriter(this)) throw brandError("WritableStreamDefaultWriter.desiredSize");
      if (this[$stream] === undefined) throw new $TypeError("WritableStreamDefaultWriter.desiredSize: the writer is released");
      return writerGetDesiredSize(this);
    }
    get ready() {
      if (!isWriter(this)) return PromiseReject(brandError("WritableStreamDefaultWriter.ready"));
      return this[$readyPromise];
    }
    abort(reason = undefined) {
      if (!isWriter(this)) return PromiseReject(brandError("WritableStreamDefaultWriter.abort"));
      if (this[$stream] === undefined)
        return PromiseReject(new $TypeError("WritableStreamDefaultWriter.abort: the writer is released"));
      return writableStreamAbort(this[$stream], reason);
    }
    close() {
      if (!isWriter(this)) return PromiseReject(brandError("WritableStreamDefaultWriter.close"));
      const stream = this[$stream];
      if (stream === undefined) return PromiseReject(new $TypeError("WritableStreamDefaultWriter.close: the writer is released"));
      if (writableStreamCloseQueuedOrInFlight(stream))
        return PromiseReject(new $TypeError("WritableStreamDefaultWriter.close: the stream is already closing"));
      return writableStreamClose(stream);
    }
    releaseLock() {
      if (!isWriter(this)) throw brandError("WritableStreamDefaultWriter.releaseLock");
      if (this[$stream] === undefined) return;
      writerRelease(this);
    }
    write(chunk = undefined) {
      if (!isWriter(this)) return PromiseReject(brandError("WritableStreamDefaultWriter.write"));
      if (this[$stream] === undefined)
        return PromiseReject(new $TypeError("WritableStreamDefaultWriter.write: the writer is released"));
      return writerWrite(this, chunk);
    }
  }
  idlInterface(WritableStreamDefaultWriter, "WritableStreamDefaultWriter");

  function writerCloseWithErrorPropagation(writer) {
    const stream = writer[$stream];
    const state = stream[$state];
    if (writableStreamCloseQueuedOrInFlight(stream) || state === "closed") return PromiseResolve(undefined);
    if (state === "errored") return PromiseReject(stream[$storedError]);
    return writableStreamClose(stream);
  }

  function writerEnsureClosedPromiseRejected(writer, error) {
    if (writer[$closedState] === "pending") {
      writer[$closedReject](error);
      writer[$closedState] = "rejected";
      setHandled(writer[$closedPromise]);
    } else {
      settledSlots(writer, $closedPromise, $closedResolve, $closedReject, $closedState, false, error);
    }
  }

  function writerEnsureReadyPromiseRejected(writer, error) {
    if (writer[$readyState] === "pending") {
      writer[$readyReject](error);
      writer[$readyState] = "rejected";
      setHandled(writer[$readyPromise]);
    } else {
      settledSlots(writer, $readyPromise, $readyResolve, $readyReject, $readyState, false, error);
    }
  }

  function writerGetDesiredSize(writer) {
    const stream = writer[$stream];
    const state = stream[$state];
    if (state === "errored" || state === "erroring") return null;
    if (state === "closed") return 0;
    const c = stream[$controller];
    return c[$hwm] - c[$queue].total;
  }

  function writerRelease(writer) {
    const stream = writer[$stream];
    const releasedError = new $TypeError("the writer's lock was released");
    writerEnsureReadyPromiseRejected(writer, releasedError);
    writerEnsureClosedPromiseRejected(writer, releasedError);
    stream[$writer] = undefined;
    writer[$stream] = undefined;
  }

  function writerWrite(writer, chunk) {
    const stream = writer[$stream];
    const c = stream[$controller];
    const chunkSize = wsControllerGetChunkSize(c, chunk);
    if (stream !== writer[$stream])
      return PromiseReject(new $TypeError("WritableStreamDefaultWriter.write: the writer was released"));
    const state = stream[$state];
    if (state === "errored") return PromiseReject(stream[$storedError]);
    if (writableStreamCloseQueuedOrInFlight(stream) || state === "closed")
      return PromiseReject(new $TypeError("WritableStreamDefaultWriter.write: the stream is closed or closing"));
    if (state === "erroring") return PromiseReject(stream[$storedError]);
    const p = writableStreamAddWriteRequest(stream);
    wsControllerWrite(c, chunk, chunkSize);
    return p;
  }

  // ---- WritableStreamDefaultController -------------------------------------------------------------------------

  class WritableStreamDefaultController {
    #brand() {}
    static {
      isWSController = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(token = undefined) {
      if (token !== kCreate) throw illegal();
      this[$stream] = undefined;
      this[$queue] = undefined;
      this[$started] = false;
      this[$size] = undefined;
      this[$hwm] = 0;
      this[$source] = undefined;
      this[$write] = undefined;
      this[$close] = undefined;
      this[$abort] = undefined;
      this[$abortController] = undefined;
      this[$signalled] = false;
      this[$abortReason] = undefined;
    }
    // abortReason: in the spec (and WPT) of late 2021, dropped since in favour of signal.reason.
    get abortReason() {
      if (!isWSController(this)) throw brandError("WritableStreamDefaultController.abortReason");
      return this[$abortReason];
    }
    get signal() {
      if (!isWSController(this)) throw brandError("WritableStreamDefaultController.signal");
      // The AbortController is made when the signal is first asked for (most streams never are).
      if (this[$abortController] === undefined) {
        this[$abortController] = newAbortController();
        if (this[$signalled]) this[$abortController].abort(this[$abortReason]);
      }
      return this[$abortController].signal;
    }
    error(e = undefined) {
      if (!isWSController(this)) throw brandError("WritableStreamDefaultController.error");
      if (this[$stream][$state] !== "writable") return;
      wsControllerError(this, e);
    }
  }
  idlInterface(WritableStreamDefaultController, "WritableStreamDefaultController");

  function wsControllerSignalAbort(c, reason) {
    if (c[$signalled]) return;
    c[$signalled] = true;
    c[$abortReason] = reason;
    if (c[$abortController] !== undefined) c[$abortController].abort(reason);
  }

  function setUpWSController(stream, c, src, start, write, close, abort, hwm, size) {
    c[$stream] = stream;
    stream[$controller] = c;
    c[$queue] = new SizedQueue();
    c[$size] = size;
    c[$hwm] = hwm;
    c[$source] = src;
    c[$write] = write;
    c[$close] = close;
    c[$abort] = abort;
    writableStreamUpdateBackpressure(stream, wsControllerGetBackpressure(c));
    const startResult = callStart(start, src, c);
    upon(
      PromiseResolve(startResult),
      () => {
        c[$started] = true;
        wsControllerAdvanceQueueIfNeeded(c);
      },
      (r) => {
        c[$started] = true;
        writableStreamDealWithRejection(stream, r);
      },
    );
  }

  function wsControllerAbortSteps(c, reason) {
    const f = c[$abort], src = c[$source];
    let result;
    if (f === undefined) result = PromiseResolve(undefined);
    else if (src === kInternal) result = f(c, reason);
    else {
      try {
        result = PromiseResolve(callFn(f, src, reason));
      } catch (e) {
        result = PromiseReject(e);
      }
    }
    wsControllerClearAlgorithms(c);
    return result;
  }

  function wsControllerAdvanceQueueIfNeeded(c) {
    const stream = c[$stream];
    if (!c[$started]) return;
    if (stream[$inFlightWriteRequest] !== undefined) return;
    if (stream[$state] === "erroring") {
      writableStreamFinishErroring(stream);
      return;
    }
    const q = c[$queue];
    if (q.length === 0) return;
    const value = q.peek();
    if (value === kCloseSentinel) wsControllerProcessClose(c);
    else wsControllerProcessWrite(c, value);
  }

  function wsControllerClearAlgorithms(c) {
    c[$write] = undefined;
    c[$close] = undefined;
    c[$abort] = undefined;
    c[$size] = undefined;
  }

  function wsControllerClose(c) {
    c[$queue].push(kCloseSentinel, 0);
    wsControllerAdvanceQueueIfNeeded(c);
  }

  function wsControllerError(c, error) {
    wsControllerClearAlgorithms(c);
    writableStreamStartErroring(c[$stream], error);
  }

  function wsControllerErrorIfNeeded(c, error) {
    if (c[$stream][$state] === "writable") wsControllerError(c, error);
  }

  const wsControllerGetBackpressure = (c) => c[$hwm] - c[$queue].total <= 0;

  function wsControllerGetChunkSize(c, chunk) {
    const f = c[$size];
    if (f === undefined) return 1;
    try {
      return +callFn(f, undefined, chunk);
    } catch (e) {
      wsControllerErrorIfNeeded(c, e);
      return 1;
    }
  }

  function wsControllerProcessClose(c) {
    const stream = c[$stream];
    stream[$inFlightCloseRequest] = stream[$closeRequest];
    stream[$closeRequest] = undefined;
    c[$queue].shift();
    const f = c[$close], src = c[$source];
    let p;
    if (f === undefined) p = PromiseResolve(undefined);
    else if (src === kInternal) p = f(c);
    else {
      try {
        p = PromiseResolve(callFn(f, src));
      } catch (e) {
        p = PromiseReject(e);
      }
    }
    wsControllerClearAlgorithms(c);
    upon(
      p,
      () => writableStreamFinishInFlightClose(stream),
      (r) => writableStreamFinishInFlightCloseWithError(stream, r),
    );
  }

  function wsControllerProcessWrite(c, chunk) {
    const stream = c[$stream];
    stream[$inFlightWriteRequest] = stream[$writeRequests].shift();
    const f = c[$write], src = c[$source];
    let p;
    if (f === undefined) p = PromiseResolve(undefined);
    else if (src === kInternal) p = f(c, chunk);
    else {
      try {
        p = PromiseResolve(callFn(f, src, chunk, c));
      } catch (e) {
        p = PromiseReject(e);
      }
    }
    upon(
      p,
      () => {
        writableStreamFinishInFlightWrite(stream);
        const state = stream[$state];
        c[$queue].shift();
        if (!writableStreamCloseQueuedOrInFlight(stream) && state === "writable")
          writableStreamUpdateBackpressure(stream, wsControllerGetBackpressure(c));
        wsControllerAdvanceQueueIfNeeded(c);
      },
      (reason) => {
        if (stream[$state] === "writable") wsControllerClearAlgorithms(c);
        writableStreamFinishInFlightWriteWithError(stream, reason);
      },
    );
  }

  function wsControllerWrite(c, chunk, chunkSize) {
    try {
      c[$queue].push(chunk, chunkSize);
    } catch (e) {
      wsControllerErrorIfNeeded(c, e);
      return;
    }
    const stream = c[$stream];
    if (!writableStreamCloseQueuedOrInFlight(stream) && stream[$state] === "writable")
      writableStreamUpdateBackpressure(stream, wsControllerGetBackpressure(c));
    wsControllerAdvanceQueueIfNeeded(c);
  }

  // ---- TransformStream -----------------------------------------------------------------------------------------

  const $readable = Symbol("readable"), $writable = Symbol("writable");
  const $backpressureChange = Symbol("backpressureChangePromise");
  const $backpressureChangeResolve = Symbol("backpressureChangeResolve");
  const $transform = Symbol("transform"), $flush = Symbol("flush");
  let isTS, isTSController;

  class TransformStream {
    #brand() {}
    static {
      isTS = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
      if (transformer === kCreate) return;
      if (transformer === null) throw new $TypeError("TransformStream: the transformer is null");
      if (transformer !== undefined && typeof transformer !== "object" && typeof transformer !== "function")
        throw new $TypeError("TransformStream: the transformer is not an object");
      const [wHWM, wSize] = convertStrategy(writableStrategy, "TransformStream: writableStrategy");
      const [rHWM, rSize] = convertStrategy(readableStrategy, "TransformStream: readableStrategy");
      let flush, start, transform;
      const t = transformer;
      if (t !== undefined) {
        flush = idlCallback(t.flush, "TransformStream: flush");
        if (t.readableType !== undefined) throw new $RangeError("TransformStream: readableType must be undefined");
        start = idlCallback(t.start, "TransformStream: start");
        transform = idlCallback(t.transform, "TransformStream: transform");
        if (t.writableType !== undefined) throw new $RangeError("TransformStream: writableType must be undefined");
      }
      const readableHWM = extractHighWaterMark(rHWM, 0);
      const writableHWM = extractHighWaterMark(wHWM, 1);
      let startResolve;
      const startPromise = new $Promise((res) => {
        startResolve = res;
      });
      initializeTransformStream(this, startPromise, writableHWM, wSize, readableHWM, rSize);
      const c = new TransformStreamDefaultController(kCreate);
      setUpTSController(this, c, t, transform, flush);
      if (start !== undefined) startResolve(callFn(start, t, c));
      else startResolve(undefined);
    }
    get readable() {
      if (!isTS(this)) throw brandError("TransformStream.readable");
      return this[$readable];
    }
    get writable() {
      if (!isTS(this)) throw brandError("TransformStream.writable");
      return this[$writable];
    }
  }
  idlInterface(TransformStream, "TransformStream");

  // The algorithms of the two sides of a TransformStream: `c` is the side's controller, its stream is found
  // through a map from controller to transform stream kept on the controller itself.
  const $ts = Symbol("transformStream");
  const tsStart = (c) => c[$ts][$startPromiseSlot];
  const $startPromiseSlot = Symbol("startPromise");
  const tsSinkWrite = (c, chunk) => transformStreamDefaultSinkWriteAlgorithm(c[$ts], chunk);
  const tsSinkAbort = (c, reason) => {
    transformStreamError(c[$ts], reason);
    return PromiseResolve(undefined);
  };
  const tsSinkClose = (c) => transformStreamDefaultSinkCloseAlgorithm(c[$ts]);
  const tsSourcePull = (c) => {
    const stream = c[$ts];
    transformStreamSetBackpressure(stream, false);
    return stream[$backpressureChange];
  };
  const tsSourceCancel = (c, reason) => {
    transformStreamErrorWritableAndUnblockWrite(c[$ts], reason);
    return PromiseResolve(undefined);
  };

  function initializeTransformStream(stream, startPromise, writableHWM, writableSize, readableHWM, readableSize) {
    stream[$startPromiseSlot] = startPromise;
    stream[$backpressure] = undefined;
    stream[$backpressureChange] = undefined;
    stream[$backpressureChangeResolve] = undefined;
    stream[$controller] = undefined;
    // The sides' controllers must know the transform stream before their start algorithms run.
    const ws = new WritableStream(kCreate);
    const wc = new WritableStreamDefaultController(kCreate);
    wc[$ts] = stream;
    stream[$writable] = ws;
    setUpWSController(ws, wc, kInternal, tsStart, tsSinkWrite, tsSinkClose, tsSinkAbort, writableHWM, writableSize);
    const rs = new ReadableStream(kCreate);
    const rc = new ReadableStreamDefaultController(kCreate);
    rc[$ts] = stream;
    stream[$readable] = rs;
    setUpDefaultController(rs, rc, kInternal, tsStart, tsSourcePull, tsSourceCancel, readableHWM, readableSize);
    transformStreamSetBackpressure(stream, true);
  }

  function transformStreamError(stream, e) {
    defaultControllerError(stream[$readable][$controller], e);
    transformStreamErrorWritableAndUnblockWrite(stream, e);
  }

  function transformStreamErrorWritableAndUnblockWrite(stream, e) {
    tsControllerClearAlgorithms(stream[$controller]);
    wsControllerErrorIfNeeded(stream[$writable][$controller], e);
    if (stream[$backpressure]) transformStreamSetBackpressure(stream, false);
  }

  function transformStreamSetBackpressure(stream, backpressure) {
    if (stream[$backpressureChange] !== undefined) stream[$backpressureChangeResolve](undefined);
    stream[$backpressureChange] = new $Promise((res) => {
      stream[$backpressureChangeResolve] = res;
    });
    stream[$backpressure] = backpressure;
  }

  class TransformStreamDefaultController {
    #brand() {}
    static {
      isTSController = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(token = undefined) {
      if (token !== kCreate) throw illegal();
      this[$stream] = undefined;
      this[$source] = undefined;
      this[$transform] = undefined;
      this[$flush] = undefined;
    }
    get desiredSize() {
      if (!isTSController(this)) throw brandError("TransformStreamDefaultController.desiredSize");
      return defaultControllerGetDesiredSize(this[$stream][$readable][$controller]);
    }
    enqueue(chunk = undefined) {
      if (!isTSController(this)) throw brandError("TransformStreamDefaultController.enqueue");
      tsControllerEnqueue(this, chunk);
    }
    error(reason = undefined) {
      if (!isTSController(this)) throw brandError("TransformStreamDefaultController.error");
      transformStreamError(this[$stream], reason);
    }
    terminate() {
      if (!isTSController(this)) throw brandError("TransformStreamDefaultController.terminate");
      tsControllerTerminate(this);
    }
  }
  idlInterface(TransformStreamDefaultController, "TransformStreamDefaultController");

  // transform(c, chunk) and flush(c) of a transformer the prelude makes (kInternal) return promises.
  function setUpTSController(stream, c, src, transform, flush) {
    c[$stream] = stream;
    stream[$controller] = c;
    c[$source] = src;
    c[$transform] = transform;
    c[$flush] = flush;
  }

  function tsControllerClearAlgorithms(c) {
    c[$transform] = undefined;
    c[$flush] = undefined;
    c[$source] = undefined;
  }

  function tsControllerEnqueue(c, chunk) {
    const stream = c[$stream];
    const rc = stream[$readable][$controller];
    if (!defaultControllerCanCloseOrEnqueue(rc))
      throw new $TypeError("TransformStreamDefaultController.enqueue: the readable side is closed or errored");
    try {
      defaultControllerEnqueue(rc, chunk);
    } catch (e) {
      transformStreamErrorWritableAndUnblockWrite(stream, e);
      throw stream[$readable][$storedError];
    }
    const backpressure = defaultControllerHasBackpressure(rc);
    if (backpressure !== stream[$backpressure]) transformStreamSetBackpressure(stream, true);
  }

  function tsControllerPerformTransform(c, chunk) {
    const f = c[$transform], src = c[$source];
    let p;
    if (src === kInternal) p = f(c, chunk);
    else if (f === undefined) {
      // The identity transform.
      try {
        tsControllerEnqueue(c, chunk);
        p = PromiseResolve(undefined);
      } catch (e) {
        p = PromiseReject(e);
      }
    } else {
      try {
        p = PromiseResolve(callFn(f, src, chunk, c));
      } catch (e) {
        p = PromiseReject(e);
      }
    }
    return promiseThen(p, undefined, (r) => {
      transformStreamError(c[$stream], r);
      throw r;
    });
  }

  function tsControllerTerminate(c) {
    const stream = c[$stream];
    defaultControllerClose(stream[$readable][$controller]);
    transformStreamErrorWritableAndUnblockWrite(stream, new $TypeError("the transform stream was terminated"));
  }

  function transformStreamDefaultSinkWriteAlgorithm(stream, chunk) {
    const c = stream[$controller];
    if (stream[$backpressure]) {
      return promiseThen(stream[$backpressureChange], () => {
        const writable = stream[$writable];
        if (writable[$state] === "erroring") throw writable[$storedError];
        return tsControllerPerformTransform(c, chunk);
      });
    }
    return tsControllerPerformTransform(c, chunk);
  }

  function transformStreamDefaultSinkCloseAlgorithm(stream) {
    const readable = stream[$readable];
    const c = stream[$controller];
    const f = c[$flush], src = c[$source];
    let p;
    if (src === kInternal) p = f(c);
    else if (f === undefined) p = PromiseResolve(undefined);
    else {
      try {
        p = PromiseResolve(callFn(f, src, c));
      } catch (e) {
        p = PromiseReject(e);
      }
    }
    tsControllerClearAlgorithms(c);
    return promiseThen(
      p,
      () => {
        if (readable[$state] === "errored") throw readable[$storedError];
        defaultControllerClose(readable[$controller]);
      },
      (r) => {
        transformStreamError(stream, r);
        throw readable[$storedError];
      },
    );
  }

  // A TransformStream over internal algorithms (the encoding streams): transform(c, chunk) and flush(c) return
  // promises (or throw: wrapped).
  function newTransformStream(transform, flush) {
    const ts = new TransformStream(kCreate);
    let startResolve;
    const startPromise = new $Promise((res) => {
      startResolve = res;
    });
    initializeTransformStream(ts, startPromise, 1, undefined, 0, undefined);
    setUpTSController(ts, new TransformStreamDefaultController(kCreate), kInternal, transform, flush);
    startResolve(undefined);
    return ts;
  }

  // ---- queuing strategies --------------------------------------------------------------------------------------

  const $highWaterMark = Symbol("highWaterMark");
  const countSize = { size: () => 1 }.size;
  const byteLengthSize = { size: (chunk) => chunk.byteLength }.size;
  let isCQS, isBLQS;

  function strategyInit(init, who) {
    if (arguments.length === 0 || init === undefined || init === null || (typeof init !== "object" && typeof init !== "function"))
      throw new $TypeError(`${who}: the argument must be an object with a highWaterMark`);
    const hwm = init.highWaterMark;
    if (hwm === undefined) throw new $TypeError(`${who}: highWaterMark is required`);
    return +hwm;
  }

  class ByteLengthQueuingStrategy {
    #brand() {}
    static {
      isBLQS = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(init) {
      this[$highWaterMark] = strategyInit(init, "ByteLengthQueuingStrategy");
    }
    get highWaterMark() {
      if (!isBLQS(this)) throw brandError("ByteLengthQueuingStrategy.highWaterMark");
      return this[$highWaterMark];
    }
    get size() {
      if (!isBLQS(this)) throw brandError("ByteLengthQueuingStrategy.size");
      return byteLengthSize;
    }
  }
  idlInterface(ByteLengthQueuingStrategy, "ByteLengthQueuingStrategy");

  class CountQueuingStrategy {
    #brand() {}
    static {
      isCQS = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(init) {
      this[$highWaterMark] = strategyInit(init, "CountQueuingStrategy");
    }
    get highWaterMark() {
      if (!isCQS(this)) throw brandError("CountQueuingStrategy.highWaterMark");
      return this[$highWaterMark];
    }
    get size() {
      if (!isCQS(this)) throw brandError("CountQueuingStrategy.size");
      return countSize;
    }
  }
  idlInterface(CountQueuingStrategy, "CountQueuingStrategy");

  // ---- TextEncoderStream, TextDecoderStream --------------------------------------------------------------------

  const $encoderTS = Symbol("transform"), $pendingHigh = Symbol("pendingHighSurrogate"), $decoder = Symbol("decoder");
  let isTES, isTDS;
  const encoder = new $TextEncoder();
  const STREAM = { stream: true };

  function tesTransform(c, chunk) {
    try {
      const owner = c[$ts];
      let s = `${chunk}`;
      if (owner[$pendingHigh] !== "") {
        s = owner[$pendingHigh] + s;
        owner[$pendingHigh] = "";
      }
      if (s.length > 0) {
        const last = s.charCodeAt(s.length - 1);
        if (last >= 0xd800 && last <= 0xdbff) {
          owner[$pendingHigh] = s[s.length - 1];
          s = s.slice(0, -1);
        }
      }
      if (s.length > 0) tsControllerEnqueue(c, textEncode(encoder, s));
      return PromiseResolve(undefined);
    } catch (e) {
      return PromiseReject(e);
    }
  }
  function tesFlush(c) {
    try {
      if (c[$ts][$pendingHigh] !== "") tsControllerEnqueue(c, new $Uint8Array([0xef, 0xbf, 0xbd]));
      return PromiseResolve(undefined);
    } catch (e) {
      return PromiseReject(e);
    }
  }

  class TextEncoderStream {
    #brand() {}
    static {
      isTES = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor() {
      const ts = newTransformStream(tesTransform, tesFlush);
      ts[$controller][$ts] = ts;
      ts[$pendingHigh] = "";
      this[$encoderTS] = ts;
    }
    get encoding() {
      if (!isTES(this)) throw brandError("TextEncoderStream.encoding");
      return "utf-8";
    }
    get readable() {
      if (!isTES(this)) throw brandError("TextEncoderStream.readable");
      return this[$encoderTS][$readable];
    }
    get writable() {
      if (!isTES(this)) throw brandError("TextEncoderStream.writable");
      return this[$encoderTS][$writable];
    }
  }
  idlInterface(TextEncoderStream, "TextEncoderStream");

  function tdsTransform(c, chunk) {
    try {
      if (!isArrayBuffer(chunk) && !ArrayIsView(chunk))
        throw new $TypeError("TextDecoderStream: the chunk is not an ArrayBuffer or a view of one");
      const s = textDecode(c[$ts][$decoder], chunk, STREAM);
      if (s !== "") tsControllerEnqueue(c, s);
      return PromiseResolve(undefined);
    } catch (e) {
      return PromiseReject(e);
    }
  }
  function tdsFlush(c) {
    try {
      const s = textDecode(c[$ts][$decoder]);
      if (s !== "") tsControllerEnqueue(c, s);
      return PromiseResolve(undefined);
    } catch (e) {
      return PromiseReject(e);
    }
  }
  function isArrayBuffer(x) {
    try {
      callFn(abByteLength, x);
      return true;
    } catch {
      return false;
    }
  }

  class TextDecoderStream {
    #brand() {}
    static {
      isTDS = (x) => typeof x === "object" && x !== null && #brand in x;
    }
    constructor(label = "utf-8", options = undefined) {
      const decoder = new $TextDecoder(label, options);
      const ts = newTransformStream(tdsTransform, tdsFlush);
      ts[$controller][$ts] = ts;
      ts[$decoder] = decoder;
      this[$encoderTS] = ts;
    }
    get encoding() {
      if (!isTDS(this)) throw brandError("TextDecoderStream.encoding");
      return this[$encoderTS][$decoder].encoding;
    }
    get fatal() {
      if (!isTDS(this)) throw brandError("TextDecoderStream.fatal");
      return this[$encoderTS][$decoder].fatal;
    }
    get ignoreBOM() {
      if (!isTDS(this)) throw brandError("TextDecoderStream.ignoreBOM");
      return this[$encoderTS][$decoder].ignoreBOM;
    }
    get readable() {
      if (!isTDS(this)) throw brandError("TextDecoderStream.readable");
      return this[$encoderTS][$readable];
    }
    get writable() {
      if (!isTDS(this)) throw brandError("TextDecoderStream.writable");
      return this[$encoderTS][$writable];
    }
  }
  idlInterface(TextDecoderStream, "TextDecoderStream");

  // ---- what the rest of the prelude uses -----------------------------------------------------------------------

  // readAll's read request: collects the chunks; the loop reads again while chunks come synchronously.
  class ReadAllRequest {
    reader;
    res;
    rej;
    chunks;
    total;
    sync;
    again;
    constructor(reader, res, rej) {
      this.reader = reader;
      this.res = res;
      this.rej = rej;
      this.chunks = [];
      this.total = 0;
      this.sync = false;
      this.again = false;
    }
    chunk(c) {
      if (!isUint8Array(c)) {
        this.rej(new $TypeError("the body stream gave a chunk that is not a Uint8Array"));
        return;
      }
      this.chunks.push(c);
      this.total += callFn(taByteLength, c);
      if (this.sync) this.again = true;
      else this.loop();
    }
    close() {
      const chunks = this.chunks;
      // Resolved with a box that has no prototype, so that no `then` a tenant put on Object.prototype sees the bytes.
      if (chunks.length === 1) {
        this.res({ __proto__: null, v: chunks[0] });
        return;
      }
      const out = new $Uint8Array(this.total);
      let at = 0;
      for (const c of chunks) {
        u8Set(out, c, at);
        at += callFn(taByteLength, c);
      }
      this.res({ __proto__: null, v: out });
    }
    error(e) {
      this.rej(e);
    }
    loop() {
      do {
        this.again = false;
        this.sync = true;
        defaultReaderRead(this.reader, this);
        this.sync = false;
      } while (this.again);
    }
  }

  // Reads rs to its end: a promise of a prototype-less box { v: Uint8Array } (the one chunk itself when there is
  // one); rejects with a TypeError for a chunk that is not a Uint8Array, or with the stream's error.
  function readAll(rs) {
    let reader;
    try {
      reader = acquireDefaultReader(rs);
    } catch (e) {
      return PromiseReject(e);
    }
    return new $Promise((res, rej) => {
      new ReadAllRequest(reader, res, rej).loop();
    });
  }

  // A byte stream over u8's memory (not copied, not transferred: the caller must not change it afterwards). Its
  // start enqueues u8 (when not empty) and closes, so the stream is read from its queue.
  function fromBytes(u8) {
    const stream = new ReadableStream(kCreate);
    const start = (c) => {
      const n = callFn(taByteLength, u8);
      if (n > 0) byteControllerEnqueueChunkToQueue(c, callFn(taBuffer, u8), callFn(taByteOffset, u8), n);
      byteControllerClose(c);
    };
    setUpByteController(stream, new ReadableByteStreamController(kCreate), kInternal, start, undefined, undefined, 0, undefined);
    return stream;
  }

  internal.streams = {
    isReadableStream: isRS,
    isDisturbed: (rs) => rs[$disturbed],
    isErrored: (rs) => rs[$state] === "errored",
    isClosed: (rs) => rs[$state] === "closed",
    fromBytes,
    readAll,
    tee: (rs, cloneForBranch2) => readableStreamTee(rs, !!cloneForBranch2),
    cancel: (rs, reason) => readableStreamCancel(rs, reason),
  };

  define("ReadableStream", ReadableStream);
  define("ReadableStreamDefaultReader", ReadableStreamDefaultReader);
  define("ReadableStreamBYOBReader", ReadableStreamBYOBReader);
  define("ReadableStreamBYOBRequest", ReadableStreamBYOBRequest);
  define("ReadableStreamDefaultController", ReadableStreamDefaultController);
  define("ReadableByteStreamController", ReadableByteStreamController);
  define("WritableStream", WritableStream);
  define("WritableStreamDefaultWriter", WritableStreamDefaultWriter);
  define("WritableStreamDefaultController", WritableStreamDefaultController);
  define("TransformStream", TransformStream);
  define("TransformStreamDefaultController", TransformStreamDefaultController);
  define("ByteLengthQueuingStrategy", ByteLengthQueuingStrategy);
  define("CountQueuingStrategy", CountQueuingStrategy);
  define("TextEncoderStream", TextEncoderStream);
  define("TextDecoderStream", TextDecoderStream);
}
