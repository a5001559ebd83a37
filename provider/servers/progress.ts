// Progress lines during `pulumi up`. A dynamic provider runs in its own process; the engine
// passes its RPC address as the process's first argument, and `pulumi.log` is not wired up
// there, so we speak the engine's Log RPC ourselves. Outside the engine (tests, the CLI) lines
// go to stderr when BAREMETAL_PROGRESS is set, and nowhere otherwise.
//
// A step is shown only once it has run for a while (`steps`): a line per step of every server
// said nothing a user could act on when the step took milliseconds, and each line is an RPC to
// the engine, the largest share of the provider's CPU per server before this.
/* eslint-disable @typescript-eslint/no-require-imports */

interface EngineClient {
  log(req: unknown, cb: (err: Error | null) => void): void;
}

let client: EngineClient | null | undefined;
let toEngine: ((line: string) => void) | undefined;

/**
 * Lines to `send`, one call in flight at a time, so they show in the order they happened.
 * Lines that come while one is in flight go together (joined by newlines) in the next: a wave
 * of servers finishing at once is one engine RPC, not one each.
 */
export function batchedLines(send: (text: string, done: () => void) => void): (line: string) => void {
  let waiting: string[] = [];
  let sending = false;
  const next = () => {
    if (sending || waiting.length === 0) return;
    const text = waiting.join("\n");
    waiting = [];
    sending = true;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      sending = false;
      next();
    };
    try {
      send(text, done);
    } catch {
      done(); // best effort: a failed send must not hold back the lines after it
    }
  };
  return (line) => {
    waiting.push(line);
    next();
  };
}

function engine(): EngineClient | null {
  if (client !== undefined) return client;
  client = null;
  const address = process.argv[2];
  const isDynamicProvider = /dynamic-provider/.test(process.argv[1] ?? "");
  if (!isDynamicProvider || !address || !/^[\w.[\]:-]+:\d+$/.test(address)) return client;
  try {
    // The engine's own gRPC library, as @pulumi/pulumi resolves it.
    const grpcPath = require.resolve("@grpc/grpc-js", { paths: [require.resolve("@pulumi/pulumi")] });
    const grpc = require(grpcPath) as typeof import("@grpc/grpc-js");
    const services = require("@pulumi/pulumi/proto/engine_grpc_pb.js") as {
      EngineClient: new (address: string, credentials: unknown, options?: object) => EngineClient;
    };
    client = new services.EngineClient(address, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 1 << 20,
    });
  } catch {
    client = null;
  }
  return client;
}

export function progress(message: string): void {
  const c = engine();
  if (!c) {
    if (process.env.BAREMETAL_PROGRESS) process.stderr.write(`baremetal: ${message}\n`);
    return;
  }
  if (!toEngine) {
    const pb = require("@pulumi/pulumi/proto/engine_pb.js") as {
      LogRequest: new () => {
        setSeverity(s: number): unknown;
        setMessage(m: string): unknown;
        setEphemeral(e: boolean): unknown;
      };
      LogSeverity: { INFO: number };
    };
    toEngine = batchedLines((text, done) => {
      const req = new pb.LogRequest();
      req.setSeverity(pb.LogSeverity.INFO);
      req.setMessage(text);
      req.setEphemeral(false);
      // Progress is best effort: a lost line must never fail a server.
      c.log(req, () => done());
    });
  }
  toEngine(message);
}

/** How long a step runs before its line is shown; BAREMETAL_PROGRESS_AFTER_MS overrides. */
const SHOW_AFTER_MS = 1000;

/**
 * Reports the steps of one long operation: `step(name)` moves on, and a step's line goes out
 * when it has lasted `afterMs` (what the server is waiting on); `done()` stops. A failure needs
 * no line here: the error names the step.
 */
export function steps(
  prefix: string,
  afterMs = Number(process.env.BAREMETAL_PROGRESS_AFTER_MS ?? SHOW_AFTER_MS),
): { step(name: string, detail?: string): void; done(): void } {
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  return {
    step(name, detail) {
      stop();
      const line = `${prefix}${name}${detail ? ` (${detail})` : ""}`;
      if (afterMs <= 0) return progress(line);
      timer = setTimeout(() => progress(line), afterMs);
      // A pending line must not keep the process alive.
      timer.unref();
    },
    done: stop,
  };
}
