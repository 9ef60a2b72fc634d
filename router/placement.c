/*
 * placement.c: which core runs a tenant's request.
 *
 * `sticky` runs a tenant on its owner core, FNV-1a 64 of its name (mixed)
 * mod the number of cores; `spread` runs it on the core the request arrived
 * on.
 */
#include "router/internal.h"

unsigned ic_router_owner_of(const char *name, unsigned ncores)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    /* FNV-1a's low bits are weak (bit 0 is the parity of the bytes' bit 0): mix them (MurmurHash3's fmix64) before the mod. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return ncores ? (unsigned)(h % ncores) : 0;
}

unsigned ic__router_place(const ic_router_t *r, unsigned t)
{
    return r->cfg->workers[t].placement == IC_PLACE_SPREAD ? (unsigned)ic_reactor_id() : r->owner[t];
}
