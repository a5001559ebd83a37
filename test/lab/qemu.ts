// A real machine that netboots: QEMU (software emulation, TCG) with SeaBIOS and the iPXE ROM of
// Debian's ipxe-qemu, on QEMU's user-mode network. Its built-in DHCP hands out `boot.ipxe` from
// its built-in TFTP; that script chains to our boot server by MAC, as DHCP does on a real
// provisioning network. The guest reaches the boot server (on 127.0.0.1) as GUEST_HTTP through
// `guestfwd`; `restrict=on` keeps it off every other host and network.
//
// Found on this machine (QEMU 7.2, ipxe-qemu 1.0.0+git-20190125):
// - guestfwd to a chardev (`-tcp:127.0.0.1:port`) is ONE host connection for QEMU's lifetime: the
//   first HTTP fetch works, the next one goes nowhere. `cmd:` spawns a command per guest
//   connection, so each connection gets a tiny relay to the host port (RELAY, run by our Node).
//   libslirp starts it with setsid(), so it is not in QEMU's process group: stop() finds the
//   relays by their script path and stops them by PID.
// - This iPXE build has no `poweroff` ("command not found"). A script that ends with `exit`
//   returns to the BIOS, which finds no other bootable device; with `reboot-timeout=0` and
//   `-no-reboot`, QEMU then exits by itself.
// - iPXE URL-encodes `${net0/mac}` in a path: the boot server sees /boot/0c%3Ac4%3A...ipxe.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensurePackages } from "./apt";
import { alive, sleep, stopGroup } from "./process-group";

export const QEMU_PACKAGES = ["qemu-system-x86", "ipxe-qemu", "seabios"];
/** Where the guest reaches the forwarded HTTP server (port 80). */
export const GUEST_HTTP = "http://10.0.2.100";
const GUEST_HTTP_ADDR = "10.0.2.100:80";
const START_TIMEOUT_MS = 15_000;
const RELAY_NAME = "guestfwd-relay.js";

// One guest TCP connection <-> one connection to the host port. Half-closes pass through; it ends
// when either side is gone (QEMU exiting closes its end) and after a minute whatever happens.
const RELAY = `"use strict";
const net = require("node:net");
const port = Number(process.argv[2]);
const guest = new net.Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
const host = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
// With both sockets gone nothing keeps the process: it ends by itself.
const quit = () => { guest.destroy(); host.destroy(); };
guest.pipe(host);
host.pipe(guest);
host.on("close", () => guest.end(quit));
guest.on("close", quit);
guest.on("error", quit);
host.on("error", quit);
setTimeout(quit, 60000).unref();
`;

export interface NetbootVmOptions {
  /** The NIC's MAC, e.g. "0c:c4:7a:00:00:01". */
  mac: string;
  /** TCP port on 127.0.0.1 that the guest reaches as GUEST_HTTP. */
  httpPort: number;
  /** What the DHCP-served script chains to; default GUEST_HTTP/boot/${net0/mac}.ipxe. */
  chainUrl?: string;
  memoryMb?: number;
}

export interface NetbootVm {
  pid: number;
  /** Scratch directory (TFTP root, relay, console and QEMU logs); removed by stop(). */
  dir: string;
  /** Date.now() just before QEMU was spawned. */
  startedAt: number;
  /** The serial console (SeaBIOS and iPXE output) as plain text. */
  console(): string;
  /** How QEMU ended, once it has. */
  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Resolves when QEMU exits by itself; rejects (with the console's tail) after timeoutMs. */
  waitForEnd(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** PIDs of guestfwd relays still running for this VM. */
  relayPids(): number[];
  /** Stops QEMU (process group) and its relays (by PID), removes the scratch dir. Idempotent. */
  stop(): Promise<void>;
}

/** Plain text from a console that SeaBIOS's serial console paints with cursor escapes. */
export function consoleText(raw: string): string {
  // eslint-disable-next-line no-control-regex
  return raw.replace(/\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])/g, "").replace(/[\r\b]/g, "");
}

function pidsWithArg(arg: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.includes(arg)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function stopPid(pid: number): Promise<void> {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline && alive(pid)) await sleep(25);
    if (!alive(pid)) return;
  }
  throw new Error(`guestfwd relay ${pid} survived SIGKILL`);
}

