/*
 * http_parse.c: the zero-copy HTTP/1.1 request-head parser and the in-place
 * chunked body decoder (see isocore/http.h for the contract).
 *
 * The parser re-reads the buffer from its start on every call and keeps no
 * state: a head is small (≤ 16 KiB) and usually arrives in one recv, so the
 * simplicity is worth more than resuming mid-way. The two long scans — the
 * request target and header values — look for the first byte that ends them
 * 16 bytes at a time with SSE4.2's PCMPESTRI where the CPU has it (chosen
 * once, at first use), else a byte at a time.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "http_internal.h"

/* tchar (RFC 9110 5.6.2): the characters of methods, header names and transfer codings. */
const unsigned char ic__http_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1,
    ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
#define D(c) [c] = 1
    D('0'),    D('1'),    D('2'),    D('3'),    D('4'),    D('5'),     D('6'),    D('7'),    D('8'),    D('9'),    D('a'),
    D('b'),    D('c'),    D('d'),    D('e'),    D('f'),    D('g'),     D('h'),    D('i'),    D('j'),    D('k'),    D('l'),
    D('m'),    D('n'),    D('o'),    D('p'),    D('q'),    D('r'),     D('s'),    D('t'),    D('u'),    D('v'),    D('w'),
    D('x'),    D('y'),    D('z'),    D('A'),    D('B'),    D('C'),     D('D'),    D('E'),    D('F'),    D('G'),    D('H'),
    D('I'),    D('J'),    D('K'),    D('L'),    D('M'),    D('N'),     D('O'),    D('P'),    D('Q'),    D('R'),    D('S'),
    D('T'),    D('U'),    D('V'),    D('W'),    D('X'),    D('Y'),     D('Z'),
#undef D
};

/* A byte that ends a request target: space, any control character, DEL. */
static inline bool ends_target(unsigned char c)
{
    return c <= 0x20 || c == 0x7f;
}

/* A byte that ends a header value: any control character but HTAB, and DEL (CR is the normal end). */
static inline bool ends_value(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static const char *scan_target_bytewise(const char *p, const char *end)
{
    while (p < end && !ends_target((unsigned char)*p))
        p++;
    return p;
}

static const char *scan_value_bytewise(const char *p, const char *end)
{
    while (p < end && !ends_value((unsigned char)*p))
        p++;
    return p;
}

#if defined(__x86_64__)
/* PCMPESTRI in "ranges" mode: the index of the first byte of 16 that falls in one of the ranges (16 if none). */
__attribute__((target("sse4.2"))) static const char *scan_sse42(const char *p, const char *end, const char *ranges, int nranges)
{
    __m128i r = _mm_loadu_si128((const __m128i *)ranges);
    while (end - p >= 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)p);
        int i = _mm_cmpestri(r, nranges, b, 16, _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_LEAST_SIGNIFICANT);
        if (i != 16)
            return p + i;
        p += 16;
    }
    return p;
}

/* 16-byte arrays so that the unaligned load of the ranges never reads past them. */
static const char target_ranges[16] = {0x00, 0x20, 0x7f, 0x7f};
static const char value_ranges[16] = {0x00, 0x08, 0x0a, 0x1f, 0x7f, 0x7f};

static const char *scan_target_sse42(const char *p, const char *end)
{
    return scan_target_bytewise(scan_sse42(p, end, target_ranges, 4), end);
}

static const char *scan_value_sse42(const char *p, const char *end)
{
    return scan_value_bytewise(scan_sse42(p, end, value_ranges, 6), end);
}
#endif

static const char *(*scan_target)(const char *, const char *);
static const char *(*scan_value)(const char *, const char *);

/* Picks the scanners once; a race between threads picks the same ones, so plain stores are enough. */
static void pick_scanners(void)
{
    scan_target = scan_target_bytewise;
    scan_value = scan_value_bytewise;
#if defined(__x86_64__)
    /* ISOCORE_PARSER_SCALAR=1 keeps the byte-wise scans: valgrind 3.19 cannot decode PCMPESTRI in ranges mode. */
    const char *scalar = getenv("ISOCORE_PARSER_SCALAR");
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2") && !(scalar && *scalar == '1')) {
        scan_target = scan_target_sse42;
        scan_value = scan_value_sse42;
    }
#endif
}

