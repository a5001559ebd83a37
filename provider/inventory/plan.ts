// From what the store holds and what the file says to the changes that make them agree. Pure:
// the store applies the result in one transaction and re-checks each change's precondition.
import type { InventoryChange, InventoryFile, InventoryState } from "./types";

export interface InventoryPlan {
  changes: InventoryChange[];
  /** In the store but not in the file, kept because prune was not asked for. */
  kept: string[];
}

/** Key order and absent-vs-undefined do not make two specs different. */
function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

function diff<T>(
  kind: "facility" | "plan" | "switch" | "machine",
  have: T[],
  want: T[],
  key: (t: T) => string,
  spec: (t: T) => unknown,
  prune: boolean,
  out: InventoryPlan,
): void {
  const current = new Map(have.map((h) => [key(h), h]));
  const wanted = new Set(want.map(key));
  for (const w of want) {
    const h = current.get(key(w));
    if (!h) out.changes.push({ kind, op: "add", spec: w } as InventoryChange);
    else if (!same(spec(h), spec(w)))
      out.changes.push({ kind, op: "update", spec: w, before: spec(h) } as InventoryChange);
  }
  for (const h of have) {
    if (wanted.has(key(h))) continue;
    if (kind === "facility" || !prune) out.kept.push(`${kind} ${key(h)}`);
    else
      out.changes.push(
        kind === "machine"
          ? { kind, op: "remove", id: key(h) }
          : ({ kind, op: "remove", name: key(h) } as InventoryChange),
      );
  }
}

const machineSpec = ({
  state: _s,
  stateReason: _r,
  owner: _o,
  updatedAt: _u,
  ...spec
}: InventoryState["machines"][number]) => spec;

export function planInventory(
  have: InventoryState,
  want: InventoryFile,
  opts: { prune: boolean },
): InventoryPlan {
  const out: InventoryPlan = { changes: [], kept: [] };
  // Facilities are never removed from here: pools, reservations and history hang off them.
  diff(
    "facility",
    have.facilities,
    want.facilities,
    (f) => f.code,
    (f) => f,
    opts.prune,
    out,
  );
  diff(
    "plan",
    have.plans,
    want.plans,
    (p) => p.name,
    (p) => p,
    opts.prune,
    out,
  );
  diff(
    "switch",
    have.switches,
    want.switches,
    (s) => s.name,
    (s) => s,
    opts.prune,
    out,
  );
  diff(
    "machine",
    have.machines.map(machineSpec),
    want.machines,
    (m) => m.id,
    (m) => m,
    opts.prune,
    out,
  );
  // Order: what others refer to is added first and removed last; machines leave before others
  // arrive, so a machine re-entered under a new id can take over its serial, MACs and ports.
  const ORDER = [
    "facility:add",
    "facility:update",
    "plan:add",
    "plan:update",
    "switch:add",
    "switch:update",
    "machine:remove",
    "machine:add",
    "machine:update",
    "switch:remove",
    "plan:remove",
  ];
  const rank = (c: InventoryChange) => ORDER.indexOf(`${c.kind}:${c.op}`);
  out.changes.sort((a, b) => rank(a) - rank(b));
  return out;
}

/** One line per change, like a plan: `+ machine r1-01`, `~ plan c3.small: memoryGb 32 -> 64`. */
export function describeChanges(plan: InventoryPlan): string[] {
  const lines = plan.changes.map((c) => {
    const id =
      "spec" in c
        ? "code" in c.spec
          ? c.spec.code
          : "id" in c.spec
            ? c.spec.id
            : c.spec.name
        : "id" in c
          ? c.id
          : c.name;
    if (c.op === "add") return `+ ${c.kind} ${id}`;
    if (c.op === "remove") return `- ${c.kind} ${id}`;
    return `~ ${c.kind} ${id}: ${fieldChanges(c.before, c.spec).join(", ")}`;
  });
  return [
    ...lines,
    ...plan.kept.map(
      (k) =>
        `  ${k} is not in the file (kept; ${k.startsWith("facility ") ? "an apply never removes a facility" : "--prune removes it"})`,
    ),
  ];
}

function fieldChanges(before: unknown, after: unknown, path = ""): string[] {
  if (same(before, after)) return [];
  const isObj = (v: unknown) => v && typeof v === "object" && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = new Set([...Object.keys(before as object), ...Object.keys(after as object)]);
    return [...keys].flatMap((k) =>
      fieldChanges(
        (before as Record<string, unknown>)[k],
        (after as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
      ),
    );
  }
  return [`${path} ${JSON.stringify(before) ?? "(none)"} -> ${JSON.stringify(after) ?? "(none)"}`];
}
