// META: global=window,worker
"use strict";
test(() => { assert_equals((function () { return this; })(), undefined); }, "a strict file stays strict");
test(() => { assert_throws_js(TypeError, () => { Object.freeze({ a: 1 }).a = 2; }); }, "assigning to a frozen property throws");
