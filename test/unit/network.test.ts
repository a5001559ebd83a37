// Server network modes: the port configuration each asks for, and the inputs refused.
import { ServerInputs } from "../../provider/servers/inputs";
import { portPlan } from "../../provider/servers/network";

const base = { project: "demo", facility: "lab", vlans: [] as number[], nativeVlan: undefined };
const L3 = 10;

test("each network mode's port configuration", () => {
  expect(portPlan({ ...base, networkType: "layer3" }, L3)).toEqual({ mode: "access", vlan: 10 });
  expect(portPlan({ ...base, networkType: "hybrid" }, L3)).toEqual({ mode: "access", vlan: 10 });
  expect(portPlan({ ...base, networkType: "hybrid", vlans: [1002, 1001] }, L3)).toEqual({
    mode: "trunk",
    nativeVlan: 10,
    allowedVlans: [1001, 1002],
  });
  expect(portPlan({ ...base, networkType: "layer2" }, L3)).toEqual({ mode: "none" });
  expect(portPlan({ ...base, networkType: "layer2", vlans: [1001] }, L3)).toEqual({
    mode: "access",
    vlan: 1001,
  });
  expect(portPlan({ ...base, networkType: "layer2", vlans: [1003, 1001] }, L3)).toEqual({
    mode: "trunk",
    nativeVlan: undefined,
    allowedVlans: [1001, 1003],
  });
  expect(portPlan({ ...base, networkType: "layer2", vlans: [1003, 1001], nativeVlan: 1003 }, L3)).toEqual({
    mode: "trunk",
    nativeVlan: 1003,
    allowedVlans: [1001],
  });
  // Its one VLAN named native: untagged and alone, an access port (a trunk of nothing but its
  // native VLAN reads back as one, and was never confirmed).
  expect(portPlan({ ...base, networkType: "layer2", vlans: [1003], nativeVlan: 1003 }, L3)).toEqual({
    mode: "access",
    vlan: 1003,
  });
});

const server = {
  project: "demo",
  facility: "lab",
  plan: "lab.small",
  hostname: "web-1",
  operatingSystem: "flatcar_stable",
};
const reasons = (input: Record<string, unknown>) => {
  const r = ServerInputs.safeParse({ ...server, ...input });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

test("network inputs refused with the field and what is valid", () => {
  expect(reasons({ vlans: [1001] })).toEqual([
    "vlans: a layer3 server carries no VLANs: use networkType hybrid (layer 3 plus tagged VLANs) or layer2",
  ]);
  expect(reasons({ networkType: "layer2" })).toEqual([
    "ipAddresses: a layer2 server has no layer 3 addresses (asked for public_ipv4, private_ipv4, public_ipv6): its ports carry only its VLANs, " +
      "where the facility's public and private networks are not; give ipAddresses [] and address it on its VLANs " +
      "(their own DHCP, or userData), or use networkType hybrid to keep layer 3",
  ]);
  expect(reasons({ networkType: "layer2", ipAddresses: [], vlans: [1001, 1001] })).toEqual([
    "vlans: each VLAN id at most once",
  ]);
  expect(reasons({ networkType: "hybrid", vlans: [1001], nativeVlan: 1001 })).toEqual([
    "nativeVlan: nativeVlan is for layer2 servers (hybrid's native VLAN is the facility's layer 3 network)",
  ]);
  expect(reasons({ networkType: "layer2", ipAddresses: [], vlans: [1001], nativeVlan: 1002 })).toEqual([
    "nativeVlan: nativeVlan 1002 must be one of vlans",
  ]);
  expect(reasons({ networkType: "layer4" })[0]).toBe(
    "networkType: networkType must be one of layer3, hybrid, layer2",
  );
  expect(reasons({ networkType: "hybrid", vlans: [1] })[0]).toBe("vlans.0: each vlan is a VLAN id 2-4094");
  // A private address too: its gateway is on the facility's routed network, not on the VLANs.
  expect(reasons({ networkType: "layer2", ipAddresses: [{ type: "private_ipv4" }], vlans: [1001] })).toEqual([
    expect.stringMatching(
      /^ipAddresses: a layer2 server has no layer 3 addresses \(asked for private_ipv4\)/,
    ),
  ]);
  expect(reasons({ networkType: "layer2", ipAddresses: [], vlans: [1001] })).toEqual([]);
});
