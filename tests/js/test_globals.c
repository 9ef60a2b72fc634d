/*
 * test_globals.c: the Workers globals of prelude_globals.js (navigator,
 * performance, structuredClone with transfer, reportError, scheduler.wait,
 * MessageChannel/MessagePort), checked by tests/js/workers/globals.js inside
 * a worker on a reactor; the worker answers {passed, failures}.
 */
#include "t_js.h"

Test(globals, workers_globals_suite, .timeout = 60)
{
    static const struct tj_req reqs[] = {{"GET", "/suite", NULL, NULL, 0}};
    tj_run("globals", "globals.js", reqs, 1);
    cr_log_info("globals suite: %s", TJ.r[0].body);
    cr_assert_eq(tj_suite_passed(&TJ.r[0]), 9, "%s", TJ.r[0].body);
}
