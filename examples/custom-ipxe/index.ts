// A server that boots your own iPXE script instead of one of our installers: a URL to chain
// (netboot.xyz, your own installer) or an inline script starting with #!ipxe. As on Equinix
// Metal, the server is active once the machine has fetched the script: what it boots next is
// yours, and nothing of ours calls home. With alwaysPxe the machine keeps netbooting the
// script on every boot (a diskless or stateless system); without it, later boots go to disk.
import * as pulumi from "@pulumi/pulumi";
import { Server } from "pulumi-baremetal";

const config = new pulumi.Config();

const server = new Server("netboot", {
  project: config.get("project") ?? "demo",
  facility: config.get("facility") ?? "lab",
  plan: config.get("plan") ?? "lab.small",
  hostname: config.get("hostname") ?? "netboot-1",
  operatingSystem: "custom_ipxe",
  ipxeScriptUrl: config.get("ipxeScriptUrl") ?? "https://boot.netboot.xyz/",
  alwaysPxe: config.getBoolean("alwaysPxe") ?? true,
  provisionTimeoutSeconds: config.getNumber("provisionTimeoutSeconds") ?? 1800,
});

export const machine = server.machine;
export const state = server.state;
export const publicIpv4 = server.accessPublicIpv4;
