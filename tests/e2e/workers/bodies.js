// The worker of tests/e2e/test_bodies.c: bodies as streams over real HTTP, chosen by path.
let cancelled = 0;
let onCancel = null;

function bigStream(mib) {
  let left = mib * 16; // 64 KiB chunks
  return new ReadableStream({
    pull(c) {
      if (left-- === 0) return c.close();
      c.enqueue(new Uint8Array(65536).fill(97 + (left % 26)));
    },
  });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/big":
        return new Response(bigStream(Number(url.searchParams.get("mib") || 1)), { headers: { "content-type": "application/octet-stream" } });
      case "/forever": {
        // A body with no end: one chunk a millisecond until the client goes away, which cancels it.
        let timer = 0;
        return new Response(
          new ReadableStream({
            pull(c) {
              return new Promise((r) => (timer = setTimeout(() => (c.enqueue(new TextEncoder().encode("tick\n")), r()), 1)));
            },
            cancel(reason) {
              clearTimeout(timer);
              cancelled++;
              if (onCancel) onCancel();
            },
          }),
        );
      }
      case "/cancelled": {
        // Answers once n streams were cancelled (or after 10 s): the test waits on the event, not on a clock.
        const n = Number(url.searchParams.get("n") || 1);
        const t0 = Date.now();
        while (cancelled < n && Date.now() - t0 < 10000)
          await new Promise((r) => {
            onCancel = r;
            setTimeout(r, 10000);
          });
        return new Response(String(cancelled));
      }
      case "/rewrap": {
        // Hono's middleware shape: a response rebuilt from another one's body and init.
        const inner = new Response("the inner body, kept", { status: 201, headers: { "x-inner": "yes" } });
        return new Response(inner.body, inner);
      }
      case "/upload": {
        const reader = request.body.getReader();
        let total = 0, chunks = 0, sum = 0;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          chunks++;
          total += value.length;
          for (let i = 0; i < value.length; i += 4096) sum = (sum + value[i]) % 65536;
        }
        return Response.json({ total, chunks, sum, used: request.bodyUsed });
      }
      case "/form": {
        const fd = await request.formData();
        const out = [];
        for (const [k, v] of fd) out.push(typeof v === "string" ? [k, v] : [k, v.name, v.size, v.type, await v.text()]);
        return Response.json(out);
      }
      case "/form-out": {
        const fd = new FormData();
        fd.append("greeting", "hello");
        fd.append("file", new File(["file contents"], "a.txt", { type: "text/plain" }));
        // Round trip inside the worker, then the multipart body itself goes to the client.
        const back = await new Response(fd).formData();
        if (back.get("greeting") !== "hello" || (await back.get("file").text()) !== "file contents") return new Response("round trip failed", { status: 500 });
        return new Response(fd);
      }
      case "/broken": {
        let n = 0;
        return new Response(
          new ReadableStream({
            pull(c) {
              if (n++ < 4) c.enqueue(new Uint8Array(1000).fill(120));
              else c.error(new Error("the producer failed on purpose"));
            },
          }),
        );
      }
      case "/bad-chunk":
        // A chunk that is not bytes: the body is cut after what came before it.
        return new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array(100)); c.enqueue("a string"); } }));
      case "/stall":
        // Two chunks, then nothing, ever: the wall-clock limit cuts the body.
        return new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array(10)); c.enqueue(new Uint8Array(10)); } }));
      case "/park-then-spin": {
        // Answered from a timer's entry; two microtask hops after the answer, a loop that only the CPU limit can end.
        await new Promise((r) => setTimeout(r, 1));
        Promise.resolve().then(() => null).then(() => {
          for (;;) {}
        });
        return new Response("parked");
      }
      case "/piped": {
        const body = new Blob(["compressed ".repeat(1000)]).stream().pipeThrough(new TextDecoderStream()).pipeThrough(new TextEncoderStream());
        return new Response(body);
      }
      default:
        return new Response("ok");
    }
  },
};
