// A data file the expectations list as served: fetch() of a relative URL gets it.
promise_test(async () => {
  const data = await (await fetch("data/served.json")).json();
  assert_equals(data.answer, 42);
}, "fetch of a served file");
