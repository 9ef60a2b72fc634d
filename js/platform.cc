/*
 * platform.cc: the V8 platform, with each isolate's foreground tasks run on
 * the isolate's own reactor.
 *
 * V8 asks the embedder to run two kinds of work. Worker-thread tasks (GC
 * helpers, background compilation) stay with V8's default platform and its
 * thread pool. Foreground tasks belong to one isolate and must run on its
 * thread, between entries: they are how a background WebAssembly compile
 * hands its result back (WebAssembly.compile's promise settles in one), how
 * incremental GC and the memory reducer make progress, and more. The default
 * platform only queues them until someone calls PumpMessageLoop, which a
 * reactor asleep in io_uring_enter never does.
 *
 * So the platform here wraps the default one and gives every isolate its
 * own TaskRunner: a mutex-protected queue that any thread may post to (V8's
 * compile threads do). The first task posted to an idle runner posts the
 * runner to its reactor with ic_reactor_post, which wakes the reactor if it
 * sleeps; there the runner asks its worker (the pump callback given to
 * ic__js_platform_attach) to make one guarded entry, the same as a request
 * makes (watchdog CPU limit, HandleScope, TryCatch, microtask checkpoint),
 * inside which ic__js_platform_run_tasks runs the tasks that are due. A
 * promise that a parked request waits for settles in that checkpoint and the
 * response goes out. Delayed tasks wait in a second queue; the runner keeps
 * one reactor timer on the earliest of them.
 *
 * Lifetimes. V8 holds runners by shared_ptr (a background job may keep one
 * past its isolate), so a runner can outlive its isolate: once the isolate
 * is disposed (ic__js_platform_disposed) the runner is marked gone, its
 * queued tasks are freed, never run, and later posts are dropped. While a
 * runner is posted to its reactor it holds a reference to itself, dropped
 * when the post runs, so the post never points at freed memory. Isolates
 * that are not attached to a reactor (ic_js_isolate_t, the snapshot
 * builder's) keep their tasks queued until they are disposed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <libplatform/libplatform.h>
#include <v8.h>

#include "js/internal.hh"

namespace
{

class runner : public v8::TaskRunner, public std::enable_shared_from_this<runner>
{
  public:
    explicit runner(v8::Isolate *isolate) : isolate_(isolate)
    {
        post_.owner = this;
        timer_.owner = this;
        ic_timer_init(&timer_.timer, timer_fired);
    }

    void PostTask(std::unique_ptr<v8::Task> task) override
    {
        add(std::move(task), 0);
    }
    /* Tasks never run nested (one entry at a time, from the loop), so every task may be non-nestable. */
    void PostNonNestableTask(std::unique_ptr<v8::Task> task) override
    {
        add(std::move(task), 0);
    }
    void PostDelayedTask(std::unique_ptr<v8::Task> task, double delay_in_seconds) override
    {
        add(std::move(task), delay_ns(delay_in_seconds));
    }
    void PostNonNestableDelayedTask(std::unique_ptr<v8::Task> task, double delay_in_seconds) override
    {
        add(std::move(task), delay_ns(delay_in_seconds));
    }
    void PostIdleTask(std::unique_ptr<v8::IdleTask> task) override
    {
        /* Never called: IdleTasksEnabled() is false. Dropped if it is. */
    }
    bool IdleTasksEnabled() override
    {
        return false;
    }
    bool NonNestableTasksEnabled() const override
    {
        return true;
    }
    bool NonNestableDelayedTasksEnabled() const override
    {
        return true;
    }

    /* Binds the runner to a reactor and a worker (on that reactor's thread); tasks queued before now are scheduled. */
    void attach(int core, ic__js_pump_cb pump, void *data)
    {
        std::shared_ptr<runner> release;
        {
            std::lock_guard<std::mutex> lock(mu_);
            core_ = core;
            pump_ = pump;
            pump_data_ = data;
            release = schedule_locked();
        }
    }

    /* The isolate is disposed: drop every task, now and later. On the isolate's thread. */
    void dispose()
    {
        std::deque<std::unique_ptr<v8::Task>> ready;
        std::multimap<uint64_t, std::unique_ptr<v8::Task>> delayed;
        {
            std::lock_guard<std::mutex> lock(mu_);
            gone_ = true;
            ready.swap(ready_);
            delayed.swap(delayed_);
            pump_ = nullptr;
        }
        /* The timer is armed only on the reactor's thread, and so is this call when it was attached to one. */
        ic_timer_stop(&timer_.timer);
        /* ready and delayed free their tasks here, outside the lock (a task's destructor may post again: dropped). */
    }

    /*
     * Runs the tasks that are due (inside the worker's entry, on the
     * reactor). Tasks posted while they run wait for the next entry, so a
     * task that posts itself cannot hold the core. Stops early when the
     * entry is being terminated (the CPU limit): the rest run in a later entry.
     */
    unsigned run_due()
    {
        size_t n;
        {
            std::lock_guard<std::mutex> lock(mu_);
            move_due_locked(ic_clock_ns());
            n = ready_.size();
        }
        unsigned ran = 0;
        while (ran < n && !isolate_->IsExecutionTerminating()) {
            std::unique_ptr<v8::Task> task;
            {
                std::lock_guard<std::mutex> lock(mu_);
                if (gone_ || ready_.empty())
                    break;
                task = std::move(ready_.front());
                ready_.pop_front();
            }
            task->Run();
            ran++;
        }
        std::lock_guard<std::mutex> lock(mu_);
        runs_++;
        return ran;
    }

  private:
    static uint64_t delay_ns(double s)
    {
        if (!(s > 0))
            return 0;
        if (s > 1e6)
            s = 1e6; /* eleven days is "never" for a V8 task, and keeps the sum below from overflowing */
        return (uint64_t)(s * 1e9);
    }

    void add(std::unique_ptr<v8::Task> task, uint64_t delay)
    {
        std::shared_ptr<runner> release;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (gone_)
                return; /* the task is freed as it goes out of scope, after the lock */
            if (delay)
                delayed_.emplace(ic_clock_ns() + delay, std::move(task));
            else
                ready_.push_back(std::move(task));
            release = schedule_locked();
        }
    }

    /*
     * Posts the runner to its reactor unless it is posted already or has no
     * reactor. Returns a reference the caller drops after unlocking (when
     * the post failed, that may be the last one).
     */
    std::shared_ptr<runner> schedule_locked()
    {
        if (posted_ || core_ < 0 || gone_)
            return nullptr;
        self_ = shared_from_this();
        posted_ = true;
        if (ic_reactor_post((unsigned)core_, &post_.post, post_run) == 0)
            return nullptr;
        /* The reactor has exited: the tasks stay queued and are freed with the isolate. */
        posted_ = false;
        return std::move(self_);
    }

    void move_due_locked(uint64_t now)
    {
        while (!delayed_.empty() && delayed_.begin()->first <= now) {
            ready_.push_back(std::move(delayed_.begin()->second));
            delayed_.erase(delayed_.begin());
        }
    }

    /* On the reactor: re-arms the timer on the earliest delayed task and pumps if a task is due. */
    void service()
    {
        std::shared_ptr<runner> keep = shared_from_this();
        bool due;
        uint64_t next;
        ic__js_pump_cb pump;
        void *data;
        uint64_t runs;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (gone_ || ic_reactor_exiting())
                return;
            move_due_locked(ic_clock_ns());
            due = !ready_.empty();
            next = delayed_.empty() ? 0 : delayed_.begin()->first;
            pump = pump_;
            data = pump_data_;
            runs = runs_;
        }
        if (next) {
            uint64_t now = ic_clock_ns();
            ic_timer_start(&timer_.timer, next > now ? next - now : 0, 0);
        } else {
            ic_timer_stop(&timer_.timer);
        }
        if (due && pump)
            pump(data); /* may dispose the isolate (a broken worker is replaced): keep holds the runner */
        /*
         * Tasks posted while the entry ran were queued behind it: schedule
         * another turn. Only when the entry did run tasks: a worker that
         * declined (it is broken and about to be replaced) would otherwise
         * be pumped again and again by its own queue.
         */
        std::shared_ptr<runner> release;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (!gone_ && !ready_.empty() && runs_ != runs)
                release = schedule_locked();
        }
    }

    static void post_run(ic_post_t *p)
    {
        runner *r = reinterpret_cast<post_hook *>(p)->owner;
        std::shared_ptr<runner> self;
        {
            std::lock_guard<std::mutex> lock(r->mu_);
            r->posted_ = false;
            self = std::move(r->self_);
        }
        r->service();
    }

    static void timer_fired(ic_timer_t *t)
    {
        runner *r = reinterpret_cast<timer_hook *>(t)->owner;
        r->service();
    }

    v8::Isolate *const isolate_;
    std::mutex mu_;
    /* Under mu_: */
    std::deque<std::unique_ptr<v8::Task>> ready_;
    std::multimap<uint64_t, std::unique_ptr<v8::Task>> delayed_; /* by deadline (ic_clock_ns) */
    bool gone_ = false, posted_ = false;
    int core_ = -1;
    ic__js_pump_cb pump_ = nullptr;
    void *pump_data_ = nullptr;
    uint64_t runs_ = 0; /* entries that ran tasks, to tell a pump that ran from one that declined */

  public:
    /*
     * The isolate's wasm memory budget (see the page allocator below): bytes
     * committed to its wasm memories, the limit they share with its
     * ArrayBuffers (0: none), and whether it was passed. Written on the
     * isolate's thread; freed regions may be uncounted from other threads.
     */
    std::atomic<int64_t> wasm_bytes{0};
    std::atomic<bool> wasm_over{false}, wasm_soft{false};
    size_t wasm_limit = 0;
    const ic__js_allocator *buffers = nullptr;

  private:
    std::shared_ptr<runner> self_; /* while posted */
    /* The post and the timer lead their hooks (C structs: a hook's address is its first field's). */
    struct post_hook {
        ic_post_t post;
        runner *owner;
    } post_;
    /* The reactor's only: */
    struct timer_hook {
        ic_timer_t timer;
        runner *owner;
    } timer_;
};

