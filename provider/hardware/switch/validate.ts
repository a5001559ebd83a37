// The only values that ever reach a switch command line. Everything is checked against a
// strict pattern here, before a command is built, so nothing a user typed can become a second
// command, an option, or a quote that changes the first.
import { HardwareError } from "../errors";

export function checkVlanId(vlan: unknown, field = "vlan"): number {
  if (typeof vlan !== "number" || !Number.isInteger(vlan) || vlan < 1 || vlan > 4094) {
    throw new HardwareError(
      "InvalidVlanId",
      `${field}: a VLAN id is an integer from 1 to 4094, not ${JSON.stringify(vlan)}`,
      {
        transient: false,
      },
    );
  }
  return vlan;
}

export function checkPort(port: unknown, pattern: RegExp, dialect: string, example: string): string {
  // Shared floor for every dialect: no leading dash (an option), nothing but name characters.
  const safe = typeof port === "string" && /^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$/.test(port);
  if (!safe || !pattern.test(port)) {
    throw new HardwareError(
      "InvalidPortName",
      `port: ${JSON.stringify(port)} is not a ${dialect} port name (expected names like ${example})`,
      { transient: false },
    );
  }
  return port;
}

/** Ascending, without duplicates, each one checked. */
export function checkVlanList(vlans: unknown, field = "allowedVlans"): number[] {
  if (!Array.isArray(vlans)) {
    throw new HardwareError("InvalidVlanId", `${field}: expected a list of VLAN ids (1-4094)`, {
      transient: false,
    });
  }
  return [...new Set(vlans.map((v, i) => checkVlanId(v, `${field}[${i}]`)))].sort((a, b) => a - b);
}
