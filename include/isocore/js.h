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

#ifdef __cplusplus
}
#endif
#endif
