// The switch driver against the lab switch: a real sshd with a pinned host key in front of a
// network namespace. VLAN changes must change who can reach whom, shown by ping.
import { HardwareError } from "../../provider/hardware/errors";
import { failure as failureOf } from "../helpers/failure";
import { openSwitch, type Switch } from "../../provider/hardware/switch";
import { startSwitch, type SwitchLab } from "../lab/switch";

jest.setTimeout(120_000);

let lab: SwitchLab;
let sw: Switch;
const endpoint = (extra: object = {}) => ({ ...lab.endpoint(), ...extra });

const failure = (p: Promise<unknown>) => failureOf(p, HardwareError);

beforeAll(async () => {
  lab = await startSwitch({ ports: 4 });
  sw = openSwitch(endpoint(), "linux-bridge-per-vlan", { commandTimeoutMs: 10_000 });
});

afterAll(async () => {
  await sw?.close();
  await lab?.stop();
});

test("VLANs decide reachability, and moving a port changes it", async () => {
  await sw.ensureVlan(100);
  await sw.ensureVlan(100); // already there: no error
  await sw.ensureVlan(200);
  expect(await sw.listVlans()).toEqual([100, 200]);

  // Changes on one switch are serialized by the driver, so parallel callers are safe.
  const results = await Promise.all([
    sw.setAccess("swp1", 100),
    sw.setAccess("swp2", 100),
    sw.setAccess("swp3", 200),
  ]);
  expect(results.map((r) => r.vlan)).toEqual([100, 100, 200]);
  expect(lab.portMaster("swp1")).toBe("vlan100");
  expect(await sw.readPort("swp3")).toEqual({ port: "swp3", mode: "access", vlan: 200 });

  expect(lab.ping(0, 1)).toBe(true);
  expect(lab.ping(2, 0)).toBe(false);

  await sw.setAccess("swp3", 100);
  expect(lab.ping(2, 0)).toBe(true);

  const inUse = await failure(sw.removeVlan(100));
  expect(inUse.code).toBe("VlanInUse");
  expect(inUse.message).toMatch(/swp1, swp2, swp3/);

  await sw.resetPort("swp3");
  expect(await sw.readPort("swp3")).toEqual({ port: "swp3", mode: "none" });
  expect(lab.ping(2, 0)).toBe(false);

  for (const p of ["swp1", "swp2"]) await sw.resetPort(p);
  await sw.removeVlan(100);
  await sw.removeVlan(100); // already gone: no error
  await sw.removeVlan(200);
  expect(await sw.listVlans()).toEqual([]);
});

test("a port or VLAN the switch does not have is a named error", async () => {
  expect((await failure(sw.setAccess("swp9", 100))).code).toBe("VlanNotFound");
  await sw.ensureVlan(300);
  expect((await failure(sw.setAccess("swp9", 300))).code).toBe("PortNotFound");
  await sw.removeVlan(300);
});

test("trunks are refused on the bridge-per-VLAN form", async () => {
  expect((await failure(sw.setTrunk("swp1", { nativeVlan: 10, allowedVlans: [10, 20] }))).code).toBe(
    "SwitchUnsupported",
  );
});

test("port names and VLAN ids are checked before anything is sent", async () => {
  // A driver whose switch does not exist: any command that got as far as sending would fail
  // with SwitchUnreachable instead of the validation error.
  const nowhere = openSwitch(endpoint({ port: 1 }), "linux-bridge-per-vlan");
  for (const port of [
    "swp1; reboot",
    "swp1$(id)",
    "-n swp1",
    "swp1\nip link del swp2",
    "`id`",
    "swp1 | true",
  ]) {
    const e = await failure(nowhere.setAccess(port, 100));
    expect(e.code).toBe("InvalidPortName");
    expect(e.message).toMatch(/^port: /);
  }
  for (const vlan of [0, 4095, 1.5, NaN]) {
    expect((await failure(nowhere.setAccess("swp1", vlan))).code).toBe("InvalidVlanId");
  }
  expect((await failure(nowhere.listVlans())).code).toBe("SwitchUnreachable");
  await nowhere.close();
});

test("a changed host key is refused; password auth works; a wrong password is SwitchAuthFailed", async () => {
  const impostor = openSwitch(
    endpoint({ hostKeyFingerprint: "SHA256:" + "A".repeat(43) }),
    "linux-bridge-per-vlan",
  );
  const e = await failure(impostor.listVlans());
  expect(e.code).toBe("SwitchHostKeyMismatch");
  expect(e.message).toContain(lab.hostKeyFingerprint);
  await impostor.close();

  const withPassword = openSwitch(
    endpoint({ privateKey: undefined, password: lab.password }),
    "linux-bridge-per-vlan",
  );
  expect(await withPassword.listVlans()).toEqual([]);
  await withPassword.close();

  const wrong = openSwitch(endpoint({ privateKey: undefined, password: "not-it" }), "linux-bridge-per-vlan", {
    retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
  });
  const auth = await failure(wrong.listVlans());
  expect(auth.code).toBe("SwitchAuthFailed");
  expect(auth.message).not.toContain("not-it");
  await wrong.close();
});

test("a dropped connection does not break the next change", async () => {
  expect(await sw.listVlans()).toEqual([]);
  await lab.dropSessions();
  // The driver's connection is dead now; the next call fails on it, reconnects and succeeds.
  await sw.ensureVlan(400);
  expect(await sw.listVlans()).toEqual([400]);
  await sw.removeVlan(400);
});
