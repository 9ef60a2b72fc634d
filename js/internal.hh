/*
 * internal.hh: what the C++ files of js/ share. Never included outside js/.
 */
#ifndef ISOCORE_JS_INTERNAL_HH
#define ISOCORE_JS_INTERNAL_HH

#include <pthread.h>
#include <stdint.h>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <v8.h>

#include "isocore.h"

/*
 * An ArrayBuffer allocator that counts the bytes of its isolate and refuses past a limit (V8 then throws a RangeError).
 * The count is atomic: V8 frees backing stores from its array-buffer sweeper on a worker thread, concurrently with
 * allocations on the isolate's thread.
 */
class ic__js_allocator : public v8::ArrayBuffer::Allocator
{
  public:
    explicit ic__js_allocator(size_t limit) : limit_(limit)
    {
    }
    void *Allocate(size_t length) override;
    void *AllocateUninitialized(size_t length) override;
    void Free(void *data, size_t length) override;
    size_t used() const
    {
        return used_.load(std::memory_order_relaxed);
    }
    void set_limit(size_t limit)
    {
        limit_ = limit;
    }

  private:
    size_t limit_;
    std::atomic<size_t> used_{0};
};

/*
 * A token bucket for log lines: `burst` lines at once, then `per_sec` a
 * second; lines past it are dropped and counted, and the count is logged
 * with the next line let through.
 */
struct ic__js_bucket {
    double tokens = 0;
    uint64_t refill_ns = 0, dropped = 0;
};
void ic__js_bucket_init(ic__js_bucket *b, double burst, uint64_t now);
/* True when a line may be written now; writes the "(N … dropped)" note first when lines were dropped. */
bool ic__js_bucket_take(const struct ic_js_worker *w, ic__js_bucket *b, double burst, double per_sec, const char *what);

struct ic__js_sourcemap;

struct ic_js_tenant {
    std::string name, path, dir, src;
    ic_js_kind_t kind;
    std::vector<std::pair<std::string, std::string>> env;
    std::vector<std::pair<std::string, std::string>> services; /* binding name, service name */
    ic_js_limits_t limits;
    ic__js_sourcemap *map = nullptr; /* of a bundled src (sourcemap.cc), or nullptr */
    /*
     * The runtime's error-line bucket of each core for this tenant, made by
     * that core on first use and touched only by it: it outlives the
     * tenant's isolates, so a tenant recycled again and again does not get
     * a fresh burst with each new isolate.
     */
    ic__js_bucket *error_log[IC_MAX_CORES] = {};
};

struct ic__js_timer {
    ic_timer_t timer;
    struct ic_js_worker *w;
    uint32_t id;
    bool repeat;
};

struct ic__js_pending {
    struct ic_js_worker *w;
    uint64_t id;
    unsigned flags; /* of ic_js_worker_fetch_ex */
    ic_js_done_cb done;
    void *arg;
    ic_timer_t wall;
    double req; /* the request's number (see ic_js_worker.cur_req) */
};

/* A brotli decoder's state (compression.cc), held by a JS object; the worker lists the live ones. */
struct BrotliDecoderStateStruct;
struct ic__js_brotli {
    struct BrotliDecoderStateStruct *s = nullptr;
    struct ic_js_worker *w = nullptr;
    v8::Global<v8::Object> holder;
    bool freed = false;
};

/* The watchdog's view of one reactor thread; see watchdog.cc. */
struct ic__js_watch;

/* What native.respond hands over: [0, head_len) of buf is the header block, the rest the body (has_body: a string). */
struct ic__js_staged {
    bool ready = false, has_body = false;
    int status = 0;
    size_t head_len = 0;
    std::string buf;
};

struct ic__js_runner; /* platform.cc */

