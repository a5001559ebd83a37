// The machine's static network, checked once and reduced to what every OS format needs
// (systemd-networkd, NetworkManager keyfiles, netplan): interfaces by MAC, their addresses,
// which interface carries the default route of each family, and the resolvers.
import ipaddr from "ipaddr.js";
import type { ProvisionSpec } from "../spec";
import { RenderError, checkInterfaceName, checkIp, checkMac, parseIp } from "./checks";

export interface PlannedAddress {
  /** Canonical "address/prefix". */
  cidr: string;
  family: 4 | 6;
}

export interface PlannedInterface {
  name: string;
  /** Lower case, colon separated. */
  mac: string;
  addresses: PlannedAddress[];
  /** Default gateways this interface carries. */
  gateway4?: string;
  gateway6?: string;
  /** Other networks and the gateway each is reached through. */
  routes: { to: string; via: string }[];
  /**
   * IPv4 DHCP here. Every NIC when no NIC has an address (a layer2 server with `ipAddresses:
   * []`): the installed system phones home from the provisioning network its ports are on until
   * then, and on the project's VLANs after it is the project's DHCP. The first addressed NIC of
   * an IPv6-only server, beside its static addresses: the boot server, the phone-home and the
   * installers' downloads are on the IPv4 provisioning network iPXE reached by DHCPv4.
   */
  dhcp4: boolean;
}

export interface NetworkPlan {
  interfaces: PlannedInterface[];
  dns4: string[];
  dns6: string[];
}

/**
 * One default route per family: several gateways of one family would give the kernel several
 * equal default routes and asymmetric traffic. The first public block with a gateway wins
 * (private blocks normally have none), else the first block with one, in interface order.
 */
export function planNetwork(spec: ProvisionSpec): NetworkPlan {
  if (!Array.isArray(spec.interfaces) || spec.interfaces.length === 0) {
    throw new RenderError("the machine has no interfaces to configure");
  }
  const names = new Set<string>();
  const macs = new Set<string>();
  const seen = new Set<string>();
  const interfaces: PlannedInterface[] = [];
  const routed: { iface: PlannedInterface; family: 4 | 6; gateway: string; public: boolean; to: string[] }[] =
    [];

  for (const nic of spec.interfaces) {
    const name = checkInterfaceName(nic.name);
    const mac = checkMac(`interface ${name}`, nic.mac);
    if (names.has(name)) throw new RenderError(`interface name ${name} is used twice`);
    if (macs.has(mac)) throw new RenderError(`MAC ${mac} is given for two interfaces`);
    names.add(name);
    macs.add(mac);
    const iface: PlannedInterface = { name, mac, addresses: [], routes: [], dhcp4: false };
    for (const a of nic.addresses ?? []) {
      const { cidr, address, prefix } = parseAddress(name, a.cidr, a.family);
      if (seen.has(address.toString())) throw new RenderError(`address ${address} is assigned twice`);
      seen.add(address.toString());
      iface.addresses.push({ cidr, family: a.family });
      if (a.gateway !== undefined) {
        const gateway = checkGateway(name, cidr, address, prefix, a.gateway, a.family);
        const to = (a.routes ?? []).map((r) => parseAddress(name, r, a.family, "route").cidr);
        routed.push({ iface, family: a.family, gateway, public: a.public, to });
      }
    }
    interfaces.push(iface);
  }

  for (const family of [4, 6] as const) {
    const candidates = routed.filter((r) => r.family === family);
    const pick = candidates.find((r) => r.public) ?? candidates[0];
    if (pick === undefined) continue;
    if (family === 4) pick.iface.gateway4 = pick.gateway;
    else pick.iface.gateway6 = pick.gateway;
    // The others' gateways reach their own networks only (a private block's pool): without
    // the route, traffic to other servers' private addresses left through the public gateway.
    for (const r of candidates) {
      if (r === pick) continue;
      for (const to of r.to) r.iface.routes.push({ to, via: r.gateway });
    }
  }

  const addressed = interfaces.filter((i) => i.addresses.length > 0);
  if (addressed.length === 0) for (const i of interfaces) i.dhcp4 = true;
  else if (!addressed.some((i) => i.addresses.some((a) => a.family === 4))) addressed[0]!.dhcp4 = true;
  const dns = (spec.dns ?? []).map((d, i) => checkIp(`dns[${i}]`, d));
  return {
    interfaces,
    dns4: dns.filter((d) => parseIp(d)?.kind() === "ipv4"),
    dns6: dns.filter((d) => parseIp(d)?.kind() === "ipv6"),
  };
}

/** An address with its prefix length (or, as `route`, a network to route), of the family. */
function parseAddress(
  nic: string,
  text: string,
  family: 4 | 6,
  what: "address" | "route" = "address",
): { cidr: string; address: ipaddr.IPv4 | ipaddr.IPv6; prefix: number } {
  const [addr, prefixText, extra] = typeof text === "string" ? text.split("/") : [];
  const address = addr === undefined ? undefined : parseIp(addr);
  const prefix = Number(prefixText);
  const max = family === 4 ? 32 : 128;
  if (
    address === undefined ||
    extra !== undefined ||
    !/^\d{1,3}$/.test(prefixText ?? "") ||
    prefix > max ||
    (address.kind() === "ipv4" ? 4 : 6) !== family
  ) {
    throw new RenderError(
      what === "route"
        ? `interface ${nic}: route ${JSON.stringify(text)} is not an IPv${family} network in CIDR form`
        : `interface ${nic}: address ${JSON.stringify(text)} is not an IPv${family} address with a prefix ` +
            `length (0 to ${max}), e.g. ${family === 4 ? "198.51.100.10/29" : "2001:db8::10/64"}`,
    );
  }
  return { cidr: `${address.toString()}/${prefix}`, address, prefix };
}

/** The gateway must be on-link: inside the block, or an IPv6 link-local router address. */
function checkGateway(
  nic: string,
  cidr: string,
  address: ipaddr.IPv4 | ipaddr.IPv6,
  prefix: number,
  gatewayText: string,
  family: 4 | 6,
): string {
  const gateway = checkIp(`interface ${nic}: gateway of ${cidr}`, gatewayText, family);
  const parsed = parseIp(gateway)!;
  if (parsed.toString() === address.toString()) {
    throw new RenderError(`interface ${nic}: gateway ${gateway} is the machine's own address`);
  }
  const linkLocal = parsed.kind() === "ipv6" && parsed.range() === "linkLocal";
  const inside =
    parsed.kind() === address.kind() &&
    (parsed as ipaddr.IPv4).match(address as ipaddr.IPv4, prefix) &&
    !(family === 4 ? prefix === 32 : prefix === 128);
  if (!inside && !linkLocal) {
    throw new RenderError(
      `interface ${nic}: gateway ${gateway} is not inside ${cidr}, so it would not be reachable on the link`,
    );
  }
  return gateway;
}
