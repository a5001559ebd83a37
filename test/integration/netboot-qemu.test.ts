// A real netboot: iPXE in QEMU gets `boot.ipxe` from DHCP/TFTP, chains to our boot server by
// its MAC, and runs the script the provider would stage for a Flatcar install (rendered by the
// same code). That script loads a kernel and initrd from the boot server's image mirror and
// boots them with its command line; the image (test/lab/netboot-image.ts, standing in for
// Flatcar's) fetches the Ignition config by token and reports to the events URL. The server's
// timeline shows each step, recorded by the boot server as a machine causes it. QEMU runs
// under TCG (no KVM here), so the waits are generous but bounded.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { applyInventoryFile } from "../../provider/inventory/apply";
import { startBootServer, type BootServer } from "../../provider/provisioning/boot-server";
import { renderBoot, renderWipeIpxe } from "../../provider/provisioning/render";
import type { ImageSources, OperatingSystem } from "../../provider/provisioning/spec";
import { bootServerUrls } from "../../provider/provisioning/urls";
import { resolveConfig } from "../../provider/config";
import { hashPassword } from "../../provider/servers/passwords";
import { claimServer, serverTimeline, sessionByToken, stageSession } from "../../provider/store/servers-sql";
import type { Store } from "../../provider/store/store";
import { freshStore, sqliteBackend } from "../helpers/backends";
import { freePort } from "../lab/ports";
import { ensureNetbootImage } from "../lab/netboot-image";
import { alive, sleep } from "../lab/process-group";
import { GUEST_HTTP, startNetbootVm, type NetbootVm } from "../lab/qemu";

jest.setTimeout(240_000);

const FILE = fs.readFileSync(path.join(__dirname, "../fixtures/inventory.yaml"), "utf8");
// r1-01's eth0 in the fixture (written there in upper case).
const MAC = "0c:c4:7a:00:00:01";
// SeaBIOS, iPXE, 9 MB over the relay, and a Linux boot, all under TCG: about 20 s here.
const BOOT_TIMEOUT_MS = 150_000;

/** The boot server on a free 127.0.0.1 port, announcing the address the guest reaches it by. */
async function bootServerForGuest(store: Store, assets: string): Promise<{ boot: BootServer; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return {
        boot: await startBootServer(store, { host: "127.0.0.1", port, publicUrl: GUEST_HTTP, assets }),
        port,
      };
    } catch (e) {
      // Someone took the port between freePort() and listen(): try another.
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= 3) throw e;
    }
  }
}

/** Boots the VM until the timeline has `until`, then waits for it to power off; returns the timeline. */
async function bootUntil(store: Store, serverId: string, port: number, until: string) {
  const timeline = () => store.transact(() => serverTimeline(serverId), "read");
  // Only what this boot adds counts: an earlier boot's events are on the same timeline.
  const before = (await timeline()).length;
  const reached = (events: { action: string }[]) => events.slice(before).some((e) => e.action === until);
  vm = await startNetbootVm({ mac: MAC, httpPort: port, chainUrl: `${GUEST_HTTP}/boot.ipxe`, memoryMb: 256 });
  const v = vm;
  const deadline = v.startedAt + BOOT_TIMEOUT_MS;
  let events = await timeline();
  while (!reached(events) && Date.now() < deadline && !v.exitStatus()) {
    await sleep(250);
    events = await timeline();
  }
  events = await timeline();
  if (!reached(events)) {
    throw new Error(
      `no ${until} ${Date.now() - v.startedAt} ms after QEMU started ` +
        `(${v.exitStatus() ? "QEMU exited" : `waited ${BOOT_TIMEOUT_MS} ms`}); ` +
        `timeline: ${events.map((e) => e.action).join(", ")}\n--- console ---\n${v.console().slice(-3000)}`,
    );
  }
  const at = (action: string) =>
    Date.parse(events.filter((e) => e.action === action).at(-1)!.at) - v.startedAt;
  console.log(`netboot: QEMU start -> boot.fetched ${at("boot.fetched")} ms, -> ${until} ${at(until)} ms`);
  // The image reported, then powered the VM off by itself.
  expect(await v.waitForEnd(60_000)).toEqual({ code: 0, signal: null });
  return { events: await timeline(), screen: v.console() };
}

