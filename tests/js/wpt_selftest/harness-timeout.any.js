// A promise that never settles: the harness timeout (a reactor timer) marks it TIMEOUT.
promise_test(() => new Promise(() => {}), "never settles");
test(() => {}, "passes meanwhile");
