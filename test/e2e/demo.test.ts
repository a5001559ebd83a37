// The README's first command: `npm run demo` runs `baremetal demo` from the built package. It
// must work as shipped: a real pulumi up of the quickstart on the built-in lab, the servers the
// store holds, a pulumi destroy, and the check that nothing was left behind.
import { spawn } from "node:child_process";
import path from "node:path";
import { REPO } from "../../cli/example-stack";

jest.setTimeout(240_000);

test("baremetal demo: three servers up, listed, destroyed, nothing left", async () => {
  const child = spawn(process.execPath, [path.join(REPO, "bin/cli/main.js"), "demo", "--install-ms", "300"], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 200_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`demo exited ${code}:\n${out}`);
  expect(out).toMatch(/== servers in the store/);
  for (const host of ["web-1", "web-2", "web-3"])
    expect(out).toMatch(new RegExp(`${host} +m0\\d +active +.*\\b198\\.1[89]\\.\\d+\\.\\d+\\b`));
  expect(out).toMatch(/== nothing left behind: no server, no reservation, every machine wiped and available/);
});
