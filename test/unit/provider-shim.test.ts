// The `__provider` each resource carries in state: the sdk's one-line shim, and the longer
// closure that state written before it holds, both reach the installed provider's functions.
import fs from "node:fs";
import path from "node:path";
import * as provider from "../../provider";
import { shimSource } from "../../sdk/provider-shim";

interface ShimProvider {
  configure(req: { config: { get(key: string): string | undefined } }): Promise<void>;
  check(
    olds: unknown,
    news: unknown,
  ): Promise<{ inputs?: unknown; failures?: { property: string; reason: string }[] }>;
  diff(id: string, olds: unknown, news: unknown): Promise<{ changes?: boolean; replaces?: string[] }>;
  create(inputs: unknown): Promise<unknown>;
  read(id: string, props: unknown): Promise<unknown>;
  update(id: string, olds: unknown, news: unknown): Promise<unknown>;
  delete(id: string, props: unknown): Promise<void>;
}

/** Loads a `__provider` text the way the dynamic-provider host does, with the package by name. */
function load(source: string): ShimProvider {
  const module = { exports: {} as { handler: () => ShimProvider } };
  const requireByName = (id: string) => {
    if (id !== "pulumi-baremetal/provider") throw new Error(`unexpected require of ${id}`);
    return provider;
  };
  new Function("exports", "require", "module", source)(module.exports, requireByName, module);
  return module.exports.handler();
}

const METHODS = ["configure", "check", "diff", "create", "read", "update", "delete"];
const before = fs.readFileSync(
  path.join(__dirname, "../fixtures/server-provider-serialized-by-pulumi.txt"),
  "utf8",
);

test("the shim is one short line per kind", () => {
  for (const kind of ["IpReservation", "Server", "Vlan", "ProjectMember"] as const) {
    const text = shimSource(kind);
    expect(text.length).toBeLessThan(120);
    expect(Object.keys(load(text)).sort()).toEqual([...METHODS].sort());
  }
});

test.each([
  ["the shim", shimSource("Server")],
  ["state written before it", before],
])("%s reaches the provider's own check and diff for its kind", async (_label, source) => {
  const p = load(source);
  const refused = await p.check({}, { project: "demo", hostname: "not a hostname!" });
  expect(refused.failures?.map((f) => f.property)).toEqual(
    expect.arrayContaining(["hostname", "facility", "operatingSystem"]),
  );
  // The same answers as calling the provider directly.
  expect(await p.check({}, { hostname: "web-1" })).toEqual(
    await provider.resources.Server.check({}, { hostname: "web-1" }),
  );
  const olds = { project: "a", facility: "lab1", hostname: "web-1", tags: [] };
  const news = { ...olds, project: "b" };
  const diff = await p.diff("id-1", olds, news);
  expect(diff.replaces).toContain("project");
  expect(diff).toEqual(await provider.resources.Server.diff("id-1", olds as never, news as never));
});

test("checked inputs say which resource they are, whatever type token the program used", async () => {
  // Policy packs see checked inputs and the type token, not `__provider`: a program running our
  // provider under another token is still seen as ours (policy/rules.ts kindOf, disguised).
  const p = load(shimSource("IpReservation"));
  const r = await p.check({}, { project: "demo", facility: "lab", type: "public_ipv4", quantity: 64 });
  expect(r.inputs).toMatchObject({ quantity: 64, baremetalKind: "IpReservation" });
  // The program cannot say otherwise: the provider writes it.
  const claimed = await p.check(
    {},
    { project: "demo", facility: "lab", type: "public_ipv4", quantity: 8, baremetalKind: "Vlan" },
  );
  expect(claimed.failures?.map((f) => f.property)).toEqual(["baremetalKind"]);
  // The lifecycle never sees the stamp: it reaches no output, stored spec or audit record.
  const server = load(shimSource("Server"));
  const spy = jest.spyOn(provider.resources.Server, "diff");
  try {
    const olds = { project: "a", facility: "lab1", hostname: "web-1", tags: [], baremetalKind: "Server" };
    await server.diff("id-1", olds, { ...olds, hostname: "web-2" });
    expect(spy.mock.calls[0]!.slice(1)).toEqual([
      { project: "a", facility: "lab1", hostname: "web-1", tags: [] },
      { project: "a", facility: "lab1", hostname: "web-2", tags: [] },
    ]);
  } finally {
    spy.mockRestore();
  }
});

test("import is refused by the sdk with what to do instead, not the engine's 'code must be a string'", async () => {
  const pulumi = await import("@pulumi/pulumi");
  await pulumi.runtime.setMocks(
    { newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: (a) => a.inputs },
    "project",
    "stack",
    false,
    "org",
  );
  const { Server } = await import("../../sdk");
  const inputs = {
    project: "demo",
    facility: "lab",
    plan: "lab.small",
    hostname: "web-1",
    operatingSystem: "flatcar_stable",
  };
  expect(() => new Server("web-1", inputs as never, { import: "srv-1" })).toThrow(
    /^Server web-1: import is not supported .* declaring it again under the same name in the same stack/,
  );
});
