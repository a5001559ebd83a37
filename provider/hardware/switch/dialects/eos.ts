// Arista EOS. Its SSH exec does not take configuration, so this dialect drives the CLI
// interactively, one line per prompt, and every change goes through a configuration session:
// committed whole, or aborted at the first line EOS answers with "% ...". Reads use `| json`.
import type { Dialect, SwitchState } from "../dialect";
import { jsonDocuments } from "../dialect";
import type { PortConfig } from "../types";

interface SwitchportInfo {
  mode?: string;
  accessVlanId?: number;
  trunkingNativeVlanId?: number;
  trunkAllowedVlans?: string;
}

/** "10,20,30-32", "ALL", "NONE" */
function vlanRanges(text: string | undefined): number[] {
  if (!text || text === "NONE") return [];
  if (text === "ALL") text = "1-4094";
  return text.split(",").flatMap((part) => {
    const [a, b] = part.split("-").map(Number);
    const ids: number[] = [];
    for (let v = a!; v <= (b ?? a!); v++) ids.push(v);
    return ids;
  });
}

function portConfig(port: string, info: SwitchportInfo | undefined): PortConfig {
  if (!info) return { port, mode: "none" };
  if (info.mode === "trunk") {
    const carried = vlanRanges(info.trunkAllowedVlans);
    // EOS always names a native VLAN (1 after `no switchport trunk native vlan`); one the trunk
    // does not carry passes no untagged frame, so the port has none.
    const native = info.trunkingNativeVlanId;
    const nativeVlan = native !== undefined && carried.includes(native) ? native : undefined;
    return {
      port,
      mode: "trunk",
      ...(nativeVlan === undefined ? {} : { nativeVlan }),
      allowedVlans: carried.filter((v) => v !== nativeVlan),
      // A trunk left at EOS's default carries every VLAN: an uplink or peer link, whose
      // "membership" would otherwise keep any VLAN from ever being removed.
      ...(info.trunkAllowedVlans === "ALL" ? { carriesAll: true } : {}),
    };
  }
  // An access port in the default VLAN is the port's default configuration.
  const vlan = info.accessVlanId ?? 1;
  return vlan === 1 ? { port, mode: "none" } : { port, mode: "access", vlan };
}

type Switchports = { switchports?: Record<string, { switchportInfo?: SwitchportInfo }> };

const inSession = (lines: string[]) => ["configure session {session}", ...lines];

export const eos: Dialect = {
  name: "eos",
  port: {
    pattern: /^(Ethernet\d{1,3}(\/\d{1,3}){0,2}|Port-Channel\d{1,4})$/,
    example: "Ethernet1, Ethernet49/1, Port-Channel10",
  },
  join: (lines) => lines.join("\n"),
  transport: { kind: "shell", prompt: /(^|\n)[A-Za-z0-9._-]+(\([^)\n]*\))?[>#] ?$/ },
  setup: ["enable", "terminal length 0", "terminal width 511"],
  changes: {
    ensureVlan: inSession(["vlan {vlan}", "exit"]),
    removeVlan: inSession(["no vlan {vlan}"]),
    setAccess: inSession([
      "interface {port}",
      "switchport mode access",
      "switchport access vlan {vlan}",
      "exit",
    ]),
    setTrunk: (v) => {
      const carried = [...new Set([...(v.allowedVlans ?? []), ...(v.nativeVlan ? [v.nativeVlan] : [])])].sort(
        (a, b) => a - b,
      );
      return [
        `configure session ${v.session}`,
        `interface ${v.port}`,
        "switchport mode trunk",
        v.nativeVlan ? `switchport trunk native vlan ${v.nativeVlan}` : "no switchport trunk native vlan",
        `switchport trunk allowed vlan ${carried.length ? carried.join(",") : "none"}`,
        "exit",
      ];
    },
    resetPort: inSession([
      "interface {port}",
      "no switchport access vlan",
      "no switchport trunk native vlan",
      "no switchport trunk allowed vlan",
      "no switchport mode",
      "exit",
    ]),
  },
  commit: ["commit", "write memory"],
  onFailure: ["abort"],
  reads: {
    port: ["show interfaces {port} switchport | json"],
    state: ["show vlan | json", "show interfaces switchport | json"],
  },
  parsePort(stdout, port) {
    const doc = jsonDocuments(stdout).at(-1) as Switchports | undefined;
    return portConfig(port, doc?.switchports?.[port]?.switchportInfo);
  },
  parseState(stdout): SwitchState {
    const [vlanDoc, portDoc] = jsonDocuments(stdout).slice(-2) as [
      { vlans?: Record<string, unknown> },
      Switchports,
    ];
    const vlans = Object.keys(vlanDoc?.vlans ?? {})
      .map(Number)
      .filter((v) => v > 1)
      .sort((a, b) => a - b);
    const ports = Object.entries(portDoc?.switchports ?? {}).map(([name, p]) =>
      portConfig(name, p.switchportInfo),
    );
    return { vlans, ports };
  },
  errors: [
    { pattern: /% ?Interface does not exist|Interface .* does not exist/, code: "PortNotFound" },
    { pattern: /% VLAN \d+ not found/, code: "VlanNotFound" },
    { pattern: /Maximum number of pending sessions/, code: "SwitchLocked" },
    { pattern: /privileged mode required|% ?Bad secret|% User not present/, code: "SwitchAuthFailed" },
  ],
  failurePatterns: [/^% /m],
};
