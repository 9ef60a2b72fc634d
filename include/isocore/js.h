/*
 * isocore/js.h: the V8 layer, behind a C interface.
 *
 * No C++ type crosses this header: isolates are opaque pointers and every
 * call returns an error code instead of throwing. The platform is set up
 * once per process, on the main thread, before any reactor starts; after
 * that each reactor creates, uses and disposes its own isolates on its own
 * thread (no v8::Locker: an isolate never leaves its thread).
 */
#ifndef ISOCORE_JS_H
#define ISOCORE_JS_H

#include <stddef.h>

#include "isocore/error.h"
#include "isocore/http.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ic_js_isolate ic_js_isolate_t;

/**
 * Initialises V8 and its platform. Call once, on the main thread, before
 * ic_reactor_start. Returns 0 (also when already initialised) or -ENOMEM.
 */
int ic_js_platform_init(void);

/** Tears V8 down after every isolate is disposed and the reactors have stopped. */
void ic_js_platform_shutdown(void);

/** Version string of the V8 in use. */
const char *ic_js_version(void);

/**
 * Creates an isolate with one context on the calling thread, which must be
 * the only thread that ever uses it. Returns 0 and sets *out, IC_EJSINIT if
 * the platform is not initialised, or -ENOMEM.
 */
int ic_js_isolate_new(ic_js_isolate_t **out);

/** Disposes an isolate; on the thread that created it. NULL is ignored. */
void ic_js_isolate_free(ic_js_isolate_t *iso);

/**
 * Compiles and runs a classic script in the isolate's context and writes the
 * result, converted to a string, into out (NUL-terminated, truncated to
 * outlen). Returns the length of the full result string, or
 * IC_EJSEXCEPTION (out then holds the exception message).
 */
int ic_js_eval(ic_js_isolate_t *iso, const char *src, size_t len, char *out, size_t outlen);

/**
 * Compiles src as an ES module named `name`, evaluates it, and checks that
 * its default export has a fetch method (a Workers-style program). Imports
 * are not resolved yet. Returns 0, IC_EJSEXCEPTION (err holds the message:
 * a syntax error, a throw, or no default export with fetch) or
 * IC_EJSTERMINATED.
 */
int ic_js_load_worker(ic_js_isolate_t *iso, const char *name, const char *src, size_t len, char *err, size_t errlen);

/* ---- Workers: one tenant's program in a warm isolate on one core ---------------- */

/*
 * A tenant is the description of one Workers program, shared read-only by
 * every core: its name, main file, environment and limits. A worker is that
 * program loaded into an isolate of one core (isolate + context + module
 * evaluated), used only by that core. A request is a call into a worker.
 */
typedef struct ic_js_tenant ic_js_tenant_t;
typedef struct ic_js_worker ic_js_worker_t;

typedef enum ic_js_kind {
    IC_JS_AUTO = 0, /* a module if the source has `export`, else a classic script */
    IC_JS_MODULE,   /* export default { fetch(request, env, ctx) { … } } */
    IC_JS_SCRIPT,   /* addEventListener("fetch", e => e.respondWith(…)) */
} ic_js_kind_t;

typedef struct ic_js_limits {
    unsigned cpu_ms;      /* CPU time of one entry into the isolate (a handler call, a timer, their microtasks); default 50 */
    unsigned wall_ms;     /* from request to response; default 30,000 */
    size_t heap_bytes;    /* V8 heap of the isolate; default 128 MiB */
    size_t buffer_bytes;  /* ArrayBuffer bytes of the isolate; default 128 MiB */
    unsigned subrequests; /* fetch() and service binding calls per request (Workers' default: 50) */
    unsigned connections; /* of them open at once per request; more wait for one to finish (Workers' default: 6) */
} ic_js_limits_t;

typedef struct ic_js_tenant_config {
    const char *name;            /* shown in logs ("hello") */
    const char *path;            /* main file; imports resolve relative to it */
    const char *src;             /* the main file's text, or NULL to read path */
    size_t len;                  /* of src */
    ic_js_kind_t kind;           /* IC_JS_AUTO by default */
    const char *const *env;      /* "NAME=value" strings, given to fetch as `env` */
    unsigned nenv;               /* entries of env */
    const char *const *services; /* "BINDING=service" strings: env.BINDING.fetch() calls tenant `service` (see
                                    ic_js_set_services) */
    unsigned nservices;          /* entries of services */
    ic_js_limits_t limits;       /* zeros take the defaults */
    const char *sourcemap;       /* with src (a bundle): its source map (JSON), so that logs show the user's files; or NULL */
    size_t sourcemap_len;        /* of sourcemap */
} ic_js_tenant_config_t;

