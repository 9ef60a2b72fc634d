/*
 * bench/isolates: three ways to give threads V8 isolates, from
 * ../shared/seeds/000 ("Legacy vs Shared Pool vs Thread-Pinned"):
 *
 *   legacy  a new isolate (and context) for every task, disposed after it;
 *   shared  one global pool of I isolates under a mutex; a thread takes one
 *           (waiting if none is free), enters it under v8::Locker, runs the
 *           task, gives it back;
 *   pinned  each thread owns its own isolates (max(1, I / T)) and never
 *           shares them: no lock, no Locker.
 *
 * A task runs a small CPU-bound script in the isolate, then "waits for I/O"
 * (sleeps io-delay ms) without holding it. Prints throughput (tasks/s) and,
 * for the shared pool, the lock contention: the share of the threads' time
 * spent waiting for an isolate.
 *
 *   bench_isolates [--threads T] [--isolates I] [--tasks N] [--io-delay MS] [--table]
 *
 * --table runs the seed's configurations and prints its tables. It is the
 * only C++ outside js/: it needs v8::Locker, which the C API does not expose.
 */
#include <v8.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <pthread.h>
#include <unistd.h>

extern "C" {
#include "isocore/js.h"
}

namespace
{

const char kScript[] = "(() => { let s = 0; for (let i = 0; i < 20000; i++) s = (s + i * i) % 1000003; return s; })()";

double now_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct Iso {
    v8::Isolate *isolate;
    v8::Global<v8::Context> context;
    v8::ArrayBuffer::Allocator *alloc;
    bool locked;
};

/* Makes an isolate with one context; `locked`: it will move between threads, so every use takes v8::Locker (V8 then requires it
 * always). */
Iso *iso_new(bool locked)
{
    Iso *i = new Iso;
    v8::Isolate::CreateParams p;
    i->alloc = v8::ArrayBuffer::Allocator::NewDefaultAllocator();
    p.array_buffer_allocator = i->alloc;
    i->isolate = v8::Isolate::New(p);
    i->locked = locked;
    {
        v8::Locker *lock = locked ? new v8::Locker(i->isolate) : nullptr;
        v8::Isolate::Scope is(i->isolate);
        v8::HandleScope hs(i->isolate);
        i->context.Reset(i->isolate, v8::Context::New(i->isolate));
        delete lock;
    }
    return i;
}

void iso_free(Iso *i)
{
    if (i->locked) {
        v8::Locker lock(i->isolate);
        i->context.Reset();
    } else {
        i->context.Reset();
    }
    i->isolate->Dispose();
    delete i->alloc;
    delete i;
}

/* Runs the task's script in i (the caller holds the isolate: Locker or sole owner). */
void run_script(Iso *i)
{
    v8::Isolate::Scope is(i->isolate);
    v8::HandleScope hs(i->isolate);
    v8::Local<v8::Context> ctx = i->context.Get(i->isolate);
    v8::Context::Scope cs(ctx);
    v8::Local<v8::String> src = v8::String::NewFromUtf8Literal(i->isolate, kScript);
    v8::Local<v8::Script> script;
    v8::Local<v8::Value> out;
    if (!v8::Script::Compile(ctx, src).ToLocal(&script) || !script->Run(ctx).ToLocal(&out)) {
        fprintf(stderr, "bench_isolates: the script failed\n");
        abort();
    }
}

enum Mode { LEGACY, SHARED, PINNED };

struct Config {
    Mode mode;
    int threads, isolates, tasks;
    double io_ms;
};

/* The shared pool: a stack of free isolates under one mutex. */
struct Shared {
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    Iso **free_list = nullptr;
    int nfree = 0;
};

struct Run {
    const Config *cfg;
    Shared shared;
    std::atomic<int> next{0};
    std::atomic<long long> wait_ns{0}, busy_ns{0};
    pthread_barrier_t
        ready; /* the clock starts once every thread made its own isolates (pinned), as the shared pool's are made before */
};

void io_wait(double ms)
{
    if (ms > 0)
        usleep((useconds_t)(ms * 1000));
}

void *worker(void *arg)
{
    Run *run = static_cast<Run *>(arg);
    const Config *cfg = run->cfg;
    Iso **mine = nullptr;
    int nmine = 0, rr = 0;
    if (cfg->mode == PINNED) {
        nmine = cfg->isolates / cfg->threads > 0 ? cfg->isolates / cfg->threads : 1;
        mine = new Iso *[nmine];
        for (int k = 0; k < nmine; k++)
            mine[k] = iso_new(false);
    }
    pthread_barrier_wait(&run->ready);
    double t0 = now_s(), waited = 0;
    while (run->next.fetch_add(1) < cfg->tasks) {
        if (cfg->mode == LEGACY) {
            Iso *i = iso_new(false); /* this thread's alone, for one task */
            run_script(i);
            iso_free(i);
        } else if (cfg->mode == SHARED) {
            double w0 = now_s();
            pthread_mutex_lock(&run->shared.mu);
            while (run->shared.nfree == 0)
                pthread_cond_wait(&run->shared.cv, &run->shared.mu);
            Iso *i = run->shared.free_list[--run->shared.nfree];
            pthread_mutex_unlock(&run->shared.mu);
            waited += now_s() - w0;
            {
                v8::Locker lock(i->isolate); /* the isolate moves between threads */
                run_script(i);
            }
            pthread_mutex_lock(&run->shared.mu);
            run->shared.free_list[run->shared.nfree++] = i;
            pthread_cond_signal(&run->shared.cv);
            pthread_mutex_unlock(&run->shared.mu);
        } else {
            run_script(mine[rr++ % nmine]); /* owned by this thread alone: no Locker */
        }
        io_wait(cfg->io_ms);
    }
    for (int k = 0; k < nmine; k++)
        iso_free(mine[k]);
    delete[] mine;
    run->wait_ns += (long long)(waited * 1e9);
    run->busy_ns += (long long)((now_s() - t0) * 1e9);
    return nullptr;
}

/* Runs one configuration; returns tasks/s and sets *contention (shared only). */
double measure(const Config &cfg, double *contention)
{
    Run run;
    run.cfg = &cfg;
    if (cfg.mode == SHARED) {
        run.shared.free_list = new Iso *[cfg.isolates];
        for (int k = 0; k < cfg.isolates; k++)
            run.shared.free_list[run.shared.nfree++] = iso_new(true);
    }
    pthread_t *th = new pthread_t[cfg.threads];
    pthread_barrier_init(&run.ready, nullptr, (unsigned)cfg.threads + 1);
    for (int k = 0; k < cfg.threads; k++)
        pthread_create(&th[k], nullptr, worker, &run);
    pthread_barrier_wait(&run.ready);
    double t0 = now_s();
    for (int k = 0; k < cfg.threads; k++)
        pthread_join(th[k], nullptr);
    double secs = now_s() - t0;
    pthread_barrier_destroy(&run.ready);
    delete[] th;
    if (cfg.mode == SHARED) {
        for (int k = 0; k < run.shared.nfree; k++)
            iso_free(run.shared.free_list[k]);
        delete[] run.shared.free_list;
    }
    if (contention)
        *contention = run.busy_ns ? 100.0 * (double)run.wait_ns / (double)run.busy_ns : 0;
    return cfg.tasks / secs;
}

void row(const char *label, int t, int i, double io, int tasks)
{
    double c = 0, r[3];
    Mode modes[3] = {LEGACY, SHARED, PINNED};
    for (int m = 0; m < 3; m++) {
        Config cfg = {modes[m], t, i, tasks, io};
        r[m] = measure(cfg, m == SHARED ? &c : nullptr);
    }
    printf("| %s | %dt/%di/%gms | %.0f | %.0f | %.0f | %.2f | %.2f | %.1f %% |\n", label, t, i, io, r[0], r[1], r[2], r[2] / r[0],
           r[2] / r[1], c);
    fflush(stdout);
}

} // namespace

