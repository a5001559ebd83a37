// One OS process of the concurrency test: random allocations, exact requests and frees against
// a shared store, as parallel `pulumi up`s would make them. Prints a JSON summary.
import { isIpamError } from "../../../provider/ipam/errors";
import { openStore } from "../../../provider/store/open";

async function main(): Promise<void> {
  const [location, opsText, seedText] = process.argv.slice(2);
  const store = await openStore(location!);
  let seed = Number(seedText);
  const rand = () => {
    // mulberry32: a repeatable run per seed.
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const allocate = (block: { prefixLength: number } | { cidr: string }) =>
    store.allocate({
      project: "p",
      type: "private_ipv4",
      facility: "lab1",
      block,
      tags: [],
      description: null,
      owner: null,
      actor: `worker-${process.pid}`,
    });
  const held: string[] = [];
  const counts = { allocated: 0, exact: 0, refused: 0, freed: 0 };
  // Closed whatever happens, so a failing worker exits instead of hanging on open connections.
  try {
    for (let i = 0; i < Number(opsText); i++) {
      const r = rand();
      try {
        if (r < 0.45 || held.length === 0) {
          const res = await allocate({ prefixLength: 26 + Math.floor(rand() * 7) });
          held.push(res.id);
          counts.allocated++;
        } else if (r < 0.6) {
          const prefix = 28 + Math.floor(rand() * 5);
          const size = 2 ** (32 - prefix);
          const offset = Math.floor(rand() * (4096 / size)) * size;
          const res = await allocate({ cidr: `10.1.${offset >> 8}.${offset & 255}/${prefix}` });
          held.push(res.id);
          counts.exact++;
        } else {
          const [id] = held.splice(Math.floor(rand() * held.length), 1);
          if (!(await store.release(id!, `worker-${process.pid}`))) throw new Error(`lost reservation ${id}`);
          counts.freed++;
        }
      } catch (e) {
        if (isIpamError(e, "AlreadyAllocated") || isIpamError(e, "NoSpaceLeft")) counts.refused++;
        else throw e;
      }
    }
  } finally {
    await store.close();
  }
  process.stdout.write(JSON.stringify({ ...counts, held: held.length }) + "\n");
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
