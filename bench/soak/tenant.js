// The soak benchmark's tenants: env.MODE picks how each one behaves, so that
// errors and limits keep firing all through the run (see bench/soak.sh).
const kept = [];
let n = 0;
export default {
  async fetch(request, env) {
    n++;
    switch (env.MODE) {
      case "throw":
        throw new Error("soak: this tenant throws on every request");
      case "cpu":
        if (n % 50 === 0) for (;;) {} // one request in 50 runs into the CPU limit
        break;
      case "leak":
        kept.push(new Array(10000).fill(n)); // ~80 KB kept per request, until the heap limit recycles the isolate
        break;
      case "timer":
        await new Promise((r) => setTimeout(r, 1));
        break;
      case "log":
        if (n % 20 === 0) console.log("soak: a log line", n);
        break;
    }
    const url = new URL(request.url);
    return Response.json({ tenant: env.NAME, n, path: url.pathname, id: crypto.randomUUID() });
  },
};
