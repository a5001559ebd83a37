// The user's own Ignition config (userData for Flatcar and Fedora CoreOS), checked as Ignition
// checks it at the machine's first boot. There, a config it refuses stops the boot in the
// initramfs: the machine never calls home, and the create fails only at the provisioning
// timeout, with the machine in quarantine. Here it is refused at preview, naming the place.
//
// The checks follow Ignition's own (config/v3_4: the JSON types, then paths, modes, URLs,
// hashes, systemd units and drop-ins, duplicate entries). What Ignition only warns about
// (unknown keys, special mode bits) passes, as it does there. test/integration's
// provisioning-validate holds every refusal here against ignition-validate's verdict.
import { z } from "zod";
import { dataUrlProblem } from "./data-url";
import { parseGoUrl, queryValue } from "./go-url";

/**
 * A JSON number Go's decoder puts in no int: written with a fraction or an exponent (420.0,
 * 4.2e2), or past int64. JSON.parse reads 420.0 as 420; parseIgnition keeps such numbers marked.
 */
export class GoNumber {
  constructor(
    readonly value: number,
    readonly source: string,
  ) {}
  toJSON(): number {
    return this.value;
  }
}

const INT64 = 2n ** 63n;
const goInt = (source: string) =>
  /^-?\d+$/.test(source) && BigInt(source) >= -INT64 && BigInt(source) < INT64;

/** The user's JSON as Go reads it: numbers an int field would refuse are GoNumbers. */
export function parseIgnition(text: string): unknown {
  // The reviver's third argument (the literal's source text) is V8's since Node 21.
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === "number" && context?.source !== undefined && !goInt(context.source)
      ? new GoNumber(value, context.source)
      : value,
  );
}

// Go's JSON decoding, which Ignition's is: a key matches its field exactly or else in any
// case; null leaves a field (or a list item) its zero value; an int is an integer literal that
// fits in 64 bits.
const int = z
  .unknown()
  .superRefine((v, ctx) => {
    if (v === undefined || v === null) return;
    if (v instanceof GoNumber)
      ctx.addIssue({
        code: "custom",
        message: /^-?\d+$/.test(v.source)
          ? `expected an integer of at most 64 bits, not ${v.source}`
          : Number.isInteger(v.value)
            ? `expected an integer written as one: Ignition reads ${v.source} as a float (write ${v.value})`
            : `expected an integer, not ${v.source}`,
      });
    else if (typeof v !== "number" || !Number.isInteger(v))
      ctx.addIssue({ code: "custom", message: `expected an integer, not ${JSON.stringify(v)}` });
  })
  .transform((v) => v as number | null | undefined)
  .optional();
const struct = <S extends z.ZodRawShape>(shape: S) => {
  const fields = Object.keys(shape);
  const ints = new Set(fields.filter((f) => shape[f] === int));
  return z.preprocess((v) => fieldsOf(v, fields, ints), z.object(shape));
};
const str = z.string().nullable().optional();
const bool = z.boolean().nullable().optional();
const list = <T extends z.ZodType>(t: T) =>
  z
    .array(z.preprocess((v) => plain(v) ?? {}, t))
    .nullable()
    .optional();
const strings = z
  .array(z.preprocess((v) => plain(v) ?? "", z.string()))
  .nullable()
  .optional();
const obj = <S extends z.ZodRawShape>(shape: S) => struct(shape).nullable().optional();

/** Anywhere but an int field a GoNumber is just a number (refused there as any number is). */
const plain = (v: unknown) => (v instanceof GoNumber ? v.value : v);

/** An object's keys as Go would match them to `fields`: exact first, else case-insensitive. */
function fieldsOf(v: unknown, fields: string[], ints: ReadonlySet<string> = new Set()): unknown {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
  if (v instanceof GoNumber) return v.value;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const field = fields.includes(k) ? k : fields.find((f) => f.toLowerCase() === k.toLowerCase());
    out[field ?? k] = field !== undefined && ints.has(field) ? x : plain(x);
  }
  return out;
}

const resourceShape = struct({
  compression: str,
  httpHeaders: list(struct({ name: str, value: str })),
  source: str,
  verification: obj({ hash: str }),
});
const resource = resourceShape.nullable().optional();
const owner = obj({ id: int, name: str });
const node = { group: owner, overwrite: bool, path: str, user: owner };

