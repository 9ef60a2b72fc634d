// Answers "<NAME> <path>" (NAME from env): tells which tenant ran a request.
export default {
  fetch(request, env) {
    return new Response(`${env.NAME} ${new URL(request.url).pathname}`);
  },
};
