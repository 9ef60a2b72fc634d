// Burns ?ms= milliseconds (default 0) inside one entry: a long request that holds its core, for placement tests.
export default {
  fetch(request) {
    const ms = Number(new URL(request.url).searchParams.get("ms") || 0);
    const t0 = performance.now();
    let x = 0;
    while (performance.now() - t0 < ms) x = (x + 7) % 1000003;
    return new Response("done " + ms + " " + x);
  },
};
