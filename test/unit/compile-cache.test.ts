// The engine ends its dynamic-provider process with SIGKILL, so Node's own write of the compile
// cache at exit never happens there: the provider writes it itself after its operations.
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import nodeModule from "node:module";
import os from "node:os";
import path from "node:path";

const compileCache = path.resolve(__dirname, "../../provider/compile-cache.ts");

// The cache goes to the default place (under TMPDIR), as in a provider process.
const cacheFreeEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => k !== "NODE_COMPILE_CACHE" && k !== "NODE_DISABLE_COMPILE_CACHE",
  ),
);

/** Runs a Node that loads a module, maybe persists, and is killed as the engine kills it. */
async function killedRun(persist: boolean): Promise<string[]> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "compile-cache-"));
  try {
    const module = path.join(tmp, "m.js");
    fs.writeFileSync(module, "module.exports = function twice(x) { return 2 * x; };\n");
    // As in the provider: the host's main script has long finished when the engine's first call
    // loads our modules. "done" comes after the flush (an immediate queued after its own); then
    // the child is killed from outside (one that kills itself with process.kill still writes).
    const script = `
      setTimeout(() => {
        const { persistCompileCache } = require(${JSON.stringify(compileCache)});
        require(${JSON.stringify(module)})(1);
        ${persist ? "persistCompileCache(true);" : ""}
        setImmediate(() => process.stdout.write("done\\n"));
      }, 100);
      setTimeout(() => {}, 60_000);`;
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
      env: { ...cacheFreeEnv, TMPDIR: tmp },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("done")) child.kill("SIGKILL");
    });
    await once(child, "exit");
    clearTimeout(deadline);
    expect(out).toContain("done");
    const dir = path.join(tmp, "node-compile-cache");
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir).flatMap((v) => fs.readdirSync(path.join(dir, v)));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const supported = typeof (nodeModule as { flushCompileCache?: unknown }).flushCompileCache === "function";

(supported ? test : test.skip)(
  "a killed provider process has written its compile cache",
  async () => {
    expect(await killedRun(false)).toEqual([]);
    expect((await killedRun(true)).length).toBeGreaterThan(0);
  },
  60_000,
);
