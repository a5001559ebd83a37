// The `baremetal` command as a user runs it: the built binary against a real store.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { Client } from "pg";
import { openStore } from "../../provider/store/open";
import { backends } from "../helpers/backends";

// Each command is a fresh Node process (~0.5-1 s here).
jest.setTimeout(60_000);

const main = path.resolve(__dirname, "../../bin/cli/main.js");

beforeAll(() => {
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npm run build first (npm test does)`);
});

test("a command that only reads or changes what exists makes no store at a mistyped path", () => {
  const missing = path.join(os.tmpdir(), `baremetal-missing-${process.pid}`, "x.db");
  for (const args of [
    ["project", "list"],
    ["audit"],
    ["server", "list"],
    ["ipam", "pool", "list"],
    ["inventory", "list"],
    ["machine", "release", "m01", "--reason", "checked"],
  ]) {
    const r = spawnSync(process.execPath, [main, ...args, "--store", `sqlite:${missing}`], {
      encoding: "utf8",
    });
    expect([r.status, r.stderr]).toEqual([
      1,
      `baremetal: there is no store at sqlite:${missing}; create it with \`baremetal store init\` (or \`baremetal inventory apply\`), or name another with --store\n`,
    ]);
  }
  expect(fs.existsSync(path.dirname(missing))).toBe(false);
});

