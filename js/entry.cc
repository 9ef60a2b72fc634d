/*
 * entry.cc: how a reactor thread enters a worker's isolate, and how a JS
 * entry begins and ends (the watchdog's guard, the microtasks, the limits).
 *
 * The isolate a thread keeps entered between entries. Isolate::Enter and
 * Exit (the thread's current isolate and its per-thread data looked up and
 * set, then restored) cost ≈ 550 instructions a request (callgrind, hello),
 * while entering the isolate that is already the thread's current one only
 * counts one more entry. So the outermost entry of a thread (an entry scope
 * at depth 0) leaves its isolate entered when it ends, and the next
 * outermost entry into another isolate exits that one first: a reactor
 * serving one tenant switches isolates never, one serving many once per
 * change. Nested entries enter and exit as v8::Isolate::Scope does; so does
 * an outermost one while some other scope (engine.cc's) has an isolate
 * entered. Workers are freed outside entries; ic_js_worker_free releases a
 * kept isolate before Dispose, and a thread's exit releases its own.
 */
#include <assert.h>

#include "js/internal.hh"

namespace
{
struct kept_isolate {
    v8::Isolate *isolate = nullptr;
    unsigned depth = 0;
    ~kept_isolate()
    {
        if (isolate)
            isolate->Exit();
    }
};
thread_local kept_isolate t_kept;
} // namespace

ic__js_entry_scope::ic__js_entry_scope(v8::Isolate *isolate) : isolate_(isolate)
{
    if (t_kept.depth++ == 0 && v8::Isolate::GetCurrent() == t_kept.isolate) {
        if (t_kept.isolate != isolate) {
            if (t_kept.isolate)
                t_kept.isolate->Exit();
            isolate->Enter();
            t_kept.isolate = isolate;
        }
        return;
    }
    nested_ = true;
    isolate->Enter();
}

ic__js_entry_scope::~ic__js_entry_scope()
{
    t_kept.depth--;
    if (nested_)
        isolate_->Exit();
}

void ic__js_release_kept(v8::Isolate *isolate)
{
    if (t_kept.isolate != isolate)
        return;
    assert(t_kept.depth == 0); /* workers are freed outside entries */
    isolate->Exit();
    t_kept.isolate = nullptr;
}

void ic__js_enter(ic_js_worker *w, unsigned cpu_ms)
{
    ic__js_watch_enter(w->watch, w->isolate, cpu_ms);
}

ic__js_entry_fail ic__js_leave(ic_js_worker *w, bool threw)
{
    if (!w->isolate->IsExecutionTerminating() && !w->heap_hit)
        w->isolate->PerformMicrotaskCheckpoint();
    bool cpu = ic__js_watch_leave(w->watch);
    /* Wasm memory is not the allocator's: its own check (wasm.cc). */
    if (!w->heap_hit && !cpu)
        ic__js_wasm_over_limit(w);
    if (w->heap_hit) {
        w->isolate->CancelTerminateExecution();
        return IC__ENTRY_HEAP;
    }
    if (cpu)
        return IC__ENTRY_CPU;
    return threw ? IC__ENTRY_THROW : IC__ENTRY_OK;
}
