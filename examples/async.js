// An async handler: it waits on a timer of the reactor before answering,
// and leaves work for after the response with ctx.waitUntil.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export default {
  async fetch(request, env, ctx) {
    const ms = Number(new URL(request.url).searchParams.get("ms") ?? 10);
    const started = performance.now();
    await sleep(Math.min(ms, 5000));
    ctx.waitUntil(sleep(1).then(() => console.log(`answered after ${ms} ms`)));
    return new Response(`waited ${Math.round(performance.now() - started)} ms\n`);
  },
};
