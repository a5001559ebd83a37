// Switch drivers by dialect name, as the inventory names them.
import type { Dialect } from "./dialect";
import { cumulus } from "./dialects/cumulus";
import { eos } from "./dialects/eos";
import { linuxBridgePerVlan, linuxVlanAware } from "./dialects/linux";
import { sonic } from "./dialects/sonic";
import { Switch, type SwitchOptions } from "./driver";
import type { SshEndpoint } from "./ssh";

export type { PortConfig, SwitchDriver } from "./types";
export { Switch, type SwitchOptions } from "./driver";
export type { SshEndpoint } from "./ssh";

export const DIALECTS: Record<string, () => Dialect> = {
  linux: () => linuxVlanAware(),
  "linux-bridge-per-vlan": () => linuxBridgePerVlan,
  cumulus: () => cumulus,
  sonic: () => sonic,
  eos: () => eos,
};

export function openSwitch(endpoint: SshEndpoint, dialect: string, options?: SwitchOptions): Switch {
  const make = DIALECTS[dialect];
  if (!make) {
    throw new Error(
      `dialect: unknown switch dialect "${dialect}" (known: ${Object.keys(DIALECTS).join(", ")})`,
    );
  }
  return new Switch(endpoint, make(), options);
}
