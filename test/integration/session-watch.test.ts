// Waiting for installs and wipes on every backend: one poll of the store for all the sessions
// a process waits on; done resolves, failed, missing and late reject with what happened.
import fs from "node:fs";
import path from "node:path";
import { applyInventoryFile } from "../../provider/inventory/apply";
import { sessionPolling, waitForSession } from "../../provider/servers/session-watch";
import { openStore } from "../../provider/store/open";
import { Client } from "pg";
import { fetchBootScript, reportSession, stageSession } from "../../provider/store/servers-sql";
import type { Store } from "../../provider/store/store";
import { backends, freshStore } from "../helpers/backends";
import { claim } from "../helpers/claim";

jest.setTimeout(60_000);

const FILE = fs.readFileSync(path.join(__dirname, "../fixtures/inventory.yaml"), "utf8");

describe.each(backends)("session waits on $name", (backend) => {
  let store: Store;
  let location: string;
  let cleanup: () => Promise<void>;
  let reads = 0;

  beforeEach(async () => {
    ({ store, location, cleanup } = await freshStore(backend));
    await applyInventoryFile(store, FILE, { prune: false, dryRun: false, actor: "tester" });
    // Count the store's read transactions: the polls.
    const transact = store.transact.bind(store);
    reads = 0;
    store.transact = ((op: Parameters<Store["transact"]>[0], mode?: "read") => {
      if (mode === "read") reads++;
      return transact(op, mode);
    }) as Store["transact"];
  });
  afterEach(() => cleanup());

  async function stage(owner: string): Promise<string> {
    const { server, machine } = await claim(store, owner);
    const token = `token-${owner}`;
    await store.transact((at) =>
      stageSession(
        { token, serverId: server.id, machineId: machine.id, kind: "install", staged: { ipxe: "#!ipxe\n" } },
        "tester",
        at,
      ),
    );
    return token;
  }
  const report = (token: string, type: string, message: string | null = null) =>
    store.transact((at) => reportSession(token, type, message, at));

  test("several waits share each read; each settles on its own session's outcome", async () => {
    const [a, b] = [await stage("a"), await stage("b")];
    const results = [
      waitForSession(store, a, 20_000, "install").then(() => "done"),
      waitForSession(store, b, 20_000, "install").catch((e: Error) => e.message),
    ];
    await new Promise((r) => setTimeout(r, 350));
    const idle = reads;
    await report(a, "phone-home");
    await report(b, "install.failed", "disk /dev/sda not found");
    expect(await Promise.all(results)).toEqual(["done", "install failed: disk /dev/sda not found"]);
    // The first read and the one when the watch starts, whatever the number of waits; then a
    // poll a second, this store telling when a session changes: not a read per wait.
    expect(idle).toBeGreaterThanOrEqual(1);
    expect(idle).toBeLessThanOrEqual(3);
  });

  describe("with polls minutes apart", () => {
    const saved = { ...sessionPolling };
    beforeEach(() => Object.assign(sessionPolling, { fastMs: 120_000, slowMs: 120_000 }));
    afterEach(() => Object.assign(sessionPolling, saved));

    test("a report taken by another process's store wakes the waits at once", async () => {
      // The boot server's store: its own connection (on SQLite, its own file handle), as on
      // another host or in another process.
      const bootServer = await openStore(location);
      try {
        const [a, b] = [await stage("a"), await stage("b")];
        const settled: string[] = [];
        const waits = [
          waitForSession(store, a, 300_000, "install").then(() => settled.push("a")),
          waitForSession(store, b, 300_000, "install").catch((e: Error) => settled.push(e.message)),
        ];
        // Time for the watch to start (a LISTEN on PostgreSQL) and the read after it; the
        // next poll is two minutes away.
        await new Promise((r) => setTimeout(r, 500));
        const before = reads;
        // Progress that finishes nothing wakes no one.
        await bootServer.transact((at) => reportSession(a, "install.started", null, at));
        await new Promise((r) => setTimeout(r, 300));
        expect(reads).toBe(before);
        await bootServer.transact((at) => reportSession(a, "phone-home", null, at));
        await waits[0];
        await bootServer.transact((at) => reportSession(b, "install.failed", "no disk", at));
        await waits[1];
        expect(settled).toEqual(["a", "install failed: no disk"]);
        // A read per notice, not a poll.
        expect(reads - before).toBeGreaterThanOrEqual(2);
        expect(reads - before).toBeLessThanOrEqual(4);
      } finally {
        await bootServer.close();
      }
    }, 20_000);

    test("a watch that goes blind says so, and the waits are polled often again", async () => {
      Object.assign(sessionPolling, { fastMs: 100 });
      const bootServer = await openStore(location);
      try {
        const a = await stage("a");
        const wait = waitForSession(store, a, 300_000, "install");
        await new Promise((r) => setTimeout(r, 500));
        // What ends a watch from outside: the notices' file removed (a cleanup of the store's
        // directory), the listening connection ended by the database.
        if (backend.name === "sqlite") fs.rmSync(`${location.slice("sqlite:".length)}-sessions`);
        else await terminateListeners(location);
        await new Promise((r) => setTimeout(r, 500));
        const before = reads;
        await bootServer.transact((at) => reportSession(a, "phone-home", null, at));
        await wait;
        // Found by a poll (at 100 ms now): no notice came.
        expect(reads).toBeGreaterThan(before);
      } finally {
        await bootServer.close();
      }
    }, 20_000);
  });

  test("a session that does not exist fails at once; one that never reports, at its deadline", async () => {
    const started = Date.now();
    await expect(waitForSession(store, "no-such-token", 20_000, "wipe")).rejects.toThrow("wipe failed");
    expect(Date.now() - started).toBeLessThan(5_000);
    const c = await stage("c");
    await expect(waitForSession(store, c, 300, "install")).rejects.toThrow(
      "install: no report within 0 s (last: staged)",
    );
    // Someone else fetched the machine's script first: the timeout says so.
    const d = await stage("d");
    await store.transact((at) => fetchBootScript(d, "0c:c4:7a:00:00:01", "10.0.0.66", at));
    await store.transact((at) => fetchBootScript(d, "0c:c4:7a:00:00:01", "10.0.0.7", at));
    await expect(waitForSession(store, d, 300, "install")).rejects.toThrow(
      "install: no report within 0 s (last: booting: boot script refused to 10.0.0.7 (0c:c4:7a:00:00:01): handed to 10.0.0.66 first)",
    );
  });

  test("a store closed while a watch is starting leaves no watch behind", async () => {
    const other = await openStore(location);
    const starting = other.watchSessions({ change: () => undefined, lost: () => undefined });
    await other.close();
    const stop = await starting;
    await stop?.();
    if (backend.name === "postgres") {
      // No connection of the closed store is left listening (or at all) on the database.
      const c = new Client({ connectionString: location });
      await c.connect();
      try {
        const { rows } = await c.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query = 'LISTEN bm_sessions'",
        );
        expect(rows[0]!.n).toBe(0);
      } finally {
        await c.end();
      }
      expect(stop).toBeUndefined();
    }
  });

  test("a store that cannot be read for a moment: the waits go on; one that stays unreadable fails them", async () => {
    const [a, b] = [await stage("a"), await stage("b")];
    let failing = 2;
    const transact = store.transact.bind(store);
    store.transact = ((op: Parameters<Store["transact"]>[0], mode?: "read") => {
      if (mode === "read" && failing > 0) {
        failing--;
        return Promise.reject(new Error("Connection terminated unexpectedly"));
      }
      return transact(op, mode);
    }) as Store["transact"];
    await report(a, "phone-home");
    await expect(waitForSession(store, a, 20_000, "install")).resolves.toBeUndefined();
    expect(failing).toBe(0);

    failing = Infinity;
    await expect(waitForSession(store, b, 60_000, "wipe")).rejects.toThrow(
      "wipe: the store could not be read (5 times in a row): Connection terminated unexpectedly",
    );
  });
});

/** Ends every connection LISTENing for session notices in this database, as an admin would. */
async function terminateListeners(location: string): Promise<void> {
  const c = new Client({ connectionString: location });
  await c.connect();
  try {
    const { rowCount } = await c.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN bm_sessions'",
    );
    expect(rowCount).toBe(1);
  } finally {
    await c.end();
  }
}
