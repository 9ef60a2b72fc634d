// The benchmark tenant: a fixed answer, so the router's cost stands out.
export default {
  fetch() {
    return new Response("Hello World");
  },
};
