// The policy pack's rules, one by one, with the words each violation uses.
import {
  disguised,
  isProduction,
  kindOf,
  layer2NeedsVlan,
  ownerGrant,
  planAndOs,
  productionServer,
  publicIpv4Cap,
  serverPublicIpv4Cap,
  spreadAcrossRacks,
} from "../../policy/rules";

test("plans and operating systems: the stack's own lists, else the pack's", () => {
  const cfg = {
    plans: ["c3.small"],
    operatingSystems: ["flatcar_stable", "ubuntu_24_04"],
    stacks: { dev: { plans: ["c3.small", "m3.large"] } },
  };
  expect(planAndOs({ plan: "c3.small", operatingSystem: "flatcar_stable" }, cfg, "prod")).toEqual([]);
  expect(planAndOs({ plan: "m3.large", operatingSystem: "flatcar_stable" }, cfg, "prod")).toEqual([
    "plan m3.large is not allowed in stack prod; allowed: c3.small",
  ]);
  expect(planAndOs({ plan: "m3.large", operatingSystem: "flatcar_stable" }, cfg, "dev")).toEqual([]);
  expect(planAndOs({ machine: "r1-01", operatingSystem: "custom_ipxe" }, cfg, "prod")).toEqual([
    "stack prod allows plans c3.small: name a plan, not machine r1-01",
    "operatingSystem custom_ipxe is not allowed in stack prod; allowed: flatcar_stable, ubuntu_24_04",
  ]);
  expect(planAndOs({ plan: "anything", operatingSystem: "anything" }, {}, "prod")).toEqual([]);
});

test("production: by stack name (exact or prefix*) or by stack tag; wipe and no alwaysPxe", () => {
  const none = new Map<string, string>();
  expect(isProduction({}, "production", none)).toBe(true);
  expect(isProduction({}, "staging", none)).toBe(false);
  expect(isProduction({ stacks: ["prod-*"] }, "prod-eu", none)).toBe(true);
  expect(
    isProduction({ stacks: [], tag: { name: "env", value: "prod" } }, "x", new Map([["env", "prod"]])),
  ).toBe(true);
  expect(productionServer({ wipeOnDelete: true, alwaysPxe: false })).toEqual([]);
  expect(productionServer({ wipeOnDelete: false, alwaysPxe: true })).toEqual([
    "wipeOnDelete is false: a production server's disks are wiped before its machine goes back",
    "alwaysPxe is true: a production server boots from its disk, not from whatever the network serves",
  ]);
});

test("public IPv4 reservations are capped, whichever way their size is given", () => {
  expect(publicIpv4Cap({ type: "public_ipv4", quantity: 16 }, {})).toEqual([]);
  expect(publicIpv4Cap({ type: "public_ipv4", quantity: 32 }, {})).toEqual([
    "a public_ipv4 reservation of 32 addresses is larger than the 16 this pack allows",
  ]);
  expect(publicIpv4Cap({ type: "public_ipv4", prefixLength: 26 }, { maxAddresses: 32 })).toHaveLength(1);
  expect(publicIpv4Cap({ type: "public_ipv4", cidr: "198.51.100.0/29" }, { maxAddresses: 8 })).toEqual([]);
  expect(publicIpv4Cap({ type: "private_ipv4", quantity: 1024 }, {})).toEqual([]);
  // Global IPv4 is public space too.
  expect(publicIpv4Cap({ type: "global_ipv4", quantity: 256 }, {})).toEqual([
    "a global_ipv4 reservation of 256 addresses is larger than the 16 this pack allows",
  ]);
  // Not known at preview (an output of another resource): nothing to say yet.
  expect(publicIpv4Cap({ type: "public_ipv4" }, {})).toEqual([]);
});

