// Errors become responses: /throw → 500 (the stack is logged), /loop → 503
// (the CPU time limit stops it), anything else → 200. The isolate keeps serving.
export default {
  fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === "/throw") throw new Error("something went wrong");
    if (pathname === "/loop") for (;;) {}
    return new Response("try /throw or /loop\n");
  },
};
