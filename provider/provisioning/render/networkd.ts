// Flatcar's network: systemd-networkd. A .link file gives the NIC its name (matched by MAC,
// so kernel naming schemes do not matter) and a .network file its static addresses. Both sort
// before Flatcar's own 99-default.link and zz-default.network (DHCP on everything), and the
// first matching file wins. They match the *permanent* MAC, as netplan's generated files do:
// VLANs, bonds and bridges take over their NIC's MAC, and must not be renamed or addressed too.
import type { NetworkPlan, PlannedInterface } from "./network";
import type { TextFile } from "./text-file";

export function linkFile(nic: PlannedInterface): TextFile {
  return {
    path: `/etc/systemd/network/10-baremetal-${nic.name}.link`,
    contents: `[Match]\nPermanentMACAddress=${nic.mac}\n\n[Link]\nName=${nic.name}\n`,
    mode: 0o644,
  };
}

export function networkdFiles(plan: NetworkPlan): TextFile[] {
  return plan.interfaces.flatMap((nic) => [linkFile(nic), networkFile(plan, nic)]);
}

function networkFile(plan: NetworkPlan, nic: PlannedInterface): TextFile {
  const lines = [
    "[Match]",
    `PermanentMACAddress=${nic.mac}`,
    "",
    "[Network]",
    `DHCP=${nic.dhcp4 ? "ipv4" : "no"}`,
    "IPv6AcceptRA=no",
  ];
  for (const a of nic.addresses) lines.push(`Address=${a.cidr}`);
  if (nic.gateway4) lines.push(`Gateway=${nic.gateway4}`);
  if (nic.gateway6) lines.push(`Gateway=${nic.gateway6}`);
  // Resolvers only where the machine has addresses; systemd-resolved uses every link's.
  if (nic.addresses.length > 0) for (const d of [...plan.dns4, ...plan.dns6]) lines.push(`DNS=${d}`);
  for (const r of nic.routes) lines.push("", "[Route]", `Destination=${r.to}`, `Gateway=${r.via}`);
  // A NIC with nothing to configure (no cable, often) must not hold network-online.target,
  // and with it the phone-home, for wait-online's two minutes on every boot.
  if (!nic.dhcp4 && nic.addresses.length === 0) lines.push("", "[Link]", "RequiredForOnline=no");
  return {
    path: `/etc/systemd/network/10-baremetal-${nic.name}.network`,
    contents: lines.join("\n") + "\n",
    mode: 0o644,
  };
}
