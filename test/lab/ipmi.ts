// IPMI BMCs for tests: one OpenIPMI `ipmi_sim` per BMC on its own 127.0.0.1 UDP port, each
// with its own config and state in a scratch directory. A chassis_control hook records power
// and boot device in files, so a test sees what a driver really did over the wire. Each
// simulator is stopped through the process group we created; nothing is left afterwards.
import { execFile, spawn } from "node:child_process";
import crypto from "node:crypto";
import dgram from "node:dgram";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensurePackages } from "./apt";
import { sleep, stopGroup } from "./process-group";

export interface IpmiBmc {
  host: "127.0.0.1";
  port: number;
  username: string;
  password: string;
  cipherSuite: number;
  pid: number;
  stateDir: string;
  /** what the chassis hook last recorded */
  state(): { power: "on" | "off"; bootDevice: "pxe" | "disk" | "none" };
  /** every chassis_control call in order, e.g. "get power", "set power 0", "set boot pxe" */
  events(): string[];
  /** While stuck, the BMC accepts changes and applies none. */
  setStuck(stuck: boolean): void;
  /** Power changes land this many ms after they are asked for (0: at once). */
  setPowerDelay(ms: number): void;
  stop(): Promise<void>;
}

const USERNAME = "admin";
// ipmi_sim offers suite 3; without -C 3 ipmitool first stalls on the cipher-suite query.
const CIPHER_SUITE = 3;
const READY_TIMEOUT_MS = 15_000;

// ipmi_sim runs `<hook> <dir> get power|boot` and `<hook> <dir> set <what> <value>`, and
// reads "power:1" / "boot:pxe" back from a get. Writes go through mv so a reader never sees
// a half-written file.
const HOOK = `#!/bin/sh
d=$1; shift
echo "$*" >> "$d/events.log"
put() { echo "$2" > "$d/$1.$$" && mv "$d/$1.$$" "$d/$1"; }
now() { date +%s%3N; }
# A stuck BMC accepts every change and applies none, as flaky ones do.
if [ "$1" = set ] && [ -e "$d/stuck" ]; then exit 0; fi
# A machine attached to this BMC (netns-machine.ts) hears its power land. It must not hold
# our stdout: ipmi_sim reads the hook's answer to its end.
land() {
  old=$(cat "$d/power")
  put power "$1"
  if [ "$old" != "$1" ] && [ -x "$d/machine" ]; then "$d/machine" "$d" "$1" </dev/null >/dev/null 2>&1; fi
}
# With a power delay, a power change lands that many ms later, as on real machines.
setpower() {
  delay=$(cat "$d/delay_ms" 2>/dev/null || echo 0)
  if [ "$delay" -gt 0 ]; then put pending "$1 $(( $(now) + delay ))"; else rm -f "$d/pending"; land "$1"; fi
}
if [ -e "$d/pending" ]; then
  read -r value due < "$d/pending" || true
  if [ -n "$due" ] && [ "$(now)" -ge "$due" ]; then land "$value"; rm -f "$d/pending"; fi
fi
case "$1 $2" in
  "get power") echo "power:$(cat "$d/power")" ;;
  "get boot") echo "boot:$(cat "$d/boot")" ;;
  "set power") setpower "$3" ;;
  "set boot") put boot "$3" ;;
  # A hard reset of a running machine: it goes down and comes straight back.
  "set reset") if [ "$(cat "$d/power")" = 1 ]; then land 0; land 1; fi ;;
  # A soft shutdown is an ACPI request: model an OS that honours it.
  "set shutdown") setpower 0 ;;
esac
exit 0
`;

const CMD_EMU = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
`;

function lanConf(name: string, port: number, password: string, hook: string, stateDir: string): string {
  const auths = "none md2 md5 straight";
  return `name "${name}"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${port}
    priv_limit admin
    allowed_auths_callback ${auths}
    allowed_auths_user ${auths}
    allowed_auths_operator ${auths}
    allowed_auths_admin ${auths}
    guid ${crypto.randomBytes(16).toString("hex")}
  endlan
  chassis_control "${hook} ${stateDir}"
  user 2 true "${USERNAME}" "${password}" admin 10 ${auths}
