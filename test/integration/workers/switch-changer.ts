// One OS process changing a shared switch through the provider's switch drivers, as a `pulumi
// up` of several VLANs and servers does: its VLANs (each its own change, queued in this process),
// then every port into the first (port changes that queue together go as one batch). The
// password comes from SWITCH_PASSWORD.
import { switchFor, closeSwitches } from "../../../provider/servers/hardware";
import { openStore } from "../../../provider/store/open";
import type { SwitchSpec } from "../../../provider/inventory/types";

async function main(): Promise<void> {
  const [location, specText, vlansText, portsText] = process.argv.slice(2);
  const store = await openStore(location!);
  try {
    const spec = JSON.parse(specText!) as SwitchSpec;
    const sw = switchFor({ ...spec, passwordRef: { env: "SWITCH_PASSWORD" } }, {}, store);
    const vlans = vlansText!.split(",").map(Number);
    await Promise.all(vlans.map((v) => sw.ensureVlan(v)));
    const ports = portsText!.split(",");
    await Promise.all(ports.map((p) => sw.setAccess(p, vlans[0]!)));
    process.stdout.write(`${JSON.stringify({ changed: vlans.length + ports.length })}\n`);
  } finally {
    await closeSwitches();
    await store.close();
  }
}

// The test reads a failure from the exit status and stderr.
main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
