// Claims and the boot server on every backend: one machine per server, never two; a machine
// fetches what was staged for it by MAC, then by token, and its reports move its session along.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { applyInventoryFile } from "../../provider/inventory/apply";
import { InventoryConflict } from "../../provider/inventory/errors";
import { startBootServer, type BootServer } from "../../provider/provisioning/boot-server";
import { bootServerUrls } from "../../provider/provisioning/urls";
import {
  MAX_REPORTS,
  finishServer,
  reportSession,
  serverTimeline,
  fetchBootScript,
  sessionByToken,
  setServerState,
  stageSession,
  type StagedConfig,
} from "../../provider/store/servers-sql";
import type { Store } from "../../provider/store/store";
import { backends, freshStore, sqliteBackend } from "../helpers/backends";
import { claim } from "../helpers/claim";
import { failure } from "../helpers/failure";

const FILE = fs.readFileSync(path.join(__dirname, "../fixtures/inventory.yaml"), "utf8");

/** Stages a boot for the claimed machine, as the provider does; returns the session's token. */
async function stageBoot(
  store: Store,
  claimed: { server: { id: string }; machine: { id: string } },
  kind: "install" | "wipe",
  staged: StagedConfig,
  token = randomBytes(24).toString("base64url"),
): Promise<string> {
  await store.transact((at) =>
    stageSession(
      { token, serverId: claimed.server.id, machineId: claimed.machine.id, kind, staged },
      "tester",
      at,
    ),
  );
  return token;
}
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

  test("reports must fit the session and move it forward; a finished one takes none; bad requests are 4xx", async () => {
    const { server, machine } = await claim(store, "org/p/dev/w");
    const mac = machine.nics[0]!.mac;
    const urls = bootServerUrls(boot.url);
    const stage = (kind: "install" | "wipe") =>
      stageBoot(store, { server, machine }, kind, { ipxe: "#!ipxe\nboot\n" });
    const post = async (u: string, body = "") => {
      const r = await fetch(u, { method: "POST", body });
      return [r.status, await r.text()] as const;
    };
    const event = (token: string, e: unknown) => post(urls.events(token), JSON.stringify(e));
    const state = async (token: string) => (await store.transact(() => sessionByToken(token), "read"))?.state;

    const wipe = await stage("wipe");
    // A phone-home or an install's report never finishes a wipe.
    expect(await post(urls.phoneHome(wipe))).toEqual([409, "phone-home is not a report of a wipe session\n"]);
    expect((await event(wipe, { type: "install.started" }))[0]).toBe(409);
    expect(await state(wipe)).toBe("staged");
    expect((await event(wipe, { type: "wipe.started" }))[0]).toBe(200);
    // A second fetch by MAC (a reboot, or anyone who asks) does not put it back to booting.
    expect((await fetch(urls.ipxe(mac))).status).toBe(200);
    expect(await state(wipe)).toBe("installing");
    expect((await event(wipe, { type: "wipe.done" }))[0]).toBe(200);
    expect(await state(wipe)).toBe("done");
    const before = (await store.transact(() => serverTimeline(server.id), "read")).length;
    for (let i = 0; i < 5; i++)
      expect(await event(wipe, { type: "wipe.failed", message: "x" })).toEqual([
        410,
        "this wipe session is done\n",
      ]);
    expect(await store.transact(() => serverTimeline(server.id), "read")).toHaveLength(before);

    // A message any store keeps: NUL and a lone surrogate go, 2000 characters at most.
    const install = await stage("install");
    const message = `a\u0000b\ud800${"é".repeat(2100)}`;
    expect((await event(install, { type: "install.progress", message }))[0]).toBe(200);
    const [last] = (await store.transact(() => serverTimeline(server.id), "read")).slice(-1);
    expect((last!.detail as { message: string }).message).toBe(`ab\ufffd${"é".repeat(1997)}`);

    expect((await event(install, null))[0]).toBe(400);
    expect((await post(urls.events(install), "x".repeat(100_000)))[0]).toBe(413);
    expect((await fetch(`${boot.url}/boot/%zz.ipxe`)).status).toBe(400);
    expect((await fetch(`${boot.url}/healthz`, { method: "HEAD" })).status).toBe(200);
  });

  test("once the OS is on the disk, a netboot by MAC boots the disk: no second install", async () => {
    const { server, machine } = await claim(store, "org/p/dev/pxe-first");
    const mac = machine.nics[0]!.mac;
    const urls = bootServerUrls(boot.url);
    const token = await stageBoot(store, { server, machine }, "install", {
      ipxe: "#!ipxe\ninstall\n",
      ignition: '{"passwd": "hash"}',
    });
    const script = async () => (await fetch(urls.ipxe(mac))).text();
    const event = (type: string) =>
      fetch(urls.events(token), { method: "POST", body: JSON.stringify({ type }) }).then((r) => r.status);
    expect(await script()).toBe("#!ipxe\ninstall\n");
    expect(await event("install.started")).toBe(200);
    // A reboot mid-install (before the disk is written) gets the installer again.
    expect(await script()).toBe("#!ipxe\ninstall\n");
    expect(await event("install.written")).toBe(200);
    // The installer reboots; the network still boots first (alwaysPxe): the disk, not the installer.
    expect(await script()).toBe("#!ipxe\necho installed: booting the new system from disk\nexit\n");
    expect((await store.transact(() => sessionByToken(token), "read"))?.state).toBe("installing");
    expect((await fetch(urls.phoneHome(token), { method: "POST" })).status).toBe(200);
    const done = await store.transact(() => sessionByToken(token), "read");
    expect(done?.state).toBe("done");
    // A finished session keeps its iPXE script, not the configs with the root password's hash.
    expect(done?.staged).toEqual({ ipxe: "#!ipxe\ninstall\n" });
    // So does one closed because a new boot superseded it.
    const stage = () =>
      stageBoot(store, { server, machine }, "wipe", { ipxe: "#!ipxe\nwipe\n", ignition: "{}" });
    const next = await stage();
    await stage();
    const closed = await store.transact(() => sessionByToken(next), "read");
    expect([closed?.state, closed?.staged]).toEqual(["failed", { ipxe: "#!ipxe\nwipe\n" }]);
  });

  test("a script read by MAC just before its session ended (superseded) is not handed out", async () => {
    const { server, machine } = await claim(store, "org/p/dev/superseded");
    const mac = machine.nics[0]!.mac;
    const first = await stageBoot(store, { server, machine }, "install", { ipxe: "#!ipxe\nfirst\n" });
    // The boot server read the session by MAC; a new boot supersedes it before the fetch.
    await stageBoot(store, { server, machine }, "install", { ipxe: "#!ipxe\nsecond\n" });
    expect(await store.transact((at) => fetchBootScript(first, mac, "127.0.0.1", at))).toEqual({
      ended: true,
    });
    expect((await store.transact(() => sessionByToken(first), "read"))?.bootClient).toBeNull();
    // Asked by MAC, the machine gets the current one.
    expect(await (await fetch(bootServerUrls(boot.url).ipxe(mac))).text()).toBe("#!ipxe\nsecond\n");
  });

  test("an open session takes a bounded number of reports; the one that finishes it is always taken", async () => {
    const { server, machine } = await claim(store, "org/p/dev/chatty");
    const mac = machine.nics[0]!.mac;
    const urls = bootServerUrls(boot.url);
    const token = await stageBoot(store, { server, machine }, "install", { ipxe: "#!ipxe\nboot\n" });
    expect((await fetch(urls.ipxe(mac))).status).toBe(200);
    for (let i = 1; i < MAX_REPORTS; i++)
      expect(
        await store.transact((at) => reportSession(token, "install.progress", `step ${i}`, at)),
      ).toBeUndefined();
    const timeline = async () => (await store.transact(() => serverTimeline(server.id), "read")).length;
    const full = await timeline();
    const post = async (u: string, body = "") => {
      const r = await fetch(u, { method: "POST", body });
      return [r.status, await r.text()] as const;
    };
    expect(
      await post(urls.events(token), JSON.stringify({ type: "install.progress", message: "more" })),
    ).toEqual([
      429,
      `this install session has taken ${MAX_REPORTS} reports; only the one that finishes it is taken now\n`,
    ]);
    // A machine that fetches its script again still gets it; the fetch is not recorded.
    const script = await fetch(urls.ipxe(mac));
    expect([script.status, await script.text()]).toEqual([200, "#!ipxe\nboot\n"]);
    expect(await timeline()).toBe(full);
    expect(await post(urls.phoneHome(token))).toEqual([200, "ok\n"]);
    expect((await store.transact(() => sessionByToken(token), "read"))?.state).toBe("done");
    expect(await timeline()).toBe(full + 1);
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
    // A facility or plan that is not there is the input named, not the plan's stock.
    expect(
      (await failure(claim(store, "org/p/dev/f", { facility: "nowhere" }), InventoryConflict)).message,
    ).toBe("facility: nowhere is not in the inventory (facilities: lab1)");
    expect((await failure(claim(store, "org/p/dev/f", { plan: "x9.huge" }), InventoryConflict)).message).toBe(
      "plan: x9.huge is not in the inventory (plans: c3.small, m3.large)",
    );

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

  /** A request from a loopback address of our choosing (127.0.0.0/8 is all this host's). */
  const from = (address: string, url: string, method = "GET", body?: string) =>
    new Promise<[number, string]>((resolve, reject) => {
      const req = http.request(url, { method, localAddress: address }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve([res.statusCode!, text]));
      });
      req.on("error", reject);
      req.end(body);
    });

  test("a session's boot script goes to the first address that asks; another is refused and recorded", async () => {
    const { server, machine } = await claim(store, "org/p/dev/first");
    const mac = machine.nics[0]!.mac;
    const urls = bootServerUrls(boot.url);
    const token = await stageBoot(store, { server, machine }, "install", {
      ipxe: `#!ipxe\nchain ${urls.installerIgnition("T")}\n`,
      ignition: "{}",
      installerIgnition: "{}",
    });
    const script = (await store.transact(() => sessionByToken(token), "read"))!.staged.ipxe;
    expect(await from("127.0.0.2", urls.ipxe(mac))).toEqual([200, script]);
    // A reboot of the same machine (iPXE again, the same lease) still gets it.
    expect(await from("127.0.0.2", urls.ipxe(mac))).toEqual([200, script]);
    const refused = await from("127.0.0.3", urls.ipxe(mac));
    expect(refused).toEqual([403, "this machine's boot script was handed to another address already\n"]);
    expect(refused[1]).not.toContain(token);
    const session = await store.transact(() => sessionByToken(token), "read");
    // The session's message says so, for the provider's wait to name if it times out.
    expect(session).toMatchObject({
      bootClient: "127.0.0.2",
      state: "booting",
      message: `boot script refused to 127.0.0.3 (${mac}): handed to 127.0.0.2 first`,
    });
    const timeline = await store.transact(() => serverTimeline(server.id), "read");
    expect(timeline.slice(-3)).toEqual([
      expect.objectContaining({ action: "boot.fetched", detail: { message: `by ${mac}` } }),
      expect.objectContaining({ action: "boot.fetched" }),
      expect.objectContaining({
        action: "boot.refused",
        detail: { message: `boot script refused to 127.0.0.3 (${mac}): handed to 127.0.0.2 first` },
      }),
    ]);
    // The next session (a reinstall) is handed to whoever asks first again.
    const next = await stageBoot(store, { server, machine }, "install", { ipxe: "#!ipxe\nboot\n" });
    expect(await from("127.0.0.3", urls.ipxe(mac))).toEqual([200, "#!ipxe\nboot\n"]);
    expect((await store.transact(() => sessionByToken(next), "read"))?.bootClient).toBe("127.0.0.3");
  });

  test("with --allow, install and wipe scripts and configs go to the provisioning network only; reports come from anywhere", async () => {
    const guarded = await startBootServer(store, { allow: ["127.0.0.2/32", "fd00:10::/64"] });
    try {
      const { server, machine } = await claim(store, "org/p/dev/allow");
      const mac = machine.nics[0]!.mac;
      const urls = bootServerUrls(guarded.url);
      const token = await stageBoot(store, { server, machine }, "install", {
        ipxe: "#!ipxe\nboot\n",
        ignition: '{"ignition":{"version":"3.4.0"}}',
        installerIgnition: "{}",
      });
      const outside = [403, "boot scripts and configs are served on the provisioning network only\n"];
      // The chain to a script by MAC says nothing of any machine: any network may have it.
      expect(await from("127.0.0.1", `${guarded.url}/boot.ipxe`)).toEqual([
        200,
        `#!ipxe\nchain ${guarded.url}/boot/\${net0/mac}.ipxe\n`,
      ]);
      expect(await from("127.0.0.1", urls.ipxe(mac))).toEqual(outside);
      expect(await from("127.0.0.1", urls.ignition(token))).toEqual(outside);
      // Refused with nothing recorded: no fetch, the session still unbound.
      expect(await store.transact(() => sessionByToken(token), "read")).toMatchObject({
        state: "staged",
        bootClient: null,
        reports: 0,
      });
      expect(await from("127.0.0.2", urls.ipxe(mac))).toEqual([200, "#!ipxe\nboot\n"]);
      expect(await from("127.0.0.2", urls.ignition(token))).toEqual([
        200,
        '{"ignition":{"version":"3.4.0"}}',
      ]);
      // The installed system reports from its own address.
      expect(await from("127.0.0.1", urls.phoneHome(token), "POST")).toEqual([200, "ok\n"]);
      expect((await store.transact(() => sessionByToken(token), "read"))?.state).toBe("done");
      // Installed, it may netboot on its own (layer-3) network: it is told to boot its disk there,
      // as anywhere, and gets no config.
      const local = await from("127.0.0.1", urls.ipxe(mac));
      expect(local[0]).toBe(200);
      expect(local[1]).toMatch(/^#!ipxe\n.*\nexit\n$/s);
      expect(await from("127.0.0.1", urls.ignition(token))).toEqual(outside);
    } finally {
      await guarded.close();
    }
    await expect(startBootServer(store, { allow: ["10.0.0.0/33"] })).rejects.toThrow(
      "allow: expected a CIDR of the provisioning network, e.g. 10.0.0.0/24 or fd00:10::/64, not 10.0.0.0/33",
    );
  });

  test("netboot by MAC, config by token, reports move the session; finished sessions serve nothing", async () => {
    const { server, machine } = await claim(store, "org/p/dev/a");
    const token = randomBytes(24).toString("base64url");
    const urls = bootServerUrls(boot.url);
    const ipxe = `#!ipxe\nkernel http://mirror/vmlinuz ignition.config.url=${urls.installerIgnition(token)} baremetal.events=${urls.events(token)}\nboot\n`;
    await store.transact((at) =>
      stageSession(
        {
          token,
          serverId: server.id,
          machineId: machine.id,
          kind: "install",
          staged: {
            ipxe,
            ignition: '{"ignition":{"version":"3.4.0"}}',
            installerIgnition: '{"ignition":{"version":"3.3.0"}}',
          },
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
    expect(await get(urls.installerIgnition(token))).toEqual([200, '{"ignition":{"version":"3.3.0"}}']);
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
    expect((await get(urls.installerIgnition(token)))[0]).toBe(404);
    expect((await get(urls.ipxe("0c:c4:7a:00:00:01")))[1]).toMatch(/exit/);

    const timeline = await store.transact(() => serverTimeline(server.id), "read");
    expect(timeline.map((t) => t.action)).toEqual([
      "server.claim",
      "install.staged",
      "boot.fetched",
      "config.fetched",
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

describe("the boot server's image mirror (--assets)", () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let boot: BootServer;
  let plain: BootServer;
  let root: string;
  const KERNEL = randomBytes(300_000);

  /** The path exactly as written (fetch would resolve the dots before sending). */
  const raw = (server: BootServer, target: string, method = "GET") =>
    new Promise<{ status: number; length?: string; body: Buffer }>((resolve, reject) => {
      const u = new URL(server.url);
      const req = http.request({ host: u.hostname, port: u.port, path: target, method }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            length: res.headers["content-length"],
            body: Buffer.concat(chunks),
          }),
        );
      });
      req.on("error", reject);
      req.end();
    });

  beforeAll(async () => {
    ({ store, cleanup } = await freshStore(sqliteBackend));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-assets-test-"));
    root = path.join(dir, "mirror");
    fs.mkdirSync(path.join(root, "flatcar"), { recursive: true });
    fs.writeFileSync(path.join(root, "flatcar", "flatcar_production_pxe.vmlinuz"), KERNEL);
    fs.writeFileSync(path.join(dir, "secret"), "not for machines");
    fs.writeFileSync(path.join(root, ".hidden"), "a mirror's dotfile");
    fs.symlinkSync(path.join(dir, "secret"), path.join(root, "flatcar", "escape"));
    boot = await startBootServer(store, { assets: root });
    plain = await startBootServer(store);
  });
  afterAll(async () => {
    await boot.close();
    await plain.close();
    await cleanup();
    fs.rmSync(path.dirname(root), { recursive: true, force: true });
  });

  test("serves the mirror's files whole, with their length; HEAD sends only the length", async () => {
    const got = await raw(boot, "/assets/flatcar/flatcar_production_pxe.vmlinuz");
    expect(got.status).toBe(200);
    expect(got.length).toBe(String(KERNEL.length));
    expect(got.body.equals(KERNEL)).toBe(true);
    const head = await raw(boot, "/assets/flatcar/flatcar_production_pxe.vmlinuz", "HEAD");
    expect([head.status, head.length, head.body.length]).toEqual([200, String(KERNEL.length), 0]);
  });

  test.each([
    "/assets/flatcar/../../secret",
    "/assets/flatcar/%2e%2e/%2e%2e/secret",
    "/assets/flatcar%2f..%2f..%2fsecret",
    "/assets/flatcar/escape",
    "/assets/flatcar",
    "/assets/flatcar/",
    "/assets/nope",
    "/assets/%zz",
    "/assets/.hidden",
  ])("nothing outside the mirror, no directories, no listings: %s is 404", async (target) => {
    const got = await raw(boot, target);
    expect(got.status).toBe(404);
    expect(got.body.toString()).not.toContain("not for machines");
  });

  test("a mirror that is not a directory is refused at start, by name", async () => {
    const file = path.join(root, "flatcar", "flatcar_production_pxe.vmlinuz");
    for (const dir of [path.join(root, "missing"), file]) {
      await expect(startBootServer(store, { assets: dir })).rejects.toThrow(
        `assets: ${dir} is not a directory (the image mirror to serve under /assets/)`,
      );
    }
  });

  test("without --assets there is no mirror", async () => {
    expect((await raw(plain, "/assets/flatcar/flatcar_production_pxe.vmlinuz")).status).toBe(404);
  });
});
