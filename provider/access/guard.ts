// Every mutation of a resource goes through here: the actor's role in the project is checked
// first, then the change runs with the hardware commands it issues collected, and the audit
// log gets one entry (after the change, or the error that stopped it) either way.
import type { ProviderConfig } from "../config";
import type { CommandLog } from "../hardware/commands";
import { appendAudit, type AuditEntry } from "../store/projects-sql";
import type { Op } from "../store/inventory-sql";
import type { Store } from "../store/store";
import { progress } from "../servers/progress";
import { authorized } from "./authorize";
import { AccessError } from "./errors";
import type { Action } from "./roles";

export interface Mutation {
  kind: string;
  action: AuditEntry["action"];
  project: string;
  /** The Pulumi resource's key. */
  owner: string | null;
  permission: Action;
  /** The resource's id when it already has one (update, delete). */
  id?: string;
  before?: unknown;
}

// ipxeScriptUrl: a custom iPXE script, or a URL that may carry a token, holds what userData does.
const SECRET = /password|secret|token|privatekey|userdata|customdata|ipxescript/i;

/** A copy with every value under a secret-looking key replaced: the log must not leak them. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      SECRET.test(k) && v !== undefined && v !== null ? "[redacted]" : redact(v),
    ]),
  );
}

/**
 * The role check and the started entry, as the first step of a transaction: what `guarded`
 * commits on its own before the change, unless the change opens itself (see `guarded`).
 */
export type Opening = () => Op<void>;

/** What a change runs with: its store, its configuration, and the log of what it sends to hardware. */
export interface Operation {
  store: Store;
  config: ProviderConfig;
  /** The hardware commands the change sends are noted here, for its audit entry. */
  log: CommandLog;
}

/**
 * Runs `fn` as the actor's change, checked and logged. With `opensItself`, `fn` runs `opening`
 * first in the transaction of its first change, before it touches anything (a Server's claim):
 * one durable commit less per change, and the started entry is still in before any hardware
 * is. It throws the AccessError unwrapped when `opening` refuses.
 */
export async function guarded<T>(
  ctx: { store: Store; config: ProviderConfig },
  m: Mutation,
  fn: (op: Operation, opening: Opening) => Promise<T>,
  describe: (result: T) => { id: string; after: unknown },
  options: { opensItself?: boolean } = {},
): Promise<T> {
  const actor = ctx.config.actor;
  const entry = (
    stage: AuditEntry["stage"],
    id: string | undefined,
    after: unknown,
    commands: string[],
  ): AuditEntry => ({
    at: new Date().toISOString(),
    actor,
    project: m.project,
    owner: m.owner,
    resource: `${m.kind}:${id ?? "(none)"}`,
    action: m.action,
    stage,
    before: m.before === undefined ? null : redact(m.before),
    after: after === undefined ? null : redact(after),
    commands,
  });
  // The role check and the started entry, in one transaction before anything is touched; the
  // change is refused if the entry cannot be written (as Vault's audit does): a change the
  // process dies in the middle of still has its entry.
  const opening: Opening = function* () {
    yield* authorized(m.project, actor, m.permission);
    yield* appendAudit(entry("started", m.id, undefined, []));
  };
  // A refusal is in the log too, on its own: the check's transaction rolled back. PostgreSQL
  // takes a project's entries only from its members: a stranger's goes in without the project
  // (operators see it; the project's members are not shown what a stranger wrote), naming it in
  // `after`. Best effort: the refusal is what the caller gets either way.
  const refused = async (e: AccessError) => {
    const refusal = entry("finished", m.id, undefined, []);
    const why = `${e.code}: ${e.message}`;
    const write = (a: AuditEntry) => ctx.store.transact(() => appendAudit(a));
    await write({ ...refusal, after: { refused: why } })
      .catch(() => write({ ...refusal, project: null, after: { refused: why, project: m.project } }))
      .catch(() => undefined);
  };
  if (!options.opensItself) {
    try {
      await ctx.store.transact(opening);
    } catch (e) {
      if (e instanceof AccessError) await refused(e);
      throw e;
    }
  }
  const commands: string[] = [];
  const op: Operation = { ...ctx, log: (command) => commands.push(command) };
  let result: T;
  try {
    result = await fn(op, options.opensItself ? opening : function* () {});
  } catch (e) {
    if (options.opensItself && e instanceof AccessError) {
      await refused(e);
      throw e;
    }
    const failed = entry("finished", m.id, { error: (e as Error).message }, commands);
    await ctx.store.transact(() => appendAudit(failed)).catch(() => undefined);
    throw e;
  }
  const { id, after } = describe(result);
  // The change is done: failing now would hide from the engine a resource that exists (the
  // store and hardware hold it). Try the entry again once, then say so loudly and go on; the
  // started entry is there either way.
  const record = () => ctx.store.transact(() => appendAudit(entry("finished", id, after, commands)));
  await record()
    .catch(record)
    .catch((e: Error) => progress(`audit entry for ${m.kind} ${id} (${m.action}) not written: ${e.message}`));
  return result;
}