/** Fills *cfg with the defaults. This function can't fail. */
void ic_js_tenant_config_init(ic_js_tenant_config_t *cfg);

/**
 * Creates a tenant, reading its main file unless cfg->src is given; any
 * thread. Copies what it needs from cfg. Returns 0 and sets *out, -errno
 * when the file can't be read, or -ENOMEM.
 */
int ic_js_tenant_new(const ic_js_tenant_config_t *cfg, ic_js_tenant_t **out);

/** Frees a tenant once no worker of it is left. NULL is ignored. */
void ic_js_tenant_free(ic_js_tenant_t *t);

/** The tenant's name. */
const char *ic_js_tenant_name(const ic_js_tenant_t *t);

/**
 * Loads the tenant into a new isolate on the calling reactor: Web API,
 * module evaluated, fetch handler found. Returns 0 and sets *out,
 * IC_EJSINIT (platform not initialised), IC_EJSEXCEPTION (err holds why:
 * syntax error, a throw at top level, no fetch handler, an import that
 * can't be read), IC_EJSTERMINATED (the top level ran out of CPU time or
 * heap) or -ENOMEM.
 */
int ic_js_worker_new(const ic_js_tenant_t *t, ic_js_worker_t **out, char *err, size_t errlen);

/**
 * Disposes a worker on its core. Requests still pending get 503 first
 * (their done callbacks run inside this call).
 */
void ic_js_worker_free(ic_js_worker_t *w);

/*
 * A response body the worker produces over time (a ReadableStream the
 * handler returned): only with IC_JS_STREAM (see ic_js_worker_fetch_ex).
 * The done callback, or code it hands the stream to, must either attach a
 * sink (then the body's pieces come to it until end) or cancel it. All on
 * the worker's core; attach, resume and cancel never call the sink before
 * they return (the JS side runs from a task of the reactor).
 */
typedef struct ic_js_stream ic_js_stream_t;

typedef struct ic_js_sink {
    /* A piece of the body (valid during the call). Returns true when more may come now, false to pause until ic_js_stream_resume.
     */
    bool (*write)(void *arg, const void *p, size_t len);
    /* The body is over: ok, or failed (the stream errored, a limit stopped it, the worker went away). The stream is freed. */
    void (*end)(void *arg, bool ok);
} ic_js_sink_t;

/** Starts the flow of the body into sink (arg is passed back). Call once. */
void ic_js_stream_attach(ic_js_stream_t *s, const ic_js_sink_t *sink, void *arg);

/** The sink can take more after its write returned false. */
void ic_js_stream_resume(ic_js_stream_t *s);

/** The consumer is gone: the worker's stream is cancelled, the sink is not called again, the stream is freed. */
void ic_js_stream_cancel(ic_js_stream_t *s);

/*
 * A stream whose body C produces (a service's response that comes from
 * another core): the consumer uses it like a worker's (attach, resume,
 * cancel, with the same promises: they never call the sink before they
 * return). All on one core. ic_js_stream_push copies the piece (pushes
 * before attach are buffered) and returns false when the producer should
 * wait for ops->resume before the next one (the piece was taken all the
 * same). ic_js_stream_end is the producer's last call (ok, or failed: the
 * consumer's body errors); js/ frees the stream once the consumer is done
 * too. A cancel by the consumer calls ops->cancel (from a task); the
 * producer must still end the stream (it may do so inside ops->cancel),
 * and any push it makes after the cancel (a piece in flight) is dropped.
 */
typedef struct ic_js_source_ops {
    void (*resume)(void *arg); /* push said wait, and the consumer can take more now */
    void (*cancel)(void *arg); /* the consumer went away: push no more, then end */
} ic_js_source_ops_t;

/** A C-produced stream (NULL: no memory). ops and arg stay valid until ic_js_stream_end. */
ic_js_stream_t *ic_js_stream_from(const ic_js_source_ops_t *ops, void *arg);

/** A piece of the body (copied). False: wait for ops->resume before the next one. */
bool ic_js_stream_push(ic_js_stream_t *s, const void *p, size_t len);

/** The producer's last call: the body is over (ok) or failed. */
void ic_js_stream_end(ic_js_stream_t *s, bool ok);

