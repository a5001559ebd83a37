// A server's addresses: one block per requested address (owned by `<owner>#ip<n>`, so a rerun
// finds its blocks instead of taking new ones), or a host address from a reservation the
// user made. The server gets a host address of each, never the network, gateway or broadcast.
import { describeBlock } from "../ipam/addresses";
import { parseCidr } from "../ipam/cidr";
import type { Store } from "../store/store";
import type { ServerInputs } from "./inputs";

export interface NetworkAddress {
  address: string;
  /** The address with the block's prefix length, as the OS configures it. */
  cidr: string;
  gateway?: string;
  family: 4 | 6;
  public: boolean;
  type: string;
  reservationId: string;
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
  const out: NetworkAddress[] = [];
  for (const [i, want] of inputs.ipAddresses.entries()) {
    const reservation = want.reservationId
      ? await store.getReservation(want.reservationId)
      : await store.allocate({
          project: inputs.project,
          type: want.type,
          facility: inputs.facility,
          block: { prefixLength: want.prefixLength ?? (want.type === "public_ipv6" ? 127 : 31) },
          tags: [],
          description: `server ${inputs.hostname}`,
          owner: addressOwner(owner, i),
          actor,
        });
    if (!reservation)
      throw new Error(`ipAddresses[${i}].reservationId: no reservation ${want.reservationId}`);
    if (reservation.project !== inputs.project) {
      throw new Error(
        `ipAddresses[${i}].reservationId: reservation ${reservation.id} belongs to project ${reservation.project}`,
      );
    }
    // Looked up after the allocation: adopting an interrupted run's block gives it a new id.
    const held = await store.listAssignments({ reservationId: reservation.id });
    const assignment =
      held.find((a) => a.server === serverId) ??
      (await store.assign(
        reservation.id,
        { prefixLength: reservation.family === 4 ? 32 : 128 },
        serverId,
        actor,
      ));
    const block = describeBlock(parseCidr(reservation.cidr));
    out.push({
      address: assignment.address,
      cidr: `${assignment.address}/${reservation.prefixLength}`,
      gateway: block.gateway,
      family: reservation.family,
      public: reservation.type !== "private_ipv4",
      type: reservation.type,
      reservationId: reservation.id,
    });
  }
  return out;
}

/** Gives back every address of the server; blocks it allocated itself are released. Safe to repeat. */
export async function releaseAddresses(
  store: Store,
  serverId: string,
  owner: string,
  actor: string,
): Promise<void> {
  for (const a of await store.listAssignments({ server: serverId })) await store.unassign(a.id, actor);
  for (let i = 0; i < MAX_ADDRESSES; i++) {
    for (const r of await store.listReservations({ owner: addressOwner(owner, i) }))
      await store.release(r.id, actor);
  }
}