const schema = struct({
  ignition: struct({
    config: obj({ merge: list(resourceShape), replace: resource }),
    proxy: obj({ httpProxy: str, httpsProxy: str, noProxy: strings }),
    security: obj({ tls: obj({ certificateAuthorities: list(resourceShape) }) }),
    timeouts: obj({ httpResponseHeaders: int, httpTotal: int }),
    version: z.string(),
  }),
  kernelArguments: obj({ shouldExist: strings, shouldNotExist: strings }),
  passwd: obj({
    groups: list(struct({ gid: int, name: str, passwordHash: str, shouldExist: bool, system: bool })),
    users: list(
      struct({
        gecos: str,
        groups: strings,
        homeDir: str,
        name: str,
        noCreateHome: bool,
        noLogInit: bool,
        noUserGroup: bool,
        passwordHash: str,
        primaryGroup: str,
        sshAuthorizedKeys: strings,
        shell: str,
        shouldExist: bool,
        system: bool,
        uid: int,
      }),
    ),
  }),
  storage: obj({
    directories: list(struct({ ...node, mode: int })),
    disks: list(
      struct({
        device: str,
        partitions: list(
          struct({
            guid: str,
            label: str,
            number: int,
            resize: bool,
            shouldExist: bool,
            sizeMiB: int,
            startMiB: int,
            typeGuid: str,
            wipePartitionEntry: bool,
          }),
        ),
        wipeTable: bool,
      }),
    ),
    files: list(struct({ ...node, append: list(resourceShape), contents: resource, mode: int })),
    filesystems: list(
      struct({
        device: str,
        format: str,
        label: str,
        mountOptions: strings,
        options: strings,
        path: str,
        uuid: str,
        wipeFilesystem: bool,
      }),
    ),
    links: list(struct({ ...node, hard: bool, target: str })),
    luks: list(
      struct({
        clevis: obj({
          custom: obj({ config: str, needsNetwork: bool, pin: str }),
          tang: list(struct({ thumbprint: str, url: str, advertisement: str })),
          threshold: int,
          tpm2: bool,
        }),
        device: str,
        discard: bool,
        keyFile: resource,
        label: str,
        name: str,
        openOptions: strings,
        options: strings,
        uuid: str,
        wipeVolume: bool,
      }),
    ),
    raid: list(struct({ devices: strings, level: str, name: str, options: strings, spares: int })),
  }),
  systemd: obj({
    units: list(
      struct({
        contents: str,
        dropins: list(struct({ contents: str, name: str })),
        enabled: bool,
        mask: bool,
        name: str,
      }),
    ),
  }),
});

type Config = z.infer<typeof schema>;
type Resource = z.infer<typeof resourceShape>;

/** A place in the config and what is wrong there, as ignition-validate says it. */
export interface IgnitionProblem {
  at: string;
  message: string;
  /** The provider's own rule (its phone-home, root's password), not Ignition's. */
  ours?: true;
}

/** What the provider's own config needs to keep: the user's config must not replace it. */
export interface Reserved {
  units: string[];
  paths: string[];
}

const where = (parts: readonly PropertyKey[]) =>
  "$" + parts.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");

// Fields by the spec version that brought them (3.0.0 has none of these). An older config's
// Ignition does not know them: there they are unknown keys, which it only warns about.
const RESOURCES = [
  "ignition.config.merge.*",
  "ignition.config.replace",
  "ignition.security.tls.certificateAuthorities.*",
  "storage.files.*.contents",
  "storage.files.*.append.*",
];
const SINCE: [minor: number, path: string][] = [
  [1, "ignition.proxy"],
  [1, "storage.filesystems.*.mountOptions"],
  ...RESOURCES.map((r): [number, string] => [1, `${r}.httpHeaders`]),
  // 3.0.0's config and CA references had no compression (only file contents did).
  ...RESOURCES.slice(0, 3).map((r): [number, string] => [1, `${r}.compression`]),
  [2, "storage.luks"],
  [2, "storage.disks.*.partitions.*.resize"],
  [2, "passwd.users.*.shouldExist"],
  [2, "passwd.groups.*.shouldExist"],
  [3, "kernelArguments"],
  [4, "storage.luks.*.discard"],
  [4, "storage.luks.*.openOptions"],
  [4, "storage.luks.*.clevis.tang.*.advertisement"],
];

