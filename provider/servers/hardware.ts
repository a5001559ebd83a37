// A machine's BMC and its switches, built from inventory records with credentials resolved at
// the moment of use. Switch sessions are shared by everything this process does: one
// connection and one batch at a time per switch, whichever servers' changes it carries; and a
// batch holds the switch in the store, against every other process that uses it.
import fs from "node:fs";
import type { ProviderConfig } from "../config";
import { openBmc, type Bmc } from "../hardware/bmc";
import type { CommandLog } from "../hardware/commands";
import { HardwareError } from "../hardware/errors";
import { openSwitch, type Switch } from "../hardware/switch";
import { HoldTimeout } from "../store/hold";
import type { Store } from "../store/store";
import { resolveCredential } from "../inventory/credentials";
import type { MachineRecord, SwitchSpec } from "../inventory/types";

export type Secrets = Record<string, string | undefined>;

/** The stack's `baremetal:*` secrets, as credential references name them. */
export const secretsOf = (config: ProviderConfig): Secrets =>
  new Proxy({} as Secrets, { get: (_, key) => config.secret(String(key)) });

function bmcFor(machine: MachineRecord, secrets: Secrets, log: CommandLog): Bmc {
  const { redfish, ipmi, bootMode } = machine.bmc;
  const where = (p: string) => `machine ${machine.id} ${p} BMC`;
  return openBmc(
    {
      redfish: redfish && {
        url: redfish.url,
        username: redfish.username,
        password: resolveCredential(redfish.passwordRef, where("redfish"), { secrets }),
        systemId: redfish.systemId,
        bootMode,
        tls: {
          fingerprint256: redfish.fingerprint256,
          ca: redfish.caFile ? fs.readFileSync(redfish.caFile, "utf8") : undefined,
        },
      },
      ipmi: ipmi && {
        host: ipmi.host,
        port: ipmi.port,
        username: ipmi.username,
        password: resolveCredential(ipmi.passwordRef, where("ipmi"), { secrets }),
        cipherSuite: ipmi.cipherSuite,
        bootMode,
      },
    },
    { log },
  );
}

/**
 * `fn` with the machine's BMC, closed afterwards whatever happens. The changes it sends are
 * noted to `log`, the audit of the operation they belong to.
 */
export async function withBmc<T>(
  machine: MachineRecord,
  secrets: Secrets,
  log: CommandLog,
  fn: (bmc: Bmc) => Promise<T>,
): Promise<T> {
  const bmc = bmcFor(machine, secrets, log);
  try {
    return await fn(bmc);
  } finally {
    await bmc.close();
  }
}

const switches = new Map<string, { spec: string; store: Store; sw: Switch }>();

/**
 * How long a change waits while another process changes the same switch. A change takes
 * milliseconds to a few seconds (NVUE's apply), and processes take turns between changes
 * (store/hold.ts); two minutes is another process stuck on the switch.
 */
export const SWITCH_HOLD_WAIT_MS = 120_000;

export function switchFor(spec: SwitchSpec, secrets: Secrets, store: Store): Switch {
  const key = JSON.stringify(spec);
  const cached = switches.get(spec.name);
  if (cached && cached.spec === key && cached.store === store) return cached.sw;
  void cached?.sw.close();
  const where = `switch ${spec.name}`;
  const sw = openSwitch(
    {
      host: spec.host,
      port: spec.port,
      username: spec.username,
      hostKeyFingerprint: spec.hostKeyFingerprint,
      privateKey: spec.privateKeyRef && resolveCredential(spec.privateKeyRef, where, { secrets }),
      password: spec.passwordRef && resolveCredential(spec.passwordRef, where, { secrets }),
    },
    spec.dialect,
    {
      uplinks: spec.uplinks,
      exclusive: (change) =>
        store.hold(`switch ${spec.name}`, SWITCH_HOLD_WAIT_MS, change).catch((e: unknown) => {
          if (!(e instanceof HoldTimeout)) throw e;
          throw new HardwareError(
            "SwitchBusy",
            `switch ${spec.name} (${spec.host}): another process using the store ${store.location} (a pulumi up or baremetal command elsewhere) has been changing it for ${(e.waitedMs / 1000).toFixed(0)} s; nothing was changed`,
            { transient: false, cause: e },
          );
        }),
    },
  );
  switches.set(spec.name, { spec: key, store, sw });
  return sw;
}

export async function closeSwitches(): Promise<void> {
  const all = [...switches.values()];
  switches.clear();
  await Promise.all(all.map((s) => s.sw.close()));
}
