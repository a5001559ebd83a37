// A whole site on one machine for the demo, the e2e tests and the benchmarks: the built-in lab
// (simulated BMCs, switch and machines), a boot server, and a store holding the lab's
// inventory. The provider, in its own process, reaches all of it over 127.0.0.1.
import { applyInventoryFile } from "../provider/inventory/apply";
import { LAB_ADDRESSES, startBuiltinLab, type BuiltinLab } from "../provider/lab";
import { startBootServer, type BootServer } from "../provider/provisioning/boot-server";
import { safeUser } from "../provider/config";
import { openStore } from "../provider/store/open";
import { addMember, createProject, readProject } from "../provider/store/projects-sql";
import type { Store } from "../provider/store/store";

export interface LabSite {
  store: Store;
  boot: BootServer;
  lab: BuiltinLab;
  /** Environment the provider needs (the credentials the inventory names). */
  env: Record<string, string>;
  /** Stack config the provider needs. */
  config: Record<string, string>;
  stop(): Promise<void>;
}

export async function startLabSite(opts: {
  storeFile: string;
  machines: number;
  installTimeMs?: number;
  switchDialect?: "linux-bridge-per-vlan" | "linux";
  /**
   * Owners of the lab's project `demo` (created when missing). Default: the actor a provider
   * started from this environment uses ($BAREMETAL_ACTOR, else the OS user).
   */
  owners?: string[];
}): Promise<LabSite> {
  const store = await openStore(`sqlite:${opts.storeFile}`);
  let boot: BootServer | undefined;
  let lab: BuiltinLab | undefined;
  try {
    // Installs and wipes are handed out on the provisioning network only, as on a real site.
    boot = await startBootServer(store, { allow: [`${LAB_ADDRESSES.provisioning}/32`] });
    lab = await startBuiltinLab({
      machines: opts.machines,
      bootServerUrl: boot.url,
      installTimeMs: opts.installTimeMs ?? 1000,
      provisioningVlan: 10,
      layer3Vlan: 20,
      switchDialect: opts.switchDialect,
    });
    await applyInventoryFile(store, lab.inventoryYaml(), { prune: false, dryRun: false, actor: "lab" });
    const owners = opts.owners ?? [process.env.BAREMETAL_ACTOR || safeUser()];
    if (!(await store.transact(() => readProject("demo"), "read"))) {
      await store.transact(function* (at) {
        yield* createProject(
          { name: "demo", description: "the lab's project", owner: owners[0]! },
          "lab",
          at,
        );
        for (const user of owners.slice(1))
          yield* addMember({ project: "demo", user, role: "owner", sshKeys: [], owner: null }, "lab", at);
      });
    }
    const v6 = `${lab.facility}-public6`;
    if (!(await store.getPool(v6))) {
      await store.addPool(
        { name: v6, type: "public_ipv6", cidr: "2001:db8:100::/48", facility: lab.facility, project: null },
        "lab",
      );
    }
    const [b, l] = [boot, lab];
    return {
      store,
      boot: b,
      lab: l,
      env: l.env,
      // The lab's machines read the boot files' names, never fetch them: any mirror will do,
      // and FCOS and Ubuntu install only from one.
      config: { "baremetal:bootServerUrl": b.url, "baremetal:osMirror": `${b.url}/assets` },
      async stop() {
        await l.stop();
        await b.close();
        await store.close();
      },
    };
  } catch (e) {
    await lab?.stop();
    await boot?.close();
    await store.close();
    throw e;
  }
}
