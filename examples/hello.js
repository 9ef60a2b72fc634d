// The smallest worker: every request gets "Hello World".
export default {
  async fetch(request, env, ctx) {
    return new Response("Hello World");
  },
};
