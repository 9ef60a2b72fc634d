// A worker that imports an npm package (node_modules is a symlink to build/npm's, made by the test).
import { Hono } from "hono";

const app = new Hono();
app.get("/", (c) => c.text("hono from node_modules"));
app.get("/json/:id", (c) => c.json({ id: c.req.param("id") }));

export default app;
