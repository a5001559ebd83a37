// Runs a program from examples/ with the real Pulumi engine through the Automation API, the way
// a user's project would: its own directory (a copy), a local file backend, a passphrase.
import { LocalWorkspace, type PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** The package root, which holds examples/ and node_modules/ (from cli/ or bin/cli/). */
export const REPO = path.resolve(
  __dirname,
  fs.existsSync(path.join(__dirname, "../package.json")) ? ".." : "../..",
);

export interface ExampleStack {
  stack: Stack;
  dir: string;
  /** The SQLite store this stack's provider uses. */
  storeFile: string;
  /** The environment the pulumi CLI runs with here (backend, passphrase, home). */
  env: Record<string, string>;
  cleanup(): void;
}

export async function exampleStack(
  example: string,
  stackName = "test",
  /** pulumiCommand: the CLI to run (the benchmark times the `pulumi up` itself through it). */
  /** source: the program's directory when it is not examples/<example> (the benchmark's own). */
  opts: { env?: Record<string, string>; pulumiCommand?: PulumiCommand; source?: string } = {},
): Promise<ExampleStack> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `baremetal-e2e-${example}-`));
  const dir = path.join(root, "project");
  fs.cpSync(opts.source ?? path.join(REPO, "examples", example), dir, {
    recursive: true,
    filter: (src) => !/(^|\/)(\.baremetal|node_modules|Pulumi\.[^/]+\.yaml)$/.test(src),
  });
  // Resolves @pulumi/pulumi and pulumi-baremetal (a link to this checkout) as an install would.
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"), "dir");
  const backend = path.join(root, "backend");
  fs.mkdirSync(backend);
  const storeFile = path.join(root, "store", "state.db");

  const env = {
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase",
    PULUMI_HOME: path.join(root, "pulumi-home"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    // Seen by the dynamic provider too: credentials the inventory refers to by name.
    ...opts.env,
  };
  const cleanup = () => fs.rmSync(root, { recursive: true, force: true });
  try {
    const stack = await LocalWorkspace.createOrSelectStack(
      { stackName, workDir: dir },
      { envVars: env, pulumiCommand: opts.pulumiCommand },
    );
    await stack.setConfig("baremetal:store", { value: `sqlite:${storeFile}` });
    return { stack, dir, storeFile, env, cleanup };
  } catch (e) {
    cleanup();
    throw pulumiMissing(e) ?? e;
  }
}

/** The Automation API's error when there is no pulumi CLI to run, in words. */
function pulumiMissing(e: unknown): Error | undefined {
  const text = String((e as Error)?.message ?? e);
  if (!/ENOENT/.test(text) || !/pulumi/.test(text)) return undefined;
  return new Error(
    "the pulumi CLI is not on PATH: install it (or run .ci/run once, which builds it into " +
      "~/.cache/pulumi-baremetal, and put its bin directory on PATH)",
    { cause: e },
  );
}
