// For `npm run bench:provision`: a provider process's own CPU time, written to
// `$BAREMETAL_CPU_REPORT.<pid>` a moment after a resource operation and once more when the
// engine ends the process. Ours (runtime.ts) and the benchmark's do-nothing provider
// (test/bench/host-floor) both report through here, so the two are measured alike. It needs
// nothing but `fs`: loading it must not be what the do-nothing provider measures.
import fs from "node:fs";

const cpuUs = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** CPU the process had used when it first served the engine: its startup. */
let startupUs: number | undefined;
let pending = false;
let atExit = false;
let fields: Record<string, number> = {};

/** The first call marks the end of the process's startup; later ones change nothing. */
export function markStartup(): void {
  startupUs ??= cpuUs();
}

/**
 * Writes the report soon (one write per burst, not per call: the measuring must not be what it
 * measures) and from the engine's signal at the end. The engine ends the process with SIGINT
 * as soon as the run is over, sometimes within milliseconds of the last create (a one-wave run
 * was over before any report was written), so the last word is written from the signal.
 * `extra` adds fields of the caller's.
 */
export function reportCpu(extra: Record<string, number> = {}): void {
  const file = process.env.BAREMETAL_CPU_REPORT;
  if (!file) return;
  fields = extra;
  const write = () => {
    const { user, system } = process.cpuUsage();
    fs.writeFileSync(
      `${file}.${process.pid}`,
      JSON.stringify({
        pid: process.pid,
        userUs: user,
        systemUs: system,
        startupUs: startupUs ?? 0,
        ...fields,
      }),
    );
  };
  if (!atExit) {
    atExit = true;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => {
        write();
        // Then end as the signal would have ended us.
        process.kill(process.pid, signal);
      });
    }
  }
  if (pending) return;
  pending = true;
  setTimeout(() => {
    pending = false;
    write();
  }, 100).unref();
}
