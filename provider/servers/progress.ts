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
/** How long the first line of a batch waits for others; each call costs about 1 ms of CPU. */
const GATHER_MS = 200;
let toEngine: Lines | undefined;

export interface Lines {
  line(text: string): void;
  /**
   * Sends what is gathering now; resolves once every line given before the call is delivered.
   * An operation ends with it: the engine may stop listening once it has the operation's
   * result, and a line still gathering then was lost.
   */
  flush(): Promise<void>;
}

/**
 * Lines to `send`, one call in flight at a time, so they show in the order they happened.
 * Lines go together (joined by newlines): those that come while a call is in flight, and those
 * that come within `gatherMs` of the first of a batch. The servers of a wave reach their steps
 * and finish a few milliseconds to a few hundred apart, and a call went out for nearly every
 * line (166 calls for 198 lines in a 100-server `up`) when only the first were gathered.
 */
export function batchedLines(send: (text: string, done: () => void) => void, gatherMs = 0): Lines {
  let waiting: string[] = [];
  let sending = false;
  let gathering: NodeJS.Timeout | undefined;
  // Lines given and lines delivered (or failed) so far, for flush().
  let given = 0;
  let delivered = 0;
  let flushes: { upTo: number; resolve: () => void }[] = [];
  const next = () => {
    if (sending || gathering || waiting.length === 0) return;
    const batch = waiting;
    waiting = [];
    sending = true;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      sending = false;
      delivered += batch.length;
      const ready = flushes.filter((f) => f.upTo <= delivered);
      flushes = flushes.filter((f) => f.upTo > delivered);
      for (const f of ready) f.resolve();
      next();
    };
    try {
      send(batch.join("\n"), done);
    } catch {
      done(); // best effort: a failed send must not hold back the lines after it
    }
  };
  const sendNow = () => {
    clearTimeout(gathering);
    gathering = undefined;
    next();
  };
  return {
    line(text) {
      waiting.push(text);
      given++;
      if (gatherMs > 0 && !sending && !gathering && waiting.length === 1) {
        gathering = setTimeout(sendNow, gatherMs);
        // A pending line must not keep the process alive.
        gathering.unref();
        return;
      }
      next();
    },
    flush() {
      if (delivered >= given) return Promise.resolve();
      const upTo = given;
      const delivery = new Promise<void>((resolve) => flushes.push({ upTo, resolve }));
      sendNow();
      return delivery;
    },
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
    }, GATHER_MS);
  }
  toEngine.line(message);
}

/** How long an operation's end waits for its lines to reach the engine, at most. */
const FLUSH_MS = 2000;

/** Delivers the lines given so far (see Lines.flush), waiting no longer than FLUSH_MS. */
export async function flushProgress(): Promise<void> {
  if (!toEngine) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    toEngine.flush(),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, FLUSH_MS);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
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
