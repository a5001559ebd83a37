// A site built from the real peers instead of the built-in lab's simulators: ipmi_sim BMCs
// (driven with ipmitool), the namespace switch behind a real sshd, the `baremetal boot-server`
// command in a namespace of its own on the switch's provisioning VLAN, and one namespace
// machine per BMC (./netns-machine). Nothing here is simulated in-process: a machine netboots
// only if the provider really put its switch port on the provisioning VLAN, because that
// bridge is the only path from its namespace to the boot server.
//
// Layout (10.99.0.0/24 inside the switch namespace only):
//   machine i: namespace tor.servers[i], eth0 10.99.0.<i+1>, cabled to swp<i+1>
//   boot server: the last server namespace, cabled to the last port, which the site puts on
//   the provisioning VLAN itself (the facility's uplink, not a port the provider owns)
// The switch runs in either of its forms (test/lab/switch.ts): bridge-per-vlan, driven with
// the `linux-bridge-per-vlan` dialect (access ports), or vlan-aware, driven with `linux`
// (access and trunk ports, so hybrid servers too).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import path from "node:path";
import YAML from "yaml";
import { applyInventoryFile } from "../../provider/inventory/apply";
import { safeUser } from "../../provider/config";
import { openStore } from "../../provider/store/open";
import { createProject } from "../../provider/store/projects-sql";
import type { Store } from "../../provider/store/store";
import { startIpmiBmcs, type IpmiBmc } from "./ipmi";
import { attachMachine, type NetnsMachine } from "./netns-machine";
import { stopGroup } from "./process-group";
import { openSwitch } from "../../provider/hardware/switch";
import { startSwitch, type SwitchForm, type SwitchLab } from "./switch";

const CLI = path.resolve(__dirname, "../../bin/cli/main.js");
const FACILITY = "rack1";
const PLAN = "c3.small";
const PROVISIONING_VLAN = 10;
const BOOT_PORT = 8080;
// Where every namespace's eth0 is (test/lab/switch.ts): the provisioning network.
const PROVISIONING_NETWORK = "10.99.0.0/24";

export const REAL_SITE_ENV = {
  bmcPassword: "BAREMETAL_RACK1_IPMI_PASSWORD",
  switchKey: "BAREMETAL_RACK1_SWITCH_KEY",
} as const;

export interface RealSite {
  store: Store;
  tor: SwitchLab;
  bmcs: IpmiBmc[];
  machines: (NetnsMachine & { id: string; port: string; namespace: string })[];
  bootServerUrl: string;
  /** Environment the provider needs (the credentials the inventory names). */
  env: Record<string, string>;
  /** Stack config for examples/quickstart on this site. */
  config: Record<string, string>;
  stop(): Promise<void>;
}

function ip(args: string[]): string {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function macOf(namespace: string): string {
  return (JSON.parse(ip(["-n", namespace, "-j", "link", "show", "dev", "eth0"])) as { address: string }[])[0]!
    .address;
}

/**
 * Runs `baremetal boot-server` in `namespace`, serving boot scripts and configs to the
 * provisioning network only (`--allow`); resolves once it listens.
 */
async function startBootServer(
  namespace: string,
  address: string,
  network: string,
  storeFile: string,
): Promise<ChildProcess> {
  const url = `http://${address}:${BOOT_PORT}`;
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      namespace,
      process.execPath,
      CLI,
      "boot-server",
      "--store",
      `sqlite:${storeFile}`,
    ].concat(["--listen", `${address}:${BOOT_PORT}`, "--public-url", url, "--allow", network]),
    { detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  const listening = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`boot server did not start within 20 s: ${out}`)),
      20_000,
    );
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes("listening")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`boot server exited (${code}): ${out}`));
    });
  });
  try {
    await listening;
  } catch (e) {
    if (child.pid) await stopGroup(child.pid, "boot server").catch(() => undefined);
    throw e;
  }
  return child;
}

