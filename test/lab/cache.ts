// Where the lab keeps what it builds or downloads once (outside the work tree, so a clean
// clone reuses it): $BAREMETAL_CACHE, else $XDG_CACHE_HOME or ~/.cache, /pulumi-baremetal.
import os from "node:os";
import path from "node:path";

export const labCache = (): string =>
  process.env.BAREMETAL_CACHE ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "pulumi-baremetal");
