/*
 * wasm.cc: WebAssembly in a tenant's isolate.
 *
 * What V8 gives by itself: WebAssembly.compile/instantiate (whose results
 * come back through foreground tasks: platform.cc runs them on the reactor),
 * the synchronous Module/Instance constructors, and CompileError for a
 * module that fails validation. What is added here:
 *
 * - Compilation stays on while code generation from strings is off:
 *   AllowCodeGenerationFromStrings(false) governs eval and new Function
 *   only; V8 asks a separate callback about wasm, set here to say yes.
 * - `import wasm from "./x.wasm"` gives a WebAssembly.Module, the Workers
 *   convention: a synthetic module whose default export is the module,
 *   compiled synchronously while the tenant's top level loads.
 * - Wasm memory counts against the tenant's buffer limit, with its
 *   ArrayBuffers: platform.cc's page allocator counts each wasm memory
 *   (V8 maps them with the page allocator, not the ArrayBuffer allocator).
 *   Past the limit it flags the isolate; at the end of the entry (and when
 *   a parked request's promise settles) ic__js_wasm_over_limit collects
 *   garbage (dead memories count until then) and, still past it, ends the
 *   entry as at the heap limit: 503, the isolate is recycled. Past twice the
 *   limit the page allocator refuses the grow and terminates the entry.
 */
#include <string.h>

#include "js/internal.hh"

static bool allow_wasm(v8::Local<v8::Context> ctx, v8::Local<v8::String> source)
{
    return true;
}

void ic__js_wasm_setup(ic_js_worker *w)
{
    w->isolate->SetAllowWasmCodeGenerationCallback(allow_wasm);
}

bool ic__js_wasm_over_limit(ic_js_worker *w)
{
    if (w->heap_hit)
        return false;
    int st = ic__js_platform_budget_state(w->runner);
    if (st == 1) {
        /* Past the limit, maybe with dead memories: collect them (rare: only a tenant at its limit pays), then look again. */
        w->isolate->LowMemoryNotification();
        st = ic__js_platform_budget_state(w->runner);
        if (st < 2)
            ic__js_platform_budget_recheck(w->runner);
    }
    if (st == 0)
        return false;
    w->heap_hit = true;
    w->broken = true;
    return true;
}

/* The synthetic module's evaluation: its default export is the compiled WebAssembly.Module. */
static v8::MaybeLocal<v8::Value> evaluate(v8::Local<v8::Context> ctx, v8::Local<v8::Module> module)
{
    v8::Isolate *isolate = ctx->GetIsolate();
    ic_js_worker *w = static_cast<ic_js_worker *>(isolate->GetData(0));
    for (auto &e : w->wasm_imports) {
        if (e.first.Get(isolate) != module)
            continue;
        if (module->SetSyntheticModuleExport(isolate, v8::String::NewFromUtf8Literal(isolate, "default"), e.second.Get(isolate))
                .IsNothing())
            return v8::MaybeLocal<v8::Value>();
        return v8::Undefined(isolate);
    }
    isolate->ThrowException(v8::Exception::Error(v8::String::NewFromUtf8Literal(isolate, "a WebAssembly import lost its module")));
    return v8::MaybeLocal<v8::Value>();
}

v8::MaybeLocal<v8::Module> ic__js_wasm_module(ic_js_worker *w, v8::Local<v8::Context> ctx, const std::string &path,
                                              const std::string &bytes)
{
    v8::Isolate *isolate = w->isolate;
    v8::Local<v8::WasmModuleObject> wasm;
    v8::Local<v8::Value> error;
    {
        /*
         * A module that fails validation throws its CompileError here: the
         * import, and so the tenant's load, fails with it. The API call
         * leaves it as a scheduled exception, where the module loader wants
         * a pending one: caught here and thrown again below, outside the call.
         */
        v8::TryCatch tc(isolate);
        if (!v8::WasmModuleObject::Compile(
                 isolate, v8::MemorySpan<const uint8_t>(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size()))
                 .ToLocal(&wasm)) {
            if (tc.HasTerminated() || !tc.HasCaught()) {
                tc.ReThrow();
                return v8::MaybeLocal<v8::Module>();
            }
            error = tc.Exception();
        }
    }
    if (!error.IsEmpty()) {
        isolate->ThrowException(error);
        return v8::MaybeLocal<v8::Module>();
    }
    v8::Local<v8::String> name;
    if (!v8::String::NewFromUtf8(isolate, path.data(), v8::NewStringType::kNormal, (int)path.size()).ToLocal(&name))
        return v8::MaybeLocal<v8::Module>();
    std::vector<v8::Local<v8::String>> exports = {v8::String::NewFromUtf8Literal(isolate, "default")};
    v8::Local<v8::Module> m = v8::Module::CreateSyntheticModule(isolate, name, exports, evaluate);
    w->wasm_imports.emplace_back(v8::Global<v8::Module>(isolate, m), v8::Global<v8::Object>(isolate, wasm));
    return m;
}
