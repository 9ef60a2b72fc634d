/*
 * test_timer.c: reactor timers fire in deadline order, equal deadlines in arming order, repeat, and stop.
 */
#include <stdlib.h>

#include "t_util.h"

#define T_N 200

static struct {
    ic_timer_t t[T_N];
    uint64_t delay[T_N];
    unsigned order[T_N];
    unsigned fired;
    uint64_t fired_at[T_N], armed_at;
} S;

static void order_cb(ic_timer_t *t)
{
    unsigned i = (unsigned)(t - S.t);
    S.fired_at[S.fired] = ic_clock_ns();
    S.order[S.fired++] = i;
    if (S.fired == T_N)
        ic_reactor_stop();
}

static void order_start(void *arg)
{
    srand(7);
    S.armed_at = ic_reactor_now();
    for (unsigned i = 0; i < T_N; i++) {
        /* Few distinct delays, so many timers share a deadline. */
        S.delay[i] = (uint64_t)(rand() % 8) * 2 * 1000 * 1000;
        ic_timer_init(&S.t[i], order_cb);
        cr_assert_eq(ic_timer_start(&S.t[i], S.delay[i], 0), 0);
    }
}

Test(timer, fire_in_order, .timeout = 30)
{
    memset(&S, 0, sizeof(S));
    ic_reactor_config_t cfg = t_config(1, order_start, NULL);
    t_run(&cfg);
    cr_assert_eq(S.fired, T_N);
    for (unsigned k = 1; k < T_N; k++) {
        unsigned a = S.order[k - 1], b = S.order[k];
        cr_assert(S.delay[a] < S.delay[b] || (S.delay[a] == S.delay[b] && a < b), "timer %u (%lu ns) fired after %u (%lu ns)", b,
                  (unsigned long)S.delay[b], a, (unsigned long)S.delay[a]);
    }
    for (unsigned k = 0; k < T_N; k++) {
        unsigned i = S.order[k];
        cr_assert_geq(S.fired_at[k], S.armed_at + S.delay[i], "timer %u fired early", i);
    }
}

static struct {
    ic_timer_t rep, stopped, end;
    unsigned rep_count, stopped_count;
} R;

static void rep_cb(ic_timer_t *t)
{
    R.rep_count++;
}

static void stopped_cb(ic_timer_t *t)
{
    R.stopped_count++;
}

static void end_cb(ic_timer_t *t)
{
    ic_timer_stop(&R.rep);
    ic_reactor_stop();
}

static void rep_start(void *arg)
{
    ic_timer_init(&R.rep, rep_cb);
    ic_timer_init(&R.stopped, stopped_cb);
    ic_timer_init(&R.end, end_cb);
    ic_timer_start(&R.rep, 5 * 1000 * 1000, 5 * 1000 * 1000);
    ic_timer_start(&R.stopped, 10 * 1000 * 1000, 0);
    ic_timer_start(&R.end, 100 * 1000 * 1000, 0);
    cr_assert(ic_timer_active(&R.stopped));
    ic_timer_stop(&R.stopped);
    cr_assert(!ic_timer_active(&R.stopped));
}

Test(timer, repeat_and_stop, .timeout = 30)
{
    memset(&R, 0, sizeof(R));
    ic_reactor_config_t cfg = t_config(1, rep_start, NULL);
    t_run(&cfg);
    cr_assert_eq(R.stopped_count, 0, "a stopped timer fired");
    /* 100 ms at a 5 ms period: at most 20 firings; a loaded machine may fire fewer, never none. */
    cr_assert(R.rep_count >= 2 && R.rep_count <= 20, "repeating timer fired %u times", R.rep_count);
}

/* A timer re-armed with zero delay from its own callback must not starve the loop (it waits for the next turn). */
static struct {
    ic_timer_t spin;
    ic_task_t task;
    unsigned spins;
    bool task_ran;
} Z;

static void zero_cb(ic_timer_t *t)
{
    Z.spins++;
    if (Z.task_ran) {
        ic_reactor_stop();
        return;
    }
    ic_timer_start(t, 0, 0);
}

static void zero_task(ic_task_t *t)
{
    Z.task_ran = true;
}

static void zero_start(void *arg)
{
    ic_timer_init(&Z.spin, zero_cb);
    ic_timer_start(&Z.spin, 0, 0);
    ic_task_post(&Z.task, zero_task);
}

Test(timer, zero_delay_rearm_does_not_starve, .timeout = 30)
{
    memset(&Z, 0, sizeof(Z));
    ic_reactor_config_t cfg = t_config(1, zero_start, NULL);
    t_run(&cfg);
    cr_assert(Z.task_ran);
    cr_assert_lt(Z.spins, 1000);
}
