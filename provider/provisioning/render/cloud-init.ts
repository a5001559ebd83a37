// The NoCloud seed for Ubuntu (22.04 and 24.04 install with subiquity). Its user-data drives
// the live installer through `autoinstall:`; the installed system's own cloud-config (users,
// host name, phone_home) rides inside it as `autoinstall.user-data`, which subiquity hands to
// the installed system's cloud-init, so only the installed system phones home.
import { stringify } from "yaml";
import type { ProvisionSpec } from "../spec";
import {
  RenderError,
  checkDisk,
  checkHostname,
  checkPasswordHash,
  checkSshKey,
  checkToken,
  checkUrl,
} from "./checks";
import { customDataFile } from "./custom-data";
import { UBUNTU_RELEASES, isUbuntu } from "./images";
import { planNetwork } from "./network";
import { netplanConfig } from "./netplan";
import { eventCommand } from "./reporting";
import { withUserData, type CloudConfig } from "./user-data";

export interface CloudInitSeed {
  userData: string;
  metaData: string;
  networkConfig: string;
}

/** Ubuntu's own admin user, as its cloud images name it. */
export const UBUNTU_USER = "ubuntu";

export function renderCloudInit(spec: ProvisionSpec): CloudInitSeed {
  const os = spec.operatingSystem;
  if (!isUbuntu(os)) throw new RenderError(`${os} is not configured with cloud-init`);
  const token = checkToken(spec.token);
  const hostname = checkHostname(spec.hostname);
  const keys = (spec.sshKeys ?? []).map(checkSshKey);
  const passwordHash = checkPasswordHash(spec.rootPasswordHash);
  const network = netplanConfig(planNetwork(spec));
  const phoneHome = checkUrl("phone-home URL", spec.urls.phoneHome(token));
  const events = checkUrl("events URL", spec.urls.events(token));
  const disk = spec.installDisk === undefined ? undefined : checkDisk(spec.installDisk);
  const release = UBUNTU_RELEASES[os];
  const custom = customDataFile(spec.customData);

  const installed = withUserData(
    {
      // First, so that the phone-home URL is the first one in the seed.
      phone_home: { url: phoneHome, post: "all", tries: 10 },
      // cloud-init cuts a name at its first dot for the hostname; with fqdn and
      // prefer_fqdn_over_hostname the system's name is the whole one, as on Flatcar and FCOS.
      hostname,
      ...(hostname.includes(".") ? { fqdn: hostname, prefer_fqdn_over_hostname: true } : {}),
      users: [
        {
          name: UBUNTU_USER,
          groups: ["adm", "sudo"],
          shell: "/bin/bash",
          sudo: "ALL=(ALL) NOPASSWD:ALL",
          lock_passwd: true,
          ...(keys.length > 0 ? { ssh_authorized_keys: keys } : {}),
        },
        // root exists already; cloud-init still sets the hash (and, by default, would lock it).
        { name: "root", hashed_passwd: passwordHash, lock_passwd: false },
      ],
      ssh_pwauth: false,
      ...(custom
        ? {
            write_files: [
              { path: custom.path, permissions: "0600", owner: "root:root", content: custom.contents },
            ],
          }
        : {}),
    },
    spec.userData,
    UBUNTU_USER,
  );

  const autoinstall: CloudConfig = {
    version: 1,
    "user-data": installed,
    network,
    // "direct": the root file system takes the whole disk (the lvm layout leaves most of a
    // large disk unallocated). Without installDisk, the largest disk, autoinstall's default.
    storage: {
      layout: { name: "direct", match: disk === undefined ? { size: "largest" } : diskMatch(disk) },
    },
    ssh: { "install-server": true, "allow-pw": false },
    // `|| true`: a failing late command fails the whole install, and the boot server being
    // briefly unreachable must not.
    "late-commands": [`${eventCommand(events, "install.written", `Ubuntu ${release} installed`)} || true`],
    "error-commands": [
      `${eventCommand(events, "install.failed", `Ubuntu ${release} install failed`)} || true`,
    ],
    shutdown: "reboot",
  };

  return {
    userData: "#cloud-config\n" + yaml({ autoinstall }),
    metaData: yaml({ "instance-id": token, "local-hostname": hostname }),
    networkConfig: yaml({ network }),
  };
}

/**
 * No line folding (URLs and commands stay on one line) and no anchors/aliases; YAML 1.1, as
 * PyYAML (cloud-init, subiquity) reads it: in 1.2 a MAC of decimal octets such as
 * 52:54:00:12:34:56 went out unquoted, and 1.1 reads that as a base-60 number, as it reads
 * no, on and 0644 as a boolean and an octal number.
 */
const yaml = (value: unknown): string =>
  stringify(value, { lineWidth: 0, aliasDuplicateObjects: false, version: "1.1" });

/**
 * How subiquity finds installDisk. Its `path` is matched against the kernel's name (/dev/sda),
 * never a symlink, so a stable name is matched by what udev made it from: a by-path name is
 * ID_PATH, and a by-id name is <bus>-<ID_SERIAL> (60-persistent-storage.rules). Other by-id
 * names (wwn-, nvme-eui.) and by-uuid/by-label ones have no key to match, and are refused
 * here rather than failing the install. checkDisk's characters leave no glob in them.
 */
export function diskMatch(disk: string): Record<string, string> {
  const byPath = /^\/dev\/disk\/by-path\/(.+)$/.exec(disk);
  if (byPath) return { id_path: byPath[1]! };
  const byId = /^\/dev\/disk\/by-id\/(ata|scsi|usb|nvme)-(.+)$/.exec(disk);
  if (byId && !/^(eui|nvme)\./.test(byId[2]!)) return { serial: byId[2]! };
  if (disk.startsWith("/dev/disk/")) {
    throw new RenderError(
      `installDisk ${disk}: Ubuntu's installer finds a disk by its kernel name, serial (ID_SERIAL) or ` +
        "ID_PATH only: give /dev/disk/by-path/..., an ata-, nvme-, scsi- or usb- name under /dev/disk/by-id/, or /dev/sda-style",
    );
  }
  return { path: disk };
}
