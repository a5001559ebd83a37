// A private PostgreSQL server on 127.0.0.1 for tests and benchmarks: installed from Debian's
// packages when missing, its own cluster in a scratch directory, password (scram) logins,
// durable commits, stopped by its PID. Nothing is left running or on disk afterwards.
import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensurePackages } from "./apt";
import { freePort } from "./ports";

export interface PostgresServer {
  /** Superuser URL, e.g. postgres://postgres:<password>@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  pid: number;
  dir: string;
  /** URL of the same server with another database. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

function binDir(): string | undefined {
  const base = "/usr/lib/postgresql";
  if (!fs.existsSync(base)) return undefined;
  const versions = fs
    .readdirSync(base)
    .filter((v) => fs.existsSync(path.join(base, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] && path.join(base, versions[0], "bin");
}

function ensureInstalled(): string {
  ensurePackages(["postgresql"]);
  const bin = binDir();
  if (!bin) throw new Error("apt-get installed postgresql but no initdb was found under /usr/lib/postgresql");
  return bin;
}

/** `settings` are extra server settings (name to value), e.g. the tuning a benchmark documents. */
export async function startPostgres(settings: Record<string, string> = {}): Promise<PostgresServer> {
  const bin = ensureInstalled();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-pg-"));
  const dir = path.join(root, "data");
  const sock = path.join(root, "sock");
  fs.mkdirSync(sock);
  const password = crypto.randomBytes(12).toString("hex");
  const pwfile = path.join(root, "pw");
  fs.writeFileSync(pwfile, password + "\n", { mode: 0o600 });

  // The server refuses to run as root: run it as the postgres user, which owns the scratch dir.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    fs.chmodSync(root, 0o755);
    execFileSync("chown", ["-R", "postgres:postgres", root]);
  }
  const run = (cmd: string, args: string[], timeout = 60_000) => {
    const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
    const r = spawnSync(file, argv, { encoding: "utf8", timeout });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  };

  run(path.join(bin, "initdb"), [
    "-D",
    dir,
    "-U",
    "postgres",
    "--auth=scram-sha-256",
    `--pwfile=${pwfile}`,
    "-E",
    "UTF8",
  ]);
  const port = await freePort();
  const options = [
    "-c listen_addresses=127.0.0.1",
    `-p ${port}`,
    `-k ${sock}`,
    // Durable commits, as in production: every figure we publish is for these.
    "-c fsync=on",
    "-c synchronous_commit=on",
    "-c max_connections=100",
    ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`),
  ].join(" ");
  run(
    path.join(bin, "pg_ctl"),
    ["-D", dir, "-l", path.join(root, "server.log"), "-w", "-t", "60", "-o", options, "start"],
    90_000,
  );
  const pid = Number(fs.readFileSync(path.join(dir, "postmaster.pid"), "utf8").split("\n")[0]);

  const urlFor = (db: string) => `postgres://postgres:${password}@127.0.0.1:${port}/${db}`;
  return {
    url: urlFor("postgres"),
    port,
    pid,
    dir: root,
    urlFor,
    async stop() {
      try {
        process.kill(pid, "SIGINT"); // fast shutdown
      } catch {
        return fs.rmSync(root, { recursive: true, force: true });
      }
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
