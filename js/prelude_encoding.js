// prelude_encoding.js: TextEncoder and TextDecoder (WHATWG Encoding). Part of the prelude.
//
// UTF-8 decodes on webapi.cc's fast path (native.decode: V8's own UTF-8 decoder, the JS side only
// keeps an incomplete sequence between streaming calls). Every other encoding of the standard
// decodes in js/encoding.cc (native.textDecode), whose state the decoder keeps in an Int32Array.
{
  // The standard's encodings and their labels: each line is the name, then its labels.
  const LABELS = `
utf-8 unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf8 x-unicode20utf8
ibm866 866 cp866 csibm866
iso-8859-2 csisolatin2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2
iso-8859-3 csisolatin3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3
iso-8859-4 csisolatin4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4
iso-8859-5 csisolatincyrillic cyrillic iso-ir-144 iso8859-5 iso88595 iso_8859-5 iso_8859-5:1988
iso-8859-6 arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6-e iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987
iso-8859-7 csisolatingreek ecma-118 elot_928 greek greek8 iso-ir-126 iso8859-7 iso88597 iso_8859-7 iso_8859-7:1987 sun_eu_greek
iso-8859-8 csiso88598e csisolatinhebrew hebrew iso-8859-8-e iso-ir-138 iso8859-8 iso88598 iso_8859-8 iso_8859-8:1988 visual
iso-8859-8-i csiso88598i logical
iso-8859-10 csisolatin6 iso-ir-157 iso8859-10 iso885910 l6 latin6
iso-8859-13 iso8859-13 iso885913
iso-8859-14 iso8859-14 iso885914
iso-8859-15 csisolatin9 iso8859-15 iso885915 iso_8859-15 l9
iso-8859-16
koi8-r cskoi8r koi koi8 koi8_r
koi8-u koi8-ru
macintosh csmacintosh mac x-mac-roman
windows-874 dos-874 iso-8859-11 iso8859-11 iso885911 tis-620
windows-1250 cp1250 x-cp1250
windows-1251 cp1251 x-cp1251
windows-1252 ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii x-cp1252
windows-1253 cp1253 x-cp1253
windows-1254 cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 iso_8859-9:1989 l5 latin5 x-cp1254
windows-1255 cp1255 x-cp1255
windows-1256 cp1256 x-cp1256
windows-1257 cp1257 x-cp1257
windows-1258 cp1258 x-cp1258
x-mac-cyrillic x-mac-ukrainian
gbk chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 iso-ir-58 x-gbk
gb18030
big5 big5-hkscs cn-big5 csbig5 x-x-big5
euc-jp cseucpkdfmtjapanese x-euc-jp
iso-2022-jp csiso2022jp
shift_jis csshiftjis ms932 ms_kanji shift-jis sjis windows-31j x-sjis
euc-kr cseuckr csksc56011987 iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 windows-949
replacement csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr
utf-16be unicodefffe
utf-16le csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16
x-user-defined`;
  // The builtins as the prelude found them (a tenant may replace the globals; the natives check types anyway).
  const $Int32Array = Int32Array, $Uint8Array = Uint8Array, $ArrayBuffer = ArrayBuffer, $isView = ArrayBuffer.isView;
  const encodingOf = new Map();
  for (const line of LABELS.trim().split("\n")) {
    const [name, ...labels] = line.split(" ");
    encodingOf.set(name, name);
    for (const l of labels) encodingOf.set(l, name);
  }

  // The standard's "get an encoding": ASCII whitespace trimmed, ASCII case-insensitive; null when unknown.
  function getEncoding(label) {
    label = String(label);
    const exact = encodingOf.get(label); // the common case: a label as the table spells it
    if (exact !== undefined) return exact;
    label = label.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "");
    if (/[^\x00-\x7f]/.test(label)) return null;
    return encodingOf.get(label.toLowerCase()) ?? null;
  }
  internal.encoding = { getEncoding };

  class TextEncoder {
    #brand = true;
    get encoding() {
      this.#brand;
      return "utf-8";
    }
    encode(input = "") {
      this.#brand;
      return native.encode(String(input));
    }
    encodeInto(source, destination) {
      this.#brand;
      if (!(destination instanceof Uint8Array)) throw new TypeError("TextEncoder.encodeInto: destination is not a Uint8Array");
      const [read, written] = native.encodeInto(String(source), destination);
      return { read, written };
    }
  }
  Object.defineProperty(TextEncoder.prototype, Symbol.toStringTag, { value: "TextEncoder", configurable: true });

  // The length of an incomplete but so far valid UTF-8 sequence at the end of bytes (0 when there is none):
  // those bytes wait for the next streaming call. An invalid prefix is decoded at once (into U+FFFD).
  function utf8Tail(bytes) {
    const n = bytes.length;
    for (let back = 1; back <= 3 && back <= n; back++) {
      const b = bytes[n - back];
      if ((b & 0xc0) !== 0x80) {
        const need = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
        if (need <= back) return 0;
        if (back >= 2) {
          const c = bytes[n - back + 1];
          const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80, hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
          if (c < lo || c > hi) return 0;
        }
        return back;
      }
    }
    return 0;
  }

  // decode() takes shared buffers too ([AllowShared]). worker.cc removes the SharedArrayBuffer global, but shared
  // WebAssembly memories still make them: the brand check is their byteLength getter, found on first need.
  let sharedByteLength;
  function isShared(x) {
    if (typeof x !== "object" || x === null) return false;
    if (sharedByteLength === undefined) {
      try {
        const proto = Object.getPrototypeOf(new WebAssembly.Memory({ shared: true, initial: 0, maximum: 0 }).buffer);
        sharedByteLength = Object.getOwnPropertyDescriptor(proto, "byteLength").get;
      } catch {
        sharedByteLength = null;
      }
    }
    if (!sharedByteLength) return false;
    try {
      sharedByteLength.call(x);
      return true;
    } catch {
      return false;
    }
  }

  // The bytes of a BufferSource, as a view the natives read (any view: they take its bytes). A detached buffer has none.
  const EMPTY = new $Uint8Array(0);
  function toView(input, who) {
    if (input === undefined) return EMPTY;
    if ($isView(input)) return input;
    if (input instanceof $ArrayBuffer) return input.byteLength ? new $Uint8Array(input) : EMPTY;
    if (isShared(input)) return new $Uint8Array(input);
    throw new TypeError(`${who}: expected an ArrayBuffer or a view of one`);
  }
  const asUint8 = (v) => (v instanceof $Uint8Array ? v : new $Uint8Array(v.buffer, v.byteOffset, v.byteLength));

  const NO_OPTIONS = Object.freeze({});
  function dictionary(options, who) {
    if (options === undefined || options === null) return NO_OPTIONS;
    if (typeof options !== "object" && typeof options !== "function") throw new TypeError(`${who}: the options must be an object`);
    return options;
  }

  class TextDecoder {
    #encoding;
    #kind; // -1: UTF-8 on the fast path
    #fatal;
    #ignoreBOM;
    #state = null; // Int32Array of the native decoder
    #pending = null; // UTF-8: an incomplete sequence from a streaming call
    #bomSeen = false; // UTF-8
    constructor(label = "utf-8", options = undefined) {
      const encoding = getEncoding(label);
      if (encoding === null || encoding === "replacement")
        throw new RangeError(`TextDecoder: '${String(label)}' is not the label of a supported encoding`);
      options = dictionary(options, "TextDecoder");
      this.#encoding = encoding;
      this.#fatal = !!options.fatal;
      this.#ignoreBOM = !!options.ignoreBOM;
      this.#kind = encoding === "utf-8" ? -1 : native.textDecoderKind(encoding);
      if (this.#kind >= 0) this.#state = new $Int32Array(new $ArrayBuffer(32)); // over its own buffer: off V8's heap
    }
    get encoding() { return this.#encoding; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input = undefined, options = undefined) {
      let bytes = toView(input, "TextDecoder.decode");
      const stream = options === undefined ? false : !!dictionary(options, "TextDecoder.decode").stream;
      if (this.#kind >= 0) {
        const s = native.textDecode(this.#kind, bytes, this.#state, (this.#fatal ? 1 : 0) | (stream ? 2 : 0) | (this.#ignoreBOM ? 4 : 0));
        if (s === null) throw new TypeError(`TextDecoder.decode: the input is not valid ${this.#encoding}`);
        return s;
      }
      if (this.#pending) {
        bytes = asUint8(bytes);
        const joined = new $Uint8Array(this.#pending.length + bytes.length);
        joined.set(this.#pending);
        joined.set(bytes, this.#pending.length);
        bytes = joined;
        this.#pending = null;
      }
      if (stream) {
        bytes = asUint8(bytes);
        const tail = utf8Tail(bytes);
        if (tail) {
          this.#pending = bytes.slice(bytes.length - tail);
          bytes = bytes.subarray(0, bytes.length - tail);
        }
      }
      const stripBOM = !this.#ignoreBOM && !this.#bomSeen;
      if (bytes.byteLength) this.#bomSeen = true;
      if (!stream) this.#bomSeen = false;
      const s = native.decode(bytes, this.#fatal, stripBOM);
      if (s === null) {
        this.#pending = null;
        throw new TypeError("TextDecoder.decode: the input is not valid UTF-8");
      }
      return s;
    }
  }
  Object.defineProperty(TextDecoder.prototype, Symbol.toStringTag, { value: "TextDecoder", configurable: true });

  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
}
