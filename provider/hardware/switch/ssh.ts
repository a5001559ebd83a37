// One SSH connection per switch, reused for every command and serialized by a lock (one batch
// at a time, as networking-generic-switch does). The host key is pinned: a key whose SHA-256
// fingerprint differs from the inventory's is refused before authentication, so credentials
// never reach an impostor.
import crypto from "node:crypto";
import { Client, type ConnectConfig } from "ssh2";
import { HardwareError } from "../errors";
import { withDeadline } from "../timing";
export { Lock } from "../../lock";

export interface SshEndpoint {
  host: string;
  port?: number;
  username: string;
  /** "SHA256:<base64>" as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  privateKey?: string;
  passphrase?: string;
  password?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** How the driver talks to a switch; SshSession is the real one. */
export interface SwitchTransport {
  readonly address: string;
  /** `lines`: how many commands the batch holds; each adds LINE_MS to its deadline. */
  exec(command: string, lines?: number): Promise<ExecResult>;
  shell(
    lines: string[],
    opts: { prompt: RegExp; failed: RegExp[]; onFailure: string[] },
  ): Promise<ExecResult>;
  close(): Promise<void>;
}

/** The host key algorithms a switch may offer, ssh2's order of preference. */
const HOST_KEY_ALGORITHMS = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/** The key type an SSH public key blob names first ("ssh-ed25519", "ssh-rsa", ...). */
const keyType = (blob: Buffer) => blob.subarray(4, 4 + blob.readUInt32BE(0)).toString("latin1");

/** Whether a host key algorithm gives keys of this type (an RSA key serves three). */
const sameKeyType = (algorithm: string, type: string | undefined) =>
  type === "ssh-rsa" ? /^(rsa-sha2-|ssh-rsa$)/.test(algorithm) : algorithm === type;

/** What each command of a batch adds to its deadline. */
export const LINE_MS = 2000;
/**
 * The most a batch is given: it runs under the switch's hold, which other processes wait two
 * minutes for (servers/hardware.ts SWITCH_HOLD_WAIT_MS).
 */
const MAX_BATCH_MS = 90_000;

/** A command sent whose connection went before it ended: it may or may not have run. */
export class ConnectionLost extends HardwareError {}

export const sshFingerprint = (key: Buffer) =>
  "SHA256:" + crypto.createHash("sha256").update(key).digest("base64").replace(/=+$/, "");

export class SshSession implements SwitchTransport {
  readonly address: string;
  private client?: Client;
  private connecting?: Promise<Client>;
  /** The host keys the switch offered and did not match the pin, as "SHA256:... (type)". */
  private seenKeys: string[] = [];
  /** The host key algorithms that give the pinned key, once one connection found them. */
  private hostKeyAlgorithms?: string[];

  constructor(
    private readonly endpoint: SshEndpoint,
    private readonly timeoutMs: number,
  ) {
    if (!endpoint.privateKey && !endpoint.password) {
      throw new HardwareError(
        "SwitchAuthFailed",
        `switch ${endpoint.host}: no private key or password to log in with`,
        {
          transient: false,
        },
      );
    }
    this.address = `${endpoint.host}:${endpoint.port ?? 22}`;
  }

  /**
   * A batch's deadline: the session's, and LINE_MS more for each command after the first.
   * Switch commands are not all quick: SONiC's `config` takes one to three seconds each, an
   * NVUE apply several; 32 port changes in one batch would not fit one command's deadline.
   */
  private deadline(lines: number): number {
    return Math.min(
      this.timeoutMs + LINE_MS * Math.max(0, lines - 1),
      Math.max(this.timeoutMs, MAX_BATCH_MS),
    );
  }

