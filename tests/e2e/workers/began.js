// tests/e2e/serve: a request that says on stderr when it is in the worker ("began MS"), then waits MS ms (at most
// 5 s) on a timer, so that a test knows the request is waiting in JS before it signals the server. With ?bytes=N
// the answer is N zero bytes (at once): more than a client that stops reading lets the server send. With ?spin=1 it
// says "spinning" and never returns (only its CPU limit, or an exit without draining, ends it).
export default {
  async fetch(request) {
    const params = new URL(request.url).searchParams;
    const bytes = Number(params.get("bytes") ?? 0);
    if (bytes > 0) return new Response(new Uint8Array(bytes)); /* zeros: cheap to make, also under ASan */
    if (params.get("spin")) {
      console.log("spinning");
      for (;;) {}
    }
    const ms = Math.min(Number(params.get("ms") ?? 10), 5000);
    console.log(`began ${ms}`);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return new Response(`waited ${ms} ms\n`);
  },
};
