// A failing assertion, a throw in a test, and a promise that rejects.
test(() => { assert_equals(1, 2, "one is not two"); }, "assert_equals fails");
test(() => { throw new TypeError("thrown in a test"); }, "a throw fails the subtest");
promise_test(() => Promise.reject(new Error("rejected")), "a rejection fails the subtest");
test(() => {}, "this one passes");