/** Nothing of the VM is left: QEMU, its guestfwd relays, its scratch dir. */
async function stopVm(): Promise<void> {
  const v = vm!;
  await v.stop();
  expect(alive(v.pid)).toBe(false);
  expect(v.relayPids()).toEqual([]);
  expect(fs.existsSync(v.dir)).toBe(false);
}

let vm: NetbootVm | undefined;

describe("netboot with a real iPXE in QEMU", () => {
  let cleanup: (() => Promise<void>) | undefined;
  let boot: BootServer;
  let port: number;
  let store: Store;
  let assets: string | undefined;
  let serverId: string;
  let machineId: string;
  let images: ImageSources;

  beforeAll(async () => {
    ({ store, cleanup } = await freshStore(sqliteBackend));
    await applyInventoryFile(store, FILE, { prune: false, dryRun: false, actor: "tester" });
    const claimed = await store.transact((at) =>
      claimServer(
        {
          id: "srv-netboot",
          owner: "org/p/dev/netboot",
          project: "web",
          facility: "lab1",
          machineId: "r1-01",
          hostname: "netboot",
          spec: {},
        },
        "tester",
        at,
      ),
    );
    [serverId, machineId] = [claimed.server.id, claimed.machine.id];

    // The boot server also serves the image mirror (--assets), laid out as baremetal:osMirror
    // expects: the stand-in image as Flatcar's PXE image, Fedora CoreOS's live image, Ubuntu's
    // netboot installer and the wipe image.
    assets = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-assets-"));
    const image = ensureNetbootImage();
    for (const [dir, kernel, initrd] of [
      ["flatcar", "flatcar_production_pxe.vmlinuz", "flatcar_production_pxe_image.cpio.gz"],
      ["fedora-coreos", "fedora-coreos-live-kernel.x86_64", "fedora-coreos-live-initramfs.x86_64.img"],
      ["ubuntu/24.04/netboot/amd64", "linux", "initrd"],
      ["wipe", "vmlinuz", "initrd"],
    ] as const) {
      fs.mkdirSync(path.join(assets, dir), { recursive: true });
      fs.copyFileSync(image.kernel, path.join(assets, dir, kernel));
      fs.copyFileSync(image.initrd, path.join(assets, dir, initrd));
    }
    ({ boot, port } = await bootServerForGuest(store, assets));
    images = resolveConfig((k) => ({ "baremetal:osMirror": `${GUEST_HTTP}/assets` })[k]).images;
  });

  /** What the provider stages for an install of `os` on this machine, by the same code. */
  const render = async (os: OperatingSystem, token: string) =>
    renderBoot({
      hostname: "netboot",
      operatingSystem: os,
      sshKeys: [],
      interfaces: [
        { name: "eth0", mac: MAC, addresses: [{ cidr: "10.0.2.15/24", family: 4, public: false }] },
      ],
      dns: ["10.0.2.3"],
      rootPasswordHash: await hashPassword("netboot-test"),
      token,
      urls: bootServerUrls(boot.url),
      images,
    });

  afterAll(async () => {
    await vm?.stop();
    await boot?.close();
    await cleanup?.();
    if (assets) fs.rmSync(assets, { recursive: true, force: true });
  });

  test.each([
    ["Flatcar", "flatcar_stable", "flatcar/flatcar_production_pxe.vmlinuz"],
    ["Fedora CoreOS", "fedora_coreos_stable", "fedora-coreos/fedora-coreos-live-kernel.x86_64"],
  ] as const)(
    "the staged %s script boots the mirror's kernel, which fetches Ignition by token and reports",
    async (_name, os, kernel) => {
      expect(boot.url).toBe(GUEST_HTTP);
      const token = randomBytes(24).toString("base64url");
      const staged = await render(os, token);
      expect(staged.ipxe).toContain(`kernel ${GUEST_HTTP}/assets/${kernel}`);
      await store.transact((at) =>
        stageSession({ token, serverId, machineId, kind: "install", staged }, "tester", at),
      );

      // DHCP's script chains to the boot server's entry script, which chains by MAC: the path a
      // rack's dnsmasq sets up (docs/guides/real-racks.md).
      const { events, screen } = await bootUntil(store, serverId, port, "install.started");
      // iPXE fetched the kernel and initrd the script names from the mirror, and booted them
      // with its command line: the image found the Ignition URL, the events URL and the disk.
      expect(screen).toContain(
        `baremetal-image: kernel up; ignition=${GUEST_HTTP}/config/${token}/installer-ignition.json ` +
          `events=${GUEST_HTTP}/events/${token} disk=/dev/sda`,
      );
      expect(screen).toContain(
        `baremetal-image: ignition fetched (${Buffer.byteLength(staged.installerIgnition!)} bytes)`,
      );
      expect(events.slice(-4).map((e) => ({ action: e.action, detail: e.detail }))).toEqual([
        { action: "install.staged", detail: { machine: "r1-01" } },
        { action: "boot.fetched", detail: { message: `by ${MAC}` } },
        { action: "config.fetched", detail: { message: "installer-ignition.json" } },
        { action: "install.started", detail: { message: "onto /dev/sda" } },
      ]);
      // The installer's report moved the session on, as the OS's own would.
      expect((await store.transact(() => sessionByToken(token), "read"))?.state).toBe("installing");
      await stopVm();
    },
  );

  test("the staged Ubuntu script boots the mirror's installer, which reads its NoCloud seed by token", async () => {
    // ds=nocloud-net;s=URL is one word with a ";" in it: iPXE must pass it to the kernel whole.
    const token = randomBytes(24).toString("base64url");
    const staged = await render("ubuntu_24_04", token);
    const seed = bootServerUrls(boot.url).cloudInit(token);
    expect(staged.ipxe).toContain(` ds=nocloud-net;s=${seed} `);
    await store.transact((at) =>
      stageSession({ token, serverId, machineId, kind: "install", staged }, "tester", at),
    );
    const { events, screen } = await bootUntil(store, serverId, port, "install.started");
    expect(screen).toContain(`baremetal-image: kernel up; seed=${seed} events=${GUEST_HTTP}/events/${token}`);
    expect(screen).toContain(
      `baremetal-image: seed fetched (user-data ${Buffer.byteLength(staged.cloudInit!.userData)} bytes)`,
    );
    expect(events.slice(-5).map((e) => ({ action: e.action, detail: e.detail }))).toEqual([
      { action: "install.staged", detail: { machine: "r1-01" } },
      { action: "boot.fetched", detail: { message: `by ${MAC}` } },
      { action: "config.fetched", detail: { message: "cloud-init/user-data" } },
      { action: "config.fetched", detail: { message: "cloud-init/meta-data" } },
      { action: "install.started", detail: { message: "nocloud seed" } },
    ]);
    await stopVm();
  });

  test("the staged wipe script boots the mirror's wipe image, whose report ends the session", async () => {
    const token = randomBytes(24).toString("base64url");
    const ipxe = renderWipeIpxe(token, bootServerUrls(boot.url), images);
    expect(ipxe).toContain(`kernel ${GUEST_HTTP}/assets/wipe/vmlinuz baremetal.mode=wipe`);
    await store.transact((at) =>
      stageSession({ token, serverId, machineId, kind: "wipe", staged: { ipxe } }, "tester", at),
    );
    const { events, screen } = await bootUntil(store, serverId, port, "wipe.done");
    expect(screen).toContain(`baremetal-image: wipe mode; events=${GUEST_HTTP}/events/${token} disks=0`);
    expect(events.slice(-3).map((e) => ({ action: e.action, detail: e.detail }))).toEqual([
      { action: "wipe.staged", detail: { machine: "r1-01" } },
      { action: "boot.fetched", detail: { message: `by ${MAC}` } },
      { action: "wipe.done", detail: { message: "erased 0 disks" } },
    ]);
    // The report ended the session: what the provider waits for before it frees the machine.
    expect((await store.transact(() => sessionByToken(token), "read"))?.state).toBe("done");
    await stopVm();
  });
});