struct ic_js_worker {
    const ic_js_tenant *tenant;
    v8::Isolate *isolate = nullptr;
    ic__js_runner *runner = nullptr; /* the platform's side of the isolate (attach), read at each entry's end */
    ic__js_allocator *allocator = nullptr;
    v8::Global<v8::Context> context;
    v8::Global<v8::Function> dispatch, fire, serialize;
    /* The prelude's side of streamed response bodies (stream.cc): pump, resume and cancel one stream by id. */
    v8::Global<v8::Function> stream_pump, stream_resume, stream_cancel;
    std::unordered_map<uint32_t, struct ic_js_stream *> streams;
    /* Request bodies that stream in (stream.cc), by the id the prelude's stream pulls with; the prelude's wake-up entry. */
    std::unordered_map<uint32_t, struct ic__js_upload *> uploads;
    uint32_t next_upload = 1;
    v8::Global<v8::Function> upload_wake;
    /*
     * Outgoing fetch() (fetch.cc): its state, made on the first fetch of the worker; the prelude's entries for a call's
     * events and for the end of a request. Each request gets a number (next_req); cur_req is the one whose response is
     * being delivered now, so that deliver() can tell fetch.cc the request is over.
     */
    struct ic__js_fetch *fetch = nullptr;
    v8::Global<v8::Function> fetch_event, request_over;
    double next_req = 0, cur_req = 0;
    std::unordered_set<ic__js_brotli *> brotli;
    v8::Global<v8::Value> prelude_entries; /* from the snapshot, until load() takes them */
    std::string methods[3] = {"GET", "POST", "HEAD"};
    v8::Global<v8::String> method_str[3];
    /*
     * The last request's target and Host as V8 strings, with their bytes: a
     * server sees the same few again and again, and the same string object
     * lets the prelude reuse the URL it built from them (prelude_fetch.js).
     */
    std::string last_bytes[2];
    v8::Global<v8::String> last_str[2];
    std::unordered_map<uint32_t, ic__js_timer *> timers;
    std::unordered_map<uint64_t, ic__js_pending *> pending;
    uint64_t next_pending = 1;
    /* Modules of the tenant, by absolute path, and which path each module came from. */
    std::unordered_map<std::string, v8::Global<v8::Module>> modules;
    std::vector<std::pair<v8::Global<v8::Module>, std::string>> module_paths;
    /* `import x from "./x.wasm"`: each synthetic module with its WebAssembly.Module (wasm.cc). */
    std::vector<std::pair<v8::Global<v8::Module>, v8::Global<v8::Object>>> wasm_imports;
    ic__js_watch *watch = nullptr;
    bool heap_hit = false, broken = false;
    size_t heap_limit = 0;
    int core = -1;
    uint64_t origin_ns = 0;
    double origin_wall_ms = 0;
    /* Rate limits on what the tenant makes us write to stderr: its console lines, and the runtime's lines about its errors. */
    ic__js_bucket console_log, error_log; /* error_log: when the tenant's bucket of this core cannot be had */
    ic__js_bucket *errors = nullptr;      /* the tenant's bucket of this core (error_log when none) */
    /* scratch for responses */
    std::string scratch;
    std::vector<const char *> lines;
    /*
     * A response native.respond handed over (worker.cc): its header block
     * and its string body, copied out of V8 as UTF-8, until the C++ that
     * called into JS takes it right after its call returns.
     */
    ic__js_staged staged;
    /* The last header block native.respond copied, and its bytes: serialize reuses one string per content type. */
    v8::Global<v8::String> last_block;
    std::string last_block_bytes;
};

/* Spare isolates (worker.cc): a blank worker has its isolate and context but no tenant yet. */
ic_js_worker *ic__js_blank_new(size_t heap_bytes);
bool ic__js_blank_fits(const ic_js_worker *w, const ic_js_tenant *t);
int ic__js_blank_load(ic_js_worker *w, const ic_js_tenant *t, ic_js_worker_t **out, char *err, size_t errlen);

/*
 * A native the prelude gets: each area's .cc (webapi.cc, compression.cc,
 * crypto.cc) exports a table of them ending in {nullptr, nullptr}; webapi.cc
 * puts them all on the one `native` object and in the snapshot's external
 * references. Names must be unique across the tables.
 */
struct ic__js_native {
    const char *name;
    v8::FunctionCallback fn;
};
extern const ic__js_native ic__js_natives_compression[];
extern const ic__js_native ic__js_natives_stream[];
extern const ic__js_native ic__js_natives_crypto[];
extern const ic__js_native ic__js_natives_encoding[];
extern const ic__js_native ic__js_natives_fetch[];
extern const ic__js_native ic__js_natives_worker[];

/* The natives the prelude gets (webapi.cc). */
v8::Local<v8::Object> ic__js_natives(v8::Isolate *isolate, v8::Local<v8::Context> ctx);

/* The callbacks a startup snapshot refers to (webapi.cc), null-terminated. */
const intptr_t *ic__js_external_refs(const v8::FunctionCallback *extra);

/* Builds the startup snapshot (worker.cc): called once by ic_js_platform_init; frees it at shutdown. */
void ic__js_snapshot_build(void);
void ic__js_snapshot_free(void);

