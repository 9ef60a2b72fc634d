// A Hono app as a Workers user writes it, with libraries Workers users rely on: hono/jwt, signed cookies,
// jose (JWT with ES256), hash-wasm (SHA-256 in WebAssembly). (tests/e2e/test_hono.c bundles it with esbuild from npm and serves
// the bundle): middleware that rebuilds responses (cors, secureHeaders: `new Response(res.body, res)`),
// c.req.parseBody() on multipart and urlencoded forms, streamText, JSON, a 404 and an error handler.
import { Hono } from "hono";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import { streamText } from "hono/streaming";
import { jwt, sign } from "hono/jwt";
import { getSignedCookie, setSignedCookie } from "hono/cookie";
import * as jose from "jose";
import { sha256 as wasmSha256 } from "hash-wasm";

const SECRET = "a-secret-of-the-test";

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
// hono/jwt (HS256 over crypto.subtle): a token is minted, then required by the middleware.
app.get("/token", async (c) => c.text(await sign({ sub: "user-1", exp: Math.floor(Date.now() / 1000) + 60 }, SECRET)));
app.use("/private/*", jwt({ secret: SECRET, alg: "HS256" }));
app.get("/private/me", (c) => c.json({ sub: c.get("jwtPayload").sub }));
// Signed cookies (HMAC over crypto.subtle).
app.get("/cookie/set", async (c) => {
  await setSignedCookie(c, "session", "s-123", SECRET);
  return c.text("set");
});
app.get("/cookie/get", async (c) => c.text(String(await getSignedCookie(c, SECRET, "session"))));
// jose: an ES256 key pair made here, a JWT signed and verified with it.
app.get("/jose", async (c) => {
  const { publicKey, privateKey } = await jose.generateKeyPair("ES256");
  const token = await new jose.SignJWT({ role: "admin" }).setProtectedHeader({ alg: "ES256" }).setIssuedAt().sign(privateKey);
  const { payload } = await jose.jwtVerify(token, publicKey);
  return c.json({ role: payload.role, parts: token.split(".").length });
});
// hash-wasm: SHA-256 in WebAssembly, against crypto.subtle's.
app.get("/wasm-hash", async (c) => {
  const data = "the quick brown fox";
  const viaWasm = await wasmSha256(data);
  const viaSubtle = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(data)))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  return c.json({ viaWasm, same: viaWasm === viaSubtle });
});
app.get("/boom", () => {
  throw new Error("on purpose");
});
app.onError((err, c) => (typeof err.getResponse === "function" ? err.getResponse() : c.text(`handled: ${err.message}`, 500)));
export default app;
