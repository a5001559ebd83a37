// examples/quickstart as a stack on a fresh built-in lab site: what the Server e2e tests share.
import fs from "node:fs";
import path from "node:path";
import { exampleStack, type ExampleStack } from "../../cli/example-stack";
import { startLabSite, type LabSite } from "../../cli/lab-site";

export interface LabStack {
  ex: ExampleStack;
  site: LabSite;
  /** Destroys what is left, stops the lab and removes the project. */
  stop(): Promise<void>;
}

export async function labStack(
  stackName: string,
  opts: {
    machines: number;
    installTimeMs: number;
    config?: Record<string, string>;
    example?: string;
    switchDialect?: "linux-bridge-per-vlan" | "linux";
  },
): Promise<LabStack> {
  const ex = await exampleStack(opts.example ?? "quickstart", stackName);
  fs.mkdirSync(path.dirname(ex.storeFile), { recursive: true });
  const site = await startLabSite({
    storeFile: ex.storeFile,
    machines: opts.machines,
    installTimeMs: opts.installTimeMs,
    switchDialect: opts.switchDialect,
    // The provider acts as the stack's baremetal:actor when it sets one.
    ...(opts.config?.["baremetal:actor"] ? { owners: [opts.config["baremetal:actor"]] } : {}),
  });
  return onSite(ex, site, { ...site.config, ...opts.config });
}

/**
 * A stack on a site that is up: the site's credentials go into this process's environment
 * (the provider process inherits them) and `config` into the stack's. stop() destroys what is
 * left, stops the site and removes the project.
 */
export async function onSite<S extends { env: Record<string, string>; stop(): Promise<void> }>(
  ex: ExampleStack,
  site: S,
  config: Record<string, string>,
): Promise<{ ex: ExampleStack; site: S; stop(): Promise<void> }> {
  for (const [k, v] of Object.entries(site.env)) process.env[k] = v;
  for (const [k, v] of Object.entries(config)) await ex.stack.setConfig(k, { value: v });
  return {
    ex,
    site,
    async stop() {
      await ex.stack.destroy().catch(() => undefined);
      await site.stop();
      ex.cleanup();
    },
  };
}
