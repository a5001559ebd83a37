// The provider's entry point, loaded by the sdk's shim inside the dynamic-provider process
// as `require("pulumi-baremetal/provider")`.
import { persistCompileCache } from "./compile-cache";
import * as ipReservation from "./resources/ip-reservation";
import * as projectMember from "./resources/project-member";
import * as server from "./resources/server";
import * as vlan from "./resources/vlan";

import { configure } from "./runtime";
import { flushProgress } from "./servers/progress";

export { configure };
export { resolveConfig, DEFAULT_STORE, type ProviderConfig } from "./config";
export { openStore } from "./store/open";
export type * from "./store/store";
export { IpamError, isIpamError } from "./ipam/errors";
export { VlanError, isVlanError } from "./vlans/errors";
export { AccessError, isAccessError } from "./access/errors";

/**
 * Lifecycle of each resource kind, by the name in its type token. Stacks whose state was
 * written by versions before `shim` hold a provider that calls into this table by name
 * (`resources[kind].check(...)` and so on): it stays as it is.
 */
export const resources = {
  IpReservation: ipReservation,
  Server: server,
  Vlan: vlan,
  ProjectMember: projectMember,
} as const;

export type ResourceKind = keyof typeof resources;

/**
 * The provider object Pulumi's dynamic-provider host calls for one kind: what the sdk's
 * one-line `__provider` (sdk/provider-shim.ts) hands it. The lifecycle functions are the
 * kind's own, under the host's method names.
 */
export function shim(kind: ResourceKind) {
  const r = resources[kind];
  return {
    async configure(req: { config: { get(key: string): string | undefined } }) {
      configure((key) => req.config.get(key));
    },
    check: cached(
      `${kind}.check`,
      async (olds: never, news: never) => stamped(kind, await r.check(olds, news)),
      false,
    ),
    // The stamp is for policies: the lifecycle never sees it, so it reaches no output, stored
    // spec or audit record.
    diff: cached(
      `${kind}.diff`,
      (id: string, olds: never, news: never) => r.diff(id, plain(olds), plain(news)),
      false,
    ),
    create: cached(`${kind}.create`, (inputs: never) => r.create(plain(inputs)), true),
    read: cached(`${kind}.read`, (id: string, props: never) => r.read(id, plain(props)), true),
    update: cached(
      `${kind}.update`,
      (id: string, olds: never, news: never) => r.update(id, plain(olds), plain(news)),
      true,
    ),
    delete: cached(`${kind}.delete`, (id: string, props: never) => r.remove(id, plain(props)), true),
  };
}

/** The inputs (or state) without the policy stamp. */
function plain<T>(props: T): T {
  if (typeof props !== "object" || props === null || !("baremetalKind" in props)) return props;
  const { baremetalKind: _stamp, ...rest } = props as Record<string, unknown>;
  return rest as T;
}

/**
 * The checked inputs say which of our resources they are (`baremetalKind`): policy packs see a
 * resource's checked inputs and type token, never its `__provider`, and a program can run our
 * provider under another token. The engine keeps what check returns, so the kind is the
 * provider's word, not the program's.
 */
function stamped<R extends { inputs?: object }>(kind: ResourceKind, result: R): R {
  return result.inputs ? { ...result, inputs: { ...result.inputs, baremetalKind: kind } } : result;
}

/**
 * The same function, ending with the compile cache written (see persistCompileCache) and, for
 * the operations that show progress (those that touch hardware), its lines delivered: the
 * engine may stop showing them once it has the result. check and diff show none, and waiting
 * there would only send other servers' gathering lines early.
 */
function cached<F extends (...args: never[]) => Promise<unknown>>(op: string, fn: F, hardware: boolean): F {
  return (async (...args: Parameters<F>) => {
    try {
      return await fn(...args);
    } finally {
      if (hardware) await flushProgress();
      persistCompileCache(op);
    }
  }) as F;
}
