// The proxy worker of bench/fetch.sh: every request is fetched from env.UPSTREAM (+ its path) and the
// upstream's response is returned as it is, its body streamed through.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM + url.pathname);
  },
};
