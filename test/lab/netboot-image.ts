// A netboot image that stands in for the OS images in QEMU: Debian's own kernel, and an
// initramfs of busybox whose /init does what Flatcar's (or Fedora CoreOS's) initramfs does
// first with the command line our iPXE script gives it: bring up the NIC by DHCP, fetch the
// Ignition config from `ignition.config.url`, and report to `baremetal.events`. Booted with
// `ds=nocloud-net;s=URL` it is Ubuntu's installer and fetches that NoCloud seed instead; with
// `baremetal.mode=wipe` it is the wipe image and reports `wipe.done`. Then it powers the VM
// off. The real images are hundreds of MB and out of reach here; this one is built from two
// Debian packages (about 70 MB to download, once) and cached.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { aptUpdate, ensurePackages } from "./apt";
import { labCache } from "./cache";

export interface NetbootImage {
  kernel: string;
  initrd: string;
}

// Debian's kernel has the virtio NIC as modules: these, in dependency order.
const MODULES = [
  "drivers/virtio/virtio_ring.ko",
  "drivers/virtio/virtio.ko",
  "drivers/virtio/virtio_pci_legacy_dev.ko",
  "drivers/virtio/virtio_pci_modern_dev.ko",
  "drivers/virtio/virtio_pci.ko",
  "net/core/failover.ko",
  "drivers/net/net_failover.ko",
  "drivers/net/virtio_net.ko",
];

// Printed on the console at each step, so a failed boot shows how far it got.
const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The serial port too: the script's command line has no console=, as on a real rack.
say() { echo "baremetal-image: $*" > /dev/console; echo "baremetal-image: $*" > /dev/ttyS0; }
for m in ${MODULES.map((m) => path.basename(m, ".ko")).join(" ")}; do insmod /lib/modules/$m.ko; done
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -s /udhcpc.sh -q -n -t 20 -T 1 || say "no DHCP lease"
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    ignition.config.url=*) ignition="\${arg#*=}" ;;
    baremetal.events=*) events="\${arg#*=}" ;;
    baremetal.install_dev=*|coreos.inst.install_dev=*) disk="\${arg#*=}" ;;
    baremetal.mode=*) mode="\${arg#*=}" ;;
    ds=nocloud-net\\;s=*) seed="\${arg#*;s=}" ;;
  esac
done
if [ -n "$seed" ]; then
  # Ubuntu's installer's part: cloud-init reads its NoCloud seed from ds=nocloud-net;s=URL.
  say "kernel up; seed=$seed events=$events"
  if wget -q -O /user-data "\${seed}user-data" && wget -q -O /meta-data "\${seed}meta-data"; then
    say "seed fetched (user-data $(wc -c < /user-data) bytes)"
    wget -q -O /dev/null --header "content-type: application/json" \
      --post-data "{\\"type\\":\\"install.started\\",\\"message\\":\\"nocloud seed\\"}" "$events" && say "reported"
  else
    say "seed fetch failed"
  fi
  poweroff -f
fi
if [ "$mode" = wipe ]; then
  # The wipe image's part: erase every disk, then report. This VM has none; say how many.
  disks=0
  for d in /sys/block/sd* /sys/block/vd* /sys/block/nvme*; do [ -e "$d" ] && disks=$((disks + 1)); done
  say "wipe mode; events=$events disks=$disks"
  wget -q -O /dev/null --header "content-type: application/json" \
    --post-data "{\\"type\\":\\"wipe.done\\",\\"message\\":\\"erased $disks disks\\"}" "$events" && say "reported"
  poweroff -f
fi
say "kernel up; ignition=$ignition events=$events disk=$disk"
if wget -q -O /ignition.json "$ignition" && grep -q '"ignition"' /ignition.json; then
  say "ignition fetched ($(wc -c < /ignition.json) bytes)"
  wget -q -O /dev/null --header "content-type: application/json" \\
    --post-data "{\\"type\\":\\"install.started\\",\\"message\\":\\"onto $disk\\"}" "$events" && say "reported"
