// npm run bench:hardware: what the drivers cost on top of the protocols they speak, against
// the lab's real peers. For a power cycle (IPMI on ipmi_sim, Redfish on sushy-tools) and a VLAN
// change (the lab switch over SSH): p50/p99 through the driver and through the same protocol
// calls made by hand ("raw") with peers that apply changes at once; then one at a time and 50
// at once with power changes landing a second after they are asked, as on real machines.
// Prints one JSON document.
import { spawn } from "node:child_process";
import https from "node:https";
import { performance } from "node:perf_hooks";
import axios from "axios";
import { Client } from "ssh2";
import { IpmiBmc, RedfishBmc } from "../../provider/hardware/bmc";
import { openSwitch } from "../../provider/hardware/switch";
import { startIpmiBmcs } from "../lab/ipmi";
import { startRedfish, type RedfishLab } from "../lab/redfish";
import { startSwitch } from "../lab/switch";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 50);

interface Stats {
  n: number;
  p50Ms: number;
  p99Ms: number;
}

const round = (n: number) => Number(n.toFixed(2));
function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { n: s.length, p50Ms: round(q(0.5)), p99Ms: round(q(0.99)) };
}

async function timeEach(n: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    out.push(performance.now() - t);
  }
  return out;
}

/** `rounds` times, every op at once; per-op latencies and each round's wall time. */
async function timeParallel(rounds: number, ops: (() => Promise<unknown>)[]) {
  const each: number[] = [];
  const walls: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    await Promise.all(
      ops.map(async (op) => {
        const t = performance.now();
        await op();
        each.push(performance.now() - t);
      }),
    );
    walls.push(performance.now() - start);
  }
  return { each: stats(each), wall: stats(walls) };
}

/** A hand-driven `ipmitool shell`: the protocol with one session, without our driver. */
async function rawIpmiShell(b: { host: string; port: number; username: string; password: string }) {
  const args = [
    "-I",
    "lanplus",
    "-H",
    b.host,
    "-p",
    String(b.port),
    "-U",
    b.username,
    "-E",
    "-C",
    "3",
    "shell",
  ];
  const child = spawn("ipmitool", args, { env: { PATH: process.env.PATH, IPMITOOL_PASSWORD: b.password } });
  let buffer = "";
  let done: (() => void) | undefined;
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    buffer += d;
    if (buffer.endsWith("ipmitool> ") && done) done();
  });
  const send = (line: string) =>
    new Promise<void>((resolve) => {
      buffer = "";
      done = resolve;
      child.stdin.write(`${line}\n`);
    });
  await new Promise<void>((resolve) => (buffer.endsWith("ipmitool> ") ? resolve() : (done = resolve)));
  return { send, close: () => child.stdin.end("exit\n") };
}

/** Waits, polling every `intervalMs`, until `read` says `want`. */
async function until(read: () => Promise<boolean>, intervalMs: number): Promise<void> {
  for (let i = 0; i < 1000 && !(await read()); i++) await new Promise((r) => setTimeout(r, intervalMs));
}

const POLL_MS = 500;
const DELAY_MS = 1000;

async function ipmi() {
  const lab = await startIpmiBmcs(PARALLEL);
  const drivers = lab.bmcs.map(
    (b) =>
      new IpmiBmc(
        { host: b.host, port: b.port, username: b.username, password: b.password, cipherSuite: 3 },
        { timeouts: { pollIntervalMs: POLL_MS } },
      ),
  );
  try {
    // What the driver adds: the calls a confirmed cycle needs (read, off, read back, on, read
    // back) on one session by hand, against the same through the driver. The lab BMC applies
    // changes at once here, so nothing but the calls is measured.
    const raw = await rawIpmiShell(lab.bmcs[0]!);
    const rawCycle = async () => {
      for (const c of ["status", "off", "status", "on", "status"]) await raw.send(`chassis power ${c}`);
    };
    await drivers[0]!.setPower("on");
    const rawStats = stats(await timeEach(ROUNDS, rawCycle));
    const driverStats = stats(await timeEach(ROUNDS, () => drivers[0]!.setPower("cycle")));
    raw.close();
    // 50 at once, with power changes landing a second after they are asked, as on real machines.
    for (const b of lab.bmcs) b.setPowerDelay(DELAY_MS);
    const single = stats(await timeEach(3, () => drivers[0]!.setPower("cycle")));
    const parallel = await timeParallel(
      3,
      drivers.map((d) => () => d.setPower("cycle")),
    );
    return summary("ipmi power cycle", rawStats, driverStats, single, parallel);
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
    await lab.stop();
  }
}

