// The policy pack through the real engine: `pulumi preview --policy-pack policy` passes the
// production example as written and blocks it when it breaks the production rules.
import path from "node:path";
import { exampleStack, REPO, type ExampleStack } from "../../cli/example-stack";

jest.setTimeout(240_000);

let ex: ExampleStack;
const pack = path.join(REPO, "policy");
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

beforeAll(async () => {
  ex = await exampleStack("production", "production");
});

afterAll(() => ex?.cleanup());

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
