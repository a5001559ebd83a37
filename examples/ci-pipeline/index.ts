// The stack each CI run makes: one server to run the integration tests against.
import * as pulumi from "@pulumi/pulumi";
import { Server } from "pulumi-baremetal";

const config = new pulumi.Config();
const server = new Server("test-target", {
  project: config.get("project") ?? "demo",
  facility: config.get("facility") ?? "lab",
  plan: config.get("plan") ?? "lab.small",
  hostname: `ci-${pulumi.getStack()}`,
  operatingSystem: "flatcar_stable",
  sshKeys: config.get("sshKey") ? [config.require("sshKey")] : [],
  tags: ["ci", `run:${pulumi.getStack()}`],
  provisionTimeoutSeconds: config.getNumber("provisionTimeoutSeconds") ?? 1800,
});

export const address = server.accessPublicIpv4;
export const machine = server.machine;