/** A response from a worker: valid only during the done callback. */
typedef struct ic_js_response {
    int status;
    const char *const *headers; /* "name: value" lines as the handler set them, in order, for ic_http_respond */
    unsigned nheaders;
    const void *body;
    size_t len;
    ic_js_stream_t *stream; /* non-NULL (only with IC_JS_STREAM): the body comes from this stream, body/len are empty */
} ic_js_response_t;

/*
 * Answers an HTTP exchange with a worker's response, on the exchange's
 * core (which must be the worker's when res->stream is set): a plain body
 * with ic_http_respond, a streamed one chunk by chunk with
 * ic_http_respond_start (chunked), with backpressure from the client to
 * the worker's stream and a cancel when the client goes away. extra is one
 * more header line to add ("name: value"), or NULL.
 */
void ic_js_http_respond(ic_http_exchange_t *x, const ic_js_response_t *res, const char *extra);

/** Called once per request, on the worker's core, with the response (always one: errors become 500/503/504). */
typedef void (*ic_js_done_cb)(void *arg, const ic_js_response_t *res);

/**
 * Runs the tenant's fetch handler for a request: builds a Request
 * (url = "http://" + Host + target, headers, body), calls the handler and
 * pumps microtasks. When the handler settles at once, done runs before this
 * returns; otherwise the request is parked until timers or I/O settle it.
 * The request and body are copied into the isolate: the caller may free them
 * when this returns. Errors become responses: a throw or rejection → 500,
 * something that is not a Response → 500, CPU or heap limit → 503, wall
 * clock limit → 504; each is logged. On the worker's core only.
 */
void ic_js_worker_fetch(ic_js_worker_t *w, const ic_http_request_t *req, ic_str_t body, ic_js_done_cb done, void *arg);

/* Flags of ic_js_worker_fetch_ex. */
#define IC_JS_STREAM 1u /* done may get a response whose body is a stream (res->stream) */
#define IC_JS_HTTPS 2u  /* the request came over TLS: request.url says https:// (ic_js_http_fetch sets it from the exchange) */

/**
 * ic_js_worker_fetch with flags. Without IC_JS_STREAM, a body the handler
 * gives as a ReadableStream is read to its end inside the worker (bounded by
 * the tenant's memory limits) and done gets it whole.
 */
void ic_js_worker_fetch_ex(ic_js_worker_t *w, const ic_http_request_t *req, ic_str_t body, unsigned flags, ic_js_done_cb done,
                           void *arg);

/** Requests of the worker still waiting for their response. */
unsigned ic_js_worker_pending(const ic_js_worker_t *w);

/**
 * True when the worker must be replaced: its heap limit was hit, or V8
 * can no longer run it. Its pending requests have had 503s already; free it
 * and create a new one for the next request.
 */
bool ic_js_worker_broken(const ic_js_worker_t *w);

/** Bytes of V8 heap the worker's isolate uses now. */
size_t ic_js_worker_heap_bytes(const ic_js_worker_t *w);

/* ---- service bindings ------------------------------------------------------------------ */

/*
 * env.BINDING.fetch(input, init) of a worker whose tenant binds BINDING to
 * a service (another tenant's name) is answered by the embedder: the router
 * runs the service's tenant on its owner core over the SPSC mesh. The
 * handler gets the request as the calling worker built it (target is the
 * absolute URL; host its host) and its whole body, and must call done once,
 * on the calling worker's core, with the response (a body or, with
 * IC_JS_STREAM in flags, possibly a stream of this core), or with a 5xx when
 * the service cannot run (503 unknown service, overloaded). req and body are
 * valid only during the call: copy what is needed later.
 */
typedef void (*ic_js_service_cb)(void *ctx, const char *service, const ic_http_request_t *req, ic_str_t body, unsigned flags,
                                 ic_js_done_cb done, void *arg);

/** Sets the service handler of the calling reactor (NULL: every binding call gets a 503). */
void ic_js_set_services(ic_js_service_cb cb, void *ctx);

/* ---- a core's warm workers ---------------------------------------------------------- */

/*
 * One pool per core holds that core's workers, one per tenant, created on
 * the first request and kept warm. Past the budget (count or bytes) the
 * least recently used idle worker (no request pending) is disposed; a
 * worker whose heap limit was hit is replaced on the next request.
 */
typedef struct ic_js_pool ic_js_pool_t;

