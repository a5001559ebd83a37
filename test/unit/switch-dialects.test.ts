// Exact commands per dialect (golden tests), with the switch's replies scripted in each
// dialect's real output format, and each dialect's error texts mapped to named errors.
import { spawnSync } from "node:child_process";
import { HardwareError } from "../../provider/hardware/errors";
import { failure as failureOf } from "../helpers/failure";
import { DIALECTS, Switch } from "../../provider/hardware/switch";
import { ConnectionLost, type ExecResult, type SwitchTransport } from "../../provider/hardware/switch/ssh";

/** Records what the driver sends; answers from a script, in order. */
class Recorder implements SwitchTransport {
  readonly address = "tor1:22";
  readonly sent: string[] = [];
  constructor(private readonly replies: (string | ExecResult | Error)[]) {}
  async exec(command: string): Promise<ExecResult> {
    this.sent.push(command);
    return this.next();
  }
  async shell(lines: string[]): Promise<ExecResult> {
    this.sent.push(lines.join("\n"));
    return this.next();
  }
  async close(): Promise<void> {}
  private next(): ExecResult {
    const r = this.replies.shift();
    if (r === undefined) throw new Error(`no scripted reply left for: ${this.sent.at(-1)}`);
    if (r instanceof Error) throw r;
    return typeof r === "string" ? { stdout: r, stderr: "", code: 0 } : r;
  }
}

const failed = (stderr: string, code = 1): ExecResult => ({ stdout: "", stderr, code });
function driver(dialect: string, replies: (string | ExecResult | Error)[]) {
  const t = new Recorder(replies);
  const s = new Switch(t, DIALECTS[dialect]!(), { retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 } });
  return { s, t };
}

const failure = (p: Promise<unknown>) => failureOf(p, HardwareError);

/** `bridge -j vlan show` output for one interface: [vlan, ...flags] per VLAN. */
const vlans = (ifname: string, ...v: [number, ...string[]][]) =>
  JSON.stringify([
    { ifname, vlans: v.map(([vlan, ...flags]) => ({ vlan, ...(flags.length ? { flags } : {}) })) },
  ]);

const sessionless = (sent: string[]) => sent.map((c) => c.replace(/baremetal-[0-9a-f]{8}/g, "baremetal-S"));

describe("linux-bridge-per-vlan", () => {
  const links = (...names: string[]) =>
    JSON.stringify(
      names.map((n) => ({
        ifname: n.split(">")[0],
        ...(n.includes(">") ? { master: n.split(">")[1] } : {}),
      })),
    );

  test("ensureVlan reads, then creates and reads back in one batch", async () => {
    const { s, t } = driver("linux-bridge-per-vlan", [links("lo", "swp1"), links("lo", "swp1", "vlan100")]);
    await s.ensureVlan(100);
    expect(t.sent).toEqual([
      "set -e\nip -j link show",
      "set -e\nip link add name vlan100 type bridge\nip link set dev vlan100 up\nip -j link show",
    ]);
  });

  test("setAccess and resetPort", async () => {
    const { s, t } = driver("linux-bridge-per-vlan", [links("swp1>vlan100"), links("swp1")]);
    expect(await s.setAccess("swp1", 100)).toEqual({ port: "swp1", mode: "access", vlan: 100 });
    expect(await s.resetPort("swp1")).toEqual({ port: "swp1", mode: "none" });
    expect(t.sent).toEqual([
      "set -e\nip link set dev swp1 master vlan100\nip link set dev swp1 up\nip -j -d link show dev swp1",
      "set -e\nip link set dev swp1 nomaster\nip -j -d link show dev swp1",
    ]);
  });

  test("removeVlan refuses while ports are in it, and sends nothing that changes", async () => {
    const { s, t } = driver("linux-bridge-per-vlan", [links("swp1>vlan100", "swp2", "vlan100")]);
    const e = await failure(s.removeVlan(100));
    expect(e.code).toBe("VlanInUse");
    expect(t.sent).toEqual(["set -e\nip -j link show"]);
  });

  test.each([
    ['Error: argument "vlan999" is wrong: Device does not exist\n\n', "VlanNotFound"],
    ['Cannot find device "swp9"\n', "PortNotFound"],
    ["RTNETLINK answers: Operation not supported\n", "SwitchUnsupported"],
    ["switch-shell: refused: bad token\n", "SwitchCommandFailed"],
  ])("%j is %s", async (stderr, code) => {
    const { s } = driver("linux-bridge-per-vlan", [failed(stderr)]);
    const e = await failure(s.setAccess("swp1", 999));
    expect(e.code).toBe(code);
    expect(e.message).toContain("tor1:22");
  });
});

