// The `__provider` each resource carries in state: the sdk's one-line shim, and the longer
// closure that state written before it holds, both reach the installed provider's functions.
import fs from "node:fs";
import path from "node:path";
import * as provider from "../../provider";
import { dynamicResource, shimSource } from "../../sdk/provider-shim";

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

describe("constructing a resource", () => {
  const inputs = {
    project: "demo",
    facility: "lab",
    plan: "lab.small",
    hostname: "web-1",
    operatingSystem: "flatcar_stable",
  };

  beforeAll(async () => {
    const pulumi = await import("@pulumi/pulumi");
    await pulumi.runtime.setMocks(
      { newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: (a) => a.inputs },
      "project",
      "stack",
      false,
      "org",
    );
  });

  test("import is refused by the sdk with what to do instead, not the engine's 'code must be a string'", async () => {
    const { Server } = await import("../../sdk");
    expect(() => new Server("web-1", inputs as never, { import: "srv-1" })).toThrow(
      /^Server web-1: import is not supported .* declaring it again under the same name in the same stack/,
    );
  });

  /** How many stack traces with frames were formatted while `fn` ran. */
  function tracesFormatted(fn: () => void): number {
    const original = Error.prepareStackTrace;
    let traces = 0;
    Error.prepareStackTrace = (error, frames) => {
      if (frames.length > 0) traces++;
      return original ? original(error, frames) : `${String(error)}\n    at ${frames.join("\n    at ")}`;
    };
    try {
      fn();
    } finally {
      Error.prepareStackTrace = original;
    }
    return traces;
  }

  test("formats no stack trace but the one Pulumi reads for the source position", async () => {
    const { Server } = await import("../../sdk");
    const limit = Error.stackTraceLimit;
    // Pulumi's runtime formats one for each of the four promises of each output property.
    const debugging = process.env.PULUMI_DEBUG_PROMISE_LEAKS;
    process.env.PULUMI_DEBUG_PROMISE_LEAKS = "1";
    try {
      expect(tracesFormatted(() => new Server("traced", inputs as never))).toBeGreaterThan(80);
    } finally {
      if (debugging === undefined) delete process.env.PULUMI_DEBUG_PROMISE_LEAKS;
      else process.env.PULUMI_DEBUG_PROMISE_LEAKS = debugging;
    }
    expect(tracesFormatted(() => new Server("untraced", inputs as never))).toBe(1);
    expect(Error.stackTraceLimit).toBe(limit);
  });

  test("the source position Pulumi sends the engine is the program's line, not the SDK's", async () => {
    const { Server, Vlan } = await import("../../sdk");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const runtime = require("@pulumi/pulumi/runtime/resource") as { registerResource: () => void };
    const spy = jest.spyOn(runtime, "registerResource");
    try {
      const line = Number(new Error().stack!.split("\n")[1]!.match(/:(\d+):\d+\)?$/)![1]);
      new Server("positioned", inputs as never);
      new Vlan("positioned", { project: "demo", facility: "lab" });
      const positions = spy.mock.calls.map((c) => (c as unknown[])[9] as { uri: string; line: number });
      expect(positions).toHaveLength(2);
      expect(positions[0]!.uri).toMatch(/provider-shim\.test\.ts$/);
      expect(positions.map((p) => p.line)).toEqual([line + 1, line + 2]);
    } finally {
      spy.mockRestore();
    }
  });

  test("an error from Pulumi's constructor points at the program's line", async () => {
    const { Server } = await import("../../sdk");
    const limit = Error.stackTraceLimit;
    let thrown: Error | undefined;
    try {
      new Server("", inputs as never); // Pulumi refuses a resource without a name
    } catch (e) {
      thrown = e as Error;
    }
    expect(thrown?.message).toMatch(/Missing resource name/);
    expect(thrown?.stack?.split("\n")[1]).toContain("provider-shim.test.ts");
    expect(Error.stackTraceLimit).toBe(limit);
  });
});

test("a Server, Vlan or ProjectMember is replaced by deleting it first, whatever asks for the replace", () => {
  // `pulumi up --replace` asks the provider's diff nothing: only the resource's options make the
  // engine delete first, and a create that comes first adopts what the owner key holds.
  for (const kind of ["Server", "Vlan", "ProjectMember"] as const) {
    const r = dynamicResource(kind, "a", {}, { protect: true });
    r.done();
    expect(r.opts).toEqual({ protect: true, deleteBeforeReplace: true });
    expect(() => dynamicResource(kind, "a", {}, { deleteBeforeReplace: false })).toThrow(
      `${kind} a: deleteBeforeReplace: false is not supported: a replacement takes over the old `,
    );
  }
  // A reservation's adoption gives the block a new id: a create first is safe, and left alone.
  const r = dynamicResource("IpReservation", "a", {}, { deleteBeforeReplace: false });
  r.done();
  expect(r.opts).toEqual({ deleteBeforeReplace: false });
});
