// examples/private-vlan on a real-peers site (test/lab/real-site.ts): three machines, two for
// the example's servers and one left outside their VLAN, with quick installs.
import fs from "node:fs";
import path from "node:path";
import { exampleStack, type ExampleStack } from "../../cli/example-stack";
import type { SwitchForm } from "../lab/switch";
import { startRealSite, type RealSite } from "../lab/real-site";
import { onSite } from "./lab-stack";

export interface PrivateVlanSite {
  ex: ExampleStack;
  site: RealSite;
  stop(): Promise<void>;
}

export async function privateVlanSite(
  switchForm: SwitchForm,
  config: Record<string, string> = {},
): Promise<PrivateVlanSite> {
  const ex = await exampleStack("private-vlan", "rack1");
  fs.mkdirSync(path.dirname(ex.storeFile), { recursive: true });
  const site = await startRealSite({ machines: 3, storeFile: ex.storeFile, installMs: 300, switchForm });
  return onSite(ex, site, {
    "baremetal:bootServerUrl": site.config["baremetal:bootServerUrl"]!,
    facility: site.config.facility!,
    plan: site.config.plan!,
    provisionTimeoutSeconds: "120",
    ...config,
  });
}
