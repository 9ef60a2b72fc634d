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
      let total = 0, sum = 0, chunks = 0;
      for await (const chunk of r.body) {
        total += chunk.length;
        chunks++;
        for (let i = 0; i < chunk.length; i += 4096) sum = (sum + chunk[i]) % 65536;
      }
      const out = { status: r.status, total, sum };
      if (url.searchParams.has("chunks")) out.pieces = chunks > 1;
      return new Response(JSON.stringify(out));
    }
    if (url.pathname === "/cancel") {
      // Reads a few chunks of an endless body, gives up on it, and asks the service whether its stream heard.
      const r = await env.AUTH.fetch("http://auth.internal/endless");
      const reader = r.body.getReader();
      let got = 0;
      while (got < 1 << 20) got += (await reader.read()).value.length;
      await reader.cancel("enough");
      const seen = await env.AUTH.fetch("http://auth.internal/cancelled");
      return new Response(`${got >= 1 << 20} ${await seen.text()}`);
    }
    if (url.pathname === "/fail") {
      // The service's body errors after 256 KiB: the read here rejects.
      const r = await env.AUTH.fetch("http://auth.internal/fail");
      let got = 0;
      try {
        for await (const chunk of r.body) got += chunk.length;
        return new Response(`no error after ${got} bytes`);
      } catch (e) {
        return new Response(`rejected after ${got} bytes: ${e.message}`);
      }
    }
    // Anything else is the service's answer, passed through as is (its body too).
    return env.AUTH.fetch(request);
  },
};
