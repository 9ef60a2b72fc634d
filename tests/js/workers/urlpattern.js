// Checks of URLPattern (prelude_urlpattern.js), run inside a worker: answers {passed, failures}.
const checks = [];
const check = (name, fn) => checks.push([name, fn]);
const eq = (a, b) => {
  const x = JSON.stringify(a), y = JSON.stringify(b);
  if (x !== y) throw new Error(`got ${x}, expected ${y}`);
};
const throws = (fn, name) => {
  try {
    fn();
  } catch (e) {
    if (name && e.name !== name) throw new Error(`threw ${e.name}: ${e.message}, expected ${name}`);
    return;
  }
  throw new Error("did not throw");
};

check("named groups in the pathname", () => {
  const p = new URLPattern({ pathname: "/books/:id/:part" });
  eq(p.pathname, "/books/:id/:part");
  eq(p.protocol, "*");
  eq(p.test("https://example.com/books/12/intro"), true);
  eq(p.test("https://example.com/books/12"), false);
  eq(p.test("https://example.com/books/12/intro/more"), false);
  eq(p.exec("https://example.com/books/12/intro").pathname.groups, { id: "12", part: "intro" });
});
check("wildcards: * in a path, a segment wildcard does not cross /", () => {
  const p = new URLPattern({ pathname: "/static/*" });
  eq(p.exec({ pathname: "/static/a/b.css" }).pathname.groups, { 0: "a/b.css" });
  eq(p.test({ pathname: "/other/a" }), false);
  const h = new URLPattern({ hostname: "*.example.com" });
  eq(h.exec({ hostname: "a.b.example.com" }).hostname.groups, { 0: "a.b" });
  eq(h.test({ hostname: "example.com" }), false);
  eq(new URLPattern({ pathname: "/:x" }).test({ pathname: "/a/b" }), false);
});
check("regexp groups, custom regexps on names", () => {
  const p = new URLPattern({ pathname: "/post/:id(\\d+)/(edit|view)" });
  eq(p.exec({ pathname: "/post/42/edit" }).pathname.groups, { id: "42", 0: "edit" });
  eq(p.test({ pathname: "/post/x/edit" }), false);
  eq(p.test({ pathname: "/post/42/delete" }), false);
  eq(p.hasRegExpGroups, true);
  eq(new URLPattern({ pathname: "/:id" }).hasRegExpGroups, false);
});
check("modifiers ? + * and {} groups", () => {
  const opt = new URLPattern({ pathname: "/a/:b?" });
  eq(opt.test({ pathname: "/a" }), true);
  eq(opt.test({ pathname: "/a/x" }), true);
  eq(opt.test({ pathname: "/a/x/y" }), false);
  const plus = new URLPattern({ pathname: "/a/:rest+" });
  eq(plus.exec({ pathname: "/a/x/y/z" }).pathname.groups, { rest: "x/y/z" });
  eq(plus.test({ pathname: "/a" }), false);
  const star = new URLPattern({ pathname: "/a/:rest*" });
  eq(star.test({ pathname: "/a" }), true);
  const group = new URLPattern({ pathname: "/product{/:id}?{.:ext}?" });
  eq(group.exec({ pathname: "/product/7.json" }).pathname.groups, { id: "7", ext: "json" });
  eq(group.test({ pathname: "/product" }), true);
  eq(new URLPattern({ pathname: "/foo{bar}" }).pathname, "/foobar");
});
check("escaping: \\: and \\* are literal", () => {
  const p = new URLPattern({ pathname: "/a\\:b\\*" });
  eq(p.test({ pathname: "/a:b*" }), true);
  eq(p.test({ pathname: "/a:bc" }), false);
});
check("string input with every component", () => {
  const p = new URLPattern("https://:sub.example.com:8080/api/:v/*\\?q=:q#top");
  // "*?" would be an optional wildcard: the ? is escaped to start the search
  eq(new URLPattern("https://a.test/*?q").pathname, "/*?q");
  eq([p.protocol, p.hostname, p.port, p.pathname, p.search, p.hash], ["https", ":sub.example.com", "8080", "/api/:v/*", "q=:q", "top"]);
  const r = p.exec("https://eu.example.com:8080/api/2/users/1?q=x#top");
  eq(r.hostname.groups, { sub: "eu" });
  eq(r.pathname.groups, { v: "2", 0: "users/1" });
  eq(r.search.groups, { q: "x" });
  eq(p.test("https://eu.example.com:8081/api/2/x?q=x#top"), false);
  const def = new URLPattern("http://example.com:80/");
  eq(def.port, "");
  eq(new URLPattern("http{s}?://example.com/").test("http://example.com/"), true);
});
check("a base URL: for the pattern and for the input", () => {
  const p = new URLPattern("/users/:id", "https://example.com");
  eq([p.protocol, p.hostname, p.pathname], ["https", "example.com", "/users/:id"]);
  eq(p.test("https://example.com/users/3"), true);
  eq(p.test("http://example.com/users/3"), false);
  eq(p.test("/users/3", "https://example.com"), true);
  const r = p.exec("/users/3", "https://example.com");
  eq(r.inputs, ["/users/3", "https://example.com"]);
  eq(new URLPattern({ pathname: "/a", baseURL: "https://example.com/x" }).hostname, "example.com");
  eq(p.test({ pathname: "users/3", baseURL: "https://example.com/" }), true);
});
check("ignoreCase", () => {
  eq(new URLPattern({ pathname: "/Foo/:x" }).test({ pathname: "/foo/a" }), false);
  const p = new URLPattern({ pathname: "/Foo/:x" }, { ignoreCase: true });
  eq(p.exec({ pathname: "/FOO/a" }).pathname.groups, { x: "a" });
  eq(new URLPattern("https://example.com/FOO", { ignoreCase: true }).test("https://example.com/foo"), true);
  eq(new URLPattern({ search: "Q=:v", hash: "Top" }, { ignoreCase: true }).test("https://a.test/?q=1#top"), true);
  // as the standard has it, the option is for the pathname, search and hash only
  eq(new URLPattern({ username: "Bob" }, { ignoreCase: true }).test("https://bob@a.test/"), false);
});
check("exec results: inputs, input per component, null on a mismatch", () => {
  const p = new URLPattern({ hostname: "example.com", pathname: "/:a" });
  const r = p.exec("https://user:pw@example.com/x?y#z");
  eq(r.inputs, ["https://user:pw@example.com/x?y#z"]);
  eq(r.protocol, { input: "https", groups: { 0: "https" } });
  eq(r.username, { input: "user", groups: { 0: "user" } });
  eq(r.hostname, { input: "example.com", groups: {} });
  eq(r.pathname, { input: "/x", groups: { a: "x" } });
  eq(r.search.input, "y");
  eq(r.hash.input, "z");
  eq(p.exec("https://other.com/x"), null);
  eq(p.exec("not a url"), null);
  const proto = new URLPattern({ pathname: "/:__proto__" }).exec({ pathname: "/x" }).pathname.groups;
  eq([Object.getPrototypeOf(proto) === Object.prototype, Object.keys(proto), proto.__proto__], [true, ["__proto__"], "x"]);
  const init = { pathname: "/q", hostname: "example.com" };
  eq(p.exec(init).inputs[0], init);
});
check("canonicalisation: hostnames, paths, ports", () => {
  eq(new URLPattern({ hostname: "EXAMPLE.com" }).hostname, "example.com");
  eq(new URLPattern({ pathname: "/caf\u00e9" }).pathname, "/caf%C3%A9");
  eq(new URLPattern({ pathname: "/caf\u00e9" }).test("https://x.test/caf\u00e9"), true);
  eq(new URLPattern({ protocol: "https", port: "443" }).port, "");
  eq(new URLPattern({ pathname: "/a/./b/../c" }).test({ pathname: "/a/c" }), true);
});
check("bad patterns are TypeErrors", () => {
  throws(() => new URLPattern({ pathname: "/:id/:id" }), "TypeError");
  throws(() => new URLPattern({ pathname: "/(foo" }), "TypeError");
  throws(() => new URLPattern({ pathname: "/((a))" }), "TypeError");
  throws(() => new URLPattern({ pathname: "/{a" }), "TypeError");
  throws(() => new URLPattern({ pathname: "/:" }), "TypeError");
  throws(() => new URLPattern({ pathname: "/(a|[)" }), "TypeError");
  throws(() => new URLPattern({ port: "eighty" }), "TypeError");
  throws(() => new URLPattern({ protocol: "ht tp" }), "TypeError");
  throws(() => new URLPattern("/relative"), "TypeError");
  throws(() => new URLPattern("/x", "not a url"), "TypeError");
  throws(() => new URLPattern({ pathname: "/x" }, "https://example.com"), "TypeError");
  throws(() => new URLPattern({}).test({}, "https://example.com"), "TypeError");
  throws(() => URLPattern.prototype.test.call({}, "https://a.test/"), "TypeError");
});
check("compareComponent orders fixed text over wildcards", () => {
  const a = new URLPattern({ pathname: "/foo/bar" }), b = new URLPattern({ pathname: "/foo/:x" });
  eq(URLPattern.compareComponent("pathname", a, b), 1);
  eq(URLPattern.compareComponent("pathname", b, a), -1);
  eq(URLPattern.compareComponent("pathname", b, b), 0);
  throws(() => URLPattern.compareComponent("nope", a, b), "TypeError");
});

export default {
  async fetch() {
    const failures = [];
    let passed = 0;
    for (const [name, fn] of checks) {
      try {
        fn();
        passed++;
      } catch (e) {
        failures.push(`${name}: ${e && e.message}`);
      }
    }
    return Response.json({ passed, failures, total: checks.length });
  },
};
