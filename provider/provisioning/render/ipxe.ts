// The iPXE script a machine gets by MAC. iPXE splits a line on whitespace only, treats a word
// that is exactly ";", "||" or "&&" as a command separator, a word starting with "#" as a
// comment, and expands ${...} anywhere; there is no quoting. So every word below is built from
// checked values and asserted free of those before it is written, and `ds=nocloud-net;s=...`
// needs no escaping (its ";" is inside a word, unlike GRUB, where it must be escaped).
import type { ImageSources, ProvisionSpec, StagedBoot } from "../spec";
import type { BootServerUrls } from "../urls";
import { RenderError, checkDisk, checkToken, checkUrl } from "./checks";
import { fedoraCoreosFiles, flatcarFiles, isUbuntu, ubuntuFiles, wipeFiles } from "./images";

export const DEFAULT_INSTALL_DISK = "/dev/sda";

export function renderIpxe(spec: ProvisionSpec, staged: Omit<StagedBoot, "ipxe">): string {
  const os = spec.operatingSystem;
  if (os === "custom_ipxe") return customIpxe(spec.ipxeScriptUrl);

  const token = checkToken(spec.token);
  const events = checkUrl("events URL", spec.urls.events(token));
  const disk = checkDisk(spec.installDisk ?? DEFAULT_INSTALL_DISK);

  if (os === "flatcar_stable" || os === "fedora_coreos_stable") {
    if (staged.ignition === undefined || staged.installerIgnition === undefined)
      throw new RenderError(`${os} boots with Ignition, but none is staged`);
    const ignition = checkUrl("Ignition URL", spec.urls.ignition(token));
    const installer = checkUrl("installer's Ignition URL", spec.urls.installerIgnition(token));
    if (os === "flatcar_stable") {
      const f = flatcarFiles(spec.images);
      // Flatcar's PXE image runs from RAM; the installer's Ignition config installs it onto the
      // disk (baremetal.install_dev marks this boot as the installer; the installed one lacks it).
      return script(
        f.kernel,
        [
          `initrd=${basename(f.initrd)}`,
          "flatcar.first_boot=1",
          `ignition.config.url=${installer}`,
          `baremetal.install_dev=${disk}`,
          `baremetal.events=${events}`,
        ],
        [f.initrd],
      );
    }
    const f = fedoraCoreosFiles(spec.images);
    // The live system runs Ignition on the installer's config (ignition.firstboot and the
    // platform are what a live PXE boot needs for that) and installs itself (coreos.inst.*) with
    // the installed system's config.
    return script(
      f.kernel,
      [
        `initrd=${basename(f.initrd)}`,
        `coreos.live.rootfs_url=${f.rootfs}`,
        `coreos.inst.install_dev=${disk}`,
        `coreos.inst.image_url=${f.image}`,
        `coreos.inst.ignition_url=${ignition}`,
        "ignition.firstboot",
        "ignition.platform.id=metal",
        `ignition.config.url=${installer}`,
        `baremetal.events=${events}`,
      ],
      [f.initrd],
    );
  }

  if (isUbuntu(os)) {
    if (staged.cloudInit === undefined)
      throw new RenderError(`${os} boots with cloud-init, but no seed is staged`);
    const seed = checkUrl("cloud-init seed URL", spec.urls.cloudInit(token));
    if (!seed.endsWith("/")) {
      throw new RenderError(`cloud-init seed URL ${seed} must end in "/" (NoCloud appends file names)`);
    }
    const f = ubuntuFiles(spec.images, os);
    // cloud-config-url=/dev/null: cloud-init otherwise reads `url=` (the ISO) as a cloud-config
    // URL and downloads the whole ISO. Arguments after "---" would be copied onto the installed
    // system's command line, so ours all come before it.
    return script(
      f.kernel,
      [
        `initrd=${basename(f.initrd)}`,
        "ip=dhcp",
        `url=${f.iso}`,
        "cloud-config-url=/dev/null",
        "autoinstall",
        `ds=nocloud-net;s=${seed}`,
        `baremetal.events=${events}`,
        "---",
      ],
      [f.initrd],
    );
  }
  throw new RenderError(`operating system ${JSON.stringify(os)} has no boot recipe`);
}

/** Boots the wipe image, which erases the disks and reports to the events URL. */
export function renderWipeIpxe(token: string, urls: BootServerUrls, images: ImageSources): string {
  const events = checkUrl("events URL", urls.events(checkToken(token)));
  const f = wipeFiles(images);
  return script(
    f.kernel,
    ["baremetal.mode=wipe", `baremetal.events=${events}`, `initrd=${basename(f.initrd)}`],
    [f.initrd],
  );
}

function customIpxe(source: string | undefined): string {
  if (source === undefined || source === "") {
    throw new RenderError(
      "custom_ipxe needs ipxeScriptUrl: a URL to chain, or a script starting with #!ipxe",
    );
  }
  // The user's own script, served as given: it is theirs to run, and only their machine gets it.
  if (source.startsWith("#!ipxe")) return source;
  const url = checkUrl("ipxeScriptUrl", source);
  return `#!ipxe\nchain --autofree ${word(url)}\n`;
}

function script(kernel: string, args: string[], initrds: string[]): string {
  const lines = [
    "#!ipxe",
    ["kernel", kernel, ...args].map(word).join(" "),
    ...initrds.map((i) => `initrd ${word(i)}`),
    "boot",
  ];
  return lines.join("\n") + "\n";
}

/** Last line of defence: one iPXE word that can only ever be a literal argument. */
function word(w: string): string {
  if (w === "" || /[\s$"'\\]/.test(w) || w.startsWith("#") || w === ";" || w === "||" || w === "&&") {
    throw new RenderError(`refusing to write ${JSON.stringify(w)} into an iPXE script`);
  }
  return w;
}

const basename = (url: string): string => url.slice(url.lastIndexOf("/") + 1);
