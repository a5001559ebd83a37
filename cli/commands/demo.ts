// The demo: a real `pulumi up` of examples/ip-reservations on the embedded SQLite store, what
// it reserved, then `pulumi destroy`, and proof that nothing was left behind.
import { Command } from "commander";
import { exampleStack } from "../example-stack";
import { SqliteStore } from "../../provider/store/sqlite";
import { table } from "../table";

export function demoCommand(): Command {
  return new Command("demo")
    .description("run pulumi up and destroy on an example, against a fresh embedded store")
    .option("--keep", "skip the destroy and keep the stack's directory")
    .action(async (o: { keep?: boolean }) => {
      const ex = await exampleStack("ip-reservations", "demo");
      const out = (s: string) => process.stdout.write(s);
      try {
        console.log(`== pulumi up (project in ${ex.dir}, store ${ex.storeFile})`);
        await ex.stack.up({ onOutput: out });
        const store = new SqliteStore(ex.storeFile);
        try {
          const rows = await store.listReservations();
          console.log("\n== reservations in the store");
          console.log(
            table(
              ["CIDR", "POOL", "PROJECT", "OWNER", "TAGS"],
              rows.map((r) => [r.cidr, r.poolName, r.project, r.owner, r.tags.join(",")]),
            ),
          );
        } finally {
          await store.close();
        }
        if (o.keep) {
          console.log(`\nkept: cd ${ex.dir} && pulumi destroy (PULUMI_CONFIG_PASSPHRASE=e2e-passphrase)`);
          return;
        }
        console.log("\n== pulumi destroy");
        await ex.stack.destroy({ onOutput: out });
        const after = new SqliteStore(ex.storeFile);
        try {
          const left = await after.listReservations();
          if (left.length) throw new Error(`destroy left ${left.length} reservation(s) in the store`);
          console.log("\n== the store holds no reservation: nothing left behind");
        } finally {
          await after.close();
        }
      } finally {
        if (!o.keep) ex.cleanup();
      }
    });
}
