// A simulated machine: one Redfish system (its power and boot override) and one or more NICs
// cabled to switch ports. It does what firmware, iPXE and an installer do, as far as the boot
// server can tell:
//   power on -> firmware uses the boot override (a one-time override is cleared as it is used),
//   else the boot order: disk, then network;
//   network -> only through a NIC whose port reaches the boot server (the provisioning-VLAN
//   rule, decided by the lab); GET urls.ipxe(mac), follow `chain`, read the `kernel` line;
//   install -> GET the config the kernel line names, POST {type:"install.started"} to the events
//   URL, wait installTimeMs, then POST to the phone-home URL found in the config (PHONE_HOME);
//   wipe (`baremetal.mode=wipe`) -> POST {type:"wipe.started"} to `baremetal.events=`, wait,
//   then POST {type:"wipe.done"} there;
//   disk -> an installed machine just runs (no phone-home); an empty disk does not boot.
// Power off aborts whatever is in flight. Every request has a deadline; every loop a bound.
import { EventEmitter } from "node:events";
import { bootServerUrls, PHONE_HOME } from "../provisioning/urls";
import { httpRequest } from "./http-client";
import { installedIgnitionUrl, nextStep, parseKernelArgs } from "./ipxe";
import type { SimSystem } from "./redfish-system";

export interface MachineFaults {
  /** Installs, but the installed OS never calls home. */
  neverCallsHome?: boolean;
  /** The install fails: POSTs {type:"install.failed", message} instead of calling home. */
  failInstall?: boolean | string;
  /** The wipe fails: POSTs {type:"wipe.failed", message} instead of {type:"wipe.done"}. */
  failWipe?: boolean | string;
  /** From the kernel starting to the phone-home (or the wipe's report). Default 1000. */
  installTimeMs?: number;
  /** Default: installTimeMs. */
  wipeTimeMs?: number;
  /**
   * From the installer's install.written report to the installed OS calling home (its reboot).
   * Default 0.
   */
  rebootMs?: number;
}

export interface MachineEnvironment {
  /** The boot server's base URL, read at every netboot (the lab can move it). */
  bootServerUrl(): string;
  /**
   * Whether DHCP/PXE on this NIC reaches the boot server (false: no offer), and the address the
   * boot's requests then come from: the network its port is on (default: the system's choice).
   */
  netboot(mac: string): false | { address?: string };
  /** Deadline of one HTTP request. Default 5000. */
  httpTimeoutMs?: number;
}

export type MachinePhase =
  | "off"
  | "netbooting"
  | "installing"
  | "wiping"
  /** Wiped, powered on, waiting to be turned off. */
  | "wiped"
  /** The installed OS is up. */
  | "running"
  | "failed"
  /** Powered on, nothing to boot. */
  | "no-boot";

export interface MachineNic {
  mac: string;
  port: string;
}

const MAX_CHAINS = 8;
const MAX_HISTORY = 100;
const DEFAULT_INSTALL_MS = 1000;

class Aborted extends Error {}

export class MachineSim extends EventEmitter<{ phase: [phase: MachinePhase] }> {
  phase: MachinePhase = "off";
  /** Whether the disk holds a bootable OS. */
  installed = false;
  /** Why the machine is failed or has nothing to boot. */
  reason?: string;
  /** The address its last phone-home came from (undefined: the system's choice). */
  calledHomeFrom?: string;
  /** The config its last install fetched (Ignition or cloud-init user-data): what is on its disk. */
  installedWith?: string;
  private run?: AbortController;
  /** The address this boot's requests come from (see MachineEnvironment.netboot). */
  private from: string | undefined;
  private stopped = false;
  private readonly log: string[] = [];
  private readonly onPower = (state: "On" | "Off") => (state === "On" ? this.powerOn() : this.powerOff());

  constructor(
    readonly id: string,
    readonly system: SimSystem,
    readonly nics: MachineNic[],
    private readonly env: MachineEnvironment,
    public faults: MachineFaults = {},
  ) {
    super();
    system.on("power", this.onPower);
    if (system.power === "On") this.powerOn();
  }

  /** What the machine did, oldest first (bounded). */
  history(): string[] {
    return [...this.log];
  }

  /** Resolves once the machine is in one of `phases`; rejects after timeoutMs. */
  waitFor(phases: MachinePhase | MachinePhase[], timeoutMs: number): Promise<MachinePhase> {
    const want = Array.isArray(phases) ? phases : [phases];
    if (want.includes(this.phase)) return Promise.resolve(this.phase);
    return new Promise((resolve, reject) => {
      const listener = (p: MachinePhase) => {
        if (!want.includes(p)) return;
        clearTimeout(timer);
        this.off("phase", listener);
        resolve(p);
      };
      const timer = setTimeout(() => {
        this.off("phase", listener);
        reject(
          new Error(
            `machine ${this.id}: not ${want.join("/")} within ${timeoutMs} ms (now ${this.phase}); history: ${this.log.slice(-10).join("; ")}`,
          ),
        );
      }, timeoutMs);
      this.on("phase", listener);
    });
  }

