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

/** Engine-internal properties (`__provider` and the like) pass through untouched. */
export function checkWith<S extends z.ZodType>(
  schema: S,
  news: Record<string, unknown>,
): CheckResult<z.output<S>> {
  const internal: Record<string, unknown> = {};
  const user: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(news)) (k.startsWith("__") ? internal : user)[k] = v;
  const parsed = schema.safeParse(user);
  if (parsed.success) {
    // A key whose value is undefined (an empty string taken as none) is left out: the engine's
    // struct encoding refuses undefined, and none means absent.
    const data = Object.entries(parsed.data as object).filter(([, v]) => v !== undefined);
    return { inputs: { ...internal, ...Object.fromEntries(data) } as z.output<S> };
  }
  return {
    failures: parsed.error.issues.map((issue) => {
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
