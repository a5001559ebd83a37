// A server's addresses: one block per requested address (owned by `<owner>#ip<n>`, so a rerun
// finds its blocks instead of taking new ones), or a host address from a reservation the
// user made. The server gets a host address of each, never the network, gateway or broadcast.
import { describeBlock } from "../ipam/addresses";
import { parseCidr } from "../ipam/cidr";
import { hostAssignment, type HostAddress, type Store } from "../store/store";
import { defaultPrefix, type ServerInputs } from "./inputs";

export interface NetworkAddress {
  address: string;
  /** The address with the block's prefix length, as the OS configures it. */
  cidr: string;
  gateway?: string;
  family: 4 | 6;
  public: boolean;
  type: string;
  reservationId: string;
  /** A private block's pool: reached through its gateway, the default route being public. */
  routes?: string[];
}

const MAX_ADDRESSES = 8;
export const addressOwner = (owner: string, i: number) => `${owner}#ip${i}`;

export async function allocateAddresses(
  store: Store,
  serverId: string,
  inputs: ServerInputs,
  owner: string,
  actor: string,
): Promise<NetworkAddress[]> {
  // The server's own blocks in one store call (one transaction on SQLite).
  const own = inputs.ipAddresses.flatMap((want, i) =>
    want.reservationId !== undefined
      ? []
      : [
          {
            project: inputs.project,
            type: want.type,
            facility: inputs.facility,
            block: { prefixLength: want.prefixLength ?? defaultPrefix(want.type) },
            tags: [],
            description: `server ${inputs.hostname}`,
            owner: addressOwner(owner, i),
            actor,
          },
        ],
  );
  const allocated = own.length ? await store.allocateHosts(own, serverId, actor) : [];
  const out: NetworkAddress[] = [];
  const describe = describer(store);
  for (const [i, want] of inputs.ipAddresses.entries()) {
    const host: HostAddress | undefined =
      want.reservationId !== undefined
        ? await fromReservation(store, want.reservationId, i, serverId, inputs, want.type, actor)
        : allocated.shift();
    out.push(await describe(host!));
  }
  return out;
}

/**
 * A server's addresses as the store holds them (for read and update), routes included, in the
 * order of its ipAddresses, as create gave them: a block of its own by the index in its owner
 * key (`addressOwner`), one drawn from a reservation by where `wanted` names that reservation.
 */
export async function serverAddresses(
  store: Store,
  serverId: string,
  wanted: { reservationId?: string }[] = [],
): Promise<NetworkAddress[]> {
  const describe = describer(store);
  const out: { at: number; address: NetworkAddress }[] = [];
  for (const assignment of await store.listAssignments({ server: serverId })) {
    const reservation = await store.getReservation(assignment.reservationId);
    if (!reservation) continue;
    const own = /#ip(\d+)$/.exec(reservation.owner ?? "");
    const drawn = wanted.findIndex((w) => w.reservationId === reservation.id);
    const at = own ? Number(own[1]) : drawn >= 0 ? drawn : Number.MAX_SAFE_INTEGER;
    out.push({ at, address: await describe({ reservation, assignment }) });
  }
  return out.sort((a, b) => a.at - b.at).map((x) => x.address);
}

/**
 * One address of the server's network output. A private block's pool is routed through the
 * block's gateway (servers reach each other's private addresses); its pools are looked up once.
 */
function describer(store: Store): (host: HostAddress) => Promise<NetworkAddress> {
  const poolCidrs = new Map<string, string | undefined>();
  const poolCidr = async (name: string) => {
    if (!poolCidrs.has(name)) poolCidrs.set(name, (await store.getPool(name))?.cidr);
    return poolCidrs.get(name);
  };
  return async ({ reservation, assignment }) => {
    const block = describeBlock(parseCidr(reservation.cidr));
    const pool = reservation.type === "private_ipv4" ? await poolCidr(reservation.poolName) : undefined;
    return {
      address: assignment.address,
      cidr: `${assignment.address}/${reservation.prefixLength}`,
      gateway: block.gateway,
      family: reservation.family,
      public: reservation.type !== "private_ipv4",
      type: reservation.type,
      reservationId: reservation.id,
      ...(pool ? { routes: [pool] } : {}),
    };
  };
}

/** A host address from a reservation the user made (and owns). */
async function fromReservation(
  store: Store,
  reservationId: string,
  i: number,
  serverId: string,
  server: { project: string; facility: string },
  type: string,
  actor: string,
): Promise<HostAddress> {
  const field = `ipAddresses[${i}].reservationId`;
  const reservation = await store.getReservation(reservationId);
  if (!reservation) throw new Error(`${field}: no reservation ${reservationId}`);
  if (reservation.project !== server.project) {
    throw new Error(`${field}: reservation ${reservation.id} belongs to project ${reservation.project}`);
  }
  // A global IPv4 block is public IPv4 reachable in every facility.
  const global = reservation.type === "global_ipv4" && type === "public_ipv4";
  if (reservation.type !== type && !global) {
    throw new Error(
      `${field}: reservation ${reservation.id} (${reservation.cidr}) is ${reservation.type}, but ipAddresses[${i}].type is ${type}`,
    );
  }
  if (!global && reservation.facility !== server.facility) {
    throw new Error(
      `${field}: reservation ${reservation.id} (${reservation.cidr}) is in facility ${reservation.facility}, ` +
        `not the server's ${server.facility}`,
    );
  }
  const assignment = await hostAssignment(store, reservation, serverId, actor);
  return { reservation, assignment };
}

/** Gives back every address of the server; blocks it allocated itself are released. Safe to repeat. */
export async function releaseAddresses(
  store: Store,
  serverId: string,
  owner: string,
  actor: string,
): Promise<void> {
  // Each one on its own: one that cannot be given back does not keep the others.
  const failed: string[] = [];
  const attempt = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (e) {
      failed.push(`${what}: ${(e as Error).message}`);
    }
  };
  for (const a of await store.listAssignments({ server: serverId }))
    await attempt(`address ${a.address}`, () => store.unassign(a.id, actor));
  for (let i = 0; i < MAX_ADDRESSES; i++) {
    for (const r of await store.listReservations({ owner: addressOwner(owner, i) }))
      await attempt(`block ${r.cidr}`, () => store.release(r.id, actor));
  }
  if (failed.length > 0) throw new Error(`could not release ${failed.join("; ")}`);
}
