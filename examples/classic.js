// The service-worker form: a classic script with a fetch listener.
addEventListener("fetch", (event) => {
  event.respondWith(new Response(`Hello from ${event.request.method} ${new URL(event.request.url).pathname}\n`));
});
