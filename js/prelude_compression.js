// prelude_compression.js: CompressionStream and DecompressionStream
// (WHATWG Compression) over zlib (js/compression.cc). Part of the prelude.
{
}
