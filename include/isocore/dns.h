/*
 * isocore/dns.h: host names to addresses on the reactors (io/dns.c).
 *
 * Each reactor has its own resolver (c-ares, its sockets driven by the
 * reactor's io_uring: a lookup never blocks the loop) and its own cache of
 * answers, kept for their TTL (bounded: at least 1 s, at most 5 minutes;
 * failures for 1 s). /etc/hosts is read first, as the C library's resolver
 * does (`localhost` answers from it), then the servers of
 * /etc/resolv.conf (or those given to ic_dns_configure). A numeric IPv4 or
 * IPv6 address answers itself. An /etc/hosts answer carries no TTL: it is
 * kept 3 s (and so is a DNS answer whose TTL is 0).
 *
 * The state of a reactor's resolver (its c-ares channel, sockets and
 * cache) goes when the reactor begins to stop: lookups in flight then end
 * with IC_ESHUTDOWN, and later ones are refused with IC_ESHUTDOWN, so that
 * the resolver never keeps a stopping reactor alive.
 *
 * Threading contract: every function on a reactor thread; a query belongs to
 * the reactor that started it.
 */
#ifndef ISOCORE_DNS_H
#define ISOCORE_DNS_H

#include <stdbool.h>
#include <stddef.h>

#include "isocore/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IC_DNS_MAX_ADDRS 8 /* addresses an answer keeps */
#define IC_DNS_ADDR_LEN 46 /* INET6_ADDRSTRLEN: room for one numeric address and its NUL */

/* An answer: numeric addresses, IPv4 first (in the order the source gave them), then IPv6. */
typedef struct ic_dns_answer {
    unsigned n;
    char addr[IC_DNS_MAX_ADDRS][IC_DNS_ADDR_LEN];
} ic_dns_answer_t;

typedef struct ic_dns_query ic_dns_query_t;

/*
 * The end of a lookup: err 0 with an answer (n >= 1, valid during the call),
 * or IC_EDNS_NOTFOUND (no such name, or no address for it), IC_EDNS (no
 * server answered, a malformed answer), -ETIMEDOUT, -ENOMEM, IC_ESHUTDOWN
 * (the reactor began to stop while the lookup was in flight); answer is
 * then NULL. Called from the reactor loop, never from inside ic_dns_resolve.
 */
typedef void (*ic_dns_cb)(void *arg, int err, const ic_dns_answer_t *answer);

/**
 * Starts a lookup of name (a host name, or a numeric address, which answers
 * at once: still through cb from the loop). *out (may be NULL) gets the
 * query, for ic_dns_cancel. A host name is letters, digits, '-' and '.',
 * at most 253 bytes, labels of 1..63 bytes (one trailing '.' allowed).
 * Returns 0 (cb will run once), -EINVAL (not a valid host name), -ENOMEM,
 * IC_ENOTREACTOR or IC_ESHUTDOWN (a name, on a reactor that is stopping);
 * then cb will not run.
 */
int ic_dns_resolve(const char *name, ic_dns_cb cb, void *arg, ic_dns_query_t **out);

/** Forgets a lookup: its cb does not run. Only before cb ran. */
void ic_dns_cancel(ic_dns_query_t *q);

/**
 * Sets the servers every reactor's resolver will ask, instead of those of
 * /etc/resolv.conf: a comma-separated list of numeric addresses with
 * optional ports ("127.0.0.1:5353,[::1]:53"); NULL or "" goes back to
 * /etc/resolv.conf. timeout_ms bounds the wait for the servers' answer to
 * one lookup, over all its tries (two); 0 keeps c-ares's default (5 s per
 * try, four tries). Call from the starting thread before ic_reactor_start:
 * resolvers made afterwards use it. Returns 0 or -EINVAL (a server list
 * longer than 1 KiB). (Tests point it at a DNS server of their own.)
 */
int ic_dns_configure(const char *servers, unsigned timeout_ms);

/* Per-reactor counters (this reactor's), for tests and stats. */
typedef struct ic_dns_stats {
    unsigned long long lookups;  /* ic_dns_resolve calls for names (numeric addresses not counted) */
    unsigned long long hits;     /* answered from the cache */
    unsigned long long queries;  /* lookups that went to /etc/hosts or the servers */
    unsigned long long failures; /* lookups that ended with an error */
} ic_dns_stats_t;

/** This reactor's counters. */
void ic_dns_stats(ic_dns_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
