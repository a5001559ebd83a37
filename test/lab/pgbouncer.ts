// A private PgBouncer in front of a test PostgreSQL server, on 127.0.0.1: installed from
// Debian's packages when missing, its own configuration in a scratch directory, the server's
// password (SCRAM) for its one user, stopped by its process group. Nothing is left behind.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ensurePackages } from "./apt";
import { freePort } from "./ports";
import { sleep, stopGroup } from "./process-group";

export interface PgBouncer {
  /** The URL of `database` through the pooler, with the server's user and password. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

/**
 * `settings`: lines of its [pgbouncer] section beyond the listening and authentication ones
 * (`pool_mode = session`, `ignore_startup_parameters = options`); its defaults otherwise.
 */
export async function startPgBouncer(serverUrl: string, settings: string[] = []): Promise<PgBouncer> {
  ensurePackages(["pgbouncer"]);
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-pgbouncer-"));
  const port = await freePort();
  fs.writeFileSync(path.join(root, "users.txt"), `"${user}" "${password}"\n`, { mode: 0o600 });
  fs.writeFileSync(
    path.join(root, "pgbouncer.ini"),
    [
      "[databases]",
      `* = host=${server.hostname} port=${server.port}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = scram-sha-256",
      `auth_file = ${path.join(root, "users.txt")}`,
      `logfile = ${path.join(root, "pgbouncer.log")}`,
      ...settings,
      "",
    ].join("\n"),
  );
  // It refuses to run as root: as the postgres user, which then owns the scratch directory.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    fs.chmodSync(root, 0o755);
    execFileSync("chown", ["-R", "postgres:postgres", root]);
  }
  const command = ["/usr/sbin/pgbouncer", path.join(root, "pgbouncer.ini")];
  const [file, argv] = asRoot
    ? ["runuser", ["-u", "postgres", "--", ...command]]
    : [command[0]!, command.slice(1)];
  const child = spawn(file, argv, { detached: true, stdio: "ignore" });
  const pid = child.pid!;
  const stop = async () => {
    await stopGroup(pid, "pgbouncer");
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    await listening(port, 10_000);
  } catch (e) {
    const log = fs.existsSync(path.join(root, "pgbouncer.log"))
      ? fs.readFileSync(path.join(root, "pgbouncer.log"), "utf8")
      : "";
    await stop();
    throw new Error(`pgbouncer did not listen on 127.0.0.1:${port}: ${log.slice(-2000)}`, { cause: e });
  }
  return {
    urlFor(database) {
      const u = new URL(serverUrl);
      u.port = String(port);
      u.pathname = `/${database}`;
      return u.toString();
    },
    stop,
  };
}

async function listening(port: number, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await sleep(50);
  }
}
