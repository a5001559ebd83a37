// examples/flatcar-cluster through the real engine on the built-in lab's VLAN-aware switch:
// three nodes on a private VLAN, their public addresses drawn from one reserved block.
import { describeBlock } from "../../provider/ipam/addresses";
import { contains, parseCidr } from "../../provider/ipam/cidr";
import { vlanPorts } from "../../provider/store/vlans-sql";
import { labStack, type LabStack } from "../helpers/lab-stack";

jest.setTimeout(300_000);

let lab: LabStack;
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

beforeAll(async () => {
  lab = await labStack("test", {
    example: "flatcar-cluster",
    switchDialect: "linux",
    machines: 3,
    installTimeMs: 300,
    config: { provisionTimeoutSeconds: "60" },
  });
});

afterAll(() => lab?.stop());

test("three nodes on the VLAN, public addresses from the reserved block, then nothing left", async () => {
  const up = await lab.ex.stack.up({ onOutput: log("up") });
  expect(up.summary.result).toBe("succeeded");
  const block = parseCidr(up.outputs.block!.value as string);
  const gateway = describeBlock(block).gateway;
  const cluster = up.outputs.cluster!.value as { machine: string; publicIpv4: string; privateIpv4: string }[];
  expect(cluster).toHaveLength(3);
  const publics = cluster.map((n) => n.publicIpv4);
  expect(new Set(publics).size).toBe(3);
  for (const a of publics) {
    expect(contains(block, parseCidr(`${a}/32`))).toBe(true);
    expect(a).not.toBe(gateway);
  }
  for (const n of cluster) expect(n.privateIpv4).toMatch(/^10\./);
  const vid = up.outputs.vlan!.value as number;
  const ports = await lab.site.store.transact(() => vlanPorts({}), "read");
  expect(ports.map((p) => [p.vid, p.mode])).toEqual(cluster.map(() => [vid, "tagged"]));

  const res = await lab.ex.stack.destroy({ onOutput: log("destroy") });
  expect(res.summary.result).toBe("succeeded");
  expect(await lab.site.store.listReservations({ project: "demo" })).toEqual([]);
  expect(await lab.site.store.transact(() => vlanPorts({}), "read")).toEqual([]);
  expect((await lab.site.store.inventory()).machines.map((m) => m.state)).toEqual([
    "available",
    "available",
    "available",
  ]);
});
