// Serves an isocore worker module (export default { fetch }) with Bun's or Deno's own HTTP server, so that
// bench/js_http.sh runs the very same handler file under each runtime:
//   bun bench/workers/rival.mjs WORKER.js PORT
//   deno run --allow-net --allow-read bench/workers/rival.mjs WORKER.js PORT
const args = globalThis.Bun ? Bun.argv.slice(2) : Deno.args;
const [file, portArg] = args;
const port = Number(portArg);
const worker = (await import(new URL(file, `file://${globalThis.Bun ? process.cwd() : Deno.cwd()}/`).href)).default;
const env = {};
const ctx = { waitUntil() {}, passThroughOnException() {} };
const fetch = (request) => worker.fetch(request, env, ctx);
if (globalThis.Bun) Bun.serve({ hostname: "127.0.0.1", port, fetch });
else Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, fetch);
