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

export function describeBlock(b: Block): BlockDetails {
  const bits = familyBits(b.family);
  const last = lastAddress(b);
  const fmt = (v: bigint) => formatAddress(b.family, v);
  const details: BlockDetails = {
    cidr: formatCidr(b),
    network: fmt(b.network),
    prefixLength: b.prefix,
    netmask: netmask(b),
    family: b.family,
    size: blockSize(b).toString(),
    firstUsable: fmt(b.network),
    lastUsable: fmt(last),
  };

  let hostsFrom: bigint;
  let hostsTo = last;
  if (b.prefix === bits) {
    hostsFrom = b.network; // a single address, no gateway of its own
  } else if (b.prefix === bits - 1) {
    details.gateway = fmt(b.network); // point-to-point: both usable
    hostsFrom = b.network;
  } else {
    details.gateway = fmt(b.network + 1n);
    details.firstUsable = fmt(b.network + 1n);
    hostsFrom = b.network + 2n;
    if (b.family === 4) {
      details.broadcast = fmt(last);
      hostsTo = last - 1n;
      details.lastUsable = fmt(hostsTo);
    }
  }

  if (blockSize(b) <= BigInt(MAX_LISTED_ADDRESSES)) {
    const list: string[] = [];
    for (let v = hostsFrom; v <= hostsTo; v++) list.push(fmt(v));
    details.addresses = list;
  }
  return details;
}
