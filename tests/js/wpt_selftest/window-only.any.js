// META: global=window
// Not for a worker: never run (it would fail).
test(() => { assert_unreached("a window-only file ran"); }, "window only");
