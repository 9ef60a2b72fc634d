// Checks of TextDecoder over every encoding of the Encoding Standard, run inside a worker: answers {passed, failures}.
const checks = [];
const check = (name, fn) => checks.push([name, fn]);
const eq = (a, b, what = "") => {
  if (a !== b) throw new Error(`${what}got ${JSON.stringify(a)}, expected ${JSON.stringify(b)}`);
};
const throws = (fn, ctor) => {
  try {
    fn();
  } catch (e) {
    if (ctor && !(e instanceof ctor)) throw new Error(`threw ${e}, expected a ${ctor.name}`);
    return;
  }
  throw new Error("did not throw");
};
const dec = (label, bytes, opts) => new TextDecoder(label, opts).decode(new Uint8Array(bytes));
const units = (s) => [...s].map((c) => c.codePointAt(0).toString(16)).join(" ");

// One sample per encoding: bytes and the code points they decode to (from the standard's indexes).
const SAMPLES = [
  ["utf-8", [0x41, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80], "41 20ac 1f600"],
  ["utf-16le", [0x41, 0x00, 0xac, 0x20, 0x3d, 0xd8, 0x00, 0xde], "41 20ac 1f600"],
  ["utf-16be", [0x00, 0x41, 0x20, 0xac, 0xd8, 0x3d, 0xde, 0x00], "41 20ac 1f600"],
  ["ibm866", [0x41, 0x80, 0xff], "41 410 a0"],
  ["iso-8859-2", [0xa1, 0xff], "104 2d9"],
  ["iso-8859-7", [0xa4, 0xc1], "20ac 391"],
  ["iso-8859-8", [0xe0, 0xfd], "5d0 200e"],
  ["iso-8859-16", [0xa1, 0xa4, 0xaa, 0xde, 0xff], "104 20ac 218 21a ff"],
  ["koi8-r", [0xc1, 0xe1], "430 410"],
  ["koi8-u", [0xae, 0xbe, 0xad], "45e 40e 491"],
  ["macintosh", [0x80, 0xdb, 0xf0], "c4 20ac f8ff"],
  ["windows-874", [0x80, 0xa1], "20ac e01"],
  ["windows-1251", [0xc0, 0x98], "410 98"],
  ["windows-1252", [0x80, 0x81, 0x9f, 0xe9], "20ac 81 178 e9"],
  ["windows-1255", [0xca, 0xe0], "5ba 5d0"],
  ["x-mac-cyrillic", [0x80, 0xff], "410 20ac"],
  ["gbk", [0xc4, 0xe3, 0x80, 0x81, 0x30, 0x81, 0x30], "4f60 20ac 80"],
  ["gb18030", [0xc4, 0xe3, 0x95, 0x32, 0x82, 0x36, 0x84, 0x31, 0xa4, 0x39], "4f60 20000 ffff"],
  ["big5", [0xa4, 0x40, 0x88, 0x62, 0xa1, 0x40], "4e00 ca 304 3000"],
  ["euc-jp", [0xa4, 0xa2, 0x8e, 0xb1, 0xb0, 0xa1], "3042 ff71 4e9c"],
  ["iso-2022-jp", [0x41, 0x1b, 0x24, 0x42, 0x24, 0x22, 0x1b, 0x28, 0x42, 0x42], "41 3042 42"],
  ["shift_jis", [0x82, 0xa0, 0xb1, 0x88, 0x9f, 0xf0, 0x40], "3042 ff71 4e9c e000"],
  ["euc-kr", [0xb0, 0xa1, 0x41], "ac00 41"],
  ["x-user-defined", [0x41, 0x80, 0xff], "41 f780 f7ff"],
];

check("every sample decodes to the standard's code points", () => {
  for (const [label, bytes, want] of SAMPLES) eq(units(dec(label, bytes)), want, `${label}: `);
});

check("streaming byte by byte gives what one call gives, for every encoding", () => {
  for (const [label, bytes] of SAMPLES) {
    const whole = dec(label, bytes);
    const d = new TextDecoder(label);
    let s = "";
    for (const b of bytes) s += d.decode(new Uint8Array([b]), { stream: true });
    s += d.decode();
    eq(s, whole, `${label}: `);
  }
});