/** The config as its own version's Ignition reads it: without the fields that version lacks. */
function asVersion(config: unknown, minor: number): unknown {
  const drop = (v: unknown, parts: string[]): unknown => {
    if (typeof v !== "object" || v === null) return v;
    if (Array.isArray(v)) return parts[0] === "*" ? v.map((x) => drop(x, parts.slice(1))) : v;
    const [head, ...rest] = parts;
    if (head === undefined || !(head in v)) return v;
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    if (rest.length === 0) delete out[head];
    else out[head] = drop(out[head], rest);
    return out;
  };
  return SINCE.filter(([since]) => minor < since).reduce((c, [, p]) => drop(c, p.split(".")), config);
}

/** `ignition.version`, its keys matched as Ignition matches them (in any case). */
export function ignitionVersion(config: unknown): unknown {
  const top = fieldsOf(config, ["ignition"]) as { ignition?: unknown } | null;
  return (fieldsOf(top?.ignition, ["version"]) as { version?: unknown } | null | undefined)?.version;
}

/** Every problem Ignition would refuse the config for (none: it would take it). */
export function ignitionProblems(
  config: unknown,
  reserved: Reserved = { units: [], paths: [] },
): IgnitionProblem[] {
  const version = ignitionVersion(config);
  // Unparsed (userConfig refuses it before), the version is taken as the newest.
  const minor = Number((typeof version === "string" && /^3\.(\d+)\.0$/.exec(version)?.[1]) || 4);
  const typed = schema.safeParse(asVersion(config, minor));
  if (!typed.success) {
    return typed.error.issues.map((i) => ({ at: where(i.path), message: i.message }));
  }
  const problems: IgnitionProblem[] = [];
  const add: Add = (at, message, ours) => {
    if (message) problems.push({ at, message, ...(ours ? { ours: true as const } : {}) });
  };
  checkIgnition(typed.data, add, minor);
  checkStorage(typed.data, add, minor);
  checkSystemd(typed.data, add);
  checkPasswd(typed.data, add);
  checkReserved(typed.data, reserved, add);
  return problems;
}

type Add = (at: string, message: string | undefined, ours?: boolean) => void;

/** Set to a value: Go's decoding keeps null and absent alike as nothing. */
const given = <T>(v: T | null | undefined): v is T => v !== null && v !== undefined;

/** Entries keyed alike in one list (or in lists Ignition keys together) are refused. */
function duplicates(add: Add, lists: [string, (string | undefined | null)[]][]) {
  const seen = new Set<string>();
  for (const [at, keys] of lists) {
    keys.forEach((k, i) => {
      const key = k ?? "";
      if (seen.has(key)) add(`${at}[${i}]`, "duplicate entry defined");
      seen.add(key);
    });
  }
}

function checkIgnition(c: Config, add: Add, minor: number) {
  const ign = c.ignition;
  const merge = ign.config?.merge ?? [];
  merge.forEach((r, i) => {
    if (minor >= 1) add(`$.ignition.config.merge[${i}]`, requiredSource(r));
    checkResource(`$.ignition.config.merge[${i}]`, r, add, minor);
  });
  duplicates(add, [["$.ignition.config.merge", merge.map((r) => r.source)]]);
  if (ign.config?.replace) checkResource("$.ignition.config.replace", ign.config.replace, add, minor);
  const cas = ign.security?.tls?.certificateAuthorities ?? [];
  cas.forEach((r, i) => {
    const at = `$.ignition.security.tls.certificateAuthorities[${i}]`;
    add(at, requiredSource(r)); // (3.0.0 took the empty source as a URL without a scheme)
    checkResource(at, r, add, minor);
  });
  duplicates(add, [["$.ignition.security.tls.certificateAuthorities", cas.map((r) => r.source)]]);
  for (const key of ["httpProxy", "httpsProxy"] as const) {
    const proxy = ign.proxy?.[key];
    if (proxy === undefined || proxy === null) continue;
    const parsed = parseGoUrl(proxy);
    if (!parsed) add(`$.ignition.proxy.${key}`, "unable to parse url");
    else if (parsed.scheme !== "http" && parsed.scheme !== "https")
      add(`$.ignition.proxy.${key}`, "proxies must be http(s)");
  }
  duplicates(add, [["$.ignition.proxy.noProxy", ign.proxy?.noProxy ?? []]]);
  duplicates(add, [
    ["$.kernelArguments.shouldExist", c.kernelArguments?.shouldExist ?? []],
    ["$.kernelArguments.shouldNotExist", c.kernelArguments?.shouldNotExist ?? []],
  ]);
}

