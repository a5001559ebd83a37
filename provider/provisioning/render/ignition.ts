// Ignition configs for Flatcar and Fedora CoreOS, two per install. The installer's (applied by
// Flatcar's in-RAM PXE system or CoreOS's live system) installs the OS and reports how that
// went; the installed system's (written onto the disk by the installer, applied at its first
// boot) is the machine's own: the user's merged config and custom data, and the phone-home.
// The user's config never runs in the installer, where its units and disks would act on a
// system about to be replaced, and the installer's units never reach the installed system.
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
import { ignitionProblems, ignitionVersion, parseIgnition } from "./ignition-user";
import { flatcarFiles } from "./images";
import { DEFAULT_INSTALL_DISK } from "./ipxe";
import { planNetwork } from "./network";
import { networkdFiles } from "./networkd";
import type { TextFile } from "./text-file";
import { networkManagerFiles } from "./nm-keyfile";
import { eventCommand, phoneHomeCommand, systemdEscape } from "./reporting";

/**
 * Spec 3.4.0: the newest Flatcar's stable Butane variant (flatcar 1.1.0) targets, also accepted
 * by Fedora CoreOS and by ignition-validate v2.24.0. 3.5.0 is stable for Fedora CoreOS only.
 */
export const IGNITION_SPEC_VERSION = "3.4.0";
const MAX_USER_MINOR = 4;

const PHONED_HOME = "/var/lib/baremetal/phoned-home";
const PHONE_HOME_UNIT = "baremetal-phone-home.service";

interface IgnitionFile {
  path: string;
  mode: number;
  overwrite: boolean;
  contents: { source: string };
}

interface IgnitionUnit {
  name: string;
  enabled?: boolean;
  contents?: string;
  dropins?: { name: string; contents: string }[];
}

type Prepared = ReturnType<typeof prepare>;

/** What both configs are built from, checked once for both. */
function prepare(spec: ProvisionSpec) {
  const os = spec.operatingSystem;
  if (os !== "flatcar_stable" && os !== "fedora_coreos_stable") {
    throw new RenderError(`${os} is not configured with Ignition`);
  }
  const token = checkToken(spec.token);
  const hostname = checkHostname(spec.hostname);
  const keys = (spec.sshKeys ?? []).map(checkSshKey);
  const passwordHash = checkPasswordHash(spec.rootPasswordHash);
  const plan = planNetwork(spec);
  const files: TextFile[] = [{ path: "/etc/hostname", contents: `${hostname}\n`, mode: 0o644 }];
  files.push(...(os === "flatcar_stable" ? networkdFiles(plan) : networkManagerFiles(plan)));
  return {
    os,
    token,
    hostname,
    files,
    events: checkUrl("events URL", spec.urls.events(token)),
    // The image's own admin user on both OSes; Ignition adds keys to it.
    core: { name: "core", ...(keys.length > 0 ? { sshAuthorizedKeys: keys } : {}) },
    passwordHash,
  };
}

/** Both configs of one install (see renderIgnition and renderInstallerIgnition). */
export function renderIgnitionConfigs(spec: ProvisionSpec): { ignition: string; installerIgnition: string } {
  const base = prepare(spec);
  return { ignition: installedConfig(spec, base), installerIgnition: installerConfig(spec, base) };
}

/** The installed system's config: its host name, network, users, custom data, the user's config. */
export const renderIgnition = (spec: ProvisionSpec): string => installedConfig(spec, prepare(spec));

function installedConfig(
  spec: ProvisionSpec,
  { token, hostname, files, core, passwordHash }: Prepared,
): string {
  const phoneHome = checkUrl("phone-home URL", spec.urls.phoneHome(token));
  const custom = customDataFile(spec.customData);
  const merge = userConfig(spec.userData);
  const config = {
    ignition: { version: IGNITION_SPEC_VERSION, ...(merge ? { config: { merge: [merge] } } : {}) },
    passwd: { users: [core, { name: "root", passwordHash }] },
    storage: { files: [...files, ...(custom ? [custom] : [])].map(ignitionFile) },
    systemd: { units: [phoneHomeUnit(phoneHomeCommand(phoneHome, token, hostname))] },
  };
  return JSON.stringify(config, null, 2) + "\n";
}

