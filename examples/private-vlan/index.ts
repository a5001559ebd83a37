// A private VLAN between two servers: each keeps its routed (layer 3) addresses and carries the
// VLAN tagged on the same port (networkType hybrid), so they can talk over a network nobody
// else's servers reach. A teammate joins the project first, so her SSH key is on both. Run it against the built-in lab with a VLAN-aware switch, or point
// baremetal:store at your own inventory.
import * as pulumi from "@pulumi/pulumi";
import { ProjectMember, Server, Vlan } from "pulumi-baremetal";

const config = new pulumi.Config();
const facility = config.get("facility") ?? "lab";
const plan = config.get("plan") ?? "lab.small";
const project = config.get("project") ?? "demo";
// "hybrid" (default); "layer2": on the VLAN only, no layer-3 network at all; "layer3": off
// the VLAN. A change applies in place.
const networkType = (config.get("networkType") ?? "hybrid") as "hybrid" | "layer2" | "layer3";

const backend = new Vlan("backend", {
  project,
  facility,
  description: "database replication",
  tags: ["backend"],
});
// trunk=true adds a second VLAN: hybrid servers carry both tagged; layer2 servers get a trunk
// with backend native (untagged) and storage tagged.
const storage = config.getBoolean("trunk")
  ? new Vlan("storage", { project, facility, description: "storage traffic", tags: ["storage"] })
  : undefined;

// Members' keys go onto the servers installed after they join: the servers wait for her.
const teammate = new ProjectMember("dba", {
  project,
  user: config.get("memberEmail") ?? "alice@example.com",
  role: "collaborator",
  sshKeys: [
    config.get("memberKey") ??
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAliceKeyAliceKeyAliceKeyAliceKeyAliceKey0 alice@laptop",
  ],
});

const servers = ["db-1", "db-2"].map(
  (name) =>
    new Server(
      name,
      {
        project,
        facility,
        plan,
        hostname: name,
        operatingSystem: "flatcar_stable",
        networkType,
        vlans: networkType === "layer3" ? [] : storage ? [backend.vid, storage.vid] : [backend.vid],
        nativeVlan: networkType === "layer2" && storage ? backend.vid : undefined,
        // Private addresses only (none on layer2): these two are reached over the VLAN.
        ipAddresses: networkType === "layer2" ? [] : [{ type: "private_ipv4" }],
        provisionTimeoutSeconds: config.getNumber("provisionTimeoutSeconds") ?? 1800,
      },
      { dependsOn: [teammate] },
    ),
);

export const vlan = backend.vid;
export const db = servers.map((s) => ({
  hostname: s.hostname,
  machine: s.machine,
  privateIpv4: s.accessPrivateIpv4,
  ports: s.ports,
}));
export const member = { user: teammate.user, role: teammate.role };
