// A TypeScript worker as a Workers project has it: types, an enum, an import of another .ts file.
import { greet, type Greeting } from "./greet.ts";

enum Mood {
  Happy = "happy",
  Grumpy = "grumpy",
}

interface Env {
  NAME?: string;
  API?: { fetch(input: string): Promise<Response> }; // a service binding (wrangler.toml's [[services]])
}

function fail(what: string): never {
  throw new Error("thrown in TypeScript: " + what); // line 15: the tests look for src/index.ts:15
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/boom") fail("boom");
    if (url.pathname === "/log") console.error(new TypeError("logged from TypeScript")); // line 22
    if (url.pathname === "/spin") {
      const end = performance.now() + 150; // more than the default 50 ms of CPU, less than wrangler.toml's limit
      while (performance.now() < end);
    }
    if (url.pathname === "/via-api" && env.API) return env.API.fetch("http://api/from-shop");
    const g: Greeting = greet(env.NAME ?? "world", url.pathname === "/grumpy" ? Mood.Grumpy : Mood.Happy);
    if (url.pathname === "/slow") {
      console.log("slow request started");
      await new Promise((resolve) => setTimeout(resolve, 1500)); // a request in flight across a rebuild
      return new Response(`slow: ${g.text}\n`);
    }
    return new Response(`${g.text} (${g.mood})\n`);
  },
};
