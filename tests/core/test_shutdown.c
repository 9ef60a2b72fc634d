/*
 * test_shutdown.c: a stop drains in-flight work: messages answered later,
 * held references, and SIGTERM; operations still pending are cancelled.
 */
#include <signal.h>
#include <unistd.h>

#include "t_util.h"

#define T_MSGS 1000

static struct {
    ic_timer_t timer; /* on core 1: answers the held messages */
    ic_smp_msg_t *held[T_MSGS];
    unsigned nheld;
    _Atomic unsigned done;
    _Atomic int stop_ran;
    bool via_signal;
} D;

static void answer_cb(ic_timer_t *t)
{
    for (unsigned i = 0; i < D.nheld; i++)
        ic_smp_reply(D.held[i], 0);
    D.nheld = 0;
}

static int hold_work(ic_smp_msg_t *m, void *arg)
{
    D.held[D.nheld++] = m;
    if (D.nheld == T_MSGS) {
        ic_timer_init(&D.timer, answer_cb);
        ic_timer_start(&D.timer, 50 * 1000 * 1000, 0);
    }
    return IC_SMP_LATER;
}

static void hold_done(void *arg, int status)
{
    atomic_fetch_add(&D.done, 1);
}

static void drain_start(void *arg)
{
    if (ic_reactor_id() != 0)
        return;
    for (unsigned i = 0; i < T_MSGS; i++)
        cr_assert_eq(ic_smp_submit(1, hold_work, hold_done, NULL), 0);
    /* Stop at once: every message is in flight or not even flushed yet. */
    if (D.via_signal)
        kill(getpid(), SIGTERM);
    else
        ic_reactor_stop();
}

static void drain_stop(void *arg)
{
    atomic_fetch_add(&D.stop_ran, 1);
}

Test(shutdown, drains_in_flight_messages, .timeout = 30)
{
    memset(&D, 0, sizeof(D));
    ic_reactor_config_t cfg = t_config(2, drain_start, NULL);
    cfg.on_stop = drain_stop;
    t_run(&cfg);
    cr_assert_eq(atomic_load(&D.done), T_MSGS, "only %u of %u answers came home", atomic_load(&D.done), T_MSGS);
    cr_assert_eq(atomic_load(&D.stop_ran), 2);
}

Test(shutdown, sigterm_drains_and_returns_zero, .timeout = 30)
{
    memset(&D, 0, sizeof(D));
    D.via_signal = true;
    ic_reactor_config_t cfg = t_config(2, drain_start, NULL);
    cfg.handle_signals = true;
    cfg.on_stop = drain_stop;
    t_run(&cfg);
    cr_assert_eq(atomic_load(&D.done), T_MSGS);
    cr_assert_eq(atomic_load(&D.stop_ran), 2);
}

/* A reference keeps a stopping reactor alive until it is dropped; a pending read is cancelled at exit. */
static struct {
    ic_timer_t release;
    bool released;
    ic_op_t read_op;
    int read_res, read_calls;
    int pipefd[2];
    char buf[8];
} F;

static void release_cb(ic_timer_t *t)
{
    F.released = true;
    ic_reactor_unref();
}

static void read_cb(ic_op_t *op, int res, unsigned flags)
{
    F.read_res = res;
    F.read_calls++;
}

static void ref_start(void *arg)
{
    ic_reactor_ref();
    ic_timer_init(&F.release, release_cb);
    ic_timer_start(&F.release, 30 * 1000 * 1000, 0);
    F.read_op.cb = read_cb;
    io_uring_prep_read(ic_reactor_sqe(&F.read_op), F.pipefd[0], F.buf, sizeof(F.buf), 0);
    ic_reactor_stop();
}

Test(shutdown, reference_delays_exit_and_pending_ops_are_cancelled, .timeout = 30)
{
    memset(&F, 0, sizeof(F));
    cr_assert_eq(pipe(F.pipefd), 0);
    ic_reactor_config_t cfg = t_config(1, ref_start, NULL);
    t_run(&cfg);
    cr_assert(F.released, "the reactor exited while a reference was held");
    cr_assert_eq(F.read_calls, 1);
    cr_assert_eq(F.read_res, -ECANCELED);
    close(F.pipefd[0]);
    close(F.pipefd[1]);
}

