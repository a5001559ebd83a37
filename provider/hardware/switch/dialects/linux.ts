// Linux switches driven with iproute2. Two forms:
// - `linux`: one VLAN-aware bridge (802.1Q filtering) holding every port, VLANs set per port
//   with `bridge vlan`; access and trunk ports. The switch is set up with
//   `ip link add br0 type bridge vlan_filtering 1 vlan_default_pvid 0`: a port that joins the
//   bridge then carries nothing until told, instead of the kernel's default untagged VLAN 1,
//   which a change (reading the port before it joined) would not know to remove.
// - `linux-bridge-per-vlan`: for kernels without 802.1Q (this lab's), one plain bridge per VLAN
//   named vlan<N>; a port is in VLAN N when attached to bridge N. Access ports only.
import { HardwareError } from "../../errors";
import { jsonDocuments, type Dialect, type SwitchState } from "../dialect";
import type { PortConfig } from "../types";

const PORT = {
  pattern: /^(swp\d{1,4}(s\d)?|eth\d{1,3}|en[a-z0-9]{1,12}|bond\d{1,3})$/,
  example: "swp1, eth2, bond0",
};

// One command per line, after `set -e`: a login shell then stops at the first that fails and
// exits with its status, as a restricted command shell does anyway. Without it a plain shell
// went on, and the batch's exit status was the closing read's, so no failure was ever seen.
const lines = (cmds: string[]) => ["set -e", ...cmds].join("\n");

const ERRORS: Dialect["errors"] = [
  {
    pattern: /Cannot find device "vlan\d+"|argument "vlan\d+" is wrong|Device "vlan\d+" does not exist/,
    code: "VlanNotFound",
  },
  {
    pattern: /Cannot find device|Cannot find bridge device|Device "[^"]+" does not exist/,
    code: "PortNotFound",
  },
  { pattern: /Operation not supported/, code: "SwitchUnsupported" },
];

