export default {
  fetch(request, env) {
    return new Response(`${env.WHO} at ${new URL(request.url).pathname}\n`);
  },
};