test("a server's own public IPv4 blocks count against the same cap; those drawn from a reservation do not", () => {
  expect(serverPublicIpv4Cap({}, {})).toEqual([]);
  expect(
    serverPublicIpv4Cap(
      { ipAddresses: [{ type: "public_ipv4" }, { type: "private_ipv4", prefixLength: 24 }] },
      {},
    ),
  ).toEqual([]);
  expect(serverPublicIpv4Cap({ ipAddresses: [{ type: "public_ipv4", prefixLength: 24 }] }, {})).toEqual([
    "ipAddresses: the server's own public IPv4 blocks hold 256 addresses, more than the 16 this pack allows; draw from an IpReservation (reservationId) instead",
  ]);
  expect(
    serverPublicIpv4Cap(
      { ipAddresses: [{ type: "public_ipv4", prefixLength: 28 }, { type: "public_ipv4" }] },
      {},
    ),
  ).toHaveLength(1);
  expect(serverPublicIpv4Cap({ ipAddresses: [{ type: "public_ipv4", reservationId: "r1" }] }, {})).toEqual(
    [],
  );
});

test("layer2 servers carry a VLAN; owner grants need approval", () => {
  expect(layer2NeedsVlan({ networkType: "layer2", vlans: [] })).toHaveLength(1);
  expect(layer2NeedsVlan({ networkType: "layer2", vlans: [1001] })).toEqual([]);
  expect(layer2NeedsVlan({ networkType: "hybrid" })).toEqual([]);
  expect(ownerGrant({ role: "collaborator", user: "a@x" }, {})).toEqual([]);
  expect(ownerGrant({ role: "owner", user: "a@x" }, {})).toEqual([
    "granting owner to a@x needs review: add them to this policy's approvedOwners once approved",
  ]);
  expect(ownerGrant({ role: "owner", user: "a@x" }, { approvedOwners: ["a@x"] })).toEqual([]);
});

test("a cluster's servers spread across racks", () => {
  const s = (name: string, rack: string | undefined, tags = ["cluster:api"]) => ({ name, rack, tags });
  expect(spreadAcrossRacks([s("a", "r1"), s("b", "r2"), s("c", "r3"), s("x", "r1", ["web"])], {})).toEqual(
    [],
  );
  expect(spreadAcrossRacks([s("a", "r1"), s("b", "r1"), s("c", "r2")], {})).toEqual([
    "cluster api has 2 servers in rack r1 (a, b); at most 1 per rack",
  ]);
  expect(spreadAcrossRacks([s("a", "r1"), s("b", "r1")], { maxPerRack: 2 })).toEqual([]);
  expect(spreadAcrossRacks([s("a", undefined), s("b", undefined)], {})).toEqual([]);
  expect(
    spreadAcrossRacks([s("a", "r1", ["role=db"]), s("b", "r1", ["role=db"])], { clusterTagPrefix: "role=" }),
  ).toHaveLength(1);
});

test("our resources are known by their type token, or by the kind our provider's check wrote", () => {
  expect(kindOf("pulumi-nodejs:dynamic/baremetal:Server", {})).toBe("Server");
  expect(kindOf("pulumi-nodejs:dynamic/baremetal:Bogus", {})).toBeUndefined();
  expect(kindOf("pulumi-nodejs:dynamic:Resource", { baremetalKind: "IpReservation" })).toBe("IpReservation");
  expect(kindOf("pulumi-nodejs:dynamic:Resource", {})).toBeUndefined();
  expect(disguised("pulumi-nodejs:dynamic/baremetal:Server", { baremetalKind: "Server" })).toEqual([]);
  expect(disguised("pulumi-nodejs:dynamic:Resource", { baremetalKind: "IpReservation" })).toEqual([
    "this resource runs pulumi-baremetal's provider (IpReservation) under type pulumi-nodejs:dynamic:Resource: " +
      "declare it with the sdk's IpReservation class (type pulumi-nodejs:dynamic/baremetal:IpReservation)",
  ]);
  expect(disguised("random:index:RandomString", {})).toEqual([]);
});
