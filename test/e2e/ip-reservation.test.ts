// examples/ip-reservations through the real engine: up, preview, refresh, in-place update,
// removal, invalid input and destroy, each checked against the store itself.
import { overlaps, parseCidr } from "../../provider/ipam/cidr";
import fs from "node:fs";
import path from "node:path";
import { createProject } from "../../provider/store/projects-sql";
import { SqliteStore } from "../../provider/store/sqlite";
import type { Reservation } from "../../provider/store/store";
import { exampleStack, type ExampleStack } from "../../cli/example-stack";

jest.setTimeout(240_000);

let ex: ExampleStack;

async function reservations(): Promise<Reservation[]> {
  const store = new SqliteStore(ex.storeFile);
  try {
    return await store.listReservations({ project: "demo" });
  } finally {
    await store.close();
  }
}

const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

beforeAll(async () => {
  ex = await exampleStack("ip-reservations");
  await ex.stack.setConfig("baremetal:actor", { value: "e2e-bot" });
  // The project the example reserves for, owned by the actor the provider runs as.
  fs.mkdirSync(path.dirname(ex.storeFile), { recursive: true });
  const store = new SqliteStore(ex.storeFile);
  try {
    await store.migrate();
    await store.transact((at) =>
      createProject({ name: "demo", description: null, owner: "e2e-bot" }, "test", at),
    );
  } finally {
    await store.close();
  }
});

afterAll(async () => {
  // Leave nothing behind even when a step failed half way.
  await ex?.stack.destroy().catch(() => undefined);
  ex?.cleanup();
});

test("up reserves two blocks that do not overlap, and the store agrees", async () => {
  const up = await ex.stack.up({ onOutput: log("up") });
  expect(up.summary.result).toBe("succeeded");
  expect(up.summary.resourceChanges?.create).toBe(3); // the stack and two reservations

  const rows = await reservations();
  expect(rows.map((r) => r.cidr).sort()).toEqual(
    [up.outputs.backendCidr!.value, up.outputs.frontendCidr!.value].sort(),
  );
  const [a, b] = rows.map((r) => parseCidr(r.cidr));
  expect(overlaps(a!, b!)).toBe(false);
  expect(parseCidr(up.outputs.frontendCidr!.value).prefix).toBe(28);
  expect(parseCidr(up.outputs.backendCidr!.value).prefix).toBe(29);
  // The gateway is the first host of the frontend block.
  const fe = parseCidr(up.outputs.frontendCidr!.value);
  expect(up.outputs.frontendGateway!.value).toBe(
    [
      ...up.outputs.frontendCidr!.value.split("/")[0]!.split(".").slice(0, 3),
      String(Number(fe.network & 0xffn) + 1),
    ].join("."),
  );
  // The provider took its store and actor from stack config, through `configure`.
  expect(rows.map((r) => r.createdBy)).toEqual(["e2e-bot", "e2e-bot"]);
  // The owner key lets a later run find what an interrupted one reserved.
  expect(rows.map((r) => r.owner).sort()).toEqual([
    "organization/ip-reservations/test/backend",
    "organization/ip-reservations/test/frontend",
  ]);
});

test("preview right after up shows no changes", async () => {
  const preview = await ex.stack.preview();
  expect(preview.changeSummary).toEqual({ same: 3 });
});

test("refresh is clean", async () => {
  const refresh = await ex.stack.refresh();
  expect(refresh.summary.result).toBe("succeeded");
  expect(refresh.summary.resourceChanges).toEqual({ same: 3 });
});

test("a description change updates in place and keeps the block", async () => {
  const before = await reservations();
  await ex.stack.setConfig("backendDescription", { value: "application servers" });
  const up = await ex.stack.up({ onOutput: log("update") });
  expect(up.summary.resourceChanges).toEqual({ same: 2, update: 1 });
  const after = await reservations();
  expect(after.map((r) => [r.id, r.cidr])).toEqual(before.map((r) => [r.id, r.cidr]));
  expect(after.find((r) => r.owner?.endsWith("/backend"))?.description).toBe("application servers");
});

test("an invalid quantity fails preview with a message naming quantity, and changes nothing", async () => {
  await ex.stack.setConfig("backendSize", { value: "3" });
  const before = await reservations();
  await expect(ex.stack.preview()).rejects.toThrow(/quantity.*power of two/s);
  expect(await reservations()).toEqual(before);
  await ex.stack.removeConfig("backendSize");
});

test("removing a reservation from the program releases its block", async () => {
  await ex.stack.setConfig("withBackend", { value: "false" });
  const up = await ex.stack.up({ onOutput: log("remove") });
  expect(up.summary.resourceChanges).toEqual({ same: 2, delete: 1 });
  const rows = await reservations();
  expect(rows).toHaveLength(1);
  expect(rows[0]!.owner).toMatch(/\/frontend$/);
});

test("destroy leaves the store with no reservation", async () => {
  const destroy = await ex.stack.destroy({ onOutput: log("destroy") });
  expect(destroy.summary.result).toBe("succeeded");
  expect(await reservations()).toEqual([]);
  // Every address went back to the pool, merged into one free block.
  const store = new SqliteStore(ex.storeFile);
  try {
    const usage = await store.poolUsage("lab1-private");
    expect(usage).toMatchObject({
      allocated: "0",
      reservations: 0,
      freeBlocks: [{ prefixLength: 24, count: 1 }],
    });
  } finally {
    await store.close();
  }
});
