// Store.hold on every backend: a named hold keeps every other process out until its holder lets
// go or dies, and switch changes take one, so two processes never change one switch at once.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { SwitchSim } from "../../provider/lab/switch-sim";
import { HoldTimeout } from "../../provider/store/hold";
import { backends, freshStore } from "../helpers/backends";
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
      const a = worker("switch-changer.ts", [ctx.location, spec, "100", "swp1,swp2,swp3,swp4"], env);
      const b = worker("switch-changer.ts", [ctx.location, spec, "200", "swp5,swp6,swp7,swp8"], env);
      expect(await Promise.all([a.done, b.done])).toEqual(['{"changed":5}', '{"changed":5}']);
      expect(sim.mostChangesAtOnce).toBe(1);
      // Whose each change was, in the order the switch made them: the two take turns rather than
      // one process keeping the switch until its queue is empty (aaaaabbbbb), as it did when a
      // hold given back was taken again before the other process looked.
      const order = sim
        .commands()
        .filter((c) => c.includes("bridge vlan add"))
        .map((c) => (c.includes("vid 100") ? "a" : "b"))
        .join("");
      expect(order).toHaveLength(10);
      const turns = order.split("").filter((who, i) => i > 0 && who !== order[i - 1]).length;
      expect({ order, turns: turns >= 4 }).toEqual({ order, turns: true });
      for (let p = 1; p <= 8; p++) expect(sim.vlanOfPort(`swp${p}`)).toBe(p <= 4 ? 100 : 200);
    } finally {
      await sim.stop();
    }
  });
});
