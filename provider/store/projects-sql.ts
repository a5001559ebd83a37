// Projects, their members and the audit log, written once for both backends (see
// inventory-sql.ts for how the generators run). Member changes of a project first touch its
// row, which PostgreSQL locks until commit: two admins demoting the last two owners at once
// run one after the other, and the second finds the first's change.
import { AccessError } from "../access/errors";
import { can, memberAction, roleFor, type Action, type Role } from "../access/roles";
import { event, where, type Op, type Query } from "./inventory-sql";

export interface Member {
  project: string;
  user: string;
  role: Role;
  sshKeys: string[];
  owner: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export interface Project {
  name: string;
  description: string | null;
  createdBy: string;
  createdAt: string;
  members: Member[];
}

export interface AuditEntry {
  at: string;
  actor: string;
  project: string | null;
  /** The Pulumi resource's key, `<organization>/<project>/<stack>/<name>`. */
  owner: string | null;
  /** `<Kind>:<id>`, e.g. `Server:7f9c...`. */
  resource: string;
  action: "create" | "update" | "delete";
  /** `started` is written before anything is touched; `finished` carries the outcome. */
  stage: "started" | "finished";
  before: unknown;
  after: unknown;
  /** Hardware commands issued, as the drivers recorded them (no secrets). */
  commands: string[];
}

const q = (sql: string, ...params: unknown[]): Query => ({ sql, params });
const json = (v: unknown) => (typeof v === "string" ? (JSON.parse(v) as unknown) : v);
const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v));