typedef struct ic_js_pool_config {
    unsigned max_workers; /* default 1,000 */
    size_t max_bytes;     /* V8 heap + ArrayBuffers of all workers; default 2 GiB */
    bool no_spare;        /* do not keep a spare isolate (see below) */
} ic_js_pool_config_t;

typedef struct ic_js_pool_stats {
    unsigned workers;               /* warm now (the spare not counted) */
    unsigned long long spares_used; /* new workers that started from the spare isolate */
    size_t bytes;                   /* their heaps, as of the last check */
    unsigned long long created;     /* isolates created */
    unsigned long long evicted;     /* disposed for the budget */
    unsigned long long recycled;    /* replaced after a heap limit */
} ic_js_pool_stats_t;

/*
 * The spare: unless no_spare, after each worker it creates the pool makes a
 * blank isolate (snapshot, Web API, no tenant) a few milliseconds later, on
 * a timer of the core, so the next new tenant (with the default heap limit)
 * only loads its module into it: the isolate's creation is off that
 * request's path.
 */

/** Creates an empty pool for the calling core (cfg may be NULL for the defaults). Returns 0 or -ENOMEM. */
int ic_js_pool_new(const ic_js_pool_config_t *cfg, ic_js_pool_t **out);

/** Disposes every worker (their pending requests get 503) and the pool; on its core. NULL is ignored. */
void ic_js_pool_free(ic_js_pool_t *pool);

/**
 * The warm worker of tenant t, created if there is none (then the budget is
 * enforced). Returns 0 and sets *out, or what ic_js_worker_new returns (err
 * says why). The worker stays owned by the pool.
 */
int ic_js_pool_get(ic_js_pool_t *pool, const ic_js_tenant_t *t, ic_js_worker_t **out, char *err, size_t errlen);

/**
 * ic_js_pool_get + ic_js_worker_fetch: done always runs once (503 when the
 * tenant's worker cannot be created, with a log line). A worker that broke
 * is disposed after the call.
 */
void ic_js_pool_fetch(ic_js_pool_t *pool, const ic_js_tenant_t *t, const ic_http_request_t *req, ic_str_t body, ic_js_done_cb done,
                      void *arg);

/**
 * ic_js_worker_fetch_ex for an HTTP exchange on the worker's core: a body
 * that streams in (ic_http_body_streaming) becomes the request's
 * ReadableStream, read from the socket as the worker pulls it (the socket
 * stops being read while the worker does not); any other body is given
 * whole.
 */
void ic_js_http_fetch(ic_js_worker_t *w, ic_http_exchange_t *x, unsigned flags, ic_js_done_cb done, void *arg);

/** ic_js_pool_fetch_ex for an HTTP exchange of this core, whose body may stream in (see ic_js_http_fetch). */
void ic_js_pool_http_fetch(ic_js_pool_t *pool, const ic_js_tenant_t *t, ic_http_exchange_t *x, unsigned flags, ic_js_done_cb done,
                           void *arg);

/** ic_js_pool_fetch with the flags of ic_js_worker_fetch_ex. */
void ic_js_pool_fetch_ex(ic_js_pool_t *pool, const ic_js_tenant_t *t, const ic_http_request_t *req, ic_str_t body, unsigned flags,
                         ic_js_done_cb done, void *arg);

/** Makes the spare isolate now if there is none (it is otherwise made on a timer); on the pool's core. Returns 0 or -ENOMEM. */
int ic_js_pool_prepare(ic_js_pool_t *pool);

/** Disposes tenant t's worker on this core, if any (a reload, a removed tenant). */
void ic_js_pool_drop(ic_js_pool_t *pool, const ic_js_tenant_t *t);

/** Reads the pool's counters; on its core. */
void ic_js_pool_stats(const ic_js_pool_t *pool, ic_js_pool_stats_t *out);

/**
 * How long reactor `core` has been inside its current JS entry, in CPU
 * nanoseconds, as the CPU-limit watchdog last sampled it (every 2 ms, so a
 * few ms late); 0 when it is in none, or only began one. Any thread (a
 * relaxed load): for placement, which avoids a core stuck in a long entry.
 */
uint64_t ic_js_entry_busy(unsigned core);

/**
 * How many times the CPU-limit watchdog thread has gone to sleep because no
 * reactor entered JS for a while (it then wakes no more until the next
 * entry wakes it). Any thread.
 */
uint64_t ic_js_watchdog_naps(void);

#ifdef __cplusplus
}
#endif
#endif
