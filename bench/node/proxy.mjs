// Node's side of bench/fetch.sh: the same proxy as bench/workers/proxy.js, with Node's own fetch (undici,
// keep-alive pool) on node:http.   node proxy.mjs UPSTREAM PORT
import http from "node:http";
import { Readable } from "node:stream";

const upstream = process.argv[2];
const port = Number(process.argv[3]);
http
  .createServer(async (req, res) => {
    try {
      const r = await fetch(upstream + new URL(req.url, "http://x").pathname);
      const headers = {};
      r.headers.forEach((v, k) => {
        if (k !== "content-length" && k !== "transfer-encoding" && k !== "connection") headers[k] = v;
      });
      res.writeHead(r.status, headers);
      if (r.body) Readable.fromWeb(r.body).pipe(res);
      else res.end();
    } catch (e) {
      res.writeHead(502);
      res.end(String(e));
    }
  })
  .listen(port, "127.0.0.1");
