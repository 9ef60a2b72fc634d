/*
 * engine.cc: the V8 platform and isolates, behind isocore/js.h.
 *
 * This is the only C++ in the project (with the rest of js/). Each entry is a
 * small extern "C" function that opens its own HandleScope and TryCatch and
 * turns V8's Maybe/MaybeLocal results into error codes; nothing throws
 * through the C boundary and nothing calls ToLocalChecked on a result that
 * user code can make empty.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <memory>

#include <libplatform/libplatform.h>
#include <v8.h>

#include "isocore/js.h"
#include "core/fault.h"
#include "js/internal.hh"

struct ic_js_isolate {
    v8::Isolate *isolate;
    v8::ArrayBuffer::Allocator *allocator;
    v8::Global<v8::Context> context;
};

static std::unique_ptr<v8::Platform> platform;

extern "C" int ic_js_platform_init(void)
{
    if (platform)
        return 0;
    /*
     * Two background threads: V8's GC and compiler helpers; the reactors are
     * the main workers. They are created with every signal blocked (threads
     * inherit the mask), so that SIGINT/SIGTERM reach the thread that waits
     * for them instead of killing the process through a V8 thread.
     */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    std::unique_ptr<v8::Platform> inner = v8::platform::NewDefaultPlatform(2);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (!inner)
        return -ENOMEM;
    /* Foreground tasks (a wasm compile's result, GC steps) run on each isolate's reactor (platform.cc). */
    platform = ic__js_platform_make(std::move(inner));
    v8::V8::InitializePlatform(platform.get());
    /*
     * Every isolate starts from the startup snapshot this process builds in
     * memory below (ic__js_snapshot_build): V8's checksum of it guards
     * against a corrupted snapshot file, which there is none of, and costs an
     * adler32 pass over the whole blob at every isolate creation.
     */
    static const char flags[] = "--no-verify-snapshot-checksum";
    v8::V8::SetFlagsFromString(flags, sizeof(flags) - 1);
    /* V8::Initialize() checks that our headers' build flags (pointer compression …) match libnode's. */
    v8::V8::Initialize();
    /* The CPU-time watchdog of JS entries (watchdog.cc). */
    int err = ic__js_watchdog_start();
    if (err < 0)
        return err;
    /* The Web API prelude, run once into a startup snapshot every new isolate starts from. */
    ic__js_snapshot_build();
    /* The snapshot builder's isolate is gone, and no other exists yet: its tasks are dropped. */
    ic__js_platform_forget_all();
    return 0;
}

bool ic__js_platform_ready(void)
{
    return platform != nullptr;
}

extern "C" void ic_js_platform_shutdown(void)
{
    if (!platform)
        return;
    ic__js_watchdog_stop();
    ic__js_snapshot_free();
    ic__js_platform_forget_all();
    v8::V8::Dispose();
    v8::V8::DisposePlatform();
    ic__js_platform_unmake();
    platform.reset();
}

extern "C" const char *ic_js_version(void)
{
    return v8::V8::GetVersion();
}

extern "C" int ic_js_isolate_new(ic_js_isolate_t **out)
{
    if (!platform)
        return IC_EJSINIT;
    ic_js_isolate_t *iso = new (std::nothrow) ic_js_isolate_t();
    if (!iso)
        return -ENOMEM;
    iso->allocator = v8::ArrayBuffer::Allocator::NewDefaultAllocator();
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = iso->allocator;
    iso->isolate = ic__fault(IC__FAULT_ISOLATE) ? nullptr : v8::Isolate::New(params);
    if (!iso->isolate) {
        delete iso->allocator;
        delete iso;
        return -ENOMEM;
    }
    {
        v8::Isolate::Scope isolate_scope(iso->isolate);
        v8::HandleScope handle_scope(iso->isolate);
        v8::Local<v8::Context> ctx = v8::Context::New(iso->isolate);
        iso->context.Reset(iso->isolate, ctx);
    }
    *out = iso;
    return 0;
}

extern "C" void ic_js_isolate_free(ic_js_isolate_t *iso)
{
    if (!iso)
        return;
    iso->context.Reset();
    iso->isolate->Dispose();
    ic__js_platform_disposed(iso->isolate);
    delete iso->allocator;
    delete iso;
}

