// Imported first by the provider's and the CLI's entry points: every CommonJS module loaded after
// it (ours and the libraries we bring: ssh2, zod, yaml, ...) is compiled from a V8 code cache
// of its own making when it has one, instead of from source.
//
// Why not Node's compile cache (module.enableCompileCache), which this replaced: it caches what
// V8 compiled when the module was first compiled, which is only its top level; every function
// is still compiled on its first call, in every process. The engine starts a provider process
// for every `pulumi` command, and that lazy compiling was a fifth of the provider's CPU in a
// 10-server `pulumi up` (about 40 ms). A cache made by V8 after the code has run
// (vm.Script#createCachedData) holds the functions compiled by then too.
//
// The cache is one file per Node version, Node options and program under the user's cache
// directory ($XDG_CACHE_HOME or ~/.cache, then pulumi-baremetal/code-cache), in a directory only
// the user can write: loading bytecode from a file another user could write would run their
// code. Each entry is kept with a hash of its module's source, because V8 checks only the
// source's length.
// A cache that cannot be read or written is not used; BAREMETAL_CODE_CACHE=off turns it off.
import crypto from "node:crypto";
import fs from "node:fs";
import nodeModule from "node:module";
import os from "node:os";
import path from "node:path";
import vm from "node:vm";

interface Entry {
  hash: string;
  offset: number;
  length: number;
}

interface Header {
  node: string;
  /** The operations that had run in the process that wrote it (see persistCompileCache). */
  ops: string[];
  entries: Record<string, Entry>;
}

/**
 * The process's CPU time when our first module began to load: what Node and whoever loaded us
 * (Pulumi's dynamic-provider host) had used by then. The benchmark splits the provider's startup
 * with it into theirs and ours.
 */
export const cpuBeforeLoadUs = ((u) => u.user + u.system)(process.cpuUsage());

const MAGIC = "pulumi-baremetal code cache 1\n";

// A first `pulumi up` writes after the first check and the first create of each kind it has
// (Server and IpReservation in the quickstart: four); the bound is for modules that keep
// missing (loaded late, or refused by V8), each of which asks for a write.
const MAX_WRITES = 6;

type Compile = (this: NodeJS.Module, content: string, filename: string, format?: string) => unknown;

interface ModuleInternals {
  prototype: { _compile: Compile };
  wrap(source: string): string;
  _resolveFilename(request: string, parent: NodeJS.Module, isMain: boolean, options?: unknown): string;
  _resolveLookupPaths(request: string, parent: NodeJS.Module): string[] | null;
  _extensions: NodeJS.RequireExtensions;
  _cache: NodeJS.Dict<NodeJS.Module>;
}

const Module = nodeModule as unknown as ModuleInternals;

/** The directory, or undefined when the cache is off or cannot be kept safely. */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.BAREMETAL_CODE_CACHE === "off") return undefined;
  const base = env.XDG_CACHE_HOME || (os.homedir() ? path.join(os.homedir(), ".cache") : "");
  if (!base) return undefined;
  const dir = path.join(base, "pulumi-baremetal", "code-cache");
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0)
      return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

/** What was read from the file: its header and data, or nothing. */
function readCache(file: string): { header: Header; data: Buffer } | undefined {
  try {
    const buf = fs.readFileSync(file);
    if (buf.toString("latin1", 0, MAGIC.length) !== MAGIC) return undefined;
    const size = buf.readUInt32LE(MAGIC.length);
    const start = MAGIC.length + 4;
    const header = JSON.parse(buf.toString("utf8", start, start + size)) as Header;
    if (header.node !== process.version || typeof header.entries !== "object") return undefined;
    return { header, data: buf.subarray(start + size) };
  } catch {
    return undefined;
  }
}

const sourceHash = (content: string) => crypto.createHash("sha1").update(content).digest("base64");

interface Loaded {
  hash: string;
  script: vm.Script;
}

