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
      case "/throw":
        throw new Error("the service failed on purpose");
      default:
        return new Response("no such path", { status: 404 });
    }
  },
};