check("labels: case, ASCII whitespace, aliases; other whitespace and unknown labels are RangeErrors", () => {
  eq(new TextDecoder(" \tLATIN1\n").encoding, "windows-1252");
  eq(new TextDecoder("unicode").encoding, "utf-16le");
  eq(new TextDecoder("x-sjis").encoding, "shift_jis");
  eq(new TextDecoder("GB2312").encoding, "gbk");
  eq(new TextDecoder("big5-hkscs").encoding, "big5");
  eq(new TextDecoder("ks_c_5601-1987").encoding, "euc-kr");
  eq(new TextDecoder("iso-8859-11").encoding, "windows-874");
  for (const bad of ["\u00a0utf-8", "utf-8\u000b", "\u212aoi8-r", "replacement", "iso-2022-kr", "utf-7", "utf-32", ""])
    throws(() => new TextDecoder(bad), RangeError);
});

check("fatal: invalid input is a TypeError, per decoder", () => {
  const bad = [
    ["utf-16le", [0x00]],
    ["utf-16be", [0xdc, 0x00]],
    ["windows-1253", [0xaa]],
    ["iso-8859-8", [0xc0]],
    ["windows-874", [0xdb]],
    ["gb18030", [0xff]],
    ["gbk", [0x81]],
    ["big5", [0xa1, 0x30]],
    ["euc-jp", [0xa1, 0x30]],
    ["iso-2022-jp", [0x0e]],
    ["shift_jis", [0xa0]],
    ["euc-kr", [0xff]],
  ];
  for (const [label, bytes] of bad) {
    throws(() => dec(label, bytes, { fatal: true }), TypeError);
    eq(dec(label, bytes).includes("\ufffd"), true, `${label} replaces: `);
  }
  eq(new TextDecoder("shift_jis", { fatal: true }).fatal, true);
});

check("errors give back ASCII bytes, as the standard's decoders prepend them", () => {
  eq(dec("shift_jis", [0x82, 0x41]), "\ufffdA");
  eq(dec("euc-kr", [0xb0, 0x20]), "\ufffd ");
  eq(dec("big5", [0xa4, 0x0a]), "\ufffd\n");
  eq(dec("gb18030", [0x81, 0x30, 0x81, 0x0a]), "\ufffd0\ufffd\n");
  eq(dec("euc-jp", [0x8e, 0x41]), "\ufffdA");
});

check("iso-2022-jp: escapes, Roman, katakana and errors", () => {
  eq(dec("iso-2022-jp", [0x1b, 0x28, 0x4a, 0x5c, 0x7e]), "\u00a5\u203e");
  eq(dec("iso-2022-jp", [0x1b, 0x28, 0x49, 0x50]), "\uff90");
  eq(dec("iso-2022-jp", [0x1b, 0x24]), "\ufffd$");
  eq(dec("iso-2022-jp", [0x1b, 0x24, 0x40, 0x1b, 0x24, 0x40]), "\ufffd");
  eq(dec("iso-2022-jp", [0x1b, 0x24, 0x40, 0x50, 0x20]), "\ufffd");
  eq(dec("iso-2022-jp", [0x50, 0x1b, 0x24, 0x42]), "P");
});

check("UTF-16: BOM, ignoreBOM, lone surrogates, odd byte at the end", () => {
  eq(dec("utf-16le", [0xff, 0xfe, 0x41, 0x00]), "A");
  eq(dec("utf-16be", [0xfe, 0xff, 0x00, 0x41]), "A");
  eq(dec("utf-16le", [0xff, 0xfe, 0x41, 0x00], { ignoreBOM: true }), "\ufeffA");
  eq(dec("utf-16le", [0x41, 0x00, 0xff, 0xfe]), "A\ufeff");
  eq(dec("utf-16le", [0x00, 0xd8, 0x41, 0x00]), "\ufffdA");
  eq(dec("utf-16le", [0x00, 0xdc]), "\ufffd");
  eq(dec("utf-16le", [0x00, 0xd8, 0x00, 0xd8, 0x00, 0xdc]), "\ufffd\ud800\udc00");
  eq(dec("utf-16le", [0x41, 0x00, 0x42]), "A\ufffd");
  const d = new TextDecoder("utf-16le");
  eq(d.decode(new Uint8Array([0xff, 0xfe, 0x3d]), { stream: true }) + d.decode(new Uint8Array([0xd8, 0x00, 0xde])), "\u{1f600}");
  eq(d.decode(new Uint8Array([0xff, 0xfe, 0x41, 0x00])), "A"); // a new stream sniffs its BOM again
});

