// A TypeScript worker as a Workers project has it: types, an enum, an import of another .ts file.
import { greet, type Greeting } from "./greet.ts";

enum Mood {
  Happy = "happy",
  Grumpy = "grumpy",
}

interface Env {
  NAME?: string;
}

function fail(what: string): never {
  throw new Error("thrown in TypeScript: " + what); // line 14: the tests look for src/index.ts:14
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/boom") fail("boom");
    if (url.pathname === "/log") console.error(new TypeError("logged from TypeScript")); // line 21
    const g: Greeting = greet(env.NAME ?? "world", url.pathname === "/grumpy" ? Mood.Grumpy : Mood.Happy);
    return new Response(`${g.text} (${g.mood})\n`);
  },
};
