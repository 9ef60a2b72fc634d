// A service for tests/router/test_services.c: answers by path; NAME (env) tells which tenant ran.
function chunks(n, size) {
  let i = 0;
  const piece = new Uint8Array(size).fill(120);
  return new ReadableStream({
    pull(c) {
      if (i++ < n) c.enqueue(piece);
      else c.close();
    },
  });
}

// /gated's body waits for /open (so its head must reach the caller before its body ends); /endless's cancel resolves /cancelled.
let openGate;
const gate = new Promise((resolve) => (openGate = resolve));
let sawCancel;
const cancelled = new Promise((resolve) => (sawCancel = resolve));

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/hello": {
        const body = await request.text();
        const who = request.headers.get("x-caller");
        return new Response(`${env.NAME} ${request.method} ${request.url} ${who} ${body}`, {
          status: 201,
          headers: { "x-service": env.NAME },
        });
      }
      case "/big":
        return new Response("x".repeat(8 << 20));
      case "/stream":
        return new Response(chunks(8, 1 << 20), { headers: { "x-streamed": "yes" } });
      case "/huge":
        return new Response(chunks(17, 1 << 20));
      case "/huge32":
        return new Response(chunks(512, 64 << 10));
      case "/gated":
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new Uint8Array(1000).fill(120));
            },
            async pull(c) {
              await gate;
              c.enqueue(new Uint8Array(24).fill(120));
              c.close();
            },
          }),
        );
      case "/open":
        openGate();
        return new Response("opened");
      case "/endless": {
        const piece = new Uint8Array(64 << 10).fill(120);
        return new Response(
          new ReadableStream({
            pull(c) {
              c.enqueue(piece);
            },
            cancel() {
              sawCancel();
            },
          }),
        );
      }
      case "/cancelled":
        await cancelled;
        return new Response("cancelled");
      case "/fail": {
        let n = 0;
        const piece = new Uint8Array(1 << 20).fill(120);
        return new Response(
          new ReadableStream({
            pull(c) {
              if (n++ < 2) c.enqueue(piece);
              else c.error(new Error("the service's body failed on purpose"));
            },
          }),
        );
      }
      case "/throw":
        throw new Error("the service failed on purpose");
      default:
        return new Response("no such path", { status: 404 });
    }
  },
};
