// The SQLite store while another connection holds the write lock: it waits with the event loop
// free (the boot server keeps answering machines, the provider the engine), goes on once the
// lock is let go, and gives up past its limit with an error that names the store, having
// written nothing.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { SqliteStore } from "../../provider/store/sqlite";
import type { AllocateRequest } from "../../provider/store/store";

const request: AllocateRequest = {
  project: "p",
  type: "private_ipv4",
  facility: "f1",
  block: { prefixLength: 29 },
  tags: [],
  description: null,
  owner: null,
  actor: "tester",
};

let dir: string;
let file: string;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-busy-"));
  file = path.join(dir, "store.db");
  const store = new SqliteStore(file);
  await store.migrate();
  await store.ensureFacility("f1", null, "tester");
  await store.addPool(
    { name: "p1", type: "private_ipv4", cidr: "10.0.0.0/24", facility: "f1", project: null },
    "tester",
  );
  await store.close();
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Another process's transaction, here another connection in this one. */
function holdWriteLock(): Database.Database {
  const other = new Database(file);
  other.exec("BEGIN IMMEDIATE");
  return other;
}

test("a write waits for another connection's write lock with the event loop free, then goes on", async () => {
  const store = new SqliteStore(file);
  const other = holdWriteLock();
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 10);
  try {
    // Let go of the lock from a timer: only a free event loop ever gets there.
    setTimeout(() => other.exec("COMMIT"), 300);
    const reservation = await store.allocate(request);
    expect(reservation.cidr).toBe("10.0.0.0/29");
    expect(ticks).toBeGreaterThanOrEqual(10);
    // Reads never wait for a writer (WAL).
    const again = holdWriteLock();
    try {
      expect((await store.listReservations()).map((r) => r.cidr)).toEqual(["10.0.0.0/29"]);
    } finally {
      again.exec("ROLLBACK");
      again.close();
    }
  } finally {
    clearInterval(ticker);
    other.close();
    await store.close();
  }
});

test("a lock held past the store's limit fails the write, naming the store; nothing is written", async () => {
  const store = new SqliteStore(file, 400);
  const other = holdWriteLock();
  try {
    const started = Date.now();
    await expect(store.allocate(request)).rejects.toThrow(
      new RegExp(
        `^the store sqlite:${file.replace(/[.]/g, "\\.")} is busy: another process has held its write lock for 0\\.[4-9] s$`,
      ),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    other.exec("ROLLBACK");
    expect(await store.listReservations()).toEqual([]);
    // The lock gone, the same store writes again.
    expect((await store.allocate(request)).cidr).toBe("10.0.0.0/29");
  } finally {
    other.close();
    await store.close();
  }
});
