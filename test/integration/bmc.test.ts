// The BMC drivers against real protocol peers: OpenIPMI's ipmi_sim over RMCP+ and sushy-tools'
// Redfish emulator over HTTPS. Every change must be seen by the peer's own record, and counts
// only after the driver read it back.
import { HardwareError } from "../../provider/hardware/errors";
import { failure as failureOf } from "../helpers/failure";
import { FallbackBmc, IpmiBmc, openBmc, RedfishBmc } from "../../provider/hardware/bmc";
import { startIpmiBmcs, type IpmiBmc as LabBmc } from "../lab/ipmi";
import { startRedfish, type RedfishLab } from "../lab/redfish";

const FAST = { commandMs: 4000, confirmMs: 8000, pollIntervalMs: 100 };
const NO_RETRY = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };

const failure = (p: Promise<unknown>) => failureOf(p, HardwareError);

describe("IPMI driver on ipmi_sim", () => {
  let lab: Awaited<ReturnType<typeof startIpmiBmcs>>;
  let sim: LabBmc;
  let bmc: IpmiBmc;
  beforeAll(async () => {
    lab = await startIpmiBmcs(2);
    sim = lab.bmcs[0]!;
    bmc = new IpmiBmc(
      {
        host: sim.host,
        port: sim.port,
        username: sim.username,
        password: sim.password,
        cipherSuite: sim.cipherSuite,
      },
      { timeouts: FAST },
    );
  }, 60_000);
  afterAll(async () => {
    await bmc?.close();
    await lab?.stop();
  });

  test("power on, off, soft off and cycle, each seen by the BMC", async () => {
    await bmc.setPower("on");
    expect(sim.state().power).toBe("on");
    expect(await bmc.powerState()).toBe("on");

    await bmc.setPower("cycle");
    const cycle = sim.events().filter((e) => e.startsWith("set power"));
    expect(cycle.slice(-2)).toEqual(["set power 0", "set power 1"]);
    expect(sim.state().power).toBe("on");

    await bmc.setPower("soft-off");
    expect(sim.events()).toContain("set shutdown 1");
    expect(sim.state().power).toBe("off");

    await bmc.setPower("on");
    await bmc.setPower("off");
    expect(sim.state().power).toBe("off");
    expect(await bmc.powerState()).toBe("off");
  });

  test("boot device pxe and disk", async () => {
    await bmc.setBootDevice("pxe", { persistent: false });
    expect(sim.state().bootDevice).toBe("pxe");
    expect((await bmc.bootDevice()).device).toBe("pxe");
    await bmc.setBootDevice("disk", { persistent: true });
    expect(sim.state().bootDevice).toBe("disk");
    expect((await bmc.bootDevice()).device).toBe("disk");
  });

  test("a UEFI machine's boot device is set for an EFI boot", async () => {
    const sent: string[] = [];
    const uefi = new IpmiBmc(
      {
        host: sim.host,
        port: sim.port,
        username: sim.username,
        password: sim.password,
        cipherSuite: sim.cipherSuite,
        bootMode: "uefi",
      },
      { timeouts: FAST, log: (line) => sent.push(line) },
    );
    try {
      await uefi.setBootDevice("pxe", { persistent: false });
      await uefi.setBootDevice("disk", { persistent: true });
      expect(sim.state().bootDevice).toBe("disk");
      expect(sent.map((l) => l.replace(/^ipmi [^:]+:\d+: /, ""))).toEqual([
        "chassis bootdev pxe options=efiboot",
        "chassis bootdev disk options=persistent,efiboot",
      ]);
    } finally {
      await uefi.close();
    }
  });

  test("a change the BMC accepts but never applies is a BmcTimeout, not a success", async () => {
    const stuck = lab.bmcs[1]!;
    const driver = new IpmiBmc(
      {
        host: stuck.host,
        port: stuck.port,
        username: stuck.username,
        password: stuck.password,
        cipherSuite: 3,
      },
      { timeouts: { ...FAST, confirmMs: 1000 }, retry: NO_RETRY },
    );
    stuck.setStuck(true);
    try {
      const e = await failure(driver.setPower("on"));
      expect(e.code).toBe("BmcTimeout");
      expect(e.message).toContain(`127.0.0.1:${stuck.port}`);
      expect(stuck.events()).toContain("set power 1");
      expect(stuck.state().power).toBe("off");
    } finally {
      stuck.setStuck(false);
      await driver.close();
    }
  });

  test("a wrong password is BmcAuthFailed, quickly, and the message holds no credential", async () => {
    const driver = new IpmiBmc(
      { host: sim.host, port: sim.port, username: sim.username, password: "not-the-one", cipherSuite: 3 },
      { timeouts: FAST },
    );
    const started = Date.now();
    const e = await failure(driver.powerState());
    expect(e.code).toBe("BmcAuthFailed");
    expect(e.transient).toBe(false);
    expect(Date.now() - started).toBeLessThan(FAST.commandMs);
    expect(e.message).toContain(`127.0.0.1:${sim.port}`);
    expect(e.message).not.toContain("not-the-one");
    expect(e.message).not.toContain(sim.password);
    await driver.close();
  });

  test("a cipher suite the BMC does not offer is named, not taken for an unreachable BMC", async () => {
    const driver = new IpmiBmc(
      { host: sim.host, port: sim.port, username: sim.username, password: sim.password, cipherSuite: 17 },
      { timeouts: FAST },
    );
    const e = await failure(driver.powerState());
    expect([e.code, e.transient]).toEqual(["BmcUnsupported", false]);
    expect(e.message).toContain(`127.0.0.1:${sim.port}: refused cipher suite 17`);
    expect(e.message).toContain("invalid authentication algorithm");
    expect(e.message).toContain("set the BMC's cipherSuite in the inventory");
    await driver.close();
  });

  test("a password longer than IPMI's 20 bytes is refused by name, before ipmitool cuts it short", async () => {
    const long = "x".repeat(21);
    const driver = new IpmiBmc(
      { host: sim.host, port: sim.port, username: sim.username, password: long, cipherSuite: 3 },
      { timeouts: FAST },
    );
    const e = await failure(driver.powerState());
    expect([e.code, e.transient]).toEqual(["BmcAuthFailed", false]);
    expect(e.message).toContain("the password is 21 bytes; IPMI takes at most 20");
    expect(e.message).not.toContain(long);
    await driver.close();
  });

  test("a BMC that goes silent with its session open is unreachable (tried again), not a failed command", async () => {
    const gone = await startIpmiBmcs(1);
    const b = gone.bmcs[0]!;
    const driver = new IpmiBmc(
      { host: b.host, port: b.port, username: b.username, password: b.password, cipherSuite: 3 },
      { timeouts: FAST, retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 100 } },
    );
    try {
      expect(await driver.powerState()).toBe("off");
      await gone.stop();
      const e = await failure(driver.powerState());
      expect([e.code, e.transient]).toEqual(["BmcUnreachable", true]);
    } finally {
      await driver.close();
    }
  }, 30_000);

  test("a BMC that does not answer is BmcUnreachable within the deadline", async () => {
    // Stopped simulators leave their port silent; a fresh lab's port is ours to stop.
    const gone = await startIpmiBmcs(1);
    const { port, password } = gone.bmcs[0]!;
    await gone.stop();
    const driver = new IpmiBmc(
      { host: "127.0.0.1", port, username: "admin", password, cipherSuite: 3 },
      { timeouts: FAST, retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 100 } },
    );
    const started = Date.now();
    const e = await failure(driver.powerState());
    expect(e.code).toBe("BmcUnreachable");
    expect(Date.now() - started).toBeLessThan(2 * FAST.commandMs + 500);
    await driver.close();
  }, 30_000);
});

