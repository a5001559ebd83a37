// The built-in lab (provider/lab) driven by the REAL drivers, unchanged: RedfishBmc over HTTPS
// with a pinned certificate, the linux-bridge-per-vlan switch driver over SSH with a pinned host
// key, and simulated machines netbooting from a boot server this test serves itself.
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { Client } from "ssh2";
import { RedfishBmc, type RedfishEndpoint } from "../../provider/hardware/bmc";
import { HardwareError } from "../../provider/hardware/errors";
import { openSwitch, type Switch } from "../../provider/hardware/switch";
import { parseInventory, toInventoryFile } from "../../provider/inventory/schema";
import { LAB_ENV, startBuiltinLab, type BuiltinLab, type LabMachine } from "../../provider/lab";
import { RedfishSim } from "../../provider/lab/redfish-sim";
import { makeCertificate } from "../../provider/lab/tls-cert";
import { SwitchSim } from "../../provider/lab/switch-sim";
import { bootServerUrls } from "../../provider/provisioning/urls";
import { failure as failureOf } from "../helpers/failure";

jest.setTimeout(60_000);

const FAST = { commandMs: 4000, confirmMs: 4000, pollIntervalMs: 50 };
const NO_RETRY = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };
const PROVISIONING_VLAN = 10;
const failure = (p: Promise<unknown>) => failureOf(p, HardwareError);

// ---- a tiny boot server: iPXE by MAC (chained once), an Ignition config, events, phone-home

type Mode = "install" | "cloud-init" | "wipe" | "local" | "missing";

class BootServer {
  readonly log: string[] = [];
  readonly modes = new Map<string, Mode>();
  private server?: http.Server;
  base = "";

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        this.log.push(`${req.method} ${req.url}${body ? ` ${body}` : ""}`);
        const r = this.answer(req.method!, req.url!);
        res.writeHead(r ? 200 : 404, { "Content-Type": "text/plain" }).end(r ?? "not found");
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  static token = (mac: string) => `tok-${mac.replace(/:/g, "")}`;

  /** What the server received for one machine's token or MAC. */
  seen(mac: string): string[] {
    const token = BootServer.token(mac);
    return this.log.filter((l) => l.includes(token) || l.includes(mac));
  }

