// The caller of tests/e2e/test_services.c: env.AUTH is a service binding to another tenant (on another core).
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/check") {
      const r = await env.AUTH.fetch("http://auth.internal/hello?from=front", {
        method: "POST",
        headers: { "x-caller": "front" },
        body: "ping",
      });
      return new Response(`${r.status} ${r.headers.get("x-service")} ${await r.text()}`);
    }
    if (url.pathname === "/sum") {
      // Reads the service's streamed body here, chunk by chunk.
      const r = await env.AUTH.fetch(new URL("/stream" + url.search, "http://auth.internal"));
      let total = 0, sum = 0;
      for await (const chunk of r.body) {
        total += chunk.length;
        for (let i = 0; i < chunk.length; i += 4096) sum = (sum + chunk[i]) % 65536;
      }
      return new Response(JSON.stringify({ status: r.status, total, sum }));
    }
    // Anything else is the service's answer, passed through as is (its body too).
    return env.AUTH.fetch(request);
  },
};
