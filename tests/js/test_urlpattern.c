/*
 * test_urlpattern.c: URLPattern (prelude_urlpattern.js): named groups,
 * wildcards, regexp groups, the ? + * modifiers and {} groups, escaping,
 * string and URLPatternInit input, base URLs, ignoreCase, exec results,
 * canonicalisation, compareComponent and TypeErrors for bad patterns, checked
 * by tests/js/workers/urlpattern.js inside a worker on a reactor; the worker
 * answers {passed, failures}.
 */
#include "t_js.h"

Test(urlpattern, urlpattern_suite, .timeout = 60)
{
    static const struct tj_req reqs[] = {{"GET", "/suite", NULL, NULL, 0}};
    tj_run("urlpattern", "urlpattern.js", reqs, 1);
    cr_log_info("urlpattern suite: %s", TJ.r[0].body);
    cr_assert_eq(tj_suite_passed(&TJ.r[0]), 12, "%s", TJ.r[0].body);
}
