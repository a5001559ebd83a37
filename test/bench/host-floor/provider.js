// The provider of index.js, loaded in Pulumi's dynamic-provider host as ours is: by a one-line
// `__provider` that requires it. It does no work: it waits as long as the lab's install and
// returns the outputs a Server returned, and reports its process's CPU through the module ours
// uses (provider/cpu-report.ts, built, named by BENCH_HOST_FLOOR_REPORTER), so the two are
// measured alike.
"use strict";

const env = process.env;
const { markStartup, reportCpu } = require(env.BENCH_HOST_FLOOR_REPORTER);
const waitMs = Number(env.BENCH_HOST_FLOOR_WAIT_MS ?? 1000);
const outputs = JSON.parse(env.BENCH_HOST_FLOOR_OUTPUTS ?? "{}");

module.exports = {
  async check(_olds, news) {
    markStartup();
    return { inputs: news };
  },
  async create(inputs) {
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    reportCpu();
    return { id: inputs.hostname, outs: { ...inputs, ...outputs } };
  },
  async delete() {},
};
