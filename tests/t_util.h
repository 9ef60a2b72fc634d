/*
 * t_util.h: helpers shared by the Criterion tests.
 */
#ifndef ISOCORE_T_UTIL_H
#define ISOCORE_T_UTIL_H

#include <criterion/criterion.h>
#include <stdatomic.h>

#include "isocore.h"

/* A reactor config for tests: quiet, `cores` reactors, pinned when they fit. */
static inline ic_reactor_config_t t_config(unsigned cores, void (*on_start)(void *), void *arg)
{
    ic_reactor_config_t cfg;
    ic_reactor_config_init(&cfg);
    cfg.cores = cores;
    cfg.quiet = true;
    cfg.handle_signals = false;
    cfg.on_start = on_start;
    cfg.arg = arg;
    return cfg;
}

/* Runs the reactors to completion and asserts that start and wait succeeded. */
static inline void t_run(const ic_reactor_config_t *cfg)
{
    int ret = ic_reactor_run(cfg);
    cr_assert_eq(ret, 0, "ic_reactor_run: %s", ic_strerror(ret));
}

#endif