const char *ic__http_scan_value(const char *p, const char *end)
{
    if (!scan_value)
        pick_scanners();
    return scan_value(p, end);
}

bool ic__http_ieq(ic_str_t s, const char *lit, size_t n)
{
    return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

/* Content-Length: one or more digits, nothing else, below 2^62. */
int ic__http_parse_length(ic_str_t v, uint64_t *out)
{
    uint64_t n = 0;
    if (v.len == 0)
        return IC_EHTTP_BAD;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < '0' || c > '9' || n > (UINT64_C(1) << 62) / 10)
            return IC_EHTTP_BAD;
        n = n * 10 + (c - '0');
        if (n >= UINT64_C(1) << 62)
            return IC_EHTTP_BAD; /* exactly "below 2^62", not up to 9 past it */
    }
    *out = n;
    return 0;
}

/* Connection: a comma-separated token list; we care about close and keep-alive. */
void ic__http_parse_connection(ic_str_t v, bool *close, bool *keep)
{
    const char *p = v.p, *end = v.p + v.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *t = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        ic_str_t tok = {t, (size_t)(p - t)};
        if (ic__http_ieq(tok, "close", 5))
            *close = true;
        else if (ic__http_ieq(tok, "keep-alive", 10))
            *keep = true;
    }
}

/*
 * A Host value is uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an
 * IP literal in brackets, or a reg-name (unreserved, pct-encoded, sub-delims
 * characters; an IPv4 address is one), then an optional port of digits. Empty
 * is allowed (an authority-less target). Anything else, a space say, is 400,
 * as nginx answers.
 */
