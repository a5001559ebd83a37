// Provider configuration: `baremetal:*` stack config first, then environment variables, then
// defaults. The store location is the only thing a fresh project must not have to set.
import os from "node:os";
import ipaddr from "ipaddr.js";
import { z } from "zod";
import type { ImageSources } from "./provisioning/spec";
import { formatCidr } from "./ipam/cidr";
import { checkNewPool } from "./ipam/requests";
import { POOL_TYPES, type NewPool, type Pool } from "./store/store";

export const DEFAULT_STORE = "sqlite:.baremetal/state.db";

export interface ProviderConfig {
  /** `sqlite:<file>` (relative to the Pulumi project directory) or a PostgreSQL URL. */
  store: string;
  /** Who is acting, recorded with every change. */
  actor: string;
  /** Pools the provider makes sure exist before it allocates (for labs and demos). */
  pools: NewPool[];
  /** Base URL machines reach the boot server at (`baremetal boot-server`); needed by Server. */
  bootServerUrl?: string;
  /** Where OS kernels, initrds and the wipe image come from: a local mirror, or the vendors'. */
  images: ImageSources;
  /** The resolvers installed servers use (`baremetal:dns`, comma-separated addresses). */
  dns: string[];
  /** `baremetal:<key>` values, for credentials the inventory refers to as {secret: key}. */
  secret(key: string): string | undefined;
}

/**
 * The vendors' own PXE artifacts, where there are fixed names to point at; a site with a
 * mirror sets baremetal:osMirror instead. Fedora CoreOS and Ubuntu publish only versioned
 * names (a point release's ISO, a build's kernel), so they have none: without a mirror their
 * installs are refused at render (images.ts), not left to fail a kernel fetch on the machine.
 */
export const DEFAULT_IMAGES: ImageSources = {
  flatcar: "https://stable.release.flatcar-linux.net/amd64-usr/current",
  fedoraCoreos: "",
  ubuntu: "",
  wipe: "http://boot.invalid/wipe",
};

const PoolsConfig = z.array(
  z
    .object({
      name: z.string(),
      type: z.enum(POOL_TYPES),
      cidr: z.string(),
      facility: z.string().nullish(),
      project: z.string().nullish(),
      description: z.string().nullish(),
    })
    .strict(),
);

/** Public resolvers, for a site that names none of its own. */
export const DEFAULT_DNS = ["1.1.1.1", "2606:4700:4700::1111"];

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function resolveConfig(
  get: (key: string) => string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ProviderConfig {
  const store = get("baremetal:store") || env.BAREMETAL_STORE || DEFAULT_STORE;
  const actor = get("baremetal:actor") || env.BAREMETAL_ACTOR || safeUser();
  const poolsText = get("baremetal:pools");
  let pools: NewPool[] = [];
  if (poolsText) {
    let raw: unknown;
    try {
      raw = JSON.parse(poolsText);
    } catch {
      throw new ConfigError("baremetal:pools must be a JSON list of pools ({name, type, cidr, facility})");
    }
    const parsed = PoolsConfig.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const [index, ...field] = issue.path.map(String);
      const where = index === undefined ? "" : `[${index}]${field.map((f) => `.${f}`).join("")}`;
      throw new ConfigError(`baremetal:pools${where}: ${issue.message}`);
    }
    pools = parsed.data.map((p) => ({
      name: p.name,
      type: p.type,
      cidr: p.cidr,
      facility: p.facility ?? null,
      project: p.project ?? null,
      description: p.description ?? null,
    }));
    // Checked whole before the store sees any: a bad pool must not leave its facility behind,
    // and the CIDR is kept as the store writes it, so the next run finds the same pool.
    for (const [i, pool] of pools.entries()) {
      try {
        pool.cidr = formatCidr(checkNewPool(pool, pools.slice(0, i) as unknown as Pool[]));
      } catch (e) {
        throw new ConfigError(`baremetal:pools[${i}]: ${(e as Error).message}`);
      }
    }
  }
  const bootServerUrl = get("baremetal:bootServerUrl") || env.BAREMETAL_BOOT_SERVER_URL || undefined;
  const mirror = (get("baremetal:osMirror") || env.BAREMETAL_OS_MIRROR || "").replace(/\/+$/, "");
  const images: ImageSources = mirror
    ? {
        flatcar: `${mirror}/flatcar`,
        fedoraCoreos: `${mirror}/fedora-coreos`,
        ubuntu: `${mirror}/ubuntu`,
        wipe: `${mirror}/wipe`,
      }
    : DEFAULT_IMAGES;
  // A rack without the internet (osMirror) has resolvers of its own: the public ones would
  // leave its servers with no DNS at all.
  const dnsText = get("baremetal:dns") || env.BAREMETAL_DNS || "";
  const dns = dnsText ? dnsText.split(",").map((d) => d.trim()) : DEFAULT_DNS;
  for (const d of dns) {
    if (
      !ipaddr.isValid(d) ||
      (d.includes(":") ? !ipaddr.IPv6.isValid(d) : !ipaddr.IPv4.isValidFourPartDecimal(d))
    )
      throw new ConfigError(
        `baremetal:dns: ${JSON.stringify(d)} is not an IP address; give resolvers' addresses separated by commas, e.g. 10.0.0.53,2001:db8::53`,
      );
  }
  return {
    store,
    actor,
    pools,
    bootServerUrl,
    images,
    dns,
    secret: (key) => get(`baremetal:${key}`),
  };
}

/** Who acts when neither baremetal:actor nor BAREMETAL_ACTOR says: the OS user. */
export function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return "unknown";
  }
}
