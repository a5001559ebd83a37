import * as pulumi from "@pulumi/pulumi";
import { IpReservation } from "pulumi-baremetal";

// How many addresses the second block holds; a power of two.
const config = new pulumi.Config();
const backendSize = config.getNumber("backendSize") ?? 8;
const withBackend = config.getBoolean("withBackend") ?? true;
const backendDescription = config.get("backendDescription");

const frontend = new IpReservation("frontend", {
  project: "demo",
  facility: "lab1",
  type: "private_ipv4",
  quantity: 16,
  tags: ["frontend"],
  description: "load balancers",
});

export const frontendCidr = frontend.cidr;
export const frontendGateway = frontend.gateway;

const backend = withBackend
  ? new IpReservation("backend", {
      project: "demo",
      facility: "lab1",
      type: "private_ipv4",
      quantity: backendSize,
      tags: ["backend"],
      description: backendDescription,
    })
  : undefined;

// null, not undefined, when the backend is left out: Pulumi drops undefined outputs with a warning.
export const backendCidr = backend?.cidr ?? null;
