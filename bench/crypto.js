// bench/crypto.js: the WebCrypto operations bench/crypto.c times, as one module that runs unchanged in an isocore
// worker and in Node (bench/crypto_node.mjs imports `runOne`): the same inputs, the same JS loop (each operation
// awaited before the next), timed around the whole loop on both sides: wall time by performance.now(), and CPU time
// (isocore: the reactor thread's, read by bench/crypto.c; Node: the process's, its thread pool included).
const subtle = crypto.subtle;

// Iterations per operation at scale 1 (about a quarter of a second each on a 2020s core).
const OPS = [
  ["SHA-256 1 KiB", 20000],
  ["SHA-256 1 MiB", 100],
  ["HMAC-SHA256 sign", 20000],
  ["HMAC-SHA256 verify", 20000],
  ["ECDSA P-256 sign", 4000],
  ["ECDSA P-256 verify", 2000],
  ["Ed25519 sign", 4000],
  ["Ed25519 verify", 2000],
  ["AES-GCM 16 KiB encrypt", 5000],
  ["RSA-2048 verify", 4000],
];

async function setup() {
  const kib = new Uint8Array(1024).fill(1), mib = new Uint8Array(1 << 20).fill(2), msg = new Uint8Array(256).fill(3);
  const block = new Uint8Array(16 << 10).fill(4), iv = new Uint8Array(12);
  const hmac = await subtle.importKey("raw", new Uint8Array(32).fill(5), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  const hmacSig = await subtle.sign("HMAC", hmac, msg);
  const ec = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const ecAlg = { name: "ECDSA", hash: "SHA-256" };
  const ecSig = await subtle.sign(ecAlg, ec.privateKey, msg);
  const ed = await subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const edSig = await subtle.sign("Ed25519", ed.privateKey, msg);
  const aes = await subtle.importKey("raw", new Uint8Array(16).fill(6), "AES-GCM", false, ["encrypt"]);
  const gcm = { name: "AES-GCM", iv };
  const rsa = await subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, false, ["sign", "verify"]);
  const rsaSig = await subtle.sign("RSASSA-PKCS1-v1_5", rsa.privateKey, msg);
  return {
    "SHA-256 1 KiB": () => subtle.digest("SHA-256", kib),
    "SHA-256 1 MiB": () => subtle.digest("SHA-256", mib),
    "HMAC-SHA256 sign": () => subtle.sign("HMAC", hmac, msg),
    "HMAC-SHA256 verify": () => subtle.verify("HMAC", hmac, hmacSig, msg),
    "ECDSA P-256 sign": () => subtle.sign(ecAlg, ec.privateKey, msg),
    "ECDSA P-256 verify": () => subtle.verify(ecAlg, ec.publicKey, ecSig, msg),
    "Ed25519 sign": () => subtle.sign("Ed25519", ed.privateKey, msg),
    "Ed25519 verify": () => subtle.verify("Ed25519", ed.publicKey, edSig, msg),
    "AES-GCM 16 KiB encrypt": () => subtle.encrypt(gcm, aes, block),
    "RSA-2048 verify": () => subtle.verify("RSASSA-PKCS1-v1_5", rsa.publicKey, rsaSig, msg),
  };
}

let fns; // the operations, set up once per isolate

// Runs one operation count × scale times (after a short warm-up); `cpu` (optional) reads the CPU time used so far in
// µs. Answers {wall, cpu}: µs per operation (cpu null without a clock).
export async function runOne(name, scale = 1, cpu = null) {
  fns ??= await setup();
  const fn = fns[name], n = Math.max(1, Math.round(OPS.find((o) => o[0] === name)[1] * scale));
  for (let i = 0; i < Math.min(n, 50); i++) await fn();
  const c0 = cpu?.(), t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const wall = ((performance.now() - t0) * 1000) / n;
  // total: the operations run in all, warm-up included (what a CPU clock read around the whole call saw).
  return { wall, cpu: cpu ? (cpu() - c0) / n : null, n, total: n + Math.min(n, 50) };
}

export const names = OPS.map((o) => o[0]);

// GET /setup makes the keys; GET /run?op=NAME&n=SCALE runs one operation and answers {wall, cpu: null, n}
// (bench/crypto.c reads the thread's CPU time around the request itself).
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/setup") {
      fns ??= await setup();
      return Response.json(names);
    }
    const scale = Number(url.searchParams.get("n") ?? "1");
    return Response.json(await runOne(url.searchParams.get("op"), scale));
  },
};