class platform;
extern platform *the_platform;
std::shared_ptr<runner> runner_of(v8::Isolate *isolate);

/*
 * The page allocator, counting WebAssembly memories against their tenant.
 *
 * V8 (10.2, as libnode builds it: no trap handler, so no guard regions)
 * does not take wasm memory from the ArrayBuffer allocator. It reserves the
 * memory's whole capacity with AllocatePages (64 KiB aligned: the wasm page
 * size, an alignment nothing else in V8 asks for; heap pages are 256 KiB,
 * code pages 4 KiB), then commits [start, start + length) read-write with
 * SetPermissions at creation and at each grow, and frees the reservation
 * with FreePages when the memory dies (possibly on a GC thread). Its own
 * figure (external memory) counts a grown memory twice and never uncounts
 * the growth, so it cannot serve as a limit.
 *
 * A reservation made on a thread whose current isolate has a budget is
 * recorded with that isolate's runner. Dead memories stay counted until a
 * GC frees them, so the limit is enforced in two steps:
 *  - soft, past the limit: allowed, but flagged; when the entry ends the
 *    worker collects garbage and looks again (wasm.cc), and only then
 *    answers 503 and is recycled, as at the heap limit;
 *  - hard, past twice the limit: refused on the spot. A new memory fails
 *    (V8 collects garbage and retries first, then throws a RangeError), a
 *    grow fails (memory.grow gives -1, Memory.prototype.grow throws), and the
 *    entry is terminated (503). The first commit of a new memory cannot be
 *    refused (V8 takes that failure for a fatal out-of-memory): it is
 *    counted, and terminates the entry when it passes the hard bound.
 */
