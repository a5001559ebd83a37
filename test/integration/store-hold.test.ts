// Store.hold on every backend: a named hold keeps every other process out until its holder lets
// go or dies, and switch changes take one, so two processes never change one switch at once.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { SwitchSim } from "../../provider/lab/switch-sim";
import { Client } from "pg";
import { HoldLost, HoldTimeout } from "../../provider/store/hold";
import { openStore } from "../../provider/store/open";
import { backends, freshStore, postgresBackend } from "../helpers/backends";
import { failure } from "../helpers/failure";

jest.setTimeout(120_000);

const root = path.resolve(__dirname, "../..");

interface Worker {
  child: ChildProcess;
  /** Resolves when the worker has printed `text` on a line of its own. */
  printed(text: string): Promise<void>;
  /** Its last line of output, once it exits 0; rejects with its stderr otherwise. */
  done: Promise<string>;
}

function worker(file: string, args: string[], env: Record<string, string> = {}): Worker {
  const child = spawn(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", path.join(__dirname, "workers", file), ...args],
    {
      cwd: root,
      env: { ...process.env, ...env, TS_NODE_PROJECT: path.join(root, "tsconfig.json") },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  const waiting: { text: string; resolve: () => void }[] = [];
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    for (const w of waiting) if (out.split("\n").includes(w.text)) w.resolve();
  });
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  const done = new Promise<string>((resolve, reject) =>
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim().split("\n").pop()!);
      else reject(new Error(`${file} exited ${code ?? signal}: ${err}`));
    }),
  );
  return {
    child,
    done,
    printed: (text) =>
      new Promise<void>((resolve, reject) => {
        waiting.push({ text, resolve });
        done.then(() => reject(new Error(`${file} ended without printing ${text}`)), reject);
      }),
  };
}

