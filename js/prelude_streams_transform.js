// prelude_streams_transform.js: WHATWG Streams, transform streams (TransformStream and its controller), the
// queuing strategies, the Encoding Standard's TextEncoderStream and TextDecoderStream, and what the rest of the
// prelude uses (internal.streams) and the globals. Part of the prelude: the last of the four files of one block
// (see prelude_streams.js's head).

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
