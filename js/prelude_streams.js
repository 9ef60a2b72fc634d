// prelude_streams.js: WHATWG Streams (ReadableStream, WritableStream,
// TransformStream, queuing strategies, TextEncoderStream, TextDecoderStream).
// Part of the prelude.
{
}
