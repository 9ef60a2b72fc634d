// A syntax error: the worker does not load.
test(() => {}, "never defined" +);
