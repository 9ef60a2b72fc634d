/*
 * fault.h: fault injection, for tests of what the runtime does when the
 * system says no.
 *
 * ISOCORE_FAULTS="alloc=0.05,ring_full=0.3,short_send=0.5,seed=7" makes each
 * named injection point fail with that probability (0 … 1). The points:
 *
 *   alloc       per-request allocations of io/, router/ and core/ messaging
 *               (HTTP and TCP connection state, HTTP buffers, forwarded
 *               requests and responses, messages)
 *   ring_full   a core-to-core SPSC ring refuses a message (it waits in the
 *               sender's overflow queue)
 *   sq_full     the io_uring submission queue is full (submit, then retry)
 *   enobufs     a multishot receive completes with -ENOBUFS (no buffer)
 *   emfile      an accept completes with -EMFILE (out of descriptors)
 *   short_send  a send is submitted for only part of its bytes
 *   isolate     V8 fails to create an isolate
 *
 * -ENOBUFS and -EMFILE are injected when the operation is submitted: it
 * never reaches the kernel, and its callback runs on a later loop turn with
 * the error and no IORING_CQE_F_MORE, as if the kernel had refused the
 * operation at once. The counts of injected faults are logged when the
 * reactors stop. Parsed by ic_reactor_start; thread-safe (each thread draws
 * from its own generator, the counters are atomics).
 *
 * Compiled in unless CMake's ISOCORE_FAULT_INJECTION is OFF, in which case
 * ic__fault() is the constant false and ISOCORE_FAULTS is refused.
 */
#ifndef ISOCORE_CORE_FAULT_H
#define ISOCORE_CORE_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "isocore/core.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ic__fault_kind {
    IC__FAULT_ALLOC,
    IC__FAULT_RING_FULL,
    IC__FAULT_SQ_FULL,
    IC__FAULT_ENOBUFS,
    IC__FAULT_EMFILE,
    IC__FAULT_SHORT_SEND,
    IC__FAULT_ISOLATE,
    IC__FAULT_KINDS
};

/* Probability of each kind as a threshold on a 32-bit draw; 0 = never. Written once, before any reactor starts. */
extern uint64_t ic__fault_threshold[IC__FAULT_KINDS];
extern bool ic__fault_on;

/* Draws for `kind`, counts a hit. Only called when the kind is enabled. */
bool ic__fault_draw(enum ic__fault_kind kind);

/* True when the injection point of `kind` should fail now. */
static inline bool ic__fault(enum ic__fault_kind kind)
{
#ifdef ISOCORE_FAULT_INJECTION
    return __builtin_expect(ic__fault_on, 0) && ic__fault_threshold[kind] && ic__fault_draw(kind);
#else
    (void)kind;
    return false;
#endif
}

/* A random length in [1, len), len > 1. */
size_t ic__fault_cut(size_t len);

/* A send of len bytes: len, or (when short_send fires and len > 1) a random length in [1, len). */
static inline size_t ic__fault_send_len(size_t len)
{
    return len > 1 && ic__fault(IC__FAULT_SHORT_SEND) ? ic__fault_cut(len) : len;
}

/*
 * When `kind` fires: completes op with `err` on a later loop turn instead of
 * submitting it, and returns true (the caller must not prepare an SQE).
 * Must be called on a reactor.
 */
bool ic__fault_refuse(ic_op_t *op, enum ic__fault_kind kind, int err);

/* Reads ISOCORE_FAULTS. Returns 0, or -EINVAL after logging what is wrong with it. */
int ic__fault_configure(void);

/* Logs how many faults of each kind were injected (when any injection is on). */
void ic__fault_report(void);

/* Faults of `kind` injected since the process started. */
uint64_t ic__fault_count(enum ic__fault_kind kind);

#ifdef __cplusplus
}
#endif

#endif
