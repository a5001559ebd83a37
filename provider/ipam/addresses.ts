// What a block offers a server: netmask, gateway and usable host addresses.
// IPv4 blocks larger than /31 lose the network and broadcast addresses, and the first host is
// the gateway. /31 (RFC 3021) and IPv6 /127 (RFC 6164) are point-to-point links: both addresses
// are usable and the first is the router's side. IPv6 has no broadcast; its all-zeros address
// is the subnet-router anycast address (RFC 4291), so hosts start after the gateway as in IPv4.
import ipaddr from "ipaddr.js";
import { Block, blockSize, familyBits, formatAddress, formatCidr, lastAddress } from "./cidr";

/** Blocks up to this many addresses list their addresses in outputs. */
export const MAX_LISTED_ADDRESSES = 256;

export interface BlockDetails {
  cidr: string;
  network: string;
  prefixLength: number;
  netmask: string;
  family: 4 | 6;
  /** Number of addresses in the block, as a decimal string (IPv6 blocks exceed 2^53). */
  size: string;
  gateway?: string;
  broadcast?: string;
  firstUsable: string;
  lastUsable: string;
  /** Usable host addresses, excluding the gateway; only for blocks up to MAX_LISTED_ADDRESSES. */
  addresses?: string[];
}

export function netmask(b: Block): string {
  return b.family === 4
    ? ipaddr.IPv4.subnetMaskFromPrefixLength(b.prefix).toString()
    : ipaddr.IPv6.subnetMaskFromPrefixLength(b.prefix).toString();
}

/**
 * The addresses a server may be given from the block, and its gateway: what the RFCs above
 * leave once network, gateway and broadcast are taken out.
 */
export function hostRange(b: Block): { from: bigint; to: bigint; gateway?: bigint; broadcast?: bigint } {
  const bits = familyBits(b.family);
  const last = lastAddress(b);
  if (b.prefix === bits) return { from: b.network, to: b.network };
  if (b.prefix === bits - 1) return { from: b.network, to: last, gateway: b.network };
  return b.family === 4
    ? { from: b.network + 2n, to: last - 1n, gateway: b.network + 1n, broadcast: last }
    : { from: b.network + 2n, to: last, gateway: b.network + 1n };
}

export function describeBlock(b: Block): BlockDetails {
  const fmt = (v: bigint) => formatAddress(b.family, v);
  const hosts = hostRange(b);
  const details: BlockDetails = {
    cidr: formatCidr(b),
    network: fmt(b.network),
    prefixLength: b.prefix,
    netmask: netmask(b),
    family: b.family,
    size: blockSize(b).toString(),
    // The gateway is usable (by the router), so the usable range starts there.
    firstUsable: fmt(hosts.gateway ?? hosts.from),
    lastUsable: fmt(hosts.to),
  };
  if (hosts.gateway !== undefined) details.gateway = fmt(hosts.gateway);
  if (hosts.broadcast !== undefined) details.broadcast = fmt(hosts.broadcast);
  if (blockSize(b) <= BigInt(MAX_LISTED_ADDRESSES)) {
    const list: string[] = [];
    for (let v = hosts.from; v <= hosts.to; v++) list.push(fmt(v));
    details.addresses = list;
  }
  return details;
}
