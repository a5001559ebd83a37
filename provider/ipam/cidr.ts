// CIDR blocks as exact integers. Both families use bigint so IPv6 arithmetic is exact over
// all 128 bits; ipaddr.js does the parsing and printing of addresses.
import ipaddr from "ipaddr.js";
import { IpamError } from "./errors";

export type Family = 4 | 6;

export interface Block {
  readonly family: Family;
  /** First address of the block, as an unsigned integer. */
  readonly network: bigint;
  readonly prefix: number;
}

export const familyBits = (family: Family): number => (family === 4 ? 32 : 128);

export const blockSize = (b: Pick<Block, "family" | "prefix">): bigint =>
  1n << BigInt(familyBits(b.family) - b.prefix);

export const lastAddress = (b: Block): bigint => b.network + blockSize(b) - 1n;

function bytesToBigint(bytes: number[]): bigint {
  let v = 0n;
  for (const byte of bytes) v = (v << 8n) | BigInt(byte);
  return v;
}

function bigintToBytes(v: bigint, length: number): number[] {
  const out = new Array<number>(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * An IPv6 address's dotted IPv4 tail as its two hex groups. ipaddr.js reads "::a.b.c.d" as
 * ::ffff:a.b.c.d; RFC 4291 makes it 0:0:0:0:0:0:a.b.c.d, the form PostgreSQL prints for any
 * address whose first 96 bits are zero.
 */
function dottedTailToHex(text: string): string {
  const m = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return text;
  const [a, b, c, d] = m.slice(2).map(Number) as [number, number, number, number];
  if ([a, b, c, d].some((x) => x > 255)) return text; // left for ipaddr.js to refuse
  return `${m[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

// Four decimal numbers 0-255. ipaddr.js (like inet_aton) also takes "010.0.0.0" as octal,
// "0xa000000" and "10.1", which a user who typed them hardly meant: 010.20.0.0 would be 8.20.0.0.
const DOTTED = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
const dotted = (text: string) =>
  DOTTED.exec(text)
    ?.slice(1)
    .every((o) => Number(o) <= 255) ?? false;

export function parseAddress(text: string): { family: Family; value: bigint } {
  if (!text.includes(":") && !dotted(text)) {
    throw new IpamError(
      "InvalidCidr",
      `"${text}" is not an IPv4 address: IPv4 is four decimal numbers 0-255 without leading zeros (10.0.0.0), or use IPv6`,
    );
  }
  if (text.includes("%")) {
    throw new IpamError("InvalidCidr", `"${text}" has a zone index (%...), which no network address has`);
  }
  const tail = /[:]([^:]*\.[^:]*)$/.exec(text)?.[1];
  if (!ipaddr.isValid(text) || (tail !== undefined && !dotted(tail))) {
    throw new IpamError("InvalidCidr", `"${text}" is not an IPv4 or IPv6 address`);
  }
  const addr = ipaddr.parse(text.includes(":") ? dottedTailToHex(text) : text);
  return { family: addr.kind() === "ipv4" ? 4 : 6, value: bytesToBigint(addr.toByteArray()) };
}

export function formatAddress(family: Family, value: bigint): string {
  const bytes = bigintToBytes(value, family === 4 ? 4 : 16);
  return family === 4 ? new ipaddr.IPv4(bytes).toString() : new ipaddr.IPv6(bytes).toString();
}

/** Parses "a.b.c.d/n" or "x::/n". Host bits must be zero: "10.0.0.1/24" is refused, not rounded. */
export function parseCidr(text: string): Block {
  const slash = text.indexOf("/");
  if (slash < 0) {
    throw new IpamError(
      "InvalidCidr",
      `"${text}" is not in CIDR notation (address/prefix, e.g. 10.0.0.0/24)`,
    );
  }
  const { family, value } = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  const bits = familyBits(family);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > bits) {
    throw new IpamError(
      "InvalidCidr",
      `"${text}" has prefix length "${prefixText}"; IPv${family} allows 0 to ${bits}`,
    );
  }
  const block: Block = { family, network: value, prefix };
  const hostBits = value & (blockSize(block) - 1n);
  if (hostBits !== 0n) {
    const fixed = formatCidr({ family, network: value - hostBits, prefix });
    throw new IpamError("InvalidCidr", `"${text}" has host bits set; the network is ${fixed}`);
  }
  return block;
}

export const formatCidr = (b: Block): string => `${formatAddress(b.family, b.network)}/${b.prefix}`;

export const contains = (outer: Block, inner: Block): boolean =>
  outer.family === inner.family &&
  outer.prefix <= inner.prefix &&
  inner.network >= outer.network &&
  lastAddress(inner) <= lastAddress(outer);

export const overlaps = (a: Block, b: Block): boolean =>
  a.family === b.family && a.network <= lastAddress(b) && b.network <= lastAddress(a);

/** The enclosing block of the given prefix length. */
export function truncate(b: Block, prefix: number): Block {
  const size = blockSize({ family: b.family, prefix });
  return { family: b.family, network: b.network - (b.network % size), prefix };
}

/** The other half of the block's parent. */
export const buddyOf = (b: Block): Block => ({ ...b, network: b.network ^ blockSize(b) });

/**
 * Fixed-width lower-case hex of the network address: 8 digits for IPv4, 32 for IPv6. Sorting these
 * strings sorts addresses, so the store can index and compare them exactly in any database.
 */
export const toHex = (family: Family, value: bigint): string =>
  value.toString(16).padStart(family === 4 ? 8 : 32, "0");

export const fromHex = (hex: string): bigint => BigInt("0x" + hex);

/**
 * Exactly: Math.log2 rounds, so 2^50+1 would pass as 2^50. Beyond 2^53 a number is not exact at
 * all; such blocks are asked for by prefix length.
 */
export function isPowerOfTwo(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 1) return false;
  const b = BigInt(n);
  return (b & (b - 1n)) === 0n;
}

/** Prefix length of a block holding `quantity` addresses; quantity must be a power of two. */
export function prefixForQuantity(family: Family, quantity: number): number {
  if (!isPowerOfTwo(quantity)) {
    throw new IpamError("InvalidRequest", `quantity ${quantity} is not a power of two (1, 2, 4, 8, ...)`);
  }
  const log = Math.log2(quantity); // exact for a power of two
  if (log > familyBits(family)) {
    throw new IpamError("InvalidRequest", `quantity ${quantity} is more than IPv${family} has`);
  }
  return familyBits(family) - log;
}
