// Where each OS's netboot files live under its ImageSources base URL. Flatcar's names are the
// vendor's own, so the base may be the vendor's channel directory itself
// (https://stable.release.flatcar-linux.net/amd64-usr/current). Fedora CoreOS and Ubuntu publish
// only versioned file names, so their bases must be a mirror laid out with these fixed names
// (one directory per stream or release, files renamed without their version).
import type { ImageSources, OperatingSystem } from "../spec";
import { RenderError, checkUrl } from "./checks";

export interface FlatcarFiles {
  kernel: string;
  initrd: string;
  /** flatcar-install's -b (mirror) and -V (version directory) for the disk image. */
  installBase: string;
  installVersion: string;
}

export interface FedoraCoreosFiles {
  kernel: string;
  initrd: string;
  rootfs: string;
  /** The disk image coreos-installer writes; it also fetches `<image>.sig` to verify it. */
  image: string;
}

export interface UbuntuFiles {
  kernel: string;
  initrd: string;
  /** The live server ISO that casper downloads and boots the installer from. */
  iso: string;
}

const base = (what: string, url: string): string => checkUrl(what, url).replace(/\/+$/, "");

export function flatcarFiles(images: ImageSources): FlatcarFiles {
  const b = base("images.flatcar", images.flatcar);
  const cut = b.lastIndexOf("/");
  const installBase = b.slice(0, cut);
  const installVersion = b.slice(cut + 1);
  if (!/^https?:\/\/[^/]+\/./.test(b) || installVersion === "") {
    throw new RenderError(
      `images.flatcar ${JSON.stringify(images.flatcar)} must end in a version directory ` +
        `(e.g. .../amd64-usr/current), as flatcar-install expects <mirror>/<version>/`,
    );
  }
  return {
    kernel: `${b}/flatcar_production_pxe.vmlinuz`,
    initrd: `${b}/flatcar_production_pxe_image.cpio.gz`,
    installBase,
    installVersion,
  };
}

/** Fedora CoreOS and Ubuntu come from a mirror only (config.ts DEFAULT_IMAGES). */
function mirrored(what: string, url: string, os: string, layout: string): string {
  if (url === "") {
    throw new RenderError(
      `${os} installs from a mirror: set baremetal:osMirror (BAREMETAL_OS_MIRROR) to one laid out as ${layout}; ` +
        "the vendor publishes only versioned file names, which the boot files cannot name",
    );
  }
  return base(what, url);
}

export function fedoraCoreosFiles(images: ImageSources): FedoraCoreosFiles {
  const b = mirrored(
    "images.fedoraCoreos",
    images.fedoraCoreos,
    "Fedora CoreOS",
    "<mirror>/fedora-coreos/fedora-coreos-live-{kernel,initramfs,rootfs}.x86_64[.img] and fedora-coreos-metal.x86_64.raw.xz",
  );
  return {
    kernel: `${b}/fedora-coreos-live-kernel.x86_64`,
    initrd: `${b}/fedora-coreos-live-initramfs.x86_64.img`,
    rootfs: `${b}/fedora-coreos-live-rootfs.x86_64.img`,
    image: `${b}/fedora-coreos-metal.x86_64.raw.xz`,
  };
}

export const UBUNTU_RELEASES = { ubuntu_24_04: "24.04", ubuntu_22_04: "22.04" } as const;
export type UbuntuOs = keyof typeof UBUNTU_RELEASES;
export const isUbuntu = (os: OperatingSystem): os is UbuntuOs => os in UBUNTU_RELEASES;

/** Laid out like the vendor's release directory: <release>/netboot/amd64/{linux,initrd}. */
export function ubuntuFiles(images: ImageSources, os: UbuntuOs): UbuntuFiles {
  const release = UBUNTU_RELEASES[os];
  const b = mirrored(
    "images.ubuntu",
    images.ubuntu,
    `Ubuntu ${release}`,
    `<mirror>/ubuntu/${release}/netboot/amd64/{linux,initrd} and <mirror>/ubuntu/${release}/ubuntu-${release}-live-server-amd64.iso`,
  );
  return {
    kernel: `${b}/${release}/netboot/amd64/linux`,
    initrd: `${b}/${release}/netboot/amd64/initrd`,
    iso: `${b}/${release}/ubuntu-${release}-live-server-amd64.iso`,
  };
}

export function wipeFiles(images: ImageSources): { kernel: string; initrd: string } {
  const b = base("images.wipe", images.wipe);
  return { kernel: `${b}/vmlinuz`, initrd: `${b}/initrd` };
}
