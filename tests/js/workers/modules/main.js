import { greet } from "./lib/greet.js";
import * as counter from "./lib/counter.js";

export default {
  fetch(request) {
    return new Response(`${greet(new URL(request.url).pathname.slice(1))} #${counter.next()}`);
  },
};
