// Ids of reservations and assignments: UUIDv7 (RFC 9562), random but starting with the time.
// Ids made one after another sort together, so each insert lands on the last page of the id
// index instead of a random one: fewer pages written per commit (and on PostgreSQL fewer
// full-page images in the WAL), which is most of an allocation's cost.
import { randomFillSync } from "node:crypto";

// Random bytes are drawn in batches: one call per id cost as much as the rest of making it.
const batch = Buffer.alloc(16 * 256);
let used = batch.length;

export function newId(now = Date.now()): string {
  if (used === batch.length) {
    randomFillSync(batch);
    used = 0;
  }
  const b = batch.subarray(used, used + 16);
  used += 16;
  // 48-bit milliseconds since the epoch, big-endian.
  b.writeUIntBE(now, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70; // version 7
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