/* A timer of the worker fired (worker.cc). */
void ic__js_timer_fired(ic_timer_t *t);

/*
 * Entries (entry.cc). An entry scope enters a worker's isolate for one
 * entry; the outermost one of a thread leaves it entered afterwards, so that
 * the next entry into the same isolate costs nothing (entry.cc says how).
 * release_kept: before an isolate's Dispose, on the thread that used it.
 * enter/leave bracket the JS of an entry: the watchdog's guard at cpu_ms;
 * leave pumps the microtasks and says why the entry failed, if it did.
 */
class ic__js_entry_scope
{
  public:
    explicit ic__js_entry_scope(v8::Isolate *isolate);
    ~ic__js_entry_scope();
    ic__js_entry_scope(const ic__js_entry_scope &) = delete;
    ic__js_entry_scope &operator=(const ic__js_entry_scope &) = delete;

  private:
    v8::Isolate *isolate_;
    bool nested_ = false;
};
void ic__js_release_kept(v8::Isolate *isolate);
enum ic__js_entry_fail { IC__ENTRY_OK, IC__ENTRY_THROW, IC__ENTRY_CPU, IC__ENTRY_HEAP };
void ic__js_enter(ic_js_worker *w, unsigned cpu_ms);
ic__js_entry_fail ic__js_leave(ic_js_worker *w, bool threw);

/*
 * The platform (platform.cc): the default V8 platform, wrapped so that each
 * isolate's foreground tasks run on its reactor. attach binds an isolate to
 * its reactor (call on that reactor) and to the pump that makes one guarded
 * entry into it, inside which the pump calls ic__js_platform_run_tasks; the
 * pump runs on the reactor whenever tasks are due. disposed drops the
 * isolate's tasks unrun: call it after every Isolate::Dispose.
 */
typedef void (*ic__js_pump_cb)(void *data);
/* An isolate's runner, as attach returns it: valid until ic__js_platform_disposed (no registry lookup, no lock, to use). */
struct ic__js_runner;
std::unique_ptr<v8::Platform> ic__js_platform_make(std::unique_ptr<v8::Platform> inner);
void ic__js_platform_unmake(void);
ic__js_runner *ic__js_platform_attach(v8::Isolate *isolate, int core, ic__js_pump_cb pump, void *data);
void ic__js_platform_disposed(v8::Isolate *isolate);
/*
 * The isolate's wasm memory budget, shared with its ArrayBuffers (limit 0:
 * none): platform.cc's page allocator counts wasm memories against it, and
 * refuses or flags (then terminates the entry) past it. budget_passed says
 * it was passed; wasm_bytes is what its wasm memories hold now.
 */
void ic__js_platform_budget(v8::Isolate *isolate, size_t limit, const ic__js_allocator *buffers);
/* 0: within; 1: past the limit (soft: collect garbage, then ask again; recheck clears the flag); 2: past the hard bound. */
int ic__js_platform_budget_state(ic__js_runner *r);
void ic__js_platform_budget_recheck(ic__js_runner *r);
size_t ic__js_platform_wasm_bytes(ic__js_runner *r);
/* Forgets the runners of every isolate (after the snapshot builder's isolate is gone, when no other isolate exists). */
void ic__js_platform_forget_all(void);
/* Runs the isolate's due foreground tasks (inside an entry, on its reactor); returns how many ran. */
unsigned ic__js_platform_run_tasks(v8::Isolate *isolate);

/*
 * WebAssembly (wasm.cc). setup: wasm compilation allowed, the memory check
 * after full GCs (on a new isolate). over_limit: at the end of an entry,
 * true when wasm memory with the ArrayBuffers is past the tenant's buffer
 * limit (it then marks the worker as a heap hit). module: the synthetic
 * module of `import x from "./x.wasm"` (bytes compiled now; empty with an
 * exception pending if they do not validate).
 */
void ic__js_wasm_setup(ic_js_worker *w);
bool ic__js_wasm_over_limit(ic_js_worker *w);
v8::MaybeLocal<v8::Module> ic__js_wasm_module(ic_js_worker *w, v8::Local<v8::Context> ctx, const std::string &path,
                                              const std::string &bytes);

/* True once ic_js_platform_init succeeded (engine.cc). */
bool ic__js_platform_ready(void);

