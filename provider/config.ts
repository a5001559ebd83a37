// Provider configuration: `baremetal:*` stack config first, then environment variables, then
// defaults. The store location is the only thing a fresh project must not have to set.
import os from "node:os";
import { z } from "zod";
import { POOL_TYPES, type NewPool } from "./store/store";

export const DEFAULT_STORE = "sqlite:.baremetal/state.db";

export interface ProviderConfig {
  /** `sqlite:<file>` (relative to the Pulumi project directory) or a PostgreSQL URL. */
  store: string;
  /** Who is acting, recorded with every change. */
  actor: string;
  /** Pools the provider makes sure exist before it allocates (for labs and demos). */
  pools: NewPool[];
}

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
      throw new ConfigError(`baremetal:pools[${issue.path.join(".")}]: ${issue.message}`);
    }
    pools = parsed.data.map((p) => ({
      name: p.name,
      type: p.type,
      cidr: p.cidr,
      facility: p.facility ?? null,
      project: p.project ?? null,
      description: p.description ?? null,
    }));
  }
  return { store, actor, pools };
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return "unknown";
  }
}
