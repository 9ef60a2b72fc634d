/*
 * bench/parser.c: our HTTP request parser against libhttp-parser on the same
 * requests, in one run. Prints ns per request; never fails.
 *
 *   bench_parser [iterations]
 */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isocore.h"

/* 119 bytes: what wrk sends by default, plus a typical Accept. */
static const char small[] = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk/4.2.0\r\n"
                            "Accept: text/plain,*/*;q=0.8\r\nConnection: keep-alive\r\n\r\n";
static const char browser[] =
    "GET /static/app/main.js?v=2f9c1 HTTP/1.1\r\nHost: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    "Accept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/products/category/item?id=12345\r\n"
    "Cookie: session=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08; theme=dark; lang=en\r\n"
    "Connection: keep-alive\r\n\r\n";

static volatile size_t sink;

static int cb_data(http_parser *p, const char *at, size_t len)
{
    sink += len;
    return 0;
}

static int cb(http_parser *p)
{
    return 0;
}

static double ours(const char *req, size_t len, long iters)
{
    ic_http_request_t r;
    uint64_t t0 = ic_clock_ns();
    for (long i = 0; i < iters; i++) {
        if (ic_http_parse_request(req, len, &r) <= 0)
            abort();
        sink += r.nheaders;
    }
    return (double)(ic_clock_ns() - t0) / (double)iters;
}

static double oracle(const char *req, size_t len, long iters)
{
    http_parser_settings s;
    http_parser p;
    http_parser_settings_init(&s);
    s.on_url = cb_data;
    s.on_header_field = cb_data;
    s.on_header_value = cb_data;
    s.on_headers_complete = cb;
    s.on_message_complete = cb;
    uint64_t t0 = ic_clock_ns();
    for (long i = 0; i < iters; i++) {
        http_parser_init(&p, HTTP_REQUEST);
        if (http_parser_execute(&p, &s, req, len) != len)
            abort();
    }
    return (double)(ic_clock_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    struct {
        const char *name, *req;
        size_t len;
    } cases[] = {{"wrk-like", small, sizeof(small) - 1}, {"browser", browser, sizeof(browser) - 1}};
    printf("# isocore bench_parser: %ld iterations per cell, medians of 5 interleaved rounds\n\n", iters);
    printf("| request | bytes | isocore ns | libhttp-parser ns | ratio |\n|---|---|---|---|---|\n");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        double a[5], b[5];
        for (int k = 0; k < 5; k++) {
            a[k] = ours(cases[c].req, cases[c].len, iters);
            b[k] = oracle(cases[c].req, cases[c].len, iters);
        }
        /* Median of five by sorting. */
        for (int i = 0; i < 5; i++)
            for (int j = i + 1; j < 5; j++) {
                if (a[j] < a[i]) {
                    double t = a[i];
                    a[i] = a[j];
                    a[j] = t;
                }
                if (b[j] < b[i]) {
                    double t = b[i];
                    b[i] = b[j];
                    b[j] = t;
                }
            }
        printf("| %s | %zu | %.0f | %.0f | %.2fx |\n", cases[c].name, cases[c].len, a[2], b[2], b[2] / a[2]);
    }
    return 0;
}
