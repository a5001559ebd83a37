// Roles, and what the audit log keeps out.
import { redact } from "../../provider/access/guard";
import { ACTIONS, ROLES, can, memberAction } from "../../provider/access/roles";

test("each role can do what the roles below it can, and more", () => {
  const matrix = Object.fromEntries(ROLES.map((r) => [r, ACTIONS.filter((a) => can(r, a))]));
  expect(matrix).toEqual({
    read_only: ["read"],
    collaborator: ["read", "server.write", "reservation.write", "vlan.write"],
    admin: ["read", "server.write", "reservation.write", "vlan.write", "member.write"],
    owner: ["read", "server.write", "reservation.write", "vlan.write", "member.write", "owner.write"],
  });
  expect(ACTIONS.filter((a) => can(undefined, a))).toEqual([]);
  expect(memberAction("collaborator", "admin")).toBe("member.write");
  expect(memberAction("owner", "admin")).toBe("owner.write");
  expect(memberAction("admin", "owner")).toBe("owner.write");
});

test("secrets never reach the audit log", () => {
  expect(
    redact({
      hostname: "web-1",
      rootPassword: "hunter2",
      userData: "#cloud-config\npassword: x",
      nested: [{ bmcPassword: "p", token: "t", ok: 1 }],
      empty: null,
    }),
  ).toEqual({
    hostname: "web-1",
    rootPassword: "[redacted]",
    userData: "[redacted]",
    nested: [{ bmcPassword: "[redacted]", token: "[redacted]", ok: 1 }],
    empty: null,
  });
});
