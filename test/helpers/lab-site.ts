// A built-in lab site for one test file: started before its tests and stopped after (with its
// scratch store), and the context the provider's lifecycle code gets on it, acting as `OPS`.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startLabSite, type LabSite } from "../../cli/lab-site";
import type { Operation } from "../../provider/access/guard";
import { resolveConfig } from "../../provider/config";
import { noLog } from "../../provider/hardware/commands";
import type { Store } from "../../provider/store/store";

export const OPS = "ops@example.com";

export interface TestLabSite {
  readonly site: LabSite;
  /** `sqlite:<file>` of the site's store. */
  readonly location: string;
  /** What a resource's create or delete gets: the store (the site's unless given), config, no audit. */
  ctx(store?: Store): Operation;
}

export function labSiteForFile(name: string, opts: { machines: number; installTimeMs: number }): TestLabSite {
  let dir: string | undefined;
  let site: LabSite | undefined;
  let location = "";
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `baremetal-${name}-`));
    const file = path.join(dir, "state.db");
    location = `sqlite:${file}`;
    site = await startLabSite({ storeFile: file, ...opts, owners: [OPS] });
    for (const [k, v] of Object.entries(site.env)) process.env[k] = v;
  });
  afterAll(async () => {
    await site?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    get site() {
      if (!site) throw new Error("the lab site is not started yet (use it inside a test)");
      return site;
    },
    get location() {
      return location;
    },
    ctx(store?: Store) {
      const s = this.site;
      const config = resolveConfig(
        (k) => ({ "baremetal:store": location, "baremetal:actor": OPS, ...s.config })[k],
      );
      return { store: store ?? s.store, config, log: noLog };
    },
  };
}
