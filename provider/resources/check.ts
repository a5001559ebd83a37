// Turns zod results into the engine's check failures: one per field, each naming the field and
// saying what would be valid.
import type { z } from "zod";

export interface CheckFailure {
  property: string;
  reason: string;
}

export interface CheckResult<T> {
  inputs?: T;
  failures?: CheckFailure[];
}

/**
 * How the dynamic-provider host hands a value that is not known yet (at preview, an output of a
 * resource this run creates, such as a Vlan's vid); the engine reads it back as unknown.
 */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

function hasUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (typeof v !== "object" || v === null) return false;
  return Object.values(v).some(hasUnknown);
}

/** Whether the path reaches a value not known yet, or runs through one. */
function throughUnknown(value: unknown, path: readonly PropertyKey[]): boolean {
  let v = value;
  for (const key of path) {
    if (v === UNKNOWN) return true;
    if (typeof v !== "object" || v === null) return false;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v === UNKNOWN;
}

/** Engine-internal properties (`__provider` and the like) pass through untouched. */
export function checkWith<S extends z.ZodType>(
  schema: S,
  news: Record<string, unknown>,
): CheckResult<z.output<S>> {
  const internal: Record<string, unknown> = {};
  const user: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(news)) (k.startsWith("__") ? internal : user)[k] = v;
  const parsed = schema.safeParse(user);
  let issues = parsed.error?.issues ?? [];
  if (!parsed.success && hasUnknown(user)) {
    // A preview with values not known yet: what they would be is checked when they are (the
    // engine checks again before it changes anything). A check across fields may have looked
    // at one of them, so only the failures of known fields alone are shown now.
    const known = parsed.error.issues.filter((i) => i.code !== "custom" && !throughUnknown(user, i.path));
    if (known.length === 0) return { inputs: news as z.output<S> };
    issues = known;
  }
  if (parsed.success) {
    // A key whose value is undefined (an empty string taken as none) is left out: the engine's
    // struct encoding refuses undefined, and none means absent.
    const data = Object.entries(parsed.data as object).filter(([, v]) => v !== undefined);
    return { inputs: { ...internal, ...Object.fromEntries(data) } as z.output<S> };
  }
  return {
    failures: issues.map((issue) => {
      if (issue.code === "unrecognized_keys") {
        // Named where they are: ipAddresses.0.bogus, not bogus.
        const at = issue.path.map(String).join(".");
        const property = issue.keys.map((k) => (at ? `${at}.${k}` : k)).join(", ");
        return {
          property,
          reason: `${property}: not an input of this ${at ? `${at} entry` : "resource"}`,
        };
      }
      const property = issue.path.map(String).join(".") || "(inputs)";
      return { property, reason: `${property}: ${issue.message}` };
    }),
  };
}
