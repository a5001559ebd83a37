// The check every mutation makes before it touches anything: is the actor a member of the
// project with a role that allows the action? On SQLite the actor is `baremetal:actor` (one
// user's file); on PostgreSQL the database also enforces it for each login (see
// docs/architecture.md), so a client that skipped this check would still be refused.
import type { Op } from "../store/inventory-sql";
import { projectRole } from "../store/projects-sql";
import type { Store } from "../store/store";
import { AccessError } from "./errors";
import { can, roleFor, type Action, type Role } from "./roles";

const WHAT: Record<Action, string> = {
  read: "read",
  "server.write": "change servers",
  "reservation.write": "change IP reservations",
  "vlan.write": "change VLANs",
  "member.write": "change members",
  "owner.write": "change owners",
};

export async function authorize(store: Store, actor: string, project: string, action: Action): Promise<Role> {
  return store.transact(() => authorized(project, actor, action), "read");
}

/** The same check inside a transaction that goes on to make the change. */
export function* authorized(project: string, actor: string, action: Action): Op<Role> {
  const r = yield* projectRole(project, actor);
  if (!r.exists) {
    throw new AccessError(
      "ProjectNotFound",
      // On PostgreSQL a project the login is not in is invisible to it: the same answer.
      `project: ${project} does not exist, or ${actor} is not a member; an operator creates projects with ` +
        `\`baremetal project create ${project} --owner <email>\``,
    );
  }
  if (!can(r.role, action)) {
    throw new AccessError(
      "AccessDenied",
      `${actor} may not ${WHAT[action]} in project ${project}: that needs the ${roleFor(action)} role or higher, ` +
        (r.role ? `and ${actor} is ${r.role}` : `and ${actor} is not a member`),
    );
  }
  return r.role!;
}
