// The texts of IPAM errors, shared by every backend so the same mistake reads the same way
// whichever database answers. PostgreSQL raises only a code and the facts; these format them.
import { IpamError } from "./errors";

export interface PoolRef {
  name: string;
  cidr: string;
}

const list = (pools: PoolRef[]) => pools.map((p) => `${p.name} ${p.cidr}`).join(", ");
export const scope = (facility: string | null) => (facility === null ? "global" : `facility ${facility}`);

export const noPool = (type: string, facility: string | null, project: string) =>
  new IpamError(
    "PoolNotFound",
    `no ${type} pool in ${scope(facility)} serves project ${project}; add one with \`baremetal ipam pool add\``,
  );

export const notInsideAnyPool = (cidr: string, type: string, facility: string | null, pools: PoolRef[]) =>
  new IpamError(
    "InvalidRequest",
    `${cidr} is not inside any ${type} pool in ${scope(facility)} (pools: ${list(pools)})`,
  );

export const largerThanPool = (prefix: number, pool: PoolRef) =>
  new IpamError(
    "InvalidRequest",
    `a /${prefix} block is larger than pool ${pool.name} (${pool.cidr}) can ever hold`,
  );

export const noSpaceLeft = (
  type: string,
  prefix: number,
  facility: string | null,
  project: string,
  pools: PoolRef[],
) =>
  new IpamError(
    "NoSpaceLeft",
    `no ${type} /${prefix} block is free in ${scope(facility)} for project ${project}: pool(s) ${list(pools)} have no room at that size`,
  );

export const alreadyAllocated = (cidr: string, pool: PoolRef) =>
  new IpamError(
    "AlreadyAllocated",
    `${cidr} in pool ${pool.name} (${pool.cidr}) is already allocated, in whole or in part`,
  );

export const poolOverlap = (name: string, cidr: string, other: PoolRef) =>
  new IpamError("PoolOverlap", `pool ${name} (${cidr}) overlaps pool ${other.name} (${other.cidr})`);

export const poolExists = (name: string) => new IpamError("InvalidRequest", `pool ${name} already exists`);

export const poolMissing = (name: string) => new IpamError("PoolNotFound", `pool ${name} does not exist`);

export const poolInUse = (name: string, n: number) =>
  new IpamError("PoolInUse", `pool ${name} still has ${n} reservation(s); release them first`);

export const facilityMissing = (code: string) =>
  new IpamError(
    "InvalidRequest",
    `facility ${code} does not exist; add it with \`baremetal facility add ${code}\``,
  );

export const reservationMissing = (id: string) =>
  new IpamError("ReservationNotFound", `reservation ${id} does not exist`);

export const reservationInUse = (id: string, cidr: string, servers: string[]) =>
  new IpamError(
    "ReservationInUse",
    `reservation ${id} (${cidr}) still has addresses assigned to ${servers.join(", ")}; unassign them first`,
  );

export const assignmentNoSpace = (cidr: string, what: string) =>
  new IpamError("NoSpaceLeft", `reservation ${cidr} has no free ${what} left to assign`);
