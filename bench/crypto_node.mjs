// bench/crypto_node.mjs: the operations of bench/crypto.js in Node's WebCrypto, for bench/crypto.c's comparison.
//   node bench/crypto_node.mjs [SCALE]   prints {operation: microseconds per operation} as JSON
import { run } from "./crypto.js";

process.stdout.write(JSON.stringify(await run(Number(process.argv[2] ?? "1"))) + "\n");
