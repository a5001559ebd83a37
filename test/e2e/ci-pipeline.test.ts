// examples/ci-pipeline as a CI job runs it, on the built-in lab: a stack per run, the tests
// against its server, and the destroy that follows whether they pass or fail.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { exampleStack, REPO, type ExampleStack } from "../../cli/example-stack";
import { startLabSite, type LabSite } from "../../cli/lab-site";
import { listServers } from "../../provider/store/servers-sql";

jest.setTimeout(300_000);

let ex: ExampleStack;
let site: LabSite;

beforeAll(async () => {
  ex = await exampleStack("ci-pipeline", "unused");
  fs.mkdirSync(path.dirname(ex.storeFile), { recursive: true });
  site = await startLabSite({ storeFile: ex.storeFile, machines: 1, installTimeMs: 300 });
});

afterAll(async () => {
  await site?.stop();
  ex?.cleanup();
});

/** Runs the pipeline as a CI job would. Asynchronously: the lab answers from this process. */
function pipeline(run: string, command: string): Promise<{ status: number | null; stdout: string }> {
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "pipeline.ts"], {
    cwd: ex.dir,
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      ...ex.env,
      ...site.env,
      TS_NODE_PROJECT: path.join(REPO, "tsconfig.json"),
      BAREMETAL_STORE: `sqlite:${ex.storeFile}`,
      BAREMETAL_BOOT_SERVER_URL: site.boot.url,
      CI_RUN_ID: run,
      CI_TEST_COMMAND: command,
      CI_PROVISIONTIMEOUTSECONDS: "60",
    },
  });
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout });
    });
  });
}

async function nothingLeft() {
  expect(await site.store.transact(() => listServers(), "read")).toEqual([]);
  expect(await site.store.listReservations({ project: "demo" })).toEqual([]);
  expect((await site.store.inventory()).machines.map((m) => m.state)).toEqual(["available"]);
}

test("a passing run: tests see the server's address; the stack is gone afterwards", async () => {
  const r = await pipeline("run-1", 'test -n "$SERVER_ADDRESS" && test "$SERVER_MACHINE" = m01');
  expect(r.stdout).toMatch(/tests passed against 198\.1[89]\.\S+ \(machine m01\)/);
  expect(r.stdout).toMatch(/stack run-1 destroyed and removed/);
  expect(r.status).toBe(0);
  await nothingLeft();
});

test("a failing run fails the job and still leaves nothing behind", async () => {
  const r = await pipeline("run-2", "false");
  expect(r.stdout).toMatch(/tests failed against/);
  expect(r.stdout).toMatch(/stack run-2 destroyed and removed/);
  expect(r.status).toBe(1);
  await nothingLeft();
});
