// Bookkeeping of versioned schema migrations, the same for every backend.
import type { MigrationState } from "./store";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Where a store stands, from the migrations it has applied and the ones this version knows. */
export function migrationState(applied: MigrationState["applied"], known: Migration[]): MigrationState {
  const done = new Set(applied.map((m) => m.version));
  return {
    current: applied.at(-1)?.version ?? 0,
    latest: known.at(-1)?.version ?? 0,
    applied,
    pending: known.filter((m) => !done.has(m.version)).map(({ version, name }) => ({ version, name })),
  };
}

/** An older pulumi-baremetal must not write to a store a newer one has changed. */
export function refuseNewer(state: MigrationState, location: string): void {
  if (state.current > state.latest) {
    throw new Error(
      `store ${location} is at schema version ${state.current}, newer than this pulumi-baremetal knows (${state.latest}); upgrade pulumi-baremetal`,
    );
  }
}