describe.each(backends)("holds on $name", (backend) => {
  let ctx: Awaited<ReturnType<typeof freshStore>>;

  beforeEach(async () => {
    ctx = await freshStore(backend);
  });

  afterEach(async () => {
    await ctx.cleanup();
  });

  test("a hold keeps other processes out until its holder dies; other names stay free", async () => {
    const holder = worker("holder.ts", [ctx.location, "switch tor1"]);
    const ended = holder.done.catch(() => "killed");
    try {
      await holder.printed("held");
      let ran = false;
      const started = Date.now();
      const busy = await failure(
        ctx.store.hold("switch tor1", 300, async () => {
          ran = true;
        }),
        HoldTimeout,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(ran).toBe(false);
      expect(busy.code).toBe("HoldTimeout");
      expect(busy.message).toMatch(/^switch tor1 on the store \S+: another process has held it for 0\.\d s$/);
      expect(busy.message).not.toMatch(/password/);
      expect(await ctx.store.hold("switch tor2", 300, async () => "free")).toBe("free");
    } finally {
      holder.child.kill("SIGKILL");
      await ended;
    }
    // The dead holder's lock went with it (the OS's file lock, the server's session lock).
    const started = Date.now();
    expect(await ctx.store.hold("switch tor1", 10_000, async () => "mine")).toBe("mine");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("holders in one process take turns, and one that fails lets go", async () => {
    const spans: [string, number, number][] = [];
    const hold = (who: string, fail = false) =>
      ctx.store.hold("switch tor1", 1000, async () => {
        const start = performance.now();
        await new Promise((r) => setTimeout(r, 30));
        spans.push([who, start, performance.now()]);
        if (fail) throw new Error(`${who} failed`);
        return who;
      });
    const results = await Promise.allSettled([hold("a"), hold("b", true), hold("c")]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual([
      "a",
      "b failed",
      "c",
    ]);
    expect(spans.map((s) => s[0])).toEqual(["a", "b", "c"]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![1]).toBeGreaterThanOrEqual(spans[i - 1]![2]);
  });

  test("two processes changing one switch take turns: no two changes at once, and neither waits for the other's whole queue", async () => {
    const sim = await SwitchSim.start({ ports: 8, dialect: "linux" });
    try {
      // Each change takes 200 ms on this switch: without the hold, the two processes' changes
      // overlap (mostChangesAtOnce 2).
      sim.faults.slowChangesMs = 200;
      const spec = JSON.stringify({
        name: "tor1",
        facility: "lab1",
        host: sim.host,
        port: sim.port,
        hostKeyFingerprint: sim.hostKeyFingerprint,
        dialect: "linux",
        username: sim.username,
      });
      const env = { SWITCH_PASSWORD: sim.password };
      const a = worker(
        "switch-changer.ts",
        [ctx.location, spec, "100,101,102,103", "swp1,swp2,swp3,swp4"],
        env,
      );
      const b = worker(
        "switch-changer.ts",
        [ctx.location, spec, "200,201,202,203", "swp5,swp6,swp7,swp8"],
        env,
      );
      expect(await Promise.all([a.done, b.done])).toEqual(['{"changed":8}', '{"changed":8}']);
      expect(sim.mostChangesAtOnce).toBe(1);
      // Whose each VLAN was, in the order the switch made them: the two take turns rather than
      // one process keeping the switch until its queue is empty (aaaabbbb), as it did when a
      // hold given back was taken again before the other process looked.
      const order = sim
        .commands()
        .filter((c) => / vid \d+ self/.test(c))
        .map((c) => (/ vid 1\d\d self/.test(c) ? "a" : "b"))
        .join("");
      expect(order).toHaveLength(8);
      const turns = order.split("").filter((who, i) => i > 0 && who !== order[i - 1]).length;
      expect({ order, turns: turns >= 3 }).toEqual({ order, turns: true });
      // Each process's four port changes queued together: one batch each, under the hold too.
      const batches = sim.commands().filter((c) => c.includes("master br0"));
      expect(batches.map((c) => c.match(/master br0/g)!.length)).toEqual([4, 4]);
      for (let p = 1; p <= 8; p++) expect(sim.vlanOfPort(`swp${p}`)).toBe(p <= 4 ? 100 : 200);
    } finally {
      await sim.stop();
    }
  });
});

describe("a PostgreSQL hold whose connection is lost", () => {
  let ctx: Awaited<ReturnType<typeof freshStore>>;
  let admin: Client;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // The advisory locks held in this test's database (key 7306: Store.hold), by backend.
  const holders = async () =>
    (
      await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 7306 AND granted
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      )
    ).rows.map((r) => r.pid);
  const until = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
    for (let i = 0; i < 300; i++) {
      const v = await probe();
      if (v !== undefined) return v;
      await sleep(10);
    }
    throw new Error(`${what}: not within 3 s`);
  };

  beforeEach(async () => {
    ctx = await freshStore(postgresBackend);
    admin = new Client({ connectionString: ctx.location });
    await admin.connect();
  });

  afterEach(async () => {
    await admin.end();
    await ctx.cleanup();
  });

  test("takes its holds back at once on a new connection, and keeps other processes out", async () => {
    const other = await openStore(ctx.location);
    try {
      const result = await ctx.store.hold("switch tor1", 1000, async () => {
        const [first] = await holders();
        await admin.query("SELECT pg_terminate_backend($1)", [first]);
        const again = await until("taken back", async () => {
          const now = await holders();
          return now.length === 1 && now[0] !== first ? now[0] : undefined;
        });
        // Still held: another process waits for it in vain.
        await failure(
          other.hold("switch tor1", 100, async () => "in"),
          HoldTimeout,
        );
        return again;
      });
      expect(typeof result).toBe("number");
      expect(await other.hold("switch tor1", 1000, async () => "free")).toBe("free");
    } finally {
      await other.close();
    }
  });

  test("a hold another process took in between fails its change with HoldLost, and the next hold works", async () => {
    const quicker = new Client({ connectionString: ctx.location });
    await quicker.connect();
    try {
      let taken: Promise<unknown> | undefined;
      let ran = false;
      const lost = await failure(
        ctx.store.hold("switch tor1", 1000, async () => {
          const [first] = await holders();
          // Queued behind our hold in the server: it gets the lock the moment our connection goes.
          taken = quicker.query("SELECT pg_advisory_lock(7306, hashtext('switch tor1'))");
          await until("the other process waiting", async () => {
            const { rows } = await admin.query(
              "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 7306 AND NOT granted",
            );
            return rows.length ? true : undefined;
          });
          await admin.query("SELECT pg_terminate_backend($1)", [first]);
          await taken;
          // Our store has tried to take it back on a new connection (its last statement).
          await until("tried to take it back", async () => {
            const { rows } = await admin.query(
              `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> ALL($1)
               AND state = 'idle' AND query LIKE 'SELECT pg_try_advisory_lock%'`,
              [[first, (await quicker.query("SELECT pg_backend_pid() AS p")).rows[0].p]],
            );
            return rows.length ? true : undefined;
          });
          ran = true;
        }),
        HoldLost,
      );
      expect(ran).toBe(true);
      expect(lost.code).toBe("HoldLost");
      expect(lost.message).toMatch(
        /^switch tor1 on the store \S+: the hold went with its database connection during the change and could not be taken back at once .*run again to check and finish it$/,
      );
      await quicker.query("SELECT pg_advisory_unlock(7306, hashtext('switch tor1'))");
      expect(await ctx.store.hold("switch tor1", 1000, async () => "mine")).toBe("mine");
    } finally {
      await quicker.end();
    }
  });
});
