// inventory.yaml: parsed, validated by zod, then checked as a whole (unique ids, MACs and
// switch ports; every reference resolvable). Every problem is reported at once, each naming
// its place in the file and what would be valid.
import ipaddr from "ipaddr.js";
import YAML from "yaml";
import { z } from "zod";
import { DIALECTS } from "../hardware/switch";
import { checkPort } from "../hardware/switch/validate";
import { POOL_TYPES } from "../store/store";
import type { InventoryFile } from "./types";
import { NAME, NAME_RULE } from "../names";

const name = (what: string) => z.string().regex(NAME, `${what} is ${NAME_RULE}`);
// Not 1: every switch's default VLAN, which no dialect creates, removes or reports as a VLAN of
// ours, so a range or provisioning VLAN holding it could never be confirmed on a switch.
const vlanId = z
  .number()
  .int("a VLAN id is a whole number, 2-4094")
  .min(2, "a VLAN id is 2-4094 (1 is every switch's default VLAN)")
  .max(4094, "a VLAN id is 2-4094");
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, "an environment variable name (A-Z, 0-9, _)");

// A reference says where a secret lives. Writing the secret itself is refused by name below.
const credentialRef = z.union(
  [
    z.strictObject({ env: envName }),
    z.strictObject({ secret: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,127}$/, "a Pulumi config key") }),
  ],
  { error: "a reference: {env: VARIABLE_NAME} or {secret: configKey}" },
);

const MAC = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;
const mac = z
  .string()
  .regex(MAC, 'a MAC address like "0c:c4:7a:12:34:56"')
  .transform((m) => m.toLowerCase().replace(/-/g, ":"))
  // A NIC's own address: a group bit set (broadcast, multicast) or all zeros is no one NIC.
  .refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0 && m !== "00:00:00:00:00:00", {
    error: "a NIC's own (unicast) MAC address: not broadcast, multicast or all zeros",
  });

// A DNS name or an IP address: BMC and switch hosts go to ipmitool's and ssh's arguments as they
// are. Checked as addresses, not by their characters: "10.0.1.4:623" (a port, which has a field
// of its own) or "300.1.2.3" passed a pattern and failed only at the first connection.
const DNS_NAME =
  /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const isHost = (h: string) =>
  h.includes(":")
    ? ipaddr.IPv6.isValid(h) && !h.includes("%")
    : /^[0-9.]+$/.test(h)
      ? ipaddr.IPv4.isValidFourPartDecimal(h)
      : h.length <= 253 && DNS_NAME.test(h);
const host = z.string().refine(isHost, "a host name or an IP address (without a port)");

// As Linux takes it (the configs name the interface): 1-15 characters.
const nicName = z
  .string()
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/,
    'a Linux interface name, 1-15 letters, digits, "_", "." or "-"',
  );

const facility = z.strictObject({
  code: name("a facility code"),
  name: z.string().max(200).optional(),
  vlans: z
    .strictObject({ from: vlanId, to: vlanId })
    .refine((v) => v.from <= v.to, "from must not exceed to"),
  provisioningVlan: vlanId,
  layer3Vlan: vlanId.optional(),
  pools: z
    .array(
      z.strictObject({
        name: name("a pool name"),
        type: z.enum(POOL_TYPES),
        cidr: z.string(),
        project: z.string().optional(),
        description: z.string().optional(),
      }),
    )
    .default([]),
});

const plan = z.strictObject({
  name: name("a plan name"),
  cpu: z.strictObject({ cores: z.number().int().positive(), model: z.string().optional() }),
  memoryGb: z.number().positive(),
  disks: z.array(
    z.strictObject({
      count: z.number().int().positive(),
      sizeGb: z.number().positive(),
      type: z.enum(["nvme", "ssd", "hdd"]),
    }),
  ),
  nics: z.array(z.strictObject({ count: z.number().int().positive(), speedGbps: z.number().positive() })),
  /** Where installs write the OS; by default /dev/nvme0n1 for NVMe-first plans, else /dev/sda. */
  installDisk: z
    .string()
    .regex(
      /^\/dev\/(?!.*\.\.)[A-Za-z0-9._:+/-]+$/,
      "a /dev path, e.g. /dev/nvme0n1 or /dev/disk/by-path/pci-0000:00:17.0-ata-1",
    )
    .optional(),
});

const https = z
  .string()
  .url("a URL like https://10.0.0.5")
  .refine((u) => u.startsWith("https://"), "https:// only: the BMC password must not travel in clear")
  // A password in the URL would be stored and printed with the inventory, and the driver,
  // which talks to the origin only, would never use it.
  .refine((u) => {
    const url = new URL(u);
    return url.username === "" && url.password === "";
  }, "no user or password in the URL: they would be stored and shown; give username and passwordRef")
  .refine((u) => {
    const url = new URL(u);
    return url.pathname === "/" && url.search === "" && url.hash === "";
  }, "the BMC's address only, like https://10.0.0.5 or https://bmc1:8443: the driver finds /redfish/v1 itself");

