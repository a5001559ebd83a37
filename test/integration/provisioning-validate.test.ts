// The vendors' own validators on every config the renderers produce:
// - Ignition: CoreOS's ignition-validate (github.com/coreos/ignition/v2/validate), built at the
//   pinned IGNITION_VERSION by scripts/install-ignition-validate and cached outside the work tree;
// - cloud-init: `cloud-init schema` from Debian's cloud-init package for the seed's user-data and
//   for the installed system's cloud-config inside it (subiquity validates that one too);
// - network-config: `cloud-init schema --schema-type network-config` where the installed
//   cloud-init has it; otherwise cloud-init's own parser (`cloud-init devel net-convert`, to
//   netplan as on Ubuntu) and netplan's (`netplan generate`, Debian's netplan.io), which is what
//   consumes network config v2 on Ubuntu.
// Each validator is also shown a broken config, so a validator that checks nothing fails here.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse as parseYaml, stringify as yaml } from "yaml";
import fc from "fast-check";
import { renderBoot } from "../../provider/provisioning/render";
import { ignitionProblems, parseIgnition } from "../../provider/provisioning/render/ignition-user";
import type { OperatingSystem, ProvisionSpec } from "../../provider/provisioning/spec";
import { bootServerUrls } from "../../provider/provisioning/urls";
import { ensurePackages } from "../lab/apt";

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, "../..");
const BOOT = "http://10.0.0.1:8080";

function spec(os: OperatingSystem, over: Partial<ProvisionSpec> = {}): ProvisionSpec {
  return {
    hostname: "db-1.example.net",
    operatingSystem: os,
    sshKeys: [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop",
    ],
    interfaces: [
      {
        name: "eth0",
        mac: "52:54:00:aa:00:01",
        addresses: [
          { cidr: "198.51.100.10/31", family: 4, gateway: "198.51.100.11", public: true },
          { cidr: "2001:db8::10/127", family: 6, gateway: "2001:db8::11", public: true },
        ],
      },
      {
        name: "eth1",
        mac: "52:54:00:aa:00:02",
        // A private block with its router: its pool is routed through it (the default stays public).
        addresses: [
          { cidr: "10.20.0.5/24", family: 4, gateway: "10.20.0.1", public: false, routes: ["10.20.0.0/16"] },
        ],
      },
      { name: "eth2", mac: "52:54:00:aa:00:03", addresses: [] },
    ],
    dns: ["9.9.9.9", "2620:fe::fe"],
    rootPasswordHash: "$6$Nf1JwzQp$" + "x".repeat(86),
    token: "tok_4fJ9-kQ2xZ",
    urls: bootServerUrls(BOOT),
    images: {
      flatcar: `${BOOT}/images/flatcar/amd64-usr/current`,
      fedoraCoreos: `${BOOT}/images/fedora-coreos/stable`,
      ubuntu: `${BOOT}/images/ubuntu`,
      wipe: `${BOOT}/images/wipe`,
    },
    ...over,
  };
}

interface Run {
  code: number;
  out: string;
}

