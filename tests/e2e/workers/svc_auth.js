// The service of tests/e2e/test_services.c: reached only through the front worker's env.AUTH binding.
// /endless's cancel (the caller gave up on its body) resolves /cancelled.
let sawCancel;
const cancelled = new Promise((resolve) => (sawCancel = resolve));

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/hello":
        return new Response(`${request.method} ${url.pathname}${url.search} ${request.headers.get("x-caller")} ${await request.text()}`, {
          headers: { "x-service": env.WHO },
        });
      case "/stream": {
        // mib MiB in 64 KiB chunks; chunk k is filled with 'a' + k % 26.
        const n = Number(url.searchParams.get("mib") || "1") * 16;
        let k = 0;
        return new Response(
          new ReadableStream({
            pull(c) {
              if (k === n) return c.close();
              c.enqueue(new Uint8Array(65536).fill(97 + (k++ % 26)));
            },
          }),
          { headers: { "content-type": "application/octet-stream", "x-service": env.WHO } },
        );
      }
      case "/endless":
        return new Response(
          new ReadableStream({
            pull(c) {
              c.enqueue(new Uint8Array(65536).fill(120));
            },
            cancel() {
              sawCancel();
            },
          }),
        );
      case "/cancelled":
        await cancelled;
        return new Response("the service's stream was cancelled");
      case "/fail": {
        let k = 0;
        return new Response(
          new ReadableStream({
            pull(c) {
              if (k++ < 4) c.enqueue(new Uint8Array(65536).fill(120));
              else c.error(new Error("auth's body failed on purpose"));
            },
          }),
        );
      }
      case "/throw":
        throw new Error("auth failed on purpose");
      default:
        return new Response("auth: no such path", { status: 404 });
    }
  },
};
