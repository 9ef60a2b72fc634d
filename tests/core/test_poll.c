/*
 * test_poll.c: when a reactor polls its rings before it sleeps, and when it
 * must not (submit_and_wait and spin_bound in core/reactor.c).
 *
 * The tests assert what can be counted and does not depend on the machine's
 * load: an idle reactor goes to sleep without polling, a reactor waiting for
 * a slow answer polls at most once and then sleeps, and reactors that are
 * not pinned never poll. Whether polling pays off is bench_router's question.
 */
#include <sched.h>

#include "t_util.h"

/* Submissions that failed on a reactor thread (asserted on the test's thread, where Criterion can report them). */
static _Atomic unsigned submit_errors;

static void t_submit(unsigned core, ic_smp_work_cb work, ic_smp_done_cb done)
{
    if (ic_smp_submit(core, work, done, NULL) != 0) {
        atomic_fetch_add(&submit_errors, 1);
        ic_reactor_stop();
    }
}

/* Ping-pong of T_ROUNDS messages from core 0 to core 1, then core 0 waits for a timer with nothing outstanding. */
#define T_ROUNDS 200

static struct {
    unsigned sent, done, ran_on_1;
    ic_timer_t timer;
    ic_reactor_stats_t idle0[2], idle1[2]; /* core 0's and core 1's counters when the wait began, and when it ended */
    bool timer_fired;
} I;

static int idle_work(ic_smp_msg_t *m, void *arg)
{
    (void)m;
    (void)arg;
    if (ic_reactor_id() == 1)
        I.ran_on_1++;
    return 0;
}

static void idle_timer(ic_timer_t *t)
{
    (void)t;
    ic_reactor_stats(0, &I.idle0[1]);
    ic_reactor_stats(1, &I.idle1[1]);
    I.timer_fired = true;
    ic_reactor_stop();
}

static void idle_done(void *arg, int status)
{
    (void)arg;
    (void)status;
    if (++I.done < T_ROUNDS) {
        t_submit(1, idle_work, idle_done);
        I.sent++;
        return;
    }
    /* Nothing outstanding, nothing answered: from here until the timer, core 0 must sleep and never poll. */
    ic_reactor_stats(0, &I.idle0[0]);
    ic_reactor_stats(1, &I.idle1[0]);
    ic_timer_init(&I.timer, idle_timer);
    ic_timer_start(&I.timer, 30 * 1000 * 1000, 0);
}

static void idle_start(void *arg)
{
    (void)arg;
    if (ic_reactor_id() != 0)
        return;
    t_submit(1, idle_work, idle_done);
    I.sent++;
}

Test(poll, idle_reactor_sleeps_without_polling, .timeout = 60)
{
    memset(&I, 0, sizeof(I));
    ic_reactor_config_t cfg = t_config(2, idle_start, NULL);
    cfg.spin_us = 1000; /* a long bound: if an idle reactor polled, it would show */
    atomic_store(&submit_errors, 0);
    t_run(&cfg);
    cr_assert_eq(atomic_load(&submit_errors), 0);
    cr_assert(I.timer_fired);
    cr_assert_eq(I.done, T_ROUNDS);
    cr_assert_eq(I.ran_on_1, T_ROUNDS);
    cr_assert_eq(I.idle0[1].spins, I.idle0[0].spins, "core 0 polled %llu times with nothing outstanding",
                 (unsigned long long)(I.idle0[1].spins - I.idle0[0].spins));
    cr_assert_gt(I.idle0[1].sleeps, I.idle0[0].sleeps, "core 0 never slept while it waited 30 ms for a timer");
    /* A few turns (the last answer's, the timer's), not a poll loop. */
    cr_assert_lt(I.idle0[1].loops - I.idle0[0].loops, 20, "core 0 turned %llu times while idle",
                 (unsigned long long)(I.idle0[1].loops - I.idle0[0].loops));
    /* Core 1 answered the last request: at most one poll after it (bounded), then nothing more to poll for. */
    cr_assert_leq(I.idle1[1].spins - I.idle1[0].spins, 1, "core 1 polled %llu times after its last answer",
                  (unsigned long long)(I.idle1[1].spins - I.idle1[0].spins));
}

/* Core 1 holds a request for 30 ms (it answers from a timer): core 0, which waits for it, polls at most once, then sleeps. */
static struct {
    ic_timer_t timer;
    ic_smp_msg_t *held;
    ic_reactor_stats_t before, after;
    int status;
} S;

static void slow_timer(ic_timer_t *t)
{
    (void)t;
    ic_smp_reply(S.held, 7);
}

static int slow_work(ic_smp_msg_t *m, void *arg)
{
    (void)arg;
    S.held = m;
    ic_timer_init(&S.timer, slow_timer);
    ic_timer_start(&S.timer, 30 * 1000 * 1000, 0);
    return IC_SMP_LATER;
}

static void slow_done(void *arg, int status)
{
    (void)arg;
    ic_reactor_stats(0, &S.after);
    S.status = status;
    ic_reactor_stop();
}

static void slow_start(void *arg)
{
    (void)arg;
    if (ic_reactor_id() != 0)
        return;
    ic_reactor_stats(0, &S.before);
    t_submit(1, slow_work, slow_done);
}

