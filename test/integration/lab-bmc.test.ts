// The simulated BMCs are real peers: OpenIPMI's ipmi_sim driven by the real ipmitool, and
// sushy-tools' Redfish emulator over real HTTPS with basic auth. Each test proves a power-on
// and a boot-device change reach the peer, and that stopping leaves no process behind.
import { execFile } from "node:child_process";
import https from "node:https";
import axios, { type AxiosInstance } from "axios";
import { startIpmiBmcs, type IpmiBmc } from "../lab/ipmi";
import { startRedfish, type RedfishLab } from "../lab/redfish";

jest.setTimeout(120_000);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ipmitool(bmc: IpmiBmc, password: string, ...command: string[]): Promise<Run> {
  const args = ["-I", "lanplus", "-C", String(bmc.cipherSuite), "-H", bmc.host, "-p", String(bmc.port)];
  args.push("-U", bmc.username, "-E", "-R", "1", "-N", "1", ...command);
  const env = { ...process.env, IPMITOOL_PASSWORD: password };
  return new Promise((resolve) =>
    execFile("ipmitool", args, { env, timeout: 10_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe("IPMI lab (ipmi_sim)", () => {
  let lab: { bmcs: IpmiBmc[]; stop(): Promise<void> } | undefined;
  afterAll(() => lab?.stop());

  test("power and boot device reach the hook; BMCs are independent", async () => {
    lab = await startIpmiBmcs(2);
    const [a, b] = lab.bmcs as [IpmiBmc, IpmiBmc];
    expect(a.port).not.toBe(b.port);
    expect(a.password).not.toBe(b.password);

    expect(await ipmitool(a, a.password, "chassis", "power", "status")).toMatchObject({
      code: 0,
      stdout: "Chassis Power is off\n",
    });
    expect((await ipmitool(a, a.password, "chassis", "power", "on")).stdout).toBe(
      "Chassis Power Control: Up/On\n",
    );
    expect((await ipmitool(a, a.password, "chassis", "bootdev", "pxe")).stdout).toBe(
      "Set Boot Device to pxe\n",
    );
    expect(a.state()).toEqual({ power: "on", bootDevice: "pxe" });
    expect(a.events().filter((e) => e.startsWith("set "))).toEqual(["set power 1", "set boot pxe"]);
    expect((await ipmitool(a, a.password, "chassis", "bootparam", "get", "5")).stdout).toMatch(
      /Boot Device Selector : Force PXE/,
    );

    await ipmitool(a, a.password, "chassis", "bootdev", "disk");
    expect(a.state().bootDevice).toBe("disk");
    expect(b.state()).toEqual({ power: "off", bootDevice: "none" });
    expect(b.events()).toEqual([]);

    const wrong = await ipmitool(b, a.password, "chassis", "power", "on");
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/Unable to establish IPMI v2 \/ RMCP\+ session/);
    expect(b.state().power).toBe("off");

    const pids = lab.bmcs.map((x) => x.pid);
    await lab.stop();
    lab = undefined;
    expect(pids.filter(alive)).toEqual([]);
  });
});

describe("Redfish lab (sushy-tools)", () => {
  let lab: RedfishLab | undefined;
  afterAll(() => lab?.stop());

  const client = (l: RedfishLab, password = l.password): AxiosInstance =>
    axios.create({
      baseURL: l.url,
      auth: { username: l.username, password },
      httpsAgent: new https.Agent({ ca: l.caCert }),
      proxy: false,
      timeout: 10_000,
      validateStatus: () => true,
    });

  test("power-on and boot override reach the emulator over verified HTTPS", async () => {
    lab = await startRedfish({ systems: 2 });
    const rf = client(lab);
    const [sys] = lab.systems as [RedfishLab["systems"][number]];
    const system = `/redfish/v1/Systems/${sys.id}`;

    const list = await rf.get("/redfish/v1/Systems");
    expect(list.status).toBe(200);
    expect(list.data["Members@odata.count"]).toBe(2);
    expect((await client(lab, "wrong").get(system)).status).toBe(401);

    const before = await rf.get(system);
    expect(before.data).toMatchObject({ Name: sys.name, PowerState: "Off" });
    expect(before.data.Actions["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"]).toContain("On");

    expect((await rf.post(`${system}/Actions/ComputerSystem.Reset`, { ResetType: "On" })).status).toBe(204);
    // The emulator applies power changes later, like a real BMC: poll, bounded.
    let power = "";
    for (const deadline = Date.now() + 15_000; power !== "On" && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 200));
      power = (await rf.get(system)).data.PowerState;
    }
    expect(power).toBe("On");

    const patch = { Boot: { BootSourceOverrideTarget: "Pxe", BootSourceOverrideEnabled: "Once" } };
    expect((await rf.patch(system, patch)).status).toBe(204);
    expect((await rf.get(system)).data.Boot.BootSourceOverrideTarget).toBe("Pxe");

    const seen = lab.notifications() as { uuid: string; power_state: string; boot_device?: string }[];
    expect(seen.some((n) => n.uuid === sys.id && n.power_state === "On")).toBe(true);
    expect(seen.at(-1)).toMatchObject({ uuid: sys.id, boot_device: "Pxe" });

    const nics = await rf.get(`${system}/EthernetInterfaces`);
    expect(JSON.stringify(nics.data)).toContain(sys.mac);

    const pid = lab.pid;
    await lab.stop();
    lab = undefined;
    expect(alive(pid)).toBe(false);
  });
});