/*
 * Where code ranges go.
 *
 * Every isolate reserves a code range (min(heap limit, 128 MiB), 4 KiB
 * aligned, no access) through this allocator, with a hint from V8's
 * CodeRangeAddressHint. That hint is the address of a recently freed code
 * range, and V8 10.2 (and later ones, up to at least 12) keeps it wrong
 * for ranges near its embedded builtins (within 2 GiB, the reach of a
 * pc-relative call): GetAddressHint erases the reused address from a copy
 * of its list instead of the list, and the range's disposal appends it
 * again. So each isolate created and disposed near the builtins leaves 8
 * bytes in a process-wide vector that never shrinks, and each creation
 * copies that vector (heaptrack over bench_recycle: the one allocation
 * that grows with the number of isolates, 6,144 bytes more after 400 more
 * isolates, a vector's doublings). A server that recycles isolates for
 * months would keep megabytes and copy them at every isolate it makes.
 *
 * Ranges away from the builtins take the list's other path, which pops
 * the address it returns: so a code range whose hint is near libnode is
 * reserved at a random address instead (V8's own random mmap addresses,
 * below 64 TiB, far from the libraries near 128 TiB), and a far hint (a
 * freed far range: the address is reused) is kept. In this build (no
 * pointer compression) V8 calls builtins through the isolate's builtin
 * table wherever its code is; what the placement costs is measured in
 * bench/results/2026-12-02-recycle.md. ISOCORE_JS_NEAR_CODE=1 keeps V8's
 * placement (to compare).
 */
