// prelude_url.js: URL and URLSearchParams, after the WHATWG URL Standard
// (https://url.spec.whatwg.org/): the basic URL parser as its state machine,
// host parsing (IPv4, IPv6, opaque, domains through UTS #46 in native code),
// serialisation, the setters with state overrides, and
// application/x-www-form-urlencoded. Part of the prelude: it runs inside the
// prelude's function, with `native` and DOMException in scope.

const SPECIAL = { __proto__: null, "ftp:": 21, "file:": null, "http:": 80, "https:": 443, "ws:": 80, "wss:": 443 };
const isSpecialScheme = (s) => s + ":" in SPECIAL;

const HEX = "0123456789ABCDEF";
const pctByte = (b) => "%" + HEX[b >> 4] + HEX[b & 15];

// Percent-encode sets as predicates over a code point.
const inC0 = (c) => c < 0x20 || c > 0x7e;
const inFragment = (c) => inC0(c) || c === 0x20 || c === 0x22 || c === 0x3c || c === 0x3e || c === 0x60;
const inQuery = (c) => inC0(c) || c === 0x20 || c === 0x22 || c === 0x23 || c === 0x3c || c === 0x3e;
const inSpecialQuery = (c) => inQuery(c) || c === 0x27;
// U+005E (^) is not in the path set in the current standard; the WPT vectors follow it.
const inPath = (c) => inQuery(c) || c === 0x3f || c === 0x60 || c === 0x7b || c === 0x7d;
const inUserinfo = (c) =>
  inPath(c) || c === 0x2f || c === 0x3a || c === 0x3b || c === 0x3d || c === 0x40 || (c >= 0x5b && c <= 0x5e) || c === 0x7c;
