// What a simulated machine understands of an iPXE script and of a kernel command line: just
// enough to follow a boot server's scripts the way iPXE and the OS installers would, and to
// find where the config is and where to report.
//
// Script: `chain <url>` (go on with that script), `kernel <url> <args...>` (the OS to boot),
// `exit` / `sanboot` (boot from the local disk instead). Variables of the forms ${mac},
// ${netX/mac} and ${netX/mac:hexhyp} are expanded to the booting NIC's MAC.
//
// Kernel arguments: `ignition.config.url=` (Flatcar, Fedora CoreOS; `flatcar.config.url=` and
// `coreos.config.url=` too), `coreos.inst.ignition_url=` (the config Fedora CoreOS installs
// with), `ds=nocloud-net;s=<base>` or `ds=nocloud;s=<base>` (cloud-init,
// which reads `<base>user-data`), `baremetal.mode=wipe` and `baremetal.events=<url>`.

export type IpxeStep =
  | { kind: "chain"; url: string }
  | { kind: "kernel"; url: string; args: string[] }
  | { kind: "local" }
  | { kind: "none" };

/** The first step of a script that leaves it: a chain, a kernel, or a local boot. */
export function nextStep(script: string, mac: string, base: string): IpxeStep {
  const lines = script.split(/\r?\n/).slice(0, 1000);
  for (const raw of lines) {
    const line = expand(raw.trim(), mac);
    if (!line || line.startsWith("#") || line.startsWith(":")) continue;
    const words = splitWords(line);
    // Options such as `--autofree` or `--name x` come before the URL.
    const command = words[0];
    const rest = withoutOptions(words.slice(1));
    if ((command === "chain" || command === "chainload") && rest[0]) {
      return { kind: "chain", url: resolve(rest[0], base) };
    }
    if ((command === "kernel" || command === "imgexec") && rest[0]) {
      return { kind: "kernel", url: resolve(rest[0], base), args: rest.slice(1) };
    }
    if (command === "exit" || command === "sanboot") return { kind: "local" };
  }
  return { kind: "none" };
}

export interface KernelArgs {
  /** The config the booted (live or installer) system applies. */
  ignitionUrl?: string;
  /** The config the live system installs the OS with (Fedora CoreOS). */
  installIgnitionUrl?: string;
  /** NoCloud seed base URL (ending in "/", as cloud-init appends "user-data"). */
  cloudInitBase?: string;
  wipe: boolean;
  eventsUrl?: string;
}

export function parseKernelArgs(args: string[]): KernelArgs {
  const out: KernelArgs = { wipe: false };
  for (const arg of args) {
    const eq = arg.indexOf("=");
    if (eq < 0) continue;
    const key = arg.slice(0, eq);
    const value = arg.slice(eq + 1);
    if (key === "ignition.config.url" || key === "flatcar.config.url" || key === "coreos.config.url") {
      out.ignitionUrl = value;
    } else if (key === "coreos.inst.ignition_url") {
      out.installIgnitionUrl = value;
    } else if (key === "ds") {
      // ds=nocloud-net;s=http://host/path/  (also seedfrom=)
      const seed = /^nocloud(?:-net)?;(?:s|seedfrom)=(.+)$/.exec(value)?.[1];
      if (seed) out.cloudInitBase = seed.endsWith("/") ? seed : `${seed}/`;
    } else if (key === "baremetal.mode") {
      out.wipe = value === "wipe";
    } else if (key === "baremetal.events") {
      out.eventsUrl = value;
    }
  }
  return out;
}

function expand(line: string, mac: string): string {
  return line.replace(/\$\{(?:net\d+\/)?mac(:hexhyp|:hex)?\}/g, (_, fmt: string | undefined) =>
    fmt === ":hexhyp" ? mac.replace(/:/g, "-") : mac,
  );
}

/** Words split on blanks; quotes group, a backslash escapes (iPXE and kernel cmdline both). */
function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let quote: string | undefined;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      has = true;
    } else if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === " " || c === "\t") {
      if (has) words.push(word);
      word = "";
      has = false;
    } else {
      word += c;
      has = true;
    }
  }
  if (has) words.push(word);
  return words;
}

function withoutOptions(words: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "--name" || w === "-n" || w === "--timeout" || w === "-t") i++;
    else if (!w.startsWith("-") || out.length > 0) out.push(w);
  }
  return out;
}

function resolve(url: string, base: string): string {
  try {
    return new URL(url, base).toString();
  } catch {
    return url;
  }
}

/**
 * The installed system's Ignition config that an installer's config fetches (Flatcar's install
 * script runs `flatcar-install -i` on it): the first ignition.json URL in the config's files.
 */
export function installedIgnitionUrl(installerConfig: string): string | undefined {
  let files: { contents?: { source?: unknown } }[];
  try {
    files = (JSON.parse(installerConfig) as { storage?: { files?: typeof files } }).storage?.files ?? [];
  } catch {
    return undefined;
  }
  for (const f of files) {
    const source = f.contents?.source;
    if (typeof source !== "string" || !source.startsWith("data:,")) continue;
    const url = /https?:\/\/[^\s'"\\]+\/ignition\.json/.exec(decodeURIComponent(source.slice(6)))?.[0];
    if (url) return url;
  }
  return undefined;
}
