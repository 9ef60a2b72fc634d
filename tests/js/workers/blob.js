// Checks of Blob, File, FileReader, ProgressEvent and FormData, and of multipart/form-data and urlencoded
// parsing and serialisation (through Request and Response bodies), run inside a worker.
// GET /suite answers {passed, failures}; POST /echo-form parses the incoming body as form data and describes it.
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
    return e;
  }
  throw new Error("did not throw");
};
const rejects = async (p, ctor, what = "") => {
  try {
    await p;
  } catch (e) {
    if (ctor && !(e instanceof ctor)) throw new Error(`${what}rejected with ${e}, expected a ${ctor.name}`);
    return e;
  }
  throw new Error(`${what}did not reject`);
};
const bytes = (u8) => Array.from(u8).join(",");
const enc = new TextEncoder();

// ---- Blob
check("Blob: parts of every kind, in order", async () => {
  const inner = new Blob(["in"]);
  const b = new Blob(["a", new Uint8Array([98]), new Uint16Array([0x6463]).buffer, inner, new DataView(enc.encode("é").buffer), 7, { toString: () => "z" }]);
  eq(b.size, 10);
  eq(await b.text(), "abcdiné7z");
  eq(new Blob().size, 0);
  eq(new Blob(undefined).size, 0);
  eq(await new Blob(["\ud800"]).text(), "\ufffd", "lone surrogate: ");
  eq(await new Blob(new String("xyz")).text(), "xyz");
  eq(Blob.length, 0);
});
check("Blob: argument errors", () => {
  for (const bad of [null, 1, "str", true, {}, new Date(), /re/, { 0: "a", length: 1 }]) throws(() => new Blob(bad), TypeError);
  throws(() => Blob([]), TypeError);
  throws(() => new Blob([], 5), TypeError);
  throws(() => new Blob([], { endings: "bogus" }), TypeError);
  throws(() => new Blob([Symbol("x")]), TypeError);
  const err = new Error("from toString");
  eq(throws(() => new Blob([{ toString() { throw err; } }])), err);
});
check("Blob: type is normalised; endings", async () => {
  eq(new Blob([], { type: "Text/HTML" }).type, "text/html");
  eq(new Blob([], { type: "caf\u00e9" }).type, "");
  eq(new Blob([], { type: "a\tb" }).type, "");
  eq(new Blob([], { type: " x/y " }).type, " x/y ");
  eq(await new Blob(["a\r\nb\rc\n"], { endings: "native" }).text(), "a\nb\nc\n");
  eq(await new Blob(["a\r\nb"], { endings: "transparent" }).text(), "a\r\nb");
  eq(await new Blob([new Uint8Array([13, 10])], { endings: "native" }).size, 2, "bytes are not converted: ");
  const order = [];
  new Blob([], { get type() { order.push("type"); return ""; }, get endings() { order.push("endings"); return undefined; } });
  eq(order.join(), "endings,type");
});
check("Blob: the constructor copies its parts", async () => {
  const u8 = new Uint8Array([1, 2, 3]);
  const b = new Blob([u8]);
  u8[0] = 9;
  eq(bytes(await b.bytes()), "1,2,3");
  const ab = await b.arrayBuffer();
  new Uint8Array(ab)[1] = 9;
  eq(bytes(new Uint8Array(await b.arrayBuffer())), "1,2,3", "arrayBuffer() is a copy: ");
});
check("Blob: slice, with negative and out-of-range indices, and its type", async () => {
  const b = new Blob(["0123456789"], { type: "text/plain" });
  eq(await b.slice().text(), "0123456789");
  eq(b.slice().type, "");
  eq(await b.slice(2, 5).text(), "234");
  eq(await b.slice(-3).text(), "789");
  eq(await b.slice(-3, -1).text(), "78");
  eq(await b.slice(5, 2).text(), "");
  eq(await b.slice(-100, 100).text(), "0123456789");
  eq(await b.slice(1.5, 3.5).text(), "23", "[Clamp] rounds half to even: ");
  eq(await b.slice(NaN, Infinity).text(), "0123456789");
  eq(b.slice(0, 1, "A/B").type, "a/b");
  eq(b.slice(0, 1, null).type, "null");
  eq(b.slice(0, 1, "\u00ff").type, "");
  const s = b.slice(2, 8).slice(1, 3);
  eq(await s.text(), "34", "a slice of a slice: ");
  eq(s instanceof Blob && !(s instanceof File), true);
  eq(new File(["abc"], "f").slice(1) instanceof File, false);
});
check("Blob: text decodes UTF-8 with replacement and drops a BOM", async () => {
  eq(await new Blob([new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xff, 0x62])]).text(), "a\ufffdb");
});
check("Blob: brand checks; promise methods reject instead of throwing", async () => {
  throws(() => Object.getOwnPropertyDescriptor(Blob.prototype, "size").get.call({}), TypeError);
  throws(() => Blob.prototype.slice.call({}), TypeError);
  await rejects(Blob.prototype.text.call({}), TypeError);
  await rejects(Blob.prototype.arrayBuffer.call(5), TypeError);
  await rejects(Blob.prototype.bytes.call(null), TypeError);
  eq(String(new Blob()), "[object Blob]");
  eq(Object.getOwnPropertyDescriptor(Blob.prototype, "slice").enumerable, true);
});
check("Blob: stream() gives the bytes in chunks of 64 KiB at most", async () => {
  const big = new Uint8Array(200000);
  for (let i = 0; i < big.length; i++) big[i] = i & 255;
  const b = new Blob([big]);
  if (typeof ReadableStream !== "function") {
    throws(() => b.stream(), TypeError);
    return;
  }
  const reader = b.stream().getReader();
  let total = 0, chunks = 0, max = 0, ok = true;
  for (let guard = 0; guard < 100; guard++) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks++;
    max = Math.max(max, value.length);
    for (let i = 0; i < value.length; i++) if (value[i] !== ((total + i) & 255)) ok = false;
    total += value.length;
  }
  eq(total, 200000);
  eq(ok, true, "the bytes: ");
  eq(max <= 65536, true, "chunk size: ");
  eq(chunks >= 4, true);
  const empty = await new Blob().stream().getReader().read();
  eq(empty.done, true);
  // A byte stream: a BYOB reader fills the caller's buffer.
  const byob = new Blob(["abcdefgh"]).stream().getReader({ mode: "byob" });
  const first = await byob.read(new Uint8Array(3));
  eq(new TextDecoder().decode(first.value), "abc");
  const rest = await byob.read(new Uint8Array(16));
  eq(new TextDecoder().decode(rest.value), "defgh");
  eq((await byob.read(new Uint8Array(4))).done, true);
});

