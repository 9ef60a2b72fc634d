// tests/e2e/serve: a request that says on stderr when it is in the worker ("began MS"), then waits MS ms (at most
// 5 s) on a timer, so that a test knows the request is waiting in JS before it signals the server.
export default {
  async fetch(request) {
    const ms = Math.min(Number(new URL(request.url).searchParams.get("ms") ?? 10), 5000);
    console.log(`began ${ms}`);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return new Response(`waited ${ms} ms\n`);
  },
};
