// Go's net/url.Parse, as far as Ignition's config checks depend on it: which URLs it refuses,
// and the scheme and query it reads. Ignition refuses a config holding a URL Go cannot parse;
// JavaScript's URL parser takes and refuses other things (it percent-encodes a space in a host
// that Go refuses, and refuses an empty host Go takes), so it cannot stand in. Written from
// the Go 1.26 source that builds ignition-validate, with Ignition's go 1.24 defaults.
import { isIPv6 as nodeIsIPv6 } from "node:net";

export interface GoUrl {
  /** Lower case; empty when there is none. */
  scheme: string;
  /** The raw query, without its `?`; undefined when there is none. */
  query: string | undefined;
  /** What follows `scheme:` when no `/` does (Go's URL.Opaque), without query and fragment. */
  opaque?: string;
}

const HEX = /^[0-9A-Fa-f]{2}$/;
const alnum = (c: string) => /^[A-Za-z0-9]$/.test(c);
// Bytes a host name may hold as they are (beside letters and digits); any other ASCII byte is
// refused, and a %-escape may only stand for a byte past ASCII (or be %25, before a zone).
const HOST_OK = new Set("-_.~!$&'()*+,;=:[]<>\"");
const USERINFO_OK = new Set("-._:~!$&'()*+,;=%@");

/** The URL as Go parses it, or undefined where url.Parse returns an error. */
export function parseGoUrl(url: string): GoUrl | undefined {
  if ([...url].some((c) => c < " " || c === "\x7f")) return undefined;
  const hash = url.indexOf("#");
  const [beforeFragment, fragment] = hash < 0 ? [url, ""] : [url.slice(0, hash), url.slice(hash + 1)];
  if (!escapesValid(fragment)) return undefined;

  let scheme = "";
  let rest = beforeFragment;
  for (let i = 0; i < beforeFragment.length; i++) {
    const c = beforeFragment[i]!;
    if (/[A-Za-z]/.test(c)) continue;
    if (/[0-9+.-]/.test(c)) {
      if (i === 0) break;
      continue;
    }
    if (c === ":") {
      if (i === 0) return undefined; // missing protocol scheme
      scheme = beforeFragment.slice(0, i).toLowerCase();
      rest = beforeFragment.slice(i + 1);
    }
    break;
  }

  let query: string | undefined;
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  if (!rest.startsWith("/")) {
    if (scheme !== "") return { scheme, query, opaque: rest }; // nothing more is parsed
    if ((rest.split("/")[0] ?? "").includes(":")) return undefined;
  }
  if ((scheme !== "" || !rest.startsWith("///")) && rest.startsWith("//")) {
    const slash = rest.indexOf("/", 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    rest = slash < 0 ? "" : rest.slice(slash);
    if (!authorityValid(authority)) return undefined;
  }
  return escapesValid(rest) ? { scheme, query } : undefined;
}

/** Every `%` starts an escape of two hex digits. */
export const escapesValid = (s: string): boolean => !/%(?![0-9A-Fa-f]{2})/.test(s);

/** The first value of `key` in a query, as Go's url.Values reads it (undefined: none). */
export function queryValue(query: string, key: string): string | undefined {
  // Byte for byte (as Latin-1): enough to compare with an ASCII key and tell an empty value.
  const bytes = (t: string) =>
    t
      .replace(/\+/g, " ")
      .replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  for (const part of query.split("&")) {
    if (part === "" || part.includes(";")) continue;
    const eq = part.indexOf("=");
    const [k, v] = eq < 0 ? [part, ""] : [part.slice(0, eq), part.slice(eq + 1)];
    if (escapesValid(k) && escapesValid(v) && bytes(k) === key) return bytes(v);
  }
  return undefined;
}

function authorityValid(authority: string): boolean {
  const at = authority.lastIndexOf("@");
  if (!hostValid(authority.slice(at + 1))) return false;
  if (at < 0) return true;
  const userinfo = authority.slice(0, at);
  return [...userinfo].every((c) => alnum(c) || USERINFO_OK.has(c)) && escapesValid(userinfo);
}

function hostValid(host: string): boolean {
  const open = host.lastIndexOf("[");
  if (open > 0) return false;
  if (open === 0) {
    const close = host.lastIndexOf("]");
    if (close < 0 || !portValid(host.slice(close + 1))) return false;
    const name = host.slice(1, close);
    const zoneAt = name.indexOf("%25");
    const addr = zoneAt < 0 ? name : name.slice(0, zoneAt);
    const zone = zoneAt < 0 ? "" : name.slice(zoneAt);
    const plain = unescapeHost(addr, false);
    const zonePlain = unescapeHost(zone, true);
    if (plain === undefined || zonePlain === undefined) return false;
    // Only an IPv6 address goes in brackets (an IPv4-mapped one too, not a plain IPv4).
    return isIPv6(plain + zonePlain);
  }
  const colon = host.lastIndexOf(":");
  if (colon >= 0 && !portValid(host.slice(colon))) return false;
  return unescapeHost(host, false) !== undefined;
}

/** Empty, or `:` and digits only (no digits is a port too). */
const portValid = (p: string) => p === "" || /^:[0-9]*$/.test(p);

/** A host (or zone) unescaped as Go's unescape in host mode; undefined where it refuses it. */
function unescapeHost(s: string, zone: boolean): string | undefined {
  let out = "";
  for (let i = 0; i < s.length;) {
    const c = s[i]!;
    if (c === "%") {
      const hex = s.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return undefined;
      const byte = parseInt(hex, 16);
      if (zone) {
        const ch = String.fromCharCode(byte);
        if (hex !== "25" && ch !== " " && byte < 0x80 && !alnum(ch) && !HOST_OK.has(ch)) return undefined;
        if (hex !== "25" && byte >= 0x80) return undefined;
      } else if (byte < 0x80 && hex !== "25") return undefined;
      out += String.fromCharCode(byte);
      i += 3;
      continue;
    }
    if (c < "\x80" && !alnum(c) && !HOST_OK.has(c)) return undefined;
    out += c;
    i++;
  }
  return out;
}

function isIPv6(s: string): boolean {
  const [addr = "", zone] = s.split(/%(.*)/s);
  if (zone === "") return false;
  // Node's check, on the address without its zone (Go's netip takes any zone text).
  return nodeIsIPv6(addr);
}
