// wpt_glue.js: the JS that tests/js/wpt_run.c puts around each WPT test file. One classic script is made of:
//   [before] resources/testharness.js [after] the META scripts, the test file (wrapped), [end]
// Each section starts with a line `//// name`. In [before], @LOCATION@, @HARNESS_MS@ and @SERVED@ are replaced by the runner.

//// before
// What the WPT `.any.worker.js` wrapper gives a test: GLOBAL, and the location of a worker's script.
Object.defineProperty(globalThis, "GLOBAL", {
  value: { isWindow() { return false; }, isWorker() { return true; }, isShadowRealm() { return false; } },
  writable: true, configurable: true,
});
if (!("location" in globalThis)) Object.defineProperty(globalThis, "location", { value: new URL(@LOCATION@), writable: true, configurable: true });
Object.defineProperty(globalThis, "__wpt_harness_ms", { value: @HARNESS_MS@, configurable: true });
// testharness.js picks a worker environment (which talks to a parent page over postMessage) when the global is an
// instance of one of these; it must pick its shell environment, so they are put away while it loads and put back
// in [after].
Object.defineProperty(globalThis, "__wpt_hidden", { configurable: true, value: [] });
for (const name of ["WorkerGlobalScope", "DedicatedWorkerGlobalScope", "SharedWorkerGlobalScope", "ServiceWorkerGlobalScope"]) {
  const d = Object.getOwnPropertyDescriptor(globalThis, name);
  if (d && d.configurable) {
    __wpt_hidden.push([name, d]);
    delete globalThis[name];
  }
}
// The data files the expectations list as served (["serve", path, why]) that this test names: what the WPT server
// would send for them. fetch() of one of them (a URL of the test's origin) answers with its text; any other URL goes
// to the runtime's own fetch. Without such files, fetch is left as it is.
{
  const served = @SERVED@;
  if (served) {
    const ownFetch = globalThis.fetch;
    const has = Object.prototype.hasOwnProperty;
    Object.defineProperty(globalThis, "fetch", {
      writable: true, configurable: true,
      value: function fetch(input, init) {
        let url = null;
        try { url = new URL(typeof input === "string" ? input : String(input && input.url), location.href); } catch {}
        if (url && url.origin === location.origin && has.call(served, url.pathname))
          return Promise.resolve(new Response(served[url.pathname], { headers: { "content-type": "application/json" } }));
        if (typeof ownFetch === "function") return ownFetch.apply(this, arguments);
        return Promise.reject(new TypeError("fetch is not there (the WPT runner only serves the data files it lists)"));
      },
    });
  }
}

//// after
// Collects the results. The runner's request (GET /results) is answered once add_completion_callback fires; GET
// /partial answers at once with what is known (the runner asks for it when /results got no answer in time). The
// harness's own timeout (`timeout()`, which marks the unfinished tests TIMEOUT and completes) runs on a reactor timer.
for (const [name, d] of __wpt_hidden) Object.defineProperty(globalThis, name, d);
Object.defineProperty(globalThis, "__wpt", { configurable: true, value: (() => {
  const harnessTimeout = timeout, harnessDone = done, startTimer = setTimeout, json = JSON.stringify;
  const seen = new Set();
  let final = null, topError = null, resolve;
  const finished = new Promise((r) => { resolve = r; });
  // Names and messages travel as JSON text without control characters or lone surrogates (they are shown escaped).
  const clean = (s) => String(s).replace(/[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  const short = (m) => {
    if (m === null || m === undefined) return null;
    m = clean(String(m).replace(/\s*[\r\n]+\s*/g, " | "));
    return m.length > 600 ? m.slice(0, 600) + "..." : m;
  };
  const pack = (list, status, message, cut) => json({
    status, message: short(message), cut,
    tests: list.map((t) => {
      const unfinished = cut && t.phase < t.phases.HAS_RESULT;
      return { name: clean(t.name), status: unfinished ? 2 : t.status,
        message: short(unfinished ? "cut by the runner's wall-clock limit" : t.message) };
    }),
  });
  add_test_state_callback((t) => { seen.add(t); });
  add_completion_callback((tests, hs) => {
    let status = hs.status, message = hs.message;
    if (topError !== null) {
      status = 1;
      message = "uncaught exception at the top level of the test file: " + topError;
    }
    final = pack(tests, status, message, false);
    resolve();
  });
  addEventListener("fetch", (event) => {
    if (event.request.url.endsWith("/partial"))
      event.respondWith(new Response(final ?? pack([...seen], 2, "the file did not complete within the runner's wall-clock limit", true)));
    else
      event.respondWith(finished.then(() => new Response(final)));
  });
  startTimer(() => harnessTimeout(), globalThis.__wpt_harness_ms);
  return {
    threw(e) {
      let s;
      // The exception and where it was thrown (the runner maps the line back to the part of the script it is in).
      try {
        s = String(e);
        const at = e && typeof e.stack === "string" ? e.stack.split("\n").find((l) => /^\s+at /.test(l)) : undefined;
        if (at) s += " (" + at.trim() + ")";
      } catch { s = "(an exception that cannot be shown)"; }
      topError = s;
    },
    end() { harnessDone(); },
  };
})() });

//// end
__wpt.end();
