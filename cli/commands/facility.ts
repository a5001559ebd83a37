import { Command } from "commander";
import { STORE_HELP, withStore } from "../store-option";
import { table } from "../table";

export function facilityCommand(): Command {
  const cmd = new Command("facility").description("facilities (sites) that pools and machines belong to");
  cmd
    .command("add <code>")
    .description("add a facility (nothing happens when it exists)")
    .option("--name <name>", "a readable name")
    .option("--store <location>", STORE_HELP)
    .action(async (code: string, o: { name?: string; store?: string }) => {
      await withStore(
        o.store,
        async (store, who) => {
          const f = await store.ensureFacility(code, o.name ?? null, who);
          console.log(`facility ${f.code}${f.name ? ` (${f.name})` : ""}`);
        },
        { create: true },
      );
    });
  cmd
    .command("list")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (o: { store?: string; json?: boolean }) => {
      await withStore(o.store, async (store) => {
        const all = await store.listFacilities();
        console.log(
          o.json
            ? JSON.stringify(all, null, 2)
            : table(
                ["CODE", "NAME", "CREATED"],
                all.map((f) => [f.code, f.name, f.createdAt]),
              ),
        );
      });
    });
  return cmd;
}
