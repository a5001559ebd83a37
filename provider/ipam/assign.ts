// Choosing what a server gets out of a reservation: one host address (never the network,
// gateway or broadcast), or a whole aligned subnet routed to it.
import { hostRange } from "./addresses";
import {
  Block,
  blockSize,
  contains,
  familyBits,
  formatAddress,
  formatCidr,
  lastAddress,
  overlaps,
} from "./cidr";
import { IpamError } from "./errors";
import { assignmentNoSpace } from "./messages";

export type AssignRequest = { prefixLength: number } | { block: Block };

/**
 * The first address a server may get: on a point-to-point /31 or /127 both addresses are
 * usable, but the first is the router's (the gateway), so a server gets the other one.
 */
const firstHost = (hosts: ReturnType<typeof hostRange>): bigint =>
  hosts.from === hosts.gateway ? hosts.from + 1n : hosts.from;

/** `taken` must be sorted by network. */
export function pickAssignment(reservation: Block, taken: Block[], want: AssignRequest): Block {
  const bits = familyBits(reservation.family);
  const where = formatCidr(reservation);
  if ("block" in want) {
    const b = want.block;
    if (!contains(reservation, b)) {
      throw new IpamError("InvalidRequest", `${formatCidr(b)} is not inside reservation ${where}`);
    }
    const hosts = hostRange(reservation);
    const first = firstHost(hosts);
    const hostsAre = `hosts are ${formatAddress(b.family, first)} to ${formatAddress(b.family, hosts.to)}`;
    if (b.prefix === bits) {
      if (b.network < first || b.network > hosts.to) {
        const why = b.network === hosts.gateway ? "is the gateway of" : "is not a host address of";
        throw new IpamError(
          "InvalidRequest",
          `${formatAddress(b.family, b.network)} ${why} ${where} (${hostsAre})`,
        );
      }
    } else if (b.prefix > reservation.prefix && (b.network < first || lastAddress(b) > hosts.to)) {
      const held = [
        b.network <= reservation.network && "the network address",
        hosts.gateway !== undefined &&
          contains(b, { ...b, network: hosts.gateway, prefix: bits }) &&
          "the gateway",
        hosts.broadcast !== undefined && lastAddress(b) >= hosts.broadcast && "the broadcast address",
      ].filter((x): x is string => typeof x === "string");
      throw new IpamError(
        "InvalidRequest",
        `${formatCidr(b)} takes ${held.join(" and ")} of ${where}: a subnet of it lies within its hosts (${hostsAre}), or is the whole block`,
      );
    }
    const clash = taken.find((t) => overlaps(t, b));
    if (clash) {
      throw new IpamError(
        "AlreadyAllocated",
        `${formatCidr(b)} overlaps ${formatCidr(clash)}, already assigned in ${where}`,
      );
    }
    return b;
  }

  const prefix = want.prefixLength;
  if (!Number.isInteger(prefix) || prefix < reservation.prefix || prefix > bits) {
    throw new IpamError(
      "InvalidRequest",
      `prefix length ${prefix} does not fit reservation ${where} (use ${reservation.prefix} to ${bits})`,
    );
  }
  const size = blockSize({ family: reservation.family, prefix });
  let candidate: bigint;
  let end: bigint;
  if (prefix === reservation.prefix && prefix < bits) {
    // The whole block, routed to the server: all of it is the server's.
    [candidate, end] = [reservation.network, lastAddress(reservation)];
  } else {
    // A host address, or a subnet routed to the server, comes from the block's hosts: its
    // network, gateway and broadcast addresses stay the block's and its router's.
    const hosts = hostRange(reservation);
    [candidate, end] = [firstHost(hosts), hosts.to];
    if (candidate % size !== 0n) candidate += size - (candidate % size);
  }
  // First fit: jump past each assignment in the way; at most one step per assignment.
  let i = 0;
  while (candidate + size - 1n <= end) {
    const block: Block = { family: reservation.family, network: candidate, prefix };
    while (i < taken.length && lastAddress(taken[i]!) < candidate) i++;
    const next = taken[i];
    if (!next || !overlaps(next, block)) return block;
    const after = lastAddress(next) + 1n;
    candidate = after % size === 0n ? after : after - (after % size) + size;
  }
  throw assignmentNoSpace(where, prefix === bits ? "address" : `/${prefix} subnet`);
}
