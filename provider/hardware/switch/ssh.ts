// One SSH connection per switch, reused for every command and serialized by a lock (one change
// at a time, as networking-generic-switch does). The host key is pinned: a key whose SHA-256
// fingerprint differs from the inventory's is refused before authentication, so credentials
// never reach an impostor.
import crypto from "node:crypto";
import { Client, type ConnectConfig } from "ssh2";
import { HardwareError } from "../errors";
import { withDeadline } from "../timing";

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

export const sshFingerprint = (key: Buffer) =>
  "SHA256:" + crypto.createHash("sha256").update(key).digest("base64").replace(/=+$/, "");

/** Runs `fn` after every earlier holder is done, whatever they did. */
export class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class SshSession {
  readonly address: string;
  private client?: Client;
  private connecting?: Promise<Client>;
  private seenFingerprint?: string;

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

  /** One command on the shared connection, under the deadline; a dead connection is reopened once. */
  async exec(command: string): Promise<ExecResult> {
    return withDeadline(
      this.timeoutMs,
      "SwitchTimeout",
      `switch ${this.address}: no answer within ${this.timeoutMs} ms`,
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
            stream.on("close", (code: number | null) =>
              resolve({
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: Buffer.concat(errOut).toString("utf8"),
                code,
              }),
            );
          });
        });
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
    this.connecting ??= new Promise<Client>((resolve, reject) => {
      const c = new Client();
      const { host, port, username, privateKey, passphrase, password, hostKeyFingerprint } = this.endpoint;
      const config: ConnectConfig = {
        host,
        port: port ?? 22,
        username,
        privateKey,
        passphrase,
        password,
        readyTimeout: this.timeoutMs,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          this.seenFingerprint = sshFingerprint(key);
          return this.seenFingerprint === hostKeyFingerprint;
        },
      };
      c.once("ready", () => {
        this.client = c;
        this.connecting = undefined;
        c.once("close", () => {
          if (this.client === c) this.client = undefined;
        });
        resolve(c);
      });
      c.once("error", (err: Error & { level?: string; code?: string }) => {
        this.connecting = undefined;
        c.end();
        reject(this.connectError(err));
      });
      c.connect(config);
    });
    return this.connecting;
  }

  private connectError(err: Error & { level?: string; code?: string }): HardwareError {
    if (/verification failed/i.test(err.message)) {
      return new HardwareError(
        "SwitchHostKeyMismatch",
        `switch ${this.address}: host key ${this.seenFingerprint ?? "(unknown)"} does not match the pinned ${this.endpoint.hostKeyFingerprint}; refusing to log in`,
        { transient: false },
      );
    }
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
