/*
 * http_internal.h: what the request parser (http_parse.c) and the response
 * parser (http_response.c) share, so that both read header fields with the
 * same rules: the tchar table, the value scanner, CRLF, the header-field
 * loop, Content-Length digits and Connection tokens.
 *
 * A header of its own rather than io/internal.h: that one pulls in the
 * reactor's internals (core/internal.h, liburing), and tools/fuzz.sh builds
 * the parsers alone with nothing but include/ on the include path.
 */
#ifndef ISOCORE_IO_HTTP_INTERNAL_H
#define ISOCORE_IO_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "isocore/http.h"

/* tchar (RFC 9110 5.6.2): the characters of methods, header names and transfer codings. */
extern const unsigned char ic__http_tchar[256];

/**
 * The first byte at or after p (before end) that ends a header value or a
 * reason phrase: a control character other than HTAB, or DEL; end if none.
 * Vectorised where the CPU allows (picked on first use). Any thread.
 */
const char *ic__http_scan_value(const char *p, const char *end);

/** Case-insensitive comparison of s with the n-byte literal lit. */
bool ic__http_ieq(ic_str_t s, const char *lit, size_t n);

/** Expects CRLF at *pp. Returns 0 and moves past it, IC_HTTP_INCOMPLETE, or IC_EHTTP_BAD (bare LF, or anything else). */
int ic__http_crlf(const char **pp, const char *end);

/**
 * Reads header fields from *pp up to and including the empty line that ends
 * them, into h (room for IC_HTTP_MAX_HEADERS), counting them in *n. Names are
 * tokens followed at once by ':' (no whitespace before it; a line starting
 * with whitespace, obs-fold, is rejected); values have their leading and
 * trailing SP/HTAB removed and hold no control character but HTAB. Returns 0
 * (*pp is past the empty line), IC_HTTP_INCOMPLETE, IC_EHTTP_BAD or
 * IC_EHTTP_TOO_MANY_HEADERS.
 */
int ic__http_parse_fields(const char **pp, const char *end, ic_http_header_t *h, unsigned *n);

/** Content-Length: one or more digits, nothing else, below 2^62. Returns 0 and sets *out, or IC_EHTTP_BAD. */
int ic__http_parse_length(ic_str_t v, uint64_t *out);

/** Connection: a comma-separated token list; sets *close and/or *keep when close or keep-alive is among them. */
void ic__http_parse_connection(ic_str_t v, bool *close, bool *keep);

#endif
