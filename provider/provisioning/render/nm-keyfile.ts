// Fedora CoreOS's network: NetworkManager keyfiles (FCOS ignores systemd-networkd). Profiles
// match the NIC by MAC only, so they apply whatever the NIC is called; the NIC is renamed by
// the same systemd .link file as on Flatcar, which FCOS documents for custom NIC names.
import { linkFile } from "./networkd";
import type { TextFile } from "./text-file";
import type { NetworkPlan, PlannedInterface } from "./network";

export function networkManagerFiles(plan: NetworkPlan): TextFile[] {
  return plan.interfaces.flatMap((nic) => [linkFile(nic), keyfile(plan, nic)]);
}

function keyfile(plan: NetworkPlan, nic: PlannedInterface): TextFile {
  const lines = [
    "[connection]",
    `id=baremetal-${nic.name}`,
    "type=ethernet",
    "autoconnect=true",
    "",
    "[ethernet]",
    `mac-address=${nic.mac.toUpperCase()}`,
    "",
    ...(nic.dhcp4 ? ["[ipv4]", "method=auto"] : ipSection(4, nic, plan.dns4)),
    "",
    ...ipSection(6, nic, plan.dns6),
  ];
  return {
    path: `/etc/NetworkManager/system-connections/baremetal-${nic.name}.nmconnection`,
    contents: lines.join("\n") + "\n",
    // NetworkManager ignores keyfiles that anyone but root can read.
    mode: 0o600,
  };
}

function ipSection(family: 4 | 6, nic: PlannedInterface, dns: string[]): string[] {
  const addresses = nic.addresses.filter((a) => a.family === family);
  // "disabled", not "auto": an interface with no static address of a family gets none at all,
  // rather than whatever a DHCP server or router advertisement on that port offers.
  if (addresses.length === 0) return [`[ipv${family}]`, "method=disabled"];
  const gateway = family === 4 ? nic.gateway4 : nic.gateway6;
  const routes = nic.routes.filter((r) => r.to.includes(":") === (family === 6));
  return [
    `[ipv${family}]`,
    "method=manual",
    ...addresses.map((a, i) => `address${i + 1}=${a.cidr}`),
    ...(gateway ? [`gateway=${gateway}`] : []),
    ...routes.map((r, i) => `route${i + 1}=${r.to},${r.via}`),
    ...(dns.length > 0 ? [`dns=${dns.join(";")};`] : []),
  ];
}
