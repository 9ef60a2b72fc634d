// bench/stream.sh's Node server: the same ReadableStream as bench/workers/stream.js, sent with
// node:http (Readable.fromWeb piped into the response).
import http from "node:http";
import { Readable } from "node:stream";

const port = Number(process.argv[2] || 18094);
http
  .createServer((req, res) => {
    if (req.method === "POST") {
      // The upload consumed as it arrives, through the web stream Node makes of the request.
      const reader = Readable.toWeb(req).getReader();
      let n = 0;
      (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          n += value.byteLength;
        }
        res.end(String(n));
      })();
      return;
    }
    const mib = Number(new URL(req.url, "http://x").searchParams.get("mib") || 1024);
    let left = mib * 16;
    const rs = new ReadableStream({
      pull(c) {
        if (left-- <= 0) return c.close();
        c.enqueue(new Uint8Array(65536));
      },
    });
    res.writeHead(200, { "content-type": "application/octet-stream" });
    Readable.fromWeb(rs).pipe(res);
  })
  .listen(port, "127.0.0.1");
