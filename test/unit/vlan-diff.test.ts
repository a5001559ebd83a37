// Vlan diff: description, tags and forceDelete change in place; project, facility or an asked
// vid replaces; every replacement deletes first, so a create of the same owner key never finds
// a row that the engine still counts as the old resource's (and deletes after adopting it).
import { diff, type VlanInputs, type VlanOutputs } from "../../provider/resources/vlan";

const inputs = (over: Partial<VlanInputs> = {}): VlanInputs => ({
  project: "demo",
  facility: "lab",
  tags: [],
  forceDelete: false,
  owner: "org/net/dev/private",
  ...over,
});
const olds: VlanOutputs = { ...inputs(), vid: 1000, switches: ["tor1"], ports: [] };

test("nothing changed, nothing to do", async () => {
  expect(await diff("id", olds, inputs())).toEqual({
    changes: false,
    replaces: [],
    deleteBeforeReplace: true,
  });
  // Without a vid the one held stays.
  expect((await diff("id", olds, inputs({ vid: 1000 }))).changes).toBe(false);
});

test("description and tags change in place", async () => {
  expect(await diff("id", olds, inputs({ description: "db", tags: ["a"] }))).toEqual({
    changes: true,
    replaces: [],
    deleteBeforeReplace: true,
  });
});

test.each([
  [{ vid: 1001 }, ["vid"]],
  [{ project: "other" }, ["project"]],
  [{ facility: "lab2" }, ["facility"]],
])("%j replaces, deleting first", async (change, replaces) => {
  expect(await diff("id", olds, inputs(change))).toEqual({
    changes: true,
    replaces,
    deleteBeforeReplace: true,
  });
});
