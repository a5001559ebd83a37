// One simulated ComputerSystem: power, the boot override, its ETag, and the faults a lab can
// inject. The HTTP side lives in redfish-sim.ts; simulated machines (machine-sim.ts) listen to
// the "power" event, which fires when a state *lands*, not when a Reset is accepted.
import { EventEmitter } from "node:events";

export type SimPowerState = "On" | "Off";
export const RESET_TYPES = [
  "On",
  "ForceOn",
  "ForceOff",
  "GracefulShutdown",
  "ForceRestart",
  "PowerCycle",
] as const;
export type ResetType = (typeof RESET_TYPES)[number];
export const BOOT_TARGETS = ["None", "Pxe", "Hdd", "Cd", "BiosSetup"] as const;
export type BootTarget = (typeof BOOT_TARGETS)[number];
export const BOOT_ENABLED = ["Disabled", "Once", "Continuous"] as const;
export type BootEnabled = (typeof BOOT_ENABLED)[number];
export const BOOT_MODES = ["UEFI", "Legacy"] as const;
export type BootMode = (typeof BOOT_MODES)[number];

export interface SystemFaults {
  /** Requests for this system get no answer: the connection is dropped (BmcUnreachable). */
  unreachable?: boolean;
  /** Requests for this system are answered 503 (BmcBusy). */
  busy?: boolean;
  /** Changes are accepted (204) and never applied: the case read-back exists for. */
  stuck?: boolean;
  /** Requests for this system are answered 401 even with good credentials. */
  authFails?: boolean;
  /**
   * The next n PATCHes find that someone else changed the system since the client read it
   * (the ETag moves just before the check), so they are answered 412.
   */
  etagConflicts?: number;
  /**
   * The next n Resets are carried out, but never answered, as when a reply is lost on a busy
   * management network: the client's deadline ends the request.
   */
  lostResetAnswers?: number;
  /**
   * The next n Resets are refused for now (409 ActionParameterValueConflict), as iDRAC 10
   * refuses an On shortly after a power-off.
   */
  notNow?: number;
}

/** Bounded so that a long-running lab (or 500 systems) keeps a fixed footprint. */
const MAX_EVENTS = 200;

export interface SimSystemEvents {
  power: [state: SimPowerState];
  boot: [target: BootTarget, enabled: BootEnabled];
}

export class SimSystem extends EventEmitter<SimSystemEvents> {
  power: SimPowerState = "Off";
  /** Shown as PowerState while a change is on its way (only with a power delay). */
  transition?: "PoweringOn" | "PoweringOff";
  boot: { target: BootTarget; enabled: BootEnabled } = { target: "None", enabled: "Disabled" };
  /** The firmware's boot mode (BootSourceOverrideMode). */
  mode: BootMode = "UEFI";
  /**
   * Whose BMC this behaves as, where they differ: Supermicro's falls back to Legacy when a
   * PATCH of Boot leaves the mode out; HPE's refuses any write of the mode.
   */
  vendor: "lab" | "supermicro" | "hpe" = "lab";
  faults: SystemFaults = {};
  private version = 1;
  private pending?: NodeJS.Timeout;
  private readonly log: string[] = [];

  constructor(
    readonly id: string,
    readonly serial: string,
    /** From an accepted Reset until the state lands. 0: before the Reset is answered. */
    public powerDelayMs = 0,
  ) {
    super();
  }

  /** Weak, like most BMCs': it names a version of the resource, not its bytes. */
  get etag(): string {
    return `W/"${this.version}"`;
  }

  get powerState(): string {
    return this.transition ?? this.power;
  }

  /** What the service did for this system, oldest first (bounded). */
  events(): string[] {
    return [...this.log];
  }

  record(event: string): void {
    this.log.push(event);
    if (this.log.length > MAX_EVENTS) this.log.splice(0, this.log.length - MAX_EVENTS);
  }

  /** A Reset the service accepted: the state lands after the power delay (unless stuck). */
  reset(type: ResetType): void {
    this.record(`reset ${type}`);
    if (this.faults.stuck) return;
    const off = type === "ForceOff" || type === "GracefulShutdown";
    // A restart of a machine that is off turns it on, as most BMCs do.
    const restart = (type === "ForceRestart" || type === "PowerCycle") && this.power === "On";
    const target: SimPowerState = off ? "Off" : "On";
    this.cancelPending();
    if (!restart && target === this.power) return; // nothing to do, like a BMC answering 204
    const land = () => {
      this.transition = undefined;
      this.pending = undefined;
      if (restart) this.setPower("Off");
      this.setPower(target);
    };
    if (this.powerDelayMs <= 0) return land();
    this.transition = restart || target === "Off" ? "PoweringOff" : "PoweringOn";
    this.pending = setTimeout(land, this.powerDelayMs);
  }

  /** A PATCH of Boot the service accepted (unless stuck). */
  setBoot(target: BootTarget, enabled: BootEnabled): void {
    this.record(`boot ${target} ${enabled}`);
    if (this.faults.stuck) return;
    this.boot = { target, enabled };
    this.version++;
    this.emit("boot", target, enabled);
  }

  /** What firmware does when it boots with a one-time override: the override is used up. */
  consumeBootOnce(): void {
    if (this.boot.enabled !== "Once") return;
    this.record("boot override used");
    this.boot = { target: "None", enabled: "Disabled" };
    this.version++;
    this.emit("boot", "None", "Disabled");
  }

  /** Sets power at once, bypassing the delay and faults (lab setup and tests). */
  setPower(state: SimPowerState): void {
    if (this.power === state) return;
    this.power = state;
    this.version++;
    this.record(`power ${state}`);
    this.emit("power", state);
  }

  /** A PATCH's precondition: a conflict fault moves the ETag first, as a concurrent writer would. */
  matches(ifMatch: string | undefined): boolean {
    if (this.faults.etagConflicts && this.faults.etagConflicts > 0) {
      this.faults.etagConflicts--;
      this.version++;
    }
    if (ifMatch === undefined || ifMatch.trim() === "*") return true;
    const tags = ifMatch.split(",").map((t) => t.trim());
    return tags.includes(this.etag) || tags.includes(this.etag.slice(2)); // W/"n" or "n"
  }

  stop(): void {
    this.cancelPending();
    this.removeAllListeners();
  }

  private cancelPending(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = undefined;
    this.transition = undefined;
  }
}