async function redfish() {
  const endpoint = (lab: RedfishLab, id: string) => ({
    url: lab.url,
    username: lab.username,
    password: lab.password,
    tls: { ca: lab.caCert },
    systemId: id,
  });
  const instant = await startRedfish({ systems: 1, powerDelaySeconds: 0 });
  let rawStats: Stats, driverStats: Stats;
  try {
    const driver = new RedfishBmc(endpoint(instant, instant.systems[0]!.id), {
      timeouts: { pollIntervalMs: POLL_MS },
    });
    const http = axios.create({
      baseURL: instant.url,
      httpsAgent: new https.Agent({ ca: instant.caCert, keepAlive: true }),
      auth: { username: instant.username, password: instant.password },
    });
    const system = `/redfish/v1/Systems/${instant.systems[0]!.id}`;
    const reset = (ResetType: string) => http.post(`${system}/Actions/ComputerSystem.Reset`, { ResetType });
    const rawCycle = async () => {
      await http.get(system);
      await reset("ForceOff");
      await http.get(system);
      await reset("On");
      await http.get(system);
    };
    await driver.setPower("on");
    rawStats = stats(await timeEach(ROUNDS, rawCycle));
    driverStats = stats(await timeEach(ROUNDS, () => driver.setPower("cycle")));
    await driver.close();
  } finally {
    await instant.stop();
  }

  const lab = await startRedfish({ systems: PARALLEL, powerDelaySeconds: DELAY_MS / 1000 });
  const drivers = lab.systems.map(
    (s) => new RedfishBmc(endpoint(lab, s.id), { timeouts: { pollIntervalMs: POLL_MS } }),
  );
  try {
    await Promise.all(drivers.map((d) => d.setPower("on")));
    const single = stats(await timeEach(3, () => drivers[0]!.setPower("cycle")));
    const parallel = await timeParallel(
      3,
      drivers.map((d) => () => d.setPower("cycle")),
    );
    // The same 50 cycles by hand, polling alike: the emulator's own limit on this machine.
    const http = axios.create({
      baseURL: lab.url,
      httpsAgent: new https.Agent({ ca: lab.caCert, keepAlive: true }),
      auth: { username: lab.username, password: lab.password },
    });
    const handCycle = async (id: string) => {
      const system = `/redfish/v1/Systems/${id}`;
      const power = async () => ((await http.get(system)).data as { PowerState: string }).PowerState;
      await http.post(`${system}/Actions/ComputerSystem.Reset`, { ResetType: "ForceOff" });
      await until(async () => (await power()) === "Off", POLL_MS);
      await http.post(`${system}/Actions/ComputerSystem.Reset`, { ResetType: "On" });
      await until(async () => (await power()) === "On", POLL_MS);
    };
    const rawParallel = await timeParallel(
      3,
      lab.systems.map((s) => () => handCycle(s.id)),
    );
    return {
      ...summary("redfish power cycle", rawStats, driverStats, single, parallel),
      rawParallelWall: rawParallel.wall,
    };
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
    await lab.stop();
  }
}

async function vlan() {
  const lab = await startSwitch({ ports: PARALLEL });
  const endpoint = {
    host: lab.host,
    port: lab.port,
    username: lab.username,
    hostKeyFingerprint: lab.hostKeyFingerprint,
    privateKey: lab.privateKey,
  };
  const sw = openSwitch(endpoint, "linux-bridge-per-vlan");
  const client = await new Promise<Client>((resolve, reject) => {
    const c = new Client();
    c.once("ready", () => resolve(c)).once("error", reject);
    c.connect({ ...endpoint, hostVerifier: () => true });
  });
  const exec = (cmd: string) =>
    new Promise<void>((resolve, reject) =>
      client.exec(cmd, (err, stream) => {
        if (err) return reject(err);
        stream.on("data", () => undefined).on("close", () => resolve());
        stream.stderr.on("data", () => undefined);
      }),
    );
  try {
    await sw.ensureVlan(100);
    await sw.ensureVlan(200);
    // The same batch the driver sends for one access change: move, up, read back.
    const rawChange = (i: number) =>
      exec(
        `ip link set dev swp1 master vlan${i % 2 ? 100 : 200}\nip link set dev swp1 up\nip -j -d link show dev swp1`,
      );
    const raw = stats(await timeEach(ROUNDS, rawChange));
    const single = stats(await timeEach(ROUNDS, (i) => sw.setAccess("swp1", i % 2 ? 100 : 200)));
    let flip = 0;
    // One change at a time per switch, by design: 50 at once queue behind each other.
    const parallel = await timeParallel(
      3,
      lab.ports.map((p) => () => sw.setAccess(p, flip++ % 2 ? 100 : 200)),
    );
    return summary("vlan change", raw, single, single, parallel);
  } finally {
    client.end();
    await sw.close();
    await lab.stop();
  }
}

function summary(
  what: string,
  raw: Stats,
  driver: Stats,
  single: Stats,
  parallel: { each: Stats; wall: Stats },
) {
  return {
    what,
    raw,
    driver,
    driverOverheadMs: round(driver.p50Ms - raw.p50Ms),
    single,
    [`parallel${PARALLEL}`]: { perOperation: parallel.each, wall: parallel.wall },
    parallelWallOverSingle: round(parallel.wall.p50Ms / single.p50Ms),
  };
}

async function main(): Promise<void> {
  const only = (process.env.BENCH_ONLY ?? "ipmi,redfish,vlan").split(",");
  const results = [];
  if (only.includes("ipmi")) results.push(await ipmi());
  if (only.includes("redfish")) results.push(await redfish());
  if (only.includes("vlan")) results.push(await vlan());
  const m = process.memoryUsage();
  const bmc = results.filter((r) => r.what !== "vlan change");
  console.log(
    JSON.stringify(
      {
        benchmark: "hardware drivers against the lab",
        rounds: ROUNDS,
        parallel: PARALLEL,
        results,
        memory: { rssMb: round(m.rss / 2 ** 20), heapUsedMb: round(m.heapUsed / 2 ** 20) },
        targets: {
          driverAddsUnder5ms: Object.fromEntries(results.map((r) => [r.what, r.driverOverheadMs < 5])),
          bmcParallelUnder2xSingle: Object.fromEntries(
            bmc.map((r) => [r.what, r.parallelWallOverSingle < 2]),
          ),
        },
      },
      null,
      2,
    ),
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
