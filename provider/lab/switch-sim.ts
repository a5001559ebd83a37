// A simulated top-of-rack switch: an SSH server (ssh2's Server) on 127.0.0.1 whose only way in
// is the restricted shell of the real lab switch (switch-shell.ts) over an in-memory iproute2
// model (iproute2-model.ts). Like sshd with a ForceCommand, it runs exec requests and nothing
// else: a shell or subsystem request gets the shell's refusal, forwarding is never offered.
//
// It also knows which machine NIC is cabled to which port, so the lab can ask which VLAN a
// machine is in: what decides whether a simulated machine's netboot reaches the boot server.
import crypto from "node:crypto";
import type { AddressInfo } from "node:net";
import { Server, utils, type Connection, type ParsedKey, type ServerChannel } from "ssh2";
import { sshFingerprint } from "../hardware/switch/ssh";
import { Iproute2Model, type CommandResult } from "./iproute2-model";
import { REFUSED, isChange, parseBatch, runBatch } from "./switch-shell";

export interface SwitchSimOptions {
  /** swp1..swpN. */
  ports: number;
  username?: string;
  /** Generated when absent. */
  password?: string;
  /** OpenSSH public keys ("ssh-ed25519 AAAA..."); a client key is generated and authorized when absent. */
  authorizedKeys?: string[];
  /**
   * linux-bridge-per-vlan (default): a kernel without 802.1Q, as on this lab's machines, access
   * ports only. linux: a VLAN-aware bridge, access and trunk ports.
   */
  dialect?: "linux-bridge-per-vlan" | "linux";
}

export interface SwitchFaults {
  /** Every batch holding a change is refused (exit 126); reads still work. */
  refuse?: boolean;
  /** Every batch holding a change is carried out, but its answer is lost (exit 255, no output). */
  loseReply?: boolean;
  /**
   * The next n batches holding a change are carried out, then the connection drops before the
   * exit status is sent, as when a switch's management link flaps mid-command.
   */
  dropAfterChange?: number;
  /**
   * Every batch holding a change answers after this long, as a real switch's commit takes time
   * (NVUE's apply takes seconds): long enough for two clients' changes to overlap, which
   * `mostChangesAtOnce` then shows.
   */
  slowChangesMs?: number;
}

/** Bounded, so that a long benchmark keeps a fixed footprint. */
const MAX_LOG = 500;

export class SwitchSim {
  readonly host = "127.0.0.1";
  readonly dialect: "linux-bridge-per-vlan" | "linux";
  readonly username: string;
  readonly password: string;
  /** The generated client key (OpenSSH format), when no authorizedKeys were given. */
  readonly privateKey?: string;
  /** "SHA256:<base64 without padding>", as `ssh-keygen -lf` prints it. */
  readonly hostKeyFingerprint: string;
  readonly model: Iproute2Model;
  faults: SwitchFaults = {};
  /** The most batches holding a change that were in progress at one time (see slowChangesMs). */
  mostChangesAtOnce = 0;
  private changesInProgress = 0;
  port = 0;
  private readonly authorized: ParsedKey[];
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly cabling = new Map<string, string>(); // MAC -> port
  private readonly log: string[] = [];

  private constructor(opts: SwitchSimOptions) {
    if (!Number.isInteger(opts.ports) || opts.ports < 1 || opts.ports > 9999) {
      throw new Error(`ports must be 1..9999 (swp1..swp9999), got ${opts.ports}`);
    }
    this.dialect = opts.dialect ?? "linux-bridge-per-vlan";
    this.model = new Iproute2Model(opts.ports, this.dialect === "linux");
    this.username = opts.username ?? "admin";
    this.password = opts.password ?? crypto.randomBytes(12).toString("base64url");
    // ed25519 from ssh2's own generator: OpenSSH format, which ssh2 parses natively, and made
    // in about a millisecond (an RSA host key costs tens).
    const host = ed25519Pair();
    const hostKey = parse(host.private);
    this.hostKeyFingerprint = sshFingerprint(hostKey.getPublicSSH());
    let keys = opts.authorizedKeys;
    if (!keys) {
      const client = ed25519Pair(`${this.username}@baremetal-lab`);
      this.privateKey = client.private;
      keys = [client.public];
    }
    this.authorized = keys.map(parse);
    this.server = new Server({ hostKeys: [host.private], ident: "OpenSSH_9.2p1" }, (c) => this.accept(c));
  }

  static async start(opts: SwitchSimOptions): Promise<SwitchSim> {
    const sim = new SwitchSim(opts);
    await new Promise<void>((resolve, reject) => {
      sim.server.once("error", reject);
      sim.server.listen(0, "127.0.0.1", () => {
        sim.server.removeListener("error", reject);
        sim.port = (sim.server.address() as AddressInfo).port;
        resolve();
      });
    });
    return sim;
  }

  /** Records that a machine NIC is cabled to a port. */
  plug(port: string, mac: string): void {
    if (!this.model.hasPort(port)) throw new Error(`switch has no port ${port}`);
    this.cabling.set(mac.toLowerCase(), port);
  }

  portOf(mac: string): string | undefined {
    return this.cabling.get(mac.toLowerCase());
  }

