// The provider's entry point, loaded by the sdk's shim inside the dynamic-provider process
// as `require("pulumi-baremetal/provider")`.
import * as ipReservation from "./resources/ip-reservation";
import * as projectMember from "./resources/project-member";
import * as server from "./resources/server";
import * as vlan from "./resources/vlan";

export { configure } from "./runtime";
export { resolveConfig, DEFAULT_STORE, type ProviderConfig } from "./config";
export { openStore } from "./store/open";
export type * from "./store/store";
export { IpamError, isIpamError } from "./ipam/errors";
export { VlanError, isVlanError } from "./vlans/errors";
export { AccessError, isAccessError } from "./access/errors";

/** Lifecycle of each resource kind, by the name in its type token. */
export const resources = {
  IpReservation: ipReservation,
  Server: server,
  Vlan: vlan,
  ProjectMember: projectMember,
} as const;

export type ResourceKind = keyof typeof resources;
