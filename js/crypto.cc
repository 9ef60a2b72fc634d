/*
 * crypto.cc: the natives under crypto.subtle (prelude_crypto.js), over
 * OpenSSL 3's EVP interface.
 */
#include "js/internal.hh"

const ic__js_native ic__js_natives_crypto[] = {
    {nullptr, nullptr},
};
