// The code cache (provider/compile-cache.ts) in real Node processes, as the engine and a user's
// shell start them: the built provider and CLI, a cache directory of the test's own.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import vm from "node:vm";
import nodeModule from "node:module";
import { codeCacheDir } from "../../provider/compile-cache";

const main = path.resolve(__dirname, "../../bin/cli/main.js");
const provider = path.resolve(__dirname, "../../bin/provider/index.js");
const cacheModule = path.resolve(__dirname, "../../bin/provider/compile-cache.js");
const MAGIC = "pulumi-baremetal code cache 1\n";

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bm-code-cache-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const cacheDir = () => path.join(tmp, "pulumi-baremetal", "code-cache");
const envFor = (extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, XDG_CACHE_HOME: tmp, ...extra });
const node = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, args, { env: envFor(extra), encoding: "utf8" });

/** The cache file's header, or undefined when there is none. */
function header(): { ops: string[]; entries: Record<string, { hash: string; length: number }> } | undefined {
  const dir = cacheDir();
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".bin")) : [];
  if (files.length === 0) return undefined;
  const buf = fs.readFileSync(path.join(dir, files[0]!));
  const size = buf.readUInt32LE(MAGIC.length);
  return JSON.parse(buf.toString("utf8", MAGIC.length + 4, MAGIC.length + 4 + size)) as never;
}

// A module with functions that only run when called, and what a process makes of it.
const FIXTURE = `
const other = require("./other");
function a(x) { let s = 0; for (let i = 0; i < 3; i++) s += x * i; return s + other.one; }
function b(x) { const o = { x, y: [x, x] }; return o.y.length + VALUE; }
const VALUE = 1;
module.exports = {
  run: () => a(2) + b(3),
  dir: __dirname,
  file: __filename,
  resolved: require.resolve("./other"),
  cached: require.cache[require.resolve("./other")] !== undefined,
  thisIsExports: this === module.exports,
};
`;

/** Loads the fixture after the cache module, calls it, writes the cache; prints what it saw. */
function runFixture(dir: string) {
  const script = `
    const cache = require(${JSON.stringify(cacheModule)});
    const m = require(${JSON.stringify(path.join(dir, "fixture.js"))});
    const out = { ...m, result: m.run() };
    cache.persistCompileCache("fixture.run");
    setImmediate(() => setImmediate(() => console.log(JSON.stringify({ out, stats: cache.codeCacheStats() }))));`;
  const r = node(["-e", script]);
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as {
    out: Record<string, unknown>;
    stats: { hits: number; misses: number };
  };
}

function writeFixture(source = FIXTURE): string {
  const dir = path.join(tmp, "mod");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "fixture.js"), source);
  fs.writeFileSync(path.join(dir, "other.js"), "exports.one = 1;\n");
  return dir;
}

test("a module loaded through the cache is the module Node would load: exports, require, __dirname", () => {
  const dir = writeFixture();
  const first = runFixture(dir);
  expect(first.out).toEqual({
    dir,
    file: path.join(dir, "fixture.js"),
    resolved: path.join(dir, "other.js"),
    cached: true,
    thisIsExports: true,
    result: 7 + 3,
  });
  expect(first.stats).toMatchObject({ hits: 0, misses: 2 });
  // The second process takes both modules from the cache, and they do the same.
  const second = runFixture(dir);
  expect(second.out).toEqual(first.out);
  expect(second.stats).toMatchObject({ hits: 2, misses: 0 });
});

test("the cache holds the functions compiled while the code ran, not only its top level", () => {
  const dir = writeFixture();
  runFixture(dir);
  const entry = header()!.entries[path.join(dir, "fixture.js")]!;
  // What V8 would cache for the module before running it: a and b not compiled yet.
  const before = new vm.Script(nodeModule.wrap(FIXTURE)).createCachedData().length;
  expect(entry.length).toBeGreaterThan(before);
  expect(header()!.ops).toEqual(["fixture.run"]);
});

test("a module whose source changed is compiled from its new source, even at the same length", () => {
  const dir = writeFixture();
  runFixture(dir);
  const changed = FIXTURE.replace("const VALUE = 1;", "const VALUE = 5;");
  expect(changed.length).toBe(FIXTURE.length);
  writeFixture(changed);
  const after = runFixture(dir);
  expect(after.out.result).toBe(7 + 7);
  expect(after.stats).toMatchObject({ hits: 1, misses: 1 });
});

test("a damaged cache file is not used, and the next write replaces it", () => {
  const dir = writeFixture();
  runFixture(dir);
  const file = path.join(cacheDir(), fs.readdirSync(cacheDir())[0]!);
  fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 100));
  expect(runFixture(dir).stats).toMatchObject({ hits: 0, misses: 2 });
  expect(runFixture(dir).stats).toMatchObject({ hits: 2, misses: 0 });
});

