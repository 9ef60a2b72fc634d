/*
 * compression.cc: the natives under CompressionStream and DecompressionStream
 * (prelude_compression.js), over zlib.
 */
#include "js/internal.hh"

const ic__js_native ic__js_natives_compression[] = {
    {nullptr, nullptr},
};
