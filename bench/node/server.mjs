// The three benchmark handlers for Node's own http server (the rival in bench/js_http.sh):
//   node server.mjs hello|json|cpu PORT
import http from "node:http";

const kind = process.argv[2];
const port = Number(process.argv[3]);
let id = 0;
const handlers = {
  hello: (req, res) => {
    res.writeHead(200, { "content-type": "text/plain;charset=UTF-8" });
    res.end("Hello World");
  },
  json: (req, res) => {
    const body = JSON.stringify({ id: ++id, path: new URL(req.url, `http://${req.headers.host}`).pathname, items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body);
  },
  cpu: (req, res) => {
    let s = 0;
    for (let i = 0; i < 550000; i++) s += Math.sqrt(i);
    res.writeHead(200, { "content-type": "text/plain;charset=UTF-8" });
    res.end(String(s));
  },
};
http.createServer(handlers[kind]).listen(port, "127.0.0.1");