function toMember(r: Record<string, unknown>): Member {
  return {
    project: String(r.project),
    user: String(r.user_email),
    role: r.role as Role,
    sshKeys: json(r.ssh_keys) as string[],
    owner: r.owner === null ? null : String(r.owner),
    createdBy: String(r.created_by),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export function* readProject(name: string): Op<Project | undefined> {
  const { rows } = yield q("SELECT * FROM projects WHERE name = ?", name);
  const r = rows[0];
  if (!r) return undefined;
  return {
    name: String(r.name),
    description: r.description === null ? null : String(r.description),
    createdBy: String(r.created_by),
    createdAt: iso(r.created_at),
    members: yield* members(name),
  };
}

export function* listProjects(): Op<(Omit<Project, "members"> & { members: number; owners: string[] })[]> {
  const { rows } = yield q("SELECT * FROM projects ORDER BY name");
  const out = [];
  for (const r of rows) {
    const all = yield* members(String(r.name));
    out.push({
      name: String(r.name),
      description: r.description === null ? null : String(r.description),
      createdBy: String(r.created_by),
      createdAt: iso(r.created_at),
      members: all.length,
      owners: all.filter((m) => m.role === "owner").map((m) => m.user),
    });
  }
  return out;
}

export function* members(project: string): Op<Member[]> {
  const { rows } = yield q("SELECT * FROM project_members WHERE project = ? ORDER BY user_email", project);
  return rows.map(toMember);
}

/** Whether the project exists, and the user's role in it (undefined: not a member). */
export function* projectRole(project: string, user: string): Op<{ exists: boolean; role?: Role }> {
  const { rows } = yield q(
    `SELECT p.name, m.role FROM projects p LEFT JOIN project_members m ON m.project = p.name AND m.user_email = ?
     WHERE p.name = ?`,
    user,
    project,
  );
  if (!rows[0]) return { exists: false };
  return rows[0].role === null ? { exists: true } : { exists: true, role: rows[0].role as Role };
}

const WHAT: Record<Action, string> = {
  read: "read",
  "server.write": "change servers",
  "reservation.write": "change IP reservations",
  "vlan.write": "change VLANs",
  "member.write": "change members",
  "owner.write": "change owners",
};

/**
 * Is `actor` a member of `project` with a role that allows `action`? Refused with the actor,
 * the role needed and the role held (access/authorize.ts runs it on its own).
 */
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

/**
 * The SSH keys of the members who may change servers (collaborators and up): they go onto the
 * project's new servers. A read-only member reads the project; a root login on its servers
 * would be far more than that.
 */
export function* memberKeys(project: string): Op<string[]> {
  return (yield* members(project)).filter((m) => can(m.role, "server.write")).flatMap((m) => m.sshKeys);
}

export function* createProject(
  p: { name: string; description: string | null; owner: string; sshKeys?: string[] },
  actor: string,
  at: string,
): Op<Project> {
  const { changes } = yield q(
    "INSERT INTO projects (name, description, created_by, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
    p.name,
    p.description,
    actor,
    at,
  );
  if (changes !== 1) throw new AccessError("ProjectExists", `project ${p.name} already exists`);
  yield q(
    `INSERT INTO project_members (project, user_email, role, ssh_keys, owner, created_by, created_at, updated_at)
     VALUES (?, ?, 'owner', ?, NULL, ?, ?, ?)`,
    p.name,
    p.owner,
    JSON.stringify(p.sshKeys ?? []),
    actor,
    at,
    at,
  );
  yield* event(actor, "project.create", `project:${p.name}`, { owner: p.owner }, at);
  // Its first owner is a grant like any other: in the audit log, not only among the events.
  yield* appendAudit({
    at,
    actor,
    project: p.name,
    owner: null,
    resource: `Project:${p.name}`,
    action: "create",
    stage: "finished",
    before: null,
    after: { name: p.name, description: p.description, owner: p.owner },
    commands: [],
  });
  return (yield* readProject(p.name))!;
}

/** Touches the project's row: PostgreSQL holds its lock until commit (see the header). */
function* lockProject(project: string): Op<void> {
  const { changes } = yield q("UPDATE projects SET name = name WHERE name = ?", project);
  if (changes !== 1) throw new AccessError("ProjectNotFound", `project: ${project} does not exist`);
}

function* refuseNoOwner(project: string): Op<void> {
  const { rows } = yield q(
    "SELECT count(*) AS n FROM project_members WHERE project = ? AND role = 'owner'",
    project,
  );
  if (Number(rows[0]!.n) === 0) {
    throw new AccessError(
      "LastOwner",
      `project ${project} would have no owner left: make another member owner first`,
    );
  }
}

/** Adds a member; a rerun of the same resource (same owner key) takes its row over. */
export function* addMember(
  m: { project: string; user: string; role: Role; sshKeys: string[]; owner: string | null },
  actor: string,
  at: string,
): Op<{ member: Member; adopted: boolean }> {
  yield* lockProject(m.project);
  const { rows } = yield q(
    "SELECT * FROM project_members WHERE project = ? AND user_email = ?",
    m.project,
    m.user,
  );
  const prior = rows[0] && toMember(rows[0]);
  if (prior) {
    if (prior.owner === null || prior.owner !== m.owner) {
      throw new AccessError(
        "MemberExists",
        `user: ${m.user} is already ${prior.role} of project ${m.project}${prior.owner ? ` (through ${prior.owner})` : ""}`,
      );
    }
    return { member: yield* updateMember(m.project, m.user, m, actor, at), adopted: true };
  }
  // One person, two rows with two roles: addresses differ only in case for one mailbox in
  // practice, and the role checks compare them exactly.
  const { rows: alike } = yield q(
    "SELECT user_email, role FROM project_members WHERE project = ? AND lower(user_email) = lower(?)",
    m.project,
    m.user,
  );
  if (alike[0]) {
    throw new AccessError(
      "MemberExists",
      `user: ${m.user} is already ${String(alike[0].role)} of project ${m.project} as ${String(alike[0].user_email)} ` +
        "(addresses differing only in case are one person): use that spelling",
    );
  }
  yield q(
    `INSERT INTO project_members (project, user_email, role, ssh_keys, owner, created_by, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    m.project,
    m.user,
    m.role,
    JSON.stringify(m.sshKeys),
    m.owner,
    actor,
    at,
    at,
  );
  yield* event(actor, "member.add", `project:${m.project}`, { user: m.user, role: m.role }, at);
  return { member: (yield* readMember(m.project, m.user))!, adopted: false };
}

export function* readMember(project: string, user: string): Op<Member | undefined> {
  const { rows } = yield q(
    "SELECT * FROM project_members WHERE project = ? AND user_email = ?",
    project,
    user,
  );
  return rows[0] && toMember(rows[0]);
}

/**
 * Changing or removing a member is judged by the row as it is now, not by what the caller
 * remembers of it (a stack's state): demoting or removing someone who is an owner takes an
 * owner. After lockProject, so the row cannot change before the write.
 */
function* mayChange(project: string, user: string, actor: string, to?: Role): Op<void> {
  const current = yield* readMember(project, user);
  if (current) yield* authorized(project, actor, memberAction(current.role, to));
}

export function* updateMember(
  project: string,
  user: string,
  change: { role: Role; sshKeys: string[] },
  actor: string,
  at: string,
): Op<Member> {
  yield* lockProject(project);
  yield* mayChange(project, user, actor, change.role);
  const { changes } = yield q(
    "UPDATE project_members SET role = ?, ssh_keys = ?, updated_at = ? WHERE project = ? AND user_email = ?",
    change.role,
    JSON.stringify(change.sshKeys),
    at,
    project,
    user,
  );
  if (changes !== 1)
    throw new AccessError("MemberNotFound", `user ${user} is not a member of project ${project}`);
  yield* refuseNoOwner(project);
  yield* event(actor, "member.update", `project:${project}`, { user, role: change.role }, at);
  return (yield* readMember(project, user))!;
}

export function* removeMember(project: string, user: string, actor: string, at: string): Op<boolean> {
  yield* lockProject(project);
  yield* mayChange(project, user, actor);
  const { changes } = yield q(
    "DELETE FROM project_members WHERE project = ? AND user_email = ?",
    project,
    user,
  );
  if (changes === 0) return false;
  yield* refuseNoOwner(project);
  yield* event(actor, "member.remove", `project:${project}`, { user }, at);
  return true;
}

export function* appendAudit(e: AuditEntry): Op<void> {
  yield q(
    `INSERT INTO audit (at, actor, project, owner, resource, action, stage, before, after, commands)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    e.at,
    e.actor,
    e.project,
    e.owner,
    e.resource,
    e.action,
    e.stage,
    e.before === undefined ? null : JSON.stringify(e.before),
    e.after === undefined ? null : JSON.stringify(e.after),
    JSON.stringify(e.commands),
  );
}

/** The newest `limit` entries that match, oldest first: a long log's tail, read in order. */
export function* readAudit(filter: { project?: string; since?: string; limit?: number }): Op<AuditEntry[]> {
  const w = where([
    ["project", filter.project],
    ["at >=", filter.since],
  ]);
  const { rows } = yield q(
    `SELECT * FROM audit ${w.sql} ORDER BY id DESC LIMIT ?`,
    ...w.params,
    filter.limit ?? 1000,
  );
  return rows.reverse().map((r) => ({
    at: iso(r.at),
    actor: String(r.actor),
    project: r.project === null ? null : String(r.project),
    owner: r.owner === null ? null : String(r.owner),
    resource: String(r.resource),
    action: r.action as AuditEntry["action"],
    stage: r.stage as AuditEntry["stage"],
    before: r.before === null ? null : json(r.before),
    after: r.after === null ? null : json(r.after),
    commands: json(r.commands) as string[],
  }));
}
