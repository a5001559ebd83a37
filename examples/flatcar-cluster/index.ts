// A Flatcar cluster: three nodes that talk to each other over a private VLAN (carried tagged
// beside their routed network: networkType hybrid) and take their public addresses from one
// reserved block, so the cluster's addresses stay together and survive node replacements.
import * as pulumi from "@pulumi/pulumi";
import { IpReservation, Server, Vlan } from "pulumi-baremetal";

const config = new pulumi.Config();
const facility = config.get("facility") ?? "lab";
const plan = config.get("plan") ?? "lab.small";
const project = config.get("project") ?? "demo";
const size = config.getNumber("nodes") ?? 3;

const publicBlock = new IpReservation("cluster-public", {
  project,
  facility,
  type: "public_ipv4",
  quantity: 8, // network, gateway and broadcast aside: five node addresses
  tags: ["cluster:k8s"],
});

const clusterNet = new Vlan("cluster-net", { project, facility, description: "etcd and pod traffic" });

// Ignition merged into what the provider renders: a unit every node runs.
const userData = JSON.stringify({
  ignition: { version: "3.4.0" },
  systemd: {
    units: [
      {
        name: "cluster-hello.service",
        enabled: true,
        contents:
          "[Service]\nType=oneshot\nExecStart=/usr/bin/echo joined cluster k8s\n[Install]\nWantedBy=multi-user.target\n",
      },
    ],
  },
});

const nodes = Array.from(
  { length: size },
  (_, i) =>
    new Server(`node-${i + 1}`, {
      project,
      facility,
      plan,
      hostname: `node-${i + 1}`,
      operatingSystem: "flatcar_stable",
      networkType: "hybrid",
      vlans: [clusterNet.vid],
      ipAddresses: [{ type: "public_ipv4", reservationId: publicBlock.id }, { type: "private_ipv4" }],
      userData,
      tags: ["cluster:k8s"],
      provisionTimeoutSeconds: config.getNumber("provisionTimeoutSeconds") ?? 1800,
    }),
);

export const block = publicBlock.cidr;
export const vlan = clusterNet.vid;
export const cluster = nodes.map((n) => ({
  hostname: n.hostname,
  machine: n.machine,
  publicIpv4: n.accessPublicIpv4,
  privateIpv4: n.accessPrivateIpv4,
}));
