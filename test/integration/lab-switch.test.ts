// The simulated switch is a real peer: a real sshd, a restricted shell, real bridges and
// namespaces whose isolation is proved by ping, not by reading back our own configuration.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client, type ConnectConfig } from "ssh2";
import { startSwitch, type SwitchLab } from "../lab/switch";

jest.setTimeout(120_000);

let lab: SwitchLab;
let conn: Client;

beforeAll(async () => {
  lab = await startSwitch({ ports: 4 });
});

afterAll(async () => {
  conn?.end();
  await lab?.stop();
});

function fingerprint(key: Buffer): string {
  return "SHA256:" + crypto.createHash("sha256").update(key).digest("base64").replace(/=+$/, "");
}

function connect(auth: Partial<ConnectConfig>, pinned = lab.hostKeyFingerprint): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once("ready", () => resolve(c));
    c.once("error", reject);
    c.connect({
      host: lab.host,
      port: lab.port,
      username: lab.username,
      hostVerifier: (key: Buffer) => fingerprint(key) === pinned,
      readyTimeout: 10_000,
      ...auth,
    });
  });
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function exec(c: Client, command: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, stream) => {
      if (err) return reject(err);
      let stdout = "";
      let stderr = "";
      stream.on("data", (d: Buffer) => (stdout += d));
      stream.stderr.on("data", (d: Buffer) => (stderr += d));
      stream.on("close", (code: number | null) => resolve({ code, stdout, stderr }));
    });
  });
}

async function ok(command: string): Promise<string> {
  const r = await exec(conn, command);
  expect(r).toMatchObject({ code: 0, stderr: "" });
  return r.stdout;
}

test("key auth and password auth both log in", async () => {
  conn = await connect({ privateKey: lab.privateKey });
  const byPassword = await connect({ password: lab.password });
  try {
    expect(JSON.parse(await ok("ip -j link show type bridge"))).toEqual([]);
    const r = await exec(byPassword, "ip -j link show");
    expect(r.code).toBe(0);
    const names = (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname);
    expect(names).toEqual(expect.arrayContaining(lab.ports));
  } finally {
    byPassword.end();
  }
});

test("a wrong password and a host key other than the pinned one are refused", async () => {
  await expect(connect({ password: "wrong" })).rejects.toThrow(/authentication methods failed/);
  const other = "SHA256:" + crypto.randomBytes(32).toString("base64").replace(/=+$/, "");
  await expect(connect({ privateKey: lab.privateKey }, other)).rejects.toThrow(/verification failed/);
});

test("ports in the same VLAN bridge reach each other; other VLANs do not", async () => {
  expect(lab.ping(0, 1)).toBe(false); // ports start unassigned

  await ok(
    [
      "ip link add name vlan100 type bridge",
      "ip link set dev vlan100 up",
      "ip link add name vlan200 type bridge",
      "ip link set dev vlan200 up",
      "ip link set dev swp1 master vlan100",
      "ip link set dev swp2 master vlan100",
    ].join("\n"),
  );
  await ok("ip link set dev swp3 master vlan200");
  expect(lab.portMaster("swp1")).toBe("vlan100");
  expect(lab.portMaster("swp3")).toBe("vlan200");
  expect(lab.portMaster("swp4")).toBeUndefined();

  const shown = JSON.parse(await ok("ip -j -d link show dev swp2")) as { master?: string }[];
  expect(shown[0]?.master).toBe("vlan100");

  expect(lab.ping(0, 1)).toBe(true);
  expect(lab.ping(1, 0)).toBe(true);
  expect(lab.ping(2, 0)).toBe(false);

  await ok("ip link set dev swp3 master vlan100");
  expect(lab.portMaster("swp3")).toBe("vlan100");
  expect(lab.ping(2, 0)).toBe(true);

  await ok("ip link set dev swp3 nomaster");
  expect(lab.ping(2, 0)).toBe(false);
});

test("the real ip/bridge errors and exit codes come through; a batch stops at the first failure", async () => {
  expect(await exec(conn, "ip link add name vlan100 type bridge")).toEqual({
    code: 2,
    stdout: "",
    stderr: "RTNETLINK answers: File exists\n",
  });
  expect(await exec(conn, "ip link set dev swp9 master vlan100")).toMatchObject({
    code: 1,
    stderr: 'Cannot find device "swp9"\n',
  });
  // No 802.1Q on this kernel: the 802.1Q form reaches bridge(8) and fails there.
  expect(await exec(conn, "bridge vlan add dev swp1 vid 100 pvid untagged master")).toMatchObject({
    code: 255,
    stderr: "RTNETLINK answers: Operation not supported\n",
  });

  const r = await exec(
    conn,
    "ip link add name vlan300 type bridge\nip link del dev vlan999\nip link set dev vlan300 up",
  );
  expect(r).toMatchObject({ code: 1, stderr: 'Cannot find device "vlan999"\n' });
  const bridges = JSON.parse(await ok("ip -j link show type bridge")) as {
    ifname: string;
    flags: string[];
  }[];
  expect(bridges.find((b) => b.ifname === "vlan300")?.flags).not.toContain("UP");
  await ok("ip link del dev vlan300");
});

test("anything but the switch's commands is refused with 126 and runs nothing", async () => {
  const marker = path.join(os.tmpdir(), `switch-injection-${crypto.randomBytes(4).toString("hex")}`);
  const attempts = [
    `ip link show; touch ${marker}`,
    `ip -j link show; touch ${marker}`,
    `ip -j link show && touch ${marker}`,
    `ip -j link show | touch ${marker}`,
    `ip -j link show > ${marker}`,
    `ip netns exec ${lab.namespace} touch ${marker}`,
    `ip -n ${lab.namespace} link`,
    `ip -b ${marker}`,
    `ip -j link show $(touch ${marker})`,
    `ip -j link show \`touch ${marker}\``,
    "$(id)",
    "ip link set dev lo down",
    "ip link del dev swp1",
    "sh",
    "",
    // One bad line refuses the whole batch, including the good lines before it.
    `ip link add name vlan400 type bridge\ntouch ${marker}`,
  ];
  for (const command of attempts) {
    const r = await exec(conn, command);
    expect({ command, code: r.code, stdout: r.stdout }).toEqual({ command, code: 126, stdout: "" });
    expect(r.stderr).toMatch(/^switch-shell: refused: /);
  }
  expect(fs.existsSync(marker)).toBe(false);
  const bridges = JSON.parse(await ok("ip -j link show type bridge")) as { ifname: string }[];
  expect(bridges.map((b) => b.ifname).sort()).toEqual(["vlan100", "vlan200"]);
});
