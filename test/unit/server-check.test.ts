// Server inputs as `check` sees them: each refusal names the field and says what is valid.
import { check } from "../../provider/resources/server";

const base = {
  project: "demo",
  facility: "lab",
  plan: "lab.small",
  hostname: "web-1",
  operatingSystem: "flatcar_stable",
};

const reasons = async (extra: Record<string, unknown>) =>
  ((await check({}, { ...base, ...extra })).failures ?? []).map((f) => f.reason);

test("valid inputs pass, with defaults filled in", async () => {
  const r = await check({}, base);
  expect(r.failures).toBeUndefined();
  expect(r.inputs).toMatchObject({ networkType: "layer3", alwaysPxe: false, wipeOnDelete: true });
});

test("custom_ipxe needs its script; the script belongs to custom_ipxe only", async () => {
  expect(await reasons({ operatingSystem: "custom_ipxe" })).toEqual([
    "ipxeScriptUrl: operatingSystem custom_ipxe needs ipxeScriptUrl (a URL or a script starting with #!ipxe)",
  ]);
  const other = await reasons({ ipxeScriptUrl: "https://boot.example.com/x.ipxe", alwaysPxe: true });
  expect(other).toHaveLength(1);
  expect(other[0]).toMatch(
    /^ipxeScriptUrl: ipxeScriptUrl is the script of operatingSystem custom_ipxe; flatcar_stable/,
  );
  expect(
    await reasons({ operatingSystem: "custom_ipxe", ipxeScriptUrl: "#!ipxe\nexit\n", alwaysPxe: true }),
  ).toEqual([]);
  // What only our installers deliver is refused, not silently dropped.
  const custom = { operatingSystem: "custom_ipxe", ipxeScriptUrl: "#!ipxe\nexit\n" };
  const dropped = await reasons({
    ...custom,
    userData: "#cloud-config\n",
    customData: { a: 1 },
    sshKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG me@x"],
  });
  expect(dropped.map((r) => r.split(":")[0])).toEqual(["userData", "customData", "sshKeys"]);
  expect(dropped[0]).toMatch(/custom_ipxe boots your own script, which gets nothing from us/);
});

test("a userData the OS's installer could not take is refused at check, naming the field", async () => {
  expect(await reasons({ operatingSystem: "ubuntu_24_04", userData: "packages: [nginx]" })).toEqual([
    'userData: userData for Ubuntu must start with "#cloud-config" or be a script starting with "#!" (got "packages: [nginx]")',
  ]);
  expect(
    await reasons({ operatingSystem: "ubuntu_24_04", userData: "#cloud-config\npackages: [nginx]" }),
  ).toEqual([]);
  expect(await reasons({ userData: "#cloud-config\n" })).toEqual([
    "userData: userData for Flatcar and Fedora CoreOS must be an Ignition config (JSON)",
  ]);
  expect((await reasons({ userData: JSON.stringify({ ignition: { version: "3.5.0" } }) }))[0]).toMatch(
    /^userData: userData is an Ignition config of version "3.5.0"; it must be 3.0.0 to 3.4.0/,
  );
  expect(await reasons({ userData: JSON.stringify({ ignition: { version: "3.4.0" } }) })).toEqual([]);
});

