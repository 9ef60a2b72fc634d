// A throw at the top level after one subtest: that subtest still reports, the harness status is ERROR.
test(() => {}, "defined before the throw");
throw new Error("boom at the top level");
