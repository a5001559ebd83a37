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

/** The value without what is not known yet: such keys and array elements left out. */
function knownPart(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => x !== UNKNOWN).map(knownPart);
  if (typeof v !== "object" || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x !== UNKNOWN)
      .map(([k, x]) => [k, knownPart(x)]),
  );
}

/**
 * Without keys whose value is undefined (an empty string taken as none): the engine's struct
 * encoding refuses undefined, and none means absent.
 */
const defined = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

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
    // engine checks again before it changes anything). The rest is checked without them, and
    // gets its defaults and normal forms (else diff would see a default as a change); a field
    // holding an unknown goes back as given. A check across fields may have looked at a
    // missing one, so only the failures of known fields alone are shown now.
    const probe = schema.safeParse(knownPart(user));
    if (probe.success) {
      const data: Record<string, unknown> = { ...(probe.data as object) };
      for (const [k, v] of Object.entries(user)) if (hasUnknown(v)) data[k] = v;
      return { inputs: { ...internal, ...defined(data) } as z.output<S> };
    }
    const known = probe.error.issues.filter((i) => i.code !== "custom" && !throughUnknown(user, i.path));
    if (known.length === 0) return { inputs: news as z.output<S> };
    issues = known;
  }
  if (parsed.success) {
    return { inputs: { ...internal, ...defined(parsed.data as object) } as z.output<S> };
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
