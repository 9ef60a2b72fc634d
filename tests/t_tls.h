/*
 * t_tls.h: a CA and a server certificate for the TLS tests, made at test
 * time with the openssl command into a temporary directory: ca.pem (the CA,
 * what SSL_CERT_FILE names), server.pem and server.key (CN localhost,
 * subjectAltName DNS:localhost and IP:127.0.0.1, signed by the CA).
 */
#ifndef ISOCORE_T_TLS_H
#define ISOCORE_T_TLS_H

#include <criterion/criterion.h>
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

#endif
