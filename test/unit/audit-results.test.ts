// `baremetal audit`'s RESULT column: a started entry that no finished entry of the same change
// follows is a change cut off midway.
import { results } from "../../cli/commands/audit";
import type { AuditEntry } from "../../provider/store/projects-sql";

const entry = (over: Partial<AuditEntry>): AuditEntry => ({
  at: "2026-12-02T10:00:00.000Z",
  actor: "cora@example.com",
  project: "web",
  owner: "org/web/prod/db",
  resource: "Server:(none)",
  action: "create",
  stage: "started",
  before: null,
  after: null,
  commands: [],
  ...over,
});

test("a start with its finish is started; the finish says ok or the error", () => {
  expect(
    results([
      entry({}),
      entry({ stage: "finished", resource: "Server:7f9c", after: { id: "7f9c" } }),
      entry({ action: "update", resource: "Server:7f9c" }),
      entry({
        action: "update",
        resource: "Server:7f9c",
        stage: "finished",
        after: { error: "switch refused" },
      }),
    ]),
  ).toEqual(["started", "ok", "started", "failed: switch refused"]);
});

test("a refusal stands alone: it says why, and closes no start", () => {
  expect(
    results([entry({}), entry({ stage: "finished", after: { refused: "AccessDenied: cora may not" } })]),
  ).toEqual(["unfinished", "refused: AccessDenied: cora may not"]);
});

test("a run killed midway and its rerun: the earlier start is unfinished", () => {
  expect(results([entry({}), entry({}), entry({ stage: "finished", resource: "Server:7f9c" })])).toEqual([
    "unfinished",
    "started",
    "ok",
  ]);
});

test("another actor's, action's or owner's finish closes nothing; without an owner the resource tells", () => {
  expect(
    results([
      entry({}),
      entry({ stage: "finished", actor: "adam@example.com" }),
      entry({ action: "delete", owner: null, resource: "Server:1" }),
      entry({ action: "delete", owner: null, resource: "Server:2", stage: "finished" }),
      entry({ action: "delete", owner: null, resource: "Server:1", stage: "finished" }),
      entry({ owner: "org/web/prod/other" }),
    ]),
  ).toEqual(["unfinished", "ok", "started", "ok", "ok", "unfinished"]);
});