export async function startRealSite(opts: {
  machines: number;
  storeFile: string;
  installMs?: number;
  switchForm?: SwitchForm;
}): Promise<RealSite> {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const n = opts.machines;
    const form = opts.switchForm ?? "bridge-per-vlan";
    const tor = await startSwitch({ ports: n + 1, form });
    stops.push(() => tor.stop());
    const uplink = tor.servers[n]!;
    const bootAddress = uplink.address.split("/")[0]!;
    const bootServerUrl = `http://${bootAddress}:${BOOT_PORT}`;
    // The facility's provisioning VLAN reaches the boot server: the VLAN and the uplink port.
    if (form === "vlan-aware") {
      // Only the switch's own commands keep its VLAN tables and their BPF programs in step.
      const sw = openSwitch(tor.endpoint(), "linux");
      try {
        await sw.ensureVlan(PROVISIONING_VLAN);
        await sw.setAccess(uplink.port, PROVISIONING_VLAN);
      } finally {
        await sw.close();
      }
    } else {
      const bridge = `vlan${PROVISIONING_VLAN}`;
      ip(["-n", tor.namespace, "link", "add", "name", bridge, "type", "bridge"]);
      ip(["-n", tor.namespace, "link", "set", "dev", bridge, "up"]);
      ip(["-n", tor.namespace, "link", "set", "dev", uplink.port, "master", bridge]);
    }

    const password = crypto.randomBytes(8).toString("hex");
    const ipmi = await startIpmiBmcs(n, { password });
    stops.push(() => ipmi.stop());
    const machines = ipmi.bmcs.map((bmc, i) => {
      const { namespace, port } = tor.servers[i]!;
      const attached = attachMachine(bmc, {
        namespace,
        mac: macOf(namespace),
        bootServerUrl,
        installMs: opts.installMs,
      });
      return Object.assign(attached, { id: `r1-m${i + 1}`, port, namespace });
    });

    const store = await openStore(`sqlite:${opts.storeFile}`);
    stops.push(() => store.close());
    await applyInventoryFile(store, inventoryYaml(tor, form, ipmi.bmcs, machines), {
      prune: false,
      dryRun: false,
      actor: "real-site",
    });
    // The examples' project, owned by the actor a provider started from here runs as.
    const owner = process.env.BAREMETAL_ACTOR || safeUser();
    await store.transact((at) => createProject({ name: "demo", description: null, owner }, "real-site", at));
    const boot = await startBootServer(uplink.namespace, bootAddress, PROVISIONING_NETWORK, opts.storeFile);
    stops.push(() => stopGroup(boot.pid!, "boot server"));

    return {
      store,
      tor,
      bmcs: ipmi.bmcs,
      machines,
      bootServerUrl,
      env: { [REAL_SITE_ENV.bmcPassword]: password, [REAL_SITE_ENV.switchKey]: tor.privateKey },
      config: {
        "baremetal:bootServerUrl": bootServerUrl,
        facility: FACILITY,
        plan: PLAN,
        servers: String(n),
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

function inventoryYaml(
  tor: SwitchLab,
  form: SwitchForm,
  bmcs: IpmiBmc[],
  machines: { id: string; mac: string; port: string }[],
) {
  return YAML.stringify({
    facilities: [
      {
        code: FACILITY,
        name: "Rack one (real peers)",
        vlans: { from: 1000, to: 1099 },
        provisioningVlan: PROVISIONING_VLAN,
        pools: [
          { name: "rack1-public", type: "public_ipv4", cidr: "198.51.100.0/24" },
          { name: "rack1-private", type: "private_ipv4", cidr: "10.70.0.0/16" },
          { name: "rack1-public6", type: "public_ipv6", cidr: "2001:db8:200::/48" },
        ],
      },
    ],
    plans: [
      {
        name: PLAN,
        cpu: { cores: 8, model: "namespace" },
        memoryGb: 32,
        disks: [{ count: 1, sizeGb: 480, type: "ssd" }],
        nics: [{ count: 1, speedGbps: 10 }],
      },
    ],
    switches: [
      {
        name: "rack1-tor",
        facility: FACILITY,
        host: tor.host,
        port: tor.port,
        hostKeyFingerprint: tor.hostKeyFingerprint,
        dialect: form === "vlan-aware" ? "linux" : "linux-bridge-per-vlan",
        username: tor.username,
        privateKeyRef: { env: REAL_SITE_ENV.switchKey },
      },
    ],
    machines: machines.map((m, i) => ({
      id: m.id,
      facility: FACILITY,
      plan: PLAN,
      serial: `R1-${String(i + 1).padStart(4, "0")}`,
      bmc: {
        ipmi: {
          host: bmcs[i]!.host,
          port: bmcs[i]!.port,
          username: bmcs[i]!.username,
          passwordRef: { env: REAL_SITE_ENV.bmcPassword },
          cipherSuite: bmcs[i]!.cipherSuite,
        },
      },
      nics: [{ name: "eth0", mac: m.mac, switch: "rack1-tor", port: m.port }],
    })),
  });
}
