// Claims and the boot server on every backend: one machine per server, never two; a machine
// fetches what was staged for it by MAC, then by token, and its reports move its session along.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { applyInventoryFile } from "../../provider/inventory/apply";
import { InventoryConflict } from "../../provider/inventory/errors";
import { startBootServer, type BootServer } from "../../provider/provisioning/boot-server";
import { bootServerUrls } from "../../provider/provisioning/urls";
import {
  claimServer,
  finishServer,
  serverTimeline,
  sessionByToken,
  setServerState,
  stageSession,
  type ClaimRequest,
} from "../../provider/store/servers-sql";
import type { Store } from "../../provider/store/store";
import { backends, freshStore } from "../helpers/backends";
import { failure } from "../helpers/failure";

const FILE = fs.readFileSync(path.join(__dirname, "../fixtures/inventory.yaml"), "utf8");
const claim = (store: Store, owner: string, over: Partial<ClaimRequest> = {}) =>
  store.transact((at) =>
    claimServer(
      {
        id: `srv-${owner}`,
        owner,
        project: "web",
        facility: "lab1",
        plan: "c3.small",
        hostname: owner,
        spec: {},
        ...over,
      },
      "tester",
      at,
    ),
  );

describe.each(backends)("claims and boot server on $name", (backend) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let boot: BootServer;
  beforeEach(async () => {
    ({ store, cleanup } = await freshStore(backend));
    await applyInventoryFile(store, FILE, { prune: false, dryRun: false, actor: "tester" });
    boot = await startBootServer(store);
  });
  afterEach(async () => {
    await boot.close();
    await cleanup();
  });

  test("the entry script DHCP hands out chains to each machine's own script by MAC", async () => {
    const res = await fetch(`${boot.url}/boot.ipxe`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`#!ipxe\nchain ${boot.url}/boot/\${net0/mac}.ipxe\n`);
  });

  test("one machine per owner; a second claim of the same owner adopts; none left is named", async () => {
    const a = await claim(store, "org/p/dev/a");
    expect([a.machine.id, a.adopted]).toEqual(["r1-01", false]);
    const again = await claim(store, "org/p/dev/a");
    expect([again.machine.id, again.server.id, again.adopted]).toEqual(["r1-01", "srv-org/p/dev/a", true]);
    expect(await store.getMachine("r1-01")).toMatchObject({ state: "provisioning", owner: "org/p/dev/a" });

    await claim(store, "org/p/dev/b");
    const none = await failure(claim(store, "org/p/dev/c"), InventoryConflict);
    expect(none.code).toBe("NoMachineAvailable");
    expect(none.message).toBe("plan: no c3.small machine is available in facility lab1 (2 provisioning)");

    const named = await claim(store, "org/p/dev/d", { plan: undefined, machineId: "r1-03" });
    expect(named.machine.plan).toBe("m3.large");
    const taken = await failure(
      claim(store, "org/p/dev/e", { plan: undefined, machineId: "r1-03" }),
      InventoryConflict,
    );
    expect(taken.message).toBe("machine: r1-03 is provisioning (held by org/p/dev/d), not available");
  });

  test("parallel claims never share a machine", async () => {
    const results = await Promise.allSettled(["x", "y", "z"].map((o) => claim(store, `org/p/dev/${o}`)));
    const won = results
      .filter((r) => r.status === "fulfilled")
      .map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof claim>>>).value.machine.id);
    expect(won.sort()).toEqual(["r1-01", "r1-02"]);
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
  });

  test("netboot by MAC, config by token, reports move the session; finished sessions serve nothing", async () => {
    const { server, machine } = await claim(store, "org/p/dev/a");
    const token = randomBytes(24).toString("base64url");
    const urls = bootServerUrls(boot.url);
    const ipxe = `#!ipxe\nkernel http://mirror/vmlinuz ignition.config.url=${urls.ignition(token)} baremetal.events=${urls.events(token)}\nboot\n`;
    await store.transact((at) =>
      stageSession(
        {
          token,
          serverId: server.id,
          machineId: machine.id,
          kind: "install",
          staged: { ipxe, ignition: '{"ignition":{"version":"3.4.0"}}' },
        },
        "tester",
        at,
      ),
    );
    const get = async (u: string) => {
      const r = await fetch(u);
      return [r.status, await r.text()] as const;
    };
    const post = async (u: string, body = "") => (await fetch(u, { method: "POST", body })).status;

    expect(await get(urls.ipxe("0C:C4:7A:00:00:01"))).toEqual([200, ipxe]);
    const other = await get(urls.ipxe("0c:c4:7a:00:00:02"));
    expect(other[1]).toMatch(/^#!ipxe\n.*\nexit\n$/s);
    expect(await get(urls.ignition(token))).toEqual([200, '{"ignition":{"version":"3.4.0"}}']);
    expect((await get(`${urls.cloudInit(token)}user-data`))[0]).toBe(404);
    expect(await post(urls.events(token), JSON.stringify({ type: "install.started" }))).toBe(200);
    expect((await store.transact(() => sessionByToken(token), "read"))?.state).toBe("installing");
    expect(await post(urls.events(token), JSON.stringify({ type: "Rm -rf" }))).toBe(400);
    expect(await post(urls.events(token), "not json")).toBe(400);
    expect(await post(urls.phoneHome("A".repeat(32)))).toBe(404);
    expect(await post(urls.phoneHome(token))).toBe(200);
    expect((await store.transact(() => sessionByToken(token), "read"))?.state).toBe("done");
    // Done: the config is no longer served and the machine boots from disk.
    expect((await get(urls.ignition(token)))[0]).toBe(404);
    expect((await get(urls.ipxe("0c:c4:7a:00:00:01")))[1]).toMatch(/exit/);

    const timeline = await store.transact(() => serverTimeline(server.id), "read");
    expect(timeline.map((t) => t.action)).toEqual([
      "server.claim",
      "install.staged",
      "boot.fetched",
      "config.fetched",
      "install.started",
      "phone-home",
    ]);

    // An active custom_ipxe server with alwaysPxe gets its own script on every boot.
    await store.transact((at) =>
      setServerState(
        server.id,
        { state: "active", spec: { operatingSystem: "custom_ipxe", alwaysPxe: true } },
        "tester",
        at,
      ),
    );
    expect((await get(urls.ipxe("0c:c4:7a:00:00:01")))[1]).toBe(ipxe);
    await store.transact((at) =>
      setServerState(
        server.id,
        { state: "active", spec: { operatingSystem: "custom_ipxe", alwaysPxe: false } },
        "tester",
        at,
      ),
    );
    expect((await get(urls.ipxe("0c:c4:7a:00:00:01")))[1]).toMatch(/exit/);

    await store.transact((at) => finishServer(server.id, "quarantine", "wipe failed", "tester", at));
    expect(await store.getMachine("r1-01")).toMatchObject({
      state: "quarantine",
      owner: null,
      stateReason: "wipe failed",
    });
  });
});
