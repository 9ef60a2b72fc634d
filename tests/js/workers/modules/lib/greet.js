import { next } from "./counter.js"; // the same module instance as main.js imports
export const greet = (who) => `hello ${who} (${next() > 0 ? "shared" : "?"})`;
