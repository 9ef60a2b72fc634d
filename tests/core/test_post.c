/*
 * test_post.c: work posted to reactors by threads that are not reactors
 * (ic_reactor_post): a sleeping reactor is woken, many producers keep their
 * order and lose nothing, a callback may post again, bad arguments fail.
 */
#include <pthread.h>
#include <sched.h>

#include "t_util.h"

/* ---- a sleeping reactor is woken ----------------------------------------------------------- */

static struct {
    ic_post_t post;
    _Atomic int ran;
    int ran_on;
    pthread_t thread;
    uint64_t posted_ns, ran_ns;
} W;

static void wake_cb(ic_post_t *p)
{
    cr_assert_eq(p, &W.post);
    W.ran_on = ic_reactor_id();
    W.thread = pthread_self();
    W.ran_ns = ic_clock_ns();
    atomic_store(&W.ran, 1);
    ic_reactor_stop();
}

/* Waits (bounded) until reactor 0 has gone to sleep at least `n` times. */
static void t_wait_sleeps(uint64_t n)
{
    ic_reactor_stats_t st;
    uint64_t until = ic_clock_ns() + 10ull * 1000000000u;
    do {
        ic_reactor_stats(0, &st);
        if (st.sleeps >= n)
            return;
        sched_yield();
    } while (ic_clock_ns() < until);
    cr_assert_fail("reactor 0 never went to sleep");
}

static void t_wake(ic_doorbell_t bell)
{
    memset(&W, 0, sizeof(W));
    ic_reactor_config_t cfg = t_config(1, NULL, NULL);
    cfg.doorbell = bell;
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    /* Nothing to do and no timer: the reactor sleeps in io_uring_enter with no deadline. Only the post's doorbell can wake it. */
    t_wait_sleeps(1);
    ic_reactor_stats_t before;
    ic_reactor_stats(0, &before);
    W.posted_ns = ic_clock_ns();
    cr_assert_eq(ic_reactor_post(0, &W.post, wake_cb), 0);
    cr_assert_eq(ic_reactor_wait(), 0);
    cr_assert_eq(atomic_load(&W.ran), 1);
    cr_assert_eq(W.ran_on, 0, "the post ran off its reactor");
    cr_assert(!pthread_equal(W.thread, pthread_self()));
    cr_log_info("post to a sleeping reactor ran %.1f us later", (double)(W.ran_ns - W.posted_ns) / 1000.0);
}

Test(post, wakes_a_sleeping_reactor_msg_ring_config, .timeout = 20)
{
    t_wake(IC_DOORBELL_MSG_RING);
}

Test(post, wakes_a_sleeping_reactor_eventfd_config, .timeout = 20)
{
    t_wake(IC_DOORBELL_EVENTFD);
}

/* ---- many producers ------------------------------------------------------------------------ */

#define T_PRODUCERS 4
#define T_PER 20000
#define T_CORES 2

struct t_item {
    ic_post_t post;
    unsigned producer, seq;
};

static struct {
    struct t_item items[T_PRODUCERS][T_PER];
    /* next[core][producer]: the next sequence number `core` must see from `producer` (touched by that core only). */
    unsigned next[T_CORES][T_PRODUCERS];
    _Atomic unsigned order_errors, wrong_core, ran, busy;
    pthread_t threads[T_PRODUCERS];
} M;

static void many_cb(ic_post_t *p)
{
    struct t_item *it = (struct t_item *)p;
    int core = ic_reactor_id();
    if (core < 0 || core >= T_CORES || (unsigned)core != it->seq % T_CORES) {
        atomic_fetch_add(&M.wrong_core, 1);
    } else {
        if (it->seq != M.next[core][it->producer])
            atomic_fetch_add(&M.order_errors, 1);
        M.next[core][it->producer] = it->seq + T_CORES;
    }
    if (atomic_fetch_add(&M.ran, 1) + 1 == T_PRODUCERS * T_PER)
        ic_reactor_stop();
}

