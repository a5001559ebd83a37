// What a change to a Server's inputs does: in place, reinstall in place, or replace. The engine
// acts on diff's answer alone, so each rule is pinned here.
import { diff, type ServerOutputs } from "../../provider/resources/server";
import { ServerInputs } from "../../provider/servers/inputs";

const inputs = (extra: Record<string, unknown> = {}) =>
  ServerInputs.parse({
    project: "demo",
    facility: "lab",
    plan: "lab.small",
    hostname: "web-1",
    operatingSystem: "flatcar_stable",
    owner: "org/p/s/web-1",
    ...extra,
  });

// What the engine holds after a create from `inputs()`: the inputs plus outputs.
const olds = (extra: Record<string, unknown> = {}): ServerOutputs =>
  ({
    ...inputs(extra),
    machine: "m01",
    rack: "r1",
    plan: "lab.small",
    state: "active",
    network: [],
    timeline: [],
  }) as unknown as ServerOutputs;

const change = (news: Record<string, unknown>, old: Record<string, unknown> = {}) =>
  diff("id", olds(old), inputs(news));

test("nothing changed: no changes", async () => {
  // Delete-first is said with every answer: the engine reads it for a replace that
  // replaceOnChanges adds to an in-place change too.
  expect(await change({})).toEqual({ changes: false, replaces: [], deleteBeforeReplace: true });
});

test.each([
  ["hostname", { hostname: "web-one" }],
  ["tags", { tags: ["a"] }],
  ["description", { description: "frontend" }],
  ["alwaysPxe", { alwaysPxe: true }],
  ["wipeOnDelete", { wipeOnDelete: false }],
  // Recorded, for the next install: a key added does not erase the server.
  ["sshKeys", { sshKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG me@x"] }],
  ["customData", { customData: { role: "db" } }],
])("%s changes in place", async (_name, news) => {
  expect(await change(news)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: true });
});

test.each([
  ["userData", { userData: '{"ignition":{"version":"3.4.0"}}' }],
  ["operatingSystem", { operatingSystem: "ubuntu_24_04" }],
])("%s reinstalls in place, or replaces when reinstall is replace", async (name, news) => {
  expect(await change(news)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: true });
  const replaced = await change({ ...news, reinstall: "replace" }, { reinstall: "replace" });
  expect(replaced.replaces).toEqual([name]);
  expect(replaced.deleteBeforeReplace).toBe(true);
});

test.each([
  ["project", { project: "other" }],
  ["facility", { facility: "ny5" }],
  ["plan", { plan: "c3.small" }],
  ["ipAddresses", { ipAddresses: [{ type: "private_ipv4", prefixLength: 30 }] }],
])(
  "%s replaces the server, the old one first (its replacement has the same owner key)",
  async (name, news) => {
    const d = await change(news);
    expect(d.changes).toBe(true);
    expect(d.replaces).toEqual([name]);
    expect(d.deleteBeforeReplace).toBe(true);
  },
);

test("a named machine that changes replaces, deleting the old server first (the machine holds one)", async () => {
  const d = await diff(
    "id",
    olds({ machine: "m01", plan: undefined }),
    inputs({ machine: "m02", plan: undefined }),
  );
  expect(d).toEqual({ changes: true, replaces: ["machine"], deleteBeforeReplace: true });
});

test("ports a refresh found moved at the switch are put back in place", async () => {
  const applied = [{ nic: "eth0", switch: "tor1", port: "swp1", mode: "access", vlan: 10 }];
  const moved = [{ nic: "eth0", switch: "tor1", port: "swp1", mode: "none" }];
  const o = { ...olds(), appliedPorts: applied, ports: moved } as unknown as ServerOutputs;
  expect(await diff("id", o, inputs())).toEqual({ changes: true, replaces: [], deleteBeforeReplace: true });
  const same = { ...olds(), appliedPorts: applied, ports: applied } as unknown as ServerOutputs;
  expect((await diff("id", same, inputs())).changes).toBe(false);
});

test("network settings change in place", async () => {
  const d = await change({ networkType: "hybrid", vlans: [1001] });
  expect(d).toEqual({ changes: true, replaces: [], deleteBeforeReplace: true });
});

test("the same request said another way is no change: an empty userData, the default prefix lengths written out or left out", async () => {
  const none = { changes: false, replaces: [], deleteBeforeReplace: true };
  // A state from before check dropped empty strings.
  expect(await diff("id", { ...olds(), userData: "" } as ServerOutputs, inputs())).toEqual(none);
  const spelled = [{ type: "public_ipv4" }, { type: "private_ipv4" }, { type: "public_ipv6" }];
  expect(await change({ ipAddresses: spelled })).toEqual(none);
  expect(await change({}, { ipAddresses: spelled })).toEqual(none);
  expect(
    await change(
      { ipAddresses: [{ type: "public_ipv4", prefixLength: 31 }] },
      { ipAddresses: [{ type: "public_ipv4" }] },
    ),
  ).toEqual(none);
  // Another size is another request.
  expect(
    await change(
      { ipAddresses: [{ type: "public_ipv4", prefixLength: 30 }] },
      { ipAddresses: [{ type: "public_ipv4" }] },
    ),
  ).toEqual({
    changes: true,
    replaces: ["ipAddresses"],
    deleteBeforeReplace: true,
  });
});