describe("linux (VLAN-aware bridge)", () => {
  test("setAccess replaces the port's VLANs", async () => {
    const { s, t } = driver("linux", [
      vlans("swp1", [1, "PVID", "Egress Untagged"]),
      vlans("swp1", [100, "PVID", "Egress Untagged"]),
    ]);
    expect(await s.setAccess("swp1", 100)).toEqual({ port: "swp1", mode: "access", vlan: 100 });
    expect(t.sent).toEqual([
      "set -e\nbridge -j vlan show dev swp1",
      [
        "set -e",
        "ip link set dev swp1 master br0",
        "bridge vlan del dev swp1 vid 1",
        "bridge vlan add dev swp1 vid 100 pvid untagged",
        "ip link set dev swp1 up",
        "bridge -j vlan show dev swp1",
      ].join("\n"),
    ]);
  });

  test("uplinks get each VLAN tagged when it is made, and lose it before it goes", async () => {
    const state = (bridge: number[], uplink: [number, ...string[]][]) =>
      JSON.stringify([
        { ifname: "br0", vlans: bridge.map((vlan) => ({ vlan })) },
        {
          ifname: "swp49",
          vlans: uplink.map(([vlan, ...flags]) => ({ vlan, ...(flags.length ? { flags } : {}) })),
        },
      ]);
    const native: [number, ...string[]] = [1, "PVID", "Egress Untagged"];
    const t = new Recorder([
      state([1], [native]),
      state([1, 100], [native, [100]]),
      // An uplink named later: the VLAN is there, the uplink gets it.
      state([1, 100], [native]),
      state([1, 100], [native, [100]]),
      state([1, 100], [native, [100]]),
      state([1], [native]),
    ]);
    const s = new Switch(t, DIALECTS.linux!(), {
      retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
      uplinks: ["swp49"],
    });
    await s.ensureVlan(100);
    await s.ensureVlan(100);
    await s.removeVlan(100);
    expect(t.sent).toEqual([
      "set -e\nbridge -j vlan show",
      "set -e\nbridge vlan add dev br0 vid 100 self\nbridge vlan add dev swp49 vid 100\nbridge -j vlan show",
      "set -e\nbridge -j vlan show",
      "set -e\nbridge vlan add dev swp49 vid 100\nbridge -j vlan show",
      "set -e\nbridge -j vlan show",
      "set -e\nbridge vlan del dev swp49 vid 100\nbridge vlan del dev br0 vid 100 self\nbridge -j vlan show",
    ]);
    // One the switch did not put on the uplink is not taken as made.
    const unconfirmed = new Switch(
      new Recorder([state([1], [native]), state([1, 200], [native])]),
      DIALECTS.linux!(),
      {
        retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
        uplinks: ["swp49"],
      },
    );
    expect((await failure(unconfirmed.ensureVlan(200))).message).toContain(
      "VLAN 200 on uplinks swp49 was not confirmed",
    );
  });

  test("iproute2 before 4.19 (an object by port, over several lines) reads the same", async () => {
    const old = (port: string, ...v: [number, ...string[]][]) =>
      JSON.stringify(
        { [port]: v.map(([vlan, ...flags]) => ({ vlan, ...(flags.length ? { flags } : {}) })) },
        null,
        4,
      );
    const { s } = driver("linux", [
      old("swp1", [1, "PVID", "Egress Untagged"]),
      old("swp1", [100, "PVID", "Egress Untagged"]),
    ]);
    expect(await s.setAccess("swp1", 100)).toEqual({ port: "swp1", mode: "access", vlan: 100 });
  });

  test("an answer the dialect cannot read is a named error of that switch, not a crash", async () => {
    const { s } = driver("linux", ['Command "vlan" is unknown, try "bridge help".\n']);
    const e = await failure(s.readPort("swp1"));
    expect([e.code, e.transient]).toEqual(["SwitchUnsupported", false]);
    expect(e.message).toMatch(
      /^switch [^ ]+ \(linux\): `bridge -j vlan show` printed what this dialect cannot read/,
    );
    expect(e.message).toContain('Command "vlan" is unknown');
  });

  test("setTrunk: native untagged, allowed tagged", async () => {
    const { s, t } = driver("linux", [
      vlans("swp1", [100, "PVID", "Egress Untagged"]),
      vlans("swp1", [10, "PVID", "Egress Untagged"], [20], [30]),
    ]);
    expect(await s.setTrunk("swp1", { nativeVlan: 10, allowedVlans: [30, 20, 10] })).toEqual({
      port: "swp1",
      mode: "trunk",
      nativeVlan: 10,
      allowedVlans: [20, 30],
    });
    expect(t.sent[1]).toBe(
      [
        "set -e",
        "ip link set dev swp1 master br0",
        "bridge vlan del dev swp1 vid 100",
        "bridge vlan add dev swp1 vid 10 pvid untagged",
        "bridge vlan add dev swp1 vid 20",
        "bridge vlan add dev swp1 vid 30",
        "ip link set dev swp1 up",
        "bridge -j vlan show dev swp1",
      ].join("\n"),
    );
  });

  test("ensureVlan adds the VLAN to the bridge itself", async () => {
    const { s, t } = driver("linux", [
      vlans("br0", [1, "PVID", "Egress Untagged"]),
      vlans("br0", [1], [100]),
    ]);
    await s.ensureVlan(100);
    expect(t.sent[1]).toBe("set -e\nbridge vlan add dev br0 vid 100 self\nbridge -j vlan show");
  });
});

