// Address space a pool's type rules out (IANA's special-purpose registries). A public or global
// pool hands out addresses that servers announce and route to the internet, and its blocks show
// `public: true`; private space there would be a misconfiguration that only shows once traffic
// fails. No pool may hold addresses that are never a host's: loopback, link-local, multicast.
// Documentation (192.0.2.0/24, 2001:db8::/32, ...) and benchmarking (198.18.0.0/15) space stay
// allowed in public pools: labs and examples use them as stand-ins for the real thing.
import { type Block, formatCidr, overlaps, parseCidr } from "./cidr";
import { IpamError } from "./errors";
import type { PoolType } from "../store/store";

interface Range {
  block: Block;
  what: string;
  /** Refused in every pool, not only in public ones. */
  never: boolean;
}

const range = (cidr: string, what: string, never = false): Range => ({ block: parseCidr(cidr), what, never });

const RANGES: Range[] = [
  range("0.0.0.0/8", '"this network" (RFC 791), never a host\'s address', true),
  range("10.0.0.0/8", "private address space (RFC 1918)"),
  range("100.64.0.0/10", "shared address space for carrier-grade NAT (RFC 6598)"),
  range("127.0.0.0/8", "loopback (RFC 1122), never a host's address", true),
  range("169.254.0.0/16", "link-local (RFC 3927), never a host's address", true),
  range("172.16.0.0/12", "private address space (RFC 1918)"),
  range("192.168.0.0/16", "private address space (RFC 1918)"),
  range("224.0.0.0/4", "multicast (RFC 5771), never a host's address", true),
  range("240.0.0.0/4", "reserved (RFC 1112) and broadcast, never a host's address", true),
  range("::/8", "reserved (RFC 4291: unspecified, loopback, IPv4-mapped)", true),
  range("fc00::/7", "unique local address space (RFC 4193)"),
  range("fe80::/10", "link-local (RFC 4291), never a host's address", true),
  range("ff00::/8", "multicast (RFC 4291), never a host's address", true),
];

// IANA has allocated only this for global unicast; the rest of IPv6 is reserved or special.
const GLOBAL_UNICAST_V6 = parseCidr("2000::/3");

/** Refuses (InvalidCidr) a pool block that overlaps space its type cannot hold, naming both. */
export function checkPoolSpace(name: string, type: PoolType, block: Block): void {
  for (const r of RANGES) {
    if (r.block.family !== block.family || !overlaps(r.block, block)) continue;
    if (!r.never && type === "private_ipv4") continue;
    const whole = block.prefix >= r.block.prefix;
    throw new IpamError(
      "InvalidCidr",
      `pool ${name}: ${formatCidr(block)} ${whole ? "is in" : "takes in"} ${formatCidr(r.block)}, ${r.what}: ` +
        (r.never
          ? "no pool may hold it"
          : `a ${type} pool holds only public addresses; ` +
            (block.family === 4 ? "use a private_ipv4 pool" : "there is no private IPv6 pool type")),
    );
  }
  if (type === "public_ipv6" && !(block.prefix >= 3 && overlaps(GLOBAL_UNICAST_V6, block))) {
    throw new IpamError(
      "InvalidCidr",
      `pool ${name}: ${formatCidr(block)} is outside 2000::/3, IPv6's global unicast space (RFC 4291): ` +
        "a public_ipv6 pool holds only public addresses",
    );
  }
}

/**
 * What is wrong with an existing pool's space, or undefined. Pools added before the space check
 * (or straight into the database) keep their ranges and still hand out addresses; the CLI
 * shows this beside them so an operator can move their users to a pool that is right.
 */
export function poolSpaceProblem(pool: { name: string; type: PoolType; cidr: string }): string | undefined {
  try {
    checkPoolSpace(pool.name, pool.type, parseCidr(pool.cidr));
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
