// META: script=/common/get-host-info.sub.js
// Loads a .sub. helper (a template the WPT server fills in): skipped without being listed (it would fail).
test(() => { assert_unreached("a file that needs the WPT server ran"); }, "needs the server");