describe("Redfish driver on sushy-tools", () => {
  let lab: RedfishLab;
  const endpoint = (extra: Partial<ConstructorParameters<typeof RedfishBmc>[0]> = {}) => ({
    url: lab.url,
    username: lab.username,
    password: lab.password,
    tls: { ca: lab.caCert },
    systemId: lab.systems[0]!.id,
    ...extra,
  });
  beforeAll(async () => {
    lab = await startRedfish({ systems: 2, powerDelaySeconds: 1 });
  }, 120_000);
  afterAll(() => lab?.stop());

  const lastPower = () => {
    const docs = lab.notifications() as { uuid: string; power_state: string }[];
    return docs.filter((d) => d.uuid === lab.systems[0]!.id).at(-1)?.power_state;
  };

  test("power on, cycle and off, confirmed only once the system shows it", async () => {
    const bmc = new RedfishBmc(endpoint(), { timeouts: FAST });
    try {
      if ((await bmc.powerState()) === "on") await bmc.setPower("off");
      // The emulator applies a change up to a second later; the driver returns only once its
      // own read shows it (the BmcTimeout test below is the other half of that proof).
      await bmc.setPower("on");
      expect(await bmc.powerState()).toBe("on");
      expect(lastPower()).toBe("On");

      await bmc.setPower("cycle");
      const states = (lab.notifications() as { uuid: string; power_state: string }[])
        .filter((d) => d.uuid === lab.systems[0]!.id)
        .map((d) => d.power_state);
      expect(states.slice(-2)).toEqual(["Off", "On"]);

      await bmc.setPower("off");
      expect(await bmc.powerState()).toBe("off");
    } finally {
      await bmc.close();
    }
  }, 30_000);

  test("boot device pxe then disk, read back", async () => {
    const bmc = new RedfishBmc(endpoint({ tls: { fingerprint256: lab.fingerprint256 } }), { timeouts: FAST });
    await bmc.setBootDevice("pxe", { persistent: false });
    expect((await bmc.bootDevice()).device).toBe("pxe");
    await bmc.setBootDevice("disk", { persistent: true });
    expect((await bmc.bootDevice()).device).toBe("disk");
    await bmc.close();
  });

  test("a change not confirmed in time is a BmcTimeout", async () => {
    const bmc = new RedfishBmc(endpoint({ systemId: lab.systems[1]!.id }), {
      timeouts: { ...FAST, confirmMs: 200 },
      retry: NO_RETRY,
    });
    const e = await failure(bmc.setPower((await bmc.powerState()) === "on" ? "off" : "on"));
    expect(e.code).toBe("BmcTimeout");
  });

  test("a wrong password is BmcAuthFailed without the password in the message", async () => {
    const bmc = new RedfishBmc(endpoint({ password: "wrong-secret" }), { timeouts: FAST });
    const e = await failure(bmc.powerState());
    expect(e.code).toBe("BmcAuthFailed");
    expect(e.message).toContain(lab.url.replace(/\/$/, ""));
    expect(e.message).not.toContain("wrong-secret");
  });

  test("a certificate that does not match the pin is refused before any request", async () => {
    const bmc = new RedfishBmc(endpoint({ tls: { fingerprint256: "00".repeat(32) } }), { timeouts: FAST });
    const e = await failure(bmc.powerState());
    expect(e.code).toBe("BmcUntrusted");
  });

  test("a certificate that chains to no CA this BMC trusts is refused, whatever others trust", async () => {
    // Connections share one TLS context per trust setting; the lab's CA, which the tests
    // above trusted, must not leak into a BMC given none (the system's roots only).
    const bmc = new RedfishBmc(endpoint({ tls: {} }), { timeouts: FAST, retry: NO_RETRY });
    expect((await failure(bmc.powerState())).code).toBe("BmcUntrusted");
  });

  test("nothing listening is BmcUnreachable within the deadline", async () => {
    const port = Number(new URL(lab.url).port);
    const bmc = new RedfishBmc(endpoint({ url: `https://127.0.0.1:${port === 1 ? 2 : 1}` }), {
      timeouts: FAST,
      retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 100 },
    });
    const started = Date.now();
    const e = await failure(bmc.powerState());
    expect(e.code).toBe("BmcUnreachable");
    expect(Date.now() - started).toBeLessThan(FAST.commandMs);
  });
});

