/*
 * isocore/error.h: error codes shared by every module.
 *
 * Every call that can fail returns an int: >= 0 is success, a negative value
 * is -errno (so a CQE's res can be passed through unchanged) or one of the
 * project's own codes below, which lie outside errno's range.
 */
#ifndef ISOCORE_ERROR_H
#define ISOCORE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* The project's own errors: X(name, message). IC_E<name> is its (negative) code. */
#define IC_ERRORS(X)                                                                                                               \
    X(NOTREACTOR, "not called on a reactor thread")                                                                                \
    X(SHUTDOWN, "the reactors are shutting down")                                                                                  \
    X(JSEXCEPTION, "JavaScript threw an exception")                                                                                \
    X(JSTERMINATED, "JavaScript execution was terminated")                                                                         \
    X(JSINIT, "the V8 platform is not initialised")                                                                                \
    X(CONFIG, "invalid configuration")                                                                                             \
    X(HTTP_BAD, "malformed HTTP request")                                                                                          \
    X(HTTP_TOO_MANY_HEADERS, "too many HTTP header fields")                                                                        \
    X(HTTP_VERSION, "HTTP version not supported")                                                                                  \
    X(HTTP_ENCODING, "transfer coding not implemented")                                                                            \
    X(TLS, "TLS handshake or record failed")                                                                                       \
    X(TLS_VERIFY, "TLS certificate verification failed")                                                                           \
    X(DNS_NOTFOUND, "host name not found")                                                                                         \
    X(DNS, "DNS lookup failed")                                                                                                    \
    X(HTTP_RESPONSE, "malformed HTTP response")                                                                                    \
    X(HTTP_EXPECTATION, "unsupported HTTP expectation")

#define IC_ERROR_BASE 20000

enum ic_error_code {
    IC__ERROR_FIRST = IC_ERROR_BASE - 1,
#define IC__ERROR_ENUM(name, msg) IC__E_##name,
    IC_ERRORS(IC__ERROR_ENUM)
#undef IC__ERROR_ENUM
};

#define IC_ENOTREACTOR (-IC__E_NOTREACTOR)
#define IC_ESHUTDOWN (-IC__E_SHUTDOWN)
#define IC_EJSEXCEPTION (-IC__E_JSEXCEPTION)
#define IC_EJSTERMINATED (-IC__E_JSTERMINATED)
#define IC_EJSINIT (-IC__E_JSINIT)
#define IC_ECONFIG (-IC__E_CONFIG)
#define IC_EHTTP_BAD (-IC__E_HTTP_BAD)
#define IC_EHTTP_TOO_MANY_HEADERS (-IC__E_HTTP_TOO_MANY_HEADERS)
#define IC_EHTTP_VERSION (-IC__E_HTTP_VERSION)
#define IC_EHTTP_ENCODING (-IC__E_HTTP_ENCODING)
#define IC_ETLS (-IC__E_TLS)
#define IC_ETLS_VERIFY (-IC__E_TLS_VERIFY)
#define IC_EDNS_NOTFOUND (-IC__E_DNS_NOTFOUND)
#define IC_EDNS (-IC__E_DNS)
#define IC_EHTTP_RESPONSE (-IC__E_HTTP_RESPONSE)
#define IC_EHTTP_EXPECTATION (-IC__E_HTTP_EXPECTATION)

/**
 * Returns a static, human-readable message for an error code: either one of
 * the project's codes or -errno. Thread-safe; never returns NULL.
 */
const char *ic_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
