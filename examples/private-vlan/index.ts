// A private VLAN between two servers: each keeps its routed (layer 3) addresses and carries the
// VLAN tagged on the same port (networkType hybrid), so they can talk over a network nobody
// else's servers reach. Run it against the built-in lab with a VLAN-aware switch, or point
// baremetal:store at your own inventory.
import * as pulumi from "@pulumi/pulumi";
import { Server, Vlan } from "pulumi-baremetal";

const config = new pulumi.Config();
const facility = config.get("facility") ?? "lab";
const plan = config.get("plan") ?? "lab.small";
const project = config.get("project") ?? "demo";
// "hybrid" (default), or "layer3" to take the servers off the VLAN in place.
const networkType = (config.get("networkType") ?? "hybrid") as "hybrid" | "layer3";

const backend = new Vlan("backend", {
  project,
  facility,
  description: "database replication",
  tags: ["backend"],
});

const servers = ["db-1", "db-2"].map(
  (name) =>
    new Server(name, {
      project,
      facility,
      plan,
      hostname: name,
      operatingSystem: "flatcar_stable",
      networkType,
      vlans: networkType === "hybrid" ? [backend.vid] : [],
      // Private addresses only: these two are reached over the VLAN and the private network.
      ipAddresses: [{ type: "private_ipv4" }],
      provisionTimeoutSeconds: config.getNumber("provisionTimeoutSeconds") ?? 1800,
    }),
);

export const vlan = backend.vid;
export const db = servers.map((s) => ({
  hostname: s.hostname,
  machine: s.machine,
  privateIpv4: s.accessPrivateIpv4,
  ports: s.ports,
}));