// ---- File
check("File: name, lastModified, type, options order", async () => {
  throws(() => new File(), TypeError);
  throws(() => new File([]), TypeError);
  throws(() => new File("abc", "f"), TypeError);
  throws(() => new File(undefined, "f"), TypeError);
  throws(() => new File([], "f", 5), TypeError);
  const before = Date.now();
  const f = new File(["ab", new Blob(["c"])], "a/b.txt", { type: "TEXT/Plain" });
  eq(f.name, "a/b.txt");
  eq(f.type, "text/plain");
  eq(f.size, 3);
  eq(await f.text(), "abc");
  eq(f.lastModified >= before && f.lastModified <= Date.now(), true);
  eq(new File([], "x", { lastModified: 42 }).lastModified, 42);
  eq(new File([], "x", { lastModified: -1.9 }).lastModified, -1);
  eq(new File([], "x", { lastModified: NaN }).lastModified, 0);
  eq(new File([], null).name, "null");
  eq(f instanceof Blob, true);
  eq(String(f), "[object File]");
  eq(File.length, 2);
  const order = [];
  new File([], "n", {
    get type() { order.push("type"); return ""; },
    get lastModified() { order.push("lastModified"); return 1; },
    get endings() { order.push("endings"); return undefined; },
  });
  eq(order.join(), "endings,type,lastModified");
  throws(() => Object.getOwnPropertyDescriptor(File.prototype, "name").get.call(new Blob()), TypeError);
});