  /** One command on the shared connection, under the deadline. A dead connection is reopened on the next call. */
  async exec(command: string, lines = 1): Promise<ExecResult> {
    const ms = this.deadline(lines);
    return withDeadline(
      ms,
      "SwitchTimeout",
      `switch ${this.address}: no answer within ${ms} ms`,
      async (signal) => {
        signal.addEventListener("abort", () => this.drop());
        const client = await this.connect();
        return new Promise<ExecResult>((resolve, reject) => {
          client.exec(command, (err, stream) => {
            if (err) {
              this.drop();
              return reject(
                new HardwareError(
                  "SwitchUnreachable",
                  `switch ${this.address}: could not open a channel: ${err.message}`,
                ),
              );
            }
            const out: Buffer[] = [];
            const errOut: Buffer[] = [];
            stream.on("data", (d: Buffer) => out.push(d));
            stream.stderr.on("data", (d: Buffer) => errOut.push(d));
            stream.on("close", (code: number | null | undefined) => {
              // No exit status at all: the connection went before the command's end, which
              // may or may not have run. Unreachable (tried again, then read back), not a
              // command that failed.
              if (code === undefined) {
                this.drop();
                return reject(
                  new ConnectionLost(
                    "SwitchUnreachable",
                    `switch ${this.address}: the connection was lost before the command ended`,
                  ),
                );
              }
              resolve({
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: Buffer.concat(errOut).toString("utf8"),
                code,
              });
            });
          });
        });
      },
    );
  }

  /**
   * An interactive CLI session (for switches whose SSH exec does not run configuration, such as
   * EOS): waits for the prompt, sends one line at a time, and stops at the first line whose
   * output matches `failed`, then sends `onFailure` (e.g. abort the configuration session).
   * stdout holds what each command printed, without echoes and prompts.
   */
  async shell(
    lines: string[],
    opts: { prompt: RegExp; failed: RegExp[]; onFailure: string[] },
  ): Promise<ExecResult> {
    const ms = this.deadline(lines.length);
    return withDeadline(
      ms,
      "SwitchTimeout",
      `switch ${this.address}: no answer within ${ms} ms`,
      async (signal) => {
        signal.addEventListener("abort", () => this.drop());
        const client = await this.connect();
        const stream = await new Promise<import("ssh2").ClientChannel>((resolve, reject) =>
          client.shell({ term: "dumb", cols: 511, rows: 0 }, (err, ch) =>
            err
              ? reject(
                  new HardwareError(
                    "SwitchUnreachable",
                    `switch ${this.address}: could not open a shell: ${err.message}`,
                  ),
                )
              : resolve(ch),
          ),
        );
        let buffer = "";
        let waiting: { check(): void; lost(): void } | undefined;
        stream.on("data", (d: Buffer) => {
          buffer += d.toString("utf8").replace(/\r/g, "");
          waiting?.check();
        });
        // Gone before the prompt came back: said at once, not at the deadline.
        stream.on("close", () => waiting?.lost());
        const untilPrompt = () =>
          new Promise<string>((resolve, reject) => {
            const check = () => {
              // A line that asks for a password (an `enable` secret) would wait out the deadline.
              if (/(^|\n)[^\n]*password: ?$/i.test(buffer)) {
                waiting = undefined;
                return reject(
                  new HardwareError(
                    "SwitchAuthFailed",
                    `switch ${this.address}: the CLI asks for a password (${buffer.trim().split("\n").at(-1)}); give the switch account the privilege to configure without one`,
                    { transient: false },
                  ),
                );
              }
              if (!opts.prompt.test(buffer)) return;
              waiting = undefined;
              const text = buffer.replace(opts.prompt, "");
              buffer = "";
              resolve(text);
            };
            const lost = () => {
              waiting = undefined;
              this.drop();
              reject(
                new ConnectionLost(
                  "SwitchUnreachable",
                  `switch ${this.address}: the connection was lost before the CLI answered`,
                ),
              );
            };
            waiting = { check, lost };
            check();
          });
        const outputs: string[] = [];
        let code = 0;
        try {
          await untilPrompt(); // banner and first prompt
          for (const line of lines) {
            stream.write(`${line}\n`);
            const text = (await untilPrompt()).split("\n");
            // The first line is the echo of what we sent.
            const output = (text[0]?.trim() === line.trim() ? text.slice(1) : text).join("\n").trim();
            outputs.push(output);
            if (opts.failed.some((re) => re.test(output))) {
              code = 1;
              for (const undo of opts.onFailure) {
                stream.write(`${undo}\n`);
                await untilPrompt();
              }
              break;
            }
          }
        } finally {
          stream.end("exit\n");
        }
        return { stdout: outputs.join("\n"), stderr: code ? (outputs.at(-1) ?? "") : "", code };
      },
    );
  }

