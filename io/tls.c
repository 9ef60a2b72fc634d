/*
 * tls.c: TLS contexts (isocore/tcp.h) and the TLS engine that tcp.c and
 * server.c drive, over OpenSSL 3.
 *
 * A session never touches a socket. Its BIO is a small custom one: reads
 * take ciphertext from the bytes the caller is feeding right now (the
 * reactor's provided buffer, in place: no copy into a memory BIO), and
 * writes append ciphertext to one of two staging buffers that the engine
 * owns. The connection takes the staged buffer for a send (a pointer swap)
 * and gives it back when the send completed, so that whatever OpenSSL
 * writes while a send is in flight (a session ticket, an alert, the next
 * records) lands in the other buffer. So ciphertext is copied once, by the
 * cipher itself, into the buffer the kernel sends from.
 *
 * The error queue of OpenSSL is per thread: every entry point clears it
 * first and empties it after a failure, so that no connection sees the
 * errors of another one on the same reactor.
 *
 * Contexts are made on the starting thread and then only read (SSL_new
 * takes a reference; OpenSSL 3 makes that thread-safe), and the server's
 * session cache is off, so that no handshake takes the context's lock to
 * write: TLS 1.3 tickets (and TLS 1.2 ones) are stateless.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "io/internal.h"
#include "isocore/tcp.h"

struct ic_tls_ctx {
    SSL_CTX *ssl;
    bool server, verify;
};

struct ic__tls {
    SSL *ssl;
    const char *in; /* ciphertext being fed (ic__tls_feed); valid only during the caller's call */
    size_t in_len;
    char *w[2]; /* staging buffers: w[stage] receives what OpenSSL writes, the other may be in a send */
    size_t wlen[2], wcap[2];
    int stage;
    bool taken; /* w[stage ^ 1] is in a send (ic__tls_take .. ic__tls_sent) */
    bool done;  /* handshake complete */
    bool failed, shut, oom;
    char msg[256]; /* why it failed */
};

/* ---- the BIO ------------------------------------------------------------------------ */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *data, int len)
{
    struct ic__tls *t = BIO_get_data(b);
    int s = t->stage;
    size_t need = t->wlen[s] + (size_t)len;
    if (need > t->wcap[s]) {
        size_t n = t->wcap[s] ? t->wcap[s] : 16 * 1024;
        while (n < need)
            n *= 2;
        char *p = realloc(t->w[s], n);
        if (!p) {
            t->oom = true;
            return -1;
        }
        t->w[s] = p;
        t->wcap[s] = n;
    }
    memcpy(t->w[s] + t->wlen[s], data, (size_t)len);
    t->wlen[s] = need;
    return len;
}

static int bio_read(BIO *b, char *out, int len)
{
    struct ic__tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (t->in_len == 0) {
        BIO_set_retry_read(b); /* more comes with the next recv */
        return -1;
    }
    size_t n = t->in_len < (size_t)len ? t->in_len : (size_t)len;
    memcpy(out, t->in, n);
    t->in += n;
    t->in_len -= n;
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct ic__tls *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* the connection sends what is staged */
    case BIO_CTRL_PENDING:
        return t ? (long)t->in_len : 0;
    case BIO_CTRL_WPENDING:
        return t ? (long)t->wlen[t->stage] : 0;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_init_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "isocore");
    if (!m)
        return;
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    bio_method = m; /* made once, kept for the process's life */
}

/* ---- errors -------------------------------------------------------------------------- */

/*
 * The reason of the first error on this thread's queue (the cause: later
 * ones are the callers that saw it), with OpenSSL's detail if it gave one,
 * or fallback; the queue is emptied.
 */
static void take_reason(char *buf, size_t len, const char *fallback)
{
    unsigned long e, first = 0;
    const char *data = NULL, *d;
    int flags;
    char detail[160] = "";
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &d, &flags)) != 0) {
        if (first)
            continue;
        first = e;
        data = d && (flags & ERR_TXT_STRING) && *d ? d : NULL;
        if (data)
            snprintf(detail, sizeof(detail), "%s", data); /* copied: the queue owns it */
    }
    const char *r = NULL;
    if (first && ERR_SYSTEM_ERROR(first))
        r = strerror(ERR_GET_REASON(first)); /* a system call failed (fopen: no such file) */
    else if (first)
        r = ERR_reason_error_string(first);
    char code[32];
    if (!r && first) {
        snprintf(code, sizeof(code), "error %lx", first);
        r = code;
    }
    if (!r)
        snprintf(buf, len, "%s", fallback);
    else if (detail[0] && !ERR_SYSTEM_ERROR(first))
        snprintf(buf, len, "%s (%s)", r, detail);
    else
        snprintf(buf, len, "%s", r);
}