// ---- FileReader, ProgressEvent
const readWith = (method, blob, ...args) => new Promise((resolve, reject) => {
  const fr = new FileReader();
  const events = [];
  for (const t of ["loadstart", "progress", "load", "loadend", "error", "abort"]) fr.addEventListener(t, (e) => events.push(t + ":" + e.loaded));
  fr.onloadend = () => resolve({ result: fr.result, events: events.join(), state: fr.readyState });
  fr.onerror = () => reject(fr.error);
  fr[method](blob, ...args);
  if (fr.readyState !== FileReader.LOADING) reject(new Error("not LOADING after " + method));
});
check("FileReader: the four reads, their events and results", async () => {
  const b = new Blob(["h\u00e9"], { type: "text/plain" });
  const t = await readWith("readAsText", b);
  eq(t.result, "h\u00e9");
  eq(t.events, "loadstart:0,progress:3,load:3,loadend:3");
  eq(t.state, FileReader.DONE);
  const ab = await readWith("readAsArrayBuffer", b);
  eq(bytes(new Uint8Array(ab.result)), "104,195,169");
  eq((await readWith("readAsBinaryString", b)).result, "h\u00c3\u00a9");
  eq((await readWith("readAsDataURL", b)).result, "data:text/plain;base64,aMOp");
  eq((await readWith("readAsDataURL", new Blob())).result, "data:application/octet-stream;base64,");
  eq((await readWith("readAsText", new Blob())).events, "loadstart:0,load:0,loadend:0");
});
check("FileReader: errors, abort, constants", async () => {
  const fr = new FileReader();
  eq(fr.readyState, FileReader.EMPTY);
  eq(fr.result, null);
  throws(() => fr.readAsText("not a blob"), TypeError);
  throws(() => fr.readAsText(), TypeError);
  fr.readAsText(new Blob(["x"]));
  eq(throws(() => fr.readAsText(new Blob(["y"])), DOMException).name, "InvalidStateError");
  const events = [];
  fr.onload = () => events.push("load");
  fr.onabort = () => events.push("abort");
  fr.onloadend = () => events.push("loadend");
  fr.abort();
  eq(fr.readyState, FileReader.DONE);
  eq(events.join(), "abort,loadend");
  await new Promise((r) => setTimeout(r, 5));
  eq(events.join(), "abort,loadend", "an aborted read fires no load: ");
  eq(FileReader.LOADING, 1);
  eq(new FileReader().DONE, 2);
  eq(fr instanceof EventTarget, true);
  const p = new ProgressEvent("progress", { lengthComputable: true, loaded: 5, total: 10 });
  eq(p.loaded + p.total, 15);
  eq(p.lengthComputable, true);
  eq(p instanceof Event, true);
  eq(new ProgressEvent("x").total, 0);
});

// ---- FormData
check("FormData: append, get, getAll, has, delete, set", () => {
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("b", 2);
  fd.append("a", "3");
  eq(fd.get("a"), "1");
  eq(fd.getAll("a").join(), "1,3");
  eq(fd.get("nope"), null);
  eq(fd.getAll("nope").length, 0);
  eq(fd.has("b"), true);
  fd.set("a", "x");
  eq(fd.getAll("a").join(), "x");
  eq([...fd.keys()].join(), "a,b", "set keeps the first position: ");
  fd.set("c", "new");
  fd.delete("b");
  eq([...fd].map((e) => e.join("=")).join("&"), "a=x&c=new");
  fd.append("\ud800", "\udc00");
  eq(fd.has("\ufffd"), true, "names and values are USVStrings: ");
  eq(fd.get("\ufffd"), "\ufffd");
});
check("FormData: Blob values become Files; filename overrides", async () => {
  const fd = new FormData();
  const blob = new Blob(["data"], { type: "text/x" });
  fd.append("b", blob);
  const f = fd.get("b");
  eq(f instanceof File, true);
  eq(f.name, "blob");
  eq(f.type, "text/x");
  eq(await f.text(), "data");
  eq(fd.get("b"), f, "the same File at each get: ");
  const file = new File(["q"], "orig.txt", { lastModified: 7 });
  fd.append("f", file);
  eq(fd.get("f"), file);
  fd.append("g", file, "renamed.txt");
  eq(fd.get("g").name, "renamed.txt");
  eq(fd.get("g").lastModified, 7);
  fd.set("h", blob, "named");
  eq(fd.get("h").name, "named");
  throws(() => fd.append("x", "string", "filename"), TypeError);
  throws(() => fd.append("x"), TypeError);
  throws(() => fd.set("x"), TypeError);
  throws(() => new FormData(null), TypeError);
  throws(() => new FormData("form"), TypeError);
});
check("FormData: iterators are live, forEach, class strings", () => {
  const fd = new FormData();
  fd.append("a", "1");
  const it = fd.entries();
  fd.append("b", "2");
  eq(it.next().value.join(), "a,1");
  eq(it.next().value.join(), "b,2");
  eq(it.next().done, true);
  eq(Object.prototype.toString.call(it), "[object FormData Iterator]");
  eq(Object.getPrototypeOf(Object.getPrototypeOf(it)), Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())));
  eq(FormData.prototype[Symbol.iterator], FormData.prototype.entries);
  eq(Object.getOwnPropertyDescriptor(FormData.prototype, Symbol.iterator).enumerable, false);
  eq(Object.getOwnPropertyDescriptor(FormData.prototype, "entries").enumerable, true);
  throws(() => FormData.prototype.entries.call({}), TypeError);
  eq([...fd.values()].join(), "1,2");
  const seen = [];
  const self = {};
  fd.forEach(function (v, k, form) { seen.push(k + v + (this === self) + (form === fd)); }, self);
  eq(seen.join(), "a1truetrue,b2truetrue");
  throws(() => fd.forEach(5), TypeError);
  throws(() => FormData.prototype.get.call({}, "a"), TypeError);
  // The receiver is checked before the arguments are converted; a conversion that changes the form is seen.
  let converted = 0;
  throws(() => FormData.prototype.append.call({}, { toString() { converted++; return "n"; } }, "v"), TypeError);
  eq(converted, 0);
  const g = new FormData();
  g.append("k", "1");
  g.set({ toString() { g.delete("k"); g.append("other", "x"); return "k"; } }, "2");
  eq([...g].map((e) => e.join("=")).join("&"), "other=x&k=2");
  throws(() => it.next.call({}), TypeError);
  eq(String(fd), "[object FormData]");
});

