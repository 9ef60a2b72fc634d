/*
 * server_body.c: the request side of an exchange of the HTTP/1.1 server
 * (server.c): the views of the request, and a request body that streams
 * in (ic_http_body_read), delivered to its reader piece by piece as the
 * socket brings it, paused and resumed by the reader, and the
 * 100 Continue a client waits for before it sends a body.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "io/server_int.h"

const ic_http_request_t *ic_http_request(const ic_http_exchange_t *x)
{
    return &x->req;
}

ic_str_t ic_http_body(const ic_http_exchange_t *x)
{
    return x->body;
}

bool ic_http_exchange_tls(const ic_http_exchange_t *x)
{
    return x->c->tls != NULL;
}

/* ---- request bodies that stream ----------------------------------------------------- */

bool ic_http_body_streaming(const ic_http_exchange_t *x)
{
    return x->body_stream;
}

/* The reader hears the last word once: the end, an error, or that the exchange is over without it. */
void ic__server_body_stop(struct conn *c, int status)
{
    struct ic_http_exchange *x = &c->x;
    if (!x->body_stream || x->body_done)
        return;
    x->body_done = true;
    ic_http_body_cb cb = x->bcb;
    x->bcb = NULL;
    if (cb)
        cb(x->barg, NULL, 0, status);
}

/*
 * Delivers what is buffered of a streamed body to its reader, piece by
 * piece, until it pauses, the buffer is empty or the body ends. The head
 * stays at the start of `in` (its views are the request's); body bytes sit
 * right after it and are dropped as they are delivered, so the buffer holds
 * at most what the socket brought since.
 */
void ic__server_body_feed(struct conn *c)
{
    struct ic_http_exchange *x = &c->x;
    const ic_http_server_config_t *cfg = &c->sc->srv->cfg;
    while (x->body_stream && !x->body_done && x->bcb && !x->body_paused && !c->closing) {
        size_t head = x->consumed;
        char *p = c->in + head;
        size_t avail = c->in_len - head, len, rest = 0;
        bool end = false;
        if (x->req.chunked) {
            /* [head, head + decoded) may hold bytes decoded before the handler ran; the decoder works on the rest. */
            size_t decoded = (size_t)(c->chunk.total - x->body_left), raw = avail - decoded, n = raw;
            ssize_t left = raw ? ic_http_chunked_decode(&c->chunk, p + decoded, &n) : IC_HTTP_INCOMPLETE;
            if (left != IC_HTTP_INCOMPLETE && left < 0)
                return ic__server_body_stop(c, IC_EHTTP_BAD);
            if (raw == 0)
                n = 0;
            len = decoded + n;
            x->body_left = c->chunk.total; /* here: bytes decoded so far, all delivered once this piece is */
            if (c->chunk.total > cfg->max_stream_body)
                return ic__server_body_stop(c, -E2BIG);
            if (left != IC_HTTP_INCOMPLETE) {
                end = true;
                rest = (size_t)left; /* the next request's bytes, at the end of the buffer */
            }
            if (len == 0 && !end) {
                c->in_len = head;
                if (c->eof)
                    ic__server_body_stop(c, -EPIPE);
                return;
            }
            /* The terminal chunk may come alone in its own read: then the reader hears only the end, never an empty piece. */
            if (len > 0) {
                x->bcb(x->barg, p, len, 0);
                if (!x->body_stream || x->body_done || c->closing)
                    return; /* the reader answered the exchange (or the connection went) from its callback */
            }
            if (end) {
                memmove(p, c->in + c->in_len - rest, rest);
                c->in_len = head + rest;
                x->body_done = true;
                ic_http_body_cb cb = x->bcb;
                x->bcb = NULL;
                cb(x->barg, NULL, 0, 1);
                return;
            }
            c->in_len = head;
            continue;
        }
        if (avail == 0) {
            if (c->eof)
                ic__server_body_stop(c, -EPIPE);
            return;
        }
        len = avail < x->body_left ? avail : (size_t)x->body_left;
        x->bcb(x->barg, p, len, 0);
        if (!x->body_stream || x->body_done || c->closing)
            return; /* the reader answered the exchange (or the connection went) from its callback */
        x->body_left -= len;
        memmove(p, p + len, avail - len);
        c->in_len = head + avail - len;
        if (x->body_left == 0) {
            x->body_done = true;
            ic_http_body_cb cb = x->bcb;
            x->bcb = NULL;
            cb(x->barg, NULL, 0, 1);
            return;
        }
    }
}

static void body_task(ic_task_t *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, x.body_task));
    c->x.body_posted = false;
    if (c->closing) {
        ic__server_maybe_free(c);
        return;
    }
    ic__server_body_feed(c);
    ic__server_resume_recv(c);
}

static void body_post(struct conn *c)
{
    if (!c->x.body_posted) {
        c->x.body_posted = true;
        ic_task_post(&c->x.body_task, body_task);
    }
}

void ic_http_body_read(ic_http_exchange_t *x, ic_http_body_cb cb, void *arg)
{
    assert(x->body_stream && !x->bcb);
    x->bcb = cb;
    x->barg = arg;
    body_post(x->c);
}

void ic_http_body_pause(ic_http_exchange_t *x)
{
    x->body_paused = true;
}

void ic_http_body_resume(ic_http_exchange_t *x)
{
    if (!x->body_paused)
        return;
    x->body_paused = false;
    if (x->body_stream && !x->body_done)
        body_post(x->c);
}

/* Expect: 100-continue: the client waits for this before it sends the body. */
void ic__server_send_continue(struct conn *c)
{
    if (!c->x.req.expect_continue || c->continue_sent)
        return;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    int p = c->sending ^ 1;
    if (ic__server_reserve(&c->out[p], &c->out_cap[p], c->out_len[p] + sizeof(cont))) {
        memcpy(c->out[p] + c->out_len[p], cont, sizeof(cont) - 1);
        c->out_len[p] += sizeof(cont) - 1;
        ic__server_flush(c);
    }
    c->continue_sent = true;
}