test("an Ignition userData that Ignition would refuse at first boot is refused at check, naming the place", async () => {
  const ignition = (extra: object, version = "3.4.0") =>
    reasons({ userData: JSON.stringify({ ignition: { version }, ...extra }) });
  expect(
    await ignition({
      storage: {
        files: [
          { path: "etc/motd", contents: { source: "data:,hi" } },
          { path: "/etc/motd/", mode: 0o17777 },
        ],
      },
      systemd: { units: [{ name: "web", contents: "[Service\nExecStart=/bin/true\n" }] },
    }),
  ).toEqual([
    "userData: userData is an Ignition config that Ignition would refuse at first boot: " +
      "$.storage.files[0].path: path not absolute; $.storage.files[1].path: path is not fully simplified; " +
      "$.storage.files[1].mode: illegal file mode; $.systemd.units[0].name: invalid systemd unit extension; " +
      "$.systemd.units[0].contents: invalid unit content: unable to find end of section",
  ]);
  // Types as Ignition's JSON decoding takes them.
  expect(
    await ignition({ passwd: { users: [{ name: "core", sshAuthorizedKeys: "ssh-ed25519 AAAA me" }] } }),
  ).toEqual([
    expect.stringMatching(
      /\$\.passwd\.users\[0\]\.sshAuthorizedKeys: Invalid input: expected array, received string$/,
    ),
  ]);
  // Nor may it replace what makes the Server: the phone-home, and root's password (its output).
  expect(
    await ignition({
      systemd: { units: [{ name: "baremetal-phone-home.service", mask: true }] },
      storage: { files: [{ path: "/var/lib/baremetal" }] },
      passwd: { users: [{ name: "root", passwordHash: "*" }] },
    }),
  ).toEqual([
    expect.stringMatching(
      /\$\.systemd\.units\[0\]\.name: baremetal-phone-home\.service is the provider's own unit.*\$\.storage\.files\[0\]\.path: \/var\/lib\/baremetal is the provider's own.*\$\.passwd\.users\[0\]\.passwordHash: root's password is the provider's/,
    ),
  ]);
  // A directory on the marker's way replaces nothing.
  expect(await ignition({ storage: { directories: [{ path: "/var/lib" }] } })).toEqual([]);
  // As Go decodes: keys in any case, null list items, an empty source that is still a source.
  expect(
    await ignition({
      Storage: { Files: [{ Path: "/etc/a", overwrite: true, contents: { source: "" } }] },
      passwd: { users: [{ name: "core", sshAuthorizedKeys: [null], groups: [null] }] },
    }),
  ).toEqual([]);
  // A field its version does not have is only an unknown key there, as in Ignition.
  expect(
    await ignition({ ignition: { version: "3.0.0", proxy: { httpProxy: "socks5://p" } } }, "3.0.0"),
  ).toEqual([]);
  expect(await ignition({ ignition: { version: "3.4.0", proxy: { httpProxy: "socks5://p" } } })).toEqual([
    expect.stringMatching(/\$\.ignition\.proxy\.httpProxy: proxies must be http\(s\)$/),
  ]);
  // A config Ignition takes.
  expect(
    await ignition({
      storage: {
        files: [
          {
            path: "/etc/motd",
            mode: 0o644,
            contents: {
              source: "https://example.com/motd",
              verification: { hash: `sha256-${"a".repeat(64)}` },
            },
          },
        ],
        links: [{ path: "/etc/localtime", target: "/usr/share/zoneinfo/UTC" }],
      },
      systemd: {
        units: [
          {
            name: "web.service",
            enabled: true,
            contents: "[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=multi-user.target\n",
          },
        ],
      },
      passwd: { users: [{ name: "core", sshAuthorizedKeys: ["ssh-ed25519 AAAA me"] }] },
    }),
  ).toEqual([]);
});

