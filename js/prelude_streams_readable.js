// prelude_streams_readable.js: WHATWG Streams, the rest of the readable streams part: byte streams
// (ReadableByteStreamController, ReadableStreamBYOBRequest), async iteration, ReadableStream.from(), tee and
// pipeTo. Part of the prelude: the second of the four files of one block (see prelude_streams.js's head).

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
    controllerCallPullIfNeeded(c, byteControllerShouldCallPull, byteControllerError);
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
