// The service of tests/js/test_fetch.c's binding AUTH: answers with what it was asked, its body a stream of pieces.
export default {
  async fetch(request) {
    const got = `${request.method} ${request.url} x-a=${request.headers.get("x-a")} body=${await request.text()}`;
    let i = 0;
    const body = new ReadableStream({
      pull(c) {
        if (i === 3) return c.close();
        c.enqueue(new TextEncoder().encode(i++ === 0 ? got : ` piece${i - 1}`));
      },
    });
    return new Response(body, { headers: { "x-svc": "yes" } });
  },
};
