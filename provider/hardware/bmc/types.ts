// What a BMC can do, in small capabilities (as bmclib splits them). Every change is confirmed
// by reading the BMC back before the call returns; a request the BMC merely accepted does not count.

export type PowerState = "on" | "off";
export type PowerAction = "on" | "off" | "soft-off" | "cycle";
export type BootDevice = "pxe" | "disk";

export interface BootSetting {
  device: BootDevice | "none";
  /** False: the next boot only. */
  persistent: boolean;
  /** The firmware mode the override boots in, where the BMC says. */
  mode?: BootMode;
}

export type BootMode = "uefi" | "legacy";

export interface PowerControl {
  powerState(): Promise<PowerState>;
  /** Returns once the BMC reports the resulting state (on after a cycle). */
  setPower(action: PowerAction): Promise<void>;
}

export interface BootControl {
  bootDevice(): Promise<BootSetting>;
  /** Returns once the BMC reports the device as set. */
  setBootDevice(device: BootDevice, options: { persistent: boolean }): Promise<void>;
}

export interface Bmc extends PowerControl, BootControl {
  readonly protocol: "ipmi" | "redfish";
  /** host[:port] or URL, for messages; never holds a credential. */
  readonly address: string;
  close(): Promise<void>;
}

export interface BmcTimeouts {
  /** One protocol request (one ipmitool run, one HTTP request). */
  commandMs: number;
  /** From a change being asked until the BMC confirms it. */
  confirmMs: number;
  pollIntervalMs: number;
}

export const DEFAULT_BMC_TIMEOUTS: BmcTimeouts = {
  commandMs: 10_000,
  confirmMs: 60_000,
  pollIntervalMs: 500,
};

/** Which power state an action leads to. */
export const targetState = (action: PowerAction): PowerState =>
  action === "on" || action === "cycle" ? "on" : "off";
