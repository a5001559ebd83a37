// The provider of index.js, loaded in Pulumi's dynamic-provider host as ours is: by a one-line
// `__provider` that requires it. It does no work: it waits as long as the lab's install and
// returns the outputs a Server returned, and reports its process's CPU as ours does
// (provider/runtime.ts: a moment after a create, and when the engine ends the process).
"use strict";
const fs = require("node:fs");

const env = process.env;
const report = env.BENCH_HOST_FLOOR_REPORT;
const waitMs = Number(env.BENCH_HOST_FLOOR_WAIT_MS ?? 1000);
const outputs = JSON.parse(env.BENCH_HOST_FLOOR_OUTPUTS ?? "{}");
let startup;
let pending = false;
let signals = false;

function write() {
  if (!report || !startup) return;
  const { user, system } = process.cpuUsage();
  fs.writeFileSync(
    `${report}.${process.pid}`,
    JSON.stringify({ userUs: user, systemUs: system, startupUs: startup.user + startup.system }),
  );
}

module.exports = {
  async check(_olds, news) {
    startup ??= process.cpuUsage();
    return { inputs: news };
  },
  async create(inputs) {
    if (!signals) {
      signals = true;
      for (const signal of ["SIGINT", "SIGTERM"]) {
        process.once(signal, () => {
          write();
          process.kill(process.pid, signal);
        });
      }
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    if (!pending) {
      pending = true;
      setTimeout(() => {
        pending = false;
        write();
      }, 100).unref();
    }
    return { id: inputs.hostname, outs: { ...inputs, ...outputs } };
  },
  async delete() {},
};
