// Set, then read back until the BMC shows it: the one way both drivers make a change count.
import { HardwareError } from "../errors";
import { pollUntil } from "../timing";
import {
  targetState,
  type BmcTimeouts,
  type BootDevice,
  type BootMode,
  type BootSetting,
  type PowerAction,
  type PowerState,
} from "./types";

export interface PowerDriver {
  readonly protocol: string;
  readonly address: string;
  powerState(): Promise<PowerState>;
  /**
   * The power state from a read this session made a moment ago, if any: what decides between
   * "on" and "off, then on" need not be read twice in a row. Confirmations always read afresh.
   */
  recentPowerState?(): PowerState | undefined;
  /**
   * The power state as the BMC shows it now, "changing" while a change is under way (Redfish's
   * PoweringOn/PoweringOff). Where a driver has none, powerState() stands for it.
   */
  powerReading?(): Promise<PowerState | "changing">;
  /** Asks for the change; does not wait for it. */
  requestPower(action: "on" | "off" | "soft-off"): Promise<void>;
}

export function confirm<T>(
  bmc: { protocol: string; address: string },
  timeouts: BmcTimeouts,
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
): Promise<T> {
  return pollUntil({
    read,
    done,
    deadlineMs: timeouts.confirmMs,
    intervalMs: timeouts.pollIntervalMs,
    onTimeout: (last) =>
      new HardwareError(
        "BmcTimeout",
        `${bmc.protocol} BMC ${bmc.address}: ${what} not confirmed within ${timeouts.confirmMs} ms (last read: ${JSON.stringify(last)})`,
      ),
  });
}

/**
 * A cycle is an off and an on, each seen by read-back, so that "cycled" is something we
 * observed and not a request some BMC may have dropped (or that reads "on" before it began).
 */
export async function setPowerConfirmed(
  d: PowerDriver,
  timeouts: BmcTimeouts,
  action: PowerAction,
): Promise<void> {
  const read = () => d.powerReading?.() ?? d.powerState();
  // Settled, not on its way: a change decided from PoweringOn ("on"? "off"?) would be wrong
  // either way, and one confirmed by it might not land.
  const wait = (want: PowerState | "settled", what: string) =>
    confirm(d, timeouts, what, read, (s) => (want === "settled" ? s !== "changing" : s === want));
  const current = d.recentPowerState?.() ?? ((await wait("settled", "a settled power state")) as PowerState);
  if (action === "cycle") {
    if (current === "on") {
      await d.requestPower("off");
      await wait("off", "power cycle (off)");
    }
    await d.requestPower("on");
    await wait("on", "power cycle (on)");
    return;
  }
  const want = targetState(action);
  if (current === want) return;
  await d.requestPower(action);
  await wait(want, `power ${action}`);
}

/**
 * Read back until the BMC shows the boot device set, in the firmware mode asked for where the
 * BMC reports one. Some BMCs (sushy-tools, ipmi_sim) do not report the persistent flag back, so
 * the device is what counts.
 */
export function confirmBoot(
  bmc: { protocol: string; address: string },
  timeouts: BmcTimeouts,
  device: BootDevice,
  mode: BootMode | undefined,
  read: () => Promise<BootSetting>,
): Promise<BootSetting> {
  return confirm(
    bmc,
    timeouts,
    `boot device ${device}${mode ? ` (${mode})` : ""}`,
    read,
    (b) => b.device === device && (!mode || b.mode === undefined || b.mode === mode),
  );
}