// ---- multipart/form-data and urlencoded, through bodies
check("serialize: the HTML standard's multipart/form-data encoding", async () => {
  const fd = new FormData();
  fd.append("plain", "v1\nv2\rv3");
  fd.append('q"uo\nte', "x");
  fd.append("file", new File(["\u00e9\r\n"], 'a"b\r.txt', { type: "text/plain" }));
  fd.append("untyped", new Blob([new Uint8Array([0, 255])]));
  const r = new Response(fd);
  const type = r.headers.get("content-type");
  const m = /^multipart\/form-data; boundary=(.+)$/.exec(type);
  if (!m) throw new Error("content type " + type);
  const boundary = m[1];
  eq(boundary.length > 20, true);
  const body = new Uint8Array(await r.arrayBuffer());
  const text = new TextDecoder().decode(body);
  const expected = [
    `--${boundary}`, 'Content-Disposition: form-data; name="plain"', "", "v1\r\nv2\r\nv3",
    `--${boundary}`, 'Content-Disposition: form-data; name="q%22uo%0D%0Ate"', "", "x",
    `--${boundary}`, 'Content-Disposition: form-data; name="file"; filename="a%22b%0D.txt"', "Content-Type: text/plain", "", "\u00e9\r\n",
    `--${boundary}`, 'Content-Disposition: form-data; name="untyped"; filename="blob"', "Content-Type: application/octet-stream", "", "\u0000\ufffd",
    `--${boundary}--`, "",
  ].join("\r\n");
  eq(text, expected);
  eq(body[body.length - boundary.length - 9], 255, "file bytes are copied as they are: ");
  eq(body[body.length - boundary.length - 10], 0);
  const other = /boundary=(.+)$/.exec(new Response(fd).headers.get("content-type"))[1];
  eq(other !== boundary, true, "each serialisation has its own random boundary: ");
});
check("parse: multipart round trip (names, filenames, types, bytes)", async () => {
  const fd = new FormData();
  fd.append("a", "one");
  fd.append('we"ird\nname', "two\r\nlines");
  fd.append("f", new File([new Uint8Array([1, 2, 3, 13, 10, 45, 45])], 'q"x.bin', { type: "application/x-thing" }));
  fd.append("empty", "");
  const back = await new Response(fd).formData();
  eq([...back.keys()].join("|"), 'a|we"ird\r\nname|f|empty');
  eq(back.get("a"), "one");
  eq(back.get('we"ird\r\nname'), "two\r\nlines");
  const f = back.get("f");
  eq(f instanceof File, true);
  eq(f.name, 'q"x.bin');
  eq(f.type, "application/x-thing");
  eq(bytes(await f.bytes()), "1,2,3,13,10,45,45");
  eq(back.get("empty"), "");
});
const formOf = (body, type) => new Response(body, { headers: { "content-type": type } }).formData();
check("parse: hand-written multipart (preamble, epilogue, quoting, default file type)", async () => {
  const body = "preamble\r\n--XyZ\r\ncontent-disposition: form-data; name=plain\r\n\r\nvalue\r\n" +
    '--XyZ\r\nContent-Disposition: form-data; name="up"; filename="C:\\\\dir\\\\f.txt"\r\n\r\nfile body\r\n' +
    "--XyZ--\r\nepilogue";
  const fd = await formOf(body, 'multipart/form-data; boundary="XyZ"');
  eq(fd.get("plain"), "value");
  const f = fd.get("up");
  eq(f.name, "C:\\dir\\f.txt");
  eq(f.type, "text/plain");
  eq(await f.text(), "file body");
  eq([...(await formOf("--b--\r\n", "multipart/form-data;boundary=b")).keys()].length, 0, "no parts: ");
});
check("parse: malformed multipart is a TypeError", async () => {
  const mp = "multipart/form-data; boundary=b";
  const part = '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n';
  await rejects(formOf(part, mp), TypeError, "no closing boundary: ");
  await rejects(formOf(part + "--b--", "multipart/form-data"), TypeError, "no boundary parameter: ");
  await rejects(formOf("no boundary here", mp), TypeError, "boundary missing from the body: ");
  await rejects(formOf("--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--", mp), TypeError, "no name: ");
  await rejects(formOf("--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--", mp), TypeError, "no Content-Disposition: ");
  await rejects(formOf('--b\r\nContent-Disposition: attachment; name="a"\r\n\r\nv\r\n--b--', mp), TypeError, "not form-data: ");
  await rejects(formOf('--b\r\nContent-Disposition: form-data; name="a"\r\nv\r\n--b--', mp), TypeError, "headers never end: ");
  await rejects(formOf('--bXX\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b--', mp), TypeError, "junk after a boundary: ");
  await rejects(formOf("--b\r\nno colon\r\n\r\nv\r\n--b--", mp), TypeError, "a header without a colon: ");
  await rejects(formOf("a=1", "text/plain"), TypeError, "not a form type: ");
  await rejects(new Response("a=1").formData(), TypeError, "text/plain by default: ");
  await rejects(new Response("x", { headers: { "content-type": "%%%" } }).formData(), TypeError, "an unparsable type: ");
});
check("parse: mutated multipart bodies give a FormData or a TypeError, nothing else", async () => {
  const fd = new FormData();
  fd.append("a", "one");
  fd.append("f", new File(["xyz\r\n--"], 'f"1.txt', { type: "text/plain" }));
  const r = new Response(fd);
  const type = r.headers.get("content-type");
  const good = new Uint8Array(await r.arrayBuffer());
  let seed = 12345;
  const rand = (n) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
  const alphabet = [13, 10, 45, 34, 59, 58, 61, 32, 0, 255, 97];
  let parsed = 0, rejected = 0;
  for (let i = 0; i < 400; i++) {
    let u8 = good.slice();
    const kind = rand(3);
    if (kind === 0) u8 = u8.subarray(0, rand(u8.length)); // cut short
    const edits = 1 + rand(4);
    for (let k = 0; k < edits && u8.length; k++) u8[rand(u8.length)] = alphabet[rand(alphabet.length)];
    try {
      const out = await formOf(u8, type);
      if (!(out instanceof FormData)) throw new Error("not a FormData");
      parsed++;
    } catch (e) {
      if (!(e instanceof TypeError)) throw new Error(`mutation ${i}: ${e && e.name}: ${e && e.message}`);
      rejected++;
    }
  }
  eq(parsed + rejected, 400);
  eq(rejected > 0 && parsed > 0, true, `parsed ${parsed}, rejected ${rejected}: `);
});
check("parse: application/x-www-form-urlencoded", async () => {
  const fd = await formOf("a=1&b=x+y&a=%C3%A9&empty=&novalue", "application/x-www-form-urlencoded;charset=UTF-8");
  eq([...fd].map((e) => e.join("=")).join("&"), "a=1&b=x y&a=\u00e9&empty=&novalue=");
  const fromParams = await new Response(new URLSearchParams({ k: "v w" })).formData();
  eq(fromParams.get("k"), "v w");
});
check("bodies: Blob in, blob() out, used bodies", async () => {
  const r = new Response(new Blob(["blob body"], { type: "Text/X-Thing" }));
  eq(r.headers.get("content-type"), "text/x-thing");
  const b = await r.blob();
  eq(b instanceof Blob, true);
  eq(b.type, "text/x-thing");
  eq(await b.text(), "blob body");
  await rejects(r.blob(), TypeError, "a used body: ");
  eq(new Response(new Blob(["x"])).headers.get("content-type"), null, "an untyped Blob sets no type: ");
  eq((await new Response(null).blob()).size, 0);
  const req = new Request("http://x.example/", { method: "POST", body: new File(["f"], "f.txt") });
  eq(await req.text(), "f");
});

const results = async () => {
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
  return Response.json({ passed, failures });
};

export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/suite") return results();
    if (path === "/echo-form") {
      // The incoming body as form data: each entry as name=value, files as name=<filename|type|size|text>.
      try {
        const fd = await request.formData();
        const out = [];
        for (const [k, v] of fd) out.push(typeof v === "string" ? `${k}=${v}` : `${k}=<${v.name}|${v.type}|${v.size}|${await v.text()}>`);
        return new Response(out.join("\n"));
      } catch (e) {
        return new Response(`${e.name}: ${e.message}`, { status: 400 });
      }
    }
    return new Response("not found", { status: 404 });
  },
};
