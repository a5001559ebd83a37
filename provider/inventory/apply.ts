// `baremetal inventory apply`: the file against the store, as a plan of changes, applied in one
// transaction. Pools listed under a facility are added through the IPAM when missing (each
// its own transaction, after the rest, but checked before anything is written); a pool that
// exists with other settings is refused, because resizing or moving a pool with reservations is
// the IPAM's business.
import { formatCidr, parseCidr } from "../ipam/cidr";
import { checkNewPool } from "../ipam/requests";
import type { NewPool, Pool, Store } from "../store/store";
import { describeChanges, planInventory } from "./plan";
import { InventoryError, parseInventory, toInventoryFile } from "./schema";

export interface ApplyResult {
  /** Human-readable plan lines (+ add, ~ change, - remove). */
  lines: string[];
  changed: boolean;
}

export async function applyInventoryFile(
  store: Store,
  text: string,
  opts: { prune: boolean; dryRun: boolean; actor: string },
): Promise<ApplyResult> {
  const parsed = parseInventory(text);
  const plan = planInventory(await store.inventory(), toInventoryFile(parsed), opts);

  const existing = await store.listPools();
  const pools: NewPool[] = [];
  // Pools in the store whose description the file changes: the one thing that changes in place.
  const described: NewPool[] = [];
  const problems: string[] = [];
  for (const f of parsed.facilities) {
    for (const p of f.pools) {
      let cidr: string;
      try {
        cidr = formatCidr(parseCidr(p.cidr));
      } catch (e) {
        problems.push(`facility ${f.code}: pool ${p.name}: ${(e as Error).message}`);
        continue;
      }
      const want: NewPool = {
        name: p.name,
        type: p.type,
        cidr,
        facility: f.code,
        project: p.project ?? null,
        description: p.description ?? null,
      };
      const have = existing.find((e) => e.name === p.name);
      if (!have) {
        // The IPAM's own checks (type and family, global or not, overlaps with the store's pools
        // and the file's), now: refused later, the rest of the file would already be applied.
        try {
          checkNewPool(want, [...existing, ...(pools as Pool[])]);
          pools.push(want);
        } catch (e) {
          problems.push(`facility ${f.code}: ${(e as Error).message}`);
        }
      } else if (
        have.type !== want.type ||
        have.cidr !== want.cidr ||
        have.facility !== want.facility ||
        have.project !== want.project
      ) {
        const shown = (v: string | null, none: string) => v ?? none;
        const differ = [
          ["type", have.type, want.type],
          ["cidr", have.cidr, want.cidr],
          ["facility", shown(have.facility, "global"), shown(want.facility, "global")],
          ["project", shown(have.project, "any project"), shown(want.project, "any project")],
        ].filter(([, a, b]) => a !== b);
        problems.push(
          `facility ${f.code}: pool ${p.name} exists with ${differ.map(([k, a, b]) => `${k} ${a}, the file says ${b}`).join("; ")}: ` +
            "a pool's type, range, facility and project do not change in place; remove it with `baremetal ipam pool remove` " +
            "(once it has no reservations) and apply again, or put the file back",
        );
      } else if ((have.description ?? null) !== want.description) {
        described.push(want);
      }
    }
  }
  if (problems.length) throw new InventoryError(problems);

  const quoted = (d: string | null | undefined) => (d ? JSON.stringify(d) : "(none)");
  const lines = [
    ...describeChanges(plan),
    ...pools.map((p) => `+ pool ${p.name} ${p.type} ${p.cidr} (${p.facility})`),
    ...described.map(
      (p) =>
        `~ pool ${p.name}: description ${quoted(existing.find((e) => e.name === p.name)?.description)} -> ${quoted(p.description)}`,
    ),
  ];
  const changed = plan.changes.length > 0 || pools.length > 0 || described.length > 0;
  if (!changed) return { lines, changed };
  // A dry run too: refused for what the real one would be (a machine in use, hardware another
  // machine has), then undone.
  if (plan.changes.length > 0)
    await store.applyInventory(plan.changes, opts.actor, { rollback: opts.dryRun });
  if (opts.dryRun) return { lines, changed };
  for (const p of pools) await store.addPool(p, opts.actor);
  for (const p of described) await store.describePool(p.name, p.description ?? null, opts.actor);
  return { lines, changed };
}
