// prelude_streams_writable.js: WHATWG Streams, writable streams: WritableStream, WritableStreamDefaultWriter and
// WritableStreamDefaultController. Part of the prelude: the third of the four files of one block (see
// prelude_streams.js's head).

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
