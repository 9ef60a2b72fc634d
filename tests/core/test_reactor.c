/*
 * test_reactor.c: reactor count and pinning, io_uring modes, operations and tasks.
 */
#include <sched.h>
#include <stdlib.h>

#include "t_util.h"

static struct {
    _Atomic unsigned started;
    int cpu_seen[8];
} P;

static void count_start(void *arg)
{
    int id = ic_reactor_id();
    if (id < 8)
        P.cpu_seen[id] = sched_getcpu();
    if (atomic_fetch_add(&P.started, 1) + 1 == ic_reactor_count())
        ic_reactor_stop();
}

Test(reactor, taskset_one_cpu_gives_one_reactor, .timeout = 30)
{
    cpu_set_t old, one;
    sched_getaffinity(0, sizeof(old), &old);
    int cpu = -1;
    for (int c = 0; c < CPU_SETSIZE && cpu < 0; c++)
        if (CPU_ISSET(c, &old))
            cpu = c;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
    memset(&P, 0, sizeof(P));
    ic_reactor_config_t cfg = t_config(0, count_start, NULL);
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    cr_assert_eq(ic_reactor_count(), 1);
    cr_assert_eq(ic_reactor_cpu(0), cpu);
    cr_assert_eq(ic_reactor_wait(), 0);
    sched_setaffinity(0, sizeof(old), &old);
    cr_assert_eq(atomic_load(&P.started), 1);
    cr_assert_eq(P.cpu_seen[0], cpu);
}

Test(reactor, one_per_cpu_pinned, .timeout = 30)
{
    cpu_set_t set;
    sched_getaffinity(0, sizeof(set), &set);
    unsigned ncpu = (unsigned)CPU_COUNT(&set);
    memset(&P, 0, sizeof(P));
    ic_reactor_config_t cfg = t_config(0, count_start, NULL);
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    cr_assert_eq(ic_reactor_count(), ncpu);
    cr_assert_eq(ic_reactor_wait(), 0);
    for (unsigned i = 0; i < ncpu && i < 8; i++)
        cr_assert(CPU_ISSET(P.cpu_seen[i], &set));
    if (ncpu >= 2)
        cr_assert_neq(P.cpu_seen[0], P.cpu_seen[1], "two reactors ran on one CPU");
}

Test(reactor, more_reactors_than_cpus_are_not_pinned, .timeout = 30)
{
    memset(&P, 0, sizeof(P));
    ic_reactor_config_t cfg = t_config(6, count_start, NULL);
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    cr_assert_eq(ic_reactor_count(), 6);
    cr_assert_eq(ic_reactor_cpu(5), -1);
    cr_assert_eq(ic_reactor_wait(), 0);
    cr_assert_eq(atomic_load(&P.started), 6);
}

Test(reactor, bad_config, .timeout = 30)
{
    ic_reactor_config_t cfg = t_config(2, NULL, NULL);
    cfg.smp_ring = 1000; /* not a power of two */
    cr_assert_eq(ic_reactor_start(&cfg), -EINVAL);
    cfg = t_config(IC_MAX_CORES + 1, NULL, NULL);
    cr_assert_eq(ic_reactor_start(&cfg), -EINVAL);
    cr_assert_eq(ic_reactor_count(), 0);
    cr_assert_eq(ic_reactor_wait(), -EINVAL);
}

/* A NOP and a timeout op go through io_uring; tasks run in FIFO order. */
struct t_op {
    ic_op_t op;
    int res;
    int calls;
};
static struct {
    struct t_op nop, tmo;
    struct __kernel_timespec ts;
    ic_task_t tasks[5];
    int task_order[5], ntasks;
} O;

static void op_cb(ic_op_t *op, int res, unsigned flags)
{
    struct t_op *t = (struct t_op *)op;
    t->res = res;
    t->calls++;
    if (O.nop.calls && O.tmo.calls)
        ic_reactor_stop();
}

static void task_cb(ic_task_t *t)
{
    O.task_order[O.ntasks++] = (int)(t - O.tasks);
}

static void ops_start(void *arg)
{
    O.nop.op.cb = op_cb;
    O.tmo.op.cb = op_cb;
    io_uring_prep_nop(ic_reactor_sqe(&O.nop.op));
    O.ts.tv_nsec = 5 * 1000 * 1000;
    io_uring_prep_timeout(ic_reactor_sqe(&O.tmo.op), &O.ts, 0, 0);
    for (int i = 0; i < 5; i++)
        ic_task_post(&O.tasks[i], task_cb);
}

static void ops_test(const char *mode)
{
    if (mode)
        setenv("ISOCORE_IOURING_MODE", mode, 1);
    memset(&O, 0, sizeof(O));
    ic_reactor_config_t cfg = t_config(1, ops_start, NULL);
    cr_assert_eq(ic_reactor_start(&cfg), 0);
    if (mode)
        cr_assert_str_eq(ic_reactor_mode(), mode);
    cr_assert_eq(ic_reactor_wait(), 0);
    cr_assert_eq(O.nop.calls, 1);
    cr_assert_eq(O.nop.res, 0);
    cr_assert_eq(O.tmo.calls, 1);
    cr_assert_eq(O.tmo.res, -ETIME);
    cr_assert_eq(O.ntasks, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(O.task_order[i], i);
}

Test(reactor, ops_and_tasks_defer_taskrun, .timeout = 30)
{
    ops_test(NULL);
}

Test(reactor, ops_and_tasks_coop_taskrun, .timeout = 30)
{
    ops_test("coop_taskrun");
}

Test(reactor, ops_and_tasks_plain, .timeout = 30)
{
    ops_test("plain");
}