static bool valid_host(ic_str_t v)
{
    const char *p = v.p, *end = v.p + v.len;
    if (p < end && *p == '[') {
        while (++p < end && *p != ']')
            if (!(isxdigit((unsigned char)*p) || *p == ':' || *p == '.'))
                return false;
        if (p == end)
            return false;
        p++;
    } else {
        for (; p < end && *p != ':'; p++) {
            unsigned char c = (unsigned char)*p;
            if (!(isalnum(c) || strchr("-._~%!$&'()*+,;=", c)))
                return false;
        }
    }
    if (p == end)
        return true;
    if (*p++ != ':')
        return false;
    for (; p < end; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

/* Applies the headers' meaning to req; enforces the anti-smuggling rules. */
static int interpret(ic_http_request_t *req)
{
    bool close = false, keep = false, te = false, host = false;
    for (unsigned i = 0; i < req->nheaders; i++) {
        ic_str_t n = req->headers[i].name, v = req->headers[i].value;
        switch (n.len) {
        case 4:
            if (ic__http_ieq(n, "host", 4)) {
                if (host || !valid_host(v))
                    return IC_EHTTP_BAD;
                host = true;
                req->host = v;
            }
            break;
        case 6:
            if (ic__http_ieq(n, "expect", 6)) {
                /* The only expectation HTTP defines; any other cannot be met (RFC 9110 10.1.1): 417. */
                if (!ic__http_ieq(v, "100-continue", 12))
                    return IC_EHTTP_EXPECTATION;
                req->expect_continue = true;
            }
            break;
        case 10:
            if (ic__http_ieq(n, "connection", 10))
                ic__http_parse_connection(v, &close, &keep);
            break;
        case 14:
            if (ic__http_ieq(n, "content-length", 14)) {
                if (req->has_length || ic__http_parse_length(v, &req->content_length) < 0)
                    return IC_EHTTP_BAD;
                req->has_length = true;
            }
            break;
        case 17:
            if (ic__http_ieq(n, "transfer-encoding", 17)) {
                if (te)
                    return IC_EHTTP_BAD;
                te = true;
                if (!ic__http_ieq(v, "chunked", 7))
                    return IC_EHTTP_ENCODING;
                req->chunked = true;
            }
            break;
        }
    }
    if (te && (req->has_length || req->minor == 0))
        return IC_EHTTP_BAD;
    if (req->minor >= 1 && !host)
        return IC_EHTTP_BAD;
    req->keep_alive = req->minor >= 1 ? !close : keep && !close;
    return 0;
}

/* Expects CRLF at *pp. Returns 0 and moves past it, IC_HTTP_INCOMPLETE, or IC_EHTTP_BAD (bare LF, or anything else). */
int ic__http_crlf(const char **pp, const char *end)
{
    const char *p = *pp;
    if (p == end)
        return IC_HTTP_INCOMPLETE;
    if (*p != '\r')
        return IC_EHTTP_BAD;
    if (++p == end)
        return IC_HTTP_INCOMPLETE;
    if (*p != '\n')
        return IC_EHTTP_BAD;
    *pp = p + 1;
    return 0;
}

int ic__http_parse_fields(const char **pp, const char *end, ic_http_header_t *h, unsigned *n)
{
    const char *p = *pp;
    int ret;

    if (!scan_target)
        pick_scanners();
    for (;;) {
        if (p == end)
            return IC_HTTP_INCOMPLETE;
        if (*p == '\r') {
            if ((ret = ic__http_crlf(&p, end)) < 0)
                return ret;
            *pp = p;
            return 0;
        }
        /* A line that starts with whitespace is obs-fold: rejected (RFC 9112 5.2). */
        const char *name = p;
        while (p < end && ic__http_tchar[(unsigned char)*p])
            p++;
        if (p == end)
            return IC_HTTP_INCOMPLETE;
        if (*p != ':' || p == name)
            return IC_EHTTP_BAD; /* includes whitespace before the colon */
        if (*n == IC_HTTP_MAX_HEADERS)
            return IC_EHTTP_TOO_MANY_HEADERS;
        ic_http_header_t *f = &h[*n];
        f->name = (ic_str_t){name, (size_t)(p - name)};
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *value = p;
        p = scan_value(p, end);
        if (p == end)
            return IC_HTTP_INCOMPLETE;
        const char *vend = p;
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        f->value = (ic_str_t){value, (size_t)(vend - value)};
        if ((ret = ic__http_crlf(&p, end)) < 0)
            return ret;
        (*n)++;
    }
}

static int parse_request_line(const char **pp, const char *end, ic_http_request_t *req)
{
    const char *p = *pp, *start;
    int ret;

    start = p;
    while (p < end && ic__http_tchar[(unsigned char)*p])
        p++;
    if (p == end)
        return IC_HTTP_INCOMPLETE;
    if (*p != ' ' || p == start)
        return IC_EHTTP_BAD;
    req->method = (ic_str_t){start, (size_t)(p - start)};

    /* Runs of spaces between the parts are accepted, as nginx and libhttp-parser do (RFC 9112 3: MAY). */
    while (p < end && *p == ' ')
        p++;
    start = p;
    p = scan_target(p, end);
    if (p == end)
        return IC_HTTP_INCOMPLETE;
    if (*p != ' ' || p == start)
        return IC_EHTTP_BAD;
    req->target = (ic_str_t){start, (size_t)(p - start)};

    /* "HTTP/" DIGIT "." DIGIT, checked as far as it has arrived. */
    static const char proto[] = "HTTP/";
    while (p < end && *p == ' ')
        p++;
    for (int i = 0; i < 5; i++, p++) {
        if (p == end)
            return IC_HTTP_INCOMPLETE;
        if (*p != proto[i])
            return IC_EHTTP_BAD;
    }
    /* DIGIT "." DIGIT, each byte rejected as soon as it arrives wrong. */
    for (int i = 0; i < 3; i++) {
        if (p + i == end)
            return IC_HTTP_INCOMPLETE;
        bool ok = i == 1 ? p[i] == '.' : p[i] >= '0' && p[i] <= '9';
        if (!ok)
            return IC_EHTTP_BAD;
    }
    if (p[0] != '1')
        return IC_EHTTP_VERSION;
    req->minor = p[2] == '0' ? 0 : 1;
    p += 3;
    if ((ret = ic__http_crlf(&p, end)) < 0)
        return ret;
    *pp = p;
    return 0;
}

int ic_http_parse_request(const char *buf, size_t len, ic_http_request_t *req)
{
    const char *p = buf, *end = buf + len;
    int ret;

    if (!scan_target)
        pick_scanners();
    memset(req, 0, offsetof(ic_http_request_t, headers));
    req->has_length = req->chunked = req->keep_alive = req->expect_continue = false;
    req->content_length = 0;

    /* RFC 9112 2.2: ignore at least one empty line before the request line. */
    while (end - p >= 1 && *p == '\r') {
        if (end - p == 1)
            return IC_HTTP_INCOMPLETE;
        if (p[1] != '\n')
            return IC_EHTTP_BAD;
        p += 2;
    }
    if ((ret = parse_request_line(&p, end, req)) < 0)
        return ret;

    if ((ret = ic__http_parse_fields(&p, end, req->headers, &req->nheaders)) < 0)
        return ret;
    if ((ret = interpret(req)) < 0)
        return ret;
    req->head_len = (size_t)(p - buf);
    return (int)req->head_len;
}

int ic_http_error_status(int err)
{
    switch (err) {
    case IC_EHTTP_TOO_MANY_HEADERS:
        return 431;
    case IC_EHTTP_VERSION:
        return 505;
    case IC_EHTTP_ENCODING:
        return 501;
    case IC_EHTTP_EXPECTATION:
        return 417;
    default:
        return 400;
    }
}

/* ---- chunked bodies ---------------------------------------------------------- */

enum {
    CH_SIZE,       /* hex digits of a chunk size */
    CH_EXT,        /* chunk extension, up to CR */
    CH_SIZE_LF,    /* LF after the size line */
    CH_DATA,       /* chunk data */
    CH_DATA_CR,    /* CR after chunk data */
    CH_DATA_LF,    /* LF after chunk data */
    CH_TRAILER,    /* start of a trailer line (or the final CRLF) */
    CH_TRAILER_IN, /* inside a trailer line */
    CH_TRAILER_LF, /* LF ending a trailer line */
    CH_END_LF,     /* LF of the final CRLF */
    CH_DONE,
};

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

ssize_t ic_http_chunked_decode(ic_http_chunked_t *d, char *buf, size_t *len)
{
    size_t in = 0, out = 0, n = *len;

    while (in < n) {
        unsigned char c = (unsigned char)buf[in];
        switch (d->state) {
        case CH_SIZE: {
            int v = hexval(c);
            if (v >= 0) {
                if (d->remaining >> 58)
                    goto bad; /* over 2^62 */
                d->remaining = d->remaining << 4 | (uint64_t)v;
                d->hex_digits++;
                in++;
                break;
            }
            if (d->hex_digits == 0)
                goto bad;
            d->state = c == '\r' ? CH_SIZE_LF : c == ';' || c == ' ' || c == '\t' ? CH_EXT : -1;
            if (d->state < 0)
                goto bad;
            in++;
            break;
        }
        case CH_EXT:
            if (c == '\r')
                d->state = CH_SIZE_LF;
            else if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f)
                goto bad;
            in++;
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                goto bad;
            in++;
            d->hex_digits = 0;
            d->state = d->remaining ? CH_DATA : CH_TRAILER;
            break;
        case CH_DATA: {
            size_t take = n - in;
            if (take > d->remaining)
                take = (size_t)d->remaining;
            /* In place: output never overtakes input, so memmove is safe. */
            memmove(buf + out, buf + in, take);
            in += take;
            out += take;
            d->remaining -= take;
            d->total += take;
            if (!d->remaining)
                d->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (c != '\r')
                goto bad;
            in++;
            d->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                goto bad;
            in++;
            d->state = CH_SIZE;
            break;
        case CH_TRAILER:
            if (c == '\r') {
                d->state = CH_END_LF;
            } else if (c == '\n') {
                goto bad;
            } else {
                d->state = CH_TRAILER_IN;
                break; /* re-read c as part of the line */
            }
            in++;
            break;
        case CH_TRAILER_IN:
            if (c == '\r')
                d->state = CH_TRAILER_LF;
            else if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f)
                goto bad;
            in++;
            break;
        case CH_TRAILER_LF:
            if (c != '\n')
                goto bad;
            in++;
            d->state = CH_TRAILER;
            break;
        case CH_END_LF:
            if (c != '\n')
                goto bad;
            in++;
            d->state = CH_DONE;
            *len = out;
            return (ssize_t)(n - in);
        case CH_DONE:
            *len = out;
            return (ssize_t)(n - in);
        }
    }
    *len = out;
    return d->state == CH_DONE ? 0 : IC_HTTP_INCOMPLETE;
bad:
    /* What was decoded before the error stays reported, so that the caller's accounting holds. */
    *len = out;
    return IC_EHTTP_BAD;
}
