/*
 * bundle.h: bundling a worker on load with esbuild (bundle.c). Internal to
 * router/ and tools/; never included by js/.
 *
 * A worker whose main file is TypeScript or JSX, or whose module graph
 * imports a package ("hono") or a .ts/.tsx/.jsx file, is bundled into one
 * ES module by the esbuild binary, run as a child process. The bundle and
 * its source map are cached by a hash of everything esbuild read, so a
 * second load of unchanged files does not run esbuild. A plain .js graph of
 * relative imports is left alone (the loader reads it as it is).
 *
 * Threading: main thread (or any thread that may block for the build);
 * never a reactor.
 */
#ifndef ISOCORE_ROUTER_BUNDLE_H
#define ISOCORE_ROUTER_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>

struct ic__bundle {
    char *src; /* the bundled module, or NULL: load the main file as it is */
    size_t len;
    char *map; /* its source map (JSON, sources absolute), or NULL */
    size_t maplen;
    char **inputs; /* absolute paths of the files the worker is made of (for watching), even when not bundled */
    unsigned ninputs;
    bool cached; /* the bundle came from the cache: esbuild did not run */
};

/*
 * Prepares the worker whose main module is `main`: bundles it if it needs
 * it (from the cache when nothing changed). Returns 0 and fills *out (free
 * it with ic__bundle_free), or IC_ECONFIG with err holding why: esbuild's
 * own messages with their code frames, or that esbuild is not installed.
 */
int ic__bundle_prepare(const char *main, struct ic__bundle *out, char *err, size_t errlen);

void ic__bundle_free(struct ic__bundle *b);

/* Whether a main file must be bundled (its name or its module graph says so); first_bare gets a package it imports, if any. */
bool ic__bundle_needed(const char *main, char *first_bare, size_t cap);

/* The cache directory: $ISOCORE_CACHE_DIR, else $XDG_CACHE_HOME/isocore, else ~/.cache/isocore. */
void ic__bundle_cache_dir(char *out, size_t cap);

/* How many times this process ran esbuild (tests). */
unsigned long ic__bundle_runs(void);

#endif
