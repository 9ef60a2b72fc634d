// Builds a small JSON document from the request and returns it with Response.json.
let id = 0;
export default {
  async fetch(request, env, ctx) {
    return Response.json({ id: ++id, path: new URL(request.url).pathname, items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
  },
};
