// META: global=window,worker
// Subtests of each kind that pass: sync, async on reactor timers (in order), promise, and the scope the glue sets up.
test(() => { assert_true(GLOBAL.isWorker()); assert_false(GLOBAL.isWindow()); }, "GLOBAL says worker");
test(() => { assert_equals(typeof location.href, "string"); assert_true(location.pathname.endsWith("/pass.any.worker.js")); }, "location is the worker script's");
async_test((t) => {
  const order = [];
  t.step_timeout(() => order.push(2), 20);
  t.step_timeout(() => order.push(1), 5);
  t.step_timeout(() => { assert_array_equals(order, [1, 2]); t.done(); }, 40);
}, "step_timeout runs on the reactor's timers, in order");
promise_test(async () => {
  await new Promise((r) => setTimeout(r, 10));
  let micro = false;
  queueMicrotask(() => { micro = true; });
  await null;
  assert_true(micro);
}, "promise_test with timers and microtasks");
var sloppyGlobal = 1;
function sloppyThis() { return this; }
test(() => { assert_equals(globalThis.sloppyGlobal, 1); assert_equals(sloppyThis(), globalThis); }, "a sloppy file's top level is global");
test(() => {
  for (const name of ["WorkerGlobalScope", "ServiceWorkerGlobalScope"])
    if (name in globalThis) assert_true(globalThis[name] !== undefined, name + " is back after testharness.js");
}, "the worker scope classes the runtime has are still there");
