// examples/cluster/tenant.js: the worker every node of the example cluster runs (docs/cluster.md).
// It answers with the Host it was asked for; the node and core that ran it come in the
// x-isocore-node and x-isocore-core headers (the config's core_header).
export default {
  async fetch(request) {
    const host = request.headers.get("host") || "";
    return new Response(`hello from ${host}\n`, { headers: { "content-type": "text/plain; charset=utf-8" } });
  },
};