class code_placer
{
  public:
    code_placer()
    {
        const char *env = getenv("ISOCORE_JS_NEAR_CODE");
        off_ = env && strcmp(env, "1") == 0;
        Dl_info info;
        /* libnode's load address: its text, where the embedded builtins are, follows it (well within 512 MiB). */
        if (!off_ && dladdr(reinterpret_cast<void *>(&v8::V8::GetVersion), &info) && info.dli_fbase) {
            uintptr_t base = reinterpret_cast<uintptr_t>(info.dli_fbase);
            lo_ = base > kReach ? base - kReach : 0;
            hi_ = base + kLib + kReach;
        }
    }

    /* Whether a reservation looks like a code range: no access, the allocation page size, at least V8's minimum (3 MiB). */
    bool is_code_range(size_t length, size_t alignment, v8::PageAllocator::Permission access, size_t page) const
    {
        return hi_ && access == v8::PageAllocator::kNoAccess && alignment == page && length >= kMinCodeRange;
    }

    /* Whether [p, p + length) may be within pc-relative reach of the builtins. */
    bool near(void *p, size_t length) const
    {
        uintptr_t a = reinterpret_cast<uintptr_t>(p);
        return a + length > lo_ && a < hi_;
    }

  private:
    static constexpr uintptr_t kReach = (uintptr_t)2 << 30;  /* kMaxPCRelativeCodeRangeInMB on x64 */
    static constexpr uintptr_t kLib = (uintptr_t)512 << 20;  /* more than libnode's text */
    static constexpr size_t kMinCodeRange = (size_t)3 << 20; /* kMinimumCodeRangeSize */
    bool off_ = false;
    uintptr_t lo_ = 0, hi_ = 0;
};

