/*
 * test_events.c: DOM events and abort in a worker (tests/js/workers/events.js):
 * EventTarget, Event, CustomEvent, AbortController, AbortSignal (abort, any,
 * timeout on the reactor's timers) and DOMException.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "t_js.h"

Test(events, suite, .timeout = 60)
{
    static const struct tj_req reqs[] = {{"GET", "/suite", NULL, NULL, 0}};
    tj_run("events", "events.js", reqs, 1);
    cr_log_info("events suite: %s", TJ.r[0].body);
    tj_assert_suite(&TJ.r[0], 25);
}

/* AbortSignal.timeout(30) aborts from a reactor timer: not before the handler returned, not before 30 ms. */
Test(events, abort_signal_timeout_fires_on_reactor_timers, .timeout = 60)
{
    static const struct tj_req reqs[] = {{"GET", "/timeout", NULL, NULL, 0}, {"GET", "/timeout-any", NULL, NULL, 0}};
    tj_run("events", "events.js", reqs, 2);
    cr_assert_eq(TJ.sync_done[0], false, "the timeout fired before the handler returned");
    cr_assert_eq(TJ.r[0].status, 200, "%d %s", TJ.r[0].status, TJ.r[0].body);
    /* "<aborted at once> <reason name> <code> <a DOMException> <ms>" */
    char early[8], name[32], isdom[8];
    int code = 0, ms = -1;
    cr_assert_eq(sscanf(TJ.r[0].body, "%7s %31s %d %7s %d", early, name, &code, isdom, &ms), 5, "%s", TJ.r[0].body);
    cr_assert_str_eq(early, "false");
    cr_assert_str_eq(name, "TimeoutError");
    cr_assert_eq(code, 23);
    cr_assert_str_eq(isdom, "true");
    cr_assert_geq(ms, 30, "the signal aborted after %d ms", ms);
    uint64_t took = TJ.r[0].done_ns - TJ.r[0].sent_ns;
    cr_assert_geq(took, 30 * 1000000ull, "answered after %llu ns", (unsigned long long)took);
    cr_log_info("AbortSignal.timeout(30): aborted after %d ms (JS), answered after %.1f ms", ms, (double)took / 1e6);
    /* AbortSignal.any of two timeouts and a live controller: the 20 ms one wins, the controller is untouched. */
    cr_assert_eq(TJ.sync_done[1], false);
    cr_assert_str_eq(TJ.r[1].body, "TimeoutError false");
    uint64_t took_any = TJ.r[1].done_ns - TJ.r[1].sent_ns;
    cr_assert_geq(took_any, 20 * 1000000ull);
    cr_assert_lt(took_any, 200 * 1000000ull, "AbortSignal.any waited for the later timeout: %llu ns", (unsigned long long)took_any);
}

/* A listener that throws is reported as console.error reports (on stderr, with its stack), and the dispatch goes on. */
Test(events, listener_exceptions_are_logged_and_dispatch_goes_on, .timeout = 60)
{
    static const struct tj_req reqs[] = {{"GET", "/throwing", NULL, NULL, 0}};
    char path[] = "/tmp/isocore-events-stderr-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    int saved = dup(2);
    dup2(fd, 2);
    tj_run("events", "events.js", reqs, 1);
    dup2(saved, 2);
    close(saved);
    char text[8192] = {0};
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    close(fd);
    unlink(path);
    cr_assert_gt(n, 0, "nothing was logged");
    cr_assert_str_eq(TJ.r[0].body, "second,fourth,abort listener true");
    cr_assert(strstr(text, "Uncaught Error: listener boom 1") != NULL, "%s", text);
    cr_assert(strstr(text, "Uncaught TypeError: listener boom 2") != NULL, "%s", text);
    cr_assert(strstr(text, "Uncaught RangeError: onabort boom 3") != NULL, "%s", text);
    cr_assert(strstr(text, "events.js:") != NULL, "the stack names the worker's file: %s", text);
}
