// prelude_blob.js: Blob, File and FileReader (W3C File API), ProgressEvent and FormData (XHR standard),
// multipart/form-data and urlencoded parsing and serialisation. Part of the prelude.
//
// A Blob's bytes are one Uint8Array that nothing ever writes after the Blob is made: the constructor copies
// its parts into it once (a single Blob part is shared, not copied), slice() is a subarray of it (no copy),
// and reads copy out of it (arrayBuffer, bytes, stream chunks) or decode it (text). internal.blob.bytesOf
// hands that array to the runtime without a copy: the runtime must not write to it either.
{
  const { idlInterface, idlDict, idlString, idlUSV, needArgs } = internal.webidl;

  // A MIME type as the Blob and File constructors keep it: "" if any code unit is outside U+0020–U+007E,
  // else in ASCII lower case.
  const normalizeType = (t) => (/[^\x20-\x7e]/.test(t) ? "" : t.toLowerCase());

  // WebIDL [Clamp] long long: NaN is 0, the value is clamped, then rounded to the nearest integer, ties to even.
  function clampLongLong(v) {
    let x = Number(v);
    if (Number.isNaN(x)) return 0;
    x = Math.min(Math.max(x, -9223372036854775808), 9223372036854775807);
    const f = Math.floor(x);
    const diff = x - f;
    if (diff < 0.5) return f;
    if (diff > 0.5) return f + 1;
    return f % 2 === 0 ? f : f + 1;
  }

  // WebIDL long long (no [Clamp] or [EnforceRange]): NaN and infinities are 0, then truncation modulo 2^64.
  function toLongLong(v) {
    const x = Number(v);
    if (!Number.isFinite(x)) return 0;
    let n = BigInt.asIntN(64, BigInt(Math.trunc(x)));
    return Number(n);
  }

  const kInternal = Symbol("internal");

  // WebIDL's sequence<BlobPart> conversion: each item, in order, becomes a Blob, a view of bytes or a string.
  function convertParts(parts, who) {
    if (parts === undefined && who === "Blob") return [];
    if (parts === null || (typeof parts !== "object" && typeof parts !== "function"))
      throw new TypeError(`${who}: the parts must be a sequence (an array or an iterable)`);
    const iter = parts[Symbol.iterator];
    if (typeof iter !== "function") throw new TypeError(`${who}: the parts must be a sequence (an array or an iterable)`);
    const out = [];
    for (const p of { [Symbol.iterator]: () => iter.call(parts) }) {
      if (B.is(p)) out.push({ shared: B.own(p) });
      else if (p instanceof ArrayBuffer) out.push(new Uint8Array(p));
      else if (ArrayBuffer.isView(p)) out.push(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
      else out.push(idlUSV(p));
    }
    return out;
  }

  // The blob parts as one byte array. Strings are encoded (with "native" endings, CR and CRLF become LF);
  // a single Blob part's bytes are shared (they never change); anything else is copied, so the result is
  // the new Blob's own.
  function joinParts(parts, endings) {
    if (parts.length === 0) return new Uint8Array(0);
    const arrays = parts.map((p) =>
      typeof p === "string" ? native.encode(endings === "native" ? p.replace(/\r\n?/g, "\n") : p) : p instanceof Uint8Array ? p : p.shared);
    if (arrays.length === 1 && !(parts[0] instanceof Uint8Array)) return arrays[0];
    let total = 0;
    for (const a of arrays) total += a.length;
    const out = new Uint8Array(total);
    let at = 0;
    for (const a of arrays) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  }

  // Reads BlobPropertyBag (endings, type) from options.
  function blobOptions(options, who) {
    const d = idlDict(options, who);
    let endings = "transparent", type = "";
    if (d !== null) {
      const e = d.endings;
      if (e !== undefined) {
        endings = idlString(e);
        if (endings !== "transparent" && endings !== "native") throw new TypeError(`${who}: endings must be "transparent" or "native"`);
      }
      const t = d.type;
      if (t !== undefined) type = normalizeType(idlString(t));
    }
    return { d, endings, type };
  }

  let B; // the Blob internals

  class Blob {
    #bytes;
    #type;

    constructor(blobParts = undefined, options = undefined) {
      if (blobParts === kInternal) {
        this.#bytes = options.bytes;
        this.#type = options.type;
        return;
      }
      const parts = convertParts(blobParts, "Blob");
      const { endings, type } = blobOptions(options, "Blob");
      this.#bytes = joinParts(parts, endings);
      this.#type = type;
    }
    get size() { return this.#bytes.length; }
    get type() { return this.#type; }
    slice(start = undefined, end = undefined, contentType = undefined) {
      const bytes = this.#bytes; // WebIDL: the receiver is checked before the arguments are converted
      const size = bytes.length;
      let from = start === undefined ? 0 : clampLongLong(start);
      let to = end === undefined ? size : clampLongLong(end);
      from = from < 0 ? Math.max(size + from, 0) : Math.min(from, size);
      to = to < 0 ? Math.max(size + to, 0) : Math.min(to, size);
      const type = contentType === undefined ? "" : normalizeType(idlString(contentType));
      return new Blob(kInternal, { bytes: bytes.subarray(from, Math.max(to, from)), type });
    }
    stream() {
      return bytesStream(this.#bytes);
    }
    text() {
      try {
        return Promise.resolve(native.decode(this.#bytes, false, true));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    arrayBuffer() {
      try {
        return Promise.resolve(this.#bytes.slice().buffer);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    bytes() {
      try {
        return Promise.resolve(this.#bytes.slice());
      } catch (e) {
        return Promise.reject(e);
      }
    }
    static {
      B = {
        is: (b) => b !== null && typeof b === "object" && #bytes in b,
        own: (b) => b.#bytes,
        type: (b) => b.#type,
      };
    }
  }
  idlInterface(Blob, "Blob");

  // A ReadableStream of bytes (a byte stream when the streams implementation has them), in chunks of 64 KiB
  // at most; each chunk is a copy, since a byte stream may transfer what it is given.
  function bytesStream(bytes) {
    const RS = globalThis.ReadableStream;
    if (typeof RS !== "function") throw new TypeError("Blob.stream: ReadableStream is not available");
    let pos = 0;
    const source = {
      pull(c) {
        const req = c.byobRequest;
        if (pos >= bytes.length) {
          c.close();
          if (req) req.respond(0);
          return;
        }
        if (req) {
          const v = req.view;
          const n = Math.min(v.byteLength, bytes.length - pos);
          new Uint8Array(v.buffer, v.byteOffset, n).set(bytes.subarray(pos, pos + n));
          pos += n;
          req.respond(n);
        } else {
          const n = Math.min(65536, bytes.length - pos);
          c.enqueue(bytes.slice(pos, pos + n));
          pos += n;
        }
        if (pos >= bytes.length) c.close();
      },
    };
    try {
      return new RS({ type: "bytes", pull: source.pull });
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      return new RS({ pull: source.pull }, { highWaterMark: 0 });
    }
  }

  let F; // the File internals

  class File extends Blob {
    #name;
    #lastModified;

    constructor(fileBits, fileName, options = undefined) {
      if (fileBits === kInternal) {
        super(kInternal, fileName);
        this.#name = fileName.name;
        this.#lastModified = fileName.lastModified;
        return;
      }
      needArgs(arguments, 2, "File");
      const parts = convertParts(fileBits, "File");
      const name = idlUSV(fileName);
      const { d, endings, type } = blobOptions(options, "File");
      const lm = d === null ? undefined : d.lastModified;
      const lastModified = lm !== undefined ? toLongLong(lm) : Date.now();
      const bytes = joinParts(parts, endings);
      super(kInternal, { bytes, type });
      this.#name = name;
      this.#lastModified = lastModified;
    }
    get name() { return this.#name; }
    get lastModified() { return this.#lastModified; }
    get webkitRelativePath() {
      void this.#name;
      return "";
    }
    static {
      F = { is: (f) => f !== null && typeof f === "object" && #name in f };
    }
  }
  idlInterface(File, "File");

  // The runtime's Blobs and Files take bytes as they are (no copy): the caller gives them up.
  const makeBlob = (bytes, type) => new Blob(kInternal, { bytes, type: normalizeType(String(type ?? "")) });
  const makeFile = (bytes, name, type, lastModified) =>
    new File(kInternal, { bytes, type: normalizeType(String(type ?? "")), name: String(name), lastModified: lastModified ?? Date.now() });

  // ---- ProgressEvent, FileReader ----------------------------------------------------------------------------------

  class ProgressEvent extends Event {
    #lengthComputable = false;
    #loaded = 0;
    #total = 0;
    constructor(type, eventInitDict = undefined) {
      needArgs(arguments, 1, "ProgressEvent");
      super(type, eventInitDict);
      const d = idlDict(eventInitDict, "ProgressEvent");
      if (d !== null) {
        this.#lengthComputable = !!d.lengthComputable;
        if (d.loaded !== undefined) this.#loaded = Math.max(0, Math.trunc(Number(d.loaded)) || 0);
        if (d.total !== undefined) this.#total = Math.max(0, Math.trunc(Number(d.total)) || 0);
      }
    }
    get lengthComputable() { return this.#lengthComputable; }
    get loaded() { return this.#loaded; }
    get total() { return this.#total; }
  }
  idlInterface(ProgressEvent, "ProgressEvent");

  const EMPTY = 0, LOADING = 1, DONE = 2;
  const CHUNK = 8192;

  function binaryString(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += CHUNK) s += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK));
    return s;
  }

  class FileReader extends EventTarget {
    #state = EMPTY;
    #result = null;
    #error = null;
    #gen = 0;

    constructor() {
      super();
    }
    readAsArrayBuffer(blob) { this.#read(blob, "buffer", undefined, arguments.length); }
    readAsBinaryString(blob) { this.#read(blob, "binary", undefined, arguments.length); }
    readAsText(blob, encoding = undefined) { this.#read(blob, "text", encoding, arguments.length); }
    readAsDataURL(blob) { this.#read(blob, "url", undefined, arguments.length); }
    abort() {
      if (this.#state === EMPTY || this.#state === DONE) {
        this.#result = null;
        return;
      }
      this.#state = DONE;
      this.#result = null;
      this.#gen++;
      this.#fire("abort", 0, 0);
      if (this.#state !== LOADING) this.#fire("loadend", 0, 0);
    }
    get readyState() { return this.#state; }
    get result() { return this.#result; }
    get error() { return this.#error; }

    #fire(type, loaded, total) {
      internal.events.fire(this, new ProgressEvent(type, { lengthComputable: total !== 0, loaded, total }));
    }
    // The read operation: loadstart, then progress, load and loadend in tasks of their own (reactor timers).
    #read(blob, kind, encoding, argc) {
      needArgs({ length: argc }, 1, "FileReader.read");
      if (!B.is(blob)) throw new TypeError("FileReader: the argument is not a Blob");
      if (encoding !== undefined) idlString(encoding);
      if (this.#state === LOADING) throw new DOMException("FileReader: a read is already in progress", "InvalidStateError");
      this.#state = LOADING;
      this.#result = null;
      this.#error = null;
      const gen = ++this.#gen;
      const bytes = B.own(blob), type = B.type(blob), size = bytes.length;
      addTimer(() => {
        if (gen !== this.#gen) return;
        this.#fire("loadstart", 0, size);
        addTimer(() => {
          if (gen !== this.#gen) return;
          if (size) {
            this.#fire("progress", size, size);
            if (gen !== this.#gen) return;
          }
          this.#state = DONE;
          if (kind === "buffer") this.#result = bytes.slice().buffer;
          else if (kind === "binary") this.#result = binaryString(bytes);
          else if (kind === "text") this.#result = native.decode(bytes, false, true);
          else this.#result = `data:${type || "application/octet-stream"};base64,${btoa(binaryString(bytes))}`;
          this.#fire("load", size, size);
          if (this.#state !== LOADING) this.#fire("loadend", size, size);
        }, 0, [], false);
      }, 0, [], false);
    }
  }
  for (const [name, value] of [["EMPTY", EMPTY], ["LOADING", LOADING], ["DONE", DONE]]) {
    const d = { value, writable: false, enumerable: true, configurable: false };
    Object.defineProperty(FileReader, name, d);
    Object.defineProperty(FileReader.prototype, name, d);
  }
  for (const name of ["loadstart", "progress", "load", "abort", "error", "loadend"]) internal.events.defineEventHandler(FileReader.prototype, name);
  idlInterface(FileReader, "FileReader");

  // ---- FormData -------------------------------------------------------------------------------------------------

  // An entry's value as FormData keeps it: a Blob becomes a File named "blob" (or filename), a File given a
  // filename becomes a new File of the same bytes with that name.
  function entryValue(value, filename) {
    if (F.is(value) && filename === undefined) return value;
    const name = filename !== undefined ? filename : F.is(value) ? value.name : "blob";
    const lastModified = F.is(value) ? value.lastModified : Date.now();
    return new File(kInternal, { bytes: B.own(value), type: B.type(value), name, lastModified });
  }

  // WebIDL's overloads (name, USVString value) and (name, Blob value, optional USVString filename).
  function entryOf(args, who) {
    needArgs(args, 2, who);
    const [name, value, filename] = args;
    if (B.is(value)) {
      const n = idlUSV(name);
      return [n, entryValue(value, filename === undefined ? undefined : idlUSV(filename))];
    }
    if (args.length > 2) throw new TypeError(`${who}: the value must be a Blob when a filename is given`);
    return [idlUSV(name), idlUSV(value)];
  }

  let FD; // the FormData internals

  class FormData {
    #entries = [];

    constructor(form = undefined, submitter = undefined) {
      if (form !== undefined) throw new TypeError("FormData: there is no HTMLFormElement here: use new FormData() and append()");
    }
    append(name, value, filename = undefined) {
      void this.#entries;
      const entry = entryOf(arguments, "FormData.append");
      this.#entries.push(entry);
    }
    delete(name) {
      void this.#entries; // WebIDL: the receiver is checked before the arguments are converted
      needArgs(arguments, 1, "FormData.delete");
      name = idlUSV(name);
      this.#entries = this.#entries.filter((e) => e[0] !== name);
    }
    get(name) {
      void this.#entries;
      needArgs(arguments, 1, "FormData.get");
      name = idlUSV(name);
      const e = this.#entries.find((x) => x[0] === name);
      return e === undefined ? null : e[1];
    }
    getAll(name) {
      void this.#entries;
      needArgs(arguments, 1, "FormData.getAll");
      name = idlUSV(name);
      return this.#entries.filter((e) => e[0] === name).map((e) => e[1]);
    }
    has(name) {
      void this.#entries;
      needArgs(arguments, 1, "FormData.has");
      name = idlUSV(name);
      return this.#entries.some((e) => e[0] === name);
    }
    set(name, value, filename = undefined) {
      void this.#entries;
      const entry = entryOf(arguments, "FormData.set");
      const list = this.#entries;
      const i = list.findIndex((e) => e[0] === entry[0]);
      if (i < 0) {
        list.push(entry);
      } else {
        list[i] = entry;
        this.#entries = list.filter((e, k) => k <= i || e[0] !== entry[0]);
      }
    }
    forEach(callback, thisArg = undefined) {
      void this.#entries;
      needArgs(arguments, 1, "FormData.forEach");
      if (typeof callback !== "function") throw new TypeError("FormData.forEach: the callback is not a function");
      for (let i = 0; i < this.#entries.length; i++) {
        const e = this.#entries[i];
        callback.call(thisArg, e[1], e[0], this);
      }
    }
    entries() { void this.#entries; return new FormDataIterator(this, "entries"); }
    keys() { void this.#entries; return new FormDataIterator(this, "keys"); }
    values() { void this.#entries; return new FormDataIterator(this, "values"); }
    static {
      FD = {
        is: (f) => f !== null && typeof f === "object" && #entries in f,
        list: (f) => f.#entries,
      };
    }
  }
  idlInterface(FormData, "FormData");
  Object.defineProperty(FormData.prototype, Symbol.iterator, {
    value: FormData.prototype.entries, writable: true, enumerable: false, configurable: true,
  });

  // The iterator is live: it reads the form's current list at each step, as WebIDL's iterators do.
  class FormDataIterator {
    #form;
    #kind;
    #index = 0;
    constructor(form, kind) {
      this.#form = form;
      this.#kind = kind;
    }
    next() {
      const list = FD.list(this.#form);
      if (this.#index >= list.length) return { value: undefined, done: true };
      const e = list[this.#index++];
      return { value: this.#kind === "keys" ? e[0] : this.#kind === "values" ? e[1] : [e[0], e[1]], done: false };
    }
  }
  Object.setPrototypeOf(FormDataIterator.prototype, Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())));
  delete FormDataIterator.prototype.constructor;
  Object.defineProperty(FormDataIterator.prototype, "next", { enumerable: true });
  Object.defineProperty(FormDataIterator.prototype, Symbol.toStringTag, { value: "FormData Iterator", configurable: true });

  // ---- multipart/form-data and application/x-www-form-urlencoded --------------------------------------------------

  // A MIME type's essence (lower case) and its parameters (names in lower case), or null when it does not parse.
  function parseMime(s) {
    const m = /^[\t\n\r ]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\/([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[\t\n\r ]*(;.*)?$/s.exec(String(s));
    if (!m) return null;
    const params = new Map();
    let rest = m[3] || "";
    const re = /^;[\t\n\r ]*([^;=]*)(?:=("(?:[^"\\]|\\.)*"?|[^;]*))?/s;
    while (rest.length) {
      const p = re.exec(rest);
      if (!p) break;
      rest = rest.slice(p[0].length);
      const name = p[1].toLowerCase().trim();
      let value = p[2];
      if (value === undefined || !name) continue;
      if (value[0] === '"') value = value.slice(1, value.endsWith('"') && value.length > 1 ? -1 : undefined).replace(/\\(.)/gs, "$1");
      else value = value.replace(/[\t\n\r ]+$/, "");
      if (!params.has(name)) params.set(name, value);
    }
    return { essence: (m[1] + "/" + m[2]).toLowerCase(), params };
  }

  const CR = 13, LF = 10, DASH = 45;

  // The first index at or after from where pattern (bytes) occurs in u8, or -1.
  function find(u8, pattern, from) {
    const first = pattern[0], n = pattern.length, last = u8.length - n;
    for (let i = u8.indexOf(first, from); i >= 0 && i <= last; i = u8.indexOf(first, i + 1)) {
      let k = 1;
      while (k < n && u8[i + k] === pattern[k]) k++;
      if (k === n) return i;
    }
    return -1;
  }

  const malformed = (why) => new TypeError(`FormData: malformed multipart/form-data body: ${why}`);
  // Undoes the escapes the HTML standard's encoding puts in names and filenames.
  const unescapeName = (s) => s.replace(/%(0A|0D|22)/gi, (m, h) => String.fromCharCode(parseInt(h, 16)));

  // The parameters of a Content-Disposition value: name and filename (quoted strings or tokens).
  function dispositionOf(value) {
    const m = /^[\t ]*form-data[\t ]*(;.*)?$/is.exec(value);
    if (!m) throw malformed(`the Content-Disposition is not form-data: ${JSON.stringify(value)}`);
    let rest = m[1] || "";
    const out = { name: undefined, filename: undefined };
    const re = /^;[\t ]*([^=;\t ]+)[\t ]*=[\t ]*(?:"((?:[^"\\]|\\["\\]|\\)*)"|([^;\t ]*))[\t ]*/s;
    while (rest.length) {
      const p = re.exec(rest);
      if (!p) throw malformed(`cannot read the Content-Disposition parameters: ${JSON.stringify(value)}`);
      rest = rest.slice(p[0].length);
      const key = p[1].toLowerCase();
      const v = p[2] !== undefined ? p[2].replace(/\\(["\\])/g, "$1") : p[3];
      if ((key === "name" || key === "filename") && out[key] === undefined) out[key] = unescapeName(v);
    }
    return out;
  }

  function parseMultipart(u8, boundary) {
    if (boundary === undefined || boundary.length === 0 || boundary.length > 200)
      throw new TypeError("FormData: a multipart/form-data content type needs a boundary parameter (1 to 200 characters)");
    const delim = native.encode("--" + boundary);
    const next = native.encode("\r\n--" + boundary);
    const fd = new FormData();
    const list = FD.list(fd);
    let pos;
    if (find(u8, delim, 0) === 0) pos = delim.length;
    else {
      const i = find(u8, next, 0);
      if (i < 0) throw malformed("the boundary is not in the body");
      pos = i + next.length;
    }
    for (;;) {
      if (u8[pos] === DASH && u8[pos + 1] === DASH) return fd;
      while (u8[pos] === 32 || u8[pos] === 9) pos++;
      if (u8[pos] !== CR || u8[pos + 1] !== LF) throw malformed("a boundary is not followed by CRLF");
      pos += 2;
      let headersEnd, bodyStart;
      if (u8[pos] === CR && u8[pos + 1] === LF) {
        headersEnd = pos;
        bodyStart = pos + 2;
      } else {
        headersEnd = find(u8, CRLFCRLF, pos);
        if (headersEnd < 0) throw malformed("a part's headers do not end");
        bodyStart = headersEnd + 4;
      }
      let disposition = null, type = "";
      const headers = native.decode(u8.subarray(pos, headersEnd), false, false);
      for (const line of headers.split("\r\n")) {
        if (line === "") continue;
        const colon = line.indexOf(":");
        if (colon <= 0) throw malformed(`a part's header line has no name: ${JSON.stringify(line)}`);
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === "content-disposition") disposition = dispositionOf(value);
        else if (name === "content-type") type = value;
      }
      if (disposition === null || disposition.name === undefined) throw malformed("a part has no Content-Disposition with a name");
      const end = find(u8, next, bodyStart);
      if (end < 0) throw malformed("the closing boundary is missing");
      const body = u8.subarray(bodyStart, end);
      if (disposition.filename !== undefined) {
        list.push([disposition.name, makeFile(body, disposition.filename, type || "text/plain", Date.now())]);
      } else {
        list.push([disposition.name, native.decode(body, false, false)]);
      }
      pos = end + next.length;
    }
  }
  const CRLFCRLF = new Uint8Array([CR, LF, CR, LF]);

  // A FormData from a body's bytes and its Content-Type; throws a TypeError when it cannot be read as one.
  function parseFormData(u8, contentType) {
    const mime = contentType === null || contentType === undefined ? null : parseMime(contentType);
    if (mime === null) throw new TypeError("FormData: the body's Content-Type is missing or cannot be parsed");
    if (mime.essence === "multipart/form-data") return parseMultipart(u8, mime.params.get("boundary"));
    if (mime.essence === "application/x-www-form-urlencoded") {
      const fd = new FormData();
      const list = FD.list(fd);
      for (const [k, v] of new URLSearchParams(native.decode(u8, false, false))) list.push([k, v]);
      return fd;
    }
    throw new TypeError(`FormData: cannot read a body of type ${mime.essence} as form data`);
  }

  // CR not followed by LF and LF not preceded by CR become CRLF.
  const crlf = (s) => (/[\r\n]/.test(s) ? s.replace(/\r\n|\r|\n/g, "\r\n") : s);
  const escapeName = (s) => s.replace(/[\n\r"]/g, (c) => (c === "\n" ? "%0A" : c === "\r" ? "%0D" : "%22"));

  // The multipart/form-data encoding of the HTML standard, UTF-8, with a random boundary.
  function serializeFormData(fd) {
    const rnd = native.random(new Uint8Array(16));
    let boundary = "----isocoreFormBoundary";
    for (const b of rnd) boundary += "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[b % 62];
    const chunks = [];
    let text = "";
    for (const [name, value] of FD.list(fd)) {
      text += `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(crlf(name))}"`;
      if (typeof value === "string") {
        text += `\r\n\r\n${crlf(value)}\r\n`;
      } else {
        text += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${B.type(value) || "application/octet-stream"}\r\n\r\n`;
        chunks.push(native.encode(text), B.own(value));
        text = "\r\n";
      }
    }
    text += `--${boundary}--\r\n`;
    chunks.push(native.encode(text));
    let total = 0;
    for (const c of chunks) total += c.length;
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    return { bytes, type: `multipart/form-data; boundary=${boundary}` };
  }

  define("Blob", Blob);
  define("File", File);
  define("FileReader", FileReader);
  define("ProgressEvent", ProgressEvent);
  define("FormData", FormData);

  internal.blob = {
    isBlob: B.is,
    isFile: F.is,
    bytesOf: B.own,
    typeOf: B.type,
    make: makeBlob,
    makeFile,
    stream: bytesStream,
  };
  internal.formdata = {
    isFormData: FD.is,
    entries: FD.list,
    parse: parseFormData,
    serialize: serializeFormData,
  };
}
