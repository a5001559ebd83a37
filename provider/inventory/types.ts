// What a site owns: facilities, hardware classes (plans), machines and switches. Specs are
// what an operator writes in inventory.yaml; records add what the platform tracks (a
// machine's state and who holds it).
import type { BootMode } from "../hardware/bmc/types";

export const MACHINE_STATES = [
  "available",
  "provisioning",
  "active",
  "deprovisioning",
  "quarantine",
  "maintenance",
] as const;
export type MachineState = (typeof MACHINE_STATES)[number];

/**
 * Where a secret lives; the inventory never holds the secret itself. `env`: an environment
 * variable of the process that uses it. `secret`: a key of the stack's Pulumi config
 * (`baremetal:<secret>`), which Pulumi keeps encrypted.
 */
export type CredentialRef = { env: string } | { secret: string };

export interface FacilitySpec {
  code: string;
  name?: string;
  /** VLAN ids this facility hands out to projects. */
  vlans: { from: number; to: number };
  /** The VLAN machines netboot on. */
  provisioningVlan: number;
  /**
   * The facility's layer-3 network, where installed layer3 and hybrid servers live. Without it
   * they stay on the provisioning VLAN, beside the installs and wipes of other projects.
   */
  layer3Vlan?: number;
}

export interface PlanSpec {
  name: string;
  cpu: { cores: number; model?: string };
  memoryGb: number;
  disks: { count: number; sizeGb: number; type: "nvme" | "ssd" | "hdd" }[];
  nics: { count: number; speedGbps: number }[];
  /** The device the OS goes onto; by default the first disk of the first group's type. */
  installDisk?: string;
}

/**
 * Where an install writes the OS on a machine of this plan: the plan's own `installDisk`; else,
 * for Flatcar and Fedora CoreOS, the first NVMe namespace when the plan's first disks are NVMe
 * (such a machine has no /dev/sda), or /dev/sda; Ubuntu's autoinstall picks the largest disk.
 */
export function installDiskOf(plan: PlanSpec | undefined, os: string): string | undefined {
  if (plan?.installDisk) return plan.installDisk;
  if (os.startsWith("ubuntu")) return undefined;
  return plan?.disks[0]?.type === "nvme" ? "/dev/nvme0n1" : "/dev/sda";
}

export interface RedfishSpec {
  url: string;
  username: string;
  passwordRef: CredentialRef;
  systemId?: string;
  /** SHA-256 fingerprint of the BMC's certificate; or caFile, a PEM bundle it must chain to. */
  fingerprint256?: string;
  caFile?: string;
}

export interface IpmiSpec {
  host: string;
  port?: number;
  username: string;
  passwordRef: CredentialRef;
  cipherSuite?: number;
}

export interface NicSpec {
  name: string;
  mac: string;
  switch: string;
  port: string;
}

export interface MachineSpec {
  id: string;
  facility: string;
  plan: string;
  serial: string;
  rack?: string;
  bmc: { bootMode?: BootMode; redfish?: RedfishSpec; ipmi?: IpmiSpec };
  nics: NicSpec[];
}

export interface SwitchSpec {
  name: string;
  facility: string;
  host: string;
  port?: number;
  hostKeyFingerprint: string;
  dialect: string;
  username: string;
  privateKeyRef?: CredentialRef;
  passwordRef?: CredentialRef;
  /**
   * Ports toward the network (uplinks, peer links): they carry every VLAN (the dialects whose
   * ports carry only what is added to them add each VLAN, tagged), so they never count as a
   * VLAN's members when it is removed, and no machine is cabled to them.
   */
  uplinks?: string[];
}

export interface MachineRecord extends MachineSpec {
  state: MachineState;
  stateReason: string | null;
  /** The Pulumi resource that holds the machine (`org/project/stack/name`), if any. */
  owner: string | null;
  updatedAt: string;
}

export interface InventoryState {
  facilities: FacilitySpec[];
  plans: PlanSpec[];
  switches: SwitchSpec[];
  machines: MachineRecord[];
}

export interface InventoryFile {
  facilities: FacilitySpec[];
  plans: PlanSpec[];
  switches: SwitchSpec[];
  machines: MachineSpec[];
}

export type InventoryChange =
  | { kind: "facility"; op: "add" | "update"; spec: FacilitySpec; before?: FacilitySpec }
  | { kind: "plan"; op: "add" | "update"; spec: PlanSpec; before?: PlanSpec }
  | { kind: "plan"; op: "remove"; name: string }
  | { kind: "switch"; op: "add" | "update"; spec: SwitchSpec; before?: SwitchSpec }
  | { kind: "switch"; op: "remove"; name: string }
  | { kind: "machine"; op: "add" | "update"; spec: MachineSpec; before?: MachineSpec }
  | { kind: "machine"; op: "remove"; id: string };