int main(int argc, char **argv)
{
    int threads = 4, isolates = 4, tasks = 2000;
    double io = 2;
    bool table = false;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : nullptr;
        if (!strcmp(a, "--table")) {
            table = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_isolates: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else if (!strcmp(a, "--isolates"))
            isolates = atoi(v);
        else if (!strcmp(a, "--tasks"))
            tasks = atoi(v);
        else if (!strcmp(a, "--io-delay"))
            io = atof(v);
        else {
            fprintf(stderr, "usage: bench_isolates [--threads T] [--isolates I] [--tasks N] [--io-delay MS] [--table]\n");
            return 2;
        }
        k++;
    }
    if (threads < 1 || isolates < 1 || tasks < 1 || io < 0) {
        fprintf(stderr, "bench_isolates: threads, isolates and tasks must be >= 1, io-delay >= 0\n");
        return 2;
    }
    int err = ic_js_platform_init();
    if (err < 0) {
        fprintf(stderr, "bench_isolates: V8: %s\n", ic_strerror(err));
        return 1;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("# bench_isolates — %ld CPUs, V8 %s; task = a 20k-iteration loop, then io-delay outside the isolate\n", cpus,
           v8::V8::GetVersion());
    printf("| test | config | legacy (tasks/s) | shared | pinned | pinned/legacy | pinned/shared | shared contention |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
    if (!table) {
        row("custom", threads, isolates, io, tasks);
    } else {
        /* The seed's configurations; fewer tasks where a task is long (I/O) to bound the time. */
        row("standard", 4, 4, 2, 1000);
        row("more threads", 8, 4, 2, 1000);
        row("CPU-bound", 8, 4, 0, 2000);
        row("high contention", 8, 2, 2, 1000);
        row("I/O heavy", 4, 2, 20, 200);
        row("extreme", 8, 1, 0, 2000);
        for (int i : {1, 2, 4, 8})
            row("isolates", 8, i, 2, 1000);
        for (double d : {0.0, 1.0, 5.0, 10.0, 20.0})
            row("I/O delay", 8, 2, d, d >= 10 ? 300 : 1000);
    }
    ic_js_platform_shutdown();
    return 0;
}