class budget_pa : public v8::PageAllocator
{
  public:
    explicit budget_pa(v8::PageAllocator *inner) : in_(inner)
    {
    }
    size_t AllocatePageSize() override
    {
        return in_->AllocatePageSize();
    }
    size_t CommitPageSize() override
    {
        return in_->CommitPageSize();
    }
    void SetRandomMmapSeed(int64_t seed) override
    {
        in_->SetRandomMmapSeed(seed);
    }
    void *GetRandomMmapAddr() override
    {
        return in_->GetRandomMmapAddr();
    }
    void *AllocatePages(void *address, size_t length, size_t alignment, Permission access) override
    {
        if (code_.is_code_range(length, alignment, access, in_->AllocatePageSize()) && address && code_.near(address, length)) {
            /* A few random far hints; the kernel may place a range elsewhere if the hint is taken: then near is accepted. */
            for (int i = 0; i < 4; i++) {
                uintptr_t hint = reinterpret_cast<uintptr_t>(in_->GetRandomMmapAddr()) & ~(uintptr_t)(alignment - 1);
                void *p = in_->AllocatePages(reinterpret_cast<void *>(hint), length, alignment, access);
                if (p && !code_.near(p, length))
                    return p;
                if (p)
                    in_->FreePages(p, length);
            }
        }
        std::shared_ptr<runner> owner;
        if (alignment == kWasmPage && access == kNoAccess)
            owner = current_owner();
        if (owner && owner->wasm_limit && used(owner.get()) >= owner->wasm_limit)
            return nullptr; /* V8 collects garbage (dead memories) and asks again; then it throws a RangeError */
        void *p = in_->AllocatePages(address, length, alignment, access);
        if (p && owner) {
            std::lock_guard<std::mutex> lock(mu_);
            regions_[(uintptr_t)p] = region{length, 0, std::move(owner)};
        }
        return p;
    }
    bool FreePages(void *address, size_t length) override
    {
        forget((uintptr_t)address);
        return in_->FreePages(address, length);
    }
    bool ReleasePages(void *address, size_t length, size_t new_length) override
    {
        return in_->ReleasePages(address, length, new_length);
    }
    bool SetPermissions(void *address, size_t length, Permission permissions) override
    {
        if (!account((uintptr_t)address, permissions == kNoAccess ? 0 : length))
            return false;
        return in_->SetPermissions(address, length, permissions);
    }
    bool DiscardSystemPages(void *address, size_t size) override
    {
        return in_->DiscardSystemPages(address, size);
    }
    bool DecommitPages(void *address, size_t size) override
    {
        account((uintptr_t)address, 0);
        return in_->DecommitPages(address, size);
    }

  private:
    static constexpr size_t kWasmPage = 65536;
    struct region {
        size_t reserved, committed;
        std::shared_ptr<runner> owner;
    };

    static std::shared_ptr<runner> current_owner()
    {
        /* The thread's entered isolate, if any: wasm memories are made on their isolate's thread. */
        v8::Isolate *isolate = v8::Isolate::GetCurrent();
        return isolate ? runner_of(isolate) : nullptr;
    }

    /* The budget's use: wasm bytes plus the isolate's ArrayBuffers (read on the isolate's thread only). */
    static size_t used(runner *r)
    {
        int64_t w = r->wasm_bytes.load(std::memory_order_relaxed);
        return (w > 0 ? (size_t)w : 0) + (r->buffers ? r->buffers->used() : 0);
    }

    static void passed(runner *r)
    {
        r->wasm_over.store(true, std::memory_order_relaxed);
        v8::Isolate *isolate = v8::Isolate::GetCurrent();
        if (isolate)
            isolate->TerminateExecution(); /* the entry ends; the worker answers 503 (wasm.cc) */
    }

