/*
 * t_http.h: a small blocking HTTP/1.1 client for the tests: connect, send,
 * and read responses one after the other from the same connection (a head,
 * then a body framed by Content-Length, chunked coding or the close).
 */
#ifndef ISOCORE_T_HTTP_H
#define ISOCORE_T_HTTP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct t_in {
    int fd;
    char *buf;
    size_t len, cap, at;
};

struct t_resp {
    int status;
    char head[4096]; /* the status line and header lines, as received */
    bool chunked, complete;
    long length; /* Content-Length, or -1 */
    char *body;  /* malloc'd (NUL-terminated), or NULL */
    size_t body_len;
};

/* A connection to 127.0.0.1:port; rcvbuf (when not 0) is set before connect, so the window fits it from the start. */
static inline int t_http_dial(unsigned port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline void t_http_send(int fd, const void *p, size_t n)
{
    const char *s = (const char *)p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Makes sure n bytes past `at` are buffered; false on EOF or timeout. */
static inline bool t_need(struct t_in *in, size_t n)
{
    while (in->len - in->at < n) {
        if (in->len == in->cap) {
            in->cap = in->cap ? in->cap * 2 : 1 << 16;
            in->buf = (char *)realloc(in->buf, in->cap);
        }
        ssize_t r = recv(in->fd, in->buf + in->len, in->cap - in->len, 0);
        if (r <= 0)
            return false;
        in->len += (size_t)r;
    }
    return true;
}

/* The bytes already consumed are dropped, so that a long body does not keep the whole stream in memory. */
static inline void t_compact(struct t_in *in)
{
    memmove(in->buf, in->buf + in->at, in->len - in->at);
    in->len -= in->at;
    in->at = 0;
}

/* A CRLF-terminated line at `at`: its length without the CRLF, or -1 on EOF. */
static inline long t_line(struct t_in *in)
{
    for (size_t k = in->at;; k++) {
        if (!t_need(in, k + 2 - in->at))
            return -1;
        if (in->buf[k] == '\r' && in->buf[k + 1] == '\n')
            return (long)(k - in->at);
    }
}

static inline void t_body_add(struct t_resp *r, const char *p, size_t n, bool keep)
{
    if (keep) {
        r->body = (char *)realloc(r->body, r->body_len + n + 1);
        memcpy(r->body + r->body_len, p, n);
        r->body[r->body_len + n] = '\0';
    }
    r->body_len += n;
}

/*
 * Reads one response. head_only: the request was HEAD (no body follows).
 * keep: keep the body's bytes in r->body (else only count them). Returns
 * false when not even a status line came.
 */
static inline bool t_http_read(struct t_in *in, struct t_resp *r, bool head_only, bool keep)
{
    memset(r, 0, sizeof(*r));
    r->length = -1;
    long n = t_line(in);
    if (n < 0)
        return false;
    r->status = atoi(in->buf + in->at + 9);
    size_t hl = 0;
    for (;;) {
        if (hl + (size_t)n + 2 < sizeof(r->head)) {
            memcpy(r->head + hl, in->buf + in->at, (size_t)n + 2);
            hl += (size_t)n + 2;
            r->head[hl] = '\0';
        }
        char *l = in->buf + in->at;
        if (n >= 26 && strncasecmp(l, "Transfer-Encoding: chunked", 26) == 0)
            r->chunked = true;
        if (n > 16 && strncasecmp(l, "Content-Length: ", 16) == 0)
            r->length = atol(l + 16);
        in->at += (size_t)n + 2;
        if (n == 0)
            break;
        if ((n = t_line(in)) < 0)
            return true;
    }
    if (head_only) {
        r->complete = true;
        return true;
    }
    if (r->chunked) {
        for (;;) {
            t_compact(in);
            if ((n = t_line(in)) < 0)
                return true;
            size_t size = strtoul(in->buf + in->at, NULL, 16);
            in->at += (size_t)n + 2;
            if (!t_need(in, size + 2))
                return true;
            t_body_add(r, in->buf + in->at, size, keep);
            in->at += size + 2;
            if (size == 0) {
                r->complete = true;
                return true;
            }
        }
    }
    size_t want = r->length >= 0 ? (size_t)r->length : SIZE_MAX;
    while (r->body_len < want) {
        t_compact(in);
        if (!t_need(in, 1))
            break;
        size_t avail = in->len - in->at, take = avail < want - r->body_len ? avail : want - r->body_len;
        t_body_add(r, in->buf + in->at, take, keep);
        in->at += take;
    }
    r->complete = r->length >= 0 ? r->body_len == (size_t)r->length : true;
    return true;
}

static inline void t_resp_free(struct t_resp *r)
{
    free(r->body);
    r->body = NULL;
}

#endif
