/*
 * t_tls.h: a CA and a server certificate for the TLS tests, made at test
 * time with the openssl command into a temporary directory: ca.pem (the CA,
 * what SSL_CERT_FILE names), server.pem and server.key (CN localhost,
 * subjectAltName DNS:localhost and IP:127.0.0.1, signed by the CA); and a
 * small blocking HTTPS client over OpenSSL for the server tests.
 */
#ifndef ISOCORE_T_TLS_H
#define ISOCORE_T_TLS_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct t_certs {
    char dir[64], ca[96], cert[96], key[96];
};

/* Makes the files (skips the test when there is no openssl command). The directory is removed by t_certs_free. */
static inline void t_certs_make(struct t_certs *t)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        cr_skip_test("no openssl command to make a test CA");
    snprintf(t->dir, sizeof(t->dir), "/tmp/ic_tls_XXXXXX");
    cr_assert(mkdtemp(t->dir));
    snprintf(t->ca, sizeof(t->ca), "%s/ca.pem", t->dir);
    snprintf(t->cert, sizeof(t->cert), "%s/server.pem", t->dir);
    snprintf(t->key, sizeof(t->key), "%s/server.key", t->dir);
    char cmd[2048];
    snprintf(
        cmd, sizeof(cmd),
        "(cd %s && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 "
        "-subj /CN=isocore-test-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign "
        "&& openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr "
        "-subj /CN=localhost "
        "&& printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext "
        "&& openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext) 2>&1",
        t->dir);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char buf[256], said[1024] = "";
    while (fgets(buf, sizeof(buf), p))
        if (strlen(said) + strlen(buf) < sizeof(said))
            strcat(said, buf);
    cr_assert_eq(pclose(p), 0, "openssl could not make the test certificates: %s", said);
}

static inline void t_certs_free(struct t_certs *t)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t->dir);
}

/* ---- a blocking HTTPS client -------------------------------------------------------------- */

struct t_tls_conn {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    char *buf; /* received plaintext not consumed yet */
    size_t len, cap;
};

/*
 * Connects to 127.0.0.1:port and completes a handshake that verifies the
 * server against ca for name (max_version 0: TLS 1.3 allowed). Returns 0, or
 * -1 with OpenSSL's reason in why.
 */
static inline int t_tls_dial(struct t_tls_conn *t, unsigned port, const char *ca, const char *name, int max_version, char *why,
                             size_t whylen)
{
    memset(t, 0, sizeof(*t));
    t->ctx = SSL_CTX_new(TLS_client_method());
    cr_assert(t->ctx);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    cr_assert_eq(SSL_CTX_load_verify_locations(t->ctx, ca, NULL), 1);
    if (max_version)
        SSL_CTX_set_max_proto_version(t->ctx, max_version);
    SSL_CTX_set_alpn_protos(t->ctx, (const unsigned char *)"\x08http/1.1", 9);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    t->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    cr_assert_eq(connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    t->ssl = SSL_new(t->ctx);
    SSL_set_fd(t->ssl, t->fd);
    SSL_set_tlsext_host_name(t->ssl, name);
    SSL_set1_host(t->ssl, name);
    if (SSL_connect(t->ssl) != 1) {
        snprintf(why, whylen, "%s", ERR_reason_error_string(ERR_peek_last_error()));
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static inline void t_tls_close(struct t_tls_conn *t)
{
    if (t->ssl)
        SSL_shutdown(t->ssl);
    SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    if (t->fd > 0)
        close(t->fd);
    free(t->buf);
    memset(t, 0, sizeof(*t));
}

static inline void t_tls_send(struct t_tls_conn *t, const void *p, size_t n)
{
    size_t w = 0;
    cr_assert_eq(SSL_write_ex(t->ssl, p, n, &w), 1, "SSL_write");
    cr_assert_eq(w, n);
}

/* Reads more plaintext; false at the end (close_notify, or a close). */
static inline bool t_tls_more(struct t_tls_conn *t)
{
    if (t->cap - t->len < 16384) {
        t->cap = t->cap ? t->cap * 2 : 65536;
        t->buf = realloc(t->buf, t->cap);
    }
    size_t n = 0;
    if (SSL_read_ex(t->ssl, t->buf + t->len, t->cap - t->len - 1, &n) != 1)
        return false;
    t->len += n;
    t->buf[t->len] = 0;
    return true;
}

/* Reads one response framed by Content-Length: its status, and its body into a malloc'd *body (NUL-terminated). */
static inline int t_tls_response(struct t_tls_conn *t, char **body, size_t *body_len)
{
    char *end;
    while (!(t->buf && (end = strstr(t->buf, "\r\n\r\n"))))
        cr_assert(t_tls_more(t), "the response head came");
    size_t head = (size_t)(end - t->buf) + 4;
    int status = atoi(t->buf + 9);
    char *cl = strcasestr(t->buf, "\r\ncontent-length:");
    cr_assert(cl && cl < end, "a Content-Length");
    size_t len = strtoul(cl + 17, NULL, 10);
    while (t->len < head + len)
        cr_assert(t_tls_more(t), "the body came (%zu of %zu)", t->len - head, len);
    *body = malloc(len + 1);
    memcpy(*body, t->buf + head, len);
    (*body)[len] = 0;
    *body_len = len;
    memmove(t->buf, t->buf + head + len, t->len - head - len);
    t->len -= head + len;
    t->buf[t->len] = 0;
    return status;
}

#endif
