// One handler per misbehaviour, chosen by path; /ok answers normally.
const held = [];
export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    switch (path) {
      case "/ok":
        return new Response("ok");
      case "/loop":
        for (;;) {}
      case "/microloop": {
        const spin = () => Promise.resolve().then(spin);
        spin();
        await new Promise(() => {});
      }
      case "/alloc":
        for (;;) held.push(new Array(1e5).fill({ x: Math.random() }));
      case "/buffer":
        for (;;) held.push(new ArrayBuffer(16 << 20));
      case "/recurse": {
        const f = (n) => f(n + 1) + 1;
        return new Response(String(f(0)));
      }
      case "/recurse-caught": {
        // The tenant catches its own stack overflow and goes on: the isolate must still be sound.
        const f = (n) => f(n + 1) + 1;
        try {
          f(0);
        } catch (e) {
          return new Response(`caught ${e.constructor.name}: ${e.message}`);
        }
        return new Response("no overflow");
      }
      case "/recurse-json": {
        // Recursion inside V8's own code: JSON.stringify of 200,000 nested arrays.
        let a = [];
        for (let i = 0; i < 2e5; i++) a = [a];
        return new Response(JSON.stringify(a));
      }
      case "/recurse-retry": {
        // Catches every overflow and recurses again from there: exponential, only the CPU limit ends it.
        const g = () => {
          try {
            g();
          } catch {
            g();
          }
        };
        g();
        return new Response("unreachable");
      }
      case "/never":
        return new Promise(() => {});
      case "/throw":
        throw new Error("thrown on purpose");
      case "/reject":
        await null;
        throw new TypeError("rejected on purpose");
      case "/not-a-response":
        return { body: "plain object" };
      case "/timer": {
        const t0 = Date.now();
        await new Promise((r) => setTimeout(r, 30));
        let ticks = 0;
        await new Promise((r) => {
          const id = setInterval(() => {
            if (++ticks === 3) {
              clearInterval(id);
              r();
            }
          }, 5);
        });
        const cancelled = setTimeout(() => { throw new Error("a cleared timer fired"); }, 1);
        clearTimeout(cancelled);
        await new Promise((r) => setTimeout(r, 10));
        return new Response(`waited ${Date.now() - t0 >= 30 ? "enough" : "too little"}, ${ticks} ticks`);
      }
      case "/wait-until": {
        globalThis.after = "pending";
        ctx.waitUntil(new Promise((r) => setTimeout(r, 20)).then(() => (globalThis.after = "done")));
        return new Response("sent before waitUntil work");
      }
      case "/after":
        return new Response(String(globalThis.after));
      case "/env":
        return new Response(`${env.GREETING} ${Object.isFrozen(env)}`);
      case "/set-global":
        globalThis.secret = "tenant A's secret";
        return new Response("set");
      case "/get-global":
        return new Response(typeof globalThis.secret);
      default:
        return new Response("not found", { status: 404 });
    }
  },
};
