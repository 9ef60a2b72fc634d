// META: timeout=long
// Never completes before the wall-clock limit the self-test sets (below the harness timeout): the runner cuts it and
// reports what was known.
test(() => {}, "finished before the cut");
promise_test(() => new Promise(() => {}), "unfinished at the cut");
