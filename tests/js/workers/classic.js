// A classic script: the service-worker form.
let served = 0;
addEventListener("fetch", (event) => {
  served++;
  event.respondWith(new Response(`classic ${served} ${event.request.method}`));
});
