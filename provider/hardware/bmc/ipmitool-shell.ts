// One long-lived `ipmitool ... shell` per BMC. A separate ipmitool run per command costs a
// process start and a new RMCP+ session (RAKP handshake) each time, ~25 ms of CPU here; the
// shell keeps one session and answers a command in about a millisecond, so polling a BMC
// until it confirms a change is cheap and 50 machines at once do not queue on the CPU.
// Commands go one at a time; the shell exits after a quiet spell, because BMCs have only a
// few session slots, and is started again on the next command.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { Lock } from "../../lock";

const PROMPT = "ipmitool> ";

/** The shell ended (session refused, BMC gone): what it printed, for classification. */
export class ShellExited extends Error {
  constructor(
    readonly output: string,
    readonly exitCode: number | null,
  ) {
    super(`ipmitool exited (${exitCode}): ${output.trim().slice(0, 300)}`);
  }
}

export class IpmitoolShell {
  private child?: ChildProcessWithoutNullStreams;
  private buffer = "";
  private waiter?: { resolve(text: string): void; reject(e: Error): void };
  private idleTimer?: NodeJS.Timeout;
  private readonly lock = new Lock();

  constructor(
    private readonly binary: string,
    /** Everything before the `shell` subcommand; never the password (that is in `env`). */
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly idleMs = 20_000,
  ) {}

  /** Runs one command line; resolves with its output, without the echo and the prompt. */
  run(line: string): Promise<string> {
    return this.lock.run(async () => {
      clearTimeout(this.idleTimer);
      try {
        if (!this.child) await this.start();
        const text = await this.next(() => this.child!.stdin.write(`${line}\n`));
        const lines = text.split("\n");
        return (lines[0]?.trim() === line ? lines.slice(1) : lines).join("\n");
      } finally {
        if (this.child) this.idleTimer = setTimeout(() => void this.close(), this.idleMs).unref();
      }
    });
  }

  /** Stops the shell (its session with it). Safe to call at any time, and more than once. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.stdin.end("exit\n");
    const timer = setTimeout(() => child.kill("SIGKILL"), 1000);
    await exited;
    clearTimeout(timer);
  }

  /** Kills the shell at once: after a deadline its state is unknown. */
  kill(): void {
    clearTimeout(this.idleTimer);
    this.child?.kill("SIGKILL");
    this.child = undefined;
  }

  private async start(): Promise<void> {
    // sh only joins stderr to stdout, so that errors arrive in order with the output; the
    // arguments reach ipmitool as separate argv entries, never through a shell string.
    const child = spawn("sh", ["-c", 'exec "$@" 2>&1', "sh", this.binary, ...this.args, "shell"], {
      env: this.env,
    });
    this.child = child;
    this.buffer = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      this.buffer += d;
      if (this.buffer.endsWith(PROMPT) && this.waiter) {
        const text = this.buffer.slice(0, -PROMPT.length);
        this.buffer = "";
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(text);
      }
    });
    child.once("exit", (code) => {
      if (this.child === child) this.child = undefined;
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(new ShellExited(this.buffer, code));
    });
    child.stdin.on("error", () => undefined); // the exit handler reports it
    // Nothing about an idle shell should keep the provider's process alive.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr] as unknown as { unref?: () => void }[])
      s.unref?.();
    await this.next(() => undefined); // the first prompt
  }

  private next(send: () => void): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      if (!send.length && this.buffer.endsWith(PROMPT)) {
        this.buffer = ""; // the prompt came before we listened
        return resolve("");
      }
      this.waiter = { resolve, reject };
      send();
    });
  }
}