test.each(["linux", "linux-bridge-per-vlan"])(
  "%s: a login shell running the batch stops at the first failing line, with its status",
  (dialect) => {
    // What a switch whose SSH account has an ordinary shell does with the batch.
    const batch = DIALECTS[dialect]!().join(["echo first", "sh -c 'exit 3'", "echo '[]'"]);
    const r = spawnSync("sh", ["-c", batch], { encoding: "utf8" });
    expect([r.status, r.stdout]).toEqual([3, "first\n"]);
    const failing = spawnSync("sh", ["-c", DIALECTS[dialect]!().join(["false", "echo '[]'"])]);
    expect(failing.status).toBe(1);
  },
);

describe("cumulus (NVUE)", () => {
  test("ensureVlan, setAccess, setTrunk, resetPort", async () => {
    const { s, t } = driver("cumulus", [
      vlans("br_default", [1, "PVID", "Egress Untagged"]),
      vlans("br_default", [1, "PVID", "Egress Untagged"], [100]),
      "applied [rev_id: 5]\n" + vlans("swp1", [100, "PVID", "Egress Untagged"]),
      vlans("swp1", [10, "PVID", "Egress Untagged"], [20]),
      "[]",
    ]);
    await s.ensureVlan(100);
    await s.setAccess("swp1", 100);
    await s.setTrunk("swp1", { nativeVlan: 10, allowedVlans: [20] });
    await s.resetPort("swp1");
    expect(t.sent).toEqual([
      "bridge -j vlan show",
      "nv set bridge domain br_default vlan 100 && nv config apply --assume-yes && nv config save && bridge -j vlan show",
      "nv unset interface swp1 bridge domain br_default untagged && nv unset interface swp1 bridge domain br_default vlan && nv set interface swp1 bridge domain br_default access 100 && nv config apply --assume-yes && nv config save && bridge -j vlan show dev swp1",
      "nv unset interface swp1 bridge domain br_default access && nv unset interface swp1 bridge domain br_default vlan && nv set interface swp1 bridge domain br_default vlan 10,20 && nv set interface swp1 bridge domain br_default untagged 10 && nv config apply --assume-yes && nv config save && bridge -j vlan show dev swp1",
      "nv unset interface swp1 bridge domain br_default && nv config apply --assume-yes && nv config save && bridge -j vlan show dev swp1",
    ]);
  });

  test("a failed apply is detached and named", async () => {
    const { s, t } = driver("cumulus", [
      {
        stdout: "Invalid config [rev_id: 4]\n  Config invalid at interface.swp1: bad\n",
        stderr: "",
        code: 1,
      },
      "",
    ]);
    const e = await failure(s.setAccess("swp1", 100));
    expect(e.code).toBe("SwitchCommandFailed");
    expect(e.message).toContain("Config invalid at interface.swp1");
    expect(t.sent.at(-1)).toBe("nv config detach");
  });

  test("a connection lost mid-batch: what the batch staged is detached on a new one", async () => {
    const lost = new ConnectionLost(
      "SwitchUnreachable",
      "switch tor1:22: the connection was lost before the command ended",
    );
    const { s, t } = driver("cumulus", [lost, ""]);
    expect(await failure(s.setAccess("swp1", 100))).toBe(lost);
    expect(t.sent.at(-1)).toBe("nv config detach");
  });

  test("the uplinks the inventory names carry every VLAN and are no members; other ports are", async () => {
    const state = JSON.stringify([
      { ifname: "br_default", vlans: [{ vlan: 1 }, { vlan: 100 }] },
      { ifname: "swp49", vlans: [{ vlan: 1, flags: ["PVID", "Egress Untagged"] }, { vlan: 100 }] },
    ]);
    const refused = await failure(driver("cumulus", [state]).s.removeVlan(100));
    expect([refused.code, refused.message]).toEqual([
      "VlanInUse",
      "switch tor1:22: VLAN 100 still has ports swp49; move or reset them first",
    ]);
    const t = new Recorder([state, vlans("br_default", [1])]);
    const s = new Switch(t, DIALECTS.cumulus!(), {
      retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
      uplinks: ["swp49"],
    });
    await s.removeVlan(100);
    expect(t.sent[1]).toBe(
      "nv unset bridge domain br_default vlan 100 && nv config apply --assume-yes && nv config save && bridge -j vlan show",
    );
  });

  test("a change and the reads it decides on run under the cross-process hold; reads alone do not", async () => {
    const state = vlans("br_default", [1], [100]);
    const t = new Recorder([state, vlans("swp1", [100, "PVID", "Egress Untagged"]), state]);
    const held: string[][] = [];
    const s = new Switch(t, DIALECTS.cumulus!(), {
      retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
      exclusive: async (change) => {
        const before = t.sent.length;
        const result = await change();
        held.push(t.sent.slice(before));
        return result;
      },
    });
    await s.ensureVlan(100); // there already: the read that decided so was held
    await s.setAccess("swp1", 100);
    await s.listVlans();
    expect(held).toEqual([["bridge -j vlan show"], [expect.stringMatching(/access 100 && nv config apply/)]]);
    expect(t.sent).toHaveLength(3);
  });

  test("an unknown interface is PortNotFound", async () => {
    const { s } = driver("cumulus", [failed("Error: The requested item does not exist.\n"), ""]);
    expect((await failure(s.setAccess("swp99", 100))).code).toBe("PortNotFound");
  });
});

