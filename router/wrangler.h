/*
 * wrangler.h: wrangler.toml / wrangler.json / wrangler.jsonc configs
 * (wrangler.c). Internal to router/ (and its tests).
 *
 * The reader turns a file into a jansson tree and a table of the line each
 * key path starts on ("vars.NAME", "routes[1]", "services[0].binding"),
 * so that what checks the tree can say where a value is.
 */
#ifndef ISOCORE_ROUTER_WRANGLER_H
#define ISOCORE_ROUTER_WRANGLER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Reads the subset of TOML that wrangler uses: tables, arrays of tables,
 * dotted and quoted keys, basic and literal strings, integers, floats,
 * booleans, arrays and inline tables; comments. Returns 0 with *root (an
 * object) and *lines (path → line) set, both owned by the caller, or
 * IC_ECONFIG with err set to "NAME:LINE: what is wrong". This function
 * doesn't allocate on failure.
 */
int ic__toml_parse(const char *name, const char *text, size_t len, json_t **root, json_t **lines, char *err, size_t errlen);

/*
 * JSON with comments (// and block) and trailing commas: they become spaces
 * (line numbers kept), then jansson reads it. Same contract as
 * ic__toml_parse.
 */
int ic__jsonc_parse(const char *name, const char *text, size_t len, json_t **root, json_t **lines, char *err, size_t errlen);

/* The line of key path `path` in lines (its parent's when it is missing; 1 at worst). */
int ic__wrangler_line(json_t *lines, const char *path);

/* Whether a config path names a wrangler file (wrangler.toml, wrangler.json, wrangler.jsonc, *.toml, *.jsonc). */
bool ic__wrangler_is(const char *path);

#endif