Test(poll, waiting_for_a_slow_answer_polls_a_bounded_time_then_sleeps, .timeout = 60)
{
    memset(&S, 0, sizeof(S));
    ic_reactor_config_t cfg = t_config(2, slow_start, NULL);
    cfg.spin_us = 100; /* well under the 30 ms the answer takes */
    atomic_store(&submit_errors, 0);
    t_run(&cfg);
    cr_assert_eq(atomic_load(&submit_errors), 0);
    cr_assert_eq(S.status, 7);
    cr_assert_gt(S.after.sleeps, S.before.sleeps, "core 0 never slept in the 30 ms it waited");
    cr_assert_leq(S.after.spins - S.before.spins, 2, "core 0 polled %llu times for one answer",
                  (unsigned long long)(S.after.spins - S.before.spins));
    cr_assert_eq(S.after.spin_hits, S.before.spin_hits, "a poll found the answer that came 30 ms later");
    cr_assert_lt(S.after.loops - S.before.loops, 20, "core 0 turned %llu times while it waited",
                 (unsigned long long)(S.after.loops - S.before.loops));
}

/*
 * More reactors than CPUs: they are not pinned and share the CPUs, so a
 * polling one would take the time of the core it waits for. Ping-pong between
 * core 0 and core 1 (the pattern that polls when pinned): no reactor polls.
 */
static struct {
    unsigned n, done;
    ic_reactor_stats_t st[IC_MAX_CORES];
} U;

static int unpinned_work(ic_smp_msg_t *m, void *arg)
{
    (void)m;
    (void)arg;
    return 0;
}

static void unpinned_done(void *arg, int status)
{
    (void)arg;
    (void)status;
    if (++U.done < T_ROUNDS) {
        t_submit(1, unpinned_work, unpinned_done);
        return;
    }
    for (unsigned i = 0; i < U.n; i++)
        ic_reactor_stats(i, &U.st[i]);
    ic_reactor_stop();
}

static void unpinned_start(void *arg)
{
    (void)arg;
    if (ic_reactor_id() == 0)
        t_submit(1, unpinned_work, unpinned_done);
}

Test(poll, unpinned_reactors_never_poll, .timeout = 60)
{
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    memset(&U, 0, sizeof(U));
    atomic_store(&submit_errors, 0);
    U.n = (unsigned)CPU_COUNT(&set) + 1;
    if (U.n > 16)
        cr_skip_test("%u CPUs: a test of more reactors than CPUs would start too many", U.n - 1);
    ic_reactor_config_t cfg = t_config(U.n, unpinned_start, NULL);
    cfg.spin_us = 1000;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    cr_assert_eq(ic_reactor_cpu(0), -1);
    cr_assert_eq(ic_reactor_wait(), 0);
    cr_assert_eq(atomic_load(&submit_errors), 0);
    cr_assert_eq(U.done, T_ROUNDS);
    for (unsigned i = 0; i < U.n; i++)
        cr_assert_eq(U.st[i].spins, 0, "unpinned core %u polled %llu times", i, (unsigned long long)U.st[i].spins);
}

/*
 * A peer that always answers late (2 ms, from a timer): after a few polls
 * that miss, core 0 stops polling for it but for one wait in 16. Without that
 * rule it would poll once per request (on an uncontended machine); with it, a
 * few times for the 48 requests.
 */
#define T_LATE 48

static struct {
    ic_timer_t timer;
    ic_smp_msg_t *held;
    unsigned done;
    ic_reactor_stats_t before, after;
} A;

static void late_timer(ic_timer_t *t)
{
    (void)t;
    ic_smp_reply(A.held, 0);
}

static int late_work(ic_smp_msg_t *m, void *arg)
{
    (void)arg;
    A.held = m;
    ic_timer_start(&A.timer, 2 * 1000 * 1000, 0);
    return IC_SMP_LATER;
}

static void late_done(void *arg, int status)
{
    (void)arg;
    (void)status;
    if (++A.done < T_LATE) {
        t_submit(1, late_work, late_done);
        return;
    }
    ic_reactor_stats(0, &A.after);
    ic_reactor_stop();
}

static void late_start(void *arg)
{
    (void)arg;
    if (ic_reactor_id() == 1)
        ic_timer_init(&A.timer, late_timer);
    if (ic_reactor_id() != 0)
        return;
    ic_reactor_stats(0, &A.before);
    t_submit(1, late_work, late_done);
}

Test(poll, a_peer_that_is_always_late_is_rarely_polled_for, .timeout = 60)
{
    memset(&A, 0, sizeof(A));
    atomic_store(&submit_errors, 0);
    ic_reactor_config_t cfg = t_config(2, late_start, NULL);
    cfg.spin_us = 100;
    t_run(&cfg);
    cr_assert_eq(atomic_load(&submit_errors), 0);
    cr_assert_eq(A.done, T_LATE);
    /* 4 misses, then one probe in 16 waits; room for a few turns more than one per request. */
    cr_assert_leq(A.after.spins - A.before.spins, 12, "core 0 polled %llu times for %u late answers",
                  (unsigned long long)(A.after.spins - A.before.spins), T_LATE);
    cr_assert_geq(A.after.sleeps - A.before.sleeps, T_LATE / 2, "core 0 slept %llu times in %u waits of 2 ms",
                  (unsigned long long)(A.after.sleeps - A.before.sleeps), T_LATE);
}
