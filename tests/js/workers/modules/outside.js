import "../webapi.js";
export default { fetch: () => new Response("no") };