  stop(): void {
    this.stopped = true;
    this.system.off("power", this.onPower);
    this.run?.abort();
    this.run = undefined;
    this.removeAllListeners();
  }

  private note(what: string): void {
    this.log.push(what);
    if (this.log.length > MAX_HISTORY) this.log.splice(0, this.log.length - MAX_HISTORY);
  }

  private setPhase(phase: MachinePhase, reason?: string): void {
    this.phase = phase;
    this.reason = reason;
    this.note(reason ? `${phase}: ${reason}` : phase);
    this.emit("phase", phase);
  }

  /** A phase reached by a boot run; a run whose power went away has nothing more to say. */
  private enter(signal: AbortSignal, phase: MachinePhase, reason?: string): void {
    if (signal.aborted) throw new Aborted();
    this.setPhase(phase, reason);
  }

  private powerOff(): void {
    this.run?.abort();
    this.run = undefined;
    this.setPhase("off");
  }

  private powerOn(): void {
    if (this.stopped) return;
    this.run?.abort();
    const run = new AbortController();
    this.run = run;
    this.boot(run.signal).catch((e: unknown) => {
      if (run.signal.aborted || e instanceof Aborted) return; // power went away: nothing to report
      this.setPhase("failed", (e as Error).message);
    });
  }

  private async boot(signal: AbortSignal): Promise<void> {
    const { target, enabled } = this.system.boot;
    const override = enabled === "Disabled" ? "None" : target;
    // Firmware reads the override at power-on and uses up a one-time one there and then.
    this.system.consumeBootOnce();
    this.note(`power on (override ${override}${override === "None" ? "" : ` ${enabled}`})`);
    const order = override === "Pxe" ? (["network", "disk"] as const) : (["disk", "network"] as const);
    for (const device of order) {
      if (device === "disk") {
        if (this.installed) return this.enter(signal, "running", "booted from disk");
        this.note("disk: no operating system");
      } else if (await this.netboot(signal)) return;
    }
    this.enter(signal, "no-boot", "no bootable device");
  }

  /** False when the network boot gave up (the firmware then tries its next device). */
  private async netboot(signal: AbortSignal): Promise<boolean> {
    const offer = this.offer();
    if (!offer) {
      this.note("network: no DHCP offer on any NIC (none on a network that netboots)");
      return false;
    }
    const nic = offer.nic;
    // Everything this boot sends (installer, wipe image) comes from the address DHCP gave.
    this.from = offer.address;
    this.enter(signal, "netbooting");
    let url = bootServerUrls(this.env.bootServerUrl()).ipxe(nic.mac);
    const texts: string[] = [];
    for (let hop = 0; hop < MAX_CHAINS; hop++) {
      const script = await this.get(url, signal);
      if (script === undefined) return false;
      texts.push(script);
      const step = nextStep(script, nic.mac.toLowerCase(), url);
      if (step.kind === "chain") {
        url = step.url;
        continue;
      }
      if (step.kind === "kernel") {
        await this.kernel(step.args, texts, signal);
        return true;
      }
      this.note(
        step.kind === "local" ? "network: the script boots from disk" : "network: the script boots nothing",
      );
      return false;
    }
    this.note(`network: more than ${MAX_CHAINS} chained scripts`);
    return false;
  }

