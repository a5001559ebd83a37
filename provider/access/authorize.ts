// The check every mutation makes before it touches anything: is the actor a member of the
// project with a role that allows the action? On SQLite the actor is `baremetal:actor` (one
// user's file); on PostgreSQL the database also enforces it for each login (see
// docs/architecture.md), so a client that skipped this check would still be refused.
import { authorized } from "../store/projects-sql";
import type { Store } from "../store/store";
import type { Action, Role } from "./roles";

// The same check inside a transaction that goes on to make the change (it reads the project's
// tables, so it lives with them).
export { authorized };

export async function authorize(store: Store, actor: string, project: string, action: Action): Promise<Role> {
  return store.transact(() => authorized(project, actor, action), "read");
}
