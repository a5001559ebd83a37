// For benchmarks: with BAREMETAL_CPU_PROFILE=<dir>, the provider records V8 CPU profiles of
// itself, written in pieces every few seconds, because the engine kills the provider at the
// end of a run and there is no exit to write one at. Sum the pieces' samples to read them.
import fs from "node:fs";
import inspector from "node:inspector";
import path from "node:path";

let session: inspector.Session | undefined;
let lastWrite = 0;
let piece = 0;

export function startProfile(): void {
  if (!process.env.BAREMETAL_CPU_PROFILE || session) return;
  session = new inspector.Session();
  session.connect();
  session.post("Profiler.enable");
  // BAREMETAL_CPU_PROFILE_US: the sampling interval (V8's default is 1000 us, coarse for a
  // 10-server run whose whole after-startup CPU is about 200 ms).
  const us = Number(process.env.BAREMETAL_CPU_PROFILE_US);
  if (us > 0) session.post("Profiler.setSamplingInterval", { interval: us });
  session.post("Profiler.start");
}

export function flushProfile(): void {
  const dir = process.env.BAREMETAL_CPU_PROFILE;
  const s = session;
  if (!dir || !s || Date.now() - lastWrite < 2000) return;
  lastWrite = Date.now();
  s.post("Profiler.stop", (err, result) => {
    if (!err) {
      const file = path.join(dir, `provider-${process.pid}-${piece++}.cpuprofile`);
      fs.writeFileSync(file, JSON.stringify(result.profile));
    }
    s.post("Profiler.start");
  });
}