function run(cmd: string, args: string[]): Run {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`.trim() };
}

let work: string;
let ignitionValidate: string;
let networkSchema: boolean;
let n = 0;

function file(name: string, text: string): string {
  const p = path.join(work, `${++n}-${name}`);
  writeFileSync(p, text);
  return p;
}

beforeAll(() => {
  ensurePackages(["cloud-init", "netplan.io"]);
  ignitionValidate = execFileSync(path.join(ROOT, "scripts/install-ignition-validate"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 900_000,
  }).trim();
  networkSchema = run("cloud-init", ["schema", "--help"]).out.includes("--schema-type");
  work = mkdtempSync(path.join(tmpdir(), "baremetal-validate-"));
}, 1_200_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const validateIgnition = (text: string): Run => run(ignitionValidate, [file("config.ign", text)]);

describe("Ignition configs pass ignition-validate", () => {
  test("the validator is the pinned build", () => {
    const pinned = /^IGNITION_VERSION=(\S+)$/m.exec(
      readFileSync(path.join(ROOT, "scripts/versions.env"), "utf8"),
    );
    expect(run(ignitionValidate, ["-version"]).out).toBe(`Ignition v${pinned?.[1]}`);
  });

  const userConfig = JSON.stringify({
    ignition: { version: "3.3.0" },
    storage: { files: [{ path: "/etc/motd", contents: { source: "data:,hello%0A" }, mode: 420 }] },
    systemd: {
      units: [
        {
          name: "hello.service",
          enabled: true,
          contents: "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
        },
      ],
    },
  });

  for (const os of ["flatcar_stable", "fedora_coreos_stable"] as const) {
    test(`${os}: ours, and ours with the user's config merged in and custom data: no errors, no warnings`, () => {
      const plain = renderBoot(spec(os));
      expect(validateIgnition(plain.ignition!)).toEqual({ code: 0, out: "" });
      expect(validateIgnition(plain.installerIgnition!)).toEqual({ code: 0, out: "" });

      const merged = renderBoot(
        spec(os, { userData: userConfig, customData: { rack: "r1" }, installDisk: "/dev/disk/by-id/nvme-x" }),
      ).ignition!;
      expect(validateIgnition(merged)).toEqual({ code: 0, out: "" });
      // Ignition fetches (here: decodes) merged configs only at boot, so check the user's too.
      const source = (JSON.parse(merged) as { ignition: { config: { merge: { source: string }[] } } })
        .ignition.config.merge[0]!.source;
      const theirs = Buffer.from(source.replace(/^data:;base64,/, ""), "base64").toString();
      expect(validateIgnition(theirs)).toEqual({ code: 0, out: "" });
    });
  }

  test("broken configs fail: a relative path, a malformed unit, a newer spec than the validator knows", () => {
    const config = JSON.parse(renderBoot(spec("flatcar_stable")).ignition!);
    config.storage.files[0].path = "etc/hostname";
    const relative = validateIgnition(JSON.stringify(config));
    expect(relative.code).toBe(1);
    expect(relative.out).toMatch(/error at \$\.storage\.files\.0\.path.*path not absolute/);

    const unitConfig = JSON.parse(renderBoot(spec("fedora_coreos_stable")).ignition!);
    unitConfig.systemd.units[0].contents = "[Unit\nDescription=x\n";
    const unit = validateIgnition(JSON.stringify(unitConfig));
    expect(unit.code).toBe(1);
    expect(unit.out).toMatch(/error at \$\.systemd\.units\.0\.contents/);

    const future = validateIgnition(JSON.stringify({ ignition: { version: "9.0.0" } }));
    expect(future.code).toBe(1);
    expect(future.out).toMatch(/unsupported config version/i);
  });
});

