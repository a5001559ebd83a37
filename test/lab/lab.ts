// The whole hardware lab at once: IPMI BMCs, a Redfish emulator and a switch with server
// namespaces. Tests, the demo and the benchmarks start the parts they need; `npm run lab`
// starts all of them, prints how to reach them as JSON, and stops everything by PID on
// Ctrl-C (or SIGTERM).
import { startIpmiBmcs } from "./ipmi";
import { startRedfish } from "./redfish";
import { startSwitch } from "./switch";

export interface LabOptions {
  bmcs?: number;
  redfishSystems?: number;
  switchPorts?: number;
}

export async function startLab(opts: LabOptions = {}) {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const ipmi = await startIpmiBmcs(opts.bmcs ?? 3);
    stops.push(() => ipmi.stop());
    const redfish = await startRedfish({ systems: opts.redfishSystems ?? 3 });
    stops.push(() => redfish.stop());
    const tor = await startSwitch({ ports: opts.switchPorts ?? 4 });
    stops.push(() => tor.stop());
    return { ipmi, redfish, tor, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

if (require.main === module) {
  void (async () => {
    const lab = await startLab();
    const info = {
      ipmi: lab.ipmi.bmcs.map((b) => ({
        host: b.host,
        port: b.port,
        username: b.username,
        password: b.password,
        cipherSuite: b.cipherSuite,
      })),
      redfish: {
        url: lab.redfish.url,
        username: lab.redfish.username,
        password: lab.redfish.password,
        fingerprint256: lab.redfish.fingerprint256,
        systems: lab.redfish.systems,
      },
      switch: {
        host: lab.tor.host,
        port: lab.tor.port,
        username: lab.tor.username,
        hostKeyFingerprint: lab.tor.hostKeyFingerprint,
        dialect: "linux-bridge-per-vlan",
        ports: lab.tor.ports,
        servers: lab.tor.servers,
      },
    };
    console.log(JSON.stringify(info, null, 2));
    console.error("lab running; Ctrl-C stops it");
    let stopping = false;
    const shutdown = () => {
      if (stopping) return;
      stopping = true;
      void lab.stop().then(() => console.error("lab stopped"));
    };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
    // Keeps the process alive until a signal; the lab's own handles may all be unref'd.
    const keepAlive = setInterval(() => stopping && clearInterval(keepAlive), 1000);
  })().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
