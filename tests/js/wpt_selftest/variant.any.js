// META: variant=?first
// META: variant=?second
test(() => { assert_equals(location.search, "?first"); }, "the variant is in location.search");
