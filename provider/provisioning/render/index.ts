// Boot configs for one provisioning: the iPXE script, plus the Ignition config or the NoCloud
// seed the script points the installer at.
import type { ProvisionSpec, StagedBoot } from "../spec";
import { RenderError, checkHostname } from "./checks";
import { renderCloudInit } from "./cloud-init";
import { isUbuntu } from "./images";
import { renderIgnitionConfigs, userConfig } from "./ignition";
import { withUserData } from "./user-data";
import { renderIpxe } from "./ipxe";

/**
 * Refuses (RenderError) a userData the OS's installer could not take, as rendering would: for
 * `check`, so a bad one is named at preview, before anything is claimed or moved.
 */
export function checkUserData(os: ProvisionSpec["operatingSystem"], userData: string | undefined): void {
  if (isUbuntu(os)) withUserData({}, userData);
  else if (os === "flatcar_stable" || os === "fedora_coreos_stable") userConfig(userData);
}

export function renderBoot(spec: ProvisionSpec): StagedBoot {
  const os = spec.operatingSystem;
  if (os === "custom_ipxe") {
    checkHostname(spec.hostname);
    return { ipxe: renderIpxe(spec, {}), handoff: true };
  }
  if (os === "flatcar_stable" || os === "fedora_coreos_stable") {
    const staged = renderIgnitionConfigs(spec);
    return { ipxe: renderIpxe(spec, staged), ...staged };
  }
  if (isUbuntu(os)) {
    const cloudInit = renderCloudInit(spec);
    return { ipxe: renderIpxe(spec, { cloudInit }), cloudInit };
  }
  throw new RenderError(`unknown operating system ${JSON.stringify(os)}`);
}

export { RenderError } from "./checks";
export { renderCloudInit, UBUNTU_USER, type CloudInitSeed } from "./cloud-init";
export { CUSTOM_DATA_PATH } from "./custom-data";
export { renderIgnition, renderInstallerIgnition, IGNITION_SPEC_VERSION } from "./ignition";
export { renderIpxe, renderWipeIpxe, DEFAULT_INSTALL_DISK } from "./ipxe";
export { USER_SCRIPT_PATH } from "./user-data";