test("a dry run or a refused inventory file makes no store; the dry run shows what a first apply adds", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-dry-"));
  try {
    const store = path.join(dir, "s.db");
    const file = path.resolve(__dirname, "../fixtures/inventory.yaml");
    const dry = spawnSync(
      process.execPath,
      [main, "inventory", "apply", file, "--dry-run", "--store", `sqlite:${store}`],
      { encoding: "utf8" },
    );
    expect([dry.status, dry.stderr]).toEqual([0, ""]);
    expect(dry.stdout).toMatch(
      new RegExp(`^\\(there is no store at sqlite:${store} yet: a first apply would make it\\)$`, "m"),
    );
    expect(dry.stdout).toMatch(/^\+ facility lab1$/m);
    expect(dry.stdout.trim().split("\n").at(-1)).toBe("dry run: nothing changed");
    const bad = path.join(dir, "bad.yaml");
    fs.writeFileSync(bad, "facilities: [{ code: lab1 }]\n");
    const refused = spawnSync(
      process.execPath,
      [main, "inventory", "apply", bad, "--store", `sqlite:${store}`],
      {
        encoding: "utf8",
      },
    );
    expect(refused.status).toBe(1);
    expect(fs.readdirSync(dir).sort()).toEqual(["bad.yaml"]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the demo without the pulumi CLI says so, and leaves no directory behind", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-nopulumi-"));
  try {
    const r = spawnSync(process.execPath, [main, "demo"], {
      encoding: "utf8",
      env: { ...process.env, PATH: path.dirname(process.execPath), TMPDIR: tmp },
      timeout: 60_000,
    });
    expect([r.status, r.stderr.trim().split("\n").at(-1)]).toEqual([
      1,
      "baremetal: the pulumi CLI is not on PATH: install it (or run .ci/run once, which builds it into ~/.cache/pulumi-baremetal, and put its bin directory on PATH)",
    ]);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith("baremetal-e2e-"))).toEqual([]);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("errors from the inventory file and from a store that cannot be reached carry a code", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-codes-"));
  try {
    const file = path.join(dir, "inventory.yaml");
    fs.writeFileSync(file, "facilities: [{ code: lab1 }]\n");
    const bad = spawnSync(
      process.execPath,
      [main, "inventory", "apply", file, "--store", `sqlite:${path.join(dir, "s.db")}`],
      { encoding: "utf8" },
    );
    expect([bad.status, bad.stderr]).toEqual([
      1,
      expect.stringMatching(/^baremetal: InventoryInvalid: inventory: \d+ problems?:/),
    ]);
    const away = spawnSync(
      process.execPath,
      [main, "project", "list", "--store", "postgres://x@127.0.0.1:1/none"],
      {
        encoding: "utf8",
      },
    );
    expect([away.status, away.stderr]).toEqual([
      1,
      expect.stringMatching(/^baremetal: Unreachable: .*ECONNREFUSED/),
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A statement straight to the store's database, as another tool (or an older version) would. */
async function rawSql(location: string, sql: string): Promise<void> {
  if (location.startsWith("sqlite:")) {
    const db = new Database(location.slice("sqlite:".length));
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
    return;
  }
  const c = new Client({ connectionString: location });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

describe.each(backends)("baremetal on $name", (backend) => {
  let location: string;
  let cleanup: () => Promise<void>;
  const cli = (...args: string[]) =>
    execFileSync(process.execPath, [main, ...args, "--store", location], { encoding: "utf8" });
  const fails = (...args: string[]) =>
    spawnSync(process.execPath, [main, ...args, "--store", location], { encoding: "utf8" });

  beforeEach(async () => {
    ({ location, cleanup } = await backend.fresh());
  });
  afterEach(() => cleanup());

  test("store init, status and migrate", () => {
    expect(cli("store", "init")).toMatch(/schema version (\d+) of \1\b/);
    const status = JSON.parse(cli("store", "status", "--json")) as {
      current: number;
      latest: number;
      pending: unknown[];
    };
    expect(status.current).toBe(status.latest);
    expect(status.pending).toEqual([]);
    expect(cli("store", "migrate")).toMatch(/schema version (\d+) of \1\b/);
    expect(fails("store", "status").stderr).toBe("");
  });

  test("store status before init lists every migration as pending", () => {
    // A missing SQLite file is refused as no store (another test); a PostgreSQL database exists.
    if (backend.name !== "postgres") return;
    const r = fails("store", "status", "--json");
    expect(r.stderr).toBe("");
    const status = JSON.parse(r.stdout) as { current: number; latest: number; pending: unknown[] };
    expect(status.current).toBe(0);
    expect(status.pending).toHaveLength(status.latest);
  });

  test("store status on a store a newer baremetal wrote warns", async () => {
    cli("store", "init");
    await rawSql(
      location,
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '2027-01-01')",
    );
    const r = fails("store", "status");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/schema version 999 of \d+/);
    expect(r.stderr).toMatch(
      /^warning: schema version 999 is newer than this baremetal knows \(\d+\): upgrade baremetal to use this store\n$/,
    );
  });

  test("boot-server refuses a port or a public URL it cannot use, naming the flag", () => {
    expect(fails("boot-server", "--listen", "127.0.0.1:99999").stderr).toMatch(
      /^baremetal: --listen: expected host:port with a port 0-65535/,
    );
    expect(fails("boot-server").stderr).toMatch(
      /^baremetal: --public-url: needed when listening on every address/,
    );
    expect(
      fails("boot-server", "--listen", "127.0.0.1:0", "--allow", "10.0.0.0/24", "10.1.0.0/33").stderr,
    ).toMatch(
      /^baremetal: --allow: expected a CIDR of the provisioning network, e\.g\. 10\.0\.0\.0\/24 or fd00:10::\/64, not 10\.1\.0\.0\/33/,
    );
    expect(fails("boot-server", "--listen", "127.0.0.1:0", "--allow", "10.0.0.1/24").stderr).toMatch(
      /^baremetal: --allow: 10\.0\.0\.1\/24 has host bits set; the network is 10\.0\.0\.0\/24/,
    );
    for (const url of ["notaurl", "ftp://x"]) {
      expect(fails("boot-server", "--listen", "127.0.0.1:0", "--public-url", url).stderr).toMatch(
        /^baremetal: --public-url: expected an http\(s\) URL machines reach/,
      );
    }
  });

  test("pools: add, list, usage, show, and clear refusals", async () => {
    cli("facility", "add", "lab1");
    cli(
      "ipam",
      "pool",
      "add",
      "lab1-private",
      "--type",
      "private_ipv4",
      "--cidr",
      "10.8.0.0/22",
      "--facility",
      "lab1",
    );
    cli("ipam", "pool", "add", "anycast", "--type", "global_ipv4", "--cidr", "192.0.2.0/24");
    // A pool for a project not (yet) there is added, with a word about it.
    const early = fails(
      "ipam",
      "pool",
      "add",
      "nosuch-pool",
      "--type",
      "private_ipv4",
      "--cidr",
      "10.99.0.0/24",
      "--facility",
      "lab1",
      "--project",
      "nosuch",
    );
    expect([early.status, early.stderr]).toEqual([
      0,
      "warning: project nosuch does not exist (yet): only its members can use pool nosuch-pool; create it with `baremetal project create nosuch`\n",
    ]);
    cli("ipam", "pool", "remove", "nosuch-pool");
    expect(JSON.parse(cli("ipam", "pool", "list", "--json")).map((p: { name: string }) => p.name)).toEqual([
      "anycast",
      "lab1-private",
    ]);

    const overlap = fails(
      "ipam",
      "pool",
      "add",
      "x",
      "--type",
      "private_ipv4",
      "--cidr",
      "10.8.2.0/24",
      "--facility",
      "lab1",
    );
    expect(overlap.status).toBe(1);
    expect(overlap.stderr).toBe(
      "baremetal: PoolOverlap: pool x (10.8.2.0/24) overlaps pool lab1-private (10.8.0.0/22)\n",
    );

    const store = await openStore(location);
    try {
      await store.allocate({
        project: "web",
        type: "private_ipv4",
        facility: "lab1",
        block: { prefixLength: 24 },
        tags: ["a"],
        description: "frontends",
        owner: null,
        actor: "t",
      });
    } finally {
      await store.close();
    }
    const usage = cli("ipam", "pool", "usage");
    expect(usage).toMatch(/lab1-private\s+10\.8\.0\.0\/22\s+1024\s+256\s+768\s+25\.00%\s+1\s+\/23/);
    const shown = JSON.parse(cli("ipam", "pool", "show", "lab1-private", "--json"));
    expect(shown.freeBlockList).toEqual(["10.8.1.0/24", "10.8.2.0/23"]);
    expect(cli("ipam", "reservations", "--project", "web")).toMatch(
      /10\.8\.0\.0\/24\s+lab1-private\s+web\s+-\s+a\s+frontends/,
    );
    expect(JSON.parse(cli("ipam", "reservations", "--project", "other", "--json"))).toEqual([]);
  });

  test("a pool the space check would refuse today (added before it) is shown with what is wrong", async () => {
    cli("facility", "add", "lab1");
    cli(
      "ipam",
      "pool",
      "add",
      "old-public",
      "--type",
      "private_ipv4",
      "--cidr",
      "10.9.0.0/24",
      "--facility",
      "lab1",
    );
    cli(
      "ipam",
      "pool",
      "add",
      "fine",
      "--type",
      "private_ipv4",
      "--cidr",
      "10.10.0.0/24",
      "--facility",
      "lab1",
    );
    // As an older version wrote it: public, over private space.
    await rawSql(location, "UPDATE pools SET type = 'public_ipv4' WHERE name = 'old-public'");
    const problem =
      "pool old-public: 10.9.0.0/24 is in 10.0.0.0/8, private address space (RFC 1918): a public_ipv4 pool " +
      "holds only public addresses; use a private_ipv4 pool";
    const warning = `warning: ${problem}; it still hands out addresses: move its users to a pool that is right\n`;
    const list = fails("ipam", "pool", "list");
    expect([list.status, list.stderr]).toEqual([0, warning]);
    expect(list.stdout).toMatch(/old-public\s+public_ipv4\s+10\.9\.0\.0\/24/);
    const listed = JSON.parse(cli("ipam", "pool", "list", "--json")) as { name: string; problem?: string }[];
    expect(listed.map((p) => [p.name, p.problem])).toEqual([
      ["fine", undefined],
      ["old-public", problem],
    ]);
    const show = fails("ipam", "pool", "show", "old-public");
    expect([show.status, show.stderr]).toEqual([0, warning]);
    expect(JSON.parse(cli("ipam", "pool", "show", "old-public", "--json")).problem).toBe(problem);
    expect(JSON.parse(cli("ipam", "pool", "show", "fine", "--json")).problem).toBeUndefined();
    expect(fails("ipam", "pool", "show", "fine").stderr).toBe("");
  });

  test("inventory apply, list, and machine show, maintenance, release", async () => {
    const file = path.resolve(__dirname, "../fixtures/inventory.yaml");
    const first = cli("inventory", "apply", file);
    expect(first).toMatch(/^\+ facility lab1$/m);
    expect(first).toMatch(/^\+ machine r1-03$/m);
    expect(first.trim().split("\n").at(-1)).toBe("applied");
    expect(cli("inventory", "apply", file).trim()).toBe("no changes");
    expect(cli("inventory", "list")).toMatch(/r1-02\s+lab1\s+c3\.small\s+SN-0002\s+available/);
    expect(cli("inventory", "list")).toMatch(/^lab1\s+Lab one\s+1000-1999\s+10\s+20$/m);
    // Without a layer-3 VLAN of its own, the facility's installed servers share the provisioning
    // network: every apply says what that exposes, and the list shows it.
    const shared = path.join(os.tmpdir(), `shared-${process.pid}.yaml`);
    fs.writeFileSync(shared, fs.readFileSync(file, "utf8").replace(/^ {4}layer3Vlan: .*\n/m, ""));
    try {
      const r = fails("inventory", "apply", shared);
      expect([r.status, r.stderr]).toEqual([
        0,
        "warning: facility lab1 has no layer3Vlan: installed layer3 and hybrid servers stay on the provisioning " +
          "VLAN 10, where any of them can ask the boot server for the scripts and configs of machines being " +
          "installed or wiped; give the facility's layer-3 network a VLAN of its own\n",
      ]);
      expect(r.stdout).toMatch(/^~ facility lab1/m);
      expect(cli("inventory", "list")).toMatch(/^lab1\s+Lab one\s+1000-1999\s+10\s+10 \(shared\)$/m);
    } finally {
      fs.rmSync(shared, { force: true });
    }
    expect(cli("inventory", "apply", file)).toMatch(/^~ facility lab1/m);
    // A facility made for pools alone is listed too, without VLAN settings.
    cli("facility", "add", "edge1");
    expect(cli("inventory", "list")).toMatch(/^edge1\s+-\s+-\s+-$/m);
    expect(JSON.parse(cli("inventory", "list", "--json")).facilitiesWithoutVlans).toEqual([
      { code: "edge1", name: null },
    ]);
    expect(JSON.parse(cli("machine", "show", "r1-03", "--json")).nics).toHaveLength(2);

    expect(cli("machine", "maintenance", "r1-03", "--reason", "fan noise").trim()).toBe(
      "machine r1-03: maintenance",
    );
    expect(cli("machine", "show", "r1-03")).toMatch(/maintenance \(fan noise\)/);
    expect(cli("machine", "release", "r1-03", "--reason", "fan replaced").trim()).toBe(
      "machine r1-03: available",
    );
    const refused = fails("machine", "release", "r1-03", "--reason", "x");
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe(
      "baremetal: MachineStateConflict: machine r1-03 is available; this needs it to be quarantine or maintenance\n",
    );
    // A quarantined machine stays so until released: maintenance would overwrite why it is there,
    // and its end (--off) would put the machine back without the check release stands for.
    await rawSql(
      location,
      "UPDATE machines SET state = 'quarantine', state_reason = 'not wiped' WHERE id = 'r1-03'",
    );
    expect(fails("machine", "maintenance", "r1-03", "--reason", "fan").stderr).toBe(
      "baremetal: MachineStateConflict: machine r1-03 is quarantine; this needs it to be available\n",
    );
    expect(cli("machine", "show", "r1-03")).toMatch(/quarantine \(not wiped\)/);
    expect(cli("machine", "release", "r1-03", "--reason", "wiped by hand").trim()).toBe(
      "machine r1-03: available",
    );
    expect(fails("machine", "maintenance", "r1-03", "--reason", " ").stderr).toMatch(
      /option '--reason <text>' argument ' ' is invalid. say why, for whoever looks next/,
    );
    const missing = fails("machine", "show", "r9-99");
    expect(missing.stderr).toBe("baremetal: MachineNotFound: machine r9-99 is not in the inventory\n");
  });

  test("project create, list, show; audit; user logins on PostgreSQL only", async () => {
    expect(
      cli("project", "create", "web", "--owner", "olive@example.com", "--description", "the web tier").trim(),
    ).toBe("project web, owner olive@example.com");
    const again = fails("project", "create", "web", "--owner", "x@example.com");
    expect(again.stderr).toBe("baremetal: ProjectExists: project web already exists\n");
    expect(fails("project", "create", "Web!", "--owner", "x@example.com").stderr).toMatch(
      /project name: Web! must be/,
    );
    // Keys taken here go into every server of the project: the renderer's own rule, now.
    expect(
      fails("project", "create", "web2", "--owner", "x@example.com", "--ssh-key", "garbage").stderr,
    ).toMatch(/^baremetal: --ssh-key 0: each ssh key is one OpenSSH public key line/);
    expect(fails("project", "create", "web2", "--owner", "x@localhost").stderr).toMatch(
      /^baremetal: --owner: user must be an email address/,
    );
    expect(cli("project", "list")).toMatch(/web\s+olive@example\.com\s+1\s+the web tier/);
    expect(JSON.parse(cli("project", "show", "web", "--json")).members).toEqual([
      expect.objectContaining({ user: "olive@example.com", role: "owner", sshKeys: [] }),
    ]);
    // Added outside any stack: said so, with who added it.
    expect(cli("project", "show", "web")).toMatch(/olive@example\.com\s+owner\s+0\s+\S+\s+\S+\s+no stack/);
    expect(fails("project", "show", "nope").stderr).toBe(
      "baremetal: ProjectNotFound: project nope does not exist\n",
    );
    // The project's creation, with its first owner, is the log's first entry.
    expect(JSON.parse(cli("audit", "--project", "web", "--json"))).toEqual([
      expect.objectContaining({
        resource: "Project:web",
        action: "create",
        stage: "finished",
        after: { name: "web", description: "the web tier", owner: "olive@example.com" },
      }),
    ]);
    expect(fails("audit", "--since", "99999999999d").stderr).toMatch(
      /^baremetal: --since: 99999999999d reaches before any date/,
    );
    expect(cli("audit", "--since", "2h")).toMatch(/^AT\s+ACTOR/);
    expect(fails("audit", "--since", "yesterday-ish").stderr).toMatch(/--since: yesterday-ish is not a time/);
    // Not the year 2001, as Date.parse would have it.
    expect(fails("audit", "--since", "2").stderr).toMatch(/--since: 2 is not a time/);
    expect(cli("audit", "--since", "2026-01-01")).toMatch(/^AT\s+ACTOR/);
    // Operators' changes are in the store's event log.
    cli("facility", "add", "lab7");
    cli(
      "ipam",
      "pool",
      "add",
      "p7",
      "--type",
      "private_ipv4",
      "--cidr",
      "10.77.0.0/24",
      "--facility",
      "lab7",
    );
    const events = JSON.parse(cli("audit", "--events", "--since", "1h", "--json")) as {
      action: string;
      subject: string;
    }[];
    expect(events.map((e) => [e.action, e.subject])).toEqual(expect.arrayContaining([["pool.add", "p7"]]));
    expect(cli("audit", "--events")).toMatch(/pool\.add\s+p7\s+\{"cidr":"10\.77\.0\.0\/24"/);
    expect(fails("audit", "--events", "--project", "web").stderr).toMatch(
      /--project: the event log is not by project/,
    );

    const add = spawnSync(
      process.execPath,
      [main, "store", "user-add", "dana@example.com", "--store", location],
      {
        encoding: "utf8",
        env: { ...process.env, BAREMETAL_NEW_PASSWORD: "correct horse battery" },
      },
    );
    if (location.startsWith("sqlite:")) {
      expect(add.stderr).toMatch(/only PostgreSQL stores have logins/);
    } else {
      expect(add.stdout).toMatch(/^login dana@example.com can connect/);
      // Logins are the cluster's: this one goes with the test.
      const c = new Client({ connectionString: location });
      await c.connect();
      await c.query(`DROP ROLE "dana@example.com"`);
      await c.end();
    }
  });
});