  private async kernel(args: string[], texts: string[], signal: AbortSignal): Promise<void> {
    const k = parseKernelArgs(args);
    if (k.wipe) return this.wipe(k.eventsUrl, signal);
    this.enter(signal, "installing");
    let events = k.eventsUrl;
    const configUrl = k.ignitionUrl ?? (k.cloudInitBase ? `${k.cloudInitBase}user-data` : undefined);
    if (configUrl) {
      let config = await this.get(configUrl, signal);
      // An Ignition installer then fetches the installed system's config (coreos-installer
      // from its kernel argument, Flatcar's install script from the URL in it); a config that
      // names none is the installed system's too.
      const installedUrl = k.ignitionUrl && (k.installIgnitionUrl ?? installedIgnitionUrl(config ?? ""));
      if (config !== undefined && installedUrl) {
        texts.unshift(config);
        config = await this.get(installedUrl, signal);
      }
      if (config === undefined) {
        const message = `could not fetch the config ${installedUrl || configUrl}`;
        if (events) await this.post(events, { type: "install.failed", message }, signal);
        return this.enter(signal, "failed", message);
      }
      texts.unshift(config);
      this.installedWith = config;
    }
    const phoneHome = texts.map((t) => PHONE_HOME.exec(t)?.[0]).find((u) => u !== undefined);
    // Without `baremetal.events=`, the events URL is the phone-home URL's sibling (urls.ts).
    events ??= phoneHome?.replace(/\/phone-home\/([^/]+)$/, "/events/$1");
    if (events) await this.post(events, { type: "install.started" }, signal);
    await sleep(this.faults.installTimeMs ?? DEFAULT_INSTALL_MS, signal);
    if (this.faults.failInstall) {
      const message =
        typeof this.faults.failInstall === "string" ? this.faults.failInstall : "simulated install failure";
      if (events) await this.post(events, { type: "install.failed", message }, signal);
      return this.enter(signal, "failed", message);
    }
    this.installed = true;
    // As the real installers do (render/): the disk is written, then the machine reboots into it.
    if (events) await this.post(events, { type: "install.written" }, signal);
    if (this.faults.rebootMs) await sleep(this.faults.rebootMs, signal);
    // The installed OS calls home from the network its port is on now: the provider may have
    // moved it to the layer-3 network meanwhile.
    const offer = this.offer();
    if (offer) this.from = offer.address;
    if (this.faults.neverCallsHome)
      return this.enter(signal, "running", "installed; never calls home (fault)");
    if (!phoneHome) {
      const message = "no phone-home URL in the config";
      if (events) await this.post(events, { type: "install.failed", message }, signal);
      return this.enter(signal, "failed", message);
    }
    // What `curl -X POST <url>` from the installed OS sends: no body.
    if (!(await this.post(phoneHome, undefined, signal)))
      return this.enter(signal, "failed", "phone-home failed");
    this.calledHomeFrom = this.from;
    this.enter(signal, "running", "installed; called home");
  }

  private async wipe(events: string | undefined, signal: AbortSignal): Promise<void> {
    this.enter(signal, "wiping");
    if (!events) return this.enter(signal, "failed", "wipe: no baremetal.events= URL to report to");
    // The first blocks go first: an interrupted wipe leaves nothing bootable either.
    this.installed = false;
    await this.post(events, { type: "wipe.started" }, signal);
    await sleep(this.faults.wipeTimeMs ?? this.faults.installTimeMs ?? DEFAULT_INSTALL_MS, signal);
    if (this.faults.failWipe) {
      const message =
        typeof this.faults.failWipe === "string" ? this.faults.failWipe : "simulated wipe failure";
      await this.post(events, { type: "wipe.failed", message }, signal);
      return this.enter(signal, "failed", message);
    }
    await this.post(events, { type: "wipe.done" }, signal);
    this.enter(signal, "wiped");
  }

  /** The first NIC whose network answers DHCP, and the address it is given there. */
  private offer(): { nic: MachineNic; address?: string } | undefined {
    for (const nic of this.nics) {
      const offer = this.env.netboot(nic.mac);
      if (offer !== false) return { nic, address: offer.address };
    }
    return undefined;
  }

  /** The body of a 2xx answer; undefined (noted) otherwise. A 5xx or a network error is tried twice. */
  private async get(url: string, signal: AbortSignal): Promise<string | undefined> {
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        const r = await httpRequest(url, { timeoutMs: this.timeoutMs, signal, localAddress: this.from });
        this.note(`GET ${url} -> ${r.status}`);
        if (r.status >= 200 && r.status < 300) return r.text;
        if (r.status < 500) return undefined;
      } catch (e) {
        if (signal.aborted) throw new Aborted();
        this.note(`GET ${url} -> ${(e as Error).message}`);
      }
      if (attempt < 2) await sleep(200, signal);
    }
    return undefined;
  }

  /** True on a 2xx answer. A 5xx or a network error is tried up to three times. */
  private async post(url: string, json: unknown, signal: AbortSignal): Promise<boolean> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const r = await httpRequest(url, {
          method: "POST",
          json,
          timeoutMs: this.timeoutMs,
          signal,
          localAddress: this.from,
        });
        this.note(`POST ${url} ${json === undefined ? "" : JSON.stringify(json)} -> ${r.status}`);
        if (r.status >= 200 && r.status < 300) return true;
        if (r.status < 500) return false;
      } catch (e) {
        if (signal.aborted) throw new Aborted();
        this.note(`POST ${url} -> ${(e as Error).message}`);
      }
      if (attempt < 3) await sleep(300 * attempt, signal);
    }
    return false;
  }

  private get timeoutMs(): number {
    return this.env.httpTimeoutMs ?? 5000;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Aborted());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Aborted());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
