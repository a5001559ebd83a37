// The hardware commands an operation issued, for the audit log: drivers note each change they
// send (never a credential: those travel in environment variables and headers, not in the
// commands noted here), and whoever wants them collects what was noted inside a call.
import { AsyncLocalStorage } from "node:async_hooks";

const current = new AsyncLocalStorage<string[]>();

export function noteCommand(text: string): void {
  current.getStore()?.push(text);
}

/** Runs fn; `commands` holds what the drivers noted during it, even when it failed. */
export async function collectCommands<T>(fn: () => Promise<T>): Promise<{ result: T; commands: string[] }> {
  const commands: string[] = [];
  try {
    return { result: await current.run(commands, fn), commands };
  } catch (e) {
    throw Object.assign(e as object, { commands });
  }
}

/** What a failed collectCommands noted before it failed. */
export const commandsOf = (e: unknown): string[] => (e as { commands?: string[] })?.commands ?? [];
