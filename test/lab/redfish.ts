// A Redfish BMC for tests: sushy-tools' `sushy-emulator` (the emulator OpenStack's CI uses) with
// its fake systems driver, HTTPS with a certificate made for the run, and HTTP basic auth. It
// runs from a virtualenv cached outside the work tree, in a scratch directory, and is stopped
// through the process group we created; nothing is left running or on disk afterwards.
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { ensurePackages } from "./apt";
import { labCache } from "./cache";
import { sleep, stopGroup } from "./process-group";
import { freePort } from "./ports";

export interface RedfishSystem {
  /** the id in /redfish/v1/Systems/<id> (the UUID; the name answers with a 307 to it) */
  id: string;
  name: string;
  mac: string;
}

export interface RedfishLab {
  /** https://127.0.0.1:PORT */
  url: string;
  username: string;
  password: string;
  /** PEM of the self-signed server certificate; trust it as the only CA */
  caCert: string;
  /** as Node's X509Certificate.fingerprint256 */
  fingerprint256: string;
  systems: RedfishSystem[];
  pid: number;
  /** the system documents the emulator PUT on every change, newest last */
  notifications(): unknown[];
  stop(): Promise<void>;
}

const USERNAME = "admin";
const READY_TIMEOUT_MS = 20_000;

function sushyVersion(): string {
  const env = fs.readFileSync(path.join(__dirname, "../../scripts/versions.env"), "utf8");
  const v = /^SUSHY_TOOLS_VERSION=(\S+)/m.exec(env)?.[1];
  if (!v) throw new Error("SUSHY_TOOLS_VERSION is missing from scripts/versions.env");
  return v;
}

/** The cached virtualenv's python; built once per version (about 5 s with PyPI reachable). */
function ensureVenv(): string {
  ensurePackages(["python3", "python3-venv", "openssl"]);
  const version = sushyVersion();
  const cache = labCache();
  const venv = path.join(cache, `sushy-tools-${version}`);
  const python = path.join(venv, "bin", "python");
  if (fs.existsSync(path.join(venv, ".complete"))) return python;

  // Built aside and renamed into place, so parallel jest workers never use a half-built venv.
  // We always run `bin/python -m`, which keeps working after the rename (script shebangs would not).
  fs.mkdirSync(cache, { recursive: true });
  const tmp = fs.mkdtempSync(`${venv}.tmp-`);
  try {
    execFileSync("/usr/bin/python3", ["-m", "venv", tmp], { stdio: "pipe", timeout: 120_000 });
    execFileSync(
      path.join(tmp, "bin", "python"),
      ["-m", "pip", "install", "-q", "--disable-pip-version-check", `sushy-tools==${version}`],
      { stdio: "pipe", timeout: 600_000 },
    );
    fs.writeFileSync(path.join(tmp, ".complete"), `${version}\n`);
    fs.chmodSync(tmp, 0o755); // mkdtemp made it private
    fs.rmSync(venv, { recursive: true, force: true }); // a stale, incomplete one
    fs.renameSync(tmp, venv);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (fs.existsSync(path.join(venv, ".complete"))) return python; // another worker won
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`installing sushy-tools ${version} failed: ${err.stderr?.toString() || err.message}`, {
      cause: e,
    });
  }
  return python;
}

function randomMac(): string {
  // 52:54:00 is QEMU's prefix: locally administered, never a real vendor's.
  return ["52", "54", "00", ...[...crypto.randomBytes(3)].map((b) => b.toString(16).padStart(2, "0"))].join(
    ":",
  );
}

function config(p: {
  port: number;
  dir: string;
  systems: object[];
  notifyUrl: string;
  powerDelaySeconds: number;
}): string {
  const file = (f: string) => JSON.stringify(path.join(p.dir, f));
  return `import json
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = ${p.port}
SUSHY_EMULATOR_SSL_CERT = ${file("cert.pem")}
SUSHY_EMULATOR_SSL_KEY = ${file("key.pem")}
SUSHY_EMULATOR_AUTH_FILE = ${file("htpasswd")}
SUSHY_EMULATOR_STATE_DIR = ${file("state")}
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_FAKE_SYSTEMS = json.loads(${JSON.stringify(JSON.stringify(p.systems))})
EXTERNAL_NOTIFICATION_URL = ${JSON.stringify(p.notifyUrl)}

# The fake driver applies a power change random.randint(1, 11) s later and has no setting for
# it. This file is executed inside the emulator, so pin that draw: the change still lands
# asynchronously (0-${p.powerDelaySeconds} s, it rounds down to whole seconds), but quickly.
from sushy_tools.emulator.resources.systems import fakedriver as _fake
class _FixedDelay:
    @staticmethod
    def randint(_a, _b):
        return ${p.powerDelaySeconds}
_fake.random = _FixedDelay()
`;
}