/*
 * An exit without draining (ic_reactor_abort): on_abort runs once on every
 * reactor, after on_stop, and the reactors go on looping until what it let
 * go of is home: here core 1 holds core 0's messages and each core a
 * reference that no drain would drop; on_abort answers the messages and
 * drops the references, and every answer still reaches core 0, where its
 * memory (allocated there) is freed.
 */
static struct {
    ic_smp_msg_t *held[T_MSGS];
    unsigned nheld;
    _Atomic unsigned done, aborts, stops, abort_before_stop, bad_core;
    _Atomic int release; /* 0: on_abort lets go of nothing (the grace period ends the exit), and no message is sent */
} A;

static int abort_hold_work(ic_smp_msg_t *m, void *arg)
{
    A.held[A.nheld++] = m;
    if (A.nheld == T_MSGS)
        ic_reactor_abort(); /* from a reactor: every message is held now */
    return IC_SMP_LATER;
}

static void abort_hold_done(void *arg, int status)
{
    if (ic_reactor_id() != 0 || status != -ECANCELED)
        atomic_fetch_add(&A.bad_core, 1);
    free(arg);
    atomic_fetch_add(&A.done, 1);
}

static void abort_start(void *arg)
{
    ic_reactor_ref(); /* held until on_abort: a drain alone would never end */
    if (ic_reactor_id() != 0)
        return;
    if (!atomic_load(&A.release)) {
        ic_reactor_abort();
        return;
    }
    for (unsigned i = 0; i < T_MSGS; i++)
        cr_assert_eq(ic_smp_submit(1, abort_hold_work, abort_hold_done, malloc(16)), 0);
}

static void abort_stop(void *arg)
{
    atomic_fetch_add(&A.stops, 1);
}

static void abort_abort(void *arg)
{
    if (atomic_load(&A.stops) == 0)
        atomic_fetch_add(&A.abort_before_stop, 1);
    atomic_fetch_add(&A.aborts, 1);
    if (!atomic_load(&A.release))
        return;
    if (ic_reactor_id() == 1) { /* the messages are core 1's to answer */
        for (unsigned i = 0; i < A.nheld; i++)
            ic_smp_reply(A.held[i], -ECANCELED);
        A.nheld = 0;
    }
    ic_reactor_unref();
}

Test(shutdown, abort_runs_on_abort_and_brings_answers_home, .timeout = 30)
{
    memset(&A, 0, sizeof(A));
    atomic_store(&A.release, 1);
    ic_reactor_config_t cfg = t_config(2, abort_start, NULL);
    cfg.on_stop = abort_stop;
    cfg.on_abort = abort_abort;
    t_run(&cfg);
    cr_assert_eq(atomic_load(&A.aborts), 2, "on_abort ran %u times", atomic_load(&A.aborts));
    cr_assert_eq(atomic_load(&A.stops), 2, "on_stop runs before on_abort when no stop came first");
    cr_assert_eq(atomic_load(&A.abort_before_stop), 0);
    cr_assert_eq(atomic_load(&A.done), T_MSGS, "only %u of %u answers came home", atomic_load(&A.done), T_MSGS);
    cr_assert_eq(atomic_load(&A.bad_core), 0, "an answer ran off core 0 or with the wrong status");
    cr_assert(!ic_reactor_aborting(), "the abort is over once the reactors exited");
}

/*
 * An on_abort that lets go of nothing: the references stay, and the exit
 * comes anyway after the grace period (IC_ABORT_GRACE_MS).
 */
Test(shutdown, abort_is_bounded_when_nothing_lets_go, .timeout = 30)
{
    memset(&A, 0, sizeof(A));
    ic_reactor_config_t cfg = t_config(2, abort_start, NULL);
    cfg.on_stop = abort_stop;
    cfg.on_abort = abort_abort;
    t_run(&cfg);
    cr_assert_eq(atomic_load(&A.aborts), 2);
    cr_assert_eq(atomic_load(&A.stops), 2);
}
