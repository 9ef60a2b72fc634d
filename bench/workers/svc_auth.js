// bench/services.sh: the service, a hello.
export default {
  fetch() {
    return new Response("Hello World");
  },
};
