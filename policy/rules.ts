// The guardrails as plain functions of a resource's inputs (or the stack's servers) and the
// pack's config: each returns the violations it finds, one sentence each, naming the
// resource's field and what the policy allows. index.ts wires them into the pack.

export interface ServerProps {
  plan?: string;
  machine?: string;
  operatingSystem?: string;
  wipeOnDelete?: boolean;
  alwaysPxe?: boolean;
  networkType?: string;
  vlans?: unknown[];
  tags?: string[];
}

export interface PlanAndOsConfig {
  /** Allowed everywhere a stack has no list of its own; unset: anything. */
  plans?: string[];
  operatingSystems?: string[];
  /** Per stack name: its own lists. */
  stacks?: Record<string, { plans?: string[]; operatingSystems?: string[] }>;
}

export function planAndOs(p: ServerProps, cfg: PlanAndOsConfig, stack: string): string[] {
  const own = cfg.stacks?.[stack];
  const plans = own?.plans ?? cfg.plans;
  const systems = own?.operatingSystems ?? cfg.operatingSystems;
  const out: string[] = [];
  if (plans && p.plan !== undefined && !plans.includes(p.plan))
    out.push(`plan ${p.plan} is not allowed in stack ${stack}; allowed: ${plans.join(", ")}`);
  if (plans && p.plan === undefined && p.machine !== undefined)
    out.push(`stack ${stack} allows plans ${plans.join(", ")}: name a plan, not machine ${p.machine}`);
  if (systems && p.operatingSystem !== undefined && !systems.includes(p.operatingSystem))
    out.push(
      `operatingSystem ${p.operatingSystem} is not allowed in stack ${stack}; allowed: ${systems.join(", ")}`,
    );
  return out;
}

export interface ProductionConfig {
  /** Stack names (or glob-like prefixes ending in *) that are production. */
  stacks?: string[];
  /** A stack tag that marks production, e.g. {"name": "environment", "value": "production"}. */
  tag?: { name: string; value: string };
}

export function isProduction(
  cfg: ProductionConfig,
  stack: string,
  tags: ReadonlyMap<string, string>,
): boolean {
  const byName = (cfg.stacks ?? ["production", "prod"]).some((s) =>
    s.endsWith("*") ? stack.startsWith(s.slice(0, -1)) : s === stack,
  );
  const byTag = cfg.tag !== undefined && tags.get(cfg.tag.name) === cfg.tag.value;
  return byName || byTag;
}

export function productionServer(p: ServerProps): string[] {
  const out: string[] = [];
  if (p.wipeOnDelete === false)
    out.push("wipeOnDelete is false: a production server's disks are wiped before its machine goes back");
  if (p.alwaysPxe === true)
    out.push(
      "alwaysPxe is true: a production server boots from its disk, not from whatever the network serves",
    );
  return out;
}

export interface IpReservationProps {
  type?: string;
  quantity?: number;
  prefixLength?: number;
  cidr?: string;
}

/** Addresses a reservation asks for; undefined when its size is not known yet. */
function size(p: IpReservationProps): number | undefined {
  if (typeof p.quantity === "number") return p.quantity;
  if (typeof p.prefixLength === "number") return 2 ** (32 - p.prefixLength);
  const m = typeof p.cidr === "string" ? /\/(\d+)$/.exec(p.cidr) : null;
  return m ? 2 ** (32 - Number(m[1])) : undefined;
}

// Both are public IPv4 space (a global_ipv4 block is announced from every facility).
const PUBLIC_IPV4 = ["public_ipv4", "global_ipv4"];

export function publicIpv4Cap(p: IpReservationProps, cfg: { maxAddresses?: number }): string[] {
  const max = cfg.maxAddresses ?? 16;
  if (p.type === undefined || !PUBLIC_IPV4.includes(p.type)) return [];
  const n = size(p);
  return n !== undefined && n > max
    ? [`a ${p.type} reservation of ${n} addresses is larger than the ${max} this pack allows`]
    : [];
}

