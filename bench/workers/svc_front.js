// bench/services.sh: the caller. /svc asks the auth tenant through its service binding (env.AUTH), /loop through
// fetch() over loopback TCP to the same server (the auth tenant's route is the server's own address), and reads the
// answer's text; /svcpass and /looppass return the answer as it is (its body streamed through); /self answers here
// (the cost of the front request alone).
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/svc") return new Response(await (await env.AUTH.fetch("http://auth.bench/hi")).text());
    if (path === "/loop") return new Response(await (await fetch(env.LOOP + "/hi")).text());
    if (path === "/svcpass") return env.AUTH.fetch("http://auth.bench/hi");
    if (path === "/looppass") return fetch(env.LOOP + "/hi");
    return new Response("Hello World");
  },
};
