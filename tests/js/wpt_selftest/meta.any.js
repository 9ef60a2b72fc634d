// META: global=worker
// META: script=resources/helper.js
// META: script=/sub/absolute-helper.js
test(() => { assert_equals(helperValue, 42); assert_equals(absoluteHelper(), "abs"); }, "META scripts load first, relative and absolute");
