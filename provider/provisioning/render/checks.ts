// Refusals of spec values before they reach a boot config. Everything rendered ends up inside
// an iPXE script, a kernel command line, a systemd unit, a shell command or a YAML/JSON file,
// so each value is held to the narrowest shape that can be embedded in all of them verbatim:
// nothing is escaped per format, and so nothing can be mis-escaped into an injected command.
import { isIPv4, isIPv6 } from "node:net";
import ipaddr from "ipaddr.js";

export class RenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RenderError";
  }
}

// RFC 3986 characters, less those that some target gives a meaning: ' " ` \ (quoting), $ (iPXE
// and systemd expand ${...}), ; (cloud-init splits `ds=` on it), # (iPXE comments, and a
// fragment is never sent anyway), < > { } | ^ and whitespace. A `%` stays allowed: it is doubled
// where systemd would read it as a specifier.
const URL_CHARS = /^[A-Za-z0-9\-._~:/?[\]@!&()*+,=%]+$/;
const URL_REFUSED = "whitespace, quotes, backslashes or any of $ ; # ` < > { } | ^";

/** An http(s) URL that is safe to embed verbatim in every boot config format. */
export function checkUrl(what: string, url: string): string {
  if (typeof url !== "string" || url.length === 0) throw new RenderError(`${what} is empty`);
  const bad = [...url].find((c) => !URL_CHARS.test(c));
  if (bad !== undefined) {
    throw new RenderError(
      `${what} ${JSON.stringify(url)} contains ${describeChar(bad)}: URLs in boot configs may not contain ` +
        `${URL_REFUSED} (iPXE, the kernel command line or a shell would split or expand them)`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RenderError(`${what} ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new RenderError(`${what} ${JSON.stringify(url)} must be http or https, not ${parsed.protocol}`);
  }
  if (parsed.hostname === "") throw new RenderError(`${what} ${JSON.stringify(url)} has no host`);
  if (parsed.username !== "" || parsed.password !== "") {
    throw new RenderError(
      `${what} ${JSON.stringify(url)} carries credentials; they would be readable in the boot config`,
    );
  }
  return url;
}

function describeChar(c: string): string {
  if (/\s/.test(c)) return c === " " ? "a space" : `whitespace (U+${hex(c)})`;
  return /[\x21-\x7e]/.test(c) ? `"${c}"` : `the character U+${hex(c)}`;
}

const hex = (c: string): string => (c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");

const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

/** RFC 1123 host name: letters, digits and hyphens in dot-separated labels. */
export function checkHostname(hostname: string): string {
  if (typeof hostname !== "string" || hostname.length > 64 || !HOSTNAME.test(hostname)) {
    throw new RenderError(
      `hostname ${JSON.stringify(hostname)} is not a valid host name: use letters, digits and hyphens, ` +
        `in dot-separated labels of 1 to 63 characters that neither start nor end with a hyphen, at most 64 in all`,
    );
  }
  return hostname;
}

/** The token is part of every staged URL, and PHONE_HOME only matches these characters. */
export function checkToken(token: string): string {
  if (typeof token !== "string" || !/^[A-Za-z0-9_-]{1,128}$/.test(token)) {
    throw new RenderError(`token must be 1 to 128 letters, digits, "-" or "_"`);
  }
  return token;
}

/** Lower-case colon-separated MAC address. */
export function checkMac(what: string, mac: string): string {
  if (typeof mac !== "string" || !/^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/.test(mac)) {
    throw new RenderError(`${what} MAC ${JSON.stringify(mac)} is not of the form aa:bb:cc:dd:ee:ff`);
  }
  return mac.toLowerCase();
}

/** Linux interface name (at most 15 characters); it also becomes part of file names. */
export function checkInterfaceName(name: string): string {
  if (typeof name !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(name)) {
    throw new RenderError(
      `interface name ${JSON.stringify(name)} must be 1 to 15 letters, digits, "_", "." or "-", ` +
        `not starting with "." or "-"`,
    );
  }
  return name;
}

const KEY_TYPES =
  "ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|" +
  "sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com";
/** One OpenSSH public key line; the resources' checks use it too, so a key they take renders. */
export const SSH_KEY = new RegExp(`^(?:${KEY_TYPES}) [A-Za-z0-9+/]+={0,3}(?: [\\x20-\\x7e]*)?$`);

/** One OpenSSH public key line; a newline would smuggle in another authorized key. */
export function checkSshKey(key: string, index: number): string {
  if (typeof key !== "string" || !SSH_KEY.test(key.trim())) {
    const start = typeof key === "string" ? JSON.stringify(key.slice(0, 20)) : String(key);
    throw new RenderError(
      `sshKeys[${index}] (${start}...) is not one OpenSSH public key line ("<type> <base64> [comment]")`,
    );
  }
  return key.trim();
}

/** crypt(3) SHA-512; anything else might be a plain password about to be written out. */
export function checkPasswordHash(hash: string): string {
  if (typeof hash !== "string" || !/^\$6\$(?:rounds=\d+\$)?[A-Za-z0-9./]{1,16}\$[A-Za-z0-9./]+$/.test(hash)) {
    throw new RenderError(
      `rootPasswordHash is not a crypt(3) SHA-512 hash ("$6$salt$hash"); ` +
        `refusing to write it into a boot config`,
    );
  }
  return hash;
}

/** A block device path; it is passed to installers on kernel command lines and in scripts. */
export function checkDisk(disk: string): string {
  if (typeof disk !== "string" || !/^\/dev\/[A-Za-z0-9._:+/-]+$/.test(disk) || disk.includes("..")) {
    throw new RenderError(`installDisk ${JSON.stringify(disk)} is not a /dev path like /dev/sda`);
  }
  return disk;
}

/** An IP address of the given family (or either), in canonical text form. */
export function checkIp(what: string, ip: string, family?: 4 | 6): string {
  const parsed = parseIp(ip);
  if (parsed === undefined) throw new RenderError(`${what} ${JSON.stringify(ip)} is not an IP address`);
  const got = parsed.kind() === "ipv4" ? 4 : 6;
  if (family !== undefined && got !== family) {
    throw new RenderError(`${what} ${JSON.stringify(ip)} is IPv${got}, expected IPv${family}`);
  }
  return parsed.toString();
}

export function parseIp(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (typeof ip !== "string") return undefined;
  // Node's native checks (dotted decimal, no leading zeros), then one ipaddr.js parse: its
  // isValid helpers parse the text once more each.
  try {
    if (isIPv4(ip)) return ipaddr.IPv4.parse(ip);
    // No zone ids ("%eth0"): a gateway or resolver is named by address alone.
    if (isIPv6(ip) && !ip.includes("%")) return ipaddr.IPv6.parse(ip);
  } catch {
    // Refused below like any other non-address.
  }
  return undefined;
}