/**
 * The installer's config: the same host name, network and SSH keys (an install that hangs can
 * be looked into), and what installs the OS and reports. Flatcar's PXE system runs
 * flatcar-install with the installed system's config; CoreOS's live system runs
 * coreos-installer with it, from `coreos.inst.ignition_url`. The root password is the
 * installed system's only, so its hash is in one config, not two.
 */
export const renderInstallerIgnition = (spec: ProvisionSpec): string => installerConfig(spec, prepare(spec));

function installerConfig(spec: ProvisionSpec, { os, token, files, core, events }: Prepared): string {
  const disk = checkDisk(spec.installDisk ?? DEFAULT_INSTALL_DISK);
  const flatcar = os === "flatcar_stable";
  const script = flatcar
    ? [flatcarInstallScript(spec, disk, checkUrl("Ignition URL", spec.urls.ignition(token)), events)]
    : [];
  const config = {
    ignition: { version: IGNITION_SPEC_VERSION },
    passwd: { users: [core] },
    storage: { files: [...files, ...script].map(ignitionFile) },
    systemd: { units: flatcar ? [flatcarInstallUnit(disk)] : coreosInstallReportUnits(events, disk) },
  };
  return JSON.stringify(config, null, 2) + "\n";
}

function ignitionFile(f: TextFile): IgnitionFile {
  return { path: f.path, mode: f.mode, overwrite: true, contents: { source: dataUrl(f.contents) } };
}

/** RFC 2397, percent-encoded: readable in the staged config, unlike base64. */
export const dataUrl = (text: string): string => `data:,${encodeURIComponent(text)}`;