else
  say "ignition fetch failed"
fi
poweroff -f
`;

const UDHCPC = `#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
ip addr add "$ip/$mask" dev "$interface"
[ -n "$router" ] && ip route add default via "$router"
exit 0
`;

/** The Debian kernel package linux-image-amd64 points at now, e.g. linux-image-6.1.0-57-amd64. */
function kernelPackage(): string {
  const ask = () => {
    const r = spawnSync("apt-cache", ["depends", "linux-image-amd64"], { encoding: "utf8" });
    return {
      found: /Depends: (linux-image-[^\s]+)/.exec(r.stdout ?? "")?.[1],
      said: `${r.stdout}${r.stderr}`,
    };
  };
  let r = ask();
  if (!r.found) {
    aptUpdate(); // a fresh machine may have no package lists yet
    r = ask();
  }
  if (!r.found) throw new Error(`apt-cache depends linux-image-amd64 names no kernel package:\n${r.said}`);
  return r.found;
}

export function ensureNetbootImage(): NetbootImage {
  ensurePackages(["cpio"]);
  const pkg = kernelPackage();
  // Named by what goes into it, so a changed /init never finds an older image in the cache.
  const recipe = createHash("sha256")
    .update([INIT, UDHCPC, ...MODULES].join("\0"))
    .digest("hex")
    .slice(0, 12);
  const dir = path.join(labCache(), `netboot-image-${pkg}-${recipe}`);
  const image = { kernel: path.join(dir, "vmlinuz"), initrd: path.join(dir, "initrd.cpio.gz") };
  if (fs.existsSync(path.join(dir, ".complete"))) return image;

  // Built aside and renamed into place, so parallel test workers never see half an image.
  fs.mkdirSync(labCache(), { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  try {
    const debs = path.join(tmp, "debs");
    fs.mkdirSync(debs);
    execFileSync("apt-get", ["download", "-qq", pkg, "busybox-static"], {
      cwd: debs,
      stdio: "pipe",
      timeout: 600_000,
    });
    const x = path.join(tmp, "x");
    for (const deb of fs.readdirSync(debs)) execFileSync("dpkg-deb", ["-x", path.join(debs, deb), x]);
    const version = pkg.replace(/^linux-image-/, "");
    fs.copyFileSync(path.join(x, "boot", `vmlinuz-${version}`), path.join(tmp, "vmlinuz"));

    const root = path.join(tmp, "root");
    for (const d of ["bin", "dev", "proc", "sys", "lib/modules"])
      fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.copyFileSync(path.join(x, "bin", "busybox"), path.join(root, "bin", "busybox"));
    fs.chmodSync(path.join(root, "bin", "busybox"), 0o755);
    for (const m of MODULES) {
      fs.copyFileSync(
        path.join(x, "lib", "modules", version, "kernel", m),
        path.join(root, "lib", "modules", path.basename(m)),
      );
    }
    fs.writeFileSync(path.join(root, "init"), INIT, { mode: 0o755 });
    fs.writeFileSync(path.join(root, "udhcpc.sh"), UDHCPC, { mode: 0o755 });
    const files = execFileSync("find", ["."], { cwd: root, encoding: "utf8" });
    const cpio = execFileSync("cpio", ["-o", "-H", "newc", "--quiet", "--owner=0:0"], {
      cwd: root,
      input: files,
      maxBuffer: 64 * 2 ** 20,
    });
    fs.writeFileSync(path.join(tmp, "initrd.cpio.gz"), zlib.gzipSync(cpio));
    fs.rmSync(debs, { recursive: true });
    fs.rmSync(x, { recursive: true });
    fs.rmSync(root, { recursive: true });
    fs.writeFileSync(path.join(tmp, ".complete"), "");
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // Another worker finished first: use theirs.
      if (!fs.existsSync(path.join(dir, ".complete"))) throw e;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return image;
}
