import { Command } from "commander";
import { readAudit, type AuditEntry } from "../../provider/store/projects-sql";
import { STORE_HELP, withStore } from "../store-option";
import { table } from "../table";

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30m", "2h", "7d" back from now, or a date/time ISO 8601 can say. */
export function parseSince(text: string, now = Date.now()): string {
  const rel = /^(\d+)([mhd])$/.exec(text);
  if (rel) {
    const back = new Date(now - Number(rel[1]) * UNITS[rel[2]!]!);
    if (Number.isNaN(back.getTime()))
      throw new Error(
        `--since: ${text} reaches before any date there is; give e.g. 2h, 7d or 2026-11-25T09:00:00Z`,
      );
    return back.toISOString();
  }
  // Date.parse takes nearly anything ("2" is the year 2001): a date must start as one.
  const t = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t))
    throw new Error(`--since: ${text} is not a time; give e.g. 2h, 7d or 2026-11-25T09:00:00Z`);
  return new Date(t).toISOString();
}

/**
 * What each entry says happened. A started entry is `started`, or `unfinished` when no finished
 * entry of the same change follows it (the process died midway). The same change: the same
 * actor and action, and the same owner key (a create's started entry has no id yet) or, for
 * changes no stack made, the same resource. Entries come oldest first.
 */
export function results(entries: AuditEntry[]): string[] {
  const same = (a: AuditEntry, b: AuditEntry) =>
    a.actor === b.actor &&
    a.action === b.action &&
    (a.owner !== null ? a.owner === b.owner : a.resource === b.resource);
  const said = entries.map((e) => {
    if (e.stage === "started") return "unfinished";
    const after = e.after as { error?: string; refused?: string } | null;
    if (after?.refused) return `refused: ${after.refused}`;
    return after?.error ? `failed: ${after.error}` : "ok";
  });
  // A finished entry closes the latest open start of its change: of a run killed midway and
  // its rerun, the rerun's start is the one that finished.
  const open: number[] = [];
  entries.forEach((e, i) => {
    if (e.stage === "started") return void open.push(i);
    // A refusal had no start: it closes nothing.
    if ((e.after as { refused?: string } | null)?.refused) return;
    for (let k = open.length - 1; k >= 0; k--) {
      if (!same(entries[open[k]!]!, e)) continue;
      said[open.splice(k, 1)[0]!] = "started";
      break;
    }
  });
  return said;
}

export function auditCommand(): Command {
  return new Command("audit")
    .description(
      "every change to servers, reservations, VLANs and members: who, when, what, and the hardware commands",
    )
    .option(
      "--events",
      "the store's event log instead: operators' changes (inventory apply, machine states, pools) and the servers' progress",
    )
    .option("--project <name>", "only this project")
    .option("--since <when>", "only from then: 30m, 2h, 7d, or a date/time")
    .option("--limit <n>", "the newest this many entries (printed oldest first)", "1000")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON (with before and after)")
    .action(
      async (o: {
        events?: boolean;
        project?: string;
        since?: string;
        limit: string;
        store?: string;
        json?: boolean;
      }) => {
        const since = o.since === undefined ? undefined : parseSince(o.since);
        const limit = Number(o.limit);
        if (!Number.isInteger(limit) || limit < 1)
          throw new Error(`--limit: ${o.limit} is not a positive whole number`);
        if (o.events && o.project !== undefined)
          throw new Error("--project: the event log is not by project; leave it out with --events");
        await withStore(o.store, async (store) => {
          if (o.events) {
            const events = (await store.events(limit))
              .filter((e) => since === undefined || e.at >= since)
              .reverse();
            console.log(
              o.json
                ? JSON.stringify(events, null, 2)
                : table(
                    ["AT", "ACTOR", "ACTION", "SUBJECT", "DETAIL"],
                    events.map((e) => [e.at, e.actor, e.action, e.subject, JSON.stringify(e.detail ?? null)]),
                  ),
            );
            return;
          }
          const entries = await store.transact(() => readAudit({ project: o.project, since, limit }), "read");
          const said = results(entries);
          console.log(
            o.json
              ? JSON.stringify(entries, null, 2)
              : table(
                  ["AT", "ACTOR", "PROJECT", "ACTION", "RESOURCE", "OWNER", "COMMANDS", "RESULT"],
                  entries.map((e, i) => [
                    e.at,
                    e.actor,
                    e.project,
                    e.action,
                    e.resource,
                    e.owner,
                    e.commands.length,
                    said[i]!,
                  ]),
                ),
          );
        });
      },
    );
}