    /* A region's commit changes to [start, start + committed): false to refuse a grow past the budget. */
    bool account(uintptr_t start, size_t committed)
    {
        std::shared_ptr<runner> owner;
        int64_t delta;
        bool first;
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = regions_.find(start);
            if (it == regions_.end())
                return true; /* not the start of a wasm memory: not ours to count */
            region &rg = it->second;
            delta = (int64_t)committed - (int64_t)rg.committed;
            first = rg.committed == 0;
            owner = rg.owner;
            if (delta > 0 && owner->wasm_limit && used(owner.get()) + (size_t)delta > 2 * owner->wasm_limit && !first) {
                passed(owner.get());
                return false;
            }
            rg.committed = committed;
        }
        owner->wasm_bytes.fetch_add(delta, std::memory_order_relaxed);
        if (delta > 0 && owner->wasm_limit && used(owner.get()) > owner->wasm_limit) {
            owner->wasm_soft.store(true, std::memory_order_relaxed);
            if (used(owner.get()) > 2 * owner->wasm_limit)
                passed(owner.get());
        }
        return true;
    }

    void forget(uintptr_t start)
    {
        std::shared_ptr<runner> owner;
        size_t committed = 0;
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = regions_.find(start);
            if (it == regions_.end())
                return;
            owner = std::move(it->second.owner);
            committed = it->second.committed;
            regions_.erase(it);
        }
        owner->wasm_bytes.fetch_sub((int64_t)committed, std::memory_order_relaxed);
    }

    v8::PageAllocator *in_;
    code_placer code_;
    std::mutex mu_;
    std::unordered_map<uintptr_t, region> regions_;
};

/* The default platform with foreground task runners of our own. */
class platform : public v8::Platform
{
  public:
    explicit platform(std::unique_ptr<v8::Platform> inner) : inner_(std::move(inner)), pages_(inner_->GetPageAllocator())
    {
    }

    v8::PageAllocator *GetPageAllocator() override
    {
        return &pages_;
    }
    v8::ZoneBackingAllocator *GetZoneBackingAllocator() override
    {
        return inner_->GetZoneBackingAllocator();
    }
    void OnCriticalMemoryPressure() override
    {
        inner_->OnCriticalMemoryPressure();
    }
    bool OnCriticalMemoryPressure(size_t length) override
    {
        return inner_->OnCriticalMemoryPressure(length);
    }
    int NumberOfWorkerThreads() override
    {
        return inner_->NumberOfWorkerThreads();
    }
    std::shared_ptr<v8::TaskRunner> GetForegroundTaskRunner(v8::Isolate *isolate) override
    {
        return get(isolate, true);
    }
    void CallOnWorkerThread(std::unique_ptr<v8::Task> task) override
    {
        inner_->CallOnWorkerThread(std::move(task));
    }
    void CallBlockingTaskOnWorkerThread(std::unique_ptr<v8::Task> task) override
    {
        inner_->CallBlockingTaskOnWorkerThread(std::move(task));
    }
    void CallLowPriorityTaskOnWorkerThread(std::unique_ptr<v8::Task> task) override
    {
        inner_->CallLowPriorityTaskOnWorkerThread(std::move(task));
    }
    void CallDelayedOnWorkerThread(std::unique_ptr<v8::Task> task, double delay_in_seconds) override
    {
        inner_->CallDelayedOnWorkerThread(std::move(task), delay_in_seconds);
    }
    bool IdleTasksEnabled(v8::Isolate *isolate) override
    {
        return false;
    }
    std::unique_ptr<v8::JobHandle> PostJob(v8::TaskPriority priority, std::unique_ptr<v8::JobTask> job_task) override
    {
        return inner_->PostJob(priority, std::move(job_task));
    }
    double MonotonicallyIncreasingTime() override
    {
        return inner_->MonotonicallyIncreasingTime();
    }
    double CurrentClockTimeMillis() override
    {
        return inner_->CurrentClockTimeMillis();
    }
    v8::TracingController *GetTracingController() override
    {
        return inner_->GetTracingController();
    }
    StackTracePrinter GetStackTracePrinter() override
    {
        return inner_->GetStackTracePrinter();
    }
    v8::HighAllocationThroughputObserver *GetHighAllocationThroughputObserver() override
    {
        return inner_->GetHighAllocationThroughputObserver();
    }

