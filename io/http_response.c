/*
 * http_response.c: the zero-copy HTTP/1.1 response-head parser of the
 * client (see ic_http_parse_response in isocore/http.h).
 *
 * It reads header fields with the request parser's own code
 * (ic__http_parse_fields, http_internal.h), so both sides of the runtime
 * apply one set of rules: CRLF line ends only (a bare LF is rejected, as the
 * server rejects it in requests), no obs-fold, no whitespace before a
 * colon, no control characters but HTAB in values. Like the request parser
 * it keeps no state and re-reads the buffer from its start on every call.
 *
 * What is particular to responses (RFC 9112 6 and 9110 8.6):
 *  - the status line is exactly "HTTP/1.x SP 3DIGIT SP reason CRLF" with a
 *    status of 100..599; the reason may be empty, and "HTTP/1.1 200" CRLF
 *    without the second SP is accepted too (the reason is to be ignored,
 *    and servers that send no reason differ on that space);
 *  - Content-Length may come more than once, or as a list ("5, 5"), when
 *    every value is the same; values must be all digits, below 2^62;
 *  - Transfer-Encoding with Content-Length is rejected, and so is
 *    Transfer-Encoding on an HTTP/1.0 response (RFC 9112 6.1: its framing
 *    is faulty);
 *  - on a response that could have a body (not 1xx, 204 or 304), the
 *    Transfer-Encoding must be exactly chunked: a last coding that is not
 *    chunked would mean reading the body until the connection closes, which
 *    the client does not do, and codings under chunked (gzip, chunked) would
 *    be handed on undecoded, so both are IC_EHTTP_RESPONSE;
 *  - keep_alive follows the version (1.1: keep-alive unless Connection:
 *    close; 1.0: only with Connection: keep-alive) and is false whenever a
 *    response that could have a body has neither Content-Length nor chunked
 *    framing, since its body then ends with the connection.
 *
 * The parser does not know the request's method: a response to HEAD has no
 * body whatever its headers say, and the caller must know that, as it must
 * for 1xx, 204 and 304 (has_length and chunked describe the headers only).
 */
#include <string.h>

#include "http_internal.h"

