// Listed as skipped: never run (it would fail).
test(() => { assert_unreached("a skipped file ran"); }, "skipped");
