// bench/services.sh: the caller. /svc asks the auth tenant through its service binding (env.AUTH), /loop through
// fetch() over loopback TCP to the same server (the auth tenant's route is the server's own address), /self answers
// here (the cost of the front request alone).
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/svc") return new Response(await (await env.AUTH.fetch("http://auth.bench/hi")).text());
    if (path === "/loop") return new Response(await (await fetch(env.LOOP + "/hi")).text());
    return new Response("Hello World");
  },
};
