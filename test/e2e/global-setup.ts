// The e2e suite drives the real Pulumi engine. Without it the suite fails here, with how to
// get it, rather than skipping: a green run must mean the engine ran.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export default function globalSetup(): void {
  const versions = fs.readFileSync(path.join(__dirname, "../../scripts/versions.env"), "utf8");
  const pinned = /^PULUMI_VERSION=(\S+)/m.exec(versions)?.[1];
  let version: string;
  try {
    version = execFileSync("pulumi", ["version"], { encoding: "utf8", timeout: 30_000 }).trim();
  } catch (e) {
    throw new Error(
      `The e2e tests need the Pulumi engine on PATH (${(e as Error).message}). ` +
        "Run the tests through scripts/npm (e.g. `scripts/npm test`), which installs it.",
      { cause: e },
    );
  }
  const [major] = process.versions.node.split(".").map(Number);
  if ((major ?? 0) < 22) {
    throw new Error(`Node.js ${process.version} is too old; run through scripts/npm, which uses Node 22`);
  }
  const ok = (v: string) => v.replace(/^v/, "").split(".").map(Number);
  const [a, b] = [ok(version), ok(pinned ?? "0")];
  const newer = a.findIndex((n, i) => n !== b[i]);
  if (newer >= 0 && (a[newer] ?? 0) < (b[newer] ?? 0)) {
    throw new Error(`pulumi ${version} is older than the pinned v${pinned}; run scripts/install-pulumi`);
  }
  console.log(`\ne2e: Pulumi engine ${version} (pinned v${pinned}), Node.js ${process.version}`);
}
