// The provider killed in the middle of a create (the whole `pulumi up`, engine and provider,
// by SIGKILL, after the machine was claimed and powered into its install). The next run must
// adopt what the dead one left, finish it, and never take a second machine or more addresses.
import { spawn } from "node:child_process";
import fs from "node:fs";
import type { ExampleStack } from "../../cli/example-stack";
import type { LabSite } from "../../cli/lab-site";
import { labStack, type LabStack } from "../helpers/lab-stack";
import { readAudit } from "../../provider/store/projects-sql";
import { listServers, serverTimeline } from "../../provider/store/servers-sql";

jest.setTimeout(300_000);

let ex: ExampleStack;
let site: LabSite;
let lab: LabStack;
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** PIDs of dynamic-provider processes working in `dir` (read from /proc; nothing is signalled). */
function providersOf(dir: string): number[] {
  return fs
    .readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .flatMap((pid) => {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
        return cmd.includes("dynamic-provider") && fs.readlinkSync(`/proc/${pid}/cwd`) === dir
          ? [Number(pid)]
          : [];
      } catch {
        return [];
      }
    });
}

beforeAll(async () => {
  lab = await labStack("crash", {
    machines: 2,
    installTimeMs: 10000,
    config: { servers: "1", provisionTimeoutSeconds: "60" },
  });
  ({ ex, site } = lab);
});

afterAll(() => lab?.stop());

test("a run killed mid-create is adopted by the next one: one machine, one set of addresses", async () => {
  // Our own `pulumi up`, in its own process group, so that SIGKILL reaches the engine, the
  // language host and the dynamic provider at once, as a crash or an OOM kill would.
  const up = spawn("pulumi", ["up", "--yes", "--skip-preview", "--stack", "crash", "--non-interactive"], {
    cwd: ex.dir,
    env: { ...process.env, ...ex.env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  up.stdout.on("data", (d: Buffer) => log("killed-run")(d.toString()));
  const exited = new Promise<void>((resolve) => up.once("exit", () => resolve()));
  // Wait (bounded) until the machine was powered into its install.
  let installing = false;
  for (let i = 0; i < 300 && !installing; i++) {
    await sleep(100);
    const [server] = await site.store.transact(() => listServers(), "read");
    if (server) {
      const timeline = await site.store.transact(() => serverTimeline(server.id), "read");
      installing = timeline.some((t) => t.action === "install.started");
    }
  }
  expect(installing).toBe(true);
  process.kill(-up.pid!, "SIGKILL");
  await exited;
  // The dynamic provider is started by the engine outside that process group; it notices the
  // engine is gone and ends on its own (provider/engine-watch.ts), so nothing of the dead run
  // keeps the store or the hardware busy.
  let providers = providersOf(ex.dir);
  for (let i = 0; i < 150 && providers.length > 0; i++) {
    await sleep(100);
    providers = providersOf(ex.dir);
  }
  expect(providers).toEqual([]);

  const [held] = await site.store.transact(() => listServers(), "read");
  expect(held?.state).toBe("provisioning");
  // The log shows the create that was cut off: started, never finished.
  const cut = await site.store.transact(() => readAudit({ project: "demo" }), "read");
  expect(cut.filter((e) => e.resource.startsWith("Server:")).map((e) => `${e.action} ${e.stage}`)).toEqual([
    "create started",
  ]);

  // What an operator does after a crash: release the dead run's lock, drop the pending create
  // the engine recorded and cannot finish, and run again.
  await ex.stack.cancel();
  await ex.stack.refresh({ clearPendingCreates: true, onOutput: log("refresh") });
  const again = await ex.stack.up({ onOutput: log("rerun") });
  expect(again.summary.result).toBe("succeeded");

  const servers = await site.store.transact(() => listServers(), "read");
  expect(servers).toHaveLength(1);
  expect(servers[0]!.id).toBe(held!.id);
  expect(servers[0]!.machineId).toBe(held!.machineId);
  expect(servers[0]!.state).toBe("active");
  const machines = (await site.store.inventory()).machines;
  expect(machines.filter((m) => m.state === "available")).toHaveLength(1);
  // Three addresses (public v4, private v4, v6) for the server, not six.
  const blocks = (await site.store.listReservations({ project: "demo" })).filter((r) =>
    r.owner?.includes("#ip"),
  );
  expect(blocks).toHaveLength(3);
  const audit = await site.store.transact(() => readAudit({ project: "demo" }), "read");
  expect(audit.filter((e) => e.resource.startsWith("Server:")).map((e) => `${e.action} ${e.stage}`)).toEqual([
    "create started",
    "create started",
    "create finished",
  ]);
});
