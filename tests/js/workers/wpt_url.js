// Runs the WPT URL parser vectors (urltestdata.json, the request body) and answers with a JSON summary.
const FIELDS = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];

export default {
  async fetch(request) {
    const tests = (await request.json()).filter((t) => typeof t === "object");
    let passed = 0;
    const failures = [];
    for (const t of tests) {
      let why = null;
      try {
        const u = t.base === null ? new URL(t.input) : new URL(t.input, t.base);
        if (t.failure) why = `parsed as ${u.href}, expected failure`;
        else
          for (const f of FIELDS) {
            if (f in t && u[f] !== t[f]) {
              why = `${f}: got ${JSON.stringify(u[f])}, expected ${JSON.stringify(t[f])}`;
              break;
            }
          }
        if (!why && t.searchParams !== undefined && u.searchParams.toString() !== t.searchParams)
          why = `searchParams: got ${u.searchParams}`;
      } catch (e) {
        if (!t.failure) why = `threw ${e}`;
      }
      if (why) failures.push(`${JSON.stringify(t.input)} (base ${JSON.stringify(t.base)}): ${why}`);
      else passed++;
    }
    // The canonical-URL fast path (no base) must agree with the state machine (a base forces it).
    const probes = tests.filter((t) => !t.failure).map((t) => t.href);
    probes.push("http://example.com/a/b?c=d#e", "https://a.b.example:8443/x%20y/?q=%41", "ws://h:80/", "https://h:443/p?",
      "http://h/a/../b", "http://h/%2e/x", "http://0x7f.1/", "http://127.0.0.1:8080/p", "http://1.2.3.04/",
      "http://256.1.1.1/", "http://1.2.3/", "http://0.0.0.0/", "http://01.2.3.4/", "http://h.xn--p1ai/", "https://ex.com:0/", "http://h/a#b#c");
    for (const href of probes) {
      let fast, slow;
      try { fast = new URL(href).href; } catch { fast = "failure"; }
      try { slow = new URL(href, "about:blank").href; } catch { slow = "failure"; }
      if (fast !== slow) failures.push(`fast path: ${JSON.stringify(href)} gave ${fast}, the parser ${slow}`);
    }
    return Response.json({ total: tests.length, passed, failures });
  },
};