/* Watchdog (watchdog.cc): guards one entry into an isolate with a CPU-time limit. */
int ic__js_watchdog_start(void);
void ic__js_watchdog_stop(void);
ic__js_watch *ic__js_watch_self(void);
void ic__js_watch_enter(ic__js_watch *wt, v8::Isolate *isolate, unsigned cpu_ms);
/*
 * True once the watchdog has terminated the current entry: for natives that work in slices (crypto.cc), which
 * see nothing of the termination until they are back in JS.
 */
bool ic__js_watch_fired(ic__js_watch *wt);
/* Returns true when the watchdog terminated this entry for exceeding its CPU time. */
bool ic__js_watch_leave(ic__js_watch *wt);

/*
 * Calls fn(id) as one entry into the worker's isolate (scopes, TryCatch,
 * the CPU watchdog, microtasks), from the reactor loop (never from inside
 * another entry). Returns 0, or -1 when it threw or a limit stopped it
 * (logged; a heap limit marks the worker broken).
 */
int ic__js_entry_id(ic_js_worker *w, const v8::Global<v8::Function> &fn, double id);

/* Streamed bodies (stream.cc): a new stream of the worker for the prelude's stream id; every one left is ended (failed) by
 * ic__js_streams_close when the worker is disposed. */
struct ic_js_stream *ic__js_stream_new(ic_js_worker *w, uint32_t id);
/* A stream whose body is source src_id, sent from C with no JS per piece (a fetch's body returned untouched); NULL if the
 * source is gone or read already. */
struct ic_js_stream *ic__js_stream_direct(ic_js_worker *w, uint32_t src_id);
void ic__js_streams_close(ic_js_worker *w);

/*
 * ic_js_worker_fetch_ex with the body of a request that streams in: the
 * request's body is the prelude's stream of upload `upload` (worker.cc).
 */
/*
 * Bytes that arrive from C for a byte stream of the prelude (stream.cc):
 * a source has a producer (a request body's exchange, a fetch call) that
 * pushes pieces and says its last word with source_end (status 1: the
 * end; < 0: an error, why its message, or NULL for the upload's own); the
 * prelude pulls them under the source's id (uploadPull). ops pause and
 * resume the producer past the queue's high-water mark; cancel (may be
 * NULL) tells it the prelude is done first: after cancel the producer must
 * not touch the source again.
 */
struct ic__js_upload;
struct ic__js_source_ops {
    void (*pause)(void *prod);
    void (*resume)(void *prod);
    void (*cancel)(void *prod);
};
ic__js_upload *ic__js_source_new(ic_js_worker *w, const ic__js_source_ops *ops, void *prod);
uint32_t ic__js_source_id(const ic__js_upload *u);
void ic__js_source_push(ic__js_upload *u, const char *p, size_t len);
void ic__js_source_end(ic__js_upload *u, int status, const char *why);
/*
 * The whole body of source id, as a Uint8Array, when all of it is queued: it has ended well, or expect (>= 0: the length the
 * producer knows) bytes are there. The prelude is then done with the source. Else empty. Inside an entry.
 */
v8::Local<v8::Value> ic__js_source_whole(ic_js_worker *w, uint32_t id, int64_t expect);

/*
 * fetch.cc: request req of the worker is answered (its response sent, or its stream ended): its outstanding calls are
 * aborted (unless ctx.waitUntil holds them), from a task. Costs a pointer test when the worker never fetched.
 */
void ic__js_request_over(ic_js_worker *w, double req);
/* The worker is being disposed: every call is aborted and freed (before ic__js_uploads_close). */
void ic__js_fetch_close(ic_js_worker *w);

/* compression.cc: frees the worker's brotli decoders (its disposal). */
void ic__js_brotli_close(ic_js_worker *w);

/* Detaches the worker's uploads from it (its disposal): their HTTP side drains them without it. */
void ic__js_uploads_close(ic_js_worker *w);
void ic__js_worker_fetch_upload(ic_js_worker *w, const ic_http_request_t *req, uint32_t upload, unsigned flags, ic_js_done_cb done,
                                void *arg);

/* Writes a line from console.* or the runtime, prefixed with tenant and core. */
void ic__js_log_line(const ic_js_worker *w, int level, const char *msg, size_t len);

/* Source maps (sourcemap.cc): decoded once per tenant; apply replaces script:LINE:COL in text by the user's file:line:col. */
ic__js_sourcemap *ic__js_sourcemap_new(const char *json, size_t len);
void ic__js_sourcemap_free(ic__js_sourcemap *m);
std::string ic__js_sourcemap_apply(const ic__js_sourcemap *m, const std::string &script, const char *text, size_t len);

#endif