// The provider refuses at preview a user's Ignition config that Ignition would refuse at the
// machine's first boot (render/ignition-user.ts). Random configs, built from parts Ignition
// takes and parts it refuses, get the same verdict from both.
describe("the user's Ignition config: the provider's verdict is ignition-validate's", () => {
  const hex = (n: number) => "0123456789abcdef".repeat(16).slice(0, n);
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  const some = <T>(...values: T[]) => fc.constantFrom(...values);
  const path_ = some(
    "/etc/motd",
    "/etc/x.conf",
    "etc/motd",
    "/etc/../etc/y",
    "/etc/motd/",
    "",
    "/opt/l/x",
    "/opt/l",
  );
  const owner = opt(some<object>({ id: 0 }, { name: "core" }, { id: 0, name: "core" }));
  const resource = some<object>(
    { source: "data:,hi%0A" },
    { source: "data:;base64,aGkK" },
    { source: "https://example.com/x", verification: { hash: `sha512-${hex(128)}` } },
    { source: "https://example.com/x", verification: { hash: `sha256-${hex(64)}` } },
    { source: "https://example.com/x", verification: { hash: "sha512-ab" } },
    { source: "https://example.com/x", verification: { hash: `md5-${hex(32)}` } },
    { source: "https://example.com/x", verification: { hash: "sha512" } },
    { verification: { hash: `sha512-${hex(128)}` } },
    { source: "https://example.com/x", compression: "gzip" },
    { source: "https://example.com/x", compression: "xz" },
    { source: "ftp://example.com/x" },
    { source: "tftp://10.0.0.1/x" },
    { source: "example.com/x" },
    { source: "https://example.com/x", httpHeaders: [{ name: "A", value: "b" }] },
    {
      source: "https://example.com/x",
      httpHeaders: [
        { name: "A", value: "b" },
        { name: "A", value: "c" },
      ],
    },
    { source: "https://example.com/x", httpHeaders: [{ name: "", value: "b" }] },
    { source: "https://example.com/x", httpHeaders: [{ name: "A", value: "" }] },
    { source: "data:,x", httpHeaders: [{ name: "A", value: "b" }] },
    { source: "https://example.com/%zz" },
    { source: "http://example.com/f?x=100%" },
    { source: "" },
  );
  // A number literal JSON.stringify never writes (420.0, 4.2e2, past int64) is drawn as a
  // string `#420.0#`, written into the text bare.
  const mode = opt(some<unknown>(420, 0o755, 0o4755, 0o17777, -1, "420", 1.5, "#420.0#", "#4.2e2#", "#-0#"));
  // Go matches keys in any case: some entries spell theirs otherwise.
  const anyCase = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k[0]!.toUpperCase() + k.slice(1), v]));
  const file = fc.oneof(
    fc.record(
      { path: path_, mode, contents: opt(resource), overwrite: opt(fc.boolean()), user: owner, group: owner },
      { requiredKeys: ["path"] },
    ),
    fc.record({ path: path_, overwrite: opt(fc.boolean()), contents: opt(resource) }).map(anyCase),
  );
  const directory = fc.record({ path: path_, mode, user: owner }, { requiredKeys: ["path"] });
  const link = fc.record(
    {
      path: some("/opt/l", "/opt/m", "opt/l", "/etc/motd"),
      target: opt(some("/etc", "x", "")),
      hard: opt(fc.boolean()),
    },
    { requiredKeys: ["path"] },
  );
  const contents = opt(
    some(
      "[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/true\n",
      "[Unit\nDescription=x\n",
      "[Unit] junk\nDescription=x\n",
      "[Service]\nExecStart\n",
      "[Service]\nExecStart",
      "text before any section\n[Service]\nA=b\n",
      "# a comment \\\n[not a section\n[Service]\nA=b \\\n  continued\n",
      "; x\n[Service]\n  # indented comment\nA = b\n",
      "[Unit]\n\u0085\nDescription=x\n",
      "# c \\  \n[x\n[Service]\nA=b\n",
      `[Service]\nExecStart=/bin/echo ${"x".repeat(2100)}\n`,
      "",
    ),
  );
  const unit = fc.record(
    {
      name: some("a.service", "b.timer", "c.mount", "a.conf", "noext", "d@.service", "x.socket"),
      contents,
      enabled: opt(fc.boolean()),
      dropins: opt(
        fc.array(
          fc.record({ name: some("10-a.conf", "20-b.conf", "x.txt"), contents }, { requiredKeys: ["name"] }),
          {
            maxLength: 2,
          },
        ),
      ),
    },
    { requiredKeys: ["name"] },
  );
  const user = fc.record(
    {
      name: some("core", "alice"),
      sshAuthorizedKeys: opt(some<unknown>(["ssh-ed25519 AAAA a"], ["k1", "k1"], "k1", [null])),
      groups: opt(some<unknown>(["wheel"], ["wheel", "wheel"], [null])),
      uid: opt(some<unknown>(1001, "1001", "#1001.0#", "#9223372036854775808#", "#9223372036854775807#")),
    },
    { requiredKeys: ["name"] },
  );
  const guid = "01234567-89AB-CDEF-EDCB-A98765432101";
  const partition = fc.record({
    number: opt(some(0, 1, 2, 3)),
    label: opt(some("root", "data", "a:b", "x".repeat(40))),
    guid: opt(some(guid, guid, "not-a-guid", "")),
    shouldExist: opt(some(true, true, false)),
    startMiB: opt(some(0, 2048, 2560, 4096)),
    sizeMiB: opt(some(0, 512, 1024)),
  });
  const disk = fc.record(
    {
      device: some("/dev/sda", "/dev/sda", "sda", ""),
      partitions: opt(fc.array(partition, { maxLength: 3 })),
      wipeTable: opt(fc.boolean()),
    },
    { requiredKeys: ["device"] },
  );
  // Numbered partitions placed at random: overlaps (Ignition skips those starting at 0 or sized
  // by nothing) with no other fault beside them.
  const layout = fc
    .array(fc.record({ startMiB: opt(some(0, 2048, 2304, 2560)), sizeMiB: opt(some(0, 512, 1024)) }), {
      minLength: 2,
      maxLength: 3,
    })
    .map((parts) => ({ device: "/dev/sdb", partitions: parts.map((p, i) => ({ number: i + 1, ...p })) }));
  const filesystem = fc.record(
    {
      device: some("/dev/sda1", "/dev/sdb", "sdb", ""),
      format: opt(some("ext4", "xfs", "vfat", "ntfs", "")),
      label: opt(some("data", "a-very-long-label-x", "\u00e9".repeat(8))),
      path: opt(some("/var/data", "var/data")),
      wipeFilesystem: opt(fc.boolean()),
    },
    { requiredKeys: ["device"] },
  );
  const raid = fc.record(
    {
      name: some("md0"),
      level: opt(some("raid1", "raid7", "linear", "")),
      devices: opt(some(["/dev/sda", "/dev/sdb"], [])),
      spares: opt(some(0, 1)),
    },
    { requiredKeys: ["name"] },
  );
  // Valid values listed more than once: an entry is then often valid as a whole.
  const tang = fc.record(
    {
      url: some("https://tang.example.com", "http://tang:80", "tang.example.com", "", "https://tang/%zz"),
      thumbprint: opt(some("abc", "abc", "abc", "")),
      advertisement: opt(some('{"payload":"x"}', '{"payload":"x"}', "{not json")),
    },
    { requiredKeys: ["url"] },
  );
  const luks = fc.record(
    {
      name: some("data", "root", "da/ta"),
      device: opt(some("/dev/sdb", "/dev/sdb", "/dev/sdb", "sdb", "")),
      label: opt(some("secret", "secret", "x".repeat(48))),
      keyFile: opt(some<object>({ source: "data:,k" }, { source: "data:,k" }, { source: "ftp://x/k" })),
      openOptions: opt(some(["--allow-discards"], ["--allow-discards"], ["-q", "-q"])),
      options: opt(some(["--cipher", "--cipher"])),
      clevis: opt(
        fc.record({
          tpm2: opt(fc.boolean()),
          threshold: opt(some(0, 1, 2)),
          tang: opt(fc.array(tang, { maxLength: 2 })),
          custom: opt(
            fc.record({
              pin: opt(some("tpm2", "sss", "yubikey", "")),
              config: opt(some('{"t":1}', '{"t":1}', "")),
              needsNetwork: opt(fc.boolean()),
            }),
          ),
        }),
      ),
    },
    { requiredKeys: ["name", "device"] },
  );
  const config = fc.record(
    {
      ignition: fc.record(
        {
          version: some("3.4.0", "3.3.0", "3.2.0", "3.1.0", "3.0.0"),
          config: opt(
            fc.record({
              merge: fc.array(some<object>({ source: "https://example.com/c.ign" }, {}, { source: "nope" }), {
                maxLength: 2,
              }),
            }),
          ),
          proxy: opt(fc.record({ httpProxy: opt(some("http://proxy:3128", "socks5://proxy")) })),
        },
        { requiredKeys: ["version"] },
      ),
      storage: fc.record({
        files: opt(fc.array(file, { maxLength: 3 })),
        directories: opt(fc.array(directory, { maxLength: 2 })),
        links: opt(fc.array(link, { maxLength: 2 })),
        disks: opt(fc.array(disk, { maxLength: 2 })),
        filesystems: opt(fc.array(filesystem, { maxLength: 2 })),
        raid: opt(fc.array(raid, { maxLength: 1 })),
        luks: opt(fc.array(luks, { maxLength: 2 })),
      }),
      systemd: opt(fc.record({ units: fc.array(unit, { maxLength: 3 }) })),
      passwd: opt(fc.record({ users: fc.array(user, { maxLength: 2 }) })),
    },
    { requiredKeys: ["ignition"] },
  );

  const sameVerdict = (configs: fc.Arbitrary<object>, numRuns: number) => {
    let refused = 0;
    let runs = 0;
    fc.assert(
      fc.property(configs, (c) => {
        const text = JSON.stringify(c).replace(/"#([^"#]*)#"/g, "$1");
        const theirs = validateIgnition(text);
        const ours = ignitionProblems(parseIgnition(text));
        runs++;
        if (theirs.code !== 0) refused++;
        if ((theirs.code !== 0) !== ours.length > 0) {
          throw new Error(
            `ignition-validate (exit ${theirs.code}): ${theirs.out}\nours: ${JSON.stringify(ours)}`,
          );
        }
      }),
      { numRuns, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) },
    );
    // Both kinds were shown: a generator that only made valid (or only broken) configs proves little.
    expect(refused).toBeGreaterThan(runs / 4);
    expect(refused).toBeLessThan(runs);
  };

  test("random configs: refused by both or by neither (a counterexample names both verdicts)", () => {
    sameVerdict(config, 300);
  });

  // URLs as Go's url.Parse and the data URL decoder read them: a scheme, an authority (host,
  // port, user), a path, a query and a fragment, each drawn from forms taken and refused.
  const url = fc.oneof(
    fc
      .tuple(
        some("https://", "http://", "s3://", "tftp://", "gs://", "HTTPS://", "", "1http://", "https:"),
        some(
          "example.com",
          "example.com:8080",
          "example.com:80a",
          "h:1:2",
          "[::1]:80",
          "[::1",
          "[1.2.3.4]",
          "[fe80::1%25en0]",
          "[fe80::1%25]",
          "x[::1]",
          "u:p@h",
          "u:p w@h",
          "h h",
          "ex%41mple",
          "ex%C3%A9",
          "a{b}",
          "\u00fc.example",
          "",
        ),
        some("", "/x", "/a%zz", "/a%41", "/\u00fc b"),
        some("", "?versionId=", "?versionId=1", "?a=%zz", "?versionId", "?x=1&versionId=&versionId=2"),
        some("", "#f", "#%zz"),
      )
      .map((parts) => parts.join("")),
    // S3 ARNs (3.4.0): six `:`-separated sections or fewer, the service, and what the resource
    // holds after the bucket or access point, read from the URL's opaque part.
    fc
      .tuple(
        some("arn:", "ARN:", "arn:/", "arn:///"),
        some("aws:s3:", "aws:iam:", "aws:S3:", "aws-cn:s3:", ":s3:", "s3:"),
        some("::", "us-west-2:123456789012:", ":", "us-west-2::"),
        some(
          "bucket/key",
          "bucket",
          "bucket/",
          "bucket/a/b",
          "bucket:x/key",
          "accesspoint",
          "accesspoint/",
          "accesspoint/ap",
          "accesspoint/ap/",
          "accesspoint/ap/obj",
          "accesspoint:ap/obj",
        ),
        some("", "?versionId=", "?versionId=v1", "?x=/y", "#f/g"),
      )
      .map((parts) => parts.join("")),
    some(
      "data:,hello",
      "data:,hello world",
      "data:,a%zz",
      "data:,a%20b",
      "data:,a#b",
      "data:,a{b}",
      "DATA:,x",
      "data:x",
      "data:;base64,aGkK",
      "data:;base64,aGk",
      "data:;base64,aG k=",
      "data:;base64,aGk=\naGk=",
      "data:;base64,aGkK\n",
      "data:;BASE64,aGkK",
      "data:text/plain;charset=utf-8,x",
      'data:text/plain;charset="utf-8",x',
      'data:;a="x,y",z',
      'data:;a="x\\q",z',
      'data:;a="x\\n",z',
      "data:text,x",
      "data:foo/bar,x",
      "data:x-foo/bar,x",
      "data:textual/x,y",
      "data:text/,x",
      "data:text/pl@in,x",
      "data:text/plain/x,y",
      "data:text/plain;base64;a=b,x",
      "data:text/plain;a,x",
      "data:text/plain;a=,x",
      "data:text/plain;;a=b,x",
      "data:text/plain;a=%zz,x",
    ),
  );

  // In a whole config another part's refusal hides a wrong verdict on one part; here each stands
  // alone, in each spec version that has it.
  test.each([
    ["LUKS and Clevis", { luks: fc.array(luks, { minLength: 1, maxLength: 2 }) }],
    ["disks and partitions", { disks: fc.array(fc.oneof(disk, layout), { minLength: 1, maxLength: 2 }) }],
    [
      "URLs",
      {
        files: fc.array(
          url.map((source) => ({ path: "/etc/a", contents: { source } })),
          { maxLength: 1, minLength: 1 },
        ),
      },
    ],
  ])("%s alone: refused by both or by neither", (_, storage) => {
    sameVerdict(
      fc.record({
        ignition: fc.record({ version: some("3.4.0", "3.3.0", "3.2.0") }),
        storage: fc.record(storage as Record<string, fc.Arbitrary<unknown>>),
      }),
      200,
    );
  });
});