const machine = z.strictObject({
  id: name("a machine id"),
  facility: z.string(),
  plan: z.string(),
  serial: z.string().min(1).max(128),
  /** Where it stands; policies spread clusters across racks. Default: its first NIC's switch. */
  rack: z.string().min(1).max(64).optional(),
  bmc: z
    .strictObject({
      /**
       * The firmware's boot mode, for its netboots: uefi or legacy. Unset, the BMC's own is
       * kept; IPMI then asks for a legacy boot, which UEFI-only machines do not do.
       */
      bootMode: z.enum(["uefi", "legacy"], { error: "bootMode must be uefi or legacy" }).optional(),
      redfish: z
        .strictObject({
          url: https,
          username: z.string().min(1),
          passwordRef: credentialRef,
          systemId: z.string().optional(),
          fingerprint256: z
            .string()
            .regex(/^([0-9A-Fa-f]{2}:?){32}$/, "a SHA-256 fingerprint, 64 hex digits (colons allowed)")
            .optional(),
          caFile: z.string().optional(),
        })
        .optional(),
      ipmi: z
        .strictObject({
          host,
          port: z.number().int().min(1).max(65535).optional(),
          username: z.string().min(1),
          passwordRef: credentialRef,
          cipherSuite: z.number().int().min(0).max(17).optional(),
        })
        .optional(),
    })
    .refine((b) => b.redfish || b.ipmi, "a machine needs a redfish or an ipmi BMC (or both)"),
  nics: z.array(z.strictObject({ name: nicName, mac, switch: z.string(), port: z.string() })).min(1),
});

const switchSpec = z
  .strictObject({
    name: name("a switch name"),
    facility: z.string(),
    host,
    port: z.number().int().min(1).max(65535).optional(),
    hostKeyFingerprint: z
      .string()
      .regex(
        /^SHA256:[A-Za-z0-9+/]{43}$/,
        'the host key\'s fingerprint as `ssh-keygen -lf` prints it ("SHA256:...")',
      ),
    dialect: z.enum(Object.keys(DIALECTS) as [string, ...string[]]),
    username: z.string().min(1),
    privateKeyRef: credentialRef.optional(),
    passwordRef: credentialRef.optional(),
    /** Ports toward the network (uplinks, peer links), which carry every VLAN. */
    uplinks: z.array(z.string()).max(64).optional(),
  })
  .refine((s) => s.privateKeyRef || s.passwordRef, "a switch needs privateKeyRef or passwordRef");

const file = z.strictObject({
  facilities: z.array(facility).default([]),
  plans: z.array(plan).default([]),
  switches: z.array(switchSpec).default([]),
  machines: z.array(machine).default([]),
});

export type ParsedInventory = z.output<typeof file>;

export class InventoryError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `inventory: ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n  ${problems.join("\n  ")}`,
    );
    this.name = "InventoryError";
  }
}

const SECRET_KEYS = /^(password|privateKey|secret|token)$/;

/** Secrets written in the file are named as such, not as a mere unknown key. */
function plaintextSecrets(value: unknown, path: string[] = []): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => plaintextSecrets(v, [...path, String(i)]));
  if (!value || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k.endsWith("Ref")
      ? [] // a reference: {env} or {secret} name where the secret lives
      : SECRET_KEYS.test(k)
        ? [
            `${[...path, k].join(".")}: secrets are not stored in the inventory; write ${k === "privateKey" ? "privateKeyRef" : "passwordRef"}: {env: VARIABLE_NAME} or {secret: configKey}`,
          ]
        : plaintextSecrets(v, [...path, k]),
  );
}

export function parseInventory(text: string): ParsedInventory {
  let raw: unknown;
  try {
    raw = YAML.parse(text) ?? {};
  } catch (e) {
    throw new InventoryError([`not valid YAML: ${(e as Error).message}`]);
  }
  const secrets = plaintextSecrets(raw);
  if (secrets.length) throw new InventoryError(secrets);
  const parsed = file.safeParse(raw);
  if (!parsed.success) {
    throw new InventoryError(
      parsed.error.issues.map((i) => `${i.path.map(String).join(".") || "(file)"}: ${i.message}`),
    );
  }
  const problems = crossCheck(parsed.data);
  if (problems.length) throw new InventoryError(problems);
  return parsed.data;
}

