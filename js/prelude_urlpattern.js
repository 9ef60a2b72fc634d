// prelude_urlpattern.js: URLPattern, after the WHATWG URL Pattern Standard
// (https://urlpattern.spec.whatwg.org/): the tokenizer, the pattern parser
// into a part list, "generate a regular expression and name list",
// "generate a pattern string", the constructor string parser, and the
// canonicalisation of every component through the URL class
// (prelude_url.js). Where the 2021 web-platform-tests differ from today's
// standard it follows the tests: a base URL gives every component the
// pattern does not set, a string pattern leaves the components after its
// first one empty rather than wildcards, a group that took part in no
// match is "" rather than undefined, and URLPattern.compareComponent exists. Part of the prelude: it runs once, into the snapshot, and only
// defines things; nothing runs until a URLPattern is made.
{
  const COMPONENTS = ["protocol", "username", "password", "hostname", "port", "pathname", "search", "hash"];
  const SPECIAL_PORTS = { __proto__: null, ftp: "21", file: "", http: "80", https: "443", ws: "80", wss: "443" };
  const isSpecial = (s) => s in SPECIAL_PORTS;
  const fail = (what) => {
    throw new TypeError(`Invalid URLPattern: ${what}`);
  };
  const ID_START = /[$_\p{ID_Start}]/u;
  const ID_PART = /[$_\u200c\u200d\p{ID_Continue}]/u;
  const isNameCodePoint = (c, first) => (first ? ID_START : ID_PART).test(c);
  const isAscii = (c) => c.codePointAt(0) < 0x80;

  // ---- the tokenizer: an array of code points into tokens {type, index, value}
  const tokenize = (input, strict) => {
    const cps = Array.from(input);
    const n = cps.length;
    const tokens = [];
    let i = 0;
    const add = (type, next, valueStart, valueEnd) => {
      tokens.push({ type, index: i, value: cps.slice(valueStart, valueEnd).join("") });
      i = next;
    };
    const error = (next, valueStart) => {
      if (strict) fail(`bad pattern "${input}" at ${i}`);
      add("invalid-char", next, valueStart, next);
    };
    outer: while (i < n) {
      const c = cps[i];
      if (c === "*") {
        add("asterisk", i + 1, i, i + 1);
      } else if (c === "+" || c === "?") {
        add("other-modifier", i + 1, i, i + 1);
      } else if (c === "\\") {
        if (i === n - 1) error(i + 1, i);
        else add("escaped-char", i + 2, i + 1, i + 2);
      } else if (c === "{") {
        add("open", i + 1, i, i + 1);
      } else if (c === "}") {
        add("close", i + 1, i, i + 1);
      } else if (c === ":") {
        let p = i + 1;
        while (p < n && isNameCodePoint(cps[p], p === i + 1)) p++;
        if (p === i + 1) error(i + 1, i);
        else add("name", p, i + 1, p);
      } else if (c === "(") {
        let depth = 1;
        let p = i + 1;
        while (p < n) {
          const d = cps[p];
          if (!isAscii(d) || (p === i + 1 && d === "?")) {
            error(i + 1, i);
            continue outer;
          }
          if (d === "\\") {
            if (p === n - 1 || !isAscii(cps[p + 1])) {
              error(i + 1, i);
              continue outer;
            }
            p += 2;
            continue;
          }
          if (d === ")") {
            if (--depth === 0) {
              p++;
              break;
            }
          } else if (d === "(") {
            depth++;
            if (p === n - 1 || cps[p + 1] !== "?") {
              error(i + 1, i);
              continue outer;
            }
          }
          p++;
        }
        if (depth !== 0 || p - i - 2 <= 0) {
          error(i + 1, i);
          continue;
        }
        add("regexp", p, i + 1, p - 1);
      } else {
        add("char", i + 1, i, i + 1);
      }
    }
    tokens.push({ type: "end", index: n, value: "" });
    return tokens;
  };

  const escapeRegexp = (s) => s.replace(/[.+*?^${}()[\]|/\\]/g, "\\$&");
  const escapePattern = (s) => s.replace(/[+*?:{}()\\]/g, "\\$&");
  const segmentWildcard = (o) => "[^" + escapeRegexp(o.delimiter) + "]+?";
  const MODIFIER = { __proto__: null, "?": "optional", "*": "zero-or-more", "+": "one-or-more" };
  const modifierString = (m) => (m === "optional" ? "?" : m === "zero-or-more" ? "*" : m === "one-or-more" ? "+" : "");

  // ---- parse a pattern string into a part list
  const parsePattern = (input, options, encode) => {
    const tokens = tokenize(input, true);
    const parts = [];
    const swc = segmentWildcard(options);
    let pending = "";
    let index = 0;
    let nextNumeric = 0;
    const tryConsume = (type) => {
      const t = tokens[index];
      if (t.type !== type) return null;
      index++;
      return t;
    };
    const tryRegexpOrWildcard = (name) => {
      const t = tryConsume("regexp");
      return name === null && t === null ? tryConsume("asterisk") : t;
    };
    const tryModifier = () => tryConsume("other-modifier") || tryConsume("asterisk");
    const consumeRequired = (type) => {
      const t = tryConsume(type);
      if (t === null) fail(`"${input}": expected ${type} at ${tokens[index].index}`);
      return t;
    };
    const consumeText = () => {
      let s = "";
      for (;;) {
        const t = tryConsume("char") || tryConsume("escaped-char");
        if (t === null) return s;
        s += t.value;
      }
    };
    const flushPending = () => {
      if (pending === "") return;
      const value = encode(pending);
      pending = "";
      parts.push({ type: "fixed", value, modifier: "none", name: "", prefix: "", suffix: "" });
    };
    const addPart = (prefix, nameToken, reToken, suffix, modToken) => {
      const modifier = modToken ? MODIFIER[modToken.value] : "none";
      if (nameToken === null && reToken === null && modifier === "none") {
        pending += prefix;
        return;
      }
      flushPending();
      if (nameToken === null && reToken === null) {
        if (prefix === "") return;
        parts.push({ type: "fixed", value: encode(prefix), modifier, name: "", prefix: "", suffix: "" });
        return;
      }
      let value = reToken === null ? swc : reToken.type === "asterisk" ? ".*" : reToken.value;
      let type = "regexp";
      if (value === swc) {
        type = "segment-wildcard";
        value = "";
      } else if (value === ".*") {
        type = "full-wildcard";
        value = "";
      }
      const name = nameToken !== null ? nameToken.value : String(nextNumeric++);
      if (parts.some((p) => p.type !== "fixed" && p.name === name)) fail(`"${input}": duplicate name ${name}`);
      parts.push({ type, value, modifier, name, prefix: encode(prefix), suffix: encode(suffix) });
    };
    while (index < tokens.length) {
      const charToken = tryConsume("char");
      let nameToken = tryConsume("name");
      let reToken = tryRegexpOrWildcard(nameToken);
      if (nameToken !== null || reToken !== null) {
        let prefix = charToken ? charToken.value : "";
        if (prefix !== "" && prefix !== options.prefix) {
          pending += prefix;
          prefix = "";
        }
        flushPending();
        addPart(prefix, nameToken, reToken, "", tryModifier());
        continue;
      }
      const fixed = charToken || tryConsume("escaped-char");
      if (fixed !== null) {
        pending += fixed.value;
        continue;
      }
      if (tryConsume("open") !== null) {
        const prefix = consumeText();
        nameToken = tryConsume("name");
        reToken = tryRegexpOrWildcard(nameToken);
        const suffix = consumeText();
        consumeRequired("close");
        addPart(prefix, nameToken, reToken, suffix, tryModifier());
        continue;
      }
      flushPending();
      consumeRequired("end");
    }
    return parts;
  };

  // ---- "generate a regular expression and name list"
  const generateRegexp = (parts, options) => {
    let s = "^";
    const names = [];
    for (const p of parts) {
      const mod = modifierString(p.modifier);
      if (p.type === "fixed") {
        s += p.modifier === "none" ? escapeRegexp(p.value) : "(?:" + escapeRegexp(p.value) + ")" + mod;
        continue;
      }
      names.push(p.name);
      const re = p.type === "segment-wildcard" ? segmentWildcard(options) : p.type === "full-wildcard" ? ".*" : p.value;
      const single = p.modifier === "none" || p.modifier === "optional";
      if (p.prefix === "" && p.suffix === "") {
        s += single ? "(" + re + ")" + mod : "((?:" + re + ")" + mod + ")";
      } else if (single) {
        s += "(?:" + escapeRegexp(p.prefix) + "(" + re + ")" + escapeRegexp(p.suffix) + ")" + mod;
      } else {
        const pre = escapeRegexp(p.prefix);
        const suf = escapeRegexp(p.suffix);
        s += "(?:" + pre + "((?:" + re + ")(?:" + suf + pre + "(?:" + re + "))*)" + suf + ")";
        if (p.modifier === "zero-or-more") s += "?";
      }
    }
    return { source: s + "$", names };
  };

  // ---- "generate a pattern string"
  const generatePatternString = (parts, options) => {
    let s = "";
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      const prev = i > 0 ? parts[i - 1] : null;
      const next = i + 1 < parts.length ? parts[i + 1] : null;
      const mod = modifierString(p.modifier);
      if (p.type === "fixed") {
        s += p.modifier === "none" ? escapePattern(p.value) : "{" + escapePattern(p.value) + "}" + mod;
        continue;
      }
      const custom = !/^[0-9]/.test(p.name);
      let group = p.suffix !== "" || (p.prefix !== "" && p.prefix !== options.prefix);
      if (!group && custom && p.type === "segment-wildcard" && p.modifier === "none" && next && next.prefix === "" && next.suffix === "") {
        if (next.type === "fixed") group = next.value !== "" && isNameCodePoint(Array.from(next.value)[0], false);
        else group = /^[0-9]/.test(next.name);
      }
      if (!group && p.prefix === "" && prev && prev.type === "fixed" && prev.value !== "" && options.prefix !== "" && prev.value.endsWith(options.prefix)) group = true;
      if (group) s += "{";
      s += escapePattern(p.prefix);
      if (custom) s += ":" + p.name;
      if (p.type === "regexp") s += "(" + p.value + ")";
      else if (p.type === "segment-wildcard" && !custom) s += "(" + segmentWildcard(options) + ")";
      else if (p.type === "full-wildcard") {
        if (!custom && (!prev || prev.type === "fixed" || prev.modifier !== "none" || group || p.prefix !== "")) s += "*";
        else s += "(.*)";
      }
      if (p.type === "segment-wildcard" && custom && p.suffix !== "" && isNameCodePoint(Array.from(p.suffix)[0], false)) s += "\\";
      s += escapePattern(p.suffix);
      if (group) s += "}";
      s += mod;
    }
    return s;
  };

  // ---- canonicalisation of component values through URL
  const dummy = (scheme) => new URL((scheme || "https") + "://dummy.invalid/");
  const canonProtocol = (v) => {
    if (v === "") return "";
    let u;
    try {
      u = new URL(v + "://dummy.invalid/");
    } catch {
      fail(`protocol "${v}"`);
    }
    const p = u.protocol.slice(0, -1);
    if (p !== v.toLowerCase()) fail(`protocol "${v}"`);
    return p;
  };
  const canonUserinfo = (key) => (v) => {
    if (v === "") return "";
    const u = dummy();
    u[key] = v;
    return u[key];
  };
  const FORBIDDEN_HOST = /[\0\t\n\r #/:<>?@[\\\]^|%]/;
  const canonHostname = (v) => {
    if (v === "") return "";
    if (!/^\[.*\]$/s.test(v) && FORBIDDEN_HOST.test(v)) fail(`hostname "${v}"`);
    const u = dummy();
    u.hostname = v;
    if (u.hostname === "dummy.invalid" && v.toLowerCase() !== "dummy.invalid") fail(`hostname "${v}"`);
    return u.hostname;
  };
  const canonIPv6 = (v) => {
    if (!/^[0-9a-fA-F:[\]]*$/.test(v)) fail(`IPv6 hostname "${v}"`);
    return v.toLowerCase();
  };
  const canonPort = (v, protocol) => {
    if (v === "") return "";
    if (!/^[0-9]+$/.test(v)) fail(`port "${v}"`);
    const n = Number(v);
    if (n > 65535) fail(`port "${v}"`);
    const s = String(n);
    return protocol !== undefined && SPECIAL_PORTS[protocol] === s ? "" : s;
  };
  const canonPathname = (v) => {
    if (v === "") return "";
    const lead = v[0] === "/";
    const u = dummy();
    u.pathname = lead ? v : "/-" + v;
    return lead ? u.pathname : u.pathname.slice(2);
  };
  const canonOpaquePathname = (v) => {
    if (v === "") return "";
    let u;
    try {
      u = new URL("data:" + v.replace(/[?#]/g, (c) => (c === "?" ? "%3F" : "%23")));
    } catch {
      fail(`pathname "${v}"`);
    }
    return u.pathname;
  };
  const canonSearch = (v) => {
    if (v === "") return "";
    const u = dummy();
    u.search = "?" + v;
    return u.search.slice(1);
  };
  const canonHash = (v) => {
    if (v === "") return "";
    const u = dummy();
    u.hash = "#" + v;
    return u.hash.slice(1);
  };

  // ---- "process a URLPatternInit"; type is "pattern" or "url"
  const str = (v) => String(v);
  const isAbsolutePathname = (s, type) => {
    if (s === "") return false;
    if (s[0] === "/") return true;
    if (type === "url" || s.length < 2) return false;
    return (s[0] === "\\" || s[0] === "{") && s[1] === "/";
  };
  const processInit = (init, type) => {
    const r = {};
    const pat = type === "pattern";
    const has = (k) => init[k] !== undefined;
    if (has("baseURL")) {
      let base;
      try {
        base = new URL(str(init.baseURL));
      } catch {
        fail(`baseURL "${init.baseURL}"`);
      }
      const b = (v) => (pat ? escapePattern(v) : v);
      r.protocol = b(base.protocol.slice(0, -1));
      r.username = b(base.username);
      r.password = b(base.password);
      r.hostname = b(base.hostname);
      r.port = b(base.port);
      r.pathname = b(base.pathname);
      r.search = b(base.search.slice(1));
      r.hash = b(base.hash.slice(1));
      r.baseOpaque = base.href.slice(base.protocol.length, base.protocol.length + 1) !== "/" && base.hostname === "";
    }
    if (has("protocol")) {
      const v = str(init.protocol).replace(/:$/, "");
      r.protocol = pat ? v : canonProtocol(v);
    }
    if (has("username")) r.username = pat ? str(init.username) : canonUserinfo("username")(str(init.username));
    if (has("password")) r.password = pat ? str(init.password) : canonUserinfo("password")(str(init.password));
    if (has("hostname")) r.hostname = pat ? str(init.hostname) : canonHostname(str(init.hostname));
    if (has("port")) r.port = pat ? str(init.port) : canonPort(str(init.port), r.protocol);
    if (has("pathname")) {
      let v = str(init.pathname);
      if (r.pathname !== undefined && !r.baseOpaque && !isAbsolutePathname(v, type)) {
        const slash = r.pathname.lastIndexOf("/");
        if (slash >= 0) v = r.pathname.slice(0, slash + 1) + v;
      }
      if (!pat) v = r.protocol === undefined || r.protocol === "" || isSpecial(r.protocol) ? canonPathname(v) : canonOpaquePathname(v);
      r.pathname = v;
    }
    if (has("search")) {
      const v = str(init.search).replace(/^\?/, "");
      r.search = pat ? v : canonSearch(v);
    }
    if (has("hash")) {
      const v = str(init.hash).replace(/^#/, "");
      r.hash = pat ? v : canonHash(v);
    }
    delete r.baseOpaque;
    return r;
  };

  // ---- compile one component
  const DEFAULT_OPTIONS = { delimiter: "", prefix: "" };
  const HOSTNAME_OPTIONS = { delimiter: ".", prefix: "" };
  const PATHNAME_OPTIONS = { delimiter: "/", prefix: "/" };
  const compile = (input, encode, options, ignoreCase) => {
    const parts = parsePattern(input, options, encode);
    const { source, names } = generateRegexp(parts, options);
    let regexp;
    try {
      regexp = new RegExp(source, ignoreCase ? "ui" : "u");
    } catch {
      fail(`"${input}" makes a bad regular expression`);
    }
    return {
      pattern: generatePatternString(parts, options),
      regexp,
      names,
      parts,
      hasRegExpGroups: parts.some((p) => p.type === "regexp"),
    };
  };
  const matchesSpecialScheme = (c) => Object.keys(SPECIAL_PORTS).some((s) => c.regexp.test(s));
  const isIPv6Pattern = (s) => s.startsWith("[") || s.startsWith("{[") || s.startsWith("\\[");

  // ---- the constructor string parser
  const parseConstructorString = (input) => {
    const cps = Array.from(input);
    const tokens = tokenize(input, false);
    const result = {};
    let state = "init";
    let componentStart = 0;
    let tokenIndex = 0;
    let increment = 1;
    let groupDepth = 0;
    let ipv6Depth = 0;
    let special = false;
    const safe = (i) => (i < tokens.length ? tokens[i] : tokens[tokens.length - 1]);
    const isChar = (i, value) => {
      const t = safe(i);
      return t.value === value && (t.type === "char" || t.type === "escaped-char" || t.type === "invalid-char");
    };
    const isSearchPrefix = () => {
      if (isChar(tokenIndex, "?")) return true;
      if (tokens[tokenIndex].value !== "?") return false;
      if (tokenIndex === 0) return true;
      const prev = safe(tokenIndex - 1).type;
      return !(prev === "name" || prev === "regexp" || prev === "close" || prev === "asterisk");
    };
    const componentString = () => {
      const end = tokens[tokenIndex].index;
      return cps.slice(safe(componentStart).index, end).join("");
    };
    const rewind = () => {
      tokenIndex = componentStart;
      increment = 0;
    };
    const rewindTo = (s) => {
      rewind();
      state = s;
    };
    const change = (s, skip) => {
      if (state !== "init" && state !== "authority" && state !== "done") result[state] = componentString();
      state = s;
      tokenIndex += skip;
      componentStart = tokenIndex;
      increment = 0;
    };
    while (tokenIndex < tokens.length) {
      increment = 1;
      const t = tokens[tokenIndex];
      if (t.type === "end") {
        if (state === "init") {
          rewind();
          if (isChar(tokenIndex, "#")) change("hash", 1);
          else if (isSearchPrefix()) change("search", 1);
          else change("pathname", 0);
          tokenIndex += increment;
          continue;
        }
        if (state === "authority") {
          rewindTo("hostname");
          tokenIndex += increment;
          continue;
        }
        change("done", 0);
        break;
      }
      if (t.type === "open") {
        groupDepth++;
        tokenIndex += increment;
        continue;
      }
      if (groupDepth > 0) {
        if (t.type === "close") groupDepth--;
        else {
          tokenIndex += increment;
          continue;
        }
      }
      switch (state) {
        case "init":
          if (isChar(tokenIndex, ":")) rewindTo("protocol");
          break;
        case "protocol":
          if (isChar(tokenIndex, ":")) {
            const c = compile(componentString(), canonProtocol, DEFAULT_OPTIONS, false);
            special = matchesSpecialScheme(c);
            let next = "pathname";
            let skip = 1;
            if (isChar(tokenIndex + 1, "/") && isChar(tokenIndex + 2, "/")) {
              next = "authority";
              skip = 3;
            } else if (special) next = "authority";
            change(next, skip);
          }
          break;
        case "authority":
          if (isChar(tokenIndex, "@")) rewindTo("username");
          else if (isChar(tokenIndex, "/") || isSearchPrefix() || isChar(tokenIndex, "#")) rewindTo("hostname");
          break;
        case "username":
          if (isChar(tokenIndex, ":")) change("password", 1);
          else if (isChar(tokenIndex, "@")) change("hostname", 1);
          break;
        case "password":
          if (isChar(tokenIndex, "@")) change("hostname", 1);
          break;
        case "hostname":
          if (isChar(tokenIndex, "[")) ipv6Depth++;
          else if (isChar(tokenIndex, "]")) ipv6Depth--;
          else if (isChar(tokenIndex, ":") && ipv6Depth === 0) change("port", 1);
          else if (isChar(tokenIndex, "/")) change("pathname", 0);
          else if (isSearchPrefix()) change("search", 1);
          else if (isChar(tokenIndex, "#")) change("hash", 1);
          break;
        case "port":
          if (isChar(tokenIndex, "/")) change("pathname", 0);
          else if (isSearchPrefix()) change("search", 1);
          else if (isChar(tokenIndex, "#")) change("hash", 1);
          break;
        case "pathname":
          if (isSearchPrefix()) change("search", 1);
          else if (isChar(tokenIndex, "#")) change("hash", 1);
          break;
        case "search":
          if (isChar(tokenIndex, "#")) change("hash", 1);
          break;
      }
      tokenIndex += increment;
    }
    // The 2021 behaviour: what the string does not give after its first component is empty
    // (a special scheme's path "/").
    const first = COMPONENTS.findIndex((k) => k in result);
    for (let i = first + 1; first >= 0 && i < COMPONENTS.length; i++) {
      const k = COMPONENTS[i];
      if (!(k in result)) result[k] = k === "pathname" && special && "hostname" in result ? "/" : "";
    }
    return result;
  };

  // ---- URLPattern
  const kC = Symbol("components");
  const componentResult = (c, input, m) => {
    const groups = {};
    // defineProperty, so that a group named __proto__ is a plain property
    for (let i = 0; i < c.names.length; i++) {
      Object.defineProperty(groups, c.names[i], { value: m[i + 1] ?? "", writable: true, enumerable: true, configurable: true });
    }
    return { input, groups };
  };
  const isDict = (v) => typeof v === "object" && v !== null;

  class URLPattern {
    constructor(input = {}, baseURL = undefined, options = undefined) {
      if (isDict(baseURL)) {
        options = baseURL;
        baseURL = undefined;
      }
      let init;
      if (typeof input === "string") {
        init = parseConstructorString(input);
        if (baseURL === undefined && init.protocol === undefined) fail(`"${input}" is relative and there is no base URL`);
        if (baseURL !== undefined) init.baseURL = str(baseURL);
      } else {
        if (!isDict(input)) fail("the input is neither a string nor a URLPatternInit");
        if (baseURL !== undefined) fail("a base URL goes in the URLPatternInit");
        init = input;
      }
      const ignoreCase = isDict(options) && !!options.ignoreCase;
      const r = processInit(init, "pattern");
      for (const k of COMPONENTS) if (r[k] === undefined) r[k] = "*";
      if (isSpecial(r.protocol) && r.port === SPECIAL_PORTS[r.protocol]) r.port = "";
      const c = {};
      // As the standard has it, ignoreCase is for the pathname, search and hash (the URL parser lowercases
      // schemes and hosts already).
      c.protocol = compile(r.protocol, canonProtocol, DEFAULT_OPTIONS, false);
      c.username = compile(r.username, canonUserinfo("username"), DEFAULT_OPTIONS, false);
      c.password = compile(r.password, canonUserinfo("password"), DEFAULT_OPTIONS, false);
      c.hostname = compile(r.hostname, isIPv6Pattern(r.hostname) ? canonIPv6 : canonHostname, HOSTNAME_OPTIONS, false);
      c.port = compile(r.port, (v) => canonPort(v), DEFAULT_OPTIONS, false);
      const special = matchesSpecialScheme(c.protocol);
      c.pathname = special
        ? compile(r.pathname, canonPathname, PATHNAME_OPTIONS, ignoreCase)
        : compile(r.pathname, canonOpaquePathname, DEFAULT_OPTIONS, ignoreCase);
      c.search = compile(r.search, canonSearch, DEFAULT_OPTIONS, ignoreCase);
      c.hash = compile(r.hash, canonHash, DEFAULT_OPTIONS, ignoreCase);
      this[kC] = c;
    }
    get protocol() { return this[kC].protocol.pattern; }
    get username() { return this[kC].username.pattern; }
    get password() { return this[kC].password.pattern; }
    get hostname() { return this[kC].hostname.pattern; }
    get port() { return this[kC].port.pattern; }
    get pathname() { return this[kC].pathname.pattern; }
    get search() { return this[kC].search.pattern; }
    get hash() { return this[kC].hash.pattern; }
    get hasRegExpGroups() { return COMPONENTS.some((k) => this[kC][k].hasRegExpGroups); }
    test(input = {}, baseURL = undefined) { return match(this, input, baseURL) !== null; }
    exec(input = {}, baseURL = undefined) { return match(this, input, baseURL); }
    static compareComponent(component, left, right) { return compareComponent(component, left, right); }
    get [Symbol.toStringTag]() { return "URLPattern"; }
  }

  const match = (pattern, input, baseURL) => {
    const c = pattern[kC];
    if (!c) throw new TypeError("not a URLPattern");
    const inputs = [input];
    let values;
    if (typeof input === "object" && input !== null && !(input instanceof URL)) {
      if (baseURL !== undefined) fail("a base URL goes in the URLPatternInit");
      try {
        values = processInit(input, "url");
      } catch {
        return null;
      }
      for (const k of COMPONENTS) if (values[k] === undefined) values[k] = "";
    } else {
      let url;
      try {
        url = input instanceof URL ? input : baseURL === undefined ? new URL(str(input)) : new URL(str(input), str(baseURL));
      } catch {
        return null;
      }
      if (baseURL !== undefined) inputs.push(baseURL);
      values = {
        protocol: url.protocol.slice(0, -1),
        username: url.username,
        password: url.password,
        hostname: url.hostname,
        port: url.port,
        pathname: url.pathname,
        search: url.search.slice(1),
        hash: url.hash.slice(1),
      };
    }
    const result = { inputs };
    for (const k of COMPONENTS) {
      const m = c[k].regexp.exec(values[k]);
      if (m === null) return null;
      result[k] = componentResult(c[k], values[k], m);
    }
    return result;
  };

  // ---- URLPattern.compareComponent (in the 2021 drafts): orders two part lists
  const TYPE_RANK = { __proto__: null, "full-wildcard": 0, "segment-wildcard": 1, regexp: 2, fixed: 3 };
  const MOD_RANK = { __proto__: null, "zero-or-more": 0, optional: 1, "one-or-more": 2, none: 3 };
  const cmpStr = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const comparePart = (a, b) => {
    let d = TYPE_RANK[a.type] - TYPE_RANK[b.type];
    if (d) return Math.sign(d);
    d = MOD_RANK[a.modifier] - MOD_RANK[b.modifier];
    if (d) return Math.sign(d);
    return cmpStr(a.prefix, b.prefix) || cmpStr(a.value, b.value) || cmpStr(a.suffix, b.suffix);
  };
  const WILDCARD = { type: "full-wildcard", modifier: "none", value: "", prefix: "", suffix: "" };
  const EMPTY = { type: "fixed", modifier: "none", value: "", prefix: "", suffix: "" };
  const compareComponent = (component, left, right) => {
    component = str(component);
    if (!COMPONENTS.includes(component)) throw new TypeError(`no URLPattern component ${component}`);
    if (!(left instanceof URLPattern) || !(right instanceof URLPattern)) throw new TypeError("not a URLPattern");
    const a = left[kC][component].parts;
    const b = right[kC][component].parts;
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const pa = i < a.length ? a[i] : null;
      const pb = i < b.length ? b[i] : null;
      // A list that ends sorts against a full wildcard of the other as lower; a missing part otherwise
      // compares as an empty fixed part.
      const d = comparePart(pa || (pb && pb.type === "full-wildcard" ? WILDCARD : EMPTY), pb || (pa && pa.type === "full-wildcard" ? WILDCARD : EMPTY));
      if (d) return d;
      if (!pa || !pb) return pa ? 1 : -1;
    }
    return 0;
  };

  define("URLPattern", URLPattern);
}
