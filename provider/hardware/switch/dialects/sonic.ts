// SONiC (community sonic-utilities). `config` needs root, taken with `sudo -n` (the default
// sudoers lets the admin group do so without a password); every error exits non-zero with
// "Error: ..." on stderr. SONiC is not idempotent ("already exists", "already a member" are
// errors), so changes are computed from the port's current membership. Reads come from
// CONFIG_DB as JSON through sonic-cfggen, each table after a marker line because an empty
// table prints nothing.
import type { ChangeValues, Dialect, SwitchState } from "../dialect";
import type { PortConfig } from "../types";

const config = (args: string) => `sudo -n config ${args}`;

interface Membership {
  vlan: number;
  tagged: boolean;
}

const memberships = (p: PortConfig): Membership[] => [
  ...(p.vlan !== undefined ? [{ vlan: p.vlan, tagged: false }] : []),
  ...(p.nativeVlan !== undefined ? [{ vlan: p.nativeVlan, tagged: false }] : []),
  ...(p.allowedVlans ?? []).map((vlan) => ({ vlan, tagged: true })),
];

/** Deletes what the port has and the change does not want, then adds what it lacks. */
function plan(port: string, current: PortConfig, wanted: Membership[]): string[] {
  const has = memberships(current);
  const same = (a: Membership, b: Membership) => a.vlan === b.vlan && a.tagged === b.tagged;
  const drop = has.filter((h) => !wanted.some((w) => same(w, h)));
  const add = wanted.filter((w) => !has.some((h) => same(w, h)));
  return [
    ...drop.map((m) => config(`vlan member del ${m.vlan} ${port}`)),
    ...add.map((m) => config(`vlan member add ${m.tagged ? "" : "-u "}${m.vlan} ${port}`)),
  ];
}

const trunk = (v: ChangeValues): Membership[] => [
  ...(v.nativeVlan !== undefined ? [{ vlan: v.nativeVlan, tagged: false }] : []),
  ...(v.allowedVlans ?? []).filter((a) => a !== v.nativeVlan).map((vlan) => ({ vlan, tagged: true })),
];

/** The JSON printed after `echo <marker>:`; sonic-cfggen prints nothing for an empty table. */
function table(stdout: string, marker: string): Record<string, Record<string, string>> {
  const start = stdout.lastIndexOf(`${marker}:\n`);
  if (start < 0) throw new Error(`no ${marker} table in the output: ${stdout.slice(-200)}`);
  const rest = stdout.slice(start + marker.length + 2);
  const next = rest.search(/^[A-Z_]+:$/m);
  const body = (next < 0 ? rest : rest.slice(0, next)).trim();
  return body ? (JSON.parse(body) as Record<string, Record<string, string>>) : {};
}

function portsFrom(members: Record<string, Record<string, string>>): Map<string, PortConfig> {
  const byPort = new Map<string, { untagged: number[]; tagged: number[] }>();
  for (const [key, value] of Object.entries(members)) {
    const [vlanName, port] = key.split("|");
    const vlan = Number(/^Vlan(\d+)$/.exec(vlanName ?? "")?.[1]);
    if (!port || !vlan) continue;
    const entry = byPort.get(port) ?? { untagged: [], tagged: [] };
    (value.tagging_mode === "tagged" ? entry.tagged : entry.untagged).push(vlan);
    byPort.set(port, entry);
  }
  const result = new Map<string, PortConfig>();
  for (const [port, { untagged, tagged }] of byPort) {
    result.set(
      port,
      tagged.length === 0
        ? { port, mode: "access", vlan: untagged[0] }
        : { port, mode: "trunk", nativeVlan: untagged[0], allowedVlans: tagged.sort((a, b) => a - b) },
    );
  }
  return result;
}

const READ_MEMBERS = ["echo VLAN_MEMBER:", "sonic-cfggen -d --var-json VLAN_MEMBER"];

export const sonic: Dialect = {
  name: "sonic",
  port: { pattern: /^(Ethernet\d{1,4}|PortChannel\d{1,4})$/, example: "Ethernet0, PortChannel1" },
  join: (lines) => lines.join(" && "),
  changes: {
    ensureVlan: [config("vlan add {vlan}")],
    removeVlan: [config("vlan del {vlan}")],
    setAccess: (v, current) => plan(v.port!, current, [{ vlan: v.vlan!, tagged: false }]),
    setTrunk: (v, current) => plan(v.port!, current, trunk(v)),
    resetPort: (v, current) => plan(v.port!, current, []),
  },
  // A VLAN has only the members added to it, the uplinks too (tagged, SONiC's default).
  uplinks: {
    add: [config("vlan member add {vlan} {port}")],
    remove: [config("vlan member del {vlan} {port}")],
  },
  commit: [config("save -y")],
  reads: { port: READ_MEMBERS, state: ["echo VLAN:", "sonic-cfggen -d --var-json VLAN", ...READ_MEMBERS] },
  parsePort(stdout, port) {
    return portsFrom(table(stdout, "VLAN_MEMBER")).get(port) ?? { port, mode: "none" };
  },
  parseState(stdout): SwitchState {
    const vlans = Object.keys(table(stdout, "VLAN"))
      .map((name) => Number(/^Vlan(\d+)$/.exec(name)?.[1]))
      .filter((v) => v > 0)
      .sort((a, b) => a - b);
    return { vlans, ports: [...portsFrom(table(stdout, "VLAN_MEMBER")).values()] };
  },
  errors: [
    { pattern: /Vlan\d+ does not exist|Vlan\d+ invalid or does not exist/, code: "VlanNotFound" },
    { pattern: /(Ethernet|PortChannel)\d+ does not exist|Interface name is invalid/, code: "PortNotFound" },
    { pattern: /can not be removed\. First remove all members/, code: "VlanInUse" },
    { pattern: /Invalid VLAN ID|is default VLAN/i, code: "InvalidVlanId" },
    { pattern: /Root privileges are required|a password is required/, code: "SwitchAuthFailed" },
    { pattern: /No such command/, code: "SwitchUnsupported" },
  ],
};
