/*
 * test_response.c: the client's HTTP/1.1 response-head parser
 * (ic_http_parse_response) over a table of good and bad heads — the
 * request-smuggling shapes among them — each also cut at every byte, and
 * the fields it derives (status, reason, framing, keep-alive).
 *
 * Line ends: a bare LF is rejected, as the server's request parser rejects
 * it (both read header fields with the same code).
 */
#include <stdio.h>
#include <string.h>

#include "t_util.h"

struct t_resp {
    const char *name;
    const char *raw;
    size_t len; /* entries may hold NULs */
    int want;   /* 0: a valid head; else the error */
    /* For valid heads: what the parser must derive. */
    int status;
    int has_length; /* 1: Content-Length present */
    unsigned long long length;
    int chunked;
    int keep_alive;
};

#define OK200 "HTTP/1.1 200 OK\r\n"
#define BAD IC_EHTTP_RESPONSE, 0, 0, 0, 0, 0 /* the derived fields are not checked */
#define R(s) s, sizeof(s) - 1
static const struct t_resp table[] = {
    /* name, raw and its length, want, status, has_length, length, chunked, keep_alive */
    {"length", R(OK200 "Content-Length: 5\r\n\r\nhello"), 0, 200, 1, 5, 0, 1},
    {"zero length", R(OK200 "Content-Length: 0\r\n\r\n"), 0, 200, 1, 0, 0, 1},
    {"chunked", R(OK200 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 0, 200, 0, 0, 1, 1},
    {"chunked upper case", R(OK200 "Transfer-Encoding: CHUNKED\r\n\r\n"), 0, 200, 0, 0, 1, 1},
    {"chunked with empty list elements", R(OK200 "Transfer-Encoding: , chunked ,\r\n\r\n"), 0, 200, 0, 0, 1, 1},
    {"duplicate lengths that agree", R(OK200 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"), 0, 200, 1, 5, 0, 1},
    {"length list that agrees", R(OK200 "Content-Length: 5, 5\r\n\r\n"), 0, 200, 1, 5, 0, 1},
    {"connection close", R(OK200 "Connection: close\r\nContent-Length: 1\r\n\r\n"), 0, 200, 1, 1, 0, 0},
    {"connection list with close", R(OK200 "Connection: upgrade, Close\r\nContent-Length: 1\r\n\r\n"), 0, 200, 1, 1, 0, 0},
    {"http/1.0 default close", R("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"), 0, 200, 1, 1, 0, 0},
    {"http/1.0 keep-alive", R("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n"), 0, 200, 1, 1, 0, 1},
    {"http/1.0 keep-alive and close", R("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\n"), 0, 200, 1,
     1, 0, 0},
    {"no framing: read until close", R(OK200 "Server: x\r\n\r\n"), 0, 200, 0, 0, 0, 0},
    {"204 without framing keeps alive", R("HTTP/1.1 204 No Content\r\n\r\n"), 0, 204, 0, 0, 0, 1},
    {"304 with length", R("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"), 0, 304, 1, 99, 0, 1},
    {"304 with gzip transfer-encoding", R("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip\r\n\r\n"), 0, 304, 0, 0, 0, 1},
    {"100 continue", R("HTTP/1.1 100 Continue\r\n\r\n"), 0, 100, 0, 0, 0, 1},
    {"empty reason", R("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), 0, 200, 1, 0, 0, 1},
    {"no reason, no space", R("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), 0, 200, 1, 0, 0, 1},
    {"reason with tab and obs-text", R("HTTP/1.1 404 Not\tFound caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n"), 0, 404, 1, 0, 0, 1},
    {"599", R("HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n"), 0, 599, 1, 0, 0, 1},
    {"http/1.9 read as 1.1", R("HTTP/1.9 200 OK\r\nContent-Length: 0\r\n\r\n"), 0, 200, 1, 0, 0, 1},
    {"values trimmed, obs-text", R(OK200 "X-A:  caf\xc3\xa9 \t\r\nX-Empty:\r\nContent-Length:\t7 \r\n\r\n"), 0, 200, 1, 7, 0, 1},
    {"length 2^62 - 1", R(OK200 "Content-Length: 4611686018427387903\r\n\r\n"), 0, 200, 1, 4611686018427387903ULL, 0, 1},
    {"large length", R(OK200 "Content-Length: 4611686018427387000\r\n\r\n"), 0, 200, 1, 4611686018427387000ULL, 0, 1},

    /* Smuggling shapes. */
    {"length and chunked", R(OK200 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), BAD},
    {"chunked and length", R(OK200 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), BAD},
    {"identity transfer-encoding", R(OK200 "Transfer-Encoding: identity\r\n\r\n"), BAD},
    {"gzip transfer-encoding (read until close)", R(OK200 "Transfer-Encoding: gzip\r\n\r\n"), BAD},
    {"chunked then gzip", R(OK200 "Transfer-Encoding: chunked, gzip\r\n\r\n"), BAD},
    {"gzip under chunked", R(OK200 "Transfer-Encoding: gzip, chunked\r\n\r\n"), BAD},
    {"chunked twice", R(OK200 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), BAD},
    {"chunked with a parameter", R(OK200 "Transfer-Encoding: chunked;x=1\r\n\r\n"), BAD},
    {"chunked with a space inside", R(OK200 "Transfer-Encoding: chun ked\r\n\r\n"), BAD},
    {"empty transfer-encoding", R(OK200 "Transfer-Encoding:\r\n\r\n"), BAD},
    {"chunked on http/1.0", R("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), BAD},
    {"space before colon", R(OK200 "Transfer-Encoding : chunked\r\n\r\n"), BAD},
    {"tab before colon", R(OK200 "Content-Length\t: 5\r\n\r\n"), BAD},
    {"lengths that differ", R(OK200 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), BAD},
    {"length list that differs", R(OK200 "Content-Length: 5, 6\r\n\r\n"), BAD},
    {"length list with an empty element", R(OK200 "Content-Length: 5,\r\n\r\n"), BAD},
    {"length with plus", R(OK200 "Content-Length: +5\r\n\r\n"), BAD},
    {"length with minus", R(OK200 "Content-Length: -5\r\n\r\n"), BAD},
    {"length with a space inside", R(OK200 "Content-Length: 1 2\r\n\r\n"), BAD},
    {"length hex", R(OK200 "Content-Length: 0x10\r\n\r\n"), BAD},
    {"empty length", R(OK200 "Content-Length:\r\n\r\n"), BAD},
    {"length 2^62", R(OK200 "Content-Length: 4611686018427387904\r\n\r\n"), BAD},
    {"length 2^62 + 5", R(OK200 "Content-Length: 4611686018427387909\r\n\r\n"), BAD},
    {"length over 2^62", R(OK200 "Content-Length: 4611686018427387904000\r\n\r\n"), BAD},
    {"length overflow", R(OK200 "Content-Length: 99999999999999999999999\r\n\r\n"), BAD},
    {"obs-fold", R(OK200 "X-Fold: a\r\n b\r\nContent-Length: 0\r\n\r\n"), BAD},
    {"obs-fold with tab", R(OK200 "X-Fold: a\r\n\tb\r\n\r\n"), BAD},
    {"bare LF everywhere", R("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), BAD},
    {"bare LF after a header", R(OK200 "Content-Length: 0\n\r\n"), BAD},
    {"bare LF at the end", R(OK200 "Content-Length: 0\r\n\n"), BAD},
    {"bare CR in a value", R(OK200 "X: a\rb\r\n\r\n"), BAD},
    {"bare CR in the reason", R("HTTP/1.1 200 O\rK\r\n\r\n"), BAD},
    {"NUL in a value", R(OK200 "X: a\0b\r\n\r\n"), BAD},
    {"NUL in a name", R(OK200 "X\0: b\r\n\r\n"), BAD},
    {"NUL in the reason", R("HTTP/1.1 200 O\0K\r\n\r\n"), BAD},
    {"DEL in the reason", R("HTTP/1.1 200 O\x7fK\r\n\r\n"), BAD},
    {"control in a value", R(OK200 "X: a\x01z\r\n\r\n"), BAD},
    {"empty name", R(OK200 ": v\r\n\r\n"), BAD},
    {"name with a slash", R(OK200 "X/Y: v\r\n\r\n"), BAD},

    /* Status lines. */
    {"status 099", R("HTTP/1.1 099 Low\r\n\r\n"), BAD},
    {"status 600", R("HTTP/1.1 600 High\r\n\r\n"), BAD},
    {"status 2 digits", R("HTTP/1.1 20 OK\r\n\r\n"), BAD},
    {"status 4 digits", R("HTTP/1.1 2000 OK\r\n\r\n"), BAD},
    {"status not digits", R("HTTP/1.1 2x0 OK\r\n\r\n"), BAD},
    {"two spaces before status", R("HTTP/1.1  200 OK\r\n\r\n"), BAD},
    {"http/2.0", R("HTTP/2.0 200 OK\r\n\r\n"), BAD},
    {"http/1.x", R("HTTP/1.x 200 OK\r\n\r\n"), BAD},
    {"lower-case protocol", R("http/1.1 200 OK\r\n\r\n"), BAD},
    {"leading empty line", R("\r\nHTTP/1.1 200 OK\r\n\r\n"), BAD},
    {"leading space", R(" HTTP/1.1 200 OK\r\n\r\n"), BAD},
    {"http/0.9 body", R("<html>hello</html>"), BAD},
    {"request instead", R("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), BAD},
    {"tls alert", R("\x15\x03\x03\x00\x02\x02\x28"), BAD},
};

Test(response, table)
{
    unsigned good = 0, bad = 0;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct t_resp *c = &table[i];
        size_t len = c->len;
        ic_http_response_t res;
        int r = ic_http_parse_response(c->raw, len, &res);
        if (c->want < 0) {
            cr_expect_eq(r, c->want, "%s: gave %d (%s), want %d", c->name, r, r < 0 ? ic_strerror(r) : "ok", c->want);
            bad++;
            continue;
        }
        good++;
        if (r <= 0) {
            cr_expect_fail("%s: gave %d (%s)", c->name, r, ic_strerror(r));
            continue;
        }
        const char *end = strstr(c->raw, "\r\n\r\n");
        cr_expect_eq((size_t)r, (size_t)(end + 4 - c->raw), "%s: head_len", c->name);
        cr_expect_eq(res.head_len, (size_t)r, "%s", c->name);
        cr_expect_eq(res.status, c->status, "%s: status", c->name);
        cr_expect_eq(res.has_length, c->has_length != 0, "%s: has_length", c->name);
        cr_expect_eq(res.content_length, c->length, "%s: length", c->name);
        cr_expect_eq(res.chunked, c->chunked != 0, "%s: chunked", c->name);
        cr_expect_eq(res.keep_alive, c->keep_alive != 0, "%s: keep_alive", c->name);
    }
    cr_log_info("response table: %u good heads, %u bad", good, bad);
}

Test(response, every_prefix_is_incomplete_then_the_same_answer)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct t_resp *c = &table[i];
        size_t len = c->len;
        ic_http_response_t res;
        int whole = ic_http_parse_response(c->raw, len, &res);
        for (size_t k = 0; k < len; k++) {
            int r = ic_http_parse_response(c->raw, k, &res);
            if (whole > 0) {
                if (k < (size_t)whole)
                    cr_assert_eq(r, IC_HTTP_INCOMPLETE, "%s: prefix %zu gave %d", c->name, k, r);
                else
                    cr_assert_eq(r, whole, "%s: prefix %zu", c->name, k);
            } else {
                /* A bad byte may be rejected as soon as it arrives; never another error, never a success. */
                cr_assert(r == IC_HTTP_INCOMPLETE || r == whole, "%s: prefix %zu gave %d, whole %d", c->name, k, r, whole);
            }
        }
    }
}

Test(response, fields_are_views)
{
    const char *raw = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-Pad:  v  \r\nContent-Length: 3\r\n\r\nabc";
    ic_http_response_t res;
    int r = ic_http_parse_response(raw, strlen(raw), &res);
    cr_assert_eq(r, (int)(strlen(raw) - 3));
    cr_assert_eq(res.status, 404);
    cr_assert_eq(res.minor, 1);
    cr_assert_eq(res.reason.p, raw + 13, "not zero-copy");
    cr_assert_eq(res.reason.len, 9);
    cr_assert_eq(res.nheaders, 3);
    cr_assert_eq(res.headers[0].name.p, raw + 24);
    cr_assert_eq(res.headers[0].name.len, 12);
    cr_assert_eq(res.headers[1].value.len, 1, "value not trimmed");
    cr_assert_eq(res.headers[1].value.p[0], 'v');
    cr_assert(res.has_length && res.content_length == 3 && !res.chunked && res.keep_alive);

    const char *ten = "HTTP/1.0 200 OK\r\n\r\n";
    cr_assert_eq(ic_http_parse_response(ten, strlen(ten), &res), (int)strlen(ten));
    cr_assert_eq(res.minor, 0);
    cr_assert_eq(res.nheaders, 0);
}

Test(response, too_many_headers)
{
    char buf[8192];
    for (int extra = 0; extra <= 1; extra++) {
        int n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i < IC_HTTP_MAX_HEADERS - 1 + extra; i++)
            n += snprintf(buf + n, sizeof(buf) - (size_t)n, "X-%d: v\r\n", i);
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "Content-Length: 0\r\n\r\n");
        ic_http_response_t res;
        int r = ic_http_parse_response(buf, (size_t)n, &res);
        if (extra)
            cr_assert_eq(r, IC_EHTTP_TOO_MANY_HEADERS, "101 fields gave %d", r);
        else
            cr_assert_eq(r, n, "100 fields gave %d", r);
    }
}

Test(response, bad_bytes_cross_simd_blocks)
{
    /* Reasons and values longer than 16 bytes, with a control byte at every position of a 16-byte block. */
    for (int pos = 0; pos < 40; pos++) {
        char val[64], buf[256];
        memset(val, 'a', sizeof(val));
        val[40] = '\0';
        val[pos] = '\x01';
        int n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 %s\r\nContent-Length: 0\r\n\r\n", val);
        ic_http_response_t res;
        cr_assert_eq(ic_http_parse_response(buf, (size_t)n, &res), IC_EHTTP_RESPONSE, "reason, control at %d", pos);
        n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nX-Long: %s\r\nContent-Length: 0\r\n\r\n", val);
        cr_assert_eq(ic_http_parse_response(buf, (size_t)n, &res), IC_EHTTP_RESPONSE, "value, control at %d", pos);
        val[pos] = 'b';
        n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 %s\r\nX-Long: %s\r\nContent-Length: 0\r\n\r\n", val, val);
        cr_assert_eq(ic_http_parse_response(buf, (size_t)n, &res), n, "clean at %d", pos);
        cr_assert_eq(res.reason.len, 40);
        cr_assert_eq(res.headers[0].value.len, 40);
    }
}
