// The policy pack through the real engine: `pulumi preview --policy-pack policy` passes the
// production example as written and blocks it when it breaks the production rules; `pulumi up`
// with the pack deploys it on the built-in lab, where the stack policy sees the cluster's
// servers share the lab's one rack and says so (advisory).
import fs from "node:fs";
import path from "node:path";
import { REPO, type ExampleStack } from "../../cli/example-stack";
import { labStack, type LabStack } from "../helpers/lab-stack";

jest.setTimeout(240_000);

let ex: ExampleStack;
let lab: LabStack;
const pack = path.join(REPO, "policy");
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

beforeAll(async () => {
  lab = await labStack("production", {
    example: "production",
    machines: 3,
    installTimeMs: 300,
    config: { provisionTimeoutSeconds: "60" },
  });
  ex = lab.ex;
});

afterAll(() => lab?.stop());

const preview = () =>
  ex.stack.preview({
    policyPacks: [pack],
    policyPackConfigs: [path.join(ex.dir, "policy-config.json")],
    onOutput: log("preview"),
  });

test("a compliant production stack passes the pack", async () => {
  const r = await preview();
  expect(r.changeSummary).toMatchObject({ create: 5 }); // the stack, the block, three servers
  expect(r.stdout).toMatch(/Policies:/);
  expect(r.stdout).not.toMatch(/mandatory/);
});

test("a production stack that breaks the rules is blocked, each violation named", async () => {
  await ex.stack.setConfig("alwaysPxe", { value: "true" });
  await ex.stack.setConfig("wipeOnDelete", { value: "false" });
  await ex.stack.setConfig("vipQuantity", { value: "64" });
  await ex.stack.setConfig("plan", { value: "m3.large" });
  const failure = await preview().then(
    () => undefined,
    (e: Error) => e.message,
  );
  expect(failure).toBeDefined();
  for (const words of [
    "alwaysPxe is true: a production server boots from its disk",
    "wipeOnDelete is false: a production server's disks are wiped",
    "a public_ipv4 reservation of 64 addresses is larger than the 8 this pack allows",
    "plan m3.large is not allowed in stack production; allowed: lab.small, c3.small",
  ])
    expect(failure).toContain(words);
});

test("a level set in the pack's config holds: the cap lowered to advisory warns and lets the preview through", async () => {
  const config = JSON.parse(fs.readFileSync(path.join(ex.dir, "policy-config.json"), "utf8")) as Record<
    string,
    { enforcementLevel: string }
  >;
  config["public-ipv4-reservation-cap"]!.enforcementLevel = "advisory";
  for (const key of ["alwaysPxe", "wipeOnDelete", "plan"]) await ex.stack.removeConfig(key);
  const file = path.join(ex.dir, "policy-config.advisory.json");
  fs.writeFileSync(file, JSON.stringify(config));
  await ex.stack.setConfig("vipQuantity", { value: "64" });
  try {
    const r = await ex.stack.preview({
      policyPacks: [pack],
      policyPackConfigs: [file],
      onOutput: log("advisory"),
    });
    expect(r.stdout).toMatch(/\[advisory\]\s+public-ipv4-reservation-cap/);
    expect(r.stdout).toContain(
      "a public_ipv4 reservation of 64 addresses is larger than the 8 this pack allows",
    );
    expect(r.stdout).not.toMatch(/\[mandatory\]/);
  } finally {
    await ex.stack.removeConfig("vipQuantity");
  }
});

test("up with the pack deploys a compliant cluster; the rack-spread advice names the shared rack", async () => {
  for (const key of ["alwaysPxe", "wipeOnDelete", "vipQuantity", "plan"]) await ex.stack.removeConfig(key);
  const up = await ex.stack.up({
    policyPacks: [pack],
    policyPackConfigs: [path.join(ex.dir, "policy-config.json")],
    onOutput: log("up"),
  });
  expect(up.summary.result).toBe("succeeded");
  const api = up.outputs.api!.value as { rack: string }[];
  expect(api.map((s) => s.rack)).toEqual(["lab-tor1", "lab-tor1", "lab-tor1"]);
  expect(up.stdout).toMatch(/\[advisory\]\s+clusters-spread-across-racks/);
  expect(up.stdout).toMatch(
    /cluster api has 3 servers in rack lab-tor1 \(api-1, api-2, api-3\); at most 1 per rack/,
  );
  const down = await ex.stack.destroy({ onOutput: log("destroy") });
  expect(down.summary.result).toBe("succeeded");
});