class CodeCache {
  private readonly old: { header: Header; data: Buffer } | undefined;
  private readonly loaded = new Map<string, Loaded>();
  /** A module compiled here that the file has no usable code for, since the last write. */
  private missed = false;
  hits = 0;
  misses = 0;
  /** The operations this process ran, and those the file holds the code of (read or written). */
  private readonly ops = new Set<string>();
  private readonly known: Set<string>;
  writes = 0;
  /** A write is queued: the operations that end meanwhile need no other. */
  private queued = false;

  constructor(readonly file: string) {
    this.old = readCache(file);
    this.known = new Set(this.old?.header.ops ?? []);
  }

  install(): void {
    const original = Module.prototype._compile;
    const load = (mod: NodeJS.Module, content: string, filename: string, format?: string): unknown => {
      if ((format !== undefined && format !== "commonjs") || !/\.c?js$/.test(filename)) {
        return original.call(mod, content, filename, format);
      }
      let script: vm.Script;
      let hash: string;
      try {
        ({ script, hash } = this.compile(content, filename));
      } catch {
        // Not a script vm.Script takes as it is (ES module syntax Node detects, say): Node's way.
        return original.call(mod, content, filename, format);
      }
      this.loaded.set(filename, { hash, script });
      const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
      return wrapper.call(mod.exports, mod.exports, requireFor(mod), mod, filename, path.dirname(filename));
    };
    Module.prototype._compile = function (content, filename, format) {
      return load(this, content, filename, format);
    };
  }