function checkStorage(c: Config, add: Add, minor: number) {
  const s = c.storage;
  if (!s) return;
  const files = s.files ?? [];
  const dirs = s.directories ?? [];
  const links = s.links ?? [];
  const underLink = (p: string | null | undefined) =>
    links.some((l) => (p ?? "").startsWith(`${l.path ?? ""}/`));
  files.forEach((f, i) => {
    const at = `$.storage.files[${i}]`;
    checkNode(at, f, add);
    add(`${at}.mode`, mode(f.mode));
    if (f.overwrite === true && !given(f.contents?.source))
      add(`${at}.overwrite`, "overwrite must be false if source is unspecified");
    if (f.contents) checkResource(`${at}.contents`, f.contents, add, minor);
    (f.append ?? []).forEach((r, j) => checkResource(`${at}.append[${j}]`, r, add, minor));
    if (underLink(f.path)) add(at, "file path includes link in config");
  });
  dirs.forEach((d, i) => {
    const at = `$.storage.directories[${i}]`;
    checkNode(at, d, add);
    add(`${at}.mode`, mode(d.mode));
    if (underLink(d.path)) add(at, "directory path includes link in config");
  });
  links.forEach((l, i) => {
    const at = `$.storage.links[${i}]`;
    checkNode(at, l, add);
    if (underLink(l.path)) add(at, "link path includes link in config");
    if (!l.target) {
      if (minor >= 3) add(`${at}.target`, "link target is required");
      return;
    }
    if (l.hard === true) {
      const target = l.target.startsWith("/") ? clean(l.target) : clean(`${l.path ?? ""}/${l.target}`);
      if (dirs.some((d) => d.path === target)) add(at, "hard link target is a directory");
    }
  });
  // Files, directories and links are one namespace: a path is one of them.
  duplicates(add, [
    ["$.storage.directories", dirs.map((d) => d.path)],
    ["$.storage.files", files.map((f) => f.path)],
    ["$.storage.links", links.map((l) => l.path)],
  ]);

  const disks = s.disks ?? [];
  disks.forEach((d, i) => {
    const at = `$.storage.disks[${i}]`;
    if (!d.device) add(`${at}.device`, "disk device is required");
    else add(`${at}.device`, pathProblem(d.device));
    const parts = d.partitions ?? [];
    parts.forEach((p, j) => {
      const pat = `${at}.partitions[${j}]`;
      if (given(p.label) && Buffer.byteLength(p.label) > 36)
        add(`${pat}.label`, "partition labels may not exceed 36 characters");
      else if (p.label?.includes(":"))
        add(`${pat}.label`, "partition label will be truncated to text before the colon");
      if (!p.number && !given(p.label)) add(pat, "a partition number >= 1 or a label must be specified");
      for (const key of ["guid", "typeGuid"] as const) {
        const guid = p[key];
        if (given(guid) && !GUID.test(guid))
          add(`${pat}.${key}`, 'doesn\'t match the form "01234567-89AB-CDEF-EDCB-A98765432101"');
      }
      const others = given(p.label) || !!p.typeGuid || !!p.guid || given(p.startMiB) || given(p.sizeMiB);
      if (p.shouldExist === false && others)
        add(pat, "shouldExist specified false with other options also specified");
    });
    const overlap = overlapping(parts);
    if (overlap !== undefined) add(`${at}.partitions[${overlap}]`, "partitions overlap");
    const key = (p: (typeof parts)[number]) =>
      p.number ? `number:${p.number}` : given(p.label) ? `label:${p.label}` : "";
    duplicates(add, [[`${at}.partitions`, parts.map(key)]]);
    const labels = new Set<string>();
    parts.forEach((p, j) => {
      if (!given(p.label)) return;
      if (labels.has(p.label)) add(`${at}.partitions[${j}]`, "cannot use the same partition label twice");
      labels.add(p.label);
    });
  });
  duplicates(add, [["$.storage.disks", disks.map((d) => d.device)]]);

  const filesystems = s.filesystems ?? [];
  filesystems.forEach((f, i) => {
    const at = `$.storage.filesystems[${i}]`;
    if (f.path) add(`${at}.path`, pathProblem(f.path));
    add(`${at}.device`, pathProblem(f.device ?? ""));
    if (!f.format) {
      const others =
        !!f.path ||
        !!f.label ||
        !!f.uuid ||
        f.wipeFilesystem === true ||
        !!f.mountOptions?.length ||
        !!f.options?.length;
      if (others)
        add(
          `${at}.format`,
          "format cannot be empty when path, label, uuid, wipeFilesystem, options, or mountOptions is specified",
        );
    } else if (!FORMATS.has(f.format) || (f.format === "none" && minor < 3))
      add(`${at}.format`, "invalid filesystem format");
    if (f.label && f.format) {
      const max = LABEL_MAX[f.format];
      if (max !== undefined && Buffer.byteLength(f.label) > max)
        add(
          `${at}.label`,
          `filesystem labels cannot be longer than ${max} characters when using ${f.format}`,
        );
    }
  });
  duplicates(add, [["$.storage.filesystems", filesystems.map((f) => f.device)]]);

  const luks = s.luks ?? [];
  luks.forEach((l, i) => {
    const at = `$.storage.luks[${i}]`;
    if (l.name?.includes("/")) add(`${at}.name`, "device names cannot contain slashes");
    if (l.label && Buffer.byteLength(l.label) > 47)
      add(`${at}.label`, "luks device labels cannot be longer than 47 characters");
    add(`${at}.device`, l.device ? pathProblem(l.device) : "disk device is required");
    if (l.keyFile) checkResource(`${at}.keyFile`, l.keyFile, add, minor);
    duplicates(add, [[`${at}.openOptions`, l.openOptions ?? []]]);
    if (l.clevis) checkClevis(`${at}.clevis`, l.clevis, add, minor);
  });
  duplicates(add, [["$.storage.luks", luks.map((l) => l.name)]]);

  const raid = s.raid ?? [];
  raid.forEach((r, i) => {
    const at = `$.storage.raid[${i}]`;
    if (!r.level && minor >= 3) add(`${at}.level`, "raid level is required");
    else if (!RAID_LEVELS.has(r.level ?? "")) add(`${at}.level`, "unrecognized raid level");
    else if (["linear", "raid0", "0", "stripe"].includes(r.level!) && r.spares)
      add(`${at}.level`, "spares unsupported for linear and raid0 arrays");
    if (!r.devices?.length) add(`${at}.devices`, "raid devices required");
    duplicates(add, [[`${at}.devices`, r.devices ?? []]]);
  });
  duplicates(add, [["$.storage.raid", raid.map((r) => r.name)]]);

  // A file where a unit of this config goes (Ignition writes units there itself).
  const unitPaths = new Set<string>();
  for (const u of c.systemd?.units ?? []) {
    if (u.contents) unitPaths.add(`/etc/systemd/system/${u.name ?? ""}`);
    for (const d of u.dropins ?? [])
      if (d.contents) unitPaths.add(`/etc/systemd/system/${u.name ?? ""}.d/${d.name ?? ""}`);
  }
  for (const [kind, nodes] of [
    ["files", files],
    ["directories", dirs],
    ["links", links],
  ] as const) {
    nodes.forEach((n, i) => {
      if (unitPaths.has(n.path ?? ""))
        add(`$.storage.${kind}[${i}].path`, "path conflicts with systemd unit or dropin");
    });
  }
}

