// One OS process changing ports of a shared switch through the provider's switch drivers, as a
// `pulumi up` does: its VLAN, then each port into it. The password comes from SWITCH_PASSWORD.
import { switchFor, closeSwitches } from "../../../provider/servers/hardware";
import { openStore } from "../../../provider/store/open";
import type { SwitchSpec } from "../../../provider/inventory/types";

async function main(): Promise<void> {
  const [location, specText, vlanText, portsText] = process.argv.slice(2);
  const store = await openStore(location!);
  try {
    const spec = JSON.parse(specText!) as SwitchSpec;
    const sw = switchFor({ ...spec, passwordRef: { env: "SWITCH_PASSWORD" } }, {}, store);
    const vlan = Number(vlanText);
    await sw.ensureVlan(vlan);
    const ports = portsText!.split(",");
    await Promise.all(ports.map((p) => sw.setAccess(p, vlan)));
    process.stdout.write(`${JSON.stringify({ changed: ports.length + 1 })}\n`);
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
