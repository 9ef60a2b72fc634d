// wasm.js: WebAssembly on the reactor (tests/js/test_wasm.c). The modules are hand-assembled bytes.

// (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
const ADD = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 7, 1, 0x60, 2, 0x7f, 0x7f, 1, 0x7f, 3, 2, 1, 0,
  7, 7, 1, 3, 0x61, 0x64, 0x64, 0, 0, 0x0a, 9, 1, 7, 0, 0x20, 0, 0x20, 1, 0x6a, 0x0b]);
// (func (export "spin") (loop br 0))
const SPIN = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0,
  7, 8, 1, 4, 0x73, 0x70, 0x69, 0x6e, 0, 0, 0x0a, 9, 1, 7, 0, 3, 0x40, 0x0c, 0, 0x0b, 0x0b]);
// (memory (export "mem") 1) (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
const GROW = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 6, 1, 0x60, 1, 0x7f, 1, 0x7f, 3, 2, 1, 0, 5, 3, 1, 0, 1,
  7, 14, 2, 3, 0x6d, 0x65, 0x6d, 2, 0, 4, 0x67, 0x72, 0x6f, 0x77, 0, 0, 0x0a, 8, 1, 6, 0, 0x20, 0, 0x40, 0, 0x0b]);
// A type section cut short: fails validation.
const BAD = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 7, 1, 0x60, 2]);

const kept = [];
const wasmResponse = (bytes, type = "application/wasm", status = 200) =>
  new Response(bytes, { status, headers: type === null ? {} : { "content-type": type } });
async function rejection(p) {
  try { await p; return "resolved"; } catch (e) { return e.constructor.name; }
}
function grow(instance, mb) {
  let r = 0;
  for (let i = 0; i < mb; i++) r = instance.exports.grow(16); // 16 pages: 1 MiB
  return r;
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const mb = Number(url.searchParams.get("mb"));
    switch (url.pathname) {
      case "/async": {
        const m = await WebAssembly.compile(ADD);
        const { module, instance } = await WebAssembly.instantiate(ADD);
        const i2 = await WebAssembly.instantiate(m, {});
        return Response.json({ module: m instanceof WebAssembly.Module && module instanceof WebAssembly.Module,
          instance: i2 instanceof WebAssembly.Instance, a: instance.exports.add(2, 3), b: i2.exports.add(40, 2) });
      }
      case "/sync": {
        const i = new WebAssembly.Instance(new WebAssembly.Module(ADD));
        return Response.json({ a: i.exports.add(7, 8), valid: WebAssembly.validate(ADD), invalid: WebAssembly.validate(BAD) });
      }
      case "/streaming": {
        const { instance } = await WebAssembly.instantiateStreaming(wasmResponse(ADD));
        const m = await WebAssembly.compileStreaming(Promise.resolve(wasmResponse(ADD, "Application/Wasm")));
        return Response.json({ a: instance.exports.add(1, 2), module: m instanceof WebAssembly.Module,
          noType: await rejection(WebAssembly.compileStreaming(wasmResponse(ADD, null))),
          wrongType: await rejection(WebAssembly.compileStreaming(wasmResponse(ADD, "application/octet-stream"))),
          withParams: await rejection(WebAssembly.compileStreaming(wasmResponse(ADD, "application/wasm; charset=x"))),
          notOk: await rejection(WebAssembly.instantiateStreaming(wasmResponse(ADD, "application/wasm", 404))),
          notResponse: await rejection(WebAssembly.compileStreaming(ADD)),
          invalid: await rejection(WebAssembly.compileStreaming(wasmResponse(BAD))) });
      }
      case "/compile-error": {
        let sync = "none";
        try { new WebAssembly.Module(BAD); } catch (e) { sync = e instanceof WebAssembly.CompileError ? "CompileError" : String(e); }
        let evalBlocked = false;
        try { eval("1"); } catch (e) { evalBlocked = e instanceof EvalError; }
        return Response.json({ async: await rejection(WebAssembly.compile(BAD)), instantiate: await rejection(WebAssembly.instantiate(BAD)),
          sync, evalBlocked });
      }
      case "/spin-sync":
        new WebAssembly.Instance(new WebAssembly.Module(SPIN)).exports.spin();
        return new Response("not reached");
      case "/spin-async": {
        const { instance } = await WebAssembly.instantiate(SPIN);
        instance.exports.spin();
        return new Response("not reached");
      }
      case "/grow": {
        // Synchronous: each request's memory is garbage once it answers (unless kept).
        const i = new WebAssembly.Instance(new WebAssembly.Module(GROW));
        const r = grow(i, mb);
        if (url.searchParams.has("keep")) kept.push(i);
        return new Response(`${r} ${i.exports.mem.buffer.byteLength}`);
      }
      case "/grow-async": {
        const { instance } = await WebAssembly.instantiate(GROW);
        const r = grow(instance, mb);
        kept.push(instance);
        return new Response(`${r} ${instance.exports.mem.buffer.byteLength}`);
      }
      case "/ok":
        return new Response("ok");
    }
    return new Response("no such path", { status: 404 });
  },
};
