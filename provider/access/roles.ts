// Who may do what in a project. Roles are ordered: each can do what the ones below it can.
//   read_only     reads the project's resources
//   collaborator  adds, changes and removes servers, reservations and VLANs
//   admin         adds, changes and removes members other than owners
//   owner         adds, changes and removes owners

export const ROLES = ["read_only", "collaborator", "admin", "owner"] as const;
export type Role = (typeof ROLES)[number];

export const ACTIONS = [
  "read",
  "server.write",
  "reservation.write",
  "vlan.write",
  "member.write",
  "owner.write",
] as const;
export type Action = (typeof ACTIONS)[number];

const NEEDS: Record<Action, Role> = {
  read: "read_only",
  "server.write": "collaborator",
  "reservation.write": "collaborator",
  "vlan.write": "collaborator",
  "member.write": "admin",
  "owner.write": "owner",
};

export const rank = (r: Role) => ROLES.indexOf(r);

/** The least role that may do `action`. */
export const roleFor = (action: Action): Role => NEEDS[action];

export const can = (role: Role | undefined, action: Action): boolean =>
  role !== undefined && rank(role) >= rank(NEEDS[action]);

/** Granting, changing or taking away `role` (before or after) is a member or an owner change. */
export const memberAction = (...roles: (Role | undefined)[]): Action =>
  roles.includes("owner") ? "owner.write" : "member.write";
