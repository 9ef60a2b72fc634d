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
    return Response.json({ total: tests.length, passed, failures });
  },
};
