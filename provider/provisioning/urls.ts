// The boot server's URLs: what machines fetch while they netboot and install, and where the
// installed OS (or the wipe image) reports back. Staged configs are reached by a random
// per-provisioning token, so one machine cannot read another's config or report for it.

export interface BootServerUrls {
  /** iPXE chains here by MAC (DHCP hands out `${base}/boot/${mac}.ipxe` or ipxe's `${net0/mac}`). */
  ipxe(mac: string): string;
  /** The installed system's Ignition config, which the installer writes onto the disk. */
  ignition(token: string): string;
  /** The Ignition config Flatcar's PXE system or CoreOS's live system installs with. */
  installerIgnition(token: string): string;
  /** NoCloud seed directory: `${cloudInit(token)}user-data`, `meta-data`, `network-config`. */
  cloudInit(token: string): string;
  /** POSTed by the installed OS once it is up: the Server is active from then on. */
  phoneHome(token: string): string;
  /** POSTed with {type, message} during install or wipe: progress and failures. */
  events(token: string): string;
}

export function bootServerUrls(base: string): BootServerUrls {
  const b = base.replace(/\/+$/, "");
  return {
    ipxe: (mac) => `${b}/boot/${mac.toLowerCase()}.ipxe`,
    ignition: (token) => `${b}/config/${token}/ignition.json`,
    installerIgnition: (token) => `${b}/config/${token}/installer-ignition.json`,
    cloudInit: (token) => `${b}/config/${token}/cloud-init/`,
    phoneHome: (token) => `${b}/phone-home/${token}`,
    events: (token) => `${b}/events/${token}`,
  };
}

/** Finds the phone-home URL in any staged config or script (what a simulated machine does). */
export const PHONE_HOME = /https?:\/\/[^\s"'\\]+\/phone-home\/[A-Za-z0-9_-]+/;