function crossCheck(inv: ParsedInventory): string[] {
  const problems: string[] = [];
  const unique = <T>(items: T[], key: (t: T) => string, what: (i: number) => string, label: string) => {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const k = key(item);
      const first = seen.get(k);
      if (first !== undefined) problems.push(`${what(i)}: ${label} ${k} is also at ${what(first)}`);
      else seen.set(k, i);
    });
  };
  unique(
    inv.facilities,
    (f) => f.code,
    (i) => `facilities.${i}`,
    "facility",
  );
  unique(
    inv.plans,
    (p) => p.name,
    (i) => `plans.${i}`,
    "plan",
  );
  unique(
    inv.switches,
    (s) => s.name,
    (i) => `switches.${i}`,
    "switch",
  );
  unique(
    inv.machines,
    (m) => m.id,
    (i) => `machines.${i}`,
    "machine",
  );
  unique(
    inv.machines,
    (m) => m.serial,
    (i) => `machines.${i}.serial`,
    "serial",
  );
  inv.machines.forEach((m, i) =>
    unique(
      m.nics,
      (n) => n.name,
      (j) => `machines.${i}.nics.${j}`,
      "NIC name",
    ),
  );
  const nics = inv.machines.flatMap((m, i) => m.nics.map((n, j) => ({ n, at: `machines.${i}.nics.${j}` })));
  unique(
    nics,
    (x) => x.n.mac,
    (i) => nics[i]!.at,
    "MAC",
  );
  unique(
    nics,
    (x) => `${x.n.switch}:${x.n.port}`,
    (i) => nics[i]!.at,
    "switch port",
  );

  const facilities = new Map(inv.facilities.map((f) => [f.code, f]));
  const switches = new Map(inv.switches.map((s) => [s.name, s]));
  const plans = new Set(inv.plans.map((p) => p.name));
  inv.facilities.forEach((f, i) => {
    if (f.provisioningVlan >= f.vlans.from && f.provisioningVlan <= f.vlans.to) {
      problems.push(
        `facilities.${i}.provisioningVlan: ${f.provisioningVlan} is inside the project range ${f.vlans.from}-${f.vlans.to}; it must not be handed out`,
      );
    }
    const l3 = f.layer3Vlan;
    if (l3 !== undefined && l3 >= f.vlans.from && l3 <= f.vlans.to) {
      problems.push(
        `facilities.${i}.layer3Vlan: ${l3} is inside the project range ${f.vlans.from}-${f.vlans.to}; it must not be handed out`,
      );
    }
    if (l3 !== undefined && l3 === f.provisioningVlan) {
      problems.push(
        `facilities.${i}.layer3Vlan: ${l3} is the provisioningVlan; give installed servers a VLAN of their own (or leave layer3Vlan out)`,
      );
    }
  });
  inv.switches.forEach((s, i) => {
    if (!facilities.has(s.facility))
      problems.push(`switches.${i}.facility: no facility "${s.facility}" in this inventory`);
    const d = DIALECTS[s.dialect]!();
    (s.uplinks ?? []).forEach((u, k) => {
      try {
        checkPort(u, d.port.pattern, d.name, d.port.example);
      } catch (e) {
        problems.push(`switches.${i}.uplinks.${k}: ${(e as Error).message.replace(/^port: /, "")}`);
      }
    });
  });
  inv.machines.forEach((m, i) => {
    if (!facilities.has(m.facility))
      problems.push(`machines.${i}.facility: no facility "${m.facility}" in this inventory`);
    if (!plans.has(m.plan)) problems.push(`machines.${i}.plan: no plan "${m.plan}" in this inventory`);
    m.nics.forEach((n, j) => {
      const at = `machines.${i}.nics.${j}`;
      const sw = switches.get(n.switch);
      if (!sw) return problems.push(`${at}.switch: no switch "${n.switch}" in this inventory`);
      if (sw.facility !== m.facility) {
        problems.push(
          `${at}.switch: switch ${sw.name} is in facility ${sw.facility}, the machine in ${m.facility}`,
        );
      }
      try {
        const d = DIALECTS[sw.dialect]!();
        checkPort(n.port, d.port.pattern, d.name, d.port.example);
      } catch (e) {
        problems.push(`${at}.${(e as Error).message}`);
      }
      if ((sw.uplinks ?? []).includes(n.port))
        problems.push(
          `${at}.port: ${n.port} is an uplink of switch ${sw.name}; a machine's port carries only its own VLANs`,
        );
    });
  });
  return problems;
}

export const toInventoryFile = (p: ParsedInventory): InventoryFile => ({
  facilities: p.facilities.map(({ pools: _pools, ...f }) => f),
  plans: p.plans,
  switches: p.switches,
  machines: p.machines,
});