/* Statuses whose responses never have a body (RFC 9110 6.4.1). */
static bool no_body(int status)
{
    return status < 200 || status == 204 || status == 304;
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

/* A Content-Length value: one number or a list of equal numbers; each must agree with *have when *has. */
static int content_length(ic_str_t v, bool *has, uint64_t *have)
{
    const char *p = v.p, *end = v.p + v.len;
    for (;;) {
        const char *s = p;
        while (p < end && *p != ',')
            p++;
        const char *e = p;
        trim(&s, &e);
        uint64_t n;
        if (ic__http_parse_length((ic_str_t){s, (size_t)(e - s)}, &n) < 0)
            return IC_EHTTP_RESPONSE;
        if (*has && n != *have)
            return IC_EHTTP_RESPONSE;
        *has = true;
        *have = n;
        if (p == end)
            return 0;
        p++; /* past the comma */
    }
}

/*
 * A Transfer-Encoding value: a list of codings (empty elements skipped, as
 * RFC 9110 5.6.1 asks). Counts them in *ncodings and the ones that are not
 * chunked in *others, and sets *last_chunked for the last one.
 */
static int transfer_encoding(ic_str_t v, unsigned *ncodings, unsigned *others, bool *last_chunked)
{
    const char *p = v.p, *end = v.p + v.len;
    while (p < end) {
        const char *s = p;
        while (p < end && *p != ',')
            p++;
        const char *e = p;
        trim(&s, &e);
        if (p < end)
            p++;
        if (s == e)
            continue;
        /* A coding is a token (its parameters, after ';', are not allowed on chunked and we decode no other). */
        for (const char *c = s; c < e; c++)
            if (!ic__http_tchar[(unsigned char)*c])
                return IC_EHTTP_RESPONSE;
        bool chunked = ic__http_ieq((ic_str_t){s, (size_t)(e - s)}, "chunked", 7);
        (*ncodings)++;
        if (!chunked)
            (*others)++;
        *last_chunked = chunked;
    }
    return 0;
}

/* Applies the headers' meaning to res; enforces the rules about framing. */
static int interpret(ic_http_response_t *res)
{
    bool close = false, keep = false, te = false, last_chunked = false;
    unsigned ncodings = 0, others = 0;
    for (unsigned i = 0; i < res->nheaders; i++) {
        ic_str_t n = res->headers[i].name, v = res->headers[i].value;
        if (n.len == 10 && ic__http_ieq(n, "connection", 10)) {
            ic__http_parse_connection(v, &close, &keep);
        } else if (n.len == 14 && ic__http_ieq(n, "content-length", 14)) {
            if (content_length(v, &res->has_length, &res->content_length) < 0)
                return IC_EHTTP_RESPONSE;
        } else if (n.len == 17 && ic__http_ieq(n, "transfer-encoding", 17)) {
            te = true;
            if (transfer_encoding(v, &ncodings, &others, &last_chunked) < 0)
                return IC_EHTTP_RESPONSE;
        }
    }
    if (te && (res->has_length || res->minor == 0))
        return IC_EHTTP_RESPONSE;
    bool bodiless = no_body(res->status);
    if (te && !bodiless && (ncodings != 1 || others != 0))
        return IC_EHTTP_RESPONSE;
    res->chunked = te && ncodings == 1 && last_chunked;
    res->keep_alive = res->minor >= 1 ? !close : keep && !close;
    if (!bodiless && !res->has_length && !res->chunked)
        res->keep_alive = false; /* the body is delimited by the close */
    return 0;
}

/* "HTTP/1.x SP 3DIGIT [SP reason] CRLF", each byte rejected as soon as it arrives wrong. */
static int parse_status_line(const char **pp, const char *end, ic_http_response_t *res)
{
    static const char proto[] = "HTTP/1.";
    const char *p = *pp;

    for (int i = 0; i < 7; i++, p++) {
        if (p == end)
            return IC_HTTP_INCOMPLETE;
        if (*p != proto[i])
            return IC_EHTTP_RESPONSE;
    }
    if (p == end)
        return IC_HTTP_INCOMPLETE;
    if (*p < '0' || *p > '9')
        return IC_EHTTP_RESPONSE;
    res->minor = *p == '0' ? 0 : 1; /* 1.2 .. 1.9 are read as 1.1, as the server does */
    p++;
    if (p == end)
        return IC_HTTP_INCOMPLETE;
    if (*p != ' ')
        return IC_EHTTP_RESPONSE;
    p++;
    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (p == end)
            return IC_HTTP_INCOMPLETE;
        if (*p < '0' || *p > '9' || (i == 0 && (*p < '1' || *p > '5')))
            return IC_EHTTP_RESPONSE;
        status = status * 10 + (*p - '0');
    }
    res->status = status;
    if (p == end)
        return IC_HTTP_INCOMPLETE;
    const char *reason = p;
    if (*p == ' ') {
        reason = ++p;
        p = ic__http_scan_value(p, end);
        if (p == end)
            return IC_HTTP_INCOMPLETE;
    }
    res->reason = (ic_str_t){reason, (size_t)(p - reason)};
    int ret = ic__http_crlf(&p, end);
    if (ret < 0)
        return ret == IC_HTTP_INCOMPLETE ? ret : IC_EHTTP_RESPONSE; /* not CRLF after the reason or the status */
    *pp = p;
    return 0;
}

int ic_http_parse_response(const char *buf, size_t len, ic_http_response_t *res)
{
    const char *p = buf, *end = buf + len;
    int ret;

    memset(res, 0, offsetof(ic_http_response_t, headers));
    res->has_length = res->chunked = res->keep_alive = false;
    res->content_length = 0;
    res->head_len = 0;

    if ((ret = parse_status_line(&p, end, res)) < 0)
        return ret;
    if ((ret = ic__http_parse_fields(&p, end, res->headers, &res->nheaders)) < 0)
        return ret == IC_EHTTP_BAD ? IC_EHTTP_RESPONSE : ret;
    if ((ret = interpret(res)) < 0)
        return ret;
    res->head_len = (size_t)(p - buf);
    return (int)res->head_len;
}