function get(url: string, ca: string, auth: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, auth, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Collects the emulator's change notifications (it PUTs the whole system document). */
async function notificationSink(): Promise<{ url: string; received: unknown[]; close(): Promise<void> }> {
  const received: unknown[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        received.push(Buffer.concat(chunks).toString("utf8"));
      }
      res.writeHead(204).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Notifications are PUT synchronously from inside the emulator's request handling, and the
 * sink lives in this process: drive the emulator with async I/O only (a sync child process
 * here would block the sink and stall the emulator's reply).
 */
export async function startRedfish(opts: {
  systems: number;
  powerDelaySeconds?: number;
}): Promise<RedfishLab> {
  const python = ensureVenv();
  const powerDelaySeconds = opts.powerDelaySeconds ?? 1;
  if (!Number.isInteger(powerDelaySeconds) || powerDelaySeconds < 0) {
    throw new Error("powerDelaySeconds must be a whole number of seconds >= 0");
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-redfish-"));
  const sink = await notificationSink();
  let pid: number | undefined;
  const cleanup = async () => {
    if (pid !== undefined) await stopGroup(pid, "sushy-emulator");
    await sink.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        path.join(dir, "key.pem"),
        "-out",
        path.join(dir, "cert.pem"),
        "-days",
        "7",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
      { stdio: "pipe", timeout: 30_000 },
    );
    const caCert = fs.readFileSync(path.join(dir, "cert.pem"), "utf8");
    const password = crypto.randomBytes(12).toString("hex");
    // bcrypt is the only digest sushy accepts; cost 4 because it checks it on every request.
    const digest = execFileSync(
      python,
      [
        "-c",
        "import bcrypt, os; print(bcrypt.hashpw(os.environ['PW'].encode(), bcrypt.gensalt(4)).decode())",
      ],
      { env: { ...process.env, PW: password }, encoding: "utf8", timeout: 30_000 },
    ).trim();
    fs.writeFileSync(path.join(dir, "htpasswd"), `${USERNAME}:${digest}\n`, { mode: 0o600 });

    const systems: RedfishSystem[] = Array.from({ length: opts.systems }, (_, i) => ({
      id: crypto.randomUUID(),
      name: `node-${i}`,
      mac: randomMac(),
    }));
    const port = await freePort();
    const conf = path.join(dir, "emulator.conf");
    fs.writeFileSync(
      conf,
      config({
        port,
        dir,
        notifyUrl: sink.url,
        powerDelaySeconds,
        systems: systems.map((s) => ({
          uuid: s.id,
          name: s.name,
          power_state: "Off",
          external_notifier: true,
          nics: [{ mac: s.mac }],
        })),
      }),
    );

    const log = fs.openSync(path.join(dir, "emulator.log"), "a");
    const env: NodeJS.ProcessEnv = { ...process.env, NO_PROXY: "127.0.0.1", no_proxy: "127.0.0.1" };
    delete env.SUSHY_EMULATOR_CONFIG;
    const child = spawn(python, ["-m", "sushy_tools.emulator.main", "--config", conf], {
      cwd: dir,
      env,
      detached: true, // its own process group: stop() reaches anything it starts
      stdio: ["ignore", log, log],
    });
    fs.closeSync(log);
    child.unref();
    pid = child.pid;
    if (pid === undefined) throw new Error("could not spawn sushy-emulator");
    let exited: string | undefined;
    child.once("exit", (code, signal) => (exited = `exited (${code ?? signal})`));
    child.once("error", (e) => (exited = e.message));

    const url = `https://127.0.0.1:${port}`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let status = 0;
    while (status !== 200 && Date.now() < deadline && exited === undefined) {
      status = await get(`${url}/redfish/v1/Systems`, caCert, `${USERNAME}:${password}`).catch(() => 0);
      if (status !== 200) await sleep(100);
    }
    if (status !== 200) {
      const why = exited ?? (status ? `HTTP ${status}` : `no answer within ${READY_TIMEOUT_MS} ms`);
      const out = fs.readFileSync(path.join(dir, "emulator.log"), "utf8").slice(-2000);
      throw new Error(`sushy-emulator on ${url} not ready (${why}): ${out}`);
    }

    return {
      url,
      username: USERNAME,
      password,
      caCert,
      fingerprint256: new crypto.X509Certificate(caCert).fingerprint256,
      systems,
      pid,
      notifications: () => [...sink.received],
      stop: cleanup,
    };
  } catch (e) {
    await cleanup().catch(() => undefined);
    throw e;
  }
}