describe("sonic", () => {
  const members = (m: Record<string, string>) =>
    "VLAN_MEMBER:\n" +
    (Object.keys(m).length
      ? JSON.stringify(
          Object.fromEntries(Object.entries(m).map(([k, v]) => [k, { tagging_mode: v }])),
          null,
          4,
        ) + "\n"
      : "");
  const state = (vlans: number[], m: Record<string, string>) =>
    "VLAN:\n" +
    (vlans.length
      ? JSON.stringify(Object.fromEntries(vlans.map((v) => [`Vlan${v}`, { vlanid: String(v) }])), null, 4) +
        "\n"
      : "") +
    members(m);

  test("uplinks are made tagged members of each VLAN, and leave it before it goes", async () => {
    const t = new Recorder([
      state([], {}),
      state([100], { "Vlan100|Ethernet48": "tagged" }),
      state([100], { "Vlan100|Ethernet48": "tagged" }),
      state([], {}),
    ]);
    const s = new Switch(t, DIALECTS.sonic!(), {
      retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
      uplinks: ["Ethernet48"],
    });
    await s.ensureVlan(100);
    await s.removeVlan(100);
    expect(t.sent.filter((c) => c.includes("config vlan"))).toEqual([
      "sudo -n config vlan add 100 && sudo -n config vlan member add 100 Ethernet48 && sudo -n config save -y && echo VLAN: && sonic-cfggen -d --var-json VLAN && echo VLAN_MEMBER: && sonic-cfggen -d --var-json VLAN_MEMBER",
      "sudo -n config vlan member del 100 Ethernet48 && sudo -n config vlan del 100 && sudo -n config save -y && echo VLAN: && sonic-cfggen -d --var-json VLAN && echo VLAN_MEMBER: && sonic-cfggen -d --var-json VLAN_MEMBER",
    ]);
  });

  test("changes are computed from the current membership (SONiC is not idempotent)", async () => {
    const { s, t } = driver("sonic", [
      state([], {}),
      state([100], {}),
      members({}),
      members({ "Vlan100|Ethernet0": "untagged" }),
      members({ "Vlan100|Ethernet0": "untagged" }),
      members({ "Vlan10|Ethernet0": "untagged", "Vlan20|Ethernet0": "tagged" }),
      members({ "Vlan10|Ethernet0": "untagged", "Vlan20|Ethernet0": "tagged" }),
      members({}),
    ]);
    await s.ensureVlan(100);
    await s.setAccess("Ethernet0", 100);
    await s.setTrunk("Ethernet0", { nativeVlan: 10, allowedVlans: [20] });
    await s.resetPort("Ethernet0");
    const read = "echo VLAN_MEMBER: && sonic-cfggen -d --var-json VLAN_MEMBER";
    expect(t.sent).toEqual([
      `echo VLAN: && sonic-cfggen -d --var-json VLAN && ${read}`,
      `sudo -n config vlan add 100 && sudo -n config save -y && echo VLAN: && sonic-cfggen -d --var-json VLAN && ${read}`,
      read,
      `sudo -n config vlan member add -u 100 Ethernet0 && sudo -n config save -y && ${read}`,
      read,
      `sudo -n config vlan member del 100 Ethernet0 && sudo -n config vlan member add -u 10 Ethernet0 && sudo -n config vlan member add 20 Ethernet0 && sudo -n config save -y && ${read}`,
      read,
      `sudo -n config vlan member del 10 Ethernet0 && sudo -n config vlan member del 20 Ethernet0 && sudo -n config save -y && ${read}`,
    ]);
  });

  test.each([
    ["Usage: config vlan member add [OPTIONS] <vid> port\n\nError: Vlan300 does not exist\n", "VlanNotFound"],
    ["Error: Ethernet3 does not exist\n", "PortNotFound"],
    ["Root privileges are required for this operation\n", "SwitchAuthFailed"],
    ["sudo: a password is required\n", "SwitchAuthFailed"],
  ])("%j is %s", async (stderr, code) => {
    const { s } = driver("sonic", [members({}), failed(stderr, 2)]);
    expect((await failure(s.setAccess("Ethernet0", 300))).code).toBe(code);
  });
});

