// prelude_compression.js: CompressionStream and DecompressionStream
// (WHATWG Compression) over zlib (js/compression.cc). Part of the prelude.
//
// A Codec is one zlib stream whose whole state lives in an ArrayBuffer (so the isolate's memory limit
// covers it and the collector frees it); its output comes in pieces of at most 64 KiB, one at a time.
// The streams are a readable/writable pair that behaves as the standard's TransformStream does, with
// one difference that matters for inflate bombs: a chunk's output is enqueued a piece at a time, each
// when the reader asks for more, so however much one chunk inflates to, at most a piece waits unread.
// fetch can use the same codecs for Content-Encoding: internal.compression.contentDecoder(value) gives
// a Codec for "gzip"/"x-gzip"/"deflate" (null for anything else), decodeBody(stream, value) a decoded
// stream.
{
  const FORMATS = { __proto__: null, gzip: 0, deflate: 1, "deflate-raw": 2 };
  // The constructors as the prelude found them: a tenant may replace the globals, and the arena (zlib's state, with
  // its pointers) must never be a buffer the tenant can reach.
  const $ReadableStream = ReadableStream, $WritableStream = WritableStream, $ArrayBuffer = ArrayBuffer, $Uint8Array = Uint8Array;
  const $isView = ArrayBuffer.isView;
  const PIECE = 65536;

  class Codec {
    #format;
    #compress;
    #arena = null; // made on the first push: a stream that is never written costs nothing
    #closed = false;
    #scratch = null;
    constructor(format, compress) {
      this.#format = FORMATS[format];
      this.#compress = compress;
    }
    // The output for bytes (a Uint8Array), as fresh Uint8Arrays of at most 64 KiB, made as they are asked for.
    // With finish there is no more input: the compressor's trailer, or the decompressor's check that its
    // stream ended; the codec is freed after it.
    *pieces(bytes, finish = false) {
      if (this.#closed) throw new TypeError("the compression stream has ended");
      if (!this.#arena) {
        const arena = new $ArrayBuffer(native.zArenaSize(this.#compress));
        native.zInit(arena, this.#format, this.#compress);
        this.#arena = arena;
      }
      const out = (this.#scratch ??= new $Uint8Array(PIECE));
      let off = 0;
      try {
        for (;;) {
          if (!this.#arena) throw new TypeError("the compression stream has ended");
          const [next, written] = native.zPush(this.#arena, bytes, off, out, finish);
          const last = written < PIECE && next >= bytes.length;
          if (next === off && written === 0 && !last) throw new TypeError("the compression stream made no progress");
          off = next;
          if (written) yield out.slice(0, written);
          if (last) break;
        }
      } catch (e) {
        this.close();
        throw e;
      }
      if (finish) this.close();
    }
    // All the output for bytes at once (for callers that bound their input themselves).
    push(bytes, emit) {
      for (const piece of this.pieces(bytes)) emit(piece);
    }
    finish(emit) {
      for (const piece of this.pieces(EMPTY, true)) emit(piece);
    }
    // Frees the codec now (the collector would otherwise).
    close() {
      if (this.#arena) native.zEnd(this.#arena);
      this.#arena = null;
      this.#closed = true;
    }
  }
  const EMPTY = new $Uint8Array(0);

  function chunkBytes(chunk, who) {
    if (chunk instanceof $ArrayBuffer) return new $Uint8Array(chunk);
    if ($isView(chunk) && chunk.buffer instanceof $ArrayBuffer)
      return new $Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    throw new TypeError(`${who}: a chunk must be an ArrayBuffer or a view of one (not shared)`);
  }

  function formatOf(format, who) {
    format = String(format);
    if (!(format in FORMATS)) throw new TypeError(`${who}: '${format}' is not a supported format (gzip, deflate, deflate-raw)`);
    return format;
  }

  // The readable/writable pair over a codec. A write (and the close) enqueues its output a piece at a
  // time, and waits for the reader's next pull between pieces (the readable's highWaterMark is 0): at
  // most two pieces of a chunk's output exist unread. An error on one side errors the other, as a
  // TransformStream's would.
  function codecPair(codec, who) {
    let rc, wc, wake = null, failure = null;
    const fail = (e) => {
      if (failure) return;
      failure = e;
      codec.close();
      rc.error(e);
      wc.error(e);
      if (wake) wake();
    };
    // Enqueues each piece; before making the one after it, waits for the reader to ask (the piece after
    // is made first, so that the last piece is not waited on: a write is done once its output is queued).
    async function drain(pieces) {
      let held = null;
      for (const piece of pieces) {
        if (failure) throw failure;
        if (held !== null) {
          rc.enqueue(held);
          if (rc.desiredSize <= 0) await new Promise((resolve) => (wake = resolve));
          if (failure) throw failure;
        }
        held = piece;
      }
      if (held !== null) rc.enqueue(held);
    }
    const readable = new $ReadableStream({
      start(c) { rc = c; },
      pull() {
        const w = wake;
        wake = null;
        if (w) w();
      },
      cancel(reason) {
        if (failure) return;
        failure = reason === undefined ? new TypeError(`${who}: the readable side was cancelled`) : reason;
        codec.close();
        wc.error(failure);
        if (wake) wake();
      },
    }, { highWaterMark: 0 });
    const writable = new $WritableStream({
      start(c) {
        wc = c;
        // An abort does not wait for a write that waits for the reader: the controller's signal stops it
        // (when there is one: it needs AbortController, from prelude_events.js).
        let signal = null;
        if (typeof AbortController === "function") {
          try {
            signal = c.signal;
          } catch {}
        }
        signal?.addEventListener?.("abort", () => {
          if (failure) return;
          failure = signal.reason;
          codec.close();
          rc.error(failure);
          if (wake) wake();
        });
      },
      async write(chunk) {
        try {
          await drain(codec.pieces(chunkBytes(chunk, who)));
        } catch (e) {
          fail(e);
          throw e;
        }
      },
      async close() {
        try {
          await drain(codec.pieces(EMPTY, true));
          rc.close();
        } catch (e) {
          fail(e);
          throw e;
        }
      },
      abort(reason) {
        if (failure) return;
        failure = reason;
        codec.close();
        rc.error(reason);
        if (wake) wake();
      },
    }, { highWaterMark: 1 });
    return { readable, writable };
  }

  class CompressionStream {
    #pair;
    constructor(format) {
      format = formatOf(format, "CompressionStream");
      this.#pair = codecPair(new Codec(format, true), "CompressionStream");
    }
    get readable() { return this.#pair.readable; }
    get writable() { return this.#pair.writable; }
  }

  class DecompressionStream {
    #pair;
    constructor(format) {
      format = formatOf(format, "DecompressionStream");
      this.#pair = codecPair(new Codec(format, false), "DecompressionStream");
    }
    get readable() { return this.#pair.readable; }
    get writable() { return this.#pair.writable; }
  }

  for (const C of [CompressionStream, DecompressionStream])
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: C.name, configurable: true });

  // Content-Encoding (fetch): the codec for a header value, or null when it is not one we decode.
  // A brotli decoder (Content-Encoding: br) with the codec's shape: its state is native (compression.cc), made on
  // the first push and freed at the end (or by the collector).
  class BrotliDecoder {
    #dec = null;
    #closed = false;
    #ended = false;
    #scratch = null;
    *pieces(bytes, finish = false) {
      if (this.#closed) throw new TypeError("the decompression stream has ended");
      this.#dec ??= native.brNew();
      const out = (this.#scratch ??= new $Uint8Array(PIECE));
      let off = 0;
      try {
        for (;;) {
          if (!this.#dec) throw new TypeError("the decompression stream has ended");
          const [next, written, ended] = native.brPush(this.#dec, bytes, off, out);
          if (ended) this.#ended = true;
          const progress = next !== off || written !== 0;
          off = next;
          if (written) yield out.slice(0, written);
          // Done with this input when it is all consumed and the output did not fill (the decoder holds nothing more).
          if ((off >= bytes.length && written < PIECE) || ended) break;
          if (!progress) throw new TypeError("the decompression stream made no progress");
        }
        if (finish && !this.#ended) throw new TypeError("DecompressionStream: the brotli data is truncated");
      } catch (e) {
        this.close();
        throw e;
      }
      if (finish) this.close();
    }
    push(bytes, emit) {
      for (const piece of this.pieces(bytes)) emit(piece);
    }
    finish(emit) {
      for (const piece of this.pieces(EMPTY, true)) emit(piece);
    }
    close() {
      if (this.#dec) native.brEnd(this.#dec);
      this.#dec = null;
      this.#closed = true;
    }
  }

  function contentDecoder(value) {
    const v = String(value).trim().toLowerCase();
    if (v === "gzip" || v === "x-gzip") return new Codec("gzip", false);
    if (v === "deflate") return new Codec("deflate", false);
    if (v === "br") return new BrotliDecoder();
    return null;
  }
  internal.compression = {
    Codec,
    contentDecoder,
    // A ReadableStream of body decoded per its Content-Encoding value (body itself when there is nothing to decode).
    decodeBody(body, value) {
      const codec = contentDecoder(value);
      return codec ? body.pipeThrough(codecPair(codec, "fetch")) : body;
    },
  };

  define("CompressionStream", CompressionStream);
  define("DecompressionStream", DecompressionStream);
}