test("an Ignition userData: numbers as Go reads them, LUKS and Clevis, overlapping partitions", async () => {
  const userData = (text: string) => reasons({ userData: text });
  const refusal = (...places: string[]) => [
    "userData: userData is an Ignition config that Ignition would refuse at first boot: " + places.join("; "),
  ];
  // JSON.parse reads 420.0 as 420; Go's decoder puts no 420.0, 4.2e2 or 2^63 in an int.
  const mode = (m: string) =>
    userData(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","mode":${m}}]}}`);
  for (const [literal, why] of [
    ["420.0", "expected an integer written as one: Ignition reads 420.0 as a float (write 420)"],
    ["4.2e2", "expected an integer written as one: Ignition reads 4.2e2 as a float (write 420)"],
    ["9223372036854775808", "expected an integer of at most 64 bits, not 9223372036854775808"],
  ])
    expect(await mode(literal!)).toEqual(refusal(`$.storage.files[0].mode: ${why}`));
  expect(await mode("420")).toEqual([]);
  expect(await mode("-0")).toEqual([]);
  // Elsewhere such a number is only a number: a bool refuses it as any number, an unknown key is ignored.
  expect(
    await userData('{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","Foo":1.0}]}}'),
  ).toEqual([]);
  expect(
    await userData(
      '{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","overwrite":1.0}]}}',
    ),
  ).toEqual([expect.stringMatching(/\$\.storage\.files\[0\]\.overwrite: Invalid input: expected boolean/)]);

  const luks = (entry: object, version = "3.4.0") =>
    userData(JSON.stringify({ ignition: { version }, storage: { luks: [{ name: "data", ...entry }] } }));
  expect(await luks({ device: "/dev/sdb", clevis: { tpm2: true } })).toEqual([]);
  expect(
    await luks({
      clevis: {
        tpm2: true,
        custom: { pin: "yubikey", config: "" },
        tang: [{ url: "tang.example.com" }, { url: "tang.example.com", thumbprint: "t", advertisement: "{" }],
      },
      openOptions: ["-q", "-q"],
    }),
  ).toEqual(
    refusal(
      "$.storage.luks[0].device: disk device is required",
      "$.storage.luks[0].openOptions[1]: duplicate entry defined",
      "$.storage.luks[0].clevis: cannot use custom clevis config with tpm2, tang, or threshold",
      "$.storage.luks[0].clevis.custom.pin: unsupported clevis pin",
      "$.storage.luks[0].clevis.custom.config: missing required custom clevis config",
      "and 5 more",
    ),
  );
  // 3.2 knew custom by its presence, 3.3 by its pin.
  const emptyCustom = { device: "/dev/sdb", clevis: { tpm2: true, custom: {} } };
  expect(await luks(emptyCustom, "3.2.0")).toEqual(
    refusal("$.storage.luks[0].clevis: cannot use custom clevis config with tpm2, tang, or threshold"),
  );
  expect(await luks(emptyCustom, "3.3.0")).toEqual([]);

  // URLs as Go parses them, data URLs as Ignition's decoder reads them.
  const source = (s: string) =>
    userData(
      JSON.stringify({
        ignition: { version: "3.4.0" },
        storage: { files: [{ path: "/etc/a", contents: { source: s } }] },
      }),
    );
  for (const [url, why] of [
    [
      "data:,hello world",
      'data URL data has a character that must be %-escaped (a space, <>#"{}|\\^[]` or a control)',
    ],
    ["data:;base64,aGk", "data URL's base64 data is not valid (padded standard base64)"],
    ["https://example.com:80a/x", "unable to parse url"],
    ["s3://bucket/key?versionId=", "invalid S3 object VersionId"],
    ["constructor:x", "invalid url scheme"],
    // S3 ARNs as Ignition's own tests hold them (config/v3_4/types/url_test.go).
    ["arn:aws:iam:us-west-2:123456789012:resource", "invalid S3 ARN format"],
    ["arn:aws:s3:::bucket-name-but-no-key", "invalid S3 ARN format"],
    ["arn:aws:s3:us-west-2:123456789012:accesspoint", "invalid S3 ARN format"],
    ["arn:aws:s3:us-west-2:123456789012:accesspoint/", "invalid S3 ARN format"],
    ["arn:aws:s3:us-west-2:123456789012:accesspoint/accesspoint-name-but-no-bucket", "invalid S3 ARN format"],
    ["arn:aws:s3:bucket/key", "invalid S3 ARN format"],
    ["arn:///aws:s3:::bucket/key", "invalid S3 ARN format"],
    ["arn:aws:s3:::bucket/key?versionId=", "invalid S3 object VersionId"],
  ])
    expect(await source(url!)).toEqual(refusal(`$.storage.files[0].contents.source: ${why}`));
  for (const ok of [
    "data:,hello%20world",
    "data:text/plain;charset=utf-8;base64,aGkK",
    "https://[fe80::1%25en0]:8080/x",
    "s3://bucket/key?versionId=3",
    "arn:aws:s3:us-west-2:123456789012:bucket-name/object-key?versionId=aVersionHash",
    "arn:aws:s3:us-west-2:123456789012:accesspoint/accesspoint-name/some/nested/object",
    "arn:aws:s3:::bucket-name/object-key",
    "arn:aws:s3:::bucket:with:colons/key",
    "ARN:aws:s3:::bucket/key#fragment/x",
  ])
    expect(await source(ok)).toEqual([]);

  // Partitions placed by start and size may not overlap (start 0 is sgdisk's to place).
  const disk = (partitions: object[]) =>
    userData(
      JSON.stringify({
        ignition: { version: "3.4.0" },
        storage: { disks: [{ device: "/dev/sda", partitions }] },
      }),
    );
  expect(
    await disk([
      { number: 1, startMiB: 2048, sizeMiB: 1024 },
      { number: 2, startMiB: 2560, sizeMiB: 512 },
    ]),
  ).toEqual(refusal("$.storage.disks[0].partitions[1]: partitions overlap"));
  expect(
    await disk([
      { number: 1, startMiB: 2048, sizeMiB: 512 },
      { number: 2, startMiB: 2560, sizeMiB: 0 },
      { number: 3, startMiB: 0, sizeMiB: 1024 },
    ]),
  ).toEqual([]);
});

test("plan or machine, exactly one", async () => {
  expect(await reasons({ machine: "m01" })).toEqual(["plan: give exactly one of plan or machine"]);
  expect(await reasons({ plan: undefined })).toEqual(["plan: give exactly one of plan or machine"]);
});

test("network modes: layer3 carries no VLANs, layer2 no layer 3 addresses, nativeVlan is one of vlans", async () => {
  expect(await reasons({ vlans: [1001] })).toEqual([
    "vlans: a layer3 server carries no VLANs: use networkType hybrid (layer 3 plus tagged VLANs) or layer2",
  ]);
  expect((await reasons({ networkType: "layer2", vlans: [1001] }))[0]).toMatch(
    /^ipAddresses: a layer2 server has no layer 3 addresses/,
  );
  expect(await reasons({ networkType: "layer2", vlans: [1001], nativeVlan: 1002, ipAddresses: [] })).toEqual([
    "nativeVlan: nativeVlan 1002 must be one of vlans",
  ]);
});

test("unknown and ill-typed fields are named", async () => {
  expect(await reasons({ colour: "red" })).toEqual(["colour: not an input of this resource"]);
  // What the renderer would refuse at "stage", after the claim, is refused here.
  expect((await reasons({ sshKeys: ["ssh-dss AAAAB3NzaC1kc3M= old@box"] }))[0]).toMatch(
    /^sshKeys.0: each ssh key is one OpenSSH public key line.*type ssh-ed25519/,
  );
  expect((await reasons({ sshKeys: ["ssh-ed25519 AAAAC3Nz josé@laptop"] }))[0]).toMatch(/^sshKeys.0: /);
  for (const url of ["not a url", "ftp://x/y", "javascript:alert(1)"]) {
    expect((await reasons({ operatingSystem: "custom_ipxe", ipxeScriptUrl: url }))[0]).toMatch(
      /^ipxeScriptUrl: ipxeScriptUrl .*; give an http\(s\) URL, or a script starting with #!ipxe$/,
    );
  }
  expect(await reasons({ ipAddresses: [{ type: "public_ipv4", bogus: 1 }] })).toEqual([
    "ipAddresses.0.bogus: not an input of this ipAddresses.0 entry",
  ]);
  expect(await reasons({ ipAddresses: [{ type: "private_ipv4", reservationId: "" }] })).toEqual([
    "ipAddresses.0.reservationId: reservationId must not be empty: an IpReservation's id",
  ]);
  expect(
    await reasons({ networkType: "layer2", vlans: [1001, 1002], nativeVlan: 1.5, ipAddresses: [] }),
  ).toEqual(["nativeVlan: nativeVlan must be a whole number (a VLAN id)"]);
  expect((await reasons({ hostname: "-bad" }))[0]).toMatch(/^hostname: hostname must be DNS labels/);
  // Linux takes 64 characters at most (systemd refuses a longer /etc/hostname).
  const label = "a".repeat(60);
  expect(await reasons({ hostname: `${label}.abc` })).toEqual([]);
  expect((await reasons({ hostname: `${label}.abcd` }))[0]).toMatch(/at most 64 characters in all$/);
  expect((await reasons({ operatingSystem: "windows" }))[0]).toMatch(
    /^operatingSystem: operatingSystem must be one of /,
  );
});

test("an empty userData or ipxeScriptUrl is none: dropped, not a change", async () => {
  const r = await check({}, { ...base, userData: "", ipxeScriptUrl: "" });
  expect(r.failures).toBeUndefined();
  expect(r.inputs).not.toHaveProperty("userData");
  expect(r.inputs).not.toHaveProperty("ipxeScriptUrl");
});

test("NUL characters, an oversized customData and a reservation named twice are refused by field", async () => {
  expect(await reasons({ operatingSystem: "ubuntu_24_04", userData: "#!/bin/sh\necho a\u0000b" })).toEqual([
    "userData: userData may not contain a NUL character",
  ]);
  expect(await reasons({ customData: { note: "a\u0000b" } })).toEqual([
    "customData: customData may not contain a NUL character",
  ]);
  expect(await reasons({ operatingSystem: "custom_ipxe", ipxeScriptUrl: "#!ipxe\necho a\u0000b" })).toEqual([
    "ipxeScriptUrl: ipxeScriptUrl may not contain a NUL character",
  ]);
  expect(await reasons({ customData: { blob: "x".repeat(70_000) } })).toEqual([
    "customData: customData is at most 64 KiB as JSON (it is 70011 bytes)",
  ]);
  expect(
    await reasons({
      ipAddresses: [
        { type: "public_ipv4", reservationId: "r-1" },
        { type: "public_ipv4", reservationId: "r-1" },
      ],
    }),
  ).toEqual([
    "ipAddresses: reservationId r-1 is named twice: one address is drawn from each entry, so name each reservation once",
  ]);
});

test("at preview, values not known yet (a Vlan's vid, a reservation's size) pass; known fields are still checked", async () => {
  const { UNKNOWN } = await import("../../provider/resources/check");
  const layer2 = { networkType: "layer2", ipAddresses: [], vlans: [UNKNOWN] };
  const r = await check({}, { ...base, ...layer2, __provider: "p" });
  expect(r.failures).toBeUndefined();
  // Handed back as given: the engine reads the marker as unknown again.
  expect(r.inputs).toMatchObject({ vlans: [UNKNOWN], __provider: "p" });
  // A failure of a known field alone is still shown, without the unknown's.
  expect(await reasons({ ...layer2, hostname: "no_underscores" })).toEqual([
    expect.stringMatching(/^hostname: /),
  ]);
  // A check across fields that looked at an unknown waits for the value.
  expect(await reasons({ ...layer2, nativeVlan: UNKNOWN })).toEqual([]);
  expect(await reasons({ ...layer2, vlans: [1001], nativeVlan: 1002 })).toEqual([
    "nativeVlan: nativeVlan 1002 must be one of vlans",
  ]);
});

test("at preview, a field with an unknown goes back as given, and the others get their defaults (no spurious replace)", async () => {
  const { UNKNOWN } = await import("../../provider/resources/check");
  const { diff } = await import("../../provider/resources/server");
  const hybrid = { networkType: "hybrid", vlans: [100, UNKNOWN] };
  const r = await check({}, { ...base, ...hybrid });
  expect(r.failures).toBeUndefined();
  // ipAddresses, alwaysPxe and the other defaults are there; vlans as given.
  expect(r.inputs).toMatchObject({ vlans: [100, UNKNOWN], alwaysPxe: false, wipeOnDelete: true });
  expect(r.inputs).toHaveProperty("ipAddresses");
  const olds = {
    ...(await check({}, { ...base, networkType: "hybrid", vlans: [100] })).inputs!,
    state: "active",
  };
  const d = await diff("srv", olds as never, r.inputs!);
  expect(d).toMatchObject({ changes: true, replaces: [] });
});