describe("eos", () => {
  const port = (name: string, info: object) =>
    JSON.stringify({ switchports: { [name]: { switchportInfo: info } } }, null, 2);
  const vlanDoc = (...ids: number[]) =>
    JSON.stringify(
      {
        vlans: Object.fromEntries([1, ...ids].map((v) => [String(v), { name: `VLAN${v}`, interfaces: {} }])),
      },
      null,
      2,
    );

  test("changes run in a configuration session, committed and saved", async () => {
    const { s, t } = driver("eos", [
      `${vlanDoc()}\n${port("Ethernet1", { mode: "access", accessVlanId: 1 })}`,
      `${vlanDoc(100)}\n${port("Ethernet1", { mode: "access", accessVlanId: 1 })}`,
      port("Ethernet1", { mode: "access", accessVlanId: 100 }),
      port("Ethernet1", { mode: "trunk", trunkingNativeVlanId: 10, trunkAllowedVlans: "10,20-21" }),
      port("Ethernet1", { mode: "access", accessVlanId: 1 }),
    ]);
    await s.ensureVlan(100);
    expect(await s.setAccess("Ethernet1", 100)).toEqual({ port: "Ethernet1", mode: "access", vlan: 100 });
    expect(await s.setTrunk("Ethernet1", { nativeVlan: 10, allowedVlans: [20, 21] })).toEqual({
      port: "Ethernet1",
      mode: "trunk",
      nativeVlan: 10,
      allowedVlans: [20, 21],
    });
    expect(await s.resetPort("Ethernet1")).toEqual({ port: "Ethernet1", mode: "none" });
    const setup = "enable\nterminal length 0\nterminal width 511";
    expect(sessionless(t.sent)).toEqual([
      `${setup}\nshow vlan | json\nshow interfaces switchport | json`,
      `${setup}\nconfigure session baremetal-S\nvlan 100\nexit\ncommit\nwrite memory\nshow vlan | json\nshow interfaces switchport | json`,
      `${setup}\nconfigure session baremetal-S\ninterface Ethernet1\nswitchport mode access\nswitchport access vlan 100\nexit\ncommit\nwrite memory\nshow interfaces Ethernet1 switchport | json`,
      `${setup}\nconfigure session baremetal-S\ninterface Ethernet1\nswitchport mode trunk\nswitchport trunk native vlan 10\nswitchport trunk allowed vlan 10,20,21\nexit\ncommit\nwrite memory\nshow interfaces Ethernet1 switchport | json`,
      `${setup}\nconfigure session baremetal-S\ninterface Ethernet1\nno switchport access vlan\nno switchport trunk native vlan\nno switchport trunk allowed vlan\nno switchport mode\nexit\ncommit\nwrite memory\nshow interfaces Ethernet1 switchport | json`,
    ]);
  });

  test("a trunk without a native VLAN is confirmed: EOS's native 1, not carried, is none", async () => {
    const { s, t } = driver("eos", [
      port("Ethernet1", { mode: "trunk", trunkingNativeVlanId: 1, trunkAllowedVlans: "20-21" }),
    ]);
    expect(await s.setTrunk("Ethernet1", { allowedVlans: [20, 21] })).toEqual({
      port: "Ethernet1",
      mode: "trunk",
      allowedVlans: [20, 21],
    });
    expect(sessionless(t.sent)[0]).toContain(
      "no switchport trunk native vlan\nswitchport trunk allowed vlan 20,21",
    );
  });

  test("a trunk left at ALL (an uplink) is no member: the VLAN is removed, from it too", async () => {
    const state = (...ids: number[]) =>
      `${vlanDoc(...ids)}\n${JSON.stringify({
        switchports: {
          Ethernet49: { switchportInfo: { mode: "trunk", trunkAllowedVlans: "ALL" } },
          Ethernet1: { switchportInfo: { mode: "access", accessVlanId: 1 } },
        },
      })}`;
    const { s, t } = driver("eos", [state(100), state()]);
    await s.removeVlan(100);
    expect(sessionless(t.sent)[1]).toMatch(/configure session baremetal-S\nno vlan 100\ncommit/);
  });

  test.each([
    ["% Interface does not exist", "PortNotFound"],
    ["% Invalid input (privileged mode required)", "SwitchAuthFailed"],
    ["% Maximum number of pending sessions has been reached", "SwitchLocked"],
    ["% Invalid input at line 1", "SwitchCommandFailed"],
  ])("%j is %s", async (output, code) => {
    const { s } = driver("eos", [{ stdout: output, stderr: output, code: 1 }]);
    expect((await failure(s.setAccess("Ethernet1", 100))).code).toBe(code);
  });
});

