// prelude_crypto.js: crypto.subtle (W3C WebCrypto) over OpenSSL (js/crypto.cc).
// Part of the prelude.
{
}
