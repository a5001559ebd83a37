import { Command, Option } from "commander";
import { poolSpaceProblem } from "../../provider/ipam/special-ranges";
import { readProject } from "../../provider/store/projects-sql";
import { POOL_TYPES, type Pool, type PoolType, type PoolUsage } from "../../provider/store/store";
import { STORE_HELP, withStore } from "../store-option";
import { table } from "../table";

const percent = (u: PoolUsage) =>
  u.total === "0" ? "0%" : `${(Number((BigInt(u.allocated) * 10000n) / BigInt(u.total)) / 100).toFixed(2)}%`;

// A pool the space check would refuse today: shown with what is wrong (a `problem` in JSON, a
// warning otherwise), never changed (its reservations stand).
const withProblem = <P extends Pool>(p: P): P & { problem?: string } => {
  const problem = poolSpaceProblem(p);
  return problem ? { ...p, problem } : p;
};

const warn = (pools: { problem?: string }[]) => {
  for (const { problem } of pools) {
    if (problem)
      console.error(
        `warning: ${problem}; it still hands out addresses: move its users to a pool that is right`,
      );
  }
};

const largestFree = (u: PoolUsage) => (u.freeBlocks.length ? `/${u.freeBlocks[0]!.prefixLength}` : "none");

function poolCommand(): Command {
  const pool = new Command("pool").description("address pools");
  pool
    .command("add <name>")
    .description("add a pool; refused when it overlaps any other pool")
    .addOption(
      new Option("--type <type>", "kind of addresses").choices([...POOL_TYPES]).makeOptionMandatory(),
    )
    .requiredOption("--cidr <cidr>", "the pool's block, e.g. 10.70.0.0/16")
    .option("--facility <code>", "facility the pool serves (not for global_ipv4)")
    .option("--project <project>", "reserve the pool for one project")
    .option("--description <text>")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(
      async (
        name: string,
        o: {
          type: PoolType;
          cidr: string;
          facility?: string;
          project?: string;
          description?: string;
          store?: string;
          json?: boolean;
        },
      ) => {
        await withStore(
          o.store,
          async (store, who) => {
            const p = await store.addPool(
              {
                name,
                type: o.type,
                cidr: o.cidr,
                facility: o.facility ?? null,
                project: o.project ?? null,
                description: o.description ?? null,
              },
              who,
            );
            console.log(
              o.json
                ? JSON.stringify(p, null, 2)
                : `pool ${p.name}: ${p.type} ${p.cidr} in ${p.facility ?? "global"}`,
            );
            // Allowed (projects may come after their pools), but a typo would make a pool no
            // one can use: say so.
            if (p.project !== null && !(await store.transact(() => readProject(p.project!), "read"))) {
              console.error(
                `warning: project ${p.project} does not exist (yet): only its members can use pool ${p.name}; create it with \`baremetal project create ${p.project}\``,
              );
            }
          },
          { create: true },
        );
      },
    );
  pool
    .command("list")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (o: { store?: string; json?: boolean }) => {
      await withStore(o.store, async (store) => {
        const pools = (await store.listPools()).map(withProblem);
        if (o.json) return console.log(JSON.stringify(pools, null, 2));
        console.log(
          table(
            ["NAME", "TYPE", "CIDR", "FACILITY", "PROJECT", "DESCRIPTION"],
            pools.map((p) => [p.name, p.type, p.cidr, p.facility ?? "global", p.project, p.description]),
          ),
        );
        warn(pools);
      });
    });
  pool
    .command("show <name>")
    .description("a pool, its usage and its free blocks")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (name: string, o: { store?: string; json?: boolean }) => {
      await withStore(o.store, async (store) => {
        const usage = await store.poolUsage(name);
        const free = await store.listFreeBlocks(name);
        const { problem } = withProblem(usage.pool);
        if (o.json) {
          return console.log(
            JSON.stringify({ ...usage, freeBlockList: free, ...(problem ? { problem } : {}) }, null, 2),
          );
        }
        const p = usage.pool;
        console.log(
          table(
            ["FIELD", "VALUE"],
            [
              ["name", p.name],
              ["type", p.type],
              ["cidr", p.cidr],
              ["facility", p.facility ?? "global"],
              ["project", p.project ?? "(any)"],
              ["description", p.description],
              ["addresses", usage.total],
              ["allocated", `${usage.allocated} (${percent(usage)})`],
              ["free", usage.free],
              ["reservations", usage.reservations],
            ],
          ),
        );
        const shown = free.slice(0, 20);
        console.log(
          `\nfree blocks (${free.length}${free.length > shown.length ? `, first ${shown.length} shown` : ""}):`,
        );
        for (const b of shown) console.log(`  ${b}`);
        warn([{ problem }]);
      });
    });
  pool
    .command("usage [name]")
    .description("allocation per pool")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (name: string | undefined, o: { store?: string; json?: boolean }) => {
      await withStore(o.store, async (store) => {
        const names = name ? [name] : (await store.listPools()).map((p) => p.name);
        const usages = [];
        for (const n of names) usages.push(await store.poolUsage(n));
        if (o.json) return console.log(JSON.stringify(usages, null, 2));
        console.log(
          table(
            ["POOL", "CIDR", "ADDRESSES", "ALLOCATED", "FREE", "USED", "RESERVATIONS", "LARGEST FREE"],
            usages.map((u) => [
              u.pool.name,
              u.pool.cidr,
              u.total,
              u.allocated,
              u.free,
              percent(u),
              u.reservations,
              largestFree(u),
            ]),
          ),
        );
      });
    });
  pool
    .command("remove <name>")
    .description("remove an empty pool")
    .option("--store <location>", STORE_HELP)
    .action(async (name: string, o: { store?: string }) => {
      await withStore(o.store, async (store, who) => {
        await store.removePool(name, who);
        console.log(`pool ${name} removed`);
      });
    });
  return pool;
}

export function ipamCommand(): Command {
  const ipam = new Command("ipam").description("IP address management").addCommand(poolCommand());
  ipam
    .command("reservations")
    .description("reserved blocks")
    .option("--project <project>", "only this project's")
    .option("--pool <name>", "only from this pool")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (o: { project?: string; pool?: string; store?: string; json?: boolean }) => {
      await withStore(o.store, async (store) => {
        const rows = await store.listReservations({ project: o.project, pool: o.pool });
        if (o.json) return console.log(JSON.stringify(rows, null, 2));
        console.log(
          table(
            ["ID", "CIDR", "POOL", "PROJECT", "OWNER", "TAGS", "DESCRIPTION"],
            rows.map((r) => [r.id, r.cidr, r.poolName, r.project, r.owner, r.tags.join(","), r.description]),
          ),
        );
      });
    });
  return ipam;
}