test("every dialect validates port names by its own pattern", async () => {
  for (const [name, bad] of [
    ["linux", "Ethernet0"],
    ["cumulus", "eth0;id"],
    ["sonic", "swp1"],
    ["eos", "Ethernet1 ; reload"],
  ] as const) {
    const { s, t } = driver(name, []);
    expect((await failure(s.setAccess(bad, 10))).code).toBe("InvalidPortName");
    expect(t.sent).toEqual([]);
  }
});

describe("port changes that queue together go to the switch as one batch", () => {
  const links = (...names: string[]) =>
    JSON.stringify(names.map((n) => ({ ifname: n.split(">")[0], master: n.split(">")[1] })));

  test("linux-bridge-per-vlan: every change's lines, then one read of the state confirms each", async () => {
    const { s, t } = driver("linux-bridge-per-vlan", [links("swp1>vlan100", "swp2>vlan100", "swp3>vlan200")]);
    const ports = await Promise.all([
      s.setAccess("swp1", 100),
      s.setAccess("swp2", 100),
      s.setAccess("swp3", 200),
    ]);
    expect(ports.map((p) => [p.port, p.vlan])).toEqual([
      ["swp1", 100],
      ["swp2", 100],
      ["swp3", 200],
    ]);
    expect(t.sent).toEqual([
      [
        "set -e",
        "ip link set dev swp1 master vlan100",
        "ip link set dev swp1 up",
        "ip link set dev swp2 master vlan100",
        "ip link set dev swp2 up",
        "ip link set dev swp3 master vlan200",
        "ip link set dev swp3 up",
        "ip -j link show",
      ].join("\n"),
    ]);
  });

  test("linux: templates that need the ports' current VLANs get them from one state read before", async () => {
    const state = (...entries: string[]) =>
      `[${entries
        .map((e) => JSON.parse(e)[0] as object)
        .map((e) => JSON.stringify(e))
        .join(",")}]`;
    const { s, t } = driver("linux", [
      state(vlans("swp1", [10, "PVID", "Egress Untagged"]), vlans("swp2", [20])),
      state(
        vlans("swp1", [100, "PVID", "Egress Untagged"]),
        vlans("swp2", [10, "PVID", "Egress Untagged"], [30]),
      ),
    ]);
    const [a, b] = await Promise.all([
      s.setAccess("swp1", 100),
      s.setTrunk("swp2", { nativeVlan: 10, allowedVlans: [30] }),
    ]);
    expect(a).toEqual({ port: "swp1", mode: "access", vlan: 100 });
    expect(b).toEqual({ port: "swp2", mode: "trunk", nativeVlan: 10, allowedVlans: [30] });
    expect(t.sent).toEqual([
      "set -e\nbridge -j vlan show",
      [
        "set -e",
        "ip link set dev swp1 master br0",
        "bridge vlan del dev swp1 vid 10",
        "bridge vlan add dev swp1 vid 100 pvid untagged",
        "ip link set dev swp1 up",
        "ip link set dev swp2 master br0",
        "bridge vlan del dev swp2 vid 20",
        "bridge vlan add dev swp2 vid 10 pvid untagged",
        "bridge vlan add dev swp2 vid 30",
        "ip link set dev swp2 up",
        "bridge -j vlan show",
      ].join("\n"),
    ]);
  });

  test("cumulus: one `nv config apply` for the whole batch", async () => {
    const both = JSON.stringify([
      JSON.parse(vlans("swp1", [100, "PVID", "Egress Untagged"]))[0],
      JSON.parse(vlans("swp2", [100, "PVID", "Egress Untagged"]))[0],
    ]);
    const { s, t } = driver("cumulus", ["applied [rev_id: 6]\n" + both]);
    await Promise.all([s.setAccess("swp1", 100), s.setAccess("swp2", 100)]);
    const access = (p: string) => [
      `nv unset interface ${p} bridge domain br_default untagged`,
      `nv unset interface ${p} bridge domain br_default vlan`,
      `nv set interface ${p} bridge domain br_default access 100`,
    ];
    expect(t.sent).toEqual([
      [
        ...access("swp1"),
        ...access("swp2"),
        "nv config apply --assume-yes",
        "nv config save",
        "bridge -j vlan show",
      ].join(" && "),
    ]);
  });

  test("sonic: the members are read once, before, and the config saved once", async () => {
    const members = (m: Record<string, string>) =>
      "VLAN_MEMBER:\n" +
      JSON.stringify(
        Object.fromEntries(Object.entries(m).map(([k, v]) => [k, { tagging_mode: v }])),
        null,
        4,
      ) +
      "\n";
    const state = (m: Record<string, string>) =>
      `VLAN:\n${JSON.stringify({ Vlan100: { vlanid: "100" } })}\n${members(m)}`;
    const { s, t } = driver("sonic", [
      state({ "Vlan100|Ethernet0": "untagged" }),
      state({ "Vlan100|Ethernet4": "untagged" }),
    ]);
    const [a, b] = await Promise.all([s.resetPort("Ethernet0"), s.setAccess("Ethernet4", 100)]);
    expect([a.mode, b.mode]).toEqual(["none", "access"]);
    const read =
      "echo VLAN: && sonic-cfggen -d --var-json VLAN && echo VLAN_MEMBER: && sonic-cfggen -d --var-json VLAN_MEMBER";
    expect(t.sent).toEqual([
      read,
      `sudo -n config vlan member del 100 Ethernet0 && sudo -n config vlan member add -u 100 Ethernet4 && sudo -n config save -y && ${read}`,
    ]);
  });

  test("a batch the switch refuses runs again one change at a time: each change gets its own answer", async () => {
    const { s, t } = driver("linux-bridge-per-vlan", [
      failed('Cannot find device "swp9"'),
      links("swp1>vlan100"),
      failed('Cannot find device "swp9"'),
      links("swp2>vlan100"),
    ]);
    const results = await Promise.allSettled([
      s.setAccess("swp1", 100),
      s.setAccess("swp9", 100),
      s.setAccess("swp2", 100),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(((results[1] as PromiseRejectedResult).reason as HardwareError).code).toBe("PortNotFound");
    expect(t.sent.slice(1)).toEqual([
      "set -e\nip link set dev swp1 master vlan100\nip link set dev swp1 up\nip -j -d link show dev swp1",
      "set -e\nip link set dev swp9 master vlan100\nip link set dev swp9 up\nip -j -d link show dev swp9",
      "set -e\nip link set dev swp2 master vlan100\nip link set dev swp2 up\nip -j -d link show dev swp2",
    ]);
  });

  test("a change the read-back does not show fails alone; the rest of its batch stands", async () => {
    const { s } = driver("linux-bridge-per-vlan", [links("swp1>vlan100", "swp2")]);
    const [a, b] = await Promise.allSettled([s.setAccess("swp1", 100), s.setAccess("swp2", 100)]);
    expect(a).toEqual({ status: "fulfilled", value: { port: "swp1", mode: "access", vlan: 100 } });
    expect(((b as PromiseRejectedResult).reason as HardwareError).message).toMatch(
      /setAccess on swp2 \(in a batch\) was not confirmed by the read-back/,
    );
  });

  test("two changes to one port are never in one batch: the second follows the first", async () => {
    const { s, t } = driver("linux-bridge-per-vlan", [links("swp1>vlan100", "swp2>vlan100"), links("swp1")]);
    const [, , last] = await Promise.all([
      s.setAccess("swp1", 100),
      s.setAccess("swp2", 100),
      s.resetPort("swp1"),
    ]);
    expect(last).toEqual({ port: "swp1", mode: "none" });
    expect(t.sent).toHaveLength(2);
    expect(t.sent[1]).toBe("set -e\nip link set dev swp1 nomaster\nip -j -d link show dev swp1");
  });

  test("each change is noted in the audit of the operation that asked for it", async () => {
    const { s, t } = driver("linux-bridge-per-vlan", [links("swp1>vlan100", "swp2>vlan200")]);
    const one: string[] = [];
    const two: string[] = [];
    await Promise.all([
      s.setAccess("swp1", 100, (c) => one.push(c)),
      s.setAccess("swp2", 200, (c) => two.push(c)),
    ]);
    expect(t.sent).toHaveLength(1);
    expect(one).toEqual(["switch tor1:22: ip link set dev swp1 master vlan100; ip link set dev swp1 up"]);
    expect(two).toEqual(["switch tor1:22: ip link set dev swp2 master vlan200; ip link set dev swp2 up"]);
  });

  test("a batch is answered once its hold is given back: a hold lost meanwhile fails every change", async () => {
    const t = new Recorder([links("swp1>vlan100", "swp2>vlan100")]);
    const s = new Switch(t, DIALECTS["linux-bridge-per-vlan"]!(), {
      retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
      exclusive: async (change) => {
        await change();
        throw new Error("the hold went with its connection");
      },
    });
    const results = await Promise.allSettled([s.setAccess("swp1", 100), s.setAccess("swp2", 100)]);
    expect(results.map((r) => r.status === "rejected" && (r.reason as Error).message)).toEqual([
      "the hold went with its connection",
      "the hold went with its connection",
    ]);
    expect(t.sent).toHaveLength(1);
  });

  test("eos, whose CLI takes one line at a time, still gets one change per session", async () => {
    const port = (name: string) =>
      JSON.stringify({ switchports: { [name]: { switchportInfo: { mode: "access", accessVlanId: 100 } } } });
    const { s, t } = driver("eos", [port("Ethernet1"), port("Ethernet2")]);
    await Promise.all([s.setAccess("Ethernet1", 100), s.setAccess("Ethernet2", 100)]);
    expect(t.sent).toHaveLength(2);
  });
});
