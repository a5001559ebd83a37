// What a CI job runs (`npx ts-node pipeline.ts`): a stack named after the run, up, the tests
// against the new server, and a destroy that happens whatever the tests did, so a failed run
// leaves no machine or address behind. Settings come from the environment, as CI gives them:
//   CI_RUN_ID           the stack's name (e.g. the pipeline id)
//   CI_TEST_COMMAND     run with SERVER_ADDRESS and SERVER_MACHINE set; its exit status is the run's
//   BAREMETAL_STORE, BAREMETAL_BOOT_SERVER_URL, PULUMI_BACKEND_URL, ... as for any stack
import { execFileSync } from "node:child_process";
import { LocalWorkspace } from "@pulumi/pulumi/automation";

async function main(): Promise<number> {
  const run = process.env.CI_RUN_ID;
  const command = process.env.CI_TEST_COMMAND;
  if (!run || !/^[a-z0-9][a-z0-9-]{0,40}$/.test(run))
    throw new Error("CI_RUN_ID: set it to the run's id, e.g. run-1234");
  if (!command) throw new Error("CI_TEST_COMMAND: set it to the test command");
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: run, workDir: __dirname });
  for (const key of ["facility", "plan", "project", "provisionTimeoutSeconds"]) {
    const value = process.env[`CI_${key.toUpperCase()}`];
    if (value) await stack.setConfig(key, { value });
  }
  let status = 1;
  try {
    const up = await stack.up({ onOutput: (s) => process.stdout.write(s) });
    const env = {
      ...process.env,
      SERVER_ADDRESS: String(up.outputs.address?.value ?? ""),
      SERVER_MACHINE: String(up.outputs.machine?.value ?? ""),
    };
    try {
      execFileSync("sh", ["-c", command], { env, stdio: "inherit", timeout: 3_600_000 });
      status = 0;
      console.log(`tests passed against ${env.SERVER_ADDRESS} (machine ${env.SERVER_MACHINE})`);
    } catch {
      console.log(`tests failed against ${env.SERVER_ADDRESS} (machine ${env.SERVER_MACHINE})`);
    }
  } finally {
    await stack.destroy({ onOutput: (s) => process.stdout.write(s) });
    await stack.workspace.removeStack(run);
    console.log(`stack ${run} destroyed and removed`);
  }
  return status;
}

main().then(
  (status) => (process.exitCode = status),
  (e: unknown) => {
    console.error(e);
    process.exitCode = 2;
  },
);
