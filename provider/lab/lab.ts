// The built-in lab: N simulated machines behind one Redfish service (one system each), cabled
// to one simulated switch (port swp<i> for machine i), netbooting from a boot server whose URL
// the caller gives. Everything listens on 127.0.0.1 on ports the OS picks and runs in this
// process: no root, no OS packages, nothing left behind by stop(). It serves `npm run demo`
// (a real `pulumi up` against it) and tests that want hardware in milliseconds; the real peers
// (sushy-tools, ipmi_sim, sshd + namespaces in test/lab) remain the proof the drivers work.
//
// Per-machine cost is a few small objects: one Redfish system, one MachineSim, one switch
// port in the model. 500 machines start in about the time of 3.
import YAML from "yaml";
import type { InventoryFile } from "../inventory/types";
import { MachineSim, type MachineFaults } from "./machine-sim";
import { RedfishSim, type SimSystem } from "./redfish-sim";
import { SwitchSim } from "./switch-sim";
import { makeCertificate } from "./tls-cert";

export interface BuiltinLabOptions {
  machines: number;
  /** Facility code. Default "lab". */
  facility?: string;
  /** Plan name. Default "lab.small". */
  plan?: string;
  /** The boot server's base URL (provisioning/urls.ts paths are appended). */
  bootServerUrl: string;
  /** Default of every machine. Default 1000. */
  installTimeMs?: number;
  /** From an accepted Reset until the new power state shows. Default 0. */
  powerDelayMs?: number;
  /**
   * The facility's provisioning VLAN. When given, a machine netboots only through a NIC whose
   * switch port is in that VLAN (bridge vlan<id>, port and bridge up), as on a real network
   * where DHCP and the boot server live on the provisioning VLAN. When absent the rule is off
   * (any NIC netboots) and the inventory says 10. setNetbootVlan() changes it later.
   */
  provisioningVlan?: number;
  /**
   * The facility's layer-3 network, apart from the provisioning VLAN (FacilitySpec.layer3Vlan):
   * installed layer3 and hybrid servers go there. With it (and provisioningVlan), a machine
   * netboots on either, its requests coming from LAB_ADDRESSES.provisioning or .layer3, so a
   * boot server that allows only the first hands the second no install or wipe.
   */
  layer3Vlan?: number;
  /** One Redfish service per machine instead of one hosting every system. Default false. */
  bmcPerMachine?: boolean;
  /** Passwords; generated when absent. */
  bmcPassword?: string;
  switchPassword?: string;
  /** The switch: linux-bridge-per-vlan (default, access ports only) or linux (VLAN-aware: trunks too). */
  switchDialect?: "linux-bridge-per-vlan" | "linux";
}

/**
 * Where a lab machine's netboot requests come from, by the network its port is on (all of
 * 127.0.0.0/8 is this host's): the lab's boot server allows only the provisioning one.
 */
export const LAB_ADDRESSES = { provisioning: "127.0.0.1", layer3: "127.0.0.2" } as const;

export interface LabMachine {
  id: string;
  serial: string;
  /** Its one NIC's MAC (lowercase). */
  mac: string;
  systemId: string;
  switchPort: string;
  /** Its BMC's URL (the shared service unless bmcPerMachine). */
  redfishUrl: string;
  sim: MachineSim;
  system: SimSystem;
}

export interface BuiltinLab {
  facility: string;
  plan: string;
  provisioningVlan: number;
  redfish: {
    /** The (first) service's URL; machines[i].redfishUrl is each machine's. */
    url: string;
    username: string;
    password: string;
    /** "AB:CD:..." (Node's X509Certificate.fingerprint256), the same for every service. */
    fingerprint256: string;
    /** The self-signed certificate as PEM, usable as a CA bundle. */
    caCert: string;
    sims: RedfishSim[];
  };
  switch: {
    name: string;
    host: string;
    port: number;
    username: string;
    password: string;
    /** OpenSSH private key authorized on the switch (public-key auth). */
    privateKey: string;
    hostKeyFingerprint: string;
    dialect: "linux-bridge-per-vlan";
    sim: SwitchSim;
  };
  machines: LabMachine[];
  /** Environment variables the inventory's credential references name, with their values. */
  env: Record<string, string>;
  machine(id: string): LabMachine;
  /** The VLAN machine `id`'s NIC is in now (per the switch), if any. */
  vlanOf(id: string): number | undefined;
  inventory(): InventoryFile;
  /** inventory.yaml for this lab (with IP pools for the facility). */
  inventoryYaml(): string;
  bootServerUrl(): string;
  setBootServerUrl(url: string): void;
  /** Turns the provisioning-VLAN netboot rule on (with that VLAN) or off (undefined). */
  setNetbootVlan(vlan: number | undefined): void;
  /** Sets fault knobs on every machine (per machine: machines[i].sim.faults). */
  setMachineFaults(faults: MachineFaults): void;
  stop(): Promise<void>;
}