describe("cloud-init seeds pass cloud-init's and netplan's validators", () => {
  const schema = (text: string, kind?: "network-config"): Run =>
    run("cloud-init", [
      "schema",
      ...(kind ? ["--schema-type", kind] : []),
      "--config-file",
      file(kind ?? "user-data", text),
    ]);

  /** Ubuntu's path for network config v2: cloud-init renders it to netplan, netplan generates. */
  function checkNetwork(networkYaml: string): Run {
    if (networkSchema) {
      const r = schema(networkYaml, "network-config");
      if (r.code !== 0) return r;
    }
    const out = path.join(work, `${++n}-net-convert`);
    const converted = run("cloud-init", [
      "devel",
      "net-convert",
      "--network-data",
      file("network-config", networkYaml),
      "--kind",
      "yaml",
      "--distro",
      "ubuntu",
      "--output-kind",
      "netplan",
      "--directory",
      out,
    ]);
    if (converted.code !== 0) return converted;
    const root = path.join(work, `${++n}-netplan-root`);
    mkdirSync(path.join(root, "etc/netplan"), { recursive: true });
    const netplanFile = path.join(root, "etc/netplan/50-cloud-init.yaml");
    writeFileSync(netplanFile, networkYaml);
    chmodSync(netplanFile, 0o600); // netplan warns about world-readable configs
    return run("netplan", ["generate", "--root-dir", root]);
  }

  const variants: [string, Partial<ProvisionSpec>][] = [
    ["plain", {}],
    [
      "with a #cloud-config userData and custom data",
      {
        userData:
          "#cloud-config\npackages: [htop]\nruncmd: [[touch, /tmp/ran]]\nusers: [{name: deploy, groups: [sudo]}]\n",
        customData: { rack: "r1", tags: ["a", "b"] },
        installDisk: "/dev/nvme0n1",
      },
    ],
    ["with a script userData", { userData: "#!/bin/sh\necho hello > /tmp/hello\n" }],
    [
      "IPv6 only (DHCPv4 kept), a user's keys for ubuntu, a by-path install disk",
      {
        interfaces: [
          {
            name: "eth0",
            mac: "52:54:00:aa:00:01",
            addresses: [{ cidr: "2001:db8::10/127", family: 6, gateway: "2001:db8::11", public: true }],
          },
          { name: "eth1", mac: "52:54:00:aa:00:02", addresses: [] },
        ],
        userData:
          "#cloud-config\nssh_authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJm top']\n" +
          "users: [default, {name: ubuntu, ssh_authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJn mine']}]\n",
        installDisk: "/dev/disk/by-path/pci-0000:00:17.0-ata-1",
      },
    ],
  ];

  for (const os of ["ubuntu_22_04", "ubuntu_24_04"] as const) {
    for (const [name, over] of variants) {
      test(`${os}, ${name}: user-data, the installed system's cloud-config, network-config`, () => {
        const seed = renderBoot(spec(os, over)).cloudInit!;
        const top = schema(seed.userData);
        expect(top.out).toMatch(/^Valid cloud-config/);
        expect(top).toMatchObject({ code: 0 });

        const autoinstall = (parseYaml(seed.userData) as { autoinstall: Record<string, unknown> })
          .autoinstall;
        const installed = schema("#cloud-config\n" + yaml(autoinstall["user-data"]));
        expect(installed.out).toMatch(/^Valid cloud-config/);
        expect(installed).toMatchObject({ code: 0 });

        expect(checkNetwork(seed.networkConfig)).toMatchObject({ code: 0 });
        expect(checkNetwork(yaml({ network: autoinstall.network }))).toMatchObject({ code: 0 });

        const meta = parseYaml(seed.metaData) as Record<string, string>;
        expect(meta).toEqual({ "instance-id": "tok_4fJ9-kQ2xZ", "local-hostname": "db-1.example.net" });
      });
    }
  }

  test("broken seeds fail: a bad phone_home, a missing autoinstall version, a malformed address", () => {
    const seed = renderBoot(spec("ubuntu_24_04")).cloudInit!;
    const autoinstall = (parseYaml(seed.userData) as { autoinstall: Record<string, Record<string, unknown>> })
      .autoinstall;
    const installed = {
      ...autoinstall["user-data"],
      phone_home: { url: 5, post: "everything", tries: "ten" },
    };
    const badPhoneHome = schema("#cloud-config\n" + yaml(installed));
    expect(badPhoneHome.code).toBe(1);
    expect(badPhoneHome.out).toMatch(/phone_home\.tries: 'ten' is not of type 'integer'/);

    const noVersion = schema(
      "#cloud-config\n" + yaml({ autoinstall: { ...autoinstall, version: undefined } }),
    );
    expect(noVersion.code).toBe(1);
    expect(noVersion.out).toMatch(/autoinstall: 'version' is a required property/);

    const network = parseYaml(seed.networkConfig) as {
      network: { ethernets: { eth0: { addresses: string[] } } };
    };
    network.network.ethernets.eth0.addresses = ["300.1.1.1/24"];
    const badAddress = checkNetwork(yaml(network));
    expect(badAddress.code).not.toBe(0);
    expect(badAddress.out).toMatch(/300\.1\.1\.1/);
  });
});
