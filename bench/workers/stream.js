// bench/stream.sh's worker: GET /?mib=N answers N MiB produced by a ReadableStream in 64 KiB chunks
// (a new chunk each pull, as a real producer makes them). The same file runs on isocore, Bun
// (`bun run`, which serves a default export with fetch) and Deno (`deno serve`).
export default {
  port: Number(globalThis.process?.env?.PORT || 0) || undefined,
  fetch(request) {
    const mib = Number(new URL(request.url).searchParams.get("mib") || 1024);
    let left = mib * 16;
    return new Response(
      new ReadableStream({
        pull(c) {
          if (left-- <= 0) return c.close();
          c.enqueue(new Uint8Array(65536));
        },
      }),
      { headers: { "content-type": "application/octet-stream" } },
    );
  },
};
