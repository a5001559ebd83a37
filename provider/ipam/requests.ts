// Checks of pools and block requests that every store backend makes before touching data.
import { Block, familyBits, formatCidr, overlaps, parseCidr } from "./cidr";
import { IpamError } from "./errors";
import { poolExists, poolOverlap } from "./messages";
import { checkPoolSpace } from "./special-ranges";
import type { BlockRequest, NewPool, Pool, PoolType } from "../store/store";
import { POOL_TYPES, poolTypeFamily } from "../store/store";
import { NAME, NAME_RULE } from "../names";

/** Validates a new pool against the existing ones; returns its block. */
export function checkNewPool(pool: NewPool, existing: Pool[]): Block {
  if (!NAME.test(pool.name)) {
    throw new IpamError("InvalidRequest", `pool name "${pool.name}" is invalid: use ${NAME_RULE}`);
  }
  checkLabels({ description: pool.description });
  for (const [what, value] of [
    ["facility", pool.facility],
    ["project", pool.project],
  ] as const) {
    if (value !== null && !NAME.test(value)) {
      throw new IpamError(
        "InvalidRequest",
        `pool ${pool.name}: ${what} "${value}" is invalid: use ${NAME_RULE}`,
      );
    }
  }
  if (!POOL_TYPES.includes(pool.type)) {
    throw new IpamError(
      "InvalidRequest",
      `pool ${pool.name}: type "${pool.type}" is not one of ${POOL_TYPES.join(", ")}`,
    );
  }
  const block = parseCidr(pool.cidr);
  const family = poolTypeFamily(pool.type);
  if (block.family !== family) {
    throw new IpamError(
      "InvalidCidr",
      `pool ${pool.name}: ${pool.cidr} is IPv${block.family}, but a ${pool.type} pool holds IPv${family}`,
    );
  }
  checkPoolSpace(pool.name, pool.type, block);
  if (pool.type === "global_ipv4" && pool.facility !== null) {
    throw new IpamError("InvalidRequest", `pool ${pool.name}: a global_ipv4 pool has no facility`);
  }
  if (pool.type !== "global_ipv4" && pool.facility === null) {
    throw new IpamError("InvalidRequest", `pool ${pool.name}: a ${pool.type} pool needs a facility`);
  }
  if (existing.some((p) => p.name === pool.name)) throw poolExists(pool.name);
  for (const other of existing) {
    if (overlaps(block, parseCidr(other.cidr))) throw poolOverlap(pool.name, formatCidr(block), other);
  }
  return block;
}

export type ResolvedRequest = { kind: "size"; prefix: number } | { kind: "exact"; block: Block };

/** Turns a request into a prefix length or an exact block for the given family. */
export function resolveRequest(type: PoolType, request: BlockRequest): ResolvedRequest {
  const family = poolTypeFamily(type);
  const bits = familyBits(family);
  if ("cidr" in request) {
    const block = parseCidr(request.cidr);
    if (block.family !== family) {
      throw new IpamError(
        "InvalidCidr",
        `${request.cidr} is IPv${block.family}, but type ${type} holds IPv${family} addresses`,
      );
    }
    return { kind: "exact", block };
  }
  const p = request.prefixLength;
  if (!Number.isInteger(p) || p < 0 || p > bits) {
    throw new IpamError("InvalidRequest", `prefix length ${p} is out of range for IPv${family} (0-${bits})`);
  }
  return { kind: "size", prefix: p };
}

/** A facility's code, as ensureFacility takes it on every backend. */
export function checkFacilityCode(code: string): void {
  if (!NAME.test(code)) {
    throw new IpamError("InvalidRequest", `facility code "${code}" is invalid: use ${NAME_RULE}`);
  }
}

/**
 * Tags and descriptions as every backend keeps them: PostgreSQL's text and JSON refuse NUL, so
 * it is refused here, on SQLite too, with the field named.
 */
export function checkLabels(change: { tags?: string[]; description?: string | null }): void {
  const bad = (v: string) => v.includes("\0");
  const tag = change.tags?.findIndex(bad) ?? -1;
  if (tag >= 0) throw new IpamError("InvalidRequest", `tags[${tag}] contains a NUL character`);
  if (change.description && bad(change.description))
    throw new IpamError("InvalidRequest", "description contains a NUL character");
}
