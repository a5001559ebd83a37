// peek: the store read a Server's diff makes, at preview too. It must change nothing, and a
// store that is missing or does not answer must neither fail the diff nor hold up every server.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { resolveConfig } from "../../provider/config";
import { closeStores, peek } from "../../provider/runtime";
import { notInInventory } from "../../provider/store/servers-sql";
import { backends, freshStore } from "../helpers/backends";

afterEach(() => closeStores());

const at = (location: string) => resolveConfig(() => undefined, { BAREMETAL_STORE: location });
const facilityNowhere = () => notInInventory({ facility: "nowhere" });

test.each(backends.map((b) => [b.name, b]))("%s: a peek reads the store as it is", async (_name, backend) => {
  const f = await freshStore(backend);
  try {
    await f.store.ensureFacility("lab", null, "ops");
    expect(await peek(facilityNowhere, at(f.location))).toBe(
      "facility: nowhere is not in the inventory (facilities: lab)",
    );
  } finally {
    await closeStores();
    await f.cleanup();
  }
});

test("a SQLite store that is not there is not made: the peek says nothing", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-peek-"));
  try {
    const file = path.join(dir, "state.db");
    expect(await peek(facilityNowhere, at(`sqlite:${file}`))).toBeUndefined();
    expect(fs.readdirSync(dir)).toEqual([]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a PostgreSQL server that never answers: the first peek gives up at its deadline, later ones at once", async () => {
  // Accepts connections and says nothing, as a server behind a dropped route or a hung pooler.
  const sockets: net.Socket[] = [];
  const silent = net.createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const { port } = silent.address() as net.AddressInfo;
  try {
    const config = at(`postgres://nobody@127.0.0.1:${port}/nothing`);
    expect(await peek(facilityNowhere, config, 300)).toBeUndefined();
    const connections = sockets.length;
    expect(connections).toBeGreaterThan(0);
    // The next servers' diffs do not try again (and wait again) in the same run.
    expect(await peek(facilityNowhere, config, 60_000)).toBeUndefined();
    expect(sockets.length).toBe(connections);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});
