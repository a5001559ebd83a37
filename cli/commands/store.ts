import { Command } from "commander";
import { PostgresStore } from "../../provider/store/postgres";
import type { MigrationState } from "../../provider/store/store";
import { STORE_HELP, withStore } from "../store-option";
import { table } from "../table";

function print(state: MigrationState, location: string, json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ location, ...state }, null, 2));
    return;
  }
  console.log(`store ${location}: schema version ${state.current} of ${state.latest}`);
  // Written by a newer baremetal: this one refuses to change it (the other commands say so).
  if (state.current > state.latest) {
    console.error(
      `warning: schema version ${state.current} is newer than this baremetal knows (${state.latest}): upgrade baremetal to use this store`,
    );
  }
  const rows = [
    ...state.applied.map((m) => [m.version, m.name, "applied", m.appliedAt]),
    ...state.pending.map((m) => [m.version, m.name, "pending", null]),
  ];
  if (rows.length) console.log(table(["VERSION", "NAME", "STATE", "APPLIED AT"], rows));
}

export function storeCommand(): Command {
  const cmd = new Command("store").description("create, upgrade and inspect the state store");
  const migrate = (name: string, description: string) =>
    cmd
      .command(name)
      .description(description)
      .option("--store <location>", STORE_HELP)
      .option("--json", "print JSON")
      .action(async (o: { store?: string; json?: boolean }) => {
        await withStore(o.store, async (store) => print(await store.migrate(), store.location, !!o.json), {
          create: true,
        });
      });
  migrate("init", "create the store (if missing) and bring its schema up to date");
  cmd
    .command("user-add <email>")
    .description(
      "PostgreSQL: give a user a database login (or a new password), so the database enforces their projects",
    )
    .option(
      "--password-env <variable>",
      "environment variable holding the password",
      "BAREMETAL_NEW_PASSWORD",
    )
    .option("--store <location>", STORE_HELP)
    .action(async (email: string, o: { passwordEnv: string; store?: string }) => {
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new Error(`email: ${email} is not an email address`);
      // From the environment, never argv: a command line is visible to every user of the host.
      const password = process.env[o.passwordEnv];
      if (!password || password.length < 12)
        throw new Error(
          `--password-env: set ${o.passwordEnv} to the user's password (12 characters or more)`,
        );
      await withStore(o.store, async (store) => {
        if (!(store instanceof PostgresStore))
          throw new Error("store user-add: only PostgreSQL stores have logins; SQLite is one user's file");
        await store.addLogin(email, password);
        console.log(`login ${email} can connect; add them to projects with ProjectMember or project create`);
      });
    });
  migrate("migrate", "apply pending schema migrations");
  cmd
    .command("status")
    .description("show the schema version and pending migrations, changing nothing")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (o: { store?: string; json?: boolean }) => {
      await withStore(
        o.store,
        async (store) => print(await store.migrationState(), store.location, !!o.json),
        {
          migrate: false,
        },
      );
    });
  return cmd;
}
