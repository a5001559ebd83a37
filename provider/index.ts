// The provider's entry point, loaded by the sdk's shim inside the dynamic-provider process
// as `require("pulumi-baremetal/provider")`.
import * as ipReservation from "./resources/ip-reservation";
import * as server from "./resources/server";

export { configure } from "./runtime";
export { resolveConfig, DEFAULT_STORE, type ProviderConfig } from "./config";
export { openStore } from "./store/open";
export type * from "./store/store";
export { IpamError, isIpamError } from "./ipam/errors";

/** Lifecycle of each resource kind, by the name in its type token. */
export const resources = {
  IpReservation: ipReservation,
  Server: server,
} as const;

export type ResourceKind = keyof typeof resources;