    /* The isolate's runner; made on first use when make is set (any thread: V8's compile threads ask too). */
    std::shared_ptr<runner> get(v8::Isolate *isolate, bool make)
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = runners_.find(isolate);
        if (it != runners_.end())
            return it->second;
        if (!make)
            return nullptr;
        auto r = std::make_shared<runner>(isolate);
        runners_.emplace(isolate, r);
        return r;
    }

    std::shared_ptr<runner> take(v8::Isolate *isolate)
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = runners_.find(isolate);
        if (it == runners_.end())
            return nullptr;
        std::shared_ptr<runner> r = std::move(it->second);
        runners_.erase(it);
        return r;
    }

    /* Forgets every runner (their isolates are gone): at shutdown, and after the snapshot builder's isolate. */
    void forget_all()
    {
        std::unordered_map<v8::Isolate *, std::shared_ptr<runner>> all;
        {
            std::lock_guard<std::mutex> lock(mu_);
            all.swap(runners_);
        }
        for (auto &kv : all)
            kv.second->dispose();
    }

  private:
    std::unique_ptr<v8::Platform> inner_;
    budget_pa pages_;
    std::mutex mu_;
    std::unordered_map<v8::Isolate *, std::shared_ptr<runner>> runners_;
};

platform *the_platform;

std::shared_ptr<runner> runner_of(v8::Isolate *isolate)
{
    return the_platform ? the_platform->get(isolate, false) : nullptr;
}

} // namespace

std::unique_ptr<v8::Platform> ic__js_platform_make(std::unique_ptr<v8::Platform> inner)
{
    auto p = std::make_unique<platform>(std::move(inner));
    the_platform = p.get();
    return p;
}

ic__js_runner *ic__js_platform_attach(v8::Isolate *isolate, int core, ic__js_pump_cb pump, void *data)
{
    if (!the_platform)
        return nullptr;
    /* The registry keeps the runner alive until disposed: the raw pointer is the worker's until then. */
    std::shared_ptr<runner> r = the_platform->get(isolate, true);
    r->attach(core, pump, data);
    return reinterpret_cast<ic__js_runner *>(r.get());
}

void ic__js_platform_disposed(v8::Isolate *isolate)
{
    if (!the_platform)
        return;
    std::shared_ptr<runner> r = the_platform->take(isolate);
    if (r)
        r->dispose();
}

void ic__js_platform_forget_all(void)
{
    if (the_platform)
        the_platform->forget_all();
}

void ic__js_platform_unmake(void)
{
    ic__js_platform_forget_all();
    the_platform = nullptr;
}

unsigned ic__js_platform_run_tasks(v8::Isolate *isolate)
{
    if (!the_platform)
        return 0;
    std::shared_ptr<runner> r = the_platform->get(isolate, false);
    return r ? r->run_due() : 0;
}

void ic__js_platform_budget(v8::Isolate *isolate, size_t limit, const ic__js_allocator *buffers)
{
    if (!the_platform)
        return;
    std::shared_ptr<runner> r = the_platform->get(isolate, true);
    r->wasm_limit = limit;
    r->buffers = buffers;
}

/* Per entry on every core: through the worker's pointer, not the registry, whose one lock all cores would share. */
int ic__js_platform_budget_state(ic__js_runner *h)
{
    runner *r = reinterpret_cast<runner *>(h);
    if (!r)
        return 0;
    if (r->wasm_over.load(std::memory_order_relaxed))
        return 2;
    if (!r->wasm_soft.load(std::memory_order_relaxed))
        return 0;
    /* Past the limit a moment ago: is it still, once dead memories are collected (by the caller, before this)? */
    int64_t w = r->wasm_bytes.load(std::memory_order_relaxed);
    size_t used = (w > 0 ? (size_t)w : 0) + (r->buffers ? r->buffers->used() : 0);
    return used > r->wasm_limit ? 1 : 0;
}

void ic__js_platform_budget_recheck(ic__js_runner *h)
{
    if (h)
        reinterpret_cast<runner *>(h)->wasm_soft.store(false, std::memory_order_relaxed);
}

size_t ic__js_platform_wasm_bytes(ic__js_runner *h)
{
    int64_t b = h ? reinterpret_cast<runner *>(h)->wasm_bytes.load(std::memory_order_relaxed) : 0;
    return b > 0 ? (size_t)b : 0;
}
