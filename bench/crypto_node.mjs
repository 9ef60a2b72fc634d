// bench/crypto_node.mjs: one operation of bench/crypto.js in Node's WebCrypto, for bench/crypto.c's comparison.
//   node bench/crypto_node.mjs SCALE NAME   prints {wall, cpu, n}: µs per operation, wall clock and process CPU time
//   (all threads: Node runs WebCrypto jobs on its thread pool)
import { runOne } from "./crypto.js";

const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
process.stdout.write(JSON.stringify(await runOne(process.argv[3], Number(process.argv[2] ?? "1"), cpu)) + "\n");
