/*
 * fault.c: fault injection (see fault.h for the points and ISOCORE_FAULTS).
 *
 * Each thread draws from its own xorshift64* generator, seeded from the
 * configured seed and a per-thread counter, so that runs with the same seed
 * and the same schedule inject the same faults and no thread shares state
 * with another. Hit counters are relaxed atomics: they are only reported.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "core/fault.h"
#include "core/internal.h"

uint64_t ic__fault_threshold[IC__FAULT_KINDS];
bool ic__fault_on;

static const char *const names[IC__FAULT_KINDS] = {"alloc", "ring_full", "sq_full", "enobufs", "emfile", "short_send", "isolate"};
static _Atomic uint64_t hits[IC__FAULT_KINDS];
static uint64_t seed = 0x9e3779b97f4a7c15ull;
static _Atomic uint64_t threads;
static _Thread_local uint64_t rng;

static uint64_t next(void)
{
    if (!rng) {
        /* splitmix64 of seed + thread number: well-spread, never 0 in practice (and 0 is remapped). */
        uint64_t z = seed + (atomic_fetch_add_explicit(&threads, 1, memory_order_relaxed) + 1) * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        rng = (z ^ (z >> 31)) | 1;
    }
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

bool ic__fault_draw(enum ic__fault_kind kind)
{
    if ((next() >> 32) >= ic__fault_threshold[kind])
        return false;
    atomic_fetch_add_explicit(&hits[kind], 1, memory_order_relaxed);
    return true;
}

size_t ic__fault_cut(size_t len)
{
    return 1 + (size_t)(next() % (len - 1));
}

/* A refused operation's stand-in: a NOP whose completion runs the real op's callback with the error. */
struct refusal {
    ic_op_t op; /* first: the NOP's user_data */
    ic_op_t *target;
    int err;
};

static void refused(ic_op_t *op, int res, unsigned flags)
{
    struct refusal *f = (struct refusal *)op;
    ic_op_t *target = f->target;
    int err = f->err;
    (void)res;
    (void)flags;
    free(f);
    target->cb(target, err, 0);
}

bool ic__fault_refuse(ic_op_t *op, enum ic__fault_kind kind, int err)
{
    if (!ic__fault(kind))
        return false;
    struct refusal *f = malloc(sizeof(*f));
    if (!f)
        return false; /* no memory for the stand-in: let the real operation go */
    f->op.cb = refused;
    f->target = op;
    f->err = err;
    /* The NOP, not the target, is counted in flight: the reactor waits for it like for any operation. */
    io_uring_prep_nop(ic_reactor_sqe(&f->op));
    return true;
}

int ic__fault_configure(void)
{
    const char *spec = getenv("ISOCORE_FAULTS");
    memset(ic__fault_threshold, 0, sizeof(ic__fault_threshold));
    ic__fault_on = false;
    if (!spec || !*spec)
        return 0;
#ifndef ISOCORE_FAULT_INJECTION
    ic_log(IC_LOG_ERROR, "ISOCORE_FAULTS is set but this build has no fault injection (CMake ISOCORE_FAULT_INJECTION=OFF)");
    return -EINVAL;
#else
    char *copy = strdup(spec), *save = NULL;
    if (!copy)
        return -ENOMEM;
    int ret = 0;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        char *end = NULL;
        if (!eq) {
            ic_log(IC_LOG_ERROR, "ISOCORE_FAULTS: '%s': expected name=probability", item);
            ret = -EINVAL;
            break;
        }
        *eq = '\0';
        if (strcmp(item, "seed") == 0) {
            errno = 0;
            seed = strtoull(eq + 1, &end, 10);
            if (errno || end == eq + 1 || *end) {
                ic_log(IC_LOG_ERROR, "ISOCORE_FAULTS: seed '%s' is not a number", eq + 1);
                ret = -EINVAL;
                break;
            }
            continue;
        }
        int k = 0;
        while (k < IC__FAULT_KINDS && strcmp(names[k], item) != 0)
            k++;
        if (k == IC__FAULT_KINDS) {
            ic_log(
                IC_LOG_ERROR,
                "ISOCORE_FAULTS: unknown fault '%s' (known: alloc, ring_full, sq_full, enobufs, emfile, short_send, isolate, seed)",
                item);
            ret = -EINVAL;
            break;
        }
        double p = strtod(eq + 1, &end);
        if (end == eq + 1 || *end || !(p >= 0 && p <= 1)) {
            ic_log(IC_LOG_ERROR, "ISOCORE_FAULTS: %s=%s: expected a probability from 0 to 1", item, eq + 1);
            ret = -EINVAL;
            break;
        }
        ic__fault_threshold[k] = (uint64_t)(p * 4294967296.0);
        if (ic__fault_threshold[k])
            ic__fault_on = true;
    }
    free(copy);
    if (ret < 0) {
        memset(ic__fault_threshold, 0, sizeof(ic__fault_threshold));
        ic__fault_on = false;
        return ret;
    }
    if (ic__fault_on)
        ic_log(IC_LOG_WARN, "fault injection on: ISOCORE_FAULTS=%s", spec);
    return 0;
#endif
}

void ic__fault_report(void)
{
    if (!ic__fault_on)
        return;
    char line[512];
    size_t n = 0;
    for (int k = 0; k < IC__FAULT_KINDS; k++) {
        if (!ic__fault_threshold[k])
            continue;
        int w = snprintf(line + n, sizeof(line) - n, "%s%s %llu", n ? ", " : "", names[k],
                         (unsigned long long)atomic_load_explicit(&hits[k], memory_order_relaxed));
        if (w < 0 || (size_t)w >= sizeof(line) - n)
            break;
        n += (size_t)w;
    }
    ic_log(IC_LOG_WARN, "faults injected: %s", line);
}

uint64_t ic__fault_count(enum ic__fault_kind kind)
{
    return atomic_load_explicit(&hits[kind], memory_order_relaxed);
}
