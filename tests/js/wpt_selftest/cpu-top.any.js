// An endless loop at the top level: the CPU limit of the top level stops it, the worker does not load.
test(() => { for (;;) {} }, "loops");
