// A Hono app as a Workers user writes it (tests/e2e/test_hono.c bundles it with esbuild from npm and serves
// the bundle): middleware that rebuilds responses (cors, secureHeaders: `new Response(res.body, res)`),
// c.req.parseBody() on multipart and urlencoded forms, streamText, JSON, a 404 and an error handler.
import { Hono } from "hono";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import { streamText } from "hono/streaming";

const app = new Hono();
app.use("*", cors());
app.use("/secure/*", secureHeaders());
app.get("/", (c) => c.text("hello from hono"));
app.get("/secure/page", (c) => c.html("<p>kept through the middleware</p>"));
app.get("/json/:id", (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") }));
app.post("/form", async (c) => c.json(await c.req.parseBody()));
app.post("/echo", async (c) => c.text(`echo ${(await c.req.text()).length}`));
app.get("/stream", (c) =>
  streamText(c, async (s) => {
    for (let i = 0; i < 3; i++) {
      await s.writeln("line " + i);
      await s.sleep(2);
    }
  }),
);
app.get("/boom", () => {
  throw new Error("on purpose");
});
app.onError((err, c) => c.text(`handled: ${err.message}`, 500));
export default app;