static void *producer(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < T_PER; i++) {
        struct t_item *it = &M.items[id][i];
        it->producer = id;
        it->seq = i;
        if (ic_reactor_post(i % T_CORES, &it->post, many_cb) != 0)
            atomic_fetch_add(&M.busy, 1);
    }
    return NULL;
}

Test(post, many_producers_lose_nothing_and_keep_their_order, .timeout = 60)
{
    memset(&M, 0, sizeof(M));
    for (unsigned c = 0; c < T_CORES; c++)
        for (unsigned p = 0; p < T_PRODUCERS; p++)
            M.next[c][p] = c;
    ic_reactor_config_t cfg = t_config(T_CORES, NULL, NULL);
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    for (unsigned p = 0; p < T_PRODUCERS; p++)
        cr_assert_eq(pthread_create(&M.threads[p], NULL, producer, (void *)(uintptr_t)p), 0);
    /* Producers are joined before the reactors are waited for: nobody posts once ic_reactor_wait has returned. */
    for (unsigned p = 0; p < T_PRODUCERS; p++)
        pthread_join(M.threads[p], NULL);
    cr_assert_eq(ic_reactor_wait(), 0);
    cr_assert_eq(atomic_load(&M.busy), 0);
    cr_assert_eq(atomic_load(&M.ran), T_PRODUCERS * T_PER);
    cr_assert_eq(atomic_load(&M.wrong_core), 0);
    cr_assert_eq(atomic_load(&M.order_errors), 0);
    for (unsigned c = 0; c < T_CORES; c++)
        for (unsigned p = 0; p < T_PRODUCERS; p++)
            cr_assert_eq(M.next[c][p], T_PER + c, "core %u saw %u of producer %u", c, M.next[c][p], p);
}

/* ---- a callback posts again; posts from a reactor; bad arguments --------------------------------- */

static struct {
    ic_post_t post;
    unsigned hops;
    int last_core;
    _Atomic unsigned wrong;
} C;

static void chain_cb(ic_post_t *p)
{
    int core = ic_reactor_id();
    if (C.hops > 0 && core != (C.last_core + 1) % 2)
        atomic_fetch_add(&C.wrong, 1);
    C.last_core = core;
    if (++C.hops == 1000) {
        ic_reactor_stop();
        return;
    }
    /* The post is ours again inside its callback: it can go straight to the other core. */
    if (ic_reactor_post((unsigned)(core + 1) % 2, p, chain_cb) != 0)
        atomic_fetch_add(&C.wrong, 1);
}

static void chain_start(void *arg)
{
    if (ic_reactor_id() == 0)
        cr_assert_eq(ic_reactor_post(0, &C.post, chain_cb), 0);
}

Test(post, a_callback_reposts_across_cores, .timeout = 30)
{
    memset(&C, 0, sizeof(C));
    ic_reactor_config_t cfg = t_config(2, chain_start, NULL);
    t_run(&cfg);
    cr_assert_eq(C.hops, 1000);
    cr_assert_eq(atomic_load(&C.wrong), 0);
}

static void noop_cb(ic_post_t *p)
{
}

static void bad_start(void *arg)
{
    static ic_post_t p;
    cr_expect_eq(ic_reactor_post(1, &p, noop_cb), -EINVAL); /* one reactor only */
    cr_expect_eq(ic_reactor_post(0, NULL, noop_cb), -EINVAL);
    cr_expect_eq(ic_reactor_post(0, &p, NULL), -EINVAL);
    cr_expect(!ic_reactor_exiting());
    ic_reactor_stop();
}

Test(post, bad_arguments, .timeout = 20)
{
    static ic_post_t p;
    cr_assert_eq(ic_reactor_post(0, &p, noop_cb), -EINVAL); /* no reactors */
    ic_reactor_config_t cfg = t_config(1, bad_start, NULL);
    t_run(&cfg);
}
