// What a top-of-rack switch does for us. Ports and VLAN ids are validated before any command
// is built from them (validate.ts), and each change is read back in the same session.
import type { CommandLog } from "../commands";

export interface PortConfig {
  port: string;
  /** none: no VLAN configuration (the port's default). */
  mode: "access" | "trunk" | "none";
  /** access: the VLAN. */
  vlan?: number;
  /** trunk: the untagged VLAN, if any. */
  nativeVlan?: number;
  /** trunk: the tagged VLANs allowed, ascending. */
  allowedVlans?: number[];
  /** trunk: the switch says it allows every VLAN (EOS's default "ALL"): an uplink, not a member. */
  carriesAll?: boolean;
}

/** The changes take the log of the operation asking for them, for its audit entry. */
export interface SwitchDriver {
  /** host:port, for messages. */
  readonly address: string;
  readonly dialect: string;
  /** Creates the VLAN if it does not exist. */
  ensureVlan(vlan: number, log?: CommandLog): Promise<void>;
  /** Deletes the VLAN; refuses (VlanInUse) while ports are still in it; absent is fine. */
  removeVlan(vlan: number, log?: CommandLog): Promise<void>;
  setAccess(port: string, vlan: number, log?: CommandLog): Promise<PortConfig>;
  setTrunk(
    port: string,
    trunk: { nativeVlan?: number; allowedVlans: number[] },
    log?: CommandLog,
  ): Promise<PortConfig>;
  /** Back to no VLAN configuration. */
  resetPort(port: string, log?: CommandLog): Promise<PortConfig>;
  readPort(port: string): Promise<PortConfig>;
  listVlans(): Promise<number[]>;
  close(): Promise<void>;
}
