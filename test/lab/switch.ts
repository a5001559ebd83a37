// A simulated top-of-rack switch for tests: one network namespace holding the switch ports
// (veths to one namespace per server), managed over a real sshd on 127.0.0.1 whose
// ForceCommand allows only the switch dialect's ip/bridge commands (see ./switch-shell). Two
// forms, one per Linux dialect:
// - bridge-per-vlan (`linux-bridge-per-vlan`): VLAN N is a plain bridge `vlan<N>`, and a port
//   is in VLAN N when attached to it. Access ports only.
// - vlan-aware (`linux`): ports join br0 and carry VLANs set with `bridge vlan`, access and
//   trunk. This kernel has no 802.1Q, so ./vlan-datapath does the tagging with BPF programs
//   on the ports; the frames between switch and servers carry real 802.1Q tags, and a server
//   gets tagged interfaces (eth0.<vid>) with tag().
// Everything it creates is named with a random suffix and removed by stop().
//
// Why sudo: sshd always drops to the logged-in user before running the ForceCommand, and
// entering a namespace needs root. Logging in as root would mean changing root's password
// and keys; file capabilities on a private `ip` would let any process of the lab user use
// them outside the restricted shell. A sudoers drop-in allowing only the exact command line
// `<scratch>/switch-shell <namespace>` keeps the restricted shell the only way in, as on a
// real switch. Each lab has its own user so that parallel labs do not overwrite each other's
// password; the user and the drop-in go away with the lab.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { SshEndpoint } from "../../provider/hardware/switch";
import { ensurePackages } from "./apt";
import { reaches } from "./ping";
import { freePort } from "./ports";

export interface SwitchLab {
  host: "127.0.0.1";
  port: number;
  username: string;
  /** OpenSSH ed25519 private key authorized for username. */
  privateKey: string;
  /** Password auth also works for username. */
  password: string;
  /** "SHA256:<base64 without padding>", as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** The switch's (tor) namespace. */
  namespace: string;
  /** ["swp1", "swp2", ...] */
  ports: string[];
  /** One server namespace per port, its eth0 the other end of ports[i]. */
  servers: { namespace: string; port: string; address: string }[];
  /** How a driver reaches this switch: its sshd, pinned host key and the lab user's key. */
  endpoint(): SshEndpoint;
  /** Whether server `from` reaches server `to`'s address by ping (see lab/ping.ts). */
  ping(from: number, to: number): boolean;
  /** The bridge a port is attached to, read directly rather than over ssh. */
  portMaster(port: string): string | undefined;
  /**
   * Gives server `server` a tagged interface eth0.<vid> holding `address` (CIDR), as a host
   * on a trunk port has. vlan-aware form only.
   */
  tag(server: number, vid: number, address: string): void;
  /** Adds `address` (CIDR) to server `server`'s untagged eth0. */
  addAddress(server: number, address: string): void;
  /** Whether server `from` reaches `address` by ping. */
  reaches(from: number, address: string): boolean;
  /** Kills every open SSH session (not the listener), as a switch reboot or a flaky link would. */
  dropSessions(): Promise<void>;
  stop(): Promise<void>;
}

const SHELL_SOURCE = path.join(__dirname, "switch-shell");
const DATAPATH_SOURCE = path.join(__dirname, "vlan-datapath");
const SSHD = "/usr/sbin/sshd";
const SUDOERS_DIR = "/etc/sudoers.d";
// sshd_config and sudoers have their own quoting rules; paths that need none avoid them.
const PLAIN_PATH = /^[A-Za-z0-9/._-]+$/;

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", input, timeout: 30_000 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  }
  return r.stdout;
}

/** Zombies count as gone: orphans wait for PID 1 to reap them, which can take seconds here. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/** Every process below pid: sshd forks one session process per connection, in its own session. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // The command name may contain spaces and parentheses: fields resume after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 10_000) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

async function killAll(pids: number[]): Promise<void> {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + 5_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!pids.some(alive)) return;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.setTimeout(1_000, () => s.destroy());
    s.once("error", () => s.destroy()); // refused until sshd binds; "close" follows
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("close", () => resolve(false));
  });
}

/** Waits until sshd listens; false when it exited first (e.g. the port was taken meanwhile). */
async function waitListening(child: ChildProcess, port: number): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (await canConnect(port)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`sshd did not listen on 127.0.0.1:${port} within 15 s`);
}

export type SwitchForm = "bridge-per-vlan" | "vlan-aware";

