// Three web servers running Flatcar and a block of public addresses for their virtual IPs.
// `npm run demo` runs it against the built-in lab; point baremetal:store at your own
// inventory (and baremetal:bootServerUrl at your boot server) to run it on real racks.
import * as pulumi from "@pulumi/pulumi";
import { IpReservation, Server } from "pulumi-baremetal";

const config = new pulumi.Config();
const facility = config.get("facility") ?? "lab";
const plan = config.get("plan") ?? "lab.small";
const count = config.getNumber("servers") ?? 3;
const project = config.get("project") ?? "demo";
const sshKey =
  config.get("sshKey") ??
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyDemoKeyDemoKeyDemoKeyDemoKeyDemo0 demo@baremetal";

const vips = new IpReservation("web-vips", {
  project,
  facility,
  type: "public_ipv4",
  quantity: 4,
  tags: ["web"],
});

const servers = Array.from(
  { length: count },
  (_, i) =>
    new Server(`web-${i + 1}`, {
      project,
      facility,
      plan,
      hostname: `${config.get("hostnamePrefix") ?? "web"}-${i + 1}`,
      operatingSystem: "flatcar_stable",
      sshKeys: [sshKey],
      tags: ["web", config.get("release") ?? "v1"],
      userData: config.get("userData"),
      provisionTimeoutSeconds: config.getNumber("provisionTimeoutSeconds") ?? 1800,
    }),
);

export const vipBlock = vips.cidr;
export const web = servers.map((s) => ({
  hostname: s.hostname,
  machine: s.machine,
  publicIpv4: s.accessPublicIpv4,
  privateIpv4: s.accessPrivateIpv4,
  publicIpv6: s.accessPublicIpv6,
  state: s.state,
}));
