// Cumulus Linux 5 with NVUE. `nv set`/`nv unset` stage a revision, `nv config apply` makes it
// live and `nv config save` makes it the startup configuration: apply saves by itself only from
// 5.9 on (auto-save), and on 5.0-5.8 every change was gone at the next reboot without the save
// (which costs nothing where auto-save already did it). A failed batch detaches the staged revision so the
// next change does not inherit half of this one. NVUE needs no sudo. Reads use the kernel's
// view (`bridge -j vlan show`), whose JSON iproute2 pins down, rather than NVUE's show output.
import type { Dialect } from "../dialect";
import { bridgeVlanParsers } from "./linux";

const BRIDGE = "br_default";
const DOMAIN = `bridge domain ${BRIDGE}`;

export const cumulus: Dialect = {
  name: "cumulus",
  port: { pattern: /^(swp\d{1,4}(s\d)?|bond\d{1,4}|peerlink)$/, example: "swp1, swp49s0, bond1" },
  // Bash: && stops at the first command that fails and keeps its exit status.
  join: (lines) => lines.join(" && "),
  changes: {
    ensureVlan: [`nv set ${DOMAIN} vlan {vlan}`],
    removeVlan: [`nv unset ${DOMAIN} vlan {vlan}`],
    // access and untagged/vlan exclude each other: clear the other form first (as NGS does).
    setAccess: [
      `nv unset interface {port} ${DOMAIN} untagged`,
      `nv unset interface {port} ${DOMAIN} vlan`,
      `nv set interface {port} ${DOMAIN} access {vlan}`,
    ],
    setTrunk: (v) => {
      const carried = [...new Set([...(v.allowedVlans ?? []), ...(v.nativeVlan ? [v.nativeVlan] : [])])].sort(
        (a, b) => a - b,
      );
      return [
        `nv unset interface ${v.port} ${DOMAIN} access`,
        `nv unset interface ${v.port} ${DOMAIN} vlan`,
        `nv set interface ${v.port} ${DOMAIN} vlan ${carried.join(",")}`,
        `nv set interface ${v.port} ${DOMAIN} untagged ${v.nativeVlan ?? "none"}`,
      ];
    },
    // Out of the bridge: a member without per-port VLANs would carry every VLAN of br_default.
    resetPort: [`nv unset interface {port} ${DOMAIN}`],
  },
  commit: ["nv config apply --assume-yes", "nv config save"],
  onFailure: ["nv config detach"],
  reads: { port: ["bridge -j vlan show dev {port}"], state: ["bridge -j vlan show"] },
  ...bridgeVlanParsers(BRIDGE),
  errors: [
    {
      pattern: /is not a physical interface|requested item does not exist|Cannot find (bridge )?device/,
      code: "PortNotFound",
    },
    { pattern: /command not found|Ambiguous Command/, code: "SwitchUnsupported" },
  ],
  // NVUE reports validation failures of an apply in its output.
  failurePatterns: [/^Invalid config/m, /Config invalid at/, /^Error:/m, /Failure during apply/],
};