function sshdConfig(dir: string, port: number, user: string, shell: string): string {
  return [
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${dir}/ssh_host_ed25519_key`,
    `PidFile ${dir}/sshd.pid`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    // The scratch dir lives under the world-writable /tmp, which StrictModes rejects; the key
    // file and its directory are root's and writable by no one else.
    "StrictModes no",
    "UsePAM no",
    "PubkeyAuthentication yes",
    "PasswordAuthentication yes",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin no",
    `AllowUsers ${user}`,
    `ForceCommand sudo -n ${shell}`,
    "PermitTTY no",
    "AllowTcpForwarding no",
    "AllowStreamLocalForwarding no",
    "AllowAgentForwarding no",
    "X11Forwarding no",
    "PermitTunnel no",
    "PrintMotd no",
    "PrintLastLog no",
    "",
  ].join("\n");
}

export async function startSwitch(opts: { ports: number; form?: SwitchForm }): Promise<SwitchLab> {
  if (!Number.isInteger(opts.ports) || opts.ports < 1 || opts.ports > 200) {
    throw new Error(`ports must be 1..200, got ${opts.ports}`);
  }
  if (process.getuid?.() !== 0) throw new Error("the switch lab needs root (namespaces, sshd, sudoers)");
  const form = opts.form ?? "bridge-per-vlan";
  ensurePackages([
    "iproute2",
    "iputils-ping",
    "sudo",
    "openssh-server",
    "openssh-client",
    // vlan-datapath compiles its BPF programs with clang against libbpf's headers.
    ...(form === "vlan-aware" ? ["clang", "libbpf-dev", "linux-libc-dev"] : []),
  ]);

  const suffix = crypto.randomBytes(3).toString("hex");
  const namespace = `bmt${suffix}`;
  const user = `bmsw${suffix}`;
  const sudoers = path.join(SUDOERS_DIR, `baremetal-switch-${suffix}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-switch-"));
  const namespaces: string[] = [];
  let userCreated = false;
  let sshd: ChildProcess | undefined;

  const cleanup = async (): Promise<void> => {
    const failures: string[] = [];
    const attempt = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (e) {
        failures.push(`${what}: ${(e as Error).message}`);
      }
    };
    // Only while Node has not reaped sshd: after that its PID may belong to someone else.
    if (sshd?.pid !== undefined && sshd.exitCode === null && sshd.signalCode === null) {
      const pids = [sshd.pid, ...descendants(sshd.pid)];
      await killAll(pids);
      if (pids.some(alive)) failures.push(`sshd processes still alive: ${pids.filter(alive).join(" ")}`);
    }
    sshd = undefined;
    attempt("sudoers", () => fs.rmSync(sudoers, { force: true }));
    if (userCreated) attempt("userdel", () => run("userdel", [user]));
    userCreated = false;
    for (const ns of namespaces.splice(0).reverse()) {
      attempt(`netns ${ns}`, () => run("ip", ["netns", "del", ns]));
    }
    attempt("scratch dir", () => fs.rmSync(dir, { recursive: true, force: true }));
    if (failures.length > 0) throw new Error(`switch lab cleanup: ${failures.join("; ")}`);
  };

  try {
    if (!PLAIN_PATH.test(dir))
      throw new Error(`scratch dir ${dir} needs quoting; set TMPDIR to a plain path`);
    // The lab user must reach its home and authorized_keys; nothing here is secret except
    // the host key, which stays root's alone.
    fs.chmodSync(dir, 0o755);

    // Topology: veths are created inside the namespaces, so their names never meet the host's.
    run("ip", ["netns", "add", namespace]);
    namespaces.push(namespace);
    const ports: string[] = [];
    const servers: SwitchLab["servers"] = [];
    for (let i = 0; i < opts.ports; i++) {
      const port = `swp${i + 1}`;
      const ns = `bms${suffix}-${i + 1}`;
      const address = `10.99.0.${i + 1}/24`;
      run("ip", ["netns", "add", ns]);
      namespaces.push(ns);
      run("ip", ["-n", namespace, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      run("ip", ["-n", namespace, "link", "set", "dev", port, "up"]);
      run("ip", ["-n", ns, "addr", "add", address, "dev", "eth0"]);
      run("ip", ["-n", ns, "link", "set", "dev", "eth0", "up"]);
      run("ip", ["-n", ns, "link", "set", "dev", "lo", "up"]);
      ports.push(port);
      servers.push({ namespace: ns, port, address });
    }
    if (form === "vlan-aware") {
      // A plain bridge: vlan_filtering needs 802.1Q, which vlan-datapath stands in for.
      run("ip", ["-n", namespace, "link", "add", "name", "br0", "type", "bridge"]);
      run("ip", ["-n", namespace, "link", "set", "dev", "br0", "up"]);
    }

    // Keys: the host key stays for sshd; the client key is handed over in memory only.
    run("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      `switch-${suffix}`,
      "-f",
      `${dir}/ssh_host_ed25519_key`,
    ]);
    const hostKeyFingerprint = /^\d+ (SHA256:\S+)/.exec(
      run("ssh-keygen", ["-lf", `${dir}/ssh_host_ed25519_key.pub`]),
    )?.[1];
    if (!hostKeyFingerprint) throw new Error("could not read the host key fingerprint");
    const keyDir = fs.mkdtempSync(path.join(dir, "client-"));
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${user}@lab`, "-f", `${keyDir}/id`]);
    const privateKey = fs.readFileSync(`${keyDir}/id`, "utf8");
    fs.writeFileSync(`${dir}/authorized_keys`, fs.readFileSync(`${keyDir}/id.pub`), { mode: 0o644 });
    fs.rmSync(keyDir, { recursive: true, force: true });

    // Private copies of the shell and the datapath tool: sudo runs them as root, so they must
    // be root's, not the work tree's.
    for (const [source, name] of [
      [SHELL_SOURCE, "switch-shell"],
      [DATAPATH_SOURCE, "vlan-datapath"],
    ] as const) {
      fs.copyFileSync(source, `${dir}/${name}`);
      fs.chmodSync(`${dir}/${name}`, 0o755);
    }
    const shell = `${dir}/switch-shell ${namespace} ${form}`;

    const password = crypto.randomBytes(18).toString("base64url");
    run("useradd", ["-m", "-d", `${dir}/home`, "-s", "/bin/sh", "-c", "baremetal switch lab", user]);
    userCreated = true;
    run("chpasswd", [], `${user}:${password}\n`);

    // sudo ignores drop-ins whose name contains a dot: the file is checked under such a name
    // and renamed into effect only once visudo accepts it.
    const alias = `BAREMETAL_SWITCH_${suffix.toUpperCase()}`;
    const rules = [
      `Cmnd_Alias ${alias} = ${shell}`,
      `Defaults!${alias} env_keep += "SSH_ORIGINAL_COMMAND"`,
      `${user} ALL=(root) NOPASSWD: ${alias}`,
      "",
    ].join("\n");
    const staged = path.join(SUDOERS_DIR, `.baremetal-switch-${suffix}.new`);
    fs.writeFileSync(staged, rules, { mode: 0o440 });
    try {
      run("visudo", ["-cqf", staged]);
      fs.renameSync(staged, sudoers);
    } finally {
      fs.rmSync(staged, { force: true });
    }

    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege-separation dir
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      fs.writeFileSync(`${dir}/sshd_config`, sshdConfig(dir, port, user, shell), { mode: 0o644 });
      run(SSHD, ["-t", "-f", `${dir}/sshd_config`]);
      const log = fs.openSync(`${dir}/sshd.log`, "a");
      sshd = spawn(SSHD, ["-D", "-e", "-f", `${dir}/sshd_config`], { stdio: ["ignore", log, log] });
      fs.closeSync(log);
      if (await waitListening(sshd, port)) break;
      // Another process may have taken the port between freePort() and sshd's bind.
      if (attempt === 3) throw new Error(`sshd exited: ${fs.readFileSync(`${dir}/sshd.log`, "utf8")}`);
    }

    return {
      host: "127.0.0.1",
      port,
      username: user,
      privateKey,
      password,
      hostKeyFingerprint,
      namespace,
      ports,
      servers,
      endpoint: () => ({ host: "127.0.0.1", port, username: user, hostKeyFingerprint, privateKey }),
      ping(from, to) {
        const source = servers[from];
        const target = servers[to];
        if (!source || !target) throw new Error(`no server ${source ? to : from}`);
        const address = target.address.split("/")[0]!;
        return reaches(source.namespace, address);
      },
      tag(server, vid, address) {
        const target = servers[server];
        if (!target) throw new Error(`no server ${server}`);
        if (form !== "vlan-aware") throw new Error("tagged interfaces need the vlan-aware form");
        run(`${dir}/vlan-datapath`, ["subif", target.namespace, "eth0", String(vid)]);
        run("ip", ["-n", target.namespace, "addr", "add", address, "dev", `eth0.${vid}`]);
      },
      addAddress(server, address) {
        const target = servers[server];
        if (!target) throw new Error(`no server ${server}`);
        run("ip", ["-n", target.namespace, "addr", "add", address, "dev", "eth0"]);
      },
      reaches(from, address) {
        const source = servers[from];
        if (!source) throw new Error(`no server ${from}`);
        return reaches(source.namespace, address.split("/")[0]!);
      },
      portMaster(port) {
        const out = run("ip", ["-n", namespace, "-j", "link", "show", "dev", port]);
        return (JSON.parse(out) as { master?: string }[])[0]?.master;
      },
      async dropSessions() {
        if (sshd?.pid !== undefined) await killAll(descendants(sshd.pid));
      },
      stop: cleanup,
    };
  } catch (e) {
    await cleanup().catch((c: Error) => {
      (e as Error).message += `; ${c.message}`;
    });
    throw e;
  }
}