interface IpLink {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

const vlanOfBridge = (name: string | undefined) => {
  const m = /^vlan(\d+)$/.exec(name ?? "");
  return m ? Number(m[1]) : undefined;
};

function perVlanPort(link: IpLink | undefined, port: string): PortConfig {
  const vlan = vlanOfBridge(link?.master);
  return vlan === undefined ? { port, mode: "none" } : { port, mode: "access", vlan };
}

export const linuxBridgePerVlan: Dialect = {
  name: "linux-bridge-per-vlan",
  port: PORT,
  join: lines,
  changes: {
    ensureVlan: ["ip link add name vlan{vlan} type bridge", "ip link set dev vlan{vlan} up"],
    removeVlan: ["ip link del dev vlan{vlan}"],
    // `master` moves a port from another bridge in one step.
    setAccess: ["ip link set dev {port} master vlan{vlan}", "ip link set dev {port} up"],
    resetPort: ["ip link set dev {port} nomaster"],
  },
  reads: { port: ["ip -j -d link show dev {port}"], state: ["ip -j link show"] },
  parsePort(stdout, port) {
    const links = ipLinks(stdout);
    return perVlanPort(
      links.find((l) => l.ifname === port),
      port,
    );
  },
  parseState(stdout): SwitchState {
    const links = ipLinks(stdout);
    const vlans = links.map((l) => vlanOfBridge(l.ifname)).filter((v): v is number => v !== undefined);
    const ports = links.filter((l) => PORT.pattern.test(l.ifname)).map((l) => perVlanPort(l, l.ifname));
    return { vlans: vlans.sort((a, b) => a - b), ports };
  },
  errors: ERRORS,
};

// `bridge -j vlan show` entries: per port, its VLANs with flags ("PVID", "Egress Untagged").
interface BridgeVlans {
  ifname: string;
  vlans: { vlan: number; vlanEnd?: number; flags?: string[] }[];
}

export function vlanAwarePort(entry: BridgeVlans | undefined, port: string): PortConfig {
  const vlans = (entry?.vlans ?? []).flatMap((v) => {
    const ids: number[] = [];
    for (let id = v.vlan; id <= (v.vlanEnd ?? v.vlan); id++) ids.push(id);
    return ids.map((id) => ({
      id,
      pvid: (v.flags ?? []).includes("PVID"),
      untagged: (v.flags ?? []).includes("Egress Untagged"),
    }));
  });
  if (vlans.length === 0) return { port, mode: "none" };
  const native = vlans.find((v) => v.pvid && v.untagged)?.id;
  const tagged = vlans.filter((v) => !v.untagged).map((v) => v.id);
  // The bridge's default (VLAN 1, untagged) reads as access to VLAN 1, so that changes remove
  // it like any other; a port carries no VLAN only once every VLAN is gone.
  if (tagged.length === 0 && vlans.length === 1 && native !== undefined)
    return { port, mode: "access", vlan: native };
  return { port, mode: "trunk", nativeVlan: native, allowedVlans: tagged.sort((a, b) => a - b) };
}

/** Removes what the port carries now, except what the change keeps. */
const dropVlans = (current: PortConfig, keep: number[]) =>
  [current.vlan, current.nativeVlan, ...(current.allowedVlans ?? [])]
    .filter((v): v is number => v !== undefined && !keep.includes(v))
    .map((v) => `bridge vlan del dev ${current.port} vid ${v}`);

export function linuxVlanAware(bridge = "br0"): Dialect {
  return {
    name: "linux",
    port: PORT,
    join: lines,
    changes: {
      ensureVlan: [`bridge vlan add dev ${bridge} vid {vlan} self`],
      removeVlan: [`bridge vlan del dev ${bridge} vid {vlan} self`],
      setAccess: (v, current) => [
        `ip link set dev ${v.port} master ${bridge}`,
        ...dropVlans(current, [v.vlan!]),
        `bridge vlan add dev ${v.port} vid ${v.vlan} pvid untagged`,
        `ip link set dev ${v.port} up`,
      ],
      setTrunk: (v, current) => [
        `ip link set dev ${v.port} master ${bridge}`,
        ...dropVlans(current, [...v.allowedVlans!, ...(v.nativeVlan ? [v.nativeVlan] : [])]),
        ...(v.nativeVlan ? [`bridge vlan add dev ${v.port} vid ${v.nativeVlan} pvid untagged`] : []),
        ...v
          .allowedVlans!.filter((a) => a !== v.nativeVlan)
          .map((a) => `bridge vlan add dev ${v.port} vid ${a}`),
        `ip link set dev ${v.port} up`,
      ],
      resetPort: (_, current) => dropVlans(current, []),
    },
    // A bridge port carries only the VLANs added to it: the uplinks too.
    uplinks: {
      add: ["bridge vlan add dev {port} vid {vlan}"],
      remove: ["bridge vlan del dev {port} vid {vlan}"],
    },
    reads: { port: ["bridge -j vlan show dev {port}"], state: ["bridge -j vlan show"] },
    ...bridgeVlanParsers(bridge),
    errors: ERRORS,
  };
}

/** Parsers of `bridge -j vlan show [dev P]` for a VLAN-aware bridge (Linux, Cumulus). */
export function bridgeVlanParsers(bridge: string): Pick<Dialect, "parsePort" | "parseState"> {
  return {
    parsePort(stdout, port) {
      const entries = bridgeVlanJson(stdout);
      return vlanAwarePort(
        entries.find((e) => e.ifname === port),
        port,
      );
    },
    parseState(stdout) {
      const entries = bridgeVlanJson(stdout);
      const own = entries.find((e) => e.ifname === bridge);
      const vlans = (own?.vlans ?? [])
        .flatMap((v) => Array.from({ length: (v.vlanEnd ?? v.vlan) - v.vlan + 1 }, (_, i) => v.vlan + i))
        .filter((v) => v !== 1);
      const ports = entries.filter((e) => e.ifname !== bridge).map((e) => vlanAwarePort(e, e.ifname));
      return { vlans: vlans.sort((a, b) => a - b), ports };
    },
  };
}

/** `ip -j link show`: the last JSON document of a batch's output (earlier ones are earlier commands'). */
function ipLinks(stdout: string): IpLink[] {
  const doc = jsonDocuments(stdout).at(-1);
  if (Array.isArray(doc)) return doc as IpLink[];
  throw new HardwareError(
    "SwitchUnsupported",
    `\`ip -j link show\` printed no JSON list of links: ${stdout.trim().slice(-200)}`,
    { transient: false },
  );
}

/**
 * The last JSON document of a batch's output (earlier ones belong to earlier commands), as
 * iproute2 4.19 and later print it: a list of {ifname, vlans}. iproute2 4.7 to 4.16 printed an
 * object keyed by interface, over several lines (Ubuntu 18.04's 4.15 among them); it is read
 * too. Anything else is the switch's answer we cannot read, named as such, never a crash.
 */
function bridgeVlanJson(stdout: string): BridgeVlans[] {
  const doc = stdout.trim() === "" ? [] : jsonDocuments(stdout).at(-1);
  if (Array.isArray(doc) && doc.every((e) => typeof (e as BridgeVlans)?.ifname === "string")) {
    return doc as BridgeVlans[];
  }
  if (doc && typeof doc === "object" && !Array.isArray(doc)) {
    const byPort = Object.entries(doc as Record<string, unknown>);
    if (byPort.every(([, vlans]) => Array.isArray(vlans))) {
      return byPort.map(([ifname, vlans]) => ({ ifname, vlans: vlans as BridgeVlans["vlans"] }));
    }
  }
  throw new HardwareError(
    "SwitchUnsupported",
    `\`bridge -j vlan show\` printed what this dialect cannot read (iproute2 4.19 or later prints a list of {ifname, vlans}): ${stdout.trim().slice(-200)}`,
    { transient: false },
  );
}
