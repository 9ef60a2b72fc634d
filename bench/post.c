/*
 * bench/post.c: ic_reactor_post figures. Prints a table; never fails.
 *
 *   bench_post [--quick]
 *
 * A thread that is not a reactor (as a V8 compile thread is) posts to one
 * reactor and waits for the callback to run there; latency = post → the
 * callback starts, p50/p99:
 *   - with the reactor asleep in io_uring_enter (each post waits until the
 *     reactor's sleep counter moved): the eventfd doorbell's wake-up;
 *   - with the reactor awake (a timer due every 10 us keeps it turning):
 *     the post is picked up at the top of its next loop turn.
 * And posts/s from one thread with the reactor draining them (throughput).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isocore.h"

static bool quick;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static struct {
    ic_post_t post;
    _Atomic uint64_t ran_ns;
    _Atomic unsigned ran;
    ic_timer_t busy;
    bool keep_busy;
} B;

static void on_post(ic_post_t *p)
{
    atomic_store_explicit(&B.ran_ns, ic_clock_ns(), memory_order_relaxed);
    atomic_fetch_add_explicit(&B.ran, 1, memory_order_release);
}

/* Keeps the reactor turning: a timer due every 10 µs (it never sleeps long enough to need a doorbell). */
static void on_busy(ic_timer_t *t)
{
    if (!B.keep_busy)
        ic_timer_stop(t);
}

static void start_busy(ic_post_t *p)
{
    ic_timer_init(&B.busy, on_busy);
    ic_timer_start(&B.busy, 0, 10 * 1000);
    atomic_fetch_add_explicit(&B.ran, 1, memory_order_release);
}

static void wait_ran(unsigned n)
{
    while (atomic_load_explicit(&B.ran, memory_order_acquire) < n)
        sched_yield();
}

static void latency(const char *what, bool asleep, unsigned samples)
{
    uint64_t *lat = calloc(samples, sizeof(*lat));
    ic_reactor_stats_t st;
    ic_reactor_stats(0, &st);
    uint64_t slept = st.sleeps > 0 ? st.sleeps - 1 : 0;
    for (unsigned i = 0; i < samples; i++) {
        if (asleep) {
            /* Wait until the reactor went to sleep after the last post ran (it has nothing else to do). */
            do {
                sched_yield();
                ic_reactor_stats(0, &st);
            } while (st.sleeps <= slept);
            slept = st.sleeps;
        }
        unsigned before = atomic_load(&B.ran);
        uint64_t t0 = ic_clock_ns();
        ic_reactor_post(0, &B.post, on_post);
        wait_ran(before + 1);
        lat[i] = atomic_load_explicit(&B.ran_ns, memory_order_relaxed) - t0;
    }
    qsort(lat, samples, sizeof(*lat), cmp_u64);
    printf("  %-34s p50 %7.1f us   p99 %7.1f us   (%u samples)\n", what, lat[samples / 2] / 1e3, lat[samples * 99 / 100] / 1e3,
           samples);
    free(lat);
}

int main(int argc, char **argv)
{
    quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    unsigned samples = quick ? 200 : 2000;
    ic_reactor_config_t cfg;
    ic_reactor_config_init(&cfg);
    cfg.cores = 1;
    cfg.quiet = true;
    cfg.handle_signals = false;
    if (ic_reactor_start(&cfg) != 0) {
        fprintf(stderr, "bench_post: cannot start a reactor\n");
        return 1;
    }
    printf("ic_reactor_post from a non-reactor thread to reactor 0 (%s)\n", ic_reactor_cpu(0) >= 0 ? "pinned" : "not pinned");
    latency("reactor asleep (eventfd doorbell)", true, samples);
    B.keep_busy = true;
    unsigned before = atomic_load(&B.ran);
    static ic_post_t busy_post;
    ic_reactor_post(0, &busy_post, start_busy);
    wait_ran(before + 1);
    latency("reactor awake (a 10 us timer)", false, samples);
    B.keep_busy = false;

    /* Throughput: many posts in flight (each its own handle), drained by the reactor. */
    unsigned n = quick ? 100000 : 1000000;
    ic_post_t *many = calloc(n, sizeof(*many));
    before = atomic_load(&B.ran);
    uint64_t t0 = ic_clock_ns();
    for (unsigned i = 0; i < n; i++)
        ic_reactor_post(0, &many[i], on_post);
    wait_ran(before + n);
    double s = (double)(ic_clock_ns() - t0) / 1e9;
    printf("  %-34s %.2f M posts/s (%u posts)\n", "one producer, reactor draining", n / s / 1e6, n);
    free(many);
    ic_reactor_stop();
    ic_reactor_wait();
    return 0;
}
