// A production API cluster: three servers spread across racks, their disks wiped on delete,
// booting from disk once installed, and a small public block for their virtual IPs. Preview
// and deploy it with the policy pack, which holds every production stack to that:
//   pulumi preview --policy-pack ../../policy --policy-pack-config policy-config.json
import * as pulumi from "@pulumi/pulumi";
import { IpReservation, Server } from "pulumi-baremetal";

const config = new pulumi.Config();
const facility = config.get("facility") ?? "lab";
const plan = config.get("plan") ?? "lab.small";
const project = config.get("project") ?? "demo";

const vips = new IpReservation("api-vips", {
  project,
  facility,
  type: "public_ipv4",
  quantity: config.getNumber("vipQuantity") ?? 4,
  tags: ["api"],
});

const servers = Array.from(
  { length: config.getNumber("servers") ?? 3 },
  (_, i) =>
    new Server(`api-${i + 1}`, {
      project,
      facility,
      plan,
      hostname: `api-${i + 1}`,
      operatingSystem: "flatcar_stable",
      tags: ["cluster:api"],
      wipeOnDelete: config.getBoolean("wipeOnDelete") ?? true,
      alwaysPxe: config.getBoolean("alwaysPxe") ?? false,
      provisionTimeoutSeconds: config.getNumber("provisionTimeoutSeconds") ?? 1800,
    }),
);

export const vipBlock = vips.cidr;
export const api = servers.map((s) => ({ hostname: s.hostname, machine: s.machine, rack: s.rack }));