const inForm = (c) =>
  !((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2a || c === 0x2d || c === 0x2e || c === 0x5f);

const utf8 = new TextEncoder();

// Percent-encodes one code point (given as a string of one or two UTF-16 units) if it is in the set.
function pctCodePoint(ch, set) {
  const c = ch.codePointAt(0);
  if (!set(c)) return ch;
  let out = "";
  for (const b of utf8.encode(ch)) out += pctByte(b);
  return out;
}

function pctEncodeString(s, set, spaceAsPlus) {
  let out = "";
  for (const ch of s) {
    if (spaceAsPlus && ch === " ") out += "+";
    else out += pctCodePoint(ch, set);
  }
  return out;
}

const isHex = (c) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

// Percent-decodes a string to bytes (its UTF-8 first).
function pctDecodeBytes(s) {
  const bytes = utf8.encode(s);
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {
      out[n++] = parseInt(String.fromCharCode(bytes[i + 1], bytes[i + 2]), 16);
      i += 2;
    } else {
      out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

const utf8Lossy = new TextDecoder();
const pctDecodeString = (s) => (s.indexOf("%") < 0 ? s : utf8Lossy.decode(pctDecodeBytes(s)));

// ---- hosts ------------------------------------------------------------------------

const FORBIDDEN_HOST = /[\u0000\u0009\u000a\u000d #/:<>?@[\\\]^|]/;
const FORBIDDEN_DOMAIN = /[\u0000-\u001f #%/:<>?@[\\\]^|\u007f]/;

function parseIPv6(input) {
  const a = [0, 0, 0, 0, 0, 0, 0, 0];
  let piece = 0, compress = null, p = 0;
  const cp = (i) => (i < input.length ? input.charCodeAt(i) : -1);
  if (cp(p) === 0x3a) {
    if (cp(p + 1) !== 0x3a) return null;
    p += 2;
    compress = ++piece;
  }
  while (cp(p) !== -1) {
    if (piece === 8) return null;
    if (cp(p) === 0x3a) {
      if (compress !== null) return null;
      p++;
      compress = ++piece;
      continue;
    }
    let value = 0, length = 0;
    while (length < 4 && isHex(cp(p))) {
      value = value * 16 + parseInt(input[p], 16);
      p++;
      length++;
    }
    if (cp(p) === 0x2e) {
      if (length === 0) return null;
      p -= length;
      if (piece > 6) return null;
      let numbersSeen = 0;
      while (cp(p) !== -1) {
        let v4 = null;
        if (numbersSeen > 0) {
          if (cp(p) === 0x2e && numbersSeen < 4) p++;
          else return null;
        }
        if (!(cp(p) >= 0x30 && cp(p) <= 0x39)) return null;
        while (cp(p) >= 0x30 && cp(p) <= 0x39) {
          const n = cp(p) - 0x30;
          if (v4 === null) v4 = n;
          else if (v4 === 0) return null;
          else v4 = v4 * 10 + n;
          if (v4 > 255) return null;
          p++;
        }
        a[piece] = a[piece] * 0x100 + v4;
        numbersSeen++;
        if (numbersSeen === 2 || numbersSeen === 4) piece++;
      }
      if (numbersSeen !== 4) return null;
      break;
    } else if (cp(p) === 0x3a) {
      p++;
      if (cp(p) === -1) return null;
    } else if (cp(p) !== -1) {
      return null;
    }
    a[piece++] = value;
  }
  if (compress !== null) {
    let swaps = piece - compress;
    piece = 7;
    while (piece !== 0 && swaps > 0) {
      const t = a[compress + swaps - 1];
      a[compress + swaps - 1] = a[piece];
      a[piece] = t;
      piece--;
      swaps--;
    }
  } else if (piece !== 8) {
    return null;
  }
  return a;
}

function serializeIPv6(a) {
  // The first longest run of two or more zero pieces is compressed.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (a[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && a[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  let out = "[";
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out += i === 0 ? "::" : ":";
      i += bestLen - 1;
      continue;
    }
    out += a[i].toString(16);
    if (i < 7) out += ":";
  }
  return out + "]";
}

// Parses one IPv4 part: decimal, 0x hex or 0 octal. Returns NaN when it is not a number.
function parseIPv4Number(s) {
  if (s === "") return NaN;
  let radix = 10;
  if (s.length >= 2 && (s.startsWith("0x") || s.startsWith("0X"))) { s = s.slice(2); radix = 16; }
  else if (s.length >= 2 && s[0] === "0") { s = s.slice(1); radix = 8; }
  if (s === "") return 0;
  const re = radix === 10 ? /^[0-9]+$/ : radix === 16 ? /^[0-9a-fA-F]+$/ : /^[0-7]+$/;
  if (!re.test(s)) return NaN;
  return parseInt(s, radix);
}

function endsInANumber(s) {
  const parts = s.split(".");
  if (parts[parts.length - 1] === "") {
    if (parts.length === 1) return false;
    parts.pop();
  }
  const last = parts[parts.length - 1];
  if (last !== "" && /^[0-9]+$/.test(last)) return true;
  return !Number.isNaN(parseIPv4Number(last));
}

// Returns the address as a number, or null for a failure.
function parseIPv4(s) {
  const parts = s.split(".");
  if (parts[parts.length - 1] === "" && parts.length > 1) parts.pop();
  if (parts.length > 4) return null;
  const nums = [];
  for (const p of parts) {
    const n = parseIPv4Number(p);
    if (Number.isNaN(n)) return null;
    nums.push(n);
  }
  for (let i = 0; i < nums.length - 1; i++) if (nums[i] > 255) return null;
  if (nums[nums.length - 1] >= 256 ** (5 - nums.length)) return null;
  let ipv4 = nums[nums.length - 1];
  for (let i = 0; i < nums.length - 1; i++) ipv4 += nums[i] * 256 ** (3 - i);
  return ipv4;
}

const serializeIPv4 = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");

function domainToASCII(domain) {
  // ASCII without punycode labels needs no UTS #46 processing beyond lower-casing.
  if (/^[\x00-\x7f]*$/.test(domain) && !/(^|\.)xn--/i.test(domain)) return domain.toLowerCase();
  return native.idnaToASCII(domain); // null on failure
}

// The host parser; returns the serialised host or null for a failure.
function parseHost(input, notSpecial) {
  if (input.startsWith("[")) {
    if (!input.endsWith("]")) return null;
    const a = parseIPv6(input.slice(1, -1));
    return a ? serializeIPv6(a) : null;
  }
  if (notSpecial) {
    if (FORBIDDEN_HOST.test(input)) return null;
    return pctEncodeString(input, inC0);
  }
  const domain = utf8Lossy.decode(pctDecodeBytes(input));
  const ascii = domainToASCII(domain);
  if (ascii === null || ascii === "" || FORBIDDEN_DOMAIN.test(ascii)) return null;
  if (endsInANumber(ascii)) {
    const v4 = parseIPv4(ascii);
    return v4 === null ? null : serializeIPv4(v4);
  }
  return ascii;
}

// ---- the basic URL parser ---------------------------------------------------------------

const ALPHA = /[A-Za-z]/;
const ALNUM_PLUS = /[A-Za-z0-9+\-.]/;
const isWinLetter = (s, normalizedOnly) => s.length === 2 && ALPHA.test(s[0]) && (s[1] === ":" || (!normalizedOnly && s[1] === "|"));
function startsWithWinLetter(cps, p) {
  if (cps.length - p < 2) return false;
  if (!ALPHA.test(cps[p]) || (cps[p + 1] !== ":" && cps[p + 1] !== "|")) return false;
  if (cps.length - p === 2) return true;
  const c = cps[p + 2];
  return c === "/" || c === "\\" || c === "?" || c === "#";
}
const isSingleDot = (s) => s === "." || s.toLowerCase() === "%2e";
const isDoubleDot = (s) => {
  const l = s.toLowerCase();
  return l === ".." || l === ".%2e" || l === "%2e." || l === "%2e%2e";
};

function shortenPath(u) {
  if (u.scheme === "file" && u.path.length === 1 && isWinLetter(u.path[0], true)) return;
  u.path.pop();
}

function newRecord() {
  return { scheme: "", username: "", password: "", host: null, port: null, path: [], opaque: false, query: null, fragment: null };
}

// Parses input against base (a record or null) into url (a record, for state overrides) or a new record. Returns the record or null.
function basicParse(input, base, url, stateOverride) {
  if (!url) {
    url = newRecord();
    input = input.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "");
  }
  input = input.replace(/[\t\n\r]/g, "");
  let state = stateOverride || "scheme start";
  let buffer = "", atSign = false, insideBrackets = false, passwordTokenSeen = false;
  const cps = Array.from(input);
  const special = () => isSpecialScheme(url.scheme);
  for (let p = 0; p <= cps.length; p++) {
    const c = p < cps.length ? cps[p] : undefined; // undefined is the EOF code point
    switch (state) {
      case "scheme start":
        if (c !== undefined && ALPHA.test(c)) {
          buffer += c.toLowerCase();
          state = "scheme";
        } else if (!stateOverride) {
          state = "no scheme";
          p--;
        } else {
          return null;
        }
        break;
      case "scheme":
        if (c !== undefined && ALNUM_PLUS.test(c)) {
          buffer += c.toLowerCase();
        } else if (c === ":") {
          if (stateOverride) {
            if (isSpecialScheme(url.scheme) !== isSpecialScheme(buffer)) return url;
            if ((url.username !== "" || url.password !== "" || url.port !== null) && buffer === "file") return url;
            if (url.scheme === "file" && url.host === "") return url;
          }
          url.scheme = buffer;
          if (stateOverride) {
            if (url.port === SPECIAL[url.scheme + ":"]) url.port = null;
            return url;
          }
          buffer = "";
          if (url.scheme === "file") {
            state = "file";
          } else if (special() && base && base.scheme === url.scheme) {
            state = "special relative or authority";
          } else if (special()) {
            state = "special authority slashes";
          } else if (cps[p + 1] === "/") {
            state = "path or authority";
            p++;
          } else {
            url.opaque = true;
            url.path = "";
            state = "opaque path";
          }
        } else if (!stateOverride) {
          buffer = "";
          state = "no scheme";
          p = -1;
        } else {
          return null;
        }
        break;
      case "no scheme":
        if (!base || (base.opaque && c !== "#")) return null;
        if (base.opaque && c === "#") {
          url.scheme = base.scheme;
          url.path = base.path;
          url.opaque = true;
          url.query = base.query;
          url.fragment = "";
          state = "fragment";
        } else if (base.scheme !== "file") {
          state = "relative";
          p--;
        } else {
          state = "file";
          p--;
        }
        break;
      case "special relative or authority":
        if (c === "/" && cps[p + 1] === "/") {
          state = "special authority ignore slashes";
          p++;
        } else {
          state = "relative";
          p--;
        }
        break;
      case "path or authority":
        if (c === "/") state = "authority";
        else {
          state = "path";
          p--;
        }
        break;
      case "relative":
        url.scheme = base.scheme;
        if (c === "/") state = "relative slash";
        else if (special() && c === "\\") state = "relative slash";
        else {
          url.username = base.username;
          url.password = base.password;
          url.host = base.host;
          url.port = base.port;
          url.path = base.path.slice();
          url.query = base.query;
          if (c === "?") {
            url.query = "";
            state = "query";
          } else if (c === "#") {
            url.fragment = "";
            state = "fragment";
          } else if (c !== undefined) {
            url.query = null;
            shortenPath(url);
            state = "path";
            p--;
          }
        }
        break;
      case "relative slash":
        if (special() && (c === "/" || c === "\\")) state = "special authority ignore slashes";
        else if (c === "/") state = "authority";
        else {
          url.username = base.username;
          url.password = base.password;
          url.host = base.host;
          url.port = base.port;
          state = "path";
          p--;
        }
        break;
      case "special authority slashes":
        if (c === "/" && cps[p + 1] === "/") {
          state = "special authority ignore slashes";
          p++;
        } else {
          state = "special authority ignore slashes";
          p--;
        }
        break;
      case "special authority ignore slashes":
        if (c !== "/" && c !== "\\") {
          state = "authority";
          p--;
        }
        break;
      case "authority":
        if (c === "@") {
          if (atSign) buffer = "%40" + buffer;
          atSign = true;
          for (const ch of buffer) {
            if (ch === ":" && !passwordTokenSeen) {
              passwordTokenSeen = true;
              continue;
            }
            const enc = pctCodePoint(ch, inUserinfo);
            if (passwordTokenSeen) url.password += enc;
            else url.username += enc;
          }
          buffer = "";
        } else if (c === undefined || c === "/" || c === "?" || c === "#" || (special() && c === "\\")) {
          if (atSign && buffer === "") return null;
          p -= Array.from(buffer).length + 1;
          buffer = "";
          state = "host";
        } else {
          buffer += c;
        }
        break;
      case "host":
      case "hostname":
        if (stateOverride && url.scheme === "file") {
          p--;
          state = "file host";
        } else if (c === ":" && !insideBrackets) {
          if (buffer === "") return null;
          if (stateOverride === "hostname") return null;
          const host = parseHost(buffer, !special());
          if (host === null) return null;
          url.host = host;
          buffer = "";
          state = "port";
        } else if (c === undefined || c === "/" || c === "?" || c === "#" || (special() && c === "\\")) {
          p--;
          if (special() && buffer === "") return null;
          if (stateOverride && buffer === "" && (url.username !== "" || url.password !== "" || url.port !== null)) return url;
          const host = parseHost(buffer, !special());
          if (host === null) return null;
          url.host = host;
          buffer = "";
          state = "path start";
          if (stateOverride) return url;
        } else {
          if (c === "[") insideBrackets = true;
          if (c === "]") insideBrackets = false;
          buffer += c;
        }
        break;
      case "port":
        if (c !== undefined && c >= "0" && c <= "9") {
          buffer += c;
        } else if (c === undefined || c === "/" || c === "?" || c === "#" || (special() && c === "\\") || stateOverride) {
          if (buffer !== "") {
            const port = parseInt(buffer, 10);
            if (port > 65535) return null;
            url.port = port === SPECIAL[url.scheme + ":"] ? null : port;
            buffer = "";
          }
          if (stateOverride) return url;
          state = "path start";
          p--;
        } else {
          return null;
        }
        break;
      case "file":
        url.scheme = "file";
        url.host = "";
        if (c === "/" || c === "\\") {
          state = "file slash";
        } else if (base && base.scheme === "file") {
          url.host = base.host;
          url.path = base.path.slice();
          url.query = base.query;
          if (c === "?") {
            url.query = "";
            state = "query";
          } else if (c === "#") {
            url.fragment = "";
            state = "fragment";
          } else if (c !== undefined) {
            url.query = null;
            if (!startsWithWinLetter(cps, p)) shortenPath(url);
            else url.path = [];
            state = "path";
            p--;
          }
        } else {
          state = "path";
          p--;
        }
        break;
      case "file slash":
        if (c === "/" || c === "\\") {
          state = "file host";
        } else {
          if (base && base.scheme === "file") {
            url.host = base.host;
            if (!startsWithWinLetter(cps, p) && base.path.length > 0 && isWinLetter(base.path[0], true)) url.path.push(base.path[0]);
          }
          state = "path";
          p--;
        }
        break;
      case "file host":
        if (c === undefined || c === "/" || c === "\\" || c === "?" || c === "#") {
          p--;
          if (!stateOverride && isWinLetter(buffer, false)) {
            state = "path";
          } else if (buffer === "") {
            url.host = "";
            if (stateOverride) return url;
            state = "path start";
          } else {
            let host = parseHost(buffer, !special());
            if (host === null) return null;
            if (host === "localhost") host = "";
            url.host = host;
            if (stateOverride) return url;
            buffer = "";
            state = "path start";
          }
        } else {
          buffer += c;
        }
        break;
      case "path start":
        if (special()) {
          state = "path";
          if (c !== "/" && c !== "\\") p--;
        } else if (!stateOverride && c === "?") {
          url.query = "";
          state = "query";
        } else if (!stateOverride && c === "#") {
          url.fragment = "";
          state = "fragment";
        } else if (c !== undefined) {
          state = "path";
          if (c !== "/") p--;
        } else if (stateOverride && url.host === null) {
          url.path.push("");
        }
        break;
      case "path":
        if (c === undefined || c === "/" || (special() && c === "\\") || (!stateOverride && (c === "?" || c === "#"))) {
          const slash = c === "/" || (special() && c === "\\");
          if (isDoubleDot(buffer)) {
            shortenPath(url);
            if (!slash) url.path.push("");
          } else if (isSingleDot(buffer) && !slash) {
            url.path.push("");
          } else if (!isSingleDot(buffer)) {
            if (url.scheme === "file" && url.path.length === 0 && isWinLetter(buffer, false)) buffer = buffer[0] + ":";
            url.path.push(buffer);
          }
          buffer = "";
          if (c === "?") {
            url.query = "";
            state = "query";
          }
          if (c === "#") {
            url.fragment = "";
            state = "fragment";
          }
        } else {
          buffer += pctCodePoint(c, inPath);
        }
        break;
      case "opaque path":
        if (c === "?") {
          url.query = "";
          state = "query";
        } else if (c === "#") {
          url.fragment = "";
          state = "fragment";
        } else if (c !== undefined) {
          url.path += pctCodePoint(c, inC0);
        }
        break;
      case "query":
        if ((!stateOverride && c === "#") || c === undefined) {
          url.query += pctEncodeString(buffer, special() ? inSpecialQuery : inQuery);
          buffer = "";
          if (c === "#") {
            url.fragment = "";
            state = "fragment";
          }
        } else {
          buffer += c;
        }
        break;
      case "fragment":
        if (c !== undefined) url.fragment += pctCodePoint(c, inFragment);
        break;
    }
  }
  return url;
}

// The fast path: an absolute http(s)/ws(s) URL already in canonical form (what
// requests carry) gives the same record as the state machine, from one regex.
// Anything unusual (a dot segment, "%2e", a backslash, a byte to escape, a
// numeric or punycode host, uppercase, whitespace) takes the full parser.
const CANONICAL =
  /^(https?|wss?):\/\/([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::([1-9][0-9]{0,4}))?(\/[A-Za-z0-9\-._~!$&()*+,;=:@\/%]*)?(?:\?([\x21\x24-\x26\x28-\x3b\x3d\x3f-\x7e]*))?(?:#([\x21\x23-\x3b\x3d\x3f-\x5f\x61-\x7e]*))?$/;
function fastParse(input) {
  const m = CANONICAL.exec(input);
  if (m === null) return null;
  const host = m[2];
  const lastLabel = host.slice(host.lastIndexOf(".") + 1);
  if (/^[0-9]/.test(lastLabel)) {
    // A numeric host is canonical only as four decimal octets without leading zeros.
    if (!/^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/.test(host)) return null;
  } else if (!/^[a-z]/.test(lastLabel) || host.includes("xn--")) {
    return null;
  }
  const path = m[4] === undefined ? "/" : m[4];
  if (/(^|\/)\.\.?(\/|$)|%2e/i.test(path)) return null;
  const port = m[3] === undefined ? null : Number(m[3]);
  if (port !== null && port > 65535) return null;
  return {
    scheme: m[1], username: "", password: "", host, port: port === SPECIAL[m[1] + ":"] ? null : port,
    path: path.slice(1).split("/"), pathStr: path, opaque: false, query: m[5] === undefined ? null : m[5], fragment: m[6] === undefined ? null : m[6],
  };
}

// fastParse's answers for the last inputs seen (a record, or null: not canonical), by input: a server parses the
// same few URLs again and again. Each URL gets its own copy of the record (URLs are mutable); the cache is
// bounded in entries and in input length, and emptied when full.
const FAST = new Map();
const FAST_MAX = 256, FAST_LEN = 512;
// A copy of a cached record, of the same shape (property order) as fastParse's own records.
const copyRecord = (t) => ({
  scheme: t.scheme, username: "", password: "", host: t.host, port: t.port,
  path: t.path.slice(), pathStr: t.pathStr, opaque: false, query: t.query, fragment: t.fragment,
});
function fastParseCached(input) {
  let t = FAST.get(input);
  if (t === undefined) {
    t = fastParse(input);
    if (input.length > FAST_LEN) return t;
    if (FAST.size >= FAST_MAX) FAST.clear();
    FAST.set(input, t);
  }
  return t === null ? null : copyRecord(t);
}

function serializePath(u) {
  if (u.opaque) return u.path;
  if (u.pathStr !== undefined) return u.pathStr;
  let out = "";
  for (const seg of u.path) out += "/" + seg;
  return out;
}

function serializeURL(u, excludeFragment) {
  let out = u.scheme + ":";
  if (u.host !== null) {
    out += "//";
    if (u.username !== "" || u.password !== "") {
      out += u.username;
      if (u.password !== "") out += ":" + u.password;
      out += "@";
    }
    out += u.host;
    if (u.port !== null) out += ":" + u.port;
  }
  // "/." keeps a path that starts with an empty segment from reading as a host.
  if (u.host === null && !u.opaque && u.path.length > 1 && u.path[0] === "") out += "/.";
  out += serializePath(u);
  if (u.query !== null) out += "?" + u.query;
  if (!excludeFragment && u.fragment !== null) out += "#" + u.fragment;
  return out;
}

function originOf(u) {
  switch (u.scheme) {
    case "blob": {
      const inner = u.opaque ? basicParse(u.path, null) : null;
      return inner && (inner.scheme === "http" || inner.scheme === "https") ? originOf(inner) : "null";
    }
    case "ftp":
    case "http":
    case "https":
    case "ws":
    case "wss":
      return u.scheme + "://" + u.host + (u.port !== null ? ":" + u.port : "");
    default:
      return "null";
  }
}

// ---- application/x-www-form-urlencoded ------------------------------------------------------

function formParse(s) {
  const out = [];
  for (const seq of s.split("&")) {
    if (seq === "") continue;
    const eq = seq.indexOf("=");
    let name = eq < 0 ? seq : seq.slice(0, eq);
    let value = eq < 0 ? "" : seq.slice(eq + 1);
    name = name.replace(/\+/g, " ");
    value = value.replace(/\+/g, " ");
    out.push([pctDecodeString(name), pctDecodeString(value)]);
  }
  return out;
}

const formSerialize = (list) =>
  list.map(([n, v]) => pctEncodeString(n, inForm, true) + "=" + pctEncodeString(v, inForm, true)).join("&");

// USVString conversion: lone surrogates become U+FFFD.
const SURROGATE = /[\ud800-\udfff]/;
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const toUSV = (v) => {
  const s = String(v);
  return SURROGATE.test(s) ? s.replace(LONE, "\ufffd") : s;
};

const kList = Symbol("list"), kURL = Symbol("url"), kRecord = Symbol("record"), kParams = Symbol("params");

class URLSearchParams {
  constructor(init = "") {
    this[kList] = [];
    this[kURL] = null;
    if (typeof init === "object" && init !== null) {
      if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const a = Array.from(pair);
          if (a.length !== 2) throw new TypeError("URLSearchParams: each pair must have exactly two items");
          this[kList].push([toUSV(a[0]), toUSV(a[1])]);
        }
      } else {
        for (const k of Reflect.ownKeys(init)) {
          const d = Reflect.getOwnPropertyDescriptor(init, k);
          if (d && d.enumerable && typeof k === "string") this[kList].push([toUSV(k), toUSV(init[k])]);
        }
      }
    } else {
      let s = toUSV(init);
      if (s.startsWith("?")) s = s.slice(1);
      this[kList] = formParse(s);
    }
  }
  get size() { return this[kList].length; }
  #update() {
    const u = this[kURL];
    if (!u) return;
    const s = formSerialize(this[kList]);
    u[kRecord].query = s === "" ? null : s;
  }
  append(name, value) {
    this[kList].push([toUSV(name), toUSV(value)]);
    this.#update();
  }
  delete(name, value) {
    name = toUSV(name);
    if (value === undefined) this[kList] = this[kList].filter((e) => e[0] !== name);
    else {
      value = toUSV(value);
      this[kList] = this[kList].filter((e) => e[0] !== name || e[1] !== value);
    }
    this.#update();
  }
  get(name) {
    name = toUSV(name);
    const e = this[kList].find((e) => e[0] === name);
    return e ? e[1] : null;
  }
  getAll(name) {
    name = toUSV(name);
    return this[kList].filter((e) => e[0] === name).map((e) => e[1]);
  }
  has(name, value) {
    name = toUSV(name);
    if (value === undefined) return this[kList].some((e) => e[0] === name);
    value = toUSV(value);
    return this[kList].some((e) => e[0] === name && e[1] === value);
  }
  set(name, value) {
    name = toUSV(name);
    value = toUSV(value);
    const i = this[kList].findIndex((e) => e[0] === name);
    if (i < 0) this[kList].push([name, value]);
    else {
      this[kList][i][1] = value;
      this[kList] = this[kList].filter((e, k) => k <= i || e[0] !== name);
    }
    this.#update();
  }
  sort() {
    // Stable, by UTF-16 code units (which is what < on strings compares).
    this[kList] = this[kList]
      .map((e, i) => [e, i])
      .sort((a, b) => (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1]))
      .map((x) => x[0]);
    this.#update();
  }
  forEach(fn, thisArg) {
    if (typeof fn !== "function") throw new TypeError("URLSearchParams.forEach: callback is not a function");
    for (let i = 0; i < this[kList].length; i++) fn.call(thisArg, this[kList][i][1], this[kList][i][0], this);
  }
  *entries() {
    for (let i = 0; i < this[kList].length; i++) yield [this[kList][i][0], this[kList][i][1]];
  }
  *keys() {
    for (let i = 0; i < this[kList].length; i++) yield this[kList][i][0];
  }
  *values() {
    for (let i = 0; i < this[kList].length; i++) yield this[kList][i][1];
  }
  [Symbol.iterator]() { return this.entries(); }
  toString() { return formSerialize(this[kList]); }
  get [Symbol.toStringTag]() { return "URLSearchParams"; }
}