test("a cache directory other users can write, or one turned off, is not used", () => {
  const env = { XDG_CACHE_HOME: tmp } as NodeJS.ProcessEnv;
  expect(codeCacheDir(env)).toBe(cacheDir());
  expect(fs.statSync(cacheDir()).mode & 0o777).toBe(0o700);
  fs.chmodSync(cacheDir(), 0o777);
  expect(codeCacheDir(env)).toBeUndefined();
  fs.chmodSync(cacheDir(), 0o700);
  expect(codeCacheDir({ ...env, BAREMETAL_CODE_CACHE: "off" })).toBeUndefined();
  // Nothing is written when it is off.
  fs.rmSync(cacheDir(), { recursive: true });
  expect(node([main, "--help"], { BAREMETAL_CODE_CACHE: "off" }).status).toBe(0);
  expect(fs.existsSync(cacheDir())).toBe(false);
});

test("the CLI writes the cache when it exits, and the next call starts from it", () => {
  expect(node([main, "--help"]).status).toBe(0);
  const written = header()!;
  expect(written.ops).toEqual(["cli.--help"]);
  expect(Object.keys(written.entries)).toEqual(
    expect.arrayContaining([main.replace(/main\.js$/, "commands/store.js")]),
  );
  const again = node(["-e", `require(${JSON.stringify(main)})`, "--help"]);
  expect(again.status).toBe(0);
});

// The engine ends its dynamic-provider process with SIGKILL, so there is no exit to write at:
// the provider writes after its operations. As under the engine, the host's main script has
// long finished when the first call loads our modules; "done" comes after the write (an
// immediate queued behind its own), and the process is then killed from outside.
test("a provider process the engine kills has written the cache after its first call, naming it", async () => {
  for (const call of [false, true]) {
    const script = `
      setTimeout(async () => {
        const { shim } = require(${JSON.stringify(provider)});
        ${call ? 'await shim("ProjectMember").check({}, {});' : ""}
        setImmediate(() => process.stdout.write("done\\n"));
      }, 100);
      setTimeout(() => {}, 60_000);`;
    const child = spawn(process.execPath, ["-e", script], {
      env: envFor(),
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
    if (call) {
      const written = header()!;
      expect(written.ops).toEqual(["ProjectMember.check"]);
      expect(Object.keys(written.entries)).toEqual(
        // index.js itself was compiled before the cache module it loads first.
        expect.arrayContaining(
          ["resources/server.js", "store/sqlite.js"].map((f) => provider.replace("index.js", f)),
        ),
      );
    } else expect(header()).toBeUndefined();
  }
}, 90_000);

test("a write keeps no code for modules whose files are gone, nor files unused for a month", () => {
  const dir = writeFixture();
  runFixture(dir);
  // Another project's module, since deleted, and the file of a Node version no longer run.
  const gone = path.join(tmp, "gone", "fixture.js");
  fs.mkdirSync(path.dirname(gone));
  fs.cpSync(path.join(dir, "fixture.js"), gone);
  fs.cpSync(path.join(dir, "other.js"), path.join(tmp, "gone", "other.js"));
  runFixture(path.dirname(gone));
  expect(Object.keys(header()!.entries)).toContain(gone);
  fs.rmSync(path.dirname(gone), { recursive: true });
  const old = path.join(cacheDir(), "node-v0.0.0-x64-old.bin");
  fs.writeFileSync(old, "old");
  const monthAgo = new Date(Date.now() - 31 * 24 * 3600 * 1000);
  fs.utimesSync(old, monthAgo, monthAgo);
  fs.writeFileSync(path.join(dir, "fixture.js"), FIXTURE.replace("VALUE = 1", "VALUE = 2"));
  runFixture(dir);
  expect(Object.keys(header()!.entries)).not.toContain(gone);
  expect(Object.keys(header()!.entries)).toContain(path.join(dir, "fixture.js"));
  expect(fs.existsSync(old)).toBe(false);
});

test("a process writes once for each kind of operation the file lacks, not after every call", () => {
  const dir = writeFixture();
  const script = `
    const cache = require(${JSON.stringify(cacheModule)});
    require(${JSON.stringify(path.join(dir, "fixture.js"))}).run();
    const ops = ["Server.check", "Server.check", "Server.create", "Server.check", "Server.create"];
    // Two calls in one turn (before the first write runs), then one a turn.
    cache.persistCompileCache(ops[0]);
    cache.persistCompileCache(ops[1]);
    let i = 2;
    const next = () => {
      if (i < ops.length) {
        cache.persistCompileCache(ops[i++]);
        setImmediate(() => setImmediate(next));
      } else console.log(JSON.stringify(cache.codeCacheStats()));
    };
    setImmediate(() => setImmediate(next));`;
  const first = node(["-e", script]);
  expect(first.stderr).toBe("");
  expect(JSON.parse(first.stdout)).toMatchObject({ writes: 2 });
  expect(header()!.ops).toEqual(["Server.check", "Server.create"]);
  // The next process has nothing to add.
  expect(JSON.parse(node(["-e", script]).stdout)).toMatchObject({ hits: 2, misses: 0, writes: 0 });
});
