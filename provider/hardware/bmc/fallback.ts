// A machine with more than one BMC protocol: each operation goes to the first protocol that
// does it, in the order given (Redfish before IPMI, as bmclib orders its providers). The whole
// operation, read-back included, runs on one protocol; the next is tried only when the first
// failed, and the error names every attempt.
import { HardwareError } from "../errors";
import type { Bmc, BootDevice, BootSetting, PowerAction, PowerState } from "./types";

export class FallbackBmc implements Bmc {
  readonly protocol: Bmc["protocol"];
  readonly address: string;

  constructor(private readonly bmcs: Bmc[]) {
    if (bmcs.length === 0) throw new Error("FallbackBmc needs at least one BMC");
    this.protocol = bmcs[0]!.protocol;
    this.address = bmcs.map((b) => `${b.protocol} ${b.address}`).join(", ");
  }

  powerState(): Promise<PowerState> {
    return this.first("read power state", (b) => b.powerState());
  }

  setPower(action: PowerAction): Promise<void> {
    return this.first(`power ${action}`, (b) => b.setPower(action));
  }

  bootDevice(): Promise<BootSetting> {
    return this.first("read boot device", (b) => b.bootDevice());
  }

  setBootDevice(device: BootDevice, options: { persistent: boolean }): Promise<void> {
    return this.first(`boot device ${device}`, (b) => b.setBootDevice(device, options));
  }

  async close(): Promise<void> {
    await Promise.all(this.bmcs.map((b) => b.close()));
  }

  private async first<T>(what: string, op: (b: Bmc) => Promise<T>): Promise<T> {
    const failures: HardwareError[] = [];
    for (const bmc of this.bmcs) {
      try {
        return await op(bmc);
      } catch (e) {
        if (!(e instanceof HardwareError)) throw e;
        failures.push(e);
      }
    }
    if (failures.length === 1) throw failures[0]!;
    // The first protocol's failure decides the code: it is the one the operator configured first.
    throw new HardwareError(
      failures[0]!.code,
      `${what} failed on every BMC protocol: ${failures.map((f) => f.message).join("; ")}`,
      {
        transient: failures.every((f) => f.transient),
        cause: failures[0],
      },
    );
  }
}