describe("both protocols on one machine", () => {
  let ipmi: Awaited<ReturnType<typeof startIpmiBmcs>>;
  let redfish: RedfishLab;
  beforeAll(async () => {
    [ipmi, redfish] = await Promise.all([
      startIpmiBmcs(1),
      startRedfish({ systems: 1, powerDelaySeconds: 0 }),
    ]);
  }, 120_000);
  afterAll(async () => {
    await ipmi?.stop();
    await redfish?.stop();
  });

  test("Redfish is used first; IPMI takes over when Redfish fails", async () => {
    const sim = ipmi.bmcs[0]!;
    const ipmiEndpoint = {
      host: sim.host,
      port: sim.port,
      username: sim.username,
      password: sim.password,
      cipherSuite: 3,
    };
    const good = openBmc(
      {
        redfish: {
          url: redfish.url,
          username: redfish.username,
          password: redfish.password,
          tls: { ca: redfish.caCert },
        },
        ipmi: ipmiEndpoint,
      },
      { timeouts: FAST },
    );
    expect(good).toBeInstanceOf(FallbackBmc);
    await good.setBootDevice("pxe", { persistent: false });
    expect(sim.events().some((e) => e.startsWith("set boot"))).toBe(false);

    const broken = openBmc(
      {
        redfish: {
          url: redfish.url,
          username: redfish.username,
          password: "wrong",
          tls: { ca: redfish.caCert },
        },
        ipmi: ipmiEndpoint,
      },
      { timeouts: FAST },
    );
    await broken.setBootDevice("pxe", { persistent: false });
    expect(sim.state().bootDevice).toBe("pxe");
    await good.close();
    await broken.close();
  });
});
