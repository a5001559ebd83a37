// The user's own cloud-init user-data for Ubuntu, folded into the installed system's
// cloud-config. Under autoinstall the installed system's user-data is `autoinstall.user-data`:
// one mapping, which subiquity writes out as a single #cloud-config. A MIME multipart (the
// usual way to add parts) cannot be expressed there, so:
// - a #cloud-config is merged here, with the semantics of cloud-init's merge_how
//   "dict(recurse_array,no_replace)+list(append)": ours wins on a conflicting value (host name,
//   phone_home), lists are concatenated (users, write_files, runcmd, packages...), mappings
//   merge key by key;
// - a script (#!) is written to /var/lib/cloud/scripts/per-instance/, which cloud-init's
//   scripts_per_instance module runs once, in its final stage, as it would a script part.
import { parse } from "yaml";
import { RenderError } from "./checks";

export type CloudConfig = Record<string, unknown>;

export const USER_SCRIPT_PATH = "/var/lib/cloud/scripts/per-instance/90-baremetal-user-data";

/**
 * `defaultUser`: the user our config makes, which cloud-init's top-level ssh_authorized_keys
 * are for. Ours lists users by name and marks none as cloud-init's default, so those keys
 * would go to root behind a "please log in as NONE" command; and of two entries for one user
 * cloud-init keeps the first, so a user's keys for ours were dropped. Both are folded into our
 * entry instead.
 */
export function withUserData(
  ours: CloudConfig,
  userData: string | undefined,
  defaultUser?: string,
): CloudConfig {
  if (userData === undefined || userData.trim() === "") return ours;
  if (/^#cloud-config[ \t]*\r?\n/.test(userData) || userData.trim() === "#cloud-config") {
    let theirs: unknown;
    try {
      // As cloud-init will read it (PyYAML, YAML 1.1): 0644 is octal, no is false.
      theirs = parse(userData, { version: "1.1" });
    } catch (e) {
      throw new RenderError(`userData is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
    if (theirs === null || theirs === undefined) return ours;
    if (!isMapping(theirs)) throw new RenderError("userData (#cloud-config) must be a YAML mapping");
    return mergeNoReplace(ours, defaultUserKeys(theirs, defaultUser));
  }
  if (userData.startsWith("#!")) {
    const script = { path: USER_SCRIPT_PATH, permissions: "0755", owner: "root:root", content: userData };
    return mergeNoReplace(ours, { write_files: [script] });
  }
  throw new RenderError(
    `userData for Ubuntu must start with "#cloud-config" or be a script starting with "#!" ` +
      `(got ${JSON.stringify(userData.slice(0, 20))})`,
  );
}

/** Top-level ssh_authorized_keys, as an entry for the default user (see withUserData). */
function defaultUserKeys(theirs: CloudConfig, defaultUser: string | undefined): CloudConfig {
  const keys = theirs.ssh_authorized_keys;
  if (defaultUser === undefined || !Array.isArray(keys)) return theirs;
  const { ssh_authorized_keys: _moved, ...rest } = theirs;
  const users = Array.isArray(rest.users) ? rest.users : [];
  return { ...rest, users: [...users, { name: defaultUser, ssh_authorized_keys: keys }] };
}

/**
 * Users by name: an entry of theirs for one of ours adds its keys to ours (ours wins on other
 * fields); "default" is ours already; the rest are added.
 */
function mergeUsers(ours: unknown[], theirs: unknown[]): unknown[] {
  const out = [...ours];
  const nameOf = (u: unknown) => (typeof u === "string" ? u : isMapping(u) ? u.name : undefined);
  for (const t of theirs) {
    if (t === "default") continue;
    const i = out.findIndex((o) => nameOf(o) === nameOf(t));
    if (i < 0) {
      out.push(t);
      continue;
    }
    const mine = out[i];
    if (!isMapping(mine) || !isMapping(t)) continue;
    const keys = [...asList(mine.ssh_authorized_keys), ...asList(t.ssh_authorized_keys)];
    out[i] = { ...t, ...mine, ...(keys.length ? { ssh_authorized_keys: [...new Set(keys)] } : {}) };
  }
  return out;
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);

function mergeNoReplace(ours: CloudConfig, theirs: CloudConfig): CloudConfig {
  const out: CloudConfig = { ...ours };
  for (const [key, value] of Object.entries(theirs)) {
    const mine = out[key];
    if (!(key in out)) out[key] = value;
    else if (key === "users" && Array.isArray(mine) && Array.isArray(value))
      out[key] = mergeUsers(mine, value);
    else if (Array.isArray(mine) && Array.isArray(value)) out[key] = [...mine, ...value];
    else if (isMapping(mine) && isMapping(value)) out[key] = mergeNoReplace(mine, value);
  }
  return out;
}

const isMapping = (v: unknown): v is CloudConfig => typeof v === "object" && v !== null && !Array.isArray(v);