`;
}

/** Distinct UDP ports on 127.0.0.1 that were free a moment ago (held together so none repeats). */
export async function freeUdpPorts(count: number): Promise<number[]> {
  const sockets = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<dgram.Socket>((resolve, reject) => {
          const s = dgram.createSocket("udp4");
          s.once("error", reject);
          s.bind(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = sockets.map((s) => s.address().port);
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

function udpBound(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  return fs.readFileSync("/proc/net/udp", "utf8").includes(`0100007F${hex}`);
}

function ipmitoolStatus(port: number, password: string): Promise<boolean> {
  const args = ["-I", "lanplus", "-C", String(CIPHER_SUITE), "-H", "127.0.0.1", "-p", String(port)];
  args.push("-U", USERNAME, "-E", "-R", "1", "-N", "1", "chassis", "power", "status");
  const env = { ...process.env, IPMITOOL_PASSWORD: password };
  return new Promise((resolve) =>
    execFile("ipmitool", args, { env, timeout: 5_000 }, (err) => resolve(err === null)),
  );
}

async function startOne(root: string, index: number, port: number, password: string): Promise<IpmiBmc> {
  const stateDir = path.join(root, `bmc${index}`);
  fs.mkdirSync(stateDir);
  fs.writeFileSync(path.join(stateDir, "power"), "0\n");
  fs.writeFileSync(path.join(stateDir, "boot"), "none\n");
  fs.writeFileSync(path.join(stateDir, "events.log"), "");
  const conf = path.join(stateDir, "lan.conf");
  const hook = path.join(root, "chassis-hook.sh");
  fs.writeFileSync(conf, lanConf(`bmc${index}`, port, password, hook, stateDir), { mode: 0o600 });
  const emu = path.join(stateDir, "cmd.emu");
  fs.writeFileSync(emu, CMD_EMU);

  const log = fs.openSync(path.join(stateDir, "ipmi_sim.log"), "a");
  const child = spawn("ipmi_sim", ["-c", conf, "-f", emu, "-s", stateDir, "-n"], {
    cwd: stateDir,
    detached: true, // its own process group, so stop() also reaches a hook still running
    stdio: ["ignore", log, log],
  });
  fs.closeSync(log);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error("could not spawn ipmi_sim");
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `exited (${code ?? signal})`));
  child.once("error", (e) => (exited = e.message));

  const stop = async () => {
    await stopGroup(pid, "ipmi_sim");
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let ready = false;
  while (!ready && Date.now() < deadline && exited === undefined) {
    ready = udpBound(port) && (await ipmitoolStatus(port, password));
    if (!ready) await sleep(50);
  }
  if (!ready) {
    const why = exited ?? `no answer within ${READY_TIMEOUT_MS} ms`;
    await stop().catch(() => undefined);
    const out = fs.readFileSync(path.join(stateDir, "ipmi_sim.log"), "utf8").slice(-2000);
    throw new Error(`ipmi_sim on udp/${port} not ready (${why}): ${out}`);
  }

  // Start the log at the test's first call, not our readiness probe.
  fs.writeFileSync(path.join(stateDir, "events.log"), "");
  const read = (f: string) => fs.readFileSync(path.join(stateDir, f), "utf8");
  return {
    host: "127.0.0.1",
    port,
    username: USERNAME,
    password,
    cipherSuite: CIPHER_SUITE,
    pid,
    stateDir,
    state() {
      const boot = read("boot").trim();
      return {
        power: read("power").trim() === "1" ? "on" : "off",
        // The hook hears "default" for `bootdev disk`; cdrom/bios are outside the lab's model.
        bootDevice: boot === "pxe" ? "pxe" : boot === "default" ? "disk" : "none",
      };
    },
    events: () => read("events.log").split("\n").filter(Boolean),
    setPowerDelay: (ms: number) => fs.writeFileSync(path.join(stateDir, "delay_ms"), `${Math.round(ms)}\n`),
    setStuck: (stuck: boolean) =>
      stuck
        ? fs.writeFileSync(path.join(stateDir, "stuck"), "")
        : fs.rmSync(path.join(stateDir, "stuck"), { force: true }),
    stop,
  };
}

export async function startIpmiBmcs(
  count: number,
  opts: { password?: string } = {},
): Promise<{ bmcs: IpmiBmc[]; stop(): Promise<void> }> {
  ensurePackages(["openipmi", "ipmitool"]);
  const pw = opts.password;
  // 20 characters (the IPMI 2.0 maximum) failed RAKP between ipmitool 1.8.19 and ipmi_sim
  // here; 16 is the IPMI 1.5 limit and works everywhere.
  if (pw !== undefined && (!/^[\x21-\x7e]{1,16}$/.test(pw) || /["\\]/.test(pw))) {
    throw new Error("IPMI password must be 1-16 printable characters without quotes or backslashes");
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-ipmi-"));
  const removeRoot = () => fs.rmSync(root, { recursive: true, force: true });
  // lan.conf splits chassis_control on spaces.
  if (/[\s"]/.test(root)) throw new Error(`scratch dir ${root} must not contain spaces or quotes`);
  fs.writeFileSync(path.join(root, "chassis-hook.sh"), HOOK, { mode: 0o755 });

  const ports = await freeUdpPorts(count);
  const results = await Promise.allSettled(
    ports.map((port, i) => startOne(root, i, port, opts.password ?? crypto.randomBytes(8).toString("hex"))),
  );
  const bmcs = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stopAll = async () => {
    await Promise.all(bmcs.map((b) => b.stop()));
    removeRoot();
  };
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  return { bmcs, stop: stopAll };
}
