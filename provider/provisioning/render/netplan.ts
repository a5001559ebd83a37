// Ubuntu's network: cloud-init network-config version 2, which is netplan's own format, so the
// same document serves the NoCloud seed (the installer's network) and autoinstall's `network`
// (the installed system's). NICs are matched by MAC and renamed with set-name.
import type { NetworkPlan } from "./network";

export interface NetplanEthernet {
  match: { macaddress: string };
  "set-name": string;
  dhcp4: boolean;
  dhcp6: boolean;
  "accept-ra": boolean;
  addresses?: string[];
  routes?: { to: string; via: string }[];
  nameservers?: { addresses: string[] };
  optional?: boolean;
}

export interface NetplanConfig {
  version: 2;
  ethernets: Record<string, NetplanEthernet>;
}

export function netplanConfig(plan: NetworkPlan): NetplanConfig {
  const ethernets: Record<string, NetplanEthernet> = {};
  for (const nic of plan.interfaces) {
    const e: NetplanEthernet = {
      match: { macaddress: nic.mac },
      "set-name": nic.name,
      dhcp4: nic.dhcp4,
      dhcp6: false,
      "accept-ra": false,
    };
    if (nic.addresses.length > 0) e.addresses = nic.addresses.map((a) => a.cidr);
    // Nothing to configure: not waited for at boot (networkd's RequiredForOnline=no).
    else if (!e.dhcp4) e.optional = true;
    // `routes`, not gateway4/gateway6, which netplan deprecated; explicit prefixes rather than
    // `to: default`, which only newer netplan and cloud-init releases know.
    const routes = [
      ...(nic.gateway4 ? [{ to: "0.0.0.0/0", via: nic.gateway4 }] : []),
      ...(nic.gateway6 ? [{ to: "::/0", via: nic.gateway6 }] : []),
      ...nic.routes,
    ];
    if (routes.length > 0) e.routes = routes;
    const dns = [...plan.dns4, ...plan.dns6];
    if (nic.addresses.length > 0 && dns.length > 0) e.nameservers = { addresses: dns };
    ethernets[nic.name] = e;
  }
  return { version: 2, ethernets };
}
