// prelude_compression.js: CompressionStream and DecompressionStream
// (WHATWG Compression) over zlib (js/compression.cc). Part of the prelude.
//
// A Codec is one zlib stream whose whole state lives in an ArrayBuffer (so the isolate's memory limit
// covers it and the collector frees it); its output comes in pieces of at most 64 KiB. fetch can use
// the same codecs for Content-Encoding: internal.compression.contentDecoder(value) gives a Codec for
// "gzip"/"x-gzip"/"deflate" (null for anything else), or decodeBody(stream, value) a decoded stream.
{
  const FORMATS = { __proto__: null, gzip: 0, deflate: 1, "deflate-raw": 2 };
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
    // Runs bytes (a Uint8Array) through the codec; emit(piece) gets each piece of output (a fresh Uint8Array).
    push(bytes, emit) { this.#run(bytes, false, emit); }
    // No more input: the compressor's trailer, or the decompressor's check that its stream ended. Frees the codec.
    finish(emit) {
      this.#run(new Uint8Array(0), true, emit);
      this.close();
    }
    // Frees the codec now (the collector would otherwise).
    close() {
      if (this.#arena) native.zEnd(this.#arena);
      this.#arena = null;
      this.#closed = true;
    }
    #run(bytes, finish, emit) {
      if (this.#closed) throw new TypeError("the compression stream has ended");
      if (!this.#arena) {
        const arena = new ArrayBuffer(native.zArenaSize(this.#compress));
        native.zInit(arena, this.#format, this.#compress);
        this.#arena = arena;
      }
      const out = (this.#scratch ??= new Uint8Array(PIECE));
      let off = 0;
      try {
        for (;;) {
          const [next, written] = native.zPush(this.#arena, bytes, off, out, finish);
          if (written) emit(out.slice(0, written));
          if (written < PIECE && next >= bytes.length) break;
          if (next === off && written === 0) throw new TypeError("the compression stream made no progress");
          off = next;
        }
      } catch (e) {
        this.close();
        throw e;
      }
    }
  }

  function chunkBytes(chunk, who) {
    if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
    if (ArrayBuffer.isView(chunk) && chunk.buffer instanceof ArrayBuffer)
      return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    throw new TypeError(`${who}: a chunk must be an ArrayBuffer or a view of one (not shared)`);
  }

  function formatOf(format, who) {
    format = String(format);
    if (!(format in FORMATS)) throw new TypeError(`${who}: '${format}' is not a supported format (gzip, deflate, deflate-raw)`);
    return format;
  }

  function codecTransform(codec, who) {
    return new TransformStream({
      transform(chunk, controller) {
        codec.push(chunkBytes(chunk, who), (piece) => controller.enqueue(piece));
      },
      flush(controller) {
        codec.finish((piece) => controller.enqueue(piece));
      },
    });
  }

  class CompressionStream {
    #transform;
    constructor(format) {
      format = formatOf(format, "CompressionStream");
      this.#transform = codecTransform(new Codec(format, true), "CompressionStream");
    }
    get readable() { return this.#transform.readable; }
    get writable() { return this.#transform.writable; }
  }

  class DecompressionStream {
    #transform;
    constructor(format) {
      format = formatOf(format, "DecompressionStream");
      this.#transform = codecTransform(new Codec(format, false), "DecompressionStream");
    }
    get readable() { return this.#transform.readable; }
    get writable() { return this.#transform.writable; }
  }

  for (const C of [CompressionStream, DecompressionStream])
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: C.name, configurable: true });

  // Content-Encoding (fetch): the codec for a header value, or null when it is not one we decode.
  function contentDecoder(value) {
    const v = String(value).trim().toLowerCase();
    if (v === "gzip" || v === "x-gzip") return new Codec("gzip", false);
    if (v === "deflate") return new Codec("deflate", false);
    return null;
  }
  internal.compression = {
    Codec,
    contentDecoder,
    // A ReadableStream of body decoded per its Content-Encoding value (body itself when there is nothing to decode).
    decodeBody(body, value) {
      const codec = contentDecoder(value);
      return codec ? body.pipeThrough(codecTransform(codec, "fetch")) : body;
    },
  };

  define("CompressionStream", CompressionStream);
  define("DecompressionStream", DecompressionStream);
}