export interface ServerAddressProps {
  ipAddresses?: { type?: string; prefixLength?: number; reservationId?: string }[];
}

/**
 * A Server takes its own public IPv4 block unless it draws from a reservation (which the cap
 * above already held): the blocks it takes count against the same cap, or a server asking for
 * a /24 would pass where a reservation of one could not. /31 is a server's default.
 */
export function serverPublicIpv4Cap(p: ServerAddressProps, cfg: { maxAddresses?: number }): string[] {
  const max = cfg.maxAddresses ?? 16;
  const own = (p.ipAddresses ?? []).filter(
    (a) => a.type !== undefined && PUBLIC_IPV4.includes(a.type) && a.reservationId === undefined,
  );
  const n = own.reduce((sum, a) => sum + 2 ** (32 - (a.prefixLength ?? 31)), 0);
  return n > max
    ? [
        `ipAddresses: the server's own public IPv4 blocks hold ${n} addresses, more than the ${max} this pack allows; draw from an IpReservation (reservationId) instead`,
      ]
    : [];
}

export function layer2NeedsVlan(p: ServerProps): string[] {
  return p.networkType === "layer2" && (p.vlans ?? []).length === 0
    ? ["networkType is layer2 but vlans is empty: the server would be on no network at all"]
    : [];
}

export function ownerGrant(
  p: { role?: string; user?: string },
  cfg: { approvedOwners?: string[] },
): string[] {
  if (p.role !== "owner") return [];
  if (p.user !== undefined && (cfg.approvedOwners ?? []).includes(p.user)) return [];
  return [
    `granting owner to ${p.user ?? "a user"} needs review: add them to this policy's approvedOwners once approved`,
  ];
}

export interface RackedServer {
  name: string;
  tags: string[];
  /** Unknown before the server exists (a preview of a new one). */
  rack?: string;
}

/** Servers tagged `<prefix><cluster>` spread so that no rack holds more than maxPerRack of one cluster. */
export function spreadAcrossRacks(
  servers: RackedServer[],
  cfg: { clusterTagPrefix?: string; maxPerRack?: number },
): string[] {
  const prefix = cfg.clusterTagPrefix ?? "cluster:";
  const max = cfg.maxPerRack ?? 1;
  const count = new Map<string, string[]>();
  for (const s of servers) {
    if (!s.rack) continue;
    for (const t of s.tags.filter((t) => t.startsWith(prefix))) {
      const key = `${t.slice(prefix.length)}\u0000${s.rack}`;
      count.set(key, [...(count.get(key) ?? []), s.name]);
    }
  }
  return [...count]
    .filter(([, names]) => names.length > max)
    .map(([key, names]) => {
      const [cluster, rack] = key.split("\u0000");
      return `cluster ${cluster} has ${names.length} servers in rack ${rack} (${names.sort().join(", ")}); at most ${max} per rack`;
    });
}

const KINDS = ["IpReservation", "Server", "Vlan", "ProjectMember"] as const;
export type Kind = (typeof KINDS)[number];
const TOKEN = "pulumi-nodejs:dynamic/baremetal:";

/**
 * Which of our resources this is: by the sdk's type token, or by the kind our provider's check
 * writes into the inputs (`baremetalKind`). A program can run our provider under another token
 * (the engine runs whatever `__provider` names, which policies never see); the rules must not
 * miss it, and `disguised` refuses it.
 */
export function kindOf(type: string, props: Record<string, unknown>): Kind | undefined {
  const kind = type.startsWith(TOKEN) ? type.slice(TOKEN.length) : props.baremetalKind;
  return (KINDS as readonly unknown[]).includes(kind) ? (kind as Kind) : undefined;
}

/** Our provider under a type token that is not its own. */
export function disguised(type: string, props: Record<string, unknown>): string[] {
  const kind = props.baremetalKind;
  if (type.startsWith(TOKEN) || typeof kind !== "string") return [];
  return [
    `this resource runs pulumi-baremetal's provider (${kind}) under type ${type}: declare it with the sdk's ` +
      `${kind} class (type ${TOKEN}${kind})`,
  ];
}
