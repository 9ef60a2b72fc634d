/*
 * internal.h: what the C files of router/ share. Never included outside router/.
 */
#ifndef ISOCORE_ROUTER_INTERNAL_H
#define ISOCORE_ROUTER_INTERNAL_H

#include "isocore.h"
#include "isocore/router.h"
#include "router/bundle.h"

struct ic__route {
    char *host; /* lower case; for a wildcard, the suffix with its dot (".example.com"); NULL: any host */
    bool wildcard;
    char *prefix; /* path prefix ("/api"), or NULL */
    unsigned worker;
};

struct ic__worker_cfg {
    char *name;
    char *path; /* absolute, or relative to the config's directory already joined */
    ic_js_kind_t kind;
    char **env; /* "NAME=value" */
    unsigned nenv;
    ic_js_limits_t limits;
    ic_placement_t placement;
    struct ic__bundle bundle; /* what ic__router_config_bundle made of the module (bundle.c): src NULL when not bundled */
};

struct ic_router_config {
    char *file;
    char *host, *admin_host;
    unsigned port;
    int admin_port;
    unsigned cores;
    unsigned inflight_per_pair; /* forwarded requests in flight from one core to another, past it 503 */
    unsigned queue_per_tenant;  /* parked requests of a tenant on its core, past it 503 */
    bool core_header;           /* x-isocore-core: the core that ran the request */
    int default_worker;         /* -1: none (unknown hosts get 404) */
    struct ic__worker_cfg *workers;
    unsigned nworkers;
    struct ic__route *routes;
    unsigned nroutes;
};

/*
 * Bundles the modules of cfg's workers that need it (bundle.c), on the
 * main thread before the router is made. 0, or IC_ECONFIG with err set
 * ("FILE: worker NAME: why", with esbuild's code frames).
 */
int ic__router_config_bundle(struct ic_router_config *cfg, char *err, size_t errlen);

/* Keeps the router (its pools) alive on the current core while delta > 0 is held (router.c). */
void ic__router_hold(ic_router_t *r, int delta);

/*
 * Streamed responses of a tenant on another core (xstream.c). On the owner:
 * ic__xstream_owner_new takes the worker's stream (NULL: no memory). On the
 * origin, from the answer: ic__xstream_start answers the exchange with the
 * head (and extra, a header line, or NULL) and starts the flow.
 */
struct ic__xowner;
struct ic__xowner *ic__xstream_owner_new(ic_router_t *r, ic_js_stream_t *stream, unsigned origin);
/* On the owner, before the head went to the origin: the stream is cancelled and xo freed. */
void ic__xstream_owner_drop(struct ic__xowner *xo);
void ic__xstream_start(ic_router_t *r, ic_http_exchange_t *x, unsigned owner, struct ic__xowner *xo, int status,
                       const char *const *lines, unsigned n, const char *extra);

#endif