export async function startNetbootVm(opts: NetbootVmOptions): Promise<NetbootVm> {
  ensurePackages(QEMU_PACKAGES);
  const mac = opts.mac.toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) throw new Error(`not a MAC address: ${opts.mac}`);
  if (!Number.isInteger(opts.httpPort) || opts.httpPort < 1 || opts.httpPort > 65535) {
    throw new Error(`not a TCP port: ${opts.httpPort}`);
  }
  const chainUrl = opts.chainUrl ?? `${GUEST_HTTP}/boot/\${net0/mac}.ipxe`;
  if (/\s/.test(chainUrl)) throw new Error(`chain URL must be one iPXE word: ${chainUrl}`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-qemu-"));
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
  // QEMU's option syntax splits on commas, libslirp's cmd: on shell words.
  const node = process.execPath;
  if (/[,'\s"\\]/.test(dir) || /[,'"\\]/.test(node)) {
    removeDir();
    throw new Error(`paths ${dir} and ${node} must not contain commas, quotes, spaces or backslashes`);
  }
  const tftp = path.join(dir, "tftp");
  fs.mkdirSync(tftp);
  fs.writeFileSync(path.join(tftp, "boot.ipxe"), `#!ipxe\nchain ${chainUrl}\n`);
  const relay = path.join(dir, RELAY_NAME);
  fs.writeFileSync(relay, RELAY);
  const consoleLog = path.join(dir, "console.log");
  const qemuLog = path.join(dir, "qemu.log");

  const netdev = [
    "user",
    "id=net0",
    "restrict=on",
    `tftp=${tftp}`,
    "bootfile=boot.ipxe",
    `guestfwd=tcp:${GUEST_HTTP_ADDR}-cmd:'${node}' ${relay} ${opts.httpPort}`,
  ].join(",");
  const args = [
    ...["-nodefaults", "-no-user-config"],
    // KVM does not work on the lab machines: TCG only. graphics=off puts SeaBIOS's and iPXE's
    // screen on the serial port.
    ...["-machine", "pc,accel=tcg,graphics=off", "-m", String(opts.memoryMb ?? 64)],
    ...["-display", "none", "-serial", `file:${consoleLog}`],
    // Network only; when that boot gives up (the script's `exit`), reboot at once, and
    // -no-reboot makes that reboot QEMU's exit.
    ...["-boot", "order=n,reboot-timeout=0", "-no-reboot"],
    ...["-netdev", netdev, "-device", `virtio-net-pci,netdev=net0,mac=${mac}`],
  ];

  const log = fs.openSync(qemuLog, "a");
  const startedAt = Date.now();
  const child = spawn("qemu-system-x86_64", args, {
    cwd: dir,
    detached: true, // its own process group
    stdio: ["ignore", log, log],
  });
  fs.closeSync(log);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    removeDir();
    throw new Error("could not spawn qemu-system-x86_64");
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: string | undefined;
  const exitWaiters: (() => void)[] = [];
  child.once("exit", (code, signal) => {
    exited = { code, signal };
    exitWaiters.splice(0).forEach((w) => w());
  });
  child.once("error", (e) => (spawnError = e.message));

  const read = (f: string) => {
    try {
      return fs.readFileSync(f, "utf8");
    } catch {
      return "";
    }
  };
  const consoleNow = () => consoleText(read(consoleLog));
  const tail = () =>
    `\n--- qemu ---\n${read(qemuLog).slice(-2000)}\n--- console ---\n${consoleNow().slice(-3000)}`;
  const relayPids = () => pidsWithArg(relay);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    if (exited === undefined) await stopGroup(pid, "qemu");
    // Relays end when QEMU's end of their socket closes; give them a moment, then stop them.
    const deadline = Date.now() + 2_000;
    while (relayPids().length > 0 && Date.now() < deadline) await sleep(25);
    for (const r of relayPids()) await stopPid(r);
    removeDir();
    stopped = true;
  };

  // Started: SeaBIOS has written to the console (within a second or two under TCG).
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && exited === undefined && spawnError === undefined && !read(consoleLog)) {
    await sleep(50);
  }
  if (exited !== undefined || spawnError !== undefined || !read(consoleLog)) {
    const why = spawnError ?? (exited ? `exited (${exited.code ?? exited.signal})` : "no console output");
    const detail = tail();
    await stop().catch(() => undefined);
    throw new Error(`qemu did not start (${why}) within ${START_TIMEOUT_MS} ms${detail}`);
  }

  return {
    pid,
    dir,
    startedAt,
    console: consoleNow,
    exitStatus: () => exited,
    waitForEnd: (timeoutMs) =>
      new Promise((resolve, reject) => {
        if (exited) return resolve(exited);
        const timer = setTimeout(() => {
          reject(new Error(`qemu ${pid} still running after ${timeoutMs} ms${tail()}`));
        }, timeoutMs);
        exitWaiters.push(() => {
          clearTimeout(timer);
          resolve(exited!);
        });
      }),
    relayPids,
    stop,
  };
}