check("a decoder resets after a call without stream, and after a fatal error", () => {
  const d = new TextDecoder("shift_jis", { fatal: true });
  eq(d.decode(new Uint8Array([0x82]), { stream: true }), "");
  throws(() => d.decode(), TypeError);
  eq(d.decode(new Uint8Array([0x82, 0xa0])), "\u3042");
  const r = new TextDecoder("euc-kr");
  eq(r.decode(new Uint8Array([0xb0])), "\ufffd");
  eq(r.decode(new Uint8Array([0xa1])), "\ufffd");
});

check("UTF-8 streaming: a split sequence waits, an invalid prefix does not", () => {
  const d = new TextDecoder();
  eq(d.decode(new Uint8Array([0xf0, 0x9f]), { stream: true }), "");
  eq(d.decode(new Uint8Array([0x98, 0x80])), "\u{1f600}");
  eq(d.decode(new Uint8Array([0xe0, 0x80]), { stream: true }), "\ufffd\ufffd");
  eq(d.decode(new Uint8Array([0xef, 0xbb, 0xbf]), { stream: true }), "\ufeff"); // not at the start of the stream
  eq(d.decode(), "");
  eq(d.decode(new Uint8Array([0xef, 0xbb]), { stream: true }) + d.decode(new Uint8Array([0xbf, 0x41])), "A");
});

check("brand checks and argument types", () => {
  const get = Object.getOwnPropertyDescriptor(TextDecoder.prototype, "encoding").get;
  throws(() => get.call({}), TypeError);
  throws(() => TextDecoder.prototype.decode.call({}, new Uint8Array(1)), TypeError);
  throws(() => new TextDecoder("utf-16le").decode("abc"), TypeError);
  throws(() => new TextDecoder("utf-8", 3), TypeError);
  eq(String(new TextDecoder("big5")), "[object TextDecoder]");
  eq(new TextDecoder("big5").decode(new Uint8Array([0xa4, 0x40]).buffer), "\u4e00");
  eq(new TextDecoder("utf-16le").decode(new DataView(new Uint8Array([0x41, 0, 0x42, 0]).buffer, 2)), "B");
  eq(new TextDecoder().decode(new DataView(new Uint8Array([0x41, 0xc3, 0xa9]).buffer, 1)), "\u00e9");
  // A detached buffer has no bytes (growing a WebAssembly memory detaches its old buffer).
  const mem = new WebAssembly.Memory({ initial: 1 });
  const old = mem.buffer, view = new Uint8Array(old);
  mem.grow(1);
  eq(new TextDecoder().decode(old), "");
  eq(new TextDecoder("shift_jis").decode(view), "");
});

check("replacing the global Int32Array does not hand the tenant a decoder's state", () => {
  const Real = Int32Array, seen = [];
  globalThis.Int32Array = function (n) {
    const a = new Real(n);
    seen.push(a);
    return a;
  };
  try {
    const d = new TextDecoder("big5");
    eq(d.decode(new Uint8Array([0xa4]), { stream: true }) + d.decode(new Uint8Array([0x40])), "\u4e00");
  } finally {
    globalThis.Int32Array = Real;
  }
  eq(seen.length, 0);
});

check("a large single-byte and UTF-16 input decodes whole", () => {
  const n = 1 << 20;
  const bytes = new Uint8Array(n).fill(0xe9);
  eq(new TextDecoder("latin1").decode(bytes).length, n);
  eq(new TextDecoder("utf-16le").decode(bytes).length, n / 2);
});

export default {
  async fetch() {
    const failures = [];
    let passed = 0;
    for (const [name, fn] of checks) {
      try {
        await fn();
        passed++;
      } catch (e) {
        failures.push(`${name}: ${e && e.message}`);
      }
    }
    return Response.json({ passed, total: checks.length, failures });
  },
};
