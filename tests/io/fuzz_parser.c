/*
 * fuzz_parser.c: libFuzzer target for the HTTP request parser and the
 * chunked decoder (built by tools/fuzz.sh with clang, ASan and UBSan).
 * Beyond crashes, it checks what must hold for any input: every view lies
 * inside the buffer, a complete head is no longer than the input, the
 * answer does not change when called twice, and the decoder never grows
 * its input.
 */
#include <stdlib.h>
#include <string.h>

#include "isocore/http.h"

static void inside(const uint8_t *buf, size_t len, ic_str_t s)
{
    if (s.len && ((const uint8_t *)s.p < buf || (const uint8_t *)s.p + s.len > buf + len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ic_http_request_t req, again;
    static ic_http_response_t res, res_again;
    int rr = ic_http_parse_response((const char *)data, size, &res);
    if (rr != ic_http_parse_response((const char *)data, size, &res_again))
        abort();
    if (rr > 0) {
        if ((size_t)rr > size || (size_t)rr != res.head_len || res.status < 100 || res.status > 599 ||
            (res.chunked && res.has_length))
            abort();
        inside(data, size, res.reason);
        for (unsigned i = 0; i < res.nheaders; i++) {
            inside(data, size, res.headers[i].name);
            inside(data, size, res.headers[i].value);
        }
    } else if (rr != IC_HTTP_INCOMPLETE && rr != IC_EHTTP_RESPONSE && rr != IC_EHTTP_TOO_MANY_HEADERS) {
        abort();
    }
    int r = ic_http_parse_request((const char *)data, size, &req);
    if (r != ic_http_parse_request((const char *)data, size, &again))
        abort();
    if (r > 0) {
        if ((size_t)r > size || (size_t)r != req.head_len)
            abort();
        inside(data, size, req.method);
        inside(data, size, req.target);
        inside(data, size, req.host);
        for (unsigned i = 0; i < req.nheaders; i++) {
            inside(data, size, req.headers[i].name);
            inside(data, size, req.headers[i].value);
        }
        if (req.chunked) {
            size_t len = size - (size_t)r;
            char *body = malloc(len + 1);
            memcpy(body, data + r, len);
            ic_http_chunked_t d;
            ic_http_chunked_init(&d);
            size_t out = len;
            ssize_t left = ic_http_chunked_decode(&d, body, &out);
            if (out > len || (left >= 0 && (size_t)left > len) || d.total != out)
                abort();
            free(body);
        }
    }
    return 0;
}
