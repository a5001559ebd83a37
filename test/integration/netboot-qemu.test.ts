// A real netboot: iPXE in QEMU gets `boot.ipxe` from DHCP/TFTP, chains to our boot server by
// its MAC, and runs the staged script, which fetches the staged Ignition config by token. The
// server's timeline then shows both fetches, recorded by the boot server as a machine would
// cause them. QEMU runs under TCG (no KVM here), so the waits are generous but bounded.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { applyInventoryFile } from "../../provider/inventory/apply";
import { startBootServer, type BootServer } from "../../provider/provisioning/boot-server";
import { bootServerUrls } from "../../provider/provisioning/urls";
import { claimServer, serverTimeline, sessionByToken, stageSession } from "../../provider/store/servers-sql";
import type { Store } from "../../provider/store/store";
import { freshStore, sqliteBackend } from "../helpers/backends";
import { freePort } from "../lab/ports";
import { alive, sleep } from "../lab/process-group";
import { GUEST_HTTP, startNetbootVm, type NetbootVm } from "../lab/qemu";

jest.setTimeout(240_000);

const FILE = fs.readFileSync(path.join(__dirname, "../fixtures/inventory.yaml"), "utf8");
// r1-01's eth0 in the fixture (written there in upper case).
const MAC = "0c:c4:7a:00:00:01";
const FETCH_TIMEOUT_MS = 90_000;
const IGNITION = '{"ignition":{"version":"3.4.0"}}';

/** The boot server on a free 127.0.0.1 port, announcing the address the guest reaches it by. */
async function bootServerForGuest(store: Store): Promise<{ boot: BootServer; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { boot: await startBootServer(store, { host: "127.0.0.1", port, publicUrl: GUEST_HTTP }), port };
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
  afterAll(async () => {
    await vm?.stop();
    await boot?.close();
    await cleanup?.();
  });

  test("iPXE chains to the staged script by MAC and runs it: it fetches the Ignition config by token", async () => {
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

    let port: number;
    ({ boot, port } = await bootServerForGuest(store));
    expect(boot.url).toBe(GUEST_HTTP);
    const urls = bootServerUrls(boot.url);
    const token = randomBytes(24).toString("base64url");
    // Real iPXE syntax; each step is visible: the echo on the console, the fetch on the timeline.
    // `exit` hands back to the BIOS (as our no-session script does); with nothing else to boot,
    // the VM powers itself off (this iPXE build has no `poweroff` command).
    const ipxe = [
      "#!ipxe",
      "echo baremetal: staged script reached",
      `imgfetch ${urls.ignition(token)}`,
      "echo baremetal: ignition fetched",
      "exit",
    ].join("\n");
    await store.transact((at) =>
      stageSession(
        {
          token,
          serverId: server.id,
          machineId: machine.id,
          kind: "install",
          staged: { ipxe: `${ipxe}\n`, ignition: IGNITION },
        },
        "tester",
        at,
      ),
    );

    // DHCP's script chains to the boot server's entry script, which chains by MAC: the path a
    // rack's dnsmasq sets up (docs/guides/real-racks.md).
    vm = await startNetbootVm({ mac: MAC, httpPort: port, chainUrl: `${GUEST_HTTP}/boot.ipxe` });
    const timeline = () => store.transact(() => serverTimeline(server.id), "read");
    const deadline = vm.startedAt + FETCH_TIMEOUT_MS;
    let events = await timeline();
    while (!events.some((e) => e.action === "config.fetched") && Date.now() < deadline && !vm.exitStatus()) {
      await sleep(200);
      events = await timeline();
    }
    events = await timeline();
    if (!events.some((e) => e.action === "config.fetched")) {
      throw new Error(
        `no config.fetched ${Date.now() - vm.startedAt} ms after QEMU started ` +
          `(${vm.exitStatus() ? "QEMU exited" : `waited ${FETCH_TIMEOUT_MS} ms`}); ` +
          `timeline: ${events.map((e) => e.action).join(", ")}\n--- console ---\n${vm.console().slice(-3000)}`,
      );
    }
    const at = (action: string) => Date.parse(events.find((e) => e.action === action)!.at);
    console.log(
      `netboot: QEMU start -> boot.fetched ${at("boot.fetched") - vm.startedAt} ms, ` +
        `-> config.fetched ${at("config.fetched") - vm.startedAt} ms`,
    );

    // The script ran to its end, then the VM found nothing else to boot and exited by itself.
    expect(await vm.waitForEnd(60_000)).toEqual({ code: 0, signal: null });
    const screen = vm.console();
    expect(screen).toContain("baremetal: staged script reached");
    expect(screen).toContain("baremetal: ignition fetched");
    expect((await timeline()).map((e) => ({ action: e.action, detail: e.detail }))).toEqual([
      { action: "server.claim", detail: { machine: "r1-01", owner: "org/p/dev/netboot" } },
      { action: "install.staged", detail: { machine: "r1-01" } },
      { action: "boot.fetched", detail: { message: `by ${MAC}` } },
      { action: "config.fetched", detail: { message: "ignition.json" } },
    ]);
    expect((await store.transact(() => sessionByToken(token), "read"))?.state).toBe("booting");

    // Nothing is left: QEMU, its guestfwd relays, its scratch dir.
    const { pid, dir } = vm;
    await vm.stop();
    expect(alive(pid)).toBe(false);
    expect(vm.relayPids()).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
