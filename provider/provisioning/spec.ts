// What a machine is told while it is provisioned: the inputs of every boot config renderer.
import type { BootServerUrls } from "./urls";

export const OPERATING_SYSTEMS = [
  "flatcar_stable",
  "fedora_coreos_stable",
  "ubuntu_24_04",
  "ubuntu_22_04",
  "custom_ipxe",
] as const;
export type OperatingSystem = (typeof OPERATING_SYSTEMS)[number];

export interface AddressConfig {
  /** Address with the block's prefix length, e.g. "198.51.100.10/29" or "2001:db8::10/127". */
  cidr: string;
  family: 4 | 6;
  /** Absent on blocks without a router (a private block used only inside a VLAN). */
  gateway?: string;
  public: boolean;
  /**
   * Networks reached through this block's gateway when it does not carry the default route:
   * a private block's pool, as Equinix Metal routes 10.0.0.0/8 through the private gateway.
   */
  routes?: string[];
}

export interface InterfaceConfig {
  /** Name on the installed OS, e.g. "eth0"; matched by MAC, so naming schemes do not matter. */
  name: string;
  mac: string;
  addresses: AddressConfig[];
}

export interface ProvisionSpec {
  hostname: string;
  operatingSystem: OperatingSystem;
  sshKeys: string[];
  /**
   * The user's own config. Ubuntu: cloud-init user-data (#cloud-config or a script), merged
   * after ours. Flatcar/CoreOS: an Ignition config (JSON), merged into ours.
   */
  userData?: string;
  /** Free-form JSON the OS can read from its metadata. */
  customData?: Record<string, unknown>;
  /** custom_ipxe: the script to chain (URL) or run (text starting with #!ipxe). */
  ipxeScriptUrl?: string;
  interfaces: InterfaceConfig[];
  dns: string[];
  /** crypt(3) SHA-512 hash ($6$...) of the root password; the password itself never reaches a config. */
  rootPasswordHash: string;
  /** Random per provisioning: the only way to fetch these configs or report for this machine. */
  token: string;
  urls: BootServerUrls;
  /** Where kernels, initrds and images come from (a local mirror, or the vendors' sites). */
  images: ImageSources;
  /**
   * Disk the OS is installed on, e.g. "/dev/sda" or "/dev/disk/by-id/...". Flatcar and Fedora
   * CoreOS installers need one named (default "/dev/sda"); Ubuntu defaults to its largest disk.
   */
  installDisk?: string;
}

export interface ImageSources {
  flatcar: string;
  fedoraCoreos: string;
  ubuntu: string;
  /** The wipe image (kernel + initrd) that erases disks and reports back. */
  wipe: string;
}

export interface StagedBoot {
  /** The iPXE script the machine gets by MAC. */
  ipxe: string;
  /** Flatcar and Fedora CoreOS: the installed system's Ignition config (JSON text). */
  ignition?: string;
  /** Flatcar and Fedora CoreOS: the installer's Ignition config. */
  installerIgnition?: string;
  /** NoCloud seed for Ubuntu. */
  cloudInit?: { userData: string; metaData: string; networkConfig: string };
  /**
   * The user's own iPXE script takes over (custom_ipxe): no installer of ours will call home,
   * so the session is done once the machine has fetched the script, as on Equinix Metal,
   * where such a server is active once iPXE has been served.
   */
  handoff?: boolean;
}
