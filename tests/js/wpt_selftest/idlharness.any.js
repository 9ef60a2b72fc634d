// idlharness files are skipped (no WebIDLParser.js): it would fail.
test(() => { assert_unreached("an idlharness file ran"); }, "idlharness");
