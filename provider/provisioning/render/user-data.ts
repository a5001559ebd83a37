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

export function withUserData(ours: CloudConfig, userData: string | undefined): CloudConfig {
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
    return mergeNoReplace(ours, theirs);
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

function mergeNoReplace(ours: CloudConfig, theirs: CloudConfig): CloudConfig {
  const out: CloudConfig = { ...ours };
  for (const [key, value] of Object.entries(theirs)) {
    const mine = out[key];
    if (!(key in out)) out[key] = value;
    else if (Array.isArray(mine) && Array.isArray(value)) out[key] = [...mine, ...value];
    else if (isMapping(mine) && isMapping(value)) out[key] = mergeNoReplace(mine, value);
  }
  return out;
}

const isMapping = (v: unknown): v is CloudConfig => typeof v === "object" && v !== null && !Array.isArray(v);