  /** The VLAN a NIC's traffic lands in (its port attached to bridge vlan<N>, both up), if any. */
  vlanOfMac(mac: string): number | undefined {
    const port = this.portOf(mac);
    return port === undefined ? undefined : this.model.vlanOfPort(port);
  }

  vlanOfPort(port: string): number | undefined {
    return this.model.vlanOfPort(port);
  }

  /** Exec commands received, oldest first (bounded), with their exit codes. */
  commands(): string[] {
    return [...this.log];
  }

  /** Ends every open SSH connection (not the listener), as a switch reboot or a flaky link would. */
  dropConnections(): void {
    for (const c of this.connections) c.end();
    this.connections.clear();
  }

  stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) {
      c.end();
      // Not waiting on the client to close its side: a lab that stops leaves no socket open.
      (c as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
    }
    this.connections.clear();
    return closed;
  }

  private accept(conn: Connection): void {
    this.connections.add(conn);
    // Small writes at once: with Nagle on, every command waits out a delayed ACK (~40 ms twice).
    // ssh2's server connection has setNoDelay; its typings only list it on the client.
    (conn as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
    conn.on("close", () => this.connections.delete(conn));
    conn.on("error", () => undefined); // a client that resets its connection is not our error
    conn.on("authentication", (ctx) => {
      const userOk = same(ctx.username, this.username);
      if (ctx.method === "password" && userOk && same(ctx.password, this.password)) return ctx.accept();
      if (ctx.method === "publickey" && userOk) {
        const key = this.authorized.find(
          (k) => k.type === ctx.key.algo && k.getPublicSSH().equals(ctx.key.data),
        );
        // Without a signature the client only asks whether the key would do.
        if (key && (!ctx.signature || key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo)))
          return ctx.accept();
      }
      ctx.reject(["publickey", "password"]);
    });
    conn.on("session", (acceptSession) => {
      const session = acceptSession();
      // Like sshd with PermitTTY no and a ForceCommand: no pty, and a shell or a subsystem runs
      // the restricted shell with no command (or the subsystem's name), which it refuses.
      session.on("pty", (_a, reject) => reject());
      session.on("env", (_a, reject) => reject());
      session.on("exec", (accept, _r, info) => this.exec(accept(), info.command));
      session.on("shell", (accept) => this.exec(accept(), ""));
      session.on("subsystem", (accept, _r, info) => this.exec(accept(), info.name));
    });
  }

  private exec(channel: ServerChannel, command: string): void {
    const slow = this.faults.slowChangesMs ?? 0;
    if (slow > 0 && holdsChange(command)) {
      this.changesInProgress++;
      this.mostChangesAtOnce = Math.max(this.mostChangesAtOnce, this.changesInProgress);
      setTimeout(() => {
        this.changesInProgress--;
        this.run(channel, command);
      }, slow);
      return;
    }
    this.run(channel, command);
  }

  private run(channel: ServerChannel, command: string): void {
    let r: CommandResult;
    try {
      r = runBatch(this.model, command, { locked: this.faults.refuse });
      if (this.faults.loseReply && r.code === 0 && parseBatch(command).some(isChange)) {
        r = { stdout: "", stderr: "connection to the switch lost\n", code: 255 };
      }
    } catch (e) {
      r = { stdout: "", stderr: `switch-shell: internal error: ${(e as Error).message}\n`, code: REFUSED };
    }
    this.log.push(`${JSON.stringify(command)} -> ${r.code}`);
    if (this.log.length > MAX_LOG) this.log.splice(0, this.log.length - MAX_LOG);
    if (this.faults.dropAfterChange && r.code === 0 && holdsChange(command)) {
      this.faults.dropAfterChange--;
      for (const c of this.connections) (c as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
      this.connections.clear();
      return;
    }
    if (r.stdout) channel.write(r.stdout);
    if (r.stderr) channel.stderr.write(r.stderr);
    channel.exit(r.code);
    channel.end();
  }
}

/** Whether a batch changes the switch; one the shell refuses changes nothing. */
function holdsChange(command: string): boolean {
  try {
    return parseBatch(command).some(isChange);
  } catch {
    return false;
  }
}

/**
 * ssh2's generator writes a public key that starts with a zero byte one byte short (it trims
 * it like a number), and then cannot read its own key: about 1 key in 270. Draw again.
 */
export function ed25519Pair(comment?: string): { private: string; public: string } {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = utils.generateKeyPairSync("ed25519", comment ? { comment } : undefined);
    if (!(utils.parseKey(pair.private) instanceof Error)) return pair;
  }
  throw new Error("could not make an ed25519 key pair that ssh2 reads back");
}

function parse(key: string): ParsedKey {
  const parsed = utils.parseKey(key);
  if (parsed instanceof Error) throw parsed;
  return Array.isArray(parsed) ? parsed[0]! : parsed;
}

/** Constant-time comparison of two strings of any length. */
function same(a: string, b: string): boolean {
  const x = crypto.createHash("sha256").update(a).digest();
  const y = crypto.createHash("sha256").update(b).digest();
  return crypto.timingSafeEqual(x, y);
}