type Sized = { startMiB?: number | null; sizeMiB?: number | null };

/**
 * The first partition another one overlaps, as Ignition finds it: only those given both a start
 * (not 0, which sgdisk places itself) and a size (0: to the end, taken as its start alone).
 */
function overlapping(parts: Sized[]): number | undefined {
  const span = (p: Sized) =>
    given(p.startMiB) && given(p.sizeMiB) && p.startMiB !== 0
      ? { start: p.startMiB, end: p.sizeMiB === 0 ? p.startMiB : p.startMiB + p.sizeMiB - 1 }
      : undefined;
  for (const [i, p] of parts.entries()) {
    const a = span(p);
    if (!a) continue;
    for (const [j, o] of parts.entries()) {
      const b = span(o);
      if (!b || i === j) continue;
      const inside = (x: number) => x >= b.start && x <= b.end;
      if (inside(a.start) || inside(a.end) || (a.start < b.start && a.end > b.end)) return j;
    }
  }
  return undefined;
}

type Clevis = NonNullable<NonNullable<NonNullable<Config["storage"]>["luks"]>[number]["clevis"]>;

/** Clevis as each version's Ignition checks it: 3.2 keyed `custom` on being there, 3.3 on its pin. */
function checkClevis(at: string, c: Clevis, add: Add, minor: number) {
  const tang = c.tang ?? [];
  const others = tang.length > 0 || c.tpm2 === true || !!c.threshold;
  const custom = c.custom;
  if (minor < 3) {
    if (custom && others) add(at, "cannot use custom clevis config with tpm2, tang, or threshold");
    if (custom && (custom.pin || custom.config)) {
      if (!PINS.has(custom.pin ?? "")) add(`${at}.custom.pin`, "unsupported clevis pin");
      if (!custom.config) add(`${at}.custom.config`, "missing required custom clevis config");
    }
  } else {
    if (custom?.pin && others) add(at, "cannot use custom clevis config with tpm2, tang, or threshold");
    if (custom && (custom.pin || custom.config || custom.needsNetwork === true)) {
      if (!custom.pin) add(`${at}.custom.pin`, "missing required custom clevis pin");
      else if (!PINS.has(custom.pin)) add(`${at}.custom.pin`, "unsupported clevis pin");
      if (!custom.config) add(`${at}.custom.config`, "missing required custom clevis config");
    }
  }
  tang.forEach((t, i) => {
    const parsed = parseGoUrl(t.url ?? "");
    if (!parsed) add(`${at}.tang[${i}].url`, "unable to parse url");
    else if (parsed.scheme !== "http" && parsed.scheme !== "https")
      add(`${at}.tang[${i}].url`, "invalid url scheme");
    if (!t.thumbprint) add(`${at}.tang[${i}].thumbprint`, "thumbprint is required");
    if (t.advertisement && !isJson(t.advertisement))
      add(`${at}.tang[${i}].advertisement`, "advertisement is not valid JSON");
  });
  duplicates(add, [[`${at}.tang`, tang.map((t) => t.url)]]);
}
const PINS = new Set(["tpm2", "tang", "sss"]);

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const GUID = /^(|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$/;
const RAID_LEVELS = new Set([
  "linear",
  "raid0",
  "0",
  "stripe",
  "raid1",
  "1",
  "mirror",
  "raid4",
  "4",
  "raid5",
  "5",
  "raid6",
  "6",
  "raid10",
  "10",
]);
const FORMATS = new Set(["ext4", "btrfs", "xfs", "swap", "vfat", "none"]);
const LABEL_MAX: Record<string, number> = { ext4: 16, btrfs: 256, xfs: 12, swap: 15, vfat: 11 };

const UNIT_TYPES = new Set([
  ".service",
  ".socket",
  ".device",
  ".mount",
  ".automount",
  ".swap",
  ".target",
  ".path",
  ".timer",
  ".snapshot",
  ".slice",
  ".scope",
]);

function checkSystemd(c: Config, add: Add) {
  const units = c.systemd?.units ?? [];
  units.forEach((u, i) => {
    const at = `$.systemd.units[${i}]`;
    if (!UNIT_TYPES.has(extension(u.name ?? ""))) add(`${at}.name`, "invalid systemd unit extension");
    add(`${at}.contents`, unitProblem(u.contents));
    const dropins = u.dropins ?? [];
    dropins.forEach((d, j) => {
      add(`${at}.dropins[${j}].contents`, unitProblem(d.contents));
      if (extension(d.name ?? "") !== ".conf")
        add(`${at}.dropins[${j}].name`, "invalid systemd drop-in extension");
    });
    duplicates(add, [[`${at}.dropins`, dropins.map((d) => d.name)]]);
  });
  duplicates(add, [["$.systemd.units", units.map((u) => u.name)]]);
}

function checkPasswd(c: Config, add: Add) {
  const users = c.passwd?.users ?? [];
  users.forEach((u, i) => {
    duplicates(add, [[`$.passwd.users[${i}].sshAuthorizedKeys`, u.sshAuthorizedKeys ?? []]]);
    duplicates(add, [[`$.passwd.users[${i}].groups`, u.groups ?? []]]);
  });
  duplicates(add, [["$.passwd.users", users.map((u) => u.name)]]);
  duplicates(add, [["$.passwd.groups", (c.passwd?.groups ?? []).map((g) => g.name)]]);
}

/** Ours: what phones home, and root's password (the Server's rootPassword output). */
function checkReserved(c: Config, reserved: Reserved, addIgnition: Add) {
  const add: Add = (at, message) => addIgnition(at, message, true);
  (c.systemd?.units ?? []).forEach((u, i) => {
    if (reserved.units.includes(u.name ?? ""))
      add(
        `$.systemd.units[${i}].name`,
        `${u.name} is the provider's own unit (it tells the boot server the OS is up)`,
      );
  });
  for (const kind of ["files", "directories", "links"] as const) {
    (c.storage?.[kind] ?? []).forEach((n, i) => {
      const p = n.path ?? "";
      // The marker itself, or a file or link where a directory on its way must be.
      const inTheWay = (r: string) => p === r || (kind !== "directories" && r.startsWith(`${p}/`));
      if (reserved.paths.some(inTheWay))
        add(
          `$.storage.${kind}[${i}].path`,
          `${p} is the provider's own (it marks that the OS has called home)`,
        );
    });
  }
  (c.passwd?.users ?? []).forEach((u, i) => {
    if (u.name === "root" && given(u.passwordHash))
      add(
        `$.passwd.users[${i}].passwordHash`,
        "root's password is the provider's (the Server's rootPassword output); leave it out",
      );
  });
}

function checkNode(at: string, n: { path?: string | null; user?: Owner; group?: Owner }, add: Add) {
  add(`${at}.path`, pathProblem(n.path ?? ""));
  if (given(n.user?.id) && n.user.name) add(`${at}.user`, "cannot set both id and name");
  if (given(n.group?.id) && n.group.name) add(`${at}.group`, "cannot set both id and name");
}
type Owner = { id?: number | null; name?: string | null } | null | undefined;

function checkResource(at: string, r: Resource, add: Add, minor: number) {
  if (r.compression && r.compression !== "gzip") add(`${at}.compression`, "invalid compression method");
  const hash = r.verification?.hash;
  if (given(hash)) {
    if (!given(r.source))
      add(`${at}.verification.hash`, "source must be specified if verification is specified");
    else add(`${at}.verification.hash`, hashProblem(hash, minor));
  }
  if (r.source) add(`${at}.source`, urlProblem(r.source, minor));
  const headers = r.httpHeaders ?? [];
  if (headers.length > 0) {
    // As Ignition: the source parsed, then its scheme.
    const scheme = r.source ? parseGoUrl(r.source)?.scheme : undefined;
    if (scheme === undefined) add(`${at}.httpHeaders`, "unable to parse url");
    else if (scheme !== "http" && scheme !== "https")
      add(`${at}.httpHeaders`, "cannot use HTTP headers with this source scheme");
  }
  headers.forEach((h, i) => {
    if (!h.name) add(`${at}.httpHeaders[${i}].name`, "HTTP header name can't be empty");
    if (h.value === "") add(`${at}.httpHeaders[${i}].value`, "unable to parse HTTP header");
  });
  duplicates(add, [[`${at}.httpHeaders`, headers.map((h) => h.name)]]);
}

function requiredSource(r: Resource): string | undefined {
  return r.source ? undefined : "source is required";
}

function hashProblem(hash: string, minor: number): string | undefined {
  const dash = hash.indexOf("-");
  if (dash < 0) return "malformed hash specifier";
  const fn = hash.slice(0, dash);
  const size = fn === "sha512" ? 128 : fn === "sha256" && minor >= 1 ? 64 : undefined;
  if (size === undefined) return "unrecognized hash function";
  return Buffer.byteLength(hash) - dash - 1 === size ? undefined : "incorrect size for hash sum";
}

/** URL schemes, by the spec version that brought them. */
// A Map: a scheme like `constructor:` must not find an object's inherited property.
const SCHEMES = new Map(Object.entries({ http: 0, https: 0, tftp: 0, s3: 0, data: 0, gs: 2, arn: 4 }));

function urlProblem(url: string, minor: number): string | undefined {
  // As Ignition: parsed first, then judged by its scheme.
  const parsed = parseGoUrl(url);
  if (!parsed) return "unable to parse url";
  const since = SCHEMES.get(parsed.scheme);
  if (since === undefined || minor < since) return "invalid url scheme";
  if (parsed.scheme === "data") return dataUrlProblem(url);
  if (parsed.scheme === "arn" && !s3Arn(`arn:${parsed.opaque ?? ""}`)) return "invalid S3 ARN format";
  if (
    (parsed.scheme === "s3" || parsed.scheme === "arn") &&
    queryValue(parsed.query ?? "", "versionId") === ""
  )
    return "invalid S3 object VersionId";
  return undefined;
}

/**
 * An S3 object's ARN as Ignition takes it (3.4.0 on; aws-sdk-go-v2's arn package splits it):
 * six `:`-separated sections, the last taking any further colons, the service `s3`, and a key
 * after the bucket (`arn:aws:s3:::bucket/key`) or after an access point's name
 * (`arn:aws:s3:region:account:accesspoint/name/key`). The URL's opaque part is what is read,
 * so `arn://...` is not one.
 */
function s3Arn(arn: string): boolean {
  const sections = arn.split(":");
  if (sections.length < 6 || sections[2] !== "s3") return false;
  const resource = sections.slice(5).join(":");
  const parts = arn.split("/").length;
  return resource.startsWith("accesspoint/") ? parts >= 3 : parts >= 2;
}

/** Go's path.Clean, for absolute paths. */
function clean(p: string): string {
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

function pathProblem(p: string): string | undefined {
  if (p === "") return "path not specified";
  if (!p.startsWith("/")) return "path not absolute";
  return clean(p) === p ? undefined : "path is not fully simplified";
}

function mode(m: number | null | undefined): string | undefined {
  return given(m) && (m < 0 || m > 0o7777) ? "illegal file mode" : undefined;
}

function extension(name: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return dot < 0 ? "" : base.slice(dot);
}

/**
 * What go-systemd's unit parser (Ignition's) refuses: a section header without its `]` or with
 * text after it, an option line without `=`, a line of 2048 bytes or more. Text before the
 * first section is skipped, as there.
 */
/** Go's unicode.IsSpace, which go-systemd's parser uses (JavaScript's \\s differs: U+0085, U+FEFF). */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const goTrim = (text: string) =>
  text.replace(
    /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g,
    "",
  );

function unitProblem(contents: string | null | undefined): string | undefined {
  if (!given(contents)) return undefined;
  const invalid = (why: string) => `invalid unit content: ${why}`;
  if (contents.split(/\r\n|\r|\n/).some((l) => Buffer.byteLength(l) >= 2048))
    return invalid("line too long (max 2048 bytes)");
  let i = 0;
  const n = contents.length;
  const lineEnd = (from: number) => {
    const e = contents.indexOf("\n", from);
    return e < 0 ? n : e;
  };
  // Skips a comment line and the lines its trailing backslashes continue.
  const skipComment = () => {
    for (;;) {
      const e = lineEnd(i);
      // One trailing space off, as go-systemd takes it, before looking for the backslash.
      const raw = contents.slice(i, e);
      const line = raw.endsWith(" ") ? raw.slice(0, -1) : raw;
      i = e + 1;
      if (!line.endsWith("\\") || i >= n) return;
    }
  };
  let inSection = false;
  while (i < n) {
    const ch = contents[i]!;
    if (ch === "[") {
      const close = contents.indexOf("]", i + 1);
      if (close < 0) return invalid("unable to find end of section");
      const e = lineEnd(close);
      const garbage = goTrim(contents.slice(close + 1, e));
      if (garbage)
        return invalid(
          `found garbage after section name ${contents.slice(i + 1, close)}: ${JSON.stringify(garbage)}`,
        );
      inSection = true;
      i = e + 1;
    } else if (ch === "#" || ch === ";") {
      i++;
      skipComment();
    } else if (!inSection || GO_SPACE.test(ch)) {
      i++;
    } else {
      // An option: its name runs to `=` on the same line; its value to a line end without `\`.
      const eq = contents.indexOf("=", i);
      const e = lineEnd(i);
      const cr = contents.indexOf("\r", i);
      if (eq < 0)
        return invalid(e < n || cr >= 0 ? "unexpected newline encountered while parsing option name" : "EOF");
      if (eq > e || (cr >= 0 && cr < eq))
        return invalid("unexpected newline encountered while parsing option name");
      i = eq + 1;
      for (;;) {
        const end = lineEnd(i);
        const line = contents.slice(i, end);
        i = end + 1;
        if (goTrim(line) === "" || !line.endsWith("\\") || i >= n) break;
      }
    }
  }
  return undefined;
}