  private compile(content: string, filename: string): { script: vm.Script; hash: string } {
    const hash = sourceHash(content);
    const entry = this.old?.header.entries[filename];
    const cachedData =
      entry && entry.hash === hash
        ? this.old!.data.subarray(entry.offset, entry.offset + entry.length)
        : undefined;
    // A hashbang is valid only at the very start of a script, which the wrapper moves.
    const source = content.startsWith("#!") ? `//${content.slice(2)}` : content;
    const script = new vm.Script(Module.wrap(source), {
      filename,
      cachedData,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    if (!cachedData || script.cachedDataRejected) {
      this.missed = true;
      this.misses++;
    } else this.hits++;
    return { script, hash };
  }

  /** Whether writing now would give the next process code this file lacks. */
  wants(op: string): boolean {
    this.ops.add(op);
    if (this.queued || this.writes >= MAX_WRITES || this.loaded.size === 0) return false;
    this.queued = this.missed || !this.known.has(op);
    return this.queued;
  }

  /**
   * Writes every module's code as it is now, with what it had run, beside the entries of the
   * modules this process did not load (another project's provider, say). Written to a new
   * file and renamed over the old, so a reader never sees half of one.
   */
  write(): void {
    this.writes++;
    this.queued = false;
    this.missed = false;
    for (const op of this.ops) this.known.add(op);
    const entries: Record<string, Entry> = {};
    const parts: Buffer[] = [];
    let offset = 0;
    const add = (filename: string, hash: string, data: Buffer) => {
      entries[filename] = { hash, offset, length: data.length };
      parts.push(data);
      offset += data.length;
    };
    for (const [filename, m] of this.loaded) add(filename, m.hash, m.script.createCachedData());
    // Another process's modules stay while their files do: a project deleted, or a package
    // installed elsewhere, leaves nothing behind at the next write.
    for (const [filename, e] of Object.entries(this.old?.header.entries ?? {})) {
      if (!this.loaded.has(filename) && fs.existsSync(filename))
        add(filename, e.hash, this.old!.data.subarray(e.offset, e.offset + e.length));
    }
    const ops = [...this.known];
    const header = Buffer.from(JSON.stringify({ node: process.version, ops, entries } satisfies Header));
    const size = Buffer.alloc(4);
    size.writeUInt32LE(header.length);
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      const fd = fs.openSync(tmp, "w", 0o600);
      try {
        // As separate buffers: copying a few megabytes into one cost more than writing them.
        writeAll(fd, [Buffer.from(MAGIC, "latin1"), size, header, ...parts]);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
    } catch {
      fs.rmSync(tmp, { force: true });
    }
    removeStale(path.dirname(this.file));
  }
}

/** Files of other Node versions or options (and leftovers of failed writes) unused for a month. */
const STALE_MS = 30 * 24 * 3600 * 1000;

function removeStale(dir: string): void {
  try {
    for (const f of fs.readdirSync(dir)) {
      const file = path.join(dir, f);
      // Read (atime, where the file system keeps it) or written within the month: in use.
      const st = fs.statSync(file);
      if (Date.now() - Math.max(st.atimeMs, st.mtimeMs) > STALE_MS) fs.rmSync(file, { force: true });
    }
  } catch {
    // Best effort: another process may be removing the same files.
  }
}

/** Every byte of `buffers`, in order: writev may write less than it was given. */
function writeAll(fd: number, buffers: Buffer[]): void {
  const rest = buffers.filter((b) => b.length > 0);
  while (rest.length > 0) {
    let n = fs.writevSync(fd, rest.slice(0, 1024));
    if (n <= 0) throw new Error("the cache file took no more bytes");
    while (rest.length > 0 && n >= rest[0]!.length) n -= rest.shift()!.length;
    if (n > 0) rest[0] = rest[0]!.subarray(n);
  }
}

/** `require` as Node builds it for a module (lib/internal/modules/helpers.js). */
function requireFor(mod: NodeJS.Module): NodeJS.Require {
  const require = ((id: string) => mod.require(id)) as NodeJS.Require;
  const resolve = ((request: string, options?: { paths?: string[] }) =>
    Module._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => Module._resolveLookupPaths(request, mod);
  require.resolve = resolve;
  require.main = process.mainModule;
  require.extensions = Module._extensions;
  require.cache = Module._cache;
  return require;
}

// Built code only: under ts-node or Jest the modules are TypeScript their loaders compile.
const dir = __filename.endsWith(".js") ? codeCacheDir() : undefined;
// One file per program that loads us (the dynamic-provider host, the CLI), as they load
// different modules: the provider's is 1.6 MB, the CLI's 7.7 MB, most of it Pulumi's
// automation API, which the provider would read and hold for nothing. And V8 refuses code
// cached under other flags: a process started with other Node options (--max-old-space-size,
// a profiler's) gets a file of its own rather than one it rewrites.
const key = sourceHash(
  [
    nodeOptions(process.execArgv).join(" "),
    process.env.NODE_OPTIONS ?? "",
    require.main?.filename ?? "",
  ].join("\n"),
).slice(0, 8);
const file =
  dir && path.join(dir, `node-${process.version}-${process.arch}-${key.replace(/[+/=]/g, "_")}.bin`);
const cache = file ? new CodeCache(file) : undefined;
cache?.install();

/** Node's command-line options without the code `node -e` or `-p` was given to run. */
function nodeOptions(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (["-e", "-p", "--eval", "--print", "-pe"].includes(argv[i]!)) i++;
    else if (!/^--(eval|print)=/.test(argv[i]!)) out.push(argv[i]!);
  }
  return out;
}

/** What the cache did for this process's modules, for tests and diagnostics. */
export function codeCacheStats(): { file: string | undefined; hits: number; misses: number; writes: number } {
  return {
    file: cache?.file,
    hits: cache?.hits ?? 0,
    misses: cache?.misses ?? 0,
    writes: cache?.writes ?? 0,
  };
}

/**
 * Called after each of the provider's operations, named (`Server.create`): writes the cache when
 * the process has compiled code the file lacks, which is after a module missed the cache or
 * after the first operation of a kind the file's writer never ran. The engine kills its
 * dynamic-provider process at the end of every command, so there is no exit to write it at.
 * At most MAX_WRITES a process, each after the reply has gone.
 */
export function persistCompileCache(op: string): void {
  if (!cache?.wants(op)) return;
  setImmediate(() => cache.write()).unref();
}

// The CLI exits on its own: it writes at exit.
export function persistCompileCacheAtExit(op: string): void {
  process.once("exit", () => {
    if (cache?.wants(op)) cache.write();
  });
}