/* Copies a V8 value's string form into out; returns the full UTF-8 length. */
static int to_cstr(v8::Isolate *isolate, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v, char *out, size_t outlen)
{
    v8::Local<v8::String> s;
    if (!v->ToString(ctx).ToLocal(&s))
        s = v8::String::NewFromUtf8Literal(isolate, "<unprintable>");
    int full = s->Utf8Length(isolate);
    if (outlen) {
        int n = s->WriteUtf8(isolate, out, (int)outlen - 1, nullptr, v8::String::NO_NULL_TERMINATION);
        out[n] = '\0';
    }
    return full;
}

extern "C" int ic_js_eval(ic_js_isolate_t *iso, const char *src, size_t len, char *out, size_t outlen)
{
    v8::Isolate *isolate = iso->isolate;
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> ctx = iso->context.Get(isolate);
    v8::Context::Scope context_scope(ctx);
    v8::TryCatch tc(isolate);

    v8::Local<v8::String> source;
    v8::Local<v8::Script> script;
    v8::Local<v8::Value> result;
    if (len > (size_t)v8::String::kMaxLength)
        return -E2BIG;
    if (v8::String::NewFromUtf8(isolate, src, v8::NewStringType::kNormal, (int)len).ToLocal(&source) &&
        v8::Script::Compile(ctx, source).ToLocal(&script) && script->Run(ctx).ToLocal(&result))
        return to_cstr(isolate, ctx, result, out, outlen);
    if (tc.HasTerminated())
        return IC_EJSTERMINATED;
    if (tc.HasCaught())
        to_cstr(isolate, ctx, tc.Exception(), out, outlen);
    else if (outlen)
        out[0] = '\0';
    return IC_EJSEXCEPTION;
}

/* Imports are resolved by the JS issue's module loader; until then every import fails with this message. */
static v8::MaybeLocal<v8::Module> no_imports(v8::Local<v8::Context> ctx, v8::Local<v8::String> specifier,
                                             v8::Local<v8::FixedArray> assertions, v8::Local<v8::Module> referrer)
{
    v8::Isolate *isolate = ctx->GetIsolate();
    isolate->ThrowException(v8::Exception::Error(v8::String::NewFromUtf8Literal(isolate, "imports are not supported yet")));
    return v8::MaybeLocal<v8::Module>();
}

static int fail(char *err, size_t errlen, const char *msg)
{
    if (errlen) {
        strncpy(err, msg, errlen - 1);
        err[errlen - 1] = '\0';
    }
    return IC_EJSEXCEPTION;
}

extern "C" int ic_js_load_worker(ic_js_isolate_t *iso, const char *name, const char *src, size_t len, char *err, size_t errlen)
{
    v8::Isolate *isolate = iso->isolate;
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> ctx = iso->context.Get(isolate);
    v8::Context::Scope context_scope(ctx);
    v8::TryCatch tc(isolate);

    v8::Local<v8::String> source, resource;
    v8::Local<v8::Module> module;
    v8::Local<v8::Value> result, fetch;
    if (len > (size_t)v8::String::kMaxLength)
        return fail(err, errlen, "script too large");
    if (!v8::String::NewFromUtf8(isolate, src, v8::NewStringType::kNormal, (int)len).ToLocal(&source) ||
        !v8::String::NewFromUtf8(isolate, name).ToLocal(&resource))
        return fail(err, errlen, "script is not valid UTF-8 or too large");
    v8::ScriptOrigin origin(isolate, resource, 0, 0, false, -1, v8::Local<v8::Value>(), false, false, true /* module */);
    v8::ScriptCompiler::Source module_source(source, origin);
    bool ok = v8::ScriptCompiler::CompileModule(isolate, &module_source).ToLocal(&module) &&
              module->InstantiateModule(ctx, no_imports).FromMaybe(false) && module->Evaluate(ctx).ToLocal(&result);
    if (ok && module->GetStatus() == v8::Module::kErrored) {
        isolate->ThrowException(module->GetException());
        ok = false;
    }
    if (!ok) {
        if (tc.HasTerminated())
            return IC_EJSTERMINATED;
        if (tc.HasCaught())
            to_cstr(isolate, ctx, tc.Exception(), err, errlen);
        return IC_EJSEXCEPTION;
    }
    v8::Local<v8::Object> ns = module->GetModuleNamespace().As<v8::Object>();
    v8::Local<v8::Value> def;
    if (!ns->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "default")).ToLocal(&def) || !def->IsObject())
        return fail(err, errlen,
                    "the module has no default export (expected: export default { fetch(request, env, ctx) { ... } })");
    if (!def.As<v8::Object>()->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "fetch")).ToLocal(&fetch) || !fetch->IsFunction())
        return fail(err, errlen, "the default export has no fetch method");
    return 0;
}
