// An endless loop in a timer: that entry is terminated, the file goes on (the harness timeout ends it).
async_test((t) => { setTimeout(() => { for (;;) {} }, 0); }, "a timer that loops");
test(() => {}, "passes before");