  private answer(method: string, path: string): string | undefined {
    const urls = bootServerUrls(this.base);
    let m: RegExpExecArray | null;
    if (method === "GET" && (m = /^\/boot\/([0-9a-f:]+)\.ipxe$/.exec(path))) {
      const mode = this.modes.get(m[1]!) ?? "install";
      if (mode === "missing") return undefined;
      // Chained once, with iPXE's own variable for the MAC, as DHCP-served scripts often are.
      return `#!ipxe\necho lab\nchain --autofree ${this.base}/boot/stage2/\${net0/mac}.ipxe\n`;
    }
    if (method === "GET" && (m = /^\/boot\/stage2\/([0-9a-f:]+)\.ipxe$/.exec(path))) {
      const mac = m[1]!;
      const token = BootServer.token(mac);
      const mode = this.modes.get(mac) ?? "install";
      if (mode === "local") return "#!ipxe\nsanboot --no-describe --drive 0x80\n";
      const args =
        mode === "wipe"
          ? `baremetal.mode=wipe baremetal.events=${urls.events(token)}`
          : mode === "cloud-init"
            ? // No baremetal.events=: the machine reports next to the phone-home URL.
              `autoinstall "ds=nocloud-net;s=${urls.cloudInit(token)}"`
            : `ignition.config.url=${urls.installerIgnition(token)} baremetal.events=${urls.events(token)}`;
      return `#!ipxe\nkernel http://x/vmlinuz initrd=initrd console=ttyS0 ${args}\ninitrd http://x/initrd\nboot\n`;
    }
    if (method === "GET" && (m = /^\/config\/([^/]+)\/installer-ignition\.json$/.exec(path))) {
      // As Flatcar's: a script that fetches the installed system's config and installs with it.
      const script = `curl -o /tmp/ignition.json '${urls.ignition(m[1]!)}'\nflatcar-install -i /tmp/ignition.json\n`;
      return JSON.stringify({
        ignition: { version: "3.4.0" },
        storage: {
          files: [{ path: "/opt/install", contents: { source: `data:,${encodeURIComponent(script)}` } }],
        },
      });
    }
    if (method === "GET" && (m = /^\/config\/([^/]+)\/ignition\.json$/.exec(path))) {
      const unit = `[Service]\nExecStart=/usr/bin/curl -fsS -X POST ${urls.phoneHome(m[1]!)}\n`;
      return JSON.stringify({
        ignition: { version: "3.4.0" },
        systemd: { units: [{ name: "phone-home.service", enabled: true, contents: unit }] },
      });
    }
    if (method === "GET" && (m = /^\/config\/([^/]+)\/cloud-init\/user-data$/.exec(path))) {
      return `#cloud-config\nruncmd:\n  - [curl, -fsS, -X, POST, "${urls.phoneHome(m[1]!)}"]\n`;
    }
    if (method === "POST" && (/^\/events\//.test(path) || /^\/phone-home\//.test(path))) return "{}";
    return undefined;
  }
}

// ---- helpers

function redfish(lab: BuiltinLab, m: LabMachine, extra: Partial<RedfishEndpoint> = {}): RedfishEndpoint {
  return {
    url: m.redfishUrl,
    username: lab.redfish.username,
    password: lab.redfish.password,
    tls: { fingerprint256: lab.redfish.fingerprint256 },
    systemId: m.systemId,
    ...extra,
  };
}

/** One raw HTTPS request to the lab's Redfish service (trusting its certificate as a CA). */
function raw(
  lab: BuiltinLab,
  method: string,
  path: string,
  opts: { body?: unknown; headers?: Record<string, string>; auth?: boolean } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const url = new URL(path, lab.redfish.url);
  const basic = Buffer.from(`${lab.redfish.username}:${lab.redfish.password}`).toString("base64");
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        ca: lab.redfish.caCert,
        agent: false,
        headers: {
          ...(opts.auth === false ? {} : { Authorization: `Basic ${basic}` }),
          ...(body ? { "Content-Type": "application/json" } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function sshExec(
  lab: BuiltinLab,
  command: string | "shell",
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once("error", reject);
    c.once("ready", () => {
      const done = (err: Error | undefined, stream: import("ssh2").ClientChannel) => {
        if (err) return reject(err);
        let stdout = "";
        let stderr = "";
        stream.on("data", (d: Buffer) => (stdout += d));
        stream.stderr.on("data", (d: Buffer) => (stderr += d));
        stream.on("close", (code: number | null) => {
          c.end();
          resolve({ code, stdout, stderr });
        });
      };
      if (command === "shell") c.shell(false, done);
      else c.exec(command, done);
    });
    c.connect({
      host: lab.switch.host,
      port: lab.switch.port,
      username: lab.switch.username,
      privateKey: lab.switch.privateKey,
      hostVerifier: () => true,
    });
  });
}

describe("the built-in lab", () => {
  let lab: BuiltinLab;
  let boot: BootServer;
  let sw: Switch;
  const switchEndpoint = (extra: object = {}) => ({
    host: lab.switch.host,
    port: lab.switch.port,
    username: lab.switch.username,
    hostKeyFingerprint: lab.switch.hostKeyFingerprint,
    password: lab.switch.password,
    ...extra,
  });

  beforeAll(async () => {
    boot = new BootServer();
    await boot.start();
    const started = Date.now();
    lab = await startBuiltinLab({
      machines: 6,
      bootServerUrl: boot.base,
      installTimeMs: 200,
      provisioningVlan: PROVISIONING_VLAN,
    });
    console.log(`built-in lab with 6 machines started in ${Date.now() - started} ms`);
    sw = openSwitch(switchEndpoint(), "linux-bridge-per-vlan", { commandTimeoutMs: 5000 });
  });

  afterAll(async () => {
    await sw?.close();
    await lab?.stop();
    await boot?.stop();
  });

  describe("Redfish, through RedfishBmc", () => {
    test("session auth; power on, cycle and off, each confirmed by read-back; close ends the session", async () => {
      const m = lab.machines[0]!;
      const sim = lab.redfish.sims[0]!;
      const before = { ...sim.stats };
      const bmc = new RedfishBmc(redfish(lab, m), { timeouts: FAST });
      await bmc.setPower("on");
      expect(m.system.power).toBe("On");
      expect(await bmc.powerState()).toBe("on");

      await bmc.setPower("cycle");
      const power = m.system.events().filter((e) => e.startsWith("power "));
      expect(power.slice(-2)).toEqual(["power Off", "power On"]);

      await bmc.setPower("soft-off");
      expect(m.system.events()).toContain("reset GracefulShutdown");
      await bmc.setPower("on");
      await bmc.setPower("off");
      expect(m.system.events()).toContain("reset ForceOff");
      expect(await bmc.powerState()).toBe("off");

      expect(sim.stats.sessionsCreated).toBe(before.sessionsCreated + 1);
      expect(sim.stats.tokenRequests).toBeGreaterThan(before.tokenRequests);
      expect(sim.stats.basicAuthRequests).toBe(before.basicAuthRequests);
      await bmc.close();
    });

    // A driver bug the lab found: RedfishBmc.close() clears its token before it builds the
    // DELETE's headers, so the DELETE goes out without credentials and the service (rightly)
    // answers 401; the session stays open until the BMC times it out. Real BMCs cap sessions,
    // so a provider that opens many can lock itself out. Drop `.failing` once close() is fixed.
    test("close() deletes the driver's session", async () => {
      const sim = lab.redfish.sims[0]!;
      const bmc = new RedfishBmc(redfish(lab, lab.machines[0]!), { timeouts: FAST });
      await bmc.powerState();
      const deleted = sim.stats.sessionsDeleted;
      await bmc.close();
      expect(sim.stats.sessionsDeleted).toBe(deleted + 1);
    });

    test("basic auth and CA trust work too; with a power delay PowerState reads PoweringOn meanwhile", async () => {
      const m = lab.machines[1]!;
      m.system.powerDelayMs = 300;
      try {
        const bmc = new RedfishBmc(redfish(lab, m, { auth: "basic", tls: { ca: lab.redfish.caCert } }), {
          timeouts: FAST,
        });
        const on = bmc.setPower("on");
        await new Promise((r) => setTimeout(r, 100));
        const mid = await raw(lab, "GET", `/redfish/v1/Systems/${m.systemId}`);
        expect(JSON.parse(mid.body).PowerState).toBe("PoweringOn");
        await on;
        expect(m.system.power).toBe("On");
        await bmc.setPower("off");
        await bmc.close();
      } finally {
        m.system.powerDelayMs = 0;
      }
    });

    test("an off asked for while the machine is PoweringOn waits for it to settle, then powers it off", async () => {
      const m = lab.machines[1]!;
      m.system.setPower("Off");
      m.system.powerDelayMs = 300;
      try {
        const first = new RedfishBmc(redfish(lab, m), { timeouts: FAST });
        const second = new RedfishBmc(redfish(lab, m), { timeouts: FAST });
        // Whether the first sees its "on" before the second's off begins is a race; not asserted.
        const on = first.setPower("on").catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
        expect(JSON.parse((await raw(lab, "GET", `/redfish/v1/Systems/${m.systemId}`)).body).PowerState).toBe(
          "PoweringOn",
        );
        // Read as "off" (the state it leaves), the request was skipped and the machine came up.
        await second.setPower("off");
        await on;
        expect(m.system.power).toBe("Off");
        expect(m.system.events().filter((e) => e.startsWith("reset "))).toEqual(
          expect.arrayContaining(["reset On", "reset ForceOff"]),
        );
        await first.close();
        await second.close();
      } finally {
        m.system.powerDelayMs = 0;
      }
    });

    test("a reset whose answer is lost is not sent again: the read-back finds it took", async () => {
      const m = lab.machines[1]!;
      m.system.setPower("Off");
      m.system.faults.lostResetAnswers = 1;
      const resets = () => m.system.events().filter((e) => e.startsWith("reset ")).length;
      const before = resets();
      try {
        const bmc = new RedfishBmc(redfish(lab, m), { timeouts: { ...FAST, commandMs: 500 } });
        await bmc.setPower("on");
        expect(m.system.power).toBe("On");
        expect(resets() - before).toBe(1);
        await bmc.setPower("off");
        await bmc.close();
      } finally {
        m.system.faults.lostResetAnswers = 0;
      }
    });

    test("a reset refused for now (iDRAC 10's 409 right after an off) is sent again after a pause", async () => {
      const m = lab.machines[1]!;
      m.system.setPower("Off");
      m.system.faults.notNow = 1;
      try {
        const bmc = new RedfishBmc(redfish(lab, m), { timeouts: FAST });
        await bmc.setPower("on");
        expect(m.system.power).toBe("On");
        expect(
          m.system
            .events()
            .filter((e) => e.includes("reset On"))
            .slice(-2),
        ).toEqual(["409 reset On", "reset On"]);
        await bmc.setPower("off");
        await bmc.close();
      } finally {
        m.system.faults.notNow = 0;
      }
    });

    test("past the BMC's session limit (iDRAC's RAC0218) the driver uses basic auth", async () => {
      const m = lab.machines[1]!;
      const sim = lab.redfish.sims[0]!;
      sim.sessionsFull = true;
      const created = sim.stats.sessionsCreated;
      try {
        const bmc = new RedfishBmc(redfish(lab, m), { timeouts: FAST });
        expect(await bmc.powerState()).toBe("off");
        await bmc.setPower("on");
        expect(sim.stats.sessionsCreated).toBe(created);
        await bmc.setPower("off");
        await bmc.close();
      } finally {
        sim.sessionsFull = false;
      }
    });

    test("boot device: pxe once, then disk continuous, read back", async () => {
      const m = lab.machines[1]!;
      const bmc = new RedfishBmc(redfish(lab, m), { timeouts: FAST });
      await bmc.setBootDevice("pxe", { persistent: false });
      expect(await bmc.bootDevice()).toEqual({ device: "pxe", persistent: false, mode: "uefi" });
      expect(m.system.boot).toEqual({ target: "Pxe", enabled: "Once" });
      await bmc.setBootDevice("disk", { persistent: true });
      expect(await bmc.bootDevice()).toEqual({ device: "disk", persistent: true, mode: "uefi" });
      await bmc.close();
    });

    test("boot mode: set where it differs, kept on a Supermicro, named when an HPE BMC refuses it", async () => {
      const m = lab.machines[1]!;
      const withMode = (bootMode?: "uefi" | "legacy") =>
        new RedfishBmc(redfish(lab, m, bootMode ? { bootMode } : {}), { timeouts: FAST });
      try {
        // A machine in legacy mode whose inventory says uefi: the override asks for UEFI.
        m.system.mode = "Legacy";
        let bmc = withMode("uefi");
        await bmc.setBootDevice("pxe", { persistent: false });
        expect(m.system.mode).toBe("UEFI");
        expect(await bmc.bootDevice()).toEqual({ device: "pxe", persistent: false, mode: "uefi" });
        await bmc.close();

        // Supermicro falls back to Legacy when the mode is left out: it is always sent there,
        // its current one when the inventory names none.
        m.system.vendor = "supermicro";
        for (const mode of ["uefi", undefined] as const) {
          bmc = withMode(mode);
          await bmc.setBootDevice("disk", { persistent: true });
          expect([mode, m.system.mode]).toEqual([mode, "UEFI"]);
          await bmc.close();
        }

        // HPE refuses any write of the mode: none is sent while it agrees; one that differs is
        // named, with what to change.
        m.system.vendor = "hpe";
        bmc = withMode("uefi");
        await bmc.setBootDevice("pxe", { persistent: false });
        m.system.mode = "Legacy";
        const e = await failure(bmc.setBootDevice("pxe", { persistent: false }));
        expect([e.code, e.transient]).toEqual(["BmcUnsupported", false]);
        expect(e.message).toContain("refused BootSourceOverrideMode UEFI (the machine boots Legacy)");
        expect(e.message).toContain("set the machine's bmc.bootMode in the inventory");
        await bmc.close();
      } finally {
        m.system.vendor = "lab";
        m.system.mode = "UEFI";
      }
    });

    test("If-Match: a stale ETag is 412; the driver re-reads and retries; a lasting conflict is an error", async () => {
      const m = lab.machines[1]!;
      const path = `/redfish/v1/Systems/${m.systemId}`;
      const read = await raw(lab, "GET", path);
      expect(read.headers.etag).toBe(JSON.parse(read.body)["@odata.etag"]);
      const body = { Boot: { BootSourceOverrideTarget: "Pxe", BootSourceOverrideEnabled: "Once" } };
      const stale = await raw(lab, "PATCH", path, { body, headers: { "If-Match": 'W/"0"' } });
      expect(stale.status).toBe(412);
      const fresh = await raw(lab, "PATCH", path, { body, headers: { "If-Match": read.headers.etag! } });
      expect(fresh.status).toBe(204);

      const bmc = new RedfishBmc(redfish(lab, m), { timeouts: FAST, retry: NO_RETRY });
      m.system.faults.etagConflicts = 1;
      await bmc.setBootDevice("disk", { persistent: false });
      expect(m.system.events().slice(-2)).toEqual(["412 stale If-Match", "boot Hdd Once"]);

      m.system.faults.etagConflicts = 5;
      const e = await failure(bmc.setBootDevice("pxe", { persistent: false }));
      expect(e.code).toBe("BmcError");
      expect(e.message).toMatch(/HTTP 412/);
      m.system.faults.etagConflicts = 0;
      await bmc.close();
    });

    test("a wrong password, and a system that refuses its credential, are BmcAuthFailed", async () => {
      const m = lab.machines[2]!;
      const wrong = new RedfishBmc(redfish(lab, m, { password: "wrong-secret" }), { timeouts: FAST });
      const e = await failure(wrong.powerState());
      expect(e.code).toBe("BmcAuthFailed");
      expect(e.message).not.toContain("wrong-secret");
      expect(e.message).not.toContain(lab.redfish.password);

      m.system.faults.authFails = true;
      try {
        const bmc = new RedfishBmc(redfish(lab, m), { timeouts: FAST });
        expect((await failure(bmc.powerState())).code).toBe("BmcAuthFailed");
        await bmc.close();
      } finally {
        m.system.faults.authFails = false;
      }
    });

    test("stuck: the change is accepted and never applied, so the driver says BmcTimeout", async () => {
      const m = lab.machines[2]!;
      m.system.faults.stuck = true;
      try {
        const bmc = new RedfishBmc(redfish(lab, m), {
          timeouts: { ...FAST, confirmMs: 300 },
          retry: NO_RETRY,
        });
        const e = await failure(bmc.setPower("on"));
        expect(e.code).toBe("BmcTimeout");
        expect(m.system.events()).toContain("reset On");
        expect(m.system.power).toBe("Off");
        await bmc.close();
      } finally {
        m.system.faults.stuck = false;
      }
    });

    test("unreachable and busy systems; a certificate that does not match the pin", async () => {
      const m = lab.machines[2]!;
      const retry = { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 };
      m.system.faults.unreachable = true;
      const gone = new RedfishBmc(redfish(lab, m), { timeouts: FAST, retry });
      expect((await failure(gone.powerState())).code).toBe("BmcUnreachable");
      m.system.faults.unreachable = false;
      m.system.faults.busy = true;
      const busy = new RedfishBmc(redfish(lab, m), { timeouts: FAST, retry });
      expect((await failure(busy.powerState())).code).toBe("BmcBusy");
      m.system.faults.busy = false;
      expect(await busy.powerState()).toBe("off");
      await Promise.all([gone.close(), busy.close()]);

      const pinned = new RedfishBmc(redfish(lab, m, { tls: { fingerprint256: "00".repeat(32) } }), {
        timeouts: FAST,
      });
      expect((await failure(pinned.powerState())).code).toBe("BmcUntrusted");
    });

    test("drivers for different systems behind one BMC address share its connections", async () => {
      const sim = lab.redfish.sims[0]!;
      const before = sim.stats.connections;
      // One after another, as a provider works through servers behind a chassis manager.
      for (const m of lab.machines.slice(0, 4)) {
        const bmc = new RedfishBmc(redfish(lab, m), { timeouts: FAST });
        expect(await bmc.powerState()).toMatch(/on|off/);
        await bmc.close();
      }
      // Each used to open its own, a TLS handshake per server; now at most the first connects.
      expect(sim.stats.connections - before).toBeLessThanOrEqual(1);
    });

    test("a BMC that never answers: every call is a BmcTimeout within its deadline, queued ones too", async () => {
      const cert = await makeCertificate();
      const held: http.ServerResponse[] = [];
      let open = 0;
      const server = https.createServer({ key: cert.key, cert: cert.cert }, (_req, res) => held.push(res));
      server.on("secureConnection", (socket) => {
        open++;
        socket.once("close", () => open--);
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const commandMs = 600;
        // More calls than the connections allowed to one BMC: the last ones wait for a free
        // connection, and that wait counts against their deadline too.
        const calls = Array.from({ length: 12 }, async (_, i) => {
          const bmc = new RedfishBmc(
            {
              url,
              username: "admin",
              password: "secret",
              auth: "basic",
              tls: { fingerprint256: cert.fingerprint256 },
              systemId: `s${i}`,
            },
            { timeouts: { ...FAST, commandMs }, retry: NO_RETRY },
          );
          const started = Date.now();
          const e = await failure(bmc.powerState());
          return { code: e.code, message: e.message, ms: Date.now() - started };
        });
        // Half way to the deadline every call has been made; only 8 of them have a connection.
        await new Promise((resolve) => setTimeout(resolve, commandMs / 2));
        const openMidway = open;
        const waiting = held.length;
        const results = await Promise.all(calls);
        for (const r of results) {
          expect(r.code).toBe("BmcTimeout");
          expect(r.message).toBe(`Redfish BMC ${url}: no answer within ${commandMs} ms`);
          expect(r.ms).toBeLessThan(commandMs * 1.8);
        }
        expect([openMidway, waiting]).toEqual([8, 8]); // the bound on connections to one BMC
      } finally {
        for (const res of held) res.destroy();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    test("a BMC's answers can neither send the credential to another address nor flood memory", async () => {
      const cert = await makeCertificate();
      const seen: string[] = [];
      const elsewhere = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
        seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""}`);
        res.end("{}");
      });
      await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
      const other = `https://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
      const bmc = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
        res.setHeader("Content-Type", "application/json");
        if (req.url === "/redfish/v1/Systems/big")
          return res.end(JSON.stringify({ pad: "x".repeat(5 << 20) }));
        res.end(
          JSON.stringify({
            PowerState: "Off",
            // A reset target on another host: following it would hand that host the password.
            Actions: {
              "#ComputerSystem.Reset": {
                target: `${other}/reset`,
                "ResetType@Redfish.AllowableValues": ["On"],
              },
            },
          }),
        );
      });
      await new Promise<void>((resolve) => bmc.listen(0, "127.0.0.1", resolve));
      const url = `https://127.0.0.1:${(bmc.address() as AddressInfo).port}`;
      const driver = (systemId: string) =>
        new RedfishBmc(
          {
            url,
            username: "admin",
            password: "secret",
            auth: "basic",
            tls: { fingerprint256: cert.fingerprint256 },
            systemId,
          },
          { timeouts: FAST, retry: NO_RETRY },
        );
      try {
        const moved = driver("s1");
        expect(await moved.powerState()).toBe("off");
        const refused = await failure(moved.setPower("on"));
        expect(refused.code).toBe("BmcError");
        expect(refused.message).toBe(
          `Redfish BMC ${url}: refusing to send a request to ${other}, another address`,
        );
        expect(seen).toEqual([]);

        const flood = await failure(driver("big").powerState());
        expect(flood.code).toBe("BmcError");
        expect(flood.message).toMatch(/answer larger than 4194304 bytes/);
      } finally {
        for (const s of [bmc, elsewhere]) {
          s.closeAllConnections();
          await new Promise<void>((resolve) => s.close(() => resolve()));
        }
      }
    });

    test("the service root needs no credential; systems do; bad input is 400", async () => {
      const root = await raw(lab, "GET", "/redfish/v1/", { auth: false });
      expect(root.status).toBe(200);
      expect(JSON.parse(root.body).Links.Sessions["@odata.id"]).toBe("/redfish/v1/SessionService/Sessions");
      expect((await raw(lab, "GET", "/redfish/v1/Systems", { auth: false })).status).toBe(401);
      const login = await raw(lab, "POST", "/redfish/v1/SessionService/Sessions", {
        auth: false,
        body: { UserName: lab.redfish.username, Password: lab.redfish.password },
      });
      expect(login.status).toBe(201);
      const token = { "X-Auth-Token": login.headers["x-auth-token"] as string };
      const location = login.headers.location!;
      expect((await raw(lab, "GET", "/redfish/v1/Systems", { auth: false, headers: token })).status).toBe(
        200,
      );
      expect((await raw(lab, "DELETE", location, { auth: false })).status).toBe(401);
      expect((await raw(lab, "DELETE", location, { auth: false, headers: token })).status).toBe(204);
      expect((await raw(lab, "GET", "/redfish/v1/Systems", { auth: false, headers: token })).status).toBe(
        401,
      );
      const refused = await raw(lab, "POST", "/redfish/v1/SessionService/Sessions", {
        auth: false,
        body: { UserName: lab.redfish.username, Password: "wrong" },
      });
      expect(refused.status).toBe(401);
      const list = JSON.parse((await raw(lab, "GET", "/redfish/v1/Systems")).body);
      expect(list.Members).toHaveLength(lab.machines.length);
      const m = lab.machines[3]!;
      const reset = `/redfish/v1/Systems/${m.systemId}/Actions/ComputerSystem.Reset`;
      expect((await raw(lab, "POST", reset, { body: { ResetType: "Nudge" } })).status).toBe(400);
      expect((await raw(lab, "POST", reset, { body: { ResetType: "ForceRestart" } })).status).toBe(204);
      expect(m.system.power).toBe("On"); // a restart of a machine that is off turns it on
      expect((await raw(lab, "POST", reset, { body: { ResetType: "PowerCycle" } })).status).toBe(204);
      expect(m.system.events().slice(-2)).toEqual(["power Off", "power On"]);
      expect((await raw(lab, "POST", reset, { body: { ResetType: "ForceOff" } })).status).toBe(204);
      expect((await raw(lab, "GET", "/redfish/v1/Systems/nope")).status).toBe(404);
    });
  });

  describe("the switch, through the linux-bridge-per-vlan driver", () => {
    test("VLANs, access ports, read-back, and the lab's view of which VLAN a machine is in", async () => {
      await sw.ensureVlan(100);
      await sw.ensureVlan(100); // already there: no error
      await sw.ensureVlan(200);
      expect(await sw.listVlans()).toEqual([100, 200]);
      const results = await Promise.all([
        sw.setAccess("swp1", 100),
        sw.setAccess("swp2", 100),
        sw.setAccess("swp3", 200),
      ]);
      expect(results.map((r) => r.vlan)).toEqual([100, 100, 200]);
      expect(await sw.readPort("swp3")).toEqual({ port: "swp3", mode: "access", vlan: 200 });
      expect(lab.vlanOf(lab.machines[0]!.id)).toBe(100);
      expect(lab.vlanOf(lab.machines[2]!.id)).toBe(200);
      expect(lab.switch.sim.vlanOfMac(lab.machines[2]!.mac)).toBe(200);

      await sw.setAccess("swp3", 100); // moved in one step
      expect(lab.vlanOf(lab.machines[2]!.id)).toBe(100);
      const inUse = await failure(sw.removeVlan(100));
      expect(inUse.code).toBe("VlanInUse");
      expect(inUse.message).toMatch(/swp1, swp2, swp3/);
      for (const p of ["swp1", "swp2", "swp3"]) await sw.resetPort(p);
      expect(await sw.readPort("swp3")).toEqual({ port: "swp3", mode: "none" });
      expect(lab.vlanOf(lab.machines[2]!.id)).toBeUndefined();
      await sw.removeVlan(100);
      await sw.removeVlan(100); // already gone: no error
      await sw.removeVlan(200);
      expect(await sw.listVlans()).toEqual([]);
    });

    test("a port or VLAN the switch does not have is a named error", async () => {
      expect((await failure(sw.setAccess("swp99", 100))).code).toBe("VlanNotFound");
      await sw.ensureVlan(300);
      expect((await failure(sw.setAccess("swp99", 300))).code).toBe("PortNotFound");
      await sw.removeVlan(300);
    });

    test("changes queued together reach the switch as one batch; a bad port in one fails alone", async () => {
      await sw.ensureVlan(400);
      const from = lab.switch.sim.commands().length;
      const results = await Promise.allSettled([
        sw.setAccess("swp4", 400),
        sw.setAccess("swp99", 400),
        sw.setAccess("swp5", 400),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(((results[1] as PromiseRejectedResult).reason as HardwareError).code).toBe("PortNotFound");
      expect([lab.vlanOf(lab.machines[3]!.id), lab.vlanOf(lab.machines[4]!.id)]).toEqual([400, 400]);
      // The batch, which the switch refused at swp99; then each change alone.
      const sent = lab.switch.sim.commands().slice(from);
      expect(sent.map((c) => c.replace(/^.* -> /, ""))).toEqual(["1", "0", "1", "0"]);
      expect(sent[0]).toMatch(/swp4 master vlan400.*swp99 master vlan400/);

      const reset = lab.switch.sim.commands().length;
      await Promise.all([sw.resetPort("swp4"), sw.resetPort("swp5")]);
      expect(lab.switch.sim.commands().slice(reset)).toHaveLength(1);
      expect(lab.vlanOf(lab.machines[3]!.id)).toBeUndefined();
      await sw.removeVlan(400);
    });

    test("host key pinning, key auth, and a wrong password", async () => {
      const impostor = openSwitch(
        switchEndpoint({ hostKeyFingerprint: "SHA256:" + "A".repeat(43) }),
        "linux-bridge-per-vlan",
      );
      const e = await failure(impostor.listVlans());
      expect(e.code).toBe("SwitchHostKeyMismatch");
      expect(e.message).toContain(lab.switch.hostKeyFingerprint);
      await impostor.close();

      const byKey = openSwitch(
        switchEndpoint({ password: undefined, privateKey: lab.switch.privateKey }),
        "linux-bridge-per-vlan",
      );
      expect(await byKey.listVlans()).toEqual([]);
      await byKey.close();

      const wrong = openSwitch(switchEndpoint({ password: "not-it" }), "linux-bridge-per-vlan", {
        retry: NO_RETRY,
      });
      const auth = await failure(wrong.listVlans());
      expect(auth.code).toBe("SwitchAuthFailed");
      expect(auth.message).not.toContain("not-it");
      await wrong.close();
    });

    test("refuse: every change fails with a named error, reads still work", async () => {
      lab.switch.sim.faults.refuse = true;
      try {
        const e = await failure(sw.ensureVlan(500));
        expect(e.code).toBe("SwitchCommandFailed");
        expect(e.message).toMatch(/switch-shell: refused: configuration is locked/);
        expect(await sw.listVlans()).toEqual([]);
      } finally {
        lab.switch.sim.faults.refuse = false;
      }
    });

    test("a dropped connection does not break the next change", async () => {
      expect(await sw.listVlans()).toEqual([]);
      lab.switch.sim.dropConnections();
      await sw.ensureVlan(400);
      expect(await sw.listVlans()).toEqual([400]);
      await sw.removeVlan(400);
    });

    test("a connection lost before a change's exit status: tried again, not taken for a failed command", async () => {
      lab.switch.sim.faults.dropAfterChange = 1;
      try {
        await sw.ensureVlan(410);
        expect(await sw.listVlans()).toEqual([410]);
        expect(lab.switch.sim.faults.dropAfterChange).toBe(0);
        await sw.removeVlan(410);
      } finally {
        lab.switch.sim.faults.dropAfterChange = 0;
      }
    });

    test("a batch's deadline grows with its commands: slow ones (SONiC's config, an NVUE apply) fit", async () => {
      const slow = openSwitch(switchEndpoint(), "linux-bridge-per-vlan", {
        commandTimeoutMs: 800,
        retry: NO_RETRY,
      });
      lab.switch.sim.faults.slowChangesMs = 1500;
      try {
        // Two lines and the read back: 800 ms and 2 s for each command after the first.
        await slow.ensureVlan(420);
        expect(await slow.listVlans()).toEqual([420]);
      } finally {
        lab.switch.sim.faults.slowChangesMs = 0;
        await slow.removeVlan(420);
        await slow.close();
      }
    });

    test("iproute2's own outputs and exit codes; a batch stops at its first failure", async () => {
      expect(await sshExec(lab, "ip link add name vlan700 type bridge")).toEqual({
        code: 0,
        stdout: "",
        stderr: "",
      });
      expect(await sshExec(lab, "ip link add name vlan700 type bridge")).toEqual({
        code: 2,
        stdout: "",
        stderr: "RTNETLINK answers: File exists\n",
      });
      expect(await sshExec(lab, "ip link set dev swp99 master vlan700")).toEqual({
        code: 1,
        stdout: "",
        stderr: 'Cannot find device "swp99"\n',
      });
      expect(await sshExec(lab, "ip link set dev swp1 master vlan701")).toEqual({
        code: 255,
        stdout: "",
        stderr: 'Error: argument "vlan701" is wrong: Device does not exist\n\n',
      });
      expect(await sshExec(lab, "ip -j -d link show dev swp99")).toEqual({
        code: 1,
        stdout: "",
        stderr: 'Device "swp99" does not exist.\n',
      });
      expect(await sshExec(lab, "bridge vlan add dev swp1 vid 100 pvid untagged master")).toMatchObject({
        code: 255,
        stderr: "RTNETLINK answers: Operation not supported\n",
      });

      const batch = await sshExec(
        lab,
        "ip link set dev swp1 master vlan700\nip link del dev vlan999\nip link set dev vlan700 up",
      );
      expect(batch).toEqual({ code: 1, stdout: "", stderr: 'Cannot find device "vlan999"\n' });
      const [port] = JSON.parse((await sshExec(lab, "ip -j -d link show dev swp1")).stdout) as {
        ifname: string;
        master?: string;
        flags: string[];
        operstate: string;
        linkinfo: { info_kind: string; info_slave_kind?: string };
      }[];
      expect(port).toMatchObject({ ifname: "swp1", master: "vlan700", operstate: "UP" });
      expect(port!.linkinfo).toMatchObject({ info_kind: "veth", info_slave_kind: "bridge" });
      const bridges = JSON.parse((await sshExec(lab, "ip -j link show type bridge")).stdout) as {
        ifname: string;
        flags: string[];
      }[];
      // The batch stopped before `up`.
      expect(bridges.find((b) => b.ifname === "vlan700")?.flags).not.toContain("UP");
      const all = (await sshExec(lab, "ip -j link show")).stdout;
      expect(all.endsWith("]\n")).toBe(true);
      expect((JSON.parse(all) as { ifname: string }[]).map((l) => l.ifname)).toEqual([
        "lo",
        ...lab.machines.map((m) => m.switchPort),
        "vlan700",
      ]);
      expect((await sshExec(lab, "ip link del dev vlan700")).code).toBe(0);
      expect(lab.switch.sim.model.masterOf("swp1")).toBeUndefined(); // deleting released it
      expect(await sshExec(lab, "ip link del dev vlan700")).toEqual({
        code: 1,
        stdout: "",
        stderr: 'Cannot find device "vlan700"\n',
      });
    });

    test("anything but the switch's commands is refused with 126, the whole batch unrun", async () => {
      for (const command of [
        "ip link show; touch /tmp/x",
        "ip -j link show && id",
        "ip -j link show $(id)",
        "ip link set dev lo down",
        "ip link del dev swp1",
        "sh",
        "ip link add name vlan800 type bridge\nid",
        "ip -j link show\r",
      ]) {
        const r = await sshExec(lab, command);
        expect({ command, code: r.code, stdout: r.stdout }).toEqual({ command, code: 126, stdout: "" });
        expect(r.stderr).toMatch(/^switch-shell: refused: /);
      }
      expect((await sshExec(lab, "ip -j link show $(id)")).stderr).toBe(
        "switch-shell: refused: bad token '$(id)'\n",
      );
      expect((await sshExec(lab, "sh")).stderr).toBe("switch-shell: refused: not a switch command: 'sh'\n");
      expect((await sshExec(lab, "shell")).stderr).toBe(
        "switch-shell: refused: no command (interactive sessions are not offered)\n",
      );
      expect(lab.switch.sim.model.bridges()).toEqual([]);
    });
  });

  describe("machines netboot from the boot server", () => {
    const bmcFor = (m: LabMachine) => new RedfishBmc(redfish(lab, m), { timeouts: FAST });

    beforeAll(async () => {
      await sw.ensureVlan(PROVISIONING_VLAN);
    });

    test("PXE once + power on: iPXE, the Ignition config, install.started, phone-home; the override is used up", async () => {
      const m = lab.machines[3]!;
      await sw.setAccess(m.switchPort, PROVISIONING_VLAN);
      expect(lab.vlanOf(m.id)).toBe(PROVISIONING_VLAN);
      const bmc = bmcFor(m);
      await bmc.setPower("off");
      await bmc.setBootDevice("pxe", { persistent: false });
      await bmc.setPower("on");
      await m.sim.waitFor("running", 5000);

      const urls = bootServerUrls(boot.base);
      const token = BootServer.token(m.mac);
      const path = (u: string) => new URL(u).pathname;
      expect(boot.seen(m.mac)).toEqual([
        `GET ${path(urls.ipxe(m.mac))}`,
        `GET /boot/stage2/${m.mac}.ipxe`,
        `GET ${path(urls.installerIgnition(token))}`,
        `GET ${path(urls.ignition(token))}`,
        `POST ${path(urls.events(token))} {"type":"install.started"}`,
        // The disk is written; then the installed system, booted from it, calls home.
        `POST ${path(urls.events(token))} {"type":"install.written"}`,
        `POST ${path(urls.phoneHome(token))}`,
      ]);
      expect(await bmc.bootDevice()).toEqual({ device: "none", persistent: false, mode: "uefi" });
      expect(m.sim.installed).toBe(true);

      // From disk after the install: running, and the boot server hears nothing.
      const heard = boot.seen(m.mac).length;
      await bmc.setPower("cycle");
      await m.sim.waitFor("running", 2000);
      expect(m.sim.reason).toBe("booted from disk");
      expect(boot.seen(m.mac)).toHaveLength(heard);
      await bmc.setPower("off");
      expect(m.sim.phase).toBe("off");
      await bmc.close();
    });

    test("a NIC outside the provisioning VLAN gets no netboot", async () => {
      const m = lab.machines[4]!;
      await sw.resetPort(m.switchPort);
      const bmc = bmcFor(m);
      await bmc.setBootDevice("pxe", { persistent: false });
      await bmc.setPower("on");
      await m.sim.waitFor("no-boot", 2000);
      expect(boot.seen(m.mac)).toEqual([]);
      expect(m.sim.history().join("\n")).toMatch(/no DHCP offer/);
      // The firmware used the one-time override all the same.
      expect(await bmc.bootDevice()).toEqual({ device: "none", persistent: false, mode: "uefi" });
      await bmc.setPower("off");
      await bmc.close();
    });

    test("wipe: a continuous PXE override stays; wipe.done goes to baremetal.events", async () => {
      const m = lab.machines[5]!;
      await sw.setAccess(m.switchPort, PROVISIONING_VLAN);
      boot.modes.set(m.mac, "wipe");
      m.sim.installed = true;
      const bmc = bmcFor(m);
      await bmc.setBootDevice("pxe", { persistent: true });
      await bmc.setPower("on");
      await m.sim.waitFor("wiped", 5000);
      expect(boot.seen(m.mac).slice(-2)).toEqual([
        `POST /events/${BootServer.token(m.mac)} {"type":"wipe.started"}`,
        `POST /events/${BootServer.token(m.mac)} {"type":"wipe.done"}`,
      ]);
      expect(m.sim.installed).toBe(false);
      expect(await bmc.bootDevice()).toEqual({ device: "pxe", persistent: true, mode: "uefi" });
      await bmc.setPower("off");
      await bmc.setBootDevice("disk", { persistent: false });
      await bmc.close();
    });

    test("faults: a failed install reports install.failed; neverCallsHome stays silent", async () => {
      const m = lab.machines[5]!;
      boot.modes.set(m.mac, "install");
      m.sim.faults = { installTimeMs: 50, failInstall: "disk 2 is missing" };
      const bmc = bmcFor(m);
      await bmc.setBootDevice("pxe", { persistent: false });
      await bmc.setPower("on");
      await m.sim.waitFor("failed", 5000);
      expect(boot.seen(m.mac).at(-1)).toBe(
        `POST /events/${BootServer.token(m.mac)} {"type":"install.failed","message":"disk 2 is missing"}`,
      );

      m.sim.faults = { installTimeMs: 50, neverCallsHome: true };
      await bmc.setPower("off");
      await bmc.setBootDevice("pxe", { persistent: false });
      await bmc.setPower("on");
      await m.sim.waitFor("running", 5000);
      expect(boot.seen(m.mac).some((l) => l.includes("/phone-home/"))).toBe(false);
      await bmc.setPower("off");
      await bmc.close();
    });

    test("power off mid-install aborts it: no phone-home follows", async () => {
      const m = lab.machines[5]!;
      m.sim.faults = { installTimeMs: 400 };
      m.sim.installed = false;
      const bmc = bmcFor(m);
      await bmc.setBootDevice("pxe", { persistent: false });
      await bmc.setPower("on");
      await m.sim.waitFor("installing", 3000);
      await bmc.setPower("off");
      await new Promise((r) => setTimeout(r, 600));
      expect(m.sim.phase).toBe("off");
      expect(m.sim.installed).toBe(false);
      expect(boot.seen(m.mac).some((l) => l.includes("/phone-home/"))).toBe(false);
      await bmc.close();
    });

    test("cloud-init: the NoCloud seed's user-data holds the phone-home URL", async () => {
      const m = lab.machines[5]!;
      boot.modes.set(m.mac, "cloud-init");
      m.sim.faults = { installTimeMs: 50 };
      const token = BootServer.token(m.mac);
      const bmc = bmcFor(m);
      await bmc.setBootDevice("pxe", { persistent: false });
      await bmc.setPower("on");
      await m.sim.waitFor("running", 5000);
      expect(boot.seen(m.mac).slice(-4)).toEqual([
        `GET /config/${token}/cloud-init/user-data`,
        `POST /events/${token} {"type":"install.started"}`,
        `POST /events/${token} {"type":"install.written"}`,
        `POST /phone-home/${token}`,
      ]);
      await bmc.setPower("off");
      m.sim.installed = false;
      await bmc.close();
    });

    test("a boot server with nothing for the MAC: the machine falls through to its empty disk", async () => {
      const m = lab.machines[5]!;
      boot.modes.set(m.mac, "missing");
      const bmc = bmcFor(m);
      await bmc.setBootDevice("pxe", { persistent: false });
      await bmc.setPower("on");
      await m.sim.waitFor("no-boot", 3000);
      await bmc.setPower("off");
      boot.modes.set(m.mac, "local");
      await bmc.setBootDevice("pxe", { persistent: false });
      await bmc.setPower("on");
      await m.sim.waitFor("no-boot", 3000);
      expect(m.sim.history().join("\n")).toMatch(/the script boots from disk/);
      await bmc.setPower("off");
      await bmc.close();
    });
  });

  test("inventory: the YAML parses and matches inventory(); credentials are references to env", () => {
    const parsed = parseInventory(lab.inventoryYaml());
    expect(toInventoryFile(parsed)).toEqual(lab.inventory());
    expect(parsed.facilities[0]!.pools.map((p) => p.type)).toEqual(["public_ipv4", "private_ipv4"]);
    const machine = lab.inventory().machines[0]!;
    expect(machine.bmc.redfish?.passwordRef).toEqual({ env: LAB_ENV.bmcPassword });
    expect(lab.inventory().switches[0]!.passwordRef).toEqual({ env: LAB_ENV.switchPassword });
    expect(lab.env).toEqual({
      [LAB_ENV.bmcPassword]: lab.redfish.password,
      [LAB_ENV.switchPassword]: lab.switch.password,
    });
    expect(lab.inventoryYaml()).not.toContain(lab.redfish.password);
    expect(lab.inventoryYaml()).not.toContain(lab.switch.password);
  });
});

test("one Redfish service per machine: each BMC holds one system, found without a systemId", async () => {
  const lab = await startBuiltinLab({
    machines: 3,
    bootServerUrl: "http://127.0.0.1:9",
    bmcPerMachine: true,
  });
  try {
    expect(new Set(lab.machines.map((m) => m.redfishUrl)).size).toBe(3);
    const m = lab.machines[2]!;
    const bmc = new RedfishBmc(redfish(lab, m, { systemId: undefined }), { timeouts: FAST });
    await bmc.setPower("on");
    expect(m.system.power).toBe("On");
    await bmc.close();
  } finally {
    await lab.stop();
  }
});

test("3 and 500 machines start and stop quickly (times and memory reported)", async () => {
  const measure = async (machines: number) => {
    const heap = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const lab = await startBuiltinLab({ machines, bootServerUrl: "http://127.0.0.1:9" });
    const started = performance.now() - t0;
    const grown = (process.memoryUsage().heapUsed - heap) / 1024 / 1024;
    const last = lab.machines.at(-1)!;
    // The last machine is as real as the first.
    const bmc = new RedfishBmc(redfish(lab, last), { timeouts: FAST });
    await bmc.setPower("on");
    await bmc.close();
    const sw = openSwitch(
      {
        host: lab.switch.host,
        port: lab.switch.port,
        username: lab.switch.username,
        password: lab.switch.password,
        hostKeyFingerprint: lab.switch.hostKeyFingerprint,
      },
      "linux-bridge-per-vlan",
    );
    await sw.ensureVlan(10);
    expect(await sw.setAccess(last.switchPort, 10)).toEqual({
      port: last.switchPort,
      mode: "access",
      vlan: 10,
    });
    await sw.close();
    const t1 = performance.now();
    await lab.stop();
    const stopped = performance.now() - t1;
    return { machines, startMs: Math.round(started), stopMs: Math.round(stopped), heapMb: grown.toFixed(1) };
  };
  const results = [await measure(3), await measure(500)];
  console.log(
    `built-in lab: ${JSON.stringify(results)}; rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`,
  );
});

test("a lab that fails to start leaves nothing listening", async () => {
  // The switch fails to start (as ssh2 once made it, with a key it could not read); the BMC
  // service that started beside it must be stopped, or nothing lets the process end.
  const started: Promise<RedfishSim>[] = [];
  const realStart = RedfishSim.start.bind(RedfishSim);
  const bmcSpy = jest.spyOn(RedfishSim, "start").mockImplementation((o) => {
    const p = realStart(o);
    started.push(p);
    return p;
  });
  const switchSpy = jest.spyOn(SwitchSim, "start").mockRejectedValueOnce(new Error("switch down"));
  try {
    await expect(startBuiltinLab({ machines: 2, bootServerUrl: "http://127.0.0.1:1" })).rejects.toThrow(
      "switch down",
    );
  } finally {
    bmcSpy.mockRestore();
    switchSpy.mockRestore();
  }
  expect(started).toHaveLength(1);
  const { port } = new URL((await started[0]!).url);
  // Given a moment to finish anything still starting, the BMC's port refuses connections.
  await new Promise((r) => setTimeout(r, 300));
  const refused = await new Promise<boolean>((resolve) => {
    const socket = net.connect(Number(port), "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
  expect(refused).toBe(true);
});
