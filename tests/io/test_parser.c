/*
 * test_parser.c: our HTTP/1.1 request parser against libhttp-parser, the
 * oracle, over a corpus of valid and invalid requests, each also split at
 * every byte boundary.
 *
 * Each corpus entry says what status our parser must give (0: a valid
 * request). Where we are deliberately stricter or more lenient than
 * libhttp-parser (see isocore/http.h), the entry names the difference; the
 * test then checks that the two really disagree, so the list stays honest.
 */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>

#include "t_util.h"

struct t_case {
    const char *name;
    const char *raw;
    int status;          /* ours: 0 = valid, else the HTTP status of the error */
    const char *differs; /* why libhttp-parser disagrees, or NULL */
};

#define HOST "Host: example.com\r\n"
static const struct t_case corpus[] = {
    {"simple get", "GET / HTTP/1.1\r\n" HOST "\r\n", 0, NULL},
    {"wrk request", "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk/4.1\r\nAccept: */*\r\n\r\n", 0, NULL},
    {"post with length", "POST /submit HTTP/1.1\r\n" HOST "Content-Length: 11\r\n\r\nhello world", 0, NULL},
    {"post with zero length", "POST / HTTP/1.1\r\n" HOST "Content-Length: 0\r\n\r\n", 0, NULL},
    {"chunked post",
     "POST /c HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n",
     0, NULL},
    {"chunked upper-case hex", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", 0,
     NULL},
    {"http/1.0 keep-alive", "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, NULL},
    {"http/1.0 close", "GET /old HTTP/1.0\r\n\r\n", 0, NULL},
    {"http/1.1 close", "GET / HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n", 0, NULL},
    {"leading empty line", "\r\nGET / HTTP/1.1\r\n" HOST "\r\n", 0, NULL},
    {"value whitespace trimmed", "GET / HTTP/1.1\r\n" HOST "X-A:   spaced \t \r\nX-Empty:\r\n\r\n", 0, NULL},
    {"absolute-form target", "GET http://example.com/a?b=c#d HTTP/1.1\r\n" HOST "\r\n", 0, NULL},
    {"options star", "OPTIONS * HTTP/1.1\r\n" HOST "\r\n", 0, NULL},
    {"head", "HEAD /x HTTP/1.1\r\n" HOST "\r\n", 0, NULL},
    {"expect continue", "PUT /u HTTP/1.1\r\n" HOST "Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", 0, NULL},
    {"obs-text in value", "GET / HTTP/1.1\r\n" HOST "X-Name: caf\xc3\xa9\r\n\r\n", 0, NULL},
    {"query and percent", "GET /p%20q?x=1&y=%2F HTTP/1.1\r\n" HOST "\r\n", 0, NULL},
    {"custom method", "FROB / HTTP/1.1\r\n" HOST "\r\n", 0, "it knows a fixed list of methods"},
    {"http/1.1 minor 9", "GET / HTTP/1.9\r\n" HOST "\r\n", 0, NULL},

    {"bare LF", "GET / HTTP/1.1\n" HOST "\n", 400, "it accepts bare LF line ends"},
    {"bare LF in header", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400, "it accepts bare LF line ends"},
    {"obs-fold", "GET / HTTP/1.1\r\n" HOST "X-Fold: a\r\n  b\r\n\r\n", 400, "it accepts obs-fold"},
    {"space before colon", "GET / HTTP/1.1\r\n" HOST "X-A : b\r\n\r\n", 400, "it accepts whitespace before the colon"},
    {"content-length and chunked", "POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400, NULL},
    {"duplicate content-length", "POST / HTTP/1.1\r\n" HOST "Content-Length: 1\r\nContent-Length: 1\r\n\r\na", 400, NULL},
    {"content-length not digits", "POST / HTTP/1.1\r\n" HOST "Content-Length: 1x\r\n\r\na", 400, NULL},
    {"content-length negative", "POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n", 400, NULL},
    {"content-length overflow", "POST / HTTP/1.1\r\n" HOST "Content-Length: 99999999999999999999999\r\n\r\n", 400, NULL},
    {"gzip transfer-encoding", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\n", 501, NULL},
    {"chunked on http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
     "it accepts chunked HTTP/1.0 requests"},
    {"http/2.0 version", "GET / HTTP/2.0\r\n" HOST "\r\n", 505, "it accepts any major version"},
    {"bad version", "GET / HTTP/1.x\r\n" HOST "\r\n", 400, NULL},
    {"lower-case protocol", "GET / http/1.1\r\n" HOST "\r\n", 400, NULL},
    {"missing host", "GET / HTTP/1.1\r\n\r\n", 400, "it does not require Host"},
    {"duplicate host", "GET / HTTP/1.1\r\n" HOST HOST "\r\n", 400, "it allows two Host headers"},
    {"host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "it does not check the Host value"},
    {"host with a bad port", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400, "it does not check the Host value"},
    {"host ip literal and port", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 0, NULL},
    {"host empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 0, NULL},
    {"unknown expectation", "PUT /u HTTP/1.1\r\n" HOST "Expect: 100-nope\r\nContent-Length: 3\r\n\r\nabc", 417,
     "it does not look at Expect"},
    {"NUL in target", "GET /a\0b HTTP/1.1\r\n" HOST "\r\n", 400, NULL},
    {"control char in value", "GET / HTTP/1.1\r\n" HOST "X: a\x01z\r\n\r\n", 400, NULL},
    {"bad method char", "G(T / HTTP/1.1\r\n" HOST "\r\n", 400, NULL},
    {"runs of spaces", "GET  /  HTTP/1.1\r\n" HOST "\r\n", 0, NULL},
    {"tls client hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, NULL},
    {"bad chunk size", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400, NULL},
    {"chunk data too long", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", 400, NULL},
};

/* What a parse of a whole message (head and body) gave. */
struct t_result {
    bool ok;
    int status;
    char method[32], url[256], headers[4096], body[256];
    bool keep_alive;
};

/* ---- ours ----------------------------------------------------------------------- */

/* Decodes body bytes [0, len) of a message, fed in two pieces split at `split`. Returns bytes left over or an error. */
static ssize_t t_chunked(const char *body, size_t len, size_t split, char *out, size_t *outlen)
{
    ic_http_chunked_t d;
    ic_http_chunked_init(&d);
    char piece[512];
    size_t pieces[2][2] = {{0, split}, {split, len}}, o = 0;
    ssize_t r = IC_HTTP_INCOMPLETE;
    for (int i = 0; i < 2 && r == IC_HTTP_INCOMPLETE; i++) {
        size_t n = pieces[i][1] - pieces[i][0];
        memcpy(piece, body + pieces[i][0], n);
        r = ic_http_chunked_decode(&d, piece, &n);
        memcpy(out + o, piece, n);
        o += n;
    }
    *outlen = o;
    return r;
}

static void t_mine(const char *raw, size_t len, size_t split, struct t_result *res)
{
    static ic_http_request_t req;
    memset(res, 0, sizeof(*res));
    int r = ic_http_parse_request(raw, len, &req);
    if (r < 0) {
        res->status = r == IC_HTTP_INCOMPLETE ? 400 : ic_http_error_status(r);
        return;
    }
    snprintf(res->method, sizeof(res->method), "%.*s", (int)req.method.len, req.method.p);
    snprintf(res->url, sizeof(res->url), "%.*s", (int)req.target.len, req.target.p);
    for (unsigned i = 0; i < req.nheaders; i++) {
        size_t n = strlen(res->headers);
        snprintf(res->headers + n, sizeof(res->headers) - n, "%.*s=%.*s\n", (int)req.headers[i].name.len, req.headers[i].name.p,
                 (int)req.headers[i].value.len, req.headers[i].value.p);
    }
    res->keep_alive = req.keep_alive;
    const char *body = raw + r;
    size_t blen = len - (size_t)r;
    if (req.chunked) {
        size_t outlen;
        size_t s = split > (size_t)r ? split - (size_t)r : 0;
        ssize_t left = t_chunked(body, blen, s, res->body, &outlen);
        if (left != 0) {
            res->status = 400;
            return;
        }
        res->body[outlen] = '\0';
    } else {
        if (req.content_length != blen) {
            res->status = 400;
            return;
        }
        memcpy(res->body, body, blen);
        res->body[blen] = '\0';
    }
    res->ok = true;
}

/* ---- the oracle ------------------------------------------------------------------- */

struct t_oracle {
    struct t_result *res;
    bool complete;
    int last_was_value;
};

static int o_url(http_parser *p, const char *at, size_t len)
{
    struct t_oracle *o = p->data;
    strncat(o->res->url, at, len);
    return 0;
}

static int o_field(http_parser *p, const char *at, size_t len)
{
    struct t_oracle *o = p->data;
    if (o->last_was_value)
        strcat(o->res->headers, "\n");
    o->last_was_value = 0;
    strncat(o->res->headers, at, len);
    return 0;
}

static int o_value(http_parser *p, const char *at, size_t len)
{
    struct t_oracle *o = p->data;
    if (!o->last_was_value)
        strcat(o->res->headers, "=");
    o->last_was_value = 1;
    strncat(o->res->headers, at, len);
    return 0;
}

static int o_headers_complete(http_parser *p)
{
    struct t_oracle *o = p->data;
    if (o->last_was_value)
        strcat(o->res->headers, "\n");
    snprintf(o->res->method, sizeof(o->res->method), "%s", http_method_str((enum http_method)p->method));
    o->res->keep_alive = http_should_keep_alive(p);
    return 0;
}

static int o_body(http_parser *p, const char *at, size_t len)
{
    struct t_oracle *o = p->data;
    strncat(o->res->body, at, len);
    return 0;
}

static int o_complete(http_parser *p)
{
    struct t_oracle *o = p->data;
    o->complete = true;
    return 0;
}

static void t_oracle(const char *raw, size_t len, size_t split, struct t_result *res)
{
    http_parser_settings s;
    http_parser p;
    struct t_oracle o = {.res = res};
    memset(res, 0, sizeof(*res));
    http_parser_settings_init(&s);
    s.on_url = o_url;
    s.on_header_field = o_field;
    s.on_header_value = o_value;
    s.on_headers_complete = o_headers_complete;
    s.on_body = o_body;
    s.on_message_complete = o_complete;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &o;
    size_t n = http_parser_execute(&p, &s, raw, split);
    if (n == split && HTTP_PARSER_ERRNO(&p) == HPE_OK && !o.complete)
        n += http_parser_execute(&p, &s, raw + split, len - split);
    res->ok = HTTP_PARSER_ERRNO(&p) == HPE_OK && o.complete && n == len;
}

/* ---- tests ------------------------------------------------------------------------- */

static size_t t_len(const struct t_case *c)
{
    /* Cases with an embedded NUL give their length through the NUL's position: find the last byte. */
    if (!strcmp(c->name, "NUL in target"))
        return strlen(c->raw) + 1 + strlen(c->raw + strlen(c->raw) + 1);
    return strlen(c->raw);
}

Test(parser, corpus_against_oracle_split_at_every_byte)
{
    unsigned agree = 0, known = 0;
    for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        const struct t_case *c = &corpus[i];
        size_t len = t_len(c);
        struct t_result mine_whole, mine, oracle_whole, oracle;
        t_mine(c->raw, len, len, &mine_whole);
        t_oracle(c->raw, len, len, &oracle_whole);
        cr_assert_eq(mine_whole.ok ? 0 : mine_whole.status, c->status, "%s: we gave %d, expected %d", c->name,
                     mine_whole.ok ? 0 : mine_whole.status, c->status);
        if (c->differs) {
            cr_assert_neq(mine_whole.ok, oracle_whole.ok, "%s: listed as a difference (%s) but both agree", c->name, c->differs);
            known++;
        } else {
            cr_assert_eq(mine_whole.ok, oracle_whole.ok, "%s: we say %s, libhttp-parser says %s", c->name,
                         mine_whole.ok ? "valid" : "invalid", oracle_whole.ok ? "valid" : "invalid");
            if (mine_whole.ok) {
                cr_assert_str_eq(mine_whole.method, oracle_whole.method, "%s", c->name);
                cr_assert_str_eq(mine_whole.url, oracle_whole.url, "%s", c->name);
                cr_assert_str_eq(mine_whole.body, oracle_whole.body, "%s", c->name);
                cr_assert_eq(mine_whole.keep_alive, oracle_whole.keep_alive, "%s: keep-alive", c->name);
            }
            agree++;
        }
        /* Every split gives the same answer as the whole, for both parsers. */
        for (size_t k = 0; k <= len; k++) {
            t_mine(c->raw, len, k, &mine);
            t_oracle(c->raw, len, k, &oracle);
            cr_assert_eq(mine.ok, mine_whole.ok, "%s split at %zu", c->name, k);
            if (mine_whole.ok)
                cr_assert_str_eq(mine.body, mine_whole.body, "%s split at %zu", c->name, k);
            cr_assert_eq(oracle.ok, oracle_whole.ok, "oracle: %s split at %zu", c->name, k);
        }
    }
    cr_log_info("parser corpus: %u cases agree with libhttp-parser, %u known differences", agree, known);
}

Test(parser, prefixes_are_incomplete_until_the_head_ends)
{
    for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        const struct t_case *c = &corpus[i];
        size_t len = t_len(c);
        ic_http_request_t req;
        int whole = ic_http_parse_request(c->raw, len, &req);
        for (size_t k = 0; k < len; k++) {
            int r = ic_http_parse_request(c->raw, k, &req);
            if (whole > 0) {
                if (k < (size_t)whole)
                    cr_assert_eq(r, IC_HTTP_INCOMPLETE, "%s: prefix %zu gave %d", c->name, k, r);
                else
                    cr_assert_eq(r, whole, "%s: prefix %zu", c->name, k);
            } else {
                cr_assert(r == IC_HTTP_INCOMPLETE || r == whole, "%s: prefix %zu gave %d, whole %d", c->name, k, r, whole);
            }
        }
    }
}

Test(parser, fields)
{
    const char *raw = "POST /a?b HTTP/1.1\r\nHost: h.example\r\nContent-Length: 42\r\nExpect: 100-continue\r\nX-Pad:  v  \r\n\r\n";
    ic_http_request_t req;
    int r = ic_http_parse_request(raw, strlen(raw), &req);
    cr_assert_eq(r, (int)strlen(raw));
    cr_assert_eq(req.method.len, 4);
    cr_assert_eq(strncmp(req.method.p, "POST", 4), 0);
    cr_assert_eq(req.target.p, raw + 5, "not zero-copy");
    cr_assert_eq(req.host.len, 9);
    cr_assert(req.has_length && req.content_length == 42 && !req.chunked);
    cr_assert(req.expect_continue && req.keep_alive);
    cr_assert_eq(req.minor, 1);
    cr_assert_eq(req.nheaders, 4);
    cr_assert_eq(req.headers[3].value.len, 1, "value not trimmed");
}

Test(parser, too_many_headers_is_431)
{
    char buf[8192];
    int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n" HOST);
    for (int i = 0; i < IC_HTTP_MAX_HEADERS; i++)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "X-%d: v\r\n", i);
    n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\r\n");
    ic_http_request_t req;
    int r = ic_http_parse_request(buf, (size_t)n, &req);
    cr_assert_eq(r, IC_EHTTP_TOO_MANY_HEADERS);
    cr_assert_eq(ic_http_error_status(r), 431);
}

Test(parser, long_values_cross_simd_blocks)
{
    /* Values and targets longer than 16 bytes, with the bad byte at every position of a 16-byte block. */
    for (int pos = 0; pos < 40; pos++) {
        char buf[256], val[64];
        memset(val, 'a', sizeof(val));
        val[40] = '\0';
        val[pos] = '\x01';
        int n = snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\n" HOST "\r\n", val);
        ic_http_request_t req;
        cr_assert_eq(ic_http_parse_request(buf, (size_t)n, &req), IC_EHTTP_BAD, "target, bad byte at %d", pos);
        n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n" HOST "X: %s\r\n\r\n", val);
        cr_assert_eq(ic_http_parse_request(buf, (size_t)n, &req), IC_EHTTP_BAD, "value, bad byte at %d", pos);
        val[pos] = 'b';
        n = snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\n" HOST "X: %s\r\n\r\n", val, val);
        cr_assert_eq(ic_http_parse_request(buf, (size_t)n, &req), n);
        cr_assert_eq(req.target.len, 41);
        cr_assert_eq(req.headers[1].value.len, 40);
    }
}

Test(parser, chunked_leftover_is_the_next_request)
{
    char buf[] = "3\r\nabc\r\n0\r\n\r\nGET /next";
    size_t len = strlen(buf);
    ic_http_chunked_t d;
    ic_http_chunked_init(&d);
    ssize_t left = ic_http_chunked_decode(&d, buf, &len);
    cr_assert_eq(left, 9);
    cr_assert_eq(len, 3);
    cr_assert_eq(strncmp(buf, "abc", 3), 0);
    cr_assert_eq(strncmp(buf + strlen("3\r\nabc\r\n0\r\n\r\nGET /next") - (size_t)left, "GET /next", 9), 0);
}
