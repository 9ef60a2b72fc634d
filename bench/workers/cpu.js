// About 1 ms of CPU per request: the sum of Math.sqrt(i) for i < 550,000.
export default {
  fetch() {
    let s = 0;
    for (let i = 0; i < 550000; i++) s += Math.sqrt(i);
    return new Response(String(s));
  },
};
