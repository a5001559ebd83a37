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
import { renderBoot } from "../../provider/provisioning/render";
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

describe("netboot with a real iPXE in QEMU", () => {
  let cleanup: (() => Promise<void>) | undefined;
  let boot: BootServer | undefined;
  let vm: NetbootVm | undefined;
  let assets: string | undefined;
  afterAll(async () => {
    await vm?.stop();
    await boot?.close();
    await cleanup?.();
    if (assets) fs.rmSync(assets, { recursive: true, force: true });
  });

  test("iPXE runs the staged Flatcar script: it boots the mirror's kernel, which fetches Ignition and reports", async () => {
    let store: Store;
    ({ store, cleanup } = await freshStore(sqliteBackend));
    await applyInventoryFile(store, FILE, { prune: false, dryRun: false, actor: "tester" });
    const { server, machine } = await store.transact((at) =>
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
    expect(machine.id).toBe("r1-01");

    // The boot server also serves the image mirror (--assets): the stand-in Flatcar PXE image,
    // laid out as baremetal:osMirror expects.
    assets = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-assets-"));
    const image = ensureNetbootImage();
    fs.mkdirSync(path.join(assets, "flatcar"));
    fs.copyFileSync(image.kernel, path.join(assets, "flatcar", "flatcar_production_pxe.vmlinuz"));
    fs.copyFileSync(image.initrd, path.join(assets, "flatcar", "flatcar_production_pxe_image.cpio.gz"));
    let port: number;
    ({ boot, port } = await bootServerForGuest(store, assets));
    expect(boot.url).toBe(GUEST_HTTP);

    // What the provider stages for a Flatcar install, rendered by the same code.
    const token = randomBytes(24).toString("base64url");
    const staged = renderBoot({
      hostname: "netboot",
      operatingSystem: "flatcar_stable",
      sshKeys: [],
      interfaces: [
        { name: "eth0", mac: MAC, addresses: [{ cidr: "10.0.2.15/24", family: 4, public: false }] },
      ],
      dns: ["10.0.2.3"],
      rootPasswordHash: await hashPassword("netboot-test"),
      token,
      urls: bootServerUrls(boot.url),
      images: resolveConfig((k) => ({ "baremetal:osMirror": `${GUEST_HTTP}/assets` })[k]).images,
    });
    expect(staged.ipxe).toContain(`kernel ${GUEST_HTTP}/assets/flatcar/flatcar_production_pxe.vmlinuz`);
    await store.transact((at) =>
      stageSession(
        { token, serverId: server.id, machineId: machine.id, kind: "install", staged },
        "tester",
        at,
      ),
    );

    // DHCP's script chains to the boot server's entry script, which chains by MAC: the path a
    // rack's dnsmasq sets up (docs/guides/real-racks.md).
    vm = await startNetbootVm({
      mac: MAC,
      httpPort: port,
      chainUrl: `${GUEST_HTTP}/boot.ipxe`,
      memoryMb: 256,
    });
    const timeline = () => store.transact(() => serverTimeline(server.id), "read");
    const reported = (events: { action: string }[]) => events.some((e) => e.action === "install.started");
    const deadline = vm.startedAt + BOOT_TIMEOUT_MS;
    let events = await timeline();
    while (!reported(events) && Date.now() < deadline && !vm.exitStatus()) {
      await sleep(250);
      events = await timeline();
    }
    events = await timeline();
    if (!reported(events)) {
      throw new Error(
        `no install.started ${Date.now() - vm.startedAt} ms after QEMU started ` +
          `(${vm.exitStatus() ? "QEMU exited" : `waited ${BOOT_TIMEOUT_MS} ms`}); ` +
          `timeline: ${events.map((e) => e.action).join(", ")}\n--- console ---\n${vm.console().slice(-3000)}`,
      );
    }
    const at = (action: string) => Date.parse(events.find((e) => e.action === action)!.at);
    console.log(
      `netboot: QEMU start -> boot.fetched ${at("boot.fetched") - vm.startedAt} ms, ` +
        `-> config.fetched ${at("config.fetched") - vm.startedAt} ms, ` +
        `-> install.started ${at("install.started") - vm.startedAt} ms`,
    );

    // The image reported, then powered the VM off.
    expect(await vm.waitForEnd(60_000)).toEqual({ code: 0, signal: null });
    const screen = vm.console();
    // iPXE fetched the kernel and initrd the script names from the mirror, and booted them with
    // its command line: the image found the Ignition URL, the events URL and the disk there.
    expect(screen).toContain(
      `baremetal-image: kernel up; ignition=${GUEST_HTTP}/config/${token}/ignition.json ` +
        `events=${GUEST_HTTP}/events/${token} disk=/dev/sda`,
    );
    expect(screen).toContain(
      `baremetal-image: ignition fetched (${Buffer.byteLength(staged.ignition!)} bytes)`,
    );
    expect((await timeline()).map((e) => ({ action: e.action, detail: e.detail }))).toEqual([
      { action: "server.claim", detail: { machine: "r1-01", owner: "org/p/dev/netboot" } },
      { action: "install.staged", detail: { machine: "r1-01" } },
      { action: "boot.fetched", detail: { message: `by ${MAC}` } },
      { action: "config.fetched", detail: { message: "ignition.json" } },
      { action: "install.started", detail: { message: "onto /dev/sda" } },
    ]);
    // The installer's report moved the session on, as Flatcar's would.
    expect((await store.transact(() => sessionByToken(token), "read"))?.state).toBe("installing");

    // Nothing is left: QEMU, its guestfwd relays, its scratch dir.
    const { pid, dir } = vm;
    await vm.stop();
    expect(alive(pid)).toBe(false);
    expect(vm.relayPids()).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