// The URL stays literal in the unit (not in a data: URL) so it can be found in the config.
function phoneHomeUnit(command: string): IgnitionUnit {
  const contents = [
    "[Unit]",
    "Description=Tell the boot server this machine is up",
    "Wants=network-online.target",
    "After=network-online.target",
    "# Only the installed system reports, and only once (also if a live system applied it).",
    "ConditionKernelCommandLine=!baremetal.install_dev",
    "ConditionKernelCommandLine=!coreos.inst.install_dev",
    `ConditionPathExists=!${PHONED_HOME}`,
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    `ExecStart=/usr/bin/${systemdEscape(command)}`,
    `ExecStartPost=/usr/bin/mkdir -p ${PHONED_HOME.slice(0, PHONED_HOME.lastIndexOf("/"))}`,
    `ExecStartPost=/usr/bin/touch ${PHONED_HOME}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ];
  return { name: PHONE_HOME_UNIT, enabled: true, contents: contents.join("\n") + "\n" };
}

const FLATCAR_INSTALLER = "/opt/baremetal/install-flatcar";

function flatcarInstallScript(
  spec: ProvisionSpec,
  disk: string,
  ignitionUrl: string,
  events: string,
): TextFile {
  const f = flatcarFiles(spec.images);
  const lines = [
    "#!/bin/bash",
    "# Flatcar's PXE boot runs from RAM: write Flatcar and this machine's Ignition config onto the",
    "# disk, tell the boot server, and reboot into the installed system.",
    "set -euo pipefail",
    `failed() { ${eventCommand(events, "install.failed", `flatcar-install onto ${disk} failed`)} || true; }`,
    "trap failed ERR",
    `${eventCommand(events, "install.started", `installing Flatcar onto ${disk}`)} || true`,
    "curl -fsS --retry 10 --retry-delay 10 --retry-all-errors --max-time 120 \\",
    `  -o /tmp/baremetal-ignition.json '${ignitionUrl}'`,
    // -o '': the generic disk image, whatever OEM the PXE environment claims.
    `flatcar-install -d '${disk}' -b '${f.installBase}' -V '${f.installVersion}' -o '' \\`,
    "  -i /tmp/baremetal-ignition.json",
    `${eventCommand(events, "install.written", `Flatcar installed onto ${disk}`)} || true`,
    "systemctl reboot",
  ];
  return { path: FLATCAR_INSTALLER, contents: lines.join("\n") + "\n", mode: 0o700 };
}

function flatcarInstallUnit(disk: string): IgnitionUnit {
  const contents = [
    "[Unit]",
    `Description=Install Flatcar onto ${disk}`,
    "Wants=network-online.target",
    "After=network-online.target",
    "ConditionKernelCommandLine=baremetal.install_dev",
    "",
    "[Service]",
    "Type=oneshot",
    `ExecStart=${FLATCAR_INSTALLER}`,
    "StandardOutput=journal+console",
    "StandardError=journal+console",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ];
  return { name: "baremetal-install.service", enabled: true, contents: contents.join("\n") + "\n" };
}

/**
 * Fedora CoreOS installs itself (coreos-installer.service, then a reboot); these only report
 * the outcome, between the install and the reboot, or when the installer fails.
 */
function coreosInstallReportUnits(events: string, disk: string): IgnitionUnit[] {
  const report = (type: "install.written" | "install.failed", message: string, extra: string[]): string =>
    [
      "[Unit]",
      `Description=Report to the boot server: ${message}`,
      "ConditionKernelCommandLine=coreos.inst.install_dev",
      ...extra,
      "",
      "[Service]",
      "Type=oneshot",
      `ExecStart=/usr/bin/${systemdEscape(eventCommand(events, type, message))}`,
      "",
    ].join("\n");
  return [
    {
      name: "baremetal-installed.service",
      enabled: true,
      contents:
        report("install.written", `Fedora CoreOS installed onto ${disk}`, [
          "Requires=coreos-installer.service",
          "After=coreos-installer.service",
          "Before=coreos-installer-reboot.service",
        ]) + "[Install]\nWantedBy=coreos-installer.target\n",
    },
    {
      name: "baremetal-install-failed.service",
      contents: report("install.failed", `coreos-installer onto ${disk} failed`, [
        "After=network-online.target",
      ]),
    },
    {
      name: "coreos-installer.service",
      dropins: [
        {
          name: "10-baremetal-report.conf",
          contents: "[Unit]\nOnFailure=baremetal-install-failed.service\n",
        },
      ],
    },
  ];
}

/** The user's own Ignition config, merged into ours by Ignition itself. */
export function userConfig(userData: string | undefined): { source: string } | undefined {
  if (userData === undefined || userData.trim() === "") return undefined;
  let parsed: unknown;
  try {
    parsed = parseIgnition(userData);
  } catch {
    throw new RenderError("userData for Flatcar and Fedora CoreOS must be an Ignition config (JSON)");
  }
  const version = ignitionVersion(parsed);
  const m = typeof version === "string" ? /^3\.(\d+)\.0$/.exec(version) : null;
  if (m === null || Number(m[1]) > MAX_USER_MINOR) {
    throw new RenderError(
      `userData is an Ignition config of version ${JSON.stringify(version ?? null)}; ` +
        `it must be 3.0.0 to ${IGNITION_SPEC_VERSION} to merge into ours`,
    );
  }
  const problems = ignitionProblems(parsed, { units: [PHONE_HOME_UNIT], paths: [PHONED_HOME] });
  const said = (list: typeof problems) => {
    const shown = list.slice(0, 5).map((p) => `${p.at}: ${p.message}`);
    if (list.length > 5) shown.push(`and ${list.length - 5} more`);
    return shown.join("; ");
  };
  const theirs = problems.filter((p) => !p.ours);
  if (theirs.length > 0)
    throw new RenderError(
      `userData is an Ignition config that Ignition would refuse at first boot: ${said(theirs)}`,
    );
  if (problems.length > 0)
    throw new RenderError(`userData would replace what the provider's install needs: ${said(problems)}`);
  return { source: `data:;base64,${Buffer.from(userData, "utf8").toString("base64")}` };
}