export const LAB_ENV = {
  bmcPassword: "BAREMETAL_LAB_PASSWORD",
  switchPassword: "BAREMETAL_LAB_SWITCH_PASSWORD",
} as const;

const MAX_MACHINES = 5000;
const SWITCH_NAME = "lab-tor1";

export async function startBuiltinLab(opts: BuiltinLabOptions): Promise<BuiltinLab> {
  const n = opts.machines;
  if (!Number.isInteger(n) || n < 0 || n > MAX_MACHINES) {
    throw new Error(`machines must be an integer from 0 to ${MAX_MACHINES}, got ${n}`);
  }
  let bootServer = checkUrl(opts.bootServerUrl);
  const facility = opts.facility ?? "lab";
  const plan = opts.plan ?? "lab.small";
  const provisioningVlan = opts.provisioningVlan ?? 10;
  let netbootVlan = opts.provisioningVlan;
  const layer3Vlan = opts.layer3Vlan;
  const installTimeMs = opts.installTimeMs ?? 1000;

  const certificate = await makeCertificate();
  const sims: RedfishSim[] = [];
  let sw: SwitchSim | undefined;
  const machines: LabMachine[] = [];
  const stopAll = async () => {
    for (const m of machines) m.sim.stop();
    await Promise.allSettled([...sims.map((s) => s.stop()), sw?.stop()]);
  };
  try {
    const redfishOptions = { certificate, powerDelayMs: opts.powerDelayMs ?? 0, password: opts.bmcPassword };
    // Both start at once; whichever did start is stopped if the other failed (a listening
    // server left behind keeps the process, and a test run, from ever ending).
    const [bmcStart, switchStart] = await Promise.allSettled([
      RedfishSim.start(redfishOptions),
      SwitchSim.start({ ports: Math.max(n, 1), password: opts.switchPassword, dialect: opts.switchDialect }),
    ]);
    if (bmcStart.status === "fulfilled") sims.push(bmcStart.value);
    if (switchStart.status === "fulfilled") sw = switchStart.value;
    if (bmcStart.status === "rejected") throw bmcStart.reason;
    if (switchStart.status === "rejected") throw switchStart.reason;
    const shared = bmcStart.value;
    const switchSim = switchStart.value;
    const width = Math.max(2, String(n).length);
    for (let i = 1; i <= n; i++) {
      const num = String(i).padStart(width, "0");
      const id = `m${num}`;
      const bmc =
        opts.bmcPerMachine && i > 1
          ? await RedfishSim.start({ ...redfishOptions, password: shared.password })
          : shared;
      if (bmc !== shared) sims.push(bmc);
      const systemId = `sys-${num}`;
      const serial = `LAB-${String(i).padStart(6, "0")}`;
      const system = bmc.addSystem(systemId, serial);
      const mac = labMac(i);
      const switchPort = `swp${i}`;
      switchSim.plug(switchPort, mac);
      const sim = new MachineSim(
        id,
        system,
        [{ mac, port: switchPort }],
        {
          bootServerUrl: () => bootServer,
          netboot: (m) => {
            if (netbootVlan === undefined) return {};
            const vlan = switchSim.vlanOfMac(m);
            if (vlan === netbootVlan)
              return layer3Vlan === undefined ? {} : { address: LAB_ADDRESSES.provisioning };
            return vlan !== undefined && vlan === layer3Vlan ? { address: LAB_ADDRESSES.layer3 } : false;
          },
        },
        { installTimeMs },
      );
      machines.push({ id, serial, mac, systemId, switchPort, redfishUrl: bmc.url, sim, system });
    }
    const byId = new Map(machines.map((m) => [m.id, m]));
    const env = { [LAB_ENV.bmcPassword]: shared.password, [LAB_ENV.switchPassword]: switchSim.password };

    const inventory = (): InventoryFile => ({
      facilities: [
        {
          code: facility,
          name: "Built-in lab",
          vlans: { from: 1000, to: 1999 },
          provisioningVlan,
          ...(layer3Vlan === undefined ? {} : { layer3Vlan }),
        },
      ],
      plans: [
        {
          name: plan,
          cpu: { cores: 8, model: "Simulated" },
          memoryGb: 32,
          disks: [{ count: 1, sizeGb: 480, type: "ssd" }],
          nics: [{ count: 1, speedGbps: 10 }],
        },
      ],
      switches: [
        {
          name: SWITCH_NAME,
          facility,
          host: switchSim.host,
          port: switchSim.port,
          hostKeyFingerprint: switchSim.hostKeyFingerprint,
          dialect: switchSim.dialect,
          username: switchSim.username,
          passwordRef: { env: LAB_ENV.switchPassword },
        },
      ],
      machines: machines.map((m) => ({
        id: m.id,
        facility,
        plan,
        serial: m.serial,
        bmc: {
          redfish: {
            url: m.redfishUrl,
            username: shared.username,
            passwordRef: { env: LAB_ENV.bmcPassword },
            systemId: m.systemId,
            fingerprint256: certificate.fingerprint256,
          },
        },
        nics: [{ name: "eth0", mac: m.mac, switch: SWITCH_NAME, port: m.switchPort }],
      })),
    });

    return {
      facility,
      plan,
      provisioningVlan,
      redfish: {
        url: shared.url,
        username: shared.username,
        password: shared.password,
        fingerprint256: certificate.fingerprint256,
        caCert: certificate.cert,
        sims,
      },
      switch: {
        name: SWITCH_NAME,
        host: switchSim.host,
        port: switchSim.port,
        username: switchSim.username,
        password: switchSim.password,
        privateKey: switchSim.privateKey!,
        hostKeyFingerprint: switchSim.hostKeyFingerprint,
        dialect: "linux-bridge-per-vlan",
        sim: switchSim,
      },
      machines,
      env,
      machine(id) {
        const m = byId.get(id);
        if (!m) throw new Error(`no lab machine ${id}`);
        return m;
      },
      vlanOf: (id) => switchSim.vlanOfPort(byId.get(id)?.switchPort ?? ""),
      inventory,
      inventoryYaml: () => inventoryYaml(inventory(), n),
      bootServerUrl: () => bootServer,
      setBootServerUrl(url) {
        bootServer = checkUrl(url);
      },
      setNetbootVlan(vlan) {
        netbootVlan = vlan;
      },
      setMachineFaults(faults) {
        for (const m of machines) m.sim.faults = { installTimeMs, ...faults };
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** Locally administered, unique per machine: 02:ba:4e:<index as 3 bytes>. */
function labMac(i: number): string {
  return ["02", "ba", "4e", (i >> 16) & 255, (i >> 8) & 255, i & 255]
    .map((b) => (typeof b === "string" ? b : b.toString(16).padStart(2, "0")))
    .join(":");
}

function checkUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new Error(`bootServerUrl: http(s) only, got ${url}`);
  return url;
}

/**
 * The inventory as inventory.yaml, with address pools for the facility. The pools are sized
 * for the benchmark: 198.18.0.0/15 is reserved for benchmarking (RFC 2544), so it can never
 * clash with a real network; 10.x private addresses are for project VLANs.
 */
function inventoryYaml(inv: InventoryFile, machines: number): string {
  const doc = {
    facilities: inv.facilities.map((f) => ({
      ...f,
      pools: [
        { name: `${f.code}-public`, type: "public_ipv4", cidr: "198.18.0.0/15" },
        { name: `${f.code}-private`, type: "private_ipv4", cidr: "10.64.0.0/10" },
      ],
    })),
    plans: inv.plans,
    switches: inv.switches,
    machines: inv.machines,
  };
  const header = [
    `# The built-in lab: ${machines} simulated machine(s), one Redfish service, one switch.`,
    `# Credentials come from the environment: ${LAB_ENV.bmcPassword} (BMCs), ${LAB_ENV.switchPassword} (switch).`,
  ].join("\n");
  return `${header}\n${YAML.stringify(doc, { lineWidth: 0 })}`;
}
