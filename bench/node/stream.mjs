// bench/stream.sh's Node server: the same ReadableStream as bench/workers/stream.js, sent with
// node:http (Readable.fromWeb piped into the response).
import http from "node:http";
import { Readable } from "node:stream";

const port = Number(process.argv[2] || 18094);
http
  .createServer((req, res) => {
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
