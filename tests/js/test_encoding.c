/*
 * test_encoding.c: TextDecoder over every encoding of the Encoding Standard,
 * in a real worker (tests/js/workers/encoding.js): samples from each decoder,
 * streaming split at every byte, fatal errors, BOMs, labels.
 */
#include "t_suite.h"

Test(encoding, every_decoder_in_a_worker, .timeout = 60)
{
    ts_reset();
    ic_js_limits_t lim = {.cpu_ms = 10000};
    TS.tenant[0] = ts_tenant("encoding", "encoding.js", &lim);
    ts_add(0, "GET", "/", NULL, 0);
    ts_run();
    cr_assert_eq(TS.ret[0], 0, "%s", TS.err[0]);
    ts_assert_suite(0, 12);
    ts_fini();
}