  async close(): Promise<void> {
    this.drop();
  }

  private drop(): void {
    this.client?.end();
    this.client = undefined;
    this.connecting = undefined;
  }

  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    if (!this.connecting) this.seenKeys = [];
    this.connecting ??= this.open(this.hostKeyAlgorithms ?? HOST_KEY_ALGORITHMS).catch((e: unknown) => {
      this.connecting = undefined;
      throw e;
    });
    return this.connecting;
  }

  /**
   * A connection offering the switch these host key algorithms. A switch has a key of each
   * type (ed25519, ECDSA, RSA) and shows the one the client likes best; the operator may have
   * pinned another, so a key that does not match is asked for again without its type, and the
   * pin is refused only once no type is left.
   */
  private open(algorithms: string[]): Promise<Client> {
    return new Promise<Client>((resolve, reject) => {
      const c = new Client();
      const { host, port, username, privateKey, passphrase, password, hostKeyFingerprint } = this.endpoint;
      let offered: string | undefined;
      const config: ConnectConfig = {
        host,
        port: port ?? 22,
        username,
        privateKey,
        passphrase,
        password,
        // Switches that take passwords through PAM or TACACS+ ask for them this way.
        tryKeyboard: password !== undefined,
        readyTimeout: this.timeoutMs,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        algorithms: { serverHostKey: algorithms as never },
        hostVerifier: (key: Buffer) => {
          offered = keyType(key);
          const fingerprint = sshFingerprint(key);
          if (fingerprint === hostKeyFingerprint) return true;
          this.seenKeys.push(`${fingerprint} (${offered})`);
          return false;
        },
      };
      if (password !== undefined) {
        c.on("keyboard-interactive", (_name, _instructions, _lang, prompts, finish) =>
          finish(prompts.map(() => password)),
        );
      }
      // A refused connection can report more than one error (the refusal, then the reset of
      // its socket): each is listened for, so none goes unhandled; the first decides.
      let settled = false;
      c.once("ready", () => {
        settled = true;
        // Each command is a few small packets answered at once: Nagle would hold each ~40 ms.
        c.setNoDelay(true);
        this.client = c;
        this.connecting = undefined;
        this.hostKeyAlgorithms = algorithms;
        this.seenKeys = [];
        c.once("close", () => {
          if (this.client === c) this.client = undefined;
        });
        resolve(c);
      });
      c.on("error", (err: Error & { level?: string; code?: string }) => {
        c.end();
        if (settled) return;
        settled = true;
        const refused = /verification failed/i.test(err.message);
        const rest = algorithms.filter((a) => !sameKeyType(a, offered));
        if (refused && offered && rest.length > 0) return resolve(this.open(rest));
        // Asked without the types it showed, a switch with no other key fails the handshake.
        const noOther = this.seenKeys.length > 0 && err.level === "handshake";
        reject(refused || noOther ? this.mismatch() : this.connectError(err));
      });
      c.connect(config);
    });
  }

  private mismatch(): HardwareError {
    return new HardwareError(
      "SwitchHostKeyMismatch",
      `switch ${this.address}: no host key of the switch matches the pinned ${this.endpoint.hostKeyFingerprint} (it showed ${this.seenKeys.join(", ")}); refusing to log in`,
      { transient: false },
    );
  }

  private connectError(err: Error & { level?: string; code?: string }): HardwareError {
    if (err.level === "client-authentication") {
      return new HardwareError(
        "SwitchAuthFailed",
        `switch ${this.address}: authentication failed; check the switch's credential`,
      );
    }
    if (err.level === "client-timeout") {
      return new HardwareError(
        "SwitchTimeout",
        `switch ${this.address}: no SSH handshake within ${this.timeoutMs} ms`,
      );
    }
    return new HardwareError(
      "SwitchUnreachable",
      `switch ${this.address}: unreachable (${err.code ?? err.message})`,
    );
  }
}
