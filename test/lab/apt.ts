// Installs Debian packages the lab needs when they are missing. Installing never starts a
// daemon here; each lab module starts (and stops, by PID) what it uses itself.
import { execFileSync, spawnSync } from "node:child_process";

function installed(pkg: string): boolean {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("install ok installed");
}

let updated = false;

/** `apt-get update`, once per process: package lists may be missing on a fresh machine. */
export function aptUpdate(): void {
  if (updated) return;
  if (process.getuid?.() !== 0)
    throw new Error("the package lists need `apt-get update`, and we are not root");
  execFileSync("apt-get", ["update", "-qq"], {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    timeout: 300_000,
  });
  updated = true;
}

/** Ensures every package is installed; throws with the apt-get command when we cannot. */
export function ensurePackages(packages: string[]): void {
  const missing = packages.filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`missing Debian packages and not root: apt-get install ${missing.join(" ")}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  aptUpdate();
  execFileSync(
    "apt-get",
    ["install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300", "--no-install-recommends", ...missing],
    {
      stdio: "inherit",
      env,
      timeout: 900_000,
    },
  );
}