/* ---- contexts ------------------------------------------------------------------------ */

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* The server's ALPN choice: http/1.1 if the client offers it; otherwise no ALPN (the client decides whether to go on). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned inlen,
                       void *arg)
{
    (void)ssl;
    (void)arg;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, alpn_http11, sizeof(alpn_http11) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int ctx_new(bool server, ic_tls_ctx_t **out, char *err, size_t errlen)
{
    pthread_once(&bio_once, bio_init_method);
    ic_tls_ctx_t *x = calloc(1, sizeof(*x));
    if (!x || !bio_method) {
        free(x);
        return -ENOMEM;
    }
    ERR_clear_error();
    x->server = server;
    x->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!x->ssl) {
        take_reason(err, errlen, "cannot create an SSL context");
        free(x);
        return IC_ECONFIG;
    }
    SSL_CTX_set_min_proto_version(x->ssl, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(x->ssl, TLS1_3_VERSION);
    SSL_CTX_set_options(x->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /*
     * The BIO never says "retry" on write, so SSL_write takes all it is given at once; the connections hand it bounded
     * pieces. The moving-buffer mode only matters if a write were retried (the output buffer may grow between calls).
     */
    SSL_CTX_set_mode(x->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(x->ssl, SSL_SESS_CACHE_OFF);
    *out = x;
    return 0;
}

int ic_tls_server_new(const char *cert_file, const char *key_file, ic_tls_ctx_t **out, char *err, size_t errlen)
{
    char why[200];
    if (!cert_file || !key_file) {
        snprintf(err, errlen, "a TLS server needs a certificate and a key");
        return IC_ECONFIG;
    }
    ic_tls_ctx_t *x;
    int ret = ctx_new(true, &x, why, sizeof(why));
    if (ret < 0) {
        if (ret == IC_ECONFIG)
            snprintf(err, errlen, "%s", why);
        return ret;
    }
    SSL_CTX_set_alpn_select_cb(x->ssl, alpn_select, NULL);
    /* Fewer tickets than OpenSSL's default of 2: a client of isocore keeps at most one. */
    SSL_CTX_set_num_tickets(x->ssl, 1);
    const char *file = cert_file;
    if (SSL_CTX_use_certificate_chain_file(x->ssl, cert_file) != 1)
        goto fail;
    file = key_file;
    if (SSL_CTX_use_PrivateKey_file(x->ssl, key_file, SSL_FILETYPE_PEM) != 1)
        goto fail;
    if (SSL_CTX_check_private_key(x->ssl) != 1)
        goto fail;
    *out = x;
    return 0;
fail:
    take_reason(why, sizeof(why), "cannot be loaded");
    snprintf(err, errlen, "%s: %s", file, why);
    ic_tls_free(x);
    return IC_ECONFIG;
}

int ic_tls_client_new(bool verify, ic_tls_ctx_t **out, char *err, size_t errlen)
{
    char why[200];
    ic_tls_ctx_t *x;
    int ret = ctx_new(false, &x, why, sizeof(why));
    if (ret < 0) {
        if (ret == IC_ECONFIG)
            snprintf(err, errlen, "%s", why);
        return ret;
    }
    x->verify = verify;
    if (SSL_CTX_set_alpn_protos(x->ssl, alpn_http11, sizeof(alpn_http11) - 1) != 0)
        goto fail;
    if (verify) {
        SSL_CTX_set_verify(x->ssl, SSL_VERIFY_PEER, NULL);
        /* The system store, or what SSL_CERT_FILE / SSL_CERT_DIR name: as OpenSSL's own tools do. */
        if (SSL_CTX_set_default_verify_paths(x->ssl) != 1)
            goto fail;
    } else {
        SSL_CTX_set_verify(x->ssl, SSL_VERIFY_NONE, NULL);
    }
    *out = x;
    return 0;
fail:
    take_reason(why, sizeof(why), "cannot set up the client context");
    snprintf(err, errlen, "%s", why);
    ic_tls_free(x);
    return IC_ECONFIG;
}

void ic_tls_free(ic_tls_ctx_t *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

bool ic__tls_ctx_server(const ic_tls_ctx_t *ctx)
{
    return ctx->server;
}

/* ---- sessions ------------------------------------------------------------------------ */

static bool is_ip(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

struct ic__tls *ic__tls_new(ic_tls_ctx_t *ctx, const char *servername)
{
    struct ic__tls *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl);
    BIO *b = t->ssl ? BIO_new(bio_method) : NULL;
    if (!b) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_data(b, t);
    SSL_set_bio(t->ssl, b, b); /* the SSL owns the BIO now (one reference for both directions) */
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (servername && *servername) {
            /* SNI carries host names only (RFC 6066); SSL_set1_host checks an IP address against the certificate's IPs. */
            bool ip = is_ip(servername);
            if ((!ip && SSL_set_tlsext_host_name(t->ssl, servername) != 1) ||
                (ctx->verify && SSL_set1_host(t->ssl, servername) != 1)) {
                ic__tls_free(t);
                ERR_clear_error();
                return NULL;
            }
        }
    }
    return t;
}

void ic__tls_free(struct ic__tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees the BIO */
    free(t->w[0]);
    free(t->w[1]);
    free(t);
}

/* After a failed SSL call: the error code for the connection, and t->msg says why. */
static int fail(struct ic__tls *t, int ret)
{
    int e = SSL_get_error(t->ssl, ret);
    t->failed = true;
    if (t->oom) {
        ERR_clear_error();
        snprintf(t->msg, sizeof(t->msg), "out of memory");
        return -ENOMEM;
    }
    long v = SSL_get_verify_result(t->ssl);
    if (!t->done && v != X509_V_OK) {
        ERR_clear_error();
        snprintf(t->msg, sizeof(t->msg), "certificate verify failed: %s", X509_verify_cert_error_string(v));
        return IC_ETLS_VERIFY;
    }
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        snprintf(t->msg, sizeof(t->msg), "unexpected end of stream");
    else
        take_reason(t->msg, sizeof(t->msg), "TLS failed");
    return IC_ETLS;
}

void ic__tls_feed(struct ic__tls *t, const char *data, size_t len)
{
    t->in = data;
    t->in_len = len;
}

int ic__tls_handshake(struct ic__tls *t)
{
    if (t->done)
        return 1;
    if (t->failed)
        return IC_ETLS;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->done = true;
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (t->oom)
            return fail(t, r);
        return 0;
    }
    return fail(t, r);
}

long ic__tls_read(struct ic__tls *t, char *buf, size_t cap)
{
    if (t->failed)
        return IC_ETLS;
    ERR_clear_error();
    size_t n = 0;
    int r = SSL_read_ex(t->ssl, buf, cap, &n);
    if (r == 1)
        return (long)n;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (t->oom)
            return fail(t, 0);
        t->in_len = 0;
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        t->in_len = 0;
        return IC__TLS_EOF; /* the peer's close_notify */
    }
    return fail(t, 0);
}

long ic__tls_write(struct ic__tls *t, const char *data, size_t len)
{
    if (t->failed)
        return IC_ETLS;
    if (len == 0)
        return 0;
    ERR_clear_error();
    size_t n = 0;
    if (SSL_write_ex(t->ssl, data, len, &n) == 1)
        return (long)n;
    return fail(t, 0);
}

void ic__tls_shutdown(struct ic__tls *t)
{
    if (t->shut || t->failed || !t->done)
        return;
    t->shut = true;
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* stages close_notify; the peer's answer is not waited for */
    ERR_clear_error();
}

size_t ic__tls_staged(const struct ic__tls *t)
{
    return t->wlen[t->stage];
}

const char *ic__tls_take(struct ic__tls *t, size_t *len)
{
    assert(!t->taken);
    int s = t->stage;
    *len = t->wlen[s];
    t->stage = s ^ 1;
    t->taken = true;
    return t->w[s];
}

void ic__tls_sent(struct ic__tls *t)
{
    t->wlen[t->stage ^ 1] = 0;
    t->taken = false;
}

bool ic__tls_done(const struct ic__tls *t)
{
    return t->done;
}

bool ic__tls_failed(const struct ic__tls *t)
{
    return t->failed;
}

const char *ic__tls_error(const struct ic__tls *t)
{
    return t->failed ? t->msg : NULL;
}