class URL {
  constructor(url, base) {
    let b = null;
    if (base !== undefined) {
      b = basicParse(toUSV(base), null);
      if (!b) throw new TypeError(`Invalid base URL: ${base}`);
    }
    // A string in the cache is its own USVString (it was one when it went in): no conversion, no second look-up.
    let input, r = null;
    const hit = b === null && typeof url === "string" ? FAST.get(url) : undefined;
    if (hit !== undefined) {
      input = url;
      if (hit !== null) r = copyRecord(hit);
    } else {
      input = toUSV(url);
      if (b === null) r = fastParseCached(input);
    }
    if (r === null) r = basicParse(input, b);
    if (!r) throw new TypeError(`Invalid URL: ${url}`);
    this[kRecord] = r;
    this[kParams] = null;
  }
  static canParse(url, base) {
    try {
      new URL(url, base);
      return true;
    } catch {
      return false;
    }
  }
  static parse(url, base) {
    try {
      return new URL(url, base);
    } catch {
      return null;
    }
  }
  get href() { return serializeURL(this[kRecord]); }
  set href(v) {
    const r = basicParse(toUSV(v), null);
    if (!r) throw new TypeError(`Invalid URL: ${v}`);
    this[kRecord] = r;
    if (this[kParams]) this[kParams][kList] = r.query ? formParse(r.query) : [];
  }
  get origin() { return originOf(this[kRecord]); }
  get protocol() { return this[kRecord].scheme + ":"; }
  set protocol(v) { basicParse(toUSV(v) + ":", null, this[kRecord], "scheme start"); }
  get username() { return this[kRecord].username; }
  set username(v) {
    const r = this[kRecord];
    if (r.host === null || r.host === "" || r.scheme === "file") return;
    r.username = pctEncodeString(toUSV(v), inUserinfo);
  }
  get password() { return this[kRecord].password; }
  set password(v) {
    const r = this[kRecord];
    if (r.host === null || r.host === "" || r.scheme === "file") return;
    r.password = pctEncodeString(toUSV(v), inUserinfo);
  }
  get host() {
    const r = this[kRecord];
    if (r.host === null) return "";
    return r.port === null ? r.host : r.host + ":" + r.port;
  }
  set host(v) {
    const r = this[kRecord];
    if (r.opaque) return;
    const copy = { ...r, path: r.opaque ? r.path : r.path.slice() };
    if (basicParse(toUSV(v), null, copy, "host")) Object.assign(r, copy);
  }
  get hostname() { return this[kRecord].host ?? ""; }
  set hostname(v) {
    const r = this[kRecord];
    if (r.opaque) return;
    const copy = { ...r, path: r.path.slice() };
    if (basicParse(toUSV(v), null, copy, "hostname")) Object.assign(r, copy);
  }
  get port() { return this[kRecord].port === null ? "" : String(this[kRecord].port); }
  set port(v) {
    const r = this[kRecord];
    if (r.host === null || r.host === "" || r.scheme === "file") return;
    v = toUSV(v);
    if (v === "") r.port = null;
    else {
      const copy = { ...r };
      if (basicParse(v, null, copy, "port")) r.port = copy.port;
    }
  }
  get pathname() { return serializePath(this[kRecord]); }
  set pathname(v) {
    const r = this[kRecord];
    if (r.opaque) return;
    r.pathStr = undefined;
    r.path = [];
    basicParse(toUSV(v), null, r, "path start");
  }
  get search() {
    const q = this[kRecord].query;
    return q === null || q === "" ? "" : "?" + q;
  }
  set search(v) {
    const r = this[kRecord];
    v = toUSV(v);
    if (v === "") {
      r.query = null;
      if (this[kParams]) this[kParams][kList] = [];
      return;
    }
    if (v[0] === "?") v = v.slice(1);
    r.query = "";
    basicParse(v, null, r, "query");
    if (this[kParams]) this[kParams][kList] = formParse(v);
  }
  get searchParams() {
    if (!this[kParams]) {
      const q = this[kRecord].query;
      const p = new URLSearchParams();
      p[kList] = q === null ? [] : formParse(q);
      p[kURL] = this;
      this[kParams] = p;
    }
    return this[kParams];
  }
  get hash() {
    const f = this[kRecord].fragment;
    return f === null || f === "" ? "" : "#" + f;
  }
  set hash(v) {
    const r = this[kRecord];
    v = toUSV(v);
    if (v === "") {
      r.fragment = null;
      return;
    }
    if (v[0] === "#") v = v.slice(1);
    r.fragment = "";
    basicParse(v, null, r, "fragment");
  }
  toString() { return this.href; }
  toJSON() { return this.href; }
  get [Symbol.toStringTag]() { return "URL"; }
}

define("URL", URL);
define("URLSearchParams", URLSearchParams);
